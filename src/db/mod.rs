//! One database layer for SQLite and PostgreSQL.
//!
//! A connection is an enum of the two diesel connection types; the
//! [`db_run!`](crate::db_run) macro compiles the same query code for both.
//! Writes go through [`PooledConn::write`], an explicit transaction. Every
//! statement inside runs when the code says so: there is no unit of work and
//! no deferred flush.

pub mod schema;
pub mod smart;
pub mod stmt;

pub mod alerts;
pub mod appliance;
pub mod audit;
pub mod auth;
pub mod fleet;
pub mod heals;
pub mod inventory;
pub mod metrics;
pub mod notify;
pub mod peers;
pub mod pools;
pub mod replication;
pub mod volumes;
pub mod wall;

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDateTime, SubsecRound, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::DatabaseUrl;

/// The SQLite migrations, as this binary carries them. Public for the
/// integration tests, which check them against [`POSTGRES_MIGRATIONS`] and
/// [`schema`].
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
/// The PostgreSQL migrations: the same versions, tables and columns as
/// [`SQLITE_MIGRATIONS`].
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// The PostgreSQL advisory lock key held while migrating ("BAYS").
const MIGRATION_LOCK_KEY: i64 = 0x4241_5953;

/// Holds an exclusive `flock` on a file until dropped; blocks until free.
fn lock_file(path: &Path) -> Result<nix::fcntl::Flock<std::fs::File>, OpenError> {
    let fail = |reason: String| OpenError::DataDir {
        path: path.display().to_string(),
        reason,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| fail(e.to_string()))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| fail(format!("cannot lock: {e}")))
}

/// How long a SQLite writer waits for another writer before giving up.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5000;

/// The current time as the database stores it: naive UTC, microseconds.
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

/// Serializes stored (naive UTC) times as RFC 3339 with a `Z`, so API
/// clients need not guess the zone: `#[serde(serialize_with = "db::utc")]`.
pub fn utc<S: serde::Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(t))
}

/// A stored (naive UTC) time as the API writes it: RFC 3339 in UTC, to the
/// millisecond.
pub fn rfc3339(t: &NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// [`utc`] for optional times.
pub fn utc_opt<S: serde::Serializer>(t: &Option<NaiveDateTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => utc(t, s),
        None => s.serialize_none(),
    }
}

/// A pooled connection to either database.
pub enum PooledConn {
    Sqlite(
        PooledConnection<ConnectionManager<SqliteConnection>>,
        Arc<SqliteWriters>,
    ),
    Postgres(PooledConnection<ConnectionManager<PgConnection>>),
}

/// A borrowed connection, inside a transaction or not. Every query function
/// takes one, so the same helper works in a read and inside a write.
pub enum Conn<'a> {
    Sqlite(&'a mut SqliteConnection),
    Postgres(&'a mut PgConnection),
}

impl PooledConn {
    /// The connection, for reads outside a transaction.
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            PooledConn::Sqlite(c, _) => Conn::Sqlite(c),
            PooledConn::Postgres(c) => Conn::Postgres(c),
        }
    }

    /// Runs `f` in one explicit write transaction: `BEGIN IMMEDIATE` on
    /// SQLite (the writer takes the lock at once instead of failing to
    /// upgrade a read lock later), `BEGIN` on PostgreSQL. The statements in
    /// `f` run in the order written; the transaction commits when `f` returns
    /// `Ok` and rolls back when it returns `Err`.
    pub fn write<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        E: From<diesel::result::Error>,
        F: FnOnce(&mut Conn<'_>) -> Result<T, E>,
    {
        match self {
            PooledConn::Sqlite(c, writers) => {
                let _turn = writers.turn()?;
                let c: &mut SqliteConnection = c;
                c.immediate_transaction(|c| f(&mut Conn::Sqlite(c)))
            }
            PooledConn::Postgres(c) => {
                let c: &mut PgConnection = c;
                c.transaction(|c| f(&mut Conn::Postgres(c)))
            }
        }
    }
}

/// Runs `$body` with `$c` bound to the concrete diesel connection inside a
/// [`Conn`]; the body is compiled once for each database.
#[macro_export]
macro_rules! db_run {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::db::Conn::Sqlite(inner) => {
                let $c: &mut diesel::SqliteConnection = &mut **inner;
                $body
            }
            $crate::db::Conn::Postgres(inner) => {
                let $c: &mut diesel::PgConnection = &mut **inner;
                $body
            }
        }
    };
}

/// SQLite has one writer at a time per file. Writers in this process take
/// turns on a mutex before `BEGIN IMMEDIATE`, instead of all polling the
/// file lock through SQLite's busy handler, which sleeps a millisecond or
/// more per retry; writers in other processes still meet at the file lock.
#[derive(Default)]
pub struct SqliteWriters(parking_lot::Mutex<()>);

impl SqliteWriters {
    fn turn(&self) -> Result<parking_lot::MutexGuard<'_, ()>, diesel::result::Error> {
        self.0
            .try_lock_for(Duration::from_millis(SQLITE_BUSY_TIMEOUT_MS.into()))
            .ok_or_else(|| {
                diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::Unknown,
                    Box::new(format!(
                        "database is locked: another writer in this process held it for {} s",
                        SQLITE_BUSY_TIMEOUT_MS / 1000
                    )),
                )
            })
    }
}

#[derive(Clone)]
enum PoolKind {
    Sqlite(
        Pool<ConnectionManager<SqliteConnection>>,
        Arc<SqliteWriters>,
    ),
    Postgres(Pool<ConnectionManager<PgConnection>>),
}

/// The database: a connection pool of one kind, cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: PoolKind,
    description: String,
    /// Migrations this process applied when it opened the database.
    pub applied_at_open: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("no database connection available: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("database task failed: {0}")]
    Task(String),
}

/// Why the database could not be opened; each is one line for the operator.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("data directory {path} is not usable: {reason}")]
    DataDir { path: String, reason: String },
    #[error("cannot open database {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error(
        "database {url} has schema version {database} but this baystack knows only up to {binary}: it was written by a newer baystack; upgrade this one"
    )]
    SchemaTooNew {
        url: String,
        database: String,
        binary: String,
    },
    #[error("migrating database {url} failed: {reason}")]
    Migrate { url: String, reason: String },
}

#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&sqlite_connection_pragmas())
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Connections above a pool's idle ones close after this long unused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How many connections a pool holds, and how long a caller waits for one.
struct PoolShape {
    postgres_connections: u32,
    /// Kept open while idle.
    idle_connections: u32,
    wait: Duration,
}

/// The appliance's own database.
const OWN_POOL: PoolShape = PoolShape {
    postgres_connections: 10,
    idle_connections: 2,
    wait: Duration::from_secs(10),
};

/// The fleet's registry ([`fleet::Fleet`]): one look or board read a
/// second, so one connection kept, and no long wait for a server that is
/// gone.
const FLEET_POOL: PoolShape = PoolShape {
    postgres_connections: 3,
    idle_connections: 1,
    wait: Duration::from_secs(3),
};

fn sqlite_connection_pragmas() -> String {
    format!(
        "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -256;"
    )
}

impl Db {
    /// Opens the database, applies pending migrations and builds the pool.
    pub fn open(url: &DatabaseUrl) -> Result<Db, OpenError> {
        Self::open_shaped(url, &OWN_POOL)
    }

    /// [`Db::open`] with a pool of `shape`.
    fn open_shaped(url: &DatabaseUrl, shape: &PoolShape) -> Result<Db, OpenError> {
        let description = url.redacted();
        match url {
            DatabaseUrl::Sqlite(path) => {
                prepare_sqlite_dir(path)?;
                let path_text = path.to_str().ok_or_else(|| OpenError::DataDir {
                    path: path.display().to_string(),
                    reason: "the path is not valid UTF-8".into(),
                })?;
                let mut conn =
                    SqliteConnection::establish(path_text).map_err(|e| OpenError::Connect {
                        url: description.clone(),
                        reason: e.to_string(),
                    })?;
                // Two processes opening a new database at once (web and
                // agent started together) must not both migrate it. Turning
                // a new file to WAL needs it to itself too: SQLite answers
                // "database is locked" at once, without waiting, while
                // another connection writes (seen 4 times in 40 runs of
                // six openers).
                let _lock = lock_file(&path.with_extension("db-migrate.lock"))?;
                conn.batch_execute(&format!(
                    "{} PRAGMA journal_mode = WAL;",
                    sqlite_connection_pragmas()
                ))
                .map_err(|e| OpenError::Connect {
                    url: description.clone(),
                    reason: e.to_string(),
                })?;
                let applied_at_open = migrate(&mut conn, SQLITE_MIGRATIONS, &description)?;
                // No `SELECT 1` on every checkout: a broken connection shows
                // itself on its first real statement, and r2d2 drops it.
                let pool = Pool::builder()
                    .max_size(8)
                    // An idle console keeps two connections, and so two
                    // page caches (256 KiB each at most: `cache_size`).
                    .min_idle(Some(shape.idle_connections))
                    .idle_timeout(Some(IDLE_TIMEOUT))
                    .test_on_check_out(false)
                    .connection_timeout(shape.wait)
                    .connection_customizer(Box::new(SqlitePragmas))
                    .build(ConnectionManager::<SqliteConnection>::new(path_text))
                    .map_err(|e| OpenError::Connect {
                        url: description.clone(),
                        reason: e.to_string(),
                    })?;
                Ok(Db {
                    pool: PoolKind::Sqlite(pool, Arc::default()),
                    description,
                    applied_at_open,
                })
            }
            DatabaseUrl::Postgres(text) => {
                let mut conn = PgConnection::establish(text).map_err(|e| OpenError::Connect {
                    url: description.clone(),
                    reason: one_line(&e.to_string()),
                })?;
                // The same across hosts: a session-level advisory lock.
                let lock = |conn: &mut PgConnection, f: &str| {
                    diesel::sql_query(format!("SELECT {f}({MIGRATION_LOCK_KEY})"))
                        .execute(conn)
                        .map_err(|e| OpenError::Migrate {
                            url: description.clone(),
                            reason: one_line(&e.to_string()),
                        })
                };
                lock(&mut conn, "pg_advisory_lock")?;
                let applied = migrate(&mut conn, POSTGRES_MIGRATIONS, &description);
                lock(&mut conn, "pg_advisory_unlock")?;
                let applied_at_open = applied?;
                let pool = Pool::builder()
                    .max_size(shape.postgres_connections)
                    .min_idle(Some(shape.idle_connections))
                    .idle_timeout(Some(IDLE_TIMEOUT))
                    .test_on_check_out(false)
                    .connection_timeout(shape.wait)
                    .build(ConnectionManager::<PgConnection>::new(text.as_str()))
                    .map_err(|e| OpenError::Connect {
                        url: description.clone(),
                        reason: one_line(&e.to_string()),
                    })?;
                Ok(Db {
                    pool: PoolKind::Postgres(pool),
                    description,
                    applied_at_open,
                })
            }
        }
    }

    /// Connects without changing anything and reports the schema state, for
    /// `baystack check`.
    pub fn inspect(url: &DatabaseUrl) -> Result<SchemaStatus, OpenError> {
        let description = url.redacted();
        let connect_err = |reason: String| OpenError::Connect {
            url: description.clone(),
            reason: one_line(&reason),
        };
        match url {
            DatabaseUrl::Sqlite(path) => {
                if !path.exists() {
                    return Ok(SchemaStatus {
                        applied: None,
                        pending: binary_versions(SQLITE_MIGRATIONS).len(),
                        binary: binary_schema_version(),
                    });
                }
                let text = path.to_string_lossy().into_owned();
                let mut conn =
                    SqliteConnection::establish(&text).map_err(|e| connect_err(e.to_string()))?;
                schema_status(&mut conn, &SQLITE_MIGRATIONS, &description)
            }
            DatabaseUrl::Postgres(text) => {
                let mut conn =
                    PgConnection::establish(text).map_err(|e| connect_err(e.to_string()))?;
                schema_status(&mut conn, &POSTGRES_MIGRATIONS, &description)
            }
        }
    }

    /// "sqlite" or "postgresql".
    pub fn kind(&self) -> &'static str {
        match self.pool {
            PoolKind::Sqlite(..) => "sqlite",
            PoolKind::Postgres(_) => "postgresql",
        }
    }

    /// The database URL without its password.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// A connection for blocking code (the agent, the CLI, inside `run`).
    pub fn get(&self) -> Result<PooledConn, DbError> {
        Ok(match &self.pool {
            PoolKind::Sqlite(p, w) => PooledConn::Sqlite(p.get()?, w.clone()),
            PoolKind::Postgres(p) => PooledConn::Postgres(p.get()?),
        })
    }

    /// Runs blocking database code off the async executor.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&mut PooledConn) -> Result<T, E> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.get()?;
            f(&mut conn)
        })
        .await
        .map_err(|e| E::from(DbError::Task(e.to_string())))?
    }

    /// One cheap round trip that reads the schema, for `/healthz`; gives up
    /// after two seconds rather than the pool's usual ten.
    pub fn ping(&self) -> Result<(), DbError> {
        let timeout = Duration::from_secs(2);
        let mut pooled = match &self.pool {
            PoolKind::Sqlite(p, w) => PooledConn::Sqlite(p.get_timeout(timeout)?, w.clone()),
            PoolKind::Postgres(p) => PooledConn::Postgres(p.get_timeout(timeout)?),
        };
        db_run!(&mut pooled.conn(), c => diesel::sql_query("SELECT COUNT(*) FROM appliance").execute(c))?;
        Ok(())
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The data directory 0700 and the database's files 0600, also when an
/// older Baystack (or another umask) made them open to other users; only
/// what this user owns is changed.
fn restrict(dir: &Path, db_path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let me = nix::unistd::geteuid().as_raw();
    let tighten = |path: &Path, mode: u32| -> std::io::Result<()> {
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.uid() == me && !m.file_type().is_symlink() && m.mode() & 0o077 != 0 => {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            }
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    };
    // A bare file name puts the database in the working directory, which
    // is the caller's and stays as it is.
    if dir != Path::new(".") {
        tighten(dir, 0o700)?;
    }
    let name = db_path.as_os_str().to_owned();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = name.clone();
        p.push(suffix);
        tighten(Path::new(&p), 0o600)?;
    }
    Ok(())
}

fn prepare_sqlite_dir(db_path: &Path) -> Result<(), OpenError> {
    let dir = match db_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let fail = |reason: String| OpenError::DataDir {
        path: dir.display().to_string(),
        reason,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| fail(e.to_string()))?;
    restrict(&dir, db_path).map_err(|e| fail(e.to_string()))?;
    // Prove we can create files there: SQLite needs its -wal and -shm files
    // beside the database, and a read-only directory otherwise fails later.
    let probe = dir.join(format!(".baystack-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| fail(format!("not writable: {e}")))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

fn migrate<DB, C>(
    conn: &mut C,
    migrations: EmbeddedMigrations,
    url: &str,
) -> Result<Vec<String>, OpenError>
where
    DB: diesel::backend::Backend,
    C: MigrationHarness<DB> + diesel::Connection<Backend = DB>,
    EmbeddedMigrations: diesel::migration::MigrationSource<DB>,
{
    // Refuses a schema newer than this binary before touching anything.
    schema_status(conn, &migrations, url)?;
    let done = conn
        .run_pending_migrations(migrations)
        .map_err(|e| OpenError::Migrate {
            url: url.to_string(),
            reason: one_line(&e.to_string()),
        })?;
    Ok(done.iter().map(|v| v.to_string()).collect())
}

/// What `check` reports of a database's schema.
#[derive(Debug, Clone)]
pub struct SchemaStatus {
    /// The newest applied version, `None` for an empty database.
    pub applied: Option<String>,
    /// Migrations this binary would apply at start.
    pub pending: usize,
    /// The newest version this binary knows.
    pub binary: String,
}

fn binary_versions(migrations: EmbeddedMigrations) -> Vec<String> {
    use diesel::migration::MigrationSource;
    MigrationSource::<diesel::sqlite::Sqlite>::migrations(&migrations)
        .map(|ms| ms.iter().map(|m| m.name().version().to_string()).collect())
        .unwrap_or_default()
}

fn schema_status<DB, C>(
    conn: &mut C,
    migrations: &EmbeddedMigrations,
    url: &str,
) -> Result<SchemaStatus, OpenError>
where
    DB: diesel::backend::Backend,
    C: MigrationHarness<DB> + diesel::Connection<Backend = DB>,
    EmbeddedMigrations: diesel::migration::MigrationSource<DB>,
{
    use diesel::migration::MigrationSource;
    let fail = |e: Box<dyn std::error::Error + Send + Sync>| OpenError::Migrate {
        url: url.to_string(),
        reason: one_line(&e.to_string()),
    };
    let known: Vec<String> = MigrationSource::<DB>::migrations(migrations)
        .map_err(fail)?
        .iter()
        .map(|m| m.name().version().to_string())
        .collect();
    let applied: Vec<String> = conn
        .applied_migrations()
        .map_err(fail)?
        .iter()
        .map(|v| v.to_string())
        .collect();
    if let Some(unknown) = applied.iter().filter(|v| !known.contains(v)).max() {
        return Err(OpenError::SchemaTooNew {
            url: url.to_string(),
            database: unknown.clone(),
            binary: known.iter().max().cloned().unwrap_or_default(),
        });
    }
    Ok(SchemaStatus {
        applied: applied.iter().max().cloned(),
        pending: known.iter().filter(|v| !applied.contains(v)).count(),
        binary: known.iter().max().cloned().unwrap_or_default(),
    })
}

/// The newest schema version this binary carries (for `check`).
pub fn binary_schema_version() -> String {
    binary_versions(SQLITE_MIGRATIONS)
        .into_iter()
        .max()
        .unwrap_or_default()
}

impl From<DbError> for crate::error::AppError {
    /// What the web says of a database failure: unreachable is a 503, the
    /// rest an internal error whose cause stays in the log.
    fn from(e: DbError) -> Self {
        match e {
            DbError::Pool(e) => {
                crate::error::AppError::Unavailable(format!("the database is not reachable: {e}"))
            }
            other => crate::error::AppError::Internal(other.to_string()),
        }
    }
}

impl From<diesel::result::Error> for crate::error::AppError {
    fn from(e: diesel::result::Error) -> Self {
        crate::error::AppError::from(DbError::Query(e))
    }
}

//! Opening the database: several processes (here, threads with their own
//! connections) opening a new database at once all succeed, and exactly one
//! of them applies the migrations.
//!
//! The migrations: migrations/sqlite and migrations/postgres have the same
//! versions and make the same tables and columns (type family, nullability,
//! primary key); every down.sql undoes its up.sql; src/db/schema.rs declares
//! what they make.

use std::collections::{BTreeMap, BTreeSet};

use baystack::config::DatabaseUrl;
use baystack::db::{Db, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer, Nullable, Text};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};

use crate::both;
use crate::support::{Backend, PgDatabase};

fn open_many_at_once(url: &DatabaseUrl) {
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || Db::open(&url).map(|db| db.applied_at_open.len()))
        })
        .collect();
    let applied: Vec<usize> = handles
        .into_iter()
        .map(|h| {
            h.join()
                .unwrap()
                .unwrap_or_else(|e| panic!("open failed: {e}"))
        })
        .collect();
    assert_eq!(applied.iter().filter(|n| **n > 0).count(), 1, "{applied:?}");
}

#[test]
fn concurrent_opens_migrate_once_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    open_many_at_once(&DatabaseUrl::Sqlite(dir.path().join("baystack.db")));
}

#[test]
fn concurrent_opens_migrate_once_postgres() {
    let pg = PgDatabase::create();
    open_many_at_once(&DatabaseUrl::Postgres(pg.url.clone()));
}

// ---- The two migration trees ------------------------------------------------
//
// migrations/sqlite and migrations/postgres are written by hand, side by
// side, and src/db/schema.rs by hand again. Nothing else notices when one of
// the three says something the others do not: a column added to one tree
// only, a nullable column on one database, a down.sql that forgets an index.

/// One column as the database reports it: SQLite's `pragma_table_info`,
/// PostgreSQL's `information_schema.columns` and `key_column_usage`.
#[derive(QueryableByName)]
struct ColumnRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    declared_type: String,
    #[diesel(sql_type = Bool)]
    not_null: bool,
    #[diesel(sql_type = Nullable<Text>)]
    default_value: Option<String>,
    /// 1-based place in the primary key, 0 outside it.
    #[diesel(sql_type = Integer)]
    pk_position: i32,
    /// SQLite only: the table is `WITHOUT ROWID`.
    #[diesel(sql_type = Bool)]
    without_rowid: bool,
}

/// One line of description (an index, a constraint, ...), made by the query.
#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Column {
    name: String,
    /// The type as declared (SQLite) or as `data_type` says (PostgreSQL).
    declared: String,
    /// What both databases agree on: `integer`, `bigint`, `text`, ...
    family: String,
    /// What the database lets the column hold, not what was written: a
    /// SQLite primary key column holds NULL unless declared NOT NULL (or it
    /// is the rowid), a PostgreSQL one never does.
    nullable: bool,
    default: Option<String>,
}

impl Column {
    fn describe(&self) -> String {
        format!(
            "{} {} (declared `{}`)",
            self.family,
            if self.nullable { "NULL" } else { "NOT NULL" },
            self.declared
        )
    }
}

#[derive(Debug, Default)]
struct Table {
    columns: Vec<Column>,
    primary_key: Vec<String>,
}

/// A database's schema after some migrations, without diesel's own table.
#[derive(Debug, Default)]
struct Schema {
    tables: BTreeMap<String, Table>,
    /// Indexes, foreign keys, constraints, views, ..., one line each.
    other: BTreeSet<String>,
}

impl Schema {
    /// Everything, one line per fact, to compare two states of one database.
    fn lines(&self) -> BTreeSet<String> {
        let mut out = self.other.clone();
        for (t, table) in &self.tables {
            out.insert(format!(
                "table {t}: primary key ({})",
                table.primary_key.join(", ")
            ));
            for (i, c) in table.columns.iter().enumerate() {
                out.insert(format!(
                    "column {t}.{} (#{i}): {} {}, default {}",
                    c.name,
                    c.declared,
                    if c.nullable { "NULL" } else { "NOT NULL" },
                    c.default.as_deref().unwrap_or("none")
                ));
            }
        }
        out
    }
}

/// What changed between two states of one database (`-` only in the first,
/// `+` only in the second), or `None`.
fn schema_diff(first: &Schema, second: &Schema) -> Option<String> {
    let (a, b) = (first.lines(), second.lines());
    if a == b {
        return None;
    }
    let mut out = String::new();
    for l in a.difference(&b) {
        out.push_str(&format!("\n      - {l}"));
    }
    for l in b.difference(&a) {
        out.push_str(&format!("\n      + {l}"));
    }
    Some(out)
}

/// The type family of a column type as SQLite declares it or PostgreSQL's
/// `data_type` names it.
fn sql_family(declared: &str) -> String {
    let t = declared.trim().to_ascii_lowercase();
    let base = t.split('(').next().unwrap_or_default().trim();
    match base {
        "integer" | "int" | "int4" | "mediumint" => "integer",
        "smallint" | "int2" | "tinyint" => "smallint",
        "bigint" | "int8" | "bigserial" => "bigint",
        "text" | "varchar" | "character varying" | "char" | "character" | "clob" => "text",
        "boolean" | "bool" => "bool",
        "timestamp" | "timestamp without time zone" | "datetime" => "timestamp",
        "timestamptz" | "timestamp with time zone" => "timestamptz",
        "date" => "date",
        "time" | "time without time zone" => "time",
        "real" | "float4" => "float",
        "double precision" | "double" | "float8" => "double",
        "blob" | "bytea" => "binary",
        "numeric" | "decimal" => "numeric",
        _ => return format!("unknown `{declared}`"),
    }
    .to_string()
}

/// The type family of a diesel SQL type in schema.rs.
fn rs_family(ty: &str) -> Option<&'static str> {
    Some(match ty {
        "Integer" | "Int4" => "integer",
        "SmallInt" | "Int2" => "smallint",
        "BigInt" | "Int8" => "bigint",
        "Text" | "VarChar" | "Varchar" => "text",
        "Bool" => "bool",
        "Timestamp" => "timestamp",
        "Timestamptz" | "TimestamptzSqlite" => "timestamptz",
        "Date" => "date",
        "Time" => "time",
        "Float" | "Float4" => "float",
        "Double" | "Float8" => "double",
        "Binary" | "Bytea" => "binary",
        "Numeric" => "numeric",
        _ => return None,
    })
}

fn tables_from(rows: Vec<ColumnRow>, backend: Backend) -> BTreeMap<String, Table> {
    let mut grouped: BTreeMap<String, Vec<ColumnRow>> = BTreeMap::new();
    for r in rows {
        grouped.entry(r.table_name.clone()).or_default().push(r);
    }
    grouped
        .into_iter()
        .map(|(name, rows)| {
            let mut pk: Vec<(i32, String)> = rows
                .iter()
                .filter(|r| r.pk_position > 0)
                .map(|r| (r.pk_position, r.column_name.clone()))
                .collect();
            pk.sort();
            let columns = rows
                .into_iter()
                .map(|r| {
                    let in_pk = r.pk_position > 0;
                    // SQLite's `INTEGER PRIMARY KEY` in a rowid table is the
                    // 64-bit rowid itself, and never NULL.
                    let rowid = backend == Backend::Sqlite
                        && in_pk
                        && pk.len() == 1
                        && !r.without_rowid
                        && r.declared_type.eq_ignore_ascii_case("integer");
                    let not_null = r.not_null || rowid || (in_pk && r.without_rowid);
                    Column {
                        family: if rowid {
                            "bigint".to_string()
                        } else {
                            sql_family(&r.declared_type)
                        },
                        name: r.column_name,
                        declared: r.declared_type,
                        nullable: !not_null,
                        default: r.default_value,
                    }
                })
                .collect();
            let table = Table {
                columns,
                primary_key: pk.into_iter().map(|(_, c)| c).collect(),
            };
            (name, table)
        })
        .collect()
}

fn lines<C>(conn: &mut C, queries: &[&str]) -> BTreeSet<String>
where
    C: diesel::Connection,
    diesel::query_builder::SqlQuery: diesel::query_dsl::LoadQuery<'static, C, Line>,
{
    let mut out = BTreeSet::new();
    for q in queries {
        let rows: Vec<Line> = diesel::sql_query(*q)
            .load(conn)
            .unwrap_or_else(|e| panic!("{q}: {e}"));
        out.extend(
            rows.into_iter()
                .filter(|r| !r.line.contains("__diesel_schema_migrations"))
                .map(|r| r.line.split_whitespace().collect::<Vec<_>>().join(" ")),
        );
    }
    out
}

/// SQLite's schema. CHECK constraints live only in the CREATE TABLE text,
/// which ALTER TABLE rewrites, so they are not compared here; PostgreSQL's
/// are (`pg_get_constraintdef`).
fn sqlite_schema(conn: &mut SqliteConnection) -> Schema {
    let rows: Vec<ColumnRow> = diesel::sql_query(
        "SELECT m.name AS table_name, p.name AS column_name, p.type AS declared_type, \
                p.\"notnull\" AS not_null, p.dflt_value AS default_value, p.pk AS pk_position, \
                l.wr AS without_rowid \
         FROM sqlite_master AS m \
         JOIN pragma_table_info(m.name) AS p \
         JOIN pragma_table_list AS l ON l.schema = 'main' AND l.name = m.name \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite%' \
           AND m.name <> '__diesel_schema_migrations' \
         ORDER BY m.name, p.cid",
    )
    .load(conn)
    .expect("read SQLite's columns");
    let other = lines(
        conn,
        &[
            "SELECT 'table ' || name || ': without rowid ' || wr || ', strict ' || strict AS line \
             FROM pragma_table_list WHERE schema = 'main' AND type = 'table' \
               AND name NOT LIKE 'sqlite%'",
            "SELECT 'index ' || m.name || '.' || i.name || ': unique ' || i.\"unique\" \
                    || ', origin ' || i.origin || ', partial ' || i.partial || ', columns (' \
                    || ifnull((SELECT group_concat(ifnull(c.name, '<expression>'), ', ') \
                               FROM pragma_index_info(i.name) AS c), '') \
                    || '), ' || ifnull(s.sql, 'no statement') AS line \
             FROM sqlite_master AS m JOIN pragma_index_list(m.name) AS i \
             LEFT JOIN sqlite_master AS s ON s.type = 'index' AND s.name = i.name \
             WHERE m.type = 'table'",
            "SELECT 'foreign key ' || m.name || ' (' || f.\"from\" || ') references ' \
                    || f.\"table\" || ' (' || ifnull(f.\"to\", '') || ') on update ' \
                    || f.on_update || ' on delete ' || f.on_delete AS line \
             FROM sqlite_master AS m JOIN pragma_foreign_key_list(m.name) AS f \
             WHERE m.type = 'table'",
            "SELECT type || ' ' || name || ' on ' || tbl_name || ': ' || ifnull(sql, '') AS line \
             FROM sqlite_master WHERE type IN ('view', 'trigger')",
        ],
    );
    Schema {
        tables: tables_from(rows, Backend::Sqlite),
        other,
    }
}

fn pg_schema(conn: &mut PgConnection) -> Schema {
    let rows: Vec<ColumnRow> = diesel::sql_query(
        "SELECT c.table_name::text AS table_name, c.column_name::text AS column_name, \
                c.data_type::text AS declared_type, c.is_nullable = 'NO' AS not_null, \
                c.column_default::text AS default_value, \
                COALESCE(k.ordinal_position, 0)::int4 AS pk_position, false AS without_rowid \
         FROM information_schema.columns AS c \
         JOIN information_schema.tables AS t \
           ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
          AND t.table_type = 'BASE TABLE' \
         LEFT JOIN information_schema.table_constraints AS tc \
           ON tc.table_schema = c.table_schema AND tc.table_name = c.table_name \
          AND tc.constraint_type = 'PRIMARY KEY' \
         LEFT JOIN information_schema.key_column_usage AS k \
           ON k.constraint_schema = tc.constraint_schema \
          AND k.constraint_name = tc.constraint_name \
          AND k.table_name = c.table_name AND k.column_name = c.column_name \
         WHERE c.table_schema = current_schema() \
           AND c.table_name <> '__diesel_schema_migrations' \
         ORDER BY c.table_name, c.ordinal_position",
    )
    .load(conn)
    .expect("read PostgreSQL's columns");
    let other = lines(
        conn,
        &[
            "SELECT 'constraint ' || c.conrelid::regclass::text || ' ' || c.conname || ': ' \
                    || pg_get_constraintdef(c.oid) AS line \
             FROM pg_constraint AS c JOIN pg_namespace AS n ON n.oid = c.connamespace \
             WHERE n.nspname = current_schema()",
            "SELECT 'index ' || tablename || ' ' || indexname || ': ' || indexdef AS line \
             FROM pg_indexes WHERE schemaname = current_schema()",
            "SELECT 'sequence ' || sequence_name || ' ' || data_type AS line \
             FROM information_schema.sequences WHERE sequence_schema = current_schema()",
            "SELECT 'view ' || viewname || ': ' || definition AS line \
             FROM pg_views WHERE schemaname = current_schema()",
            "SELECT 'function ' || p.proname || '(' \
                    || pg_get_function_identity_arguments(p.oid) || ')' AS line \
             FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace \
             WHERE n.nspname = current_schema()",
            "SELECT 'trigger ' || t.tgname || ': ' || pg_get_triggerdef(t.oid) AS line \
             FROM pg_trigger AS t JOIN pg_class AS r ON r.oid = t.tgrelid \
             JOIN pg_namespace AS n ON n.oid = r.relnamespace \
             WHERE NOT t.tgisinternal AND n.nspname = current_schema()",
            "SELECT 'type ' || t.typname || ' ' || t.typtype::text AS line \
             FROM pg_type AS t JOIN pg_namespace AS n ON n.oid = t.typnamespace \
             WHERE n.nspname = current_schema() AND t.typtype IN ('e', 'd')",
        ],
    );
    Schema {
        tables: tables_from(rows, Backend::Postgres),
        other,
    }
}

/// The migrations' directory names, in the order diesel applies them.
fn migration_names<DB>(source: &EmbeddedMigrations) -> Vec<String>
where
    DB: diesel::backend::Backend,
    EmbeddedMigrations: MigrationSource<DB>,
{
    let mut all = MigrationSource::<DB>::migrations(source).expect("the embedded migrations");
    all.sort_by(|a, b| a.name().version().cmp(&b.name().version()));
    all.iter().map(|m| m.name().to_string()).collect()
}

/// Runs (`up`) or reverts one migration, recording it as diesel does.
fn migration_step<DB, C>(
    conn: &mut C,
    source: &EmbeddedMigrations,
    name: &str,
    up: bool,
) -> Result<(), String>
where
    DB: diesel::backend::Backend,
    C: MigrationHarness<DB>,
    EmbeddedMigrations: MigrationSource<DB>,
{
    let all = MigrationSource::<DB>::migrations(source).map_err(|e| e.to_string())?;
    let m = all
        .iter()
        .find(|m| m.name().to_string() == name)
        .ok_or_else(|| format!("no migration {name}"))?;
    let done = if up {
        conn.run_migration(m.as_ref())
    } else {
        conn.revert_migration(m.as_ref())
    };
    done.map(|_| ()).map_err(|e| e.to_string())
}

enum Raw {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

/// A throw-away database of one kind with a plain diesel connection to it.
struct Scratch {
    raw: Raw,
    _dir: tempfile::TempDir,
    _pg: Option<PgDatabase>,
}

impl Scratch {
    /// An empty database; with `migrate`, one the console has opened (and so
    /// migrated) as it does at start.
    fn new(backend: Backend, migrate: bool) -> Scratch {
        let dir = tempfile::tempdir().expect("temp dir");
        let (url, pg) = match backend {
            Backend::Sqlite => (DatabaseUrl::Sqlite(dir.path().join("baystack.db")), None),
            Backend::Postgres => {
                let pg = PgDatabase::create();
                (DatabaseUrl::Postgres(pg.url.clone()), Some(pg))
            }
        };
        if migrate {
            Db::open(&url).unwrap_or_else(|e| panic!("open {}: {e}", url.redacted()));
        }
        let raw = match &url {
            DatabaseUrl::Sqlite(path) => {
                let mut c = SqliteConnection::establish(path.to_str().unwrap()).expect("SQLite");
                // The pool just dropped may still be closing a connection on
                // r2d2's threads; wait for its lock rather than fail.
                c.batch_execute("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;")
                    .unwrap();
                Raw::Sqlite(c)
            }
            DatabaseUrl::Postgres(url) => Raw::Postgres(PgConnection::establish(url).expect("PG")),
        };
        Scratch {
            raw,
            _dir: dir,
            _pg: pg,
        }
    }

    fn tree(&self) -> &'static str {
        match self.raw {
            Raw::Sqlite(_) => "migrations/sqlite",
            Raw::Postgres(_) => "migrations/postgres",
        }
    }

    fn schema(&mut self) -> Schema {
        match &mut self.raw {
            Raw::Sqlite(c) => sqlite_schema(c),
            Raw::Postgres(c) => pg_schema(c),
        }
    }

    fn names(&self) -> Vec<String> {
        match self.raw {
            Raw::Sqlite(_) => migration_names::<diesel::sqlite::Sqlite>(&SQLITE_MIGRATIONS),
            Raw::Postgres(_) => migration_names::<diesel::pg::Pg>(&POSTGRES_MIGRATIONS),
        }
    }

    /// Creates diesel's bookkeeping table, as the first migration run does.
    fn setup(&mut self) {
        let done = match &mut self.raw {
            Raw::Sqlite(c) => c.applied_migrations().map(|v| v.len()),
            Raw::Postgres(c) => c.applied_migrations().map(|v| v.len()),
        };
        assert_eq!(done.expect("set up the migrations table"), 0);
    }

    /// Runs or reverts one migration; `when` says in the panic which time.
    fn step(&mut self, name: &str, up: bool, when: &str) {
        let tree = self.tree();
        let done = match &mut self.raw {
            Raw::Sqlite(c) => migration_step(c, &SQLITE_MIGRATIONS, name, up),
            Raw::Postgres(c) => migration_step(c, &POSTGRES_MIGRATIONS, name, up),
        };
        let file = if up { "up.sql" } else { "down.sql" };
        done.unwrap_or_else(|e| panic!("{tree}/{name}/{file} failed{when}: {e}"));
    }

    fn revert_all(&mut self) {
        let done = match &mut self.raw {
            Raw::Sqlite(c) => c.revert_all_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
            Raw::Postgres(c) => c
                .revert_all_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.len()),
        };
        let tree = self.tree();
        assert_eq!(
            done.unwrap_or_else(|e| panic!("{tree}: reverting every migration failed: {e}")),
            self.names().len()
        );
    }

    fn apply_all(&mut self) {
        let done = match &mut self.raw {
            Raw::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
            Raw::Postgres(c) => c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.len()),
        };
        let tree = self.tree();
        assert_eq!(
            done.unwrap_or_else(|e| panic!("{tree}: applying every migration failed: {e}")),
            self.names().len()
        );
    }
}

/// Both trees have the same migrations, by directory name, and each has a
/// down.sql to go back with.
#[test]
fn migration_trees_have_the_same_versions() {
    let sqlite = migration_names::<diesel::sqlite::Sqlite>(&SQLITE_MIGRATIONS);
    let postgres = migration_names::<diesel::pg::Pg>(&POSTGRES_MIGRATIONS);
    let mut problems = Vec::new();
    for name in &sqlite {
        if !postgres.contains(name) {
            problems.push(format!("{name}: in migrations/sqlite only"));
        }
    }
    for name in &postgres {
        if !sqlite.contains(name) {
            problems.push(format!("{name}: in migrations/postgres only"));
        }
    }
    for (tree, embedded) in [("sqlite", &sqlite), ("postgres", &postgres)] {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(tree);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !embedded.contains(&name) {
                // embed_migrations! reads the directory when src/db/mod.rs
                // is compiled; cargo does not watch it for new ones.
                problems.push(format!(
                    "{}: not embedded in the binary; touch src/db/mod.rs and build again",
                    path.display()
                ));
            }
            for file in ["up.sql", "down.sql"] {
                let text = std::fs::read_to_string(path.join(file)).unwrap_or_default();
                if text.trim().is_empty() {
                    problems.push(format!("{}: no {file}", path.display()));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the migration trees differ:\n  {}",
        problems.join("\n  ")
    );
}

/// After every migration, SQLite and PostgreSQL have the same tables, the
/// same columns of the same type family and nullability, and the same
/// primary keys.
#[test]
fn migration_trees_give_the_same_tables_and_columns() {
    let sqlite = Scratch::new(Backend::Sqlite, true).schema().tables;
    let postgres = Scratch::new(Backend::Postgres, true).schema().tables;
    let (s, p) = ("migrations/sqlite", "migrations/postgres");
    let mut problems = Vec::new();
    let names: BTreeSet<&String> = sqlite.keys().chain(postgres.keys()).collect();
    for name in names {
        let (st, pt) = match (sqlite.get(name), postgres.get(name)) {
            (Some(st), Some(pt)) => (st, pt),
            (Some(_), None) => {
                problems.push(format!("table `{name}`: made by {s} only"));
                continue;
            }
            (None, _) => {
                problems.push(format!("table `{name}`: made by {p} only"));
                continue;
            }
        };
        for sc in &st.columns {
            match pt.columns.iter().find(|c| c.name == sc.name) {
                None => problems.push(format!(
                    "table `{name}`, column `{}`: in {s} only ({})",
                    sc.name,
                    sc.describe()
                )),
                Some(pc) if (&pc.family, pc.nullable) != (&sc.family, sc.nullable) => problems
                    .push(format!(
                        "table `{name}`, column `{}`: {s} makes it {}, {p} {}",
                        sc.name,
                        sc.describe(),
                        pc.describe()
                    )),
                Some(_) => {}
            }
        }
        for pc in &pt.columns {
            if !st.columns.iter().any(|c| c.name == pc.name) {
                problems.push(format!(
                    "table `{name}`, column `{}`: in {p} only ({})",
                    pc.name,
                    pc.describe()
                ));
            }
        }
        if st.primary_key != pt.primary_key {
            problems.push(format!(
                "table `{name}`: primary key ({}) in {s}, ({}) in {p}",
                st.primary_key.join(", "),
                pt.primary_key.join(", ")
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{s} and {p} give different schemas:\n  {}",
        problems.join("\n  ")
    );
}

/// Each migration's down.sql undoes its up.sql, and up.sql run again gives
/// what it gave the first time; then reverting everything leaves an empty
/// database, and applying everything again gives the same schema again.
async fn down_sql_undoes_up_sql(backend: Backend) {
    let mut db = Scratch::new(backend, false);
    let tree = db.tree();
    db.setup();
    let empty = db.schema();
    assert!(
        empty.lines().is_empty(),
        "{tree}: a new database is not empty: {:?}",
        empty.lines()
    );
    let mut problems = Vec::new();
    let mut before = db.schema();
    for name in db.names() {
        db.step(&name, true, "");
        let after = db.schema();
        db.step(&name, false, "");
        if let Some(d) = schema_diff(&before, &db.schema()) {
            problems.push(format!(
                "{name}: down.sql does not undo up.sql (- before up.sql, + after up.sql and down.sql):{d}"
            ));
        }
        db.step(
            &name,
            true,
            " when run again after down.sql (which left something?)",
        );
        let again = db.schema();
        if let Some(d) = schema_diff(&after, &again) {
            problems.push(format!(
                "{name}: up.sql run again after down.sql gives another schema (- first, + again):{d}"
            ));
        }
        before = again;
    }
    db.revert_all();
    if let Some(d) = schema_diff(&empty, &db.schema()) {
        problems.push(format!(
            "reverting every migration leaves something behind:{d}"
        ));
    }
    db.apply_all();
    if let Some(d) = schema_diff(&before, &db.schema()) {
        problems.push(format!(
            "applying every migration after reverting them all gives another schema (- first, + again):{d}"
        ));
    }
    assert!(
        problems.is_empty(),
        "{tree}: the migrations do not round-trip:\n  {}",
        problems.join("\n  ")
    );
}

/// A table as src/db/schema.rs declares it.
struct RsTable {
    name: String,
    primary_key: Vec<String>,
    /// Column name (its SQL name), type as written, family, nullable.
    columns: Vec<(String, String, &'static str, bool)>,
}

/// Reads the `table!` blocks of src/db/schema.rs; refuses what it does not
/// understand rather than skip it.
fn schema_rs() -> Vec<RsTable> {
    const TEXT: &str = include_str!("../../src/db/schema.rs");
    let mut lines = TEXT
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with("//"));
    let mut tables = Vec::new();
    while let Some((_, line)) = lines.next() {
        if line != "diesel::table! {" && line != "table! {" {
            assert!(!line.contains("table!"), "schema.rs: cannot read `{line}`");
            continue;
        }
        let (n, header) = lines.next().expect("a table header");
        let bad = |n: usize, l: &str| -> ! { panic!("schema.rs line {n}: cannot read `{l}`") };
        let Some((name, rest)) = header.split_once('(') else {
            bad(n, header)
        };
        let Some((pk, "{")) = rest.split_once(')').map(|(a, b)| (a, b.trim())) else {
            bad(n, header)
        };
        let mut table = RsTable {
            name: name.trim().to_string(),
            primary_key: pk.split(',').map(|c| c.trim().to_string()).collect(),
            columns: Vec::new(),
        };
        let mut sql_name = None;
        loop {
            let (n, line) = lines.next().expect("the end of the table");
            if line == "}" {
                break;
            }
            if let Some(rest) = line.strip_prefix("#[sql_name = \"") {
                sql_name = rest.strip_suffix("\"]").map(str::to_string);
                continue;
            }
            if line.starts_with("#[") {
                continue;
            }
            let Some((col, ty)) = line.split_once("->") else {
                bad(n, line)
            };
            let ty = ty.trim().trim_end_matches(',').trim();
            let (inner, nullable) = match ty
                .strip_prefix("Nullable<")
                .and_then(|t| t.strip_suffix('>'))
            {
                Some(inner) => (inner, true),
                None => (ty, false),
            };
            let base = inner.rsplit("::").next().unwrap_or(inner);
            let family = rs_family(base).unwrap_or_else(|| {
                panic!("schema.rs line {n}: this test does not know the type `{ty}`; add it to rs_family")
            });
            let col = sql_name.take().unwrap_or_else(|| col.trim().to_string());
            table.columns.push((col, ty.to_string(), family, nullable));
        }
        let closing = lines.next().expect("the end of table!");
        if closing.1 != "}" {
            bad(closing.0, closing.1);
        }
        tables.push(table);
    }
    assert_eq!(
        tables.len(),
        TEXT.matches("table! {").count(),
        "schema.rs: not every table! block was read"
    );
    tables
}

/// src/db/schema.rs declares exactly the tables and columns the migrations
/// make, with the type family and nullability the database gives them, and
/// the same primary keys.
async fn schema_rs_matches_the_migrations(backend: Backend) {
    let mut db = Scratch::new(backend, true);
    let tree = db.tree();
    let tables = db.schema().tables;
    let rs = schema_rs();
    let mut problems = Vec::new();
    for t in &rs {
        let Some(table) = tables.get(&t.name) else {
            problems.push(format!("table `{}`: not made by {tree}", t.name));
            continue;
        };
        for (name, ty, family, nullable) in &t.columns {
            let null = if *nullable { "NULL" } else { "NOT NULL" };
            match table.columns.iter().find(|c| &c.name == name) {
                None => problems.push(format!(
                    "table `{}`, column `{name}`: not made by {tree}",
                    t.name
                )),
                Some(c) if (c.family.as_str(), c.nullable) != (*family, *nullable) => {
                    problems.push(format!(
                        "table `{}`, column `{name}`: schema.rs says `{ty}` ({family} {null}), {tree} makes it {}",
                        t.name,
                        c.describe()
                    ))
                }
                Some(_) => {}
            }
        }
        for c in &table.columns {
            if !t.columns.iter().any(|(name, ..)| name == &c.name) {
                problems.push(format!(
                    "table `{}`, column `{}`: made by {tree} ({}) but not in schema.rs",
                    t.name,
                    c.name,
                    c.describe()
                ));
            }
        }
        if t.primary_key != table.primary_key {
            problems.push(format!(
                "table `{}`: schema.rs says primary key ({}), {tree} makes ({})",
                t.name,
                t.primary_key.join(", "),
                table.primary_key.join(", ")
            ));
        }
    }
    for name in tables.keys() {
        if !rs.iter().any(|t| &t.name == name) {
            problems.push(format!(
                "table `{name}`: made by {tree} but not in schema.rs"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "src/db/schema.rs and {tree} disagree:\n  {}",
        problems.join("\n  ")
    );
}

both!(down_sql_undoes_up_sql, schema_rs_matches_the_migrations);

//! `baystack bench queue`: no-op jobs per second through the real runner,
//! beside the simplest hand-written claim loop on the same database in the
//! same run, which keeps none of the queue's guarantees: one statement per
//! job that marks the oldest queued row done, found through a partial index
//! on the queued rows like the queue's own (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, `BEGIN IMMEDIATE` on SQLite).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::config::{DatabaseUrl, Settings};
use crate::db::{self, Conn, Db, PooledConn, appliance};
use crate::jobs::Wake;
use crate::jobs::runner::{Runner, RunnerSettings};
use crate::jobs::{kinds, queue};
use crate::storage;
use crate::{db_run, stmt};

const ROUNDS: usize = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub struct Row {
    pub database: &'static str,
    pub workers: usize,
    pub queue_per_s: f64,
    pub baseline_per_s: f64,
    /// Every round, in the order run: the first queue round on a new
    /// database is the one that meets the planner without statistics.
    pub queue_rounds: Vec<f64>,
    pub baseline_rounds: Vec<f64>,
}

impl Row {
    pub fn ratio(&self) -> f64 {
        self.queue_per_s / self.baseline_per_s
    }
}

fn clear(conn: &mut PooledConn) -> anyhow::Result<()> {
    let mut c = conn.conn();
    for table in [
        "noop_runs",
        "job_commands",
        "job_steps",
        "open_resources",
        "job_resources",
        "jobs",
        "bench_baseline",
    ] {
        db_run!(&mut c, c => diesel::sql_query(format!("DELETE FROM {table}")).execute(c))?;
    }
    Ok(())
}

/// Whether any job is unfinished. Every benchmark job holds a resource, and
/// an unfinished job keeps its place in `open_resources` until the
/// transaction that ends it, so this is one probe of a small table: polling
/// it costs the runner under test next to nothing.
fn any_unfinished(c: &mut Conn<'_>) -> QueryResult<bool> {
    use crate::db::schema::open_resources;
    let one: Option<i64> = db_run!(c, c => open_resources::table
        .select(open_resources::job_id)
        .first(c)
        .optional())?;
    Ok(one.is_some())
}

/// The queue, with all its guarantees: `n` one-step no-op jobs on distinct
/// resources, run by one runner with `workers` workers.
fn run_queue(db: &Db, settings: &Settings, n: usize, workers: usize) -> anyhow::Result<f64> {
    let mut conn = db.get()?;
    clear(&mut conn)?;
    conn.write(|c| -> QueryResult<()> {
        for i in 0..n {
            let spec = kinds::noop_with(vec![format!("bench:{i}")], 0, 1, false);
            queue::enqueue(c, &spec, "bench", None, db::now())?;
        }
        Ok(())
    })?;
    let backend: Arc<dyn storage::Backend> = Arc::from(crate::commands::engine(
        settings,
        crate::domain::clock::system(),
    )?);
    let runner = Runner::new(
        db.clone(),
        backend,
        RunnerSettings {
            workers,
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(5),
            max_attempts: 3,
        },
        Arc::new(Wake::default()),
        crate::jobs::kinds::find,
        Box::new(|| {}),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let threads = runner.start(stop.clone());
    while any_unfinished(&mut conn.conn())? {
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    Ok(n as f64 / elapsed.as_secs_f64())
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// The baseline's one statement per job: marks the oldest queued row done.
/// The row is found through a partial index on the queued rows, as the
/// queue finds its waiting jobs through `jobs_waiting`, so neither steps
/// over the rows already done.
const BASELINE_CLAIM_SQLITE: &str = "UPDATE bench_baseline SET state = 'done' \
     WHERE id = (SELECT id FROM bench_baseline WHERE state = 'queued' ORDER BY id LIMIT 1) \
     RETURNING id";
const BASELINE_CLAIM_POSTGRES: &str = "UPDATE bench_baseline SET state = 'done' \
     WHERE id = (SELECT id FROM bench_baseline WHERE state = 'queued' ORDER BY id LIMIT 1 \
     FOR UPDATE SKIP LOCKED) RETURNING id";

/// The baseline: one transaction per job, that statement and nothing else.
fn run_baseline(db: &Db, n: usize, workers: usize) -> anyhow::Result<f64> {
    let mut conn = db.get()?;
    clear(&mut conn)?;
    conn.write(|c| -> QueryResult<()> {
        for _ in 0..n {
            db_run!(c, c => diesel::sql_query("INSERT INTO bench_baseline (state) VALUES ('queued')").execute(c))?;
        }
        Ok(())
    })?;
    let started = Instant::now();
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || -> anyhow::Result<()> {
                let mut conn = db.get()?;
                // Prepared once per connection, like the queue's statements.
                let claim = match conn {
                    PooledConn::Sqlite(..) => BASELINE_CLAIM_SQLITE,
                    PooledConn::Postgres(_) => BASELINE_CLAIM_POSTGRES,
                };
                loop {
                    // BEGIN IMMEDIATE on SQLite, BEGIN on PostgreSQL, like
                    // every transaction of the queue's.
                    let took = conn.write(|c| -> QueryResult<Option<i64>> {
                        let mut rows: Vec<IdRow> = db_run!(c, c => stmt!(claim).load(c))?;
                        Ok(rows.pop().map(|r| r.id))
                    })?;
                    if took.is_none() {
                        return Ok(());
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join()
            .map_err(|_| anyhow::anyhow!("a baseline worker panicked"))??;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

fn prepare(url: &DatabaseUrl) -> anyhow::Result<Db> {
    let db = Db::open(url)?;
    let mut conn = db.get()?;
    if appliance::get(&mut conn.conn())?.is_some() {
        bail!(
            "{} holds a configured appliance; the benchmark deletes every job, so give it an empty scratch database",
            url.redacted()
        );
    }
    let ddl = match url {
        DatabaseUrl::Sqlite(_) => {
            "CREATE TABLE IF NOT EXISTS bench_baseline (id INTEGER PRIMARY KEY AUTOINCREMENT, state TEXT NOT NULL)"
        }
        DatabaseUrl::Postgres(_) => {
            "CREATE TABLE IF NOT EXISTS bench_baseline (id BIGSERIAL PRIMARY KEY, state TEXT NOT NULL)"
        }
    };
    db_run!(&mut conn.conn(), c => diesel::sql_query(ddl).execute(c))?;
    // The queued rows in queue order, as `jobs_waiting` holds the queue's.
    db_run!(&mut conn.conn(), c => diesel::sql_query(
        "CREATE INDEX IF NOT EXISTS bench_baseline_queued ON bench_baseline (id) WHERE state = 'queued'"
    ).execute(c))?;
    Ok(db)
}

/// Runs the benchmark on a fresh SQLite file in `scratch` and, if given, on
/// an empty PostgreSQL database; `n` jobs per measurement.
pub fn queue(
    scratch: &std::path::Path,
    postgres: Option<&str>,
    n: usize,
) -> anyhow::Result<Vec<Row>> {
    let mut targets = vec![("sqlite", DatabaseUrl::Sqlite(scratch.join("bench.db")))];
    if let Some(url) = postgres {
        targets.push(("postgresql", DatabaseUrl::parse(url)?));
    }
    let mut rows = Vec::new();
    for (name, url) in targets {
        let db = prepare(&url).with_context(|| format!("preparing {}", url.redacted()))?;
        let mut settings = Settings::for_data_dir(scratch);
        settings.database = url.clone();
        for workers in [1, 4, 16] {
            // Interleaved rounds, median of each: a two-core machine that
            // also runs the database server is noisy.
            let mut queue_runs = Vec::new();
            let mut baseline_runs = Vec::new();
            for _ in 0..ROUNDS {
                queue_runs.push(run_queue(&db, &settings, n, workers)?);
                baseline_runs.push(run_baseline(&db, n, workers)?);
            }
            rows.push(Row {
                database: name,
                workers,
                queue_per_s: median(queue_runs.clone()),
                baseline_per_s: median(baseline_runs.clone()),
                queue_rounds: queue_runs,
                baseline_rounds: baseline_runs,
            });
        }
    }
    Ok(rows)
}

/// `baystack bench baymap`: the bay map of a simulated appliance with
/// `enclosures` enclosures of `bays` bays each (60-bay JBODs make a
/// 1,000-drive inventory): the database read and the template render that
/// `GET /bays/map` does, timed over `rounds` renders. Returns (bays, drives,
/// median ms, bytes of HTML).
pub fn baymap(
    scratch: &std::path::Path,
    enclosures: u32,
    bays: u32,
    rounds: usize,
) -> anyhow::Result<(usize, usize, f64, usize)> {
    use askama::Template;

    use crate::web::bays::{BayMap, MapPartial};
    use crate::web::page::Frame;

    let mut settings = Settings::for_data_dir(scratch);
    settings.sim.layout = vec![bays; enclosures as usize];
    let db = Db::open(&settings.database)?;
    let backend = crate::commands::engine(&settings, crate::domain::clock::system())?;
    crate::agent::observe_once(&db, backend.as_ref())?;
    let frame = Frame {
        title: "Bays".into(),
        nav: "bays",
        username: "bench".into(),
        role: crate::auth::Role::Operator,
        csrf: "x".repeat(43),
        hostname: "bench".into(),
        version: env!("CARGO_PKG_VERSION"),
        timezone: chrono_tz::UTC,
    };
    let mut times = Vec::new();
    let (mut total_bays, mut drives, mut bytes) = (0, 0, 0);
    for _ in 0..rounds {
        let started = Instant::now();
        let mut conn = db.get()?;
        let summary = crate::db::inventory::summary(&mut conn.conn())?;
        let pending = crate::jobs::open_on(&mut conn.conn(), "bay:")?;
        drop(conn);
        total_bays = summary.bays_total;
        drives = summary.drives_present;
        let partial = MapPartial {
            frame: frame.clone(),
            m: BayMap {
                pending,
                ..BayMap::of(summary.enclosures, settings.bay_layouts.clone())
            },
        };
        bytes = partial.render()?.len();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok((total_bays, drives, median(times), bytes))
}

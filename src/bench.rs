//! `baystack bench queue`: no-op jobs per second through the real runner,
//! beside the simplest hand-written claim loop on the same database in the
//! same run, which keeps none of the queue's guarantees: one statement per
//! job that marks the oldest queued row done, found through a partial index
//! on the queued rows like the queue's own (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, `BEGIN IMMEDIATE` on SQLite). Below it, `baystack bench
//! baymap` and `baystack bench pools`: pages read and rendered, and the
//! agent's observation tick, on a large simulated appliance.

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

pub mod pages;
pub mod replication;

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

/// What `baystack bench pools` measured: the appliance it made, then the
/// median of each timing over `rounds` rounds.
#[derive(Debug, Clone)]
pub struct PoolsReport {
    pub drives: usize,
    /// Pools made, and the drives in them.
    pub pools: usize,
    pub pool_drives: usize,
    /// The pools per level, as "raid6 x50, raid5 x25, ...".
    pub levels: String,
    /// The arrays' states as the last tick saw them, as "resyncing (resync)
    /// x100".
    pub states: String,
    /// Seconds the create jobs took, run one after another by the runner.
    pub create_s: f64,
    pub rounds: usize,
    /// `GET /pools`: the read and the render; bytes of HTML.
    pub list_ms: f64,
    pub list_bytes: usize,
    /// `GET /api/v1/pools`: the read and the JSON; bytes.
    pub api_ms: f64,
    pub api_bytes: usize,
    /// `GET /pools/{name}` of one pool in the middle.
    pub page_ms: f64,
    pub page_bytes: usize,
    /// What was in them, counted once the timing was done: the pools
    /// linked from the list page, the pools in the API's array, the drives
    /// listed on the one pool's page.
    pub list_rows: usize,
    pub api_pools: usize,
    pub page_drives: usize,
    /// One observation tick (`agent::observe_once`).
    pub tick_ms: f64,
    /// The backend's three reads alone (inventory, arrays, volume groups),
    /// timed apart: what of a tick is the simulator reading its state file.
    pub reads_ms: f64,
}

/// Drives per pool.
const POOL_DRIVES: usize = 10;

/// The `i`th pool's level and spares: raid6 of 10, raid5 of 9 with a
/// spare, raid10 of 10, raid6 of 8 with two spares, in turn.
fn pool_shape(i: usize) -> (crate::domain::pool::RaidLevel, usize) {
    use crate::domain::pool::RaidLevel;
    match i % 4 {
        0 => (RaidLevel::Raid6, 0),
        1 => (RaidLevel::Raid5, 1),
        2 => (RaidLevel::Raid10, 0),
        _ => (RaidLevel::Raid6, 2),
    }
}

fn tally<'a>(words: impl Iterator<Item = &'a str>) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for w in words {
        match counts.iter_mut().find(|(k, _)| *k == w) {
            Some((_, n)) => *n += 1,
            None => counts.push((w, 1)),
        }
    }
    counts
        .iter()
        .map(|(k, n)| format!("{k} x{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Records `pools` pools of [`POOL_DRIVES`] drives (the last may have
/// fewer, if the healthy drives run out), each with its create job in one
/// transaction, as `POST /api/v1/pools` does; drives in bay order, each
/// pool's spares its largest drives. Old signatures are allowed to be
/// erased, as an admin typing the serials would.
fn record_pools(db: &Db, pools: usize) -> anyhow::Result<()> {
    use crate::domain::pool::{ArraySpec, DEFAULT_CHUNK_KIB, DriveRef, RaidLevel, WriteHole};
    use crate::web::drives::{Sort, sorted};

    let mut conn = db.get()?;
    let drives = crate::db::inventory::drives(&mut conn.conn())?;
    let fit: Vec<_> = sorted(drives, Sort::Bay)
        .into_iter()
        .map(|(d, _)| d)
        .filter(|d| crate::web::pools::unfit(d, None, true).is_none())
        .collect();
    let wanted = pools * POOL_DRIVES;
    if fit.len() + POOL_DRIVES < wanted + 4 {
        bail!(
            "{pools} pools of {POOL_DRIVES} drives need {wanted}; the simulated appliance has \
             {} that can go into a pool",
            fit.len()
        );
    }
    for (i, group) in fit.chunks(POOL_DRIVES).take(pools).enumerate() {
        let (level, spares) = pool_shape(i);
        let least = match level {
            RaidLevel::Raid1 => 2,
            RaidLevel::Raid5 => 3,
            RaidLevel::Raid6 | RaidLevel::Raid10 => 4,
        };
        let mut spares = spares.min(group.len().saturating_sub(least));
        let mut members = group.len() - spares;
        if level == RaidLevel::Raid10 && members % 2 == 1 {
            members -= 1;
            spares += 1;
        }
        // The spares are the group's largest drives, so each can take the
        // place of any member; the members stay in bay order.
        let mut by_size: Vec<usize> = (0..group.len()).collect();
        by_size.sort_by_key(|&k| std::cmp::Reverse(group[k].size_bytes));
        let spare_at: Vec<usize> = by_size[..spares].to_vec();
        let as_ref = |d: &crate::db::inventory::DriveRow| DriveRef {
            ident: d.ident.clone(),
            serial: d.serial.clone(),
            by_id: d.by_id.clone(),
            dev_name: d.dev_name.clone(),
        };
        let mut rows = Vec::new();
        let (mut member_refs, mut spare_refs) = (Vec::new(), Vec::new());
        for (k, d) in group.iter().enumerate() {
            if !spare_at.contains(&k) {
                rows.push((d.id, "member"));
                member_refs.push(as_ref(d));
            }
        }
        for &k in &spare_at {
            rows.push((group[k].id, "spare"));
            spare_refs.push(as_ref(&group[k]));
        }
        debug_assert_eq!(member_refs.len(), members);
        let wipe: Vec<DriveRef> = group
            .iter()
            .filter(|d| !d.signatures().is_empty())
            .map(as_ref)
            .collect();
        let spec = ArraySpec {
            name: format!("pool{i:03}"),
            level,
            members: member_refs,
            spares: spare_refs,
            write_hole: WriteHole::Open,
            journal: Vec::new(),
            chunk_kib: DEFAULT_CHUNK_KIB,
        };
        let record = crate::db::pools::NewPool {
            name: &spec.name,
            level: level.as_str(),
            write_hole: "none",
            chunk_kib: i32::try_from(DEFAULT_CHUNK_KIB)?,
            scrub_every_days: crate::web::pools::SCRUB_EVERY_DAYS,
            created_by: "bench",
            drives: rows,
        };
        conn.write(|c| -> anyhow::Result<()> {
            crate::db::pools::insert(c, &record, db::now())?;
            crate::jobs::enqueue_audited(
                c,
                &kinds::create_pool(spec.clone(), wipe),
                "bench",
                None,
                None,
                None,
            )?;
            Ok(())
        })?;
    }
    Ok(())
}

/// Runs every queued job; the seconds it took. Fails, naming them, if any
/// job did not succeed.
fn run_all(db: &Db, runner: &Runner, what: &str) -> anyhow::Result<f64> {
    let started = Instant::now();
    while runner.run_one()? {}
    let took = started.elapsed().as_secs_f64();
    let mut conn = db.get()?;
    let failed: Vec<String> = crate::jobs::unfinished(&mut conn.conn(), 5)?
        .into_iter()
        .map(|j| format!("job {} ({}) is {}", j.id, j.summary, j.state))
        .chain(
            crate::jobs::list(
                &mut conn.conn(),
                &crate::jobs::JobFilter {
                    state: Some(crate::jobs::JobState::Failed),
                    limit: 5,
                    ..Default::default()
                },
            )?
            .into_iter()
            .map(|j| {
                format!(
                    "job {} ({}) failed: {}",
                    j.job.id,
                    j.job.summary,
                    j.job.error.unwrap_or_default()
                )
            }),
        )
        .collect();
    if !failed.is_empty() {
        bail!("not every {what} was made: {}", failed.join("; "));
    }
    Ok(took)
}

/// A simulated appliance of the settings' layout, observed, with `pools`
/// pools made on it by their create jobs through a runner (one worker):
/// its database, engine and runner, and the seconds the jobs took.
fn made_pools(settings: &Settings, pools: usize) -> anyhow::Result<Made> {
    let db = Db::open(&settings.database)?;
    let backend: Arc<dyn storage::Backend> = Arc::from(crate::commands::engine(
        settings,
        crate::domain::clock::system(),
    )?);
    crate::agent::observe_once(&db, backend.as_ref())?;
    record_pools(&db, pools)?;

    let runner = Runner::new(
        db.clone(),
        backend.clone(),
        RunnerSettings {
            workers: 1,
            lease: Duration::from_secs(60),
            poll: Duration::from_millis(5),
            max_attempts: 1,
        },
        Arc::new(Wake::default()),
        crate::jobs::kinds::find,
        Box::new(|| {}),
    );
    let create_s = run_all(&db, &runner, "pool")?;
    Ok(Made {
        db,
        backend,
        runner,
        seconds: create_s,
    })
}

/// A simulated appliance with its pools made: its database, engine and
/// runner, and the seconds the pool jobs took.
struct Made {
    db: Db,
    backend: Arc<dyn storage::Backend>,
    runner: Arc<Runner>,
    seconds: f64,
}

/// `baystack bench pools`: a simulated appliance of `enclosures`
/// enclosures of `bays` bays, observed once; `pools` pools made on it by
/// their create jobs through the job runner; then, over `rounds` rounds,
/// the read and render of `GET /pools`, the read and JSON of `GET
/// /api/v1/pools`, the read and render of one pool's page, and one
/// observation tick of the agent, each timed apart (medians).
pub fn pools(
    scratch: &std::path::Path,
    enclosures: u32,
    bays: u32,
    pools: usize,
    rounds: usize,
) -> anyhow::Result<PoolsReport> {
    use askama::Template;

    use crate::storage::NoLog;
    use crate::web::page::Frame;
    use crate::web::pool_drives::PoolPage;
    use crate::web::pools::{ListPage, PoolView, views};

    if pools == 0 || rounds == 0 {
        bail!("at least one pool and one round");
    }
    let mut settings = Settings::for_data_dir(scratch);
    settings.sim.layout = vec![bays; enclosures as usize];
    let Made {
        db,
        backend,
        seconds: create_s,
        ..
    } = made_pools(&settings, pools)?;
    let mut conn = db.get()?;
    crate::agent::observe_once(&db, backend.as_ref())?;
    let made = views(&mut conn.conn(), None)?;
    drop(conn);
    let not_ready: Vec<&str> = made
        .iter()
        .filter(|p| p.pool.lifecycle != "ready" || p.array.is_none())
        .map(|p| p.pool.name.as_str())
        .collect();
    if made.len() != pools || !not_ready.is_empty() {
        bail!(
            "{} pools recorded of {pools}; not ready or not seen: {}",
            made.len(),
            not_ready.join(", ")
        );
    }
    let one = made[made.len() / 2].pool.name.clone();

    let frame = |title: String| Frame {
        title,
        nav: "pools",
        username: "bench".into(),
        role: crate::auth::Role::Admin,
        csrf: "x".repeat(43),
        hostname: "bench".into(),
        version: env!("CARGO_PKG_VERSION"),
        timezone: chrono_tz::UTC,
    };
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1000.0;
    let (mut list, mut api, mut page, mut tick, mut reads) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut list_html, mut api_json, mut page_html) = (String::new(), Vec::new(), String::new());
    for _ in 0..rounds {
        // GET /pools
        let t = Instant::now();
        let all = views(&mut db.get()?.conn(), None)?;
        list_html = ListPage {
            frame: frame("Pools".into()),
            pools: all,
        }
        .render()?;
        list.push(ms(t));

        // GET /api/v1/pools
        let t = Instant::now();
        let all = views(&mut db.get()?.conn(), None)?;
        api_json = serde_json::to_vec(&all.iter().map(PoolView::json).collect::<Vec<_>>())?;
        api.push(ms(t));

        // GET /pools/{name}
        let t = Instant::now();
        let mut conn = db.get()?;
        let scene = crate::web::pool_drives::Scene::read(&mut conn.conn(), &one)?;
        let flow = crate::web::pool_drives::Flow::of(&scene);
        let scrubs = crate::db::pools::scrubs_of(&mut conn.conn(), scene.view.pool.id, 20)?;
        let volumes = crate::db::volumes::of_pool(&mut conn.conn(), scene.view.pool.id)?;
        drop(conn);
        page_html = PoolPage {
            frame: frame(format!("Pool {one}")),
            p: scene.view,
            scrubs,
            flow,
            volumes,
        }
        .render()?;
        page.push(ms(t));

        // The agent's tick, and the backend's reads within it alone.
        let t = Instant::now();
        crate::agent::observe_once(&db, backend.as_ref())?;
        tick.push(ms(t));
        let t = Instant::now();
        backend.inventory()?;
        backend.arrays(&mut NoLog)?;
        backend.volume_groups(&mut NoLog)?;
        reads.push(ms(t));
    }
    let seen = views(&mut db.get()?.conn(), None)?;
    let states: Vec<String> = seen
        .iter()
        .map(|p| match p.array.as_ref().and_then(|a| a.sync_action) {
            Some(action) => format!("{} ({})", p.state(), action.as_str()),
            None => p.state(),
        })
        .collect();
    Ok(PoolsReport {
        drives: crate::db::inventory::drives(&mut db.get()?.conn())?
            .iter()
            .filter(|(d, _)| d.present)
            .count(),
        pools: seen.len(),
        pool_drives: seen.iter().map(|p| p.drives.len()).sum(),
        levels: tally(seen.iter().map(|p| p.pool.level.as_str())),
        states: tally(states.iter().map(String::as_str)),
        create_s,
        rounds,
        list_ms: median(list),
        list_bytes: list_html.len(),
        api_ms: median(api),
        api_bytes: api_json.len(),
        page_ms: median(page),
        page_bytes: page_html.len(),
        list_rows: list_html.matches("<td><a href=\"/pools/").count(),
        api_pools: serde_json::from_slice::<Vec<serde_json::Value>>(&api_json)?.len(),
        page_drives: page_drives(&page_html),
        tick_ms: median(tick),
        reads_ms: median(reads),
    })
}

/// The rows of the drives table on a pool's page: each drive's row links
/// to the drive.
fn page_drives(html: &str) -> usize {
    html.matches("href=\"/drives/").count()
}

/// What `baystack bench noc` measured.
#[derive(Debug, Clone)]
pub struct NocReport {
    pub drives: usize,
    pub pools: usize,
    pub volumes: usize,
    pub appliances: usize,
    /// Seconds the pool and volume jobs took.
    pub setup_s: f64,
    pub board_bytes: usize,
    /// The board read, hashed and rendered after one bay changed (ms,
    /// median).
    pub changed_ms: f64,
    /// The board read and hashed when nothing changed: what each console
    /// does once a second while screens ask (ms, median).
    pub unchanged_ms: f64,
    /// Server CPU per request over HTTP with keep-alive (µs): a refresh
    /// answered 304, and one answered with the whole board.
    pub not_modified_us: f64,
    pub full_us: f64,
    pub requests: usize,
    /// Screens at a 2 s refresh one core serves, and the share of a core
    /// 200 screens take (the 304s, and one read a second).
    pub screens_per_core: f64,
    pub core_percent_at_200: f64,
}

/// CPU seconds this process and, apart, the calling thread have used.
fn cpu_now() -> (f64, f64) {
    use nix::sys::resource::{UsageWho, getrusage};
    use nix::time::{ClockId, clock_gettime};
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    let process = getrusage(UsageWho::RUSAGE_SELF)
        .map(|u| secs(u.user_time()) + secs(u.system_time()))
        .unwrap_or(0.0);
    let thread = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(|t| t.tv_sec() as f64 + t.tv_nsec() as f64 / 1e9)
        .unwrap_or(0.0);
    (process, thread)
}

/// Asks `url` from `clients` threads for `for_s` seconds, each over one
/// kept-alive connection, sending `etag` as `If-None-Match` if given:
/// (requests, the server's CPU seconds, the status seen).
fn hammer(
    url: &str,
    etag: Option<&str>,
    clients: usize,
    for_s: f64,
) -> anyhow::Result<(usize, f64, u16)> {
    let (process0, _) = cpu_now();
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let (url, etag) = (url.to_string(), etag.map(str::to_string));
            std::thread::spawn(move || -> anyhow::Result<(usize, f64, u16)> {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                let (_, t0) = cpu_now();
                let started = Instant::now();
                let (mut n, mut status) = (0, 0);
                while started.elapsed().as_secs_f64() < for_s {
                    let mut req = agent.get(&url);
                    if let Some(e) = &etag {
                        req = req.header("if-none-match", e);
                    }
                    let mut r = req.call()?;
                    status = r.status().as_u16();
                    r.body_mut().read_to_vec()?;
                    n += 1;
                }
                let (_, t1) = cpu_now();
                Ok((n, t1 - t0, status))
            })
        })
        .collect();
    let (mut n, mut client_cpu, mut status) = (0, 0.0, 0);
    for h in handles {
        let (k, cpu, st) = h
            .join()
            .map_err(|_| anyhow::anyhow!("a client thread panicked"))??;
        n += k;
        client_cpu += cpu;
        status = st;
    }
    let (process1, _) = cpu_now();
    Ok((n, (process1 - process0 - client_cpu).max(0.0), status))
}

/// `baystack bench noc`: a simulated appliance of `enclosures` enclosures
/// of `bays` bays with `pools` pools (made by their jobs) and `volumes`
/// volumes spread over them (made by theirs), `appliances` appliances in
/// the fleet registry (this one and others), a wall link; then the wall's
/// board read, hashed and rendered when one bay changed and read and
/// hashed when nothing did (medians of `rounds`), and over HTTP, from the
/// console's own server in this process, the server's CPU per refresh
/// answered 304 (for `http_s` seconds) and per whole board (half that).
#[allow(clippy::too_many_arguments)]
pub fn noc(
    scratch: &std::path::Path,
    database: Option<&str>,
    enclosures: u32,
    bays: u32,
    pools: usize,
    volumes: usize,
    appliances: usize,
    rounds: usize,
    http_s: f64,
) -> anyhow::Result<NocReport> {
    use crate::storage::sim::SimAction;

    let mut settings = Settings::for_data_dir(scratch);
    settings.sim.layout = vec![bays; enclosures as usize];
    settings.sim.speed = 100_000.0;
    if let Some(url) = database {
        settings.database = DatabaseUrl::parse(url)?;
        prepare(&settings.database)?;
    }
    let Made {
        db,
        backend,
        runner,
        seconds: pools_s,
    } = made_pools(&settings, pools)?;
    // The volumes, spread over the pools, made by their jobs.
    let made: Vec<String> = crate::db::pools::list(&mut db.get()?.conn())?
        .into_iter()
        .map(|p| p.name)
        .collect();
    db.get()?.write(|c| -> anyhow::Result<()> {
        let ids: std::collections::HashMap<String, i64> = crate::db::pools::list(c)?
            .into_iter()
            .map(|p| (p.name, p.id))
            .collect();
        for v in 0..volumes {
            let pool = &made[v % made.len()];
            let name = format!("vol{v:04}");
            let serial = format!("{:08x}-0000-4000-8000-{:012x}", v, v);
            crate::db::volumes::insert(
                c,
                &crate::db::volumes::NewVolume {
                    name: &name,
                    pool_id: ids[pool],
                    thin: false,
                    size_bytes: 1 << 30,
                    serial: &serial,
                    wwn: &crate::domain::target::naa_wwn(&serial),
                    created_by: "bench",
                },
                db::now(),
            )?;
            crate::jobs::enqueue_audited(
                c,
                &kinds::create_volume(pool, &name, 1 << 30, false),
                "bench",
                None,
                None,
                None,
            )?;
        }
        Ok(())
    })?;
    let volumes_s = run_all(&db, &runner, "volume")?;
    crate::agent::observe_once(&db, backend.as_ref())?;
    let stale = crate::agent::stale_after(&settings.agent);
    crate::agent::evaluate_alerts(&db, stale)?;

    // Set up, with a wall link, and the fleet.
    let key = crate::auth::random_secret("");
    db.get()?.write(|c| -> anyhow::Result<()> {
        crate::db::wall::create_link(
            c,
            "bench",
            &crate::auth::secret_hash(&key),
            "bench",
            db::now(),
        )?;
        Ok(())
    })?;
    appliance::complete_setup(
        &mut db.get()?,
        &appliance::Setup {
            hostname: "bench00".into(),
            iqn_domain: "example.com".into(),
            iqn_date: "2024-01".into(),
            timezone: "UTC".into(),
            admin_password_hash: "not a hash: nobody signs in".into(),
        },
        "bench",
        db::now(),
    )?;
    crate::agent::register_appliance(&db, &crate::db::fleet::Fleet::new(&db, None), stale, None)?;
    db.get()?.write(|c| -> anyhow::Result<()> {
        for i in 1..appliances {
            let name = format!("bench{i:02}");
            crate::db::wall::register(
                c,
                &crate::db::wall::ApplianceRow {
                    id: name.clone(),
                    hostname: name.clone(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    console_url: Some(format!("https://{name}.example.com/")),
                    state: ["green", "amber", "red"][i % 3].into(),
                    reason: format!("{name} is as it is"),
                    stale_after_seconds: 30,
                    last_seen_at: db::now(),
                },
            )?;
        }
        Ok(())
    })?;

    let state = actix_web::web::Data::new(crate::web::AppState::new(db.clone(), settings.clone()));
    let fresh = Duration::from_millis(1100);
    let sys = actix_rt::System::new();
    let board = |state: &crate::web::AppState| -> anyhow::Result<(f64, String, usize)> {
        let t = Instant::now();
        let b = sys.block_on(state.wall.board(state))?;
        Ok((
            t.elapsed().as_secs_f64() * 1000.0,
            b.etag.clone(),
            b.html.len(),
        ))
    };
    let (mut changed, mut unchanged) = (Vec::new(), Vec::new());
    let mut bytes = 0;
    let encl = crate::db::inventory::enclosures(&mut db.get()?.conn())?[0]
        .ident
        .clone();
    let sim = crate::storage::sim::SimBackend::open_existing(&settings.data_dir, &settings.sim)?;
    board(&state)?;
    for round in 0..rounds {
        // One bay changes: a drive is pulled and another put in.
        sim.act(&encl, u32::try_from(round % 5)?, SimAction::ReplaceDrive)?;
        crate::agent::observe_once(&db, backend.as_ref())?;
        std::thread::sleep(fresh);
        let (ms, etag, b) = board(&state)?;
        changed.push(ms);
        bytes = b;
        std::thread::sleep(fresh);
        let (ms, again, _) = board(&state)?;
        if again != etag {
            bail!("the board changed with nothing changed");
        }
        unchanged.push(ms);
    }

    // Over HTTP: the console's own server, one worker.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let listen: std::net::SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let server_state = state.clone();
    std::thread::spawn(move || {
        let sys = actix_rt::System::new();
        sys.block_on(async move {
            if let Ok(server) = crate::web::server::serve(server_state, listen, 1) {
                let _ = server.await;
            }
        });
    });
    let url = format!("http://127.0.0.1:{port}/noc/w/{key}/board");
    let deadline = Instant::now() + Duration::from_secs(10);
    let etag = loop {
        let r = ureq::get(&url).call();
        if let Ok(r) = r
            && let Some(e) = r.headers().get("etag")
        {
            break e.to_str()?.to_string();
        }
        if Instant::now() > deadline {
            bail!("the console's server did not answer {url}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (n304, cpu304, st) = hammer(&url, Some(&etag), 4, http_s)?;
    if st != 304 {
        bail!("a refresh with the board's ETag was answered {st}, not 304");
    }
    let (n200, cpu200, st) = hammer(&url, None, 4, http_s / 2.0)?;
    if st != 200 {
        bail!("a refresh without an ETag was answered {st}");
    }
    let not_modified_us = cpu304 / n304.max(1) as f64 * 1e6;
    let unchanged_ms = median(unchanged);
    // 200 screens every 2 s: 100 refreshes a second, and one read of the
    // state a second.
    let per_second = 100.0 * not_modified_us / 1e6 + unchanged_ms / 1000.0;
    let mut conn = db.get()?;
    Ok(NocReport {
        drives: crate::db::inventory::drives(&mut conn.conn())?
            .iter()
            .filter(|(d, _)| d.present)
            .count(),
        pools: made.len(),
        volumes: crate::db::volumes::list(&mut conn.conn())?.len(),
        appliances: crate::db::wall::appliances(&mut conn.conn())?.len(),
        setup_s: pools_s + volumes_s,
        board_bytes: bytes,
        changed_ms: median(changed),
        unchanged_ms,
        not_modified_us,
        full_us: cpu200 / n200.max(1) as f64 * 1e6,
        requests: n304 + n200,
        screens_per_core: 2.0 / (not_modified_us / 1e6 + (unchanged_ms / 1000.0) / 2.0 / 100.0),
        core_percent_at_200: per_second * 100.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wall benchmark at a small scale: the board holds the appliance,
    /// a changed bay draws it anew, an unchanged board is a 304.
    #[test]
    fn the_noc_bench_draws_on_change_and_answers_304_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let r = noc(dir.path(), None, 1, 60, 2, 4, 3, 1, 0.3).unwrap();
        assert_eq!(
            (r.drives, r.pools, r.volumes, r.appliances),
            (50, 2, 4, 3),
            "{r:?}"
        );
        assert!(r.board_bytes > 5000 && r.requests > 10, "{r:?}");
        assert!(r.not_modified_us > 0.0 && r.changed_ms > 0.0, "{r:?}");
    }

    /// The pools benchmark at a small scale: every pool is made by its job
    /// and seen by the agent, and every page and answer it times holds
    /// them all, so it cannot time empty pages.
    #[test]
    fn the_pools_bench_times_pages_that_hold_every_pool() {
        let dir = tempfile::tempdir().unwrap();
        let r = pools(dir.path(), 1, 60, 3, 2).unwrap();
        assert_eq!((r.drives, r.pools, r.pool_drives), (50, 3, 30), "{r:?}");
        assert_eq!(r.levels, "raid6 x1, raid5 x1, raid10 x1", "{r:?}");
        assert_eq!(
            (r.list_rows, r.api_pools, r.page_drives),
            (3, 3, 10),
            "{r:?}"
        );
        assert!(r.list_bytes > 0 && r.api_bytes > 0 && r.page_bytes > 0);
    }
}

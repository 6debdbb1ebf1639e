//! The queue's torture test: several `baystack agent` processes (real
//! processes, sharing one SQLite file or one PostgreSQL database) run
//! thousands of no-op jobs over a handful of shared resources, with random
//! delays; each job records (resource, job id) when its step completes. Then:
//! no job ran twice, none was lost, each resource's jobs ran one at a time in
//! enqueue order. Once more while runners are killed with SIGKILL at random
//! moments, and frozen with SIGSTOP for longer than their lease and then
//! let go: a runner that wakes up to find its jobs taken over must not
//! write a thing (fencing).

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use baystack::config::DatabaseUrl;
use baystack::db::{self, Db};
use baystack::jobs::{kinds, queue};
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::support::PgDatabase;

const LONG_MS: u64 = 1200;

const RESOURCES: [&str; 6] = [
    "pool:a", "pool:b", "pool:c", "volume:d", "bay:e:1", "drive:F",
];

/// xorshift64*: deterministic, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn agent(config: &Path, data: &Path, url: &DatabaseUrl) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_baystack"));
    cmd.args(["agent", "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .env("BAYSTACK_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    match url {
        DatabaseUrl::Postgres(u) => cmd.args(["--database", u]),
        DatabaseUrl::Sqlite(path) => cmd.arg("--database").arg(path),
    };
    cmd.spawn().expect("start an agent")
}

/// The agents of a run; killed however the test ends, so a failing test
/// leaves no runner behind.
struct Agents(Vec<Child>);

impl Drop for Agents {
    fn drop(&mut self) {
        for a in &mut self.0 {
            kill(a);
        }
    }
}

fn kill(child: &mut Child) {
    // SIGKILL: no chance to clean up, as in a power loss.
    let _ = child.kill();
    let _ = child.wait();
}

fn signal(pid: u32, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
}

/// A long job running right now, not frozen before, and the pid of the
/// agent that runs it (runner ids are `host:pid:suffix`).
fn holder_of_long_job(db: &Db, not: &[i64]) -> Option<(i64, u32)> {
    use baystack::db::schema::jobs;
    let mut conn = db.get().unwrap();
    let running: Vec<(i64, Option<String>)> = baystack::db_run!(&mut conn.conn(), c => jobs::table
        .filter(jobs::state.eq("running"))
        .filter(jobs::payload.like(format!("%\"delay_ms\":{LONG_MS}%")))
        .select((jobs::id, jobs::runner))
        .load(c))
    .unwrap();
    running.into_iter().find_map(|(id, runner)| {
        let pid = runner?.split(':').nth(1)?.parse().ok()?;
        (!not.contains(&id)).then_some((id, pid))
    })
}

fn unfinished(db: &Db) -> i64 {
    use baystack::db::schema::jobs;
    let mut conn = db.get().unwrap();
    baystack::db_run!(&mut conn.conn(), c => jobs::table
        .filter(jobs::state.eq_any(["queued", "running", "interrupted"]))
        .count()
        .get_result(c))
    .unwrap()
}

/// id, state, attempts, started_at, finished_at
type JobFacts = (
    i64,
    String,
    i32,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
);

struct Report {
    resumed: usize,
}

fn torture(url: DatabaseUrl, jobs_total: usize, killing: bool) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&url).unwrap();
    let mut rng = Rng(0x5EED_0000 + jobs_total as u64 + killing as u64);
    let max_delay = if killing { 25 } else { 6 };
    let mut wanted: HashMap<i64, Vec<String>> = HashMap::new();
    {
        let mut conn = db.get().unwrap();
        for _ in 0..jobs_total {
            let first = rng.below(RESOURCES.len() as u64) as usize;
            let mut res = vec![RESOURCES[first].to_string()];
            if rng.below(3) == 0 {
                let second =
                    (first + 1 + rng.below(RESOURCES.len() as u64 - 1) as usize) % RESOURCES.len();
                res.push(RESOURCES[second].to_string());
            }
            // Some long jobs in the killing runs: a runner frozen in one
            // wakes while the job's new owner is still inside it.
            let delay = if killing && rng.below(100) == 0 {
                LONG_MS
            } else {
                rng.below(max_delay)
            };
            let spec = kinds::noop(res.clone(), delay, 1);
            let id = conn
                .write(|c| queue::enqueue(c, &spec, "torture", None, db::now()))
                .unwrap();
            wanted.insert(id, res);
        }
    }
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        "backend = \"sim\"\n[agent]\nworkers = 3\nlease_ms = 1000\npoll_ms = 20\nmax_attempts = 100\nobserve_interval_seconds = 86400\n",
    )
    .unwrap();
    let mut agents = Agents((0..3).map(|_| agent(&config, dir.path(), &url)).collect());
    let started = Instant::now();
    let mut kills = 0;
    let mut pauses = 0;
    // An agent frozen with SIGSTOP, and when to let it go.
    let mut frozen: Option<(u32, Instant)> = None;
    // Each long job is frozen at most once, or its new owners would be
    // frozen in turn for ever.
    let mut frozen_jobs: Vec<i64> = Vec::new();
    let mut next_kill = Instant::now() + Duration::from_millis(300 + rng.below(400));
    while unfinished(&db) > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "{} jobs still unfinished after 4 minutes",
            unfinished(&db)
        );
        if let Some((pid, until)) = frozen
            && Instant::now() >= until
        {
            signal(pid, nix::sys::signal::Signal::SIGCONT);
            frozen = None;
        }
        if killing && Instant::now() >= next_kill {
            let victim = rng.below(agents.0.len() as u64) as usize;
            let pid = agents.0[victim].id();
            let in_long_job = (frozen.is_none() && pauses < 4)
                .then(|| holder_of_long_job(&db, &frozen_jobs))
                .flatten();
            if let Some((job, holder)) =
                in_long_job.filter(|(_, p)| agents.0.iter().any(|a| a.id() == *p))
            {
                frozen_jobs.push(job);
                // Frozen for longer than its 1 s lease, inside a long job:
                // the job is taken over, and when this runner wakes it finds
                // its step done and tries to record it.
                signal(holder, nix::sys::signal::Signal::SIGSTOP);
                frozen = Some((holder, Instant::now() + Duration::from_millis(1600)));
                pauses += 1;
            } else if frozen.is_none_or(|(p, _)| p != pid) {
                kill(&mut agents.0[victim]);
                agents.0[victim] = agent(&config, dir.path(), &url);
                kills += 1;
            }
            next_kill = Instant::now() + Duration::from_millis(300 + rng.below(600));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if let Some((pid, _)) = frozen {
        signal(pid, nix::sys::signal::Signal::SIGCONT);
    }
    // Let any woken runner try its stale writes before the books are
    // checked.
    std::thread::sleep(Duration::from_millis(500));
    drop(agents);
    if killing {
        assert!(kills >= 3, "only {kills} kills happened");
        assert!(pauses >= 1, "no runner was frozen");
    }

    // What happened, from the database.
    use baystack::db::schema::{jobs, noop_runs};
    let mut conn = db.get().unwrap();
    let states: Vec<JobFacts> = baystack::db_run!(&mut conn.conn(), c => jobs::table
            .select((jobs::id, jobs::state, jobs::attempts, jobs::started_at, jobs::finished_at))
            .load(c))
    .unwrap();
    let runs: Vec<(i64, i64, String)> = baystack::db_run!(&mut conn.conn(), c => noop_runs::table
        .order(noop_runs::id.asc())
        .select((noop_runs::id, noop_runs::job_id, noop_runs::resource))
        .load(c))
    .unwrap();

    assert_eq!(states.len(), jobs_total);
    let not_ok: Vec<_> = states.iter().filter(|s| s.1 != "succeeded").collect();
    assert!(not_ok.is_empty(), "jobs that did not succeed: {not_ok:?}");

    // None lost, none twice: each job left exactly one row per resource.
    let mut seen: HashMap<(i64, String), usize> = HashMap::new();
    for (_, job, res) in &runs {
        *seen.entry((*job, res.clone())).or_default() += 1;
    }
    for (job, res) in &wanted {
        for r in res {
            let n = seen.get(&(*job, r.clone())).copied().unwrap_or(0);
            assert_eq!(n, 1, "job {job} on {r} ran {n} times");
        }
    }
    assert_eq!(runs.len(), wanted.values().map(Vec::len).sum::<usize>());

    // Per resource: in enqueue order, and one at a time (each job started
    // after the one before it on that resource had finished).
    let times: HashMap<i64, (NaiveDateTime, NaiveDateTime)> = states
        .iter()
        .map(|(id, _, _, s, f)| (*id, (s.unwrap(), f.unwrap())))
        .collect();
    for r in RESOURCES {
        let order: Vec<i64> = runs.iter().filter(|x| x.2 == r).map(|x| x.1).collect();
        for pair in order.windows(2) {
            assert!(
                pair[0] < pair[1],
                "{r}: job {} ran after job {}",
                pair[0],
                pair[1]
            );
            let (_, a_finished) = times[&pair[0]];
            let (b_started, _) = times[&pair[1]];
            assert!(
                b_started >= a_finished,
                "{r}: job {} started at {b_started} before job {} finished at {a_finished}",
                pair[1],
                pair[0]
            );
        }
    }
    let resumed = states.iter().filter(|s| s.2 > 1).count();
    eprintln!(
        "torture ({}, {jobs_total} jobs, {kills} kills, {pauses} freezes): {:.1} s, {resumed} jobs resumed after an interruption",
        url.kind(),
        started.elapsed().as_secs_f64()
    );
    Report { resumed }
}

#[test]
fn torture_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    torture(DatabaseUrl::Sqlite(dir.path().join("q.db")), 2000, false);
}

#[test]
fn torture_postgres() {
    let pg = PgDatabase::create();
    torture(DatabaseUrl::Postgres(pg.url.clone()), 2000, false);
}

#[test]
fn torture_sqlite_with_kills() {
    let dir = tempfile::tempdir().unwrap();
    let report = torture(DatabaseUrl::Sqlite(dir.path().join("q.db")), 1000, true);
    assert!(report.resumed > 0, "no kill landed inside a job");
}

#[test]
fn torture_postgres_with_kills() {
    let pg = PgDatabase::create();
    let report = torture(DatabaseUrl::Postgres(pg.url.clone()), 1000, true);
    assert!(report.resumed > 0, "no kill landed inside a job");
}

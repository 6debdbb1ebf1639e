//! The agent: the only part of Baystack that touches the system. It runs
//! the job runner (worker threads claiming jobs in order) and the observer,
//! which records what the storage backend sees, every interval and after
//! every job.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::config::{AgentSettings, Settings};
use crate::db::fleet::Fleet;
use crate::db::smart as db_smart;
use crate::db::{self, Db, inventory};
use crate::domain::health::Health;
use crate::domain::pool::SyncAction;
use crate::error::AppError;
use crate::jobs::Wake;
use crate::jobs::runner::Runner;
use crate::storage::{Backend, BackendError};
use crate::{lights, smart};

/// One observation pass: ask the backend, store what it says (or why it
/// could not say anything), and count the I/O errors the kernel logged
/// since the last pass, in one transaction.
/// The md arrays and LVM volume groups as they are now; what could not be
/// read leaves the pools as last seen.
fn read_pools(
    backend: &dyn Backend,
) -> Result<
    (
        Vec<crate::domain::pool::Array>,
        Vec<crate::domain::pool::VolumeGroup>,
    ),
    BackendError,
> {
    let read = backend
        .arrays(&mut crate::storage::NoLog)
        .and_then(|a| Ok((a, backend.volume_groups(&mut crate::storage::NoLog)?)));
    match &read {
        Err(BackendError::NotBuilt(msg)) => tracing::debug!("observer: {msg}"),
        Err(e) => tracing::warn!("observer: the pools could not be read: {e}"),
        Ok(_) => {}
    }
    read
}

/// What the observer reads of volumes and targets: each volume group's
/// logical volumes, the front devices, and LIO.
struct VolumesSeen {
    lvs: Vec<(String, Vec<crate::domain::pool::LogicalVolume>)>,
    fronts: Vec<crate::domain::volume::FrontDevice>,
    lio: Option<crate::domain::target::Lio>,
}

fn read_volumes(backend: &dyn Backend, vgs: &[crate::domain::pool::VolumeGroup]) -> VolumesSeen {
    let mut log = crate::storage::NoLog;
    let quiet = |what: &str, e: &BackendError| match e {
        BackendError::NotBuilt(msg) => tracing::debug!("observer: {msg}"),
        e => tracing::warn!("observer: {what} could not be read: {e}"),
    };
    let lvs = vgs
        .iter()
        .filter_map(|v| match backend.logical_volumes(&v.name, &mut log) {
            Ok(l) => Some((v.name.clone(), l)),
            Err(e) => {
                quiet(&format!("the logical volumes of {}", v.name), &e);
                None
            }
        })
        .collect();
    let fronts = backend.front_devices(&mut log).unwrap_or_else(|e| {
        quiet("the front devices", &e);
        Vec::new()
    });
    let lio = backend
        .lio(&mut log)
        .map_err(|e| quiet("LIO's targets", &e))
        .ok();
    VolumesSeen { lvs, fronts, lio }
}

/// Returns whether md is at work on an array (a rebuild, a reshape, a
/// scrub): the agent then looks more often.
pub fn observe_once(db: &Db, backend: &dyn Backend) -> Result<bool, AppError> {
    let kind = backend.kind().as_str();
    let seen = backend.inventory();
    // Scrubs started before this look and not running in it have ended.
    let pools_seen_at = db::now();
    let pools = read_pools(backend);
    let log = read_kernel_log(db, backend);
    let volumes = pools
        .as_ref()
        .ok()
        .map(|(_, vgs)| read_volumes(backend, vgs));
    let mut conn = db.get()?;
    let counted = conn.write(|c| -> Result<usize, AppError> {
        let now = db::now();
        // What this agent read is its to count only if it moves the cursor.
        let log = match &log {
            Ok(Some(l)) if db_smart::advance_kernel_log(c, &l.boot, l.from, l.log.next)? => {
                Some(&l.log)
            }
            _ => None,
        };
        let errors = log.map_or(&[][..], |l| &l.errors[..]);
        // An error is the disk's that had its name at the last pass (it may
        // be gone now), unless a disk was attached under the name since:
        // that one is known only once this pass is stored, as is a disk
        // under a name the last pass did not see.
        let mut counted = Vec::new();
        let (then, since): (Vec<_>, Vec<_>) = errors.iter().partition(|e| !e.attached_since);
        let unknown = db_smart::count_io_errors(c, then, &mut counted)?;
        match &seen {
            Ok(inv) => inventory::store(c, inv, kind, now)?,
            Err(e) => inventory::record_observation(c, kind, Some(&e.to_string()), now)?,
        }
        db_smart::count_io_errors(c, since.into_iter().chain(unknown), &mut counted)?;
        db_smart::refresh_health(c, &counted)?;
        if let Ok((arrays, vgs)) = &pools {
            crate::db::pools::record_observation(c, arrays, vgs, now)?;
            if let Some(seen) = &volumes {
                for p in crate::db::pools::list(c)? {
                    if let Some((_, lvs)) = seen.lvs.iter().find(|(vg, _)| *vg == p.name) {
                        crate::db::volumes::record_observation(c, p.id, lvs, &seen.fronts, now)?;
                    }
                }
                if let Some(lio) = &seen.lio {
                    crate::db::volumes::record_lio(c, lio, now)?;
                }
            }
            for (pool, found) in crate::db::pools::finish_scrubs(c, arrays, pools_seen_at)? {
                match found {
                    Some(n) if n > 0 => {
                        tracing::warn!("the scrub of pool {pool} found {n} mismatched sectors")
                    }
                    _ => tracing::info!("the scrub of pool {pool} ended"),
                }
            }
        }
        Ok(counted.len())
    })?;
    match seen {
        Ok(_) => {}
        Err(BackendError::NotBuilt(msg)) => tracing::debug!("observer: {msg}"),
        Err(e) => tracing::warn!("observer: {e}"),
    }
    if counted > 0 {
        tracing::warn!("the kernel logged {counted} I/O error(s) on drives since the last look");
    }
    if let Ok(Some(l)) = &log
        && l.log.lost > 0
    {
        tracing::warn!(
            "the kernel's log wrapped before it was read: {} record(s) lost, and any I/O \
             errors among them are not counted",
            l.log.lost
        );
    }
    warn_once(
        log.err()
            .map(|e| format!("{e}; I/O errors on drives are not counted")),
    );
    Ok(pools.is_ok_and(|(arrays, _)| {
        arrays.iter().any(|a| {
            a.sync_action
                .is_some_and(|s| !matches!(s, SyncAction::Idle | SyncAction::Frozen))
        })
    }))
}

/// A reading of the kernel's log, and where it began.
struct LogRead {
    boot: String,
    /// The cursor it began at; `None` for the boot's first reading.
    from: Option<u64>,
    log: crate::domain::KernelLog,
}

/// The kernel's log from where this boot's reading stopped; `None` for a
/// backend with no kernel log.
fn read_kernel_log(db: &Db, backend: &dyn Backend) -> Result<Option<LogRead>, AppError> {
    let unavailable = |e: BackendError| AppError::Unavailable(e.to_string());
    let Some(boot) = backend.boot_id().map_err(unavailable)? else {
        return Ok(None);
    };
    let from = db_smart::kernel_log_cursor(&mut db.get()?.conn(), &boot)?;
    let log = backend
        .kernel_io_errors(&boot, from.unwrap_or(0))
        .map_err(unavailable)?;
    Ok(Some(LogRead { boot, from, log }))
}

/// Warns of a problem when it is first met, not again every pass while it
/// stays the same (a kernel log the agent may not read); `None`: all is
/// well again.
fn warn_once(problem: Option<String>) {
    static LAST: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(what) = &problem
        && last.as_ref() != Some(what)
    {
        tracing::warn!("observer: {what}");
    }
    *last = problem;
}

/// Reads every drive's SMART every `smart_interval_minutes`, starting a
/// little after the agent does (the first observation has recorded the
/// drives by then), and then enqueues the self-tests that are due. In
/// between, every observation interval, it reads the drives that appeared
/// since the last round (a drive put in a bay is judged within seconds)
/// and follows the self-tests: a drive running one is read again, and
/// once more when its test should have ended ([`smart::follow_up`]).
async fn poll_smart(
    db: Db,
    backend: Arc<dyn Backend>,
    agent: AgentSettings,
    wake: Arc<Wake>,
    mut stop: watch::Receiver<bool>,
) {
    let interval = Duration::from_secs(agent.smart_interval_minutes * 60);
    let tick = Duration::from_secs(agent.observe_interval_seconds.clamp(2, 60));
    let concurrency = agent.smart_concurrency as usize;
    let mut wait = Duration::from_secs(5);
    let mut next_round = tokio::time::Instant::now();
    let mut newcomers = Newcomers::default();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        wait = tick;
        let round = tokio::time::Instant::now() >= next_round;
        if round {
            next_round = tokio::time::Instant::now() + interval;
        }
        let known = newcomers.known(round);
        let (db, backend) = (db.clone(), backend.clone());
        let (short_days, long_days) = (agent.short_self_test_days, agent.long_self_test_days);
        match tokio::task::spawn_blocking(move || {
            let report = match &known {
                None => smart::poll_once(&db, backend.as_ref(), concurrency)?,
                Some(k) => smart::poll_newcomers(&db, backend.as_ref(), concurrency, k)?,
            };
            // A round has just read every drive.
            let followed = known
                .as_ref()
                .map(|_| smart::follow_self_tests(&db, backend.as_ref(), concurrency));
            let tests = match report.drives {
                0 => Ok(0),
                _ => smart::schedule_self_tests(&db, short_days, long_days),
            };
            Ok::<_, AppError>((report, followed, tests))
        })
        .await
        {
            Ok(Ok((report, followed, tests))) => {
                match followed {
                    Some(Ok(f)) if f.drives > 0 => {
                        tracing::debug!(
                            "SMART read again for {} drive(s) running or ending a self-test",
                            f.drives
                        );
                        for (drive, why) in f.failed {
                            tracing::warn!("SMART of {drive} during its self-test: {why}");
                        }
                    }
                    Some(Err(e)) => tracing::warn!("self-tests not followed up: {e}"),
                    _ => {}
                }
                newcomers.read(&report);
                if round || report.drives > 0 {
                    tracing::info!(
                        "SMART read for {} {}drive(s) in {} ms",
                        report.drives,
                        if round { "" } else { "newly seen " },
                        report.took.as_millis()
                    );
                }
                for (drive, why) in report.failed {
                    tracing::warn!("SMART of {drive}: {why}");
                }
                if round || report.drives > 0 {
                    // What a round of 1,000 drives' reports held is free now.
                    crate::give_back_memory();
                }
                match tests {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!("{n} SMART self-test(s) due: jobs enqueued");
                        wake.notify();
                    }
                    Err(e) => tracing::warn!("SMART self-tests not scheduled: {e}"),
                }
            }
            Ok(Err(e)) => tracing::warn!("SMART poll failed: {e}"),
            Err(e) => tracing::error!("SMART poll task failed: {e}"),
        }
    }
}

/// Which drives the SMART poller has read since its last round, so that
/// between rounds it reads only drives that appeared since. A drive whose
/// reading failed is tried once more at the next tick (a disk just attached
/// may not answer yet), then waits for the round.
#[derive(Debug, Default)]
struct Newcomers {
    /// `None` until a round has been read.
    known: Option<HashSet<i64>>,
    retried: HashSet<i64>,
}

impl Newcomers {
    /// The drives to leave out of this pass: `None` for a whole round.
    fn known(&mut self, round: bool) -> Option<HashSet<i64>> {
        if round {
            self.retried.clear();
            return None;
        }
        self.known.clone()
    }

    fn read(&mut self, report: &smart::PollReport) {
        let mut known: HashSet<i64> = report.present.iter().copied().collect();
        for id in &report.unread {
            if self.retried.insert(*id) {
                known.remove(id);
            }
        }
        self.known = Some(known);
    }
}

/// Deletes the audit entries older than `keep`; how many went.
/// How long a replication transfer's job is kept once it succeeded: its
/// volume's transfer history keeps what it did.
const KEEP_SHIP_JOBS: chrono::Duration = chrono::Duration::days(1);

/// Forgets replication transfers' jobs that succeeded more than a day ago
/// (at a point every 10 s, 8,640 a day per volume). Returns how many.
pub fn prune_ship_jobs(db: &Db) -> Result<usize, AppError> {
    let before = db::now() - KEEP_SHIP_JOBS;
    Ok(db
        .get()?
        .write(|c| crate::jobs::queue::forget_succeeded(c, "replication.ship", before))?)
}

pub fn prune_audit(db: &Db, keep: chrono::Duration) -> Result<usize, AppError> {
    let mut conn = db.get()?;
    Ok(conn.write(|c| crate::db::audit::prune(c, crate::db::now() - keep))?)
}

/// Runs the runner and the observer until `stop` turns true.
pub async fn run(
    db: Db,
    fleet: Fleet,
    backend: Arc<dyn Backend>,
    settings: &Settings,
    wake: Arc<Wake>,
    mut stop: watch::Receiver<bool>,
) {
    let interval = Duration::from_secs(settings.agent.observe_interval_seconds);
    let look_again = Arc::new(Notify::new());
    let notify = look_again.clone();
    let runner = Runner::new(
        db.clone(),
        backend.clone(),
        crate::jobs::runner::RunnerSettings::from_agent(&settings.agent),
        wake.clone(),
        crate::jobs::kinds::find,
        Box::new(move || notify.notify_one()),
    );
    let halt = Arc::new(AtomicBool::new(false));
    let threads = runner.start(halt.clone());
    let smart_poller = tokio::spawn(poll_smart(
        db.clone(),
        backend.clone(),
        settings.agent.clone(),
        wake.clone(),
        stop.clone(),
    ));
    {
        let (db2, b2) = (db.clone(), backend.clone());
        match tokio::task::spawn_blocking(move || reconcile_pools(&db2, b2.as_ref())).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => {
                tracing::warn!("{n} recorded pool(s) were not running: assembly enqueued");
                wake.notify();
            }
            Ok(Err(e)) => tracing::warn!("reconciling the pools failed: {e}"),
            Err(e) => tracing::error!("pool reconcile task failed: {e}"),
        }
        let db2 = db.clone();
        match tokio::task::spawn_blocking(move || reconcile_targets(&db2, "the agent started"))
            .await
        {
            Ok(Ok(Some(id))) => {
                tracing::info!("volumes and targets: reconcile enqueued as job {id}");
                wake.notify();
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::warn!("reconciling the targets failed: {e}"),
            Err(e) => tracing::error!("target reconcile task failed: {e}"),
        }
    }
    // The channel peers connect to; held until the agent stops.
    let _channel = match settings.replication.listen {
        None => None,
        Some(bind) => {
            let (db2, b2) = (db.clone(), backend.clone());
            match tokio::task::spawn_blocking(move || {
                crate::jobs::link::serve::listen(db2, b2, bind)
            })
            .await
            {
                Ok(Ok(l)) => {
                    tracing::info!("the replication channel listens on {}", l.address);
                    Some(l)
                }
                Ok(Err(e)) => {
                    tracing::error!("{e}: peers cannot reach this appliance");
                    None
                }
                Err(e) => {
                    tracing::error!("the replication channel's task failed: {e}");
                    None
                }
            }
        }
    };
    tracing::info!(
        "agent {} started: {} backend, {} job workers, observing every {}s",
        runner.id,
        backend.kind(),
        settings.agent.workers,
        interval.as_secs()
    );
    let replicator = tokio::spawn(schedule_replication(db.clone(), wake.clone(), stop.clone()));
    let keep_audit = chrono::Duration::days(i64::from(settings.security.audit_keep_days));
    let mut audit_pruned: Option<std::time::Instant> = None;
    loop {
        if audit_pruned.is_none_or(|t| t.elapsed() >= Duration::from_secs(3600)) {
            audit_pruned = Some(std::time::Instant::now());
            let db2 = db.clone();
            let db3 = db.clone();
            match tokio::task::spawn_blocking(move || prune_ship_jobs(&db3)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => {
                    tracing::info!("{n} replication transfer jobs older than a day forgotten")
                }
                Ok(Err(e)) => tracing::warn!("forgetting old transfer jobs failed: {e}"),
                Err(e) => tracing::error!("transfer job pruning task failed: {e}"),
            }
            match tokio::task::spawn_blocking(move || prune_audit(&db2, keep_audit)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(
                    "{n} audit entries older than {} days pruned",
                    keep_audit.num_days()
                ),
                Ok(Err(e)) => tracing::warn!("pruning the audit log failed: {e}"),
                Err(e) => tracing::error!("audit pruning task failed: {e}"),
            }
        }
        let (db2, b2, fleet2) = (db.clone(), backend.clone(), fleet.clone());
        let locate_off = Duration::from_secs(settings.agent.locate_off_minutes * 60);
        let stale_after = stale_after(&settings.agent);
        let console_url = settings.console_url.clone();
        let look = move || -> Result<(usize, bool), AppError> {
            let busy = observe_once(&db2, b2.as_ref())?;
            let due = lights::follow(&db2, locate_off)?
                + schedule_scrubs(&db2)?
                + grow_volume_groups(&db2)?
                + heal_sectors(&db2)?;
            evaluate_alerts(&db2, stale_after)?;
            register_appliance(&db2, &fleet2, stale_after, console_url.as_deref())?;
            Ok((due, busy))
        };
        let mut md_busy = false;
        let looked = tokio::task::spawn_blocking(look).await;
        wake.note_change();
        crate::give_back_memory();
        match looked {
            Ok(Ok((n, busy))) => {
                md_busy = busy;
                if n > 0 {
                    tracing::info!(
                        "{n} LED change(s), scrub(s) or pool step(s) due: jobs enqueued"
                    );
                    wake.notify();
                }
            }
            Ok(Err(e)) => tracing::warn!("observation failed: {e}"),
            Err(e) => tracing::error!("observer task failed: {e}"),
        }
        // While md rebuilds, reshapes or scrubs, its progress is read more
        // often, so the pages show it moving.
        let next = if md_busy {
            interval.min(MD_BUSY_INTERVAL)
        } else {
            interval
        };
        tokio::select! {
            _ = tokio::time::sleep(next) => {}
            _ = look_again.notified() => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
    }
    smart_poller.abort();
    replicator.abort();
    // Workers finish the step they are in; an unfinished job keeps its lease
    // until it runs out, then another runner resumes it.
    halt.store(true, Ordering::Relaxed);
    let _ = tokio::task::spawn_blocking(move || {
        for t in threads {
            let _ = t.join();
        }
    })
    .await;
    tracing::info!("agent stopped");
}

/// How old the last observation may be before the agent counts as silent:
/// three of its intervals.
pub fn stale_after(agent: &AgentSettings) -> chrono::Duration {
    crate::domain::alert::stale_after(agent.observe_interval_seconds)
}

/// Applies the alert rules to what the database holds now (one write
/// transaction: the facts, the rules, the alerts kept to match, the
/// notifications they call for planned, and the attempts that are due
/// enqueued as jobs) and logs what changed. The agent runs it after every look; a console runs it on
/// a timer too, so that a silent agent is noticed.
pub fn evaluate_alerts(
    db: &Db,
    stale_after: chrono::Duration,
) -> Result<db::alerts::Changes, AppError> {
    let (changes, sending) = db.get()?.write(|c| -> Result<_, AppError> {
        let now = db::now();
        let changes = db::alerts::evaluate(c, now, stale_after)?;
        // Told once: planned in the transaction that made the change.
        db::notify::plan_changes(c, &changes, now)?;
        let sending = crate::jobs::kinds::enqueue_due_notifications(c, lights::SYSTEM_ACTOR)?;
        Ok((changes, sending))
    })?;
    if sending > 0 {
        tracing::info!("{sending} notification(s) due: jobs enqueued");
    }
    for a in &changes.raised {
        tracing::warn!("alert {} raised ({}): {}", a.id, a.severity, a.summary);
    }
    for a in &changes.escalated {
        tracing::warn!("alert {} now {}: {}", a.id, a.severity, a.summary);
    }
    for a in &changes.cleared {
        tracing::info!("alert {} cleared: {}", a.id, a.summary);
    }
    Ok(changes)
}

/// Records this appliance, with the state its wall shows, in the registry
/// of appliances of its own database and, with `[fleet] database`, of the
/// fleet's, so a wall over either shows every appliance that registers
/// there (and one whose agent stops, as such). Nothing before setup: an
/// appliance is known by its host name. A fleet registry that cannot be
/// reached is said in the log and changes nothing else.
/// How often the agent looks for replication transfers that are due: a
/// volume's interval is 10 s at the least.
const REPLICATION_TICK: Duration = Duration::from_secs(1);

/// Enqueues each replicated volume's transfer when it is due, until the
/// agent stops.
async fn schedule_replication(db: Db, wake: Arc<Wake>, mut stop: watch::Receiver<bool>) {
    loop {
        let db2 = db.clone();
        let due = tokio::task::spawn_blocking(move || {
            db2.get()?
                .write(|c| crate::jobs::kinds::enqueue_due_replications(c, lights::SYSTEM_ACTOR))
        })
        .await;
        match due {
            Ok(Ok(0)) => {}
            Ok(Ok(_)) => wake.notify(),
            Ok(Err(e)) => tracing::warn!("scheduling replication failed: {e}"),
            Err(e) => tracing::error!("replication scheduling task failed: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(REPLICATION_TICK) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
    }
}

pub fn register_appliance(
    db: &Db,
    fleet: &Fleet,
    stale_after: chrono::Duration,
    console_url: Option<&str>,
) -> Result<(), AppError> {
    let me = db.get()?.write(|c| -> Result<_, AppError> {
        let Some(me) = db::appliance::get(c)? else {
            return Ok(None);
        };
        let active = db::alerts::active(c)?;
        let (state, reason) = crate::domain::alert::overall(
            active
                .iter()
                .map(|a| (a.severity(), a.acked_at.is_some(), a.summary.as_str())),
            None,
        );
        let row = db::wall::ApplianceRow {
            id: me.hostname.clone(),
            hostname: me.hostname,
            version: env!("CARGO_PKG_VERSION").to_string(),
            console_url: console_url.map(str::to_string),
            state: state.as_str().to_string(),
            reason,
            stale_after_seconds: stale_after.num_seconds(),
            last_seen_at: db::now(),
        };
        db::wall::register(c, &row)?;
        Ok(Some(row))
    })?;
    if let Some(row) = me.filter(|_| fleet.apart())
        && let Err(why) = fleet.register(&row)
    {
        tracing::warn!("not registered in the fleet: {why}");
    }
    Ok(())
}

/// Enqueues one of the agent's own jobs, audited as the agent with why.
fn enqueue_as_agent(
    c: &mut crate::db::Conn<'_>,
    spec: &crate::jobs::JobSpec,
    why: &str,
) -> Result<(), AppError> {
    crate::jobs::enqueue_audited(c, spec, crate::lights::SYSTEM_ACTOR, None, None, Some(why))?;
    Ok(())
}

/// Enqueues `lio.reconcile` as the agent, with `why`, when there is any
/// volume: it holds every volume's and target's key and every pool's that
/// has volumes, so it runs after those pools' assembly. Returns its id.
pub fn reconcile_targets(db: &Db, why: &str) -> Result<Option<i64>, AppError> {
    let mut conn = db.get()?;
    conn.write(|c| -> Result<Option<i64>, AppError> {
        let Some(spec) = crate::jobs::kinds::reconcile_recorded(c)? else {
            return Ok(None);
        };
        Ok(Some(crate::jobs::enqueue_audited(
            c,
            &spec,
            crate::lights::SYSTEM_ACTOR,
            None,
            None,
            Some(why),
        )?))
    })
}

/// Whether an unfinished job holds (or a half-made change blocks) a pool.
fn pool_busy(c: &mut crate::db::Conn<'_>, name: &str) -> Result<bool, AppError> {
    Ok(crate::db::inventory::resource_busy(
        c,
        &crate::domain::resource::pool(name),
    )?)
}

/// How often the agent looks while md is at work on an array.
const MD_BUSY_INTERVAL: Duration = Duration::from_secs(5);

/// At start: every pool recorded as ready whose array (by its UUID) is not
/// running is assembled by a job, enqueued and audited as the agent with
/// the reason. Nothing is created or wiped. Returns how many.
pub fn reconcile_pools(db: &Db, backend: &dyn Backend) -> Result<usize, AppError> {
    let arrays = match backend.arrays(&mut crate::storage::NoLog) {
        Ok(a) => a,
        Err(BackendError::NotBuilt(_)) => return Ok(0),
        Err(e) => {
            return Err(AppError::Internal(format!(
                "the md arrays cannot be read: {e}"
            )));
        }
    };
    db.get()?.write(|c| -> Result<usize, AppError> {
        let mut enqueued = 0;
        for p in crate::db::pools::list(c)? {
            let Some(uuid) = p.uuid.as_deref().filter(|_| p.lifecycle == "ready") else {
                continue;
            };
            if arrays.iter().any(|a| a.uuid.as_deref() == Some(uuid)) || pool_busy(c, &p.name)? {
                continue;
            }
            let why = format!(
                "at the agent's start, /dev/md/{} (UUID {uuid}) was not running",
                p.name
            );
            enqueue_as_agent(
                c,
                &crate::jobs::kinds::assemble_pool(p.id, &p.name, uuid),
                &why,
            )?;
            enqueued += 1;
        }
        Ok(enqueued)
    })
}

/// After md has grown an array (a reshape or a new mirror ended), its
/// physical volume is grown to match, by a job enqueued as the agent.
/// Returns how many.
pub fn grow_volume_groups(db: &Db) -> Result<usize, AppError> {
    db.get()?.write(|c| -> Result<usize, AppError> {
        let mut enqueued = 0;
        for p in crate::db::pools::list(c)? {
            let (Some(a), Some(vg)) = (p.array(), p.volume_group()) else {
                continue;
            };
            let Some(size) = a.size_bytes else { continue };
            let extent = vg.extent_size_bytes.unwrap_or(4 << 20).max(4 << 20);
            // LVM keeps its metadata and rounds down to whole extents: a
            // physical volume is short of its device by less than this.
            let grown = size.saturating_sub(vg.size_bytes) > 2 * extent + (1 << 20);
            if p.lifecycle != "ready"
                || !grown
                || a.sync_action
                    .is_some_and(|s| !matches!(s, SyncAction::Idle | SyncAction::Frozen))
                || pool_busy(c, &p.name)?
            {
                continue;
            }
            let why = format!(
                "/dev/md/{} is {size} bytes, its volume group {} bytes",
                p.name, vg.size_bytes
            );
            enqueue_as_agent(c, &crate::jobs::kinds::resize(p.id, &p.name), &why)?;
            enqueued += 1;
        }
        Ok(enqueued)
    })
}

/// Unreadable sectors healed from redundancy: for each active member of
/// a clean pool whose newest self-test failed at a sector, or the kernel
/// logged a medium error at one, a repair of just that sector's stripes
/// (`pool.heal`), once per sector. A sector healed before that the kernel
/// names again is recorded as come back, and the drive is offered for
/// replacement instead ([`crate::db::heals::verdict`]). Returns how many
/// heals were enqueued.
pub fn heal_sectors(db: &Db) -> Result<usize, AppError> {
    use crate::db::heals;
    use crate::domain::pool::MemberRole;
    let now = db::now();
    db.get()?.write(|c| -> Result<usize, AppError> {
        let mut enqueued = 0;
        for p in crate::db::pools::list(c)? {
            let Some(array) = p.array().filter(|a| a.is_clean()) else {
                continue;
            };
            if p.lifecycle != "ready" || pool_busy(c, &p.name)? {
                continue;
            }
            for (m, d) in crate::db::pools::members(c, &[p.id])? {
                let active = d
                    .dev_name
                    .as_deref()
                    .and_then(|dev| array.member(dev))
                    .is_some_and(|am| am.role == MemberRole::Active);
                // A drive whose newest self-test failed is no longer
                // healthy, and the kernel's errors are counted: any other
                // names no sector, and its readings are not read (this runs
                // at every look).
                let named_any = d.health != Health::Healthy.as_str() || d.medium_errors > 0;
                if m.role != "member" || !active || !d.present || !named_any {
                    continue;
                }
                let done = heals::of_drive(c, d.id)?;
                if heals::verdict(&done).is_some() {
                    continue;
                }
                let mut named: Vec<(u64, &str, Option<chrono::NaiveDateTime>)> = Vec::new();
                if let Some(t) = db_smart::last_smart(c, d.id)?
                    .and_then(|s| s.self_tests.into_iter().find(|t| !t.aborted))
                    .filter(|t| t.failed)
                    && let Some(lba) = t.lba
                {
                    named.push((lba, "self-test", None));
                }
                if d.medium_errors > 0
                    && let Some(sector) = d.last_io_error.as_deref().and_then(heals::sector_in)
                {
                    named.push((sector, "kernel", d.last_io_error_at));
                }
                for (lba, source, at) in named {
                    let lba_i = i64::try_from(lba).unwrap_or(i64::MAX);
                    let before: Vec<&heals::HealRow> =
                        done.iter().filter(|h| h.lba == lba_i).collect();
                    if before.is_empty() {
                        let payload = crate::jobs::kinds::PoolHealPayload {
                            pool_id: p.id,
                            name: p.name.clone(),
                            drive: d.drive_ref(),
                            drive_id: d.id,
                            lba,
                            source: source.into(),
                        };
                        let why = format!("the drive's {source} named sector {lba} unreadable");
                        enqueue_as_agent(c, &crate::jobs::kinds::heal(payload), &why)?;
                        enqueued += 1;
                        break;
                    }
                    let came_back = before.iter().any(|h| {
                        h.healed == Some(true)
                            && matches!((at, h.finished_at), (Some(at), Some(f)) if at > f)
                    });
                    if came_back {
                        heals::came_back(c, d.id, p.id, lba_i, source, now)?;
                    }
                }
            }
        }
        Ok(enqueued)
    })
}

/// The agent's scrub schedule: each ready pool is checked every
/// `scrub_every_days` days (30 unless changed), counted from its last
/// scrub or from when it was made, by a job like any other, enqueued and
/// audited as the agent. Never while the pool is not clean (degraded,
/// rebuilding, reshaping, already checking), nor while a job holds it: it
/// is due again at the next look. Returns how many were enqueued.
pub fn schedule_scrubs(db: &Db) -> Result<usize, AppError> {
    let now = db::now();
    db.get()?.write(|c| -> Result<usize, AppError> {
        let last = crate::db::pools::last_scrubs(c)?;
        let mut enqueued = 0;
        for p in crate::db::pools::list(c)? {
            if p.lifecycle != "ready" || p.scrub_every_days <= 0 {
                continue;
            }
            let from = last.get(&p.id).map_or(p.created_at, |s| s.started_at);
            let due = from + chrono::Duration::days(i64::from(p.scrub_every_days));
            let clean =
                p.array().and_then(|a| a.state) == Some(crate::domain::pool::ArrayState::Clean);
            if due > now || !clean || pool_busy(c, &p.name)? {
                continue;
            }
            let why = format!("due every {} day(s)", p.scrub_every_days);
            enqueue_as_agent(c, &crate::jobs::kinds::scrub(p.id, &p.name, false), &why)?;
            enqueued += 1;
        }
        Ok(enqueued)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(present: &[i64], unread: &[i64]) -> smart::PollReport {
        smart::PollReport {
            present: present.to_vec(),
            unread: unread.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn newcomers_are_read_once_and_a_failed_reading_once_more() {
        let mut n = Newcomers::default();
        assert_eq!(n.known(false), None, "no round yet: read them all");
        n.read(&report(&[1, 2, 3], &[3]));
        assert_eq!(
            n.known(false),
            Some(HashSet::from([1, 2])),
            "3 failed: again"
        );
        n.read(&report(&[1, 2, 3, 4], &[3]));
        assert_eq!(
            n.known(false),
            Some(HashSet::from([1, 2, 3, 4])),
            "3 failed twice: left for the round; 4 read"
        );
        n.read(&report(&[1, 2, 4], &[]));
        assert_eq!(n.known(false), Some(HashSet::from([1, 2, 4])), "3 gone");
        assert_eq!(n.known(true), None, "a round reads them all");
        n.read(&report(&[1, 2, 3], &[3]));
        assert_eq!(
            n.known(false),
            Some(HashSet::from([1, 2])),
            "after a round a failure is tried once more again"
        );
    }
}

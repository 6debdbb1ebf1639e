//! The agent: the only part of Baystack that touches the system. It runs
//! the job runner (worker threads claiming jobs in order) and the observer,
//! which records what the storage backend sees, every interval and after
//! every job.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::config::{AgentSettings, Settings};
use crate::db::{self, Db, inventory};
use crate::error::AppError;
use crate::jobs::runner::{Runner, Wake};
use crate::storage::{Backend, BackendError};
use crate::{lights, smart};

/// One observation pass: ask the backend, store what it says (or why it
/// could not say anything) in one transaction.
pub fn observe_once(db: &Db, backend: &dyn Backend) -> Result<(), AppError> {
    let kind = backend.kind().as_str();
    let seen = backend.inventory();
    let mut conn = db.get()?;
    conn.write(|c| -> Result<(), AppError> {
        let now = db::now();
        match &seen {
            Ok(inv) => inventory::store(c, inv, kind, now)?,
            Err(e) => inventory::record_observation(c, kind, Some(&e.to_string()), now)?,
        }
        Ok(())
    })?;
    match seen {
        Ok(_) => {}
        Err(BackendError::NotBuilt(msg)) => tracing::debug!("observer: {msg}"),
        Err(e) => tracing::warn!("observer: {e}"),
    }
    match count_logged_errors(db, backend) {
        Ok(0) => {}
        Ok(n) => tracing::warn!("the kernel logged {n} I/O error(s) on drives since the last look"),
        // Said once: it stays so until someone gives the agent the right.
        Err(e) if KERNEL_LOG_WARNED.swap(true, Ordering::Relaxed) => {
            tracing::debug!("observer: {e}")
        }
        Err(e) => tracing::warn!("observer: {e}; I/O errors on drives are not counted"),
    }
    Ok(())
}

static KERNEL_LOG_WARNED: AtomicBool = AtomicBool::new(false);

/// Counts the I/O errors the kernel logged on drives since the last look
/// (after the inventory, so drives carry their current kernel names).
fn count_logged_errors(db: &Db, backend: &dyn Backend) -> Result<usize, AppError> {
    let host = crate::jobs::runner::host_name();
    let from = inventory::kernel_log_cursor(&mut db.get()?.conn(), &host)?;
    let Some((cursor, errors)) = backend
        .kernel_io_errors(from.as_ref())
        .map_err(|e| AppError::Unavailable(e.to_string()))?
    else {
        return Ok(0);
    };
    Ok(db
        .get()?
        .write(|c| inventory::count_kernel_io_errors(c, &host, from.as_ref(), &cursor, &errors))?)
}

/// Reads every drive's SMART every `smart_interval_minutes`, starting a
/// little after the agent does (the first observation has recorded the
/// drives by then), and then enqueues the self-tests that are due.
async fn poll_smart(
    db: Db,
    backend: Arc<dyn Backend>,
    agent: AgentSettings,
    wake: Arc<Wake>,
    mut stop: watch::Receiver<bool>,
) {
    let interval = Duration::from_secs(agent.smart_interval_minutes * 60);
    let concurrency = agent.smart_concurrency as usize;
    let mut wait = Duration::from_secs(5);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        wait = interval;
        let (db, backend) = (db.clone(), backend.clone());
        let (short_days, long_days) = (agent.short_self_test_days, agent.long_self_test_days);
        match tokio::task::spawn_blocking(move || {
            let report = smart::poll_once(&db, backend.as_ref(), concurrency)?;
            let tests = smart::schedule_self_tests(&db, short_days, long_days)?;
            Ok::<_, AppError>((report, tests))
        })
        .await
        {
            Ok(Ok((report, tests))) => {
                tracing::info!(
                    "SMART read for {} drive(s) in {} ms",
                    report.drives,
                    report.took.as_millis()
                );
                for (drive, why) in report.failed {
                    tracing::warn!("SMART of {drive}: {why}");
                }
                if tests > 0 {
                    tracing::info!("{tests} SMART self-test(s) due: jobs enqueued");
                    wake.notify();
                }
            }
            Ok(Err(e)) => tracing::warn!("SMART poll failed: {e}"),
            Err(e) => tracing::error!("SMART poll task failed: {e}"),
        }
    }
}

/// Runs the runner and the observer until `stop` turns true.
pub async fn run(
    db: Db,
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
        settings.runner(),
        wake.clone(),
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
    tracing::info!(
        "agent {} started: {} backend, {} job workers, observing every {}s",
        runner.id,
        backend.kind(),
        settings.agent.workers,
        interval.as_secs()
    );
    loop {
        let (db2, b2) = (db.clone(), backend.clone());
        let locate_off = Duration::from_secs(settings.agent.locate_off_minutes * 60);
        let look = move || -> Result<usize, AppError> {
            observe_once(&db2, b2.as_ref())?;
            lights::follow(&db2, locate_off)
        };
        match tokio::task::spawn_blocking(look).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => {
                tracing::info!("{n} bay LED(s) to change: jobs enqueued");
                wake.notify();
            }
            Ok(Err(e)) => tracing::warn!("observation failed: {e}"),
            Err(e) => tracing::error!("observer task failed: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = look_again.notified() => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
    }
    smart_poller.abort();
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

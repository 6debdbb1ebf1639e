//! The agent: the only part of Baystack that touches the system. For now it
//! is the observer, which records what the storage backend sees; the job
//! runner joins it with the job queue.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::db::{self, Db, inventory};
use crate::error::AppError;
use crate::storage::{Backend, BackendError};

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
        Ok(_) => Ok(()),
        Err(BackendError::NotBuilt(msg)) => {
            tracing::debug!("observer: {msg}");
            Ok(())
        }
        Err(BackendError::Failed(msg)) => {
            tracing::warn!("observer: {msg}");
            Ok(())
        }
    }
}

/// Observes now and then every `interval` until `stop` turns true.
pub async fn run(
    db: Db,
    backend: Arc<dyn Backend>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    tracing::info!(
        "agent started: {} backend, observing every {}s",
        backend.kind(),
        interval.as_secs()
    );
    loop {
        let (db2, b2) = (db.clone(), backend.clone());
        match tokio::task::spawn_blocking(move || observe_once(&db2, b2.as_ref())).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("observation failed: {e}"),
            Err(e) => tracing::error!("observer task failed: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
    }
    tracing::info!("agent stopped");
}

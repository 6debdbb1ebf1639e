//! Wakes the runner's idle workers when a job is enqueued in this process;
//! the web holds one and notifies it, without knowing the runner. It also
//! counts what this process changed (requests that may change something,
//! jobs run, the agent's looks), so the web draws its pages again at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Wakes idle workers when a job is enqueued in this process.
#[derive(Default)]
pub struct Wake {
    generation: Mutex<u64>,
    cond: Condvar,
    changes: AtomicU64,
}

impl Wake {
    /// Something this process did may have changed what the pages show.
    pub fn note_change(&self) {
        self.changes.fetch_add(1, Ordering::AcqRel);
    }

    /// How many changes [`Wake::note_change`] was told of.
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    pub fn notify(&self) {
        *self.generation.lock().expect("wake lock") += 1;
        self.cond.notify_all();
    }

    pub(super) fn wait(&self, seen: u64, timeout: Duration) -> u64 {
        let guard = self.generation.lock().expect("wake lock");
        let (guard, _) = self
            .cond
            .wait_timeout_while(guard, timeout, |g| *g == seen)
            .expect("wake lock");
        *guard
    }

    pub(super) fn current(&self) -> u64 {
        *self.generation.lock().expect("wake lock")
    }
}

//! Wakes the runner's idle workers when a job is enqueued in this process;
//! the web holds one and notifies it, without knowing the runner.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Wakes idle workers when a job is enqueued in this process.
#[derive(Default)]
pub struct Wake {
    generation: Mutex<u64>,
    cond: Condvar,
}

impl Wake {
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

//! Time as a parameter: the engines and the agent's policies ask a
//! [`Clock`] for the time instead of reading the wall clock deep in the
//! code, so a test moves time on instead of sleeping (kanidm's habit).

use std::sync::{Arc, Mutex};

use chrono::{NaiveDateTime, SubsecRound, Utc};

/// Where the time comes from.
pub trait Clock: Send + Sync {
    /// Now, as naive UTC to the microsecond (as the database stores it).
    fn now(&self) -> NaiveDateTime;

    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64 {
        u64::try_from(self.now().and_utc().timestamp_millis()).unwrap_or(0)
    }
}

/// The machine's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> NaiveDateTime {
        Utc::now().naive_utc().trunc_subsecs(6)
    }
}

/// A clock that moves only when told to; clones share one time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<NaiveDateTime>>);

impl ManualClock {
    /// Starts at the wall clock's now.
    pub fn new() -> Self {
        ManualClock::at(SystemClock.now())
    }

    pub fn at(t: NaiveDateTime) -> Self {
        ManualClock(Arc::new(Mutex::new(t)))
    }

    /// Moves the time on by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        let mut t = self.0.lock().expect("clock");
        *t += chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> NaiveDateTime {
        *self.0.lock().expect("clock")
    }
}

/// The wall clock, shared.
pub fn system() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

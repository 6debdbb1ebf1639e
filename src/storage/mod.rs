//! The storage domain and the one trait both engines implement. The web layer
//! never sees an engine; the agent drives it and records what it observes.

pub mod cmd;
pub mod linux;
pub mod sim;

use crate::config::BackendKind;
use crate::domain::{BayAddr, Inventory, KernelLog, Led, SelfTestKind, Smart};

/// What went wrong in an engine, by kind: whether anything was changed
/// decides whether a job that hit it leaves its resource blocked.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The job this work belongs to is no longer ours (its lease was lost,
    /// or a stop was asked for): stop at once, change nothing more.
    #[error("{0}")]
    Stopped(String),
    /// The capability exists in the design but is not built for this engine
    /// yet; the message says which. Nothing was changed.
    #[error("{0}")]
    NotBuilt(String),
    /// Something else holds what the change needs (a device in use, a
    /// lock): nothing was changed; it may work later.
    #[error("{0}")]
    Busy(String),
    /// What the change is for is not there (a drive pulled, an array
    /// stopped): nothing was changed.
    #[error("{0}")]
    Gone(String),
    /// The change was refused as asked (a tool said no before doing
    /// anything): nothing was changed.
    #[error("{0}")]
    Refused(String),
    /// The change failed, possibly part-way: the system may be changed.
    #[error("{0}")]
    Failed(String),
}

impl BackendError {
    /// Whether the failure left the system as it was.
    pub fn changed_nothing(&self) -> bool {
        !matches!(self, BackendError::Failed(_))
    }
}

/// Where a backend reports each command it ran; in a job, the job's log.
pub trait CommandLog {
    /// Records one finished command. An error means the job is no longer
    /// ours: the backend must stop.
    fn record(&mut self, out: &cmd::CommandOutput) -> Result<(), BackendError>;
}

/// A log that keeps nothing, for work outside a job (observation).
pub struct NoLog;

impl CommandLog for NoLog {
    fn record(&mut self, _out: &cmd::CommandOutput) -> Result<(), BackendError> {
        Ok(())
    }
}

/// A storage engine: one trait per subsystem (drives, enclosures; arrays,
/// volumes, targets and replication as they are built), as stratisd splits
/// engine, pool and filesystem. Methods block; the agent calls them off
/// the async executor. Changing methods are called only by jobs, and are
/// idempotent: asked to make something so that already is, they say so and
/// succeed.
pub trait Backend: Drives + Enclosures + Send + Sync {
    fn kind(&self) -> BackendKind;

    /// Enclosures, bays and drives with their SMART data as they are now.
    fn inventory(&self) -> Result<Inventory, BackendError>;
}

/// Drives: SMART, self-tests, and the kernel's log of their I/O errors.
pub trait Drives {
    /// Reads one drive's SMART data now (the SMART poller calls this on its
    /// schedule, a few drives at a time, and a job when an operator asks;
    /// never a page). The command it runs goes into `log`.
    fn read_smart(
        &self,
        ident: &str,
        dev_name: Option<&str>,
        log: &mut dyn CommandLog,
    ) -> Result<Smart, BackendError>;

    /// Starts a SMART self-test on a drive; it runs inside the drive, and
    /// its result shows in the drive's self-test log. Returns what it did.
    fn start_self_test(
        &self,
        ident: &str,
        dev_name: Option<&str>,
        kind: SelfTestKind,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError>;

    /// Aborts the self-test running on a drive; the drive's self-test log
    /// then says it was aborted by the host. Returns what it did.
    fn abort_self_test(
        &self,
        ident: &str,
        dev_name: Option<&str>,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError>;

    /// The id of the running boot of the kernel whose log
    /// [`Backend::kernel_io_errors`] reads; `None` for a backend with no
    /// kernel log of its own (the simulator).
    fn boot_id(&self) -> Result<Option<String>, BackendError> {
        Ok(None)
    }

    /// The I/O errors the kernel of boot `boot` has logged against disks
    /// from record `from` on. Fails if that boot is no longer running.
    fn kernel_io_errors(&self, boot: &str, from: u64) -> Result<KernelLog, BackendError> {
        let _ = from;
        Err(BackendError::Failed(format!(
            "there is no kernel log of boot {boot} here"
        )))
    }
}

/// Enclosures: where a drive sits, and the bays' LEDs.
pub trait Enclosures {
    /// The bay a drive sits in now, asked of the system itself rather than
    /// of the last observation: its enclosure's ident and slot. Fails, saying
    /// what was looked at, when no enclosure holds the drive.
    fn drive_bay(&self, ident: &str, log: &mut dyn CommandLog) -> Result<BayAddr, BackendError>;

    /// Turns one of a bay's LEDs on or off. Returns what it did in words.
    fn set_led(
        &self,
        bay: &BayAddr,
        led: Led,
        on: bool,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError>;
}

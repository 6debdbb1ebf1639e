//! The storage domain and the one trait both engines implement. The web layer
//! never sees an engine; the agent drives it and records what it observes.

pub mod cmd;
pub mod health;
pub mod linux;
pub mod sim;

use serde::{Deserialize, Serialize};

use crate::config::{BackendKind, Settings};

/// How a drive is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Sata,
    Sas,
    Nvme,
    Virtio,
    Other,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Sata => "sata",
            Transport::Sas => "sas",
            Transport::Nvme => "nvme",
            Transport::Virtio => "virtio",
            Transport::Other => "other",
        }
    }
}

/// One SMART attribute as an ATA drive reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmartAttribute {
    pub id: u8,
    pub name: String,
    pub value: u8,
    pub worst: u8,
    pub thresh: u8,
    pub raw: u64,
    /// A pre-failure attribute: at or below its threshold, the drive is
    /// failing.
    pub prefail: bool,
}

/// An error count a SAS or NVMe drive keeps, which stays at zero on a sound
/// drive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    /// Stable key, for history: `scsi.grown_defects`, `nvme.media_errors`.
    pub key: String,
    /// In words: "grown defects".
    pub label: String,
    pub value: u64,
}

/// A SMART self-test the drive runs on itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SelfTestKind {
    /// A minute or two: electrical and mechanical checks and a read of
    /// part of the surface.
    Short,
    /// Hours: a read of the whole surface.
    Long,
}

impl SelfTestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SelfTestKind::Short => "short",
            SelfTestKind::Long => "long",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "short" => Some(SelfTestKind::Short),
            "long" => Some(SelfTestKind::Long),
            _ => None,
        }
    }

    /// How long a test of this kind takes on a drive that does not say:
    /// a short test is over within two minutes (ATA, SCSI and NVMe all
    /// say so); a long one takes what the drive says, or is not guessed.
    pub fn default_minutes(self) -> Option<u32> {
        match self {
            SelfTestKind::Short => Some(2),
            SelfTestKind::Long => None,
        }
    }
}

/// One entry of a drive's self-test log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelfTest {
    /// As the drive names it: "Short offline", "Extended offline",
    /// "Background short", "Short".
    pub kind: String,
    /// As the drive words it: "Completed without error", "Completed: read
    /// failure", "Aborted by host".
    pub result: String,
    /// The test found a fault.
    pub failed: bool,
    /// The test did not finish (aborted by the host, interrupted by a
    /// reset): it says nothing of the drive either way.
    #[serde(default)]
    pub aborted: bool,
    /// The drive's power-on hours when it ended.
    pub hours: Option<i64>,
    /// The first failing block, where the drive says.
    pub lba: Option<u64>,
}

/// What a drive's SMART says, or why there is nothing to say.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Smart {
    /// `None` when SMART could be read; otherwise the reason in words.
    pub unavailable: Option<String>,
    /// The drive's own overall health self-assessment.
    pub passed: Option<bool>,
    /// What the drive said with it, where it says more than passed or
    /// failed: a SCSI drive's informational exception ("FAILURE PREDICTION
    /// THRESHOLD EXCEEDED", with its sense code).
    #[serde(default)]
    pub health_report: Option<String>,
    pub temperature_c: Option<i32>,
    /// The highest temperature the drive is rated to run at, where it says.
    #[serde(default)]
    pub temperature_limit_c: Option<i32>,
    pub power_on_hours: Option<i64>,
    /// Wear of an SSD (NVMe, SAS), in percent of its rated endurance.
    #[serde(default)]
    pub percentage_used: Option<u8>,
    /// NVMe critical warning bits; 0 when all is well.
    #[serde(default)]
    pub critical_warning: Option<u64>,
    /// ATA attributes.
    pub attributes: Vec<SmartAttribute>,
    /// SAS and NVMe error counters.
    #[serde(default)]
    pub counters: Vec<Counter>,
    /// A self-test running now, in words with its progress.
    #[serde(default)]
    pub self_test_running: Option<String>,
    /// Which kind of test is running, where the drive says.
    #[serde(default)]
    pub self_test_running_kind: Option<SelfTestKind>,
    /// How much of the running test is left, in percent, where the drive
    /// says (an ATA drive counts in tens).
    #[serde(default)]
    pub self_test_remaining_percent: Option<u8>,
    /// How long the drive says its short and long self-tests take, in
    /// minutes (ATA: the polling times; SCSI: the extended test's
    /// duration); `None` where it does not say.
    #[serde(default)]
    pub short_test_minutes: Option<u32>,
    #[serde(default)]
    pub long_test_minutes: Option<u32>,
    /// The drive's self-test log, newest first.
    #[serde(default)]
    pub self_tests: Vec<SelfTest>,
}

impl Smart {
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Smart {
            unavailable: Some(reason.into()),
            ..Smart::default()
        }
    }

    /// How long a `kind` self-test takes on this drive, in minutes: what
    /// the drive says, else [`SelfTestKind::default_minutes`].
    pub fn test_minutes(&self, kind: SelfTestKind) -> Option<u32> {
        match kind {
            SelfTestKind::Short => self.short_test_minutes,
            SelfTestKind::Long => self.long_test_minutes,
        }
        .or_else(|| kind.default_minutes())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drive {
    /// Stable identity: `wwn:<WWN>` where the drive has one, else
    /// `serial:<SERIAL>`. The same drive seen through two paths is one.
    pub ident: String,
    pub serial: String,
    pub wwn: Option<String>,
    pub vendor: String,
    pub model: String,
    pub size_bytes: u64,
    pub rotational: bool,
    pub transport: Transport,
    /// `sda`, `nvme0n1`: changes across boots, shown for orientation only.
    pub dev_name: Option<String>,
    /// The stable `/dev/disk/by-id` name.
    pub by_id: Option<String>,
    /// SMART as this pass saw it; `None` where SMART is read on its own
    /// schedule ([`Backend::read_smart`]) instead of with the inventory.
    pub smart: Option<Smart>,
}

impl Drive {
    pub fn ident_for(wwn: Option<&str>, serial: &str) -> String {
        match wwn {
            Some(w) => format!("wwn:{w}"),
            None => format!("serial:{serial}"),
        }
    }
}

/// The LEDs of a bay an operator can set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Led {
    /// Identify: "this is the bay", usually blinking.
    Locate,
    /// Fault: "the drive in this bay needs replacing".
    Fault,
}

impl Led {
    pub fn as_str(self) -> &'static str {
        match self {
            Led::Locate => "locate",
            Led::Fault => "fault",
        }
    }

    /// The LED in words, for job titles and messages.
    pub fn words(self) -> &'static str {
        match self {
            Led::Locate => "identify LED",
            Led::Fault => "fault LED",
        }
    }
}

/// A bay (slot) in an enclosure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    pub slot: u32,
    pub label: String,
    /// The element status the enclosure reports ("OK", "Not installed", …).
    pub status: String,
    /// The `ident` of the drive in this bay, if any.
    pub drive: Option<String>,
    pub locate: bool,
    pub fault: bool,
}

impl Slot {
    pub fn led(&self, led: Led) -> bool {
        match led {
            Led::Locate => self.locate,
            Led::Fault => self.fault,
        }
    }
}

/// How the console reads an enclosure's bays and sets its LEDs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnclosureMethod {
    /// The kernel's `ses` driver: `/sys/class/enclosure`.
    #[default]
    Sysfs,
    /// `sg_ses` talking SES to the enclosure's generic SCSI node, where the
    /// kernel gives no usable bay data.
    SgSes,
    /// The simulator.
    Sim,
}

impl EnclosureMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            EnclosureMethod::Sysfs => "sysfs",
            EnclosureMethod::SgSes => "sg_ses",
            EnclosureMethod::Sim => "sim",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enclosure {
    /// The enclosure's logical identifier (its SAS address).
    pub ident: String,
    pub vendor: String,
    pub product: String,
    pub label: String,
    #[serde(default)]
    pub method: EnclosureMethod,
    /// What the console could not read of this enclosure, in words (`None`
    /// when all is well).
    #[serde(default)]
    pub note: Option<String>,
    pub slots: Vec<Slot>,
    /// Everything else the enclosure reports on: power supplies, fans,
    /// temperature sensors, ... in the enclosure's own order; `None` when
    /// they could not be read this time (the last reading stands: a failed
    /// power supply does not vanish because one read timed out).
    #[serde(default)]
    pub elements: Option<Vec<Element>>,
}

/// One of an enclosure's other elements, as its status page reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Element {
    /// The SES element type in sg3_utils' words: "Power supply", "Cooling",
    /// "Temperature sensor", ...
    pub kind: String,
    /// The enclosure's descriptor for it, or where it gives none, its type
    /// and index ("Power supply 0").
    pub name: String,
    /// In the kernel's words: "OK", "critical", "non-critical",
    /// "unrecoverable", "not installed", ...
    pub status: String,
    /// What it reads and which of its failure bits are set: "68 C, OT
    /// failure", "0 rpm, Fail", "AC fail"; empty when nothing to say.
    pub detail: String,
}

impl Element {
    /// Whether the enclosure reports this element in trouble.
    pub fn trouble(&self) -> bool {
        matches!(
            self.status.as_str(),
            "critical" | "non-critical" | "unrecoverable"
        )
    }
}

/// An I/O error the kernel logged against a disk.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelIoError {
    /// The log record's sequence number in its boot.
    pub seq: u64,
    pub at: chrono::NaiveDateTime,
    /// The disk's kernel name when it was logged.
    pub dev: String,
    /// An unreadable or unwritable sector on the medium itself, rather than
    /// a timeout or a transport failure.
    pub medium: bool,
    /// A disk was attached under this name after the log was last read and
    /// before the error: the error is that disk's, not the one that had
    /// the name then.
    pub attached_since: bool,
    /// The kernel's line, verbatim.
    pub line: String,
}

/// What one reading of the kernel's log found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KernelLog {
    /// The sequence number of the first record not read yet.
    pub next: u64,
    /// Records overwritten before they could be read (the log wrapped).
    pub lost: u64,
    pub errors: Vec<KernelIoError>,
}

/// Everything an observation pass sees.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    pub enclosures: Vec<Enclosure>,
    pub drives: Vec<Drive>,
}

impl Enclosure {
    /// The slot holding the drive `ident`, if one does.
    pub fn slot_holding(&self, ident: &str) -> Option<&Slot> {
        self.slots
            .iter()
            .find(|s| s.drive.as_deref() == Some(ident))
    }
}

impl Inventory {
    /// The enclosure and slot holding the drive `ident`, if one does.
    pub fn bay_of(&self, ident: &str) -> Option<(&Enclosure, &Slot)> {
        self.enclosures
            .iter()
            .find_map(|e| e.slot_holding(ident).map(|s| (e, s)))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The job this work belongs to is no longer ours (its lease was lost,
    /// or a stop was asked for): stop at once, change nothing more.
    #[error("{0}")]
    Stopped(String),
    /// The capability exists in the design but is not built for this engine
    /// yet; the message says which.
    #[error("{0}")]
    NotBuilt(String),
    #[error("{0}")]
    Failed(String),
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

/// A storage engine. Methods block; the agent calls them off the async
/// executor. Changing methods are called only by jobs, and are idempotent:
/// asked to make something so that already is, they say so and succeed.
pub trait Backend: Send + Sync {
    fn kind(&self) -> BackendKind;

    /// Enclosures, bays and drives with their SMART data as they are now.
    fn inventory(&self) -> Result<Inventory, BackendError>;

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

    /// The bay a drive sits in now, asked of the system itself rather than
    /// of the last observation: its enclosure's ident and slot. Fails, saying
    /// what was looked at, when no enclosure holds the drive.
    fn drive_bay(
        &self,
        ident: &str,
        _log: &mut dyn CommandLog,
    ) -> Result<(String, u32), BackendError> {
        let inv = self.inventory()?;
        inv.bay_of(ident)
            .map(|(e, s)| (e.ident.clone(), s.slot))
            .ok_or_else(|| BackendError::Failed(format!("no enclosure holds the drive {ident}")))
    }

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

    /// Turns one of a bay's LEDs on or off. Returns what it did in words.
    fn set_led(
        &self,
        enclosure: &str,
        slot: u32,
        led: Led,
        on: bool,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError>;
}

/// Opens the engine the settings name.
pub fn open(settings: &Settings) -> Result<Box<dyn Backend>, BackendError> {
    match settings.backend {
        BackendKind::Sim => Ok(Box::new(sim::SimBackend::open(
            &settings.data_dir,
            &settings.sim,
        )?)),
        BackendKind::Linux => Ok(Box::new(linux::LinuxBackend::new(&settings.linux))),
    }
}

//! A drive as the console knows it: how it is attached, what its SMART
//! says, its self-tests, and the I/O errors the kernel logged against it.

use serde::{Deserialize, Serialize};

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
    /// What is written on the drive that a new pool would destroy: a
    /// partition table, a filesystem, an md or LVM signature ("gpt
    /// partition table", "linux_raid_member on sdb"); empty for a blank
    /// drive.
    #[serde(default)]
    pub signatures: Vec<String>,
}

impl Drive {
    pub fn ident_for(wwn: Option<&str>, serial: &str) -> String {
        match wwn {
            Some(w) => format!("wwn:{w}"),
            None => format!("serial:{serial}"),
        }
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

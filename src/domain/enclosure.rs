//! Enclosures, their bays and LEDs, and what one observation sees.

use serde::{Deserialize, Serialize};

use super::drive::Drive;

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

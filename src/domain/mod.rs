//! The nouns every layer shares: drives, enclosures and their bays, the
//! health verdict, and the keys jobs lock. Nothing here reads a table, runs
//! a command or knows a page; `web`, `jobs`, `db`, `storage` and the agent
//! all import from here, and this module imports none of them.

pub mod alert;
pub mod clock;
pub mod drive;
pub mod enclosure;
pub mod health;
pub mod notify;
pub mod peer;
pub mod pool;
pub mod replica;
pub mod resource;
pub mod target;
pub mod volume;

pub use drive::*;
pub use enclosure::*;

use serde::{Deserialize, Serialize};

/// A bay: its enclosure's identifier and its slot number. The one way a
/// bay is named between the layers (a job's payload, the lights policy, a
/// page's link).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BayAddr {
    pub enclosure: String,
    pub slot: u32,
}

impl BayAddr {
    pub fn new(enclosure: impl Into<String>, slot: u32) -> Self {
        BayAddr {
            enclosure: enclosure.into(),
            slot,
        }
    }

    /// A bay as a table stores it (SQL has no unsigned integers). A slot
    /// number below zero cannot come from an enclosure; it reads as 0.
    pub fn from_row(enclosure: impl Into<String>, slot: i32) -> Self {
        BayAddr::new(enclosure, u32::try_from(slot).unwrap_or(0))
    }

    /// The slot as a table stores it. Enclosures number slots in a byte or
    /// two; one beyond `i32` cannot be stored, and reads as `i32::MAX`.
    pub fn row_slot(&self) -> i32 {
        slot_row(self.slot)
    }

    /// The key jobs on this bay lock.
    pub fn resource(&self) -> String {
        resource::bay(&self.enclosure, self.slot)
    }
}

/// A slot number as a table stores it (see [`BayAddr::row_slot`]).
pub fn slot_row(slot: u32) -> i32 {
    i32::try_from(slot).unwrap_or(i32::MAX)
}

impl std::fmt::Display for BayAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "slot {} of {}", self.slot, self.enclosure)
    }
}

/// `bytes` in lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

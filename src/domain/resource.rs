//! The keys a job locks. Jobs holding the same key run one at a time, in
//! the order they were asked for; the queue knows nothing else of them.

/// A bay: `bay:<enclosure>:<slot>`.
pub fn bay(enclosure: &str, slot: u32) -> String {
    format!("bay:{enclosure}:{slot}")
}

/// A drive, wherever it sits: `drive:<ident>`.
pub fn drive(ident: &str) -> String {
    format!("drive:{ident}")
}

/// A pool: `pool:<name>`.
pub fn pool(name: &str) -> String {
    format!("pool:{name}")
}

/// A volume: `volume:<name>`.
pub fn volume(name: &str) -> String {
    format!("volume:{name}")
}

/// A volume's target: `target:<volume>`.
pub fn target(volume: &str) -> String {
    format!("target:{volume}")
}

/// A peer appliance, for jobs that pair with, talk to or forget it:
/// `peer:<name>`.
pub fn peer(name: &str) -> String {
    format!("peer:{name}")
}

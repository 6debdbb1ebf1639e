//! Volumes: logical volumes in a pool's volume group, each exported through
//! a Baystack-owned device-mapper linear device, and their snapshots.
//!
//! Plain data and the names that tie the layers together; no I/O.

use serde::{Deserialize, Serialize};

/// The thin pool Baystack makes in a pool's volume group for its thin
/// volumes, on first use. A volume's name has no `_`, so no volume can be
/// called this.
pub const THIN_POOL: &str = "baystack_thin";

/// The device-mapper name of a volume's front device: `baystack-<volume>`,
/// at `/dev/mapper/baystack-<volume>`. LVM's own device names are
/// `<vg>-<lv>`, so the pool name `baystack` is refused (see
/// [`crate::naming::validate_pool_name`]) and no LVM device can take it.
pub fn front_name(volume: &str) -> String {
    format!("baystack-{volume}")
}

/// A snapshot's logical volume: `<volume>.<snapshot>`. Neither name has a
/// `.`, so it cannot be taken by a volume or by another volume's snapshot.
pub fn snapshot_lv(volume: &str, snapshot: &str) -> String {
    format!("{volume}.{snapshot}")
}

/// What a thin pool's metadata volume is given: a thousandth of the pool,
/// rounded up to 4 MiB, at least 8 MiB and at most LVM's limit of
/// 15.81 GiB (16 GiB less LVM's own margin). With 64 KiB chunks, a
/// mapping costs about 64 bytes: a thousandth covers a pool written
/// through, snapshots included, with room over.
pub fn thin_metadata_bytes(pool_bytes: u64) -> u64 {
    const MIB: u64 = 1 << 20;
    const MAX: u64 = 16_192 * MIB;
    let wanted = pool_bytes.div_ceil(1000).div_ceil(4 * MIB) * 4 * MIB;
    wanted.clamp(8 * MIB, MAX)
}

/// What a new thin pool is given of its volume group's free space when the
/// first thin volume is made: half, so thick volumes keep room. The thin
/// pool's fullness is watched (see [`ThinFullness`]) and it can be grown.
pub fn thin_pool_bytes(vg_free_bytes: u64, extent_bytes: u64) -> u64 {
    let extent = extent_bytes.max(1);
    (vg_free_bytes / 2) / extent * extent
}

/// How full a thin pool is, as the pool page warns of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThinFullness {
    Fine,
    /// Above 80% of its data or metadata.
    Warning,
    /// Above 90%: writes to thin volumes will soon fail.
    Critical,
}

impl ThinFullness {
    pub fn of(data_percent: f64, metadata_percent: f64) -> Self {
        let most = data_percent.max(metadata_percent);
        if most > 90.0 {
            ThinFullness::Critical
        } else if most > 80.0 {
            ThinFullness::Warning
        } else {
            ThinFullness::Fine
        }
    }
}

/// Bytes as a size is shown: "100 GiB", "1.5 TiB", "512 MiB".
pub fn size_words(bytes: u64) -> String {
    const UNITS: [(&str, u32); 5] = [
        ("PiB", 50),
        ("TiB", 40),
        ("GiB", 30),
        ("MiB", 20),
        ("KiB", 10),
    ];
    for (unit, shift) in UNITS {
        let one = 1u64 << shift;
        if bytes >= one {
            let v = bytes as f64 / one as f64;
            return if (v - v.round()).abs() < 0.005 {
                format!("{} {unit}", v.round() as u64)
            } else {
                format!("{v:.2} {unit}")
            };
        }
    }
    format!("{bytes} bytes")
}

/// A Baystack front device as device-mapper has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrontDevice {
    /// The volume it is for (its name without `baystack-`).
    pub volume: String,
    /// Its size, in 512-byte sectors.
    pub sectors: u64,
    /// What its one linear segment maps onto, as `major:minor`; `None`
    /// when its table is not one linear segment from offset 0 (not ours
    /// as we made it).
    pub backing: Option<String>,
    /// Whether it is suspended (I/O held).
    pub suspended: bool,
    /// How many hold it open (LIO's backstore is one).
    pub open_count: u32,
}

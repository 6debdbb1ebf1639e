//! The sim engine's LVM: a pool's volume group on its array, its one
//! physical volume the array itself. Logical volumes come with volumes;
//! until then a group only counts them.

use std::collections::BTreeMap;

use super::arrays::size_words;
use super::md::{self, SimArray};
use super::*;
use crate::domain::pool::{SyncAction, VolumeGroup};
use crate::storage::Volumes;

/// A volume group on an array (its one physical volume is the array).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SimVolumeGroup {
    pub name: String,
    /// The array it is on, by UUID.
    pub array_uuid: String,
    pub uuid: String,
    pub pv_uuid: String,
    /// The physical volume's size: the array's when it was made or last
    /// resized.
    pub pv_size_bytes: u64,
    /// Logical volumes in it: none yet (they come with volumes).
    #[serde(default)]
    pub lv_count: u32,
    #[serde(default)]
    pub allocated_bytes: u64,
}

/// LVM's extent: 4 MiB.
pub(super) const EXTENT_BYTES: u64 = 4 << 20;
/// Where LVM puts the first extent on a physical volume (`pe_start`).
const PE_START_BYTES: u64 = 1 << 20;

impl SimVolumeGroup {
    fn size_bytes(&self) -> u64 {
        self.pv_size_bytes.saturating_sub(PE_START_BYTES) / EXTENT_BYTES * EXTENT_BYTES
    }
}

/// An LVM UUID (`6-4-4-4-4-4-6` characters) from `seed`.
fn lvm_uuid(seed: &str) -> String {
    let hex: String = format!(
        "{}{}",
        md::uuid_for(seed),
        md::uuid_for(&format!("{seed}/2"))
    )
    .chars()
    .filter(|c| *c != ':')
    .collect();
    let mut out = String::new();
    let mut at = 0;
    for (i, n) in [6, 4, 4, 4, 4, 4, 6].into_iter().enumerate() {
        if i > 0 {
            out.push('-');
        }
        out.push_str(&hex[at..at + n]);
        at += n;
    }
    out
}

impl Volumes for SimBackend {
    fn volume_groups(&self, _log: &mut dyn CommandLog) -> Result<Vec<VolumeGroup>, BackendError> {
        let state = self.load()?;
        let running: BTreeMap<&str, &SimArray> = state
            .arrays
            .iter()
            .filter(|a| a.running)
            .map(|a| (a.uuid.as_str(), a))
            .collect();
        Ok(state
            .volume_groups
            .iter()
            .filter(|v| running.contains_key(v.array_uuid.as_str()))
            .map(|v| {
                let size = v.size_bytes();
                VolumeGroup {
                    name: v.name.clone(),
                    uuid: Some(v.uuid.clone()),
                    size_bytes: size,
                    free_bytes: size.saturating_sub(v.allocated_bytes),
                    extent_size_bytes: Some(EXTENT_BYTES),
                    pv_count: 1,
                    lv_count: v.lv_count,
                    attr: Some("wz--n-".into()),
                }
            })
            .collect())
    }

    fn create_volume_group(
        &self,
        name: &str,
        _log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let (now, speed) = self.tick();
        self.change(|state| {
            state.settle_arrays(now, speed);
            let a = state.running(name)?;
            let (kernel, uuid, size, lost) =
                (a.kernel.clone(), a.uuid.clone(), a.size_bytes(), a.lost());
            if let Some(v) = state.volume_groups.iter().find(|v| v.name == name) {
                return if v.array_uuid == uuid {
                    Ok(format!("volume group {name} was already on /dev/{kernel}"))
                } else {
                    Err(BackendError::Refused(format!(
                        "a volume group {name} exists on another array"
                    )))
                };
            }
            if let Some(v) = state.volume_groups.iter().find(|v| v.array_uuid == uuid) {
                return Err(BackendError::Refused(format!(
                    "/dev/{kernel} already holds volume group {}",
                    v.name
                )));
            }
            if lost {
                return Err(BackendError::Refused(format!(
                    "{kernel} has failed; LVM cannot write to it"
                )));
            }
            let vg = SimVolumeGroup {
                name: name.to_string(),
                array_uuid: uuid.clone(),
                uuid: lvm_uuid(&format!("vg:{uuid}")),
                pv_uuid: lvm_uuid(&format!("pv:{uuid}")),
                pv_size_bytes: size,
                lv_count: 0,
                allocated_bytes: 0,
            };
            let words = format!(
                "physical volume /dev/{kernel} and volume group {name} made: {} in {} extents of \
                 4 MiB",
                size_words(vg.size_bytes()),
                vg.size_bytes() / EXTENT_BYTES
            );
            state.volume_groups.push(vg);
            Ok(words)
        })
    }

    fn resize_physical_volume(
        &self,
        name: &str,
        _log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let (now, speed) = self.tick();
        self.change(|state| {
            state.settle_arrays(now, speed);
            let a = state.running(name)?;
            let (kernel, uuid, size) = (a.kernel.clone(), a.uuid.clone(), a.size_bytes());
            let reshaping =
                a.op.as_ref()
                    .is_some_and(|o| o.action == SyncAction::Reshape);
            let v = state
                .volume_groups
                .iter_mut()
                .find(|v| v.name == name && v.array_uuid == uuid)
                .ok_or_else(|| {
                    BackendError::Gone(format!("there is no volume group {name} on {kernel}"))
                })?;
            if v.pv_size_bytes == size {
                return Ok(format!(
                    "the physical volume /dev/{kernel} was already {}, its array's size{}",
                    size_words(size),
                    if reshaping {
                        " (it grows when the reshape is done)"
                    } else {
                        ""
                    }
                ));
            }
            let before = v.size_bytes();
            v.pv_size_bytes = size;
            Ok(format!(
                "physical volume /dev/{kernel} resized; volume group {name} grew from {} to {}",
                size_words(before),
                size_words(v.size_bytes())
            ))
        })
    }

    fn remove_volume_group(
        &self,
        name: &str,
        _log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let (now, speed) = self.tick();
        self.change(|state| {
            state.settle_arrays(now, speed);
            let Some(i) = state.volume_groups.iter().position(|v| v.name == name) else {
                return Ok(format!(
                    "there is no volume group {name}; nothing to remove"
                ));
            };
            let v = &state.volume_groups[i];
            let array = state.arrays.iter().find(|a| a.uuid == v.array_uuid);
            match array {
                Some(a) if !a.running => {
                    return Err(BackendError::Gone(format!(
                        "volume group {name} is on {} ({}), which is stopped",
                        a.kernel, a.md_name
                    )));
                }
                _ => {}
            }
            if v.lv_count > 0 {
                return Err(BackendError::Refused(format!(
                    "volume group {name} still has {} logical volume{}",
                    v.lv_count,
                    if v.lv_count == 1 { "" } else { "s" }
                )));
            }
            let kernel = array.map_or(String::new(), |a| a.kernel.clone());
            state.volume_groups.remove(i);
            Ok(format!(
                "volume group {name} removed, and the physical volume label of /dev/{kernel}"
            ))
        })
    }
}

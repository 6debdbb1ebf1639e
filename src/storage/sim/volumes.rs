//! The sim engine's LVM: a pool's volume group on its array, its one
//! physical volume the array itself. Logical volumes come with volumes;
//! until then a group only counts them.

use std::collections::BTreeMap;

use super::arrays::size_words;
use super::md::{self, SimArray};
use super::*;
use crate::domain::pool::{LogicalVolume, SyncAction, VolumeGroup};
use crate::domain::volume::{FrontDevice, THIN_POOL, front_name};
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
    /// Its logical volumes, hidden ones (a thin pool's data and metadata)
    /// counted in the thin pool.
    #[serde(default)]
    pub lvs: Vec<SimLv>,
}

/// LVM's extent: 4 MiB.
pub(super) const EXTENT_BYTES: u64 = 4 << 20;
/// Where LVM puts the first extent on a physical volume (`pe_start`).
const PE_START_BYTES: u64 = 1 << 20;

impl SimVolumeGroup {
    pub(super) fn size_bytes(&self) -> u64 {
        self.pv_size_bytes.saturating_sub(PE_START_BYTES) / EXTENT_BYTES * EXTENT_BYTES
    }

    /// What its logical volumes take of it.
    pub(super) fn allocated_bytes(&self) -> u64 {
        self.lvs.iter().map(SimLv::allocated_bytes).sum()
    }

    pub(super) fn free_bytes(&self) -> u64 {
        self.size_bytes().saturating_sub(self.allocated_bytes())
    }

    /// Logical volumes as `lvs` counts them (a thin pool's parts not).
    pub(super) fn lv_count(&self) -> u32 {
        u32::try_from(self.lvs.len()).unwrap_or(u32::MAX)
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
    fn logical_volumes(
        &self,
        vg: &str,
        _log: &mut dyn CommandLog,
    ) -> Result<Vec<LogicalVolume>, BackendError> {
        let state = self.load()?;
        let running = |uuid: &str| state.arrays.iter().any(|a| a.running && a.uuid == uuid);
        Ok(state
            .volume_groups
            .iter()
            .find(|v| v.name == vg && running(&v.array_uuid))
            .map(SimVolumeGroup::reported)
            .unwrap_or_default())
    }

    fn create_thin_pool(
        &self,
        vg: &str,
        size_bytes: u64,
        metadata_bytes: u64,
        _log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        self.change(|state| {
            let g = state.group_mut(vg)?;
            if g.lv(THIN_POOL).is_some() {
                return Ok(format!("thin pool {vg}/{THIN_POOL} was already there"));
            }
            let (size, meta) = (extents(size_bytes), extents(metadata_bytes));
            if size + 2 * meta > g.free_bytes() {
                return Err(BackendError::Refused(format!(
                    "volume group {vg} has {} free; a thin pool of {} needs {}",
                    size_words(g.free_bytes()),
                    size_words(size),
                    size_words(size + 2 * meta)
                )));
            }
            g.lvs.push(SimLv {
                name: THIN_POOL.into(),
                uuid: lvm_uuid(&format!("lv:{}:{THIN_POOL}", g.uuid)),
                size_bytes: size,
                kind: LvKind::ThinPool {
                    metadata_bytes: meta,
                },
                origin: None,
                active: true,
                used_bytes: 0,
            });
            Ok(format!(
                "thin pool {vg}/{THIN_POOL} made: {} of data, {} of metadata",
                size_words(size),
                size_words(meta)
            ))
        })
    }

    fn create_volume(
        &self,
        vg: &str,
        lv: &str,
        size_bytes: u64,
        thin: bool,
        _log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        self.change(|state| {
            let g = state.group_mut(vg)?;
            let size = extents(size_bytes);
            let kind = if thin { LvKind::Thin } else { LvKind::Thick };
            if let Some(l) = g.lv(lv) {
                return if l.kind == kind && l.size_bytes >= size {
                    Ok(format!("logical volume {vg}/{lv} was already made"))
                } else {
                    Err(BackendError::Refused(format!(
                        "a different logical volume {vg}/{lv} is already there"
                    )))
                };
            }
            if thin && g.lv(THIN_POOL).is_none() {
                return Err(BackendError::Refused(format!(
                    "volume group {vg} has no thin pool {THIN_POOL}"
                )));
            }
            if !thin && size > g.free_bytes() {
                return Err(BackendError::Refused(format!(
                    "volume group {vg} has {} free; {} does not fit",
                    size_words(g.free_bytes()),
                    size_words(size)
                )));
            }
            if thin {
                self.thin.create(vg, lv, size)?;
            }
            g.lvs.push(SimLv {
                name: lv.into(),
                uuid: lvm_uuid(&format!("lv:{}:{lv}", g.uuid)),
                size_bytes: size,
                kind,
                origin: None,
                active: true,
                used_bytes: 0,
            });
            Ok(format!(
                "logical volume {vg}/{lv} made: {}{}",
                size_words(size),
                if thin { ", thin" } else { "" }
            ))
        })
    }

    fn resize_volume(
        &self,
        vg: &str,
        lv: &str,
        size_bytes: u64,
        _log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        self.change(|state| {
            let g = state.group_mut(vg)?;
            let free = g.free_bytes();
            let size = extents(size_bytes);
            let l = g.lvs.iter_mut().find(|l| l.name == lv).ok_or_else(|| {
                BackendError::Gone(format!("there is no logical volume {vg}/{lv}"))
            })?;
            if size < l.size_bytes {
                return Err(BackendError::Refused(format!(
                    "{vg}/{lv} is {}; a volume is never shrunk",
                    size_words(l.size_bytes)
                )));
            }
            if size == l.size_bytes {
                return Ok(format!("{vg}/{lv} was already {}", size_words(size)));
            }
            if l.kind != LvKind::Thin && size - l.size_bytes > free {
                return Err(BackendError::Refused(format!(
                    "volume group {vg} has {} free; growing {lv} by {} does not fit",
                    size_words(free),
                    size_words(size - l.size_bytes)
                )));
            }
            if l.kind == LvKind::Thin {
                self.thin.resize(vg, lv, size)?;
            }
            let before = l.size_bytes;
            l.size_bytes = size;
            Ok(format!(
                "{vg}/{lv} grown from {} to {}",
                size_words(before),
                size_words(size)
            ))
        })
    }

    fn remove_volume(
        &self,
        vg: &str,
        lv: &str,
        _log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        self.change(|state| {
            let in_front = state.fronts.iter().any(|f| f.vg == vg && f.volume == lv);
            let g = state.group_mut(vg)?;
            let Some(i) = g.lvs.iter().position(|l| l.name == lv) else {
                return Ok(format!(
                    "there is no logical volume {vg}/{lv}; nothing to remove"
                ));
            };
            if in_front {
                return Err(BackendError::Busy(format!(
                    "logical volume {vg}/{lv} is in use (its front device is open)"
                )));
            }
            if lv == THIN_POOL && g.lvs.iter().any(|l| l.kind == LvKind::Thin) {
                return Err(BackendError::Refused(format!(
                    "thin pool {vg}/{THIN_POOL} still holds thin volumes"
                )));
            }
            if g.lvs[i].kind == LvKind::Thin {
                self.thin.remove(vg, lv)?;
            }
            g.lvs.remove(i);
            Ok(format!("logical volume {vg}/{lv} removed"))
        })
    }

    fn snapshot_volume(
        &self,
        vg: &str,
        origin: &str,
        new_lv: &str,
        active: bool,
        _log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        self.change(|state| {
            let g = state.group_mut(vg)?;
            if g.lv(new_lv).is_some() {
                return Ok(format!("{vg}/{new_lv} was already there"));
            }
            let o = g.lv(origin).ok_or_else(|| {
                BackendError::Gone(format!("there is no logical volume {vg}/{origin}"))
            })?;
            if o.kind != LvKind::Thin {
                return Err(BackendError::Refused(format!(
                    "{vg}/{origin} is not a thin volume; only thin volumes have snapshots here"
                )));
            }
            let snap = SimLv {
                name: new_lv.into(),
                uuid: lvm_uuid(&format!("lv:{}:{new_lv}", g.uuid)),
                size_bytes: o.size_bytes,
                kind: LvKind::Thin,
                origin: Some(origin.into()),
                active,
                used_bytes: o.used_bytes,
            };
            self.thin.snapshot(vg, origin, new_lv)?;
            g.lvs.push(snap);
            Ok(format!("thin snapshot {vg}/{new_lv} of {origin} made"))
        })
    }

    fn rename_volume(
        &self,
        vg: &str,
        from: &str,
        to: &str,
        _log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        self.change(|state| {
            let g = state.group_mut(vg)?;
            match (g.lv(from).is_some(), g.lv(to).is_some()) {
                (false, true) => Ok(format!("{vg}/{from} was already renamed {to}")),
                (true, false) => {
                    self.thin.rename(vg, from, to)?;
                    for l in &mut g.lvs {
                        if l.name == from {
                            l.name = to.into();
                        }
                    }
                    Ok(format!("{vg}/{from} renamed {to}"))
                }
                (false, false) => Err(BackendError::Gone(format!(
                    "there is no logical volume {vg}/{from}"
                ))),
                (true, true) => Err(BackendError::Refused(format!("{vg}/{to} is already there"))),
            }
        })
    }

    fn front_devices(&self, _log: &mut dyn CommandLog) -> Result<Vec<FrontDevice>, BackendError> {
        let state = self.load()?;
        Ok(state
            .fronts
            .iter()
            .map(|f| FrontDevice {
                volume: f.volume.clone(),
                sectors: f.sectors,
                backing: Some(format!("{}/{}", f.vg, f.volume)),
                suspended: false,
                open_count: state.front_open_count(&f.volume),
            })
            .collect())
    }

    fn set_front_device(
        &self,
        vg: &str,
        volume: &str,
        _log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        self.change(|state| {
            let g = state.group_mut(vg)?;
            let l = g.lv(volume).ok_or_else(|| {
                BackendError::Gone(format!("there is no logical volume {vg}/{volume}"))
            })?;
            if !l.active {
                return Err(BackendError::Refused(format!(
                    "logical volume {vg}/{volume} is not active"
                )));
            }
            let sectors = l.size_bytes / 512;
            let name = front_name(volume);
            match state.fronts.iter_mut().find(|f| f.volume == volume) {
                Some(f) if f.vg == vg && f.sectors == sectors => {
                    Ok(format!("{name} already maps all of {vg}/{volume}"))
                }
                Some(f) => {
                    let before = f.sectors;
                    f.vg = vg.into();
                    f.sectors = sectors;
                    Ok(format!(
                        "{name} now maps all of {vg}/{volume}: {} sectors, was {before}",
                        sectors
                    ))
                }
                None => {
                    // LIO's iblock opens its device exclusively: a table
                    // cannot be put over a logical volume a backstore is on.
                    let lv_device = format!("/dev/{vg}/{volume}");
                    if let Some(b) = state.lio.backstores.iter().find(|b| b.device == lv_device) {
                        return Err(BackendError::Busy(format!(
                            "device-mapper: reload ioctl on {name} failed: Device or resource \
                             busy ({lv_device} is held by LIO's backstore {})",
                            b.name
                        )));
                    }
                    state.fronts.push(SimFront {
                        volume: volume.into(),
                        vg: vg.into(),
                        sectors,
                    });
                    Ok(format!(
                        "{name} made over {vg}/{volume} ({sectors} sectors)"
                    ))
                }
            }
        })
    }

    fn remove_front_device(
        &self,
        volume: &str,
        _log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        self.change(|state| {
            let name = front_name(volume);
            let Some(i) = state.fronts.iter().position(|f| f.volume == volume) else {
                return Ok(format!("there is no {name}; nothing to remove"));
            };
            if state.front_open_count(volume) > 0 {
                return Err(BackendError::Busy(format!(
                    "{name} is still open: is it exported?"
                )));
            }
            state.fronts.remove(i);
            Ok(format!("{name} removed"))
        })
    }

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
                    free_bytes: v.free_bytes(),
                    extent_size_bytes: Some(EXTENT_BYTES),
                    pv_count: 1,
                    lv_count: v.lv_count(),
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
                lvs: Vec::new(),
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
            if v.lv_count() > 0 {
                return Err(BackendError::Refused(format!(
                    "volume group {name} still has {} logical volume{}",
                    v.lv_count(),
                    if v.lv_count() == 1 { "" } else { "s" }
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

/// What a simulated logical volume is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum LvKind {
    Thick,
    Thin,
    /// The thin pool, with its metadata volume's size (LVM keeps a spare
    /// of the same size beside it).
    ThinPool {
        metadata_bytes: u64,
    },
}

/// A logical volume in a simulated volume group.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SimLv {
    pub name: String,
    pub uuid: String,
    pub size_bytes: u64,
    pub kind: LvKind,
    /// The volume a snapshot was taken of.
    #[serde(default)]
    pub origin: Option<String>,
    pub active: bool,
    /// What a thin volume has written (what it takes of the pool).
    #[serde(default)]
    pub used_bytes: u64,
}

impl SimLv {
    /// What it takes of its volume group's extents.
    pub(super) fn allocated_bytes(&self) -> u64 {
        match self.kind {
            LvKind::Thick => self.size_bytes,
            LvKind::Thin => 0,
            LvKind::ThinPool { metadata_bytes } => self.size_bytes + 2 * metadata_bytes,
        }
    }
}

/// A simulated front device: a linear map over a volume's logical volume.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SimFront {
    pub volume: String,
    pub vg: String,
    pub sectors: u64,
}

fn extents(bytes: u64) -> u64 {
    bytes.div_ceil(EXTENT_BYTES).max(1) * EXTENT_BYTES
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 10_000.0 / whole as f64).round() / 100.0
    }
}

impl SimVolumeGroup {
    fn lv(&self, name: &str) -> Option<&SimLv> {
        self.lvs.iter().find(|l| l.name == name)
    }

    /// Its logical volumes as `lvs` reports them.
    fn reported(&self) -> Vec<LogicalVolume> {
        let thin_used: u64 = self
            .lvs
            .iter()
            .filter(|l| l.kind == LvKind::Thin)
            .map(|l| l.used_bytes)
            .sum();
        self.lvs
            .iter()
            .map(|l| {
                let (attr, layout, pool, data, meta) = match l.kind {
                    LvKind::Thick => ("-wi-a-----", "linear", None, None, None),
                    LvKind::Thin => (
                        if l.active { "Vwi-a-tz--" } else { "Vwi---tz-k" },
                        "thin,sparse",
                        Some(THIN_POOL.to_string()),
                        Some(percent(l.used_bytes, l.size_bytes)),
                        None,
                    ),
                    LvKind::ThinPool { metadata_bytes } => (
                        "twi-aotz--",
                        "thin,pool",
                        None,
                        Some(percent(thin_used, l.size_bytes)),
                        // A mapping per 64 KiB chunk, 64 bytes each.
                        Some(percent(thin_used / 1024, metadata_bytes)),
                    ),
                };
                LogicalVolume {
                    name: l.name.clone(),
                    vg: self.name.clone(),
                    uuid: Some(l.uuid.clone()),
                    size_bytes: l.size_bytes,
                    attr: Some(attr.into()),
                    layout: Some(layout.into()),
                    role: Some(
                        if l.origin.is_some() {
                            "public,snapshot,thinsnapshot"
                        } else if matches!(l.kind, LvKind::ThinPool { .. }) {
                            "private,thin,pool"
                        } else {
                            "public"
                        }
                        .into(),
                    ),
                    pool_lv: pool,
                    origin: l.origin.clone(),
                    data_percent: data,
                    metadata_percent: meta,
                    active: Some(l.active),
                    hidden: false,
                    path: (!matches!(l.kind, LvKind::ThinPool { .. }))
                        .then(|| format!("/dev/{}/{}", self.name, l.name)),
                    health: None,
                    kernel_device: None,
                }
            })
            .collect()
    }
}

impl State {
    /// Volume group `vg` on a running array, to change.
    fn group_mut(&mut self, vg: &str) -> Result<&mut SimVolumeGroup, BackendError> {
        let running: Vec<String> = self
            .arrays
            .iter()
            .filter(|a| a.running)
            .map(|a| a.uuid.clone())
            .collect();
        self.volume_groups
            .iter_mut()
            .find(|v| v.name == vg && running.contains(&v.array_uuid))
            .ok_or_else(|| BackendError::Gone(format!("there is no volume group {vg} running")))
    }

    /// Whether block device `device` exists: a front device, or a logical
    /// volume's `/dev/<vg>/<lv>`.
    pub(super) fn device_exists(&self, device: &str) -> bool {
        if let Some(volume) = device.strip_prefix("/dev/mapper/baystack-") {
            return self.fronts.iter().any(|f| f.volume == volume);
        }
        self.volume_groups.iter().any(|g| {
            g.lvs
                .iter()
                .any(|l| device == format!("/dev/{}/{}", g.name, l.name))
        })
    }

    /// How many hold volume `volume`'s front device open: a backstore on it.
    pub(super) fn front_open_count(&self, volume: &str) -> u32 {
        let device = format!("/dev/mapper/{}", front_name(volume));
        let n = self
            .lio
            .backstores
            .iter()
            .filter(|b| b.device == device)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

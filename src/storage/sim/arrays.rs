//! The sim engine's md arrays: the `Arrays` subsystem over the model in
//! `md.rs`. Every change settles
//! the arrays to the clock's now first (what md would have finished by
//! then has finished), changes them, and is written back by `change()`;
//! a read settles a copy and writes nothing.

use super::md::{self, HOST, Pending, Role, SimArray, SimMember};
use super::*;
use crate::domain::pool::{
    Array, ArraySpec, ConsistencyPolicy, DriveRef, MAX_RAID_DEVICES, RaidLevel, SyncAction,
    SyncWindow, WriteHole,
};
use crate::storage::Arrays;

/// Something written on a drive that a new array would destroy, as
/// `wipefs` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct SimSignature {
    /// `linux_raid_member`, `gpt`, `PMBR`, `LVM2_member`, `ext4`.
    pub kind: String,
    /// Where, in bytes from the start of the drive.
    pub offset: u64,
    /// blkid's usage: `raid`, `partition table`, `filesystem`.
    pub usage: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub uuid: Option<String>,
}

impl SimSignature {
    /// An md 1.2 superblock, 4 KiB in.
    pub fn md(md_name: &str, uuid: &str) -> SimSignature {
        SimSignature {
            kind: "linux_raid_member".into(),
            offset: 0x1000,
            usage: "raid".into(),
            label: Some(format!("{HOST}:{md_name}")),
            uuid: Some(md::dashed_uuid(uuid)),
        }
    }

    pub(super) fn words(&self) -> String {
        let mut extra = vec![self.usage.clone()];
        if let Some(l) = &self.label {
            extra.push(format!("label {l}"));
        }
        if let Some(u) = &self.uuid {
            extra.push(format!("UUID {u}"));
        }
        format!(
            "{} ({}) at offset 0x{:x}",
            self.kind,
            extra.join(", "),
            self.offset
        )
    }
}

/// A line of mdadm.conf: the array assembles by its UUID at boot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct ConfLine {
    pub md_name: String,
    pub uuid: String,
}

/// A size for a message: `16.0 TB`, `960.2 GB`.
/// Where the simulator's md puts a member's data, in sectors (mdadm's
/// usual 1 MiB).
pub const SIM_DATA_OFFSET: u64 = 2048;

pub(super) fn size_words(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e12 {
        format!("{:.1} TB", b / 1e12)
    } else if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else {
        format!("{:.1} MB", b / 1e6)
    }
}

/// How many members `level` needs, and what it says when it has not.
fn check_count(level: RaidLevel, n: usize) -> Result<(), BackendError> {
    let (least, even) = match level {
        RaidLevel::Raid1 => (2, false),
        RaidLevel::Raid5 => (3, false),
        RaidLevel::Raid6 => (4, false),
        RaidLevel::Raid10 => (4, true),
    };
    if n > MAX_RAID_DEVICES as usize {
        return Err(BackendError::Refused(format!(
            "an md array has at most {MAX_RAID_DEVICES} devices; {n} were given"
        )));
    }
    if n < least || (even && !n.is_multiple_of(2)) {
        let want = if even {
            format!("an even number of members, at least {least}")
        } else {
            format!("at least {least} members")
        };
        return Err(BackendError::Refused(format!(
            "{} needs {want}; {n} {} given",
            level.as_str(),
            if n == 1 { "was" } else { "were" }
        )));
    }
    Ok(())
}

impl State {
    /// Brings every array to `now`.
    pub(super) fn settle_arrays(&mut self, now_ms: u64, speed: f64) {
        for a in &mut self.arrays {
            a.settle(now_ms, speed);
        }
    }

    /// The drive a job names, if it is still the one in its bay.
    fn present(&self, d: &DriveRef) -> Result<&Drive, BackendError> {
        self.inventory
            .drives
            .iter()
            .find(|x| x.ident == d.ident && x.serial == d.serial)
            .filter(|x| self.inventory.bay_of(&x.ident).is_some())
            .ok_or_else(|| {
                BackendError::Gone(format!(
                    "drive {d} is gone: no bay holds a drive with serial {}",
                    d.serial
                ))
            })
    }

    /// The array (running or stopped) that lists `ident` as a member.
    /// A drive about to lose its md superblock: refused while it is in a
    /// running array; out of any stopped one (which lives on only in its
    /// members' superblocks). Its ident and kernel name.
    fn leave_stopped_arrays(&mut self, drive: &DriveRef) -> Result<(String, String), BackendError> {
        let d = self.present(drive)?;
        let (ident, dev) = (d.ident.clone(), dev_of(d));
        if let Some(a) = self.holder(&ident).filter(|a| a.running) {
            return Err(BackendError::Busy(format!(
                "{dev} is in use: it is a member of {} ({}), which is running",
                a.kernel, a.md_name
            )));
        }
        for a in &mut self.arrays {
            if let Some(i) = a.member(&ident) {
                a.members.remove(i);
            }
        }
        self.arrays.retain(|a| a.running || !a.members.is_empty());
        Ok((ident, dev))
    }

    fn holder(&self, ident: &str) -> Option<&SimArray> {
        self.arrays.iter().find(|a| a.member(ident).is_some())
    }

    fn array_index(&self, name: &str) -> Option<usize> {
        self.arrays.iter().position(|a| a.md_name == name)
    }

    /// The running array `name`.
    pub(super) fn running(&mut self, name: &str) -> Result<&mut SimArray, BackendError> {
        match self.array_index(name) {
            Some(i) if self.arrays[i].running => Ok(&mut self.arrays[i]),
            Some(i) => Err(BackendError::Gone(format!(
                "{name} ({}) is stopped",
                self.arrays[i].kernel
            ))),
            None => Err(BackendError::Gone(format!("there is no md array {name}"))),
        }
    }

    /// A drive fit to become part of a new array or a spare: present, in
    /// no array, nothing written on it (but `allow` md's own superblock of
    /// the array it is joining).
    fn free_drive(
        &self,
        d: &DriveRef,
        allow: Option<&str>,
    ) -> Result<(&Drive, String), BackendError> {
        let drive = self.present(d)?;
        let dev = drive
            .dev_name
            .clone()
            .unwrap_or_else(|| drive.serial.clone());
        if let Some(a) = self.holder(&drive.ident) {
            return Err(BackendError::Refused(format!(
                "{d} is a member of {} ({}){}",
                a.kernel,
                a.md_name,
                if a.running { "" } else { ", which is stopped" }
            )));
        }
        let old: Vec<String> = self
            .signatures
            .get(&drive.ident)
            .into_iter()
            .flatten()
            .filter(|s| {
                !(allow.is_some() && s.kind == "linux_raid_member" && s.label.as_deref() == allow)
            })
            .map(SimSignature::words)
            .collect();
        if !old.is_empty() {
            return Err(BackendError::Refused(format!(
                "{d} has old signatures: {}; wipe it first",
                old.join("; ")
            )));
        }
        Ok((drive, dev))
    }

    /// The highest free `mdN`, as the kernel names arrays made by name.
    fn free_kernel_name(&self) -> String {
        (0..=127u32)
            .rev()
            .map(|n| format!("md{n}"))
            .find(|k| self.arrays.iter().all(|a| &a.kernel != k))
            .unwrap_or_else(|| format!("md{}", 128 + self.arrays.len()))
    }

    /// Makes an array of `members` (in slot order), `spares` and a
    /// `journal`, starting its resync at `now`.
    #[allow(clippy::too_many_arguments)]
    fn make_array(
        &mut self,
        md_name: &str,
        level: RaidLevel,
        chunk_kib: u32,
        policy: ConsistencyPolicy,
        members: &[(String, String, u64)],
        spares: &[(String, String, u64)],
        journal: Option<(String, String)>,
        now_ms: u64,
        speed: f64,
    ) -> Result<String, BackendError> {
        let smallest = members.iter().map(|m| m.2).min().unwrap_or(0);
        let chunk_sectors = if level == RaidLevel::Raid1 {
            128
        } else {
            u64::from(chunk_kib) * 2
        };
        let component = (smallest / 512).saturating_sub(md::DATA_OFFSET_SECTORS) / chunk_sectors
            * chunk_sectors;
        if component == 0 {
            return Err(BackendError::Refused(format!(
                "the smallest member of {md_name} has no room for data after md's metadata"
            )));
        }
        if let Some((_, dev, size)) = spares
            .iter()
            .find(|s| s.2 / 512 < component + md::DATA_OFFSET_SECTORS)
        {
            return Err(BackendError::Refused(format!(
                "spare {dev} ({}) is smaller than the members",
                size_words(*size)
            )));
        }
        self.arrays_created += 1;
        let uuid = md::uuid_for(&format!("{md_name}#{}", self.arrays_created));
        let mut list = Vec::new();
        let mut number = 0;
        let mut push = |ident: &str, device: &str, role: Role, slot: Option<u32>| {
            list.push(SimMember {
                ident: ident.to_string(),
                device: device.to_string(),
                number,
                role,
                slot,
                want_replacement: false,
            });
            number += 1;
        };
        for (slot, (ident, dev, _)) in (0u32..).zip(members) {
            push(ident, dev, Role::InSync, Some(slot));
        }
        for (ident, dev, _) in spares {
            push(ident, dev, Role::Spare, None);
        }
        if let Some((ident, dev)) = &journal {
            push(ident, dev, Role::Journal, None);
        }
        for m in &list {
            if !m.ident.starts_with("md:") {
                self.signatures
                    .insert(m.ident.clone(), vec![SimSignature::md(md_name, &uuid)]);
            }
        }
        let mut a = SimArray {
            md_name: md_name.to_string(),
            kernel: self.free_kernel_name(),
            uuid: uuid.clone(),
            level,
            raid_devices: members.len() as u32,
            chunk_kib,
            policy,
            component_sectors: component,
            running: true,
            next_number: number,
            members: list,
            op: None,
            pending: Some(Pending {
                action: SyncAction::Resync,
                from_sectors: 0,
                previous_devices: None,
            }),
            mismatch_count: 0,
            planted: Vec::new(),
            sync_min: 0,
            sync_max: None,
            stripe_cache_pages: None,
        };
        a.settle(now_ms, speed);
        self.arrays.push(a);
        Ok(uuid)
    }
}

/// Whether the array `a` is what `spec` asks for: the same level, every
/// member and spare in it.
fn is_spec(a: &SimArray, spec: &ArraySpec) -> bool {
    a.level == spec.level
        && spec
            .members
            .iter()
            .chain(&spec.spares)
            .all(|d| a.member(&d.ident).is_some())
}

/// A drive's name in messages: its kernel name.
fn dev_of(d: &Drive) -> String {
    d.dev_name.clone().unwrap_or_else(|| d.serial.clone())
}

/// What a member's failure left: the array's state in words.
fn state_words(a: &SimArray, now_ms: u64) -> String {
    let seen = a.observe(now_ms);
    let state = seen.state.map_or("unknown", |s| s.as_str());
    let rebuilding: Vec<&str> = a
        .members
        .iter()
        .filter(|m| matches!(m.role, Role::Rebuilding | Role::Replacement))
        .map(|m| m.device.as_str())
        .collect();
    if rebuilding.is_empty() {
        format!("{} ({}) is {state}", a.kernel, a.md_name)
    } else {
        format!(
            "{} ({}) is {state}, rebuilding onto {}",
            a.kernel,
            a.md_name,
            rebuilding.join(", ")
        )
    }
}

impl SimBackend {
    pub(super) fn tick(&self) -> (u64, f64) {
        (self.now_ms(), self.speed)
    }

    /// Plants `blocks` 4 KiB blocks whose parity or mirror does not match
    /// in array `array` (its name or its kernel name), for a check to find
    /// (`baystack sim mismatch`).
    pub fn plant_mismatches(&self, array: &str, blocks: u32) -> Result<String, BackendError> {
        let (now, speed) = self.tick();
        self.change(|state| {
            state.settle_arrays(now, speed);
            let a = state
                .arrays
                .iter_mut()
                .find(|a| a.md_name == array || a.kernel == array)
                .ok_or_else(|| BackendError::Gone(format!("there is no md array {array}")))?;
            if blocks == 0 {
                return Err(BackendError::Refused("plant at least one block".into()));
            }
            let total = a.plant(blocks);
            Ok(format!(
                "{} ({}) now has {total} block{} of 4 KiB whose redundancy does not match; \
                 a check counts {} sectors",
                a.kernel,
                a.md_name,
                if total == 1 { "" } else { "s" },
                total * 8
            ))
        })
    }
}

/// md marks the drive `ident` faulty wherever it is a member of a running
/// array, as on an I/O error; says what that did.
pub(super) fn io_error(
    arrays: &mut [SimArray],
    ident: &str,
    now_ms: u64,
    speed: f64,
) -> Vec<String> {
    let mut said = Vec::new();
    for a in arrays.iter_mut().filter(|a| a.running) {
        let Some(i) = a.member(ident) else { continue };
        if a.members[i].role == Role::Faulty {
            continue;
        }
        let dev = a.members[i].device.clone();
        a.fail(i, now_ms, speed);
        said.push(format!(
            "md marked {dev} faulty in {}; {}",
            a.kernel,
            state_words(a, now_ms)
        ));
    }
    said
}

/// The drive `ident` is pulled: md fails it in a running array and takes
/// it out (udev's `mdadm -If`); a stopped array just has one member
/// fewer. Says what that did.
pub(super) fn pulled(
    arrays: &mut Vec<SimArray>,
    ident: &str,
    now_ms: u64,
    speed: f64,
) -> Vec<String> {
    let mut said = io_error(arrays, ident, now_ms, speed);
    for a in arrays.iter_mut() {
        if let Some(i) = a.member(ident) {
            let m = a.members.remove(i);
            if !a.running {
                said.push(format!(
                    "{} left {} ({}), which is stopped",
                    m.device, a.kernel, a.md_name
                ));
            }
        }
    }
    arrays.retain(|a| a.running || !a.members.is_empty());
    said
}

impl Arrays for SimBackend {
    fn arrays(&self, _log: &mut dyn CommandLog) -> Result<Vec<Array>, BackendError> {
        let (now, speed) = self.tick();
        let mut state = self.load()?;
        state.settle_arrays(now, speed);
        let mut running: Vec<&SimArray> = state.arrays.iter().filter(|a| a.running).collect();
        running.sort_by_key(|a| {
            a.kernel
                .trim_start_matches("md")
                .parse::<u32>()
                .unwrap_or(u32::MAX)
        });
        Ok(running.into_iter().map(|a| a.observe(now)).collect())
    }

    fn signatures(
        &self,
        drive: &DriveRef,
        _log: &mut dyn CommandLog,
    ) -> Result<Vec<String>, BackendError> {
        let state = self.load()?;
        let d = state.present(drive)?;
        Ok(state
            .signatures
            .get(&d.ident)
            .into_iter()
            .flatten()
            .map(SimSignature::words)
            .collect())
    }

    fn wipe(&self, drive: &DriveRef, _log: &mut dyn CommandLog) -> Result<String, BackendError> {
        let (now, speed) = self.tick();
        self.change(|state| {
            state.settle_arrays(now, speed);
            let (ident, dev) = state.leave_stopped_arrays(drive)?;
            match state.signatures.remove(&ident) {
                Some(sigs) if !sigs.is_empty() => Ok(format!(
                    "erased {} signature{} from {dev}: {}",
                    sigs.len(),
                    if sigs.len() == 1 { "" } else { "s" },
                    sigs.iter()
                        .map(|s| format!("{} at 0x{:x}", s.kind, s.offset))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                _ => Ok(format!(
                    "{dev} has no signatures; there was nothing to erase"
                )),
            }
        })
    }

    fn create_array(
        &self,
        spec: &ArraySpec,
        _log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let (now, speed) = self.tick();
        self.change(|state| {
            state.settle_arrays(now, speed);
            check_count(spec.level, spec.members.len())?;
            match (spec.write_hole, spec.level) {
                (WriteHole::Open, _) => {}
                (_, RaidLevel::Raid1 | RaidLevel::Raid10) => {
                    return Err(BackendError::Refused(format!(
                        "{} has no write hole to close; a journal or PPL is for raid5 and raid6",
                        spec.level.as_str()
                    )));
                }
                (WriteHole::Ppl, RaidLevel::Raid6) => {
                    return Err(BackendError::Refused(
                        "md keeps a partial parity log for raid5 only; close raid6's write \
                         hole with a journal"
                            .into(),
                    ));
                }
                _ => {}
            }
            let journaled = spec.write_hole == WriteHole::Journal;
            if journaled && !(1..=2).contains(&spec.journal.len()) {
                return Err(BackendError::Refused(format!(
                    "a write journal is one drive or two mirrored; {} were given",
                    spec.journal.len()
                )));
            }
            if !journaled && !spec.journal.is_empty() {
                return Err(BackendError::Refused(
                    "journal drives were given, but the write hole is not to be closed with a \
                     journal"
                        .into(),
                ));
            }
            if spec.level != RaidLevel::Raid1
                && (spec.chunk_kib < 4 || !spec.chunk_kib.is_power_of_two())
            {
                return Err(BackendError::Refused(format!(
                    "a chunk of {} KiB: md takes a power of two of at least 4 KiB",
                    spec.chunk_kib
                )));
            }
            // Each drive once: a member, a spare or the journal.
            let mut seen: Vec<(&str, &str)> = Vec::new();
            for (d, what) in spec
                .members
                .iter()
                .map(|d| (d, "a member"))
                .chain(spec.spares.iter().map(|d| (d, "a spare")))
                .chain(spec.journal.iter().map(|d| (d, "the journal")))
            {
                if let Some((_, before)) = seen.iter().find(|(i, _)| *i == d.ident) {
                    return Err(BackendError::Refused(if *before == what {
                        format!("{d} is named twice as {what}")
                    } else {
                        format!("{d} is named both as {before} and as {what}")
                    }));
                }
                seen.push((&d.ident, what));
            }

            // Asked again for what is already so.
            if let Some(a) = state.arrays.iter().find(|a| a.md_name == spec.name) {
                if is_spec(a, spec) && a.running {
                    return Ok(a.uuid.clone());
                }
                return Err(BackendError::Refused(format!(
                    "an md array {} ({}) exists with other members{}",
                    spec.name,
                    a.kernel,
                    if a.running { "" } else { " and is stopped" }
                )));
            }

            let size_of =
                |state: &State, d: &DriveRef| -> Result<(String, String, u64), BackendError> {
                    let (drive, dev) = state.free_drive(d, None)?;
                    Ok((drive.ident.clone(), dev, drive.size_bytes))
                };
            let members = spec
                .members
                .iter()
                .map(|d| size_of(state, d))
                .collect::<Result<Vec<_>, _>>()?;
            let spares = spec
                .spares
                .iter()
                .map(|d| size_of(state, d))
                .collect::<Result<Vec<_>, _>>()?;

            // The journal: one drive, or the journal's own mirror, made
            // first (or found, from an earlier try).
            let journal = match (spec.journal_mirror(), spec.journal.as_slice()) {
                (Some(mirror), pair) => {
                    let existing = state.arrays.iter().find(|a| a.md_name == mirror);
                    let kernel = match existing {
                        Some(a)
                            if a.running && pair.iter().all(|d| a.member(&d.ident).is_some()) =>
                        {
                            a.kernel.clone()
                        }
                        Some(a) => {
                            return Err(BackendError::Refused(format!(
                                "an md array {mirror} ({}) exists with other members{}",
                                a.kernel,
                                if a.running { "" } else { " and is stopped" }
                            )));
                        }
                        None => {
                            let pair = pair
                                .iter()
                                .map(|d| size_of(state, d))
                                .collect::<Result<Vec<_>, _>>()?;
                            state.make_array(
                                &mirror,
                                RaidLevel::Raid1,
                                spec.chunk_kib,
                                ConsistencyPolicy::Bitmap,
                                &pair,
                                &[],
                                None,
                                now,
                                speed,
                            )?;
                            state
                                .arrays
                                .last()
                                .map(|a| a.kernel.clone())
                                .unwrap_or_default()
                        }
                    };
                    Some((format!("md:{mirror}"), kernel))
                }
                (None, [one]) => {
                    let (ident, dev, _) = size_of(state, one)?;
                    Some((ident, dev))
                }
                (None, _) => None,
            };
            let policy = match spec.write_hole {
                WriteHole::Journal => ConsistencyPolicy::Journal,
                WriteHole::Ppl => ConsistencyPolicy::Ppl,
                // mdadm adds an internal bitmap to any array over 100 GB.
                WriteHole::Open => ConsistencyPolicy::Bitmap,
            };
            state.make_array(
                &spec.name,
                spec.level,
                spec.chunk_kib,
                policy,
                &members,
                &spares,
                journal,
                now,
                speed,
            )
        })
    }

    fn persist_array(
        &self,
        name: &str,
        uuid: &str,
        _log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        self.change(|state| {
            let a = state
                .arrays
                .iter()
                .find(|a| a.uuid == uuid)
                .ok_or_else(|| {
                    BackendError::Gone(format!("there is no md array with UUID {uuid}"))
                })?;
            if a.md_name != name {
                return Err(BackendError::Refused(format!(
                    "the md array with UUID {uuid} is {}, not {name}",
                    a.md_name
                )));
            }
            let line = ConfLine {
                md_name: name.to_string(),
                uuid: uuid.to_string(),
            };
            if state.mdadm_conf.contains(&line) {
                return Ok(format!(
                    "{name} (UUID {uuid}) was already recorded for boot"
                ));
            }
            state.mdadm_conf.retain(|l| l.md_name != name);
            state.mdadm_conf.push(line);
            Ok(format!(
                "recorded ARRAY /dev/md/{name} UUID={uuid} in mdadm.conf"
            ))
        })
    }

    fn forget_array(
        &self,
        name: &str,
        uuid: &str,
        _log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        self.change(|state| {
            let before = state.mdadm_conf.len();
            state
                .mdadm_conf
                .retain(|l| !(l.md_name == name && l.uuid == uuid));
            Ok(if state.mdadm_conf.len() == before {
                format!("mdadm.conf had no line for {name} (UUID {uuid})")
            } else {
                format!("removed {name} (UUID {uuid}) from mdadm.conf")
            })
        })
    }

    fn set_stripe_cache(
        &self,
        name: &str,
        pages: u32,
        _log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let (now, speed) = self.tick();
        self.change(|state| {
            state.settle_arrays(now, speed);
            let a = state.running(name)?;
            if !matches!(a.level, RaidLevel::Raid5 | RaidLevel::Raid6) {
                return Err(BackendError::Refused(format!(
                    "{} ({name}) is {}: only raid5 and raid6 have a stripe cache",
                    a.kernel,
                    a.level.as_str()
                )));
            }
            if !(17..=32768).contains(&pages) {
                return Err(BackendError::Refused(format!(
                    "md takes a stripe cache of 17 to 32768 pages, not {pages}"
                )));
            }
            let words = format!(
                "{pages} pages per member ({} MiB of memory)",
                u64::from(pages) * 4 * u64::from(a.raid_devices) / 1024
            );
            if a.stripe_cache_pages == Some(pages) {
                return Ok(format!(
                    "the stripe cache of {} was already {words}",
                    a.kernel
                ));
            }
            a.stripe_cache_pages = Some(pages);
            Ok(format!("the stripe cache of {} is now {words}", a.kernel))
        })
    }

    fn assemble(
        &self,
        name: &str,
        uuid: &str,
        _log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let (now, speed) = self.tick();
        self.change(|state| {
            state.settle_arrays(now, speed);
            let a = state
                .arrays
                .iter_mut()
                .find(|a| a.uuid == uuid)
                .ok_or_else(|| {
                    BackendError::Gone(format!(
                        "no drive here carries a member of the md array with UUID {uuid}"
                    ))
                })?;
            if a.md_name != name {
                return Err(BackendError::Refused(format!(
                    "the md array with UUID {uuid} is {}, not {name}",
                    a.md_name
                )));
            }
            if a.running {
                return Ok(format!("{name} ({}) was already running", a.kernel));
            }
            // A faulty member's superblock says so: it is left out.
            let mut candidate = a.clone();
            candidate.members.retain(|m| m.role != Role::Faulty);
            candidate.running = true;
            if candidate.lost() {
                let n = candidate.raid_devices - candidate.degraded_count();
                return Err(BackendError::Refused(format!(
                    "only {n} of the {} members of {name} are here; md would not start it",
                    candidate.raid_devices
                )));
            }
            candidate.settle(now, speed);
            *a = candidate;
            Ok(format!(
                "assembled {name} as {} from {} drives; {}",
                a.kernel,
                a.members.len(),
                state_words(a, now)
            ))
        })
    }

    fn sync_action(
        &self,
        name: &str,
        action: SyncAction,
        window: Option<SyncWindow>,
        _log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let (now, speed) = self.tick();
        self.change(|state| {
            state.settle_arrays(now, speed);
            let a = state.running(name)?;
            let kernel = a.kernel.clone();
            let running = a.op.as_ref().map(|o| o.action);
            match action {
                SyncAction::Idle => match running {
                    None => Ok(format!("{kernel} was already idle")),
                    Some(SyncAction::Check | SyncAction::Repair) => {
                        let (what, done) = a.interrupt(now).unwrap_or((action, 0));
                        Ok(format!(
                            "stopped the {} of {kernel} at sector {done}; {} mismatched sectors \
                             found",
                            what.as_str(),
                            a.mismatch_count
                        ))
                    }
                    Some(other) => Err(BackendError::Refused(format!(
                        "{kernel} is running a {}, which md picks up again at once; only a \
                         check or a repair stops",
                        other.as_str()
                    ))),
                },
                SyncAction::Check | SyncAction::Repair => {
                    let chunk = if a.level == RaidLevel::Raid1 {
                        0
                    } else {
                        u64::from(a.chunk_kib) * 2
                    };
                    let (min, max) = match window {
                        None => (0, None),
                        Some(w) => (w.min_sectors, w.max_sectors),
                    };
                    if let Some(max) = max {
                        if max < min {
                            return Err(BackendError::Refused(format!(
                                "a window from sector {min} to {max} ends before it starts"
                            )));
                        }
                        if chunk > 0 && !max.is_multiple_of(chunk) {
                            return Err(BackendError::Refused(format!(
                                "md ends a window on a chunk: sector {max} is not a multiple of \
                                 {chunk}"
                            )));
                        }
                    }
                    // md rounds the start down to 4 KiB.
                    let min = min / 8 * 8;
                    let max = max.filter(|m| *m < a.component_sectors);
                    if running == Some(action) && a.sync_min == min && a.sync_max == max {
                        return Ok(format!(
                            "{kernel} was already running that {}",
                            action.as_str()
                        ));
                    }
                    if let Some(other) = running {
                        return Err(BackendError::Busy(format!(
                            "{kernel} is running a {}; stop it first",
                            other.as_str()
                        )));
                    }
                    if a.degraded_count() > 0 {
                        return Err(BackendError::Refused(format!(
                            "{kernel} is degraded: there is nothing to compare a block with \
                             until it is rebuilt"
                        )));
                    }
                    if min >= a.component_sectors {
                        return Err(BackendError::Refused(format!(
                            "a window from sector {min} starts past the end of {kernel}'s \
                             members ({} sectors)",
                            a.component_sectors
                        )));
                    }
                    a.sync_min = min;
                    a.sync_max = max;
                    a.start_requested(action, now, speed);
                    // md rewrites each unreadable sector it meets from the
                    // other members.
                    let members: Vec<String> = a.members.iter().map(|m| m.ident.clone()).collect();
                    for ident in members {
                        if let Some(bad) = state.bad_sectors.get_mut(&ident) {
                            bad.retain(|lba| {
                                let at = lba.saturating_sub(SIM_DATA_OFFSET);
                                *lba < SIM_DATA_OFFSET || at < min || max.is_some_and(|m| at >= m)
                            });
                        }
                    }
                    let a = state.running(name)?;
                    let secs =
                        a.op.as_ref()
                            .and_then(|o| o.end_ms())
                            .map(|end| {
                                format!("; it takes about {} minutes", (end - now).div_ceil(60_000))
                            })
                            .unwrap_or_default();
                    Ok(format!(
                        "{kernel} began a {} from sector {min} to {}{secs}",
                        action.as_str(),
                        max.map_or("the end".to_string(), |m| format!("sector {m}"))
                    ))
                }
                other => Err(BackendError::Refused(format!(
                    "md starts a {} by itself; a job asks only for check, repair or idle",
                    other.as_str()
                ))),
            }
        })
    }

    fn add_member(
        &self,
        name: &str,
        drive: &DriveRef,
        _log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let (now, speed) = self.tick();
        self.change(|state| {
            state.settle_arrays(now, speed);
            let i = state
                .array_index(name)
                .ok_or_else(|| BackendError::Gone(format!("there is no md array {name}")))?;
            state.running(name)?;
            let d = state.present(drive)?;
            let (ident, dev, size) = (d.ident.clone(), dev_of(d), d.size_bytes);
            let a = &state.arrays[i];
            if let Some(m) = a.member(&ident).map(|j| &a.members[j]) {
                return if m.role == Role::Faulty {
                    Err(BackendError::Refused(format!(
                        "{dev} is a faulty member of {}; remove it first",
                        a.kernel
                    )))
                } else {
                    Ok(format!("{dev} was already in {} ({name})", a.kernel))
                };
            }
            let label = format!("{HOST}:{name}");
            state.free_drive(drive, Some(&label))?;
            let a = &mut state.arrays[i];
            if size / 512 < a.component_sectors + md::DATA_OFFSET_SECTORS {
                return Err(BackendError::Refused(format!(
                    "{dev} ({}) is too small to join {}: each member holds {}",
                    size_words(size),
                    a.kernel,
                    size_words(a.component_sectors * 512)
                )));
            }
            a.members.push(SimMember {
                ident: ident.clone(),
                device: dev.clone(),
                number: a.next_number,
                role: Role::Spare,
                slot: None,
                want_replacement: false,
            });
            a.next_number += 1;
            let sig = SimSignature::md(name, &a.uuid);
            a.settle(now, speed);
            let role = a.member(&ident).map(|j| a.members[j].role);
            let words = if role == Some(Role::Rebuilding) {
                format!("added {dev} to {}; md rebuilds onto it", a.kernel)
            } else {
                format!("added {dev} to {} as a spare", a.kernel)
            };
            state.signatures.insert(ident, vec![sig]);
            Ok(words)
        })
    }

    fn fail_member(
        &self,
        name: &str,
        drive: &DriveRef,
        _log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let (now, speed) = self.tick();
        self.change(|state| {
            state.settle_arrays(now, speed);
            let a = state.running(name)?;
            let i = a.member(&drive.ident).ok_or_else(|| {
                BackendError::Refused(format!("{drive} is not a member of {}", a.kernel))
            })?;
            let m = &a.members[i];
            let dev = m.device.clone();
            if m.role == Role::Faulty {
                return Ok(format!("{dev} was already faulty in {}", a.kernel));
            }
            // md keeps a raid1's last mirror in sync: failing it would
            // lose the array.
            if a.level == RaidLevel::Raid1
                && m.role == Role::InSync
                && a.degraded_count() + 1 >= a.raid_devices
            {
                return Err(BackendError::Refused(format!(
                    "{dev} is the last in-sync mirror of {}; md does not fail it",
                    a.kernel
                )));
            }
            a.fail(i, now, speed);
            Ok(format!(
                "set {dev} faulty in {}; {}",
                a.kernel,
                state_words(a, now)
            ))
        })
    }

    fn remove_member(
        &self,
        name: &str,
        drive: &DriveRef,
        _log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let (now, speed) = self.tick();
        self.change(|state| {
            state.settle_arrays(now, speed);
            let a = state.running(name)?;
            let Some(i) = a.member(&drive.ident) else {
                return Ok(format!("{drive} was not in {}", a.kernel));
            };
            let m = &a.members[i];
            let dev = m.device.clone();
            match m.role {
                Role::Faulty | Role::Spare => {
                    a.members.remove(i);
                    Ok(format!("hot removed {dev} from {}", a.kernel))
                }
                Role::InSync => Err(BackendError::Refused(format!(
                    "{dev} is an active member of {}, in sync in slot {}; md removes only a \
                     faulty member or a spare (fail it first)",
                    a.kernel,
                    m.slot.unwrap_or(0)
                ))),
                Role::Rebuilding | Role::Replacement => Err(BackendError::Refused(format!(
                    "md is rebuilding {} onto {dev}; md removes only a faulty member or a spare",
                    a.kernel
                ))),
                Role::Journal => Err(BackendError::Refused(format!(
                    "{dev} is the write journal of {}; md removes only a faulty member or a spare",
                    a.kernel
                ))),
            }
        })
    }

    fn replace_member(
        &self,
        name: &str,
        old: &DriveRef,
        new: &DriveRef,
        _log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let (now, speed) = self.tick();
        self.change(|state| {
            state.settle_arrays(now, speed);
            let i = state
                .array_index(name)
                .ok_or_else(|| BackendError::Gone(format!("there is no md array {name}")))?;
            state.running(name)?;
            let a = &state.arrays[i];
            let kernel = a.kernel.clone();
            let o = a.member(&old.ident).ok_or_else(|| {
                BackendError::Refused(format!("{old} is not a member of {kernel}"))
            })?;
            let (old_dev, old_role, slot) = {
                let m = &a.members[o];
                (m.device.clone(), m.role, m.slot)
            };
            let new_at = a.member(&new.ident).map(|j| a.members[j].role);
            // Asked again: the replacement is under way or done.
            match (old_role, new_at) {
                (Role::InSync, Some(Role::Replacement)) => {
                    return Ok(format!("{old_dev} was already being replaced in {kernel}"));
                }
                (Role::Faulty, Some(Role::InSync)) => {
                    return Ok(format!("{old_dev} was already replaced in {kernel}"));
                }
                _ => {}
            }
            if old_role != Role::InSync {
                return Err(BackendError::Refused(format!(
                    "{old_dev} is not an active member of {kernel}: only a member in sync is \
                     replaced"
                )));
            }
            if a.degraded_count() > 0 {
                return Err(BackendError::Refused(format!(
                    "{kernel} is degraded: add {new} as a spare and md rebuilds the missing \
                     member onto it"
                )));
            }
            if let Some(op) = &a.op {
                return Err(BackendError::Busy(format!(
                    "{kernel} is running a {}; a replacement waits for it",
                    op.action.as_str()
                )));
            }
            match new_at {
                Some(Role::Spare) => {}
                Some(_) => {
                    return Err(BackendError::Refused(format!(
                        "{new} is already a member of {kernel}, and not a spare"
                    )));
                }
                None => {
                    // `mdadm --add NEW --replace OLD --with NEW`: it joins as a
                    // spare first.
                    let label = format!("{HOST}:{name}");
                    let (d, dev) = state.free_drive(new, Some(&label))?;
                    let (ident, size) = (d.ident.clone(), d.size_bytes);
                    let a = &mut state.arrays[i];
                    if size / 512 < a.component_sectors + md::DATA_OFFSET_SECTORS {
                        return Err(BackendError::Refused(format!(
                            "{dev} ({}) is too small to replace a member of {kernel}",
                            size_words(size)
                        )));
                    }
                    a.members.push(SimMember {
                        ident: ident.clone(),
                        device: dev,
                        number: a.next_number,
                        role: Role::Spare,
                        slot: None,
                        want_replacement: false,
                    });
                    a.next_number += 1;
                    let sig = SimSignature::md(name, &a.uuid);
                    state.signatures.insert(ident, vec![sig]);
                }
            }
            let a = &mut state.arrays[i];
            let n = a.member(&new.ident).expect("the new drive was added");
            a.members[o].want_replacement = true;
            a.members[n].role = Role::Replacement;
            a.members[n].slot = slot;
            a.settle(now, speed);
            let new_dev = a.members[n].device.clone();
            Ok(format!(
                "marked {old_dev} (device {} in {kernel}) for replacement; md rebuilds it onto \
                 {new_dev}",
                slot.unwrap_or(0)
            ))
        })
    }

    fn grow(
        &self,
        name: &str,
        raid_devices: u32,
        _log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let (now, speed) = self.tick();
        self.change(|state| {
            state.settle_arrays(now, speed);
            let a = state.running(name)?;
            let kernel = a.kernel.clone();
            let now_devices = a.raid_devices;
            if raid_devices == now_devices {
                return Ok(format!(
                    "{kernel} already has {raid_devices} devices{}",
                    if a.op
                        .as_ref()
                        .is_some_and(|o| o.action == SyncAction::Reshape)
                    {
                        "; its reshape is under way"
                    } else {
                        ""
                    }
                ));
            }
            if raid_devices < now_devices {
                return Err(BackendError::Refused(format!(
                    "{kernel} has {now_devices} devices; Baystack grows an array, never shrinks one"
                )));
            }
            if a.level == RaidLevel::Raid10 && !raid_devices.is_multiple_of(2) {
                return Err(BackendError::Refused(format!(
                    "raid10 keeps an even number of devices, so that each has its mirror; not \
                     {raid_devices}"
                )));
            }
            if raid_devices > MAX_RAID_DEVICES {
                return Err(BackendError::Refused(format!(
                    "an md array has at most {MAX_RAID_DEVICES} devices"
                )));
            }
            if let Some(op) = &a.op {
                return Err(BackendError::Busy(format!(
                    "{kernel} is running a {}; it grows once that is done",
                    op.action.as_str()
                )));
            }
            if a.degraded_count() > 0 {
                return Err(BackendError::Refused(format!(
                    "{kernel} is degraded: rebuild it before growing it"
                )));
            }
            let need = (raid_devices - now_devices) as usize;
            let spares: Vec<usize> = (0..a.members.len())
                .filter(|j| a.members[*j].role == Role::Spare)
                .collect();
            if spares.len() < need {
                return Err(BackendError::Refused(format!(
                    "growing {kernel} to {raid_devices} devices takes {need} spare{}; it has {}",
                    if need == 1 { "" } else { "s" },
                    spares.len()
                )));
            }
            let mut took = Vec::new();
            for (slot, j) in (now_devices..raid_devices).zip(spares) {
                let m = &mut a.members[j];
                m.slot = Some(slot);
                // raid1 rebuilds the new mirrors; the others reshape
                // with the new members in place.
                m.role = if a.level == RaidLevel::Raid1 {
                    Role::Rebuilding
                } else {
                    Role::InSync
                };
                took.push(m.device.clone());
            }
            a.raid_devices = raid_devices;
            if a.level == RaidLevel::Raid1 {
                a.settle(now, speed);
            } else {
                a.start_reshape(now, now_devices, speed);
            }
            Ok(format!(
                "{kernel} grows from {now_devices} to {raid_devices} devices with {}; {}",
                took.join(", "),
                state_words(a, now)
            ))
        })
    }

    fn stop_array(&self, name: &str, _log: &mut dyn CommandLog) -> Result<String, BackendError> {
        let (now, speed) = self.tick();
        self.change(|state| {
            state.settle_arrays(now, speed);
            let Some(i) = state.array_index(name).filter(|i| state.arrays[*i].running) else {
                return Ok(format!(
                    "there is no running md array {name}; nothing to stop"
                ));
            };
            let (kernel, uuid) = (state.arrays[i].kernel.clone(), state.arrays[i].uuid.clone());
            if let Some(vg) = state
                .volume_groups
                .iter()
                .find(|v| v.array_uuid == uuid && v.lv_count() > 0)
            {
                return Err(BackendError::Busy(format!(
                    "{kernel} is in use: volume group {} on it has {} active logical volumes",
                    vg.name,
                    vg.lv_count()
                )));
            }
            let journal = format!("md:{name}");
            if let Some(user) = state
                .arrays
                .iter()
                .find(|a| a.running && a.member(&journal).is_some())
            {
                return Err(BackendError::Busy(format!(
                    "{kernel} is in use: it is the write journal of {} ({})",
                    user.kernel, user.md_name
                )));
            }
            let a = &mut state.arrays[i];
            let was = a.interrupt(now);
            // md forgets a check's window with the array.
            if matches!(was, Some((SyncAction::Check | SyncAction::Repair, _))) {
                a.pending = None;
            }
            a.sync_min = 0;
            a.sync_max = None;
            a.running = false;
            Ok(format!(
                "stopped {kernel} ({name}){}",
                match was {
                    Some((SyncAction::Check | SyncAction::Repair, _)) | None => String::new(),
                    Some((what, done)) => format!(
                        "; its {} stopped at sector {done} and picks up there when it is \
                         assembled",
                        what.as_str()
                    ),
                }
            ))
        })
    }

    fn data_offset(
        &self,
        name: &str,
        drive: &DriveRef,
        _log: &mut dyn CommandLog,
    ) -> Result<u64, BackendError> {
        let (now, speed) = self.tick();
        self.change(|state| {
            state.settle_arrays(now, speed);
            let a = state.running(name)?;
            if a.member(&drive.ident).is_none() {
                return Err(BackendError::Refused(format!(
                    "pool {name}: drive {drive} is not in the array"
                )));
            }
            Ok(SIM_DATA_OFFSET)
        })
    }

    fn zero_range(
        &self,
        drive: &DriveRef,
        offset: u64,
        length: u64,
        _log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let (now, speed) = self.tick();
        self.change(|state| {
            state.settle_arrays(now, speed);
            state.present(drive)?;
            if state.holder(&drive.ident).is_some() {
                return Err(BackendError::Busy(format!(
                    "drive {drive} is in an md array; it is not zeroed"
                )));
            }
            let (from, to) = (offset / 512, (offset + length) / 512);
            if let Some(bad) = state.bad_sectors.get_mut(&drive.ident) {
                bad.retain(|lba| *lba < from || *lba >= to);
            }
            if offset == 0 {
                state.signatures.remove(&drive.ident);
            }
            Ok(format!(
                "drive {drive}: zeroes written from MiB {} to {}",
                offset >> 20,
                (offset + length) >> 20
            ))
        })
    }

    fn read_sector(
        &self,
        drive: &DriveRef,
        lba: u64,
        _log: &mut dyn CommandLog,
    ) -> Result<Option<String>, BackendError> {
        self.change(|state| {
            state.present(drive)?;
            Ok(state
                .bad_sectors
                .get(&drive.ident)
                .is_some_and(|bad| bad.contains(&lba))
                .then(|| format!("dd: error reading '{drive}': Input/output error")))
        })
    }

    fn zero_superblock(
        &self,
        drive: &DriveRef,
        _log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let (now, speed) = self.tick();
        self.change(|state| {
            state.settle_arrays(now, speed);
            let (ident, dev) = state.leave_stopped_arrays(drive)?;
            let sigs = state.signatures.entry(ident.clone()).or_default();
            let before = sigs.len();
            sigs.retain(|s| s.kind != "linux_raid_member");
            let removed = before - sigs.len();
            if sigs.is_empty() {
                state.signatures.remove(&ident);
            }
            Ok(if removed == 0 {
                format!("{dev} has no md superblock; there was nothing to clear")
            } else {
                format!("cleared the md superblock of {dev}")
            })
        })
    }
}

#[cfg(test)]
mod tests;

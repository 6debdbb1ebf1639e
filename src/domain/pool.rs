//! A pool as the system shows it: an md RAID array (its level, its state in
//! one word, the progress of a rebuild, its member disks and their roles)
//! and the LVM volume group on it with its logical volumes.
//!
//! Plain data, serde-serializable, no I/O: the `linux` parsers
//! (`storage::linux::md::parse`, `storage::linux::lvm::parse`) make these
//! from what the kernel and the tools print, and the web layer reads them.
//! A field a source does not give is `None` rather than a guess:
//! `mdadm --detail --export` says nothing of an array's state, and
//! `/proc/mdstat` does not say which member is being rebuilt.

use serde::{Deserialize, Serialize};

/// The RAID levels Baystack builds pools from. md's other personalities
/// (raid0, raid4, linear, multipath, containers) are read but have no
/// level here (see [`Array::level_text`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RaidLevel {
    Raid1,
    Raid5,
    Raid6,
    Raid10,
}

impl RaidLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            RaidLevel::Raid1 => "raid1",
            RaidLevel::Raid5 => "raid5",
            RaidLevel::Raid6 => "raid6",
            RaidLevel::Raid10 => "raid10",
        }
    }

    /// A level as md and mdadm print it or take it: `raid5` (mdstat,
    /// sysfs, `mdadm --detail`), `RAID-5` (old kernels' sysfs), `5`, and
    /// mdadm's `mirror` for raid1; any case. `None` for the others.
    pub fn parse(text: &str) -> Option<RaidLevel> {
        let t = text.trim().to_ascii_lowercase();
        let digits = t
            .strip_prefix("raid")
            .map(|r| r.trim_start_matches(['-', ' ']))
            .unwrap_or(&t);
        match digits {
            "1" | "mirror" => Some(RaidLevel::Raid1),
            "5" => Some(RaidLevel::Raid5),
            "6" => Some(RaidLevel::Raid6),
            "10" => Some(RaidLevel::Raid10),
            _ => None,
        }
    }

    /// The most members that may be missing with every block still
    /// readable somewhere: one for raid5, two for raid6, all but one for
    /// raid1. For raid10 it is an upper bound: `copies` copies of each
    /// block (near × far, 2 when not known) survive the loss of
    /// `devices - ceil(devices / copies)` members only if each lost member
    /// is from another mirror set; [`Array::state`] uses the members' slots
    /// where it knows them (see [`raid10_near_lost`]).
    pub fn tolerates(self, raid_devices: u32, copies: Option<u32>) -> u32 {
        match self {
            RaidLevel::Raid1 => raid_devices.saturating_sub(1),
            RaidLevel::Raid5 => 1,
            RaidLevel::Raid6 => 2,
            RaidLevel::Raid10 => {
                let copies = copies.filter(|c| *c >= 1).unwrap_or(2);
                raid_devices.saturating_sub(raid_devices.div_ceil(copies))
            }
        }
    }
}

/// Whether a raid10 array with the "near" layout (md's default, `n2`) has
/// lost data: its slots fall into sets of `copies` neighbours holding the
/// same blocks, and a set with no member in sync is gone. `in_sync` holds
/// one entry per slot. `None` where the rule does not apply (the device
/// count not a multiple of the copies, fewer than two copies).
pub fn raid10_near_lost(in_sync: &[bool], copies: u32) -> Option<bool> {
    let copies = usize::try_from(copies).ok()?;
    if copies < 2 || in_sync.is_empty() || !in_sync.len().is_multiple_of(copies) {
        return None;
    }
    Some(in_sync.chunks(copies).any(|set| set.iter().all(|ok| !ok)))
}

/// What md is doing to the whole array: the words of sysfs `sync_action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncAction {
    Idle,
    /// Making parity or mirrors agree after an unclean stop or at creation.
    Resync,
    /// Rebuilding onto a spare or a replacement.
    Recover,
    /// Changing the level, layout, chunk size or number of devices.
    Reshape,
    /// Reading everything and counting mismatches (a scrub).
    Check,
    /// A scrub that rewrites what does not match.
    Repair,
    /// Stopped by request until it is set again.
    Frozen,
}

impl SyncAction {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncAction::Idle => "idle",
            SyncAction::Resync => "resync",
            SyncAction::Recover => "recover",
            SyncAction::Reshape => "reshape",
            SyncAction::Check => "check",
            SyncAction::Repair => "repair",
            SyncAction::Frozen => "frozen",
        }
    }

    /// sysfs's words, and /proc/mdstat's `recovery` for `recover`.
    pub fn parse(text: &str) -> Option<SyncAction> {
        match text.trim() {
            "idle" => Some(SyncAction::Idle),
            "resync" => Some(SyncAction::Resync),
            "recover" | "recovery" => Some(SyncAction::Recover),
            "reshape" => Some(SyncAction::Reshape),
            "check" => Some(SyncAction::Check),
            "repair" => Some(SyncAction::Repair),
            "frozen" => Some(SyncAction::Frozen),
            _ => None,
        }
    }
}

/// An array's state in one word, for the pool's badge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArrayState {
    /// Running, every member in sync, nothing under way.
    Clean,
    /// Running with members missing, nothing under way.
    Degraded,
    Resyncing,
    Recovering,
    Reshaping,
    Checking,
    Repairing,
    /// Assembled but not started (members missing at boot, or stopped
    /// half-way): no I/O reaches it.
    Inactive,
    /// More members missing than its level survives: data is lost.
    Failed,
}

/// What a source says of an array, from which [`ArrayState::derive`] gives
/// the one word.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observed {
    /// Started (sysfs `array_state` other than `inactive` or `clear`,
    /// mdstat's `active`).
    pub running: bool,
    /// md or mdadm itself says it has failed (mdadm's `FAILED`, sysfs
    /// `broken`), or its members show it ([`RaidLevel::tolerates`],
    /// [`raid10_near_lost`]).
    pub failed: bool,
    pub sync_action: Option<SyncAction>,
    pub degraded_count: u32,
}

impl ArrayState {
    pub fn as_str(self) -> &'static str {
        match self {
            ArrayState::Clean => "clean",
            ArrayState::Degraded => "degraded",
            ArrayState::Resyncing => "resyncing",
            ArrayState::Recovering => "recovering",
            ArrayState::Reshaping => "reshaping",
            ArrayState::Checking => "checking",
            ArrayState::Repairing => "repairing",
            ArrayState::Inactive => "inactive",
            ArrayState::Failed => "failed",
        }
    }

    /// The one word: inactive before failed before whatever md is doing
    /// before degraded before clean. A degraded array being rebuilt is
    /// `Recovering` (its `degraded` flag stays set until the rebuild ends).
    pub fn derive(o: &Observed) -> ArrayState {
        if !o.running {
            return ArrayState::Inactive;
        }
        if o.failed {
            return ArrayState::Failed;
        }
        match o.sync_action {
            Some(SyncAction::Reshape) => ArrayState::Reshaping,
            Some(SyncAction::Recover) => ArrayState::Recovering,
            Some(SyncAction::Resync) => ArrayState::Resyncing,
            Some(SyncAction::Check) => ArrayState::Checking,
            Some(SyncAction::Repair) => ArrayState::Repairing,
            Some(SyncAction::Idle | SyncAction::Frozen) | None if o.degraded_count > 0 => {
                ArrayState::Degraded
            }
            Some(SyncAction::Idle | SyncAction::Frozen) | None => ArrayState::Clean,
        }
    }
}

/// How far a resync, recovery, reshape or check has got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// 0 to 100: md's own figure where it prints one (one decimal in
    /// /proc/mdstat, a whole number from `mdadm --detail`), else done over
    /// total.
    pub percent: f64,
    /// In 512-byte sectors of one member (mdstat's KiB doubled), where
    /// the source gives them.
    pub done_sectors: Option<u64>,
    pub total_sectors: Option<u64>,
    /// md's current rate, KiB per second.
    pub speed_kib_s: Option<u64>,
    /// md's estimate (mdstat's `finish=`, to a tenth of a minute), or the
    /// sectors left at the current rate.
    pub seconds_left: Option<u64>,
}

/// What the array's members are to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberRole {
    /// In a slot and in sync (or, from /proc/mdstat and
    /// `mdadm --detail --export`, in a slot: those do not say whether it is
    /// in sync).
    Active,
    /// Not in a slot, ready to take a failed member's place. md also lists
    /// every member of an inactive array as a spare, and
    /// `mdadm --detail --export` calls a journal or a faulty member one.
    Spare,
    /// Failed; stays listed until removed.
    Faulty,
    /// The write journal (raid4/5/6 `--write-journal`).
    Journal,
    /// Being built to take over a slot whose member is still there
    /// (`mdadm --replace`).
    Replacement,
    /// In a slot, being rebuilt.
    Rebuilding,
}

impl MemberRole {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberRole::Active => "active",
            MemberRole::Spare => "spare",
            MemberRole::Faulty => "faulty",
            MemberRole::Journal => "journal",
            MemberRole::Replacement => "replacement",
            MemberRole::Rebuilding => "rebuilding",
        }
    }
}

/// One disk (or partition) of an array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The kernel's name (`sdb`, `nvme0n1p2`) where the source gives it
    /// (mdstat, sysfs), else the path mdadm printed (`/dev/sdb`).
    pub device: String,
    pub role: MemberRole,
    /// Its position in the array (mdadm's RaidDevice, sysfs `slot`);
    /// `None` for spares, journals and faulty members, and from mdstat.
    pub slot: Option<u32>,
    /// md's descriptor number: mdadm's "Number", the `[n]` after the name
    /// in /proc/mdstat (not the slot).
    pub number: Option<u32>,
    /// The source's words for it: sysfs `state` (`in_sync`,
    /// `write_mostly`, ...), mdadm's (`active`, `sync`, `rebuilding`), or
    /// mdstat's flags as sysfs names them (`faulty` for `(F)`, `spare`,
    /// `journal`, `replacement`, `write_mostly`).
    pub state: Vec<String>,
}

/// How an array keeps its redundancy consistent after a crash (sysfs
/// `consistency_policy`, mdadm's "Consistency Policy").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsistencyPolicy {
    /// A full resync after an unclean stop.
    Resync,
    /// A write-intent bitmap: only the dirty regions are resynced.
    Bitmap,
    /// A write journal device.
    Journal,
    /// Partial parity log, kept in the members' metadata area.
    Ppl,
    /// Nothing to keep consistent (raid0, linear).
    #[serde(rename = "none")]
    NoPolicy,
}

impl ConsistencyPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsistencyPolicy::Resync => "resync",
            ConsistencyPolicy::Bitmap => "bitmap",
            ConsistencyPolicy::Journal => "journal",
            ConsistencyPolicy::Ppl => "ppl",
            ConsistencyPolicy::NoPolicy => "none",
        }
    }

    pub fn parse(text: &str) -> Option<ConsistencyPolicy> {
        match text.trim() {
            "resync" => Some(ConsistencyPolicy::Resync),
            "bitmap" => Some(ConsistencyPolicy::Bitmap),
            "journal" => Some(ConsistencyPolicy::Journal),
            "ppl" => Some(ConsistencyPolicy::Ppl),
            "none" => Some(ConsistencyPolicy::NoPolicy),
            _ => None,
        }
    }
}

/// What closes the raid5/raid6 write hole (a crash between writing data
/// and parity leaving parity that does not match): a journal, a partial
/// parity log, or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteHole {
    Journal,
    Ppl,
    /// Nothing closes it (a bitmap only narrows the resync).
    #[serde(rename = "none")]
    Open,
}

impl WriteHole {
    /// For a parity level only (raid5, raid6): mirrors have no write
    /// hole, so raid1 and raid10 give `None`, as does an unknown policy.
    pub fn of(level: Option<RaidLevel>, policy: Option<ConsistencyPolicy>) -> Option<WriteHole> {
        match level? {
            RaidLevel::Raid1 | RaidLevel::Raid10 => None,
            RaidLevel::Raid5 | RaidLevel::Raid6 => Some(match policy? {
                ConsistencyPolicy::Journal => WriteHole::Journal,
                ConsistencyPolicy::Ppl => WriteHole::Ppl,
                _ => WriteHole::Open,
            }),
        }
    }
}

/// The most devices an md array has: the 1.x superblock keeps up to 1920
/// device roles; more is not an array.
pub const MAX_RAID_DEVICES: u32 = 1920;

/// One md array.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Array {
    /// The kernel's name: `md127`. `None` from mdadm output that names the
    /// array by its `/dev/md/<name>` link only.
    pub name: Option<String>,
    /// The array's own name, the one of `/dev/md/<name>`: mdadm's "Name"
    /// without its `host:` prefix, `MD_DEVNAME`.
    pub md_name: Option<String>,
    /// In mdadm's form, `1276018e:e8048774:02f43efe:3900648f` (sysfs's
    /// `1276018e-e804-8774-...` is turned into it).
    pub uuid: Option<String>,
    pub level: Option<RaidLevel>,
    /// md's word for the level, kept for levels Baystack does not build
    /// (`raid0`, `linear`, `container`).
    pub level_text: Option<String>,
    /// Slots in the array (md's `raid_disks`).
    pub raid_devices: Option<u32>,
    /// `None` from `mdadm --detail --export`, which says nothing of it,
    /// and from /proc/mdstat and `mdadm --detail` while md runs what they
    /// call a resync: a resync or a requested repair, which only sysfs
    /// `sync_action` tells apart.
    pub state: Option<ArrayState>,
    /// Some slot has no member in sync.
    pub degraded: Option<bool>,
    /// Slots without a member in sync (md's `degraded`); never more than
    /// `raid_devices`.
    pub degraded_count: Option<u32>,
    /// `None` where the source does not say, as for [`Array::state`].
    pub sync_action: Option<SyncAction>,
    pub progress: Option<Progress>,
    pub consistency_policy: Option<ConsistencyPolicy>,
    /// Derived from the level and the consistency policy.
    pub write_hole: Option<WriteHole>,
    pub chunk_kib: Option<u64>,
    /// The array's usable size.
    pub size_bytes: Option<u64>,
    /// Sectors the last check or repair found not to match (sysfs
    /// `mismatch_cnt`; md counts in whole pages, so a multiple of 8), or
    /// found so far by the one running. md keeps it until the next
    /// check, repair or resync starts. Only sysfs gives it.
    pub mismatch_count: Option<u64>,
    /// Where a check or repair runs: only sysfs gives it.
    pub sync_window: Option<SyncWindow>,
    pub members: Vec<Member>,
}

/// The part of each member a check, repair or resync covers (sysfs
/// `sync_min`, `sync_max`), in 512-byte sectors. md leaves `sync_min`
/// where a check or repair was stopped, and the next one starts there,
/// not at 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncWindow {
    pub min_sectors: u64,
    /// `None` for md's `max`: to the end.
    pub max_sectors: Option<u64>,
}

impl Array {
    /// Clean: running with every member in, and md doing nothing to it.
    pub fn is_clean(&self) -> bool {
        self.state == Some(ArrayState::Clean)
    }

    /// The member on a device (`sdc`), if the array lists it.
    pub fn member(&self, device: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.device == device)
    }

    /// An array known by name only, everything else to be filled in.
    pub fn named(name: Option<String>) -> Array {
        Array {
            name,
            md_name: None,
            uuid: None,
            level: None,
            level_text: None,
            raid_devices: None,
            state: None,
            degraded: None,
            degraded_count: None,
            sync_action: None,
            progress: None,
            consistency_policy: None,
            write_hole: None,
            chunk_kib: None,
            size_bytes: None,
            mismatch_count: None,
            sync_window: None,
            members: Vec::new(),
        }
    }

    /// Whether what it says holds together; the parsers refuse input that
    /// would make an array fail this, rather than report it. Says what
    /// does not.
    pub fn check(&self) -> Result<(), String> {
        if let Some(n) = self.raid_devices
            && !(1..=MAX_RAID_DEVICES).contains(&n)
        {
            return Err(format!(
                "{n} raid devices (an array has 1 to {MAX_RAID_DEVICES})"
            ));
        }
        if let (Some(d), Some(n)) = (self.degraded_count, self.raid_devices)
            && d > n
        {
            return Err(format!("{d} of {n} devices missing"));
        }
        if let (Some(flag), Some(d)) = (self.degraded, self.degraded_count)
            && flag != (d > 0)
        {
            return Err(format!("degraded is {flag} with {d} devices missing"));
        }
        if let Some(p) = &self.progress {
            if !p.percent.is_finite() || !(0.0..=100.0).contains(&p.percent) {
                return Err(format!("{}% done", p.percent));
            }
            if let (Some(done), Some(total)) = (p.done_sectors, p.total_sectors)
                && done > total
            {
                return Err(format!("{done} of {total} sectors done"));
            }
        }
        if let Some(SyncWindow {
            min_sectors,
            max_sectors: Some(max),
        }) = self.sync_window
            && min_sectors > max
        {
            return Err(format!("a sync window from sector {min_sectors} to {max}"));
        }
        // md holds at most two members in one slot: its own and, while
        // `mdadm --replace` runs, the replacement being built for it.
        // `mdadm --detail --export` shows both with the slot and cannot
        // say which is which, so two members in a slot pass here; the
        // parsers of sources that do tell them apart refuse two that are
        // not a member and its replacement.
        let mut claims: Vec<(u32, u32, u32)> = Vec::new();
        for m in &self.members {
            let Some(slot) = m.slot else { continue };
            if let Some(n) = self.raid_devices
                && slot >= n
            {
                return Err(format!(
                    "{} is in slot {slot} of an array of {n} slots",
                    m.device
                ));
            }
            let replacement = match m.role {
                MemberRole::Active | MemberRole::Rebuilding => false,
                MemberRole::Replacement => true,
                _ => continue,
            };
            let at = match claims.iter().position(|c| c.0 == slot) {
                Some(at) => at,
                None => {
                    claims.push((slot, 0, 0));
                    claims.len() - 1
                }
            };
            let claim = &mut claims[at];
            if replacement {
                claim.2 += 1;
            } else {
                claim.1 += 1;
            }
            if claim.1 + claim.2 > 2 {
                return Err(format!("more than two members in slot {slot}"));
            }
            if claim.2 > 1 {
                return Err(format!("two replacements in slot {slot}"));
            }
        }
        Ok(())
    }
}

/// An LVM physical volume (`pvs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhysicalVolume {
    /// Its device: `/dev/md127`.
    pub name: String,
    /// Its volume group; `None` for a PV in none.
    pub vg: Option<String>,
    pub uuid: Option<String>,
    pub size_bytes: u64,
    pub free_bytes: u64,
    /// `pv_attr`: `a--` (allocatable, not exported, not missing).
    pub attr: Option<String>,
}

/// An LVM volume group (`vgs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeGroup {
    pub name: String,
    pub uuid: Option<String>,
    pub size_bytes: u64,
    pub free_bytes: u64,
    pub extent_size_bytes: Option<u64>,
    pub pv_count: u32,
    /// Visible logical volumes (LVM's count leaves out a thin pool's data
    /// and metadata volumes).
    pub lv_count: u32,
    /// `vg_attr`: `wz--n-`.
    pub attr: Option<String>,
}

/// An LVM logical volume (`lvs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogicalVolume {
    /// Without the brackets `lvs -a` puts round a hidden volume's name.
    pub name: String,
    pub vg: String,
    pub uuid: Option<String>,
    pub size_bytes: u64,
    /// `lv_attr`, ten characters: `twi-aotz--` for a thin pool,
    /// `Vwi-a-tz--` a thin volume, `-wi-a-----` a plain one.
    pub attr: Option<String>,
    /// `lv_layout`: `linear`, `thin,pool`, `thin,sparse`.
    pub layout: Option<String>,
    /// `lv_role`: `public`, `private,thin,pool,data`.
    pub role: Option<String>,
    /// The thin pool a thin volume is in.
    pub pool_lv: Option<String>,
    /// The volume a snapshot is of.
    pub origin: Option<String>,
    /// How full a thin pool or thin volume is, 0 to 100.
    pub data_percent: Option<f64>,
    /// How full a thin pool's metadata is, 0 to 100.
    pub metadata_percent: Option<f64>,
    /// Its device-mapper device exists (`lv_active`, else the fifth
    /// character of `lv_attr`).
    pub active: Option<bool>,
    /// Hidden from `lvs` without `-a`: a pool's data or metadata volume,
    /// the pool metadata spare.
    pub hidden: bool,
    /// `/dev/<vg>/<lv>`; `None` for a pool and for hidden volumes.
    pub path: Option<String>,
    /// Its device-mapper device's number, `major:minor` (`252:5`), while
    /// it is active (`lv_kernel_major`, `lv_kernel_minor`).
    pub kernel_device: Option<String>,
    /// `lv_health_status`: `partial`, `refresh needed`, `mismatches
    /// exist`, ...; `None` when healthy.
    pub health: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(running: bool, sync: Option<SyncAction>, degraded: u32) -> Observed {
        Observed {
            running,
            failed: false,
            sync_action: sync,
            degraded_count: degraded,
        }
    }

    #[test]
    fn levels_in_every_spelling_md_uses() {
        for (text, level) in [
            ("raid1", Some(RaidLevel::Raid1)),
            ("RAID-5", Some(RaidLevel::Raid5)),
            ("6", Some(RaidLevel::Raid6)),
            ("raid10", Some(RaidLevel::Raid10)),
            ("mirror", Some(RaidLevel::Raid1)),
            ("raid0", None),
            ("linear", None),
            ("raid4", None),
            ("", None),
        ] {
            assert_eq!(RaidLevel::parse(text), level, "{text}");
        }
        assert_eq!(
            RaidLevel::parse(RaidLevel::Raid10.as_str()),
            Some(RaidLevel::Raid10)
        );
    }

    #[test]
    fn one_word_for_the_state() {
        let s = |o: Observed| ArrayState::derive(&o);
        assert_eq!(
            s(observed(true, Some(SyncAction::Idle), 0)),
            ArrayState::Clean
        );
        assert_eq!(s(observed(true, None, 1)), ArrayState::Degraded);
        assert_eq!(
            s(observed(true, Some(SyncAction::Recover), 1)),
            ArrayState::Recovering
        );
        assert_eq!(
            s(observed(false, Some(SyncAction::Resync), 0)),
            ArrayState::Inactive
        );
        let failed = Observed {
            failed: true,
            ..observed(true, Some(SyncAction::Recover), 2)
        };
        assert_eq!(s(failed), ArrayState::Failed);
    }

    #[test]
    fn what_each_level_survives() {
        assert_eq!(RaidLevel::Raid1.tolerates(3, None), 2);
        assert_eq!(RaidLevel::Raid5.tolerates(8, None), 1);
        assert_eq!(RaidLevel::Raid6.tolerates(8, None), 2);
        assert_eq!(RaidLevel::Raid10.tolerates(4, Some(2)), 2);
        assert_eq!(RaidLevel::Raid10.tolerates(3, Some(2)), 1);
        assert_eq!(RaidLevel::Raid10.tolerates(6, Some(3)), 4);
        assert_eq!(RaidLevel::Raid10.tolerates(4, Some(0)), 2);
        // Two of four gone: data lost only if both held the same blocks.
        assert_eq!(
            raid10_near_lost(&[true, false, false, true], 2),
            Some(false)
        );
        assert_eq!(raid10_near_lost(&[false, false, true, true], 2), Some(true));
        assert_eq!(raid10_near_lost(&[true, true, true], 2), None);
    }

    #[test]
    fn the_write_hole_is_a_parity_question() {
        use ConsistencyPolicy as P;
        let r5 = Some(RaidLevel::Raid5);
        assert_eq!(
            WriteHole::of(r5, Some(P::Journal)),
            Some(WriteHole::Journal)
        );
        assert_eq!(WriteHole::of(r5, Some(P::Ppl)), Some(WriteHole::Ppl));
        assert_eq!(WriteHole::of(r5, Some(P::Bitmap)), Some(WriteHole::Open));
        assert_eq!(WriteHole::of(r5, None), None);
        assert_eq!(WriteHole::of(Some(RaidLevel::Raid1), Some(P::Bitmap)), None);
        assert_eq!(
            serde_json::to_value(WriteHole::Open).unwrap(),
            serde_json::json!("none")
        );
        assert_eq!(
            serde_json::to_value(P::NoPolicy).unwrap(),
            serde_json::json!("none")
        );
    }

    #[test]
    fn an_array_that_does_not_hold_together_is_refused() {
        let mut a = Array::named(Some("md0".into()));
        a.raid_devices = Some(4);
        a.degraded_count = Some(5);
        assert!(a.check().unwrap_err().contains("5 of 4"));
        a.degraded_count = Some(1);
        a.degraded = Some(false);
        assert!(a.check().is_err());
        a.degraded = Some(true);
        a.progress = Some(Progress {
            percent: 100.5,
            done_sectors: None,
            total_sectors: None,
            speed_kib_s: None,
            seconds_left: None,
        });
        assert!(a.check().is_err());
        a.progress = None;
        a.raid_devices = Some(0);
        assert!(a.check().is_err());
        a.raid_devices = Some(4);
        assert_eq!(a.check(), Ok(()));

        // A slot's member and its replacement, as every source shows a
        // replace (export with both as in the slot); never three, never
        // two replacements.
        let member = |device: &str, role: MemberRole| Member {
            device: device.into(),
            role,
            slot: Some(0),
            number: None,
            state: Vec::new(),
        };
        a.members = vec![
            member("sda", MemberRole::Active),
            member("sdc", MemberRole::Replacement),
        ];
        assert_eq!(a.check(), Ok(()));
        a.members[1].role = MemberRole::Active;
        assert_eq!(a.check(), Ok(()));
        a.members.push(member("sdd", MemberRole::Rebuilding));
        assert!(a.check().unwrap_err().contains("more than two"));
        a.members = vec![
            member("sdc", MemberRole::Replacement),
            member("sdd", MemberRole::Replacement),
        ];
        assert!(a.check().unwrap_err().contains("two replacements"));
        a.members.clear();
        a.sync_window = Some(SyncWindow {
            min_sectors: 9,
            max_sectors: Some(8),
        });
        assert!(a.check().is_err());
        a.sync_window = Some(SyncWindow {
            min_sectors: 9,
            max_sectors: None,
        });
        assert_eq!(a.check(), Ok(()));
    }
}

/// A drive as a job names it to an engine: its identity (checked again by
/// the engine before it touches the drive), and its stable name under
/// `/dev/disk/by-id` where it has one (the kernel name changes across
/// boots and is kept for messages only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriveRef {
    /// `wwn:<WWN>` or `serial:<SERIAL>`, as [`crate::domain::Drive::ident`].
    pub ident: String,
    pub serial: String,
    pub by_id: Option<String>,
    pub dev_name: Option<String>,
}

impl std::fmt::Display for DriveRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.dev_name {
            Some(dev) => write!(f, "{} ({dev})", self.serial),
            None => f.write_str(&self.serial),
        }
    }
}

/// A new pool's array, as the create job asks the engine for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArraySpec {
    /// The pool's name: the array is `/dev/md/<name>`, its volume group
    /// `<name>`. Validated by `naming::validate_pool_name`.
    pub name: String,
    pub level: RaidLevel,
    /// The members, in slot order.
    pub members: Vec<DriveRef>,
    pub spares: Vec<DriveRef>,
    /// For raid5 and raid6; `Open` for raid1 and raid10, which have no
    /// write hole.
    pub write_hole: WriteHole,
    /// With [`WriteHole::Journal`]: one device, or two mirrored (an md
    /// raid1 `<name>-journal` made first, the recommended choice: md stops
    /// writing to an array whose journal is lost).
    pub journal: Vec<DriveRef>,
    /// The chunk, for raid5, raid6 and raid10.
    pub chunk_kib: u32,
}

impl ArraySpec {
    /// `/dev/md/<name>`.
    pub fn device(&self) -> String {
        format!("/dev/md/{}", self.name)
    }

    /// The name of the journal's own mirror, when it has one.
    pub fn journal_mirror(&self) -> Option<String> {
        (self.write_hole == WriteHole::Journal && self.journal.len() == 2)
            .then(|| format!("{}-journal", self.name))
    }
}

/// md's chunk when none is asked for: 512 KiB, mdadm's own default.
pub const DEFAULT_CHUNK_KIB: u32 = 512;

/// The stripe cache a raid5 or raid6 array gets, in pages (4 KiB) per
/// member: a sixty-fourth of the machine's memory for the array, split
/// over its members, rounded down to a power of two, and kept between
/// md's default of 256 and its most, 32768. A bigger cache lets md gather
/// whole stripes before it writes parity (fewer read-modify-write cycles);
/// md takes the memory whether or not it is used.
pub fn stripe_cache_pages(memory_bytes: u64, members: u32) -> u32 {
    const PAGE: u64 = 4096;
    let per_member = memory_bytes / 64 / PAGE / u64::from(members.max(1));
    let pages = u32::try_from(per_member)
        .unwrap_or(u32::MAX)
        .clamp(256, 32768);
    1 << (31 - pages.leading_zeros())
}

#[cfg(test)]
mod spec_tests {
    use super::*;

    #[test]
    fn the_stripe_cache_follows_the_memory() {
        let gib = 1u64 << 30;
        // 16 GiB, 6 members: 256 MiB / 6 / 4 KiB = 10922, so 8192.
        assert_eq!(stripe_cache_pages(16 * gib, 6), 8192);
        // A small machine keeps md's default; a big one md's most.
        assert_eq!(stripe_cache_pages(gib, 12), 256);
        assert_eq!(stripe_cache_pages(1024 * gib, 4), 32768);
        assert_eq!(stripe_cache_pages(0, 0), 256);
    }
}

/// The window of md's own sectors (`sync_min`/`sync_max`) a repair covers
/// to rewrite sector `lba` of a member whose data starts `data_offset`
/// sectors in, from the array's redundancy: the chunk that holds it (md
/// wants a raid4/5/6 window on chunk boundaries), or for a mirror the 64
/// KiB around it. `None` when the sector lies before the member's data (md
/// does not hold it: its superblock or the gap), or for raid10, whose
/// window md counts over the whole array (its whole array is repaired
/// instead). Sectors are 512 bytes, as the kernel counts them.
pub fn heal_window(
    level: RaidLevel,
    chunk_kib: Option<u64>,
    data_offset: u64,
    lba: u64,
) -> Option<SyncWindow> {
    let at = lba.checked_sub(data_offset)?;
    let span = match level {
        RaidLevel::Raid1 => 128,
        RaidLevel::Raid5 | RaidLevel::Raid6 => chunk_kib.filter(|c| *c > 0)? * 2,
        RaidLevel::Raid10 => return None,
    };
    let min_sectors = at / span * span;
    Some(SyncWindow {
        min_sectors,
        max_sectors: Some(min_sectors + span),
    })
}

#[cfg(test)]
mod heal_tests {
    use super::*;

    #[test]
    fn a_sector_is_healed_by_its_chunk() {
        // 512 KiB chunks are 1024 sectors; data from sector 2048.
        let w = heal_window(RaidLevel::Raid5, Some(512), 2048, 2048 + 1500).unwrap();
        assert_eq!((w.min_sectors, w.max_sectors), (1024, Some(2048)));
        let w = heal_window(RaidLevel::Raid6, Some(64), 2048, 2048).unwrap();
        assert_eq!((w.min_sectors, w.max_sectors), (0, Some(128)));
        let w = heal_window(RaidLevel::Raid1, None, 8192, 8192 + 300).unwrap();
        assert_eq!((w.min_sectors, w.max_sectors), (256, Some(384)));
        assert_eq!(
            heal_window(RaidLevel::Raid5, Some(512), 2048, 100),
            None,
            "superblock area"
        );
        assert_eq!(heal_window(RaidLevel::Raid10, Some(512), 2048, 4096), None);
        assert_eq!(
            heal_window(RaidLevel::Raid5, None, 2048, 4096),
            None,
            "no chunk known"
        );
    }
}

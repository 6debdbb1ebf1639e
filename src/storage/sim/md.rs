//! The simulator's md: arrays as the kernel keeps them (members in slots,
//! spares, faulty members that stay listed until removed, a journal) and
//! what md does on its own as time passes: a resync, a recovery onto a
//! spare, a replacement, a reshape, a check or a repair runs at a rate
//! and finishes, and the next thing md would start starts at that moment.
//!
//! Plain data and pure functions of the time handed in: no clock, no
//! file. An array's state is kept as of its last change, with the
//! operation under way and when it started; [`SimArray::settle`] brings it
//! to any later time, so a reader that does not write back sees what a
//! writer would.

use serde::{Deserialize, Serialize};

use crate::domain::pool::{
    Array, ArrayState, ConsistencyPolicy, Member, MemberRole, Observed, Progress, RaidLevel,
    SyncAction, SyncWindow, WriteHole, raid10_near_lost,
};

/// Where mdadm puts the data on a large member with 1.2 metadata: 129 MiB
/// in (`Data Offset : 264192 sectors`); the superblock, bitmap and PPL
/// live before it.
pub(super) const DATA_OFFSET_SECTORS: u64 = 264_192;

/// What md reads and writes per member while it syncs, at simulator
/// speed 1: about what a 7200 rpm drive streams.
pub(super) const MIB_S_PER_MEMBER: u64 = 150;

/// The host part of md's `host:name`, as mdadm writes it in a superblock.
pub(super) const HOST: &str = "baystack";

/// md's rate at `speed`, KiB per second per member; at least 1.
pub(super) fn rate_kib_s(speed: f64) -> u64 {
    ((MIB_S_PER_MEMBER * 1024) as f64 * speed).round().max(1.0) as u64
}

/// What a member is to its array, as sysfs `dev-*/state` tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Role {
    /// In a slot and in sync.
    InSync,
    /// Not in a slot.
    Spare,
    /// A spare given a missing slot, being rebuilt.
    Rebuilding,
    /// Being built to take over a slot whose member is still in it.
    Replacement,
    Faulty,
    Journal,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SimMember {
    /// The drive's ident, or `md:<name>` for a mirrored journal (an md
    /// array itself).
    pub ident: String,
    /// The kernel's name: `sdb`, or `md127` for a mirrored journal.
    pub device: String,
    /// md's descriptor number, in the order members joined.
    pub number: u32,
    pub role: Role,
    #[serde(default)]
    pub slot: Option<u32>,
    /// Marked for replacement (`mdadm --replace`): it stays in sync in
    /// its slot until its replacement is built.
    #[serde(default)]
    pub want_replacement: bool,
}

/// A resync, recovery, reshape, check or repair under way: it runs from
/// `from_sectors` to `to_sectors` of each member at `rate_kib_s`, from
/// `started_ms` on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SimOp {
    pub action: SyncAction,
    pub started_ms: u64,
    pub from_sectors: u64,
    pub to_sectors: u64,
    pub rate_kib_s: u64,
    /// A check or repair whose window ends before the members do: md
    /// stops at `sync_max` and waits there, still checking, until the
    /// window is moved or the check is stopped.
    #[serde(default)]
    pub waits: bool,
    /// For a reshape: the slots before it (the array keeps the size they
    /// give until the reshape is done).
    #[serde(default)]
    pub previous_devices: Option<u32>,
}

impl SimOp {
    /// Sectors of each member done at `now`.
    pub fn done_at(&self, now_ms: u64) -> u64 {
        let elapsed = u128::from(now_ms.saturating_sub(self.started_ms));
        let sectors = elapsed * u128::from(self.rate_kib_s) * 2 / 1000;
        let done = u128::from(self.from_sectors) + sectors;
        done.min(u128::from(self.to_sectors)) as u64
    }

    /// When it ends by itself; `None` for one that waits at its window's
    /// end.
    pub fn end_ms(&self) -> Option<u64> {
        if self.waits {
            return None;
        }
        let sectors = u128::from(self.to_sectors.saturating_sub(self.from_sectors));
        let ms = (sectors * 500).div_ceil(u128::from(self.rate_kib_s.max(1)));
        Some(self.started_ms + u64::try_from(ms).unwrap_or(u64::MAX / 2))
    }
}

/// Work md remembers but is not doing: a resync broken off by a failure
/// (md picks it up once the array is whole), or whatever ran when the
/// array was stopped (picked up when it is assembled).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Pending {
    pub action: SyncAction,
    pub from_sectors: u64,
    #[serde(default)]
    pub previous_devices: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SimArray {
    /// `/dev/md/<md_name>`: a pool's name, or `<pool>-journal`.
    pub md_name: String,
    /// `md127`: kept across a stop, so an array keeps its name.
    pub kernel: String,
    /// In mdadm's form.
    pub uuid: String,
    pub level: RaidLevel,
    pub raid_devices: u32,
    pub chunk_kib: u32,
    pub policy: ConsistencyPolicy,
    /// The part of each member that holds data (md's `component_size`),
    /// in sectors.
    pub component_sectors: u64,
    /// Started; a stopped array is on its members' superblocks only.
    pub running: bool,
    pub members: Vec<SimMember>,
    pub next_number: u32,
    #[serde(default)]
    pub op: Option<SimOp>,
    #[serde(default)]
    pub pending: Option<Pending>,
    /// Sectors the last (or running) check or repair found not to match.
    #[serde(default)]
    pub mismatch_count: u64,
    /// Where, in sectors of each member, a 4 KiB block does not match its
    /// parity or mirror (planted by `baystack sim mismatch`).
    #[serde(default)]
    pub planted: Vec<u64>,
    #[serde(default)]
    pub sync_min: u64,
    #[serde(default)]
    pub sync_max: Option<u64>,
    /// raid5/raid6 `stripe_cache_size`, pages per member.
    #[serde(default)]
    pub stripe_cache_pages: Option<u32>,
}

/// md counts mismatches in 4 KiB pages of 8 sectors.
const PAGE_SECTORS: u64 = 8;

impl SimArray {
    /// Slots that have a member in sync.
    fn in_sync(&self) -> Vec<bool> {
        (0..self.raid_devices)
            .map(|s| {
                self.members
                    .iter()
                    .any(|m| m.role == Role::InSync && m.slot == Some(s))
            })
            .collect()
    }

    pub fn degraded_count(&self) -> u32 {
        self.in_sync().iter().filter(|ok| !**ok).count() as u32
    }

    /// More members missing than the level survives: data is lost.
    pub fn lost(&self) -> bool {
        let in_sync = self.in_sync();
        let missing = in_sync.iter().filter(|ok| !**ok).count() as u32;
        match self.level {
            RaidLevel::Raid10 => raid10_near_lost(&in_sync, 2)
                .unwrap_or_else(|| missing > self.level.tolerates(self.raid_devices, Some(2))),
            RaidLevel::Raid1 => missing >= self.raid_devices,
            level => missing > level.tolerates(self.raid_devices, None),
        }
    }

    /// The array's usable size in sectors with `devices` slots.
    fn sectors_with(&self, devices: u32) -> u64 {
        let (c, n) = (self.component_sectors, u64::from(devices));
        match self.level {
            RaidLevel::Raid1 => c,
            RaidLevel::Raid5 => c * n.saturating_sub(1),
            RaidLevel::Raid6 => c * n.saturating_sub(2),
            RaidLevel::Raid10 => c * n / 2,
        }
    }

    /// The usable size now: a reshape keeps the old size until it is done.
    pub fn size_bytes(&self) -> u64 {
        let previous = self
            .op
            .as_ref()
            .and_then(|o| o.previous_devices)
            .or(self.pending.as_ref().and_then(|p| p.previous_devices));
        let devices = previous.map_or(self.raid_devices, |p| p.min(self.raid_devices));
        self.sectors_with(devices) * 512
    }

    pub fn member(&self, ident: &str) -> Option<usize> {
        self.members.iter().position(|m| m.ident == ident)
    }

    /// The blocks planted in `[from, to)`, in sectors as md counts them.
    fn found(&self, from: u64, to: u64) -> u64 {
        self.planted
            .iter()
            .filter(|p| (from..to).contains(*p))
            .count() as u64
            * PAGE_SECTORS
    }

    /// Plants `blocks` mismatched 4 KiB blocks, spread evenly over the
    /// members; returns how many are planted now.
    pub fn plant(&mut self, blocks: u32) -> usize {
        let span = self.component_sectors / PAGE_SECTORS;
        let n = u64::from(blocks);
        for i in 0..n {
            // The next free block from an even spot, so a second planting
            // adds blocks rather than landing on the first ones.
            let mut page = span * (2 * i + 1) / (2 * n);
            while page < span && self.planted.contains(&(page * PAGE_SECTORS)) {
                page += 1;
            }
            if page < span {
                self.planted.push(page * PAGE_SECTORS);
            }
        }
        self.planted.sort_unstable();
        self.planted.len()
    }

    fn start(&mut self, action: SyncAction, at_ms: u64, from: u64, speed: f64) {
        self.op = Some(SimOp {
            action,
            started_ms: at_ms,
            from_sectors: from.min(self.component_sectors),
            to_sectors: self.component_sectors,
            rate_kib_s: rate_kib_s(speed),
            waits: false,
            previous_devices: None,
        });
    }

    /// Starts a reshape to the slots the array has now from `previous`.
    pub fn start_reshape(&mut self, at_ms: u64, previous: u32, speed: f64) {
        self.start(SyncAction::Reshape, at_ms, 0, speed);
        if let Some(op) = self.op.as_mut() {
            op.previous_devices = Some(previous);
        }
    }

    /// Starts a check or a repair over the window in `sync_min`/`sync_max`.
    pub fn start_requested(&mut self, action: SyncAction, at_ms: u64, speed: f64) {
        let end = self
            .sync_max
            .map_or(self.component_sectors, |m| m.min(self.component_sectors));
        self.mismatch_count = 0;
        self.op = Some(SimOp {
            action,
            started_ms: at_ms,
            from_sectors: self.sync_min.min(end),
            to_sectors: end,
            rate_kib_s: rate_kib_s(speed),
            waits: end < self.component_sectors,
            previous_devices: None,
        });
    }

    /// What md starts by itself when nothing runs: a reshape broken off by
    /// a stop, a recovery onto spares (the lowest missing slot first),
    /// a replacement for a member marked for one, a resync broken off
    /// once the array is whole again.
    fn start_next(&mut self, at_ms: u64, speed: f64) {
        if !self.running || self.op.is_some() || self.lost() {
            return;
        }
        if let Some(p) = self.pending.take_if(|p| p.action == SyncAction::Reshape) {
            self.start(SyncAction::Reshape, at_ms, p.from_sectors, speed);
            if let Some(op) = self.op.as_mut() {
                op.previous_devices = p.previous_devices;
            }
            return;
        }
        let in_sync = self.in_sync();
        for slot in 0..self.raid_devices {
            let taken = in_sync[slot as usize]
                || self
                    .members
                    .iter()
                    .any(|m| m.role == Role::Rebuilding && m.slot == Some(slot));
            if taken {
                continue;
            }
            let Some(spare) = self.members.iter_mut().find(|m| m.role == Role::Spare) else {
                break;
            };
            spare.role = Role::Rebuilding;
            spare.slot = Some(slot);
        }
        let wanting: Vec<u32> = self
            .members
            .iter()
            .filter(|m| m.role == Role::InSync && m.want_replacement)
            .filter_map(|m| m.slot)
            .collect();
        for slot in wanting {
            let has = self
                .members
                .iter()
                .any(|m| m.role == Role::Replacement && m.slot == Some(slot));
            if has {
                continue;
            }
            let Some(spare) = self.members.iter_mut().find(|m| m.role == Role::Spare) else {
                break;
            };
            spare.role = Role::Replacement;
            spare.slot = Some(slot);
        }
        let recovering = self
            .members
            .iter()
            .any(|m| matches!(m.role, Role::Rebuilding | Role::Replacement));
        let resumed = self.pending.take_if(|p| p.action == SyncAction::Recover);
        if recovering {
            let from = resumed.map_or(0, |p| p.from_sectors);
            self.start(SyncAction::Recover, at_ms, from, speed);
            return;
        }
        if self.degraded_count() == 0
            && let Some(p) = self.pending.take_if(|p| p.action == SyncAction::Resync)
        {
            self.mismatch_count = 0;
            self.start(SyncAction::Resync, at_ms, p.from_sectors, speed);
        }
    }

    /// What md does when the running operation reaches its end at `at`.
    fn finish(&mut self) {
        let Some(op) = self.op.take() else { return };
        match op.action {
            SyncAction::Resync => {
                // A resync rewrites parity and mirrors from the data.
                let (from, to) = (op.from_sectors, op.to_sectors);
                self.planted.retain(|p| !(from..to).contains(p));
            }
            SyncAction::Recover => {
                let replaced: Vec<u32> = self
                    .members
                    .iter()
                    .filter(|m| m.role == Role::Replacement)
                    .filter_map(|m| m.slot)
                    .collect();
                for m in &mut self.members {
                    match m.role {
                        Role::Rebuilding | Role::Replacement => m.role = Role::InSync,
                        Role::InSync
                            if m.want_replacement
                                && m.slot.is_some_and(|s| replaced.contains(&s)) =>
                        {
                            m.role = Role::Faulty;
                            m.slot = None;
                            m.want_replacement = false;
                        }
                        _ => {}
                    }
                }
            }
            SyncAction::Check | SyncAction::Repair => {
                self.end_requested(&op, op.to_sectors);
                // Done: md forgets the window.
                self.sync_min = 0;
                self.sync_max = None;
            }
            SyncAction::Reshape | SyncAction::Idle | SyncAction::Frozen => {}
        }
    }

    /// A check or repair ends at `done`: its count stays, a repair's
    /// blocks are rewritten.
    fn end_requested(&mut self, op: &SimOp, done: u64) {
        self.mismatch_count = self.found(op.from_sectors, done);
        if op.action == SyncAction::Repair {
            let from = op.from_sectors;
            self.planted.retain(|p| !(from..done).contains(p));
        }
    }

    /// Breaks off the running operation at `now`, as md does on a stop,
    /// a failure or `idle`; says what it was and how far it got. A check
    /// or repair leaves `sync_min` where it stopped; the others are
    /// remembered to be picked up.
    pub fn interrupt(&mut self, now_ms: u64) -> Option<(SyncAction, u64)> {
        let op = self.op.take()?;
        let done = op.done_at(now_ms);
        match op.action {
            SyncAction::Check | SyncAction::Repair => {
                self.end_requested(&op, done);
                self.sync_min = done;
            }
            SyncAction::Resync | SyncAction::Recover | SyncAction::Reshape => {
                self.pending = Some(Pending {
                    action: op.action,
                    from_sectors: done,
                    previous_devices: op.previous_devices,
                });
            }
            SyncAction::Idle | SyncAction::Frozen => {}
        }
        Some((op.action, done))
    }

    /// Brings the array to `now`: whatever ends before then ends, at its
    /// own time, and what md starts next starts then.
    pub fn settle(&mut self, now_ms: u64, speed: f64) {
        let mut at = now_ms;
        // Each turn ends an operation or stops; a bound keeps a mistake
        // from spinning.
        for _ in 0..64 {
            if !self.running {
                return;
            }
            if self.op.is_none() {
                self.start_next(at, speed);
            }
            match self.op.as_ref().and_then(SimOp::end_ms) {
                Some(end) if end <= now_ms => {
                    self.finish();
                    at = end;
                }
                _ => return,
            }
        }
    }

    /// md marks member `i` faulty at `now` (an I/O error, `mdadm --fail`,
    /// the drive pulled). Returns whether the array has now failed.
    pub fn fail(&mut self, i: usize, now_ms: u64, speed: f64) -> bool {
        let m = &mut self.members[i];
        let (role, slot) = (m.role, m.slot);
        m.role = Role::Faulty;
        m.slot = None;
        m.want_replacement = false;
        match role {
            Role::Faulty | Role::Spare | Role::Journal => {}
            Role::Rebuilding | Role::Replacement => {
                let others = self
                    .members
                    .iter()
                    .any(|m| matches!(m.role, Role::Rebuilding | Role::Replacement));
                if !others
                    && self
                        .op
                        .as_ref()
                        .is_some_and(|o| o.action == SyncAction::Recover)
                {
                    // Nothing left to rebuild onto: the recovery ends
                    // unfinished (another spare starts a new one).
                    self.op = None;
                }
            }
            Role::InSync => {
                // A replacement being built for it now rebuilds the slot.
                if let Some(r) = self
                    .members
                    .iter_mut()
                    .find(|m| m.role == Role::Replacement && m.slot == slot)
                {
                    r.role = Role::Rebuilding;
                }
                if self
                    .op
                    .as_ref()
                    .is_some_and(|o| !matches!(o.action, SyncAction::Recover | SyncAction::Reshape))
                {
                    self.interrupt(now_ms);
                }
            }
        }
        let lost = self.lost();
        if lost && let Some(op) = self.op.take() {
            // md gives up: what was being rebuilt goes back to being a spare.
            for m in &mut self.members {
                if matches!(m.role, Role::Rebuilding | Role::Replacement) {
                    m.role = Role::Spare;
                    m.slot = None;
                }
            }
            if op.action == SyncAction::Reshape {
                self.pending = Some(Pending {
                    action: op.action,
                    from_sectors: op.done_at(now_ms),
                    previous_devices: op.previous_devices,
                });
            }
        }
        self.settle(now_ms, speed);
        lost
    }

    /// The array as the kernel shows it at `now` (settled to `now`).
    pub fn observe(&self, now_ms: u64) -> Array {
        let mut a = Array::named(Some(self.kernel.clone()));
        a.md_name = Some(self.md_name.clone());
        a.uuid = Some(self.uuid.clone());
        a.level = Some(self.level);
        a.level_text = Some(self.level.as_str().to_string());
        a.raid_devices = Some(self.raid_devices);
        let degraded = self.degraded_count();
        a.degraded_count = Some(degraded);
        a.degraded = Some(degraded > 0);
        let action = self.op.as_ref().map_or(SyncAction::Idle, |o| o.action);
        a.sync_action = Some(action);
        a.state = Some(ArrayState::derive(&Observed {
            running: self.running,
            failed: self.lost(),
            sync_action: Some(action),
            degraded_count: degraded,
        }));
        a.progress = self.op.as_ref().map(|op| {
            let done = op.done_at(now_ms);
            let total = self.component_sectors;
            let waiting = op.waits && done >= op.to_sectors;
            let speed = if waiting { 0 } else { op.rate_kib_s };
            Progress {
                percent: if total == 0 {
                    0.0
                } else {
                    ((done as f64 / total as f64) * 1000.0).floor() / 10.0
                },
                done_sectors: Some(done),
                total_sectors: Some(total),
                speed_kib_s: Some(speed),
                seconds_left: (!waiting).then(|| {
                    (op.to_sectors - done)
                        .div_ceil(2)
                        .div_ceil(op.rate_kib_s.max(1))
                }),
            }
        });
        a.consistency_policy = Some(self.policy);
        a.write_hole = WriteHole::of(a.level, a.consistency_policy);
        a.chunk_kib = (self.level != RaidLevel::Raid1).then_some(u64::from(self.chunk_kib));
        a.size_bytes = Some(self.size_bytes());
        a.mismatch_count = Some(match &self.op {
            Some(op) if matches!(op.action, SyncAction::Check | SyncAction::Repair) => {
                self.found(op.from_sectors, op.done_at(now_ms))
            }
            _ => self.mismatch_count,
        });
        a.sync_window = Some(SyncWindow {
            min_sectors: self.sync_min,
            max_sectors: self.sync_max,
        });
        // mdadm --detail's order: the slots, a slot's replacement after
        // its member, then spares, the journal and the faulty.
        let mut members: Vec<&SimMember> = self.members.iter().collect();
        members.sort_by_key(|m| {
            let rank = match m.role {
                Role::InSync | Role::Rebuilding => 0,
                Role::Replacement => 1,
                Role::Spare => 2,
                Role::Journal => 3,
                Role::Faulty => 4,
            };
            (m.slot.unwrap_or(u32::MAX), rank, m.number)
        });
        a.members = members
            .into_iter()
            .map(|m| {
                let (role, state): (MemberRole, &[&str]) = match m.role {
                    Role::InSync if m.want_replacement => {
                        (MemberRole::Active, &["in_sync", "want_replacement"])
                    }
                    Role::InSync => (MemberRole::Active, &["in_sync"]),
                    Role::Spare => (MemberRole::Spare, &["spare"]),
                    Role::Rebuilding => (MemberRole::Rebuilding, &["spare"]),
                    Role::Replacement => (MemberRole::Replacement, &["spare", "replacement"]),
                    Role::Faulty => (MemberRole::Faulty, &["faulty"]),
                    Role::Journal => (MemberRole::Journal, &["journal"]),
                };
                Member {
                    device: m.device.clone(),
                    role,
                    slot: m.slot,
                    number: Some(m.number),
                    state: state.iter().map(|s| s.to_string()).collect(),
                }
            })
            .collect();
        a
    }
}

/// A UUID in mdadm's form from `seed`: the same name makes the same UUID.
pub(super) fn uuid_for(seed: &str) -> String {
    // FNV-1a, then splitmix64 over it for four words.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut words = Vec::new();
    for _ in 0..4 {
        h = h.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        words.push(format!("{:08x}", (z ^ (z >> 31)) as u32));
    }
    words.join(":")
}

/// mdadm's `1276018e:e8048774:02f43efe:3900648f` as blkid and wipefs
/// print it: `1276018e-e804-8774-02f4-3efe3900648f`.
pub(super) fn dashed_uuid(md: &str) -> String {
    let hex: String = md.chars().filter(|c| *c != ':').collect();
    if hex.len() != 32 {
        return md.to_string();
    }
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

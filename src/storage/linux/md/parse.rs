//! md arrays from the four places Linux shows them: `/proc/mdstat`,
//! `mdadm --detail`, `mdadm --detail --export`, and the array's sysfs
//! directory `/sys/block/mdX/md`. Each gives a part of the picture
//! (tests/fixtures/mdstat/SOURCES.md and the fixtures' READMEs say what
//! each capture shows):
//!
//! - mdstat: every array, its level, `[n/m]` slots in sync, rebuild
//!   progress with speed and time left, members with their flags (`(F)`
//!   faulty, `(S)` spare, `(J)` journal, `(R)` replacement, `(W)`
//!   write-mostly). Not which member is being rebuilt, nor the array's
//!   name or UUID, nor a partial parity log. The number after a member is
//!   md's descriptor number, not its slot. `recovery =` is a rebuild onto
//!   a spare, a replace or a new raid5's build; `resync =` a resync or a
//!   requested repair, which it does not tell apart, so it gives no state
//!   for it (see [`said_state`]).
//! - `mdadm --detail`: names, UUID, consistency policy, each member's slot
//!   and words (`spare rebuilding`, `faulty`, `journal`, `removed`); the
//!   progress as a whole percent only. Its `resyncing` is mdstat's
//!   `resync`, a repair too. For an inactive array: the level, and the
//!   members without slots or words (read as spares).
//! - `mdadm --detail --export`: level, UUID, names and each member's slot
//!   or `spare`, nothing of the state; `spare` there also means a journal,
//!   a faulty member or an inactive array's member, a member being rebuilt
//!   shows its slot, and while a replace runs the old member and the new
//!   both show the slot (which is which it does not say). An inactive
//!   array has no `MD_LEVEL`, and its `MD_DEVICES` counts its members, not
//!   its slots.
//! - sysfs: everything the kernel knows, in its own words; the one to
//!   trust for state, the only one to tell a repair (`sync_action`) and to
//!   give the mismatches a check found (`mismatch_cnt`). [`read_sysfs`]
//!   reads a directory into the map [`sysfs`] parses, and
//!   [`sysfs_capture`] makes that map from a `grep -r . /sys/block/mdX/md`
//!   capture.
//!
//! The parsers are pure and total: any text gives an array list or a
//! [`ParseError`] in words, never a panic, and never an array that does
//! not hold together ([`Array::check`]: a percent outside 0 to 100, more
//! slots missing than the array has).

use std::collections::BTreeMap;
use std::io::Read as _;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{Mode, SFlag};

use crate::domain::pool::{
    Array, ArrayState, ConsistencyPolicy, MAX_RAID_DEVICES, Member, MemberRole, Observed, Progress,
    RaidLevel, SyncAction, SyncWindow, WriteHole, raid10_near_lost,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The text is of another kind altogether.
    #[error("this is not {what}: {why}")]
    NotThis { what: &'static str, why: String },
    /// One line says something md would not.
    #[error("line {line}: {why}")]
    Line { line: usize, why: String },
    /// The whole says something md would not.
    #[error("{0}")]
    Bad(String),
}

fn line_error(line: usize, why: impl Into<String>) -> ParseError {
    ParseError::Line {
        line,
        why: why.into(),
    }
}

/// Text from the input, quoted for a message: its start only.
fn quoted(text: &str) -> String {
    let start: String = text.chars().take(40).collect();
    if start.len() < text.len() {
        format!("{start:?}...")
    } else {
        format!("{start:?}")
    }
}

/// Decimal digits only (`str::parse` takes a `+` too), fitting a u64.
fn whole(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn whole_u32(text: &str) -> Option<u32> {
    whole(text).and_then(|n| u32::try_from(n).ok())
}

/// `12.6` or `5`: a percentage md printed, 0 to 100. Not `f64::from_str`,
/// which takes `inf`, `NaN` and `1e5`.
fn percent(text: &str) -> Option<f64> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if int.is_empty() || int.len() > 3 || frac.len() > 3 {
        return None;
    }
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let p: f64 = text.parse().ok()?;
    (0.0..=100.0).contains(&p).then_some(p)
}

fn kib_to_bytes(kib: u64) -> Option<u64> {
    kib.checked_mul(1024)
}

/// A UUID in mdadm's form (`1276018e:e8048774:02f43efe:3900648f`) from
/// mdadm's or sysfs's (`1276018e-e804-8774-02f4-3efe3900648f`).
pub fn normalize_uuid(text: &str) -> Option<String> {
    let hex: String = text
        .trim()
        .chars()
        .filter(|c| *c != ':' && *c != '-')
        .collect();
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let hex = hex.to_ascii_lowercase();
    Some([&hex[0..8], &hex[8..16], &hex[16..24], &hex[24..32]].join(":"))
}

/// The array's name without the `host:` prefix mdadm puts on it.
fn without_host(name: &str) -> String {
    match name.split_once(':') {
        Some((_, own)) if !own.is_empty() => own.to_string(),
        _ => name.to_string(),
    }
}

/// Whether the array has lost data by the count of missing members and,
/// for raid10 in the near layout where `in_sync` gives each slot, by which
/// slots they are. `copies` is raid10's copies of each block.
fn lost(
    level: Option<RaidLevel>,
    raid_devices: Option<u32>,
    degraded_count: Option<u32>,
    copies: Option<u32>,
    in_sync: Option<&[bool]>,
) -> bool {
    let (Some(level), Some(n), Some(d)) = (level, raid_devices, degraded_count) else {
        return false;
    };
    if d == 0 {
        return false;
    }
    if level == RaidLevel::Raid10
        && let (Some(copies), Some(slots)) = (copies, in_sync)
        && let Some(lost) = raid10_near_lost(slots, copies)
    {
        return lost;
    }
    d > level.tolerates(n, copies)
}

/// The state in one word from what /proc/mdstat or `mdadm --detail`
/// said. Their `resync` (`resyncing`) is md's sync flag, which a
/// requested repair sets as well as a resync (and `resync=DELAYED` stands
/// for any sync waiting its turn): only sysfs `sync_action` tells them
/// apart, so there neither the action nor the state is said, rather than
/// guessed; the progress stands. Gives the state and the action.
fn said_state(o: Observed) -> (Option<ArrayState>, Option<SyncAction>) {
    let action = o.sync_action.filter(|a| *a != SyncAction::Resync);
    match ArrayState::derive(&o) {
        ArrayState::Resyncing => (None, None),
        state => (Some(state), action),
    }
}

// ---------------------------------------------------------------- mdstat

/// What one array's lines in /proc/mdstat said, before it becomes an
/// [`Array`].
struct MdstatEntry {
    line: usize,
    name: String,
    active: bool,
    level_text: Option<String>,
    members: Vec<Member>,
    blocks_kib: Option<u64>,
    chunk_kib: Option<u64>,
    near_copies: Option<u32>,
    far_copies: Option<u32>,
    /// `[n/m]`: slots, slots in sync.
    counts: Option<(u32, u32)>,
    /// `[UU_U]`: each slot in sync or not.
    pattern: Option<Vec<bool>>,
    bitmap: bool,
    sync_action: Option<SyncAction>,
    progress: Option<Progress>,
}

/// Every array /proc/mdstat lists, in its order (newest first, as the
/// kernel lists them). Empty when there are none.
pub fn mdstat(text: &str) -> Result<Vec<Array>, ParseError> {
    let mut seen_personalities = false;
    let mut entries: Vec<MdstatEntry> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let words: Vec<&str> = raw.split_whitespace().collect();
        let Some(first) = words.first() else { continue };
        if first.starts_with("Personalities") {
            seen_personalities = true;
            continue;
        }
        if words.get(1) == Some(&":") && first.starts_with("md") {
            entries.push(mdstat_header(n, &words)?);
            continue;
        }
        if ["unused", "read_ahead", "Event:"].contains(first) {
            continue;
        }
        // Lines before any array, and lines of a shape not known here
        // (a newer kernel's), are passed over.
        let Some(entry) = entries.last_mut() else {
            continue;
        };
        if words.contains(&"blocks") {
            mdstat_status(n, &words, entry)?;
            // Kernels before 2.4 put `resync=12%` at the end of it.
            if let Some((action, progress)) = mdstat_progress(n, &words)? {
                entry.sync_action = Some(action);
                entry.progress = progress;
            }
        } else if *first == "bitmap:" {
            entry.bitmap = true;
        } else if let Some((action, progress)) = mdstat_progress(n, &words)? {
            entry.sync_action = Some(action);
            entry.progress = progress;
        }
    }
    if !seen_personalities {
        return Err(ParseError::NotThis {
            what: "/proc/mdstat",
            why: "it has no \"Personalities\" line".into(),
        });
    }
    entries.into_iter().map(mdstat_array).collect()
}

/// `md127 : active (auto-read-only) raid5 sdb[1] sdc[2](F) ...`
fn mdstat_header(n: usize, words: &[&str]) -> Result<MdstatEntry, ParseError> {
    let name = words[0];
    if name.len() > 32 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(line_error(
            n,
            format!("{} is not an md device name", quoted(name)),
        ));
    }
    let active = match words.get(2) {
        Some(&"active") => true,
        Some(&"inactive") => false,
        other => {
            return Err(line_error(
                n,
                format!(
                    "{name} is neither active nor inactive but {}",
                    quoted(other.unwrap_or(&""))
                ),
            ));
        }
    };
    let mut entry = MdstatEntry {
        line: n,
        name: name.to_string(),
        active,
        level_text: None,
        members: Vec::new(),
        blocks_kib: None,
        chunk_kib: None,
        near_copies: None,
        far_copies: None,
        counts: None,
        pattern: None,
        bitmap: false,
        sync_action: None,
        progress: None,
    };
    for word in &words[3..] {
        if word.contains('[') {
            entry.members.push(mdstat_member(n, word)?);
        } else if word.starts_with('(') {
            // (read-only), (auto-read-only)
        } else if entry.level_text.is_none() && entry.members.is_empty() {
            entry.level_text = Some(word.to_string());
        } else {
            return Err(line_error(
                n,
                format!("{} is not a member of {name}", quoted(word)),
            ));
        }
    }
    Ok(entry)
}

/// `sdc1[2](W)(F)`: name, descriptor number, flags.
fn mdstat_member(n: usize, word: &str) -> Result<Member, ParseError> {
    let bad = || {
        line_error(
            n,
            format!("{} is not a member as md lists one", quoted(word)),
        )
    };
    let (device, rest) = word.split_once('[').ok_or_else(bad)?;
    let (number, mut flags) = rest.split_once(']').ok_or_else(bad)?;
    if device.is_empty() {
        return Err(bad());
    }
    let number = whole_u32(number).ok_or_else(bad)?;
    let mut state = Vec::new();
    while !flags.is_empty() {
        let inner = flags.strip_prefix('(').ok_or_else(bad)?;
        let (flag, after) = inner.split_once(')').ok_or_else(bad)?;
        state.push(
            match flag {
                "F" => "faulty",
                "S" => "spare",
                "J" => "journal",
                "R" => "replacement",
                "W" => "write_mostly",
                _ => return Err(bad()),
            }
            .to_string(),
        );
        flags = after;
    }
    let has = |w: &str| state.iter().any(|s| s == w);
    let role = if has("faulty") {
        MemberRole::Faulty
    } else if has("journal") {
        MemberRole::Journal
    } else if has("replacement") {
        MemberRole::Replacement
    } else if has("spare") {
        MemberRole::Spare
    } else {
        MemberRole::Active
    };
    Ok(Member {
        device: device.to_string(),
        role,
        slot: None,
        number: Some(number),
        state,
    })
}

/// `783360 blocks super 1.2 level 5, 64k chunk, algorithm 2 [4/3] [U_UU]`,
/// `2093056 blocks super 1.2 512K chunks 2 near-copies [4/4] [UUUU]`.
fn mdstat_status(n: usize, words: &[&str], entry: &mut MdstatEntry) -> Result<(), ParseError> {
    let bad = |why: String| line_error(n, why);
    for (i, word) in words.iter().enumerate() {
        let next = words.get(i + 1).copied().unwrap_or("");
        if *word == "blocks" {
            let kib = i
                .checked_sub(1)
                .and_then(|p| whole(words[p]))
                .ok_or_else(|| bad("no block count before \"blocks\"".into()))?;
            entry.blocks_kib = Some(kib);
        } else if next.starts_with("chunk")
            && let Some(size) = word.strip_suffix(['k', 'K'])
        {
            entry.chunk_kib = Some(
                whole(size)
                    .filter(|k| *k > 0)
                    .ok_or_else(|| bad(format!("{} is not a chunk size", quoted(word))))?,
            );
        } else if let Some(kind) = next.strip_suffix("-copies") {
            let copies = whole_u32(word)
                .filter(|c| *c >= 1)
                .ok_or_else(|| bad(format!("{} is not a number of copies", quoted(word))))?;
            match kind {
                "near" => entry.near_copies = Some(copies),
                _ => entry.far_copies = Some(copies),
            }
        } else if let Some(inner) = word.strip_prefix('[').and_then(|w| w.strip_suffix(']')) {
            if let Some((total, in_sync)) = inner.split_once('/') {
                let (Some(total), Some(in_sync)) = (whole_u32(total), whole_u32(in_sync)) else {
                    return Err(bad(format!("{} is not a device count", quoted(word))));
                };
                if in_sync > total {
                    return Err(bad(format!(
                        "{word} says {in_sync} of {total} devices are in sync"
                    )));
                }
                entry.counts = Some((total, in_sync));
            } else if !inner.is_empty() && inner.chars().all(|c| c == 'U' || c == '_') {
                entry.pattern = Some(inner.chars().map(|c| c == 'U').collect());
            }
        }
    }
    if let (Some((total, _)), Some(pattern)) = (entry.counts, &entry.pattern)
        && usize::try_from(total).ok() != Some(pattern.len())
    {
        return Err(bad(format!(
            "{} slots in the pattern, {total} in the count",
            pattern.len()
        )));
    }
    Ok(())
}

/// `[==>....]  recovery = 12.6% (37043392/292945152) finish=127.5min
/// speed=33440K/sec`, `resync=DELAYED`, `resync=PENDING`; `None` for a
/// line that is neither.
fn mdstat_progress(
    n: usize,
    words: &[&str],
) -> Result<Option<(SyncAction, Option<Progress>)>, ParseError> {
    let bad = |why: String| line_error(n, why);
    let Some((at, action, glued)) = words.iter().enumerate().find_map(|(i, w)| {
        let (name, rest) = w.split_once('=').unwrap_or((w, ""));
        SyncAction::parse(name)
            .filter(|a| *a != SyncAction::Idle && *a != SyncAction::Frozen)
            .map(|a| (i, a, rest))
    }) else {
        return Ok(None);
    };
    // resync=DELAYED (waiting for another array on the same disks),
    // resync=PENDING (read-only until written to), resync=REMOTE (a
    // cluster peer does it): the action, no progress.
    if ["DELAYED", "PENDING", "REMOTE"].contains(&glued) {
        return Ok(Some((action, None)));
    }
    let mut rest = words[at + 1..].iter().copied();
    let figure = if glued.is_empty() {
        match rest.next() {
            Some("=") => rest.next().unwrap_or(""),
            Some(w) => w.strip_prefix('=').unwrap_or(""),
            None => "",
        }
    } else {
        glued
    };
    let pct = figure
        .strip_suffix('%')
        .and_then(percent)
        .ok_or_else(|| bad(format!("{} is not how far it has got", quoted(figure))))?;
    let mut progress = Progress {
        percent: pct,
        done_sectors: None,
        total_sectors: None,
        speed_kib_s: None,
        seconds_left: None,
    };
    for word in rest {
        if let Some(inner) = word.strip_prefix('(').and_then(|w| w.strip_suffix(')')) {
            let (done, total) = inner
                .split_once('/')
                .and_then(|(d, t)| Some((whole(d)?.checked_mul(2)?, whole(t)?.checked_mul(2)?)))
                .ok_or_else(|| bad(format!("{} is not a count of blocks", quoted(word))))?;
            if done > total {
                return Err(bad(format!("{word}: more done than there is")));
            }
            progress.done_sectors = Some(done);
            progress.total_sectors = Some(total);
        } else if let Some(time) = word.strip_prefix("finish=") {
            progress.seconds_left = Some(
                minutes(time).ok_or_else(|| bad(format!("{} is not a time left", quoted(word))))?,
            );
        } else if let Some(speed) = word.strip_prefix("speed=") {
            progress.speed_kib_s = Some(
                speed
                    .strip_suffix("K/sec")
                    .and_then(whole)
                    .ok_or_else(|| bad(format!("{} is not a speed", quoted(word))))?,
            );
        }
    }
    Ok(Some((action, Some(progress))))
}

/// `127.5min` (minutes and tenths of a minute) in seconds.
fn minutes(text: &str) -> Option<u64> {
    let t = text.strip_suffix("min")?;
    let (int, tenths) = t.split_once('.').unwrap_or((t, "0"));
    if tenths.len() != 1 {
        return None;
    }
    whole(int)?.checked_mul(60)?.checked_add(whole(tenths)? * 6)
}

fn mdstat_array(e: MdstatEntry) -> Result<Array, ParseError> {
    let level = e.level_text.as_deref().and_then(RaidLevel::parse);
    let mut a = Array::named(Some(e.name.clone()));
    a.level = level;
    a.level_text = e.level_text.clone();
    a.raid_devices = e.counts.map(|(total, _)| total);
    a.degraded_count = e.counts.map(|(total, in_sync)| total - in_sync);
    a.degraded = a.degraded_count.map(|d| d > 0);
    a.chunk_kib = e.chunk_kib;
    // An inactive array's block count is the sum of its members', not a
    // size it has.
    a.size_bytes = if e.active {
        e.blocks_kib.and_then(kib_to_bytes)
    } else {
        None
    };
    a.consistency_policy = if e.members.iter().any(|m| m.role == MemberRole::Journal) {
        Some(ConsistencyPolicy::Journal)
    } else if e.bitmap {
        Some(ConsistencyPolicy::Bitmap)
    } else {
        // A full resync or a partial parity log: mdstat does not say.
        None
    };
    a.write_hole = WriteHole::of(level, a.consistency_policy);
    a.sync_action = if e.active {
        Some(e.sync_action.unwrap_or(SyncAction::Idle))
    } else {
        e.sync_action
    };
    a.progress = e.progress;
    let copies = match (e.near_copies, e.far_copies) {
        (None, None) => None,
        (n, f) => n.unwrap_or(1).checked_mul(f.unwrap_or(1)),
    };
    let near_only = e.far_copies.is_none_or(|f| f <= 1);
    let failed = lost(
        level,
        a.raid_devices,
        a.degraded_count,
        copies,
        e.pattern.as_deref().filter(|_| near_only),
    );
    (a.state, a.sync_action) = said_state(Observed {
        running: e.active,
        failed,
        sync_action: a.sync_action,
        degraded_count: a.degraded_count.unwrap_or(0),
    });
    a.members = e.members;
    a.check()
        .map_err(|why| line_error(e.line, format!("{}: {why}", e.name)))?;
    Ok(a)
}

// --------------------------------------------------------- mdadm --detail

/// One row of `mdadm --detail`'s device table.
struct DetailRow {
    line: usize,
    number: Option<u32>,
    raid_device: Option<u32>,
    words: Vec<String>,
    device: Option<String>,
    major_minor: String,
}

/// `mdadm --detail /dev/mdX` (the form for people).
pub fn detail(text: &str) -> Result<Array, ParseError> {
    const WHAT: &str = "`mdadm --detail` output";
    let not = |why: &str| ParseError::NotThis {
        what: WHAT,
        why: why.to_string(),
    };
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or_else(|| not("it is empty"))?;
    let header = header.trim();
    let path = header
        .strip_suffix(':')
        .filter(|p| p.starts_with('/') && !p.contains(' '))
        .ok_or_else(|| not("it does not start with the array's device and a colon"))?;
    let mut fields: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let mut rows: Vec<DetailRow> = Vec::new();
    let mut in_table = false;
    for (i, raw) in lines {
        let n = i + 1;
        let line = raw.trim();
        if in_table {
            rows.push(detail_row(n, line)?);
            continue;
        }
        if line.starts_with("Number") && line.contains("RaidDevice") {
            in_table = true;
            continue;
        }
        let Some((key, value)) = line.split_once(" : ") else {
            // "Container : /dev/md/imsm0, member 0" and the like always
            // have one; other lines are not known here.
            continue;
        };
        fields
            .entry(key.trim().to_string())
            .or_insert((n, value.trim().to_string()));
    }
    if fields.contains_key("Magic") || fields.contains_key("Device Role") {
        return Err(not(
            "it is `mdadm --examine` output (one member's superblock)",
        ));
    }
    if !fields.contains_key("Raid Level") && !fields.contains_key("State") {
        return Err(not("it has neither a \"Raid Level\" nor a \"State\" line"));
    }
    let get = |k: &str| fields.get(k).map(|(n, v)| (*n, v.as_str()));
    let number = |k: &str| -> Result<Option<u32>, ParseError> {
        match get(k) {
            None => Ok(None),
            Some((n, v)) => whole_u32(v)
                .map(Some)
                .ok_or_else(|| line_error(n, format!("{k} is {}, not a number", quoted(v)))),
        }
    };

    let name = path
        .strip_prefix("/dev/")
        .filter(|b| b.starts_with("md") && !b.contains('/'))
        .map(str::to_string);
    let mut a = Array::named(name);
    a.md_name = get("Name")
        .and_then(|(_, v)| v.split_whitespace().next())
        .map(without_host)
        .or_else(|| path.strip_prefix("/dev/md/").map(str::to_string));
    if let Some((n, v)) = get("UUID") {
        a.uuid = Some(
            normalize_uuid(v)
                .ok_or_else(|| line_error(n, format!("{} is not an md UUID", quoted(v))))?,
        );
    }
    if let Some((_, v)) = get("Raid Level") {
        a.level = RaidLevel::parse(v);
        a.level_text = Some(v.to_string());
    }
    if let Some((n, v)) = get("Array Size") {
        let kib = v.split_whitespace().next().and_then(whole);
        a.size_bytes = Some(
            kib.and_then(kib_to_bytes)
                .ok_or_else(|| line_error(n, format!("{} is not a size", quoted(v))))?,
        );
    }
    a.raid_devices = number("Raid Devices")?;
    let active = number("Active Devices")?;
    if let Some((n, v)) = get("Chunk Size") {
        a.chunk_kib = Some(
            v.strip_suffix('K')
                .and_then(whole)
                .filter(|k| *k > 0)
                .ok_or_else(|| line_error(n, format!("{} is not a chunk size", quoted(v))))?,
        );
    }
    a.consistency_policy =
        match get("Consistency Policy") {
            Some((n, v)) => Some(ConsistencyPolicy::parse(v).ok_or_else(|| {
                line_error(n, format!("{} is not a consistency policy", quoted(v)))
            })?),
            // mdadm before 4.0 prints no policy; its bitmap line says one.
            None if get("Intent Bitmap").is_some() => Some(ConsistencyPolicy::Bitmap),
            None => None,
        };
    a.write_hole = WriteHole::of(a.level, a.consistency_policy);

    // "clean, degraded, recovering", "active, FAILED, Not Started",
    // "clean, resyncing (DELAYED)", "inactive".
    let state_words: Vec<String> = get("State")
        .map(|(_, v)| {
            v.split(',')
                .map(|w| w.trim().to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default();
    let said = |w: &str| {
        state_words
            .iter()
            .any(|s| s.split_whitespace().next() == Some(w))
    };
    let running = !(said("inactive") || state_words.iter().any(|s| s == "not started"));
    let mut action = [
        ("recovering", SyncAction::Recover),
        ("resyncing", SyncAction::Resync),
        ("reshaping", SyncAction::Reshape),
        ("checking", SyncAction::Check),
    ]
    .into_iter()
    .find(|(w, _)| said(w))
    .map(|(_, a)| a);

    // "Rebuild Status : 5% complete", " Resync Status", "Reshape Status",
    // "  Check Status".
    for (key, (n, value)) in &fields {
        let Some(kind) = key.strip_suffix(" Status") else {
            continue;
        };
        let kind_action = match kind {
            "Rebuild" => SyncAction::Recover,
            "Resync" => SyncAction::Resync,
            "Reshape" => SyncAction::Reshape,
            "Check" => SyncAction::Check,
            _ => continue,
        };
        let pct = value
            .strip_suffix("% complete")
            .and_then(percent)
            .ok_or_else(|| {
                line_error(*n, format!("{} is not how far it has got", quoted(value)))
            })?;
        action.get_or_insert(kind_action);
        a.progress = Some(Progress {
            percent: pct,
            done_sectors: None,
            total_sectors: None,
            speed_kib_s: None,
            seconds_left: None,
        });
    }
    a.sync_action = if running {
        Some(action.unwrap_or(SyncAction::Idle))
    } else {
        action
    };

    // The device table: a slot's member first, its replacement second;
    // then spares, journal and faulty members.
    let mut slot_seen: Vec<u32> = Vec::new();
    let mut in_sync_slots: Vec<u32> = Vec::new();
    for row in rows {
        let has = |w: &str| row.words.iter().any(|x| x == w);
        if has("removed") && row.device.is_none() {
            continue;
        }
        let second = row.raid_device.is_some_and(|s| slot_seen.contains(&s));
        if let Some(s) = row.raid_device {
            slot_seen.push(s);
        }
        let role = if row.words.is_empty() && !running {
            // An inactive array's table has no State column: md holds
            // every member of it as a spare (sysfs `spare`, mdstat `(S)`).
            MemberRole::Spare
        } else if has("faulty") {
            MemberRole::Faulty
        } else if has("journal") {
            MemberRole::Journal
        } else if second {
            MemberRole::Replacement
        } else if has("rebuilding") {
            MemberRole::Rebuilding
        } else if has("spare") {
            MemberRole::Spare
        } else if has("active") || has("sync") {
            MemberRole::Active
        } else {
            return Err(line_error(
                row.line,
                format!("{} is not a member's state", quoted(&row.words.join(" "))),
            ));
        };
        let slot = match role {
            MemberRole::Active | MemberRole::Rebuilding | MemberRole::Replacement => {
                row.raid_device
            }
            _ => None,
        };
        if let Some(s) = slot
            && has("sync")
            && !second
        {
            in_sync_slots.push(s);
        }
        a.members.push(Member {
            device: row.device.unwrap_or(row.major_minor),
            role,
            slot,
            number: row.number,
            state: row.words,
        });
    }

    a.degraded_count = match (a.raid_devices, active) {
        (Some(total), Some(active)) if active > total => {
            let (n, _) = get("Active Devices").unwrap_or_default();
            return Err(line_error(
                n,
                format!("{active} active devices in an array of {total}"),
            ));
        }
        (Some(total), Some(active)) => Some(total - active),
        _ => None,
    };
    a.degraded = a.degraded_count.map(|d| d > 0);
    let layout = get("Layout").map(|(_, v)| v).unwrap_or("");
    let (near, copies) = raid10_copies(layout);
    let in_sync: Option<Vec<bool>> = a
        .raid_devices
        .filter(|n| *n <= MAX_RAID_DEVICES)
        .map(|n| (0..n).map(|s| in_sync_slots.contains(&s)).collect());
    let failed = said("failed")
        || lost(
            a.level,
            a.raid_devices,
            a.degraded_count,
            copies,
            in_sync.as_deref().filter(|_| near),
        );
    (a.state, a.sync_action) = said_state(Observed {
        running,
        failed,
        sync_action: a.sync_action,
        degraded_count: a.degraded_count.unwrap_or(0),
    });
    a.check().map_err(ParseError::Bad)?;
    Ok(a)
}

/// mdadm's raid10 layout, `near=2` or `far=2` or `offset=2` (or more than
/// one): whether it is near only, and the copies of each block.
fn raid10_copies(layout: &str) -> (bool, Option<u32>) {
    let mut copies: Option<u32> = None;
    let mut near_only = true;
    for part in layout.split(',') {
        let Some((kind, count)) = part.trim().split_once('=') else {
            continue;
        };
        let Some(count) = whole_u32(count).filter(|c| *c >= 1) else {
            continue;
        };
        if kind != "near" && count > 1 {
            near_only = false;
        }
        copies = Some(copies.unwrap_or(1).saturating_mul(count));
    }
    (near_only && copies.is_some(), copies)
}

/// `       6     254       80        1      spare rebuilding   /dev/vdf`
fn detail_row(n: usize, line: &str) -> Result<DetailRow, ParseError> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let bad = || {
        line_error(
            n,
            format!("{} is not a row of the device table", quoted(line)),
        )
    };
    if words.len() < 5 {
        return Err(bad());
    }
    let dash_or = |w: &str| -> Result<Option<u32>, ParseError> {
        if w == "-" {
            Ok(None)
        } else {
            whole_u32(w).map(Some).ok_or_else(bad)
        }
    };
    let number = dash_or(words[0])?;
    let (major, minor) = (
        whole_u32(words[1]).ok_or_else(bad)?,
        whole_u32(words[2]).ok_or_else(bad)?,
    );
    let raid_device = dash_or(words[3])?;
    let mut state: Vec<&str> = words[4..].to_vec();
    let device = match state.last() {
        Some(w) if w.starts_with('/') => state.pop().map(str::to_string),
        Some(&"missing") => {
            state.pop();
            None
        }
        _ => None,
    };
    // No words of state only for an inactive array's member, which
    // `detail` checks; a device or words it must have.
    if state.is_empty() && device.is_none() {
        return Err(bad());
    }
    Ok(DetailRow {
        line: n,
        number,
        raid_device,
        words: state.into_iter().map(str::to_string).collect(),
        device,
        major_minor: format!("{major}:{minor}"),
    })
}

// ------------------------------------------------ mdadm --detail --export

/// One member as `mdadm --detail --export` lists it.
struct ExportMember<'t> {
    /// Its sysfs name with `_` for `-`: `dev_vdb`.
    sysdev: &'t str,
    /// `MD_DEVICE_<sysdev>_ROLE`, with its line: a slot, or `spare`.
    role: Option<(usize, &'t str)>,
    /// `MD_DEVICE_<sysdev>_DEV`: `/dev/vdb`.
    path: Option<&'t str>,
}

/// `mdadm --detail --export /dev/mdX`: `MD_LEVEL=raid5` lines. It says
/// nothing of the state: the array's `state`, `degraded` and progress are
/// `None`, and a member's role is its slot (`Active`) or `Spare`, as
/// mdadm gives it; a slot's member and its replacement are both `Active`
/// in it.
pub fn detail_export(text: &str) -> Result<Array, ParseError> {
    const WHAT: &str = "`mdadm --detail --export` output";
    let mut vars: BTreeMap<&str, (usize, &str)> = BTreeMap::new();
    // Members in mdadm's order.
    let mut members: Vec<ExportMember> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(ParseError::NotThis {
                what: WHAT,
                why: format!("line {n} is {}, not KEY=value", quoted(line)),
            });
        };
        if let Some(dev) = key.strip_prefix("MD_DEVICE_") {
            let (sysdev, field) = dev
                .rsplit_once('_')
                .ok_or_else(|| line_error(n, format!("{} names no device", quoted(key))))?;
            let at = match members.iter().position(|m| m.sysdev == sysdev) {
                Some(at) => at,
                None => {
                    members.push(ExportMember {
                        sysdev,
                        role: None,
                        path: None,
                    });
                    members.len() - 1
                }
            };
            match field {
                "ROLE" => members[at].role = Some((n, value)),
                "DEV" => members[at].path = Some(value),
                _ => {}
            }
        } else {
            vars.entry(key).or_insert((n, value));
        }
    }
    if [
        "MD_DEV_UUID",
        "MD_EVENTS",
        "MD_UPDATE_TIME",
        "MD_ARRAY_SIZE",
    ]
    .iter()
    .any(|k| vars.contains_key(k))
    {
        return Err(ParseError::NotThis {
            what: WHAT,
            why: "it is `mdadm --examine --export` output (one member's superblock)".into(),
        });
    }
    if !["MD_LEVEL", "MD_DEVICES", "MD_UUID"]
        .iter()
        .any(|k| vars.contains_key(k))
    {
        return Err(ParseError::NotThis {
            what: WHAT,
            why: "it has none of MD_LEVEL, MD_DEVICES, MD_UUID".into(),
        });
    }
    let mut a = Array::named(None);
    if let Some((_, v)) = vars.get("MD_LEVEL") {
        a.level = RaidLevel::parse(v);
        a.level_text = Some(v.to_string());
    }
    if let Some((n, v)) = vars.get("MD_DEVICES") {
        let count =
            whole_u32(v).ok_or_else(|| line_error(*n, format!("MD_DEVICES is {}", quoted(v))))?;
        // A container's count is of its disks, not of slots; so is an
        // inactive array's, which has no MD_LEVEL (its one member offered
        // so far gives MD_DEVICES=1 for an array of four).
        if a.level_text.as_deref().is_some_and(|l| l != "container") {
            a.raid_devices = Some(count);
        }
    }
    if let Some((n, v)) = vars.get("MD_UUID") {
        a.uuid = Some(
            normalize_uuid(v)
                .ok_or_else(|| line_error(*n, format!("{} is not an md UUID", quoted(v))))?,
        );
    }
    a.md_name = vars
        .get("MD_DEVNAME")
        .map(|(_, v)| v.to_string())
        .or_else(|| vars.get("MD_NAME").map(|(_, v)| without_host(v)));
    for ExportMember { sysdev, role, path } in members {
        let (role, slot) = match role {
            None => (MemberRole::Spare, None),
            Some((_, "spare")) => (MemberRole::Spare, None),
            Some((_, "journal")) => (MemberRole::Journal, None),
            Some((_, "faulty")) => (MemberRole::Faulty, None),
            Some((n, r)) => (
                MemberRole::Active,
                Some(whole_u32(r).ok_or_else(|| {
                    line_error(n, format!("{} is not a member's role", quoted(r)))
                })?),
            ),
        };
        let device = match path {
            Some(p) if !p.is_empty() => p.to_string(),
            _ => sysdev.strip_prefix("dev_").unwrap_or(sysdev).to_string(),
        };
        a.members.push(Member {
            device,
            role,
            slot,
            number: None,
            state: Vec::new(),
        });
    }
    a.check().map_err(ParseError::Bad)?;
    Ok(a)
}

// ------------------------------------------------------------------ sysfs

/// The array in `/sys/block/<name>/md`, from its files: `array_state`,
/// `level`, ... at the top and `dev-sdb/state`, `dev-sdb/slot`, ... for
/// each member, each path relative to the `md` directory mapped to the
/// file's text.
pub fn sysfs(name: &str, files: &BTreeMap<String, String>) -> Result<Array, ParseError> {
    const WHAT: &str = "an md sysfs directory";
    let get = |k: &str| files.get(k).map(|v| v.trim());
    let bad = |k: &str, v: &str, want: &str| {
        ParseError::Bad(format!("{k} holds {}, which is not {want}", quoted(v)))
    };
    let number = |k: &str| -> Result<Option<u64>, ParseError> {
        match get(k) {
            None | Some("") | Some("none") => Ok(None),
            Some(v) => whole(v).map(Some).ok_or_else(|| bad(k, v, "a number")),
        }
    };
    let array_state = get("array_state").ok_or_else(|| ParseError::NotThis {
        what: WHAT,
        why: "it has no array_state".into(),
    })?;
    let mut a = Array::named(Some(name.to_string()));
    if let Some(level) = get("level").filter(|l| !l.is_empty()) {
        a.level = RaidLevel::parse(level);
        a.level_text = Some(level.to_string());
    }
    // `4`, or `4 (3)` while a reshape takes it from 3 devices to 4; empty
    // for an inactive array.
    let (raid_disks, previous_disks) = match get("raid_disks") {
        None | Some("") => (None, None),
        Some(v) => {
            let count = |w: &str| {
                whole_u32(w)
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad("raid_disks", v, "a device count"))
            };
            let mut words = v.split_whitespace();
            let now = count(words.next().unwrap_or(""))?;
            let before = match words.next() {
                None => None,
                Some(w) => Some(count(
                    w.strip_prefix('(')
                        .and_then(|w| w.strip_suffix(')'))
                        .unwrap_or(""),
                )?),
            };
            if words.next().is_some() {
                return Err(bad("raid_disks", v, "a device count"));
            }
            (Some(now), before)
        }
    };
    a.raid_devices = raid_disks;
    if let Some(u) = get("uuid") {
        a.uuid = Some(normalize_uuid(u).ok_or_else(|| bad("uuid", u, "an md UUID"))?);
    }
    a.sync_action = match get("sync_action") {
        None | Some("") => None,
        Some(v) => {
            Some(SyncAction::parse(v).ok_or_else(|| bad("sync_action", v, "a sync action"))?)
        }
    };
    a.consistency_policy = match get("consistency_policy") {
        None | Some("") | Some("unknown") => None,
        Some(v) => Some(
            ConsistencyPolicy::parse(v).ok_or_else(|| bad("consistency_policy", v, "a policy"))?,
        ),
    };
    a.write_hole = WriteHole::of(a.level, a.consistency_policy);
    a.chunk_kib = number("chunk_size")?.map(|b| b / 1024).filter(|k| *k > 0);
    a.mismatch_count = number("mismatch_cnt")?;
    a.sync_window = match (number("sync_min")?, get("sync_max")) {
        (None, None) => None,
        (min, max) => Some(SyncWindow {
            min_sectors: min.unwrap_or(0),
            max_sectors: match max {
                None | Some("max") => None,
                Some(v) => Some(whole(v).ok_or_else(|| bad("sync_max", v, "a sector"))?),
            },
        }),
    };

    // Members: dev-<name>/state and dev-<name>/slot.
    let mut names: Vec<&str> = files
        .keys()
        .filter_map(|k| k.strip_prefix("dev-")?.split_once('/').map(|(d, _)| d))
        .collect();
    names.dedup();
    let mut in_sync_slots: Vec<u32> = Vec::new();
    for dev in names {
        let state_key = format!("dev-{dev}/state");
        let state = get(&state_key).ok_or_else(|| {
            ParseError::Bad(format!("dev-{dev} has no state, so its role is not known"))
        })?;
        let words: Vec<String> = state
            .split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect();
        let has = |w: &str| words.iter().any(|x| x == w);
        let slot_key = format!("dev-{dev}/slot");
        let slot = match get(&slot_key) {
            None | Some("none") | Some("journal") | Some("") => None,
            Some(v) => Some(whole_u32(v).ok_or_else(|| bad(&slot_key, v, "a slot"))?),
        };
        let role = if has("faulty") {
            MemberRole::Faulty
        } else if has("journal") {
            MemberRole::Journal
        } else if has("replacement") {
            MemberRole::Replacement
        } else if has("in_sync") {
            MemberRole::Active
        } else if has("spare") && slot.is_some() {
            MemberRole::Rebuilding
        } else if has("spare") {
            MemberRole::Spare
        } else {
            return Err(bad(&state_key, state, "a member's state"));
        };
        let slot = match role {
            MemberRole::Active | MemberRole::Rebuilding | MemberRole::Replacement => slot,
            _ => None,
        };
        if let Some(s) = slot
            && role == MemberRole::Active
        {
            in_sync_slots.push(s);
        }
        // A slot's member and its replacement share it; sysfs marks the
        // replacement, so two unmarked members in one slot are not md's.
        if let Some(s) = slot
            && role != MemberRole::Replacement
            && a.members.iter().any(|m| {
                m.slot == Some(s) && matches!(m.role, MemberRole::Active | MemberRole::Rebuilding)
            })
        {
            return Err(ParseError::Bad(format!(
                "{name}: two members in slot {s}, neither of them a replacement"
            )));
        }
        a.members.push(Member {
            device: dev.to_string(),
            role,
            slot,
            number: None,
            state: words,
        });
    }

    a.degraded_count = match number("degraded")? {
        Some(d) => Some(u32::try_from(d).map_err(|_| bad("degraded", &d.to_string(), "a count"))?),
        None => a
            .raid_devices
            .map(|n| n.saturating_sub(in_sync_slots.iter().filter(|s| **s < n).count() as u32)),
    };
    a.degraded = a.degraded_count.map(|d| d > 0);

    // Progress, in sectors of one member: "1234 / 522240".
    if let Some(v) = get("sync_completed")
        && let Some((done, total)) = v.split_once('/')
        && !matches!(
            a.sync_action,
            None | Some(SyncAction::Idle | SyncAction::Frozen)
        )
    {
        let (Some(done), Some(total)) = (whole(done.trim()), whole(total.trim())) else {
            return Err(bad("sync_completed", v, "sectors done of a total"));
        };
        if done > total {
            return Err(bad("sync_completed", v, "sectors done of a total"));
        }
        let speed = number("sync_speed")?;
        a.progress = Some(Progress {
            percent: if total == 0 {
                0.0
            } else {
                // Rounded to a tenth down, as mdstat shows it; never 100
                // before it is done.
                ((done as f64 / total as f64) * 1000.0).floor() / 10.0
            },
            done_sectors: Some(done),
            total_sectors: Some(total),
            speed_kib_s: speed,
            seconds_left: speed.filter(|s| *s > 0).map(|s| (total - done) / 2 / s),
        });
    }

    let layout = number("layout")?;
    // Size: `array_size` where it was set, else from the members' size.
    a.size_bytes = match get("array_size") {
        Some(v) if v != "default" && !v.is_empty() => Some(
            whole(v)
                .and_then(kib_to_bytes)
                .ok_or_else(|| bad("array_size", v, "a size in KiB"))?,
        ),
        _ => {
            // While a reshape runs md keeps the size of the fewer devices
            // (the old count when growing); it changes when it is done.
            let devices = match (a.raid_devices, previous_disks) {
                (Some(n), Some(before)) => Some(n.min(before)),
                (n, _) => n,
            };
            match (number("component_size")?, devices, a.level) {
                (Some(c), Some(n), Some(level)) => {
                    array_kib(level, c, n, layout, a.chunk_kib).and_then(kib_to_bytes)
                }
                _ => None,
            }
        }
    };

    let running = !matches!(array_state, "inactive" | "clear");
    // raid10's copies of each block, from its layout; not known without
    // one (then [`lost`] takes md's default of two).
    let (copies, near_only) = match layout {
        Some(layout) => {
            let (near, far) = (layout & 0xff, (layout >> 8) & 0xff);
            (
                u32::try_from(near.max(1) * far.max(1)).ok(),
                far <= 1 && layout & 0x10000 == 0,
            )
        }
        None => (None, false),
    };
    let in_sync: Option<Vec<bool>> = a
        .raid_devices
        .filter(|n| *n <= MAX_RAID_DEVICES)
        .map(|n| (0..n).map(|s| in_sync_slots.contains(&s)).collect());
    let failed = array_state == "broken"
        || lost(
            a.level,
            a.raid_devices,
            a.degraded_count,
            copies,
            in_sync.as_deref().filter(|_| near_only),
        );
    a.state = Some(ArrayState::derive(&Observed {
        running,
        failed,
        sync_action: a.sync_action,
        degraded_count: a.degraded_count.unwrap_or(0),
    }));
    a.check()
        .map_err(|why| ParseError::Bad(format!("{name}: {why}")))?;
    Ok(a)
}

/// An array's size in KiB from its members' (`component_size`), as md
/// computes it; `None` on overflow.
fn array_kib(
    level: RaidLevel,
    component: u64,
    n: u32,
    layout: Option<u64>,
    chunk: Option<u64>,
) -> Option<u64> {
    let n = u64::from(n);
    match level {
        RaidLevel::Raid1 => Some(component),
        RaidLevel::Raid5 => component.checked_mul(n.checked_sub(1)?),
        RaidLevel::Raid6 => component.checked_mul(n.checked_sub(2)?),
        RaidLevel::Raid10 => {
            // Its size depends on the layout (copies near and far).
            let layout = layout?;
            let near = (layout & 0xff).max(1);
            let far = ((layout >> 8) & 0xff).max(1);
            let chunk = chunk.filter(|c| *c > 0).unwrap_or(1);
            let chunks = component / chunk / far;
            (chunks.checked_mul(n)? / near).checked_mul(chunk)
        }
    }
}

/// The map [`sysfs`] reads, from a capture of
/// `grep -r . /sys/block/mdX/md` (lines `/sys/block/md127/md/level:raid5`),
/// with the array's name.
pub fn sysfs_capture(text: &str) -> Result<(String, BTreeMap<String, String>), ParseError> {
    let mut name: Option<String> = None;
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let (path, value) = line.split_once(':').ok_or_else(|| ParseError::NotThis {
            what: "a capture of `grep -r . /sys/block/mdX/md`",
            why: format!("line {} is {}, not path:text", i + 1, quoted(line)),
        })?;
        let (block, rel) = path
            .strip_prefix("/sys/block/")
            .and_then(|p| p.split_once("/md/"))
            .ok_or_else(|| {
                line_error(
                    i + 1,
                    format!("{} is not in /sys/block/mdX/md", quoted(path)),
                )
            })?;
        match &name {
            None => name = Some(block.to_string()),
            Some(seen) if seen != block => {
                return Err(line_error(
                    i + 1,
                    format!("{block} after {seen}: one array per capture"),
                ));
            }
            Some(_) => {}
        }
        files
            .entry(rel.to_string())
            .and_modify(|v| {
                v.push('\n');
                v.push_str(value);
            })
            .or_insert_with(|| value.to_string());
    }
    let name = name.ok_or_else(|| ParseError::NotThis {
        what: "a capture of `grep -r . /sys/block/mdX/md`",
        why: "it is empty".into(),
    })?;
    Ok((name, files))
}

// ---------------------------------------------------- reading sysfs itself

/// The most read of one file, in bytes: the kernel prints an attribute
/// into one page, and sysfs gives every one the size 4096 whatever it
/// holds, so the read stops here.
pub const MAX_FILE: usize = 4096;

/// The most entries looked at in the md directory: its attributes (about
/// 50) and one `dev-*` directory and one `rdN` link per member.
pub const MAX_ENTRIES: usize = 3 * MAX_RAID_DEVICES as usize + 100;

/// The array's files [`read_sysfs`] reads.
pub const ARRAY_FILES: &[&str] = &[
    "array_state",
    "level",
    "raid_disks",
    "degraded",
    "sync_action",
    "last_sync_action",
    "sync_completed",
    "sync_speed",
    "sync_min",
    "sync_max",
    "mismatch_cnt",
    "consistency_policy",
    "chunk_size",
    "component_size",
    "array_size",
    "layout",
    "uuid",
    "metadata_version",
    "reshape_position",
];

/// Each member's files [`read_sysfs`] reads.
pub const MEMBER_FILES: &[&str] = &["state", "slot", "recovery_start", "errors"];

/// What [`read_sysfs`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysfsMd {
    /// Path under the md directory → the file's text without its line end.
    pub files: BTreeMap<String, String>,
    /// What was refused or could not be read, one clause each:
    /// "dev-sdb/state is a FIFO, not a file, so it was not read".
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("{0} is not readable: {1}")]
    Unreadable(String, String),
}

/// Reads an array's sysfs directory (`/sys/block/md127/md`, or a copy of
/// one) into the map [`sysfs`] parses: the [`ARRAY_FILES`] and, in each
/// `dev-*` directory, the [`MEMBER_FILES`]; a file that is not there is
/// left out. The tree is trusted no further than the directory given:
/// nothing is followed through a link (a `dev-*` entry that is one is
/// passed over, as are the kernel's `rdN` links), only regular files are
/// opened, never more than [`MAX_FILE`] bytes of one is read, and nothing
/// is opened that could wait (a FIFO). What is refused is a note.
pub fn read_sysfs(md_dir: &Path) -> Result<SysfsMd, ReadError> {
    let unreadable = |why: String| ReadError::Unreadable(md_dir.display().to_string(), why);
    let dir = nix::fcntl::open(
        md_dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| unreadable(e.desc().to_string()))?;
    let mut out = SysfsMd {
        files: BTreeMap::new(),
        notes: Vec::new(),
    };
    for f in ARRAY_FILES {
        read_into(&mut out, &dir, f, f);
    }
    let listing = std::fs::read_dir(md_dir).map_err(|e| unreadable(e.to_string()))?;
    let mut members: Vec<String> = Vec::new();
    for (seen, entry) in listing.enumerate() {
        if seen >= MAX_ENTRIES {
            out.notes.push(format!(
                "it holds more than {MAX_ENTRIES} entries, which no md directory does; the rest were not read"
            ));
            break;
        }
        let Ok(entry) = entry else { continue };
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if name.starts_with("dev-") && name.len() <= 255 {
            members.push(name);
        }
    }
    members.sort();
    for member in members {
        let sub = match nix::fcntl::openat(
            &dir,
            member.as_str(),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => continue,
            Err(Errno::ELOOP | Errno::ENOTDIR) => {
                out.notes.push(format!(
                    "{member} is a link or a file, not a member's directory, so it was not read"
                ));
                continue;
            }
            Err(e) => {
                out.notes.push(format!(
                    "{member} cannot be read: {}, so it was not read",
                    e.desc()
                ));
                continue;
            }
        };
        for f in MEMBER_FILES {
            read_into(&mut out, &sub, f, &format!("{member}/{f}"));
        }
    }
    Ok(out)
}

/// One file of an array's sysfs directory (one [`read_sysfs`] does not
/// read, such as `stripe_cache_size`), held to the same rules: a regular
/// file, not through a link, at most [`MAX_FILE`] bytes; `None` where
/// there is none.
pub fn read_attribute(md_dir: &Path, name: &str) -> Result<Option<String>, ReadError> {
    let unreadable =
        |why: String| ReadError::Unreadable(md_dir.join(name).display().to_string(), why);
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(unreadable("that is not a file's name".into()));
    }
    let dir = nix::fcntl::open(
        md_dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| unreadable(e.desc().to_string()))?;
    read_at(&dir, name).map_err(unreadable)
}

fn read_into(out: &mut SysfsMd, dir: &OwnedFd, file: &str, key: &str) {
    match read_at(dir, file) {
        Ok(Some(text)) => {
            out.files.insert(key.to_string(), text);
        }
        Ok(None) => {}
        Err(why) => out.notes.push(format!("{key} {why}, so it was not read")),
    }
}

/// The text of regular file `name` in directory `dir`, at most
/// [`MAX_FILE`] bytes, without its line end; `None` where there is none.
fn read_at(dir: &OwnedFd, name: &str) -> Result<Option<String>, String> {
    let not_a_file = |mode: u32| {
        let kind = match SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits()) {
            SFlag::S_IFLNK => "a link",
            SFlag::S_IFDIR => "a directory",
            SFlag::S_IFIFO => "a FIFO",
            SFlag::S_IFCHR => "a character device",
            SFlag::S_IFBLK => "a block device",
            SFlag::S_IFSOCK => "a socket",
            _ => "something else",
        };
        format!("is {kind}, not a file")
    };
    let is_file = |mode: u32| mode & SFlag::S_IFMT.bits() == SFlag::S_IFREG.bits();
    // Asked before it is opened, without following a link: opening a FIFO
    // to read can wait, and opening a device is the device's business.
    match nix::sys::stat::fstatat(dir.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) if !is_file(st.st_mode) => return Err(not_a_file(st.st_mode)),
        Ok(_) => {}
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(format!("cannot be read: {}", e.desc())),
    }
    // And asked again of what was opened, should it have changed between.
    let fd = nix::fcntl::openat(
        dir.as_fd(),
        name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        Errno::ELOOP => "is a link, not a file".to_string(),
        e => format!("cannot be read: {}", e.desc()),
    })?;
    let file = std::fs::File::from(fd);
    let st = nix::sys::stat::fstat(&file).map_err(|e| format!("cannot be read: {}", e.desc()))?;
    if !is_file(st.st_mode) {
        return Err(not_a_file(st.st_mode));
    }
    let mut data = Vec::new();
    file.take(MAX_FILE as u64 + 1)
        .read_to_end(&mut data)
        .map_err(|e| format!("cannot be read: {e}"))?;
    if data.len() > MAX_FILE {
        return Err(format!(
            "holds more than {MAX_FILE} bytes, which no sysfs file does"
        ));
    }
    String::from_utf8(data)
        .map(|s| Some(s.trim_end_matches(['\n', '\0']).to_string()))
        .map_err(|_| "does not hold text".to_string())
}

/// The mutation loop's inputs, shared with the LVM parser's tests.
#[cfg(test)]
pub(crate) mod mutation {
    /// Numbers put in place of each number of a capture: zero, a
    /// negative, one past `u64::MAX`, far too many digits, nothing.
    pub const NUMBERS: &[&str] = &["0", "-1", "18446744073709551616", "9e9", ""];

    /// The most numbers of one capture replaced: a JSON report holds
    /// thousands, and every one would take minutes; these are spread
    /// evenly over it.
    const MAX_NUMBERS: usize = 150;

    /// Every way of spoiling `text` the loop tries, each with what was
    /// done: every line deleted, every line cut at several points, every
    /// number (run of digits) replaced by each of [`NUMBERS`] and by 400
    /// nines.
    pub fn variants(text: &str) -> Vec<(String, String)> {
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let mut out = Vec::new();
        for i in 0..lines.len() {
            let mut without = lines.clone();
            without.remove(i);
            out.push((format!("line {} deleted", i + 1), without.concat()));
            let line = lines[i].trim_end_matches('\n');
            let chars: Vec<usize> = line.char_indices().map(|(at, _)| at).collect();
            let mut cuts: Vec<usize> = [
                1,
                chars.len() / 3,
                chars.len() / 2,
                chars.len().saturating_sub(1),
            ]
            .into_iter()
            .filter_map(|c| chars.get(c).copied())
            .collect();
            cuts.dedup();
            for cut in cuts {
                let mut cut_lines = lines.clone();
                let kept = format!("{}\n", &line[..cut]);
                cut_lines[i] = &kept;
                out.push((format!("line {} cut at {cut}", i + 1), cut_lines.concat()));
            }
        }
        let mut runs: Vec<(usize, usize)> = Vec::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i].is_ascii_digit() {
                let start = i;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                runs.push((start, i));
            } else {
                i += 1;
            }
        }
        let step = runs.len().div_ceil(MAX_NUMBERS).max(1);
        let nines = "9".repeat(400);
        for (start, end) in runs.into_iter().step_by(step) {
            for with in NUMBERS.iter().copied().chain([nines.as_str()]) {
                let spoiled = format!("{}{with}{}", &text[..start], &text[end..]);
                out.push((
                    format!(
                        "{:?} at byte {start} replaced by {with:.12?}",
                        &text[start..end]
                    ),
                    spoiled,
                ));
            }
        }
        out
    }

    /// Runs `work` on a thread of its own and fails the test if it does not
    /// finish within `seconds`: a parser that loops or crawls fails here
    /// rather than hanging the suite.
    pub fn in_time<T: Send + 'static>(
        seconds: u64,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(work());
        });
        match rx.recv_timeout(std::time::Duration::from_secs(seconds)) {
            Ok(got) => got,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                panic!("did not finish within {seconds} s")
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("it panicked"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::mutation::{in_time, variants};
    use super::*;
    use std::path::PathBuf;

    fn fixtures() -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
    }

    fn fixture(path: &str) -> String {
        std::fs::read_to_string(fixtures().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// The files of a fixture folder, but the notes about them and the
    /// exit statuses and standard errors of the captures.
    fn captures(dir: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(fixtures().join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| {
                n.ends_with(".txt") && !n.ends_with(".rc.txt") && !n.ends_with(".stderr.txt")
            })
            .collect();
        names.sort();
        names
    }

    /// Members as `device=role` (A active, S spare, F faulty, J journal,
    /// R replacement, B being rebuilt), with the slot where there is one:
    /// `vda=A0 vde=J`.
    fn roles(a: &Array) -> String {
        a.members
            .iter()
            .map(|m| {
                let role = match m.role {
                    MemberRole::Active => "A",
                    MemberRole::Spare => "S",
                    MemberRole::Faulty => "F",
                    MemberRole::Journal => "J",
                    MemberRole::Replacement => "R",
                    MemberRole::Rebuilding => "B",
                };
                let device = m.device.strip_prefix("/dev/").unwrap_or(&m.device);
                match m.slot {
                    Some(s) => format!("{device}={role}{s}"),
                    None => format!("{device}={role}"),
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// What a test expects of one array: its state, slots missing, and
    /// progress as (percent, KiB/s, seconds left).
    type Progressed = Option<(f64, Option<u64>, Option<u64>)>;

    fn progress_of(a: &Array) -> Progressed {
        a.progress
            .as_ref()
            .map(|p| (p.percent, p.speed_kib_s, p.seconds_left))
    }

    use ArrayState::{Clean, Degraded, Inactive, Recovering, Resyncing};
    use RaidLevel::{Raid5, Raid6};

    /// An array in /proc/mdstat: name, level, state, slots missing,
    /// progress, members.
    type MdstatCase = (
        &'static str,
        Option<RaidLevel>,
        Option<ArrayState>,
        Option<u32>,
        Progressed,
        &'static str,
    );
    /// A capture, the array's name, level, state, slots missing, progress,
    /// members.
    type Case<P> = (
        &'static str,
        &'static str,
        Option<RaidLevel>,
        ArrayState,
        u32,
        P,
        &'static str,
    );

    const R5_CLEAN: &str = "vdd=A vde=J vdc=A vdb=A vda=A";
    const R6_CLEAN: &str = "vdj=A vdi=A vdh=A vdg=A";

    #[test]
    fn every_lab_mdstat_capture_reads_as_the_kernel_meant() {
        #[rustfmt::skip]
        let expected: &[(&str, &[MdstatCase])] = &[
            ("before-fail.txt", &[
                ("md126", Some(Raid6), Some(Clean), Some(0), None, R6_CLEAN),
                ("md127", Some(Raid5), Some(Clean), Some(0), None, R5_CLEAN),
            ]),
            ("empty.txt", &[]),
            ("stopped.txt", &[]),
            ("r5-degraded-faulty.txt", &[
                ("md126", Some(Raid6), Some(Clean), Some(0), None, R6_CLEAN),
                ("md127", Some(Raid5), Some(Degraded), Some(1), None, "vdd=A vde=J vdc=A vdb=F vda=A"),
            ]),
            ("r5-degraded-removed.txt", &[
                ("md126", Some(Raid6), Some(Clean), Some(0), None, R6_CLEAN),
                ("md127", Some(Raid5), Some(Degraded), Some(1), None, "vdd=A vde=J vdc=A vda=A"),
            ]),
            ("r5-journal-r6-clean.txt", &[
                ("md126", Some(Raid6), Some(Clean), Some(0), None, R6_CLEAN),
                ("md127", Some(Raid5), Some(Clean), Some(0), None, R5_CLEAN),
            ]),
            // A new raid5 is built as a degraded array recovering onto its
            // last member, not resynced.
            ("r5-journal-resync.txt", &[
                ("md127", Some(Raid5), Some(Recovering), Some(1), Some((5.8, Some(7680), Some(30))), R5_CLEAN),
            ]),
            ("r5-r6-resync.txt", &[
                ("md126", Some(Raid6), None, Some(0), Some((5.6, Some(7498), Some(30))), R6_CLEAN),
                ("md127", Some(Raid5), Some(Recovering), Some(1), Some((11.7, Some(6169), Some(36))), R5_CLEAN),
            ]),
            ("r5-recovering.txt", &[
                ("md126", Some(Raid6), Some(Clean), Some(0), None, R6_CLEAN),
                // mdstat does not say that vdf is the one being rebuilt.
                ("md127", Some(Raid5), Some(Recovering), Some(1), Some((3.7, Some(3328), Some(72))), "vdf=A vdd=A vde=J vdc=A vda=A"),
            ]),
            ("r5-recovered.txt", &[
                ("md126", Some(Raid6), Some(Clean), Some(0), None, R6_CLEAN),
                ("md127", Some(Raid5), Some(Clean), Some(0), None, "vdf=A vdd=A vde=J vdc=A vda=A"),
            ]),
            ("r6-degraded.txt", &[
                ("md126", Some(Raid6), Some(Degraded), Some(1), None, "vdj=A vdi=F vdh=A vdg=A"),
                ("md127", Some(Raid5), Some(Clean), Some(0), None, "vdb=S vdf=A vdd=A vde=J vdc=A vda=A"),
            ]),
            ("r6-recovering-bitmap.txt", &[
                ("md126", Some(Raid6), Some(Recovering), Some(1), Some((3.5, Some(3157), Some(78))), "vdk=A vdj=A vdh=A vdg=A"),
                ("md127", Some(Raid5), Some(Clean), Some(0), None, "vdb=S vdf=A vdd=A vde=J vdc=A vda=A"),
            ]),
        ];
        let lab: Vec<String> = captures("mdstat")
            .into_iter()
            .filter(|n| {
                !n.starts_with("pymdstat-")
                    && !n.starts_with("procfs-")
                    && !n.starts_with("node-exporter-")
                    && !n.starts_with("lab-")
            })
            .collect();
        let mut listed: Vec<&str> = expected.iter().map(|e| e.0).collect();
        listed.sort_unstable();
        assert_eq!(lab, listed, "every lab capture has its expectations");
        for (file, arrays) in expected {
            let got = mdstat(&fixture(&format!("mdstat/{file}")))
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(got.len(), arrays.len(), "{file}");
            for (a, (name, level, state, degraded, progress, members)) in
                got.iter().zip(arrays.iter())
            {
                let case = format!("{file} {name}");
                assert_eq!(a.name.as_deref(), Some(*name), "{case}");
                assert_eq!(a.level, *level, "{case}");
                assert_eq!(a.state, *state, "{case}");
                assert_eq!(a.degraded_count, *degraded, "{case}");
                assert_eq!(a.degraded, degraded.map(|d| d > 0), "{case}");
                assert_eq!(a.raid_devices, Some(4), "{case}");
                assert_eq!(progress_of(a), *progress, "{case}");
                assert_eq!(roles(a), *members, "{case}");
            }
        }
        // What else a lab array says: the raid6's bitmap, the raid5's
        // journal, which closes its write hole; sizes and chunks.
        let both = mdstat(&fixture("mdstat/r5-r6-resync.txt")).unwrap();
        let (r6, r5) = (&both[0], &both[1]);
        assert_eq!(r6.consistency_policy, Some(ConsistencyPolicy::Bitmap));
        assert_eq!(r6.write_hole, Some(WriteHole::Open));
        assert_eq!(r6.chunk_kib, Some(512));
        assert_eq!(r6.size_bytes, Some(520_192 * 1024));
        // md126's `resync =` may as well be a repair (the lab's
        // r5-repairing shows one so): neither action nor state is said.
        assert_eq!((r6.sync_action, r6.state), (None, None));
        assert!(r6.progress.is_some());
        assert_eq!(r5.consistency_policy, Some(ConsistencyPolicy::Journal));
        assert_eq!(r5.write_hole, Some(WriteHole::Journal));
        assert_eq!(r5.chunk_kib, Some(64));
        assert_eq!(r5.size_bytes, Some(783_360 * 1024));
        let p = r5.progress.as_ref().unwrap();
        // mdstat counts KiB of one member; Progress counts sectors.
        assert_eq!(
            (p.done_sectors, p.total_sectors),
            (Some(61_696), Some(522_240))
        );
        let journal = r5.members.iter().find(|m| m.device == "vde").unwrap();
        assert_eq!(
            (journal.number, journal.state.clone()),
            (Some(4), vec!["journal".to_string()])
        );
    }

    #[test]
    fn public_mdstat_captures_read_as_their_machines_were() {
        // (file, arrays as name:state:degraded, and checks of one array)
        let read = |file: &str| {
            mdstat(&fixture(&format!("mdstat/{file}"))).unwrap_or_else(|e| panic!("{file}: {e}"))
        };
        let summary = |arrays: &[Array]| {
            arrays
                .iter()
                .map(|a| {
                    format!(
                        "{}:{}:{}",
                        a.name.as_deref().unwrap_or("?"),
                        a.state.map(ArrayState::as_str).unwrap_or("?"),
                        a.degraded_count
                            .map(|d| d.to_string())
                            .unwrap_or("-".into())
                    )
                })
                .collect::<Vec<_>>()
                .join(" ")
        };

        let a = read("pymdstat-02-raid5-bitmap.txt");
        assert_eq!(summary(&a), "md_d0:clean:0");
        assert_eq!(a[0].consistency_policy, Some(ConsistencyPolicy::Bitmap));

        let a = read("pymdstat-05-raid5-recovery.txt");
        assert_eq!(summary(&a), "md127:recovering:1");
        assert_eq!(
            progress_of(&a[0]),
            Some((12.6, Some(33_440), Some(127 * 60 + 30)))
        );
        let p = a[0].progress.as_ref().unwrap();
        assert_eq!(p.total_sectors, Some(292_945_152 * 2));

        let a = read("pymdstat-07-raid1-faulty.txt");
        assert_eq!(summary(&a), "md1:degraded:2");
        assert_eq!(roles(&a[0]), "sde1=F sdg1=A sdb1=A sdd1=A sdc1=A");

        // An inactive array: md lists every member as a spare, its block
        // count is not a size, and there is no level.
        let a = read("pymdstat-09-inactive-spares.txt");
        assert_eq!(summary(&a), "md0:clean:0 md1:clean:0 md2:inactive:-");
        assert_eq!(roles(&a[2]), "sdb=S sdc=S sdd=S sda=S");
        assert_eq!((a[2].level_text.clone(), a[2].size_bytes), (None, None));
        let a = read("pymdstat-11-inactive-mixed.txt");
        assert_eq!(summary(&a), "md127:inactive:-");
        assert_eq!(roles(&a[0]), "sda=A sdb=A sdc=S");
        // Edited by hand, it seems (no kernel prints a level for an
        // inactive array), but read all the same.
        let a = read("pymdstat-08-inactive-with-level.txt");
        assert_eq!(summary(&a), "md0:inactive:0");

        // raid4 is md's, not Baystack's: no level, its word kept.
        let a = read("pymdstat-13-raid4-reshape.txt");
        assert_eq!(summary(&a), "md127:reshaping:1");
        assert_eq!(
            (a[0].level, a[0].level_text.as_deref()),
            (None, Some("raid4"))
        );
        assert_eq!(
            progress_of(&a[0]),
            Some((2.1, Some(23_033), Some(3 * 60 + 42)))
        );

        // A no-break space after "Personalities :", and status lines
        // without their indent.
        assert_eq!(
            summary(&read("pymdstat-14-nbsp-after-personalities.txt")),
            "md127:clean:-"
        );
        assert_eq!(
            summary(&read("pymdstat-15-unindented.txt")),
            "md3:clean:0 md2:clean:0 md1:clean:0 md0:clean:0"
        );
        let a = read("pymdstat-16-raid5-large-bitmap.txt");
        assert_eq!(a[0].size_bytes, Some(95_705_752_576 * 1024));
        assert_eq!(a[0].chunk_kib, Some(512));

        let a = read("procfs-fixtures-mdstat.txt");
        assert_eq!(
            summary(&a),
            "md3:clean:0 md127:clean:0 md0:clean:0 md4:inactive:0 md6:recovering:1 \
             md8:?:0 md201:checking:0 md7:degraded:1 md9:?:0 md10:clean:- \
             md11:?:0 md12:clean:- md126:clean:- md219:inactive:- md00:clean:- \
             md120:clean:- md101:clean:- md42:reshaping:1"
        );
        let by = |name: &str| a.iter().find(|x| x.name.as_deref() == Some(name)).unwrap();
        assert_eq!(
            progress_of(by("md201")),
            Some((5.7, Some(114_176), Some(12)))
        );
        assert_eq!(by("md201").sync_action, Some(SyncAction::Check));
        // resync=DELAYED and resync=PENDING: md's sync flag, no progress
        // yet. The kernel prints DELAYED for any sync waiting its turn,
        // and a repair shows as `resync` too: no action nor state said.
        for name in ["md9", "md11"] {
            assert_eq!(
                (
                    by(name).sync_action,
                    by(name).state,
                    by(name).progress.clone()
                ),
                (None, None, None)
            );
        }
        assert_eq!(
            roles(by("md9")),
            "sdc2=A sdd2=A sdb2=A sda2=A sde=F sdf=F sdg=S"
        );
        assert_eq!(
            progress_of(by("md42")),
            Some((56.1, Some(7640), Some(1868 * 60 + 6)))
        );
        assert_eq!(by("md120").level_text.as_deref(), Some("linear"));
        assert_eq!(by("md10").chunk_kib, Some(64));

        // The kernel puts a tab before resync=DELAYED; this older capture
        // indents more lines with one.
        let a = read("node-exporter-2016-tabs.txt");
        let by = |name: &str| a.iter().find(|x| x.name.as_deref() == Some(name)).unwrap();
        assert_eq!(by("md8").state, None);
        assert!(by("md8").progress.is_some());
        assert_eq!(by("md9").sync_action, None);
        assert_eq!(by("md11").state, None);
        assert_eq!(by("md219").state, Some(Inactive));
    }

    #[test]
    fn flags_levels_and_forms_no_capture_here_shows() {
        // (R) replacement and (W) write-mostly, the glued percent of a
        // sync at 100%, the one-word form of kernels before 2.4.
        let text = "Personalities : [raid1] [raid10]\n\
            md0 : active raid1 sdc[2](R) sdb[1] sda[0](W)\n\
            \x20     1046528 blocks super 1.2 [2/2] [UU]\n\
            \x20     [====================>]  recovery =100.0% (1046528/1046528) finish=0.0min speed=0K/sec\n\
            \n\
            md1 : active raid1 sdb2[1] sda2[0]\n\
            \x20     1046528 blocks [2/2] [UU] resync=12%\n\
            \n\
            unused devices: <none>\n";
        let a = mdstat(text).unwrap();
        assert_eq!(roles(&a[0]), "sdc=R sdb=A sda=A");
        assert_eq!(a[0].members[2].state, ["write_mostly"]);
        assert_eq!(progress_of(&a[0]), Some((100.0, Some(0), Some(0))));
        assert_eq!(a[0].state, Some(Recovering));
        assert_eq!(progress_of(&a[1]), Some((12.0, None, None)));

        // raid10, near layout: two of four gone is survivable when they
        // hold different blocks, and not when they hold the same.
        let r10 = |pattern: &str| {
            let text = format!(
                "Personalities : [raid10]\nmd0 : active raid10 sdd[3] sda[0]\n      2093056 blocks super 1.2 512K chunks 2 near-copies [4/2] [{pattern}]\n"
            );
            mdstat(&text).unwrap()[0].state
        };
        assert_eq!(r10("U__U"), Some(Degraded));
        assert_eq!(r10("__UU"), Some(ArrayState::Failed));
        // raid5 with two gone, raid6 with three.
        let lost = |level: &str, counts: &str, pattern: &str| {
            let text = format!(
                "Personalities : [raid6]\nmd0 : active {level} sda[0]\n      3 blocks super 1.2 level 6, 64k chunk, algorithm 2 {counts} [{pattern}]\n"
            );
            mdstat(&text).unwrap()[0].state
        };
        assert_eq!(lost("raid5", "[4/2]", "UU__"), Some(ArrayState::Failed));
        assert_eq!(lost("raid6", "[4/2]", "UU__"), Some(Degraded));
        assert_eq!(lost("raid6", "[4/1]", "U___"), Some(ArrayState::Failed));
    }

    #[test]
    fn mdstat_refuses_what_md_would_not_print() {
        let refused = |text: &str| mdstat(text).unwrap_err().to_string();
        assert_eq!(
            refused(""),
            "this is not /proc/mdstat: it has no \"Personalities\" line"
        );
        assert!(refused(&fixture("mdadm/detail-r6-clean.txt")).contains("not /proc/mdstat"));
        let head = "Personalities : [raid1]\nmd0 : active raid1 sda[0] sdb[1]\n";
        assert_eq!(
            refused(&format!("{head}      100 blocks [1/2] [U_]\n")),
            "line 3: [1/2] says 2 of 1 devices are in sync"
        );
        assert!(
            refused(&format!("{head}      100 blocks [2/1] [U_U]\n"))
                .contains("3 slots in the pattern")
        );
        assert!(
            refused(&format!(
                "{head}      100 blocks [2/2] [UU]\n      [=>..]  recovery = 101.0% (1/2)\n"
            ))
            .contains("not how far")
        );
        assert!(
            refused(&format!(
                "{head}      100 blocks [2/2] [UU]\n      [=>..]  recovery = 1.0% (3/2)\n"
            ))
            .contains("more done than there is")
        );
        assert!(
            refused("Personalities : [raid1]\nmd0 : running raid1 sda[0]\n")
                .contains("neither active nor inactive")
        );
        assert!(
            refused("Personalities : [raid1]\nmd0 : active raid1 sda[0](Q)\n")
                .contains("not a member")
        );
        // A hand-edited public capture that says [1/2].
        let edited = "Personalities : [raid1]\nmd2 : active raid1 sda1[0]\n      2930134464 blocks super 1.2 [1/2] [U_]\n";
        assert!(refused(edited).contains("2 of 1"));
    }

    #[test]
    fn every_detail_capture_reads_as_mdadm_meant() {
        #[rustfmt::skip]
        let expected: &[Case<Option<f64>>] = &[
            ("detail-r5-degraded-faulty.txt", "r5", Some(Raid5), Degraded, 1, None, "vda=A0 vdc=A2 vdd=A3 vdb=F vde=J"),
            ("detail-r5-degraded-removed.txt", "r5", Some(Raid5), Degraded, 1, None, "vda=A0 vdc=A2 vdd=A3 vde=J"),
            ("detail-r5-journal-clean.txt", "r5", Some(Raid5), Clean, 0, None, "vda=A0 vdb=A1 vdc=A2 vdd=A3 vde=J"),
            ("detail-r5-recovered.txt", "r5", Some(Raid5), Clean, 0, None, "vda=A0 vdf=A1 vdc=A2 vdd=A3 vde=J"),
            ("detail-r5-recovering.txt", "r5", Some(Raid5), Recovering, 1, Some(5.0), "vda=A0 vdf=B1 vdc=A2 vdd=A3 vde=J"),
            ("detail-r5-resync.txt", "r5", Some(Raid5), Recovering, 1, Some(5.0), "vda=A0 vdb=A1 vdc=A2 vdd=B3 vde=J"),
            ("detail-r5-with-spare.txt", "r5", Some(Raid5), Clean, 0, None, "vda=A0 vdf=A1 vdc=A2 vdd=A3 vde=J vdb=S"),
            ("detail-r6-clean.txt", "r6", Some(Raid6), Clean, 0, None, "vdg=A0 vdh=A1 vdi=A2 vdj=A3"),
            ("detail-r6-degraded.txt", "r6", Some(Raid6), Degraded, 1, None, "vdg=A0 vdh=A1 vdj=A3 vdi=F"),
        ];
        let listed: Vec<&str> = expected.iter().map(|e| e.0).collect();
        let on_disk: Vec<String> = captures("mdadm")
            .into_iter()
            .filter(|n| n.starts_with("detail-r"))
            .collect();
        assert_eq!(on_disk, listed, "every detail capture has its expectations");
        for (file, md_name, level, state, degraded, pct, members) in expected {
            let a = detail(&fixture(&format!("mdadm/{file}")))
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(
                a.name, None,
                "{file}: /dev/md/{md_name} does not give the kernel's name"
            );
            assert_eq!(a.md_name.as_deref(), Some(*md_name), "{file}");
            assert_eq!(a.level, *level, "{file}");
            assert_eq!(a.state, Some(*state), "{file}");
            assert_eq!(a.degraded_count, Some(*degraded), "{file}");
            assert_eq!(a.degraded, Some(*degraded > 0), "{file}");
            assert_eq!(a.progress.as_ref().map(|p| p.percent), *pct, "{file}");
            assert_eq!(roles(&a), *members, "{file}");
            assert_eq!(a.raid_devices, Some(4), "{file}");
        }
        let r5 = detail(&fixture("mdadm/detail-r5-recovering.txt")).unwrap();
        assert_eq!(
            r5.uuid.as_deref(),
            Some("1276018e:e8048774:02f43efe:3900648f")
        );
        assert_eq!(r5.consistency_policy, Some(ConsistencyPolicy::Journal));
        assert_eq!(r5.write_hole, Some(WriteHole::Journal));
        assert_eq!(
            (r5.chunk_kib, r5.size_bytes),
            (Some(64), Some(783_360 * 1024))
        );
        let rebuilding = &r5.members[1];
        assert_eq!(
            (rebuilding.number, rebuilding.state.clone()),
            (Some(6), vec!["spare".to_string(), "rebuilding".to_string()])
        );
        let r6 = detail(&fixture("mdadm/detail-r6-clean.txt")).unwrap();
        assert_eq!(
            (r6.consistency_policy, r6.write_hole),
            (Some(ConsistencyPolicy::Bitmap), Some(WriteHole::Open))
        );
        assert_eq!(r6.chunk_kib, Some(512));
    }

    #[test]
    fn detail_knows_a_replacement_a_failed_array_and_the_kernel_name() {
        let lab = fixture("mdadm/detail-r5-journal-clean.txt");
        // mdadm prints a slot's replacement right after its member, with
        // the same RaidDevice.
        let replacing = lab
            .replace("/dev/md/r5:", "/dev/md127:")
            .replace(
                "       1     254       16        1      active sync   /dev/vdb\n",
                "       1     254       16        1      active sync   /dev/vdb\n       7     254       80        1      spare rebuilding   /dev/vdf\n",
            )
            .replace("State : clean ", "State : clean, recovering ")
            .replace("Consistency Policy : journal\n", "Consistency Policy : journal\n\n    Rebuild Status : 40% complete\n");
        let a = detail(&replacing).unwrap();
        assert_eq!(a.name.as_deref(), Some("md127"));
        assert_eq!(roles(&a), "vda=A0 vdb=A1 vdf=R1 vdc=A2 vdd=A3 vde=J");
        assert_eq!((a.state, a.degraded), (Some(Recovering), Some(false)));

        let failed =
            fixture("mdadm/detail-r6-degraded.txt").replace("clean, degraded", "clean, FAILED");
        assert_eq!(detail(&failed).unwrap().state, Some(ArrayState::Failed));
        let inactive =
            fixture("mdadm/detail-r6-clean.txt").replace("State : clean ", "State : inactive");
        assert_eq!(detail(&inactive).unwrap().state, Some(Inactive));
        let checking = fixture("mdadm/detail-r6-clean.txt")
            .replace("State : clean ", "State : clean, checking ");
        assert_eq!(detail(&checking).unwrap().state, Some(ArrayState::Checking));
    }

    #[test]
    fn detail_refuses_other_mdadm_output() {
        for file in [
            "examine-r5-member.txt",
            "examine-r5-journal.txt",
            "examine-r6-member.txt",
        ] {
            let e = detail(&fixture(&format!("mdadm/{file}")))
                .unwrap_err()
                .to_string();
            assert!(e.contains("`mdadm --examine` output"), "{file}: {e}");
        }
        for file in [
            "detail-scan.txt",
            "examine-scan.txt",
            "monitor-oneshot.txt",
            "detail-export-r6-clean.txt",
        ] {
            let e = detail(&fixture(&format!("mdadm/{file}")))
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("this is not `mdadm --detail` output"),
                "{file}: {e}"
            );
        }
        let e = detail_export(&fixture("mdadm/examine-export-r5-member.txt"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`mdadm --examine --export` output"), "{e}");
        let e = detail_export(&fixture("mdadm/detail-r6-clean.txt"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("this is not `mdadm --detail --export` output"),
            "{e}"
        );
        let many = fixture("mdadm/detail-r6-clean.txt")
            .replace("Active Devices : 4", "Active Devices : 5");
        assert!(
            detail(&many)
                .unwrap_err()
                .to_string()
                .contains("5 active devices in an array of 4")
        );
    }

    #[test]
    fn every_export_capture_reads_as_mdadm_meant() {
        #[rustfmt::skip]
        let expected: &[(&str, &str, Option<RaidLevel>, &str)] = &[
            // The journal and the faulty member are "spare" here, and the
            // member being rebuilt has its slot.
            ("detail-export-r5-degraded-faulty.txt", "r5", Some(Raid5), "vde=S vdc=A2 vda=A0 vdd=A3 vdb=S"),
            ("detail-export-r5-journal-clean.txt", "r5", Some(Raid5), "vde=S vdc=A2 vda=A0 vdd=A3 vdb=A1"),
            ("detail-export-r5-recovering.txt", "r5", Some(Raid5), "vde=S vdc=A2 vda=A0 vdf=A1 vdd=A3"),
            ("detail-export-r5-resync.txt", "r5", Some(Raid5), "vde=S vdc=A2 vda=A0 vdd=A3 vdb=A1"),
            ("detail-export-r6-clean.txt", "r6", Some(Raid6), "vdg=A0 vdj=A3 vdh=A1 vdi=A2"),
        ];
        let listed: Vec<&str> = expected.iter().map(|e| e.0).collect();
        let on_disk: Vec<String> = captures("mdadm")
            .into_iter()
            .filter(|n| n.starts_with("detail-export-"))
            .collect();
        assert_eq!(on_disk, listed);
        for (file, md_name, level, members) in expected {
            let a = detail_export(&fixture(&format!("mdadm/{file}")))
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(a.md_name.as_deref(), Some(*md_name), "{file}");
            assert_eq!(a.level, *level, "{file}");
            assert_eq!(a.raid_devices, Some(4), "{file}");
            assert_eq!(
                (a.state, a.degraded, a.progress.clone()),
                (None, None, None),
                "{file}: export says nothing of them"
            );
            assert_eq!(roles(&a), *members, "{file}");
        }
        let r6 = detail_export(&fixture("mdadm/detail-export-r6-clean.txt")).unwrap();
        assert_eq!(
            r6.uuid.as_deref(),
            Some("5353526e:8bb48ee0:3249dd1a:393d851a")
        );
        // The same UUID as sysfs gives it.
        assert_eq!(
            normalize_uuid("5353526e-8bb4-8ee0-3249-dd1a393d851a"),
            r6.uuid
        );
    }

    fn sysfs_fixture(file: &str) -> Result<Array, ParseError> {
        let (name, files) = sysfs_capture(&fixture(&format!("sysfs-md/{file}")))?;
        sysfs(&name, &files)
    }

    #[test]
    fn every_sysfs_capture_reads_as_the_kernel_meant() {
        #[rustfmt::skip]
        let expected: &[Case<Progressed>] = &[
            ("md-r5-clean.txt", "md127", Some(Raid5), Clean, 0, None, "vda=A0 vdb=A1 vdc=A2 vdd=A3 vde=J"),
            ("md-r5-degraded.txt", "md127", Some(Raid5), Degraded, 1, None, "vda=A0 vdc=A2 vdd=A3 vde=J"),
            // sysfs does say which member is being rebuilt: a spare with a
            // slot. Its sync_completed is in sectors, 0 of 522240 here.
            ("md-r5-recovering.txt", "md127", Some(Raid5), Recovering, 1, Some((0.0, Some(4522), Some(57))), "vda=A0 vdc=A2 vdd=A3 vde=J vdf=B1"),
            ("md-r6-clean.txt", "md126", Some(Raid6), Clean, 0, None, "vdg=A0 vdh=A1 vdi=A2 vdj=A3"),
        ];
        let listed: Vec<&str> = expected.iter().map(|e| e.0).collect();
        assert_eq!(
            captures("sysfs-md")
                .into_iter()
                .filter(|n| !n.starts_with("lab-"))
                .collect::<Vec<_>>(),
            listed
        );
        for (file, name, level, state, degraded, progress, members) in expected {
            let a = sysfs_fixture(file).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(a.name.as_deref(), Some(*name), "{file}");
            assert_eq!(a.level, *level, "{file}");
            assert_eq!(a.state, Some(*state), "{file}");
            assert_eq!(a.degraded_count, Some(*degraded), "{file}");
            assert_eq!(progress_of(&a), *progress, "{file}");
            assert_eq!(roles(&a), *members, "{file}");
        }
        let r5 = sysfs_fixture("md-r5-recovering.txt").unwrap();
        assert_eq!(
            r5.uuid.as_deref(),
            Some("1276018e:e8048774:02f43efe:3900648f")
        );
        assert_eq!(
            (r5.consistency_policy, r5.write_hole),
            (Some(ConsistencyPolicy::Journal), Some(WriteHole::Journal))
        );
        // array_size is "default": the size is the members' times three.
        assert_eq!(
            (r5.chunk_kib, r5.size_bytes),
            (Some(64), Some(783_360 * 1024))
        );
        let p = r5.progress.unwrap();
        assert_eq!((p.done_sectors, p.total_sectors), (Some(0), Some(522_240)));
        let r6 = sysfs_fixture("md-r6-clean.txt").unwrap();
        assert_eq!(
            (r6.size_bytes, r6.consistency_policy),
            (Some(520_192 * 1024), Some(ConsistencyPolicy::Bitmap))
        );
    }

    #[test]
    fn sysfs_member_states_the_captures_do_not_show() {
        let (name, base) = sysfs_capture(&fixture("sysfs-md/md-r5-clean.txt")).unwrap();
        let with = |changes: &[(&str, &str)]| {
            let mut files = base.clone();
            for (k, v) in changes {
                files.insert(k.to_string(), v.to_string());
            }
            sysfs(&name, &files)
        };
        // `mdadm --replace`: a replacement being built for slot 1.
        let a = with(&[
            ("dev-vdb/state", "in_sync,want_replacement"),
            ("dev-vdf/state", "spare,replacement"),
            ("dev-vdf/slot", "1"),
            ("sync_action", "recover"),
            ("sync_completed", "261120 / 522240"),
            ("sync_speed", "1000"),
        ])
        .unwrap();
        assert_eq!(roles(&a), "vda=A0 vdb=A1 vdc=A2 vdd=A3 vde=J vdf=R1");
        assert_eq!((a.state, a.degraded), (Some(Recovering), Some(false)));
        assert_eq!(progress_of(&a), Some((50.0, Some(1000), Some(130))));
        let a = with(&[
            ("dev-vdb/state", "faulty,write_error"),
            ("dev-vdb/slot", "none"),
            ("degraded", "1"),
        ])
        .unwrap();
        assert_eq!(roles(&a), "vda=A0 vdb=F vdc=A2 vdd=A3 vde=J");
        let a = with(&[("array_state", "inactive")]).unwrap();
        assert_eq!(a.state, Some(Inactive));
        let a = with(&[("sync_action", "check"), ("sync_completed", "1 / 3")]).unwrap();
        assert_eq!(
            (a.state, progress_of(&a).map(|p| p.0)),
            (Some(ArrayState::Checking), Some(33.3))
        );
        let a = with(&[("sync_action", "repair")]).unwrap();
        assert_eq!(a.state, Some(ArrayState::Repairing));
        let a = with(&[("degraded", "2")]).unwrap();
        assert_eq!(a.state, Some(ArrayState::Failed));
        let a = with(&[("consistency_policy", "ppl")]).unwrap();
        assert_eq!(a.write_hole, Some(WriteHole::Ppl));
        // raid10, near=2 (layout 0x102), 512 KiB chunks: half the members'
        // size in whole chunks, as mdstat shows such an array (2093056
        // blocks from 1046528 KiB members).
        let a = with(&[
            ("level", "raid10"),
            ("layout", "258"),
            ("chunk_size", "524288"),
            ("component_size", "1046528"),
            ("consistency_policy", "resync"),
        ])
        .unwrap();
        assert_eq!(
            (a.level, a.size_bytes, a.write_hole),
            (Some(RaidLevel::Raid10), Some(2_093_056 * 1024), None)
        );
        // raid_disks while a reshape takes it from 4 devices to 5: five
        // slots, the size of four until it is done.
        let a = with(&[("raid_disks", "5 (4)"), ("sync_action", "reshape")]).unwrap();
        assert_eq!(
            (a.raid_devices, a.size_bytes, a.state),
            (Some(5), Some(783_360 * 1024), Some(ArrayState::Reshaping))
        );
        for odd in ["5 (x)", "5 4", "5 (4) (3)", "(4)", "0"] {
            assert!(with(&[("raid_disks", odd)]).is_err(), "{odd}");
        }
        // Without its layout a raid10's size is not known, and a member
        // missing is not data lost.
        let mut no_layout = base.clone();
        no_layout.remove("layout");
        no_layout.insert("level".into(), "raid10".into());
        no_layout.insert("degraded".into(), "1".into());
        let a = sysfs(&name, &no_layout).unwrap();
        assert_eq!((a.size_bytes, a.state), (None, Some(Degraded)));
        let a = with(&[
            ("mismatch_cnt", "2048"),
            ("sync_min", "1024"),
            ("sync_max", "4096"),
        ])
        .unwrap();
        assert_eq!(a.mismatch_count, Some(2048));
        assert_eq!(
            a.sync_window,
            Some(SyncWindow {
                min_sectors: 1024,
                max_sectors: Some(4096)
            })
        );
        assert!(with(&[("sync_min", "9"), ("sync_max", "8")]).is_err());
        assert!(with(&[("sync_max", "end")]).is_err());
        // Nonsense is refused.
        assert!(with(&[("degraded", "5")]).is_err());
        assert!(with(&[("sync_action", "recover"), ("sync_completed", "9 / 3")]).is_err());
        assert!(with(&[("dev-vdb/state", "")]).is_err());
        assert!(
            with(&[("dev-vdb/slot", "0")])
                .unwrap_err()
                .to_string()
                .contains("two members in slot 0")
        );
        let mut no_state = base.clone();
        no_state.remove("array_state");
        assert!(
            sysfs(&name, &no_state)
                .unwrap_err()
                .to_string()
                .contains("no array_state")
        );
    }

    /// What an administrator must see of one lab state from one source:
    /// the state, level, slots, whether degraded, what closes the write
    /// hole, the percent done, mismatches, the size in KiB, and the
    /// members as [`roles`] gives them. `None` where the source cannot
    /// know.
    type Seen = (
        &'static str,
        Option<ArrayState>,
        Option<RaidLevel>,
        Option<u32>,
        Option<bool>,
        Option<WriteHole>,
        Option<f64>,
        Option<u64>,
        Option<u64>,
        &'static str,
    );

    /// The lab's array for a state: the raid10 and the journalled raid5
    /// are md126 beside md127 (the raid6, the raid5 with a PPL).
    fn lab_array(state: &str) -> &'static str {
        match state {
            "r10-clean" | "r5-journal" => "md126",
            _ => "md127",
        }
    }

    fn assert_seen(source: &str, a: &Array, seen: &Seen) {
        let (lab, state, level, devices, degraded, hole, pct, mismatch, kib, members) = *seen;
        let case = format!("{source} of lab {lab}");
        assert_eq!(a.state, state, "{case}: state");
        assert_eq!(a.level, level, "{case}: level");
        assert_eq!(a.raid_devices, devices, "{case}: raid devices");
        assert_eq!(a.degraded, degraded, "{case}: degraded");
        assert_eq!(a.write_hole, hole, "{case}: write hole");
        assert_eq!(
            a.progress.as_ref().map(|p| p.percent),
            pct,
            "{case}: percent"
        );
        if let Some(p) = &a.progress {
            assert!(p.percent > 0.0 && p.percent < 100.0, "{case}: {p:?}");
            if let (Some(done), Some(total)) = (p.done_sectors, p.total_sectors) {
                assert!(0 < done && done < total, "{case}: {p:?}");
            }
        }
        assert_eq!(a.mismatch_count, mismatch, "{case}: mismatches");
        assert_eq!(a.size_bytes, kib.map(|k| k * 1024), "{case}: size");
        assert_eq!(roles(a), members, "{case}: members");
        a.check().unwrap_or_else(|e| panic!("{case}: {e}"));
    }

    fn lab_sysfs(state: &str) -> Array {
        let md = fixtures().join(format!("sysfs-md/lab-{state}/md"));
        let read = read_sysfs(&md).unwrap_or_else(|e| panic!("{state}: {e}"));
        assert_eq!(read.notes, Vec::<String>::new(), "{state}");
        sysfs(lab_array(state), &read.files).unwrap_or_else(|e| panic!("sysfs of {state}: {e}"))
    }

    /// The lab's states (`lab-<state>.txt` in mdstat/), and that each of
    /// the other sources has every one of them (but `stopped`, which has
    /// no array to ask about).
    fn lab_states() -> Vec<String> {
        let strip = |dir: &str, prefix: &str| -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(fixtures().join(dir))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter_map(|n| {
                    let state = n.strip_prefix(prefix)?;
                    let state = state.strip_suffix(".txt").unwrap_or(state);
                    (!state.starts_with("export-") && !state.starts_with("scan"))
                        .then(|| state.to_string())
                })
                .collect();
            names.sort();
            names
        };
        let mut states = strip("mdstat", "lab-");
        assert!(states.len() >= 20, "{states:?}");
        states.retain(|s| s != "stopped");
        assert_eq!(strip("mdadm", "lab-detail-"), states, "--detail captures");
        assert_eq!(
            strip("mdadm", "lab-detail-export-"),
            states,
            "--export captures"
        );
        assert_eq!(strip("sysfs-md", "lab-"), states, "sysfs trees");
        states
    }

    use ArrayState::{Checking, Repairing, Reshaping};
    use RaidLevel::{Raid1, Raid10};

    const R1: Option<RaidLevel> = Some(Raid1);
    const R5: Option<RaidLevel> = Some(Raid5);
    const R6: Option<RaidLevel> = Some(Raid6);
    const R10: Option<RaidLevel> = Some(Raid10);
    const OPEN: Option<WriteHole> = Some(WriteHole::Open);
    const PPL: Option<WriteHole> = Some(WriteHole::Ppl);
    const JOURNAL: Option<WriteHole> = Some(WriteHole::Journal);
    const YES: Option<bool> = Some(true);
    const NO: Option<bool> = Some(false);

    /// Checks a source's table against the lab's states: one row each.
    fn every_lab_state_listed(source: &str, rows: &[Seen]) {
        let mut listed: Vec<&str> = rows.iter().map(|r| r.0).collect();
        listed.sort_unstable();
        assert_eq!(listed, lab_states(), "{source}: one row per lab state");
    }

    #[test]
    fn lab_states_from_mdstat() {
        // mdstat: `resync =` is a resync or a repair, so no state; no
        // policy but for a journal member or a bitmap line, so no write
        // hole without one (a PPL does not show); no mismatch count.
        #[rustfmt::skip]
        let rows: &[Seen] = &[
            ("r1-clean", Some(Clean), R1, Some(2), NO, None, None, None, Some(64_512), "loop1=A loop0=A"),
            ("r1-spare", Some(Clean), R1, Some(2), NO, None, None, None, Some(64_512), "loop2=S loop1=A loop0=A"),
            // Not which member is being rebuilt.
            ("r1-recovering", Some(Recovering), R1, Some(2), YES, None, Some(6.2), None, Some(64_512), "loop2=A loop1=F loop0=A"),
            ("r1-degraded", Some(Degraded), R1, Some(2), YES, None, None, None, Some(64_512), "loop2=F loop0=A"),
            // A replace is a recovery of a whole array: [2/2].
            ("r1-replacing", Some(Recovering), R1, Some(2), NO, None, Some(6.2), None, Some(64_512), "loop2=R loop1=A loop0=A"),
            ("r1-replaced", Some(Clean), R1, Some(2), NO, None, None, None, Some(64_512), "loop2=A loop1=A loop0=F"),
            // The initial build of a raid5 is a recovery onto its last
            // member, degraded until done.
            ("r5-building", Some(Recovering), R5, Some(3), YES, None, Some(8.0), None, Some(126_976), "loop5=A loop4=A loop3=A"),
            ("r5-resyncing", None, R5, Some(3), NO, None, Some(8.0), None, Some(126_976), "loop2=A loop1=A loop0=A"),
            ("r5-clean", Some(Clean), R5, Some(3), NO, None, None, None, Some(126_976), "loop5=A loop4=A loop3=A"),
            ("r5-checking", Some(Checking), R5, Some(3), NO, None, Some(8.0), None, Some(126_976), "loop5=A loop4=A loop3=A"),
            ("r5-repairing", None, R5, Some(3), NO, None, Some(6.4), None, Some(126_976), "loop5=A loop4=A loop3=A"),
            ("r5-check-mismatch", Some(Clean), R5, Some(3), NO, None, None, None, Some(126_976), "loop5=A loop4=A loop3=A"),
            // The size is the old one until the reshape ends.
            ("r5-reshaping", Some(Reshaping), R5, Some(4), NO, None, Some(5.6), None, Some(126_976), "loop6=A loop5=A loop4=A loop3=A"),
            ("r5-grown", Some(Clean), R5, Some(4), NO, None, None, None, Some(190_464), "loop6=A loop5=A loop4=A loop3=A"),
            ("r5-degraded", Some(Degraded), R5, Some(4), YES, None, None, None, Some(190_464), "loop6=A loop5=F loop4=A loop3=A"),
            // No level, no slots: the block count is the member's.
            ("r5-inactive", Some(Inactive), None, None, None, None, None, None, None, "loop3=S"),
            ("r5-journal", Some(Clean), R5, Some(3), NO, JOURNAL, None, None, Some(126_976), "loop5=A loop6=J loop4=A loop3=A"),
            ("r5-ppl", Some(Clean), R5, Some(3), NO, None, None, None, Some(124_928), "loop2=A loop1=A loop0=A"),
            ("r6-clean", Some(Clean), R6, Some(4), NO, None, None, None, Some(126_976), "loop3=A loop2=A loop1=A loop0=A"),
            ("r10-clean", Some(Clean), R10, Some(4), NO, None, None, None, Some(126_976), "loop7=A loop6=A loop5=A loop4=A"),
        ];
        every_lab_state_listed("mdstat", rows);
        for seen in rows {
            let text = fixture(&format!("mdstat/lab-{}.txt", seen.0));
            let arrays = mdstat(&text).unwrap_or_else(|e| panic!("{}: {e}", seen.0));
            let a = arrays
                .iter()
                .find(|a| a.name.as_deref() == Some(lab_array(seen.0)))
                .unwrap_or_else(|| panic!("{}: no {}", seen.0, lab_array(seen.0)));
            assert_seen("mdstat", a, seen);
        }
        assert_eq!(mdstat(&fixture("mdstat/lab-stopped.txt")).unwrap(), []);
        // Where mdstat shows a sync, its KiB of one member are sysfs's
        // sectors: the totals agree.
        for state in [
            "r1-recovering",
            "r1-replacing",
            "r5-building",
            "r5-checking",
            "r5-repairing",
            "r5-reshaping",
            "r5-resyncing",
        ] {
            let arrays = mdstat(&fixture(&format!("mdstat/lab-{state}.txt"))).unwrap();
            let a = arrays
                .iter()
                .find(|a| a.name.as_deref() == Some("md127"))
                .unwrap();
            let total = |a: &Array| a.progress.as_ref().and_then(|p| p.total_sectors);
            assert_eq!(total(a), total(&lab_sysfs(state)), "{state}");
            assert!(total(a).is_some(), "{state}");
        }
        let replacing = mdstat(&fixture("mdstat/lab-r1-replacing.txt")).unwrap();
        assert_eq!(replacing[0].sync_action, Some(SyncAction::Recover));
        let repairing = mdstat(&fixture("mdstat/lab-r5-repairing.txt")).unwrap();
        assert_eq!(repairing[0].sync_action, None, "a repair shows as `resync`");
    }

    #[test]
    fn lab_states_from_detail() {
        // `--detail`: "resyncing" for a repair too, so no state; a whole
        // percent; no mismatch count.
        #[rustfmt::skip]
        let rows: &[Seen] = &[
            ("r1-clean", Some(Clean), R1, Some(2), NO, None, None, None, Some(64_512), "loop0=A0 loop1=A1"),
            ("r1-spare", Some(Clean), R1, Some(2), NO, None, None, None, Some(64_512), "loop0=A0 loop1=A1 loop2=S"),
            ("r1-recovering", Some(Recovering), R1, Some(2), YES, None, Some(6.0), None, Some(64_512), "loop0=A0 loop2=B1 loop1=F"),
            // The removed slot's row is not a member.
            ("r1-degraded", Some(Degraded), R1, Some(2), YES, None, None, None, Some(64_512), "loop0=A0 loop2=F"),
            // `clean, recovering`: the new member in slot 0 after the old.
            ("r1-replacing", Some(Recovering), R1, Some(2), NO, None, Some(6.0), None, Some(64_512), "loop0=A0 loop2=R0 loop1=A1"),
            ("r1-replaced", Some(Clean), R1, Some(2), NO, None, None, None, Some(64_512), "loop2=A0 loop1=A1 loop0=F"),
            ("r5-building", Some(Recovering), R5, Some(3), YES, OPEN, Some(8.0), None, Some(126_976), "loop3=A0 loop4=A1 loop5=B2"),
            ("r5-resyncing", None, R5, Some(3), NO, OPEN, Some(8.0), None, Some(126_976), "loop0=A0 loop1=A1 loop2=A2"),
            ("r5-clean", Some(Clean), R5, Some(3), NO, OPEN, None, None, Some(126_976), "loop3=A0 loop4=A1 loop5=A2"),
            ("r5-checking", Some(Checking), R5, Some(3), NO, OPEN, Some(8.0), None, Some(126_976), "loop3=A0 loop4=A1 loop5=A2"),
            ("r5-repairing", None, R5, Some(3), NO, OPEN, Some(6.0), None, Some(126_976), "loop3=A0 loop4=A1 loop5=A2"),
            ("r5-check-mismatch", Some(Clean), R5, Some(3), NO, OPEN, None, None, Some(126_976), "loop3=A0 loop4=A1 loop5=A2"),
            ("r5-reshaping", Some(Reshaping), R5, Some(4), NO, OPEN, Some(5.0), None, Some(126_976), "loop3=A0 loop4=A1 loop5=A2 loop6=A3"),
            ("r5-grown", Some(Clean), R5, Some(4), NO, OPEN, None, None, Some(190_464), "loop3=A0 loop4=A1 loop5=A2 loop6=A3"),
            ("r5-degraded", Some(Degraded), R5, Some(4), YES, OPEN, None, None, Some(190_464), "loop3=A0 loop4=A1 loop6=A3 loop5=F"),
            // The level from the superblock; no slots, size nor policy.
            ("r5-inactive", Some(Inactive), R5, None, None, None, None, None, None, "loop3=S"),
            ("r5-journal", Some(Clean), R5, Some(3), NO, JOURNAL, None, None, Some(126_976), "loop3=A0 loop4=A1 loop5=A2 loop6=J"),
            ("r5-ppl", Some(Clean), R5, Some(3), NO, PPL, None, None, Some(124_928), "loop0=A0 loop1=A1 loop2=A2"),
            ("r6-clean", Some(Clean), R6, Some(4), NO, OPEN, None, None, Some(126_976), "loop0=A0 loop1=A1 loop2=A2 loop3=A3"),
            ("r10-clean", Some(Clean), R10, Some(4), NO, None, None, None, Some(126_976), "loop4=A0 loop5=A1 loop6=A2 loop7=A3"),
        ];
        every_lab_state_listed("--detail", rows);
        for seen in rows {
            let a = detail(&fixture(&format!("mdadm/lab-detail-{}.txt", seen.0)))
                .unwrap_or_else(|e| panic!("{}: {e}", seen.0));
            assert_eq!(a.name.as_deref(), Some(lab_array(seen.0)), "{}", seen.0);
            assert_seen("--detail", &a, seen);
        }
        let a = detail(&fixture("mdadm/lab-detail-r1-replacing.txt")).unwrap();
        assert_eq!(
            a.members[1].state,
            ["spare", "rebuilding"],
            "the replacement is a spare being rebuilt in mdadm's words"
        );
        let a = detail(&fixture("mdadm/lab-detail-r5-inactive.txt")).unwrap();
        assert_eq!((a.md_name.as_deref(), a.sync_action), (Some("r5"), None));
    }

    #[test]
    fn lab_states_from_detail_export() {
        // `--detail --export`: no state, progress, policy nor size; a
        // member's slot or "spare", which it also says of a faulty
        // member, the journal and an inactive array's member; both the
        // old member and its replacement in slot 0 while a replace runs.
        #[rustfmt::skip]
        let rows: &[Seen] = &[
            ("r1-clean", None, R1, Some(2), None, None, None, None, None, "loop0=A0 loop1=A1"),
            ("r1-spare", None, R1, Some(2), None, None, None, None, None, "loop2=S loop0=A0 loop1=A1"),
            ("r1-recovering", None, R1, Some(2), None, None, None, None, None, "loop2=A1 loop0=A0 loop1=S"),
            ("r1-degraded", None, R1, Some(2), None, None, None, None, None, "loop2=S loop0=A0"),
            ("r1-replacing", None, R1, Some(2), None, None, None, None, None, "loop2=A0 loop0=A0 loop1=A1"),
            ("r1-replaced", None, R1, Some(2), None, None, None, None, None, "loop2=A0 loop0=S loop1=A1"),
            ("r5-building", None, R5, Some(3), None, None, None, None, None, "loop4=A1 loop5=A2 loop3=A0"),
            ("r5-resyncing", None, R5, Some(3), None, None, None, None, None, "loop2=A2 loop0=A0 loop1=A1"),
            ("r5-clean", None, R5, Some(3), None, None, None, None, None, "loop4=A1 loop5=A2 loop3=A0"),
            ("r5-checking", None, R5, Some(3), None, None, None, None, None, "loop4=A1 loop5=A2 loop3=A0"),
            ("r5-repairing", None, R5, Some(3), None, None, None, None, None, "loop4=A1 loop5=A2 loop3=A0"),
            ("r5-check-mismatch", None, R5, Some(3), None, None, None, None, None, "loop4=A1 loop5=A2 loop3=A0"),
            ("r5-reshaping", None, R5, Some(4), None, None, None, None, None, "loop4=A1 loop5=A2 loop3=A0 loop6=A3"),
            ("r5-grown", None, R5, Some(4), None, None, None, None, None, "loop4=A1 loop5=A2 loop3=A0 loop6=A3"),
            ("r5-degraded", None, R5, Some(4), None, None, None, None, None, "loop4=A1 loop5=S loop3=A0 loop6=A3"),
            // No MD_LEVEL, and MD_DEVICES=1 counts the member offered so
            // far, not the array's four slots.
            ("r5-inactive", None, None, None, None, None, None, None, None, "loop3=S"),
            ("r5-journal", None, R5, Some(3), None, None, None, None, None, "loop4=A1 loop5=A2 loop3=A0 loop6=S"),
            ("r5-ppl", None, R5, Some(3), None, None, None, None, None, "loop2=A2 loop0=A0 loop1=A1"),
            ("r6-clean", None, R6, Some(4), None, None, None, None, None, "loop2=A2 loop0=A0 loop3=A3 loop1=A1"),
            ("r10-clean", None, R10, Some(4), None, None, None, None, None, "loop4=A0 loop7=A3 loop5=A1 loop6=A2"),
        ];
        every_lab_state_listed("--detail --export", rows);
        for seen in rows {
            let a = detail_export(&fixture(&format!("mdadm/lab-detail-export-{}.txt", seen.0)))
                .unwrap_or_else(|e| panic!("{}: {e}", seen.0));
            assert_eq!(a.name, None, "{}", seen.0);
            assert_eq!(a.sync_action, None, "{}", seen.0);
            assert_seen("--detail --export", &a, seen);
        }
    }

    #[test]
    fn lab_states_from_sysfs() {
        // sysfs: every state in the kernel's own words; sync_completed in
        // sectors. The captures hold no `layout`, so a raid10's size is
        // not known from them.
        #[rustfmt::skip]
        let rows: &[Seen] = &[
            ("r1-clean", Some(Clean), R1, Some(2), NO, None, None, Some(0), Some(64_512), "loop0=A0 loop1=A1"),
            ("r1-spare", Some(Clean), R1, Some(2), NO, None, None, Some(0), Some(64_512), "loop0=A0 loop1=A1 loop2=S"),
            // A spare with a slot is being rebuilt.
            ("r1-recovering", Some(Recovering), R1, Some(2), YES, None, Some(6.3), Some(0), Some(64_512), "loop0=A0 loop1=F loop2=B1"),
            ("r1-degraded", Some(Degraded), R1, Some(2), YES, None, None, Some(0), Some(64_512), "loop0=A0 loop2=F"),
            // `in_sync,want_replacement` and `spare,replacement`, both in
            // slot 0; `degraded` 0.
            ("r1-replacing", Some(Recovering), R1, Some(2), NO, None, Some(6.3), Some(0), Some(64_512), "loop0=A0 loop1=A1 loop2=R0"),
            ("r1-replaced", Some(Clean), R1, Some(2), NO, None, None, Some(0), Some(64_512), "loop0=F loop1=A1 loop2=A0"),
            ("r5-building", Some(Recovering), R5, Some(3), YES, OPEN, Some(6.2), Some(0), Some(126_976), "loop3=A0 loop4=A1 loop5=B2"),
            ("r5-resyncing", Some(Resyncing), R5, Some(3), NO, OPEN, Some(6.2), Some(0), Some(126_976), "loop0=A0 loop1=A1 loop2=A2"),
            ("r5-clean", Some(Clean), R5, Some(3), NO, OPEN, None, Some(0), Some(126_976), "loop3=A0 loop4=A1 loop5=A2"),
            ("r5-checking", Some(Checking), R5, Some(3), NO, OPEN, Some(6.2), Some(0), Some(126_976), "loop3=A0 loop4=A1 loop5=A2"),
            // Only here is a repair told from a resync.
            ("r5-repairing", Some(Repairing), R5, Some(3), NO, OPEN, Some(6.2), Some(0), Some(126_976), "loop3=A0 loop4=A1 loop5=A2"),
            ("r5-check-mismatch", Some(Clean), R5, Some(3), NO, OPEN, None, Some(2048), Some(126_976), "loop3=A0 loop4=A1 loop5=A2"),
            // raid_disks `4 (3)`: four slots, the size of three until done.
            // md keeps the check's mismatch count through the reshape.
            ("r5-reshaping", Some(Reshaping), R5, Some(4), NO, OPEN, Some(6.4), Some(2048), Some(126_976), "loop3=A0 loop4=A1 loop5=A2 loop6=A3"),
            ("r5-grown", Some(Clean), R5, Some(4), NO, OPEN, None, Some(2048), Some(190_464), "loop3=A0 loop4=A1 loop5=A2 loop6=A3"),
            ("r5-degraded", Some(Degraded), R5, Some(4), YES, OPEN, None, Some(2048), Some(190_464), "loop3=A0 loop4=A1 loop5=F loop6=A3"),
            // level and raid_disks empty, no degraded nor mismatch_cnt,
            // consistency_policy `unknown`.
            ("r5-inactive", Some(Inactive), None, None, None, None, None, None, None, "loop3=S"),
            ("r5-journal", Some(Clean), R5, Some(3), NO, JOURNAL, None, Some(0), Some(126_976), "loop3=A0 loop4=A1 loop5=A2 loop6=J"),
            ("r5-ppl", Some(Clean), R5, Some(3), NO, PPL, None, Some(0), Some(124_928), "loop0=A0 loop1=A1 loop2=A2"),
            ("r6-clean", Some(Clean), R6, Some(4), NO, OPEN, None, Some(0), Some(126_976), "loop0=A0 loop1=A1 loop2=A2 loop3=A3"),
            ("r10-clean", Some(Clean), R10, Some(4), NO, None, None, Some(0), None, "loop4=A0 loop5=A1 loop6=A2 loop7=A3"),
        ];
        every_lab_state_listed("sysfs", rows);
        for seen in rows {
            let a = lab_sysfs(seen.0);
            assert_eq!(a.name.as_deref(), Some(lab_array(seen.0)), "{}", seen.0);
            assert_seen("sysfs", &a, seen);
            let window = (seen.0 != "r5-inactive").then_some(SyncWindow {
                min_sectors: 0,
                max_sectors: None,
            });
            assert_eq!(a.sync_window, window, "{}", seen.0);
        }
        let a = lab_sysfs("r5-repairing");
        assert_eq!(a.sync_action, Some(SyncAction::Repair));
        let p = a.progress.unwrap();
        assert_eq!(
            (p.done_sectors, p.total_sectors, p.speed_kib_s),
            (Some(7944), Some(126_976), Some(1376))
        );
        let a = lab_sysfs("r1-replacing");
        assert_eq!(a.members[0].state, ["in_sync", "want_replacement"]);
        assert_eq!(a.members[2].state, ["spare", "replacement"]);
        let a = lab_sysfs("r5-journal");
        assert_eq!(a.members[3].state, ["journal"]);
        assert_eq!(a.consistency_policy, Some(ConsistencyPolicy::Journal));
    }

    /// Runs `parse` over every spoiled form of every capture: each returns
    /// in time, and every array it gives holds together.
    fn mutation_loop(
        dir: &str,
        files: Vec<String>,
        parse: fn(&str) -> Result<Vec<Array>, ParseError>,
    ) {
        let texts = files
            .into_iter()
            .map(|file| {
                let text = fixture(&format!("{dir}/{file}"));
                (file, text)
            })
            .collect();
        mutation_loop_texts(texts, parse);
    }

    /// [`mutation_loop`] over texts, each with its name.
    fn mutation_loop_texts(
        texts: Vec<(String, String)>,
        parse: fn(&str) -> Result<Vec<Array>, ParseError>,
    ) {
        for (file, text) in texts {
            let tried = in_time(120, move || {
                let mut tried = 0;
                for (what, spoiled) in variants(&text) {
                    tried += 1;
                    let Ok(arrays) = parse(&spoiled) else {
                        continue;
                    };
                    for a in arrays {
                        let case = format!("{file}, {what}: {a:?}");
                        a.check().unwrap_or_else(|e| panic!("{case}: {e}"));
                        if let Some(p) = &a.progress {
                            assert!((0.0..=100.0).contains(&p.percent), "{case}");
                        }
                        if let (Some(d), Some(n)) = (a.degraded_count, a.raid_devices) {
                            assert!(d <= n, "{case}");
                        }
                        assert!(
                            a.raid_devices
                                .is_none_or(|n| (1..=MAX_RAID_DEVICES).contains(&n)),
                            "{case}"
                        );
                        assert!(!a.members.iter().any(|m| m.device.is_empty()), "{case}");
                    }
                }
                tried
            });
            assert!(tried > 10);
        }
    }

    #[test]
    fn mdstat_mutation_loop() {
        mutation_loop("mdstat", captures("mdstat"), mdstat);
    }

    #[test]
    fn detail_mutation_loop() {
        // The --detail captures; the folder also holds what mdadm says to
        // other commands, and wipefs and blkid outputs.
        let files: Vec<String> = captures("mdadm")
            .into_iter()
            .filter(|n| n.contains("detail-") && !n.contains("scan"))
            .collect();
        mutation_loop("mdadm", files.clone(), |t| detail(t).map(|a| vec![a]));
        mutation_loop("mdadm", files, |t| detail_export(t).map(|a| vec![a]));
    }

    #[test]
    fn sysfs_mutation_loop() {
        let parse: fn(&str) -> Result<Vec<Array>, ParseError> = |t| {
            let (name, files) = sysfs_capture(t)?;
            sysfs(&name, &files).map(|a| vec![a])
        };
        mutation_loop("sysfs-md", captures("sysfs-md"), parse);
        // The lab's trees, as `grep -r . /sys/block/mdX/md` would show
        // them (an empty file as an empty value).
        let trees = lab_states()
            .into_iter()
            .map(|state| {
                let md = fixtures().join(format!("sysfs-md/lab-{state}/md"));
                let text: String = read_sysfs(&md)
                    .unwrap()
                    .files
                    .iter()
                    .map(|(k, v)| format!("/sys/block/{}/md/{k}:{v}\n", lab_array(&state)))
                    .collect();
                (format!("lab-{state}"), text)
            })
            .collect();
        mutation_loop_texts(trees, parse);
    }

    /// Writes a capture out as the directory it was read from.
    fn tree_from_capture(root: &Path, file: &str) -> PathBuf {
        let (_, files) = sysfs_capture(&fixture(&format!("sysfs-md/{file}"))).unwrap();
        let md = root.join("md");
        for (rel, text) in files {
            let path = md.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, format!("{text}\n")).unwrap();
        }
        md
    }

    #[test]
    fn a_sysfs_directory_reads_as_its_capture() {
        let tmp = tempfile::tempdir().unwrap();
        for file in captures("sysfs-md") {
            let root = tmp.path().join(&file);
            let md = tree_from_capture(&root, &file);
            // The kernel's rdN links, and a member's link to its disk.
            let member = ["dev-vda", "dev-vdg"]
                .into_iter()
                .find(|m| md.join(m).is_dir())
                .unwrap();
            std::os::unix::fs::symlink(member, md.join("rd0")).unwrap();
            std::fs::create_dir_all(root.join("disk")).unwrap();
            std::os::unix::fs::symlink("../../disk", md.join(member).join("block")).unwrap();
            let read = read_sysfs(&md).unwrap();
            assert_eq!(read.notes, Vec::<String>::new(), "{file}");
            let (name, _) = sysfs_capture(&fixture(&format!("sysfs-md/{file}"))).unwrap();
            assert_eq!(sysfs(&name, &read.files), sysfs_fixture(&file), "{file}");
        }
        let missing = read_sysfs(&tmp.path().join("nowhere")).unwrap_err();
        assert!(
            missing.to_string().contains("nowhere is not readable"),
            "{missing}"
        );
    }

    /// The reader's own mutation loop: each file it reads replaced in turn
    /// by what a tree could hold there instead. It returns in time, reads
    /// nothing from outside the tree, and says what it refused.
    #[test]
    fn a_sysfs_directory_with_anything_in_it_reads_in_time_and_stays_inside() {
        let tmp = tempfile::tempdir().unwrap();
        let secret = tmp.path().join("secret");
        std::fs::write(&secret, "hunter2\n").unwrap();
        let secret_dir = tmp.path().join("secret-dir");
        std::fs::create_dir(&secret_dir).unwrap();
        std::fs::write(secret_dir.join("state"), "hunter2\n").unwrap();
        let mut huge = b"clean\n".to_vec();
        huge.resize(MAX_FILE + 1, b' ');
        type Replace = Box<dyn Fn(&Path)>;
        let link = |to: PathBuf| -> Replace {
            Box::new(move |p: &Path| std::os::unix::fs::symlink(&to, p).unwrap())
        };
        let odd: Vec<(&str, Replace)> = vec![
            (
                "a FIFO",
                Box::new(|p: &Path| nix::unistd::mkfifo(p, Mode::S_IRWXU).unwrap()),
            ),
            ("/dev/zero", link(PathBuf::from("/dev/zero"))),
            ("a secret", link(secret.clone())),
            (
                "a directory",
                Box::new(|p: &Path| std::fs::create_dir(p).unwrap()),
            ),
            ("a dangling link", link(PathBuf::from("nowhere"))),
            (
                "4 KiB and more",
                Box::new(move |p: &Path| std::fs::write(p, &huge).unwrap()),
            ),
            (
                "bytes",
                Box::new(|p: &Path| std::fs::write(p, b"\xff\xfe\0\n").unwrap()),
            ),
        ];
        let targets = [
            "array_state",
            "degraded",
            "sync_completed",
            "dev-vdb/state",
            "dev-vdb/slot",
            "dev-vdb",
        ];
        let mut n = 0;
        for target in targets {
            for (what, how) in &odd {
                n += 1;
                let root = tmp.path().join(format!("case{n}"));
                let md = tree_from_capture(&root, "md-r5-clean.txt");
                let path = md.join(target);
                if path.is_dir() {
                    std::fs::remove_dir_all(&path).unwrap();
                } else {
                    std::fs::remove_file(&path).unwrap();
                }
                how(&path);
                let case = format!("{target} as {what}");
                let read =
                    in_time(20, move || read_sysfs(&md)).unwrap_or_else(|e| panic!("{case}: {e}"));
                let shown = format!("{read:?}");
                assert!(!shown.contains("hunter2"), "{case}: {shown}");
                assert!(!read.files.contains_key(target), "{case}: {shown}");
                // An empty directory in place of a member's is a member
                // without files: nothing to say.
                if !(target == "dev-vdb" && *what == "a directory") && *what != "a dangling link" {
                    assert!(
                        read.notes.iter().any(|note| note.starts_with(target)),
                        "{case}: {:?}",
                        read.notes
                    );
                }
                // And what was read parses, or is refused in words.
                if let Ok(a) = sysfs("md127", &read.files) {
                    a.check().unwrap();
                }
            }
        }
        // A secret directory linked in as a member is not entered.
        let root = tmp.path().join("linked-member");
        let md = tree_from_capture(&root, "md-r5-clean.txt");
        std::os::unix::fs::symlink(&secret_dir, md.join("dev-sdz")).unwrap();
        let read = read_sysfs(&md).unwrap();
        assert!(!format!("{read:?}").contains("hunter2"));
        assert_eq!(
            read.notes,
            ["dev-sdz is a link or a file, not a member's directory, so it was not read"]
        );
    }
}

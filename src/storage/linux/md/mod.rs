//! md RAID: the arrays the kernel runs, read from `/proc/mdstat` and each
//! array's sysfs directory (and `mdadm --detail --export` for a UUID or a
//! name those do not give), and every change a pool's jobs make to one,
//! through mdadm.
//!
//! Three parts, as habit 2 of STYLE.md has it: [`argv`] builds each
//! command's arguments, the one runner in `storage::cmd` runs them, and
//! [`parse`] and [`wipefs`] read what comes back; [`conf`] edits mdadm's
//! configuration file. This module decides what to run.
//!
//! Every change is idempotent: asked for what already is (the array
//! running with these drives, a drive already in, an array already
//! stopped), it runs nothing and says so. Before a command touches a
//! drive, the drive is looked up again by its stable name and checked
//! against the identity the job was given: a drive pulled or swapped since
//! the page was shown is [`BackendError::Gone`], in words naming the pool
//! and the drive. A failure before anything was changed is `Refused`,
//! `Busy` or `Gone`; after (or during) a change, `Failed`.

pub mod argv;
pub mod conf;
pub mod parse;
pub mod wipefs;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::{LinuxBackend, change_failed, enclosure, failure, lsblk, of_pool, run_logged, said};
use crate::domain::pool::{
    Array, ArraySpec, ArrayState, DriveRef, MAX_RAID_DEVICES, Member, MemberRole, RaidLevel,
    SyncAction, SyncWindow, WriteHole, raid10_near_lost,
};
use crate::naming::validate_pool_name;
use crate::storage::{Arrays, BackendError, CommandLog};

/// A drive found where the job said it is, checked to be the one it named.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Found {
    /// The path commands name it by: its `/dev/disk/by-id` link, or its
    /// node where it has none.
    path: PathBuf,
    /// Its kernel name now (`sdb`), as md lists its members.
    kname: String,
}

/// How long udev may take to make an array's `/dev/md/<name>` link.
const NODE_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

fn check_pool_name(name: &str) -> Result<(), BackendError> {
    validate_pool_name(name).map_err(BackendError::Refused)
}

/// A UUID in mdadm's form, or a refusal naming the pool.
fn check_uuid(name: &str, uuid: &str) -> Result<String, BackendError> {
    parse::normalize_uuid(uuid).ok_or_else(|| {
        BackendError::Refused(format!("pool {name}: {uuid:?} is not an md array's UUID"))
    })
}

/// The array whose `/dev/md/<name>` this is.
fn find_array<'a>(arrays: &'a [Array], name: &str) -> Option<&'a Array> {
    arrays.iter().find(|a| a.md_name.as_deref() == Some(name))
}

/// The array that has kernel device `kname` as a member, with the member.
fn holder<'a>(arrays: &'a [Array], kname: &str) -> Option<(&'a Array, &'a Member)> {
    arrays
        .iter()
        .find_map(|a| a.members.iter().find(|m| m.device == kname).map(|m| (a, m)))
}

/// "md127 (/dev/md/tank)", or "md127" where its name is not known.
fn array_label(a: &Array) -> String {
    let kname = a.name.as_deref().unwrap_or("an md array");
    match &a.md_name {
        Some(n) => format!("{kname} (/dev/md/{n})"),
        None => kname.to_string(),
    }
}

fn kernel_name_ok(name: &str) -> bool {
    !name.is_empty() && name.len() <= 32 && name.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Whether a spec asks for an array md can build, in words if not.
fn check_spec(spec: &ArraySpec) -> Result<(), String> {
    let level = spec.level;
    let n = spec.members.len();
    let least = match level {
        RaidLevel::Raid1 | RaidLevel::Raid10 => 2,
        RaidLevel::Raid5 => 3,
        RaidLevel::Raid6 => 4,
    };
    if n < least {
        return Err(format!(
            "{} needs at least {least} drives; {n} were given",
            level.as_str()
        ));
    }
    if n + spec.spares.len() > MAX_RAID_DEVICES as usize {
        return Err(format!("an md array has at most {MAX_RAID_DEVICES} drives"));
    }
    match (level, spec.write_hole) {
        (RaidLevel::Raid1 | RaidLevel::Raid10, WriteHole::Open) => {}
        (RaidLevel::Raid1 | RaidLevel::Raid10, hole) => {
            return Err(format!(
                "{} has no write hole to close, so no {} is made for it",
                level.as_str(),
                match hole {
                    WriteHole::Journal => "journal",
                    _ => "partial parity log",
                }
            ));
        }
        (RaidLevel::Raid6, WriteHole::Ppl) => {
            return Err("md keeps a partial parity log for raid5 only".into());
        }
        _ => {}
    }
    match (spec.write_hole, spec.journal.len()) {
        (WriteHole::Journal, 1 | 2) => {}
        (WriteHole::Journal, k) => {
            return Err(format!(
                "a journal is one drive or two mirrored; {k} were given"
            ));
        }
        (_, 0) => {}
        (_, _) => return Err("journal drives were given for an array without a journal".into()),
    }
    if level != RaidLevel::Raid1 {
        let c = spec.chunk_kib;
        if !(4..=(1 << 20)).contains(&c) || !c.is_power_of_two() {
            return Err(format!(
                "a chunk of {c} KiB: md takes a power of two from 4 KiB to 1 GiB"
            ));
        }
    }
    let mut seen = BTreeSet::new();
    for d in spec.members.iter().chain(&spec.spares).chain(&spec.journal) {
        if !seen.insert(d.ident.as_str()) {
            return Err(format!("drive {d} is listed twice"));
        }
    }
    Ok(())
}

/// Why failing `target` would lose data, if it would: more slots without
/// a member in sync than the level survives, or, for raid10 in md's
/// default near layout, both copies of some block (sets of two slots
/// side by side; a layout with more copies only makes this cautious).
fn failing_loses_data(array: &Array, target: &Member) -> Option<String> {
    if target.role != MemberRole::Active {
        return None;
    }
    let level = array.level?;
    let n = array.raid_devices?;
    let in_sync: BTreeSet<u32> = array
        .members
        .iter()
        .filter(|m| m.role == MemberRole::Active && m.device != target.device)
        .filter_map(|m| m.slot)
        .filter(|s| *s < n)
        .collect();
    // Without slots (read from /proc/mdstat only), md's own count.
    let missing = if array.members.iter().any(|m| m.slot.is_some()) {
        n - in_sync.len() as u32
    } else {
        array.degraded_count? + 1
    };
    if level == RaidLevel::Raid10 {
        let per_slot: Vec<bool> = (0..n).map(|s| in_sync.contains(&s)).collect();
        if let Some(lost) = raid10_near_lost(&per_slot, 2) {
            return lost.then(|| "leave both copies of some of its blocks missing".to_string());
        }
    }
    (missing > level.tolerates(n, None)).then(|| {
        format!(
            "leave {missing} of {n} members missing, more than {} survives",
            level.as_str()
        )
    })
}

impl LinuxBackend {
    /// `/dev/md/<name>` under the device root.
    pub(in crate::storage::linux) fn md_path(&self, name: &str) -> PathBuf {
        argv::md_device(&self.settings.dev_root, name)
    }

    /// The kernel's name (`md127`) of `/dev/md/<name>`, where that link
    /// is there and leads to an md node in the device root.
    pub(in crate::storage::linux) fn md_kernel_name(&self, name: &str) -> Option<String> {
        self.md_links()
            .into_iter()
            .find(|(_, n)| n == name)
            .map(|(kname, _)| kname)
    }

    /// The array's name of each md device with a `/dev/md/<name>` link:
    /// kernel name (`md127`) → name (`tank`). Only links that lead to a
    /// node in the device root count.
    fn md_links(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Ok(root) = std::fs::canonicalize(&self.settings.dev_root) else {
            return out;
        };
        let Ok(dir) = std::fs::read_dir(self.settings.dev_root.join("md")) else {
            return out;
        };
        let mut entries: Vec<_> = dir.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let Ok(real) = std::fs::canonicalize(entry.path()) else {
                continue;
            };
            let Some(kname) = real
                .strip_prefix(&root)
                .ok()
                .and_then(|k| k.to_str())
                .filter(|k| k.starts_with("md") && kernel_name_ok(k))
            else {
                continue;
            };
            out.entry(kname.to_string()).or_insert(name);
        }
        out
    }

    /// An array as its sysfs directory shows it; `None`, with a warning,
    /// where that cannot be read.
    fn sysfs_array(&self, kname: &str) -> Option<Array> {
        let md_dir = self
            .settings
            .sysfs_root
            .join("block")
            .join(kname)
            .join("md");
        let read = parse::read_sysfs(&md_dir)
            .map_err(|e| tracing::warn!("md array {kname}: {e}; /proc/mdstat is used instead"))
            .ok()?;
        for note in &read.notes {
            tracing::warn!("md array {kname}: {note}");
        }
        parse::sysfs(kname, &read.files)
            .map_err(|e| {
                tracing::warn!(
                    "md array {kname}: {} does not read as md's: {e}; /proc/mdstat is used instead",
                    md_dir.display()
                )
            })
            .ok()
    }

    /// `mdadm --detail --export` of a device, parsed, with its raw
    /// variables (`MD_NAME` keeps the `host:` the parsed name drops).
    fn detail_export(
        &self,
        pool: Option<&str>,
        device: &Path,
        log: &mut dyn CommandLog,
    ) -> Result<(Array, BTreeMap<String, String>), BackendError> {
        let spec = self.program("mdadm")?.args(argv::detail_export(device));
        let out = run_logged(&spec, log)?;
        if !out.success() {
            return Err(BackendError::Gone(format!(
                "{}{}",
                of_pool(pool),
                failure(&spec, &out, &said(&out))
            )));
        }
        let text = out.stdout_text();
        let array = parse::detail_export(&text).map_err(|e| {
            BackendError::Failed(format!("{}`{}`: {e}", of_pool(pool), spec.argv().join(" ")))
        })?;
        let vars = text
            .lines()
            .filter_map(|l| l.trim().split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Ok((array, vars))
    }

    /// The UUID of running array `/dev/md/<name>`, from mdadm.
    fn uuid_of(&self, name: &str, log: &mut dyn CommandLog) -> Result<String, BackendError> {
        let device = self.md_path(name);
        let (array, _) = self.detail_export(Some(name), &device, log)?;
        array.uuid.ok_or_else(|| {
            BackendError::Failed(format!(
                "pool {name}: mdadm gives no UUID for {}",
                device.display()
            ))
        })
    }

    /// Finds a drive by its `/dev/disk/by-id` name (or, without one, its
    /// kernel name) and checks, with lsblk, that it is the drive the job
    /// named: the same ident and serial.
    fn find_drive(
        &self,
        pool: Option<&str>,
        drive: &DriveRef,
        log: &mut dyn CommandLog,
    ) -> Result<Found, BackendError> {
        let whose = of_pool(pool);
        let gone = |why: String| BackendError::Gone(format!("{whose}drive {drive} {why}"));
        let refused = |why: String| BackendError::Refused(format!("{whose}drive {drive}: {why}"));
        let dev_root = &self.settings.dev_root;
        let root = std::fs::canonicalize(dev_root)
            .map_err(|e| refused(format!("{} cannot be read: {e}", dev_root.display())))?;
        let (path, kname) = match drive.by_id.as_deref() {
            Some(id) => {
                argv::check_by_id(id).map_err(&refused)?;
                let link = dev_root.join("disk/by-id").join(id);
                let real = match std::fs::canonicalize(&link) {
                    Ok(real) => real,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Err(gone(format!(
                            "is not there any more: {} does not exist",
                            link.display()
                        )));
                    }
                    Err(e) => {
                        return Err(gone(format!(
                            "cannot be found: {} cannot be followed: {e}",
                            link.display()
                        )));
                    }
                };
                let kname = real
                    .strip_prefix(&root)
                    .ok()
                    .and_then(|k| k.to_str())
                    .filter(|k| kernel_name_ok(k))
                    .map(str::to_string)
                    .ok_or_else(|| {
                        refused(format!(
                            "{} leads to {}, which is not a disk's node in {}",
                            link.display(),
                            real.display(),
                            dev_root.display()
                        ))
                    })?;
                (link, kname)
            }
            None => {
                let dev = drive.dev_name.as_deref().ok_or_else(|| {
                    gone("has neither a /dev/disk/by-id name nor a kernel name now".into())
                })?;
                if !kernel_name_ok(dev) {
                    return Err(refused(format!("{dev:?} is not a disk's kernel name")));
                }
                let node = dev_root.join(dev);
                if !node.exists() {
                    return Err(gone(format!(
                        "is not there any more: {} does not exist",
                        node.display()
                    )));
                }
                (node, dev.to_string())
            }
        };
        let spec = self
            .program("lsblk")?
            .args(argv::identify(&dev_root.join(&kname)));
        let out = run_logged(&spec, log)?;
        if !out.success() {
            return Err(gone(format!(
                "cannot be identified: {}",
                failure(&spec, &out, &said(&out))
            )));
        }
        let disks = lsblk::parse(&out.stdout_text())
            .map_err(|e| refused(format!("`{}`: {e}", spec.argv().join(" "))))?;
        let Some(disk) = disks
            .iter()
            .find(|d| d.name == kname || d.paths.contains(&kname))
        else {
            return Err(gone(format!(
                "is not there any more: {} leads to {kname}, which lsblk does not list as a disk",
                path.display()
            )));
        };
        let serial = disk.serial.as_deref().unwrap_or("");
        if disk.ident() != drive.ident || (!drive.serial.is_empty() && serial != drive.serial) {
            return Err(gone(format!(
                "is not there any more: {} leads to {kname}, which is {} (serial {:?}), not {} (serial {:?})",
                path.display(),
                disk.ident(),
                serial,
                drive.ident,
                drive.serial
            )));
        }
        Ok(Found { path, kname })
    }

    /// The signatures on a found drive, in words.
    fn signatures_of(
        &self,
        pool: Option<&str>,
        drive: &DriveRef,
        found: &Found,
        log: &mut dyn CommandLog,
    ) -> Result<Vec<String>, BackendError> {
        let spec = self.program("wipefs")?.args(argv::signatures(&found.path));
        let out = run_logged(&spec, log)?;
        let refused =
            |why: String| BackendError::Refused(format!("{}drive {drive}: {why}", of_pool(pool)));
        if !out.success() {
            return Err(refused(failure(&spec, &out, &said(&out))));
        }
        let found = wipefs::parse(&out.stdout_text())
            .map_err(|e| refused(format!("`{}`: {e}", spec.argv().join(" "))))?;
        Ok(found.iter().map(wipefs::Signature::words).collect())
    }

    /// A found drive that may become part of a new array or take a place in
    /// one: in no array, and blank.
    fn check_free_and_blank(
        &self,
        pool: &str,
        drive: &DriveRef,
        found: &Found,
        arrays: &[Array],
        log: &mut dyn CommandLog,
    ) -> Result<(), BackendError> {
        if let Some((a, m)) = holder(arrays, &found.kname) {
            return Err(BackendError::Busy(format!(
                "pool {pool}: drive {drive} ({}) is already in md array {} as its {} member",
                found.kname,
                array_label(a),
                m.role.as_str()
            )));
        }
        let signatures = self.signatures_of(Some(pool), drive, found, log)?;
        if !signatures.is_empty() {
            return Err(BackendError::Refused(format!(
                "pool {pool}: drive {drive} is not blank ({}); wipe it first",
                signatures.join("; ")
            )));
        }
        Ok(())
    }

    /// The member of `array` that `drive` is, with the argument mdadm is to
    /// name it by; `None` if it is not one. A drive whose node has gone is
    /// still a member md knows by its old kernel name: then that name is
    /// the argument (mdadm looks it up in the array's sysfs directory).
    fn member_of(
        &self,
        pool: &str,
        array: &Array,
        drive: &DriveRef,
        log: &mut dyn CommandLog,
    ) -> Result<Option<(Member, OsString)>, BackendError> {
        match self.find_drive(Some(pool), drive, log) {
            Ok(found) => Ok(array
                .members
                .iter()
                .find(|m| m.device == found.kname)
                .map(|m| (m.clone(), found.path.into_os_string()))),
            Err(BackendError::Gone(why)) => {
                let detached = drive
                    .dev_name
                    .as_deref()
                    .filter(|d| kernel_name_ok(d) && !self.settings.dev_root.join(d).exists());
                match detached {
                    Some(dev) => Ok(array
                        .members
                        .iter()
                        .find(|m| m.device == dev)
                        .map(|m| (m.clone(), OsString::from(dev)))),
                    None => Err(BackendError::Gone(why)),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The running array `/dev/md/<name>`, or `Gone`.
    fn running<'a>(&self, arrays: &'a [Array], name: &str) -> Result<&'a Array, BackendError> {
        find_array(arrays, name).ok_or_else(|| {
            BackendError::Gone(format!(
                "pool {name}: its array /dev/md/{name} is not running"
            ))
        })
    }

    /// The array's sysfs directory, from its kernel name.
    fn md_dir(&self, name: &str, array: &Array) -> Result<PathBuf, BackendError> {
        let kname = array
            .name
            .as_deref()
            .filter(|k| kernel_name_ok(k))
            .ok_or_else(|| {
                BackendError::Refused(format!(
                    "pool {name}: the kernel's name of /dev/md/{name} is not known"
                ))
            })?;
        Ok(self
            .settings
            .sysfs_root
            .join("block")
            .join(kname)
            .join("md"))
    }

    /// Reads one of the array's sysfs files.
    fn md_attribute(&self, name: &str, md_dir: &Path, file: &str) -> Result<String, BackendError> {
        parse::read_attribute(md_dir, file)
            .map_err(|e| BackendError::Refused(format!("pool {name}: {e}")))?
            .ok_or_else(|| {
                BackendError::Refused(format!("pool {name}: {} has no {file}", md_dir.display()))
            })
    }

    /// Writes one of the array's sysfs files (held inside the sysfs root).
    fn write_md_attribute(
        &self,
        name: &str,
        md_dir: &Path,
        file: &str,
        value: &str,
        changed_before: bool,
    ) -> Result<(), BackendError> {
        let path = md_dir.join(file);
        enclosure::write_attribute(&self.settings.sysfs_root, &path, value).map_err(|why| {
            let message = format!(
                "pool {name}: writing {value:?} to {} failed: it {why}",
                path.display()
            );
            if changed_before {
                BackendError::Failed(message)
            } else {
                BackendError::Refused(message)
            }
        })
    }

    /// The text of mdadm's configuration file; empty where there is none.
    fn read_conf(&self, name: &str) -> Result<String, BackendError> {
        let path = &self.settings.mdadm_conf;
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(BackendError::Refused(format!(
                "pool {name}: {} cannot be read: {e}",
                path.display()
            ))),
        }
    }

    fn write_conf(&self, name: &str, text: &str) -> Result<(), BackendError> {
        conf::write_atomically(&self.settings.mdadm_conf, text).map_err(|e| match e {
            conf::WriteError::Unchanged(why) => {
                BackendError::Refused(format!("pool {name}: {why}"))
            }
            conf::WriteError::NotDurable(why) => {
                BackendError::Failed(format!("pool {name}: {why}"))
            }
        })
    }

    /// The `ARRAY` line for running array `/dev/md/<md_name>` of `uuid`.
    fn conf_line(
        &self,
        pool: &str,
        md_name: &str,
        uuid: &str,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let (array, vars) = self.detail_export(Some(pool), &self.md_path(md_name), log)?;
        if array.uuid.as_deref() != Some(uuid) {
            return Err(BackendError::Refused(format!(
                "pool {pool}: /dev/md/{md_name} is array {}, not {uuid}",
                array.uuid.as_deref().unwrap_or("without a UUID")
            )));
        }
        let full_name = vars
            .get("MD_NAME")
            .cloned()
            .unwrap_or_else(|| md_name.to_string());
        let metadata = vars
            .get("MD_METADATA")
            .cloned()
            .unwrap_or_else(|| "1.2".to_string());
        for (what, value) in [("name", &full_name), ("metadata", &metadata)] {
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_graphic() && b != b'#') {
                return Err(BackendError::Refused(format!(
                    "pool {pool}: mdadm gives the {what} {value:?}, which cannot go on an ARRAY line"
                )));
            }
        }
        Ok(conf::array_line(
            &format!("/dev/md/{md_name}"),
            &metadata,
            &full_name,
            uuid,
        ))
    }

    /// Runs a manage-mode mdadm command on pool `name`'s array.
    /// Waits for udev to make `/dev/md/<name>` after mdadm made the array
    /// (udev runs apart from mdadm, and lags on a busy machine): at most
    /// [`NODE_WAIT`].
    fn await_node(&self, name: &str) -> Result<(), BackendError> {
        let path = self.md_path(name);
        let started = std::time::Instant::now();
        while !path.exists() {
            if started.elapsed() > NODE_WAIT {
                return Err(BackendError::Failed(format!(
                    "pool {name}: udev made no {} within {} s of mdadm making the array",
                    path.display(),
                    NODE_WAIT.as_secs()
                )));
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Ok(())
    }

    fn mdadm_change(
        &self,
        name: &str,
        args: Vec<OsString>,
        changed_before: bool,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let out = self.run_change("mdadm", Some(name), args, changed_before, log)?;
        Ok(said(&out))
    }
}

/// " (mdadm: added /dev/sdb)", or nothing.
fn quoting(said: &str) -> String {
    if said.is_empty() {
        String::new()
    } else {
        format!(" ({said})")
    }
}

impl Arrays for LinuxBackend {
    fn arrays(&self, log: &mut dyn CommandLog) -> Result<Vec<Array>, BackendError> {
        let path = self.settings.proc_root.join("mdstat");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            // No md driver loaded: no arrays.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(BackendError::Failed(format!(
                    "{} cannot be read: {e}",
                    path.display()
                )));
            }
        };
        let listed = parse::mdstat(&text)
            .map_err(|e| BackendError::Failed(format!("{}: {e}", path.display())))?;
        let links = self.md_links();
        let mut out = Vec::with_capacity(listed.len());
        for seen in listed {
            let Some(kname) = seen.name.clone() else {
                continue;
            };
            let mut array = match self.sysfs_array(&kname) {
                Some(mut a) => {
                    // sysfs has no descriptor numbers; mdstat does.
                    for m in &mut a.members {
                        m.number = seen
                            .members
                            .iter()
                            .find(|s| s.device == m.device)
                            .and_then(|s| s.number);
                    }
                    a
                }
                None => seen,
            };
            array.md_name = links.get(&kname).cloned();
            if (array.uuid.is_none() || array.md_name.is_none()) && kernel_name_ok(&kname) {
                let node = self.settings.dev_root.join(&kname);
                match self.detail_export(None, &node, log) {
                    Ok((d, _)) => {
                        array.uuid = array.uuid.or(d.uuid);
                        array.md_name = array.md_name.or(d.md_name);
                    }
                    Err(e @ BackendError::Stopped(_)) => return Err(e),
                    Err(e) => {
                        tracing::warn!("md array {kname}: its UUID and name are not known: {e}")
                    }
                }
            }
            out.push(array);
        }
        Ok(out)
    }

    fn signatures(
        &self,
        drive: &DriveRef,
        log: &mut dyn CommandLog,
    ) -> Result<Vec<String>, BackendError> {
        let found = self.find_drive(None, drive, log)?;
        self.signatures_of(None, drive, &found, log)
    }

    fn wipe(&self, drive: &DriveRef, log: &mut dyn CommandLog) -> Result<String, BackendError> {
        let found = self.find_drive(None, drive, log)?;
        let arrays = self.arrays(log)?;
        if let Some((a, m)) = holder(&arrays, &found.kname) {
            return Err(BackendError::Busy(format!(
                "drive {drive} is the {} member {} of md array {}; take it out of the array before wiping it",
                m.role.as_str(),
                found.kname,
                array_label(a)
            )));
        }
        let before = self.signatures_of(None, drive, &found, log)?;
        if before.is_empty() {
            return Ok(format!(
                "drive {drive} is already blank: wipefs finds no signature on it"
            ));
        }
        let spec = self.program("wipefs")?.args(argv::wipe(&found.path));
        let out = run_logged(&spec, log)?;
        if !out.success() {
            return Err(change_failed(None, &spec, &out, false));
        }
        // wipefs erases the md superblock it knows; mdadm then finds none,
        // which it calls an unrecognised component device.
        let spec = self
            .program("mdadm")?
            .args(argv::zero_superblock(&found.path));
        let zeroed = run_logged(&spec, log)?;
        if !zeroed.success() && !said(&zeroed).contains("Unrecognised md component device") {
            return Err(change_failed(None, &spec, &zeroed, true));
        }
        Ok(format!("drive {drive} wiped: erased {}", before.join("; ")))
    }

    fn create_array(
        &self,
        spec: &ArraySpec,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let name = spec.name.as_str();
        check_pool_name(name)?;
        check_spec(spec).map_err(|why| BackendError::Refused(format!("pool {name}: {why}")))?;
        let mut find = |d: &DriveRef| self.find_drive(Some(name), d, log);
        let members: Vec<Found> = spec
            .members
            .iter()
            .map(&mut find)
            .collect::<Result<_, _>>()?;
        let spares: Vec<Found> = spec
            .spares
            .iter()
            .map(&mut find)
            .collect::<Result<_, _>>()?;
        let journal: Vec<Found> = spec
            .journal
            .iter()
            .map(&mut find)
            .collect::<Result<_, _>>()?;
        let arrays = self.arrays(log)?;
        let mirror = spec.journal_mirror();
        let mirror_array = mirror.as_deref().and_then(|m| find_array(&arrays, m));

        // What the array has when it is this one.
        let mut wanted: BTreeSet<String> = members
            .iter()
            .chain(&spares)
            .map(|f| f.kname.clone())
            .collect();
        match (&mirror, mirror_array) {
            (None, _) => wanted.extend(journal.iter().map(|f| f.kname.clone())),
            (Some(_), Some(m)) => wanted.extend(m.name.clone()),
            (Some(_), None) => {}
        }
        let words = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(", ");
        if let Some(existing) = find_array(&arrays, name) {
            let has: BTreeSet<String> = existing.members.iter().map(|m| m.device.clone()).collect();
            if existing.level != Some(spec.level) || has != wanted {
                return Err(BackendError::Refused(format!(
                    "pool {name}: /dev/md/{name} already runs as {} {} over {}, not as asked ({} over {}); it is not created again",
                    array_label(existing),
                    existing.level_text.as_deref().unwrap_or("of unknown level"),
                    words(&has),
                    spec.level.as_str(),
                    words(&wanted),
                )));
            }
            tracing::info!(
                "pool {name}: /dev/md/{name} already runs with these drives; not created again"
            );
            return match &existing.uuid {
                Some(uuid) => Ok(uuid.clone()),
                None => self.uuid_of(name, log),
            };
        }

        // The journal's mirror, when it already runs, must be of the
        // journal drives.
        if let (Some(m), Some(existing)) = (&mirror, mirror_array) {
            let has: BTreeSet<String> = existing.members.iter().map(|m| m.device.clone()).collect();
            let want: BTreeSet<String> = journal.iter().map(|f| f.kname.clone()).collect();
            if has != want || existing.level != Some(RaidLevel::Raid1) {
                return Err(BackendError::Refused(format!(
                    "pool {name}: /dev/md/{m} already runs over {}, not over the journal drives {}",
                    words(&has),
                    words(&want)
                )));
            }
        }
        // Every drive still to be written must be free and blank.
        let pairs = spec
            .members
            .iter()
            .zip(&members)
            .chain(spec.spares.iter().zip(&spares))
            .chain(
                spec.journal
                    .iter()
                    .zip(&journal)
                    .filter(|_| mirror_array.is_none()),
            );
        for (d, f) in pairs {
            self.check_free_and_blank(name, d, f, &arrays, log)?;
        }

        let devices = argv::CreateDevices {
            members: members.iter().map(|f| f.path.clone()).collect(),
            spares: spares.iter().map(|f| f.path.clone()).collect(),
            journal: journal.iter().map(|f| f.path.clone()).collect(),
        };
        let mut changed = false;
        if mirror_array.is_none()
            && let Some(args) = argv::create_journal_mirror(spec, &self.settings.dev_root, &devices)
        {
            self.mdadm_change(name, args, changed, log)?;
            changed = true;
            self.await_node(&format!("{name}-journal"))?;
        }
        self.mdadm_change(
            name,
            argv::create(spec, &self.settings.dev_root, &devices),
            changed,
            log,
        )
        .map_err(|e| match e {
            // mdadm --create may have written superblocks before it failed.
            BackendError::Busy(why) if changed => BackendError::Failed(why),
            e => e,
        })?;
        self.await_node(name)?;
        self.uuid_of(name, log).map_err(|e| match e {
            BackendError::Stopped(why) => BackendError::Stopped(why),
            e => BackendError::Failed(format!(
                "pool {name}: the array was created but its UUID cannot be read: {e}"
            )),
        })
    }

    fn persist_array(
        &self,
        name: &str,
        uuid: &str,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        check_pool_name(name)?;
        let uuid = check_uuid(name, uuid)?;
        let arrays = self.arrays(log)?;
        let path = self.settings.mdadm_conf.display().to_string();
        let old = self.read_conf(name)?;
        let mut text = old.clone();
        let mut replaced = Vec::new();
        let journal = format!("{name}-journal");
        let mut todo = vec![(name.to_string(), Some(uuid.clone()))];
        if let Some(j) = find_array(&arrays, &journal) {
            todo.push((journal.clone(), j.uuid.clone()));
        }
        for (md_name, md_uuid) in todo {
            let device = format!("/dev/md/{md_name}");
            let md_uuid = match md_uuid {
                Some(u) => u,
                None => self.uuid_of(&md_name, log)?,
            };
            // Already there: nothing to ask mdadm.
            if !conf::record(&text, &device, &md_uuid, "").changed {
                continue;
            }
            if find_array(&arrays, &md_name).is_none() {
                return Err(BackendError::Gone(format!(
                    "pool {name}: {device} is not running, so mdadm cannot give its line for {path}"
                )));
            }
            let line = self.conf_line(name, &md_name, &md_uuid, log)?;
            let edit = conf::record(&text, &device, &md_uuid, &line);
            replaced.extend(edit.removed);
            text = edit.text;
        }
        if text == old {
            return Ok(format!(
                "pool {name}'s array {uuid} is already recorded in {path}"
            ));
        }
        self.write_conf(name, &text)?;
        let instead = if replaced.is_empty() {
            String::new()
        } else {
            format!(", in place of: {}", replaced.join(" | "))
        };
        Ok(format!(
            "recorded pool {name}'s array {uuid} in {path}{instead}"
        ))
    }

    fn forget_array(
        &self,
        name: &str,
        uuid: &str,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let _ = log;
        check_pool_name(name)?;
        let uuid = check_uuid(name, uuid)?;
        let path = self.settings.mdadm_conf.display().to_string();
        let old = self.read_conf(name)?;
        let journal = format!("/dev/md/{name}-journal");
        let edit = conf::forget(&old, &uuid, Some(&journal));
        if !edit.changed {
            return Ok(format!(
                "pool {name}'s array {uuid} is already not recorded in {path}"
            ));
        }
        self.write_conf(name, &edit.text)?;
        Ok(format!(
            "took pool {name}'s array out of {path}: {}",
            edit.removed.join(" | ")
        ))
    }

    fn set_stripe_cache(
        &self,
        name: &str,
        pages: u32,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        check_pool_name(name)?;
        // md's own bounds (raid5_set_cache_size).
        if !(17..=32768).contains(&pages) {
            return Err(BackendError::Refused(format!(
                "pool {name}: md takes a stripe cache of 17 to 32768 pages, not {pages}"
            )));
        }
        let arrays = self.arrays(log)?;
        let array = self.running(&arrays, name)?;
        if !matches!(array.level, Some(RaidLevel::Raid5 | RaidLevel::Raid6)) {
            return Err(BackendError::Refused(format!(
                "pool {name}: only raid5 and raid6 have a stripe cache; this is {}",
                array.level_text.as_deref().unwrap_or("of unknown level")
            )));
        }
        let md_dir = self.md_dir(name, array)?;
        let now = self.md_attribute(name, &md_dir, "stripe_cache_size")?;
        if now.trim() == pages.to_string() {
            return Ok(format!(
                "pool {name}'s stripe cache is already {pages} pages per member"
            ));
        }
        self.write_md_attribute(
            name,
            &md_dir,
            "stripe_cache_size",
            &pages.to_string(),
            false,
        )
        .map_err(|e| match e {
            // md may have grown the cache part of the way.
            BackendError::Refused(why) => BackendError::Failed(why),
            e => e,
        })?;
        Ok(format!(
            "pool {name}'s stripe cache set to {pages} pages per member (it was {})",
            now.trim()
        ))
    }

    fn assemble(
        &self,
        name: &str,
        uuid: &str,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        check_pool_name(name)?;
        let uuid = check_uuid(name, uuid)?;
        let arrays = self.arrays(log)?;
        if let Some(a) = find_array(&arrays, name) {
            if a.uuid.as_deref().is_some_and(|u| u != uuid) {
                return Err(BackendError::Refused(format!(
                    "pool {name}: /dev/md/{name} runs array {}, not {uuid}",
                    a.uuid.as_deref().unwrap_or("")
                )));
            }
            if a.state == Some(ArrayState::Inactive) {
                return Err(BackendError::Refused(format!(
                    "pool {name}: /dev/md/{name} is assembled but inactive ({} of its drives found); it is not started from here, lest it run without them",
                    a.members.len()
                )));
            }
            return Ok(format!("pool {name}'s array {uuid} is already running"));
        }
        // A mirrored journal first: the array does not start without it.
        let journal = format!("{name}-journal");
        let conf_text = self.read_conf(name)?;
        let mut done = Vec::new();
        if find_array(&arrays, &journal).is_none()
            && let Some(journal_uuid) = conf::uuid_at(&conf_text, &format!("/dev/md/{journal}"))
        {
            let said = self.mdadm_change(
                name,
                argv::assemble(&self.md_path(&journal), &journal_uuid),
                false,
                log,
            )?;
            done.push(format!("/dev/md/{journal}{}", quoting(&said)));
        }
        let said = self
            .mdadm_change(
                name,
                argv::assemble(&self.md_path(name), &uuid),
                !done.is_empty(),
                log,
            )
            .map_err(|e| match e {
                // An assembly that failed may leave the array assembled
                // inactive.
                BackendError::Busy(why) | BackendError::Refused(why) => BackendError::Failed(why),
                e => e,
            })?;
        done.push(format!("/dev/md/{name}{}", quoting(&said)));
        Ok(format!("pool {name}: assembled {}", done.join(", then ")))
    }

    fn sync_action(
        &self,
        name: &str,
        action: SyncAction,
        window: Option<SyncWindow>,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        check_pool_name(name)?;
        if !matches!(
            action,
            SyncAction::Check | SyncAction::Repair | SyncAction::Idle
        ) {
            return Err(BackendError::Refused(format!(
                "pool {name}: md starts a {} by itself; only a check, a repair or idle is asked for",
                action.as_str()
            )));
        }
        let arrays = self.arrays(log)?;
        let array = self.running(&arrays, name)?;
        if array.state == Some(ArrayState::Inactive) {
            return Err(BackendError::Gone(format!(
                "pool {name}: /dev/md/{name} is inactive"
            )));
        }
        let md_dir = self.md_dir(name, array)?;
        let now_text = self.md_attribute(name, &md_dir, "sync_action")?;
        let now = SyncAction::parse(&now_text).ok_or_else(|| {
            BackendError::Refused(format!(
                "pool {name}: md says it is doing {now_text:?}, which is not a sync action"
            ))
        })?;
        if action == SyncAction::Idle {
            return match now {
                SyncAction::Idle | SyncAction::Frozen => Ok(format!(
                    "pool {name}: no check or repair is running (md is {})",
                    now.as_str()
                )),
                SyncAction::Check | SyncAction::Repair => {
                    self.write_md_attribute(name, &md_dir, "sync_action", "idle", false)?;
                    Ok(format!("pool {name}: the {} was stopped", now.as_str()))
                }
                other => Err(BackendError::Refused(format!(
                    "pool {name}: md is doing a {}, which it would start again; only a check or a repair is stopped",
                    other.as_str()
                ))),
            };
        }
        if now == action {
            return Ok(format!(
                "pool {name}: a {} is already running",
                action.as_str()
            ));
        }
        if now != SyncAction::Idle {
            return Err(BackendError::Busy(format!(
                "pool {name}: md is doing a {}; a {} can start when it ends",
                now.as_str(),
                action.as_str()
            )));
        }
        // md's rules (min_sync_store, max_sync_store): the start is rounded
        // to 8 sectors, the end must be a whole number of chunks.
        let chunk_sectors = array.chunk_kib.map(|k| k * 2).filter(|c| *c > 0);
        let (min, max) = match window {
            None => (0, None),
            Some(w) => (w.min_sectors, w.max_sectors),
        };
        let refused = |why: String| BackendError::Refused(format!("pool {name}: {why}"));
        if min % 8 != 0 {
            return Err(refused(format!(
                "a {} from sector {min}: md starts one at a multiple of 8 sectors",
                action.as_str()
            )));
        }
        if let Some(max) = max {
            if max < min {
                return Err(refused(format!("a window from sector {min} to {max}")));
            }
            if let Some(c) = chunk_sectors
                && max % c != 0
            {
                return Err(refused(format!(
                    "a {} to sector {max}: md ends one at a whole chunk ({c} sectors)",
                    action.as_str()
                )));
            }
        }
        let max_text = max.map_or("max".to_string(), |m| m.to_string());
        // The end out of the way first, so the start may go anywhere.
        self.write_md_attribute(name, &md_dir, "sync_max", "max", false)?;
        self.write_md_attribute(name, &md_dir, "sync_min", &min.to_string(), true)?;
        self.write_md_attribute(name, &md_dir, "sync_max", &max_text, true)?;
        self.write_md_attribute(name, &md_dir, "sync_action", action.as_str(), true)?;
        Ok(format!(
            "pool {name}: a {} started, from sector {min} to {} of each member",
            action.as_str(),
            max.map_or("the end".to_string(), |m| m.to_string())
        ))
    }

    fn add_member(
        &self,
        name: &str,
        drive: &DriveRef,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        check_pool_name(name)?;
        let found = self.find_drive(Some(name), drive, log)?;
        let arrays = self.arrays(log)?;
        let array = self.running(&arrays, name)?;
        if let Some(m) = array.members.iter().find(|m| m.device == found.kname) {
            if m.role == MemberRole::Faulty {
                return Err(BackendError::Refused(format!(
                    "pool {name}: drive {drive} is in the array as a faulty member; remove it first"
                )));
            }
            return Ok(format!(
                "pool {name}: drive {drive} is already in the array, as its {} member",
                m.role.as_str()
            ));
        }
        self.check_free_and_blank(name, drive, &found, &arrays, log)?;
        let said = self.mdadm_change(
            name,
            argv::add(&self.md_path(name), &found.path),
            false,
            log,
        )?;
        let role = if array.degraded == Some(true) {
            "md rebuilds onto it"
        } else {
            "as a spare"
        };
        Ok(format!(
            "pool {name}: drive {drive} added, {role}{}",
            quoting(&said)
        ))
    }

    fn fail_member(
        &self,
        name: &str,
        drive: &DriveRef,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        check_pool_name(name)?;
        let arrays = self.arrays(log)?;
        let array = self.running(&arrays, name)?;
        let found = match self.member_of(name, array, drive, log) {
            Err(BackendError::Gone(why)) => {
                return Ok(format!(
                    "{why}; md takes a member that left out of service by itself"
                ));
            }
            found => found?,
        };
        let Some((member, arg)) = found else {
            return Ok(format!(
                "pool {name}: drive {drive} is not in the array, so it is already out of service"
            ));
        };
        if member.role == MemberRole::Faulty {
            return Ok(format!("pool {name}: drive {drive} is already faulty"));
        }
        if let Some(why) = failing_loses_data(array, &member) {
            return Err(BackendError::Refused(format!(
                "pool {name}: failing drive {drive} would {why}; it is not failed"
            )));
        }
        let said = self.mdadm_change(name, argv::fail(&self.md_path(name), &arg), false, log)?;
        Ok(format!(
            "pool {name}: drive {drive} marked faulty{}",
            quoting(&said)
        ))
    }

    fn remove_member(
        &self,
        name: &str,
        drive: &DriveRef,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        check_pool_name(name)?;
        let arrays = self.arrays(log)?;
        let array = self.running(&arrays, name)?;
        let found = match self.member_of(name, array, drive, log) {
            // The drive left the appliance: md lists it, if at all, as a
            // member whose device is gone, which mdadm calls detached.
            Err(BackendError::Gone(why)) => {
                let detached = array.members.iter().any(|m| {
                    kernel_name_ok(&m.device) && !self.settings.dev_root.join(&m.device).exists()
                });
                if !detached {
                    return Ok(format!("{why}, and md lists no member that is gone"));
                }
                let said = self.mdadm_change(
                    name,
                    argv::remove(&self.md_path(name), &OsString::from("detached")),
                    false,
                    log,
                )?;
                return Ok(format!(
                    "{why}; the members md kept that are gone were taken out{}",
                    quoting(&said)
                ));
            }
            found => found?,
        };
        let Some((member, arg)) = found else {
            return Ok(format!(
                "pool {name}: drive {drive} is already out of the array"
            ));
        };
        if !matches!(member.role, MemberRole::Faulty | MemberRole::Spare) {
            return Err(BackendError::Refused(format!(
                "pool {name}: drive {drive} is the array's {} member {}; fail it before taking it out",
                member.role.as_str(),
                member.device
            )));
        }
        let said = self.mdadm_change(name, argv::remove(&self.md_path(name), &arg), false, log)?;
        Ok(format!(
            "pool {name}: drive {drive} taken out of the array{}",
            quoting(&said)
        ))
    }

    fn replace_member(
        &self,
        name: &str,
        old: &DriveRef,
        new: &DriveRef,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        check_pool_name(name)?;
        let new_found = self.find_drive(Some(name), new, log)?;
        let arrays = self.arrays(log)?;
        let array = self.running(&arrays, name)?;
        let old_member = self.member_of(name, array, old, log)?;
        let new_member = array.members.iter().find(|m| m.device == new_found.kname);
        match (new_member.map(|m| m.role), &old_member) {
            (Some(MemberRole::Replacement), _) => {
                return Ok(format!(
                    "pool {name}: drive {old} is already being rebuilt onto drive {new}"
                ));
            }
            (Some(MemberRole::Active | MemberRole::Rebuilding), None) => {
                return Ok(format!(
                    "pool {name}: drive {old} is already replaced by drive {new}"
                ));
            }
            (Some(MemberRole::Active | MemberRole::Rebuilding), Some((m, _)))
                if m.role == MemberRole::Faulty =>
            {
                return Ok(format!(
                    "pool {name}: drive {old} is already replaced by drive {new} (and marked faulty)"
                ));
            }
            (Some(MemberRole::Spare) | None, _) => {}
            (Some(role), _) => {
                return Err(BackendError::Refused(format!(
                    "pool {name}: drive {new} is in the array as its {} member, not a spare to rebuild onto",
                    role.as_str()
                )));
            }
        }
        let Some((old_m, old_arg)) = old_member else {
            return Err(BackendError::Refused(format!(
                "pool {name}: drive {old} is not in the array, so there is nothing to replace"
            )));
        };
        if old_m.role != MemberRole::Active {
            return Err(BackendError::Refused(format!(
                "pool {name}: drive {old} is the array's {} member; only an active member is replaced in place",
                old_m.role.as_str()
            )));
        }
        let device = self.md_path(name);
        let mut added = String::new();
        if new_member.is_none() {
            if array.degraded == Some(true) {
                return Err(BackendError::Refused(format!(
                    "pool {name}: the array is degraded, and md would rebuild its missing member onto drive {new} at once; add it instead"
                )));
            }
            self.check_free_and_blank(name, new, &new_found, &arrays, log)?;
            added = self.mdadm_change(name, argv::add(&device, &new_found.path), false, log)?;
        }
        let changed = new_member.is_none();
        let old_path = PathBuf::from(old_arg);
        let said = self.mdadm_change(
            name,
            argv::replace(&device, &old_path, &new_found.path),
            changed,
            log,
        )?;
        let said = [added, said]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        Ok(format!(
            "pool {name}: drive {old} is being rebuilt onto drive {new}, and stays in until that ends{}",
            quoting(&said)
        ))
    }

    fn grow(
        &self,
        name: &str,
        raid_devices: u32,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        check_pool_name(name)?;
        let arrays = self.arrays(log)?;
        let array = self.running(&arrays, name)?;
        let now = array.raid_devices.ok_or_else(|| {
            BackendError::Refused(format!(
                "pool {name}: md does not say how many devices /dev/md/{name} has"
            ))
        })?;
        if now == raid_devices {
            let under_way = if array.sync_action == Some(SyncAction::Reshape) {
                "; md is reshaping it"
            } else {
                ""
            };
            return Ok(format!(
                "pool {name}: the array already has {now} devices{under_way}"
            ));
        }
        if raid_devices < now || raid_devices > MAX_RAID_DEVICES {
            return Err(BackendError::Refused(format!(
                "pool {name}: the array has {now} devices; it is grown here, not to {raid_devices}"
            )));
        }
        let spares = array
            .members
            .iter()
            .filter(|m| m.role == MemberRole::Spare)
            .count() as u32;
        if spares < raid_devices - now {
            return Err(BackendError::Refused(format!(
                "pool {name}: growing from {now} to {raid_devices} devices needs {} spares in the array; it has {spares}",
                raid_devices - now
            )));
        }
        if let Some(doing) = array
            .sync_action
            .filter(|a| !matches!(a, SyncAction::Idle | SyncAction::Frozen))
        {
            return Err(BackendError::Busy(format!(
                "pool {name}: md is doing a {}; the array grows when that ends",
                doing.as_str()
            )));
        }
        let said = self.mdadm_change(
            name,
            argv::grow(&self.md_path(name), raid_devices),
            false,
            log,
        )?;
        Ok(format!(
            "pool {name}: growing from {now} to {raid_devices} devices; md reshapes the array now{}",
            quoting(&said)
        ))
    }

    fn stop_array(&self, name: &str, log: &mut dyn CommandLog) -> Result<String, BackendError> {
        check_pool_name(name)?;
        let arrays = self.arrays(log)?;
        let mut stopped = Vec::new();
        // The array first: it holds its journal's mirror open.
        for md_name in [name.to_string(), format!("{name}-journal")] {
            if find_array(&arrays, &md_name).is_none() {
                continue;
            }
            let said = self.mdadm_change(
                name,
                argv::stop(&self.md_path(&md_name)),
                !stopped.is_empty(),
                log,
            )?;
            stopped.push(format!("/dev/md/{md_name}{}", quoting(&said)));
        }
        if stopped.is_empty() {
            return Ok(format!("pool {name}: /dev/md/{name} is already stopped"));
        }
        Ok(format!("pool {name}: stopped {}", stopped.join(", then ")))
    }

    fn data_offset(
        &self,
        name: &str,
        drive: &DriveRef,
        log: &mut dyn CommandLog,
    ) -> Result<u64, BackendError> {
        check_pool_name(name)?;
        let found = self.find_drive(Some(name), drive, log)?;
        let arrays = self.arrays(log)?;
        let array = self.running(&arrays, name)?;
        if array.member(&found.kname).is_none() {
            return Err(BackendError::Refused(format!(
                "pool {name}: drive {drive} is not in the array"
            )));
        }
        if !kernel_name_ok(&found.kname) {
            return Err(BackendError::Refused(format!(
                "pool {name}: drive {drive}'s kernel name {:?} is not one",
                found.kname
            )));
        }
        let dir = self
            .md_dir(name, array)?
            .join(format!("dev-{}", found.kname));
        let text = self.md_attribute(name, &dir, "offset")?;
        text.trim().parse().map_err(|_| {
            BackendError::Refused(format!(
                "pool {name}: md gives drive {drive}'s data offset as {text:?}, not a number"
            ))
        })
    }

    fn zero_range(
        &self,
        drive: &DriveRef,
        offset: u64,
        length: u64,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        const MIB: u64 = 1 << 20;
        if !offset.is_multiple_of(MIB) || !length.is_multiple_of(MIB) || length == 0 {
            return Err(BackendError::Refused(format!(
                "drive {drive}: zeroes are written in whole MiB, not {length} bytes from {offset}"
            )));
        }
        let found = self.find_drive(None, drive, log)?;
        let arrays = self.arrays(log)?;
        if let Some((a, m)) = holder(&arrays, &found.kname) {
            return Err(BackendError::Busy(format!(
                "drive {drive} is the {} member {} of md array {}; it is not zeroed",
                m.role.as_str(),
                found.kname,
                array_label(a)
            )));
        }
        // Writing a whole range takes as long as the drive takes: an hour
        // per call at most, whatever the usual limit.
        let mut spec =
            self.program("blkdiscard")?
                .args(argv::zero_range(&found.path, offset, length));
        spec.timeout = std::time::Duration::from_secs(3600);
        let out = run_logged(&spec, log)?;
        if !out.success() {
            return Err(change_failed(None, &spec, &out, offset > 0));
        }
        Ok(format!(
            "drive {drive}: zeroes written from MiB {} to {}",
            offset / MIB,
            (offset + length) / MIB
        ))
    }

    fn read_sector(
        &self,
        drive: &DriveRef,
        lba: u64,
        log: &mut dyn CommandLog,
    ) -> Result<Option<String>, BackendError> {
        let found = self.find_drive(None, drive, log)?;
        let spec = self
            .program("dd")?
            .args(argv::read_sector(&found.path, lba));
        let out = run_logged(&spec, log)?;
        Ok((!out.success()).then(|| said(&out)))
    }

    fn zero_superblock(
        &self,
        drive: &DriveRef,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let found = self.find_drive(None, drive, log)?;
        let arrays = self.arrays(log)?;
        if let Some((a, m)) = holder(&arrays, &found.kname) {
            return Err(BackendError::Busy(format!(
                "drive {drive} is still the {} member {} of md array {}; its superblock is cleared once it is out",
                m.role.as_str(),
                found.kname,
                array_label(a)
            )));
        }
        let spec = self
            .program("mdadm")?
            .args(argv::zero_superblock(&found.path));
        let out = run_logged(&spec, log)?;
        if out.success() {
            return Ok(format!("drive {drive}: its md superblock was erased"));
        }
        if said(&out).contains("Unrecognised md component device") {
            return Ok(format!("drive {drive} already has no md superblock"));
        }
        Err(change_failed(None, &spec, &out, false))
    }
}

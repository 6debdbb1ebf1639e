//! LIO's iSCSI targets, through configfs written directly, as rtslib does
//! (never targetcli, never a shell): everything is under
//! `<configfs_root>/target`. [`read`] reads the tree, [`plan`] decides
//! what to change, and this applies it, one file operation at a time in
//! the order the kernel needs.
//!
//! A configfs write is a file write, not a command: nothing goes to the
//! [`CommandLog`]; the words returned are the record. A CHAP secret is
//! read only to compare it, written only where the changes are applied,
//! and never in words or errors.
//!
//! Where the tree is not configfs (a test's directory standing in for
//! it), the directories the kernel makes by itself are made as files are
//! written, and removing an object removes what is in it, as configfs
//! does.

pub mod plan;
pub mod read;
pub mod saveconfig;
#[cfg(test)]
mod tests;

use std::io;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

use nix::sys::statfs::FsType;
use plan::{Facts, Op, Value};
use read::Tree;

use super::LinuxBackend;
use crate::domain::target::{Lio, TargetSpec};
use crate::storage::{BackendError, CommandLog, Targets};

/// LIO's core module, which makes `<configfs_root>/target`.
const CORE_MODULE: &str = "target_core_mod";

/// configfs's magic number (`CONFIGFS_MAGIC`).
const CONFIGFS_MAGIC: FsType = FsType(0x6265_6570);

impl LinuxBackend {
    /// `<configfs_root>/target`.
    fn lio_root(&self) -> PathBuf {
        self.settings.configfs_root.join("target")
    }

    /// Loads LIO's core module, `target_core_mod`, when configfs has no
    /// `target/` yet: nothing asks for it at boot, and the kernel loads
    /// the iSCSI fabric and the iblock backstore by itself only once
    /// their directories are made under `target/` (rtslib modprobes it
    /// likewise). Found in the lab: after a boot the first export failed
    /// on "mkdir core/iblock_0: No such file or directory". `None` when
    /// it was there.
    fn load_lio(&self, log: &mut dyn CommandLog) -> Result<Option<String>, BackendError> {
        let root = self.lio_root();
        if root.is_dir() || !self.settings.configfs_root.is_dir() {
            return Ok(None);
        }
        self.run_change("modprobe", None, vec![CORE_MODULE.into()], false, log)?;
        if !root.is_dir() {
            return Err(BackendError::Failed(format!(
                "{CORE_MODULE} is loaded and still there is no {}: is configfs mounted on {}?",
                root.display(),
                self.settings.configfs_root.display()
            )));
        }
        Ok(Some(format!(
            "LIO's core module {CORE_MODULE} loaded (nothing had loaded it since boot)"
        )))
    }

    /// Makes `<dbroot>/pr` when it is not there. LIO never makes it, and
    /// writes `<dbroot>/pr/aptpl_<serial>` at every registration change,
    /// APTPL or not: without the directory every PERSISTENT RESERVE OUT
    /// fails with NOT READY (LOGICAL UNIT COMMUNICATION FAILURE). Found in
    /// the lab: `sg_persist --out --register` answered "Device not ready"
    /// and the kernel logged "filp_open(/var/target/pr/aptpl_<serial>) for
    /// APTPL metadata failed". `None` when it was there.
    fn make_pr_dir(&self, lio: &Lio) -> Result<Option<String>, BackendError> {
        let Some(db) = &lio.dbroot else {
            return Ok(None);
        };
        let dir = Path::new(db).join("pr");
        if dir.is_dir() {
            return Ok(None);
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| {
                unchanged(
                    &e,
                    format!(
                        "making LIO's directory for reservations {}: {e}",
                        dir.display()
                    ),
                )
            })?;
        Ok(Some(format!(
            "LIO's directory for reservations {} made (without it initiators cannot register a reservation key)",
            dir.display()
        )))
    }

    /// The tree as it is; reading changes nothing, so a failure is
    /// `Refused` (`Gone` for something not there).
    fn lio_tree(&self) -> Result<Tree, BackendError> {
        read::read_tree(&self.lio_root())
            .map_err(|e| unchanged(&e, format!("reading LIO's configfs tree: {e}")))
    }

    /// A device path as this machine has it (`/dev/...` under `dev_root`).
    fn dev_path(&self, device: &str) -> PathBuf {
        match device.strip_prefix("/dev/") {
            Some(rest) => self.settings.dev_root.join(rest),
            None => PathBuf::from(device),
        }
    }

    /// What the planner needs beyond the tree: the device there, its queue's
    /// write cache (`<sysfs_root>/block/<kernel name>/queue/write_cache`,
    /// the kernel name found through a `/dev/mapper` link), and the
    /// reservations LIO saved for the serial (`<dbroot>/pr/aptpl_<serial>`,
    /// a path on this machine's own filesystem).
    fn facts(&self, spec: &TargetSpec, lio: &Lio) -> Result<Facts, BackendError> {
        let dev = self.dev_path(&spec.device);
        let volatile_cache = std::fs::canonicalize(&dev)
            .ok()
            .and_then(|real| real.file_name().map(|n| n.to_os_string()))
            .and_then(|kname| {
                let path = self.settings.sysfs_root.join("block").join(kname);
                std::fs::read_to_string(path.join("queue/write_cache")).ok()
            })
            .and_then(|t| match t.trim() {
                "write back" => Some(true),
                "write through" => Some(false),
                _ => None,
            });
        let aptpl = match &lio.dbroot {
            Some(db) => {
                let file = Path::new(db)
                    .join("pr")
                    .join(format!("aptpl_{}", spec.serial));
                match std::fs::read(&file) {
                    Ok(bytes) => read::parse_aptpl(&String::from_utf8_lossy(&bytes)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
                    Err(e) => {
                        return Err(BackendError::Refused(format!(
                            "reading LIO's saved reservations {}: {e}",
                            file.display()
                        )));
                    }
                }
            }
            None => Vec::new(),
        };
        Ok(Facts {
            device_present: dev.exists(),
            volatile_cache,
            aptpl,
        })
    }

    /// Applies `ops` in order. A failure of the first changed nothing
    /// (`Refused`, or `Gone` for something not there); of a later one,
    /// the tree is part-way (`Failed`).
    fn run(&self, ops: &[Op]) -> Result<(), BackendError> {
        let root = self.lio_root();
        // Asked of the mount, not of `target/`, which is not there until
        // the target core module is loaded.
        let configfs = nix::sys::statfs::statfs(&self.settings.configfs_root)
            .is_ok_and(|s| s.filesystem_type() == CONFIGFS_MAGIC);
        for (done, op) in ops.iter().enumerate() {
            if let Err(e) = apply_op(&root, op, configfs) {
                let what = format!("LIO configfs: {op}: {e}");
                return Err(if done == 0 {
                    unchanged(&e, what)
                } else {
                    BackendError::Failed(format!("{what} (after {done} of {} changes)", ops.len()))
                });
            }
        }
        Ok(())
    }
}

/// The error for an I/O failure that changed nothing.
fn unchanged(e: &io::Error, message: String) -> BackendError {
    if e.kind() == io::ErrorKind::NotFound {
        BackendError::Gone(message)
    } else {
        BackendError::Refused(message)
    }
}

fn apply_op(root: &Path, op: &Op, configfs: bool) -> io::Result<()> {
    let parent = |path: &Path| match path.parent() {
        Some(p) if !configfs => std::fs::create_dir_all(p),
        _ => Ok(()),
    };
    match op {
        Op::Mkdir(rel) => {
            let path = root.join(rel);
            let made = if configfs {
                std::fs::create_dir(&path)
            } else {
                std::fs::create_dir_all(&path)
            };
            match made {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
                other => other,
            }
        }
        Op::Write(rel, value) => {
            let path = root.join(rel);
            parent(&path)?;
            // One write of the value without a newline: the kernel keeps
            // a CHAP user or secret exactly as written.
            let text = match value {
                Value::Text(t) => t.as_str(),
                Value::Secret(s) => s.expose(),
            };
            std::fs::write(path, text)
        }
        Op::Symlink { link, to } => {
            let link = root.join(link);
            parent(&link)?;
            // configfs resolves a relative target from the caller's
            // directory, not the link's: it is given whole.
            std::os::unix::fs::symlink(root.join(to), link)
        }
        Op::Remove(rel) => {
            let path = root.join(rel);
            let removed = if configfs {
                remove_object(&path)
            } else {
                std::fs::remove_dir_all(&path)
            };
            match removed {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                other => other,
            }
        }
    }
}

/// Removes a configfs object: the links in it (which would keep it), then
/// it; its attributes and default groups go with it.
fn remove_object(path: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        if entry.file_type()?.is_symlink() {
            std::fs::remove_file(entry.path())?;
        }
    }
    std::fs::remove_dir(path)
}

impl Targets for LinuxBackend {
    fn lio(&self, _log: &mut dyn CommandLog) -> Result<Lio, BackendError> {
        Ok(self.lio_tree()?.lio)
    }

    fn apply_target(
        &self,
        spec: &TargetSpec,
        log: &mut dyn CommandLog,
    ) -> Result<Vec<String>, BackendError> {
        plan::validate(spec).map_err(BackendError::Refused)?;
        let loaded = self.load_lio(log)?;
        let tree = self.lio_tree()?;
        let pr_dir = self.make_pr_dir(&tree.lio)?;
        let facts = self.facts(spec, &tree.lio)?;
        let plan = plan::apply(spec, &tree, &facts)?;
        // A module loaded or a directory made changes nothing a later
        // failure must undo.
        self.run(&plan.ops)?;
        Ok(loaded.into_iter().chain(pr_dir).chain(plan.words).collect())
    }

    fn remove_target(
        &self,
        iqn: &str,
        backstore: &str,
        _log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        crate::naming::validate_iscsi_name(iqn)
            .map_err(|e| BackendError::Refused(format!("target {iqn}: {e}")))?;
        plan::check_component("backstore", backstore).map_err(BackendError::Refused)?;
        let plan = plan::remove(iqn, backstore, &self.lio_tree()?)?;
        self.run(&plan.ops)?;
        if plan.words.is_empty() {
            return Ok(format!(
                "target {iqn} and backstore {backstore} are already gone"
            ));
        }
        Ok(plan.words.join("; "))
    }

    fn saved_config(&self, _log: &mut dyn CommandLog) -> Result<Option<Lio>, BackendError> {
        let path = &self.settings.lio_saveconfig;
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(BackendError::Refused(format!("{}: {e}", path.display())));
            }
        };
        saveconfig::parse(&text)
            .map(Some)
            .map_err(|e| BackendError::Refused(format!("{}: {e}", path.display())))
    }
}

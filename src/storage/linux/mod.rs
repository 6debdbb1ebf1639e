//! The real Linux storage stack. Every tool it drives is named once, here,
//! with the package that ships it and the oldest version it works with.

pub mod bays;
pub mod dm;
mod drives;
pub mod enclosure;
mod enclosures;
#[cfg(test)]
mod fake;
pub mod kmsg;
pub mod lio;
pub mod lsblk;
pub mod lvm;
pub mod md;
pub mod sg_ses;
pub mod smartctl;
pub mod thin;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::cmd::{self, CommandOutput, CommandSpec};
use super::{Backend, BackendError, CommandLog};
use crate::config::{BackendKind, LinuxSettings};
use crate::domain::clock::Clock;
use crate::domain::{
    BayAddr, Drive, Inventory, KernelIoError, KernelLog, Led, SelfTestKind, Smart,
};

/// A system tool the `linux` backend runs.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    pub name: &'static str,
    pub package: &'static str,
    pub purpose: &'static str,
    pub version_args: &'static [&'static str],
    /// Oldest version known to work, compared numerically part by part.
    pub min_version: &'static str,
}

pub const TOOLS: &[Tool] = &[
    Tool {
        name: "mdadm",
        package: "mdadm",
        purpose: "md RAID arrays (write journal needs 4.1)",
        version_args: &["--version"],
        min_version: "4.1",
    },
    Tool {
        name: "lvm",
        package: "lvm2",
        purpose: "volume groups and logical volumes (JSON reports)",
        version_args: &["version"],
        min_version: "2.03",
    },
    Tool {
        name: "dmsetup",
        package: "dmsetup",
        purpose: "volumes' front devices, device-mapper linear maps (1.02.155 came with LVM 2.03)",
        version_args: &["--version"],
        min_version: "1.02.155",
    },
    Tool {
        name: "thin_check",
        package: "thin-provisioning-tools",
        purpose: "thin pool metadata checks",
        version_args: &["--version"],
        min_version: "0.7",
    },
    Tool {
        name: "thin_delta",
        package: "thin-provisioning-tools",
        purpose: "changed blocks between thin snapshots (replication)",
        version_args: &["--version"],
        min_version: "0.7",
    },
    Tool {
        name: "smartctl",
        package: "smartmontools",
        purpose: "drive health (JSON output needs 7.0)",
        version_args: &["--version"],
        min_version: "7.0",
    },
    Tool {
        name: "sg_ses",
        package: "sg3-utils",
        purpose: "enclosure LEDs where sysfs has none",
        version_args: &["--version"],
        min_version: "1.0",
    },
    Tool {
        name: "lsblk",
        package: "util-linux",
        purpose: "block device inventory (JSON)",
        version_args: &["--version"],
        min_version: "2.33",
    },
    Tool {
        name: "wipefs",
        package: "util-linux",
        purpose: "signatures on a drive before a pool takes it, and wiping them (JSON)",
        version_args: &["--version"],
        min_version: "2.33",
    },
    Tool {
        name: "udevadm",
        package: "udev",
        purpose: "device properties and settling after changes",
        version_args: &["--version"],
        min_version: "240",
    },
];

/// The first dotted number in a tool's version output: `mdadm - v4.2 -
/// 2021-12-30` gives `4.2`, `  LVM version:     2.03.16(2)` gives `2.03.16`,
/// `252` gives `252`.
pub fn parse_version(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            let candidate = text[start..i].trim_end_matches('.');
            // Skip dates such as 2021-12-30 that come before a version.
            let is_date_part = i < bytes.len() && bytes[i] == b'-' && !candidate.contains('.');
            if !is_date_part {
                return Some(candidate.to_string());
            }
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    None
}

/// Compares dotted versions numerically: 2.10 > 2.9.
pub fn version_at_least(have: &str, want: &str) -> bool {
    let parts = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    let (h, w) = (parts(have), parts(want));
    for i in 0..h.len().max(w.len()) {
        let (a, b) = (
            h.get(i).copied().unwrap_or(0),
            w.get(i).copied().unwrap_or(0),
        );
        if a != b {
            return a > b;
        }
    }
    true
}

/// What `baystack check` says of one tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolVerdict {
    Ok { path: PathBuf, version: String },
    Missing { searched: Vec<PathBuf> },
    TooOld { path: PathBuf, version: String },
    Broken { path: PathBuf, reason: String },
}

impl ToolVerdict {
    pub fn is_ok(&self) -> bool {
        matches!(self, ToolVerdict::Ok { .. })
    }
}

/// Finds a tool and asks it for its version.
pub fn check_tool(tool: &Tool, settings: &LinuxSettings) -> ToolVerdict {
    let Some(path) = cmd::find_program(tool.name, &settings.tool_dirs) else {
        return ToolVerdict::Missing {
            searched: settings.tool_dirs.clone(),
        };
    };
    let spec = CommandSpec::new(path.clone(), Duration::from_secs(10)).args(tool.version_args);
    let out = match cmd::run(&spec) {
        Ok(out) => out,
        Err(e) => {
            return ToolVerdict::Broken {
                path,
                reason: e.to_string(),
            };
        }
    };
    // Some tools print their version on stderr (mdadm), some exit non-zero
    // after printing it (older sg3_utils); the text is what counts.
    let text = format!("{}\n{}", out.stdout_text(), out.stderr_text());
    match parse_version(&text) {
        Some(version) if version_at_least(&version, tool.min_version) => {
            ToolVerdict::Ok { path, version }
        }
        Some(version) => ToolVerdict::TooOld { path, version },
        None => ToolVerdict::Broken {
            path,
            reason: format!(
                "`{}` printed no version ({})",
                spec.argv().join(" "),
                out.describe_end()
            ),
        },
    }
}

pub struct LinuxBackend {
    settings: LinuxSettings,
    clock: Arc<dyn Clock>,
    /// A thin pool holds one metadata snapshot at a time: replication's
    /// reads of it take turns.
    metadata_snap: std::sync::Mutex<()>,
}

impl LinuxBackend {
    pub fn new(settings: &LinuxSettings, clock: Arc<dyn Clock>) -> Self {
        LinuxBackend {
            settings: settings.clone(),
            clock,
            metadata_snap: std::sync::Mutex::new(()),
        }
    }

    /// The command for tool `name`, found in the tool directories, with the
    /// configured time limit.
    fn tool(&self, name: &str) -> Result<CommandSpec, BackendError> {
        let path = cmd::find_program(name, &self.settings.tool_dirs).ok_or_else(|| {
            BackendError::Failed(format!(
                "{name} is not installed (looked in {}); `baystack check --backend linux` says which package has it",
                self.settings
                    .tool_dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        Ok(CommandSpec::new(
            path,
            Duration::from_secs(self.settings.command_timeout_seconds),
        ))
    }

    /// The command for tool `name`; a tool that is not installed changed
    /// nothing.
    fn program(&self, name: &str) -> Result<CommandSpec, BackendError> {
        self.tool(name).map_err(|e| match e {
            BackendError::Failed(why) => BackendError::Refused(why),
            other => other,
        })
    }

    /// `sg_ses --join` on a generic SCSI node, recorded in `log`: `None`
    /// when sg_ses is not installed.
    fn sg_ses_join(
        &self,
        sg: &str,
        log: &mut dyn CommandLog,
    ) -> Option<Result<sg_ses::Report, String>> {
        let spec = self.tool("sg_ses").ok()?;
        Some(
            self.sg_node(sg)
                .map_err(|e| e.to_string())
                .and_then(|node| {
                    let spec = spec.arg("--join").arg(node.as_os_str());
                    let out = run_ok(&spec, log).map_err(|e| e.to_string())?;
                    sg_ses::parse(&out.stdout_text())
                        .map_err(|e| format!("`{}`: {e}", spec.argv().join(" ")))
                }),
        )
    }

    /// `/dev/sgN` for a node name the kernel listed; nothing else reaches a
    /// command.
    fn sg_node(&self, sg: &str) -> Result<PathBuf, BackendError> {
        let digits = sg.strip_prefix("sg").unwrap_or("");
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(BackendError::Failed(format!(
                "{sg:?} is not a generic SCSI node name"
            )));
        }
        Ok(self.settings.dev_root.join(sg))
    }

    /// `/dev/sda` for a kernel name as lsblk gave it; nothing else reaches
    /// a command.
    fn block_node(&self, dev: &str) -> Result<PathBuf, BackendError> {
        if dev.is_empty() || !dev.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(BackendError::Failed(format!(
                "{dev:?} is not a block device name"
            )));
        }
        Ok(self.settings.dev_root.join(dev))
    }

    /// The device node of a drive for a command that changes it: `None`
    /// (the drive has gone since it was asked for) fails.
    fn drive_node(&self, dev_name: Option<&str>) -> Result<PathBuf, BackendError> {
        let dev = dev_name.ok_or_else(|| {
            BackendError::Failed("the drive has no device node now; is it still there?".into())
        })?;
        self.block_node(dev)
    }

    /// Runs a smartctl command that orders the drive to do something (start
    /// or abort a test), recorded in `log`; what smartctl said, line by
    /// line without its banner. Bits 0 to 2 of smartctl's status: the
    /// command line, opening the device, or the command itself failed (a
    /// test already running, SMART off); it says why on standard output.
    fn smartctl_order(
        &self,
        spec: &CommandSpec,
        log: &mut dyn CommandLog,
    ) -> Result<Vec<String>, BackendError> {
        let out = cmd::run(spec).map_err(|e| BackendError::Failed(e.to_string()))?;
        log.record(&out)?;
        let said = smartctl::said(&out.stdout_text());
        if out.exit_code.is_none_or(|c| c & 0b111 != 0) {
            let reason = if said.is_empty() {
                "no reason given".to_string()
            } else {
                said.join(" ")
            };
            return Err(BackendError::Failed(failure(spec, &out, &reason)));
        }
        Ok(said)
    }

    /// Every enclosure as it is now, with its power supplies, fans and
    /// sensors if `parts`; the `sg_ses` reads go into `log`.
    fn enclosures(
        &self,
        disks: &[lsblk::Disk],
        parts: bool,
        log: &mut dyn CommandLog,
    ) -> Result<Vec<bays::Seen>, BackendError> {
        let log = std::cell::RefCell::new(log);
        bays::observe(
            &self.settings.sysfs_root,
            disks,
            &|sg| self.sg_ses_join(sg, *log.borrow_mut()),
            parts,
        )
        .map_err(BackendError::Failed)
    }

    /// The disks lsblk lists now, its run recorded in `log`.
    fn disks(&self, log: &mut dyn CommandLog) -> Result<Vec<lsblk::Disk>, BackendError> {
        let out = run_ok(&self.tool("lsblk")?.args(["-J", "-O", "-b"]), log)?;
        lsblk::parse(&out.stdout_text()).map_err(|e| BackendError::Failed(format!("lsblk: {e}")))
    }
}

/// "pool tank: ", or nothing.
fn of_pool(pool: Option<&str>) -> String {
    pool.map(|p| format!("pool {p}: ")).unwrap_or_default()
}

/// Runs a command and records it, whatever its end.
fn run_logged(spec: &CommandSpec, log: &mut dyn CommandLog) -> Result<CommandOutput, BackendError> {
    // A command that could not start changed nothing.
    let out = cmd::run(spec).map_err(|e| BackendError::Refused(e.to_string()))?;
    log.record(&out)?;
    Ok(out)
}

impl LinuxBackend {
    /// Runs a report (`lvm lvs`, `dmsetup table`) and returns what it
    /// printed. It changed nothing whatever its end: a failure is `Gone`
    /// where the tool said what was asked of is not found, else `Refused`.
    fn run_report(
        &self,
        tool: &str,
        pool: Option<&str>,
        args: Vec<std::ffi::OsString>,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let spec = self.program(tool)?.args(args);
        let out = run_logged(&spec, log)?;
        if !out.success() {
            let said = said(&out);
            let message = format!("{}{}", of_pool(pool), failure(&spec, &out, &said));
            return Err(if said.contains("not found") {
                BackendError::Gone(message)
            } else {
                BackendError::Refused(message)
            });
        }
        Ok(out.stdout_text())
    }

    /// Runs a command that changes something, recorded in `log`; a failure
    /// is as [`change_failed`] says.
    fn run_change(
        &self,
        tool: &str,
        pool: Option<&str>,
        args: Vec<std::ffi::OsString>,
        changed_before: bool,
        log: &mut dyn CommandLog,
    ) -> Result<CommandOutput, BackendError> {
        let spec = self.program(tool)?.args(args);
        let out = run_logged(&spec, log)?;
        if !out.success() {
            return Err(change_failed(pool, &spec, &out, changed_before));
        }
        Ok(out)
    }
}

/// What a tool said, on one line: its standard error (where mdadm and
/// wipefs report), else its standard output.
fn said(out: &CommandOutput) -> String {
    let text = match out.stderr_text().trim() {
        "" => out.stdout_text(),
        err => err.to_string(),
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether a tool said something else holds the device, which it says
/// before it writes anything (LVM: "Logical volume tank/db01 in use.").
fn said_busy(out: &CommandOutput) -> bool {
    let text = out.stderr_text().to_ascii_lowercase();
    text.contains("device or resource busy")
        || text.contains("cannot get exclusive access")
        || text.contains("couldn't open")
        || text.contains(" in use")
        // LVM 2.03's lvremove of a volume a device holds (seen in the lab).
        || text.contains("is used by another device")
}

/// The error for a command that was to change something and did not exit
/// 0: `Busy` where it said something holds the device and nothing had been
/// changed before it, else `Failed`.
fn change_failed(
    pool: Option<&str>,
    spec: &CommandSpec,
    out: &CommandOutput,
    changed_before: bool,
) -> BackendError {
    let message = format!("{}{}", of_pool(pool), failure(spec, out, &said(out)));
    if !changed_before && said_busy(out) {
        BackendError::Busy(message)
    } else {
        BackendError::Failed(message)
    }
}

/// "/dev/sda" for messages.
fn dev_label(dev_name: Option<&str>) -> String {
    format!("/dev/{}", dev_name.unwrap_or("?"))
}

/// "`argv` failed (how it ended): reason".
fn failure(spec: &CommandSpec, out: &cmd::CommandOutput, reason: &str) -> String {
    format!(
        "`{}` failed ({}): {reason}",
        spec.argv().join(" "),
        out.describe_end()
    )
}

/// Runs a command that must exit 0, recording it in `log`; the reason on a
/// failure is what it wrote to standard error.
fn run_ok(
    spec: &CommandSpec,
    log: &mut dyn CommandLog,
) -> Result<cmd::CommandOutput, BackendError> {
    let out = cmd::run(spec).map_err(|e| BackendError::Failed(e.to_string()))?;
    log.record(&out)?;
    if out.exit_code != Some(0) {
        return Err(BackendError::Failed(failure(
            spec,
            &out,
            out.stderr_text().trim(),
        )));
    }
    Ok(out)
}

/// Everything the kernel's log holds now: `/dev/kmsg` read without
/// blocking, one record per read, until it has no more (a plain file, as in
/// tests, until its end). A record overwritten while reading is passed over.
fn read_kmsg(path: &Path) -> std::io::Result<String> {
    use std::io::{ErrorKind, Read};
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)?;
    let mut all = Vec::new();
    // The kernel refuses a read into a buffer smaller than the record.
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::BrokenPipe => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(String::from_utf8_lossy(&all).into_owned())
}

/// The wall-clock time of a log record `usec` microseconds after boot.
fn logged_at(now: chrono::NaiveDateTime, usec: u64) -> chrono::NaiveDateTime {
    let Ok(up) = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) else {
        return now;
    };
    let up_usec = (up.tv_sec() as u64) * 1_000_000 + (up.tv_nsec() as u64) / 1_000;
    now - chrono::Duration::microseconds(up_usec.saturating_sub(usec) as i64)
}

/// The most telling `/dev/disk/by-id` name of each block device: `ata-`,
/// `nvme-` and `scsi-` names carry model and serial; `wwn-` names only the
/// WWN.
fn by_id_names(dev_root: &Path) -> std::collections::HashMap<String, String> {
    let mut best: std::collections::HashMap<String, String> = Default::default();
    let rank = |n: &str| {
        ["ata-", "nvme-", "scsi-", "wwn-", "virtio-"]
            .iter()
            .position(|p| n.starts_with(p))
            .unwrap_or(9)
    };
    let Ok(dir) = std::fs::read_dir(dev_root.join("disk/by-id")) else {
        return best;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.contains("-part") {
            continue;
        }
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        let Some(dev) = target.file_name().map(|f| f.to_string_lossy().into_owned()) else {
            continue;
        };
        let better = match best.get(&dev) {
            Some(old) => (rank(&name), name.len()) < (rank(old), old.len()),
            None => true,
        };
        if better {
            best.insert(dev, name);
        }
    }
    best
}

impl Backend for LinuxBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Linux
    }

    fn inventory(&self) -> Result<Inventory, BackendError> {
        let disks = self.disks(&mut super::NoLog)?;
        let by_id = by_id_names(&self.settings.dev_root);
        let drives: Vec<Drive> = disks
            .iter()
            .map(|d| Drive {
                ident: d.ident(),
                serial: d.serial.clone().unwrap_or_default(),
                wwn: d.wwn.clone(),
                vendor: d.vendor.clone(),
                model: d.model.clone(),
                size_bytes: d.size_bytes,
                rotational: d.rotational,
                transport: d.transport,
                dev_name: Some(d.name.clone()),
                by_id: d.paths.iter().find_map(|p| by_id.get(p).cloned()),
                smart: None,
                signatures: d.signatures.clone(),
            })
            .collect();
        let enclosures = self
            .enclosures(&disks, true, &mut super::NoLog)?
            .into_iter()
            .map(|seen| seen.enclosure)
            .collect();
        Ok(Inventory { enclosures, drives })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_real_tool_output() {
        assert_eq!(
            parse_version("mdadm - v4.2 - 2021-12-30\n").as_deref(),
            Some("4.2")
        );
        assert_eq!(
            parse_version(
                "  LVM version:     2.03.16(2) (2022-05-18)\n  Library version: 1.02.185"
            )
            .as_deref(),
            Some("2.03.16")
        );
        assert_eq!(
            parse_version(
                "smartctl 7.3 2022-02-28 r5338 [x86_64-linux-6.1.0-26-amd64] (local build)"
            )
            .as_deref(),
            Some("7.3")
        );
        assert_eq!(
            parse_version("lsblk from util-linux 2.38.1\n").as_deref(),
            Some("2.38.1")
        );
        assert_eq!(parse_version("252\n").as_deref(), Some("252"));
        assert_eq!(parse_version("0.9.0\n").as_deref(), Some("0.9.0"));
        assert_eq!(
            parse_version("version: 2.59 20220105\n").as_deref(),
            Some("2.59")
        );
        assert_eq!(parse_version("no digits here"), None);
    }

    /// What each tool printed in the lab guest (tests/lab/guest/capture.sh):
    /// every tool the backend drives is there, read right, new enough.
    #[test]
    fn versions_the_lab_s_tools_print() {
        let want = [
            ("mdadm", "4.2"),
            ("lvm", "2.03.16"),
            ("dmsetup", "1.02.185"),
            ("thin_check", "0.9.0"),
            ("thin_delta", "0.9.0"),
            ("smartctl", "7.3"),
            ("sg_ses", "2.48"),
            ("lsblk", "2.38.1"),
            ("wipefs", "2.38.1"),
            ("udevadm", "252"),
        ];
        assert_eq!(
            want.map(|w| w.0),
            TOOLS.iter().map(|t| t.name).collect::<Vec<_>>()[..]
        );
        for (tool, (name, version)) in TOOLS.iter().zip(want) {
            let text = std::fs::read_to_string(format!(
                "{}/tests/fixtures/versions/{name}.txt",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap();
            let got = parse_version(&text);
            assert_eq!(got.as_deref(), Some(version), "{name}: {text}");
            assert!(version_at_least(version, tool.min_version), "{name}");
        }
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(version_at_least("4.2", "4.1"));
        assert!(version_at_least("2.03.16", "2.03"));
        assert!(version_at_least("2.10", "2.9"));
        assert!(!version_at_least("6.2", "7.0"));
        assert!(version_at_least("252", "240"));
        assert!(!version_at_least("239", "240"));
    }

    #[test]
    fn missing_tools_say_where_they_were_sought() {
        let settings = LinuxSettings {
            tool_dirs: vec![PathBuf::from("/nonexistent-dir")],
            command_timeout_seconds: 5,
            sysfs_root: PathBuf::from("/sys"),
            dev_root: PathBuf::from("/dev"),
            proc_root: PathBuf::from("/proc"),
            mdadm_conf: PathBuf::from("/etc/mdadm/mdadm.conf"),
            configfs_root: PathBuf::from("/sys/kernel/config"),
            lio_saveconfig: PathBuf::from("/etc/rtslib-fb-target/saveconfig.json"),
        };
        let v = check_tool(&TOOLS[0], &settings);
        assert_eq!(
            v,
            ToolVerdict::Missing {
                searched: vec![PathBuf::from("/nonexistent-dir")]
            }
        );
    }

    #[test]
    fn a_tool_is_run_and_its_version_read() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("mdadm");
        std::fs::write(&fake, "#!/bin/sh\necho 'mdadm - v4.2 - 2021-12-30' >&2\n").unwrap();
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let settings = LinuxSettings {
            tool_dirs: vec![dir.path().to_path_buf()],
            command_timeout_seconds: 5,
            sysfs_root: PathBuf::from("/sys"),
            dev_root: PathBuf::from("/dev"),
            proc_root: PathBuf::from("/proc"),
            mdadm_conf: PathBuf::from("/etc/mdadm/mdadm.conf"),
            configfs_root: PathBuf::from("/sys/kernel/config"),
            lio_saveconfig: PathBuf::from("/etc/rtslib-fb-target/saveconfig.json"),
        };
        assert_eq!(
            check_tool(&TOOLS[0], &settings),
            ToolVerdict::Ok {
                path: fake.clone(),
                version: "4.2".into()
            }
        );
        std::fs::write(&fake, "#!/bin/sh\necho 'mdadm - v3.4 - 2016-01-28'\n").unwrap();
        assert!(matches!(
            check_tool(&TOOLS[0], &settings),
            ToolVerdict::TooOld { .. }
        ));
    }
}

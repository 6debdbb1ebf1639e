//! A machine for the md, LVM and dmsetup tests: a device root with by-id
//! links, a sysfs and a procfs made of the lab's captures, and stand-in
//! tools (shell scripts) that print the lab's outputs and log each call.
//!
//! Each stand-in appends its command line to `calls.log`, with the
//! machine's root written `ROOT` so a test can show the sequence as it
//! would read on a real one. What a call changes is a shell snippet the
//! test leaves in `state/on-<tool>-<verb>` (say `on-mdadm-create`), run
//! with `ROOT` and `STATE` set: the machine changes as the test says the
//! kernel would. Without one a call changes nothing; only the dmsetup
//! stand-in keeps state of its own, a device-mapper in two files.

use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::sync::Arc;

use super::LinuxBackend;
use crate::config::LinuxSettings;
use crate::domain::clock::ManualClock;
use crate::domain::pool::DriveRef;
use crate::storage::cmd::CommandOutput;
use crate::storage::{BackendError, CommandLog};

pub fn fixtures() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

pub fn fixture(path: &str) -> String {
    std::fs::read_to_string(fixtures().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The common part of every stand-in: log the call, run the test's snippet.
const PRELUDE: &str = r#"#!/bin/sh
ROOT='@ROOT@'
STATE="$ROOT/state"
TOOL='@TOOL@'
line="$TOOL"
for a in "$@"; do case "$a" in *' '*) line="$line '$a'" ;; *) line="$line $a" ;; esac; done
printf '%s\n' "$line" | sed "s|$ROOT|ROOT|g" >> "$ROOT/calls.log"
verb=$(printf '%s' "$1" | sed 's/^--//')
[ "$verb" = manage ] && verb=$(printf '%s' "$3" | sed 's/^--//')
if [ -f "$STATE/on-$TOOL-$verb" ]; then . "$STATE/on-$TOOL-$verb"; fi
last=""; for a in "$@"; do last="$a"; done
"#;

/// What each stand-in prints.
const MDADM: &str = r#"
case "$1" in
--detail)
    dev=$(basename "$(readlink -f "$3")")
    if [ -f "$STATE/export-$dev.txt" ]; then cat "$STATE/export-$dev.txt"; exit 0; fi
    echo "mdadm: cannot open $3: No such file or directory" >&2; exit 1 ;;
--create) echo "mdadm: array $2 started." >&2 ;;
--zero-superblock)
    if [ -f "$STATE/superblock-$(basename "$(readlink -f "$2")")" ]; then exit 0; fi
    echo "mdadm: Unrecognised md component device - $2" >&2; exit 1 ;;
--stop) echo "mdadm: stopped $2" >&2 ;;
--assemble) echo "mdadm: $2 has been started with 3 drives." >&2 ;;
--grow) echo "mdadm: Need to backup 3072K of critical section.." >&2 ;;
--manage)
    case "$3" in
    --add) echo "mdadm: added $4" >&2 ;;
    --fail) echo "mdadm: set $4 faulty in $2" >&2 ;;
    --remove) echo "mdadm: hot removed $4 from $2" >&2 ;;
    --replace) echo "mdadm: Marked $4 (device 0 in $2) for replacement" >&2 ;;
    esac ;;
esac
exit 0
"#;

const LSBLK: &str = r#"
f="$STATE/lsblk-$(basename "$last").json"
if [ -f "$f" ]; then cat "$f"; exit 0; fi
echo "lsblk: $last: not a block device" >&2; exit 32
"#;

const WIPEFS: &str = r#"
f="$STATE/wipefs-$(basename "$(readlink -f "$last")").json"
case "$1" in
--no-act) if [ -f "$f" ]; then cat "$f"; else printf '{\n   "signatures": [\n\n   ]\n}\n'; fi ;;
--all) rm -f "$f"; echo "$last: 4 bytes were erased at offset 0x00001000 (linux_raid_member): fc 4e 2b a9" ;;
esac
exit 0
"#;

const LVM: &str = r#"
name=""; prev=""; for a in "$@"; do [ "$prev" = --name ] && name="$a"; prev="$a"; done
case "$1" in
pvs|vgs|lvs) cat "$STATE/$1.json" ;;
lvcreate) echo "  Logical volume \"$name\" created." ;;
lvextend) echo "  Logical volume $last successfully resized." ;;
lvremove) echo "  Logical volume \"${last#*/}\" successfully removed." ;;
lvrename) echo "  Renamed \"$3\" to \"$4\" in volume group \"$2\"" ;;
pvcreate) echo "  Physical volume \"$2\" successfully created." ;;
vgcreate) echo "  Volume group \"$2\" successfully created" ;;
pvresize) echo "  Physical volume \"$2\" changed"; echo "  1 physical volume(s) resized or updated / 0 physical volume(s) not resized" ;;
vgremove) echo "  Volume group \"$2\" successfully removed" ;;
pvremove) echo "  Labels on physical volume \"$2\" successfully wiped." ;;
esac
exit 0
"#;

/// dmsetup over a device-mapper kept in two files, as `dmsetup info -c
/// ... -o attr,open,name` and `dmsetup table` print it: `state/dm-info`
/// and `state/dm-table`. A reload waits in `state/dm-inactive-<name>`
/// until a resume swaps it in.
const DMSETUP: &str = r#"
info="$STATE/dm-info"; table="$STATE/dm-table"; touch "$info" "$table"
case "$1" in
info|table) if [ -s "$info" ]; then cat "$STATE/dm-$1"; else echo "No devices found"; fi ;;
create) printf 'L--w:0:%s\n' "$2" >> "$info"; printf '%s: %s\n' "$2" "$last" >> "$table" ;;
reload) printf '%s\n' "$last" > "$STATE/dm-inactive-$2" ;;
resume)
    if [ -f "$STATE/dm-inactive-$2" ]; then
        grep -v "^$2: " "$table" > "$table.new"
        printf '%s: %s\n' "$2" "$(cat "$STATE/dm-inactive-$2")" >> "$table.new"
        mv "$table.new" "$table"; rm "$STATE/dm-inactive-$2"
    fi
    sed -i "s/^L-s\(.\):\(.*\):$2\$/L--\1:\2:$2/" "$info" ;;
remove)
    grep -v ":$2\$" "$info" > "$info.new"; mv "$info.new" "$info"
    grep -v "^$2: " "$table" > "$table.new"; mv "$table.new" "$table" ;;
esac
exit 0
"#;

/// modprobe: LIO's core module makes `target/` in the machine's configfs
/// (`config/`) with its `dbroot` (the machine's `var/target`), as the
/// kernel does when it loads.
const MODPROBE: &str = r#"
if [ "$last" = target_core_mod ]; then
    mkdir -p "$ROOT/config/target"
    printf '%s/var/target/\n' "$ROOT" > "$ROOT/config/target/dbroot"
fi
exit 0
"#;

/// A logical volume of `tank` as [`lvs_report`] lists it: name, MiB,
/// `lv_attr`, pool, origin.
pub type Lv = (&'static str, u64, &'static str, &'static str, &'static str);

/// The thin pool of 1 GiB as LVM lists it, hidden volumes and all.
pub const THIN: [Lv; 4] = [
    ("[lvol0_pmspare]", 8, "ewi-------", "", ""),
    ("baystack_thin", 1024, "twi-aotz--", "", ""),
    ("[baystack_thin_tdata]", 1024, "Twi-ao----", "", ""),
    ("[baystack_thin_tmeta]", 8, "ewi-ao----", "", ""),
];

/// `lvs` of volume group `tank` as the backend asks for it. An active
/// volume (`a`, the fifth character of its attributes) is device
/// 252:<its row>.
pub fn lvs_report(rows: &[Lv]) -> String {
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .enumerate()
        .map(|(i, (name, mib, attr, pool, origin))| {
            let active = attr.chars().nth(4) == Some('a');
            let (major, minor) = if active {
                ("252".to_string(), i.to_string())
            } else {
                ("-1".to_string(), "-1".to_string())
            };
            serde_json::json!({
                "lv_name": name, "vg_name": "tank", "lv_size": (mib << 20).to_string(),
                "lv_attr": attr, "pool_lv": pool, "origin": origin,
                "lv_kernel_major": major, "lv_kernel_minor": minor,
            })
        })
        .collect();
    serde_json::json!({"report": [{"lv": rows}]}).to_string()
}

/// A log that keeps every command it is given.
#[derive(Default)]
pub struct Kept(pub Vec<CommandOutput>);

impl CommandLog for Kept {
    fn record(&mut self, out: &CommandOutput) -> Result<(), BackendError> {
        self.0.push(out.clone());
        Ok(())
    }
}

pub struct Machine {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub backend: LinuxBackend,
}

impl Machine {
    /// An empty machine: no arrays (an empty /proc/mdstat), no drives, the
    /// stand-in tools installed.
    pub fn new() -> Machine {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        for d in [
            "sys/block",
            "dev/disk/by-id",
            "dev/md",
            "proc",
            "bin",
            "state",
            "etc",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("calls.log"), "").unwrap();
        for (tool, body) in [
            ("mdadm", MDADM),
            ("lsblk", LSBLK),
            ("wipefs", WIPEFS),
            ("lvm", LVM),
            ("dmsetup", DMSETUP),
            ("modprobe", MODPROBE),
        ] {
            let path = root.join("bin").join(tool);
            let script = PRELUDE
                .replace("@ROOT@", &root.display().to_string())
                .replace("@TOOL@", tool)
                + body;
            std::fs::write(&path, script).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let settings = LinuxSettings {
            tool_dirs: vec![root.join("bin")],
            command_timeout_seconds: 20,
            sysfs_root: root.join("sys"),
            dev_root: root.join("dev"),
            proc_root: root.join("proc"),
            mdadm_conf: root.join("etc/mdadm.conf"),
            configfs_root: root.join("config"),
            lio_saveconfig: root.join("etc/rtslib-fb-target/saveconfig.json"),
        };
        let m = Machine {
            backend: LinuxBackend::new(&settings, Arc::new(ManualClock::new())),
            root,
            _dir: dir,
        };
        m.mdstat("mdstat/lab-stopped.txt");
        m
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// /proc/mdstat from a fixture.
    pub fn mdstat(&self, fixture_path: &str) {
        self.write("proc/mdstat", &fixture(fixture_path));
    }

    /// A whole disk `kname` with serial `serial`: its node, its by-id link
    /// `ata-LAB_DISK_<serial>`, and what lsblk says of it.
    pub fn drive(&self, kname: &str, serial: &str) -> DriveRef {
        let by_id = format!("ata-LAB_DISK_{serial}");
        self.write(&format!("dev/{kname}"), "");
        let link = self.path(&format!("dev/disk/by-id/{by_id}"));
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(format!("../../{kname}"), link).unwrap();
        self.lsblk_says(kname, serial);
        DriveRef {
            ident: format!("serial:{serial}"),
            serial: serial.to_string(),
            by_id: Some(by_id),
            dev_name: Some(kname.to_string()),
        }
    }

    /// lsblk's `-J -O -b` of disk `kname`, with serial `serial`.
    pub fn lsblk_says(&self, kname: &str, serial: &str) {
        let json = serde_json::json!({"blockdevices": [{
            "name": kname, "kname": kname, "type": "disk", "size": 68719476736u64,
            "rota": false, "tran": "sata", "model": "LAB DISK", "serial": serial,
        }]});
        self.write(&format!("state/lsblk-{kname}.json"), &json.to_string());
    }

    /// The md array of lab state `state` as kernel array `kname`: its sysfs
    /// directory and what `mdadm --detail --export` says of it (mdstat is
    /// set apart, with [`Machine::mdstat`]).
    pub fn array(&self, state: &str, kname: &str) {
        let to = self.path(&format!("sys/block/{kname}"));
        std::fs::create_dir_all(&to).unwrap();
        let status = std::process::Command::new("cp")
            .arg("-R")
            .arg(fixtures().join(format!("sysfs-md/lab-{state}/md")))
            .arg(&to)
            .status()
            .unwrap();
        assert!(status.success());
        self.write(&format!("dev/{kname}"), "");
        let export = fixtures().join(format!("mdadm/lab-detail-export-{state}.txt"));
        if export.exists() {
            std::fs::copy(export, self.path(&format!("state/export-{kname}.txt"))).unwrap();
        }
    }

    /// The `/dev/md/<name>` link udev makes.
    pub fn md_link(&self, name: &str, kname: &str) {
        let link = self.path(&format!("dev/md/{name}"));
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(format!("../{kname}"), link).unwrap();
    }

    /// What a call to `tool` with first word `verb` does, as shell.
    pub fn on(&self, tool: &str, verb: &str, script: &str) {
        self.write(&format!("state/on-{tool}-{verb}"), script);
    }

    /// Pool `tank` as the lab left it (array md125, one PV, volume group
    /// `tank` of 4 MiB extents: lab-pvs.json, lab-vgs.json), with these
    /// logical volumes.
    pub fn tank(lvs: &[Lv]) -> Machine {
        let m = Machine::new();
        m.write("dev/md125", "");
        m.md_link("tank", "md125");
        m.write("state/pvs.json", &fixture("lvm/lab-pvs.json"));
        let vgs = fixture("lvm/lab-vgs.json").replace(
            "\"pv_count\"",
            "\"vg_extent_size\":\"4194304\", \"pv_count\"",
        );
        m.write("state/vgs.json", &vgs);
        m.write("state/lvs.json", &lvs_report(lvs));
        m
    }

    /// After `lvm <verb>`, `lvs` lists these.
    pub fn then_lvs(&self, verb: &str, lvs: &[Lv]) {
        self.then("lvm", verb, "state/lvs.json", &lvs_report(lvs));
    }

    /// After a call to `tool` with first word `verb`, file `rel` holds
    /// `text`.
    pub fn then(&self, tool: &str, verb: &str, rel: &str, text: &str) {
        let next = format!("state/next-{tool}-{verb}");
        self.write(&next, text);
        self.on(
            tool,
            verb,
            &format!("cp \"$ROOT/{next}\" \"$ROOT/{rel}\"\n"),
        );
    }

    /// The calls the stand-ins logged since the last time this was asked.
    pub fn calls(&self) -> String {
        let text = self.read("calls.log");
        self.write("calls.log", "");
        text
    }
}

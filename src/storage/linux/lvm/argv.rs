//! The argument vectors of the LVM commands a pool's jobs run, all through
//! the one `lvm` binary (`lvm vgcreate ...`, as the `pvcreate` and
//! `vgcreate` links do): pure, from values already validated. Reports ask
//! for JSON with sizes in bytes, the form `parse` reads.

use std::ffi::OsString;
use std::path::Path;

use crate::domain::volume::THIN_POOL;

/// What `vgs` is asked for: every field `parse::vgs` reads.
pub const VG_FIELDS: &str =
    "vg_name,vg_uuid,vg_size,vg_free,vg_extent_size,pv_count,lv_count,vg_attr";

/// What `pvs` is asked for: every field `parse::pvs` reads.
pub const PV_FIELDS: &str = "pv_name,vg_name,pv_uuid,pv_size,pv_free,pv_attr";

/// What `lvs` is asked for: every field `parse::lvs` reads, with the
/// device number of an active volume (what its front device maps).
pub const LV_FIELDS: &str = "lv_name,vg_name,lv_uuid,lv_size,lv_attr,lv_layout,lv_role,\
pool_lv,origin,data_percent,metadata_percent,lv_active,lv_path,lv_health_status,\
lv_kernel_major,lv_kernel_minor";

fn report(command: &str, fields: &str) -> Vec<OsString> {
    [
        command,
        "--reportformat",
        "json",
        "--units",
        "b",
        "--nosuffix",
        "-o",
        fields,
    ]
    .map(OsString::from)
    .to_vec()
}

/// `lvm vgs ...`: every volume group.
pub fn vgs() -> Vec<OsString> {
    report("vgs", VG_FIELDS)
}

/// `lvm pvs ...`: every physical volume.
pub fn pvs() -> Vec<OsString> {
    report("pvs", PV_FIELDS)
}

/// `lvm lvs -a ... <vg>`: every logical volume of `vg`, hidden ones too.
pub fn lvs(vg: &str) -> Vec<OsString> {
    let mut args = report("lvs", LV_FIELDS);
    args.insert(1, "-a".into());
    args.push(vg.into());
    args
}

/// `lvm lvs ... -o lv_name,thin_id <vg>`: the thin ids of `vg`'s thin
/// volumes, as `parse::thin_ids` reads them.
pub fn lvs_thin_ids(vg: &str) -> Vec<OsString> {
    let mut args = report("lvs", "lv_name,thin_id");
    args.push(vg.into());
    args
}

/// Activates a thin snapshot made inactive (LVM sets its activation skip
/// flag): `--ignoreactivationskip`.
pub fn lvchange_activate_snapshot(vg: &str, lv: &str) -> Vec<OsString> {
    vec![
        "lvchange".into(),
        "--activate".into(),
        "y".into(),
        "--ignoreactivationskip".into(),
        lv_path(vg, lv),
    ]
}

/// A size as LVM is given it: whole MiB, rounded up (`1025m`).
fn mib(bytes: u64) -> OsString {
    format!("{}m", bytes.div_ceil(1 << 20)).into()
}

/// `<vg>/<lv>`.
fn lv_path(vg: &str, lv: &str) -> OsString {
    format!("{vg}/{lv}").into()
}

/// Makes the thin pool: `size_bytes` of data, `metadata_bytes` of
/// metadata, 64 KiB chunks (what snapshots share and replication reads).
pub fn lvcreate_thin_pool(vg: &str, size_bytes: u64, metadata_bytes: u64) -> Vec<OsString> {
    vec![
        "lvcreate".into(),
        "--yes".into(),
        "--type".into(),
        "thin-pool".into(),
        "--size".into(),
        mib(size_bytes),
        "--poolmetadatasize".into(),
        mib(metadata_bytes),
        "--chunksize".into(),
        "64k".into(),
        "--name".into(),
        THIN_POOL.into(),
        vg.into(),
    ]
}

/// Makes volume `lv`: thick (LVM zeroes its start), or thin in the thin
/// pool. `--yes` answers LVM's question about an old signature: wipe it.
pub fn lvcreate(vg: &str, lv: &str, size_bytes: u64, thin: bool) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["lvcreate".into(), "--yes".into()];
    if thin {
        args.extend(["--virtualsize".into(), mib(size_bytes)]);
        args.extend(["--thinpool".into(), THIN_POOL.into()]);
    } else {
        args.extend(["--size".into(), mib(size_bytes)]);
    }
    args.extend(["--name".into(), lv.into(), vg.into()]);
    args
}

/// Grows `lv` to `size_bytes`.
pub fn lvextend(vg: &str, lv: &str, size_bytes: u64) -> Vec<OsString> {
    vec![
        "lvextend".into(),
        "--size".into(),
        mib(size_bytes),
        lv_path(vg, lv),
    ]
}

/// Removes `lv` (`--yes`: LVM asks before removing an active volume).
pub fn lvremove(vg: &str, lv: &str) -> Vec<OsString> {
    vec!["lvremove".into(), "--yes".into(), lv_path(vg, lv)]
}

/// Makes `new_lv`, a thin snapshot of `origin`; `active` clears the
/// activation skip LVM gives a thin snapshot and activates it.
pub fn lvsnapshot(vg: &str, origin: &str, new_lv: &str, active: bool) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["lvcreate".into(), "--yes".into(), "--snapshot".into()];
    if active {
        args.extend(["--setactivationskip", "n", "--activate", "y"].map(OsString::from));
    }
    args.extend(["--name".into(), new_lv.into(), lv_path(vg, origin)]);
    args
}

/// Activates `lv` (whatever LVM's autoactivation settings say).
pub fn lvchange_activate(vg: &str, lv: &str) -> Vec<OsString> {
    vec![
        "lvchange".into(),
        "--activate".into(),
        "y".into(),
        lv_path(vg, lv),
    ]
}

/// Renames `from` to `to`.
pub fn lvrename(vg: &str, from: &str, to: &str) -> Vec<OsString> {
    vec!["lvrename".into(), vg.into(), from.into(), to.into()]
}

/// Makes the array a physical volume.
pub fn pvcreate(device: &Path) -> Vec<OsString> {
    vec!["pvcreate".into(), device.into()]
}

/// Makes volume group `name` on the physical volume.
pub fn vgcreate(name: &str, device: &Path) -> Vec<OsString> {
    vec!["vgcreate".into(), name.into(), device.into()]
}

/// Grows the physical volume to its device's size.
pub fn pvresize(device: &Path) -> Vec<OsString> {
    vec!["pvresize".into(), device.into()]
}

/// Removes volume group `name` (empty: without `--force` LVM asks before
/// removing volumes, and no one answers).
pub fn vgremove(name: &str) -> Vec<OsString> {
    vec!["vgremove".into(), name.into()]
}

/// Removes the physical volume label.
pub fn pvremove(device: &Path) -> Vec<OsString> {
    vec!["pvremove".into(), device.into()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::linux::md::argv::{line, md_device};

    #[test]
    fn the_commands() {
        let array = md_device(Path::new("/dev"), "tank");
        let lines = [
            line("lvm", &pvcreate(&array)),
            line("lvm", &vgcreate("tank", &array)),
            line("lvm", &vgs()),
            line("lvm", &pvs()),
            line("lvm", &pvresize(&array)),
            line("lvm", &vgremove("tank")),
            line("lvm", &pvremove(&array)),
            line("lvm", &lvs("tank")),
            line("lvm", &lvcreate_thin_pool("tank", 100 << 30, 100 << 20)),
            line("lvm", &lvcreate("tank", "db01", 10 << 30, true)),
            // 1 byte more than 1 GiB is 1025 MiB.
            line("lvm", &lvcreate("tank", "web", (1 << 30) + 1, false)),
            line("lvm", &lvextend("tank", "db01", 20 << 30)),
            line("lvm", &lvremove("tank", "db01.nightly")),
            line("lvm", &lvsnapshot("tank", "db01", "db01.nightly", false)),
            line("lvm", &lvsnapshot("tank", "db01.nightly", "db01", true)),
            line("lvm", &lvrename("tank", "db01", "db01_old")),
        ];
        insta::assert_snapshot!(lines.join("\n"));
    }
}

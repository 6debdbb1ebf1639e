//! The argument vectors of the LVM commands a pool's jobs run, all through
//! the one `lvm` binary (`lvm vgcreate ...`, as the `pvcreate` and
//! `vgcreate` links do): pure, from values already validated. Reports ask
//! for JSON with sizes in bytes, the form `parse` reads.

use std::ffi::OsString;
use std::path::Path;

/// What `vgs` is asked for: every field `parse::vgs` reads.
pub const VG_FIELDS: &str =
    "vg_name,vg_uuid,vg_size,vg_free,vg_extent_size,pv_count,lv_count,vg_attr";

/// What `pvs` is asked for: every field `parse::pvs` reads.
pub const PV_FIELDS: &str = "pv_name,vg_name,pv_uuid,pv_size,pv_free,pv_attr";

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
        ];
        insta::assert_snapshot!(lines.join("\n"));
    }
}

//! The argument vectors replication runs against a pool's thin pool: pure,
//! from names already validated. `thin_delta` reads the metadata through a metadata snapshot the pool holds (`-m`) while it
//! runs, as the kernel documents for reading live metadata.

use std::ffi::OsString;

use crate::domain::volume::THIN_POOL;

/// A device-mapper name as LVM makes it from a volume group and a logical
/// volume: each `-` doubled, the two joined by `-`.
pub fn dm_name(vg: &str, lv: &str) -> String {
    format!("{}-{}", vg.replace('-', "--"), lv.replace('-', "--"))
}

/// The thin pool's own device (`<vg>-<pool>-tpool`), which takes messages.
pub fn tpool(vg: &str) -> String {
    format!("{}-tpool", dm_name(vg, THIN_POOL))
}

/// The thin pool's metadata device (`/dev/mapper/<vg>-<pool>_tmeta`).
pub fn tmeta(vg: &str) -> OsString {
    format!("/dev/mapper/{}", dm_name(vg, &format!("{THIN_POOL}_tmeta"))).into()
}

/// `dmsetup message <tpool> 0 reserve_metadata_snap` (or
/// `release_metadata_snap`).
pub fn metadata_snap(vg: &str, reserve: bool) -> Vec<OsString> {
    vec![
        "message".into(),
        tpool(vg).into(),
        "0".into(),
        if reserve {
            "reserve_metadata_snap"
        } else {
            "release_metadata_snap"
        }
        .into(),
    ]
}

/// `thin_delta -m --snap1 <from> --snap2 <to> <tmeta>`: the blocks of thin
/// device `to` that differ from `from` (with `from` = `to`, every block it
/// maps, as `same`).
pub fn thin_delta(vg: &str, from: u32, to: u32) -> Vec<OsString> {
    vec![
        "-m".into(),
        "--snap1".into(),
        from.to_string().into(),
        "--snap2".into(),
        to.to_string().into(),
        tmeta(vg),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(args: Vec<OsString>) -> String {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn the_pool_s_devices_are_named_as_lvm_names_them() {
        assert_eq!(dm_name("tank", "baystack_thin"), "tank-baystack_thin");
        assert_eq!(dm_name("my-pool", "db-1"), "my--pool-db--1");
        insta::assert_snapshot!(
            [
                words(metadata_snap("tank", true)),
                words(metadata_snap("my-pool", false)),
                words(thin_delta("tank", 2, 3)),
                words(thin_delta("my-pool", 7, 7)),
            ]
            .join("\n"),
            @r"
        message tank-baystack_thin-tpool 0 reserve_metadata_snap
        message my--pool-baystack_thin-tpool 0 release_metadata_snap
        -m --snap1 2 --snap2 3 /dev/mapper/tank-baystack_thin_tmeta
        -m --snap1 7 --snap2 7 /dev/mapper/my--pool-baystack_thin_tmeta
        "
        );
    }
}

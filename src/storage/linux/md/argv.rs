//! The argument vectors of every command the md subsystem runs (`mdadm`,
//! `wipefs`, and the `lsblk` that checks a drive is still the one asked
//! for), built from values already validated: pure, no I/O, so the tests
//! can show each one as a person would type it.
//!
//! Drives are named by the path a job gives them on (their
//! `/dev/disk/by-id` link, or their kernel node where they have none),
//! arrays by `/dev/md/<pool>`: the names a person reading the job's log
//! recognises, and the ones that do not change across boots.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::domain::pool::{ArraySpec, RaidLevel, WriteHole};

/// `/dev/md/<name>` under the device root.
pub fn md_device(dev_root: &Path, name: &str) -> PathBuf {
    dev_root.join("md").join(name)
}

/// Whether a `/dev/disk/by-id` name may reach a path: one path component
/// of visible ASCII, not `.` nor `..`. Says why not.
pub fn check_by_id(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 255 {
        return Err(format!(
            "{name:?} is not a /dev/disk/by-id name (1 to 255 characters)"
        ));
    }
    if name == "." || name == ".." || name.contains('/') {
        return Err(format!(
            "{name:?} is not a /dev/disk/by-id name: it must be one path component"
        ));
    }
    if !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "{name:?} is not a /dev/disk/by-id name: udev names hold visible ASCII only"
        ));
    }
    Ok(())
}

/// How a new array keeps parity consistent after a crash, as mdadm is
/// told it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protection {
    /// `--bitmap=internal`: the dirty regions only are resynced.
    Bitmap,
    /// `--write-journal DEV`: a journal device (or the journal's own raid1).
    Journal(PathBuf),
    /// `--consistency-policy=ppl`: a partial parity log (raid5 only).
    Ppl,
}

/// The drives of a new array, by the paths the commands name them by, in
/// the spec's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateDevices {
    pub members: Vec<PathBuf>,
    pub spares: Vec<PathBuf>,
    /// The journal's one device, or its two mirrored ones.
    pub journal: Vec<PathBuf>,
}

/// What closes the write hole of `spec`'s array: a bitmap for mirrors and
/// for parity left open, else its journal (the mirror's `/dev/md/<name>-journal`
/// when it has two devices) or PPL.
pub fn protection(spec: &ArraySpec, dev_root: &Path, devices: &CreateDevices) -> Protection {
    match spec.write_hole {
        WriteHole::Open => Protection::Bitmap,
        WriteHole::Ppl => Protection::Ppl,
        WriteHole::Journal => match spec.journal_mirror() {
            Some(mirror) => Protection::Journal(md_device(dev_root, &mirror)),
            None => Protection::Journal(devices.journal.first().cloned().unwrap_or_default()),
        },
    }
}

/// `mdadm --create` for the journal's own raid1 `<name>-journal`, when the
/// spec has a mirrored journal.
pub fn create_journal_mirror(
    spec: &ArraySpec,
    dev_root: &Path,
    devices: &CreateDevices,
) -> Option<Vec<OsString>> {
    let mirror = spec.journal_mirror()?;
    Some(create_args(
        &md_device(dev_root, &mirror),
        &mirror,
        RaidLevel::Raid1,
        None,
        &Protection::Bitmap,
        &devices.journal,
        &[],
    ))
}

/// `mdadm --create` for the pool's array itself.
pub fn create(spec: &ArraySpec, dev_root: &Path, devices: &CreateDevices) -> Vec<OsString> {
    let chunk = (spec.level != RaidLevel::Raid1).then_some(spec.chunk_kib);
    create_args(
        &md_device(dev_root, &spec.name),
        &spec.name,
        spec.level,
        chunk,
        &protection(spec, dev_root, devices),
        &devices.members,
        &devices.spares,
    )
}

fn create_args(
    device: &Path,
    name: &str,
    level: RaidLevel,
    chunk_kib: Option<u32>,
    protection: &Protection,
    members: &[PathBuf],
    spares: &[PathBuf],
) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec!["--create".into(), device.into()];
    a.push("--run".into());
    a.push("--metadata=1.2".into());
    a.push(format!("--name={name}").into());
    a.push(format!("--level={}", level.as_str()).into());
    a.push(format!("--raid-devices={}", members.len()).into());
    if let Some(chunk) = chunk_kib {
        a.push(format!("--chunk={chunk}").into());
    }
    match protection {
        Protection::Bitmap => a.push("--bitmap=internal".into()),
        Protection::Ppl => a.push("--consistency-policy=ppl".into()),
        Protection::Journal(dev) => {
            a.push("--write-journal".into());
            a.push(dev.into());
        }
    }
    if !spares.is_empty() {
        a.push(format!("--spare-devices={}", spares.len()).into());
    }
    // mdadm takes the members in slot order, then the spares.
    a.extend(members.iter().chain(spares).map(|p| p.into()));
    a
}

/// `mdadm --detail --export DEV`: the array's UUID and names.
pub fn detail_export(device: &Path) -> Vec<OsString> {
    vec!["--detail".into(), "--export".into(), device.into()]
}

/// `mdadm --manage ARRAY --OP DEV`.
fn manage(array: &Path, op: &str, device: &OsString) -> Vec<OsString> {
    vec![
        "--manage".into(),
        array.into(),
        format!("--{op}").into(),
        device.clone(),
    ]
}

/// Adds a drive as a spare (or, to a degraded array, as the member md
/// rebuilds onto).
pub fn add(array: &Path, device: &Path) -> Vec<OsString> {
    manage(array, "add", &device.into())
}

/// Marks a member faulty. `device` is a path, or a member's kernel name
/// (`sdb`), which mdadm looks up in the array's sysfs directory: the form
/// for a drive whose node has gone.
pub fn fail(array: &Path, device: &OsString) -> Vec<OsString> {
    manage(array, "fail", device)
}

/// Takes a faulty member or a spare out; `device` as for [`fail`].
pub fn remove(array: &Path, device: &OsString) -> Vec<OsString> {
    manage(array, "remove", device)
}

/// Rebuilds `old`'s slot onto `new` (already a spare in the array) while
/// `old` stays in.
pub fn replace(array: &Path, old: &Path, new: &Path) -> Vec<OsString> {
    vec![
        "--manage".into(),
        array.into(),
        "--replace".into(),
        old.into(),
        "--with".into(),
        new.into(),
    ]
}

/// Reshapes the array to `raid_devices` slots.
pub fn grow(array: &Path, raid_devices: u32) -> Vec<OsString> {
    vec![
        "--grow".into(),
        array.into(),
        format!("--raid-devices={raid_devices}").into(),
    ]
}

/// `blkdiscard --zeroout`: zeroes over a range of a device (the kernel
/// writes them itself where the device has no command for it).
pub fn zero_range(device: &Path, offset: u64, length: u64) -> Vec<OsString> {
    vec![
        "--zeroout".into(),
        "--offset".into(),
        offset.to_string().into(),
        "--length".into(),
        length.to_string().into(),
        device.into(),
    ]
}

/// `dd` reading one 512-byte sector past the page cache.
pub fn read_sector(device: &Path, lba: u64) -> Vec<OsString> {
    let mut input = OsString::from("if=");
    input.push(device);
    vec![
        input,
        "of=/dev/null".into(),
        "bs=512".into(),
        format!("skip={lba}").into(),
        "count=1".into(),
        "iflag=direct".into(),
        "status=none".into(),
    ]
}

pub fn stop(array: &Path) -> Vec<OsString> {
    vec!["--stop".into(), array.into()]
}

pub fn zero_superblock(device: &Path) -> Vec<OsString> {
    vec!["--zero-superblock".into(), device.into()]
}

/// Assembles the array of this UUID from the devices mdadm's configuration
/// lets it scan; it starts only with every member it had last time (no
/// `--run`).
pub fn assemble(array: &Path, uuid: &str) -> Vec<OsString> {
    vec![
        "--assemble".into(),
        array.into(),
        format!("--uuid={uuid}").into(),
    ]
}

/// `wipefs --no-act --json DEV`: the signatures, changing nothing.
pub fn signatures(device: &Path) -> Vec<OsString> {
    vec!["--no-act".into(), "--json".into(), device.into()]
}

/// `wipefs --all DEV`: erases every signature wipefs knows.
pub fn wipe(device: &Path) -> Vec<OsString> {
    vec!["--all".into(), device.into()]
}

/// `lsblk -J -O -b DEV`: one disk, to check it is the drive asked for.
pub fn identify(node: &Path) -> Vec<OsString> {
    vec!["-J".into(), "-O".into(), "-b".into(), node.into()]
}

/// A command as a person would type it: `mdadm --stop /dev/md/tank`, an
/// argument with blanks in it quoted (`--table '0 8 linear 9:1 0'`).
pub fn line(program: &str, args: &[OsString]) -> String {
    std::iter::once(program.to_string())
        .chain(args.iter().map(|a| {
            let a = a.to_string_lossy();
            if a.contains(char::is_whitespace) {
                format!("'{a}'")
            } else {
                a.into_owned()
            }
        }))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::pool::{DEFAULT_CHUNK_KIB, DriveRef};

    fn dev() -> &'static Path {
        Path::new("/dev")
    }

    fn drive(n: u32) -> DriveRef {
        DriveRef {
            ident: format!("wwn:0x5000c500a000000{n}"),
            serial: format!("ZA1{n}"),
            by_id: Some(format!("ata-ST4000NM0035_ZA1{n}")),
            dev_name: Some(format!("sd{}", (b'a' + n as u8) as char)),
        }
    }

    fn path(d: &DriveRef) -> PathBuf {
        dev().join("disk/by-id").join(d.by_id.as_deref().unwrap())
    }

    fn spec(level: RaidLevel, members: u32, spares: u32) -> ArraySpec {
        ArraySpec {
            name: "tank".into(),
            level,
            members: (1..=members).map(drive).collect(),
            spares: (members + 1..=members + spares).map(drive).collect(),
            write_hole: WriteHole::Open,
            journal: Vec::new(),
            chunk_kib: DEFAULT_CHUNK_KIB,
        }
    }

    fn devices(spec: &ArraySpec) -> CreateDevices {
        CreateDevices {
            members: spec.members.iter().map(path).collect(),
            spares: spec.spares.iter().map(path).collect(),
            journal: spec.journal.iter().map(path).collect(),
        }
    }

    /// The create commands of `spec`, one line each, in the order run.
    fn creation(spec: &ArraySpec) -> String {
        let d = devices(spec);
        create_journal_mirror(spec, dev(), &d)
            .into_iter()
            .chain([create(spec, dev(), &d)])
            .map(|a| line("mdadm", &a))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn create_raid1() {
        insta::assert_snapshot!(creation(&spec(RaidLevel::Raid1, 2, 0)));
    }

    #[test]
    fn create_raid5_with_a_journal_device() {
        let mut s = spec(RaidLevel::Raid5, 3, 0);
        s.write_hole = WriteHole::Journal;
        s.journal = vec![drive(7)];
        insta::assert_snapshot!(creation(&s));
    }

    #[test]
    fn create_raid5_with_a_mirrored_journal() {
        let mut s = spec(RaidLevel::Raid5, 4, 0);
        s.write_hole = WriteHole::Journal;
        s.journal = vec![drive(7), drive(8)];
        insta::assert_snapshot!(creation(&s));
    }

    #[test]
    fn create_raid5_with_ppl() {
        let mut s = spec(RaidLevel::Raid5, 3, 0);
        s.write_hole = WriteHole::Ppl;
        s.chunk_kib = 64;
        insta::assert_snapshot!(creation(&s));
    }

    #[test]
    fn create_raid6_with_spares() {
        insta::assert_snapshot!(creation(&spec(RaidLevel::Raid6, 6, 2)));
    }

    #[test]
    fn create_raid10() {
        insta::assert_snapshot!(creation(&spec(RaidLevel::Raid10, 4, 0)));
    }

    #[test]
    fn the_other_commands() {
        let array = md_device(dev(), "tank");
        let (a, b) = (path(&drive(1)), path(&drive(5)));
        let lines = [
            line("mdadm", &add(&array, &b)),
            line("mdadm", &fail(&array, &a.clone().into())),
            line("mdadm", &remove(&array, &a.clone().into())),
            line("mdadm", &remove(&array, &"sdb".into())),
            line("mdadm", &replace(&array, &a, &b)),
            line("mdadm", &grow(&array, 5)),
            line("mdadm", &stop(&array)),
            line("mdadm", &zero_superblock(&a)),
            line(
                "mdadm",
                &assemble(&array, "795ed2e1:9b3f4485:b4c8ac4a:9f1386f2"),
            ),
            line("mdadm", &detail_export(&array)),
            line("wipefs", &signatures(&a)),
            line("wipefs", &wipe(&a)),
            line("lsblk", &identify(&dev().join("sdb"))),
        ];
        insta::assert_snapshot!(lines.join("\n"));
    }

    #[test]
    fn by_id_names_are_one_component() {
        for good in [
            "ata-ST4000NM0035-1V4107_ZC1A2B3C",
            "wwn-0x5000c500a1b2c3d4",
            "nvme-eui.0025388b71b0a1c2",
            "scsi-SATA_Samsung_SSD_860_S3Z2NB0K123456A",
        ] {
            assert_eq!(check_by_id(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../sda",
            "a/b",
            "ata-X Y",
            "ata-\u{202e}x",
            "a\0b",
        ] {
            assert!(check_by_id(bad).is_err(), "{bad:?}");
        }
        assert!(check_by_id(&"x".repeat(256)).is_err());
    }

    #[test]
    fn zeroes_and_a_sector_read_are_whole_argument_lists() {
        let dev = Path::new("/dev/disk/by-id/scsi-35000c500d0c30003");
        assert_eq!(
            line("blkdiscard", &zero_range(dev, 1 << 20, 4 << 20)),
            "blkdiscard --zeroout --offset 1048576 --length 4194304 /dev/disk/by-id/scsi-35000c500d0c30003"
        );
        assert_eq!(
            line("dd", &read_sector(dev, 12345)),
            "dd if=/dev/disk/by-id/scsi-35000c500d0c30003 of=/dev/null bs=512 skip=12345 count=1 iflag=direct status=none"
        );
    }
}

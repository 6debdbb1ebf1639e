//! The md subsystem on a machine made of the lab's captures, with stand-in
//! tools (`storage::linux::fake`): what `arrays()` reads, what each change
//! runs, and that a change asked for again runs nothing and says so.

use std::os::unix::fs::PermissionsExt as _;

use super::*;
use crate::domain::pool::DEFAULT_CHUNK_KIB;
use crate::storage::NoLog;
use crate::storage::linux::fake::{Kept, Machine, fixture};

/// The lab's states with the kernel name of the array its sysfs capture
/// is of (tests/fixtures/sysfs-md/README.md).
const STATES: &[(&str, &str)] = &[
    ("r1-clean", "md127"),
    ("r1-degraded", "md127"),
    ("r1-recovering", "md127"),
    ("r1-replaced", "md127"),
    ("r1-replacing", "md127"),
    ("r1-spare", "md127"),
    ("r10-clean", "md126"),
    ("r5-building", "md127"),
    ("r5-check-mismatch", "md127"),
    ("r5-checking", "md127"),
    ("r5-clean", "md127"),
    ("r5-degraded", "md127"),
    ("r5-grown", "md127"),
    ("r5-inactive", "md127"),
    ("r5-journal", "md126"),
    ("r5-ppl", "md127"),
    ("r5-repairing", "md127"),
    ("r5-reshaping", "md127"),
    ("r5-resyncing", "md127"),
    ("r6-clean", "md127"),
];

/// One line per array, as a person would check it.
fn summary(a: &Array) -> String {
    let members: Vec<String> = a
        .members
        .iter()
        .map(|m| {
            let slot = m.slot.map_or(String::new(), |s| format!(" slot {s}"));
            let number = m.number.map_or(String::new(), |n| format!(" [{n}]"));
            format!("{} {}{slot}{number}", m.device, m.role.as_str())
        })
        .collect();
    format!(
        "{} /dev/md/{} {} {} {} devices={} degraded={} policy={} sync={}: {}",
        a.name.as_deref().unwrap_or("?"),
        a.md_name.as_deref().unwrap_or("?"),
        a.uuid.as_deref().unwrap_or("no-uuid"),
        a.level_text.as_deref().unwrap_or("?"),
        a.state.map_or("?", |s| s.as_str()),
        a.raid_devices.map_or("?".into(), |n| n.to_string()),
        a.degraded_count.map_or("?".into(), |n| n.to_string()),
        a.consistency_policy.map_or("?", |p| p.as_str()),
        a.sync_action.map_or("?", |s| s.as_str()),
        members.join(", ")
    )
}

#[test]
fn arrays_from_the_lab_s_captures() {
    let mut out = Vec::new();
    for (state, kname) in STATES {
        let m = Machine::new();
        m.mdstat(&format!("mdstat/lab-{state}.txt"));
        m.array(state, kname);
        let mut log = Kept::default();
        let arrays = m.backend.arrays(&mut log).unwrap();
        out.push(format!("== {state}"));
        out.extend(arrays.iter().map(summary));
        // sysfs gives no UUID in these captures and there is no link:
        // mdadm was asked, once per array listed.
        assert_eq!(log.0.len(), arrays.len(), "{state}");
        let ours = arrays
            .iter()
            .find(|a| a.name.as_deref() == Some(*kname))
            .unwrap_or_else(|| panic!("{state}: no {kname}"));
        assert!(ours.uuid.is_some() && ours.md_name.is_some(), "{state}");
        assert!(ours.state.is_some(), "{state}: read from sysfs");
    }
    insta::assert_snapshot!(out.join("\n"));
}

#[test]
fn a_link_and_a_sysfs_uuid_need_no_command() {
    let m = Machine::new();
    m.mdstat("mdstat/lab-r5-clean.txt");
    m.array("r5-clean", "md127");
    m.write(
        "sys/block/md127/md/uuid",
        "9fcf33cd-d4d3-7383-a856-a421f1c3e85f\n",
    );
    m.md_link("r5", "md127");
    let mut log = Kept::default();
    let arrays = m.backend.arrays(&mut log).unwrap();
    assert!(log.0.is_empty(), "{:?}", log.0);
    assert_eq!(
        arrays[0].uuid.as_deref(),
        Some("9fcf33cd:d4d37383:a856a421:f1c3e85f")
    );
    assert_eq!(arrays[0].md_name.as_deref(), Some("r5"));
    // Without md loaded there is no /proc/mdstat, and no array.
    std::fs::remove_file(m.path("proc/mdstat")).unwrap();
    assert_eq!(m.backend.arrays(&mut NoLog).unwrap(), []);
}

/// A running raid5 `r5` over loop3, loop4, loop5 (lab-r5-clean), with the
/// three drives.
fn running_r5() -> (Machine, Vec<DriveRef>) {
    let m = Machine::new();
    let drives = vec![
        m.drive("loop3", "LAB3"),
        m.drive("loop4", "LAB4"),
        m.drive("loop5", "LAB5"),
    ];
    m.mdstat("mdstat/lab-r5-clean.txt");
    m.array("r5-clean", "md127");
    m.md_link("r5", "md127");
    (m, drives)
}

fn spec(name: &str, level: RaidLevel, members: Vec<DriveRef>) -> ArraySpec {
    ArraySpec {
        name: name.into(),
        level,
        members,
        spares: Vec::new(),
        write_hole: WriteHole::Open,
        journal: Vec::new(),
        chunk_kib: DEFAULT_CHUNK_KIB,
    }
}

/// What `mdadm --create` does in the lab: the array runs, as
/// lab-r5-clean, with its link.
const CREATE_R5: &str = r#"
cp "$STATE/after-mdstat" "$ROOT/proc/mdstat"
mkdir -p "$ROOT/sys/block/md127"; cp -R "$STATE/after-md" "$ROOT/sys/block/md127/md"
: > "$ROOT/dev/md127"; ln -sf ../md127 "$ROOT/dev/md/r5"
cp "$STATE/after-export" "$STATE/export-md127.txt"
"#;

fn prepare_create_r5(m: &Machine) {
    m.write("state/after-mdstat", &fixture("mdstat/lab-r5-clean.txt"));
    m.write(
        "state/after-export",
        &fixture("mdadm/lab-detail-export-r5-clean.txt"),
    );
    let status = std::process::Command::new("cp")
        .arg("-R")
        .arg(crate::storage::linux::fake::fixtures().join("sysfs-md/lab-r5-clean/md"))
        .arg(m.path("state/after-md"))
        .status()
        .unwrap();
    assert!(status.success());
    m.on("mdadm", "create", CREATE_R5);
}

#[test]
fn create_runs_once_and_then_says_it_exists() {
    let m = Machine::new();
    let drives = vec![
        m.drive("loop3", "LAB3"),
        m.drive("loop4", "LAB4"),
        m.drive("loop5", "LAB5"),
    ];
    prepare_create_r5(&m);
    let spec = spec("r5", RaidLevel::Raid5, drives);
    let uuid = m.backend.create_array(&spec, &mut NoLog).unwrap();
    assert_eq!(uuid, "9fcf33cd:d4d37383:a856a421:f1c3e85f");
    let first = m.calls();
    let again = m.backend.create_array(&spec, &mut NoLog).unwrap();
    assert_eq!(again, uuid);
    let second = m.calls();
    assert!(!second.contains("--create"), "{second}");
    insta::assert_snapshot!(format!("-- first\n{first}-- again\n{second}"));
}

#[test]
fn create_with_a_mirrored_journal_makes_the_mirror_first() {
    let m = Machine::new();
    let members = vec![
        m.drive("loop3", "LAB3"),
        m.drive("loop4", "LAB4"),
        m.drive("loop5", "LAB5"),
    ];
    let journal = vec![m.drive("loop6", "LAB6"), m.drive("loop7", "LAB7")];
    prepare_create_r5(&m);
    // The mirror only makes its link; the array is then as lab-r5-clean.
    m.on(
        "mdadm",
        "create",
        &format!(
            "case \"$2\" in\n*-journal) : > \"$ROOT/dev/md125\"; ln -sf ../md125 \"$ROOT/dev/md/r5-journal\" ;;\n*) {CREATE_R5} ;;\nesac\n"
        ),
    );
    let mut s = spec("r5", RaidLevel::Raid5, members);
    s.write_hole = WriteHole::Journal;
    s.journal = journal;
    let uuid = m.backend.create_array(&s, &mut NoLog).unwrap();
    assert_eq!(uuid, "9fcf33cd:d4d37383:a856a421:f1c3e85f");
    let calls = m.calls();
    let creates: Vec<&str> = calls.lines().filter(|l| l.contains("--create")).collect();
    insta::assert_snapshot!(creates.join("\n"));
}

#[test]
fn a_drive_swapped_since_the_page_is_gone_and_nothing_is_created() {
    let m = Machine::new();
    let drives = vec![
        m.drive("loop3", "LAB3"),
        m.drive("loop4", "LAB4"),
        m.drive("loop5", "LAB5"),
    ];
    prepare_create_r5(&m);
    // Another disk now sits where loop4's link leads.
    m.lsblk_says("loop4", "OTHER9");
    let e = m
        .backend
        .create_array(&spec("r5", RaidLevel::Raid5, drives.clone()), &mut NoLog)
        .unwrap_err();
    assert!(matches!(e, BackendError::Gone(_)), "{e:?}");
    let words = e.to_string();
    assert!(
        words.contains("pool r5") && words.contains("LAB4 (loop4)"),
        "{words}"
    );
    assert!(words.contains("OTHER9"), "{words}");
    // A link that went away: gone too.
    m.drive("loop4", "LAB4");
    std::fs::remove_file(m.path("dev/disk/by-id/ata-LAB_DISK_LAB5")).unwrap();
    let e = m
        .backend
        .create_array(&spec("r5", RaidLevel::Raid5, drives), &mut NoLog)
        .unwrap_err();
    assert!(matches!(e, BackendError::Gone(_)), "{e:?}");
    assert!(e.to_string().contains("does not exist"), "{e}");
    assert!(!m.calls().contains("--create"));
}

#[test]
fn a_drive_with_a_signature_is_refused_until_wiped() {
    let m = Machine::new();
    let drives = vec![
        m.drive("loop3", "LAB3"),
        m.drive("loop4", "LAB4"),
        m.drive("loop5", "LAB5"),
    ];
    prepare_create_r5(&m);
    m.write(
        "state/wipefs-loop5.json",
        &fixture("mdadm/lab-wipefs-member.json"),
    );
    let e = m
        .backend
        .create_array(&spec("r5", RaidLevel::Raid5, drives.clone()), &mut NoLog)
        .unwrap_err();
    assert!(matches!(e, BackendError::Refused(_)), "{e:?}");
    assert!(e.to_string().contains("linux_raid_member"), "{e}");
    assert!(!m.calls().contains("--create"));

    assert_eq!(
        m.backend.signatures(&drives[2], &mut NoLog).unwrap(),
        [
            "linux_raid_member at offset 0x1000 (label \"lab-main:tank\", UUID 795ed2e1-9b3f-4485-b4c8-ac4a9f1386f2)"
        ]
    );
    let said = m.backend.wipe(&drives[2], &mut NoLog).unwrap();
    assert!(said.contains("wiped"), "{said}");
    let said = m.backend.wipe(&drives[2], &mut NoLog).unwrap();
    assert!(said.contains("already blank"), "{said}");
    assert!(
        m.backend
            .signatures(&drives[2], &mut NoLog)
            .unwrap()
            .is_empty()
    );
    insta::assert_snapshot!(m.calls());
    m.backend
        .create_array(&spec("r5", RaidLevel::Raid5, drives), &mut NoLog)
        .unwrap();
}

#[test]
fn a_spec_md_cannot_build_is_refused_before_anything_runs() {
    let m = Machine::new();
    let d: Vec<DriveRef> = (0..4)
        .map(|i| m.drive(&format!("sd{}", (b'b' + i) as char), &format!("S{i}")))
        .collect();
    let mut cases = Vec::new();
    let mut s = spec("tank", RaidLevel::Raid6, d[..3].to_vec());
    cases.push(("at least 4", s.clone()));
    s = spec("tank", RaidLevel::Raid6, d.clone());
    s.write_hole = WriteHole::Ppl;
    cases.push(("raid5 only", s.clone()));
    s = spec("tank", RaidLevel::Raid1, d[..2].to_vec());
    s.write_hole = WriteHole::Journal;
    s.journal = vec![d[2].clone()];
    cases.push(("no write hole", s.clone()));
    s = spec("tank", RaidLevel::Raid5, d[..3].to_vec());
    s.chunk_kib = 100;
    cases.push(("power of two", s.clone()));
    s = spec(
        "tank",
        RaidLevel::Raid5,
        vec![d[0].clone(), d[1].clone(), d[0].clone()],
    );
    cases.push(("listed twice", s.clone()));
    s = spec("Tank/../x", RaidLevel::Raid1, d[..2].to_vec());
    cases.push(("lowercase", s));
    for (says, spec) in cases {
        let e = m.backend.create_array(&spec, &mut NoLog).unwrap_err();
        assert!(matches!(e, BackendError::Refused(_)), "{says}: {e:?}");
        assert!(e.to_string().contains(says), "{says}: {e}");
    }
    assert_eq!(m.calls(), "");
}

#[test]
fn another_array_under_the_pool_s_name_is_not_taken_for_it() {
    let (m, drives) = running_r5();
    let other = m.drive("loop6", "LAB6");
    let e = m
        .backend
        .create_array(
            &spec(
                "r5",
                RaidLevel::Raid5,
                vec![drives[0].clone(), drives[1].clone(), other],
            ),
            &mut NoLog,
        )
        .unwrap_err();
    assert!(matches!(e, BackendError::Refused(_)), "{e:?}");
    assert!(e.to_string().contains("already runs"), "{e}");
    // Its drives are taken.
    let e = m
        .backend
        .create_array(
            &spec("other", RaidLevel::Raid1, drives[..2].to_vec()),
            &mut NoLog,
        )
        .unwrap_err();
    assert!(matches!(e, BackendError::Busy(_)), "{e:?}");
    assert!(e.to_string().contains("md127 (/dev/md/r5)"), "{e}");
}

#[test]
fn members_come_and_go_once() {
    let (m, drives) = running_r5();
    let new = m.drive("loop6", "LAB6");
    let said = m.backend.add_member("r5", &drives[0], &mut NoLog).unwrap();
    assert!(
        said.contains("already in the array, as its active member"),
        "{said}"
    );
    let said = m.backend.add_member("r5", &new, &mut NoLog).unwrap();
    assert!(said.contains("as a spare"), "{said}");
    // Not in the array: failing it or taking it out is already so.
    let stranger = m.drive("loop9", "LAB9");
    let said = m.backend.fail_member("r5", &stranger, &mut NoLog).unwrap();
    assert!(said.contains("already out of service"), "{said}");
    let said = m
        .backend
        .remove_member("r5", &stranger, &mut NoLog)
        .unwrap();
    assert!(said.contains("already out"), "{said}");
    // An active member is failed before it is taken out.
    let e = m
        .backend
        .remove_member("r5", &drives[1], &mut NoLog)
        .unwrap_err();
    assert!(matches!(e, BackendError::Refused(_)), "{e:?}");
    let said = m.backend.fail_member("r5", &drives[1], &mut NoLog).unwrap();
    assert!(said.contains("marked faulty"), "{said}");
    // The stand-in's array does not change, so loop6 is still no spare:
    // the replace adds it first.
    let said = m
        .backend
        .replace_member("r5", &drives[2], &new, &mut NoLog)
        .unwrap();
    assert!(said.contains("being rebuilt onto"), "{said}");
    let said = m.backend.grow("r5", 3, &mut NoLog).unwrap();
    assert!(said.contains("already has 3 devices"), "{said}");
    let e = m.backend.grow("r5", 4, &mut NoLog).unwrap_err();
    assert!(e.to_string().contains("needs 1 spares"), "{e}");
    insta::assert_snapshot!(m.calls());
}

#[test]
fn a_degraded_array_keeps_its_last_redundancy() {
    let m = Machine::new();
    let d = [m.drive("loop3", "LAB3"), m.drive("loop5", "LAB5")];
    m.mdstat("mdstat/lab-r5-degraded.txt");
    m.array("r5-degraded", "md127");
    m.md_link("r5", "md127");
    let e = m.backend.fail_member("r5", &d[0], &mut NoLog).unwrap_err();
    assert!(matches!(e, BackendError::Refused(_)), "{e:?}");
    assert!(e.to_string().contains("more than raid5 survives"), "{e}");
    let spare = m.drive("loop7", "LAB7");
    let e = m
        .backend
        .replace_member("r5", &d[0], &spare, &mut NoLog)
        .unwrap_err();
    assert!(e.to_string().contains("degraded"), "{e}");
    assert!(!m.calls().contains("--manage"));
}

#[test]
fn a_pulled_member_is_named_by_the_kernel_name_md_kept() {
    let (m, drives) = running_r5();
    // loop4 is pulled: its link and node are gone, md still lists it.
    std::fs::remove_file(m.path("dev/disk/by-id/ata-LAB_DISK_LAB4")).unwrap();
    std::fs::remove_file(m.path("dev/loop4")).unwrap();
    m.backend.fail_member("r5", &drives[1], &mut NoLog).unwrap();
    assert_eq!(
        m.calls().lines().last(),
        Some("mdadm --manage ROOT/dev/md/r5 --fail loop4")
    );
}

#[test]
fn a_member_gone_with_no_name_left_is_taken_out_as_detached() {
    let (m, drives) = running_r5();
    // loop4 is pulled, and the console no longer knows its kernel name.
    std::fs::remove_file(m.path("dev/disk/by-id/ata-LAB_DISK_LAB4")).unwrap();
    std::fs::remove_file(m.path("dev/loop4")).unwrap();
    let gone = DriveRef {
        dev_name: None,
        ..drives[1].clone()
    };
    let said = m.backend.fail_member("r5", &gone, &mut NoLog).unwrap();
    assert!(said.contains("out of service by itself"), "{said}");
    assert!(!m.calls().contains("--fail"), "{}", m.calls());
    let said = m.backend.remove_member("r5", &gone, &mut NoLog).unwrap();
    assert!(said.contains("that are gone were taken out"), "{said}");
    assert_eq!(
        m.calls().lines().last(),
        Some("mdadm --manage ROOT/dev/md/r5 --remove detached")
    );
}

#[test]
fn stop_once_then_already_stopped() {
    let (m, _) = running_r5();
    m.on(
        "mdadm",
        "stop",
        "cp \"$STATE/stopped\" \"$ROOT/proc/mdstat\"; rm -f \"$ROOT/dev/md/r5\"\n",
    );
    m.write("state/stopped", &fixture("mdstat/lab-stopped.txt"));
    let said = m.backend.stop_array("r5", &mut NoLog).unwrap();
    assert!(said.contains("stopped /dev/md/r5"), "{said}");
    let said = m.backend.stop_array("r5", &mut NoLog).unwrap();
    assert!(said.contains("already stopped"), "{said}");
    insta::assert_snapshot!(m.calls());
}

#[test]
fn a_superblock_is_zeroed_once_and_a_member_s_is_not() {
    let (m, drives) = running_r5();
    let e = m
        .backend
        .zero_superblock(&drives[0], &mut NoLog)
        .unwrap_err();
    assert!(matches!(e, BackendError::Busy(_)), "{e:?}");
    let spare = m.drive("loop6", "LAB6");
    m.write("state/superblock-loop6", "");
    let said = m.backend.zero_superblock(&spare, &mut NoLog).unwrap();
    assert!(said.contains("erased"), "{said}");
    std::fs::remove_file(m.path("state/superblock-loop6")).unwrap();
    let said = m.backend.zero_superblock(&spare, &mut NoLog).unwrap();
    assert!(said.contains("already has no md superblock"), "{said}");
}

const CONF: &str = "\
# mdadm.conf
HOMEHOST <system>
MAILADDR root
ARRAY /dev/md/r6 metadata=1.2 name=lab-main:r6 UUID=48f52c14:392488e3:fe903e2a:635459d2
";

#[test]
fn persisting_and_forgetting_edit_mdadm_conf_once() {
    let (m, _) = running_r5();
    m.write("etc/mdadm.conf", CONF);
    std::fs::set_permissions(
        m.path("etc/mdadm.conf"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    let uuid = "9fcf33cd:d4d37383:a856a421:f1c3e85f";
    let said = m.backend.persist_array("r5", uuid, &mut NoLog).unwrap();
    assert!(said.starts_with("recorded pool r5's array"), "{said}");
    assert_eq!(
        m.read("etc/mdadm.conf"),
        format!("{CONF}ARRAY /dev/md/r5 metadata=1.2 name=lab-main:r5 UUID={uuid}\n")
    );
    let said = m.backend.persist_array("r5", uuid, &mut NoLog).unwrap();
    assert!(said.contains("already recorded"), "{said}");
    let mode = std::fs::metadata(m.path("etc/mdadm.conf"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o640);

    // Another array answers to /dev/md/r5: it is not recorded as this one.
    let e = m
        .backend
        .persist_array("r5", "00000000:11111111:22222222:33333333", &mut NoLog)
        .unwrap_err();
    assert!(matches!(e, BackendError::Refused(_)), "{e:?}");

    let said = m.backend.forget_array("r5", uuid, &mut NoLog).unwrap();
    assert!(said.contains("took pool r5's array out"), "{said}");
    assert_eq!(m.read("etc/mdadm.conf"), CONF);
    let said = m.backend.forget_array("r5", uuid, &mut NoLog).unwrap();
    assert!(said.contains("already not recorded"), "{said}");
    let mode = std::fs::metadata(m.path("etc/mdadm.conf"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o640);
}

#[test]
fn assembling_a_running_array_is_already_so() {
    let (m, _) = running_r5();
    let uuid = "9fcf33cd:d4d37383:a856a421:f1c3e85f";
    let said = m.backend.assemble("r5", uuid, &mut NoLog).unwrap();
    assert!(said.contains("already running"), "{said}");
    m.calls();
    let said = m
        .backend
        .assemble("tank", "795ed2e1:9b3f4485:b4c8ac4a:9f1386f2", &mut NoLog)
        .unwrap();
    assert!(said.contains("assembled /dev/md/tank"), "{said}");
    assert_eq!(
        m.calls().lines().last(),
        Some("mdadm --assemble ROOT/dev/md/tank --uuid=795ed2e1:9b3f4485:b4c8ac4a:9f1386f2")
    );
}

#[test]
fn the_stripe_cache_is_written_once() {
    let (m, _) = running_r5();
    let said = m.backend.set_stripe_cache("r5", 4096, &mut NoLog).unwrap();
    assert!(
        said.contains("set to 4096 pages per member (it was 256)"),
        "{said}"
    );
    assert_eq!(m.read("sys/block/md127/md/stripe_cache_size"), "4096");
    let said = m.backend.set_stripe_cache("r5", 4096, &mut NoLog).unwrap();
    assert!(said.contains("already 4096"), "{said}");
    let e = m
        .backend
        .set_stripe_cache("r5", 16, &mut NoLog)
        .unwrap_err();
    assert!(matches!(e, BackendError::Refused(_)), "{e:?}");
    let e = m
        .backend
        .set_stripe_cache("nope", 256, &mut NoLog)
        .unwrap_err();
    assert!(matches!(e, BackendError::Gone(_)), "{e:?}");
}

#[test]
fn a_check_over_a_window_then_idle() {
    let (m, _) = running_r5();
    let md = "sys/block/md127/md";
    // 1024 sectors a chunk (512 KiB): a window must end on one.
    let bad = SyncWindow {
        min_sectors: 0,
        max_sectors: Some(1000),
    };
    let e = m
        .backend
        .sync_action("r5", SyncAction::Check, Some(bad), &mut NoLog)
        .unwrap_err();
    assert!(e.to_string().contains("whole chunk"), "{e}");
    let window = SyncWindow {
        min_sectors: 2048,
        max_sectors: Some(4096),
    };
    let said = m
        .backend
        .sync_action("r5", SyncAction::Check, Some(window), &mut NoLog)
        .unwrap();
    assert!(
        said.contains("a check started, from sector 2048 to 4096"),
        "{said}"
    );
    assert_eq!(
        (
            m.read(&format!("{md}/sync_min")),
            m.read(&format!("{md}/sync_max")),
            m.read(&format!("{md}/sync_action"))
        ),
        ("2048".to_string(), "4096".to_string(), "check".to_string())
    );
    let said = m
        .backend
        .sync_action("r5", SyncAction::Check, None, &mut NoLog)
        .unwrap();
    assert!(said.contains("already running"), "{said}");
    let e = m
        .backend
        .sync_action("r5", SyncAction::Repair, None, &mut NoLog)
        .unwrap_err();
    assert!(matches!(e, BackendError::Busy(_)), "{e:?}");
    let said = m
        .backend
        .sync_action("r5", SyncAction::Idle, None, &mut NoLog)
        .unwrap();
    assert!(said.contains("the check was stopped"), "{said}");
    assert_eq!(m.read(&format!("{md}/sync_action")), "idle");
    let said = m
        .backend
        .sync_action("r5", SyncAction::Idle, None, &mut NoLog)
        .unwrap();
    assert!(said.contains("no check or repair is running"), "{said}");
    let e = m
        .backend
        .sync_action("r5", SyncAction::Resync, None, &mut NoLog)
        .unwrap_err();
    assert!(matches!(e, BackendError::Refused(_)), "{e:?}");
    // A sysfs file that leads out of the tree is not written.
    let victim = m.path("victim");
    std::fs::write(&victim, "untouched").unwrap();
    std::fs::remove_file(m.path(&format!("{md}/sync_min"))).unwrap();
    std::os::unix::fs::symlink(&victim, m.path(&format!("{md}/sync_min"))).unwrap();
    let e = m
        .backend
        .sync_action("r5", SyncAction::Repair, None, &mut NoLog)
        .unwrap_err();
    assert!(matches!(e, BackendError::Failed(_)), "{e:?}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
}

#[test]
fn raid10_keeps_one_copy_of_each_block() {
    let member = |device: &str, slot| Member {
        device: device.into(),
        role: MemberRole::Active,
        slot: Some(slot),
        number: None,
        state: Vec::new(),
    };
    let mut a = Array::named(Some("md126".into()));
    a.level = Some(RaidLevel::Raid10);
    a.raid_devices = Some(4);
    a.members = vec![
        member("loop4", 0),
        member("loop5", 1),
        member("loop6", 2),
        member("loop7", 3),
    ];
    let m = a.members.clone();
    assert_eq!(failing_loses_data(&a, &m[0]), None);
    a.members[1].role = MemberRole::Faulty;
    a.members[1].slot = None;
    // Slot 1 gone: slot 0 holds the last copy of its blocks, slot 2 not.
    let why = failing_loses_data(&a, &m[0]).unwrap();
    assert!(why.contains("both copies"), "{why}");
    assert_eq!(failing_loses_data(&a, &m[2]), None);
    // A spare is no copy of anything.
    let spare = Member {
        role: MemberRole::Spare,
        slot: None,
        ..member("loop8", 0)
    };
    assert_eq!(failing_loses_data(&a, &spare), None);
}

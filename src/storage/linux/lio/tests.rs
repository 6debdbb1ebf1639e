//! LIO on a directory standing in for configfs (the `fake` machine's
//! `config/`): what an export, a change, a repair and an unexport leave
//! there and say; that a correct tree is not written to at all; the
//! lab's targetcli tree and `saveconfig.json` read right; the readers
//! survive spoiled input.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::plan::{self, Op};
use super::{read, saveconfig};
use crate::domain::target::{Access, Chap, Lio, Portal, Secret, TargetSpec};
use crate::storage::linux::fake::{Machine, fixture};
use crate::storage::linux::md::parse::mutation::{in_time, variants};
use crate::storage::{BackendError, NoLog, Targets};

const IQN: &str = "iqn.2024-01.lab.storlab:bay01.vol1";
const HOST1: &str = "iqn.1991-05.com.microsoft:win-host1";
const HOST2: &str = "iqn.1993-08.org.debian:01:4a3b2c1d0e";
const SECRET: &str = "verysecret123";
const MUTUAL: &str = "targetsecret99";
const NEW_SECRET: &str = "othersecret456";
const SERIAL: &str = "6705b8e6-f9a2-4c6e-8d11-3b2a1f0e9c47";

/// A machine with LIO loaded (its `dbroot` under the machine, with its
/// `pr` directory) and volume vol1's front device, dm-3, with no volatile
/// cache.
fn lab() -> Machine {
    let m = Machine::new();
    front(&m, "vol1", "dm-3", "write through");
    m.write(
        "config/target/dbroot",
        &format!("{}\n", m.path("var/target").display()),
    );
    std::fs::create_dir_all(m.path("var/target/pr")).unwrap();
    m
}

/// Front device `baystack-<volume>`: `/dev/mapper` link, node, and its
/// queue's `write_cache`.
fn front(m: &Machine, volume: &str, kname: &str, cache: &str) {
    m.write(&format!("dev/{kname}"), "");
    m.write(
        &format!("sys/block/{kname}/queue/write_cache"),
        &format!("{cache}\n"),
    );
    std::fs::create_dir_all(m.path("dev/mapper")).unwrap();
    std::os::unix::fs::symlink(
        format!("../{kname}"),
        m.path(&format!("dev/mapper/baystack-{volume}")),
    )
    .unwrap();
}

fn chap(user: &str, secret: &str) -> Option<Chap> {
    Some(Chap {
        user: user.into(),
        secret: Secret::new(secret),
    })
}

/// vol1 for HOST1, with CHAP and mutual CHAP.
fn spec() -> TargetSpec {
    TargetSpec {
        volume: "vol1".into(),
        iqn: IQN.into(),
        alias: "vol1".into(),
        backstore: "vol1".into(),
        device: "/dev/mapper/baystack-vol1".into(),
        serial: SERIAL.into(),
        unmap: true,
        portals: vec![Portal::all()],
        access: Access::Initiators(vec![HOST1.into()]),
        chap: chap("host1", SECRET),
        mutual_chap: chap("bay01", MUTUAL),
    }
}

fn apply(m: &Machine, spec: &TargetSpec) -> Vec<String> {
    let words = m.backend.apply_target(spec, &mut NoLog).unwrap();
    for w in &words {
        for s in [SECRET, MUTUAL, NEW_SECRET] {
            assert!(!w.contains(s), "a secret in the words: {w}");
        }
    }
    words
}

/// The tree under `config/target`: each file with its content (a secret
/// as `<secret>`), each link with where it leads (from the tree's root),
/// each empty directory; the machine's root written `ROOT`.
fn tree(m: &Machine) -> String {
    fn walk(dir: &Path, root: &Path, machine: &str, out: &mut Vec<String>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let kind = std::fs::symlink_metadata(&path).unwrap().file_type();
            if kind.is_symlink() {
                let to = std::fs::read_link(&path).unwrap();
                let to = to.strip_prefix(root).unwrap_or(&to).display().to_string();
                out.push(format!("{rel} -> {to}"));
            } else if kind.is_dir() {
                if std::fs::read_dir(&path).unwrap().next().is_none() {
                    out.push(format!("{rel}/"));
                }
                walk(&path, root, machine, out);
            } else {
                let text = std::fs::read_to_string(&path).unwrap();
                let secret = rel.rsplit('/').next().unwrap().starts_with("password");
                let shown = if secret && text != "NULL" {
                    "<secret>".to_string()
                } else {
                    text.trim_end().replace(machine, "ROOT")
                };
                out.push(format!("{rel} = {shown}"));
            }
        }
    }
    let root = m.path("config/target");
    let mut out = Vec::new();
    walk(&root, &root, &m.root.display().to_string(), &mut out);
    out.join("\n")
}

/// The words, then the tree.
fn shot(words: &[String], m: &Machine) -> String {
    format!("== words\n{}\n== tree\n{}\n", words.join("\n"), tree(m))
}

/// Every entry under `config/target`: its kind, content (or link), and
/// modification time.
fn state(m: &Machine) -> BTreeMap<PathBuf, (String, Vec<u8>, SystemTime)> {
    fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, (String, Vec<u8>, SystemTime)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let mtime = meta.modified().unwrap();
            let kind = meta.file_type();
            let entry = if kind.is_symlink() {
                let to = std::fs::read_link(&path).unwrap();
                (
                    "link".into(),
                    to.into_os_string().into_encoded_bytes(),
                    mtime,
                )
            } else if kind.is_dir() {
                walk(&path, out);
                ("dir".into(), Vec::new(), mtime)
            } else {
                ("file".into(), std::fs::read(&path).unwrap(), mtime)
            };
            out.insert(path, entry);
        }
    }
    let mut out = BTreeMap::new();
    walk(&m.path("config/target"), &mut out);
    out
}

/// What the planner makes of `spec` against the machine's tree now.
fn planned(m: &Machine, spec: &TargetSpec) -> Vec<Op> {
    let tree = read::read_tree(&m.path("config/target")).unwrap();
    let facts = m.backend.facts(spec, &tree.lio).unwrap();
    plan::apply(spec, &tree, &facts).unwrap().ops
}

#[test]
fn export_in_acl_mode_with_chap_and_mutual_chap() {
    let m = lab();
    let words = apply(&m, &spec());
    let acl = format!("config/target/iscsi/{IQN}/tpgt_1/acls/{HOST1}/auth");
    assert_eq!(m.read(&format!("{acl}/password")), SECRET);
    assert_eq!(m.read(&format!("{acl}/password_mutual")), MUTUAL);
    insta::assert_snapshot!(shot(&words, &m));
    let lio = m.backend.lio(&mut NoLog).unwrap();
    let t = &lio.targets[0];
    assert_eq!(
        (t.iqn.as_str(), t.enabled, t.open, t.authentication),
        (IQN, true, false, true)
    );
    assert_eq!(t.lun0.as_deref(), Some("iblock_0/vol1"));
    assert_eq!(t.acls[0].secret, Some(Secret::new(SECRET)));
    let b = &lio.backstores[0];
    assert_eq!(
        (b.device.as_deref(), b.serial.as_deref(), b.enabled, b.unmap),
        (Some("/dev/mapper/baystack-vol1"), Some(SERIAL), true, true)
    );
    // What LIO shows never carries a secret.
    let json = serde_json::to_string(&lio).unwrap();
    assert!(!json.contains(SECRET) && !json.contains(MUTUAL), "{json}");
}

#[test]
fn export_in_open_mode() {
    let m = lab();
    let open = TargetSpec {
        access: Access::Open,
        mutual_chap: None,
        unmap: false,
        portals: vec![
            Portal::parse("192.168.1.10:3260").unwrap(),
            Portal::parse("[fd00::1]:3260").unwrap(),
        ],
        ..spec()
    };
    let words = apply(&m, &open);
    insta::assert_snapshot!(shot(&words, &m));
    let t = &m.backend.lio(&mut NoLog).unwrap().targets[0];
    assert!(t.open && t.cache_dynamic_acls && !t.write_protect && t.acls.is_empty());
    assert_eq!(t.chap_user.as_deref(), Some("host1"));
}

#[test]
fn an_acl_added_and_one_removed() {
    let m = lab();
    apply(&m, &spec());
    let words = apply(
        &m,
        &TargetSpec {
            access: Access::Initiators(vec![HOST2.into()]),
            ..spec()
        },
    );
    insta::assert_snapshot!(shot(&words, &m));
}

#[test]
fn chap_changed() {
    let m = lab();
    apply(&m, &spec());
    let words = apply(
        &m,
        &TargetSpec {
            chap: chap("host1", NEW_SECRET),
            mutual_chap: None,
            ..spec()
        },
    );
    let acl = format!("config/target/iscsi/{IQN}/tpgt_1/acls/{HOST1}/auth");
    assert_eq!(m.read(&format!("{acl}/password")), NEW_SECRET);
    insta::assert_snapshot!(shot(&words, &m));
}

#[test]
fn a_resize_writes_nothing() {
    let m = lab();
    apply(&m, &spec());
    let before = state(&m);
    // The volume grew: its device is bigger, the spec is the same.
    m.write("sys/block/dm-3/size", "4194304\n");
    std::thread::sleep(std::time::Duration::from_millis(20));
    let words = apply(&m, &spec());
    assert_eq!(state(&m), before);
    insta::assert_snapshot!(shot(&words, &m));
}

#[test]
fn unexport_removes_all_but_the_saved_reservations() {
    let m = lab();
    apply(
        &m,
        &TargetSpec {
            access: Access::Initiators(vec![HOST1.into(), HOST2.into()]),
            ..spec()
        },
    );
    let aptpl = format!("var/target/pr/aptpl_{SERIAL}");
    m.write(&aptpl, &fixture("lio/aptpl-two-registrations.txt"));
    let said = m.backend.remove_target(IQN, "vol1", &mut NoLog).unwrap();
    insta::assert_snapshot!(format!(
        "== words\n{}\n== tree\n{}\n",
        said.replace("; ", "\n"),
        tree(&m)
    ));
    assert_eq!(m.read(&aptpl), fixture("lio/aptpl-two-registrations.txt"));
    let before = state(&m);
    let said = m.backend.remove_target(IQN, "vol1", &mut NoLog).unwrap();
    assert_eq!(
        said,
        format!("target {IQN} and backstore vol1 are already gone")
    );
    assert_eq!(state(&m), before);
}

#[test]
fn a_correct_tree_is_not_written_to() {
    let m = lab();
    for spec in [
        spec(),
        TargetSpec {
            access: Access::Open,
            ..spec()
        },
        TargetSpec {
            chap: None,
            mutual_chap: None,
            unmap: false,
            ..spec()
        },
    ] {
        apply(&m, &spec);
        let before = state(&m);
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(planned(&m, &spec), [], "{spec:?}");
        assert_eq!(apply(&m, &spec), Vec::<String>::new());
        assert_eq!(state(&m), before, "{spec:?}");
    }
}

#[test]
fn a_damaged_tree_is_repaired() {
    let m = lab();
    let both = TargetSpec {
        access: Access::Initiators(vec![HOST1.into(), HOST2.into()]),
        ..spec()
    };
    apply(&m, &both);
    let good = tree(&m);
    let tpg = format!("config/target/iscsi/{IQN}/tpgt_1");
    m.write(&format!("{tpg}/param/TargetAlias"), "LIO Target\n");
    std::fs::remove_dir_all(m.path(&format!("{tpg}/acls/{HOST2}"))).unwrap();
    std::fs::create_dir_all(m.path(&format!("{tpg}/np/10.0.0.9:3260"))).unwrap();
    m.write(&format!("{tpg}/attrib/authentication"), "0\n");
    m.write(&format!("{tpg}/enable"), "0\n");
    let words = apply(&m, &both);
    insta::assert_snapshot!(words.join("\n"));
    assert_eq!(tree(&m), good);
    assert_eq!(apply(&m, &both), Vec::<String>::new());
}

#[test]
fn a_backstore_is_not_remade_under_a_live_lun() {
    let m = lab();
    apply(&m, &spec());
    front(&m, "other", "dm-4", "write through");
    let before = state(&m);
    let moved = TargetSpec {
        device: "/dev/mapper/baystack-other".into(),
        serial: "0f0e0d0c-0b0a-0908-0706-050403020100".into(),
        ..spec()
    };
    let e = m.backend.apply_target(&moved, &mut NoLog).unwrap_err();
    assert!(matches!(e, BackendError::Refused(_)), "{e:?}");
    insta::assert_snapshot!(e.to_string());
    assert_eq!(state(&m), before);
}

#[test]
fn a_backstore_no_lun_uses_is_made_again_as_asked() {
    let m = lab();
    m.write("config/target/core/iblock_0/vol1/udev_path", "/dev/old\n");
    m.write("config/target/core/iblock_0/vol1/enable", "1\n");
    m.write("config/target/core/fileio_1/scratch/udev_path", "/tmp/x\n");
    let words = apply(&m, &spec());
    insta::assert_snapshot!(shot(&words, &m));
}

#[test]
fn saved_reservations_go_back_on_a_new_backstore_only() {
    let m = lab();
    m.write(
        &format!("var/target/pr/aptpl_{SERIAL}"),
        &fixture("lio/aptpl-two-registrations.txt"),
    );
    let restored: Vec<String> = planned(&m, &spec())
        .iter()
        .filter(|op| matches!(op, Op::Write(p, _) if p.ends_with("pr/res_aptpl_metadata")))
        .map(Op::to_string)
        .collect();
    insta::assert_snapshot!(restored.join("\n"));
    let words = apply(&m, &spec());
    assert!(
        words
            .iter()
            .any(|w| w.contains("2 persistent reservation registrations restored")),
        "{words:?}"
    );
    // The target goes (made by hand), the backstore stays: making the
    // target again leaves the backstore as it is.
    std::fs::remove_dir_all(m.path(&format!("config/target/iscsi/{IQN}"))).unwrap();
    let ops = planned(&m, &spec());
    assert!(!ops.is_empty());
    for op in &ops {
        let (Op::Mkdir(changed) | Op::Write(changed, _) | Op::Remove(changed)) = op else {
            continue;
        };
        assert!(!changed.starts_with("core/"), "{op}");
    }
    assert!(
        ops.iter()
            .any(|op| matches!(op, Op::Symlink { to, .. } if to == "core/iblock_0/vol1"))
    );
}

#[test]
fn the_write_cache_follows_the_device() {
    assert_eq!(plan::write_cache("iblock", Some(false)), Some(false));
    assert_eq!(plan::write_cache("iblock", Some(true)), None);
    assert_eq!(plan::write_cache("fileio", Some(true)), Some(true));
    assert_eq!(plan::write_cache("iblock", None), None);
    // A device with a volatile cache: iblock reports it by itself, the
    // attribute is not written.
    let m = lab();
    m.write("sys/block/dm-3/queue/write_cache", "write back\n");
    apply(&m, &spec());
    assert!(
        !m.path("config/target/core/iblock_0/vol1/attrib/emulate_write_cache")
            .exists()
    );
    // One that says it reports a cache the device has not is put right.
    let m = lab();
    apply(&m, &spec());
    m.write(
        "config/target/core/iblock_0/vol1/attrib/emulate_write_cache",
        "1\n",
    );
    assert_eq!(
        apply(&m, &spec()),
        ["backstore iblock_0/vol1: no write cache reported (the device has none)"]
    );
}

#[test]
fn what_cannot_be_done_is_refused_before_anything_is_written() {
    let m = lab();
    let before = state(&m);
    let bad = [
        TargetSpec {
            iqn: "IQN.2024-01.lab:x".into(),
            ..spec()
        },
        TargetSpec {
            backstore: "../../iscsi".into(),
            ..spec()
        },
        TargetSpec {
            serial: "a/b".into(),
            ..spec()
        },
        TargetSpec {
            device: "/dev/sda,readonly=1".into(),
            ..spec()
        },
        TargetSpec {
            access: Access::Initiators(vec!["host1/../x".into()]),
            ..spec()
        },
        TargetSpec {
            chap: None,
            ..spec()
        },
    ];
    for spec in bad {
        let e = m.backend.apply_target(&spec, &mut NoLog).unwrap_err();
        assert!(matches!(e, BackendError::Refused(_)), "{e:?}");
        assert!(!e.to_string().contains(MUTUAL), "{e}");
    }
    for (iqn, backstore) in [("iqn.2024-01.lab:../x", "vol1"), (IQN, "..")] {
        let e = m
            .backend
            .remove_target(iqn, backstore, &mut NoLog)
            .unwrap_err();
        assert!(matches!(e, BackendError::Refused(_)), "{e:?}");
    }
    let gone = TargetSpec {
        device: "/dev/mapper/baystack-nothere".into(),
        ..spec()
    };
    let e = m.backend.apply_target(&gone, &mut NoLog).unwrap_err();
    assert!(matches!(e, BackendError::Gone(_)), "{e:?}");
    assert_eq!(state(&m), before);
}

#[test]
fn a_failed_write_says_whether_anything_was_changed() {
    // The first change fails: nothing was changed.
    let m = lab();
    m.write("config/target/core/iblock_0", "not a directory");
    let e = m.backend.apply_target(&spec(), &mut NoLog).unwrap_err();
    assert!(matches!(e, BackendError::Refused(_)), "{e:?}");
    // A later one fails: the backstore was made.
    let m = lab();
    m.write(&format!("config/target/iscsi/{IQN}"), "not a directory");
    let e = m.backend.apply_target(&spec(), &mut NoLog).unwrap_err();
    assert!(matches!(e, BackendError::Failed(_)), "{e:?}");
    assert!(e.to_string().contains("(after 8 of "), "{e}");
}

/// The lab's tree as its targetcli left it (`target-tree-full.txt`: names
/// only), filled with what the lab's `saveconfig.json` and
/// `target-attribs.txt` say; targetcli's random link names kept. The
/// vol-thin initiator is logged in, the vol-thick one not.
fn targetcli_tree(m: &Machine) {
    let listing = fixture("lio/target-tree-full.txt");
    let paths: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.strip_prefix("/sys/kernel/config/"))
        .collect();
    let thin = "iqn.2024-01.lab.storlab:vg-r5.vol-thin";
    let thick = "iqn.2024-01.lab.storlab:vg-r5.vol-thick";
    let links = [
        ("6f5ae7be9b", "core/iblock_1/vg_r5-vol_thin".to_string()),
        ("94880a9351", "core/iblock_0/vg_r5-vol_thick".to_string()),
        ("6705b8e6f9", format!("iscsi/{thin}/tpgt_1/lun/lun_0")),
        ("7b0c514957", format!("iscsi/{thick}/tpgt_1/lun/lun_0")),
    ];
    for (i, p) in paths.iter().enumerate() {
        let path = m.path(&format!("config/{p}"));
        let name = p.rsplit('/').next().unwrap();
        if let Some((_, to)) = links.iter().find(|(n, _)| *n == name) {
            // configfs reads a link back relative to the link.
            let up = "../".repeat(p.matches('/').count());
            std::os::unix::fs::symlink(format!("{up}target/{to}"), path).unwrap();
        } else if paths
            .get(i + 1)
            .is_some_and(|next| next.starts_with(&format!("{p}/")))
        {
            std::fs::create_dir_all(path).unwrap();
        } else {
            std::fs::write(path, "").unwrap();
        }
    }
    for line in fixture("lio/target-attribs.txt").lines() {
        if let Some((path, value)) = line
            .strip_prefix("/sys/kernel/config/")
            .and_then(|l| l.split_once(": "))
            .filter(|(p, _)| !p.contains('*'))
        {
            m.write(&format!("config/{path}"), &format!("{value}\n"));
        }
    }
    for (store, dev, serial, on) in [
        (
            "iblock_1/vg_r5-vol_thin",
            "/dev/vg_r5/vol_thin",
            "def2abbe-7207-4f64-ac78-eb9709408805",
            "1",
        ),
        (
            "iblock_0/vg_r5-vol_thick",
            "/dev/vg_r5/vol_thick",
            "a95380a3-418d-4885-9997-8a6c19b1c34f",
            "1",
        ),
        (
            "fileio_2/scratch_file",
            "/tmp/scratch.img",
            "a1b3d494-059c-4b3b-a8a7-7097d1621300",
            "0",
        ),
    ] {
        let dir = format!("config/target/core/{store}");
        m.write(&format!("{dir}/udev_path"), &format!("{dev}\n"));
        m.write(
            &format!("{dir}/wwn/vpd_unit_serial"),
            &format!("T10 VPD Unit Serial Number: {serial}\n"),
        );
        m.write(&format!("{dir}/enable"), &format!("{on}\n"));
        m.write(
            &format!("{dir}/pr/res_holder"),
            "No SPC-3 Reservation holder\n",
        );
        m.write(
            &format!("{dir}/pr/res_aptpl_active"),
            "APTPL Bit Status: Disabled\n",
        );
    }
    for (iqn, info) in [(thin, "info-logged-in.txt"), (thick, "info-no-session.txt")] {
        let tpg = format!("config/target/iscsi/{iqn}/tpgt_1");
        m.write(&format!("{tpg}/enable"), "1\n");
        m.write(&format!("{tpg}/param/TargetAlias"), "LIO Target\n");
        for (attr, v) in [
            ("authentication", "1"),
            ("generate_node_acls", "0"),
            ("cache_dynamic_acls", "0"),
            ("demo_mode_write_protect", "1"),
        ] {
            m.write(&format!("{tpg}/attrib/{attr}"), &format!("{v}\n"));
        }
        let acl = format!("{tpg}/acls/iqn.2024-01.lab.storlab:initiator");
        m.write(&format!("{acl}/auth/userid"), "labuser\n");
        m.write(&format!("{acl}/auth/password"), "labsecret1234\n");
        m.write(&format!("{acl}/auth/userid_mutual"), "\n");
        m.write(&format!("{acl}/info"), &fixture(&format!("lio/{info}")));
        m.write(&format!("{tpg}/dynamic_sessions"), "");
    }
    m.write("config/target/dbroot", "/etc/target\n");
}

#[test]
fn targetcli_s_tree_and_foreign_objects_read_right() {
    let m = Machine::new();
    targetcli_tree(&m);
    // The lab's emulated enclosures: a tcm_loop target on a user backstore.
    m.write("config/target/core/user_0/enc0/enable", "1\n");
    m.write(
        "config/target/core/user_0/hba_info",
        "HBA Index: 3 plugin: user\n",
    );
    m.write("config/target/core/user_0/enc0/udev_path", "\n");
    std::fs::create_dir_all(m.path("config/target/loopback/naa.50014055e2c6ca6c/tpgt_1/lun/lun_0"))
        .unwrap();
    let lio = m.backend.lio(&mut NoLog).unwrap();
    let json = serde_json::to_string_pretty(&lio).unwrap();
    assert!(!json.contains("labsecret1234"), "{json}");
    insta::assert_snapshot!(json);
    // It is what targetcli saved.
    let saved = saveconfig::parse(&fixture("lio/saveconfig.json")).unwrap();
    assert_eq!(saved.targets.len(), lio.targets.len());
    for s in &saved.targets {
        let t = lio.targets.iter().find(|t| t.iqn == s.iqn).unwrap();
        assert_eq!(
            (&t.portals, t.open, t.authentication, t.enabled, &t.alias),
            (&s.portals, s.open, s.authentication, s.enabled, &s.alias)
        );
        for (a, b) in t.acls.iter().zip(&s.acls) {
            assert_eq!(
                (&a.initiator, a.mapped, &a.chap_user, &a.secret),
                (&b.initiator, b.mapped, &b.chap_user, &b.secret)
            );
        }
        let name = |l: &Option<String>| {
            l.as_deref()
                .and_then(|l| l.split_once('/'))
                .map(|(_, n)| n.to_string())
        };
        assert_eq!(name(&t.lun0), name(&s.lun0));
        let store = |lio: &Lio, lun0: &Option<String>| {
            let b = lio
                .backstores
                .iter()
                .find(|b| Some(b.name.clone()) == name(lun0))
                .unwrap();
            (b.device.clone(), b.serial.clone(), b.unmap)
        };
        assert_eq!(store(&lio, &t.lun0), store(&saved, &s.lun0));
    }
}

#[test]
fn sessions_from_an_acl_s_info_and_an_open_tpg_s_list() {
    let s = read::parse_info(&fixture("lio/info-logged-in.txt")).unwrap();
    assert_eq!(
        (s.initiator.as_str(), s.address.as_deref(), s.state.as_str()),
        (
            "iqn.2024-01.lab.storlab:initiator",
            Some("127.0.0.1"),
            "TARG_SESS_STATE_LOGGED_IN"
        )
    );
    assert_eq!(read::parse_info(&fixture("lio/info-no-session.txt")), None);
    let names: Vec<String> = read::parse_dynamic_sessions(&fixture("lio/dynamic-sessions.txt"))
        .into_iter()
        .map(|s| s.initiator)
        .collect();
    assert_eq!(names, [HOST1, HOST2]);
    // In the tree: an open target with two initiators logged in.
    let m = lab();
    apply(
        &m,
        &TargetSpec {
            access: Access::Open,
            ..spec()
        },
    );
    m.write(
        &format!("config/target/iscsi/{IQN}/tpgt_1/dynamic_sessions"),
        &fixture("lio/dynamic-sessions.txt"),
    );
    let t = &m.backend.lio(&mut NoLog).unwrap().targets[0];
    let seen: Vec<(&str, Option<&str>)> = t
        .sessions
        .iter()
        .map(|s| (s.initiator.as_str(), s.address.as_deref()))
        .collect();
    assert_eq!(seen, [(HOST1, None), (HOST2, None)]);
}

/// What the lab's kernel (6.1) showed of a target Baystack made, an open
/// one's session, a reservation, and the file LIO saved for a reservation
/// with APTPL, read as the reconcile and the agent read them.
#[test]
fn the_lab_s_configfs_files_read_right() {
    let s = read::parse_info(&fixture("lio/lab-acl-info-logged-in.txt")).unwrap();
    assert_eq!(
        (s.initiator.as_str(), s.address.as_deref(), s.state.as_str()),
        (
            "iqn.2024-01.lab.baystack:peer",
            Some("169.254.77.2"),
            "TARG_SESS_STATE_LOGGED_IN"
        )
    );
    assert_eq!(
        read::parse_info(&fixture("lio/lab-acl-info-no-session.txt")),
        None
    );
    let raw =
        std::fs::read(crate::storage::linux::fake::fixtures().join("lio/lab-dynamic-sessions.bin"))
            .unwrap();
    assert!(raw.ends_with(b"\n\0"), "{raw:?}");
    let names: Vec<String> = read::parse_dynamic_sessions(&String::from_utf8(raw).unwrap())
        .into_iter()
        .map(|s| s.initiator)
        .collect();
    assert_eq!(names, ["iqn.2024-01.lab.baystack:peer"]);
    assert_eq!(
        read::parse_unit_serial(&fixture("lio/lab-vpd-unit-serial.txt")).as_deref(),
        Some("c03ac165-9e5c-4f94-bb31-525c9054ee04")
    );
    assert_eq!(
        read::parse_reservation(&fixture("lio/lab-pr-res-holder.txt")).as_deref(),
        Some("SPC-3 Reservation: iSCSI Initiator: iqn.2024-01.lab.baystack:peer,i,0x00023d000003")
    );
    assert_eq!(
        read::parse_reservation(&fixture("lio/lab-pr-res-holder-none.txt")),
        None
    );
    // The kernel's own file (ended by a NUL), one registration holding
    // the reservation: one line for `pr/res_aptpl_metadata`, which the
    // lab's kernel took back after the bounce.
    let aptpl = read::parse_aptpl(&fixture("lio/lab-aptpl.txt"));
    assert_eq!(
        aptpl,
        [
            "initiator_fabric=iSCSI,initiator_node=iqn.2024-01.lab.baystack:peer,\
initiator_sid=00023d000001,sa_res_key=45232,res_holder=1,res_type=01,res_scope=00,\
res_all_tg_pt=0,mapped_lun=0,target_fabric=iSCSI,\
target_node=iqn.2024-01.baystack.lab:lab-main.keep,tpgt=1,port_rtpi=1,target_lun=0"
        ]
    );
}

#[test]
fn the_lab_s_saveconfig_reads_right() {
    let lio = saveconfig::parse(&fixture("lio/saveconfig.json")).unwrap();
    let acl = &lio.targets[0].acls[0];
    assert_eq!(acl.secret, Some(Secret::new("labsecret1234")));
    assert_eq!(acl.mutual_secret, None);
    let json = serde_json::to_string_pretty(&lio).unwrap();
    assert!(!json.contains("labsecret1234"), "{json}");
    insta::assert_snapshot!(json);
    // Through the backend: none without the file, the same with it.
    let m = Machine::new();
    assert_eq!(m.backend.saved_config(&mut NoLog).unwrap(), None);
    m.write(
        "etc/rtslib-fb-target/saveconfig.json",
        &fixture("lio/saveconfig.json"),
    );
    assert_eq!(m.backend.saved_config(&mut NoLog).unwrap(), Some(lio));
    m.write("etc/rtslib-fb-target/saveconfig.json", "{\"targets\": 5}");
    let e = m.backend.saved_config(&mut NoLog).unwrap_err();
    assert!(matches!(e, BackendError::Refused(_)), "{e:?}");
}

#[test]
fn lio_mutation_loop() {
    type Check = fn(&str, &str);
    let checks: [(&str, Check); 7] = [
        ("info-logged-in.txt", check_info),
        ("info-no-session.txt", check_info),
        ("dynamic-sessions.txt", |case, t| {
            for s in read::parse_dynamic_sessions(t) {
                assert!(
                    !s.initiator.is_empty() && !s.initiator.contains(['\n', '\0']),
                    "{case}: {s:?}"
                );
            }
        }),
        ("vpd-unit-serial.txt", |case, t| {
            if let Some(s) = read::parse_unit_serial(t) {
                assert!(!s.is_empty() && s.trim() == s, "{case}: {s:?}");
            }
        }),
        ("np-names.txt", |case, t| {
            for line in t.lines() {
                if let Some(p) = Portal::parse(line) {
                    assert_eq!(Portal::parse(&p.np_name()), Some(p), "{case}: {line}");
                }
            }
        }),
        ("aptpl-two-registrations.txt", |case, t| {
            for r in read::parse_aptpl(t) {
                assert!(
                    !r.is_empty() && !r.contains(['\n', '\r']) && !r.contains("PR_REG_"),
                    "{case}: {r}"
                );
            }
        }),
        ("saveconfig.json", |case, t| {
            let Ok(lio) = saveconfig::parse(t) else {
                return;
            };
            assert_eq!(saveconfig::parse(t).as_ref(), Ok(&lio), "{case}");
            for b in &lio.backstores {
                assert!(!b.name.is_empty(), "{case}: {b:?}");
            }
            for t in &lio.targets {
                assert!(!t.iqn.is_empty(), "{case}: {t:?}");
                assert!(t.acls.iter().all(|a| !a.initiator.is_empty()), "{case}");
                assert!(t.lun0.as_ref().is_none_or(|l| l.contains('/')), "{case}");
            }
        }),
    ];
    for (file, check) in checks {
        let text = fixture(&format!("lio/{file}"));
        let tried = in_time(180, move || {
            let mut tried = 0;
            for (what, spoiled) in variants(&text) {
                tried += 1;
                check(&format!("{file}, {what}"), &spoiled);
            }
            tried
        });
        assert!(tried > 3, "{file}: {tried}");
    }
}

fn check_info(case: &str, text: &str) {
    let got = read::parse_info(text);
    assert_eq!(read::parse_info(text), got, "{case}");
    if let Some(s) = got {
        assert!(
            !s.initiator.is_empty() && !s.initiator.contains(char::is_whitespace),
            "{case}: {s:?}"
        );
        assert!(!s.state.is_empty(), "{case}: {s:?}");
        assert!(s.address.as_ref().is_none_or(|a| !a.is_empty()), "{case}");
    }
}

/// The planner's order for a new target: backstore before the LUN that
/// uses it, reservations before any LUN, the TPG enabled last.
#[test]
fn a_new_target_is_made_in_the_kernel_s_order() {
    let m = lab();
    m.write(
        &format!("var/target/pr/aptpl_{SERIAL}"),
        &fixture("lio/aptpl-two-registrations.txt"),
    );
    let ops: Vec<String> = planned(&m, &spec()).iter().map(Op::to_string).collect();
    let at = |needle: &str| {
        ops.iter()
            .position(|o| o.contains(needle))
            .unwrap_or_else(|| panic!("{needle} in {ops:#?}"))
    };
    assert!(at("vol1/enable") < at("res_aptpl_metadata"));
    assert!(at("res_aptpl_metadata") < at("mkdir iscsi/"));
    assert!(at("lun/lun_0/baystack") < at("acls/"));
    assert_eq!(at("tpgt_1/enable"), ops.len() - 1);
    let secrets: BTreeSet<&String> = ops.iter().filter(|o| o.contains("password")).collect();
    assert!(
        secrets.iter().all(|o| o.ends_with("= <secret>")),
        "{secrets:?}"
    );
}

/// After a boot nothing has loaded LIO: configfs has no `target/`, and the
/// lab's first export failed on "mkdir core/iblock_0: No such file or
/// directory". The core module is loaded first, once.
#[test]
fn lio_s_core_module_is_loaded_when_configfs_has_no_target() {
    let m = Machine::new();
    front(&m, "vol1", "dm-3", "write through");
    std::fs::create_dir_all(m.path("config")).unwrap();
    let words = apply(&m, &spec());
    assert_eq!(
        words[0],
        "LIO's core module target_core_mod loaded (nothing had loaded it since boot)"
    );
    assert!(
        words[2].starts_with("backstore iblock_0/vol1 made"),
        "{words:?}"
    );
    assert_eq!(m.calls(), "modprobe target_core_mod\n");
    assert!(m.path("config/target/iscsi").is_dir());
    // Loaded, it is not loaded again.
    assert!(apply(&m, &spec()).is_empty());
    assert_eq!(m.calls(), "");
}

/// LIO writes `<dbroot>/pr/aptpl_<serial>` at every registration change
/// and never makes `pr/`: without it the lab's `sg_persist --out
/// --register` answered "Device not ready" and the kernel logged what
/// `lio/lab-dmesg-no-pr-dir.txt` holds. It is made once, owner only.
#[test]
fn lio_s_directory_for_reservations_is_made_when_missing() {
    use std::os::unix::fs::PermissionsExt as _;
    let m = lab();
    std::fs::remove_dir(m.path("var/target/pr")).unwrap();
    let said = fixture("lio/lab-dmesg-no-pr-dir.txt");
    let missing = said
        .split_once("filp_open(")
        .and_then(|(_, rest)| rest.split_once("/aptpl_"))
        .map(|(dir, _)| dir)
        .unwrap();
    assert_eq!(missing, "/var/target/pr");
    let words = apply(&m, &spec());
    assert_eq!(
        words[0],
        format!(
            "LIO's directory for reservations {} made (without it initiators cannot register a reservation key)",
            m.path("var/target/pr").display()
        )
    );
    let mode = std::fs::metadata(m.path("var/target/pr"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    assert!(apply(&m, &spec()).is_empty());
}

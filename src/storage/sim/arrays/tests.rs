//! The simulated md and LVM, driven through the engine's traits on a
//! clock that moves only when a test moves it.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::domain::clock::ManualClock;
use crate::domain::pool::{ArrayState, DEFAULT_CHUNK_KIB, MemberRole};
use crate::storage::NoLog;
use crate::storage::Volumes;

/// A 24-bay appliance on a clock that moves only when told. Its
/// drives: sda–sdd, sdr 16 TB; sde–sdg 12 TB; sdh–sdj 18 TB; sdk–sdn
/// 16 TB (SAS); sdo–sdq 960 GB SSDs; sds (an old GPT) and sdt (an old
/// md member).
struct Lab {
    _dir: tempfile::TempDir,
    sim: SimBackend,
    clock: ManualClock,
}

impl Lab {
    fn new() -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let settings = SimSettings {
            layout: vec![24],
            speed: 1.0,
        };
        let clock = ManualClock::new();
        let sim = SimBackend::open(dir.path(), &settings)
            .unwrap()
            .with_clock(Arc::new(clock.clone()));
        Lab {
            _dir: dir,
            sim,
            clock,
        }
    }

    fn hours(&self, h: f64) {
        self.clock.advance(Duration::from_secs_f64(h * 3600.0));
    }

    fn drive(&self, dev: &str) -> DriveRef {
        let d = self
            .sim
            .inventory()
            .unwrap()
            .drives
            .into_iter()
            .find(|d| d.dev_name.as_deref() == Some(dev))
            .unwrap_or_else(|| panic!("no {dev}"));
        DriveRef {
            ident: d.ident,
            serial: d.serial,
            by_id: d.by_id,
            dev_name: d.dev_name,
        }
    }

    fn drives(&self, devs: &[&str]) -> Vec<DriveRef> {
        devs.iter().map(|d| self.drive(d)).collect()
    }

    fn spec(&self, level: RaidLevel, members: &[&str], spares: &[&str]) -> ArraySpec {
        ArraySpec {
            name: "tank".into(),
            level,
            members: self.drives(members),
            spares: self.drives(spares),
            write_hole: WriteHole::Open,
            journal: Vec::new(),
            chunk_kib: DEFAULT_CHUNK_KIB,
        }
    }

    /// Creates `spec` and lets its resync finish.
    fn clean(&self, spec: &ArraySpec) -> String {
        let uuid = self.sim.create_array(spec, &mut NoLog).unwrap();
        self.hours(40.0);
        assert_eq!(self.array(&spec.name).state, Some(ArrayState::Clean));
        uuid
    }

    fn arrays(&self) -> Vec<Array> {
        let all = self.sim.arrays(&mut NoLog).unwrap();
        for a in &all {
            a.check().unwrap();
        }
        all
    }

    fn array(&self, name: &str) -> Array {
        self.arrays()
            .into_iter()
            .find(|a| a.md_name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no array {name}"))
    }

    /// Each member's device with its role and slot: `sda=A0`.
    fn roles(&self, name: &str) -> String {
        self.array(name)
            .members
            .iter()
            .map(|m| {
                let r = match m.role {
                    MemberRole::Active => "A",
                    MemberRole::Spare => "S",
                    MemberRole::Faulty => "F",
                    MemberRole::Journal => "J",
                    MemberRole::Replacement => "R",
                    MemberRole::Rebuilding => "B",
                };
                let slot = m.slot.map_or(String::new(), |s| s.to_string());
                format!("{}={r}{slot}", m.device)
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The drive `dev` returns I/O errors (`baystack sim fail-member`).
    fn io_error(&self, dev: &str) -> String {
        self.act(dev, SimAction::FailMember).unwrap()
    }

    fn act(&self, dev: &str, action: SimAction) -> Result<String, BackendError> {
        let ident = self.drive(dev).ident;
        let inv = self.sim.inventory().unwrap();
        let (e, s) = inv.bay_of(&ident).unwrap();
        self.sim.act(&e.ident, s.slot, action)
    }
}

fn refused(r: Result<impl std::fmt::Debug, BackendError>) -> String {
    match r {
        Err(e @ BackendError::Refused(_)) => e.to_string(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_raid6_with_a_mirrored_journal_resyncs_then_is_clean() {
    let lab = Lab::new();
    let mut spec = lab.spec(RaidLevel::Raid6, &["sda", "sdb", "sdc", "sdk"], &["sdl"]);
    spec.write_hole = WriteHole::Journal;
    spec.journal = lab.drives(&["sdo", "sdp"]);
    let uuid = lab.sim.create_array(&spec, &mut NoLog).unwrap();
    let words: Vec<&str> = uuid.split(':').collect();
    assert_eq!(words.len(), 4, "{uuid}");
    assert!(
        words
            .iter()
            .all(|w| w.len() == 8 && u32::from_str_radix(w, 16).is_ok())
    );

    // The journal's mirror first, then the array, named downward.
    let all = lab.arrays();
    let names: Vec<(&str, &str)> = all
        .iter()
        .map(|a| (a.name.as_deref().unwrap(), a.md_name.as_deref().unwrap()))
        .collect();
    assert_eq!(names, [("md126", "tank"), ("md127", "tank-journal")]);
    let tank = lab.array("tank");
    assert_eq!(tank.state, Some(ArrayState::Resyncing));
    assert_eq!(tank.sync_action, Some(SyncAction::Resync));
    assert_eq!(tank.level, Some(RaidLevel::Raid6));
    assert_eq!(tank.raid_devices, Some(4));
    assert_eq!(tank.degraded, Some(false));
    assert_eq!(tank.consistency_policy, Some(ConsistencyPolicy::Journal));
    assert_eq!(tank.write_hole, Some(WriteHole::Journal));
    assert_eq!(tank.chunk_kib, Some(512));
    assert_eq!(tank.uuid.as_deref(), Some(uuid.as_str()));
    assert_eq!(tank.progress.as_ref().unwrap().percent, 0.0);
    assert_eq!(
        lab.roles("tank"),
        "sda=A0 sdb=A1 sdc=A2 sdk=A3 sdl=S md127=J"
    );
    // Two members' worth of a 16 TB drive, less md's metadata.
    let member = tank.progress.as_ref().unwrap().total_sectors.unwrap() * 512;
    assert_eq!(tank.size_bytes, Some(2 * member));
    assert!(member < 16_000_900_661_248 && member > 16_000_000_000_000);
    let mirror = lab.array("tank-journal");
    assert_eq!(mirror.level, Some(RaidLevel::Raid1));
    assert_eq!(mirror.state, Some(ArrayState::Resyncing));
    assert_eq!(mirror.chunk_kib, None);

    // 150 MiB/s per member: an hour does about 3.5% of 16 TB.
    lab.hours(1.0);
    let p = lab.array("tank").progress.unwrap();
    assert_eq!(p.percent, 3.5);
    assert_eq!(p.speed_kib_s, Some(150 * 1024));
    let left = p.seconds_left.unwrap();
    assert!((97_000..99_000).contains(&left), "{left}");
    // The SSD mirror is done within two hours.
    lab.hours(1.0);
    assert_eq!(lab.array("tank-journal").state, Some(ArrayState::Clean));
    lab.hours(27.0);
    let tank = lab.array("tank");
    assert_eq!(tank.state, Some(ArrayState::Clean));
    assert_eq!(tank.sync_action, Some(SyncAction::Idle));
    assert_eq!(tank.progress, None);

    // Asked again: already so, the same UUID, nothing new.
    assert_eq!(lab.sim.create_array(&spec, &mut NoLog).unwrap(), uuid);
    assert_eq!(lab.arrays().len(), 2);
    // Its members carry md's superblock now.
    let sigs = lab.sim.signatures(&lab.drive("sda"), &mut NoLog).unwrap();
    assert_eq!(sigs.len(), 1);
    assert!(
        sigs[0].starts_with("linux_raid_member (raid, label baystack:tank"),
        "{sigs:?}"
    );
}

#[test]
fn a_failed_member_degrades_and_a_spare_added_takes_over() {
    let lab = Lab::new();
    lab.clean(&lab.spec(RaidLevel::Raid5, &["sda", "sdb", "sdc"], &[]));
    let said = lab.io_error("sdb");
    assert!(
        said.contains("md marked sdb faulty in md127; md127 (tank) is degraded"),
        "{said}"
    );
    let tank = lab.array("tank");
    assert_eq!(tank.state, Some(ArrayState::Degraded));
    assert_eq!((tank.degraded, tank.degraded_count), (Some(true), Some(1)));
    assert_eq!(lab.roles("tank"), "sda=A0 sdc=A2 sdb=F");
    // md takes no faulty member back, nor removes one in sync.
    assert!(
        refused(lab.sim.add_member("tank", &lab.drive("sdb"), &mut NoLog))
            .contains("remove it first")
    );
    let why = refused(lab.sim.remove_member("tank", &lab.drive("sda"), &mut NoLog));
    assert!(
        why.contains("sda is an active member of md127, in sync in slot 0"),
        "{why}"
    );

    let did = lab
        .sim
        .add_member("tank", &lab.drive("sdk"), &mut NoLog)
        .unwrap();
    assert_eq!(did, "added sdk to md127; md rebuilds onto it");
    let tank = lab.array("tank");
    assert_eq!(tank.state, Some(ArrayState::Recovering));
    assert_eq!(tank.degraded, Some(true));
    assert_eq!(lab.roles("tank"), "sda=A0 sdk=B1 sdc=A2 sdb=F");
    lab.hours(10.0);
    let p = lab.array("tank").progress.unwrap();
    assert!(p.percent > 30.0 && p.percent < 40.0, "{p:?}");
    let left = p.seconds_left.unwrap();
    lab.hours(1.0);
    let later = lab.array("tank").progress.unwrap().seconds_left.unwrap();
    assert!(
        left - later >= 3599 && left - later <= 3601,
        "{left} {later}"
    );
    lab.hours(20.0);
    let tank = lab.array("tank");
    assert_eq!(tank.state, Some(ArrayState::Clean));
    assert_eq!(tank.degraded_count, Some(0));
    // The faulty member stays listed until removed.
    assert_eq!(lab.roles("tank"), "sda=A0 sdk=A1 sdc=A2 sdb=F");
    lab.sim
        .remove_member("tank", &lab.drive("sdb"), &mut NoLog)
        .unwrap();
    assert_eq!(lab.roles("tank"), "sda=A0 sdk=A1 sdc=A2");
    assert!(
        lab.sim
            .remove_member("tank", &lab.drive("sdb"), &mut NoLog)
            .unwrap()
            .contains("was not in")
    );
}

#[test]
fn a_second_failure_during_a_raid5_rebuild_fails_the_array() {
    let lab = Lab::new();
    lab.clean(&lab.spec(RaidLevel::Raid5, &["sda", "sdb", "sdc"], &["sdk"]));
    // A spare is pulled in at once.
    lab.sim
        .fail_member("tank", &lab.drive("sdb"), &mut NoLog)
        .unwrap();
    assert_eq!(lab.array("tank").state, Some(ArrayState::Recovering));
    assert_eq!(lab.roles("tank"), "sda=A0 sdk=B1 sdc=A2 sdb=F");
    lab.hours(5.0);
    lab.io_error("sdc");
    let tank = lab.array("tank");
    assert_eq!(tank.state, Some(ArrayState::Failed));
    assert_eq!(tank.degraded_count, Some(2));
    assert_eq!(tank.progress, None);
    assert_eq!(lab.roles("tank"), "sda=A0 sdk=S sdb=F sdc=F");
    lab.hours(40.0);
    assert_eq!(lab.array("tank").state, Some(ArrayState::Failed));
}

#[test]
fn a_second_failure_during_a_raid6_rebuild_leaves_it_degraded() {
    let lab = Lab::new();
    lab.clean(&lab.spec(RaidLevel::Raid6, &["sda", "sdb", "sdc", "sdk"], &["sdl"]));
    lab.io_error("sdb");
    lab.hours(5.0);
    let before = lab.array("tank").progress.unwrap().percent;
    lab.io_error("sdc");
    let tank = lab.array("tank");
    assert_eq!(tank.state, Some(ArrayState::Recovering));
    assert_eq!((tank.degraded, tank.degraded_count), (Some(true), Some(2)));
    // The rebuild onto sdl goes on where it was.
    assert_eq!(tank.progress.unwrap().percent, before);
    lab.hours(30.0);
    let tank = lab.array("tank");
    assert_eq!(tank.state, Some(ArrayState::Degraded));
    assert_eq!(tank.degraded_count, Some(1));
    assert_eq!(lab.roles("tank"), "sda=A0 sdl=A1 sdk=A3 sdb=F sdc=F");
}

#[test]
fn a_raid1_fails_only_when_its_last_mirror_goes() {
    let lab = Lab::new();
    lab.clean(&lab.spec(RaidLevel::Raid1, &["sda", "sdb"], &[]));
    lab.sim
        .fail_member("tank", &lab.drive("sdb"), &mut NoLog)
        .unwrap();
    assert_eq!(lab.array("tank").state, Some(ArrayState::Degraded));
    let why = refused(lab.sim.fail_member("tank", &lab.drive("sda"), &mut NoLog));
    assert!(
        why.contains("sda is the last in-sync mirror of md127"),
        "{why}"
    );
    // An I/O error is not asked: md loses the array.
    lab.io_error("sda");
    assert_eq!(lab.array("tank").state, Some(ArrayState::Failed));
}

/// raid10's near layout keeps each block on a pair of neighbours: two
/// members lost from two pairs leave it running, two from one pair lose it.
#[test]
fn a_raid10_fails_when_both_halves_of_a_pair_go() {
    let lab = Lab::new();
    lab.clean(&lab.spec(RaidLevel::Raid10, &["sda", "sdb", "sdc", "sdk"], &[]));
    // Half of four members.
    let tank = lab.array("tank");
    let member = 16_000_900_661_248 / 512 - 264_192;
    assert_eq!(tank.size_bytes, Some(member / 1024 * 1024 * 512 * 2));
    lab.io_error("sda");
    lab.io_error("sdc");
    let tank = lab.array("tank");
    assert_eq!(
        (tank.state, tank.degraded_count),
        (Some(ArrayState::Degraded), Some(2))
    );
    lab.io_error("sdb");
    assert_eq!(lab.array("tank").state, Some(ArrayState::Failed));
}

#[test]
fn a_pulled_member_is_failed_and_taken_out() {
    let lab = Lab::new();
    lab.clean(&lab.spec(RaidLevel::Raid1, &["sda", "sdb"], &["sdc"]));
    let said = lab.act("sdb", SimAction::ReplaceDrive).unwrap();
    assert!(
        said.contains(
            "md marked sdb faulty in md127; md127 (tank) is recovering, rebuilding onto sdc"
        ),
        "{said}"
    );
    // The new drive in the bay (the kernel calls it sdb again) is not a member.
    assert_eq!(lab.roles("tank"), "sda=A0 sdc=B1");
    assert!(
        lab.sim
            .signatures(&lab.drive("sdb"), &mut NoLog)
            .unwrap()
            .is_empty()
    );
    lab.hours(40.0);
    assert_eq!(lab.roles("tank"), "sda=A0 sdc=A1");
    // A drive in no array: nothing for md to fail.
    assert!(matches!(
        lab.act("sde", SimAction::FailMember),
        Err(BackendError::Refused(_))
    ));
}

#[test]
fn a_replacement_keeps_redundancy_throughout() {
    let lab = Lab::new();
    lab.clean(&lab.spec(RaidLevel::Raid5, &["sda", "sdb", "sdc"], &[]));
    let did = lab
        .sim
        .replace_member("tank", &lab.drive("sda"), &lab.drive("sdk"), &mut NoLog)
        .unwrap();
    assert_eq!(
        did,
        "marked sda (device 0 in md127) for replacement; md rebuilds it onto sdk"
    );
    let tank = lab.array("tank");
    assert_eq!(tank.state, Some(ArrayState::Recovering));
    assert_eq!((tank.degraded, tank.degraded_count), (Some(false), Some(0)));
    assert_eq!(lab.roles("tank"), "sda=A0 sdk=R0 sdb=A1 sdc=A2");
    assert_eq!(tank.members[0].state, ["in_sync", "want_replacement"]);
    lab.hours(10.0);
    assert!(
        lab.sim
            .replace_member("tank", &lab.drive("sda"), &lab.drive("sdk"), &mut NoLog)
            .unwrap()
            .contains("already being replaced")
    );
    lab.hours(25.0);
    let tank = lab.array("tank");
    assert_eq!(tank.state, Some(ArrayState::Clean));
    assert_eq!(lab.roles("tank"), "sdk=A0 sdb=A1 sdc=A2 sda=F");
    assert!(
        lab.sim
            .replace_member("tank", &lab.drive("sda"), &lab.drive("sdk"), &mut NoLog)
            .unwrap()
            .contains("already replaced")
    );
}

#[test]
fn growing_reshapes_then_the_array_and_its_volume_group_are_bigger() {
    let lab = Lab::new();
    lab.clean(&lab.spec(RaidLevel::Raid5, &["sda", "sdb", "sdc"], &[]));
    lab.sim.create_volume_group("tank", &mut NoLog).unwrap();
    let vg = |lab: &Lab| lab.sim.volume_groups(&mut NoLog).unwrap().remove(0);
    let small = lab.array("tank").size_bytes.unwrap();
    let v = vg(&lab);
    assert_eq!((v.name.as_str(), v.pv_count, v.lv_count), ("tank", 1, 0));
    assert_eq!(v.extent_size_bytes, Some(4 << 20));
    assert!(v.size_bytes < small && v.size_bytes > small - (8 << 20));
    assert_eq!(v.free_bytes, v.size_bytes);

    let why = refused(lab.sim.grow("tank", 4, &mut NoLog));
    assert!(why.contains("takes 1 spare; it has 0"), "{why}");
    lab.sim
        .add_member("tank", &lab.drive("sdk"), &mut NoLog)
        .unwrap();
    assert_eq!(lab.roles("tank"), "sda=A0 sdb=A1 sdc=A2 sdk=S");
    lab.sim.grow("tank", 4, &mut NoLog).unwrap();
    let tank = lab.array("tank");
    assert_eq!(tank.state, Some(ArrayState::Reshaping));
    assert_eq!(tank.raid_devices, Some(4));
    assert_eq!(tank.size_bytes, Some(small));
    assert_eq!(lab.roles("tank"), "sda=A0 sdb=A1 sdc=A2 sdk=A3");
    lab.hours(1.0);
    assert_eq!(lab.array("tank").progress.unwrap().percent, 3.5);
    assert!(
        lab.sim
            .grow("tank", 4, &mut NoLog)
            .unwrap()
            .contains("reshape is under way")
    );
    let said = lab.sim.resize_physical_volume("tank", &mut NoLog).unwrap();
    assert!(said.contains("it grows when the reshape is done"), "{said}");
    lab.hours(30.0);
    let tank = lab.array("tank");
    assert_eq!(tank.state, Some(ArrayState::Clean));
    assert_eq!(tank.size_bytes, Some(small / 2 * 3));
    let before = vg(&lab).size_bytes;
    lab.sim.resize_physical_volume("tank", &mut NoLog).unwrap();
    assert!(vg(&lab).size_bytes > before + small / 2 - (8 << 20));
    assert!(
        lab.sim
            .resize_physical_volume("tank", &mut NoLog)
            .unwrap()
            .contains("already")
    );
    assert!(refused(lab.sim.grow("tank", 3, &mut NoLog)).contains("never shrinks"));
    lab.sim.remove_volume_group("tank", &mut NoLog).unwrap();
    assert!(lab.sim.volume_groups(&mut NoLog).unwrap().is_empty());
}

#[test]
fn a_check_counts_planted_mismatches_and_a_repair_rewrites_them() {
    let lab = Lab::new();
    lab.clean(&lab.spec(RaidLevel::Raid5, &["sda", "sdb", "sdc"], &[]));
    lab.sim.plant_mismatches("md127", 4).unwrap();
    let check = |action| lab.sim.sync_action("tank", action, None, &mut NoLog);
    check(SyncAction::Check).unwrap();
    let tank = lab.array("tank");
    assert_eq!(tank.state, Some(ArrayState::Checking));
    assert_eq!(tank.mismatch_count, Some(0));
    assert!(check(SyncAction::Check).unwrap().contains("already"));
    assert!(matches!(
        check(SyncAction::Repair),
        Err(BackendError::Busy(_))
    ));
    lab.hours(30.0);
    let tank = lab.array("tank");
    assert_eq!(tank.state, Some(ArrayState::Clean));
    assert_eq!(tank.mismatch_count, Some(32));

    check(SyncAction::Repair).unwrap();
    assert_eq!(lab.array("tank").state, Some(ArrayState::Repairing));
    lab.hours(30.0);
    // A repair counts what it rewrote; the next check finds nothing.
    assert_eq!(lab.array("tank").mismatch_count, Some(32));
    check(SyncAction::Check).unwrap();
    lab.hours(30.0);
    assert_eq!(lab.array("tank").mismatch_count, Some(0));

    // A window: md checks up to its end and waits there until stopped.
    lab.sim.plant_mismatches("tank", 4).unwrap();
    let total = lab.array("tank").size_bytes.unwrap() / 512 / 2;
    let half = total / 2 / 1024 * 1024;
    let window = SyncWindow {
        min_sectors: 0,
        max_sectors: Some(half),
    };
    let odd = SyncWindow {
        min_sectors: 0,
        max_sectors: Some(half + 8),
    };
    assert!(
        refused(
            lab.sim
                .sync_action("tank", SyncAction::Check, Some(odd), &mut NoLog)
        )
        .contains("not a multiple of 1024")
    );
    lab.sim
        .sync_action("tank", SyncAction::Check, Some(window), &mut NoLog)
        .unwrap();
    lab.hours(20.0);
    let tank = lab.array("tank");
    assert_eq!(tank.state, Some(ArrayState::Checking));
    let p = tank.progress.unwrap();
    assert_eq!(
        (p.done_sectors, p.speed_kib_s, p.seconds_left),
        (Some(half), Some(0), None)
    );
    assert_eq!(tank.mismatch_count, Some(16));
    let said = check(SyncAction::Idle).unwrap();
    assert!(
        said.contains(&format!("stopped the check of md127 at sector {half}; 16")),
        "{said}"
    );
    let tank = lab.array("tank");
    assert_eq!(tank.state, Some(ArrayState::Clean));
    assert_eq!(tank.sync_window.unwrap().min_sectors, half);
    assert!(check(SyncAction::Idle).unwrap().contains("already idle"));

    // Nothing to compare on a degraded array; a resync is not stopped.
    lab.io_error("sdb");
    assert!(refused(check(SyncAction::Check)).contains("degraded"));
}

#[test]
fn bad_inputs_are_refused_in_words_and_change_nothing() {
    let lab = Lab::new();
    let why = refused(lab.sim.create_array(
        &lab.spec(RaidLevel::Raid6, &["sda", "sdb", "sdc"], &[]),
        &mut NoLog,
    ));
    assert_eq!(why, "raid6 needs at least 4 members; 3 were given");
    let why = refused(lab.sim.create_array(
        &lab.spec(RaidLevel::Raid10, &["sda", "sdb", "sdc", "sdd", "sde"], &[]),
        &mut NoLog,
    ));
    assert_eq!(
        why,
        "raid10 needs an even number of members, at least 4; 5 were given"
    );

    let mut journal_member = lab.spec(RaidLevel::Raid5, &["sda", "sdb", "sdc"], &[]);
    journal_member.write_hole = WriteHole::Journal;
    journal_member.journal = lab.drives(&["sdc"]);
    let why = refused(lab.sim.create_array(&journal_member, &mut NoLog));
    assert!(
        why.ends_with("(sdc) is named both as a member and as the journal"),
        "{why}"
    );
    let mut no_journal = journal_member.clone();
    no_journal.journal.clear();
    assert!(
        refused(lab.sim.create_array(&no_journal, &mut NoLog))
            .contains("one drive or two mirrored")
    );
    let mut ppl6 = lab.spec(RaidLevel::Raid6, &["sda", "sdb", "sdc", "sdd"], &[]);
    ppl6.write_hole = WriteHole::Ppl;
    assert!(refused(lab.sim.create_array(&ppl6, &mut NoLog)).contains("raid5 only"));

    let mut vanished = lab.spec(RaidLevel::Raid1, &["sda", "sdb"], &[]);
    vanished.members[1].ident = "wwn:0x5000c500deadbeef".into();
    vanished.members[1].serial = "ZL2GONE1".into();
    match lab.sim.create_array(&vanished, &mut NoLog) {
        Err(e @ BackendError::Gone(_)) => {
            assert!(
                e.to_string()
                    .contains("no bay holds a drive with serial ZL2GONE1"),
                "{e}"
            )
        }
        other => panic!("{other:?}"),
    }

    // The old signatures: shown, refused, wiped.
    let sigs = lab.sim.signatures(&lab.drive("sdt"), &mut NoLog).unwrap();
    assert_eq!(sigs.len(), 1);
    assert!(
        sigs[0].starts_with("linux_raid_member (raid, label oldnas:data"),
        "{sigs:?}"
    );
    assert_eq!(
        lab.sim
            .signatures(&lab.drive("sds"), &mut NoLog)
            .unwrap()
            .len(),
        3
    );
    let old = lab.spec(RaidLevel::Raid1, &["sds", "sdt"], &[]);
    assert!(
        refused(lab.sim.create_array(&old, &mut NoLog))
            .contains("has old signatures: gpt (partition table) at offset 0x200")
    );
    assert!(lab.arrays().is_empty());
    let did = lab.sim.wipe(&lab.drive("sdt"), &mut NoLog).unwrap();
    assert!(
        did.starts_with("erased 1 signature from sdt: linux_raid_member at 0x1000"),
        "{did}"
    );
    assert!(
        lab.sim
            .wipe(&lab.drive("sdt"), &mut NoLog)
            .unwrap()
            .contains("nothing to erase")
    );
    lab.sim.wipe(&lab.drive("sds"), &mut NoLog).unwrap();
    lab.sim.create_array(&old, &mut NoLog).unwrap();

    // A drive in another array, and another array of the same name.
    let mut other = lab.spec(RaidLevel::Raid1, &["sdt", "sda"], &[]);
    other.name = "other".into();
    let why = refused(lab.sim.create_array(&other, &mut NoLog));
    assert!(why.ends_with("(sdt) is a member of md127 (tank)"), "{why}");
    let why = refused(lab.sim.create_array(
        &lab.spec(RaidLevel::Raid1, &["sda", "sdb"], &[]),
        &mut NoLog,
    ));
    assert!(
        why.contains("an md array tank (md127) exists with other members"),
        "{why}"
    );
    // A running member is not wiped or zeroed.
    assert!(matches!(
        lab.sim.wipe(&lab.drive("sdt"), &mut NoLog),
        Err(BackendError::Busy(_))
    ));
    assert!(matches!(
        lab.sim.zero_superblock(&lab.drive("sdt"), &mut NoLog),
        Err(BackendError::Busy(_))
    ));
    assert_eq!(lab.arrays().len(), 1);
}

#[test]
fn a_stopped_array_is_assembled_by_uuid_and_picks_up_its_resync() {
    let lab = Lab::new();
    let spec = lab.spec(RaidLevel::Raid5, &["sda", "sdb", "sdc"], &[]);
    let uuid = lab.sim.create_array(&spec, &mut NoLog).unwrap();
    lab.hours(1.0);
    let said = lab.sim.persist_array("tank", &uuid, &mut NoLog).unwrap();
    assert_eq!(
        said,
        format!("recorded ARRAY /dev/md/tank UUID={uuid} in mdadm.conf")
    );
    assert!(
        lab.sim
            .persist_array("tank", &uuid, &mut NoLog)
            .unwrap()
            .contains("already")
    );
    assert!(
        lab.sim
            .set_stripe_cache("tank", 4096, &mut NoLog)
            .unwrap()
            .contains("is now 4096 pages")
    );
    assert!(
        lab.sim
            .set_stripe_cache("tank", 4096, &mut NoLog)
            .unwrap()
            .contains("already")
    );
    assert!(refused(lab.sim.set_stripe_cache("tank", 16, &mut NoLog)).contains("17 to 32768"));

    let said = lab.sim.stop_array("tank", &mut NoLog).unwrap();
    assert!(said.contains("its resync stopped at sector"), "{said}");
    assert!(lab.arrays().is_empty());
    assert!(
        lab.sim
            .stop_array("tank", &mut NoLog)
            .unwrap()
            .contains("nothing to stop")
    );
    assert!(matches!(
        lab.sim.add_member("tank", &lab.drive("sdk"), &mut NoLog),
        Err(BackendError::Gone(_))
    ));
    // Its members still say whose they are.
    let mut other = lab.spec(RaidLevel::Raid1, &["sda", "sdk"], &[]);
    other.name = "other".into();
    let why = refused(lab.sim.create_array(&other, &mut NoLog));
    assert!(
        why.ends_with("(sda) is a member of md127 (tank), which is stopped"),
        "{why}"
    );
    let why = refused(lab.sim.create_array(&spec, &mut NoLog));
    assert!(
        why.contains("exists with other members and is stopped"),
        "{why}"
    );
    lab.hours(5.0);

    let said = lab.sim.assemble("tank", &uuid, &mut NoLog).unwrap();
    assert!(
        said.starts_with("assembled tank as md127 from 3 drives; md127 (tank) is resyncing"),
        "{said}"
    );
    assert_eq!(lab.array("tank").progress.unwrap().percent, 3.5);
    assert!(
        lab.sim
            .assemble("tank", &uuid, &mut NoLog)
            .unwrap()
            .contains("already running")
    );
    assert!(matches!(
        lab.sim
            .assemble("tank", "00000000:00000000:00000000:00000000", &mut NoLog),
        Err(BackendError::Gone(_))
    ));
    lab.sim.forget_array("tank", &uuid, &mut NoLog).unwrap();
    assert!(
        lab.sim
            .forget_array("tank", &uuid, &mut NoLog)
            .unwrap()
            .contains("had no line")
    );

    // Stopped and its superblocks cleared, it is gone for good.
    lab.sim.stop_array("tank", &mut NoLog).unwrap();
    for dev in ["sda", "sdb", "sdc"] {
        lab.sim
            .zero_superblock(&lab.drive(dev), &mut NoLog)
            .unwrap();
    }
    assert!(
        lab.sim
            .zero_superblock(&lab.drive("sda"), &mut NoLog)
            .unwrap()
            .contains("nothing to clear")
    );
    assert!(matches!(
        lab.sim.assemble("tank", &uuid, &mut NoLog),
        Err(BackendError::Gone(_))
    ));
    lab.sim.create_array(&spec, &mut NoLog).unwrap();
}

#[test]
fn a_state_file_from_before_arrays_still_loads() {
    let lab = Lab::new();
    let path = lab.sim.state_path().to_path_buf();
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for key in [
        "arrays",
        "arrays_created",
        "signatures",
        "mdadm_conf",
        "volume_groups",
    ] {
        assert!(v.as_object_mut().unwrap().remove(key).is_some(), "{key}");
    }
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    assert!(lab.arrays().is_empty());
    assert!(
        lab.sim
            .signatures(&lab.drive("sdt"), &mut NoLog)
            .unwrap()
            .is_empty()
    );
    lab.sim
        .create_array(
            &lab.spec(RaidLevel::Raid1, &["sda", "sdb"], &[]),
            &mut NoLog,
        )
        .unwrap();
    assert_eq!(lab.arrays().len(), 1);
}

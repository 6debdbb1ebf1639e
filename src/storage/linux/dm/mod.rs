//! Device-mapper: each volume's front device, `baystack-<volume>` at
//! `/dev/mapper/baystack-<volume>`, one linear segment over all of the
//! volume's logical volume. LIO exports the front device, never the
//! logical volume, so the logical volume under it can grow, or be swapped
//! for another (a rollback), by loading a new table while the export
//! stays: `dmsetup reload` then `dmsetup resume`, which holds I/O for the
//! moment of the swap and fails none.

pub mod argv;
pub mod parse;

use super::LinuxBackend;
use crate::domain::volume::{FrontDevice, front_name, size_words};
use crate::naming::{validate_pool_name, validate_volume_name};
use crate::storage::{BackendError, CommandLog};

/// The device-mapper UUID of a volume's front device.
fn front_uuid(volume: &str) -> String {
    format!("BAYSTACK-{volume}")
}

fn check_volume(volume: &str) -> Result<(), BackendError> {
    validate_volume_name("volume", volume).map_err(BackendError::Refused)
}

impl LinuxBackend {
    /// Every `baystack-*` device as device-mapper has it now.
    pub(in crate::storage::linux) fn fronts(
        &self,
        log: &mut dyn CommandLog,
    ) -> Result<Vec<FrontDevice>, BackendError> {
        let info = self.run_report("dmsetup", None, argv::info(), log)?;
        let table = self.run_report("dmsetup", None, argv::table(), log)?;
        parse::front_devices(&info, &table)
            .map_err(|e| BackendError::Refused(format!("dmsetup info and table: {e}")))
    }

    /// Runs a `dmsetup` command that changes something.
    fn dm_change(
        &self,
        vg: Option<&str>,
        args: Vec<std::ffi::OsString>,
        changed_before: bool,
        log: &mut dyn CommandLog,
    ) -> Result<(), BackendError> {
        self.run_change("dmsetup", vg, args, changed_before, log)
            .map(|_| ())
    }

    /// Makes volume `volume`'s front device map all of `vg/volume`:
    /// creates it, or loads and swaps in the table it should have; runs
    /// nothing more when it already has it.
    pub(in crate::storage::linux) fn set_front(
        &self,
        vg: &str,
        volume: &str,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        validate_pool_name(vg).map_err(BackendError::Refused)?;
        check_volume(volume)?;
        let find = |lvs: Vec<crate::domain::pool::LogicalVolume>| {
            lvs.into_iter().find(|l| l.name == volume).ok_or_else(|| {
                BackendError::Gone(format!("pool {vg}: there is no logical volume {volume}"))
            })
        };
        let mut lv = find(self.lvs_of(vg, log)?)?;
        // A volume is inactive after its array is assembled where LVM's
        // autoactivation did not run (or has not yet: udev runs it after
        // the assembly): it is activated here, as its front device needs.
        let mut activated = String::new();
        if lv.kernel_device.is_none() {
            let said = self.activate_volume(vg, volume, log)?;
            lv = find(self.lvs_of(vg, log)?)?;
            activated = format!(
                "pool {vg}: logical volume {volume} activated{}; ",
                if said.is_empty() {
                    String::new()
                } else {
                    format!(" (LVM: {said})")
                }
            );
        }
        let backing = lv.kernel_device.ok_or_else(|| {
            BackendError::Failed(format!(
                "pool {vg}: logical volume {volume} is still not active once activated, so there is no device to map"
            ))
        })?;
        let sectors = lv.size_bytes / 512;
        let table = argv::linear(sectors, &backing);
        let name = front_name(volume);
        let what = format!(
            "all of {vg}/{volume} ({}, {backing})",
            size_words(lv.size_bytes)
        );
        let changed = !activated.is_empty();
        let Some(now) = self.fronts(log)?.into_iter().find(|f| f.volume == volume) else {
            let args = argv::create(&name, &front_uuid(volume), &table);
            self.dm_change(Some(vg), args, changed, log)?;
            return Ok(format!(
                "{activated}pool {vg}: front device {name} made over {what}"
            ));
        };
        if now.backing.as_deref() == Some(backing.as_str())
            && now.sectors == sectors
            && !now.suspended
        {
            return Ok(format!(
                "{activated}pool {vg}: front device {name} already maps {what}"
            ));
        }
        // A suspended device may hold a stale inactive table: the right one
        // is loaded before any resume.
        self.dm_change(Some(vg), argv::reload(&name, &table), changed, log)?;
        self.dm_change(Some(vg), argv::resume(&name), true, log)?;
        Ok(format!(
            "{activated}pool {vg}: front device {name} now maps {what}; it mapped {} sectors of {}",
            now.sectors,
            now.backing.as_deref().unwrap_or("something else")
        ))
    }

    /// Removes volume `volume`'s front device; refused while it is open.
    pub(in crate::storage::linux) fn remove_front(
        &self,
        volume: &str,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        check_volume(volume)?;
        let name = front_name(volume);
        let Some(now) = self.fronts(log)?.into_iter().find(|f| f.volume == volume) else {
            return Ok(format!("there is already no front device {name}"));
        };
        if now.open_count > 0 {
            return Err(BackendError::Busy(format!(
                "front device {name} is still open ({} holders): is it exported?",
                now.open_count
            )));
        }
        self.dm_change(None, argv::remove(&name), false, log)?;
        Ok(format!("front device {name} removed"))
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::volume::FrontDevice;
    use crate::storage::linux::fake::{Lv, Machine, THIN, fixture};
    use crate::storage::{BackendError, NoLog, Volumes};

    /// Thin volume db01 of 2 GiB, device 252:4 (its row).
    const DB01: Lv = ("db01", 2048, "Vwi-aotz--", "baystack_thin", "");

    fn with_db01() -> Machine {
        Machine::tank(&[THIN[0], THIN[1], THIN[2], THIN[3], DB01])
    }

    /// Device-mapper as `dmsetup info` and `dmsetup table` list it.
    fn devices(m: &Machine, info: &str, table: &str) {
        m.write("state/dm-info", info);
        m.write("state/dm-table", table);
    }

    #[test]
    fn a_front_device_is_made_once() {
        let m = with_db01();
        assert_eq!(m.backend.front_devices(&mut NoLog).unwrap(), []);
        let said = m
            .backend
            .set_front_device("tank", "db01", &mut NoLog)
            .unwrap();
        assert!(
            said.contains("front device baystack-db01 made over all of tank/db01 (2 GiB, 252:4)"),
            "{said}"
        );
        let said = m
            .backend
            .set_front_device("tank", "db01", &mut NoLog)
            .unwrap();
        assert!(
            said.contains("baystack-db01 already maps all of tank/db01"),
            "{said}"
        );
        insta::assert_snapshot!(m.calls());
        assert_eq!(
            m.backend.front_devices(&mut NoLog).unwrap(),
            [FrontDevice {
                volume: "db01".into(),
                sectors: 4_194_304,
                backing: Some("252:4".into()),
                suspended: false,
                open_count: 0,
            }]
        );
    }

    /// The volume grows under its exported front device; the front device
    /// takes the new size in place.
    #[test]
    fn a_front_device_grows_with_its_volume() {
        let m = with_db01();
        devices(
            &m,
            "L--w:1:baystack-db01\nL--w:0:tank-db01\n",
            "baystack-db01: 0 4194304 linear 252:4 0\ntank-db01: 0 4194304 thin 252:1 1\n",
        );
        let grown = ("db01", 4096, "Vwi-aotz--", "baystack_thin", "");
        m.then_lvs("lvextend", &[THIN[0], THIN[1], THIN[2], THIN[3], grown]);
        m.backend
            .resize_volume("tank", "db01", 4 << 30, &mut NoLog)
            .unwrap();
        let said = m
            .backend
            .set_front_device("tank", "db01", &mut NoLog)
            .unwrap();
        assert!(
            said.contains(
                "now maps all of tank/db01 (4 GiB, 252:4); it mapped 4194304 sectors of 252:4"
            ),
            "{said}"
        );
        let said = m
            .backend
            .set_front_device("tank", "db01", &mut NoLog)
            .unwrap();
        assert!(said.contains("already maps"), "{said}");
        insta::assert_snapshot!(m.calls());
        assert!(
            m.read("state/dm-table")
                .contains("baystack-db01: 0 8388608 linear 252:4 0")
        );
    }

    /// Left suspended (say by a resume that failed), it gets its table
    /// loaded again and resumed, even where the live table is right.
    #[test]
    fn a_suspended_front_device_is_resumed_and_a_failed_resume_is_a_failure() {
        let m = with_db01();
        devices(
            &m,
            "L-sw:1:baystack-db01\n",
            "baystack-db01: 0 4194304 linear 252:4 0\n",
        );
        m.on(
            "dmsetup",
            "resume",
            "echo 'device-mapper: resume ioctl on baystack-db01  failed: Invalid argument' >&2; echo 'Command failed.' >&2; exit 1\n",
        );
        let e = m
            .backend
            .set_front_device("tank", "db01", &mut NoLog)
            .unwrap_err();
        assert!(matches!(e, BackendError::Failed(_)), "{e:?}");
        m.on("dmsetup", "resume", "");
        m.backend
            .set_front_device("tank", "db01", &mut NoLog)
            .unwrap();
        let fronts = m.backend.front_devices(&mut NoLog).unwrap();
        assert!(!fronts[0].suspended);
        let calls = m.calls();
        let changes: Vec<&str> = calls
            .lines()
            .filter(|l| l.starts_with("dmsetup reload") || l.starts_with("dmsetup resume"))
            .collect();
        assert_eq!(
            changes,
            [
                "dmsetup reload baystack-db01 --table '0 4194304 linear 252:4 0'",
                "dmsetup resume baystack-db01",
                "dmsetup reload baystack-db01 --table '0 4194304 linear 252:4 0'",
                "dmsetup resume baystack-db01",
            ]
        );
    }

    /// Unexported: the front device goes first, then its volume.
    #[test]
    fn a_front_device_then_its_volume_are_removed() {
        let m = with_db01();
        devices(
            &m,
            "L--w:1:baystack-db01\n",
            "baystack-db01: 0 4194304 linear 252:4 0\n",
        );
        let e = m
            .backend
            .remove_front_device("db01", &mut NoLog)
            .unwrap_err();
        assert!(matches!(e, BackendError::Busy(_)), "{e:?}");
        assert!(
            e.to_string()
                .contains("still open (1 holders): is it exported?"),
            "{e}"
        );
        let e = m
            .backend
            .remove_volume("tank", "db01", &mut NoLog)
            .unwrap_err();
        assert!(matches!(e, BackendError::Busy(_)), "{e:?}");
        assert_eq!(
            m.calls().lines().filter(|l| l.contains("remove")).count(),
            0
        );
        // LIO let go.
        m.write("state/dm-info", "L--w:0:baystack-db01\n");
        let said = m.backend.remove_front_device("db01", &mut NoLog).unwrap();
        assert_eq!(said, "front device baystack-db01 removed");
        let said = m.backend.remove_front_device("db01", &mut NoLog).unwrap();
        assert_eq!(said, "there is already no front device baystack-db01");
        m.write(
            "state/lvs.json",
            &crate::storage::linux::fake::lvs_report(&[
                THIN[0],
                THIN[1],
                THIN[2],
                THIN[3],
                ("db01", 2048, "Vwi-a-tz--", "baystack_thin", ""),
            ]),
        );
        m.then_lvs("lvremove", &THIN);
        let said = m.backend.remove_volume("tank", "db01", &mut NoLog).unwrap();
        assert!(said.contains("logical volume db01 removed"), "{said}");
        insta::assert_snapshot!(m.calls());
    }

    #[test]
    fn no_front_device_for_what_is_not_there_or_not_a_volume() {
        let m = with_db01();
        for (vg, volume) in [
            ("tank", "db01.nightly"),
            ("tank", "baystack_thin"),
            ("baystack", "db01"),
        ] {
            let e = m
                .backend
                .set_front_device(vg, volume, &mut NoLog)
                .unwrap_err();
            assert!(
                matches!(e, BackendError::Refused(_)),
                "{vg}/{volume}: {e:?}"
            );
        }
        let e = m
            .backend
            .remove_front_device("Db01", &mut NoLog)
            .unwrap_err();
        assert!(matches!(e, BackendError::Refused(_)), "{e:?}");
        assert_eq!(m.calls(), "");
        let e = m
            .backend
            .set_front_device("tank", "web", &mut NoLog)
            .unwrap_err();
        assert!(matches!(e, BackendError::Gone(_)), "{e:?}");
    }

    /// After a bounce, a volume whose array was assembled where LVM did
    /// not activate it (as `lab-lvs-inactive.json`, captured in the lab
    /// after `vgchange -an`, lists it): it is activated, then mapped.
    #[test]
    fn an_inactive_volume_is_activated_before_its_front_device_is_made() {
        let m = Machine::tank(&[]);
        let report = |file: &str| fixture(file).replace("\"r1\"", "\"tank\"");
        m.write("state/lvs.json", &report("lvm/lab-lvs-inactive.json"));
        let keep =
            crate::storage::linux::lvm::parse::lvs(&report("lvm/lab-lvs-inactive.json")).unwrap();
        assert_eq!(keep[0].kernel_device, None, "{keep:?}");
        m.write("state/active.json", &report("lvm/lab-lvs-active.json"));
        m.on(
            "lvm",
            "lvchange",
            "cp \"$STATE/active.json\" \"$STATE/lvs.json\"\n",
        );
        let said = m
            .backend
            .set_front_device("tank", "keep", &mut NoLog)
            .unwrap();
        assert!(
            said.starts_with("pool tank: logical volume keep activated; pool tank: front device baystack-keep made over all of tank/keep (16 MiB, 252:0)"),
            "{said}"
        );
        let calls = m.calls();
        let changes: Vec<&str> = calls
            .lines()
            .filter(|l| l.starts_with("lvm lvchange") || l.starts_with("dmsetup create"))
            .collect();
        assert_eq!(
            changes,
            [
                "lvm lvchange --activate y tank/keep",
                "dmsetup create baystack-keep --uuid BAYSTACK-keep --table '0 32768 linear 252:0 0'",
            ]
        );
        // LVM that activates nothing: a failure, with nothing mapped.
        m.write("state/lvs.json", &report("lvm/lab-lvs-inactive.json"));
        m.write("state/dm-info", "");
        m.write("state/dm-table", "");
        m.on("lvm", "lvchange", "");
        let e = m
            .backend
            .set_front_device("tank", "keep", &mut NoLog)
            .unwrap_err();
        assert!(matches!(e, BackendError::Failed(_)), "{e:?}");
        assert!(e.to_string().contains("keep is still not active"), "{e}");
        assert!(!m.calls().contains("dmsetup create"));
    }
}

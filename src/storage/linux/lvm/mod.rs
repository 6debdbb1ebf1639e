//! LVM: physical volumes, volume groups and logical volumes from its JSON
//! reports, and the volume group a pool keeps on its array.
//!
//! A pool `tank` is one physical volume, its array `/dev/md/tank`, and one
//! volume group `tank` on it. LVM names the physical volume by the node the
//! link leads to (`/dev/md127`), so it is matched by that kernel name. As
//! for md, each change is idempotent and says when it was already so; a
//! failure before anything was changed is `Refused`, `Busy` or `Gone`.

pub mod argv;
pub mod parse;

use std::ffi::OsString;

use super::{LinuxBackend, change_failed, failure, of_pool, run_logged, said};
use crate::domain::pool::{PhysicalVolume, VolumeGroup};
use crate::naming::validate_pool_name;
use crate::storage::{BackendError, CommandLog, Volumes};

/// What LVM said on standard output, on one line (its progress goes there;
/// warnings go to standard error).
fn reported(out: &crate::storage::cmd::CommandOutput) -> String {
    out.stdout_text()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl LinuxBackend {
    /// Runs an `lvm` report and returns its JSON.
    fn lvm_report(
        &self,
        pool: Option<&str>,
        args: Vec<OsString>,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let spec = self.program("lvm")?.args(args);
        let out = run_logged(&spec, log)?;
        if !out.success() {
            return Err(BackendError::Refused(format!(
                "{}{}",
                of_pool(pool),
                failure(&spec, &out, &said(&out))
            )));
        }
        Ok(out.stdout_text())
    }

    fn physical_volumes(
        &self,
        pool: Option<&str>,
        log: &mut dyn CommandLog,
    ) -> Result<Vec<PhysicalVolume>, BackendError> {
        let text = self.lvm_report(pool, argv::pvs(), log)?;
        parse::pvs(&text)
            .map_err(|e| BackendError::Refused(format!("{}lvm pvs: {e}", of_pool(pool))))
    }

    fn groups(
        &self,
        pool: Option<&str>,
        log: &mut dyn CommandLog,
    ) -> Result<Vec<VolumeGroup>, BackendError> {
        let text = self.lvm_report(pool, argv::vgs(), log)?;
        parse::vgs(&text)
            .map_err(|e| BackendError::Refused(format!("{}lvm vgs: {e}", of_pool(pool))))
    }

    /// Runs an `lvm` command that changes something; what it reported.
    fn lvm_change(
        &self,
        name: &str,
        args: Vec<OsString>,
        changed_before: bool,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let spec = self.program("lvm")?.args(args);
        let out = run_logged(&spec, log)?;
        if !out.success() {
            return Err(change_failed(Some(name), &spec, &out, changed_before));
        }
        Ok(reported(&out))
    }
}

/// Whether physical volume `pv` is pool `name`'s array, kernel name `kname`.
fn on_array(pv: &PhysicalVolume, name: &str, kname: Option<&str>) -> bool {
    pv.name == format!("/dev/md/{name}")
        || kname.is_some_and(|k| pv.name.rsplit('/').next() == Some(k))
}

/// " (LVM: ...)", or nothing.
fn quoting(said: &str) -> String {
    if said.is_empty() {
        String::new()
    } else {
        format!(" (LVM: {said})")
    }
}

impl Volumes for LinuxBackend {
    fn volume_groups(&self, log: &mut dyn CommandLog) -> Result<Vec<VolumeGroup>, BackendError> {
        self.groups(None, log)
    }

    fn create_volume_group(
        &self,
        name: &str,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        validate_pool_name(name).map_err(BackendError::Refused)?;
        let kname = self.md_kernel_name(name).ok_or_else(|| {
            BackendError::Gone(format!(
                "pool {name}: its array /dev/md/{name} is not running"
            ))
        })?;
        let device = self.md_path(name);
        let pvs = self.physical_volumes(Some(name), log)?;
        let groups = self.groups(Some(name), log)?;
        let pv = pvs.iter().find(|p| on_array(p, name, Some(&kname)));
        if groups.iter().any(|g| g.name == name) {
            if pv.is_some_and(|p| p.vg.as_deref() == Some(name)) {
                return Ok(format!(
                    "pool {name}: volume group {name} is already on /dev/md/{name}"
                ));
            }
            let elsewhere: Vec<&str> = pvs
                .iter()
                .filter(|p| p.vg.as_deref() == Some(name))
                .map(|p| p.name.as_str())
                .collect();
            return Err(BackendError::Refused(format!(
                "pool {name}: a volume group {name} already exists on {}, not on /dev/md/{name}",
                if elsewhere.is_empty() {
                    "other devices".to_string()
                } else {
                    elsewhere.join(", ")
                }
            )));
        }
        let mut said = Vec::new();
        match pv.and_then(|p| p.vg.as_deref()) {
            Some(other) => {
                return Err(BackendError::Refused(format!(
                    "pool {name}: /dev/md/{name} is already a physical volume of volume group {other}"
                )));
            }
            None if pv.is_some() => {}
            None => said.push(self.lvm_change(name, argv::pvcreate(&device), false, log)?),
        }
        let changed = !said.is_empty();
        said.push(self.lvm_change(name, argv::vgcreate(name, &device), changed, log)?);
        said.retain(|s| !s.is_empty());
        Ok(format!(
            "pool {name}: volume group {name} made on /dev/md/{name}{}",
            quoting(&said.join(" "))
        ))
    }

    fn resize_physical_volume(
        &self,
        name: &str,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        validate_pool_name(name).map_err(BackendError::Refused)?;
        let kname = self.md_kernel_name(name);
        let before = self
            .physical_volumes(Some(name), log)?
            .into_iter()
            .find(|p| on_array(p, name, kname.as_deref()))
            .ok_or_else(|| {
                BackendError::Gone(format!(
                    "pool {name}: /dev/md/{name} is not a physical volume (is the array running?)"
                ))
            })?;
        self.lvm_change(name, argv::pvresize(&self.md_path(name)), false, log)?;
        let after = self
            .physical_volumes(Some(name), log)
            .map_err(|e| match e {
                BackendError::Refused(why) | BackendError::Gone(why) => BackendError::Failed(why),
                e => e,
            })?
            .into_iter()
            .find(|p| on_array(p, name, kname.as_deref()))
            .map_or(before.size_bytes, |p| p.size_bytes);
        if after == before.size_bytes {
            return Ok(format!(
                "pool {name}: the physical volume on /dev/md/{name} is already the array's size ({after} bytes)"
            ));
        }
        Ok(format!(
            "pool {name}: the physical volume on /dev/md/{name} grew from {} to {after} bytes",
            before.size_bytes
        ))
    }

    fn remove_volume_group(
        &self,
        name: &str,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        validate_pool_name(name).map_err(BackendError::Refused)?;
        let kname = self.md_kernel_name(name);
        let pvs = self.physical_volumes(Some(name), log)?;
        let groups = self.groups(Some(name), log)?;
        let pv = pvs.iter().find(|p| on_array(p, name, kname.as_deref()));
        let mut done = Vec::new();
        if let Some(group) = groups.iter().find(|g| g.name == name) {
            if group.lv_count > 0 {
                return Err(BackendError::Refused(format!(
                    "pool {name}: volume group {name} still holds {} logical volumes; remove them first",
                    group.lv_count
                )));
            }
            let others: Vec<&str> = pvs
                .iter()
                .filter(|p| p.vg.as_deref() == Some(name) && !on_array(p, name, kname.as_deref()))
                .map(|p| p.name.as_str())
                .collect();
            if !others.is_empty() || group.pv_count > 1 {
                return Err(BackendError::Refused(format!(
                    "pool {name}: volume group {name} is on {} as well as its array; it is not removed from here",
                    if others.is_empty() {
                        "other devices".to_string()
                    } else {
                        others.join(", ")
                    }
                )));
            }
            done.push(self.lvm_change(name, argv::vgremove(name), false, log)?);
        } else if let Some(other) = pv.and_then(|p| p.vg.as_deref()) {
            return Err(BackendError::Refused(format!(
                "pool {name}: /dev/md/{name} is a physical volume of volume group {other}, not {name}"
            )));
        }
        if pv.is_some() {
            let changed = !done.is_empty();
            done.push(self.lvm_change(name, argv::pvremove(&self.md_path(name)), changed, log)?);
        }
        if done.is_empty() {
            return Ok(format!(
                "pool {name}: there is already no volume group {name} and no physical volume on /dev/md/{name}"
            ));
        }
        let what = if done.len() == 2 {
            format!("volume group {name} and its physical volume removed")
        } else if pv.is_some() {
            format!(
                "the physical volume on /dev/md/{name} removed (there was no volume group {name})"
            )
        } else {
            format!("volume group {name} removed (its array was no physical volume)")
        };
        done.retain(|s| !s.is_empty());
        Ok(format!("pool {name}: {what}{}", quoting(&done.join(" "))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::NoLog;
    use crate::storage::linux::fake::{Machine, fixture};

    const NO_PVS: &str = r#"{"report": [{"pv": []}]}"#;
    const NO_VGS: &str = r#"{"report": [{"vg": []}]}"#;

    /// Pool `tank` as the lab left it: array md125, one PV, volume group
    /// `tank` with three volumes (lab-pvs.json, lab-vgs.json).
    fn tank() -> Machine {
        let m = Machine::new();
        m.write("dev/md125", "");
        m.md_link("tank", "md125");
        m.write("state/pvs.json", &fixture("lvm/lab-pvs.json"));
        m.write("state/vgs.json", &fixture("lvm/lab-vgs.json"));
        m
    }

    /// What the lab's reports become with the volumes gone (`lv_count` 0).
    fn emptied(m: &Machine) {
        let vgs = fixture("lvm/lab-vgs.json").replace("\"lv_count\":\"3\"", "\"lv_count\":\"0\"");
        m.write("state/vgs.json", &vgs);
    }

    #[test]
    fn volume_groups_from_the_report() {
        let m = tank();
        let groups = m.backend.volume_groups(&mut NoLog).unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!((groups[0].name.as_str(), groups[0].lv_count), ("tank", 3));
    }

    #[test]
    fn a_volume_group_is_made_once() {
        let m = tank();
        m.write("state/pvs.json", NO_PVS);
        m.write("state/vgs.json", NO_VGS);
        m.write("state/after-pvs", &fixture("lvm/lab-pvs.json"));
        m.write("state/after-vgs", &fixture("lvm/lab-vgs.json"));
        m.on(
            "lvm",
            "vgcreate",
            "cp \"$STATE/after-pvs\" \"$STATE/pvs.json\"; cp \"$STATE/after-vgs\" \"$STATE/vgs.json\"\n",
        );
        let said = m.backend.create_volume_group("tank", &mut NoLog).unwrap();
        assert!(
            said.contains("volume group tank made on /dev/md/tank"),
            "{said}"
        );
        let said = m.backend.create_volume_group("tank", &mut NoLog).unwrap();
        assert!(said.contains("already on /dev/md/tank"), "{said}");
        insta::assert_snapshot!(m.calls());
        // Without its array there is nothing to make it on.
        let e = m
            .backend
            .create_volume_group("other", &mut NoLog)
            .unwrap_err();
        assert!(matches!(e, BackendError::Gone(_)), "{e:?}");
    }

    #[test]
    fn a_physical_volume_of_another_group_is_not_taken() {
        let m = tank();
        m.write(
            "state/pvs.json",
            &fixture("lvm/lab-pvs.json").replace("\"vg_name\":\"tank\"", "\"vg_name\":\"other\""),
        );
        m.write("state/vgs.json", NO_VGS);
        let e = m
            .backend
            .create_volume_group("tank", &mut NoLog)
            .unwrap_err();
        assert!(matches!(e, BackendError::Refused(_)), "{e:?}");
        assert!(e.to_string().contains("volume group other"), "{e}");
        let e = m
            .backend
            .remove_volume_group("tank", &mut NoLog)
            .unwrap_err();
        assert!(matches!(e, BackendError::Refused(_)), "{e:?}");
        assert!(!m.calls().contains("create"));
    }

    #[test]
    fn a_group_with_volumes_is_not_removed_and_an_empty_one_once() {
        let m = tank();
        let e = m
            .backend
            .remove_volume_group("tank", &mut NoLog)
            .unwrap_err();
        assert!(matches!(e, BackendError::Refused(_)), "{e:?}");
        assert!(e.to_string().contains("3 logical volumes"), "{e}");
        emptied(&m);
        m.on(
            "lvm",
            "vgremove",
            &format!(
                "printf '%s' '{}' > \"$STATE/vgs.json\"; sed -i 's/\"vg_name\":\"tank\"/\"vg_name\":\"\"/' \"$STATE/pvs.json\"\n",
                NO_VGS
            ),
        );
        m.on(
            "lvm",
            "pvremove",
            &format!("printf '%s' '{NO_PVS}' > \"$STATE/pvs.json\"\n"),
        );
        let said = m.backend.remove_volume_group("tank", &mut NoLog).unwrap();
        assert!(
            said.contains("volume group tank and its physical volume removed"),
            "{said}"
        );
        let said = m.backend.remove_volume_group("tank", &mut NoLog).unwrap();
        assert!(said.contains("already no volume group"), "{said}");
        insta::assert_snapshot!(m.calls());
    }

    #[test]
    fn a_physical_volume_grows_with_its_array_and_says_when_it_had() {
        let m = tank();
        m.write(
            "state/bigger",
            &fixture("lvm/lab-pvs.json")
                .replace("\"pv_size\":\"62914560\"", "\"pv_size\":\"125829120\""),
        );
        m.on(
            "lvm",
            "pvresize",
            "cp \"$STATE/bigger\" \"$STATE/pvs.json\"\n",
        );
        let said = m
            .backend
            .resize_physical_volume("tank", &mut NoLog)
            .unwrap();
        assert!(
            said.contains("grew from 62914560 to 125829120 bytes"),
            "{said}"
        );
        let said = m
            .backend
            .resize_physical_volume("tank", &mut NoLog)
            .unwrap();
        assert!(
            said.contains("already the array's size (125829120 bytes)"),
            "{said}"
        );
        assert_eq!(
            m.calls()
                .lines()
                .filter(|l| l.contains("pvresize"))
                .collect::<Vec<_>>(),
            [
                "lvm pvresize ROOT/dev/md/tank",
                "lvm pvresize ROOT/dev/md/tank"
            ]
        );
    }
}

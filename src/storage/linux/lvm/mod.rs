//! LVM: physical volumes, volume groups and logical volumes from its JSON
//! reports, the volume group a pool keeps on its array, and the logical
//! volumes in it: volumes (thick, or thin in the thin pool
//! `baystack_thin`), their snapshots `<volume>.<snapshot>`, and a
//! rollback's `<volume>_old`.
//!
//! A pool `tank` is one physical volume, its array `/dev/md/tank`, and one
//! volume group `tank` on it. LVM names the physical volume by the node the
//! link leads to (`/dev/md127`), so it is matched by that kernel name. As
//! for md, each change is idempotent and says when it was already so; a
//! failure before anything was changed is `Refused`, `Busy` or `Gone`.
//! Every name is checked before any command runs; a name Baystack does not
//! make is refused. Volumes' front devices are in `super::dm`.

pub mod argv;
pub mod parse;

use std::ffi::OsString;

use super::LinuxBackend;
use crate::domain::pool::{LogicalVolume, PhysicalVolume, VolumeGroup};
use crate::domain::volume::{FrontDevice, THIN_POOL, size_words};
use crate::naming::{validate_pool_name, validate_volume_name};
use crate::storage::{BackendError, CommandLog, Volumes};

impl LinuxBackend {
    /// Runs an `lvm` report and reads it with `parse`.
    pub(in crate::storage::linux) fn lvm_report<T>(
        &self,
        pool: Option<&str>,
        args: Vec<OsString>,
        parse: fn(&str) -> Result<T, parse::LvmError>,
        log: &mut dyn CommandLog,
    ) -> Result<T, BackendError> {
        let command = args[0].to_string_lossy().into_owned();
        let text = self.run_report("lvm", pool, args, log)?;
        parse(&text).map_err(|e| {
            BackendError::Refused(format!("{}lvm {command}: {e}", super::of_pool(pool)))
        })
    }

    fn physical_volumes(
        &self,
        pool: Option<&str>,
        log: &mut dyn CommandLog,
    ) -> Result<Vec<PhysicalVolume>, BackendError> {
        self.lvm_report(pool, argv::pvs(), parse::pvs, log)
    }

    fn groups(
        &self,
        pool: Option<&str>,
        log: &mut dyn CommandLog,
    ) -> Result<Vec<VolumeGroup>, BackendError> {
        self.lvm_report(pool, argv::vgs(), parse::vgs, log)
    }

    /// Every logical volume of `vg` (validated), hidden ones too.
    pub(in crate::storage::linux) fn lvs_of(
        &self,
        vg: &str,
        log: &mut dyn CommandLog,
    ) -> Result<Vec<LogicalVolume>, BackendError> {
        self.lvm_report(Some(vg), argv::lvs(vg), parse::lvs, log)
    }

    /// Activates logical volume `vg/lv`; what LVM said.
    pub(in crate::storage::linux) fn activate_volume(
        &self,
        vg: &str,
        lv: &str,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        check_names(vg, &[lv])?;
        self.lvm_change(vg, argv::lvchange_activate(vg, lv), false, log)
    }

    /// Runs an `lvm` command that changes something; what it reported (its
    /// progress goes to standard output, warnings to standard error).
    pub(in crate::storage::linux) fn lvm_change(
        &self,
        name: &str,
        args: Vec<OsString>,
        changed_before: bool,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let out = self.run_change("lvm", Some(name), args, changed_before, log)?;
        Ok(out
            .stdout_text()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "))
    }
}

/// Refuses a volume group or logical volume name that Baystack does not
/// make, before any command: the pool's name, and for a logical volume a
/// volume's name, a snapshot's `<volume>.<snapshot>`, the thin pool, a
/// rollback's `<volume>_old`, or a replication point's `<volume>_r<seq>`.
pub(in crate::storage::linux) fn check_names(vg: &str, lvs: &[&str]) -> Result<(), BackendError> {
    validate_pool_name(vg).map_err(BackendError::Refused)?;
    for lv in lvs {
        let checked = if *lv == THIN_POOL {
            Ok(())
        } else if let Some((volume, _)) = lv
            .rsplit_once("_r")
            .filter(|(v, _)| crate::domain::replica::point_of(v, lv).is_some())
        {
            // A replication point: `<volume>_r<seq>`.
            validate_volume_name("volume", volume)
        } else if let Some((volume, snapshot)) = lv.split_once('.') {
            validate_volume_name("volume", volume)
                .and_then(|()| validate_volume_name("snapshot", snapshot))
        } else {
            validate_volume_name("volume", lv.strip_suffix("_old").unwrap_or(lv))
        };
        checked.map_err(|e| {
            BackendError::Refused(format!(
                "pool {vg}: {lv:?} is no logical volume Baystack makes: {e}"
            ))
        })?;
    }
    Ok(())
}

/// Refuses a size of nothing.
fn check_size(vg: &str, what: &str, bytes: u64) -> Result<(), BackendError> {
    if bytes == 0 {
        return Err(BackendError::Refused(format!(
            "pool {vg}: {what} needs a size of more than nothing"
        )));
    }
    Ok(())
}

fn find<'a>(lvs: &'a [LogicalVolume], name: &str) -> Option<&'a LogicalVolume> {
    lvs.iter().find(|l| l.name == name)
}

/// The `i`th character of a volume's `lv_attr`.
fn attr(lv: &LogicalVolume, i: usize) -> Option<char> {
    lv.attr.as_deref().and_then(|a| a.chars().nth(i))
}

/// A thin volume (`V`: its type in `lv_attr`), not a plain one.
fn is_thin(lv: &LogicalVolume) -> bool {
    attr(lv, 0) == Some('V')
}

fn thinness(thin: bool) -> &'static str {
    if thin { "thin" } else { "thick" }
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

    fn logical_volumes(
        &self,
        vg: &str,
        log: &mut dyn CommandLog,
    ) -> Result<Vec<LogicalVolume>, BackendError> {
        check_names(vg, &[])?;
        self.lvs_of(vg, log)
    }

    fn create_thin_pool(
        &self,
        vg: &str,
        size_bytes: u64,
        metadata_bytes: u64,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        check_names(vg, &[])?;
        check_size(vg, "a thin pool", size_bytes)?;
        check_size(vg, "a thin pool's metadata", metadata_bytes)?;
        let lvs = self.lvs_of(vg, log)?;
        if let Some(pool) = find(&lvs, THIN_POOL) {
            if attr(pool, 0) != Some('t') {
                return Err(BackendError::Refused(format!(
                    "pool {vg}: {vg}/{THIN_POOL} is there and is not a thin pool"
                )));
            }
            return Ok(format!(
                "pool {vg}: the thin pool {THIN_POOL} is already there ({})",
                size_words(pool.size_bytes)
            ));
        }
        let args = argv::lvcreate_thin_pool(vg, size_bytes, metadata_bytes);
        let said = self.lvm_change(vg, args, false, log)?;
        Ok(format!(
            "pool {vg}: thin pool {THIN_POOL} made, {} with {} of metadata{}",
            size_words(size_bytes),
            size_words(metadata_bytes),
            quoting(&said)
        ))
    }

    fn create_volume(
        &self,
        vg: &str,
        lv: &str,
        size_bytes: u64,
        thin: bool,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        check_names(vg, &[lv])?;
        check_size(vg, "a volume", size_bytes)?;
        if lv == THIN_POOL {
            return Err(BackendError::Refused(format!(
                "pool {vg}: {THIN_POOL} is the thin pool's name, not a volume's"
            )));
        }
        let kind = thinness(thin);
        let lvs = self.lvs_of(vg, log)?;
        if let Some(have) = find(&lvs, lv) {
            let had = thinness(is_thin(have));
            if had == kind && have.size_bytes >= size_bytes {
                return Ok(format!(
                    "pool {vg}: {kind} volume {lv} is already there ({})",
                    size_words(have.size_bytes)
                ));
            }
            return Err(BackendError::Refused(format!(
                "pool {vg}: there is already a {had} logical volume {lv} of {}; a {kind} one of {} was asked for",
                size_words(have.size_bytes),
                size_words(size_bytes)
            )));
        }
        if thin && find(&lvs, THIN_POOL).is_none() {
            return Err(BackendError::Refused(format!(
                "pool {vg}: there is no thin pool {THIN_POOL} to make thin volume {lv} in"
            )));
        }
        let said = self.lvm_change(vg, argv::lvcreate(vg, lv, size_bytes, thin), false, log)?;
        Ok(format!(
            "pool {vg}: {kind} volume {lv} of {} made{}",
            size_words(size_bytes),
            quoting(&said)
        ))
    }

    fn resize_volume(
        &self,
        vg: &str,
        lv: &str,
        size_bytes: u64,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        check_names(vg, &[lv])?;
        check_size(vg, "a volume", size_bytes)?;
        let lvs = self.lvs_of(vg, log)?;
        let have = find(&lvs, lv)
            .ok_or_else(|| {
                BackendError::Gone(format!("pool {vg}: there is no logical volume {lv}"))
            })?
            .size_bytes;
        // LVM takes whole MiB and rounds them up to whole extents.
        let extent = self
            .groups(Some(vg), log)?
            .iter()
            .find(|g| g.name == vg)
            .and_then(|g| g.extent_size_bytes)
            .unwrap_or(1 << 20)
            .max(1);
        let wanted = size_bytes.div_ceil(1 << 20).saturating_mul(1 << 20);
        let wanted = wanted.div_ceil(extent).saturating_mul(extent);
        match wanted.cmp(&have) {
            std::cmp::Ordering::Less => Err(BackendError::Refused(format!(
                "pool {vg}: {lv} is {} and a volume is never shrunk; {} was asked for",
                size_words(have),
                size_words(size_bytes)
            ))),
            std::cmp::Ordering::Equal => {
                Ok(format!("pool {vg}: {lv} is already {}", size_words(have)))
            }
            std::cmp::Ordering::Greater => {
                let said = self.lvm_change(vg, argv::lvextend(vg, lv, size_bytes), false, log)?;
                Ok(format!(
                    "pool {vg}: {lv} grown from {} to {}{}",
                    size_words(have),
                    size_words(wanted),
                    quoting(&said)
                ))
            }
        }
    }

    fn remove_volume(
        &self,
        vg: &str,
        lv: &str,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        check_names(vg, &[lv])?;
        let lvs = self.lvs_of(vg, log)?;
        let Some(have) = find(&lvs, lv) else {
            return Ok(format!(
                "pool {vg}: there is already no logical volume {lv}"
            ));
        };
        let thin = lvs
            .iter()
            .filter(|l| l.pool_lv.as_deref() == Some(lv))
            .count();
        if thin > 0 {
            return Err(BackendError::Refused(format!(
                "pool {vg}: the thin pool {lv} still holds {thin} thin volumes; remove them first"
            )));
        }
        // A thin pool's own layers hold it open: LVM judges that one.
        if lv != THIN_POOL && attr(have, 5) == Some('o') {
            return Err(BackendError::Busy(format!(
                "pool {vg}: logical volume {lv} is open: its front device, or something else, still uses it"
            )));
        }
        let said = self.lvm_change(vg, argv::lvremove(vg, lv), false, log)?;
        Ok(format!(
            "pool {vg}: logical volume {lv} removed{}",
            quoting(&said)
        ))
    }

    fn snapshot_volume(
        &self,
        vg: &str,
        origin: &str,
        new_lv: &str,
        active: bool,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        check_names(vg, &[origin, new_lv])?;
        let lvs = self.lvs_of(vg, log)?;
        if let Some(have) = find(&lvs, new_lv) {
            if have.origin.as_deref() == Some(origin) {
                return Ok(format!(
                    "pool {vg}: {new_lv} is already a snapshot of {origin}"
                ));
            }
            return Err(BackendError::Refused(format!(
                "pool {vg}: there is already a logical volume {new_lv}, and it is no snapshot of {origin}"
            )));
        }
        let from = find(&lvs, origin).ok_or_else(|| {
            BackendError::Gone(format!("pool {vg}: there is no logical volume {origin}"))
        })?;
        if !is_thin(from) {
            return Err(BackendError::Refused(format!(
                "pool {vg}: {origin} is not a thin volume; only thin volumes are snapshotted"
            )));
        }
        let args = argv::lvsnapshot(vg, origin, new_lv, active);
        let said = self.lvm_change(vg, args, false, log)?;
        Ok(format!(
            "pool {vg}: {new_lv} made, a snapshot of {origin}{}{}",
            if active { ", active" } else { "" },
            quoting(&said)
        ))
    }

    fn rename_volume(
        &self,
        vg: &str,
        from: &str,
        to: &str,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        check_names(vg, &[from, to])?;
        let lvs = self.lvs_of(vg, log)?;
        match (find(&lvs, from).is_some(), find(&lvs, to).is_some()) {
            (true, false) => {
                let said = self.lvm_change(vg, argv::lvrename(vg, from, to), false, log)?;
                Ok(format!("pool {vg}: {from} renamed {to}{}", quoting(&said)))
            }
            (false, true) => Ok(format!("pool {vg}: {from} is already renamed {to}")),
            (true, true) => Err(BackendError::Refused(format!(
                "pool {vg}: there are both {from} and {to}; {from} is not renamed over {to}"
            ))),
            (false, false) => Err(BackendError::Gone(format!(
                "pool {vg}: there is no logical volume {from} (nor {to})"
            ))),
        }
    }

    fn front_devices(&self, log: &mut dyn CommandLog) -> Result<Vec<FrontDevice>, BackendError> {
        self.fronts(log)
    }

    fn set_front_device(
        &self,
        vg: &str,
        volume: &str,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        self.set_front(vg, volume, log)
    }

    fn remove_front_device(
        &self,
        volume: &str,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        self.remove_front(volume, log)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::NoLog;
    use crate::storage::linux::fake::{Lv, Machine, THIN, fixture, lvs_report};

    const NO_PVS: &str = r#"{"report": [{"pv": []}]}"#;
    const NO_VGS: &str = r#"{"report": [{"vg": []}]}"#;

    /// What the lab's reports become with the volumes gone (`lv_count` 0).
    fn emptied(m: &Machine) {
        let vgs = fixture("lvm/lab-vgs.json").replace("\"lv_count\":\"3\"", "\"lv_count\":\"0\"");
        m.write("state/vgs.json", &vgs);
    }

    #[test]
    fn volume_groups_from_the_report() {
        let m = Machine::tank(&[]);
        let groups = m.backend.volume_groups(&mut NoLog).unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!((groups[0].name.as_str(), groups[0].lv_count), ("tank", 3));
    }

    #[test]
    fn a_volume_group_is_made_once() {
        let m = Machine::tank(&[]);
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
        let m = Machine::tank(&[]);
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
        let m = Machine::tank(&[]);
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
        let m = Machine::tank(&[]);
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

    const DB01: Lv = ("db01", 2048, "Vwi-a-tz--", "baystack_thin", "");

    #[test]
    fn a_thin_pool_and_a_thin_volume_are_made_once() {
        let m = Machine::tank(&[]);
        m.then_lvs("lvcreate", &THIN);
        let said = m
            .backend
            .create_thin_pool("tank", 1 << 30, 8 << 20, &mut NoLog)
            .unwrap();
        assert!(
            said.contains("thin pool baystack_thin made, 1 GiB with 8 MiB of metadata"),
            "{said}"
        );
        let said = m
            .backend
            .create_thin_pool("tank", 1 << 30, 8 << 20, &mut NoLog)
            .unwrap();
        assert!(said.contains("already there (1 GiB)"), "{said}");
        m.then_lvs("lvcreate", &[THIN[0], THIN[1], THIN[2], THIN[3], DB01]);
        let said = m
            .backend
            .create_volume("tank", "db01", 2 << 30, true, &mut NoLog)
            .unwrap();
        assert!(said.contains("thin volume db01 of 2 GiB made"), "{said}");
        let said = m
            .backend
            .create_volume("tank", "db01", 2 << 30, true, &mut NoLog)
            .unwrap();
        assert!(said.contains("thin volume db01 is already there"), "{said}");
        let lvs = m.backend.logical_volumes("tank", &mut NoLog).unwrap();
        let db01 = lvs.iter().find(|l| l.name == "db01").unwrap();
        assert_eq!(db01.kernel_device.as_deref(), Some("252:4"));
        assert_eq!(lvs.iter().filter(|l| l.hidden).count(), 3);
        insta::assert_snapshot!(m.calls());
    }

    #[test]
    fn a_thick_volume_is_made_once_and_not_taken_for_another() {
        let m = Machine::tank(&[]);
        // LVM rounds 1025 MiB up to whole 4 MiB extents.
        m.then_lvs("lvcreate", &[("web", 1028, "-wi-a-----", "", "")]);
        let mib = 1 << 20;
        let said = m
            .backend
            .create_volume("tank", "web", 1025 * mib, false, &mut NoLog)
            .unwrap();
        assert!(said.contains("thick volume web of 1 GiB made"), "{said}");
        let said = m
            .backend
            .create_volume("tank", "web", 1025 * mib, false, &mut NoLog)
            .unwrap();
        assert!(said.contains("already there (1 GiB)"), "{said}");
        insta::assert_snapshot!(m.calls());
        for (size, thin) in [(1025 * mib, true), (2048 * mib, false)] {
            let e = m
                .backend
                .create_volume("tank", "web", size, thin, &mut NoLog)
                .unwrap_err();
            assert!(matches!(e, BackendError::Refused(_)), "{e:?}");
            assert!(
                e.to_string()
                    .contains("there is already a thick logical volume web of 1 GiB"),
                "{e}"
            );
        }
        // No thin volume without the thin pool.
        let e = m
            .backend
            .create_volume("tank", "db01", mib, true, &mut NoLog)
            .unwrap_err();
        assert!(e.to_string().contains("no thin pool baystack_thin"), "{e}");
        assert!(!m.calls().contains("lvcreate"));
    }

    #[test]
    fn a_volume_grows_and_is_never_shrunk() {
        let m = Machine::tank(&[("web", 1028, "-wi-a-----", "", "")]);
        let mib = 1 << 20;
        // 1025 MiB is 1028 in whole extents: what it is.
        let said = m
            .backend
            .resize_volume("tank", "web", 1025 * mib, &mut NoLog)
            .unwrap();
        assert!(said.contains("web is already 1 GiB"), "{said}");
        let e = m
            .backend
            .resize_volume("tank", "web", 1024 * mib, &mut NoLog)
            .unwrap_err();
        assert!(matches!(e, BackendError::Refused(_)), "{e:?}");
        assert!(e.to_string().contains("a volume is never shrunk"), "{e}");
        m.then_lvs("lvextend", &[("web", 2048, "-wi-a-----", "", "")]);
        let said = m
            .backend
            .resize_volume("tank", "web", 2048 * mib, &mut NoLog)
            .unwrap();
        assert!(said.contains("web grown from 1 GiB to 2 GiB"), "{said}");
        let e = m
            .backend
            .resize_volume("tank", "gone", 2048 * mib, &mut NoLog)
            .unwrap_err();
        assert!(matches!(e, BackendError::Gone(_)), "{e:?}");
        insta::assert_snapshot!(m.calls());
    }

    #[test]
    fn a_volume_is_removed_once_and_not_while_open() {
        let open = ("db01", 2048, "Vwi-aotz--", "baystack_thin", "");
        let m = Machine::tank(&[THIN[0], THIN[1], THIN[2], THIN[3], open]);
        let e = m
            .backend
            .remove_volume("tank", "db01", &mut NoLog)
            .unwrap_err();
        assert!(matches!(e, BackendError::Busy(_)), "{e:?}");
        assert!(e.to_string().contains("db01 is open"), "{e}");
        let e = m
            .backend
            .remove_volume("tank", "baystack_thin", &mut NoLog)
            .unwrap_err();
        assert!(matches!(e, BackendError::Refused(_)), "{e:?}");
        assert!(e.to_string().contains("still holds 1 thin volumes"), "{e}");
        assert!(!m.calls().contains("lvremove"));
        m.write(
            "state/lvs.json",
            &lvs_report(&[THIN[0], THIN[1], THIN[2], THIN[3], DB01]),
        );
        m.then_lvs("lvremove", &THIN);
        let said = m.backend.remove_volume("tank", "db01", &mut NoLog).unwrap();
        assert!(said.contains("logical volume db01 removed"), "{said}");
        let said = m.backend.remove_volume("tank", "db01", &mut NoLog).unwrap();
        assert!(
            said.contains("there is already no logical volume db01"),
            "{said}"
        );
        insta::assert_snapshot!(m.calls());
        // LVM's own word that it is in use, should it open in between.
        m.on(
            "lvm",
            "lvremove",
            "echo '  Logical volume tank/baystack_thin in use.' >&2; exit 5\n",
        );
        let e = m
            .backend
            .remove_volume("tank", "baystack_thin", &mut NoLog)
            .unwrap_err();
        assert!(matches!(e, BackendError::Busy(_)), "{e:?}");
        // What LVM 2.03.16 says of a volume a device holds (the lab's
        // lvremove of a volume under its front device): busy too.
        m.write(
            "state/lvs.json",
            &lvs_report(&[THIN[0], THIN[1], THIN[2], THIN[3], DB01]),
        );
        m.write(
            "state/said",
            &fixture("lvm/lab-lvremove-in-use.stderr.txt").replace("r5/db", "tank/db01"),
        );
        m.on("lvm", "lvremove", "cat \"$STATE/said\" >&2; exit 5\n");
        let e = m
            .backend
            .remove_volume("tank", "db01", &mut NoLog)
            .unwrap_err();
        assert!(matches!(e, BackendError::Busy(_)), "{e:?}");
        assert!(e.to_string().contains("is used by another device"), "{e}");
    }

    /// A rollback as a job runs it: the volume set aside, its snapshot's
    /// own snapshot made the volume, active.
    #[test]
    fn snapshots_and_renames_once_each() {
        let nightly = ("db01.nightly", 2048, "Vwi---tz-k", "baystack_thin", "db01");
        let m = Machine::tank(&[THIN[1], DB01]);
        m.then_lvs("lvcreate", &[THIN[1], DB01, nightly]);
        let said = m
            .backend
            .snapshot_volume("tank", "db01", "db01.nightly", false, &mut NoLog)
            .unwrap();
        assert!(
            said.contains("db01.nightly made, a snapshot of db01"),
            "{said}"
        );
        let said = m
            .backend
            .snapshot_volume("tank", "db01", "db01.nightly", false, &mut NoLog)
            .unwrap();
        assert!(said.contains("already a snapshot of db01"), "{said}");
        let old = ("db01_old", 2048, "Vwi-a-tz--", "baystack_thin", "");
        let nightly_of_old = (
            "db01.nightly",
            2048,
            "Vwi---tz-k",
            "baystack_thin",
            "db01_old",
        );
        m.then_lvs("lvrename", &[THIN[1], old, nightly_of_old]);
        let said = m
            .backend
            .rename_volume("tank", "db01", "db01_old", &mut NoLog)
            .unwrap();
        assert!(said.contains("db01 renamed db01_old"), "{said}");
        let said = m
            .backend
            .rename_volume("tank", "db01", "db01_old", &mut NoLog)
            .unwrap();
        assert!(said.contains("already renamed db01_old"), "{said}");
        let back = ("db01", 2048, "Vwi-a-tz--", "baystack_thin", "db01.nightly");
        m.then_lvs("lvcreate", &[THIN[1], old, nightly_of_old, back]);
        let said = m
            .backend
            .snapshot_volume("tank", "db01.nightly", "db01", true, &mut NoLog)
            .unwrap();
        assert!(
            said.contains("db01 made, a snapshot of db01.nightly, active"),
            "{said}"
        );
        insta::assert_snapshot!(m.calls());
        // Not over another volume, not of a thick one, not renamed over one.
        let e = m
            .backend
            .snapshot_volume("tank", "db01_old", "db01", false, &mut NoLog)
            .unwrap_err();
        assert!(e.to_string().contains("no snapshot of db01_old"), "{e}");
        m.write(
            "state/lvs.json",
            &lvs_report(&[("web", 8, "-wi-a-----", "", ""), DB01]),
        );
        let e = m
            .backend
            .snapshot_volume("tank", "web", "web.nightly", false, &mut NoLog)
            .unwrap_err();
        assert!(e.to_string().contains("web is not a thin volume"), "{e}");
        let e = m
            .backend
            .rename_volume("tank", "web", "db01", &mut NoLog)
            .unwrap_err();
        assert!(matches!(e, BackendError::Refused(_)), "{e:?}");
        let e = m
            .backend
            .rename_volume("tank", "old", "new", &mut NoLog)
            .unwrap_err();
        assert!(matches!(e, BackendError::Gone(_)), "{e:?}");
        assert!(!m.calls().contains("lvcreate"));
    }

    #[test]
    fn names_baystack_does_not_make_are_refused_before_any_command() {
        let m = Machine::tank(&[]);
        for lv in ["db01", "db01.nightly", "baystack_thin", "db01_old"] {
            assert!(check_names("tank", &[lv]).is_ok(), "{lv}");
        }
        for (vg, lv) in [
            ("tank", "Db01"),
            ("tank", "db01_new"),
            ("tank", "db01.night.ly"),
            ("tank", "db01.Nightly"),
            ("tank", ".nightly"),
            ("tank", "db01_old_old"),
            ("tank", "snapshot1"),
            ("tank", "../db01"),
            ("tank", "-db01"),
            ("baystack", "db01"),
            ("tank/x", "db01"),
        ] {
            for e in [
                m.backend.create_volume(vg, lv, 1 << 20, false, &mut NoLog),
                m.backend.remove_volume(vg, lv, &mut NoLog),
                m.backend.rename_volume(vg, "db01", lv, &mut NoLog),
                m.backend.snapshot_volume(vg, "db01", lv, false, &mut NoLog),
            ] {
                assert!(
                    matches!(e, Err(BackendError::Refused(_))),
                    "{vg}/{lv}: {e:?}"
                );
            }
        }
        // Nor a volume of nothing, nor the thin pool as a volume.
        for e in [
            m.backend
                .create_volume("tank", "db01", 0, false, &mut NoLog),
            m.backend
                .create_volume("tank", "baystack_thin", 1 << 20, false, &mut NoLog),
            m.backend.create_thin_pool("tank", 1 << 30, 0, &mut NoLog),
        ] {
            assert!(matches!(e, Err(BackendError::Refused(_))), "{e:?}");
        }
        assert_eq!(m.calls(), "");
    }

    #[test]
    fn a_volume_group_that_is_not_there_is_gone() {
        let m = Machine::tank(&[]);
        m.on(
            "lvm",
            "lvs",
            "echo '  Volume group \"tank\" not found' >&2; echo '  Cannot process volume group tank' >&2; exit 5\n",
        );
        let e = m.backend.logical_volumes("tank", &mut NoLog).unwrap_err();
        assert!(matches!(e, BackendError::Gone(_)), "{e:?}");
        assert!(
            e.to_string().contains("Volume group \"tank\" not found"),
            "{e}"
        );
    }
}

//! The linux engine's enclosures: where a drive sits, and bay LEDs.

use super::*;
use crate::storage::Enclosures;

impl Enclosures for LinuxBackend {
    fn drive_bay(&self, ident: &str, log: &mut dyn CommandLog) -> Result<BayAddr, BackendError> {
        let disks = self.disks(log)?;
        let disk = disks.iter().find(|d| d.ident() == ident).ok_or_else(|| {
            BackendError::Gone(format!(
                "the drive {ident} is not attached now: lsblk lists no disk with that identity"
            ))
        })?;
        let seen = self.enclosures(&disks, false, log)?;
        let found = seen.iter().find_map(|e| {
            let s = e.enclosure.slot_holding(ident)?;
            Some(BayAddr::new(e.enclosure.ident.clone(), s.slot))
        });
        found.ok_or_else(|| {
            let looked = if seen.is_empty() {
                format!(
                    "this machine has no enclosure to hold it ({}/class/enclosure lists none \
                     and no SCSI device of type 13 answers SES)",
                    self.settings.sysfs_root.display()
                )
            } else {
                let labels: Vec<&str> = seen.iter().map(|e| e.enclosure.label.as_str()).collect();
                format!(
                    "none of the {} enclosure(s) here ({}) has a bay the kernel links to it \
                     or that reports its SAS address",
                    seen.len(),
                    labels.join(", ")
                )
            };
            let over = (disk.transport != crate::domain::Transport::Other)
                .then(|| disk.transport.as_str());
            let at = match (&disk.hctl, over) {
                (Some(h), Some(t)) => format!(" It is attached at SCSI address {h} ({t})."),
                (Some(h), None) => format!(" It is attached at SCSI address {h}."),
                (None, Some(t)) => format!(" It is attached over {t}."),
                (None, None) => String::new(),
            };
            BackendError::Gone(format!(
                "/dev/{} ({} {}) sits in no enclosure bay, so it has no identify LED to \
                 light: {looked}.{at}",
                disk.name,
                disk.model,
                disk.serial.as_deref().unwrap_or("without a serial"),
            ))
        })
    }

    fn set_led(
        &self,
        bay: &BayAddr,
        led: Led,
        on: bool,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let (enclosure, slot) = (bay.enclosure.as_str(), bay.slot);
        let seen = self.enclosures(&[], false, log)?;
        let e = seen
            .iter()
            .find(|e| e.enclosure.ident == enclosure)
            .ok_or_else(|| {
                BackendError::Gone(format!(
                    "there is no enclosure {enclosure} on this machine now"
                ))
            })?;
        if let Some(why) = &e.led_refusal {
            return Err(BackendError::Refused(why.clone()));
        }
        let control = e
            .enclosure
            .slots
            .iter()
            .zip(&e.controls)
            .find(|(s, _)| s.slot == slot)
            .map(|(_, c)| c)
            .ok_or_else(|| {
                BackendError::Gone(format!("enclosure {enclosure} has no slot {slot}"))
            })?;
        match control {
            // The path is built only from what sysfs itself lists: the
            // enclosure and component directories found by reading it.
            bays::Control::Sysfs { hctl, component } => {
                let path = self
                    .settings
                    .sysfs_root
                    .join("class/enclosure")
                    .join(hctl)
                    .join(component)
                    .join(led.as_str());
                if !path.exists() {
                    return Err(BackendError::Refused(format!(
                        "{} has no {} file: the kernel offers no {} for this bay",
                        path.parent().unwrap_or(&path).display(),
                        led.as_str(),
                        led.words()
                    )));
                }
                let value = if on { "1" } else { "0" };
                enclosure::write_attribute(&self.settings.sysfs_root, &path, value).map_err(
                    |why| {
                        BackendError::Failed(format!(
                            "writing {value} to {} failed: it {why}",
                            path.display()
                        ))
                    },
                )?;
                Ok(format!("wrote {value} to {}", path.display()))
            }
            bays::Control::SgSes { sg, address } => {
                let node = self.sg_node(sg)?;
                let element = match led {
                    Led::Locate => "ident",
                    Led::Fault => "fault",
                };
                let action = format!("--{}={element}", if on { "set" } else { "clear" });
                let spec = self
                    .tool("sg_ses")?
                    .arg(address.arg())
                    .arg(&action)
                    .arg(node.as_os_str());
                run_ok(&spec, log)?;
                Ok(format!("ran `{}`", spec.argv().join(" ")))
            }
        }
    }
}

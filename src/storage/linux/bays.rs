//! Which bays the `linux` backend sees and how it reaches each: through the
//! kernel's `ses` driver (`/sys/class/enclosure`) where that gives slot
//! numbers, else through `sg_ses` on the enclosure's generic SCSI node
//! (older kernels without `slot` files; the `ses` module not loaded). A
//! drive is placed by the kernel's `device` link, or where the kernel made
//! none, by the SAS address the enclosure reports for the slot.

use std::collections::HashMap;
use std::path::Path;

use super::enclosure::{self, SesDevice, SlotSource, SysEnclosure};
use super::lsblk::Disk;
use super::sg_ses::{self, Address};
use crate::domain::{Enclosure, EnclosureMethod, Slot};

/// How to reach one bay's LEDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// The component directory under `class/enclosure/<hctl>/`.
    Sysfs { hctl: String, component: String },
    /// `sg_ses <address> --set|--clear=… /dev/<sg>`.
    SgSes { sg: String, address: Address },
}

/// An enclosure as observed, with how each of its bays is reached (in the
/// order of `enclosure.slots`).
#[derive(Debug, Clone)]
pub struct Seen {
    pub enclosure: Enclosure,
    pub controls: Vec<Control>,
    /// Why no LED of this enclosure may be set now, if so.
    pub led_refusal: Option<String>,
}

/// Runs `sg_ses --join` on a generic SCSI node; `None` when sg_ses is not
/// installed, else its parsed output or why there is none.
pub type JoinFn<'a> = &'a dyn Fn(&str) -> Option<Result<sg_ses::Report, String>>;

/// Every drive's SAS addresses (from the SCSI layer, and its WWN, which is
/// the SAS address on targets that present one port) to its ident.
fn drives_by_address(sysfs: &Path, disks: &[Disk]) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for d in disks {
        for p in &d.paths {
            for a in enclosure::block_sas_addresses(sysfs, p) {
                map.insert(a, d.ident());
            }
        }
        if let Some(w) = &d.wwn {
            map.entry(w.to_ascii_lowercase())
                .or_insert_with(|| d.ident());
        }
    }
    map
}

fn placed(
    by_address: &HashMap<String, String>,
    element: Option<&sg_ses::Element>,
) -> Option<String> {
    element?
        .sas_addresses
        .iter()
        .find_map(|a| by_address.get(a).cloned())
}

fn label(vendor: &str, product: &str, hctl: &str) -> String {
    format!("{vendor} {product} ({hctl})")
}

/// Whether the kernel's view of an enclosure numbers its bays as the
/// enclosure does.
fn kernel_numbers_bays(e: &SysEnclosure) -> bool {
    !e.components.is_empty()
        && e.components
            .iter()
            .all(|c| c.slot_source == SlotSource::SlotFile)
}

fn from_sysfs(
    e: &SysEnclosure,
    disks: &[Disk],
    by_address: &HashMap<String, String>,
    join: Option<&sg_ses::Report>,
    note: Option<String>,
) -> Seen {
    let bays = join.map(sg_ses::Report::bays).unwrap_or_default();
    let mut slots = Vec::new();
    let mut controls = Vec::new();
    for c in &e.components {
        let linked = c
            .device
            .as_ref()
            .and_then(|dev| dev.block.as_ref())
            .and_then(|b| disks.iter().find(|d| d.paths.contains(b)))
            .map(Disk::ident);
        // Present but not linked: the enclosure's word on who is there.
        let drive = linked.or_else(|| {
            (!c.empty())
                .then(|| {
                    let el = bays.iter().find(|(n, _, _)| *n == c.slot).map(|b| b.2);
                    placed(by_address, el)
                })
                .flatten()
        });
        slots.push(Slot {
            slot: c.slot,
            label: c.name.clone(),
            status: c.status.clone(),
            drive,
            locate: c.locate,
            fault: c.fault,
        });
        controls.push(Control::Sysfs {
            hctl: e.hctl.clone(),
            component: c.name.clone(),
        });
    }
    Seen {
        enclosure: Enclosure {
            ident: e
                .id
                .clone()
                .or_else(|| join.and_then(|j| j.id.clone()))
                .unwrap_or_else(|| format!("scsi-{}", e.hctl)),
            vendor: e.vendor.clone(),
            product: e.product.clone(),
            label: label(&e.vendor, &e.product, &e.hctl),
            method: EnclosureMethod::Sysfs,
            note,
            slots,
            elements: join.map(sg_ses::Report::others),
        },
        controls,
        led_refusal: None,
    }
}

fn from_sg_ses(
    dev: &SesDevice,
    report: &sg_ses::Report,
    by_address: &HashMap<String, String>,
) -> Seen {
    let mut slots = Vec::new();
    let mut controls = Vec::new();
    for (number, address, el) in report.bays() {
        slots.push(Slot {
            slot: number,
            label: if el.descriptor.is_empty() {
                number.to_string()
            } else {
                el.descriptor.clone()
            },
            status: el.status.clone(),
            drive: if el.status == "not installed" {
                None
            } else {
                placed(by_address, Some(el))
            },
            locate: el.ident,
            fault: el.fault,
        });
        controls.push(Control::SgSes {
            sg: dev.sg.clone(),
            address,
        });
    }
    Seen {
        enclosure: Enclosure {
            ident: report
                .id
                .clone()
                .unwrap_or_else(|| format!("scsi-{}", dev.hctl)),
            vendor: dev.vendor.clone(),
            product: dev.product.clone(),
            label: label(&dev.vendor, &dev.product, &dev.hctl),
            method: EnclosureMethod::SgSes,
            note: None,
            slots,
            elements: Some(report.others()),
        },
        controls,
        led_refusal: None,
    }
}

/// Every enclosure on the machine rooted at `sysfs`, in SCSI address order;
/// with `parts`, each one's power supplies, fans and sensors too (which
/// only the pages give: one `sg_ses` run per enclosure). Without, the pages
/// are read only where the kernel's view of the bays needs them.
pub fn observe(
    sysfs: &Path,
    disks: &[Disk],
    join: JoinFn<'_>,
    parts: bool,
) -> Result<Vec<Seen>, String> {
    let kernel = enclosure::read_all(sysfs).map_err(|e| e.to_string())?;
    let devices = enclosure::ses_devices(sysfs);
    let by_address = drives_by_address(sysfs, disks);
    let mut seen: Vec<(Vec<u64>, Seen)> = Vec::new();
    for e in &kernel {
        let usable = kernel_numbers_bays(e);
        let unlinked = e
            .components
            .iter()
            .any(|c| !c.empty() && c.device.is_none());
        // The kernel shows bays only: power, fans and temperatures, and the
        // addresses of drives it did not link, come from the pages.
        let report = match &e.sg {
            Some(sg) if parts || !usable || unlinked => join(sg),
            _ => None,
        };
        let order = enclosure::hctl_order(&e.hctl);
        let dev = SesDevice {
            hctl: e.hctl.clone(),
            sg: e.sg.clone().unwrap_or_default(),
            vendor: e.vendor.clone(),
            product: e.product.clone(),
        };
        let mut entry = match report {
            Some(Ok(r)) if !usable && !r.bays().is_empty() => from_sg_ses(&dev, &r, &by_address),
            Some(Ok(r)) => from_sysfs(e, disks, &by_address, Some(&r), None),
            // The kernel's numbers are its own order, not the enclosure's:
            // an LED set by them could light the wrong bay.
            Some(Err(why)) if !usable => Seen {
                led_refusal: Some(format!(
                    "{why}; without it this enclosure's bay numbers are not known, so no LED \
                     is set until sg_ses works again"
                )),
                ..from_sysfs(e, disks, &by_address, None, Some(why))
            },
            Some(Err(why)) => from_sysfs(e, disks, &by_address, None, Some(why)),
            None if !usable => from_sysfs(
                e,
                disks,
                &by_address,
                None,
                Some(
                    "the kernel gives no slot numbers for this enclosure, so bays are numbered in \
                     the kernel's order; with sg_ses (package sg3-utils) Baystack reads the \
                     enclosure's own numbers"
                        .into(),
                ),
            ),
            None if !parts => from_sysfs(e, disks, &by_address, None, None),
            None => from_sysfs(
                e,
                disks,
                &by_address,
                None,
                Some(format!(
                    "{}, so its power supplies, fans and temperature sensors are not read",
                    match &e.sg {
                        Some(_) => "sg_ses (package sg3-utils) is not installed",
                        None => "the enclosure has no generic SCSI node (is the sg module loaded?)",
                    }
                )),
            ),
        };
        // What the kernel's view of it could not give, and why.
        if !e.notes.is_empty() {
            let notes: Vec<String> = entry
                .enclosure
                .note
                .take()
                .into_iter()
                .chain(e.notes.iter().cloned())
                .collect();
            entry.enclosure.note = Some(notes.join("; "));
        }
        seen.push((order, entry));
    }
    // Enclosures the `ses` driver has not registered (module not loaded).
    for dev in devices
        .iter()
        .filter(|d| !kernel.iter().any(|e| e.hctl == d.hctl))
    {
        let entry = match join(&dev.sg) {
            Some(Ok(r)) => from_sg_ses(dev, &r, &by_address),
            failed => {
                let why = match failed {
                    Some(Err(why)) => why,
                    _ => "the kernel's ses driver has not registered this enclosure and sg_ses \
                          (package sg3-utils) is not installed, so its bays cannot be read"
                        .into(),
                };
                Seen {
                    enclosure: Enclosure {
                        ident: format!("scsi-{}", dev.hctl),
                        vendor: dev.vendor.clone(),
                        product: dev.product.clone(),
                        label: label(&dev.vendor, &dev.product, &dev.hctl),
                        method: EnclosureMethod::SgSes,
                        note: Some(why),
                        slots: Vec::new(),
                        elements: None,
                    },
                    controls: Vec::new(),
                    led_refusal: None,
                }
            }
        };
        seen.push((enclosure::hctl_order(&dev.hctl), entry));
    }
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(seen.into_iter().map(|(_, s)| s).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the kernel's view of an enclosure could not give is said on
    /// the enclosure, after what is said of it already.
    #[test]
    fn what_the_sysfs_reader_refused_is_in_the_enclosures_note() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = std::fs::canonicalize(tmp.path()).unwrap();
        let sys = dir.join("sys");
        let copied = std::process::Command::new("cp")
            .arg("-a")
            .arg(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures/enclosure/sas2-expander"),
            )
            .arg(&sys)
            .status()
            .unwrap();
        assert!(copied.success());
        let outside = dir.join("outside");
        std::fs::write(&outside, "OK\n").unwrap();
        let status = sys.join("class/enclosure/0:0:15:0/Slot 02/status");
        std::fs::remove_file(&status).unwrap();
        std::os::unix::fs::symlink(&outside, &status).unwrap();
        let seen = observe(&sys, &[], &|_| None, true).unwrap();
        assert_eq!(
            seen[0].enclosure.note.as_deref(),
            Some(
                format!(
                    "sg_ses (package sg3-utils) is not installed, so its power supplies, fans \
                     and temperature sensors are not read; Slot 02/status leads to {}, outside \
                     {}, so it was not read",
                    outside.display(),
                    sys.display()
                )
                .as_str()
            )
        );
        let slot = &seen[0].enclosure.slots[1];
        assert_eq!(
            (slot.label.as_str(), slot.status.as_str()),
            ("Slot 02", "unknown")
        );
    }
}

//! Enclosures as the kernel's `ses` driver shows them under
//! `<sysfs>/class/enclosure` (see tests/fixtures/enclosure/README.md for the
//! layout and where each rule comes from).
//!
//! Each enclosure directory holds `components`, `id` (Linux 4.0 and later),
//! a `device` link to the SES device (with its `vendor` and `model`), and
//! one directory per component. A component is recognised by its `type`
//! file ("array device" or "device"), not by being a directory: `power/` and
//! the `device` link are directories too. Its name is the element descriptor
//! the enclosure gave (kept blanks, `/` turned into `!`, `-1` appended to a
//! duplicate) or, without one, its index.
//!
//! The bay number is the `slot` file where the kernel has one (from the
//! enclosure's additional element status, or the index where that has no
//! slot number). Older kernels have no `slot` file: then a component named
//! by its index gives the index, and a named one the number in its name.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// Where a bay's number came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotSource {
    /// The kernel's `slot` file.
    SlotFile,
    /// A component named by its element index (no `slot` file).
    Index,
    /// The number in the component's name (no `slot` file).
    Name,
}

/// The drive the kernel linked to a bay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlotDevice {
    /// SCSI address of the drive: `0:0:3:0`.
    pub hctl: String,
    /// Its block device: `sdd`.
    pub block: Option<String>,
    pub sas_address: Option<String>,
    pub wwid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Component {
    /// The component directory's name: "Slot 01", "SLOT 1", "7".
    pub name: String,
    pub slot: u32,
    pub slot_source: SlotSource,
    /// The element status: "OK", "not installed", "critical", ... (kept as
    /// the kernel prints it; some enclosures make it print "(null)").
    pub status: String,
    pub locate: bool,
    /// Any fault bit: requested (2) or sensed by the enclosure (4).
    pub fault: bool,
    pub device: Option<SlotDevice>,
}

impl Component {
    pub fn empty(&self) -> bool {
        self.status == "not installed"
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SysEnclosure {
    /// The SES device's SCSI address, the directory's name: `0:0:15:0`.
    pub hctl: String,
    /// The enclosure's logical identifier, `0x5003048001a2b33f` (Linux 4.0
    /// and later).
    pub id: Option<String>,
    pub vendor: String,
    pub product: String,
    /// The SES device's generic SCSI node (`sg15`), for `sg_ses`.
    pub sg: Option<String>,
    /// Bays in slot order.
    pub components: Vec<Component>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EnclosureError {
    #[error("{0} is not readable: {1}")]
    Unreadable(String, String),
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim_end_matches(['\n', '\0']).to_string())
}

fn read_trimmed(path: &Path) -> Option<String> {
    read(path)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn entries(dir: &Path) -> Result<Vec<(String, PathBuf)>, EnclosureError> {
    let unreadable =
        |e: std::io::Error| EnclosureError::Unreadable(dir.display().to_string(), e.to_string());
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        out.push((
            entry.file_name().to_string_lossy().into_owned(),
            entry.path(),
        ));
    }
    out.sort();
    Ok(out)
}

/// Every enclosure under `<sysfs>/class/enclosure`; none when the directory
/// does not exist (no `ses` driver loaded, or no enclosure attached).
pub fn read_all(sysfs: &Path) -> Result<Vec<SysEnclosure>, EnclosureError> {
    let class = sysfs.join("class/enclosure");
    if !class.exists() {
        return Ok(Vec::new());
    }
    read_class(&class)
}

/// The enclosures in a `class/enclosure` directory (or a copy of one).
pub fn read_class(class: &Path) -> Result<Vec<SysEnclosure>, EnclosureError> {
    let mut found: Vec<SysEnclosure> = entries(class)?
        .into_iter()
        .filter(|(_, path)| path.is_dir())
        .map(|(name, path)| read_one(&name, &path))
        .collect::<Result<_, _>>()?;
    found.sort_by_key(|e| hctl_order(&e.hctl));
    Ok(found)
}

/// SCSI addresses in order, number by number: 17:0:8:0 before 17:0:25:0.
pub fn hctl_order(hctl: &str) -> Vec<u64> {
    hctl.split(':')
        .map(|n| n.parse::<u64>().unwrap_or(u64::MAX))
        .collect()
}

/// An enclosure services device (SCSI peripheral type 13) as the SCSI
/// layer lists it, whether or not the `ses` driver has bound to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SesDevice {
    pub hctl: String,
    /// Its generic SCSI node: `sg15`.
    pub sg: String,
    pub vendor: String,
    pub product: String,
}

/// Every enclosure services device under `<sysfs>/class/scsi_generic`, in
/// SCSI address order. `sgN` resolves to `<H:C:T:L>/scsi_generic/sgN`; the
/// SCSI device's `type` says what it is.
pub fn ses_devices(sysfs: &Path) -> Vec<SesDevice> {
    let Ok(nodes) = entries(&sysfs.join("class/scsi_generic")) else {
        return Vec::new();
    };
    let mut found: Vec<SesDevice> = nodes
        .into_iter()
        .filter_map(|(sg, path)| {
            let dev = std::fs::canonicalize(&path)
                .ok()?
                .parent()?
                .parent()?
                .to_path_buf();
            if read_trimmed(&dev.join("type"))? != "13" {
                return None;
            }
            Some(SesDevice {
                hctl: dev.file_name()?.to_string_lossy().into_owned(),
                sg,
                vendor: read_trimmed(&dev.join("vendor")).unwrap_or_default(),
                product: read_trimmed(&dev.join("model")).unwrap_or_default(),
            })
        })
        .collect();
    found.sort_by_key(|d| hctl_order(&d.hctl));
    found
}

/// The SAS addresses of the SCSI device behind block device `block`
/// (`<sysfs>/class/block/<block>` resolves to `<H:C:T:L>/block/<block>`),
/// lower case with `0x`: the SAS transport's `sas_address` where the HBA
/// registers one, and the SAS target ports the device itself names in its
/// identification page (`vpd_pg83`), which is all there is behind HBAs
/// without the SAS transport. None off SAS.
pub fn block_sas_addresses(sysfs: &Path, block: &str) -> Vec<String> {
    let Some(dev) = std::fs::canonicalize(sysfs.join("class/block").join(block))
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.to_path_buf()))
    else {
        return Vec::new();
    };
    let mut found: Vec<String> = read_trimmed(&dev.join("sas_address"))
        .map(|a| a.to_ascii_lowercase())
        .into_iter()
        .collect();
    if let Ok(page) = std::fs::read(dev.join("vpd_pg83")) {
        for port in sas_target_ports(&page) {
            let a = format!("{port:#018x}");
            if !found.contains(&a) {
                found.push(a);
            }
        }
    }
    found
}

/// The SAS target port addresses in a Device Identification VPD page (0x83):
/// the designators the kernel's `ses` driver matches a slot by, NAA (type
/// 3), binary, associated with the target port, protocol SAS with PIV set.
pub fn sas_target_ports(page: &[u8]) -> Vec<u64> {
    let mut found = Vec::new();
    let end = page
        .get(2..4)
        .map_or(0, |l| 4 + u16::from_be_bytes([l[0], l[1]]) as usize)
        .min(page.len());
    let mut at = 4;
    while at + 4 <= end {
        let d = &page[at..];
        let len = d[3] as usize;
        let (proto, code_set) = (d[0] >> 4, d[0] & 0x0f);
        let (piv, assoc, kind) = (d[1] & 0x80 != 0, (d[1] >> 4) & 0x03, d[1] & 0x0f);
        if piv
            && proto == 6
            && code_set == 1
            && assoc == 1
            && kind == 3
            && len == 8
            && at + 12 <= end
        {
            found.push(u64::from_be_bytes(d[4..12].try_into().expect("8 bytes")));
        }
        at += 4 + len;
    }
    found
}

fn number_in(name: &str) -> Option<u32> {
    let digits: String = name
        .chars()
        .rev()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.chars().rev().collect::<String>().parse().ok()
}

fn read_one(hctl: &str, dir: &Path) -> Result<SysEnclosure, EnclosureError> {
    let mut components = Vec::new();
    for (name, path) in entries(dir)? {
        let Some(kind) = read(&path.join("type")) else {
            continue;
        };
        if kind != "array device" && kind != "device" {
            continue;
        }
        let (slot, slot_source) =
            match read_trimmed(&path.join("slot")).and_then(|s| s.parse().ok()) {
                Some(n) => (n, SlotSource::SlotFile),
                None => match name.parse() {
                    Ok(n) => (n, SlotSource::Index),
                    Err(_) => match number_in(&name) {
                        Some(n) => (n, SlotSource::Name),
                        // Numbered after the others below.
                        None => (u32::MAX, SlotSource::Name),
                    },
                },
            };
        let flag = |f: &str| {
            read_trimmed(&path.join(f))
                .and_then(|v| v.parse::<u32>().ok())
                .is_some_and(|v| v != 0)
        };
        components.push(Component {
            slot,
            slot_source,
            status: read(&path.join("status")).unwrap_or_else(|| "unknown".into()),
            locate: flag("locate"),
            fault: flag("fault"),
            device: linked_device(&path.join("device")),
            name,
        });
    }
    components.sort_by(|a, b| a.slot.cmp(&b.slot).then_with(|| a.name.cmp(&b.name)));
    // A named component without a number takes the next free one.
    let first_free = components
        .iter()
        .filter(|c| c.slot != u32::MAX)
        .map(|c| c.slot + 1)
        .max()
        .unwrap_or(0);
    for (c, n) in components
        .iter_mut()
        .filter(|c| c.slot == u32::MAX)
        .zip(first_free..)
    {
        c.slot = n;
    }
    let device = dir.join("device");
    let sg = entries(&device.join("scsi_generic"))
        .ok()
        .and_then(|e| e.into_iter().next().map(|(n, _)| n));
    Ok(SysEnclosure {
        hctl: hctl.to_string(),
        id: read_trimmed(&dir.join("id")),
        vendor: read_trimmed(&device.join("vendor")).unwrap_or_default(),
        product: read_trimmed(&device.join("model")).unwrap_or_default(),
        sg,
        components,
    })
}

fn linked_device(link: &Path) -> Option<SlotDevice> {
    let target = std::fs::canonicalize(link).ok()?;
    let hctl = target.file_name()?.to_string_lossy().into_owned();
    let block = entries(&target.join("block"))
        .ok()
        .and_then(|e| e.into_iter().next().map(|(n, _)| n));
    Some(SlotDevice {
        hctl,
        block,
        sas_address: read_trimmed(&target.join("sas_address")),
        wwid: read_trimmed(&target.join("wwid")),
    })
}

/// Bays as `GET /api/v1/bays` lists them, from the enclosure alone: the
/// drive in each is known by its kernel name and addresses only.
pub fn bays_json(enclosures: &[SysEnclosure]) -> serde_json::Value {
    let bays: Vec<serde_json::Value> = enclosures
        .iter()
        .flat_map(|e| {
            e.components.iter().map(move |c| {
                let state = if c.empty() {
                    "empty".to_string()
                } else if c.status == "OK" {
                    if c.device.is_some() {
                        "present"
                    } else {
                        "present, not linked"
                    }
                    .to_string()
                } else {
                    c.status.clone()
                };
                serde_json::json!({
                    "enclosure": e.id.clone().unwrap_or_else(|| e.hctl.clone()),
                    "enclosure_label": format!("{} {} ({})", e.vendor, e.product, e.hctl),
                    "slot": c.slot,
                    "label": c.name,
                    "status": c.status,
                    "state": state,
                    "locate": c.locate,
                    "fault": c.fault,
                    "drive": c.device.as_ref().map(|d| serde_json::json!({
                        "dev_name": d.block,
                        "hctl": d.hctl,
                        "sas_address": d.sas_address,
                        "wwid": d.wwid,
                    })),
                })
            })
        })
        .collect();
    serde_json::Value::Array(bays)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/enclosure")
    }

    /// Each tree read as a whole against the readings its README derives
    /// from the kernel's rules (`<tree>.expected.json`).
    #[test]
    fn every_fixture_tree_reads_as_expected() {
        for tree in [
            "sas2-expander",
            "sas-expander-old-kernel",
            "jbod-chain",
            "naming-quirks",
        ] {
            let read = read_all(&fixtures().join(tree)).unwrap();
            let expected: Value = serde_json::from_str(
                &std::fs::read_to_string(fixtures().join(format!("{tree}.expected.json"))).unwrap(),
            )
            .unwrap();
            let want = expected["enclosures"].as_array().unwrap();
            assert_eq!(read.len(), want.len(), "{tree}");
            for (got, want) in read.iter().zip(want) {
                assert_eq!(got.hctl, want["hctl"].as_str().unwrap(), "{tree}");
                assert_eq!(got.id.as_deref(), want["id"].as_str(), "{tree}");
                assert_eq!(got.sg.as_deref(), want["sg"].as_str(), "{tree}");
                let slots = want["slots"].as_array().unwrap();
                assert_eq!(got.components.len(), slots.len(), "{tree} {}", got.hctl);
                for w in slots {
                    let name = w["dir"].as_str().unwrap();
                    let c = got
                        .components
                        .iter()
                        .find(|c| c.name == name)
                        .unwrap_or_else(|| panic!("{tree}: no component {name:?}"));
                    let where_ = format!("{tree} {} {name:?}", got.hctl);
                    match w["slot"].as_u64() {
                        Some(s) => assert_eq!(
                            (c.slot as u64, c.slot_source),
                            (s, SlotSource::SlotFile),
                            "{where_}"
                        ),
                        None => assert_eq!(c.slot as u64, w["index"].as_u64().unwrap(), "{where_}"),
                    }
                    assert_eq!(c.status, w["status"].as_str().unwrap(), "{where_}");
                    assert_eq!(c.locate, w["locate"].as_u64() == Some(1), "{where_}");
                    assert_eq!(c.fault, w["fault"].as_u64().unwrap_or(0) != 0, "{where_}");
                    match &w["device"] {
                        Value::Null => assert_eq!(c.device, None, "{where_}"),
                        d => {
                            let got = c
                                .device
                                .as_ref()
                                .unwrap_or_else(|| panic!("{where_}: no device"));
                            assert_eq!(got.hctl, d["hctl"].as_str().unwrap(), "{where_}");
                            assert_eq!(got.block.as_deref(), d["block"].as_str(), "{where_}");
                            assert_eq!(
                                got.sas_address.as_deref(),
                                d["sas_address"].as_str(),
                                "{where_}"
                            );
                            assert_eq!(got.wwid.as_deref(), d["wwid"].as_str(), "{where_}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_real_world_differences() {
        let sas2 = read_all(&fixtures().join("sas2-expander")).unwrap();
        let e = &sas2[0];
        assert_eq!((e.vendor.as_str(), e.product.as_str()), ("LSI", "SAS2X36"));
        assert_eq!(e.components[0].name, "Slot 01");
        assert_eq!(e.components[0].slot, 1, "1-based slot, 0-based index");
        let unlinked = e.components.iter().find(|c| c.name == "Slot 15").unwrap();
        assert_eq!((unlinked.status.as_str(), &unlinked.device), ("OK", &None));
        assert!(e.components.iter().any(|c| c.empty()));
        let old = read_all(&fixtures().join("sas-expander-old-kernel")).unwrap();
        assert_eq!(old[0].id, None, "no id before Linux 4.0");
        assert!(
            old[0]
                .components
                .iter()
                .all(|c| c.slot_source == SlotSource::Index)
        );
        let chain = read_all(&fixtures().join("jbod-chain")).unwrap();
        assert_eq!(chain.len(), 2);
        assert_ne!(chain[0].id, chain[1].id);
        assert!(read_all(Path::new("/nonexistent")).unwrap().is_empty());
    }

    #[test]
    fn enclosure_services_devices_and_drive_addresses_from_the_scsi_layer() {
        let chain = ses_devices(&fixtures().join("jbod-chain"));
        let found: Vec<(&str, &str)> = chain
            .iter()
            .map(|d| (d.hctl.as_str(), d.sg.as_str()))
            .collect();
        assert_eq!(found, [("17:0:8:0", "sg8"), ("17:0:25:0", "sg25")]);
        let sas2 = fixtures().join("sas2-expander");
        assert_eq!(ses_devices(&sas2)[0].product, "SAS2X36");
        assert_eq!(block_sas_addresses(&sas2, "sda"), ["0x5000c5007a3b1c01"]);
        assert!(block_sas_addresses(&sas2, "nonexistent").is_empty());
    }

    /// A SAS disk's identification page names its logical unit, the port
    /// it is reached through, and its target device; only the port is the
    /// address an enclosure lists for the slot.
    #[test]
    fn the_sas_target_port_of_a_device_identification_page() {
        let mut page = vec![0x00, 0x83, 0x00, 0x00];
        page.extend([0x01, 0x03, 0, 8, 0x50, 0, 0xc5, 0, 0, 0xa1, 0xb0, 0x03]); // LU
        page.extend([0x61, 0x93, 0, 8, 0x50, 0, 0xc5, 0, 0, 0xa1, 0xb0, 0x01]); // port
        page.extend([0x61, 0x94, 0, 4, 0, 0, 0, 1]); // relative port
        page.extend([0x61, 0xa3, 0, 8, 0x50, 0, 0xc5, 0, 0, 0xa1, 0xb0, 0x00]); // device
        // LIO names its port by a SCSI name string instead: not an address.
        let name = b"naa.5000c50000a1b009,t,0x0001\0\0\0";
        page.extend([0x63, 0x98, 0, name.len() as u8]);
        page.extend(name);
        let len = (page.len() - 4) as u16;
        page[2..4].copy_from_slice(&len.to_be_bytes());
        assert_eq!(sas_target_ports(&page), [0x5000c50000a1b001]);
        // Cut short anywhere, it reads what is whole and no further: the
        // port designator ends at byte 28.
        for cut in 0..page.len() {
            let want = usize::from(cut >= 28);
            assert_eq!(sas_target_ports(&page[..cut]).len(), want, "cut at {cut}");
        }
        // As the guest kernel keeps it in sysfs for a drive of the lab's
        // emulated enclosures (tests/lab/guest/capture.sh).
        let captured = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/vpd/lab-emulated-sas-disk.vpd_pg83"),
        )
        .unwrap();
        assert_eq!(sas_target_ports(&captured), [0x5000c500b2c30001]);
    }
}

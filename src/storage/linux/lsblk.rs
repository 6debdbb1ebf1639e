//! The drives `lsblk -J -O -b` reports.
//!
//! util-linux before 2.33 printed every JSON value as a string ("1", "0",
//! "4000787030016"); later ones print numbers and booleans. Both are read.
//! Only whole disks count as drives: partitions, device-mapper and md
//! devices, loop devices and disks imported over iSCSI are not drives of
//! this appliance. A drive seen through two paths (multipath, dual-ported
//! SAS) is one drive, matched on its WWN.
//!
//! A disk being added or removed is left out until the next look, rather
//! than becoming a drive named only by its kernel name that would stay
//! behind as a phantom missing drive. Caught in the lab, while a disk is
//! deleted lsblk lists it with its size and nothing else: no bus
//! (`subsystems` null), no serial, no WWN. And a SATA, SAS or NVMe disk
//! always has a serial: one listed without a serial or a WWN is one udev
//! has not described yet, or has forgotten already.

use serde::Deserialize;
use serde_json::Value;

use crate::domain::Transport;

/// What lsblk says about one whole disk.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Disk {
    /// Kernel name: `sda`, `nvme0n1`, `vdb`.
    pub name: String,
    pub model: String,
    pub vendor: String,
    pub serial: Option<String>,
    /// Lower case, with its `0x` or `eui.` prefix as the kernel gives it.
    pub wwn: Option<String>,
    pub size_bytes: u64,
    pub rotational: bool,
    pub transport: Transport,
    /// SCSI address host:channel:target:lun, where the disk has one.
    pub hctl: Option<String>,
    /// Every kernel name the same drive has (more than one with multipath).
    pub paths: Vec<String>,
    /// What is written on it (see [`signatures`]).
    pub signatures: Vec<String>,
}

impl Disk {
    /// `wwn:<wwn>`, else `serial:<serial>`, else `dev:<name>` (a virtual
    /// disk with neither; that one changes if the kernel renames the disk).
    pub fn ident(&self) -> String {
        match (&self.wwn, &self.serial) {
            (Some(w), _) => format!("wwn:{w}"),
            (None, Some(s)) => format!("serial:{s}"),
            (None, None) => format!("dev:{}", self.name),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LsblkError {
    #[error("this is not lsblk JSON output: {0}")]
    NotJson(String),
    #[error("this JSON has no \"blockdevices\" list, so it is not `lsblk -J` output")]
    NoDevices,
}

#[derive(Deserialize)]
struct Output {
    blockdevices: Option<Vec<Value>>,
}

/// The disks in `lsblk -J -O -b` output, one per drive, in lsblk's order.
/// A device lsblk lists without a name or size is skipped, not fatal.
pub fn parse(text: &str) -> Result<Vec<Disk>, LsblkError> {
    let out: Output = serde_json::from_str(text).map_err(|e| LsblkError::NotJson(e.to_string()))?;
    let devices = out.blockdevices.ok_or(LsblkError::NoDevices)?;
    let mut disks: Vec<Disk> = Vec::new();
    for dev in &devices {
        let Some(disk) = disk(dev) else { continue };
        match disk
            .wwn
            .as_ref()
            .and_then(|w| disks.iter_mut().find(|d| d.wwn.as_ref() == Some(w)))
        {
            Some(seen) => seen.paths.push(disk.name),
            None => disks.push(disk),
        }
    }
    Ok(disks)
}

fn text(dev: &Value, key: &str) -> Option<String> {
    match dev.get(key)? {
        Value::String(s) => {
            let s = s.trim();
            (!s.is_empty()).then(|| s.to_string())
        }
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn number(dev: &Value, key: &str) -> Option<u64> {
    match dev.get(key)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn flag(dev: &Value, key: &str) -> Option<bool> {
    match dev.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => Some(n.as_u64() != Some(0)),
        Value::String(s) => match s.trim() {
            "1" | "true" => Some(true),
            "0" | "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Transports whose disks are not drives in this appliance.
const NOT_DRIVES: &[&str] = &["iscsi", "fc-nvme", "tcp", "rdma", "loop"];

fn disk(dev: &Value) -> Option<Disk> {
    if text(dev, "type").as_deref() != Some("disk") {
        return None;
    }
    let name = text(dev, "kname").or_else(|| text(dev, "name"))?;
    // An older lsblk has no such column; one that has it names the buses
    // behind every disk there is (`block:scsi:pci`).
    if dev.get("subsystems").is_some_and(Value::is_null) {
        return None;
    }
    let tran = text(dev, "tran").map(|t| t.to_ascii_lowercase());
    if tran.as_deref().is_some_and(|t| NOT_DRIVES.contains(&t)) {
        return None;
    }
    let subsystems = text(dev, "subsystems").unwrap_or_default();
    let transport = match tran.as_deref() {
        Some("sata") | Some("ata") => Transport::Sata,
        Some("sas") => Transport::Sas,
        Some("nvme") => Transport::Nvme,
        _ if name.starts_with("nvme") => Transport::Nvme,
        _ if subsystems.split(':').any(|s| s == "virtio") => Transport::Virtio,
        _ => Transport::Other,
    };
    let serial = text(dev, "serial");
    let wwn = text(dev, "wwn").map(|w| w.to_ascii_lowercase());
    let always_named = matches!(
        transport,
        Transport::Sata | Transport::Sas | Transport::Nvme
    );
    if always_named && serial.is_none() && wwn.is_none() {
        return None;
    }
    Some(Disk {
        model: text(dev, "model").unwrap_or_default(),
        vendor: text(dev, "vendor").unwrap_or_default(),
        serial,
        wwn,
        size_bytes: number(dev, "size")?,
        rotational: flag(dev, "rota").unwrap_or(false),
        transport,
        hctl: text(dev, "hctl"),
        paths: vec![name.clone()],
        signatures: signatures(dev, &name),
        name,
    })
}

/// What lsblk sees written on a disk and its partitions: its partition
/// table ("gpt partition table") and each signature a filesystem, RAID or
/// LVM probe found ("linux_raid_member on sdb", "ext4 on sdb1"). A disk in
/// use by md shows its member signature, and the md device is its child.
fn signatures(dev: &Value, name: &str) -> Vec<String> {
    let mut found = Vec::new();
    if let Some(pt) = text(dev, "pttype") {
        found.push(format!("{pt} partition table"));
    }
    if let Some(fs) = text(dev, "fstype") {
        found.push(format!("{fs} on {name}"));
    }
    let children = dev.get("children").and_then(Value::as_array);
    for child in children.into_iter().flatten().take(64) {
        let (Some(fs), Some(part)) = (
            text(child, "fstype"),
            text(child, "kname").or_else(|| text(child, "name")),
        ) else {
            continue;
        };
        // An md array or LVM volume above the disk is not written on it.
        if matches!(text(child, "type").as_deref(), Some("part") | None) {
            found.push(format!("{fs} on {part}"));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_lsblk_strings_and_multipath_are_read() {
        let text = r#"{"blockdevices": [
          {"name": "sda", "kname": "sda", "type": "disk", "size": "4000787030016", "rota": "1",
           "model": "ST4000NM0023    ", "vendor": "SEAGATE ", "serial": "Z1Z0ABCD", "wwn": "0x5000C500ABCDEF01", "tran": "sas", "hctl": "0:0:1:0"},
          {"name": "sda1", "kname": "sda1", "type": "part", "size": "4000785960960", "rota": "1"},
          {"name": "sdq", "kname": "sdq", "type": "disk", "size": "4000787030016", "rota": "1",
           "model": "ST4000NM0023", "vendor": "SEAGATE", "serial": "Z1Z0ABCD", "wwn": "0x5000c500abcdef01", "tran": "sas", "hctl": "1:0:1:0"},
          {"name": "sdz", "kname": "sdz", "type": "disk", "size": "107374182400", "rota": "1", "tran": "iscsi", "wwn": "0x6001405a95380a34"},
          {"name": "md0", "kname": "md0", "type": "raid5", "size": "8001574060032"},
          {"name": "vda", "kname": "vda", "type": "disk", "size": 268435456, "rota": true, "subsystems": "block:virtio:pci", "serial": null, "wwn": null}
        ]}"#;
        let disks = parse(text).unwrap();
        assert_eq!(disks.len(), 2, "{disks:#?}");
        let sas = &disks[0];
        assert_eq!(sas.size_bytes, 4_000_787_030_016);
        assert!(sas.rotational);
        assert_eq!(sas.model, "ST4000NM0023");
        assert_eq!(sas.transport, Transport::Sas);
        assert_eq!(sas.paths, vec!["sda", "sdq"], "one drive, two paths");
        assert_eq!(sas.ident(), "wwn:0x5000c500abcdef01");
        assert_eq!(disks[1].transport, Transport::Virtio);
        assert_eq!(disks[1].ident(), "dev:vda");
    }

    /// A real capture from the lab guest (util-linux 2.38): two AHCI SATA
    /// disks, two scsi_debug disks, two iSCSI LUNs the guest imported (not
    /// drives), eleven virtio disks carrying md and LVM.
    #[test]
    fn a_real_capture_lists_the_drives() {
        let path = format!(
            "{}/tests/fixtures/lsblk/qemu-lab-final.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let disks = parse(&std::fs::read_to_string(path).unwrap()).unwrap();
        let names: Vec<&str> = disks.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names.len(), 15, "{names:?}");
        assert!(
            !names.contains(&"sdd") && !names.contains(&"sde"),
            "iSCSI LUNs are not drives"
        );
        let sata = disks.iter().find(|d| d.name == "sdb").unwrap();
        assert_eq!(
            (
                sata.model.as_str(),
                sata.serial.as_deref(),
                sata.size_bytes,
                sata.transport
            ),
            (
                "LAB SATA DISK 0",
                Some("LABSD0"),
                134_217_728,
                Transport::Sata
            )
        );
        assert_eq!(sata.vendor, "ATA", "padding trimmed");
        let debug = disks.iter().find(|d| d.name == "sdc").unwrap();
        assert_eq!(debug.wwn.as_deref(), Some("0x3333333000006590"));
        assert!(!debug.rotational);
        let vda = disks.iter().find(|d| d.name == "vda").unwrap();
        assert_eq!(
            (vda.transport, vda.ident()),
            (Transport::Virtio, "serial:LABVD0".to_string())
        );
    }

    /// The lab's shelf as the guest's lsblk lists it (tests/lab/shelf):
    /// qemu's AHCI disks with and without a WWN, virtio disks with only a
    /// serial, and a scsi_debug disk (no transport lsblk knows).
    #[test]
    fn the_lab_shelf_as_lsblk_lists_it() {
        let path = format!(
            "{}/tests/fixtures/lsblk/lab-shelf-scsi-debug.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let disks = parse(&std::fs::read_to_string(path).unwrap()).unwrap();
        // The AHCI ports probe in any order: sda is not always the first.
        let mut seen: Vec<(String, Transport, u64)> = disks
            .iter()
            .map(|d| (d.ident(), d.transport, d.size_bytes))
            .collect();
        seen.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            seen,
            [
                ("serial:BAYSA0002".into(), Transport::Sata, 96 << 20),
                ("serial:BAYVD0001".into(), Transport::Virtio, 48 << 20),
                ("serial:BAYVD0002".into(), Transport::Virtio, 72 << 20),
                ("wwn:0x3333333000006590".into(), Transport::Other, 16 << 20),
                ("wwn:0x5000c500a1b2c301".into(), Transport::Sata, 64 << 20),
                ("wwn:0x5000c500a1b2c303".into(), Transport::Sata, 80 << 20),
            ]
        );
        let sata = disks
            .iter()
            .find(|d| d.serial.as_deref() == Some("BAYSA0001"))
            .unwrap();
        assert_eq!(
            (sata.model.as_str(), sata.vendor.as_str()),
            ("BAYLAB SSD 64", "ATA")
        );
        assert!(sata.hctl.is_some());
        let virtio = disks.iter().find(|d| d.name == "vda").unwrap();
        assert_eq!(virtio.model, "", "virtio-blk has no model");
    }

    /// Disks coming or going: sdc as lsblk listed it in the lab while
    /// the kernel deleted it (these fields verbatim, from `lsblk -J -O -b`
    /// run in a loop beside `echo 1 > device/delete`), and a SATA disk
    /// udev has not described (no serial, no WWN). Neither is a drive yet;
    /// a virtio disk without a serial still is one.
    #[test]
    fn a_disk_coming_or_going_is_left_out() {
        let text = r#"{"blockdevices": [
          {"name": "sda", "kname": "sda", "type": "disk", "size": 67108864, "rota": false, "tran": "sata", "serial": "BAYSA0001", "wwn": null, "hctl": "0:0:0:0", "subsystems": "block:scsi:pci"},
          {"name":"sdc","kname":"sdc","type":"disk","serial":null,"wwn":null,"tran":null,"hctl":null,"subsystems":null,"model":null,"vendor":null,"size":83886080,"rota":false},
          {"name": "sdd", "kname": "sdd", "type": "disk", "size": 83886080, "rota": false, "tran": "sata", "serial": null, "wwn": null, "hctl": "3:0:0:0", "model": "BAYLAB SSD 80"},
          {"name": "sde", "kname": "sde", "type": "disk", "size": 83886080, "tran": "sas", "serial": "", "wwn": null},
          {"name": "nvme0n1", "kname": "nvme0n1", "type": "disk", "size": 83886080, "tran": "nvme"},
          {"name": "vda", "kname": "vda", "type": "disk", "size": 50331648, "subsystems": "block:virtio:pci", "serial": null, "wwn": null}
        ]}"#;
        let names: Vec<String> = parse(text).unwrap().into_iter().map(|d| d.name).collect();
        assert_eq!(names, ["sda", "vda"]);
    }

    #[test]
    fn what_is_not_lsblk_says_so() {
        assert!(matches!(parse("NAME SIZE"), Err(LsblkError::NotJson(_))));
        assert_eq!(parse(r#"{"disks": []}"#), Err(LsblkError::NoDevices));
        // A truncated capture.
        assert!(matches!(
            parse(r#"{"blockdevices": [{"name": "sda""#),
            Err(LsblkError::NotJson(_))
        ));
    }

    /// What is written on a disk: an md member's signature, read from the
    /// lab's real capture, and nothing on a blank disk; an md array above
    /// a disk is not a signature on it.
    #[test]
    fn signatures_are_what_is_written_on_the_disk() {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/mdadm/lab-lsblk-md-members.json"),
        )
        .unwrap();
        let disks = parse(&text).unwrap();
        let of = |n: &str| {
            disks
                .iter()
                .find(|d| d.name == n)
                .unwrap()
                .signatures
                .clone()
        };
        assert_eq!(of("sda"), ["linux_raid_member on sda"]);
        assert!(of("sdb").is_empty());
        let dev = serde_json::json!({
            "name": "sdx", "type": "disk", "size": 1000, "pttype": "gpt",
            "children": [
                {"name": "sdx1", "type": "part", "fstype": "ext4"},
                {"name": "md0", "type": "raid1", "fstype": "LVM2_member"}
            ]
        });
        assert_eq!(
            signatures(&dev, "sdx"),
            ["gpt partition table", "ext4 on sdx1"]
        );
    }
}

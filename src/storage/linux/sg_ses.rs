//! `sg_ses --join` output: an enclosure's elements as sg3_utils decodes its
//! SES pages, each with its descriptor (page 7), status (page 2) and
//! additional status (page 0x0A: device slot number, SAS addresses). The
//! `linux` backend reads it where the kernel's `ses` driver gives no usable
//! bay data, and to place a drive the kernel did not link to its bay (see
//! tests/fixtures/sg_ses/README.md for the shapes met).
//!
//! An element starts with a line at the left margin:
//! `<descriptor> [<type index>,<element index>]  Element type: <type>`. The
//! descriptor may be empty (`[0,0]  Element type: …`) and may keep trailing
//! blanks; `[t,-1]` is a type's overall element. Lines before the first
//! element give the INQUIRY vendor/product (live devices only) and the
//! enclosure's logical identifier.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Element {
    /// The type header's index: `t` in `[t,e]`, for `--index=t,e`.
    pub type_index: u32,
    /// `e` in `[t,e]`; the overall elements (`-1`) are not kept.
    pub index: u32,
    /// "Array device slot", "Device slot", "Cooling", "Power supply", …
    pub element_type: String,
    /// The element descriptor, trailing blanks removed; empty when the
    /// enclosure gives none.
    pub descriptor: String,
    /// The status in the kernel's words ("OK", "not installed",
    /// "critical", …) so both methods read alike; "unknown" when missing.
    pub status: String,
    pub ident: bool,
    /// Fault requested or sensed.
    pub fault: bool,
    /// The device slot number from the additional element status, where
    /// the enclosure gives one (EIP=1).
    pub slot_number: Option<u32>,
    /// The SAS addresses of the device in the slot, one per phy, lower case
    /// with `0x`; none for an empty slot (address 0).
    pub sas_addresses: Vec<String>,
    /// What the element reads, in sg_ses's words: "49 C", "7500 rpm".
    pub readings: Vec<String>,
    /// Its failure and warning bits that are set, in sg_ses's words and
    /// order: "Fail", "AC fail", "OT warning".
    pub alarms: Vec<String>,
}

impl Element {
    pub fn is_bay(&self) -> bool {
        self.element_type == "Array device slot" || self.element_type == "Device slot"
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The primary enclosure's logical identifier as the kernel writes it
    /// in sysfs `id` (`0x…`, no leading zeros), so both methods name an
    /// enclosure alike.
    pub id: Option<String>,
    /// From the INQUIRY line a live device's output starts with.
    pub vendor: Option<String>,
    pub product: Option<String>,
    pub elements: Vec<Element>,
}

/// How a bay is addressed in `sg_ses --set/--clear`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Address {
    /// `--dev-slot-num=N`
    SlotNumber(u32),
    /// `--index=t,e`
    Index(u32, u32),
}

impl Address {
    pub fn arg(self) -> String {
        match self {
            Address::SlotNumber(n) => format!("--dev-slot-num={n}"),
            Address::Index(t, e) => format!("--index={t},{e}"),
        }
    }
}

impl Report {
    /// The bays with the number each is shown under and its address: the
    /// device slot numbers where every bay has a distinct one, else the
    /// element index (enclosures without page 0x0A or with EIP=0).
    pub fn bays(&self) -> Vec<(u32, Address, &Element)> {
        let bays: Vec<&Element> = self.elements.iter().filter(|e| e.is_bay()).collect();
        let mut numbers: Vec<u32> = bays.iter().filter_map(|e| e.slot_number).collect();
        numbers.sort_unstable();
        numbers.dedup();
        let by_slot_number = numbers.len() == bays.len();
        // Indices run on across the bay types (rare: both kinds present).
        let mut seen = 0u32;
        bays.into_iter()
            .map(|e| {
                let n = seen;
                seen += 1;
                match (by_slot_number, e.slot_number) {
                    (true, Some(s)) => (s, Address::SlotNumber(s), e),
                    _ => (n, Address::Index(e.type_index, e.index), e),
                }
            })
            .collect()
    }
}

impl Report {
    /// The elements that are not bays, as the console shows them; one
    /// without a descriptor is named by its type and index, as sg_ses's
    /// `--index` counts.
    pub fn others(&self) -> Vec<crate::domain::Element> {
        self.elements
            .iter()
            .filter(|e| !e.is_bay())
            .map(|e| crate::domain::Element {
                kind: e.element_type.clone(),
                name: if e.descriptor.is_empty() {
                    format!("{} {}", e.element_type, e.index)
                } else {
                    e.descriptor.clone()
                },
                status: e.status.clone(),
                detail: [&e.readings[..], &e.alarms[..]].concat().join(", "),
            })
            .collect()
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    #[error(
        "this is not `sg_ses --join` output: no element line (`<name> [t,e]  Element type: …`)"
    )]
    NoElements,
}

/// sg_ses's status words in the kernel's (`ses.c`), so a bay reads the same
/// whichever way it was read.
fn kernel_status(word: &str) -> String {
    match word {
        "Unsupported" => "unsupported",
        "OK" => "OK",
        "Critical" => "critical",
        "Noncritical" => "non-critical",
        "Unrecoverable" => "unrecoverable",
        "Not installed" => "not installed",
        "Unknown" => "unknown",
        "Not available" => "unavailable",
        "No access allowed" => "no access",
        other => return other.to_ascii_lowercase(),
    }
    .to_string()
}

/// The status bits, in sg_ses's words, that say an element (not a bay) has
/// failed or is about to.
const TROUBLE_BITS: &[&str] = &[
    "Predicted failure",
    "Fail",
    "AC fail",
    "DC fail",
    "Overtmp fail",
    "Temperature warn",
    "DC overvoltage",
    "DC undervoltage",
    "DC overcurrent",
    "OT failure",
    "OT warning",
    "UT failure",
    "UT warning",
    "Crit Over",
    "Crit Under",
    "Warn Over",
    "Warn Under",
];

/// `Slot 01 [0,3]  Element type: Array device slot` as its parts.
fn element_line(line: &str) -> Option<(String, u32, i64, String)> {
    if line.starts_with(char::is_whitespace) {
        return None;
    }
    let (head, kind) = line.split_once("  Element type: ")?;
    let open = head.rfind('[')?;
    let (t, e) = head[open + 1..].strip_suffix(']')?.split_once(',')?;
    Some((
        head[..open].trim_end().to_string(),
        t.trim().parse().ok()?,
        e.trim().parse().ok()?,
        kind.trim().to_string(),
    ))
}

/// `… Ident=1, …` as a flag; false where absent.
fn flag(line: &str, name: &str) -> Option<bool> {
    line.split(", ").find_map(|part| {
        let (k, v) = part.trim().split_once('=')?;
        (k == name).then(|| v.trim() == "1")
    })
}

pub fn parse(text: &str) -> Result<Report, ParseError> {
    let mut report = Report {
        id: None,
        vendor: None,
        product: None,
        elements: Vec::new(),
    };
    // The element being read, or None inside an overall element.
    let mut current: Option<Element> = None;
    let mut in_element = false;
    for line in text.lines() {
        if let Some((descriptor, t, e, kind)) = element_line(line) {
            report.elements.extend(current.take());
            in_element = true;
            // -1 is the overall element; an index past u32 is no element's
            // (`as` would wrap it round onto another's).
            if let Ok(index) = u32::try_from(e) {
                current = Some(Element {
                    type_index: t,
                    index,
                    element_type: kind,
                    descriptor,
                    status: "unknown".into(),
                    ident: false,
                    fault: false,
                    slot_number: None,
                    sas_addresses: Vec::new(),
                    readings: Vec::new(),
                    alarms: Vec::new(),
                });
            }
            continue;
        }
        let trimmed = line.trim();
        if !in_element {
            if let Some(hex) = trimmed.strip_prefix("Primary enclosure logical identifier (hex):") {
                report.id = u64::from_str_radix(hex.trim(), 16)
                    .ok()
                    .map(|v| format!("{v:#x}"));
            } else if report.vendor.is_none() && line.starts_with("  ") && !trimmed.is_empty() {
                // The INQUIRY line: vendor (8), product (16), revision (4),
                // each padded with blanks.
                let fields: Vec<&str> = trimmed.split_whitespace().collect();
                if fields.len() >= 2 && !trimmed.contains(':') {
                    report.vendor = Some(fields[0].to_string());
                    report.product = Some(fields[1..fields.len() - 1].join(" "));
                }
            }
            continue;
        }
        let Some(el) = current.as_mut() else { continue };
        if let Some((_, word)) = trimmed.split_once("status: ")
            && trimmed.starts_with("Predicted failure=")
        {
            el.status = kernel_status(word.trim());
        }
        if let Some(v) = flag(trimmed, "Ident") {
            el.ident = v;
        }
        for name in ["Fault sensed", "Fault reqstd"] {
            if flag(trimmed, name) == Some(true) {
                el.fault = true;
            }
        }
        for part in trimmed.split(", ").map(str::trim) {
            if let Some(t) = part.strip_prefix("Temperature=") {
                el.readings.push(t.to_string());
            } else if let Some(rpm) = part.strip_prefix("Actual speed=") {
                el.readings.push(rpm.to_string());
            } else if let Some((name, "1")) = part.split_once('=')
                && TROUBLE_BITS.contains(&name)
            {
                el.alarms.push(name.to_string());
            }
        }
        if let Some((_, n)) = trimmed.split_once("device slot number: ") {
            el.slot_number = n
                .trim()
                .parse()
                .ok()
                .filter(|n| *n <= super::enclosure::MAX_SLOT);
        }
        if let Some(addr) = trimmed.strip_prefix("SAS address: ") {
            let addr = addr.trim().to_ascii_lowercase();
            let value = addr
                .strip_prefix("0x")
                .and_then(|h| u64::from_str_radix(h, 16).ok());
            if value.is_some_and(|v| v != 0) && !el.sas_addresses.contains(&addr) {
                el.sas_addresses.push(addr);
            }
        }
    }
    report.elements.extend(current.take());
    if !in_element {
        return Err(ParseError::NoElements);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::path::Path;

    fn fixtures() -> &'static Path {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
    }

    fn join(tree: &str, hctl: &str) -> Report {
        let path = fixtures().join(format!(
            "sg_ses/fixtures/{tree}/{}.join.txt",
            hctl.replace(':', "_")
        ));
        parse(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    /// Every fixture enclosure, read through sg_ses, gives what the
    /// generator says page 0x0A and page 2 hold for each bay.
    #[test]
    fn join_output_matches_the_pages_of_every_fixture() {
        for tree in [
            "sas2-expander",
            "sas-expander-old-kernel",
            "jbod-chain",
            "naming-quirks",
        ] {
            let expected: Value = serde_json::from_str(
                &std::fs::read_to_string(
                    fixtures().join(format!("enclosure/{tree}.expected.json")),
                )
                .unwrap(),
            )
            .unwrap();
            for enclosure in expected["enclosures"].as_array().unwrap() {
                let hctl = enclosure["hctl"].as_str().unwrap();
                let report = join(tree, hctl);
                if let Some(id) = enclosure["id"].as_str() {
                    assert_eq!(report.id.as_deref(), Some(id), "{tree} {hctl}");
                }
                let bays = report.bays();
                let slots = enclosure["slots"].as_array().unwrap();
                assert_eq!(bays.len(), slots.len(), "{tree} {hctl}");
                for (want, (number, _, el)) in slots.iter().zip(&bays) {
                    let what = format!("{tree} {hctl} {}", want["dir"]);
                    assert_eq!(el.index as u64, want["index"].as_u64().unwrap(), "{what}");
                    let want_number = want["page10_slot"]
                        .as_u64()
                        .unwrap_or(want["index"].as_u64().unwrap());
                    assert_eq!(*number as u64, want_number, "{what}");
                    assert_eq!(
                        el.sas_addresses.first().map(String::as_str),
                        want["page10_sas_address"].as_str(),
                        "{what}"
                    );
                    assert_eq!(el.ident, want["locate"] != 0, "{what}");
                    assert_eq!(el.fault, want["fault"] != 0, "{what}");
                    // The kernel prints "(null)" for codes it has no word
                    // for; sg_ses names them.
                    if want["status"] != "(null)" {
                        assert_eq!(el.status, want["status"].as_str().unwrap(), "{what}");
                    }
                }
            }
        }
    }

    #[test]
    fn descriptors_and_addresses_as_the_enclosure_gives_them() {
        let r = join("sas2-expander", "0:0:15:0");
        let bays = r.bays();
        assert_eq!(bays[0].0, 1, "device slot numbers, not element indices");
        assert_eq!(bays[0].1, Address::SlotNumber(1));
        assert_eq!(bays[0].2.descriptor, "Slot 01");
        // Without page 0x0A slot numbers the element index addresses a bay.
        let q = join("naming-quirks", "2:0:4:0");
        assert_eq!(q.bays()[5].1, Address::Index(0, 5));
        assert_eq!(q.bays()[5].1.arg(), "--index=0,5");
        assert_eq!(q.bays()[4].2.descriptor, "", "no descriptor");
        // Other elements are kept with their names, trailing blanks gone.
        let jbod = join("jbod-chain", "17:0:25:0");
        assert!(
            jbod.elements
                .iter()
                .any(|e| e.element_type == "Cooling" && e.descriptor == "Fan 01")
        );
        assert!(jbod.elements.iter().any(|e| e.descriptor == "ENC. Temp"));
        assert_eq!(jbod.id.as_deref(), Some("0xd5b401503fc0ec16"));
    }

    /// Power, cooling and sensors as the console lists them: named, with
    /// what they read, and any failure bit that is set.
    #[test]
    fn elements_other_than_bays_with_their_readings() {
        let jbod = join("jbod-chain", "17:0:25:0");
        let others = jbod.others();
        assert!(others.iter().all(|e| e.kind != "Array device slot"));
        let find = |name: &str| others.iter().find(|e| e.name == name).unwrap();
        assert_eq!(
            (
                find("ENC. Temp").status.as_str(),
                find("ENC. Temp").detail.as_str()
            ),
            ("OK", "49 C")
        );
        assert_eq!(find("CPUFan").detail, "7500 rpm");
        assert_eq!(find("Fan 01").status, "not installed");
        assert_eq!(find("PowerSupply01").detail, "");
        let text = "Slot00 [0,0]  Element type: Array device slot\n  Enclosure Status:\n    Predicted failure=0, Disabled=0, Swap=0, status: OK\n[1,0]  Element type: Power supply\n  Enclosure Status:\n    Predicted failure=0, Disabled=0, Swap=0, status: Critical\n    Ident=0, Do not remove=0, DC overvoltage=0, DC undervoltage=0\n    DC overcurrent=0, Hot swap=0, Fail=1, Requested on=0, Off=0\n    Overtmp fail=0, Temperature warn=0, AC fail=1, DC fail=0\n";
        let psu = &parse(text).unwrap().others()[0];
        assert_eq!(psu.name, "Power supply 0", "no descriptor: type and index");
        assert_eq!(
            (psu.status.as_str(), psu.detail.as_str()),
            ("critical", "Fail, AC fail")
        );
        assert!(psu.trouble());
    }

    /// Real sg_ses on the lab's emulated 12-bay backplane (tests/lab/ses,
    /// profile smc-12bay): slot numbers that do not follow the
    /// descriptors, a failed fan.
    #[test]
    fn the_lab_backplane_as_real_sg_ses_decodes_it() {
        let text =
            std::fs::read_to_string(fixtures().join("sg_ses/lab-emulated/smc-12bay.join.txt"))
                .unwrap();
        let r = parse(&text).unwrap();
        assert_eq!(
            (r.vendor.as_deref(), r.product.as_deref()),
            (Some("SMC"), Some("SC826-P"))
        );
        assert_eq!(r.id.as_deref(), Some("0x5003048018a4c93f"));
        let bays = r.bays();
        let numbers: Vec<u32> = bays.iter().map(|b| b.0).collect();
        assert_eq!(numbers, [4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9]);
        assert_eq!(bays[0].2.descriptor, "Bay 1");
        assert_eq!(bays[0].1, Address::SlotNumber(4));
        assert_eq!(bays[0].2.sas_addresses, ["0x5000c500b2c30001"]);
        assert_eq!(bays[2].2.status, "not installed");
        assert!(bays[2].2.sas_addresses.is_empty());
        let others = r.others();
        let fan2 = others.iter().find(|e| e.name == "FAN2").unwrap();
        assert_eq!(
            (fan2.status.as_str(), fan2.detail.as_str()),
            ("critical", "0 rpm, Fail")
        );
        let temp = others.iter().find(|e| e.name == "BP Temp").unwrap();
        assert_eq!(
            (temp.kind.as_str(), temp.detail.as_str()),
            ("Temperature sensor", "28 C")
        );
        assert_eq!(others.iter().filter(|e| e.trouble()).count(), 1);
    }

    #[test]
    fn a_live_device_names_itself_first() {
        let text = "  LSI       SAS2X24           0e0b\n  Primary enclosure logical identifier (hex): 500304801f3c7a7f\nSlot00 [0,0]  Element type: Array device slot\n  Enclosure Status:\n    Predicted failure=0, Disabled=0, Swap=0, status: Not installed\n    Ready to insert=0, RMV=0, Ident=1, Report=0\n";
        let r = parse(text).unwrap();
        assert_eq!(r.vendor.as_deref(), Some("LSI"));
        assert_eq!(r.product.as_deref(), Some("SAS2X24"));
        assert_eq!(r.id.as_deref(), Some("0x500304801f3c7a7f"));
        assert_eq!(r.elements[0].status, "not installed");
        assert!(r.elements[0].ident);
    }

    /// An element index or a slot number too large for any enclosure is
    /// no number: it neither wraps round onto element 0 (whose LED
    /// `--index=0,0` would then set) nor numbers a bay.
    #[test]
    fn numbers_too_large_for_an_enclosure_are_no_numbers() {
        let bay = |name: &str, index: &str, slot: &str| {
            format!(
                "{name} [0,{index}]  Element type: Array device slot\n  Additional Element \
                 Status:\n    number of phys: 1, not all phys: 0, device slot number: {slot}\n"
            )
        };
        let text = [
            bay("Slot 00", "0", "0"),
            bay("Slot 01", "1", "4294967295"),
            bay("Slot 99", "4294967296", "2"),
        ]
        .concat();
        let r = parse(&text).unwrap();
        let indices: Vec<u32> = r.elements.iter().map(|e| e.index).collect();
        assert_eq!(indices, [0, 1], "{:?}", r.elements);
        assert_eq!(r.elements[1].slot_number, None);
        // Not every bay has a number: they are numbered by index.
        let numbers: Vec<u32> = r.bays().iter().map(|b| b.0).collect();
        assert_eq!(numbers, [0, 1]);
    }

    #[test]
    fn other_text_is_refused_and_truncation_reads_as_unknown() {
        assert_eq!(parse(""), Err(ParseError::NoElements));
        let aes = std::fs::read_to_string(
            fixtures().join("sg_ses/fixtures/sas2-expander/0_0_15_0.aes.txt"),
        )
        .unwrap();
        assert_eq!(parse(&aes), Err(ParseError::NoElements));
        let r = parse("Slot 01 [0,0]  Element type: Array device slot\n  Enclosure St").unwrap();
        assert_eq!(r.elements[0].status, "unknown");
    }
}

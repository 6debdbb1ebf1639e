//! The simulated appliance as it is first made: enclosures of the
//! configured layout, drives of a few real models with plausible SMART,
//! a few of them worn.

use super::*;

/// A small deterministic generator (splitmix64): the same seed makes the same
/// appliance on every machine, which keeps screenshots and tests stable.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chars(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| alphabet[self.below(alphabet.len() as u64) as usize] as char)
            .collect()
    }
}

pub(super) struct Model {
    pub(super) vendor: &'static str,
    pub(super) model: &'static str,
    pub(super) size_bytes: u64,
    pub(super) rotational: bool,
    pub(super) transport: Transport,
    pub(super) serial_prefix: &'static str,
    /// The first hex digits of the WWN: NAA 5 and the vendor's OUI.
    pub(super) wwn_prefix: &'static str,
}

pub(super) const MODELS: &[Model] = &[
    Model {
        vendor: "WDC",
        model: "WUH721816ALE6L4",
        size_bytes: 16_000_900_661_248,
        rotational: true,
        transport: Transport::Sata,
        serial_prefix: "2BK",
        wwn_prefix: "5000cca2",
    },
    Model {
        vendor: "SEAGATE",
        model: "ST12000NM001G",
        size_bytes: 12_000_138_625_024,
        rotational: true,
        transport: Transport::Sata,
        serial_prefix: "ZL2",
        wwn_prefix: "5000c500",
    },
    Model {
        vendor: "TOSHIBA",
        model: "MG09ACA18TE",
        size_bytes: 18_000_207_937_536,
        rotational: true,
        transport: Transport::Sata,
        serial_prefix: "X1",
        wwn_prefix: "50000399",
    },
    Model {
        vendor: "SEAGATE",
        model: "ST16000NM004J",
        size_bytes: 16_000_900_661_248,
        rotational: true,
        transport: Transport::Sas,
        serial_prefix: "ZR5",
        wwn_prefix: "5000c500",
    },
    Model {
        vendor: "SAMSUNG",
        model: "MZ7L3960HCJR",
        size_bytes: 960_197_124_096,
        rotational: false,
        transport: Transport::Sata,
        serial_prefix: "S6KN",
        wwn_prefix: "5002538e",
    },
];

const DIGITS_UPPER: &[u8] = b"0123456789ABCDEFGHJKLMNPRSTVWXYZ";
const HEX: &[u8] = b"0123456789abcdef";

fn smart_for(rng: &mut Rng, rotational: bool, worn: bool) -> Smart {
    let hours = 8_000 + rng.below(30_000) as i64;
    let temp = 28 + rng.below(12) as i32;
    let mut attrs = vec![
        SmartAttribute {
            id: 1,
            name: "Raw_Read_Error_Rate".into(),
            value: 100,
            worst: 100,
            thresh: 16,
            raw: 0,
            prefail: true,
        },
        SmartAttribute {
            id: 5,
            name: "Reallocated_Sector_Ct".into(),
            value: if worn { 98 } else { 100 },
            worst: if worn { 98 } else { 100 },
            thresh: 10,
            raw: if worn { 8 } else { 0 },
            prefail: true,
        },
        SmartAttribute {
            id: 9,
            name: "Power_On_Hours".into(),
            value: 96,
            worst: 96,
            thresh: 0,
            raw: hours as u64,
            prefail: false,
        },
        SmartAttribute {
            id: 194,
            name: "Temperature_Celsius".into(),
            value: (100 - temp) as u8,
            worst: 60,
            thresh: 0,
            raw: temp as u64,
            prefail: false,
        },
        SmartAttribute {
            id: 197,
            name: "Current_Pending_Sector".into(),
            value: 100,
            worst: 100,
            thresh: 0,
            raw: if worn { 2 } else { 0 },
            prefail: false,
        },
        SmartAttribute {
            id: 199,
            name: "UDMA_CRC_Error_Count".into(),
            value: 200,
            worst: 200,
            thresh: 0,
            raw: 0,
            prefail: false,
        },
    ];
    if rotational {
        attrs.insert(
            1,
            SmartAttribute {
                id: 3,
                name: "Spin_Up_Time".into(),
                value: 84,
                worst: 84,
                thresh: 1,
                raw: 300 + rng.below(100),
                prefail: true,
            },
        );
    }
    Smart {
        passed: Some(true),
        temperature_c: Some(temp),
        power_on_hours: Some(hours),
        attributes: attrs,
        ..Smart::default()
    }
}

/// Makes a new appliance: enclosure `e` has `layout[e]` bays, most holding
/// a drive, a few empty; one drive shows early wear.
pub(super) fn generate(layout: &[u32]) -> Inventory {
    let mut rng = Rng(0xBA75_7ACC);
    let mut inv = Inventory::default();
    let mut dev_index = 0usize;
    for (e, &bays) in (0u32..).zip(layout) {
        let ident = format!("50030480{}", rng.chars(HEX, 8));
        let label = if e == 0 {
            format!("Front {bays}-bay")
        } else {
            format!("JBOD {e} ({bays}-bay)")
        };
        let mut slots = Vec::new();
        // Leave roughly one bay in six empty, never the first.
        let empties: Vec<u32> = (0..bays).filter(|s| *s > 0 && s % 6 == 5).collect();
        for s in 0..bays {
            let mut slot = Slot {
                slot: s,
                label: format!("Slot{s:02}"),
                status: "Not installed".into(),
                drive: None,
                locate: false,
                fault: false,
            };
            if !empties.contains(&s) {
                let m = &MODELS[(e as usize * 7 + s as usize / 4) % MODELS.len()];
                let worn = e == 0 && s == 3;
                let drive = make_drive(&mut rng, m, worn, Some(dev_name(dev_index)));
                dev_index += 1;
                slot.status = "OK".into();
                slot.drive = Some(drive.ident.clone());
                inv.drives.push(drive);
            }
            slots.push(slot);
        }
        inv.enclosures.push(Enclosure {
            ident,
            vendor: "Baystack".into(),
            product: format!("Simulated {bays}-bay"),
            label,
            method: EnclosureMethod::Sim,
            note: None,
            slots,
            elements: Some(sim_elements()),
        });
    }
    inv
}

/// Two power supplies, three fans and two temperature sensors, all well
/// (`baystack sim element` makes one fail).
fn sim_elements() -> Vec<Element> {
    let el = |kind: &str, name: String, status: &str, detail: &str| Element {
        kind: kind.into(),
        name,
        status: status.into(),
        detail: detail.into(),
    };
    let mut out: Vec<Element> = (1..=2)
        .map(|n| el("Power supply", format!("PSU {n}"), "OK", ""))
        .collect();
    for n in 1..=3 {
        out.push(el("Cooling", format!("Fan {n}"), "OK", "5120 rpm"));
    }
    out.push(el("Temperature sensor", "Backplane".into(), "OK", "31 C"));
    out.push(el("Temperature sensor", "Expander".into(), "OK", "44 C"));
    out
}

pub(super) fn make_drive(rng: &mut Rng, m: &Model, worn: bool, dev_name: Option<String>) -> Drive {
    let serial = format!(
        "{}{}",
        m.serial_prefix,
        rng.chars(DIGITS_UPPER, 8 - m.serial_prefix.len().min(4))
    );
    let wwn = format!(
        "0x{}{}",
        m.wwn_prefix,
        rng.chars(HEX, 16 - m.wwn_prefix.len())
    );
    let by_id = match m.transport {
        Transport::Sata => format!("ata-{}_{}_{serial}", m.vendor, m.model),
        _ => format!("scsi-3{}", &wwn[2..]),
    };
    Drive {
        ident: Drive::ident_for(Some(&wwn), &serial),
        serial,
        wwn: Some(wwn),
        vendor: m.vendor.into(),
        model: m.model.into(),
        size_bytes: m.size_bytes,
        rotational: m.rotational,
        transport: m.transport,
        dev_name,
        by_id: Some(by_id),
        smart: Some(smart_for(rng, m.rotational, worn)),
        signatures: Vec::new(),
    }
}

/// `sda`, …, `sdz`, `sdaa`, … as the kernel names SCSI disks.
pub(super) fn dev_name(index: usize) -> String {
    let mut n = index + 1;
    let mut letters = Vec::new();
    while n > 0 {
        n -= 1;
        letters.push((b'a' + (n % 26) as u8) as char);
        n /= 26;
    }
    format!("sd{}", letters.iter().rev().collect::<String>())
}

/// What is left on a couple of the drives from an earlier life, so the
/// console has something to warn about before a pool destroys it: the
/// last filled bay of the first enclosure held an md member of another
/// box's array, the one before it a GPT-partitioned disk.
pub(super) fn old_signatures(
    inv: &Inventory,
) -> std::collections::BTreeMap<String, Vec<super::arrays::SimSignature>> {
    use super::arrays::SimSignature;
    let mut out = std::collections::BTreeMap::new();
    let Some(first) = inv.enclosures.first() else {
        return out;
    };
    let mut filled = first.slots.iter().rev().filter_map(|s| s.drive.as_ref());
    if let Some(ident) = filled.next() {
        out.insert(
            ident.clone(),
            vec![SimSignature {
                kind: "linux_raid_member".into(),
                offset: 0x1000,
                usage: "raid".into(),
                label: Some("oldnas:data".into()),
                uuid: Some("3f1c9a52-7e0b-4d6a-9c21-5b8e04d7a6f3".into()),
            }],
        );
    }
    if let Some(ident) = filled.next() {
        let size = inv
            .drives
            .iter()
            .find(|d| &d.ident == ident)
            .map_or(0, |d| d.size_bytes);
        let sig = |kind: &str, offset: u64| SimSignature {
            kind: kind.into(),
            offset,
            usage: "partition table".into(),
            label: None,
            uuid: None,
        };
        out.insert(
            ident.clone(),
            vec![
                sig("gpt", 0x200),
                sig("gpt", size.saturating_sub(0x200)),
                sig("PMBR", 0x1fe),
            ],
        );
    }
    out
}

//! LVM's JSON reports (`--reportformat json`): `pvs`, `vgs`, `lvs` and
//! `lvm fullreport`, into `domain::pool`.
//!
//! The backend runs them with `--units b --nosuffix`, so a size is a
//! number of bytes (`"796917760"`). The default human form (`"760.00m"`,
//! `"<1.82t"`: a lower-case unit is a power of 1024, an upper-case one of
//! 1000, `<` marks a rounded value) is read too, to the precision it is
//! printed with; so are values printed as JSON numbers
//! (`--reportformat json_std`). With `-o +all`, LVM prints some keys twice
//! in one object; the last one counts (they hold the same). `lvs -a` puts
//! a hidden volume's name in brackets (`[tpool_tdata]`): the name is kept
//! without them and the volume marked hidden. In `fullreport` each volume
//! group has a section of its own, and its PVs and LVs there do not name
//! it: they are given the section's.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::domain::pool::{LogicalVolume, PhysicalVolume, VolumeGroup};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LvmError {
    #[error("this is not LVM JSON output: {0}")]
    NotJson(String),
    #[error("this JSON has no \"report\" list, so it is not an LVM report (--reportformat json)")]
    NoReport,
    #[error("this is not {wanted} output: it is a report of {found}")]
    OtherReport { wanted: &'static str, found: String },
    /// A value LVM would not print.
    #[error("{0}")]
    Bad(String),
}

/// Everything one report gave; the lists it does not hold are empty.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Report {
    pub pvs: Vec<PhysicalVolume>,
    pub vgs: Vec<VolumeGroup>,
    pub lvs: Vec<LogicalVolume>,
}

/// Which command printed a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Pvs,
    Vgs,
    Lvs,
    Fullreport,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Pvs => "pvs",
            Kind::Vgs => "vgs",
            Kind::Lvs => "lvs",
            Kind::Fullreport => "fullreport",
        }
    }
}

type Object = Map<String, Value>;

/// The report's sections: one for `pvs`, `vgs` and `lvs`, one per volume
/// group for `fullreport`.
fn sections(text: &str) -> Result<Vec<Object>, LvmError> {
    let v: Value = serde_json::from_str(text).map_err(|e| LvmError::NotJson(e.to_string()))?;
    let report = v
        .get("report")
        .and_then(Value::as_array)
        .ok_or(LvmError::NoReport)?;
    report
        .iter()
        .map(|s| {
            s.as_object()
                .cloned()
                .ok_or_else(|| LvmError::Bad("a report section is not an object".into()))
        })
        .collect()
}

/// What a report holds, by the lists in its sections: `fullreport` has
/// `vg` with `pv`, `lv`, `pvseg` or `seg`; the others one list each.
fn kind_of(sections: &[Object]) -> Result<Kind, LvmError> {
    let mut lists: Vec<&str> = sections
        .iter()
        .flat_map(|s| s.keys().map(String::as_str))
        .collect();
    lists.sort_unstable();
    lists.dedup();
    let full = sections.iter().any(|s| s.contains_key("vg") && s.len() > 1)
        || lists.iter().any(|l| *l == "pvseg" || *l == "seg");
    match lists.as_slice() {
        _ if full => Ok(Kind::Fullreport),
        ["pv"] => Ok(Kind::Pvs),
        ["vg"] => Ok(Kind::Vgs),
        ["lv"] => Ok(Kind::Lvs),
        [] => Err(LvmError::Bad("the report has no sections".into())),
        other => Err(LvmError::Bad(format!(
            "the report holds {}, which no LVM command prints together",
            other.join(", ")
        ))),
    }
}

fn expect(sections: &[Object], wanted: Kind) -> Result<(), LvmError> {
    let found = kind_of(sections)?;
    if found != wanted {
        return Err(LvmError::OtherReport {
            wanted: wanted.as_str(),
            found: found.as_str().to_string(),
        });
    }
    Ok(())
}

/// The objects of list `key` in a section.
fn rows<'a>(section: &'a Object, key: &str) -> Result<Vec<&'a Object>, LvmError> {
    match section.get(key) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_object()
                    .ok_or_else(|| LvmError::Bad(format!("an entry of \"{key}\" is not an object")))
            })
            .collect(),
        Some(_) => Err(LvmError::Bad(format!("\"{key}\" is not a list"))),
    }
}

/// `pvs --reportformat json`.
pub fn pvs(text: &str) -> Result<Vec<PhysicalVolume>, LvmError> {
    let sections = sections(text)?;
    expect(&sections, Kind::Pvs)?;
    let mut out = Vec::new();
    for s in &sections {
        for row in rows(s, "pv")? {
            out.push(pv(row, None)?);
        }
    }
    Ok(out)
}

/// `vgs --reportformat json`.
pub fn vgs(text: &str) -> Result<Vec<VolumeGroup>, LvmError> {
    let sections = sections(text)?;
    expect(&sections, Kind::Vgs)?;
    let mut out = Vec::new();
    for s in &sections {
        for row in rows(s, "vg")? {
            out.push(vg(row)?);
        }
    }
    Ok(out)
}

/// `lvs --reportformat json` (with `-a` or without).
pub fn lvs(text: &str) -> Result<Vec<LogicalVolume>, LvmError> {
    let sections = sections(text)?;
    expect(&sections, Kind::Lvs)?;
    let mut out = Vec::new();
    for s in &sections {
        for row in rows(s, "lv")? {
            out.push(lv(row, None)?);
        }
    }
    Ok(out)
}

/// `lvm fullreport --reportformat json`: each volume group with its PVs
/// and LVs (its segment lists are not read).
pub fn fullreport(text: &str) -> Result<Report, LvmError> {
    let sections = sections(text)?;
    expect(&sections, Kind::Fullreport)?;
    let mut out = Report::default();
    for s in &sections {
        let vgs = rows(s, "vg")?;
        let [group] = vgs.as_slice() else {
            return Err(LvmError::Bad(format!(
                "a fullreport section holds {} volume groups, not one",
                vgs.len()
            )));
        };
        let group = vg(group)?;
        for row in rows(s, "pv")? {
            out.pvs.push(pv(row, Some(&group.name))?);
        }
        for row in rows(s, "lv")? {
            out.lvs.push(lv(row, Some(&group.name))?);
        }
        out.vgs.push(group);
    }
    Ok(out)
}

/// `lvs --reportformat json -o lv_name,thin_id`: each thin volume's (and
/// thin snapshot's) device id in its pool's metadata, what `thin_delta`
/// and `thin_dump` name it by; logical volumes with none are left out.
pub fn thin_ids(report: &str) -> Result<Vec<(String, u32)>, LvmError> {
    let sections = sections(report)?;
    expect(&sections, Kind::Lvs)?;
    let mut out = Vec::new();
    for s in &sections {
        for row in rows(s, "lv")? {
            let name = unbracket(&required_text(row, "lv_name")?);
            if text(row, "thin_id").is_none() {
                continue;
            }
            let id = count(row, "thin_id")?;
            if out.iter().any(|(n, _): &(String, u32)| *n == name) {
                return Err(LvmError::Bad(format!("{name} is listed twice")));
            }
            out.push((name, id));
        }
    }
    Ok(out)
}

/// Any of the four, told apart by what it holds.
pub fn any(text: &str) -> Result<(Kind, Report), LvmError> {
    let kind = kind_of(&sections(text)?)?;
    let report = match kind {
        Kind::Pvs => Report {
            pvs: pvs(text)?,
            ..Report::default()
        },
        Kind::Vgs => Report {
            vgs: vgs(text)?,
            ..Report::default()
        },
        Kind::Lvs => Report {
            lvs: lvs(text)?,
            ..Report::default()
        },
        Kind::Fullreport => fullreport(text)?,
    };
    Ok((kind, report))
}

fn pv(row: &Object, group: Option<&str>) -> Result<PhysicalVolume, LvmError> {
    let name = required_text(row, "pv_name")?;
    let size_bytes = size(row, "pv_size")?;
    let free_bytes = size(row, "pv_free")?;
    not_more(free_bytes, size_bytes, "pv_free", &name)?;
    Ok(PhysicalVolume {
        vg: text(row, "vg_name").or_else(|| group.map(str::to_string)),
        uuid: text(row, "pv_uuid"),
        size_bytes,
        free_bytes,
        attr: text(row, "pv_attr"),
        name,
    })
}

fn vg(row: &Object) -> Result<VolumeGroup, LvmError> {
    let name = required_text(row, "vg_name")?;
    let size_bytes = size(row, "vg_size")?;
    let free_bytes = size(row, "vg_free")?;
    not_more(free_bytes, size_bytes, "vg_free", &name)?;
    Ok(VolumeGroup {
        uuid: text(row, "vg_uuid"),
        size_bytes,
        free_bytes,
        extent_size_bytes: optional(row, "vg_extent_size", parse_size)?,
        pv_count: count(row, "pv_count")?,
        lv_count: count(row, "lv_count")?,
        attr: text(row, "vg_attr"),
        name,
    })
}

fn lv(row: &Object, group: Option<&str>) -> Result<LogicalVolume, LvmError> {
    let shown = required_text(row, "lv_name")?;
    let (name, hidden) = match shown.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        Some(inner) if !inner.is_empty() => (inner.to_string(), true),
        _ => (shown, false),
    };
    let vg = text(row, "vg_name")
        .or_else(|| group.map(str::to_string))
        .or_else(|| {
            text(row, "lv_full_name").and_then(|f| f.split_once('/').map(|(v, _)| v.to_string()))
        })
        .ok_or_else(|| LvmError::Bad(format!("logical volume {name} names no volume group")))?;
    let attr = text(row, "lv_attr");
    let active = match attr.as_deref().and_then(|a| a.chars().nth(4)) {
        Some('-' | 'h') => Some(false),
        Some('X') => None,
        Some(_) => Some(true),
        None => row
            .get("lv_active")
            .and_then(Value::as_str)
            .map(|s| s.trim() == "active"),
    };
    Ok(LogicalVolume {
        uuid: text(row, "lv_uuid"),
        size_bytes: size(row, "lv_size")?,
        layout: text(row, "lv_layout"),
        role: text(row, "lv_role"),
        pool_lv: text(row, "pool_lv").map(|p| unbracket(&p)),
        origin: text(row, "origin").map(|p| unbracket(&p)),
        data_percent: optional(row, "data_percent", percent)?,
        metadata_percent: optional(row, "metadata_percent", percent)?,
        active,
        hidden,
        path: text(row, "lv_path"),
        kernel_device: kernel_device(row)?,
        health: text(row, "lv_health_status"),
        attr,
        vg,
        name,
    })
}

/// `major:minor` of an active volume's device; LVM prints `-1` for both
/// when it has none.
fn kernel_device(row: &Object) -> Result<Option<String>, LvmError> {
    fn number(t: &str) -> Option<Option<u32>> {
        match t {
            "-1" => Some(None),
            _ if t.bytes().all(|b| b.is_ascii_digit()) => t.parse().ok().map(Some),
            _ => None,
        }
    }
    let major = optional(row, "lv_kernel_major", number)?.flatten();
    let minor = optional(row, "lv_kernel_minor", number)?.flatten();
    Ok(major
        .zip(minor)
        .map(|(major, minor)| format!("{major}:{minor}")))
}

fn unbracket(name: &str) -> String {
    name.strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name)
        .to_string()
}

fn not_more(free: u64, size: u64, key: &str, name: &str) -> Result<(), LvmError> {
    if free > size {
        return Err(LvmError::Bad(format!(
            "{name}: {key} {free} is more than its size {size}"
        )));
    }
    Ok(())
}

/// A value as text, trimmed (`"0 "` has a blank after it); `None` when
/// absent or empty.
fn text(row: &Object, key: &str) -> Option<String> {
    let s = match row.get(key)? {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

fn required_text(row: &Object, key: &str) -> Result<String, LvmError> {
    text(row, key).ok_or_else(|| LvmError::Bad(format!("an entry has no {key}")))
}

fn optional<T>(
    row: &Object,
    key: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<Option<T>, LvmError> {
    match text(row, key) {
        None => Ok(None),
        Some(t) => parse(&t)
            .map(Some)
            .ok_or_else(|| LvmError::Bad(format!("{key} is {t:?}, which LVM would not print"))),
    }
}

fn size(row: &Object, key: &str) -> Result<u64, LvmError> {
    optional(row, key, parse_size)?.ok_or_else(|| LvmError::Bad(format!("an entry has no {key}")))
}

fn count(row: &Object, key: &str) -> Result<u32, LvmError> {
    optional(row, key, |t| {
        if t.bytes().all(|b| b.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    })?
    .ok_or_else(|| LvmError::Bad(format!("an entry has no {key}")))
}

/// `10.94`: 0 to 100, at most two decimals as LVM prints it.
fn percent(t: &str) -> Option<f64> {
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() || int.len() > 3 || frac.len() > 6 {
        return None;
    }
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let p: f64 = t.parse().ok()?;
    (0.0..=100.0).contains(&p).then_some(p)
}

/// A size LVM printed, in bytes: `796917760` (`--units b --nosuffix`),
/// `760.00m`, `<1.82t`, `4.00k`, `512B`, `16s` (sectors). A lower-case
/// unit is a power of 1024, an upper-case one (but `B` and `S`) of 1000.
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim().trim_start_matches(['<', '>']);
    let (number, unit) = match t.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&t[..i], Some(c)),
        _ => (t, None),
    };
    let factor: u128 = match unit {
        None | Some('b' | 'B') => 1,
        Some('s' | 'S') => 512,
        Some(c) => {
            let power = "kmgtpe".find(c.to_ascii_lowercase())? as u32 + 1;
            let base: u128 = if c.is_ascii_lowercase() { 1024 } else { 1000 };
            base.pow(power)
        }
    };
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if int.is_empty()
        || int.len() > 20
        || frac.len() > 6
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let int: u128 = int.parse().ok()?;
    let scale = 10u128.pow(frac.len() as u32);
    let frac: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    let bytes = int * factor + (frac * factor + scale / 2) / scale;
    u64::try_from(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::linux::md::parse::mutation::{in_time, variants};

    fn fixture(file: &str) -> String {
        let path = format!("{}/tests/fixtures/lvm/{file}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn pvs_in_bytes_and_in_the_human_form_agree() {
        let bytes = pvs(&fixture("pvs-json-fields.txt")).unwrap();
        let human = pvs(&fixture("pvs-json.txt")).unwrap();
        assert_eq!(bytes.len(), 2);
        assert_eq!(
            bytes[0],
            PhysicalVolume {
                name: "/dev/md126".into(),
                vg: Some("vg_r6".into()),
                uuid: Some("LWzLGm-rlgZ-cQDw-U0nD-3H13-HqYk-htf0pY".into()),
                size_bytes: 528_482_304,
                free_bytes: 423_624_704,
                attr: Some("a--".into()),
            }
        );
        assert_eq!(bytes[1].name, "/dev/md127");
        assert_eq!(
            (bytes[1].size_bytes, bytes[1].free_bytes),
            (760 * MIB, 432 * MIB)
        );
        // "504.00m" is the same 528482304 bytes.
        assert_eq!(bytes, human);
    }

    #[test]
    fn vgs_in_bytes_and_in_the_human_form_agree() {
        let bytes = vgs(&fixture("vgs-json-fields.txt")).unwrap();
        let human = vgs(&fixture("vgs-json.txt")).unwrap();
        assert_eq!(
            bytes[0],
            VolumeGroup {
                name: "vg_r5".into(),
                uuid: Some("9W5InE-9NlC-y1hx-eXpx-y1sT-CBOG-IFQk52".into()),
                size_bytes: 760 * MIB,
                free_bytes: 432 * MIB,
                extent_size_bytes: Some(4 * MIB),
                pv_count: 1,
                lv_count: 3,
                attr: Some("wz--n-".into()),
            }
        );
        assert_eq!((bytes[1].name.as_str(), bytes[1].lv_count), ("vg_r6", 1));
        assert_eq!(bytes, human);
    }

    #[test]
    fn lvs_with_hidden_volumes_a_thin_pool_and_its_volume() {
        for file in ["lvs-json-fields.txt", "lvs-json.txt"] {
            let lvs = lvs(&fixture(file)).unwrap();
            let names: Vec<(&str, bool)> =
                lvs.iter().map(|l| (l.name.as_str(), l.hidden)).collect();
            assert_eq!(
                names,
                [
                    ("lvol0_pmspare", true),
                    ("tpool", false),
                    ("tpool_tdata", true),
                    ("tpool_tmeta", true),
                    ("vol_thick", false),
                    ("vol_thin", false),
                    ("vol_r6", false),
                ],
                "{file}"
            );
            let pool = &lvs[1];
            assert_eq!(pool.attr.as_deref(), Some("twi-aotz--"), "{file}");
            assert_eq!(
                (pool.data_percent, pool.metadata_percent),
                (Some(0.0), Some(10.94)),
                "{file}"
            );
            assert_eq!(
                (pool.size_bytes, pool.path.clone()),
                (200 * MIB, None),
                "{file}"
            );
            assert_eq!(pool.layout.as_deref(), Some("thin,pool"), "{file}");
            let thin = &lvs[5];
            assert_eq!(thin.pool_lv.as_deref(), Some("tpool"), "{file}");
            assert_eq!(thin.size_bytes, 400 * MIB, "{file}");
            assert_eq!(thin.path.as_deref(), Some("/dev/vg_r5/vol_thin"), "{file}");
            assert_eq!(thin.kernel_device.as_deref(), Some("252:5"), "{file}");
            assert_eq!(lvs[4].kernel_device.as_deref(), Some("252:0"), "{file}");
            assert_eq!(
                (thin.vg.as_str(), thin.active),
                ("vg_r5", Some(true)),
                "{file}"
            );
            // The pool metadata spare is not active: it has no device.
            assert_eq!(lvs[0].active, Some(false), "{file}");
            assert_eq!(lvs[0].kernel_device, None, "{file}");
            assert_eq!(lvs[6].vg, "vg_r6", "{file}");
            assert!(lvs.iter().all(|l| l.health.is_none()), "{file}");
        }
    }

    /// The lab's volumes as the backend made them (`lvs -a` of pool r5
    /// with a thick volume, the thin pool and a thin volume, and of pool
    /// r1's volume inactive, then active).
    #[test]
    fn the_lab_s_volumes() {
        let lvs = lvs(&fixture("lab-lvs-volumes.json")).unwrap();
        let names: Vec<(&str, bool, Option<&str>)> = lvs
            .iter()
            .map(|l| (l.name.as_str(), l.hidden, l.kernel_device.as_deref()))
            .collect();
        assert_eq!(
            names,
            [
                ("baystack_thin", false, Some("253:4")),
                ("baystack_thin_tdata", true, Some("253:3")),
                ("baystack_thin_tmeta", true, Some("253:2")),
                ("db", false, Some("253:0")),
                ("lvol0_pmspare", true, None),
                ("vm", false, Some("253:6")),
            ]
        );
        let vm = &lvs[5];
        assert_eq!(
            (vm.attr.as_deref(), vm.pool_lv.as_deref(), vm.size_bytes),
            (Some("Vwi-aotz--"), Some("baystack_thin"), 32 * MIB)
        );
        assert_eq!(lvs[3].attr.as_deref(), Some("-wi-ao----"));
        let inactive = super::lvs(&fixture("lab-lvs-inactive.json")).unwrap();
        assert_eq!(
            (inactive[0].active, inactive[0].kernel_device.as_deref()),
            (Some(false), None)
        );
        let active = super::lvs(&fixture("lab-lvs-active.json")).unwrap();
        assert_eq!(
            (active[0].active, active[0].kernel_device.as_deref()),
            (Some(true), Some("252:0"))
        );
    }

    #[test]
    fn a_fullreport_names_each_volume_group_once() {
        let r = fullreport(&fixture("fullreport-json.txt")).unwrap();
        let vgs: Vec<&str> = r.vgs.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(vgs, ["vg_r5", "vg_r6"]);
        // Its PVs and LVs do not name their group: the section does.
        let pvs: Vec<(&str, Option<&str>)> = r
            .pvs
            .iter()
            .map(|p| (p.name.as_str(), p.vg.as_deref()))
            .collect();
        assert_eq!(
            pvs,
            [("/dev/md127", Some("vg_r5")), ("/dev/md126", Some("vg_r6"))]
        );
        let lvs: Vec<(&str, &str)> = r
            .lvs
            .iter()
            .map(|l| (l.vg.as_str(), l.name.as_str()))
            .collect();
        assert_eq!(
            lvs,
            [
                ("vg_r5", "tpool"),
                ("vg_r5", "vol_thick"),
                ("vg_r5", "vol_thin"),
                ("vg_r6", "vol_r6")
            ]
        );
        assert_eq!(r.vgs, vgs_of("vgs-json-fields.txt"));
        assert_eq!(
            any(&fixture("fullreport-json.txt")).unwrap(),
            (Kind::Fullreport, r)
        );
    }

    fn vgs_of(file: &str) -> Vec<VolumeGroup> {
        vgs(&fixture(file)).unwrap()
    }

    #[test]
    fn each_report_is_told_apart_and_others_refused() {
        assert_eq!(any(&fixture("pvs-json.txt")).unwrap().0, Kind::Pvs);
        assert_eq!(any(&fixture("vgs-json-fields.txt")).unwrap().0, Kind::Vgs);
        assert_eq!(any(&fixture("lvs-json.txt")).unwrap().0, Kind::Lvs);
        assert_eq!(
            vgs(&fixture("lvs-json.txt")).unwrap_err().to_string(),
            "this is not vgs output: it is a report of lvs"
        );
        assert!(matches!(
            lvs(&fixture("lvs-plain.txt")),
            Err(LvmError::NotJson(_))
        ));
        assert_eq!(any("{\"blockdevices\": []}"), Err(LvmError::NoReport));
        assert!(
            any("{\"report\": []}")
                .unwrap_err()
                .to_string()
                .contains("no sections")
        );
        let over = fixture("pvs-json-fields.txt")
            .replace("\"pv_free\":\"423624704\"", "\"pv_free\":\"999999999999\"");
        assert!(
            pvs(&over)
                .unwrap_err()
                .to_string()
                .contains("more than its size")
        );
        let full = fixture("lvs-json-fields.txt").replace("\"10.94\"", "\"110.94\"");
        assert!(
            lvs(&full)
                .unwrap_err()
                .to_string()
                .contains("metadata_percent")
        );
        let odd = fixture("lvs-json-fields.txt")
            .replace("\"lv_kernel_minor\":\"5\"", "\"lv_kernel_minor\":\"-5\"");
        assert!(
            lvs(&odd)
                .unwrap_err()
                .to_string()
                .contains("lv_kernel_minor")
        );
    }

    #[test]
    fn sizes_in_every_form_lvm_prints() {
        for (text, bytes) in [
            ("796917760", Some(796_917_760)),
            ("760.00m", Some(760 * MIB)),
            ("<1.82t", Some(2_001_111_162_552)),
            ("1020.00k", Some(1_044_480)),
            ("0 ", Some(0)),
            ("16s", Some(8192)),
            ("1.5G", Some(1_500_000_000)),
            ("512B", Some(512)),
            ("", None),
            ("-1", None),
            ("1e9", None),
            ("18446744073709551616", None),
            ("99999999999999999999t", None),
            ("1.2.3m", None),
        ] {
            assert_eq!(parse_size(text), bytes, "{text:?}");
        }
    }

    /// Every capture spoiled every way: each parse returns in time, and
    /// what it gives holds together.
    #[test]
    fn lvm_mutation_loop() {
        let mut files: Vec<String> =
            std::fs::read_dir(format!("{}/tests/fixtures/lvm", env!("CARGO_MANIFEST_DIR")))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n.ends_with(".txt"))
                .collect();
        files.sort();
        for file in files {
            let text = fixture(&file);
            let tried = in_time(180, move || {
                let mut tried = 0;
                for (what, spoiled) in variants(&text) {
                    tried += 1;
                    let Ok((_, r)) = any(&spoiled) else { continue };
                    let case = format!("{file}, {what}");
                    for p in &r.pvs {
                        assert!(
                            p.free_bytes <= p.size_bytes && !p.name.is_empty(),
                            "{case}: {p:?}"
                        );
                    }
                    for v in &r.vgs {
                        assert!(
                            v.free_bytes <= v.size_bytes && !v.name.is_empty(),
                            "{case}: {v:?}"
                        );
                    }
                    for l in &r.lvs {
                        for pct in [l.data_percent, l.metadata_percent].into_iter().flatten() {
                            assert!((0.0..=100.0).contains(&pct), "{case}: {l:?}");
                        }
                        assert!(!l.name.is_empty() && !l.vg.is_empty(), "{case}: {l:?}");
                        if let Some(dev) = &l.kernel_device {
                            let (major, minor) = dev.split_once(':').unwrap();
                            assert!(
                                major.parse::<u32>().is_ok() && minor.parse::<u32>().is_ok(),
                                "{case}: {l:?}"
                            );
                        }
                    }
                }
                tried
            });
            assert!(tried > 10);
        }
    }
}

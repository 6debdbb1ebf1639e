//! What `dmsetup` prints of its devices: `info -c` in the columns
//! `argv::INFO_FIELDS` asks for, and `table`; together, Baystack's front
//! devices.
//!
//! With no device at all, both print `No devices found`. `table` puts each
//! line of a device's table after its name and `: ` (`vg_r5-vol_thick: 0
//! 245760 linear 9:127 2304`); a device with no live table gets its name
//! alone. Only devices named `baystack-*` are read into front devices;
//! the others' lines are still read, so output that is not dmsetup's is
//! refused.

use crate::domain::volume::FrontDevice;

/// What dmsetup prints instead of an empty listing.
const NONE: &str = "No devices found";

/// One device as `dmsetup info -c --noheadings --separator : -o
/// attr,open,name` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    pub name: String,
    /// Whether it is suspended: `s`, the third character of its
    /// attributes (`L--w`: (L)ive table, (I)nactive table, (s)uspended,
    /// (r)ead-only or read-(w)rite).
    pub suspended: bool,
    /// How many hold it open.
    pub open: u32,
}

/// One line of a device's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub start: u64,
    pub sectors: u64,
    pub target: String,
    /// The target's own arguments, blanks between them made single.
    pub args: Vec<String>,
}

/// The lines of a listing, or none for dmsetup's `No devices found`.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let text = if text.trim() == NONE { "" } else { text };
    text.lines().filter(|l| !l.trim().is_empty())
}

fn number<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what} {text:?} is not a number"));
    }
    text.parse()
        .map_err(|_| format!("{what} {text:?} is out of range"))
}

/// `dmsetup info -c --noheadings --separator : -o attr,open,name`.
pub fn info(text: &str) -> Result<Vec<Info>, String> {
    lines(text)
        .map(|line| {
            let mut fields = line.splitn(3, ':');
            let (Some(attr), Some(open), Some(name)) =
                (fields.next(), fields.next(), fields.next())
            else {
                return Err(format!("{line:?} is not attr:open:name"));
            };
            let flags: Vec<char> = attr.chars().collect();
            let valid = matches!(
                flags.as_slice(),
                ['L' | '-', 'I' | '-', 's' | '-', 'r' | 'w']
            );
            if !valid || name.is_empty() {
                return Err(format!("{line:?} is not attr:open:name"));
            }
            Ok(Info {
                name: name.to_string(),
                suspended: flags[2] == 's',
                open: number(open.trim(), "an open count")?,
            })
        })
        .collect()
}

/// `dmsetup table`: each device's name and its segments, in order; a
/// device with no live table has none.
pub fn table(text: &str) -> Result<Vec<(String, Vec<Segment>)>, String> {
    let mut out: Vec<(String, Vec<Segment>)> = Vec::new();
    for line in lines(text) {
        let (name, rest) = line
            .split_once(": ")
            .or_else(|| line.trim_end().strip_suffix(':').map(|n| (n, "")))
            .ok_or_else(|| format!("{line:?} is not a device's name and a table line"))?;
        if name.is_empty() {
            return Err(format!("{line:?} names no device"));
        }
        if out.last().is_none_or(|(last, _)| last != name) {
            if out.iter().any(|(seen, _)| seen == name) {
                return Err(format!("device {name} is listed twice"));
            }
            out.push((name.to_string(), Vec::new()));
        }
        let segments = &mut out.last_mut().expect("pushed above").1;
        let words: Vec<&str> = rest.split_whitespace().collect();
        let [start, sectors, target, args @ ..] = words.as_slice() else {
            if words.is_empty() && segments.is_empty() {
                continue;
            }
            return Err(format!("{line:?}: a table line is start, length, target"));
        };
        let segment = Segment {
            start: number(start, "a start")?,
            sectors: number(sectors, "a length")?,
            target: target.to_string(),
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        // The kernel keeps a table's segments end to end, none empty.
        let end = segments.last().map_or(0, |s| s.start + s.sectors);
        if segment.start != end || segment.sectors == 0 {
            return Err(format!(
                "{line:?}: a segment of {name} from {} for {} sectors does not follow on at {end}",
                segment.start, segment.sectors
            ));
        }
        if segment.start.checked_add(segment.sectors).is_none() {
            return Err(format!("{line:?}: {name} ends past the largest sector"));
        }
        segments.push(segment);
    }
    Ok(out)
}

/// `major:minor`, as a table names a device.
fn device_number(text: &str) -> bool {
    text.split_once(':').is_some_and(|(major, minor)| {
        number::<u32>(major, "").is_ok() && number::<u32>(minor, "").is_ok()
    })
}

/// Baystack's front devices (named `baystack-<volume>`) from `dmsetup
/// info` and `dmsetup table` run one after the other. A device made
/// between the two has no table yet: no sectors and no backing.
pub fn front_devices(info_text: &str, table_text: &str) -> Result<Vec<FrontDevice>, String> {
    let tables = table(table_text)?;
    let mut out = Vec::new();
    for device in info(info_text)? {
        let Some(volume) = device.name.strip_prefix("baystack-") else {
            continue;
        };
        let segments = tables
            .iter()
            .find(|(name, _)| *name == device.name)
            .map_or(&[][..], |(_, s)| s.as_slice());
        let backing = match segments {
            [one] if one.target == "linear" => match one.args.as_slice() {
                [backing, offset] if device_number(backing) && offset == "0" => {
                    Some(backing.clone())
                }
                _ => None,
            },
            _ => None,
        };
        out.push(FrontDevice {
            volume: volume.to_string(),
            sectors: segments.last().map_or(0, |s| s.start + s.sectors),
            backing,
            suspended: device.suspended,
            open_count: device.open,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::linux::md::parse::mutation::{in_time, variants};

    fn fixture(file: &str) -> String {
        let path = format!(
            "{}/tests/fixtures/dmsetup/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn the_lab_s_tables() {
        let tables = table(&fixture("table.txt")).unwrap();
        let names: Vec<&str> = tables.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "vg_r5-tpool",
                "vg_r5-tpool-tpool",
                "vg_r5-tpool_tdata",
                "vg_r5-tpool_tmeta",
                "vg_r5-vol_thick",
                "vg_r5-vol_thin",
                "vg_r6-vol_r6"
            ]
        );
        assert_eq!(
            tables[4].1,
            [Segment {
                start: 0,
                sectors: 245_760,
                target: "linear".into(),
                args: vec!["9:127".into(), "2304".into()],
            }]
        );
        // The pool's line ends in a blank; its arguments do not.
        assert_eq!(tables[1].1[0].args, ["252:1", "252:2", "128", "0", "0"]);
        assert_eq!(tables[5].1[0].target, "thin");
    }

    /// `info.txt` is `info-columns.txt` (dmsetup's own columns) in the
    /// columns the backend asks for: the two agree device by device.
    #[test]
    fn the_lab_s_devices() {
        let ours = info(&fixture("info.txt")).unwrap();
        let theirs: Vec<Info> = fixture("info-columns.txt")
            .lines()
            .skip(1)
            .map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                Info {
                    name: w[0].into(),
                    suspended: w[3].chars().nth(2) == Some('s'),
                    open: w[4].parse().unwrap(),
                }
            })
            .collect();
        assert_eq!(ours, theirs);
        assert_eq!(ours[1].open, 2);
        // None of them is Baystack's.
        let fronts = front_devices(&fixture("info.txt"), &fixture("table.txt")).unwrap();
        assert_eq!(fronts, []);
    }

    /// The lab's front devices as the backend made them (a thick volume on
    /// a raid5 and a thin one), beside LVM's own devices, before LIO held
    /// them: what `set_front` and the reconcile compare against.
    #[test]
    fn the_lab_s_front_devices() {
        let fronts = front_devices(&fixture("lab-info.txt"), &fixture("lab-table.txt")).unwrap();
        let front = |volume: &str, backing: &str| FrontDevice {
            volume: volume.into(),
            sectors: 65536,
            backing: Some(backing.into()),
            suspended: false,
            open_count: 0,
        };
        assert_eq!(fronts, [front("db", "253:0"), front("vm", "253:6")]);
        // LVM's are read too, and left out.
        assert_eq!(info(&fixture("lab-info.txt")).unwrap().len(), 8);
        assert_eq!(table(&fixture("lab-table.txt")).unwrap().len(), 8);
    }

    #[test]
    fn front_devices_among_lvm_s() {
        let fronts = front_devices(
            &fixture("baystack-info.txt"),
            &fixture("baystack-table.txt"),
        )
        .unwrap();
        assert_eq!(
            fronts,
            [
                FrontDevice {
                    volume: "db01".into(),
                    sectors: 2_097_152,
                    backing: Some("252:7".into()),
                    suspended: false,
                    open_count: 1,
                },
                // Two segments: not a front device as Baystack makes one.
                FrontDevice {
                    volume: "logs".into(),
                    sectors: 4096,
                    backing: None,
                    suspended: true,
                    open_count: 0,
                },
                // Made, its table not loaded yet.
                FrontDevice {
                    volume: "new".into(),
                    sectors: 0,
                    backing: None,
                    suspended: false,
                    open_count: 0,
                },
                // Over another device, but not from its start.
                FrontDevice {
                    volume: "web".into(),
                    sectors: 1024,
                    backing: None,
                    suspended: false,
                    open_count: 0,
                },
            ]
        );
    }

    #[test]
    fn none_and_nonsense() {
        assert_eq!(front_devices(NONE, "No devices found\n"), Ok(vec![]));
        assert_eq!(front_devices("", ""), Ok(vec![]));
        // A colon in another device's name does not shift its fields.
        assert_eq!(
            info("L--w:0:odd:name\n").unwrap()[0].name,
            "odd:name".to_string()
        );
        for bad in [
            "L--w:x:baystack-a",
            "L--:0:baystack-a",
            "Lxsw:0:baystack-a",
            "L--w:0:",
            "L--w:99999999999:baystack-a",
            "Name Maj Min Stat Open Targ Event UUID",
        ] {
            assert!(info(bad).is_err(), "{bad}");
        }
        for bad in [
            "baystack-a: 0 8 linear 9:1 0\nbaystack-a: 16 8 linear 9:1 8",
            "baystack-a: 0 0 linear 9:1 0",
            "baystack-a: 8 8 linear 9:1 0",
            "baystack-a: 0 8",
            "baystack-a 0 8 linear 9:1 0",
            "baystack-a: 0 8 linear 9:1 0\nb: 0 8 zero\nbaystack-a: 8 8 zero",
            ": 0 8 zero",
            "baystack-a: 0 18446744073709551615 zero\nbaystack-a: 18446744073709551615 1 zero",
        ] {
            assert!(table(bad).is_err(), "{bad}");
        }
    }

    /// Every capture spoiled every way: each parse returns in time, and
    /// what it gives holds together.
    #[test]
    fn dmsetup_mutation_loop() {
        let pairs = [
            ("info.txt", "table.txt"),
            ("baystack-info.txt", "baystack-table.txt"),
        ];
        for (info_file, table_file) in pairs {
            let (info_text, table_text) = (fixture(info_file), fixture(table_file));
            let tried = in_time(180, move || {
                let mut tried = 0;
                for (spoiled_info, spoiled_table, what) in
                    variants(&info_text)
                        .into_iter()
                        .map(|(what, v)| (v, table_text.clone(), format!("{info_file}, {what}")))
                        .chain(variants(&table_text).into_iter().map(|(what, v)| {
                            (info_text.clone(), v, format!("{table_file}, {what}"))
                        }))
                {
                    tried += 1;
                    if let Ok(tables) = table(&spoiled_table) {
                        for (name, segments) in &tables {
                            let mut end = 0;
                            for s in segments {
                                assert!(s.start == end && s.sectors > 0, "{what}: {name}");
                                end = s.start + s.sectors;
                            }
                        }
                    }
                    let Ok(fronts) = front_devices(&spoiled_info, &spoiled_table) else {
                        continue;
                    };
                    for f in fronts {
                        if let Some(backing) = &f.backing {
                            assert!(device_number(backing) && f.sectors > 0, "{what}: {f:?}");
                        }
                    }
                }
                tried
            });
            assert!(tried > 10);
        }
    }
}

//! Readers of thin-provisioning-tools' XML (0.9.0, Debian 12): what
//! `thin_delta` says differs between two thin devices, and what one maps
//! (compared with itself), as runs of bytes of the volume. Pure, and
//! strict: an element, attribute or order the tools do not print is an
//! error, and so is output cut short (its closing tags missing).

use crate::domain::replica::{Delta, Extent};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ThinError {
    #[error("it is not thin-provisioning-tools' XML: {0}")]
    Bad(String),
}

fn bad(what: impl Into<String>) -> ThinError {
    ThinError::Bad(what.into())
}

/// One tag: its name (`/name` for a closing one) and attributes.
struct Tag<'a> {
    name: &'a str,
    attrs: Vec<(&'a str, &'a str)>,
}

impl Tag<'_> {
    fn number(&self, key: &str) -> Result<u64, ThinError> {
        let value = self
            .attrs
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .ok_or_else(|| bad(format!("<{}> has no {key}", self.name)))?;
        if value.is_empty() || value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(format!("<{}>'s {key} is {value:?}", self.name)));
        }
        value
            .parse()
            .map_err(|_| bad(format!("<{}>'s {key} is {value:?}", self.name)))
    }
}

/// The tags of `text`, in order; text between them must be blank.
fn tags(text: &str) -> Result<Vec<Tag<'_>>, ThinError> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        let Some(open) = rest.find('<') else {
            if !rest.trim().is_empty() {
                return Err(bad(format!("text outside a tag: {:?}", rest.trim())));
            }
            return Ok(out);
        };
        if !rest[..open].trim().is_empty() {
            return Err(bad(format!(
                "text outside a tag: {:?}",
                rest[..open].trim()
            )));
        }
        let close = rest[open..]
            .find('>')
            .ok_or_else(|| bad("a tag is cut short"))?
            + open;
        let inner = rest[open + 1..close].trim_end_matches('/').trim();
        rest = &rest[close + 1..];
        let (name, mut attrs_text) = inner.split_once(' ').unwrap_or((inner, ""));
        if name.is_empty() {
            return Err(bad("a tag without a name"));
        }
        let mut attrs = Vec::new();
        loop {
            attrs_text = attrs_text.trim_start();
            if attrs_text.is_empty() {
                break;
            }
            let (key, after) = attrs_text
                .split_once("=\"")
                .ok_or_else(|| bad(format!("<{name}>: an attribute without a quoted value")))?;
            let (value, after) = after
                .split_once('"')
                .ok_or_else(|| bad(format!("<{name}>: {key}'s value is cut short")))?;
            attrs.push((key, value));
            attrs_text = after;
        }
        out.push(Tag { name, attrs });
    }
}

/// The superblock's block size in bytes (its `data_block_size` is in
/// 512-byte sectors).
fn block_bytes(t: &Tag<'_>) -> Result<u64, ThinError> {
    if t.name != "superblock" {
        return Err(bad(format!(
            "it starts with <{}>, not <superblock>",
            t.name
        )));
    }
    let sectors = t.number("data_block_size")?;
    if sectors == 0 || sectors > 1 << 21 {
        return Err(bad(format!("a data block of {sectors} sectors")));
    }
    Ok(sectors * 512)
}

/// Blocks `[begin, begin + length)` as bytes, after `at` (the end of the
/// run before): in order and not overlapping.
fn extent(begin: u64, length: u64, block: u64, at: &mut u64) -> Result<Extent, ThinError> {
    if length == 0 {
        return Err(bad(format!("a run of no blocks at block {begin}")));
    }
    let end = begin
        .checked_add(length)
        .ok_or_else(|| bad("a run past the end of numbers"))?;
    if begin < *at {
        return Err(bad(format!("the run at block {begin} is out of order")));
    }
    *at = end;
    let offset = begin
        .checked_mul(block)
        .ok_or_else(|| bad("a run past the end of numbers"))?;
    let length = length
        .checked_mul(block)
        .ok_or_else(|| bad("a run past the end of numbers"))?;
    offset
        .checked_add(length)
        .ok_or_else(|| bad("a run past the end of numbers"))?;
    Ok(Extent { offset, length })
}

/// Adds `e` to `runs`, joined to the last run where they meet.
fn push(runs: &mut Vec<Extent>, e: Extent) {
    match runs.last_mut() {
        Some(r) if r.offset + r.length == e.offset => r.length += e.length,
        _ => runs.push(e),
    }
}

fn closing(tags: &[Tag<'_>], names: &[&str]) -> Result<(), ThinError> {
    let got: Vec<&str> = tags.iter().map(|t| t.name).collect();
    if got != names {
        return Err(bad(format!(
            "it ends with {got:?}, not {names:?}: cut short?"
        )));
    }
    Ok(())
}

/// `thin_delta -m --snap1 A --snap2 B`: what differs in B from A. Runs
/// that are `different` or `right_only` (mapped in B alone) hold changed
/// data; `left_only` runs (mapped in A alone) read as zeroes in B.
pub fn delta(text: &str, left: u32, right: u32) -> Result<Delta, ThinError> {
    let d = delta_of(text, left, right)?;
    Ok(Delta {
        changed: d.changed,
        unmapped: d.unmapped,
    })
}

/// A diff's runs by kind.
#[derive(Default)]
struct Runs {
    same: Vec<Extent>,
    changed: Vec<Extent>,
    unmapped: Vec<Extent>,
}

fn delta_of(text: &str, left: u32, right: u32) -> Result<Runs, ThinError> {
    let tags = tags(text)?;
    let [first, diff, body @ ..] = tags.as_slice() else {
        return Err(bad("no superblock and diff"));
    };
    let block = block_bytes(first)?;
    if diff.name != "diff" {
        return Err(bad(format!("<{}> where <diff> was due", diff.name)));
    }
    if (diff.number("left")?, diff.number("right")?) != (u64::from(left), u64::from(right)) {
        return Err(bad(format!(
            "the diff is of other devices than {left} and {right}"
        )));
    }
    let Some(split) = body.len().checked_sub(2) else {
        return Err(bad("cut short"));
    };
    let (runs, end) = body.split_at(split);
    closing(end, &["/diff", "/superblock"])?;
    let mut out = Runs::default();
    let mut at = 0;
    for t in runs {
        let e = extent(t.number("begin")?, t.number("length")?, block, &mut at)?;
        match t.name {
            "same" => push(&mut out.same, e),
            "different" | "right_only" => push(&mut out.changed, e),
            "left_only" => push(&mut out.unmapped, e),
            other => return Err(bad(format!("<{other}> in a diff"))),
        }
    }
    Ok(out)
}

/// `thin_delta -m --snap1 ID --snap2 ID`: a device compared with itself,
/// every run it maps `same`: what a point sent in full carries.
pub fn mapped(text: &str, id: u32) -> Result<Delta, ThinError> {
    let d = delta_of(text, id, id)?;
    Ok(Delta {
        changed: d.same,
        unmapped: Vec::new(),
    })
}

/// `dmsetup status <tpool>`: whether the pool holds a metadata snapshot
/// (its held metadata root is a number, not `-`).
pub fn holds_metadata_snap(status: &str) -> Result<bool, ThinError> {
    let words: Vec<&str> = status.split_whitespace().collect();
    match words.as_slice() {
        [_, _, "thin-pool", _, _, _, held, ..] => match *held {
            "-" => Ok(false),
            n if n.bytes().all(|b| b.is_ascii_digit()) => Ok(true),
            other => Err(bad(format!("a held metadata root of {other:?}"))),
        },
        _ => Err(bad("not a thin pool's status")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::linux::md::parse::mutation::{in_time, variants};

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/thin/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    const KIB64: u64 = 64 << 10;

    fn e(blocks_at: u64, blocks: u64) -> Extent {
        Extent {
            offset: blocks_at * KIB64,
            length: blocks * KIB64,
        }
    }

    #[test]
    fn the_lab_s_delta_is_what_was_written_and_discarded_between_the_points() {
        // The capture: 2 MiB written, a point; then 4 KiB into block 0,
        // 3 MiB at 8 MiB, 1 MiB at 1 MiB discarded; a point.
        let d = delta(&fixture("lab-thin-delta.xml"), 2, 3).unwrap();
        assert_eq!(d.changed, [e(0, 1), e(128, 48)]);
        assert_eq!(d.unmapped, [e(16, 16)]);
        assert_eq!(d.changed_bytes(), 49 * KIB64);
        let same = delta(&fixture("lab-thin-delta-same.xml"), 3, 3).unwrap();
        assert_eq!(same, Delta::default());
        // Another pair of devices than asked for is refused.
        assert!(delta(&fixture("lab-thin-delta.xml"), 1, 3).is_err());
        // The verbose form is not what the backend asks for.
        assert!(delta(&fixture("lab-thin-delta-verbose.xml"), 2, 3).is_err());
        // Nothing at all, as with no metadata snapshot held.
        assert!(delta(&fixture("lab-thin-delta-unreserved.xml"), 2, 3).is_err());
    }

    #[test]
    fn a_device_compared_with_itself_is_what_it_maps() {
        // The second point: 2 MiB less the 1 MiB discarded, and 3 MiB.
        let d = mapped(&fixture("lab-thin-delta-same.xml"), 3).unwrap();
        assert_eq!(d.changed, [e(0, 16), e(128, 48)]);
        assert!(d.unmapped.is_empty());
        assert!(mapped(&fixture("lab-thin-delta-same.xml"), 2).is_err());
    }

    #[test]
    fn thin_ids_are_read_from_lvs() {
        use crate::storage::linux::lvm::parse::thin_ids;
        let ids = thin_ids(&fixture("lab-lvs-thin-ids.json")).unwrap();
        assert_eq!(
            ids,
            [
                ("thin1".to_string(), 1),
                ("thin1_r1".to_string(), 2),
                ("thin1_r2".to_string(), 3)
            ]
        );
        for (what, spoiled) in variants(&fixture("lab-lvs-thin-ids.json")) {
            if let Ok(ids) = thin_ids(&spoiled) {
                let mut names: Vec<&str> = ids.iter().map(|(n, _)| n.as_str()).collect();
                names.dedup();
                assert_eq!(names.len(), ids.len(), "{what}");
            }
        }
    }

    #[test]
    fn the_pool_s_status_says_whether_it_holds_a_metadata_snapshot() {
        assert_eq!(
            holds_metadata_snap(&fixture("lab-pool-status.txt")),
            Ok(true)
        );
        let free =
            "0 32768 thin-pool 3 114/1024 81/256 - rw discard_passdown queue_if_no_space - 256";
        assert_eq!(holds_metadata_snap(free), Ok(false));
        assert!(holds_metadata_snap("0 32768 linear").is_err());
    }

    #[test]
    fn what_the_tools_never_print_is_refused() {
        let sb = "<superblock data_block_size=\"128\">";
        for bad in [
            String::new(),
            format!("{sb}\n<diff left=\"2\" right=\"3\">\n<same begin=\"0\" length=\"1\"/>\n"),
            format!(
                "{sb}<diff left=\"2\" right=\"3\"><same begin=\"5\" length=\"2\"/><different begin=\"6\" length=\"1\"/></diff></superblock>"
            ),
            format!(
                "{sb}<diff left=\"2\" right=\"3\"><moved begin=\"5\" length=\"2\"/></diff></superblock>"
            ),
            format!(
                "{sb}<diff left=\"2\" right=\"3\"><same begin=\"5\" length=\"0\"/></diff></superblock>"
            ),
            format!(
                "{sb}<diff left=\"2\" right=\"3\"><same begin=\"18446744073709551615\" length=\"2\"/></diff></superblock>"
            ),
            "<superblock data_block_size=\"0\"><diff left=\"2\" right=\"3\"></diff></superblock>"
                .into(),
            format!(
                "{sb}<diff left=\"2\" right=\"3\"><same begin=\"x\" length=\"2\"/></diff></superblock>"
            ),
            format!("{sb} stray <diff left=\"2\" right=\"3\"></diff></superblock>"),
        ] {
            assert!(delta(&bad, 2, 3).is_err(), "{bad}");
        }
    }

    /// Every capture spoiled every way: each parse returns in time, and
    /// what it gives holds together (runs in order, not overlapping).
    #[test]
    fn thin_mutation_loop() {
        let files = [
            "lab-thin-delta.xml",
            "lab-thin-delta-same.xml",
            "lab-pool-status.txt",
        ];
        for name in files {
            let text = fixture(name);
            in_time(60, move || {
                for (what, spoiled) in variants(&text) {
                    let _ = holds_metadata_snap(&spoiled);
                    for d in [delta(&spoiled, 2, 3), mapped(&spoiled, 3)]
                        .into_iter()
                        .flatten()
                    {
                        for runs in [&d.changed, &d.unmapped] {
                            let mut end = 0;
                            for r in runs.iter() {
                                assert!(r.offset >= end && r.length > 0, "{name}, {what}: {d:?}");
                                end = r.offset + r.length;
                            }
                        }
                    }
                }
            });
        }
    }
}

//! What `wipefs --no-act --json` finds on a drive, in words for the page
//! that asks an admin to allow wiping it (tests/fixtures/mdadm/lab-wipefs-*.json).

use serde::Deserialize;

/// One signature wipefs found.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Signature {
    pub device: Option<String>,
    /// Where on the device, as wipefs prints it: `0x1000`.
    pub offset: String,
    /// `linux_raid_member`, `LVM2_member`, `gpt`, `ext4`, ...
    #[serde(rename = "type")]
    pub kind: String,
    pub uuid: Option<String>,
    pub label: Option<String>,
}

impl Signature {
    /// `linux_raid_member at offset 0x1000 (label "lab-main:tank", UUID 795ed2e1-...)`.
    pub fn words(&self) -> String {
        let mut extra = Vec::new();
        if let Some(label) = self.label.as_deref().filter(|l| !l.is_empty()) {
            extra.push(format!("label {label:?}"));
        }
        if let Some(uuid) = self.uuid.as_deref().filter(|u| !u.is_empty()) {
            extra.push(format!("UUID {uuid}"));
        }
        let mut out = format!("{} at offset {}", self.kind, self.offset);
        if !extra.is_empty() {
            out.push_str(&format!(" ({})", extra.join(", ")));
        }
        out
    }
}

#[derive(Deserialize)]
struct Output {
    signatures: Vec<Signature>,
}

/// The signatures in `wipefs --json` output, in its order. A blank drive
/// gives an empty list (wipefs prints one, or, in some versions, nothing
/// at all).
pub fn parse(text: &str) -> Result<Vec<Signature>, String> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let out: Output = serde_json::from_str(text)
        .map_err(|e| format!("this is not `wipefs --json` output: {e}"))?;
    for s in &out.signatures {
        if s.kind.trim().is_empty() || s.offset.trim().is_empty() {
            return Err("wipefs listed a signature without a type or an offset".into());
        }
    }
    Ok(out.signatures)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/tests/fixtures/mdadm/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn a_blank_drive_has_none() {
        assert_eq!(parse(&fixture("lab-wipefs-blank.json")), Ok(Vec::new()));
        assert_eq!(parse(""), Ok(Vec::new()));
    }

    #[test]
    fn a_former_member_says_what_it_was() {
        let found = parse(&fixture("lab-wipefs-member.json")).unwrap();
        let words: Vec<String> = found.iter().map(Signature::words).collect();
        assert_eq!(
            words,
            [
                "linux_raid_member at offset 0x1000 (label \"lab-main:tank\", UUID 795ed2e1-9b3f-4485-b4c8-ac4a9f1386f2)"
            ]
        );
    }

    #[test]
    fn other_text_is_refused_in_words() {
        assert!(parse("DEVNAME=/dev/sda\n").unwrap_err().contains("wipefs"));
        assert!(parse("{\"signatures\":[{\"offset\":\"\",\"type\":\"gpt\"}]}").is_err());
        assert!(parse("{\"blockdevices\":[]}").is_err());
    }
}

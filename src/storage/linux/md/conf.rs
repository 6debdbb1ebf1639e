//! mdadm's configuration file (`/etc/mdadm/mdadm.conf` on Debian): the
//! `ARRAY` lines that make a pool's array assemble by its UUID at boot.
//!
//! The edits are pure functions of the file's text that touch only the
//! lines of the array concerned, so whatever an admin or the installer put
//! there (`DEVICE`, `HOMEHOST`, `MAILADDR`, comments, other arrays) stays
//! byte for byte. A line is written as `mdadm --detail --scan` prints it
//! (tests/fixtures/mdadm/lab-detail-scan.txt):
//! `ARRAY /dev/md/tank metadata=1.2 name=lab-main:tank UUID=795ed2e1:...`.
//! As mdadm reads the file, a line that starts with a blank continues the
//! one before it, so an `ARRAY` entry is its line and those after it.
//!
//! [`write_atomically`] replaces the file so that a crash leaves either
//! the old file or the new one, with the old one's mode and owner.

use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// An `ARRAY` line as `mdadm --detail --scan` prints it.
pub fn array_line(device: &str, metadata: &str, md_name: &str, uuid: &str) -> String {
    format!("ARRAY {device} metadata={metadata} name={md_name} UUID={uuid}")
}

/// The 32 hex digits of a UUID however it is written (mdadm's `:`, the
/// kernel's `-`), lower case; `None` if it has not 32.
fn uuid_digits(text: &str) -> Option<String> {
    let hex: String = text
        .chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (hex.len() == 32).then_some(hex)
}

/// One logical line: an `ARRAY` entry with its device and UUID, or
/// anything else.
#[derive(Debug)]
struct Entry<'t> {
    /// Its physical lines, each with its line end.
    text: Vec<&'t str>,
    device: Option<String>,
    uuid: Option<String>,
}

fn entries(text: &str) -> Vec<Entry<'_>> {
    let mut out: Vec<Entry> = Vec::new();
    for line in text.split_inclusive('\n') {
        let continues = line.starts_with([' ', '\t']) && !line.trim().is_empty();
        match out.last_mut() {
            Some(last) if continues => last.text.push(line),
            _ => out.push(Entry {
                text: vec![line],
                device: None,
                uuid: None,
            }),
        }
    }
    for e in &mut out {
        let joined = e.text.concat();
        // A comment runs to the end of its physical line.
        let words: Vec<&str> = joined
            .lines()
            .flat_map(|l| l.split('#').next().unwrap_or("").split_whitespace())
            .collect();
        if !words
            .first()
            .is_some_and(|w| w.eq_ignore_ascii_case("ARRAY"))
        {
            continue;
        }
        e.device = words
            .get(1)
            .filter(|w| !w.contains('='))
            .map(|w| w.to_string());
        e.uuid = words.iter().find_map(|w| {
            let (key, value) = w.split_once('=')?;
            key.eq_ignore_ascii_case("uuid")
                .then(|| uuid_digits(value))
                .flatten()
        });
    }
    out
}

/// The UUID (in mdadm's form) the first entry for `device` records.
pub fn uuid_at(text: &str, device: &str) -> Option<String> {
    let hex = entries(text)
        .into_iter()
        .find(|e| e.device.as_deref() == Some(device))?
        .uuid?;
    Some([&hex[0..8], &hex[8..16], &hex[16..24], &hex[24..32]].join(":"))
}

/// What an edit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The file's new text (the old one where `changed` is false).
    pub text: String,
    pub changed: bool,
    /// The entries taken out, as they were (without line ends).
    pub removed: Vec<String>,
}

/// The file with `line` recording the array of `uuid` at `device`: left as
/// it is when an entry already records that UUID at that device and no
/// other entry names either; otherwise every entry of that UUID or that
/// device is replaced by `line`, where the first of them stood (at the end
/// if there was none).
pub fn record(text: &str, device: &str, uuid: &str, line: &str) -> Edit {
    let want = uuid_digits(uuid);
    let all = entries(text);
    let concerned =
        |e: &Entry| e.device.as_deref() == Some(device) || (want.is_some() && e.uuid == want);
    let matching: Vec<&Entry> = all.iter().filter(|e| concerned(e)).collect();
    if let [only] = matching.as_slice()
        && only.device.as_deref() == Some(device)
        && only.uuid == want
    {
        return Edit {
            text: text.to_string(),
            changed: false,
            removed: Vec::new(),
        };
    }
    let mut out = String::new();
    let mut removed = Vec::new();
    let mut placed = false;
    for e in &all {
        if concerned(e) {
            removed.push(e.text.concat().trim_end().to_string());
            if !placed {
                out.push_str(line);
                out.push('\n');
                placed = true;
            }
        } else {
            out.push_str(&e.text.concat());
        }
    }
    if !placed {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(line);
        out.push('\n');
    }
    Edit {
        text: out,
        changed: true,
        removed,
    }
}

/// The file without the entries of `uuid`, and without those of
/// `also_device` (a pool's journal mirror, whose UUID the caller does not
/// know).
pub fn forget(text: &str, uuid: &str, also_device: Option<&str>) -> Edit {
    let want = uuid_digits(uuid);
    let mut out = String::new();
    let mut removed = Vec::new();
    for e in entries(text) {
        let gone = (want.is_some() && e.uuid == want)
            || (also_device.is_some() && e.device.as_deref() == also_device);
        if gone {
            removed.push(e.text.concat().trim_end().to_string());
        } else {
            out.push_str(&e.text.concat());
        }
    }
    Edit {
        changed: !removed.is_empty(),
        text: if removed.is_empty() {
            text.to_string()
        } else {
            out
        },
        removed,
    }
}

/// Why a replacement of the file failed, by whether the file was changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// The file is as it was (a temporary file left behind is removed).
    Unchanged(String),
    /// The new file is in place but may not last a crash (its directory
    /// could not be synced).
    NotDurable(String),
}

/// Replaces `path` with `text`: written to a new file in the same
/// directory with the old file's mode and owner (0644, root's, for a file
/// that was not there), synced, renamed over it, and the directory synced.
/// A link at `path` is refused rather than replaced by a file.
pub fn write_atomically(path: &Path, text: &str) -> Result<(), WriteError> {
    let unchanged = |what: &str, e: std::io::Error| {
        WriteError::Unchanged(format!("{} {what}: {e}", path.display()))
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .ok_or_else(|| WriteError::Unchanged(format!("{} names no file", path.display())))?;
    let old = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(WriteError::Unchanged(format!(
                "{} is a link; Baystack edits a plain file only, so that the edit is atomic",
                path.display()
            )));
        }
        Ok(m) if !m.is_file() => {
            return Err(WriteError::Unchanged(format!(
                "{} is not a plain file",
                path.display()
            )));
        }
        Ok(m) => Some(m),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(unchanged("cannot be read", e)),
    };
    let tmp: PathBuf = dir.join(format!(
        ".{}.baystack-{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    // A file left by an earlier attempt of this process that died.
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| unchanged("cannot be replaced: a new file cannot be made", e))?;
        f.write_all(text.as_bytes())
            .map_err(|e| unchanged("cannot be replaced: writing failed", e))?;
        let mode = old
            .as_ref()
            .map_or(0o644, |m| m.permissions().mode() & 0o7777);
        f.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| unchanged("cannot be replaced: its mode cannot be kept", e))?;
        if let Some(m) = &old {
            let mine = f
                .metadata()
                .map_err(|e| unchanged("cannot be replaced", e))?;
            if (mine.uid(), mine.gid()) != (m.uid(), m.gid()) {
                std::os::unix::fs::fchown(&f, Some(m.uid()), Some(m.gid()))
                    .map_err(|e| unchanged("cannot be replaced: its owner cannot be kept", e))?;
            }
        }
        f.sync_all()
            .map_err(|e| unchanged("cannot be replaced: syncing failed", e))?;
        std::fs::rename(&tmp, path).map_err(|e| unchanged("cannot be replaced", e))
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| {
            WriteError::NotDurable(format!(
                "{} was replaced, but its directory could not be synced: {e}",
                path.display()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN: &str = "\
# mdadm.conf
#
# !NB! Run update-initramfs -u after updating this file.
HOMEHOST <system>
MAILADDR root

# definitions of existing MD arrays
ARRAY /dev/md/r6 metadata=1.2 name=lab-main:r6 UUID=48f52c14:392488e3:fe903e2a:635459d2
ARRAY /dev/md/old level=raid5 num-devices=4 metadata=1.2 name=storlab:old UUID=1276018e:e8048774:02f43efe:3900648f
   devices=/dev/vda,/dev/vdb,/dev/vdc,/dev/vdd
# This configuration was auto-generated
";

    const TANK: &str = "795ed2e1:9b3f4485:b4c8ac4a:9f1386f2";

    fn tank_line() -> String {
        array_line("/dev/md/tank", "1.2", "lab-main:tank", TANK)
    }

    #[test]
    fn the_line_is_as_mdadm_scans_it() {
        let scanned = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/mdadm/lab-detail-scan.txt"
        ))
        .unwrap();
        assert!(scanned.lines().any(|l| l == tank_line()), "{scanned}");
    }

    #[test]
    fn a_new_array_is_added_at_the_end_and_nothing_else_moves() {
        let edit = record(DEBIAN, "/dev/md/tank", TANK, &tank_line());
        assert!(edit.changed);
        assert!(edit.removed.is_empty());
        assert_eq!(edit.text, format!("{DEBIAN}{}\n", tank_line()));
        // Once there, it is already so.
        let again = record(&edit.text, "/dev/md/tank", TANK, &tank_line());
        assert!(!again.changed);
        assert_eq!(again.text, edit.text);
        // A file without a last line end gets one before the new line.
        let edit = record("MAILADDR root", "/dev/md/tank", TANK, &tank_line());
        assert_eq!(edit.text, format!("MAILADDR root\n{}\n", tank_line()));
    }

    #[test]
    fn the_same_uuid_in_another_form_counts() {
        let text = "ARRAY /dev/md/tank UUID=795ED2E1-9B3F-4485-B4C8-AC4A9F1386F2\n";
        assert!(!record(text, "/dev/md/tank", TANK, &tank_line()).changed);
    }

    #[test]
    fn a_stale_entry_for_the_name_or_the_uuid_is_replaced_in_place() {
        let stale = DEBIAN.replace("/dev/md/old", "/dev/md/tank");
        let edit = record(&stale, "/dev/md/tank", TANK, &tank_line());
        assert!(edit.changed);
        assert_eq!(edit.removed.len(), 1);
        assert!(edit.removed[0].contains("devices=/dev/vda"), "{edit:?}");
        let expected = DEBIAN.replace(
            "ARRAY /dev/md/old level=raid5 num-devices=4 metadata=1.2 name=storlab:old UUID=1276018e:e8048774:02f43efe:3900648f\n   devices=/dev/vda,/dev/vdb,/dev/vdc,/dev/vdd\n",
            &format!("{}\n", tank_line()),
        );
        assert_eq!(edit.text, expected);
    }

    #[test]
    fn forgetting_takes_out_the_entry_with_its_continuation() {
        let edit = forget(DEBIAN, "1276018e-e804-8774-02f4-3efe3900648f", None);
        assert!(edit.changed);
        assert_eq!(
            edit.text,
            DEBIAN.replace(
                "ARRAY /dev/md/old level=raid5 num-devices=4 metadata=1.2 name=storlab:old UUID=1276018e:e8048774:02f43efe:3900648f\n   devices=/dev/vda,/dev/vdb,/dev/vdc,/dev/vdd\n",
                ""
            )
        );
        assert_eq!(
            uuid_at(DEBIAN, "/dev/md/old").as_deref(),
            Some("1276018e:e8048774:02f43efe:3900648f")
        );
        assert_eq!(uuid_at(&edit.text, "/dev/md/old"), None);
        let again = forget(&edit.text, "1276018e:e8048774:02f43efe:3900648f", None);
        assert!(!again.changed);
        assert_eq!(again.text, edit.text);
        // A pool's journal mirror goes with it, whatever its UUID.
        let with_journal = format!(
            "{DEBIAN}{}\nARRAY /dev/md/tank-journal metadata=1.2 name=h:tank-journal UUID=00000000:11111111:22222222:33333333\n",
            tank_line()
        );
        let edit = forget(&with_journal, TANK, Some("/dev/md/tank-journal"));
        assert_eq!(edit.removed.len(), 2);
        assert_eq!(edit.text, DEBIAN);
    }

    #[test]
    fn commented_out_lines_are_not_entries() {
        let text = format!("#{}\n", tank_line());
        let edit = record(&text, "/dev/md/tank", TANK, &tank_line());
        assert!(edit.changed);
        assert!(edit.text.starts_with(&text));
        assert!(!forget(&text, TANK, None).changed);
    }

    #[test]
    fn the_file_is_replaced_with_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mdadm.conf");
        std::fs::write(&path, DEBIAN).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomically(&path, "MAILADDR root\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "MAILADDR root\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o640);
        // No temporary file left beside it.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["mdadm.conf"]);
        // A file that was not there is made 0644.
        let new = dir.path().join("new.conf");
        write_atomically(&new, "x\n").unwrap();
        let mode = std::fs::metadata(&new).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o644);
        // A link is not replaced.
        let link = dir.path().join("link.conf");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(matches!(
            write_atomically(&link, "y\n"),
            Err(WriteError::Unchanged(_))
        ));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "MAILADDR root\n");
        // Nor is a file in a directory that is not there.
        assert!(matches!(
            write_atomically(&dir.path().join("no/such.conf"), "z\n"),
            Err(WriteError::Unchanged(_))
        ));
    }
}

//! Enclosures as the kernel's `ses` driver shows them under
//! `<sysfs>/class/enclosure` (see tests/fixtures/enclosure/README.md for the
//! layout and where each rule comes from).
//!
//! Each enclosure directory holds `components`, `id` (Linux 4.0 and later),
//! a `device` link to the SES device (with its `vendor` and `model`), and
//! one directory per component. A component is recognised by its `type`
//! file ("array device" or "device") in a directory of the enclosure's own,
//! not by being a directory: `power/` is one too, and the `device` and
//! `subsystem` links lead to directories. Its name is the element descriptor
//! the enclosure gave (kept blanks, `/` turned into `!`, `-1` appended to a
//! duplicate) or, without one, its index.
//!
//! The bay number is the `slot` file where the kernel has one (from the
//! enclosure's additional element status, or the index where that has no
//! slot number). Older kernels have no `slot` file: then a component named
//! by its index gives the index, and a named one the number in its name.
//! A bay without a number, or with another bay's, is numbered after the
//! others.
//!
//! The tree read is trusted no further than the directory given (`/sys`,
//! or a copy of it or of its `class/enclosure`), for it may be a copy from
//! anywhere: a link is followed only where it leads inside that directory,
//! only regular files are read, never more than [`MAX_FILE`] bytes of one,
//! and nothing is opened that could wait (a FIFO) or never end
//! (`/dev/zero`). A number read must be one a bay can have. What is refused
//! is treated as unreadable, and the enclosure's notes say what and why.

use std::cell::RefCell;
use std::io::Read as _;
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use serde::Serialize;

/// The most read of one file, in bytes. The kernel prints a sysfs
/// attribute into one page, and a device's identification page
/// (`vpd_pg83`) is a few hundred bytes. sysfs gives every text attribute
/// the size 4096 whatever it holds, so the size is not asked: the read
/// stops here, and a file that holds more is not a sysfs file.
pub const MAX_FILE: usize = 4096;

/// The highest bay number taken from an enclosure. SES numbers a bay in
/// one byte (the device slot number of page 0x0A), and where it gives none
/// the kernel gives the element's index, which 255 element types of 255
/// elements bound. A larger number is no bay's; staying far below
/// `u32::MAX` also lets the bays without one be numbered after the others
/// without wrapping round to 0.
pub const MAX_SLOT: u32 = 65_535;

/// Where a bay's number came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotSource {
    /// The kernel's `slot` file.
    SlotFile,
    /// A component named by its element index (no `slot` file, or one
    /// that holds no bay number).
    Index,
    /// The number in the component's name (no `slot` file, or one that
    /// holds no bay number).
    Name,
    /// None of its own that could be used (no number in its name, or
    /// another bay's): numbered after the others.
    After,
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
    /// Bays in slot order, each with a number of its own.
    pub components: Vec<Component>,
    /// What in its directory was refused or could not be read, and what
    /// was done instead, one clause each: "Slot 01/status is a FIFO, not a
    /// file, so it was not read".
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EnclosureError {
    #[error("{0} is not readable: {1}")]
    Unreadable(String, String),
}

/// Whether a failure means that nothing is there: a file an older kernel
/// does not have, a link the kernel did not make.
fn absent(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

fn kind_of(t: std::fs::FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "something else"
    }
}

/// The directory given, inside which every path read must lead.
struct Tree {
    /// As given, to name it in words.
    given: PathBuf,
    /// With every link followed.
    root: PathBuf,
}

impl Tree {
    fn new(given: &Path) -> Result<Tree, EnclosureError> {
        let root = std::fs::canonicalize(given)
            .map_err(|e| EnclosureError::Unreadable(given.display().to_string(), e.to_string()))?;
        Ok(Tree {
            given: given.to_path_buf(),
            root,
        })
    }

    /// Where `path` leads with every link followed; `None` where nothing
    /// is, and why not where that is out of the tree. Nothing is opened.
    fn resolve(&self, path: &Path) -> Result<Option<PathBuf>, String> {
        match std::fs::canonicalize(path) {
            Ok(real) if real.starts_with(&self.root) => Ok(Some(real)),
            Ok(real) => Err(format!(
                "leads to {}, outside {}",
                real.display(),
                self.given.display()
            )),
            Err(e) if absent(&e) => Ok(None),
            Err(e) => Err(format!("cannot be followed: {e}")),
        }
    }

    /// The contents of regular file `path`, at most [`MAX_FILE`] bytes.
    fn bytes(&self, path: &Path) -> Result<Option<Vec<u8>>, String> {
        let Some(real) = self.resolve(path)? else {
            return Ok(None);
        };
        let unreadable = |e: std::io::Error| format!("cannot be read: {e}");
        let not_a_file = |t| format!("is {}, not a file", kind_of(t));
        // Asked before it is opened: opening a FIFO to read waits for a
        // writer, and opening a device is the device's business.
        let kind = std::fs::symlink_metadata(&real)
            .map_err(unreadable)?
            .file_type();
        if !kind.is_file() {
            return Err(not_a_file(kind));
        }
        // And asked again of what was opened, should the path have changed
        // in between: opened without following a link, and without waiting.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags((OFlag::O_NONBLOCK | OFlag::O_NOFOLLOW).bits())
            .open(&real)
            .map_err(unreadable)?;
        let kind = file.metadata().map_err(unreadable)?.file_type();
        if !kind.is_file() {
            return Err(not_a_file(kind));
        }
        let mut data = Vec::new();
        file.take(MAX_FILE as u64 + 1)
            .read_to_end(&mut data)
            .map_err(unreadable)?;
        if data.len() > MAX_FILE {
            return Err(format!(
                "holds more than {MAX_FILE} bytes, which no sysfs file does"
            ));
        }
        Ok(Some(data))
    }

    /// The text of file `path` without its line end (and the NULs some
    /// attributes are padded with).
    fn text(&self, path: &Path) -> Result<Option<String>, String> {
        match self.bytes(path)? {
            None => Ok(None),
            Some(data) => String::from_utf8(data)
                .map(|s| Some(s.trim_end_matches(['\n', '\0']).to_string()))
                .map_err(|_| "does not hold text".to_string()),
        }
    }

    /// The entries of directory `dir` by name, each as a path under `dir`.
    fn list(&self, dir: &Path) -> Result<Option<Vec<(String, PathBuf)>>, String> {
        let Some(real) = self.resolve(dir)? else {
            return Ok(None);
        };
        let unlistable = |e: std::io::Error| format!("cannot be listed: {e}");
        let listing = match std::fs::read_dir(&real) {
            Ok(listing) => listing,
            Err(e) if absent(&e) => return Ok(None),
            Err(e) => return Err(unlistable(e)),
        };
        let mut out = Vec::new();
        for entry in listing {
            let name = entry.map_err(unlistable)?.file_name();
            out.push((name.to_string_lossy().into_owned(), dir.join(&name)));
        }
        out.sort();
        Ok(Some(out))
    }
}

/// Writes `value` to the sysfs attribute `path` (a bay's `locate` or
/// `fault`), held to what is read: it must lead to a regular file inside
/// `sysfs`, opened without following a link and without waiting, so a link
/// planted in the tree cannot make the agent write anywhere else and a FIFO
/// cannot hang the job.
pub fn write_attribute(sysfs: &Path, path: &Path, value: &str) -> Result<(), String> {
    let tree = Tree::new(sysfs).map_err(|e| e.to_string())?;
    let real = tree
        .resolve(path)?
        .ok_or_else(|| "does not exist".to_string())?;
    let failed = |e: std::io::Error| format!("cannot be written: {e}");
    let kind = std::fs::symlink_metadata(&real)
        .map_err(failed)?
        .file_type();
    if !kind.is_file() {
        return Err(format!("is {}, not a file", kind_of(kind)));
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .custom_flags((OFlag::O_NONBLOCK | OFlag::O_NOFOLLOW).bits())
        .open(&real)
        .map_err(failed)?;
    let kind = file.metadata().map_err(failed)?.file_type();
    if !kind.is_file() {
        return Err(format!("is {}, not a file", kind_of(kind)));
    }
    std::io::Write::write_all(&mut file, value.as_bytes()).map_err(failed)
}

/// Reads in a tree and keeps, as notes, what it refused or could not read,
/// each path named from `base`.
struct Reader<'t> {
    tree: &'t Tree,
    base: &'t Path,
    notes: RefCell<Vec<String>>,
}

impl<'t> Reader<'t> {
    fn new(tree: &'t Tree, base: &'t Path) -> Self {
        Reader {
            tree,
            base,
            notes: RefCell::new(Vec::new()),
        }
    }

    fn note(&self, note: String) {
        self.notes.borrow_mut().push(note);
    }

    fn name(&self, path: &Path) -> String {
        path.strip_prefix(self.base)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    fn noted<T>(&self, path: &Path, got: Result<Option<T>, String>) -> Option<T> {
        got.unwrap_or_else(|why| {
            self.note(format!("{} {why}, so it was not read", self.name(path)));
            None
        })
    }

    fn resolve(&self, path: &Path) -> Option<PathBuf> {
        self.noted(path, self.tree.resolve(path))
    }

    fn bytes(&self, path: &Path) -> Option<Vec<u8>> {
        self.noted(path, self.tree.bytes(path))
    }

    fn read(&self, path: &Path) -> Option<String> {
        self.noted(path, self.tree.text(path))
    }

    fn read_trimmed(&self, path: &Path) -> Option<String> {
        self.read(path)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    }

    fn entries(&self, dir: &Path) -> Option<Vec<(String, PathBuf)>> {
        self.noted(dir, self.tree.list(dir))
    }

    /// The number file `path` holds, where it is one.
    fn number(&self, path: &Path, max: u32, what: &str) -> Option<u32> {
        let text = self.read_trimmed(path)?;
        let n = whole_number(&text).filter(|n| *n <= max);
        if n.is_none() {
            self.note(format!(
                "{} holds {}, which is not {what} (0 to {max}), so it was not used",
                self.name(path),
                quoted(&text)
            ));
        }
        n
    }

    /// The notes, to the log (for a reading that returns none).
    fn log(self) {
        for note in self.notes.into_inner() {
            tracing::warn!("{note}");
        }
    }
}

/// Text from a file, quoted for a note: its start only.
fn quoted(text: &str) -> String {
    let start: String = text.chars().take(24).collect();
    if start.len() < text.len() {
        format!("{start:?}...")
    } else {
        format!("{start:?}")
    }
}

/// Decimal digits only (`str::parse` takes a `+` too), and fitting a u32.
fn whole_number(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Every enclosure under `<sysfs>/class/enclosure`; none when the directory
/// does not exist (no `ses` driver loaded, or no enclosure attached). Links
/// are followed where they stay inside `sysfs`.
pub fn read_all(sysfs: &Path) -> Result<Vec<SysEnclosure>, EnclosureError> {
    let class = sysfs.join("class/enclosure");
    if !class.exists() {
        return Ok(Vec::new());
    }
    read_in(&Tree::new(sysfs)?, &class)
}

/// The enclosures in a `class/enclosure` directory (or a copy of one).
/// Links are followed where they stay inside `class`, so not those that
/// lead from `/sys/class/enclosure` into `/sys/devices`: for those, read
/// the whole tree with [`read_all`].
pub fn read_class(class: &Path) -> Result<Vec<SysEnclosure>, EnclosureError> {
    read_in(&Tree::new(class)?, class)
}

fn read_in(tree: &Tree, class: &Path) -> Result<Vec<SysEnclosure>, EnclosureError> {
    let unreadable = |why: String| EnclosureError::Unreadable(class.display().to_string(), why);
    let listed = tree
        .list(class)
        .map_err(unreadable)?
        .ok_or_else(|| unreadable("there is no such directory".into()))?;
    let mut found = Vec::new();
    for (name, path) in listed {
        match tree.resolve(&path) {
            Ok(Some(real)) if real.is_dir() => found.push(read_one(tree, &name, &path)?),
            Ok(_) => {}
            Err(why) => tracing::warn!("{} {why}, so it was not read", path.display()),
        }
    }
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
/// SCSI device's `type` says what it is. What is refused goes to the log.
pub fn ses_devices(sysfs: &Path) -> Vec<SesDevice> {
    let Ok(tree) = Tree::new(sysfs) else {
        return Vec::new();
    };
    let r = Reader::new(&tree, sysfs);
    let nodes = r
        .entries(&sysfs.join("class/scsi_generic"))
        .unwrap_or_default();
    let mut found: Vec<SesDevice> = nodes
        .into_iter()
        .filter_map(|(sg, path)| {
            let dev = r.resolve(&path)?.parent()?.parent()?.to_path_buf();
            if r.read_trimmed(&dev.join("type"))? != "13" {
                return None;
            }
            Some(SesDevice {
                hctl: dev.file_name()?.to_string_lossy().into_owned(),
                sg,
                vendor: r.read_trimmed(&dev.join("vendor")).unwrap_or_default(),
                product: r.read_trimmed(&dev.join("model")).unwrap_or_default(),
            })
        })
        .collect();
    r.log();
    found.sort_by_key(|d| hctl_order(&d.hctl));
    found
}

/// The SAS addresses of the SCSI device behind block device `block`
/// (`<sysfs>/class/block/<block>` resolves to `<H:C:T:L>/block/<block>`),
/// lower case with `0x`: the SAS transport's `sas_address` where the HBA
/// registers one, and the SAS target ports the device itself names in its
/// identification page (`vpd_pg83`), which is all there is behind HBAs
/// without the SAS transport. None off SAS. What is refused goes to the
/// log.
pub fn block_sas_addresses(sysfs: &Path, block: &str) -> Vec<String> {
    let Ok(tree) = Tree::new(sysfs) else {
        return Vec::new();
    };
    let r = Reader::new(&tree, sysfs);
    let found = sas_addresses_in(&r, &sysfs.join("class/block").join(block));
    r.log();
    found.unwrap_or_default()
}

fn sas_addresses_in(r: &Reader<'_>, block: &Path) -> Option<Vec<String>> {
    let dev = r.resolve(block)?.parent()?.parent()?.to_path_buf();
    let mut found: Vec<String> = r
        .read_trimmed(&dev.join("sas_address"))
        .map(|a| a.to_ascii_lowercase())
        .into_iter()
        .collect();
    if let Some(page) = r.bytes(&dev.join("vpd_pg83")) {
        for port in sas_target_ports(&page) {
            let a = format!("{port:#018x}");
            if !found.contains(&a) {
                found.push(a);
            }
        }
    }
    Some(found)
}

/// The SAS target port addresses in a Device Identification VPD page (0x83):
/// the designators the kernel's `ses` driver matches a slot by, NAA (type
/// 3), binary, associated with the target port, protocol SAS with PIV set.
pub fn sas_target_ports(page: &[u8]) -> Vec<u64> {
    let mut found = Vec::new();
    let end = page
        .get(2..4)
        .map_or(0, |l| 4 + usize::from(u16::from_be_bytes([l[0], l[1]])))
        .min(page.len());
    let mut at = 4;
    while at + 4 <= end {
        let d = &page[at..];
        let len = usize::from(d[3]);
        let (proto, code_set) = (d[0] >> 4, d[0] & 0x0f);
        let (piv, assoc, kind) = (d[1] & 0x80 != 0, (d[1] >> 4) & 0x03, d[1] & 0x0f);
        if piv
            && proto == 6
            && code_set == 1
            && assoc == 1
            && kind == 3
            && len == 8
            && at + 12 <= end
            && let Some(Ok(port)) = d.get(4..12).map(<[u8; 8]>::try_from)
        {
            found.push(u64::from_be_bytes(port));
        }
        at += 4 + len;
    }
    found
}

/// The number a name ends in ("Slot 07", "SLOT 000,3FG1KMYV"), where it
/// is one a bay can have.
fn number_in(name: &str) -> Option<u32> {
    let digits: String = name
        .chars()
        .rev()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    whole_number(&digits.chars().rev().collect::<String>()).filter(|n| *n <= MAX_SLOT)
}

fn read_one(tree: &Tree, hctl: &str, dir: &Path) -> Result<SysEnclosure, EnclosureError> {
    let r = Reader::new(tree, dir);
    let listed = tree
        .list(dir)
        .map_err(|why| EnclosureError::Unreadable(dir.display().to_string(), why))?
        .unwrap_or_default();
    // Each with the number it gives, if any.
    let mut numbered: Vec<(Option<u32>, Component)> = Vec::new();
    for (name, path) in listed {
        // A component is a directory of the enclosure's own; `device` and
        // `subsystem` are links.
        if !std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        let Some(kind) = r.read(&path.join("type")) else {
            continue;
        };
        if kind != "array device" && kind != "device" {
            continue;
        }
        let (number, slot_source) = match r.number(&path.join("slot"), MAX_SLOT, "a bay number") {
            Some(n) => (Some(n), SlotSource::SlotFile),
            None => match whole_number(&name).filter(|n| *n <= MAX_SLOT) {
                Some(n) => (Some(n), SlotSource::Index),
                None => (number_in(&name), SlotSource::Name),
            },
        };
        // 0, or a fault bit (2, 4, 6) or the identify bit (1).
        let flag = |f: &str| {
            r.number(&path.join(f), u32::from(u8::MAX), "a flag")
                .is_some_and(|v| v != 0)
        };
        let component = Component {
            slot: 0,
            slot_source,
            status: r
                .read(&path.join("status"))
                .unwrap_or_else(|| "unknown".into()),
            locate: flag("locate"),
            fault: flag("fault"),
            device: linked_device(&r, &path.join("device")),
            name,
        };
        numbered.push((number, component));
    }
    // In number order; of two with one number, a slot file's keeps it.
    numbered.sort_by_key(|(n, c)| {
        (
            n.is_none(),
            *n,
            c.slot_source != SlotSource::SlotFile,
            c.name.clone(),
        )
    });
    let mut components: Vec<Component> = Vec::new();
    let mut after = Vec::new();
    for (number, mut c) in numbered {
        let taken = components.last().filter(|last| Some(last.slot) == number);
        match (number, taken) {
            (Some(n), Some(other)) => {
                r.note(format!(
                    "{} gives bay number {n} as {} does, so it is numbered after the others",
                    c.name, other.name
                ));
                after.push(c);
            }
            (Some(n), None) => {
                c.slot = n;
                components.push(c);
            }
            (None, _) => after.push(c),
        }
    }
    after.sort_by(|a, b| a.name.cmp(&b.name));
    // At most MAX_SLOT + 1: no overflow.
    let first_free = components.last().map_or(0, |c| c.slot + 1);
    for (mut c, n) in after.into_iter().zip(first_free..=u32::MAX) {
        c.slot = n;
        c.slot_source = SlotSource::After;
        components.push(c);
    }
    // The SES device's files, where its link stays in the tree.
    let device = dir.join("device");
    let on_device = r.resolve(&device).is_some();
    let device_text = |f: &str| on_device.then(|| r.read_trimmed(&device.join(f))).flatten();
    let sg = on_device
        .then(|| r.entries(&device.join("scsi_generic")))
        .flatten()
        .and_then(|e| e.into_iter().next().map(|(n, _)| n));
    Ok(SysEnclosure {
        hctl: hctl.to_string(),
        id: r.read_trimmed(&dir.join("id")),
        vendor: device_text("vendor").unwrap_or_default(),
        product: device_text("model").unwrap_or_default(),
        sg,
        components,
        notes: r.notes.into_inner(),
    })
}

/// The drive behind a component's `device` link, where the link leads to
/// a directory inside the tree.
fn linked_device(r: &Reader<'_>, link: &Path) -> Option<SlotDevice> {
    let target = r.resolve(link)?;
    if !target.is_dir() {
        return None;
    }
    let hctl = target.file_name()?.to_string_lossy().into_owned();
    let block = r
        .entries(&link.join("block"))
        .and_then(|e| e.into_iter().next().map(|(n, _)| n));
    Some(SlotDevice {
        hctl,
        block,
        sas_address: r.read_trimmed(&link.join("sas_address")),
        wwid: r.read_trimmed(&link.join("wwid")),
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
                assert_eq!(got.notes, Vec::<String>::new(), "{tree}");
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

    /// A reader that blocks (on a FIFO) or reads without end (`/dev/zero`)
    /// fails the test here instead of hanging the suite: the read runs on
    /// its own thread, with a deadline.
    fn in_time<T: Send + 'static>(read: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(read());
        });
        match rx.recv_timeout(std::time::Duration::from_secs(20)) {
            Ok(got) => got,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                panic!("the reader did not finish within 20 s")
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("the reader panicked"),
        }
    }

    /// The files of a bay numbered `slot` by the kernel, holding a drive.
    fn bay(slot: &str) -> Vec<(&'static str, String)> {
        [
            ("type", "array device"),
            ("slot", slot),
            ("status", "OK"),
            ("locate", "0"),
            ("fault", "0"),
        ]
        .into_iter()
        .map(|(f, v)| (f, format!("{v}\n")))
        .collect()
    }

    const SES: &str = "devices/host9/target9:0:9/9:0:9:0";
    const DISK: &str = "devices/host9/target9:0:3/9:0:3:0";

    /// A small sysfs root, `<dir>/sys`, laid out as the kernel lays it out:
    /// enclosure `9:0:9:0` (its class entry a link into `devices`), with
    /// `components` (a name and its files), and disk `sdz` at `9:0:3:0`,
    /// which the first component links to.
    fn sysfs(dir: &Path, components: &[(&str, Vec<(&str, String)>)]) -> PathBuf {
        let sys = dir.join("sys");
        let write = |path: PathBuf, text: &[u8]| {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        let (ses, disk) = (sys.join(SES), sys.join(DISK));
        write(ses.join("type"), b"13\n");
        write(ses.join("vendor"), b"ACME    \n");
        write(ses.join("model"), b"JBOD12          \n");
        std::fs::create_dir_all(ses.join("scsi_generic/sg9")).unwrap();
        let enclosure = ses.join("enclosure/9:0:9:0");
        write(enclosure.join("id"), b"0x5000ccab0000003f\n");
        std::os::unix::fs::symlink("../../../9:0:9:0", enclosure.join("device")).unwrap();
        write(disk.join("type"), b"0\n");
        write(disk.join("sas_address"), b"0x5000c500aaaa0001\n");
        write(disk.join("wwid"), b"naa.5000c500aaaa0003\n");
        std::fs::create_dir_all(disk.join("block/sdz")).unwrap();
        for (class, link) in [
            (
                "enclosure/9:0:9:0",
                format!("../../{SES}/enclosure/9:0:9:0"),
            ),
            ("scsi_generic/sg9", format!("../../{SES}/scsi_generic/sg9")),
            ("block/sdz", format!("../../{DISK}/block/sdz")),
        ] {
            let at = sys.join("class").join(class);
            std::fs::create_dir_all(at.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(link, at).unwrap();
        }
        for (i, (name, files)) in components.iter().enumerate() {
            let c = enclosure.join(name);
            for (f, text) in files {
                write(c.join(f), text.as_bytes());
            }
            if i == 0 {
                // An absolute link that stays inside the tree is followed.
                std::os::unix::fs::symlink(&disk, c.join("device")).unwrap();
            }
        }
        sys
    }

    fn component(sys: &Path, name: &str) -> PathBuf {
        sys.join("class/enclosure/9:0:9:0").join(name)
    }

    /// A temporary directory, and its path with every link followed (as
    /// the notes name what is outside the tree).
    fn temp_dir() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = std::fs::canonicalize(tmp.path()).unwrap();
        (tmp, dir)
    }

    /// Puts something else where a file was.
    fn replace(path: &Path, with: impl FnOnce(&Path)) {
        let _ = std::fs::remove_file(path);
        with(path);
    }

    fn fifo(path: &Path) {
        nix::unistd::mkfifo(path, nix::sys::stat::Mode::S_IRWXU).unwrap();
    }

    fn link_to(target: impl AsRef<Path>) -> impl FnOnce(&Path) {
        move |path| std::os::unix::fs::symlink(target, path).unwrap()
    }

    #[test]
    fn an_led_is_written_only_to_a_file_inside_the_tree() {
        let (_tmp, dir) = temp_dir();
        let sys = sysfs(
            &dir,
            &[
                ("Slot 01", bay("1")),
                ("Slot 02", bay("2")),
                ("Slot 03", bay("3")),
            ],
        );
        let locate = component(&sys, "Slot 01").join("locate");
        write_attribute(&sys, &locate, "1").unwrap();
        assert_eq!(std::fs::read_to_string(&locate).unwrap(), "1");

        let victim = dir.join("victim");
        std::fs::write(&victim, "untouched").unwrap();
        let planted = component(&sys, "Slot 02").join("locate");
        replace(&planted, link_to(&victim));
        let why = write_attribute(&sys, &planted, "1").unwrap_err();
        assert!(why.contains("outside"), "{why}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");

        let piped = component(&sys, "Slot 03").join("fault");
        replace(&piped, fifo);
        let (sys2, piped2) = (sys.clone(), piped.clone());
        let why = in_time(move || write_attribute(&sys2, &piped2, "1")).unwrap_err();
        assert!(why.contains("FIFO"), "{why}");
        let why =
            write_attribute(&sys, &component(&sys, "Slot 09").join("fault"), "1").unwrap_err();
        assert!(why.contains("does not exist"), "{why}");
    }

    #[test]
    fn the_small_tree_reads_like_the_kernels() {
        let (_tmp, dir) = temp_dir();
        let sys = sysfs(&dir, &[("Slot 01", bay("1")), ("Slot 02", bay("2"))]);
        let read = in_time(move || {
            (
                read_all(&sys),
                ses_devices(&sys),
                block_sas_addresses(&sys, "sdz"),
            )
        });
        let e = &read.0.unwrap()[0];
        assert_eq!((e.vendor.as_str(), e.sg.as_deref()), ("ACME", Some("sg9")));
        let slots: Vec<(u32, &str)> = e
            .components
            .iter()
            .map(|c| (c.slot, c.status.as_str()))
            .collect();
        assert_eq!(slots, [(1, "OK"), (2, "OK")]);
        let d = e.components[0].device.as_ref().unwrap();
        assert_eq!(
            (d.hctl.as_str(), d.block.as_deref()),
            ("9:0:3:0", Some("sdz"))
        );
        assert_eq!(read.1[0].hctl, "9:0:9:0");
        assert_eq!(read.2, ["0x5000c500aaaa0001"]);
    }

    /// Opening a FIFO to read waits for a writer: a reader that opened one
    /// in a tree it was given would wait for ever.
    #[test]
    fn a_fifo_in_the_tree_is_refused_without_waiting() {
        let (_tmp, dir) = temp_dir();
        let sys = sysfs(
            &dir,
            &[
                ("Slot 01", bay("1")),
                ("Slot 02", bay("2")),
                ("Slot 03", bay("3")),
            ],
        );
        replace(&component(&sys, "Slot 01").join("status"), fifo);
        replace(&component(&sys, "Slot 02").join("locate"), fifo);
        replace(&component(&sys, "Slot 03").join("type"), fifo);
        replace(&sys.join(SES).join("enclosure/9:0:9:0/id"), fifo);
        replace(&sys.join(SES).join("vendor"), fifo);
        replace(&sys.join(DISK).join("sas_address"), fifo);
        replace(&sys.join(DISK).join("vpd_pg83"), fifo);
        let read = in_time(move || {
            (
                read_all(&sys),
                ses_devices(&sys),
                block_sas_addresses(&sys, "sdz"),
            )
        });
        let e = &read.0.unwrap()[0];
        assert_eq!((e.id.as_deref(), e.vendor.as_str()), (None, ""));
        let bays: Vec<(&str, &str, bool)> = e
            .components
            .iter()
            .map(|c| (c.name.as_str(), c.status.as_str(), c.locate))
            .collect();
        // Without its type a directory is not known to be a bay.
        assert_eq!(
            bays,
            [("Slot 01", "unknown", false), ("Slot 02", "OK", false)]
        );
        assert_eq!(read.1.len(), 1);
        assert!(read.2.is_empty(), "{:?}", read.2);
        assert_eq!(
            e.notes,
            [
                "Slot 01/status is a FIFO, not a file, so it was not read",
                "Slot 01/device/sas_address is a FIFO, not a file, so it was not read",
                "Slot 02/locate is a FIFO, not a file, so it was not read",
                "Slot 03/type is a FIFO, not a file, so it was not read",
                "id is a FIFO, not a file, so it was not read",
                "device/vendor is a FIFO, not a file, so it was not read",
            ]
        );
    }

    /// The most memory this process has held (Linux's VmHWM), in KiB.
    fn peak_memory_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:")?.trim().strip_suffix("kB"))
            .and_then(|kib| kib.trim().parse().ok())
            .unwrap()
    }

    /// `/dev/zero` never ends: read to its end, it fills the memory.
    #[test]
    fn a_link_to_dev_zero_is_not_read() {
        let (_tmp, dir) = temp_dir();
        let sys = sysfs(&dir, &[("Slot 01", bay("1"))]);
        for file in [
            component(&sys, "Slot 01").join("status"),
            sys.join(SES).join("model"),
            sys.join(DISK).join("wwid"),
            sys.join(DISK).join("vpd_pg83"),
        ] {
            replace(&file, link_to("/dev/zero"));
        }
        let read = in_time(move || (read_all(&sys), block_sas_addresses(&sys, "sdz")));
        // Read to its end, /dev/zero runs until an allocation fails: many
        // GiB on a machine with the memory to spare.
        assert!(peak_memory_kib() < 1 << 20, "{} KiB", peak_memory_kib());
        let e = &read.0.unwrap()[0];
        assert_eq!(
            (e.product.as_str(), e.components[0].status.as_str()),
            ("", "unknown")
        );
        assert_eq!(e.components[0].device.as_ref().unwrap().wwid, None);
        assert_eq!(read.1, ["0x5000c500aaaa0001"]);
        let outside = format!(
            ", outside {}, so it was not read",
            dir.join("sys").display()
        );
        assert_eq!(
            e.notes,
            [
                format!("Slot 01/status leads to /dev/zero{outside}"),
                format!("Slot 01/device/wwid leads to /dev/zero{outside}"),
                format!("device/model leads to /dev/zero{outside}"),
            ]
        );
    }

    /// The contents of a file the tree links to from outside it never
    /// come out: a `status` linked to /etc/shadow would print it.
    #[test]
    fn links_that_lead_out_of_the_tree_are_not_followed() {
        let (_tmp, dir) = temp_dir();
        let sys = sysfs(&dir, &[("Slot 01", bay("1")), ("Slot 02", bay("2"))]);
        // Outside the tree: a secret, and a device directory full of it.
        let secret = dir.join("shadow");
        std::fs::write(&secret, "root:hunter2-secret:19000\n").unwrap();
        let outside = dir.join("elsewhere/9:0:66:0");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("type"), "13\n").unwrap();
        for f in ["vendor", "model", "sas_address", "wwid", "status"] {
            std::fs::write(outside.join(f), "hunter2-secret\n").unwrap();
        }
        std::fs::create_dir_all(outside.join("block/hunter2-secret")).unwrap();
        std::fs::create_dir_all(outside.join("Slot 09")).unwrap();
        std::fs::write(outside.join("Slot 09/type"), "array device\n").unwrap();
        std::fs::write(outside.join("Slot 09/status"), "hunter2-secret\n").unwrap();
        let slot1 = component(&sys, "Slot 01");
        replace(&slot1.join("status"), link_to(&secret));
        // Relative, climbing out.
        replace(
            &component(&sys, "Slot 02").join("status"),
            link_to(format!("{}{}", "../".repeat(64), secret.display())),
        );
        replace(&sys.join(SES).join("vendor"), link_to(&secret));
        replace(&sys.join(DISK).join("sas_address"), link_to(&secret));
        std::os::unix::fs::symlink(&outside, component(&sys, "Slot 02").join("device")).unwrap();
        for (entry, f) in [
            ("class/enclosure/9:0:66:0", ""),
            ("class/scsi_generic/sg66", "scsi_generic/sg66"),
            ("class/block/sdy", "block/hunter2-secret"),
        ] {
            std::os::unix::fs::symlink(outside.join(f), sys.join(entry)).unwrap();
        }
        std::fs::create_dir_all(outside.join("scsi_generic/sg66")).unwrap();
        let read = in_time(move || {
            let class = sys.join("class/enclosure");
            (
                read_all(&sys),
                read_class(&class),
                ses_devices(&sys),
                block_sas_addresses(&sys, "sdz"),
                block_sas_addresses(&sys, "sdy"),
            )
        });
        let all = read.0.unwrap();
        let shown = format!(
            "{all:?} {} {:?} {:?} {:?} {:?}",
            bays_json(&all),
            read.1,
            read.2,
            read.3,
            read.4
        );
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(all.len(), 1, "the enclosure outside is not read");
        let statuses: Vec<&str> = all[0]
            .components
            .iter()
            .map(|c| c.status.as_str())
            .collect();
        assert_eq!(statuses, ["unknown", "unknown"]);
        assert_eq!(all[0].components[1].device, None);
        assert_eq!(read.2.len(), 1, "{:?}", read.2);
        assert!(read.3.is_empty() && read.4.is_empty());
        let outside = format!(
            ", outside {}, so it was not read",
            dir.join("sys").display()
        );
        let shadow = dir.join("shadow");
        assert_eq!(
            all[0].notes,
            [
                format!("Slot 01/status leads to {}{outside}", shadow.display()),
                format!(
                    "Slot 01/device/sas_address leads to {}{outside}",
                    shadow.display()
                ),
                format!("Slot 02/status leads to {}{outside}", shadow.display()),
                format!(
                    "Slot 02/device leads to {}{outside}",
                    dir.join("elsewhere/9:0:66:0").display()
                ),
                format!("device/vendor leads to {}{outside}", shadow.display()),
            ]
        );
        // Given /sys/class/enclosure, the tree is that directory: the
        // kernel's links from it into /sys/devices lead out of it.
        assert_eq!(read.1, Ok(Vec::new()));
    }

    /// A slot number that does not fit neither wraps nor takes another
    /// bay's number: an LED set for one bay would light the other.
    #[test]
    fn bay_numbers_out_of_range_neither_wrap_nor_collide() {
        let (_tmp, dir) = temp_dir();
        let sys = sysfs(
            &dir,
            &[
                ("Slot 00", bay("0")),
                ("Slot 01", bay("4294967294")),
                ("Slot 02", bay("4294967295")),
                ("Slot 03", bay("4294967296")),
                ("Bay 0", bay("-2")),
                // Neither a slot file nor a number in its name.
                ("HDD", bay("")),
            ],
        );
        let all = in_time(move || read_all(&sys)).unwrap();
        let mut slots: Vec<(u32, &str)> = all[0]
            .components
            .iter()
            .map(|c| (c.slot, c.name.as_str()))
            .collect();
        assert!(slots.iter().all(|s| s.0 <= 65_535), "{slots:?}");
        assert_eq!(slots[0], (0, "Slot 00"));
        slots.sort();
        slots.dedup_by_key(|s| s.0);
        assert_eq!(slots.len(), 6, "one number each: {slots:?}");
        // A slot file that cannot be used is as good as none: the name
        // gives the number, or the bay is numbered after the others.
        let got: Vec<(&str, u32, SlotSource)> = all[0]
            .components
            .iter()
            .map(|c| (c.name.as_str(), c.slot, c.slot_source))
            .collect();
        assert_eq!(
            got,
            [
                ("Slot 00", 0, SlotSource::SlotFile),
                ("Slot 01", 1, SlotSource::Name),
                ("Slot 02", 2, SlotSource::Name),
                ("Slot 03", 3, SlotSource::Name),
                ("Bay 0", 4, SlotSource::After),
                ("HDD", 5, SlotSource::After),
            ]
        );
        assert_eq!(
            all[0].notes,
            [
                "Bay 0/slot holds \"-2\", which is not a bay number (0 to 65535), so it was not used",
                "Slot 01/slot holds \"4294967294\", which is not a bay number (0 to 65535), so it \
                 was not used",
                "Slot 02/slot holds \"4294967295\", which is not a bay number (0 to 65535), so it \
                 was not used",
                "Slot 03/slot holds \"4294967296\", which is not a bay number (0 to 65535), so it \
                 was not used",
                "Bay 0 gives bay number 0 as Slot 00 does, so it is numbered after the others",
            ]
        );
    }

    /// sysfs says every text attribute is 4096 bytes long whatever it
    /// holds, and the kernel fills at most that: a file that holds more
    /// is no sysfs file, and is not read on and on.
    #[test]
    fn files_are_read_to_four_kib_and_no_further() {
        let (_tmp, dir) = temp_dir();
        let sys = sysfs(&dir, &[("Slot 01", bay("1")), ("Slot 02", bay("2"))]);
        let mut page = b"OK\n".to_vec();
        page.resize(4096, 0);
        std::fs::write(component(&sys, "Slot 01").join("status"), &page).unwrap();
        std::fs::write(
            component(&sys, "Slot 02").join("status"),
            "OK\n".repeat(1 << 20),
        )
        .unwrap();
        // An identification page of a few hundred bytes: its SAS target
        // port after a long SCSI name string.
        let name = [b'n'; 240];
        let mut vpd = vec![0x00, 0x83, 0x00, 0x00, 0x63, 0x98, 0, 240];
        vpd.extend(name);
        vpd.extend([0x61, 0x93, 0, 8, 0x50, 0, 0xc5, 0, 0xaa, 0xaa, 0, 0x07]);
        let len = u16::try_from(vpd.len() - 4).unwrap();
        vpd[2..4].copy_from_slice(&len.to_be_bytes());
        std::fs::write(sys.join(DISK).join("vpd_pg83"), &vpd).unwrap();
        let read = in_time(move || (read_all(&sys), block_sas_addresses(&sys, "sdz")));
        let all = read.0.unwrap();
        let statuses: Vec<String> = all[0].components.iter().map(|c| c.status.clone()).collect();
        assert_eq!(statuses, ["OK", "unknown"]);
        assert_eq!(read.1, ["0x5000c500aaaa0001", "0x5000c500aaaa0007"]);
        assert_eq!(
            all[0].notes,
            [
                "Slot 02/status holds more than 4096 bytes, which no sysfs file does, so it was not read"
            ]
        );
    }

    /// Given a copy of /sys/class/enclosure rather than of /sys, the tree
    /// is that directory: what it holds is read, and a link out of it,
    /// even into the /sys it came from, is not followed.
    #[test]
    fn a_copy_of_class_enclosure_is_read_within_itself() {
        let (_tmp, dir) = temp_dir();
        let sys = sysfs(&dir, &[("Slot 01", bay("1"))]);
        let copy = dir.join("enclosure-copy");
        let slot = copy.join("9:0:9:0/Slot 01");
        std::fs::create_dir_all(&slot).unwrap();
        for (f, text) in bay("1") {
            std::fs::write(slot.join(f), text).unwrap();
        }
        std::os::unix::fs::symlink(sys.join(DISK), slot.join("device")).unwrap();
        // A link inside the copy is followed.
        std::os::unix::fs::symlink("Slot 01/status", copy.join("9:0:9:0/status-link")).unwrap();
        let all = in_time(move || read_class(&copy)).unwrap();
        assert_eq!(all.len(), 1);
        let c = &all[0].components[0];
        assert_eq!((c.slot, c.status.as_str(), &c.device), (1, "OK", &None));
        assert_eq!(
            all[0].notes,
            [format!(
                "Slot 01/device leads to {}, outside {}, so it was not read",
                dir.join("sys").join(DISK).display(),
                dir.join("enclosure-copy").display()
            )]
        );
        // The fixtures' class directories hold only such links.
        let class = fixtures().join("jbod-chain/class/enclosure");
        assert_eq!(read_class(&class), Ok(Vec::new()));
    }

    /// Puts something in place of a file.
    type Replace = Box<dyn Fn(&Path)>;

    /// The mutation loop: each file a reading uses, replaced in turn by
    /// each thing a tree could hold there instead. Every reading returns
    /// in time, gives each bay a number of its own, and shows nothing from
    /// outside the tree.
    #[test]
    fn every_file_replaced_by_anything_reads_in_time_with_one_number_per_bay() {
        let (_tmp, dir) = temp_dir();
        let secret = dir.join("secret");
        std::fs::write(&secret, "hunter2-secret\n").unwrap();
        let mut huge = b"1\n".to_vec();
        huge.resize(MAX_FILE + 1, b'0');
        let mut odd: Vec<(String, Replace)> = vec![
            ("a FIFO".into(), Box::new(fifo)),
            ("/dev/zero".into(), Box::new(|p| link_to("/dev/zero")(p))),
            ("a secret".into(), Box::new(move |p| link_to(&secret)(p))),
            (
                "a directory".into(),
                Box::new(|p| std::fs::create_dir(p).unwrap()),
            ),
            (
                "a dangling link".into(),
                Box::new(|p| link_to("nowhere")(p)),
            ),
            (
                "a link to itself".into(),
                Box::new(|p| link_to(p.file_name().unwrap())(p)),
            ),
            (
                "4 KiB and more".into(),
                Box::new(move |p| std::fs::write(p, &huge).unwrap()),
            ),
            (
                "bytes".into(),
                Box::new(|p| std::fs::write(p, b"\xff\xfe\0\n").unwrap()),
            ),
        ];
        let texts = [
            "",
            "0",
            "1",
            "-1",
            "+1",
            "0x10",
            " 7 ",
            "4294967294",
            "4294967295",
            "4294967296",
            "18446744073709551616",
            "65535",
            "65536",
            "array device",
            "OK",
        ];
        let files = [
            "class/enclosure/9:0:9:0/Slot 01/type",
            "class/enclosure/9:0:9:0/Slot 01/slot",
            "class/enclosure/9:0:9:0/Slot 01/status",
            "class/enclosure/9:0:9:0/Slot 01/locate",
            "class/enclosure/9:0:9:0/Slot 01/fault",
            "class/enclosure/9:0:9:0/Slot 00/device",
            "class/enclosure/9:0:9:0/Slot 02/slot",
            "class/enclosure/9:0:9:0/id",
            "class/enclosure/9:0:9:0/device",
            "class/scsi_generic/sg9",
            "class/block/sdz",
            "devices/host9/target9:0:9/9:0:9:0/type",
            "devices/host9/target9:0:9/9:0:9:0/vendor",
            "devices/host9/target9:0:3/9:0:3:0/sas_address",
            "devices/host9/target9:0:3/9:0:3:0/vpd_pg83",
        ];
        for text in texts {
            odd.push((
                format!("{text:?}"),
                Box::new(move |p| std::fs::write(p, format!("{text}\n")).unwrap()),
            ));
        }
        let mut n = 0;
        for file in files {
            for (what, how) in &odd {
                n += 1;
                let root = dir.join(format!("case{n}"));
                std::fs::create_dir(&root).unwrap();
                let sys = sysfs(
                    &root,
                    &[
                        ("Slot 00", bay("0")),
                        ("Slot 01", bay("1")),
                        ("Slot 02", bay("")),
                    ],
                );
                let path = sys.join(file);
                let _ = std::fs::remove_file(&path);
                how(&path);
                let read = in_time(move || {
                    (
                        read_all(&sys),
                        ses_devices(&sys),
                        block_sas_addresses(&sys, "sdz"),
                    )
                });
                let case = format!("{file} as {what}");
                let all = read.0.unwrap_or_else(|e| panic!("{case}: {e}"));
                let shown = format!("{all:?} {} {:?} {:?}", bays_json(&all), read.1, read.2);
                assert!(!shown.contains("hunter2"), "{case}: {shown}");
                for e in &all {
                    let mut slots: Vec<u32> = e.components.iter().map(|c| c.slot).collect();
                    assert!(slots.iter().all(|s| *s <= MAX_SLOT), "{case}: {slots:?}");
                    slots.dedup();
                    assert_eq!(slots.len(), e.components.len(), "{case}: {slots:?}");
                    assert!(e.components.len() >= 2, "{case}: {:?}", e.components);
                }
            }
        }
    }
}

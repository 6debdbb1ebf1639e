//! LIO's configfs tree (`<configfs_root>/target`) read into [`Lio`], and
//! the kernel's text formats found in it.
//!
//! Where the kernel is the reference: `target_core_configfs.c` (backstores,
//! `dbroot`, `pr/`), `iscsi_target_configfs.c` (TPGs, ACLs, an ACL's
//! `info`), `target_core_transport.c` (`dynamic_sessions`). A file that is
//! not there reads as the kernel's default for it, so a tree with only
//! what was written (a test's) reads as the kernel would show it.

use std::io;
use std::path::{Component, Path, PathBuf};

use crate::domain::target::{Acl, Backstore, Lio, LioTarget, Portal, Secret, Session, TPG};

/// `param/TargetAlias` of a new TPG.
pub const DEFAULT_ALIAS: &str = "LIO Target";
/// `dbroot` before anything sets it (`DB_ROOT_DEFAULT`).
pub const DEFAULT_DBROOT: &str = "/var/target/";

/// What the tree holds: [`Lio`], and the HBA directories (`iblock_0`),
/// empty ones too, whose numbers a new one must not take.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    pub lio: Lio,
    pub hbas: Vec<String>,
}

/// Reads the tree under `root` (`<configfs_root>/target`); no tree (the
/// target core module not loaded) is an empty [`Lio`].
pub fn read_tree(root: &Path) -> io::Result<Tree> {
    if !root.is_dir() {
        return Ok(Tree::default());
    }
    let mut tree = Tree::default();
    let core = root.join("core");
    for hba in dirs(&core)? {
        let Some(plugin) = hba_plugin(&hba) else {
            continue;
        };
        for name in dirs(&core.join(&hba))? {
            if name != "alua" {
                let b = read_backstore(&core.join(&hba).join(&name), &hba, plugin, &name)?;
                tree.lio.backstores.push(b);
            }
        }
        tree.hbas.push(hba);
    }
    let iscsi = root.join("iscsi");
    tree.lio.iscsi = iscsi.is_dir();
    for iqn in dirs(&iscsi)? {
        if iqn != "discovery_auth" {
            tree.lio.targets.push(read_target(&iscsi.join(&iqn), &iqn)?);
        }
    }
    for fabric in dirs(root)? {
        if fabric == "core" || fabric == "iscsi" {
            continue;
        }
        for wwn in dirs(&root.join(&fabric))? {
            if wwn != "discovery_auth" {
                tree.lio.other_fabrics.push(format!("{fabric}/{wwn}"));
            }
        }
    }
    tree.lio.dbroot = Some(value(&root.join("dbroot"))?.unwrap_or_else(|| DEFAULT_DBROOT.into()));
    Ok(tree)
}

/// `iblock` of `iblock_0`: an HBA directory is `<plugin>_<number>`.
fn hba_plugin(hba: &str) -> Option<&str> {
    let (plugin, n) = hba.rsplit_once('_')?;
    (!plugin.is_empty() && !n.is_empty() && n.chars().all(|c| c.is_ascii_digit())).then_some(plugin)
}

fn read_backstore(dir: &Path, hba: &str, plugin: &str, name: &str) -> io::Result<Backstore> {
    Ok(Backstore {
        hba: hba.to_string(),
        plugin: plugin.to_string(),
        name: name.to_string(),
        device: value(&dir.join("udev_path"))?.filter(|d| !d.is_empty()),
        serial: value(&dir.join("wwn/vpd_unit_serial"))?.and_then(|t| parse_unit_serial(&t)),
        enabled: flag(&dir.join("enable"), false)?,
        unmap: flag(&dir.join("attrib/emulate_tpu"), false)?,
        write_cache: flag(&dir.join("attrib/emulate_write_cache"), false)?,
        reservation: value(&dir.join("pr/res_holder"))?.and_then(|t| parse_reservation(&t)),
        aptpl: value(&dir.join("pr/res_aptpl_active"))?.is_some_and(|t| t.contains("Activated")),
    })
}

fn read_target(dir: &Path, iqn: &str) -> io::Result<LioTarget> {
    let mut tpgs: Vec<u16> = dirs(dir)?
        .iter()
        .filter_map(|d| d.strip_prefix("tpgt_")?.parse().ok())
        .collect();
    tpgs.sort_unstable();
    let tpg = dir.join(format!("tpgt_{TPG}"));
    let mut t = LioTarget {
        iqn: iqn.to_string(),
        tpgs,
        enabled: false,
        alias: None,
        lun0: None,
        portals: Vec::new(),
        open: false,
        cache_dynamic_acls: false,
        write_protect: true,
        authentication: true,
        acls: Vec::new(),
        chap_user: None,
        mutual_user: None,
        secret: None,
        mutual_secret: None,
        sessions: Vec::new(),
    };
    if !tpg.is_dir() {
        return Ok(t);
    }
    t.enabled = flag(&tpg.join("enable"), false)?;
    t.alias = match value(&tpg.join("param/TargetAlias"))? {
        None => Some(DEFAULT_ALIAS.to_string()),
        Some(a) if a.is_empty() => None,
        Some(a) => Some(a),
    };
    t.lun0 = link_in(&tpg.join("lun/lun_0"))?.and_then(|to| backstore_of(&to));
    t.portals = dirs(&tpg.join("np"))?
        .iter()
        .filter_map(|n| Portal::parse(n))
        .collect();
    t.portals.sort();
    let attrib = tpg.join("attrib");
    t.open = flag(&attrib.join("generate_node_acls"), false)?;
    t.cache_dynamic_acls = flag(&attrib.join("cache_dynamic_acls"), false)?;
    t.write_protect = flag(&attrib.join("demo_mode_write_protect"), true)?;
    t.authentication = flag(&attrib.join("authentication"), true)?;
    (t.chap_user, t.secret, t.mutual_user, t.mutual_secret) = read_auth(&tpg.join("auth"))?;
    for initiator in dirs(&tpg.join("acls"))? {
        let acl_dir = tpg.join("acls").join(&initiator);
        let (chap_user, secret, mutual_user, mutual_secret) = read_auth(&acl_dir.join("auth"))?;
        t.acls.push(Acl {
            mapped: link_in(&acl_dir.join("lun_0"))?.is_some(),
            initiator,
            chap_user,
            mutual_user,
            secret,
            mutual_secret,
        });
        if let Some(s) = text(&acl_dir.join("info"))?.and_then(|i| parse_info(&i)) {
            t.sessions.push(s);
        }
    }
    if let Some(d) = text(&tpg.join("dynamic_sessions"))? {
        t.sessions.extend(parse_dynamic_sessions(&d));
    }
    Ok(t)
}

type Auth = (
    Option<String>,
    Option<Secret>,
    Option<String>,
    Option<Secret>,
);

/// An `auth/` directory's user, secret, mutual user and mutual secret.
fn read_auth(dir: &Path) -> io::Result<Auth> {
    let one = |file: &str| -> io::Result<Option<String>> {
        Ok(value(&dir.join(file))?.filter(|v| !v.is_empty() && v != "NULL"))
    };
    Ok((
        one("userid")?,
        one("password")?.map(Secret::new),
        one("userid_mutual")?,
        one("password_mutual")?.map(Secret::new),
    ))
}

/// `iblock_0/vol1` from a LUN's link to its backstore, however the link
/// is written (configfs reads it back relative:
/// `../../../../../../target/core/iblock_0/vol1`).
fn backstore_of(to: &Path) -> Option<String> {
    let mut names = to.components().filter_map(|c| match c {
        Component::Normal(n) => n.to_str(),
        _ => None,
    });
    let name = names.next_back()?;
    let hba = names.next_back()?;
    Some(format!("{hba}/{name}"))
}

/// A file's text, or `None` when it is not there.
fn text(path: &Path) -> io::Result<Option<String>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    }
}

/// An attribute's value, without the newline the kernel ends it with.
fn value(path: &Path) -> io::Result<Option<String>> {
    Ok(text(path)?.map(|t| {
        t.trim_matches(|c: char| c.is_whitespace() || c == '\0')
            .to_string()
    }))
}

/// A 0/1 attribute; `default` when it is not there or not a number.
fn flag(path: &Path, default: bool) -> io::Result<bool> {
    Ok(value(path)?
        .and_then(|v| v.parse::<u32>().ok())
        .map_or(default, |n| n != 0))
}

/// The names of the directories in `dir`, sorted (links not followed);
/// none when it is not there.
fn dirs(dir: &Path) -> io::Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", dir.display()))),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Where the first symbolic link in `dir` (by name) leads: a LUN's link
/// to its backstore, a mapped LUN's to the TPG's LUN, whatever its name.
fn link_in(dir: &Path) -> io::Result<Option<PathBuf>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(None);
    };
    let mut links = Vec::new();
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_symlink() {
            links.push(entry.path());
        }
    }
    links.sort();
    links.first().map(std::fs::read_link).transpose()
}

/// The session an ACL's `info` file shows (`lio_target_nacl_info_show`):
/// `InitiatorName:`, `Session State:`, and the first connection's
/// `Address`; `None` for "No active iSCSI Session for Initiator Endpoint".
pub fn parse_info(text: &str) -> Option<Session> {
    if text.contains("No active iSCSI Session") {
        return None;
    }
    let after = |key: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let initiator = after("InitiatorName:")?.split_whitespace().next()?;
    Some(Session {
        initiator: initiator.to_string(),
        address: after("Address ")
            .and_then(|a| a.split_whitespace().next())
            .map(String::from),
        state: after("Session State:").unwrap_or("unknown").to_string(),
    })
}

/// `dynamic_sessions` of an open TPG: the names of the initiators logged
/// in through a generated ACL, each ended by a newline and a NUL.
pub fn parse_dynamic_sessions(text: &str) -> Vec<Session> {
    text.split(['\n', '\0'])
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| Session {
            initiator: n.to_string(),
            address: None,
            // The file lists the sessions registered with the TPG, which
            // is done once their login completes.
            state: "TARG_SESS_STATE_LOGGED_IN".to_string(),
        })
        .collect()
}

/// The serial `wwn/vpd_unit_serial` shows: `T10 VPD Unit Serial Number:
/// <serial>`; `None` when it has none. A bare serial, as written (what a
/// stand-in for configfs holds), is taken as it is.
pub fn parse_unit_serial(text: &str) -> Option<String> {
    let serial = match text.split_once("Serial Number:") {
        Some((_, serial)) => serial.trim(),
        None => text.trim(),
    };
    (!serial.is_empty() && !serial.contains(char::is_whitespace)).then(|| serial.to_string())
}

/// The holder `pr/res_holder` shows (`SPC-3 Reservation: iSCSI Initiator:
/// ...`); `None` for "No SPC-3 Reservation holder", its SPC-2 form and a
/// passthrough device's "Passthrough".
pub fn parse_reservation(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty() && !text.starts_with("No ") && text != "Passthrough")
        .then(|| text.to_string())
}

/// The registrations of an APTPL file LIO keeps (`<dbroot>/pr/aptpl_<serial>`),
/// each as the one line `pr/res_aptpl_metadata` takes: the lines between
/// `PR_REG_START:` and `PR_REG_END:`, joined with commas (as rtslib's
/// `_config_pr_aptpl` restores them). A block that does not end is left out.
pub fn parse_aptpl(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut block: Option<Vec<&str>> = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with("PR_REG_START:") {
            block = Some(Vec::new());
        } else if line.starts_with("PR_REG_END:") {
            if let Some(b) = block.take().filter(|b| !b.is_empty()) {
                out.push(b.join(","));
            }
        } else if let Some(b) = block.as_mut().filter(|_| !line.is_empty()) {
            b.push(line);
        }
    }
    out
}

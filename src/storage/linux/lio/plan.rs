//! What to change in LIO's configfs tree so one target is as a
//! [`TargetSpec`] says, or is gone: pure, from the tree as it was read
//! ([`Tree`]) and what else was looked at ([`Facts`]). Each change is an
//! [`Op`] (paths relative to `<configfs_root>/target`) in the order the
//! kernel needs, with one line of words; nothing at all where the tree
//! already agrees.

use std::collections::BTreeSet;
use std::fmt;

use super::read::Tree;
use crate::domain::target::{Access, Chap, Lio, Secret, TPG, TargetSpec};
use crate::naming::{validate_chap_user, validate_iscsi_name};
use crate::storage::BackendError;

/// The name Baystack gives the links it makes (a LUN's to its backstore,
/// a mapped LUN's to the TPG's LUN); LIO takes any name.
pub const LINK: &str = "baystack";

/// What is written to an attribute; a secret prints as `<secret>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Secret(Secret),
}

/// One change to the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Makes a directory (an object: an HBA, a backstore, a target, a TPG,
    /// a LUN, a portal, an ACL); one already there is left.
    Mkdir(String),
    /// Writes an attribute.
    Write(String, Value),
    /// Makes link `link` to `to` (configfs takes it absolute).
    Symlink { link: String, to: String },
    /// Removes an object: the links in it, then it; one not there is
    /// already removed.
    Remove(String),
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Mkdir(p) => write!(f, "mkdir {p}"),
            Op::Write(p, Value::Text(t)) => write!(f, "write {p} = {t}"),
            Op::Write(p, Value::Secret(_)) => write!(f, "write {p} = <secret>"),
            Op::Symlink { link, to } => write!(f, "symlink {link} -> {to}"),
            Op::Remove(p) => write!(f, "remove {p}"),
        }
    }
}

/// The changes, and one line of words per change made.
#[derive(Debug, Default)]
pub struct Plan {
    pub ops: Vec<Op>,
    pub words: Vec<String>,
}

impl Plan {
    fn mkdir(&mut self, path: String) {
        self.ops.push(Op::Mkdir(path));
    }

    fn write(&mut self, path: String, value: impl Into<String>) {
        self.ops.push(Op::Write(path, Value::Text(value.into())));
    }

    fn remove(&mut self, path: String) {
        self.ops.push(Op::Remove(path));
    }

    fn link(&mut self, link: String, to: String) {
        self.ops.push(Op::Symlink { link, to });
    }

    fn say(&mut self, words: String) {
        self.words.push(words);
    }
}

/// What the planner needs beyond the tree.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The spec's device is there.
    pub device_present: bool,
    /// Its queue reports a volatile write cache (`queue/write_cache` reads
    /// "write back"); `None` when sysfs does not say.
    pub volatile_cache: Option<bool>,
    /// The registrations LIO saved for the spec's serial, each a line for
    /// `pr/res_aptpl_metadata` ([`super::read::parse_aptpl`]).
    pub aptpl: Vec<String>,
}

/// A name that becomes one path component: not empty, no '/', no "..",
/// no spaces or control characters.
pub fn check_component(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.contains('/')
        || name.contains("..")
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "{what} {name:?} cannot name a configfs directory: it must be non-empty, with no '/', \"..\", spaces or control characters"
        ));
    }
    Ok(())
}

/// Refuses a spec any part of which would not make a sound path or
/// attribute, before anything is read or written.
pub fn validate(spec: &TargetSpec) -> Result<(), String> {
    validate_iscsi_name(&spec.iqn).map_err(|e| format!("target {}: {e}", spec.iqn))?;
    check_component("backstore", &spec.backstore)?;
    check_component("serial", &spec.serial)?;
    // LIO keeps at most 253 bytes (INQUIRY_VPD_SERIAL_LEN).
    if spec.serial.len() > 253 || spec.serial.contains(',') {
        return Err(format!(
            "serial {:?} is longer than LIO keeps or has a ','",
            spec.serial
        ));
    }
    // `control` takes comma-separated options.
    if !spec.device.starts_with('/')
        || spec.device.contains("..")
        || spec
            .device
            .chars()
            .any(|c| c == ',' || c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "device {:?} must be an absolute path with no \"..\", ',' or spaces",
            spec.device
        ));
    }
    if spec.alias.is_empty() || spec.alias.chars().any(char::is_control) {
        return Err(format!("alias {:?} must be non-empty text", spec.alias));
    }
    if let Access::Initiators(list) = &spec.access {
        for i in list {
            validate_iscsi_name(i).map_err(|e| format!("initiator {i}: {e}"))?;
        }
    }
    for chap in [&spec.chap, &spec.mutual_chap].into_iter().flatten() {
        validate_chap_user(&chap.user)?;
        let s = chap.secret.expose();
        if s.is_empty() || s.len() > 255 || s == "NULL" || !s.chars().all(|c| c.is_ascii_graphic())
        {
            return Err(format!(
                "the CHAP secret for user {} must be 1 to 255 printable characters with no spaces",
                chap.user
            ));
        }
    }
    if spec.mutual_chap.is_some() && spec.chap.is_none() {
        return Err("mutual CHAP needs CHAP: the initiator proves itself first".into());
    }
    Ok(())
}

/// `core/iblock_0/vol1` for `iblock_0/vol1`.
fn core(backstore: &str) -> String {
    format!("core/{backstore}")
}

fn tpg_dir(iqn: &str) -> String {
    format!("iscsi/{iqn}/tpgt_{TPG}")
}

fn bit(on: bool) -> &'static str {
    if on { "1" } else { "0" }
}

/// The plan that makes the target `spec` says (the spec validated).
pub fn apply(spec: &TargetSpec, tree: &Tree, facts: &Facts) -> Result<Plan, BackendError> {
    let mut plan = Plan::default();
    let store = backstore(spec, tree, facts, &mut plan)?;
    target(spec, &tree.lio, &store, &mut plan)?;
    Ok(plan)
}

/// The backstore part; its `<hba>/<name>`.
fn backstore(
    spec: &TargetSpec,
    tree: &Tree,
    facts: &Facts,
    plan: &mut Plan,
) -> Result<String, BackendError> {
    let lio = &tree.lio;
    let Some(b) = lio
        .backstores
        .iter()
        .find(|b| b.plugin == "iblock" && b.name == spec.backstore)
    else {
        // The lowest number no HBA directory has, whatever its plugin.
        let used: BTreeSet<u32> = tree
            .hbas
            .iter()
            .filter_map(|h| h.rsplit_once('_')?.1.parse().ok())
            .collect();
        let n = (0..=used.len() as u32)
            .find(|n| !used.contains(n))
            .unwrap_or_default();
        return create(spec, &format!("iblock_{n}"), true, facts, plan);
    };
    let key = format!("{}/{}", b.hba, b.name);
    let mut differs = Vec::new();
    if b.device.as_deref() != Some(&spec.device) {
        differs.push(format!(
            "it is on {}, not {}",
            b.device.as_deref().unwrap_or("no device"),
            spec.device
        ));
    }
    if b.serial.as_deref() != Some(&spec.serial) {
        differs.push(format!(
            "its serial is {}, not {}",
            b.serial.as_deref().unwrap_or("unset"),
            spec.serial
        ));
    }
    if !differs.is_empty() {
        let users: Vec<&str> = lio
            .targets
            .iter()
            .filter(|t| t.lun0.as_deref() == Some(&key))
            .map(|t| t.iqn.as_str())
            .collect();
        if !users.is_empty() {
            return Err(BackendError::Refused(format!(
                "backstore {key}: {}; it is LUN 0 of {}, and changing it would drop their sessions, so it is left as it is",
                differs.join(" and "),
                users.join(", ")
            )));
        }
        plan.remove(core(&key));
        plan.say(format!(
            "backstore {key} removed to be made again: {}",
            differs.join(" and ")
        ));
        return create(spec, &b.hba, false, facts, plan);
    }
    let dir = core(&key);
    if !b.enabled {
        plan.write(format!("{dir}/enable"), "1");
        plan.say(format!("backstore {key} enabled"));
    }
    if b.unmap != spec.unmap {
        unmap(spec.unmap, &key, plan);
    }
    if let Some(want) = write_cache(&b.plugin, facts.volatile_cache)
        && want != b.write_cache
    {
        cache(want, &key, plan);
    }
    Ok(key)
}

/// Makes backstore `<hba>/<spec.backstore>` as rtslib makes a block one,
/// and restores the reservations LIO saved for its serial (before any LUN
/// uses it: the kernel takes them only then).
fn create(
    spec: &TargetSpec,
    hba: &str,
    new_hba: bool,
    facts: &Facts,
    plan: &mut Plan,
) -> Result<String, BackendError> {
    if !facts.device_present {
        return Err(BackendError::Gone(format!(
            "backstore {}: its device {} is not there",
            spec.backstore, spec.device
        )));
    }
    let key = format!("{hba}/{}", spec.backstore);
    let dir = core(&key);
    if new_hba {
        plan.mkdir(core(hba));
    }
    plan.mkdir(dir.clone());
    plan.write(
        format!("{dir}/control"),
        format!("udev_path={}", spec.device),
    );
    plan.write(format!("{dir}/udev_path"), spec.device.clone());
    plan.write(format!("{dir}/wwn/vpd_unit_serial"), spec.serial.clone());
    plan.write(format!("{dir}/enable"), "1");
    plan.say(format!(
        "backstore {key} made on {} with serial {}",
        spec.device, spec.serial
    ));
    for registration in &facts.aptpl {
        plan.write(format!("{dir}/pr/res_aptpl_metadata"), registration.clone());
    }
    if !facts.aptpl.is_empty() {
        plan.say(format!(
            "backstore {key}: {} persistent reservation registrations restored from LIO's APTPL file",
            facts.aptpl.len()
        ));
    }
    unmap(spec.unmap, &key, plan);
    if let Some(want) = write_cache("iblock", facts.volatile_cache) {
        cache(want, &key, plan);
    }
    Ok(key)
}

fn unmap(on: bool, key: &str, plan: &mut Plan) {
    plan.write(format!("{}/attrib/emulate_tpu", core(key)), bit(on));
    plan.say(if on {
        format!("backstore {key}: UNMAP advertised")
    } else {
        format!("backstore {key}: UNMAP not advertised")
    });
}

fn cache(on: bool, key: &str, plan: &mut Plan) {
    plan.write(format!("{}/attrib/emulate_write_cache", core(key)), bit(on));
    plan.say(if on {
        format!("backstore {key}: a write cache reported (the device has a volatile one)")
    } else {
        format!("backstore {key}: no write cache reported (the device has none)")
    });
}

/// What `attrib/emulate_write_cache` should be, by Baystack's policy: a
/// write cache is reported to initiators exactly when the device's queue
/// has a volatile one (`queue/write_cache` reads "write back"), so they
/// send SYNCHRONIZE CACHE exactly when there is a cache to flush. `None`
/// leaves the attribute as it is: sysfs does not say, or the plugin is
/// iblock and the device has a cache — iblock reports the queue's cache
/// itself (`target_check_wce` asks `iblock_get_write_cache`) and the
/// kernel refuses `emulate_write_cache=1` there with EINVAL.
pub fn write_cache(plugin: &str, volatile_cache: Option<bool>) -> Option<bool> {
    match volatile_cache {
        Some(true) if plugin == "iblock" => None,
        other => other,
    }
}

/// The target part: target, TPG 1, LUN 0, portals, alias, attributes,
/// CHAP, ACLs, and enabling it last.
fn target(spec: &TargetSpec, lio: &Lio, store: &str, plan: &mut Plan) -> Result<(), BackendError> {
    let iqn = &spec.iqn;
    let found = lio.targets.iter().find(|t| &t.iqn == iqn);
    let cur = found.filter(|t| t.tpgs.contains(&TPG));
    if let Some(other) = cur.and_then(|t| t.lun0.as_deref())
        && other != store
    {
        return Err(BackendError::Refused(format!(
            "{iqn}: LUN 0 is backstore {other}, not {store}; a live LUN is not changed (its sessions would drop)"
        )));
    }
    if !lio.iscsi {
        plan.mkdir("iscsi".into());
        plan.say("the iSCSI fabric loaded (target/iscsi made)".into());
    }
    let tpg = tpg_dir(iqn);
    match found {
        None => {
            plan.mkdir(format!("iscsi/{iqn}"));
            plan.mkdir(tpg.clone());
            plan.say(format!("target {iqn} made with TPG {TPG}"));
        }
        Some(_) if cur.is_none() => {
            plan.mkdir(tpg.clone());
            plan.say(format!("{iqn}: TPG {TPG} made"));
        }
        Some(_) => {}
    }
    if cur.and_then(|t| t.lun0.as_ref()).is_none() {
        plan.mkdir(format!("{tpg}/lun/lun_0"));
        plan.link(format!("{tpg}/lun/lun_0/{LINK}"), core(store));
        plan.say(format!("{iqn}: LUN 0 is backstore {store}"));
    }
    let have: BTreeSet<_> = cur.map(|t| t.portals.iter().collect()).unwrap_or_default();
    let want: BTreeSet<_> = spec.portals.iter().collect();
    for p in have.difference(&want) {
        plan.remove(format!("{tpg}/np/{}", p.np_name()));
        plan.say(format!("{iqn}: portal {p} removed"));
    }
    for p in want.difference(&have) {
        plan.mkdir(format!("{tpg}/np/{}", p.np_name()));
        plan.say(format!("{iqn}: portal {p} added"));
    }
    let alias = cur.and_then(|t| t.alias.as_deref());
    if alias != Some(&spec.alias) {
        plan.write(format!("{tpg}/param/TargetAlias"), spec.alias.clone());
        plan.say(match alias {
            Some(old) => format!("{iqn}: alias set to {} (was {old})", spec.alias),
            None => format!("{iqn}: alias set to {}", spec.alias),
        });
    }
    let mut attrib = |name: &str, on: bool, now: Option<bool>, words: &str| {
        if now != Some(on) {
            plan.write(format!("{tpg}/attrib/{name}"), bit(on));
            plan.say(format!("{iqn}: {words}"));
        }
    };
    let open = matches!(spec.access, Access::Open);
    attrib(
        "generate_node_acls",
        open,
        cur.map(|t| t.open),
        if open {
            "any initiator may log in"
        } else {
            "only initiators with an ACL may log in"
        },
    );
    if open {
        attrib(
            "cache_dynamic_acls",
            true,
            cur.map(|t| t.cache_dynamic_acls),
            "the ACLs made for initiators are kept",
        );
        attrib(
            "demo_mode_write_protect",
            false,
            cur.map(|t| t.write_protect),
            "initiators may write",
        );
    }
    let chap = spec.chap.is_some();
    attrib(
        "authentication",
        chap,
        cur.map(|t| t.authentication),
        if chap {
            "CHAP required"
        } else {
            "CHAP not required"
        },
    );
    if open {
        let now = cur.map_or((None, None, None, None), |t| {
            auth_now(&t.chap_user, &t.secret, &t.mutual_user, &t.mutual_secret)
        });
        auth(spec, &format!("{tpg}/auth"), "any initiator", now, plan);
    }
    let want: BTreeSet<&str> = match &spec.access {
        Access::Initiators(list) => list.iter().map(String::as_str).collect(),
        Access::Open => BTreeSet::new(),
    };
    let acls = cur.map_or(&[][..], |t| &t.acls[..]);
    for a in acls.iter().filter(|a| !want.contains(a.initiator.as_str())) {
        let dir = format!("{tpg}/acls/{}", a.initiator);
        plan.remove(format!("{dir}/lun_0"));
        plan.remove(dir);
        plan.say(format!("{iqn}: ACL for {} removed", a.initiator));
    }
    for initiator in want {
        let dir = format!("{tpg}/acls/{initiator}");
        let acl = acls.iter().find(|a| a.initiator == initiator);
        if acl.is_none() {
            plan.mkdir(dir.clone());
        }
        if !acl.is_some_and(|a| a.mapped) {
            plan.mkdir(format!("{dir}/lun_0"));
            plan.link(format!("{dir}/lun_0/{LINK}"), format!("{tpg}/lun/lun_0"));
            plan.say(match acl {
                None => format!("{iqn}: ACL for {initiator} added, LUN 0 mapped"),
                Some(_) => format!("{iqn}: LUN 0 mapped for {initiator}"),
            });
        }
        let now = acl.map_or((None, None, None, None), |a| {
            auth_now(&a.chap_user, &a.secret, &a.mutual_user, &a.mutual_secret)
        });
        auth(spec, &format!("{dir}/auth"), initiator, now, plan);
    }
    if !cur.is_some_and(|t| t.enabled) {
        plan.write(format!("{tpg}/enable"), "1");
        plan.say(format!("{iqn}: TPG {TPG} enabled"));
    }
    Ok(())
}

/// An `auth/` directory's user, secret, mutual user and mutual secret, as
/// read.
type AuthNow<'a> = (
    Option<&'a str>,
    Option<&'a Secret>,
    Option<&'a str>,
    Option<&'a Secret>,
);

fn auth_now<'a>(
    user: &'a Option<String>,
    secret: &'a Option<Secret>,
    mutual_user: &'a Option<String>,
    mutual_secret: &'a Option<Secret>,
) -> AuthNow<'a> {
    (
        user.as_deref(),
        secret.as_ref(),
        mutual_user.as_deref(),
        mutual_secret.as_ref(),
    )
}

/// Sets CHAP and mutual CHAP in `dir` (an ACL's or the TPG's `auth/`) as
/// the spec says, clearing what it does not have ("NULL" unsets). The
/// words name the user, never the secret.
fn auth(spec: &TargetSpec, dir: &str, whose: &str, now: AuthNow<'_>, plan: &mut Plan) {
    let (user, secret, mutual_user, mutual_secret) = now;
    let mut one = |kind: &str,
                   files: (&str, &str),
                   want: Option<&Chap>,
                   user: Option<&str>,
                   secret: Option<&Secret>| {
        let (user_file, secret_file) = files;
        let iqn = &spec.iqn;
        match want {
            Some(c) => {
                if user != Some(c.user.as_str()) {
                    plan.write(format!("{dir}/{user_file}"), c.user.clone());
                    plan.say(format!("{iqn}: {kind} user for {whose} set to {}", c.user));
                }
                if secret != Some(&c.secret) {
                    plan.ops.push(Op::Write(
                        format!("{dir}/{secret_file}"),
                        Value::Secret(c.secret.clone()),
                    ));
                    plan.say(format!("{iqn}: {kind} secret for {whose} set"));
                }
            }
            None => {
                if user.is_some() {
                    plan.write(format!("{dir}/{user_file}"), "NULL");
                    plan.say(format!("{iqn}: {kind} user for {whose} cleared"));
                }
                if secret.is_some() {
                    plan.write(format!("{dir}/{secret_file}"), "NULL");
                    plan.say(format!("{iqn}: {kind} secret for {whose} cleared"));
                }
            }
        }
    };
    one(
        "CHAP",
        ("userid", "password"),
        spec.chap.as_ref(),
        user,
        secret,
    );
    one(
        "mutual CHAP",
        ("userid_mutual", "password_mutual"),
        spec.mutual_chap.as_ref(),
        mutual_user,
        mutual_secret,
    );
}

/// The plan that removes target `iqn` and then backstore `backstore`
/// (both validated): ACLs with their LUN links, portals, the LUN, TPG 1
/// disabled and removed, the target; the backstore and its HBA when
/// nothing else is in it. LIO's saved reservations (`<dbroot>/pr/`) are
/// not touched. What is not there is left out.
pub fn remove(iqn: &str, backstore: &str, tree: &Tree) -> Result<Plan, BackendError> {
    let lio = &tree.lio;
    let mut plan = Plan::default();
    if let Some(t) = lio.targets.iter().find(|t| t.iqn == iqn) {
        let others: Vec<String> = t
            .tpgs
            .iter()
            .filter(|&&n| n != TPG)
            .map(u16::to_string)
            .collect();
        if !others.is_empty() {
            return Err(BackendError::Refused(format!(
                "{iqn} has TPGs other than {TPG} ({}): it was not made here and is not removed",
                others.join(", ")
            )));
        }
        if t.tpgs.contains(&TPG) {
            let tpg = tpg_dir(iqn);
            for a in &t.acls {
                plan.remove(format!("{tpg}/acls/{}/lun_0", a.initiator));
                plan.remove(format!("{tpg}/acls/{}", a.initiator));
                plan.say(format!("{iqn}: ACL for {} removed", a.initiator));
            }
            for p in &t.portals {
                plan.remove(format!("{tpg}/np/{}", p.np_name()));
                plan.say(format!("{iqn}: portal {p} removed"));
            }
            plan.remove(format!("{tpg}/lun/lun_0"));
            if let Some(store) = &t.lun0 {
                plan.say(format!("{iqn}: LUN 0 (backstore {store}) removed"));
            }
            if t.enabled {
                plan.write(format!("{tpg}/enable"), "0");
                plan.say(format!("{iqn}: TPG {TPG} disabled"));
            }
            plan.remove(tpg);
        }
        plan.remove(format!("iscsi/{iqn}"));
        plan.say(format!("target {iqn} removed"));
    }
    if let Some(b) = lio
        .backstores
        .iter()
        .find(|b| b.plugin == "iblock" && b.name == backstore)
    {
        let key = format!("{}/{}", b.hba, b.name);
        let users: Vec<&str> = lio
            .targets
            .iter()
            .filter(|t| t.iqn != iqn && t.lun0.as_deref() == Some(&key))
            .map(|t| t.iqn.as_str())
            .collect();
        if users.is_empty() {
            plan.remove(core(&key));
            plan.say(format!("backstore {key} removed"));
            if !lio
                .backstores
                .iter()
                .any(|o| o.hba == b.hba && o.name != b.name)
            {
                plan.remove(core(&b.hba));
                plan.say(format!("HBA {} removed (nothing else was in it)", b.hba));
            }
        } else {
            plan.say(format!(
                "backstore {key} kept: it is LUN 0 of {}",
                users.join(", ")
            ));
        }
    }
    Ok(plan)
}

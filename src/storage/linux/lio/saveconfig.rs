//! targetcli's (rtslib's) `saveconfig.json` read into [`Lio`], for
//! adopting targets made by hand: block backstores, iSCSI targets with
//! TPG 1's portals, LUN 0, ACLs and CHAP (secrets into the fields that are
//! never serialized), and other fabrics' targets by name.
//!
//! Fields not used are passed over; numbers and flags are read whether
//! saved as numbers, booleans or strings. The file records no HBA numbers:
//! a block backstore's `hba` is rtslib's name for its kind, `block`, so a
//! LUN's backstore reads `block/<name>` as `/backstores/block/<name>`.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::domain::target::{Acl, Backstore, ISCSI_PORT, Lio, LioTarget, Portal, Secret, TPG};

#[derive(Deserialize, Default)]
#[serde(default)]
struct Saved {
    storage_objects: Vec<SavedObject>,
    targets: Vec<SavedTarget>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SavedObject {
    name: String,
    plugin: String,
    dev: Option<String>,
    wwn: Option<String>,
    attributes: Map<String, Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SavedTarget {
    fabric: String,
    wwn: String,
    tpgs: Vec<SavedTpg>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SavedTpg {
    tag: Value,
    enable: Value,
    attributes: Map<String, Value>,
    parameters: Map<String, Value>,
    luns: Vec<SavedLun>,
    portals: Vec<SavedPortal>,
    node_acls: Vec<SavedAcl>,
    #[serde(flatten)]
    chap: SavedChap,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SavedChap {
    chap_userid: Option<String>,
    chap_password: Option<String>,
    chap_mutual_userid: Option<String>,
    chap_mutual_password: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SavedLun {
    index: Value,
    storage_object: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SavedPortal {
    ip_address: String,
    port: Value,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SavedAcl {
    node_wwn: String,
    mapped_luns: Vec<SavedMapped>,
    #[serde(flatten)]
    chap: SavedChap,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SavedMapped {
    tpg_lun: Value,
}

/// A number as saved: `1`, `true`, `"1"`.
fn number(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::Bool(b) => Some(i64::from(*b)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A flag as saved, `default` when absent or unreadable.
fn flag(v: Option<&Value>, default: bool) -> bool {
    number(v).map_or(default, |n| n == 1)
}

/// Text that is there and not "NULL" (rtslib's unset).
fn set(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "NULL")
        .map(String::from)
}

/// Reads `saveconfig.json`.
pub fn parse(text: &str) -> Result<Lio, String> {
    let saved: Saved = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let backstores = saved
        .storage_objects
        .iter()
        .filter(|o| o.plugin == "block" && !o.name.is_empty())
        .map(|o| Backstore {
            hba: "block".into(),
            plugin: "iblock".into(),
            name: o.name.clone(),
            device: set(&o.dev),
            serial: set(&o.wwn),
            enabled: true,
            unmap: flag(o.attributes.get("emulate_tpu"), false),
            write_cache: flag(o.attributes.get("emulate_write_cache"), false),
            reservation: None,
            aptpl: false,
        })
        .collect();
    let mut lio = Lio {
        backstores,
        ..Lio::default()
    };
    for t in saved.targets.iter().filter(|t| !t.wwn.is_empty()) {
        if t.fabric == "iscsi" {
            lio.iscsi = true;
            lio.targets.push(target(t));
        } else {
            lio.other_fabrics.push(format!("{}/{}", t.fabric, t.wwn));
        }
    }
    Ok(lio)
}

fn target(t: &SavedTarget) -> LioTarget {
    let mut tpgs: Vec<u16> = t
        .tpgs
        .iter()
        .filter_map(|g| u16::try_from(number(Some(&g.tag))?).ok())
        .collect();
    tpgs.sort_unstable();
    let tpg = t
        .tpgs
        .iter()
        .find(|g| number(Some(&g.tag)) == Some(i64::from(TPG)));
    let none = SavedTpg::default();
    let g = tpg.unwrap_or(&none);
    let mut portals: Vec<Portal> = g
        .portals
        .iter()
        .filter_map(|p| {
            let ip = p.ip_address.trim_start_matches('[').trim_end_matches(']');
            let port = number(Some(&p.port)).unwrap_or(ISCSI_PORT.into());
            Some(Portal {
                ip: ip.parse().ok()?,
                port: u16::try_from(port).ok()?,
            })
        })
        .collect();
    portals.sort();
    LioTarget {
        iqn: t.wwn.clone(),
        tpgs,
        enabled: tpg.is_some() && flag(Some(&g.enable), true),
        alias: g
            .parameters
            .get("TargetAlias")
            .and_then(Value::as_str)
            .map(String::from),
        lun0: g
            .luns
            .iter()
            .find(|l| number(Some(&l.index)) == Some(0))
            .and_then(|l| {
                let (kind, name) = l
                    .storage_object
                    .strip_prefix("/backstores/")?
                    .split_once('/')?;
                (!kind.is_empty() && !name.is_empty()).then(|| format!("{kind}/{name}"))
            }),
        portals,
        open: flag(g.attributes.get("generate_node_acls"), false),
        cache_dynamic_acls: flag(g.attributes.get("cache_dynamic_acls"), false),
        write_protect: flag(g.attributes.get("demo_mode_write_protect"), true),
        authentication: flag(g.attributes.get("authentication"), true),
        acls: g
            .node_acls
            .iter()
            .filter(|a| !a.node_wwn.is_empty())
            .map(|a| Acl {
                initiator: a.node_wwn.clone(),
                mapped: a
                    .mapped_luns
                    .iter()
                    .any(|m| number(Some(&m.tpg_lun)) == Some(0)),
                chap_user: set(&a.chap.chap_userid),
                mutual_user: set(&a.chap.chap_mutual_userid),
                secret: set(&a.chap.chap_password).map(Secret::new),
                mutual_secret: set(&a.chap.chap_mutual_password).map(Secret::new),
            })
            .collect(),
        chap_user: set(&g.chap.chap_userid),
        mutual_user: set(&g.chap.chap_mutual_userid),
        secret: set(&g.chap.chap_password).map(Secret::new),
        mutual_secret: set(&g.chap.chap_mutual_password).map(Secret::new),
        sessions: Vec::new(),
    }
}

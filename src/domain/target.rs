//! iSCSI targets: what Baystack asks of LIO for one exported volume
//! ([`TargetSpec`]), and what LIO has ([`Lio`]), as configfs shows it.
//!
//! Plain data, no I/O. A CHAP secret is a [`Secret`]: it has no `Debug`,
//! `Display` or `Serialize` that would print it, so it cannot slip into a
//! log line, a job's payload or an API answer by accident.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The target portal group every Baystack target has (and the only one).
pub const TPG: u16 = 1;
/// The LUN a target's volume is.
pub const LUN: u32 = 0;
/// iSCSI's port.
pub const ISCSI_PORT: u16 = 3260;

/// An address and port a target listens on. `0.0.0.0` is every IPv4
/// address; `::` every IPv6 one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Portal {
    pub ip: IpAddr,
    pub port: u16,
}

impl Portal {
    /// Every address, port 3260: the default.
    pub fn all() -> Self {
        Portal {
            ip: IpAddr::from([0, 0, 0, 0]),
            port: ISCSI_PORT,
        }
    }

    /// As LIO names its network portal directory and initiators write it:
    /// `0.0.0.0:3260`, `[fd00::1]:3260`.
    pub fn np_name(&self) -> String {
        match self.ip {
            IpAddr::V4(ip) => format!("{ip}:{}", self.port),
            IpAddr::V6(ip) => format!("[{ip}]:{}", self.port),
        }
    }

    /// Reads an LIO network portal directory's name back.
    pub fn parse(text: &str) -> Option<Portal> {
        let (host, port) = text.rsplit_once(':')?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        Some(Portal {
            ip: host.parse().ok()?,
            port: port.parse().ok()?,
        })
    }
}

impl fmt::Display for Portal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.np_name())
    }
}

/// A CHAP secret. Only [`Secret::expose`] gives the text, for the one
/// place that writes it to configfs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Self {
        Secret(text.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(hidden)")
    }
}

/// A CHAP user and its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chap {
    pub user: String,
    pub secret: Secret,
}

/// Who may log in to a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "mode", content = "initiators")]
pub enum Access {
    /// Only these initiators (an ACL each, LUN 0 mapped in each).
    Initiators(Vec<String>),
    /// Any initiator that finds the target (LIO's demo mode:
    /// `generate_node_acls`), with CHAP if it is set.
    Open,
}

/// One target as Baystack wants it in the kernel: a block backstore on
/// `device`, target `iqn` with TPG 1, LUN 0 on the backstore, the portals,
/// the access and CHAP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    /// The volume it exports.
    pub volume: String,
    pub iqn: String,
    /// `TargetAlias`: the volume's name.
    pub alias: String,
    /// The block backstore's name (the volume's own, or an adopted one's).
    pub backstore: String,
    /// The block device the backstore is on: the volume's front device
    /// (an adopted target keeps the device it had).
    pub device: String,
    /// The VPD unit serial (page 0x80); LIO derives the NAA WWN from it
    /// ([`naa_wwn`]).
    pub serial: String,
    /// Advertise UNMAP (thin volumes).
    pub unmap: bool,
    pub portals: Vec<Portal>,
    pub access: Access,
    /// CHAP: the initiator proves itself to the target.
    pub chap: Option<Chap>,
    /// Mutual CHAP: the target proves itself to the initiator too.
    pub mutual_chap: Option<Chap>,
}

/// The NAA WWN LIO gives a device (VPD page 0x83), from its unit serial:
/// NAA 6 with LIO's company id 00-14-05, then the serial's first 25 hex
/// digits (others skipped), as the kernel's
/// `spc_gen_naa_6h_vendor_specific` makes it. `naa.` and 32 hex digits.
pub fn naa_wwn(serial: &str) -> String {
    let mut digits: String = serial
        .chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_lowercase())
        .take(25)
        .collect();
    while digits.len() < 25 {
        digits.push('0');
    }
    format!("naa.6001405{digits}")
}

/// A block backstore (or another plugin's storage object) as configfs has
/// it, under `target/core/<hba>/<name>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backstore {
    /// The HBA directory: `iblock_0`, `fileio_1`, `user_2`.
    pub hba: String,
    /// Its plugin: `iblock`, `fileio`, `pscsi`, `user`, `rd_mcp`.
    pub plugin: String,
    pub name: String,
    /// The device or file it is on (`udev_path`).
    pub device: Option<String>,
    pub serial: Option<String>,
    pub enabled: bool,
    /// Advertises UNMAP (`attrib/emulate_tpu`).
    pub unmap: bool,
    /// Reports a write cache (`attrib/emulate_write_cache`).
    pub write_cache: bool,
    /// The holder of a persistent reservation, in LIO's words.
    pub reservation: Option<String>,
    /// Whether its reservations persist through power loss (APTPL).
    pub aptpl: bool,
}

/// An initiator's ACL on a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    pub initiator: String,
    /// LUN 0 is mapped for it.
    pub mapped: bool,
    pub chap_user: Option<String>,
    pub mutual_user: Option<String>,
    /// The CHAP secret, read for comparing and adopting; never serialized.
    #[serde(skip)]
    pub secret: Option<Secret>,
    /// The mutual CHAP secret, likewise.
    #[serde(skip)]
    pub mutual_secret: Option<Secret>,
}

/// A logged-in initiator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub initiator: String,
    /// The initiator's address, as its connection shows it.
    pub address: Option<String>,
    /// LIO's session state: `TARG_SESS_STATE_LOGGED_IN`.
    pub state: String,
}

/// One iSCSI target as configfs has it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LioTarget {
    pub iqn: String,
    /// Its TPG numbers (Baystack's have only TPG 1).
    pub tpgs: Vec<u16>,
    /// TPG 1 is enabled.
    pub enabled: bool,
    pub alias: Option<String>,
    /// LUN 0's backstore, as `<hba>/<name>`.
    pub lun0: Option<String>,
    pub portals: Vec<Portal>,
    /// `generate_node_acls`: any initiator may log in.
    pub open: bool,
    /// `cache_dynamic_acls`: an open target keeps the ACL it made for an
    /// initiator after its session ends.
    #[serde(default)]
    pub cache_dynamic_acls: bool,
    /// `demo_mode_write_protect`: initiators of an open target may only
    /// read.
    #[serde(default)]
    pub write_protect: bool,
    /// CHAP is required (`attrib/authentication`).
    pub authentication: bool,
    pub acls: Vec<Acl>,
    /// The TPG's own CHAP user (used in open mode).
    pub chap_user: Option<String>,
    pub mutual_user: Option<String>,
    /// The TPG's own CHAP secrets, read for comparing and adopting; never
    /// serialized.
    #[serde(skip)]
    pub secret: Option<Secret>,
    #[serde(skip)]
    pub mutual_secret: Option<Secret>,
    pub sessions: Vec<Session>,
}

/// LIO as configfs has it now.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Lio {
    /// Whether the iSCSI fabric module is loaded (`target/iscsi` exists).
    pub iscsi: bool,
    pub targets: Vec<LioTarget>,
    pub backstores: Vec<Backstore>,
    /// Targets of other fabrics (`loopback/naa....`), as `<fabric>/<wwn>`.
    pub other_fabrics: Vec<String>,
    /// Where LIO keeps persistent reservations (`target/dbroot`).
    pub dbroot: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portals_read_back_as_written() {
        for text in [
            "0.0.0.0:3260",
            "192.168.1.10:3261",
            "[::]:3260",
            "[fd00::1]:860",
        ] {
            let p = Portal::parse(text).unwrap();
            assert_eq!(p.np_name(), text);
        }
        assert_eq!(Portal::all().np_name(), "0.0.0.0:3260");
        for bad in ["", "0.0.0.0", "host:3260", "1.2.3.4:99999", "[::1:3260"] {
            assert_eq!(Portal::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_wwn_follows_the_serial_as_lio_makes_it() {
        // A serial as rtslib makes them (a UUID): the hyphens are skipped.
        assert_eq!(
            naa_wwn("6705b8e6-f9a2-4c6e-8d11-3b2a1f0e9c47"),
            "naa.60014056705b8e6f9a24c6e8d113b2a1"
        );
        assert_eq!(naa_wwn("").len(), 36);
    }

    #[test]
    fn a_secret_never_prints() {
        let chap = Chap {
            user: "host1".into(),
            secret: Secret::new("verysecret123"),
        };
        assert!(!format!("{chap:?}").contains("verysecret"));
        assert_eq!(chap.secret.expose(), "verysecret123");
    }

    #[test]
    fn a_secret_read_from_lio_is_never_serialized() {
        let acl = Acl {
            initiator: "iqn.1991-05.com.microsoft:host1".into(),
            mapped: true,
            chap_user: Some("host1".into()),
            mutual_user: Some("bay01".into()),
            secret: Some(Secret::new("verysecret123")),
            mutual_secret: Some(Secret::new("othersecret456")),
        };
        let json = serde_json::to_string(&acl).unwrap();
        assert!(
            !json.contains("secret123") && !json.contains("secret456"),
            "{json}"
        );
        assert!(!format!("{acl:?}").contains("secret123"));
        let back: Acl = serde_json::from_str(&json).unwrap();
        assert_eq!((back.secret, back.chap_user), (None, Some("host1".into())));
    }
}

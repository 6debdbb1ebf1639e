//! The simulator's LIO: block backstores and iSCSI targets as configfs
//! would hold them, and initiators that log in ([`SimBackend::connect`]),
//! refused as the kernel refuses them (not in the ACL, wrong CHAP).

use serde::{Deserialize, Serialize};

use super::*;
use crate::domain::target::{
    Access, Acl, Backstore, Lio, LioTarget, Portal, Secret, Session, TargetSpec,
};
use crate::storage::Targets;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct SimLio {
    pub backstores: Vec<SimBackstore>,
    pub targets: Vec<SimTarget>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct SimBackstore {
    pub name: String,
    pub device: String,
    pub serial: String,
    pub unmap: bool,
}

/// A target; the simulator keeps CHAP secrets as configfs does, to check
/// an initiator's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct SimTarget {
    pub iqn: String,
    pub alias: String,
    pub backstore: String,
    pub portals: Vec<Portal>,
    pub access: Access,
    pub chap: Option<(String, String)>,
    pub mutual_chap: Option<(String, String)>,
    #[serde(default)]
    pub sessions: Vec<Session>,
}

fn chap_of(c: &Option<crate::domain::target::Chap>) -> Option<(String, String)> {
    c.as_ref()
        .map(|c| (c.user.clone(), c.secret.expose().to_string()))
}

impl SimTarget {
    fn view(&self, backstore: Option<&SimBackstore>) -> LioTarget {
        let user = |c: &Option<(String, String)>| c.as_ref().map(|c| c.0.clone());
        let secret = |c: &Option<(String, String)>| c.as_ref().map(|c| Secret::new(c.1.clone()));
        let (open, acls) = match &self.access {
            Access::Open => (true, Vec::new()),
            Access::Initiators(list) => (
                false,
                list.iter()
                    .map(|i| Acl {
                        initiator: i.clone(),
                        mapped: true,
                        chap_user: user(&self.chap),
                        mutual_user: user(&self.mutual_chap),
                        secret: secret(&self.chap),
                        mutual_secret: secret(&self.mutual_chap),
                    })
                    .collect(),
            ),
        };
        LioTarget {
            iqn: self.iqn.clone(),
            tpgs: vec![crate::domain::target::TPG],
            enabled: true,
            alias: Some(self.alias.clone()),
            lun0: backstore.map(|b| format!("iblock_0/{}", b.name)),
            portals: self.portals.clone(),
            open,
            cache_dynamic_acls: open,
            write_protect: false,
            authentication: self.chap.is_some(),
            acls,
            chap_user: if open { user(&self.chap) } else { None },
            mutual_user: if open { user(&self.mutual_chap) } else { None },
            secret: if open { secret(&self.chap) } else { None },
            mutual_secret: if open {
                secret(&self.mutual_chap)
            } else {
                None
            },
            sessions: self.sessions.clone(),
        }
    }

    fn allows(&self, initiator: &str) -> bool {
        match &self.access {
            Access::Open => true,
            Access::Initiators(list) => list.iter().any(|i| i == initiator),
        }
    }
}

/// What differs between `old` and `new`, in words.
fn differences(old: &SimTarget, new: &SimTarget) -> Vec<String> {
    let mut words = Vec::new();
    let iqn = &new.iqn;
    if old.alias != new.alias {
        words.push(format!("{iqn}: alias set to {}", new.alias));
    }
    for p in new.portals.iter().filter(|p| !old.portals.contains(p)) {
        words.push(format!("{iqn}: portal {p} added"));
    }
    for p in old.portals.iter().filter(|p| !new.portals.contains(p)) {
        words.push(format!("{iqn}: portal {p} removed"));
    }
    match (&old.access, &new.access) {
        (Access::Initiators(a), Access::Initiators(b)) => {
            for i in b.iter().filter(|i| !a.contains(i)) {
                words.push(format!("{iqn}: initiator {i} allowed"));
            }
            for i in a.iter().filter(|i| !b.contains(i)) {
                words.push(format!("{iqn}: initiator {i} no longer allowed"));
            }
        }
        (a, b) if a != b => words.push(format!(
            "{iqn}: access now {}",
            if *b == Access::Open {
                "open to any initiator"
            } else {
                "by initiator list"
            }
        )),
        _ => {}
    }
    if old.chap != new.chap {
        words.push(format!("{iqn}: CHAP set"));
    }
    if old.mutual_chap != new.mutual_chap {
        words.push(format!("{iqn}: mutual CHAP set"));
    }
    words
}

impl Targets for SimBackend {
    fn lio(&self, _log: &mut dyn CommandLog) -> Result<Lio, BackendError> {
        let state = self.load()?;
        let backstores = state
            .lio
            .backstores
            .iter()
            .map(|b| Backstore {
                hba: "iblock_0".into(),
                plugin: "iblock".into(),
                name: b.name.clone(),
                device: Some(b.device.clone()),
                serial: Some(b.serial.clone()),
                enabled: true,
                unmap: b.unmap,
                write_cache: true,
                reservation: None,
                aptpl: false,
            })
            .collect();
        let targets = state
            .lio
            .targets
            .iter()
            .map(|t| t.view(state.lio.backstores.iter().find(|b| b.name == t.backstore)))
            .collect();
        Ok(Lio {
            iscsi: true,
            targets,
            backstores,
            other_fabrics: Vec::new(),
            dbroot: Some("/var/target".into()),
        })
    }

    fn apply_target(
        &self,
        spec: &TargetSpec,
        _log: &mut dyn CommandLog,
    ) -> Result<Vec<String>, BackendError> {
        self.change(|state| {
            let device = spec.device.clone();
            if !state.device_exists(&device) {
                return Err(BackendError::Gone(format!(
                    "{device} does not exist; the backstore needs it"
                )));
            }
            let mut words = Vec::new();
            let want = SimBackstore {
                name: spec.backstore.clone(),
                device,
                serial: spec.serial.clone(),
                unmap: spec.unmap,
            };
            match state
                .lio
                .backstores
                .iter_mut()
                .find(|b| b.name == want.name)
            {
                None => {
                    words.push(format!(
                        "backstore iblock/{} made on {} with serial {}",
                        want.name, want.device, want.serial
                    ));
                    state.lio.backstores.push(want);
                }
                Some(b) if b.device != want.device || b.serial != want.serial => {
                    return Err(BackendError::Refused(format!(
                        "backstore {} is on {} with serial {}, not {} with {}; changing that \
                         would drop its sessions",
                        b.name, b.device, b.serial, want.device, want.serial
                    )));
                }
                Some(b) if b.unmap != want.unmap => {
                    b.unmap = want.unmap;
                    words.push(format!(
                        "backstore {}: UNMAP {}",
                        b.name,
                        if want.unmap {
                            "advertised"
                        } else {
                            "not advertised"
                        }
                    ));
                }
                Some(_) => {}
            }
            let new = SimTarget {
                iqn: spec.iqn.clone(),
                alias: spec.alias.clone(),
                backstore: spec.backstore.clone(),
                portals: spec.portals.clone(),
                access: spec.access.clone(),
                chap: chap_of(&spec.chap),
                mutual_chap: chap_of(&spec.mutual_chap),
                sessions: Vec::new(),
            };
            match state.lio.targets.iter_mut().find(|t| t.iqn == spec.iqn) {
                None => {
                    words.push(format!(
                        "target {} made: LUN 0 on {}, portals {}",
                        new.iqn,
                        new.backstore,
                        new.portals
                            .iter()
                            .map(Portal::np_name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                    state.lio.targets.push(new);
                }
                Some(t) => {
                    let changed = differences(t, &new);
                    if !changed.is_empty() {
                        let sessions = std::mem::take(&mut t.sessions);
                        *t = new;
                        // As LIO does: an initiator no longer allowed is
                        // logged out; the others stay.
                        t.sessions = sessions
                            .into_iter()
                            .filter(|s| t.allows(&s.initiator))
                            .collect();
                        words.extend(changed);
                    }
                }
            }
            Ok(words)
        })
    }

    fn remove_target(
        &self,
        iqn: &str,
        backstore: &str,
        _log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        self.change(|state| {
            let had_target = state.lio.targets.iter().any(|t| t.iqn == iqn);
            state.lio.targets.retain(|t| t.iqn != iqn);
            let had_store = state.lio.backstores.iter().any(|b| b.name == backstore);
            state.lio.backstores.retain(|b| b.name != backstore);
            Ok(match (had_target, had_store) {
                (false, false) => format!("there is no target {iqn}; nothing to remove"),
                _ => format!("target {iqn} and backstore {backstore} removed"),
            })
        })
    }
}

impl SimBackend {
    /// A simulated initiator logs in to target `iqn` from `address`, with
    /// CHAP `(user, secret)` if it has one; refused as LIO refuses it.
    pub fn connect(
        &self,
        iqn: &str,
        initiator: &str,
        address: &str,
        chap: Option<(&str, &str)>,
    ) -> Result<String, BackendError> {
        self.change(|state| {
            let t = state
                .lio
                .targets
                .iter_mut()
                .find(|t| t.iqn == iqn)
                .ok_or_else(|| BackendError::Gone(format!("there is no target {iqn}")))?;
            if !t.allows(initiator) {
                return Err(BackendError::Refused(format!(
                    "login refused: {initiator} is not in {iqn}'s access list"
                )));
            }
            if let Some((user, secret)) = &t.chap
                && chap != Some((user.as_str(), secret.as_str()))
            {
                return Err(BackendError::Refused(
                    "login refused: authorization failure (CHAP)".into(),
                ));
            }
            t.sessions.retain(|s| s.initiator != initiator);
            t.sessions.push(Session {
                initiator: initiator.into(),
                address: Some(address.into()),
                state: "TARG_SESS_STATE_LOGGED_IN".into(),
            });
            Ok(format!("{initiator} logged in to {iqn} from {address}"))
        })
    }

    /// A simulated initiator logs out of target `iqn`.
    pub fn disconnect(&self, iqn: &str, initiator: &str) -> Result<String, BackendError> {
        self.change(|state| {
            for t in state.lio.targets.iter_mut().filter(|t| t.iqn == iqn) {
                t.sessions.retain(|s| s.initiator != initiator);
            }
            Ok(format!("{initiator} logged out of {iqn}"))
        })
    }

    /// An administrator makes target `iqn` by hand (as with targetcli): a
    /// block backstore `store` on logical volume `vg/lv`, LUN 0, an ACL
    /// for `initiator`, CHAP `(user, secret)` if given. Baystack did not
    /// make it; it can adopt it.
    pub fn hand_made_target(
        &self,
        vg: &str,
        lv: &str,
        store: &str,
        iqn: &str,
        initiator: &str,
        chap: Option<(&str, &str)>,
    ) -> Result<String, BackendError> {
        self.change(|state| {
            let device = format!("/dev/{vg}/{lv}");
            if !state.device_exists(&device) {
                return Err(BackendError::Gone(format!("there is no {device}")));
            }
            state.lio.backstores.push(SimBackstore {
                name: store.into(),
                device,
                serial: format!("{:08x}-hand-made", state.lio.backstores.len() + 1),
                unmap: false,
            });
            state.lio.targets.push(SimTarget {
                iqn: iqn.into(),
                alias: store.into(),
                backstore: store.into(),
                portals: vec![Portal::all()],
                access: Access::Initiators(vec![initiator.into()]),
                chap: chap.map(|(u, s)| (u.into(), s.into())),
                mutual_chap: None,
                sessions: Vec::new(),
            });
            Ok(format!("target {iqn} made by hand on {vg}/{lv}"))
        })
    }

    /// LIO loses target `iqn` and its backstore, as a hand edit or a
    /// half-restored boot would leave it: for a reconcile to put back.
    pub fn lose_target(&self, iqn: &str) -> Result<String, BackendError> {
        self.change(|state| {
            let store = state
                .lio
                .targets
                .iter()
                .find(|t| t.iqn == iqn)
                .map(|t| t.backstore.clone());
            state.lio.targets.retain(|t| t.iqn != iqn);
            state
                .lio
                .backstores
                .retain(|b| Some(&b.name) != store.as_ref());
            Ok(format!("target {iqn} is gone from LIO"))
        })
    }

    /// A simulated initiator writes `bytes` more to volume `volume` (a
    /// thin volume takes that much more of its thin pool).
    pub fn write(&self, volume: &str, bytes: u64) -> Result<String, BackendError> {
        self.change(|state| {
            for g in &mut state.volume_groups {
                if let Some(l) = g.lvs.iter_mut().find(|l| l.name == volume) {
                    l.used_bytes = (l.used_bytes + bytes).min(l.size_bytes);
                    return Ok(format!("{volume} has {} bytes written", l.used_bytes));
                }
            }
            Err(BackendError::Gone(format!("there is no volume {volume}")))
        })
    }
}

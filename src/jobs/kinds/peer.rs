//! `peer.pair`: this appliance presents a pairing code made on another to
//! that appliance's agent, over TLS pinned to the certificate the code
//! names; the other records this one as its peer and uses the code up,
//! and this one records the other. `peer.remove`: a peer is told it is
//! forgotten (when it can be reached) and is forgotten here.
//!
//! The code's secret is never in the payload: it waits in `job_secrets`
//! for the step, which deletes it whatever the answer.

use serde::{Deserialize, Serialize};

use super::Kind;
use crate::db::{self, Conn, audit, peers};
use crate::domain::resource;
use crate::error::AppError;
use crate::jobs::link::{self, tls, wire};
use crate::jobs::runner::{JobError, StepCtx};

/// What a pasted code says, but its secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PairPayload {
    /// The other appliance's channel.
    pub address: String,
    /// The SHA-256 of its certificate, hex.
    pub fingerprint: String,
    /// When the code stops being accepted, seconds since the epoch.
    pub expires_at: i64,
    /// How the other appliance reaches this one's channel: the configured
    /// address, or `None` for the address its connection comes from.
    pub own_address: Option<String>,
    /// The port this appliance's channel listens on.
    pub own_port: u16,
    /// Who pasted the code.
    pub by: String,
}

pub struct PeerPair;

/// The resource every pairing and removal locks: they change the set of
/// peers, one at a time.
const PEERS: &str = "peers";

/// Enqueues a pairing, its secret kept for the step alone, in the
/// caller's transaction. Returns the job's id.
pub fn pair(
    c: &mut Conn<'_>,
    p: &PairPayload,
    secret: &str,
    address: &str,
) -> Result<i64, AppError> {
    let spec = PeerPair.spec(
        p,
        format!("Pair with the appliance at {}", p.address),
        vec![PEERS.into()],
        vec![format!("Pair with {}", p.address)],
    );
    let id = crate::jobs::enqueue_audited(c, &spec, &p.by, Some(address), None, None)?;
    peers::keep_job_secret(c, id, secret)?;
    Ok(id)
}

impl Kind for PeerPair {
    type Payload = PairPayload;

    fn name(&self) -> &'static str {
        "peer.pair"
    }

    fn observed_after(&self) -> bool {
        false
    }

    fn resumable(&self) -> bool {
        // Its secret is gone once it has been presented.
        false
    }

    fn run_step(
        &self,
        p: &PairPayload,
        _position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        let job = ctx.job_id();
        let (secret, own, identity) = ctx.read(move |c| {
            let secret = peers::job_secret(c, job)?;
            peers::drop_job_secret(c, job)?;
            let own = db::appliance::get(c)?.map(|a| a.hostname);
            Ok((secret, own, tls::identity_on(c)?))
        })?;
        let Some(secret) = secret else {
            return Err(JobError::Refused(
                "the pairing code's secret is no longer kept (a retried pairing): paste the \
                 code again"
                    .into(),
            ));
        };
        let own = own.ok_or_else(|| JobError::Refused("this appliance is not set up".into()))?;
        if p.expires_at <= chrono::Utc::now().timestamp() {
            return Err(JobError::Refused(format!(
                "the pairing code expired at {} UTC: make a new one on the other appliance",
                chrono::DateTime::from_timestamp(p.expires_at, 0)
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default()
            )));
        }
        let mut s = link::connect(&identity, &p.address, &p.fingerprint)
            .map_err(|e| JobError::Refused(format!("pairing: {e}")))?;
        let own_address = match &p.own_address {
            Some(a) => a.clone(),
            None => {
                let ip = s
                    .sock
                    .local_addr()
                    .map_err(|e| JobError::Refused(e.to_string()))?
                    .ip();
                std::net::SocketAddr::new(ip, p.own_port).to_string()
            }
        };
        let ask = wire::Msg::Pair {
            protocol: wire::PROTOCOL,
            secret,
            name: own.clone(),
            address: own_address.clone(),
        };
        let answer = wire::send(&mut s, &ask)
            .and_then(|()| wire::recv_msg(&mut s))
            .map_err(|e| JobError::Refused(format!("{}: {e}", p.address)))?;
        let name = match answer {
            wire::Msg::Paired { name } => name,
            wire::Msg::Refused { reason } => {
                return Err(JobError::Refused(format!(
                    "the appliance at {} refused: {reason}",
                    p.address
                )));
            }
            other => {
                return Err(JobError::Refused(format!(
                    "the appliance at {} answered {other:?}",
                    p.address
                )));
            }
        };
        crate::naming::validate_hostname(&name)
            .map_err(|e| JobError::Failed(format!("the peer's name: {e}")))?;
        let row = peers::PeerRow {
            name: name.clone(),
            address: p.address.clone(),
            fingerprint: p.fingerprint.to_ascii_lowercase(),
            paired_at: db::now(),
            paired_by: p.by.clone(),
            last_seen_at: Some(db::now()),
            last_error: None,
        };
        let by = p.by.clone();
        ctx.commit_with_step(move |c, now| {
            peers::keep_peer(c, &row)?;
            audit::record(
                c,
                &audit::Entry {
                    actor: Some(&by),
                    address: None,
                    action: "peer.pair",
                    target: Some(&format!("peer {}", row.name)),
                    outcome: audit::Outcome::Ok,
                    detail: &format!(
                        "paired with {} at {} by its pairing code; its certificate {}",
                        row.name,
                        row.address,
                        crate::domain::peer::fingerprint_words(&row.fingerprint)
                    ),
                },
                now,
            )
        });
        Ok(format!(
            "paired with {name} at {}; it reaches this appliance's channel at {own_address}",
            p.address
        ))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemovePayload {
    pub name: String,
    pub by: String,
}

pub struct PeerRemove;

/// Enqueues a peer's removal. Returns the job's id.
pub fn remove(c: &mut Conn<'_>, p: &RemovePayload, address: &str) -> Result<i64, AppError> {
    let spec = PeerRemove.spec(
        p,
        format!("Remove peer {}", p.name),
        vec![PEERS.into(), resource::peer(&p.name)],
        vec![format!("Tell {}", p.name), format!("Forget {}", p.name)],
    );
    Ok(crate::jobs::enqueue_audited(
        c,
        &spec,
        &p.by,
        Some(address),
        None,
        None,
    )?)
}

impl Kind for PeerRemove {
    type Payload = RemovePayload;

    fn name(&self) -> &'static str {
        "peer.remove"
    }

    fn observed_after(&self) -> bool {
        false
    }

    fn run_step(
        &self,
        p: &RemovePayload,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        let name = p.name.clone();
        let (peer, identity) =
            ctx.read(move |c| Ok((peers::peer(c, &name)?, tls::identity_on(c)?)))?;
        let Some(peer) = peer else {
            return Ok(format!("{} is not a peer (removed already)", p.name));
        };
        match position {
            0 => Ok(match tell_forget(&identity, &peer) {
                Ok(()) => format!("{} forgot this appliance", peer.name),
                Err(e) => format!(
                    "{} could not be told ({e}); it lists this appliance until it is removed \
                     there too",
                    peer.name
                ),
            }),
            _ => {
                let (name, by) = (peer.name.clone(), p.by.clone());
                ctx.commit_with_step(move |c, now| {
                    peers::remove_peer(c, &name)?;
                    audit::record(
                        c,
                        &audit::Entry {
                            actor: Some(&by),
                            address: None,
                            action: "peer.remove",
                            target: Some(&format!("peer {name}")),
                            outcome: audit::Outcome::Ok,
                            detail: "removed; its connections are refused from now on",
                        },
                        now,
                    )
                });
                Ok(format!(
                    "{} forgotten: its connections are refused from now on",
                    peer.name
                ))
            }
        }
    }
}

/// Opens a session with a peer: connected, its certificate the pinned one,
/// and known to it.
pub fn session(identity: &peers::Identity, peer: &peers::PeerRow) -> Result<link::Client, String> {
    let mut s = link::connect(identity, &peer.address, &peer.fingerprint)?;
    wire::send(
        &mut s,
        &wire::Msg::Hello {
            protocol: wire::PROTOCOL,
        },
    )
    .map_err(|e| e.to_string())?;
    match wire::recv_msg(&mut s).map_err(|e| e.to_string())? {
        wire::Msg::Welcome { .. } => Ok(s),
        wire::Msg::Refused { reason } => Err(format!("{} refused: {reason}", peer.name)),
        other => Err(format!("{} answered {other:?}", peer.name)),
    }
}

fn tell_forget(identity: &peers::Identity, peer: &peers::PeerRow) -> Result<(), String> {
    let mut s = session(identity, peer)?;
    wire::send(&mut s, &wire::Msg::Forget).map_err(|e| e.to_string())?;
    match wire::recv_msg(&mut s).map_err(|e| e.to_string())? {
        wire::Msg::Done => Ok(()),
        wire::Msg::Refused { reason } => Err(reason),
        other => Err(format!("it answered {other:?}")),
    }
}

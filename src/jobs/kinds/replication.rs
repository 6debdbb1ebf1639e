//! Replication, the source's side. `replication.enable` has the peer make
//! the replica and waits for it; the agent then enqueues a
//! `replication.ship` every interval ([`enqueue_due`]), which takes the
//! next point (a thin snapshot of the volume, in use or not), sends what
//! changed since the last point both sides hold, and prunes the points
//! the replica no longer needs. `replication.disable` has the peer release
//! its replica and forgets the replication here. Each holds the volume's
//! key and the peer's, so transfers go in order with every other change
//! to the volume, one peer's transfers one at a time.

use serde::{Deserialize, Serialize};

use super::Kind;
use crate::db::replication::{self as store, Change, ReplicationRow};
use crate::db::{self, Conn, audit, peers, volumes};
use crate::domain::replica::{Role, SourceTarget, State, point_lv};
use crate::domain::resource;
use crate::error::AppError;
use crate::jobs::link::{receive, send, tls, wire};
use crate::jobs::runner::{JobError, StepCtx};
use crate::jobs::{self, JobSpec, queue};
use crate::storage::NoLog;

/// How long a failed transfer waits before the next attempt.
pub const RETRY_AFTER_S: i64 = 10;
/// How long the enable job waits for the peer to make the replica.
const PREPARE_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VolumePayload {
    pub volume: String,
    pub peer: String,
}

fn resources(p: &VolumePayload) -> Vec<String> {
    vec![resource::volume(&p.volume), resource::peer(&p.peer)]
}

fn row(ctx: &StepCtx<'_>, volume: &str) -> Result<ReplicationRow, JobError> {
    let v = volume.to_string();
    ctx.read(move |c| store::get(c, &v))?
        .ok_or_else(|| JobError::Refused(format!("{volume} is not replicated (any more)")))
}

/// The peer and this appliance's identity, for a session.
fn session(ctx: &StepCtx<'_>, peer: &str) -> Result<super::super::link::Client, JobError> {
    let name = peer.to_string();
    let (row, identity) = ctx.read(move |c| Ok((peers::peer(c, &name)?, tls::identity_on(c)?)))?;
    let row = row.ok_or_else(|| JobError::Refused(format!("{peer} is not a peer (any more)")))?;
    super::peer::session(&identity, &row).map_err(JobError::Refused)
}

/// Sends one request and reads its answer.
fn ask(s: &mut super::super::link::Client, m: &wire::Msg) -> Result<wire::Msg, JobError> {
    wire::send(s, m)
        .and_then(|()| wire::recv_msg(s))
        .map_err(|e| JobError::Refused(e.to_string()))
}

/// Asks the peer how its replica of `volume` stands until `ready` says
/// it is so, for at most [`PREPARE_WAIT`]; a refusal ends it at once.
fn await_replica(
    ctx: &StepCtx<'_>,
    peer: &str,
    volume: &str,
    what: &str,
    ready: impl Fn(&wire::Msg) -> bool,
) -> Result<(), JobError> {
    let started = std::time::Instant::now();
    loop {
        let mut s = session(ctx, peer)?;
        let answer = ask(
            &mut s,
            &wire::Msg::Status {
                volume: volume.into(),
            },
        )?;
        match &answer {
            m if ready(m) => return Ok(()),
            wire::Msg::Replica { .. } => {}
            wire::Msg::Refused { reason } => {
                return Err(JobError::Refused(format!("{peer}: {reason}")));
            }
            other => return Err(JobError::Refused(format!("{peer} answered {other:?}"))),
        }
        if started.elapsed() > PREPARE_WAIT || ctx.stop_requested() {
            return Err(JobError::Refused(format!(
                "{peer} did not {what} of {volume} in {} minutes (it said {answer:?}): see its jobs",
                PREPARE_WAIT.as_secs() / 60
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

pub struct ReplicationEnable;

/// The enable job, for a replication the caller recorded in the same
/// transaction.
pub fn enable(p: &VolumePayload) -> JobSpec {
    ReplicationEnable.spec(
        p,
        format!("Replicate volume {} to {}", p.volume, p.peer),
        resources(p),
        vec![
            format!("Ask {} for a replica of {}", p.peer, p.volume),
            format!("Wait for {} to make it", p.peer),
            "Start replicating".into(),
        ],
    )
}

impl Kind for ReplicationEnable {
    type Payload = VolumePayload;

    fn name(&self) -> &'static str {
        "replication.enable"
    }

    fn observed_after(&self) -> bool {
        false
    }

    fn run_step(
        &self,
        p: &VolumePayload,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        let r = row(ctx, &p.volume)?;
        match position {
            0 => {
                let name = p.volume.clone();
                let v = ctx
                    .read(move |c| volumes::by_name(c, &name))?
                    .ok_or_else(|| JobError::Refused(format!("there is no volume {}", p.volume)))?;
                let mut s = session(ctx, &p.peer)?;
                match ask(
                    &mut s,
                    &wire::Msg::Prepare {
                        volume: p.volume.clone(),
                        size_bytes: v.size_bytes as u64,
                        pool: r.pool.clone(),
                        serial: v.serial.clone(),
                    },
                )? {
                    wire::Msg::Prepared { detail, .. } => Ok(detail),
                    wire::Msg::Refused { reason } => {
                        Err(JobError::Refused(format!("{} refused: {reason}", p.peer)))
                    }
                    other => Err(JobError::Refused(format!("{} answered {other:?}", p.peer))),
                }
            }
            1 => {
                await_replica(ctx, &p.peer, &p.volume, "make its replica", |m| {
                    matches!(m, wire::Msg::Replica { ready: true, .. })
                })?;
                Ok(format!("{}'s replica of {} is made", p.peer, p.volume))
            }
            _ => {
                let volume = p.volume.clone();
                ctx.commit_with_step(move |c, now| {
                    store::update(c, &volume, Change::state(State::InitialSync), now).map(|_| ())
                });
                Ok(format!(
                    "replicating {} to {}: the first point is sent in full, then what changes \
                     every {} s",
                    p.volume, p.peer, r.interval_s
                ))
            }
        }
    }
}

pub struct ReplicationShip;

/// A transfer's job.
pub fn ship(p: &VolumePayload) -> JobSpec {
    ReplicationShip.spec(
        p,
        format!("Send volume {}'s next point to {}", p.volume, p.peer),
        resources(p),
        vec![
            "Take the point".into(),
            format!("Send it to {}", p.peer),
            "Prune older points".into(),
        ],
    )
}

/// The source's export as the replica is to keep it.
fn source_target(c: &mut Conn<'_>, volume: &str) -> diesel::QueryResult<Option<SourceTarget>> {
    let Some(v) = volumes::by_name(c, volume)? else {
        return Ok(None);
    };
    let Some(t) = volumes::target_of(c, v.id)? else {
        return Ok(None);
    };
    let spec = t.spec(&v, volumes::initiators_of(c, v.id)?);
    let pair = |x: Option<crate::domain::target::Chap>| {
        x.map(|x| (x.user.clone(), x.secret.expose().to_string()))
    };
    Ok(Some(SourceTarget {
        iqn: spec.iqn,
        access: spec.access,
        chap: pair(spec.chap),
        mutual_chap: pair(spec.mutual_chap),
    }))
}

impl Kind for ReplicationShip {
    type Payload = VolumePayload;

    fn name(&self) -> &'static str {
        "replication.ship"
    }

    fn observed_after(&self) -> bool {
        false
    }

    fn run_step(
        &self,
        p: &VolumePayload,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        // Switched off while this transfer waited its turn: nothing to do.
        let name = p.volume.clone();
        let Some(r) = ctx.read(move |c| store::get(c, &name))? else {
            return Ok(format!(
                "{} is not replicated any more: nothing to send",
                p.volume
            ));
        };
        if r.role() != Role::Source {
            return Err(JobError::Refused(format!(
                "{} is a replica here, not a source",
                p.volume
            )));
        }
        let name = p.volume.clone();
        let v = ctx
            .read(move |c| volumes::by_name(c, &name))?
            .ok_or_else(|| JobError::Refused(format!("there is no volume {}", p.volume)))?;
        match position {
            0 => take_point(ctx, &r, &v.lv),
            1 => send_point(ctx, &r, &v),
            _ => {
                let removed = receive::prune(ctx.backend, &r.pool, &r.volume, r.seq);
                Ok(if removed.is_empty() {
                    format!("point {} is the only one kept", r.seq)
                } else {
                    format!("removed {}; point {} is kept", removed.join(", "), r.seq)
                })
            }
        }
    }
}

fn take_point(ctx: &mut StepCtx<'_>, r: &ReplicationRow, lv: &str) -> Result<String, JobError> {
    if let Some(seq) = r.inflight_seq {
        return Ok(format!(
            "point {seq} is in flight already: it is sent again"
        ));
    }
    let seq = r.seq + 1;
    let point = point_lv(&r.volume, seq);
    // One of this name left by an attempt that stopped before recording
    // it is not this point.
    ctx.backend.remove_volume(&r.pool, &point, &mut NoLog)?;
    let at = db::now();
    let backend = ctx.backend;
    backend.snapshot_volume(&r.pool, lv, &point, true, ctx)?;
    let (volume, base) = (r.volume.clone(), (r.seq > 0).then_some(r.seq));
    ctx.commit_with_step(move |c, now| {
        store::update(
            c,
            &volume,
            Change {
                inflight_seq: Some(Some(seq)),
                inflight_base: Some(base),
                inflight_at: Some(Some(at)),
                ..Change::default()
            },
            now,
        )
        .map(|_| ())
    });
    Ok(format!("point {seq} taken: {point}"))
}

fn send_point(
    ctx: &mut StepCtx<'_>,
    r: &ReplicationRow,
    v: &volumes::VolumeRow,
) -> Result<String, JobError> {
    let seq = r
        .inflight_seq
        .ok_or_else(|| JobError::Refused("no point is in flight".into()))?;
    let point = point_lv(&r.volume, seq);
    let at = r.inflight_at.unwrap_or_else(db::now);
    // Relative to the last point both hold, if it is still here.
    let lvs = ctx.backend.logical_volumes(&r.pool, &mut NoLog)?;
    let base = r
        .inflight_base
        .filter(|b| lvs.iter().any(|l| l.name == point_lv(&r.volume, *b)));
    let base_lv = base.map(|b| point_lv(&r.volume, b));
    let backend = ctx.backend;
    let delta = backend.thin_delta(&r.pool, base_lv.as_deref(), &point, ctx)?;
    let total = delta.changed_bytes();
    let name = r.volume.clone();
    let (target, tz, transfer) = ctx.read(move |c| {
        let tz = db::appliance::get(c)?
            .and_then(|a| a.timezone.parse::<chrono_tz::Tz>().ok())
            .unwrap_or(chrono_tz::UTC);
        let transfer = store::transfer_started(c, &name, Role::Source, seq, base, db::now())?;
        store::update(
            c,
            &name,
            Change {
                pending_bytes: Some(total as i64),
                done_bytes: Some(0),
                ..Change::default()
            },
            db::now(),
        )?;
        Ok((source_target(c, &name)?, tz, transfer))
    })?;
    let sh = send::Shipment {
        backend: ctx.backend,
        pool: &r.pool,
        volume: &r.volume,
        point_lv: &point,
        seq,
        base,
        size_bytes: v.size_bytes as u64,
        taken_at_ms: at.and_utc().timestamp_millis(),
        compress: r.compress,
        bandwidth: r.bandwidth(),
        tz,
        target,
        interval_s: r.interval_s,
        rpo_s: r.rpo_s,
    };
    let result = session(ctx, &r.peer).and_then(|mut s| {
        let name = r.volume.clone();
        let mut progress = |done: u64, total: u64| -> Result<(), String> {
            let pct = (done * 100).checked_div(total).map_or(100, |p| p as i32);
            ctx.progress(
                pct,
                &format!(
                    "{} of {} sent",
                    crate::domain::volume::size_words(done),
                    crate::domain::volume::size_words(total)
                ),
            )
            .map_err(|e| e.to_string())?;
            let name = name.clone();
            ctx.read(move |c| {
                store::update(
                    c,
                    &name,
                    Change {
                        pending_bytes: Some(total.saturating_sub(done) as i64),
                        done_bytes: Some(done as i64),
                        ..Change::default()
                    },
                    db::now(),
                )
            })
            .map(|_| ())
            .map_err(|e| e.to_string())
        };
        let stopping = || ctx.stop_requested();
        send::ship(&mut s, &sh, &delta, &mut progress, &stopping).map_err(JobError::Refused)
    });
    match result {
        Ok(sent) => {
            let volume = r.volume.clone();
            let throughput = if sent.seconds > 0.0 {
                (sent.data_bytes as f64 / sent.seconds) as i64
            } else {
                0
            };
            ctx.commit_with_step(move |c, now| {
                store::transfer_ended(
                    c,
                    transfer,
                    sent.data_bytes as i64,
                    sent.wire_bytes as i64,
                    None,
                    now,
                )?;
                store::update(
                    c,
                    &volume,
                    Change {
                        state: Some(State::InSync.as_str().into()),
                        seq: Some(seq),
                        consistent_at: Some(Some(at)),
                        inflight_seq: Some(None),
                        inflight_base: Some(None),
                        inflight_at: Some(None),
                        pending_bytes: Some(0),
                        done_bytes: Some(0),
                        throughput_bps: Some(throughput),
                        last_error: Some(None),
                        last_error_at: Some(None),
                        ..Change::default()
                    },
                    now,
                )
                .map(|_| ())
            });
            if sent.already {
                return Ok(format!(
                    "point {seq} is {}'s consistent point: it had committed it already, its \
                     answer lost with the link; nothing was sent again",
                    r.peer
                ));
            }
            Ok(format!(
                "point {seq} is {}'s consistent point: {} of changes{}{}",
                r.peer,
                crate::domain::volume::size_words(total),
                match base {
                    Some(b) => format!(" since point {b}"),
                    None => " (in full)".into(),
                },
                if sent.resumed_at > 0 {
                    format!(
                        "; resumed from byte {} the replica had written, {} sent in {:.1} s ({}/s)",
                        sent.resumed_at,
                        crate::domain::volume::size_words(sent.data_bytes),
                        sent.seconds,
                        crate::domain::volume::size_words(throughput as u64),
                    )
                } else {
                    format!(
                        " in {:.1} s ({}/s)",
                        sent.seconds,
                        crate::domain::volume::size_words(throughput as u64)
                    )
                }
            ))
        }
        Err(e) => {
            let (volume, why) = (r.volume.clone(), e.to_string());
            ctx.read(move |c| {
                let now = db::now();
                store::transfer_ended(c, transfer, 0, 0, Some(&why), now)?;
                store::update(c, &volume, Change::failed(State::Broken, &why, now), now)
            })?;
            Err(e)
        }
    }
}

pub struct ReplicationDisable;

/// The disable job.
pub fn disable(p: &VolumePayload) -> JobSpec {
    ReplicationDisable.spec(
        p,
        format!("Stop replicating volume {} to {}", p.volume, p.peer),
        resources(p),
        vec![
            format!("Tell {} to release its replica", p.peer),
            "Remove this side's points and forget the replication".into(),
        ],
    )
}

impl Kind for ReplicationDisable {
    type Payload = VolumePayload;

    fn name(&self) -> &'static str {
        "replication.disable"
    }

    fn observed_after(&self) -> bool {
        false
    }

    fn run_step(
        &self,
        p: &VolumePayload,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        let Ok(r) = row(ctx, &p.volume) else {
            return Ok(format!("{} is not replicated", p.volume));
        };
        match position {
            0 => {
                let told = session(ctx, &p.peer).and_then(|mut s| {
                    ask(
                        &mut s,
                        &wire::Msg::Release {
                            volume: p.volume.clone(),
                        },
                    )
                });
                Ok(match told {
                    Ok(wire::Msg::Done) => {
                        format!(
                            "{} released its replica: it is an ordinary volume there",
                            p.peer
                        )
                    }
                    Ok(wire::Msg::Refused { reason }) => format!(
                        "{} did not release its replica ({reason}); it still lists it as one",
                        p.peer
                    ),
                    Ok(other) => format!("{} answered {other:?}", p.peer),
                    Err(e) => format!(
                        "{} could not be told ({e}); it still lists its replica as one",
                        p.peer
                    ),
                })
            }
            _ => {
                let removed = receive::prune(ctx.backend, &r.pool, &r.volume, i64::MAX);
                let volume = r.volume.clone();
                ctx.commit_with_step(move |c, _| {
                    store::remove(c, &volume)?;
                    store::forget_transfers(c, &volume)
                });
                Ok(format!(
                    "replication of {} forgotten here{}",
                    r.volume,
                    if removed.is_empty() {
                        String::new()
                    } else {
                        format!("; removed {}", removed.join(", "))
                    }
                ))
            }
        }
    }
}

/// How much earlier than the last point's landing asks a point is taken:
/// the agent looks for due points every second, and the job then starts.
/// With one second, `baystack bench replication` saw the replica up to
/// 10.3 s old at a 10 s interval.
const LOOK_S: i64 = 2;

/// When a source's next transfer is due: at once for a point in flight or
/// after a failure (once [`RETRY_AFTER_S`] has passed), else an interval
/// after the last point, less the time that point took to land on the
/// replica (`landed_at`, its commit there) and [`LOOK_S`]: so that while
/// transfers keep up the replica is never older than the interval, rather
/// than an interval and a transfer. Never while preparing or promoted.
fn due_at(
    r: &ReplicationRow,
    landed_at: Option<chrono::NaiveDateTime>,
) -> Option<chrono::NaiveDateTime> {
    if r.role() != Role::Source {
        return None;
    }
    match r.stored_state() {
        State::Preparing | State::Promoted => None,
        _ => Some(match (r.last_error_at, r.consistent_at) {
            (Some(failed), _) => failed + chrono::Duration::seconds(RETRY_AFTER_S),
            (None, _) if r.inflight_seq.is_some() => chrono::NaiveDateTime::MIN,
            (None, Some(at)) => {
                let interval = chrono::Duration::seconds(r.interval_s);
                let took = landed_at.map_or(chrono::Duration::zero(), |l| l - at);
                let lead = (took + chrono::Duration::seconds(LOOK_S)).clamp(
                    chrono::Duration::zero(),
                    interval - chrono::Duration::seconds(1),
                );
                at + interval - lead
            }
            (None, None) => chrono::NaiveDateTime::MIN,
        }),
    }
}

/// Enqueues the transfers that are due, each once however many agents
/// look at once (a queued or running one is left alone), as `actor`.
/// Returns how many.
pub fn enqueue_due(c: &mut Conn<'_>, actor: &str) -> Result<usize, AppError> {
    let now = db::now();
    let mut n = 0;
    for r in store::all(c)? {
        // When the last point landed: its transfer's end (looked up only
        // where the schedule uses it, a source's point).
        let landed = match (r.role(), r.consistent_at) {
            (Role::Source, Some(_)) => store::transfers(c, &r.volume, 1)?
                .into_iter()
                .find(|t| t.seq == r.seq && t.result == "ok")
                .and_then(|t| t.finished_at),
            _ => None,
        };
        if due_at(&r, landed).is_none_or(|t| t > now) {
            continue;
        }
        if queue::unfinished(c, ReplicationShip.name(), &resource::volume(&r.volume))? {
            continue;
        }
        let p = VolumePayload {
            volume: r.volume.clone(),
            peer: r.peer.clone(),
        };
        match jobs::enqueue_quiet(c, &ship(&p), actor) {
            Ok(_) => n += 1,
            // A volume left blocked by a failed job waits for its admin.
            Err(jobs::EnqueueError::Blocked(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(n)
}

/// Records a replication a user switched on and its enable job, audited,
/// in the caller's transaction. Returns the job's id.
pub fn record_enable(
    c: &mut Conn<'_>,
    row: &ReplicationRow,
    address: &str,
) -> Result<i64, AppError> {
    store::insert(c, row)?;
    let p = VolumePayload {
        volume: row.volume.clone(),
        peer: row.peer.clone(),
    };
    let id = jobs::enqueue_audited(c, &enable(&p), &row.created_by, Some(address), None, None)?;
    audit::record(
        c,
        &audit::Entry {
            actor: Some(&row.created_by),
            address: Some(address),
            action: "replication.enable",
            target: Some(&format!("volume {}", row.volume)),
            outcome: audit::Outcome::Ok,
            detail: &format!(
                "to {}, a point every {} s, objective {} s, bandwidth {}{}",
                row.peer,
                row.interval_s,
                row.rpo_s,
                row.bandwidth().words(),
                if row.compress { ", compressed" } else { "" }
            ),
        },
        db::now(),
    )?;
    Ok(id)
}

/// A failover's or a failback's job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PointPayload {
    pub volume: String,
    pub peer: String,
    /// The point it goes back to.
    pub seq: i64,
}

fn point_resources(p: &PointPayload) -> Vec<String> {
    vec![
        resource::volume(&p.volume),
        resource::target(&p.volume),
        resource::peer(&p.peer),
    ]
}

/// How long a failover waits for a transfer being received to stop.
const RECEIVER_WAIT: std::time::Duration = std::time::Duration::from_secs(45);

pub struct ReplicationFailover;

/// The failover job, for a replica the caller marked promoted in the same
/// transaction.
pub fn failover(p: &PointPayload) -> JobSpec {
    ReplicationFailover.spec(
        p,
        format!(
            "Fail over volume {}: promote the replica of {}'s",
            p.volume, p.peer
        ),
        point_resources(p),
        vec![
            "Stop taking points".into(),
            format!("Make {} its last consistent point, {}", p.volume, p.seq),
            "Export it as its source was".into(),
        ],
    )
}

impl Kind for ReplicationFailover {
    type Payload = PointPayload;

    fn name(&self) -> &'static str {
        "replication.failover"
    }

    fn changes(&self, _p: &PointPayload, position: i32) -> bool {
        position == 1
    }

    fn run_step(
        &self,
        p: &PointPayload,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        let r = row(ctx, &p.volume)?;
        let name = p.volume.clone();
        let v = ctx
            .read(move |c| volumes::by_name(c, &name))?
            .ok_or_else(|| JobError::Refused(format!("there is no volume {}", p.volume)))?;
        match position {
            0 => {
                let started = std::time::Instant::now();
                loop {
                    let r = row(ctx, &p.volume)?;
                    if r.receiving_until.is_none_or(|t| t <= db::now()) {
                        return Ok(format!("{} takes no more points from {}", p.volume, p.peer));
                    }
                    if started.elapsed() > RECEIVER_WAIT {
                        return Err(JobError::Refused(format!(
                            "a transfer from {} is still being received after {} s",
                            p.peer,
                            RECEIVER_WAIT.as_secs()
                        )));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(250));
                }
            }
            1 => {
                let point = point_lv(&p.volume, p.seq);
                let said = super::volume::remake_from(ctx, &r.pool, &v.lv, &point)?;
                Ok(format!(
                    "{} is point {} again (what {} had sent in full): {said}",
                    p.volume, p.seq, p.peer
                ))
            }
            _ => {
                let Some(t) = r
                    .source_target
                    .as_deref()
                    .and_then(|t| serde_json::from_str::<SourceTarget>(t).ok())
                else {
                    return Ok(format!(
                        "{} was not exported on {}: export it from its page",
                        p.volume, p.peer
                    ));
                };
                let (volume, pool, vid) = (p.volume.clone(), r.pool.clone(), v.id);
                let by = format!("failover of {}", p.volume);
                let iqn = t.iqn.clone();
                let job = ctx.read(move |c| {
                    if volumes::target_of(c, vid)?.is_some() {
                        return Ok(None);
                    }
                    let chap = |x: &Option<(String, String)>| {
                        x.as_ref()
                            .map(|(user, secret)| crate::domain::target::Chap {
                                user: user.clone(),
                                secret: crate::domain::target::Secret::new(secret.clone()),
                            })
                    };
                    // No initiators is open access, as an export records it.
                    let initiators = match &t.access {
                        crate::domain::target::Access::Initiators(i) => i.clone(),
                        crate::domain::target::Access::Open => Vec::new(),
                    };
                    let (c1, c2) = (chap(&t.chap), chap(&t.mutual_chap));
                    let device = volumes::front_path(&volume);
                    volumes::insert_target(
                        c,
                        &volumes::NewTarget {
                            volume_id: vid,
                            iqn: &t.iqn,
                            alias: &volume,
                            backstore: &volume,
                            device: &device,
                            portals: &[crate::domain::target::Portal::all()],
                            initiators: &initiators,
                            chap: c1.as_ref(),
                            mutual_chap: c2.as_ref(),
                            created_by: &by,
                        },
                        db::now(),
                    )?;
                    let spec = super::export(&pool, &volume, &t.iqn);
                    jobs::enqueue_audited(c, &spec, &by, None, None, None)
                        .map(Some)
                        .map_err(|e| match e {
                            jobs::EnqueueError::Db(e) => e,
                            other => {
                                diesel::result::Error::QueryBuilderError(other.to_string().into())
                            }
                        })
                })?;
                Ok(match job {
                    Some(id) => format!(
                        "exported as {iqn} by job {id}: initiators log in to the same target name \
                         at this appliance's portal"
                    ),
                    None => format!("{} was exported already", p.volume),
                })
            }
        }
    }
}

pub struct ReplicationFailback;

/// The failback job, on the side a failover promoted.
pub fn failback(p: &PointPayload) -> JobSpec {
    ReplicationFailback.spec(
        p,
        format!(
            "Fail back volume {}: replicate it to {} from here",
            p.volume, p.peer
        ),
        point_resources(p),
        vec![
            format!("Ask {} to become the replica from point {}", p.peer, p.seq),
            format!("Wait for {} to be the replica", p.peer),
            format!("Replicate to {} from here", p.peer),
        ],
    )
}

impl Kind for ReplicationFailback {
    type Payload = PointPayload;

    fn name(&self) -> &'static str {
        "replication.failback"
    }

    fn observed_after(&self) -> bool {
        false
    }

    fn run_step(
        &self,
        p: &PointPayload,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        match position {
            0 => {
                let mut s = session(ctx, &p.peer)?;
                match ask(
                    &mut s,
                    &wire::Msg::Reverse {
                        volume: p.volume.clone(),
                        seq: p.seq,
                    },
                )? {
                    wire::Msg::Reversing {
                        interval_s,
                        rpo_s,
                        compress,
                        bandwidth,
                        detail,
                    } => {
                        let volume = p.volume.clone();
                        ctx.commit_with_step(move |c, now| {
                            use crate::db::schema::replications as t;
                            use diesel::prelude::*;
                            crate::db_run!(c, c => diesel::update(t::table.find(&volume))
                                .set((
                                    t::interval_s.eq(interval_s),
                                    t::rpo_s.eq(rpo_s),
                                    t::compress.eq(compress),
                                    t::bandwidth.eq(&bandwidth),
                                    t::updated_at.eq(now),
                                ))
                                .execute(c))?;
                            Ok(())
                        });
                        Ok(format!("{}: {detail}", p.peer))
                    }
                    wire::Msg::Refused { reason } => {
                        Err(JobError::Refused(format!("{} refused: {reason}", p.peer)))
                    }
                    other => Err(JobError::Refused(format!("{} answered {other:?}", p.peer))),
                }
            }
            1 => {
                let seq = p.seq;
                await_replica(ctx, &p.peer, &p.volume, "become the replica", |m| {
                    matches!(m, wire::Msg::Replica { seq: s, state, .. }
                        if *s == seq && state == State::InSync.as_str())
                })?;
                Ok(format!(
                    "{} is the replica of {} at point {}",
                    p.peer, p.volume, p.seq
                ))
            }
            _ => {
                let volume = p.volume.clone();
                ctx.commit_with_step(move |c, now| {
                    store::update(
                        c,
                        &volume,
                        Change {
                            role: Some(Role::Source.as_str().into()),
                            state: Some(State::InSync.as_str().into()),
                            inflight_seq: Some(None),
                            inflight_base: Some(None),
                            inflight_at: Some(None),
                            receiving_until: Some(None),
                            last_error: Some(None),
                            last_error_at: Some(None),
                            ..Change::default()
                        },
                        now,
                    )
                    .map(|_| ())
                });
                Ok(format!(
                    "{} is the source now: what changed here since point {} goes to {} at the \
                     next point",
                    p.volume, p.seq, p.peer
                ))
            }
        }
    }
}

pub struct ReplicationDemote;

/// The job a failback asks of the old source: its volume made the point
/// both sides hold again, and its side the replica.
pub fn demote(p: &PointPayload) -> JobSpec {
    ReplicationDemote.spec(
        p,
        format!(
            "Make volume {} the replica of {}'s, from point {}",
            p.volume, p.peer, p.seq
        ),
        point_resources(p),
        vec![
            format!("Unexport {}", p.volume),
            format!("Make {} point {} again", p.volume, p.seq),
            format!("Take {}'s points", p.peer),
        ],
    )
}

impl Kind for ReplicationDemote {
    type Payload = PointPayload;

    fn name(&self) -> &'static str {
        "replication.demote"
    }

    fn changes(&self, _p: &PointPayload, position: i32) -> bool {
        position < 2
    }

    fn run_step(
        &self,
        p: &PointPayload,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        let r = row(ctx, &p.volume)?;
        let name = p.volume.clone();
        let (v, target) = ctx.read(move |c| {
            let Some(v) = volumes::by_name(c, &name)? else {
                return Ok((None, None));
            };
            let t = volumes::target_of(c, v.id)?;
            Ok((Some(v), t))
        })?;
        let v = v.ok_or_else(|| JobError::Refused(format!("there is no volume {}", p.volume)))?;
        let backend = ctx.backend;
        match position {
            0 => {
                let Some(t) = target else {
                    return Ok(format!("{} is not exported", p.volume));
                };
                let said = backend.remove_target(&t.iqn, &t.backstore, ctx)?;
                let vid = v.id;
                ctx.commit_with_step(move |c, _| volumes::delete_target(c, vid).map(|_| ()));
                Ok(format!(
                    "{said}: its initiators use {}'s copy since the failover",
                    p.peer
                ))
            }
            1 => {
                let point = point_lv(&p.volume, p.seq);
                super::volume::remake_from(ctx, &r.pool, &v.lv, &point)
            }
            _ => {
                let mut removed = Vec::new();
                for lv in backend.logical_volumes(&r.pool, ctx)? {
                    if crate::domain::replica::point_of(&p.volume, &lv.name)
                        .is_some_and(|s| s != p.seq)
                    {
                        backend.remove_volume(&r.pool, &lv.name, ctx)?;
                        removed.push(lv.name);
                    }
                }
                let (volume, seq) = (p.volume.clone(), p.seq);
                ctx.commit_with_step(move |c, now| {
                    store::update(
                        c,
                        &volume,
                        Change {
                            role: Some(Role::Replica.as_str().into()),
                            state: Some(State::InSync.as_str().into()),
                            seq: Some(seq),
                            inflight_seq: Some(None),
                            inflight_base: Some(None),
                            inflight_at: Some(None),
                            pending_bytes: Some(0),
                            done_bytes: Some(0),
                            resume_offset: Some(0),
                            last_error: Some(None),
                            last_error_at: Some(None),
                            ..Change::default()
                        },
                        now,
                    )
                    .map(|_| ())
                });
                Ok(format!(
                    "{} is {}'s replica from point {}{}",
                    p.volume,
                    p.peer,
                    p.seq,
                    if removed.is_empty() {
                        String::new()
                    } else {
                        format!("; removed {}", removed.join(", "))
                    }
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(at: chrono::NaiveDateTime) -> ReplicationRow {
        ReplicationRow {
            state: State::InSync.as_str().into(),
            interval_s: 10,
            rpo_s: 60,
            seq: 4,
            consistent_at: Some(at),
            ..ReplicationRow::new("db", "tank", "bay02", Role::Source, "admin", at)
        }
    }

    #[test]
    fn the_next_point_is_taken_early_by_what_the_last_took_to_land() {
        let at = db::now();
        let s = chrono::Duration::seconds;
        let ms = chrono::Duration::milliseconds;
        let r = source(at);
        // Unknown landing: early by the agent's look and the job's start.
        assert_eq!(due_at(&r, None), Some(at + s(10 - LOOK_S)));
        // Landed 2.5 s after it was taken: that much earlier still.
        assert_eq!(
            due_at(&r, Some(at + ms(2500))),
            Some(at + ms(7500 - LOOK_S * 1000))
        );
        // A transfer longer than the interval: a second after the last,
        // never at once, never before the point it follows.
        assert_eq!(due_at(&r, Some(at + s(30))), Some(at + s(1)));
        // After a failure, the retry's time; in flight, at once; never
        // while promoted or on the replica's side.
        let failed = ReplicationRow {
            last_error_at: Some(at + s(3)),
            ..source(at)
        };
        assert_eq!(due_at(&failed, None), Some(at + s(3 + RETRY_AFTER_S)));
        let flying = ReplicationRow {
            inflight_seq: Some(5),
            ..source(at)
        };
        assert_eq!(due_at(&flying, None), Some(chrono::NaiveDateTime::MIN));
        for (role, state) in [
            (Role::Source, State::Promoted),
            (Role::Source, State::Preparing),
            (Role::Replica, State::InSync),
        ] {
            let r = ReplicationRow {
                role: role.as_str().into(),
                state: state.as_str().into(),
                ..source(at)
            };
            assert_eq!(due_at(&r, None), None, "{role:?} {state:?}");
        }
    }
}

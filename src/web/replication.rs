//! Replication of volumes (admins switch it on and off; everyone sees it):
//! a volume in use replicated to a peer, its settings checked here and
//! recorded with the `replication.enable` job in one transaction; the
//! state of every replicated volume on both sides; replication switched
//! off by `replication.disable`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::action::{Answer, Body, Outcome};
use super::{AppState, Identity, client_address};
use crate::db::replication::{self as store, ReplicationRow};
use crate::db::{self, peers};
use crate::domain::replica::{
    Bandwidth, MAX_INTERVAL_S, MIN_INTERVAL_S, Role, State, Window, parse_days, parse_minute,
    parse_rate,
};
use crate::error::AppError;
use crate::jobs::kinds::{self, ReplicationPayload};

/// `POST /api/v1/volumes/{name}/replication`.
#[derive(Debug, Default, Deserialize)]
pub struct EnableBody {
    #[serde(default)]
    pub peer: String,
    #[serde(default)]
    pub interval_s: Option<i64>,
    #[serde(default)]
    pub rpo_s: Option<i64>,
    /// A rate (`"100 Mbit/s"`, or bytes per second), or `{"rate",
    /// "schedule": [{"days","from","to","rate"}]}`.
    #[serde(default)]
    pub bandwidth_limit: Option<serde_json::Value>,
    /// A form's second rate, held Monday to Friday 08:00-18:00.
    #[serde(default)]
    pub office_hours_limit: Option<String>,
    #[serde(default, deserialize_with = "super::action::flag")]
    pub compress: bool,
}

fn rate_of(v: &serde_json::Value, field: &'static str) -> Result<u64, AppError> {
    match v {
        serde_json::Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| {
                AppError::invalid(field, format!("{n} is not a rate in bytes per second"))
            })
            .and_then(|b| parse_rate(&b.to_string()).map_err(|e| AppError::invalid(field, e))),
        serde_json::Value::String(s) => parse_rate(s).map_err(|e| AppError::invalid(field, e)),
        other => Err(AppError::invalid(
            field,
            format!("{other} is not a rate: give \"100 Mbit/s\", or a number of bytes per second"),
        )),
    }
}

/// The bandwidth a body asks for, checked.
fn bandwidth_of(b: &EnableBody) -> Result<Bandwidth, AppError> {
    const FIELD: &str = "bandwidth_limit";
    let mut out = Bandwidth::default();
    match &b.bandwidth_limit {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::String(s)) if s.trim().is_empty() => {}
        Some(serde_json::Value::Object(o)) => {
            for key in o.keys() {
                if key != "rate" && key != "schedule" {
                    return Err(AppError::invalid(
                        FIELD,
                        format!("a bandwidth limit has a \"rate\" and a \"schedule\", not {key:?}"),
                    ));
                }
            }
            if let Some(r) = o.get("rate").filter(|r| !r.is_null()) {
                out.rate = Some(rate_of(r, FIELD)?);
            }
            let windows = match o.get("schedule") {
                None | Some(serde_json::Value::Null) => Vec::new(),
                Some(serde_json::Value::Array(a)) => a.clone(),
                Some(_) => {
                    return Err(AppError::invalid(
                        FIELD,
                        "the schedule is a list of {\"days\",\"from\",\"to\",\"rate\"}",
                    ));
                }
            };
            for w in windows {
                let text = |k: &str| -> Result<String, AppError> {
                    w.get(k)
                        .and_then(|v| v.as_str())
                        .map(String::from)
                        .ok_or_else(|| {
                            AppError::invalid(
                                FIELD,
                                format!("each window of the schedule needs {k:?}, as text"),
                            )
                        })
                };
                let window = Window {
                    days: parse_days(&text("days")?).map_err(|e| AppError::invalid(FIELD, e))?,
                    from_minute: parse_minute(&text("from")?)
                        .map_err(|e| AppError::invalid(FIELD, e))?,
                    to_minute: parse_minute(&text("to")?)
                        .map_err(|e| AppError::invalid(FIELD, e))?,
                    rate: rate_of(w.get("rate").unwrap_or(&serde_json::Value::Null), FIELD)?,
                };
                if window.from_minute == window.to_minute {
                    return Err(AppError::invalid(
                        FIELD,
                        "a window of the schedule ends when it starts",
                    ));
                }
                out.windows.push(window);
            }
        }
        Some(v) => out.rate = Some(rate_of(v, FIELD)?),
    }
    if let Some(office) = b.office_hours_limit.as_deref().map(str::trim)
        && !office.is_empty()
    {
        out.windows.push(Window {
            days: [true, true, true, true, true, false, false],
            from_minute: 8 * 60,
            to_minute: 18 * 60,
            rate: parse_rate(office).map_err(|e| AppError::invalid("office_hours_limit", e))?,
        });
    }
    Ok(out)
}

/// `POST /volumes/{name}/replication` and `POST
/// /api/v1/volumes/{name}/replication`: replication switched on for a
/// volume, exported and in use or not; 202 `{"job_id"}`.
pub async fn enable(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<String>,
    Body(body): Body<EnableBody>,
) -> Answer {
    let name = path.into_inner();
    let checked = (|| -> Result<(String, i64, i64, Bandwidth), AppError> {
        let peer = body.peer.trim().to_string();
        if peer.is_empty() {
            return Err(AppError::invalid("peer", "name the peer to replicate to"));
        }
        let interval = body
            .interval_s
            .ok_or_else(|| AppError::invalid("interval_s", "give the seconds between points"))?;
        if !(MIN_INTERVAL_S..=MAX_INTERVAL_S).contains(&interval) {
            return Err(AppError::invalid(
                "interval_s",
                format!(
                    "a point is taken every {MIN_INTERVAL_S} to {MAX_INTERVAL_S} seconds, not \
                     {interval}"
                ),
            ));
        }
        let rpo = body.rpo_s.ok_or_else(|| {
            AppError::invalid(
                "rpo_s",
                "give the recovery point objective: how old, in seconds, the replica may grow \
                 before it is lagging",
            )
        })?;
        if rpo < interval || rpo > 30 * MAX_INTERVAL_S {
            return Err(AppError::invalid(
                "rpo_s",
                format!(
                    "the recovery point objective is from the interval ({interval} s) to 30 days, \
                     not {rpo} s: the replica is an interval old between points"
                ),
            ));
        }
        Ok((peer, interval, rpo, bandwidth_of(&body)?))
    })();
    let (peer, interval, rpo, bandwidth) = match checked {
        Ok(x) => x,
        Err(e) => return Answer(Err(e)),
    };
    let (user, address, compress) = (who.username.clone(), client_address(&req), body.compress);
    let back = format!("/volumes/{name}");
    let id = state
        .db
        .run(move |conn| {
            conn.write(|c| -> Result<i64, AppError> {
                let v = crate::db::volumes::by_name(c, &name)?.ok_or_else(|| {
                    AppError::NotFound(format!("there is no volume named {name:?}"))
                })?;
                if v.lifecycle != "ready" {
                    return Err(AppError::Conflict(format!(
                        "volume {name} is {}; wait until its job ends",
                        v.lifecycle
                    )));
                }
                let pool = crate::db::pools::list(c)?
                    .into_iter()
                    .find(|p| p.id == v.pool_id)
                    .ok_or_else(|| AppError::Conflict(format!("volume {name}'s pool is gone")))?;
                if peers::peer(c, &peer)?.is_none() {
                    return Err(AppError::invalid(
                        "peer",
                        format!("there is no peer named {peer:?}: pair with it first"),
                    ));
                }
                if !v.thin {
                    return Err(AppError::Conflict(format!(
                        "volume {name} is thick: replication ships the changes between thin \
                         snapshots, which a thick volume has not. Make a thin volume of the same \
                         size, copy this one into it while it is not in use, export the thin one \
                         and replicate that"
                    )));
                }
                if let Some(r) = store::get(c, &name)? {
                    return Err(AppError::Conflict(format!(
                        "volume {name} is replicated already ({} of {})",
                        r.role, r.peer
                    )));
                }
                let now = db::now();
                let row = ReplicationRow {
                    interval_s: interval,
                    rpo_s: rpo,
                    bandwidth: (bandwidth != Bandwidth::default())
                        .then(|| serde_json::to_string(&bandwidth).expect("it serializes")),
                    compress,
                    ..ReplicationRow::new(&name, &pool.name, &peer, Role::Source, &user, now)
                };
                kinds::record_enable(c, &row, &address)
            })
        })
        .await;
    if id.is_ok() {
        state.wake.notify();
    }
    id.map(|id| Outcome::job(id).then(back)).into()
}

/// `POST /volumes/{name}/replication/stop` and `DELETE
/// /api/v1/volumes/{name}/replication`: the disable job.
pub async fn disable(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<String>,
) -> Answer {
    let name = path.into_inner();
    let (user, address) = (who.username.clone(), client_address(&req));
    let back = format!("/volumes/{name}");
    let id = state
        .db
        .run(move |conn| {
            conn.write(|c| -> Result<i64, AppError> {
                let r = store::get(c, &name)?.ok_or_else(|| {
                    AppError::NotFound(format!("volume {name} is not replicated"))
                })?;
                if r.role() != Role::Source && r.stored_state() != State::Promoted {
                    return Err(AppError::Conflict(format!(
                        "volume {name} here is {}'s replica: switch replication off on {}",
                        r.peer, r.peer
                    )));
                }
                let p = ReplicationPayload {
                    volume: name.clone(),
                    peer: r.peer,
                };
                Ok(crate::jobs::enqueue_audited(
                    c,
                    &kinds::disable_replication(&p),
                    &user,
                    Some(&address),
                    None,
                    None,
                )?)
            })
        })
        .await;
    if id.is_ok() {
        state.wake.notify();
    }
    id.map(|id| Outcome::job(id).then(back)).into()
}

/// One replicated volume as the API gives it.
#[derive(Debug, Clone, Serialize)]
pub struct Replication {
    pub volume: String,
    pub peer: String,
    pub role: String,
    pub state: String,
    /// When the source took the last point both sides hold.
    pub last_consistent_at: Option<String>,
    /// How old that point is now, in seconds.
    pub lag_s: Option<i64>,
    /// Bytes of the point in flight still to send (on the replica's side,
    /// still to come, as of its last durable progress).
    pub pending_bytes: i64,
    /// Bytes of the point in flight sent (on the replica's side, written
    /// durably).
    pub done_bytes: i64,
    /// The last transfer's speed.
    pub throughput_bps: i64,
    pub pool: String,
    pub interval_s: i64,
    pub rpo_s: i64,
    pub seq: i64,
    pub inflight_seq: Option<i64>,
    pub bandwidth_limit: Option<Bandwidth>,
    pub compress: bool,
    pub last_error: Option<String>,
    /// `last_consistent_at` as stored, for pages to show in local time.
    #[serde(skip)]
    pub consistent_at: Option<chrono::NaiveDateTime>,
}

impl Replication {
    pub fn of(r: &ReplicationRow, now: chrono::NaiveDateTime) -> Self {
        let bandwidth = r.bandwidth();
        Replication {
            volume: r.volume.clone(),
            peer: r.peer.clone(),
            role: r.role.clone(),
            state: r.state(now).as_str().into(),
            last_consistent_at: r.consistent_at.as_ref().map(db::rfc3339),
            lag_s: r.lag_s(now),
            pending_bytes: r.pending_bytes,
            done_bytes: r.done_bytes,
            throughput_bps: r.throughput_bps,
            pool: r.pool.clone(),
            interval_s: r.interval_s,
            rpo_s: r.rpo_s,
            seq: r.seq,
            inflight_seq: r.inflight_seq,
            bandwidth_limit: (bandwidth != Bandwidth::default()).then_some(bandwidth),
            compress: r.compress,
            last_error: r.last_error.clone(),
            consistent_at: r.consistent_at,
        }
    }
}

/// Every replicated volume, as the pages and the API show them.
pub async fn all(state: &AppState) -> Result<Vec<Replication>, AppError> {
    state
        .db
        .run(|conn| -> Result<_, AppError> {
            let now = db::now();
            Ok(store::all(&mut conn.conn())?
                .iter()
                .map(|r| Replication::of(r, now))
                .collect())
        })
        .await
}

/// `GET /api/v1/replication`.
pub async fn api_list(state: web::Data<AppState>) -> Result<HttpResponse, super::ApiError> {
    Ok(HttpResponse::Ok().json(all(&state).await?))
}

/// `POST /volumes/{name}/replication/failover` and `POST
/// /api/v1/volumes/{name}/replication/failover`, on the replica's side: it
/// takes no more points, is made its last consistent point and exported
/// as its source was (the same target name, who may log in, CHAP); 202
/// `{"job_id"}`. Initiators then log in to this appliance's portal.
pub async fn failover(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<String>,
) -> Answer {
    let name = path.into_inner();
    let (user, address) = (who.username.clone(), client_address(&req));
    let back = format!("/volumes/{name}");
    let id = state
        .db
        .run(move |conn| {
            conn.write(|c| -> Result<i64, AppError> {
                let r = store::get(c, &name)?
                    .ok_or_else(|| AppError::NotFound(format!("volume {name} is not replicated")))?;
                if r.role() != Role::Replica {
                    return Err(AppError::Conflict(format!(
                        "volume {name} is the source here: fail over on {}, which holds its replica",
                        r.peer
                    )));
                }
                if r.stored_state() == State::Promoted {
                    return Err(AppError::Conflict(format!(
                        "volume {name} was promoted already: fail back to replicate it to {} again",
                        r.peer
                    )));
                }
                if r.seq == 0 {
                    return Err(AppError::Conflict(format!(
                        "no consistent point of {name} has arrived yet: there is nothing whole to \
                         fail over to"
                    )));
                }
                let now = db::now();
                store::update(c, &name, store::Change::state(State::Promoted), now)?;
                let p = kinds::PointPayload {
                    volume: name.clone(),
                    peer: r.peer.clone(),
                    seq: r.seq,
                };
                let job =
                    crate::jobs::enqueue_audited(c, &kinds::failover(&p), &user, Some(&address), None, None)?;
                crate::db::audit::record(
                    c,
                    &crate::db::audit::Entry {
                        actor: Some(&user),
                        address: Some(&address),
                        action: "replication.failover",
                        target: Some(&format!("volume {name}")),
                        outcome: crate::db::audit::Outcome::Ok,
                        detail: &format!(
                            "the replica of {}'s volume promoted at point {} (taken {})",
                            r.peer,
                            r.seq,
                            r.consistent_at.as_ref().map(db::rfc3339).unwrap_or_default()
                        ),
                    },
                    now,
                )?;
                Ok(job)
            })
        })
        .await;
    if id.is_ok() {
        state.wake.notify();
    }
    id.map(|id| Outcome::job(id).then(back)).into()
}

/// `POST /volumes/{name}/replication/failback` and `POST
/// /api/v1/volumes/{name}/replication/failback`, on the side a failover
/// promoted: the old source becomes its replica from the newest point both
/// hold, and only what changed here since is sent; 202 `{"job_id"}`.
pub async fn failback(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<String>,
) -> Answer {
    let name = path.into_inner();
    let (user, address) = (who.username.clone(), client_address(&req));
    let back = format!("/volumes/{name}");
    let id = state
        .db
        .run(move |conn| {
            conn.write(|c| -> Result<i64, AppError> {
                let r = store::get(c, &name)?.ok_or_else(|| {
                    AppError::NotFound(format!("volume {name} is not replicated"))
                })?;
                if r.role() != Role::Replica || r.stored_state() != State::Promoted {
                    return Err(AppError::Conflict(format!(
                        "volume {name} here was not promoted by a failover: a failback runs on \
                         the appliance a failover promoted"
                    )));
                }
                let p = kinds::PointPayload {
                    volume: name.clone(),
                    peer: r.peer.clone(),
                    seq: r.seq,
                };
                Ok(crate::jobs::enqueue_audited(
                    c,
                    &kinds::failback(&p),
                    &user,
                    Some(&address),
                    None,
                    None,
                )?)
            })
        })
        .await;
    if id.is_ok() {
        state.wake.notify();
    }
    id.map(|id| Outcome::job(id).then(back)).into()
}

//! The NOC wall: `/noc` for a signed-in viewer, `/noc/w/{key}` for a
//! screen with a wall link and no session. Read-only, dark, sized for a
//! 1920x1080 screen across a room.
//!
//! A wall is drawn once per change, not once per screen: [`Wall::board`]
//! reads the state at most once a second, hashes it, and renders the board
//! only when the hash moved. Screens poll the board every two seconds with
//! `If-None-Match`, and an unchanged board is `304 Not Modified` without a
//! database read. The page's script turns it amber by itself when the
//! agent's last observation grows older than three of its intervals, or
//! when the console cannot be reached, so a stale wall never looks green.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::NaiveDateTime;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{AppState, PageError};
use crate::db::{self, Conn, alerts, inventory, wall};
use crate::domain::alert::{Overall, Severity, overall};
use crate::error::AppError;

/// How long a drawn board is served before the state is read again.
const FRESH: Duration = Duration::from_secs(1);
/// How long the set of live wall links is trusted (a revoked link stops
/// within this, or at once on the console that revoked it).
const LINKS_FRESH: Duration = Duration::from_secs(2);
/// How often a link's last use is written.
const NOTE_USE_EVERY: Duration = Duration::from_secs(60);
/// How often screens ask for the board.
pub const REFRESH_MS: u64 = 2000;

/// A drawn board.
pub struct Board {
    pub etag: String,
    pub html: String,
    built: Instant,
}

/// The console's wall: the last board drawn and the live wall links.
#[derive(Default)]
pub struct Wall {
    board: RwLock<Option<Arc<Board>>>,
    building: tokio::sync::Mutex<()>,
    links: RwLock<Option<(Instant, HashMap<String, i64>)>>,
    noted: Mutex<HashMap<i64, Instant>>,
}

impl Wall {
    fn current(&self) -> Option<Arc<Board>> {
        self.board.read().expect("wall board").clone()
    }

    /// The board, drawn again if the state changed since it was last read
    /// more than [`FRESH`] ago. While one request reads, the others are
    /// served the last board.
    pub async fn board(&self, state: &AppState) -> Result<Arc<Board>, AppError> {
        if let Some(b) = self.current().filter(|b| b.built.elapsed() < FRESH) {
            return Ok(b);
        }
        let _guard = match (self.building.try_lock(), self.current()) {
            (Ok(g), _) => g,
            (Err(_), Some(b)) => return Ok(b),
            (Err(_), None) => self.building.lock().await,
        };
        if let Some(b) = self.current().filter(|b| b.built.elapsed() < FRESH) {
            return Ok(b);
        }
        let model = load(state).await?;
        let json = serde_json::to_vec(&model).map_err(|e| AppError::Internal(e.to_string()))?;
        let digest = Sha256::digest(&json);
        let etag = crate::domain::hex(&digest[..12]);
        let etag = format!("\"{etag}\"");
        let html = match self.current().filter(|b| b.etag == etag) {
            Some(b) => b.html.clone(),
            None => BoardPartial { w: &model }
                .render()
                .map_err(|e| AppError::Internal(e.to_string()))?,
        };
        let board = Arc::new(Board {
            etag,
            html,
            built: Instant::now(),
        });
        *self.board.write().expect("wall board") = Some(board.clone());
        Ok(board)
    }

    /// Forgets the drawn board and the links (after a link is revoked or
    /// made here).
    pub fn forget(&self) {
        *self.links.write().expect("wall links") = None;
    }

    /// The wall link a key opens, if it is live. Notes its use (when, from
    /// where) at most once a minute.
    pub async fn link_for(
        &self,
        state: &AppState,
        key: &str,
        from: &str,
    ) -> Result<Option<i64>, AppError> {
        if !valid_key(key) {
            return Ok(None);
        }
        let hash = crate::auth::secret_hash(key);
        let cached = self
            .links
            .read()
            .expect("wall links")
            .as_ref()
            .filter(|(at, _)| at.elapsed() < LINKS_FRESH)
            .map(|(_, m)| m.get(&hash).copied());
        let id = match cached {
            Some(id) => id,
            None => {
                let live = state
                    .db
                    .run(|conn| -> Result<_, AppError> {
                        Ok(wall::links(&mut conn.conn())?
                            .into_iter()
                            .filter(|l| l.revoked_at.is_none())
                            .map(|l| (l.key_hash, l.id))
                            .collect::<HashMap<_, _>>())
                    })
                    .await?;
                let id = live.get(&hash).copied();
                *self.links.write().expect("wall links") = Some((Instant::now(), live));
                id
            }
        };
        if let Some(id) = id {
            let due = {
                let mut noted = self.noted.lock().expect("wall uses");
                let due = noted.get(&id).is_none_or(|t| t.elapsed() >= NOTE_USE_EVERY);
                if due {
                    noted.insert(id, Instant::now());
                }
                due
            };
            if due {
                let from = from.to_string();
                state
                    .db
                    .run(move |conn| -> Result<(), AppError> {
                        conn.write(|c| wall::used(c, id, &from, db::now()))?;
                        Ok(())
                    })
                    .await?;
            }
        }
        Ok(id)
    }
}

/// A wall link's key: 43 characters of URL-safe base64 (256 bits).
fn valid_key(key: &str) -> bool {
    key.len() == 43
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[derive(Serialize)]
pub struct WallModel {
    pub hostname: String,
    pub overall: Overall,
    pub reason: String,
    pub observed: Option<String>,
    /// Milliseconds since the epoch, for the page's own staleness check.
    pub observed_ms: i64,
    pub stale_after_ms: i64,
    pub stale: bool,
    pub pools: Vec<WallPool>,
    pub enclosures: Vec<WallEnclosure>,
    pub volumes: usize,
    pub exported: usize,
    pub sessions: usize,
    /// Each replicated volume: its state and lag, lagging or broken first.
    pub replication: Vec<WallReplica>,
    pub jobs: Vec<WallJob>,
    pub alerts: Vec<WallAlert>,
    pub more_alerts: usize,
    pub fleet: Vec<WallAppliance>,
}

#[derive(Serialize)]
pub struct WallReplica {
    pub volume: String,
    /// "to bay02" or "from bay01".
    pub peer: String,
    pub state: String,
    /// `ok`, `warn`, `bad`.
    pub class: &'static str,
    /// "12 s behind", or what it waits for.
    pub lag: String,
}

#[derive(Serialize)]
pub struct WallPool {
    pub name: String,
    pub level: String,
    pub state: String,
    /// `ok`, `warn`, `bad`.
    pub class: &'static str,
    pub used_percent: u64,
    pub size: String,
    pub progress: Option<String>,
}

#[derive(Serialize)]
pub struct WallEnclosure {
    pub label: String,
    pub present: bool,
    pub columns: usize,
    pub bays: Vec<WallBay>,
    pub troubled: Vec<String>,
}

#[derive(Serialize)]
pub struct WallBay {
    pub class: String,
    pub title: String,
}

#[derive(Serialize)]
pub struct WallJob {
    pub id: i64,
    pub summary: String,
    pub percent: i32,
}

#[derive(Serialize)]
pub struct WallAlert {
    pub severity: Severity,
    pub summary: String,
    pub at: String,
}

#[derive(Serialize)]
pub struct WallAppliance {
    pub hostname: String,
    pub overall: Overall,
    pub reason: String,
    pub link: Option<String>,
    pub silent: bool,
    pub last_seen: String,
}

async fn load(state: &AppState) -> Result<WallModel, AppError> {
    let appliance = state.appliance().await?;
    let (hostname, tz) = match &appliance {
        Some(a) => (
            a.hostname.clone(),
            a.timezone.parse().unwrap_or(chrono_tz::UTC),
        ),
        None => ("baystack".to_string(), chrono_tz::UTC),
    };
    let stale_after =
        crate::domain::alert::stale_after(state.settings.agent.observe_interval_seconds);
    let fleet = state.fleet.clone();
    state
        .db
        .run(move |conn| -> Result<WallModel, AppError> {
            let fleet = fleet.appliances();
            let mut c = conn.conn();
            model(&mut c, fleet, hostname, tz, stale_after, db::now())
        })
        .await
}

fn time(t: &NaiveDateTime, tz: chrono_tz::Tz) -> String {
    t.and_utc()
        .with_timezone(&tz)
        .format("%H:%M:%S")
        .to_string()
}

/// The wall of the appliance in `c`, with the `fleet` registry's
/// appliances, or why they cannot be read.
fn model(
    c: &mut Conn<'_>,
    fleet: Result<Vec<wall::ApplianceRow>, String>,
    hostname: String,
    tz: chrono_tz::Tz,
    stale_after: chrono::Duration,
    now: NaiveDateTime,
) -> Result<WallModel, AppError> {
    let summary = inventory::summary(c)?;
    let observed_at = summary.observation.as_ref().map(|o| o.observed_at);
    let stale = observed_at.is_none_or(|t| now - t > stale_after);
    let active = alerts::active(c)?;
    // A wall that cannot see the agent's looks, or the rest of the fleet,
    // is never green.
    let silent = match observed_at {
        None => Some("The agent has not observed the appliance yet".to_string()),
        Some(t) if stale => Some(format!(
            "The agent has not observed the appliance since {}",
            time(&t, tz)
        )),
        _ => fleet.as_ref().err().cloned(),
    };
    let (state, reason) = overall(
        active
            .iter()
            .map(|a| (a.severity(), a.acked_at.is_some(), a.summary.as_str())),
        silent.as_deref(),
    );
    let memberships = crate::db::pools::memberships(c)?;
    let pools = crate::db::pools::list(c)?
        .into_iter()
        .map(|p| {
            let a = p.array();
            let word = match (&a, p.lifecycle.as_str()) {
                (None, "creating") => "creating".to_string(),
                (None, _) => "missing".to_string(),
                (Some(a), _) => a.state.map_or("running", |s| s.as_str()).to_string(),
            };
            let class = match word.as_str() {
                "clean" | "checking" | "repairing" | "creating" | "running" => "ok",
                "resyncing" | "reshaping" | "recovering" | "degraded" => "warn",
                _ => "bad",
            };
            let class = if class == "ok" && a.as_ref().and_then(|a| a.degraded) == Some(true) {
                "warn"
            } else {
                class
            };
            let vg = p.volume_group();
            let progress = a.as_ref().and_then(|a| {
                let pr = a.progress.as_ref()?;
                let action = a.sync_action.map_or("working", |s| s.as_str());
                let left = pr.seconds_left.map(|s| match s {
                    s if s < 60 => format!(", {s} s left"),
                    s if s < 3600 => format!(", {} min left", s.div_ceil(60)),
                    s => format!(", {} h {} min left", s / 3600, (s % 3600) / 60),
                });
                Some(format!(
                    "{action} {:.1}%{}",
                    pr.percent,
                    left.unwrap_or_default()
                ))
            });
            WallPool {
                level: p.level.clone(),
                state: word,
                class,
                used_percent: vg
                    .as_ref()
                    .filter(|v| v.size_bytes > 0)
                    .map_or(0, |v| (v.size_bytes - v.free_bytes) * 100 / v.size_bytes),
                size: vg
                    .as_ref()
                    .map(|v| crate::domain::volume::size_words(v.size_bytes))
                    .unwrap_or_default(),
                progress,
                name: p.name,
            }
        })
        .collect();
    let enclosures = summary
        .enclosures
        .iter()
        .map(|e| WallEnclosure {
            label: e.enclosure.label.clone(),
            present: e.enclosure.present,
            columns: super::bays::default_columns(e.bays.len()),
            troubled: e
                .enclosure
                .elements()
                .into_iter()
                .filter(|el| el.trouble())
                .map(|el| format!("{} {}: {}", el.kind, el.name, el.status))
                .collect(),
            bays: e
                .bays
                .iter()
                .map(|(b, d)| {
                    let st = inventory::bay_state(&e.enclosure, b, d.as_ref());
                    let mut class = st.clone();
                    if b.fault {
                        class.push_str(" fault");
                    }
                    if b.locate {
                        class.push_str(" lit");
                    }
                    let pool = d
                        .as_ref()
                        .and_then(|d| memberships.get(&d.id))
                        .map(|(p, r)| format!(", {r} of {p}"))
                        .unwrap_or_default();
                    let title = match d {
                        Some(d) => format!("slot {}: {} {st}{pool}", b.slot, d.serial),
                        None => format!("slot {}: {st}", b.slot),
                    };
                    WallBay { class, title }
                })
                .collect(),
        })
        .collect();
    let volumes = crate::db::volumes::list(c)?;
    let targets = crate::db::volumes::all_targets(c)?;
    let mut replication: Vec<WallReplica> = crate::db::replication::all(c)?
        .iter()
        .map(|r| {
            use crate::domain::replica::{Role, State};
            let st = r.state(now);
            WallReplica {
                volume: r.volume.clone(),
                peer: match r.role() {
                    Role::Source => format!("to {}", r.peer),
                    Role::Replica => format!("from {}", r.peer),
                },
                state: st.words().into(),
                class: match st {
                    State::Broken => "bad",
                    State::Lagging | State::Preparing | State::InitialSync => "warn",
                    State::InSync | State::Promoted => "ok",
                },
                lag: match r.lag_s(now) {
                    Some(l) => format!("{} behind", crate::domain::alert::duration_words(l)),
                    None => "no point yet".into(),
                },
            }
        })
        .collect();
    replication.sort_by_key(|r| {
        (
            match r.class {
                "bad" => 0,
                "warn" => 1,
                _ => 2,
            },
            r.volume.clone(),
        )
    });
    let running = crate::jobs::list(
        c,
        &crate::jobs::JobFilter {
            state: Some(crate::jobs::JobState::Running),
            limit: 6,
            ..Default::default()
        },
    )?;
    let unacked: Vec<&alerts::AlertRow> = active
        .iter()
        .filter(|a| a.acked_at.is_none() && a.severity() > Severity::Info)
        .collect();
    let mut newest: Vec<&alerts::AlertRow> = unacked.clone();
    newest.sort_by_key(|a| std::cmp::Reverse(a.id));
    let fleet_rows = fleet.unwrap_or_default();
    let mut fleet: Vec<WallAppliance> = if fleet_rows.len() > 1 {
        fleet_rows
            .into_iter()
            .map(|a| {
                let silent = a.silent(now);
                WallAppliance {
                    link: a.console_url.clone(),
                    overall: if silent {
                        Overall::Amber
                    } else {
                        Overall::parse(&a.state)
                    },
                    reason: if silent {
                        format!("Stopped reporting at {}", time(&a.last_seen_at, tz))
                    } else {
                        a.reason.clone()
                    },
                    silent,
                    last_seen: time(&a.last_seen_at, tz),
                    hostname: a.hostname,
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    fleet.sort_by_key(|a| (std::cmp::Reverse((a.overall, a.silent)), a.hostname.clone()));
    Ok(WallModel {
        hostname,
        overall: state,
        reason,
        observed: observed_at.map(|t| time(&t, tz)),
        observed_ms: observed_at.map_or(0, |t| t.and_utc().timestamp_millis()),
        stale_after_ms: stale_after.num_milliseconds(),
        stale,
        pools,
        enclosures,
        exported: targets.len(),
        sessions: targets.iter().map(|t| t.sessions().len()).sum(),
        volumes: volumes.len(),
        replication,
        jobs: running
            .into_iter()
            .map(|j| WallJob {
                id: j.job.id,
                summary: j.job.summary,
                percent: j.job.progress_percent,
            })
            .collect(),
        more_alerts: newest.len().saturating_sub(6),
        alerts: newest
            .into_iter()
            .take(6)
            .map(|a| WallAlert {
                severity: a.severity(),
                summary: a.summary.clone(),
                at: time(&a.raised_at, tz),
            })
            .collect(),
        fleet,
    })
}

#[derive(Template)]
#[template(path = "noc/board.html")]
pub struct BoardPartial<'a> {
    pub w: &'a WallModel,
}

#[derive(Template)]
#[template(path = "noc/page.html")]
pub struct WallPage<'a> {
    pub board_url: &'a str,
    pub board: &'a str,
    pub etag: &'a str,
    pub refresh_ms: u64,
}

fn page_response(board_url: &str, board: &Board) -> Result<HttpResponse, AppError> {
    let html = WallPage {
        board_url,
        board: &board.html,
        etag: &board.etag,
        refresh_ms: REFRESH_MS,
    }
    .render()
    .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html))
}

fn board_response(req: &HttpRequest, board: &Board) -> HttpResponse {
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == board.etag));
    let mut r = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    r.insert_header((header::ETAG, board.etag.clone()));
    if unchanged {
        r.finish()
    } else {
        r.content_type("text/html; charset=utf-8")
            .body(board.html.clone())
    }
}

/// `GET /noc`: the wall for a signed-in viewer.
pub async fn page(state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let board = state.wall.board(&state).await?;
    Ok(page_response("/noc/board", &board)?)
}

/// `GET /noc/board`: the board alone, `304` while unchanged.
pub async fn board(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let board = state.wall.board(&state).await?;
    Ok(board_response(&req, &board))
}

/// `GET /noc/w/{key}`: the wall for a screen with a wall link (the gate
/// has checked the key).
pub async fn wall_page(
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let board = state.wall.board(&state).await?;
    Ok(page_response(
        &format!("/noc/w/{}/board", key.into_inner()),
        &board,
    )?)
}

/// `GET /noc/w/{key}/board`.
pub async fn wall_board(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let board = state.wall.board(&state).await?;
    Ok(board_response(&req, &board))
}

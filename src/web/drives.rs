//! `/drives`: every drive the appliance has seen, present and missing,
//! sortable by health, temperature and bay; a drive's page (its SMART
//! reading, history and trends, self-tests) and the actions on one drive
//! (read SMART now, start or abort a self-test, identify its bay), each
//! one handler for its form and its API route.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;
use serde_json::json;

use super::action::{Answer, Body, Outcome};
use super::bays::LedBody;
use super::page::{Frame, human_bytes};
use super::{ApiError, AppState, Identity, PageError, client_address, drawn, jobs};
use crate::db::inventory::{self, DriveRow, Place};
use crate::db::smart as db_smart;
use crate::domain::SelfTestKind;
use crate::error::AppError;
use crate::jobs::kinds;

/// How the list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// Worst first: failing, warning, unknown, healthy; missing ones last.
    Health,
    /// Hottest first; those that report none last.
    Temperature,
    /// By enclosure and slot, as the bay map shows them; drives in no bay
    /// last.
    Bay,
}

impl Sort {
    pub const ALL: [Sort; 3] = [Sort::Health, Sort::Temperature, Sort::Bay];

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Health => "health",
            Sort::Temperature => "temperature",
            Sort::Bay => "bay",
        }
    }

    fn parse(text: &str) -> Option<Sort> {
        Sort::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct DrivesQuery {
    #[serde(default)]
    sort: Option<String>,
}

/// One row of the list.
pub struct Row {
    pub d: DriveRow,
    /// Where it is now: "Front 12-bay, slot 5".
    pub bay: Option<String>,
    pub size: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "drives/list.html")]
pub struct DrivesPage {
    pub frame: Frame,
    pub rows: Vec<Row>,
    pub sort: Sort,
    pub sorts: [Sort; 3],
    pub missing: usize,
}

fn health_rank(d: &DriveRow) -> u8 {
    match d.health.as_str() {
        "failing" => 0,
        "warning" => 1,
        "unknown" => 2,
        _ => 3,
    }
}

/// Orders the drives; present ones always before missing ones.
pub fn sorted(
    mut drives: Vec<(DriveRow, Option<Place>)>,
    sort: Sort,
) -> Vec<(DriveRow, Option<Place>)> {
    drives.sort_by(|(a, pa), (b, pb)| {
        let first = b.present.cmp(&a.present);
        let by = match sort {
            Sort::Health => health_rank(a).cmp(&health_rank(b)),
            Sort::Temperature => b
                .temperature_c
                .is_some()
                .cmp(&a.temperature_c.is_some())
                .then(b.temperature_c.cmp(&a.temperature_c)),
            Sort::Bay => pb.is_some().cmp(&pa.is_some()).then_with(|| {
                pa.as_ref()
                    .map(|p| (&p.enclosure_label, p.bay.slot))
                    .cmp(&pb.as_ref().map(|p| (&p.enclosure_label, p.bay.slot)))
            }),
        };
        first
            .then(by)
            .then_with(|| a.dev_name.cmp(&b.dev_name))
            .then(a.id.cmp(&b.id))
    });
    drives
}

/// `GET /drives?sort=health|temperature|bay`.
pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    q: web::Query<DrivesQuery>,
) -> Result<HttpResponse, PageError> {
    let sort = match q.sort.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Sort::Health,
        Some(text) => Sort::parse(text).ok_or_else(|| {
            AppError::invalid(
                "sort",
                format!("drives can be sorted by health, temperature or bay, not {text:?}"),
            )
        })?,
    };
    let draw = || async {
        let drives = state
            .db
            .run(|conn| -> Result<_, AppError> { Ok(inventory::drives(&mut conn.conn())?) })
            .await?;
        let rows: Vec<Row> = sorted(drives, sort)
            .into_iter()
            .map(|(d, place)| Row {
                bay: place.map(|p| p.name()),
                size: human_bytes(d.size_bytes),
                d,
            })
            .collect();
        drawn::text(&DrivesPage {
            frame: Frame::drawn(&state, &who, "Drives", "drives").await?,
            missing: rows.iter().filter(|r| !r.d.present).count(),
            rows,
            sort,
            sorts: Sort::ALL,
        })
    };
    Ok(state.drawn(&req, &who, draw).await?)
}

// ---- the API ----

fn drive_json(d: &inventory::DriveRow, place: Option<&inventory::Place>) -> serde_json::Value {
    json!({
        "id": d.id,
        "ident": d.ident,
        "serial": d.serial,
        "wwn": d.wwn,
        "vendor": d.vendor,
        "model": d.model,
        "size_bytes": d.size_bytes,
        "rotational": d.rotational,
        "transport": d.transport,
        "dev_name": d.dev_name,
        "by_id": d.by_id,
        "health": d.health,
        "health_reason": d.health_reason,
        "temperature_c": d.temperature_c,
        "power_on_hours": d.power_on_hours,
        "present": d.present,
        "short_test_at": d.short_test_at.as_ref().map(crate::db::rfc3339),
        "long_test_at": d.long_test_at.as_ref().map(crate::db::rfc3339),
        "medium_errors": d.medium_errors,
        "io_errors": d.io_errors,
        "last_io_error": d.last_io_error,
        "last_io_error_at": d.last_io_error_at.as_ref().map(crate::db::rfc3339),
        "bay": place.map(|p| json!({"enclosure": p.bay.enclosure, "enclosure_label": p.enclosure_label, "slot": p.bay.slot})),
    })
}

/// `GET /api/v1/drives`: every drive seen, present ones first, with its bay
/// (null for a drive in no enclosure).
pub async fn api_drives(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let rows = state
        .db
        .run(|conn| -> Result<_, AppError> { Ok(inventory::drives(&mut conn.conn())?) })
        .await?;
    let body: Vec<serde_json::Value> = rows
        .iter()
        .map(|(d, p)| drive_json(d, p.as_ref()))
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

/// A drive's id from its URL.
fn drive_id(text: &str) -> Result<i64, AppError> {
    text.parse()
        .map_err(|_| AppError::invalid("id", format!("a drive id is a number, not {text:?}")))
}

/// A drive with its bay, its latest kept SMART reading in full, and up to
/// `limit` kept readings, newest first.
type DriveDetail = (
    inventory::DriveRow,
    Option<inventory::Place>,
    Option<crate::domain::Smart>,
    Vec<db_smart::SampleRow>,
);

async fn load_drive(
    state: &AppState,
    id: i64,
    limit: i64,
) -> Result<Option<DriveDetail>, AppError> {
    state
        .db
        .run(move |conn| -> Result<_, AppError> {
            let mut c = conn.conn();
            let Some((drive, place)) = inventory::drive(&mut c, id)? else {
                return Ok(None);
            };
            let history = db_smart::smart_history(&mut c, id, limit)?;
            let smart = history
                .first()
                .and_then(|s| serde_json::from_str(&s.data).ok());
            Ok(Some((drive, place, smart, history)))
        })
        .await
}

/// `GET /api/v1/drives/{id}`: one drive, its latest SMART reading in full
/// with when it was read (`smart_read_at`), and its SMART history (newest
/// first). The drive's verdict is that reading's.
pub async fn api_drive(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = drive_id(&path.into_inner())?;
    let (drive, place, smart, history) = load_drive(&state, id, 500).await?.ok_or_else(|| {
        AppError::NotFound(format!(
            "there is no drive {id}; GET /api/v1/drives lists them"
        ))
    })?;
    let mut body = drive_json(&drive, place.as_ref());
    body["smart_read_at"] =
        serde_json::to_value(history.first().map(|h| crate::db::rfc3339(&h.at)))
            .expect("a time serializes");
    body["smart"] = serde_json::to_value(&smart).expect("SMART serializes");
    body["history"] = serde_json::to_value(&history).expect("history serializes");
    let heals = state
        .db
        .run(move |conn| -> Result<_, AppError> {
            Ok(crate::db::heals::of_drive(&mut conn.conn(), id)?)
        })
        .await?;
    body["heals"] = serde_json::to_value(&heals).expect("heals serialize");
    Ok(HttpResponse::Ok().json(body))
}

// ---- a drive's page ----

#[derive(askama::Template, askama_web::WebTemplate)]
#[template(path = "drives/page.html")]
pub struct DrivePage {
    pub frame: Frame,
    pub d: inventory::DriveRow,
    pub place: Option<inventory::Place>,
    /// The pool it belongs to, and as what: ("tank", "member").
    pub pool: Option<(String, String)>,
    /// Its unreadable sectors rewritten from a pool's redundancy, newest
    /// first.
    pub heals: Vec<crate::db::heals::HealRow>,
    /// When it was last taken out of a pool, and which.
    pub removal: Option<(crate::db::pools::RemovalRow, String)>,
    pub size: String,
    /// The self-test schedule in words.
    pub schedule: String,
    /// The latest kept reading in full: the one the verdict is from.
    pub smart: Option<crate::domain::Smart>,
    /// When it was read.
    pub read_at: Option<chrono::NaiveDateTime>,
    pub history: Vec<db_smart::SampleRow>,
    /// Temperature and error counts over the kept readings.
    pub trends: Vec<Trend>,
    /// While too few readings are kept for a trend: when there will be.
    pub trends_due: Option<String>,
    /// The self-test the latest reading shows running, in words: "short
    /// test, 40% remaining".
    pub running: Option<String>,
    /// How the agent follows the running test up, in words.
    pub follow: Option<String>,
    /// How long the drive says its long test takes: "about 6 hours".
    pub long_time: Option<String>,
}

impl DrivePage {
    /// How long the drive says its short test takes.
    pub fn short_time(&self) -> Option<String> {
        self.smart.as_ref()?.short_test_minutes.map(about)
    }

    /// What the long test's button asks before it starts one.
    pub fn long_question(&self) -> String {
        match &self.long_time {
            Some(t) => format!(
                "A long self-test reads the whole surface of {}: {t}, during which the drive \
                 answers more slowly. Start it?",
                self.d.label()
            ),
            None => format!(
                "A long self-test reads the whole surface of {} and can take many hours (the \
                 drive does not say how long). Start it?",
                self.d.label()
            ),
        }
    }
}

/// "about 54 minutes", "about 1 hour", "about 25 hours".
pub fn about(minutes: u32) -> String {
    match minutes {
        0..=1 => "about a minute".into(),
        2..=59 => format!("about {minutes} minutes"),
        60..=89 => "about 1 hour".into(),
        m => format!("about {} hours", (m + 30) / 60),
    }
}

/// The self-test a reading taken at `read_at` shows running, in words:
/// "short test, 40% remaining". Which kind, the drive says, or else it is
/// the one Baystack last asked for (`asked`), if that was before the
/// reading and recent enough to be still running.
pub fn running_words(
    smart: &crate::domain::Smart,
    read_at: chrono::NaiveDateTime,
    asked: Option<(chrono::NaiveDateTime, SelfTestKind)>,
) -> Option<String> {
    let words = smart.self_test_running.as_ref()?;
    let kind = smart.self_test_running_kind.or_else(|| {
        let (at, kind) = asked?;
        (at <= read_at && read_at - at < chrono::Duration::days(2)).then_some(kind)
    });
    Some(match (kind, smart.self_test_remaining_percent) {
        (Some(k), Some(p)) => format!("{} test, {p}% remaining", k.as_str()),
        (None, Some(p)) => format!("self-test, {p}% remaining"),
        (Some(k), None) => format!("{} test ({words})", k.as_str()),
        (None, None) => words.clone(),
    })
}

/// "every 60 minutes", "every minute".
fn every_minutes(minutes: u64) -> String {
    match minutes {
        1 => "every minute".into(),
        n => format!("every {n} minutes"),
    }
}

/// One line over a drive's kept readings, oldest to newest, drawn as an
/// SVG polyline in a 300 by 60 box.
pub struct Trend {
    pub title: String,
    /// "24 to 31 °C" or "0 to 8".
    pub range: String,
    pub points: String,
    /// Whether the line rose from its first value to its last.
    pub rose: bool,
}

impl Trend {
    /// `None` with fewer than two values: a line needs two points.
    pub fn new(title: &str, unit: &str, values: &[(usize, f64)], of: usize) -> Option<Trend> {
        if values.len() < 2 || of < 2 {
            return None;
        }
        let lo = values.iter().map(|v| v.1).fold(f64::INFINITY, f64::min);
        let hi = values.iter().map(|v| v.1).fold(f64::NEG_INFINITY, f64::max);
        let span = (hi - lo).max(1.0);
        let points = values
            .iter()
            .map(|(i, v)| {
                let x = *i as f64 * 300.0 / (of - 1) as f64;
                let y = 56.0 - (v - lo) / span * 52.0;
                format!("{x:.1},{y:.1}")
            })
            .collect::<Vec<_>>()
            .join(" ");
        Some(Trend {
            title: title.into(),
            range: format!("{lo} to {hi}{unit}"),
            points,
            rose: values.last().map(|v| v.1) > values.first().map(|v| v.1),
        })
    }
}

/// The trends of a drive's history (newest first, as kept).
fn trends(history: &[db_smart::SampleRow]) -> Vec<Trend> {
    let oldest_first: Vec<&db_smart::SampleRow> = history.iter().rev().collect();
    let n = oldest_first.len();
    let temperature: Vec<(usize, f64)> = oldest_first
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.temperature_c.map(|t| (i, f64::from(t))))
        .collect();
    let errors: Vec<(usize, f64)> = oldest_first
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let smart: crate::domain::Smart = serde_json::from_str(&s.data).ok()?;
            smart
                .unavailable
                .is_none()
                .then(|| (i, crate::domain::health::error_count(&smart) as f64))
        })
        .collect();
    [
        Trend::new("Temperature", " °C", &temperature, n),
        Trend::new("Error counts", "", &errors, n),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The fewest kept readings a trend is drawn from.
const TREND_READINGS: usize = 2;

/// While fewer readings are kept than a trend needs, when there will be
/// enough, in words. The agent reads every drive every `interval_minutes`:
/// the next reading is due that long after the newest (a drive with none
/// is read as soon as it is seen, so now), each further one an interval on.
fn trends_due(
    history: &[db_smart::SampleRow],
    interval_minutes: u64,
    now: chrono::NaiveDateTime,
    time: impl Fn(&chrono::NaiveDateTime) -> String,
) -> Option<String> {
    let kept = history.len();
    let missing = TREND_READINGS.saturating_sub(kept);
    if missing == 0 {
        return None;
    }
    let interval =
        chrono::Duration::minutes(i64::try_from(interval_minutes).unwrap_or(i64::MAX / 120_000));
    let next = history.first().map_or(now, |h| (h.at + interval).max(now));
    let when = next + interval * (missing as i32 - 1);
    let have = match kept {
        0 => "none is kept yet",
        _ => "1 is kept",
    };
    Some(format!(
        "Trends appear once {TREND_READINGS} readings are kept; {have}. The agent reads every \
         drive {}, so by about {}.",
        every_minutes(interval_minutes),
        time(&when)
    ))
}

/// `GET /drives/{id}`: identity, bay, verdict with reasons, the attribute
/// table, self-tests and the kept readings.
pub async fn drive_page(
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<i64>,
) -> Result<DrivePage, PageError> {
    let id = path.into_inner();
    let (d, place, smart, history) = load_drive(&state, id, 200).await?.ok_or_else(|| {
        AppError::NotFound(format!(
            "there is no drive {id}; the bay map links to every drive"
        ))
    })?;
    let frame = Frame::new(&state, &who, format!("{} {}", d.model, d.serial), "drives").await?;
    let drive_id = d.id;
    let (pool, heals, removal) = state
        .db
        .run(move |conn| -> Result<_, AppError> {
            let mut c = conn.conn();
            Ok((
                crate::db::pools::memberships(&mut c)?.remove(&drive_id),
                crate::db::heals::of_drive(&mut c, drive_id)?,
                crate::db::pools::last_removal_of(&mut c, drive_id)?,
            ))
        })
        .await?;
    let agent = &state.settings.agent;
    let read_at = history.first().map(|h| h.at);
    let asked = d.last_test_asked();
    let running = smart
        .as_ref()
        .zip(read_at)
        .and_then(|(s, at)| running_words(s, at, asked));
    let follow = running.as_ref().map(|_| {
        let end = smart.as_ref().zip(asked).and_then(|(s, (at, kind))| {
            let same = s.self_test_running_kind.is_none_or(|k| k == kind);
            let m = s.test_minutes(kind).filter(|_| same)?;
            let end = at + chrono::Duration::minutes(i64::from(m));
            (end > crate::db::now()).then_some(end)
        });
        let tenths = smart
            .as_ref()
            .is_some_and(|s| s.self_test_remaining_percent.is_some());
        format!(
            "The agent reads the drive again every {} s while the test runs{}, and keeps the \
             reading {}when it ends.",
            agent.observe_interval_seconds.clamp(2, 60),
            end.map(|e| format!(
                " and once more when it should have ended, about {}",
                frame.time(&e)
            ))
            .unwrap_or_default(),
            if tenths {
                "each time the test is a tenth further and "
            } else {
                ""
            }
        )
    });
    let long_time = smart
        .as_ref()
        .and_then(|s| s.test_minutes(SelfTestKind::Long))
        .map(about);
    let trends_due = trends_due(
        &history,
        agent.smart_interval_minutes,
        crate::db::now(),
        |t| frame.time(t),
    );
    Ok(DrivePage {
        pool,
        heals,
        removal,
        size: super::page::human_bytes(d.size_bytes),
        schedule: schedule_words(agent),
        trends: trends(&history),
        trends_due,
        frame,
        d,
        place,
        smart,
        read_at,
        history,
        running,
        follow,
        long_time,
    })
}

/// The self-test schedule in words.
fn schedule_words(agent: &crate::config::AgentSettings) -> String {
    let every = |days: u32, what: &str| match days {
        0 => format!("no {what} tests"),
        1 => format!("a {what} test every day"),
        n => format!("a {what} test every {n} days"),
    };
    format!(
        "{} and {}",
        every(agent.short_self_test_days, "short"),
        every(agent.long_self_test_days, "long")
    )
}

/// `{"kind": "short" | "long"}`.
#[derive(Debug, Deserialize)]
pub struct SelfTestBody {
    pub kind: String,
}

/// The drive `id_text` names, with its bay, if it is in the appliance now;
/// `doing` says what it was wanted for: "test itself".
async fn present_drive(
    state: &AppState,
    id_text: &str,
    doing: &str,
) -> Result<(inventory::DriveRow, Option<inventory::Place>), AppError> {
    let id = drive_id(id_text)?;
    let (d, place) = state
        .db
        .run(move |conn| -> Result<_, AppError> { Ok(inventory::drive(&mut conn.conn(), id)?) })
        .await?
        .ok_or_else(|| {
            AppError::NotFound(format!(
                "there is no drive {id}; GET /api/v1/drives lists them"
            ))
        })?;
    if !d.present {
        return Err(AppError::Conflict(format!(
            "{} {} is not in the appliance now, so it cannot {doing}",
            d.model, d.serial
        )));
    }
    Ok((d, place))
}

/// Checks the drive is there and enqueues the job that starts a self-test.
async fn enqueue_self_test(
    req: &HttpRequest,
    state: &AppState,
    who: &Identity,
    id_text: String,
    kind_text: &str,
) -> Result<i64, AppError> {
    let kind = SelfTestKind::parse(kind_text).ok_or_else(|| {
        AppError::invalid(
            "kind",
            format!("a self-test is \"short\" or \"long\", not {kind_text:?}"),
        )
    })?;
    let (d, _) = present_drive(state, &id_text, "test itself").await?;
    let spec = kinds::self_test(d.id, &d.ident, d.dev_name.as_deref(), &d.label(), kind);
    jobs::enqueue(state, who, &client_address(req), spec, None).await
}

/// Checks the drive is there and enqueues the job that finds its bay and
/// sets that bay's identify LED.
async fn enqueue_drive_locate(
    req: &HttpRequest,
    state: &AppState,
    who: &Identity,
    id_text: String,
    on: bool,
) -> Result<i64, AppError> {
    let (d, place) = present_drive(state, &id_text, "be identified").await?;
    let bay = place.as_ref().map(|p| &p.bay);
    let spec = kinds::drive_locate(d.id, &d.ident, &d.label(), bay, on);
    jobs::enqueue(state, who, &client_address(req), spec, None).await
}

/// `POST /drives/{id}/locate` and `POST /api/v1/drives/{id}/locate`
/// `{"on": bool}`: enqueues a job that finds the bay the drive sits in and
/// sets its identify LED; 202 `{"job_id": N}`. A drive in no enclosure
/// fails as a job, saying what was looked at.
pub async fn drive_locate(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<String>,
    Body(body): Body<LedBody>,
) -> Answer {
    enqueue_drive_locate(&req, &state, &who, path.into_inner(), body.on)
        .await
        .map(Outcome::job)
        .into()
}

/// `POST /drives/{id}/selftest` and `POST /api/v1/drives/{id}/selftest`
/// `{"kind": "short" | "long"}`: enqueues a job that starts the self-test;
/// 202 `{"job_id": N}`.
pub async fn self_test(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<String>,
    Body(body): Body<SelfTestBody>,
) -> Answer {
    enqueue_self_test(&req, &state, &who, path.into_inner(), &body.kind)
        .await
        .map(Outcome::job)
        .into()
}

/// Checks the drive is there and enqueues the job that reads its SMART now.
async fn enqueue_read_smart(
    req: &HttpRequest,
    state: &AppState,
    who: &Identity,
    id_text: String,
) -> Result<i64, AppError> {
    let (d, _) = present_drive(state, &id_text, "be read").await?;
    let spec = kinds::read_smart(d.id, &d.ident, d.dev_name.as_deref(), &d.label());
    jobs::enqueue(state, who, &client_address(req), spec, None).await
}

/// `POST /drives/{id}/smart` and `POST /api/v1/drives/{id}/smart`:
/// enqueues a job that reads the drive's SMART now and keeps the reading;
/// 202 `{"job_id": N}`.
pub async fn read_smart(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<String>,
) -> Answer {
    enqueue_read_smart(&req, &state, &who, path.into_inner())
        .await
        .map(Outcome::job)
        .into()
}

/// Checks the drive is there and its last reading shows a self-test
/// running, and enqueues the job that aborts it. Refused in words when no
/// test runs as far as the console knows (a drive asked to abort nothing
/// says nothing useful).
async fn enqueue_abort(
    req: &HttpRequest,
    state: &AppState,
    who: &Identity,
    id_text: String,
) -> Result<i64, AppError> {
    let (d, _) = present_drive(state, &id_text, "have its self-test aborted").await?;
    let id = d.id;
    let newest = state
        .db
        .run(move |conn| -> Result<_, AppError> {
            Ok(db_smart::newest_reading(&mut conn.conn(), id)?)
        })
        .await?;
    let label = d.label();
    match newest {
        Some((_, s)) if s.self_test_running.is_some() => {}
        Some((at, _)) => {
            let tz = state
                .appliance()
                .await?
                .and_then(|a| a.timezone.parse().ok())
                .unwrap_or(chrono_tz::UTC);
            return Err(AppError::Conflict(format!(
                "{label} is running no self-test as of its last reading, at {}; there is \
                 nothing to abort (read its SMART now to see it as it is)",
                super::page::format_time(&at, tz)
            )));
        }
        None => {
            return Err(AppError::Conflict(format!(
                "the SMART of {label} has not been read yet, so no self-test is known to be \
                 running; there is nothing to abort"
            )));
        }
    }
    let spec = kinds::abort_self_test(d.id, &d.ident, d.dev_name.as_deref(), &label);
    jobs::enqueue(state, who, &client_address(req), spec, None).await
}

/// `POST /drives/{id}/selftest/abort` and `POST
/// /api/v1/drives/{id}/selftest/abort`: enqueues a job that aborts the
/// running self-test; 202 `{"job_id": N}`, 409 when the drive's last
/// reading shows none running.
pub async fn abort_self_test(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<String>,
) -> Answer {
    enqueue_abort(&req, &state, &who, path.into_inner())
        .await
        .map(Outcome::job)
        .into()
}

#[cfg(test)]
mod page_tests {
    use super::*;

    #[test]
    fn test_times_are_said_in_minutes_or_hours() {
        let said: Vec<String> = [1, 2, 54, 60, 89, 90, 360, 480, 1479]
            .into_iter()
            .map(about)
            .collect();
        assert_eq!(
            said,
            [
                "about a minute",
                "about 2 minutes",
                "about 54 minutes",
                "about 1 hour",
                "about 1 hour",
                "about 2 hours",
                "about 6 hours",
                "about 8 hours",
                "about 25 hours"
            ]
        );
    }

    /// "Running now: short test, 40% remaining": the kind the drive says,
    /// or else the one Baystack asked for just before.
    #[test]
    fn a_running_test_is_named_with_what_is_left() {
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .unwrap()
            .naive_utc();
        let mut s = crate::domain::Smart {
            self_test_running: Some("self-test in progress, 40% remaining".into()),
            self_test_remaining_percent: Some(40),
            ..Default::default()
        };
        let asked = |minutes_before: i64, kind| {
            Some((at - chrono::Duration::minutes(minutes_before), kind))
        };
        assert_eq!(
            running_words(&s, at, asked(1, SelfTestKind::Short)).as_deref(),
            Some("short test, 40% remaining")
        );
        assert_eq!(
            running_words(&s, at, None).as_deref(),
            Some("self-test, 40% remaining")
        );
        assert_eq!(
            running_words(&s, at, asked(3 * 24 * 60, SelfTestKind::Short)).as_deref(),
            Some("self-test, 40% remaining"),
            "an ask days ago is not this test"
        );
        s.self_test_running_kind = Some(SelfTestKind::Long);
        assert_eq!(
            running_words(&s, at, asked(1, SelfTestKind::Short)).as_deref(),
            Some("long test, 40% remaining"),
            "the drive's word first"
        );
        s.self_test_remaining_percent = None;
        s.self_test_running = Some("Background long self-test in progress".into());
        assert_eq!(
            running_words(&s, at, None).as_deref(),
            Some("long test (Background long self-test in progress)")
        );
        s.self_test_running = None;
        assert_eq!(running_words(&s, at, None), None);
    }

    /// Too few readings for a trend: the page says when there will be
    /// enough, from the agent's interval.
    #[test]
    fn the_trends_say_when_they_will_appear() {
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .unwrap()
            .naive_utc();
        let time = |t: &chrono::NaiveDateTime| t.format("%H:%M").to_string();
        let sample = |minutes_ago: i64| db_smart::SampleRow {
            at: now - chrono::Duration::minutes(minutes_ago),
            health: "healthy".into(),
            reason: "no SMART errors".into(),
            temperature_c: Some(30),
            power_on_hours: Some(1),
            data: "{}".into(),
        };
        assert_eq!(
            trends_due(&[], 60, now, time).unwrap(),
            "Trends appear once 2 readings are kept; none is kept yet. The agent reads every \
             drive every 60 minutes, so by about 09:00."
        );
        assert_eq!(
            trends_due(&[sample(20)], 60, now, time).unwrap(),
            "Trends appear once 2 readings are kept; 1 is kept. The agent reads every drive \
             every 60 minutes, so by about 08:40."
        );
        assert!(
            trends_due(&[sample(90)], 1, now, time)
                .unwrap()
                .ends_with("every minute, so by about 08:00."),
            "a round overdue: from now"
        );
        assert_eq!(trends_due(&[sample(60), sample(0)], 60, now, time), None);
    }

    #[test]
    fn a_trend_spans_its_box_and_says_its_range() {
        let t = Trend::new("Temperature", " °C", &[(0, 30.0), (1, 34.0), (3, 32.0)], 4).unwrap();
        assert_eq!(t.points, "0.0,56.0 100.0,4.0 300.0,30.0");
        assert_eq!(t.range, "30 to 34 °C");
        assert!(t.rose);
        let flat = Trend::new("Error counts", "", &[(0, 0.0), (1, 0.0)], 2).unwrap();
        assert_eq!(flat.points, "0.0,56.0 300.0,56.0");
        assert!(!flat.rose);
        assert!(Trend::new("Temperature", " °C", &[(0, 30.0)], 1).is_none());
    }
}

//! Pools: the list, one pool's page, and creating one from the drives on
//! the bay map; the same through the API. The web records the pool and its
//! create job in one transaction; the agent's job builds it.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;
use serde_json::{Value, json};

use super::action::{Answer, Body, Outcome};
use super::page::{Frame, human_bytes};
use super::{ApiError, AppState, Identity, PageError, client_address, drawn};
use crate::db::Conn;
use crate::db::inventory::{self, DriveRow, Place};
use crate::db::pools::{self, MemberRow, PoolRow, ScrubRow};
use crate::domain::health::Health;
use crate::domain::pool::{
    Array, ArraySpec, DEFAULT_CHUNK_KIB, DriveRef, MemberRole, RaidLevel, WriteHole,
};
use crate::error::AppError;
use crate::jobs::{self, kinds};

/// Days between a pool's scheduled scrubs, unless changed.
pub const SCRUB_EVERY_DAYS: i32 = 30;

/// `POST /api/v1/pools`: what a new pool is made of.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct CreateBody {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub level: String,
    /// Member drives by serial, in slot order.
    #[serde(default)]
    pub drives: Vec<String>,
    #[serde(default)]
    pub spares: Vec<String>,
    #[serde(default)]
    pub write_hole: String,
    /// One journal device.
    #[serde(default)]
    pub journal_drive: Option<String>,
    /// Two journal devices, mirrored (the recommended choice).
    #[serde(default)]
    pub journal_drives: Vec<String>,
    #[serde(default)]
    pub chunk_kib: Option<u32>,
    /// Drives whose old signatures may be erased, each named by its
    /// serial, as an admin typed it.
    #[serde(default)]
    pub wipe: Vec<String>,
}

/// Why a drive cannot go into a new pool as it is, in words; `None` when
/// it can. A drive whose only fault is old data can, once its serial is
/// typed to allow erasing it (`wipe_allowed`).
pub fn unfit(
    d: &DriveRow,
    member_of: Option<&(String, String)>,
    wipe_allowed: bool,
) -> Option<String> {
    if !d.present {
        return Some("it is not in the appliance now".into());
    }
    if let Some((pool, role)) = member_of {
        return Some(format!("it is in pool {pool} ({role})"));
    }
    match d.health() {
        Health::Healthy => {}
        Health::Unknown => {
            return Some(format!(
                "its health is not known yet ({}); a pool is built of drives known to be sound",
                d.health_reason
            ));
        }
        other => {
            return Some(format!(
                "its SMART verdict is {}: {}",
                other.as_str(),
                d.health_reason
            ));
        }
    }
    let signatures = d.signatures();
    if !signatures.is_empty() && !wipe_allowed {
        return Some(format!(
            "it holds old data ({}); type its serial to have it erased",
            signatures.join(", ")
        ));
    }
    None
}

/// The least members each level takes.
fn least_members(level: RaidLevel) -> usize {
    match level {
        RaidLevel::Raid1 => 2,
        RaidLevel::Raid5 => 3,
        RaidLevel::Raid6 | RaidLevel::Raid10 => 4,
    }
}

/// A request checked against the drives as recorded.
struct Plan {
    spec: ArraySpec,
    /// The drives it is made of: (id, role), members in slot order first.
    rows: Vec<(i64, &'static str)>,
    /// The drives whose old data the job erases first.
    wipe: Vec<DriveRef>,
}

/// Checks a request against the drives as recorded: the plan, or the
/// first bad field, in words.
fn plan(
    body: &CreateBody,
    drives: &[(DriveRow, Option<Place>)],
    memberships: &HashMap<i64, (String, String)>,
    taken: &[String],
) -> Result<Plan, AppError> {
    let name = body.name.trim();
    crate::naming::validate_pool_name(name).map_err(|e| AppError::invalid("name", e))?;
    if taken.iter().any(|t| t == name) {
        return Err(AppError::invalid(
            "name",
            format!("there is a pool named {name} already"),
        ));
    }
    let level = RaidLevel::parse(body.level.trim())
        .filter(|_| body.level.trim().starts_with("raid"))
        .ok_or_else(|| {
            AppError::invalid(
                "level",
                format!(
                    "the level is raid1, raid5, raid6 or raid10, not {:?}",
                    body.level
                ),
            )
        })?;
    let write_hole = match (body.write_hole.trim(), level) {
        ("" | "none", _) => WriteHole::Open,
        ("journal", RaidLevel::Raid5 | RaidLevel::Raid6) => WriteHole::Journal,
        ("ppl", RaidLevel::Raid5) => WriteHole::Ppl,
        ("ppl", RaidLevel::Raid6) => {
            return Err(AppError::invalid(
                "write_hole",
                "md keeps a partial parity log for raid5 only; close a raid6 array's write hole \
                 with a journal",
            ));
        }
        ("journal" | "ppl", _) => {
            return Err(AppError::invalid(
                "write_hole",
                format!(
                    "a {} array mirrors its data and has no write hole to close; choose none",
                    level.as_str()
                ),
            ));
        }
        (other, _) => {
            return Err(AppError::invalid(
                "write_hole",
                format!("write-hole protection is journal, ppl or none, not {other:?}"),
            ));
        }
    };
    let chunk_kib = match body.chunk_kib {
        None => DEFAULT_CHUNK_KIB,
        Some(c) if c.is_power_of_two() && (4..=65536).contains(&c) => c,
        Some(c) => {
            return Err(AppError::invalid(
                "chunk_kib",
                format!("the chunk is a power of two from 4 to 65536 KiB, not {c}"),
            ));
        }
    };
    let wipe: Vec<&str> = body.wipe.iter().map(|s| s.trim()).collect();
    let mut seen: Vec<String> = Vec::new();
    let mut pick = |serial: &str, field: &'static str| -> Result<(&DriveRow, DriveRef), AppError> {
        let serial = serial.trim();
        if seen.iter().any(|s| s == serial) {
            return Err(AppError::invalid(
                field,
                format!("the drive {serial} is named twice; a drive has one role in a pool"),
            ));
        }
        seen.push(serial.to_string());
        let (d, _) = drives
            .iter()
            .find(|(d, _)| d.serial == serial)
            .ok_or_else(|| {
                AppError::invalid(
                    field,
                    format!("there is no drive with the serial {serial:?}"),
                )
            })?;
        if let Some(why) = unfit(d, memberships.get(&d.id), wipe.contains(&serial)) {
            return Err(AppError::invalid(
                field,
                format!("the drive {serial} cannot go into a pool: {why}"),
            ));
        }
        Ok((d, d.drive_ref()))
    };
    let mut rows = Vec::new();
    let mut to_wipe = Vec::new();
    let mut members = Vec::new();
    for s in &body.drives {
        let (d, r) = pick(s, "drives")?;
        rows.push((d.id, "member"));
        if !d.signatures().is_empty() {
            to_wipe.push(r.clone());
        }
        members.push(r);
    }
    let least = least_members(level);
    if members.len() < least {
        return Err(AppError::invalid(
            "drives",
            format!(
                "a {} pool takes at least {least} drives; {} given",
                level.as_str(),
                members.len()
            ),
        ));
    }
    if level == RaidLevel::Raid10 && members.len() % 2 == 1 {
        return Err(AppError::invalid(
            "drives",
            format!(
                "a raid10 pool takes an even number of drives (mirrored pairs); {} given",
                members.len()
            ),
        ));
    }
    let smallest = drives
        .iter()
        .filter(|(d, _)| members.iter().any(|m| m.ident == d.ident))
        .map(|(d, _)| d.size_bytes)
        .min()
        .unwrap_or(0);
    let mut spares = Vec::new();
    for s in &body.spares {
        let (d, r) = pick(s, "spares")?;
        if d.size_bytes < smallest {
            return Err(AppError::invalid(
                "spares",
                format!(
                    "the spare {} ({}) is smaller than the smallest member ({}), so it could not \
                     take a member's place",
                    d.serial,
                    human_bytes(d.size_bytes),
                    human_bytes(smallest)
                ),
            ));
        }
        rows.push((d.id, "spare"));
        if !d.signatures().is_empty() {
            to_wipe.push(r.clone());
        }
        spares.push(r);
    }
    let journal_serials: Vec<&String> = body
        .journal_drive
        .iter()
        .chain(&body.journal_drives)
        .filter(|s| !s.trim().is_empty())
        .collect();
    let mut journal = Vec::new();
    match (write_hole, journal_serials.len()) {
        (WriteHole::Journal, 1 | 2) => {
            for s in journal_serials {
                let (d, r) = pick(s, "journal_drive")?;
                rows.push((d.id, "journal"));
                if !d.signatures().is_empty() {
                    to_wipe.push(r.clone());
                }
                journal.push(r);
            }
        }
        (WriteHole::Journal, 0) => {
            return Err(AppError::invalid(
                "journal_drive",
                "a journal needs a device of its own: name one drive, or two to mirror it",
            ));
        }
        (WriteHole::Journal, n) => {
            return Err(AppError::invalid(
                "journal_drive",
                format!("a journal is one device, or two mirrored; {n} given"),
            ));
        }
        (_, 0) => {}
        (_, _) => {
            return Err(AppError::invalid(
                "journal_drive",
                "a journal device is given, but write-hole protection is not journal",
            ));
        }
    }
    let named: Vec<&str> = body
        .drives
        .iter()
        .chain(&body.spares)
        .chain(&body.journal_drives)
        .chain(&body.journal_drive)
        .map(|s| s.trim())
        .collect();
    for s in &wipe {
        if !named.contains(s) {
            return Err(AppError::invalid(
                "wipe",
                format!("{s:?} is not a drive of this pool; only its own drives are erased"),
            ));
        }
    }
    let spec = ArraySpec {
        name: name.to_string(),
        level,
        members,
        spares,
        write_hole,
        journal,
        chunk_kib,
    };
    Ok(Plan {
        spec,
        rows,
        wipe: to_wipe,
    })
}

/// Records the pool and enqueues its create job, in one transaction.
async fn create(
    state: &AppState,
    who: &Identity,
    address: String,
    body: CreateBody,
) -> Result<i64, AppError> {
    let user = who.username.clone();
    let id = state
        .db
        .run(move |conn| {
            conn.write(|c| -> Result<i64, AppError> {
                let drives = inventory::drives(c)?;
                let memberships = pools::memberships(c)?;
                let taken: Vec<String> = pools::list(c)?.into_iter().map(|p| p.name).collect();
                let Plan { spec, rows, wipe } = plan(&body, &drives, &memberships, &taken)?;
                let record = pools::NewPool {
                    name: &spec.name,
                    level: spec.level.as_str(),
                    write_hole: match spec.write_hole {
                        WriteHole::Journal => "journal",
                        WriteHole::Ppl => "ppl",
                        WriteHole::Open => "none",
                    },
                    chunk_kib: i32::try_from(spec.chunk_kib).unwrap_or(i32::MAX),
                    scrub_every_days: SCRUB_EVERY_DAYS,
                    created_by: &user,
                    drives: rows,
                };
                pools::insert(c, &record, crate::db::now()).map_err(|e| {
                    if crate::error::is_unique_violation(&e) {
                        AppError::Conflict(format!(
                            "a pool named {} was made, or one of its drives put in a pool, \
                             at the same moment; nothing was changed",
                            spec.name
                        ))
                    } else {
                        e.into()
                    }
                })?;
                let job = kinds::create_pool(spec, wipe);
                Ok(jobs::enqueue_audited(
                    c,
                    &job,
                    &user,
                    Some(&address),
                    None,
                    None,
                )?)
            })
        })
        .await?;
    state.wake.notify();
    Ok(id)
}

/// `POST /api/v1/pools`: 202 `{"job_id"}`; bad input 422 with `field`.
pub async fn api_create(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    Body(body): Body<CreateBody>,
) -> Answer {
    create(&state, &who, client_address(&req), body)
        .await
        .map(Outcome::job)
        .into()
}

/// `POST /pools` from the create page: each drive's role in a field of its
/// own (`role.<serial>`: member, spare or journal), and the serial typed
/// to allow erasing one (`wipe.<serial>`).
pub async fn create_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    form: web::Form<HashMap<String, String>>,
) -> Answer {
    let form = form.into_inner();
    let field = |k: &str| {
        form.get(k)
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let mut body = CreateBody {
        name: field("name"),
        level: field("level"),
        write_hole: field("write_hole"),
        chunk_kib: None,
        ..CreateBody::default()
    };
    let chunk = field("chunk_kib");
    if !chunk.is_empty() {
        match chunk.parse() {
            Ok(c) => body.chunk_kib = Some(c),
            Err(_) => {
                return Answer(Err(AppError::invalid(
                    "chunk_kib",
                    format!("the chunk is a number of KiB, not {chunk:?}"),
                )));
            }
        }
    }
    let mut roles: Vec<(&String, &String)> = form
        .iter()
        .filter(|(k, v)| k.starts_with("role.") && !v.is_empty())
        .collect();
    roles.sort();
    for (key, role) in roles {
        let serial = key["role.".len()..].to_string();
        match role.as_str() {
            "member" => body.drives.push(serial),
            "spare" => body.spares.push(serial),
            "journal" => body.journal_drives.push(serial),
            other => {
                return Answer(Err(AppError::invalid(
                    "drives",
                    format!("a drive is a member, a spare or a journal, not {other:?}"),
                )));
            }
        }
    }
    for (key, typed) in &form {
        if let Some(serial) = key.strip_prefix("wipe.")
            && !typed.is_empty()
        {
            if typed != serial {
                return Answer(Err(AppError::invalid(
                    "wipe",
                    format!(
                        "to erase the drive {serial}, type its serial exactly; {typed:?} is not it"
                    ),
                )));
            }
            body.wipe.push(serial.to_string());
        }
    }
    create(&state, &who, client_address(&req), body)
        .await
        .map(Outcome::job)
        .into()
}

// ---- scrubs ----

/// `POST /api/v1/pools/{name}/scrub`: what to run.
#[derive(Debug, Default, Deserialize)]
pub struct ScrubBody {
    /// Rewrite the stripes that do not match instead of only counting
    /// them.
    #[serde(default)]
    pub repair: bool,
}

/// `POST /pools/{name}/scrub` and `POST /api/v1/pools/{name}/scrub`
/// `{"repair"?: bool}`: a check (or a repair) of the whole array; 202
/// `{"job_id"}`. Refused with 409 and the reason while the pool is not
/// clean (degraded, rebuilding, reshaping, being made, already checking).
pub async fn scrub(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<String>,
    Body(body): Body<ScrubBody>,
) -> Answer {
    async {
        let p = load_one(&state, path.into_inner()).await?;
        let now = p.state();
        if p.pool.lifecycle != "ready" || now != "clean" {
            return Err(AppError::Conflict(format!(
                "pool {} is {now}; a scrub waits until it is clean",
                p.pool.name
            )));
        }
        let spec = kinds::scrub(p.pool.id, &p.pool.name, body.repair);
        let id = super::jobs::enqueue(&state, &who, &client_address(&req), spec, None).await?;
        Ok(Outcome::job(id))
    }
    .await
    .into()
}

// ---- reading ----

/// One pool as pages and the API show it.
pub struct PoolView {
    pub pool: PoolRow,
    pub array: Option<Array>,
    pub drives: Vec<PoolDrive>,
    pub last_scrub: Option<ScrubRow>,
    /// Size of the volume group, and what of it is free.
    pub size_bytes: Option<u64>,
    pub free_bytes: Option<u64>,
}

/// A drive of a pool: what it was given as, and what md says it is now.
pub struct PoolDrive {
    pub member: MemberRow,
    pub drive: DriveRow,
    pub bay: Option<String>,
    /// md's role for it now, where the array is seen and lists it.
    pub role: Option<MemberRole>,
}

impl PoolDrive {
    /// A hot spare, as recorded and (where md lists it) as md has it.
    pub fn is_spare(&self) -> bool {
        self.member.role == "spare" && self.role.is_none_or(|r| r == MemberRole::Spare)
    }
}

impl PoolView {
    /// In one word: the array's state, or what is known instead.
    pub fn state(&self) -> String {
        match (&self.array, self.pool.lifecycle.as_str()) {
            (_, "creating") if self.array.is_none() => "creating".into(),
            (Some(a), _) => a
                .state
                .map_or_else(|| "running".to_string(), |s| s.as_str().to_string()),
            (None, _) => "missing".into(),
        }
    }

    /// md is rebuilding, reshaping or scrubbing it: the page follows.
    pub fn working(&self) -> bool {
        self.array.as_ref().is_some_and(|a| a.progress.is_some())
    }

    /// "about 40 s left", "about 12 min left", "about 3 h 20 min left".
    pub fn left_words(&self, seconds: &u64) -> String {
        match *seconds {
            s if s < 60 => format!("about {s} s left"),
            s if s < 3600 => format!("about {} min left", s.div_ceil(60)),
            s => format!("about {} h {} min left", s / 3600, (s % 3600) / 60),
        }
    }

    pub fn degraded(&self) -> bool {
        self.array
            .as_ref()
            .and_then(|a| a.degraded)
            .unwrap_or(false)
    }

    pub fn allocated_bytes(&self) -> Option<u64> {
        Some(self.size_bytes?.saturating_sub(self.free_bytes?))
    }

    /// Percent of the volume group given to volumes, for the bar.
    pub fn used_percent(&self) -> u64 {
        match (self.allocated_bytes(), self.size_bytes) {
            (Some(a), Some(s)) if s > 0 => a * 100 / s,
            _ => 0,
        }
    }

    pub fn human(&self, bytes: &Option<u64>) -> String {
        bytes.as_ref().map_or_else(
            || "-".into(),
            |b| human_bytes(i64::try_from(*b).unwrap_or(i64::MAX)),
        )
    }

    pub fn json(&self) -> Value {
        let p = &self.pool;
        let progress = self
            .array
            .as_ref()
            .and_then(|a| a.progress.as_ref())
            .map(|pr| {
                json!({
                    "percent": pr.percent,
                    "speed_kib_s": pr.speed_kib_s,
                    "seconds_left": pr.seconds_left,
                })
            });
        let drive = |d: &PoolDrive| {
            json!({
                "serial": d.drive.serial,
                "bay": d.bay,
                "role": d.role.map_or_else(|| d.member.role.clone(), |r| r.as_str().to_string()),
                "present": d.drive.present,
                "health": d.drive.health,
            })
        };
        json!({
            "name": p.name,
            "level": p.level,
            "state": self.state(),
            "degraded": self.degraded(),
            "progress": progress,
            "sync_action": self.array.as_ref().and_then(|a| a.sync_action).map(|s| s.as_str()),
            "write_hole": p.write_hole,
            "chunk_kib": p.chunk_kib,
            "uuid": p.uuid,
            "device": format!("/dev/md/{}", p.name),
            "members": self.drives.iter().filter(|d| d.member.role != "spare").map(drive).collect::<Vec<_>>(),
            "spares": self.drives.iter().filter(|d| d.member.role == "spare").map(drive).collect::<Vec<_>>(),
            "capacity": {
                "size_bytes": self.size_bytes,
                "allocated_bytes": self.allocated_bytes(),
                "free_bytes": self.free_bytes,
            },
            "thin_pool": p.thin_pool().map(|t| {
                let (data, meta) = (t.data_percent.unwrap_or(0.0), t.metadata_percent.unwrap_or(0.0));
                json!({
                    "size_bytes": t.size_bytes,
                    "data_percent": data,
                    "metadata_percent": meta,
                    "fullness": crate::domain::volume::ThinFullness::of(data, meta),
                })
            }),
            "last_scrub": self.last_scrub.as_ref().map(|s| json!({
                "started_at": crate::db::rfc3339(&s.started_at),
                "finished_at": s.finished_at.as_ref().map(crate::db::rfc3339),
                "repair": s.repair,
                "mismatches": s.mismatches,
                "result": s.result,
            })),
            "created_at": crate::db::rfc3339(&p.created_at),
            "observed_at": p.observed_at.as_ref().map(crate::db::rfc3339),
        })
    }
}

/// Every pool (or the one named), with its drives, as last observed: the
/// read behind the pool pages and the API (public for `baystack bench
/// pools`).
pub fn views(c: &mut Conn<'_>, only: Option<&str>) -> Result<Vec<PoolView>, AppError> {
    let mut rows = pools::list(c)?;
    if let Some(name) = only {
        rows.retain(|p| p.name == name);
    }
    let ids: Vec<i64> = rows.iter().map(|p| p.id).collect();
    let members = pools::members(c, &ids)?;
    let places: HashMap<i64, Place> = inventory::drives(c)?
        .into_iter()
        .filter_map(|(d, p)| Some((d.id, p?)))
        .collect();
    let mut scrubs = pools::last_scrubs(c)?;
    Ok(rows
        .into_iter()
        .map(|pool| {
            let array = pool.array();
            let vg = pool.volume_group();
            let drives = members
                .iter()
                .filter(|(m, _)| m.pool_id == pool.id)
                .map(|(m, d)| PoolDrive {
                    role: array.as_ref().and_then(|a| {
                        a.members
                            .iter()
                            .find(|am| Some(&am.device) == d.dev_name.as_ref())
                            .map(|am| am.role)
                    }),
                    bay: places.get(&d.id).map(Place::name),
                    member: m.clone(),
                    drive: d.clone(),
                })
                .collect();
            PoolView {
                last_scrub: scrubs.remove(&pool.id),
                size_bytes: vg.as_ref().map(|v| v.size_bytes),
                free_bytes: vg.as_ref().map(|v| v.free_bytes),
                array,
                drives,
                pool,
            }
        })
        .collect())
}

/// [`views`] on a pooled connection.
async fn load(state: &AppState, only: Option<String>) -> Result<Vec<PoolView>, AppError> {
    state
        .db
        .run(move |conn| views(&mut conn.conn(), only.as_deref()))
        .await
}

async fn load_one(state: &AppState, name: String) -> Result<PoolView, AppError> {
    load(state, Some(name.clone()))
        .await?
        .pop()
        .ok_or_else(|| AppError::NotFound(format!("there is no pool named {name:?}")))
}

/// `GET /api/v1/pools`.
pub async fn api_list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let all = load(&state, None).await?;
    Ok(HttpResponse::Ok().json(all.iter().map(PoolView::json).collect::<Vec<_>>()))
}

/// `GET /api/v1/pools/{name}`.
pub async fn api_get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let view = load_one(&state, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view.json()))
}

// ---- pages ----

#[derive(Template, WebTemplate)]
#[template(path = "pools/list.html")]
pub struct ListPage {
    pub frame: Frame,
    pub pools: Vec<PoolView>,
}

/// `GET /pools`.
pub async fn list_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
) -> Result<HttpResponse, PageError> {
    let draw = || async {
        drawn::text(&ListPage {
            frame: Frame::drawn(&state, &who, "Pools", "pools").await?,
            pools: load(&state, None).await?,
        })
    };
    Ok(state.drawn(&req, &who, draw).await?)
}

/// A drive on the create page: where it is, and why it cannot be picked.
pub struct Candidate {
    pub d: DriveRow,
    pub bay: Option<String>,
    pub size: String,
    /// Why it cannot be picked; `None` when it can.
    pub unfit: Option<String>,
    /// It can be picked once its old data may be erased.
    pub needs_wipe: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "pools/new.html")]
pub struct NewPage {
    pub frame: Frame,
    pub drives: Vec<Candidate>,
    pub default_chunk: u32,
}

/// `GET /pools/new`: the drives in bay order, each with the role it can be
/// given or why it cannot.
pub async fn new_page(state: web::Data<AppState>, who: Identity) -> Result<NewPage, PageError> {
    let (drives, memberships) = state
        .db
        .run(|conn| -> Result<_, AppError> {
            let mut c = conn.conn();
            Ok((inventory::drives(&mut c)?, pools::memberships(&mut c)?))
        })
        .await?;
    let drives = super::drives::sorted(drives, super::drives::Sort::Bay)
        .into_iter()
        .filter(|(d, _)| d.present)
        .map(|(d, place)| {
            let member_of = memberships.get(&d.id);
            let unfit_as_is = unfit(&d, member_of, false);
            let unfit_wiped = unfit(&d, member_of, true);
            Candidate {
                needs_wipe: unfit_as_is.is_some() && unfit_wiped.is_none(),
                unfit: unfit_wiped,
                bay: place.map(|p| p.name()),
                size: human_bytes(d.size_bytes),
                d,
            }
        })
        .collect();
    Ok(NewPage {
        frame: Frame::new(&state, &who, "New pool", "pools").await?,
        drives,
        default_chunk: DEFAULT_CHUNK_KIB,
    })
}

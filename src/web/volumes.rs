//! Volumes and their targets: the list, one volume's page (resize,
//! snapshots, export, delete), the targets with what a client types, and
//! the same through the API. Every change is recorded with its job in one
//! transaction; the agent's job makes it true in the kernel.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;
use serde_json::{Value, json};

use super::action::{Answer, Body, Outcome};
use super::page::Frame;
use super::{ApiError, AppState, Identity, PageError, client_address};
use crate::db::Conn;
use crate::db::pools::{self, PoolRow};
use crate::db::volumes::{self, SeenSession, SnapshotRow, TargetRow, VolumeRow};
use crate::domain::pool::LogicalVolume;
use crate::domain::target::{Chap, Portal, Secret};
use crate::domain::volume::{ThinFullness, size_words, snapshot_lv};
use crate::error::AppError;
use crate::jobs::{self, JobSpec, kinds};
use crate::naming;

// ---- input -----------------------------------------------------------

/// A size as the API takes it: bytes, or a string with a unit.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SizeInput {
    Bytes(u64),
    Text(String),
}

impl Default for SizeInput {
    fn default() -> Self {
        SizeInput::Text(String::new())
    }
}

impl SizeInput {
    fn bytes(&self) -> Result<u64, AppError> {
        match self {
            SizeInput::Bytes(0) => Err(AppError::invalid("size", "a size must be above 0")),
            SizeInput::Bytes(n) => Ok(*n),
            SizeInput::Text(t) => naming::parse_size(t).map_err(|e| AppError::invalid("size", e)),
        }
    }
}

/// `POST /api/v1/volumes`: `{"name","pool","size","thin"?}`.
#[derive(Debug, Default, Deserialize)]
pub struct CreateBody {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub pool: String,
    #[serde(default)]
    pub size: SizeInput,
    /// A form's checkbox sends "on"; the API a boolean.
    #[serde(default, deserialize_with = "super::action::flag")]
    pub thin: bool,
}

/// `POST /api/v1/volumes/{name}/resize`: `{"size"}`.
#[derive(Debug, Default, Deserialize)]
pub struct ResizeBody {
    #[serde(default)]
    pub size: SizeInput,
}

/// `POST /api/v1/volumes/{name}/snapshots`: `{"name"}`.
#[derive(Debug, Default, Deserialize)]
pub struct SnapshotBody {
    #[serde(default)]
    pub name: String,
}

/// A CHAP user and secret as sent.
#[derive(Debug, Default, Deserialize)]
pub struct ChapBody {
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub secret: String,
}

/// `POST /api/v1/volumes/{name}/export`.
#[derive(Debug, Default, Deserialize)]
pub struct ExportBody {
    #[serde(default)]
    pub initiators: Vec<String>,
    /// Any initiator may log in: asked for explicitly, never by leaving
    /// the list empty.
    #[serde(default)]
    pub open: bool,
    pub chap: Option<ChapBody>,
    pub mutual_chap: Option<ChapBody>,
}

/// The export form: initiators one per line, CHAP in four fields.
#[derive(Debug, Default, Deserialize)]
pub struct ExportForm {
    #[serde(default)]
    pub initiators: String,
    #[serde(default, deserialize_with = "super::action::flag")]
    pub open: bool,
    #[serde(default)]
    pub chap_user: String,
    #[serde(default)]
    pub chap_secret: String,
    #[serde(default)]
    pub mutual_user: String,
    #[serde(default)]
    pub mutual_secret: String,
}

impl ExportForm {
    fn body(self) -> ExportBody {
        let chap = |user: String, secret: String| {
            (!user.trim().is_empty() || !secret.is_empty()).then(|| ChapBody {
                user: user.trim().into(),
                secret,
            })
        };
        ExportBody {
            initiators: self
                .initiators
                .split(['\n', ',', ' '])
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            open: self.open,
            chap: chap(self.chap_user, self.chap_secret),
            mutual_chap: chap(self.mutual_user, self.mutual_secret),
        }
    }
}

/// An export's body: JSON on the API, the target page's form on a page.
pub struct ExportInput(pub ExportBody);

impl actix_web::FromRequest for ExportInput {
    type Error = actix_web::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        if super::is_api_path(req.path()) {
            let json = web::Json::<ExportBody>::from_request(req, payload);
            Box::pin(async move { Ok(ExportInput(json.await?.into_inner())) })
        } else {
            let form = web::Form::<ExportForm>::from_request(req, payload);
            Box::pin(async move { Ok(ExportInput(form.await?.into_inner().body())) })
        }
    }
}

/// Deleting an exported volume: its name typed again.
#[derive(Debug, Default, Deserialize)]
pub struct ConfirmBody {
    #[serde(default)]
    pub confirm: String,
}

/// A CHAP user and secret, checked. With an empty secret and the user it
/// had, a target keeps its secret (`kept`): a form never shows it.
fn chap_of(
    field: &'static str,
    c: &Option<ChapBody>,
    kept: Option<Chap>,
) -> Result<Option<Chap>, AppError> {
    let Some(c) = c else { return Ok(None) };
    if c.secret.is_empty()
        && let Some(k) = kept.filter(|k| k.user == c.user)
    {
        return Ok(Some(k));
    }
    naming::validate_chap_user(&c.user).map_err(|e| AppError::invalid(field, e))?;
    naming::validate_chap_secret(&c.secret).map_err(|e| AppError::invalid(field, e))?;
    Ok(Some(Chap {
        user: c.user.clone(),
        secret: Secret::new(c.secret.clone()),
    }))
}

/// An export's initiators (none: open access), CHAP and mutual CHAP.
type Access = (Vec<String>, Option<Chap>, Option<Chap>);

/// The initiators and CHAP of an export, checked; refused in words.
/// `kept`: the target's CHAP now, when it is changed.
fn check_export(b: &ExportBody, kept: (Option<Chap>, Option<Chap>)) -> Result<Access, AppError> {
    let mut initiators = Vec::new();
    for i in &b.initiators {
        naming::validate_iscsi_name(i).map_err(|e| AppError::invalid("initiators", e))?;
        if !initiators.contains(i) {
            initiators.push(i.clone());
        }
    }
    match (initiators.is_empty(), b.open) {
        (true, false) => {
            return Err(AppError::invalid(
                "initiators",
                "name at least one initiator allowed to log in, or ask for open access \
                 (any initiator that finds the target) explicitly",
            ));
        }
        (false, true) => {
            return Err(AppError::invalid(
                "initiators",
                "open access lets any initiator in: name initiators, or ask for open access, not both",
            ));
        }
        _ => {}
    }
    let chap = chap_of("chap", &b.chap, kept.0)?;
    let mutual = chap_of("mutual_chap", &b.mutual_chap, kept.1)?;
    if mutual.is_some() && chap.is_none() {
        return Err(AppError::invalid(
            "mutual_chap",
            "mutual CHAP needs CHAP too: the initiator proves itself first",
        ));
    }
    if let (Some(c), Some(m)) = (&chap, &mutual)
        && c.secret == m.secret
    {
        return Err(AppError::invalid(
            "mutual_chap",
            "the mutual CHAP secret must differ from the CHAP secret (initiators refuse the same one)",
        ));
    }
    Ok((initiators, chap, mutual))
}

// ---- reading -----------------------------------------------------------

/// One volume as pages and the API show it.
pub struct VolumeView {
    pub v: VolumeRow,
    pub pool: String,
    pub lv: Option<LogicalVolume>,
    pub snapshots: Vec<SnapshotRow>,
    pub target: Option<TargetView>,
}

/// A volume's target, without its secrets.
pub struct TargetView {
    pub iqn: String,
    pub alias: String,
    pub portals: Vec<Portal>,
    pub open: bool,
    pub initiators: Vec<String>,
    pub chap_user: Option<String>,
    pub mutual_user: Option<String>,
    pub lifecycle: String,
    pub sessions: Vec<SeenSession>,
    /// The device its backstore is on: the volume's front device, or for a
    /// target adopted on its logical volume, that.
    pub device: String,
}

impl TargetView {
    fn of(t: &TargetRow, initiators: Vec<String>) -> Self {
        TargetView {
            iqn: t.iqn.clone(),
            alias: t.alias.clone(),
            portals: t.portals(),
            open: t.open_access,
            initiators,
            chap_user: t.chap_user.clone(),
            mutual_user: t.mutual_user.clone(),
            lifecycle: t.lifecycle.clone(),
            sessions: t.sessions(),
            device: t.device.clone(),
        }
    }
}

impl VolumeView {
    pub fn size(&self) -> String {
        size_words(u64::try_from(self.v.size_bytes).unwrap_or(0))
    }

    pub fn kind(&self) -> &'static str {
        if self.v.thin { "thin" } else { "thick" }
    }

    /// How much of a thin volume is written, in words.
    pub fn used(&self) -> String {
        match self.lv.as_ref().and_then(|l| l.data_percent) {
            Some(p) if self.v.thin => format!("{p:.1}% written"),
            _ if self.v.thin => "not seen yet".into(),
            _ => "allocated".into(),
        }
    }

    pub fn state(&self) -> String {
        if self.v.lifecycle != "ready" {
            return self.v.lifecycle.clone();
        }
        match (&self.lv, &self.target) {
            (None, _) => "not seen".into(),
            (Some(_), Some(t)) if t.lifecycle == "exported" => "exported".into(),
            (Some(_), Some(t)) => t.lifecycle.clone(),
            (Some(_), None) => "ready".into(),
        }
    }

    /// The device the volume is exported from: its front device, or the
    /// logical volume an adopted target is on.
    pub fn device(&self) -> String {
        self.target
            .as_ref()
            .map_or_else(|| volumes::front_path(&self.v.name), |t| t.device.clone())
    }

    /// Whether an adopted target has the logical volume itself, so there is
    /// no front device.
    pub fn on_its_lv(&self) -> bool {
        self.device() != volumes::front_path(&self.v.name)
    }

    pub fn json(&self) -> Value {
        json!({
            "name": self.v.name,
            "pool": self.pool,
            "size": self.v.size_bytes,
            "thin": self.v.thin,
            "state": self.state(),
            "lifecycle": self.v.lifecycle,
            "serial": self.v.serial,
            "wwn": self.v.wwn,
            "device": self.device(),
            "logical_volume": self.lv,
            "snapshots": self.snapshots,
            "target": self.target.as_ref().map(|t| t.iqn.clone()),
            "created_by": self.v.created_by,
        })
    }

    fn target_json(&self) -> Option<Value> {
        let t = self.target.as_ref()?;
        Some(json!({
            "iqn": t.iqn,
            "alias": t.alias,
            "volume": self.v.name,
            "lun": crate::domain::target::LUN,
            "serial": self.v.serial,
            "wwn": self.v.wwn,
            "portals": t.portals.iter().map(Portal::np_name).collect::<Vec<_>>(),
            "initiators": t.initiators,
            "open": t.open,
            "chap_user": t.chap_user,
            "mutual_chap_user": t.mutual_user,
            "state": t.lifecycle,
            "sessions": t.sessions,
        }))
    }

    /// Snapshot `name`'s age, in words.
    pub fn age(&self, s: &SnapshotRow) -> String {
        let secs = (crate::db::now() - s.created_at).num_seconds().max(0);
        match secs {
            0..=119 => format!("{secs} s"),
            120..=7199 => format!("{} min", secs / 60),
            7200..=172_799 => format!("{} h", secs / 3600),
            _ => format!("{} days", secs / 86_400),
        }
    }
}

fn views(c: &mut Conn<'_>, only: Option<&str>) -> Result<Vec<VolumeView>, AppError> {
    let pools = pools::list(c)?;
    let mut out = Vec::new();
    for v in volumes::list(c)? {
        if only.is_some_and(|n| n != v.name) {
            continue;
        }
        let pool = pools
            .iter()
            .find(|p| p.id == v.pool_id)
            .map(|p| p.name.clone())
            .unwrap_or_default();
        let target = match volumes::target_of(c, v.id)? {
            Some(t) => Some(TargetView::of(&t, volumes::initiators_of(c, v.id)?)),
            None => None,
        };
        out.push(VolumeView {
            lv: v.logical_volume(),
            snapshots: volumes::snapshots_of(c, v.id)?,
            pool,
            target,
            v,
        });
    }
    Ok(out)
}

async fn load(state: &AppState, only: Option<String>) -> Result<Vec<VolumeView>, AppError> {
    state
        .db
        .run(move |conn| views(&mut conn.conn(), only.as_deref()))
        .await
}

async fn load_one(state: &AppState, name: String) -> Result<VolumeView, AppError> {
    load(state, Some(name.clone()))
        .await?
        .pop()
        .ok_or_else(|| AppError::NotFound(format!("there is no volume named {name:?}")))
}

/// Records what `f` records and enqueues the job it returns, in one
/// transaction; wakes the runner.
async fn record_and_enqueue(
    state: &AppState,
    who: &Identity,
    req: &HttpRequest,
    f: impl FnOnce(&mut Conn<'_>) -> Result<JobSpec, AppError> + Send + 'static,
) -> Result<i64, AppError> {
    let (user, address) = (who.username.clone(), client_address(req));
    let id = state
        .db
        .run(move |conn| {
            conn.write(|c| -> Result<i64, AppError> {
                let spec = f(c)?;
                Ok(jobs::enqueue_audited(
                    c,
                    &spec,
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

fn unique(e: diesel::result::Error, what: String) -> AppError {
    if crate::error::is_unique_violation(&e) {
        AppError::Conflict(format!("{what} at the same moment; nothing was changed"))
    } else {
        e.into()
    }
}

/// A ready volume named `name`, or why not.
fn ready_volume(c: &mut Conn<'_>, name: &str) -> Result<(VolumeRow, PoolRow), AppError> {
    let v = volumes::by_name(c, name)?
        .ok_or_else(|| AppError::NotFound(format!("there is no volume named {name:?}")))?;
    if v.lifecycle != "ready" {
        return Err(AppError::Conflict(format!(
            "volume {name} is {}; wait until its job ends",
            v.lifecycle
        )));
    }
    let p = pools::list(c)?
        .into_iter()
        .find(|p| p.id == v.pool_id)
        .ok_or_else(|| AppError::Conflict(format!("volume {name}'s pool is gone")))?;
    Ok((v, p))
}

// ---- actions -----------------------------------------------------------

/// What replication forbids of a volume: a replica (until a failover
/// promotes it) is not exported, grown or rolled back by hand, and a
/// replicated volume is not deleted until its replication is switched off.
fn replication_allows(c: &mut Conn<'_>, name: &str, action: &str) -> Result<(), AppError> {
    use crate::domain::replica::{Role, State};
    let Some(r) = crate::db::replication::get(c, name)? else {
        return Ok(());
    };
    let replica = r.role() == Role::Replica && r.stored_state() != State::Promoted;
    if action == "delete" {
        return Err(AppError::Conflict(format!(
            "volume {name} is replicated ({} of {}): switch its replication off first{}",
            r.role,
            r.peer,
            if replica {
                format!(", on {}", r.peer)
            } else {
                String::new()
            }
        )));
    }
    if replica {
        return Err(AppError::Conflict(format!(
            "volume {name} is {}'s replica: it is not {action} while it is one (it follows its \
             source; a failover makes it a volume of its own)",
            r.peer
        )));
    }
    Ok(())
}

/// A thin pool's size and fullness in words, with the warning above 80%
/// and 90% of its data or metadata.
pub fn thin_words(t: &LogicalVolume) -> String {
    let (data, meta) = (
        t.data_percent.unwrap_or(0.0),
        t.metadata_percent.unwrap_or(0.0),
    );
    format!(
        "thin pool {}, {data:.1}% of its data and {meta:.1}% of its metadata used{}",
        size_words(t.size_bytes),
        match ThinFullness::of(data, meta) {
            ThinFullness::Fine => "",
            ThinFullness::Warning => " (warning: above 80%; grow the pool or free space)",
            ThinFullness::Critical => {
                " (critical: above 90%; thin volumes' writes fail when it is full)"
            }
        }
    )
}

async fn create(state: &AppState, who: &Identity, req: &HttpRequest, b: CreateBody) -> Answer {
    let name = b.name.trim().to_string();
    let checked = naming::validate_volume_name("volume", &name)
        .map_err(|e| AppError::invalid("name", e))
        .and_then(|_| b.size.bytes());
    let size = match checked {
        Ok(s) => s,
        Err(e) => return Answer(Err(e)),
    };
    let (pool, thin, user) = (b.pool.trim().to_string(), b.thin, who.username.clone());
    record_and_enqueue(state, who, req, move |c| {
        kinds::record_volume(c, &name, &pool, size, thin, &user, None)
    })
    .await
    .map(Outcome::job)
    .into()
}

/// `POST /api/v1/volumes` and `POST /volumes`.
pub async fn create_volume(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    Body(body): Body<CreateBody>,
) -> Answer {
    create(&state, &who, &req, body).await
}

/// `POST /api/v1/volumes/{name}/resize`: grows it online.
pub async fn resize(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<String>,
    Body(body): Body<ResizeBody>,
) -> Answer {
    let name = path.into_inner();
    let size = match body.size.bytes() {
        Ok(s) => s,
        Err(e) => return Answer(Err(e)),
    };
    record_and_enqueue(&state, &who, &req, move |c| {
        let (v, p) = ready_volume(c, &name)?;
        replication_allows(c, &name, "grown")?;
        let now = u64::try_from(v.size_bytes).unwrap_or(0);
        if size <= now {
            return Err(AppError::invalid(
                "size",
                format!(
                    "volume {name} is {}; a volume only grows (ask for more than that)",
                    size_words(now)
                ),
            ));
        }
        let room = if v.thin {
            kinds::room_for(&p, true)
        } else {
            now + kinds::room_for(&p, false)
        };
        if size > room {
            return Err(AppError::invalid(
                "size",
                format!(
                    "{} is more than pool {} has room for ({})",
                    size_words(size),
                    p.name,
                    size_words(room)
                ),
            ));
        }
        Ok(kinds::resize_volume(&p.name, &name, size))
    })
    .await
    .map(Outcome::job)
    .into()
}

/// `DELETE /api/v1/volumes/{name}` and `POST /volumes/{name}/delete`. An
/// exported volume needs its name typed again: `confirm`, in the JSON
/// body, the query string (`?confirm=<name>`) or the form.
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<String>,
    query: web::Query<ConfirmBody>,
    body: web::Bytes,
) -> Answer {
    let name = path.into_inner();
    let sent: Result<ConfirmBody, String> = if body.iter().all(u8::is_ascii_whitespace) {
        Ok(query.into_inner())
    } else if super::is_api_path(req.path()) {
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    } else {
        serde_urlencoded::from_bytes(&body).map_err(|e| e.to_string())
    };
    let confirm = match sent {
        Ok(b) => b.confirm,
        Err(e) => {
            return Answer(Err(AppError::BadRequest(format!(
                "the body could not be read: {e}"
            ))));
        }
    };
    record_and_enqueue(&state, &who, &req, move |c| {
        let (v, p) = ready_volume(c, &name)?;
        replication_allows(c, &name, "delete")?;
        let target = volumes::target_of(c, v.id)?;
        if target.is_some() && confirm.trim() != name {
            return Err(AppError::invalid(
                "confirm",
                format!(
                    "volume {name} is exported: initiators using it lose it. Type its name to \
                     delete it anyway"
                ),
            ));
        }
        let snapshots = volumes::snapshots_of(c, v.id)?
            .iter()
            .map(|s| snapshot_lv(&name, &s.name))
            .collect();
        volumes::set_lifecycle(c, &name, "deleting")?;
        Ok(kinds::delete_volume(kinds::VolumeDeletePayload {
            pool: p.name,
            name: name.clone(),
            lv: v.lv,
            unexport: target.map(|t| (t.iqn, t.backstore)),
            snapshots,
        }))
    })
    .await
    .map(|id| Outcome::job(id).then("/volumes"))
    .into()
}

/// `POST /api/v1/volumes/{name}/snapshots`.
pub async fn create_snapshot(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<String>,
    Body(body): Body<SnapshotBody>,
) -> Answer {
    let name = path.into_inner();
    let snap = body.name.trim().to_string();
    if let Err(e) = naming::validate_volume_name("snapshot", &snap) {
        return Answer(Err(AppError::invalid("name", e)));
    }
    let user = who.username.clone();
    record_and_enqueue(&state, &who, &req, move |c| {
        let (v, p) = ready_volume(c, &name)?;
        if !v.thin {
            return Err(AppError::Conflict(format!(
                "volume {name} is thick; snapshots are of thin volumes"
            )));
        }
        if volumes::snapshots_of(c, v.id)?
            .iter()
            .any(|s| s.name == snap)
        {
            return Err(AppError::invalid(
                "name",
                format!("volume {name} already has a snapshot {snap}"),
            ));
        }
        volumes::insert_snapshot(c, v.id, &snap, &user, crate::db::now())
            .map_err(|e| unique(e, format!("a snapshot {snap} was made")))?;
        Ok(kinds::snapshot(&p.name, &name, &snap))
    })
    .await
    .map(Outcome::job)
    .into()
}

/// A ready snapshot `snap` of a ready volume, or why not.
fn ready_snapshot(
    c: &mut Conn<'_>,
    name: &str,
    snap: &str,
) -> Result<(VolumeRow, PoolRow), AppError> {
    let (v, p) = ready_volume(c, name)?;
    match volumes::snapshots_of(c, v.id)?
        .into_iter()
        .find(|s| s.name == snap)
    {
        Some(s) if s.lifecycle == "ready" => Ok((v, p)),
        Some(s) => Err(AppError::Conflict(format!(
            "snapshot {snap} is {}; wait until its job ends",
            s.lifecycle
        ))),
        None => Err(AppError::NotFound(format!(
            "volume {name} has no snapshot {snap:?}"
        ))),
    }
}

/// `DELETE /api/v1/volumes/{name}/snapshots/{snap}`.
pub async fn delete_snapshot(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<(String, String)>,
) -> Answer {
    let (name, snap) = path.into_inner();
    record_and_enqueue(&state, &who, &req, move |c| {
        let (v, p) = ready_snapshot(c, &name, &snap)?;
        volumes::set_snapshot_lifecycle(c, v.id, &snap, "deleting")?;
        Ok(kinds::delete_snapshot(&p.name, &name, &snap))
    })
    .await
    .map(Outcome::job)
    .into()
}

/// `POST /api/v1/volumes/{name}/snapshots/{snap}/rollback`.
pub async fn rollback(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<(String, String)>,
) -> Answer {
    let (name, snap) = path.into_inner();
    record_and_enqueue(&state, &who, &req, move |c| {
        let (v, p) = ready_snapshot(c, &name, &snap)?;
        replication_allows(c, &name, "rolled back")?;
        if volumes::target_of(c, v.id)?.is_some() {
            return Err(AppError::Conflict(format!(
                "volume {name} is exported; unexport it before rolling it back (its initiators \
                 would see its contents change under them)"
            )));
        }
        Ok(kinds::rollback(&p.name, &name, &snap))
    })
    .await
    .map(Outcome::job)
    .into()
}

/// `POST /api/v1/volumes/{name}/export` and `POST /volumes/{name}/export`;
/// the form comes back to the target page.
pub async fn export(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<String>,
    ExportInput(body): ExportInput,
) -> Answer {
    let name = path.into_inner();
    let back = format!("/targets/{name}");
    let (initiators, chap, mutual) = match check_export(&body, (None, None)) {
        Ok(x) => x,
        Err(e) => return Answer(Err(e)),
    };
    let user = who.username.clone();
    record_and_enqueue(&state, &who, &req, move |c| {
        let (v, p) = ready_volume(c, &name)?;
        replication_allows(c, &name, "exported")?;
        if volumes::target_of(c, v.id)?.is_some() {
            return Err(AppError::Conflict(format!(
                "volume {name} is already exported"
            )));
        }
        let a = crate::db::appliance::get(c)?
            .ok_or_else(|| AppError::Conflict("the appliance is not set up yet".into()))?;
        let iqn = naming::target_iqn(&a.iqn_domain, &a.iqn_date, &a.hostname, &name);
        naming::validate_iscsi_name(&iqn).map_err(|e| {
            AppError::invalid("name", format!("the target's name {iqn} is not valid: {e}"))
        })?;
        if volumes::iqn_taken(c, &iqn)? {
            return Err(AppError::Conflict(format!(
                "another target is already named {iqn}"
            )));
        }
        let device = volumes::front_path(&name);
        let record = volumes::NewTarget {
            volume_id: v.id,
            iqn: &iqn,
            alias: &name,
            backstore: &name,
            device: &device,
            portals: &[Portal::all()],
            initiators: &initiators,
            chap: chap.as_ref(),
            mutual_chap: mutual.as_ref(),
            created_by: &user,
        };
        volumes::insert_target(c, &record, crate::db::now())
            .map_err(|e| unique(e, format!("target {iqn} was made")))?;
        Ok(kinds::export(&p.name, &name, &iqn))
    })
    .await
    .map(|id| Outcome::job(id).then(back))
    .into()
}

/// `PUT /api/v1/volumes/{name}/export` and `POST /volumes/{name}/access`:
/// the export's body again; who may log in and CHAP changed on the live
/// target. A CHAP secret left empty with the same user keeps the secret it
/// had.
pub async fn change_access(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<String>,
    ExportInput(body): ExportInput,
) -> Answer {
    let name = path.into_inner();
    let back = format!("/targets/{name}");
    record_and_enqueue(&state, &who, &req, move |c| {
        let (v, p) = ready_volume(c, &name)?;
        let t = volumes::target_of(c, v.id)?
            .ok_or_else(|| AppError::Conflict(format!("volume {name} is not exported")))?;
        let (initiators, chap, mutual) = check_export(&body, t.chaps())?;
        volumes::set_access(c, v.id, &initiators, chap.as_ref(), mutual.as_ref())?;
        Ok(kinds::change_access(&p.name, &name, &t.iqn))
    })
    .await
    .map(|id| Outcome::job(id).then(back))
    .into()
}

/// `DELETE /api/v1/volumes/{name}/export` and `POST /volumes/{name}/unexport`.
pub async fn unexport(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<String>,
) -> Answer {
    let name = path.into_inner();
    record_and_enqueue(&state, &who, &req, move |c| {
        let (v, _) = ready_volume(c, &name)?;
        let t = volumes::target_of(c, v.id)?
            .ok_or_else(|| AppError::Conflict(format!("volume {name} is not exported")))?;
        volumes::set_target_lifecycle(c, v.id, "unexporting")?;
        Ok(kinds::unexport(&name, &t.iqn, &t.backstore))
    })
    .await
    .map(Outcome::job)
    .into()
}

/// `POST /api/v1/targets/adopt`: `{"iqn"}`.
#[derive(Debug, Default, Deserialize)]
pub struct AdoptBody {
    #[serde(default)]
    pub iqn: String,
}

/// `POST /api/v1/targets/adopt` and `POST /targets/adopt`: a target made
/// by hand (targetcli) taken into the database as a volume and its
/// target, nothing in the kernel changed.
pub async fn adopt(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    Body(body): Body<AdoptBody>,
) -> Answer {
    let iqn = body.iqn.trim().to_string();
    if let Err(e) = naming::validate_iscsi_name(&iqn) {
        return Answer(Err(AppError::invalid("iqn", e)));
    }
    record_and_enqueue(&state, &who, &req, move |c| {
        if volumes::iqn_taken(c, &iqn)? {
            return Err(AppError::Conflict(format!(
                "target {iqn} is already Baystack's"
            )));
        }
        Ok(kinds::adopt(&iqn))
    })
    .await
    .map(|id| Outcome::job(id).then("/targets"))
    .into()
}

/// `POST /api/v1/reconcile` and `POST /targets/reconcile`.
pub async fn reconcile(req: HttpRequest, state: web::Data<AppState>, who: Identity) -> Answer {
    record_and_enqueue(&state, &who, &req, |c| {
        kinds::reconcile_recorded(c)?.ok_or_else(|| {
            AppError::Conflict("there is no volume yet; there is nothing to reconcile".into())
        })
    })
    .await
    .map(Outcome::job)
    .into()
}

// ---- API reads ---------------------------------------------------------

/// `GET /api/v1/volumes`.
pub async fn api_list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let all = load(&state, None).await?;
    Ok(HttpResponse::Ok().json(all.iter().map(VolumeView::json).collect::<Vec<_>>()))
}

/// `GET /api/v1/volumes/{name}`.
pub async fn api_get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let v = load_one(&state, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(v.json()))
}

/// `GET /api/v1/volumes/{name}/snapshots`.
pub async fn api_snapshots(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let v = load_one(&state, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(&v.snapshots))
}

/// `GET /api/v1/targets`: each target, never a secret.
pub async fn api_targets(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let all = load(&state, None).await?;
    Ok(HttpResponse::Ok().json(
        all.iter()
            .filter_map(VolumeView::target_json)
            .collect::<Vec<_>>(),
    ))
}

// ---- pages -------------------------------------------------------------

#[derive(Template, WebTemplate)]
#[template(path = "volumes/list.html")]
pub struct ListPage {
    pub frame: Frame,
    pub volumes: Vec<VolumeView>,
    pub pools: Vec<PoolChoice>,
}

/// A pool a volume can be made in, with its room.
pub struct PoolChoice {
    pub name: String,
    pub free: String,
    pub thin: Option<String>,
}

/// `GET /volumes`: the volumes, and the form for a new one.
pub async fn list_page(state: web::Data<AppState>, who: Identity) -> Result<ListPage, PageError> {
    let pools = state
        .db
        .run(|conn| -> Result<Vec<PoolChoice>, AppError> {
            let c = &mut conn.conn();
            let mut out = Vec::new();
            for p in pools::list(c)?
                .into_iter()
                .filter(|p| p.lifecycle == "ready")
            {
                let thin = p.thin_pool().as_ref().map(thin_words);
                out.push(PoolChoice {
                    free: size_words(p.volume_group().map_or(0, |g| g.free_bytes)),
                    name: p.name,
                    thin,
                });
            }
            Ok(out)
        })
        .await?;
    Ok(ListPage {
        frame: Frame::new(&state, &who, "Volumes", "volumes").await?,
        volumes: load(&state, None).await?,
        pools,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "volumes/page.html")]
pub struct VolumePage {
    pub frame: Frame,
    pub v: VolumeView,
    /// Its replication, if it has one, with its newest transfers.
    pub replication: Option<super::replication::Replication>,
    pub transfers: Vec<crate::db::replication::TransferRow>,
    /// The peers it could be replicated to.
    pub peers: Vec<String>,
}

impl VolumePage {
    pub fn bytes(&self, n: &i64) -> String {
        size_words(u64::try_from(*n).unwrap_or(0))
    }

    pub fn rate(&self, n: &i64) -> String {
        crate::domain::replica::rate_words(u64::try_from(*n).unwrap_or(0))
    }

    pub fn state_words(&self, state: &str) -> &'static str {
        crate::domain::replica::State::parse(state).map_or("unknown", |s| s.words())
    }
}

/// `GET /volumes/{name}`.
pub async fn volume_page(
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<String>,
) -> Result<VolumePage, PageError> {
    let v = load_one(&state, path.into_inner()).await?;
    let name = v.v.name.clone();
    let (replication, transfers, peers) = state
        .db
        .run(move |conn| -> Result<_, AppError> {
            let c = &mut conn.conn();
            let r = crate::db::replication::get(c, &name)?;
            let transfers = match &r {
                Some(_) => crate::db::replication::transfers(c, &name, 10)?,
                None => Vec::new(),
            };
            let peers = crate::db::peers::peers(c)?
                .into_iter()
                .map(|p| p.name)
                .collect();
            Ok((
                r.map(|r| super::replication::Replication::of(&r, crate::db::now())),
                transfers,
                peers,
            ))
        })
        .await?;
    Ok(VolumePage {
        frame: Frame::new(&state, &who, &format!("Volume {}", v.v.name), "volumes").await?,
        v,
        replication,
        transfers,
        peers,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "volumes/targets.html")]
pub struct TargetsPage {
    pub frame: Frame,
    pub volumes: Vec<VolumeView>,
    pub foreign: Vec<String>,
    /// iSCSI targets in LIO that are not Baystack's: they can be adopted.
    pub adoptable: Vec<String>,
    pub seen_at: Option<String>,
}

/// `GET /targets`: every target, and what is in LIO that Baystack did not
/// make.
pub async fn targets_page(
    state: web::Data<AppState>,
    who: Identity,
) -> Result<TargetsPage, PageError> {
    let frame = Frame::new(&state, &who, "Targets", "targets").await?;
    let tz = frame.timezone;
    let (foreign, adoptable, seen_at) = state
        .db
        .run(move |conn| -> Result<_, AppError> {
            let c = &mut conn.conn();
            let targets = volumes::all_targets(c)?;
            Ok(match volumes::lio(c)? {
                Some((lio, at)) => (
                    volumes::foreign(&lio, &targets),
                    lio.targets
                        .iter()
                        .filter(|l| !targets.iter().any(|t| t.iqn == l.iqn))
                        .map(|l| l.iqn.clone())
                        .collect(),
                    Some(super::page::format_time(&at, tz)),
                ),
                None => (Vec::new(), Vec::new(), None),
            })
        })
        .await?;
    Ok(TargetsPage {
        frame,
        volumes: load(&state, None)
            .await?
            .into_iter()
            .filter(|v| v.target.is_some())
            .collect(),
        foreign,
        adoptable,
        seen_at,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "volumes/target.html")]
pub struct TargetPage {
    pub frame: Frame,
    pub v: VolumeView,
    /// The addresses a client can reach the appliance at, for the commands.
    pub address: String,
}

impl TargetPage {
    pub fn t(&self) -> Option<&TargetView> {
        self.v.target.as_ref()
    }
}

/// `GET /targets/{name}`: what a client needs to connect to volume
/// `name`'s target, or the form to export it.
pub async fn target_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<String>,
) -> Result<TargetPage, PageError> {
    let v = load_one(&state, path.into_inner()).await?;
    let host = req.connection_info().host().to_string();
    // The Host header, without its port: what the browser reached the
    // console at is what a client on the same network reaches port 3260 at.
    let address = match host.rsplit_once(':') {
        Some((h, p))
            if !p.is_empty()
                && p.chars().all(|c| c.is_ascii_digit())
                && (h.ends_with(']') || !h.contains(':')) =>
        {
            h.to_string()
        }
        _ => host,
    };
    Ok(TargetPage {
        frame: Frame::new(&state, &who, &format!("Target of {}", v.v.name), "targets").await?,
        v,
        address,
    })
}

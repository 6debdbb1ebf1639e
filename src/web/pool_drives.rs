//! One pool's page, with what its drives need next, and the changes made
//! from it and the API: hot spares added and taken out, the guided
//! replacement of a failed or failing drive, growth by more members,
//! deleting the pool, and re-qualifying a drive taken out of it. Each request is checked against
//! the pool as last observed and answered with its job; the job checks
//! again against the system itself.

use std::collections::HashMap;

use actix_web::{HttpRequest, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::action::{Answer, Body, Outcome};
use super::page::{Frame, human_bytes};
use super::pools::{PoolDrive, PoolView, views};
use super::{AppState, Identity, PageError, client_address};
use crate::db::Conn;
use crate::db::inventory::{self, DriveRow, Place};
use crate::db::pools::{self, RemovalRow, ScrubRow};
use crate::domain::health::Health;
use crate::domain::pool::{DriveRef, MemberRole, RaidLevel};
use crate::error::AppError;
use crate::jobs::JobSpec;
use crate::jobs::kinds::{self, PoolDrivePayload, PoolReplacePayload, ReplaceMode};

/// What a pool's drive changes are checked against.
pub struct Scene {
    pub view: PoolView,
    pub drives: Vec<(DriveRow, Option<Place>)>,
    pub memberships: HashMap<i64, (String, String)>,
    pub removals: Vec<RemovalRow>,
    /// Members to replace rather than heal again, with why
    /// ([`crate::db::heals::verdict`]).
    pub worn: HashMap<i64, String>,
}

impl Scene {
    pub async fn load(state: &AppState, name: String) -> Result<Scene, AppError> {
        state
            .db
            .run(move |conn| Scene::read(&mut conn.conn(), &name))
            .await
    }

    /// The pool named, with every drive and its open removals.
    pub fn read(c: &mut Conn<'_>, name: &str) -> Result<Scene, AppError> {
        let view = views(c, Some(name))?
            .pop()
            .ok_or_else(|| AppError::NotFound(format!("there is no pool named {name:?}")))?;
        let mut worn = HashMap::new();
        for d in &view.drives {
            let heals = crate::db::heals::of_drive(c, d.drive.id)?;
            if let Some(why) = crate::db::heals::verdict(&heals) {
                worn.insert(d.drive.id, why);
            }
        }
        Ok(Scene {
            worn,
            drives: inventory::drives(c)?,
            memberships: pools::memberships(c)?,
            removals: pools::open_removals(c, &[view.pool.id])?,
            view,
        })
    }

    fn name(&self) -> &str {
        &self.view.pool.name
    }

    /// Refuses a change to a pool that is being made or deleted.
    fn ready(&self) -> Result<(), AppError> {
        match self.view.pool.lifecycle.as_str() {
            "ready" => Ok(()),
            other => Err(AppError::Conflict(format!(
                "pool {} is {other}; its drives change once that is done",
                self.name()
            ))),
        }
    }

    /// The smallest member's size: a drive that takes a member's place is
    /// at least as big.
    fn smallest_member(&self) -> i64 {
        self.view
            .drives
            .iter()
            .filter(|d| d.member.role == "member")
            .map(|d| d.drive.size_bytes)
            .min()
            .unwrap_or(0)
    }

    /// A drive of this pool by serial (recorded as a member, spare or
    /// journal), or one taken out of it whose flow is still open.
    fn own(&self, serial: &str) -> Option<&DriveRow> {
        self.view
            .drives
            .iter()
            .map(|d| &d.drive)
            .find(|d| d.serial == serial)
            .or_else(|| {
                self.drives
                    .iter()
                    .map(|(d, _)| d)
                    .find(|d| d.serial == serial && self.removal_of(d.id).is_some())
            })
    }

    fn removal_of(&self, drive_id: i64) -> Option<&RemovalRow> {
        self.removals.iter().find(|r| r.drive_id == drive_id)
    }

    /// The open removal whose bay this drive sits in now.
    fn removal_in_bay_of(&self, drive_id: i64) -> Option<&RemovalRow> {
        let (_, place) = self.drives.iter().find(|(d, _)| d.id == drive_id)?;
        let bay = &place.as_ref()?.bay;
        self.removals.iter().find(|r| {
            r.drive_id != drive_id
                && r.enclosure.as_deref() == Some(bay.enclosure.as_str())
                && r.slot == i32::try_from(bay.slot).ok()
        })
    }

    /// A free drive that can join this pool now, as `field` names it: in
    /// the appliance, healthy, blank, in no pool, as big as the smallest
    /// member.
    fn joining(&self, serial: &str, field: &'static str) -> Result<(DriveRef, i64), AppError> {
        let serial = serial.trim();
        if serial.is_empty() {
            return Err(AppError::invalid(field, "name a drive by its serial"));
        }
        let (d, _) = self
            .drives
            .iter()
            .find(|(d, _)| d.serial == serial)
            .ok_or_else(|| {
                AppError::invalid(
                    field,
                    format!("there is no drive with the serial {serial:?}"),
                )
            })?;
        if let Some(why) = super::pools::unfit(d, self.memberships.get(&d.id), false) {
            return Err(AppError::invalid(
                field,
                format!("the drive {serial} cannot join pool {}: {why}", self.name()),
            ));
        }
        let smallest = self.smallest_member();
        if d.size_bytes < smallest {
            return Err(AppError::invalid(
                field,
                format!(
                    "the drive {serial} ({}) is smaller than the pool's smallest member ({}), so \
                     it could not take a member's place",
                    human_bytes(d.size_bytes),
                    human_bytes(smallest)
                ),
            ));
        }
        Ok((d.drive_ref(), d.id))
    }

    /// md's role for one of the pool's drives now; `None` where the array
    /// does not list it (pulled, or taken out).
    fn md_role(&self, d: &DriveRow) -> Option<MemberRole> {
        let dev = d.dev_name.as_deref()?;
        self.view.array.as_ref()?.member(dev).map(|m| m.role)
    }
}

/// Checks a change against the pool named (`plan`) and answers with its
/// job, or with why not.
async fn act(
    state: &AppState,
    who: &Identity,
    req: &HttpRequest,
    name: String,
    plan: impl FnOnce(&Scene) -> Result<JobSpec, AppError>,
) -> Answer {
    let planned = Scene::load(state, name).await.and_then(|s| plan(&s));
    enqueue(state, who, req, planned).await
}

async fn enqueue(
    state: &AppState,
    who: &Identity,
    req: &HttpRequest,
    planned: Result<JobSpec, AppError>,
) -> Answer {
    match planned {
        Ok(spec) => super::jobs::enqueue(state, who, &client_address(req), spec, None)
            .await
            .map(Outcome::job)
            .into(),
        Err(e) => Answer(Err(e)),
    }
}

// ---- the pool's page ----

#[derive(Template, WebTemplate)]
#[template(path = "pools/page.html")]
pub struct PoolPage {
    pub frame: Frame,
    pub p: PoolView,
    /// Its scrubs, newest first.
    pub scrubs: Vec<ScrubRow>,
    /// What its drives need next.
    pub flow: Flow,
    /// The volumes in it.
    pub volumes: Vec<crate::db::volumes::VolumeRow>,
}

impl PoolPage {
    /// Its thin pool's size and fullness, warned about above 80% and 90%.
    pub fn thin(&self) -> Option<(String, bool)> {
        let t = self.p.pool.thin_pool()?;
        let full = crate::domain::volume::ThinFullness::of(
            t.data_percent.unwrap_or(0.0),
            t.metadata_percent.unwrap_or(0.0),
        );
        Some((
            super::volumes::thin_words(&t),
            full != crate::domain::volume::ThinFullness::Fine,
        ))
    }

    pub fn size(&self, v: &crate::db::volumes::VolumeRow) -> String {
        crate::domain::volume::size_words(u64::try_from(v.size_bytes).unwrap_or(0))
    }
    /// A repair is offered once a check has found stripes that do not
    /// match.
    pub fn offer_repair(&self) -> bool {
        self.scrubs
            .iter()
            .find(|s| s.finished_at.is_some())
            .is_some_and(|s| !s.repair && s.mismatches.unwrap_or(0) > 0)
    }

    /// Its hot spares as md has them (or as recorded, before md is seen).
    pub fn spares(&self) -> Vec<&PoolDrive> {
        self.p.drives.iter().filter(|d| d.is_spare()).collect()
    }
}

/// `GET /pools/{name}`.
pub async fn pool_page(
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<String>,
) -> Result<PoolPage, PageError> {
    let scene = Scene::load(&state, path.into_inner()).await?;
    let flow = Flow::of(&scene);
    let p = scene.view;
    let id = p.pool.id;
    let (scrubs, volumes) = state
        .db
        .run(move |conn| -> Result<_, AppError> {
            let c = &mut conn.conn();
            Ok((
                pools::scrubs_of(c, id, 20)?,
                crate::db::volumes::of_pool(c, id)?,
            ))
        })
        .await?;
    Ok(PoolPage {
        frame: Frame::new(&state, &who, format!("Pool {}", p.pool.name), "pools").await?,
        p,
        scrubs,
        flow,
        volumes,
    })
}

// ---- hot spares ----

/// `POST /api/v1/pools/{name}/spares` and the page's form: `{"drive"}`.
#[derive(Debug, Default, Deserialize)]
pub struct DriveBody {
    #[serde(default)]
    pub drive: String,
}

/// Checks a spare to add: the job, or the bad field in words.
pub fn plan_spare(s: &Scene, body: &DriveBody) -> Result<JobSpec, AppError> {
    s.ready()?;
    let (drive, drive_id) = s.joining(&body.drive, "drive")?;
    Ok(kinds::add_spare(PoolDrivePayload {
        pool_id: s.view.pool.id,
        name: s.name().to_string(),
        removal: s.removal_in_bay_of(drive_id).map(|r| r.id),
        drive,
        drive_id,
    }))
}

pub async fn add_spare(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<String>,
    Body(body): Body<DriveBody>,
) -> Answer {
    act(&state, &who, &req, path.into_inner(), |s| {
        plan_spare(s, &body)
    })
    .await
}

/// Checks a spare to take out.
pub fn plan_spare_removal(s: &Scene, serial: &str) -> Result<JobSpec, AppError> {
    s.ready()?;
    let d = s
        .view
        .drives
        .iter()
        .find(|d| d.drive.serial == serial)
        .ok_or_else(|| AppError::NotFound(format!("pool {} has no drive {serial:?}", s.name())))?;
    if d.member.role != "spare" || d.role.is_some_and(|r| r != MemberRole::Spare) {
        return Err(AppError::Conflict(format!(
            "drive {serial} is not a spare of pool {} but its {} member; it stays",
            s.name(),
            d.role.map_or(d.member.role.as_str(), |r| r.as_str())
        )));
    }
    Ok(kinds::remove_spare(PoolDrivePayload {
        pool_id: s.view.pool.id,
        name: s.name().to_string(),
        drive: d.drive.drive_ref(),
        drive_id: d.drive.id,
        removal: None,
    }))
}

/// `DELETE /api/v1/pools/{name}/spares/{serial}`, and
/// `POST /pools/{name}/spares/{serial}/remove` from the page.
pub async fn remove_spare(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<(String, String)>,
) -> Answer {
    let (name, serial) = path.into_inner();
    act(&state, &who, &req, name, |s| plan_spare_removal(s, &serial)).await
}

// ---- guided replacement ----

/// `POST /api/v1/pools/{name}/replace` `{"drive","with"?}`.
#[derive(Debug, Default, Deserialize)]
pub struct ReplaceBody {
    #[serde(default)]
    pub drive: String,
    #[serde(default)]
    pub with: Option<String>,
}

/// Decides the next step of a drive's replacement from what md says of it:
/// the job, or why not, in words.
pub fn plan_replace(s: &Scene, body: &ReplaceBody) -> Result<JobSpec, AppError> {
    s.ready()?;
    let name = s.name();
    let serial = body.drive.trim();
    if serial.is_empty() {
        return Err(AppError::invalid(
            "drive",
            "name the drive to replace by its serial",
        ));
    }
    let old = s.own(serial).ok_or_else(|| {
        AppError::invalid("drive", format!("pool {name} has no drive {serial:?}"))
    })?;
    let recorded = s
        .view
        .drives
        .iter()
        .find(|d| d.drive.id == old.id)
        .map(|d| d.member.role.as_str());
    match recorded {
        Some("spare") => {
            return Err(AppError::invalid(
                "drive",
                format!("drive {serial} is a spare of pool {name}; take it out instead"),
            ));
        }
        Some("journal") => {
            return Err(AppError::invalid(
                "drive",
                format!(
                    "drive {serial} holds pool {name}'s write journal; replacing a journal device \
                     is not built yet"
                ),
            ));
        }
        _ => {}
    }
    let with = body
        .with
        .as_deref()
        .map(str::trim)
        .filter(|w| !w.is_empty());
    let new = with.map(|w| s.joining(w, "with")).transpose()?;
    let role = s.md_role(old);
    let degraded = s.view.degraded();
    let failing = old.health() == Health::Failing || s.worn.contains_key(&old.id);
    let mode = match (role, &new) {
        (Some(MemberRole::Rebuilding | MemberRole::Replacement), _) => {
            return Err(AppError::Conflict(format!(
                "drive {serial} is being rebuilt in pool {name}; wait until that ends"
            )));
        }
        (Some(MemberRole::Active), Some(_)) if degraded => {
            return Err(AppError::Conflict(format!(
                "pool {name} is degraded: md would rebuild its missing member onto the new drive, \
                 not drive {serial}'s place; replace the missing member first"
            )));
        }
        (Some(MemberRole::Active), Some(_)) => ReplaceMode::InPlace,
        (Some(MemberRole::Active), None) if !failing => {
            return Err(AppError::invalid(
                "with",
                format!(
                    "drive {serial} is a healthy, active member of pool {name}; name a drive to \
                     replace it with"
                ),
            ));
        }
        (_, None) => ReplaceMode::TakeOut,
        (_, Some(_)) => ReplaceMode::Rebuild,
    };
    let reason = match (role, failing) {
        (Some(MemberRole::Faulty), _) => "md marked it faulty".to_string(),
        (None, _) if !old.present => "it left the appliance".to_string(),
        (None, _) => "md no longer lists it".to_string(),
        (_, true) => match s.worn.get(&old.id) {
            Some(why) => why.clone(),
            None => format!("its SMART verdict is failing: {}", old.health_reason),
        },
        _ => match &new {
            Some((n, _)) => format!("replaced by drive {}", n.serial),
            None => "taken out by an operator".into(),
        },
    };
    let removal = s
        .removal_of(old.id)
        .or_else(|| new.as_ref().and_then(|(_, id)| s.removal_in_bay_of(*id)))
        .map(|r| r.id);
    Ok(kinds::replace(PoolReplacePayload {
        pool_id: s.view.pool.id,
        name: name.to_string(),
        mode,
        old: old.drive_ref(),
        old_id: old.id,
        new_id: new.as_ref().map(|(_, id)| *id),
        new: new.map(|(d, _)| d),
        reason,
        removal,
    }))
}

/// `POST /pools/{name}/replace` and `POST /api/v1/pools/{name}/replace`.
pub async fn replace(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<String>,
    Body(body): Body<ReplaceBody>,
) -> Answer {
    act(&state, &who, &req, path.into_inner(), |s| {
        plan_replace(s, &body)
    })
    .await
}

// ---- growth ----

/// `POST /api/v1/pools/{name}/grow` `{"drives":[...]}`.
#[derive(Debug, Default, Deserialize)]
pub struct GrowBody {
    #[serde(default)]
    pub drives: Vec<String>,
}

pub fn plan_grow(s: &Scene, body: &GrowBody) -> Result<JobSpec, AppError> {
    s.ready()?;
    let name = s.name();
    if body.drives.is_empty() {
        return Err(AppError::invalid(
            "drives",
            "name at least one drive to grow by",
        ));
    }
    let mut picked: Vec<(DriveRef, i64)> = Vec::new();
    for serial in &body.drives {
        let d = s.joining(serial, "drives")?;
        if picked.iter().any(|(p, _)| p.ident == d.0.ident) {
            return Err(AppError::invalid(
                "drives",
                format!("the drive {} is named twice", d.0.serial),
            ));
        }
        picked.push(d);
    }
    let array = s.view.array.as_ref().ok_or_else(|| {
        AppError::Conflict(format!(
            "pool {name}'s array is not seen; it grows once it runs"
        ))
    })?;
    if !array.is_clean() {
        return Err(AppError::Conflict(format!(
            "pool {name} is {}; it grows only when clean",
            s.view.state()
        )));
    }
    if s.view.pool.write_hole == "journal" {
        return Err(AppError::Conflict(format!(
            "md cannot reshape an array with a write journal, so pool {name} cannot grow by more \
             members"
        )));
    }
    let now = array.raid_devices.ok_or_else(|| {
        AppError::Conflict(format!("md does not say how many devices pool {name} has"))
    })?;
    let level = RaidLevel::parse(&s.view.pool.level);
    if level == Some(RaidLevel::Raid10) && picked.len() % 2 == 1 {
        return Err(AppError::invalid(
            "drives",
            "a raid10 pool grows by mirrored pairs: name an even number of drives",
        ));
    }
    let raid_devices = now + u32::try_from(picked.len()).unwrap_or(u32::MAX);
    Ok(kinds::grow(kinds::PoolGrowPayload {
        pool_id: s.view.pool.id,
        name: name.to_string(),
        drives: picked,
        raid_devices,
    }))
}

pub async fn api_grow(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<String>,
    web::Json(body): web::Json<GrowBody>,
) -> Answer {
    act(&state, &who, &req, path.into_inner(), |s| {
        plan_grow(s, &body)
    })
    .await
}

/// `POST /pools/{name}/grow` from the page: a checkbox per free drive,
/// `add.<serial>`.
pub async fn grow_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<String>,
    form: web::Form<HashMap<String, String>>,
) -> Answer {
    let mut drives: Vec<String> = form
        .keys()
        .filter_map(|k| k.strip_prefix("add."))
        .map(str::to_string)
        .collect();
    drives.sort();
    let body = GrowBody { drives };
    act(&state, &who, &req, path.into_inner(), |s| {
        plan_grow(s, &body)
    })
    .await
}

// ---- deleting ----

/// `DELETE /api/v1/pools/{name}` `{"confirm": name}`.
#[derive(Debug, Default, Deserialize)]
pub struct DeleteBody {
    #[serde(default)]
    pub confirm: String,
}

pub fn plan_delete(s: &Scene, body: &DeleteBody) -> Result<JobSpec, AppError> {
    let name = s.name();
    if s.view.pool.lifecycle == "deleting" {
        return Err(AppError::Conflict(format!(
            "pool {name} is being deleted already"
        )));
    }
    if body.confirm.trim() != name {
        return Err(AppError::invalid(
            "confirm",
            format!("type the pool's name, {name}, to delete it"),
        ));
    }
    if let Some(vg) = s.view.pool.volume_group()
        && vg.lv_count > 0
    {
        return Err(AppError::Conflict(format!(
            "pool {name} holds {} volume(s); delete them first",
            vg.lv_count
        )));
    }
    Ok(kinds::delete_pool(kinds::PoolDeletePayload {
        pool_id: s.view.pool.id,
        name: name.to_string(),
        uuid: s.view.pool.uuid.clone(),
        drives: s.view.drives.iter().map(|d| d.drive.drive_ref()).collect(),
    }))
}

/// `DELETE /api/v1/pools/{name}` and `POST /pools/{name}/delete`.
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<String>,
    Body(body): Body<DeleteBody>,
) -> Answer {
    act(&state, &who, &req, path.into_inner(), |s| {
        plan_delete(s, &body)
    })
    .await
}

// ---- the flow on the pool page ----

/// A drive of the pool that needs an operator: md failed it, or SMART
/// judges it failing while it still serves.
pub struct Attention {
    pub serial: String,
    pub bay: Option<String>,
    pub why: String,
    /// Still an active member: `mdadm --replace` keeps redundancy.
    pub active: bool,
}

/// A drive taken out whose place is not settled yet.
pub struct Departed {
    pub drive_id: i64,
    pub serial: String,
    /// In the appliance and in no pool: it can be re-qualified.
    pub can_requalify: bool,
    /// What its re-qualification found.
    pub verdict: Option<String>,
    pub bay: Option<String>,
    pub reason: String,
    pub removed_at: chrono::NaiveDateTime,
    /// The drive its place went to.
    pub replaced_by: Option<String>,
    /// A free drive that sits in its bay now, offered to take its place.
    pub newcomer: Option<String>,
    /// Whether the drive itself still sits in its bay.
    pub still_there: bool,
}

/// What the pool page offers next.
#[derive(Default)]
pub struct Flow {
    pub attention: Vec<Attention>,
    pub departed: Vec<Departed>,
    /// Free drives that can join this pool: (serial, "model, size, bay").
    pub free: Vec<(String, String)>,
}

impl Flow {
    pub fn of(s: &Scene) -> Flow {
        let place_name = |id: i64| {
            s.drives
                .iter()
                .find(|(d, _)| d.id == id)
                .and_then(|(_, p)| p.as_ref().map(Place::name))
        };
        let mut attention = Vec::new();
        for d in &s.view.drives {
            if d.member.role != "member" {
                continue;
            }
            let role = s.md_role(&d.drive);
            let why = match role {
                Some(MemberRole::Faulty) => "md marked it faulty".to_string(),
                Some(MemberRole::Active) if d.drive.health() == Health::Failing => {
                    format!("its SMART verdict is failing: {}", d.drive.health_reason)
                }
                Some(MemberRole::Active) if s.worn.contains_key(&d.drive.id) => {
                    format!("{}; it is offered for replacement", s.worn[&d.drive.id])
                }
                None if s.view.array.is_some() => {
                    if d.drive.present {
                        "md no longer lists it".to_string()
                    } else {
                        "it left the appliance".to_string()
                    }
                }
                _ => continue,
            };
            attention.push(Attention {
                serial: d.drive.serial.clone(),
                bay: d.bay.clone(),
                why,
                active: role == Some(MemberRole::Active),
            });
        }
        let departed = s
            .removals
            .iter()
            .map(|r| {
                let serial_of = |id: i64| {
                    s.drives
                        .iter()
                        .find(|(d, _)| d.id == id)
                        .map(|(d, _)| d.serial.clone())
                };
                let in_bay = s.drives.iter().find(|(_, p)| {
                    p.as_ref().is_some_and(|p| {
                        Some(p.bay.enclosure.as_str()) == r.enclosure.as_deref()
                            && i32::try_from(p.bay.slot).ok() == r.slot
                    })
                });
                let newcomer = in_bay
                    .filter(|(d, _)| d.id != r.drive_id && r.replaced_by.is_none())
                    .filter(|(d, _)| s.joining(&d.serial, "drive").is_ok())
                    .map(|(d, _)| d.serial.clone());
                let free_here = s.drives.iter().any(|(d, _)| {
                    d.id == r.drive_id && d.present && !s.memberships.contains_key(&d.id)
                });
                Departed {
                    drive_id: r.drive_id,
                    can_requalify: free_here,
                    verdict: r.verdict.clone(),
                    serial: serial_of(r.drive_id).unwrap_or_default(),
                    bay: in_bay
                        .and_then(|(d, _)| place_name(d.id))
                        .or_else(|| bay_name(s, r)),
                    reason: r.reason.clone(),
                    removed_at: r.removed_at,
                    replaced_by: r.replaced_by.and_then(serial_of),
                    newcomer,
                    still_there: in_bay.is_some_and(|(d, _)| d.id == r.drive_id),
                }
            })
            .collect();
        let mut free: Vec<(String, String)> = s
            .drives
            .iter()
            .filter(|(d, _)| d.present && s.joining(&d.serial, "drive").is_ok())
            .map(|(d, p)| {
                let at = p.as_ref().map_or_else(|| "in no bay".into(), Place::name);
                (
                    d.serial.clone(),
                    format!(
                        "{} {}, {}, {at}",
                        d.make(),
                        d.serial,
                        human_bytes(d.size_bytes)
                    ),
                )
            })
            .collect();
        free.sort();
        Flow {
            attention,
            departed,
            free,
        }
    }
}

/// The name of the bay a removal recorded, from its enclosure's label.
fn bay_name(s: &Scene, r: &RemovalRow) -> Option<String> {
    let e = r.enclosure.as_deref()?;
    let slot = u32::try_from(r.slot?).ok()?;
    s.drives
        .iter()
        .filter_map(|(_, p)| p.as_ref())
        .find(|p| p.bay.enclosure == e)
        .map(|p| crate::naming::bay_name(&p.enclosure_label, slot))
}

// ---- re-qualifying a drive taken out ----

/// Checks a drive to re-qualify: one taken out of a pool, in the appliance,
/// in no pool now.
pub fn plan_requalify(
    d: &DriveRow,
    member_of: Option<&(String, String)>,
    removal: Option<&RemovalRow>,
) -> Result<JobSpec, AppError> {
    if let Some((pool, role)) = member_of {
        return Err(AppError::Conflict(format!(
            "drive {} is in pool {pool} ({role}); it is re-qualified once it is out",
            d.serial
        )));
    }
    let Some(removal) = removal else {
        return Err(AppError::Conflict(format!(
            "drive {} was never taken out of a pool; a drive is re-qualified after it was",
            d.serial
        )));
    };
    if !d.present {
        return Err(AppError::Conflict(format!(
            "drive {} is not in the appliance now",
            d.serial
        )));
    }
    Ok(kinds::requalify(kinds::RequalifyPayload {
        drive_id: d.id,
        drive: d.drive_ref(),
        size_bytes: u64::try_from(d.size_bytes).unwrap_or(0),
        removal_id: removal.id,
    }))
}

/// `POST /drives/{id}/requalify` and `POST /api/v1/drives/{id}/requalify`:
/// zeroes end to end and a long self-test, as one job.
pub async fn requalify(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<String>,
) -> Answer {
    let Ok(id) = path.trim().parse::<i64>() else {
        return Answer(Err(AppError::NotFound(format!(
            "there is no drive {:?}",
            path.as_str()
        ))));
    };
    let planned = state
        .db
        .run(move |conn| -> Result<JobSpec, AppError> {
            let mut c = conn.conn();
            let (d, _) = inventory::drive(&mut c, id)?
                .ok_or_else(|| AppError::NotFound(format!("there is no drive {id}")))?;
            let member_of = pools::memberships(&mut c)?.remove(&id);
            let removal = pools::last_removal_of(&mut c, id)?.map(|(r, _)| r);
            plan_requalify(&d, member_of.as_ref(), removal.as_ref())
        })
        .await;
    enqueue(&state, &who, &req, planned).await
}

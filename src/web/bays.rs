//! Bays through the API: the list, and the identify LED as a job.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::action::{Answer, Body, Outcome};
use super::page::{Frame, html};
use super::{ApiError, AppState, Identity, PageError, client_address, drawn, jobs};
use crate::db::inventory;
use crate::domain::{BayAddr, Led};
use crate::error::AppError;
use crate::jobs::kinds;

/// `GET /api/v1/bays`: every bay with what the backend last reported.
pub async fn api_list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let rows = state
        .db
        .run(|conn| -> Result<_, AppError> { Ok(inventory::bays(&mut conn.conn())?) })
        .await?;
    let body: Vec<serde_json::Value> = rows
        .iter()
        .map(|(e, b, d)| {
            json!({
                "enclosure": e.ident,
                "enclosure_label": e.label,
                "method": e.method,
                "slot": b.slot,
                "label": b.label,
                "status": b.status,
                "state": inventory::bay_state(e, b, d.as_ref()),
                "locate": b.locate,
                "fault": b.fault,
                "drive": d.as_ref().map(|d| json!({
                    "id": d.id,
                    "serial": d.serial,
                    "wwn": d.wwn,
                    "vendor": d.vendor,
                    "model": d.model,
                    "dev_name": d.dev_name,
                    "health": d.health,
                })),
                "observed_at": crate::db::rfc3339(&b.observed_at),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /api/v1/enclosures`: every enclosure seen (`present` false for one
/// that is gone, `observed_at` then when it was last seen), how it is
/// reached, what could not be read of it, and its elements other than bays.
pub async fn api_enclosures(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let summary = state
        .db
        .run(|conn| -> Result<_, AppError> { Ok(inventory::summary(&mut conn.conn())?) })
        .await?;
    let body: Vec<serde_json::Value> = summary
        .enclosures
        .iter()
        .map(|v| {
            let e = &v.enclosure;
            json!({
                "ident": e.ident,
                "label": e.label,
                "present": e.present,
                "vendor": e.vendor,
                "product": e.product,
                "method": e.method,
                "note": e.note,
                "bays": v.bays.len(),
                "bays_used": v.used(),
                "elements": e.elements(),
                "observed_at": crate::db::rfc3339(&e.observed_at),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

async fn forget(
    req: &HttpRequest,
    state: &AppState,
    who: &Identity,
    ident: String,
) -> Result<inventory::EnclosureRow, AppError> {
    let (actor, address) = (who.username.clone(), client_address(req));
    state
        .db
        .run(move |conn| {
            conn.write(|c| {
                inventory::forget_enclosure(c, &ident, &actor, &address, crate::db::now())
            })
        })
        .await
}

/// `DELETE /api/v1/enclosures/{ident}`: forgets a missing enclosure.
pub async fn api_forget(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    forget(&req, &state, &who, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /bays/{enclosure}/forget` from the bay map.
pub async fn forget_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    forget(&req, &state, &who, path.into_inner()).await?;
    Ok(super::action::see_other("/bays".into()))
}

/// `{"on": bool}` from the API, `on=true|false` from the map's form.
#[derive(Debug, Deserialize)]
pub struct LedBody {
    pub on: bool,
}

/// `POST /bays/{enclosure}/{slot}/locate` (the map's form) and `POST
/// /api/v1/bays/{enclosure}/{slot}/locate` `{"on": bool}`: enqueues a job
/// that sets the bay's identify LED; 202 `{"job_id": N}`. htmx gets the
/// map back with the bay marked as asked, a plain form post goes back to
/// the page.
pub async fn locate(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<(String, String)>,
    Body(body): Body<LedBody>,
) -> Answer {
    set_led(&req, &state, &who, path.into_inner(), body.on, Led::Locate)
        .await
        .into()
}

/// `POST /bays/{enclosure}/{slot}/fault` and `POST
/// /api/v1/bays/{enclosure}/{slot}/fault` `{"on": bool}`: the same for the
/// bay's fault LED.
pub async fn fault(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<(String, String)>,
    Body(body): Body<LedBody>,
) -> Answer {
    set_led(&req, &state, &who, path.into_inner(), body.on, Led::Fault)
        .await
        .into()
}

async fn set_led(
    req: &HttpRequest,
    state: &AppState,
    who: &Identity,
    (enclosure, slot_text): (String, String),
    on: bool,
    led: Led,
) -> Result<Outcome, AppError> {
    let (_, id) = enqueue_led(req, state, who, enclosure, slot_text, led, on).await?;
    let done = Outcome::job(id).then("/bays");
    if req.headers().contains_key("hx-request") && !super::is_api_path(req.path()) {
        let partial = MapPartial {
            frame: Frame::new(state, who, "Bays", "bays").await?,
            // The bay itself shows the job as asked, near the click and
            // across refreshes, until it is done.
            m: load_map(state, None).await?,
        };
        return Ok(done.page(html(200, &partial)?));
    }
    Ok(done)
}

/// Checks the bay exists and enqueues the job that sets one of its LEDs.
async fn enqueue_led(
    req: &HttpRequest,
    state: &AppState,
    who: &Identity,
    enclosure: String,
    slot_text: String,
    led: Led,
    on: bool,
) -> Result<(crate::jobs::JobSpec, i64), AppError> {
    let slot: u32 = slot_text.parse().map_err(|_| {
        AppError::invalid(
            "slot",
            format!("the slot must be a number, not {slot_text:?}"),
        )
    })?;
    let lookup = enclosure.clone();
    let found = state
        .db
        .run(move |conn| -> Result<_, AppError> {
            Ok(inventory::find_bay(&mut conn.conn(), &lookup, slot as i32)?)
        })
        .await?;
    let (encl, bay) = found.ok_or_else(|| {
        AppError::NotFound(format!(
            "there is no enclosure {enclosure:?}; GET /api/v1/bays lists them"
        ))
    })?;
    if bay.is_none() {
        return Err(AppError::NotFound(format!(
            "{} has no slot {slot}; GET /api/v1/bays lists its slots as the enclosure numbers them",
            encl.label
        )));
    }
    let spec = kinds::bay_led(
        led,
        &BayAddr::new(encl.ident.clone(), slot),
        &encl.label,
        on,
    );
    let id = jobs::enqueue(state, who, &client_address(req), spec.clone(), None).await?;
    Ok((spec, id))
}

// ---- the /bays page ----

/// Columns an enclosure of `bays` bays is drawn in when no layout is
/// configured: 12 bays as 4 by 3 (a 2U or 3U front of 3.5" bays), 24 as 6
/// by 4 (4U), 60 as 12 by 5 (a top-loading JBOD); between those, the next
/// layout up.
pub fn default_columns(bays: usize) -> usize {
    match bays {
        0..=2 => 2,
        3 => 3,
        4..=12 => 4,
        13..=24 => 6,
        25..=48 => 8,
        _ => 12,
    }
}

/// The bay map with what the templates need.
pub struct BayMap {
    pub enclosures: Vec<inventory::EnclosureView>,
    /// Why nothing was observed, if the agent said.
    pub error: Option<String>,
    /// What the last click did, in words.
    pub flash: Option<String>,
    /// The configured layouts per enclosure model (`[[bay_layout]]`).
    pub layouts: Vec<crate::config::BayLayout>,
    /// LED jobs not finished yet, by the bay they are for.
    pub pending: Vec<(String, crate::jobs::JobRow)>,
    /// A lit identify LED goes dark by itself this long after it was lit.
    pub locate_off: chrono::Duration,
    pub timezone: chrono_tz::Tz,
    /// Which pool each drive belongs to, and as what: drive id → (pool,
    /// role).
    pub pools: std::collections::HashMap<i64, (String, String)>,
}

impl BayMap {
    /// A map of these enclosures with nothing pending and the defaults.
    pub fn of(
        enclosures: Vec<inventory::EnclosureView>,
        layouts: Vec<crate::config::BayLayout>,
    ) -> BayMap {
        BayMap {
            enclosures,
            error: None,
            flash: None,
            layouts,
            pending: Vec::new(),
            locate_off: chrono::Duration::minutes(30),
            timezone: chrono_tz::UTC,
            pools: Default::default(),
        }
    }

    /// What a drive is to the pools: "pool tank, member", "spare of tank",
    /// "journal of tank", or "free".
    pub fn pool_of(&self, drive: &inventory::DriveRow) -> String {
        match self.pools.get(&drive.id) {
            Some((pool, role)) if role == "spare" => format!("spare of {pool}"),
            Some((pool, role)) if role == "journal" => format!("journal of {pool}"),
            Some((pool, _)) => format!("pool {pool}, member"),
            None => "free".into(),
        }
    }

    /// The LED job not finished yet for this bay, if any (the newest).
    pub fn pending_for(
        &self,
        e: &inventory::EnclosureView,
        bay: &inventory::BayRow,
    ) -> Option<&crate::jobs::JobRow> {
        let key =
            crate::domain::resource::bay(&e.enclosure.ident, u32::try_from(bay.slot).unwrap_or(0));
        self.pending
            .iter()
            .rev()
            .find(|(r, _)| *r == key)
            .map(|(_, j)| j)
    }

    /// When a lit identify LED goes dark by itself: "14:33".
    pub fn dark_at(&self, bay: &inventory::BayRow) -> Option<String> {
        let since = bay.locate_since.filter(|_| bay.locate)?;
        Some(
            (since + self.locate_off)
                .and_utc()
                .with_timezone(&self.timezone)
                .format("%H:%M")
                .to_string(),
        )
    }

    /// The bay as it is named everywhere.
    pub fn name(&self, e: &inventory::EnclosureView, bay: &inventory::BayRow) -> String {
        crate::naming::bay_name(&e.enclosure.label, bay.slot)
    }

    /// Columns an enclosure of `bays` bays is drawn in ([`default_columns`]).
    pub fn columns(&self, bays: usize) -> usize {
        default_columns(bays)
    }

    /// The grid classes of an enclosure: its configured layout where one
    /// matches its vendor and product or identifier, else the default for
    /// its number of bays.
    pub fn grid_class(&self, e: &inventory::EnclosureView) -> String {
        let name = format!("{} {}", e.enclosure.vendor, e.enclosure.product).to_lowercase();
        let ident = e.enclosure.ident.to_lowercase();
        match self
            .layouts
            .iter()
            .find(|l| name.contains(&l.enclosure) || ident.contains(&l.enclosure))
        {
            // The stylesheet has row counts up to 24; deeper than that the
            // bays are numbered along rows.
            Some(l) if l.by_columns && e.bays.len().div_ceil(l.columns as usize) <= 24 => {
                let rows = e.bays.len().div_ceil(l.columns as usize);
                format!("cols-{} flow-columns rows-{}", l.columns, rows.max(1))
            }
            Some(l) => format!("cols-{}", l.columns),
            None => format!("cols-{}", self.columns(e.bays.len())),
        }
    }

    pub fn state(
        &self,
        e: &inventory::EnclosureView,
        bay: &inventory::BayRow,
        drive: &Option<inventory::DriveRow>,
    ) -> String {
        inventory::bay_state(&e.enclosure, bay, drive.as_ref())
    }

    /// The hover text: the bay and everything about its drive.
    pub fn title(
        &self,
        e: &inventory::EnclosureView,
        bay: &inventory::BayRow,
        drive: &Option<inventory::DriveRow>,
    ) -> String {
        let name = self.name(e, bay);
        match drive {
            None => format!("{name} ({}): empty, {}", bay.label, bay.status),
            Some(d) => format!(
                "{name} ({}): {}, serial {}, {}: {}",
                bay.label,
                d.label(),
                d.serial,
                d.health,
                d.health_reason
            ),
        }
    }
}

#[derive(askama::Template, askama_web::WebTemplate)]
#[template(path = "bays/page.html")]
pub struct BaysPage {
    pub frame: Frame,
    pub m: BayMap,
}

#[derive(askama::Template, askama_web::WebTemplate)]
#[template(path = "bays/map.html")]
pub struct MapPartial {
    pub frame: Frame,
    pub m: BayMap,
}

async fn load_map(state: &AppState, flash: Option<String>) -> Result<BayMap, AppError> {
    let (summary, pending, pools) = state
        .db
        .run(|conn| -> Result<_, AppError> {
            let mut c = conn.conn();
            Ok((
                inventory::summary(&mut c)?,
                crate::jobs::open_on(&mut c, "bay:")?,
                crate::db::pools::memberships(&mut c)?,
            ))
        })
        .await?;
    let timezone = state
        .appliance()
        .await?
        .and_then(|a| a.timezone.parse().ok())
        .unwrap_or(chrono_tz::UTC);
    let minutes =
        i64::try_from(state.settings.agent.locate_off_minutes).unwrap_or(i64::MAX / 60_000);
    Ok(BayMap {
        enclosures: summary.enclosures,
        error: summary.observation.and_then(|o| o.error),
        flash,
        layouts: state.settings.bay_layouts.clone(),
        pending,
        locate_off: chrono::Duration::minutes(minutes),
        timezone,
        pools,
    })
}

/// `GET /bays`.
pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
) -> Result<HttpResponse, PageError> {
    let draw = || async {
        drawn::text(&BaysPage {
            frame: Frame::drawn(&state, &who, "Bays", "bays").await?,
            m: load_map(&state, None).await?,
        })
    };
    Ok(state.drawn(&req, &who, draw).await?)
}

/// `GET /bays/map`: the map alone, for htmx to swap in.
pub async fn map_partial(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
) -> Result<HttpResponse, PageError> {
    let draw = || async {
        drawn::text(&MapPartial {
            frame: Frame::drawn(&state, &who, "Bays", "bays").await?,
            m: load_map(&state, None).await?,
        })
    };
    Ok(state.drawn(&req, &who, draw).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enclosures_are_drawn_in_their_usual_layouts() {
        let m = BayMap::of(Vec::new(), Vec::new());
        let cols: Vec<usize> = [2, 4, 12, 16, 24, 36, 60, 84]
            .iter()
            .map(|n| m.columns(*n))
            .collect();
        assert_eq!(cols, vec![2, 4, 4, 6, 6, 8, 12, 12]);
    }

    fn enclosure(product: &str, bays: usize) -> inventory::EnclosureView {
        let at = chrono::NaiveDateTime::default();
        let bay = |slot: i32| inventory::BayRow {
            id: slot.into(),
            enclosure_id: 1,
            slot,
            label: format!("Slot {slot}"),
            drive_id: None,
            status: "not installed".into(),
            locate: false,
            fault: false,
            observed_at: at,
            locate_since: None,
            fault_since: None,
            fault_drive_id: None,
        };
        inventory::EnclosureView {
            enclosure: inventory::EnclosureRow {
                id: 1,
                ident: "0x5003048001a2b33f".into(),
                vendor: "LSI".into(),
                product: product.into(),
                label: product.into(),
                slot_count: bays as i32,
                present: true,
                observed_at: at,
                method: "sysfs".into(),
                note: None,
                elements: "[]".into(),
            },
            bays: (0..bays as i32).map(|s| (bay(s), None)).collect(),
        }
    }

    #[test]
    fn a_configured_layout_overrides_the_default_for_its_model() {
        let m = BayMap::of(
            Vec::new(),
            vec![
                crate::config::BayLayout {
                    enclosure: "sas2x36".into(),
                    columns: 3,
                    by_columns: true,
                },
                crate::config::BayLayout {
                    enclosure: "0x5003048001".into(),
                    columns: 5,
                    by_columns: false,
                },
            ],
        );
        assert_eq!(
            m.grid_class(&enclosure("SAS2X36", 24)),
            "cols-3 flow-columns rows-8"
        );
        assert_eq!(
            m.grid_class(&enclosure("SAS2X28", 12)),
            "cols-5",
            "by identifier"
        );
        let plain = BayMap {
            layouts: Vec::new(),
            ..m
        };
        assert_eq!(plain.grid_class(&enclosure("SAS2X36", 24)), "cols-6");
    }
}

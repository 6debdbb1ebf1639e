//! Bays through the API: the list, and the identify LED as a job.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, AppState, Identity, client_address, jobs};
use crate::db::inventory;
use crate::error::AppError;
use crate::jobs::kinds;
use crate::storage::Led;

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
                "slot": b.slot,
                "label": b.label,
                "status": b.status,
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
                "observed_at": b.observed_at.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Debug, Deserialize)]
pub struct LedBody {
    pub on: bool,
}

/// `POST /api/v1/bays/{enclosure}/{slot}/locate` `{"on": bool}`: enqueues a
/// job that sets the bay's identify LED; 202 `{"job_id": N}`.
pub async fn api_locate(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<(String, String)>,
    body: web::Json<LedBody>,
) -> Result<HttpResponse, ApiError> {
    set_led(req, state, who, path, body, Led::Locate).await
}

/// `POST /api/v1/bays/{enclosure}/{slot}/fault` `{"on": bool}`: the same for
/// the bay's fault LED.
pub async fn api_fault(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<(String, String)>,
    body: web::Json<LedBody>,
) -> Result<HttpResponse, ApiError> {
    set_led(req, state, who, path, body, Led::Fault).await
}

async fn set_led(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<(String, String)>,
    body: web::Json<LedBody>,
    led: Led,
) -> Result<HttpResponse, ApiError> {
    let (enclosure, slot_text) = path.into_inner();
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
            "{} has no slot {slot}; its slots are numbered 0 to {}",
            encl.label,
            encl.slot_count - 1
        ))
        .into());
    }
    let spec = kinds::bay_led(led, &encl.ident, &encl.label, slot, body.on);
    let id = jobs::enqueue(&state, &who, &client_address(&req), spec, None).await?;
    Ok(HttpResponse::Accepted().json(json!({ "job_id": id })))
}

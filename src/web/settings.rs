//! `/settings` and `GET/PUT /api/v1/settings`: the host name, the IQN
//! naming authority and the time zone the wizard asked for, changed later
//! by an admin, audited.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;
use serde_json::json;

use super::page::Frame;
use super::{ApiError, AppState, Identity, PageError, client_address};
use crate::db::{self, appliance};
use crate::error::AppError;
use crate::naming;

/// `{"hostname","iqn_domain","iqn_date","timezone"}`, each required.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SettingsInput {
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub iqn_domain: String,
    #[serde(default)]
    pub iqn_date: String,
    #[serde(default)]
    pub timezone: String,
}

/// The settings, trimmed and valid, or the field errors in form order (the
/// wizard asks for the same four).
pub fn validate(
    input: &SettingsInput,
    today: chrono::NaiveDate,
) -> Result<appliance::Identity, Vec<(&'static str, String)>> {
    let (hostname, iqn_domain, iqn_date, timezone) = (
        input.hostname.trim(),
        input.iqn_domain.trim(),
        input.iqn_date.trim(),
        input.timezone.trim(),
    );
    let mut errors = Vec::new();
    if let Err(e) = naming::validate_hostname(hostname) {
        errors.push(("hostname", e));
    }
    if let Err(e) = naming::validate_domain(iqn_domain) {
        errors.push(("iqn_domain", e));
    }
    if let Err(e) = naming::validate_iqn_date(iqn_date, today) {
        errors.push(("iqn_date", e));
    }
    if let Err(e) = naming::validate_timezone(timezone) {
        errors.push(("timezone", e));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(appliance::Identity {
        hostname: hostname.into(),
        iqn_domain: iqn_domain.into(),
        iqn_date: iqn_date.into(),
        timezone: timezone.into(),
    })
}

async fn save(
    state: &AppState,
    who: &Identity,
    address: String,
    new: appliance::Identity,
) -> Result<appliance::Appliance, AppError> {
    let actor = who.username.clone();
    let saved = state
        .db
        .run(move |conn| conn.write(|c| appliance::update(c, &new, &actor, &address, db::now())))
        .await?;
    state.remember_appliance(saved.clone());
    Ok(saved)
}

fn as_json(a: &appliance::Appliance) -> serde_json::Value {
    json!({
        "hostname": a.hostname,
        "iqn_domain": a.iqn_domain,
        "iqn_date": a.iqn_date,
        "timezone": a.timezone,
        "iqn_prefix": a.iqn_prefix(),
    })
}

async fn current(state: &AppState) -> Result<appliance::Appliance, AppError> {
    state.appliance().await?.ok_or_else(|| {
        AppError::Conflict("the appliance is not set up yet: finish the first-boot wizard".into())
    })
}

/// `GET /api/v1/settings`.
pub async fn api_get(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(as_json(&current(&state).await?)))
}

/// `PUT /api/v1/settings`: all four fields; 422 naming the first bad one,
/// and nothing changed.
pub async fn api_put(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    body: web::Json<SettingsInput>,
) -> Result<HttpResponse, ApiError> {
    let new = validate(&body, chrono::Utc::now().date_naive()).map_err(|errors| {
        let (field, message) = errors.into_iter().next().expect("errors are not empty");
        AppError::invalid(field, message)
    })?;
    let saved = save(&state, &who, client_address(&req), new).await?;
    Ok(HttpResponse::Ok().json(as_json(&saved)))
}

#[derive(Template, WebTemplate)]
#[template(path = "settings/page.html")]
pub struct SettingsPage {
    pub frame: Frame,
    pub input: SettingsInput,
    pub errors: Vec<(&'static str, String)>,
    pub notice: String,
    pub timezones: Vec<&'static str>,
    /// The prefix targets were named with until now.
    pub iqn_prefix: String,
}

impl SettingsPage {
    pub fn error_for(&self, field: &str) -> String {
        self.errors
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }
}

async fn render(
    state: &AppState,
    who: &Identity,
    input: Option<SettingsInput>,
    errors: Vec<(&'static str, String)>,
    notice: &str,
) -> Result<SettingsPage, AppError> {
    let a = current(state).await?;
    Ok(SettingsPage {
        frame: Frame::new(state, who, "Settings", "settings").await?,
        input: input.unwrap_or_else(|| SettingsInput {
            hostname: a.hostname.clone(),
            iqn_domain: a.iqn_domain.clone(),
            iqn_date: a.iqn_date.clone(),
            timezone: a.timezone.clone(),
        }),
        errors,
        notice: notice.into(),
        timezones: timezones(),
        iqn_prefix: a.iqn_prefix(),
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct SavedQuery {
    #[serde(default)]
    saved: Option<String>,
}

/// `GET /settings`.
pub async fn page(
    state: web::Data<AppState>,
    who: Identity,
    q: web::Query<SavedQuery>,
) -> Result<SettingsPage, PageError> {
    let notice = if q.saved.is_some() {
        "Settings saved."
    } else {
        ""
    };
    Ok(render(&state, &who, None, Vec::new(), notice).await?)
}

/// `POST /settings`.
pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    form: web::Form<SettingsInput>,
) -> Result<HttpResponse, PageError> {
    let input = form.into_inner();
    match validate(&input, chrono::Utc::now().date_naive()) {
        Ok(new) => {
            save(&state, &who, client_address(&req), new).await?;
            Ok(super::action::see_other("/settings?saved=1".into()))
        }
        Err(errors) => {
            let page = render(&state, &who, Some(input), errors, "").await?;
            Ok(super::page::html(422, &page)?)
        }
    }
}

pub fn timezones() -> Vec<&'static str> {
    chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect()
}

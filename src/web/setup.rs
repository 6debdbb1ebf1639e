//! The first-boot wizard: the admin password, the host name, the IQN naming
//! authority and the time zone. As a page at /setup and as
//! `POST /api/v1/setup`; both are gone once the appliance is set up.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::{Deserialize, Serialize};

use super::gate::PreCsrf;
use super::page::VERSION;
use super::{ApiError, AppState, PageError, client_address};
use crate::auth;
use crate::db::{self, appliance};
use crate::error::AppError;
use crate::naming;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct SetupInput {
    #[serde(default)]
    pub admin_password: String,
    /// Only the page asks for the password twice.
    #[serde(default)]
    pub admin_password_confirm: Option<String>,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub iqn_domain: String,
    #[serde(default)]
    pub iqn_date: String,
    #[serde(default)]
    pub timezone: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SetupResult {
    pub hostname: String,
    pub iqn_domain: String,
    pub iqn_date: String,
    pub iqn_prefix: String,
    pub timezone: String,
    pub admin_username: &'static str,
}

/// Field errors in form order; empty when all is well.
pub fn validate(input: &SetupInput, today: chrono::NaiveDate) -> Vec<(&'static str, String)> {
    let mut errors = Vec::new();
    if let Err(e) = auth::check_new_password(&input.admin_password, appliance::FIRST_ADMIN) {
        errors.push(("admin_password", e));
    } else if let Some(confirm) = &input.admin_password_confirm
        && confirm != &input.admin_password
    {
        errors.push((
            "admin_password_confirm",
            "the two passwords differ".to_string(),
        ));
    }
    let identity = super::settings::SettingsInput {
        hostname: input.hostname.clone(),
        iqn_domain: input.iqn_domain.clone(),
        iqn_date: input.iqn_date.clone(),
        timezone: input.timezone.clone(),
    };
    if let Err(more) = super::settings::validate(&identity, today) {
        errors.extend(more);
    }
    errors
}

/// Validates, hashes and writes; exactly one of two concurrent calls wins.
async fn perform(
    state: &AppState,
    input: SetupInput,
    address: String,
) -> Result<SetupResult, Result<AppError, Vec<(&'static str, String)>>> {
    let today = chrono::Utc::now().date_naive();
    let errors = validate(&input, today);
    if !errors.is_empty() {
        return Err(Err(errors));
    }
    let password = input.admin_password.clone();
    let hash = state
        .hash_work(move || auth::hash_password(&password))
        .await
        .map_err(Ok)?;
    let setup = appliance::Setup {
        hostname: input.hostname.trim().to_string(),
        iqn_domain: input.iqn_domain.trim().to_string(),
        iqn_date: input.iqn_date.trim().to_string(),
        timezone: input.timezone.trim().to_string(),
        admin_password_hash: hash,
    };
    let done = state
        .db
        .run(move |conn| appliance::complete_setup(conn, &setup, &address, db::now()))
        .await
        .map_err(Ok)?;
    state.remember_appliance(done.clone());
    tracing::info!("first-boot setup complete: {}", done.hostname);
    Ok(SetupResult {
        iqn_prefix: done.iqn_prefix(),
        hostname: done.hostname,
        iqn_domain: done.iqn_domain,
        iqn_date: done.iqn_date,
        timezone: done.timezone,
        admin_username: appliance::FIRST_ADMIN,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "setup/page.html")]
pub struct SetupPage {
    pub csrf: String,
    pub version: &'static str,
    pub input: SetupInput,
    pub errors: Vec<(&'static str, String)>,
    pub timezones: Vec<&'static str>,
}

impl SetupPage {
    pub fn error_for(&self, field: &str) -> String {
        self.errors
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    pub fn iqn_example(&self) -> String {
        let domain = if self.input.iqn_domain.is_empty() {
            "example.com"
        } else {
            &self.input.iqn_domain
        };
        let host = if self.input.hostname.is_empty() {
            "bay01"
        } else {
            &self.input.hostname
        };
        naming::target_iqn(domain, &self.input.iqn_date, host, "db01")
    }
}

fn default_hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .and_then(|h| h.split('.').next().map(str::to_ascii_lowercase))
        .filter(|h| naming::validate_hostname(h).is_ok())
        .unwrap_or_else(|| "baystack".into())
}

pub async fn page(csrf: PreCsrf) -> SetupPage {
    SetupPage {
        csrf: csrf.0,
        version: VERSION,
        input: SetupInput {
            hostname: default_hostname(),
            iqn_date: chrono::Utc::now().format("%Y-%m").to_string(),
            timezone: "UTC".into(),
            ..SetupInput::default()
        },
        errors: Vec::new(),
        timezones: super::settings::timezones(),
    }
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    csrf: PreCsrf,
    form: web::Form<SetupInput>,
) -> Result<HttpResponse, PageError> {
    let mut input = form.into_inner();
    if input.admin_password_confirm.is_none() {
        input.admin_password_confirm = Some(String::new());
    }
    match perform(&state, input.clone(), client_address(&req)).await {
        Ok(_) => Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/login?setup=done"))
            .finish()),
        Err(Ok(AppError::Conflict(_))) => Err(PageError(super::gate::lost_race())),
        Err(Ok(e)) => Err(PageError(e)),
        Err(Err(errors)) => {
            input.admin_password = String::new();
            input.admin_password_confirm = None;
            let page = SetupPage {
                csrf: csrf.0,
                version: VERSION,
                input,
                errors,
                timezones: super::settings::timezones(),
            };
            Ok(super::page::html(422, &page)?)
        }
    }
}

pub async fn api(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<SetupInput>,
) -> Result<HttpResponse, ApiError> {
    let mut input = body.into_inner();
    input.admin_password_confirm = None;
    match perform(&state, input, client_address(&req)).await {
        Ok(result) => Ok(HttpResponse::Created().json(result)),
        Err(Ok(e)) => Err(ApiError(e)),
        Err(Err(errors)) => {
            let (field, message) = errors.into_iter().next().expect("errors are not empty");
            Err(ApiError(AppError::invalid(field, message)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> SetupInput {
        SetupInput {
            admin_password: "a long enough one".into(),
            admin_password_confirm: Some("a long enough one".into()),
            hostname: "bay01".into(),
            iqn_domain: "example.com".into(),
            iqn_date: "2024-01".into(),
            timezone: "Europe/Berlin".into(),
        }
    }

    fn today() -> chrono::NaiveDate {
        chrono::NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()
    }

    #[test]
    fn good_input_passes_and_each_bad_field_is_named() {
        assert!(validate(&good(), today()).is_empty());
        let mut bad = good();
        bad.admin_password_confirm = Some("something else".into());
        bad.hostname = "bay01.example.com".into();
        bad.iqn_date = "2024-13".into();
        let fields: Vec<&str> = validate(&bad, today()).iter().map(|(f, _)| *f).collect();
        assert_eq!(
            fields,
            vec!["admin_password_confirm", "hostname", "iqn_date"]
        );
        let mut bad = good();
        bad.admin_password = "short".into();
        bad.timezone = "Nowhere/Land".into();
        bad.iqn_domain = "localhost".into();
        let fields: Vec<&str> = validate(&bad, today()).iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, vec!["admin_password", "iqn_domain", "timezone"]);
    }
}

//! Notification channels (admin): e-mail and webhooks that alerts are sent
//! to, each with its minimum severity and reminder interval, a "send a
//! test" button, and the newest deliveries with what went wrong. A secret
//! (SMTP password, webhook signing secret) is kept for the agent and never
//! shown again, logged, or put in a job or an answer.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::action::{Answer, Body, Outcome};
use super::page::Frame;
use super::{AppState, Identity, PageError, client_address};
use crate::db::{self, audit, notify as store};
use crate::domain::alert::Severity;
use crate::domain::notify::{self, ChannelSettings, EmailSettings, Security, WebhookSettings};
use crate::error::AppError;

#[derive(Debug, Default, Deserialize)]
pub struct EmailBody {
    #[serde(default)]
    pub to: Vec<String>,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub security: Option<Security>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub ca_pem: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct WebhookBody {
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub ca_pem: Option<String>,
}

/// `POST /api/v1/notifications`.
#[derive(Debug, Default, Deserialize)]
pub struct ChannelBody {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub min_severity: Option<String>,
    #[serde(default)]
    pub remind_hours: Option<i32>,
    #[serde(default)]
    pub email: Option<EmailBody>,
    #[serde(default)]
    pub webhook: Option<WebhookBody>,
}

/// The page's form: the same, flat.
#[derive(Debug, Default, Deserialize)]
pub struct ChannelForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub min_severity: String,
    #[serde(default)]
    pub remind_hours: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub port: String,
    #[serde(default)]
    pub security: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub secret: String,
    #[serde(default)]
    pub ca_pem: String,
}

fn given(s: &str) -> Option<String> {
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
}

impl ChannelForm {
    fn body(&self) -> Result<ChannelBody, AppError> {
        let remind_hours = match given(&self.remind_hours) {
            Some(h) => Some(h.parse().map_err(|_| {
                AppError::invalid(
                    "remind_hours",
                    "the reminder interval must be a whole number of hours",
                )
            })?),
            None => None,
        };
        let ca_pem = given(&self.ca_pem);
        Ok(ChannelBody {
            name: self.name.trim().to_string(),
            kind: self.kind.clone(),
            min_severity: given(&self.min_severity),
            remind_hours,
            email: (self.kind == "email").then(|| EmailBody {
                to: self.to.split([',', ' ']).filter_map(given).collect(),
                from: self.from.trim().to_string(),
                host: self.host.trim().to_string(),
                port: given(&self.port).map(|p| p.parse().unwrap_or(0)),
                security: serde_json::from_value(serde_json::Value::String(self.security.clone()))
                    .ok(),
                username: given(&self.username),
                password: Some(self.password.clone()).filter(|p| !p.is_empty()),
                ca_pem: ca_pem.clone(),
            }),
            webhook: (self.kind == "webhook").then(|| WebhookBody {
                url: self.url.trim().to_string(),
                secret: Some(self.secret.clone()).filter(|s| !s.is_empty()),
                ca_pem,
            }),
        })
    }
}

/// A channel checked: its name, settings, secret, severity, reminder.
struct Checked {
    name: String,
    settings: ChannelSettings,
    secret: Option<String>,
    min_severity: Severity,
    remind_hours: i32,
}

fn check(b: ChannelBody) -> Result<Checked, AppError> {
    crate::naming::validate_label(&b.name, 64)
        .map_err(|e| AppError::invalid("name", format!("the channel's name {e}")))?;
    let min_severity = match b.min_severity.as_deref() {
        None => Severity::Warning,
        Some(s) => Severity::parse(s).ok_or_else(|| {
            AppError::invalid(
                "min_severity",
                format!("the minimum severity must be info, warning or critical, not {s:?}"),
            )
        })?,
    };
    let remind_hours = b.remind_hours.unwrap_or(24);
    if !(0..=168).contains(&remind_hours) {
        return Err(AppError::invalid(
            "remind_hours",
            "reminders are every 1 to 168 hours, or 0 for none",
        ));
    }
    let (settings, secret) = match (b.kind.as_str(), b.email, b.webhook) {
        ("email", Some(e), _) => {
            let security = e.security.unwrap_or(Security::Starttls);
            (
                ChannelSettings::Email(EmailSettings {
                    to: e.to,
                    from: e.from,
                    host: e.host,
                    port: e.port.unwrap_or(match security {
                        Security::Tls => 465,
                        _ => 587,
                    }),
                    security,
                    username: e.username,
                    ca_pem: e.ca_pem,
                }),
                e.password,
            )
        }
        ("webhook", _, Some(w)) => (
            ChannelSettings::Webhook(WebhookSettings {
                url: w.url,
                ca_pem: w.ca_pem,
            }),
            w.secret,
        ),
        ("email", None, _) => {
            return Err(AppError::invalid(
                "email",
                "an e-mail channel needs its \"email\" settings",
            ));
        }
        ("webhook", _, None) => {
            return Err(AppError::invalid(
                "webhook",
                "a webhook needs its \"webhook\" settings",
            ));
        }
        (k, _, _) => {
            return Err(AppError::invalid(
                "kind",
                format!("the kind must be email or webhook, not {k:?}"),
            ));
        }
    };
    notify::validate(&settings, secret.as_deref())
        .map_err(|(field, why)| AppError::invalid(field, why))?;
    Ok(Checked {
        name: b.name,
        settings,
        secret,
        min_severity,
        remind_hours,
    })
}

async fn create(
    state: &AppState,
    who: &Identity,
    address: String,
    body: ChannelBody,
) -> Result<store::ChannelRow, AppError> {
    let k = check(body)?;
    let user = who.username.clone();
    state
        .db
        .run(move |conn| {
            conn.write(|c| -> Result<store::ChannelRow, AppError> {
                if store::channel_named(c, &k.name)?.is_some() {
                    return Err(AppError::invalid(
                        "name",
                        format!("there is a channel named {:?} already", k.name),
                    ));
                }
                let now = db::now();
                let row = store::create_channel(
                    c,
                    &store::NewChannel {
                        name: &k.name,
                        settings: &k.settings,
                        secret: k.secret.as_deref(),
                        min_severity: k.min_severity,
                        remind_hours: k.remind_hours,
                        by: &user,
                    },
                    now,
                )?;
                audit::record(
                    c,
                    &audit::Entry {
                        actor: Some(&user),
                        address: Some(&address),
                        action: "notification.create",
                        target: Some(&format!("channel {}", row.name)),
                        outcome: audit::Outcome::Ok,
                        detail: &format!(
                            "{}, {} and worse{}",
                            k.settings.target(),
                            k.min_severity,
                            if k.secret.is_some() {
                                ", with a secret"
                            } else {
                                ""
                            }
                        ),
                    },
                    now,
                )?;
                Ok(row)
            })
        })
        .await
}

async fn channels(
    state: &AppState,
) -> Result<Vec<(store::ChannelRow, Vec<store::DeliveryRow>)>, AppError> {
    state
        .db
        .run(|conn| -> Result<_, AppError> {
            let mut c = conn.conn();
            let mut out = Vec::new();
            for ch in store::channels(&mut c)? {
                let d = store::deliveries_of(&mut c, ch.id, 5)?;
                out.push((ch, d));
            }
            Ok(out)
        })
        .await
}

#[derive(Template, WebTemplate)]
#[template(path = "notifications/page.html")]
pub struct NotificationsPage {
    pub frame: Frame,
    pub channels: Vec<(store::ChannelRow, Vec<store::DeliveryRow>)>,
    pub error: Option<String>,
    pub form: ChannelForm,
}

impl NotificationsPage {
    pub fn target(&self, ch: &store::ChannelRow) -> String {
        ch.settings().map(|s| s.target()).unwrap_or_default()
    }
}

async fn render(
    state: &AppState,
    who: &Identity,
    error: Option<String>,
    form: ChannelForm,
) -> Result<NotificationsPage, AppError> {
    Ok(NotificationsPage {
        frame: Frame::new(state, who, "Notifications", "alerts").await?,
        channels: channels(state).await?,
        error,
        form,
    })
}

/// `GET /notifications`.
pub async fn page(
    state: web::Data<AppState>,
    who: Identity,
) -> Result<NotificationsPage, PageError> {
    Ok(render(&state, &who, None, ChannelForm::default()).await?)
}

/// `POST /notifications`: the form; shown again with what was wrong.
pub async fn create_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    form: web::Form<ChannelForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let made = match form.body() {
        Ok(b) => create(&state, &who, client_address(&req), b).await,
        Err(e) => Err(e),
    };
    match made {
        Ok(_) => Ok(super::action::see_other(
            "/notifications?done=created".into(),
        )),
        Err(e @ AppError::Invalid { .. }) => {
            let form = ChannelForm {
                password: String::new(),
                secret: String::new(),
                ..form
            };
            let page = render(&state, &who, Some(e.to_string()), form).await?;
            Ok(super::page::html(422, &page)?)
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /api/v1/notifications`: every channel, never a secret.
pub async fn api_list(state: web::Data<AppState>) -> Result<HttpResponse, super::ApiError> {
    let all = channels(&state).await?;
    Ok(HttpResponse::Ok().json(
        all.iter()
            .map(|(ch, d)| {
                let mut v = ch.json();
                v["deliveries"] = serde_json::to_value(d).unwrap_or_default();
                v
            })
            .collect::<Vec<_>>(),
    ))
}

/// `POST /api/v1/notifications`: 201 with the channel (no secret).
pub async fn api_create(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    body: Body<ChannelBody>,
) -> Result<HttpResponse, super::ApiError> {
    let row = create(&state, &who, client_address(&req), body.0).await?;
    Ok(HttpResponse::Created().json(row.json()))
}

/// `POST /notifications/{id}/test` and `POST /api/v1/notifications/{id}/test`:
/// a test message through the channel, as a job; 202 `{"job_id"}`.
pub async fn test(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<i64>,
) -> Answer {
    let id = path.into_inner();
    let (user, address) = (who.username.clone(), client_address(&req));
    let job = state
        .db
        .run(move |conn| {
            conn.write(|c| -> Result<i64, AppError> {
                let Some(ch) = store::channel(c, id)? else {
                    return Err(AppError::NotFound(format!(
                        "there is no notification channel {id}"
                    )));
                };
                crate::jobs::kinds::test_notification(c, &ch, &user, &address)
            })
        })
        .await;
    if job.is_ok() {
        state.wake.notify();
    }
    job.map(Outcome::job).into()
}

/// `POST /notifications/{id}/delete` and `DELETE /api/v1/notifications/{id}`.
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<i64>,
) -> Answer {
    let id = path.into_inner();
    let (user, address) = (who.username.clone(), client_address(&req));
    state
        .db
        .run(move |conn| {
            conn.write(|c| -> Result<(), AppError> {
                let Some(ch) = store::channel(c, id)? else {
                    return Err(AppError::NotFound(format!(
                        "there is no notification channel {id}"
                    )));
                };
                store::delete_channel(c, id)?;
                audit::record(
                    c,
                    &audit::Entry {
                        actor: Some(&user),
                        address: Some(&address),
                        action: "notification.delete",
                        target: Some(&format!("channel {}", ch.name)),
                        outcome: audit::Outcome::Ok,
                        detail: "",
                    },
                    db::now(),
                )?;
                Ok(())
            })
        })
        .await
        .map(|()| Outcome::removed("/notifications?done=deleted"))
        .into()
}

//! Alerts: the list and its history (`/alerts`, `GET /api/v1/alerts`) and
//! acknowledgement. The agent raises and clears them (`db::alerts`); a
//! person only acknowledges, which is audited.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;
use serde_json::json;

use super::action::{Answer, Body, Outcome};
use super::page::Frame;
use super::{AppState, Identity, PageError, client_address};
use crate::db::{self, alerts, audit};
use crate::domain::alert::{RULES, Severity};
use crate::error::AppError;

pub const PAGE_SIZE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct AlertQuery {
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub q: Option<String>,
    #[serde(default)]
    pub before: Option<i64>,
    #[serde(default)]
    pub limit: Option<i64>,
}

impl AlertQuery {
    pub fn filter(&self) -> Result<alerts::Filter, AppError> {
        let clean = super::filter_value;
        let state = clean(&self.state);
        if let Some(s) = &state
            && s != "active"
            && !alerts::STATES.contains(&s.as_str())
        {
            return Err(AppError::invalid(
                "state",
                format!("the state must be one of open, acknowledged, active, cleared, not {s:?}"),
            ));
        }
        let severity = match clean(&self.severity) {
            Some(s) => Some(Severity::parse(&s).ok_or_else(|| {
                AppError::invalid(
                    "severity",
                    format!("the severity must be one of info, warning, critical, not {s:?}"),
                )
            })?),
            None => None,
        };
        let text = clean(&self.q);
        if let Some(t) = &text {
            crate::naming::validate_label(t, 100)
                .map_err(|e| AppError::invalid("q", format!("the search text {e}")))?;
        }
        Ok(alerts::Filter {
            state,
            severity,
            text,
            before_id: self.before,
            limit: self.limit.unwrap_or(PAGE_SIZE),
        })
    }
}

async fn load(state: &AppState, filter: alerts::Filter) -> Result<Vec<alerts::AlertRow>, AppError> {
    state
        .db
        .run(move |conn| -> Result<_, AppError> { Ok(alerts::list(&mut conn.conn(), &filter)?) })
        .await
}

#[derive(Template, WebTemplate)]
#[template(path = "alerts/page.html")]
pub struct AlertsPage {
    pub frame: Frame,
    pub alerts: Vec<alerts::AlertRow>,
    pub q_state: String,
    pub q_severity: String,
    pub q_text: String,
    pub older: String,
    pub rules: &'static [(&'static str, &'static str)],
    /// Why the filter was refused, shown above the list.
    pub refused: Option<String>,
}

impl AlertsPage {
    pub fn filtered(&self) -> bool {
        !(self.q_state.is_empty() && self.q_severity.is_empty() && self.q_text.is_empty())
    }
}

pub async fn page(
    state: web::Data<AppState>,
    who: Identity,
    q: web::Query<AlertQuery>,
) -> Result<HttpResponse, PageError> {
    let frame = Frame::new(&state, &who, "Alerts", "alerts").await?;
    let (filter, refused) = match q.filter() {
        Ok(f) => (f, None),
        Err(e) => (
            alerts::Filter {
                limit: PAGE_SIZE,
                ..Default::default()
            },
            Some(e.to_string()),
        ),
    };
    let rows = load(&state, filter.clone()).await?;
    let older = match rows.last() {
        Some(last) if rows.len() as i64 >= filter.limit => serde_urlencoded::to_string([
            ("state", filter.state.clone().unwrap_or_default()),
            (
                "severity",
                filter.severity.map(|s| s.to_string()).unwrap_or_default(),
            ),
            ("q", filter.text.clone().unwrap_or_default()),
            ("before", last.id.to_string()),
        ])
        .unwrap_or_default(),
        _ => String::new(),
    };
    let status = if refused.is_some() { 422 } else { 200 };
    let page = AlertsPage {
        frame,
        alerts: rows,
        q_state: filter.state.unwrap_or_default(),
        q_severity: filter.severity.map(|s| s.to_string()).unwrap_or_default(),
        q_text: filter.text.unwrap_or_default(),
        older,
        rules: RULES,
        refused,
    };
    Ok(super::page::html(status, &page)?)
}

pub async fn api_list(
    state: web::Data<AppState>,
    q: web::Query<AlertQuery>,
) -> Result<HttpResponse, super::ApiError> {
    let rows = load(&state, q.filter()?).await?;
    Ok(HttpResponse::Ok().json(rows.iter().map(alerts::AlertRow::json).collect::<Vec<_>>()))
}

#[derive(Debug, Default, Deserialize)]
pub struct AckBody {
    #[serde(default)]
    pub note: Option<String>,
}

/// `POST /alerts/{id}/ack` and `POST /api/v1/alerts/{id}/ack`
/// `{"note"?}`: who has it, when, and what they said; once. 200 with the
/// alert; 409 when someone acknowledged it before.
pub async fn ack(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<i64>,
    body: Body<AckBody>,
) -> Answer {
    let id = path.into_inner();
    let note = body
        .0
        .note
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    if let Some(n) = &note
        && let Err(e) = crate::naming::validate_label(n, 500)
    {
        return Answer(Err(AppError::invalid("note", format!("the note {e}"))));
    }
    let (user, address) = (who.username.clone(), client_address(&req));
    let done = state
        .db
        .run(move |conn| {
            conn.write(|c| -> Result<alerts::AlertRow, AppError> {
                let now = db::now();
                match alerts::acknowledge(c, id, &user, note.as_deref(), now)? {
                    alerts::Ack::Missing => {
                        Err(AppError::NotFound(format!("there is no alert {id}")))
                    }
                    alerts::Ack::Already(a) => Err(AppError::Conflict(format!(
                        "alert {id} was acknowledged by {} at {} UTC",
                        a.acked_by.as_deref().unwrap_or("someone"),
                        a.acked_at
                            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                            .unwrap_or_default()
                    ))),
                    alerts::Ack::Done(a) => {
                        audit::record(
                            c,
                            &audit::Entry {
                                actor: Some(&user),
                                address: Some(&address),
                                action: "alert.ack",
                                target: Some(&format!("alert {id}")),
                                outcome: audit::Outcome::Ok,
                                detail: &match &note {
                                    Some(n) => format!("{}; note: {n}", a.summary),
                                    None => a.summary.clone(),
                                },
                            },
                            now,
                        )?;
                        Ok(a)
                    }
                }
            })
        })
        .await;
    done.map(|a| Outcome::done(json!(a.json()), format!("/alerts?done=ack#alert-{}", a.id)))
        .into()
}

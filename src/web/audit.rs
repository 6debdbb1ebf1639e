//! The audit log page (admin only): newest first, filtered, paged.

use actix_web::web;
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::page::Frame;
use super::{AppState, Identity, PageError};
use crate::db::audit::{self, Filter, Record};
use crate::error::AppError;

pub const PAGE_SIZE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    pub actor: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub before: Option<i64>,
    #[serde(default)]
    pub limit: Option<i64>,
}

impl AuditQuery {
    pub fn filter(&self) -> Filter {
        let clean = super::filter_value;
        Filter {
            actor: clean(&self.actor),
            action: clean(&self.action),
            before_id: self.before,
            limit: self.limit.unwrap_or(PAGE_SIZE),
        }
    }
}

pub async fn load(state: &AppState, filter: Filter) -> Result<Vec<Record>, AppError> {
    state
        .db
        .run(move |conn| -> Result<_, AppError> { Ok(audit::list(&mut conn.conn(), &filter)?) })
        .await
}

#[derive(Template, WebTemplate)]
#[template(path = "audit/page.html")]
pub struct AuditPage {
    pub frame: Frame,
    pub records: Vec<Record>,
    pub actor: String,
    pub action: String,
    /// The query string for the next (older) page, if there may be one.
    pub older: String,
}

impl AuditPage {
    /// The job an entry is about (`job 12`), to link to its page.
    pub fn job_of(&self, r: &Record) -> Option<i64> {
        r.target.as_deref()?.strip_prefix("job ")?.parse().ok()
    }
}

pub async fn page(
    state: web::Data<AppState>,
    who: Identity,
    q: web::Query<AuditQuery>,
) -> Result<AuditPage, PageError> {
    let filter = q.filter();
    let records = load(&state, filter.clone()).await?;
    let older = match records.last() {
        Some(last) if records.len() as i64 >= filter.limit => serde_urlencoded::to_string([
            ("actor", filter.actor.clone().unwrap_or_default()),
            ("action", filter.action.clone().unwrap_or_default()),
            ("before", last.id.to_string()),
        ])
        .unwrap_or_default(),
        _ => String::new(),
    };
    Ok(AuditPage {
        frame: Frame::new(&state, &who, "Audit log", "audit").await?,
        actor: filter.actor.unwrap_or_default(),
        action: filter.action.unwrap_or_default(),
        records,
        older,
    })
}

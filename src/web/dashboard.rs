//! The dashboard: what the observer last saw of enclosures, bays and drives.
//! The summary refreshes itself through htmx; a NOC wall screen can leave it
//! open.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;

use super::page::{Frame, human_bytes};
use super::{AppState, Identity, PageError, drawn};
use crate::db::inventory::{self, BayRow, DriveRow, Summary};
use crate::error::AppError;
use crate::jobs::{self, JobRow};

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/page.html")]
pub struct DashboardPage {
    pub frame: Frame,
    pub s: SummaryView,
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/summary.html")]
pub struct SummaryPartial {
    pub frame: Frame,
    pub s: SummaryView,
}

/// The summary with what the templates need computed.
pub struct SummaryView {
    pub summary: Summary,
    pub backend: String,
    /// Jobs not finished yet, oldest first.
    pub active_jobs: Vec<JobRow>,
}

impl SummaryView {
    /// Bays whose identify LED is on: "Front 12-bay slot 5".
    pub fn lit(&self) -> Vec<String> {
        self.summary
            .enclosures
            .iter()
            .flat_map(|e| {
                e.bays
                    .iter()
                    .filter(|(b, _)| b.locate)
                    .map(move |(b, _)| crate::naming::bay_name(&e.enclosure.label, b.slot))
            })
            .collect()
    }

    /// Power supplies, fans, sensors, ... that their enclosure reports in
    /// trouble, with the enclosure's label.
    pub fn troubled_parts(&self) -> Vec<(String, crate::domain::Element)> {
        self.summary
            .enclosures
            .iter()
            .flat_map(|e| {
                e.enclosure
                    .elements()
                    .into_iter()
                    .filter(crate::domain::Element::trouble)
                    .map(|el| (e.enclosure.label.clone(), el))
            })
            .collect()
    }

    pub fn bays_free(&self) -> usize {
        self.summary.bays_total - self.summary.bays_used
    }

    pub fn size(&self, d: &DriveRow) -> String {
        human_bytes(d.size_bytes)
    }

    /// The CSS class of a bay by what it holds.
    pub fn bay_class(&self, drive: &Option<DriveRow>) -> &'static str {
        match drive {
            None => "empty",
            Some(d) => d.health().as_str(),
        }
    }

    pub fn bay_title(&self, bay: &BayRow, drive: &Option<DriveRow>) -> String {
        let label = &bay.label;
        match drive {
            None => format!("{label}: empty"),
            Some(d) => format!(
                "{label}: {} {} {}, serial {}, {} ({})",
                d.dev_name.as_deref().unwrap_or("-"),
                d.vendor,
                d.model,
                d.serial,
                d.health,
                d.health_reason
            ),
        }
    }
}

async fn load(state: &AppState) -> Result<SummaryView, AppError> {
    let (summary, active_jobs) = state
        .db
        .run(|conn| -> Result<_, AppError> {
            let mut c = conn.conn();
            Ok((inventory::summary(&mut c)?, jobs::unfinished(&mut c, 10)?))
        })
        .await?;
    Ok(SummaryView {
        summary,
        active_jobs,
        backend: state.settings.backend.to_string(),
    })
}

pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
) -> Result<HttpResponse, PageError> {
    let draw = || async {
        drawn::text(&DashboardPage {
            frame: Frame::drawn(&state, &who, "Dashboard", "dashboard").await?,
            s: load(&state).await?,
        })
    };
    Ok(state.drawn(&req, &who, draw).await?)
}

/// `GET /dashboard/summary`: what the dashboard polls.
pub async fn summary_partial(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
) -> Result<HttpResponse, PageError> {
    let draw = || async {
        drawn::text(&SummaryPartial {
            frame: Frame::drawn(&state, &who, "Dashboard", "dashboard").await?,
            s: load(&state).await?,
        })
    };
    Ok(state.drawn(&req, &who, draw).await?)
}

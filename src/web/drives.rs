//! `/drives`: every drive the appliance has seen, present and missing,
//! sortable by health, temperature and bay.

use actix_web::web;
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::page::{Frame, human_bytes};
use super::{AppState, Identity, PageError};
use crate::db::inventory::{self, DriveRow, Place};
use crate::error::AppError;

/// How the list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// Worst first: failing, warning, unknown, healthy; missing ones last.
    Health,
    /// Hottest first; those that report none last.
    Temperature,
    /// By enclosure and slot, as the bay map shows them; drives in no bay
    /// last.
    Bay,
}

impl Sort {
    pub const ALL: [Sort; 3] = [Sort::Health, Sort::Temperature, Sort::Bay];

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Health => "health",
            Sort::Temperature => "temperature",
            Sort::Bay => "bay",
        }
    }

    fn parse(text: &str) -> Option<Sort> {
        Sort::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct DrivesQuery {
    #[serde(default)]
    sort: Option<String>,
}

/// One row of the list.
pub struct Row {
    pub d: DriveRow,
    /// Where it is now: "Front 12-bay, slot 5".
    pub bay: Option<String>,
    pub size: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "drives/list.html")]
pub struct DrivesPage {
    pub frame: Frame,
    pub rows: Vec<Row>,
    pub sort: Sort,
    pub sorts: [Sort; 3],
    pub missing: usize,
}

fn health_rank(d: &DriveRow) -> u8 {
    match d.health.as_str() {
        "failing" => 0,
        "warning" => 1,
        "unknown" => 2,
        _ => 3,
    }
}

/// Orders the drives; present ones always before missing ones.
pub fn sorted(
    mut drives: Vec<(DriveRow, Option<Place>)>,
    sort: Sort,
) -> Vec<(DriveRow, Option<Place>)> {
    drives.sort_by(|(a, pa), (b, pb)| {
        let first = b.present.cmp(&a.present);
        let by = match sort {
            Sort::Health => health_rank(a).cmp(&health_rank(b)),
            Sort::Temperature => b
                .temperature_c
                .is_some()
                .cmp(&a.temperature_c.is_some())
                .then(b.temperature_c.cmp(&a.temperature_c)),
            Sort::Bay => pb.is_some().cmp(&pa.is_some()).then_with(|| {
                pa.as_ref()
                    .map(|p| (&p.enclosure_label, p.bay.slot))
                    .cmp(&pb.as_ref().map(|p| (&p.enclosure_label, p.bay.slot)))
            }),
        };
        first
            .then(by)
            .then_with(|| a.dev_name.cmp(&b.dev_name))
            .then(a.id.cmp(&b.id))
    });
    drives
}

/// `GET /drives?sort=health|temperature|bay`.
pub async fn page(
    state: web::Data<AppState>,
    who: Identity,
    q: web::Query<DrivesQuery>,
) -> Result<DrivesPage, PageError> {
    let sort = match q.sort.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Sort::Health,
        Some(text) => Sort::parse(text).ok_or_else(|| {
            AppError::invalid(
                "sort",
                format!("drives can be sorted by health, temperature or bay, not {text:?}"),
            )
        })?,
    };
    let drives = state
        .db
        .run(|conn| -> Result<_, AppError> { Ok(inventory::drives(&mut conn.conn())?) })
        .await?;
    let rows: Vec<Row> = sorted(drives, sort)
        .into_iter()
        .map(|(d, place)| Row {
            bay: place.map(|p| p.name()),
            size: human_bytes(d.size_bytes),
            d,
        })
        .collect();
    Ok(DrivesPage {
        frame: Frame::new(&state, &who, "Drives", "drives").await?,
        missing: rows.iter().filter(|r| !r.d.present).count(),
        rows,
        sort,
        sorts: Sort::ALL,
    })
}

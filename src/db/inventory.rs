//! Observed state: what the agent last saw of enclosures, bays and drives.
//! Only the observer writes it; pages and the API read it.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::Conn;
use super::schema::{bays, drives, enclosures, observations};
use crate::db_run;
use crate::domain::health::Health;
use crate::domain::{BayAddr, Inventory};

use super::smart::NOT_READ_YET;

/// Writes one observation pass. Call inside a write transaction so readers
/// see either the previous pass or this one.
pub fn store(
    c: &mut Conn<'_>,
    inv: &Inventory,
    backend: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    // Drives first: bays point at them.
    for d in &inv.drives {
        let size = i64::try_from(d.size_bytes).unwrap_or(i64::MAX);
        let signatures = d.signatures.join("\n");
        let values = (
            drives::ident.eq(&d.ident),
            drives::serial.eq(&d.serial),
            drives::wwn.eq(d.wwn.as_deref()),
            drives::vendor.eq(&d.vendor),
            drives::model.eq(&d.model),
            drives::size_bytes.eq(size),
            drives::rotational.eq(d.rotational),
            drives::transport.eq(d.transport.as_str()),
            drives::dev_name.eq(d.dev_name.as_deref()),
            drives::by_id.eq(d.by_id.as_deref()),
            drives::present.eq(true),
            drives::observed_at.eq(now),
            drives::signatures.eq(&signatures),
        );
        let id: i64 = db_run!(c, c => diesel::insert_into(drives::table)
            .values((
                values,
                drives::first_seen_at.eq(now),
                drives::health.eq(Health::Unknown.as_str()),
                drives::health_reason.eq(NOT_READ_YET),
            ))
            .on_conflict(drives::ident)
            .do_update()
            .set(values)
            .returning(drives::id)
            .get_result(c))?;
        // A backend that reads SMART with the inventory (the simulator):
        // kept when it says something new, so the drive's verdict is
        // always that of a kept reading, the one its page shows.
        if let Some(smart) = &d.smart {
            super::smart::apply_smart(c, id, smart, now, super::smart::Keep::IfNews)?;
        }
    }
    // Drives not seen in this pass are gone (pulled, dead, or renamed away).
    db_run!(c, c => diesel::update(drives::table.filter(drives::observed_at.ne(now)))
        .set((drives::present.eq(false), drives::dev_name.eq(None::<String>)))
        .execute(c))?;

    for e in &inv.enclosures {
        let values = (
            enclosures::ident.eq(&e.ident),
            enclosures::vendor.eq(&e.vendor),
            enclosures::product.eq(&e.product),
            enclosures::label.eq(&e.label),
            enclosures::slot_count.eq(e.slots.len() as i32),
            enclosures::present.eq(true),
            enclosures::observed_at.eq(now),
            enclosures::method.eq(e.method.as_str()),
            enclosures::note.eq(e.note.as_deref()),
        );
        let enclosure_id: i64 = db_run!(c, c => diesel::insert_into(enclosures::table)
            .values(values)
            .on_conflict(enclosures::ident)
            .do_update()
            .set(values)
            .returning(enclosures::id)
            .get_result(c))?;
        if let Some(elements) = &e.elements {
            let json = serde_json::to_string(elements).expect("elements serialize");
            db_run!(c, c => diesel::update(enclosures::table.find(enclosure_id))
                .set(enclosures::elements.eq(json))
                .execute(c))?;
        }
        for s in &e.slots {
            let drive_id: Option<i64> = match &s.drive {
                Some(ident) => db_run!(c, c => drives::table
                    .filter(drives::ident.eq(ident))
                    .select(drives::id)
                    .first(c)
                    .optional())?,
                None => None,
            };
            let values = (
                bays::enclosure_id.eq(enclosure_id),
                bays::slot.eq(s.slot as i32),
                bays::label.eq(&s.label),
                bays::drive_id.eq(drive_id),
                bays::status.eq(&s.status),
                bays::locate.eq(s.locate),
                bays::fault.eq(s.fault),
                bays::observed_at.eq(now),
            );
            db_run!(c, c => diesel::insert_into(bays::table)
                .values(values)
                .on_conflict((bays::enclosure_id, bays::slot))
                .do_update()
                .set(values)
                .execute(c))?;
            if let Some(id) = drive_id {
                let name = crate::naming::bay_name(&e.label, s.slot);
                db_run!(c, c => diesel::update(
                        drives::table
                            .find(id)
                            .filter(drives::last_bay.is_null().or(drives::last_bay.ne(&name))),
                    )
                    .set(drives::last_bay.eq(&name))
                    .execute(c))?;
            }
        }
        // When each identify LED was first seen lit, for the timeout.
        let this = bays::table.filter(bays::enclosure_id.eq(enclosure_id));
        db_run!(c, c => diesel::update(this.filter(bays::locate.eq(true)).filter(bays::locate_since.is_null()))
            .set(bays::locate_since.eq(now))
            .execute(c))?;
        db_run!(c, c => diesel::update(this.filter(bays::locate.eq(false)))
            .set(bays::locate_since.eq(None::<NaiveDateTime>))
            .execute(c))?;
        // And when each fault LED was first seen lit, with the drive then in
        // the bay: the LED is for that drive.
        db_run!(c, c => diesel::update(this.filter(bays::fault.eq(true)).filter(bays::fault_since.is_null()))
            .set((bays::fault_since.eq(now), bays::fault_drive_id.eq(bays::drive_id)))
            .execute(c))?;
        db_run!(c, c => diesel::update(this.filter(bays::fault.eq(false)))
            .set((
                bays::fault_since.eq(None::<NaiveDateTime>),
                bays::fault_drive_id.eq(None::<i64>),
            ))
            .execute(c))?;
        // Slots beyond what the enclosure now reports are gone.
        db_run!(c, c => diesel::delete(
                bays::table
                    .filter(bays::enclosure_id.eq(enclosure_id))
                    .filter(bays::observed_at.ne(now)),
            )
            .execute(c))?;
    }
    db_run!(c, c => diesel::update(enclosures::table.filter(enclosures::observed_at.ne(now)))
        .set(enclosures::present.eq(false))
        .execute(c))?;
    record_observation(c, backend, None, now)
}

/// Notes when the observer last ran and, if it could not observe, why.
pub fn record_observation(
    c: &mut Conn<'_>,
    backend: &str,
    error: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let values = (
        observations::id.eq(1i64),
        observations::observed_at.eq(now),
        observations::backend.eq(backend),
        observations::error.eq(error),
    );
    db_run!(c, c => diesel::insert_into(observations::table)
        .values(values)
        .on_conflict(observations::id)
        .do_update()
        .set(values)
        .execute(c))?;
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = observations)]
pub struct Observation {
    #[serde(skip)]
    pub id: i64,
    #[serde(serialize_with = "super::utc")]
    pub observed_at: NaiveDateTime,
    pub backend: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = enclosures)]
pub struct EnclosureRow {
    pub id: i64,
    pub ident: String,
    pub vendor: String,
    pub product: String,
    pub label: String,
    pub slot_count: i32,
    pub present: bool,
    #[serde(serialize_with = "super::utc")]
    pub observed_at: NaiveDateTime,
    /// "sysfs", "sg_ses" or "sim".
    pub method: String,
    pub note: Option<String>,
    /// The other elements, as JSON: see [`EnclosureRow::elements`].
    #[serde(skip)]
    pub elements: String,
}

impl EnclosureRow {
    /// Power supplies, fans, sensors, ... as last observed.
    pub fn elements(&self) -> Vec<crate::domain::Element> {
        serde_json::from_str(&self.elements).unwrap_or_default()
    }

    /// How the console reaches this enclosure, in words.
    pub fn method_words(&self) -> &'static str {
        match self.method.as_str() {
            "sg_ses" => "read and lit with sg_ses (SES commands)",
            "sim" => "simulated",
            _ => "read and lit through the kernel (sysfs)",
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = bays)]
pub struct BayRow {
    pub id: i64,
    pub enclosure_id: i64,
    pub slot: i32,
    pub label: String,
    pub drive_id: Option<i64>,
    pub status: String,
    pub locate: bool,
    pub fault: bool,
    #[serde(serialize_with = "super::utc")]
    pub observed_at: NaiveDateTime,
    #[serde(serialize_with = "super::utc_opt")]
    pub locate_since: Option<NaiveDateTime>,
    #[serde(serialize_with = "super::utc_opt")]
    pub fault_since: Option<NaiveDateTime>,
    pub fault_drive_id: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = drives)]
pub struct DriveRow {
    pub id: i64,
    pub ident: String,
    pub serial: String,
    pub wwn: Option<String>,
    pub vendor: String,
    pub model: String,
    pub size_bytes: i64,
    pub rotational: bool,
    pub transport: String,
    pub dev_name: Option<String>,
    pub by_id: Option<String>,
    pub health: String,
    pub health_reason: String,
    pub temperature_c: Option<i32>,
    pub power_on_hours: Option<i64>,
    pub present: bool,
    #[serde(serialize_with = "super::utc")]
    pub first_seen_at: NaiveDateTime,
    #[serde(serialize_with = "super::utc")]
    pub observed_at: NaiveDateTime,
    /// When Baystack last started a short or long self-test on it.
    #[serde(serialize_with = "super::utc_opt")]
    pub short_test_at: Option<NaiveDateTime>,
    #[serde(serialize_with = "super::utc_opt")]
    pub long_test_at: Option<NaiveDateTime>,
    /// I/O errors the kernel logged against it since Baystack began reading
    /// the log for it (this boot's log as far back as it goes, at first):
    /// medium errors, and the rest.
    pub medium_errors: i64,
    pub io_errors: i64,
    /// The last of them, as the kernel wrote it, and when.
    pub last_io_error: Option<String>,
    #[serde(serialize_with = "super::utc_opt")]
    pub last_io_error_at: Option<NaiveDateTime>,
    /// The bay it was last seen in, as bays are named ("Front 12-bay,
    /// slot 5"); kept when it is pulled.
    pub last_bay: Option<String>,
    /// What the observer last saw written on it, one per line.
    #[serde(skip)]
    pub signatures: String,
}

impl DriveRow {
    /// How a job names the drive to an engine.
    pub fn drive_ref(&self) -> crate::domain::pool::DriveRef {
        crate::domain::pool::DriveRef {
            ident: self.ident.clone(),
            serial: self.serial.clone(),
            by_id: self.by_id.clone(),
            dev_name: self.dev_name.clone(),
        }
    }

    /// What is written on it that a new pool would destroy.
    pub fn signatures(&self) -> Vec<&str> {
        self.signatures.lines().filter(|l| !l.is_empty()).collect()
    }

    pub fn health(&self) -> Health {
        Health::parse(&self.health)
    }

    /// The newest self-test Baystack asked this drive for, and when.
    pub fn last_test_asked(&self) -> Option<(NaiveDateTime, crate::domain::SelfTestKind)> {
        use crate::domain::SelfTestKind;
        match (self.short_test_at, self.long_test_at) {
            (Some(s), Some(l)) if l >= s => Some((l, SelfTestKind::Long)),
            (Some(s), _) => Some((s, SelfTestKind::Short)),
            (None, Some(l)) => Some((l, SelfTestKind::Long)),
            (None, None) => None,
        }
    }

    /// How people tell the drive apart: "sda, Seagate ST4000NM0023
    /// Z1Z0A1B2" (the vendor once, where the model does not start with it).
    pub fn label(&self) -> String {
        format!(
            "{}, {} {}",
            self.dev_name.as_deref().unwrap_or("no device node"),
            self.make(),
            self.serial
        )
    }

    /// Vendor and model: "Seagate ST4000NM0023", "WDC WD40EFRX" (not
    /// "ATA WDC ...": the SCSI layer's "ATA" names no maker).
    pub fn make(&self) -> String {
        let vendor = self.vendor.trim();
        let model = self.model.trim();
        if vendor.is_empty()
            || vendor.eq_ignore_ascii_case("ata")
            || model
                .to_ascii_lowercase()
                .starts_with(&vendor.to_ascii_lowercase())
        {
            model.to_string()
        } else {
            format!("{vendor} {model}")
        }
    }
}

/// An enclosure with its bays and the drive in each, for pages.
#[derive(Debug, Clone, Serialize)]
pub struct EnclosureView {
    pub enclosure: EnclosureRow,
    pub bays: Vec<(BayRow, Option<DriveRow>)>,
}

impl EnclosureView {
    pub fn used(&self) -> usize {
        self.bays.iter().filter(|(_, d)| d.is_some()).count()
    }
}

/// An enclosure that was seen and is gone: its bays stay on the map as
/// missing, and the dashboard says so.
#[derive(Debug, Clone, Serialize)]
pub struct MissingEnclosure {
    /// `observed_at` is when it was last seen.
    pub enclosure: EnclosureRow,
    /// The drives that were in its bays.
    pub drives: usize,
}

/// What the dashboard shows.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub observation: Option<Observation>,
    /// Every enclosure seen, present ones and missing ones (see
    /// `EnclosureRow::present`), in the order first seen.
    pub enclosures: Vec<EnclosureView>,
    pub missing: Vec<MissingEnclosure>,
    pub bays_total: usize,
    pub bays_used: usize,
    pub drives_present: usize,
    pub healthy: usize,
    pub warning: usize,
    pub failing: usize,
    pub unknown: usize,
    /// Present drives that are in no enclosure bay (internal, unmapped).
    pub unbayed: usize,
    /// Drives needing attention, worst first.
    pub attention: Vec<DriveRow>,
}

pub fn summary(c: &mut Conn<'_>) -> QueryResult<Summary> {
    let observation: Option<Observation> = db_run!(c, c => observations::table
        .select(Observation::as_select())
        .first(c)
        .optional())?;
    let encl: Vec<EnclosureRow> = db_run!(c, c => enclosures::table
        .select(EnclosureRow::as_select())
        .order(enclosures::id.asc())
        .load(c))?;
    let bay_rows: Vec<(BayRow, Option<DriveRow>)> = db_run!(c, c => bays::table
        .left_join(drives::table)
        .select((BayRow::as_select(), Option::<DriveRow>::as_select()))
        .order((bays::enclosure_id.asc(), bays::slot.asc()))
        .load(c))?;
    let present: Vec<DriveRow> = db_run!(c, c => drives::table
        .filter(drives::present.eq(true))
        .select(DriveRow::as_select())
        .order(drives::id.asc())
        .load(c))?;

    let enclosures: Vec<EnclosureView> = encl
        .into_iter()
        .map(|e| {
            let bays = bay_rows
                .iter()
                .filter(|(b, _)| b.enclosure_id == e.id)
                .map(|(b, d)| (b.clone(), d.clone().filter(|d| d.present)))
                .collect();
            EnclosureView { enclosure: e, bays }
        })
        .collect();
    let missing = enclosures
        .iter()
        .filter(|e| !e.enclosure.present)
        .map(|e| MissingEnclosure {
            enclosure: e.enclosure.clone(),
            drives: e.bays.iter().filter(|(b, _)| b.drive_id.is_some()).count(),
        })
        .collect();
    let here = || enclosures.iter().filter(|e| e.enclosure.present);
    let bays_total = here().map(|e| e.bays.len()).sum();
    let bays_used = here().map(EnclosureView::used).sum();
    let count = |h: Health| present.iter().filter(|d| d.health() == h).count();
    let in_bays: Vec<i64> = enclosures
        .iter()
        .flat_map(|e| e.bays.iter().filter_map(|(_, d)| d.as_ref().map(|d| d.id)))
        .collect();
    let mut attention: Vec<DriveRow> = present
        .iter()
        .filter(|d| matches!(d.health(), Health::Warning | Health::Failing))
        .cloned()
        .collect();
    attention.sort_by_key(|d| std::cmp::Reverse(d.health()));
    Ok(Summary {
        observation,
        bays_total,
        bays_used,
        drives_present: present.len(),
        healthy: count(Health::Healthy),
        warning: count(Health::Warning),
        failing: count(Health::Failing),
        unknown: count(Health::Unknown),
        unbayed: present.iter().filter(|d| !in_bays.contains(&d.id)).count(),
        attention,
        enclosures,
        missing,
    })
}

/// Resource keys in words: `bay:<enclosure>:<slot>` as the bay is named
/// everywhere, `drive:<ident>` as its label.
pub fn resource_names(c: &mut Conn<'_>) -> QueryResult<std::collections::HashMap<String, String>> {
    let bays: Vec<(String, String, i32)> = db_run!(c, c => bays::table
        .inner_join(enclosures::table)
        .select((enclosures::ident, enclosures::label, bays::slot))
        .load(c))?;
    let drives: Vec<DriveRow> =
        db_run!(c, c => drives::table.select(DriveRow::as_select()).load(c))?;
    let mut names: std::collections::HashMap<String, String> = bays
        .into_iter()
        .map(|(ident, label, slot)| {
            (
                format!("bay:{ident}:{slot}"),
                crate::naming::bay_name(&label, slot),
            )
        })
        .collect();
    for d in drives {
        names.insert(format!("drive:{}", d.ident), format!("drive {}", d.label()));
    }
    Ok(names)
}

/// Forgets an enclosure that is gone for good (taken out of service, or
/// seen under another identifier since): it and its bays leave the map and
/// the dashboard. One still present cannot be forgotten. Audited.
pub fn forget_enclosure(
    c: &mut Conn<'_>,
    ident: &str,
    actor: &str,
    address: &str,
    now: NaiveDateTime,
) -> Result<EnclosureRow, crate::error::AppError> {
    use crate::error::AppError;
    let found: Option<EnclosureRow> = db_run!(c, c => enclosures::table
        .filter(enclosures::ident.eq(ident))
        .select(EnclosureRow::as_select())
        .first(c)
        .optional())?;
    let Some(e) = found else {
        return Err(AppError::NotFound(format!(
            "there is no enclosure {ident:?}; GET /api/v1/enclosures lists them"
        )));
    };
    if e.present {
        return Err(AppError::Conflict(format!(
            "{} is present; only a missing enclosure can be forgotten",
            e.label
        )));
    }
    db_run!(c, c => diesel::delete(enclosures::table.find(e.id)).execute(c))?;
    super::audit::record(
        c,
        &super::audit::Entry {
            actor: Some(actor),
            address: Some(address),
            action: "enclosure.forget",
            target: Some(&e.ident),
            outcome: super::audit::Outcome::Ok,
            detail: &format!(
                "{} ({} {}), missing since {}",
                e.label,
                e.vendor,
                e.product,
                super::rfc3339(&e.observed_at)
            ),
        },
        now,
    )?;
    Ok(e)
}

/// Every bay of every enclosure seen, with the drive in it; the bays of
/// an enclosure that is gone are kept (see [`bay_state`]).
pub fn bays(c: &mut Conn<'_>) -> QueryResult<Vec<(EnclosureRow, BayRow, Option<DriveRow>)>> {
    let rows: Vec<(BayRow, EnclosureRow, Option<DriveRow>)> = db_run!(c, c => bays::table
        .inner_join(enclosures::table)
        .left_join(drives::table)
        .select((BayRow::as_select(), EnclosureRow::as_select(), Option::<DriveRow>::as_select()))
        .order((enclosures::id.asc(), bays::slot.asc()))
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(b, e, d)| (e, b, d.filter(|d| d.present)))
        .collect())
}

/// What a bay shows, in one word: `missing` when its enclosure is gone,
/// `empty`, the drive's health (`healthy`, `warning`, `failing`,
/// `unknown`), `failed` when the enclosure itself reports the drive's
/// element critical or unrecoverable, or for an empty bay whose element is
/// in some other state, that state.
pub fn bay_state(enclosure: &EnclosureRow, bay: &BayRow, drive: Option<&DriveRow>) -> String {
    if !enclosure.present {
        return "missing".into();
    }
    let status = bay.status.to_ascii_lowercase();
    match drive {
        Some(_) if status == "critical" || status == "unrecoverable" => "failed".into(),
        Some(d) => d.health.clone(),
        None if status == "not installed" || status == "ok" => "empty".into(),
        None => status,
    }
}

/// Where a drive sits: its bay, and its enclosure's label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub bay: BayAddr,
    pub enclosure_label: String,
}

impl Place {
    fn from_row((enclosure, enclosure_label, slot): (String, String, i32)) -> Self {
        Place {
            bay: BayAddr::from_row(enclosure, slot),
            enclosure_label,
        }
    }

    /// "Front 12-bay, slot 5".
    pub fn name(&self) -> String {
        crate::naming::bay_name(&self.enclosure_label, self.bay.slot)
    }
}

/// Every enclosure seen, present or gone, in the order first seen.
pub fn enclosures(c: &mut Conn<'_>) -> QueryResult<Vec<EnclosureRow>> {
    db_run!(c, c => enclosures::table
        .select(EnclosureRow::as_select())
        .order(enclosures::id.asc())
        .load(c))
}

/// Every drive seen (present or gone), with the bay it is in.
pub fn drives(c: &mut Conn<'_>) -> QueryResult<Vec<(DriveRow, Option<Place>)>> {
    let rows: Vec<DriveRow> = db_run!(c, c => drives::table
        .order((drives::present.desc(), drives::dev_name.asc(), drives::id.asc()))
        .select(DriveRow::as_select())
        .load(c))?;
    let places: Vec<(i64, String, String, i32)> = db_run!(c, c => bays::table
        .inner_join(enclosures::table)
        .filter(bays::drive_id.is_not_null())
        .select((bays::drive_id.assume_not_null(), enclosures::ident, enclosures::label, bays::slot))
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|d| {
            let place = places
                .iter()
                .find(|p| p.0 == d.id)
                .map(|p| Place::from_row((p.1.clone(), p.2.clone(), p.3)));
            (d, place)
        })
        .collect())
}

/// One drive and its bay.
pub fn drive(c: &mut Conn<'_>, id: i64) -> QueryResult<Option<(DriveRow, Option<Place>)>> {
    let row: Option<DriveRow> = db_run!(c, c => drives::table
        .find(id)
        .select(DriveRow::as_select())
        .first(c)
        .optional())?;
    let Some(row) = row else { return Ok(None) };
    let place: Option<(String, String, i32)> = db_run!(c, c => bays::table
        .inner_join(enclosures::table)
        .filter(bays::drive_id.eq(id))
        .select((enclosures::ident, enclosures::label, bays::slot))
        .first(c)
        .optional())?;
    Ok(Some((row, place.map(Place::from_row))))
}

/// One bay by its enclosure's identifier and its slot number.
pub fn find_bay(
    c: &mut Conn<'_>,
    enclosure: &str,
    slot: i32,
) -> QueryResult<Option<(EnclosureRow, Option<BayRow>)>> {
    let encl: Option<EnclosureRow> = db_run!(c, c => enclosures::table
        .filter(enclosures::ident.eq(enclosure))
        .filter(enclosures::present.eq(true))
        .select(EnclosureRow::as_select())
        .first(c)
        .optional())?;
    let Some(encl) = encl else {
        return Ok(None);
    };
    let bay: Option<BayRow> = db_run!(c, c => bays::table
        .filter(bays::enclosure_id.eq(encl.id))
        .filter(bays::slot.eq(slot))
        .select(BayRow::as_select())
        .first(c)
        .optional())?;
    Ok(Some((encl, bay)))
}

/// Whether an unfinished job holds the resource, or a job that failed
/// part-way left it blocked: either way, no automatic job should be asked
/// for it now.
pub fn resource_busy(c: &mut Conn<'_>, key: &str) -> QueryResult<bool> {
    use super::schema::{blocked_resources, open_resources};
    let busy: Option<i64> = db_run!(c, c => open_resources::table
        .filter(open_resources::resource.eq(key))
        .select(open_resources::job_id)
        .first(c)
        .optional())?;
    let blocked: Option<i64> = db_run!(c, c => blocked_resources::table
        .filter(blocked_resources::resource.eq(key))
        .select(blocked_resources::job_id)
        .first(c)
        .optional())?;
    Ok(busy.is_some() || blocked.is_some())
}

/// Every present drive with its newest kept SMART reading: what the SMART
/// poller needs to follow up the drives' self-tests.
pub fn present_with_readings(
    c: &mut Conn<'_>,
) -> QueryResult<Vec<(DriveRow, Option<super::smart::Reading>)>> {
    let rows: Vec<DriveRow> = db_run!(c, c => drives::table
        .filter(drives::present.eq(true))
        .order(drives::id)
        .select(DriveRow::as_select())
        .load(c))?;
    let mut out = Vec::with_capacity(rows.len());
    for d in rows {
        let newest = super::smart::newest_reading(c, d.id)?;
        out.push((d, newest));
    }
    Ok(out)
}

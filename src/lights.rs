//! The agent's own light changes, after each observation: an identify LED
//! lit too long goes dark, and a fault LED follows the drive in its bay.
//! Each change is a job like any other, enqueued and audited as
//! [`SYSTEM_ACTOR`], and never for a bay a job is already about to change.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::inventory::resource_busy;
use crate::db::schema::{bays, drives, enclosures, pool_removals};
use crate::db::{self, Conn, Db};
use crate::db_run;
use crate::domain::health::Health;
use crate::domain::{BayAddr, Led};
use crate::error::AppError;
use crate::jobs::{self, kinds};

/// Who the agent's own jobs say asked for them.
pub use crate::jobs::SYSTEM_ACTOR;

/// Enqueues every light change due; returns how many.
pub fn follow(db: &Db, locate_off_after: Duration) -> Result<usize, AppError> {
    Ok(darken_stale_locates(db, locate_off_after)? + follow_drive_health(db)?)
}

fn enqueue(c: &mut Conn<'_>, led: Led, bay: &LitBay, on: bool, why: &str) -> Result<(), AppError> {
    let spec = kinds::bay_led(led, &bay.bay, &bay.enclosure_label, on);
    jobs::enqueue_audited(c, &spec, SYSTEM_ACTOR, None, None, Some(why))?;
    Ok(())
}

/// Turns off each identify LED lit for longer than `after`, so lights are
/// not left on for weeks.
pub fn darken_stale_locates(db: &Db, after: Duration) -> Result<usize, AppError> {
    let lit_before = db::now() - chrono::Duration::from_std(after).unwrap_or(chrono::Duration::MAX);
    let why = format!("lit for more than {} min", after.as_secs() / 60);
    db.get()?.write(|c| -> Result<usize, AppError> {
        let stale = stale_locates(c, lit_before)?;
        for bay in &stale {
            enqueue(c, Led::Locate, bay, false, &why)?;
        }
        Ok(stale.len())
    })
}

/// Lights the fault LED of each bay whose drive is failing, and clears it
/// once the bay holds another drive, a healthy one.
pub fn follow_drive_health(db: &Db) -> Result<usize, AppError> {
    db.get()?.write(|c| -> Result<usize, AppError> {
        let (light, clear) = fault_changes(c)?;
        for bay in &light {
            enqueue(c, Led::Fault, bay, true, &bay.why)?;
        }
        for bay in &clear {
            enqueue(c, Led::Fault, bay, false, &bay.why)?;
        }
        Ok(light.len() + clear.len())
    })
}

/// A bay an automatic light change may apply to.
#[derive(Debug, Clone)]
pub struct LitBay {
    pub bay: BayAddr,
    pub enclosure_label: String,
    /// What the drive in it is, in words, where that matters.
    pub why: String,
}

fn lit_bay(
    c: &mut Conn<'_>,
    (enclosure, enclosure_label, slot): (String, String, i32),
    why: String,
) -> QueryResult<Option<LitBay>> {
    let bay = BayAddr::from_row(enclosure, slot);
    // Not for a bay an unfinished job holds: it will change it anyway.
    Ok((!resource_busy(c, &bay.resource())?).then_some(LitBay {
        bay,
        enclosure_label,
        why,
    }))
}

/// Bays whose identify LED has been lit since before `lit_before` and that
/// no unfinished job is about to change.
pub fn stale_locates(c: &mut Conn<'_>, lit_before: NaiveDateTime) -> QueryResult<Vec<LitBay>> {
    let lit: Vec<(String, String, i32)> = db_run!(c, c => bays::table
        .inner_join(enclosures::table)
        .filter(bays::locate.eq(true))
        .filter(bays::locate_since.lt(lit_before))
        .filter(enclosures::present.eq(true))
        .select((enclosures::ident, enclosures::label, bays::slot))
        .load(c))?;
    let mut out = Vec::new();
    for bay in lit {
        out.extend(lit_bay(c, bay, String::new())?);
    }
    Ok(out)
}

/// A bay of a present enclosure whose fault LED is dark: its enclosure's
/// label, and the drive in it.
fn dark_bay(
    c: &mut Conn<'_>,
    enclosure: &str,
    slot: i32,
) -> QueryResult<Option<(String, Option<i64>)>> {
    db_run!(c, c => bays::table
        .inner_join(enclosures::table)
        .filter(enclosures::ident.eq(enclosure))
        .filter(bays::slot.eq(slot))
        .filter(bays::fault.eq(false))
        .filter(enclosures::present.eq(true))
        .select((enclosures::label, bays::drive_id))
        .first(c)
        .optional())
}

/// Bays whose fault LED should follow the drive in them: dark bays holding
/// a failing drive (to light), and lit bays that now hold another drive, a
/// healthy one (to clear). A fault LED an operator lit over a healthy drive
/// stays until that drive is replaced or the operator clears it.
pub fn fault_changes(c: &mut Conn<'_>) -> QueryResult<(Vec<LitBay>, Vec<LitBay>)> {
    type Row = (String, String, i32, String, String, String);
    let failing: Vec<Row> = db_run!(c, c => bays::table
        .inner_join(enclosures::table)
        .inner_join(drives::table)
        .filter(bays::fault.eq(false))
        .filter(drives::health.eq(Health::Failing.as_str()))
        .filter(enclosures::present.eq(true))
        .select((enclosures::ident, enclosures::label, bays::slot, drives::serial, drives::health_reason, drives::model))
        .load(c))?;
    let replaced: Vec<Row> = db_run!(c, c => bays::table
        .inner_join(enclosures::table)
        .inner_join(drives::table)
        .filter(bays::fault.eq(true))
        .filter(drives::health.eq(Health::Healthy.as_str()))
        .filter(
            bays::fault_drive_id
                .is_null()
                .or(bays::fault_drive_id.ne(bays::drive_id)),
        )
        .filter(enclosures::present.eq(true))
        .select((enclosures::ident, enclosures::label, bays::slot, drives::serial, drives::health_reason, drives::model))
        .load(c))?;
    // A member md marked faulty lights its bay too, whatever its SMART
    // says: md failed it on I/O errors, and it is to be replaced.
    let mut faulty: Vec<(String, String)> = Vec::new();
    for p in crate::db::pools::list(c)? {
        if let Some(array) = p.array() {
            faulty.extend(
                array
                    .members
                    .iter()
                    .filter(|m| m.role == crate::domain::pool::MemberRole::Faulty)
                    .map(|m| (m.device.clone(), p.name.clone())),
            );
        }
    }
    let mut failed_by_md: Vec<(Row, String)> = Vec::new();
    for (dev, pool) in faulty {
        let row: Option<Row> = db_run!(c, c => bays::table
            .inner_join(enclosures::table)
            .inner_join(drives::table)
            .filter(bays::fault.eq(false))
            .filter(drives::present.eq(true))
            .filter(drives::dev_name.eq(&dev))
            .filter(drives::health.ne(Health::Failing.as_str()))
            .filter(enclosures::present.eq(true))
            .select((enclosures::ident, enclosures::label, bays::slot, drives::serial, drives::health_reason, drives::model))
            .first(c)
            .optional())?;
        failed_by_md.extend(row.map(|r| (r, pool)));
    }
    let mut light = Vec::new();
    for ((e, l, slot, serial, _, model), pool) in failed_by_md {
        light.extend(lit_bay(
            c,
            (e, l, slot),
            format!("md marked {model} {serial} faulty in pool {pool}"),
        )?);
    }
    // A member pulled from a degraded pool lights the bay it left, while
    // that bay stays empty.
    for crate::db::pools::MissingMember {
        pool,
        serial,
        model,
        enclosure: e,
        slot,
    } in crate::db::pools::missing_members(c)?
    {
        if let Some((label, None)) = dark_bay(c, &e, slot)? {
            light.extend(lit_bay(
                c,
                (e, label, slot),
                format!("{model} {serial} left pool {pool}, which is degraded without it"),
            )?);
        }
    }
    for (e, l, slot, serial, reason, model) in failing {
        light.extend(lit_bay(
            c,
            (e, l, slot),
            format!("{model} {serial} is failing: {reason}"),
        )?);
    }
    // A bay a pool's drive was taken out of stays lit until its flow is
    // settled: the pool clean again, with the old drive gone from it.
    let open: Vec<(String, i32, String)> = crate::db::pools::all_open_removals(c)?
        .into_iter()
        .filter_map(|(r, pool)| Some((r.enclosure?, r.slot?, pool)))
        .collect();
    let is_open = |e: &str, slot: i32| open.iter().any(|(oe, os, _)| oe == e && *os == slot);
    let settled: Vec<(Option<String>, Option<i32>)> = db_run!(c, c => pool_removals::table
        .filter(pool_removals::settled_at.is_not_null())
        .select((pool_removals::enclosure, pool_removals::slot))
        .load(c))?;
    let lit_empty: Vec<(String, String, i32)> = db_run!(c, c => bays::table
        .inner_join(enclosures::table)
        .filter(bays::fault.eq(true))
        .filter(bays::drive_id.is_null())
        .filter(enclosures::present.eq(true))
        .select((enclosures::ident, enclosures::label, bays::slot))
        .load(c))?;
    let settled_empty = lit_empty.into_iter().filter(|(e, _, slot)| {
        settled
            .iter()
            .any(|(se, ss)| se.as_deref() == Some(e.as_str()) && *ss == Some(*slot))
    });
    for (e, slot, pool) in &open {
        let (e, slot) = (e.clone(), *slot);
        if let Some((label, _)) = dark_bay(c, &e, slot)?
            && !light
                .iter()
                .any(|b| b.bay.enclosure == e && i32::try_from(b.bay.slot).ok() == Some(slot))
        {
            light.extend(lit_bay(
                c,
                (e, label, slot),
                format!("a drive was taken out of pool {pool} here; the bay stays lit until the pool is clean"),
            )?);
        }
    }
    let mut clear = Vec::new();
    for (e, l, slot) in settled_empty {
        if is_open(&e, slot) {
            continue;
        }
        clear.extend(lit_bay(
            c,
            (e, l, slot),
            "the drive taken out of it is replaced and its pool is clean".into(),
        )?);
    }
    for (e, l, slot, serial, _, model) in replaced {
        if is_open(&e, slot) {
            continue;
        }
        clear.extend(lit_bay(
            c,
            (e, l, slot),
            format!("the bay now holds {model} {serial}, a healthy drive"),
        )?);
    }
    Ok((light, clear))
}

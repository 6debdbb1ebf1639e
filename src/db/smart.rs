//! A drive's SMART readings and what the kernel logged against it: which
//! readings are kept, the verdict they make with the logged I/O errors, the
//! kept history, and the place in each boot's kernel log.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::Conn;
use super::schema::{drives, kernel_log_cursors, smart_samples};
use crate::db_run;
use crate::domain::health::{Health, verdict};
use crate::domain::{KernelIoError, Smart};

/// A new drive's verdict until its SMART is read.
pub(super) const NOT_READ_YET: &str = "SMART not read yet";

/// Which SMART readings are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Every one: the scheduled round, an operator's "read now", the
    /// reading when a self-test should have ended.
    Always,
    /// Only one that says something the last kept one did not
    /// ([`crate::domain::health::says_more`]): the observer's, and those
    /// taken while a self-test runs.
    IfNews,
}

/// Keeps a drive's SMART reading (see [`Keep`]) with its verdict, against
/// the last kept reading (so a count that grew says so), and makes it the
/// drive's: its verdict, temperature and hours. A reading not kept changes
/// nothing, so the drive's verdict, its page's table and its history's
/// newest row are always one reading, with its time. The verdict kept, or
/// `None` when the reading was not.
pub fn apply_smart(
    c: &mut Conn<'_>,
    drive_id: i64,
    smart: &Smart,
    now: NaiveDateTime,
    keep: Keep,
) -> QueryResult<Option<(Health, String)>> {
    let before = last_smart(c, drive_id)?;
    if keep == Keep::IfNews
        && before
            .as_ref()
            .is_some_and(|b| !crate::domain::health::says_more(b, smart))
    {
        return Ok(None);
    }
    let (health, reason) = verdict(smart, before.as_ref());
    db_run!(c, c => diesel::insert_into(smart_samples::table)
        .values((
            smart_samples::drive_id.eq(drive_id),
            smart_samples::at.eq(now),
            smart_samples::health.eq(health.as_str()),
            smart_samples::reason.eq(&reason),
            smart_samples::temperature_c.eq(smart.temperature_c),
            smart_samples::power_on_hours.eq(smart.power_on_hours),
            smart_samples::data.eq(serde_json::to_string(smart).expect("SMART serializes")),
        ))
        .execute(c))?;
    // The drive's row first: on PostgreSQL that waits for an agent counting
    // errors against it to commit, so the counts read next are current.
    db_run!(c, c => diesel::update(drives::table.find(drive_id))
        .set((
            drives::temperature_c.eq(smart.temperature_c),
            drives::power_on_hours.eq(smart.power_on_hours),
        ))
        .execute(c))?;
    let (health, reason) = with_logged_errors(c, drive_id, health, reason)?;
    db_run!(c, c => diesel::update(drives::table.find(drive_id))
        .set((
            drives::health.eq(health.as_str()),
            drives::health_reason.eq(&reason),
        ))
        .execute(c))?;
    Ok(Some((health, reason)))
}

/// A drive's verdict from its SMART, with the I/O errors the kernel logged
/// against it counted in.
fn with_logged_errors(
    c: &mut Conn<'_>,
    drive_id: i64,
    health: Health,
    reason: String,
) -> QueryResult<(Health, String)> {
    let (medium, other): (i64, i64) = db_run!(c, c => drives::table
        .find(drive_id)
        .select((drives::medium_errors, drives::io_errors))
        .first(c))?;
    Ok(crate::domain::health::with_kernel_errors(
        (health, reason),
        medium,
        other,
    ))
}

/// How far the kernel log of boot `boot` has been read: the first record
/// not read yet.
pub fn kernel_log_cursor(c: &mut Conn<'_>, boot: &str) -> QueryResult<Option<u64>> {
    let next: Option<i64> = db_run!(c, c => kernel_log_cursors::table
        .find(boot)
        .select(kernel_log_cursors::next_seq)
        .first(c)
        .optional())?;
    Ok(next.map(|n| n.max(0) as u64))
}

/// Moves the cursor of boot `boot`'s log from `from` (as
/// [`kernel_log_cursor`] gave it) to `next`, in one conditional statement:
/// false if another agent moved it first, and then what this one read is
/// its to count, not ours (what it did not read is read again next time).
pub fn advance_kernel_log(
    c: &mut Conn<'_>,
    boot: &str,
    from: Option<u64>,
    next: u64,
) -> QueryResult<bool> {
    let seq = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let moved = match from {
        Some(from) => db_run!(c, c => diesel::update(kernel_log_cursors::table
            .filter(kernel_log_cursors::boot_id.eq(boot))
            .filter(kernel_log_cursors::next_seq.eq(seq(from))))
            .set(kernel_log_cursors::next_seq.eq(seq(next)))
            .execute(c))?,
        None => db_run!(c, c => diesel::insert_into(kernel_log_cursors::table)
            .values((
                kernel_log_cursors::boot_id.eq(boot),
                kernel_log_cursors::next_seq.eq(seq(next)),
            ))
            .on_conflict_do_nothing()
            .execute(c))?,
    };
    Ok(moved == 1)
}

/// Counts each error against the drive that has its kernel name now, and
/// keeps the last one's line. Adds the drives counted against to
/// `counted`, one entry per error, and returns the errors no drive has the
/// name of.
pub fn count_io_errors<'e>(
    c: &mut Conn<'_>,
    errors: impl IntoIterator<Item = &'e KernelIoError>,
    counted: &mut Vec<i64>,
) -> QueryResult<Vec<&'e KernelIoError>> {
    let mut unmatched = Vec::new();
    for e in errors {
        let id: Option<i64> = db_run!(c, c => diesel::update(drives::table
            .filter(drives::dev_name.eq(&e.dev)))
            .set((
                drives::medium_errors.eq(drives::medium_errors + i64::from(e.medium)),
                drives::io_errors.eq(drives::io_errors + i64::from(!e.medium)),
                drives::last_io_error.eq(&e.line),
                drives::last_io_error_at.eq(e.at),
            ))
            .returning(drives::id)
            .get_result(c)
            .optional())?;
        match id {
            Some(id) => counted.push(id),
            None => unmatched.push(e),
        }
    }
    Ok(unmatched)
}

/// Sets each drive's verdict anew: its last SMART reading's, with the I/O
/// errors counted against it.
pub fn refresh_health(c: &mut Conn<'_>, drive_ids: &[i64]) -> QueryResult<()> {
    let mut done: Vec<i64> = Vec::new();
    for &id in drive_ids {
        if done.contains(&id) {
            continue;
        }
        done.push(id);
        let smart: Option<(String, String)> = db_run!(c, c => smart_samples::table
            .filter(smart_samples::drive_id.eq(id))
            .order(smart_samples::at.desc())
            .select((smart_samples::health, smart_samples::reason))
            .first(c)
            .optional())?;
        let (health, reason) = smart
            .map(|(h, r)| (Health::parse(&h), r))
            .unwrap_or((Health::Unknown, NOT_READ_YET.into()));
        let (health, reason) = with_logged_errors(c, id, health, reason)?;
        db_run!(c, c => diesel::update(drives::table.find(id))
            .set((drives::health.eq(health.as_str()), drives::health_reason.eq(&reason)))
            .execute(c))?;
    }
    Ok(())
}

/// A drive's newest kept SMART reading and when it was read.
pub fn newest_reading(c: &mut Conn<'_>, drive_id: i64) -> QueryResult<Option<Reading>> {
    let row: Option<(NaiveDateTime, String)> = db_run!(c, c => smart_samples::table
        .filter(smart_samples::drive_id.eq(drive_id))
        .order(smart_samples::at.desc())
        .select((smart_samples::at, smart_samples::data))
        .first(c)
        .optional())?;
    Ok(row.and_then(|(at, d)| Some((at, serde_json::from_str(&d).ok()?))))
}

/// A kept SMART reading and when it was read.
pub type Reading = (NaiveDateTime, Smart);

/// A drive's last kept SMART reading.
pub fn last_smart(c: &mut Conn<'_>, drive_id: i64) -> QueryResult<Option<Smart>> {
    let data: Option<String> = db_run!(c, c => smart_samples::table
        .filter(smart_samples::drive_id.eq(drive_id))
        .order(smart_samples::at.desc())
        .select(smart_samples::data)
        .first(c)
        .optional())?;
    Ok(data.and_then(|d| serde_json::from_str(&d).ok()))
}

/// One kept SMART reading.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = smart_samples)]
pub struct SampleRow {
    #[serde(serialize_with = "super::utc")]
    pub at: NaiveDateTime,
    pub health: String,
    pub reason: String,
    pub temperature_c: Option<i32>,
    pub power_on_hours: Option<i64>,
    #[serde(skip)]
    pub data: String,
}

/// A drive's SMART history, newest first, at most `limit` readings.
pub fn smart_history(c: &mut Conn<'_>, drive_id: i64, limit: i64) -> QueryResult<Vec<SampleRow>> {
    db_run!(c, c => smart_samples::table
        .filter(smart_samples::drive_id.eq(drive_id))
        .order(smart_samples::at.desc())
        .limit(limit)
        .select(SampleRow::as_select())
        .load(c))
}

/// Notes that Baystack asked drive `id` for a `kind` self-test at `now`.
pub fn mark_self_test(
    c: &mut Conn<'_>,
    id: i64,
    kind: crate::domain::SelfTestKind,
    now: NaiveDateTime,
) -> QueryResult<()> {
    use crate::domain::SelfTestKind;
    let drive = drives::table.find(id);
    match kind {
        SelfTestKind::Short => db_run!(c, c => diesel::update(drive)
            .set(drives::short_test_at.eq(now))
            .execute(c)),
        SelfTestKind::Long => db_run!(c, c => diesel::update(drive)
            .set(drives::long_test_at.eq(now))
            .execute(c)),
    }?;
    Ok(())
}

//! Pools: what was asked for (written by the web with the create job) and
//! what the agent last saw of each one's array and volume group.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::Conn;
use super::inventory::DriveRow;
use super::schema::{bays, drives, enclosures, pool_members, pool_removals, pools, scrubs};
use crate::db_run;
use crate::domain::pool::{Array, VolumeGroup};

/// A pool as recorded.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = pools)]
pub struct PoolRow {
    pub id: i64,
    pub name: String,
    pub level: String,
    pub write_hole: String,
    pub chunk_kib: i32,
    pub uuid: Option<String>,
    /// `creating` until its create job ends, then `ready`; `deleting`
    /// while its delete job runs.
    pub lifecycle: String,
    pub scrub_every_days: i32,
    pub created_by: String,
    #[serde(serialize_with = "super::utc")]
    pub created_at: NaiveDateTime,
    #[serde(skip)]
    pub observed: Option<String>,
    #[serde(skip)]
    pub vg: Option<String>,
    #[serde(serialize_with = "super::utc_opt")]
    pub observed_at: Option<NaiveDateTime>,
    /// Its thin pool as the agent last saw it.
    #[serde(skip)]
    pub thin: Option<String>,
}

impl PoolRow {
    /// Its thin pool (volumes' `baystack_thin`) as the agent last saw it.
    pub fn thin_pool(&self) -> Option<crate::domain::pool::LogicalVolume> {
        serde_json::from_str(self.thin.as_deref()?).ok()
    }

    /// The array as the agent last saw it.
    pub fn array(&self) -> Option<Array> {
        serde_json::from_str(self.observed.as_deref()?).ok()
    }

    /// Its volume group as the agent last saw it.
    pub fn volume_group(&self) -> Option<VolumeGroup> {
        serde_json::from_str(self.vg.as_deref()?).ok()
    }
}

/// A drive of a pool, in the role it was given.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = pool_members)]
pub struct MemberRow {
    pub pool_id: i64,
    pub drive_id: i64,
    /// `member`, `spare` or `journal`.
    pub role: String,
    /// Its place among the members, in the order they were given.
    pub position: i32,
}

/// One check or repair of a pool.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = scrubs)]
pub struct ScrubRow {
    pub id: i64,
    pub pool_id: i64,
    pub job_id: Option<i64>,
    pub repair: bool,
    #[serde(serialize_with = "super::utc")]
    pub started_at: NaiveDateTime,
    #[serde(serialize_with = "super::utc_opt")]
    pub finished_at: Option<NaiveDateTime>,
    pub mismatches: Option<i64>,
    pub result: Option<String>,
}

/// A drive taken out of a pool, and the bay it sat in.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = pool_removals)]
pub struct RemovalRow {
    pub id: i64,
    pub pool_id: i64,
    pub drive_id: i64,
    /// The enclosure's ident and the slot it sat in, where it sat in one.
    pub enclosure: Option<String>,
    pub slot: Option<i32>,
    pub reason: String,
    #[serde(serialize_with = "super::utc")]
    pub removed_at: NaiveDateTime,
    pub replaced_by: Option<i64>,
    /// When the pool was seen clean again with the drive gone from its
    /// bay: the flow for this drive is over and its bay's LED may go dark.
    #[serde(serialize_with = "super::utc_opt")]
    pub settled_at: Option<NaiveDateTime>,
    pub verdict: Option<String>,
    #[serde(serialize_with = "super::utc_opt")]
    pub verdict_at: Option<NaiveDateTime>,
}

/// A pool to record, with the drives it is made of.
#[derive(Debug, Clone)]
pub struct NewPool<'a> {
    pub name: &'a str,
    pub level: &'a str,
    pub write_hole: &'a str,
    pub chunk_kib: i32,
    pub scrub_every_days: i32,
    pub created_by: &'a str,
    /// (drive id, role), members in slot order first.
    pub drives: Vec<(i64, &'static str)>,
}

/// Records a new pool and its drives. A name taken, or a drive already in
/// a pool, fails on a unique index: the caller says which in words.
pub fn insert(c: &mut Conn<'_>, p: &NewPool<'_>, now: NaiveDateTime) -> QueryResult<i64> {
    let id: i64 = db_run!(c, c => diesel::insert_into(pools::table)
        .values((
            pools::name.eq(p.name),
            pools::level.eq(p.level),
            pools::write_hole.eq(p.write_hole),
            pools::chunk_kib.eq(p.chunk_kib),
            pools::lifecycle.eq("creating"),
            pools::scrub_every_days.eq(p.scrub_every_days),
            pools::created_by.eq(p.created_by),
            pools::created_at.eq(now),
        ))
        .returning(pools::id)
        .get_result(c))?;
    let rows: Vec<_> = p
        .drives
        .iter()
        .enumerate()
        .map(|(i, (drive, role))| {
            (
                pool_members::pool_id.eq(id),
                pool_members::drive_id.eq(*drive),
                pool_members::role.eq(*role),
                pool_members::position.eq(i32::try_from(i).unwrap_or(i32::MAX)),
            )
        })
        .collect();
    db_run!(c, c => diesel::insert_into(pool_members::table).values(&rows).execute(c))?;
    Ok(id)
}

/// Gives a pool one more drive (a spare, a member grown in, or the drive a
/// member is rebuilt onto), after the ones it has; already there, its role
/// is set.
pub fn add_drive(c: &mut Conn<'_>, pool_id: i64, drive_id: i64, role: &str) -> QueryResult<()> {
    let n = db_run!(c, c => diesel::update(
        pool_members::table
            .filter(pool_members::pool_id.eq(pool_id))
            .filter(pool_members::drive_id.eq(drive_id)),
    )
    .set(pool_members::role.eq(role))
    .execute(c))?;
    if n > 0 {
        return Ok(());
    }
    let last: Option<i32> = db_run!(c, c => pool_members::table
        .filter(pool_members::pool_id.eq(pool_id))
        .select(diesel::dsl::max(pool_members::position))
        .first(c))?;
    db_run!(c, c => diesel::insert_into(pool_members::table)
        .values((
            pool_members::pool_id.eq(pool_id),
            pool_members::drive_id.eq(drive_id),
            pool_members::role.eq(role),
            pool_members::position.eq(last.map_or(0, |p| p + 1)),
        ))
        .execute(c))?;
    Ok(())
}

/// Takes a drive out of a pool's record.
pub fn drop_drive(c: &mut Conn<'_>, pool_id: i64, drive_id: i64) -> QueryResult<usize> {
    db_run!(c, c => diesel::delete(
        pool_members::table
            .filter(pool_members::pool_id.eq(pool_id))
            .filter(pool_members::drive_id.eq(drive_id)),
    )
    .execute(c))
}

/// Takes a drive out of a pool's record and keeps, with why, the bay it
/// sat in (where it sits in one now, or last sat).
pub fn record_removal(
    c: &mut Conn<'_>,
    pool_id: i64,
    drive_id: i64,
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    drop_drive(c, pool_id, drive_id)?;
    let bay: Option<(String, i32)> = db_run!(c, c => bays::table
        .inner_join(enclosures::table)
        .filter(bays::drive_id.eq(drive_id))
        .select((enclosures::ident, bays::slot))
        .first(c)
        .optional())?;
    let bay = match bay {
        Some(b) => Some(b),
        None => last_bay_of(c, drive_id)?,
    };
    let open: i64 = db_run!(c, c => pool_removals::table
        .filter(pool_removals::pool_id.eq(pool_id))
        .filter(pool_removals::drive_id.eq(drive_id))
        .filter(pool_removals::settled_at.is_null())
        .count()
        .get_result(c))?;
    if open > 0 {
        return Ok(());
    }
    db_run!(c, c => diesel::insert_into(pool_removals::table)
        .values((
            pool_removals::pool_id.eq(pool_id),
            pool_removals::drive_id.eq(drive_id),
            pool_removals::enclosure.eq(bay.as_ref().map(|b| b.0.as_str())),
            pool_removals::slot.eq(bay.as_ref().map(|b| b.1)),
            pool_removals::reason.eq(reason),
            pool_removals::removed_at.eq(now),
        ))
        .execute(c))?;
    Ok(())
}

/// The bay a drive no longer in one last sat in: the bay whose fault LED
/// was lit for it, or the one its last bay's name reads as.
pub fn last_bay_of(c: &mut Conn<'_>, drive_id: i64) -> QueryResult<Option<(String, i32)>> {
    let lit: Option<(String, i32)> = db_run!(c, c => bays::table
        .inner_join(enclosures::table)
        .filter(bays::fault_drive_id.eq(drive_id))
        .select((enclosures::ident, bays::slot))
        .first(c)
        .optional())?;
    if lit.is_some() {
        return Ok(lit);
    }
    let last: Option<Option<String>> = db_run!(c, c => drives::table
        .find(drive_id)
        .select(drives::last_bay)
        .first(c)
        .optional())?;
    let Some(name) = last.flatten() else {
        return Ok(None);
    };
    let all: Vec<(String, String, i32)> = db_run!(c, c => bays::table
        .inner_join(enclosures::table)
        .select((enclosures::ident, enclosures::label, bays::slot))
        .load(c))?;
    Ok(all
        .into_iter()
        .find(|(_, label, slot)| {
            crate::naming::bay_name(label, u32::try_from(*slot).unwrap_or(0)) == name
        })
        .map(|(e, _, slot)| (e, slot)))
}

/// Records the drive a removed one's place went to.
pub fn mark_replaced(c: &mut Conn<'_>, removal_id: i64, new_drive: i64) -> QueryResult<usize> {
    db_run!(c, c => diesel::update(pool_removals::table.find(removal_id))
        .set(pool_removals::replaced_by.eq(new_drive))
        .execute(c))
}

/// The removals of the given pools not settled yet, oldest first.
pub fn open_removals(c: &mut Conn<'_>, pool_ids: &[i64]) -> QueryResult<Vec<RemovalRow>> {
    db_run!(c, c => pool_removals::table
        .filter(pool_removals::pool_id.eq_any(pool_ids))
        .filter(pool_removals::settled_at.is_null())
        .order(pool_removals::removed_at)
        .select(RemovalRow::as_select())
        .load(c))
}

/// Every removal not settled yet, with its pool's name.
pub fn all_open_removals(c: &mut Conn<'_>) -> QueryResult<Vec<(RemovalRow, String)>> {
    db_run!(c, c => pool_removals::table
        .inner_join(pools::table)
        .filter(pool_removals::settled_at.is_null())
        .select((RemovalRow::as_select(), pools::name))
        .load(c))
}

/// Keeps a re-qualification's verdict with the drive's removal.
pub fn set_verdict(
    c: &mut Conn<'_>,
    removal_id: i64,
    verdict: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    db_run!(c, c => diesel::update(pool_removals::table.find(removal_id))
        .set((
            pool_removals::verdict.eq(verdict),
            pool_removals::verdict_at.eq(now),
        ))
        .execute(c))
}

/// A drive's newest removal from a pool, with the pool's name.
pub fn last_removal_of(
    c: &mut Conn<'_>,
    drive_id: i64,
) -> QueryResult<Option<(RemovalRow, String)>> {
    db_run!(c, c => pool_removals::table
        .inner_join(pools::table)
        .filter(pool_removals::drive_id.eq(drive_id))
        .order(pool_removals::removed_at.desc())
        .select((RemovalRow::as_select(), pools::name))
        .first(c)
        .optional())
}

/// Forgets a pool and its drives' roles: they are free again.
pub fn delete(c: &mut Conn<'_>, pool_id: i64) -> QueryResult<usize> {
    db_run!(c, c => diesel::delete(pool_members::table.filter(pool_members::pool_id.eq(pool_id))).execute(c))?;
    db_run!(c, c => diesel::delete(pool_removals::table.filter(pool_removals::pool_id.eq(pool_id))).execute(c))?;
    db_run!(c, c => diesel::delete(scrubs::table.filter(scrubs::pool_id.eq(pool_id))).execute(c))?;
    db_run!(c, c => diesel::delete(pools::table.find(pool_id)).execute(c))
}

/// A member of a degraded or failed pool that left the appliance, and the
/// bay it last sat in.
pub struct MissingMember {
    pub pool: String,
    pub serial: String,
    pub model: String,
    pub enclosure: String,
    pub slot: i32,
}

/// Members of degraded or failed pools that have left the appliance.
pub fn missing_members(c: &mut Conn<'_>) -> QueryResult<Vec<MissingMember>> {
    let mut out = Vec::new();
    for p in list(c)? {
        let Some(a) = p.array() else { continue };
        if a.degraded != Some(true) && a.state != Some(crate::domain::pool::ArrayState::Failed) {
            continue;
        }
        let gone: Vec<(i64, String, String)> = db_run!(c, c => pool_members::table
            .inner_join(drives::table)
            .filter(pool_members::pool_id.eq(p.id))
            .filter(pool_members::role.eq("member"))
            .filter(drives::present.eq(false))
            .select((drives::id, drives::serial, drives::model))
            .load(c))?;
        for (id, serial, model) in gone {
            if let Some((enclosure, slot)) = last_bay_of(c, id)? {
                out.push(MissingMember {
                    pool: p.name.clone(),
                    serial,
                    model,
                    enclosure,
                    slot,
                });
            }
        }
    }
    Ok(out)
}

/// Every pool, by name.
pub fn list(c: &mut Conn<'_>) -> QueryResult<Vec<PoolRow>> {
    db_run!(c, c => pools::table
        .order(pools::name)
        .select(PoolRow::as_select())
        .load(c))
}

pub fn by_name(c: &mut Conn<'_>, name: &str) -> QueryResult<Option<PoolRow>> {
    db_run!(c, c => pools::table
        .filter(pools::name.eq(name))
        .select(PoolRow::as_select())
        .first(c)
        .optional())
}

/// The drives of the given pools with their roles, in order.
pub fn members(c: &mut Conn<'_>, pool_ids: &[i64]) -> QueryResult<Vec<(MemberRow, DriveRow)>> {
    db_run!(c, c => pool_members::table
        .inner_join(drives::table)
        .filter(pool_members::pool_id.eq_any(pool_ids))
        .order((pool_members::pool_id, pool_members::position))
        .select((MemberRow::as_select(), DriveRow::as_select()))
        .load(c))
}

/// Which pool each drive belongs to, and as what: drive id → (pool, role).
pub fn memberships(c: &mut Conn<'_>) -> QueryResult<HashMap<i64, (String, String)>> {
    let rows: Vec<(i64, String, String)> = db_run!(c, c => pool_members::table
        .inner_join(pools::table)
        .select((pool_members::drive_id, pools::name, pool_members::role))
        .load(c))?;
    Ok(rows.into_iter().map(|(d, p, r)| (d, (p, r))).collect())
}

/// Records the array's UUID once it exists.
pub fn set_uuid(c: &mut Conn<'_>, name: &str, uuid: &str) -> QueryResult<usize> {
    db_run!(c, c => diesel::update(pools::table.filter(pools::name.eq(name)))
        .set(pools::uuid.eq(uuid))
        .execute(c))
}

pub fn set_lifecycle(c: &mut Conn<'_>, name: &str, lifecycle: &str) -> QueryResult<usize> {
    db_run!(c, c => diesel::update(pools::table.filter(pools::name.eq(name)))
        .set(pools::lifecycle.eq(lifecycle))
        .execute(c))
}

/// Keeps what the agent sees of each pool's array and volume group: the
/// array recorded under the pool's UUID (or, before the UUID is recorded,
/// named for the pool), the volume group named for it. A pool whose array
/// is not seen keeps `observed` empty, with the time of the look.
pub fn record_observation(
    c: &mut Conn<'_>,
    arrays: &[Array],
    vgs: &[VolumeGroup],
    now: NaiveDateTime,
) -> QueryResult<()> {
    for p in list(c)? {
        let array = arrays.iter().find(|a| match (&p.uuid, &a.uuid) {
            (Some(want), Some(seen)) => want == seen,
            _ => a.md_name.as_deref() == Some(p.name.as_str()),
        });
        let vg = vgs.iter().find(|v| v.name == p.name);
        let observed = array.map(|a| serde_json::to_string(a).expect("an array serializes"));
        let vg = vg.map(|v| serde_json::to_string(v).expect("a volume group serializes"));
        db_run!(c, c => diesel::update(pools::table.find(p.id))
            .set((
                pools::observed.eq(observed.as_deref()),
                pools::vg.eq(vg.as_deref()),
                pools::observed_at.eq(now),
            ))
            .execute(c))?;
        if let (Some(a), "ready") = (array, p.lifecycle.as_str()) {
            follow_roles(c, p.id, a)?;
            if a.is_clean() {
                settle_removals(c, p.id, now)?;
            }
        }
    }
    Ok(())
}

/// Keeps each drive's recorded role as md has it now: a spare md rebuilt
/// a failed member onto is a member from then on.
fn follow_roles(c: &mut Conn<'_>, pool_id: i64, array: &Array) -> QueryResult<()> {
    use crate::domain::pool::MemberRole;
    let rows: Vec<(i64, String, Option<String>)> = db_run!(c, c => pool_members::table
        .inner_join(drives::table)
        .filter(pool_members::pool_id.eq(pool_id))
        .select((pool_members::drive_id, pool_members::role, drives::dev_name))
        .load(c))?;
    for (drive_id, role, dev) in rows {
        let Some(m) = array
            .members
            .iter()
            .find(|m| Some(&m.device) == dev.as_ref())
        else {
            continue;
        };
        let now = match m.role {
            MemberRole::Active | MemberRole::Rebuilding | MemberRole::Replacement => "member",
            MemberRole::Spare => "spare",
            _ => continue,
        };
        if role != now && role != "journal" {
            add_drive(c, pool_id, drive_id, now)?;
        }
    }
    Ok(())
}

/// Ends the flow of each drive taken out of a pool now clean, once the
/// drive no longer sits in the bay it was taken out of.
fn settle_removals(c: &mut Conn<'_>, pool_id: i64, now: NaiveDateTime) -> QueryResult<()> {
    for r in open_removals(c, &[pool_id])? {
        let still_there = match (&r.enclosure, r.slot) {
            (Some(e), Some(slot)) => {
                let holder: Option<Option<i64>> = db_run!(c, c => bays::table
                    .inner_join(enclosures::table)
                    .filter(enclosures::ident.eq(e))
                    .filter(bays::slot.eq(slot))
                    .select(bays::drive_id)
                    .first(c)
                    .optional())?;
                holder.flatten() == Some(r.drive_id)
            }
            _ => false,
        };
        if !still_there {
            db_run!(c, c => diesel::update(pool_removals::table.find(r.id))
                .set(pool_removals::settled_at.eq(now))
                .execute(c))?;
        }
    }
    Ok(())
}

/// Each pool's newest scrub.
pub fn last_scrubs(c: &mut Conn<'_>) -> QueryResult<HashMap<i64, ScrubRow>> {
    let rows: Vec<ScrubRow> = db_run!(c, c => scrubs::table
        .order((scrubs::pool_id, scrubs::started_at.desc()))
        .select(ScrubRow::as_select())
        .load(c))?;
    let mut out = HashMap::new();
    for r in rows {
        out.entry(r.pool_id).or_insert(r);
    }
    Ok(out)
}

/// Each pool's newest finished scrub.
pub fn last_finished_scrubs(c: &mut Conn<'_>) -> QueryResult<HashMap<i64, ScrubRow>> {
    let rows: Vec<ScrubRow> = db_run!(c, c => scrubs::table
        .filter(scrubs::finished_at.is_not_null())
        .order((scrubs::pool_id, scrubs::started_at.desc()))
        .select(ScrubRow::as_select())
        .load(c))?;
    let mut out = HashMap::new();
    for r in rows {
        out.entry(r.pool_id).or_insert(r);
    }
    Ok(out)
}

/// Records a check or repair started by job `job_id`.
pub fn start_scrub(
    c: &mut Conn<'_>,
    pool_id: i64,
    job_id: i64,
    repair: bool,
    now: NaiveDateTime,
) -> QueryResult<()> {
    db_run!(c, c => diesel::insert_into(scrubs::table)
        .values((
            scrubs::pool_id.eq(pool_id),
            scrubs::job_id.eq(job_id),
            scrubs::repair.eq(repair),
            scrubs::started_at.eq(now),
        ))
        .execute(c))?;
    Ok(())
}

/// Ends each scrub that was running before `seen_at` and whose array was
/// then seen doing no check or repair any more: what md counted, kept.
/// Returns the pools whose scrub ended, with what it found.
pub fn finish_scrubs(
    c: &mut Conn<'_>,
    arrays: &[Array],
    seen_at: NaiveDateTime,
) -> QueryResult<Vec<(String, Option<u64>)>> {
    use crate::domain::pool::SyncAction;
    let open: Vec<(ScrubRow, String, Option<String>)> = db_run!(c, c => scrubs::table
        .inner_join(pools::table)
        .filter(scrubs::finished_at.is_null())
        .filter(scrubs::started_at.lt(seen_at))
        .select((ScrubRow::as_select(), pools::name, pools::uuid))
        .load(c))?;
    let mut ended = Vec::new();
    for (scrub, name, uuid) in open {
        let array = arrays.iter().find(|a| match (&uuid, &a.uuid) {
            (Some(want), Some(seen)) => want == seen,
            _ => a.md_name.as_deref() == Some(name.as_str()),
        });
        let (result, mismatches) = match array {
            None => ("the array was not seen when it ended".to_string(), None),
            Some(a) if matches!(a.sync_action, Some(SyncAction::Check | SyncAction::Repair)) => {
                continue;
            }
            Some(a) if a.degraded == Some(true) => (
                "stopped: the array lost a member while it ran".to_string(),
                a.mismatch_count,
            ),
            Some(a) => match a.mismatch_count {
                Some(0) => ("every stripe matched".to_string(), Some(0)),
                Some(n) if scrub.repair => (format!("{n} mismatched sectors rewritten"), Some(n)),
                Some(n) => (format!("{n} mismatched sectors found"), Some(n)),
                None => ("md did not say what it found".to_string(), None),
            },
        };
        db_run!(c, c => diesel::update(scrubs::table.find(scrub.id))
            .set((
                scrubs::finished_at.eq(seen_at),
                scrubs::mismatches.eq(mismatches.map(|m| i64::try_from(m).unwrap_or(i64::MAX))),
                scrubs::result.eq(&result),
            ))
            .execute(c))?;
        ended.push((name, mismatches));
    }
    Ok(ended)
}

/// Every scrub of a pool, newest first.
pub fn scrubs_of(c: &mut Conn<'_>, pool_id: i64, limit: i64) -> QueryResult<Vec<ScrubRow>> {
    db_run!(c, c => scrubs::table
        .filter(scrubs::pool_id.eq(pool_id))
        .order(scrubs::started_at.desc())
        .limit(limit)
        .select(ScrubRow::as_select())
        .load(c))
}

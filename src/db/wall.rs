//! The NOC wall's tables: wall links (a secret URL per screen, of which only
//! the hash is kept) and the registry of appliances whose agents share this
//! database.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::Conn;
use super::schema::{appliances, wall_links};
use crate::db_run;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = wall_links)]
pub struct WallLink {
    pub id: i64,
    pub name: String,
    #[serde(skip)]
    pub key_hash: String,
    pub created_by: String,
    #[serde(serialize_with = "super::utc")]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "super::utc_opt")]
    pub revoked_at: Option<NaiveDateTime>,
    #[serde(serialize_with = "super::utc_opt")]
    pub last_used_at: Option<NaiveDateTime>,
    pub last_used_from: Option<String>,
}

pub fn create_link(
    c: &mut Conn<'_>,
    name: &str,
    key_hash: &str,
    by: &str,
    now: NaiveDateTime,
) -> QueryResult<WallLink> {
    db_run!(c, c => diesel::insert_into(wall_links::table)
        .values((
            wall_links::name.eq(name),
            wall_links::key_hash.eq(key_hash),
            wall_links::created_by.eq(by),
            wall_links::created_at.eq(now),
        ))
        .returning(WallLink::as_returning())
        .get_result(c))
}

/// Every link, newest first, revoked ones too.
pub fn links(c: &mut Conn<'_>) -> QueryResult<Vec<WallLink>> {
    db_run!(c, c => wall_links::table
        .select(WallLink::as_select())
        .order(wall_links::id.desc())
        .load(c))
}

pub fn link(c: &mut Conn<'_>, id: i64) -> QueryResult<Option<WallLink>> {
    db_run!(c, c => wall_links::table
        .find(id)
        .select(WallLink::as_select())
        .first(c)
        .optional())
}

/// The link a key's hash names, unless revoked.
pub fn live_link(c: &mut Conn<'_>, key_hash: &str) -> QueryResult<Option<WallLink>> {
    db_run!(c, c => wall_links::table
        .filter(wall_links::key_hash.eq(key_hash))
        .filter(wall_links::revoked_at.is_null())
        .select(WallLink::as_select())
        .first(c)
        .optional())
}

/// Revokes a link; false when it was revoked already.
pub fn revoke(c: &mut Conn<'_>, id: i64, now: NaiveDateTime) -> QueryResult<bool> {
    let n = db_run!(c, c => diesel::update(
            wall_links::table.find(id).filter(wall_links::revoked_at.is_null()))
        .set(wall_links::revoked_at.eq(now))
        .execute(c))?;
    Ok(n == 1)
}

/// Notes a link's use: when, and from where.
pub fn used(c: &mut Conn<'_>, id: i64, from: &str, now: NaiveDateTime) -> QueryResult<()> {
    db_run!(c, c => diesel::update(wall_links::table.find(id))
        .set((wall_links::last_used_at.eq(now), wall_links::last_used_from.eq(from)))
        .execute(c))?;
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = appliances)]
pub struct ApplianceRow {
    #[serde(skip)]
    pub id: String,
    pub hostname: String,
    pub version: String,
    pub console_url: Option<String>,
    /// `green`, `amber` or `red`, as its own wall shows it.
    pub state: String,
    pub reason: String,
    #[serde(skip)]
    pub stale_after_seconds: i64,
    #[serde(serialize_with = "super::utc")]
    pub last_seen_at: NaiveDateTime,
}

impl ApplianceRow {
    /// Whether it has stopped reporting: not seen for longer than its
    /// agent's three intervals.
    pub fn silent(&self, now: NaiveDateTime) -> bool {
        now - self.last_seen_at > chrono::Duration::seconds(self.stale_after_seconds)
    }
}

/// An agent's look at its appliance, recorded for the fleet.
pub fn register(c: &mut Conn<'_>, a: &ApplianceRow) -> QueryResult<()> {
    let values = (
        appliances::id.eq(&a.id),
        appliances::hostname.eq(&a.hostname),
        appliances::version.eq(&a.version),
        appliances::console_url.eq(&a.console_url),
        appliances::state.eq(&a.state),
        appliances::reason.eq(&a.reason),
        appliances::stale_after_seconds.eq(a.stale_after_seconds),
        appliances::last_seen_at.eq(a.last_seen_at),
    );
    db_run!(c, c => diesel::insert_into(appliances::table)
        .values(values)
        .on_conflict(appliances::id)
        .do_update()
        .set(values)
        .execute(c))?;
    Ok(())
}

pub fn appliances(c: &mut Conn<'_>) -> QueryResult<Vec<ApplianceRow>> {
    db_run!(c, c => appliances::table
        .select(ApplianceRow::as_select())
        .order(appliances::hostname)
        .load(c))
}

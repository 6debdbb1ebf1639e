//! What `/metrics` reads: the recorded and observed state in a few
//! statements, for the web layer to encode.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::dsl::count_star;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::Conn;
use super::alerts::AlertRow;
use super::inventory::{DriveRow, EnclosureRow, Place};
use super::pools::PoolRow;
use super::schema::{alerts, jobs, observations};
use crate::db_run;
use crate::domain::Smart;

pub struct Snapshot {
    pub pools: Vec<PoolRow>,
    pub drives: Vec<(DriveRow, Option<Place>)>,
    /// Each drive's newest kept SMART reading.
    pub smart: HashMap<i64, Smart>,
    /// drive id → pool name, for members and spares.
    pub pool_of: HashMap<i64, (String, String)>,
    pub enclosures: Vec<EnclosureRow>,
    /// (kind, state) → how many jobs.
    pub jobs: Vec<(String, String, i64)>,
    /// The active alerts.
    pub alerts: Vec<AlertRow>,
    pub observed_at: Option<NaiveDateTime>,
    pub replications: Vec<super::replication::ReplicationRow>,
}

#[derive(QueryableByName)]
struct Reading {
    #[diesel(sql_type = BigInt)]
    drive_id: i64,
    #[diesel(sql_type = Text)]
    data: String,
}

const NEWEST_READINGS_SQL: &str = "SELECT s.drive_id, s.data FROM smart_samples s \
     WHERE s.at = (SELECT MAX(t.at) FROM smart_samples t WHERE t.drive_id = s.drive_id)";

pub fn snapshot(c: &mut Conn<'_>) -> QueryResult<Snapshot> {
    let readings: Vec<Reading> = db_run!(c, c => crate::stmt!(NEWEST_READINGS_SQL).load(c))?;
    let jobs: Vec<(String, String, i64)> = db_run!(c, c => jobs::table
        .group_by((jobs::kind, jobs::state))
        .select((jobs::kind, jobs::state, count_star()))
        .load(c))?;
    let alerts: Vec<AlertRow> = db_run!(c, c => alerts::table
        .filter(alerts::cleared_at.is_null())
        .select(AlertRow::as_select())
        .load(c))?;
    Ok(Snapshot {
        pools: super::pools::list(c)?,
        drives: super::inventory::drives(c)?,
        smart: readings
            .into_iter()
            .filter_map(|r| Some((r.drive_id, serde_json::from_str(&r.data).ok()?)))
            .collect(),
        pool_of: super::pools::memberships(c)?,
        enclosures: super::inventory::enclosures(c)?,
        jobs,
        alerts,
        replications: super::replication::all(c)?,
        observed_at: db_run!(c, c => observations::table
            .select(observations::observed_at)
            .first(c)
            .optional())?,
    })
}

/// A finished job's kind and how long it ran.
pub struct Finished {
    pub id: i64,
    pub kind: String,
    pub finished_at: NaiveDateTime,
    pub seconds: f64,
}

/// Jobs that finished (succeeded, failed or were cancelled after starting)
/// after `since`, oldest first.
pub fn finished_since(c: &mut Conn<'_>, since: NaiveDateTime) -> QueryResult<Vec<Finished>> {
    let rows: Vec<(i64, String, Option<NaiveDateTime>, Option<NaiveDateTime>)> = db_run!(c, c => jobs::table
            .filter(jobs::finished_at.gt(since))
            .filter(jobs::started_at.is_not_null())
            .select((jobs::id, jobs::kind, jobs::started_at, jobs::finished_at))
            .order(jobs::finished_at)
            .load(c))?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, kind, started, finished)| {
            let (s, f) = (started?, finished?);
            Some(Finished {
                id,
                kind,
                finished_at: f,
                seconds: (f - s).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6,
            })
        })
        .collect())
}

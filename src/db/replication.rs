//! Replication's tables: one row per replicated volume on each side (its
//! role, settings, last consistent point and the point in flight), and
//! the history of transfers.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::Conn;
use super::schema::{replication_transfers, replications};
use crate::db_run;
use crate::domain::replica::{Bandwidth, Role, State};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = replications)]
pub struct ReplicationRow {
    pub volume: String,
    /// The pool the volume is in here.
    pub pool: String,
    pub peer: String,
    pub role: String,
    pub state: String,
    pub interval_s: i64,
    pub rpo_s: i64,
    /// JSON of [`Bandwidth`]; `None` for no limit.
    pub bandwidth: Option<String>,
    pub compress: bool,
    /// The last consistent point (0 before the first).
    pub seq: i64,
    /// When the source took it.
    pub consistent_at: Option<NaiveDateTime>,
    /// The point being sent (source) or received (replica).
    pub inflight_seq: Option<i64>,
    /// The point it is sent relative to (`None`: in full).
    pub inflight_base: Option<i64>,
    /// When the source took the point in flight.
    pub inflight_at: Option<NaiveDateTime>,
    /// Bytes of the point in flight still to send.
    pub pending_bytes: i64,
    /// Bytes of it sent (source) or written (replica).
    pub done_bytes: i64,
    /// Replica: the point in flight is written, durably and in order, up
    /// to this byte of the volume; a transfer resumes from here.
    pub resume_offset: i64,
    /// Replica: a transfer is being received until this time (its
    /// receiver renews it while it works).
    pub receiving_until: Option<NaiveDateTime>,
    /// The last transfer's speed.
    pub throughput_bps: i64,
    /// Replica: the source's export (JSON of
    /// [`crate::domain::replica::SourceTarget`]), exported as it was by a
    /// failover. Holds CHAP secrets: never shown.
    pub source_target: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<NaiveDateTime>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl ReplicationRow {
    /// A replication being prepared, before its first point: nothing in
    /// flight, no error, no settings beyond the defaults (the caller sets
    /// the interval, objective, bandwidth and compression of a source).
    pub fn new(
        volume: &str,
        pool: &str,
        peer: &str,
        role: Role,
        by: &str,
        now: NaiveDateTime,
    ) -> Self {
        ReplicationRow {
            volume: volume.into(),
            pool: pool.into(),
            peer: peer.into(),
            role: role.as_str().into(),
            state: State::Preparing.as_str().into(),
            interval_s: 0,
            rpo_s: 0,
            bandwidth: None,
            compress: false,
            seq: 0,
            consistent_at: None,
            inflight_seq: None,
            inflight_base: None,
            inflight_at: None,
            pending_bytes: 0,
            done_bytes: 0,
            resume_offset: 0,
            receiving_until: None,
            throughput_bps: 0,
            source_target: None,
            last_error: None,
            last_error_at: None,
            created_by: by.into(),
            created_at: now,
            updated_at: now,
        }
    }

    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::Replica)
    }

    pub fn stored_state(&self) -> State {
        State::parse(&self.state).unwrap_or(State::Broken)
    }

    /// How old the last consistent point is at `now`, in seconds; `None`
    /// before the first.
    pub fn lag_s(&self, now: NaiveDateTime) -> Option<i64> {
        self.consistent_at.map(|t| (now - t).num_seconds().max(0))
    }

    /// The state as shown: an in-sync volume whose last point is older
    /// than its objective is lagging.
    pub fn state(&self, now: NaiveDateTime) -> State {
        match self.stored_state() {
            State::InSync if self.lag_s(now).is_some_and(|l| l > self.rpo_s) => State::Lagging,
            s => s,
        }
    }

    pub fn bandwidth(&self) -> Bandwidth {
        self.bandwidth
            .as_deref()
            .and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or_default()
    }
}

/// A change to a row: each field set is written, `Some(None)` writes NULL.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = replications)]
pub struct Change {
    pub state: Option<String>,
    pub interval_s: Option<i64>,
    pub rpo_s: Option<i64>,
    pub peer: Option<String>,
    pub role: Option<String>,
    pub seq: Option<i64>,
    pub consistent_at: Option<Option<NaiveDateTime>>,
    pub inflight_seq: Option<Option<i64>>,
    pub inflight_base: Option<Option<i64>>,
    pub inflight_at: Option<Option<NaiveDateTime>>,
    pub pending_bytes: Option<i64>,
    pub done_bytes: Option<i64>,
    pub resume_offset: Option<i64>,
    pub receiving_until: Option<Option<NaiveDateTime>>,
    pub throughput_bps: Option<i64>,
    pub source_target: Option<Option<String>>,
    pub last_error: Option<Option<String>>,
    pub last_error_at: Option<Option<NaiveDateTime>>,
    pub updated_at: Option<NaiveDateTime>,
}

impl Change {
    pub fn state(state: State) -> Self {
        Change {
            state: Some(state.as_str().into()),
            ..Change::default()
        }
    }

    /// A failure, with the state it leaves.
    pub fn failed(state: State, why: &str, now: NaiveDateTime) -> Self {
        Change {
            state: Some(state.as_str().into()),
            last_error: Some(Some(why.into())),
            last_error_at: Some(Some(now)),
            ..Change::default()
        }
    }
}

pub fn insert(c: &mut Conn<'_>, row: &ReplicationRow) -> QueryResult<()> {
    db_run!(c, c => diesel::insert_into(replications::table).values(row).execute(c))?;
    Ok(())
}

pub fn get(c: &mut Conn<'_>, volume: &str) -> QueryResult<Option<ReplicationRow>> {
    db_run!(c, c => replications::table
        .find(volume)
        .select(ReplicationRow::as_select())
        .first(c)
        .optional())
}

pub fn all(c: &mut Conn<'_>) -> QueryResult<Vec<ReplicationRow>> {
    db_run!(c, c => replications::table
        .select(ReplicationRow::as_select())
        .order(replications::volume)
        .load(c))
}

/// Writes `change` to `volume`'s row (its `updated_at` too); false when
/// there is none.
pub fn update(
    c: &mut Conn<'_>,
    volume: &str,
    mut change: Change,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    change.updated_at = Some(now);
    let n = db_run!(c, c => diesel::update(replications::table.find(volume))
        .set(&change)
        .execute(c))?;
    Ok(n == 1)
}

pub fn remove(c: &mut Conn<'_>, volume: &str) -> QueryResult<bool> {
    let n = db_run!(c, c => diesel::delete(replications::table.find(volume)).execute(c))?;
    Ok(n == 1)
}

/// Whether any replication goes to or comes from `peer`.
pub fn uses_peer(c: &mut Conn<'_>, peer: &str) -> QueryResult<Vec<String>> {
    db_run!(c, c => replications::table
        .filter(replications::peer.eq(peer))
        .select(replications::volume)
        .load(c))
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = replication_transfers)]
pub struct TransferRow {
    #[serde(skip)]
    pub id: i64,
    #[serde(skip)]
    pub volume: String,
    pub role: String,
    pub seq: i64,
    pub base: Option<i64>,
    #[serde(serialize_with = "super::utc")]
    pub started_at: NaiveDateTime,
    #[serde(serialize_with = "super::utc_opt")]
    pub finished_at: Option<NaiveDateTime>,
    /// The volume's bytes it carried.
    pub data_bytes: i64,
    /// What went over the link for them (less when compressed).
    pub wire_bytes: i64,
    /// `running`, `ok` or `failed`.
    pub result: String,
    pub error: Option<String>,
}

/// How many transfers are kept per volume.
const KEEP_TRANSFERS: i64 = 200;

/// Records a transfer beginning. Returns its id.
pub fn transfer_started(
    c: &mut Conn<'_>,
    volume: &str,
    role: Role,
    seq: i64,
    base: Option<i64>,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    db_run!(c, c => diesel::insert_into(replication_transfers::table)
        .values((
            replication_transfers::volume.eq(volume),
            replication_transfers::role.eq(role.as_str()),
            replication_transfers::seq.eq(seq),
            replication_transfers::base.eq(base),
            replication_transfers::started_at.eq(now),
            replication_transfers::data_bytes.eq(0i64),
            replication_transfers::wire_bytes.eq(0i64),
            replication_transfers::result.eq("running"),
        ))
        .returning(replication_transfers::id)
        .get_result(c))
}

/// Records how a transfer ended, and drops the oldest beyond
/// [`KEEP_TRANSFERS`] of its volume.
pub fn transfer_ended(
    c: &mut Conn<'_>,
    id: i64,
    data_bytes: i64,
    wire_bytes: i64,
    error: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let volume: String = db_run!(c, c => diesel::update(replication_transfers::table.find(id))
        .set((
            replication_transfers::finished_at.eq(now),
            replication_transfers::data_bytes.eq(data_bytes),
            replication_transfers::wire_bytes.eq(wire_bytes),
            replication_transfers::result.eq(if error.is_some() { "failed" } else { "ok" }),
            replication_transfers::error.eq(error),
        ))
        .returning(replication_transfers::volume)
        .get_result(c))?;
    let keep_from: Option<i64> = db_run!(c, c => replication_transfers::table
        .filter(replication_transfers::volume.eq(&volume))
        .order(replication_transfers::id.desc())
        .offset(KEEP_TRANSFERS)
        .select(replication_transfers::id)
        .first(c)
        .optional())?;
    if let Some(old) = keep_from {
        db_run!(c, c => diesel::delete(replication_transfers::table
            .filter(replication_transfers::volume.eq(&volume))
            .filter(replication_transfers::id.le(old)))
            .execute(c))?;
    }
    Ok(())
}

/// A volume's transfers, newest first.
pub fn transfers(c: &mut Conn<'_>, volume: &str, limit: i64) -> QueryResult<Vec<TransferRow>> {
    db_run!(c, c => replication_transfers::table
        .filter(replication_transfers::volume.eq(volume))
        .order(replication_transfers::id.desc())
        .limit(limit)
        .select(TransferRow::as_select())
        .load(c))
}

/// Forgets a volume's transfers (its replication is switched off).
pub fn forget_transfers(c: &mut Conn<'_>, volume: &str) -> QueryResult<()> {
    db_run!(c, c => diesel::delete(replication_transfers::table
        .filter(replication_transfers::volume.eq(volume)))
        .execute(c))?;
    Ok(())
}

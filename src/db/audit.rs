//! The audit log: who changed what, when, from where, and how it ended.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::schema::audit_log;
use super::{Conn, DbError, PooledConn};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Denied,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
}

/// One entry to write. `actor` is the user name, or `None` for anonymous
/// requests (a failed login records the name that was tried in `target`).
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub actor: Option<&'a str>,
    pub address: Option<&'a str>,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub outcome: Outcome,
    pub detail: &'a str,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = audit_log)]
pub struct Record {
    pub id: i64,
    #[serde(serialize_with = "super::utc")]
    pub at: NaiveDateTime,
    pub actor: Option<String>,
    pub address: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
    pub detail: String,
}

#[derive(Insertable)]
#[diesel(table_name = audit_log)]
struct NewRecord<'a> {
    at: NaiveDateTime,
    actor: Option<&'a str>,
    address: Option<&'a str>,
    action: &'a str,
    target: Option<&'a str>,
    outcome: &'a str,
    detail: &'a str,
}

/// Writes one entry. Call it inside the transaction that makes the change,
/// so the change and its record commit together.
/// Every field is capped (a 60 KB user name from an anonymous sign-in is
/// kept as its first 128 characters) and hidden characters are replaced.
pub fn record(c: &mut Conn<'_>, entry: &Entry<'_>, at: NaiveDateTime) -> QueryResult<()> {
    use crate::naming::for_record;
    let (actor, address, target) = (
        entry.actor.map(|t| for_record(t, 128)),
        entry.address.map(|t| for_record(t, 64)),
        entry.target.map(|t| for_record(t, 256)),
    );
    let (action, detail) = (for_record(entry.action, 64), for_record(entry.detail, 2048));
    let row = NewRecord {
        at,
        actor: actor.as_deref(),
        address: address.as_deref(),
        action: &action,
        target: target.as_deref(),
        outcome: entry.outcome.as_str(),
        detail: &detail,
    };
    crate::db_run!(c, c => diesel::insert_into(audit_log::table).values(&row).execute(c))?;
    Ok(())
}

/// Writes one entry in its own transaction (for events that change nothing
/// else, such as a refused request).
pub fn record_alone(
    conn: &mut PooledConn,
    entry: &Entry<'_>,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    conn.write(|c| record(c, entry, at))?;
    Ok(())
}

/// Deletes the entries older than `before`: the log is kept for
/// `security.audit_keep_days`, pruned by the agent. Returns how many went.
pub fn prune(c: &mut Conn<'_>, before: NaiveDateTime) -> QueryResult<usize> {
    crate::db_run!(c, c => diesel::delete(audit_log::table.filter(audit_log::at.lt(before))).execute(c))
}

#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// Newest first, at most `limit` rows, older than `before_id` if given.
pub fn list(conn: &mut Conn<'_>, filter: &Filter) -> Result<Vec<Record>, DbError> {
    let rows = crate::db_run!(conn, c => {
        let mut q = audit_log::table.select(Record::as_select()).into_boxed();
        if let Some(actor) = &filter.actor {
            q = q.filter(audit_log::actor.eq(actor.clone()));
        }
        if let Some(action) = &filter.action {
            q = q.filter(audit_log::action.eq(action.clone()));
        }
        if let Some(before) = filter.before_id {
            q = q.filter(audit_log::id.lt(before));
        }
        q.order(audit_log::id.desc()).limit(filter.limit.clamp(1, 1000)).load(c)
    })?;
    Ok(rows)
}

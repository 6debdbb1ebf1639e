//! Alerts as kept: the facts the rules of [`crate::domain::alert`] read,
//! gathered from the tables; one row per condition while it lasts; the
//! history; acknowledgement.
//!
//! [`evaluate`] runs in one write transaction: it reads the facts, asks the
//! rules, raises what is new, updates what changed and clears what ended.
//! A raise is `INSERT ... ON CONFLICT DO NOTHING` against the partial
//! unique index on open `(rule, subject)`, and a clear is a conditional
//! `UPDATE`: when two agents (or an agent and a console's watchdog)
//! evaluate at once, each change is made, and reported, by one of them.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
use serde::Serialize;

use super::Conn;
use super::schema::{alerts, observations};
use crate::db_run;
use crate::domain::alert::{
    self, Condition, DriveFacts, EnclosureFacts, Facts, FailedJob, Open, PoolFacts, ReplicaFacts,
    Severity,
};
use crate::domain::health::Health;
use crate::domain::pool::{RaidLevel, SyncAction};

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = alerts)]
pub struct AlertRow {
    pub id: i64,
    pub rule: String,
    pub subject: String,
    pub severity: String,
    pub summary: String,
    pub detail: String,
    pub link: Option<String>,
    #[serde(serialize_with = "super::utc")]
    pub raised_at: NaiveDateTime,
    /// When its words or severity last changed.
    #[serde(serialize_with = "super::utc")]
    pub updated_at: NaiveDateTime,
    #[serde(serialize_with = "super::utc_opt")]
    pub cleared_at: Option<NaiveDateTime>,
    #[serde(rename = "acknowledged_at", serialize_with = "super::utc_opt")]
    pub acked_at: Option<NaiveDateTime>,
    #[serde(rename = "acknowledged_by")]
    pub acked_by: Option<String>,
    pub ack_note: Option<String>,
}

/// An alert's state: `open` (raised, nobody has acknowledged it),
/// `acknowledged` (still holds, someone has it), `cleared` (ended).
pub const STATES: [&str; 3] = ["open", "acknowledged", "cleared"];

impl AlertRow {
    pub fn state(&self) -> &'static str {
        match (self.cleared_at, self.acked_at) {
            (Some(_), _) => "cleared",
            (None, Some(_)) => "acknowledged",
            (None, None) => "open",
        }
    }

    pub fn severity(&self) -> Severity {
        Severity::parse(&self.severity).unwrap_or(Severity::Critical)
    }

    pub fn json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        v["state"] = self.state().into();
        v
    }
}

/// What an evaluation changed, for notifications.
#[derive(Debug, Default)]
pub struct Changes {
    pub raised: Vec<AlertRow>,
    /// Open alerts whose severity rose (their acknowledgement is dropped:
    /// someone must look again).
    pub escalated: Vec<AlertRow>,
    pub cleared: Vec<AlertRow>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.raised.is_empty() && self.escalated.is_empty() && self.cleared.is_empty()
    }
}

/// Reads the facts, applies the rules and keeps the alerts to match, in
/// the caller's write transaction. `stale_after`: how old the last
/// observation may be before the agent counts as silent.
pub fn evaluate(
    c: &mut Conn<'_>,
    now: NaiveDateTime,
    stale_after: Duration,
) -> QueryResult<Changes> {
    let facts = facts(c, now, stale_after)?;
    sync(c, &alert::conditions(&facts), now)
}

fn open_rows(c: &mut Conn<'_>) -> QueryResult<Vec<AlertRow>> {
    db_run!(c, c => alerts::table
        .filter(alerts::cleared_at.is_null())
        .select(AlertRow::as_select())
        .order(alerts::id)
        .load(c))
}

fn open_row(c: &mut Conn<'_>, rule: &str, subject: &str) -> QueryResult<Option<AlertRow>> {
    db_run!(c, c => alerts::table
        .filter(alerts::cleared_at.is_null())
        .filter(alerts::rule.eq(rule))
        .filter(alerts::subject.eq(subject))
        .select(AlertRow::as_select())
        .first(c)
        .optional())
}

const RAISE_SQL: &str = "INSERT INTO alerts (rule, subject, severity, summary, detail, link, \
     raised_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
     ON CONFLICT (rule, subject) WHERE cleared_at IS NULL DO NOTHING";

/// Makes the open alerts the conditions that hold.
pub fn sync(c: &mut Conn<'_>, holds: &[Condition], now: NaiveDateTime) -> QueryResult<Changes> {
    let open = open_rows(c)?;
    let mut changes = Changes::default();
    for cond in holds {
        let before = open
            .iter()
            .find(|o| o.rule == cond.rule && o.subject == cond.subject);
        match before {
            None => {
                let q = crate::stmt!(
                    RAISE_SQL,
                    cond.rule,
                    cond.subject.as_str(),
                    cond.severity.as_str(),
                    cond.summary.as_str(),
                    cond.detail.as_str(),
                    Some(cond.link.as_str()),
                    now,
                    now
                );
                // Another evaluation may have raised it a moment ago: then
                // it is that one's to report.
                if db_run!(c, c => q.execute(c))? == 1
                    && let Some(row) = open_row(c, cond.rule, &cond.subject)?
                {
                    changes.raised.push(row);
                }
            }
            Some(o) => {
                let same = o.severity == cond.severity.as_str()
                    && o.summary == cond.summary
                    && o.detail == cond.detail
                    && o.link.as_deref() == Some(cond.link.as_str());
                if same {
                    continue;
                }
                let escalated = cond.severity > o.severity();
                let this = alerts::table
                    .find(o.id)
                    .filter(alerts::cleared_at.is_null());
                let set = (
                    alerts::severity.eq(cond.severity.as_str()),
                    alerts::summary.eq(&cond.summary),
                    alerts::detail.eq(&cond.detail),
                    alerts::link.eq(Some(&cond.link)),
                    alerts::updated_at.eq(now),
                );
                let n = if escalated {
                    let none: Option<NaiveDateTime> = None;
                    let nobody: Option<String> = None;
                    db_run!(c, c => diesel::update(this)
                        .set((set, alerts::acked_at.eq(none), alerts::acked_by.eq(nobody.clone()),
                              alerts::ack_note.eq(nobody)))
                        .execute(c))?
                } else {
                    db_run!(c, c => diesel::update(this).set(set).execute(c))?
                };
                if escalated
                    && n == 1
                    && let Some(row) = get(c, o.id)?
                {
                    changes.escalated.push(row);
                }
            }
        }
    }
    for o in &open {
        if holds
            .iter()
            .any(|h| h.rule == o.rule && h.subject == o.subject)
        {
            continue;
        }
        let n = db_run!(c, c => diesel::update(alerts::table.find(o.id).filter(alerts::cleared_at.is_null()))
            .set(alerts::cleared_at.eq(now))
            .execute(c))?;
        if n == 1 {
            let mut row = o.clone();
            row.cleared_at = Some(now);
            changes.cleared.push(row);
        }
    }
    Ok(changes)
}

#[derive(QueryableByName)]
struct FailedRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    summary: String,
    #[diesel(sql_type = Nullable<Text>)]
    error: Option<String>,
    #[diesel(sql_type = Timestamp)]
    finished_at: NaiveDateTime,
}

/// Failed jobs of the last week that were not retried and after which
/// nothing holding one of their resources has succeeded. A notification's
/// attempt is not one: its delivery keeps its own failures and retries; nor
/// is a replication transfer: its volume's replication is broken, an alert
/// of its own, and the next transfer tries again. Nor does a transfer
/// that succeeded on the same volume clear another job's failure.
const FAILED_JOBS_SQL: &str = "SELECT j.id, j.summary, j.error, j.finished_at FROM jobs j \
     WHERE j.state = 'failed' AND j.finished_at > ? \
     AND j.kind NOT IN ('alert.notify', 'replication.ship') \
     AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.retry_of = j.id) \
     AND NOT EXISTS (SELECT 1 FROM job_resources mine \
       JOIN job_resources later ON later.resource = mine.resource AND later.job_id > mine.job_id \
       JOIN jobs k ON k.id = later.job_id AND k.state = 'succeeded' \
         AND k.kind <> 'replication.ship' \
       WHERE mine.job_id = j.id) \
     ORDER BY j.id";

/// What the rules look at, as the tables hold it now.
pub fn facts(c: &mut Conn<'_>, now: NaiveDateTime, stale_after: Duration) -> QueryResult<Facts> {
    let scrubs = super::pools::last_finished_scrubs(c)?;
    let pools = super::pools::list(c)?
        .into_iter()
        .map(|p| {
            let a = p.array();
            let vg = p.volume_group();
            let level = RaidLevel::parse(&p.level);
            let raid_devices = a.as_ref().and_then(|a| a.raid_devices).unwrap_or(0);
            let tolerates = match level {
                // Losing a member's mirror partner loses data.
                Some(RaidLevel::Raid10) => 1,
                Some(l) => l.tolerates(raid_devices, None),
                None => 0,
            };
            let rebuilding = a
                .as_ref()
                .is_some_and(|a| matches!(a.sync_action, Some(SyncAction::Recover)));
            PoolFacts {
                lifecycle: p.lifecycle.clone(),
                state: a.as_ref().and_then(|a| a.state),
                degraded: a.as_ref().and_then(|a| a.degraded_count).unwrap_or(0),
                tolerates,
                rebuild_percent: a
                    .as_ref()
                    .and_then(|a| a.progress.as_ref())
                    .filter(|_| rebuilding)
                    .map(|pr| pr.percent),
                size_bytes: vg.as_ref().map(|v| v.size_bytes),
                allocated_bytes: vg
                    .as_ref()
                    .map(|v| v.size_bytes.saturating_sub(v.free_bytes)),
                thin: p.thin_pool().map(|t| {
                    (
                        t.data_percent.unwrap_or(0.0),
                        t.metadata_percent.unwrap_or(0.0),
                    )
                }),
                scrub_mismatches: scrubs
                    .get(&p.id)
                    .and_then(|s| Some((u64::try_from(s.mismatches?).unwrap_or(0), s.repair))),
                name: p.name,
            }
        })
        .collect();
    let members = super::pools::memberships(c)?;
    let drives = super::inventory::drives(c)?
        .into_iter()
        .map(|(d, place)| DriveFacts {
            id: d.id,
            make: d.make(),
            health: Some(Health::parse(&d.health)),
            bay: place.map(|p| p.name()).or(d.last_bay.clone()),
            pool: members
                .get(&d.id)
                .filter(|(_, role)| role == "member")
                .map(|(p, _)| p.clone()),
            serial: d.serial,
            reason: d.health_reason,
            present: d.present,
        })
        .collect();
    let enclosures = super::inventory::enclosures(c)?
        .into_iter()
        .map(|e| EnclosureFacts {
            troubled: e
                .elements()
                .into_iter()
                .filter(|el| el.trouble())
                .map(|el| (el.kind, el.name, el.status, el.detail))
                .collect(),
            ident: e.ident,
            label: e.label,
            present: e.present,
        })
        .collect();
    let failed: Vec<FailedRow> =
        db_run!(c, c => crate::stmt!(FAILED_JOBS_SQL, now - alert::JOB_FAILED_FOR).load(c))?;
    let observed_at: Option<NaiveDateTime> = db_run!(c, c => observations::table
        .select(observations::observed_at)
        .first(c)
        .optional())?;
    Ok(Facts {
        now,
        pools,
        drives,
        enclosures,
        failed_jobs: failed
            .into_iter()
            .map(|f| FailedJob {
                id: f.id,
                summary: f.summary,
                error: f.error.unwrap_or_default(),
                finished_at: f.finished_at,
            })
            .collect(),
        replicas: super::replication::all(c)?
            .into_iter()
            .map(|r| ReplicaFacts {
                lag_s: r.lag_s(now),
                role: r.role(),
                state: r.stored_state(),
                volume: r.volume,
                peer: r.peer,
                rpo_s: r.rpo_s,
                since: r.created_at,
                last_error: r.last_error,
            })
            .collect(),
        observed_at,
        stale_after,
        open: open_rows(c)?
            .into_iter()
            .map(|o| Open {
                rule: o.rule,
                subject: o.subject,
                raised_at: o.raised_at,
            })
            .collect(),
    })
}

pub fn get(c: &mut Conn<'_>, id: i64) -> QueryResult<Option<AlertRow>> {
    db_run!(c, c => alerts::table.find(id).select(AlertRow::as_select()).first(c).optional())
}

/// What `/alerts` and the API filter by.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// One of [`STATES`], or `active` (open or acknowledged).
    pub state: Option<String>,
    pub severity: Option<Severity>,
    /// Words in its summary, subject or rule.
    pub text: Option<String>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// Newest first.
pub fn list(c: &mut Conn<'_>, f: &Filter) -> QueryResult<Vec<AlertRow>> {
    db_run!(c, c => {
        let mut q = alerts::table.select(AlertRow::as_select()).into_boxed();
        match f.state.as_deref() {
            Some("open") => q = q.filter(alerts::cleared_at.is_null()).filter(alerts::acked_at.is_null()),
            Some("acknowledged") => q = q.filter(alerts::cleared_at.is_null()).filter(alerts::acked_at.is_not_null()),
            Some("active") => q = q.filter(alerts::cleared_at.is_null()),
            Some("cleared") => q = q.filter(alerts::cleared_at.is_not_null()),
            _ => {}
        }
        if let Some(s) = f.severity {
            q = q.filter(alerts::severity.eq(s.as_str()));
        }
        if let Some(text) = &f.text {
            let like = format!("%{}%", text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
            q = q.filter(
                alerts::summary.like(like.clone()).escape('\\')
                    .or(alerts::subject.like(like.clone()).escape('\\'))
                    .or(alerts::rule.like(like).escape('\\')),
            );
        }
        if let Some(before) = f.before_id {
            q = q.filter(alerts::id.lt(before));
        }
        q.order(alerts::id.desc()).limit(f.limit.clamp(1, 1000)).load(c)
    })
}

/// Open alerts, worst first, then newest.
pub fn active(c: &mut Conn<'_>) -> QueryResult<Vec<AlertRow>> {
    let mut rows = open_rows(c)?;
    rows.sort_by_key(|r| (std::cmp::Reverse(r.severity()), std::cmp::Reverse(r.id)));
    Ok(rows)
}

/// How an acknowledgement went.
#[derive(Debug)]
pub enum Ack {
    Done(AlertRow),
    /// Someone acknowledged it before.
    Already(AlertRow),
    Missing,
}

/// Acknowledges an alert once: by whom, when, with an optional note.
pub fn acknowledge(
    c: &mut Conn<'_>,
    id: i64,
    by: &str,
    note: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<Ack> {
    let n = db_run!(c, c => diesel::update(alerts::table.find(id).filter(alerts::acked_at.is_null()))
        .set((alerts::acked_at.eq(now), alerts::acked_by.eq(by), alerts::ack_note.eq(note)))
        .execute(c))?;
    Ok(match (n, get(c, id)?) {
        (1, Some(row)) => Ack::Done(row),
        (_, Some(row)) => Ack::Already(row),
        (_, None) => Ack::Missing,
    })
}

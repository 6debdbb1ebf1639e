//! Notification channels and deliveries. A delivery is planned in the
//! transaction that raised, escalated or cleared its alert, so each change
//! is told once whoever evaluated it; an `alert.notify` job sends each
//! attempt (`jobs::kinds::notify`), and a failed attempt is tried again
//! after a back-off.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::Conn;
use super::alerts::{AlertRow, Changes};
use super::schema::{alerts, jobs, notification_channels as ch, notification_deliveries as nd};
use crate::db_run;
use crate::domain::alert::Severity;
use crate::domain::notify::{self, ChannelSettings, Event};

/// A channel as kept. Not `Serialize`: it holds the secret; see
/// [`ChannelRow::json`].
#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = ch)]
pub struct ChannelRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub min_severity: String,
    pub remind_hours: i32,
    settings: String,
    secret: Option<String>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
}

impl ChannelRow {
    pub fn settings(&self) -> Option<ChannelSettings> {
        serde_json::from_str(&self.settings).ok()
    }

    /// The SMTP password or the webhook's signing secret: for the job that
    /// sends, never for a page or the API.
    pub fn secret(&self) -> Option<&str> {
        self.secret.as_deref()
    }

    pub fn min_severity(&self) -> Severity {
        Severity::parse(&self.min_severity).unwrap_or(Severity::Warning)
    }

    /// As the API shows it: its settings, whether it has a secret, never
    /// the secret.
    pub fn json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "min_severity": self.min_severity,
            "remind_hours": self.remind_hours,
            "has_secret": self.secret.is_some(),
            "created_by": self.created_by,
            "created_at": super::rfc3339(&self.created_at),
        });
        if let Ok(serde_json::Value::Object(mut s)) =
            serde_json::from_str::<serde_json::Value>(&self.settings)
        {
            s.remove("kind");
            v[self.kind.as_str()] = serde_json::Value::Object(s);
        }
        v
    }
}

pub struct NewChannel<'a> {
    pub name: &'a str,
    pub settings: &'a ChannelSettings,
    pub secret: Option<&'a str>,
    pub min_severity: Severity,
    pub remind_hours: i32,
    pub by: &'a str,
}

pub fn create_channel(
    c: &mut Conn<'_>,
    n: &NewChannel<'_>,
    now: NaiveDateTime,
) -> QueryResult<ChannelRow> {
    let settings = serde_json::to_string(n.settings).expect("settings serialize");
    db_run!(c, c => diesel::insert_into(ch::table)
        .values((
            ch::name.eq(n.name),
            ch::kind.eq(n.settings.kind()),
            ch::min_severity.eq(n.min_severity.as_str()),
            ch::remind_hours.eq(n.remind_hours),
            ch::settings.eq(&settings),
            ch::secret.eq(n.secret),
            ch::created_by.eq(n.by),
            ch::created_at.eq(now),
        ))
        .returning(ChannelRow::as_returning())
        .get_result(c))
}

pub fn channels(c: &mut Conn<'_>) -> QueryResult<Vec<ChannelRow>> {
    db_run!(c, c => ch::table.select(ChannelRow::as_select()).order(ch::id).load(c))
}

pub fn channel(c: &mut Conn<'_>, id: i64) -> QueryResult<Option<ChannelRow>> {
    db_run!(c, c => ch::table.find(id).select(ChannelRow::as_select()).first(c).optional())
}

pub fn channel_named(c: &mut Conn<'_>, name: &str) -> QueryResult<Option<ChannelRow>> {
    db_run!(c, c => ch::table.filter(ch::name.eq(name)).select(ChannelRow::as_select()).first(c).optional())
}

pub fn delete_channel(c: &mut Conn<'_>, id: i64) -> QueryResult<usize> {
    db_run!(c, c => diesel::delete(nd::table.filter(nd::channel_id.eq(id))).execute(c))?;
    db_run!(c, c => diesel::delete(ch::table.find(id)).execute(c))
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = nd)]
pub struct DeliveryRow {
    pub id: i64,
    pub channel_id: i64,
    pub alert_id: Option<i64>,
    pub event: String,
    #[serde(serialize_with = "super::utc")]
    pub created_at: NaiveDateTime,
    pub attempts: i32,
    #[serde(serialize_with = "super::utc_opt")]
    pub next_at: Option<NaiveDateTime>,
    pub job_id: Option<i64>,
    #[serde(serialize_with = "super::utc_opt")]
    pub delivered_at: Option<NaiveDateTime>,
    #[serde(serialize_with = "super::utc_opt")]
    pub gave_up_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
}

impl DeliveryRow {
    pub fn event(&self) -> Event {
        Event::parse(&self.event).unwrap_or(Event::Raised)
    }
}

/// Plans one delivery, due now.
pub fn plan(
    c: &mut Conn<'_>,
    channel_id: i64,
    alert_id: Option<i64>,
    event: Event,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    db_run!(c, c => diesel::insert_into(nd::table)
        .values((
            nd::channel_id.eq(channel_id),
            nd::alert_id.eq(alert_id),
            nd::event.eq(event.as_str()),
            nd::created_at.eq(now),
            nd::attempts.eq(0),
            nd::next_at.eq(Some(now)),
        ))
        .returning(nd::id)
        .get_result(c))
}

/// The deliveries an evaluation's changes call for, and the reminders due
/// for what stays open and unacknowledged; in the evaluation's
/// transaction. Returns how many were planned.
pub fn plan_changes(c: &mut Conn<'_>, changes: &Changes, now: NaiveDateTime) -> QueryResult<usize> {
    let channels = channels(c)?;
    if channels.is_empty() {
        return Ok(0);
    }
    let mut planned = 0;
    let events = changes
        .raised
        .iter()
        .map(|a| (a, Event::Raised))
        .chain(changes.escalated.iter().map(|a| (a, Event::Escalated)))
        .chain(changes.cleared.iter().map(|a| (a, Event::Cleared)));
    for (a, event) in events {
        for chan in channels
            .iter()
            .filter(|ch| a.severity() >= ch.min_severity())
        {
            plan(c, chan.id, Some(a.id), event, now)?;
            planned += 1;
        }
    }
    // Reminders: open, unacknowledged, and not told of to this channel for
    // its `remind_hours`.
    let open: Vec<AlertRow> = db_run!(c, c => alerts::table
        .filter(alerts::cleared_at.is_null())
        .filter(alerts::acked_at.is_null())
        .select(AlertRow::as_select())
        .load(c))?;
    for a in &open {
        for chan in channels
            .iter()
            .filter(|ch| ch.remind_hours > 0 && a.severity() >= ch.min_severity())
        {
            let last: Option<NaiveDateTime> = db_run!(c, c => nd::table
                .filter(nd::alert_id.eq(a.id))
                .filter(nd::channel_id.eq(chan.id))
                .select(diesel::dsl::max(nd::created_at))
                .first(c))?;
            // An alert raised before the channel was made is first told of
            // at the channel's first reminder.
            let since = last.unwrap_or(a.raised_at.max(chan.created_at));
            if notify::reminder_due(since, chan.remind_hours, now) {
                plan(c, chan.id, Some(a.id), Event::Reminder, now)?;
                planned += 1;
            }
        }
    }
    Ok(planned)
}

/// Deliveries due now with no attempt in flight (a job that ended without
/// saying, cancelled or lost, counts as none), oldest first.
pub fn due(c: &mut Conn<'_>, now: NaiveDateTime) -> QueryResult<Vec<DeliveryRow>> {
    let rows: Vec<DeliveryRow> = db_run!(c, c => nd::table
        .filter(nd::next_at.le(now))
        .select(DeliveryRow::as_select())
        .order(nd::id)
        .load(c))?;
    let in_flight: Vec<i64> = rows.iter().filter_map(|d| d.job_id).collect();
    let ended: Vec<i64> = db_run!(c, c => jobs::table
        .filter(jobs::id.eq_any(&in_flight))
        .filter(jobs::state.eq_any(["succeeded", "failed", "cancelled"]))
        .select(jobs::id)
        .load(c))?;
    Ok(rows
        .into_iter()
        .filter(|d| d.job_id.is_none_or(|j| ended.contains(&j)))
        .collect())
}

/// Marks a delivery as having an attempt in flight, unless another agent
/// did first: true when this one did.
pub fn claim(c: &mut Conn<'_>, id: i64, before: Option<i64>, job_id: i64) -> QueryResult<bool> {
    let n = match before {
        None => db_run!(c, c => diesel::update(nd::table.find(id).filter(nd::job_id.is_null()))
            .set(nd::job_id.eq(job_id))
            .execute(c))?,
        Some(b) => db_run!(c, c => diesel::update(nd::table.find(id).filter(nd::job_id.eq(b)))
            .set(nd::job_id.eq(job_id))
            .execute(c))?,
    };
    Ok(n == 1)
}

pub fn delivery(c: &mut Conn<'_>, id: i64) -> QueryResult<Option<DeliveryRow>> {
    db_run!(c, c => nd::table.find(id).select(DeliveryRow::as_select()).first(c).optional())
}

/// The newest deliveries to a channel.
pub fn deliveries_of(
    c: &mut Conn<'_>,
    channel_id: i64,
    limit: i64,
) -> QueryResult<Vec<DeliveryRow>> {
    db_run!(c, c => nd::table
        .filter(nd::channel_id.eq(channel_id))
        .select(DeliveryRow::as_select())
        .order(nd::id.desc())
        .limit(limit)
        .load(c))
}

/// An attempt got through.
pub fn delivered(c: &mut Conn<'_>, id: i64, now: NaiveDateTime) -> QueryResult<()> {
    let none: Option<NaiveDateTime> = None;
    let no_job: Option<i64> = None;
    db_run!(c, c => diesel::update(nd::table.find(id))
        .set((
            nd::attempts.eq(nd::attempts + 1),
            nd::delivered_at.eq(Some(now)),
            nd::next_at.eq(none),
            nd::job_id.eq(no_job),
            nd::last_error.eq(None::<String>),
        ))
        .execute(c))?;
    Ok(())
}

/// An attempt failed: tried again after the back-off, or given up. Returns
/// when it is tried again.
pub fn failed(
    c: &mut Conn<'_>,
    d: &DeliveryRow,
    error: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<NaiveDateTime>> {
    let attempts = d.attempts + 1;
    let next = notify::retry_after(attempts).map(|after| now + after);
    let no_job: Option<i64> = None;
    let error = crate::naming::for_record(error, 2048);
    db_run!(c, c => diesel::update(nd::table.find(d.id))
        .set((
            nd::attempts.eq(attempts),
            nd::next_at.eq(next),
            nd::gave_up_at.eq(if next.is_none() { Some(now) } else { None }),
            nd::job_id.eq(no_job),
            nd::last_error.eq(Some(error)),
        ))
        .execute(c))?;
    Ok(next)
}

//! The ordered job queue: every change to the appliance is a job.
//!
//! The web layer records the intent and enqueues the job in one transaction
//! ([`queue::enqueue`]); the agent's runner ([`runner`]) claims jobs in order,
//! runs their steps through the storage backend and records every step and
//! command. `queue` holds the statements and the rules they keep.

/// The actor the audit log names for what Baystack does by itself (the
/// agent's own jobs, a reconcile's repairs).
pub const SYSTEM_ACTOR: &str = "baystack";

pub mod block;
pub mod kinds;
pub mod link;
pub mod queue;
pub mod runner;
mod wake;

pub use wake::Wake;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{blocked_resources, job_commands, job_resources, job_steps, jobs};
use crate::db::{Conn, DbError};
use crate::db_run;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    /// Its runner stopped renewing its lease; it waits to be resumed from
    /// its last completed step, or to be failed with the reason.
    Interrupted,
}

impl JobState {
    pub const ALL: [JobState; 6] = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
        JobState::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::Interrupted => "interrupted",
        }
    }

    pub fn parse(text: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }
}

/// A job to enqueue: what it is, what it locks, the steps it will take.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub kind: String,
    /// One line for lists: "Identify LED on: Front 12-bay, slot 5".
    pub summary: String,
    pub payload: serde_json::Value,
    pub resources: Vec<String>,
    pub steps: Vec<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = jobs)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub summary: String,
    #[serde(skip)]
    pub payload: String,
    pub state: String,
    pub requested_by: String,
    #[serde(serialize_with = "crate::db::utc")]
    pub enqueued_at: NaiveDateTime,
    #[serde(serialize_with = "crate::db::utc_opt")]
    pub started_at: Option<NaiveDateTime>,
    #[serde(serialize_with = "crate::db::utc_opt")]
    pub finished_at: Option<NaiveDateTime>,
    pub progress_percent: i32,
    pub progress_message: String,
    pub runner: Option<String>,
    pub fencing_token: i64,
    #[serde(serialize_with = "crate::db::utc_opt")]
    pub lease_expires_at: Option<NaiveDateTime>,
    pub cancel_requested: bool,
    pub attempts: i32,
    pub error: Option<String>,
    pub retry_of: Option<i64>,
    pub steps_done: i32,
    #[serde(skip)]
    pub step_started_at: Option<NaiveDateTime>,
}

impl JobRow {
    pub fn state(&self) -> JobState {
        JobState::parse(&self.state).unwrap_or(JobState::Failed)
    }

    pub fn is_finished(&self) -> bool {
        self.state().is_finished()
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = job_steps)]
pub struct StepRow {
    #[serde(skip)]
    pub job_id: i64,
    pub position: i32,
    pub name: String,
    pub state: String,
    #[serde(serialize_with = "crate::db::utc_opt")]
    pub started_at: Option<NaiveDateTime>,
    #[serde(serialize_with = "crate::db::utc_opt")]
    pub finished_at: Option<NaiveDateTime>,
    pub detail: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = job_commands)]
pub struct CommandRow {
    #[serde(skip)]
    pub id: i64,
    #[serde(skip)]
    pub job_id: i64,
    pub step: i32,
    pub fencing_token: i64,
    pub argv: String,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub duration_ms: i64,
    pub stdout: String,
    pub stderr: String,
    pub truncated: bool,
    #[serde(serialize_with = "crate::db::utc")]
    pub at: NaiveDateTime,
}

impl CommandRow {
    /// The argument vector as a readable line (each argument quoted where
    /// it holds spaces); never run by a shell.
    pub fn command_line(&self) -> String {
        let argv: Vec<String> = serde_json::from_str(&self.argv).unwrap_or_default();
        argv.iter()
            .map(|a| {
                if a.is_empty() || a.contains(char::is_whitespace) {
                    format!("'{a}'")
                } else {
                    a.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A job with everything pages and the API show.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    #[serde(flatten)]
    pub job: JobRow,
    pub resources: Vec<String>,
    /// The resources this job left blocked, failing part-way (see
    /// [`block`]).
    pub blocks: Vec<block::Block>,
    pub steps: Vec<StepRow>,
    pub progress: Progress,
}

#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    pub percent: i32,
    pub message: String,
}

#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub state: Option<JobState>,
    pub resource: Option<String>,
    pub requested_by: Option<String>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

fn views(c: &mut Conn<'_>, rows: Vec<JobRow>) -> Result<Vec<JobView>, DbError> {
    let ids: Vec<i64> = rows.iter().map(|j| j.id).collect();
    let resources: Vec<(i64, String)> = db_run!(c, c => job_resources::table
        .filter(job_resources::job_id.eq_any(&ids))
        .order((job_resources::job_id, job_resources::resource))
        .select((job_resources::job_id, job_resources::resource))
        .load(c))?;
    let steps: Vec<StepRow> = db_run!(c, c => job_steps::table
        .filter(job_steps::job_id.eq_any(&ids))
        .order((job_steps::job_id, job_steps::position))
        .select(StepRow::as_select())
        .load(c))?;
    let blocks: Vec<block::Block> = db_run!(c, c => blocked_resources::table
        .filter(blocked_resources::job_id.eq_any(&ids))
        .order(blocked_resources::resource)
        .select(block::Block::as_select())
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|job| JobView {
            blocks: blocks
                .iter()
                .filter(|b| b.job_id == job.id)
                .cloned()
                .collect(),
            resources: resources
                .iter()
                .filter(|(id, _)| *id == job.id)
                .map(|(_, r)| r.clone())
                .collect(),
            steps: with_running_step(
                &job,
                steps
                    .iter()
                    .filter(|s| s.job_id == job.id)
                    .cloned()
                    .collect(),
            ),
            progress: Progress {
                percent: job.progress_percent,
                message: job.progress_message.clone(),
            },
            job,
        })
        .collect())
}

/// Only the end of a step is written; the step running is the first not
/// done of a running job, since the job's `step_started_at`.
fn with_running_step(job: &JobRow, mut steps: Vec<StepRow>) -> Vec<StepRow> {
    if job.state() == JobState::Running
        && let Some(step) = steps.get_mut(job.steps_done as usize)
        && step.state == "pending"
    {
        step.state = "running".into();
        step.started_at = job.step_started_at;
    }
    steps
}

/// Why a job was not enqueued.
#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    /// A resource it needs is blocked by a job that failed part-way.
    #[error("{}", .0.iter().map(block::Block::refusal).collect::<Vec<_>>().join("; "))]
    Blocked(Vec<block::Block>),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

impl From<EnqueueError> for crate::error::AppError {
    fn from(e: EnqueueError) -> Self {
        match e {
            EnqueueError::Blocked(_) => crate::error::AppError::Conflict(e.to_string()),
            EnqueueError::Db(e) => e.into(),
        }
    }
}

/// Records a job the agent asks for on its own schedule, over and over
/// (a replication transfer), without an audit entry each time: its own
/// history is kept where it belongs. Returns the job's id.
pub fn enqueue_quiet(c: &mut Conn<'_>, spec: &JobSpec, actor: &str) -> Result<i64, EnqueueError> {
    let refused = block::admit(c, &spec.resources, None)?;
    if !refused.is_empty() {
        return Err(EnqueueError::Blocked(refused));
    }
    Ok(queue::enqueue(c, spec, actor, None, crate::db::now())?)
}

/// Records a job and its `job.enqueue` audit entry, in the caller's
/// transaction; `detail` is what the audit says beyond the job's summary
/// ("retry of job 7", "lit for more than 30 min"). Returns the job's id.
pub fn enqueue_audited(
    c: &mut Conn<'_>,
    spec: &JobSpec,
    actor: &str,
    address: Option<&str>,
    retry_of: Option<i64>,
    detail: Option<&str>,
) -> Result<i64, EnqueueError> {
    let now = crate::db::now();
    let refused = block::admit(c, &spec.resources, retry_of)?;
    if !refused.is_empty() {
        return Err(EnqueueError::Blocked(refused));
    }
    let id = queue::enqueue(c, spec, actor, retry_of, now)?;
    if let Some(old) = retry_of {
        block::pass_on(c, old, id)?;
    }
    let detail = match detail {
        Some(more) => format!("{} ({more})", spec.summary),
        None => spec.summary.clone(),
    };
    crate::db::audit::record(
        c,
        &crate::db::audit::Entry {
            actor: Some(actor),
            address,
            action: "job.enqueue",
            target: Some(&format!("job {id}")),
            outcome: crate::db::audit::Outcome::Ok,
            detail: &detail,
        },
        now,
    )?;
    Ok(id)
}

pub fn list(c: &mut Conn<'_>, f: &JobFilter) -> Result<Vec<JobView>, DbError> {
    let rows: Vec<JobRow> = db_run!(c, c => {
        let mut q = jobs::table.select(JobRow::as_select()).into_boxed();
        if let Some(state) = f.state {
            q = q.filter(jobs::state.eq(state.as_str()));
        }
        if let Some(user) = &f.requested_by {
            q = q.filter(jobs::requested_by.eq(user.clone()));
        }
        if let Some(resource) = &f.resource {
            q = q.filter(jobs::id.eq_any(
                job_resources::table
                    .filter(job_resources::resource.eq(resource.clone()))
                    .select(job_resources::job_id),
            ));
        }
        if let Some(before) = f.before_id {
            q = q.filter(jobs::id.lt(before));
        }
        q.order(jobs::id.desc()).limit(f.limit.clamp(1, 500)).load(c)
    })?;
    views(c, rows)
}

pub fn get(c: &mut Conn<'_>, id: i64) -> Result<Option<JobView>, DbError> {
    let row: Option<JobRow> = db_run!(c, c => jobs::table
        .find(id)
        .select(JobRow::as_select())
        .first(c)
        .optional())?;
    Ok(match row {
        Some(r) => views(c, vec![r])?.pop(),
        None => None,
    })
}

pub fn commands(c: &mut Conn<'_>, id: i64) -> Result<Vec<CommandRow>, DbError> {
    Ok(db_run!(c, c => job_commands::table
        .filter(job_commands::job_id.eq(id))
        .order(job_commands::id.asc())
        .select(CommandRow::as_select())
        .load(c))?)
}

/// Jobs not finished, oldest first (the dashboard's "in progress").
pub fn unfinished(c: &mut Conn<'_>, limit: i64) -> Result<Vec<JobRow>, DbError> {
    Ok(db_run!(c, c => jobs::table
        .filter(jobs::state.eq_any(["queued", "running", "interrupted"]))
        .order(jobs::id.asc())
        .limit(limit)
        .select(JobRow::as_select())
        .load(c))?)
}

/// Every resource any job has named, by key (for the jobs page's filter).
pub fn known_resources(c: &mut Conn<'_>) -> Result<Vec<String>, DbError> {
    Ok(db_run!(c, c => job_resources::table
        .select(job_resources::resource)
        .distinct()
        .order(job_resources::resource.asc())
        .limit(1000)
        .load(c))?)
}

/// Jobs not finished yet that hold or wait for a resource starting with
/// `prefix` (`"bay:"`), with that resource, oldest first.
pub fn open_on(c: &mut Conn<'_>, prefix: &str) -> Result<Vec<(String, JobRow)>, DbError> {
    use crate::db::schema::open_resources;
    let pattern = format!("{prefix}%");
    Ok(db_run!(c, c => open_resources::table
        .inner_join(jobs::table.on(jobs::id.eq(open_resources::job_id)))
        .filter(open_resources::resource.like(&pattern))
        .order(jobs::id.asc())
        .select((open_resources::resource, JobRow::as_select()))
        .load(c))?)
}

/// The spec of an earlier job, to enqueue it again.
pub fn spec_of(view: &JobView) -> JobSpec {
    JobSpec {
        kind: view.job.kind.clone(),
        summary: view.job.summary.clone(),
        payload: serde_json::from_str(&view.job.payload).unwrap_or(serde_json::Value::Null),
        resources: view.resources.clone(),
        steps: view.steps.iter().map(|s| s.name.clone()).collect(),
    }
}

//! The queue's statements, in plain SQL, each executed when the code says,
//! inside the explicit transaction its caller opened.
//!
//! The rules they implement:
//! - A job's place is its id. Enqueuers first take the row lock on
//!   `queue_clock`, so ids are handed out in commit order.
//! - A job may start only when no earlier unfinished job (queued, running or
//!   interrupted) shares one of its resources: per resource, one at a time,
//!   in enqueue order; jobs with disjoint resources run side by side.
//! - Starting is one `UPDATE ... RETURNING` on the job row that checks all
//!   of that; it returns a row only for the one runner that won. No lock row
//!   is created and deleted: the running job row *is* the lock on its
//!   resources, and finishing the job (a later statement than any of its
//!   steps' writes) releases them.
//! - Every write a runner makes carries its fencing token and is refused by
//!   the statement itself when the token is stale.
//!
//! The statements a runner makes for every job are [`Stmt`]s, prepared once
//! per connection and reused.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Integer, Text};

use crate::db::schema::{
    job_commands, job_resources, job_steps, jobs, open_resources, queue_clock,
};
use crate::db::stmt::Stmt;
use crate::db::{self, Conn};
use crate::storage::cmd::CommandOutput;
use crate::{db_run, stmt};

use super::{JobSpec, JobState};

/// The condition on a `jobs` row "may start now": waiting (queued, or
/// interrupted and waiting to be resumed), no stop asked for, and first in
/// the line of every resource it locks: none of its resources
/// (`job_resources`) has a line (`open_resources`, see the migration) that
/// starts with an earlier job. Walking the queue in id order, the first job
/// that passes is the one to start.
///
/// Written so that every plan is a few index probes per job, and a claim
/// walks the waiting jobs in id order and stops at the first that passes,
/// with or without planner statistics:
/// - The head of a line is `MIN` over the primary key (resource, job_id),
///   and the job's own resources are counted by a scalar subquery, which
///   PostgreSQL can neither turn into a join over all of `job_resources` (as
///   it does with `NOT EXISTS` once it has statistics) nor, lacking a
///   `LIMIT`, answer with a sequential scan it hopes to stop early.
/// - The whole check is one `<>`, which PostgreSQL without statistics
///   guesses true for 99.5% of rows. Written as `cancel_requested = FALSE
///   AND (...) = 0` it was guessed true for 0.25% (a half times 0.5%): on a
///   table never analyzed (a new database) the planner expected no waiting
///   job to pass, so walking `jobs_waiting` in order looked no cheaper than
///   checking every waiting job and sorting the ones that pass, and it chose
///   the latter: each claim of the benchmark's first run checked all 3,000
///   waiting jobs (18,000 buffer reads, 20 ms) until autovacuum's first
///   `ANALYZE` replaced the plan.
///
/// The answer cannot go stale in the unsafe direction: ids follow commit
/// order, so a job committed later takes a later place in every line, and
/// places are only ever removed (when a job ends). A job free to start in
/// any snapshot stays free; only its own state can change, and the claim
/// checks that on the row it changes.
macro_rules! may_start {
    () => {
        "jobs.state IN ('queued', 'interrupted') \
         AND CASE WHEN jobs.cancel_requested \
         OR (SELECT COUNT(*) FROM job_resources mine WHERE mine.job_id = jobs.id \
         AND (SELECT MIN(line.job_id) FROM open_resources line WHERE line.resource = mine.resource) \
         < mine.job_id) > 0 THEN 'wait' ELSE 'go' END <> 'wait'"
    };
}

/// Starts the job matched by `$which`, binding runner and lease end before
/// `$which`'s own values.
macro_rules! claim_sql {
    ($which:expr) => {
        concat!(
            "UPDATE jobs SET state = 'running', runner = ?, fencing_token = fencing_token + 1, \
             lease_expires_at = ?, attempts = attempts + 1, error = NULL WHERE ",
            $which,
            " RETURNING id, kind, payload, fencing_token, attempts, step_count, steps_done"
        )
    };
}

pub const CLAIM_SQL: &str = claim_sql!(concat!("id = ? AND ", may_start!()));

/// The oldest job that may start. On PostgreSQL the row is locked with
/// `FOR UPDATE SKIP LOCKED`, so runners claiming at the same moment take
/// different jobs instead of queueing on one row; SQLite has one writer at
/// a time.
pub const CLAIM_NEXT_SQLITE: &str = claim_sql!(concat!(
    "id = (SELECT id FROM jobs WHERE ",
    may_start!(),
    " ORDER BY id LIMIT 1)"
));
pub const CLAIM_NEXT_POSTGRES: &str = claim_sql!(concat!(
    "id = (SELECT id FROM jobs WHERE ",
    may_start!(),
    " ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)"
));

/// When a claimed job (and its first step not done) started: read after the
/// claim, so after the claim saw the end of the job before it on each
/// resource, whose finish time was read before that end committed. On one
/// clock, a job never seems to start before the one it waited for ended.
const STARTED_SQL: &str = "UPDATE jobs SET started_at = COALESCE(started_at, ?), step_started_at = ? \
     WHERE id = ?";

/// The first statement of a fenced write: renews the lease if, and only if,
/// the token is current.
const GUARD_SQL: &str = "UPDATE jobs SET lease_expires_at = ? \
     WHERE id = ? AND fencing_token = ? AND state = 'running' RETURNING cancel_requested";

const PROGRESS_SQL: &str = "UPDATE jobs SET progress_percent = ?, progress_message = ? \
     WHERE id = ? AND fencing_token = ? AND state = 'running'";

const ADVANCE_SQL: &str = "UPDATE jobs SET steps_done = ?, step_started_at = ?, \
     progress_percent = ?, progress_message = ? \
     WHERE id = ? AND fencing_token = ? AND state = 'running' RETURNING cancel_requested";

const SUCCEED_SQL: &str = "UPDATE jobs SET state = 'succeeded', finished_at = ?, error = NULL, \
     lease_expires_at = NULL, progress_percent = 100, steps_done = step_count \
     WHERE id = ? AND fencing_token = ? AND state = 'running'";

const END_SQL: &str = "UPDATE jobs SET state = ?, finished_at = ?, error = ?, lease_expires_at = NULL \
     WHERE id = ? AND fencing_token = ? AND state = 'running'";

/// Lets go of a finished job's places in its resources' lines, found by the
/// primary key (resource, job).
const RELEASE_SQL: &str = "DELETE FROM open_resources WHERE job_id = ? \
     AND resource IN (SELECT resource FROM job_resources WHERE job_id = ?)";

const STEP_END_SQL: &str = "UPDATE job_steps SET state = ?, started_at = ?, finished_at = ?, detail = ? \
     WHERE job_id = ? AND position = ?";

const SKIP_REST_SQL: &str = "UPDATE job_steps SET state = 'skipped', detail = ? \
     WHERE job_id = ? AND position >= ? AND state IN ('pending', 'running')";

const SWEEP_SQL: &str = "UPDATE jobs SET state = 'interrupted', fencing_token = fencing_token + 1, \
     lease_expires_at = NULL, \
     error = 'the runner ' || COALESCE(runner, 'that held it') || ' stopped renewing its lease; the job waits to be resumed' \
     WHERE state = 'running' AND lease_expires_at < ?";

const CANCEL_WAITING_SQL: &str = "UPDATE jobs SET state = 'cancelled', finished_at = ?, error = ?, \
     lease_expires_at = NULL WHERE id = ? AND state IN ('queued', 'interrupted')";

const CANCEL_RUNNING_SQL: &str =
    "UPDATE jobs SET cancel_requested = TRUE WHERE id = ? AND state = 'running'";

#[derive(QueryableByName)]
struct ClaimRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    payload: String,
    #[diesel(sql_type = BigInt)]
    fencing_token: i64,
    #[diesel(sql_type = Integer)]
    attempts: i32,
    #[diesel(sql_type = Integer)]
    step_count: i32,
    #[diesel(sql_type = Integer)]
    steps_done: i32,
}

#[derive(QueryableByName)]
struct CancelRow {
    #[diesel(sql_type = Bool)]
    cancel_requested: bool,
}

/// A job this runner has just won.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    pub fencing_token: i64,
    /// 1 on the first start; more when the job is resumed.
    pub attempts: i32,
    pub total_steps: i32,
    /// The first step not done: running from the claim on;
    /// `None` when every step is done.
    pub next_step: Option<i32>,
}

/// Records a job and its resources and planned steps. Call inside the
/// transaction that records the intent (and its audit entry).
pub fn enqueue(
    c: &mut Conn<'_>,
    spec: &JobSpec,
    requested_by: &str,
    retry_of: Option<i64>,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    // Serialize enqueuers so ids follow commit order (see the module doc).
    db_run!(c, c => diesel::update(queue_clock::table.find(1i64))
        .set(queue_clock::enqueued.eq(queue_clock::enqueued + 1))
        .execute(c))?;
    let id: i64 = db_run!(c, c => diesel::insert_into(jobs::table)
        .values((
            jobs::step_count.eq(spec.steps.len() as i32),
            jobs::kind.eq(&spec.kind),
            jobs::summary.eq(&spec.summary),
            jobs::payload.eq(spec.payload.to_string()),
            jobs::state.eq(JobState::Queued.as_str()),
            jobs::requested_by.eq(requested_by),
            jobs::enqueued_at.eq(now),
            jobs::retry_of.eq(retry_of),
        ))
        .returning(jobs::id)
        .get_result(c))?;
    let resources: Vec<_> = spec
        .resources
        .iter()
        .map(|r| (job_resources::job_id.eq(id), job_resources::resource.eq(r)))
        .collect();
    if !resources.is_empty() {
        db_run!(c, c => diesel::insert_into(job_resources::table).values(&resources).execute(c))?;
        let places: Vec<_> = spec
            .resources
            .iter()
            .map(|r| {
                (
                    open_resources::resource.eq(r),
                    open_resources::job_id.eq(id),
                )
            })
            .collect();
        db_run!(c, c => diesel::insert_into(open_resources::table).values(&places).execute(c))?;
    }
    let steps: Vec<_> = spec
        .steps
        .iter()
        .enumerate()
        .map(|(i, name)| {
            (
                job_steps::job_id.eq(id),
                job_steps::position.eq(i as i32),
                job_steps::name.eq(name),
                job_steps::state.eq("pending"),
            )
        })
        .collect();
    db_run!(c, c => diesel::insert_into(job_steps::table).values(&steps).execute(c))?;
    Ok(id)
}

/// Forgets the jobs of `kind` that succeeded before `before`, with their
/// steps, commands and resources (a kind the agent enqueues over and over,
/// whose own history is kept elsewhere). Returns how many.
pub fn forget_succeeded(c: &mut Conn<'_>, kind: &str, before: NaiveDateTime) -> QueryResult<usize> {
    let old: Vec<i64> = db_run!(c, c => jobs::table
        .filter(jobs::kind.eq(kind))
        .filter(jobs::state.eq(JobState::Succeeded.as_str()))
        .filter(jobs::finished_at.lt(before))
        .select(jobs::id)
        .limit(10_000)
        .load(c))?;
    if old.is_empty() {
        return Ok(0);
    }
    db_run!(c, c => diesel::delete(job_commands::table.filter(job_commands::job_id.eq_any(&old))).execute(c))?;
    db_run!(c, c => diesel::delete(job_steps::table.filter(job_steps::job_id.eq_any(&old))).execute(c))?;
    db_run!(c, c => diesel::delete(job_resources::table.filter(job_resources::job_id.eq_any(&old))).execute(c))?;
    db_run!(c, c => diesel::delete(open_resources::table.filter(open_resources::job_id.eq_any(&old))).execute(c))?;
    db_run!(c, c => diesel::delete(jobs::table.filter(jobs::id.eq_any(&old))).execute(c))
}

/// Whether a job of `kind` holding `resource` is queued, running or
/// waiting to be resumed.
pub fn unfinished(c: &mut Conn<'_>, kind: &str, resource: &str) -> QueryResult<bool> {
    let n: i64 = db_run!(c, c => jobs::table
        .inner_join(job_resources::table)
        .filter(jobs::kind.eq(kind))
        .filter(job_resources::resource.eq(resource))
        .filter(jobs::state.eq_any([
            JobState::Queued.as_str(),
            JobState::Running.as_str(),
            JobState::Interrupted.as_str(),
        ]))
        .count()
        .get_result(c))?;
    Ok(n > 0)
}

/// Starts the oldest job that may start now for `runner`, if any; `None`
/// when none may (or another runner took the last one first).
pub fn claim_next(
    c: &mut Conn<'_>,
    runner: &str,
    lease_until: NaiveDateTime,
) -> QueryResult<Option<Claimed>> {
    let sql = match c {
        Conn::Sqlite(_) => CLAIM_NEXT_SQLITE,
        Conn::Postgres(_) => CLAIM_NEXT_POSTGRES,
    };
    claimed(c, stmt!(sql, runner, lease_until))
}

/// Starts job `id` for `runner` if it may start now. `Some` only for the one
/// runner whose statement changed the row.
pub fn claim(
    c: &mut Conn<'_>,
    id: i64,
    runner: &str,
    lease_until: NaiveDateTime,
) -> QueryResult<Option<Claimed>> {
    claimed(c, stmt!(CLAIM_SQL, runner, lease_until, id))
}

fn claimed(c: &mut Conn<'_>, claim: Stmt) -> QueryResult<Option<Claimed>> {
    let mut rows: Vec<ClaimRow> = db_run!(c, c => claim.load(c))?;
    let Some(r) = rows.pop() else {
        return Ok(None);
    };
    let now = db::now();
    db_run!(c, c => stmt!(STARTED_SQL, now, now, r.id).execute(c))?;
    Ok(Some(Claimed {
        id: r.id,
        kind: r.kind,
        payload: r.payload,
        fencing_token: r.fencing_token,
        attempts: r.attempts,
        total_steps: r.step_count,
        next_step: (r.steps_done < r.step_count).then_some(r.steps_done),
    }))
}

/// Marks running jobs whose lease ran out as interrupted and moves their
/// fencing token on, so the lost runner's writes are refused from now on.
pub fn sweep(c: &mut Conn<'_>, now: NaiveDateTime) -> QueryResult<usize> {
    db_run!(c, c => stmt!(SWEEP_SQL, now).execute(c))
}

fn cancel_flag(c: &mut Conn<'_>, statement: Stmt) -> QueryResult<Option<bool>> {
    let mut rows: Vec<CancelRow> = db_run!(c, c => statement.load(c))?;
    Ok(rows.pop().map(|r| r.cancel_requested))
}

/// The first statement of every write a runner makes for a job: renews the
/// lease if, and only if, the token is still current. `None` means the job
/// is no longer this runner's; `Some(true)` that a stop was asked for.
pub fn guard(
    c: &mut Conn<'_>,
    id: i64,
    token: i64,
    lease_until: NaiveDateTime,
) -> QueryResult<Option<bool>> {
    cancel_flag(c, stmt!(GUARD_SQL, lease_until, id, token))
}

/// Ends a running job and lets go of its resources; refused (0 rows) with a
/// stale token. The release (deleting the job's `open_resources`) is the
/// later statement, run only when the finish changed the row.
pub fn finish(
    c: &mut Conn<'_>,
    id: i64,
    token: i64,
    state: JobState,
    error: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let end = if state == JobState::Succeeded {
        stmt!(SUCCEED_SQL, now, id, token)
    } else {
        stmt!(END_SQL, state.as_str(), now, error, id, token)
    };
    let n = db_run!(c, c => end.execute(c))?;
    if n == 1 {
        release(c, id)?;
    }
    Ok(n)
}

/// Lets go of a finished job's resources; only ever in the transaction that
/// finished (or cancelled) it, as its last statement.
fn release(c: &mut Conn<'_>, id: i64) -> QueryResult<()> {
    db_run!(c, c => stmt!(RELEASE_SQL, id, id).execute(c))?;
    Ok(())
}

/// Progress within a running job; refused (0 rows) with a stale token.
pub fn progress(
    c: &mut Conn<'_>,
    id: i64,
    token: i64,
    percent: i32,
    message: &str,
) -> QueryResult<usize> {
    db_run!(c, c => stmt!(PROGRESS_SQL, percent.clamp(0, 100), message, id, token).execute(c))
}

/// Records that `done` steps are behind the job (the next one starting
/// `now`), with its progress; refused (`None`) with a stale token. Returns
/// whether a stop was asked for, so the runner honours it before the next
/// step.
pub fn advance(
    c: &mut Conn<'_>,
    id: i64,
    token: i64,
    done: i32,
    percent: i32,
    message: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<bool>> {
    let percent = percent.clamp(0, 100);
    cancel_flag(
        c,
        stmt!(ADVANCE_SQL, done, now, percent, message, id, token),
    )
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepEnd {
    Done,
    Failed,
}

/// Records how step `position` ended, with when it began and what it did.
/// A step is running while its job is running and it is the first not done
/// (see `steps_done`); only its end is written.
pub fn end_step(
    c: &mut Conn<'_>,
    id: i64,
    position: i32,
    end: StepEnd,
    detail: &str,
    began: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let state = match end {
        StepEnd::Done => "done",
        StepEnd::Failed => "failed",
    };
    db_run!(c, c => stmt!(STEP_END_SQL, state, began, now, detail, id, position).execute(c))?;
    Ok(())
}

/// Marks the steps from `from` on that never ran (or were cut short) as
/// skipped, when the job ends early.
pub fn skip_rest(c: &mut Conn<'_>, id: i64, from: i32, detail: &str) -> QueryResult<()> {
    db_run!(c, c => stmt!(SKIP_REST_SQL, detail, id, from).execute(c))?;
    Ok(())
}

/// Output kept per stream in the job log.
pub const LOGGED_OUTPUT_BYTES: usize = 64 * 1024;

fn cut(bytes: &[u8]) -> (String, bool) {
    if bytes.len() <= LOGGED_OUTPUT_BYTES {
        (String::from_utf8_lossy(bytes).into_owned(), false)
    } else {
        (
            String::from_utf8_lossy(&bytes[..LOGGED_OUTPUT_BYTES]).into_owned(),
            true,
        )
    }
}

pub fn log_command(
    c: &mut Conn<'_>,
    id: i64,
    step: i32,
    token: i64,
    out: &CommandOutput,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let (stdout, cut_out) = cut(&out.stdout);
    let (stderr, cut_err) = cut(&out.stderr);
    let argv = serde_json::to_string(&out.argv).expect("strings serialize");
    db_run!(c, c => diesel::insert_into(job_commands::table)
        .values((
            job_commands::job_id.eq(id),
            job_commands::step.eq(step),
            job_commands::fencing_token.eq(token),
            job_commands::argv.eq(&argv),
            job_commands::exit_code.eq(out.exit_code),
            job_commands::signal.eq(out.signal),
            job_commands::timed_out.eq(out.timed_out),
            job_commands::duration_ms.eq(out.duration_ms as i64),
            job_commands::stdout.eq(&stdout),
            job_commands::stderr.eq(&stderr),
            job_commands::truncated.eq(cut_out || cut_err || out.stdout_truncated || out.stderr_truncated),
            job_commands::at.eq(now),
        ))
        .execute(c))?;
    Ok(())
}

/// Cancels a job that has not started (or waits to resume), with the
/// reason; false if it is running or has ended.
pub fn cancel_waiting(
    c: &mut Conn<'_>,
    id: i64,
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = db_run!(c, c => stmt!(CANCEL_WAITING_SQL, now, reason, id).execute(c))?;
    if n == 1 {
        release(c, id)?;
    }
    Ok(n == 1)
}

/// What a cancel request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancel {
    /// It had not started (or was waiting to resume): it never will.
    Cancelled,
    /// It is running: it stops after its current step.
    StopRequested,
    /// It had already ended.
    AlreadyFinished,
}

/// Cancels a job. Safe against a runner claiming it at the same moment:
/// both are single conditional statements on the job row, so exactly one
/// of them changes it.
pub fn cancel(c: &mut Conn<'_>, id: i64, by: &str, now: NaiveDateTime) -> QueryResult<Cancel> {
    let reason = format!("cancelled by {by} before it ran to the end");
    if cancel_waiting(c, id, &reason, now)? {
        return Ok(Cancel::Cancelled);
    }
    let n = db_run!(c, c => stmt!(CANCEL_RUNNING_SQL, id).execute(c))?;
    Ok(if n == 1 {
        Cancel::StopRequested
    } else {
        Cancel::AlreadyFinished
    })
}

//! The queue's statements, in plain SQL, each executed when the code says,
//! inside the explicit transaction its caller opened.
//!
//! The rules they implement:
//! - A job's place is its id. Enqueuers first take the row lock on
//!   `queue_clock`, so ids are handed out in commit order.
//! - A job may start only when no earlier unfinished job (queued, running or
//!   interrupted) shares one of its resources: per resource, one at a time,
//!   in enqueue order; jobs with disjoint resources run side by side.
//! - Starting is one `UPDATE ... RETURNING` on the job row that re-checks all
//!   of that; it returns a row only for the one runner that won. No lock row
//!   is created and deleted: the running job row *is* the lock on its
//!   resources, and finishing the job (a later statement than any of its
//!   steps' writes) releases them.
//! - Every write a runner makes carries its fencing token and is refused by
//!   the statement itself when the token is stale.
//!
//! The hot, simple statements (guard, progress, finish, release) are built
//! with diesel's query builder so their prepared statements are cached; they
//! are still single statements run when called. The rest is SQL text.
//!
//! Placeholders are written `$1`, `$2`, … in order of first appearance:
//! PostgreSQL numbers them so, and SQLite, which reads them as named
//! parameters, numbers them by first appearance, so both bind alike.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamp};

use crate::db::Conn;
use crate::db::schema::{
    job_commands, job_resources, job_steps, jobs, open_resources, queue_clock,
};
use crate::db_run;
use crate::storage::cmd::CommandOutput;

use super::{JobSpec, JobState};

/// The condition "no earlier unfinished job shares a resource with `jobs`":
/// the job's resources (`job_resources`) against the places of unfinished
/// jobs (`open_resources`, see the migration).
/// Written as a scalar subquery that stops at its first row, so PostgreSQL
/// checks each job as it walks the queue instead of joining every open job
/// against every other.
macro_rules! no_earlier_conflict {
    () => {
        "(SELECT 1 FROM job_resources mine \
         JOIN open_resources other ON other.resource = mine.resource \
         AND other.job_id < mine.job_id \
         WHERE mine.job_id = jobs.id LIMIT 1) IS NULL"
    };
}

pub const CANDIDATES_SQL: &str = concat!(
    "SELECT id FROM jobs WHERE state IN ('queued', 'interrupted') AND cancel_requested = FALSE AND ",
    no_earlier_conflict!(),
    " ORDER BY id LIMIT $1"
);

/// Starts the jobs whose ids stand in `{ids}` (our own integers, written
/// into the statement) that may start now; one row back per job won.
pub const CLAIM_SQL: &str = concat!(
    "UPDATE jobs SET state = 'running', runner = $1, fencing_token = fencing_token + 1, \
     lease_expires_at = $2, started_at = COALESCE(started_at, $3), attempts = attempts + 1, error = NULL \
     WHERE id IN ({ids}) AND state IN ('queued', 'interrupted') AND cancel_requested = FALSE AND ",
    no_earlier_conflict!(),
    " RETURNING id, kind, payload, fencing_token, attempts"
);

/// Marks the first step not yet done of each just-claimed job running, in
/// the claim's transaction.
pub const START_FIRST_STEPS_SQL: &str = "UPDATE job_steps SET state = 'running', started_at = $1, finished_at = NULL \
     WHERE (job_id, position) IN (SELECT job_id, MIN(position) FROM job_steps \
     WHERE job_id IN ({ids}) AND state <> 'done' GROUP BY job_id)";

/// Per claimed job: how many steps, and the first not done.
pub const STEP_PLAN_SQL: &str = "SELECT job_id, COUNT(*) AS total, \
     MIN(CASE WHEN state <> 'done' THEN position END) AS next \
     FROM job_steps WHERE job_id IN ({ids}) GROUP BY job_id";

pub const SWEEP_SQL: &str = "UPDATE jobs SET state = 'interrupted', fencing_token = fencing_token + 1, \
     lease_expires_at = NULL, \
     error = 'the runner ' || COALESCE(runner, '?') || ' stopped renewing its lease; the job waits to be resumed' \
     WHERE state = 'running' AND lease_expires_at < $1";

pub const CANCEL_WAITING_SQL: &str = "UPDATE jobs SET state = 'cancelled', finished_at = $1, error = $2, \
     lease_expires_at = NULL WHERE id = $3 AND state IN ('queued', 'interrupted')";

/// Lets go of a finished job's places in its resources' lines, found by the
/// primary key (resource, job).
pub const RELEASE_SQL: &str = "DELETE FROM open_resources WHERE job_id = $1 \
     AND resource IN (SELECT resource FROM job_resources WHERE job_id = $1)";

pub const CANCEL_RUNNING_SQL: &str =
    "UPDATE jobs SET cancel_requested = TRUE WHERE id = $1 AND state = 'running'";

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
    /// The first step not done (already marked running by the claim);
    /// `None` when every step is done.
    pub next_step: Option<i32>,
}

#[derive(QueryableByName)]
struct StepPlan {
    #[diesel(sql_type = BigInt)]
    job_id: i64,
    #[diesel(sql_type = BigInt)]
    total: i64,
    #[diesel(sql_type = Nullable<Integer>)]
    next: Option<i32>,
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
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

/// Up to `limit` jobs that may start now, oldest first. Only a hint: the
/// claim re-checks everything.
pub fn candidates(c: &mut Conn<'_>, limit: i64) -> QueryResult<Vec<i64>> {
    let rows: Vec<IdRow> = db_run!(c, c => diesel::sql_query(CANDIDATES_SQL)
        .bind::<BigInt, _>(limit)
        .load(c))?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

fn id_list(ids: &[i64]) -> String {
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Tries to start the jobs `ids` for `runner`, in one statement; returns
/// those it won (others were taken, cancelled, or must wait). In the same
/// transaction, marks each won job's first open step running and reads its
/// step plan.
pub fn claim_many(
    c: &mut Conn<'_>,
    ids: &[i64],
    runner: &str,
    lease_until: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<Vec<Claimed>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<ClaimRow> = db_run!(c, c => diesel::sql_query(CLAIM_SQL.replace("{ids}", &id_list(ids)))
        .bind::<Text, _>(runner)
        .bind::<Timestamp, _>(lease_until)
        .bind::<Timestamp, _>(now)
        .load(c))?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let won = id_list(&rows.iter().map(|r| r.id).collect::<Vec<_>>());
    db_run!(c, c => diesel::sql_query(START_FIRST_STEPS_SQL.replace("{ids}", &won))
        .bind::<Timestamp, _>(now)
        .execute(c))?;
    let plans: Vec<StepPlan> =
        db_run!(c, c => diesel::sql_query(STEP_PLAN_SQL.replace("{ids}", &won)).load(c))?;
    let mut claimed: Vec<Claimed> = rows
        .into_iter()
        .map(|r| {
            let plan = plans.iter().find(|p| p.job_id == r.id);
            Claimed {
                total_steps: plan.map(|p| p.total as i32).unwrap_or(0),
                next_step: plan.and_then(|p| p.next),
                id: r.id,
                kind: r.kind,
                payload: r.payload,
                fencing_token: r.fencing_token,
                attempts: r.attempts,
            }
        })
        .collect();
    claimed.sort_by_key(|j| j.id);
    Ok(claimed)
}

/// Tries to start job `id` for `runner`. `Some` only for the one runner
/// whose statement changed the row.
pub fn claim(
    c: &mut Conn<'_>,
    id: i64,
    runner: &str,
    lease_until: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<Option<Claimed>> {
    Ok(claim_many(c, &[id], runner, lease_until, now)?.pop())
}

/// Marks running jobs whose lease ran out as interrupted and moves their
/// fencing token on, so the lost runner's writes are refused from now on.
pub fn sweep(c: &mut Conn<'_>, now: NaiveDateTime) -> QueryResult<usize> {
    db_run!(c, c => diesel::sql_query(SWEEP_SQL).bind::<Timestamp, _>(now).execute(c))
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
    let mut rows: Vec<bool> = db_run!(c, c => diesel::update(
            jobs::table
                .filter(jobs::id.eq(id))
                .filter(jobs::fencing_token.eq(token))
                .filter(jobs::state.eq("running")),
        )
        .set(jobs::lease_expires_at.eq(lease_until))
        .returning(jobs::cancel_requested)
        .get_results(c))?;
    Ok(rows.pop())
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
    let target = jobs::table
        .filter(jobs::id.eq(id))
        .filter(jobs::fencing_token.eq(token))
        .filter(jobs::state.eq("running"));
    let values = (
        jobs::state.eq(state.as_str()),
        jobs::finished_at.eq(now),
        jobs::error.eq(error),
        jobs::lease_expires_at.eq(None::<NaiveDateTime>),
    );
    let n = if state == JobState::Succeeded {
        db_run!(c, c => diesel::update(target)
            .set((values, jobs::progress_percent.eq(100)))
            .execute(c))?
    } else {
        db_run!(c, c => diesel::update(target).set(values).execute(c))?
    };
    if n == 1 {
        release(c, id)?;
    }
    Ok(n)
}

/// Lets go of a finished job's resources; only ever in the transaction that
/// finished (or cancelled) it, as its last statement.
fn release(c: &mut Conn<'_>, id: i64) -> QueryResult<()> {
    db_run!(c, c => diesel::sql_query(RELEASE_SQL).bind::<BigInt, _>(id).execute(c))?;
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
    db_run!(c, c => diesel::update(
            jobs::table
                .filter(jobs::id.eq(id))
                .filter(jobs::fencing_token.eq(token))
                .filter(jobs::state.eq("running")),
        )
        .set((
            jobs::progress_percent.eq(percent.clamp(0, 100)),
            jobs::progress_message.eq(message),
        ))
        .execute(c))
}

pub fn mark_step(
    c: &mut Conn<'_>,
    id: i64,
    position: i32,
    state: &str,
    detail: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let target = job_steps::table.find((id, position));
    match state {
        "running" => db_run!(c, c => diesel::update(target)
            .set((
                job_steps::state.eq(state),
                job_steps::started_at.eq(now),
                job_steps::finished_at.eq(None::<NaiveDateTime>),
            ))
            .execute(c))?,
        _ => db_run!(c, c => diesel::update(target)
            .set((
                job_steps::state.eq(state),
                job_steps::finished_at.eq(now),
                job_steps::detail.eq(detail.unwrap_or("")),
            ))
            .execute(c))?,
    };
    Ok(())
}

/// Marks the steps from `from` on that never ran (or were cut short) as
/// skipped, when the job ends early.
pub fn skip_rest(c: &mut Conn<'_>, id: i64, from: i32, detail: &str) -> QueryResult<()> {
    db_run!(c, c => diesel::update(
            job_steps::table
                .filter(job_steps::job_id.eq(id))
                .filter(job_steps::position.ge(from))
                .filter(job_steps::state.eq_any(["pending", "running"])),
        )
        .set((job_steps::state.eq("skipped"), job_steps::detail.eq(detail)))
        .execute(c))?;
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
    let n = db_run!(c, c => diesel::sql_query(CANCEL_WAITING_SQL)
        .bind::<Timestamp, _>(now)
        .bind::<Text, _>(&reason)
        .bind::<BigInt, _>(id)
        .execute(c))?;
    if n == 1 {
        release(c, id)?;
        return Ok(Cancel::Cancelled);
    }
    let n = db_run!(c, c => diesel::sql_query(CANCEL_RUNNING_SQL)
        .bind::<BigInt, _>(id)
        .execute(c))?;
    Ok(if n == 1 {
        Cancel::StopRequested
    } else {
        Cancel::AlreadyFinished
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each `$N` first appears after `$N-1`, so SQLite's numbering of named
    /// parameters by first appearance equals PostgreSQL's.
    #[test]
    fn placeholders_first_appear_in_order() {
        for sql in [
            CANDIDATES_SQL,
            CLAIM_SQL,
            SWEEP_SQL,
            CANCEL_WAITING_SQL,
            CANCEL_RUNNING_SQL,
            RELEASE_SQL,
            START_FIRST_STEPS_SQL,
        ] {
            let mut seen: Vec<u32> = Vec::new();
            let bytes = sql.as_bytes();
            for (i, b) in bytes.iter().enumerate() {
                if *b == b'$' {
                    let digits: String = sql[i + 1..]
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .collect();
                    let n: u32 = digits.parse().expect("placeholder number");
                    if !seen.contains(&n) {
                        assert_eq!(n as usize, seen.len() + 1, "out of order in {sql}");
                        seen.push(n);
                    }
                }
            }
        }
    }
}

//! Resources a job left half-changed. A job that fails part-way after it
//! changed the system (a pool whose array exists but whose volume group
//! does not) blocks its resources, as stratisd refuses changes to a pool
//! after one failed part-way: the next job must not build on it. New jobs
//! on a blocked resource are refused, in words; jobs already waiting on it
//! are cancelled, saying why. The block ends when a retry of the job
//! succeeds (a retry takes the block over), or when an admin clears it
//! once the system is checked.
//!
//! Setting and checking take the queue's clock row first, as enqueueing
//! does, so a job enqueued at the moment a block is set is either refused
//! or cancelled by it, never run.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::queue;
use crate::db::Conn;
use crate::db::schema::{blocked_resources, job_resources, jobs, queue_clock};
use crate::db_run;

/// One blocked resource.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = blocked_resources)]
pub struct Block {
    pub resource: String,
    pub job_id: i64,
    pub reason: String,
    #[serde(serialize_with = "crate::db::utc")]
    pub blocked_at: NaiveDateTime,
}

impl Block {
    /// What an operator is told when a job on the resource is refused.
    pub fn refusal(&self) -> String {
        format!(
            "{} is blocked: job {} failed part-way and may have left it half-changed ({}). \
             Retry that job, or an admin clears the block once the system is checked",
            self.resource, self.job_id, self.reason
        )
    }
}

/// Takes the queue's clock row: blocks and enqueues happen one at a time.
fn lock_queue(c: &mut Conn<'_>) -> QueryResult<()> {
    db_run!(c, c => diesel::update(queue_clock::table.find(1i64))
        .set(queue_clock::enqueued.eq(queue_clock::enqueued))
        .execute(c))?;
    Ok(())
}

/// The blocks on any of `resources`, in resource order.
pub fn on(c: &mut Conn<'_>, resources: &[String]) -> QueryResult<Vec<Block>> {
    if resources.is_empty() {
        return Ok(Vec::new());
    }
    db_run!(c, c => blocked_resources::table
        .filter(blocked_resources::resource.eq_any(resources))
        .order(blocked_resources::resource)
        .select(Block::as_select())
        .load(c))
}

/// The blocks job `job_id` holds.
pub fn of_job(c: &mut Conn<'_>, job_id: i64) -> QueryResult<Vec<Block>> {
    db_run!(c, c => blocked_resources::table
        .filter(blocked_resources::job_id.eq(job_id))
        .order(blocked_resources::resource)
        .select(Block::as_select())
        .load(c))
}

/// Every block, in resource order.
pub fn all(c: &mut Conn<'_>) -> QueryResult<Vec<Block>> {
    db_run!(c, c => blocked_resources::table
        .order(blocked_resources::resource)
        .select(Block::as_select())
        .load(c))
}

/// Whether a job `retry_of` may be enqueued on `resources`: the blocks that
/// refuse it (those not held by the job it retries). A retry takes over
/// the blocks of the job it retries, in the same transaction.
pub fn admit(
    c: &mut Conn<'_>,
    resources: &[String],
    retry_of: Option<i64>,
) -> QueryResult<Vec<Block>> {
    let blocks = on(c, resources)?;
    let (ours, refusing): (Vec<Block>, Vec<Block>) =
        blocks.into_iter().partition(|b| Some(b.job_id) == retry_of);
    if refusing.is_empty() && !ours.is_empty() {
        lock_queue(c)?;
    }
    Ok(refusing)
}

/// Hands the blocks of job `from` to its retry `to`.
pub fn pass_on(c: &mut Conn<'_>, from: i64, to: i64) -> QueryResult<usize> {
    db_run!(c, c => diesel::update(blocked_resources::table.filter(blocked_resources::job_id.eq(from)))
        .set(blocked_resources::job_id.eq(to))
        .execute(c))
}

/// Blocks job `job_id`'s resources with the reason, and cancels the jobs
/// waiting on any of them. Returns the ids of the jobs cancelled.
pub fn set(
    c: &mut Conn<'_>,
    job_id: i64,
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<Vec<i64>> {
    lock_queue(c)?;
    let resources: Vec<String> = db_run!(c, c => job_resources::table
        .filter(job_resources::job_id.eq(job_id))
        .select(job_resources::resource)
        .load(c))?;
    for r in &resources {
        db_run!(c, c => diesel::delete(blocked_resources::table.find(r)).execute(c))?;
        db_run!(c, c => diesel::insert_into(blocked_resources::table)
            .values((
                blocked_resources::resource.eq(r),
                blocked_resources::job_id.eq(job_id),
                blocked_resources::reason.eq(reason),
                blocked_resources::blocked_at.eq(now),
            ))
            .execute(c))?;
    }
    let waiting: Vec<i64> = db_run!(c, c => jobs::table
        .inner_join(job_resources::table)
        .filter(job_resources::resource.eq_any(&resources))
        .filter(jobs::id.ne(job_id))
        .filter(jobs::state.eq_any(["queued", "interrupted"]))
        .select(jobs::id)
        .distinct()
        .order(jobs::id)
        .load(c))?;
    let why = format!(
        "cancelled: job {job_id} failed part-way on what this job needed, which is blocked until \
         an operator looks"
    );
    let mut cancelled = Vec::new();
    for id in waiting {
        if queue::cancel_waiting(c, id, &why, now)? {
            cancelled.push(id);
        }
    }
    Ok(cancelled)
}

/// Ends the blocks job `job_id` holds (it, or its retry, succeeded; or an
/// admin cleared them). Returns the resources unblocked.
pub fn clear(c: &mut Conn<'_>, job_id: i64) -> QueryResult<Vec<String>> {
    let held: Vec<String> = of_job(c, job_id)?.into_iter().map(|b| b.resource).collect();
    if !held.is_empty() {
        db_run!(c, c => diesel::delete(blocked_resources::table.filter(blocked_resources::job_id.eq(job_id)))
            .execute(c))?;
    }
    Ok(held)
}

//! `noop`: a job that changes nothing. The queue's torture test and
//! benchmark use it; so can an administrator checking that the agent runs.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::Kind;
use crate::db::schema::noop_runs;
use crate::db_run;
use crate::jobs::JobSpec;
use crate::jobs::runner::{JobError, StepCtx};

/// A job that does nothing but record that it ran, once per resource, in
/// the same transaction that marks its step done.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NoopPayload {
    pub resources: Vec<String>,
    pub delay_ms: u64,
    /// Whether to record the run in `noop_runs` (the torture test's
    /// evidence); the benchmark measures truly empty jobs.
    #[serde(default = "yes")]
    pub record: bool,
    /// For tests of what a failure leaves: the step that fails, and the
    /// first step that counts as changing the system.
    #[serde(default)]
    pub fail_at: Option<i32>,
    #[serde(default)]
    pub changes_from: Option<i32>,
}

fn yes() -> bool {
    true
}

pub fn noop(resources: Vec<String>, delay_ms: u64, steps: usize) -> JobSpec {
    noop_with(resources, delay_ms, steps, true)
}

pub fn noop_with(resources: Vec<String>, delay_ms: u64, steps: usize, record: bool) -> JobSpec {
    noop_payload(
        NoopPayload {
            resources,
            delay_ms,
            record,
            ..NoopPayload::default()
        },
        steps,
    )
}

/// A no-op job with the payload given (its resources are the job's).
pub fn noop_payload(payload: NoopPayload, steps: usize) -> JobSpec {
    let resources = payload.resources.clone();
    Noop.spec(
        &payload,
        format!("No-op on {}", resources.join(", ")),
        resources,
        (1..=steps.max(1))
            .map(|i| format!("No-op step {i}"))
            .collect(),
    )
}

pub struct Noop;

impl Kind for Noop {
    type Payload = NoopPayload;

    fn name(&self) -> &'static str {
        "noop"
    }

    /// It changes nothing the observer sees.
    fn observed_after(&self) -> bool {
        false
    }

    fn changes(&self, p: &NoopPayload, position: i32) -> bool {
        p.changes_from.is_some_and(|from| position >= from)
    }

    fn run_step(
        &self,
        p: &NoopPayload,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        if p.delay_ms > 0 {
            std::thread::sleep(std::time::Duration::from_millis(p.delay_ms));
        }
        if p.fail_at == Some(position) {
            return Err(JobError::Failed("failed, as asked".into()));
        }
        if !p.record {
            return Ok("done nothing, as asked".into());
        }
        let (job_id, token, runner) = (ctx.job_id(), ctx.token(), ctx.runner_id().to_string());
        let resources = p.resources.clone();
        ctx.commit_with_step(move |c, now| {
            let rows: Vec<_> = resources
                .into_iter()
                .map(|r| {
                    (
                        noop_runs::job_id.eq(job_id),
                        noop_runs::resource.eq(r),
                        noop_runs::fencing_token.eq(token),
                        noop_runs::runner.eq(runner.clone()),
                        noop_runs::at.eq(now),
                    )
                })
                .collect();
            if !rows.is_empty() {
                db_run!(c, c => diesel::insert_into(noop_runs::table).values(&rows).execute(c))?;
            }
            Ok(())
        });
        Ok("done nothing, as asked".into())
    }
}

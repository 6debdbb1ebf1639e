//! The kinds of job and what each step does. Steps are idempotent: run
//! again after an interruption, they find the work done and say so.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::JobSpec;
use super::runner::{JobError, StepCtx};
use crate::db::schema::noop_runs;
use crate::db_run;

pub trait JobKind: Sync {
    fn name(&self) -> &'static str;

    /// Whether an interrupted job of this kind may be resumed from its last
    /// completed step. If not, it is failed with the reason instead.
    fn resumable(&self) -> bool {
        true
    }

    /// Runs step `position`; returns what it did, in words.
    fn run_step(
        &self,
        payload: &str,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError>;
}

pub static KINDS: &[&dyn JobKind] = &[&BayLocate, &Noop];

pub fn find(name: &str) -> Option<&'static dyn JobKind> {
    KINDS.iter().copied().find(|k| k.name() == name)
}

fn parse<'a, T: Deserialize<'a>>(payload: &'a str) -> Result<T, JobError> {
    serde_json::from_str(payload)
        .map_err(|e| JobError::Failed(format!("the job's payload does not fit its kind: {e}")))
}

// ---- bay.locate ----

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LocatePayload {
    pub enclosure: String,
    pub slot: u32,
    pub on: bool,
}

/// The resource key of a bay.
pub fn bay_resource(enclosure: &str, slot: u32) -> String {
    format!("bay:{enclosure}:{slot}")
}

pub fn locate(enclosure: &str, enclosure_label: &str, slot: u32, on: bool) -> JobSpec {
    let word = if on { "on" } else { "off" };
    JobSpec {
        kind: BayLocate.name().into(),
        summary: format!("Identify LED {word}: {enclosure_label}, slot {slot}"),
        payload: serde_json::to_value(LocatePayload {
            enclosure: enclosure.into(),
            slot,
            on,
        })
        .expect("payload serializes"),
        resources: vec![bay_resource(enclosure, slot)],
        steps: vec![
            format!("Turn the identify LED {word}"),
            "Read the bay back from the enclosure".into(),
        ],
    }
}

pub struct BayLocate;

impl JobKind for BayLocate {
    fn name(&self) -> &'static str {
        "bay.locate"
    }

    fn run_step(
        &self,
        payload: &str,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        let p: LocatePayload = parse(payload)?;
        match position {
            0 => {
                let backend = ctx.backend;
                Ok(backend.set_locate(&p.enclosure, p.slot, p.on, ctx)?)
            }
            _ => {
                let inv = ctx.backend.inventory()?;
                let bay = inv
                    .enclosures
                    .iter()
                    .find(|e| e.ident == p.enclosure)
                    .and_then(|e| e.slots.iter().find(|s| s.slot == p.slot))
                    .ok_or_else(|| {
                        JobError::Failed(format!(
                            "the enclosure no longer reports slot {} of {}",
                            p.slot, p.enclosure
                        ))
                    })?;
                let word = |b: bool| if b { "on" } else { "off" };
                if bay.locate != p.on {
                    return Err(JobError::Failed(format!(
                        "the enclosure reports the identify LED {} after it was asked to turn it {}",
                        word(bay.locate),
                        word(p.on)
                    )));
                }
                Ok(format!(
                    "the enclosure reports the identify LED {}",
                    word(p.on)
                ))
            }
        }
    }
}

// ---- noop ----

/// A job that does nothing but record that it ran, once per resource, in
/// the same transaction that marks its step done. The queue's torture test
/// and benchmark use it; so can an administrator checking that the agent
/// runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NoopPayload {
    pub resources: Vec<String>,
    pub delay_ms: u64,
    /// Whether to record the run in `noop_runs` (the torture test's
    /// evidence); the benchmark measures truly empty jobs.
    #[serde(default = "yes")]
    pub record: bool,
}

fn yes() -> bool {
    true
}

pub fn noop(resources: Vec<String>, delay_ms: u64, steps: usize) -> JobSpec {
    noop_with(resources, delay_ms, steps, true)
}

pub fn noop_with(resources: Vec<String>, delay_ms: u64, steps: usize, record: bool) -> JobSpec {
    JobSpec {
        kind: Noop.name().into(),
        summary: format!("No-op on {}", resources.join(", ")),
        payload: serde_json::to_value(NoopPayload {
            resources: resources.clone(),
            delay_ms,
            record,
        })
        .expect("payload serializes"),
        resources,
        steps: (1..=steps.max(1))
            .map(|i| format!("No-op step {i}"))
            .collect(),
    }
}

pub struct Noop;

impl JobKind for Noop {
    fn name(&self) -> &'static str {
        "noop"
    }

    fn run_step(
        &self,
        payload: &str,
        _position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        let p: NoopPayload = parse(payload)?;
        if p.delay_ms > 0 {
            std::thread::sleep(std::time::Duration::from_millis(p.delay_ms));
        }
        if !p.record {
            return Ok("done nothing, as asked".into());
        }
        let (job_id, token, runner) = (ctx.job_id(), ctx.token(), ctx.runner_id().to_string());
        ctx.commit_with_step(move |c, now| {
            let rows: Vec<_> = p
                .resources
                .iter()
                .map(|r| {
                    (
                        noop_runs::job_id.eq(job_id),
                        noop_runs::resource.eq(r.clone()),
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

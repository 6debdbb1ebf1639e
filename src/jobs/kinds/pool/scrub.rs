//! `pool.scrub`: a check or a repair of a pool's whole array.

use serde::{Deserialize, Serialize};

use super::super::Kind;
use crate::domain::resource;
use crate::jobs::JobSpec;
use crate::jobs::runner::{JobError, StepCtx};
use crate::storage::NoLog;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PoolScrubPayload {
    pub pool_id: i64,
    pub name: String,
    /// Rewrite what does not match, rather than only count it.
    pub repair: bool,
}

/// The job that starts a check (or a repair) of a pool's whole array. md
/// runs it in the background; the agent follows it and records what it
/// found when it ends.
pub fn scrub(pool_id: i64, name: &str, repair: bool) -> JobSpec {
    let what = if repair { "repair" } else { "check" };
    PoolScrub.spec(
        &PoolScrubPayload {
            pool_id,
            name: name.into(),
            repair,
        },
        format!("Scrub pool {name}: a {what} of the whole array"),
        vec![resource::pool(name)],
        vec![
            format!("Check that pool {name} is clean: never while degraded or rebuilding"),
            format!("Start the {what}; md runs it in the background and the agent follows it"),
        ],
    )
}

pub struct PoolScrub;

impl Kind for PoolScrub {
    type Payload = PoolScrubPayload;

    fn name(&self) -> &'static str {
        "pool.scrub"
    }

    fn run_step(
        &self,
        p: &PoolScrubPayload,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        use crate::domain::pool::{ArrayState, SyncAction};
        let backend = ctx.backend;
        let array = backend
            .arrays(&mut NoLog)?
            .into_iter()
            .find(|a| a.md_name.as_deref() == Some(p.name.as_str()))
            .ok_or_else(|| JobError::Refused(format!("/dev/md/{} is not running", p.name)))?;
        match position {
            0 => match array.state {
                Some(ArrayState::Clean) => Ok(format!("/dev/md/{} is clean", p.name)),
                Some(other) => Err(JobError::Refused(format!(
                    "pool {} is {}; a scrub waits until it is clean",
                    p.name,
                    other.as_str()
                ))),
                None => Err(JobError::Refused(format!(
                    "the state of /dev/md/{} cannot be read; no scrub was started",
                    p.name
                ))),
            },
            _ => {
                let action = if p.repair {
                    SyncAction::Repair
                } else {
                    SyncAction::Check
                };
                let did = backend.sync_action(&p.name, action, None, ctx)?;
                let (pool_id, repair, job_id) = (p.pool_id, p.repair, ctx.job_id());
                ctx.commit_with_step(move |c, now| {
                    crate::db::pools::start_scrub(c, pool_id, job_id, repair, now)
                });
                Ok(did)
            }
        }
    }
}

//! `pool.heal`: an unreadable sector of a member rewritten from the
//! array's redundancy, as StorStac did. md rewrites a sector from parity
//! or the mirror only when md itself reads it, so a repair of just the
//! stripes that hold the sector (md's `sync_min`/`sync_max` window) makes
//! it read there; then the sector is read back from the drive, past its
//! cache. Never on an array that is not clean: a degraded array has no
//! redundancy to rewrite from.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::super::Kind;
use crate::domain::pool::{DriveRef, MemberRole, RaidLevel, SyncAction, heal_window};
use crate::domain::resource;
use crate::jobs::JobSpec;
use crate::jobs::runner::{JobError, StepCtx};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PoolHealPayload {
    pub pool_id: i64,
    pub name: String,
    pub drive: DriveRef,
    pub drive_id: i64,
    /// The unreadable sector, in 512-byte sectors from the drive's start.
    pub lba: u64,
    /// What named it: "self-test", "kernel".
    pub source: String,
}

/// How long the repair of one window may take before the job gives up
/// waiting (md goes on).
const REPAIR_WAIT: Duration = Duration::from_secs(300);

pub fn heal(p: PoolHealPayload) -> JobSpec {
    let (name, serial, lba) = (p.name.clone(), p.drive.serial.clone(), p.lba);
    let resources = vec![resource::pool(&name), resource::drive(&p.drive.ident)];
    PoolHeal.spec(
        &p,
        format!("Rewrite sector {lba} of drive {serial} from pool {name}'s redundancy"),
        resources,
        vec![
            format!("Check that pool {name} is clean and drive {serial} an active member"),
            format!("Repair the stripes of /dev/md/{name} that hold sector {lba}"),
            format!("Wait for md, then read sector {lba} of drive {serial} back"),
        ],
    )
}

pub struct PoolHeal;

impl PoolHeal {
    /// The window to repair, from what md says now; refused unless the
    /// array is clean and the drive an active member.
    fn window(
        &self,
        p: &PoolHealPayload,
        ctx: &mut StepCtx<'_>,
    ) -> Result<Option<crate::domain::pool::SyncWindow>, JobError> {
        let array = super::running(ctx.backend, &p.name)?;
        if !array.is_clean() {
            return Err(JobError::Refused(format!(
                "pool {} is {}: without its redundancy a sector cannot be rewritten from it; \
                 nothing was changed",
                p.name,
                array.state.map_or("not readable", |s| s.as_str())
            )));
        }
        let active = p
            .drive
            .dev_name
            .as_deref()
            .and_then(|d| array.member(d))
            .is_some_and(|m| m.role == MemberRole::Active);
        if !active {
            return Err(JobError::Refused(format!(
                "drive {} is not an active member of pool {} now; nothing was changed",
                p.drive.serial, p.name
            )));
        }
        let level = array
            .level
            .ok_or_else(|| JobError::Refused(format!("md does not say pool {}'s level", p.name)))?;
        let offset = ctx.backend.data_offset(&p.name, &p.drive, ctx)?;
        let window = heal_window(level, array.chunk_kib, offset, p.lba);
        if window.is_none() && level != RaidLevel::Raid10 {
            return Err(JobError::Refused(format!(
                "sector {} lies before drive {}'s data (it starts at sector {offset}): md holds \
                 nothing there to rewrite it from",
                p.lba, p.drive.serial
            )));
        }
        Ok(window)
    }
}

impl Kind for PoolHeal {
    type Payload = PoolHealPayload;

    fn name(&self) -> &'static str {
        "pool.heal"
    }

    fn run_step(
        &self,
        p: &PoolHealPayload,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        match position {
            0 => {
                let window = self.window(p, ctx)?;
                Ok(match window {
                    Some(w) => format!(
                        "pool {} is clean; sector {} lies in md's sectors {} to {}",
                        p.name,
                        p.lba,
                        w.min_sectors,
                        w.max_sectors.unwrap_or(0)
                    ),
                    None => format!("pool {} is clean; a raid10 array is repaired whole", p.name),
                })
            }
            1 => {
                let window = self.window(p, ctx)?;
                let did = ctx
                    .backend
                    .sync_action(&p.name, SyncAction::Repair, window, ctx)?;
                let (drive, pool, lba, source, job) =
                    (p.drive_id, p.pool_id, p.lba, p.source.clone(), ctx.job_id());
                ctx.commit_with_step(move |c, now| {
                    crate::db::heals::start(c, drive, pool, lba, &source, job, now)
                });
                Ok(did)
            }
            _ => {
                let started = Instant::now();
                loop {
                    let array = super::running(ctx.backend, &p.name)?;
                    let busy = array
                        .sync_action
                        .is_some_and(|a| matches!(a, SyncAction::Repair | SyncAction::Check));
                    if !busy {
                        break;
                    }
                    // md stops at the window's end and waits there until
                    // it is told to stop.
                    let end = array.sync_window.and_then(|w| w.max_sectors);
                    let done = array.progress.as_ref().and_then(|p| p.done_sectors);
                    if let (Some(end), Some(done)) = (end, done)
                        && done >= end
                    {
                        ctx.backend
                            .sync_action(&p.name, SyncAction::Idle, None, ctx)?;
                        break;
                    }
                    if ctx.stop_requested() || started.elapsed() > REPAIR_WAIT {
                        return Err(JobError::Refused(format!(
                            "md was still repairing after {} s; the sector is read back by a later heal",
                            started.elapsed().as_secs()
                        )));
                    }
                    if let Some(pr) = &array.progress {
                        ctx.progress(pr.percent as i32, "md repairs the window")?;
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
                let read = ctx.backend.read_sector(&p.drive, p.lba, ctx)?;
                let (healed, result) = match &read {
                    None => (
                        true,
                        format!("sector {} rewritten from redundancy; it reads", p.lba),
                    ),
                    Some(why) => (
                        false,
                        format!(
                            "sector {} still cannot be read after the repair ({why}); the drive is offered for replacement",
                            p.lba
                        ),
                    ),
                };
                let (job, words) = (ctx.job_id(), result.clone());
                ctx.commit_with_step(move |c, now| {
                    crate::db::heals::finish(c, job, healed, &words, now).map(|_| ())
                });
                Ok(result)
            }
        }
    }
}

//! `drive.requalify`: a drive taken out of a pool written with zeroes end
//! to end and given a long self-test (the seed's "blank-out"). If both
//! pass it is offered as a spare; otherwise it is marked for disposal with
//! the reason. The verdict is kept with the drive's removal.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::Kind;
use crate::domain::pool::DriveRef;
use crate::domain::{SelfTestKind, resource};
use crate::jobs::JobSpec;
use crate::jobs::runner::{JobError, StepCtx};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequalifyPayload {
    pub drive_id: i64,
    pub drive: DriveRef,
    pub size_bytes: u64,
    /// The removal the verdict is kept with.
    pub removal_id: i64,
}

const MIB: u64 = 1 << 20;
/// Zeroes are written in this many pieces, each its own command, so the
/// job shows its progress.
const PIECES: u64 = 50;
/// How often the long self-test is looked at while it runs: soon at
/// first, then every 30 s.
fn test_poll(elapsed: Duration) -> Duration {
    (elapsed / 10).clamp(Duration::from_secs(2), Duration::from_secs(30))
}

pub fn requalify(p: RequalifyPayload) -> JobSpec {
    let serial = p.drive.serial.clone();
    let resources = vec![resource::drive(&p.drive.ident)];
    Requalify.spec(
        &p,
        format!("Re-qualify drive {serial}: zeroes end to end, then a long self-test"),
        resources,
        vec![
            format!("Write zeroes over all of drive {serial}"),
            format!(
                "Run drive {serial}'s long self-test, wait for its result and keep the verdict: \
                 a spare, or for disposal with the reason"
            ),
        ],
    )
}

pub struct Requalify;

impl Requalify {
    fn zero(&self, p: &RequalifyPayload, ctx: &mut StepCtx<'_>) -> Result<String, JobError> {
        let whole = p.size_bytes / MIB * MIB;
        if whole == 0 {
            return Err(JobError::Refused(format!(
                "drive {} is smaller than 1 MiB",
                p.drive.serial
            )));
        }
        let piece = (whole / PIECES).div_ceil(MIB).max(1) * MIB;
        let mut offset = 0;
        while offset < whole {
            if ctx.stop_requested() {
                return Err(JobError::Refused("stopped as asked".into()));
            }
            let length = piece.min(whole - offset);
            ctx.backend.zero_range(&p.drive, offset, length, ctx)?;
            offset += length;
            let percent = i32::try_from(offset * 100 / whole).unwrap_or(100);
            ctx.progress(
                percent,
                &format!("{} of {} MiB zeroed", offset / MIB, whole / MIB),
            )?;
        }
        Ok(format!(
            "drive {}: zeroes written over all {} MiB",
            p.drive.serial,
            whole / MIB
        ))
    }

    /// Starts the long test (unless one runs) and waits for it; the
    /// reading it ends with is kept. Returns the verdict in words.
    fn long_test(&self, p: &RequalifyPayload, ctx: &mut StepCtx<'_>) -> Result<String, JobError> {
        let backend = ctx.backend;
        let (ident, dev) = (p.drive.ident.as_str(), p.drive.dev_name.as_deref());
        let before = backend.read_smart(ident, dev, ctx)?;
        let limit = Duration::from_secs(
            u64::from(before.long_test_minutes.unwrap_or(24 * 60)) * 60 * 2 + 600,
        );
        if before.self_test_running.is_none() {
            backend.start_self_test(ident, dev, SelfTestKind::Long, ctx)?;
        }
        let started = Instant::now();
        let smart = loop {
            std::thread::sleep(test_poll(started.elapsed()));
            if ctx.stop_requested() {
                return Err(JobError::Refused(
                    "stopped as asked; the self-test runs on".into(),
                ));
            }
            let smart = backend.read_smart(ident, dev, &mut crate::storage::NoLog)?;
            match smart.self_test_remaining_percent {
                Some(left) if smart.self_test_running.is_some() => {
                    ctx.progress(
                        100 - i32::from(left.min(100)),
                        &format!("long self-test, {left}% remaining"),
                    )?;
                }
                _ if smart.self_test_running.is_some() => {}
                _ => break smart,
            }
            if started.elapsed() > limit {
                return Err(JobError::Refused(format!(
                    "the long self-test did not end within {} minutes",
                    limit.as_secs() / 60
                )));
            }
        };
        let newest = smart.self_tests.first().cloned();
        let id = p.drive_id;
        let keep = smart.clone();
        ctx.commit_with_step(move |c, now| {
            crate::db::smart::apply_smart(c, id, &keep, now, crate::db::smart::Keep::Always)
                .map(|_| ())
        });
        let (health, reason) = crate::domain::health::verdict(&smart, None);
        Ok(match newest {
            Some(t)
                if !t.failed && !t.aborted && health != crate::domain::health::Health::Failing =>
            {
                format!(
                    "passed: zeroed end to end and its long self-test {}; it can be a spare",
                    t.result.to_lowercase()
                )
            }
            Some(t) if !t.failed && !t.aborted => {
                format!("for disposal: its long self-test passed, but {reason}")
            }
            Some(t) => format!(
                "for disposal: its long self-test says {}{}",
                t.result,
                t.lba.map(|l| format!(" at sector {l}")).unwrap_or_default()
            ),
            None => format!("for disposal: no self-test result could be read ({reason})"),
        })
    }
}

impl Kind for Requalify {
    type Payload = RequalifyPayload;

    fn name(&self) -> &'static str {
        "drive.requalify"
    }

    fn run_step(
        &self,
        p: &RequalifyPayload,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        match position {
            0 => self.zero(p, ctx),
            _ => {
                let verdict = self.long_test(p, ctx)?;
                let (removal, words) = (p.removal_id, verdict.clone());
                ctx.commit_with_step(move |c, now| {
                    crate::db::pools::set_verdict(c, removal, &words, now).map(|_| ())
                });
                Ok(verdict)
            }
        }
    }
}

//! `drive.locate`, `drive.selftest`, `drive.selftest.abort`, `drive.smart`:
//! jobs on one drive, wherever it sits.

use serde::{Deserialize, Serialize};

use super::bay::read_led_back;
use super::{Kind, capitalized};
use crate::domain::{BayAddr, Led, SelfTestKind, resource};
use crate::jobs::JobSpec;
use crate::jobs::runner::{JobError, StepCtx};

// ---- drive.locate ----

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DriveLocatePayload {
    pub drive_id: i64,
    pub ident: String,
    pub on: bool,
    /// The bay the console last saw the drive in: the one bay the job
    /// holds.
    #[serde(default)]
    pub bay: Option<BayAddr>,
}

/// A job that finds the bay a drive sits in, asking the system now, and
/// turns that bay's identify LED on or off. `bay` is where the console
/// last saw the drive: the job holds that bay, waiting its turn behind
/// other jobs on it, and lights no other (a drive found elsewhere fails it
/// until the console has seen the move).
pub fn drive_locate(
    drive_id: i64,
    ident: &str,
    label: &str,
    bay: Option<&BayAddr>,
    on: bool,
) -> JobSpec {
    let word = if on { "on" } else { "off" };
    let mut resources = vec![resource::drive(ident)];
    resources.extend(bay.map(BayAddr::resource));
    DriveLocate.spec(
        &DriveLocatePayload {
            drive_id,
            ident: ident.into(),
            on,
            bay: bay.cloned(),
        },
        format!("Identify LED {word}: the bay of {label}"),
        resources,
        vec![
            format!("Find the bay holding {label} and turn its identify LED {word}"),
            "Read the bay back from the enclosure".into(),
        ],
    )
}

pub struct DriveLocate;

impl Kind for DriveLocate {
    type Payload = DriveLocatePayload;

    fn name(&self) -> &'static str {
        "drive.locate"
    }

    fn run_step(
        &self,
        p: &DriveLocatePayload,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        let backend = ctx.backend;
        match position {
            0 => {
                let found = backend.drive_bay(&p.ident, ctx)?;
                if p.bay.as_ref() != Some(&found) {
                    return Err(JobError::Refused(format!(
                        "the drive is in {found}, where the console has not seen it yet; no LED \
                         was set. Ask again once the bay map shows it there"
                    )));
                }
                let did = backend.set_led(&found, Led::Locate, p.on, ctx)?;
                Ok(format!("found in {found}; {did}"))
            }
            _ => read_led_back(ctx, Led::Locate, p.on, |inv| {
                inv.bay_of(&p.ident)
                    .filter(|(e, s)| p.bay.as_ref() == Some(&BayAddr::new(e.ident.clone(), s.slot)))
                    .map(|(_, s)| s.clone())
                    .ok_or_else(|| {
                        JobError::Failed("the drive is no longer in the bay it was found in".into())
                    })
            }),
        }
    }
}

// ---- drive.selftest ----

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SelfTestPayload {
    pub drive_id: i64,
    pub ident: String,
    /// The kernel name when the job was asked for.
    pub dev_name: Option<String>,
    pub kind: SelfTestKind,
}

/// A job that starts a SMART self-test on a drive. `label` names the drive
/// for people: "sda, ST4000NM0023 Z1Z0A1B2".
pub fn self_test(
    drive_id: i64,
    ident: &str,
    dev_name: Option<&str>,
    label: &str,
    kind: SelfTestKind,
) -> JobSpec {
    DriveSelfTest.spec(
        &SelfTestPayload {
            drive_id,
            ident: ident.into(),
            dev_name: dev_name.map(str::to_string),
            kind,
        },
        format!("{} SMART self-test: {label}", capitalized(kind.as_str())),
        vec![resource::drive(ident)],
        vec![
            format!("Start the {} self-test", kind.as_str()),
            READ_BACK.into(),
        ],
    )
}

/// The step after a self-test is started or aborted.
const READ_BACK: &str = "Read the drive's SMART, to show the test as it is now";

pub struct DriveSelfTest;

impl Kind for DriveSelfTest {
    type Payload = SelfTestPayload;

    fn name(&self) -> &'static str {
        "drive.selftest"
    }

    /// Started again after an interruption, a test would find the first
    /// one running and fail; the drive's self-test log says what ran.
    fn resumable(&self) -> bool {
        false
    }

    fn run_step(
        &self,
        p: &SelfTestPayload,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        let backend = ctx.backend;
        match position {
            0 => {
                let did = backend.start_self_test(&p.ident, p.dev_name.as_deref(), p.kind, ctx)?;
                let (id, kind) = (p.drive_id, p.kind);
                ctx.commit_with_step(move |c, now| {
                    crate::db::smart::mark_self_test(c, id, kind, now)
                });
                Ok(did)
            }
            _ => read_back(ctx, p),
        }
    }
}

/// Reads a drive's SMART through the backend (the command goes into the
/// job's log) and keeps the reading with the step, as the drive's newest:
/// what was read, in words.
fn read_and_keep(ctx: &mut StepCtx<'_>, p: &impl AsDrive) -> Result<String, JobError> {
    use crate::db::smart::{Keep, apply_smart};
    let (drive_id, ident, dev_name) = p.drive();
    let backend = ctx.backend;
    let smart = backend.read_smart(ident, dev_name, ctx)?;
    let (health, reason) = crate::domain::health::verdict(&smart, None);
    let mut words = format!("read and kept: {}, {reason}", health.as_str());
    if let Some(running) = &smart.self_test_running {
        words.push_str(&format!("; {running}"));
    } else if let Some(t) = smart.self_tests.first() {
        words.push_str(&format!("; its newest self-test: {}, {}", t.kind, t.result));
    }
    ctx.commit_with_step(move |c, now| {
        apply_smart(c, drive_id, &smart, now, Keep::Always).map(|_| ())
    });
    Ok(words)
}

/// [`read_and_keep`] after a test was started or aborted: the order is
/// given, so a reading that fails says so without failing the job.
fn read_back(ctx: &mut StepCtx<'_>, p: &impl AsDrive) -> Result<String, JobError> {
    match read_and_keep(ctx, p) {
        Err(JobError::Failed(why) | JobError::Refused(why)) => Ok(format!(
            "the drive's SMART could not be read back ({why}); the agent reads it again at its next round"
        )),
        other => other,
    }
}

/// A payload that names a drive: its row, identity and kernel name.
trait AsDrive {
    fn drive(&self) -> (i64, &str, Option<&str>);
}

impl AsDrive for SelfTestPayload {
    fn drive(&self) -> (i64, &str, Option<&str>) {
        (self.drive_id, &self.ident, self.dev_name.as_deref())
    }
}

impl AsDrive for DrivePayload {
    fn drive(&self) -> (i64, &str, Option<&str>) {
        (self.drive_id, &self.ident, self.dev_name.as_deref())
    }
}

// ---- drive.smart, drive.selftest.abort ----

/// A drive, as jobs that read or stop it name it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DrivePayload {
    pub drive_id: i64,
    pub ident: String,
    /// The kernel name when the job was asked for.
    pub dev_name: Option<String>,
}

impl DrivePayload {
    fn new(drive_id: i64, ident: &str, dev_name: Option<&str>) -> Self {
        DrivePayload {
            drive_id,
            ident: ident.into(),
            dev_name: dev_name.map(str::to_string),
        }
    }
}

/// A job that reads a drive's SMART now and keeps the reading with its
/// verdict, as the scheduled round does.
pub fn read_smart(drive_id: i64, ident: &str, dev_name: Option<&str>, label: &str) -> JobSpec {
    DriveSmart.spec(
        &DrivePayload::new(drive_id, ident, dev_name),
        format!("Read SMART: {label}"),
        vec![resource::drive(ident)],
        vec!["Read the drive's SMART and keep the reading with its verdict".into()],
    )
}

pub struct DriveSmart;

impl Kind for DriveSmart {
    type Payload = DrivePayload;

    fn name(&self) -> &'static str {
        "drive.smart"
    }

    fn run_step(
        &self,
        p: &DrivePayload,
        _position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        read_and_keep(ctx, p)
    }
}

/// A job that aborts the self-test a drive is running, then reads the
/// drive back so its page shows the test ended.
pub fn abort_self_test(drive_id: i64, ident: &str, dev_name: Option<&str>, label: &str) -> JobSpec {
    DriveSelfTestAbort.spec(
        &DrivePayload::new(drive_id, ident, dev_name),
        format!("Abort the SMART self-test: {label}"),
        vec![resource::drive(ident)],
        vec!["Abort the running self-test".into(), READ_BACK.into()],
    )
}

pub struct DriveSelfTestAbort;

impl Kind for DriveSelfTestAbort {
    type Payload = DrivePayload;

    fn name(&self) -> &'static str {
        "drive.selftest.abort"
    }

    fn run_step(
        &self,
        p: &DrivePayload,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        let backend = ctx.backend;
        match position {
            0 => Ok(backend.abort_self_test(&p.ident, p.dev_name.as_deref(), ctx)?),
            _ => read_back(ctx, p),
        }
    }
}

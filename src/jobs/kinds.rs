//! The kinds of job and what each step does. Steps are idempotent: run
//! again after an interruption, they find the work done and say so.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::JobSpec;
use super::runner::{JobError, StepCtx};
use crate::db::schema::noop_runs;
use crate::db_run;
use crate::storage::{Led, SelfTestKind};

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

pub static KINDS: &[&dyn JobKind] = &[
    &BAY_LOCATE,
    &BAY_FAULT,
    &DriveLocate,
    &DriveSelfTest,
    &DriveSelfTestAbort,
    &DriveSmart,
    &Noop,
];

pub fn find(name: &str) -> Option<&'static dyn JobKind> {
    KINDS.iter().copied().find(|k| k.name() == name)
}

fn parse<'a, T: Deserialize<'a>>(payload: &'a str) -> Result<T, JobError> {
    serde_json::from_str(payload)
        .map_err(|e| JobError::Failed(format!("the job's payload does not fit its kind: {e}")))
}

// ---- bay.locate, bay.fault ----

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LedPayload {
    pub enclosure: String,
    pub slot: u32,
    pub on: bool,
}

/// The resource key of a bay.
pub fn bay_resource(enclosure: &str, slot: u32) -> String {
    format!("bay:{enclosure}:{slot}")
}

/// A job that turns one LED of a bay on or off, then reads the bay back.
pub fn bay_led(led: Led, enclosure: &str, enclosure_label: &str, slot: u32, on: bool) -> JobSpec {
    let word = if on { "on" } else { "off" };
    let kind = match led {
        Led::Locate => &BAY_LOCATE,
        Led::Fault => &BAY_FAULT,
    };
    let what = led.words();
    let mut title = what.to_string();
    title[..1].make_ascii_uppercase();
    JobSpec {
        kind: kind.name().into(),
        summary: format!(
            "{title} {word}: {}",
            crate::naming::bay_name(enclosure_label, slot)
        ),
        payload: serde_json::to_value(LedPayload {
            enclosure: enclosure.into(),
            slot,
            on,
        })
        .expect("payload serializes"),
        resources: vec![bay_resource(enclosure, slot)],
        steps: vec![
            format!("Turn the {what} {word}"),
            "Read the bay back from the enclosure".into(),
        ],
    }
}

pub fn locate(enclosure: &str, enclosure_label: &str, slot: u32, on: bool) -> JobSpec {
    bay_led(Led::Locate, enclosure, enclosure_label, slot, on)
}

pub struct BayLed {
    led: Led,
    name: &'static str,
}

pub static BAY_LOCATE: BayLed = BayLed {
    led: Led::Locate,
    name: "bay.locate",
};

pub static BAY_FAULT: BayLed = BayLed {
    led: Led::Fault,
    name: "bay.fault",
};

impl JobKind for BayLed {
    fn name(&self) -> &'static str {
        self.name
    }

    fn run_step(
        &self,
        payload: &str,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        let p: LedPayload = parse(payload)?;
        match position {
            0 => {
                let backend = ctx.backend;
                Ok(backend.set_led(&p.enclosure, p.slot, self.led, p.on, ctx)?)
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
                led_reads(bay, self.led, p.on)
            }
        }
    }
}

/// Whether a bay's LED reads as it was asked to be: what it reads, in
/// words, or the failure.
fn led_reads(bay: &crate::storage::Slot, led: Led, on: bool) -> Result<String, JobError> {
    let word = |b: bool| if b { "on" } else { "off" };
    let what = led.words();
    if bay.led(led) != on {
        return Err(JobError::Failed(format!(
            "the enclosure reports the {what} {} after it was asked to turn it {}",
            word(bay.led(led)),
            word(on)
        )));
    }
    Ok(format!("the enclosure reports the {what} {}", word(on)))
}

// ---- drive.locate ----

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DriveLocatePayload {
    pub drive_id: i64,
    pub ident: String,
    pub on: bool,
    /// The bay the console last saw the drive in (enclosure, slot): the
    /// one bay the job holds.
    #[serde(default)]
    pub bay: Option<(String, u32)>,
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
    bay: Option<(&str, u32)>,
    on: bool,
) -> JobSpec {
    let word = if on { "on" } else { "off" };
    let mut resources = vec![drive_resource(ident)];
    resources.extend(bay.map(|(e, s)| bay_resource(e, s)));
    JobSpec {
        kind: DriveLocate.name().into(),
        summary: format!("Identify LED {word}: the bay of {label}"),
        payload: serde_json::to_value(DriveLocatePayload {
            drive_id,
            ident: ident.into(),
            on,
            bay: bay.map(|(e, s)| (e.to_string(), s)),
        })
        .expect("payload serializes"),
        resources,
        steps: vec![
            format!("Find the bay holding {label} and turn its identify LED {word}"),
            "Read the bay back from the enclosure".into(),
        ],
    }
}

pub struct DriveLocate;

impl JobKind for DriveLocate {
    fn name(&self) -> &'static str {
        "drive.locate"
    }

    fn run_step(
        &self,
        payload: &str,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        let p: DriveLocatePayload = parse(payload)?;
        let backend = ctx.backend;
        match position {
            0 => {
                let found = backend.drive_bay(&p.ident, ctx)?;
                if p.bay.as_ref() != Some(&found) {
                    let (enclosure, slot) = &found;
                    return Err(JobError::Failed(format!(
                        "the drive is in slot {slot} of {enclosure}, where the console has not \
                         seen it yet; no LED was set. Ask again once the bay map shows it there"
                    )));
                }
                let (enclosure, slot) = found;
                let did = backend.set_led(&enclosure, slot, Led::Locate, p.on, ctx)?;
                Ok(format!("found in slot {slot} of {enclosure}; {did}"))
            }
            _ => {
                let inv = backend.inventory()?;
                let bay = inv
                    .bay_of(&p.ident)
                    .filter(|(e, s)| p.bay.as_ref() == Some(&(e.ident.clone(), s.slot)))
                    .ok_or_else(|| {
                        JobError::Failed("the drive is no longer in the bay it was found in".into())
                    })?;
                led_reads(bay.1, Led::Locate, p.on)
            }
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

/// The resource key of a drive.
pub fn drive_resource(ident: &str) -> String {
    format!("drive:{ident}")
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
    let mut title = kind.as_str().to_string();
    title[..1].make_ascii_uppercase();
    JobSpec {
        kind: DriveSelfTest.name().into(),
        summary: format!("{title} SMART self-test: {label}"),
        payload: serde_json::to_value(SelfTestPayload {
            drive_id,
            ident: ident.into(),
            dev_name: dev_name.map(str::to_string),
            kind,
        })
        .expect("payload serializes"),
        resources: vec![drive_resource(ident)],
        steps: vec![
            format!("Start the {} self-test", kind.as_str()),
            READ_BACK.into(),
        ],
    }
}

/// The step after a self-test is started or aborted.
const READ_BACK: &str = "Read the drive's SMART, to show the test as it is now";

pub struct DriveSelfTest;

impl JobKind for DriveSelfTest {
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
        payload: &str,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        let p: SelfTestPayload = parse(payload)?;
        let backend = ctx.backend;
        match position {
            0 => {
                let did = backend.start_self_test(&p.ident, p.dev_name.as_deref(), p.kind, ctx)?;
                ctx.commit_with_step(move |c, now| {
                    crate::db::inventory::mark_self_test(c, p.drive_id, p.kind, now)
                });
                Ok(did)
            }
            _ => read_back(ctx, p.drive_id, &p.ident, p.dev_name.as_deref()),
        }
    }
}

/// Reads a drive's SMART through the backend (the command goes into the
/// job's log) and keeps the reading with the step, as the drive's newest:
/// what was read, in words.
fn read_and_keep(
    ctx: &mut StepCtx<'_>,
    drive_id: i64,
    ident: &str,
    dev_name: Option<&str>,
) -> Result<String, JobError> {
    use crate::db::inventory::{Keep, apply_smart};
    let backend = ctx.backend;
    let smart = backend.read_smart(ident, dev_name, ctx)?;
    let (health, reason) = crate::storage::health::verdict(&smart, None);
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
fn read_back(
    ctx: &mut StepCtx<'_>,
    drive_id: i64,
    ident: &str,
    dev_name: Option<&str>,
) -> Result<String, JobError> {
    match read_and_keep(ctx, drive_id, ident, dev_name) {
        Err(JobError::Failed(why)) => Ok(format!(
            "the drive's SMART could not be read back ({why}); the agent reads it again at its next round"
        )),
        other => other,
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

fn drive_payload(drive_id: i64, ident: &str, dev_name: Option<&str>) -> serde_json::Value {
    serde_json::to_value(DrivePayload {
        drive_id,
        ident: ident.into(),
        dev_name: dev_name.map(str::to_string),
    })
    .expect("payload serializes")
}

/// A job that reads a drive's SMART now and keeps the reading with its
/// verdict, as the scheduled round does.
pub fn read_smart(drive_id: i64, ident: &str, dev_name: Option<&str>, label: &str) -> JobSpec {
    JobSpec {
        kind: DriveSmart.name().into(),
        summary: format!("Read SMART: {label}"),
        payload: drive_payload(drive_id, ident, dev_name),
        resources: vec![drive_resource(ident)],
        steps: vec!["Read the drive's SMART and keep the reading with its verdict".into()],
    }
}

pub struct DriveSmart;

impl JobKind for DriveSmart {
    fn name(&self) -> &'static str {
        "drive.smart"
    }

    fn run_step(
        &self,
        payload: &str,
        _position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        let p: DrivePayload = parse(payload)?;
        read_and_keep(ctx, p.drive_id, &p.ident, p.dev_name.as_deref())
    }
}

/// A job that aborts the self-test a drive is running, then reads the
/// drive back so its page shows the test ended.
pub fn abort_self_test(drive_id: i64, ident: &str, dev_name: Option<&str>, label: &str) -> JobSpec {
    JobSpec {
        kind: DriveSelfTestAbort.name().into(),
        summary: format!("Abort the SMART self-test: {label}"),
        payload: drive_payload(drive_id, ident, dev_name),
        resources: vec![drive_resource(ident)],
        steps: vec!["Abort the running self-test".into(), READ_BACK.into()],
    }
}

pub struct DriveSelfTestAbort;

impl JobKind for DriveSelfTestAbort {
    fn name(&self) -> &'static str {
        "drive.selftest.abort"
    }

    fn run_step(
        &self,
        payload: &str,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        let p: DrivePayload = parse(payload)?;
        let backend = ctx.backend;
        match position {
            0 => Ok(backend.abort_self_test(&p.ident, p.dev_name.as_deref(), ctx)?),
            _ => read_back(ctx, p.drive_id, &p.ident, p.dev_name.as_deref()),
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

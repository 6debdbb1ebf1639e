//! `pool.create`: an md array with its write hole closed, recorded for
//! boot, its stripe cache sized, and an LVM volume group on it. Every step
//! from the first wipe on changes the system, so a create that fails
//! part-way blocks the pool until it is retried or cleared: nothing is
//! built on a half-made pool.

use serde::{Deserialize, Serialize};

mod delete;
mod drives;
mod heal;
mod scrub;

pub use delete::{PoolDelete, PoolDeletePayload, delete};
pub use drives::{
    PoolAssemble, PoolDrivePayload, PoolGrow, PoolGrowPayload, PoolReplace, PoolReplacePayload,
    PoolResize, PoolSpareAdd, PoolSpareRemove, ReplaceMode, add_spare, assemble, grow,
    remove_spare, replace, resize,
};
pub use heal::{PoolHeal, PoolHealPayload, heal};
pub use scrub::{PoolScrub, PoolScrubPayload, scrub};

use super::Kind;
use crate::domain::pool::{ArraySpec, DriveRef, RaidLevel, WriteHole, stripe_cache_pages};
use crate::domain::resource;
use crate::jobs::JobSpec;
use crate::jobs::runner::{JobError, StepCtx};
use crate::storage::NoLog;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PoolCreatePayload {
    pub spec: ArraySpec,
    /// Drives whose old signatures an admin allowed to be erased.
    #[serde(default)]
    pub wipe: Vec<DriveRef>,
}

/// What a create does, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Check,
    Wipe,
    Create,
    Persist,
    StripeCache,
    VolumeGroup,
    ReadBack,
}

impl Step {
    fn changes(self) -> bool {
        !matches!(self, Step::Check | Step::ReadBack)
    }
}

fn plan(p: &PoolCreatePayload) -> Vec<Step> {
    let mut steps = vec![Step::Check];
    if !p.wipe.is_empty() {
        steps.push(Step::Wipe);
    }
    steps.extend([Step::Create, Step::Persist]);
    if matches!(p.spec.level, RaidLevel::Raid5 | RaidLevel::Raid6) {
        steps.push(Step::StripeCache);
    }
    steps.extend([Step::VolumeGroup, Step::ReadBack]);
    steps
}

fn names(drives: &[DriveRef]) -> String {
    drives
        .iter()
        .map(|d| d.serial.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The array in words: "raid6 of 6 drives, 1 spare, a mirrored write
/// journal".
pub fn describe(spec: &ArraySpec) -> String {
    let mut words = format!("{} of {} drives", spec.level.as_str(), spec.members.len());
    if !spec.spares.is_empty() {
        words.push_str(&format!(", {} spare(s)", spec.spares.len()));
    }
    match (spec.write_hole, spec.journal.len()) {
        (WriteHole::Journal, 2) => words.push_str(", a mirrored write journal"),
        (WriteHole::Journal, _) => words.push_str(", a write journal"),
        (WriteHole::Ppl, _) => words.push_str(", a partial parity log"),
        (WriteHole::Open, _) => {}
    }
    words
}

/// The job that creates a pool. It holds the pool's key and every drive's.
pub fn create(spec: ArraySpec, wipe: Vec<DriveRef>) -> JobSpec {
    let p = PoolCreatePayload { spec, wipe };
    let s = &p.spec;
    let mut resources = vec![resource::pool(&s.name)];
    resources.extend(
        s.members
            .iter()
            .chain(&s.spares)
            .chain(&s.journal)
            .map(|d| resource::drive(&d.ident)),
    );
    let steps = plan(&p)
        .into_iter()
        .map(|step| match step {
            Step::Check => "Check that every drive is still there, as it was picked".to_string(),
            Step::Wipe => format!("Erase the old signatures on {}", names(&p.wipe)),
            Step::Create => format!("Create the md array {} ({})", s.device(), describe(s)),
            Step::Persist => {
                "Record the array in mdadm's configuration, so it assembles at boot".into()
            }
            Step::StripeCache => "Size the array's stripe cache from the machine's memory".into(),
            Step::VolumeGroup => format!(
                "Make the array an LVM physical volume and the volume group {}",
                s.name
            ),
            Step::ReadBack => "Read the pool back".into(),
        })
        .collect();
    PoolCreate.spec(
        &p,
        format!("Create pool {}: {}", s.name, describe(s)),
        resources,
        steps,
    )
}

pub struct PoolCreate;

impl Kind for PoolCreate {
    type Payload = PoolCreatePayload;

    fn name(&self) -> &'static str {
        "pool.create"
    }

    fn changes(&self, p: &PoolCreatePayload, position: i32) -> bool {
        usize::try_from(position)
            .ok()
            .and_then(|i| plan(p).get(i).copied())
            .is_some_and(Step::changes)
    }

    fn run_step(
        &self,
        p: &PoolCreatePayload,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        let backend = ctx.backend;
        let s = &p.spec;
        let step = usize::try_from(position)
            .ok()
            .and_then(|i| plan(p).get(i).copied())
            .ok_or_else(|| JobError::Refused(format!("a pool create has no step {position}")))?;
        match step {
            Step::Check => {
                let inv = backend.inventory()?;
                let all = s.members.iter().chain(&s.spares).chain(&s.journal);
                let gone: Vec<&str> = all
                    .filter(|d| !inv.drives.iter().any(|x| x.ident == d.ident))
                    .map(|d| d.serial.as_str())
                    .collect();
                if !gone.is_empty() {
                    return Err(JobError::Refused(format!(
                        "{} not in the appliance now; nothing was changed",
                        if gone.len() == 1 {
                            format!("the drive {} is", gone[0])
                        } else {
                            format!("the drives {} are", gone.join(", "))
                        }
                    )));
                }
                Ok(format!(
                    "all {} drives are there",
                    s.members.len() + s.spares.len() + s.journal.len()
                ))
            }
            Step::Wipe => {
                let mut did = Vec::new();
                for d in &p.wipe {
                    did.push(backend.wipe(d, ctx)?);
                }
                Ok(did.join("; "))
            }
            Step::Create => {
                let uuid = backend.create_array(s, ctx)?;
                let (name, id) = (s.name.clone(), uuid.clone());
                ctx.commit_with_step(move |c, _| {
                    crate::db::pools::set_uuid(c, &name, &id).map(|_| ())
                });
                Ok(format!("{} runs, UUID {uuid}", s.device()))
            }
            Step::Persist => {
                let uuid = array_uuid(ctx, &s.name)?;
                Ok(backend.persist_array(&s.name, &uuid, ctx)?)
            }
            Step::StripeCache => {
                let memory = nix::sys::sysinfo::sysinfo()
                    .map(|i| i.ram_total())
                    .unwrap_or(0);
                let members = u32::try_from(s.members.len()).unwrap_or(u32::MAX);
                let pages = stripe_cache_pages(memory, members);
                Ok(backend.set_stripe_cache(&s.name, pages, ctx)?)
            }
            Step::VolumeGroup => Ok(backend.create_volume_group(&s.name, ctx)?),
            Step::ReadBack => {
                let (array, arrays) = settled(backend, &s.name, &mut NoLog)?;
                let vgs = backend.volume_groups(&mut NoLog)?;
                let state = array.state.map_or("running", |st| st.as_str()).to_string();
                let vg_words = vgs
                    .iter()
                    .find(|v| v.name == s.name)
                    .map(|v| format!("volume group {} of {} bytes", v.name, v.size_bytes))
                    .ok_or_else(|| {
                        JobError::Failed(format!("there is no volume group {} now", s.name))
                    })?;
                let name = s.name.clone();
                ctx.commit_with_step(move |c, now| {
                    crate::db::pools::record_observation(c, &arrays, &vgs, now)?;
                    crate::db::pools::set_lifecycle(c, &name, "ready").map(|_| ())
                });
                Ok(format!("the array is {state}; {vg_words}"))
            }
        }
    }
}

/// The UUID the create step recorded, read back from the system (a
/// resumed job has no memory of it).
fn array_uuid(ctx: &mut StepCtx<'_>, name: &str) -> Result<String, JobError> {
    let backend = ctx.backend;
    settled(backend, name, ctx)?
        .0
        .uuid
        .ok_or_else(|| JobError::Failed(format!("mdadm gives /dev/md/{name} no UUID")))
}

/// The array just made for pool `name`, with every array seen. udev
/// names a new array (its `/dev/md/<name>` link) a moment after mdadm
/// returns, and again after each change event, so a missing name is
/// looked for again, every 0.5 s for 10 s, before it is an error.
fn settled(
    backend: &dyn crate::storage::Backend,
    name: &str,
    log: &mut dyn crate::storage::CommandLog,
) -> Result<(crate::domain::pool::Array, Vec<crate::domain::pool::Array>), JobError> {
    let mut tries = 1;
    let arrays = loop {
        let arrays = backend.arrays(log)?;
        if let Some(a) = arrays.iter().find(|a| a.md_name.as_deref() == Some(name)) {
            return Ok((a.clone(), arrays));
        }
        if tries == 20 {
            break arrays;
        }
        tries += 1;
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    let seen: Vec<String> = arrays
        .iter()
        .map(|a| {
            let md_name = a
                .md_name
                .as_deref()
                .map_or("no name".into(), |n| format!("named {n}"));
            format!(
                "{} ({md_name})",
                a.name.as_deref().unwrap_or("an array with no kernel name")
            )
        })
        .collect();
    let seen = if seen.is_empty() {
        "none".to_string()
    } else {
        seen.join(", ")
    };
    Err(JobError::Failed(format!(
        "/dev/md/{name} is not among the running arrays after 10 s; md runs {seen}"
    )))
}

/// The running array of pool `name`, as the engine sees it now.
fn running(
    backend: &dyn crate::storage::Backend,
    name: &str,
) -> Result<crate::domain::pool::Array, JobError> {
    backend
        .arrays(&mut NoLog)?
        .into_iter()
        .find(|a| a.md_name.as_deref() == Some(name))
        .ok_or_else(|| JobError::Refused(format!("/dev/md/{name} is not running")))
}

//! The jobs that change a pool's drives: hot spares in and out, the steps
//! of a guided replacement, growing by more members, and growing the
//! physical volume once md has grown the array. Each is one short job: md
//! does the long work (a rebuild, a reshape) in the background, the agent
//! follows it, and the pool page offers the next step from what it sees.

use serde::{Deserialize, Serialize};

use super::super::Kind;
use crate::domain::pool::DriveRef;
use crate::domain::resource;
use crate::jobs::JobSpec;
use crate::jobs::runner::{JobError, StepCtx};

/// A pool and one of the drives a job changes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PoolDrivePayload {
    pub pool_id: i64,
    pub name: String,
    pub drive: DriveRef,
    pub drive_id: i64,
    /// The removal whose place the drive takes, when it goes into the bay
    /// a failed drive was taken out of.
    #[serde(default)]
    pub removal: Option<i64>,
}

fn locks(name: &str, drives: &[&DriveRef]) -> Vec<String> {
    let mut r = vec![resource::pool(name)];
    r.extend(drives.iter().map(|d| resource::drive(&d.ident)));
    r
}

// ---- hot spares ----

/// `pool.spare.add`: a free, blank drive added as a hot spare (to a
/// degraded array md rebuilds onto it at once).
pub fn add_spare(p: PoolDrivePayload) -> JobSpec {
    let (name, serial) = (p.name.clone(), p.drive.serial.clone());
    PoolSpareAdd.spec(
        &p,
        format!("Add drive {serial} to pool {name} as a hot spare"),
        locks(&name, &[&p.drive]),
        vec![format!("Add drive {serial} to /dev/md/{name}")],
    )
}

pub struct PoolSpareAdd;

impl Kind for PoolSpareAdd {
    type Payload = PoolDrivePayload;

    fn name(&self) -> &'static str {
        "pool.spare.add"
    }

    fn run_step(
        &self,
        p: &PoolDrivePayload,
        _position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        let did = ctx.backend.add_member(&p.name, &p.drive, ctx)?;
        let (pool, drive, removal) = (p.pool_id, p.drive_id, p.removal);
        ctx.commit_with_step(move |c, _| {
            crate::db::pools::add_drive(c, pool, drive, "spare")?;
            if let Some(r) = removal {
                crate::db::pools::mark_replaced(c, r, drive)?;
            }
            Ok(())
        });
        Ok(did)
    }
}

/// `pool.spare.remove`: a hot spare taken out and its md superblock
/// cleared; the drive is free.
pub fn remove_spare(p: PoolDrivePayload) -> JobSpec {
    let (name, serial) = (p.name.clone(), p.drive.serial.clone());
    PoolSpareRemove.spec(
        &p,
        format!("Take hot spare {serial} out of pool {name}"),
        locks(&name, &[&p.drive]),
        vec![
            format!("Take drive {serial} out of /dev/md/{name}"),
            format!("Clear drive {serial}'s md superblock"),
        ],
    )
}

pub struct PoolSpareRemove;

impl Kind for PoolSpareRemove {
    type Payload = PoolDrivePayload;

    fn name(&self) -> &'static str {
        "pool.spare.remove"
    }

    fn changes(&self, _p: &PoolDrivePayload, position: i32) -> bool {
        position == 0
    }

    fn run_step(
        &self,
        p: &PoolDrivePayload,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        let backend = ctx.backend;
        if position == 0 {
            // md may have pulled the spare into the array since the page was
            // drawn: then it is a member, and stays.
            let array = super::running(backend, &p.name)?;
            if let Some(dev) = &p.drive.dev_name
                && let Some(m) = array.member(dev)
                && m.role != crate::domain::pool::MemberRole::Spare
            {
                return Err(JobError::Refused(format!(
                    "drive {} is no longer a spare of pool {}: md made it its {} member; nothing was changed",
                    p.drive.serial,
                    p.name,
                    m.role.as_str()
                )));
            }
            let did = backend.remove_member(&p.name, &p.drive, ctx)?;
            let (pool, drive) = (p.pool_id, p.drive_id);
            ctx.commit_with_step(move |c, _| {
                crate::db::pools::drop_drive(c, pool, drive).map(|_| ())
            });
            return Ok(did);
        }
        Ok(backend.zero_superblock(&p.drive, ctx)?)
    }
}

// ---- guided replacement ----

/// Which step of a replacement a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplaceMode {
    /// The old drive is an active member and a new one is at hand:
    /// `mdadm --replace`, the old drive staying in until its place is
    /// rebuilt, so redundancy holds throughout.
    InPlace,
    /// No new drive: the old one (faulty, or failing while still active)
    /// is marked faulty and taken out, to be swapped in its bay.
    TakeOut,
    /// The old drive is faulty or out: take it out where still listed,
    /// and add the new one, which md rebuilds the missing place onto.
    Rebuild,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PoolReplacePayload {
    pub pool_id: i64,
    pub name: String,
    pub mode: ReplaceMode,
    pub old: DriveRef,
    pub old_id: i64,
    #[serde(default)]
    pub new: Option<DriveRef>,
    #[serde(default)]
    pub new_id: Option<i64>,
    /// Why the old drive goes, in words, for the record of its removal.
    pub reason: String,
    /// The open removal the new drive takes the place of.
    #[serde(default)]
    pub removal: Option<i64>,
}

/// The steps of each mode, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Fail,
    TakeOut,
    Clear,
    Add,
    Replace,
}

fn replace_plan(mode: ReplaceMode) -> &'static [Step] {
    match mode {
        ReplaceMode::InPlace => &[Step::Replace],
        ReplaceMode::TakeOut => &[Step::Fail, Step::TakeOut, Step::Clear],
        ReplaceMode::Rebuild => &[Step::TakeOut, Step::Add],
    }
}

/// `pool.replace`: one step of the guided replacement of a pool's drive.
pub fn replace(p: PoolReplacePayload) -> JobSpec {
    let (name, old) = (p.name.clone(), p.old.serial.clone());
    let new = p.new.as_ref().map(|n| n.serial.clone()).unwrap_or_default();
    let summary = match p.mode {
        ReplaceMode::InPlace => {
            format!("Replace drive {old} of pool {name} with {new}, keeping redundancy")
        }
        ReplaceMode::TakeOut => format!("Take drive {old} out of pool {name}"),
        ReplaceMode::Rebuild => format!("Rebuild drive {old}'s place in pool {name} onto {new}"),
    };
    let steps = replace_plan(p.mode)
        .iter()
        .map(|s| match s {
            Step::Fail => format!("Mark drive {old} faulty, where md has not (refused if the array cannot spare it)"),
            Step::TakeOut => format!("Take drive {old} out of /dev/md/{name}, where it is still listed"),
            Step::Clear => format!("Clear drive {old}'s md superblock, where the drive still answers"),
            Step::Add => format!("Add drive {new}; md rebuilds the missing place onto it"),
            Step::Replace => format!(
                "Add drive {new} and start mdadm --replace: {old} stays in until {new} holds its place"
            ),
        })
        .collect();
    let mut drives = vec![&p.old];
    drives.extend(p.new.as_ref());
    let resources = locks(&name, &drives);
    PoolReplace.spec(&p, summary, resources, steps)
}

pub struct PoolReplace;

impl Kind for PoolReplace {
    type Payload = PoolReplacePayload;

    fn name(&self) -> &'static str {
        "pool.replace"
    }

    fn changes(&self, p: &PoolReplacePayload, position: i32) -> bool {
        // Taking a drive out or adding one leaves a pool that is whole in
        // md's eyes at every point; a failure there changed nothing later
        // jobs cannot see. Only a clear after the take-out is harmless.
        step_at(p, position).is_some_and(|s| s != Step::Clear)
    }

    fn run_step(
        &self,
        p: &PoolReplacePayload,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        let backend = ctx.backend;
        let step = step_at(p, position)
            .ok_or_else(|| JobError::Refused(format!("a replacement has no step {position}")))?;
        let new = || {
            p.new
                .as_ref()
                .zip(p.new_id)
                .ok_or_else(|| JobError::Refused("this replacement names no new drive".into()))
        };
        match step {
            Step::Fail => Ok(backend.fail_member(&p.name, &p.old, ctx)?),
            Step::TakeOut => {
                let did = backend.remove_member(&p.name, &p.old, ctx)?;
                let (pool, old, reason) = (p.pool_id, p.old_id, p.reason.clone());
                ctx.commit_with_step(move |c, now| {
                    crate::db::pools::record_removal(c, pool, old, &reason, now)
                });
                Ok(did)
            }
            Step::Clear => match backend.zero_superblock(&p.old, ctx) {
                Ok(did) => Ok(did),
                // A dead or pulled drive cannot be cleared; its superblock
                // names an array it is no longer in, and a pool refuses it
                // until it is wiped.
                Err(e) if e.changed_nothing() => Ok(format!("not cleared: {e}")),
                Err(e) => Err(e.into()),
            },
            Step::Add => {
                let (drive, drive_id) = new()?;
                let did = backend.add_member(&p.name, drive, ctx)?;
                self.record_new(p, drive_id, ctx);
                Ok(did)
            }
            Step::Replace => {
                let (drive, drive_id) = new()?;
                let did = backend.replace_member(&p.name, &p.old, drive, ctx)?;
                self.record_new(p, drive_id, ctx);
                Ok(did)
            }
        }
    }
}

impl PoolReplace {
    fn record_new(&self, p: &PoolReplacePayload, drive_id: i64, ctx: &mut StepCtx<'_>) {
        let (pool, removal) = (p.pool_id, p.removal);
        ctx.commit_with_step(move |c, _| {
            crate::db::pools::add_drive(c, pool, drive_id, "member")?;
            if let Some(r) = removal {
                crate::db::pools::mark_replaced(c, r, drive_id)?;
            }
            Ok(())
        });
    }
}

fn step_at(p: &PoolReplacePayload, position: i32) -> Option<Step> {
    usize::try_from(position)
        .ok()
        .and_then(|i| replace_plan(p.mode).get(i).copied())
}

// ---- growth ----

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PoolGrowPayload {
    pub pool_id: i64,
    pub name: String,
    /// The new members, with their ids.
    pub drives: Vec<(DriveRef, i64)>,
    /// The array's device count once grown.
    pub raid_devices: u32,
}

/// `pool.grow`: more members for a pool. md reshapes (raid5/6/10) or
/// builds the new mirror (raid1) in the background; when it is done the
/// agent grows the physical volume ([`resize`]).
pub fn grow(p: PoolGrowPayload) -> JobSpec {
    let name = p.name.clone();
    let serials: Vec<&str> = p.drives.iter().map(|(d, _)| d.serial.as_str()).collect();
    let drives: Vec<&DriveRef> = p.drives.iter().map(|(d, _)| d).collect();
    PoolGrow.spec(
        &p,
        format!(
            "Grow pool {name} to {} devices with {}",
            p.raid_devices,
            serials.join(", ")
        ),
        locks(&name, &drives),
        vec![
            format!("Add {} to /dev/md/{name} as spares", serials.join(", ")),
            format!(
                "Grow /dev/md/{name} to {} devices; md reshapes it in the background, and the volume group grows when that ends",
                p.raid_devices
            ),
        ],
    )
}

pub struct PoolGrow;

impl Kind for PoolGrow {
    type Payload = PoolGrowPayload;

    fn name(&self) -> &'static str {
        "pool.grow"
    }

    fn changes(&self, _p: &PoolGrowPayload, _position: i32) -> bool {
        true
    }

    fn run_step(
        &self,
        p: &PoolGrowPayload,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        let backend = ctx.backend;
        if position == 0 {
            let mut did = Vec::new();
            for (d, _) in &p.drives {
                did.push(backend.add_member(&p.name, d, ctx)?);
            }
            let (pool, ids) = (
                p.pool_id,
                p.drives.iter().map(|(_, id)| *id).collect::<Vec<_>>(),
            );
            ctx.commit_with_step(move |c, _| {
                for id in ids {
                    crate::db::pools::add_drive(c, pool, id, "member")?;
                }
                Ok(())
            });
            return Ok(did.join("; "));
        }
        Ok(backend.grow(&p.name, p.raid_devices, ctx)?)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PoolResizePayload {
    pub pool_id: i64,
    pub name: String,
}

/// `pool.resize`: the physical volume grown to its array's size, once md
/// has grown the array; enqueued by the agent.
pub fn resize(pool_id: i64, name: &str) -> JobSpec {
    PoolResize.spec(
        &PoolResizePayload {
            pool_id,
            name: name.into(),
        },
        format!("Grow pool {name}'s volume group to its array's new size"),
        vec![resource::pool(name)],
        vec![format!(
            "Grow the LVM physical volume on /dev/md/{name} to the array's size"
        )],
    )
}

pub struct PoolResize;

impl Kind for PoolResize {
    type Payload = PoolResizePayload;

    fn name(&self) -> &'static str {
        "pool.resize"
    }

    fn run_step(
        &self,
        p: &PoolResizePayload,
        _position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        Ok(ctx.backend.resize_physical_volume(&p.name, ctx)?)
    }
}

// ---- assembly at start ----

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PoolAssemblePayload {
    pub pool_id: i64,
    pub name: String,
    pub uuid: String,
}

/// `pool.assemble`: a recorded array that is not running, assembled by its
/// UUID (enqueued by the agent at start); never creates or wipes.
pub fn assemble(pool_id: i64, name: &str, uuid: &str) -> JobSpec {
    PoolAssemble.spec(
        &PoolAssemblePayload {
            pool_id,
            name: name.into(),
            uuid: uuid.into(),
        },
        format!("Assemble pool {name}'s array, which was not running"),
        vec![resource::pool(name)],
        vec![format!("Assemble /dev/md/{name} by its UUID {uuid}")],
    )
}

pub struct PoolAssemble;

impl Kind for PoolAssemble {
    type Payload = PoolAssemblePayload;

    fn name(&self) -> &'static str {
        "pool.assemble"
    }

    fn run_step(
        &self,
        p: &PoolAssemblePayload,
        _position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        Ok(ctx.backend.assemble(&p.name, &p.uuid, ctx)?)
    }
}

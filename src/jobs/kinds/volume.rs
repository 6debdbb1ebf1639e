//! Volumes: `volume.create`, `volume.resize`, `volume.delete`, and their
//! thin snapshots: `snapshot.create`, `snapshot.delete`,
//! `volume.rollback`. Each changes the pool's volume group, so each holds
//! the pool's key beside the volume's; a delete and a rollback hold the
//! target's too.

use serde::{Deserialize, Serialize};

use super::Kind;
use crate::db::Conn;
use crate::db::pools::{self, PoolRow};
use crate::db::volumes;
use crate::domain::resource;
use crate::domain::target::naa_wwn;
use crate::domain::volume::{
    THIN_POOL, front_name, size_words, snapshot_lv, thin_metadata_bytes, thin_pool_bytes,
};
use crate::error::AppError;
use crate::jobs::JobSpec;
use crate::jobs::runner::{JobError, StepCtx};
use crate::storage::NoLog;

/// A unit serial for a new volume: a random UUID, as rtslib makes them.
pub fn new_serial() -> Result<String, AppError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| AppError::Internal(format!("no randomness: {e}")))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = crate::domain::hex(&b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// What a new volume of a pool may take: its volume group's free space
/// (thick), or its thin pool (thin; the one the first thin volume will
/// make when it has none).
pub fn room_for(p: &PoolRow, thin: bool) -> u64 {
    let free = p.volume_group().map_or(0, |g| g.free_bytes);
    if !thin {
        return free;
    }
    match p.thin_pool() {
        Some(t) => t.size_bytes,
        None => crate::domain::volume::thin_pool_bytes(free, 4 << 20),
    }
}

/// Records a new volume `name` of `size` bytes in pool `pool` (its row, as
/// being made) and returns the job that makes it; refused in words, naming
/// the field, for a pool that is not there or not ready, a name taken, or
/// a size the pool has no room for. `identity` is the unit serial and WWN
/// it keeps (a replica keeps its source's); a new one otherwise.
pub fn record_volume(
    c: &mut Conn<'_>,
    name: &str,
    pool: &str,
    size: u64,
    thin: bool,
    user: &str,
    identity: Option<(&str, &str)>,
) -> Result<JobSpec, AppError> {
    let p = pools::by_name(c, pool)?
        .ok_or_else(|| AppError::invalid("pool", format!("there is no pool named {pool:?}")))?;
    if p.lifecycle != "ready" {
        return Err(AppError::Conflict(format!(
            "pool {pool} is {}; volumes are made in a ready pool",
            p.lifecycle
        )));
    }
    if volumes::by_name(c, name)?.is_some() {
        return Err(AppError::invalid(
            "name",
            format!("a volume named {name} already exists"),
        ));
    }
    let room = room_for(&p, thin);
    if size > room {
        return Err(AppError::invalid(
            "size",
            format!(
                "{} is larger than the {} {} has room for ({})",
                size_words(size),
                if thin {
                    "thin pool of"
                } else {
                    "free space of pool"
                },
                pool,
                size_words(room)
            ),
        ));
    }
    let (serial, wwn) = match identity {
        Some((s, w)) => (s.to_string(), w.to_string()),
        None => {
            let s = new_serial()?;
            let w = naa_wwn(&s);
            (s, w)
        }
    };
    let record = volumes::NewVolume {
        name,
        pool_id: p.id,
        thin,
        size_bytes: size,
        serial: &serial,
        wwn: &wwn,
        created_by: user,
    };
    volumes::insert(c, &record, crate::db::now()).map_err(|e| {
        if crate::error::is_unique_violation(&e) {
            AppError::Conflict(format!(
                "a volume named {name} was made at the same moment; nothing was changed"
            ))
        } else {
            e.into()
        }
    })?;
    Ok(create(pool, name, size, thin))
}

/// The step `position` of a plan.
fn step_at<S: Copy>(plan: &[S], position: i32, what: &str) -> Result<S, JobError> {
    usize::try_from(position)
        .ok()
        .and_then(|i| plan.get(i).copied())
        .ok_or_else(|| JobError::Refused(format!("a {what} has no step {position}")))
}

/// Reads the pool's logical volumes back and keeps them, with the front
/// devices, as the agent would.
fn read_back(ctx: &mut StepCtx<'_>, pool: &str) -> Result<String, JobError> {
    let lvs = ctx.backend.logical_volumes(pool, &mut NoLog)?;
    let fronts = ctx.backend.front_devices(&mut NoLog)?;
    let words = format!("volume group {pool} has {} logical volumes", lvs.len());
    let pool = pool.to_string();
    ctx.commit_with_step(move |c, now| {
        if let Some(p) = crate::db::pools::by_name(c, &pool)? {
            crate::db::volumes::record_observation(c, p.id, &lvs, &fronts, now)?;
        }
        Ok(())
    });
    Ok(words)
}

/// Makes (or fits) the volume's front device, unless its target is on
/// another device: a target adopted on its logical volume, which LIO's
/// iblock holds exclusively while it is exported, so no device-mapper table
/// can be put over it (the kernel answers "busy").
pub(super) fn front_device(
    ctx: &mut StepCtx<'_>,
    pool: &str,
    volume: &str,
) -> Result<String, JobError> {
    let name = volume.to_string();
    if let Some(device) = ctx.read(move |c| crate::db::volumes::target_elsewhere(c, &name))? {
        return Ok(format!(
            "no front device for {volume}: its target is on {device} itself (adopted), which \
             LIO holds while it is exported"
        ));
    }
    Ok(ctx.backend.set_front_device(pool, volume, ctx)?)
}

// ---- volume.create -------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VolumeCreatePayload {
    pub pool: String,
    pub name: String,
    pub size_bytes: u64,
    pub thin: bool,
}

#[derive(Debug, Clone, Copy)]
enum Create {
    ThinPool,
    Volume,
    Front,
    ReadBack,
}

fn create_plan(p: &VolumeCreatePayload) -> Vec<Create> {
    let mut plan = Vec::new();
    if p.thin {
        plan.push(Create::ThinPool);
    }
    plan.extend([Create::Volume, Create::Front, Create::ReadBack]);
    plan
}

/// The job that makes volume `name` in pool `pool`.
pub fn create(pool: &str, name: &str, size_bytes: u64, thin: bool) -> JobSpec {
    let p = VolumeCreatePayload {
        pool: pool.into(),
        name: name.into(),
        size_bytes,
        thin,
    };
    let kind = if thin { "thin" } else { "thick" };
    let steps = create_plan(&p)
        .into_iter()
        .map(|s| match s {
            Create::ThinPool => format!(
                "Make the thin pool {THIN_POOL} in volume group {pool} if it has none (half its free space)"
            ),
            Create::Volume => format!(
                "Make the {kind} logical volume {pool}/{name} of {}",
                size_words(size_bytes)
            ),
            Create::Front => format!("Make the front device {} over it", front_name(name)),
            Create::ReadBack => "Read the volume back".into(),
        })
        .collect();
    VolumeCreate.spec(
        &p,
        format!(
            "Create volume {name}: {} {kind} in pool {pool}",
            size_words(size_bytes)
        ),
        vec![resource::volume(name), resource::pool(pool)],
        steps,
    )
}

pub struct VolumeCreate;

impl Kind for VolumeCreate {
    type Payload = VolumeCreatePayload;

    fn name(&self) -> &'static str {
        "volume.create"
    }

    fn changes(&self, p: &VolumeCreatePayload, position: i32) -> bool {
        step_at(&create_plan(p), position, "volume create")
            .is_ok_and(|s| !matches!(s, Create::ReadBack))
    }

    fn run_step(
        &self,
        p: &VolumeCreatePayload,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        let backend = ctx.backend;
        match step_at(&create_plan(p), position, "volume create")? {
            Create::ThinPool => {
                let lvs = backend.logical_volumes(&p.pool, ctx)?;
                if lvs.iter().any(|l| l.name == THIN_POOL) {
                    return Ok(format!("{} already has its thin pool", p.pool));
                }
                let vg = backend
                    .volume_groups(ctx)?
                    .into_iter()
                    .find(|v| v.name == p.pool)
                    .ok_or_else(|| {
                        JobError::Refused(format!("there is no volume group {}", p.pool))
                    })?;
                let extent = vg.extent_size_bytes.unwrap_or(4 << 20);
                let size = thin_pool_bytes(vg.free_bytes, extent);
                let meta = thin_metadata_bytes(size);
                if size < extent {
                    return Err(JobError::Refused(format!(
                        "volume group {} has too little free space for a thin pool",
                        p.pool
                    )));
                }
                Ok(backend.create_thin_pool(&p.pool, size, meta, ctx)?)
            }
            Create::Volume => {
                Ok(backend.create_volume(&p.pool, &p.name, p.size_bytes, p.thin, ctx)?)
            }
            Create::Front => Ok(backend.set_front_device(&p.pool, &p.name, ctx)?),
            Create::ReadBack => {
                let words = read_back(ctx, &p.pool)?;
                let name = p.name.clone();
                ctx.commit_with_step(move |c, _| {
                    crate::db::volumes::set_lifecycle(c, &name, "ready").map(|_| ())
                });
                Ok(words)
            }
        }
    }
}

// ---- volume.resize -------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VolumeResizePayload {
    pub pool: String,
    pub name: String,
    pub size_bytes: u64,
}

/// The job that grows volume `name` online: its logical volume, then its
/// front device; LIO reports the new capacity at the initiator's next
/// READ CAPACITY.
pub fn resize(pool: &str, name: &str, size_bytes: u64) -> JobSpec {
    VolumeResize.spec(
        &VolumeResizePayload {
            pool: pool.into(),
            name: name.into(),
            size_bytes,
        },
        format!("Grow volume {name} to {}", size_words(size_bytes)),
        vec![resource::volume(name), resource::pool(pool)],
        vec![
            format!(
                "Grow the logical volume {pool}/{name} to {}",
                size_words(size_bytes)
            ),
            format!(
                "Load the new size into {} (I/O held for a moment, no session dropped)",
                front_name(name)
            ),
            "Read the volume back".into(),
        ],
    )
}

pub struct VolumeResize;

impl Kind for VolumeResize {
    type Payload = VolumeResizePayload;

    fn name(&self) -> &'static str {
        "volume.resize"
    }

    fn changes(&self, _p: &VolumeResizePayload, position: i32) -> bool {
        position < 2
    }

    fn run_step(
        &self,
        p: &VolumeResizePayload,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        let backend = ctx.backend;
        match position {
            0 => {
                let words = backend.resize_volume(&p.pool, &p.name, p.size_bytes, ctx)?;
                let (name, size) = (p.name.clone(), p.size_bytes);
                ctx.commit_with_step(move |c, _| {
                    crate::db::volumes::set_size(c, &name, size).map(|_| ())
                });
                Ok(words)
            }
            1 => front_device(ctx, &p.pool, &p.name),
            2 => read_back(ctx, &p.pool),
            _ => Err(JobError::Refused(format!(
                "a resize has no step {position}"
            ))),
        }
    }
}

// ---- volume.delete -------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VolumeDeletePayload {
    pub pool: String,
    pub name: String,
    pub lv: String,
    /// Its target, to take down first (an admin typed the name): IQN and
    /// backstore.
    pub unexport: Option<(String, String)>,
    /// Its snapshots' logical volumes.
    pub snapshots: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
enum Delete {
    Unexport,
    Front,
    Snapshots,
    Volume,
    Forget,
}

fn delete_plan(p: &VolumeDeletePayload) -> Vec<Delete> {
    let mut plan = Vec::new();
    if p.unexport.is_some() {
        plan.push(Delete::Unexport);
    }
    plan.push(Delete::Front);
    if !p.snapshots.is_empty() {
        plan.push(Delete::Snapshots);
    }
    plan.extend([Delete::Volume, Delete::Forget]);
    plan
}

/// The job that deletes volume `name`, its snapshots and, if given, its
/// target first.
pub fn delete(p: VolumeDeletePayload) -> JobSpec {
    let steps = delete_plan(&p)
        .into_iter()
        .map(|s| match s {
            Delete::Unexport => format!(
                "Take down target {} (its sessions end)",
                p.unexport.as_ref().map_or("", |u| u.0.as_str())
            ),
            Delete::Front => format!("Remove the front device {}", front_name(&p.name)),
            Delete::Snapshots => format!("Remove its {} snapshot(s)", p.snapshots.len()),
            Delete::Volume => format!("Remove the logical volume {}/{}", p.pool, p.lv),
            Delete::Forget => "Forget the volume".into(),
        })
        .collect();
    let resources = vec![
        resource::volume(&p.name),
        resource::target(&p.name),
        resource::pool(&p.pool),
    ];
    VolumeDelete.spec(&p, format!("Delete volume {}", p.name), resources, steps)
}

pub struct VolumeDelete;

impl Kind for VolumeDelete {
    type Payload = VolumeDeletePayload;

    fn name(&self) -> &'static str {
        "volume.delete"
    }

    fn changes(&self, p: &VolumeDeletePayload, position: i32) -> bool {
        step_at(&delete_plan(p), position, "volume delete").is_ok()
    }

    fn run_step(
        &self,
        p: &VolumeDeletePayload,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        let backend = ctx.backend;
        match step_at(&delete_plan(p), position, "volume delete")? {
            Delete::Unexport => {
                let (iqn, backstore) = p.unexport.clone().unwrap_or_default();
                let words = backend.remove_target(&iqn, &backstore, ctx)?;
                let name = p.name.clone();
                ctx.commit_with_step(move |c, _| {
                    if let Some(v) = crate::db::volumes::by_name(c, &name)? {
                        crate::db::volumes::delete_target(c, v.id)?;
                    }
                    Ok(())
                });
                Ok(words)
            }
            Delete::Front => Ok(backend.remove_front_device(&p.name, ctx)?),
            Delete::Snapshots => {
                let mut words = Vec::new();
                for lv in &p.snapshots {
                    words.push(backend.remove_volume(&p.pool, lv, ctx)?);
                }
                Ok(words.join("; "))
            }
            Delete::Volume => Ok(backend.remove_volume(&p.pool, &p.lv, ctx)?),
            Delete::Forget => {
                let name = p.name.clone();
                ctx.commit_with_step(move |c, _| crate::db::volumes::delete(c, &name).map(|_| ()));
                Ok(format!("volume {} forgotten", p.name))
            }
        }
    }
}

// ---- snapshots -------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotPayload {
    pub pool: String,
    pub volume: String,
    pub snapshot: String,
}

impl SnapshotPayload {
    fn lv(&self) -> String {
        snapshot_lv(&self.volume, &self.snapshot)
    }

    fn resources(&self, target: bool) -> Vec<String> {
        let mut keys = vec![resource::volume(&self.volume)];
        if target {
            keys.push(resource::target(&self.volume));
        }
        keys.push(resource::pool(&self.pool));
        keys
    }
}

fn snapshot_payload(pool: &str, volume: &str, snapshot: &str) -> SnapshotPayload {
    SnapshotPayload {
        pool: pool.into(),
        volume: volume.into(),
        snapshot: snapshot.into(),
    }
}

/// The job that takes snapshot `snapshot` of thin volume `volume`.
pub fn snapshot(pool: &str, volume: &str, snapshot: &str) -> JobSpec {
    let p = snapshot_payload(pool, volume, snapshot);
    SnapshotCreate.spec(
        &p,
        format!("Snapshot volume {volume}: {snapshot}"),
        p.resources(false),
        vec![
            format!("Make the thin snapshot {pool}/{}", p.lv()),
            "Record it".into(),
        ],
    )
}

pub struct SnapshotCreate;

impl Kind for SnapshotCreate {
    type Payload = SnapshotPayload;

    fn name(&self) -> &'static str {
        "snapshot.create"
    }

    fn changes(&self, _p: &SnapshotPayload, position: i32) -> bool {
        position == 0
    }

    fn run_step(
        &self,
        p: &SnapshotPayload,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        match position {
            0 => Ok(ctx
                .backend
                .snapshot_volume(&p.pool, &p.volume, &p.lv(), false, ctx)?),
            1 => {
                let (volume, snap) = (p.volume.clone(), p.snapshot.clone());
                ctx.commit_with_step(move |c, _| {
                    if let Some(v) = crate::db::volumes::by_name(c, &volume)? {
                        crate::db::volumes::set_snapshot_lifecycle(c, v.id, &snap, "ready")?;
                    }
                    Ok(())
                });
                read_back(ctx, &p.pool)
            }
            _ => Err(JobError::Refused(format!(
                "a snapshot has no step {position}"
            ))),
        }
    }
}

/// The job that deletes snapshot `snapshot` of `volume`.
pub fn delete_snapshot(pool: &str, volume: &str, snapshot: &str) -> JobSpec {
    let p = snapshot_payload(pool, volume, snapshot);
    SnapshotDelete.spec(
        &p,
        format!("Delete snapshot {snapshot} of volume {volume}"),
        p.resources(false),
        vec![
            format!("Remove the logical volume {pool}/{}", p.lv()),
            "Forget it".into(),
        ],
    )
}

pub struct SnapshotDelete;

impl Kind for SnapshotDelete {
    type Payload = SnapshotPayload;

    fn name(&self) -> &'static str {
        "snapshot.delete"
    }

    fn changes(&self, _p: &SnapshotPayload, position: i32) -> bool {
        position == 0
    }

    fn run_step(
        &self,
        p: &SnapshotPayload,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        match position {
            0 => Ok(ctx.backend.remove_volume(&p.pool, &p.lv(), ctx)?),
            1 => {
                let (volume, snap) = (p.volume.clone(), p.snapshot.clone());
                ctx.commit_with_step(move |c, _| {
                    if let Some(v) = crate::db::volumes::by_name(c, &volume)? {
                        crate::db::volumes::delete_snapshot(c, v.id, &snap)?;
                    }
                    Ok(())
                });
                read_back(ctx, &p.pool)
            }
            _ => Err(JobError::Refused(format!(
                "a snapshot delete has no step {position}"
            ))),
        }
    }
}

/// The logical volume a rollback keeps the volume's old contents in
/// until the new ones are in place (`_` is in no volume's name).
fn old_lv(volume: &str) -> String {
    format!("{volume}_old")
}

/// The job that rolls volume `volume` back to snapshot `snapshot`: the
/// volume becomes a new thin snapshot of the snapshot (which is kept),
/// and its old contents are removed. Only for a volume that is not
/// exported (its front device is taken down and made again).
pub fn rollback(pool: &str, volume: &str, snapshot: &str) -> JobSpec {
    let p = snapshot_payload(pool, volume, snapshot);
    let old = old_lv(volume);
    RollBack.spec(
        &p,
        format!("Roll volume {volume} back to snapshot {snapshot}"),
        p.resources(true),
        vec![
            format!("Check that {volume} is not exported"),
            format!("Remove the front device {}", front_name(volume)),
            format!("Rename {pool}/{volume} to {old}"),
            format!("Make {pool}/{volume} anew from snapshot {}", p.lv()),
            format!("Remove the old contents {pool}/{old}"),
            format!("Make the front device {} again", front_name(volume)),
        ],
    )
}

pub struct RollBack;

/// Makes `pool/volume` anew from thin snapshot `from_lv` (what a rollback's
/// steps do, in one): its front device removed, the volume renamed
/// `<volume>_old`, made again as a snapshot of `from_lv`, the old one
/// removed, the front device made again. Each part finds itself done when
/// run again. The volume must not be exported.
pub(super) fn remake_from(
    ctx: &mut StepCtx<'_>,
    pool: &str,
    volume: &str,
    from_lv: &str,
) -> Result<String, JobError> {
    let backend = ctx.backend;
    let old = old_lv(volume);
    let mut said = vec![backend.remove_front_device(volume, ctx)?];
    let lvs = backend.logical_volumes(pool, ctx)?;
    if !lvs.iter().any(|l| l.name == old) {
        said.push(backend.rename_volume(pool, volume, &old, ctx)?);
    }
    said.push(backend.snapshot_volume(pool, from_lv, volume, true, ctx)?);
    said.push(backend.remove_volume(pool, &old, ctx)?);
    said.push(backend.set_front_device(pool, volume, ctx)?);
    read_back(ctx, pool)?;
    Ok(said.join("; "))
}

impl Kind for RollBack {
    type Payload = SnapshotPayload;

    fn name(&self) -> &'static str {
        "volume.rollback"
    }

    fn changes(&self, _p: &SnapshotPayload, position: i32) -> bool {
        position > 0
    }

    fn run_step(
        &self,
        p: &SnapshotPayload,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        let backend = ctx.backend;
        let (pool, volume) = (p.pool.as_str(), p.volume.as_str());
        let old = old_lv(volume);
        match position {
            0 => {
                let name = p.volume.clone();
                let exported = ctx.read(move |c| {
                    Ok(match crate::db::volumes::by_name(c, &name)? {
                        Some(v) => crate::db::volumes::target_of(c, v.id)?.is_some(),
                        None => false,
                    })
                })?;
                if exported {
                    return Err(JobError::Refused(format!(
                        "volume {volume} is exported; unexport it before rolling it back"
                    )));
                }
                Ok(format!("{volume} is not exported"))
            }
            1 => Ok(backend.remove_front_device(volume, ctx)?),
            2 => {
                let lvs = backend.logical_volumes(pool, ctx)?;
                if lvs.iter().any(|l| l.name == old) && !lvs.iter().any(|l| l.name == volume) {
                    return Ok(format!("{pool}/{volume} was already renamed {old}"));
                }
                Ok(backend.rename_volume(pool, volume, &old, ctx)?)
            }
            3 => Ok(backend.snapshot_volume(pool, &p.lv(), volume, true, ctx)?),
            4 => Ok(backend.remove_volume(pool, &old, ctx)?),
            5 => {
                let words = backend.set_front_device(pool, volume, ctx)?;
                read_back(ctx, pool)?;
                Ok(words)
            }
            _ => Err(JobError::Refused(format!(
                "a rollback has no step {position}"
            ))),
        }
    }
}

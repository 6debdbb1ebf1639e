//! The kinds of job, one file per noun, and what each step does. Steps are
//! idempotent: run again after an interruption, they find the work done and
//! say so.
//!
//! A kind's payload is a typed struct, parsed once when the runner picks
//! the job up ([`JobKind::load`]), not at every step.

mod bay;
mod drive;
mod noop;
mod notify;
mod peer;
mod pool;
mod replication;
mod requalify;
mod target;
mod volume;

pub use bay::{BAY_FAULT, BAY_LOCATE, LedPayload, bay_led, locate};
pub use drive::{
    DriveLocate, DriveLocatePayload, DrivePayload, DriveSelfTest, DriveSelfTestAbort, DriveSmart,
    SelfTestPayload, abort_self_test, drive_locate, read_smart, self_test,
};
pub use noop::{Noop, NoopPayload, noop, noop_payload, noop_with};
pub use notify::{
    Notify, NotifyPayload, deliver_silence, enqueue_due as enqueue_due_notifications,
    send as send_notification, test as test_notification,
};
pub use pool::{
    PoolAssemble, PoolCreate, PoolCreatePayload, PoolDelete, PoolDeletePayload, PoolDrivePayload,
    PoolGrow, PoolGrowPayload, PoolHeal, PoolHealPayload, PoolReplace, PoolReplacePayload,
    PoolResize, PoolScrub, PoolScrubPayload, PoolSpareAdd, PoolSpareRemove, ReplaceMode, add_spare,
    assemble as assemble_pool, describe as describe_array, grow, heal, remove_spare, replace,
    resize, scrub,
};

pub use peer::{
    PairPayload, PeerPair, PeerRemove, RemovePayload, pair as pair_peer, remove as remove_peer,
    session as peer_session,
};
pub use replication::{
    PointPayload, ReplicationDemote, ReplicationDisable, ReplicationEnable, ReplicationFailback,
    ReplicationFailover, ReplicationShip, VolumePayload as ReplicationPayload, demote,
    disable as disable_replication, enqueue_due as enqueue_due_replications, failback, failover,
    record_enable,
};
pub use requalify::{Requalify, RequalifyPayload, requalify};
pub use target::{
    Adopt, AdoptPayload, Reconcile, ReconcilePayload, TargetExport, TargetPayload, TargetUnexport,
    UnexportPayload, adopt, change_access, export, reconcile, reconcile_recorded, unexport,
};
pub use volume::{
    RollBack, SnapshotCreate, SnapshotDelete, SnapshotPayload, VolumeCreate, VolumeCreatePayload,
    VolumeDelete, VolumeDeletePayload, VolumeResize, VolumeResizePayload, delete_snapshot,
    rollback, snapshot,
};

/// The job that creates a volume.
pub use volume::create as create_volume;
/// The job that deletes a volume.
pub use volume::delete as delete_volume;
/// The job that grows a volume.
pub use volume::resize as resize_volume;
pub use volume::{new_serial, record_volume, room_for};

/// The job that creates a pool.
pub use pool::create as create_pool;
/// The job that deletes a pool.
pub use pool::delete as delete_pool;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::JobSpec;
use super::runner::{JobError, JobKind, Loaded, StepCtx};

/// A kind of job, with its payload's type.
pub trait Kind: Sync + 'static {
    type Payload: Serialize + DeserializeOwned + Send + 'static;

    fn name(&self) -> &'static str;

    /// Whether an interrupted job of this kind may be resumed from its last
    /// completed step. If not, it is failed with the reason instead.
    fn resumable(&self) -> bool {
        true
    }

    /// Whether the observer should look again after a job of this kind
    /// (it may have changed what the observer sees).
    fn observed_after(&self) -> bool {
        true
    }

    /// Whether step `position` changes something that a failure part-way
    /// can leave half-made, which later jobs must not build on. A job that
    /// fails in or after such a step (unless the step's failure says it
    /// changed nothing) blocks its resources until an operator retries it,
    /// rolls it back or clears the block. An LED or a SMART reading is
    /// never half-made: their kinds say no.
    fn changes(&self, _payload: &Self::Payload, _position: i32) -> bool {
        false
    }

    /// Runs step `position`; returns what it did, in words.
    fn run_step(
        &self,
        payload: &Self::Payload,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError>;

    /// The job to enqueue: this kind, with its payload.
    fn spec(
        &self,
        payload: &Self::Payload,
        summary: String,
        resources: Vec<String>,
        steps: Vec<String>,
    ) -> JobSpec {
        JobSpec {
            kind: self.name().into(),
            summary,
            payload: serde_json::to_value(payload).expect("a payload serializes"),
            resources,
            steps,
        }
    }
}

struct Parsed<K: Kind> {
    kind: &'static K,
    payload: K::Payload,
}

impl<K: Kind> Loaded for Parsed<K> {
    fn changes(&self, position: i32) -> bool {
        self.kind.changes(&self.payload, position)
    }

    fn run_step(&self, position: i32, ctx: &mut StepCtx<'_>) -> Result<String, JobError> {
        self.kind.run_step(&self.payload, position, ctx)
    }
}

impl<K: Kind> JobKind for K {
    fn name(&self) -> &'static str {
        Kind::name(self)
    }

    fn resumable(&self) -> bool {
        Kind::resumable(self)
    }

    fn observed_after(&self) -> bool {
        Kind::observed_after(self)
    }

    fn load(&'static self, payload: &str) -> Result<Box<dyn Loaded>, JobError> {
        let payload = serde_json::from_str(payload).map_err(|e| {
            JobError::Refused(format!("the job's payload does not fit its kind: {e}"))
        })?;
        Ok(Box::new(Parsed {
            kind: self,
            payload,
        }))
    }
}

pub static KINDS: &[&dyn JobKind] = &[
    &BAY_LOCATE,
    &BAY_FAULT,
    &DriveLocate,
    &DriveSelfTest,
    &DriveSelfTestAbort,
    &DriveSmart,
    &Noop,
    &Notify,
    &PeerPair,
    &PeerRemove,
    &ReplicationEnable,
    &ReplicationShip,
    &ReplicationDisable,
    &ReplicationFailover,
    &ReplicationFailback,
    &ReplicationDemote,
    &PoolCreate,
    &PoolScrub,
    &PoolSpareAdd,
    &PoolSpareRemove,
    &PoolReplace,
    &PoolGrow,
    &PoolResize,
    &PoolDelete,
    &PoolAssemble,
    &PoolHeal,
    &Requalify,
    &VolumeCreate,
    &VolumeResize,
    &VolumeDelete,
    &SnapshotCreate,
    &SnapshotDelete,
    &RollBack,
    &TargetExport,
    &TargetUnexport,
    &Reconcile,
    &Adopt,
];

pub fn find(name: &str) -> Option<&'static dyn JobKind> {
    KINDS.iter().copied().find(|k| k.name() == name)
}

/// "identify LED" → "Identify LED".
fn capitalized(words: &str) -> String {
    let mut title = words.to_string();
    if let Some(first) = title.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    title
}

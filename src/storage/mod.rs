//! The storage domain and the one trait both engines implement. The web layer
//! never sees an engine; the agent drives it and records what it observes.

pub mod cmd;
pub mod linux;
pub mod sim;

use crate::config::BackendKind;
use crate::domain::pool::{
    Array, ArraySpec, DriveRef, LogicalVolume, SyncAction, SyncWindow, VolumeGroup,
};
use crate::domain::replica::Delta;
use crate::domain::target::{Lio, TargetSpec};
use crate::domain::volume::FrontDevice;
use crate::domain::{BayAddr, Inventory, KernelLog, Led, SelfTestKind, Smart};

/// What went wrong in an engine, by kind: whether anything was changed
/// decides whether a job that hit it leaves its resource blocked.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The job this work belongs to is no longer ours (its lease was lost,
    /// or a stop was asked for): stop at once, change nothing more.
    #[error("{0}")]
    Stopped(String),
    /// The capability exists in the design but is not built for this engine
    /// yet; the message says which. Nothing was changed.
    #[error("{0}")]
    NotBuilt(String),
    /// Something else holds what the change needs (a device in use, a
    /// lock): nothing was changed; it may work later.
    #[error("{0}")]
    Busy(String),
    /// What the change is for is not there (a drive pulled, an array
    /// stopped): nothing was changed.
    #[error("{0}")]
    Gone(String),
    /// The change was refused as asked (a tool said no before doing
    /// anything): nothing was changed.
    #[error("{0}")]
    Refused(String),
    /// The change failed, possibly part-way: the system may be changed.
    #[error("{0}")]
    Failed(String),
}

impl BackendError {
    /// Whether the failure left the system as it was.
    pub fn changed_nothing(&self) -> bool {
        !matches!(self, BackendError::Failed(_))
    }
}

/// Where a backend reports each command it ran; in a job, the job's log.
pub trait CommandLog {
    /// Records one finished command. An error means the job is no longer
    /// ours: the backend must stop.
    fn record(&mut self, out: &cmd::CommandOutput) -> Result<(), BackendError>;
}

/// A log that keeps nothing, for work outside a job (observation).
pub struct NoLog;

impl CommandLog for NoLog {
    fn record(&mut self, _out: &cmd::CommandOutput) -> Result<(), BackendError> {
        Ok(())
    }
}

/// A storage engine: one trait per subsystem (drives, enclosures; arrays,
/// volumes, targets and replication as they are built), as stratisd splits
/// engine, pool and filesystem. Methods block; the agent calls them off
/// the async executor. Changing methods are called only by jobs, and are
/// idempotent: asked to make something so that already is, they say so and
/// succeed.
pub trait Backend:
    Drives + Enclosures + Arrays + Volumes + Targets + Replicas + Send + Sync
{
    fn kind(&self) -> BackendKind;

    /// Enclosures, bays and drives with their SMART data as they are now.
    fn inventory(&self) -> Result<Inventory, BackendError>;
}

/// Drives: SMART, self-tests, and the kernel's log of their I/O errors.
pub trait Drives {
    /// Reads one drive's SMART data now (the SMART poller calls this on its
    /// schedule, a few drives at a time, and a job when an operator asks;
    /// never a page). The command it runs goes into `log`.
    fn read_smart(
        &self,
        ident: &str,
        dev_name: Option<&str>,
        log: &mut dyn CommandLog,
    ) -> Result<Smart, BackendError>;

    /// Starts a SMART self-test on a drive; it runs inside the drive, and
    /// its result shows in the drive's self-test log. Returns what it did.
    fn start_self_test(
        &self,
        ident: &str,
        dev_name: Option<&str>,
        kind: SelfTestKind,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError>;

    /// Aborts the self-test running on a drive; the drive's self-test log
    /// then says it was aborted by the host. Returns what it did.
    fn abort_self_test(
        &self,
        ident: &str,
        dev_name: Option<&str>,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError>;

    /// The id of the running boot of the kernel whose log
    /// [`Backend::kernel_io_errors`] reads; `None` for a backend with no
    /// kernel log of its own (the simulator).
    fn boot_id(&self) -> Result<Option<String>, BackendError> {
        Ok(None)
    }

    /// The I/O errors the kernel of boot `boot` has logged against disks
    /// from record `from` on. Fails if that boot is no longer running.
    fn kernel_io_errors(&self, boot: &str, from: u64) -> Result<KernelLog, BackendError> {
        let _ = from;
        Err(BackendError::Failed(format!(
            "there is no kernel log of boot {boot} here"
        )))
    }
}

/// Enclosures: where a drive sits, and the bays' LEDs.
pub trait Enclosures {
    /// The bay a drive sits in now, asked of the system itself rather than
    /// of the last observation: its enclosure's ident and slot. Fails, saying
    /// what was looked at, when no enclosure holds the drive.
    fn drive_bay(&self, ident: &str, log: &mut dyn CommandLog) -> Result<BayAddr, BackendError>;

    /// Turns one of a bay's LEDs on or off. Returns what it did in words.
    fn set_led(
        &self,
        bay: &BayAddr,
        led: Led,
        on: bool,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError>;
}

fn not_built<T>(what: &str) -> Result<T, BackendError> {
    Err(BackendError::NotBuilt(format!(
        "{what} is not built for this engine yet"
    )))
}

/// md arrays: what runs, and every change a pool's jobs make to one. Each
/// change is idempotent: asked for what already is (an array of that name
/// with those members, a spare already added), it says so and succeeds.
/// `name` is a pool's name (validated before it reaches here): the array
/// is `/dev/md/<name>`.
pub trait Arrays {
    /// Every md array the system has now (running, or assembled inactive),
    /// with its members and their roles.
    fn arrays(&self, log: &mut dyn CommandLog) -> Result<Vec<Array>, BackendError> {
        let _ = log;
        not_built("reading md arrays")
    }

    /// What is written on a drive that a new pool would destroy (a
    /// partition table, a filesystem, an md or LVM signature), in words;
    /// empty for a blank drive.
    fn signatures(
        &self,
        drive: &DriveRef,
        log: &mut dyn CommandLog,
    ) -> Result<Vec<String>, BackendError> {
        let _ = (drive, log);
        not_built("reading a drive's signatures")
    }

    /// Erases every signature on a drive (an admin typed its serial to
    /// allow it).
    fn wipe(&self, drive: &DriveRef, log: &mut dyn CommandLog) -> Result<String, BackendError> {
        let _ = (drive, log);
        not_built("wiping a drive")
    }

    /// Writes zeroes over `length` bytes of a drive from byte `offset`
    /// (both multiples of 1 MiB); refused while the drive is in an array.
    fn zero_range(
        &self,
        drive: &DriveRef,
        offset: u64,
        length: u64,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let _ = (drive, offset, length, log);
        not_built("zeroing a drive")
    }

    /// Creates the array (a mirrored journal's own raid1 first). Returns
    /// the array's UUID, in mdadm's form.
    fn create_array(
        &self,
        spec: &ArraySpec,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let _ = (spec, log);
        not_built("creating an md array")
    }

    /// Records the array in mdadm's configuration, so it assembles by its
    /// UUID at boot.
    fn persist_array(
        &self,
        name: &str,
        uuid: &str,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let _ = (name, uuid, log);
        not_built("recording an md array for boot")
    }

    /// Removes the array's line from mdadm's configuration.
    fn forget_array(
        &self,
        name: &str,
        uuid: &str,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let _ = (name, uuid, log);
        not_built("forgetting an md array")
    }

    /// Sets a raid5/raid6 array's stripe cache, in pages per member.
    fn set_stripe_cache(
        &self,
        name: &str,
        pages: u32,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let _ = (name, pages, log);
        not_built("sizing the stripe cache")
    }

    /// Assembles a recorded array that is not running, by its UUID; never
    /// creates or wipes anything.
    fn assemble(
        &self,
        name: &str,
        uuid: &str,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let _ = (name, uuid, log);
        not_built("assembling an md array")
    }

    /// Starts a check or a repair (over `window`, or the whole array), or
    /// with [`SyncAction::Idle`] stops one.
    fn sync_action(
        &self,
        name: &str,
        action: SyncAction,
        window: Option<SyncWindow>,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let _ = (name, action, window, log);
        not_built("checking or repairing an md array")
    }

    /// Adds a drive as a hot spare (or, to a degraded array, as the member
    /// md rebuilds onto).
    fn add_member(
        &self,
        name: &str,
        drive: &DriveRef,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let _ = (name, drive, log);
        not_built("adding a drive to an md array")
    }

    /// Marks a member faulty.
    fn fail_member(
        &self,
        name: &str,
        drive: &DriveRef,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let _ = (name, drive, log);
        not_built("failing an md member")
    }

    /// Takes a faulty member or a spare out of the array.
    fn remove_member(
        &self,
        name: &str,
        drive: &DriveRef,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let _ = (name, drive, log);
        not_built("removing an md member")
    }

    /// Rebuilds `old`'s slot onto `new` while `old` stays in
    /// (`mdadm --replace`), so redundancy holds throughout.
    fn replace_member(
        &self,
        name: &str,
        old: &DriveRef,
        new: &DriveRef,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let _ = (name, old, new, log);
        not_built("replacing an md member")
    }

    /// Grows the array to `raid_devices` slots, its new members already
    /// added as spares.
    fn grow(
        &self,
        name: &str,
        raid_devices: u32,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let _ = (name, raid_devices, log);
        not_built("growing an md array")
    }

    /// Stops the array.
    fn stop_array(&self, name: &str, log: &mut dyn CommandLog) -> Result<String, BackendError> {
        let _ = (name, log);
        not_built("stopping an md array")
    }

    /// Where a member's data starts on it, in 512-byte sectors (md's
    /// `offset` of that member).
    fn data_offset(
        &self,
        name: &str,
        drive: &DriveRef,
        log: &mut dyn CommandLog,
    ) -> Result<u64, BackendError> {
        let _ = (name, drive, log);
        not_built("reading a member's data offset")
    }

    /// Reads one 512-byte sector of a drive, past any cache: `None` when it
    /// reads, else what the read said.
    fn read_sector(
        &self,
        drive: &DriveRef,
        lba: u64,
        log: &mut dyn CommandLog,
    ) -> Result<Option<String>, BackendError> {
        let _ = (drive, lba, log);
        not_built("reading a sector")
    }

    /// Erases a former member's md superblock.
    fn zero_superblock(
        &self,
        drive: &DriveRef,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let _ = (drive, log);
        not_built("clearing an md superblock")
    }
}

/// LVM and device-mapper: a pool's volume group, the logical volumes in
/// it (volumes, their thin pool, snapshots), and each volume's front
/// device (`baystack-<volume>`, a linear map over its logical volume).
/// `vg` is a pool's name and `lv` a logical volume's, validated before
/// they reach here.
pub trait Volumes {
    /// Every volume group.
    fn volume_groups(&self, log: &mut dyn CommandLog) -> Result<Vec<VolumeGroup>, BackendError> {
        let _ = log;
        not_built("reading LVM volume groups")
    }

    /// Makes the array a physical volume and a volume group `name` on it.
    fn create_volume_group(
        &self,
        name: &str,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let _ = (name, log);
        not_built("creating a volume group")
    }

    /// Grows the physical volume to its array's new size.
    fn resize_physical_volume(
        &self,
        name: &str,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let _ = (name, log);
        not_built("resizing a physical volume")
    }

    /// Removes the (empty) volume group `name` and its physical volume.
    fn remove_volume_group(
        &self,
        name: &str,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let _ = (name, log);
        not_built("removing a volume group")
    }
    /// Every logical volume of volume group `vg`, hidden ones too.
    fn logical_volumes(
        &self,
        vg: &str,
        log: &mut dyn CommandLog,
    ) -> Result<Vec<LogicalVolume>, BackendError> {
        let _ = (vg, log);
        not_built("reading logical volumes")
    }

    /// Makes the thin pool [`crate::domain::volume::THIN_POOL`] in `vg`,
    /// `size_bytes` of data with `metadata_bytes` of metadata.
    fn create_thin_pool(
        &self,
        vg: &str,
        size_bytes: u64,
        metadata_bytes: u64,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let _ = (vg, size_bytes, metadata_bytes, log);
        not_built("creating a thin pool")
    }

    /// Makes logical volume `lv` of `size_bytes` (rounded up to whole
    /// extents): thick, or thin in the thin pool. Active once made.
    fn create_volume(
        &self,
        vg: &str,
        lv: &str,
        size_bytes: u64,
        thin: bool,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let _ = (vg, lv, size_bytes, thin, log);
        not_built("creating a logical volume")
    }

    /// Grows logical volume `lv` (a volume or the thin pool) to
    /// `size_bytes`, online. Never shrinks: a smaller size is refused.
    fn resize_volume(
        &self,
        vg: &str,
        lv: &str,
        size_bytes: u64,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let _ = (vg, lv, size_bytes, log);
        not_built("resizing a logical volume")
    }

    /// Removes logical volume `lv`; a volume that is not there is already
    /// removed.
    fn remove_volume(
        &self,
        vg: &str,
        lv: &str,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let _ = (vg, lv, log);
        not_built("removing a logical volume")
    }

    /// Makes `new_lv`, a thin snapshot of thin volume `origin`; `active`
    /// makes it active (LVM leaves a thin snapshot inactive otherwise).
    fn snapshot_volume(
        &self,
        vg: &str,
        origin: &str,
        new_lv: &str,
        active: bool,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let _ = (vg, origin, new_lv, active, log);
        not_built("snapshotting a logical volume")
    }

    /// Renames logical volume `from` to `to`.
    fn rename_volume(
        &self,
        vg: &str,
        from: &str,
        to: &str,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let _ = (vg, from, to, log);
        not_built("renaming a logical volume")
    }

    /// Every Baystack front device device-mapper has (`baystack-*`).
    fn front_devices(&self, log: &mut dyn CommandLog) -> Result<Vec<FrontDevice>, BackendError> {
        let _ = log;
        not_built("reading front devices")
    }

    /// Makes volume `volume`'s front device map all of logical volume
    /// `vg/volume`: creates it, or loads the new size or backing into it
    /// (suspending it for a moment, I/O held, nothing dropped); says so and
    /// changes nothing when it already does.
    fn set_front_device(
        &self,
        vg: &str,
        volume: &str,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let _ = (vg, volume, log);
        not_built("setting up a front device")
    }

    /// Removes volume `volume`'s front device (refused while it is open).
    fn remove_front_device(
        &self,
        volume: &str,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let _ = (volume, log);
        not_built("removing a front device")
    }
}

/// LIO's iSCSI targets, through configfs written directly (as rtslib does;
/// never targetcli at run time). Writing a CHAP secret is never logged and
/// never in what a method returns.
pub trait Targets {
    /// LIO as it is now: targets with their sessions, backstores, other
    /// fabrics' targets.
    fn lio(&self, log: &mut dyn CommandLog) -> Result<Lio, BackendError> {
        let _ = log;
        not_built("reading LIO's targets")
    }

    /// Makes one target as `spec` says: creates what is missing (the
    /// backstore first, its persistent reservations restored from LIO's
    /// `pr` directory), repairs what differs, and writes nothing at all
    /// where the kernel already agrees, so a live session stays. Returns
    /// each change in words (no secret in them); none when all was right.
    fn apply_target(
        &self,
        spec: &TargetSpec,
        log: &mut dyn CommandLog,
    ) -> Result<Vec<String>, BackendError> {
        let _ = (spec, log);
        not_built("exporting a volume")
    }

    /// Removes target `iqn` (its ACLs, LUN, portals, TPG) and then its
    /// backstore `backstore`; LIO's saved reservations are kept. What is
    /// already gone is already removed.
    fn remove_target(
        &self,
        iqn: &str,
        backstore: &str,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let _ = (iqn, backstore, log);
        not_built("unexporting a volume")
    }

    /// targetcli's saved configuration (`saveconfig.json`) in the same
    /// shape, for adopting a setup made by hand (its CHAP secrets only in
    /// the fields that are never serialized); `None` when there is none.
    fn saved_config(&self, log: &mut dyn CommandLog) -> Result<Option<Lio>, BackendError> {
        let _ = log;
        not_built("reading targetcli's saved configuration")
    }
}

/// Replication's view of thin volumes: which bytes changed between two
/// points, and the bytes themselves. `vg` is a pool's name and the logical
/// volumes are thin volumes of its thin pool, validated before they reach
/// here.
pub trait Replicas {
    /// The extents of thin volume `to` that differ from thin volume `from`
    /// (every extent `to` holds data in when `from` is `None`), both of
    /// `vg`'s thin pool: what the pool's metadata says, not the bytes.
    fn thin_delta(
        &self,
        vg: &str,
        from: Option<&str>,
        to: &str,
        log: &mut dyn CommandLog,
    ) -> Result<Delta, BackendError> {
        let _ = (vg, from, to, log);
        not_built("finding a thin volume's changed blocks")
    }

    /// Opens logical volume `vg/lv` for reading its bytes, or for writing
    /// them with `write` (a snapshot is activated first where it is not).
    fn open_volume(
        &self,
        vg: &str,
        lv: &str,
        write: bool,
        log: &mut dyn CommandLog,
    ) -> Result<Box<dyn VolumeIo>, BackendError> {
        let _ = (vg, lv, write, log);
        not_built("reading and writing a volume's bytes")
    }
}

/// A logical volume's bytes, opened by [`Replicas::open_volume`].
pub trait VolumeIo: Send {
    /// Its size in bytes.
    fn size(&self) -> u64;
    /// Reads `buf.len()` bytes from `offset`.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), BackendError>;
    /// Writes `data` at `offset`.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), BackendError>;
    /// Makes `length` bytes from `offset` read as zeroes.
    fn zero(&mut self, offset: u64, length: u64) -> Result<(), BackendError>;
    /// Makes everything written so far durable.
    fn flush(&mut self) -> Result<(), BackendError>;
    /// Starts writing what was written so far to the disk without
    /// waiting for it, so the next `flush` has little left to wait for.
    fn start_writeback(&mut self) {}
}

/// [`VolumeIo::start_writeback`] for what is written through `file`:
/// DONTNEED starts the writeback of its dirty pages, not waited for, and
/// drops the clean ones (what a replica wrote is not read back).
pub(crate) fn start_writeback(file: &std::fs::File) {
    let _ = nix::fcntl::posix_fadvise(
        file,
        0,
        0,
        nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED,
    );
}

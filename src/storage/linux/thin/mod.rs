//! Replication's half of the `linux` engine: which blocks of a thin volume
//! changed between two points, read from the thin pool's metadata by
//! `thin_delta` through a metadata snapshot the pool holds only while it
//! reads (`reserve_metadata_snap`, then `release_metadata_snap`, whatever
//! happened), and a logical volume's bytes read and written through its
//! block device. A hold left by a read that was killed is released and
//! taken again.

pub mod argv;
pub mod parse;

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;

use super::LinuxBackend;
use super::lvm::{argv as lvm_argv, check_names, parse as lvm_parse};
use crate::domain::replica::Delta;
use crate::storage::{BackendError, CommandLog, Replicas, VolumeIo};

impl LinuxBackend {
    /// The thin id of each thin volume of `vg`.
    fn thin_ids(
        &self,
        vg: &str,
        log: &mut dyn CommandLog,
    ) -> Result<Vec<(String, u32)>, BackendError> {
        self.lvm_report(
            Some(vg),
            lvm_argv::lvs_thin_ids(vg),
            lvm_parse::thin_ids,
            log,
        )
    }

    /// Takes the pool's metadata snapshot; one left held by a read that
    /// never released it is released first.
    fn reserve_metadata(&self, vg: &str, log: &mut dyn CommandLog) -> Result<(), BackendError> {
        let first = self.run_change(
            "dmsetup",
            Some(vg),
            argv::metadata_snap(vg, true),
            false,
            log,
        );
        match first {
            Ok(_) => Ok(()),
            Err(BackendError::Busy(_)) | Err(BackendError::Failed(_)) => {
                let status = self.run_report(
                    "dmsetup",
                    Some(vg),
                    vec!["status".into(), argv::tpool(vg).into()],
                    log,
                )?;
                if parse::holds_metadata_snap(&status)
                    .map_err(|e| BackendError::Refused(format!("pool {vg}: dmsetup status: {e}")))?
                {
                    self.release_metadata(vg, log)?;
                }
                self.run_change(
                    "dmsetup",
                    Some(vg),
                    argv::metadata_snap(vg, true),
                    false,
                    log,
                )
                .map(|_| ())
            }
            Err(e) => Err(e),
        }
    }

    fn release_metadata(&self, vg: &str, log: &mut dyn CommandLog) -> Result<(), BackendError> {
        self.run_change(
            "dmsetup",
            Some(vg),
            argv::metadata_snap(vg, false),
            false,
            log,
        )
        .map(|_| ())
    }
}

impl Replicas for LinuxBackend {
    fn thin_delta(
        &self,
        vg: &str,
        from: Option<&str>,
        to: &str,
        log: &mut dyn CommandLog,
    ) -> Result<Delta, BackendError> {
        let names: Vec<&str> = from.into_iter().chain([to]).collect();
        check_names(vg, &names)?;
        let ids = self.thin_ids(vg, log)?;
        let id_of = |lv: &str| {
            ids.iter()
                .find(|(n, _)| n == lv)
                .map(|(_, id)| *id)
                .ok_or_else(|| {
                    BackendError::Gone(format!("pool {vg}: there is no thin volume {lv}"))
                })
        };
        let right = id_of(to)?;
        let left = match from {
            Some(f) => id_of(f)?,
            None => right,
        };
        let _turn = self.metadata_snap.lock().unwrap_or_else(|p| p.into_inner());
        self.reserve_metadata(vg, log)?;
        let read = self.run_report(
            "thin_delta",
            Some(vg),
            argv::thin_delta(vg, left, right),
            log,
        );
        let released = self.release_metadata(vg, log);
        let xml = read?;
        released?;
        let parsed = match from {
            Some(_) => parse::delta(&xml, left, right),
            None => parse::mapped(&xml, right),
        };
        parsed.map_err(|e| BackendError::Refused(format!("pool {vg}: thin_delta: {e}")))
    }

    fn open_volume(
        &self,
        vg: &str,
        lv: &str,
        write: bool,
        log: &mut dyn CommandLog,
    ) -> Result<Box<dyn VolumeIo>, BackendError> {
        check_names(vg, &[lv])?;
        let lvs = self.lvs_of(vg, log)?;
        let found = lvs.iter().find(|l| l.name == lv).ok_or_else(|| {
            BackendError::Gone(format!("pool {vg}: there is no logical volume {lv}"))
        })?;
        if found.active != Some(true) {
            self.lvm_change(vg, lvm_argv::lvchange_activate_snapshot(vg, lv), false, log)?;
        }
        let path = self.settings.dev_root.join(vg).join(lv);
        let file = OpenOptions::new()
            .read(true)
            .write(write)
            .open(&path)
            .map_err(|e| BackendError::Refused(format!("{}: {e}", path.display())))?;
        let size = file
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .map_or_else(|| block_size(&file), Ok)
            .map_err(|e| BackendError::Refused(format!("{}: its size: {e}", path.display())))?;
        Ok(Box::new(BlockVolume {
            file,
            size,
            path: path.display().to_string(),
        }))
    }
}

/// A block device's size: where seeking to its end lands.
fn block_size(file: &File) -> std::io::Result<u64> {
    use std::io::Seek;
    let mut f = file;
    f.seek(std::io::SeekFrom::End(0))
}

/// A logical volume's block device, opened.
struct BlockVolume {
    file: File,
    size: u64,
    path: String,
}

impl BlockVolume {
    fn failed(&self, what: &str, offset: u64, e: std::io::Error) -> BackendError {
        BackendError::Failed(format!("{} at byte {offset} of {}: {e}", what, self.path))
    }
}

impl VolumeIo for BlockVolume {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), BackendError> {
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| self.failed("reading", offset, e))
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), BackendError> {
        self.file
            .write_all_at(data, offset)
            .map_err(|e| self.failed("writing", offset, e))
    }

    fn zero(&mut self, offset: u64, length: u64) -> Result<(), BackendError> {
        const CHUNK: u64 = 1 << 20;
        let zeroes = vec![0u8; CHUNK.min(length) as usize];
        let mut at = offset;
        while at < offset + length {
            let n = CHUNK.min(offset + length - at) as usize;
            self.write_at(at, &zeroes[..n])?;
            at += n as u64;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BackendError> {
        self.file
            .sync_data()
            .map_err(|e| BackendError::Failed(format!("flushing {}: {e}", self.path)))
    }

    fn start_writeback(&mut self) {
        crate::storage::start_writeback(&self.file);
    }
}

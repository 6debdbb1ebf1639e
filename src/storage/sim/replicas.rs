//! The sim engine's replication half: deltas and bytes of thin volumes
//! from its [`super::thin::ThinStore`], and a simulated initiator's writes
//! and reads of a volume's bytes.

use super::thin::ThinStore;
use super::volumes::LvKind;
use super::*;
use crate::domain::replica::Delta;
use crate::storage::{Replicas, VolumeIo};

impl SimBackend {
    /// The volume group of thin volume `lv`, and its size.
    fn thin_lv(&self, vg: Option<&str>, lv: &str) -> Result<(String, u64), BackendError> {
        let state = self.load()?;
        for g in state
            .volume_groups
            .iter()
            .filter(|g| vg.is_none_or(|v| v == g.name))
        {
            if let Some(l) = g.lvs.iter().find(|l| l.name == lv) {
                if l.kind != LvKind::Thin {
                    return Err(BackendError::Refused(format!(
                        "{}/{lv} is not a thin volume: the simulator keeps the bytes of thin \
                         volumes only",
                        g.name
                    )));
                }
                return Ok((g.name.clone(), l.size_bytes));
            }
        }
        Err(BackendError::Gone(match vg {
            Some(vg) => format!("there is no logical volume {vg}/{lv}"),
            None => format!("there is no volume {lv}"),
        }))
    }

    /// A simulated initiator writes `data` to volume `volume` at `offset`.
    pub fn write_bytes(&self, volume: &str, offset: u64, data: &[u8]) -> Result<(), BackendError> {
        let (vg, _) = self.thin_lv(None, volume)?;
        self.thin.write(&vg, volume, offset, data)
    }

    /// A simulated initiator reads `buf.len()` bytes of volume `volume`
    /// (or of any thin logical volume, a snapshot too) from `offset`.
    pub fn read_bytes(
        &self,
        volume: &str,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<(), BackendError> {
        let (vg, _) = self.thin_lv(None, volume)?;
        self.thin.read(&vg, volume, offset, buf)
    }
}

impl Replicas for SimBackend {
    fn thin_delta(
        &self,
        vg: &str,
        from: Option<&str>,
        to: &str,
        _log: &mut dyn CommandLog,
    ) -> Result<Delta, BackendError> {
        if let Some(f) = from {
            self.thin_lv(Some(vg), f)?;
        }
        self.thin_lv(Some(vg), to)?;
        self.thin.delta(vg, from, to)
    }

    fn open_volume(
        &self,
        vg: &str,
        lv: &str,
        _write: bool,
        _log: &mut dyn CommandLog,
    ) -> Result<Box<dyn VolumeIo>, BackendError> {
        let (vg, size) = self.thin_lv(Some(vg), lv)?;
        Ok(Box::new(SimVolume {
            thin: self.thin.clone(),
            vg,
            lv: lv.into(),
            size,
            map: None,
            changed: false,
        }))
    }
}

/// A simulated thin volume held open: its block map read once and kept,
/// written back (with the data, durably) on `flush`, as a block device's
/// writes are durable after a flush and not before.
struct SimVolume {
    thin: ThinStore,
    vg: String,
    lv: String,
    size: u64,
    map: Option<Vec<u32>>,
    changed: bool,
}

impl SimVolume {
    fn map(&mut self) -> Result<&mut Vec<u32>, BackendError> {
        if self.map.is_none() {
            self.map = Some(self.thin.load_map(&self.vg, &self.lv)?);
        }
        Ok(self.map.as_mut().expect("just loaded"))
    }
}

impl VolumeIo for SimVolume {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), BackendError> {
        let (thin, vg) = (self.thin.clone(), self.vg.clone());
        thin.read_with(&vg, self.map()?, offset, buf)
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), BackendError> {
        let (thin, vg, lv) = (self.thin.clone(), self.vg.clone(), self.lv.clone());
        thin.write_with(&vg, &lv, self.map()?, offset, data)?;
        self.changed = true;
        Ok(())
    }

    fn zero(&mut self, offset: u64, length: u64) -> Result<(), BackendError> {
        let (thin, vg, lv) = (self.thin.clone(), self.vg.clone(), self.lv.clone());
        thin.zero_with(&vg, &lv, self.map()?, offset, length)?;
        self.changed = true;
        Ok(())
    }

    fn start_writeback(&mut self) {
        self.thin.start_writeback(&self.vg);
    }

    fn flush(&mut self) -> Result<(), BackendError> {
        if let (true, Some(map)) = (self.changed, &self.map) {
            self.thin.save_map(&self.vg, &self.lv, map, true)?;
            self.changed = false;
        }
        Ok(())
    }
}

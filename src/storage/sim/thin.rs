//! The bytes of the simulator's thin volumes, kept as a thin pool keeps
//! them: one data file per volume group (the pool's data device, in blocks
//! of [`BLOCK`]) and one map per thin volume saying which data block holds
//! each of its blocks (4 bytes per block, little-endian, the data block's
//! index plus one; 0 for a block never written, which reads as zeroes).
//! Every write goes to newly allocated data blocks and repoints the map
//! (copy on write), so a snapshot is a copy of its origin's map, and the
//! blocks that differ between two snapshots are those whose map entries
//! differ: what `thin_delta` reads from a real pool's metadata.
//!
//! Data blocks are never freed: the simulator's data file only grows.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::domain::replica::{Delta, Extent};
use crate::storage::BackendError;

/// The pool's block: LVM's default thin chunk for pools up to a few TiB.
pub const BLOCK: u64 = 64 << 10;

fn io(what: &str, path: &Path, e: impl std::fmt::Display) -> BackendError {
    BackendError::Failed(format!("{what} {}: {e}", path.display()))
}

/// The thin volumes of every simulated volume group, under one directory.
#[derive(Debug, Clone)]
pub struct ThinStore {
    root: PathBuf,
}

/// One volume group's pool, locked for as long as it is held.
struct Pool {
    dir: PathBuf,
    data: File,
    _lock: Flock<File>,
}

impl ThinStore {
    pub fn new(root: PathBuf) -> Self {
        ThinStore { root }
    }

    fn pool(&self, vg: &str) -> Result<Pool, BackendError> {
        let dir = self.root.join(vg);
        std::fs::create_dir_all(&dir).map_err(|e| io("making", &dir, e))?;
        let lock_path = dir.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io("opening", &lock_path, e))?;
        let lock = Flock::lock(lock, FlockArg::LockExclusive)
            .map_err(|(_, e)| io("locking", &lock_path, e))?;
        let data_path = dir.join("data");
        let data = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&data_path)
            .map_err(|e| io("opening", &data_path, e))?;
        Ok(Pool {
            dir,
            data,
            _lock: lock,
        })
    }

    /// Makes an empty thin volume of `size` bytes (a new map, all zeroes).
    pub fn create(&self, vg: &str, lv: &str, size: u64) -> Result<(), BackendError> {
        let p = self.pool(vg)?;
        let path = p.map_path(lv);
        let f = File::create(&path).map_err(|e| io("making", &path, e))?;
        f.set_len(blocks(size) * 4)
            .map_err(|e| io("sizing", &path, e))
    }

    /// Makes `to` a snapshot of `from`: a copy of its map.
    pub fn snapshot(&self, vg: &str, from: &str, to: &str) -> Result<(), BackendError> {
        let p = self.pool(vg)?;
        let (src, dst) = (p.map_path(from), p.map_path(to));
        if !src.exists() {
            // A volume the simulator made before it kept bytes.
            return Ok(());
        }
        std::fs::copy(&src, &dst)
            .map(|_| ())
            .map_err(|e| io("copying", &src, e))
    }

    pub fn remove(&self, vg: &str, lv: &str) -> Result<(), BackendError> {
        let p = self.pool(vg)?;
        let path = p.map_path(lv);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("removing", &path, e)),
            _ => Ok(()),
        }
    }

    pub fn rename(&self, vg: &str, from: &str, to: &str) -> Result<(), BackendError> {
        let p = self.pool(vg)?;
        let (src, dst) = (p.map_path(from), p.map_path(to));
        match std::fs::rename(&src, &dst) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("renaming", &src, e)),
            _ => Ok(()),
        }
    }

    /// Grows a volume's map to `size` bytes.
    pub fn resize(&self, vg: &str, lv: &str, size: u64) -> Result<(), BackendError> {
        let p = self.pool(vg)?;
        let path = p.map_path(lv);
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io("opening", &path, e))?;
        f.set_len(blocks(size) * 4)
            .map_err(|e| io("sizing", &path, e))
    }

    /// Reads `buf.len()` bytes of volume `lv` from `offset`; a block never
    /// written reads as zeroes.
    pub fn read(
        &self,
        vg: &str,
        lv: &str,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<(), BackendError> {
        let map = self.load_map(vg, lv)?;
        self.read_with(vg, &map, offset, buf)
    }

    /// The block map of volume `lv`, for the `*_with` calls of one who
    /// holds it open (and saves it with [`ThinStore::save_map`]).
    pub fn load_map(&self, vg: &str, lv: &str) -> Result<Vec<u32>, BackendError> {
        self.pool(vg)?.map(lv)
    }

    /// Saves volume `lv`'s map; with `durable`, the pool's data and the
    /// map are on disk when it returns (as a block device's after a flush).
    pub fn save_map(
        &self,
        vg: &str,
        lv: &str,
        map: &[u32],
        durable: bool,
    ) -> Result<(), BackendError> {
        let p = self.pool(vg)?;
        if durable {
            p.data.sync_data().map_err(|e| io("syncing", &p.dir, e))?;
        }
        p.save_map(lv, map, durable)
    }

    /// Starts writing the pool's data to the disk without waiting.
    pub fn start_writeback(&self, vg: &str) {
        if let Ok(p) = self.pool(vg) {
            crate::storage::start_writeback(&p.data);
        }
    }

    /// [`ThinStore::read`] through a map the caller holds.
    pub fn read_with(
        &self,
        vg: &str,
        map: &[u32],
        offset: u64,
        buf: &mut [u8],
    ) -> Result<(), BackendError> {
        let p = self.pool(vg)?;
        let mut done = 0usize;
        while done < buf.len() {
            let at = offset + done as u64;
            let (block, within) = (at / BLOCK, at % BLOCK);
            let n = ((BLOCK - within) as usize).min(buf.len() - done);
            let out = &mut buf[done..done + n];
            match map.get(block as usize).copied().unwrap_or(0) {
                0 => out.fill(0),
                d => p
                    .data
                    .read_exact_at(out, (u64::from(d) - 1) * BLOCK + within)
                    .map_err(|e| io("reading", &p.dir, e))?,
            }
            done += n;
        }
        Ok(())
    }

    /// Writes `data` to volume `lv` at `offset`, into newly allocated data
    /// blocks (a block written in part keeps the rest of its old bytes).
    pub fn write(&self, vg: &str, lv: &str, offset: u64, data: &[u8]) -> Result<(), BackendError> {
        let mut map = self.load_map(vg, lv)?;
        self.write_with(vg, lv, &mut map, offset, data)?;
        self.save_map(vg, lv, &map, false)
    }

    /// [`ThinStore::write`] through a map the caller holds: the data is
    /// written, the map changed but not saved.
    pub fn write_with(
        &self,
        vg: &str,
        lv: &str,
        map: &mut [u32],
        offset: u64,
        data: &[u8],
    ) -> Result<(), BackendError> {
        let p = self.pool(vg)?;
        let end = offset + data.len() as u64;
        if end.div_ceil(BLOCK) > map.len() as u64 {
            return Err(BackendError::Refused(format!(
                "a write up to byte {end} is past the end of {vg}/{lv} ({} bytes)",
                map.len() as u64 * BLOCK
            )));
        }
        let first = offset / BLOCK;
        let last = end.div_ceil(BLOCK);
        let mut next = p
            .data
            .metadata()
            .map_err(|e| io("reading", &p.dir, e))?
            .len()
            .div_ceil(BLOCK);
        let mut staged = vec![0u8; ((last - first) * BLOCK) as usize];
        // The first and last blocks keep what they held around the write;
        // a block it covers whole is not read (as a thin pool overwrites
        // a whole chunk without copying it).
        let partial = |b: u64| offset > b * BLOCK || end < (b + 1) * BLOCK;
        let mut ends = vec![first, last - 1];
        ends.dedup();
        for b in ends.into_iter().filter(|b| partial(*b)) {
            let at = ((b - first) * BLOCK) as usize;
            let slot = &mut staged[at..at + BLOCK as usize];
            if let d @ 1.. = map[b as usize] {
                p.data
                    .read_exact_at(slot, (u64::from(d) - 1) * BLOCK)
                    .map_err(|e| io("reading", &p.dir, e))?;
            }
        }
        let skip = (offset - first * BLOCK) as usize;
        staged[skip..skip + data.len()].copy_from_slice(data);
        p.data
            .write_all_at(&staged, next * BLOCK)
            .map_err(|e| io("writing", &p.dir, e))?;
        for b in first..last {
            next += 1;
            map[b as usize] = u32::try_from(next).map_err(|_| {
                BackendError::Failed(format!("the simulated thin pool of {vg} is full"))
            })?;
        }
        Ok(())
    }

    /// Makes `length` bytes of `lv` from `offset` read as zeroes: whole
    /// blocks are unmapped (as a discard does), the ends of partial ones
    /// written with zeroes.
    pub fn zero(&self, vg: &str, lv: &str, offset: u64, length: u64) -> Result<(), BackendError> {
        let mut map = self.load_map(vg, lv)?;
        self.zero_with(vg, lv, &mut map, offset, length)?;
        self.save_map(vg, lv, &map, false)
    }

    /// [`ThinStore::zero`] through a map the caller holds.
    pub fn zero_with(
        &self,
        vg: &str,
        lv: &str,
        map: &mut [u32],
        offset: u64,
        length: u64,
    ) -> Result<(), BackendError> {
        let end = offset + length;
        let (first_whole, end_whole) = (offset.div_ceil(BLOCK), end / BLOCK);
        if first_whole >= end_whole {
            return self.write_with(vg, lv, map, offset, &vec![0; length as usize]);
        }
        if offset < first_whole * BLOCK {
            self.write_with(
                vg,
                lv,
                map,
                offset,
                &vec![0; (first_whole * BLOCK - offset) as usize],
            )?;
        }
        if end > end_whole * BLOCK {
            self.write_with(
                vg,
                lv,
                map,
                end_whole * BLOCK,
                &vec![0; (end - end_whole * BLOCK) as usize],
            )?;
        }
        for b in first_whole..end_whole.min(map.len() as u64) {
            map[b as usize] = 0;
        }
        Ok(())
    }

    /// What differs in `to` from `from` (every mapped block of `to` when
    /// `from` is `None`), in runs of whole blocks.
    pub fn delta(&self, vg: &str, from: Option<&str>, to: &str) -> Result<Delta, BackendError> {
        let p = self.pool(vg)?;
        let new = p.map(to)?;
        let old = match from {
            Some(f) => p.map(f)?,
            None => Vec::new(),
        };
        let mut delta = Delta::default();
        for (i, &n) in new.iter().enumerate() {
            let o = old.get(i).copied().unwrap_or(0);
            if n == o {
                continue;
            }
            let runs = if n == 0 {
                &mut delta.unmapped
            } else {
                &mut delta.changed
            };
            let at = i as u64 * BLOCK;
            match runs.last_mut() {
                Some(r) if r.offset + r.length == at => r.length += BLOCK,
                _ => runs.push(Extent {
                    offset: at,
                    length: BLOCK,
                }),
            }
        }
        Ok(delta)
    }
}

impl Pool {
    fn map_path(&self, lv: &str) -> PathBuf {
        self.dir.join(format!("{lv}.map"))
    }

    fn map(&self, lv: &str) -> Result<Vec<u32>, BackendError> {
        let path = self.map_path(lv);
        let bytes = std::fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                BackendError::Gone(format!("the simulator keeps no bytes for {lv}"))
            } else {
                io("reading", &path, e)
            }
        })?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("four bytes")))
            .collect())
    }

    fn save_map(&self, lv: &str, map: &[u32], durable: bool) -> Result<(), BackendError> {
        let path = self.map_path(lv);
        let tmp = self.dir.join(format!("{lv}.map.new"));
        let bytes: Vec<u8> = map.iter().flat_map(|d| d.to_le_bytes()).collect();
        let mut f = File::create(&tmp).map_err(|e| io("writing", &tmp, e))?;
        std::io::Write::write_all(&mut f, &bytes).map_err(|e| io("writing", &tmp, e))?;
        if durable {
            f.sync_data().map_err(|e| io("syncing", &tmp, e))?;
        }
        std::fs::rename(&tmp, &path).map_err(|e| io("writing", &path, e))
    }
}

fn blocks(size: u64) -> u64 {
    size.div_ceil(BLOCK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ThinStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = ThinStore::new(dir.path().join("thin"));
        (dir, s)
    }

    fn read(s: &ThinStore, lv: &str, offset: u64, n: usize) -> Vec<u8> {
        let mut buf = vec![0xee; n];
        s.read("tank", lv, offset, &mut buf).unwrap();
        buf
    }

    #[test]
    fn bytes_read_back_and_unwritten_blocks_are_zeroes() {
        let (_d, s) = store();
        s.create("tank", "db", 1 << 20).unwrap();
        assert_eq!(read(&s, "db", 0, 100), vec![0; 100]);
        // Across a block boundary, in part of two blocks.
        let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        s.write("tank", "db", BLOCK - 500, &data).unwrap();
        assert_eq!(read(&s, "db", BLOCK - 500, 1000), data);
        assert_eq!(read(&s, "db", BLOCK - 600, 100), vec![0; 100]);
        assert_eq!(read(&s, "db", BLOCK + 500, 100), vec![0; 100]);
        // Past the end: refused, nothing changed.
        let e = s.write("tank", "db", (1 << 20) - 10, &[1; 20]).unwrap_err();
        assert!(e.to_string().contains("past the end"), "{e}");
    }

    #[test]
    fn a_snapshot_keeps_its_bytes_and_the_delta_names_what_changed() {
        let (_d, s) = store();
        s.create("tank", "db", 16 * BLOCK).unwrap();
        s.write("tank", "db", 0, &[1; 3 * BLOCK as usize]).unwrap();
        s.snapshot("tank", "db", "db_r1").unwrap();
        let full = s.delta("tank", None, "db_r1").unwrap();
        assert_eq!(
            full.changed,
            [Extent {
                offset: 0,
                length: 3 * BLOCK
            }]
        );
        // One byte in block 1, a whole block 5 and 6.
        s.write("tank", "db", BLOCK + 7, &[2]).unwrap();
        s.write("tank", "db", 5 * BLOCK, &[3; 2 * BLOCK as usize])
            .unwrap();
        s.snapshot("tank", "db", "db_r2").unwrap();
        let d = s.delta("tank", Some("db_r1"), "db_r2").unwrap();
        assert_eq!(
            d.changed,
            [
                Extent {
                    offset: BLOCK,
                    length: BLOCK
                },
                Extent {
                    offset: 5 * BLOCK,
                    length: 2 * BLOCK
                }
            ]
        );
        assert!(d.unmapped.is_empty());
        assert_eq!(read(&s, "db_r1", BLOCK + 7, 1), [1]);
        assert_eq!(read(&s, "db_r2", BLOCK + 6, 3), [1, 2, 1], "the rest kept");
        assert_eq!(read(&s, "db_r2", 5 * BLOCK - 1, 2), [0, 3]);
        // Zeroed: whole blocks unmapped, a partial one written.
        s.snapshot("tank", "db", "db_z").unwrap();
        s.zero("tank", "db_z", BLOCK + 8, 2 * BLOCK).unwrap();
        assert_eq!(read(&s, "db_z", BLOCK + 7, 2), [2, 0]);
        assert_eq!(read(&s, "db_z", 3 * BLOCK + 7, 2), [0, 0]);
        let z = s.delta("tank", Some("db_r2"), "db_z").unwrap();
        assert_eq!(
            z.unmapped,
            [Extent {
                offset: 2 * BLOCK,
                length: BLOCK
            }]
        );
        // Nothing changed: an empty delta.
        s.snapshot("tank", "db", "db_r3").unwrap();
        assert_eq!(
            s.delta("tank", Some("db_r2"), "db_r3").unwrap(),
            Delta::default()
        );
        // A volume made anew from an older point: the blocks it lost.
        s.remove("tank", "db").unwrap();
        s.create("tank", "db", 16 * BLOCK).unwrap();
        let d = s.delta("tank", Some("db_r2"), "db").unwrap();
        assert!(d.changed.is_empty());
        assert_eq!(
            d.unmapped,
            [
                Extent {
                    offset: 0,
                    length: 3 * BLOCK
                },
                Extent {
                    offset: 5 * BLOCK,
                    length: 2 * BLOCK
                }
            ]
        );
    }
}

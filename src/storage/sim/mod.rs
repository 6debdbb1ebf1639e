//! A simulated appliance: enclosures with bays and drives with SMART data,
//! generated once from a fixed seed and kept in a JSON file in the data
//! directory, so it is the same appliance after every restart.

mod arrays;
mod drives;
mod enclosures;
mod generate;
mod md;
mod replicas;
mod targets;
pub mod thin;
mod volumes;

#[cfg(test)]
use generate::dev_name;
use generate::{MODELS, Rng, generate, make_drive, old_signatures};

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::{Backend, BackendError, CommandLog};
use crate::config::{BackendKind, SimSettings};
use crate::domain::clock::Clock;
use crate::domain::{
    BayAddr, Drive, Element, Enclosure, EnclosureMethod, Inventory, Led, SelfTest, SelfTestKind,
    Slot, Smart, SmartAttribute, Transport,
};

const STATE_FILE: &str = "sim-appliance.json";
const STATE_VERSION: u32 = 2;
/// Where the bytes of the simulated thin volumes are kept.
const THIN_DIR: &str = "sim-thin";

/// The simulator's persistent state.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    version: u32,
    /// The layout the state was generated for: bays per enclosure.
    layout: Vec<u32>,
    /// When the simulated appliance was created (seconds since the epoch);
    /// power-on hours grow from it.
    created_unix: u64,
    inventory: Inventory,
    /// Self-tests started on each drive (by ident), oldest first; their
    /// progress and result follow from the time.
    #[serde(default)]
    self_tests: std::collections::BTreeMap<String, Vec<SimSelfTest>>,
    /// md arrays, running and stopped (a stopped one lives on in its
    /// members' superblocks). A state file from before arrays has none.
    #[serde(default)]
    arrays: Vec<md::SimArray>,
    /// How many arrays were ever made here: part of each new UUID.
    #[serde(default)]
    arrays_created: u64,
    /// What is written on each drive (by ident): an old array's
    /// superblock, a partition table; md's own superblock on members.
    #[serde(default)]
    signatures: std::collections::BTreeMap<String, Vec<arrays::SimSignature>>,
    /// Sectors each drive (by ident) cannot read until they are written.
    #[serde(default)]
    bad_sectors: std::collections::BTreeMap<String, Vec<u64>>,
    /// mdadm.conf's ARRAY lines.
    #[serde(default)]
    mdadm_conf: Vec<arrays::ConfLine>,
    #[serde(default)]
    volume_groups: Vec<volumes::SimVolumeGroup>,
    /// Front devices (`baystack-<volume>`).
    #[serde(default)]
    fronts: Vec<volumes::SimFront>,
    /// LIO: backstores and iSCSI targets with their sessions.
    #[serde(default)]
    lio: targets::SimLio,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SimSelfTest {
    kind: SelfTestKind,
    /// Milliseconds since the epoch: at a high simulator speed a test
    /// takes about a second.
    started_ms: u64,
    /// When the host aborted it, if it did.
    #[serde(default)]
    aborted_ms: Option<u64>,
}

/// How long a simulated self-test takes at speed 1, in seconds: about what
/// a 4 TB drive says (2 minutes short, 8 hours long).
fn self_test_seconds(kind: SelfTestKind) -> f64 {
    match kind {
        SelfTestKind::Short => 120.0,
        SelfTestKind::Long => 8.0 * 3600.0,
    }
}

/// What a simulated drive says its `kind` self-test takes, in whole
/// minutes, on the simulator's clock (as an ATA drive's polling minutes).
fn self_test_minutes(kind: SelfTestKind, speed: f64) -> u32 {
    ((self_test_seconds(kind) / speed / 60.0).ceil() as u32).max(1)
}

impl State {
    /// How a self-test's answer names the drive: "ST4000NM0023 Z1Z0A1B2".
    fn drive_words(&self, ident: &str) -> Result<String, BackendError> {
        self.inventory
            .drives
            .iter()
            .find(|d| d.ident == ident)
            .map(|d| format!("{} {}", d.model, d.serial))
            .ok_or_else(|| BackendError::Failed(format!("drive {ident} is gone")))
    }

    /// The self-test running on drive `ident` now, with the fraction done.
    fn running_test(&self, ident: &str, speed: f64, now_ms: u64) -> Option<(SelfTestKind, f64)> {
        let t = self.self_tests.get(ident)?.last()?;
        let done =
            now_ms.saturating_sub(t.started_ms) as f64 / 1000.0 * speed / self_test_seconds(t.kind);
        (done < 1.0 && t.aborted_ms.is_none()).then_some((t.kind, done))
    }
}

/// The simulated appliance. Its state lives in one file in the data
/// directory, read afresh under a file lock on every use, so that `baystack
/// sim` commands in another process change what the running agent sees.
pub struct SimBackend {
    path: PathBuf,
    speed: f64,
    clock: Arc<dyn Clock>,
    /// Serializes this process's changes; the file lock serializes
    /// processes.
    writer: Mutex<()>,
    /// The bytes of its thin volumes.
    thin: thin::ThinStore,
}

/// What an administrator can do to the simulated hardware (`baystack sim`).
#[derive(Debug, Clone, Copy)]
pub enum SimAction {
    /// The drive's own health check fails.
    FailDrive,
    /// An ATA attribute's raw count grows by `by` (reallocated sectors: 5).
    Grow { attribute: u8, by: u64 },
    /// Sector `lba` of the drive cannot be read until it is written (md
    /// rewrites it from redundancy when a check or repair reads it); its
    /// self-tests fail there.
    BadSector { lba: u64 },
    /// The drive is pulled and a new, healthy one of the same model put in.
    /// md fails the old one in its array and takes it out.
    ReplaceDrive,
    /// The drive returns I/O errors: md marks it faulty in its array (its
    /// own SMART verdict is left as it was; `FailDrive` is the other way
    /// round, a drive caught before md kicks it out).
    FailMember,
}

impl SimBackend {
    /// Loads the simulated appliance from the data directory, or creates it.
    /// One of another layout than configured is made anew (the console was
    /// started with a new layout).
    pub fn open(data_dir: &Path, settings: &SimSettings) -> Result<Self, BackendError> {
        Self::open_as(data_dir, settings, false)
    }

    /// Loads the simulated appliance as it is, whatever layout the
    /// settings name: `baystack sim` changes the appliance a console is
    /// running, and never makes another. Only where there is none yet is
    /// one made, of the configured layout.
    pub fn open_existing(data_dir: &Path, settings: &SimSettings) -> Result<Self, BackendError> {
        Self::open_as(data_dir, settings, true)
    }

    fn open_as(
        data_dir: &Path,
        settings: &SimSettings,
        any_layout: bool,
    ) -> Result<Self, BackendError> {
        let clock = crate::domain::clock::system();
        let path = data_dir.join(STATE_FILE);
        let loaded = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<State>(&bytes) {
                Ok(s)
                    if s.version == STATE_VERSION
                        && (any_layout || s.layout == settings.layout) =>
                {
                    Some(s)
                }
                Ok(s) if any_layout => {
                    return Err(BackendError::Failed(format!(
                        "simulated appliance state {} was written by another version of Baystack \
                         (state version {}, this one reads {STATE_VERSION}); start `baystack serve` \
                         to make a new one",
                        path.display(),
                        s.version
                    )));
                }
                Ok(_) => {
                    tracing::warn!(
                        "simulated appliance in {} has another layout than configured; making a new one",
                        path.display()
                    );
                    None
                }
                Err(e) => {
                    return Err(BackendError::Failed(format!(
                        "simulated appliance state {} is unreadable: {e}",
                        path.display()
                    )));
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(BackendError::Failed(format!(
                    "cannot read simulated appliance state {}: {e}",
                    path.display()
                )));
            }
        };
        match loaded {
            Some(_) => {}
            None => {
                let created_unix = clock.now_ms() / 1000;
                let inventory = generate(&settings.layout);
                let s = State {
                    version: STATE_VERSION,
                    layout: settings.layout.clone(),
                    created_unix,
                    signatures: old_signatures(&inventory),
                    bad_sectors: Default::default(),
                    inventory,
                    self_tests: Default::default(),
                    arrays: Vec::new(),
                    arrays_created: 0,
                    mdadm_conf: Vec::new(),
                    volume_groups: Vec::new(),
                    fronts: Vec::new(),
                    lio: Default::default(),
                };
                save(&path, &s)?;
            }
        }
        Ok(SimBackend {
            path,
            speed: settings.speed,
            clock,
            writer: Mutex::new(()),
            thin: thin::ThinStore::new(data_dir.join(THIN_DIR)),
        })
    }

    /// The simulator's clock: the time its drives age and their self-tests
    /// run by.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    fn now_unix(&self) -> u64 {
        self.now_ms() / 1000
    }

    fn load(&self) -> Result<State, BackendError> {
        let bytes = std::fs::read(&self.path).map_err(|e| {
            BackendError::Failed(format!(
                "cannot read simulated appliance state {}: {e}",
                self.path.display()
            ))
        })?;
        serde_json::from_slice(&bytes).map_err(|e| {
            BackendError::Failed(format!(
                "simulated appliance state {} is unreadable: {e}",
                self.path.display()
            ))
        })
    }

    /// Reads the state, lets `f` change it, and writes it back, holding the
    /// state's file lock throughout.
    fn change<T>(
        &self,
        f: impl FnOnce(&mut State) -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        let _turn = self.writer.lock().expect("sim writer lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.path.with_extension("lock"))
            .map_err(|e| BackendError::Failed(format!("cannot lock the simulator state: {e}")))?;
        let _lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive).map_err(
            |(_, e)| BackendError::Failed(format!("cannot lock the simulator state: {e}")),
        )?;
        let mut state = self.load()?;
        let out = f(&mut state)?;
        save(&self.path, &state)?;
        Ok(out)
    }

    /// Does `action` to the drive in `slot` of `enclosure`; says what in
    /// words.
    pub fn act(
        &self,
        enclosure: &str,
        slot: u32,
        action: SimAction,
    ) -> Result<String, BackendError> {
        let (now, speed) = (self.now_ms(), self.speed);
        self.change(|state| {
            state.settle_arrays(now, speed);
            let (label, ident) = {
                let (encl, bay) = find_bay(&mut state.inventory, enclosure, slot)?;
                let ident = bay.drive.clone().ok_or_else(|| {
                    BackendError::Failed(format!("{} slot {slot} is empty", encl))
                })?;
                (encl, ident)
            };
            let inv = &mut state.inventory;
            let drive = inv
                .drives
                .iter_mut()
                .find(|d| d.ident == ident)
                .expect("a filled bay names a drive");
            match action {
                SimAction::FailDrive => {
                    drive.smart.get_or_insert_with(Smart::default).passed = Some(false);
                    Ok(format!(
                        "{} {} in {label} slot {slot} now fails its health check",
                        drive.model, drive.serial
                    ))
                }
                SimAction::Grow { attribute, by } => {
                    let a = drive
                        .smart
                        .get_or_insert_with(Smart::default)
                        .attributes
                        .iter_mut()
                        .find(|a| a.id == attribute)
                        .ok_or_else(|| {
                            BackendError::Failed(format!(
                                "{} {} has no SMART attribute {attribute}",
                                drive.model, drive.serial
                            ))
                        })?;
                    a.raw += by;
                    Ok(format!(
                        "{} of {} {} is now {}",
                        a.name, drive.model, drive.serial, a.raw
                    ))
                }
                SimAction::BadSector { lba } => {
                    let words = format!(
                        "sector {lba} of {} {} cannot be read until it is written",
                        drive.model, drive.serial
                    );
                    let bad = state.bad_sectors.entry(ident).or_default();
                    if !bad.contains(&lba) {
                        bad.push(lba);
                    }
                    Ok(words)
                }
                SimAction::ReplaceDrive => {
                    let old = format!("{} {}", drive.model, drive.serial);
                    let mut rng = Rng(SystemTime::now()
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .map(|d| d.as_nanos() as u64)
                        .unwrap_or(1));
                    let model = MODELS
                        .iter()
                        .find(|m| m.model == drive.model)
                        .unwrap_or(&MODELS[0]);
                    let mut new = make_drive(&mut rng, model, false, drive.dev_name.clone());
                    if let Some(smart) = new.smart.as_mut() {
                        smart.power_on_hours = Some(0);
                    }
                    let (new_ident, words) =
                        (new.ident.clone(), format!("{} {}", new.model, new.serial));
                    *drive = new;
                    let (_, bay) = find_bay(inv, enclosure, slot)?;
                    bay.drive = Some(new_ident);
                    let md = arrays::pulled(&mut state.arrays, &ident, now, speed);
                    state.signatures.remove(&ident);
                    Ok(std::iter::once(format!(
                        "{old} pulled from {label} slot {slot}; {words} put in"
                    ))
                    .chain(md)
                    .collect::<Vec<_>>()
                    .join("; "))
                }
                SimAction::FailMember => {
                    let words = format!("{} {}", drive.model, drive.serial);
                    let md = arrays::io_error(&mut state.arrays, &ident, now, speed);
                    if md.is_empty() {
                        return Err(BackendError::Refused(format!(
                            "{words} in {label} slot {slot} is in no running md array \
                             (or is already faulty in it)"
                        )));
                    }
                    Ok(format!(
                        "{words} in {label} slot {slot} returns I/O errors; {}",
                        md.join("; ")
                    ))
                }
            }
        })
    }

    /// An enclosure's power supply, fan or sensor (by its name on the bay
    /// map) reports `status` (the kernel's word: `OK`, `non-critical`,
    /// `critical`, `unrecoverable`), with `detail` ("0 rpm, Fail").
    pub fn set_element(
        &self,
        enclosure: &str,
        name: &str,
        status: &str,
        detail: &str,
    ) -> Result<String, BackendError> {
        const STATUSES: [&str; 6] = [
            "OK",
            "non-critical",
            "critical",
            "unrecoverable",
            "not installed",
            "unknown",
        ];
        if !STATUSES.contains(&status) {
            return Err(BackendError::Refused(format!(
                "the status must be one of {}, not {status:?}",
                STATUSES.join(", ")
            )));
        }
        self.change(|state| {
            let encl = state
                .inventory
                .enclosures
                .iter_mut()
                .find(|e| e.ident == enclosure)
                .ok_or_else(|| {
                    BackendError::Failed(format!("there is no enclosure {enclosure}"))
                })?;
            let label = encl.label.clone();
            let el = encl
                .elements
                .iter_mut()
                .flatten()
                .find(|e| e.name == name)
                .ok_or_else(|| BackendError::Failed(format!("{label} has no element {name:?}")))?;
            el.status = status.into();
            el.detail = detail.into();
            Ok(format!(
                "{} {name} of {label} now reports {status}",
                el.kind
            ))
        })
    }

    pub fn state_path(&self) -> &Path {
        &self.path
    }
}

fn save(path: &Path, state: &State) -> Result<(), BackendError> {
    let fail = |e: std::io::Error| {
        BackendError::Failed(format!(
            "cannot write simulated appliance state {}: {e}",
            path.display()
        ))
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let bytes = serde_json::to_vec_pretty(state).expect("state serializes");
    // Write a new file and rename it over the old: a crash leaves either the
    // old state or the new one, never half of one.
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, bytes).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

impl Backend for SimBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Sim
    }

    fn inventory(&self) -> Result<Inventory, BackendError> {
        let mut state = self.load()?;
        let mut inv = std::mem::take(&mut state.inventory);
        // Drives age while the appliance runs, at the simulator's speed.
        let hours_at = |unix: u64| {
            (unix.saturating_sub(state.created_unix) as f64 * self.speed / 3600.0) as i64
        };
        let elapsed_hours = hours_at(self.now_unix());
        for d in &mut inv.drives {
            // What is written on it, as lsblk would see it.
            d.signatures = state
                .signatures
                .get(&d.ident)
                .into_iter()
                .flatten()
                .map(arrays::SimSignature::words)
                .collect();
            let Some(smart) = d.smart.as_mut() else {
                continue;
            };
            let base_hours = smart.power_on_hours.unwrap_or(0);
            if let Some(h) = smart.power_on_hours.as_mut() {
                *h += elapsed_hours;
            }
            for a in &mut smart.attributes {
                if a.id == 9 {
                    a.raw += elapsed_hours as u64;
                }
            }
            // The self-test log, newest first: finished tests pass unless
            // the drive was made to fail; an aborted one says so.
            smart.short_test_minutes = Some(self_test_minutes(SelfTestKind::Short, self.speed));
            smart.long_test_minutes = Some(self_test_minutes(SelfTestKind::Long, self.speed));
            let running = state.running_test(&d.ident, self.speed, self.now_ms());
            let remaining = running.map(|(_, done)| 100 - ((done * 100.0) as u8).min(100));
            smart.self_test_running = running.zip(remaining).map(|((kind, _), left)| {
                format!("{} self-test in progress, {left}% remaining", kind.as_str())
            });
            smart.self_test_running_kind = running.map(|(kind, _)| kind);
            smart.self_test_remaining_percent = remaining;
            let finished = state.self_tests.get(&d.ident).into_iter().flatten().rev();
            smart.self_tests = finished
                .skip(usize::from(running.is_some()))
                .map(|t| {
                    // A test reads the whole medium and stops at the first
                    // sector it cannot read.
                    let bad = state
                        .bad_sectors
                        .get(&d.ident)
                        .and_then(|b| b.iter().min().copied())
                        .filter(|_| t.aborted_ms.is_none());
                    let failed =
                        (smart.passed == Some(false) || bad.is_some()) && t.aborted_ms.is_none();
                    let ended = t.aborted_ms.map_or(
                        (t.started_ms / 1000)
                            + (self_test_seconds(t.kind) / self.speed).ceil() as u64,
                        |ms| ms / 1000,
                    );
                    SelfTest {
                        kind: match t.kind {
                            SelfTestKind::Short => "Short offline",
                            SelfTestKind::Long => "Extended offline",
                        }
                        .into(),
                        result: if t.aborted_ms.is_some() {
                            "Aborted by host"
                        } else if failed {
                            "Completed: read failure"
                        } else {
                            "Completed without error"
                        }
                        .into(),
                        failed,
                        aborted: t.aborted_ms.is_some(),
                        hours: Some(base_hours + hours_at(ended)),
                        lba: failed.then_some(bad.unwrap_or(1_234_567)),
                    }
                })
                .collect();
        }
        Ok(inv)
    }
}

/// The bay `slot` of `enclosure`, with the enclosure's label.
fn find_bay<'a>(
    inv: &'a mut Inventory,
    enclosure: &str,
    slot: u32,
) -> Result<(String, &'a mut Slot), BackendError> {
    let encl = inv
        .enclosures
        .iter_mut()
        .find(|e| e.ident == enclosure)
        .ok_or_else(|| BackendError::Failed(format!("there is no enclosure {enclosure}")))?;
    let label = encl.label.clone();
    let bay = encl
        .slots
        .iter_mut()
        .find(|s| s.slot == slot)
        .ok_or_else(|| BackendError::Failed(format!("{label} has no slot {slot}")))?;
    Ok((label, bay))
}

impl SimBackend {
    /// Waits as long as an operation would take on real hardware, divided by
    /// the simulator's speed.
    fn pause(&self, real: Duration) {
        std::thread::sleep(real.div_f64(self.speed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::health::{Health, verdict};
    use crate::storage::Drives;

    fn settings(enclosures: u32, bays: u32) -> SimSettings {
        SimSettings {
            layout: vec![bays; enclosures as usize],
            speed: 1.0,
        }
    }

    #[test]
    fn default_appliance_is_one_twelve_bay_enclosure_with_mostly_healthy_drives() {
        let inv = generate(&[12]);
        assert_eq!(inv.enclosures.len(), 1);
        assert_eq!(inv.enclosures[0].slots.len(), 12);
        let used = inv.enclosures[0]
            .slots
            .iter()
            .filter(|s| s.drive.is_some())
            .count();
        assert_eq!(used, 10);
        assert_eq!(inv.drives.len(), 10);
        let verdicts: Vec<Health> = inv
            .drives
            .iter()
            .map(|d| verdict(d.smart.as_ref().unwrap(), None).0)
            .collect();
        assert_eq!(
            verdicts.iter().filter(|h| **h == Health::Warning).count(),
            1
        );
        assert_eq!(
            verdicts.iter().filter(|h| **h == Health::Healthy).count(),
            9
        );
        // Identities are unique and every filled slot names a real drive.
        let mut idents: Vec<&str> = inv.drives.iter().map(|d| d.ident.as_str()).collect();
        idents.sort();
        idents.dedup();
        assert_eq!(idents.len(), 10);
        for s in &inv.enclosures[0].slots {
            if let Some(d) = &s.drive {
                assert!(inv.drives.iter().any(|x| &x.ident == d));
            }
        }
    }

    #[test]
    fn layout_is_configurable() {
        let inv = generate(&[12, 24, 60]);
        let bays: Vec<usize> = inv.enclosures.iter().map(|e| e.slots.len()).collect();
        assert_eq!(bays, [12, 24, 60]);
        assert_eq!(inv.enclosures[1].label, "JBOD 1 (24-bay)");
        let mut ids: Vec<&str> = inv.enclosures.iter().map(|e| e.ident.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 3);
    }

    #[test]
    fn state_persists_across_restarts_and_follows_the_layout() {
        let dir = tempfile::tempdir().unwrap();
        let a = SimBackend::open(dir.path(), &settings(1, 12)).unwrap();
        let first = a.inventory().unwrap();
        assert!(a.state_path().exists());
        drop(a);
        let b = SimBackend::open(dir.path(), &settings(1, 12)).unwrap();
        let again = b.inventory().unwrap();
        assert_eq!(
            first.drives.iter().map(|d| &d.serial).collect::<Vec<_>>(),
            again.drives.iter().map(|d| &d.serial).collect::<Vec<_>>()
        );
        let c = SimBackend::open(dir.path(), &settings(2, 24)).unwrap();
        assert_eq!(c.inventory().unwrap().enclosures.len(), 2);
    }

    #[test]
    fn corrupt_state_is_an_error_not_a_silent_reset() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STATE_FILE), b"{not json").unwrap();
        let err = SimBackend::open(dir.path(), &settings(1, 12))
            .err()
            .unwrap();
        assert!(err.to_string().contains("unreadable"), "{err}");
    }

    /// A simulated drive says how long its tests take, shows a running
    /// test's kind and what is left, and an abort ends it as the host's.
    #[test]
    fn a_running_test_shows_its_progress_and_is_aborted() {
        let dir = tempfile::tempdir().unwrap();
        let sim = SimBackend::open(dir.path(), &settings(1, 12)).unwrap();
        let ident = sim.inventory().unwrap().drives[0].ident.clone();
        let read = || {
            sim.read_smart(&ident, None, &mut crate::storage::NoLog)
                .unwrap()
        };
        let s = read();
        assert_eq!(
            (s.short_test_minutes, s.long_test_minutes),
            (Some(2), Some(480))
        );
        assert_eq!(s.test_minutes(SelfTestKind::Long), Some(480));
        let log = &mut crate::storage::NoLog;
        assert!(
            sim.abort_self_test(&ident, None, log)
                .unwrap()
                .ends_with("was running no self-test; there was nothing to abort")
        );
        sim.start_self_test(&ident, None, SelfTestKind::Long, log)
            .unwrap();
        let s = read();
        assert_eq!(s.self_test_running_kind, Some(SelfTestKind::Long));
        assert_eq!(s.self_test_remaining_percent, Some(100));
        assert_eq!(
            s.self_test_running.as_deref(),
            Some("long self-test in progress, 100% remaining")
        );
        let did = sim.abort_self_test(&ident, None, log).unwrap();
        assert!(
            did.contains("aborted its long self-test (0% done)"),
            "{did}"
        );
        let s = read();
        assert_eq!(
            (
                s.self_test_running,
                s.self_test_running_kind,
                s.self_test_remaining_percent
            ),
            (None, None, None)
        );
        let t = &s.self_tests[0];
        assert_eq!(
            (t.kind.as_str(), t.result.as_str(), t.aborted, t.failed),
            ("Extended offline", "Aborted by host", true, false)
        );
        // A new test may start once the last was aborted.
        sim.start_self_test(&ident, None, SelfTestKind::Short, log)
            .unwrap();
        assert_eq!(read().self_test_running_kind, Some(SelfTestKind::Short));
    }

    #[test]
    fn dev_names_follow_the_kernel() {
        assert_eq!(dev_name(0), "sda");
        assert_eq!(dev_name(25), "sdz");
        assert_eq!(dev_name(26), "sdaa");
        assert_eq!(dev_name(27), "sdab");
    }
}

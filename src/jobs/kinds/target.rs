//! Targets: `target.export` and `target.unexport` for one volume, and
//! `lio.reconcile`, which makes the database's configuration true in the
//! kernel for every volume, touching nothing that is already right.
//!
//! A target's CHAP secrets are never in a payload: each step reads what
//! the database holds when it runs.

use serde::{Deserialize, Serialize};

use super::Kind;
use crate::db::audit::{self, Entry, Outcome};
use crate::db::volumes;
use crate::domain::resource;
use crate::domain::target::TargetSpec;
use crate::domain::volume::front_name;
use crate::jobs::JobSpec;
use crate::jobs::SYSTEM_ACTOR;
use crate::jobs::runner::{JobError, StepCtx};
use crate::storage::NoLog;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetPayload {
    pub pool: String,
    pub volume: String,
}

/// The target recorded for `volume`, as the kernel is to have it.
fn spec_of(ctx: &StepCtx<'_>, volume: &str) -> Result<TargetSpec, JobError> {
    let name = volume.to_string();
    ctx.read(move |c| {
        let Some(v) = volumes::by_name(c, &name)? else {
            return Ok(None);
        };
        let Some(t) = volumes::target_of(c, v.id)? else {
            return Ok(None);
        };
        let initiators = volumes::initiators_of(c, v.id)?;
        Ok(Some(t.spec(&v, initiators)))
    })?
    .ok_or_else(|| JobError::Refused(format!("volume {volume} has no target recorded")))
}

/// The job that exports volume `volume` as its target (recorded with the
/// job).
pub fn export(pool: &str, volume: &str, iqn: &str) -> JobSpec {
    apply(pool, volume, format!("Export volume {volume} as {iqn}"))
}

/// The job that gives target `iqn` the access now recorded for it (its
/// initiators, CHAP): only what changed is written; sessions of initiators
/// still allowed stay.
pub fn change_access(pool: &str, volume: &str, iqn: &str) -> JobSpec {
    apply(
        pool,
        volume,
        format!("Change who may log in to {iqn}, and its CHAP"),
    )
}

fn apply(pool: &str, volume: &str, summary: String) -> JobSpec {
    TargetExport.spec(
        &TargetPayload {
            pool: pool.into(),
            volume: volume.into(),
        },
        summary,
        vec![resource::target(volume), resource::volume(volume)],
        vec![
            format!("Check the front device {}", front_name(volume)),
            "Make the backstore, the target, its LUN 0, portals, access and CHAP in LIO".into(),
            "Record it exported".into(),
        ],
    )
}

pub struct TargetExport;

impl Kind for TargetExport {
    type Payload = TargetPayload;

    fn name(&self) -> &'static str {
        "target.export"
    }

    fn changes(&self, _p: &TargetPayload, position: i32) -> bool {
        position < 2
    }

    fn run_step(
        &self,
        p: &TargetPayload,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        let backend = ctx.backend;
        match position {
            0 => super::volume::front_device(ctx, &p.pool, &p.volume),
            1 => {
                let spec = spec_of(ctx, &p.volume)?;
                let words = backend.apply_target(&spec, ctx)?;
                Ok(if words.is_empty() {
                    format!("{} was already as recorded", spec.iqn)
                } else {
                    words.join("; ")
                })
            }
            2 => {
                let name = p.volume.clone();
                ctx.commit_with_step(move |c, _| {
                    if let Some(v) = volumes::by_name(c, &name)? {
                        volumes::set_target_lifecycle(c, v.id, "exported")?;
                    }
                    Ok(())
                });
                Ok(format!("{} is exported", p.volume))
            }
            _ => Err(JobError::Refused(format!(
                "an export has no step {position}"
            ))),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UnexportPayload {
    pub volume: String,
    pub iqn: String,
    pub backstore: String,
}

/// The job that takes down volume `volume`'s target (its sessions end).
pub fn unexport(volume: &str, iqn: &str, backstore: &str) -> JobSpec {
    TargetUnexport.spec(
        &UnexportPayload {
            volume: volume.into(),
            iqn: iqn.into(),
            backstore: backstore.into(),
        },
        format!("Unexport volume {volume} ({iqn})"),
        vec![resource::target(volume), resource::volume(volume)],
        vec![
            format!("Remove target {iqn} and backstore {backstore} from LIO"),
            "Forget the target".into(),
        ],
    )
}

pub struct TargetUnexport;

impl Kind for TargetUnexport {
    type Payload = UnexportPayload;

    fn name(&self) -> &'static str {
        "target.unexport"
    }

    fn changes(&self, _p: &UnexportPayload, position: i32) -> bool {
        position == 0
    }

    fn run_step(
        &self,
        p: &UnexportPayload,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        match position {
            0 => Ok(ctx.backend.remove_target(&p.iqn, &p.backstore, ctx)?),
            1 => {
                let name = p.volume.clone();
                ctx.commit_with_step(move |c, _| {
                    if let Some(v) = volumes::by_name(c, &name)? {
                        volumes::delete_target(c, v.id)?;
                    }
                    Ok(())
                });
                Ok(format!("{} is no longer exported", p.volume))
            }
            _ => Err(JobError::Refused(format!(
                "an unexport has no step {position}"
            ))),
        }
    }
}

/// The reconcile job for what is recorded now; `None` when no volume is.
pub fn reconcile_recorded(c: &mut crate::db::Conn<'_>) -> diesel::QueryResult<Option<JobSpec>> {
    let vols = volumes::list(c)?;
    if vols.is_empty() {
        return Ok(None);
    }
    let pools: Vec<String> = crate::db::pools::list(c)?
        .into_iter()
        .filter(|p| vols.iter().any(|v| v.pool_id == p.id))
        .map(|p| p.name)
        .collect();
    let names: Vec<String> = vols.into_iter().map(|v| v.name).collect();
    Ok(Some(reconcile(&pools, &names)))
}

/// `lio.reconcile` has nothing in its payload: it reads what is recorded
/// when it runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReconcilePayload {}

/// The job that makes the recorded configuration true in the kernel. It
/// holds every recorded volume's and target's key and the pools' they are
/// in, so no change to one runs beside it and it runs after a pool's
/// assembly.
pub fn reconcile(pools: &[String], volume_names: &[String]) -> JobSpec {
    let mut keys: Vec<String> = pools.iter().map(|p| resource::pool(p)).collect();
    for v in volume_names {
        keys.push(resource::volume(v));
        keys.push(resource::target(v));
    }
    Reconcile.spec(
        &ReconcilePayload {},
        "Reconcile volumes and targets: make the kernel match the recorded configuration".into(),
        keys,
        vec![
            "Front devices: make each volume's where it is missing or maps the wrong size".into(),
            "Targets: make each recorded target's backstore, LUN, portals, access and CHAP \
             true in LIO; what is right is not touched"
                .into(),
            "List what is in LIO that Baystack did not make (never removed)".into(),
        ],
    )
}

pub struct Reconcile;

/// Writes each repair to the audit log, as the agent.
fn audit_repairs(ctx: &mut StepCtx<'_>, target: String, repairs: Vec<String>) {
    if repairs.is_empty() {
        return;
    }
    ctx.commit_with_step(move |c, now| {
        for r in &repairs {
            audit::record(
                c,
                &Entry {
                    actor: Some(SYSTEM_ACTOR),
                    address: None,
                    action: "reconcile.repair",
                    target: Some(&target),
                    outcome: Outcome::Ok,
                    detail: r,
                },
                now,
            )?;
        }
        Ok(())
    });
}

impl Kind for Reconcile {
    type Payload = ReconcilePayload;

    fn name(&self) -> &'static str {
        "lio.reconcile"
    }

    fn changes(&self, _p: &ReconcilePayload, position: i32) -> bool {
        position < 2
    }

    fn run_step(
        &self,
        _p: &ReconcilePayload,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        let backend = ctx.backend;
        match position {
            0 => {
                let wanted = ctx.read(|c| {
                    let pools = crate::db::pools::list(c)?;
                    let mut wanted = Vec::new();
                    for v in volumes::list(c)?
                        .into_iter()
                        .filter(|v| v.lifecycle == "ready")
                    {
                        let Some(p) = pools.iter().find(|p| p.id == v.pool_id) else {
                            continue;
                        };
                        // An adopted target on the LV itself: no front device (see
                        // volume::front_device).
                        if volumes::target_elsewhere(c, &v.name)?.is_none() {
                            wanted.push((p.name.clone(), v.name.clone(), v.lv.clone()));
                        }
                    }
                    Ok(wanted)
                })?;
                let fronts = backend.front_devices(ctx)?;
                let mut repairs = Vec::new();
                for (pool, volume, lv) in &wanted {
                    let lvs = backend.logical_volumes(pool, &mut NoLog)?;
                    let size = lvs
                        .iter()
                        .find(|l| &l.name == lv)
                        .map(|l| l.size_bytes / 512);
                    let front = fronts.iter().find(|f| &f.volume == volume);
                    if size.is_some() && front.map(|f| f.sectors) == size {
                        continue;
                    }
                    repairs.push(backend.set_front_device(pool, volume, ctx)?);
                }
                let words = if repairs.is_empty() {
                    format!("all {} front devices were right", wanted.len())
                } else {
                    repairs.join("; ")
                };
                audit_repairs(ctx, "front devices".into(), repairs);
                Ok(words)
            }
            1 => {
                let specs = ctx.read(|c| {
                    let mut specs = Vec::new();
                    let all = volumes::list(c)?;
                    for t in volumes::all_targets(c)? {
                        if t.lifecycle == "unexporting" {
                            continue;
                        }
                        let Some(v) = all.iter().find(|v| v.id == t.volume_id) else {
                            continue;
                        };
                        let initiators = volumes::initiators_of(c, v.id)?;
                        specs.push(t.spec(v, initiators));
                    }
                    Ok(specs)
                })?;
                let mut all = Vec::new();
                for spec in &specs {
                    let repairs = backend.apply_target(spec, ctx)?;
                    all.extend(repairs.iter().cloned());
                    audit_repairs(ctx, spec.iqn.clone(), repairs);
                }
                Ok(if all.is_empty() {
                    format!(
                        "all {} targets were right; nothing was written",
                        specs.len()
                    )
                } else {
                    all.join("; ")
                })
            }
            2 => {
                let lio = backend.lio(ctx)?;
                let targets = ctx.read(volumes::all_targets)?;
                let foreign = volumes::foreign(&lio, &targets);
                ctx.commit_with_step(move |c, now| volumes::record_lio(c, &lio, now));
                Ok(if foreign.is_empty() {
                    "everything in LIO is Baystack's".into()
                } else {
                    format!("not made by Baystack (left alone): {}", foreign.join("; "))
                })
            }
            _ => Err(JobError::Refused(format!(
                "a reconcile has no step {position}"
            ))),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdoptPayload {
    pub iqn: String,
}

/// The job that takes an iSCSI target made by hand (with targetcli) into
/// the database, as a volume and its target under their existing names:
/// the live target in configfs, or else the one targetcli saved. Nothing
/// in the kernel is changed, so no session drops.
pub fn adopt(iqn: &str) -> JobSpec {
    Adopt.spec(
        &AdoptPayload { iqn: iqn.into() },
        format!("Adopt target {iqn}, made by hand"),
        vec![resource::target(iqn)],
        vec![
            format!(
                "Find {iqn} in LIO (or in targetcli's saved configuration), its block backstore \
                 and the logical volume under it"
            ),
            "Record the volume and its target, access and CHAP as they are; nothing in the \
             kernel is changed"
                .into(),
        ],
    )
}

pub struct Adopt;

/// What an adoption records. The volume takes its logical volume's name
/// (every job names the logical volume by the volume's name); the target
/// and its backstore keep theirs.
struct Found {
    pool_id: i64,
    volume: String,
    lv: crate::domain::pool::LogicalVolume,
    target: crate::domain::target::LioTarget,
    store: crate::domain::target::Backstore,
}

impl Adopt {
    /// The target, its backstore and the logical volume under it, from
    /// the live tree or the saved configuration.
    fn find(ctx: &mut StepCtx<'_>, iqn: &str) -> Result<Found, JobError> {
        let backend = ctx.backend;
        let has = |l: &crate::domain::target::Lio| l.targets.iter().any(|t| t.iqn == iqn);
        let live = backend.lio(ctx)?;
        let lio = if has(&live) {
            live
        } else {
            backend
                .saved_config(ctx)
                .ok()
                .flatten()
                .filter(has)
                .ok_or_else(|| {
                    JobError::Refused(format!(
                        "there is no target {iqn} in LIO or in targetcli's saved configuration"
                    ))
                })?
        };
        let target = lio
            .targets
            .iter()
            .find(|t| t.iqn == iqn)
            .cloned()
            .ok_or_else(|| JobError::Refused(format!("there is no target {iqn}")))?;
        let lun = target
            .lun0
            .clone()
            .ok_or_else(|| JobError::Refused(format!("{iqn} has no LUN 0 to adopt")))?;
        let store = lio
            .backstores
            .iter()
            .find(|b| lun.ends_with(&format!("/{}", b.name)) && b.plugin == "iblock")
            .cloned()
            .ok_or_else(|| {
                JobError::Refused(format!(
                    "{iqn}'s LUN 0 ({lun}) is not a block backstore; only those are adopted"
                ))
            })?;
        let device = store.device.clone().unwrap_or_default();
        let pools = ctx.read(crate::db::pools::list)?;
        for p in pools.iter().filter(|p| p.lifecycle == "ready") {
            let lvs = backend.logical_volumes(&p.name, &mut NoLog)?;
            let mapper = |lv: &str| {
                format!(
                    "/dev/mapper/{}-{}",
                    p.name.replace('-', "--"),
                    lv.replace('-', "--")
                )
            };
            if let Some(lv) = lvs
                .into_iter()
                .find(|l| l.path.as_deref() == Some(device.as_str()) || mapper(&l.name) == device)
            {
                crate::naming::validate_adopted_name(&lv.name)
                    .map_err(|e| JobError::Refused(format!("{iqn} cannot be adopted: {e}")))?;
                let volume = lv.name.clone();
                return Ok(Found {
                    pool_id: p.id,
                    volume,
                    lv,
                    target,
                    store,
                });
            }
        }
        Err(JobError::Refused(format!(
            "{iqn}'s backstore {} is on {device}, which is not a logical volume in a pool of \
             this console",
            store.name
        )))
    }
}

impl Kind for Adopt {
    type Payload = AdoptPayload;

    fn name(&self) -> &'static str {
        "lio.adopt"
    }

    fn run_step(
        &self,
        p: &AdoptPayload,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        use crate::domain::target::{Chap, Portal, naa_wwn};
        let f = Self::find(ctx, &p.iqn)?;
        let t = &f.target;
        let words = format!(
            "{} is LUN 0 on backstore {} ({}), logical volume {}/{}",
            t.iqn,
            f.store.name,
            f.store.device.as_deref().unwrap_or("?"),
            f.lv.vg,
            f.lv.name
        );
        if position == 0 {
            return Ok(words);
        }
        if position != 1 {
            return Err(JobError::Refused(format!(
                "an adoption has no step {position}"
            )));
        }
        let serial = f.store.serial.clone().ok_or_else(|| {
            JobError::Refused(format!("backstore {} has no unit serial", f.store.name))
        })?;
        // One CHAP per target: the ACLs' (or, open, the TPG's) must agree.
        let chap = |user: &Option<String>, secret: &Option<crate::domain::target::Secret>| match (
            user, secret,
        ) {
            (Some(u), Some(s)) => Some(Chap {
                user: u.clone(),
                secret: s.clone(),
            }),
            _ => None,
        };
        let pairs: Vec<(Option<Chap>, Option<Chap>)> = if t.open {
            vec![(
                chap(&t.chap_user, &t.secret),
                chap(&t.mutual_user, &t.mutual_secret),
            )]
        } else {
            t.acls
                .iter()
                .map(|a| {
                    (
                        chap(&a.chap_user, &a.secret),
                        chap(&a.mutual_user, &a.mutual_secret),
                    )
                })
                .collect()
        };
        if pairs.windows(2).any(|w| w[0] != w[1]) {
            return Err(JobError::Refused(format!(
                "{}'s ACLs have different CHAP settings; Baystack keeps one per target. Make them \
                 the same first",
                t.iqn
            )));
        }
        let (chap, mutual) = pairs.into_iter().next().unwrap_or((None, None));
        let initiators: Vec<String> = if t.open {
            Vec::new()
        } else {
            t.acls.iter().map(|a| a.initiator.clone()).collect()
        };
        let portals: Vec<Portal> = if t.portals.is_empty() {
            vec![Portal::all()]
        } else {
            t.portals.clone()
        };
        let thin = f.lv.pool_lv.is_some();
        let (alias, device) = (
            t.alias.clone().unwrap_or_else(|| f.volume.clone()),
            f.store.device.clone().unwrap_or_default(),
        );
        let (iqn, store, volume, lv) = (
            t.iqn.clone(),
            f.store.name.clone(),
            f.volume.clone(),
            f.lv.clone(),
        );
        let pool_id = f.pool_id;
        ctx.commit_with_step(move |c, now| {
            let record = volumes::NewVolume {
                name: &volume,
                pool_id,
                thin,
                size_bytes: lv.size_bytes,
                serial: &serial,
                wwn: &naa_wwn(&serial),
                created_by: SYSTEM_ACTOR,
            };
            let id = volumes::insert(c, &record, now)?;
            volumes::set_adopted(c, id)?;
            let target = volumes::NewTarget {
                volume_id: id,
                iqn: &iqn,
                alias: &alias,
                backstore: &store,
                device: &device,
                portals: &portals,
                initiators: &initiators,
                chap: chap.as_ref(),
                mutual_chap: mutual.as_ref(),
                created_by: SYSTEM_ACTOR,
            };
            volumes::insert_target(c, &target, now)?;
            volumes::set_target_lifecycle(c, id, "exported").map(|_| ())
        });
        Ok(format!(
            "recorded: volume {} and its target; {words}",
            f.volume
        ))
    }
}

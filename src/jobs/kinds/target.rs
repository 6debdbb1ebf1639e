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
use crate::jobs::runner::{JobError, StepCtx};
use crate::lights::SYSTEM_ACTOR;
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
    TargetExport.spec(
        &TargetPayload {
            pool: pool.into(),
            volume: volume.into(),
        },
        format!("Export volume {volume} as {iqn}"),
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
            0 => Ok(backend.set_front_device(&p.pool, &p.volume, ctx)?),
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
                    Ok(volumes::list(c)?
                        .into_iter()
                        .filter(|v| v.lifecycle == "ready")
                        .filter_map(|v| {
                            let p = pools.iter().find(|p| p.id == v.pool_id)?;
                            Some((p.name.clone(), v.name.clone(), v.lv.clone()))
                        })
                        .collect::<Vec<_>>())
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

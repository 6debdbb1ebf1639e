//! `pool.delete`: the volume group and physical volume removed, the array
//! stopped, every drive's md superblock cleared and the array's line taken
//! out of mdadm's configuration; the drives are free again. Refused while
//! the volume group holds logical volumes.

use serde::{Deserialize, Serialize};

use super::super::Kind;
use crate::domain::pool::DriveRef;
use crate::domain::resource;
use crate::jobs::JobSpec;
use crate::jobs::runner::{JobError, StepCtx};
use crate::storage::NoLog;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PoolDeletePayload {
    pub pool_id: i64,
    pub name: String,
    pub uuid: Option<String>,
    /// Every drive the pool had: members, spares, journal.
    pub drives: Vec<DriveRef>,
}

pub fn delete(p: PoolDeletePayload) -> JobSpec {
    let name = p.name.clone();
    let mut resources = vec![resource::pool(&name)];
    resources.extend(p.drives.iter().map(|d| resource::drive(&d.ident)));
    PoolDelete.spec(
        &p,
        format!("Delete pool {name}"),
        resources,
        vec![
            format!("Check that volume group {name} holds no logical volume"),
            format!("Remove volume group {name} and its physical volume"),
            format!("Stop /dev/md/{name}"),
            format!(
                "Clear the md superblock of each of its {} drives",
                p.drives.len()
            ),
            format!("Take /dev/md/{name} out of mdadm's configuration"),
        ],
    )
}

pub struct PoolDelete;

impl Kind for PoolDelete {
    type Payload = PoolDeletePayload;

    fn name(&self) -> &'static str {
        "pool.delete"
    }

    fn changes(&self, _p: &PoolDeletePayload, position: i32) -> bool {
        position > 0
    }

    fn run_step(
        &self,
        p: &PoolDeletePayload,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        let backend = ctx.backend;
        let name = p.name.as_str();
        match position {
            0 => {
                let vgs = backend.volume_groups(&mut NoLog)?;
                match vgs.iter().find(|v| v.name == name) {
                    Some(v) if v.lv_count > 0 => Err(JobError::Refused(format!(
                        "volume group {name} holds {} logical volume(s); delete them first; nothing was changed",
                        v.lv_count
                    ))),
                    Some(_) => Ok(format!("volume group {name} holds no logical volume")),
                    None => Ok(format!("there is no volume group {name}")),
                }
            }
            1 => {
                let did = backend.remove_volume_group(name, ctx)?;
                let pool = name.to_string();
                ctx.commit_with_step(move |c, _| {
                    crate::db::pools::set_lifecycle(c, &pool, "deleting").map(|_| ())
                });
                Ok(did)
            }
            2 => Ok(backend.stop_array(name, ctx)?),
            3 => {
                let mut did = Vec::new();
                for d in &p.drives {
                    match backend.zero_superblock(d, ctx) {
                        Ok(s) => did.push(s),
                        // A drive pulled since keeps its superblock; a new
                        // pool refuses it until it is wiped.
                        Err(e @ crate::storage::BackendError::Gone(_)) => {
                            did.push(format!("not cleared: {e}"))
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                Ok(did.join("; "))
            }
            _ => {
                let did = match &p.uuid {
                    Some(uuid) => backend.forget_array(name, uuid, ctx)?,
                    None => format!(
                        "pool {name} had no UUID recorded; mdadm's configuration names it not"
                    ),
                };
                let pool = p.pool_id;
                ctx.commit_with_step(move |c, _| crate::db::pools::delete(c, pool).map(|_| ()));
                Ok(did)
            }
        }
    }
}

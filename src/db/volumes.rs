//! Volumes, their snapshots and their targets: what was asked for (written
//! by the web with each job, the source of truth the agent makes true in
//! the kernel) and what the agent last saw of each.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::Conn;
use super::schema::{lio_view, pools, snapshots, target_initiators, targets, volumes};
use crate::db_run;
use crate::domain::pool::LogicalVolume;
use crate::domain::target::{Access, Chap, Lio, Portal, Secret, Session, TargetSpec};
use crate::domain::volume::{FrontDevice, THIN_POOL, front_name};

/// A volume as recorded.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = volumes)]
pub struct VolumeRow {
    pub id: i64,
    pub name: String,
    #[serde(skip)]
    pub pool_id: i64,
    /// Its logical volume's name in the pool's volume group.
    pub lv: String,
    pub thin: bool,
    /// The size asked for, in bytes.
    pub size_bytes: i64,
    pub serial: String,
    pub wwn: String,
    /// `creating` until its create job ends, then `ready`; `deleting`
    /// while its delete job runs.
    pub lifecycle: String,
    pub created_by: String,
    #[serde(serialize_with = "super::utc")]
    pub created_at: NaiveDateTime,
    #[serde(skip)]
    pub observed: Option<String>,
    #[serde(skip)]
    pub front: Option<String>,
    #[serde(serialize_with = "super::utc_opt")]
    pub observed_at: Option<NaiveDateTime>,
}

impl VolumeRow {
    /// Its logical volume as the agent last saw it.
    pub fn logical_volume(&self) -> Option<LogicalVolume> {
        serde_json::from_str(self.observed.as_deref()?).ok()
    }

    /// Its front device as the agent last saw it.
    pub fn front_device(&self) -> Option<FrontDevice> {
        serde_json::from_str(self.front.as_deref()?).ok()
    }
}

/// A volume to record.
pub struct NewVolume<'a> {
    pub name: &'a str,
    pub pool_id: i64,
    pub thin: bool,
    pub size_bytes: u64,
    pub serial: &'a str,
    pub wwn: &'a str,
    pub created_by: &'a str,
}

fn bytes(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Records a new volume (`creating`). A name or serial taken fails on a
/// unique index.
pub fn insert(c: &mut Conn<'_>, v: &NewVolume<'_>, now: NaiveDateTime) -> QueryResult<i64> {
    db_run!(c, c => diesel::insert_into(volumes::table)
        .values((
            volumes::name.eq(v.name),
            volumes::pool_id.eq(v.pool_id),
            volumes::lv.eq(v.name),
            volumes::thin.eq(v.thin),
            volumes::size_bytes.eq(bytes(v.size_bytes)),
            volumes::serial.eq(v.serial),
            volumes::wwn.eq(v.wwn),
            volumes::lifecycle.eq("creating"),
            volumes::created_by.eq(v.created_by),
            volumes::created_at.eq(now),
        ))
        .returning(volumes::id)
        .get_result(c))
}

/// A volume taken in from a setup made by hand: `ready` at once.
pub fn set_adopted(c: &mut Conn<'_>, id: i64) -> QueryResult<usize> {
    db_run!(c, c => diesel::update(volumes::table.find(id))
        .set(volumes::lifecycle.eq("ready"))
        .execute(c))
}

pub fn list(c: &mut Conn<'_>) -> QueryResult<Vec<VolumeRow>> {
    db_run!(c, c => volumes::table
        .order(volumes::name.asc())
        .select(VolumeRow::as_select())
        .load(c))
}

pub fn by_name(c: &mut Conn<'_>, name: &str) -> QueryResult<Option<VolumeRow>> {
    db_run!(c, c => volumes::table
        .filter(volumes::name.eq(name))
        .select(VolumeRow::as_select())
        .first(c)
        .optional())
}

pub fn of_pool(c: &mut Conn<'_>, pool_id: i64) -> QueryResult<Vec<VolumeRow>> {
    db_run!(c, c => volumes::table
        .filter(volumes::pool_id.eq(pool_id))
        .order(volumes::name.asc())
        .select(VolumeRow::as_select())
        .load(c))
}

pub fn set_lifecycle(c: &mut Conn<'_>, name: &str, lifecycle: &str) -> QueryResult<usize> {
    db_run!(c, c => diesel::update(volumes::table.filter(volumes::name.eq(name)))
        .set(volumes::lifecycle.eq(lifecycle))
        .execute(c))
}

pub fn set_size(c: &mut Conn<'_>, name: &str, size: u64) -> QueryResult<usize> {
    db_run!(c, c => diesel::update(volumes::table.filter(volumes::name.eq(name)))
        .set(volumes::size_bytes.eq(bytes(size)))
        .execute(c))
}

/// Forgets a volume, its snapshots and its target.
pub fn delete(c: &mut Conn<'_>, name: &str) -> QueryResult<usize> {
    let Some(v) = by_name(c, name)? else {
        return Ok(0);
    };
    db_run!(c, c => diesel::delete(target_initiators::table.filter(target_initiators::volume_id.eq(v.id))).execute(c))?;
    db_run!(c, c => diesel::delete(targets::table.filter(targets::volume_id.eq(v.id))).execute(c))?;
    db_run!(c, c => diesel::delete(snapshots::table.filter(snapshots::volume_id.eq(v.id))).execute(c))?;
    db_run!(c, c => diesel::delete(volumes::table.find(v.id)).execute(c))
}

/// Keeps what the agent sees of pool `pool_id`'s logical volumes: each
/// volume's own, and the thin pool's on the pool; and the front devices.
pub fn record_observation(
    c: &mut Conn<'_>,
    pool_id: i64,
    lvs: &[LogicalVolume],
    fronts: &[FrontDevice],
    now: NaiveDateTime,
) -> QueryResult<()> {
    let thin = lvs.iter().find(|l| l.name == THIN_POOL);
    db_run!(c, c => diesel::update(pools::table.find(pool_id))
        .set(pools::thin.eq(thin.map(json).as_deref()))
        .execute(c))?;
    for v in of_pool(c, pool_id)? {
        let lv = lvs.iter().find(|l| l.name == v.lv).map(json);
        let front = fronts.iter().find(|f| f.volume == v.name).map(json);
        db_run!(c, c => diesel::update(volumes::table.find(v.id))
            .set((
                volumes::observed.eq(lv.as_deref()),
                volumes::front.eq(front.as_deref()),
                volumes::observed_at.eq(now),
            ))
            .execute(c))?;
    }
    Ok(())
}

/// What the agent keeps, as JSON.
fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("an observation serializes")
}

// ---- Snapshots ---------------------------------------------------------

/// A snapshot as recorded.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = snapshots)]
pub struct SnapshotRow {
    #[serde(skip)]
    pub id: i64,
    #[serde(skip)]
    pub volume_id: i64,
    pub name: String,
    pub lifecycle: String,
    pub created_by: String,
    #[serde(serialize_with = "super::utc")]
    pub created_at: NaiveDateTime,
}

pub fn insert_snapshot(
    c: &mut Conn<'_>,
    volume_id: i64,
    name: &str,
    created_by: &str,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    db_run!(c, c => diesel::insert_into(snapshots::table)
        .values((
            snapshots::volume_id.eq(volume_id),
            snapshots::name.eq(name),
            snapshots::lifecycle.eq("creating"),
            snapshots::created_by.eq(created_by),
            snapshots::created_at.eq(now),
        ))
        .returning(snapshots::id)
        .get_result(c))
}

pub fn snapshots_of(c: &mut Conn<'_>, volume_id: i64) -> QueryResult<Vec<SnapshotRow>> {
    db_run!(c, c => snapshots::table
        .filter(snapshots::volume_id.eq(volume_id))
        .order(snapshots::created_at.asc())
        .select(SnapshotRow::as_select())
        .load(c))
}

pub fn set_snapshot_lifecycle(
    c: &mut Conn<'_>,
    volume_id: i64,
    name: &str,
    lifecycle: &str,
) -> QueryResult<usize> {
    db_run!(c, c => diesel::update(snapshots::table
            .filter(snapshots::volume_id.eq(volume_id))
            .filter(snapshots::name.eq(name)))
        .set(snapshots::lifecycle.eq(lifecycle))
        .execute(c))
}

pub fn delete_snapshot(c: &mut Conn<'_>, volume_id: i64, name: &str) -> QueryResult<usize> {
    db_run!(c, c => diesel::delete(snapshots::table
            .filter(snapshots::volume_id.eq(volume_id))
            .filter(snapshots::name.eq(name)))
        .execute(c))
}

// ---- Targets -----------------------------------------------------------

/// A target as recorded. Not `Serialize`: it holds the CHAP secrets.
#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = targets)]
pub struct TargetRow {
    pub volume_id: i64,
    pub iqn: String,
    pub alias: String,
    pub backstore: String,
    pub device: String,
    /// JSON: the portals, as `0.0.0.0:3260`.
    pub portals: String,
    pub open_access: bool,
    pub chap_user: Option<String>,
    chap_secret: Option<String>,
    pub mutual_user: Option<String>,
    mutual_secret: Option<String>,
    /// `exporting` until its export job ends, then `exported`;
    /// `unexporting` while its unexport runs.
    pub lifecycle: String,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    sessions: Option<String>,
    pub observed_at: Option<NaiveDateTime>,
}

/// A session as the agent saw it, with when it was first seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenSession {
    pub initiator: String,
    pub address: Option<String>,
    pub state: String,
    pub since: chrono::DateTime<chrono::Utc>,
}

impl TargetRow {
    pub fn portals(&self) -> Vec<Portal> {
        serde_json::from_str::<Vec<String>>(&self.portals)
            .unwrap_or_default()
            .iter()
            .filter_map(|p| Portal::parse(p))
            .collect()
    }

    pub fn sessions(&self) -> Vec<SeenSession> {
        self.sessions
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default()
    }

    /// Its CHAP and mutual CHAP, secrets included (for the agent, and to
    /// keep a secret an admin left unchanged).
    pub fn chaps(&self) -> (Option<Chap>, Option<Chap>) {
        let chap = |user: &Option<String>, secret: &Option<String>| match (user, secret) {
            (Some(user), Some(secret)) => Some(Chap {
                user: user.clone(),
                secret: Secret::new(secret.clone()),
            }),
            _ => None,
        };
        (
            chap(&self.chap_user, &self.chap_secret),
            chap(&self.mutual_user, &self.mutual_secret),
        )
    }

    /// What the kernel is to have for this target.
    pub fn spec(&self, volume: &VolumeRow, initiators: Vec<String>) -> TargetSpec {
        let (chap, mutual_chap) = self.chaps();
        TargetSpec {
            volume: volume.name.clone(),
            iqn: self.iqn.clone(),
            alias: self.alias.clone(),
            backstore: self.backstore.clone(),
            device: self.device.clone(),
            serial: volume.serial.clone(),
            unmap: volume.thin,
            portals: self.portals(),
            access: if self.open_access {
                Access::Open
            } else {
                Access::Initiators(initiators)
            },
            chap,
            mutual_chap,
        }
    }
}

/// A target to record, with its CHAP.
pub struct NewTarget<'a> {
    pub volume_id: i64,
    pub iqn: &'a str,
    pub alias: &'a str,
    pub backstore: &'a str,
    pub device: &'a str,
    pub portals: &'a [Portal],
    pub initiators: &'a [String],
    pub chap: Option<&'a Chap>,
    pub mutual_chap: Option<&'a Chap>,
    pub created_by: &'a str,
}

/// The device a volume's target is on: its front device.
pub fn front_path(volume: &str) -> String {
    format!("/dev/mapper/{}", front_name(volume))
}

/// Records a target (`exporting`) and its initiators. An IQN taken fails
/// on a unique index.
pub fn insert_target(c: &mut Conn<'_>, t: &NewTarget<'_>, now: NaiveDateTime) -> QueryResult<()> {
    let portals: Vec<String> = t.portals.iter().map(Portal::np_name).collect();
    let portals = serde_json::to_string(&portals).expect("portals serialize");
    let user = |c: Option<&Chap>| c.map(|c| c.user.clone());
    let secret = |c: Option<&Chap>| c.map(|c| c.secret.expose().to_string());
    db_run!(c, c => diesel::insert_into(targets::table)
        .values((
            targets::volume_id.eq(t.volume_id),
            targets::iqn.eq(t.iqn),
            targets::alias.eq(t.alias),
            targets::backstore.eq(t.backstore),
            targets::device.eq(t.device),
            targets::portals.eq(&portals),
            targets::open_access.eq(t.initiators.is_empty()),
            targets::chap_user.eq(user(t.chap)),
            targets::chap_secret.eq(secret(t.chap)),
            targets::mutual_user.eq(user(t.mutual_chap)),
            targets::mutual_secret.eq(secret(t.mutual_chap)),
            targets::lifecycle.eq("exporting"),
            targets::created_by.eq(t.created_by),
            targets::created_at.eq(now),
        ))
        .execute(c))?;
    let rows: Vec<_> = t
        .initiators
        .iter()
        .map(|i| {
            (
                target_initiators::volume_id.eq(t.volume_id),
                target_initiators::iqn.eq(i.as_str()),
            )
        })
        .collect();
    if !rows.is_empty() {
        db_run!(c, c => diesel::insert_into(target_initiators::table).values(&rows).execute(c))?;
    }
    Ok(())
}

/// Changes who may log in to a target and its CHAP; the target is
/// `exporting` again until its job has made the kernel agree.
pub fn set_access(
    c: &mut Conn<'_>,
    volume_id: i64,
    initiators: &[String],
    chap: Option<&Chap>,
    mutual_chap: Option<&Chap>,
) -> QueryResult<()> {
    let user = |c: Option<&Chap>| c.map(|c| c.user.clone());
    let secret = |c: Option<&Chap>| c.map(|c| c.secret.expose().to_string());
    db_run!(c, c => diesel::update(targets::table.find(volume_id))
        .set((
            targets::open_access.eq(initiators.is_empty()),
            targets::chap_user.eq(user(chap)),
            targets::chap_secret.eq(secret(chap)),
            targets::mutual_user.eq(user(mutual_chap)),
            targets::mutual_secret.eq(secret(mutual_chap)),
            targets::lifecycle.eq("exporting"),
        ))
        .execute(c))?;
    db_run!(c, c => diesel::delete(target_initiators::table.filter(target_initiators::volume_id.eq(volume_id))).execute(c))?;
    let rows: Vec<_> = initiators
        .iter()
        .map(|i| {
            (
                target_initiators::volume_id.eq(volume_id),
                target_initiators::iqn.eq(i.as_str()),
            )
        })
        .collect();
    if !rows.is_empty() {
        db_run!(c, c => diesel::insert_into(target_initiators::table).values(&rows).execute(c))?;
    }
    Ok(())
}

/// The device a volume's target is on when that is not its front device
/// (a target adopted on its logical volume): LIO's iblock holds that device
/// exclusively, so no front device can be put over it while it is exported.
pub fn target_elsewhere(c: &mut Conn<'_>, volume: &str) -> QueryResult<Option<String>> {
    let Some(v) = by_name(c, volume)? else {
        return Ok(None);
    };
    Ok(target_of(c, v.id)?
        .map(|t| t.device)
        .filter(|d| *d != front_path(volume)))
}

pub fn target_of(c: &mut Conn<'_>, volume_id: i64) -> QueryResult<Option<TargetRow>> {
    db_run!(c, c => targets::table
        .find(volume_id)
        .select(TargetRow::as_select())
        .first(c)
        .optional())
}

pub fn all_targets(c: &mut Conn<'_>) -> QueryResult<Vec<TargetRow>> {
    db_run!(c, c => targets::table
        .order(targets::iqn.asc())
        .select(TargetRow::as_select())
        .load(c))
}

pub fn initiators_of(c: &mut Conn<'_>, volume_id: i64) -> QueryResult<Vec<String>> {
    db_run!(c, c => target_initiators::table
        .filter(target_initiators::volume_id.eq(volume_id))
        .order(target_initiators::iqn.asc())
        .select(target_initiators::iqn)
        .load(c))
}

/// An IQN already given to a target.
pub fn iqn_taken(c: &mut Conn<'_>, iqn: &str) -> QueryResult<bool> {
    let n: i64 = db_run!(c, c => targets::table
        .filter(targets::iqn.eq(iqn))
        .count()
        .get_result(c))?;
    Ok(n > 0)
}

pub fn set_target_lifecycle(
    c: &mut Conn<'_>,
    volume_id: i64,
    lifecycle: &str,
) -> QueryResult<usize> {
    db_run!(c, c => diesel::update(targets::table.find(volume_id))
        .set(targets::lifecycle.eq(lifecycle))
        .execute(c))
}

pub fn delete_target(c: &mut Conn<'_>, volume_id: i64) -> QueryResult<usize> {
    db_run!(c, c => diesel::delete(target_initiators::table.filter(target_initiators::volume_id.eq(volume_id))).execute(c))?;
    db_run!(c, c => diesel::delete(targets::table.find(volume_id)).execute(c))
}

/// Keeps the sessions the kernel shows for target `volume_id`; a session
/// seen before (same initiator and address) keeps when it was first seen.
pub fn record_sessions(
    c: &mut Conn<'_>,
    volume_id: i64,
    seen: &[Session],
    now: NaiveDateTime,
) -> QueryResult<()> {
    let Some(t) = target_of(c, volume_id)? else {
        return Ok(());
    };
    let before = t.sessions();
    let sessions: Vec<SeenSession> = seen
        .iter()
        .map(|s| SeenSession {
            initiator: s.initiator.clone(),
            address: s.address.clone(),
            state: s.state.clone(),
            since: before
                .iter()
                .find(|b| b.initiator == s.initiator && b.address == s.address)
                .map_or(now.and_utc(), |b| b.since),
        })
        .collect();
    let json = serde_json::to_string(&sessions).expect("sessions serialize");
    db_run!(c, c => diesel::update(targets::table.find(volume_id))
        .set((targets::sessions.eq(Some(json)), targets::observed_at.eq(now)))
        .execute(c))?;
    Ok(())
}

/// Keeps LIO as the agent read it, and each target's sessions.
pub fn record_lio(c: &mut Conn<'_>, lio: &Lio, now: NaiveDateTime) -> QueryResult<()> {
    let text = json(lio);
    let n = db_run!(c, c => diesel::update(lio_view::table.find(1i64))
        .set((lio_view::observed.eq(&text), lio_view::observed_at.eq(now)))
        .execute(c))?;
    if n == 0 {
        db_run!(c, c => diesel::insert_into(lio_view::table)
            .values((lio_view::id.eq(1i64), lio_view::observed.eq(&text), lio_view::observed_at.eq(now)))
            .execute(c))?;
    }
    for t in all_targets(c)? {
        let seen = lio
            .targets
            .iter()
            .find(|l| l.iqn == t.iqn)
            .map(|l| l.sessions.clone())
            .unwrap_or_default();
        record_sessions(c, t.volume_id, &seen, now)?;
    }
    Ok(())
}

/// LIO as the agent last read it, and when.
pub fn lio(c: &mut Conn<'_>) -> QueryResult<Option<(Lio, NaiveDateTime)>> {
    let row: Option<(String, NaiveDateTime)> = db_run!(c, c => lio_view::table
        .find(1)
        .select((lio_view::observed, lio_view::observed_at))
        .first(c)
        .optional())?;
    Ok(row.and_then(|(text, at)| Some((serde_json::from_str(&text).ok()?, at))))
}

/// What is in LIO that no recorded target or volume accounts for:
/// backstores and iSCSI targets Baystack did not make, in words.
pub fn foreign(lio: &Lio, targets: &[TargetRow]) -> Vec<String> {
    let mut out: Vec<String> = lio
        .targets
        .iter()
        .filter(|l| !targets.iter().any(|t| t.iqn == l.iqn))
        .map(|l| {
            format!(
                "iSCSI target {}{}",
                l.iqn,
                l.lun0
                    .as_deref()
                    .map(|b| format!(" (LUN 0 on {b})"))
                    .unwrap_or_default()
            )
        })
        .collect();
    out.extend(
        lio.backstores
            .iter()
            .filter(|b| {
                !targets
                    .iter()
                    .any(|t| t.backstore == b.name && b.plugin == "iblock")
            })
            .map(|b| {
                format!(
                    "{} backstore {}/{}{}",
                    b.plugin,
                    b.hba,
                    b.name,
                    b.device
                        .as_deref()
                        .map(|d| format!(" on {d}"))
                        .unwrap_or_default()
                )
            }),
    );
    out.extend(lio.other_fabrics.iter().map(|f| format!("target {f}")));
    out
}

//! Peering's tables: this appliance's identity on the replication channel,
//! the one-time pairing codes it made, and the peers it is paired with.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::Conn;
use super::schema::{job_secrets, link_identity, pairing_codes, peers};
use crate::db_run;

/// This appliance's certificate and key on the channel.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = link_identity)]
pub struct Identity {
    pub id: i64,
    pub cert_pem: String,
    pub key_pem: String,
    /// The SHA-256 of the certificate (DER), hex.
    pub fingerprint: String,
    pub created_at: NaiveDateTime,
}

pub fn identity(c: &mut Conn<'_>) -> QueryResult<Option<Identity>> {
    db_run!(c, c => link_identity::table
        .select(Identity::as_select())
        .first(c)
        .optional())
}

/// Records an identity unless one is there already (another process made
/// one first), then returns the one recorded: every caller ends with the
/// same.
pub fn keep_identity(
    c: &mut Conn<'_>,
    cert_pem: &str,
    key_pem: &str,
    fingerprint: &str,
    now: NaiveDateTime,
) -> QueryResult<Identity> {
    db_run!(c, c => diesel::insert_into(link_identity::table)
        .values((
            link_identity::id.eq(1),
            link_identity::cert_pem.eq(cert_pem),
            link_identity::key_pem.eq(key_pem),
            link_identity::fingerprint.eq(fingerprint),
            link_identity::created_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    identity(c).map(|i| i.expect("just recorded"))
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = pairing_codes)]
pub struct CodeRow {
    pub id: i64,
    #[serde(skip)]
    pub secret_hash: String,
    pub address: String,
    pub created_by: String,
    #[serde(serialize_with = "super::utc")]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "super::utc")]
    pub expires_at: NaiveDateTime,
    #[serde(serialize_with = "super::utc_opt")]
    pub used_at: Option<NaiveDateTime>,
    pub used_by: Option<String>,
}

pub fn create_code(
    c: &mut Conn<'_>,
    secret_hash: &str,
    address: &str,
    by: &str,
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> QueryResult<CodeRow> {
    db_run!(c, c => diesel::insert_into(pairing_codes::table)
        .values((
            pairing_codes::secret_hash.eq(secret_hash),
            pairing_codes::address.eq(address),
            pairing_codes::created_by.eq(by),
            pairing_codes::created_at.eq(now),
            pairing_codes::expires_at.eq(expires_at),
        ))
        .returning(CodeRow::as_returning())
        .get_result(c))
}

pub fn code_by_hash(c: &mut Conn<'_>, secret_hash: &str) -> QueryResult<Option<CodeRow>> {
    db_run!(c, c => pairing_codes::table
        .filter(pairing_codes::secret_hash.eq(secret_hash))
        .select(CodeRow::as_select())
        .first(c)
        .optional())
}

/// Marks a code used by `peer`, unless it was used already (false then):
/// of two appliances presenting one code at once, one gets it.
pub fn use_code(c: &mut Conn<'_>, id: i64, peer: &str, now: NaiveDateTime) -> QueryResult<bool> {
    let n = db_run!(c, c => diesel::update(
            pairing_codes::table.find(id).filter(pairing_codes::used_at.is_null()))
        .set((pairing_codes::used_at.eq(now), pairing_codes::used_by.eq(peer)))
        .execute(c))?;
    Ok(n == 1)
}

/// Codes newest first, used and expired ones too (the page lists the
/// recent ones).
pub fn codes(c: &mut Conn<'_>, limit: i64) -> QueryResult<Vec<CodeRow>> {
    db_run!(c, c => pairing_codes::table
        .select(CodeRow::as_select())
        .order(pairing_codes::id.desc())
        .limit(limit)
        .load(c))
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = peers)]
pub struct PeerRow {
    pub name: String,
    pub address: String,
    pub fingerprint: String,
    #[serde(serialize_with = "super::utc")]
    pub paired_at: NaiveDateTime,
    pub paired_by: String,
    #[serde(serialize_with = "super::utc_opt")]
    pub last_seen_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
}

pub fn peers(c: &mut Conn<'_>) -> QueryResult<Vec<PeerRow>> {
    db_run!(c, c => peers::table
        .select(PeerRow::as_select())
        .order(peers::name)
        .load(c))
}

pub fn peer(c: &mut Conn<'_>, name: &str) -> QueryResult<Option<PeerRow>> {
    db_run!(c, c => peers::table
        .find(name)
        .select(PeerRow::as_select())
        .first(c)
        .optional())
}

pub fn peer_by_fingerprint(c: &mut Conn<'_>, fingerprint: &str) -> QueryResult<Option<PeerRow>> {
    db_run!(c, c => peers::table
        .filter(peers::fingerprint.eq(fingerprint))
        .select(PeerRow::as_select())
        .first(c)
        .optional())
}

/// Records a peer, or pairs again with one of that name: a peer that was
/// re-installed has a new certificate and perhaps a new address.
pub fn keep_peer(c: &mut Conn<'_>, p: &PeerRow) -> QueryResult<()> {
    db_run!(c, c => diesel::insert_into(peers::table)
        .values(p)
        .on_conflict(peers::name)
        .do_update()
        .set((
            peers::address.eq(&p.address),
            peers::fingerprint.eq(&p.fingerprint),
            peers::paired_at.eq(p.paired_at),
            peers::paired_by.eq(&p.paired_by),
            peers::last_seen_at.eq(p.last_seen_at),
            peers::last_error.eq(&p.last_error),
        ))
        .execute(c))?;
    Ok(())
}

/// Notes how the last talk with a peer went.
pub fn seen(
    c: &mut Conn<'_>,
    name: &str,
    error: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    match error {
        None => db_run!(c, c => diesel::update(peers::table.find(name))
            .set((peers::last_seen_at.eq(now), peers::last_error.eq(None::<String>)))
            .execute(c)),
        Some(e) => db_run!(c, c => diesel::update(peers::table.find(name))
            .set(peers::last_error.eq(e))
            .execute(c)),
    }?;
    Ok(())
}

/// Forgets a peer; false when there was none of that name.
pub fn remove_peer(c: &mut Conn<'_>, name: &str) -> QueryResult<bool> {
    let n = db_run!(c, c => diesel::delete(peers::table.find(name)).execute(c))?;
    Ok(n == 1)
}

/// Keeps a secret for job `job` (in the transaction that enqueues it).
pub fn keep_job_secret(c: &mut Conn<'_>, job: i64, secret: &str) -> QueryResult<()> {
    db_run!(c, c => diesel::insert_into(job_secrets::table)
        .values((job_secrets::job_id.eq(job), job_secrets::secret.eq(secret)))
        .execute(c))?;
    Ok(())
}

pub fn job_secret(c: &mut Conn<'_>, job: i64) -> QueryResult<Option<String>> {
    db_run!(c, c => job_secrets::table
        .find(job)
        .select(job_secrets::secret)
        .first(c)
        .optional())
}

pub fn drop_job_secret(c: &mut Conn<'_>, job: i64) -> QueryResult<()> {
    db_run!(c, c => diesel::delete(job_secrets::table.find(job)).execute(c))?;
    Ok(())
}

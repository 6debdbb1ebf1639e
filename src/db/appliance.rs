//! The appliance's identity and the first-boot setup that writes it.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::schema::{appliance, users};
use super::{Conn, PooledConn, audit};
use crate::auth::Role;
use crate::error::{AppError, is_unique_violation};

/// The user the first-boot wizard creates.
pub const FIRST_ADMIN: &str = "admin";

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = appliance)]
pub struct Appliance {
    #[serde(skip)]
    pub id: i64,
    pub hostname: String,
    pub iqn_domain: String,
    pub iqn_date: String,
    pub timezone: String,
    #[serde(serialize_with = "super::utc")]
    pub setup_at: NaiveDateTime,
}

impl Appliance {
    pub fn iqn_prefix(&self) -> String {
        crate::naming::iqn_prefix(&self.iqn_domain, &self.iqn_date)
    }
}

pub fn get(c: &mut Conn<'_>) -> QueryResult<Option<Appliance>> {
    crate::db_run!(c, c => appliance::table
        .select(Appliance::as_select())
        .first(c)
        .optional())
}

/// What the wizard collected, already validated, with the password hashed.
pub struct Setup {
    pub hostname: String,
    pub iqn_domain: String,
    pub iqn_date: String,
    pub timezone: String,
    pub admin_password_hash: String,
}

/// Writes the appliance row and the first admin in one transaction. Of two
/// wizards finishing at once exactly one wins: the single-row primary key
/// refuses the second insert (or, on SQLite, the second writer waits for the
/// first and then finds the row).
pub fn complete_setup(
    conn: &mut PooledConn,
    setup: &Setup,
    address: &str,
    now: NaiveDateTime,
) -> Result<Appliance, AppError> {
    let already = || AppError::Conflict("the appliance is already set up".into());
    conn.write(|c| -> Result<Appliance, AppError> {
        if get(c)?.is_some() {
            return Err(already());
        }
        crate::db_run!(c, c => diesel::insert_into(appliance::table)
            .values((
                appliance::id.eq(1i64),
                appliance::hostname.eq(&setup.hostname),
                appliance::iqn_domain.eq(&setup.iqn_domain),
                appliance::iqn_date.eq(&setup.iqn_date),
                appliance::timezone.eq(&setup.timezone),
                appliance::setup_at.eq(now),
            ))
            .execute(c))
        .map_err(map_setup_race)?;
        crate::db_run!(c, c => diesel::insert_into(users::table)
            .values((
                users::username.eq(FIRST_ADMIN),
                users::password_hash.eq(&setup.admin_password_hash),
                users::role.eq(Role::Admin.as_str()),
                users::created_at.eq(now),
                users::password_changed_at.eq(now),
            ))
            .execute(c))
        .map_err(map_setup_race)?;
        let detail = format!(
            "hostname {}, IQN prefix {}, time zone {}",
            setup.hostname,
            crate::naming::iqn_prefix(&setup.iqn_domain, &setup.iqn_date),
            setup.timezone
        );
        audit::record(
            c,
            &audit::Entry {
                actor: Some(FIRST_ADMIN),
                address: Some(address),
                action: "setup",
                target: Some(&setup.hostname),
                outcome: audit::Outcome::Ok,
                detail: &detail,
            },
            now,
        )?;
        get(c)?.ok_or_else(|| AppError::Internal("appliance row vanished".into()))
    })
}

/// Maps the loser of the setup race (a unique violation) to a conflict.
fn map_setup_race(e: diesel::result::Error) -> AppError {
    if is_unique_violation(&e) {
        AppError::Conflict("the appliance is already set up".into())
    } else {
        AppError::from(e)
    }
}

/// The settings an admin may change after setup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub hostname: String,
    pub iqn_domain: String,
    pub iqn_date: String,
    pub timezone: String,
}

/// Changes the appliance's settings, audited with what changed; the naming
/// authority's change says that existing targets keep their names.
pub fn update(
    c: &mut Conn<'_>,
    new: &Identity,
    actor: &str,
    address: &str,
    now: NaiveDateTime,
) -> Result<Appliance, AppError> {
    let old = get(c)?.ok_or_else(|| {
        AppError::Conflict("the appliance is not set up yet: finish the first-boot wizard".into())
    })?;
    let mut changes = Vec::new();
    for (what, before, after) in [
        ("host name", &old.hostname, &new.hostname),
        ("IQN naming authority", &old.iqn_domain, &new.iqn_domain),
        ("IQN date", &old.iqn_date, &new.iqn_date),
        ("time zone", &old.timezone, &new.timezone),
    ] {
        if before != after {
            changes.push(format!("{what} {before} -> {after}"));
        }
    }
    if changes.is_empty() {
        return Ok(old);
    }
    crate::db_run!(c, c => diesel::update(appliance::table.find(old.id))
        .set((
            appliance::hostname.eq(&new.hostname),
            appliance::iqn_domain.eq(&new.iqn_domain),
            appliance::iqn_date.eq(&new.iqn_date),
            appliance::timezone.eq(&new.timezone),
        ))
        .execute(c))?;
    let mut detail = changes.join("; ");
    if old.iqn_domain != new.iqn_domain || old.iqn_date != new.iqn_date {
        detail.push_str("; existing targets keep their IQNs");
    }
    audit::record(
        c,
        &audit::Entry {
            actor: Some(actor),
            address: Some(address),
            action: "settings",
            target: Some(&new.hostname),
            outcome: audit::Outcome::Ok,
            detail: &detail,
        },
        now,
    )?;
    get(c)?.ok_or_else(|| AppError::Internal("appliance row vanished".into()))
}

//! Users, sessions, API tokens and the record of failed logins.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::schema::{api_tokens, login_throttle, sessions, users};
use super::{Conn, audit};
use crate::auth::Role;
use crate::db_run;
use crate::error::{AppError, is_unique_violation};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub created_at: NaiveDateTime,
    pub password_changed_at: NaiveDateTime,
}

impl User {
    /// The role; an unknown value in the database (hand-edited) reads as the
    /// least privileged one rather than failing.
    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::Viewer)
    }
}

/// A user as lists and the API show it (no hash).
#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    pub id: i64,
    pub username: String,
    pub role: Role,
    #[serde(serialize_with = "super::utc")]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "super::utc")]
    pub password_changed_at: NaiveDateTime,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            id: u.id,
            username: u.username.clone(),
            role: u.role(),
            created_at: u.created_at,
            password_changed_at: u.password_changed_at,
        }
    }
}

pub fn user_by_name(c: &mut Conn<'_>, name: &str) -> QueryResult<Option<User>> {
    db_run!(c, c => users::table
        .filter(users::username.eq(name))
        .select(User::as_select())
        .first(c)
        .optional())
}

pub fn list_users(c: &mut Conn<'_>) -> QueryResult<Vec<User>> {
    db_run!(c, c => users::table
        .select(User::as_select())
        .order(users::username.asc())
        .load(c))
}

fn admin_count(c: &mut Conn<'_>) -> QueryResult<i64> {
    db_run!(c, c => users::table
        .filter(users::role.eq(Role::Admin.as_str()))
        .count()
        .get_result(c))
}

/// Who did something, for the audit record written with it.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub username: &'a str,
    pub address: &'a str,
}

fn audit_ok(
    c: &mut Conn<'_>,
    actor: Actor<'_>,
    action: &str,
    target: &str,
    detail: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    audit::record(
        c,
        &audit::Entry {
            actor: Some(actor.username),
            address: Some(actor.address),
            action,
            target: Some(target),
            outcome: audit::Outcome::Ok,
            detail,
        },
        now,
    )
}

/// Creates a user; the name and password were validated and hashed by the
/// caller. A taken name is a conflict.
pub fn create_user(
    c: &mut Conn<'_>,
    actor: Actor<'_>,
    username: &str,
    password_hash: &str,
    role: Role,
    now: NaiveDateTime,
) -> Result<User, AppError> {
    let inserted = db_run!(c, c => diesel::insert_into(users::table)
        .values((
            users::username.eq(username),
            users::password_hash.eq(password_hash),
            users::role.eq(role.as_str()),
            users::created_at.eq(now),
            users::password_changed_at.eq(now),
        ))
        .execute(c));
    match inserted {
        Err(e) if is_unique_violation(&e) => {
            return Err(AppError::Conflict(format!(
                "a user named {username:?} already exists"
            )));
        }
        other => other?,
    };
    audit_ok(
        c,
        actor,
        "user.create",
        username,
        &format!("role {role}"),
        now,
    )?;
    user_by_name(c, username)?.ok_or_else(|| AppError::Internal("new user vanished".into()))
}

fn existing(c: &mut Conn<'_>, username: &str) -> Result<User, AppError> {
    user_by_name(c, username)?
        .ok_or_else(|| AppError::NotFound(format!("there is no user named {username:?}")))
}

/// Sets a new password hash and ends the user's other sessions and every
/// API token, so neither a stolen session nor a leaked token outlives a
/// password change or an admin's reset. `keep_session` is the id of the
/// session that made the change, if it was the user's own.
pub fn set_password(
    c: &mut Conn<'_>,
    actor: Actor<'_>,
    username: &str,
    password_hash: &str,
    keep_session: Option<i64>,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let user = existing(c, username)?;
    db_run!(c, c => diesel::update(users::table.find(user.id))
        .set((
            users::password_hash.eq(password_hash),
            users::password_changed_at.eq(now),
        ))
        .execute(c))?;
    db_run!(c, c => diesel::delete(
            sessions::table
                .filter(sessions::user_id.eq(user.id))
                .filter(sessions::id.ne(keep_session.unwrap_or(-1))),
        )
        .execute(c))?;
    let tokens = db_run!(c, c => diesel::delete(api_tokens::table.filter(api_tokens::user_id.eq(user.id)))
        .execute(c))?;
    let detail = match tokens {
        0 => "password changed; sessions ended".to_string(),
        1 => "password changed; sessions and 1 API token ended".to_string(),
        n => format!("password changed; sessions and {n} API tokens ended"),
    };
    audit_ok(c, actor, "user.password", username, &detail, now)?;
    Ok(())
}

/// Replaces a hash with one of the current parameters after a good login;
/// not audited, nothing the user did changed.
pub fn rehash_password(c: &mut Conn<'_>, user_id: i64, password_hash: &str) -> QueryResult<()> {
    db_run!(c, c => diesel::update(users::table.find(user_id))
        .set(users::password_hash.eq(password_hash))
        .execute(c))?;
    Ok(())
}

/// Changes a role. The last admin cannot be demoted: the appliance would
/// have nobody who can manage users.
pub fn set_role(
    c: &mut Conn<'_>,
    actor: Actor<'_>,
    username: &str,
    role: Role,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let user = existing(c, username)?;
    if user.role() == role {
        return Ok(());
    }
    if user.role() == Role::Admin && admin_count(c)? <= 1 {
        return Err(AppError::Conflict(format!(
            "{username:?} is the last admin; make another user admin first"
        )));
    }
    db_run!(c, c => diesel::update(users::table.find(user.id))
        .set(users::role.eq(role.as_str()))
        .execute(c))?;
    let detail = format!("role {} -> {role}", user.role());
    audit_ok(c, actor, "user.role", username, &detail, now)?;
    Ok(())
}

/// Deletes a user with their sessions and tokens. Not the last admin.
pub fn delete_user(
    c: &mut Conn<'_>,
    actor: Actor<'_>,
    username: &str,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let user = existing(c, username)?;
    if user.role() == Role::Admin && admin_count(c)? <= 1 {
        return Err(AppError::Conflict(format!(
            "{username:?} is the last admin and cannot be deleted"
        )));
    }
    db_run!(c, c => diesel::delete(users::table.find(user.id)).execute(c))?;
    audit_ok(c, actor, "user.delete", username, "user deleted", now)?;
    Ok(())
}

// ---- sessions ----

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct Session {
    pub id: i64,
    pub token_hash: String,
    pub user_id: i64,
    pub csrf_token: String,
    pub address: String,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

pub struct NewSession<'a> {
    pub token_hash: &'a str,
    pub user_id: i64,
    pub csrf_token: &'a str,
    pub address: &'a str,
    pub expires_at: NaiveDateTime,
}

pub fn create_session(c: &mut Conn<'_>, s: &NewSession<'_>, now: NaiveDateTime) -> QueryResult<()> {
    db_run!(c, c => diesel::insert_into(sessions::table)
        .values((
            sessions::token_hash.eq(s.token_hash),
            sessions::user_id.eq(s.user_id),
            sessions::csrf_token.eq(s.csrf_token),
            sessions::address.eq(s.address),
            sessions::created_at.eq(now),
            sessions::last_seen_at.eq(now),
            sessions::expires_at.eq(s.expires_at),
        ))
        .execute(c))?;
    Ok(())
}

/// The live session with this token hash and its user: not idle past its
/// expiry, and begun after `started_after` (its absolute lifetime).
pub fn session_by_token(
    c: &mut Conn<'_>,
    token_hash: &str,
    now: NaiveDateTime,
    started_after: NaiveDateTime,
) -> QueryResult<Option<(Session, User)>> {
    db_run!(c, c => sessions::table
        .inner_join(users::table)
        .filter(sessions::token_hash.eq(token_hash))
        .filter(sessions::expires_at.gt(now))
        .filter(sessions::created_at.gt(started_after))
        .select((Session::as_select(), User::as_select()))
        .first(c)
        .optional())
}

/// Slides a session's idle expiry forward.
pub fn touch_session(
    c: &mut Conn<'_>,
    id: i64,
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> QueryResult<()> {
    db_run!(c, c => diesel::update(sessions::table.find(id))
        .set((sessions::last_seen_at.eq(now), sessions::expires_at.eq(expires_at)))
        .execute(c))?;
    Ok(())
}

/// Ends the session whose cookie this is, if any (a browser signing in
/// again leaves no older session of its own behind).
pub fn delete_session_by_token(c: &mut Conn<'_>, token_hash: &str) -> QueryResult<usize> {
    db_run!(c, c => diesel::delete(sessions::table.filter(sessions::token_hash.eq(token_hash))).execute(c))
}

pub fn delete_session(c: &mut Conn<'_>, id: i64) -> QueryResult<()> {
    db_run!(c, c => diesel::delete(sessions::table.find(id)).execute(c))?;
    Ok(())
}

/// Removes expired sessions and throttle counts whose window and delay
/// have both passed (`window_before`: now less the window).
pub fn prune(
    c: &mut Conn<'_>,
    now: NaiveDateTime,
    window_before: NaiveDateTime,
) -> QueryResult<usize> {
    let s = db_run!(c, c => diesel::delete(sessions::table.filter(sessions::expires_at.le(now))).execute(c))?;
    let f = db_run!(c, c => diesel::delete(
            login_throttle::table
                .filter(login_throttle::window_start.lt(window_before))
                .filter(login_throttle::next_at.le(now)),
        )
        .execute(c))?;
    Ok(s + f)
}

// ---- API tokens ----

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = api_tokens)]
pub struct ApiToken {
    pub id: i64,
    #[serde(skip)]
    pub user_id: i64,
    pub name: String,
    #[serde(skip)]
    pub token_hash: String,
    #[serde(serialize_with = "super::utc")]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "super::utc_opt")]
    pub last_used_at: Option<NaiveDateTime>,
}

pub fn create_token(
    c: &mut Conn<'_>,
    actor: Actor<'_>,
    user_id: i64,
    name: &str,
    token_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    db_run!(c, c => diesel::insert_into(api_tokens::table)
        .values((
            api_tokens::user_id.eq(user_id),
            api_tokens::name.eq(name),
            api_tokens::token_hash.eq(token_hash),
            api_tokens::created_at.eq(now),
        ))
        .execute(c))?;
    audit_ok(c, actor, "token.create", name, "API token issued", now)
}

pub fn token_user(c: &mut Conn<'_>, token_hash: &str) -> QueryResult<Option<(ApiToken, User)>> {
    db_run!(c, c => api_tokens::table
        .inner_join(users::table)
        .filter(api_tokens::token_hash.eq(token_hash))
        .select((ApiToken::as_select(), User::as_select()))
        .first(c)
        .optional())
}

pub fn touch_token(c: &mut Conn<'_>, id: i64, now: NaiveDateTime) -> QueryResult<()> {
    db_run!(c, c => diesel::update(api_tokens::table.find(id))
        .set(api_tokens::last_used_at.eq(now))
        .execute(c))?;
    Ok(())
}

pub fn list_tokens(c: &mut Conn<'_>, user_id: i64) -> QueryResult<Vec<ApiToken>> {
    db_run!(c, c => api_tokens::table
        .filter(api_tokens::user_id.eq(user_id))
        .select(ApiToken::as_select())
        .order(api_tokens::id.desc())
        .load(c))
}

/// A token with its owner's name, as an admin's list shows it.
#[derive(Debug, Clone, Serialize)]
pub struct OwnedToken {
    pub user: String,
    #[serde(flatten)]
    pub token: ApiToken,
}

/// Every user's tokens (`owner`: one user's), owners by name, newest first.
pub fn list_all_tokens(c: &mut Conn<'_>, owner: Option<&str>) -> QueryResult<Vec<OwnedToken>> {
    let rows: Vec<(ApiToken, String)> = db_run!(c, c => {
        let mut q = api_tokens::table
            .inner_join(users::table)
            .select((ApiToken::as_select(), users::username))
            .order((users::username.asc(), api_tokens::id.desc()))
            .into_boxed();
        if let Some(owner) = owner {
            q = q.filter(users::username.eq(owner));
        }
        q.load(c)
    })?;
    Ok(rows
        .into_iter()
        .map(|(token, user)| OwnedToken { user, token })
        .collect())
}

/// Revokes a token: one of `owner`'s, or anyone's when `owner` is `None`
/// (an admin). Someone else's token is "no such token" to a non-admin.
pub fn delete_token(
    c: &mut Conn<'_>,
    actor: Actor<'_>,
    owner: Option<i64>,
    token_id: i64,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let token: Option<(ApiToken, String)> = db_run!(c, c => {
        let mut q = api_tokens::table
            .inner_join(users::table)
            .filter(api_tokens::id.eq(token_id))
            .select((ApiToken::as_select(), users::username))
            .into_boxed();
        if let Some(owner) = owner {
            q = q.filter(api_tokens::user_id.eq(owner));
        }
        q.first(c).optional()
    })?;
    let Some((token, user)) = token else {
        return Err(AppError::NotFound(format!("there is no token {token_id}")));
    };
    db_run!(c, c => diesel::delete(api_tokens::table.find(token.id)).execute(c))?;
    let detail = if user == actor.username {
        "API token revoked".to_string()
    } else {
        format!("API token of {user} revoked")
    };
    audit_ok(c, actor, "token.revoke", &token.name, &detail, now)?;
    Ok(())
}

// ---- the sign-in throttle ----

/// The limits a sign-in attempt is admitted under.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Per user name from one address, then a hard wait to the window's end.
    pub per_pair: i32,
    /// Per address, any names, then a hard wait to the window's end.
    pub per_address: i32,
    /// Per user name from all addresses; then each attempt waits a doubling
    /// delay (2 s, 4 s, ... up to the window) instead of a hard lock.
    pub per_user: i32,
    pub window: chrono::Duration,
}

/// Admits an attempt and counts it, in one statement per key, or refuses
/// it. Inserts the key's row or, if it exists, counts the attempt only when
/// the row's window has passed (count restarts at 1), its count is under
/// the limit, or (for delayed keys) its delay has passed; otherwise no row
/// comes back and nothing changed. The statement takes the row's lock, so
/// attempts arriving together are counted one after another.
const ADMIT_SQL: &str = "INSERT INTO login_throttle (key, username, attempts, window_start, next_at) \
     VALUES (?, ?, 1, ?, ?) \
     ON CONFLICT (key) DO UPDATE SET \
     attempts = CASE WHEN login_throttle.window_start < ? THEN 1 ELSE login_throttle.attempts + 1 END, \
     window_start = CASE WHEN login_throttle.window_start < ? OR ? THEN ? ELSE login_throttle.window_start END \
     WHERE login_throttle.window_start < ? OR login_throttle.attempts < ? \
     OR (? AND login_throttle.next_at <= ?) \
     RETURNING attempts";

#[derive(QueryableByName)]
struct Admitted {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    attempts: i32,
}

#[derive(Queryable)]
struct ThrottleRow {
    window_start: NaiveDateTime,
    next_at: NaiveDateTime,
}

fn pair_key(username: &str, address: &str) -> String {
    format!("pair:{username}\n{address}")
}

fn admit_key(
    c: &mut Conn<'_>,
    key: &str,
    username: &str,
    limit: i32,
    delayed: bool,
    window: chrono::Duration,
    now: NaiveDateTime,
) -> QueryResult<Option<i32>> {
    let since = now - window;
    // A delayed key's window slides: it restarts after a quiet window.
    let q = crate::stmt!(
        ADMIT_SQL, key, username, now, now, since, since, delayed, now, since, limit, delayed, now
    );
    let rows: Vec<Admitted> = db_run!(c, c => q.load(c))?;
    Ok(rows.first().map(|r| r.attempts))
}

/// Why an attempt was refused, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Pair { retry_after_seconds: u64 },
    Address { retry_after_seconds: u64 },
    User { retry_after_seconds: u64 },
}

/// Whole seconds until `t`, rounded up, at least one.
fn seconds_until(t: NaiveDateTime, now: NaiveDateTime) -> u64 {
    u64::try_from((t - now).num_milliseconds())
        .unwrap_or(0)
        .div_ceil(1000)
        .max(1)
}

fn throttle_row(c: &mut Conn<'_>, key: &str) -> QueryResult<Option<ThrottleRow>> {
    db_run!(c, c => login_throttle::table
        .filter(login_throttle::key.eq(key))
        .select((login_throttle::window_start, login_throttle::next_at))
        .first::<ThrottleRow>(c)
        .optional())
}

/// Admits one sign-in attempt before its password is checked, counting it
/// against the user name from this address, the address, and the user
/// name from anywhere. Run it in a write transaction and roll back when it
/// refuses, so a refused attempt counts against nothing.
pub fn admit(
    c: &mut Conn<'_>,
    username: &str,
    address: &str,
    limits: Limits,
    now: NaiveDateTime,
) -> QueryResult<Result<(), Refusal>> {
    // No real user name is longer (they are at most 32); a 60 KB one from
    // a stranger is counted under its first 64 characters, not stored whole.
    let username = &username.chars().take(64).collect::<String>();
    let address = &address.chars().take(64).collect::<String>();
    let pair = pair_key(username, address);
    if admit_key(
        c,
        &pair,
        username,
        limits.per_pair,
        false,
        limits.window,
        now,
    )?
    .is_none()
    {
        let row = throttle_row(c, &pair)?;
        let end = row.map_or(now, |r| r.window_start + limits.window);
        return Ok(Err(Refusal::Pair {
            retry_after_seconds: seconds_until(end, now),
        }));
    }
    let address_key = format!("address:{address}");
    if admit_key(
        c,
        &address_key,
        "",
        limits.per_address,
        false,
        limits.window,
        now,
    )?
    .is_none()
    {
        let row = throttle_row(c, &address_key)?;
        let end = row.map_or(now, |r| r.window_start + limits.window);
        return Ok(Err(Refusal::Address {
            retry_after_seconds: seconds_until(end, now),
        }));
    }
    let user_key = format!("user:{username}");
    match admit_key(
        c,
        &user_key,
        username,
        limits.per_user,
        true,
        limits.window,
        now,
    )? {
        None => {
            let row = throttle_row(c, &user_key)?;
            let end = row.map_or(now, |r| r.next_at);
            Ok(Err(Refusal::User {
                retry_after_seconds: seconds_until(end, now),
            }))
        }
        Some(attempts) => {
            if attempts >= limits.per_user {
                // Past the free attempts: the next one waits 2, 4, 8, ...
                // seconds, at most the window.
                let over = u32::try_from(attempts - limits.per_user + 1).unwrap_or(0);
                let delay = 2i64
                    .checked_pow(over.min(40))
                    .unwrap_or(i64::MAX)
                    .min(limits.window.num_seconds().max(1));
                db_run!(c, c => diesel::update(login_throttle::table.find(&user_key))
                    .set(login_throttle::next_at.eq(now + chrono::Duration::seconds(delay)))
                    .execute(c))?;
            }
            Ok(Ok(()))
        }
    }
}

/// A good sign-in: the user name's attempts are forgiven, from this address
/// and overall, and this attempt does not count against the address (its
/// other names' attempts still do: one address guessing many names stays
/// throttled).
pub fn forgive(c: &mut Conn<'_>, username: &str, address: &str) -> QueryResult<()> {
    let keys = [pair_key(username, address), format!("user:{username}")];
    db_run!(c, c => diesel::delete(login_throttle::table.filter(login_throttle::key.eq_any(&keys)))
        .execute(c))?;
    let address_key = format!("address:{address}");
    db_run!(c, c => diesel::update(
            login_throttle::table
                .filter(login_throttle::key.eq(&address_key))
                .filter(login_throttle::attempts.gt(0)),
        )
        .set(login_throttle::attempts.eq(login_throttle::attempts - 1))
        .execute(c))?;
    Ok(())
}

/// `baystack user unlock NAME`: forgets every attempt counted against the
/// user name, from any address. Returns how many counts were dropped.
pub fn unlock(c: &mut Conn<'_>, username: &str) -> QueryResult<usize> {
    db_run!(c, c => diesel::delete(login_throttle::table.filter(login_throttle::username.eq(username)))
        .execute(c))
}

//! Signing in and out, and the password check shared with API token issue:
//! throttled per user name and per address, every attempt audited.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use chrono::Duration;
use serde::Deserialize;

use super::errors::safe_next;
use super::gate::{self, Identity, PreCsrf};
use super::page::VERSION;
use super::{AppState, PageError, client_address};
use crate::auth;
use crate::db::auth::{NewSession, Refusal, User};
use crate::db::{self, audit};
use crate::error::AppError;

/// The limits of [`authenticate`], from the settings.
pub fn limits(sec: &crate::config::SecuritySettings) -> db::auth::Limits {
    let as_i32 = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    db::auth::Limits {
        per_pair: as_i32(sec.login_failures_per_user),
        per_address: as_i32(sec.login_failures_per_address),
        per_user: as_i32(sec.login_failures_per_user_any_address),
        window: Duration::minutes(i64::from(sec.login_failure_window_minutes)),
    }
}

fn refused(username: &str, address: &str, refusal: Refusal) -> AppError {
    let wait = |s: u64| {
        if s >= 120 {
            format!("{} minutes", s.div_ceil(60))
        } else if s == 1 {
            "a second".to_string()
        } else {
            format!("{s} seconds")
        }
    };
    let (message, retry_after_seconds) = match refusal {
        Refusal::Pair {
            retry_after_seconds: s,
        } => (
            format!(
                "too many failed sign-ins for {username:?} from {address}; wait {} and try again",
                wait(s)
            ),
            s,
        ),
        Refusal::Address {
            retry_after_seconds: s,
        } => (
            format!(
                "too many failed sign-ins from {address}; wait {} and try again",
                wait(s)
            ),
            s,
        ),
        Refusal::User {
            retry_after_seconds: s,
        } => (
            format!(
                "too many failed sign-ins for {username:?} from several places; the next try is \
                 allowed in {}",
                wait(s)
            ),
            s,
        ),
    };
    AppError::Throttled {
        message,
        retry_after_seconds,
    }
}

/// Checks a user name and password. The attempt is admitted and counted
/// before the (slow) check, in one statement per limit, so that however
/// many attempts arrive at once no more are checked than the limits allow;
/// a good password then forgives the count.
pub async fn authenticate(
    state: &AppState,
    username: &str,
    password: &str,
    address: &str,
) -> Result<User, AppError> {
    let limits = limits(&state.settings.security);
    let (name, addr) = (username.to_string(), address.to_string());
    let admitted = state
        .db
        .run(move |conn| -> Result<_, AppError> {
            let refusal = conn.write(|c| -> Result<Option<Refusal>, RollBack> {
                match db::auth::admit(c, &name, &addr, limits, db::now())? {
                    Ok(()) => Ok(None),
                    // Roll back whatever the attempt counted before it was refused.
                    Err(r) => Err(RollBack::Refused(r)),
                }
            });
            let refusal = match refusal {
                Ok(r) => r,
                Err(RollBack::Refused(r)) => Some(r),
                Err(RollBack::Db(e)) => return Err(e.into()),
            };
            Ok((refusal, db::auth::user_by_name(&mut conn.conn(), &name)?))
        })
        .await?;
    let user = match admitted {
        (Some(refusal), _) => return Err(refused(username, address, refusal)),
        (None, user) => user,
    };

    let stored = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| auth::dummy_hash().to_string());
    let candidate = password.to_string();
    let ok = state
        .hash_work(move || auth::verify_password(&candidate, &stored))
        .await?;
    let (name, addr) = (username.to_string(), address.to_string());
    match user {
        Some(user) if ok => {
            let rehash = auth::needs_rehash(&user.password_hash);
            let new_hash = if rehash {
                let pw = password.to_string();
                Some(state.hash_work(move || auth::hash_password(&pw)).await?)
            } else {
                None
            };
            let id = user.id;
            state
                .db
                .run(move |conn| -> Result<(), AppError> {
                    conn.write(|c| -> Result<(), AppError> {
                        db::auth::forgive(c, &name, &addr)?;
                        if let Some(h) = &new_hash {
                            db::auth::rehash_password(c, id, h)?;
                        }
                        Ok(())
                    })
                })
                .await?;
            Ok(user)
        }
        _ => {
            state
                .db
                .run(move |conn| -> Result<(), AppError> {
                    conn.write(|c| -> Result<(), AppError> {
                        audit::record(
                            c,
                            &audit::Entry {
                                actor: None,
                                address: Some(&addr),
                                action: "login",
                                target: Some(&name),
                                outcome: audit::Outcome::Failed,
                                detail: "wrong user name or password",
                            },
                            db::now(),
                        )?;
                        Ok(())
                    })
                })
                .await?;
            Err(AppError::Unauthenticated(
                "wrong user name or password".into(),
            ))
        }
    }
}

/// A write transaction that ends in a refusal rolls back.
enum RollBack {
    Refused(Refusal),
    Db(diesel::result::Error),
}

impl From<diesel::result::Error> for RollBack {
    fn from(e: diesel::result::Error) -> Self {
        RollBack::Db(e)
    }
}

/// Opens a session for a user; returns the cookie secret.
pub async fn start_session(
    state: &AppState,
    user: &User,
    address: &str,
) -> Result<String, AppError> {
    let secret = auth::random_secret("");
    let csrf = auth::random_secret("");
    let hash = auth::secret_hash(&secret);
    let idle = Duration::minutes(i64::from(state.settings.security.session_idle_minutes));
    let window = Duration::minutes(i64::from(
        state.settings.security.login_failure_window_minutes,
    ));
    let (user_id, username, addr) = (user.id, user.username.clone(), address.to_string());
    state
        .db
        .run(move |conn| -> Result<(), AppError> {
            conn.write(|c| -> Result<(), AppError> {
                let now = db::now();
                db::auth::prune(c, now, now - window)?;
                db::auth::create_session(
                    c,
                    &NewSession {
                        token_hash: &hash,
                        user_id,
                        csrf_token: &csrf,
                        address: &addr,
                        expires_at: now + idle,
                    },
                    now,
                )?;
                audit::record(
                    c,
                    &audit::Entry {
                        actor: Some(&username),
                        address: Some(&addr),
                        action: "login",
                        target: Some(&username),
                        outcome: audit::Outcome::Ok,
                        detail: "signed in",
                    },
                    now,
                )?;
                Ok(())
            })
        })
        .await?;
    Ok(secret)
}

#[derive(Template, WebTemplate)]
#[template(path = "login/page.html")]
pub struct LoginPage {
    pub csrf: String,
    pub version: &'static str,
    pub username: String,
    pub next: String,
    pub notice: String,
    pub error: String,
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    setup: Option<String>,
}

pub async fn page(
    csrf: PreCsrf,
    query: web::Query<LoginQuery>,
    who: Option<Identity>,
) -> HttpResponse {
    if who.is_some() {
        return HttpResponse::SeeOther()
            .insert_header((header::LOCATION, safe_next(query.next.as_deref())))
            .finish();
    }
    let just_set_up = query.setup.as_deref() == Some("done");
    let notice = if just_set_up {
        "Setup is complete. Sign in as admin with the password you chose.".to_string()
    } else {
        String::new()
    };
    let page = LoginPage {
        csrf: csrf.0,
        version: VERSION,
        // The wizard made exactly one user.
        username: if just_set_up {
            "admin".into()
        } else {
            String::new()
        },
        next: safe_next(query.next.as_deref()),
        notice,
        error: String::new(),
    };
    html(200, &page)
}

fn html(status: u16, page: &impl Template) -> HttpResponse {
    super::page::html(status, page).unwrap_or_else(|e| super::errors::html_response(&e))
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    csrf: PreCsrf,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    let address = client_address(&req);
    let username = form.username.trim().to_string();
    let next = safe_next(form.next.as_deref());
    match authenticate(&state, &username, &form.password, &address).await {
        Ok(user) => {
            if let Some(old) = req
                .cookie(gate::SESSION_COOKIE)
                .filter(|c| !c.value().is_empty())
            {
                // Signing in again ends this browser's previous session.
                let hash = auth::secret_hash(old.value());
                state
                    .db
                    .run(move |conn| -> Result<usize, AppError> {
                        Ok(conn.write(|c| db::auth::delete_session_by_token(c, &hash))?)
                    })
                    .await?;
            }
            let secret = start_session(&state, &user, &address).await?;
            Ok(HttpResponse::SeeOther()
                .cookie(gate::session_cookie(&secret, gate::is_https(&req)))
                .insert_header((header::LOCATION, next))
                .finish())
        }
        Err(e @ (AppError::Unauthenticated(_) | AppError::Throttled { .. })) => {
            let status = e.status();
            let page = LoginPage {
                csrf: csrf.0,
                version: VERSION,
                username,
                next,
                notice: String::new(),
                error: e.public_message(),
            };
            let mut resp = html(status, &page);
            if let AppError::Throttled {
                retry_after_seconds,
                ..
            } = e
            {
                resp.headers_mut().insert(
                    header::RETRY_AFTER,
                    header::HeaderValue::from(retry_after_seconds),
                );
            }
            Ok(resp)
        }
        Err(e) => Err(PageError(e)),
    }
}

pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
) -> Result<HttpResponse, PageError> {
    let address = client_address(&req);
    if let Some(session_id) = who.session_id() {
        let username = who.username.clone();
        state
            .db
            .run(move |conn| -> Result<(), AppError> {
                conn.write(|c| -> Result<(), AppError> {
                    let now = db::now();
                    db::auth::delete_session(c, session_id)?;
                    audit::record(
                        c,
                        &audit::Entry {
                            actor: Some(&username),
                            address: Some(&address),
                            action: "logout",
                            target: Some(&username),
                            outcome: audit::Outcome::Ok,
                            detail: "signed out",
                        },
                        now,
                    )?;
                    Ok(())
                })
            })
            .await?;
    }
    Ok(HttpResponse::SeeOther()
        .cookie(gate::removal_cookie(
            gate::SESSION_COOKIE,
            gate::is_https(&req),
        ))
        .insert_header((header::LOCATION, "/login"))
        // The drawn pages may be kept by the browser (to be asked for again
        // with their ETag): Back after signing out must not show them.
        .insert_header(("clear-site-data", "\"cache\""))
        .finish())
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_console() {
        assert_eq!(safe_next(Some("/users")), "/users");
        assert_eq!(safe_next(Some("/audit?before=9")), "/audit?before=9");
        assert_eq!(safe_next(Some("//evil.example/x")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
        for evil in [
            "/\t/evil.example/x",
            "/\n/x",
            "/\r//evil.example",
            "/ /evil.example",
            "/\u{3000}/evil.example",
            "/\u{0}x",
            "/\u{85}/evil.example",
        ] {
            assert_eq!(safe_next(Some(evil)), "/", "{evil:?}");
        }
        assert_eq!(safe_next(Some(&format!("/{}", "a".repeat(5000)))), "/");
    }
}

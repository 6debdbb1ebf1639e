//! The gate every request passes: it names the request, finds who is asking
//! (API token or session cookie), applies the first-boot rule, the route's
//! access rule and CSRF protection, and only then lets a handler run.

use std::collections::HashMap;
use std::future::{Ready, ready};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use chrono::Duration;
use futures_util::StreamExt;

use super::errors::{self, REQUEST, RequestCtx};
use super::{Access, AppState, forwarded};
use crate::auth::{self, Role};
use crate::db::{self, audit};
use crate::error::AppError;

pub const SESSION_COOKIE: &str = "baystack_session";
/// Before sign-in there is no session to hold a CSRF token; the login and
/// setup forms use this cookie's value instead (double submit).
pub const PRE_CSRF_COOKIE: &str = "baystack_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const CSRF_FIELD: &str = "csrf_token";

/// Who is making a request, put in the request's extensions by the gate.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user_id: i64,
    pub username: String,
    pub role: Role,
    pub via: Via,
}

#[derive(Debug, Clone)]
pub enum Via {
    Session { id: i64, csrf: String },
    Token { id: i64 },
}

impl Identity {
    pub fn csrf(&self) -> &str {
        match &self.via {
            Via::Session { csrf, .. } => csrf,
            Via::Token { .. } => "",
        }
    }

    pub fn session_id(&self) -> Option<i64> {
        match &self.via {
            Via::Session { id, .. } => Some(*id),
            Via::Token { .. } => None,
        }
    }
}

impl FromRequest for Identity {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(req.extensions().get::<Identity>().cloned().ok_or_else(|| {
            errors::PageError(AppError::Unauthenticated("sign in first".into())).into()
        }))
    }
}

/// The CSRF token for an anonymous form (login, setup).
#[derive(Debug, Clone)]
pub struct PreCsrf(pub String);

impl FromRequest for PreCsrf {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = req
            .extensions()
            .get::<PreCsrf>()
            .cloned()
            .unwrap_or_else(|| PreCsrf(String::new()));
        ready(Ok(token))
    }
}

/// Whether cookies should be marked Secure: when the request came over TLS.
pub use super::forwarded::is_https;

pub fn session_cookie(value: &str, secure: bool) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, value.to_string())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .finish()
}

pub fn removal_cookie(name: &'static str, secure: bool) -> Cookie<'static> {
    let mut c = Cookie::build(name, "")
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .finish();
    c.make_removal();
    c
}

fn pre_csrf_cookie(value: &str, secure: bool) -> Cookie<'static> {
    Cookie::build(PRE_CSRF_COOKIE, value.to_string())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .finish()
}

/// 48 bits, in hex, from a per-thread generator seeded from the operating
/// system once: a request ID tells requests apart in the log and is no
/// secret, so it costs no system call.
fn new_request_id() -> String {
    thread_local! {
        static STATE: std::cell::Cell<u64> = std::cell::Cell::new({
            let mut seed = [0u8; 8];
            auth::fill_random(&mut seed);
            u64::from_le_bytes(seed) | 1
        });
    }
    let n = STATE.with(|s| {
        // xorshift64*
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    });
    crate::domain::hex(&n.to_be_bytes()[..6])
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

enum Presented {
    None,
    Bearer(String),
    Session(String),
}

fn presented_credentials(req: &ServiceRequest) -> Presented {
    if let Some(value) = req.headers().get(header::AUTHORIZATION)
        && let Ok(text) = value.to_str()
        && let Some((scheme, token)) = text.trim_start().split_once(' ')
        && scheme.eq_ignore_ascii_case("bearer")
    {
        return Presented::Bearer(token.trim().to_string());
    }
    match req.cookie(SESSION_COOKIE) {
        Some(c) if !c.value().is_empty() => Presented::Session(c.value().to_string()),
        _ => Presented::None,
    }
}

/// How long a GET trusts who a session or token was found to be.
pub const SEEN_FRESH: std::time::Duration = std::time::Duration::from_secs(2);
/// At most this many sessions and tokens are remembered.
const SEEN_MOST: usize = 4096;

/// Who recent GETs were made by, by the hash of their secret. A GET is
/// read-only, so it may act on who the secret belonged to up to
/// [`SEEN_FRESH`] ago (a session ended on another console sharing the
/// database stops reading that much later). Anything else reads the
/// database, and every such request here makes this forget all.
#[derive(Default)]
pub struct Seen(std::sync::Mutex<HashMap<String, (std::time::Instant, u64, Identity)>>);

impl Seen {
    fn get(&self, hash: &str, changes: u64) -> Option<Identity> {
        self.0
            .lock()
            .expect("seen identities")
            .get(hash)
            .filter(|(at, c, _)| *c == changes && at.elapsed() < SEEN_FRESH)
            .map(|(_, _, who)| who.clone())
    }

    fn put(&self, hash: String, changes: u64, who: &Identity) {
        let mut all = self.0.lock().expect("seen identities");
        if all.len() >= SEEN_MOST {
            all.retain(|_, (at, c, _)| *c == changes && at.elapsed() < SEEN_FRESH);
            if all.len() >= SEEN_MOST {
                all.clear();
            }
        }
        all.insert(hash, (std::time::Instant::now(), changes, who.clone()));
    }
}

/// Looks up a bearer token or a session; slides the session's expiry. A
/// read-only request (`reads`) may be answered from [`Seen`].
async fn identify(
    state: &AppState,
    presented: Presented,
    reads: bool,
) -> Result<Option<Identity>, AppError> {
    let secret = match &presented {
        Presented::None => return Ok(None),
        Presented::Bearer(s) | Presented::Session(s) => s,
    };
    let hash = auth::secret_hash(secret);
    let changes = state.changes();
    if reads && let Some(who) = state.seen.get(&hash, changes) {
        return Ok(Some(who));
    }
    let found = look_up(state, presented, hash.clone()).await?;
    if reads && let Some(who) = &found {
        state.seen.put(hash, changes, who);
    }
    Ok(found)
}

async fn look_up(
    state: &AppState,
    presented: Presented,
    hash: String,
) -> Result<Option<Identity>, AppError> {
    let idle = Duration::minutes(i64::from(state.settings.security.session_idle_minutes));
    let max_age = Duration::hours(i64::from(state.settings.security.session_max_hours));
    match presented {
        Presented::None => Ok(None),
        Presented::Bearer(_) => {
            state
                .db
                .run(move |conn| -> Result<Option<Identity>, AppError> {
                    let mut c = conn.conn();
                    let Some((tok, user)) = db::auth::token_user(&mut c, &hash)? else {
                        return Ok(None);
                    };
                    let now = db::now();
                    if tok
                        .last_used_at
                        .is_none_or(|t| now - t > Duration::minutes(1))
                    {
                        db::auth::touch_token(&mut c, tok.id, now)?;
                    }
                    Ok(Some(Identity {
                        user_id: user.id,
                        role: user.role(),
                        username: user.username,
                        via: Via::Token { id: tok.id },
                    }))
                })
                .await
        }
        Presented::Session(_) => {
            state
                .db
                .run(move |conn| -> Result<Option<Identity>, AppError> {
                    let mut c = conn.conn();
                    let now = db::now();
                    let Some((session, user)) =
                        db::auth::session_by_token(&mut c, &hash, now, now - max_age)?
                    else {
                        return Ok(None);
                    };
                    if now - session.last_seen_at > Duration::minutes(1) {
                        db::auth::touch_session(&mut c, session.id, now, now + idle)?;
                    }
                    Ok(Some(Identity {
                        user_id: user.id,
                        role: user.role(),
                        username: user.username,
                        via: Via::Session {
                            id: session.id,
                            csrf: session.csrf_token,
                        },
                    }))
                })
                .await
        }
    }
}

/// Reads the CSRF token from the header or, for a urlencoded form, from its
/// `csrf_token` field; the body is put back for the handler.
async fn presented_csrf(req: &mut ServiceRequest) -> Result<Option<String>, AppError> {
    if let Some(v) = req.headers().get(CSRF_HEADER) {
        return Ok(v.to_str().ok().map(str::to_string));
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Ok(None);
    }
    const LIMIT: usize = 64 * 1024;
    let mut payload = req.take_payload();
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| AppError::BadRequest(format!("cannot read the form: {e}")))?;
        if body.len() + chunk.len() > LIMIT {
            return Err(AppError::BadRequest("the form is too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    let body: Bytes = body.freeze();
    let token = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
        .ok()
        .and_then(|pairs| {
            pairs
                .into_iter()
                .find(|(k, _)| k == CSRF_FIELD)
                .map(|(_, v)| v)
        });
    let (_, mut replacement) = actix_http::h1::Payload::create(true);
    replacement.unread_data(body);
    req.set_payload(Payload::from(replacement));
    Ok(token)
}

/// A cross-site request shows itself by its Origin or Sec-Fetch-Site header;
/// refuse those for anything that changes state.
fn cross_site(req: &ServiceRequest) -> bool {
    if let Some(site) = req
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        && site == "cross-site"
    {
        return true;
    }
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(host) = forwarded::requested_host(req.request()) else {
        return true;
    };
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/'))
        .unwrap_or("");
    origin_host != host
}

fn redirect(req: &ServiceRequest, location: &str) -> HttpResponse {
    if req.headers().contains_key("hx-request") {
        // htmx would follow a 303 and swap the login page into a fragment.
        HttpResponse::Ok()
            .insert_header(("HX-Redirect", location.to_string()))
            .finish()
    } else {
        HttpResponse::SeeOther()
            .insert_header((header::LOCATION, location.to_string()))
            .finish()
    }
}

fn login_location(req: &ServiceRequest) -> String {
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    if target == "/" {
        "/login".into()
    } else {
        let next: String = serde_urlencoded::to_string([("next", target)]).unwrap_or_default();
        format!("/login?{next}")
    }
}

fn early(req: ServiceRequest, resp: HttpResponse) -> ServiceResponse<BoxBody> {
    req.into_response(resp.map_into_boxed_body())
}

pub async fn gate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let ctx = RequestCtx {
        id: new_request_id(),
        htmx: req.headers().contains_key("hx-request"),
    };
    let id = ctx.id.clone();
    let mut res = REQUEST.scope(ctx, guarded(req, next)).await?;
    let headers = res.headers_mut();
    if let Ok(v) = header::HeaderValue::from_str(&id) {
        headers.insert(header::HeaderName::from_static("x-request-id"), v);
    }
    for (name, value) in SECURITY_HEADERS {
        headers.insert(
            header::HeaderName::from_static(name),
            header::HeaderValue::from_static(value),
        );
    }
    Ok(res)
}

/// On every response: scripts, styles and everything else only from the
/// console itself (no inline script or style, no eval; htmx is configured
/// for that in the page head), no framing, no MIME sniffing, and no full
/// URLs sent to other sites.
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
];

async fn guarded(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .expect("AppState is registered");
    let method = req.method().clone();
    let pattern = super::pattern_for(req.path());
    let rule = pattern.and_then(|p| super::rule_for(method.as_str(), p));
    let Some(rule) = rule else {
        if pattern.is_none()
            && let Some(p) = req.match_pattern()
        {
            // A registered route that the table does not list: refuse.
            tracing::error!("route {p} has no access rule; refusing");
            let resp = errors::respond(
                req.request(),
                AppError::Forbidden("this route has no access rule".into()),
            );
            return Ok(early(req, resp));
        }
        return Ok(next.call(req).await?.map_into_boxed_body());
    };

    let fail = |req: ServiceRequest, e: AppError| {
        let resp = errors::respond(req.request(), e);
        Ok(early(req, resp))
    };

    // Health checks and static files need nobody and nothing from the
    // database, so they answer even when the database does not.
    if rule.access == Access::Public {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }

    if let Err(e) = host_check(&state, &req).await {
        return fail(req, e);
    }

    if is_unsafe(&method) && cross_site(&req) {
        return fail(
            req,
            AppError::Forbidden("cross-site requests cannot change anything here".into()),
        );
    }

    let set_up = match state.is_set_up().await {
        Ok(v) => v,
        Err(e) => return fail(req, e),
    };
    let presented = presented_credentials(&req);
    let had_bearer = matches!(presented, Presented::Bearer(_));
    let identity = match identify(&state, presented, !is_unsafe(&method)).await {
        Ok(i) => i,
        Err(e) => return fail(req, e),
    };
    if had_bearer && identity.is_none() {
        return fail(
            req,
            AppError::Unauthenticated("the API token is not valid (revoked or mistyped)".into()),
        );
    }
    if let Some(i) = &identity {
        req.extensions_mut().insert(i.clone());
    }
    let api = super::is_api_path(req.path());

    match rule.access {
        Access::Public => unreachable!("answered above"),
        Access::Setup => {
            if set_up {
                let e = if api {
                    AppError::Conflict("the appliance is already set up".into())
                } else if method == Method::POST {
                    // A wizard submitted after another one won.
                    lost_race()
                } else {
                    AppError::NotFound("setup is complete; there is nothing more to set up".into())
                };
                return fail(req, e);
            }
        }
        Access::Anonymous => {
            if !set_up {
                if api {
                    return fail(req, not_set_up());
                }
                let resp = redirect(&req, "/setup");
                return Ok(early(req, resp));
            }
        }
        Access::Wall => {
            if !set_up {
                return fail(
                    req,
                    AppError::NotFound("the appliance is not set up yet".into()),
                );
            }
            // The routes are matched after this middleware: the key is the
            // path's segment after /noc/w/.
            let key = req
                .path()
                .strip_prefix("/noc/w/")
                .and_then(|rest| rest.split('/').next())
                .unwrap_or_default()
                .to_string();
            let from = super::client_address(req.request());
            match state.wall.link_for(&state, &key, &from).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    return fail(
                        req,
                        AppError::Unauthenticated(
                            "this wall link is not valid: it was revoked or mistyped".into(),
                        ),
                    );
                }
                Err(e) => return fail(req, e),
            }
        }
        Access::Role(required) => {
            if !set_up {
                if api {
                    return fail(req, not_set_up());
                }
                let resp = redirect(&req, "/setup");
                return Ok(early(req, resp));
            }
            let Some(who) = &identity else {
                if !api && matches!(method, Method::GET | Method::HEAD) {
                    let resp = redirect(&req, &login_location(&req));
                    return Ok(early(req, resp));
                }
                return fail(req, AppError::Unauthenticated("sign in first".into()));
            };
            if !who.role.allows(required) {
                if is_unsafe(&method) {
                    let actor = who.username.clone();
                    let address = super::client_address(req.request());
                    let target = format!("{method} {}", req.path());
                    let detail = format!("needs role {required}, has {}", who.role);
                    let written = state
                        .db
                        .run(move |conn| -> Result<(), AppError> {
                            let entry = audit::Entry {
                                actor: Some(&actor),
                                address: Some(&address),
                                action: "access.denied",
                                target: Some(&target),
                                outcome: audit::Outcome::Denied,
                                detail: &detail,
                            };
                            Ok(audit::record_alone(conn, &entry, db::now())?)
                        })
                        .await;
                    if let Err(e) = written {
                        // The refusal stands; the record of it is lost, so
                        // say so where an operator will see it.
                        tracing::error!(
                            "could not write the audit record of a refused request: {e}"
                        );
                    }
                }
                return fail(
                    req,
                    AppError::Forbidden(format!(
                        "this needs the {required} role; you are signed in as {} with the {} role",
                        who.username, who.role
                    )),
                );
            }
        }
    }

    // CSRF: a request carrying ambient credentials (a session cookie) must
    // also carry the token that only our own pages know. Anonymous forms use
    // the pre-session cookie. API calls with a bearer token or no cookie at
    // all carry no ambient authority and need none.
    if is_unsafe(&method) {
        let pre_session = || {
            req.cookie(PRE_CSRF_COOKIE)
                .map(|c| c.value().to_string())
                .unwrap_or_default()
        };
        let expected = match &identity {
            // The login and setup forms carry the pre-session token even
            // when the browser still holds a session (signing in again).
            _ if !api && matches!(rule.access, Access::Anonymous | Access::Setup) => {
                Some(pre_session())
            }
            Some(Identity {
                via: Via::Session { csrf, .. },
                ..
            }) => Some(csrf.clone()),
            Some(_) => None,
            None if !api => Some(pre_session()),
            None => None,
        };
        if let Some(expected) = expected {
            let presented = match presented_csrf(&mut req).await {
                Ok(p) => p.unwrap_or_default(),
                Err(e) => return fail(req, e),
            };
            if expected.is_empty() || !auth::constant_time_eq(&presented, &expected) {
                return fail(
                    req,
                    AppError::Forbidden(
                        "the form has expired or did not come from this console; reload the page and try again".into(),
                    ),
                );
            }
        }
    }

    // Anonymous pages get a pre-session CSRF token.
    let mut set_pre_cookie = None;
    if identity.is_none() && !api && rule.access != Access::Wall {
        let existing = req
            .cookie(PRE_CSRF_COOKIE)
            .map(|c| c.value().to_string())
            .filter(|v| v.len() >= 32);
        let token = match existing {
            Some(t) => t,
            None => {
                let t = auth::random_secret("");
                set_pre_cookie = Some(t.clone());
                t
            }
        };
        req.extensions_mut().insert(PreCsrf(token));
    }
    let secure = is_https(req.request());
    let mut res = next.call(req).await?.map_into_boxed_body();
    if is_unsafe(&method) {
        state.note_change();
    }
    // Nothing behind the gate may be kept by a browser or a proxy: Back
    // after signing out must not show the dashboard again. The drawn pages
    // say `private, no-cache` (kept, but asked for again every time), and
    // signing out clears what the browser kept.
    if !res.headers().contains_key(header::CACHE_CONTROL) {
        res.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
    }
    if let Some(t) = set_pre_cookie {
        let _ = res.response_mut().add_cookie(&pre_csrf_cookie(&t, secure));
    }
    Ok(res)
}

/// A request must name one of the console's own hosts: a page on another
/// site that rebinds its name to this machine's address names its own.
async fn host_check(state: &AppState, req: &ServiceRequest) -> Result<(), AppError> {
    let Some(host) = forwarded::requested_host(req.request()) else {
        // No Host at all: not a browser, so not a rebinding page.
        return Ok(());
    };
    let name = forwarded::host_name(&host);
    let configured = &state.settings.security.allowed_hosts;
    let machine = state.machine_names.get();
    let mut appliance = Vec::new();
    if let Some(a) = state.appliance().await? {
        appliance.push(a.hostname.to_ascii_lowercase());
        appliance.push(format!("{}.{}", a.hostname, a.iqn_domain).to_ascii_lowercase());
    }
    if forwarded::host_allowed(name, configured, &machine, &appliance) {
        return Ok(());
    }
    let shown: String = name.chars().take(80).filter(|c| !c.is_control()).collect();
    Err(AppError::BadRequest(format!(
        "this console does not answer to the host name {shown:?}; if that is one of this \
         appliance's names, add it to allowed_hosts in the [security] section of the config file"
    )))
}

fn not_set_up() -> AppError {
    AppError::Conflict(
        "the appliance is not set up yet: finish the first-boot wizard at /setup or POST /api/v1/setup".into(),
    )
}

/// What a wizard that lost the race is told, however late it arrives.
pub fn lost_race() -> AppError {
    AppError::Conflict(
        "Another browser finished the setup first; this one changed nothing. Sign in with the admin password that was set there."
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn same_origin_requests_pass_and_cross_site_ones_do_not() {
        let same = TestRequest::post()
            .uri("/users")
            .insert_header(("host", "bay01:8080"))
            .insert_header(("origin", "http://bay01:8080"))
            .to_srv_request();
        assert!(!cross_site(&same));
        let none = TestRequest::post()
            .uri("/users")
            .insert_header(("host", "bay01:8080"))
            .to_srv_request();
        assert!(!cross_site(&none), "no Origin: older clients, curl");
        let other = TestRequest::post()
            .uri("/users")
            .insert_header(("host", "bay01:8080"))
            .insert_header(("origin", "http://evil.example"))
            .to_srv_request();
        assert!(cross_site(&other));
        let port = TestRequest::post()
            .uri("/users")
            .insert_header(("host", "bay01:8080"))
            .insert_header(("origin", "http://bay01:9090"))
            .to_srv_request();
        assert!(cross_site(&port), "another port is another origin");
        let null = TestRequest::post()
            .uri("/users")
            .insert_header(("host", "bay01:8080"))
            .insert_header(("origin", "null"))
            .to_srv_request();
        assert!(cross_site(&null), "sandboxed frames send Origin: null");
        let fetch = TestRequest::post()
            .uri("/users")
            .insert_header(("sec-fetch-site", "cross-site"))
            .to_srv_request();
        assert!(cross_site(&fetch));
    }

    #[actix_web::test]
    async fn the_csrf_token_is_read_from_header_or_form_and_the_body_survives() {
        let mut req = TestRequest::post()
            .uri("/users")
            .insert_header(("x-csrf-token", "from-header"))
            .to_srv_request();
        assert_eq!(
            presented_csrf(&mut req).await.unwrap().as_deref(),
            Some("from-header")
        );

        let mut req = TestRequest::post()
            .uri("/users")
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload("username=eve&csrf_token=abc%2Fdef&role=viewer")
            .to_srv_request();
        assert_eq!(
            presented_csrf(&mut req).await.unwrap().as_deref(),
            Some("abc/def")
        );
        // The handler still gets the whole form.
        let mut payload = req.take_payload();
        let body = actix_web::web::Bytes::from_request(req.request(), &mut payload)
            .await
            .unwrap();
        assert_eq!(&body[..], b"username=eve&csrf_token=abc%2Fdef&role=viewer");

        let mut req = TestRequest::post()
            .uri("/api/v1/users")
            .insert_header(("content-type", "application/json"))
            .set_payload("{\"csrf_token\":\"x\"}")
            .to_srv_request();
        assert_eq!(
            presented_csrf(&mut req).await.unwrap(),
            None,
            "JSON bodies are not forms"
        );

        let mut req = TestRequest::post()
            .uri("/users")
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(vec![b'a'; 70 * 1024])
            .to_srv_request();
        assert!(
            presented_csrf(&mut req).await.is_err(),
            "oversized forms are refused"
        );
    }

    #[test]
    fn login_redirect_keeps_where_the_user_was_going() {
        let req = TestRequest::get().uri("/audit?before=5").to_srv_request();
        assert_eq!(login_location(&req), "/login?next=%2Faudit%3Fbefore%3D5");
        let req = TestRequest::get().uri("/").to_srv_request();
        assert_eq!(login_location(&req), "/login");
    }
}

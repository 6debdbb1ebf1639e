//! Peers, on the Replication page (admins change them, everyone sees
//! them): this appliance's certificate fingerprint, a one-time pairing code
//! made here for another appliance to paste, a code from another appliance
//! pasted here (a `peer.pair` job presents it), the peers with how the
//! last talk with each went, and a peer removed (a `peer.remove` job).

use actix_web::{HttpRequest, HttpResponse, Responder, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::{Deserialize, Serialize};

use super::action::{Answer, Body, Outcome};
use super::page::Frame;
use super::{AppState, Identity, PageError, client_address};
use crate::db::{self, audit, peers};
use crate::domain::peer::{self, CODE_LIFETIME_MAX_MINUTES, CODE_LIFETIME_MINUTES, PairingCode};
use crate::error::AppError;
use crate::jobs::kinds::{PairPayload, RemovePayload};
use crate::jobs::link::tls;

/// `POST /api/v1/peers/pairing-code`.
#[derive(Debug, Default, Deserialize)]
pub struct CodeBody {
    /// How the other appliance reaches this one's channel (`host:port`).
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub valid_minutes: Option<i64>,
}

/// A code just made: shown this once.
#[derive(Debug, Clone, Serialize)]
pub struct MadeCode {
    pub code: String,
    pub address: String,
    pub fingerprint: String,
    pub expires_at: String,
}

/// `POST /api/v1/peers`.
#[derive(Debug, Default, Deserialize)]
pub struct PairBody {
    #[serde(default)]
    pub code: String,
}

/// The channel's port, or why peers cannot reach this appliance.
fn channel_port(state: &AppState) -> Result<u16, AppError> {
    state
        .settings
        .replication
        .listen
        .map(|a| a.port())
        .ok_or_else(|| {
            AppError::Conflict(
                "this appliance's replication channel is off ([replication] listen = \"off\" in \
                 its configuration): peers could not reach it"
                    .into(),
            )
        })
}

/// The address a code gives when none is asked for: the configured one,
/// or the host this console was reached at with the channel's port.
fn default_address(state: &AppState, req: &HttpRequest) -> Result<String, AppError> {
    let port = channel_port(state)?;
    if let Some(a) = &state.settings.replication.address {
        return Ok(a.clone());
    }
    let info = req.connection_info();
    let host = info.host();
    let host = match host.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    Ok(format!("{host}:{port}"))
}

async fn make_code(
    state: &AppState,
    who: &Identity,
    req: &HttpRequest,
    body: CodeBody,
) -> Result<MadeCode, AppError> {
    let minutes = body.valid_minutes.unwrap_or(CODE_LIFETIME_MINUTES);
    if !(1..=CODE_LIFETIME_MAX_MINUTES).contains(&minutes) {
        return Err(AppError::invalid(
            "valid_minutes",
            format!(
                "a pairing code lasts from 1 to {CODE_LIFETIME_MAX_MINUTES} minutes, not {minutes}"
            ),
        ));
    }
    let address = match body.address.as_deref().map(str::trim) {
        None | Some("") => default_address(state, req)?,
        Some(a) => {
            channel_port(state)?;
            peer::validate_address(a)
                .map_err(|e| AppError::invalid("address", format!("the address {e}")))?;
            a.to_string()
        }
    };
    let mut secret = [0u8; 24];
    crate::auth::fill_random(&mut secret);
    let (user, from) = (who.username.clone(), client_address(req));
    let made = state
        .db
        .run(move |conn| {
            conn.write(|c| -> Result<MadeCode, AppError> {
                let now = db::now();
                let expires = now + chrono::Duration::minutes(minutes);
                let identity = tls::identity_on(c)?;
                let mut fingerprint = [0u8; 32];
                for (i, b) in fingerprint.iter_mut().enumerate() {
                    *b = u8::from_str_radix(&identity.fingerprint[2 * i..2 * i + 2], 16)
                        .map_err(|e| AppError::Internal(e.to_string()))?;
                }
                let code = PairingCode {
                    address: address.clone(),
                    fingerprint,
                    secret,
                    expires_at: expires.and_utc().timestamp(),
                };
                let hash = crate::auth::secret_hash(&code.secret_text());
                let row = peers::create_code(c, &hash, &address, &user, now, expires)?;
                audit::record(
                    c,
                    &audit::Entry {
                        actor: Some(&user),
                        address: Some(&from),
                        action: "peer.pairing_code",
                        target: Some(&format!("pairing code {}", row.id)),
                        outcome: audit::Outcome::Ok,
                        detail: &format!(
                            "for the channel at {address}, until {} UTC",
                            expires.format("%Y-%m-%d %H:%M:%S")
                        ),
                    },
                    now,
                )?;
                Ok(MadeCode {
                    code: code.encode(),
                    address,
                    fingerprint: peer::fingerprint_words(&identity.fingerprint),
                    expires_at: db::rfc3339(&expires),
                })
            })
        })
        .await?;
    Ok(made)
}

/// Checks a pasted code and enqueues the pairing. Returns the job's id.
async fn pair(
    state: &AppState,
    who: &Identity,
    req: &HttpRequest,
    text: &str,
) -> Result<i64, AppError> {
    let code = PairingCode::parse(text).map_err(|e| AppError::invalid("code", e))?;
    let now = chrono::Utc::now().timestamp();
    if code.expires_at <= now {
        return Err(AppError::invalid(
            "code",
            format!(
                "the pairing code expired at {} UTC: make a new one on the other appliance",
                chrono::DateTime::from_timestamp(code.expires_at, 0)
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default()
            ),
        ));
    }
    let own_port = channel_port(state)?;
    let payload = PairPayload {
        address: code.address.clone(),
        fingerprint: peer::fingerprint_hex(&code.fingerprint),
        expires_at: code.expires_at,
        own_address: state.settings.replication.address.clone(),
        own_port,
        by: who.username.clone(),
    };
    let secret = code.secret_text();
    let from = client_address(req);
    let id = state
        .db
        .run(move |conn| {
            conn.write(|c| -> Result<i64, AppError> {
                if tls::identity_on(c)?.fingerprint == payload.fingerprint {
                    return Err(AppError::invalid(
                        "code",
                        "this pairing code was made on this appliance: paste it on the other one",
                    ));
                }
                crate::jobs::kinds::pair_peer(c, &payload, &secret, &from)
            })
        })
        .await?;
    state.wake.notify();
    Ok(id)
}

async fn all(state: &AppState) -> Result<Vec<peers::PeerRow>, AppError> {
    state
        .db
        .run(|conn| -> Result<_, AppError> { Ok(peers::peers(&mut conn.conn())?) })
        .await
}

#[derive(Template, WebTemplate)]
#[template(path = "replication/page.html")]
pub struct ReplicationPage {
    pub frame: Frame,
    /// Every replicated volume, on both sides.
    pub volumes: Vec<super::replication::Replication>,
    pub peers: Vec<peers::PeerRow>,
    pub codes: Vec<peers::CodeRow>,
    /// This appliance's certificate fingerprint, as people compare it.
    pub fingerprint: String,
    /// Where the channel listens, or why it does not.
    pub channel: Result<u16, String>,
    pub made: Option<MadeCode>,
    pub error: Option<String>,
    pub pasted: String,
    pub now: chrono::NaiveDateTime,
}

impl ReplicationPage {
    pub fn state_words(&self, state: &str) -> &'static str {
        crate::domain::replica::State::parse(state).map_or("unknown", |s| s.words())
    }

    pub fn bytes(&self, n: &i64) -> String {
        crate::domain::volume::size_words(u64::try_from(*n).unwrap_or(0))
    }

    pub fn fingerprint_of(&self, p: &peers::PeerRow) -> String {
        peer::fingerprint_words(&p.fingerprint)
    }
}

async fn page_with(
    state: &AppState,
    who: &Identity,
    made: Option<MadeCode>,
    error: Option<String>,
    pasted: String,
) -> Result<ReplicationPage, AppError> {
    let (identity, codes) = state
        .db
        .run(|conn| -> Result<_, AppError> {
            let identity = conn.write(tls::identity_on)?;
            Ok((identity, peers::codes(&mut conn.conn(), 10)?))
        })
        .await?;
    Ok(ReplicationPage {
        frame: Frame::new(state, who, "Replication", "replication").await?,
        volumes: super::replication::all(state).await?,
        peers: all(state).await?,
        codes,
        fingerprint: peer::fingerprint_words(&identity.fingerprint),
        channel: channel_port(state).map_err(|e| e.to_string()),
        made,
        error,
        pasted,
        now: db::now(),
    })
}

/// `GET /replication`.
pub async fn page(state: web::Data<AppState>, who: Identity) -> Result<ReplicationPage, PageError> {
    Ok(page_with(&state, &who, None, None, String::new()).await?)
}

/// `POST /replication/pairing-code` and `POST /api/v1/peers/pairing-code`:
/// a code, shown this once (201).
pub async fn create_code(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    body: Body<CodeBody>,
) -> Result<HttpResponse, PageError> {
    let api = super::is_api_path(req.path());
    match make_code(&state, &who, &req, body.0).await {
        Ok(made) if api => Ok(HttpResponse::Created().json(made)),
        Ok(made) => {
            let page = page_with(&state, &who, Some(made), None, String::new()).await?;
            Ok(super::page::html(201, &page)?)
        }
        Err(e) if api => Ok(super::errors::respond(&req, e)),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict(_))) => {
            let status = if matches!(e, AppError::Conflict(_)) {
                409
            } else {
                422
            };
            let page = page_with(&state, &who, None, Some(e.to_string()), String::new()).await?;
            Ok(super::page::html(status, &page)?)
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /replication/peers` and `POST /api/v1/peers` (`{"code"}`): the
/// pairing job (202 `{"job_id"}`; a form goes to the job's page). A code
/// that does not read, has expired or was made here is refused at once.
pub async fn create_peer(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    body: Body<PairBody>,
) -> Result<HttpResponse, PageError> {
    let text = body.0.code;
    match pair(&state, &who, &req, &text).await {
        Ok(id) => Ok(Answer(Ok(Outcome::job(id))).respond_to(&req)),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict(_)))
            if !super::is_api_path(req.path()) =>
        {
            let status = if matches!(e, AppError::Conflict(_)) {
                409
            } else {
                422
            };
            let page = page_with(&state, &who, None, Some(e.to_string()), text).await?;
            Ok(super::page::html(status, &page)?)
        }
        Err(e) => Ok(super::errors::respond(&req, e)),
    }
}

/// `POST /replication/peers/{name}/remove` and `DELETE /api/v1/peers/{name}`:
/// the removal job.
pub async fn remove_peer(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<String>,
) -> Answer {
    let name = path.into_inner();
    let payload = RemovePayload {
        name: name.clone(),
        by: who.username.clone(),
    };
    let from = client_address(&req);
    let id = state
        .db
        .run(move |conn| {
            conn.write(|c| -> Result<i64, AppError> {
                if peers::peer(c, &name)?.is_none() {
                    return Err(AppError::NotFound(format!("there is no peer {name}")));
                }
                crate::jobs::kinds::remove_peer(c, &payload, &from)
            })
        })
        .await;
    if id.is_ok() {
        state.wake.notify();
    }
    id.map(Outcome::job).into()
}

/// `GET /api/v1/peers`: every peer, by name.
pub async fn api_list(state: web::Data<AppState>) -> Result<HttpResponse, super::ApiError> {
    Ok(HttpResponse::Ok().json(all(&state).await?))
}

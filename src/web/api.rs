//! The JSON API for scripts: system facts, tokens, users, audit, health.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use serde::Deserialize;
use serde_json::json;

use super::account::{issue_token as issue, validate_token_name};
use super::audit::AuditQuery;
use super::login::authenticate;
use super::page::VERSION;
use super::{ApiError, AppState, Identity, client_address, users};
use crate::db;
use crate::error::AppError;

/// `GET /healthz`: 200 when the database answers, 503 with the reason when
/// it does not. No sign-in needed, so a load balancer or monitor can ask.
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let db = state.db.clone();
    let result = tokio::task::spawn_blocking(move || db.ping()).await;
    match result {
        Ok(Ok(())) => HttpResponse::Ok().json(json!({"status": "ok", "database": "ok"})),
        Ok(Err(e)) => HttpResponse::ServiceUnavailable()
            .json(json!({"status": "unavailable", "database": e.to_string()})),
        Err(e) => HttpResponse::ServiceUnavailable()
            .json(json!({"status": "unavailable", "database": e.to_string()})),
    }
}

pub async fn system(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let appliance = state.appliance().await?;
    Ok(HttpResponse::Ok().json(json!({
        "hostname": appliance.as_ref().map(|a| a.hostname.clone()),
        "version": VERSION,
        "backend": state.settings.backend.as_str(),
        "database": state.db.kind(),
        "iqn_prefix": appliance.as_ref().map(|a| a.iqn_prefix()),
        "timezone": appliance.as_ref().map(|a| a.timezone.clone()),
    })))
}

fn basic_credentials(req: &HttpRequest) -> Option<(String, String)> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim_start().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

#[derive(Debug, Default, Deserialize)]
struct TokenRequest {
    #[serde(default)]
    name: Option<String>,
}

/// `POST /api/v1/tokens` with HTTP Basic credentials: returns a new token
/// once. The body, if any, may name it: `{"name": "backup script"}`.
pub async fn issue_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let Some((username, password)) = basic_credentials(&req) else {
        return Err(AppError::Unauthenticated(
            "send the user name and password as HTTP Basic credentials".into(),
        )
        .into());
    };
    let request: TokenRequest = if body.iter().all(u8::is_ascii_whitespace) {
        TokenRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| AppError::BadRequest(format!("the JSON body does not fit: {e}")))?
    };
    let address = client_address(&req);
    let user = authenticate(&state, &username, &password, &address).await?;
    let name = match request.name {
        Some(n) => validate_token_name(&n)?,
        None => format!(
            "API token of {} {}",
            user.username,
            chrono::Utc::now().format("%Y-%m-%d %H:%M")
        ),
    };
    let token = issue(&state, user.id, &user.username, &address, &name).await?;
    Ok(HttpResponse::Created().json(json!({ "token": token, "name": name, "role": user.role() })))
}

pub async fn list_users(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let users = state
        .db
        .run(|conn| -> Result<_, AppError> { Ok(db::auth::list_users(&mut conn.conn())?) })
        .await?;
    let views: Vec<db::auth::UserView> = users.iter().map(db::auth::UserView::from).collect();
    Ok(HttpResponse::Ok().json(views))
}

#[derive(Debug, Deserialize)]
pub struct NewUser {
    username: String,
    password: String,
    role: String,
}

pub async fn create_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    body: web::Json<NewUser>,
) -> Result<HttpResponse, ApiError> {
    let user = users::create_user(
        &state,
        &who,
        &client_address(&req),
        &body.username,
        &body.password,
        &body.role,
    )
    .await?;
    Ok(HttpResponse::Created().json(user))
}

pub async fn delete_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    users::delete_user(&state, &who, &client_address(&req), &path).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn audit(
    state: web::Data<AppState>,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let records = super::audit::load(&state, q.filter()).await?;
    Ok(HttpResponse::Ok().json(records))
}

#[derive(Debug, Deserialize)]
pub struct TokensQuery {
    #[serde(default)]
    user: Option<String>,
}

/// `GET /api/v1/tokens`: the caller's own tokens; an admin sees every
/// user's (`?user=NAME` for one). Never a token's secret or hash.
pub async fn list_tokens(
    state: web::Data<AppState>,
    who: Identity,
    q: web::Query<TokensQuery>,
) -> Result<HttpResponse, ApiError> {
    let owner = if who.role == crate::auth::Role::Admin {
        super::filter_value(&q.user)
    } else {
        if super::filter_value(&q.user).is_some_and(|u| u != who.username) {
            return Err(
                AppError::Forbidden("only an admin can list another user's tokens".into()).into(),
            );
        }
        Some(who.username.clone())
    };
    let tokens = state
        .db
        .run(move |conn| -> Result<_, AppError> {
            Ok(db::auth::list_all_tokens(
                &mut conn.conn(),
                owner.as_deref(),
            )?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(tokens))
}

/// `DELETE /api/v1/tokens/{id}`: revokes one of the caller's tokens, or for
/// an admin anyone's.
pub async fn revoke_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let owner = (who.role != crate::auth::Role::Admin).then_some(who.user_id);
    users::revoke_token(
        &state,
        &who,
        &client_address(&req),
        owner,
        path.into_inner(),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

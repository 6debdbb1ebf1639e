//! The signed-in user's own account: password and API tokens.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::login::authenticate;
use super::page::Frame;
use super::{AppState, Identity, PageError, client_address};
use crate::auth;
use crate::db::{self, auth::Actor, auth::ApiToken};
use crate::error::AppError;

#[derive(Template, WebTemplate)]
#[template(path = "account/page.html")]
pub struct AccountPage {
    pub frame: Frame,
    pub tokens: Vec<ApiToken>,
    pub notice: String,
    pub error: String,
    /// A token just issued, shown this once.
    pub new_token: String,
}

async fn render(
    state: &AppState,
    who: &Identity,
    notice: &str,
    error: &str,
    new_token: &str,
) -> Result<AccountPage, PageError> {
    let user_id = who.user_id;
    let tokens = state
        .db
        .run(move |conn| -> Result<_, AppError> {
            Ok(db::auth::list_tokens(&mut conn.conn(), user_id)?)
        })
        .await?;
    Ok(AccountPage {
        frame: Frame::new(state, who, "Account", "account").await?,
        tokens,
        notice: notice.into(),
        error: error.into(),
        new_token: new_token.into(),
    })
}

fn with_status(page: AccountPage, status: u16) -> Result<HttpResponse, PageError> {
    Ok(super::page::html(status, &page)?)
}

/// A token just issued travels from the POST to the page that shows it in
/// this short-lived cookie (post/redirect/get: a reload issues nothing), and
/// is shown once: the page that shows it removes the cookie.
const NEW_TOKEN_COOKIE: &str = "baystack_new_token";

fn new_token_cookie(value: &str, secure: bool) -> actix_web::cookie::Cookie<'static> {
    let mut c = actix_web::cookie::Cookie::build(NEW_TOKEN_COOKIE, value.to_string())
        .path("/account")
        .http_only(true)
        .same_site(actix_web::cookie::SameSite::Strict)
        .secure(secure)
        .max_age(actix_web::cookie::time::Duration::minutes(2))
        .finish();
    if value.is_empty() {
        c.make_removal();
    }
    c
}

pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
) -> Result<HttpResponse, PageError> {
    let new_token = req
        .cookie(NEW_TOKEN_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|t| t.starts_with("bst_") && t.len() < 100)
        .unwrap_or_default();
    let notice = if new_token.is_empty() {
        ""
    } else {
        "Token issued. Copy it now: it is not shown again."
    };
    let mut resp = with_status(render(&state, &who, notice, "", &new_token).await?, 200)?;
    if req.cookie(NEW_TOKEN_COOKIE).is_some() {
        let _ = resp.add_cookie(&new_token_cookie("", super::gate::is_https(&req)));
    }
    Ok(resp)
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
}

pub async fn change_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    let address = client_address(&req);
    let problem = match authenticate(&state, &who.username, &form.current, &address).await {
        Err(AppError::Unauthenticated(_)) => Some("the current password is wrong".to_string()),
        Err(e @ AppError::Throttled { .. }) => Some(e.public_message()),
        Err(e) => return Err(e.into()),
        Ok(_) => auth::check_new_password(&form.new, &who.username)
            .err()
            .or_else(|| (form.new != form.confirm).then(|| "the two new passwords differ".into())),
    };
    if let Some(problem) = problem {
        return with_status(render(&state, &who, "", &problem, "").await?, 422);
    }
    let pw = form.new.clone();
    let hash = state.hash_work(move || auth::hash_password(&pw)).await?;
    let (username, keep) = (who.username.clone(), who.session_id());
    state
        .db
        .run(move |conn| {
            conn.write(|c| {
                db::auth::set_password(
                    c,
                    Actor {
                        username: &username,
                        address: &address,
                    },
                    &username,
                    &hash,
                    keep,
                    db::now(),
                )
            })
        })
        .await?;
    with_status(
        render(
            &state,
            &who,
            "Your password is changed; your other sessions are signed out and your API tokens \
             are revoked.",
            "",
            "",
        )
        .await?,
        200,
    )
}

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    name: String,
    /// Issuing a token needs the password: a session or token alone (a
    /// stolen one) cannot make itself a longer-lived credential.
    #[serde(default)]
    password: String,
}

pub fn validate_token_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    crate::naming::validate_label(name, 64).map_err(|m| {
        AppError::invalid(
            "name",
            format!("a token's name {m}; 1 to 64 printable characters, such as \"backup script\""),
        )
    })?;
    Ok(name.to_string())
}

/// Issues a token for a user and returns the secret; only its hash is kept.
pub async fn issue_token(
    state: &AppState,
    user_id: i64,
    username: &str,
    address: &str,
    name: &str,
) -> Result<String, AppError> {
    let token = auth::random_secret("bst_");
    let hash = auth::secret_hash(&token);
    let (username, address, name) = (username.to_string(), address.to_string(), name.to_string());
    state
        .db
        .run(move |conn| -> Result<(), AppError> {
            conn.write(|c| -> Result<(), AppError> {
                Ok(db::auth::create_token(
                    c,
                    Actor {
                        username: &username,
                        address: &address,
                    },
                    user_id,
                    &name,
                    &hash,
                    db::now(),
                )?)
            })
        })
        .await?;
    Ok(token)
}

pub async fn create_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, PageError> {
    let address = client_address(&req);
    let problem = match validate_token_name(&form.name) {
        Err(e) => Some(e.public_message()),
        Ok(_) => match authenticate(&state, &who.username, &form.password, &address).await {
            Ok(_) => None,
            Err(AppError::Unauthenticated(_)) => {
                Some("the password is wrong; no token was issued".to_string())
            }
            Err(e @ AppError::Throttled { .. }) => Some(e.public_message()),
            Err(e) => return Err(e.into()),
        },
    };
    if let Some(problem) = problem {
        return with_status(render(&state, &who, "", &problem, "").await?, 422);
    }
    let name = validate_token_name(&form.name)?;
    let token = issue_token(&state, who.user_id, &who.username, &address, &name).await?;
    Ok(HttpResponse::SeeOther()
        .cookie(new_token_cookie(&token, super::gate::is_https(&req)))
        .insert_header((actix_web::http::header::LOCATION, "/account"))
        .finish())
}

pub async fn revoke_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let token_id = path.into_inner();
    super::users::revoke_token(
        &state,
        &who,
        &client_address(&req),
        Some(who.user_id),
        token_id,
    )
    .await?;
    with_status(render(&state, &who, "Token revoked.", "", "").await?, 200)
}

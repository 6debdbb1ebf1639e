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

pub async fn page(state: web::Data<AppState>, who: Identity) -> Result<AccountPage, PageError> {
    render(&state, &who, "", "", "").await
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
            "Your password is changed; your other sessions are signed out.",
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
}

pub fn validate_token_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(AppError::invalid(
            "name",
            "a token's name must be 1 to 64 printable characters, such as \"backup script\"",
        ));
    }
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
    let name = match validate_token_name(&form.name) {
        Ok(n) => n,
        Err(e) => {
            return with_status(
                render(&state, &who, "", &e.public_message(), "").await?,
                422,
            );
        }
    };
    let token = issue_token(
        &state,
        who.user_id,
        &who.username,
        &client_address(&req),
        &name,
    )
    .await?;
    with_status(
        render(
            &state,
            &who,
            "Token issued. Copy it now: it is not shown again.",
            "",
            &token,
        )
        .await?,
        200,
    )
}

pub async fn revoke_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let token_id = path.into_inner();
    let (user_id, username, address) = (who.user_id, who.username.clone(), client_address(&req));
    state
        .db
        .run(move |conn| {
            conn.write(|c| {
                db::auth::delete_token(
                    c,
                    Actor {
                        username: &username,
                        address: &address,
                    },
                    user_id,
                    token_id,
                    db::now(),
                )
            })
        })
        .await?;
    with_status(render(&state, &who, "Token revoked.", "", "").await?, 200)
}

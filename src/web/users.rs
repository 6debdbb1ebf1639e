//! User management (admin only): create, change role, reset a password,
//! delete. The last admin can be neither demoted nor deleted.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::page::Frame;
use super::{AppState, Identity, PageError, client_address};
use crate::auth::{self, Role};
use crate::db::{self, auth::Actor, auth::UserView};
use crate::error::AppError;
use crate::naming;

fn parse_role(text: &str) -> Result<Role, AppError> {
    Role::parse(text.trim()).ok_or_else(|| {
        AppError::invalid(
            "role",
            format!("the role must be admin, operator or viewer, not {text:?}"),
        )
    })
}

/// Validates and creates a user; shared by the page and the API.
pub async fn create_user(
    state: &AppState,
    who: &Identity,
    address: &str,
    username: &str,
    password: &str,
    role: &str,
) -> Result<UserView, AppError> {
    let username = username.trim().to_string();
    naming::validate_username(&username).map_err(|m| AppError::invalid("username", m))?;
    let role = parse_role(role)?;
    auth::check_new_password(password, &username).map_err(|m| AppError::invalid("password", m))?;
    let pw = password.to_string();
    let hash = state.hash_work(move || auth::hash_password(&pw)).await?;
    let (actor, address) = (who.username.clone(), address.to_string());
    let user = state
        .db
        .run(move |conn| {
            conn.write(|c| {
                db::auth::create_user(
                    c,
                    Actor {
                        username: &actor,
                        address: &address,
                    },
                    &username,
                    &hash,
                    role,
                    db::now(),
                )
            })
        })
        .await?;
    Ok(UserView::from(&user))
}

pub async fn delete_user(
    state: &AppState,
    who: &Identity,
    address: &str,
    username: &str,
) -> Result<(), AppError> {
    if username == who.username {
        return Err(AppError::Conflict(
            "you cannot delete the account you are signed in with".into(),
        ));
    }
    let (actor, address, username) = (
        who.username.clone(),
        address.to_string(),
        username.to_string(),
    );
    state
        .db
        .run(move |conn| {
            conn.write(|c| {
                db::auth::delete_user(
                    c,
                    Actor {
                        username: &actor,
                        address: &address,
                    },
                    &username,
                    db::now(),
                )
            })
        })
        .await
}

#[derive(Template, WebTemplate)]
#[template(path = "users/page.html")]
pub struct UsersPage {
    pub frame: Frame,
    pub users: Vec<UserView>,
    pub roles: [Role; 3],
    pub notice: String,
    pub error: String,
    pub form_username: String,
    pub form_role: String,
    /// Every user's API tokens.
    pub tokens: Vec<db::auth::OwnedToken>,
}

async fn render(
    state: &AppState,
    who: &Identity,
    notice: String,
    error: String,
) -> Result<UsersPage, PageError> {
    let (users, tokens) = state
        .db
        .run(|conn| -> Result<_, AppError> {
            let mut c = conn.conn();
            Ok((
                db::auth::list_users(&mut c)?,
                db::auth::list_all_tokens(&mut c, None)?,
            ))
        })
        .await?;
    Ok(UsersPage {
        tokens,
        frame: Frame::new(state, who, "Users", "users").await?,
        users: users.iter().map(UserView::from).collect(),
        roles: Role::ALL,
        notice,
        error,
        form_username: String::new(),
        form_role: "viewer".into(),
    })
}

#[derive(Debug, Deserialize)]
pub struct NoticeQuery {
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    user: Option<String>,
}

fn notice_text(q: &NoticeQuery) -> String {
    let user = q.user.as_deref().unwrap_or("the user");
    match q.done.as_deref() {
        Some("created") => format!("User {user} created."),
        Some("role") => format!("Role of {user} changed."),
        Some("password") => format!(
            "Password of {user} reset; their sessions are signed out and their API tokens revoked."
        ),
        Some("token") => format!("An API token of {user} is revoked."),
        Some("deleted") => format!("User {user} deleted."),
        _ => String::new(),
    }
}

pub async fn page(
    state: web::Data<AppState>,
    who: Identity,
    q: web::Query<NoticeQuery>,
) -> Result<UsersPage, PageError> {
    render(&state, &who, notice_text(&q), String::new()).await
}

fn done(what: &str, user: &str) -> HttpResponse {
    let query = serde_urlencoded::to_string([("done", what), ("user", user)]).unwrap_or_default();
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/users?{query}")))
        .finish()
}

/// A change an admin asked for and the console refused (the last admin
/// demoted) is in the audit log too, as failed.
async fn audit_refusal(
    state: &AppState,
    who: &Identity,
    req: &HttpRequest,
    action: &'static str,
    target: &str,
    e: &AppError,
) {
    if matches!(e, AppError::Internal(_) | AppError::Unavailable(_)) {
        return;
    }
    let (actor, address, target, detail) = (
        who.username.clone(),
        client_address(req),
        target.to_string(),
        e.public_message(),
    );
    let written = state
        .db
        .run(move |conn| -> Result<(), AppError> {
            let entry = db::audit::Entry {
                actor: Some(&actor),
                address: Some(&address),
                action,
                target: Some(&target),
                outcome: db::audit::Outcome::Failed,
                detail: &detail,
            };
            Ok(db::audit::record_alone(conn, &entry, db::now())?)
        })
        .await;
    if let Err(e) = written {
        tracing::error!("could not write the audit record of a refused {action}: {e}");
    }
}

/// Re-renders the page with the error where the user acted; nothing changed.
async fn refused(
    state: &AppState,
    who: &Identity,
    e: AppError,
    keep: Option<(&str, &str)>,
) -> Result<HttpResponse, PageError> {
    if matches!(e, AppError::Internal(_) | AppError::Unavailable(_)) {
        return Err(PageError(e));
    }
    let status = e.status();
    let mut page = render(state, who, String::new(), e.public_message()).await?;
    if let Some((name, role)) = keep {
        page.form_username = name.to_string();
        page.form_role = role.to_string();
    }
    let body = page
        .render()
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(
        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("status"))
            .content_type("text/html; charset=utf-8")
            .body(body),
    )
}

#[derive(Debug, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    form: web::Form<CreateForm>,
) -> Result<HttpResponse, PageError> {
    let keep = Some((form.username.as_str(), form.role.as_str()));
    if form.password != form.confirm {
        return refused(
            &state,
            &who,
            AppError::invalid("confirm", "the two passwords differ"),
            keep,
        )
        .await;
    }
    match create_user(
        &state,
        &who,
        &client_address(&req),
        &form.username,
        &form.password,
        &form.role,
    )
    .await
    {
        Ok(u) => Ok(done("created", &u.username)),
        Err(e) => refused(&state, &who, e, keep).await,
    }
}

#[derive(Debug, Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
}

pub async fn set_role(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<String>,
    form: web::Form<RoleForm>,
) -> Result<HttpResponse, PageError> {
    let username = path.into_inner();
    let role = match parse_role(&form.role) {
        Ok(r) => r,
        Err(e) => return refused(&state, &who, e, None).await,
    };
    let (actor, address, name) = (who.username.clone(), client_address(&req), username.clone());
    let result = state
        .db
        .run(move |conn| {
            conn.write(|c| {
                db::auth::set_role(
                    c,
                    Actor {
                        username: &actor,
                        address: &address,
                    },
                    &name,
                    role,
                    db::now(),
                )
            })
        })
        .await;
    match result {
        Ok(()) => Ok(done("role", &username)),
        Err(e) => {
            audit_refusal(&state, &who, &req, "user.role", &username, &e).await;
            refused(&state, &who, e, None).await
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    password: String,
}

pub async fn reset_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<String>,
    form: web::Form<ResetForm>,
) -> Result<HttpResponse, PageError> {
    let username = path.into_inner();
    if let Err(m) = auth::check_new_password(&form.password, &username) {
        return refused(&state, &who, AppError::invalid("password", m), None).await;
    }
    let pw = form.password.clone();
    let hash = state.hash_work(move || auth::hash_password(&pw)).await?;
    let keep = (username == who.username)
        .then(|| who.session_id())
        .flatten();
    let (actor, address, name) = (who.username.clone(), client_address(&req), username.clone());
    let result = state
        .db
        .run(move |conn| {
            conn.write(|c| {
                db::auth::set_password(
                    c,
                    Actor {
                        username: &actor,
                        address: &address,
                    },
                    &name,
                    &hash,
                    keep,
                    db::now(),
                )
            })
        })
        .await;
    match result {
        Ok(()) => Ok(done("password", &username)),
        Err(e) => refused(&state, &who, e, None).await,
    }
}

pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let username = path.into_inner();
    match delete_user(&state, &who, &client_address(&req), &username).await {
        Ok(()) => Ok(done("deleted", &username)),
        Err(e) => {
            audit_refusal(&state, &who, &req, "user.delete", &username, &e).await;
            refused(&state, &who, e, None).await
        }
    }
}

/// Revokes a token; `owner` is the caller's own user id, or `None` for an
/// admin, who may revoke anyone's. Shared by the pages and the API.
pub async fn revoke_token(
    state: &AppState,
    who: &Identity,
    address: &str,
    owner: Option<i64>,
    token_id: i64,
) -> Result<(), AppError> {
    let (actor, address) = (who.username.clone(), address.to_string());
    state
        .db
        .run(move |conn| {
            conn.write(|c| {
                db::auth::delete_token(
                    c,
                    Actor {
                        username: &actor,
                        address: &address,
                    },
                    owner,
                    token_id,
                    db::now(),
                )
            })
        })
        .await
}

/// `POST /users/{name}/tokens/{id}/revoke`: an admin revokes any user's
/// token.
pub async fn revoke_token_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, PageError> {
    let (username, token_id) = path.into_inner();
    match revoke_token(&state, &who, &client_address(&req), None, token_id).await {
        Ok(()) => Ok(done("token", &username)),
        Err(e) => refused(&state, &who, e, None).await,
    }
}

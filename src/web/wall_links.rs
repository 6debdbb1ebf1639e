//! Wall links: an admin makes a secret URL per NOC screen (named,
//! revocable, listed with when and from where each was last used). The
//! link opens `/noc/w/{key}` and its board and nothing else; the key is
//! shown once, and only its hash is kept.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;
use serde_json::json;

use super::action::{Answer, Body, Outcome};
use super::page::Frame;
use super::{AppState, Identity, PageError, client_address};
use crate::db::{self, audit, wall};
use crate::error::AppError;

#[derive(Debug, Deserialize)]
pub struct NewLink {
    #[serde(default)]
    pub name: Option<String>,
}

fn url_of(req: &HttpRequest, key: &str) -> String {
    let info = req.connection_info();
    format!("{}://{}/noc/w/{key}", info.scheme(), info.host())
}

/// Makes a link, audited; returns it with its key (shown once).
async fn create(
    state: &AppState,
    who: &Identity,
    address: String,
    name: Option<String>,
) -> Result<(wall::WallLink, String), AppError> {
    let name = name.map(|n| n.trim().to_string()).unwrap_or_default();
    crate::naming::validate_label(&name, 64)
        .map_err(|e| AppError::invalid("name", format!("the screen's name {e}")))?;
    let key = crate::auth::random_secret("");
    let hash = crate::auth::secret_hash(&key);
    let user = who.username.clone();
    let link = state
        .db
        .run(move |conn| {
            conn.write(|c| -> Result<wall::WallLink, AppError> {
                let now = db::now();
                let link = wall::create_link(c, &name, &hash, &user, now)?;
                audit::record(
                    c,
                    &audit::Entry {
                        actor: Some(&user),
                        address: Some(&address),
                        action: "wall_link.create",
                        target: Some(&format!("wall link {}", link.id)),
                        outcome: audit::Outcome::Ok,
                        detail: &format!("for the screen {name:?}"),
                    },
                    now,
                )?;
                Ok(link)
            })
        })
        .await?;
    state.wall.forget();
    Ok((link, key))
}

async fn revoke(
    state: &AppState,
    who: &Identity,
    address: String,
    id: i64,
) -> Result<(), AppError> {
    let user = who.username.clone();
    state
        .db
        .run(move |conn| {
            conn.write(|c| -> Result<(), AppError> {
                let Some(link) = wall::link(c, id)? else {
                    return Err(AppError::NotFound(format!("there is no wall link {id}")));
                };
                let now = db::now();
                if !wall::revoke(c, id, now)? {
                    return Err(AppError::Conflict(format!(
                        "the wall link {:?} was revoked already",
                        link.name
                    )));
                }
                audit::record(
                    c,
                    &audit::Entry {
                        actor: Some(&user),
                        address: Some(&address),
                        action: "wall_link.revoke",
                        target: Some(&format!("wall link {id}")),
                        outcome: audit::Outcome::Ok,
                        detail: &format!("the screen {:?}", link.name),
                    },
                    now,
                )?;
                Ok(())
            })
        })
        .await?;
    state.wall.forget();
    Ok(())
}

async fn all(state: &AppState) -> Result<Vec<wall::WallLink>, AppError> {
    state
        .db
        .run(|conn| -> Result<_, AppError> { Ok(wall::links(&mut conn.conn())?) })
        .await
}

#[derive(Template, WebTemplate)]
#[template(path = "noc/links.html")]
pub struct LinksPage {
    pub frame: Frame,
    pub links: Vec<wall::WallLink>,
    /// A link just made: its name and URL, shown this once.
    pub made: Option<(String, String)>,
    pub error: Option<String>,
    pub name: String,
}

async fn links_page(
    state: &AppState,
    who: &Identity,
    made: Option<(String, String)>,
    error: Option<String>,
    name: String,
) -> Result<LinksPage, AppError> {
    Ok(LinksPage {
        frame: Frame::new(state, who, "Wall links", "alerts").await?,
        links: all(state).await?,
        made,
        error,
        name,
    })
}

/// `GET /noc/links`.
pub async fn page(state: web::Data<AppState>, who: Identity) -> Result<LinksPage, PageError> {
    Ok(links_page(&state, &who, None, None, String::new()).await?)
}

/// `POST /noc/links`: the page again, with the new link's URL shown once.
pub async fn create_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    form: web::Form<NewLink>,
) -> Result<HttpResponse, PageError> {
    let name = form.into_inner().name;
    match create(&state, &who, client_address(&req), name.clone()).await {
        Ok((link, key)) => {
            let page = links_page(
                &state,
                &who,
                Some((link.name, url_of(&req, &key))),
                None,
                String::new(),
            )
            .await?;
            Ok(super::page::html(201, &page)?)
        }
        Err(e @ AppError::Invalid { .. }) => {
            let page = links_page(
                &state,
                &who,
                None,
                Some(e.to_string()),
                name.unwrap_or_default(),
            )
            .await?;
            Ok(super::page::html(422, &page)?)
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /noc/links/{id}/revoke` and `DELETE /api/v1/noc-links/{id}`.
pub async fn revoke_link(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<i64>,
) -> Answer {
    let id = path.into_inner();
    revoke(&state, &who, client_address(&req), id)
        .await
        .map(|()| Outcome::removed("/noc/links?done=revoked"))
        .into()
}

/// `GET /api/v1/noc-links`: every link, revoked ones too, never a key.
pub async fn api_list(state: web::Data<AppState>) -> Result<HttpResponse, super::ApiError> {
    Ok(HttpResponse::Ok().json(all(&state).await?))
}

/// `POST /api/v1/noc-links` `{"name"}`: 201 with the link and its `url`
/// and `key`, shown this once.
pub async fn api_create(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    body: Body<NewLink>,
) -> Result<HttpResponse, super::ApiError> {
    let (link, key) = create(&state, &who, client_address(&req), body.0.name).await?;
    let mut v = serde_json::to_value(&link).map_err(|e| AppError::Internal(e.to_string()))?;
    v["url"] = json!(url_of(&req, &key));
    v["path"] = json!(format!("/noc/w/{key}"));
    v["key"] = json!(key);
    Ok(HttpResponse::Created().json(v))
}

/// `GET /api/v1/appliances`: the appliances in the fleet's registry,
/// worst first; one that stopped reporting says so. A registry that cannot
/// be reached is a 503 that says why.
pub async fn api_appliances(state: web::Data<AppState>) -> Result<HttpResponse, super::ApiError> {
    let fleet = state.fleet.clone();
    let rows = web::block(move || fleet.appliances())
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
        .map_err(AppError::Unavailable)?;
    let now = db::now();
    let mut out: Vec<(u8, serde_json::Value)> = rows
        .iter()
        .map(|a| {
            let silent = a.silent(now);
            let rank = match (silent, a.state.as_str()) {
                (_, "red") => 0,
                (true, _) => 1,
                (_, "amber") => 2,
                _ => 3,
            };
            let mut v = serde_json::to_value(a).unwrap_or_default();
            v["reporting"] = json!(!silent);
            (rank, v)
        })
        .collect();
    out.sort_by_key(|(rank, v)| (*rank, v["hostname"].as_str().unwrap_or("").to_string()));
    Ok(HttpResponse::Ok().json(out.into_iter().map(|(_, v)| v).collect::<Vec<_>>()))
}

//! Errors as the API and the browser see them. The API gets
//! `{"error": code, "detail": words}` with the matching status; the browser
//! gets a page, or for an htmx request a fragment that htmx swaps in where
//! the user clicked. A 5xx carries a request id that is also in the log.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use askama::Template;
use serde_json::json;

use crate::error::AppError;

/// Facts about the request in flight that error rendering needs.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    pub id: String,
    pub htmx: bool,
}

tokio::task_local! {
    pub static REQUEST: RequestCtx;
}

fn current() -> RequestCtx {
    REQUEST.try_with(Clone::clone).unwrap_or(RequestCtx {
        id: "-".into(),
        htmx: false,
    })
}

fn log_if_internal(e: &AppError, id: &str) {
    match e {
        AppError::Internal(cause) => tracing::error!(request_id = id, "internal error: {cause}"),
        AppError::Unavailable(cause) => tracing::warn!(request_id = id, "unavailable: {cause}"),
        _ => {}
    }
}

/// An error answered as JSON.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

pub fn json_body(e: &AppError, request_id: &str) -> serde_json::Value {
    let mut body = json!({ "error": e.code(), "detail": e.public_message() });
    match e {
        AppError::Invalid {
            field: Some(field), ..
        } => body["field"] = json!(field),
        AppError::Throttled {
            retry_after_seconds,
            ..
        } => body["retry_after_seconds"] = json!(retry_after_seconds),
        AppError::Internal(_) | AppError::Unavailable(_) => body["request_id"] = json!(request_id),
        _ => {}
    }
    body
}

fn decorate(builder: &mut actix_web::HttpResponseBuilder, e: &AppError, api: bool) {
    if let AppError::Throttled {
        retry_after_seconds,
        ..
    } = e
    {
        builder.insert_header((header::RETRY_AFTER, retry_after_seconds.to_string()));
    }
    if api && matches!(e, AppError::Unauthenticated(_)) {
        builder.insert_header((
            header::WWW_AUTHENTICATE,
            "Bearer realm=\"baystack\", Basic realm=\"baystack\"",
        ));
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let ctx = current();
        log_if_internal(&self.0, &ctx.id);
        let mut b = HttpResponse::build(self.status_code());
        decorate(&mut b, &self.0, true);
        b.json(json_body(&self.0, &ctx.id))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: &'a str,
    request_id: Option<&'a str>,
    /// The console's page the refused form was sent from, to go back to.
    back: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "error_partial.html")]
struct ErrorFragment<'a> {
    message: &'a str,
    request_id: Option<&'a str>,
}

fn title_for(status: u16) -> &'static str {
    match status {
        400 => "Bad request",
        401 => "Not signed in",
        403 => "Not allowed",
        404 => "Not found",
        409 => "Conflict",
        422 => "Cannot accept that",
        429 => "Too many attempts",
        503 => "Unavailable",
        _ => "Something went wrong",
    }
}

/// Renders an error as a page or an htmx fragment.
pub fn html_response(e: &AppError) -> HttpResponse {
    html_response_back(e, None)
}

/// [`html_response`], with a link back to the page a refused form came
/// from.
fn html_response_back(e: &AppError, back: Option<&str>) -> HttpResponse {
    let ctx = current();
    log_if_internal(e, &ctx.id);
    let status = e.status();
    let message = e.public_message();
    let request_id = (status >= 500).then_some(ctx.id.as_str());
    let body = if ctx.htmx {
        ErrorFragment {
            message: &message,
            request_id,
        }
        .render()
    } else {
        ErrorPage {
            status,
            title: title_for(status),
            message: &message,
            request_id,
            back,
        }
        .render()
    }
    .unwrap_or_else(|_| message.clone());
    let mut b = HttpResponse::build(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    );
    decorate(&mut b, e, false);
    b.content_type("text/html; charset=utf-8").body(body)
}

/// An error answered as HTML.
#[derive(Debug)]
pub struct PageError(pub AppError);

impl fmt::Display for PageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: Into<AppError>> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError(e.into())
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        html_response(&self.0)
    }
}

/// An error in the form the request's path calls for.
pub fn respond(req: &HttpRequest, e: AppError) -> HttpResponse {
    if super::is_api_path(req.path()) {
        ApiError(e).error_response()
    } else {
        html_response_back(&e, referring_page(req).as_deref())
    }
}

/// The page of this console a request was sent from (its `Referer`, when
/// that names this host), as a path only.
fn referring_page(req: &HttpRequest) -> Option<String> {
    let referer = req.headers().get(header::REFERER)?.to_str().ok()?;
    let host = req.headers().get(header::HOST)?.to_str().ok()?;
    let rest = referer
        .strip_prefix("https://")
        .or_else(|| referer.strip_prefix("http://"))?;
    let path = rest.strip_prefix(host)?;
    let page = safe_next(Some(path));
    (page == path && page != req.path()).then_some(page)
}

pub async fn not_found(req: HttpRequest) -> HttpResponse {
    let method = req.method().as_str();
    let path = req.path();
    let allowed: Vec<&str> = super::ROUTES
        .iter()
        .filter(|r| super::route_matches(r.path, path))
        .map(|r| r.method)
        .collect();
    if !allowed.is_empty() && !allowed.contains(&method) {
        let mut resp = respond(
            &req,
            AppError::BadRequest(format!(
                "{method} is not allowed here; use {}",
                allowed.join(" or ")
            )),
        );
        *resp.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        resp.headers_mut().insert(
            header::ALLOW,
            header::HeaderValue::from_str(&allowed.join(", ")).expect("method names are ASCII"),
        );
        return resp;
    }
    respond(
        &req,
        AppError::NotFound(format!("there is nothing at {path}")),
    )
}

pub fn json_error(err: actix_web::error::JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let msg = match &err {
        actix_web::error::JsonPayloadError::ContentType => {
            "the request body must be JSON (Content-Type: application/json)".to_string()
        }
        actix_web::error::JsonPayloadError::Deserialize(e) => {
            format!("the JSON body does not fit: {e}")
        }
        other => format!("the JSON body cannot be read: {other}"),
    };
    ApiError(AppError::BadRequest(msg)).into()
}

pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    req: &HttpRequest,
) -> actix_web::Error {
    let e = AppError::BadRequest(format!("the query string does not fit: {err}"));
    if super::is_api_path(req.path()) {
        ApiError(e).into()
    } else {
        PageError(e).into()
    }
}

/// A part of the address that does not fit its route (`/drives/abc`):
/// nothing is there, said in words, as a page or as JSON.
pub fn path_error(err: actix_web::error::PathError, req: &HttpRequest) -> actix_web::Error {
    let e = AppError::NotFound(format!(
        "there is nothing at {}: an id in an address is a number ({err})",
        req.path()
    ));
    if super::is_api_path(req.path()) {
        ApiError(e).into()
    } else {
        PageError(e).into()
    }
}

pub fn form_error(err: actix_web::error::UrlencodedError, _req: &HttpRequest) -> actix_web::Error {
    PageError(AppError::BadRequest(format!(
        "the form cannot be read: {err}"
    )))
    .into()
}

/// Only a path on this console: `/x`, never `//host`, `/\\host`, a full URL,
/// or anything with a control character or white space (browsers drop tabs
/// and newlines, so `/\t/host` would be `//host` to them).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.len() <= 2048
                && !n.chars().any(|c| c.is_control() || c.is_whitespace()) =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_form_links_back_to_its_own_page_only() {
        let from = |referer: &str| {
            let req = actix_web::test::TestRequest::post()
                .uri("/pools/tank/delete")
                .insert_header((header::HOST, "bay01:8080"))
                .insert_header((header::REFERER, referer))
                .to_http_request();
            referring_page(&req)
        };
        assert_eq!(
            from("http://bay01:8080/pools/tank").as_deref(),
            Some("/pools/tank")
        );
        assert_eq!(
            from("https://bay01:8080/pools/tank?x=1").as_deref(),
            Some("/pools/tank?x=1")
        );
        assert_eq!(from("http://evil.example/pools/tank"), None);
        assert_eq!(from("http://bay01:8080//evil.example/x"), None);
        assert_eq!(from("http://bay01:8080.evil.example/x"), None);
        assert_eq!(
            from("http://bay01:8080/pools/tank/delete"),
            None,
            "not itself"
        );
        assert_eq!(from("javascript:alert(1)"), None);
    }

    #[test]
    fn json_errors_carry_code_and_words() {
        let body = json_body(&AppError::invalid("hostname", "the host name is bad"), "r1");
        assert_eq!(body["error"], "invalid_input");
        assert_eq!(body["detail"], "the host name is bad");
        assert_eq!(body["field"], "hostname");
        let body = json_body(&AppError::Internal("secret cause".into()), "r2");
        assert_eq!(body["request_id"], "r2");
        assert!(!body.to_string().contains("secret cause"));
    }
}

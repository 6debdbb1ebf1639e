//! One responder for actions, and one body extractor, so each action is
//! one handler serving its form route and its API route alike: the API
//! gets 202 and `{"job_id"}` (or 200 and what was done), a form gets a
//! redirect (to the job's page unless the action says where), and an error
//! gets the form its path calls for (JSON for the API, a page or an htmx
//! fragment for the browser).

use std::future::Future;
use std::pin::Pin;

use actix_web::body::BoxBody;
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, Responder, web};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::errors;
use super::is_api_path;
use crate::error::AppError;

/// What an action did.
pub struct Outcome {
    status: StatusCode,
    json: serde_json::Value,
    form: FormAnswer,
}

/// Where a form goes after the action.
enum FormAnswer {
    /// To this location.
    Redirect(String),
    /// This response instead (an htmx fragment drawn where the user
    /// clicked).
    Page(HttpResponse),
}

impl Outcome {
    /// A job was enqueued: 202 `{"job_id"}`, and a form goes to the job's
    /// page.
    pub fn job(id: i64) -> Self {
        Outcome {
            status: StatusCode::ACCEPTED,
            json: json!({ "job_id": id }),
            form: FormAnswer::Redirect(format!("/jobs/{id}")),
        }
    }

    /// Done at once: 200 with `json`, and a form goes to `location`.
    pub fn done(json: serde_json::Value, location: impl Into<String>) -> Self {
        Outcome {
            status: StatusCode::OK,
            json,
            form: FormAnswer::Redirect(location.into()),
        }
    }

    /// Something was removed: 204 with no body for the API, and a form
    /// goes to `location`.
    pub fn removed(location: impl Into<String>) -> Self {
        Outcome {
            status: StatusCode::NO_CONTENT,
            json: serde_json::Value::Null,
            form: FormAnswer::Redirect(location.into()),
        }
    }

    /// A form goes to `location` instead.
    pub fn then(mut self, location: impl Into<String>) -> Self {
        self.form = FormAnswer::Redirect(location.into());
        self
    }

    /// A form gets `page` instead.
    pub fn page(mut self, page: HttpResponse) -> Self {
        self.form = FormAnswer::Page(page);
        self
    }
}

/// What an action handler returns.
pub struct Answer(pub Result<Outcome, AppError>);

impl From<Result<Outcome, AppError>> for Answer {
    fn from(r: Result<Outcome, AppError>) -> Self {
        Answer(r)
    }
}

impl Responder for Answer {
    type Body = BoxBody;

    fn respond_to(self, req: &HttpRequest) -> HttpResponse {
        match self.0 {
            Err(e) => errors::respond(req, e),
            Ok(o) if is_api_path(req.path()) && o.status == StatusCode::NO_CONTENT => {
                HttpResponse::NoContent().finish()
            }
            Ok(o) if is_api_path(req.path()) => HttpResponse::build(o.status).json(o.json),
            Ok(o) => match o.form {
                FormAnswer::Redirect(to) => see_other(to),
                FormAnswer::Page(page) => page,
            },
        }
    }
}

/// An action's input: the JSON body on an API route, the form on a page
/// route, each refused in words as its own extractor refuses it.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Body<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if is_api_path(req.path()) {
            let json = web::Json::<T>::from_request(req, payload);
            Box::pin(async move { Ok(Body(json.await?.into_inner())) })
        } else {
            let form = web::Form::<T>::from_request(req, payload);
            Box::pin(async move { Ok(Body(form.await?.into_inner())) })
        }
    }
}

/// 303 to `location`: where a form goes after its action.
pub fn see_other(location: String) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, location))
        .finish()
}

/// A boolean from JSON, or a form's checkbox ("on", "true", "1").
pub fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Text(String),
    }
    Ok(match Flag::deserialize(d)? {
        Flag::Bool(b) => b,
        Flag::Text(t) => matches!(t.as_str(), "on" | "true" | "1" | "yes"),
    })
}

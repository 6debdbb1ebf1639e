//! Jobs: the list, one job with its steps and command log (live through
//! htmx polling until it ends), cancel and retry; the same through the API.
//! Enqueueing is here too: every change the console makes goes through
//! [`enqueue`].

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;
use serde_json::json;

use super::action::{Answer, Outcome, see_other};
use super::page::Frame;
use super::{ApiError, AppState, Identity, PageError, client_address};
use crate::db::{self, audit};
use crate::error::AppError;
use crate::jobs::queue::{self, Cancel};
use crate::jobs::{self, CommandRow, JobFilter, JobSpec, JobState, JobView};

/// Records a job and its audit entry in one transaction, then wakes this
/// process's runner. Returns the job's id.
pub async fn enqueue(
    state: &AppState,
    who: &Identity,
    address: &str,
    spec: JobSpec,
    retry_of: Option<i64>,
) -> Result<i64, AppError> {
    let (user, address) = (who.username.clone(), address.to_string());
    let id = state
        .db
        .run(move |conn| {
            let retry = retry_of.map(|old| format!("retry of job {old}"));
            conn.write(|c| -> Result<i64, AppError> {
                Ok(jobs::enqueue_audited(
                    c,
                    &spec,
                    &user,
                    Some(&address),
                    retry_of,
                    retry.as_deref(),
                )?)
            })
        })
        .await?;
    state.wake.notify();
    Ok(id)
}

#[derive(Debug, Default, Deserialize)]
pub struct JobQuery {
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub resource: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub before: Option<i64>,
    #[serde(default)]
    pub limit: Option<i64>,
}

pub const PAGE_SIZE: i64 = 50;

impl JobQuery {
    pub fn filter(&self) -> Result<JobFilter, AppError> {
        let clean = super::filter_value;
        let state = match clean(&self.state) {
            Some(s) => Some(JobState::parse(&s).ok_or_else(|| {
                AppError::invalid(
                    "state",
                    format!(
                        "the state must be one of queued, running, succeeded, failed, cancelled, interrupted, not {s:?}"
                    ),
                )
            })?),
            None => None,
        };
        Ok(JobFilter {
            state,
            resource: clean(&self.resource),
            requested_by: clean(&self.user),
            before_id: self.before,
            limit: self.limit.unwrap_or(PAGE_SIZE),
        })
    }
}

async fn load_list(state: &AppState, filter: JobFilter) -> Result<Vec<JobView>, AppError> {
    state
        .db
        .run(move |conn| -> Result<_, AppError> { Ok(jobs::list(&mut conn.conn(), &filter)?) })
        .await
}

async fn load_one(state: &AppState, id: i64) -> Result<(JobView, Vec<CommandRow>), AppError> {
    state
        .db
        .run(move |conn| -> Result<_, AppError> {
            let mut c = conn.conn();
            let job = jobs::get(&mut c, id)?
                .ok_or_else(|| AppError::NotFound(format!("there is no job {id}")))?;
            let commands = jobs::commands(&mut c, id)?;
            Ok((job, commands))
        })
        .await
}

/// Cancels a job; returns what happened, in words.
async fn cancel(
    state: &AppState,
    who: &Identity,
    address: &str,
    id: i64,
) -> Result<(Cancel, String), AppError> {
    let (user, address) = (who.username.clone(), address.to_string());
    let outcome = state
        .db
        .run(move |conn| {
            conn.write(|c| -> Result<Cancel, AppError> {
                if jobs::get(c, id)?.is_none() {
                    return Err(AppError::NotFound(format!("there is no job {id}")));
                }
                let now = db::now();
                let outcome = queue::cancel(c, id, &user, now)?;
                let detail = match outcome {
                    Cancel::Cancelled => "cancelled before it ran",
                    Cancel::StopRequested => "asked to stop after its current step",
                    Cancel::AlreadyFinished => "had already finished; nothing changed",
                };
                audit::record(
                    c,
                    &audit::Entry {
                        actor: Some(&user),
                        address: Some(&address),
                        action: "job.cancel",
                        target: Some(&format!("job {id}")),
                        outcome: if outcome == Cancel::AlreadyFinished {
                            audit::Outcome::Failed
                        } else {
                            audit::Outcome::Ok
                        },
                        detail,
                    },
                    now,
                )?;
                Ok(outcome)
            })
        })
        .await?;
    let words = match outcome {
        Cancel::Cancelled => format!("Job {id} is cancelled; it will not run."),
        Cancel::StopRequested => {
            format!("Job {id} is running; it stops after the step it is in.")
        }
        Cancel::AlreadyFinished => {
            return Err(AppError::Conflict(format!(
                "job {id} had already finished; there is nothing to cancel"
            )));
        }
    };
    Ok((outcome, words))
}

/// Enqueues a failed, cancelled or interrupted job again, as a new job.
async fn retry_job(
    state: &AppState,
    who: &Identity,
    address: &str,
    id: i64,
) -> Result<i64, AppError> {
    let (old, _) = load_one(state, id).await?;
    if !matches!(old.job.state(), JobState::Failed | JobState::Cancelled) {
        return Err(AppError::Conflict(format!(
            "job {id} is {}; only a failed or cancelled job can be retried",
            old.job.state
        )));
    }
    enqueue(state, who, address, jobs::spec_of(&old), Some(id)).await
}

// ---- pages ----

#[derive(Template, WebTemplate)]
#[template(path = "jobs/list.html")]
pub struct ListPage {
    pub frame: Frame,
    pub jobs: Vec<JobView>,
    pub states: [JobState; 6],
    pub q_state: String,
    pub q_resource: String,
    pub q_user: String,
    pub older: String,
    /// Every resource jobs have named, with its name in words.
    pub resources: Vec<(String, String)>,
    names: std::collections::HashMap<String, String>,
    /// This very list, for it to refresh itself.
    pub this: String,
}

impl ListPage {
    /// A resource key in words, or the key itself.
    pub fn name_of<'a>(&'a self, key: &'a str) -> &'a str {
        self.names.get(key).map_or(key, String::as_str)
    }
}

pub async fn list_page(
    state: web::Data<AppState>,
    who: Identity,
    q: web::Query<JobQuery>,
) -> Result<ListPage, PageError> {
    let filter = q.filter()?;
    let jobs = load_list(&state, filter.clone()).await?;
    let (keys, names) = state
        .db
        .run(|conn| -> Result<_, AppError> {
            let mut c = conn.conn();
            Ok((
                jobs::known_resources(&mut c)?,
                crate::db::inventory::resource_names(&mut c)?,
            ))
        })
        .await?;
    let resources = keys
        .into_iter()
        .map(|k| {
            let name = names.get(&k).cloned().unwrap_or_else(|| k.clone());
            (k, name)
        })
        .collect();
    let older = match jobs.last() {
        Some(last) if jobs.len() as i64 >= filter.limit => serde_urlencoded::to_string([
            ("state", q.state.clone().unwrap_or_default()),
            ("resource", q.resource.clone().unwrap_or_default()),
            ("user", q.user.clone().unwrap_or_default()),
            ("before", last.job.id.to_string()),
        ])
        .unwrap_or_default(),
        _ => String::new(),
    };
    Ok(ListPage {
        frame: Frame::new(&state, &who, "Jobs", "jobs").await?,
        jobs,
        states: JobState::ALL,
        q_state: q.state.clone().unwrap_or_default(),
        q_resource: q.resource.clone().unwrap_or_default(),
        q_user: q.user.clone().unwrap_or_default(),
        older,
        resources,
        names,
        this: format!(
            "/jobs?{}",
            serde_urlencoded::to_string(
                [
                    ("state", q.state.clone().unwrap_or_default()),
                    ("resource", q.resource.clone().unwrap_or_default()),
                    ("user", q.user.clone().unwrap_or_default()),
                    (
                        "before",
                        q.before.map(|b| b.to_string()).unwrap_or_default()
                    ),
                ]
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .collect::<Vec<_>>()
            )
            .unwrap_or_default()
        ),
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "jobs/detail.html")]
pub struct DetailPage {
    pub frame: Frame,
    pub j: JobView,
    pub commands: Vec<CommandRow>,
    pub notice: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "jobs/live.html")]
pub struct LivePartial {
    pub frame: Frame,
    pub j: JobView,
    pub commands: Vec<CommandRow>,
}

#[derive(Debug, Default, Deserialize)]
pub struct NoticeQuery {
    #[serde(default)]
    done: Option<String>,
}

pub async fn detail_page(
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<i64>,
    q: web::Query<NoticeQuery>,
) -> Result<DetailPage, PageError> {
    let (j, commands) = load_one(&state, path.into_inner()).await?;
    let notice = match q.done.as_deref() {
        Some("cancelled") => "The job is cancelled; it will not run.".into(),
        Some("stopping") => "The job stops after the step it is in.".into(),
        Some("retry") => "This job was enqueued to retry a failed or cancelled one.".into(),
        Some("unblocked") => {
            "The block is cleared; new jobs on what this job worked on are taken again.".into()
        }
        _ => String::new(),
    };
    Ok(DetailPage {
        frame: Frame::new(&state, &who, format!("Job {}", j.job.id), "jobs").await?,
        j,
        commands,
        notice,
    })
}

/// The live part of a job's page; htmx polls it until the job ends.
pub async fn live_partial(
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<i64>,
) -> Result<LivePartial, PageError> {
    let (j, commands) = load_one(&state, path.into_inner()).await?;
    Ok(LivePartial {
        frame: Frame::new(&state, &who, "Job", "jobs").await?,
        j,
        commands,
    })
}

/// 202 `{"job_id": N}`: the answer to an API call that enqueued a job.
pub async fn cancel_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let id = path.into_inner();
    let (outcome, _) = cancel(&state, &who, &client_address(&req), id).await?;
    let done = if outcome == Cancel::Cancelled {
        "cancelled"
    } else {
        "stopping"
    };
    Ok(see_other(format!("/jobs/{id}?done={done}")))
}

// ---- API ----

pub async fn api_list(
    state: web::Data<AppState>,
    q: web::Query<JobQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(load_list(&state, q.filter()?).await?))
}

pub async fn api_get(
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let (j, commands) = load_one(&state, path.into_inner()).await?;
    let mut body = serde_json::to_value(&j).map_err(|e| AppError::Internal(e.to_string()))?;
    body["commands"] = json!(
        commands
            .iter()
            .map(|c| json!({
                "step": c.step,
                "argv": serde_json::from_str::<serde_json::Value>(&c.argv).unwrap_or_default(),
                "exit_code": c.exit_code,
                "signal": c.signal,
                "timed_out": c.timed_out,
                "duration_ms": c.duration_ms,
                "stdout": c.stdout,
                "stderr": c.stderr,
                "truncated": c.truncated,
                "fencing_token": c.fencing_token,
                "at": crate::db::rfc3339(&c.at),
            }))
            .collect::<Vec<_>>()
    );
    Ok(HttpResponse::Ok().json(body))
}

pub async fn api_cancel(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let (outcome, words) = cancel(&state, &who, &client_address(&req), id).await?;
    let state_now = if outcome == Cancel::Cancelled {
        "cancelled"
    } else {
        "running"
    };
    Ok(HttpResponse::Ok().json(json!({"job_id": id, "state": state_now, "detail": words})))
}

/// `POST /jobs/{id}/retry` and `POST /api/v1/jobs/{id}/retry`: a failed
/// or cancelled job again, as a new job; 202 `{"job_id"}`, and a form goes
/// to the new job's page. A job that left its resources blocked hands the
/// block to its retry.
pub async fn retry(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<i64>,
) -> Answer {
    let id = path.into_inner();
    retry_job(&state, &who, &client_address(&req), id)
        .await
        .map(|new| Outcome::job(new).then(format!("/jobs/{new}?done=retry")))
        .into()
}

/// `POST /jobs/{id}/unblock` and `POST /api/v1/jobs/{id}/unblock`: ends
/// the blocks a job that failed part-way left on its resources, once an
/// admin has checked the system; audited. 200 `{"unblocked": [keys]}`; 409
/// when the job holds none.
pub async fn unblock(
    req: HttpRequest,
    state: web::Data<AppState>,
    who: Identity,
    path: web::Path<i64>,
) -> Answer {
    let id = path.into_inner();
    let (user, address) = (who.username.clone(), client_address(&req));
    let cleared = state
        .db
        .run(move |conn| {
            conn.write(|c| -> Result<Vec<String>, AppError> {
                if jobs::get(c, id)?.is_none() {
                    return Err(AppError::NotFound(format!("there is no job {id}")));
                }
                let cleared = jobs::block::clear(c, id)?;
                if cleared.is_empty() {
                    return Err(AppError::Conflict(format!(
                        "job {id} holds no block; there is nothing to clear"
                    )));
                }
                audit::record(
                    c,
                    &audit::Entry {
                        actor: Some(&user),
                        address: Some(&address),
                        action: "job.unblock",
                        target: Some(&format!("job {id}")),
                        outcome: audit::Outcome::Ok,
                        detail: &format!("cleared the block on {}", cleared.join(", ")),
                    },
                    db::now(),
                )?;
                Ok(cleared)
            })
        })
        .await;
    cleared
        .map(|keys| {
            Outcome::done(
                json!({ "unblocked": keys }),
                format!("/jobs/{id}?done=unblocked"),
            )
        })
        .into()
}

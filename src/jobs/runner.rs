//! The job runner: worker threads that claim jobs in order, run their steps
//! through the backend, and record every step and command under their
//! fencing token. A heartbeat thread renews the leases of the jobs this
//! runner holds; a runner that dies stops renewing, and another one resumes
//! its jobs from their last completed step.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::NaiveDateTime;

use super::block;
use super::queue::{self, Claimed, StepEnd};
use super::{JobState, Wake};
use crate::config::AgentSettings;
use crate::db::{self, Conn, Db, DbError};
use crate::storage::cmd::CommandOutput;
use crate::storage::{Backend, BackendError, CommandLog};

/// A kind as the runner sees it, whatever its payload (`jobs::kinds`
/// implements it for every kind; the runner is handed the lookup).
pub trait JobKind: Sync {
    fn name(&self) -> &'static str;
    fn resumable(&self) -> bool;
    fn observed_after(&self) -> bool;
    /// Parses the payload: the job, ready to run its steps.
    fn load(&'static self, payload: &str) -> Result<Box<dyn Loaded>, JobError>;
}

/// A job whose payload is parsed.
pub trait Loaded {
    fn changes(&self, position: i32) -> bool;
    fn run_step(&self, position: i32, ctx: &mut StepCtx<'_>) -> Result<String, JobError>;
}

/// Finds the kind of a job by its name.
pub type FindKind = fn(&str) -> Option<&'static dyn JobKind>;

#[derive(Debug, Clone)]
pub struct RunnerSettings {
    /// Jobs this runner runs at once.
    pub workers: usize,
    /// How long a claim holds without renewal.
    pub lease: Duration,
    /// How often idle workers look for work (besides being woken).
    pub poll: Duration,
    /// Starts (first plus resumptions) after which an interrupted job fails.
    pub max_attempts: i32,
}

impl RunnerSettings {
    /// The runner's part of the agent's settings.
    pub fn from_agent(agent: &AgentSettings) -> Self {
        RunnerSettings {
            workers: agent.workers as usize,
            lease: Duration::from_millis(agent.lease_ms),
            poll: Duration::from_millis(agent.poll_ms),
            max_attempts: i32::try_from(agent.max_attempts).unwrap_or(i32::MAX),
        }
    }
}

impl Default for RunnerSettings {
    fn default() -> Self {
        RunnerSettings {
            workers: 4,
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(250),
            max_attempts: 3,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The step failed, possibly after changing something; the job fails
    /// with this reason (and blocks its resources if its kind says the step
    /// changes what later jobs build on).
    #[error("{0}")]
    Failed(String),
    /// The step failed without changing anything (refused, busy, gone);
    /// the job fails with this reason.
    #[error("{0}")]
    Refused(String),
    /// The job is no longer this runner's: stop without writing anything.
    #[error("this runner no longer holds the job")]
    LeaseLost,
}

impl From<BackendError> for JobError {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::Stopped(_) => JobError::LeaseLost,
            other if other.changed_nothing() => JobError::Refused(other.to_string()),
            other => JobError::Failed(other.to_string()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error("lease lost")]
    LeaseLost,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for RunError {
    fn from(e: diesel::result::Error) -> Self {
        RunError::Db(DbError::Query(e))
    }
}

/// A job this runner holds.
struct Held {
    id: i64,
    token: i64,
    lost: AtomicBool,
    cancel: AtomicBool,
}

type StepWrite = Box<dyn FnOnce(&mut Conn<'_>, NaiveDateTime) -> diesel::QueryResult<()> + Send>;

/// What a step sees of the runner.
pub struct StepCtx<'a> {
    runner: &'a Runner,
    held: &'a Held,
    step: i32,
    pub backend: &'a dyn Backend,
    with_step: Vec<StepWrite>,
}

impl StepCtx<'_> {
    pub fn job_id(&self) -> i64 {
        self.held.id
    }

    pub fn token(&self) -> i64 {
        self.held.token
    }

    pub fn runner_id(&self) -> &str {
        &self.runner.id
    }

    /// Whether the step should stop early (lease lost, or a stop asked).
    pub fn stop_requested(&self) -> bool {
        self.held.lost.load(Ordering::Relaxed) || self.held.cancel.load(Ordering::Relaxed)
    }

    /// Reports progress within the step.
    pub fn progress(&self, percent: i32, message: &str) -> Result<(), JobError> {
        let message = message.to_string();
        let (id, token) = (self.held.id, self.held.token);
        self.runner
            .fenced(self.held, move |c, _| {
                queue::progress(c, id, token, percent, &message).map(|_| ())
            })
            .map_err(|_| JobError::LeaseLost)
    }

    /// Reads what a step needs from the database (what an administrator
    /// asked for, a CHAP secret that must not be in the job's payload), in
    /// a transaction fenced by the job's lease.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&mut Conn<'_>) -> diesel::QueryResult<T>,
    ) -> Result<T, JobError> {
        self.runner
            .fenced(self.held, |c, _| f(c))
            .map_err(|e| match e {
                RunError::LeaseLost => JobError::LeaseLost,
                RunError::Db(e) => {
                    JobError::Refused(format!("the database could not be read: {e}"))
                }
            })
    }

    /// Database writes that commit in the same transaction that marks this
    /// step done, so a step's effect and its completion are one.
    pub fn commit_with_step(
        &mut self,
        f: impl FnOnce(&mut Conn<'_>, NaiveDateTime) -> diesel::QueryResult<()> + Send + 'static,
    ) {
        self.with_step.push(Box::new(f));
    }
}

impl CommandLog for StepCtx<'_> {
    fn record(&mut self, out: &CommandOutput) -> Result<(), BackendError> {
        let (id, token, step) = (self.held.id, self.held.token, self.step);
        self.runner
            .fenced(self.held, |c, _| {
                queue::log_command(c, id, step, token, out, db::now())
            })
            .map_err(|_| BackendError::Stopped("the job's lease was lost".into()))
    }
}

pub struct Runner {
    pub id: String,
    db: Db,
    backend: Arc<dyn Backend>,
    settings: RunnerSettings,
    wake: Arc<Wake>,
    find: FindKind,
    held: Mutex<HashMap<i64, Arc<Held>>>,
    last_sweep_ms: AtomicI64,
    /// Called after every job that may have changed the system, so the
    /// observer looks again.
    after_job: Box<dyn Fn() + Send + Sync>,
}

/// This machine's host name ("host" if it has none that reads as text).
pub fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "host".into())
}

/// `<host>:<pid>:<random>`: unique per process, readable in the job list.
pub fn runner_id() -> String {
    let host = host_name();
    let mut b = [0u8; 3];
    crate::auth::fill_random(&mut b);
    format!("{host}:{}:{}", std::process::id(), crate::domain::hex(&b))
}

impl Runner {
    pub fn new(
        db: Db,
        backend: Arc<dyn Backend>,
        settings: RunnerSettings,
        wake: Arc<Wake>,
        find: FindKind,
        after_job: Box<dyn Fn() + Send + Sync>,
    ) -> Arc<Runner> {
        Arc::new(Runner {
            id: runner_id(),
            db,
            backend,
            settings,
            wake,
            find,
            held: Mutex::new(HashMap::new()),
            last_sweep_ms: AtomicI64::new(0),
            after_job,
        })
    }

    fn lease_until(&self) -> NaiveDateTime {
        db::now() + chrono::Duration::from_std(self.settings.lease).expect("lease fits")
    }

    /// Opens a write transaction whose first statement renews this job's
    /// lease under its fencing token; a stale token refuses everything.
    fn fenced<T>(
        &self,
        held: &Held,
        f: impl FnOnce(&mut Conn<'_>, bool) -> diesel::QueryResult<T>,
    ) -> Result<T, RunError> {
        let mut conn = self.db.get()?;
        let lease_until = self.lease_until();
        let result = conn.write(|c| -> Result<T, RunError> {
            match queue::guard(c, held.id, held.token, lease_until)? {
                None => Err(RunError::LeaseLost),
                Some(cancel) => {
                    held.cancel.store(cancel, Ordering::Relaxed);
                    Ok(f(c, cancel)?)
                }
            }
        });
        if matches!(result, Err(RunError::LeaseLost)) {
            held.lost.store(true, Ordering::Relaxed);
        }
        result
    }

    /// A write transaction fenced by a token-checked statement inside it
    /// (finish or advance) instead of a guard: `f` passes that statement's
    /// answer through [`current`], and when the token is stale everything
    /// `f` wrote is rolled back.
    fn conclude<T>(
        &self,
        held: &Held,
        f: impl FnOnce(&mut Conn<'_>) -> Result<T, RunError>,
    ) -> Result<T, RunError> {
        let mut conn = self.db.get()?;
        let result = conn.write(f);
        if matches!(result, Err(RunError::LeaseLost)) {
            held.lost.store(true, Ordering::Relaxed);
        }
        result
    }

    /// Starts the workers and the heartbeat; they run until `stop` is set.
    pub fn start(self: &Arc<Self>, stop: Arc<AtomicBool>) -> Vec<JoinHandle<()>> {
        let mut handles = Vec::new();
        for n in 0..self.settings.workers.max(1) {
            let (me, stop) = (self.clone(), stop.clone());
            handles.push(
                std::thread::Builder::new()
                    .name(format!("job-worker-{n}"))
                    .spawn(move || me.worker(n, &stop))
                    .expect("spawn worker"),
            );
        }
        let (me, stop) = (self.clone(), stop.clone());
        handles.push(
            std::thread::Builder::new()
                .name("job-heartbeat".into())
                .spawn(move || me.heartbeat(&stop))
                .expect("spawn heartbeat"),
        );
        handles
    }

    fn heartbeat(&self, stop: &AtomicBool) {
        let every = self.settings.lease / 3;
        let mut last_round = std::time::Instant::now();
        while !stop.load(Ordering::Relaxed) {
            // Short sleeps so a stop is noticed soon; renewals every third
            // of a lease.
            std::thread::sleep(every.min(Duration::from_millis(100)));
            if last_round.elapsed() < every {
                continue;
            }
            last_round = std::time::Instant::now();
            let held: Vec<Arc<Held>> = self.held.lock().expect("held").values().cloned().collect();
            for h in held {
                // A fenced transaction with no other statement: the renewal.
                if let Err(RunError::Db(e)) = self.fenced(&h, |_, _| Ok(())) {
                    tracing::warn!("renewing the lease of job {} failed: {e}", h.id);
                }
            }
        }
    }

    fn worker(&self, n: usize, stop: &AtomicBool) {
        let mut seen = self.wake.current();
        while !stop.load(Ordering::Relaxed) {
            match self.claim_next() {
                // Each job's last transaction claims the next one while
                // work is waiting and the runner is not stopping.
                Ok(Some(mut job)) => {
                    while let Some(next) = self.execute(job, stop) {
                        job = next;
                    }
                }
                Ok(None) => seen = self.wake.wait(seen, self.settings.poll),
                Err(e) => {
                    tracing::warn!("job worker {n}: {e}");
                    seen = self.wake.wait(seen, self.settings.poll);
                }
            }
        }
    }

    /// Marks expired leases interrupted, at most every half lease per
    /// runner.
    fn maybe_sweep(&self) -> Result<(), DbError> {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let last = self.last_sweep_ms.load(Ordering::Relaxed);
        let every = (self.settings.lease.as_millis() / 2).max(50) as i64;
        if now_ms - last < every
            || self
                .last_sweep_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return Ok(());
        }
        let mut conn = self.db.get()?;
        let n = conn.write(|c| queue::sweep(c, db::now()))?;
        if n > 0 {
            tracing::warn!("{n} job(s) lost their runner and wait to be resumed");
        }
        Ok(())
    }

    /// Claims and runs one job if one may start. Returns whether it did.
    pub fn run_one(&self) -> Result<bool, DbError> {
        let Some(job) = self.claim_next()? else {
            return Ok(false);
        };
        self.execute(job, &AtomicBool::new(true));
        Ok(true)
    }

    /// Claims the oldest job that may start, in a transaction of its own.
    fn claim_next(&self) -> Result<Option<Claimed>, DbError> {
        self.maybe_sweep()?;
        let mut conn = self.db.get()?;
        let lease_until = self.lease_until();
        Ok(conn.write(|c| queue::claim_next(c, &self.id, lease_until))?)
    }

    /// Puts a claimed job under the heartbeat.
    fn hold(&self, job: &Claimed) -> Arc<Held> {
        let held = Arc::new(Held {
            id: job.id,
            token: job.fencing_token,
            lost: AtomicBool::new(false),
            cancel: AtomicBool::new(false),
        });
        self.held.lock().expect("held").insert(job.id, held.clone());
        held
    }

    /// Runs a claimed job to its end. Returns the next job, claimed in the
    /// transaction that ended this one, unless `stop` is set.
    fn execute(&self, job: Claimed, stop: &AtomicBool) -> Option<Claimed> {
        let held = self.hold(&job);
        // A bug that panics inside a job fails that job, with the reason,
        // instead of leaving it under the heartbeat with no worker.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.drive(&held, &job, stop)
        }))
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let why = format!("the agent hit an internal error running it: {what}");
            self.end(&held, JobState::Failed, Some(&why))
        });
        self.held.lock().expect("held").remove(&job.id);
        let next = match outcome {
            Ok((state, next)) => {
                tracing::debug!("job {} ({}) {}", job.id, job.kind, state.as_str());
                next
            }
            Err(RunError::LeaseLost) => {
                tracing::warn!("job {} is no longer this runner's; left it alone", job.id);
                None
            }
            Err(RunError::Db(e)) => {
                tracing::warn!("job {}: database error: {e}", job.id);
                None
            }
        };
        self.wake.note_change();
        if (self.find)(&job.kind).is_none_or(|k| k.observed_after()) {
            (self.after_job)();
        }
        next
    }

    /// Ends the job without running (more of) it.
    fn end(
        &self,
        held: &Held,
        state: JobState,
        error: Option<&str>,
    ) -> Result<(JobState, Option<Claimed>), RunError> {
        self.conclude(held, |c| {
            current(queue::finish(
                c,
                held.id,
                held.token,
                state,
                error,
                db::now(),
            )?)
        })?;
        Ok((state, None))
    }

    /// Runs the job's steps from the first not done. Each step's writes,
    /// its end and what follows it (the job moved on to the next step, or
    /// the finish, the release and the claim of the next job) commit in one
    /// transaction, in that order.
    fn drive(
        &self,
        held: &Held,
        job: &Claimed,
        stop: &AtomicBool,
    ) -> Result<(JobState, Option<Claimed>), RunError> {
        let Some(kind) = (self.find)(&job.kind) else {
            let why = format!("this agent does not know jobs of kind {:?}", job.kind);
            return self.end(held, JobState::Failed, Some(&why));
        };
        if job.attempts > 1 {
            if !kind.resumable() {
                return self.end(held, JobState::Failed, Some(
                    "it was interrupted part-way and this kind of job is not safe to resume on its own; check the system, then retry it",
                ));
            }
            if job.attempts > self.settings.max_attempts {
                let why = format!(
                    "it was interrupted {} times; giving up instead of trying again",
                    job.attempts - 1
                );
                return self.end(held, JobState::Failed, Some(&why));
            }
        }
        let loaded = match kind.load(&job.payload) {
            Ok(loaded) => loaded,
            Err(e) => return self.end(held, JobState::Failed, Some(&e.to_string())),
        };
        let Some(first) = job.next_step else {
            // Every step committed before the runner was lost: only the
            // finish is left to record.
            return self.end(held, JobState::Succeeded, None);
        };
        let (id, token, total) = (job.id, job.fencing_token, job.total_steps);
        let mut position = first;
        loop {
            // Running, as the job's first step not done, since the claim or
            // the previous step's end.
            let began = db::now();
            let mut ctx = StepCtx {
                runner: self,
                held,
                step: position,
                backend: self.backend.as_ref(),
                with_step: Vec::new(),
            };
            let result = loaded.run_step(position, &mut ctx);
            let writes = std::mem::take(&mut ctx.with_step);
            let detail = match result {
                Ok(detail) => detail,
                Err(JobError::LeaseLost) => return Err(RunError::LeaseLost),
                Err(failure) => {
                    // Half-changed: this step may have changed what it
                    // works on, or an earlier step did.
                    let half = (matches!(failure, JobError::Failed(_)) && loaded.changes(position))
                        || (0..position).any(|done| loaded.changes(done));
                    let why = failure.to_string();
                    let error = format!("step {} failed: {why}", position + 1);
                    self.conclude(held, |c| {
                        let now = db::now();
                        queue::end_step(c, id, position, StepEnd::Failed, &why, began, now)?;
                        queue::skip_rest(c, id, position + 1, "not run: an earlier step failed")?;
                        current(queue::finish(
                            c,
                            id,
                            token,
                            JobState::Failed,
                            Some(&error),
                            now,
                        )?)?;
                        if half {
                            block::set(c, id, &error, now)?;
                        }
                        Ok(())
                    })?;
                    return Ok((JobState::Failed, None));
                }
            };
            let done = position + 1;
            if done == total {
                // The step's writes, its end, the finish and then the
                // release; then the claim of the next job.
                let next = self.conclude(held, |c| {
                    let now = db::now();
                    for w in writes {
                        w(c, now)?;
                    }
                    queue::end_step(c, id, position, StepEnd::Done, &detail, began, now)?;
                    current(queue::finish(c, id, token, JobState::Succeeded, None, now)?)?;
                    block::clear(c, id)?;
                    if stop.load(Ordering::Relaxed) {
                        return Ok(None);
                    }
                    Ok(queue::claim_next(c, &self.id, self.lease_until())?)
                })?;
                return Ok((JobState::Succeeded, next));
            }
            // The step's writes, its end, the job moved on to the next step;
            // or, if a stop was asked for meanwhile, the rest skipped and the
            // job ended.
            let stopped = self.conclude(held, |c| {
                let now = db::now();
                for w in writes {
                    w(c, now)?;
                }
                queue::end_step(c, id, position, StepEnd::Done, &detail, began, now)?;
                let message = format!("step {done} of {total} done");
                let percent = done * 100 / total;
                let stop_asked = queue::advance(c, id, token, done, percent, &message, now)?
                    .ok_or(RunError::LeaseLost)?;
                if stop_asked {
                    let why = format!("stopped at the operator's request before step {}", done + 1);
                    queue::skip_rest(c, id, done, "not run: the job was stopped")?;
                    current(queue::finish(
                        c,
                        id,
                        token,
                        JobState::Cancelled,
                        Some(&why),
                        now,
                    )?)?;
                }
                Ok(stop_asked)
            })?;
            if stopped {
                return Ok((JobState::Cancelled, None));
            }
            position = done;
        }
    }
}

/// Passes on the rows a token-checked statement changed: none means the
/// token is stale and the transaction must roll back.
fn current(changed: usize) -> Result<(), RunError> {
    match changed {
        0 => Err(RunError::LeaseLost),
        _ => Ok(()),
    }
}

//! The queue's guarantees, statement by statement, on SQLite and on
//! PostgreSQL: the claim race, per-resource order, fencing, resumption,
//! cancelling.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use baystack::db::{self, Db};
use baystack::jobs::queue::{self, Cancel};
use baystack::jobs::runner::Runner;
use baystack::jobs::{self, JobSpec, JobState, kinds};
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::both;
use crate::support::{Backend, TestApp};

fn enqueue(db: &Db, spec: &JobSpec) -> i64 {
    db.get()
        .unwrap()
        .write(|c| queue::enqueue(c, spec, "test", None, db::now()))
        .unwrap()
}

fn later(secs: i64) -> NaiveDateTime {
    db::now() + chrono::Duration::seconds(secs)
}

fn claim_next(db: &Db) -> Option<queue::Claimed> {
    db.get()
        .unwrap()
        .write(|c| queue::claim_next(c, "r", later(30)))
        .unwrap()
}

fn claim(db: &Db, id: i64, runner: &str) -> Option<queue::Claimed> {
    db.get()
        .unwrap()
        .write(|c| queue::claim(c, id, runner, later(30)))
        .unwrap()
}

fn job(db: &Db, id: i64) -> jobs::JobView {
    jobs::get(&mut db.get().unwrap().conn(), id)
        .unwrap()
        .unwrap()
}

fn noop_runs(db: &Db, id: i64) -> i64 {
    use baystack::db::schema::noop_runs;
    let mut conn = db.get().unwrap();
    baystack::db_run!(&mut conn.conn(), c => noop_runs::table
        .filter(noop_runs::job_id.eq(id))
        .count()
        .get_result(c))
    .unwrap()
}

fn runner(app: &TestApp, lease: Duration) -> Arc<Runner> {
    app.runner(lease)
}

fn fast_sim(backend: Backend) -> TestApp {
    TestApp::with_settings(backend, |s| s.sim.speed = 100.0)
}

/// Two connections try to start the same job at the same moment: exactly
/// one statement changes the row.
async fn the_claim_has_exactly_one_winner(backend: Backend) {
    let app = TestApp::new(backend);
    for round in 0..20 {
        let id = enqueue(app.db(), &kinds::noop(vec![format!("pool:p{round}")], 0, 1));
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|who| {
                let (db, barrier) = (app.db().clone(), barrier.clone());
                std::thread::spawn(move || {
                    let mut conn = db.get().unwrap();
                    barrier.wait();
                    conn.write(|c| queue::claim(c, id, who, later(30)))
                        .unwrap()
                        .is_some()
                })
            })
            .collect();
        let wins: Vec<bool> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(
            wins.iter().filter(|w| **w).count(),
            1,
            "round {round}: {wins:?}"
        );
        assert_eq!(job(app.db(), id).job.fencing_token, 1);
    }
}

/// Per resource, one at a time in enqueue order; disjoint resources side by
/// side.
async fn jobs_sharing_a_resource_wait_their_turn(backend: Backend) {
    let app = TestApp::new(backend);
    let db = app.db();
    let a = enqueue(db, &kinds::noop(vec!["pool:tank".into()], 0, 1));
    let b = enqueue(
        db,
        &kinds::noop(vec!["pool:tank".into(), "volume:db01".into()], 0, 1),
    );
    let c = enqueue(db, &kinds::noop(vec!["pool:other".into()], 0, 1));
    let d = enqueue(db, &kinds::noop(vec!["volume:db01".into()], 0, 1));
    assert!(claim(db, b, "r").is_none(), "b cannot jump the queue");
    assert!(claim(db, d, "r").is_none(), "nor can d");
    let ca = claim_next(db).unwrap();
    assert_eq!(ca.id, a, "the oldest first");
    assert_eq!(
        claim_next(db).map(|j| j.id),
        Some(c),
        "disjoint: runs beside a"
    );
    assert!(claim_next(db).is_none(), "b waits for a, d waits for b");
    assert!(claim(db, b, "r").is_none(), "a is still running");
    db.get()
        .unwrap()
        .write(|c| queue::finish(c, a, ca.fencing_token, JobState::Succeeded, None, db::now()))
        .unwrap();
    assert!(claim(db, d, "r").is_none(), "b is earlier on volume:db01");
    assert_eq!(
        claim_next(db).map(|j| j.id),
        Some(b),
        "a finished: b's turn"
    );
}

/// A long line on one resource does not hold up a job on another: the
/// claim walks past every waiting job that must wait.
async fn a_long_line_does_not_hold_up_other_resources(backend: Backend) {
    let app = TestApp::new(backend);
    let db = app.db();
    let first = enqueue(db, &kinds::noop(vec!["pool:tank".into()], 0, 1));
    for _ in 0..50 {
        enqueue(db, &kinds::noop(vec!["pool:tank".into()], 0, 1));
    }
    let other = enqueue(db, &kinds::noop(vec!["volume:db01".into()], 0, 1));
    assert_eq!(claim_next(db).map(|j| j.id), Some(first));
    assert_eq!(claim_next(db).map(|j| j.id), Some(other), "beside the line");
    assert!(claim_next(db).is_none(), "the rest wait for the first");
}

/// A runner that lost its lease is refused by the statements themselves.
async fn a_stale_fencing_token_is_refused(backend: Backend) {
    let app = TestApp::new(backend);
    let db = app.db();
    let id = enqueue(db, &kinds::noop(vec!["pool:tank".into()], 0, 1));
    let first = db
        .get()
        .unwrap()
        .write(|c| queue::claim(c, id, "old", later(-1)))
        .unwrap()
        .unwrap();
    // The lease has run out: the sweep interrupts the job and moves the
    // token on.
    let swept = db
        .get()
        .unwrap()
        .write(|c| queue::sweep(c, db::now()))
        .unwrap();
    assert_eq!(swept, 1);
    let view = job(db, id);
    assert_eq!(view.job.state, "interrupted");
    assert_eq!(view.job.fencing_token, first.fencing_token + 1);
    assert!(
        view.job
            .error
            .unwrap()
            .contains("runner old stopped renewing its lease")
    );
    // Everything the old runner tries now changes nothing.
    let mut conn = db.get().unwrap();
    let guard = conn
        .write(|c| queue::guard(c, id, first.fencing_token, later(30)))
        .unwrap();
    assert_eq!(guard, None);
    let n = conn
        .write(|c| {
            queue::finish(
                c,
                id,
                first.fencing_token,
                JobState::Succeeded,
                None,
                db::now(),
            )
        })
        .unwrap();
    assert_eq!(n, 0);
    let n = conn
        .write(|c| queue::progress(c, id, first.fencing_token, 50, "half"))
        .unwrap();
    assert_eq!(n, 0);
    // A new runner takes it over with a higher token still.
    let second = claim(db, id, "new").unwrap();
    assert_eq!(second.fencing_token, first.fencing_token + 2);
    assert_eq!(second.attempts, 2);
    // ... and the old token stays refused while the new owner runs it: no
    // renewal, no progress, no finish.
    let guard = conn
        .write(|c| queue::guard(c, id, first.fencing_token, later(30)))
        .unwrap();
    assert_eq!(guard, None);
    let n = conn
        .write(|c| queue::progress(c, id, first.fencing_token, 99, "stale"))
        .unwrap();
    assert_eq!(n, 0);
    let n = conn
        .write(|c| {
            queue::finish(
                c,
                id,
                first.fencing_token,
                JobState::Succeeded,
                None,
                db::now(),
            )
        })
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(job(db, id).job.state, "running", "still the new owner's");
    assert_eq!(
        conn.write(|c| queue::guard(c, id, second.fencing_token, later(30)))
            .unwrap(),
        Some(false)
    );
}

/// An interrupted job resumes from its last completed step: done steps are
/// not run again.
async fn an_interrupted_job_resumes_after_its_last_completed_step(backend: Backend) {
    let app = fast_sim(backend);
    let db = app.db();
    let id = enqueue(
        db,
        &kinds::noop(vec!["pool:tank".into(), "bay:x:1".into()], 0, 3),
    );
    // A runner starts it, completes step 1 (its effect commits with it),
    // starts step 2 and dies.
    let dead = db
        .get()
        .unwrap()
        .write(|c| queue::claim(c, id, "dead", later(-1)))
        .unwrap()
        .unwrap();
    db.get()
        .unwrap()
        .write(|c| -> QueryResult<()> {
            use baystack::db::schema::noop_runs;
            baystack::db_run!(c, c => diesel::insert_into(noop_runs::table)
                .values((
                    noop_runs::job_id.eq(id),
                    noop_runs::resource.eq("pool:tank"),
                    noop_runs::fencing_token.eq(dead.fencing_token),
                    noop_runs::runner.eq("dead"),
                    noop_runs::at.eq(db::now()),
                ))
                .execute(c))?;
            let now = db::now();
            queue::end_step(c, id, 0, queue::StepEnd::Done, "did it", now, now)?;
            queue::advance(c, id, dead.fencing_token, 1, 33, "step 1 of 3 done", now)?;
            Ok(())
        })
        .unwrap();
    let r = runner(&app, Duration::from_secs(30));
    assert!(
        r.run_one().unwrap(),
        "the sweep finds it and the runner resumes it"
    );
    let view = job(db, id);
    assert_eq!(view.job.state, "succeeded", "{:?}", view.job.error);
    assert_eq!(view.job.attempts, 2);
    assert_eq!(view.job.progress_percent, 100);
    assert_eq!(view.steps[0].detail, "did it", "step 1 was not run again");
    assert!(view.steps.iter().all(|s| s.state == "done"));
    // One row for step 1 (one resource, inserted by hand) and two rows for
    // each of steps 2 and 3.
    assert_eq!(noop_runs(db, id), 1 + 2 + 2);
}

/// A job interrupted again and again is failed, with the reason.
async fn a_job_interrupted_too_often_fails_with_the_reason(backend: Backend) {
    let app = fast_sim(backend);
    let db = app.db();
    let id = enqueue(db, &kinds::noop(vec!["pool:tank".into()], 0, 1));
    for n in 0..3 {
        let claimed = db
            .get()
            .unwrap()
            .write(|c| queue::claim(c, id, &format!("dies-{n}"), later(-1)))
            .unwrap();
        assert!(claimed.is_some());
        db.get()
            .unwrap()
            .write(|c| queue::sweep(c, db::now()))
            .unwrap();
    }
    let r = runner(&app, Duration::from_secs(30));
    assert!(r.run_one().unwrap());
    let view = job(db, id);
    assert_eq!(view.job.state, "failed");
    assert!(
        view.job
            .error
            .as_deref()
            .unwrap()
            .contains("interrupted 3 times"),
        "{:?}",
        view.job.error
    );
    assert_eq!(
        noop_runs(db, id),
        0,
        "it was never run to the end, and not now either"
    );
}

/// Cancelling a queued job: it never runs, whoever asks first.
async fn a_queued_job_can_be_cancelled(backend: Backend) {
    let app = fast_sim(backend);
    let db = app.db();
    let id = enqueue(db, &kinds::noop(vec!["pool:tank".into()], 0, 1));
    let next = enqueue(db, &kinds::noop(vec!["pool:tank".into()], 0, 1));
    let outcome = db
        .get()
        .unwrap()
        .write(|c| queue::cancel(c, id, "ops", db::now()))
        .unwrap();
    assert_eq!(outcome, Cancel::Cancelled);
    assert!(claim(db, id, "r").is_none());
    let again = db
        .get()
        .unwrap()
        .write(|c| queue::cancel(c, id, "ops", db::now()))
        .unwrap();
    assert_eq!(again, Cancel::AlreadyFinished);
    let view = job(db, id);
    assert_eq!(view.job.state, "cancelled");
    assert!(view.job.finished_at.is_some());
    // The cancelled job no longer holds up the next one on its resource.
    assert_eq!(claim_next(db).map(|j| j.id), Some(next));
}

/// Cancel and claim racing on one queued job: exactly one of them wins.
async fn cancel_and_claim_race_has_one_winner(backend: Backend) {
    let app = TestApp::new(backend);
    for round in 0..20 {
        let id = enqueue(app.db(), &kinds::noop(vec![format!("pool:r{round}")], 0, 1));
        let barrier = Arc::new(Barrier::new(2));
        let (db1, b1) = (app.db().clone(), barrier.clone());
        let claimer = std::thread::spawn(move || {
            let mut conn = db1.get().unwrap();
            b1.wait();
            conn.write(|c| queue::claim(c, id, "r", later(30)))
                .unwrap()
                .is_some()
        });
        let (db2, b2) = (app.db().clone(), barrier.clone());
        let canceller = std::thread::spawn(move || {
            let mut conn = db2.get().unwrap();
            b2.wait();
            conn.write(|c| queue::cancel(c, id, "ops", db::now()))
                .unwrap()
        });
        let claimed = claimer.join().unwrap();
        let cancel = canceller.join().unwrap();
        let state = job(app.db(), id).job.state;
        match (claimed, cancel) {
            (true, Cancel::StopRequested) => assert_eq!(state, "running"),
            (false, Cancel::Cancelled) => assert_eq!(state, "cancelled"),
            other => panic!("round {round}: both or neither won: {other:?}, state {state}"),
        }
    }
}

/// A running job asked to stop finishes its current step and stops before
/// the next.
async fn a_running_job_stops_between_steps(backend: Backend) {
    let app = fast_sim(backend);
    let db = app.db().clone();
    let id = enqueue(&db, &kinds::noop(vec!["pool:tank".into()], 300, 4));
    let r = runner(&app, Duration::from_secs(30));
    let stop = Arc::new(AtomicBool::new(false));
    let threads = r.start(stop.clone());
    let started = Instant::now();
    while !job(&db, id).steps.iter().any(|s| s.state == "running") {
        assert!(started.elapsed() < Duration::from_secs(10), "never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    let outcome = db
        .get()
        .unwrap()
        .write(|c| queue::cancel(c, id, "ops", db::now()))
        .unwrap();
    assert_eq!(outcome, Cancel::StopRequested);
    while !JobState::parse(&job(&db, id).job.state)
        .unwrap()
        .is_finished()
    {
        assert!(started.elapsed() < Duration::from_secs(10), "never stopped");
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let view = job(&db, id);
    assert_eq!(view.job.state, "cancelled");
    assert!(
        view.job
            .error
            .unwrap()
            .contains("stopped at the operator's request")
    );
    let states: Vec<&str> = view.steps.iter().map(|s| s.state.as_str()).collect();
    assert!(states.contains(&"done"), "{states:?}");
    assert!(states.contains(&"skipped"), "{states:?}");
    assert!(
        !states.contains(&"running") && !states.contains(&"pending"),
        "{states:?}"
    );
    let done = states.iter().filter(|s| **s == "done").count() as i64;
    assert_eq!(
        noop_runs(&db, id),
        done,
        "the steps that ran left their mark once"
    );
}

/// The bay identify job through the runner and the simulated enclosure.
async fn a_locate_job_lights_the_bay(backend: Backend) {
    let app = fast_sim(backend);
    app.observe();
    let inv = baystack::commands::engine(&app.settings, std::sync::Arc::new(app.clock.clone()))
        .unwrap()
        .inventory()
        .unwrap();
    let encl = &inv.enclosures[0];
    let id = enqueue(
        app.db(),
        &kinds::locate(
            &baystack::domain::BayAddr::new(encl.ident.clone(), 5),
            &encl.label,
            true,
        ),
    );
    let r = runner(&app, Duration::from_secs(30));
    assert!(r.run_one().unwrap());
    let view = job(app.db(), id);
    assert_eq!(view.job.state, "succeeded", "{:?}", view.job.error);
    assert_eq!(view.resources, vec![format!("bay:{}:5", encl.ident)]);
    assert_eq!(
        view.steps[1].detail,
        "the enclosure reports the identify LED on"
    );
    let inv = baystack::commands::engine(&app.settings, std::sync::Arc::new(app.clock.clone()))
        .unwrap()
        .inventory()
        .unwrap();
    assert!(
        inv.enclosures[0].slots[5].locate,
        "persisted by the simulator"
    );
    // Asked again, it says the LED was already on and succeeds.
    let again = enqueue(
        app.db(),
        &kinds::locate(
            &baystack::domain::BayAddr::new(encl.ident.clone(), 5),
            &encl.label,
            true,
        ),
    );
    assert!(r.run_one().unwrap());
    assert!(job(app.db(), again).steps[0].detail.contains("already on"));
    // A bay that does not exist fails the job, in words.
    let bad = enqueue(
        app.db(),
        &kinds::locate(
            &baystack::domain::BayAddr::new(encl.ident.clone(), 40),
            &encl.label,
            true,
        ),
    );
    assert!(r.run_one().unwrap());
    let view = job(app.db(), bad);
    assert_eq!(view.job.state, "failed");
    assert!(view.job.error.unwrap().contains("has no slot 40"));
}

/// A job that fails part-way after changing the system blocks its
/// resources: the jobs waiting on them are cancelled saying why, new ones
/// are refused in words, other resources carry on, and a retry takes the
/// block over and ends it by succeeding. A failure before any change
/// blocks nothing.
async fn a_half_failed_job_blocks_its_resources_until_retried(backend: Backend) {
    use baystack::jobs::kinds::{NoopPayload, noop_payload};
    use baystack::jobs::{EnqueueError, block};
    let app = TestApp::new(backend);
    let db = app.db();
    let half = |fail_at, changes_from| {
        noop_payload(
            NoopPayload {
                resources: vec!["pool:tank".into()],
                record: true,
                fail_at: Some(fail_at),
                changes_from: Some(changes_from),
                ..NoopPayload::default()
            },
            3,
        )
    };
    let audited = |spec: &JobSpec, retry_of| {
        db.get()
            .unwrap()
            .write(|c| jobs::enqueue_audited(c, spec, "test", None, retry_of, None))
    };
    let r = runner(&app, Duration::from_secs(30));

    // Failing before its first change: nothing is blocked.
    let clean = enqueue(db, &half(0, 1));
    assert!(r.run_one().unwrap());
    assert_eq!(job(db, clean).job.state, "failed");
    assert!(job(db, clean).blocks.is_empty());

    // Failing after one: blocked, and the job waiting behind it cancelled.
    let failing = enqueue(db, &half(1, 0));
    let waiting = enqueue(db, &kinds::noop(vec!["pool:tank".into()], 0, 1));
    assert!(r.run_one().unwrap());
    let view = job(db, failing);
    assert_eq!(view.job.state, "failed");
    assert_eq!(view.blocks.len(), 1, "{:?}", view.blocks);
    assert_eq!(view.blocks[0].resource, "pool:tank");
    assert!(
        view.blocks[0]
            .reason
            .contains("step 2 failed: failed, as asked")
    );
    let view = job(db, waiting);
    assert_eq!(view.job.state, "cancelled");
    assert!(
        view.job
            .error
            .unwrap()
            .contains(&format!("job {failing} failed part-way")),
        "the cancelled job says why"
    );
    assert!(!r.run_one().unwrap(), "nothing left to run");

    // New jobs on it are refused in words; others carry on.
    let refused = audited(
        &kinds::noop(vec!["pool:tank".into(), "drive:x".into()], 0, 1),
        None,
    );
    match refused {
        Err(EnqueueError::Blocked(blocks)) => {
            let words = EnqueueError::Blocked(blocks).to_string();
            assert!(
                words.contains(&format!(
                    "pool:tank is blocked: job {failing} failed part-way"
                )),
                "{words}"
            );
        }
        other => panic!("refused, not {other:?}"),
    }
    let other = audited(&kinds::noop(vec!["pool:other".into()], 0, 1), None).unwrap();
    assert!(r.run_one().unwrap());
    assert_eq!(job(db, other).job.state, "succeeded");

    // A retry is let through and takes the block over ...
    let fixed = kinds::noop(vec!["pool:tank".into()], 0, 2);
    let retry = audited(&fixed, Some(failing)).unwrap();
    assert!(job(db, failing).blocks.is_empty());
    assert_eq!(job(db, retry).blocks.len(), 1);
    // ... which ends when it succeeds.
    assert!(r.run_one().unwrap());
    assert_eq!(job(db, retry).job.state, "succeeded");
    let left = block::all(&mut db.get().unwrap().conn()).unwrap();
    assert!(left.is_empty(), "{left:?}");
    audited(&kinds::noop(vec!["pool:tank".into()], 0, 1), None).expect("unblocked");
}

both!(
    a_half_failed_job_blocks_its_resources_until_retried,
    the_claim_has_exactly_one_winner,
    jobs_sharing_a_resource_wait_their_turn,
    a_long_line_does_not_hold_up_other_resources,
    a_stale_fencing_token_is_refused,
    an_interrupted_job_resumes_after_its_last_completed_step,
    a_job_interrupted_too_often_fails_with_the_reason,
    a_queued_job_can_be_cancelled,
    cancel_and_claim_race_has_one_winner,
    a_running_job_stops_between_steps,
    a_locate_job_lights_the_bay,
);

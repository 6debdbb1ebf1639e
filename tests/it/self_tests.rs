//! SMART self-tests: started from the API and the drive's page as jobs,
//! refused in words for bad input, one at a time per drive, shown in the
//! drive's log when done, and started on a schedule.

use std::time::Duration;

use diesel::prelude::*;

use crate::both;
use crate::support::{ADMIN_PASSWORD, Backend, TestApp};

fn fast(backend: Backend) -> TestApp {
    // A simulated short test takes 120 s / 100.
    TestApp::with_settings(backend, |s| s.sim.speed = 100.0)
}

fn run_one(app: &TestApp) {
    assert!(app.runner(Duration::from_secs(30)).run_one().unwrap());
}

async fn a_self_test_runs_and_shows_in_the_drive_log(backend: Backend) {
    let app = fast(backend);
    app.observe();
    let sim = app.sim();
    baystack::smart::poll_once(app.db(), &sim, 3).unwrap();
    let mut c = app.client().await;
    c.setup_as_admin().await;
    let drive = c.get("/api/v1/drives").await.json()[0].clone();
    let id = drive["id"].as_i64().unwrap();
    assert_eq!(drive["short_test_at"], serde_json::Value::Null);

    // Bad input: a clear error, and no job.
    for (path, body, says) in [
        (
            format!("/api/v1/drives/{id}/selftest"),
            r#"{"kind": "quick"}"#,
            "not \\\"quick\\\"",
        ),
        (
            "/api/v1/drives/abc/selftest".into(),
            r#"{"kind": "short"}"#,
            "a drive id is a number",
        ),
        (
            "/api/v1/drives/99999/selftest".into(),
            r#"{"kind": "short"}"#,
            "there is no drive 99999",
        ),
    ] {
        let r = c.post_json(&path, body).await;
        assert!(r.status.is_client_error(), "{path}: {}", r.status);
        assert!(r.text().contains(says), "{path}: {}", r.text());
    }
    assert_eq!(
        c.get("/api/v1/jobs").await.json().as_array().unwrap().len(),
        0
    );

    let r = c
        .post_json(
            &format!("/api/v1/drives/{id}/selftest"),
            r#"{"kind": "short"}"#,
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let job_id = r.json()["job_id"].as_i64().unwrap();
    run_one(&app);
    let job = c.get(&format!("/api/v1/jobs/{job_id}")).await.json();
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(
        job["resources"][0],
        format!("drive:{}", drive["ident"].as_str().unwrap())
    );
    assert!(
        job["steps"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("began its short self-test")
    );
    let drive = c.get(&format!("/api/v1/drives/{id}")).await.json();
    assert!(drive["short_test_at"].is_string(), "{drive}");

    // While it runs, the reading says so, and a second test is refused.
    baystack::smart::poll_once(app.db(), &sim, 3).unwrap();
    let page = c.get(&format!("/drives/{id}")).await.text();
    assert!(page.contains("Running now: short test, "), "{page}");
    assert!(page.contains("% remaining"), "{page}");
    let r = c
        .post_json(
            &format!("/api/v1/drives/{id}/selftest"),
            r#"{"kind": "long"}"#,
        )
        .await;
    let second = r.json()["job_id"].as_i64().unwrap();
    run_one(&app);
    let job = c.get(&format!("/api/v1/jobs/{second}")).await.json();
    assert_eq!(job["state"], "failed", "{job}");
    assert!(
        job["error"]
            .as_str()
            .unwrap()
            .contains("is running a short self-test"),
        "{job}"
    );

    // Done: in the log, newest first.
    app.clock.advance(Duration::from_secs(2));
    baystack::smart::poll_once(app.db(), &sim, 3).unwrap();
    let drive = c.get(&format!("/api/v1/drives/{id}")).await.json();
    assert_eq!(drive["smart"]["self_test_running"], serde_json::Value::Null);
    assert_eq!(
        drive["smart"]["self_tests"][0]["result"],
        "Completed without error"
    );
    let page = c.get(&format!("/drives/{id}")).await.text();
    assert!(page.contains("Short offline"), "{page}");
    assert!(page.contains("Start a long self-test"), "{page}");
}

/// The drive page's buttons post a form and land on the job's page.
async fn the_drive_page_starts_a_test(backend: Backend) {
    let app = fast(backend);
    app.observe();
    let mut c = app.client().await;
    c.setup().await;
    c.login("admin", ADMIN_PASSWORD).await;
    let page = c.get("/drives/1").await.text();
    let csrf = crate::support::csrf_from_page(&page);
    let r = c
        .post_form(
            "/drives/1/selftest",
            &[("csrf_token", &csrf), ("kind", "long")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text());
    let to = r
        .headers
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(to.starts_with("/jobs/"), "{to}");
    assert!(c.get(&to).await.text().contains("Long SMART self-test"));
    let r = c
        .post_form(
            "/drives/1/selftest",
            &[("csrf_token", &csrf), ("kind", "forever")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.text().contains("a self-test is"), "{}", r.text());
}

/// The schedule starts no test on a drive first seen today, a short and
/// (one at a time) a long test once they are due, and none while a test's
/// job is open or once started.
async fn self_tests_are_scheduled(backend: Backend) {
    use baystack::db::schema::drives;
    let app = fast(backend);
    app.observe();
    let sim = app.sim();
    baystack::smart::poll_once(app.db(), &sim, 3).unwrap();
    let schedule = || baystack::smart::schedule_self_tests(app.db(), 1, 28).unwrap();
    assert_eq!(schedule(), 0, "not on the first day");

    let mut conn = app.db().get().unwrap();
    let long_ago = baystack::db::now() - chrono::Duration::days(30);
    baystack::db_run!(&mut conn.conn(), c => diesel::update(drives::table)
        .set(drives::first_seen_at.eq(long_ago))
        .execute(c))
    .unwrap();
    // Ten drives: one long test, and short tests for the nine others.
    assert_eq!(schedule(), 10);
    assert_eq!(schedule(), 0, "their jobs are open");
    // Marked when asked for, before any job ran: a drive that refuses the
    // test is not asked again every round.
    let asked: i64 = baystack::db_run!(&mut conn.conn(), c => drives::table
        .filter(drives::short_test_at.is_not_null().or(drives::long_test_at.is_not_null()))
        .count()
        .get_result(c))
    .unwrap();
    assert_eq!(asked, 10);
    for _ in 0..10 {
        run_one(&app);
    }
    baystack::smart::poll_once(app.db(), &sim, 3).unwrap();
    assert_eq!(schedule(), 0, "tests running, short ones started today");
    // A day later (the short tests done), each drive is due a short test
    // again and the next drive its long one.
    app.clock.advance(Duration::from_secs(2));
    baystack::smart::poll_once(app.db(), &sim, 3).unwrap();
    let yesterday = baystack::db::now() - chrono::Duration::days(2);
    baystack::db_run!(&mut conn.conn(), c => diesel::update(drives::table.filter(drives::short_test_at.is_not_null()))
        .set(drives::short_test_at.eq(yesterday))
        .execute(c))
    .unwrap();
    let kinds: Vec<String> = {
        use baystack::db::schema::jobs;
        let n = schedule();
        assert_eq!(n, 9, "eight short tests and the next long one");
        baystack::db_run!(&mut conn.conn(), c => jobs::table
            .filter(jobs::state.eq("queued"))
            .select(jobs::summary)
            .load::<String>(c))
        .unwrap()
    };
    assert_eq!(
        kinds.iter().filter(|k| k.starts_with("Long")).count(),
        1,
        "{kinds:?}"
    );
}

/// Between rounds the agent reads only drives that appeared since the
/// last one: each newcomer once, the others not.
async fn newcomers_are_read_between_rounds(backend: Backend) {
    let app = fast(backend);
    app.observe();
    let sim = app.sim();
    let round = baystack::smart::poll_once(app.db(), &sim, 3).unwrap();
    assert!(round.drives > 1);
    assert_eq!(round.drives, round.present.len());
    let mut known: std::collections::HashSet<i64> = round.present.iter().copied().collect();
    let again = baystack::smart::poll_newcomers(app.db(), &sim, 3, &known).unwrap();
    assert_eq!((again.drives, again.present.len()), (0, round.drives));
    let newcomer = round.present[1];
    known.remove(&newcomer);
    let next = baystack::smart::poll_newcomers(app.db(), &sim, 3, &known).unwrap();
    assert_eq!(next.drives, 1, "only the newcomer is read");
    assert!(next.failed.is_empty(), "{:?}", next.failed);
}

/// A test Baystack started is followed up: the job reads the drive back
/// (the test under way), the agent reads it again while it runs and once
/// it has ended, so the result is on the page before the next round; once
/// the test should have ended by the drive's own time, one more reading is
/// kept, and then the drive is left to the rounds.
async fn a_self_test_is_followed_to_its_result(backend: Backend) {
    use baystack::db::schema::drives;
    let app = fast(backend);
    app.observe();
    let sim = app.sim();
    baystack::smart::poll_once(app.db(), &sim, 3).unwrap();
    let follow = || baystack::smart::follow_self_tests(app.db(), &sim, 3).unwrap();
    assert_eq!(follow().drives, 0, "no test runs, none was asked for");
    let mut c = app.client().await;
    c.setup().await;
    c.login("admin", ADMIN_PASSWORD).await;
    let id = 5;
    let kept = async |c: &mut crate::support::Client<_>| {
        c.get(&format!("/api/v1/drives/{id}")).await.json()["history"]
            .as_array()
            .unwrap()
            .len()
    };
    let page = c.get(&format!("/drives/{id}")).await.text();
    // At 100 times speed a short test takes 1.2 s: "about a minute" by
    // the drive's word.
    assert!(
        page.contains("Start a short self-test (about a minute)"),
        "{page}"
    );
    let csrf = crate::support::csrf_from_page(&page);
    let r = c
        .post_form(
            &format!("/drives/{id}/selftest"),
            &[("csrf_token", &csrf), ("kind", "short")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text());
    let job_path = format!("/api/v1{}", r.location());
    let readings = kept(&mut c).await;
    run_one(&app);
    let job = c.get(&job_path).await.json();
    assert_eq!(job["state"], "succeeded", "{job}");
    let read_back = job["steps"][1]["detail"].as_str().unwrap();
    assert!(
        read_back
            .starts_with("read and kept: healthy, no SMART errors; short self-test in progress, "),
        "{job}"
    );
    assert_eq!(
        kept(&mut c).await,
        readings + 1,
        "the job's reading is kept"
    );
    let page = c.get(&format!("/drives/{id}")).await.text();
    assert!(page.contains("Running now: short test, "), "{page}");
    assert!(page.contains("Abort the running self-test"), "{page}");
    assert!(
        !page.contains("Start a short self-test"),
        "one test at a time: {page}"
    );
    assert!(
        page.contains("The agent reads the drive again every 30 s while the test runs"),
        "{page}"
    );

    // While it runs, the agent reads it at every tick.
    let f = follow();
    assert_eq!((f.drives, f.failed.len()), (1, 0), "{:?}", f.failed);
    app.clock.advance(Duration::from_secs(2));
    assert_eq!(follow().drives, 1, "the tick after it ended");
    let drive = c.get(&format!("/api/v1/drives/{id}")).await.json();
    assert_eq!(
        drive["smart"]["self_test_running"],
        serde_json::Value::Null,
        "{drive}"
    );
    assert_eq!(
        drive["smart"]["self_tests"][0]["result"],
        "Completed without error"
    );
    assert_eq!(drive["smart_read_at"], drive["history"][0]["at"]);
    let page = c.get(&format!("/drives/{id}")).await.text();
    assert!(!page.contains("Running now"), "{page}");
    assert!(
        page.contains("<td>Short offline</td><td>Completed without error</td>"),
        "{page}"
    );
    let readings = kept(&mut c).await;
    assert_eq!(
        follow().drives,
        0,
        "ended, and not yet due by the drive's time"
    );

    // Had no reading been kept since before the test should have ended by
    // the drive's time (a minute: the agent was busy, say), one more is
    // taken and kept whatever it says; then the drive waits for the round.
    use baystack::db::schema::smart_samples;
    let now = baystack::db::now();
    let mut conn = app.db().get().unwrap();
    baystack::db_run!(&mut conn.conn(), c => diesel::update(drives::table.find(id))
        .set(drives::short_test_at.eq(now - chrono::Duration::minutes(5)))
        .execute(c))
    .unwrap();
    baystack::db_run!(&mut conn.conn(), c => diesel::update(
            smart_samples::table.filter(smart_samples::drive_id.eq(id)),
        )
        .set(smart_samples::at.eq(now - chrono::Duration::minutes(10)))
        .execute(c))
    .unwrap();
    assert_eq!(follow().drives, 1, "the reading at its end");
    assert_eq!(
        kept(&mut c).await,
        readings + 1,
        "kept though it says nothing new"
    );
    assert_eq!(follow().drives, 0);
    assert_eq!(kept(&mut c).await, readings + 1);
}

/// The long test says how long it takes and asks first; a running test is
/// aborted from the page or the API, and an abort is refused in words
/// while no test runs.
async fn a_long_test_asks_first_and_a_running_test_is_aborted(backend: Backend) {
    // At the simulator's own speed: a long test takes 8 hours.
    let app = TestApp::new(backend);
    app.observe();
    let mut c = app.client().await;
    c.setup().await;
    c.login("admin", ADMIN_PASSWORD).await;
    let id = 2;
    let page = c.get(&format!("/drives/{id}")).await.text();
    assert!(
        page.contains("Start a long self-test (about 8 hours)</button>"),
        "{page}"
    );
    assert!(
        page.contains(
            "data-confirm=\"A long self-test reads the whole surface of sdb, WDC WUH721816ALE6L4 "
        ) && page
            .contains(": about 8 hours, during which the drive answers more slowly. Start it?\""),
        "{page}"
    );
    assert!(!page.contains("Abort the running self-test"), "{page}");
    let csrf = crate::support::csrf_from_page(&page);

    // Nothing runs: refused in words, no job.
    let r = c
        .post_form(
            &format!("/drives/{id}/selftest/abort"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(
        r.text()
            .contains("is running no self-test as of its last reading, at 20"),
        "{}",
        r.text()
    );
    let mut api = app.client().await;
    api.bearer = Some(api.token_for("admin", ADMIN_PASSWORD).await);
    let r = api
        .post_json(&format!("/api/v1/drives/{id}/selftest/abort"), "{}")
        .await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.json()["error"], "conflict", "{}", r.text());
    for (path, status, says) in [
        (
            "/api/v1/drives/abc/selftest/abort",
            422,
            "a drive id is a number",
        ),
        (
            "/api/v1/drives/99999/selftest/abort",
            404,
            "there is no drive 99999",
        ),
    ] {
        let r = api.post_json(path, "{}").await;
        assert_eq!(r.status, status, "{path}: {}", r.text());
        assert!(r.text().contains(says), "{path}: {}", r.text());
    }
    assert_eq!(
        api.get("/api/v1/jobs")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        0
    );

    let r = api
        .post_json(
            &format!("/api/v1/drives/{id}/selftest"),
            r#"{"kind": "long"}"#,
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    run_one(&app);
    let page = c.get(&format!("/drives/{id}")).await.text();
    assert!(
        page.contains("Running now: long test, 100% remaining"),
        "{page}"
    );
    assert!(
        page.contains("and once more when it should have ended, about 20"),
        "{page}"
    );
    assert!(
        page.contains("data-confirm=\"Abort the self-test running on sdb, "),
        "{page}"
    );

    // Aborted through the API: the drive's log says so, and the reading
    // after it is kept.
    let r = api
        .post_json(&format!("/api/v1/drives/{id}/selftest/abort"), "{}")
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let job_id = r.json()["job_id"].as_i64().unwrap();
    run_one(&app);
    let job = api.get(&format!("/api/v1/jobs/{job_id}")).await.json();
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["kind"], "drive.selftest.abort");
    assert!(
        job["summary"]
            .as_str()
            .unwrap()
            .starts_with("Abort the SMART self-test: sdb, "),
        "{job}"
    );
    assert!(
        job["steps"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("aborted its long self-test (0% done)"),
        "{job}"
    );
    assert!(
        job["steps"][1]["detail"]
            .as_str()
            .unwrap()
            .ends_with("its newest self-test: Extended offline, Aborted by host"),
        "{job}"
    );
    let page = c.get(&format!("/drives/{id}")).await.text();
    assert!(!page.contains("Running now"), "{page}");
    assert!(
        page.contains("<td>Extended offline</td><td>Aborted by host</td>"),
        "{page}"
    );

    // From the page: to the job's page.
    api.post_json(
        &format!("/api/v1/drives/{id}/selftest"),
        r#"{"kind": "short"}"#,
    )
    .await;
    run_one(&app);
    let r = c
        .post_form(
            &format!("/drives/{id}/selftest/abort"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text());
    assert!(r.location().starts_with("/jobs/"), "{}", r.location());
}

both!(
    a_self_test_is_followed_to_its_result,
    a_long_test_asks_first_and_a_running_test_is_aborted,
    newcomers_are_read_between_rounds,
    a_self_test_runs_and_shows_in_the_drive_log,
    the_drive_page_starts_a_test,
    self_tests_are_scheduled,
);

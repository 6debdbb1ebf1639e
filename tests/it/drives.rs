//! Identify by drive, on the simulated appliance: the drive page's button
//! lands on the job's page, the job finds the drive's bay and lights it,
//! and a drive the appliance does not hold is refused in words. A drive's
//! page shows one SMART reading, with its time, in its verdict, its tables
//! and its history, and an operator reads SMART now.

use std::time::Duration;

use baystack::storage::sim::SimAction;
use serde_json::Value;

use crate::both;
use crate::support::{ADMIN_PASSWORD, Backend, TestApp};

/// The `<tr>` of the drive page's attribute table for attribute `id`.
fn attribute_row(page: &str, id: u8) -> String {
    let start = page
        .find(&format!("<td>{id}</td><td>"))
        .unwrap_or_else(|| panic!("no attribute {id} in:\n{page}"));
    page[start..start + page[start..].find("</tr>").unwrap()].to_string()
}

/// A stored time as the page shows it (the appliance's zone is
/// Europe/Berlin).
fn shown(rfc3339: &Value) -> String {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339.as_str().unwrap())
        .unwrap()
        .naive_utc();
    baystack::web::page::format_time(&t, chrono_tz::Europe::Berlin)
}

/// A reallocated-sector count grows between the agent's rounds: the
/// observer's reading that says so is kept, so the verdict, the table and
/// the history's newest row are that one reading, and the page says when
/// it was read; a later look that says nothing new keeps nothing.
async fn the_verdict_the_table_and_the_history_are_one_reading(backend: Backend) {
    let app = TestApp::with_settings(backend, |s| s.sim.speed = 100.0);
    app.observe();
    let sim = app.sim();
    baystack::smart::poll_once(app.db(), &sim, 3).unwrap();
    let mut c = app.client().await;
    c.setup().await;
    c.login("admin", ADMIN_PASSWORD).await;
    let bays = c.get("/api/v1/bays").await.json();
    let (enclosure, id) = (
        bays[0]["enclosure"].as_str().unwrap().to_string(),
        bays[0]["drive"]["id"].as_i64().unwrap(),
    );
    let kept = |v: &Value| v["history"].as_array().unwrap().len();
    let before = kept(&c.get(&format!("/api/v1/drives/{id}")).await.json());
    app.observe();
    assert_eq!(
        kept(&c.get(&format!("/api/v1/drives/{id}")).await.json()),
        before,
        "a look that says nothing new keeps nothing"
    );

    sim.act(
        &enclosure,
        0,
        SimAction::Grow {
            attribute: 5,
            by: 50,
        },
    )
    .unwrap();
    app.observe();
    let drive = c.get(&format!("/api/v1/drives/{id}")).await.json();
    let newest = &drive["history"][0];
    assert_eq!(kept(&drive), before + 1, "{drive}");
    assert_eq!(drive["health_reason"], "50 reallocated sectors (up from 0)");
    assert_eq!(newest["reason"], drive["health_reason"]);
    assert_eq!(newest["health"], "warning");
    assert_eq!(drive["smart_read_at"], newest["at"]);
    let realloc = drive["smart"]["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == 5)
        .unwrap()
        .clone();
    assert_eq!(realloc["raw"], 50, "the table's reading is the verdict's");

    let page = c.get(&format!("/drives/{id}")).await.text();
    assert!(
        attribute_row(&page, 5).ends_with("<td>50</td><td>pre-failure</td>"),
        "{}",
        attribute_row(&page, 5)
    );
    let at = shown(&newest["at"]);
    assert!(page.contains(&format!("SMART read at {at}:")), "{page}");
    assert!(
        page.contains(&format!(
            "<tr><td>{at}</td><td><span class=\"badge warning\">warning</span>"
        )),
        "the history's newest row: {page}"
    );

    // Looked at again: nothing new, so nothing kept, and the growth is
    // still named until the next round.
    app.observe();
    let again = c.get(&format!("/api/v1/drives/{id}")).await.json();
    assert_eq!(kept(&again), before + 1);
    assert_eq!(again["health_reason"], "50 reallocated sectors (up from 0)");
    baystack::smart::poll_once(app.db(), &sim, 3).unwrap();
    let round = c.get(&format!("/api/v1/drives/{id}")).await.json();
    assert_eq!(round["health_reason"], "50 reallocated sectors");
    assert_eq!(round["history"][0]["reason"], "50 reallocated sectors");
}

/// "Read SMART now": a job (the drive's own resource) that reads the drive
/// and keeps the reading; the page says when trends will appear until two
/// readings are kept. Bad input makes no job.
async fn an_operator_reads_smart_now(backend: Backend) {
    let app = TestApp::with_settings(backend, |s| {
        s.sim.speed = 100.0;
        s.agent.smart_interval_minutes = 45;
    });
    app.observe();
    let mut c = app.client().await;
    c.setup().await;
    c.login("admin", ADMIN_PASSWORD).await;
    let drives = c.get("/api/v1/drives").await.json();
    let drive = drives[2].clone();
    let id = drive["id"].as_i64().unwrap();
    let page = c.get(&format!("/drives/{id}")).await.text();
    assert!(page.contains("Read SMART now"), "{page}");
    assert!(
        page.contains(
            "Trends appear once 2 readings are kept; 1 is kept. The agent reads every drive \
             every 45 minutes, so by about "
        ),
        "{page}"
    );
    assert!(!page.contains("<figure class=\"trend"), "{page}");
    let csrf = crate::support::csrf_from_page(&page);

    for (path, status, says) in [
        ("/drives/abc/smart", 422, "a drive id is a number"),
        ("/drives/99999/smart", 404, "there is no drive 99999"),
    ] {
        let r = c.post_form(path, &[("csrf_token", &csrf)]).await;
        assert_eq!(r.status, status, "{path}: {}", r.text());
        assert!(r.text().contains(says), "{path}: {}", r.text());
    }
    let r = c.post_form(&format!("/drives/{id}/smart"), &[]).await;
    assert_eq!(r.status, 403, "no CSRF token: {}", r.text());

    let r = c
        .post_form(&format!("/drives/{id}/smart"), &[("csrf_token", &csrf)])
        .await;
    assert_eq!(r.status, 303, "{}", r.text());
    let to = r.location();
    assert!(to.starts_with("/jobs/"), "{to}");
    assert!(app.runner(Duration::from_secs(30)).run_one().unwrap());
    let job = c.get(&format!("/api/v1{to}")).await.json();
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["kind"], "drive.smart");
    assert_eq!(
        job["resources"],
        serde_json::json!([format!("drive:{}", drive["ident"].as_str().unwrap())])
    );
    assert!(
        job["steps"][0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("read and kept: healthy, no SMART errors"),
        "{job}"
    );
    let one = c.get(&format!("/api/v1/drives/{id}")).await.json();
    assert_eq!(one["history"].as_array().unwrap().len(), 2, "{one}");
    let page = c.get(&format!("/drives/{id}")).await.text();
    assert!(!page.contains("Trends appear once"), "{page}");
    assert!(page.contains("<figure class=\"trend"), "{page}");

    // The API, and a drive no longer in the appliance.
    let mut c = app.client().await;
    c.bearer = Some(c.token_for("admin", ADMIN_PASSWORD).await);
    let r = c
        .post_json(&format!("/api/v1/drives/{id}/smart"), "{}")
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert!(r.json()["job_id"].as_i64().is_some());
    let sim = app.sim();
    let bay = drive["bay"].clone();
    sim.act(
        bay["enclosure"].as_str().unwrap(),
        bay["slot"].as_u64().unwrap() as u32,
        SimAction::ReplaceDrive,
    )
    .unwrap();
    app.observe();
    let before = c.get("/api/v1/jobs").await.json().as_array().unwrap().len();
    for (path, status, says) in [
        (
            format!("/api/v1/drives/{id}/smart"),
            409,
            "is not in the appliance now, so it cannot be read",
        ),
        (
            "/api/v1/drives/x1/smart".to_string(),
            422,
            "a drive id is a number, not \\\"x1\\\"",
        ),
        (
            "/api/v1/drives/99999/smart".to_string(),
            404,
            "there is no drive 99999",
        ),
    ] {
        let r = c.post_json(&path, "{}").await;
        assert_eq!(r.status, status, "{path}: {}", r.text());
        assert!(r.text().contains(says), "{path}: {}", r.text());
    }
    assert_eq!(
        c.get("/api/v1/jobs").await.json().as_array().unwrap().len(),
        before,
        "bad input made no job"
    );
}

async fn the_drive_page_blinks_its_bay(backend: Backend) {
    let app = TestApp::with_settings(backend, |s| s.sim.speed = 100.0);
    app.observe();
    let mut c = app.client().await;
    c.setup().await;
    c.login("admin", ADMIN_PASSWORD).await;
    let page = c.get("/drives/3").await.text();
    assert!(page.contains("Identify: blink its bay"), "{page}");
    let csrf = crate::support::csrf_from_page(&page);
    let r = c
        .post_form("/drives/3/locate", &[("csrf_token", &csrf), ("on", "true")])
        .await;
    assert_eq!(r.status, 303, "{}", r.text());
    let to = r.location();
    assert!(to.starts_with("/jobs/"), "{to}");
    assert!(app.runner(Duration::from_secs(30)).run_one().unwrap());
    let job = c.get(&format!("/api/v1{to}")).await.json();
    assert_eq!(job["state"], "succeeded", "{job}");
    app.observe();
    let drive = c.get("/api/v1/drives/3").await.json();
    let bays = c.get("/api/v1/bays").await.json();
    let bay = bays
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["drive"]["id"] == 3)
        .unwrap();
    assert_eq!(bay["slot"], drive["bay"]["slot"]);
    assert_eq!(bay["locate"], true, "{bay}");

    for (path, body, status, says) in [
        (
            "/drives/99999/locate",
            "true",
            404,
            "there is no drive 99999",
        ),
        ("/drives/abc/locate", "true", 422, "a drive id is a number"),
        ("/drives/3/locate", "maybe", 400, "not `true` or `false`"),
    ] {
        let r = c
            .post_form(path, &[("csrf_token", &csrf), ("on", body)])
            .await;
        assert_eq!(r.status, status, "{path}: {}", r.text());
        assert!(r.text().contains(says), "{path}: {}", r.text());
    }
    let jobs = c.get("/api/v1/jobs").await.json();
    assert_eq!(jobs.as_array().unwrap().len(), 1, "bad input made no job");
}

both!(
    the_drive_page_blinks_its_bay,
    the_verdict_the_table_and_the_history_are_one_reading,
    an_operator_reads_smart_now,
);

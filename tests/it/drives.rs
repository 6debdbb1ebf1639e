//! Identify by drive, on the simulated appliance: the drive page's button
//! lands on the job's page, the job finds the drive's bay and lights it,
//! and a drive the appliance does not hold is refused in words.

use std::time::Duration;

use crate::both;
use crate::support::{ADMIN_PASSWORD, Backend, TestApp};

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

both!(the_drive_page_blinks_its_bay);

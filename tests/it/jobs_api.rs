//! Jobs and bays through the API and the pages: identify a bay, watch the
//! job, list, filter, cancel, retry; every enqueue audited.

use std::sync::Arc;
use std::time::Duration;

use baystack::jobs::runner::Runner;

use crate::both;
use crate::support::{ADMIN_PASSWORD, Backend, TestApp};

fn runner(app: &TestApp) -> Arc<Runner> {
    app.runner(Duration::from_secs(30))
}

fn fast(backend: Backend) -> TestApp {
    TestApp::with_settings(backend, |s| s.sim.speed = 100.0)
}

async fn identify_a_bay_through_the_api(backend: Backend) {
    let app = fast(backend);
    app.observe();
    let mut c = app.client().await;
    c.setup().await;
    let admin = c.token_for("admin", ADMIN_PASSWORD).await;
    c.add_user(&admin, "ops", "operator", "operator password")
        .await;
    c.bearer = Some(c.token_for("ops", "operator password").await);

    let bays = c.get("/api/v1/bays").await.json();
    let bays = bays.as_array().unwrap();
    assert_eq!(bays.len(), 12);
    let enclosure = bays[0]["enclosure"].as_str().unwrap().to_string();
    assert_eq!(bays[5]["slot"], 5);
    assert_eq!(bays[5]["locate"], false);
    assert!(!bays[0]["drive"]["serial"].as_str().unwrap().is_empty());
    assert_eq!(bays[0]["drive"]["dev_name"], "sda");
    assert!(
        bays[5]["drive"].is_null(),
        "slot 5 of the simulated enclosure is empty"
    );

    let r = c
        .post_json(
            &format!("/api/v1/bays/{enclosure}/5/locate"),
            r#"{"on": true}"#,
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["job_id"].as_i64().unwrap();

    let job = c.get(&format!("/api/v1/jobs/{id}")).await.json();
    for key in [
        "id",
        "kind",
        "resources",
        "state",
        "steps",
        "progress",
        "runner",
        "fencing_token",
        "enqueued_at",
        "started_at",
        "finished_at",
        "error",
    ] {
        assert!(job.get(key).is_some(), "{key} missing from {job}");
    }
    assert_eq!(job["kind"], "bay.locate");
    assert_eq!(job["state"], "queued");
    assert_eq!(job["resources"][0], format!("bay:{enclosure}:5"));
    assert_eq!(job["requested_by"], "ops");
    assert_eq!(job["steps"].as_array().unwrap().len(), 2);

    assert!(runner(&app).run_one().unwrap());
    app.observe();
    let job = c.get(&format!("/api/v1/jobs/{id}")).await.json();
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["progress"]["percent"], 100);
    assert_eq!(job["fencing_token"], 1);
    assert!(job["finished_at"].as_str().unwrap().ends_with('Z'));
    let bays = c.get("/api/v1/bays").await.json();
    assert_eq!(bays[5]["locate"], true);
    let dash = c.get("/").await.text();
    assert!(dash.contains("Identify LEDs lit"), "{dash}");
    assert!(dash.contains("Front 12-bay, slot 5"));

    c.bearer = Some(admin);
    let audit = c.get("/api/v1/audit?action=job.enqueue").await.json();
    assert_eq!(audit[0]["actor"], "ops");
    assert_eq!(audit[0]["target"], format!("job {id}"));
    assert!(
        audit[0]["detail"]
            .as_str()
            .unwrap()
            .contains("Identify LED on")
    );
}

/// The fault LED goes the same way as identify: a job, then the bay says so.
async fn set_and_clear_a_fault_led_through_the_api(backend: Backend) {
    let app = fast(backend);
    app.observe();
    let mut c = app.client().await;
    c.setup_as_admin().await;
    let bays = c.get("/api/v1/bays").await.json();
    let enclosure = bays[0]["enclosure"].as_str().unwrap().to_string();
    assert_eq!(bays[2]["fault"], false);
    for on in [true, false] {
        let r = c
            .post_json(
                &format!("/api/v1/bays/{enclosure}/2/fault"),
                &format!(r#"{{"on": {on}}}"#),
            )
            .await;
        assert_eq!(r.status, 202, "{}", r.text());
        let id = r.json()["job_id"].as_i64().unwrap();
        assert!(runner(&app).run_one().unwrap());
        app.observe();
        let job = c.get(&format!("/api/v1/jobs/{id}")).await.json();
        assert_eq!(job["kind"], "bay.fault");
        assert_eq!(job["state"], "succeeded", "{job}");
        let word = if on { "on" } else { "off" };
        assert_eq!(
            job["steps"][1]["detail"],
            format!("the enclosure reports the fault LED {word}")
        );
        let bays = c.get("/api/v1/bays").await.json();
        assert_eq!(bays[2]["fault"], on);
        assert_eq!(bays[2]["locate"], false, "only the fault LED changed");
    }
}

/// An identify LED left lit goes dark by itself: the agent enqueues the
/// job (once), audited as its own, and the bay says so afterwards.
async fn a_lit_bay_goes_dark_by_itself(backend: Backend) {
    let app = fast(backend);
    app.observe();
    let mut c = app.client().await;
    c.setup_as_admin().await;
    let bays = c.get("/api/v1/bays").await.json();
    let enclosure = bays[0]["enclosure"].as_str().unwrap().to_string();
    let r = c
        .post_json(
            &format!("/api/v1/bays/{enclosure}/3/locate"),
            r#"{"on": true}"#,
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert!(runner(&app).run_one().unwrap());
    app.observe();
    let long = Duration::from_secs(30 * 60);
    assert_eq!(
        baystack::lights::darken_stale_locates(app.db(), long).unwrap(),
        0,
        "just lit: left alone"
    );
    // As if the time had passed.
    assert_eq!(
        baystack::lights::darken_stale_locates(app.db(), Duration::ZERO).unwrap(),
        1
    );
    assert_eq!(
        baystack::lights::darken_stale_locates(app.db(), Duration::ZERO).unwrap(),
        0,
        "a job is already on its way"
    );
    let jobs = c.get("/api/v1/jobs?state=queued").await.json();
    assert_eq!(jobs[0]["requested_by"], "baystack");
    assert_eq!(
        jobs[0]["summary"],
        format!("Identify LED off: Front 12-bay, slot 3")
    );
    assert!(runner(&app).run_one().unwrap());
    app.observe();
    let bays = c.get("/api/v1/bays").await.json();
    assert_eq!(bays[3]["locate"], false);
    let audit = c.get("/api/v1/audit?action=job.enqueue").await.json();
    assert_eq!(audit[0]["actor"], "baystack");
    assert!(
        audit[0]["detail"]
            .as_str()
            .unwrap()
            .contains("lit for more than 0 min"),
        "{audit}"
    );
}

/// The fault LED follows the drive: lit when it fails, cleared when the bay
/// holds another, healthy drive; one lit by hand over a healthy drive stays.
async fn the_fault_led_follows_the_drive(backend: Backend) {
    use baystack::storage::sim::SimAction;
    let app = fast(backend);
    app.observe();
    let sim = app.sim();
    let mut c = app.client().await;
    c.setup_as_admin().await;
    let bays = c.get("/api/v1/bays").await.json();
    let enclosure = bays[0]["enclosure"].as_str().unwrap().to_string();
    let follow = || baystack::lights::follow_drive_health(app.db()).unwrap();
    let run_all = || while runner(&app).run_one().unwrap() {};
    assert_eq!(follow(), 0, "all well: nothing to do");

    sim.act(&enclosure, 1, SimAction::FailDrive).unwrap();
    app.observe();
    assert_eq!(follow(), 1);
    assert_eq!(follow(), 0, "once");
    run_all();
    app.observe();
    let bays = c.get("/api/v1/bays").await.json();
    assert_eq!(bays[1]["fault"], true);
    assert_eq!(bays[1]["drive"]["health"], "failing");
    assert_eq!(
        follow(),
        0,
        "the failing drive is still there: the LED stays"
    );

    let said = sim.act(&enclosure, 1, SimAction::ReplaceDrive).unwrap();
    assert!(said.contains("put in"), "{said}");
    app.observe();
    assert_eq!(follow(), 1);
    run_all();
    app.observe();
    let bays = c.get("/api/v1/bays").await.json();
    assert_eq!(bays[1]["fault"], false);
    assert_eq!(bays[1]["drive"]["health"], "healthy");

    // Lit by hand over a healthy drive: left for the operator.
    let r = c
        .post_json(
            &format!("/api/v1/bays/{enclosure}/2/fault"),
            r#"{"on": true}"#,
        )
        .await;
    assert_eq!(r.status, 202);
    run_all();
    app.observe();
    assert_eq!(follow(), 0);
    let audit = c
        .get("/api/v1/audit?action=job.enqueue&actor=baystack")
        .await
        .json();
    let details: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["detail"].as_str().unwrap())
        .collect();
    assert!(
        details.iter().any(|d| d.starts_with("Fault LED on")
            && d.contains("is failing: the drive's own SMART health check failed")),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("Fault LED off") && d.contains("a healthy drive")),
        "{details:?}"
    );
}

/// SMART is read on its own schedule and kept: a count that grows between
/// two readings turns the drive's verdict to warning, saying so in words.
async fn smart_readings_are_kept_and_growth_is_named(backend: Backend) {
    use baystack::storage::sim::SimAction;
    let app = fast(backend);
    app.observe();
    let sim = app.sim();
    let report = baystack::smart::poll_once(app.db(), &sim, 3).unwrap();
    assert_eq!((report.drives, report.failed.len()), (10, 0));
    let mut c = app.client().await;
    c.setup_as_admin().await;
    let bays = c.get("/api/v1/bays").await.json();
    let enclosure = bays[0]["enclosure"].as_str().unwrap().to_string();
    assert_eq!(bays[0]["drive"]["health"], "healthy");

    sim.act(
        &enclosure,
        0,
        SimAction::Grow {
            attribute: 5,
            by: 3,
        },
    )
    .unwrap();
    baystack::smart::poll_once(app.db(), &sim, 3).unwrap();
    sim.act(
        &enclosure,
        0,
        SimAction::Grow {
            attribute: 5,
            by: 2,
        },
    )
    .unwrap();
    baystack::smart::poll_once(app.db(), &sim, 3).unwrap();
    let bays = c.get("/api/v1/bays").await.json();
    assert_eq!(bays[0]["drive"]["health"], "warning");
    let mut conn = app.db().get().unwrap();
    let (reason, samples): (String, i64) = {
        use baystack::db::schema::{drives, smart_samples};
        use diesel::prelude::*;
        let id = bays[0]["drive"]["id"].as_i64().unwrap();
        baystack::db_run!(&mut conn.conn(), c => {
            let reason = drives::table.find(id).select(drives::health_reason).first::<String>(c).unwrap();
            let n = smart_samples::table.filter(smart_samples::drive_id.eq(id)).count().get_result::<i64>(c).unwrap();
            (reason, n)
        })
    };
    assert_eq!(reason, "5 reallocated sectors (up from 3)");
    assert_eq!(
        samples, 4,
        "the observer's first reading (the simulator reads SMART with the inventory), then one \
         per round"
    );

    // The same through the drives API.
    let id = bays[0]["drive"]["id"].as_i64().unwrap();
    let drives = c.get("/api/v1/drives").await.json();
    assert_eq!(drives.as_array().unwrap().len(), 10);
    let listed = drives
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == id)
        .unwrap();
    assert_eq!(listed["bay"]["slot"], 0);
    assert_eq!(listed["health"], "warning");
    let one = c.get(&format!("/api/v1/drives/{id}")).await.json();
    assert_eq!(one["health_reason"], "5 reallocated sectors (up from 3)");
    let history = one["history"].as_array().unwrap();
    assert_eq!(history.len(), 4);
    assert_eq!(history[0]["health"], "warning", "newest first");
    assert_eq!(history[3]["health"], "healthy");
    let realloc = one["smart"]["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == 5)
        .unwrap();
    assert_eq!(realloc["raw"], 5);
    assert_eq!(bays[0]["state"], "warning");
    assert_eq!(bays[5]["state"], "empty");
    let r = c.get("/api/v1/drives/x").await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("a drive id is a number"));
    let r = c.get("/api/v1/drives/99999").await;
    assert_eq!(r.status, 404);
    assert!(r.text().contains("there is no drive 99999"));

    // The drive's page, reached from the bay map.
    c.bearer = None;
    c.login("admin", ADMIN_PASSWORD).await;
    assert!(
        c.get("/bays")
            .await
            .text()
            .contains(&format!("href=\"/drives/{id}\""))
    );
    let page = c.get(&format!("/drives/{id}")).await.text();
    for words in [
        "5 reallocated sectors (up from 3)",
        "Reallocated_Sector_Ct",
        "Front 12-bay, slot 0",
        "Scheduled: a short test every day and a long test every 28 days",
        // The error counts rose over the four readings, and the chart says so.
        "<figure class=\"trend rose\">\n    <figcaption>Error counts <span class=\"muted small\">0 to 5 over the last 4 readings",
    ] {
        assert!(page.contains(words), "{words:?} not on the page:\n{page}");
    }
    assert_eq!(
        page.matches("<span class=\"badge warning\">").count(),
        2,
        "two warning readings"
    );
    let r = c.get("/drives/99999").await;
    assert_eq!(r.status, 404);
    assert!(r.text().contains("there is no drive 99999"));
    // An address that is not a number: a page in words, and JSON on the API.
    let r = c.get("/drives/abc").await;
    assert_eq!(r.status, 404);
    assert!(r.text().contains("<html"), "{}", r.text());
    assert!(
        r.text().contains("there is nothing at /drives/abc"),
        "{}",
        r.text()
    );
    let r = c.get("/api/v1/jobs/abc").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "not_found", "{}", r.text());
}

/// The bay map: each enclosure in its rows and columns, every bay's state,
/// and an identify button for those who may press it, whose job the map
/// reports in place.
async fn the_bay_map_lights_a_bay_in_one_click(backend: Backend) {
    let app = fast(backend);
    app.observe();
    let mut setup = app.client().await;
    setup.setup().await;
    let admin = setup.token_for("admin", ADMIN_PASSWORD).await;
    setup
        .add_user(&admin, "watcher", "viewer", "viewer password")
        .await;
    let mut viewer = app.client().await;
    viewer.login("watcher", "viewer password").await;
    let page = viewer.get("/bays").await.text();
    assert!(
        page.contains("class=\"baygrid cols-4\""),
        "12 bays as 4 by 3: {page}"
    );
    assert_eq!(page.matches("<li class=\"bay ").count(), 12);
    assert!(page.contains("<li class=\"bay empty\" data-slot=\"5\""));
    assert!(
        page.contains("<li class=\"bay warning\" data-slot=\"3\""),
        "the worn drive"
    );
    assert!(
        !page.contains("Identify</button>"),
        "a viewer sees no button"
    );

    let mut c = app.client().await;
    c.login("admin", ADMIN_PASSWORD).await;
    let page = c.get("/bays").await.text();
    assert_eq!(page.matches("Identify</button>").count(), 12);
    // A tile reads as words, as a screen reader or a copy takes it.
    let start = page.find("data-slot=\"7\"").unwrap();
    let end = start + page[start..].find("</li>").unwrap();
    let mut words = String::new();
    let mut in_tag = true;
    for ch in page[start..end].chars() {
        match ch {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => words.push(c),
            _ => {}
        }
    }
    let words = words.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(words.starts_with("slot 7 healthy "), "{words}");
    let csrf = crate::support::csrf_from_page(&page);
    let bays = c.get("/api/v1/bays").await.json();
    let enclosure = bays[0]["enclosure"].as_str().unwrap().to_string();
    let r = c
        .send(
            actix_web::test::TestRequest::post()
                .uri(&format!("/bays/{enclosure}/7/locate"))
                .insert_header(("hx-request", "true"))
                .insert_header(("content-type", "application/x-www-form-urlencoded"))
                .set_payload(format!("csrf_token={csrf}&on=true")),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let partial = r.text();
    assert!(partial.starts_with("<section id=\"baymap\""), "{partial}");
    // The bay clicked shows the request at once, in its own tile, with
    // its job, and keeps showing it across refreshes until it is done.
    let tile = |html: &str| -> String {
        let start = html.find("data-slot=\"7\"").expect("bay 7 on the map");
        let start = html[..start].rfind("<li").unwrap();
        let end = start + html[start..].find("</li>").unwrap();
        html[start..end].to_string()
    };
    let clicked = tile(&partial);
    assert!(clicked.contains(" pending\""), "{clicked}");
    assert!(
        clicked.contains("Identify LED on: queued (job "),
        "{clicked}"
    );
    assert!(tile(&c.get("/bays/map").await.text()).contains("queued (job "));
    assert!(runner(&app).run_one().unwrap());
    app.observe();
    let map = c.get("/bays/map").await.text();
    assert!(map.contains("locate\" data-slot=\"7\""), "{map}");
    assert!(map.contains("Stop identifying</button>"));
    let lit = tile(&map);
    assert!(!lit.contains("pending"), "done: {lit}");
    assert!(
        lit.contains("identify on · dark at "),
        "says when it goes dark: {lit}"
    );
    // A plain form post (no htmx) goes back to the page.
    let r = c
        .post_form(
            &format!("/bays/{enclosure}/7/locate"),
            &[("csrf_token", &csrf), ("on", "false")],
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.location()),
        (303, "/bays".to_string())
    );
    let r = c
        .post_form(
            "/bays/nosuch/7/locate",
            &[("csrf_token", &csrf), ("on", "true")],
        )
        .await;
    assert_eq!(r.status, 404);
    assert!(r.text().contains("there is no enclosure"), "{}", r.text());
}

async fn locate_refuses_bad_input_in_words(backend: Backend) {
    let app = fast(backend);
    app.observe();
    let mut c = app.client().await;
    c.setup().await;
    let admin = c.token_for("admin", ADMIN_PASSWORD).await;
    c.add_user(&admin, "wall", "viewer", "viewer password")
        .await;
    c.bearer = Some(admin.clone());
    let enclosure = c.get("/api/v1/bays").await.json()[0]["enclosure"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/v1/bays/{enclosure}/40/locate");
    let r = c.post_json(&path, r#"{"on": true}"#).await;
    assert_eq!(r.status, 404);
    assert!(
        r.json()["detail"]
            .as_str()
            .unwrap()
            .contains("has no slot 40")
    );
    let r = c
        .post_json("/api/v1/bays/nosuch/1/locate", r#"{"on": true}"#)
        .await;
    assert_eq!(r.status, 404);
    assert!(
        r.json()["detail"]
            .as_str()
            .unwrap()
            .contains("no enclosure")
    );
    let r = c
        .post_json(
            &format!("/api/v1/bays/{enclosure}/x/locate"),
            r#"{"on": true}"#,
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["field"], "slot");
    let r = c
        .post_json(
            &format!("/api/v1/bays/{enclosure}/1/locate"),
            r#"{"on": "yes"}"#,
        )
        .await;
    assert_eq!(r.status, 400);
    let r = c
        .post_json(&format!("/api/v1/bays/{enclosure}/1/locate"), "{}")
        .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["detail"].as_str().unwrap().contains("on"));
    // Nothing of that was enqueued.
    assert_eq!(
        c.get("/api/v1/jobs").await.json().as_array().unwrap().len(),
        0
    );
    // A viewer may look but not light.
    c.bearer = Some(c.token_for("wall", "viewer password").await);
    let r = c
        .post_json(
            &format!("/api/v1/bays/{enclosure}/1/locate"),
            r#"{"on": true}"#,
        )
        .await;
    assert_eq!(r.status, 403);
}

async fn jobs_are_listed_filtered_cancelled_and_retried(backend: Backend) {
    let app = fast(backend);
    app.observe();
    let mut c = app.client().await;
    c.setup_as_admin().await;
    let enclosure = c.get("/api/v1/bays").await.json()[0]["enclosure"]
        .as_str()
        .unwrap()
        .to_string();
    let mut ids = Vec::new();
    for slot in [1, 2, 1] {
        let r = c
            .post_json(
                &format!("/api/v1/bays/{enclosure}/{slot}/locate"),
                r#"{"on": true}"#,
            )
            .await;
        ids.push(r.json()["job_id"].as_i64().unwrap());
    }
    let list = c.get("/api/v1/jobs").await.json();
    let listed: Vec<i64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, vec![ids[2], ids[1], ids[0]], "newest first");
    let bay1 = c
        .get(&format!("/api/v1/jobs?resource=bay:{enclosure}:1"))
        .await
        .json();
    assert_eq!(bay1.as_array().unwrap().len(), 2);
    let r = c.get("/api/v1/jobs?state=finished").await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["field"], "state");

    // Cancel the third while it is queued.
    let r = c
        .post_json(&format!("/api/v1/jobs/{}/cancel", ids[2]), "")
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["state"], "cancelled");
    let r = c
        .post_json(&format!("/api/v1/jobs/{}/cancel", ids[2]), "")
        .await;
    assert_eq!(r.status, 409);
    let r = c.post_json("/api/v1/jobs/999999/cancel", "").await;
    assert_eq!(r.status, 404);

    let run = runner(&app);
    while run.run_one().unwrap() {}
    let done = c.get("/api/v1/jobs?state=succeeded").await.json();
    assert_eq!(done.as_array().unwrap().len(), 2);
    let cancelled = c.get("/api/v1/jobs?state=cancelled").await.json();
    assert_eq!(cancelled[0]["id"], ids[2]);

    // Retry the cancelled one as a new job; a succeeded one cannot be.
    let r = c
        .post_json(&format!("/api/v1/jobs/{}/retry", ids[2]), "")
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let new = r.json()["job_id"].as_i64().unwrap();
    let job = c.get(&format!("/api/v1/jobs/{new}")).await.json();
    assert_eq!(job["retry_of"], ids[2]);
    assert_eq!(job["state"], "queued");
    assert_eq!(job["resources"], cancelled[0]["resources"]);
    let r = c
        .post_json(&format!("/api/v1/jobs/{}/retry", ids[0]), "")
        .await;
    assert_eq!(r.status, 409);
}

async fn job_pages_show_steps_and_stop_polling_when_done(backend: Backend) {
    let app = fast(backend);
    app.observe();
    let mut c = app.client().await;
    c.setup().await;
    c.login("admin", ADMIN_PASSWORD).await;
    let csrf = c.csrf().await;
    let bays = {
        let mut api = app.client().await;
        api.bearer = Some(api.token_for("admin", ADMIN_PASSWORD).await);
        api.get("/api/v1/bays").await.json()
    };
    let enclosure = bays[0]["enclosure"].as_str().unwrap().to_string();
    c.extra_headers.push(("x-csrf-token".into(), csrf.clone()));
    let r = c
        .post_json(
            &format!("/api/v1/bays/{enclosure}/3/locate"),
            r#"{"on": true}"#,
        )
        .await;
    assert_eq!(
        r.status, 202,
        "a browser session with its CSRF token may call the API"
    );
    let id = r.json()["job_id"].as_i64().unwrap();
    c.extra_headers.clear();

    let page = c.get(&format!("/jobs/{id}")).await.text();
    assert!(
        page.contains("Identify LED on: Front 12-bay, slot 3"),
        "{page}"
    );
    assert!(
        page.contains("hx-trigger=\"every 1s\""),
        "a queued job's page polls"
    );
    assert!(page.contains("Turn the identify LED on"));
    let list = c.get("/jobs").await.text();
    assert!(list.contains(&format!("/jobs/{id}")));

    assert!(runner(&app).run_one().unwrap());
    let live = c.get(&format!("/jobs/{id}/live")).await;
    assert_eq!(live.status, 200);
    let live = live.text();
    assert!(live.starts_with("<section id=\"job-live\""), "a fragment");
    assert!(!live.contains("hx-trigger"), "a finished job stops polling");
    assert!(live.contains("the enclosure reports the identify LED on"));
    assert!(live.contains("data-state=\"succeeded\""));

    // Cancel from the page: a finished job cannot be.
    let r = c
        .post_form(&format!("/jobs/{id}/cancel"), &[("csrf_token", &csrf)])
        .await;
    assert_eq!(r.status, 409);
    assert!(r.text().contains("had already finished"));
    assert_eq!(c.get("/jobs/999999").await.status, 404);
}

/// A job that failed part-way shows its block on its page and through the
/// API; new jobs on the blocked resource are refused with 409 in words; an
/// admin clears the block (audited), once.
async fn a_blocked_resource_is_shown_refused_and_cleared(backend: Backend) {
    use baystack::jobs::kinds::{NoopPayload, noop_payload};
    let app = fast(backend);
    let mut c = app.client().await;
    c.setup_as_admin().await;
    let spec = noop_payload(
        NoopPayload {
            resources: vec!["pool:tank".into()],
            fail_at: Some(1),
            changes_from: Some(0),
            ..NoopPayload::default()
        },
        2,
    );
    let id = app
        .db()
        .get()
        .unwrap()
        .write(|c| baystack::jobs::enqueue_audited(c, &spec, "admin", None, None, None))
        .unwrap();
    assert!(runner(&app).run_one().unwrap());

    let job = c.get(&format!("/api/v1/jobs/{id}")).await.json();
    assert_eq!(job["state"], "failed");
    assert_eq!(job["blocks"][0]["resource"], "pool:tank", "{job}");
    let page = c.get(&format!("/jobs/{id}")).await.text();
    assert!(page.contains("<strong>Blocked:</strong>"), "{page}");
    assert!(page.contains(&format!("/jobs/{id}/unblock")), "{page}");

    // Its retry is let through; anything else on pool:tank is refused.
    let refused = app.db().get().unwrap().write(|c| {
        baystack::jobs::enqueue_audited(
            c,
            &baystack::jobs::kinds::noop(vec!["pool:tank".into()], 0, 1),
            "admin",
            None,
            None,
            None,
        )
        .map_err(baystack::error::AppError::from)
    });
    let e = refused.unwrap_err();
    assert_eq!(e.status(), 409);
    assert!(e.to_string().contains("pool:tank is blocked"), "{e}");

    let r = c.post_json(&format!("/api/v1/jobs/{id}/unblock"), "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["unblocked"], serde_json::json!(["pool:tank"]));
    let r = c.post_json(&format!("/api/v1/jobs/{id}/unblock"), "").await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.text().contains("holds no block"), "{}", r.text());
    let r = c.post_json("/api/v1/jobs/999999/unblock", "").await;
    assert_eq!(r.status, 404, "{}", r.text());
    let audit = c.get("/api/v1/audit?action=job.unblock").await.json();
    assert_eq!(audit[0]["target"], format!("job {id}"), "{audit}");
}

both!(
    a_blocked_resource_is_shown_refused_and_cleared,
    identify_a_bay_through_the_api,
    locate_refuses_bad_input_in_words,
    the_bay_map_lights_a_bay_in_one_click,
    smart_readings_are_kept_and_growth_is_named,
    the_fault_led_follows_the_drive,
    a_lit_bay_goes_dark_by_itself,
    set_and_clear_a_fault_led_through_the_api,
    jobs_are_listed_filtered_cancelled_and_retried,
    job_pages_show_steps_and_stop_polling_when_done,
);

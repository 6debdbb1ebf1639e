//! What a new administrator trips over, walked on the simulated appliance:
//! a JBOD that goes missing, pages that agree with themselves, navigation.

use crate::both;
use crate::support::{Backend, TestApp};

/// An enclosure that was there and is gone is a critical state on the
/// dashboard, and its bays stay on the bay map as missing.
async fn a_missing_enclosure_is_critical_and_keeps_its_bays(backend: Backend) {
    let app = TestApp::with_settings(backend, |s| s.sim.layout = vec![12, 24]);
    app.observe();
    let mut c = app.client().await;
    c.setup_as_admin().await;
    let enclosures = c.get("/api/v1/enclosures").await.json();
    assert_eq!(enclosures.as_array().unwrap().len(), 2);
    let jbod = enclosures[1]["ident"].as_str().unwrap().to_string();

    // The JBOD's cable is pulled: the agent sees only the head unit.
    let sim =
        baystack::commands::engine(&app.settings, std::sync::Arc::new(app.clock.clone())).unwrap();
    let mut seen = sim.inventory().unwrap();
    let in_jbod: Vec<String> = seen.enclosures[1]
        .slots
        .iter()
        .filter_map(|s| s.drive.clone())
        .collect();
    assert!(!in_jbod.is_empty());
    seen.enclosures.truncate(1);
    seen.drives.retain(|d| !in_jbod.contains(&d.ident));
    {
        let mut conn = app.db().get().unwrap();
        conn.write(|c| baystack::db::inventory::store(c, &seen, "sim", baystack::db::now()))
            .unwrap();
    }

    let page = c.get("/").await.text();
    assert!(page.contains("is missing</strong> since"), "{page}");
    assert!(
        page.contains(&format!("{} drives missing with it", in_jbod.len())),
        "{page}"
    );
    assert!(page.contains("1 missing"), "{page}");
    let map = c.get("/bays").await.text();
    assert!(map.contains("This enclosure is missing since"), "{map}");
    let bays = c.get("/api/v1/bays").await.json();
    let jbod_bays: Vec<&serde_json::Value> = bays
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["enclosure"] == jbod.as_str())
        .collect();
    assert_eq!(jbod_bays.len(), 24, "its bays stay");
    assert!(jbod_bays.iter().all(|b| b["state"] == "missing"));
    let enclosures = c.get("/api/v1/enclosures").await.json();
    assert_eq!(enclosures[1]["present"], false);
    assert_eq!(enclosures[0]["present"], true);

    // Plugged back in: all is as before.
    app.observe();
    let page = c.get("/").await.text();
    assert!(!page.contains("is missing"), "{page}");
    let bays = c.get("/api/v1/bays").await.json();
    assert!(
        bays.as_array()
            .unwrap()
            .iter()
            .all(|b| b["state"] != "missing")
    );
}

/// A finished job's page offers no Cancel; the list refreshes itself and
/// filters by resources named in words; audit entries link to their jobs.
async fn job_pages_follow_the_job(backend: Backend) {
    let app = TestApp::with_settings(backend, |s| s.sim.speed = 100.0);
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
    let id = r.json()["job_id"].as_i64().unwrap();
    let page = c.get(&format!("/jobs/{id}")).await.text();
    assert!(
        page.contains(">Cancel</button>"),
        "a queued job can be cancelled"
    );
    assert!(
        app.runner(std::time::Duration::from_secs(30))
            .run_one()
            .unwrap()
    );
    let live = c.get(&format!("/jobs/{id}/live")).await.text();
    assert!(!live.contains(">Cancel</button>"), "{live}");
    let page = c.get(&format!("/jobs/{id}")).await.text();
    assert!(!page.contains(">Cancel</button>"), "{page}");

    // An operator sets the fault LED from the bay map.
    let mut browser = app.client().await;
    browser.login("admin", crate::support::ADMIN_PASSWORD).await;
    let map = browser.get("/bays").await.text();
    assert!(
        map.contains(&format!("action=\"/bays/{enclosure}/6/fault\"")),
        "{map}"
    );
    let csrf = crate::support::csrf_from_page(&map);
    let r = browser
        .post_form(
            &format!("/bays/{enclosure}/6/fault"),
            &[("csrf_token", &csrf), ("on", "true")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text());
    let fault = c
        .get(&format!("/api/v1/jobs?resource=bay%3A{enclosure}%3A6"))
        .await
        .json();
    assert_eq!(fault[0]["kind"], "bay.fault", "{fault}");
    assert!(
        app.runner(std::time::Duration::from_secs(30))
            .run_one()
            .unwrap()
    );
    app.observe();
    let map = browser.get("/bays/map").await.text();
    assert!(map.contains("Clear fault LED"), "{map}");

    let list = c.get("/jobs").await.text();
    assert!(list.contains("hx-trigger=\"every 5s\""), "{list}");
    assert!(list.contains(">Front 12-bay, slot 3</option>"), "{list}");
    assert!(list.contains(">Front 12-bay, slot 3</a>"), "{list}");
    let filtered = c
        .get(&format!("/jobs?resource=bay%3A{enclosure}%3A3"))
        .await
        .text();
    assert!(filtered.contains(&format!("/jobs/{id}\"")), "{filtered}");
    assert!(
        filtered.contains("hx-get=\"/jobs?resource=bay%3A"),
        "{filtered}"
    );
    let audit = c.get("/audit?action=job.enqueue").await.text();
    assert!(
        audit.contains(&format!("<a href=\"/jobs/{id}\">job {id}</a>")),
        "{audit}"
    );
}

/// Every drive on one page, sortable; a pulled drive says where it was
/// last seen; the dashboard's rows and tiles lead to the drive.
async fn drives_are_listed_and_linked(backend: Backend) {
    use baystack::storage::sim::SimAction;
    let app = TestApp::new(backend);
    app.observe();
    let mut c = app.client().await;
    c.setup_as_admin().await;
    let drives = c.get("/api/v1/drives").await.json();
    let first = drives[0].clone();
    let (id, encl, slot) = (
        first["id"].as_i64().unwrap(),
        first["bay"]["enclosure"].as_str().unwrap().to_string(),
        first["bay"]["slot"].as_u64().unwrap(),
    );
    let sim = app.sim();
    sim.act(&encl, slot as u32, SimAction::FailDrive).unwrap();
    app.observe();
    let list = c.get("/drives").await.text();
    let failing = list
        .find("badge failing")
        .expect("the failing drive is listed");
    let healthy = list.find("badge healthy").unwrap();
    assert!(failing < healthy, "worst first by default");
    for sort in ["temperature", "bay"] {
        let r = c.get(&format!("/drives?sort={sort}")).await;
        assert_eq!(r.status, 200, "{sort}");
        assert!(r.text().contains(&format!("<strong>{sort}</strong>")));
    }
    let r = c.get("/drives?sort=serial%3Bdrop").await;
    assert_eq!(r.status, 422);
    assert!(
        r.text().contains("health, temperature or bay"),
        "{}",
        r.text()
    );
    let dash = c.get("/").await.text();
    assert!(
        dash.contains(&format!("href=\"/drives/{id}\"")),
        "the dashboard links to the drive"
    );

    // Pulled and replaced: the old drive is missing and says where it was.
    sim.act(&encl, slot as u32, SimAction::ReplaceDrive)
        .unwrap();
    app.observe();
    let page = c.get(&format!("/drives/{id}")).await.text();
    assert!(
        page.contains("Missing: this drive is not in the appliance now"),
        "{page}"
    );
    assert!(
        page.contains(&format!("in Front 12-bay, slot {slot}")),
        "{page}"
    );
    let list = c.get("/drives").await.text();
    assert!(list.contains("not in the appliance now"), "{list}");
    assert!(
        list.contains(&format!("last in Front 12-bay, slot {slot}")),
        "{list}"
    );
}

/// A refused role change is in the audit log, and the form asks first.
async fn refused_user_changes_are_audited(backend: Backend) {
    let app = TestApp::new(backend);
    let mut c = app.client().await;
    c.setup().await;
    c.login("admin", crate::support::ADMIN_PASSWORD).await;
    let page = c.get("/users").await.text();
    assert!(
        page.contains("data-confirm=\"Change the role of admin?"),
        "{page}"
    );
    let csrf = c.csrf().await;
    let r = c
        .post_form(
            "/users/admin/role",
            &[("csrf_token", &csrf), ("role", "viewer")],
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text());
    let audit = c.get("/api/v1/audit?action=user.role").await.json();
    assert_eq!(audit[0]["outcome"], "failed", "{audit}");
    assert!(audit[0]["detail"].as_str().unwrap().contains("last admin"));
}

/// The settings the wizard promised can be changed later: on a page and
/// through `GET/PUT /api/v1/settings`, audited; bad input changes nothing.
async fn settings_change_after_setup(backend: Backend) {
    let app = TestApp::new(backend);
    let mut c = app.client().await;
    c.setup_as_admin().await;
    let s = c.get("/api/v1/settings").await.json();
    assert_eq!(s["hostname"], "bay01");
    assert_eq!(s["iqn_prefix"], "iqn.2024-01.com.example");
    let good = r#"{"hostname":"nas7","iqn_domain":"corp.example.net","iqn_date":"2020-02","timezone":"Asia/Tokyo"}"#;
    for (body, field) in [
        (
            r#"{"hostname":"Nas 7","iqn_domain":"corp.example.net","iqn_date":"2020-02","timezone":"Asia/Tokyo"}"#,
            "hostname",
        ),
        (
            r#"{"hostname":"nas7","iqn_domain":"-corp","iqn_date":"2020-02","timezone":"Asia/Tokyo"}"#,
            "iqn_domain",
        ),
        (
            r#"{"hostname":"nas7","iqn_domain":"corp.example.net","iqn_date":"2020-13","timezone":"Asia/Tokyo"}"#,
            "iqn_date",
        ),
        (
            r#"{"hostname":"nas7","iqn_domain":"corp.example.net","iqn_date":"2020-02","timezone":"Mars/Olympus"}"#,
            "timezone",
        ),
        (
            r#"{"iqn_domain":"corp.example.net","iqn_date":"2020-02","timezone":"Asia/Tokyo"}"#,
            "hostname",
        ),
    ] {
        let r = c
            .send(
                actix_web::test::TestRequest::put()
                    .uri("/api/v1/settings")
                    .insert_header(("content-type", "application/json"))
                    .set_payload(body),
            )
            .await;
        assert_eq!(r.status, 422, "{body}: {}", r.text());
        assert_eq!(r.json()["field"], field, "{body}");
    }
    let r = c
        .send(
            actix_web::test::TestRequest::put()
                .uri("/api/v1/settings")
                .insert_header(("content-type", "application/json"))
                .set_payload("[1]"),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        c.get("/api/v1/settings").await.json()["hostname"],
        "bay01",
        "nothing changed"
    );

    let r = c
        .send(
            actix_web::test::TestRequest::put()
                .uri("/api/v1/settings")
                .insert_header(("content-type", "application/json"))
                .set_payload(good),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["iqn_prefix"], "iqn.2020-02.net.example.corp");
    let sys = c.get("/api/v1/system").await.json();
    assert_eq!(sys["hostname"], "nas7");
    assert_eq!(sys["timezone"], "Asia/Tokyo");
    let audit = c.get("/api/v1/audit?action=settings").await.json();
    let detail = audit[0]["detail"].as_str().unwrap();
    assert!(detail.contains("host name bay01 -> nas7"), "{detail}");
    assert!(
        detail.contains("existing targets keep their IQNs"),
        "{detail}"
    );

    // The page: shown with today's values, a bad field kept as typed.
    let mut browser = app.client().await;
    browser.login("admin", crate::support::ADMIN_PASSWORD).await;
    let page = browser.get("/settings").await.text();
    assert!(page.contains("value=\"nas7\""), "{page}");
    assert!(page.contains("existing targets keep their names"), "{page}");
    let csrf = crate::support::csrf_from_page(&page);
    let r = browser
        .post_form(
            "/settings",
            &[
                ("csrf_token", &csrf),
                ("hostname", "bay 9"),
                ("iqn_domain", "corp.example.net"),
                ("iqn_date", "2020-02"),
                ("timezone", "UTC"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.text().contains("value=\"bay 9\""));
    let r = browser
        .post_form(
            "/settings",
            &[
                ("csrf_token", &csrf),
                ("hostname", "bay9"),
                ("iqn_domain", "corp.example.net"),
                ("iqn_date", "2020-02"),
                ("timezone", "UTC"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text());
    assert!(
        browser
            .get("/settings?saved=1")
            .await
            .text()
            .contains("Settings saved.")
    );
    assert_eq!(c.get("/api/v1/settings").await.json()["hostname"], "bay9");
}

both!(
    settings_change_after_setup,
    a_missing_enclosure_is_critical_and_keeps_its_bays,
    job_pages_follow_the_job,
    drives_are_listed_and_linked,
    refused_user_changes_are_audited,
);

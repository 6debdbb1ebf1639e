//! The first-boot wizard, as a page and as `POST /api/v1/setup`.

use crate::both;
use crate::support::{Backend, SETUP_JSON, TestApp, csrf_from_page};

async fn every_page_redirects_to_setup_until_done(backend: Backend) {
    let app = TestApp::new(backend);
    let mut c = app.client().await;
    for path in ["/", "/users", "/audit", "/bays", "/login", "/account"] {
        let r = c.get(path).await;
        assert_eq!(r.status, 303, "{path}");
        assert_eq!(r.location(), "/setup", "{path}");
    }
    let r = c.get("/api/v1/system").await;
    assert_eq!(r.status, 409);
    assert!(r.json()["detail"].as_str().unwrap().contains("/setup"));
    // What stays reachable: the wizard, health, static files.
    assert_eq!(c.get("/setup").await.status, 200);
    assert_eq!(c.get("/healthz").await.status, 200);
    assert_eq!(c.get("/static/baystack.css").await.status, 200);
}

async fn wizard_page_sets_up_the_appliance(backend: Backend) {
    let app = TestApp::new(backend);
    let mut c = app.client().await;
    let page = c.get("/setup").await;
    let html = page.text();
    assert!(html.contains("IQN naming authority"), "{html}");
    assert!(html.contains("RFC 3720"));
    let csrf = csrf_from_page(&html);
    let r = c
        .post_form(
            "/setup",
            &[
                ("csrf_token", &csrf),
                ("admin_password", "correct horse battery"),
                ("admin_password_confirm", "correct horse battery"),
                ("hostname", "bay07"),
                ("iqn_domain", "storage.example.org"),
                ("iqn_date", "2019-06"),
                ("timezone", "America/Chicago"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.location(), "/login?setup=done");
    let signin = c.get("/login?setup=done").await.text();
    assert!(
        signin.contains("name=\"username\" value=\"admin\""),
        "{signin}"
    );
    // The wizard is gone; a late second submission is told why.
    assert_eq!(c.get("/setup").await.status, 404);
    let late = c
        .post_form("/setup", &[("csrf_token", &csrf), ("admin_password", "x")])
        .await;
    assert_eq!(late.status, 409);
    assert!(
        late.text()
            .contains("Another browser finished the setup first")
    );
    let r = c.login("admin", "correct horse battery").await;
    assert_eq!(r.status, 303, "{}", r.text());
    let sys = c.get("/api/v1/system").await.json();
    assert_eq!(sys["hostname"], "bay07");
    assert_eq!(sys["iqn_prefix"], "iqn.2019-06.org.example.storage");
    assert_eq!(sys["timezone"], "America/Chicago");
    let dash = c.get("/").await.text();
    assert!(dash.contains("bay07"));
    assert!(dash.contains("America/Chicago"));
}

async fn wizard_page_refuses_bad_input_and_changes_nothing(backend: Backend) {
    let app = TestApp::new(backend);
    let mut c = app.client().await;
    let csrf = csrf_from_page(&c.get("/setup").await.text());
    let r = c
        .post_form(
            "/setup",
            &[
                ("csrf_token", &csrf),
                ("admin_password", "short"),
                ("admin_password_confirm", "short"),
                ("hostname", "Bay 07"),
                ("iqn_domain", "example.com"),
                ("iqn_date", "2024-13"),
                ("timezone", "UTC"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    let html = r.text();
    assert!(html.contains("at least 10 characters"), "{html}");
    assert!(html.contains("the month must be 01 to 12"), "{html}");
    assert!(html.contains("lowercase letters"), "{html}");
    // Typed values come back, passwords do not.
    assert!(html.contains("value=\"Bay 07\""));
    assert!(!html.contains("value=\"short\""));
    // Still not set up.
    assert_eq!(c.get("/").await.location(), "/setup");

    // A password of ten characters that anyone would guess is refused in
    // words; the rest of what was typed stays, time zone included.
    let r = c
        .post_form(
            "/setup",
            &[
                ("csrf_token", &csrf),
                ("admin_password", "aaaaaaaaaa"),
                ("admin_password_confirm", "aaaaaaaaaa"),
                ("hostname", "nas7"),
                ("iqn_domain", "corp.example.net"),
                ("iqn_date", "2021-03"),
                ("timezone", "Asia/Tokyo"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    let html = r.text();
    assert!(html.contains("too easy to guess"), "{html}");
    assert!(
        html.contains("one field below needs another look"),
        "{html}"
    );
    for kept in [
        "value=\"nas7\"",
        "value=\"corp.example.net\"",
        "value=\"2021-03\"",
        "<option selected>Asia/Tokyo</option>",
    ] {
        assert!(html.contains(kept), "{kept}: {html}");
    }
    assert_eq!(c.get("/").await.location(), "/setup");
}

async fn api_setup_is_201_once_then_409(backend: Backend) {
    let app = TestApp::new(backend);
    let mut c = app.client().await;
    let r = c.post_json("/api/v1/setup", SETUP_JSON).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let body = r.json();
    assert_eq!(body["hostname"], "bay01");
    assert_eq!(body["iqn_prefix"], "iqn.2024-01.com.example");
    assert_eq!(body["admin_username"], "admin");
    let r = c.post_json("/api/v1/setup", SETUP_JSON).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["error"], "conflict");
    // The audit log has the setup, with who and from where.
    let token = c.token_for("admin", "correct horse battery").await;
    c.bearer = Some(token);
    let audit = c.get("/api/v1/audit?action=setup").await.json();
    assert_eq!(audit.as_array().unwrap().len(), 1);
    assert_eq!(audit[0]["actor"], "admin");
    assert_eq!(audit[0]["address"], "127.0.0.1");
}

async fn api_setup_names_the_bad_field(backend: Backend) {
    let app = TestApp::new(backend);
    let mut c = app.client().await;
    let r = c
        .post_json(
            "/api/v1/setup",
            r#"{"admin_password":"correct horse battery","hostname":"bay01","iqn_domain":"example.com","iqn_date":"2024-01","timezone":"Mars/Olympus"}"#,
        )
        .await;
    assert_eq!(r.status, 422);
    let body = r.json();
    assert_eq!(body["error"], "invalid_input");
    assert_eq!(body["field"], "timezone");
    assert!(body["detail"].as_str().unwrap().contains("Mars/Olympus"));
    let r = c.post_json("/api/v1/setup", "{not json").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "bad_request");
    // Nothing was written.
    assert_eq!(c.post_json("/api/v1/setup", SETUP_JSON).await.status, 201);
}

/// Several wizards finishing at the same moment: exactly one wins.
async fn concurrent_setups_have_exactly_one_winner(backend: Backend) {
    let app = TestApp::new(backend);
    let mut clients = Vec::new();
    for _ in 0..6 {
        clients.push(app.client().await);
    }
    let results = futures_util::future::join_all(clients.iter_mut().map(|c| async move {
        c.post_json("/api/v1/setup", SETUP_JSON)
            .await
            .status
            .as_u16()
    }))
    .await;
    let wins = results.iter().filter(|s| **s == 201).count();
    let losses = results.iter().filter(|s| **s == 409).count();
    assert_eq!((wins, losses), (1, 5), "{results:?}");
}

/// The same race between two separate console processes' worth of state
/// (two `AppState`s on one database): the database decides, not memory.
async fn two_consoles_on_one_database_have_one_winner(backend: Backend) {
    let app = TestApp::new(backend);
    let other = baystack::web::AppState::new(
        baystack::db::Db::open(&app.settings.database).unwrap(),
        app.settings.clone(),
    );
    let other = actix_web::web::Data::new(other);
    let mut a = app.client().await;
    let svc = actix_web::test::init_service(baystack::web::app(other)).await;
    let mut b = crate::support::Client::new(svc);
    let (ra, rb) = tokio::join!(
        a.post_json("/api/v1/setup", SETUP_JSON),
        b.post_json("/api/v1/setup", SETUP_JSON)
    );
    let mut statuses = [ra.status.as_u16(), rb.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [201, 409]);
}

both!(
    every_page_redirects_to_setup_until_done,
    wizard_page_sets_up_the_appliance,
    wizard_page_refuses_bad_input_and_changes_nothing,
    api_setup_is_201_once_then_409,
    api_setup_names_the_bad_field,
    concurrent_setups_have_exactly_one_winner,
    two_consoles_on_one_database_have_one_winner,
);

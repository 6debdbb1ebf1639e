//! The NOC wall on `sim`: wall links made, listed with their last use and
//! revoked (a revoked link is refused at once); the board drawn once per
//! change and answered `304` while nothing changed; a failed drive turns
//! it red, an old observation amber; the fleet of appliances sharing the
//! database or a registry of the fleet's own, worst first, one that
//! stopped reporting shown as such. Bad input refused in words.

use std::time::Duration;

use actix_web::http::Method;
use baystack::storage::sim::SimAction;
use serde_json::json;

use crate::both;
use crate::support::{ADMIN_PASSWORD, Backend, PgDatabase, SETUP_JSON, TestApp};

fn look(app: &TestApp) {
    app.observe();
    baystack::agent::evaluate_alerts(app.db(), chrono::Duration::seconds(60)).unwrap();
    baystack::agent::register_appliance(
        app.db(),
        &app.state.fleet,
        chrono::Duration::seconds(60),
        None,
    )
    .unwrap();
}

/// Long enough for the wall to read the state again.
fn later() {
    std::thread::sleep(Duration::from_millis(1100));
}

async fn wall_links_reach_the_wall_and_are_revoked(backend: Backend) {
    let app = TestApp::with_settings(backend, |s| s.sim.layout = vec![12]);
    let mut c = app.client().await;
    c.setup_as_admin().await;
    look(&app);

    // Bad names change nothing.
    for (body, status, words) in [
        (json!({}), 422, "1 to 64 characters"),
        (json!({"name": ""}), 422, "1 to 64 characters"),
        (json!({"name": "x".repeat(65)}), 422, "1 to 64 characters"),
        (json!({"name": "left\u{7}"}), 422, "control characters"),
        (json!({"name": 7}), 400, "expected a string"),
    ] {
        let r = c.post_json("/api/v1/noc-links", &body.to_string()).await;
        assert_eq!(r.status, status, "{body}: {}", r.text());
        assert!(r.text().contains(words), "{body}: {}", r.text());
    }
    assert_eq!(c.get("/api/v1/noc-links").await.json(), json!([]));

    let r = c
        .post_json("/api/v1/noc-links", r#"{"name": "NOC left"}"#)
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let made = r.json();
    let key = made["key"].as_str().unwrap().to_string();
    let id = made["id"].as_i64().unwrap();
    assert!(
        made["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/noc/w/{key}"))
    );
    let listed = c.get("/api/v1/noc-links").await.json();
    assert_eq!(listed[0]["name"], "NOC left");
    assert!(listed[0].get("key").is_none() && listed[0].get("key_hash").is_none());
    assert_eq!(listed[0]["last_used_at"], serde_json::Value::Null);

    // The screen: no session, no token.
    let mut screen = app.client().await;
    let page = screen.get(&format!("/noc/w/{key}")).await;
    assert_eq!(page.status, 200, "{}", page.text());
    let html = page.text();
    assert!(
        html.contains(&format!("data-board=\"/noc/w/{key}/board\"")),
        "{html}"
    );
    assert!(html.contains("bay01"), "{html}");
    assert!(!html.contains("<form"), "read-only: {html}");
    assert!(page.set_cookies().is_empty(), "{:?}", page.set_cookies());
    let board = screen.get(&format!("/noc/w/{key}/board")).await;
    assert_eq!(board.status, 200);
    let etag = board.header("etag").unwrap();
    screen
        .extra_headers
        .push(("if-none-match".into(), etag.clone()));
    let again = screen.get(&format!("/noc/w/{key}/board")).await;
    assert_eq!(again.status, 304, "unchanged: {}", again.text());
    assert!(again.body.is_empty());
    let listed = c.get("/api/v1/noc-links").await.json();
    assert!(listed[0]["last_used_at"].is_string(), "{listed}");
    assert!(listed[0]["last_used_from"].is_string(), "{listed}");

    // A drive fails: the board changes and turns red.
    let bays = c.get("/api/v1/bays").await.json();
    let encl = bays[0]["enclosure"].as_str().unwrap().to_string();
    app.sim().act(&encl, 0, SimAction::FailDrive).unwrap();
    look(&app);
    later();
    let changed = screen.get(&format!("/noc/w/{key}/board")).await;
    assert_eq!(changed.status, 200, "{}", changed.text());
    assert_ne!(changed.header("etag").unwrap(), etag);
    let html = changed.text();
    assert!(html.contains("wall-head state-red"), "{html}");
    assert!(html.contains("is failing"), "{html}");
    assert!(html.contains("wb failing"), "{html}");

    // Revoked: refused at its next refresh, in words; revoking twice is a
    // conflict; the page's form does the same.
    let r = c
        .request(Method::DELETE, &format!("/api/v1/noc-links/{id}"))
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    let refused = screen.get(&format!("/noc/w/{key}/board")).await;
    assert_eq!(refused.status, 401, "{}", refused.text());
    assert!(refused.text().contains("revoked or mistyped"));
    let r = c
        .request(Method::DELETE, &format!("/api/v1/noc-links/{id}"))
        .await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(
        c.request(Method::DELETE, "/api/v1/noc-links/999999")
            .await
            .status,
        404
    );
    let audit = c.get("/api/v1/audit?action=wall_link.revoke").await.json();
    assert_eq!(audit.as_array().unwrap().len(), 1, "{audit}");

    // The admin page makes one and shows its address once.
    let mut browser = app.client().await;
    assert_eq!(
        browser
            .login("admin", crate::support::ADMIN_PASSWORD)
            .await
            .status,
        303
    );
    let csrf = browser.csrf().await;
    browser.extra_headers.push(("x-csrf-token".into(), csrf));
    let r = browser
        .post_form("/noc/links", &[("name", "NOC right")])
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(r.text().contains("/noc/w/"), "{}", r.text());
    let r = browser.post_form("/noc/links", &[("name", "")]).await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(
        r.text().contains("the screen&#39;s name must be 1 to 64"),
        "{}",
        r.text()
    );
    let page = browser.get("/noc/links").await.text();
    assert!(
        page.contains("NOC right") && page.contains("revoked"),
        "{page}"
    );
    assert!(!page.contains(&key), "a key is shown once");
    // A signed-in viewer sees the same wall at /noc.
    let wall = browser.get("/noc").await;
    assert_eq!(wall.status, 200);
    assert!(wall.text().contains("data-board=\"/noc/board\""));
}

/// The fleet: every appliance whose agent shares this database, worst
/// first; one that stopped reporting shown as such, not as healthy.
async fn the_fleet_is_shown_worst_first(backend: Backend) {
    let app = TestApp::with_settings(backend, |s| s.sim.layout = vec![12]);
    let mut c = app.client().await;
    c.setup_as_admin().await;
    look(&app);
    let one = c.get("/api/v1/appliances").await.json();
    assert_eq!(one.as_array().unwrap().len(), 1, "{one}");
    assert_eq!(one[0]["hostname"], "bay01");
    assert_eq!(one[0]["reporting"], true);
    assert_eq!(one[0]["state"], "amber", "the worn drive: {one}");
    assert!(
        !c.get("/noc/board").await.text().contains("wall-fleet"),
        "one appliance: no fleet"
    );

    let now = baystack::db::now();
    let row =
        |name: &str, state: &str, seen: chrono::NaiveDateTime| baystack::db::wall::ApplianceRow {
            id: name.into(),
            hostname: name.into(),
            version: "0.1.0".into(),
            console_url: Some(format!("https://{name}.example.com/")),
            state: state.into(),
            reason: format!("{name} says {state}"),
            stale_after_seconds: 30,
            last_seen_at: seen,
        };
    app.db()
        .get()
        .unwrap()
        .write(|c| {
            baystack::db::wall::register(c, &row("bay02", "green", now))?;
            baystack::db::wall::register(c, &row("bay03", "red", now))?;
            baystack::db::wall::register(
                c,
                &row("bay04", "green", now - chrono::Duration::minutes(5)),
            )
        })
        .unwrap();
    let all = c.get("/api/v1/appliances").await.json();
    let order: Vec<(&str, bool)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["hostname"].as_str().unwrap(),
                a["reporting"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            ("bay03", true),
            ("bay04", false),
            ("bay01", true),
            ("bay02", true)
        ]
    );
    later();
    let board = c.get("/noc/board").await.text();
    let at = |name: &str| board.find(&format!("<strong>{name}</strong>")).unwrap();
    assert!(
        at("bay03") < at("bay04") && at("bay04") < at("bay01") && at("bay01") < at("bay02"),
        "{board}"
    );
    assert!(
        board.contains("href=\"https://bay03.example.com/\""),
        "{board}"
    );
    assert!(
        board.contains("wall-appliance state-amber silent"),
        "{board}"
    );
    assert!(
        board.contains("not reporting · Stopped reporting at"),
        "{board}"
    );
}

/// Replaces the simulator's worn drive, its only trouble, so its wall can
/// be green.
async fn replace_the_worn_drive<S, B>(app: &TestApp, c: &mut crate::support::Client<S>)
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let drives = c.get("/api/v1/drives").await.json();
    let worn = drives
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["health"] == "warning")
        .unwrap();
    let (encl, slot) = (
        worn["bay"]["enclosure"].as_str().unwrap().to_string(),
        worn["bay"]["slot"].as_u64().unwrap() as u32,
    );
    app.sim().act(&encl, slot, SimAction::ReplaceDrive).unwrap();
    look(app);
}

/// `[fleet] database`: two appliances that keep their own SQLite register
/// in a PostgreSQL of the fleet's, and each one's wall and API show both.
/// A registry that goes away turns the wall amber with the reason and the
/// API a 503 in words; the appliance's own wall and looks go on.
#[actix_web::test]
async fn a_fleet_registry_of_its_own_joins_appliances_with_their_own_databases() {
    let fleet = PgDatabase::create();
    let url = baystack::config::DatabaseUrl::Postgres(fleet.url.clone());
    let apps: Vec<TestApp> = (0..2)
        .map(|_| {
            TestApp::with_settings(Backend::Sqlite, |s| {
                s.sim.layout = vec![12];
                s.fleet_database = Some(url.clone());
            })
        })
        .collect();
    let mut clients = Vec::new();
    for (i, app) in apps.iter().enumerate() {
        let mut c = app.client().await;
        let setup = SETUP_JSON.replace("bay01", &format!("bay0{}", i + 1));
        let r = c.post_json("/api/v1/setup", &setup).await;
        assert_eq!(r.status, 201, "{}", r.text());
        c.bearer = Some(c.token_for("admin", ADMIN_PASSWORD).await);
        look(app);
        replace_the_worn_drive(app, &mut c).await;
        clients.push(c);
    }
    // Each appliance's own database holds only itself.
    for (app, name) in apps.iter().zip(["bay01", "bay02"]) {
        let own = baystack::db::wall::appliances(&mut app.db().get().unwrap().conn()).unwrap();
        let names: Vec<&str> = own.iter().map(|a| a.hostname.as_str()).collect();
        assert_eq!(names, [name]);
    }
    later();
    for c in &mut clients {
        let all = c.get("/api/v1/appliances").await.json();
        let names: Vec<(&str, &str)> = all
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["hostname"].as_str().unwrap(),
                    a["state"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(names, [("bay01", "green"), ("bay02", "green")], "{all}");
        let board = c.get("/noc/board").await.text();
        assert!(board.contains("wall-head state-green"), "{board}");
        assert!(
            board.contains("<strong>bay01</strong>") && board.contains("<strong>bay02</strong>"),
            "{board}"
        );
    }

    // The registry goes away under both.
    fleet.drop_now();
    later();
    let c = &mut clients[0];
    let board = c.get("/noc/board").await.text();
    assert!(board.contains("wall-head state-amber"), "{board}");
    assert!(board.contains("The fleet registry"), "{board}");
    assert!(!board.contains("<strong>bay02</strong>"), "{board}");
    assert!(board.contains("bay01"), "its own wall goes on: {board}");
    let r = c.get("/api/v1/appliances").await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.text().contains("The fleet registry"), "{}", r.text());
    // The agent's look goes on, saying the trouble in the log only.
    look(&apps[0]);
}

/// A fleet registry that cannot be reached from the start: the wall is
/// amber and says so, the API says so, and the rest of the console and the
/// agent's looks go on.
#[actix_web::test]
async fn an_unreachable_fleet_registry_is_said_not_hidden() {
    let port = crate::support::wire::free_port();
    let app = TestApp::with_settings(Backend::Sqlite, |s| {
        s.sim.layout = vec![12];
        s.fleet_database = Some(baystack::config::DatabaseUrl::Postgres(format!(
            "postgres://baystack:secret@127.0.0.1:{port}/fleet"
        )));
    });
    let mut c = app.client().await;
    c.setup_as_admin().await;
    look(&app);
    replace_the_worn_drive(&app, &mut c).await;
    let board = c.get("/noc/board").await.text();
    assert!(board.contains("wall-head state-amber"), "{board}");
    assert!(
        board.contains("The fleet registry cannot be reached"),
        "{board}"
    );
    let r = c.get("/api/v1/appliances").await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(
        r.text().contains("The fleet registry cannot be reached"),
        "{}",
        r.text()
    );
    assert!(!r.text().contains("secret"), "{}", r.text());
    assert_eq!(c.get("/api/v1/drives").await.status, 200);
}

/// An agent that stops observing turns the wall amber, never green.
async fn a_stale_wall_is_not_green(backend: Backend) {
    let app = TestApp::with_settings(backend, |s| {
        s.sim.layout = vec![12];
        s.agent.observe_interval_seconds = 1;
    });
    let mut c = app.client().await;
    c.setup_as_admin().await;
    look(&app);
    replace_the_worn_drive(&app, &mut c).await;
    later();
    let board = c.get("/noc/board").await.text();
    assert!(board.contains("wall-head state-green"), "{board}");
    assert!(board.contains("All is well"), "{board}");
    // Three intervals with no look.
    std::thread::sleep(Duration::from_millis(3200));
    let board = c.get("/noc/board").await.text();
    assert!(board.contains("wall-head state-amber"), "{board}");
    assert!(
        board.contains("has not observed the appliance since"),
        "{board}"
    );
}

both!(
    wall_links_reach_the_wall_and_are_revoked,
    the_fleet_is_shown_worst_first,
    a_stale_wall_is_not_green,
);

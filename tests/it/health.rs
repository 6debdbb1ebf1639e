//! `/healthz` and the dashboard fed by the observer.

use crate::both;
use crate::support::{ADMIN_PASSWORD, Backend, TestApp};

async fn healthz_is_ok_without_login(backend: Backend) {
    let app = TestApp::new(backend);
    let mut c = app.client().await;
    let r = c.get("/healthz").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        serde_json::json!({"status": "ok", "database": "ok"})
    );
    c.setup().await;
    assert_eq!(c.get("/healthz").await.status, 200);
}

async fn dashboard_shows_what_the_observer_saw(backend: Backend) {
    let app = TestApp::new(backend);
    let mut c = app.client().await;
    c.setup().await;
    c.login("admin", ADMIN_PASSWORD).await;
    let before = c.get("/").await.text();
    assert!(before.contains("Nothing observed yet"), "{before}");
    app.observe();
    let html = c.get("/").await.text();
    assert!(html.contains("Front 12-bay"), "{html}");
    assert!(
        html.contains("10<span class=\"of\"> / 12</span>"),
        "bays used / total"
    );
    assert!(html.contains("(2 free)"));
    assert!(html.contains("Drives that need attention"));
    assert!(html.contains("8 reallocated sectors, 2 sectors pending reallocation"));
    assert!(
        !html.contains("Enclosure parts in trouble"),
        "one simulated enclosure, all its parts well"
    );
    let partial = c.get("/dashboard/summary").await;
    assert_eq!(partial.status, 200);
    let partial = partial.text();
    assert!(
        partial.starts_with("<section id=\"summary\""),
        "a fragment, not a page"
    );
    assert!(!partial.contains("<html"));
    // A second pass changes nothing in the counts.
    app.observe();
    assert!(
        c.get("/")
            .await
            .text()
            .contains("10<span class=\"of\"> / 12</span>")
    );
}

/// A fan the enclosure reports failed is named on the dashboard, the bay
/// map and through the API.
async fn failed_enclosure_parts_are_shown(backend: Backend) {
    let app = TestApp::with_settings(backend, |s| s.sim.layout = vec![12, 24]);
    let mut c = app.client().await;
    c.setup().await;
    c.login("admin", ADMIN_PASSWORD).await;
    app.observe();
    let html = c.get("/").await.text();
    assert!(!html.contains("Enclosure parts in trouble"), "{html}");
    let second = c.get("/api/v1/enclosures").await.json()[1]["ident"]
        .as_str()
        .unwrap()
        .to_string();
    app.sim()
        .set_element(&second, "Fan 2", "critical", "0 rpm, Fail")
        .unwrap();
    app.observe();
    let html = c.get("/").await.text();
    assert!(html.contains("Enclosure parts in trouble"), "{html}");
    assert!(
        html.contains("<td>Cooling <strong>Fan 2</strong></td><td>0 rpm, Fail</td>"),
        "{html}"
    );
    let map = c.get("/bays/map").await.text();
    assert!(
        map.contains("<strong>Fan 2</strong> critical · 0 rpm, Fail"),
        "{map}"
    );
    let enclosures = c.get("/api/v1/enclosures").await.json();
    assert_eq!(enclosures.as_array().unwrap().len(), 2);
    let fans: Vec<_> = enclosures[1]["elements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "Cooling")
        .map(|e| (e["name"].as_str().unwrap(), e["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        fans,
        [("Fan 1", "OK"), ("Fan 2", "critical"), ("Fan 3", "OK")]
    );
}

/// When the agent cannot observe the storage (here: no lsblk where the
/// linux backend looks for it), the dashboard says why instead of showing
/// an empty appliance as if it were real; a page not built yet says so.
async fn dashboard_says_plainly_what_is_not_built(backend: Backend) {
    let tools = tempfile::tempdir().unwrap();
    let app = TestApp::with_settings(backend, |s| {
        s.backend = baystack::config::BackendKind::Linux;
        s.linux.tool_dirs = vec![tools.path().to_path_buf()];
    });
    let mut c = app.client().await;
    c.setup().await;
    c.login("admin", ADMIN_PASSWORD).await;
    app.observe();
    let html = c.get("/").await.text();
    assert!(
        html.contains("The agent could not observe the storage."),
        "{html}"
    );
    assert!(html.contains("lsblk is not installed"), "{html}");
    let bays = c.get("/bays").await.text();
    assert!(
        bays.contains("No enclosure observed yet: lsblk is not installed"),
        "{bays}"
    );
}

both!(
    failed_enclosure_parts_are_shown,
    healthz_is_ok_without_login,
    dashboard_shows_what_the_observer_saw,
    dashboard_says_plainly_what_is_not_built,
);

#[actix_web::test]
async fn healthz_says_503_when_the_database_is_gone() {
    let app = TestApp::new(Backend::Postgres);
    let mut c = app.client().await;
    assert_eq!(c.get("/healthz").await.status, 200);
    app.pg.as_ref().unwrap().drop_now();
    let r = c.get("/healthz").await;
    assert_eq!(r.status, 503);
    let body = r.json();
    assert_eq!(body["status"], "unavailable");
    assert!(!body["database"].as_str().unwrap().is_empty());
}

/// Every response, page or API, success or refusal, carries the policy that
/// keeps other sites' scripts, frames and sniffing out.
#[actix_web::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::new(Backend::Sqlite);
    let mut c = app.client().await;
    for path in [
        "/healthz",
        "/setup",
        "/",
        "/api/v1/system",
        "/static/baystack.css",
        "/nosuch",
    ] {
        let r = c.get(path).await;
        let header = |name: &str| {
            r.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("{path} ({}) has no {name}", r.status))
                .to_string()
        };
        let csp = header("content-security-policy");
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
    }
}

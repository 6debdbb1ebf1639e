//! Signing in and out, cookies, CSRF and the throttling of failed logins.

use crate::both;
use baystack::config::IpRange;

use crate::support::{ADMIN_PASSWORD, Backend, TestApp, csrf_from_page};

async fn login_sets_a_strict_http_only_cookie_and_logout_ends_it(backend: Backend) {
    let app = TestApp::new(backend);
    let mut c = app.client().await;
    c.setup().await;
    let r = c.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), "/");
    let cookie = r
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("baystack_session="))
        .expect("session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP must not mark it Secure: {cookie}"
    );
    let dash = c.get("/").await;
    assert_eq!(dash.status, 200);
    assert!(dash.text().contains("Dashboard"));

    let csrf = csrf_from_page(&dash.text());
    let r = c.post_form("/logout", &[("csrf_token", &csrf)]).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), "/login");
    assert_eq!(r.header("clear-site-data").as_deref(), Some("\"cache\""));
    let r = c.get("/").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), "/login");
}

async fn cookies_are_secure_over_tls(backend: Backend) {
    let app = TestApp::with_settings(backend, |s| {
        s.security.trusted_proxies = vec![IpRange::parse("127.0.0.1").unwrap()];
    });
    let mut c = app.client().await;
    c.setup().await;
    // As behind a TLS-terminating proxy on the same host.
    c.extra_headers
        .push(("x-forwarded-proto".into(), "https".into()));
    let r = c.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(r.status, 303);
    let cookie = r
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("baystack_session="))
        .unwrap();
    assert!(cookie.contains("Secure"), "{cookie}");
    // The same header from an address that is not a trusted proxy is not
    // believed.
    let mut other = app.client().await;
    other.peer = "192.0.2.9:5000".parse().unwrap();
    other
        .extra_headers
        .push(("x-forwarded-proto".into(), "https".into()));
    let r = other.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(r.status, 303);
    let cookie = r
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("baystack_session="))
        .unwrap();
    assert!(!cookie.contains("Secure"), "{cookie}");
}

async fn wrong_password_is_refused_in_words_and_audited(backend: Backend) {
    let app = TestApp::new(backend);
    let mut c = app.client().await;
    c.setup().await;
    let r = c.login("admin", "not the password").await;
    assert_eq!(r.status, 401);
    assert!(r.text().contains("wrong user name or password"));
    assert!(
        !r.set_cookies()
            .iter()
            .any(|c| c.starts_with("baystack_session="))
    );
    let r = c.login("nobody", "not the password").await;
    assert_eq!(r.status, 401, "unknown users look the same");
    let token = c.token_for("admin", ADMIN_PASSWORD).await;
    c.bearer = Some(token);
    let audit = c.get("/api/v1/audit?action=login").await.json();
    let failed: Vec<&serde_json::Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"] == "failed")
        .collect();
    assert_eq!(failed.len(), 2);
    assert!(failed.iter().any(|e| e["target"] == "nobody"));
    assert!(failed.iter().all(|e| e["address"] == "127.0.0.1"));
}

async fn failed_logins_are_throttled_per_user_and_address(backend: Backend) {
    let app = TestApp::new(backend);
    let mut c = app.client().await;
    c.setup().await;
    c.peer = "203.0.113.5:5000".parse().unwrap();
    for _ in 0..5 {
        assert_eq!(c.login("admin", "guess").await.status, 401);
    }
    let r = c.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(r.status, 429, "even the right password waits: {}", r.text());
    assert!(
        r.text()
            .contains("too many failed sign-ins for &#34;admin&#34; from 203.0.113.5"),
        "{}",
        r.text()
    );
    assert_eq!(r.header("retry-after").as_deref(), Some("900"));
    // The API path to a token is throttled the same way.
    let r = c
        .send(
            actix_web::test::TestRequest::post()
                .uri("/api/v1/tokens")
                .insert_header((
                    "authorization",
                    "Basic YWRtaW46Y29ycmVjdCBob3JzZSBiYXR0ZXJ5",
                )),
        )
        .await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"], "too_many_requests");
    // A stranger cannot lock the admin out from elsewhere.
    c.peer = "198.51.100.20:5000".parse().unwrap();
    assert_eq!(c.login("admin", ADMIN_PASSWORD).await.status, 303);
}

/// Across all addresses a user name gets a growing delay, not a hard lock.
async fn guesses_from_many_addresses_meet_a_growing_delay(backend: Backend) {
    let app = TestApp::with_settings(backend, |s| {
        s.security.login_failures_per_user_any_address = 3
    });
    let mut c = app.client().await;
    c.setup().await;
    for i in 0..3 {
        c.peer = format!("10.0.0.{}:5000", i + 1).parse().unwrap();
        assert_eq!(c.login("admin", "guess").await.status, 401);
    }
    c.peer = "10.0.0.99:5000".parse().unwrap();
    let r = c.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.text().contains("from several places"), "{}", r.text());
    assert_eq!(r.header("retry-after").as_deref(), Some("2"));
    // Once the delay has passed (moved back in the database rather than
    // waited for), one more attempt is checked; a wrong one doubles it.
    let pass_delay = || {
        use baystack::db::schema::login_throttle;
        use diesel::prelude::*;
        let mut conn = app.db().get().unwrap();
        baystack::db_run!(&mut conn.conn(), c => diesel::update(login_throttle::table)
            .set(login_throttle::next_at.eq(baystack::db::now() - chrono::Duration::seconds(1)))
            .execute(c))
        .unwrap();
    };
    pass_delay();
    assert_eq!(c.login("admin", "guess").await.status, 401);
    let r = c.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after").as_deref(), Some("4"));
    pass_delay();
    assert_eq!(c.login("admin", ADMIN_PASSWORD).await.status, 303);
}

/// However many guesses arrive at once, no more are checked than the limit.
async fn a_parallel_burst_gets_no_more_guesses_than_the_limit(backend: Backend) {
    use actix_web::test;
    let app = TestApp::new(backend);
    let mut c = app.client().await;
    c.setup().await;
    let svc = test::init_service(baystack::web::app(app.state.clone())).await;
    let basic = |pw: &str| {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("admin:{pw}"))
        )
    };
    let requests = (0..40).map(|i| {
        test::TestRequest::post()
            .uri("/api/v1/tokens")
            .peer_addr("203.0.113.9:5000".parse().unwrap())
            .insert_header(("authorization", basic(&format!("guess {i}"))))
            .to_request()
    });
    let statuses: Vec<u16> =
        futures_util::future::join_all(requests.map(|r| test::call_service(&svc, r)))
            .await
            .iter()
            .map(|r| r.status().as_u16())
            .collect();
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, refused), (5, 35), "{statuses:?}");
    let right = test::TestRequest::post()
        .uri("/api/v1/tokens")
        .peer_addr("203.0.113.9:5000".parse().unwrap())
        .insert_header(("authorization", basic(ADMIN_PASSWORD)))
        .to_request();
    assert_eq!(test::call_service(&svc, right).await.status(), 429);
}

async fn failed_logins_are_throttled_per_address(backend: Backend) {
    let app = TestApp::with_settings(backend, |s| s.security.login_failures_per_address = 4);
    let mut c = app.client().await;
    c.setup().await;
    c.peer = "192.0.2.7:5000".parse().unwrap();
    for i in 0..4 {
        assert_eq!(c.login(&format!("user{i}"), "guess").await.status, 401);
    }
    let r = c.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(r.status, 429);
    assert!(r.text().contains("from 192.0.2.7"), "{}", r.text());
    // Another address is not affected.
    c.peer = "192.0.2.8:5000".parse().unwrap();
    assert_eq!(c.login("admin", ADMIN_PASSWORD).await.status, 303);
}

async fn state_changes_need_the_csrf_token(backend: Backend) {
    let app = TestApp::new(backend);
    let mut c = app.client().await;
    c.setup().await;
    c.login("admin", ADMIN_PASSWORD).await;
    let csrf = c.csrf().await;
    let fields = [
        ("username", "eve"),
        ("role", "admin"),
        ("password", "a long enough one"),
        ("confirm", "a long enough one"),
    ];
    // No token: refused, nothing created.
    let r = c.post_form("/users", &fields).await;
    assert_eq!(r.status, 403);
    assert!(r.text().contains("reload the page"));
    // A wrong token: refused.
    let mut with_bad = fields.to_vec();
    with_bad.push(("csrf_token", "forged"));
    assert_eq!(c.post_form("/users", &with_bad).await.status, 403);
    // The token in a header, as htmx sends it: accepted.
    c.extra_headers.push(("x-csrf-token".into(), csrf.clone()));
    let r = c.post_form("/users", &fields).await;
    assert_eq!(r.status, 303, "{}", r.text());
    c.extra_headers.clear();
    // A cross-site origin is refused even with the token.
    c.extra_headers
        .push(("origin".into(), "https://evil.example".into()));
    let mut with_good = fields.to_vec();
    with_good[0] = ("username", "mallory");
    with_good.push(("csrf_token", &csrf));
    let r = c.post_form("/users", &with_good).await;
    assert_eq!(r.status, 403);
    assert!(r.text().contains("cross-site"));
    c.extra_headers.clear();
    let users = c.get("/users").await.text();
    assert!(users.contains("eve"));
    assert!(!users.contains("mallory"));
}

async fn login_form_needs_its_pre_session_token(backend: Backend) {
    let app = TestApp::new(backend);
    let mut c = app.client().await;
    c.setup().await;
    c.get("/login").await;
    let r = c
        .post_form(
            "/login",
            &[("username", "admin"), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(
        !r.set_cookies()
            .iter()
            .any(|c| c.starts_with("baystack_session="))
    );
}

async fn htmx_requests_are_redirected_with_a_header(backend: Backend) {
    let app = TestApp::new(backend);
    let mut c = app.client().await;
    c.setup().await;
    c.extra_headers.push(("hx-request".into(), "true".into()));
    let r = c.get("/dashboard/summary").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("hx-redirect").as_deref(),
        Some("/login?next=%2Fdashboard%2Fsummary")
    );
}

async fn a_password_change_ends_other_sessions(backend: Backend) {
    let app = TestApp::new(backend);
    let mut a = app.client().await;
    a.setup().await;
    a.login("admin", ADMIN_PASSWORD).await;
    let mut b = app.client().await;
    b.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(b.get("/").await.status, 200);
    let csrf = a.csrf().await;
    let r = a
        .post_form(
            "/account/password",
            &[
                ("csrf_token", &csrf),
                ("current", ADMIN_PASSWORD),
                ("new", "another long password"),
                ("confirm", "another long password"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("Your password is changed"));
    assert_eq!(
        a.get("/").await.status,
        200,
        "the session that changed it stays"
    );
    assert_eq!(b.get("/").await.location(), "/login", "the other one ends");
    assert_eq!(b.login("admin", "another long password").await.status, 303);
}

async fn the_last_admin_stays(backend: Backend) {
    let app = TestApp::new(backend);
    let mut c = app.client().await;
    c.setup().await;
    let token = c.token_for("admin", ADMIN_PASSWORD).await;
    c.add_user(&token, "ops", "operator", "a long enough one")
        .await;
    c.login("admin", ADMIN_PASSWORD).await;
    let csrf = c.csrf().await;
    let r = c
        .post_form(
            "/users/admin/role",
            &[("csrf_token", &csrf), ("role", "viewer")],
        )
        .await;
    assert_eq!(r.status, 409);
    assert!(r.text().contains("last admin"), "{}", r.text());
    let r = c
        .post_form("/users/admin/delete", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(r.status, 409);
    // Making ops admin first allows demoting admin.
    let r = c
        .post_form(
            "/users/ops/role",
            &[("csrf_token", &csrf), ("role", "admin")],
        )
        .await;
    assert_eq!(r.status, 303);
    c.bearer = Some(token);
    let users = c.get("/api/v1/users").await.json();
    assert_eq!(
        users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["username"] == "ops")
            .unwrap()["role"],
        "admin"
    );
}

/// `next` leads only to a path on this console; anything a browser could
/// read as another host goes to the dashboard.
async fn next_never_leaves_the_console(backend: Backend) {
    let app = TestApp::new(backend);
    let mut c = app.client().await;
    c.setup().await;
    for (next, wanted) in [
        ("/%09/evil.example/x", "/"),
        ("/%0a/x", "/"),
        ("//evil.example", "/"),
        ("/%5Cevil.example", "/"),
        ("https://evil.example/", "/"),
        ("/audit?before=5", "/audit?before=5"),
    ] {
        let page = c.get(&format!("/login?next={next}")).await;
        assert_eq!(page.status, 200, "{next}: {}", page.text());
        let csrf = csrf_from_page(&page.text());
        let decoded: String =
            serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("n={next}")).unwrap()[0]
                .1
                .clone();
        let r = c
            .post_form(
                "/login",
                &[
                    ("csrf_token", &csrf),
                    ("username", "admin"),
                    ("password", ADMIN_PASSWORD),
                    ("next", &decoded),
                ],
            )
            .await;
        assert_eq!(r.status, 303, "{next}");
        assert_eq!(r.location(), wanted, "{next}");
        // Signed in, the login page sends the user on at once.
        let r = c.get(&format!("/login?next={next}")).await;
        assert_eq!(r.location(), wanted, "{next}");
        c.cookies.remove("baystack_session");
    }
}

/// Only the console's own host names: a page on another site that rebinds
/// its name to this machine (DNS rebinding) cannot run the wizard or sign
/// in, even with a matching Origin.
async fn other_host_names_are_refused(backend: Backend) {
    let app = TestApp::with_settings(backend, |s| {
        s.security.allowed_hosts = vec!["storage.corp.example".into()];
    });
    let mut c = app.client().await;
    c.extra_headers.push(("host".into(), "evil.example".into()));
    c.extra_headers
        .push(("origin".into(), "http://evil.example".into()));
    let r = c
        .post_json("/api/v1/setup", crate::support::SETUP_JSON)
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("does not answer to the host name"),
        "{}",
        r.text()
    );
    let r = c.get("/setup").await;
    assert_eq!(r.status, 400);
    // The health check answers whatever the name (load balancers use IPs).
    assert_eq!(c.get("/healthz").await.status, 200);
    c.extra_headers.clear();
    c.setup().await;
    for host in ["evil.example", "bay01.evil.example"] {
        c.extra_headers = vec![
            ("host".into(), host.into()),
            ("origin".into(), format!("http://{host}")),
        ];
        let page = c.get("/login").await;
        assert_eq!(page.status, 400, "{host}");
        let r = c
            .send(
                actix_web::test::TestRequest::post()
                    .uri("/api/v1/tokens")
                    .insert_header((
                        "authorization",
                        "Basic YWRtaW46Y29ycmVjdCBob3JzZSBiYXR0ZXJ5",
                    )),
            )
            .await;
        assert_eq!(r.status, 400, "{host}");
    }
    // A client-set X-Forwarded-Host changes nothing without a trusted proxy.
    c.extra_headers = vec![
        ("host".into(), "evil.example".into()),
        ("x-forwarded-host".into(), "localhost".into()),
    ];
    assert_eq!(c.get("/login").await.status, 400);
    c.extra_headers = vec![
        ("host".into(), "localhost:8080".into()),
        ("x-forwarded-host".into(), "evil.example".into()),
        ("origin".into(), "http://evil.example".into()),
    ];
    let page = c.get("/login").await;
    assert_eq!(page.status, 200);
    let csrf = csrf_from_page(&page.text());
    let r = c
        .post_form(
            "/login",
            &[
                ("csrf_token", &csrf),
                ("username", "admin"),
                ("password", ADMIN_PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        r.status,
        403,
        "Origin is held against the real host: {}",
        r.text()
    );
    // Names the console does answer to.
    for host in [
        "storage.corp.example",
        "bay01",
        "bay01.example.com",
        "127.0.0.1:8080",
        "[::1]:8080",
        "localhost",
    ] {
        c.extra_headers = vec![("host".into(), host.into())];
        assert_eq!(c.get("/login").await.status, 200, "{host}");
    }
}

/// Pages behind the gate are never cached, but for the drawn pages, which
/// the browser must ask for again every time and which signing out clears,
/// so Back after signing out shows nothing; HEAD works where GET does.
async fn signed_in_pages_are_not_kept_by_the_browser(backend: Backend) {
    let app = TestApp::new(backend);
    let mut c = app.client().await;
    c.setup().await;
    c.login("admin", ADMIN_PASSWORD).await;
    for path in ["/users", "/api/v1/system", "/login", "/drives/1"] {
        let r = c.get(path).await;
        assert_eq!(
            r.header("cache-control").as_deref(),
            Some("no-store"),
            "{path}"
        );
    }
    for path in ["/", "/bays", "/drives", "/pools", "/dashboard/summary"] {
        let r = c.get(path).await;
        assert_eq!(
            r.header("cache-control").as_deref(),
            Some("private, no-cache"),
            "{path}"
        );
        assert!(r.header("etag").is_some(), "{path}");
    }
    // (The body is dropped on the wire by actix's HTTP/1 encoder.)
    let r = c.request(actix_web::http::Method::HEAD, "/").await;
    assert_eq!(r.status, 200);
    let r = c.request(actix_web::http::Method::HEAD, "/healthz").await;
    assert_eq!(r.status, 200);
    c.cookies.remove("baystack_session");
    let r = c.request(actix_web::http::Method::HEAD, "/users").await;
    assert_eq!(r.status, 303, "HEAD is held to GET's access");
}

/// Signing in again ends the browser's previous session; a session ends
/// after its absolute lifetime however busy it is.
async fn sessions_end_on_a_new_sign_in_and_after_their_lifetime(backend: Backend) {
    let app = TestApp::new(backend);
    let mut c = app.client().await;
    c.setup().await;
    // A login form opened before the first sign-in, submitted again later
    // (another tab).
    let page = c.get("/login").await;
    let csrf = csrf_from_page(&page.text());
    let form = [
        ("csrf_token", csrf.as_str()),
        ("username", "admin"),
        ("password", ADMIN_PASSWORD),
    ];
    assert_eq!(c.post_form("/login", &form).await.status, 303);
    let first = c.cookies.get("baystack_session").unwrap().clone();
    let r = c.post_form("/login", &form).await;
    assert_eq!(r.status, 303, "{}", r.text());
    let second = c.cookies.get("baystack_session").unwrap().clone();
    assert_ne!(first, second);
    let mut stale = app.client().await;
    stale.cookies.insert("baystack_session".into(), first);
    assert_eq!(
        stale.get("/").await.location(),
        "/login",
        "the old one ended"
    );
    assert_eq!(c.get("/").await.status, 200);
    // Started a day and a minute ago (moved back rather than waited for),
    // behind the console's back: a GET finds out once it no longer trusts
    // what it read of the session.
    tokio::time::sleep(baystack::web::gate::SEEN_FRESH).await;
    {
        use baystack::db::schema::sessions;
        use diesel::prelude::*;
        let mut conn = app.db().get().unwrap();
        baystack::db_run!(&mut conn.conn(), c => diesel::update(sessions::table)
            .set(sessions::created_at.eq(baystack::db::now() - chrono::Duration::minutes(24 * 60 + 1)))
            .execute(c))
        .unwrap();
    }
    assert_eq!(c.get("/").await.location(), "/login");
}

/// What an anonymous sign-in can put in the audit log is bounded and
/// shown as sent; the log is kept for `audit_keep_days` and no longer.
async fn the_audit_log_is_bounded(backend: Backend) {
    let app = TestApp::new(backend);
    let mut c = app.client().await;
    c.setup().await;
    let huge = "x".repeat(60_000);
    assert_eq!(c.login(&huge, "guess").await.status, 401);
    assert_eq!(c.login("adm\u{202e}nimda", "guess").await.status, 401);
    let token = c.token_for("admin", ADMIN_PASSWORD).await;
    c.bearer = Some(token);
    let audit = c.get("/api/v1/audit?action=login&limit=10").await.json();
    let targets: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"] == "failed")
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    assert_eq!(targets.len(), 2);
    assert!(targets.iter().all(|t| t.chars().count() <= 257), "capped");
    assert!(targets.iter().any(|t| t.ends_with('…')));
    assert!(targets.contains(&"adm\u{fffd}nimda"), "{targets:?}");

    // Entries older than the keep time go; newer ones stay.
    {
        use baystack::db::schema::audit_log;
        use diesel::prelude::*;
        let mut conn = app.db().get().unwrap();
        baystack::db_run!(&mut conn.conn(), c => diesel::update(audit_log::table.filter(audit_log::outcome.eq("failed")))
            .set(audit_log::at.eq(baystack::db::now() - chrono::Duration::days(366)))
            .execute(c))
        .unwrap();
    }
    let keep = chrono::Duration::days(i64::from(app.settings.security.audit_keep_days));
    assert_eq!(baystack::agent::prune_audit(app.db(), keep).unwrap(), 2);
    let left = c.get("/api/v1/audit?limit=100").await.json();
    assert!(!left.as_array().unwrap().is_empty());
    assert!(
        left.as_array()
            .unwrap()
            .iter()
            .all(|e| e["outcome"] != "failed")
    );
}

/// The big pages are drawn once for a role and shared: each person finds
/// their own name and token in them, the browser is answered `304` while a
/// page is unchanged, and a change made here shows at once.
async fn drawn_pages_are_shared_and_answered_304_while_unchanged(backend: Backend) {
    let app = TestApp::new(backend);
    app.observe();
    let mut a = app.client().await;
    a.setup_as_admin().await;
    let admin_token = a.bearer.take().unwrap();
    a.add_user(&admin_token, "olga", "operator", "a long operator password")
        .await;
    a.add_user(&admin_token, "otto", "operator", "otto's own long password")
        .await;
    a.login("olga", "a long operator password").await;
    let mut b = app.client().await;
    b.login("otto", "otto's own long password").await;

    for path in [
        "/",
        "/bays",
        "/bays/map",
        "/drives",
        "/drives?sort=bay",
        "/pools",
    ] {
        let first = a.get(path).await;
        assert_eq!(first.status, 200, "{path}");
        let etag = first.header("etag").expect("an ETag");
        let other = b.get(path).await;
        let (mine, theirs) = (first.text(), other.text());
        assert!(!mine.contains("bs-mark-"), "{path}: a mark was left");
        // (The map alone, which htmx swaps in, has no frame.)
        if path != "/bays/map" {
            assert!(
                mine.contains(">olga</a>") && !mine.contains("otto"),
                "{path}"
            );
            assert!(
                theirs.contains(">otto</a>") && !theirs.contains("olga"),
                "{path}"
            );
            let (ta, tb) = (a.csrf().await, b.csrf().await);
            assert!(mine.contains(&ta) && !mine.contains(&tb), "{path}");
            assert!(theirs.contains(&tb) && !theirs.contains(&ta), "{path}");
        }
        assert_ne!(
            other.header("etag").unwrap(),
            etag,
            "{path}: sessions differ"
        );

        a.extra_headers = vec![("if-none-match".into(), etag.clone())];
        let again = a.get(path).await;
        a.extra_headers.clear();
        assert_eq!(again.status, 304, "{path}");
        assert!(again.text().is_empty(), "{path}");
        assert_eq!(again.header("etag").as_deref(), Some(etag.as_str()));
        b.extra_headers = vec![("if-none-match".into(), etag.clone())];
        assert_eq!(b.get(path).await.status, 200, "{path}: not another's");
        b.extra_headers.clear();
    }

    // A change made here is on the next page at once, not a second later.
    let before = a.get("/bays").await;
    assert!(!before.text().contains("pending-job"));
    let csrf = a.csrf().await;
    let r = a
        .post_form("/drives/3/locate", &[("csrf_token", &csrf), ("on", "true")])
        .await;
    assert!(r.status.as_u16() < 400, "{}", r.text());
    let after = a.get("/bays").await;
    assert!(after.text().contains("pending-job"), "the new job is shown");
    assert_ne!(after.header("etag"), before.header("etag"));

    // Unknown sort orders are refused, not drawn.
    let r = a.get("/drives?sort=colour").await;
    assert_eq!(r.status, 422, "{}", r.text());
}

/// Many sessions of different roles read the drawn pages at once over real
/// connections, on a server with several workers, while one of them keeps
/// changing what the pages show: every answer is whole and carries its own
/// session's name and CSRF token and nobody else's, and an ETag that
/// answers `304` is that session's own.
async fn drawn_pages_stay_per_session_under_parallel_requests(backend: Backend) {
    use crate::support::wire;
    let app = TestApp::new(backend);
    app.observe();
    let mut a = app.client().await;
    a.setup_as_admin().await;
    let admin_token = a.bearer.take().unwrap();
    let people = [
        ("olga", "operator"),
        ("otto", "operator"),
        ("ingrid", "admin"),
        ("wendy", "viewer"),
    ];
    let mut sessions = Vec::new();
    for (name, role) in people {
        let password = format!("{name}'s own long password");
        a.add_user(&admin_token, name, role, &password).await;
        let mut c = app.client().await;
        assert_eq!(c.login(name, &password).await.status, 303);
        let csrf = c.csrf().await;
        let cookie = c
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        sessions.push((name, cookie, csrf));
    }
    let port = wire::free_port();
    let state = app.state.clone();
    std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let listen = format!("127.0.0.1:{port}").parse().unwrap();
            baystack::web::server::serve(state, listen, 4)
                .unwrap()
                .await
                .unwrap();
        })
    });
    wire::wait_for_health(port);

    let all: Vec<(String, String)> = sessions
        .iter()
        .map(|(n, _, t)| (n.to_string(), t.clone()))
        .collect();
    let mut threads = Vec::new();
    for (i, (name, cookie, csrf)) in sessions.iter().cloned().enumerate() {
        for _ in 0..2 {
            let (name, cookie, csrf, all) =
                (name.to_string(), cookie.clone(), csrf.clone(), all.clone());
            threads.push(std::thread::spawn(move || {
                let mut etags: Vec<(String, String)> = Vec::new();
                let mut answers = 0;
                for round in 0..8 {
                    // The first operator keeps changing what pages show.
                    if i == 0 {
                        let body = format!("csrf_token={csrf}&on={}", round % 2 == 0);
                        let form = "application/x-www-form-urlencoded";
                        let headers = [("Cookie", cookie.as_str()), ("Content-Type", form)];
                        let r = wire::call(port, "POST", "/drives/3/locate", &headers, &body);
                        assert!(wire::status(&r) < 400, "{r}");
                    }
                    for path in [
                        "/",
                        "/bays",
                        "/bays/map",
                        "/drives",
                        "/pools",
                        "/dashboard/summary",
                    ] {
                        let mut headers = vec![("Cookie", cookie.as_str())];
                        let known = etags
                            .iter()
                            .find(|(p, _)| p == path)
                            .map(|(_, e)| e.clone());
                        if round % 2 == 1
                            && let Some(e) = &known
                        {
                            headers.push(("If-None-Match", e.as_str()));
                        }
                        let r = wire::call(port, "GET", path, &headers, "");
                        answers += 1;
                        let etag = r
                            .lines()
                            .find_map(|l| {
                                l.strip_prefix("etag: ")
                                    .or_else(|| l.strip_prefix("ETag: "))
                            })
                            .map(str::to_string);
                        match wire::status(&r) {
                            304 => {
                                assert_eq!(
                                    etag, known,
                                    "{name} {path}: a 304 for its own ETag only"
                                );
                                continue;
                            }
                            200 => {}
                            other => panic!("{name} {path}: {other}: {r}"),
                        }
                        assert!(
                            r.trim_end().ends_with('>'),
                            "{name} {path}: a whole page: {r}"
                        );
                        assert!(!r.contains("bs-mark-"), "{name} {path}: a mark was left");
                        if path.starts_with("/bays") {
                            // Drawn for the role: a viewer has no buttons.
                            let buttons = r.contains("baysform");
                            assert_eq!(buttons, name != "wendy", "{name} {path}");
                        }
                        for (other, token) in &all {
                            let framed = !path.ends_with("/map") && !path.ends_with("/summary");
                            let named = r.contains(&format!(">{other}</a>"));
                            let tokened = r.contains(token.as_str());
                            if *other == name {
                                assert!(
                                    !framed || (named && tokened),
                                    "{name} {path}: its own name and token"
                                );
                            } else {
                                assert!(
                                    !named && !tokened,
                                    "{name} {path}: {other}'s name or token"
                                );
                            }
                        }
                        etags.retain(|(p, _)| p != path);
                        etags.push((path.to_string(), etag.expect("an ETag")));
                    }
                }
                answers
            }));
        }
    }
    let answers: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(answers, 4 * 2 * 8 * 6);
}

both!(
    drawn_pages_stay_per_session_under_parallel_requests,
    drawn_pages_are_shared_and_answered_304_while_unchanged,
    the_audit_log_is_bounded,
    next_never_leaves_the_console,
    other_host_names_are_refused,
    signed_in_pages_are_not_kept_by_the_browser,
    sessions_end_on_a_new_sign_in_and_after_their_lifetime,
    login_sets_a_strict_http_only_cookie_and_logout_ends_it,
    cookies_are_secure_over_tls,
    wrong_password_is_refused_in_words_and_audited,
    failed_logins_are_throttled_per_user_and_address,
    guesses_from_many_addresses_meet_a_growing_delay,
    a_parallel_burst_gets_no_more_guesses_than_the_limit,
    failed_logins_are_throttled_per_address,
    state_changes_need_the_csrf_token,
    login_form_needs_its_pre_session_token,
    htmx_requests_are_redirected_with_a_header,
    a_password_change_ends_other_sessions,
    the_last_admin_stays,
);

//! API tokens: issued once for HTTP Basic credentials, stored only as a
//! hash, accepted as `Authorization: Bearer` on every route.

use crate::both;
use crate::support::{ADMIN_PASSWORD, Backend, TestApp};

async fn a_token_works_on_json_and_html_routes_with_its_owners_role(backend: Backend) {
    let app = TestApp::new(backend);
    let mut c = app.client().await;
    c.setup().await;
    let admin = c.token_for("admin", ADMIN_PASSWORD).await;
    assert!(admin.starts_with("bst_"));
    c.add_user(&admin, "wall", "viewer", "a long enough one")
        .await;
    let viewer = c.token_for("wall", "a long enough one").await;

    c.bearer = Some(viewer.clone());
    let sys = c.get("/api/v1/system").await;
    assert_eq!(sys.status, 200);
    let sys = sys.json();
    for key in ["hostname", "version", "backend", "database"] {
        assert!(!sys[key].is_null(), "{key} missing in {sys}");
    }
    assert_eq!(sys["backend"], "sim");
    let page = c.get("/").await;
    assert_eq!(page.status, 200, "a token opens HTML pages too");
    assert!(page.text().contains("wall"));
    let r = c
        .post_json(
            "/api/v1/users",
            r#"{"username":"x","password":"a long enough one","role":"admin"}"#,
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"], "forbidden");
    assert_eq!(c.get("/api/v1/audit").await.status, 403);

    // Token requests need no CSRF token: no browser sends one on its own.
    c.bearer = Some(admin.clone());
    let r = c
        .post_json(
            "/api/v1/users",
            r#"{"username":"ops","password":"a long enough one","role":"operator"}"#,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["role"], "operator");
    let r = c
        .post_json(
            "/api/v1/users",
            r#"{"username":"ops","password":"a long enough one","role":"operator"}"#,
        )
        .await;
    assert_eq!(r.status, 409);
    let r = c
        .post_json(
            "/api/v1/users",
            r#"{"username":"Bad Name","password":"a long enough one","role":"operator"}"#,
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["field"], "username");
    let r = c
        .post_json(
            "/api/v1/users",
            r#"{"username":"ok","password":"a long enough one","role":"root"}"#,
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["field"], "role");
}

async fn tokens_are_stored_hashed_and_revocable(backend: Backend) {
    let app = TestApp::new(backend);
    let mut c = app.client().await;
    c.setup().await;
    let token = c.token_for("admin", ADMIN_PASSWORD).await;
    {
        use baystack::db::schema::api_tokens;
        use diesel::prelude::*;
        let mut conn = app.db().get().unwrap();
        let hashes: Vec<String> = baystack::db_run!(&mut conn.conn(), c => api_tokens::table
            .select(api_tokens::token_hash)
            .load(c))
        .unwrap();
        assert_eq!(hashes.len(), 1);
        assert_ne!(hashes[0], token);
        assert!(!hashes[0].contains(&token[4..]));
        assert_eq!(hashes[0], baystack::auth::secret_hash(&token));
    }
    // Revoke it from the account page of a browser session.
    c.login("admin", ADMIN_PASSWORD).await;
    let account = c.get("/account").await.text();
    assert!(account.contains("API token of admin"));
    let csrf = crate::support::csrf_from_page(&account);
    let id = {
        let marker = "/account/tokens/";
        let start = account.find(marker).unwrap() + marker.len();
        account[start..].split('/').next().unwrap().to_string()
    };
    let r = c
        .post_form(
            &format!("/account/tokens/{id}/revoke"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    c.cookies.clear();
    c.bearer = Some(token);
    let r = c.get("/api/v1/system").await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().contains("Bearer"));
    assert_eq!(r.json()["error"], "unauthenticated");
}

async fn token_issue_needs_good_basic_credentials(backend: Backend) {
    let app = TestApp::new(backend);
    let mut c = app.client().await;
    c.setup().await;
    let r = c.post_json("/api/v1/tokens", "").await;
    assert_eq!(r.status, 401);
    assert!(r.json()["detail"].as_str().unwrap().contains("HTTP Basic"));
    let r = c
        .send(
            actix_web::test::TestRequest::post()
                .uri("/api/v1/tokens")
                .insert_header(("authorization", "Basic YWRtaW46d3Jvbmc=")),
        )
        .await;
    assert_eq!(r.status, 401);
    // A named token, issued from the page of a signed-in user.
    c.login("admin", ADMIN_PASSWORD).await;
    let csrf = c.csrf().await;
    let r = c
        .post_form(
            "/account/tokens",
            &[("csrf_token", &csrf), ("name", "nightly report")],
        )
        .await;
    assert_eq!(r.status, 200);
    let html = r.text();
    assert!(html.contains("Copy it now"));
    assert!(html.contains("bst_"));
    let r = c
        .post_form("/account/tokens", &[("csrf_token", &csrf), ("name", "  ")])
        .await;
    assert_eq!(r.status, 422);
    assert!(r.text().contains("1 to 64 printable characters"));
}

/// Deleting a user ends their sessions and revokes their tokens with them.
async fn deleting_a_user_revokes_their_access(backend: Backend) {
    let app = TestApp::new(backend);
    let mut c = app.client().await;
    c.setup().await;
    let admin = c.token_for("admin", ADMIN_PASSWORD).await;
    c.add_user(&admin, "temp", "operator", "a long enough one")
        .await;
    let temp = c.token_for("temp", "a long enough one").await;
    let mut browser = app.client().await;
    assert_eq!(browser.login("temp", "a long enough one").await.status, 303);
    assert_eq!(browser.get("/").await.status, 200);

    c.bearer = Some(admin);
    let r = c
        .request(actix_web::http::Method::DELETE, "/api/v1/users/temp")
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    let r = c
        .request(actix_web::http::Method::DELETE, "/api/v1/users/admin")
        .await;
    assert_eq!(r.status, 409, "not the account in use: {}", r.text());

    c.bearer = Some(temp);
    assert_eq!(c.get("/api/v1/system").await.status, 401);
    assert_eq!(browser.get("/").await.location(), "/login");
    c.bearer = None;
    let audit_token = c.token_for("admin", ADMIN_PASSWORD).await;
    c.bearer = Some(audit_token);
    let audit = c.get("/api/v1/audit?action=user.delete").await.json();
    assert_eq!(audit[0]["target"], "temp");
}

both!(
    a_token_works_on_json_and_html_routes_with_its_owners_role,
    tokens_are_stored_hashed_and_revocable,
    token_issue_needs_good_basic_credentials,
    deleting_a_user_revokes_their_access,
);

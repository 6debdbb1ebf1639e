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
    // A named token, issued from the page of a signed-in user, with the
    // password: post, redirect, and the token shown once.
    c.login("admin", ADMIN_PASSWORD).await;
    let csrf = c.csrf().await;
    let r = c
        .post_form(
            "/account/tokens",
            &[
                ("csrf_token", &csrf),
                ("name", "nightly report"),
                ("password", ADMIN_PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.location(), "/account");
    let html = c.get("/account").await.text();
    assert!(html.contains("Copy it now"));
    assert!(html.contains("bst_"));
    let again = c.get("/account").await.text();
    assert!(!again.contains("bst_"), "a reload shows it no more");
    let named = c.get("/api/v1/tokens").await.json();
    let named = named
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"] == "nightly report")
        .count();
    assert_eq!(named, 1, "and issues nothing");
    let r = c
        .post_form(
            "/account/tokens",
            &[
                ("csrf_token", &csrf),
                ("name", "  "),
                ("password", ADMIN_PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.text().contains("1 to 64 printable characters"));
    let r = c
        .post_form(
            "/account/tokens",
            &[
                ("csrf_token", &csrf),
                ("name", "gpj\u{202e}exe.txt"),
                ("password", ADMIN_PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "a name that reorders its own text");
    // Without the password, nothing: a session or token alone cannot mint
    // a longer-lived credential.
    for pw in ["", "wrong password"] {
        let r = c
            .post_form(
                "/account/tokens",
                &[("csrf_token", &csrf), ("name", "stolen"), ("password", pw)],
            )
            .await;
        assert_eq!(r.status, 422);
        assert!(r.text().contains("password is wrong"), "{}", r.text());
    }
    c.cookies.clear();
    c.bearer = Some(c.token_for("admin", ADMIN_PASSWORD).await);
    let r = c
        .post_form("/account/tokens", &[("name", "minted by a token")])
        .await;
    assert_eq!(r.status, 422);
    let names: Vec<String> = c
        .get("/api/v1/tokens")
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n == "stolen" || n == "minted by a token"),
        "{names:?}"
    );
}

/// A password change or an admin's reset ends the user's sessions and
/// every one of their tokens.
async fn tokens_end_with_the_password(backend: Backend) {
    let app = TestApp::new(backend);
    let mut c = app.client().await;
    c.setup().await;
    let admin = c.token_for("admin", ADMIN_PASSWORD).await;
    c.add_user(&admin, "ops", "operator", "a long enough one")
        .await;
    let ops_token = c.token_for("ops", "a long enough one").await;

    // An admin resets ops's password: ops's token stops working.
    let mut browser = app.client().await;
    assert_eq!(browser.login("admin", ADMIN_PASSWORD).await.status, 303);
    let csrf = browser.csrf().await;
    let users = browser.get("/users").await.text();
    assert!(
        users.contains("revoke"),
        "the users page lists tokens: {users}"
    );
    let r = browser
        .post_form(
            "/users/ops/password",
            &[("csrf_token", &csrf), ("password", "a newer long one")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text());
    c.bearer = Some(ops_token);
    assert_eq!(c.get("/api/v1/system").await.status, 401);

    // Ops changes their own password: their other token ends too, the
    // session that made the change stays.
    c.bearer = None;
    let second = c.token_for("ops", "a newer long one").await;
    let mut ops = app.client().await;
    assert_eq!(ops.login("ops", "a newer long one").await.status, 303);
    let csrf = ops.csrf().await;
    let r = ops
        .post_form(
            "/account/password",
            &[
                ("csrf_token", &csrf),
                ("current", "a newer long one"),
                ("new", "the newest long one"),
                ("confirm", "the newest long one"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("API tokens are revoked"));
    c.bearer = Some(second);
    assert_eq!(c.get("/api/v1/system").await.status, 401);
    assert_eq!(ops.get("/").await.status, 200);
}

/// Admins list and revoke anyone's tokens; others only their own.
async fn admins_list_and_revoke_any_users_tokens(backend: Backend) {
    let app = TestApp::new(backend);
    let mut c = app.client().await;
    c.setup().await;
    let admin = c.token_for("admin", ADMIN_PASSWORD).await;
    c.add_user(&admin, "wall", "viewer", "a long enough one")
        .await;
    let wall = c.token_for("wall", "a long enough one").await;
    let wall2 = c.token_for("wall", "a long enough one").await;

    c.bearer = Some(wall.clone());
    let own = c.get("/api/v1/tokens").await.json();
    assert_eq!(own.as_array().unwrap().len(), 2);
    assert!(own.as_array().unwrap().iter().all(|t| t["user"] == "wall"));
    assert!(!own.to_string().contains("bst_"), "no secrets: {own}");
    assert!(!own.to_string().contains("token_hash"));
    assert_eq!(c.get("/api/v1/tokens?user=admin").await.status, 403);
    let admins = {
        c.bearer = Some(admin.clone());
        c.get("/api/v1/tokens?user=admin").await.json()
    };
    let admin_token_id = admins[0]["id"].as_i64().unwrap();
    c.bearer = Some(wall.clone());
    let r = c
        .request(
            actix_web::http::Method::DELETE,
            &format!("/api/v1/tokens/{admin_token_id}"),
        )
        .await;
    assert_eq!(
        r.status, 404,
        "someone else's token is no token to a viewer"
    );

    c.bearer = Some(admin.clone());
    let all = c.get("/api/v1/tokens").await.json();
    assert_eq!(all.as_array().unwrap().len(), 3);
    let wall2_id = all
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["user"] == "wall")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let r = c
        .request(
            actix_web::http::Method::DELETE,
            &format!("/api/v1/tokens/{wall2_id}"),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    let audit = c.get("/api/v1/audit?action=token.revoke").await.json();
    assert!(
        audit[0]["detail"].as_str().unwrap().contains("of wall"),
        "{audit}"
    );
    // One of wall's two tokens is gone; the other still works.
    let mut left = 0;
    for t in [&wall, &wall2] {
        c.bearer = Some(t.to_string());
        if c.get("/api/v1/system").await.status == 200 {
            left += 1;
        }
    }
    assert_eq!(left, 1);

    // From the users page.
    let mut browser = app.client().await;
    assert_eq!(browser.login("admin", ADMIN_PASSWORD).await.status, 303);
    let csrf = browser.csrf().await;
    c.bearer = Some(admin);
    let remaining = c.get("/api/v1/tokens?user=wall").await.json();
    let id = remaining[0]["id"].as_i64().unwrap();
    let r = browser
        .post_form(
            &format!("/users/wall/tokens/{id}/revoke"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(
        c.get("/api/v1/tokens?user=wall")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

/// `Authorization: bearer ...` in any case, as RFC 7235 has it.
async fn the_bearer_scheme_is_case_insensitive(backend: Backend) {
    let app = TestApp::new(backend);
    let mut c = app.client().await;
    c.setup().await;
    let token = c.token_for("admin", ADMIN_PASSWORD).await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let r = c
            .send(
                actix_web::test::TestRequest::get()
                    .uri("/api/v1/system")
                    .insert_header(("authorization", format!("{scheme} {token}"))),
            )
            .await;
        assert_eq!(r.status, 200, "{scheme}");
    }
    let r = c
        .send(
            actix_web::test::TestRequest::post()
                .uri("/api/v1/tokens")
                .insert_header((
                    "authorization",
                    "basic YWRtaW46Y29ycmVjdCBob3JzZSBiYXR0ZXJ5",
                )),
        )
        .await;
    assert_eq!(r.status, 201, "basic in lower case too");
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
    tokens_end_with_the_password,
    admins_list_and_revoke_any_users_tokens,
    the_bearer_scheme_is_case_insensitive,
);

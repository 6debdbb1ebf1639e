//! The role matrix: every route in the console's route table, called by
//! anonymous, viewer, operator and admin, with an API token and with a
//! browser session, and by a NOC screen's wall link. The gate must let
//! exactly the allowed ones through: a wall link reaches the wall and its
//! board and nothing else (presented as a token anywhere else, it is
//! refused), and a wall route with a key that is no live link is refused
//! for everyone.

use actix_web::http::Method;
use baystack::auth::Role;
use baystack::web::{Access, ROUTES};

use crate::support::{ADMIN_PASSWORD, Backend, Resp, TestApp};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    Anonymous,
    User(Role),
    /// A screen holding a live wall link.
    Wall,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Token,
    Session,
}

fn concrete(path: &str, key: &str) -> String {
    if path == "/static/vendor/{file}" {
        return "/static/vendor/htmx-2.0.11.min.js".into();
    }
    path.replace("{file}", "baystack.css")
        .replace("{name}", "nobody")
        .replace("{id}", "999999")
        .replace("{snap}", "nobody")
        .replace("{key}", key)
}

/// How the gate refuses: 403 for a role that is too low; for nobody
/// signed in, 401 (API, forms) or a redirect to the login page.
fn refused_for_role(r: &Resp) -> bool {
    r.status == 403 && r.text().contains("needs the")
}

fn refused_for_anonymous(method: &Method, r: &Resp) -> bool {
    (r.status == 401 && r.text().contains("sign in first"))
        || (method == Method::GET && r.status == 303 && r.location().starts_with("/login"))
}

async fn walk(backend: Backend) {
    let app = TestApp::with_settings(backend, |s| {
        s.security.login_failures_per_address = 10_000;
        s.security.login_failures_per_user = 10_000;
    });
    let mut c = app.client().await;
    c.setup().await;
    let admin_token = c.token_for("admin", ADMIN_PASSWORD).await;
    c.add_user(&admin_token, "view", "viewer", "viewer password")
        .await;
    c.add_user(&admin_token, "oper", "operator", "operator password")
        .await;
    let creds = |role: Role| match role {
        Role::Viewer => ("view", "viewer password"),
        Role::Operator => ("oper", "operator password"),
        Role::Admin => ("admin", ADMIN_PASSWORD),
    };

    let link = {
        let mut admin = app.client().await;
        admin.bearer = Some(admin_token.clone());
        let r = admin
            .post_json("/api/v1/noc-links", r#"{"name": "matrix"}"#)
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        r.json()["key"].as_str().unwrap().to_string()
    };
    let mut checked = 0;
    for mode in [Mode::Token, Mode::Session] {
        for who in [
            Who::Anonymous,
            Who::Wall,
            Who::User(Role::Viewer),
            Who::User(Role::Operator),
            Who::User(Role::Admin),
        ] {
            if matches!(who, Who::Anonymous | Who::Wall) && mode == Mode::Session {
                continue;
            }
            let mut client = app.client().await;
            if who == Who::Wall {
                // The wall link's key offered as a credential everywhere.
                client.bearer = Some(link.clone());
            }
            if let Who::User(role) = who {
                let (name, pw) = creds(role);
                match mode {
                    Mode::Token => client.bearer = Some(client.token_for(name, pw).await),
                    Mode::Session => {
                        assert_eq!(client.login(name, pw).await.status, 303);
                        let csrf = client.csrf().await;
                        client.extra_headers.push(("x-csrf-token".into(), csrf));
                    }
                }
            }
            // Logout last: it ends the session the others use.
            let mut routes: Vec<_> = ROUTES.iter().collect();
            routes.sort_by_key(|r| r.path == "/logout");
            for rule in routes {
                let method = Method::from_bytes(rule.method.as_bytes()).unwrap();
                let key = if who == Who::Wall {
                    link.as_str()
                } else {
                    "x".repeat(43).leak()
                };
                let path = concrete(rule.path, key);
                // On its own routes a wall link is the path, not a token.
                let held = if rule.access == Access::Wall {
                    client.bearer.take()
                } else {
                    None
                };
                let r = if method == Method::POST && path.starts_with("/api/") {
                    client.post_json(&path, "{}").await
                } else if method == Method::POST {
                    client.post_form(&path, &[]).await
                } else {
                    client.request(method.clone(), &path).await
                };
                if held.is_some() {
                    client.bearer = held;
                }
                let ctx = format!(
                    "{who:?} {mode:?} {} {path}: {} {}",
                    rule.method,
                    r.status,
                    r.text()
                );
                let bad_link =
                    |r: &crate::support::Resp| r.status == 401 && r.text().contains("not valid");
                match (rule.access, who) {
                    (Access::Public, _) => {}
                    (Access::Wall, Who::Wall) => {
                        assert_eq!(r.status, 200, "{ctx}");
                    }
                    (Access::Wall, Who::Anonymous) => {
                        assert!(bad_link(&r), "a key that is no link: {ctx}");
                    }
                    (Access::Wall, Who::User(_)) => {
                        // A token or a session is no wall link.
                        assert!(bad_link(&r), "{ctx}");
                    }
                    (Access::Setup, Who::Wall) => {
                        assert!(r.status == 404 || r.status == 409 || bad_link(&r), "{ctx}");
                    }
                    (_, Who::Wall) => {
                        assert!(bad_link(&r), "a wall link is no token: {ctx}");
                    }
                    (Access::Anonymous, _) => {
                        assert!(
                            !refused_for_role(&r) && !refused_for_anonymous(&method, &r),
                            "{ctx}"
                        );
                    }
                    (Access::Setup, _) => {
                        // Gone once set up, for everyone.
                        assert!(r.status == 404 || r.status == 409, "{ctx}");
                    }
                    (Access::Role(_), Who::Anonymous) => {
                        assert!(refused_for_anonymous(&method, &r), "{ctx}");
                    }
                    (Access::Role(required), Who::User(role)) => {
                        if role.allows(required) {
                            assert!(
                                !refused_for_role(&r) && !refused_for_anonymous(&method, &r),
                                "{ctx}"
                            );
                            assert!(r.status != 401 && r.status != 403, "{ctx}");
                        } else {
                            assert!(refused_for_role(&r), "{ctx}");
                        }
                    }
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, ROUTES.len() * 8);
}

#[actix_web::test]
async fn role_matrix_sqlite() {
    walk(Backend::Sqlite).await
}

#[actix_web::test]
async fn role_matrix_postgres() {
    walk(Backend::Postgres).await
}

#[test]
fn every_route_is_listed_once() {
    let mut seen = std::collections::HashSet::new();
    for r in ROUTES {
        assert!(
            seen.insert((r.method, r.path)),
            "{} {} twice",
            r.method,
            r.path
        );
    }
    // Every admin-only area really is admin-only.
    for r in ROUTES
        .iter()
        .filter(|r| r.path.starts_with("/users") || r.path.contains("audit"))
    {
        assert_eq!(
            r.access,
            Access::Role(Role::Admin),
            "{} {}",
            r.method,
            r.path
        );
    }
}

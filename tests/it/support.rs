//! The test harness: a `TestApp` over a fresh SQLite file or a fresh
//! PostgreSQL database, and a `Client` that keeps cookies like a browser.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::cookie::Cookie;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::test::{self, TestRequest};
use actix_web::web::{self, Bytes};
use baystack::config::{DatabaseUrl, Settings};
use baystack::db::Db;
use baystack::web::AppState;
use serde_json::Value;

pub const ADMIN_PASSWORD: &str = "correct horse battery";
pub const SETUP_JSON: &str = r#"{"admin_password":"correct horse battery","hostname":"bay01","iqn_domain":"example.com","iqn_date":"2024-01","timezone":"Europe/Berlin"}"#;

/// The URL of the PostgreSQL server the test command started, with a
/// database that tests may create others from.
fn postgres_admin_url() -> String {
    match std::env::var("BAYSTACK_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "BAYSTACK_TEST_POSTGRES is not set: PostgreSQL tests need the server that scripts/test.sh starts (run that, or point the variable at a server you own)"
        ),
    }
}

/// A throw-away PostgreSQL database, dropped when the test ends.
pub struct PgDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgDatabase {
    pub fn create() -> Self {
        use diesel::{Connection, PgConnection, RunQueryDsl};
        let admin_url = postgres_admin_url();
        let mut bytes = [0u8; 6];
        baystack::auth::fill_random(&mut bytes);
        let name = format!(
            "bst_test_{}",
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        let mut conn = PgConnection::establish(&admin_url).expect("connect to the test PostgreSQL");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .expect("create a test database");
        let (base, _) = admin_url.rsplit_once('/').expect("URL has a database part");
        let url = format!("{base}/{name}");
        PgDatabase {
            admin_url,
            name,
            url,
        }
    }

    /// Drops the database under the console's feet (for failure tests).
    pub fn drop_now(&self) {
        use diesel::{Connection, PgConnection, RunQueryDsl};
        let mut conn = PgConnection::establish(&self.admin_url).expect("connect");
        diesel::sql_query(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)
        .expect("drop the test database");
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        use diesel::{Connection, PgConnection, RunQueryDsl};
        if let Ok(mut conn) = PgConnection::establish(&self.admin_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub state: web::Data<AppState>,
    pub settings: Settings,
    _dir: tempfile::TempDir,
    pub pg: Option<PgDatabase>,
    /// The engines' clock: a test moves it on instead of sleeping.
    pub clock: baystack::domain::clock::ManualClock,
}

impl TestApp {
    pub fn new(backend: Backend) -> Self {
        Self::with_settings(backend, |_| {})
    }

    pub fn with_settings(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = Settings::for_data_dir(dir.path());
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let pg = PgDatabase::create();
                settings.database = DatabaseUrl::Postgres(pg.url.clone());
                Some(pg)
            }
        };
        tweak(&mut settings);
        let db = Db::open(&settings.database).expect("open the test database");
        let state = web::Data::new(AppState::new(db, settings.clone()));
        TestApp {
            state,
            settings,
            _dir: dir,
            pg,
            clock: baystack::domain::clock::ManualClock::new(),
        }
    }

    /// The same database and data directory opened again, as a restarted
    /// console (or a second one) would: a new connection pool and state.
    pub fn reopen(other: &TestApp) -> Self {
        let settings = other.settings.clone();
        let db = Db::open(&settings.database).expect("open the test database again");
        TestApp {
            state: web::Data::new(AppState::new(db, settings.clone())),
            settings,
            _dir: tempfile::tempdir().expect("temp dir"),
            pg: None,
            clock: other.clock.clone(),
        }
    }

    pub fn db(&self) -> &Db {
        &self.state.db
    }

    /// The configured engine, on this app's clock.
    pub fn engine(&self) -> Box<dyn baystack::storage::Backend> {
        baystack::commands::engine(&self.settings, std::sync::Arc::new(self.clock.clone()))
            .expect("the configured engine")
    }

    /// The simulated appliance, on this app's clock.
    pub fn sim(&self) -> baystack::storage::sim::SimBackend {
        baystack::storage::sim::SimBackend::open(&self.settings.data_dir, &self.settings.sim)
            .expect("the simulator")
            .with_clock(std::sync::Arc::new(self.clock.clone()))
    }

    pub async fn client(
        &self,
    ) -> Client<
        impl Service<Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>,
    > {
        let svc = test::init_service(baystack::web::app(self.state.clone())).await;
        Client::new(svc)
    }

    /// A job runner with one worker on this app's database and backend.
    pub fn runner(
        &self,
        lease: std::time::Duration,
    ) -> std::sync::Arc<baystack::jobs::runner::Runner> {
        use baystack::jobs::runner::{Runner, RunnerSettings};
        let backend = self.engine();
        Runner::new(
            self.db().clone(),
            std::sync::Arc::from(backend),
            RunnerSettings {
                workers: 1,
                lease,
                poll: std::time::Duration::from_millis(20),
                max_attempts: 3,
            },
            // The console's own, as when the agent runs in the console.
            self.state.wake.clone(),
            baystack::jobs::kinds::find,
            Box::new(|| {}),
        )
    }

    /// Runs one observation pass with the simulated appliance.
    pub fn observe(&self) {
        let backend = self.engine();
        baystack::agent::observe_once(self.db(), backend.as_ref()).expect("observe");
        // As the agent does where it runs in the console.
        self.state.wake.note_change();
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    pub fn location(&self) -> String {
        self.header("location").unwrap_or_default()
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    }
}

/// Pulls the value of a hidden `csrf_token` field out of a page.
pub fn csrf_from_page(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no csrf_token field in page:\n{html}"))
        + marker.len();
    let end = html[start..].find('"').expect("closing quote") + start;
    html[start..end].to_string()
}

/// A browser stand-in: keeps cookies, optionally sends a bearer token, comes
/// from a chosen address.
pub struct Client<S> {
    svc: S,
    pub cookies: BTreeMap<String, String>,
    pub bearer: Option<String>,
    pub peer: SocketAddr,
    pub extra_headers: Vec<(String, String)>,
}

impl<S, B> Client<S>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    pub fn new(svc: S) -> Self {
        Client {
            svc,
            cookies: BTreeMap::new(),
            bearer: None,
            peer: "127.0.0.1:40000".parse().unwrap(),
            extra_headers: Vec::new(),
        }
    }

    pub async fn send(&mut self, mut req: TestRequest) -> Resp {
        req = req.peer_addr(self.peer);
        for (k, v) in &self.cookies {
            req = req.cookie(Cookie::new(k.clone(), v.clone()));
        }
        if let Some(t) = &self.bearer {
            req = req.insert_header((header::AUTHORIZATION, format!("Bearer {t}")));
        }
        for (k, v) in &self.extra_headers {
            req = req.insert_header((k.as_str(), v.as_str()));
        }
        let res = test::call_service(&self.svc, req.to_request()).await;
        let status = res.status();
        let headers = res.headers().clone();
        let body = test::read_body(res).await;
        let resp = Resp {
            status,
            headers,
            body,
        };
        for c in resp.set_cookies() {
            if let Ok(parsed) = Cookie::parse(c) {
                if parsed.value().is_empty() {
                    self.cookies.remove(parsed.name());
                } else {
                    self.cookies
                        .insert(parsed.name().to_string(), parsed.value().to_string());
                }
            }
        }
        resp
    }

    pub async fn get(&mut self, path: &str) -> Resp {
        self.send(TestRequest::get().uri(path)).await
    }

    pub async fn request(&mut self, method: Method, path: &str) -> Resp {
        self.send(TestRequest::default().method(method).uri(path))
            .await
    }

    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let body = serde_urlencoded::to_string(fields).unwrap();
        self.send(
            TestRequest::post()
                .uri(path)
                .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
                .set_payload(body),
        )
        .await
    }

    pub async fn request_json(&mut self, method: Method, path: &str, body: &str) -> Resp {
        self.send(
            TestRequest::default()
                .method(method)
                .uri(path)
                .insert_header((header::CONTENT_TYPE, "application/json"))
                .set_payload(body.to_string()),
        )
        .await
    }

    pub async fn post_json(&mut self, path: &str, body: &str) -> Resp {
        self.send(
            TestRequest::post()
                .uri(path)
                .insert_header((header::CONTENT_TYPE, "application/json"))
                .set_payload(body.to_string()),
        )
        .await
    }

    /// Completes first-boot setup through the API.
    pub async fn setup(&mut self) {
        let r = self.post_json("/api/v1/setup", SETUP_JSON).await;
        assert_eq!(r.status, 201, "{}", r.text());
    }

    /// Completes setup and calls the API from then on as the admin, with a
    /// token.
    pub async fn setup_as_admin(&mut self) {
        self.setup().await;
        self.bearer = Some(self.token_for("admin", ADMIN_PASSWORD).await);
    }

    /// Signs in through the login form, as a browser would.
    pub async fn login(&mut self, user: &str, password: &str) -> Resp {
        let page = self.get("/login").await;
        assert_eq!(page.status, 200, "{}", page.text());
        let csrf = csrf_from_page(&page.text());
        self.post_form(
            "/login",
            &[
                ("csrf_token", &csrf),
                ("username", user),
                ("password", password),
            ],
        )
        .await
    }

    /// The session's CSRF token, read from a signed-in page.
    pub async fn csrf(&mut self) -> String {
        let page = self.get("/account").await;
        assert_eq!(page.status, 200, "{}", page.text());
        csrf_from_page(&page.text())
    }

    /// Issues an API token for a user with HTTP Basic credentials.
    pub async fn token_for(&mut self, user: &str, password: &str) -> String {
        use base64::Engine;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        // Basic credentials, not the client's own bearer token.
        let bearer = self.bearer.take();
        let r = self
            .send(
                TestRequest::post()
                    .uri("/api/v1/tokens")
                    .insert_header((header::AUTHORIZATION, format!("Basic {basic}"))),
            )
            .await;
        self.bearer = bearer;
        assert_eq!(r.status, 201, "{}", r.text());
        r.json()["token"].as_str().unwrap().to_string()
    }

    /// Creates a user with the admin's token.
    pub async fn add_user(&mut self, admin_token: &str, name: &str, role: &str, password: &str) {
        let saved = self.bearer.replace(admin_token.to_string());
        let r = self
            .post_json(
                "/api/v1/users",
                &serde_json::json!({"username": name, "password": password, "role": role})
                    .to_string(),
            )
            .await;
        self.bearer = saved;
        assert_eq!(r.status, 201, "{}", r.text());
    }
}

/// Runs each listed test body once against SQLite and once against
/// PostgreSQL: `both!(name_of_async_fn_taking_Backend)`.
#[macro_export]
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[actix_web::test]
                async fn $name() {
                    super::$name($crate::support::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[actix_web::test]
                async fn $name() {
                    super::$name($crate::support::Backend::Postgres).await
                }
            )*
        }
    };
}

/// Talking to a running `baystack serve` over a real connection.
pub mod wire {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    pub fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    /// One raw HTTP/1.1 exchange on its own connection: the whole answer,
    /// `None` when nothing answers.
    pub fn exchange(port: u16, request: &str) -> Option<String> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
        s.write_all(request.as_bytes()).ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    }

    /// A request with headers and a body; the whole answer.
    pub fn call(
        port: u16,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> String {
        let mut req =
            format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        exchange(port, &req).unwrap_or_else(|| panic!("{method} {path}: no answer"))
    }

    pub fn status(answer: &str) -> u16 {
        answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    pub fn json_body(answer: &str) -> serde_json::Value {
        let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {answer}"))
    }

    /// `Authorization: Basic` for a user name and password.
    pub fn basic(user: &str, password: &str) -> String {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    }

    /// Waits until `/healthz` answers 200.
    pub fn wait_for_health(port: u16) {
        let started = Instant::now();
        loop {
            if exchange(
                port,
                &format!(
                    "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
                ),
            )
            .is_some_and(|h| status(&h) == 200)
            {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "serve did not answer"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

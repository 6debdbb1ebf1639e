//! Peering between two appliances, each with its own database and its
//! agent's channel listening on loopback, through HTTP and real TLS: a
//! pairing code made on B and pasted on A pairs them both ways; a code
//! replayed, one with a wrong secret, one expired on B's side, one pointing
//! at another certificate, one made here, and one damaged are each refused
//! in words and pair nothing; an appliance that is not a peer cannot open
//! a session; a peer removed is forgotten on both sides.

use std::time::Duration;

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::Method;
use baystack::domain::peer::PairingCode;
use baystack::jobs::link;
use serde_json::{Value, json};

use crate::both;
use crate::support::{ADMIN_PASSWORD, Backend, Client, SETUP_JSON, TestApp, wire::free_port};

/// An appliance whose agent's channel listens on a loopback port of its
/// own.
pub struct Appliance {
    pub app: TestApp,
    pub channel: std::sync::Mutex<Option<link::serve::Listener>>,
    pub runner: std::sync::Arc<baystack::jobs::runner::Runner>,
}

impl Appliance {
    pub fn new(backend: Backend) -> Self {
        let port = free_port();
        let app = TestApp::with_settings(backend, |s| {
            s.replication.listen = Some(format!("127.0.0.1:{port}").parse().unwrap());
            s.sim.speed = 1000.0;
            s.sim.layout = vec![12];
        });
        let runner = app.runner(Duration::from_secs(30));
        let a = Appliance {
            app,
            channel: std::sync::Mutex::new(None),
            runner,
        };
        a.listen();
        a
    }

    /// The agent's channel starts listening (again, on the same port).
    pub fn listen(&self) {
        let engine: std::sync::Arc<dyn baystack::storage::Backend> =
            std::sync::Arc::from(self.app.engine());
        *self.channel.lock().unwrap() = Some(
            link::serve::listen(
                self.app.db().clone(),
                engine,
                self.app.settings.replication.listen.unwrap(),
            )
            .expect("the channel listens"),
        );
    }

    /// The agent stops: its channel stops listening and ends its
    /// connections.
    pub fn hang_up(&self) {
        self.channel.lock().unwrap().take();
    }

    pub fn address(&self) -> String {
        self.app.settings.replication.listen.unwrap().to_string()
    }

    pub fn run_jobs(&self) {
        while self.runner.run_one().unwrap() {}
    }
}

pub async fn admin<S, B>(c: &mut Client<S>, host: &str)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = c
        .post_json("/api/v1/setup", &SETUP_JSON.replace("bay01", host))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    c.bearer = Some(c.token_for("admin", ADMIN_PASSWORD).await);
}

/// Pastes `code` on `a` and runs the pairing job: the job as the API shows
/// it after.
pub async fn paste<S, B>(a: &Appliance, c: &mut Client<S>, code: &str) -> Value
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = c
        .post_json("/api/v1/peers", &json!({ "code": code }).to_string())
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["job_id"].as_i64().unwrap();
    a.run_jobs();
    c.get(&format!("/api/v1/jobs/{id}")).await.json()
}

fn failed_with(job: &Value, words: &str) {
    assert_eq!(job["state"], "failed", "{job}");
    let e = job["error"].as_str().unwrap_or_default();
    assert!(e.contains(words), "{words:?} not in {e:?}");
}

async fn two_appliances_pair_and_refuse_what_they_should(backend: Backend) {
    let a = Appliance::new(backend);
    let b = Appliance::new(backend);
    let mut ca = a.app.client().await;
    let mut cb = b.app.client().await;
    admin(&mut ca, "bay01").await;
    admin(&mut cb, "bay02").await;

    // Bad input on B's side changes nothing.
    for (body, field, words) in [
        (
            json!({"valid_minutes": 0}),
            "valid_minutes",
            "from 1 to 1440 minutes",
        ),
        (
            json!({"valid_minutes": 1441}),
            "valid_minutes",
            "from 1 to 1440 minutes",
        ),
        (json!({"address": "bay02"}), "address", "needs a port"),
        (json!({"address": "bay 02:7790"}), "address", "DNS name"),
    ] {
        let r = cb
            .post_json("/api/v1/peers/pairing-code", &body.to_string())
            .await;
        assert_eq!(r.status, 422, "{body}: {}", r.text());
        assert_eq!(r.json()["field"], field, "{body}");
        assert!(
            r.json()["detail"].as_str().unwrap().contains(words),
            "{}",
            r.text()
        );
    }

    let made = cb
        .post_json(
            "/api/v1/peers/pairing-code",
            &json!({ "address": b.address() }).to_string(),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text());
    let made = made.json();
    let code = made["code"].as_str().unwrap().to_string();
    assert!(code.starts_with("bspair1_"), "{made}");
    assert_eq!(made["address"], b.address().as_str());
    let parsed = PairingCode::parse(&code).unwrap();

    // Refused before any job: damaged, foreign, made here.
    for (text, words) in [
        ("hello".to_string(), "not a Baystack pairing code"),
        (code[..code.len() - 4].to_string(), "damaged"),
        (String::new(), "paste the pairing code"),
    ] {
        let r = ca
            .post_json("/api/v1/peers", &json!({ "code": text }).to_string())
            .await;
        assert_eq!(r.status, 422, "{}", r.text());
        assert_eq!(r.json()["field"], "code");
        assert!(
            r.json()["detail"].as_str().unwrap().contains(words),
            "{}",
            r.text()
        );
    }
    let r = cb
        .post_json("/api/v1/peers", &json!({ "code": code }).to_string())
        .await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("made on this appliance"), "{}", r.text());
    let expired = PairingCode {
        expires_at: chrono::Utc::now().timestamp() - 1,
        ..parsed.clone()
    };
    let r = ca
        .post_json(
            "/api/v1/peers",
            &json!({ "code": expired.encode() }).to_string(),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("expired at"), "{}", r.text());

    // A code that names another certificate: A will not talk to B.
    let impostor = PairingCode {
        fingerprint: [0x42; 32],
        ..parsed.clone()
    };
    let job = paste(&a, &mut ca, &impostor.encode()).await;
    failed_with(&job, "not the one paired with");
    // A wrong secret: B refuses.
    let guessed = PairingCode {
        secret: [7; 24],
        ..parsed.clone()
    };
    let job = paste(&a, &mut ca, &guessed.encode()).await;
    failed_with(&job, "was not made on this appliance");
    assert_eq!(ca.get("/api/v1/peers").await.json(), json!([]));
    assert_eq!(cb.get("/api/v1/peers").await.json(), json!([]));

    // The real code pairs them both ways.
    let job = paste(&a, &mut ca, &code).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let on_a = ca.get("/api/v1/peers").await.json();
    assert_eq!(on_a[0]["name"], "bay02", "{on_a}");
    assert_eq!(on_a[0]["address"], b.address().as_str());
    let b_fp = baystack::jobs::link::tls::identity(b.app.db())
        .unwrap()
        .fingerprint;
    assert_eq!(on_a[0]["fingerprint"], b_fp.as_str());
    assert_eq!(on_a[0]["paired_by"], "admin");
    let on_b = cb.get("/api/v1/peers").await.json();
    assert_eq!(on_b[0]["name"], "bay01", "{on_b}");
    assert_eq!(
        on_b[0]["address"],
        a.address().as_str(),
        "where A's channel is"
    );
    let a_id = baystack::jobs::link::tls::identity(a.app.db()).unwrap();
    assert_eq!(on_b[0]["fingerprint"], a_id.fingerprint.as_str());
    let page = cb.get("/replication").await.text();
    assert!(page.contains("<strong>bay01</strong>"), "{page}");
    assert!(page.contains("used</span> by bay01"), "{page}");

    // Replayed: used already.
    let job = paste(&a, &mut ca, &code).await;
    failed_with(&job, "was used already, by bay01");

    // Expired on B's side (B's clock is the one that counts).
    let later = cb
        .post_json(
            "/api/v1/peers/pairing-code",
            &json!({ "address": b.address(), "valid_minutes": 1 }).to_string(),
        )
        .await
        .json();
    {
        use diesel::prelude::*;
        let mut conn = b.app.db().get().unwrap();
        let sql = "UPDATE pairing_codes SET expires_at = created_at WHERE used_at IS NULL";
        match &mut conn.conn() {
            baystack::db::Conn::Sqlite(c) => diesel::sql_query(sql).execute(*c),
            baystack::db::Conn::Postgres(c) => diesel::sql_query(sql).execute(*c),
        }
        .unwrap();
    }
    let job = paste(&a, &mut ca, later["code"].as_str().unwrap()).await;
    failed_with(&job, "expired at");

    // Both sides audited the pairing.
    for c in [&mut ca, &mut cb] {
        let audit = c.get("/api/v1/audit?action=peer.pair").await.json();
        assert_eq!(audit.as_array().unwrap().len(), 1, "{audit}");
    }

    // A third appliance, not a peer, cannot open a session with B.
    let stranger = Appliance::new(backend);
    let mut cs = stranger.app.client().await;
    admin(&mut cs, "bay03").await;
    let id = baystack::jobs::link::tls::identity(stranger.app.db()).unwrap();
    let b_row = baystack::db::peers::PeerRow {
        name: "bay02".into(),
        address: b.address(),
        fingerprint: b_fp.clone(),
        paired_at: baystack::db::now(),
        paired_by: "test".into(),
        last_seen_at: None,
        last_error: None,
    };
    let e = baystack::jobs::kinds::peer_session(&id, &b_row).unwrap_err();
    assert!(
        e.contains("is not paired with one whose certificate"),
        "{e}"
    );
    // A, a peer, can.
    baystack::jobs::kinds::peer_session(&a_id, &b_row).expect("a peer's session");

    // A removes B: both forget.
    let r = ca.request(Method::DELETE, "/api/v1/peers/nobody").await;
    assert_eq!(r.status, 404, "{}", r.text());
    let r = ca.request(Method::DELETE, "/api/v1/peers/bay02").await;
    assert_eq!(r.status, 202, "{}", r.text());
    a.run_jobs();
    let id = r.json()["job_id"].as_i64().unwrap();
    let job = ca.get(&format!("/api/v1/jobs/{id}")).await.json();
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(ca.get("/api/v1/peers").await.json(), json!([]));
    assert_eq!(cb.get("/api/v1/peers").await.json(), json!([]));
    let e = baystack::jobs::kinds::peer_session(&a_id, &b_row).unwrap_err();
    assert!(
        e.contains("is not paired with one whose certificate"),
        "{e}"
    );
}

both!(two_appliances_pair_and_refuse_what_they_should);

//! Notifications delivered for real: a real SMTP server (aiosmtpd, from
//! Debian's python3-aiosmtpd, which `scripts/test.sh` installs) on
//! loopback requiring STARTTLS and a login, and an HTTP receiver that
//! checks each webhook's HMAC-SHA256 signature itself; a receiver that is
//! down at first gets the message on a later attempt; reminders for what
//! stays unacknowledged; secrets never shown again; bad channels refused
//! in words.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baystack::storage::sim::SimAction;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::both;
use crate::support::{Backend, TestApp, wire};

const SMTP_PASSWORD: &str = "mail-Password-41";
const HOOK_SECRET: &str = "hook-secret-0123456789";

/// The SMTP server, killed when dropped.
struct Smtp {
    child: Child,
    port: u16,
    out: PathBuf,
    cert: String,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Smtp {
    fn start(dir: &Path) -> Smtp {
        // A CA of the site's own, and the relay's certificate signed by it.
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let (ca, ca_key) = (dir.join("ca.pem"), dir.join("ca.key"));
        let ext = dir.join("leaf.ext");
        std::fs::write(
            &ext,
            "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        let openssl = |args: &[&std::ffi::OsStr]| {
            let ok = Command::new("openssl")
                .args(args)
                .stderr(Stdio::null())
                .status()
                .expect("openssl");
            assert!(ok.success(), "openssl {args:?}");
        };
        let os = |s: &'static str| std::ffi::OsStr::new(s);
        openssl(&[
            os("req"),
            os("-x509"),
            os("-newkey"),
            os("rsa:2048"),
            os("-nodes"),
            os("-days"),
            os("2"),
            os("-subj"),
            os("/CN=Baystack test CA"),
            os("-keyout"),
            ca_key.as_os_str(),
            os("-out"),
            ca.as_os_str(),
        ]);
        let csr = dir.join("leaf.csr");
        openssl(&[
            os("req"),
            os("-newkey"),
            os("rsa:2048"),
            os("-nodes"),
            os("-subj"),
            os("/CN=localhost"),
            os("-keyout"),
            key.as_os_str(),
            os("-out"),
            csr.as_os_str(),
        ]);
        openssl(&[
            os("x509"),
            os("-req"),
            os("-in"),
            csr.as_os_str(),
            os("-CA"),
            ca.as_os_str(),
            os("-CAkey"),
            ca_key.as_os_str(),
            os("-CAcreateserial"),
            os("-days"),
            os("2"),
            os("-out"),
            cert.as_os_str(),
            os("-extfile"),
            ext.as_os_str(),
        ]);
        let port = wire::free_port();
        let out = dir.join("mail.jsonl");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes/smtp_server.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .arg(port.to_string())
            .arg(&cert)
            .arg(&key)
            .args(["bay01", SMTP_PASSWORD])
            .arg(&out)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("/usr/bin/python3 (scripts/test.sh installs python3-aiosmtpd)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "the SMTP server did not start: is python3-aiosmtpd installed? (scripts/test.sh installs it)"
        );
        Smtp {
            child,
            port,
            out,
            cert: std::fs::read_to_string(&ca).unwrap(),
        }
    }

    fn mails(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// An HTTP receiver on loopback: each POST's body is kept if its
/// signature is right (200), refused otherwise (401).
#[derive(Clone, Default)]
struct Hook {
    got: Arc<Mutex<Vec<Value>>>,
    refused: Arc<Mutex<usize>>,
}

impl Hook {
    fn listen(&self, port: u16) {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let me = self.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut headers = Vec::new();
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    headers.push(line.trim().to_string());
                }
                let header = |name: &str| {
                    headers.iter().find_map(|h| {
                        let (k, v) = h.split_once(':')?;
                        k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
                    })
                };
                let len: usize = header("content-length")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; len];
                r.read_exact(&mut body).unwrap();
                let mut mac = Hmac::<Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
                mac.update(&body);
                let want: String = mac
                    .finalize()
                    .into_bytes()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                let ok = header("x-baystack-signature-256") == Some(format!("sha256={want}"))
                    && header("content-type").as_deref() == Some("application/json");
                let status = if ok {
                    me.got
                        .lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap());
                    "200 OK"
                } else {
                    *me.refused.lock().unwrap() += 1;
                    "401 Unauthorized"
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
    }

    fn events(&self) -> Vec<(String, Option<String>)> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["event"].as_str().unwrap().to_string(),
                    v["alert"]["rule"].as_str().map(str::to_string),
                )
            })
            .collect()
    }
}

/// What the agent does after a look: evaluate, plan, enqueue; then the
/// runner sends.
fn round(app: &TestApp, runner: &baystack::jobs::runner::Runner) {
    app.observe();
    baystack::agent::register_appliance(
        app.db(),
        &app.state.fleet,
        chrono::Duration::seconds(60),
        Some("https://bay01.example.com"),
    )
    .unwrap();
    baystack::agent::evaluate_alerts(app.db(), chrono::Duration::seconds(60)).unwrap();
    while runner.run_one().unwrap() {}
}

/// Moves every planned retry to now, as if its back-off had passed.
fn back_off_passes(app: &TestApp) {
    use baystack::db::schema::notification_deliveries as nd;
    use diesel::prelude::*;
    let past = baystack::db::now() - chrono::Duration::seconds(1);
    let mut conn = app.db().get().unwrap();
    baystack::db_run!(&mut conn.conn(), c => diesel::update(nd::table.filter(nd::next_at.is_not_null()))
        .set(nd::next_at.eq(Some(past)))
        .execute(c))
    .unwrap();
}

async fn alerts_reach_mail_and_webhooks(backend: Backend) {
    let app = TestApp::with_settings(backend, |s| s.sim.layout = vec![12]);
    let runner = app.runner(Duration::from_secs(30));
    let dir = tempfile::tempdir().unwrap();
    let smtp = Smtp::start(dir.path());
    let hook = Hook::default();
    let hook_port = wire::free_port();
    hook.listen(hook_port);
    let mut c = app.client().await;
    c.setup_as_admin().await;
    round(&app, &runner);

    // Bad channels change nothing.
    let mail = |over: Value| {
        let mut body = json!({"name": "ops", "kind": "email", "min_severity": "warning",
            "email": {"to": ["storage@example.com"], "from": "bay01@example.com",
                      "host": "localhost", "port": smtp.port, "security": "starttls",
                      "username": "bay01", "password": SMTP_PASSWORD, "ca_pem": smtp.cert}});
        for (k, v) in over.as_object().unwrap() {
            if let Some((a, b)) = k.split_once('.') {
                body[a][b] = v.clone();
            } else {
                body[k] = v.clone();
            }
        }
        body.to_string()
    };
    for (over, field) in [
        (json!({"kind": "pager"}), "kind"),
        (json!({"min_severity": "loud"}), "min_severity"),
        (json!({"remind_hours": 1000}), "remind_hours"),
        (json!({"name": ""}), "name"),
        (json!({"email.to": []}), "email.to"),
        (json!({"email.to": ["nobody"]}), "email.to"),
        (json!({"email.security": "none"}), "email.security"),
        (json!({"email.password": null}), "email.password"),
        (json!({"email.ca_pem": "not a certificate"}), "email.ca_pem"),
    ] {
        let r = c
            .post_json("/api/v1/notifications", &mail(over.clone()))
            .await;
        assert_eq!(r.status, 422, "{over}: {}", r.text());
        assert_eq!(r.json()["field"], field, "{over}: {}", r.text());
    }
    let r = c
        .post_json(
            "/api/v1/notifications",
            &json!({"name": "hook", "kind": "webhook", "webhook": {"url": "http://127.0.0.1/x", "secret": "short"}})
                .to_string(),
        )
        .await;
    assert_eq!(r.json()["field"], "webhook.secret", "{}", r.text());
    assert_eq!(c.get("/api/v1/notifications").await.json(), json!([]));

    // Two channels; their secrets are never shown again.
    let r = c.post_json("/api/v1/notifications", &mail(json!({}))).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let mail_id = r.json()["id"].as_i64().unwrap();
    let r = c
        .post_json(
            "/api/v1/notifications",
            &json!({"name": "pager", "kind": "webhook", "min_severity": "critical",
                    "webhook": {"url": format!("http://127.0.0.1:{hook_port}/baystack"), "secret": HOOK_SECRET}})
            .to_string(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let hook_id = r.json()["id"].as_i64().unwrap();
    let r = c.post_json("/api/v1/notifications", &mail(json!({}))).await;
    assert_eq!(r.status, 422, "the name is taken: {}", r.text());
    let listed = c.get("/api/v1/notifications").await;
    assert_eq!(listed.json()[0]["has_secret"], true);
    assert_eq!(listed.json()[0]["email"]["host"], "localhost");
    for secret in [SMTP_PASSWORD, HOOK_SECRET] {
        assert!(!listed.text().contains(secret), "{}", listed.text());
        assert!(!c.get("/api/v1/audit").await.text().contains(secret));
    }

    // "Send a test": through the relay with STARTTLS and a login, and
    // signed to the receiver.
    for id in [mail_id, hook_id] {
        let r = c
            .post_json(&format!("/api/v1/notifications/{id}/test"), "{}")
            .await;
        assert_eq!(r.status, 202, "{}", r.text());
        while runner.run_one().unwrap() {}
        let job = c
            .get(&format!("/api/v1/jobs/{}", r.json()["job_id"]))
            .await
            .json();
        assert_eq!(job["state"], "succeeded", "{job}");
        assert!(!job.to_string().contains(SMTP_PASSWORD) && !job.to_string().contains(HOOK_SECRET));
    }
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0]["tls"], true);
    assert_eq!(mails[0]["login"], true);
    assert_eq!(mails[0]["to"], json!(["storage@example.com"]));
    assert!(
        mails[0]["data"]
            .as_str()
            .unwrap()
            .contains("Subject: [bay01] Test from Baystack")
    );
    assert_eq!(hook.events(), [("test".to_string(), None)]);

    // A drive fails: both hear of it; acknowledged and replaced: cleared.
    let bays = c.get("/api/v1/bays").await.json();
    let encl = bays[0]["enclosure"].as_str().unwrap().to_string();
    app.sim().act(&encl, 0, SimAction::FailDrive).unwrap();
    round(&app, &runner);
    let mails = smtp.mails();
    let last = mails.last().unwrap()["data"].as_str().unwrap().to_string();
    assert!(last.contains("Subject: [bay01] CRITICAL: Drive"), "{last}");
    assert!(last.contains("is failing"), "{last}");
    assert!(
        last.contains("See: https://bay01.example.com/drives/"),
        "{last}"
    );
    assert_eq!(
        hook.events().last().unwrap(),
        &("raised".to_string(), Some("drive.health".to_string()))
    );
    let alert = hook.got.lock().unwrap().last().unwrap()["alert"].clone();
    assert_eq!(alert["severity"], "critical");
    assert_eq!(alert["state"], "open");
    app.sim().act(&encl, 0, SimAction::ReplaceDrive).unwrap();
    round(&app, &runner);
    assert!(
        smtp.mails().last().unwrap()["data"]
            .as_str()
            .unwrap()
            .contains("Subject: [bay01] cleared: Drive")
    );
    assert_eq!(hook.events().last().unwrap().0, "cleared");
    // A warning: mail, not the critical-only pager. (The worn drive's
    // warning was raised before either channel existed: it is told of at
    // the channels' first reminder.)
    let hooks = hook.events().len();
    app.sim()
        .set_element(&encl, "PSU 2", "non-critical", "12.9 V")
        .unwrap();
    round(&app, &runner);
    assert!(
        smtp.mails().last().unwrap()["data"]
            .as_str()
            .unwrap()
            .contains("Subject: [bay01] WARNING: Power supply PSU 2")
    );
    assert_eq!(hook.events().len(), hooks);
    assert_eq!(*hook.refused.lock().unwrap(), 0);

    // A receiver that is down: the attempt fails (no job.failed alert
    // about it), is planned again, and gets through once it is up.
    let down_port = wire::free_port();
    let r = c
        .post_json(
            "/api/v1/notifications",
            &json!({"name": "late", "kind": "webhook", "min_severity": "warning",
                    "webhook": {"url": format!("http://127.0.0.1:{down_port}/"), "secret": HOOK_SECRET}})
            .to_string(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let late = r.json()["id"].as_i64().unwrap();
    app.sim()
        .set_element(&encl, "Fan 1", "critical", "0 rpm")
        .unwrap();
    round(&app, &runner);
    let listed = c.get("/api/v1/notifications").await.json();
    let ch = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == late)
        .unwrap()
        .clone();
    let d = &ch["deliveries"][0];
    assert_eq!(d["attempts"], 1, "{ch}");
    assert_eq!(d["delivered_at"], Value::Null);
    assert!(d["next_at"].is_string(), "{ch}");
    assert!(
        d["last_error"]
            .as_str()
            .unwrap()
            .contains(&down_port.to_string()),
        "{ch}"
    );
    let alerts = c.get("/api/v1/alerts?state=active").await.json();
    assert!(
        !alerts
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["rule"] == "job.failed"),
        "{alerts}"
    );
    let late_hook = Hook::default();
    late_hook.listen(down_port);
    back_off_passes(&app);
    round(&app, &runner);
    assert_eq!(
        late_hook.events(),
        [("raised".to_string(), Some("enclosure.element".to_string()))]
    );
    let listed = c.get("/api/v1/notifications").await.json();
    let ch = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == late)
        .unwrap()
        .clone();
    assert_eq!(ch["deliveries"][0]["attempts"], 2, "{ch}");
    assert!(ch["deliveries"][0]["delivered_at"].is_string(), "{ch}");

    // What nobody acknowledges is told again after the channel's hours.
    {
        use baystack::db::schema::notification_deliveries as nd;
        use diesel::prelude::*;
        let long_ago = baystack::db::now() - chrono::Duration::hours(25);
        let mut conn = app.db().get().unwrap();
        baystack::db_run!(&mut conn.conn(), c => diesel::update(nd::table)
            .set(nd::created_at.eq(long_ago))
            .execute(c))
        .unwrap();
    }
    let before = smtp.mails().len();
    round(&app, &runner);
    let reminders: Vec<String> = smtp.mails()[before..]
        .iter()
        .map(|m| m["data"].as_str().unwrap().to_string())
        .filter(|d| d.contains("Subject: [bay01] still"))
        .collect();
    assert_eq!(
        reminders.len(),
        2,
        "the fan and the worn drive: {reminders:?}"
    );
    assert!(
        reminders
            .iter()
            .all(|r| r.contains("Nobody has acknowledged it yet."))
    );
    round(&app, &runner);
    assert_eq!(smtp.mails().len(), before + 2, "once per interval");

    // The page's form: refused in words, then made.
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
    for (fields, words) in [
        (
            vec![
                ("name", "web"),
                ("kind", "webhook"),
                ("url", "gopher://x"),
                ("secret", HOOK_SECRET),
            ],
            "http:// or https://",
        ),
        (
            vec![
                ("name", "web"),
                ("kind", "webhook"),
                ("url", "https://x/"),
                ("remind_hours", "soon"),
            ],
            "whole number of hours",
        ),
        (
            vec![
                ("name", "m"),
                ("kind", "email"),
                ("to", "a@example.com"),
                ("from", "b@example.com"),
                ("host", "smtp"),
                ("security", "none"),
                ("username", "u"),
                ("password", "p"),
            ],
            "never sent over an unencrypted connection",
        ),
    ] {
        let r = browser.post_form("/notifications", &fields).await;
        assert_eq!(r.status, 422, "{fields:?}: {}", r.text());
        assert!(r.text().contains(words), "{fields:?}: {}", r.text());
        assert!(
            !r.text().contains(HOOK_SECRET),
            "a secret is not shown again"
        );
    }
    let r = browser
        .post_form(
            "/notifications",
            &[
                ("name", "web"),
                ("kind", "webhook"),
                ("url", "https://hooks.example.com/b"),
                ("secret", HOOK_SECRET),
                ("min_severity", "critical"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text());
    let page = browser.get("/notifications").await.text();
    assert!(
        page.contains("POST to https://hooks.example.com/b") && !page.contains(HOOK_SECRET),
        "{page}"
    );

    // Deleted: no longer sent to.
    let r = c
        .request(
            actix_web::http::Method::DELETE,
            &format!("/api/v1/notifications/{late}"),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        c.get("/api/v1/notifications")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

both!(alerts_reach_mail_and_webhooks);

//! Alerts on `sim`, through HTTP: each rule raised by a change in what the
//! agent observes and cleared when the change is undone; one alert per
//! condition however often, and by however many evaluators at once, it is
//! evaluated; acknowledgement once, audited, kept over a restart; bad
//! input refused in words.

use std::time::Duration;

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use baystack::storage::sim::SimAction;
use serde_json::{Value, json};

use crate::both;
use crate::support::{Backend, Client, TestApp};

const DAY: Duration = Duration::from_secs(24 * 3600);

fn rig(backend: Backend) -> (TestApp, std::sync::Arc<baystack::jobs::runner::Runner>) {
    let app = TestApp::with_settings(backend, |s| {
        s.sim.speed = 100.0;
        s.sim.layout = vec![24];
    });
    let runner = app.runner(Duration::from_secs(30));
    (app, runner)
}

/// Runs the queued jobs, looks, and evaluates the alerts, as the agent does.
fn settle(app: &TestApp, runner: &baystack::jobs::runner::Runner) {
    while runner.run_one().unwrap() {}
    app.observe();
    evaluate(app);
}

fn evaluate(app: &TestApp) -> baystack::db::alerts::Changes {
    baystack::agent::evaluate_alerts(app.db(), chrono::Duration::seconds(60)).unwrap()
}

/// The active alerts as `(rule, subject, severity)`, sorted.
async fn active<S, B>(c: &mut Client<S>) -> Vec<(String, String, String)>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = c.get("/api/v1/alerts?state=active").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut out: Vec<(String, String, String)> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let s = |k: &str| a[k].as_str().unwrap().to_string();
            (s("rule"), s("subject"), s("severity"))
        })
        .collect();
    out.sort();
    out
}

fn has(alerts: &[(String, String, String)], rule: &str, subject: &str, severity: &str) -> bool {
    alerts
        .iter()
        .any(|(r, s, v)| r == rule && s == subject && v == severity)
}

fn rules_of(alerts: &[(String, String, String)], prefix: &str) -> Vec<String> {
    alerts
        .iter()
        .filter(|(r, s, _)| r.starts_with(prefix) || s.starts_with(prefix))
        .map(|(r, s, v)| format!("{r} {s} {v}"))
        .collect()
}

fn drive_at(drives: &Value, serial: &str) -> (String, u32) {
    let d = drives
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["serial"] == serial)
        .unwrap();
    (
        d["bay"]["enclosure"].as_str().unwrap().to_string(),
        d["bay"]["slot"].as_u64().unwrap() as u32,
    )
}

async fn each_rule_is_raised_and_cleared_from_observed_state(backend: Backend) {
    let (app, runner) = rig(backend);
    let sim = app.sim();
    let mut c = app.client().await;
    c.setup_as_admin().await;
    settle(&app, &runner);
    let drives = c.get("/api/v1/drives").await.json();
    let healthy: Vec<String> = drives
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["health"] == "healthy")
        .map(|d| d["serial"].as_str().unwrap().to_string())
        .collect();
    let worn = drives
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["health"] == "warning")
        .unwrap()["serial"]
        .as_str()
        .unwrap()
        .to_string();
    // The simulator's one worn drive is the only thing to say.
    assert_eq!(
        active(&mut c).await,
        [(
            "drive.health".to_string(),
            format!("drive:{worn}"),
            "warning".to_string()
        )]
    );
    let encl = drive_at(&drives, &healthy[0]).0;

    // An enclosure's fan fails, and is mended.
    sim.set_element(&encl, "Fan 2", "critical", "0 rpm, Fail")
        .unwrap();
    settle(&app, &runner);
    let fan = format!("enclosure:{encl}:Fan 2");
    assert!(has(
        &active(&mut c).await,
        "enclosure.element",
        &fan,
        "critical"
    ));
    sim.set_element(&encl, "Fan 2", "non-critical", "1200 rpm")
        .unwrap();
    settle(&app, &runner);
    assert!(has(
        &active(&mut c).await,
        "enclosure.element",
        &fan,
        "warning"
    ));
    sim.set_element(&encl, "Fan 2", "OK", "5120 rpm").unwrap();
    settle(&app, &runner);
    assert!(rules_of(&active(&mut c).await, "enclosure").is_empty());
    let history = c.get("/api/v1/alerts?state=cleared").await.json();
    assert_eq!(history.as_array().unwrap().len(), 1, "one alert: {history}");
    assert_eq!(history[0]["subject"], fan.as_str());
    assert_eq!(history[0]["severity"], "warning", "as it was last");

    // A free drive fails its health check, then is pulled and replaced.
    let sick = healthy[9].clone();
    let sick_bay = drive_at(&drives, &sick);
    sim.act(&sick_bay.0, sick_bay.1, SimAction::FailDrive)
        .unwrap();
    settle(&app, &runner);
    let subject = format!("drive:{sick}");
    assert!(has(
        &active(&mut c).await,
        "drive.health",
        &subject,
        "critical"
    ));
    sim.act(&sick_bay.0, sick_bay.1, SimAction::ReplaceDrive)
        .unwrap();
    settle(&app, &runner);
    assert!(rules_of(&active(&mut c).await, &subject).is_empty());

    // A pool: raid1 of two drives, clean, then a member fails.
    let r = c
        .post_json(
            "/api/v1/pools",
            &json!({"name": "tank", "level": "raid1", "drives": [healthy[0], healthy[1]],
                    "write_hole": "none"})
            .to_string(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    settle(&app, &runner);
    app.clock.advance(DAY);
    settle(&app, &runner);
    assert!(rules_of(&active(&mut c).await, "pool").is_empty());
    let member = healthy[0].clone();
    let its_bay = drive_at(&drives, &member);
    sim.act(&its_bay.0, its_bay.1, SimAction::FailMember)
        .unwrap();
    settle(&app, &runner);
    let now = active(&mut c).await;
    assert!(
        has(&now, "pool.degraded", "pool:tank", "critical"),
        "{now:?}"
    );
    let list = c
        .get("/api/v1/alerts?state=open&severity=critical")
        .await
        .json();
    let degraded = list
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rule"] == "pool.degraded")
        .unwrap()
        .clone();
    assert_eq!(degraded["link"], "/pools/tank");
    assert!(
        degraded["summary"]
            .as_str()
            .unwrap()
            .contains("Pool tank is degraded: 1 member(s) missing"),
        "{degraded}"
    );

    // Pulled from its bay and a new drive put in: the member is missing.
    sim.act(&its_bay.0, its_bay.1, SimAction::ReplaceDrive)
        .unwrap();
    settle(&app, &runner);
    let now = active(&mut c).await;
    assert!(
        has(
            &now,
            "drive.missing",
            &format!("drive:{member}"),
            "critical"
        ),
        "{now:?}"
    );
    let newcomer = c
        .get("/api/v1/bays")
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["enclosure"] == its_bay.0.as_str() && b["slot"] == its_bay.1)
        .unwrap()["drive"]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    let r = c
        .post_json(
            "/api/v1/pools/tank/replace",
            &json!({"drive": member, "with": newcomer}).to_string(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    settle(&app, &runner);
    app.clock.advance(Duration::from_secs(1));
    settle(&app, &runner);
    let now = active(&mut c).await;
    assert!(
        !has(
            &now,
            "drive.missing",
            &format!("drive:{member}"),
            "critical"
        ),
        "taken out of the pool: {now:?}"
    );
    app.clock.advance(DAY);
    settle(&app, &runner);
    let pool = c.get("/api/v1/pools/tank").await.json();
    assert_eq!(pool["state"], "clean", "{pool}");
    let now = active(&mut c).await;
    assert_eq!(
        rules_of(&now, "pool"),
        ["pool.rebuilt pool:tank info"],
        "the rebuild's end is said: {now:?}"
    );
    settle(&app, &runner);
    assert_eq!(rules_of(&active(&mut c).await, "pool").len(), 1, "and kept");

    // Capacity: a thick volume of 92% of the pool, then deleted.
    let size = pool["capacity"]["size_bytes"].as_u64().unwrap();
    let mib = (size * 92 / 100) >> 20;
    let r = c
        .post_json(
            "/api/v1/volumes",
            &json!({"name": "big", "pool": "tank", "size": format!("{mib} MiB")}).to_string(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    settle(&app, &runner);
    assert!(has(
        &active(&mut c).await,
        "pool.capacity",
        "pool:tank",
        "critical"
    ));
    let r = c
        .request(actix_web::http::Method::DELETE, "/api/v1/volumes/big")
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    settle(&app, &runner);
    assert!(rules_of(&active(&mut c).await, "pool.capacity").is_empty());

    // A thin volume writes its thin pool past 80%, then past 90%.
    let r = c
        .post_json(
            "/api/v1/volumes",
            &json!({"name": "thin1", "pool": "tank", "size": "1 GiB", "thin": true}).to_string(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    settle(&app, &runner);
    let thin = c.get("/api/v1/pools/tank").await.json()["thin_pool"]["size_bytes"]
        .as_u64()
        .unwrap();
    // The volume is smaller than its thin pool: grow it first.
    let r = c
        .post_json(
            "/api/v1/volumes/thin1/resize",
            &json!({"size": format!("{} MiB", thin >> 20)}).to_string(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    settle(&app, &runner);
    sim.write("thin1", thin * 85 / 100).unwrap();
    settle(&app, &runner);
    assert!(has(
        &active(&mut c).await,
        "pool.thin",
        "pool:tank",
        "warning"
    ));
    sim.write("thin1", thin * 8 / 100).unwrap();
    settle(&app, &runner);
    assert!(has(
        &active(&mut c).await,
        "pool.thin",
        "pool:tank",
        "critical"
    ));
    let r = c
        .request(actix_web::http::Method::DELETE, "/api/v1/volumes/thin1")
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    settle(&app, &runner);
    assert!(rules_of(&active(&mut c).await, "pool.thin").is_empty());

    // A check finds mismatches; a repair rewrites them.
    sim.plant_mismatches("tank", 3).unwrap();
    let r = c.post_json("/api/v1/pools/tank/scrub", "{}").await;
    assert_eq!(r.status, 202, "{}", r.text());
    settle(&app, &runner);
    app.clock.advance(Duration::from_secs(1));
    settle(&app, &runner);
    app.clock.advance(DAY);
    settle(&app, &runner);
    assert!(has(
        &active(&mut c).await,
        "pool.scrub",
        "pool:tank",
        "warning"
    ));
    let r = c
        .post_json("/api/v1/pools/tank/scrub", r#"{"repair": true}"#)
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    settle(&app, &runner);
    app.clock.advance(Duration::from_secs(1));
    settle(&app, &runner);
    app.clock.advance(DAY);
    settle(&app, &runner);
    assert!(rules_of(&active(&mut c).await, "pool.scrub").is_empty());

    // A job fails; a later job on its resource succeeds.
    use baystack::jobs::kinds::{NoopPayload, noop, noop_payload};
    let spec = noop_payload(
        NoopPayload {
            resources: vec!["bay:x:1".into()],
            fail_at: Some(0),
            ..NoopPayload::default()
        },
        1,
    );
    let enqueue = |spec: &baystack::jobs::JobSpec| {
        app.db()
            .get()
            .unwrap()
            .write(|c| baystack::jobs::enqueue_audited(c, spec, "admin", None, None, None))
            .unwrap()
    };
    let failed = enqueue(&spec);
    settle(&app, &runner);
    let job = format!("job:{failed}");
    assert!(has(&active(&mut c).await, "job.failed", &job, "warning"));
    enqueue(&noop(vec!["bay:x:1".into()], 0, 1));
    settle(&app, &runner);
    assert!(rules_of(&active(&mut c).await, &job).is_empty());

    // The agent stops observing: said once three intervals have gone by
    // (here: none), and cleared by its next look.
    std::thread::sleep(Duration::from_millis(5));
    let silent = baystack::agent::evaluate_alerts(app.db(), chrono::Duration::zero()).unwrap();
    assert_eq!(silent.raised.len(), 1, "{silent:?}");
    assert_eq!(silent.raised[0].rule, "agent.silent");
    assert!(has(
        &active(&mut c).await,
        "agent.silent",
        "agent",
        "warning"
    ));
    settle(&app, &runner);
    assert!(rules_of(&active(&mut c).await, "agent").is_empty());

    // The page lists them, newest first, with the rule list.
    let page = c.get("/alerts").await.text();
    assert!(page.contains("What raises an alert"), "{page}");
    assert!(page.contains("Pool tank is clean again"), "{page}");
    let page = c.get("/alerts?q=Fan+2").await.text();
    assert!(page.contains("Fan 2"), "{page}");
    assert!(!page.contains("Pool tank"), "{page}");
}

/// One alert per condition: evaluating again, from a second database
/// handle (a restarted console, a second agent) and from several threads
/// at once never makes a second open alert for a condition, and each raise
/// and clear is reported by one evaluator only.
async fn one_alert_per_condition_across_restarts_and_agents(backend: Backend) {
    let (app, runner) = rig(backend);
    let mut c = app.client().await;
    c.setup_as_admin().await;
    settle(&app, &runner);
    let encl = c.get("/api/v1/enclosures").await.json()[0]["ident"]
        .as_str()
        .unwrap()
        .to_string();
    let sim = app.sim();
    let mut raised = 0;
    let mut cleared = 0;
    for round in 0..6 {
        let status = if round % 2 == 0 { "critical" } else { "OK" };
        sim.set_element(&encl, "PSU 1", status, "").unwrap();
        app.observe();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let db = baystack::db::Db::open(&app.settings.database).unwrap();
                std::thread::spawn(move || {
                    baystack::agent::evaluate_alerts(&db, chrono::Duration::seconds(60)).unwrap()
                })
            })
            .collect();
        for h in handles {
            let ch = h.join().unwrap();
            raised += ch
                .raised
                .iter()
                .filter(|a| a.rule == "enclosure.element")
                .count();
            cleared += ch
                .cleared
                .iter()
                .filter(|a| a.rule == "enclosure.element")
                .count();
        }
    }
    assert_eq!((raised, cleared), (3, 3), "each change reported once");
    let all = c.get("/api/v1/alerts?q=PSU+1").await.json();
    assert_eq!(all.as_array().unwrap().len(), 3, "{all}");
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .all(|a| a["state"] == "cleared")
    );
    // A restart: the same database opened again raises nothing new.
    sim.set_element(&encl, "PSU 1", "critical", "AC fail")
        .unwrap();
    settle(&app, &runner);
    let again = TestApp::reopen(&app);
    let ch = baystack::agent::evaluate_alerts(again.db(), chrono::Duration::seconds(60)).unwrap();
    assert!(ch.is_empty(), "{ch:?}");
    let open = c.get("/api/v1/alerts?state=open&q=PSU").await.json();
    assert_eq!(open.as_array().unwrap().len(), 1, "{open}");
}

/// Acknowledged once, by whom, when and with a note; audited; still so
/// after a restart and after the condition is evaluated again; a
/// condition that gets worse drops the acknowledgement. Bad input changes
/// nothing.
async fn acknowledgement_is_kept_and_bad_input_refused(backend: Backend) {
    let (app, runner) = rig(backend);
    let mut c = app.client().await;
    c.setup_as_admin().await;
    settle(&app, &runner);
    let encl = c.get("/api/v1/enclosures").await.json()[0]["ident"]
        .as_str()
        .unwrap()
        .to_string();
    let sim = app.sim();
    sim.set_element(&encl, "Fan 1", "non-critical", "2100 rpm")
        .unwrap();
    settle(&app, &runner);
    let list = c.get("/api/v1/alerts?state=open&q=Fan").await.json();
    let id = list[0]["id"].as_i64().unwrap();

    for (path, body, status, field, words) in [
        (
            format!("/api/v1/alerts/{id}/ack"),
            json!({"note": "x".repeat(501)}),
            422,
            "note",
            "1 to 500",
        ),
        (
            format!("/api/v1/alerts/{id}/ack"),
            json!({"note": "a\u{202e}b"}),
            422,
            "note",
            "invisible",
        ),
        (
            format!("/api/v1/alerts/{id}/ack"),
            json!({"note": 5}),
            400,
            "",
            "expected a string",
        ),
        (
            "/api/v1/alerts/999999/ack".into(),
            json!({}),
            404,
            "",
            "there is no alert 999999",
        ),
    ] {
        let r = c.post_json(&path, &body.to_string()).await;
        assert_eq!(r.status, status, "{body}: {}", r.text());
        assert!(r.text().contains(words), "{body}: {}", r.text());
        if !field.is_empty() {
            assert_eq!(r.json()["field"], field);
        }
    }
    for (query, field) in [
        ("state=closed", "state"),
        ("severity=fatal", "severity"),
        ("q=%1b", "q"),
    ] {
        let r = c.get(&format!("/api/v1/alerts?{query}")).await;
        assert_eq!(r.status, 422, "{query}: {}", r.text());
        assert_eq!(r.json()["field"], field, "{query}");
        let page = c.get(&format!("/alerts?{query}")).await;
        assert_eq!(page.status, 422, "{query}");
        assert!(page.text().contains("must"), "{query}");
    }
    assert_eq!(
        c.get(&format!("/api/v1/alerts/{id}")).await.status,
        404,
        "no such route"
    );
    let a = c.get("/api/v1/alerts?state=open&q=Fan").await.json();
    assert_eq!(a[0]["acknowledged_at"], Value::Null, "nothing changed");

    let r = c
        .post_json(
            &format!("/api/v1/alerts/{id}/ack"),
            r#"{"note": "fan on order"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let a = r.json();
    assert_eq!(a["state"], "acknowledged");
    assert_eq!(a["acknowledged_by"], "admin");
    assert_eq!(a["ack_note"], "fan on order");
    let r = c.post_json(&format!("/api/v1/alerts/{id}/ack"), "{}").await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.text().contains("acknowledged by admin"), "{}", r.text());
    let audit = c.get("/api/v1/audit?action=alert.ack").await.json();
    assert_eq!(audit.as_array().unwrap().len(), 1, "{audit}");
    assert!(
        audit[0]["detail"]
            .as_str()
            .unwrap()
            .contains("fan on order")
    );

    // A restart, and the condition evaluated again: still acknowledged.
    let again = TestApp::reopen(&app);
    baystack::agent::evaluate_alerts(again.db(), chrono::Duration::seconds(60)).unwrap();
    let mut c2 = again.client().await;
    c2.bearer = Some(c2.token_for("admin", crate::support::ADMIN_PASSWORD).await);
    let a = c2.get("/api/v1/alerts?state=acknowledged").await.json();
    assert_eq!(a.as_array().unwrap().len(), 1, "{a}");
    assert_eq!(a[0]["id"], id);

    // Worse: open again, for someone to look.
    sim.set_element(&encl, "Fan 1", "critical", "0 rpm, Fail")
        .unwrap();
    app.observe();
    let ch = evaluate(&app);
    assert_eq!(ch.escalated.len(), 1, "{ch:?}");
    let a = c.get("/api/v1/alerts?state=open&q=Fan").await.json();
    assert_eq!(a[0]["id"], id, "the same alert");
    assert_eq!(a[0]["severity"], "critical");
    assert_eq!(a[0]["acknowledged_by"], Value::Null);

    // Through the page's form.
    let r = c
        .post_form(&format!("/alerts/{id}/ack"), &[("note", "")])
        .await;
    assert_eq!(r.status, 303, "{}", r.text());
    assert!(r.location().starts_with("/alerts"), "{}", r.location());
    let page = c.get("/alerts?state=acknowledged").await.text();
    assert!(page.contains("Fan 1"), "{page}");
}

both!(
    each_rule_is_raised_and_cleared_from_observed_state,
    one_alert_per_condition_across_restarts_and_agents,
    acknowledgement_is_kept_and_bad_input_refused,
);

//! A volume replicated between two appliances on `sim`, each with its own
//! database, its agent's channel on loopback and its job runner working:
//! replication switched on for a thin volume while it is written, the
//! replica equal byte for byte to the source at each point it claims; a
//! transfer cut off when the replica's agent stops, the replica keeping its
//! last point, then resuming where it was cut; a block changed on its way
//! refused; bad settings refused in words; a failover on the replica's
//! side exporting its last point under the source's target name, then a
//! failback sending only what changed there; replication switched off on
//! both sides with the copy kept as an ordinary volume.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::Method;
use baystack::jobs::link::wire;
use serde_json::{Value, json};

use crate::both;
use crate::peers::{Appliance, admin};
use crate::support::{Backend, Client};

const MIB: u64 = 1 << 20;
const SIZE: u64 = 64 * MIB;

/// Waits (the runners work in their own threads) until job `id` ends.
async fn finished<S, B>(c: &mut Client<S>, id: i64) -> Value
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let start = Instant::now();
    loop {
        let j = c.get(&format!("/api/v1/jobs/{id}")).await.json();
        if ["succeeded", "failed", "cancelled"].contains(&j["state"].as_str().unwrap_or("")) {
            return j;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "job {id}: {j}");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn accepted<S, B>(c: &mut Client<S>, r: crate::support::Resp) -> Value
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    assert_eq!(r.status, 202, "{}", r.text());
    finished(c, r.json()["job_id"].as_i64().unwrap()).await
}

/// A raid1 pool `tank` of two healthy drives.
async fn tank<S, B>(a: &Appliance, c: &mut Client<S>)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    a.app.observe();
    let drives = c.get("/api/v1/drives").await.json();
    let free: Vec<String> = drives
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["health"] == "healthy" && d["present"] == true)
        .map(|d| d["serial"].as_str().unwrap().to_string())
        .take(2)
        .collect();
    let r = c
        .post_json(
            "/api/v1/pools",
            &json!({"name": "tank", "level": "raid1", "drives": free, "write_hole": "none"})
                .to_string(),
        )
        .await;
    let job = accepted(c, r).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    a.app.observe();
}

/// The bytes of a thin logical volume of the simulator, whole.
fn bytes_of(a: &Appliance, lv: &str) -> Vec<u8> {
    let mut buf = vec![0u8; SIZE as usize];
    a.app.sim().read_bytes(lv, 0, &mut buf).unwrap();
    buf
}

/// A pattern no two writes share.
fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn enqueue_due(a: &Appliance) -> usize {
    let mut conn = a.app.db().get().unwrap();
    conn.write(|c| baystack::jobs::kinds::enqueue_due_replications(c, "system"))
        .unwrap()
}

fn replication(list: &Value, volume: &str) -> Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|r| r["volume"] == volume)
        .cloned()
        .unwrap_or(Value::Null)
}

/// Enqueues the next transfer now and waits for it: the job after.
async fn transfer<S, B>(a: &Appliance, c: &mut Client<S>) -> Value
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    assert_eq!(enqueue_due(a), 1, "a transfer is due");
    let jobs = c
        .get("/api/v1/jobs?resource=volume:db&limit=1")
        .await
        .json();
    let id = jobs[0]["id"].as_i64().unwrap();
    finished(c, id).await
}

/// Runs one SQL statement on an appliance's database, behind the console's
/// back (what a test puts in place that the API cannot).
fn sql(a: &Appliance, statement: &str) {
    use diesel::prelude::*;
    let mut conn = a.app.db().get().unwrap();
    match &mut conn.conn() {
        baystack::db::Conn::Sqlite(c) => diesel::sql_query(statement).execute(*c),
        baystack::db::Conn::Postgres(c) => diesel::sql_query(statement).execute(*c),
    }
    .unwrap();
}

/// Makes the next point due at once (a test does not wait an interval).
fn due_now(a: &Appliance) {
    sql(
        a,
        "UPDATE replications SET consistent_at = NULL, last_error_at = NULL",
    );
}

async fn a_volume_in_use_is_replicated_cut_off_resumed_failed_over_and_back(backend: Backend) {
    let a = Appliance::new(backend);
    let b = Appliance::new(backend);
    let halt = Arc::new(AtomicBool::new(false));
    let _workers = (a.runner.start(halt.clone()), b.runner.start(halt.clone()));
    let mut ca = a.app.client().await;
    let mut cb = b.app.client().await;
    admin(&mut ca, "bay01").await;
    admin(&mut cb, "bay02").await;
    let code = cb
        .post_json(
            "/api/v1/peers/pairing-code",
            &json!({ "address": b.address() }).to_string(),
        )
        .await
        .json();
    let r = ca
        .post_json(
            "/api/v1/peers",
            &json!({ "code": code["code"] }).to_string(),
        )
        .await;
    assert_eq!(accepted(&mut ca, r).await["state"], "succeeded");
    tank(&a, &mut ca).await;
    tank(&b, &mut cb).await;

    // A thin volume and a thick one on A; the thin one exported, written.
    for (name, thin) in [("db", true), ("logs", false)] {
        let r = ca
            .post_json(
                "/api/v1/volumes",
                &json!({"name": name, "pool": "tank", "size": "64 MiB", "thin": thin}).to_string(),
            )
            .await;
        assert_eq!(accepted(&mut ca, r).await["state"], "succeeded");
    }
    let r = ca
        .post_json(
            "/api/v1/volumes/db/export",
            &json!({"initiators": ["iqn.1991-05.com.microsoft:host1"]}).to_string(),
        )
        .await;
    assert_eq!(accepted(&mut ca, r).await["state"], "succeeded");
    let sim = a.app.sim();
    sim.write_bytes("db", 0, &pattern(1, 3 * MIB as usize))
        .unwrap();
    sim.write_bytes("db", 40 * MIB + 123, &pattern(2, 5000))
        .unwrap();

    // Bad settings, each refused in words, nothing recorded.
    for (path, body, status, field, words) in [
        (
            "db",
            json!({"interval_s": 60, "rpo_s": 300}),
            422,
            "peer",
            "name the peer",
        ),
        (
            "db",
            json!({"peer": "bay09", "interval_s": 60, "rpo_s": 300}),
            422,
            "peer",
            "no peer named",
        ),
        (
            "db",
            json!({"peer": "bay02", "rpo_s": 300}),
            422,
            "interval_s",
            "seconds between points",
        ),
        (
            "db",
            json!({"peer": "bay02", "interval_s": 5, "rpo_s": 300}),
            422,
            "interval_s",
            "every 10 to 86400",
        ),
        (
            "db",
            json!({"peer": "bay02", "interval_s": 60}),
            422,
            "rpo_s",
            "recovery point objective",
        ),
        (
            "db",
            json!({"peer": "bay02", "interval_s": 60, "rpo_s": 30}),
            422,
            "rpo_s",
            "from the interval",
        ),
        (
            "db",
            json!({"peer": "bay02", "interval_s": 60, "rpo_s": 300, "bandwidth_limit": "fast"}),
            422,
            "bandwidth_limit",
            "not a rate",
        ),
        (
            "db",
            json!({"peer": "bay02", "interval_s": 60, "rpo_s": 300, "bandwidth_limit": {"rate": "1 Gbit/s", "schedule": [{"days": "mon-fri", "from": "08:00", "rate": "100 Mbit/s"}]}}),
            422,
            "bandwidth_limit",
            "needs \"to\"",
        ),
        (
            "db",
            json!({"peer": "bay02", "interval_s": 60, "rpo_s": 300, "bandwidth_limit": {"speed": 1}}),
            422,
            "bandwidth_limit",
            "not \"speed\"",
        ),
        (
            "logs",
            json!({"peer": "bay02", "interval_s": 60, "rpo_s": 300}),
            409,
            "",
            "is thick",
        ),
        (
            "nope",
            json!({"peer": "bay02", "interval_s": 60, "rpo_s": 300}),
            404,
            "",
            "no volume named",
        ),
    ] {
        let r = ca
            .post_json(
                &format!("/api/v1/volumes/{path}/replication"),
                &body.to_string(),
            )
            .await;
        assert_eq!(r.status, status, "{body}: {}", r.text());
        if !field.is_empty() {
            assert_eq!(r.json()["field"], field, "{body}: {}", r.text());
        }
        let detail = r.json()["detail"].as_str().unwrap_or_default().to_string();
        assert!(detail.contains(words), "{words:?}: {}", r.text());
    }
    assert_eq!(ca.get("/api/v1/replication").await.json(), json!([]));

    // Switched on while exported: B makes the replica with its own job.
    let r = ca
        .post_json(
            "/api/v1/volumes/db/replication",
            &json!({"peer": "bay02", "interval_s": 10, "rpo_s": 60, "compress": true,
                    "bandwidth_limit": {"rate": "1 Gbit/s", "schedule": [
                        {"days": "daily", "from": "00:00", "to": "24:00", "rate": "800 Mbit/s"}]}})
            .to_string(),
        )
        .await;
    let job = accepted(&mut ca, r).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let r = ca
        .post_json(
            "/api/v1/volumes/db/replication",
            &json!({"peer": "bay02", "interval_s": 10, "rpo_s": 60}).to_string(),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text());
    let on_b = cb.get("/api/v1/volumes/db").await.json();
    assert_eq!(on_b["thin"], true, "{on_b}");
    let on_a = ca.get("/api/v1/volumes/db").await.json();
    assert_eq!(
        on_b["serial"], on_a["serial"],
        "the replica keeps the serial"
    );
    assert_eq!(on_b["wwn"], on_a["wwn"]);
    let listed = replication(&ca.get("/api/v1/replication").await.json(), "db");
    assert_eq!(listed["state"], "initial_sync", "{listed}");
    assert_eq!(listed["role"], "source");
    assert_eq!(listed["peer"], "bay02");
    assert_eq!(listed["last_consistent_at"], Value::Null);

    // The first point, in full.
    let job = transfer(&a, &mut ca).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(enqueue_due(&a), 0, "not due again before its interval");
    let src = bytes_of(&a, "db_r1");
    assert_eq!(
        bytes_of(&b, "db_r1"),
        src,
        "the replica's point 1 is the source's"
    );
    let listed = replication(&ca.get("/api/v1/replication").await.json(), "db");
    assert_eq!(listed["state"], "in_sync", "{listed}");
    assert_eq!(listed["pending_bytes"], 0);
    assert!(listed["lag_s"].as_i64().unwrap() < 10, "{listed}");
    assert!(listed["throughput_bps"].as_i64().unwrap() > 0, "{listed}");
    let on_b = replication(&cb.get("/api/v1/replication").await.json(), "db");
    assert_eq!(on_b["role"], "replica", "{on_b}");
    assert_eq!(on_b["state"], "in_sync");
    assert_eq!(on_b["last_consistent_at"], listed["last_consistent_at"]);
    // The same in /metrics, on both sides.
    let metrics = ca.get("/metrics").await.text();
    assert!(
        metrics.contains(
            "baystack_replication_state{volume=\"db\",peer=\"bay02\",role=\"source\",state=\"in_sync\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("baystack_replication_lag_seconds{volume=\"db\""),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "baystack_replication_rpo_seconds{volume=\"db\",peer=\"bay02\",role=\"source\"} 60"
        ),
        "{metrics}"
    );
    let metrics = cb.get("/metrics").await.text();
    assert!(
        metrics.contains(
            "baystack_replication_state{volume=\"db\",peer=\"bay01\",role=\"replica\",state=\"in_sync\"} 1"
        ),
        "{metrics}"
    );
    // And on the wall.
    let board = ca.get("/noc/board").await.text();
    assert!(
        board.contains("<strong>db</strong> to bay02 · in sync"),
        "{board}"
    );
    // The replica is not exported, nor can it be while it is one.
    assert_eq!(cb.get("/api/v1/targets").await.json(), json!([]));

    // Written on; the next point carries only what changed.
    sim.write_bytes("db", 2 * MIB, &pattern(3, 10)).unwrap();
    sim.write_bytes("db", 50 * MIB, &pattern(4, MIB as usize))
        .unwrap();
    due_now(&a);
    let job = transfer(&a, &mut ca).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let said = job["steps"][1]["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(said.contains("since point 1"), "{job}");
    assert_eq!(bytes_of(&b, "db_r2"), bytes_of(&a, "db_r2"));
    assert_ne!(bytes_of(&b, "db_r2"), src);
    // Point 1 is pruned on both sides.
    let lvs = |x: &Appliance| {
        x.app
            .engine()
            .logical_volumes("tank", &mut baystack::storage::NoLog)
            .unwrap()
            .into_iter()
            .map(|l| l.name)
            .filter(|n| n.starts_with("db_r"))
            .collect::<Vec<_>>()
    };
    assert_eq!(lvs(&a), ["db_r2"]);
    assert_eq!(lvs(&b), ["db_r2"]);

    // A point the replica committed, its answer lost with the link: sent
    // again, the replica says it has it, and nothing is sent twice.
    sql(
        &a,
        "UPDATE replications SET seq = 1, inflight_seq = 2, inflight_base = 1, \
         last_error_at = NULL",
    );
    let job = transfer(&a, &mut ca).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let said = job["steps"][1]["detail"].as_str().unwrap_or_default();
    assert!(said.contains("had committed it already"), "{job}");
    assert_eq!(
        replication(&ca.get("/api/v1/replication").await.json(), "db")["seq"],
        2
    );

    // A transfer cut off: held to 1 MiB/s, B's agent stops part-way.
    {
        let limit = json!({"rate": 1_048_576, "windows": []}).to_string();
        let statement = format!("UPDATE replications SET bandwidth = '{limit}', compress = false");
        sql(&a, &statement);
    }
    sim.write_bytes("db", 8 * MIB, &pattern(5, 6 * MIB as usize))
        .unwrap();
    due_now(&a);
    assert_eq!(enqueue_due(&a), 1);
    let jobs = ca
        .get("/api/v1/jobs?resource=volume:db&limit=1")
        .await
        .json();
    let cut = jobs[0]["id"].as_i64().unwrap();
    let start = Instant::now();
    loop {
        let on_b = replication(&cb.get("/api/v1/replication").await.json(), "db");
        if on_b["inflight_seq"] == 3 && {
            let r = baystack::db::replication::get(&mut b.app.db().get().unwrap().conn(), "db")
                .unwrap()
                .unwrap();
            r.resume_offset > 0
        } {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{on_b}");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    b.hang_up();
    let job = finished(&mut ca, cut).await;
    assert_eq!(job["state"], "failed", "{job}");
    let listed = replication(&ca.get("/api/v1/replication").await.json(), "db");
    assert_eq!(listed["state"], "broken", "{listed}");
    assert!(listed["last_error"].as_str().is_some(), "{listed}");
    assert!(listed["pending_bytes"].as_i64().unwrap() > 0, "{listed}");
    // Broken is an alert on A once the agent evaluates.
    {
        let mut conn = a.app.db().get().unwrap();
        let changes = conn
            .write(|c| {
                baystack::db::alerts::evaluate(
                    c,
                    baystack::db::now(),
                    chrono::Duration::seconds(3600),
                )
            })
            .unwrap();
        let rules: Vec<&str> = changes.raised.iter().map(|a| a.rule.as_str()).collect();
        assert!(rules.contains(&"replication.broken"), "{rules:?}");
    }
    // B still holds point 2, whole.
    assert_eq!(bytes_of(&b, "db_r2"), bytes_of(&a, "db_r2"));
    let on_b = replication(&cb.get("/api/v1/replication").await.json(), "db");
    assert_eq!(on_b["seq"], 2, "{on_b}");
    // A job that failed this way raises no job alert: the replication's
    // state says it.
    a.app.observe();

    // B's agent back: the transfer resumes where it was cut.
    b.listen();
    sql(
        &a,
        "UPDATE replications SET bandwidth = NULL, last_error_at = NULL",
    );
    let job = transfer(&a, &mut ca).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let said = job["steps"][1]["detail"].as_str().unwrap_or_default();
    assert!(said.contains("resumed from byte"), "{job}");
    assert_eq!(bytes_of(&b, "db_r3"), bytes_of(&a, "db_r3"));
    let history =
        baystack::db::replication::transfers(&mut b.app.db().get().unwrap().conn(), "db", 10)
            .unwrap();
    let results: Vec<&str> = history.iter().map(|t| t.result.as_str()).collect();
    assert_eq!(results, ["ok", "failed", "ok", "ok"], "{history:?}");

    // A block changed on its way is refused, and the replica keeps point 3.
    {
        let id = baystack::jobs::link::tls::identity(a.app.db()).unwrap();
        let peer = baystack::db::peers::peer(&mut a.app.db().get().unwrap().conn(), "bay02")
            .unwrap()
            .unwrap();
        let mut s = baystack::jobs::kinds::peer_session(&id, &peer).unwrap();
        wire::send(
            &mut s,
            &wire::Msg::Offer {
                volume: "db".into(),
                seq: 4,
                base: Some(3),
                size_bytes: SIZE,
                taken_at_ms: chrono::Utc::now().timestamp_millis(),
                data_bytes: 4096,
                interval_s: 10,
                rpo_s: 60,
                target: None,
            },
        )
        .unwrap();
        assert!(matches!(
            wire::recv_msg(&mut s).unwrap(),
            wire::Msg::Accept { offset: 0, .. }
        ));
        let mut frame = Vec::new();
        wire::send_block(&mut frame, 0, &[7u8; 4096]).unwrap();
        let last = frame.len() - 1;
        frame[last] ^= 0xff;
        std::io::Write::write_all(&mut s, &frame).unwrap();
        std::io::Write::flush(&mut s).unwrap();
        match wire::recv_msg(&mut s).unwrap() {
            wire::Msg::Refused { reason } => {
                assert!(reason.contains("does not match its checksum"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(bytes_of(&b, "db_r3"), bytes_of(&a, "db_r3"));
    let on_b = replication(&cb.get("/api/v1/replication").await.json(), "db");
    assert_eq!(on_b["seq"], 3, "{on_b}");
    assert_eq!(on_b["state"], "broken", "{on_b}");

    // Failover on B: refused where it does not belong, then the replica is
    // its last consistent point, exported under the source's target name.
    for (on_b, path, words) in [
        (false, "failover", "is the source here"),
        (false, "failback", "was not promoted by a failover"),
        (true, "failback", "was not promoted by a failover"),
    ] {
        let at = format!("/api/v1/volumes/db/replication/{path}");
        let r = if on_b {
            cb.post_json(&at, "{}").await
        } else {
            ca.post_json(&at, "{}").await
        };
        assert_eq!(r.status, 409, "{path}: {}", r.text());
        assert!(r.text().contains(words), "{path}: {}", r.text());
    }
    sim.write_bytes("db", 0, &pattern(6, 4096)).unwrap();
    let r = cb
        .post_json("/api/v1/volumes/db/replication/failover", "{}")
        .await;
    let job = accepted(&mut cb, r).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let r = cb
        .post_json("/api/v1/volumes/db/replication/failover", "{}")
        .await;
    assert_eq!(r.status, 409, "{}", r.text());
    // The export job the failover enqueued.
    let start = Instant::now();
    let source_iqn = ca.get("/api/v1/targets").await.json()[0]["iqn"].clone();
    loop {
        let t = cb.get("/api/v1/targets").await.json();
        if t[0]["state"] == "exported" || t[0]["lifecycle"] == "ready" {
            assert_eq!(t[0]["iqn"], source_iqn, "the source's target name: {t}");
            assert_eq!(
                t[0]["initiators"],
                json!(["iqn.1991-05.com.microsoft:host1"])
            );
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{t}");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    let promoted = bytes_of(&b, "db");
    assert_eq!(
        promoted,
        bytes_of(&a, "db_r3"),
        "the promoted volume is point 3"
    );
    let on_b = replication(&cb.get("/api/v1/replication").await.json(), "db");
    assert_eq!(on_b["state"], "promoted", "{on_b}");
    // A's next transfer is refused: the replica was promoted.
    due_now(&a);
    let job = transfer(&a, &mut ca).await;
    assert_eq!(job["state"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap().contains("promoted"), "{job}");

    // Written on B; failback from B sends only that difference to A.
    let bsim = b.app.sim();
    bsim.write_bytes("db", 30 * MIB, &pattern(7, 100_000))
        .unwrap();
    let r = cb
        .post_json("/api/v1/volumes/db/replication/failback", "{}")
        .await;
    let job = accepted(&mut cb, r).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(
        ca.get("/api/v1/targets").await.json(),
        json!([]),
        "A unexported"
    );
    assert_eq!(
        bytes_of(&a, "db"),
        bytes_of(&a, "db_r3"),
        "A is point 3 again"
    );
    let on_a = replication(&ca.get("/api/v1/replication").await.json(), "db");
    assert_eq!(
        (on_a["role"].as_str(), on_a["state"].as_str()),
        (Some("replica"), Some("in_sync")),
        "{on_a}"
    );
    let on_b = replication(&cb.get("/api/v1/replication").await.json(), "db");
    assert_eq!(on_b["role"], "source", "{on_b}");
    assert_eq!(
        on_b["interval_s"], 10,
        "the settings came with the failback"
    );
    due_now(&b);
    let job = transfer(&b, &mut cb).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let said = job["steps"][1]["detail"].as_str().unwrap_or_default();
    // 100,000 bytes from 30 MiB: two 64 KiB blocks.
    assert!(said.contains("128 KiB of changes since point 3"), "{said}");
    assert_eq!(bytes_of(&a, "db_r4"), bytes_of(&b, "db_r4"));
    assert_eq!(bytes_of(&a, "db"), bytes_of(&b, "db"));

    // Switched off on B, the source now: both forget; A keeps its copy.
    let r = ca
        .request(Method::DELETE, "/api/v1/volumes/db/replication")
        .await;
    assert_eq!(r.status, 409, "switched off on the source: {}", r.text());
    let r = cb
        .request(Method::DELETE, "/api/v1/volumes/db/replication")
        .await;
    let job = accepted(&mut cb, r).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(ca.get("/api/v1/replication").await.json(), json!([]));
    assert_eq!(cb.get("/api/v1/replication").await.json(), json!([]));
    assert_eq!(ca.get("/api/v1/volumes/db").await.json()["name"], "db");
    assert!(lvs(&a).is_empty() && lvs(&b).is_empty());
    let audit = ca
        .get("/api/v1/audit?action=replication.enable")
        .await
        .json();
    assert_eq!(audit.as_array().unwrap().len(), 1, "{audit}");
    let audit = cb
        .get("/api/v1/audit?action=replication.failover")
        .await
        .json();
    assert_eq!(audit.as_array().unwrap().len(), 1, "{audit}");
    // Succeeded transfers' jobs are forgotten once old (their history is
    // the volume's); failed ones stay.
    let ships = |c: &Value| {
        c.as_array()
            .unwrap()
            .iter()
            .filter(|j| j["kind"] == "replication.ship")
            .map(|j| j["state"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let before = ships(&ca.get("/api/v1/jobs?limit=500").await.json());
    assert!(before.iter().any(|s| s == "succeeded"), "{before:?}");
    let forgotten = a
        .app
        .db()
        .get()
        .unwrap()
        .write(|c| {
            baystack::jobs::queue::forget_succeeded(
                c,
                "replication.ship",
                baystack::db::now() + chrono::Duration::days(1),
            )
        })
        .unwrap();
    let after = ships(&ca.get("/api/v1/jobs?limit=500").await.json());
    assert_eq!(
        forgotten,
        before.iter().filter(|s| *s == "succeeded").count()
    );
    assert!(after.iter().all(|s| s == "failed"), "{after:?}");
    assert!(!after.is_empty());
    halt.store(true, std::sync::atomic::Ordering::Relaxed);
}

both!(a_volume_in_use_is_replicated_cut_off_resumed_failed_over_and_back);

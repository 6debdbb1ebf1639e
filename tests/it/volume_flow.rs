//! A volume's life on `sim`, through HTTP: created thick and thin, exported
//! with an ACL and CHAP, a simulated initiator logs in (and one not in the
//! ACL, and one with the wrong secret, are refused), grown online with the
//! session kept, snapshotted, rolled back, unexported and deleted; bad input
//! at each step refused in words, changing nothing; a reconcile of a right
//! configuration writes nothing, and repairs a target removed behind the
//! console's back.

use std::time::Duration;

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use serde_json::{Value, json};

use crate::both;
use crate::support::{Backend, Client, TestApp};

const GIB: u64 = 1 << 30;

fn settle(app: &TestApp, runner: &baystack::jobs::runner::Runner) {
    while runner.run_one().unwrap() {}
    app.observe();
}

/// A raid1 pool `tank` of the first two healthy drives, made.
async fn make_tank<S, B>(app: &TestApp, runner: &baystack::jobs::runner::Runner, c: &mut Client<S>)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
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
    assert_eq!(r.status, 202, "{}", r.text());
    settle(app, runner);
}

/// The job an accepted request enqueued, as the API shows it now.
macro_rules! job_of {
    ($c:expr, $r:expr) => {{
        assert_eq!($r.status, 202, "{}", $r.text());
        let id = $r.json()["job_id"].as_i64().unwrap();
        $c.get(&format!("/api/v1/jobs/{id}")).await.json()
    }};
}

async fn a_volume_from_create_to_delete(backend: Backend) {
    let app = TestApp::with_settings(backend, |s| {
        s.sim.speed = 1000.0;
        s.sim.layout = vec![12];
    });
    let runner = app.runner(Duration::from_secs(30));
    app.observe();
    let mut c = app.client().await;
    c.setup_as_admin().await;
    make_tank(&app, &runner, &mut c).await;

    // Bad input, each in words, nothing enqueued.
    let jobs = |j: Value| j.as_array().map_or(0, Vec::len);
    let before = jobs(c.get("/api/v1/jobs").await.json());
    for (body, status, words) in [
        (
            json!({"name": "DB", "pool": "tank", "size": "1 GiB"}),
            422,
            "lowercase",
        ),
        (
            json!({"name": "db_1", "pool": "tank", "size": "1 GiB"}),
            422,
            "has '_'",
        ),
        (
            json!({"name": "db", "pool": "tank", "size": "100"}),
            422,
            "needs a unit",
        ),
        (
            json!({"name": "db", "pool": "tank", "size": "5 PB"}),
            422,
            "unit is",
        ),
        (
            json!({"name": "db", "pool": "tank", "size": 0}),
            422,
            "above 0",
        ),
        (
            json!({"name": "db", "pool": "tank", "size": "900 TiB"}),
            422,
            "larger than",
        ),
        (
            json!({"name": "db", "pool": "nope", "size": "1 GiB"}),
            422,
            "no pool named",
        ),
    ] {
        let r = c.post_json("/api/v1/volumes", &body.to_string()).await;
        assert_eq!(r.status, status, "{body}: {}", r.text());
        assert!(r.text().contains(words), "{body}: {}", r.text());
    }
    let r = c
        .post_form(
            "/volumes",
            &[("name", "Bad"), ("pool", "tank"), ("size", "1 GiB")],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("lowercase"), "{}", r.text());
    assert_eq!(jobs(c.get("/api/v1/jobs").await.json()), before);

    // A thick and a thin volume.
    let r = c
        .post_json(
            "/api/v1/volumes",
            &json!({"name": "db01", "pool": "tank", "size": "2 GiB"}).to_string(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let r = c
        .post_json(
            "/api/v1/volumes",
            &json!({"name": "vm", "pool": "tank", "size": 4 * GIB, "thin": true}).to_string(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    settle(&app, &runner);
    let v = c.get("/api/v1/volumes/db01").await.json();
    assert_eq!(v["state"], "ready", "{v}");
    assert_eq!(v["size"], 2 * GIB);
    assert_eq!(v["device"], "/dev/mapper/baystack-db01");
    let page = c.get("/volumes/db01").await.text();
    assert!(
        page.contains("<code>/dev/mapper/baystack-db01</code>"),
        "{page}"
    );
    assert!(!page.contains("an adopted target"), "{page}");
    let serial = v["serial"].as_str().unwrap().to_string();
    assert!(v["wwn"].as_str().unwrap().starts_with("naa.6001405"), "{v}");
    let thin = c.get("/api/v1/volumes/vm").await.json();
    assert_eq!(
        (thin["state"].as_str(), thin["thin"].as_bool()),
        (Some("ready"), Some(true))
    );
    let r = c
        .post_json(
            "/api/v1/volumes",
            &json!({"name": "db01", "pool": "tank", "size": "1 GiB"}).to_string(),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("already exists"), "{}", r.text());

    // Export: bad input first.
    let host = "iqn.1993-08.org.debian:01:host1";
    for (body, words) in [
        (json!({"initiators": []}), "at least one initiator"),
        (json!({"initiators": ["iqn.bad"]}), "date"),
        (
            json!({"initiators": ["IQN.1993-08.org.debian:x"]}),
            "lowercase",
        ),
        (
            json!({"initiators": [host], "chap": {"user": "u", "secret": "short"}}),
            "12 to 16",
        ),
        (
            json!({"initiators": [host], "mutual_chap": {"user": "t", "secret": "abcdefghijkl"}}),
            "needs CHAP too",
        ),
        (json!({"initiators": [host], "open": true}), "not both"),
    ] {
        let r = c
            .post_json("/api/v1/volumes/db01/export", &body.to_string())
            .await;
        assert_eq!(r.status, 422, "{body}: {}", r.text());
        assert!(r.text().contains(words), "{body}: {}", r.text());
    }
    let secret = "s3cret-s3cret!";
    let r = c
        .post_json(
            "/api/v1/volumes/db01/export",
            &json!({"initiators": [host], "chap": {"user": "host1", "secret": secret}}).to_string(),
        )
        .await;
    let job = job_of!(c, r);
    assert!(
        !job.to_string().contains(secret),
        "the job shows the secret: {job}"
    );
    settle(&app, &runner);
    let r = c
        .post_json(
            "/api/v1/volumes/db01/export",
            &json!({"initiators": [host]}).to_string(),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.text().contains("already exported"), "{}", r.text());

    let targets = c.get("/api/v1/targets").await;
    assert!(!targets.text().contains(secret), "{}", targets.text());
    let t = targets.json()[0].clone();
    let iqn = t["iqn"].as_str().unwrap().to_string();
    assert!(iqn.ends_with(".db01") && iqn.starts_with("iqn."), "{t}");
    assert_eq!(t["alias"], "db01");
    assert_eq!(t["lun"], 0);
    assert_eq!(t["serial"], serial.as_str());
    assert_eq!(t["portals"], json!(["0.0.0.0:3260"]));
    assert_eq!(t["initiators"], json!([host]));
    assert_eq!(t["chap_user"], "host1");
    assert_eq!(t["state"], "exported");

    // The simulated initiator: refused when not in the ACL or with the
    // wrong secret, let in with the right one.
    let sim = app.sim();
    let other = "iqn.1993-08.org.debian:01:intruder";
    let e = sim
        .connect(&iqn, other, "10.0.0.9", Some(("host1", secret)))
        .unwrap_err();
    assert!(e.to_string().contains("access list"), "{e}");
    let e = sim
        .connect(&iqn, host, "10.0.0.5", Some(("host1", "wrong-secret!!")))
        .unwrap_err();
    assert!(e.to_string().contains("CHAP"), "{e}");
    sim.connect(&iqn, host, "10.0.0.5", Some(("host1", secret)))
        .unwrap();
    app.observe();
    let page = c.get("/targets/db01").await.text();
    for want in [
        iqn.as_str(),
        "10.0.0.5",
        "New-IscsiTargetPortal",
        "Connect-IscsiTarget",
        "-AuthenticationType ONEWAYCHAP -ChapUsername host1",
        "iscsiadm -m discovery -t sendtargets",
        "--login",
        "iscsiadm -m session --rescan",
    ] {
        assert!(page.contains(want), "{want} not on the target page");
    }
    assert!(!page.contains(secret));
    let t = c.get("/api/v1/targets").await.json()[0].clone();
    assert_eq!(t["sessions"][0]["initiator"], host, "{t}");
    assert_eq!(t["sessions"][0]["address"], "10.0.0.5", "{t}");

    // Grow online: the session stays.
    for (body, words) in [
        (json!({"size": "1 GiB"}), "only grows"),
        (json!({"size": "2 GiB"}), "only grows"),
        (json!({"size": "lots"}), "a size"),
        (json!({"size": "900 TiB"}), "room for"),
    ] {
        let r = c
            .post_json("/api/v1/volumes/db01/resize", &body.to_string())
            .await;
        assert_eq!(r.status, 422, "{body}: {}", r.text());
        assert!(r.text().contains(words), "{body}: {}", r.text());
    }
    let r = c
        .post_json(
            "/api/v1/volumes/db01/resize",
            &json!({"size": "3 GiB"}).to_string(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    settle(&app, &runner);
    let v = c.get("/api/v1/volumes/db01").await.json();
    assert_eq!(v["size"], 3 * GIB, "{v}");
    assert_eq!(v["logical_volume"]["size_bytes"], 3 * GIB, "{v}");
    let t = c.get("/api/v1/targets").await.json()[0].clone();
    assert_eq!(t["sessions"].as_array().unwrap().len(), 1, "{t}");

    // A reconcile of a right configuration changes nothing and keeps the
    // session; one after the target was removed behind the console's back
    // puts it back, in the audit log.
    let r = c.post_json("/api/v1/reconcile", "{}").await;
    assert_eq!(r.status, 202, "{}", r.text());
    settle(&app, &runner);
    let job = job_of!(c, r);
    assert_eq!(job["state"], "succeeded", "{job}");
    assert!(job.to_string().contains("nothing was written"), "{job}");
    assert_eq!(
        c.get("/api/v1/targets").await.json()[0]["sessions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    sim.lose_target(&iqn).unwrap();
    let r = c.post_json("/api/v1/reconcile", "{}").await;
    settle(&app, &runner);
    let job = job_of!(c, r);
    assert_eq!(job["state"], "succeeded", "{job}");
    assert!(
        job.to_string().contains(&format!("target {iqn} made")),
        "{job}"
    );
    let audit = c.get("/api/v1/audit").await.text();
    assert!(audit.contains("reconcile.repair"), "{audit}");

    // Access changed on the live target: the other initiator allowed with
    // the same CHAP (its secret kept by leaving it empty), the first one
    // taken off and logged out.
    let r = c
        .request_json(
            "PUT".parse().unwrap(),
            "/api/v1/volumes/db01/export",
            &json!({"initiators": [host], "chap": {"user": "host1", "secret": "short"}})
                .to_string(),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text());
    let r = c
        .request_json(
            "PUT".parse().unwrap(),
            "/api/v1/volumes/db01/export",
            &json!({"initiators": [other], "chap": {"user": "host1", "secret": ""}}).to_string(),
        )
        .await;
    let job = job_of!(c, r);
    assert!(!job.to_string().contains(secret), "{job}");
    settle(&app, &runner);
    sim.connect(&iqn, other, "10.0.0.9", Some(("host1", secret)))
        .expect("the secret was kept");
    app.observe();
    let t = c.get("/api/v1/targets").await.json()[0].clone();
    assert_eq!(t["initiators"], json!([other]), "{t}");
    assert_eq!(t["sessions"].as_array().unwrap().len(), 1, "{t}");
    assert_eq!(t["sessions"][0]["initiator"], other, "{t}");

    // Bodies that cannot be read are refused in words too.
    for (path, body) in [
        ("/api/v1/volumes", "{"),
        ("/api/v1/volumes", r#"{"name": 7}"#),
        ("/api/v1/volumes/db01/export", r#"{"initiators": "x"}"#),
        ("/api/v1/volumes/db01/resize", r#"{"size": []}"#),
    ] {
        let r = c.post_json(path, body).await;
        assert_eq!(r.status, 400, "{path} {body}: {}", r.text());
    }

    // Snapshots of the thin volume; a thick one has none.
    let r = c
        .post_json(
            "/api/v1/volumes/db01/snapshots",
            &json!({"name": "s1"}).to_string(),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.text().contains("thick"), "{}", r.text());
    let r = c
        .post_json(
            "/api/v1/volumes/vm/snapshots",
            &json!({"name": "Bad"}).to_string(),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text());
    let r = c
        .post_json(
            "/api/v1/volumes/vm/snapshots",
            &json!({"name": "before"}).to_string(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    settle(&app, &runner);
    let snaps = c.get("/api/v1/volumes/vm/snapshots").await.json();
    assert_eq!(snaps[0]["name"], "before", "{snaps}");
    assert_eq!(snaps[0]["lifecycle"], "ready", "{snaps}");
    let r = c
        .post_json("/api/v1/volumes/vm/snapshots/before/rollback", "{}")
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    settle(&app, &runner);
    let job = job_of!(c, r);
    assert_eq!(job["state"], "succeeded", "{job}");
    let vm = c.get("/api/v1/volumes/vm").await.json();
    assert_eq!(vm["state"], "ready", "{vm}");
    let r = c
        .request_json(
            "DELETE".parse().unwrap(),
            "/api/v1/volumes/vm/snapshots/before",
            "",
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    settle(&app, &runner);
    assert_eq!(
        c.get("/api/v1/volumes/vm/snapshots").await.json(),
        json!([])
    );

    // Delete: refused while exported unless the name is typed.
    let r = c
        .request_json("DELETE".parse().unwrap(), "/api/v1/volumes/db01", "")
        .await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("is exported"), "{}", r.text());
    let r = c
        .request_json("DELETE".parse().unwrap(), "/api/v1/volumes/db01/export", "")
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    settle(&app, &runner);
    assert_eq!(c.get("/api/v1/targets").await.json(), json!([]));
    let r = c
        .request_json("DELETE".parse().unwrap(), "/api/v1/volumes/db01", "")
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let r = c
        .request_json(
            "DELETE".parse().unwrap(),
            "/api/v1/volumes/vm",
            &json!({"confirm": ""}).to_string(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    settle(&app, &runner);
    assert_eq!(c.get("/api/v1/volumes").await.json(), json!([]));
    let p = c.get("/api/v1/pools/tank").await.json();
    assert_eq!(
        p["free_bytes"], p["size_bytes"],
        "every extent is free again: {p}"
    );
}

/// A target made by hand (as with targetcli) on a logical volume of a
/// pool is listed as not Baystack's, never removed by a reconcile, and
/// adopted as a volume and its target under its existing names, with its
/// ACL and CHAP, while an initiator stays logged in.
async fn a_hand_made_target_is_adopted(backend: Backend) {
    let app = TestApp::with_settings(backend, |s| {
        s.sim.speed = 1000.0;
        s.sim.layout = vec![12];
    });
    let runner = app.runner(Duration::from_secs(30));
    app.observe();
    let mut c = app.client().await;
    c.setup_as_admin().await;
    make_tank(&app, &runner, &mut c).await;

    // By hand: an LV and a target on it, an initiator logged in.
    let engine = app.engine();
    let mut log = baystack::storage::NoLog;
    engine
        .create_volume("tank", "vol_sql", GIB, false, &mut log)
        .unwrap();
    let sim = app.sim();
    let iqn = "iqn.2003-01.org.linux-iscsi.bay01:sn.1234";
    let host = "iqn.1991-05.com.microsoft:sql1";
    let secret = "hand-made-secret";
    sim.hand_made_target("tank", "vol_sql", "sql", iqn, host, Some(("sql1", secret)))
        .unwrap();
    sim.connect(iqn, host, "10.0.0.7", Some(("sql1", secret)))
        .unwrap();
    app.observe();
    let page = c.get("/targets").await.text();
    assert!(page.contains(&format!("iSCSI target {iqn}")), "{page}");
    assert!(page.contains(&format!("Adopt {iqn}")), "{page}");

    for (body, status, words) in [
        (json!({"iqn": "nope"}), 422, "starts with"),
        (json!({"iqn": "iqn.2003-01.org.example:none"}), 202, ""),
    ] {
        let r = c
            .post_json("/api/v1/targets/adopt", &body.to_string())
            .await;
        assert_eq!(r.status, status, "{body}: {}", r.text());
        assert!(r.text().contains(words), "{body}: {}", r.text());
    }
    settle(&app, &runner);
    let jobs = c.get("/api/v1/jobs?limit=1").await.json();
    assert_eq!(jobs[0]["state"], "failed", "{jobs}");
    assert!(jobs.to_string().contains("no target"), "{jobs}");

    let r = c
        .post_json("/api/v1/targets/adopt", &json!({"iqn": iqn}).to_string())
        .await;
    let job = job_of!(c, r);
    assert!(!job.to_string().contains(secret), "{job}");
    settle(&app, &runner);
    let job = job_of!(c, r);
    assert_eq!(job["state"], "succeeded", "{job}");
    let v = c.get("/api/v1/volumes/vol_sql").await.json();
    assert_eq!(v["state"], "exported", "{v}");
    assert_eq!(v["pool"], "tank", "{v}");
    let t = c.get("/api/v1/targets").await;
    assert!(!t.text().contains(secret), "{}", t.text());
    let t = t.json()[0].clone();
    assert_eq!(t["iqn"], iqn, "{t}");
    assert_eq!(t["initiators"], json!([host]), "{t}");
    assert_eq!(t["chap_user"], "sql1", "{t}");
    assert_eq!(
        t["sessions"][0]["initiator"], host,
        "the session stayed: {t}"
    );
    let r = c
        .post_json("/api/v1/targets/adopt", &json!({"iqn": iqn}).to_string())
        .await;
    assert_eq!(r.status, 409, "{}", r.text());

    // A reconcile now writes nothing, and the secret still lets the host in.
    let r = c.post_json("/api/v1/reconcile", "{}").await;
    settle(&app, &runner);
    let job = job_of!(c, r);
    assert_eq!(job["state"], "succeeded", "{job}");
    assert!(job.to_string().contains("nothing was written"), "{job}");
    sim.connect(iqn, host, "10.0.0.7", Some(("sql1", secret)))
        .unwrap();

    // Its target stays on the logical volume, which LIO holds: access
    // changed and the volume grown live put no front device over it (the
    // kernel would answer busy), and the session stays.
    let v = c.get("/api/v1/volumes/vol_sql").await.json();
    assert_eq!(v["device"], "/dev/tank/vol_sql", "{v}");
    let page = c.get("/volumes/vol_sql").await.text();
    assert!(
        page.contains("/dev/tank/vol_sql</code> <span class=\"muted\">(an adopted target"),
        "{page}"
    );
    let other = "iqn.1991-05.com.microsoft:sql2";
    let r = c
        .request_json(
            "PUT".parse().unwrap(),
            "/api/v1/volumes/vol_sql/export",
            &json!({"initiators": [host, other], "chap": {"user": "sql1", "secret": ""}})
                .to_string(),
        )
        .await;
    settle(&app, &runner);
    let job = job_of!(c, r);
    assert_eq!(job["state"], "succeeded", "{job}");
    assert!(
        job.to_string().contains("no front device for vol_sql"),
        "{job}"
    );
    let r = c
        .post_json("/api/v1/volumes/vol_sql/resize", r#"{"size": "2 GiB"}"#)
        .await;
    settle(&app, &runner);
    let job = job_of!(c, r);
    assert_eq!(job["state"], "succeeded", "{job}");
    sim.connect(iqn, other, "10.0.0.8", Some(("sql1", secret)))
        .unwrap();
    app.observe();
    let t = c.get("/api/v1/targets").await.json()[0].clone();
    assert_eq!(t["sessions"].as_array().map(Vec::len), Some(2), "{t}");

    // A thin volume as big as its thin pool, written to 85%: the pool page
    // and the API warn of the thin pool's fullness.
    let free = c.get("/api/v1/pools/tank").await.json()["capacity"]["free_bytes"]
        .as_u64()
        .unwrap();
    let room = free / 2 / (4 << 20) * (4 << 20);
    let r = c
        .post_json(
            "/api/v1/volumes",
            &json!({"name": "big", "pool": "tank", "size": room, "thin": true}).to_string(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    settle(&app, &runner);
    let p = c.get("/api/v1/pools/tank").await.json();
    assert_eq!(p["thin_pool"]["fullness"], "fine", "{p}");
    sim.write("big", room / 100 * 85).unwrap();
    app.observe();
    let p = c.get("/api/v1/pools/tank").await.json();
    assert_eq!(p["thin_pool"]["fullness"], "warning", "{p}");
    let page = c.get("/pools/tank").await.text();
    assert!(page.contains("warning: above 80%"), "{page}");
    assert!(page.contains("/volumes/big"), "{page}");
}

both!(
    a_volume_from_create_to_delete,
    a_hand_made_target_is_adopted
);

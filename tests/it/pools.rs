//! Pools through the API and the pages: what can be picked and why not,
//! bad input refused in words with nothing changed, and the pool and its
//! create job recorded together.

use serde_json::{Value, json};

use crate::both;
use crate::support::{Backend, TestApp};

fn fast(backend: Backend) -> TestApp {
    TestApp::with_settings(backend, |s| s.sim.speed = 100.0)
}

/// The serials of the present, healthy drives in a `GET /api/v1/drives`.
fn healthy(drives: &Value) -> Vec<String> {
    drives
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["health"] == "healthy" && d["present"] == true)
        .map(|d| d["serial"].as_str().unwrap().to_string())
        .collect()
}

async fn bad_input_is_refused_in_words_and_changes_nothing(backend: Backend) {
    let app = fast(backend);
    app.observe();
    let mut c = app.client().await;
    c.setup_as_admin().await;
    let ok = healthy(&c.get("/api/v1/drives").await.json());
    assert!(ok.len() >= 6, "{ok:?}");
    let drives = c.get("/api/v1/drives").await.json();
    let failing: Vec<String> = drives
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["health"] == "failing")
        .map(|d| d["serial"].as_str().unwrap().to_string())
        .collect();
    let body = |over: Value| {
        let mut b = json!({"name": "tank", "level": "raid6", "drives": ok[..4],
                           "spares": [], "write_hole": "none"});
        for (k, v) in over.as_object().unwrap() {
            b[k] = v.clone();
        }
        b.to_string()
    };
    let mut cases = vec![
        (json!({"name": ""}), "name", "needs a name"),
        (json!({"name": "Tank"}), "name", "lowercase letters"),
        (json!({"name": "tank-journal"}), "name", "mirrored journal"),
        (json!({"name": "../etc"}), "name", "lowercase letters"),
        (
            json!({"level": "raid0"}),
            "level",
            "raid1, raid5, raid6 or raid10",
        ),
        (
            json!({"level": "6"}),
            "level",
            "raid1, raid5, raid6 or raid10",
        ),
        (
            json!({"drives": ok[..3]}),
            "drives",
            "at least 4 drives; 3 given",
        ),
        (
            json!({"level": "raid10", "drives": ok[..5]}),
            "drives",
            "even number",
        ),
        (
            json!({"drives": [ok[0], ok[1], ok[2], "NOPE"]}),
            "drives",
            "no drive with the serial \"NOPE\"",
        ),
        (
            json!({"drives": [ok[0], ok[0], ok[1], ok[2]]}),
            "drives",
            "named twice",
        ),
        (json!({"spares": [ok[0]]}), "spares", "named twice"),
        (
            json!({"write_hole": "journal"}),
            "journal_drive",
            "needs a device of its own",
        ),
        (
            json!({"write_hole": "journal", "journal_drive": ok[0]}),
            "journal_drive",
            "named twice",
        ),
        (json!({"write_hole": "ppl"}), "write_hole", "raid5 only"),
        (
            json!({"level": "raid1", "drives": ok[..2], "write_hole": "journal"}),
            "write_hole",
            "no write hole",
        ),
        (
            json!({"write_hole": "bitmap"}),
            "write_hole",
            "journal, ppl or none",
        ),
        (
            json!({"journal_drive": ok[5]}),
            "journal_drive",
            "not journal",
        ),
        (json!({"chunk_kib": 100}), "chunk_kib", "power of two"),
        (json!({"chunk_kib": 2}), "chunk_kib", "power of two"),
        (json!({"wipe": [ok[5]]}), "wipe", "not a drive of this pool"),
    ];
    if let Some(f) = failing.first() {
        cases.push((
            json!({"drives": [ok[0], ok[1], ok[2], f]}),
            "drives",
            "SMART verdict is failing",
        ));
    }
    for (over, field, says) in cases {
        let sent = body(over);
        let r = c.post_json("/api/v1/pools", &sent).await;
        assert_eq!(r.status, 422, "{sent}: {}", r.text());
        let e = r.json();
        assert_eq!(e["field"], field, "{sent}: {e}");
        assert!(e["detail"].as_str().unwrap().contains(says), "{sent}: {e}");
    }
    // Not JSON at all, and the wrong type: refused, in words.
    let r = c.post_json("/api/v1/pools", "{").await;
    assert_eq!(r.status, 400, "{}", r.text());
    let r = c.post_json("/api/v1/pools", r#"{"name": 7}"#).await;
    assert_eq!(r.status, 400, "{}", r.text());
    // A scrub of no pool, or with a repair that is not a yes or no.
    let r = c.post_json("/api/v1/pools/nothing/scrub", "{}").await;
    assert_eq!(r.status, 404, "{}", r.text());
    let r = c
        .post_json("/api/v1/pools/nothing/scrub", r#"{"repair": "yes"}"#)
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    // Nothing was recorded and no job enqueued.
    assert_eq!(c.get("/api/v1/pools").await.json(), json!([]));
    assert_eq!(c.get("/api/v1/jobs").await.json(), json!([]));

    // The form says the same on the page.
    let r = c
        .post_form("/pools", &[("name", "Tank"), ("level", "raid6")])
        .await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("lowercase letters"), "{}", r.text());
    let r = c
        .post_form(
            "/pools",
            &[
                ("name", "tank"),
                ("level", "raid1"),
                ("write_hole", "none"),
                (&format!("role.{}", ok[0]), "member"),
                (&format!("role.{}", ok[1]), "boss"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(
        r.text().contains("a member, a spare or a journal"),
        "{}",
        r.text()
    );
    assert_eq!(c.get("/api/v1/pools").await.json(), json!([]));
}

/// A good request records the pool with its drives and its create job in
/// one go; the name and the drives are then taken.
async fn a_pool_is_recorded_with_its_create_job(backend: Backend) {
    let app = fast(backend);
    app.observe();
    let mut c = app.client().await;
    c.setup_as_admin().await;
    let ok = healthy(&c.get("/api/v1/drives").await.json());
    let sent = json!({"name": "tank", "level": "raid6", "drives": ok[..4],
                      "spares": [ok[4]], "write_hole": "journal",
                      "journal_drive": ok[5]});
    let r = c.post_json("/api/v1/pools", &sent.to_string()).await;
    assert_eq!(r.status, 202, "{}", r.text());
    let job_id = r.json()["job_id"].as_i64().unwrap();
    let job = c.get(&format!("/api/v1/jobs/{job_id}")).await.json();
    assert_eq!(job["kind"], "pool.create");
    let resources = job["resources"].as_array().unwrap();
    assert!(resources.contains(&json!("pool:tank")), "{job}");
    assert_eq!(resources.len(), 7, "the pool and its six drives: {job}");
    assert!(
        job["summary"]
            .as_str()
            .unwrap()
            .contains("raid6 of 4 drives, 1 spare(s), a write journal"),
        "{job}"
    );
    let pool = c.get("/api/v1/pools/tank").await.json();
    assert_eq!(pool["level"], "raid6");
    assert_eq!(pool["state"], "creating");
    assert_eq!(pool["write_hole"], "journal");
    assert_eq!(pool["degraded"], false);
    assert_eq!(
        pool["members"].as_array().unwrap().len(),
        5,
        "four and the journal: {pool}"
    );
    assert_eq!(pool["spares"][0]["serial"], ok[4]);
    assert!(
        pool["members"][0]["bay"].as_str().unwrap().contains("slot"),
        "{pool}"
    );

    // Taken now: the name, and each drive.
    let again = json!({"name": "tank", "level": "raid1", "drives": ok[6..8], "write_hole": "none"});
    let r = c.post_json("/api/v1/pools", &again.to_string()).await;
    assert_eq!(
        (r.status.as_u16(), r.json()["field"].clone()),
        (422, json!("name")),
        "{}",
        r.text()
    );
    let other =
        json!({"name": "other", "level": "raid1", "drives": [ok[0], ok[6]], "write_hole": "none"});
    let r = c.post_json("/api/v1/pools", &other.to_string()).await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(
        r.text().contains("is in pool tank (member)"),
        "{}",
        r.text()
    );

    // The pages: the list, the pool, and the create page saying why a
    // drive of tank cannot be picked again; the drive's page names its pool.
    assert!(c.get("/pools").await.text().contains("/pools/tank"));
    let page = c.get("/pools/tank").await.text();
    assert!(page.contains("closed by a write journal"), "{page}");
    let new = c.get("/pools/new").await.text();
    assert!(
        new.contains("cannot be picked: it is in pool tank (member)"),
        "{new}"
    );
    assert!(new.contains(&format!("name=\"role.{}\"", ok[7])), "{new}");
    let drives = c.get("/api/v1/drives").await.json();
    let id = drives
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["serial"] == ok[4])
        .unwrap()["id"]
        .clone();
    let page = c.get(&format!("/drives/{id}")).await.text();
    assert!(page.contains("spare of tank"), "{page}");
    let map = c.get("/bays").await.text();
    assert!(map.contains("spare of tank"), "{map}");
    assert!(map.contains("pool tank, member"), "{map}");
    assert!(map.contains(">free<"), "{map}");
    assert_eq!(c.get("/pools/nothing").await.status, 404);
    assert_eq!(c.get("/api/v1/pools/nothing").await.status, 404);
}

/// On the simulator: a raid6 pool with a mirrored journal, a spare and a
/// drive whose old data the admin allowed to be erased is built by its
/// job, resyncs with progress, and is clean once the resync is done.
async fn a_pool_is_built_and_resyncs_to_clean(backend: Backend) {
    let app = fast(backend);
    app.observe();
    let mut c = app.client().await;
    c.setup_as_admin().await;
    let drives = c.get("/api/v1/drives").await.json();
    let ok = healthy(&drives);
    // The simulator's old data: a drive with an md superblock from another
    // machine, offered only once its serial is typed.
    let new = c.get("/pools/new").await.text();
    assert!(new.contains("It holds old data"), "{new}");
    let old = drives
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["dev_name"] == "sdj")
        .unwrap()["serial"]
        .as_str()
        .unwrap()
        .to_string();
    // Three members of the smallest large size with the old drive; a spare
    // at least as big; the two smallest drives as the journal's mirror.
    let size_of = |serial: &str| {
        drives
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["serial"] == serial)
            .unwrap()["size_bytes"]
            .as_u64()
            .unwrap()
    };
    let blank: Vec<&String> = ok
        .iter()
        .filter(|s| **s != old && !new.contains(&format!("wipe.{s}")))
        .collect();
    let mut by_size = blank.clone();
    by_size.sort_by_key(|s| size_of(s));
    let rest = [by_size[0], by_size[1]];
    let big: Vec<&String> = by_size[2..].to_vec();
    let members = &big[..3];
    let spare = big
        .iter()
        .skip(3)
        .find(|s| size_of(s) >= size_of(members[0]))
        .expect("a spare as big as the members");
    let smaller = Some(rest[0]).filter(|s| size_of(s) < size_of(members[0]));
    let mut body = json!({"name": "tank", "level": "raid6",
        "drives": [members[0], members[1], members[2], old],
        "spares": [spare], "write_hole": "journal",
        "journal_drives": [rest[0], rest[1]]});
    if let Some(small) = smaller {
        let mut b = body.clone();
        b["spares"] = json!([small]);
        b["journal_drives"] = json!([rest[1], spare]);
        b["wipe"] = json!([old]);
        let r = c.post_json("/api/v1/pools", &b.to_string()).await;
        assert_eq!(r.status, 422, "{}", r.text());
        assert!(
            r.text().contains("smaller than the smallest member"),
            "{}",
            r.text()
        );
    }
    let r = c.post_json("/api/v1/pools", &body.to_string()).await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(
        r.text().contains("type its serial to have it erased"),
        "{}",
        r.text()
    );
    body["wipe"] = json!([old]);
    let r = c.post_json("/api/v1/pools", &body.to_string()).await;
    assert_eq!(r.status, 202, "{}", r.text());
    let job = r.json()["job_id"].as_i64().unwrap();
    assert!(
        app.runner(std::time::Duration::from_secs(30))
            .run_one()
            .unwrap()
    );
    let job = c.get(&format!("/api/v1/jobs/{job}")).await.json();
    assert_eq!(job["state"], "succeeded", "{job}");
    let steps: Vec<&str> = job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(steps.len(), 7, "{steps:?}");
    assert!(
        steps[1].starts_with("Erase the old signatures on"),
        "{steps:?}"
    );

    app.observe();
    let pool = c.get("/api/v1/pools/tank").await.json();
    assert_eq!(pool["state"], "resyncing", "{pool}");
    assert_eq!(pool["degraded"], false, "{pool}");
    let pct = pool["progress"]["percent"].as_f64().unwrap();
    assert!((0.0..100.0).contains(&pct), "{pool}");
    assert!(
        pool["progress"]["seconds_left"].as_u64().is_some(),
        "{pool}"
    );
    assert!(pool["uuid"].as_str().unwrap().len() == 35, "{pool}");
    assert!(
        pool["capacity"]["size_bytes"].as_u64().unwrap() > 0,
        "{pool}"
    );
    assert_eq!(pool["capacity"]["allocated_bytes"], 0, "{pool}");
    assert_eq!(pool["members"].as_array().unwrap().len(), 6, "{pool}");

    // Hours later the resync is done.
    app.clock.advance(std::time::Duration::from_secs(24 * 3600));
    app.observe();
    let pool = c.get("/api/v1/pools/tank").await.json();
    assert_eq!(pool["state"], "clean", "{pool}");
    assert_eq!(pool["progress"], Value::Null, "{pool}");
    let roles: Vec<&str> = pool["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles.iter().filter(|r| **r == "active").count(),
        4,
        "{pool}"
    );
    assert_eq!(pool["spares"][0]["role"], "spare", "{pool}");
    let page = c.get("/pools/tank").await.text();
    assert!(page.contains("pool-clean"), "{page}");

    // A scrub: a check runs in the background, the agent follows it and
    // keeps what it found; a repair is then offered and rewrites them.
    let sim = app.sim();
    sim.plant_mismatches("tank", 3).unwrap();
    let r = c.post_json("/api/v1/pools/tank/scrub", "{}").await;
    assert_eq!(r.status, 202, "{}", r.text());
    let job = r.json()["job_id"].as_i64().unwrap();
    let runner = app.runner(std::time::Duration::from_secs(30));
    assert!(runner.run_one().unwrap());
    let job = c.get(&format!("/api/v1/jobs/{job}")).await.json();
    assert_eq!(job["state"], "succeeded", "{job}");
    app.clock.advance(std::time::Duration::from_secs(1));
    app.observe();
    let pool = c.get("/api/v1/pools/tank").await.json();
    assert_eq!(pool["state"], "checking", "{pool}");
    assert_eq!(pool["last_scrub"]["finished_at"], Value::Null, "{pool}");
    // While it checks, another scrub is refused, in words.
    let r = c
        .post_json("/api/v1/pools/tank/scrub", r#"{"repair": true}"#)
        .await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(
        r.text()
            .contains("pool tank is checking; a scrub waits until it is clean"),
        "{}",
        r.text()
    );
    app.clock.advance(std::time::Duration::from_secs(24 * 3600));
    app.observe();
    let pool = c.get("/api/v1/pools/tank").await.json();
    assert_eq!(pool["state"], "clean", "{pool}");
    assert_eq!(
        pool["last_scrub"]["mismatches"], 24,
        "3 blocks of 8 sectors: {pool}"
    );
    assert_eq!(
        pool["last_scrub"]["result"], "24 mismatched sectors found",
        "{pool}"
    );
    let page = c.get("/pools/tank").await.text();
    assert!(page.contains("Repair the mismatches"), "{page}");
    let r = c
        .post_form("/pools/tank/scrub", &[("repair", "true")])
        .await;
    assert_eq!(r.status, 303, "{}", r.text());
    assert!(runner.run_one().unwrap());
    app.clock.advance(std::time::Duration::from_secs(1));
    app.observe();
    app.clock.advance(std::time::Duration::from_secs(24 * 3600));
    app.observe();
    let pool = c.get("/api/v1/pools/tank").await.json();
    assert_eq!(pool["last_scrub"]["repair"], true, "{pool}");
    assert_eq!(
        pool["last_scrub"]["result"], "24 mismatched sectors rewritten",
        "{pool}"
    );

    // Scheduled: none due a day after the last; one once the period is over.
    assert_eq!(baystack::agent::schedule_scrubs(app.db()).unwrap(), 0);
    {
        use baystack::db::schema::scrubs;
        use diesel::prelude::*;
        let long_ago = baystack::db::now() - chrono::Duration::days(31);
        let mut conn = app.db().get().unwrap();
        baystack::db_run!(&mut conn.conn(), c => diesel::update(scrubs::table)
            .set(scrubs::started_at.eq(long_ago))
            .execute(c))
        .unwrap();
    }
    assert_eq!(baystack::agent::schedule_scrubs(app.db()).unwrap(), 1);
    assert_eq!(
        baystack::agent::schedule_scrubs(app.db()).unwrap(),
        0,
        "its job is open"
    );
}

both!(
    a_pool_is_built_and_resyncs_to_clean,
    bad_input_is_refused_in_words_and_changes_nothing,
    a_pool_is_recorded_with_its_create_job,
);

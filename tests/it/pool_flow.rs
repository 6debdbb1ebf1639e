//! The life of a pool's drives on `sim`, through HTTP: a member fails, its
//! bay lights, it is taken out, a new drive goes into the same bay and is
//! rebuilt onto, the LED goes dark when the pool is clean; a replacement
//! that keeps redundancy; a hot spare md takes by itself; a second failure
//! during a rebuild (raid5 fails, raid6 stays degraded); growth; delete.

use std::time::Duration;

use baystack::storage::sim::SimAction;
use serde_json::{Value, json};

use crate::both;
use crate::support::{Backend, TestApp};

const DAY: Duration = Duration::from_secs(24 * 3600);

struct Rig {
    app: TestApp,
    runner: std::sync::Arc<baystack::jobs::runner::Runner>,
}

impl Rig {
    fn new(backend: Backend) -> Rig {
        let app = TestApp::with_settings(backend, |s| {
            s.sim.speed = 100.0;
            s.sim.layout = vec![24];
        });
        let runner = app.runner(Duration::from_secs(30));
        Rig { app, runner }
    }

    /// Runs every queued job; each must succeed. Then looks, as the agent
    /// does after a job, and lets the agent change the lights.
    fn settle(&self) {
        while self.runner.run_one().unwrap() {}
        self.app.observe();
        baystack::lights::follow(self.app.db(), Duration::from_secs(3600)).unwrap();
        while self.runner.run_one().unwrap() {}
        self.app.observe();
    }

    /// Runs every queued job while the simulator's clock runs on beside
    /// it (a job that waits for md needs md to move), then looks.
    fn settle_with_clock(&self) {
        let runner = self.runner.clone();
        let worker = std::thread::spawn(move || while runner.run_one().unwrap() {});
        while !worker.is_finished() {
            self.app.clock.advance(Duration::from_secs(1));
            std::thread::sleep(Duration::from_millis(20));
        }
        worker.join().unwrap();
        self.app.observe();
    }

    fn later(&self, by: Duration) {
        self.app.clock.advance(by);
        self.settle();
    }
}

/// Healthy drives with nothing on them, smallest first, from the create
/// page and the drive list.
fn blank(new_page: &str, drives: &Value) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = drives
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["health"] == "healthy" && d["present"] == true)
        .map(|d| {
            (
                d["serial"].as_str().unwrap().to_string(),
                d["size_bytes"].as_u64().unwrap(),
            )
        })
        .filter(|(s, _)| {
            !new_page.contains(&format!("wipe.{s}")) && new_page.contains(&format!("role.{s}"))
        })
        .collect();
    out.sort_by_key(|(s, size)| (*size, s.clone()));
    out
}

macro_rules! blank {
    ($c:expr) => {{
        let page = $c.get("/pools/new").await.text();
        let drives = $c.get("/api/v1/drives").await.json();
        blank(&page, &drives)
    }};
}

fn bay_of(drives: &Value, serial: &str) -> (String, u32) {
    let d = drives
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["serial"] == serial)
        .unwrap_or_else(|| panic!("no drive {serial}"));
    (
        d["bay"]["enclosure"].as_str().unwrap().to_string(),
        d["bay"]["slot"].as_u64().unwrap() as u32,
    )
}

fn bay(bays: &Value, (encl, slot): &(String, u32)) -> Value {
    bays.as_array()
        .unwrap()
        .iter()
        .find(|b| b["enclosure"] == encl.as_str() && b["slot"] == *slot)
        .unwrap()
        .clone()
}

fn roles(pool: &Value) -> Vec<(String, String)> {
    pool["members"]
        .as_array()
        .unwrap()
        .iter()
        .chain(pool["spares"].as_array().unwrap())
        .map(|m| {
            (
                m["serial"].as_str().unwrap().to_string(),
                m["role"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn a_failed_drive_is_replaced_in_its_bay(backend: Backend) {
    let rig = Rig::new(backend);
    let (app, sim) = (&rig.app, rig.app.sim());
    app.observe();
    let mut c = app.client().await;
    c.setup_as_admin().await;
    let free = blank!(c);
    assert!(free.len() >= 9, "{free:?}");
    let s = |i: usize| free[i].0.clone();
    let r = c
        .post_json(
            "/api/v1/pools",
            &json!({"name": "r5", "level": "raid5", "drives": [s(0), s(1), s(2)],
                    "write_hole": "ppl"})
            .to_string(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let r = c
        .post_json(
            "/api/v1/pools",
            &json!({"name": "r6", "level": "raid6", "drives": [s(3), s(4), s(5), s(6)],
                    "write_hole": "none"})
            .to_string(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    rig.settle();
    rig.later(DAY);
    for name in ["r5", "r6"] {
        let p = c.get(&format!("/api/v1/pools/{name}")).await.json();
        assert_eq!(p["state"], "clean", "{p}");
    }

    // A member fails: the pool is degraded, the page says which bay, and
    // the bay's fault LED is lit.
    let drives = c.get("/api/v1/drives").await.json();
    let failed = s(3);
    let its_bay = bay_of(&drives, &failed);
    sim.act(&its_bay.0, its_bay.1, SimAction::FailMember)
        .unwrap();
    rig.settle();
    let p = c.get("/api/v1/pools/r6").await.json();
    assert_eq!(p["state"], "degraded", "{p}");
    assert_eq!(p["degraded"], true, "{p}");
    assert!(
        roles(&p).contains(&(failed.clone(), "faulty".into())),
        "{p}"
    );
    let page = c.get("/pools/r6").await.text();
    assert!(page.contains("Drives to replace"), "{page}");
    assert!(page.contains("md marked it faulty"), "{page}");
    let bays = c.get("/api/v1/bays").await.json();
    assert_eq!(
        bay(&bays, &its_bay)["fault"],
        true,
        "the failed drive's bay is lit"
    );

    // Refused in words, changing nothing: a healthy member with nothing to
    // replace it with, a drive of another pool, a spare-less raid6 member
    // replaced while degraded.
    for (body, status, words) in [
        (json!({"drive": s(4)}), 422, "healthy, active member"),
        (json!({"drive": s(0)}), 422, "pool r6 has no drive"),
        (
            json!({"drive": failed, "with": s(0)}),
            422,
            "it is in pool r5",
        ),
        (json!({"drive": s(4), "with": s(7)}), 409, "is degraded"),
        (json!({"drive": ""}), 422, "name the drive"),
    ] {
        let r = c
            .post_json("/api/v1/pools/r6/replace", &body.to_string())
            .await;
        assert_eq!(r.status, status, "{body}: {}", r.text());
        assert!(r.text().contains(words), "{body}: {}", r.text());
    }

    // Taken out; the bay stays lit.
    let r = c
        .post_json(
            "/api/v1/pools/r6/replace",
            &json!({"drive": failed}).to_string(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let job = r.json()["job_id"].as_i64().unwrap();
    rig.settle();
    let j = c.get(&format!("/api/v1/jobs/{job}")).await.json();
    assert_eq!(j["state"], "succeeded", "{j}");
    let p = c.get("/api/v1/pools/r6").await.json();
    assert!(!roles(&p).iter().any(|(s, _)| *s == failed), "{p}");
    let page = c.get("/pools/r6").await.text();
    assert!(page.contains("was taken out"), "{page}");
    assert!(page.contains("Pull it from its bay"), "{page}");
    assert_eq!(
        bay(&c.get("/api/v1/bays").await.json(), &its_bay)["fault"],
        true
    );

    // A new drive in the same bay is offered, and rebuilt onto.
    sim.act(&its_bay.0, its_bay.1, SimAction::ReplaceDrive)
        .unwrap();
    rig.settle();
    let bays = c.get("/api/v1/bays").await.json();
    let newcomer = bay(&bays, &its_bay)["drive"]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(newcomer, failed);
    assert_eq!(
        bay(&bays, &its_bay)["fault"],
        true,
        "lit until the pool is clean"
    );
    let page = c.get("/pools/r6").await.text();
    assert!(
        page.contains(&format!("Rebuild onto drive {newcomer}")),
        "{page}"
    );
    let r = c
        .post_form(
            "/pools/r6/replace",
            &[("drive", &failed), ("with", &newcomer)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text());
    rig.settle();
    app.clock.advance(Duration::from_secs(1));
    app.observe();
    let p = c.get("/api/v1/pools/r6").await.json();
    assert_eq!(p["state"], "recovering", "{p}");
    assert!(p["progress"]["seconds_left"].as_u64().is_some(), "{p}");
    assert_eq!(
        bay(&c.get("/api/v1/bays").await.json(), &its_bay)["fault"],
        true
    );
    rig.later(DAY);
    let p = c.get("/api/v1/pools/r6").await.json();
    assert_eq!(p["state"], "clean", "{p}");
    assert!(
        roles(&p).contains(&(newcomer.clone(), "active".into())),
        "{p}"
    );
    rig.settle();
    assert_eq!(
        bay(&c.get("/api/v1/bays").await.json(), &its_bay)["fault"],
        false,
        "dark once the pool is clean"
    );
    assert!(
        !c.get("/pools/r6")
            .await
            .text()
            .contains("Drives to replace")
    );

    // Replaced in place, keeping redundancy: the old drive stays in until
    // the new one holds its place, then md marks it faulty and it is taken
    // out.
    let (old, new) = (s(4), s(7));
    let r = c
        .post_json(
            "/api/v1/pools/r6/replace",
            &json!({"drive": old, "with": new}).to_string(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    rig.settle();
    app.clock.advance(Duration::from_secs(1));
    app.observe();
    let p = c.get("/api/v1/pools/r6").await.json();
    assert_eq!(p["degraded"], false, "{p}");
    assert!(
        roles(&p).contains(&(new.clone(), "replacement".into())),
        "{p}"
    );
    rig.later(DAY);
    let p = c.get("/api/v1/pools/r6").await.json();
    assert!(roles(&p).contains(&(old.clone(), "faulty".into())), "{p}");
    assert!(roles(&p).contains(&(new.clone(), "active".into())), "{p}");
    let r = c
        .post_json(
            "/api/v1/pools/r6/replace",
            &json!({"drive": old}).to_string(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    rig.settle();
    let p = c.get("/api/v1/pools/r6").await.json();
    assert_eq!(p["state"], "clean", "{p}");
    assert!(!roles(&p).iter().any(|(s, _)| *s == old), "{p}");

    // The drive taken out is re-qualified: zeroes end to end and a long
    // self-test, as one job; it passes. A drive never taken out, or in a
    // pool, is not.
    let id_of = |serial: &str, drives: &Value| {
        drives
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["serial"] == serial)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let drives = c.get("/api/v1/drives").await.json();
    for (serial, words) in [(s(5), "is in pool r6"), (s(8), "never taken out of a pool")] {
        let r = c
            .post_json(
                &format!("/api/v1/drives/{}/requalify", id_of(&serial, &drives)),
                "{}",
            )
            .await;
        assert_eq!(r.status, 409, "{}", r.text());
        assert!(r.text().contains(words), "{}", r.text());
    }
    let old_id = id_of(&old, &drives);
    let r = c
        .post_json(&format!("/api/v1/drives/{old_id}/requalify"), "{}")
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let job = r.json()["job_id"].as_i64().unwrap();
    rig.settle_with_clock();
    let j = c.get(&format!("/api/v1/jobs/{job}")).await.json();
    assert_eq!(j["state"], "succeeded", "{j}");
    assert!(
        j["steps"][1]["detail"]
            .as_str()
            .unwrap()
            .starts_with("passed: zeroed end to end"),
        "{j}"
    );
    let page = c.get(&format!("/drives/{old_id}")).await.text();
    assert!(page.contains("Taken out of pool r6"), "{page}");
    assert!(page.contains("it can be a spare"), "{page}");

    // A hot spare: md rebuilds onto it by itself when a member fails.
    let spare = s(8);
    let r = c
        .post_json(
            "/api/v1/pools/r6/spares",
            &json!({"drive": spare}).to_string(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    rig.settle();
    let p = c.get("/api/v1/pools/r6").await.json();
    assert_eq!(p["spares"][0]["serial"], spare.as_str(), "{p}");
    let drives = c.get("/api/v1/drives").await.json();
    let second = bay_of(&drives, &s(5));
    sim.act(&second.0, second.1, SimAction::FailMember).unwrap();
    rig.settle();
    app.clock.advance(Duration::from_secs(1));
    app.observe();
    let p = c.get("/api/v1/pools/r6").await.json();
    assert_eq!(p["state"], "recovering", "{p}");
    assert!(
        p["spares"].as_array().unwrap().is_empty(),
        "the spare is a member now: {p}"
    );

    // A second failure during that rebuild: raid6 stays degraded.
    let third = bay_of(&drives, &s(6));
    sim.act(&third.0, third.1, SimAction::FailMember).unwrap();
    rig.settle();
    let p = c.get("/api/v1/pools/r6").await.json();
    assert_ne!(p["state"], "failed", "{p}");
    assert_eq!(p["degraded"], true, "{p}");
    rig.later(DAY);
    let p = c.get("/api/v1/pools/r6").await.json();
    assert_eq!(p["state"], "degraded", "{p}");
    let page = c.get("/pools/r6").await.text();
    assert!(page.contains("pool-degraded"), "{page}");

    // raid5: one member out and rebuilding, another fails: the pool fails.
    let first = bay_of(&drives, &s(0));
    sim.act(&first.0, first.1, SimAction::FailMember).unwrap();
    rig.settle();
    let r = c
        .post_json(
            "/api/v1/pools/r5/replace",
            &json!({"drive": s(0)}).to_string(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    rig.settle();
    sim.act(&first.0, first.1, SimAction::ReplaceDrive).unwrap();
    rig.settle();
    let newcomer = bay(&c.get("/api/v1/bays").await.json(), &first)["drive"]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    let r = c
        .post_json(
            "/api/v1/pools/r5/replace",
            &json!({"drive": s(0), "with": newcomer}).to_string(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    rig.settle();
    app.clock.advance(Duration::from_secs(1));
    app.observe();
    assert_eq!(
        c.get("/api/v1/pools/r5").await.json()["state"],
        "recovering"
    );
    let other = bay_of(&drives, &s(1));
    sim.act(&other.0, other.1, SimAction::FailMember).unwrap();
    rig.settle();
    let p = c.get("/api/v1/pools/r5").await.json();
    assert_eq!(p["state"], "failed", "{p}");
    let page = c.get("/pools/r5").await.text();
    assert!(page.contains("pool-failed"), "{page}");
}

async fn spares_growth_and_delete(backend: Backend) {
    let rig = Rig::new(backend);
    let app = &rig.app;
    app.observe();
    let mut c = app.client().await;
    c.setup_as_admin().await;
    let free = blank!(c);
    let s = |i: usize| free[i].0.clone();
    let r = c
        .post_json(
            "/api/v1/pools",
            &json!({"name": "tank", "level": "raid5", "drives": [s(0), s(1), s(2)],
                    "write_hole": "none"})
            .to_string(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    rig.settle();
    rig.later(DAY);

    // Bad input for each body, in words, changing nothing.
    let jobs_now = |j: Value| j.as_array().map_or(0, Vec::len);
    let before = jobs_now(c.get("/api/v1/jobs").await.json());
    for (method, path, body, status, words) in [
        (
            "POST",
            "/api/v1/pools/tank/spares",
            json!({}),
            422,
            "name a drive",
        ),
        (
            "POST",
            "/api/v1/pools/tank/spares",
            json!({"drive": "NOPE"}),
            422,
            "no drive with the serial",
        ),
        (
            "POST",
            "/api/v1/pools/tank/spares",
            json!({"drive": s(1)}),
            422,
            "it is in pool tank",
        ),
        (
            "POST",
            "/api/v1/pools/nope/spares",
            json!({"drive": s(3)}),
            404,
            "no pool named",
        ),
        (
            "POST",
            "/api/v1/pools/tank/grow",
            json!({"drives": []}),
            422,
            "at least one drive",
        ),
        (
            "POST",
            "/api/v1/pools/tank/grow",
            json!({"drives": [s(3), s(3)]}),
            422,
            "named twice",
        ),
        (
            "DELETE",
            "/api/v1/pools/tank",
            json!({"confirm": "tan"}),
            422,
            "type the pool's name",
        ),
        (
            "DELETE",
            "/api/v1/pools/tank/spares/NOPE",
            json!({}),
            404,
            "has no drive",
        ),
    ] {
        let r = c
            .request_json(method.parse().unwrap(), path, &body.to_string())
            .await;
        assert_eq!(r.status, status, "{method} {path} {body}: {}", r.text());
        assert!(
            r.text().contains(words),
            "{method} {path} {body}: {}",
            r.text()
        );
    }
    // The page's forms say the same on the page.
    let r = c.post_form("/pools/tank/grow", &[]).await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("at least one drive"), "{}", r.text());
    let r = c
        .post_form("/pools/tank/delete", &[("confirm", "TANK")])
        .await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(
        r.text().contains("type the pool&#39;s name, tank"),
        "{}",
        r.text()
    );
    assert_eq!(
        jobs_now(c.get("/api/v1/jobs").await.json()),
        before,
        "nothing enqueued"
    );

    // A spare in and out again.
    let r = c
        .post_json(
            "/api/v1/pools/tank/spares",
            &json!({"drive": s(3)}).to_string(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    rig.settle();
    let p = c.get("/api/v1/pools/tank").await.json();
    assert_eq!(p["spares"][0]["role"], "spare", "{p}");
    let r = c
        .request_json(
            "DELETE".parse().unwrap(),
            &format!("/api/v1/pools/tank/spares/{}", s(3)),
            "{}",
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    rig.settle();
    let p = c.get("/api/v1/pools/tank").await.json();
    assert!(p["spares"].as_array().unwrap().is_empty(), "{p}");
    assert!(blank!(c).iter().any(|(x, _)| *x == s(3)), "free again");
    assert_eq!(jobs_now(c.get("/api/v1/jobs").await.json()), before + 2);

    // Grow by one drive: md reshapes, then the agent grows the volume group.
    let size_before = c.get("/api/v1/pools/tank").await.json()["capacity"]["size_bytes"]
        .as_u64()
        .unwrap();
    let r = c
        .post_json(
            "/api/v1/pools/tank/grow",
            &json!({"drives": [s(4)]}).to_string(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    rig.settle();
    app.clock.advance(Duration::from_secs(1));
    app.observe();
    assert_eq!(
        c.get("/api/v1/pools/tank").await.json()["state"],
        "reshaping"
    );
    rig.later(DAY);
    assert_eq!(baystack::agent::grow_volume_groups(app.db()).unwrap(), 1);
    rig.settle();
    let p = c.get("/api/v1/pools/tank").await.json();
    assert_eq!(p["state"], "clean", "{p}");
    assert_eq!(p["members"].as_array().unwrap().len(), 4, "{p}");
    let size_after = p["capacity"]["size_bytes"].as_u64().unwrap();
    assert!(
        size_after > size_before + size_before / 3,
        "{size_before} -> {size_after}"
    );
    assert_eq!(baystack::agent::grow_volume_groups(app.db()).unwrap(), 0);

    // Delete, confirmed by the name: the drives are free again.
    let r = c
        .request_json(
            "DELETE".parse().unwrap(),
            "/api/v1/pools/tank",
            r#"{"confirm":"tank"}"#,
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    rig.settle();
    assert_eq!(c.get("/api/v1/pools/tank").await.status, 404);
    let again = blank!(c);
    for i in 0..5 {
        assert!(
            again.iter().any(|(x, _)| *x == s(i)),
            "{} free: {again:?}",
            s(i)
        );
    }
}

async fn a_bad_sector_is_rewritten_from_redundancy(backend: Backend) {
    let rig = Rig::new(backend);
    let (app, sim) = (&rig.app, rig.app.sim());
    app.observe();
    let mut c = app.client().await;
    c.setup_as_admin().await;
    let free = blank!(c);
    let s = |i: usize| free[i].0.clone();
    let r = c
        .post_json(
            "/api/v1/pools",
            &json!({"name": "tank", "level": "raid5", "drives": [s(0), s(1), s(2)],
                    "write_hole": "none"})
            .to_string(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    rig.settle();
    rig.later(DAY);
    assert_eq!(
        baystack::agent::heal_sectors(app.db()).unwrap(),
        0,
        "nothing to heal"
    );

    // A member's sector cannot be read; its next self-test names it.
    let drives = c.get("/api/v1/drives").await.json();
    let victim = drives
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["serial"] == s(1).as_str())
        .unwrap()
        .clone();
    let id = victim["id"].as_i64().unwrap();
    let at = bay_of(&drives, &s(1));
    let lba = 2048 + 5000;
    sim.act(&at.0, at.1, SimAction::BadSector { lba }).unwrap();
    let r = c
        .post_json(
            &format!("/api/v1/drives/{id}/selftest"),
            r#"{"kind":"short"}"#,
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    rig.settle();
    app.clock.advance(Duration::from_secs(3600));
    let r = c
        .post_json(&format!("/api/v1/drives/{id}/smart"), "{}")
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    rig.settle();
    let d = c.get(&format!("/api/v1/drives/{id}")).await.json();
    assert_eq!(d["smart"]["self_tests"][0]["lba"], lba, "{}", d["smart"]);

    // The agent repairs just that sector's stripes; md rewrites it from
    // the other members, and it reads again. Once only.
    assert_eq!(baystack::agent::heal_sectors(app.db()).unwrap(), 1);
    assert_eq!(
        baystack::agent::heal_sectors(app.db()).unwrap(),
        0,
        "its job is open"
    );
    rig.settle_with_clock();
    let d = c.get(&format!("/api/v1/drives/{id}")).await.json();
    assert_eq!(d["heals"][0]["lba"], lba, "{d}");
    assert_eq!(d["heals"][0]["healed"], true, "{d}");
    assert_eq!(d["heals"][0]["source"], "self-test", "{d}");
    let job = c
        .get(&format!("/api/v1/jobs/{}", d["heals"][0]["job_id"]))
        .await
        .json();
    assert_eq!(job["state"], "succeeded", "{job}");
    assert!(
        job["steps"][1]["detail"]
            .as_str()
            .unwrap()
            .contains("began a repair from sector 4096 to sector 5120"),
        "the chunk of sector {lba}, data from 2048: {job}"
    );
    let page = c.get(&format!("/drives/{id}")).await.text();
    assert!(
        page.contains(&format!("sector {lba} rewritten from redundancy at")),
        "{page}"
    );
    let p = c.get("/api/v1/pools/tank").await.json();
    assert_eq!(p["state"], "clean", "the pool stays clean: {p}");
    assert!(
        roles(&p).contains(&(s(1), "active".into())),
        "the drive stays in: {p}"
    );
    assert_eq!(
        baystack::agent::heal_sectors(app.db()).unwrap(),
        0,
        "healed once"
    );

    // Never on a pool without its redundancy.
    let other = bay_of(&drives, &s(2));
    sim.act(&other.0, other.1, SimAction::BadSector { lba: lba + 4096 })
        .unwrap();
    let first = bay_of(&drives, &s(0));
    sim.act(&first.0, first.1, SimAction::FailMember).unwrap();
    rig.settle();
    assert_eq!(
        baystack::agent::heal_sectors(app.db()).unwrap(),
        0,
        "degraded"
    );
}

both!(
    a_failed_drive_is_replaced_in_its_bay,
    spares_growth_and_delete,
    a_bad_sector_is_rewritten_from_redundancy
);

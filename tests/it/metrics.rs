//! `/metrics` on `sim`: parsed by a Prometheus text-format parser, its
//! series checked against what the API says of the same pool, drives,
//! enclosure, alerts and jobs; refused without a token.

use std::collections::HashMap;
use std::time::Duration;

use baystack::storage::sim::SimAction;
use prometheus_parse::{Sample, Scrape, Value};
use serde_json::json;

use crate::both;
use crate::support::{Backend, TestApp};

fn value(s: &Sample) -> f64 {
    match &s.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        other => panic!("{} is not a single value: {other:?}", s.metric),
    }
}

/// The one sample of `metric` whose labels include all of `labels`.
fn one(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&Sample> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect();
    assert_eq!(found.len(), 1, "{metric} {labels:?}: {found:?}");
    value(found[0])
}

async fn metrics_say_what_the_api_says(backend: Backend) {
    let app = TestApp::with_settings(backend, |s| {
        s.sim.speed = 100.0;
        s.sim.layout = vec![12];
    });
    let runner = app.runner(Duration::from_secs(30));
    let mut c = app.client().await;
    c.setup().await;
    let anonymous = c.get("/metrics").await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.text());
    c.bearer = Some(c.token_for("admin", crate::support::ADMIN_PASSWORD).await);
    app.observe();
    let drives = c.get("/api/v1/drives").await.json();
    let healthy: Vec<String> = drives
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["health"] == "healthy")
        .map(|d| d["serial"].as_str().unwrap().to_string())
        .collect();
    let r = c
        .post_json(
            "/api/v1/pools",
            &json!({"name": "tank", "level": "raid5", "drives": healthy[..3],
                    "write_hole": "ppl"})
            .to_string(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    while runner.run_one().unwrap() {}
    app.observe();
    let r = c
        .post_json(
            "/api/v1/volumes",
            &json!({"name": "v1", "pool": "tank", "size": "400 GiB", "thin": true}).to_string(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    while runner.run_one().unwrap() {}
    app.sim().write("v1", 300 << 30).unwrap();
    app.observe();
    let encl = c.get("/api/v1/enclosures").await.json()[0]["ident"]
        .as_str()
        .unwrap()
        .to_string();
    app.sim()
        .set_element(&encl, "PSU 2", "critical", "AC fail")
        .unwrap();
    let failing = healthy[5].clone();
    let bay = drives
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["serial"] == failing.as_str())
        .unwrap()["bay"]["slot"]
        .as_u64()
        .unwrap() as u32;
    app.sim().act(&encl, bay, SimAction::FailDrive).unwrap();
    app.observe();
    baystack::agent::evaluate_alerts(app.db(), chrono::Duration::seconds(60)).unwrap();

    let r = c.get("/metrics").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text"),
        "{:?}",
        r.header("content-type")
    );
    let text = r.text();
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    for name in scrape.samples.iter().map(|s| &s.metric) {
        assert!(name.starts_with("baystack_"), "{name}");
    }

    // The pool: its state as a state set, its size as the API says.
    let pool = c.get("/api/v1/pools/tank").await.json();
    let state = pool["state"].as_str().unwrap();
    assert_eq!(
        one(
            &scrape,
            "baystack_pool_state",
            &[("pool", "tank"), ("state", state)]
        ),
        1.0
    );
    let states: f64 = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "baystack_pool_state")
        .map(value)
        .sum();
    assert_eq!(states, 1.0, "one state at a time");
    assert_eq!(
        one(&scrape, "baystack_pool_size_bytes", &[("pool", "tank")]),
        pool["capacity"]["size_bytes"].as_f64().unwrap()
    );
    assert_eq!(
        one(
            &scrape,
            "baystack_pool_degraded_members",
            &[("pool", "tank")]
        ),
        0.0
    );
    let thin = &pool["thin_pool"];
    assert!(thin["data_percent"].as_f64().unwrap() > 0.0, "{thin}");
    assert_eq!(
        one(
            &scrape,
            "baystack_pool_thin_data_ratio",
            &[("pool", "tank")]
        ),
        thin["data_percent"].as_f64().unwrap() / 100.0
    );
    if let Some(p) = pool["progress"]["percent"].as_f64() {
        assert_eq!(
            one(
                &scrape,
                "baystack_pool_sync_progress_ratio",
                &[("pool", "tank")]
            ),
            p / 100.0
        );
    }

    // Each present drive: temperature and verdict as the API has them.
    let drives = c.get("/api/v1/drives").await.json();
    let mut checked = 0;
    for d in drives
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["present"] == true)
    {
        let serial = d["serial"].as_str().unwrap();
        let health = d["health"].as_str().unwrap();
        assert_eq!(
            one(
                &scrape,
                "baystack_drive_health",
                &[("serial", serial), ("health", health)]
            ),
            1.0,
            "{serial}"
        );
        if let Some(t) = d["temperature_c"].as_f64() {
            assert_eq!(
                one(
                    &scrape,
                    "baystack_drive_temperature_celsius",
                    &[("serial", serial)]
                ),
                t
            );
        }
        checked += 1;
    }
    assert!(checked >= 10, "{checked}");
    assert_eq!(
        one(
            &scrape,
            "baystack_drive_health",
            &[("serial", &failing), ("health", "failing")]
        ),
        1.0
    );
    assert_eq!(
        one(
            &scrape,
            "baystack_drive_info",
            &[("serial", &healthy[0]), ("pool", "tank")]
        ),
        1.0
    );
    let power: HashMap<_, _> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "baystack_drive_power_on_seconds_total")
        .map(|s| (s.labels.get("serial").unwrap().to_string(), value(s)))
        .collect();
    assert_eq!(power.len(), checked, "a counter per present drive");

    // The enclosure's power supply, and the alerts it and the drive raised.
    let psu = [("enclosure", encl.as_str()), ("element", "PSU 2")];
    assert_eq!(one(&scrape, "baystack_enclosure_element_ok", &psu), 0.0);
    assert_eq!(
        one(
            &scrape,
            "baystack_enclosure_element_ok",
            &[("element", "PSU 1")]
        ),
        1.0
    );
    assert_eq!(
        one(
            &scrape,
            "baystack_alerts",
            &[("severity", "critical"), ("state", "open")]
        ),
        2.0,
        "the power supply and the failing drive"
    );

    // Jobs: the pool's create, counted by state and timed.
    assert_eq!(
        one(
            &scrape,
            "baystack_jobs",
            &[("kind", "pool.create"), ("state", "succeeded")]
        ),
        1.0
    );
    let hist = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "baystack_job_duration_seconds"
                && s.labels.get("kind") == Some("pool.create")
        })
        .unwrap_or_else(|| panic!("no histogram for pool.create in {text}"));
    match &hist.value {
        Value::Histogram(b) => {
            assert_eq!(b.last().unwrap().count, 1.0, "{b:?}");
            assert!(b.windows(2).all(|w| w[0].count <= w[1].count), "{b:?}");
        }
        other => panic!("{other:?}"),
    }
    // A second scrape counts no job twice.
    let again = c.get("/metrics").await.text();
    assert!(
        again.contains("baystack_job_duration_seconds_count{kind=\"pool.create\"} 1"),
        "{again}"
    );
    let age = one(&scrape, "baystack_observation_age_seconds", &[]);
    assert!((0.0..60.0).contains(&age), "{age}");

    // The sample Grafana dashboard reads only series that exist.
    let dashboard = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/grafana-dashboard.json"),
    )
    .unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    let mut used = 0;
    for p in dashboard["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap();
            for (at, _) in expr.match_indices("baystack_") {
                let name: String = expr[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let base = ["_bucket", "_total"]
                    .iter()
                    .find_map(|sfx| name.strip_suffix(sfx))
                    .unwrap_or(&name);
                assert!(
                    text.contains(&format!("# TYPE {base} ")),
                    "the dashboard's {name} is not in /metrics"
                );
                used += 1;
            }
        }
    }
    assert!(used >= 15, "{used}");
}

both!(metrics_say_what_the_api_says);

/// `metrics_listen`: `/metrics` without a token on an address of its own,
/// and nothing else there; the console's own address still wants a token.
#[test]
fn metrics_listen_serves_only_metrics() {
    use crate::support::wire;
    let dir = tempfile::tempdir().unwrap();
    let (port, metrics_port) = (wire::free_port(), wire::free_port());
    let config = dir.path().join("baystack.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\nmetrics_listen = \"127.0.0.1:{metrics_port}\"\n\
             data_dir = \"{}\"\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_baystack"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("BAYSTACK_LOG", "warn")
        .spawn()
        .unwrap();
    wire::wait_for_health(port);
    let r = wire::call(
        port,
        "POST",
        "/api/v1/setup",
        &[("content-type", "application/json")],
        r#"{"admin_password":"correct horse battery","hostname":"bay01","iqn_domain":"example.com","iqn_date":"2024-01","timezone":"UTC"}"#,
    );
    assert_eq!(wire::status(&r), 201, "{r}");
    let open = wire::call(metrics_port, "GET", "/metrics", &[], "");
    let main = wire::call(port, "GET", "/metrics", &[], "");
    let other = wire::call(metrics_port, "GET", "/api/v1/system", &[], "");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(wire::status(&open), 200, "{open}");
    assert!(
        open.contains("# TYPE baystack_drive_present gauge"),
        "{open}"
    );
    assert_eq!(wire::status(&main), 401, "{main}");
    assert_eq!(wire::status(&other), 404, "{other}");
}

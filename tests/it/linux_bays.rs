//! The `linux` backend's bays against a copy of a real-shaped sysfs tree
//! (tests/fixtures/enclosure/sas2-expander) and an lsblk that prints what
//! that machine would: identify and fault LEDs set through the job queue
//! land in the enclosure's own files.

use std::path::Path;

use baystack::config::BackendKind;
use serde_json::Value;

use crate::both;
use crate::support::{ADMIN_PASSWORD, Backend, TestApp};

/// A writable copy of the fixture tree, and a fake `lsblk` that lists the
/// tree's linked drives.
fn machine(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/enclosure");
    let sys = dir.join("sys");
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(fixtures.join("sas2-expander"))
        .arg(&sys)
        .status()
        .unwrap();
    assert!(status.success());
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures.join("sas2-expander.expected.json")).unwrap(),
    )
    .unwrap();
    let mut devices = Vec::new();
    for slot in expected["enclosures"][0]["slots"].as_array().unwrap() {
        if let Some(block) = slot["device"]["block"].as_str() {
            let wwid = slot["device"]["wwid"].as_str().unwrap();
            devices.push(serde_json::json!({
                "name": block, "kname": block, "type": "disk", "size": 4000787030016u64,
                "rota": true, "tran": "sas", "vendor": "SEAGATE ", "model": "ST4000NM0023",
                "serial": format!("Z1Z{block}"), "wwn": format!("0x{}", &wwid[4..]),
            }));
        }
    }
    let json = serde_json::json!({ "blockdevices": devices }).to_string();
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(dir.join("lsblk.json"), json).unwrap();
    fake_tool(
        &bin,
        "lsblk",
        &format!("exec cat '{}'", dir.join("lsblk.json").display()),
    );
    (sys, bin)
}

/// Writes an executable shell script `bin/name` running `body`.
fn fake_tool(bin: &Path, name: &str, body: &str) {
    let path = bin.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// The linux backend's app on the machine in `dir`.
fn linux_app(backend: Backend, dir: &Path) -> (TestApp, std::path::PathBuf, std::path::PathBuf) {
    let (sys, bin) = machine(dir);
    let app = TestApp::with_settings(backend, |s| {
        s.backend = BackendKind::Linux;
        s.linux.sysfs_root = sys.clone();
        s.linux.tool_dirs = vec![bin.clone()];
    });
    (app, sys, bin)
}

async fn leds_land_in_the_enclosure_files(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (app, sys, _) = linux_app(backend, dir.path());
    app.observe();
    let mut c = app.client().await;
    c.setup().await;
    c.bearer = Some(c.token_for("admin", ADMIN_PASSWORD).await);
    let bays = c.get("/api/v1/bays").await.json();
    let bays = bays.as_array().unwrap();
    assert_eq!(bays.len(), 24, "{bays:?}");
    assert_eq!(bays[0]["enclosure"], "0x5003048001a2b33f");
    assert_eq!(bays[0]["slot"], 1, "slots as the enclosure numbers them");
    assert_eq!(bays[0]["label"], "Slot 01");
    assert_eq!(bays[0]["drive"]["dev_name"], "sda");
    let component = sys.join("class/enclosure/0:0:15:0/Slot 02");
    assert_eq!(
        std::fs::read_to_string(component.join("locate")).unwrap(),
        "0\n"
    );
    for (led, on) in [("locate", true), ("fault", true), ("locate", false)] {
        let r = c
            .post_json(
                &format!("/api/v1/bays/0x5003048001a2b33f/2/{led}"),
                &format!(r#"{{"on": {on}}}"#),
            )
            .await;
        assert_eq!(r.status, 202, "{}", r.text());
        let id = r.json()["job_id"].as_i64().unwrap();
        assert!(
            app.runner(std::time::Duration::from_secs(30))
                .run_one()
                .unwrap()
        );
        let job = c.get(&format!("/api/v1/jobs/{id}")).await.json();
        assert_eq!(job["state"], "succeeded", "{job}");
        let want = if on { "1" } else { "0" };
        assert_eq!(std::fs::read_to_string(component.join(led)).unwrap(), want);
        assert!(
            job["steps"][0]["detail"]
                .as_str()
                .unwrap()
                .ends_with(&format!("Slot 02/{led}")),
            "{job}"
        );
    }
    app.observe();
    let bays = c.get("/api/v1/bays").await.json();
    assert_eq!(
        (bays[1]["locate"].clone(), bays[1]["fault"].clone()),
        (Value::Bool(false), Value::Bool(true))
    );
}

/// Points the fake `smartctl` at a captured report; it exits 4 as smartctl
/// does when some command failed but data came back.
fn smartctl_prints(bin: &Path, fixture: &str) {
    let report = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/smartctl")
        .join(fixture);
    fake_tool(
        bin,
        "smartctl",
        &format!("cat '{}'\nexit 4", report.display()),
    );
}

/// SMART read through smartctl for every drive the linux backend sees.
async fn smart_is_read_with_smartctl(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (app, _, bin) = linux_app(backend, dir.path());
    app.observe();
    let linux = baystack::storage::open(&app.settings).unwrap();
    let mut c = app.client().await;
    c.setup().await;
    c.bearer = Some(c.token_for("admin", ADMIN_PASSWORD).await);
    let health = |bays: &Value| bays[0]["drive"]["health"].as_str().unwrap().to_string();
    assert_eq!(
        health(&c.get("/api/v1/bays").await.json()),
        "unknown",
        "not read yet"
    );
    smartctl_prints(&bin, "sas-hdd-healthy.json");
    let report = baystack::smart::poll_once(app.db(), linux.as_ref(), 4).unwrap();
    assert_eq!(
        (report.drives, report.failed.len()),
        (15, 0),
        "{:?}",
        report.failed
    );
    assert_eq!(health(&c.get("/api/v1/bays").await.json()), "healthy");
    smartctl_prints(&bin, "scsi-spi-grown-defects.json");
    baystack::smart::poll_once(app.db(), linux.as_ref(), 4).unwrap();
    let bays = c.get("/api/v1/bays").await.json();
    assert_eq!(health(&bays), "warning");
    // The observer, which does not read SMART on linux, leaves it be.
    app.observe();
    assert_eq!(health(&c.get("/api/v1/bays").await.json()), "warning");
}

both!(
    leds_land_in_the_enclosure_files,
    smart_is_read_with_smartctl
);

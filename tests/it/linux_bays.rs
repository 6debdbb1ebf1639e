//! The `linux` backend's bays against a copy of a real-shaped sysfs tree
//! (tests/fixtures/enclosure/sas2-expander) and an lsblk that prints what
//! that machine would: identify and fault LEDs set through the job queue
//! land in the enclosure's own files.

use std::path::{Path, PathBuf};

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use baystack::config::BackendKind;
use baystack::db::smart as db_smart;
use serde_json::Value;

use crate::both;
use crate::support::{Backend, Client, TestApp};

/// A writable copy of fixture tree `tree`, and a fake `lsblk` that lists the
/// tree's linked drives and any `extra` ones.
fn machine(dir: &Path, tree: &str, extra: &[Value]) -> (PathBuf, PathBuf) {
    let sys = dir.join("sys");
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(fixtures().join("enclosure").join(tree))
        .arg(&sys)
        .status()
        .unwrap();
    assert!(status.success());
    let mut devices = extra.to_vec();
    for enclosure in expected(tree)["enclosures"].as_array().unwrap() {
        for slot in enclosure["slots"].as_array().unwrap() {
            if let Some(block) = slot["device"]["block"].as_str() {
                devices.push(disk(block, &slot["device"]["wwid"].as_str().unwrap()[4..]));
            }
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

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// What the fixture generator says tree `tree` holds.
fn expected(tree: &str) -> Value {
    let path = fixtures().join(format!("enclosure/{tree}.expected.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A SAS disk as lsblk lists it.
fn disk(block: &str, wwn_hex: &str) -> Value {
    serde_json::json!({
        "name": block, "kname": block, "type": "disk", "size": 4000787030016u64,
        "rota": true, "tran": "sas", "vendor": "SEAGATE ", "model": "ST4000NM0023",
        "serial": format!("Z1Z{block}"), "wwn": format!("0x{wwn_hex}"),
    })
}

/// A fake `sg_ses` (tests/fakes/sg_ses.py) serving each enclosure of `tree`
/// from the real `sg_ses --join` output of its pages; returns the directory
/// holding its state and its `calls.log`.
fn sg_ses_serves(dir: &Path, bin: &Path, tree: &str) -> PathBuf {
    let state = dir.join("ses");
    std::fs::create_dir_all(&state).unwrap();
    for enclosure in expected(tree)["enclosures"].as_array().unwrap() {
        let hctl = enclosure["hctl"].as_str().unwrap().replace(':', "_");
        std::fs::copy(
            fixtures().join(format!("sg_ses/fixtures/{tree}/{hctl}.join.txt")),
            state.join(format!("{}.join.txt", enclosure["sg"].as_str().unwrap())),
        )
        .unwrap();
    }
    fake_tool(
        bin,
        "sg_ses",
        &format!(
            "exec python3 '{}' '{}' \"$@\"",
            fixtures().join("../fakes/sg_ses.py").display(),
            state.display()
        ),
    );
    state
}

/// Writes an executable shell script `bin/name` running `body`.
fn fake_tool(bin: &Path, name: &str, body: &str) {
    let path = bin.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// The linux backend's app on the machine in `dir`.
fn linux_app(backend: Backend, dir: &Path) -> (TestApp, PathBuf, PathBuf) {
    linux_app_on(backend, dir, "sas2-expander", &[])
}

fn linux_app_on(
    backend: Backend,
    dir: &Path,
    tree: &str,
    extra: &[Value],
) -> (TestApp, PathBuf, PathBuf) {
    let (sys, bin) = machine(dir, tree, extra);
    // Device nodes and procfs of its own: no kernel log until a test
    // writes one (dev/kmsg, proc/sys/kernel/random/boot_id).
    std::fs::create_dir_all(dir.join("dev")).unwrap();
    std::fs::create_dir_all(dir.join("proc/sys/kernel/random")).unwrap();
    let app = TestApp::with_settings(backend, |s| {
        s.backend = BackendKind::Linux;
        s.linux.sysfs_root = sys.clone();
        s.linux.tool_dirs = vec![bin.clone()];
        s.linux.dev_root = dir.join("dev");
        s.linux.proc_root = dir.join("proc");
    });
    (app, sys, bin)
}

async fn leds_land_in_the_enclosure_files(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (app, sys, _) = linux_app(backend, dir.path());
    app.observe();
    let mut c = app.client().await;
    c.setup_as_admin().await;
    let bays = c.get("/api/v1/bays").await.json();
    let bays = bays.as_array().unwrap();
    assert_eq!(bays.len(), 24, "{bays:?}");
    assert_eq!(bays[0]["enclosure"], "0x5003048001a2b33f");
    assert_eq!(bays[0]["slot"], 1, "slots as the enclosure numbers them");
    assert_eq!(bays[0]["label"], "Slot 01");
    assert_eq!(bays[0]["drive"]["dev_name"], "sda");
    // Without sg_ses the kernel's bays are all there is, and it says so.
    let enclosures = c.get("/api/v1/enclosures").await.json();
    assert_eq!(enclosures[0]["elements"], serde_json::json!([]));
    assert_eq!(
        enclosures[0]["note"],
        "sg_ses (package sg3-utils) is not installed, so its power supplies, fans and \
         temperature sensors are not read"
    );
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
    let report = fixtures().join("smartctl").join(fixture);
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
    let linux =
        baystack::commands::engine(&app.settings, std::sync::Arc::new(app.clock.clone())).unwrap();
    let mut c = app.client().await;
    c.setup_as_admin().await;
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

/// Asserts the fake sg_ses was run with exactly `args` (device nodes
/// written as under /dev; the machine's own are beside its `state`).
fn assert_sg_ses_ran(state: &Path, args: &str) {
    let dev = state.parent().unwrap().join("dev");
    let calls = std::fs::read_to_string(state.join("calls.log"))
        .unwrap()
        .replace(dev.to_str().unwrap(), "/dev");
    assert!(calls.lines().any(|l| l == args), "{calls}");
}

/// Posts an LED request, runs its job, and returns the job as the API
/// shows it.
async fn led_job<S, B>(app: &TestApp, c: &mut Client<S>, path: &str, on: bool) -> Value
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = c.post_json(path, &format!(r#"{{"on": {on}}}"#)).await;
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["job_id"].as_i64().unwrap();
    assert!(
        app.runner(std::time::Duration::from_secs(30))
            .run_one()
            .unwrap()
    );
    c.get(&format!("/api/v1/jobs/{id}")).await.json()
}

/// An old kernel (no `slot` files): without sg_ses the bays are numbered in
/// the kernel's order and the page says why; with sg_ses the enclosure's
/// own numbers, its logical identifier and its LEDs come through sg_ses.
async fn old_kernels_fall_back_to_sg_ses(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (app, _, bin) = linux_app_on(backend, dir.path(), "sas-expander-old-kernel", &[]);
    app.observe();
    let mut c = app.client().await;
    c.setup_as_admin().await;
    let bays = c.get("/api/v1/bays").await.json();
    assert_eq!(
        bays[0]["enclosure"], "scsi-0:0:7:0",
        "no id before Linux 4.0"
    );
    assert_eq!(bays[0]["method"], "sysfs");
    let page = c.get("/bays/map").await.text();
    assert!(page.contains("sg3-utils"), "{page}");

    let state = sg_ses_serves(dir.path(), &bin, "sas-expander-old-kernel");
    app.observe();
    // Read through sg_ses it has its own identifier; the one named by its
    // SCSI address is missing now, and an admin forgets it.
    let bays = c.get("/api/v1/bays").await.json();
    assert!(
        bays.as_array()
            .unwrap()
            .iter()
            .any(|b| b["enclosure"] == "scsi-0:0:7:0" && b["state"] == "missing")
    );
    let r = c
        .request(
            actix_web::http::Method::DELETE,
            "/api/v1/enclosures/0x5003048000f1e23f",
        )
        .await;
    assert_eq!(r.status, 409, "a present one stays: {}", r.text());
    let r = c
        .request(
            actix_web::http::Method::DELETE,
            "/api/v1/enclosures/scsi-0:0:7:0",
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    let bays = c.get("/api/v1/bays").await.json();
    let bays = bays.as_array().unwrap();
    assert_eq!(bays.len(), 12, "{bays:?}");
    assert_eq!(bays[0]["enclosure"], "0x5003048000f1e23f");
    assert_eq!(bays[0]["method"], "sg_ses");
    // Placed by the SAS address the enclosure reports for each slot.
    let placed: Vec<(u64, Option<&str>)> = bays
        .iter()
        .map(|b| (b["slot"].as_u64().unwrap(), b["drive"]["dev_name"].as_str()))
        .collect();
    assert_eq!(
        &placed[..3],
        [(0, Some("sda")), (1, Some("sdb")), (2, Some("sdc"))]
    );
    assert_eq!(placed[6], (6, None), "an empty bay");
    assert_eq!(bays[6]["state"], "empty");
    assert_eq!(bays[2]["locate"], true, "as the enclosure reports it");
    let page = c.get("/bays/map").await.text();
    assert!(page.contains("read and lit with sg_ses"), "{page}");
    assert!(!page.contains("sg3-utils"), "the note is gone: {page}");

    let job = led_job(
        &app,
        &mut c,
        "/api/v1/bays/0x5003048000f1e23f/3/locate",
        true,
    )
    .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_sg_ses_ran(&state, "--dev-slot-num=3 --set=ident /dev/sg7");
    let logged = job["commands"].as_array().unwrap();
    assert!(
        logged.iter().any(|cmd| cmd["argv"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "--set=ident")),
        "the job's log shows the command: {job}"
    );
    app.observe();
    let bays = c.get("/api/v1/bays").await.json();
    assert_eq!(bays[3]["locate"], true);

    // sg_ses breaks: the kernel's own order is not the enclosure's
    // numbering, so no LED is set by it.
    fake_tool(
        &bin,
        "sg_ses",
        "echo 'sg_ses: Permission denied' >&2\nexit 15",
    );
    app.observe();
    let job = led_job(&app, &mut c, "/api/v1/bays/scsi-0:0:7:0/3/locate", false).await;
    assert_eq!(job["state"], "failed", "{job}");
    assert!(
        job["error"]
            .as_str()
            .unwrap()
            .contains("no LED is set until sg_ses works again"),
        "{job}"
    );
    let page = c.get("/bays/map").await.text();
    assert!(page.contains("Permission denied"), "{page}");
}

/// With the `ses` module unloaded there is no /sys/class/enclosure: the
/// enclosure is found as a SCSI device of type 13, read and lit with
/// sg_ses under the same name; a drive the kernel never linked is placed
/// by its SAS address.
async fn without_the_ses_driver_sg_ses_takes_over(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    // A drive whose WWN is the SAS address the enclosure lists for Slot 15.
    let unlinked = disk("sdq", "5000c5007a3b1ce1");
    let (app, sys, bin) = linux_app_on(
        backend,
        dir.path(),
        "sas2-expander",
        std::slice::from_ref(&unlinked),
    );
    let state = sg_ses_serves(dir.path(), &bin, "sas2-expander");
    app.observe();
    let mut c = app.client().await;
    c.setup_as_admin().await;
    let bays = c.get("/api/v1/bays").await.json();
    assert_eq!(bays[14]["label"], "Slot 15");
    assert_eq!(bays[14]["method"], "sysfs");
    assert_eq!(
        bays[14]["drive"]["dev_name"], "sdq",
        "placed by SAS address"
    );
    // What the kernel does not show, read from the enclosure's pages.
    let enclosures = c.get("/api/v1/enclosures").await.json();
    assert_eq!(enclosures[0]["method"], "sysfs");
    assert_eq!(
        (
            enclosures[0]["bays"].clone(),
            enclosures[0]["bays_used"].clone()
        ),
        (
            24.into(),
            bays.as_array()
                .unwrap()
                .iter()
                .filter(|b| b["state"] != "empty")
                .count()
                .into()
        )
    );
    let elements = enclosures[0]["elements"].as_array().unwrap();
    let kinds: Vec<&str> = elements
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["Enclosure", "SAS expander", "Temperature sensor"]);
    assert_eq!(
        (
            elements[2]["name"].as_str(),
            elements[2]["status"].as_str(),
            elements[2]["detail"].as_str()
        ),
        (Some("Temperature"), Some("OK"), Some("40 C"))
    );
    // One read that fails: said on the enclosure, and what was read last
    // stands (a failed part does not vanish because a read of it did).
    let sg_ses = std::fs::read_to_string(bin.join("sg_ses")).unwrap();
    fake_tool(&bin, "sg_ses", "echo 'sg_ses: timed out' >&2\nexit 1");
    app.observe();
    let enclosures = c.get("/api/v1/enclosures").await.json();
    assert!(
        enclosures[0]["note"]
            .as_str()
            .unwrap()
            .contains("timed out"),
        "{enclosures}"
    );
    assert_eq!(enclosures[0]["elements"], Value::Array(elements.clone()));
    std::fs::write(bin.join("sg_ses"), sg_ses).unwrap();

    std::fs::remove_dir_all(sys.join("class/enclosure")).unwrap();
    app.observe();
    let bays = c.get("/api/v1/bays").await.json();
    let bays = bays.as_array().unwrap();
    assert_eq!(bays.len(), 24);
    assert_eq!(bays[0]["enclosure"], "0x5003048001a2b33f", "the same name");
    assert_eq!(bays[0]["method"], "sg_ses");
    assert_eq!(
        (bays[0]["slot"].clone(), bays[0]["label"].clone()),
        (1.into(), "Slot 01".into())
    );
    assert_eq!(bays[0]["drive"]["dev_name"], "sda");
    assert_eq!(bays[14]["drive"]["dev_name"], "sdq");
    assert_eq!(bays[11]["fault"], true);

    let job = led_job(
        &app,
        &mut c,
        "/api/v1/bays/0x5003048001a2b33f/12/fault",
        false,
    )
    .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_sg_ses_ran(&state, "--dev-slot-num=12 --clear=fault /dev/sg15");
    app.observe();
    assert_eq!(c.get("/api/v1/bays").await.json()[11]["fault"], false);

    // An sg_ses that fails is reported on the enclosure, not hidden.
    fake_tool(
        &bin,
        "sg_ses",
        "echo 'sg_ses: error opening file: /dev/sg15: Permission denied' >&2\nexit 15",
    );
    app.observe();
    let page = c.get("/bays/map").await.text();
    assert!(page.contains("Permission denied"), "{page}");
}

/// Behind an HBA without the SAS transport the kernel links no drive to
/// its slot and gives no `sas_address`: the drive is placed by the SAS
/// target port its identification page (sysfs `vpd_pg83`) names.
async fn a_drive_is_placed_by_the_port_its_vpd_page_names(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    // Its WWN (the logical unit's name) is not the slot's address.
    let unlinked = disk("sdq", "5000c5007a3b1ce3");
    let (app, sys, bin) = linux_app_on(
        backend,
        dir.path(),
        "sas2-expander",
        std::slice::from_ref(&unlinked),
    );
    sg_ses_serves(dir.path(), &bin, "sas2-expander");
    let scsi = sys.join("devices/tcm_loop_0/host9/target9:0:1/9:0:1:0");
    std::fs::create_dir_all(scsi.join("block/sdq")).unwrap();
    std::os::unix::fs::symlink(scsi.join("block/sdq"), sys.join("class/block/sdq")).unwrap();
    app.observe();
    let mut c = app.client().await;
    c.setup_as_admin().await;
    assert_eq!(
        c.get("/api/v1/bays").await.json()[14]["drive"],
        Value::Null,
        "no address: not placed"
    );
    // LU name, SAS target port (Slot 15's address), relative port.
    let mut page = vec![0x00, 0x83, 0x00, 0x20];
    page.extend([0x01, 0x03, 0, 8, 0x50, 0, 0xc5, 0, 0x7a, 0x3b, 0x1c, 0xe3]);
    page.extend([0x61, 0x93, 0, 8, 0x50, 0, 0xc5, 0, 0x7a, 0x3b, 0x1c, 0xe1]);
    page.extend([0x61, 0x94, 0, 4, 0, 0, 0, 1]);
    std::fs::write(scsi.join("vpd_pg83"), &page).unwrap();
    app.observe();
    let bays = c.get("/api/v1/bays").await.json();
    assert_eq!(bays[14]["label"], "Slot 15");
    assert_eq!(bays[14]["drive"]["dev_name"], "sdq", "placed by its port");
}

/// A self-test through the queue runs `smartctl -t`; a drive that refuses
/// (a test already running) fails the job with smartctl's own words.
async fn self_tests_run_smartctl(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (app, _, bin) = linux_app(backend, dir.path());
    app.observe();
    let mut c = app.client().await;
    c.setup_as_admin().await;
    // What smartctl -t short printed in the lab guest.
    let said = fixtures().join("smartctl/lab-sata-t-short.txt");
    fake_tool(&bin, "smartctl", &format!("cat '{}'", said.display()));
    let drive = c.get("/api/v1/drives").await.json()[0].clone();
    let path = format!("/api/v1/drives/{}/selftest", drive["id"]);
    let start = async |c: &mut Client<_>| {
        let r = c.post_json(&path, r#"{"kind": "short"}"#).await;
        assert_eq!(r.status, 202, "{}", r.text());
        let id = r.json()["job_id"].as_i64().unwrap();
        assert!(
            app.runner(std::time::Duration::from_secs(30))
                .run_one()
                .unwrap()
        );
        c.get(&format!("/api/v1/jobs/{id}")).await.json()
    };
    let job = start(&mut c).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert!(
        job["steps"][0]["detail"]
            .as_str()
            .unwrap()
            .ends_with("Please wait 2 minutes for test to complete."),
        "{job}"
    );
    let argv = &job["commands"][0]["argv"];
    let dev = format!(
        "{}/dev/{}",
        dir.path().display(),
        drive["dev_name"].as_str().unwrap()
    );
    assert_eq!(
        argv.as_array().unwrap()[1..],
        ["-t", "short", dev.as_str()],
        "{job}"
    );

    fake_tool(
        &bin,
        "smartctl",
        "echo \"Can't start self-test without aborting current test (90% remaining),\"; echo \"add '-t force' option to override, or run 'smartctl -X' to abort test.\"; exit 4",
    );
    let job = start(&mut c).await;
    assert_eq!(job["state"], "failed", "{job}");
    assert!(
        job["error"]
            .as_str()
            .unwrap()
            .contains("Can't start self-test without aborting current test (90% remaining), add"),
        "{job}"
    );
}

/// What smartctl 7.3 prints for `smartctl -X` on an ATA drive that takes
/// the order, and on one that refuses it. Not captured in the lab yet:
/// composed line by line from smartmontools' own words (the banner as in
/// lab-sata-t-short.txt; lib/atacmds.cpp ataSmartTest; src/ataprint.cpp
/// prints the section heading and sets FAILSMART, exit bit 2, on a failure).
const SMARTCTL_X_ATA: &str =
    "smartctl 7.3 2022-02-28 r5338 [x86_64-linux-6.1.0-57-amd64] (local build)
Copyright (C) 2002-22, Bruce Allen, Christian Franke, www.smartmontools.org

=== START OF OFFLINE IMMEDIATE AND SELF-TEST SECTION ===
Sending command: \"Abort SMART off-line mode self-test routine\".
Self-testing aborted!
";
const SMARTCTL_X_ATA_REFUSED: &str =
    "smartctl 7.3 2022-02-28 r5338 [x86_64-linux-6.1.0-57-amd64] (local build)
Copyright (C) 2002-22, Bruce Allen, Christian Franke, www.smartmontools.org

=== START OF OFFLINE IMMEDIATE AND SELF-TEST SECTION ===
Sending command: \"Abort SMART off-line mode self-test routine\".
Command \"Abort SMART off-line mode self-test routine\" failed: Input/output error
";

/// A fake smartctl for a drive running a self-test: `-j -x` prints the
/// captured report `running` until a `-X` has been taken, then `after`;
/// `-X` prints `abort` and exits with `abort_exit` (0: taken).
fn smartctl_drive(
    dir: &Path,
    bin: &Path,
    running: &str,
    after: &str,
    abort: &str,
    abort_exit: i32,
) {
    let said = dir.join("smartctl-X.txt");
    std::fs::write(&said, abort).unwrap();
    let (running, after) = (
        fixtures().join("smartctl").join(running),
        fixtures().join("smartctl").join(after),
    );
    let flag = dir.join("smartctl-aborted");
    let _ = std::fs::remove_file(&flag);
    fake_tool(
        bin,
        "smartctl",
        &format!(
            "case \"$1\" in\n\
             -X) cat '{}'; if [ {abort_exit} -eq 0 ]; then touch '{}'; fi; exit {abort_exit};;\n\
             -j) if [ -e '{}' ]; then cat '{}'; else cat '{}'; fi; exit 4;;\n\
             esac\nexit 1",
            said.display(),
            flag.display(),
            flag.display(),
            after.display(),
            running.display()
        ),
    );
}

/// The arguments of each command a job ran, after the program's path.
fn argvs(job: &Value) -> Vec<Vec<String>> {
    job["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c["argv"].as_array().unwrap()[1..]
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

/// On linux an operator reads SMART now (`smartctl -j -x`, in the job's
/// log) and sees a test's progress as the drive reports it (a captured
/// WD140EDFZ 90% into its extended test); `smartctl -X` aborts it, and a
/// drive that refuses fails the job in smartctl's words.
async fn smart_is_read_now_and_a_test_aborted_with_smartctl(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (app, _, bin) = linux_app(backend, dir.path());
    app.observe();
    let mut c = app.client().await;
    c.setup_as_admin().await;
    let sdb = by_dev(&c.get("/api/v1/drives").await.json(), "sdb");
    let id = sdb["id"].as_i64().unwrap();
    let dev = format!("{}/dev/sdb", dir.path().display());
    smartctl_drive(
        dir.path(),
        &bin,
        "sata-hdd-healthy.json",
        "sata-ssd-healthy-x.json",
        SMARTCTL_X_ATA,
        0,
    );
    let abort = format!("/api/v1/drives/{id}/selftest/abort");
    let r = c.post_json(&abort, "{}").await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.text().contains("has not been read yet"), "{}", r.text());

    let job = posted_job(&app, &mut c, &format!("/api/v1/drives/{id}/smart"), "{}").await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(argvs(&job), [["-j", "-x", dev.as_str()]], "{job}");
    assert_eq!(
        job["steps"][0]["detail"],
        "read and kept: healthy, no SMART errors; self-test in progress, 10% remaining"
    );
    let page = c.get(&format!("/drives/{id}")).await.text();
    assert!(
        page.contains("Running now: self-test, 10% remaining"),
        "{page}"
    );
    assert!(page.contains("Abort the running self-test"), "{page}");

    let job = posted_job(&app, &mut c, &abort, "{}").await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(
        argvs(&job),
        [vec!["-X", dev.as_str()], vec!["-j", "-x", dev.as_str()]],
        "{job}"
    );
    assert_eq!(
        job["steps"][0]["detail"],
        "the self-test on /dev/sdb was told to stop: Self-testing aborted!"
    );
    let page = c.get(&format!("/drives/{id}")).await.text();
    assert!(!page.contains("Running now"), "{page}");
    // The drive read after it (a Samsung 860 EVO's report) says its long
    // test takes 85 minutes.
    assert!(
        page.contains("Start a long self-test (about 1 hour)"),
        "{page}"
    );

    // A drive that refuses: the job fails in smartctl's words.
    smartctl_drive(
        dir.path(),
        &bin,
        "sata-hdd-healthy.json",
        "sata-ssd-healthy-x.json",
        SMARTCTL_X_ATA_REFUSED,
        4,
    );
    let job = posted_job(&app, &mut c, &format!("/api/v1/drives/{id}/smart"), "{}").await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let job = posted_job(&app, &mut c, &abort, "{}").await;
    assert_eq!(job["state"], "failed", "{job}");
    assert_eq!(argvs(&job), [["-X", dev.as_str()]], "{job}");
    assert!(
        job["error"].as_str().unwrap().contains(
            "failed (exit status 4): Sending command: \"Abort SMART off-line mode self-test \
             routine\". Command \"Abort SMART off-line mode self-test routine\" failed: \
             Input/output error"
        ),
        "{job}"
    );

    // smartctl that prints no report: the read fails the job, saying so.
    fake_tool(
        &bin,
        "smartctl",
        "echo 'smartctl: Permission denied'; exit 2",
    );
    let job = posted_job(&app, &mut c, &format!("/api/v1/drives/{id}/smart"), "{}").await;
    assert_eq!(job["state"], "failed", "{job}");
    assert!(
        job["error"].as_str().unwrap().contains("-j -x")
            && job["error"]
                .as_str()
                .unwrap()
                .contains("this is not smartctl JSON output"),
        "{job}"
    );
    assert_eq!(
        job["commands"].as_array().unwrap().len(),
        1,
        "in the job's log: {job}"
    );
}

/// Posts `body` to `path`, runs the job it enqueued, and returns the job
/// as the API shows it.
async fn posted_job<S, B>(app: &TestApp, c: &mut Client<S>, path: &str, body: &str) -> Value
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = c.post_json(path, body).await;
    assert_eq!(r.status, 202, "{path}: {}", r.text());
    let id = r.json()["job_id"].as_i64().unwrap();
    assert!(
        app.runner(std::time::Duration::from_secs(30))
            .run_one()
            .unwrap()
    );
    c.get(&format!("/api/v1/jobs/{id}")).await.json()
}

/// Identify by drive: the job finds the drive's bay by asking the system
/// now and lights it; a drive in no enclosure fails the job with what was
/// looked at, the commands it ran in its log, and no LED touched.
async fn a_drive_is_identified_in_its_bay(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let loose = disk("sdz", "5000c50000000bad");
    let (app, sys, _) = linux_app_on(
        backend,
        dir.path(),
        "sas2-expander",
        std::slice::from_ref(&loose),
    );
    app.observe();
    let mut c = app.client().await;
    c.setup_as_admin().await;
    let drives = c.get("/api/v1/drives").await.json();
    let leds = || -> Vec<String> {
        let class = sys.join("class/enclosure/0:0:15:0");
        let mut all: Vec<String> = std::fs::read_dir(&class)
            .unwrap()
            .flatten()
            .filter(|e| e.path().join("locate").exists())
            .map(|e| std::fs::read_to_string(e.path().join("locate")).unwrap())
            .collect();
        all.sort();
        all
    };
    let before = leds();

    let sdb = by_dev(&drives, "sdb");
    assert_eq!(sdb["bay"]["slot"], 2, "{sdb}");
    let job = led_job(
        &app,
        &mut c,
        &format!("/api/v1/drives/{}/locate", sdb["id"]),
        true,
    )
    .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let slot = sys.join("class/enclosure/0:0:15:0/Slot 02/locate");
    assert_eq!(std::fs::read_to_string(&slot).unwrap(), "1");
    assert!(
        job["steps"][0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("found in slot 2 of 0x5003048001a2b33f; wrote 1 to"),
        "{job}"
    );
    assert_eq!(
        job["resources"].as_array().unwrap().len(),
        2,
        "the drive and its bay: {job}"
    );
    std::fs::write(&slot, "0\n").unwrap();

    let sdz = by_dev(&drives, "sdz");
    assert_eq!(sdz["bay"], Value::Null);
    let job = led_job(
        &app,
        &mut c,
        &format!("/api/v1/drives/{}/locate", sdz["id"]),
        true,
    )
    .await;
    assert_eq!(job["state"], "failed", "{job}");
    let error = job["error"].as_str().unwrap();
    assert!(
        error.contains("/dev/sdz (ST4000NM0023 Z1Zsdz) sits in no enclosure bay")
            && error.contains("none of the 1 enclosure(s) here (LSI SAS2X36 (0:0:15:0))"),
        "{error}"
    );
    let argv: Vec<&Value> = job["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["argv"])
        .collect();
    assert_eq!(argv.len(), 1, "{job}");
    assert_eq!(
        argv[0].as_array().unwrap()[1..],
        ["-J", "-O", "-b"],
        "{job}"
    );
    assert_eq!(leds(), before, "no LED changed");
}

/// Writes the machine's kernel log (as /dev/kmsg reads) and its boot id.
fn kernel_log(dir: &Path, boot: &str, records: &[&str]) {
    std::fs::write(
        dir.join("proc/sys/kernel/random/boot_id"),
        format!("{boot}\n"),
    )
    .unwrap();
    std::fs::write(dir.join("dev/kmsg"), records.join("\n") + "\n").unwrap();
}

/// I/O errors the kernel logged against a drive are counted once each,
/// across observations and agents; they make its verdict a warning, and a
/// new boot's log is read from its start.
async fn errors_the_kernel_logged_count_against_the_drive(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (app, _, bin) = linux_app(backend, dir.path());
    let medium = "3,483,19160811,-;critical medium error, dev sdb, sector 20000 op 0x0:(READ) flags 0x800 phys_seg 1 prio class 2";
    let scsi = "6,482,19160710,-;sd 12:0:0:0: [sdb] tag#88 CDB: Read(10) 28 00 00 00 4e 20 00 00 01 00\n SUBSYSTEM=scsi\n DEVICE=+scsi:12:0:0:0";
    kernel_log(dir.path(), "boot-a", &[scsi, medium]);
    app.observe();
    app.observe();
    let mut c = app.client().await;
    c.setup_as_admin().await;
    let sdb = by_dev(&c.get("/api/v1/drives").await.json(), "sdb");
    assert_eq!(
        (sdb["medium_errors"].clone(), sdb["io_errors"].clone()),
        (1.into(), 0.into()),
        "counted once: {sdb}"
    );
    assert_eq!(sdb["health"], "warning");
    assert_eq!(
        sdb["health_reason"],
        "the kernel logged 1 medium error on it; SMART not read yet"
    );
    assert_eq!(sdb["last_io_error"], medium.split_once(';').unwrap().1);

    // A SMART reading keeps the count in the verdict.
    smartctl_prints(&bin, "sas-hdd-healthy.json");
    let linux =
        baystack::commands::engine(&app.settings, std::sync::Arc::new(app.clock.clone())).unwrap();
    baystack::smart::poll_once(app.db(), linux.as_ref(), 4).unwrap();
    let sdb = by_dev(&c.get("/api/v1/drives").await.json(), "sdb");
    assert_eq!(
        (sdb["health"].as_str(), sdb["health_reason"].as_str()),
        (
            Some("warning"),
            Some("the kernel logged 1 medium error on it")
        )
    );
    let page = c.get(&format!("/drives/{}", sdb["id"])).await.text();
    assert!(
        page.contains("1 medium, 0 other I/O since Baystack began watching it"),
        "{page}"
    );
    assert!(page.contains("sector 20000 op 0x0:(READ)"), "{page}");

    // The next record, an I/O error on another drive. Two agents on this
    // host read the log at once: the one that moves the cursor counts it;
    // the other cannot move it from where both began, and counts nothing.
    let io = "3,484,19170000,-;I/O error, dev sdc, sector 8 op 0x1:(WRITE) flags 0x0 phys_seg 1 prio class 2";
    kernel_log(dir.path(), "boot-a", &[scsi, medium, io]);
    let boot = linux.boot_id().unwrap().unwrap();
    let from = db_smart::kernel_log_cursor(&mut app.db().get().unwrap().conn(), &boot).unwrap();
    assert_eq!(from, Some(484));
    let log = linux.kernel_io_errors(&boot, 484).unwrap();
    assert_eq!((log.next, log.errors.len(), log.lost), (485, 1, 0));
    app.observe();
    let late = app
        .db()
        .get()
        .unwrap()
        .write(|c| db_smart::advance_kernel_log(c, &boot, from, log.next))
        .unwrap();
    assert!(!late, "the cursor had moved on");
    let drives = c.get("/api/v1/drives").await.json();
    assert_eq!(by_dev(&drives, "sdb")["medium_errors"], 1);
    assert_eq!(by_dev(&drives, "sdc")["io_errors"], 1);
    assert_eq!(
        by_dev(&drives, "sdc")["health_reason"],
        "the kernel logged 1 I/O error on it"
    );

    // sdd fails a read and drops off the bus; a new disk is attached as
    // sde and fails one too. Each error is its own disk's.
    let lsblk = dir.path().join("lsblk.json");
    let mut listed: Value =
        serde_json::from_str(&std::fs::read_to_string(&lsblk).unwrap()).unwrap();
    let devices = listed["blockdevices"].as_array_mut().unwrap();
    devices.retain(|d| d["name"] != "sdd");
    devices.push(disk("sde", "5000c50000000e0e"));
    std::fs::write(&lsblk, listed.to_string()).unwrap();
    let gone = "3,485,19180000,-;critical medium error, dev sdd, sector 1 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 2";
    let attach = "5,486,19190000,-;sd 12:0:1:0: [sde] Attached SCSI disk";
    let new = "3,487,19200000,-;timeout error, dev sde, sector 2 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 2";
    kernel_log(dir.path(), "boot-a", &[scsi, medium, io, gone, attach, new]);
    app.observe();
    let drives = c.get("/api/v1/drives").await.json();
    let sdd = drives
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["serial"] == "Z1Zsdd")
        .unwrap();
    assert_eq!(
        (sdd["present"].clone(), sdd["medium_errors"].clone()),
        (false.into(), 1.into()),
        "counted though the drive is gone: {sdd}"
    );
    assert_eq!(by_dev(&drives, "sde")["io_errors"], 1);

    // A new boot: its log is read from its first record.
    let again = "3,2,500,-;critical medium error, dev sdb, sector 7 op 0x0:(READ) flags 0x800 phys_seg 1 prio class 2";
    kernel_log(dir.path(), "boot-b", &[again]);
    app.observe();
    let sdb = by_dev(&c.get("/api/v1/drives").await.json(), "sdb");
    assert_eq!(sdb["medium_errors"], 2, "{sdb}");
    assert!(sdb["last_io_error"].as_str().unwrap().contains("sector 7 "));

    // No boot id: the log is not read out of order, and nothing is counted.
    std::fs::write(dir.path().join("proc/sys/kernel/random/boot_id"), "").unwrap();
    assert!(linux.boot_id().is_err());
    app.observe();
    assert_eq!(
        by_dev(&c.get("/api/v1/drives").await.json(), "sdb")["medium_errors"],
        2
    );
}

/// The drive a list from GET /api/v1/drives has under kernel name `dev`.
fn by_dev(drives: &Value, dev: &str) -> Value {
    drives
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["dev_name"] == dev)
        .unwrap_or_else(|| panic!("no {dev} in {drives}"))
        .clone()
}

both!(
    smart_is_read_now_and_a_test_aborted_with_smartctl,
    errors_the_kernel_logged_count_against_the_drive,
    a_drive_is_identified_in_its_bay,
    self_tests_run_smartctl,
    leds_land_in_the_enclosure_files,
    smart_is_read_with_smartctl,
    old_kernels_fall_back_to_sg_ses,
    without_the_ses_driver_sg_ses_takes_over,
    a_drive_is_placed_by_the_port_its_vpd_page_names,
);

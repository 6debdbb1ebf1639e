//! The `baystack` binary itself: help, check, migrate, users, start-up and
//! the one-line errors it gives instead of panicking.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use baystack::config::DatabaseUrl;
use baystack::db::{self, Db, appliance};

use crate::support::PgDatabase;
use crate::support::wire::{self, free_port};

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_baystack"));
    // The test command's own settings must not leak into these runs.
    for key in [
        "BAYSTACK_LISTEN",
        "BAYSTACK_DATA_DIR",
        "BAYSTACK_DATABASE_URL",
        "BAYSTACK_BACKEND",
        "BAYSTACK_CONFIG",
    ] {
        cmd.env_remove(key);
    }
    cmd
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run baystack")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A one-line error on stderr, a non-zero exit, and no panic.
fn assert_one_line_failure(out: &Output, wanted: &str) {
    let err = text(&out.stderr);
    assert!(!out.status.success(), "should fail: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line, not: {err}");
    assert!(err.contains(wanted), "{wanted:?} not in: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// How many migrations this tree carries.
fn migration_count() -> usize {
    std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .count()
}

fn set_up(url: &DatabaseUrl) {
    let db = Db::open(url).unwrap();
    let mut conn = db.get().unwrap();
    appliance::complete_setup(
        &mut conn,
        &appliance::Setup {
            hostname: "bay01".into(),
            iqn_domain: "example.com".into(),
            iqn_date: "2024-01".into(),
            timezone: "UTC".into(),
            admin_password_hash: baystack::auth::hash_password("correct horse battery"),
        },
        "test",
        db::now(),
    )
    .unwrap();
}

#[test]
fn help_explains_itself() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for word in [
        "serve",
        "agent",
        "migrate",
        "user",
        "check",
        "BAYSTACK_LISTEN",
    ] {
        assert!(help.contains(word), "{word} missing from:\n{help}");
    }
    let out = run(&["serve", "--help"]);
    let help = text(&out.stdout);
    for flag in [
        "--config",
        "--listen",
        "--data-dir",
        "--database",
        "--backend",
        "--no-agent",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
    let out = run(&["user", "add", "--help"]);
    assert!(text(&out.stdout).contains("never from the command line"));
}

#[test]
fn settings_follow_file_then_environment_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("baystack.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:9001\"\n").unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let listen_of = |out: Output| {
        let s = text(&out.stdout);
        s.split("listen ")
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .to_string()
    };
    let cfg = file.to_str().unwrap();
    let out = bin()
        .args(["check", "--config", cfg, "--data-dir", data])
        .output()
        .unwrap();
    assert_eq!(listen_of(out), "127.0.0.1:9001");
    let out = bin()
        .args(["check", "--config", cfg, "--data-dir", data])
        .env("BAYSTACK_LISTEN", "127.0.0.1:9002")
        .output()
        .unwrap();
    assert_eq!(listen_of(out), "127.0.0.1:9002");
    let out = bin()
        .args([
            "check",
            "--config",
            cfg,
            "--data-dir",
            data,
            "--listen",
            "127.0.0.1:9003",
        ])
        .env("BAYSTACK_LISTEN", "127.0.0.1:9002")
        .output()
        .unwrap();
    assert_eq!(listen_of(out), "127.0.0.1:9003");
    let out = bin()
        .args(["check", "--data-dir", data])
        .env("BAYSTACK_CONFIG", cfg)
        .output()
        .unwrap();
    assert_eq!(listen_of(out), "127.0.0.1:9001");
    // A bad value is one clear line.
    let out = run(&["check", "--backend", "zfs"]);
    assert_one_line_failure(&out, "\"sim\" or \"linux\"");
    std::fs::write(&file, "lisen = 1\n").unwrap();
    let out = run(&["check", "--config", cfg]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("lisen"), "{}", text(&out.stderr));
}

#[test]
fn check_passes_for_sim_and_names_missing_tools_for_linux() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = run(&["check", "--data-dir", data]);
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(report.contains("all checks passed"));
    let wanted = format!(
        "new, {} migration(s) will be applied at start",
        migration_count()
    );
    assert!(report.contains(&wanted), "{report}");
    assert!(
        !dir.path().join("baystack.db").exists(),
        "check changes nothing"
    );
    assert!(!report.contains("fleet"), "no fleet registry: {report}");

    // A fleet registry that cannot be reached fails the check, in words
    // and without its password.
    let fleet_cfg = dir.path().join("fleet.toml");
    let port = free_port();
    std::fs::write(
        &fleet_cfg,
        format!("[fleet]\ndatabase = \"postgres://b:secret@127.0.0.1:{port}/fleet\"\n"),
    )
    .unwrap();
    let out = run(&[
        "check",
        "--data-dir",
        data,
        "--config",
        fleet_cfg.to_str().unwrap(),
    ]);
    let report = text(&out.stdout);
    assert!(!out.status.success(), "{report}");
    assert!(
        report.contains("fleet")
            && report.contains("cannot open database postgres://b:***@127.0.0.1"),
        "{report}"
    );
    assert!(!report.contains("secret"), "{report}");

    let empty = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("linux.toml");
    std::fs::write(
        &cfg,
        format!(
            "[linux]\ntool_dirs = [{:?}]\n",
            empty.path().to_str().unwrap()
        ),
    )
    .unwrap();
    let out = run(&[
        "check",
        "--data-dir",
        data,
        "--backend",
        "linux",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    let report = text(&out.stdout);
    assert!(!out.status.success(), "{report}");
    for (tool, package) in [
        ("mdadm", "mdadm"),
        ("lvm", "lvm2"),
        ("smartctl", "smartmontools"),
        ("sg_ses", "sg3-utils"),
    ] {
        let line = report
            .lines()
            .find(|l| l.contains(&format!("tool {tool} ")))
            .unwrap_or_else(|| panic!("no line for {tool}:\n{report}"));
        assert!(line.starts_with("FAIL"), "{line}");
        assert!(
            line.contains(&format!("install the {package} package")),
            "{line}"
        );
    }
    assert!(report.contains("problem(s) found"));
}

#[test]
fn migrate_applies_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = run(&["migrate", "--data-dir", data]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let wanted = format!("applied {} migration(s)", migration_count());
    assert!(text(&out.stdout).contains(&wanted), "{}", text(&out.stdout));
    let out = run(&["migrate", "--data-dir", data]);
    assert!(
        text(&out.stdout).contains("schema is current"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn an_unusable_data_dir_is_one_line_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let inside_file = file.join("data");
    let out = run(&["migrate", "--data-dir", inside_file.to_str().unwrap()]);
    assert_one_line_failure(&out, "data directory");
    let out = run(&[
        "serve",
        "--data-dir",
        inside_file.to_str().unwrap(),
        "--listen",
        "127.0.0.1:1",
    ]);
    assert_one_line_failure(&out, "is not usable");
}

#[test]
fn an_unreachable_database_is_one_line() {
    let out = run(&[
        "serve",
        "--database",
        "postgres://baystack@127.0.0.1:1/nothing",
    ]);
    assert_one_line_failure(
        &out,
        "cannot open database postgres://baystack@127.0.0.1:1/nothing",
    );
}

fn add_future_migration(url: &DatabaseUrl) {
    use diesel::prelude::*;
    let db = Db::open(url).unwrap();
    let mut conn = db.get().unwrap();
    baystack::db_run!(&mut conn.conn(), c => diesel::sql_query(
        "INSERT INTO __diesel_schema_migrations (version) VALUES ('2099-01-01-000000')",
    )
    .execute(c))
    .unwrap();
}

#[test]
fn a_newer_schema_is_refused_in_words_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::Sqlite(dir.path().join("baystack.db"));
    add_future_migration(&url);
    let data = dir.path().to_str().unwrap();
    let out = run(&["serve", "--data-dir", data, "--listen", "127.0.0.1:1"]);
    assert_one_line_failure(&out, "schema version 2099-01-01-000000");
    assert!(text(&out.stderr).contains("upgrade"));
    let out = run(&["check", "--data-dir", data]);
    assert!(!out.status.success());
    assert!(text(&out.stdout).contains("written by a newer baystack"));
}

#[test]
fn a_newer_schema_is_refused_in_words_postgres() {
    let pg = PgDatabase::create();
    let url = DatabaseUrl::Postgres(pg.url.clone());
    add_future_migration(&url);
    let out = run(&["migrate", "--database", &pg.url]);
    assert_one_line_failure(&out, "written by a newer baystack");
}

fn user_add(data: &str, name: &str, role: &str, stdin: &str) -> Output {
    with_stdin(
        &["user", "add", name, "--role", role, "--data-dir", data],
        stdin,
    )
}

fn with_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn users_are_added_with_the_password_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = user_add(data, "ops", "operator", "a long enough one\n");
    assert_one_line_failure(&out, "not set up yet");
    let url = DatabaseUrl::Sqlite(dir.path().join("baystack.db"));
    set_up(&url);
    let out = user_add(data, "ops", "operator", "a long enough one\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("created with the operator role"));
    let out = user_add(data, "ops", "operator", "a long enough one\n");
    assert_one_line_failure(&out, "already exists");
    let out = user_add(data, "eve", "root", "a long enough one\n");
    assert_one_line_failure(&out, "admin, operator or viewer");
    let out = user_add(data, "eve", "viewer", "short\n");
    assert_one_line_failure(&out, "at least 10 characters");

    let db = Db::open(&url).unwrap();
    let user = db::auth::user_by_name(&mut db.get().unwrap().conn(), "ops")
        .unwrap()
        .unwrap();
    assert_eq!(user.role, "operator");
    assert!(baystack::auth::verify_password(
        "a long enough one",
        &user.password_hash
    ));

    let out = with_stdin(
        &["user", "passwd", "ops", "--data-dir", data],
        "another long one
",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let user = db::auth::user_by_name(&mut db.get().unwrap().conn(), "ops")
        .unwrap()
        .unwrap();
    assert!(baystack::auth::verify_password(
        "another long one",
        &user.password_hash
    ));
}

fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

struct Served(std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(data: &Path, port: u16) -> Served {
    Served(
        bin()
            .args([
                "serve",
                "--data-dir",
                data.to_str().unwrap(),
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// The quick start's command, for real: the binary serves, the agent
/// observes the simulated appliance into the database, and a restart keeps
/// the setup, the users' credentials, the drives as observed and the
/// simulated hardware as it was changed (not a new one made in its place).
#[test]
fn serve_answers_and_keeps_its_state_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let port = free_port();
    let mut served = serve(dir.path(), port);
    wire::wait_for_health(port);
    assert!(http_get(port, "/").unwrap().contains("location: /setup"));
    let r = wire::call(
        port,
        "POST",
        "/api/v1/setup",
        &[("content-type", "application/json")],
        crate::support::SETUP_JSON,
    );
    assert!(r.starts_with("HTTP/1.1 201"), "{r}");
    let basic = wire::basic("admin", crate::support::ADMIN_PASSWORD);
    let token = wire::json_body(&wire::call(
        port,
        "POST",
        "/api/v1/tokens",
        &[("authorization", &basic)],
        "",
    ))["token"]
        .as_str()
        .unwrap()
        .to_string();
    let bearer = format!("Bearer {token}");
    // The agent's observation reaches the database.
    let started = Instant::now();
    let drives = loop {
        let d = wire::json_body(&wire::call(
            port,
            "GET",
            "/api/v1/drives",
            &[("authorization", &bearer)],
            "",
        ));
        if d.as_array().is_some_and(|a| !a.is_empty()) {
            break d;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the agent observed nothing"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // Change the simulated hardware: a new appliance made on restart would
    // not have this drive failing.
    let (encl, slot) = (
        drives[0]["bay"]["enclosure"].as_str().unwrap().to_string(),
        drives[0]["bay"]["slot"].as_u64().unwrap().to_string(),
    );
    let out = run(&["sim", "fail-drive", &encl, &slot, "--data-dir", data]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let _ = served.0.kill();
    let _ = served.0.wait();

    let port = free_port();
    let _again = serve(dir.path(), port);
    wire::wait_for_health(port);
    let r = wire::call(
        port,
        "POST",
        "/api/v1/setup",
        &[("content-type", "application/json")],
        crate::support::SETUP_JSON,
    );
    assert!(r.starts_with("HTTP/1.1 409"), "still set up: {r}");
    let sys = wire::json_body(&wire::call(
        port,
        "GET",
        "/api/v1/system",
        &[("authorization", &bearer)],
        "",
    ));
    assert_eq!(sys["hostname"], "bay01", "the token and the setup survived");
    let started = Instant::now();
    loop {
        let after = wire::json_body(&wire::call(
            port,
            "GET",
            "/api/v1/drives",
            &[("authorization", &bearer)],
            "",
        ));
        let same = after
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == drives[0]["id"])
            .unwrap();
        assert_eq!(
            same["serial"], drives[0]["serial"],
            "the same drive under the same id"
        );
        if same["health"] == "failing" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the failed drive came back healthy: {same}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `baystack agent` alone observes the appliance into the database.
#[test]
fn the_agent_alone_observes_into_the_database() {
    use diesel::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::Sqlite(dir.path().join("baystack.db"));
    let _agent = Served(
        bin()
            .args(["agent", "--data-dir", dir.path().to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    loop {
        if let Ok(db) = Db::open(&url) {
            let mut conn = db.get().unwrap();
            let drives: i64 =
                baystack::db_run!(&mut conn.conn(), c => baystack::db::schema::drives::table
                .count()
                .get_result(c))
                .unwrap_or(0);
            if drives == 10 {
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the agent observed nothing"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `baystack bench queue` runs on both databases and reports every row;
/// it refuses a database that holds a configured appliance.
#[test]
fn the_queue_benchmark_runs_and_guards_real_databases() {
    let pg = PgDatabase::create();
    let out = run(&["bench", "queue", "--jobs", "40", "--postgres", &pg.url]);
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}{}", text(&out.stderr));
    for db in ["sqlite", "postgresql"] {
        for workers in ["1", "4", "16"] {
            assert!(
                report.lines().any(|l| {
                    let cols: Vec<&str> = l.split_whitespace().collect();
                    cols.len() == 5 && cols[0] == db && cols[1] == workers && cols[4].ends_with('%')
                }),
                "no {db}/{workers} row in:\n{report}"
            );
        }
    }
    let configured = PgDatabase::create();
    set_up(&DatabaseUrl::Postgres(configured.url.clone()));
    let out = run(&[
        "bench",
        "queue",
        "--jobs",
        "10",
        "--postgres",
        &configured.url,
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("holds a configured appliance"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn parse_prints_what_baystack_reads_and_refuses_what_it_cannot() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let out = run(&[
        "parse",
        "smartctl",
        &format!("{fixtures}/smartctl/nvme-media-errors-x.json"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["health"], "warning");
    assert_eq!(v["reason"], "7 media and data integrity errors");
    let out = run(&[
        "parse",
        "lsblk",
        &format!("{fixtures}/lsblk/qemu-lab-final.json"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["name"], "sda");
    // A text capture given as JSON, a kind it does not know, a missing
    // file: one line each, no panic.
    assert_one_line_failure(
        &run(&["parse", "smartctl", &format!("{fixtures}/lsblk/README.md")]),
        "this is not smartctl JSON output",
    );
    assert_one_line_failure(
        &run(&["parse", "drbd", "/dev/null"]),
        "does not know how to read \"drbd\"",
    );
    assert_one_line_failure(
        &run(&["parse", "lsblk", "/nonexistent/lsblk.json"]),
        "cannot read /nonexistent/lsblk.json",
    );
}

#[test]
fn sim_commands_change_the_simulated_hardware_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let settings = |backend: &str| {
        let mut s = baystack::config::Settings::for_data_dir(dir.path());
        s.backend = baystack::config::BackendKind::parse(backend).unwrap();
        s
    };
    let sim = baystack::storage::sim::SimBackend::open(dir.path(), &settings("sim").sim).unwrap();
    use baystack::storage::Backend;
    let enclosure = sim.inventory().unwrap().enclosures[0].ident.clone();
    let out = run(&[
        "sim",
        "grow",
        &enclosure,
        "0",
        "5",
        "--by",
        "3",
        "--data-dir",
        data,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Reallocated_Sector_Ct"),
        "{}",
        text(&out.stdout)
    );
    let inv = sim.inventory().unwrap();
    let ident = inv.enclosures[0].slots[0].drive.clone().unwrap();
    let drive = inv.drives.iter().find(|d| d.ident == ident).unwrap();
    let reallocated = drive
        .smart
        .as_ref()
        .unwrap()
        .attributes
        .iter()
        .find(|a| a.id == 5)
        .unwrap();
    assert_eq!(reallocated.raw, 3, "seen by another process at once");
    assert_one_line_failure(
        &run(&["sim", "fail-drive", &enclosure, "5", "--data-dir", data]),
        "slot 5 is empty",
    );
    assert_one_line_failure(
        &run(&[
            "sim",
            "fail-drive",
            &enclosure,
            "0",
            "--data-dir",
            data,
            "--backend",
            "linux",
        ]),
        "simulated appliance only",
    );
}

/// `baystack sim` run without the layout the console was started with
/// changes that appliance, and never makes another in its place.
#[test]
fn sim_commands_keep_the_running_appliances_layout() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let mut settings = baystack::config::Settings::for_data_dir(dir.path());
    settings.sim.layout = vec![12, 24];
    let sim = baystack::storage::sim::SimBackend::open(dir.path(), &settings.sim).unwrap();
    use baystack::storage::Backend;
    let before = sim.inventory().unwrap();
    assert_eq!(before.enclosures.len(), 2);
    let jbod = before.enclosures[1].ident.clone();
    let slot = before.enclosures[1]
        .slots
        .iter()
        .find(|s| s.drive.is_some())
        .unwrap()
        .slot;
    // No BAYSTACK_SIM_LAYOUT here: the default layout is one 12-bay unit.
    let out = bin()
        .env_remove("BAYSTACK_SIM_LAYOUT")
        .args([
            "sim",
            "fail-drive",
            &jbod,
            &slot.to_string(),
            "--data-dir",
            data,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let after = sim.inventory().unwrap();
    assert_eq!(after.enclosures.len(), 2, "the JBOD is still there");
    assert_eq!(
        after.drives.len(),
        before.drives.len(),
        "and all its drives"
    );
}

#[test]
fn parse_reads_an_enclosure_tree_as_the_bays_api_lists_it() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let out = run(&[
        "parse",
        "enclosure",
        &format!("{fixtures}/enclosure/jbod-chain"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bays: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let bays = bays.as_array().unwrap();
    assert_eq!(bays.len(), 36, "a 12-bay head unit and a 24-bay JBOD");
    for key in ["enclosure", "slot", "state", "locate", "fault", "drive"] {
        assert!(bays[0].get(key).is_some(), "{key} missing");
    }
    assert!(
        bays.iter()
            .any(|b| b["state"] == "critical" && b["fault"] == true)
    );
    assert_one_line_failure(
        &run(&["parse", "enclosure", &format!("{fixtures}/smartctl")]),
        "holds no enclosure",
    );
    assert_one_line_failure(
        &run(&[
            "parse",
            "enclosure",
            &format!("{fixtures}/smartctl/README.md"),
        ]),
        "is not a directory",
    );
}

/// A tree to read may come from anywhere. What in it leads out of it, a
/// FIFO that would keep the reader waiting, and a bay number that does not
/// fit are each refused in a line on stderr, and the rest is read.
#[test]
fn parse_enclosure_reads_nothing_from_outside_the_tree() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let dir = tempfile::tempdir().unwrap();
    let sys = dir.path().join("sys");
    let copied = Command::new("cp")
        .arg("-a")
        .arg(format!("{fixtures}/enclosure/jbod-chain"))
        .arg(&sys)
        .status()
        .unwrap();
    assert!(copied.success());
    let secret = dir.path().join("shadow");
    std::fs::write(&secret, "root:hunter2-secret:19000\n").unwrap();
    let head = sys.join("class/enclosure/17:0:8:0");
    std::fs::remove_file(head.join("Slot00/status")).unwrap();
    std::os::unix::fs::symlink(&secret, head.join("Slot00/status")).unwrap();
    std::fs::remove_file(head.join("Slot01/status")).unwrap();
    let made = Command::new("mkfifo")
        .arg(head.join("Slot01/status"))
        .status()
        .unwrap();
    assert!(made.success());
    std::fs::write(head.join("Slot02/slot"), "4294967294\n").unwrap();

    // Run with a deadline: a reader that waits on the FIFO fails here.
    let (stdout, stderr) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = bin()
        .args(["parse", "enclosure"])
        .arg(&sys)
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("parse enclosure did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (out, err) = (
        std::fs::read_to_string(stdout).unwrap(),
        std::fs::read_to_string(stderr).unwrap(),
    );
    assert!(status.success(), "{err}");
    assert!(
        !out.contains("hunter2") && !err.contains("hunter2"),
        "{out}{err}"
    );
    for refused in [
        "baystack: enclosure 17:0:8:0: Slot00/status leads to ",
        "baystack: enclosure 17:0:8:0: Slot01/status is a FIFO, not a file, so it was not read",
        "baystack: enclosure 17:0:8:0: Slot02/slot holds \"4294967294\", which is not a bay number",
    ] {
        assert!(err.contains(refused), "{refused:?} not in: {err}");
    }
    let bays: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut places: Vec<(String, u64)> = bays
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["enclosure"].to_string(), b["slot"].as_u64().unwrap()))
        .collect();
    assert_eq!(places.len(), 36);
    places.sort();
    places.dedup();
    assert_eq!(places.len(), 36, "one bay per number");
    assert_eq!(bays[0]["status"], "unknown");

    // Its class/enclosure directory reads as the copy of /sys it is in.
    let out = run(&[
        "parse",
        "enclosure",
        sys.join("class/enclosure").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let again: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again, bays);
    // The same links in a directory of another name lead out of it.
    let elsewhere = sys.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    for entry in std::fs::read_dir(sys.join("class/enclosure")).unwrap() {
        let entry = entry.unwrap();
        let target = std::fs::read_link(entry.path()).unwrap();
        let target = if target.is_relative() {
            sys.join("class/enclosure").join(target)
        } else {
            target
        };
        std::os::unix::fs::symlink(target, elsewhere.join(entry.file_name())).unwrap();
    }
    assert_one_line_failure(
        &run(&["parse", "enclosure", elsewhere.to_str().unwrap()]),
        "links that lead out of it are not followed",
    );
}

#[test]
fn parse_reads_sg_ses_join_output() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let out = run(&[
        "parse",
        "sg_ses",
        &format!("{fixtures}/sg_ses/fixtures/jbod-chain/17_0_25_0.join.txt"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["id"], "0xd5b401503fc0ec16");
    assert_eq!(v["bays"].as_array().unwrap().len(), 24);
    assert_eq!(v["bays"][5]["address"], "--dev-slot-num=5");
    assert_eq!(v["bays"][5]["element"]["status"], "critical");
    assert_one_line_failure(
        &run(&[
            "parse",
            "sg_ses",
            &format!("{fixtures}/sg_ses/fixtures/jbod-chain/17_0_25_0.aes.txt"),
        ]),
        "this is not `sg_ses --join` output",
    );
}

#[test]
fn the_bay_map_benchmark_renders_a_sixty_bay_jbod() {
    let out = run(&[
        "bench",
        "baymap",
        "--enclosures",
        "1",
        "--bays",
        "60",
        "--rounds",
        "2",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.starts_with("bay map of 60 bays, 50 drives: "),
        "{said}"
    );
}

/// The pages benchmark runs whole on a small appliance: the console it
/// starts, nginx and wrk (which the test command installs) beside it.
#[test]
fn the_pages_benchmark_loads_the_console_beside_nginx() {
    let out = run(&[
        "bench",
        "pages",
        "--enclosures",
        "1",
        "--bays",
        "12",
        "--pools",
        "1",
        "--connections",
        "4",
        "--seconds",
        "1",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.starts_with("10 drives, 1 pools; wrk, 4 connections"),
        "{said}"
    );
    for page in ["/ ", "/bays ", "/drives ", "/pools "] {
        assert!(
            said.lines()
                .any(|l| l.starts_with(page) && l.contains("% ")),
            "{page}: {said}"
        );
    }
    assert!(said.contains("10 drives idle "), "{said}");
}

/// CI cannot be talked out of the lints by an inherited SKIP_LINT.
#[test]
fn the_test_command_refuses_skip_lint_under_ci() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/test.sh");
    let out = Command::new("bash")
        .arg(script)
        .env("CI", "true")
        .env("SKIP_LINT", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("SKIP_LINT is set under CI"));
}

#[test]
fn parse_reads_md_raid_and_lvm_status() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let parsed = |kind: &str, file: &str| -> serde_json::Value {
        let out = run(&["parse", kind, &format!("{fixtures}/{file}")]);
        assert!(out.status.success(), "{file}: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let v = parsed("mdstat", "mdstat/r5-recovering.txt");
    assert_eq!(v[1]["name"], "md127");
    assert_eq!(v[1]["level"], "raid5");
    assert_eq!(v[1]["state"], "recovering");
    assert_eq!(v[1]["degraded"], true);
    assert_eq!(v[1]["progress"]["percent"], 3.7);
    assert_eq!(v[1]["progress"]["speed_kib_s"], 3328);
    assert_eq!(v[1]["members"][2]["device"], "vde");
    assert_eq!(v[1]["members"][2]["role"], "journal");
    assert_eq!(v[0]["state"], "clean");

    let v = parsed("mdadm-detail", "mdadm/detail-r5-recovering.txt");
    assert_eq!(v["form"], "detail");
    assert_eq!(v["array"]["md_name"], "r5");
    assert_eq!(v["array"]["state"], "recovering");
    assert_eq!(v["array"]["members"][1]["role"], "rebuilding");
    assert_eq!(v["array"]["members"][1]["slot"], 1);
    // The lab's replace: recovering, not degraded, the new member a
    // replacement in slot 0. A repair is `resync =` in mdstat: no state.
    let v = parsed("mdadm-detail", "mdadm/lab-detail-r1-replacing.txt");
    assert_eq!(v["array"]["state"], "recovering");
    assert_eq!(v["array"]["degraded"], false);
    assert_eq!(v["array"]["members"][1]["role"], "replacement");
    assert_eq!(v["array"]["members"][1]["slot"], 0);
    assert_eq!(v["array"]["mismatch_count"], serde_json::Value::Null);
    let v = parsed("mdstat", "mdstat/lab-r5-repairing.txt");
    assert_eq!(v[0]["state"], serde_json::Value::Null);
    assert_eq!(v[0]["progress"]["percent"], 6.4);
    let v = parsed("mdadm-detail", "mdadm/detail-export-r6-clean.txt");
    assert_eq!(v["form"], "export");
    assert_eq!(v["array"]["uuid"], "5353526e:8bb48ee0:3249dd1a:393d851a");
    assert_eq!(v["array"]["state"], serde_json::Value::Null);

    let v = parsed("lvm", "lvm/fullreport-json.txt");
    assert_eq!(v["report"], "fullreport");
    assert_eq!(v["vgs"][0]["name"], "vg_r5");
    assert_eq!(v["pvs"][1]["vg"], "vg_r6");
    assert_eq!(v["lvs"][0]["name"], "tpool");
    assert_eq!(v["lvs"][0]["metadata_percent"], 10.94);
    let v = parsed("lvm", "lvm/lvs-json-fields.txt");
    assert_eq!(v["report"], "lvs");
    assert_eq!(v["lvs"][2]["name"], "tpool_tdata");
    assert_eq!(v["lvs"][2]["hidden"], true);

    // Another tool's output, or another mdadm mode's: one line, no panic.
    assert_one_line_failure(
        &run(&["parse", "mdstat", &format!("{fixtures}/lvm/vgs-json.txt")]),
        "this is not /proc/mdstat",
    );
    assert_one_line_failure(
        &run(&[
            "parse",
            "mdadm-detail",
            &format!("{fixtures}/mdadm/examine-r5-member.txt"),
        ]),
        "`mdadm --examine` output",
    );
    assert_one_line_failure(
        &run(&["parse", "lvm", &format!("{fixtures}/lvm/lvs-plain.txt")]),
        "this is not LVM JSON output",
    );
}

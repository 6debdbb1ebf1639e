//! The hardening the console was probed for, against the binary itself:
//! sign-in bursts sent in parallel over real connections, resident memory
//! after them, private files, passwords kept out of output, and unlocking a
//! user from the command line.
//!
//! The binary is `BAYSTACK_RELEASE_BIN` when the test command built the
//! release one (it does), otherwise this build's.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use baystack::config::DatabaseUrl;
use baystack::db::{self, Db};

use crate::support::wire::{self, free_port};

const PASSWORD: &str = "correct horse battery";

fn binary() -> String {
    std::env::var("BAYSTACK_RELEASE_BIN")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_baystack").to_string())
}

fn bin() -> Command {
    let mut cmd = Command::new(binary());
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

struct Console {
    child: Child,
    port: u16,
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `POST /api/v1/tokens` with HTTP Basic credentials.
fn token_request(port: u16, user: &str, password: &str) -> String {
    format!(
        "POST /api/v1/tokens HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n",
        wire::basic(user, password)
    )
}

/// Serves a set-up appliance from `data` with `config` as its config file.
fn serve(data: &Path, config: &str) -> Console {
    let config_path = data.join("test.toml");
    std::fs::write(&config_path, config).unwrap();
    let port = free_port();
    let child = bin()
        .args([
            "serve",
            "--config",
            config_path.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let console = Console { child, port };
    wire::wait_for_health(port);
    console
}

fn set_up(data: &Path) -> DatabaseUrl {
    let url = DatabaseUrl::Sqlite(data.join("baystack.db"));
    let db = Db::open(&url).unwrap();
    let mut conn = db.get().unwrap();
    db::appliance::complete_setup(
        &mut conn,
        &db::appliance::Setup {
            hostname: "bay01".into(),
            iqn_domain: "example.com".into(),
            iqn_date: "2024-01".into(),
            timezone: "UTC".into(),
            admin_password_hash: baystack::auth::hash_password(PASSWORD),
        },
        "test",
        db::now(),
    )
    .unwrap();
    url
}

/// Sends every request at once, each on its own connection and thread.
fn burst(port: u16, requests: Vec<String>) -> Vec<u16> {
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(requests.len()));
    let threads: Vec<_> = requests
        .into_iter()
        .map(|r| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                wire::exchange(port, &r).map_or(0, |a| wire::status(&a))
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

#[test]
fn a_parallel_burst_of_guesses_checks_no_more_than_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    set_up(dir.path());
    let console = serve(dir.path(), "");
    let port = console.port;
    let requests = (0..40)
        .map(|i| token_request(port, "admin", &format!("guess number {i}")))
        .collect();
    let statuses = burst(port, requests);
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, refused), (5, 35), "{statuses:?}");
    let right = wire::exchange(port, &token_request(port, "admin", PASSWORD)).unwrap();
    assert_eq!(
        wire::status(&right),
        429,
        "the right password waits too: {right}"
    );
}

fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// 60 sign-ins at once, each a 19 MiB argon2 hash: the hashes run on two
/// threads, each hash's memory mapped for it and given back after, so what
/// stays resident after the burst is not sixty hashes' worth.
#[test]
fn resident_memory_stays_bounded_after_a_burst_of_sign_ins() {
    let dir = tempfile::tempdir().unwrap();
    set_up(dir.path());
    let console = serve(
        dir.path(),
        "[security]\nlogin_failures_per_user = 1000\nlogin_failures_per_address = 1000\n\
         login_failures_per_user_any_address = 1000\n",
    );
    let port = console.port;
    let before = resident_kib(console.child.id());
    for round in 0..2 {
        let requests = (0..60)
            .map(|i| {
                let pw = if i % 2 == 0 {
                    PASSWORD.to_string()
                } else {
                    format!("wrong {round} {i}")
                };
                token_request(port, "admin", &pw)
            })
            .collect();
        let statuses = burst(port, requests);
        assert!(
            statuses.iter().all(|s| *s == 201 || *s == 401),
            "every sign-in was checked: {statuses:?}"
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    let after = resident_kib(console.child.id());
    eprintln!(
        "resident before {} KiB, after 120 sign-ins {} KiB",
        before, after
    );
    assert!(after < 100 * 1024, "{after} KiB resident after the burst");
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The data directory 0700 and its files 0600, also when an older version
/// left them open.
#[test]
fn the_data_directory_and_database_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let console = serve_fresh(&data);
    assert_eq!(mode(&data), 0o700);
    for file in [
        "baystack.db",
        "baystack.db-wal",
        "baystack.db-shm",
        "sim-appliance.json",
    ] {
        let path = data.join(file);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{file}");
        }
    }
    assert_eq!(mode(&data.join("baystack.db")), 0o600);
    drop(console);

    // As an older Baystack left them: the next start closes them.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        data.join("baystack.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let _console = serve_fresh(&data);
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("baystack.db")), 0o600);
}

/// Serves from a data directory that starts open (0755), as a default
/// umask would make it.
fn serve_fresh(data: &Path) -> Console {
    std::fs::create_dir_all(data).unwrap();
    std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o755)).unwrap();
    serve(data, "")
}

#[test]
fn database_passwords_never_reach_the_output() {
    for url in [
        "postgres://u@127.0.0.1:1/x?password=s3cret",
        "postgres://u:s3cret@127.0.0.1:1/x",
        "postgresql://u@127.0.0.1:1/x?sslmode=disable&pass%77ord=s3cret",
    ] {
        for args in [
            vec!["check", "--database", url],
            vec!["serve", "--database", url],
        ] {
            let out = bin()
                .args(&args)
                .env("BAYSTACK_LOG", "debug")
                .output()
                .unwrap();
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(!all.contains("s3cret"), "{args:?}: {all}");
            assert!(all.contains("***"), "{args:?} names the database: {all}");
        }
    }
}

#[test]
fn user_unlock_forgets_the_failed_sign_ins() {
    let dir = tempfile::tempdir().unwrap();
    let url = set_up(dir.path());
    let db = Db::open(&url).unwrap();
    let limits = db::auth::Limits {
        per_pair: 5,
        per_address: 20,
        per_user: 20,
        window: chrono::Duration::minutes(15),
    };
    let mut conn = db.get().unwrap();
    for _ in 0..5 {
        let admitted = conn
            .write(|c| db::auth::admit(c, "admin", "127.0.0.1", limits, db::now()))
            .unwrap();
        assert_eq!(admitted, Ok(()));
    }
    let refused = conn
        .write(|c| db::auth::admit(c, "admin", "127.0.0.1", limits, db::now()))
        .unwrap();
    assert!(refused.is_err());
    let data = dir.path().to_str().unwrap();
    let out = bin()
        .args(["user", "unlock", "admin", "--data-dir", data])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("admin is unlocked"));
    let admitted = conn
        .write(|c| db::auth::admit(c, "admin", "127.0.0.1", limits, db::now()))
        .unwrap();
    assert_eq!(admitted, Ok(()), "admitted again after the unlock");
    let out = bin()
        .args(["user", "unlock", "nobody", "--data-dir", data])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no user named"));
    let audit = db::audit::list(
        &mut conn.conn(),
        &db::audit::Filter {
            action: Some("user.unlock".into()),
            limit: 10,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(audit.len(), 1);
}

/// The answers actix's own parser gives before any of the console's code
/// runs (a request it cannot read, a head too large) carry the console's
/// security headers like every other answer.
#[test]
fn the_parsers_own_refusals_carry_the_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    let console = serve(dir.path(), "");
    let port = console.port;
    let many: String = (0..200).map(|i| format!("X-H{i}: 1\r\n")).collect();
    for (what, request, wanted) in [
        (
            "a request line it cannot read",
            "GARBAGE\r\n\r\n".to_string(),
            400,
        ),
        (
            "a head too large",
            format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{many}\r\n"),
            431,
        ),
    ] {
        let answer = wire::exchange(port, &request).unwrap_or_default();
        assert_eq!(wire::status(&answer), wanted, "{what}: {answer}");
        let head = answer.to_ascii_lowercase();
        for header in [
            "content-security-policy: default-src 'self'",
            "x-content-type-options: nosniff",
            "x-frame-options: deny",
            "referrer-policy: same-origin",
        ] {
            assert!(head.contains(header), "{what} lacks {header}: {answer}");
        }
    }
    // And the console's own answers are as they were.
    let ok = wire::call(port, "GET", "/healthz", &[], "");
    assert_eq!(wire::status(&ok), 200);
    assert_eq!(
        ok.to_ascii_lowercase()
            .matches("content-security-policy")
            .count(),
        1
    );
}

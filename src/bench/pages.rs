//! `baystack bench pages`: the ordinary pages of a big simulated appliance
//! served by the console, beside nginx sending the same bytes from files,
//! both loaded by `wrk` at the same number of connections; the `304`s of
//! unchanged pages; and the console's resident memory after start and
//! after the load, beside one with a single 12-bay enclosure.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::made_pools;
use crate::config::Settings;
use crate::db::{self, appliance};

/// The pages measured: their path, and the file nginx sends for them.
pub const PAGES: &[(&str, &str)] = &[
    ("/", "dashboard.html"),
    ("/bays", "bays.html"),
    ("/drives", "drives.html"),
    ("/pools", "pools.html"),
];

const PASSWORD: &str = "a long bench password";

/// What `wrk` saw of one page from one server.
#[derive(Debug, Clone, Default)]
pub struct Load {
    pub per_second: f64,
    pub p99_ms: f64,
}

/// One page, from both servers.
#[derive(Debug, Clone)]
pub struct PageRow {
    pub path: &'static str,
    pub bytes: usize,
    pub console: Load,
    pub nginx: Load,
    /// The console asked again with the page's ETag: always 304.
    pub not_modified: Load,
}

/// Resident memory of a console process, KiB: all of it, and the part
/// that is its own (not program text and libraries mapped from files);
/// the least, the median and the most seen while it was watched.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    pub rss_kib: (u64, u64, u64),
    pub anon_kib: (u64, u64, u64),
}

#[derive(Debug, Clone)]
pub struct PagesReport {
    pub drives: usize,
    pub pools: usize,
    pub connections: usize,
    pub seconds: f64,
    pub rows: Vec<PageRow>,
    /// The console with one 12-bay enclosure, observed and idle.
    pub small: Memory,
    pub small_drives: usize,
    /// The big one, observed and idle, then right after the load.
    pub started: Memory,
    pub loaded: Memory,
}

impl PagesReport {
    /// What each drive adds to an idle console, KiB.
    pub fn per_drive_kib(&self) -> f64 {
        (self.started.anon_kib.1 as f64 - self.small.anon_kib.1 as f64)
            / (self.drives.saturating_sub(self.small_drives).max(1)) as f64
    }
}

/// A process that is stopped when dropped: asked with SIGTERM, so that
/// nginx's master stops its workers too (killed, it leaves them running),
/// and killed if it has not stopped within five seconds.
pub(super) struct Running(pub(super) Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.0.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(super) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The memory of process `pid`, watched for `watch` (longer than the
/// agent's interval, so that its looks are among what is seen).
fn memory(pid: u32, watch: Duration) -> anyhow::Result<Memory> {
    let (mut rss, mut anon) = (Vec::new(), Vec::new());
    let started = Instant::now();
    while started.elapsed() < watch {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let field = |name: &str| -> anyhow::Result<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .with_context(|| format!("no {name} in /proc/{pid}/status"))
        };
        rss.push(field("VmRSS:")?);
        anon.push(field("RssAnon:")?);
        std::thread::sleep(Duration::from_millis(100));
    }
    let span = |v: &mut Vec<u64>| {
        v.sort_unstable();
        (
            v.first().copied().unwrap_or(0),
            v.get(v.len() / 2).copied().unwrap_or(0),
            v.last().copied().unwrap_or(0),
        )
    };
    Ok(Memory {
        rss_kib: span(&mut rss),
        anon_kib: span(&mut anon),
    })
}

/// A console (`baystack serve`) on the appliance in `dir`, set up with
/// an admin whose password is [`PASSWORD`], once it answers.
fn console(exe: &Path, dir: &Path, layout: &[u32]) -> anyhow::Result<(Running, String)> {
    let port = free_port()?;
    let layout: Vec<String> = layout.iter().map(u32::to_string).collect();
    let config = dir.join("baystack.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\n[sim]\nspeed = 1000.0\nlayout = [{}]\n",
            dir.display(),
            layout.join(", ")
        ),
    )?;
    let child = Command::new(exe)
        .args(["serve", "--config"])
        .arg(&config)
        .env("BAYSTACK_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    let running = Running(child);
    let base = format!("http://127.0.0.1:{port}");
    answering(&base)?;
    Ok((running, base))
}

/// Waits up to 20 s for the console at `base` to answer `/healthz`.
pub(super) fn answering(base: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while ureq::get(&format!("{base}/healthz")).call().is_err() {
        if Instant::now() > deadline {
            bail!("the console did not answer on {base}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Signs in as the admin: the session cookie (`name=value`).
fn sign_in(base: &str) -> anyhow::Result<String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let cookie = |r: &ureq::http::Response<ureq::Body>, name: &str| -> Option<String> {
        r.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_string)
    };
    let mut page = agent.get(&format!("{base}/login")).call()?;
    let pre = cookie(&page, "baystack_csrf").context("the login page set no CSRF cookie")?;
    let token = pre
        .split_once('=')
        .map(|(_, v)| v.to_string())
        .unwrap_or_default();
    page.body_mut().read_to_string()?;
    let r = agent
        .post(&format!("{base}/login"))
        .header("cookie", &pre)
        .send_form([
            ("csrf_token", token.as_str()),
            ("username", appliance::FIRST_ADMIN),
            ("password", PASSWORD),
        ])?;
    cookie(&r, "baystack_session")
        .with_context(|| format!("signing in was answered {}", r.status()))
}

fn get(
    base: &str,
    path: &str,
    cookie: &str,
    etag: Option<&str>,
) -> anyhow::Result<(u16, String, Vec<u8>)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut req = agent.get(&format!("{base}{path}")).header("cookie", cookie);
    if let Some(e) = etag {
        req = req.header("if-none-match", e);
    }
    let mut r = req.call()?;
    let etag = r
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    Ok((
        r.status().as_u16(),
        etag,
        r.body_mut().with_config().limit(64 << 20).read_to_vec()?,
    ))
}

/// The ETag of `path` once the console answers `304` to it: the page may
/// change between two requests (a pool's resync moves on), so it is asked
/// again a few times.
fn unchanged(base: &str, path: &str, cookie: &str, mut etag: String) -> anyhow::Result<String> {
    for _ in 0..5 {
        let (status, now, _) = get(base, path, cookie, Some(&etag))?;
        match status {
            304 => return Ok(etag),
            200 => etag = now,
            _ => bail!("{path} asked again with its ETag was answered {status}"),
        }
    }
    bail!("{path} asked again with its ETag was never answered 304")
}

/// `wrk` against `url` with `connections` connections for `seconds`.
fn wrk(url: &str, headers: &[String], connections: usize, seconds: f64) -> anyhow::Result<Load> {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t2", &format!("-c{connections}")])
        .arg(format!("-d{}s", seconds.ceil() as u64))
        .args(["--latency", "--timeout", "10s"]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd
        .arg(url)
        .output()
        .context("running wrk (the test command installs it: apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    }
    parse_wrk(&text).with_context(|| format!("reading wrk's report:\n{text}"))
}

/// Requests per second and the 99th percentile latency from `wrk
/// --latency`; an answer other than 2xx or 3xx is an error.
pub fn parse_wrk(text: &str) -> anyhow::Result<Load> {
    if let Some(line) = text
        .lines()
        .find(|l| l.contains("Non-2xx or 3xx responses"))
    {
        bail!("some answers were errors: {}", line.trim());
    }
    if let Some(line) = text
        .lines()
        .find(|l| l.trim_start().starts_with("Socket errors"))
    {
        bail!("the connections failed: {}", line.trim());
    }
    let per_second = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .context("no Requests/sec")?;
    let p99 = text
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("99%"))
        .map(str::trim)
        .context("no 99% latency (was --latency given?)")?;
    let split = p99
        .find(|c: char| c.is_ascii_alphabetic())
        .context("a latency without a unit")?;
    let (n, unit) = p99.split_at(split);
    let n: f64 = n.trim().parse().context("a latency that is not a number")?;
    let p99_ms = match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => bail!("a latency in {unit:?}"),
    };
    if per_second <= 0.0 {
        bail!("no request was answered");
    }
    Ok(Load { per_second, p99_ms })
}

/// nginx serving the files in `root` on a port of its own.
fn nginx(dir: &Path, root: &Path) -> anyhow::Result<(Running, u16)> {
    let port = free_port()?;
    let config = dir.join("nginx.conf");
    std::fs::write(
        &config,
        format!(
            "user root;\nworker_processes auto;\ndaemon off;\npid {dir}/nginx.pid;\n\
             error_log {dir}/nginx-error.log;\nevents {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 1000000;\n\
             client_body_temp_path {dir}/tmp;\n  proxy_temp_path {dir}/tmp;\n  fastcgi_temp_path {dir}/tmp;\n\
             uwsgi_temp_path {dir}/tmp;\n  scgi_temp_path {dir}/tmp;\n  default_type text/html;\n\
             server {{ listen 127.0.0.1:{port}; root {root}; }}\n}}\n",
            dir = dir.display(),
            root = root.display()
        ),
    )?;
    std::fs::create_dir_all(dir.join("tmp"))?;
    let child = Command::new(which("nginx")?)
        .args(["-e", &format!("{}/nginx-error.log", dir.display())])
        .arg("-c")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting nginx")?;
    let running = Running(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join("nginx-error.log")).unwrap_or_default();
            bail!("nginx did not listen on {port}: {log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((running, port))
}

fn which(name: &str) -> anyhow::Result<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
        .with_context(|| format!("{name} is not installed (the test command installs it: apt-get install nginx-light)"))
}

/// Waits until the console's agent has observed the appliance.
fn observed(base: &str, cookie: &str, drives: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, _, body) = get(base, "/api/v1/drives", cookie, None)?;
        let seen: usize = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                v.as_array()
                    .map(|a| a.iter().filter(|d| d["present"] == true).count())
            })
            .unwrap_or(0);
        if status == 200 && seen >= drives {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the console's agent saw {seen} of {drives} drives");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Makes the appliance in `dir`: observed, `pools` pools made by their
/// jobs, set up with the bench's admin. Returns the drives present.
fn appliance_in(dir: &Path, layout: &[u32], pools: usize) -> anyhow::Result<usize> {
    let mut settings = Settings::for_data_dir(dir);
    settings.sim.layout = layout.to_vec();
    settings.sim.speed = 100_000.0;
    let made = made_pools(&settings, pools)?;
    appliance::complete_setup(
        &mut made.db.get()?,
        &appliance::Setup {
            hostname: "bench00".into(),
            iqn_domain: "example.com".into(),
            iqn_date: "2024-01".into(),
            timezone: "UTC".into(),
            admin_password_hash: crate::auth::hash_password(PASSWORD),
        },
        "bench",
        db::now(),
    )?;
    let drives = crate::db::inventory::drives(&mut made.db.get()?.conn())?
        .iter()
        .filter(|(d, _)| d.present)
        .count();
    Ok(drives)
}

/// `baystack bench pages`: see the module's comment. `exe` is the
/// `baystack` binary to start as the console.
pub fn pages(
    scratch: &Path,
    exe: &Path,
    layout: &[u32],
    pools: usize,
    connections: usize,
    seconds: f64,
) -> anyhow::Result<PagesReport> {
    // A started console settles (its timers, the agent's first looks)
    // before its memory is watched; both scale with the load's length. At
    // full length the watch is longer than the agent's interval and the
    // console's half-minute tidy, so a look and what follows are in it.
    let settle = Duration::from_secs_f64(seconds.clamp(1.0, 5.0));
    let watch = Duration::from_secs_f64((seconds * 5.0).clamp(1.0, 40.0));
    // The small appliance first, for what a drive costs.
    let small_dir = scratch.join("small");
    std::fs::create_dir_all(&small_dir)?;
    let small_drives = appliance_in(&small_dir, &[12], 0)?;
    let small = {
        let (console, base) = console(exe, &small_dir, &[12])?;
        let cookie = sign_in(&base)?;
        observed(&base, &cookie, small_drives)?;
        std::thread::sleep(settle);
        memory(console.0.id(), watch)?
    };

    let dir = scratch.join("big");
    std::fs::create_dir_all(&dir)?;
    let drives = appliance_in(&dir, layout, pools)?;
    let (console, base) = console(exe, &dir, layout)?;
    let cookie = sign_in(&base)?;
    observed(&base, &cookie, drives)?;
    std::thread::sleep(settle);
    let started = memory(console.0.id(), watch)?;

    // The same bytes for nginx.
    let root = scratch.join("www");
    std::fs::create_dir_all(&root)?;
    let mut pages = Vec::new();
    for (path, file) in PAGES {
        let (status, etag, body) = get(&base, path, &cookie, None)?;
        if status != 200 || etag.is_empty() {
            bail!("{path} was answered {status} (ETag {etag:?})");
        }
        std::fs::write(root.join(file), &body)?;
        pages.push((*path, *file, etag, body.len()));
    }
    let (_nginx, port) = nginx(scratch, &root)?;
    let cookie_header = vec![format!("Cookie: {cookie}")];
    let mut rows = Vec::new();
    for (path, file, etag, bytes) in pages {
        let (status, _, body) = get(
            &format!("http://127.0.0.1:{port}"),
            &format!("/{file}"),
            "",
            None,
        )?;
        if status != 200 || body.len() != bytes {
            bail!(
                "nginx sent {} bytes of {file} ({status}), not {bytes}",
                body.len()
            );
        }
        let etag = unchanged(&base, path, &cookie, etag)?;
        let console = wrk(
            &format!("{base}{path}"),
            &cookie_header,
            connections,
            seconds,
        )?;
        let nginx = wrk(
            &format!("http://127.0.0.1:{port}/{file}"),
            &[],
            connections,
            seconds,
        )?;
        let mut with_etag = cookie_header.clone();
        with_etag.push(format!("If-None-Match: {etag}"));
        let not_modified = wrk(
            &format!("{base}{path}"),
            &with_etag,
            connections,
            seconds / 2.0,
        )?;
        rows.push(PageRow {
            path,
            bytes,
            console,
            nginx,
            not_modified,
        });
    }
    let loaded = memory(console.0.id(), watch)?;
    let pools = crate::db::pools::list(
        &mut crate::db::Db::open(&Settings::for_data_dir(&dir).database)?
            .get()?
            .conn(),
    )?
    .len();
    Ok(PagesReport {
        drives,
        pools,
        connections,
        seconds,
        rows,
        small,
        small_drives,
        started,
        loaded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_reports_are_read_with_their_units_and_errors_refused() {
        let report = "Running 2s test @ http://127.0.0.1:1/\n  2 threads and 8 connections\n  \
            Latency Distribution\n     50%  216.00us\n     75%  310.00us\n     90%    1.24ms\n     \
            99%    5.07ms\n  62482 requests in 2.10s, 27.23MB read\nRequests/sec:  29745.91\n";
        let l = parse_wrk(report).unwrap();
        assert_eq!(l.per_second, 29745.91);
        assert_eq!(l.p99_ms, 5.07);
        let us = report.replace("5.07ms", "812.00us");
        assert!((parse_wrk(&us).unwrap().p99_ms - 0.812).abs() < 1e-9);
        let s = report.replace("5.07ms", "1.50s");
        assert_eq!(parse_wrk(&s).unwrap().p99_ms, 1500.0);
        let bad = format!("{report}  Non-2xx or 3xx responses: 12\n");
        assert!(parse_wrk(&bad).unwrap_err().to_string().contains("errors"));
        let failed = format!("{report}  Socket errors: connect 0, read 3, write 0, timeout 0\n");
        assert!(parse_wrk(&failed).is_err());
        assert!(parse_wrk(&report.replace("Requests/sec:  29745.91\n", "")).is_err());
        assert!(parse_wrk(&report.replace("99%    5.07ms", "99%    5.07xs")).is_err());
        assert!(parse_wrk(&report.replace("99%", "98%")).is_err());
        assert!(parse_wrk(&report.replace("29745.91", "0.00")).is_err());
    }
}

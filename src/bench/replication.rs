//! `baystack bench replication`: two consoles (this binary, started apart,
//! on `sim`) paired over loopback. A thin volume is filled and replicated:
//! its first point (in full), then a point after 1% of its blocks changed,
//! each beside a plain copy of the same number of bytes in the same run
//! (read from a file, sent over a loopback TCP socket, written to a file
//! and synced: what `dd | nc | dd conv=fdatasync` does). Then the lag of a
//! volume written at 1% of its size a minute, replicated over a link held
//! to 100 Mbit/s, sampled from the source's database.
//!
//! `baystack bench thin-delta`: the real `thin_delta` (and Baystack's parser
//! of what it prints) on thin metadata restored by `thin_restore` from a
//! description of two devices of 100 GiB of 64 KiB blocks that differ in 1%
//! of them.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::pages::{Running, answering, free_port};
use crate::config::{CliOverrides, Settings};
use crate::db::Db;

const PASSWORD: &str = "a long bench password";
/// A thin pool's block, the unit of what changes.
const BLOCK: u64 = 64 << 10;

/// Bytes moved in a time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rate {
    pub bytes: u64,
    pub seconds: f64,
}

impl Rate {
    pub fn per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.bytes as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// How old the replica's last point was while a volume was written.
#[derive(Debug, Clone, Default)]
pub struct Lag {
    pub size: u64,
    pub interval_s: i64,
    pub seconds: f64,
    pub written: u64,
    pub points: usize,
    pub samples: usize,
    pub median_s: f64,
    pub max_s: f64,
}

#[derive(Debug, Clone, Default)]
pub struct ReplicationReport {
    pub size: u64,
    /// The page cache was dropped before each measurement.
    pub cold: bool,
    pub initial: Rate,
    pub initial_copy: Rate,
    pub delta: Rate,
    pub delta_points: usize,
    pub delta_copy: Rate,
    pub lag: Lag,
}

/// One of the two appliances: its console, its API token, its settings
/// (for the simulated host's writes) and its database (for the transfers'
/// own times).
struct Appliance {
    _console: Running,
    base: String,
    token: String,
    settings: Settings,
    db: Db,
    channel: u16,
}

impl Appliance {
    fn start(exe: &Path, dir: &Path, hostname: &str) -> anyhow::Result<Appliance> {
        std::fs::create_dir_all(dir)?;
        let (port, channel) = (free_port()?, free_port()?);
        let config = dir.join("baystack.toml");
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\nbackend = \"sim\"\n\
                 [agent]\nobserve_interval_seconds = 1\n[sim]\nspeed = 5000.0\n\
                 [replication]\nlisten = \"127.0.0.1:{channel}\"\naddress = \"127.0.0.1:{channel}\"\n",
                dir.join("data").display()
            ),
        )?;
        let settings = Settings::load(Some(&config), &CliOverrides::default())?;
        let console = Running(
            Command::new(exe)
                .args(["serve", "--config"])
                .arg(&config)
                .env("BAYSTACK_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.join("console.log"))?)
                .spawn()
                .with_context(|| format!("starting {}", exe.display()))?,
        );
        let base = format!("http://127.0.0.1:{port}");
        answering(&base)?;
        let mut a = Appliance {
            _console: console,
            base,
            token: String::new(),
            db: Db::open(&settings.database)?,
            settings,
            channel,
        };
        let (status, body) = a.call(
            "POST",
            "/api/v1/setup",
            Some(json!({
                "admin_password": PASSWORD, "hostname": hostname, "iqn_domain": "example.com",
                "iqn_date": "2024-01", "timezone": "UTC",
            })),
        )?;
        if status != 201 {
            bail!("setting up {hostname} was answered {status}: {body}");
        }
        let mut r = agent()
            .post(&format!("{}/api/v1/tokens", a.base))
            .header(
                "authorization",
                &format!(
                    "Basic {}",
                    base64::Engine::encode(
                        &base64::engine::general_purpose::STANDARD,
                        format!("admin:{PASSWORD}")
                    )
                ),
            )
            .send_empty()?;
        let body: Value = serde_json::from_str(&r.body_mut().read_to_string()?)?;
        a.token = body["token"]
            .as_str()
            .with_context(|| format!("no API token: {body}"))?
            .to_string();
        // A raid1 of the first two healthy drives, once the agent has seen
        // them.
        let mut drives = Vec::new();
        for _ in 0..200 {
            drives = a
                .get("/api/v1/drives")?
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|d| d["health"] == "healthy" && d["present"] == true)
                .filter_map(|d| d["serial"].as_str().map(str::to_string))
                .collect();
            if drives.len() >= 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if drives.len() < 2 {
            bail!("{hostname}'s agent saw fewer than two healthy drives");
        }
        a.job(
            "POST",
            "/api/v1/pools",
            json!({"name": "tank", "level": "raid1", "drives": &drives[..2], "write_hole": "none"}),
        )?;
        a.until(60, "the pool's capacity", |a| {
            Ok(!a.get("/api/v1/pools/tank")?["capacity"].is_null())
        })?;
        Ok(a)
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<(u16, Value)> {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {}", self.token);
        let mut r = match (method, body) {
            ("GET", _) => agent().get(&url).header("authorization", &auth).call()?,
            ("DELETE", _) => agent().delete(&url).header("authorization", &auth).call()?,
            (_, body) => agent()
                .post(&url)
                .header("authorization", &auth)
                .header("content-type", "application/json")
                .send(body.unwrap_or(Value::Null).to_string())?,
        };
        let text = r.body_mut().read_to_string()?;
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).with_context(|| format!("{method} {path}: {text}"))?
        };
        Ok((r.status().as_u16(), value))
    }

    fn get(&self, path: &str) -> anyhow::Result<Value> {
        let (status, body) = self.call("GET", path, None)?;
        if status != 200 {
            bail!("GET {path} was answered {status}: {body}");
        }
        Ok(body)
    }

    /// Asks for a job and waits for it to succeed.
    fn job(&self, method: &str, path: &str, body: Value) -> anyhow::Result<Value> {
        let (status, answer) = self.call(method, path, Some(body))?;
        let id = answer["job_id"]
            .as_i64()
            .with_context(|| format!("{method} {path} was answered {status}: {answer}"))?;
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let job = self.get(&format!("/api/v1/jobs/{id}"))?;
            match job["state"].as_str() {
                Some("succeeded") => return Ok(job),
                Some("failed" | "cancelled") => bail!("{method} {path}: {job}"),
                _ if Instant::now() > deadline => bail!("{method} {path}: not done: {job}"),
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    fn until(
        &self,
        seconds: u64,
        what: &str,
        mut ok: impl FnMut(&Appliance) -> anyhow::Result<bool>,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        while !ok(self)? {
            if Instant::now() > deadline {
                bail!("{what}: not within {seconds} s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// A simulated host writes `data` to `volume` at `at`.
    fn write(&self, volume: &str, at: u64, data: &[u8]) -> anyhow::Result<()> {
        crate::commands::open_sim(&self.settings)?.write_bytes(volume, at, data)?;
        Ok(())
    }

    /// The finished transfers of `volume` with a point after `after`,
    /// oldest first.
    fn transfers(
        &self,
        volume: &str,
        after: i64,
    ) -> anyhow::Result<Vec<crate::db::replication::TransferRow>> {
        let mut rows: Vec<_> =
            crate::db::replication::transfers(&mut self.db.get()?.conn(), volume, 200)?
                .into_iter()
                .filter(|t| t.seq > after && t.result == "ok")
                .collect();
        rows.reverse();
        Ok(rows)
    }

    fn replication(&self, volume: &str) -> anyhow::Result<crate::db::replication::ReplicationRow> {
        crate::db::replication::get(&mut self.db.get()?.conn(), volume)?
            .with_context(|| format!("{volume} is not replicated"))
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

/// Bytes that do not compress: xorshift64 from `seed`.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes back and drops the page cache, so that what is read next comes
/// from the disk for the replication and the copy alike (root only):
/// whether it could.
fn cold() -> bool {
    nix::unistd::sync();
    std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

/// The sum of transfers: the bytes they carried and their time from the
/// point's start to the replica's commit.
fn sum(transfers: &[crate::db::replication::TransferRow]) -> Rate {
    transfers.iter().fold(Rate::default(), |r, t| Rate {
        bytes: r.bytes + u64::try_from(t.data_bytes).unwrap_or(0),
        seconds: r.seconds
            + t.finished_at
                .map(|f| (f - t.started_at).num_microseconds().unwrap_or(0) as f64 / 1e6)
                .unwrap_or(0.0),
    })
}

/// A plain copy of `bytes` bytes: written to a file first (so it is read
/// from the page cache, as the simulator's volume is), then read in 1 MiB
/// pieces, sent over a loopback TCP socket, written to another file and
/// synced. Timed from the first read to the sync's return.
fn plain_copy(dir: &Path, bytes: u64) -> anyhow::Result<Rate> {
    let (from, to) = (dir.join("copy-from"), dir.join("copy-to"));
    {
        let mut f = std::fs::File::create(&from)?;
        let mut left = bytes;
        let mut seed = 7;
        while left > 0 {
            let n = left.min(64 << 20);
            f.write_all(&noise(n as usize, seed))?;
            left -= n;
            seed += 1;
        }
        f.sync_all()?;
    }
    cold();
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    let target = to.clone();
    let receiver = std::thread::spawn(move || -> std::io::Result<u64> {
        let (mut sock, _) = listener.accept()?;
        let mut out = std::fs::File::create(&target)?;
        let n = std::io::copy(&mut sock, &mut out)?;
        out.sync_data()?;
        Ok(n)
    });
    let started = Instant::now();
    let mut sock = TcpStream::connect(address)?;
    let mut input = std::fs::File::open(&from)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        sock.write_all(&buf[..n])?;
    }
    drop(sock);
    let received = receiver
        .join()
        .map_err(|_| anyhow::anyhow!("the copy's receiver panicked"))??;
    let seconds = started.elapsed().as_secs_f64();
    if received != bytes {
        bail!("the plain copy received {received} of {bytes} bytes");
    }
    std::fs::remove_file(&from)?;
    std::fs::remove_file(&to)?;
    Ok(Rate { bytes, seconds })
}

/// Waits for a finished transfer of `volume` whose point was taken after
/// `since`; returns every finished one after point `after`.
fn shipped_after(
    a: &Appliance,
    volume: &str,
    after: i64,
    since: chrono::NaiveDateTime,
    seconds: u64,
) -> anyhow::Result<Vec<crate::db::replication::TransferRow>> {
    let mut found = Vec::new();
    a.until(seconds, &format!("a point of {volume} shipped"), |a| {
        found = a.transfers(volume, after)?;
        Ok(found.iter().any(|t| t.started_at > since))
    })?;
    Ok(found)
}

/// `baystack bench replication`: see the module's comment. `size` is the
/// first volume's, `lag_size` the second's, written for `lag_seconds`.
pub fn replication(
    scratch: &Path,
    exe: &Path,
    size: u64,
    lag_size: u64,
    lag_seconds: f64,
    interval_s: i64,
) -> anyhow::Result<ReplicationReport> {
    let size = size / BLOCK * BLOCK;
    let a = Appliance::start(exe, &scratch.join("a"), "bench-a")?;
    let b = Appliance::start(exe, &scratch.join("b"), "bench-b")?;
    let (_, code) = b.call(
        "POST",
        "/api/v1/peers/pairing-code",
        Some(json!({"address": format!("127.0.0.1:{}", b.channel)})),
    )?;
    let code = code["code"]
        .as_str()
        .with_context(|| format!("no pairing code: {code}"))?;
    a.job("POST", "/api/v1/peers", json!({ "code": code }))?;

    // The first volume, filled, and its first point in full.
    a.job(
        "POST",
        "/api/v1/volumes",
        json!({"name": "db", "pool": "tank", "size": format!("{} MiB", size >> 20), "thin": true}),
    )?;
    let mut at = 0;
    while at < size {
        let n = (size - at).min(64 << 20);
        a.write("db", at, &noise(n as usize, at / BLOCK + 1))?;
        at += n;
    }
    let mut report = ReplicationReport {
        size,
        ..ReplicationReport::default()
    };
    report.initial_copy = plain_copy(scratch, size)?;
    report.cold = cold();
    let enabled = crate::db::now();
    a.job(
        "POST",
        "/api/v1/volumes/db/replication",
        json!({"peer": "bench-b", "interval_s": interval_s, "rpo_s": 3600}),
    )?;
    let first = shipped_after(&a, "db", 0, enabled, 1800)?;
    report.initial = sum(&first[..1]);
    let last = first.last().map_or(0, |t| t.seq);

    // 1% of its blocks rewritten, spread over it: what the points after
    // carry, beside a plain copy of as many bytes.
    let blocks = size / BLOCK;
    let changed = (blocks / 100).max(1);
    let written = crate::db::now();
    for i in 0..changed {
        let at = i * (blocks / changed) * BLOCK;
        a.write("db", at, &noise(BLOCK as usize, 1_000_000 + i))?;
    }
    cold();
    let wrote = crate::db::now();
    let after = shipped_after(&a, "db", last, wrote, 600)?;
    let carried: Vec<_> = after
        .into_iter()
        .filter(|t| t.data_bytes > 0 && t.finished_at.is_some_and(|f| f > written))
        .collect();
    report.delta = sum(&carried);
    report.delta_points = carried.len();
    if report.delta.bytes != changed * BLOCK {
        bail!(
            "the points after the change carried {} bytes, not the {} changed",
            report.delta.bytes,
            changed * BLOCK
        );
    }
    report.delta_copy = plain_copy(scratch, report.delta.bytes)?;

    // The lag: a second volume, written at 1% of its size a minute in
    // 64 KiB pieces, replicated over 100 Mbit/s.
    let lag_size = lag_size / BLOCK * BLOCK;
    a.job(
        "POST",
        "/api/v1/volumes",
        json!({"name": "lag", "pool": "tank", "size": format!("{} MiB", lag_size >> 20), "thin": true}),
    )?;
    a.job(
        "POST",
        "/api/v1/volumes/lag/replication",
        json!({"peer": "bench-b", "interval_s": interval_s, "rpo_s": 3600,
               "bandwidth_limit": "100 Mbit/s"}),
    )?;
    a.until(120, "lag in sync", |a| {
        Ok(a.replication("lag")?.consistent_at.is_some())
    })?;
    let first_seq = a.replication("lag")?.seq;
    let per_second = lag_size as f64 / 100.0 / 60.0;
    let started = Instant::now();
    let mut lags = Vec::new();
    let (mut written, mut next_sample) = (0u64, 0.0);
    let mut piece = 0u64;
    while started.elapsed().as_secs_f64() < lag_seconds {
        let due = (started.elapsed().as_secs_f64() * per_second) as u64;
        while written + BLOCK <= due {
            let at = (piece * 7919 % (lag_size / BLOCK)) * BLOCK;
            a.write("lag", at, &noise(BLOCK as usize, 5_000_000 + piece))?;
            written += BLOCK;
            piece += 1;
        }
        if started.elapsed().as_secs_f64() >= next_sample {
            next_sample += 0.25;
            let r = a.replication("lag")?;
            if let Some(at) = r.consistent_at {
                lags.push((crate::db::now() - at).num_milliseconds().max(0) as f64 / 1000.0);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let points = (a.replication("lag")?.seq - first_seq).max(0) as usize;
    lags.sort_by(f64::total_cmp);
    report.lag = Lag {
        size: lag_size,
        interval_s,
        seconds: started.elapsed().as_secs_f64(),
        written,
        points,
        samples: lags.len(),
        median_s: lags.get(lags.len() / 2).copied().unwrap_or(0.0),
        max_s: lags.last().copied().unwrap_or(0.0),
    };
    Ok(report)
}

/// What `baystack bench thin-delta` measured.
#[derive(Debug, Clone, Default)]
pub struct ThinDeltaReport {
    pub blocks: u64,
    pub changed: u64,
    pub metadata_bytes: u64,
    pub restore_seconds: f64,
    /// `thin_delta` alone, each round.
    pub tool_seconds: Vec<f64>,
    /// Baystack's parser of its output, each round.
    pub parse_seconds: Vec<f64>,
    pub output_bytes: usize,
}

/// The description `thin_restore` reads: device 1 maps `blocks` blocks in
/// one run; device 2 the same blocks but `changed` of them, spread by a
/// fixed stride, mapped anew (what a snapshot and its origin look like once
/// the origin was written there).
fn thin_metadata_xml(blocks: u64, changed: u64) -> String {
    let mut x = String::with_capacity((changed as usize + 4) * 150);
    x.push_str(&format!(
        "<superblock uuid=\"\" time=\"1\" transaction=\"2\" flags=\"0\" version=\"2\" \
         data_block_size=\"128\" nr_data_blocks=\"{}\">\n",
        blocks + changed
    ));
    x.push_str(&format!(
        " <device dev_id=\"1\" mapped_blocks=\"{blocks}\" transaction=\"0\" creation_time=\"0\" \
         snap_time=\"0\">\n  <range_mapping origin_begin=\"0\" data_begin=\"0\" \
         length=\"{blocks}\" time=\"0\"/>\n </device>\n"
    ));
    x.push_str(&format!(
        " <device dev_id=\"2\" mapped_blocks=\"{blocks}\" transaction=\"1\" creation_time=\"1\" \
         snap_time=\"1\">\n"
    ));
    let stride = blocks / changed.max(1);
    let mut next = 0;
    for i in 0..changed {
        let block = i * stride + stride / 2;
        if block > next {
            x.push_str(&format!(
                "  <range_mapping origin_begin=\"{next}\" data_begin=\"{next}\" length=\"{}\" \
                 time=\"0\"/>\n",
                block - next
            ));
        }
        x.push_str(&format!(
            "  <single_mapping origin_block=\"{block}\" data_block=\"{}\" time=\"1\"/>\n",
            blocks + i
        ));
        next = block + 1;
    }
    if next < blocks {
        x.push_str(&format!(
            "  <range_mapping origin_begin=\"{next}\" data_begin=\"{next}\" length=\"{}\" \
             time=\"0\"/>\n",
            blocks - next
        ));
    }
    x.push_str(" </device>\n</superblock>\n");
    x
}

/// `baystack bench thin-delta`: see the module's comment. Needs
/// `thin_restore` and `thin_delta` (thin-provisioning-tools).
pub fn thin_delta(
    scratch: &Path,
    gib: u64,
    changed_percent: f64,
    rounds: usize,
) -> anyhow::Result<ThinDeltaReport> {
    let blocks = (gib << 30) / BLOCK;
    let changed = ((blocks as f64 * changed_percent / 100.0) as u64).max(1);
    let xml = scratch.join("metadata.xml");
    std::fs::write(&xml, thin_metadata_xml(blocks, changed))?;
    // Room for both devices' mappings (16 bytes each in a leaf, leaves
    // about half full at worst) and the space maps.
    let metadata = scratch.join("metadata");
    let metadata_bytes = (blocks * 2 * 48 + (64 << 20)).next_multiple_of(1 << 20);
    std::fs::File::create(&metadata)?.set_len(metadata_bytes)?;
    let tool = |name: &str| -> anyhow::Result<Command> {
        for dir in ["/usr/sbin", "/sbin", "/usr/bin"] {
            let path = Path::new(dir).join(name);
            if path.exists() {
                return Ok(Command::new(path));
            }
        }
        bail!("{name} is not installed (apt install thin-provisioning-tools)")
    };
    let started = Instant::now();
    let restored = tool("thin_restore")?
        .arg("-i")
        .arg(&xml)
        .arg("-o")
        .arg(&metadata)
        .output()?;
    if !restored.status.success() {
        bail!(
            "thin_restore failed: {}",
            String::from_utf8_lossy(&restored.stderr)
        );
    }
    let mut report = ThinDeltaReport {
        blocks,
        changed,
        metadata_bytes,
        restore_seconds: started.elapsed().as_secs_f64(),
        ..ThinDeltaReport::default()
    };
    for _ in 0..rounds.max(1) {
        let started = Instant::now();
        let out = tool("thin_delta")?
            .args(["--snap1", "1", "--snap2", "2"])
            .arg(&metadata)
            .output()?;
        report.tool_seconds.push(started.elapsed().as_secs_f64());
        if !out.status.success() {
            bail!(
                "thin_delta failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let text = String::from_utf8(out.stdout)?;
        let started = Instant::now();
        let delta = crate::storage::linux::thin::parse::delta(&text, 1, 2)
            .map_err(|e| anyhow::anyhow!("thin_delta's output: {e}"))?;
        report.parse_seconds.push(started.elapsed().as_secs_f64());
        report.output_bytes = text.len();
        let found = delta.changed_bytes() / BLOCK;
        if found != changed {
            bail!("thin_delta found {found} changed blocks, not {changed}");
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metadata_description_maps_every_block_once_and_changes_as_many_as_asked() {
        let x = thin_metadata_xml(1000, 10);
        assert_eq!(x.matches("<single_mapping").count(), 10);
        let lengths: u64 = x
            .split("length=\"")
            .skip(2) // device 1's run
            .map(|s| s.split('"').next().unwrap().parse::<u64>().unwrap())
            .sum();
        assert_eq!(lengths + 10, 1000, "device 2 maps every block once");
    }

    #[test]
    fn noise_is_repeatable_and_does_not_repeat_itself() {
        assert_eq!(noise(100, 3), noise(100, 3));
        assert_ne!(noise(100, 3), noise(100, 4));
        let n = noise(1 << 16, 1);
        assert_ne!(n[..8], n[8..16]);
        assert_eq!(n.len(), 1 << 16);
    }
}

//! Settings and their precedence: built-in defaults, then the config file,
//! then `BAYSTACK_*` environment variables, then command-line flags.
//!
//! Resolution is a pure function of its three inputs so that the precedence
//! rules are tested without touching the process environment.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "./baystack-data";
/// Debian's place for it; Red Hat's is `/etc/mdadm.conf`.
pub const DEFAULT_MDADM_CONF: &str = "/etc/mdadm/mdadm.conf";
pub const SQLITE_FILE_NAME: &str = "baystack.db";

/// Which storage engine the agent drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// A simulated appliance: the quick-start default and what web tests use.
    Sim,
    /// The real Linux storage stack.
    Linux,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Sim => "sim",
            BackendKind::Linux => "linux",
        }
    }

    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        match value {
            "sim" => Ok(BackendKind::Sim),
            "linux" => Ok(BackendKind::Linux),
            other => Err(ConfigError::Invalid(format!(
                "backend must be \"sim\" or \"linux\", not {other:?}"
            ))),
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the database lives.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    /// Accepts `postgres://…`, `postgresql://…`, `sqlite://PATH`, `sqlite:PATH`
    /// or a plain file path.
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(ConfigError::Invalid("database URL is empty".into()));
        }
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(value.to_string()));
        }
        let path = value
            .strip_prefix("sqlite://")
            .or_else(|| value.strip_prefix("sqlite:"))
            .unwrap_or(value);
        if path.contains("://") {
            return Err(ConfigError::Invalid(format!(
                "database URL {value:?} is neither postgres:// nor a SQLite file path"
            )));
        }
        if path.is_empty() {
            return Err(ConfigError::Invalid("SQLite database path is empty".into()));
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            DatabaseUrl::Sqlite(_) => "sqlite",
            DatabaseUrl::Postgres(_) => "postgresql",
        }
    }

    /// The URL with any password replaced, for logs and `check`; `Debug`
    /// shows the same, so no `{:?}` of the settings can leak it.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("sqlite:{}", path.display()),
            DatabaseUrl::Postgres(url) => redact_url_password(url),
        }
    }
}

/// A PostgreSQL URL with every password in it replaced by `***`: the one
/// in the user part (`postgres://user:secret@host/db`) and any parameter
/// whose name holds "password" (`?password=secret`, `&sslpassword=...`),
/// however it is percent-encoded.
fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    // The user part ends at the last '@' before the query, so a password
    // with an unencoded '/' or '@' is still hidden whole.
    let mut out = format!("{scheme}://");
    match before_query.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => out.push_str(&format!("{user}:***@{host}")),
            None => out.push_str(&format!("{userinfo}@{host}")),
        },
        None => out.push_str(before_query),
    }
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|param| {
                let key = param.split_once('=').map_or(param, |(k, _)| k);
                let decoded: String = percent_decode(key).to_ascii_lowercase();
                if decoded.contains("password") {
                    format!("{key}=***")
                } else {
                    param.to_string()
                }
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// The config file, `--config FILE` (TOML). Every key is optional; unknown
/// keys are refused so that a typo is not silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    /// Serves `/metrics` also here, without a token, and nothing else.
    pub metrics_listen: Option<String>,
    /// The console's address as people reach it, for links in
    /// notifications and on other appliances' walls.
    pub console_url: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub backend: Option<BackendKind>,
    #[serde(default)]
    pub sim: SimFileConfig,
    #[serde(default)]
    pub security: SecurityFileConfig,
    #[serde(default)]
    pub agent: AgentFileConfig,
    #[serde(default)]
    pub linux: LinuxFileConfig,
    #[serde(default)]
    pub fleet: FleetFileConfig,
    #[serde(default)]
    pub replication: ReplicationFileConfig,
    /// How the bay map draws enclosures of a given model.
    #[serde(default)]
    pub bay_layout: Vec<BayLayoutFileConfig>,
}

/// `[fleet]`: the registry of appliances a wall shows together.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetFileConfig {
    /// A PostgreSQL of the fleet's own, which each appliance's agent
    /// registers in and each wall reads; unset, it is the appliance's own
    /// database.
    pub database: Option<String>,
}

/// `[replication]`: the agent's channel to its peers.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicationFileConfig {
    /// Where the agent's channel listens (`IP:port`), or `"off"`.
    pub listen: Option<String>,
    /// How peers reach this appliance's channel (`host:port`), when it is
    /// not the address they see its connections come from.
    pub address: Option<String>,
}

/// Where the agent's channel to its peers listens unless configured.
pub const DEFAULT_REPLICATION_LISTEN: &str = "0.0.0.0:7790";
pub const ENV_REPLICATION_LISTEN: &str = "BAYSTACK_REPLICATION_LISTEN";

/// The agent's channel to its peers.
#[derive(Debug, Clone)]
pub struct ReplicationSettings {
    /// Where it listens; `None` when switched off.
    pub listen: Option<SocketAddr>,
    /// How peers reach it, when set.
    pub address: Option<String>,
}

/// `[[bay_layout]]`: enclosures whose vendor and product (or identifier)
/// contain `enclosure` are drawn `columns` bays wide, numbered along rows
/// (`order = "rows"`, the default) or down columns (`order = "columns"`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BayLayoutFileConfig {
    pub enclosure: String,
    pub columns: u32,
    pub order: Option<String>,
}

/// A bay layout for the enclosures it matches; the first match wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BayLayout {
    /// Lower case; matched within "vendor product" and the identifier.
    pub enclosure: String,
    pub columns: u32,
    /// Bays numbered down each column first.
    pub by_columns: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimFileConfig {
    pub enclosures: Option<u32>,
    pub bays: Option<u32>,
    /// Bays per enclosure, in order: `[12, 24]` is a 12-bay head unit and a
    /// 24-bay JBOD. Instead of `enclosures` and `bays`.
    pub layout: Option<Vec<u32>>,
    pub speed: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityFileConfig {
    pub session_idle_minutes: Option<u32>,
    pub session_max_hours: Option<u32>,
    pub login_failures_per_user: Option<u32>,
    pub login_failures_per_address: Option<u32>,
    pub login_failures_per_user_any_address: Option<u32>,
    pub login_failure_window_minutes: Option<u32>,
    /// Proxies whose `X-Forwarded-For`, `-Proto` and `-Host` are believed:
    /// addresses or CIDR ranges.
    pub trusted_proxies: Option<Vec<String>>,
    /// Host names the console answers to, besides the machine's own names
    /// and addresses and loopback.
    pub allowed_hosts: Option<Vec<String>>,
    pub audit_keep_days: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentFileConfig {
    pub observe_interval_seconds: Option<u64>,
    /// Jobs one agent runs at once.
    pub workers: Option<u32>,
    /// How long a runner's claim on a job lasts without renewal.
    pub lease_ms: Option<u64>,
    /// How often idle workers look for jobs enqueued by other processes.
    pub poll_ms: Option<u64>,
    /// Starts after which an interrupted job is failed instead.
    pub max_attempts: Option<u32>,
    /// Minutes after which a lit identify LED is turned off again.
    pub locate_off_minutes: Option<u64>,
    /// Minutes between two readings of every drive's SMART.
    pub smart_interval_minutes: Option<u64>,
    /// Drives whose SMART is read at once.
    pub smart_concurrency: Option<u32>,
    /// Days between two short SMART self-tests of a drive; 0 for none.
    pub short_self_test_days: Option<u32>,
    /// Days between two long SMART self-tests of a drive; 0 for none.
    pub long_self_test_days: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinuxFileConfig {
    /// Directories searched for the storage tools, in order.
    pub tool_dirs: Option<Vec<PathBuf>>,
    /// Seconds a tool may run before it is killed.
    pub command_timeout_seconds: Option<u64>,
    /// Where sysfs is mounted (tests point it at a fixture tree).
    pub sysfs_root: Option<PathBuf>,
    /// Where device nodes and /dev/disk/by-id live (and `kmsg`, the
    /// kernel's log).
    pub dev_root: Option<PathBuf>,
    /// Where procfs is mounted (the boot id and `mdstat` are read there).
    pub proc_root: Option<PathBuf>,
    /// mdadm's configuration file, where a pool's array is recorded so it
    /// assembles at boot.
    pub mdadm_conf: Option<PathBuf>,
    /// Where configfs is mounted (LIO's targets are under `target/`).
    pub configfs_root: Option<PathBuf>,
    /// targetcli's saved configuration, read when adopting targets made
    /// by hand.
    pub lio_saveconfig: Option<PathBuf>,
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })
    }
}

/// Values given on the command line; `None` means "not given".
#[derive(Debug, Default, Clone)]
pub struct CliOverrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub backend: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SimSettings {
    /// The number of bays of each simulated enclosure, in order.
    pub layout: Vec<u32>,
    /// Multiplier on the simulated appliance's speed: 10.0 runs ten times
    /// faster than real hardware would.
    pub speed: f64,
}

#[derive(Debug, Clone)]
pub struct SecuritySettings {
    pub session_idle_minutes: u32,
    /// A session ends this long after sign-in, however busy.
    pub session_max_hours: u32,
    /// Failed sign-ins checked for one user name from one address in the
    /// window; then that pair waits out the window.
    pub login_failures_per_user: u32,
    /// Failed sign-ins checked from one address, any names, in the window.
    pub login_failures_per_address: u32,
    /// Failed sign-ins for one user name from all addresses before each
    /// further attempt waits a doubling delay (not a hard lock, so nobody
    /// can lock an administrator out from elsewhere).
    pub login_failures_per_user_any_address: u32,
    pub login_failure_window_minutes: u32,
    pub trusted_proxies: Vec<IpRange>,
    /// Lower case, without a port.
    pub allowed_hosts: Vec<String>,
    pub audit_keep_days: u32,
}

/// An address or a CIDR range of them (`127.0.0.1`, `10.0.0.0/8`, `::1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    pub network: IpAddr,
    pub prefix: u8,
}

impl IpRange {
    pub fn parse(text: &str) -> Option<IpRange> {
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text.trim(), None),
        };
        let network: IpAddr = addr.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok()?,
            Some(_) => return None,
            None => max,
        };
        (prefix <= max).then_some(IpRange { network, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct AgentSettings {
    pub observe_interval_seconds: u64,
    pub workers: u32,
    pub lease_ms: u64,
    pub poll_ms: u64,
    pub max_attempts: u32,
    pub locate_off_minutes: u64,
    pub smart_interval_minutes: u64,
    pub smart_concurrency: u32,
    pub short_self_test_days: u32,
    pub long_self_test_days: u32,
}

#[derive(Debug, Clone)]
pub struct LinuxSettings {
    pub tool_dirs: Vec<PathBuf>,
    pub command_timeout_seconds: u64,
    pub sysfs_root: PathBuf,
    pub dev_root: PathBuf,
    pub proc_root: PathBuf,
    pub mdadm_conf: PathBuf,
    pub configfs_root: PathBuf,
    pub lio_saveconfig: PathBuf,
}

/// The resolved settings every part of Baystack reads.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// Where `/metrics` is served without a token (nothing else is).
    pub metrics_listen: Option<SocketAddr>,
    /// `https://storage.example.com/`: the console as people reach it.
    pub console_url: Option<String>,
    pub data_dir: PathBuf,
    pub database: DatabaseUrl,
    pub backend: BackendKind,
    pub sim: SimSettings,
    pub security: SecuritySettings,
    pub agent: AgentSettings,
    pub linux: LinuxSettings,
    pub bay_layouts: Vec<BayLayout>,
    /// `[fleet] database`: a PostgreSQL the fleet's appliances register in,
    /// apart from their own databases.
    pub fleet_database: Option<DatabaseUrl>,
    pub replication: ReplicationSettings,
}

pub const ENV_LISTEN: &str = "BAYSTACK_LISTEN";
pub const ENV_DATA_DIR: &str = "BAYSTACK_DATA_DIR";
pub const ENV_DATABASE_URL: &str = "BAYSTACK_DATABASE_URL";
pub const ENV_BACKEND: &str = "BAYSTACK_BACKEND";
pub const ENV_SIM_SPEED: &str = "BAYSTACK_SIM_SPEED";
/// Bays per simulated enclosure, comma-separated: `12,24`.
pub const ENV_SIM_LAYOUT: &str = "BAYSTACK_SIM_LAYOUT";
/// A simulated appliance has at most this many enclosures: 20 60-bay JBODs
/// hold the 1,000 drives the benchmarks use.
pub const MAX_SIM_ENCLOSURES: u32 = 24;

impl Settings {
    /// Defaults < file < environment < flags.
    pub fn resolve(
        file: FileConfig,
        env: &HashMap<String, String>,
        cli: &CliOverrides,
    ) -> Result<Self, ConfigError> {
        let env_value = |key: &str| env.get(key).filter(|v| !v.is_empty()).cloned();

        let listen_text = cli
            .listen
            .clone()
            .or_else(|| env_value(ENV_LISTEN))
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            ConfigError::Invalid(format!(
                "listen address {listen_text:?} is not an IP:port pair such as 127.0.0.1:8080"
            ))
        })?;

        let metrics_listen = match &file.metrics_listen {
            None => None,
            Some(text) => Some(text.parse::<SocketAddr>().map_err(|_| {
                ConfigError::Invalid(format!(
                    "metrics_listen {text:?} is not an IP:port pair such as 10.0.0.5:9187"
                ))
            })?),
        };
        let console_url = match file.console_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(u) => {
                let host = u
                    .strip_prefix("https://")
                    .or_else(|| u.strip_prefix("http://"))
                    .map(|r| r.split('/').next().unwrap_or(""));
                if host.is_none_or(str::is_empty)
                    || u.chars().any(|c| c.is_whitespace() || c.is_control())
                {
                    return Err(ConfigError::Invalid(format!(
                        "console_url {u:?} is not an http:// or https:// address such as https://storage.example.com/"
                    )));
                }
                Some(u.trim_end_matches('/').to_string())
            }
        };

        let data_dir = cli
            .data_dir
            .clone()
            .or_else(|| env_value(ENV_DATA_DIR).map(PathBuf::from))
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));

        let database = match cli
            .database_url
            .clone()
            .or_else(|| env_value(ENV_DATABASE_URL))
            .or(file.database_url)
        {
            Some(url) => DatabaseUrl::parse(&url)?,
            None => DatabaseUrl::Sqlite(data_dir.join(SQLITE_FILE_NAME)),
        };

        let backend = match cli.backend.clone().or_else(|| env_value(ENV_BACKEND)) {
            Some(text) => BackendKind::parse(&text)?,
            None => file.backend.unwrap_or(BackendKind::Sim),
        };

        let speed = match env_value(ENV_SIM_SPEED) {
            Some(text) => text.parse::<f64>().map_err(|_| {
                ConfigError::Invalid(format!("{ENV_SIM_SPEED} must be a number, not {text:?}"))
            })?,
            None => file.sim.speed.unwrap_or(1.0),
        };
        if !(speed.is_finite() && speed > 0.0 && speed <= 10_000.0) {
            return Err(ConfigError::Invalid(format!(
                "simulator speed must be above 0 and at most 10000, not {speed}"
            )));
        }
        let env_layout = match env_value(ENV_SIM_LAYOUT) {
            Some(text) => Some(
                text.split(',')
                    .map(|n| n.trim().parse::<u32>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| {
                        ConfigError::Invalid(format!(
                            "{ENV_SIM_LAYOUT} lists the bays of each enclosure, such as 12,24; \
                             not {text:?}"
                        ))
                    })?,
            ),
            None => None,
        };
        // The environment wins; the file gives a layout or enclosures and
        // bays, not both.
        let layout = match (env_layout, &file.sim.layout) {
            (Some(layout), _) => layout,
            (None, Some(_)) if file.sim.enclosures.is_some() || file.sim.bays.is_some() => {
                return Err(ConfigError::Invalid(
                    "sim.layout lists the bays of each enclosure; give it or sim.enclosures and \
                     sim.bays, not both"
                        .into(),
                ));
            }
            (None, Some(layout)) => layout.clone(),
            (None, None) => {
                let enclosures = in_range(
                    "sim.enclosures",
                    file.sim.enclosures.unwrap_or(1),
                    1,
                    MAX_SIM_ENCLOSURES,
                )?;
                let bays = in_range("sim.bays", file.sim.bays.unwrap_or(12), 1, 102)?;
                vec![bays; enclosures as usize]
            }
        };
        in_range(
            "the number of enclosures in sim.layout",
            layout.len(),
            1,
            MAX_SIM_ENCLOSURES as usize,
        )?;
        for bays in &layout {
            in_range("each enclosure in sim.layout", *bays, 1, 102)?;
        }
        let sim = SimSettings { layout, speed };

        let security = SecuritySettings {
            session_idle_minutes: in_range(
                "security.session_idle_minutes",
                file.security.session_idle_minutes.unwrap_or(8 * 60),
                1,
                7 * 24 * 60,
            )?,
            login_failures_per_user: in_range(
                "security.login_failures_per_user",
                file.security.login_failures_per_user.unwrap_or(5),
                1,
                1000,
            )?,
            login_failures_per_address: in_range(
                "security.login_failures_per_address",
                file.security.login_failures_per_address.unwrap_or(20),
                1,
                10_000,
            )?,
            login_failure_window_minutes: in_range(
                "security.login_failure_window_minutes",
                file.security.login_failure_window_minutes.unwrap_or(15),
                1,
                24 * 60,
            )?,
            session_max_hours: in_range(
                "security.session_max_hours",
                file.security.session_max_hours.unwrap_or(24),
                1,
                90 * 24,
            )?,
            login_failures_per_user_any_address: in_range(
                "security.login_failures_per_user_any_address",
                file.security
                    .login_failures_per_user_any_address
                    .unwrap_or(20),
                1,
                100_000,
            )?,
            trusted_proxies: file
                .security
                .trusted_proxies
                .unwrap_or_default()
                .iter()
                .map(|t| {
                    IpRange::parse(t).ok_or_else(|| {
                        ConfigError::Invalid(format!(
                            "security.trusted_proxies: {t:?} is not an address or a range such \
                             as 127.0.0.1 or 10.0.0.0/8"
                        ))
                    })
                })
                .collect::<Result<_, _>>()?,
            allowed_hosts: file
                .security
                .allowed_hosts
                .unwrap_or_default()
                .iter()
                .map(|h| {
                    let h = h.trim().trim_end_matches('.').to_ascii_lowercase();
                    let ok = !h.is_empty()
                        && h.len() <= 253
                        && h.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
                    if ok {
                        Ok(h)
                    } else {
                        Err(ConfigError::Invalid(format!(
                            "security.allowed_hosts: {h:?} is not a host name or address (no \
                             port, no scheme)"
                        )))
                    }
                })
                .collect::<Result<_, _>>()?,
            audit_keep_days: in_range(
                "security.audit_keep_days",
                file.security.audit_keep_days.unwrap_or(365),
                1,
                100 * 365,
            )?,
        };

        let agent = AgentSettings {
            observe_interval_seconds: in_range(
                "agent.observe_interval_seconds",
                file.agent.observe_interval_seconds.unwrap_or(30),
                1,
                86_400,
            )?,
            workers: in_range("agent.workers", file.agent.workers.unwrap_or(4), 1, 64)?,
            lease_ms: in_range(
                "agent.lease_ms",
                file.agent.lease_ms.unwrap_or(30_000),
                200,
                3_600_000,
            )?,
            poll_ms: in_range(
                "agent.poll_ms",
                file.agent.poll_ms.unwrap_or(250),
                5,
                60_000,
            )?,
            max_attempts: in_range(
                "agent.max_attempts",
                file.agent.max_attempts.unwrap_or(3),
                1,
                100,
            )?,
            locate_off_minutes: in_range(
                "agent.locate_off_minutes",
                file.agent.locate_off_minutes.unwrap_or(30),
                1,
                7 * 24 * 60,
            )?,
            smart_interval_minutes: in_range(
                "agent.smart_interval_minutes",
                file.agent.smart_interval_minutes.unwrap_or(60),
                1,
                7 * 24 * 60,
            )?,
            smart_concurrency: in_range(
                "agent.smart_concurrency",
                file.agent.smart_concurrency.unwrap_or(4),
                1,
                64,
            )?,
            short_self_test_days: in_range(
                "agent.short_self_test_days",
                file.agent.short_self_test_days.unwrap_or(1),
                0,
                365,
            )?,
            long_self_test_days: in_range(
                "agent.long_self_test_days",
                file.agent.long_self_test_days.unwrap_or(28),
                0,
                365,
            )?,
        };
        if agent.poll_ms * 2 > agent.lease_ms {
            return Err(ConfigError::Invalid(format!(
                "agent.poll_ms ({}) must be at most half of agent.lease_ms ({})",
                agent.poll_ms, agent.lease_ms
            )));
        }

        let linux = LinuxSettings {
            tool_dirs: file.linux.tool_dirs.unwrap_or_else(|| {
                ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
                    .iter()
                    .map(PathBuf::from)
                    .collect()
            }),
            command_timeout_seconds: in_range(
                "linux.command_timeout_seconds",
                file.linux.command_timeout_seconds.unwrap_or(60),
                1,
                24 * 3600,
            )?,
            sysfs_root: file
                .linux
                .sysfs_root
                .unwrap_or_else(|| PathBuf::from("/sys")),
            dev_root: file.linux.dev_root.unwrap_or_else(|| PathBuf::from("/dev")),
            proc_root: file
                .linux
                .proc_root
                .unwrap_or_else(|| PathBuf::from("/proc")),
            mdadm_conf: file
                .linux
                .mdadm_conf
                .unwrap_or_else(|| PathBuf::from(DEFAULT_MDADM_CONF)),
            configfs_root: file
                .linux
                .configfs_root
                .unwrap_or_else(|| PathBuf::from("/sys/kernel/config")),
            lio_saveconfig: file
                .linux
                .lio_saveconfig
                .unwrap_or_else(|| PathBuf::from("/etc/rtslib-fb-target/saveconfig.json")),
        };

        let bay_layouts = file
            .bay_layout
            .iter()
            .map(|l| {
                let by_columns = match l.order.as_deref() {
                    None | Some("rows") => false,
                    Some("columns") => true,
                    Some(other) => {
                        return Err(ConfigError::Invalid(format!(
                            "bay_layout.order must be \"rows\" or \"columns\", not {other:?}"
                        )));
                    }
                };
                if l.enclosure.trim().is_empty() {
                    return Err(ConfigError::Invalid(
                        "bay_layout.enclosure names the enclosures it is for (part of their \
                         vendor and product, or their identifier); it is empty"
                            .into(),
                    ));
                }
                Ok(BayLayout {
                    enclosure: l.enclosure.trim().to_lowercase(),
                    columns: in_range("bay_layout.columns", l.columns, 1, 24)?,
                    by_columns,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let fleet_database = match file.fleet.database.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(url) => match DatabaseUrl::parse(url) {
                Ok(DatabaseUrl::Postgres(url)) => Some(DatabaseUrl::Postgres(url)),
                _ => {
                    return Err(ConfigError::Invalid(
                        "fleet.database is not a postgres:// URL: the fleet's registry is one \
                         PostgreSQL that every appliance reaches, such as \
                         postgres://baystack@fleet.example.com/fleet"
                            .into(),
                    ));
                }
            },
        };
        let replication_listen = env_value(ENV_REPLICATION_LISTEN)
            .or(file.replication.listen)
            .unwrap_or_else(|| DEFAULT_REPLICATION_LISTEN.to_string());
        let replication = ReplicationSettings {
            listen: match replication_listen.trim() {
                "off" => None,
                text => Some(text.parse::<SocketAddr>().map_err(|_| {
                    ConfigError::Invalid(format!(
                        "replication.listen {text:?} is not an IP:port pair such as \
                         0.0.0.0:7790, or \"off\""
                    ))
                })?),
            },
            address: match file.replication.address.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(a) => {
                    crate::naming::validate_address(a)
                        .map_err(|e| ConfigError::Invalid(format!("replication.address {e}")))?;
                    Some(a.to_string())
                }
            },
        };
        Ok(Settings {
            listen,
            metrics_listen,
            console_url,
            data_dir,
            database,
            backend,
            sim,
            security,
            agent,
            linux,
            bay_layouts,
            fleet_database,
            replication,
        })
    }

    /// Reads the config file (if any) and the real process environment.
    pub fn load(config_file: Option<&Path>, cli: &CliOverrides) -> Result<Self, ConfigError> {
        let file = match config_file {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        let env: HashMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("BAYSTACK_"))
            .collect();
        Settings::resolve(file, &env, cli)
    }

    /// Settings for tests and tools: defaults rooted in `data_dir`.
    pub fn for_data_dir(data_dir: &Path) -> Self {
        let cli = CliOverrides {
            data_dir: Some(data_dir.to_path_buf()),
            ..CliOverrides::default()
        };
        Settings::resolve(FileConfig::default(), &HashMap::new(), &cli)
            .expect("default settings are valid")
    }
}

fn in_range<T: PartialOrd + fmt::Display + Copy>(
    name: &str,
    value: T,
    min: T,
    max: T,
) -> Result<T, ConfigError> {
    if value < min || value > max {
        return Err(ConfigError::Invalid(format!(
            "{name} must be between {min} and {max}, not {value}"
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_a_database_password_is_hidden() {
        for url in [
            "postgres://u:s3cret@h/x",
            "postgres://u@h/x?password=s3cret",
            "postgresql://u@h:5432/x?sslmode=require&password=s3cret&application_name=b",
            "postgres://u@h/x?PASSWORD=s3cret",
            "postgres://u@h/x?pass%77ord=s3cret",
            "postgres://u@h/x?sslpassword=s3cret",
            "postgres://u:s3/cr@et@h/x",
            "postgres://u:s3cret@h/x?password=s3cret",
        ] {
            let db = DatabaseUrl::parse(url).unwrap();
            let shown = db.redacted();
            assert!(
                !shown.contains("s3") && !shown.contains("cret"),
                "{url} -> {shown}"
            );
            assert!(!format!("{db:?}").contains("s3cret"), "{url}");
            assert!(shown.contains("***"), "{shown}");
        }
        assert_eq!(
            DatabaseUrl::parse("postgres://u@h/x?sslmode=require")
                .unwrap()
                .redacted(),
            "postgres://u@h/x?sslmode=require"
        );
    }

    #[test]
    fn trusted_proxy_ranges() {
        let r = IpRange::parse("10.0.0.0/8").unwrap();
        assert!(r.contains("10.200.3.4".parse().unwrap()));
        assert!(!r.contains("11.0.0.1".parse().unwrap()));
        let one = IpRange::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(
            one.contains("::ffff:127.0.0.1".parse().unwrap()),
            "v4-mapped"
        );
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let v6 = IpRange::parse("fd00::/8").unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("fe80::1".parse().unwrap()));
        assert!(
            IpRange::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "host",
            "::1/129",
            "1.2.3.4/8x",
        ] {
            assert_eq!(IpRange::parse(bad), None, "{bad}");
        }
    }

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn file(text: &str) -> FileConfig {
        FileConfig::parse(Path::new("test.toml"), text).unwrap()
    }

    #[test]
    fn metrics_listen_and_console_url_are_checked() {
        let resolve =
            |text: &str| Settings::resolve(file(text), &env(&[]), &CliOverrides::default());
        let s = resolve(
            "metrics_listen = \"10.0.0.5:9187\"\nconsole_url = \"https://bay01.example.com/\"\n",
        )
        .unwrap();
        assert_eq!(s.metrics_listen.unwrap().to_string(), "10.0.0.5:9187");
        assert_eq!(s.console_url.as_deref(), Some("https://bay01.example.com"));
        let s = resolve("").unwrap();
        assert_eq!((s.metrics_listen, s.console_url), (None, None));
        for bad in [
            "metrics_listen = \"9187\"",
            "console_url = \"bay01\"",
            "console_url = \"https:// x\"",
        ] {
            let e = resolve(bad).unwrap_err().to_string();
            assert!(e.contains("is not"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_replication_channel_listens_where_told_or_not_at_all() {
        let resolve =
            |text: &str| Settings::resolve(file(text), &env(&[]), &CliOverrides::default());
        let s = resolve("").unwrap();
        assert_eq!(s.replication.listen, Some("0.0.0.0:7790".parse().unwrap()));
        assert_eq!(s.replication.address, None);
        let s = resolve(
            "[replication]\nlisten = \"10.0.0.5:7791\"\naddress = \"bay01.example.com:7791\"\n",
        )
        .unwrap();
        assert_eq!(s.replication.listen, Some("10.0.0.5:7791".parse().unwrap()));
        assert_eq!(
            s.replication.address.as_deref(),
            Some("bay01.example.com:7791")
        );
        let s = resolve("[replication]\nlisten = \"off\"\n").unwrap();
        assert_eq!(s.replication.listen, None);
        for (bad, words) in [
            (
                "listen = \"7790\"",
                "replication.listen \"7790\" is not an IP:port",
            ),
            (
                "address = \"bay01\"",
                "replication.address \"bay01\" needs a port",
            ),
        ] {
            let e = resolve(&format!("[replication]\n{bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(words), "{bad}: {e}");
        }
    }

    #[test]
    fn a_fleet_database_is_a_postgresql() {
        let resolve =
            |text: &str| Settings::resolve(file(text), &env(&[]), &CliOverrides::default());
        let s =
            resolve("[fleet]\ndatabase = \"postgres://b:pw@fleet.example.com/fleet\"\n").unwrap();
        assert_eq!(
            s.fleet_database,
            Some(DatabaseUrl::Postgres(
                "postgres://b:pw@fleet.example.com/fleet".into()
            ))
        );
        assert_eq!(resolve("").unwrap().fleet_database, None);
        assert_eq!(
            resolve("[fleet]\ndatabase = \" \"").unwrap().fleet_database,
            None
        );
        for bad in ["/var/lib/fleet.db", "sqlite:fleet.db", "mysql://x/y"] {
            let e = resolve(&format!("[fleet]\ndatabase = \"{bad}\""))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("fleet.database is not a postgres:// URL"),
                "{bad}: {e}"
            );
            assert!(!e.contains(bad), "the URL is not echoed: {e}");
        }
    }

    #[test]
    fn defaults_are_sqlite_in_data_dir_on_loopback_with_sim() {
        let s =
            Settings::resolve(FileConfig::default(), &env(&[]), &CliOverrides::default()).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.data_dir, PathBuf::from("./baystack-data"));
        assert_eq!(
            s.database,
            DatabaseUrl::Sqlite(PathBuf::from("./baystack-data/baystack.db"))
        );
        assert_eq!(s.backend, BackendKind::Sim);
        assert_eq!(s.sim.layout, [12]);
    }

    #[test]
    fn file_overrides_defaults() {
        let f = file(
            "listen = \"0.0.0.0:9000\"\ndata_dir = \"/srv/bs\"\nbackend = \"linux\"\n[sim]\nbays = 24\n",
        );
        let s = Settings::resolve(f, &env(&[]), &CliOverrides::default()).unwrap();
        assert_eq!(s.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(s.data_dir, PathBuf::from("/srv/bs"));
        assert_eq!(
            s.database,
            DatabaseUrl::Sqlite(PathBuf::from("/srv/bs/baystack.db"))
        );
        assert_eq!(s.backend, BackendKind::Linux);
        assert_eq!(s.sim.layout, [24]);
    }

    #[test]
    fn environment_overrides_file() {
        let f = file("listen = \"0.0.0.0:9000\"\nbackend = \"linux\"\ndata_dir = \"/srv/bs\"\n");
        let e = env(&[
            (ENV_LISTEN, "127.0.0.1:9100"),
            (ENV_BACKEND, "sim"),
            (ENV_DATA_DIR, "/env/dir"),
            (ENV_DATABASE_URL, "postgres://bs:pw@localhost/bs"),
        ]);
        let s = Settings::resolve(f, &e, &CliOverrides::default()).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:9100");
        assert_eq!(s.backend, BackendKind::Sim);
        assert_eq!(s.data_dir, PathBuf::from("/env/dir"));
        assert_eq!(
            s.database,
            DatabaseUrl::Postgres("postgres://bs:pw@localhost/bs".into())
        );
    }

    #[test]
    fn flags_override_environment_and_file() {
        let f = file("listen = \"0.0.0.0:9000\"\nbackend = \"sim\"\n");
        let e = env(&[(ENV_LISTEN, "127.0.0.1:9100"), (ENV_BACKEND, "sim")]);
        let cli = CliOverrides {
            listen: Some("127.0.0.1:9200".into()),
            backend: Some("linux".into()),
            data_dir: Some(PathBuf::from("/flag/dir")),
            database_url: Some("sqlite:/flag/other.db".into()),
        };
        let s = Settings::resolve(f, &e, &cli).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:9200");
        assert_eq!(s.backend, BackendKind::Linux);
        assert_eq!(s.data_dir, PathBuf::from("/flag/dir"));
        assert_eq!(
            s.database,
            DatabaseUrl::Sqlite(PathBuf::from("/flag/other.db"))
        );
    }

    #[test]
    fn empty_environment_values_are_ignored() {
        let e = env(&[(ENV_LISTEN, ""), (ENV_BACKEND, "")]);
        let s = Settings::resolve(FileConfig::default(), &e, &CliOverrides::default()).unwrap();
        assert_eq!(s.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(s.backend, BackendKind::Sim);
    }

    #[test]
    fn bad_values_are_refused_in_words() {
        let cli = CliOverrides {
            backend: Some("zfs".into()),
            ..Default::default()
        };
        let err = Settings::resolve(FileConfig::default(), &env(&[]), &cli).unwrap_err();
        assert!(err.to_string().contains("\"sim\" or \"linux\""), "{err}");

        let cli = CliOverrides {
            listen: Some("localhost".into()),
            ..Default::default()
        };
        let err = Settings::resolve(FileConfig::default(), &env(&[]), &cli).unwrap_err();
        assert!(err.to_string().contains("IP:port"), "{err}");

        let err = Settings::resolve(
            file("[sim]\nbays = 0\n"),
            &env(&[]),
            &CliOverrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("sim.bays"), "{err}");
        let mixed = Settings::resolve(
            file("[sim]\nlayout = [12, 24]\n"),
            &env(&[]),
            &CliOverrides::default(),
        )
        .unwrap();
        assert_eq!(mixed.sim.layout, [12, 24]);
        let from_env = Settings::resolve(
            file("[sim]\nbays = 8\n"),
            &env(&[(ENV_SIM_LAYOUT, "12, 24,60")]),
            &CliOverrides::default(),
        )
        .unwrap();
        assert_eq!(from_env.sim.layout, [12, 24, 60], "the environment wins");
        let err = Settings::resolve(
            file(""),
            &env(&[(ENV_SIM_LAYOUT, "twelve")]),
            &CliOverrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("such as 12,24"), "{err}");
    }

    #[test]
    fn bay_layouts_per_enclosure_model() {
        let s = Settings::resolve(
            file("[[bay_layout]]\nenclosure = \"SAS2X36\"\ncolumns = 6\norder = \"columns\"\n\n[[bay_layout]]\nenclosure = \"Simulated 60-bay\"\ncolumns = 12\n"),
            &env(&[]),
            &CliOverrides::default(),
        )
        .unwrap();
        assert_eq!(
            s.bay_layouts,
            [
                BayLayout {
                    enclosure: "sas2x36".into(),
                    columns: 6,
                    by_columns: true
                },
                BayLayout {
                    enclosure: "simulated 60-bay".into(),
                    columns: 12,
                    by_columns: false
                },
            ]
        );
        for (bad, says) in [
            (
                "[[bay_layout]]\nenclosure = \"x\"\ncolumns = 0\n",
                "bay_layout.columns",
            ),
            (
                "[[bay_layout]]\nenclosure = \"x\"\ncolumns = 4\norder = \"diagonal\"\n",
                "\"rows\" or \"columns\"",
            ),
            (
                "[[bay_layout]]\nenclosure = \" \"\ncolumns = 4\n",
                "it is empty",
            ),
        ] {
            let err =
                Settings::resolve(file(bad), &env(&[]), &CliOverrides::default()).unwrap_err();
            assert!(err.to_string().contains(says), "{bad}: {err}");
        }
        for (bad, says) in [
            ("[sim]\nlayout = [12, 0]\n", "each enclosure in sim.layout"),
            ("[sim]\nlayout = []\n", "number of enclosures in sim.layout"),
            ("[sim]\nlayout = [12]\nbays = 24\n", "not both"),
        ] {
            let err =
                Settings::resolve(file(bad), &env(&[]), &CliOverrides::default()).unwrap_err();
            assert!(err.to_string().contains(says), "{bad}: {err}");
        }

        let err = Settings::resolve(
            FileConfig::default(),
            &env(&[(ENV_SIM_SPEED, "fast")]),
            &CliOverrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains(ENV_SIM_SPEED), "{err}");
    }

    #[test]
    fn linux_paths_default_to_the_system_s_and_come_from_the_file() {
        let s =
            Settings::resolve(FileConfig::default(), &env(&[]), &CliOverrides::default()).unwrap();
        assert_eq!(s.linux.proc_root, PathBuf::from("/proc"));
        assert_eq!(s.linux.mdadm_conf, PathBuf::from("/etc/mdadm/mdadm.conf"));
        let f = file("[linux]\nproc_root = \"/srv/proc\"\nmdadm_conf = \"/etc/mdadm.conf\"\n");
        let s = Settings::resolve(f, &env(&[]), &CliOverrides::default()).unwrap();
        assert_eq!(s.linux.proc_root, PathBuf::from("/srv/proc"));
        assert_eq!(s.linux.mdadm_conf, PathBuf::from("/etc/mdadm.conf"));
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let err = FileConfig::parse(Path::new("x.toml"), "lisen = \"1\"\n").unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
    }

    #[test]
    fn database_urls() {
        assert_eq!(
            DatabaseUrl::parse("postgresql://h/db").unwrap().kind(),
            "postgresql"
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/b.db").unwrap(),
            DatabaseUrl::Sqlite(PathBuf::from("/var/lib/b.db"))
        );
        assert_eq!(
            DatabaseUrl::parse("b.db").unwrap(),
            DatabaseUrl::Sqlite(PathBuf::from("b.db"))
        );
        assert!(DatabaseUrl::parse("mysql://x/y").is_err());
        assert!(DatabaseUrl::parse("").is_err());
        assert_eq!(
            DatabaseUrl::parse("postgres://bs:secret@db:5432/bs")
                .unwrap()
                .redacted(),
            "postgres://bs:***@db:5432/bs"
        );
    }
}

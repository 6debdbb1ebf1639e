//! Alerts: every rule that turns observed state into something a person
//! must hear of, in one place. The rules are pure: [`conditions`] takes the
//! [`Facts`] the database layer gathered and says which conditions hold now,
//! each with its severity and its words. Keeping one alert per condition
//! while it lasts, clearing it when it ends and telling people is the
//! caller's (`db::alerts`).

use std::fmt;

use chrono::{Duration, NaiveDateTime};
use serde::{Deserialize, Serialize};

use super::health::Health;
use super::pool::ArrayState;
use super::volume::{ThinFullness, size_words};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Info, Severity::Warning, Severity::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A condition that holds now. `(rule, subject)` names it: while it holds
/// it is one alert, whatever its words or severity become.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// `pool.degraded`, `drive.health`, ... (see [`RULES`]).
    pub rule: &'static str,
    /// What it is about, as a resource key: `pool:tank`, `drive:ZL2ABC`,
    /// `enclosure:0x5000...:Fan 2`, `job:12`, `agent`.
    pub subject: String,
    pub severity: Severity,
    /// One line, for a wall tile and a mail's subject.
    pub summary: String,
    /// What is known besides, and what to do.
    pub detail: String,
    /// The console page that shows it.
    pub link: String,
}

/// Every rule, with what raises it, for the alerts page and the docs.
pub const RULES: &[(&str, &str)] = &[
    (
        "pool.failed",
        "a pool has lost more members than its level survives, or is not running",
    ),
    (
        "pool.degraded",
        "a pool is missing members (critical once one more loss would lose data)",
    ),
    (
        "pool.rebuilt",
        "a degraded pool is clean again (kept a day, or until acknowledged and cleared)",
    ),
    (
        "pool.capacity",
        "a pool's volume group is above 80% (warning) or 90% (critical) given to volumes",
    ),
    (
        "pool.thin",
        "a pool's thin pool holds above 80% or 90% of its data or metadata",
    ),
    (
        "pool.scrub",
        "a pool's last check found sectors that do not match (a repair clears it)",
    ),
    (
        "drive.health",
        "a drive's verdict is warning or failing, with its reason",
    ),
    ("drive.missing", "a pool's member has gone from its bay"),
    ("enclosure.missing", "an enclosure is no longer seen"),
    (
        "enclosure.element",
        "an enclosure reports a power supply, fan or sensor in trouble",
    ),
    (
        "replication.lagging",
        "a replicated volume's last consistent point is older than its objective (critical at \
         three times it)",
    ),
    (
        "replication.broken",
        "a volume's last transfer to its replica failed (the link, the peer, or the peer's \
         refusal); it is tried again",
    ),
    (
        "job.failed",
        "a job failed and nothing on its resources has succeeded since (a week at most)",
    ),
    (
        "agent.silent",
        "the agent has not observed the system for three of its intervals",
    ),
];

/// A pool as the rules need it.
#[derive(Debug, Clone, Default)]
pub struct PoolFacts {
    pub name: String,
    /// `creating`, `ready`, `deleting`.
    pub lifecycle: String,
    /// The array's state where it is seen; `None`: not seen.
    pub state: Option<ArrayState>,
    /// Slots without a member in sync.
    pub degraded: u32,
    /// How many missing members its level survives.
    pub tolerates: u32,
    /// A rebuild's percent, while md runs one.
    pub rebuild_percent: Option<f64>,
    /// Its volume group: size and what volumes were given.
    pub size_bytes: Option<u64>,
    pub allocated_bytes: Option<u64>,
    /// Its thin pool's data and metadata use, in percent.
    pub thin: Option<(f64, f64)>,
    /// What its last finished scrub found, and whether it was a repair
    /// (which rewrote them).
    pub scrub_mismatches: Option<(u64, bool)>,
}

#[derive(Debug, Clone, Default)]
pub struct DriveFacts {
    pub id: i64,
    pub serial: String,
    /// "Seagate ST4000NM0035".
    pub make: String,
    pub health: Option<Health>,
    pub reason: String,
    pub present: bool,
    /// Where it is (or, for one gone, was last seen): "Front 12".
    pub bay: Option<String>,
    /// The pool it is a member of (spares not counted).
    pub pool: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct EnclosureFacts {
    pub ident: String,
    pub label: String,
    pub present: bool,
    /// Elements the enclosure reports in trouble: kind, name, status,
    /// detail.
    pub troubled: Vec<(String, String, String, String)>,
}

/// A replicated volume as the rules need it.
#[derive(Debug, Clone)]
pub struct ReplicaFacts {
    pub volume: String,
    pub peer: String,
    pub role: super::replica::Role,
    pub state: super::replica::State,
    /// How old the last consistent point is, in seconds; `None` before
    /// the first.
    pub lag_s: Option<i64>,
    pub rpo_s: i64,
    /// Since when it has been replicated (the first point's lag counts
    /// from there).
    pub since: NaiveDateTime,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct FailedJob {
    pub id: i64,
    pub summary: String,
    pub error: String,
    pub finished_at: NaiveDateTime,
}

/// An alert open before this evaluation, for the rules that follow a change
/// rather than a state (a rebuild that finished).
#[derive(Debug, Clone)]
pub struct Open {
    pub rule: String,
    pub subject: String,
    pub raised_at: NaiveDateTime,
}

/// Everything the rules look at.
#[derive(Debug, Clone)]
pub struct Facts {
    pub now: NaiveDateTime,
    pub pools: Vec<PoolFacts>,
    pub drives: Vec<DriveFacts>,
    pub enclosures: Vec<EnclosureFacts>,
    pub failed_jobs: Vec<FailedJob>,
    pub replicas: Vec<ReplicaFacts>,
    /// When the agent last observed; `None`: never.
    pub observed_at: Option<NaiveDateTime>,
    /// How old an observation may be before the agent counts as silent.
    pub stale_after: Duration,
    pub open: Vec<Open>,
}

/// How old the last observation may be before the agent counts as silent:
/// three of its intervals.
pub fn stale_after(observe_interval_seconds: u64) -> Duration {
    Duration::seconds(i64::try_from(observe_interval_seconds.max(1) * 3).unwrap_or(i64::MAX))
}

/// How long a failed job stays an alert when nothing clears it.
pub const JOB_FAILED_FOR: Duration = Duration::days(7);
/// How long "rebuild finished" stays.
pub const REBUILT_FOR: Duration = Duration::days(1);

fn replica_conditions(
    f: &Facts,
    r: &ReplicaFacts,
    push: &mut impl FnMut(&'static str, String, Severity, String, String, String),
) {
    use super::replica::{Role, State};
    if r.state == State::Promoted || r.state == State::Preparing {
        return;
    }
    let subject = format!("volume:{}", r.volume);
    let link = format!("/volumes/{}", r.volume);
    // Before the first point, the lag counts from when it was switched on.
    let lag = r
        .lag_s
        .unwrap_or_else(|| (f.now - r.since).num_seconds().max(0));
    if r.rpo_s > 0 && lag > r.rpo_s {
        let severity = if lag > 3 * r.rpo_s {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let (what, other) = match r.role {
            Role::Source => ("replica", format!("on {}", r.peer)),
            Role::Replica => ("copy", format!("of {}'s volume", r.peer)),
        };
        push(
            "replication.lagging",
            subject.clone(),
            severity,
            format!(
                "Volume {}'s {what} {other} is {} behind (objective {})",
                r.volume,
                duration_words(lag),
                duration_words(r.rpo_s)
            ),
            match (&r.last_error, r.lag_s) {
                (Some(e), _) => format!("The last transfer failed: {e}"),
                (None, None) => "The first point, sent in full, has not arrived yet.".into(),
                (None, Some(_)) => {
                    "Transfers are not keeping up: a slow link, a bandwidth limit, or much \
                     written."
                        .into()
                }
            },
            link.clone(),
        );
    }
    if r.role == Role::Source && r.state == State::Broken {
        push(
            "replication.broken",
            subject,
            Severity::Warning,
            format!("Volume {}'s transfers to {} fail", r.volume, r.peer),
            format!(
                "{} It is tried again every few seconds; the replica keeps its last consistent \
                 point meanwhile.",
                r.last_error
                    .as_deref()
                    .unwrap_or("The last transfer failed.")
            ),
            link,
        );
    }
}

/// Seconds in words: "45 s", "12 min", "3 h".
pub fn duration_words(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s => format!("{} h", s / 3600),
    }
}

fn percent_severity(percent: f64) -> Option<Severity> {
    match ThinFullness::of(percent, 0.0) {
        ThinFullness::Critical => Some(Severity::Critical),
        ThinFullness::Warning => Some(Severity::Warning),
        ThinFullness::Fine => None,
    }
}

impl Facts {
    fn was_open(&self, rule: &str, subject: &str) -> Option<&Open> {
        self.open
            .iter()
            .find(|o| o.rule == rule && o.subject == subject)
    }
}

/// The conditions that hold, from the facts.
pub fn conditions(f: &Facts) -> Vec<Condition> {
    let mut out = Vec::new();
    let mut push = |rule, subject: String, severity, summary: String, detail: String, link| {
        out.push(Condition {
            rule,
            subject,
            severity,
            summary,
            detail,
            link,
        })
    };
    for p in &f.pools {
        pool_conditions(f, p, &mut push);
    }
    for d in &f.drives {
        let subject = format!("drive:{}", d.serial);
        let link = format!("/drives/{}", d.id);
        let place = d
            .bay
            .as_deref()
            .map(|b| format!(" in {b}"))
            .unwrap_or_default();
        if d.present {
            let severity = match d.health {
                Some(Health::Failing) => Severity::Critical,
                Some(Health::Warning) => Severity::Warning,
                _ => continue,
            };
            let verdict = if severity == Severity::Critical {
                "is failing"
            } else {
                "needs watching"
            };
            let summary = format!("Drive {} {}{place} {verdict}", d.make, d.serial);
            let also = match &d.pool {
                Some(p) => format!(" It is a member of pool {p}: replace it from the pool's page."),
                None => String::new(),
            };
            push(
                "drive.health",
                subject,
                severity,
                summary,
                format!("{}.{also}", d.reason),
                link,
            );
        } else if let Some(pool) = &d.pool {
            let was = d
                .bay
                .as_deref()
                .map(|b| format!(" from {b}"))
                .unwrap_or_default();
            push(
                "drive.missing",
                subject,
                Severity::Critical,
                format!("Drive {} {} of pool {pool} has gone{was}", d.make, d.serial),
                format!(
                    "The pool runs without it. Put it back, or replace it from pool {pool}'s page."
                ),
                format!("/pools/{pool}"),
            );
        }
    }
    for e in &f.enclosures {
        if !e.present {
            push(
                "enclosure.missing",
                format!("enclosure:{}", e.ident),
                Severity::Critical,
                format!("Enclosure {} is no longer seen", e.label),
                "Its cable, expander or power may have failed; its bays stay on the map as \
                 missing."
                    .into(),
                "/bays".into(),
            );
            continue;
        }
        for (kind, name, status, detail) in &e.troubled {
            let severity = if status == "non-critical" {
                Severity::Warning
            } else {
                Severity::Critical
            };
            let detail = if detail.is_empty() {
                format!("The enclosure reports it {status}.")
            } else {
                format!("The enclosure reports it {status}: {detail}.")
            };
            push(
                "enclosure.element",
                format!("enclosure:{}:{name}", e.ident),
                severity,
                format!("{kind} {name} of {} is {status}", e.label),
                detail,
                "/bays".into(),
            );
        }
    }
    for r in &f.replicas {
        replica_conditions(f, r, &mut push);
    }
    for j in &f.failed_jobs {
        if f.now - j.finished_at > JOB_FAILED_FOR {
            continue;
        }
        push(
            "job.failed",
            format!("job:{}", j.id),
            Severity::Warning,
            format!("Job {} failed: {}", j.id, j.summary),
            j.error.clone(),
            format!("/jobs/{}", j.id),
        );
    }
    let silent = match f.observed_at {
        Some(at) => f.now - at > f.stale_after,
        None => false,
    };
    if silent {
        let at = f
            .observed_at
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string());
        push(
            "agent.silent",
            "agent".into(),
            Severity::Warning,
            "The agent has stopped observing the appliance".into(),
            format!(
                "Its last observation was at {}; what the console shows is older than that. \
                 Check that the agent (baystack-agent.service, or `baystack serve`) runs.",
                at.unwrap_or_default()
            ),
            "/".into(),
        );
    }
    out
}

type Push<'a> = dyn FnMut(&'static str, String, Severity, String, String, String) + 'a;

fn pool_conditions(f: &Facts, p: &PoolFacts, push: &mut Push<'_>) {
    if p.lifecycle != "ready" {
        return;
    }
    let subject = format!("pool:{}", p.name);
    let link = format!("/pools/{}", p.name);
    let name = &p.name;
    match p.state {
        None | Some(ArrayState::Failed | ArrayState::Inactive) => {
            let (summary, detail) = match p.state {
                None => (
                    format!("Pool {name} is not running"),
                    "Its md array is not seen: its volumes cannot be reached.".to_string(),
                ),
                Some(ArrayState::Inactive) => (
                    format!("Pool {name} is not running"),
                    "Its md array is assembled but inactive (members missing at start): its \
                     volumes cannot be reached."
                        .to_string(),
                ),
                _ => (
                    format!("Pool {name} has failed"),
                    format!(
                        "{} member(s) are missing and its level survives {}: its data is lost \
                         unless the missing drives come back.",
                        p.degraded, p.tolerates
                    ),
                ),
            };
            push(
                "pool.failed",
                subject.clone(),
                Severity::Critical,
                summary,
                detail,
                link.clone(),
            );
        }
        Some(_) if p.degraded > 0 => {
            let severity = if p.degraded >= p.tolerates {
                Severity::Critical
            } else {
                Severity::Warning
            };
            let doing = match p.rebuild_percent {
                Some(pc) => format!(", rebuilding ({pc:.1}%)"),
                None => String::new(),
            };
            let left = p.tolerates.saturating_sub(p.degraded);
            let detail = if left == 0 {
                "One more drive lost would lose its data.".to_string()
            } else {
                format!("It can lose {left} more drive(s) and keep its data.")
            };
            let detail = if p.rebuild_percent.is_some() {
                detail
            } else {
                format!(
                    "{detail} Nothing is rebuilding: add a spare or replace the missing member."
                )
            };
            push(
                "pool.degraded",
                subject.clone(),
                severity,
                format!(
                    "Pool {name} is degraded: {} member(s) missing{doing}",
                    p.degraded
                ),
                detail,
                link.clone(),
            );
        }
        Some(ArrayState::Clean) => {
            let after_rebuild = f.was_open("pool.degraded", &subject).is_some()
                || f.was_open("pool.failed", &subject).is_some();
            let kept = f
                .was_open("pool.rebuilt", &subject)
                .is_some_and(|o| f.now - o.raised_at < REBUILT_FOR);
            if after_rebuild || kept {
                push(
                    "pool.rebuilt",
                    subject.clone(),
                    Severity::Info,
                    format!("Pool {name} is clean again"),
                    "Every member is in sync: its redundancy is back.".into(),
                    link.clone(),
                );
            }
        }
        Some(_) => {}
    }
    if let (Some(size), Some(used)) = (p.size_bytes, p.allocated_bytes)
        && size > 0
    {
        let percent = used as f64 * 100.0 / size as f64;
        if let Some(severity) = percent_severity(percent) {
            push(
                "pool.capacity",
                subject.clone(),
                severity,
                format!("Pool {name} is {percent:.0}% given to volumes"),
                format!(
                    "{} of {} is free. Grow the pool or delete volumes or snapshots.",
                    size_words(size.saturating_sub(used)),
                    size_words(size)
                ),
                link.clone(),
            );
        }
    }
    if let Some((data, meta)) = p.thin {
        let most = data.max(meta);
        if let Some(severity) = percent_severity(most) {
            push(
                "pool.thin",
                subject.clone(),
                severity,
                format!("The thin pool of {name} is {most:.0}% full"),
                format!(
                    "Data {data:.1}%, metadata {meta:.1}%. Writes to its thin volumes fail when \
                     it is full: free space (delete snapshots) or grow it."
                ),
                link.clone(),
            );
        }
    }
    // A repair rewrites what it finds: it ends the condition.
    if let Some((n, false)) = p.scrub_mismatches
        && n > 0
    {
        push(
            "pool.scrub",
            subject,
            Severity::Warning,
            format!("The last scrub of pool {name} found {n} mismatched sectors"),
            format!(
                "Its check found {n} sectors whose copies or parity did not match. Run a repair \
                 from the pool's page: it rewrites them and clears this."
            ),
            link,
        );
    }
}

/// An appliance's state in one colour, as a wall shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Overall {
    Green,
    Amber,
    Red,
}

impl Overall {
    pub fn as_str(self) -> &'static str {
        match self {
            Overall::Green => "green",
            Overall::Amber => "amber",
            Overall::Red => "red",
        }
    }

    pub fn parse(text: &str) -> Overall {
        match text {
            "green" => Overall::Green,
            "red" => Overall::Red,
            _ => Overall::Amber,
        }
    }
}

/// Red while a critical alert waits for a person; amber while anything
/// else is wrong (a warning, a critical alert someone has acknowledged,
/// an agent that has stopped observing); green only when nothing is. The
/// reason is the worst alert's summary, in words. `alerts` are the active
/// ones: severity, acknowledged, summary.
pub fn overall<'a>(
    alerts: impl IntoIterator<Item = (Severity, bool, &'a str)>,
    silent: Option<&str>,
) -> (Overall, String) {
    let mut worst: Option<(Overall, &str)> = None;
    let mut needing = 0;
    for (severity, acked, summary) in alerts {
        let level = match (severity, acked) {
            (Severity::Critical, false) => Overall::Red,
            (Severity::Info, _) => continue,
            _ => Overall::Amber,
        };
        if level == Overall::Red {
            needing += 1;
        }
        if worst.is_none_or(|(w, _)| level > w) {
            worst = Some((level, summary));
        }
    }
    match (worst, silent) {
        (Some((Overall::Red, why)), _) if needing > 1 => (
            Overall::Red,
            format!(
                "{why}, and {} more critical alert(s) need a person",
                needing - 1
            ),
        ),
        (Some((Overall::Red, why)), _) => (Overall::Red, why.to_string()),
        (_, Some(why)) => (Overall::Amber, why.to_string()),
        (Some((level, why)), None) => (level, why.to_string()),
        (None, None) => (Overall::Green, "All is well".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn facts() -> Facts {
        Facts {
            now: at("2026-12-07 12:00:00"),
            pools: vec![],
            drives: vec![],
            enclosures: vec![],
            failed_jobs: vec![],
            replicas: vec![],
            observed_at: Some(at("2026-12-07 11:59:50")),
            stale_after: Duration::seconds(30),
            open: vec![],
        }
    }

    fn pool(state: ArrayState, degraded: u32) -> PoolFacts {
        PoolFacts {
            name: "tank".into(),
            lifecycle: "ready".into(),
            state: Some(state),
            degraded,
            tolerates: 1,
            ..Default::default()
        }
    }

    fn rules(f: &Facts) -> Vec<(&'static str, String, Severity)> {
        conditions(f)
            .into_iter()
            .map(|c| (c.rule, c.subject, c.severity))
            .collect()
    }

    #[test]
    fn the_overall_state_is_red_only_for_what_waits_for_a_person() {
        use Severity::*;
        assert_eq!(overall([], None), (Overall::Green, "All is well".into()));
        assert_eq!(overall([(Info, false, "rebuilt")], None).0, Overall::Green);
        assert_eq!(
            overall([(Warning, false, "w"), (Critical, true, "c")], None),
            (Overall::Amber, "w".into())
        );
        assert_eq!(
            overall(
                [
                    (Warning, false, "w"),
                    (Critical, false, "c1"),
                    (Critical, false, "c2")
                ],
                None
            ),
            (
                Overall::Red,
                "c1, and 1 more critical alert(s) need a person".into()
            )
        );
        assert_eq!(
            overall([], Some("the agent is silent")),
            (Overall::Amber, "the agent is silent".into()),
            "a stale wall is never green"
        );
        assert_eq!(
            overall([(Critical, false, "c")], Some("silent")).0,
            Overall::Red
        );
    }

    #[test]
    fn a_healthy_appliance_raises_nothing() {
        let mut f = facts();
        f.pools.push(pool(ArrayState::Clean, 0));
        f.drives.push(DriveFacts {
            serial: "A".into(),
            health: Some(Health::Healthy),
            present: true,
            ..Default::default()
        });
        assert!(conditions(&f).is_empty());
    }

    #[test]
    fn pool_states_raise_their_rules() {
        let mut f = facts();
        f.pools.push(pool(ArrayState::Degraded, 1));
        let c = conditions(&f);
        assert_eq!(c[0].rule, "pool.degraded");
        assert_eq!(c[0].severity, Severity::Critical, "raid5 missing one");
        assert!(
            c[0].detail.contains("Nothing is rebuilding"),
            "{}",
            c[0].detail
        );

        let mut raid6 = pool(ArrayState::Recovering, 1);
        raid6.tolerates = 2;
        raid6.rebuild_percent = Some(42.0);
        f.pools = vec![raid6];
        let c = conditions(&f);
        assert_eq!(
            c[0].severity,
            Severity::Warning,
            "raid6 missing one keeps redundancy"
        );
        assert!(
            c[0].summary.contains("rebuilding (42.0%)"),
            "{}",
            c[0].summary
        );

        f.pools = vec![pool(ArrayState::Failed, 2)];
        assert_eq!(
            rules(&f),
            [("pool.failed", "pool:tank".into(), Severity::Critical)]
        );
        let mut gone = pool(ArrayState::Clean, 0);
        gone.state = None;
        f.pools = vec![gone];
        assert_eq!(rules(&f)[0].0, "pool.failed");
        let mut making = pool(ArrayState::Clean, 0);
        making.lifecycle = "creating".into();
        making.state = None;
        f.pools = vec![making];
        assert!(rules(&f).is_empty(), "a pool being made is not missing");
    }

    #[test]
    fn a_rebuild_finished_is_said_once_and_kept_a_day() {
        let mut f = facts();
        f.pools.push(pool(ArrayState::Clean, 0));
        f.open.push(Open {
            rule: "pool.degraded".into(),
            subject: "pool:tank".into(),
            raised_at: at("2026-12-07 10:00:00"),
        });
        assert_eq!(
            rules(&f),
            [("pool.rebuilt", "pool:tank".into(), Severity::Info)]
        );
        f.open = vec![Open {
            rule: "pool.rebuilt".into(),
            subject: "pool:tank".into(),
            raised_at: at("2026-12-07 11:00:00"),
        }];
        assert_eq!(rules(&f).len(), 1, "kept while under a day old");
        f.now = at("2026-12-08 11:00:01");
        f.observed_at = Some(f.now);
        assert!(rules(&f).is_empty(), "cleared after a day");
    }

    #[test]
    fn capacity_and_thin_pools_warn_above_80_and_90() {
        let mut f = facts();
        let mut p = pool(ArrayState::Clean, 0);
        p.size_bytes = Some(100 << 30);
        p.allocated_bytes = Some(80 << 30);
        p.thin = Some((80.5, 10.0));
        f.pools.push(p.clone());
        assert_eq!(
            rules(&f),
            [("pool.thin", "pool:tank".into(), Severity::Warning)]
        );
        p.allocated_bytes = Some(91 << 30);
        p.thin = Some((10.0, 95.0));
        f.pools = vec![p];
        assert_eq!(
            rules(&f),
            [
                ("pool.capacity", "pool:tank".into(), Severity::Critical),
                ("pool.thin", "pool:tank".into(), Severity::Critical)
            ]
        );
    }

    #[test]
    fn scrub_mismatches_drives_enclosures_jobs_and_silence() {
        let mut f = facts();
        let mut p = pool(ArrayState::Clean, 0);
        p.scrub_mismatches = Some((128, false));
        f.pools.push(p);
        f.drives = vec![
            DriveFacts {
                id: 3,
                serial: "W".into(),
                health: Some(Health::Warning),
                reason: "5 reallocated sectors".into(),
                present: true,
                ..Default::default()
            },
            DriveFacts {
                id: 4,
                serial: "F".into(),
                health: Some(Health::Failing),
                present: true,
                pool: Some("tank".into()),
                ..Default::default()
            },
            DriveFacts {
                id: 5,
                serial: "G".into(),
                present: false,
                pool: Some("tank".into()),
                bay: Some("Front 3".into()),
                ..Default::default()
            },
            DriveFacts {
                id: 6,
                serial: "P".into(),
                present: false,
                ..Default::default()
            },
        ];
        f.enclosures = vec![
            EnclosureFacts {
                ident: "e1".into(),
                label: "Front".into(),
                present: true,
                troubled: vec![
                    (
                        "Cooling".into(),
                        "Fan 2".into(),
                        "critical".into(),
                        "0 rpm".into(),
                    ),
                    (
                        "Temperature sensor".into(),
                        "T".into(),
                        "non-critical".into(),
                        "".into(),
                    ),
                ],
            },
            EnclosureFacts {
                ident: "e2".into(),
                label: "JBOD".into(),
                present: false,
                troubled: vec![],
            },
        ];
        f.failed_jobs = vec![
            FailedJob {
                id: 12,
                summary: "Create pool tank".into(),
                error: "mdadm said no".into(),
                finished_at: at("2026-12-07 11:00:00"),
            },
            FailedJob {
                id: 2,
                summary: "old".into(),
                error: "".into(),
                finished_at: at("2026-11-01 11:00:00"),
            },
        ];
        f.observed_at = Some(at("2026-12-07 11:59:00"));
        let got = rules(&f);
        let want: Vec<(&str, String, Severity)> = vec![
            ("pool.scrub", "pool:tank".into(), Severity::Warning),
            ("drive.health", "drive:W".into(), Severity::Warning),
            ("drive.health", "drive:F".into(), Severity::Critical),
            ("drive.missing", "drive:G".into(), Severity::Critical),
            (
                "enclosure.element",
                "enclosure:e1:Fan 2".into(),
                Severity::Critical,
            ),
            (
                "enclosure.element",
                "enclosure:e1:T".into(),
                Severity::Warning,
            ),
            (
                "enclosure.missing",
                "enclosure:e2".into(),
                Severity::Critical,
            ),
            ("job.failed", "job:12".into(), Severity::Warning),
            ("agent.silent", "agent".into(), Severity::Warning),
        ];
        assert_eq!(got, want);
        let c = conditions(&f);
        assert!(
            c[2].detail.contains("member of pool tank"),
            "{}",
            c[2].detail
        );
        assert!(c[3].summary.contains("from Front 3"), "{}", c[3].summary);
        assert!(c.iter().all(|c| RULES.iter().any(|(r, _)| *r == c.rule)));
    }

    #[test]
    fn a_replica_behind_its_objective_lags_and_a_failing_link_is_broken() {
        use crate::domain::replica::{Role, State};
        let replica = |role, state, lag: Option<i64>, error: Option<&str>| ReplicaFacts {
            volume: "db".into(),
            peer: "bay02".into(),
            role,
            state,
            lag_s: lag,
            rpo_s: 60,
            since: at("2026-12-07 11:00:00"),
            last_error: error.map(String::from),
        };
        let mut f = facts();
        f.replicas = vec![replica(Role::Source, State::InSync, Some(30), None)];
        assert!(conditions(&f).is_empty());
        f.replicas = vec![replica(Role::Source, State::InSync, Some(90), None)];
        let c = conditions(&f);
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].rule, c[0].severity),
            ("replication.lagging", Severity::Warning)
        );
        assert_eq!(c[0].subject, "volume:db");
        assert!(
            c[0].summary.contains("90 s behind (objective 60 s)"),
            "{}",
            c[0].summary
        );
        f.replicas = vec![replica(
            Role::Source,
            State::Broken,
            Some(200),
            Some("bay02:7790: connection refused"),
        )];
        let c = conditions(&f);
        let rules: Vec<_> = c.iter().map(|c| (c.rule, c.severity)).collect();
        assert_eq!(
            rules,
            [
                ("replication.lagging", Severity::Critical),
                ("replication.broken", Severity::Warning)
            ]
        );
        assert!(
            c[1].detail.contains("connection refused"),
            "{}",
            c[1].detail
        );
        // The replica's side lags too, but the broken link is the source's.
        f.replicas = vec![replica(Role::Replica, State::Broken, Some(200), None)];
        let rules: Vec<_> = conditions(&f).iter().map(|c| c.rule).collect();
        assert_eq!(rules, ["replication.lagging"]);
        // Before the first point, the lag counts from switching on: an hour.
        f.replicas = vec![replica(Role::Source, State::InitialSync, None, None)];
        let c = conditions(&f);
        assert!(
            c[0].detail.contains("has not arrived yet"),
            "{}",
            c[0].detail
        );
        // A promoted replica is the volume in use: nothing to say.
        f.replicas = vec![replica(Role::Replica, State::Promoted, Some(9999), None)];
        assert!(conditions(&f).is_empty());
        assert_eq!(duration_words(7300), "2 h");
    }
}

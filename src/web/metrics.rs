//! `GET /metrics`: the appliance in the Prometheus text format, encoded by
//! `prometheus-client`. Gauges are read from the database at each scrape
//! (what the agent last observed, and how long ago); the job duration
//! histogram counts the jobs that finished since this console started,
//! as a process's own histograms do (Prometheus sees the reset when the
//! console restarts).

use std::collections::HashSet;

use actix_web::{HttpResponse, web};
use chrono::NaiveDateTime;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::{ApiError, AppState};
use crate::db::{self, metrics::Snapshot};
use crate::domain::alert::Severity;
use crate::domain::health::{Health, error_count};
use crate::error::AppError;

type Labels = Vec<(&'static str, String)>;
type GaugeF = Gauge<f64, std::sync::atomic::AtomicU64>;
type Histograms = Family<Labels, Histogram, fn() -> Histogram>;

fn job_histogram() -> Histogram {
    // 0.1 s to about 1.8 days.
    Histogram::new(exponential_buckets(0.1, 4.0, 13))
}

/// The job duration histogram and where its count has got to: jobs that
/// finished after `since` are counted at the next scrape, each once (`seen`
/// holds the ids counted in the last minutes, since a job may commit a
/// little after one that finished later).
pub struct JobDurations {
    histograms: Histograms,
    since: NaiveDateTime,
    seen: HashSet<(i64, NaiveDateTime)>,
}

impl Default for JobDurations {
    fn default() -> Self {
        JobDurations {
            histograms: Family::new_with_constructor(job_histogram),
            since: db::now(),
            seen: HashSet::new(),
        }
    }
}

/// How far back each scrape looks again for jobs that committed late.
const LATE: chrono::Duration = chrono::Duration::minutes(2);

impl JobDurations {
    fn count(&mut self, finished: Vec<db::metrics::Finished>) {
        let mut newest = self.since;
        for f in finished {
            if self.seen.insert((f.id, f.finished_at)) {
                self.histograms
                    .get_or_create(&vec![("kind", f.kind)])
                    .observe(f.seconds);
            }
            newest = newest.max(f.finished_at);
        }
        self.since = newest;
        let keep_from = newest - LATE;
        self.seen.retain(|(_, at)| *at > keep_from);
    }
}

pub async fn serve(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let since = state.job_durations.lock().expect("job durations").since - LATE;
    let (snap, finished) = state
        .db
        .run(move |conn| -> Result<_, AppError> {
            let mut c = conn.conn();
            Ok((
                db::metrics::snapshot(&mut c)?,
                db::metrics::finished_since(&mut c, since)?,
            ))
        })
        .await?;
    let histograms = {
        let mut d = state.job_durations.lock().expect("job durations");
        d.count(finished);
        d.histograms.clone()
    };
    let body = encode_all(&snap, histograms, db::now())?;
    Ok(HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(body))
}

/// A family of gauges registered under `name`.
fn gauges(reg: &mut Registry, name: &str, help: &str) -> Family<Labels, GaugeF> {
    let f = Family::<Labels, GaugeF>::default();
    reg.register(name, help, f.clone());
    f
}

/// A family of counters registered under `name` (the encoder adds
/// `_total`).
fn counters(reg: &mut Registry, name: &str, help: &str) -> Family<Labels, Counter> {
    let f = Family::<Labels, Counter>::default();
    reg.register(name, help, f.clone());
    f
}

fn set(f: &Family<Labels, GaugeF>, labels: Labels, v: f64) {
    f.get_or_create(&labels).set(v);
}

/// Every state a pool's `state` can take, for the state set.
const POOL_STATES: [&str; 11] = [
    "clean",
    "degraded",
    "resyncing",
    "recovering",
    "reshaping",
    "checking",
    "repairing",
    "inactive",
    "failed",
    "missing",
    "creating",
];

fn encode_all(s: &Snapshot, jobs_hist: Histograms, now: NaiveDateTime) -> Result<String, AppError> {
    let mut reg = Registry::default();
    pools(&mut reg, s);
    drives(&mut reg, s);
    enclosures(&mut reg, s);
    replication(&mut reg, s, now);

    let alerts = gauges(
        &mut reg,
        "baystack_alerts",
        "Active alerts by severity and state",
    );
    for sev in Severity::ALL {
        for st in ["open", "acknowledged"] {
            let n = s
                .alerts
                .iter()
                .filter(|a| a.severity() == sev && a.state() == st)
                .count();
            set(
                &alerts,
                vec![("severity", sev.to_string()), ("state", st.into())],
                n as f64,
            );
        }
    }
    let jobs = gauges(
        &mut reg,
        "baystack_jobs",
        "Jobs in the queue's table by kind and state",
    );
    for (kind, state, n) in &s.jobs {
        set(
            &jobs,
            vec![("kind", kind.clone()), ("state", state.clone())],
            *n as f64,
        );
    }
    reg.register(
        "baystack_job_duration_seconds",
        "How long jobs ran, from start to finish, since this console started",
        jobs_hist,
    );
    if let Some(at) = s.observed_at {
        let age = GaugeF::default();
        age.set((now - at).num_milliseconds().max(0) as f64 / 1000.0);
        reg.register(
            "baystack_observation_age_seconds",
            "Seconds since the agent last observed the system (absent before its first look)",
            age,
        );
    }
    let mut out = String::new();
    encode(&mut out, &reg).map_err(|e| AppError::Internal(format!("metrics: {e}")))?;
    Ok(out)
}

/// Each replicated volume: its state as a state set, the age of its last
/// consistent point against its objective, what is still to send, and the
/// last transfer's speed.
fn replication(reg: &mut Registry, s: &Snapshot, now: NaiveDateTime) {
    use crate::domain::replica::State;
    let state = gauges(
        reg,
        "baystack_replication_state",
        "A replicated volume's state (1 for the one it is in), with its role and peer",
    );
    let lag = gauges(
        reg,
        "baystack_replication_lag_seconds",
        "How old the last consistent point of a replicated volume is (absent before the first)",
    );
    let rpo = gauges(
        reg,
        "baystack_replication_rpo_seconds",
        "A replicated volume's recovery point objective",
    );
    let pending = gauges(
        reg,
        "baystack_replication_pending_bytes",
        "Bytes of the point in flight still to send",
    );
    let speed = gauges(
        reg,
        "baystack_replication_throughput_bytes_per_second",
        "The last transfer's speed",
    );
    for r in &s.replications {
        let labels = |extra: Vec<(&'static str, String)>| {
            let mut l = vec![
                ("volume", r.volume.clone()),
                ("peer", r.peer.clone()),
                ("role", r.role.clone()),
            ];
            l.extend(extra);
            l
        };
        let now_state = r.state(now);
        for st in State::ALL {
            set(
                &state,
                labels(vec![("state", st.as_str().into())]),
                f64::from(u8::from(st == now_state)),
            );
        }
        if let Some(l) = r.lag_s(now) {
            set(&lag, labels(vec![]), l as f64);
        }
        set(&rpo, labels(vec![]), r.rpo_s as f64);
        set(&pending, labels(vec![]), r.pending_bytes as f64);
        set(&speed, labels(vec![]), r.throughput_bps as f64);
    }
}

fn pools(reg: &mut Registry, s: &Snapshot) {
    let state = gauges(
        reg,
        "baystack_pool_state",
        "1 for the pool's state, 0 for the others",
    );
    let degraded = gauges(
        reg,
        "baystack_pool_degraded_members",
        "Slots of the pool's array without a member in sync",
    );
    let size = gauges(
        reg,
        "baystack_pool_size_bytes",
        "Size of the pool's volume group",
    );
    let alloc = gauges(
        reg,
        "baystack_pool_allocated_bytes",
        "What the pool's volume group has given to volumes",
    );
    let progress = gauges(
        reg,
        "baystack_pool_sync_progress_ratio",
        "How far md's rebuild, resync, reshape or check has got (0 to 1), while it runs",
    );
    let left = gauges(
        reg,
        "baystack_pool_sync_remaining_seconds",
        "md's estimate of the time left for what it runs",
    );
    let thin_data = gauges(
        reg,
        "baystack_pool_thin_data_ratio",
        "How full the pool's thin pool's data is (0 to 1)",
    );
    let thin_meta = gauges(
        reg,
        "baystack_pool_thin_metadata_ratio",
        "How full the pool's thin pool's metadata is (0 to 1)",
    );
    for p in &s.pools {
        let a = p.array();
        let now = match (&a, p.lifecycle.as_str()) {
            (None, "creating") => "creating",
            (None, _) => "missing",
            (Some(a), _) => a.state.map_or("clean", |st| st.as_str()),
        };
        let pool = || vec![("pool", p.name.clone())];
        for st in POOL_STATES {
            set(
                &state,
                vec![("pool", p.name.clone()), ("state", st.into())],
                f64::from(u8::from(st == now)),
            );
        }
        if let Some(a) = &a {
            set(&degraded, pool(), f64::from(a.degraded_count.unwrap_or(0)));
            if let (Some(pr), Some(action)) = (&a.progress, a.sync_action) {
                let labels = vec![("pool", p.name.clone()), ("action", action.as_str().into())];
                set(&progress, labels, pr.percent / 100.0);
                if let Some(secs) = pr.seconds_left {
                    set(&left, pool(), secs as f64);
                }
            }
        }
        if let Some(vg) = p.volume_group() {
            set(&size, pool(), vg.size_bytes as f64);
            set(
                &alloc,
                pool(),
                vg.size_bytes.saturating_sub(vg.free_bytes) as f64,
            );
        }
        if let Some(t) = p.thin_pool() {
            set(&thin_data, pool(), t.data_percent.unwrap_or(0.0) / 100.0);
            set(
                &thin_meta,
                pool(),
                t.metadata_percent.unwrap_or(0.0) / 100.0,
            );
        }
    }
}

fn drives(reg: &mut Registry, s: &Snapshot) {
    let info = gauges(
        reg,
        "baystack_drive_info",
        "1 for each drive seen, with what it is and where",
    );
    let present = gauges(
        reg,
        "baystack_drive_present",
        "1 while the drive is seen, 0 once gone",
    );
    let health = gauges(
        reg,
        "baystack_drive_health",
        "1 for the drive's SMART verdict, 0 for the others",
    );
    let temp = gauges(
        reg,
        "baystack_drive_temperature_celsius",
        "The drive's temperature in its last SMART reading",
    );
    let errors = gauges(
        reg,
        "baystack_drive_smart_errors",
        "The error counts the verdict watches, summed (ATA 5, 187, 188, 197, 198, 199; SAS and NVMe error counters), in the last SMART reading",
    );
    let power_on = counters(
        reg,
        "baystack_drive_power_on_seconds",
        "The drive's power-on time, from its SMART hours",
    );
    let medium = counters(
        reg,
        "baystack_drive_kernel_medium_errors",
        "Medium errors the kernel logged against the drive since Baystack began watching it",
    );
    let io = counters(
        reg,
        "baystack_drive_kernel_io_errors",
        "Other I/O errors the kernel logged against the drive",
    );
    for (d, place) in &s.drives {
        let serial = || vec![("serial", d.serial.clone())];
        let (pool, role) = s.pool_of.get(&d.id).cloned().unwrap_or_default();
        set(
            &info,
            vec![
                ("serial", d.serial.clone()),
                ("model", d.make()),
                ("bay", place.as_ref().map(|p| p.name()).unwrap_or_default()),
                ("device", d.dev_name.clone().unwrap_or_default()),
                ("pool", pool),
                ("role", role),
            ],
            1.0,
        );
        set(&present, serial(), f64::from(u8::from(d.present)));
        if !d.present {
            continue;
        }
        let verdict = d.health();
        for h in [
            Health::Healthy,
            Health::Warning,
            Health::Failing,
            Health::Unknown,
        ] {
            set(
                &health,
                vec![("serial", d.serial.clone()), ("health", h.as_str().into())],
                f64::from(u8::from(h == verdict)),
            );
        }
        if let Some(t) = d.temperature_c {
            set(&temp, serial(), f64::from(t));
        }
        if let Some(smart) = s.smart.get(&d.id) {
            set(&errors, serial(), error_count(smart) as f64);
        }
        if let Some(h) = d.power_on_hours {
            power_on
                .get_or_create(&serial())
                .inc_by(u64::try_from(h).unwrap_or(0) * 3600);
        }
        medium
            .get_or_create(&serial())
            .inc_by(u64::try_from(d.medium_errors).unwrap_or(0));
        io.get_or_create(&serial())
            .inc_by(u64::try_from(d.io_errors).unwrap_or(0));
    }
}

fn enclosures(reg: &mut Registry, s: &Snapshot) {
    let present = gauges(
        reg,
        "baystack_enclosure_present",
        "1 while the enclosure is seen, 0 once gone",
    );
    let ok = gauges(
        reg,
        "baystack_enclosure_element_ok",
        "1 when the enclosure reports the element OK, 0 otherwise",
    );
    let status = gauges(
        reg,
        "baystack_enclosure_element_status",
        "1 for the status the enclosure reports for the element",
    );
    for e in &s.enclosures {
        set(
            &present,
            vec![("enclosure", e.ident.clone())],
            f64::from(u8::from(e.present)),
        );
        if !e.present {
            continue;
        }
        for el in e.elements() {
            let labels = || {
                vec![
                    ("enclosure", e.ident.clone()),
                    ("kind", el.kind.clone()),
                    ("element", el.name.clone()),
                ]
            };
            set(&ok, labels(), f64::from(u8::from(el.status == "OK")));
            let mut with = labels();
            with.push(("status", el.status.clone()));
            set(&status, with, 1.0);
        }
    }
}

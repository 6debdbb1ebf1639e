//! What each CLI subcommand does. `main.rs` only parses arguments.

use std::io::{BufRead, IsTerminal};
use std::sync::Arc;

use anyhow::{Context, bail};
use tokio::sync::watch;

use crate::agent;
use crate::auth::{self, Role};
use crate::config::{BackendKind, Settings};
use crate::db::fleet::Fleet;
use crate::db::{self, Db, appliance, auth::Actor};
use crate::domain::clock::{self, Clock};
use crate::jobs::Wake;
use crate::naming;
use crate::storage::{self, linux};
use crate::web::{self, AppState};

/// Opens the engine the settings name, on the clock given: the one place
/// the engine is chosen.
pub fn engine(
    settings: &Settings,
    clock: Arc<dyn Clock>,
) -> Result<Box<dyn storage::Backend>, storage::BackendError> {
    match settings.backend {
        BackendKind::Sim => Ok(Box::new(
            storage::sim::SimBackend::open(&settings.data_dir, &settings.sim)?.with_clock(clock),
        )),
        BackendKind::Linux => Ok(Box::new(linux::LinuxBackend::new(&settings.linux, clock))),
    }
}

/// `baystack serve`: the web console, and the agent unless `with_agent` is
/// false.
pub async fn serve(settings: Settings, with_agent: bool) -> anyhow::Result<()> {
    let db = Db::open(&settings.database)?;
    tracing::info!("database {} ({})", db.description(), db.kind());
    let fleet = Fleet::new(&db, settings.fleet_database.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    let wake = Arc::new(Wake::default());
    let watch = tokio::spawn(watch_alerts(db.clone(), settings.clone(), stop_rx.clone()));
    let agent_task = if with_agent {
        let backend: Arc<dyn storage::Backend> = Arc::from(engine(&settings, clock::system())?);
        let (db, fleet, settings, wake, stop_rx) = (
            db.clone(),
            fleet.clone(),
            settings.clone(),
            wake.clone(),
            stop_rx.clone(),
        );
        Some(tokio::spawn(async move {
            agent::run(db, fleet, backend, &settings, wake, stop_rx).await
        }))
    } else {
        None
    };
    let (listen, settings_metrics) = (settings.listen, settings.metrics_listen);
    let state = actix_web::web::Data::new(
        AppState::new(db, settings)
            .with_wake(wake)
            .with_fleet(fleet),
    );
    let metrics = match settings_metrics {
        Some(addr) => {
            let server = web::server::serve_metrics(state.clone(), addr)
                .with_context(|| format!("cannot listen on {addr} for /metrics"))?;
            tracing::info!("/metrics also served on http://{addr}/metrics, without a token");
            let handle = server.handle();
            tokio::spawn(server);
            Some(handle)
        }
        None => None,
    };
    let tidy = tokio::spawn(tidy(state.clone(), stop_rx.clone()));
    let server = web::server::serve(state, listen, 2)
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!("console listening on http://{listen}/");
    let result = server.await;
    if let Some(m) = metrics {
        m.stop(true).await;
    }
    let _ = stop_tx.send(true);
    watch.abort();
    tidy.abort();
    if let Some(task) = agent_task {
        let _ = task.await;
    }
    result.context("the web server stopped with an error")
}

/// Every half minute: pages nobody asked for lately are forgotten, and
/// what malloc holds free is given back, so an idle console stays small.
async fn tidy(state: actix_web::web::Data<AppState>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(web::drawn::KEEP / 2) => {}
            _ = stop.changed() => return,
        }
        state.pages.sweep();
        crate::give_back_memory();
    }
}

/// The console's own look at the alerts, every observation interval: the
/// agent evaluates them after each look, but an agent that has stopped
/// cannot say so, so the console does (`agent.silent`), whether the agent
/// runs in this process or another, and sends that alert's notifications
/// itself: the job that would send them needs the agent.
async fn watch_alerts(db: Db, settings: Settings, mut stop: watch::Receiver<bool>) {
    let every = std::time::Duration::from_secs(settings.agent.observe_interval_seconds.max(1));
    let stale = agent::stale_after(&settings.agent);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        let db = db.clone();
        let look = move || -> Result<(), crate::error::AppError> {
            agent::evaluate_alerts(&db, stale)?;
            crate::jobs::kinds::deliver_silence(&db)?;
            Ok(())
        };
        match tokio::task::spawn_blocking(look).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("evaluating the alerts failed: {e}"),
            Err(e) => tracing::error!("alert watch task failed: {e}"),
        }
    }
}

/// `baystack agent`: only the agent, until SIGINT or SIGTERM.
pub async fn agent(settings: Settings) -> anyhow::Result<()> {
    let db = Db::open(&settings.database)?;
    let backend: Arc<dyn storage::Backend> = Arc::from(engine(&settings, clock::system())?);
    let (stop_tx, stop_rx) = watch::channel(false);
    let fleet = Fleet::new(&db, settings.fleet_database.clone());
    let task = tokio::spawn(async move {
        agent::run(
            db,
            fleet,
            backend,
            &settings,
            Arc::new(Wake::default()),
            stop_rx,
        )
        .await
    });
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    let _ = stop_tx.send(true);
    task.await?;
    Ok(())
}

/// `baystack migrate`: applies pending migrations and says what it did.
pub fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let db = Db::open(&settings.database)?;
    if db.applied_at_open.is_empty() {
        println!(
            "{}: schema is current ({})",
            db.description(),
            db::binary_schema_version()
        );
    } else {
        println!(
            "{}: applied {} migration(s): {}",
            db.description(),
            db.applied_at_open.len(),
            db.applied_at_open.join(", ")
        );
    }
    Ok(())
}

/// Reads a new password: twice at a terminal (without echo), once as a line
/// from a pipe. Never from the command line.
fn read_new_password(username: &str) -> anyhow::Result<String> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("New password for {username}: "))?;
        let second = rpassword::prompt_password("Again: ")?;
        if first != second {
            bail!("the two passwords differ; nothing changed");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        line.trim_end_matches(['\n', '\r']).to_string()
    };
    auth::check_new_password(&password, username)
        .map_err(|m| anyhow::anyhow!("{m}; nothing changed"))?;
    Ok(password)
}

fn cli_actor() -> String {
    format!("cli:{}", nix::unistd::getuid())
}

/// `baystack user add NAME --role ROLE`.
pub fn user_add(settings: &Settings, username: &str, role: &str) -> anyhow::Result<()> {
    naming::validate_username(username).map_err(|m| anyhow::anyhow!("{m}"))?;
    let role = Role::parse(role).ok_or_else(|| {
        anyhow::anyhow!("the role must be admin, operator or viewer, not {role:?}")
    })?;
    let db = Db::open(&settings.database)?;
    let mut conn = db.get()?;
    if appliance::get(&mut conn.conn())?.is_none() {
        bail!(
            "the appliance is not set up yet: finish the first-boot wizard at /setup (or POST /api/v1/setup) first"
        );
    }
    if db::auth::user_by_name(&mut conn.conn(), username)?.is_some() {
        bail!("a user named {username:?} already exists; use `baystack user passwd {username}`");
    }
    let password = read_new_password(username)?;
    let hash = auth::hash_password(&password);
    let actor = cli_actor();
    conn.write(|c| {
        db::auth::create_user(
            c,
            Actor {
                username: &actor,
                address: "local",
            },
            username,
            &hash,
            role,
            db::now(),
        )
    })?;
    println!("user {username} created with the {role} role");
    Ok(())
}

/// `baystack user passwd NAME`.
pub fn user_passwd(settings: &Settings, username: &str) -> anyhow::Result<()> {
    let db = Db::open(&settings.database)?;
    let mut conn = db.get()?;
    if db::auth::user_by_name(&mut conn.conn(), username)?.is_none() {
        bail!("there is no user named {username:?}");
    }
    let password = read_new_password(username)?;
    let hash = auth::hash_password(&password);
    let actor = cli_actor();
    conn.write(|c| {
        db::auth::set_password(
            c,
            Actor {
                username: &actor,
                address: "local",
            },
            username,
            &hash,
            None,
            db::now(),
        )
    })?;
    println!("password of {username} changed; their sessions are signed out");
    Ok(())
}

/// `baystack user unlock NAME`: the failed sign-ins counted against the
/// name are forgotten, audited.
pub fn user_unlock(settings: &Settings, username: &str) -> anyhow::Result<()> {
    let db = Db::open(&settings.database)?;
    let mut conn = db.get()?;
    if db::auth::user_by_name(&mut conn.conn(), username)?.is_none() {
        bail!("there is no user named {username:?}");
    }
    let actor = cli_actor();
    let dropped = conn.write(|c| -> anyhow::Result<usize> {
        let dropped = db::auth::unlock(c, username)?;
        db::audit::record(
            c,
            &db::audit::Entry {
                actor: Some(&actor),
                address: Some("local"),
                action: "user.unlock",
                target: Some(username),
                outcome: db::audit::Outcome::Ok,
                detail: "failed sign-ins forgotten",
            },
            db::now(),
        )?;
        Ok(dropped)
    })?;
    if dropped == 0 {
        println!("{username} had no failed sign-ins counted; nothing to unlock");
    } else {
        println!("{username} is unlocked: failed sign-ins from every address are forgotten");
    }
    Ok(())
}

/// One line of `check`'s report.
pub struct CheckLine {
    pub subject: String,
    pub ok: bool,
    pub text: String,
}

/// Whether the database at `url` can be reached, and its schema.
fn schema_line(subject: &str, url: &crate::config::DatabaseUrl) -> CheckLine {
    let (ok, text) = match Db::inspect(url) {
        Ok(status) => (
            true,
            match (&status.applied, status.pending) {
                (None, _) => format!(
                    "{}: new, {} migration(s) will be applied at start",
                    url.redacted(),
                    status.pending
                ),
                (Some(v), 0) => format!("{}: schema {v}, current", url.redacted()),
                (Some(v), n) => format!(
                    "{}: schema {v}, {n} migration(s) up to {} will be applied at start",
                    url.redacted(),
                    status.binary
                ),
            },
        ),
        Err(e) => (false, e.to_string()),
    };
    CheckLine {
        subject: subject.into(),
        ok,
        text,
    }
}

/// `baystack check`: config, database (and the fleet's registry, if set
/// apart) and, for `linux`, the system tools.
pub fn check(settings: &Settings, config_file: Option<&std::path::Path>) -> Vec<CheckLine> {
    let mut lines = Vec::new();
    lines.push(CheckLine {
        subject: "config".into(),
        ok: true,
        text: format!(
            "{}; listen {}, data dir {}, backend {}",
            config_file
                .map(|p| format!("file {}", p.display()))
                .unwrap_or_else(|| "embedded defaults and environment".into()),
            settings.listen,
            settings.data_dir.display(),
            settings.backend
        ),
    });
    lines.push(schema_line("database", &settings.database));
    if let Some(url) = &settings.fleet_database {
        lines.push(schema_line("fleet", url));
    }
    match settings.backend {
        BackendKind::Sim => lines.push(CheckLine {
            subject: "backend".into(),
            ok: true,
            text: format!(
                "sim: a simulated appliance with enclosures of {} bays, state in {}",
                settings
                    .sim
                    .layout
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(" + "),
                settings.data_dir.display()
            ),
        }),
        BackendKind::Linux => {
            lines.push(CheckLine {
                subject: "backend".into(),
                ok: true,
                text: "linux: the real storage stack".into(),
            });
            for tool in linux::TOOLS {
                let verdict = linux::check_tool(tool, &settings.linux);
                let text = match &verdict {
                    linux::ToolVerdict::Ok { path, version } => {
                        format!("{version} at {} ({})", path.display(), tool.purpose)
                    }
                    linux::ToolVerdict::Missing { searched } => format!(
                        "not found in {}: install the {} package ({})",
                        searched
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                        tool.package,
                        tool.purpose
                    ),
                    linux::ToolVerdict::TooOld { path, version } => format!(
                        "{version} at {} is older than {}: upgrade the {} package",
                        path.display(),
                        tool.min_version,
                        tool.package
                    ),
                    linux::ToolVerdict::Broken { path, reason } => {
                        format!("{} does not work: {reason}", path.display())
                    }
                };
                lines.push(CheckLine {
                    subject: format!("tool {}", tool.name),
                    ok: verdict.is_ok(),
                    text,
                });
            }
        }
    }
    lines
}

/// `baystack parse KIND PATH`: the structured JSON Baystack reads from a
/// captured tool output, or an error in words for input it does not know.
pub fn parse(kind: &str, path: &std::path::Path) -> anyhow::Result<String> {
    use crate::storage::linux::{enclosure, lsblk, lvm, md, sg_ses, smartctl};
    let read =
        || std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()));
    let value = match kind {
        "lsblk" => serde_json::to_value(lsblk::parse(&read()?)?)?,
        "smartctl" => {
            let (smart, note) = smartctl::parse_noted(&read()?)?;
            if let Some(note) = &note {
                eprintln!("baystack: {note}");
            }
            let (health, reason) = crate::domain::health::verdict(&smart, None);
            serde_json::json!({"smart": smart, "health": health, "reason": reason, "note": note})
        }
        "enclosure" => {
            // A sysfs root, or its class/enclosure directory: then the
            // tree is the sysfs copy it is in, whose devices its links
            // lead to (as /sys/class/enclosure's lead into /sys/devices).
            let in_sysfs = path
                .ends_with("class/enclosure")
                .then(|| path.parent().and_then(std::path::Path::parent))
                .flatten()
                .filter(|root| !root.as_os_str().is_empty());
            let whole = in_sysfs.is_some() || path.join("class/enclosure").is_dir();
            let found = if let Some(root) = in_sysfs {
                enclosure::read_all(root)?
            } else if whole {
                enclosure::read_all(path)?
            } else if path.is_dir() {
                enclosure::read_class(path)?
            } else {
                bail!(
                    "{} is not a directory; give a copy of /sys or of /sys/class/enclosure",
                    path.display()
                )
            };
            if found.is_empty() {
                // As /sys/class/enclosure's links into /sys/devices do.
                let links = !whole
                    && std::fs::read_dir(path)
                        .into_iter()
                        .flatten()
                        .flatten()
                        .any(|e| e.file_type().is_ok_and(|t| t.is_symlink()));
                bail!(
                    "{} holds no enclosure: no directory in it has components with a type file{}",
                    path.display(),
                    if links {
                        " (links that lead out of it are not followed: give the copy of /sys \
                         it is in, or /sys itself)"
                    } else {
                        ""
                    }
                );
            }
            // What could not be read, beside the output rather than in it.
            for e in &found {
                for note in &e.notes {
                    eprintln!("baystack: enclosure {}: {note}", e.hctl);
                }
            }
            enclosure::bays_json(&found)
        }
        "sg_ses" => {
            let report = sg_ses::parse(&read()?)?;
            let bays: Vec<_> = report
                .bays()
                .into_iter()
                .map(|(slot, address, el)| {
                    serde_json::json!({"slot": slot, "address": address.arg(), "element": el})
                })
                .collect();
            serde_json::json!({
                "id": report.id, "vendor": report.vendor, "product": report.product,
                "bays": bays, "elements": report.elements,
            })
        }
        "mdstat" => serde_json::to_value(md::parse::mdstat(&read()?)?)?,
        "mdadm-detail" => {
            // `--detail --export` prints KEY=value lines, `--detail` the
            // array's device and a colon.
            let text = read()?;
            let exported = text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .is_some_and(|l| l.starts_with("MD_") && l.contains('='));
            let (form, array) = if exported {
                ("export", md::parse::detail_export(&text)?)
            } else {
                ("detail", md::parse::detail(&text)?)
            };
            serde_json::json!({"form": form, "array": array})
        }
        "lvm" => {
            let (kind, report) = lvm::parse::any(&read()?)?;
            serde_json::json!({
                "report": kind, "pvs": report.pvs, "vgs": report.vgs, "lvs": report.lvs,
            })
        }
        other => bail!(
            "baystack does not know how to read {other:?}; it reads lsblk, smartctl, sg_ses, enclosure, mdstat, mdadm-detail and lvm"
        ),
    };
    Ok(serde_json::to_string_pretty(&value)?)
}

/// `baystack sim ...`: changes the simulated hardware; the running agent
/// sees it at its next observation.
pub fn sim(
    settings: &Settings,
    enclosure: &str,
    slot: u32,
    action: crate::storage::sim::SimAction,
) -> anyhow::Result<String> {
    Ok(open_sim(settings)?.act(enclosure, slot, action)?)
}

/// `baystack sim mismatch`: plants blocks whose redundancy does not match
/// in a simulated md array.
pub fn sim_mismatch(settings: &Settings, array: &str, blocks: u32) -> anyhow::Result<String> {
    Ok(open_sim(settings)?.plant_mismatches(array, blocks)?)
}

/// A simulated initiator writes `bytes` bytes of a pattern (from `seed`)
/// to thin volume `volume` at byte `at`, as a host writing to its LUN.
pub fn sim_write(
    settings: &Settings,
    volume: &str,
    at: u64,
    bytes: u64,
    seed: u8,
) -> anyhow::Result<String> {
    anyhow::ensure!(bytes <= 1 << 30, "write at most 1 GiB at a time");
    let data: Vec<u8> = (0..bytes)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    open_sim(settings)?.write_bytes(volume, at, &data)?;
    Ok(format!("{bytes} bytes written to {volume} at byte {at}"))
}

/// A simulated initiator logs in to a target (or, with `logout`, out):
/// refused as LIO refuses it when not in the ACL or with a wrong secret.
pub fn sim_initiator(
    settings: &Settings,
    iqn: &str,
    initiator: &str,
    address: &str,
    chap: Option<(&str, &str)>,
    logout: bool,
) -> anyhow::Result<String> {
    let sim = open_sim(settings)?;
    Ok(if logout {
        sim.disconnect(iqn, initiator)?
    } else {
        sim.connect(iqn, initiator, address, chap)?
    })
}

/// The simulated appliance a console with `settings` runs.
pub fn open_sim(settings: &Settings) -> anyhow::Result<crate::storage::sim::SimBackend> {
    if settings.backend != BackendKind::Sim {
        bail!(
            "baystack sim changes the simulated appliance only; this configuration uses the {} backend",
            settings.backend.as_str()
        );
    }
    Ok(crate::storage::sim::SimBackend::open_existing(
        &settings.data_dir,
        &settings.sim,
    )?)
}

//! The `baystack` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use baystack::commands;
use baystack::config::{CliOverrides, Settings};
use clap::{Args, Parser, Subcommand};

/// Baystack: a web console for a Linux storage appliance.
///
/// Settings come from built-in defaults, then the config file (--config),
/// then the environment (BAYSTACK_LISTEN, BAYSTACK_DATA_DIR,
/// BAYSTACK_DATABASE_URL, BAYSTACK_BACKEND), then these flags: each
/// overrides the ones before it.
#[derive(Parser)]
#[command(name = "baystack", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone, Default)]
struct Common {
    /// A TOML config file [default: $BAYSTACK_CONFIG, else none].
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The address the console listens on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Where Baystack keeps its state [default: ./baystack-data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// A postgres:// URL, or a SQLite file path [default: DATA_DIR/baystack.db].
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// The storage engine: `sim` (a simulated appliance) or `linux` (the real
    /// storage stack) [default: sim].
    #[arg(long, value_name = "sim|linux")]
    backend: Option<String>,
}

impl Common {
    fn settings(&self) -> anyhow::Result<Settings> {
        let cli = CliOverrides {
            listen: self.listen.clone(),
            data_dir: self.data_dir.clone(),
            database_url: self.database.clone(),
            backend: self.backend.clone(),
        };
        Ok(Settings::load(self.config_file().as_deref(), &cli)?)
    }

    fn config_file(&self) -> Option<PathBuf> {
        self.config.clone().or_else(|| {
            std::env::var_os("BAYSTACK_CONFIG")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the web console and, unless --no-agent, the agent (job runner and
    /// observer) in the same process.
    Serve {
        #[command(flatten)]
        common: Common,
        /// Serve pages only; another process runs `baystack agent`.
        #[arg(long)]
        no_agent: bool,
    },
    /// Run only the agent: it observes the storage and runs jobs.
    Agent {
        #[command(flatten)]
        common: Common,
    },
    /// Apply pending database migrations and exit.
    Migrate {
        #[command(flatten)]
        common: Common,
    },
    /// Manage console users.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Check the configuration, the database and, for the linux backend, the
    /// system tools it needs; exits non-zero if anything is wrong.
    Check {
        #[command(flatten)]
        common: Common,
    },
    /// Measure Baystack against simple baselines.
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
    /// Do things to the simulated appliance's hardware, to see how the
    /// console reacts (the `sim` backend only).
    Sim {
        #[command(subcommand)]
        action: SimCommand,
    },
    /// Print, as JSON, what Baystack reads from a captured tool output: for
    /// support, to see how the console understands a machine.
    Parse {
        /// lsblk (a file of `lsblk -J -O -b` output), smartctl (a file of
        /// `smartctl -j -x` output), sg_ses (a file of `sg_ses --join`
        /// output), enclosure (a copy of /sys or of /sys/class/enclosure),
        /// mdstat (a copy of /proc/mdstat), mdadm-detail (a file of
        /// `mdadm --detail` or `mdadm --detail --export` output) or lvm (a
        /// file of `pvs`, `vgs`, `lvs` or `lvm fullreport` output with
        /// `--reportformat json`).
        #[arg(value_name = "KIND")]
        kind: String,
        path: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum BenchWhat {
    /// The bay map (database read and render) for a simulated appliance of
    /// ENCLOSURES enclosures of BAYS bays each.
    Baymap {
        /// 20 enclosures of 60 bays hold 1,000 drives (one bay in six is
        /// left empty).
        #[arg(long, default_value_t = 20)]
        enclosures: u32,
        #[arg(long, default_value_t = 60)]
        bays: u32,
        #[arg(long, default_value_t = 20)]
        rounds: usize,
    },
    /// The pools page and API with POOLS pools on a simulated appliance of
    /// ENCLOSURES enclosures of BAYS bays (database read and render, read
    /// and JSON), one pool's page, and the agent's observation tick.
    Pools {
        /// 20 enclosures of 60 bays hold 1,000 drives.
        #[arg(long, default_value_t = 20)]
        enclosures: u32,
        #[arg(long, default_value_t = 60)]
        bays: u32,
        /// Pools of 10 drives each, made by their create jobs.
        #[arg(long, default_value_t = 100)]
        pools: usize,
        #[arg(long, default_value_t = 20)]
        rounds: usize,
    },
    /// No-op jobs per second through the job queue with 1, 4 and 16
    /// workers, beside the simplest hand-written claim loop on the same
    /// database, on a scratch SQLite file and, if given, PostgreSQL.
    Queue {
        /// Jobs per measurement.
        #[arg(long, default_value_t = 2000)]
        jobs: usize,
        /// An EMPTY scratch PostgreSQL database to measure too; every job
        /// in it is deleted.
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
    },
    /// The NOC wall with POOLS pools and VOLUMES volumes on ENCLOSURES
    /// enclosures of BAYS bays, APPLIANCES in the fleet: the board read
    /// and drawn when a bay changed and when nothing did, and over HTTP the
    /// console's CPU per refresh answered 304 and per whole board.
    Noc {
        #[arg(long, default_value_t = 20)]
        enclosures: u32,
        #[arg(long, default_value_t = 60)]
        bays: u32,
        #[arg(long, default_value_t = 100)]
        pools: usize,
        #[arg(long, default_value_t = 1000)]
        volumes: usize,
        #[arg(long, default_value_t = 100)]
        appliances: usize,
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// An EMPTY scratch PostgreSQL database to hold it instead of a
        /// SQLite file (the fleet's database).
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
    },
    /// Two consoles (this binary, started apart, on sim) paired over
    /// loopback: a filled thin volume's first point and a point after 1% of
    /// it changed, each beside a plain copy of the same bytes over a
    /// loopback socket; then the lag of a volume written at 1% of its size
    /// a minute, replicated over a link held to 100 Mbit/s.
    Replication {
        /// The first volume's size, in MiB.
        #[arg(long, default_value_t = 1024)]
        size_mib: u64,
        /// The second volume's, in GiB.
        #[arg(long, default_value_t = 10)]
        lag_gib: u64,
        /// How long the second volume is written.
        #[arg(long, default_value_t = 120.0)]
        lag_seconds: f64,
        /// Seconds between points.
        #[arg(long, default_value_t = 10)]
        interval: i64,
    },
    /// The real thin_delta (thin-provisioning-tools) and Baystack's parser
    /// of its output on thin metadata of GIB GiB in 64 KiB blocks, two
    /// devices that differ in CHANGED percent of them, restored by
    /// thin_restore into a scratch file.
    ThinDelta {
        #[arg(long, default_value_t = 100)]
        gib: u64,
        #[arg(long, default_value_t = 1.0)]
        changed: f64,
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// The dashboard, the bay map, the drives list and the pools list of a
    /// console (this binary, started apart) on ENCLOSURES enclosures of
    /// BAYS bays with POOLS pools, beside nginx sending the same bytes, both
    /// loaded by wrk; the 304s of unchanged pages; the console's memory.
    Pages {
        #[arg(long, default_value_t = 20)]
        enclosures: u32,
        #[arg(long, default_value_t = 60)]
        bays: u32,
        #[arg(long, default_value_t = 100)]
        pools: usize,
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// Seconds of load per page and server.
        #[arg(long, default_value_t = 8.0)]
        seconds: f64,
    },
}

#[derive(Subcommand)]
enum SimCommand {
    /// The drive in a bay fails its own SMART health check.
    FailDrive {
        enclosure: String,
        slot: u32,
        #[command(flatten)]
        common: Common,
    },
    /// A SMART attribute of the drive in a bay grows (5: reallocated
    /// sectors, 197: pending sectors, 199: CRC errors).
    Grow {
        enclosure: String,
        slot: u32,
        attribute: u8,
        #[arg(long, default_value_t = 8)]
        by: u64,
        #[command(flatten)]
        common: Common,
    },
    /// The drive in a bay is pulled and a new, healthy one put in (md
    /// fails the old one in its array and takes it out).
    ReplaceDrive {
        enclosure: String,
        slot: u32,
        #[command(flatten)]
        common: Common,
    },
    /// The drive in a bay returns I/O errors: md marks it faulty in its
    /// array, and rebuilds onto a spare if there is one.
    FailMember {
        enclosure: String,
        slot: u32,
        #[command(flatten)]
        common: Common,
    },
    /// A sector of the drive in a bay cannot be read until it is written;
    /// its self-tests fail there.
    BadSector {
        enclosure: String,
        slot: u32,
        lba: u64,
        #[command(flatten)]
        common: Common,
    },
    /// A simulated iSCSI initiator logs in to a target, as a host would
    /// (refused when not allowed, or with a wrong CHAP secret), or out.
    Initiator {
        /// The target's IQN.
        target: String,
        /// The initiator's iSCSI name.
        initiator: String,
        #[arg(long, default_value = "192.0.2.10")]
        address: String,
        #[arg(long)]
        chap_user: Option<String>,
        /// The CHAP secret (a simulator's: never a real one on a command line).
        #[arg(long)]
        chap_secret: Option<String>,
        #[arg(long)]
        logout: bool,
        #[command(flatten)]
        common: Common,
    },
    /// A simulated initiator writes to a thin volume: a pattern of
    /// `--bytes` bytes at byte `--at` (as a host writing to its LUN; the
    /// simulator keeps the bytes of thin volumes only).
    Write {
        volume: String,
        #[arg(long, default_value_t = 0)]
        at: u64,
        #[arg(long, default_value_t = 1 << 20)]
        bytes: u64,
        /// Another seed writes other bytes.
        #[arg(long, default_value_t = 1)]
        seed: u8,
        #[command(flatten)]
        common: Common,
    },
    /// An enclosure's power supply, fan or sensor reports a status: OK,
    /// non-critical, critical, unrecoverable.
    Element {
        enclosure: String,
        /// Its name on the bay map: "PSU 1", "Fan 2", "Backplane".
        element: String,
        status: String,
        #[arg(long, default_value = "")]
        detail: String,
        #[command(flatten)]
        common: Common,
    },
    /// Blocks of an md array (by its name or md127) whose parity or mirror
    /// no longer match, for a check to find and a repair to rewrite.
    Mismatch {
        array: String,
        /// 4 KiB blocks; a check counts 8 sectors for each.
        #[arg(long, default_value_t = 8)]
        blocks: u32,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Add a user. The password is read from standard input (twice at a
    /// terminal), never from the command line.
    Add {
        /// The user name: lowercase letters, digits, '.', '_', '-'.
        name: String,
        /// What the user may do: admin (everything), operator (operational
        /// actions), viewer (read only).
        #[arg(long, value_name = "admin|operator|viewer")]
        role: String,
        #[command(flatten)]
        common: Common,
    },
    /// Set a user's password, read from standard input; ends their sessions.
    Passwd {
        name: String,
        #[command(flatten)]
        common: Common,
    },
    /// Forget the failed sign-ins counted against a user name, from every
    /// address, so the user can sign in at once.
    Unlock {
        name: String,
        #[command(flatten)]
        common: Common,
    },
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BAYSTACK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,actix_server=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve { common, no_agent } => {
            let settings = common.settings()?;
            init_logging();
            runtime()?.block_on(commands::serve(settings, !no_agent))?;
        }
        Command::Agent { common } => {
            let settings = common.settings()?;
            init_logging();
            runtime()?.block_on(commands::agent(settings))?;
        }
        Command::Migrate { common } => commands::migrate(&common.settings()?)?,
        Command::User { action } => match action {
            UserAction::Add { name, role, common } => {
                commands::user_add(&common.settings()?, &name, &role)?
            }
            UserAction::Passwd { name, common } => {
                commands::user_passwd(&common.settings()?, &name)?
            }
            UserAction::Unlock { name, common } => {
                commands::user_unlock(&common.settings()?, &name)?
            }
        },
        Command::Bench {
            what:
                BenchWhat::Baymap {
                    enclosures,
                    bays,
                    rounds,
                },
        } => {
            let result =
                in_scratch(|scratch| baystack::bench::baymap(scratch, enclosures, bays, rounds));
            let (bays, drives, ms, bytes) = result?;
            println!(
                "bay map of {bays} bays, {drives} drives: {ms:.1} ms median of {rounds} (database read and render), {} KiB of HTML",
                bytes / 1024
            );
        }
        Command::Bench {
            what:
                BenchWhat::Pools {
                    enclosures,
                    bays,
                    pools,
                    rounds,
                },
        } => {
            let result = in_scratch(|scratch| {
                baystack::bench::pools(scratch, enclosures, bays, pools, rounds)
            });
            let r = result?;
            println!(
                "{} pools ({}) of {} drives, on {} drives; made by their create jobs in {:.1} s",
                r.pools, r.levels, r.pool_drives, r.drives, r.create_s
            );
            println!("arrays: {}", r.states);
            println!(
                "the list page links {} pools, the API lists {}, the pool's page lists {} drives",
                r.list_rows, r.api_pools, r.page_drives
            );
            println!("median of {} rounds:", r.rounds);
            println!("{:<44} {:>9} {:>9}", "what", "ms", "KiB");
            let kib = |b: usize| format!("{:.0}", b as f64 / 1024.0);
            for (what, ms, bytes) in [
                ("GET /pools (read and render)", r.list_ms, kib(r.list_bytes)),
                (
                    "GET /api/v1/pools (read and JSON)",
                    r.api_ms,
                    kib(r.api_bytes),
                ),
                (
                    "GET /pools/{name} (read and render)",
                    r.page_ms,
                    kib(r.page_bytes),
                ),
                (
                    "agent observation tick (observe_once)",
                    r.tick_ms,
                    String::new(),
                ),
                (
                    "  the backend's reads alone (sim state file)",
                    r.reads_ms,
                    String::new(),
                ),
            ] {
                println!("{what:<44} {ms:>9.1} {bytes:>9}");
            }
        }
        Command::Bench {
            what:
                BenchWhat::Replication {
                    size_mib,
                    lag_gib,
                    lag_seconds,
                    interval,
                },
        } => {
            let exe = std::env::current_exe()?;
            let r = in_scratch(|scratch| {
                baystack::bench::replication::replication(
                    scratch,
                    &exe,
                    size_mib << 20,
                    lag_gib << 30,
                    lag_seconds,
                    interval,
                )
            })?;
            let mib =
                |rate: &baystack::bench::replication::Rate| rate.per_second() / f64::from(1 << 20);
            println!(
                "{:<40} {:>10} {:>9} {:>10} {:>10} {:>6}",
                "", "MiB", "s", "MiB/s", "copy MiB/s", "share"
            );
            for (what, rate, copy) in [
                ("first point, in full", &r.initial, &r.initial_copy),
                ("1% of the blocks changed", &r.delta, &r.delta_copy),
            ] {
                println!(
                    "{what:<40} {:>10.1} {:>9.2} {:>10.1} {:>10.1} {:>5.0}%",
                    rate.bytes as f64 / f64::from(1 << 20),
                    rate.seconds,
                    mib(rate),
                    mib(copy),
                    mib(rate) / mib(copy) * 100.0
                );
            }
            println!(
                "  (the change's {} point(s) together; {})",
                r.delta_points,
                if r.cold {
                    "the page cache dropped before each"
                } else {
                    "the page cache could not be dropped: not root"
                }
            );
            let l = &r.lag;
            println!(
                "lag of a {} GiB volume written at 1%/min ({:.0} MiB in {:.0} s) over 100 Mbit/s, \
                 a point every {} s: median {:.1} s, most {:.1} s ({} samples, {} points)",
                l.size >> 30,
                l.written as f64 / f64::from(1 << 20),
                l.seconds,
                l.interval_s,
                l.median_s,
                l.max_s,
                l.samples,
                l.points
            );
        }
        Command::Bench {
            what:
                BenchWhat::ThinDelta {
                    gib,
                    changed,
                    rounds,
                },
        } => {
            let r = in_scratch(|scratch| {
                baystack::bench::replication::thin_delta(scratch, gib, changed, rounds)
            })?;
            let ms = |v: &[f64]| {
                v.iter()
                    .map(|s| format!("{:.0}", s * 1000.0))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            println!(
                "{} GiB of 64 KiB blocks ({} mapped), {} changed; metadata file {} MiB, \
                 restored in {:.1} s",
                gib,
                r.blocks,
                r.changed,
                r.metadata_bytes >> 20,
                r.restore_seconds
            );
            println!("thin_delta, ms:   {}", ms(&r.tool_seconds));
            println!(
                "its output parsed, ms: {} ({} KiB of XML)",
                ms(&r.parse_seconds),
                r.output_bytes >> 10
            );
        }
        Command::Bench {
            what:
                BenchWhat::Pages {
                    enclosures,
                    bays,
                    pools,
                    connections,
                    seconds,
                },
        } => {
            let exe = std::env::current_exe()?;
            let layout = vec![bays; enclosures as usize];
            let r = in_scratch(|scratch| {
                baystack::bench::pages::pages(scratch, &exe, &layout, pools, connections, seconds)
            })?;
            println!(
                "{} drives, {} pools; wrk, {} connections, {} s per page and server",
                r.drives, r.pools, r.connections, r.seconds
            );
            println!(
                "{:<9} {:>9} {:>12} {:>12} {:>6} {:>12} {:>12} {:>12}",
                "page",
                "KiB",
                "console/s",
                "nginx/s",
                "share",
                "p99 console",
                "p99 nginx",
                "304s/s"
            );
            for row in &r.rows {
                println!(
                    "{:<9} {:>9.0} {:>12.0} {:>12.0} {:>5.0}% {:>9.1} ms {:>9.1} ms {:>12.0}",
                    row.path,
                    row.bytes as f64 / 1024.0,
                    row.console.per_second,
                    row.nginx.per_second,
                    row.console.per_second / row.nginx.per_second * 100.0,
                    row.console.p99_ms,
                    row.nginx.p99_ms,
                    row.not_modified.per_second,
                );
            }
            let mib = |(least, median, most): (u64, u64, u64)| {
                format!(
                    "{:.1} ({:.1}-{:.1})",
                    median as f64 / 1024.0,
                    least as f64 / 1024.0,
                    most as f64 / 1024.0
                )
            };
            println!(
                "resident memory, MiB, median (least-most) while watched (its own; with \
                 program text and libraries): {} drives idle {}; {}",
                r.small_drives,
                mib(r.small.anon_kib),
                mib(r.small.rss_kib)
            );
            println!(
                "  {} drives idle {}; {}; after the load {}; {}. {:.1} KiB per drive",
                r.drives,
                mib(r.started.anon_kib),
                mib(r.started.rss_kib),
                mib(r.loaded.anon_kib),
                mib(r.loaded.rss_kib),
                r.per_drive_kib(),
            );
        }
        Command::Bench {
            what:
                BenchWhat::Noc {
                    enclosures,
                    bays,
                    pools,
                    volumes,
                    appliances,
                    rounds,
                    postgres,
                },
        } => {
            let result = in_scratch(|scratch| {
                baystack::bench::noc(
                    scratch,
                    postgres.as_deref(),
                    enclosures,
                    bays,
                    pools,
                    volumes,
                    appliances,
                    rounds,
                    5.0,
                )
            });
            let r = result?;
            println!(
                "{} drives, {} pools, {} volumes (their jobs: {:.1} s), {} appliances in the fleet; \
                 the board is {} KiB",
                r.drives,
                r.pools,
                r.volumes,
                r.setup_s,
                r.appliances,
                r.board_bytes / 1024
            );
            println!(
                "board read, hashed and drawn, one bay changed:  {:>8.2} ms (median of {rounds})",
                r.changed_ms
            );
            println!(
                "board read and hashed, nothing changed:         {:>8.2} ms (once a second per console)",
                r.unchanged_ms
            );
            println!(
                "server CPU per refresh answered 304 (HTTP):     {:>8.1} us",
                r.not_modified_us
            );
            println!(
                "server CPU per refresh with the whole board:    {:>8.1} us",
                r.full_us
            );
            println!(
                "screens at a 2 s refresh per core: {:.0}; 200 screens take {:.1}% of a core ({} requests timed)",
                r.screens_per_core, r.core_percent_at_200, r.requests
            );
        }
        Command::Bench {
            what: BenchWhat::Queue { jobs, postgres },
        } => {
            let rows =
                in_scratch(|scratch| baystack::bench::queue(scratch, postgres.as_deref(), jobs));
            println!("{jobs} no-op jobs per measurement, distinct resources");
            println!(
                "{:<11} {:>7} {:>12} {:>14} {:>7}",
                "database", "workers", "queue jobs/s", "baseline jobs/s", "ratio"
            );
            let rows = rows?;
            for r in &rows {
                println!(
                    "{:<11} {:>7} {:>12.0} {:>14.0} {:>6.0}%",
                    r.database,
                    r.workers,
                    r.queue_per_s,
                    r.baseline_per_s,
                    r.ratio() * 100.0
                );
            }
            // The medians hide a slow first round (a new database, a plan
            // made without statistics); every round, in the order run:
            println!("every round, jobs/s in the order run (queue | baseline):");
            let list = |v: &[f64]| {
                v.iter()
                    .map(|x| format!("{x:.0}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            for r in &rows {
                println!(
                    "  {} x{}: {} | {}",
                    r.database,
                    r.workers,
                    list(&r.queue_rounds),
                    list(&r.baseline_rounds)
                );
            }
        }
        Command::Sim { action } => {
            use baystack::storage::sim::SimAction;
            let (enclosure, slot, act, common) = match action {
                SimCommand::Initiator {
                    target,
                    initiator,
                    address,
                    chap_user,
                    chap_secret,
                    logout,
                    common,
                } => {
                    let chap = chap_user.as_deref().zip(chap_secret.as_deref());
                    println!(
                        "{}",
                        commands::sim_initiator(
                            &common.settings()?,
                            &target,
                            &initiator,
                            &address,
                            chap,
                            logout
                        )?
                    );
                    return Ok(ExitCode::SUCCESS);
                }
                SimCommand::Write {
                    volume,
                    at,
                    bytes,
                    seed,
                    common,
                } => {
                    println!(
                        "{}",
                        commands::sim_write(&common.settings()?, &volume, at, bytes, seed)?
                    );
                    return Ok(ExitCode::SUCCESS);
                }
                SimCommand::Mismatch {
                    array,
                    blocks,
                    common,
                } => {
                    println!(
                        "{}",
                        commands::sim_mismatch(&common.settings()?, &array, blocks)?
                    );
                    return Ok(ExitCode::SUCCESS);
                }
                SimCommand::Element {
                    enclosure,
                    element,
                    status,
                    detail,
                    common,
                } => {
                    println!(
                        "{}",
                        commands::open_sim(&common.settings()?)?
                            .set_element(&enclosure, &element, &status, &detail)?
                    );
                    return Ok(ExitCode::SUCCESS);
                }
                SimCommand::FailMember {
                    enclosure,
                    slot,
                    common,
                } => (enclosure, slot, SimAction::FailMember, common),
                SimCommand::BadSector {
                    enclosure,
                    slot,
                    lba,
                    common,
                } => (enclosure, slot, SimAction::BadSector { lba }, common),
                SimCommand::FailDrive {
                    enclosure,
                    slot,
                    common,
                } => (enclosure, slot, SimAction::FailDrive, common),
                SimCommand::Grow {
                    enclosure,
                    slot,
                    attribute,
                    by,
                    common,
                } => (enclosure, slot, SimAction::Grow { attribute, by }, common),
                SimCommand::ReplaceDrive {
                    enclosure,
                    slot,
                    common,
                } => (enclosure, slot, SimAction::ReplaceDrive, common),
            };
            println!(
                "{}",
                commands::sim(&common.settings()?, &enclosure, slot, act)?
            );
        }
        Command::Parse { kind, path } => {
            use std::io::Write;
            let text = commands::parse(&kind, &path)?;
            // A reader that stops early (`| head`) is not an error.
            match writeln!(std::io::stdout().lock(), "{text}") {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
                _ => {}
            }
        }
        Command::Check { common } => {
            let settings = common.settings()?;
            let lines = commands::check(&settings, common.config_file().as_deref());
            let width = lines.iter().map(|l| l.subject.len()).max().unwrap_or(0);
            let mut bad = 0;
            for l in &lines {
                let verdict = if l.ok { "ok  " } else { "FAIL" };
                if !l.ok {
                    bad += 1;
                }
                println!("{verdict}  {:width$}  {}", l.subject, l.text);
            }
            if bad > 0 {
                println!("{bad} problem(s) found");
                return Ok(ExitCode::FAILURE);
            }
            println!("all checks passed");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a benchmark in a scratch directory of its own, removed after.
fn in_scratch<T>(f: impl FnOnce(&std::path::Path) -> anyhow::Result<T>) -> anyhow::Result<T> {
    let scratch = std::env::temp_dir().join(format!("baystack-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let result = f(&scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn main() -> ExitCode {
    baystack::tune_malloc();
    // The database holds password hashes and the audit log, the sim state
    // and lock files sit beside it: nothing Baystack creates is for other
    // users to read (the units set UMask=0077 too).
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // One line: the error and its causes, no backtrace, no panic.
            eprintln!("baystack: {e:#}");
            ExitCode::FAILURE
        }
    }
}

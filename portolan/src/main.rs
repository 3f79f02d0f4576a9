//! `portolan`: the SVP mapping server, and its operator commands.
//!
//! # Theory of operation
//!
//! Without a subcommand portolan serves: it opens the store, binds every
//! `--listen` address, starts the workers and the stats socket, and only
//! then tells the invoking process it is ready (the same pipe handshake as
//! fkoverlayd and varpd): the invoker exits 0 once portolan listens, or
//! non-zero with the reason. `-f` stays in the foreground and logs to
//! stderr; otherwise the daemon detaches (setsid, stdio on /dev/null) and
//! logs to `run/portolan/portolan.log`. SIGTERM, SIGINT or SIGHUP stop it
//! cleanly.
//!
//! The subcommands (see [`ops`]) talk to the store directly: `add-host`,
//! `remove-host`, `list-hosts`, `add-nic`, `remove-nic`, `move-nic`,
//! `list-nics`, `list-events`, and `stats`, which asks a running server.

mod ops;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use nix::sys::signal::SigSet;
use overlay_daemon::handshake::{self, Fork, Ready};
use overlay_daemon::{fds, pidfile, signals};
use portolan::config::Config;
use portolan::server::{Server, ServerConfig};
use portolan::stats::{Stats, StatsServer};
use portolan::{paths, store::Store};

#[derive(Parser, Debug)]
#[command(
    name = "portolan",
    about = "The SVP mapping server and its operator commands"
)]
pub struct Cli {
    /// Stay in the foreground and log to stderr.
    #[arg(short = 'f', long = "foreground")]
    foreground: bool,
    /// Root prefix for the database, sockets and configuration (also
    /// $OVERLAY_ROOT; default /).
    #[arg(short = 'R', long = "root", global = true)]
    root: Option<PathBuf>,
    /// The store: a SQLite file (default <root>/var/lib/portolan/portolan.db)
    /// or a postgres:// URL.
    #[arg(long = "db", global = true)]
    db: Option<String>,
    /// Address to serve SVP on, ADDR:PORT (repeatable; default
    /// 0.0.0.0:1296 and [::]:1296).
    #[arg(short = 'l', long = "listen")]
    listen: Vec<String>,
    /// Worker threads (default: one per CPU).
    #[arg(long = "threads", default_value_t = 0)]
    threads: usize,
    /// Lookup cache entries per worker and kind (0 disables the cache).
    #[arg(long = "cache-entries", default_value_t = 1 << 19)]
    cache_entries: usize,
    /// How often to check the store for changes made elsewhere, in ms.
    #[arg(long = "cache-poll-ms", default_value_t = 500)]
    cache_poll_ms: u64,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Print the counters of the running server.
    Stats(ops::OutOpts),
    /// Add a host: its id and underlay address IP[:PORT] (port 4789).
    AddHost { id: String, addr: String },
    /// Remove a host that has no NICs.
    RemoveHost { id: String },
    /// List the hosts.
    ListHosts(ops::OutOpts),
    /// Add a NIC mapping (writes VL3 log events for the vnet's other hosts).
    AddNic(ops::NicArgs),
    /// Remove a NIC mapping (writes VL2 log events for the vnet's hosts).
    RemoveNic(ops::NicKey),
    /// Move a NIC to another host (writes VL2 log events for the vnet's hosts).
    MoveNic(ops::MoveArgs),
    /// List NIC mappings.
    ListNics(ops::ListNicsArgs),
    /// List pending log events.
    ListEvents(ops::ListEventsArgs),
    /// Measure lookups per second and latency against an in-process
    /// portolan with a temporary SQLite store.
    Bench(ops::BenchArgs),
}

fn root_of(cli: &Cli) -> PathBuf {
    cli.root.clone().unwrap_or_else(paths::root)
}

/// The store spec: --db, then the configuration, then the default file.
pub fn db_spec(cli_db: &Option<String>, cfg: &Config, root: &Path) -> String {
    cli_db
        .clone()
        .or_else(|| cfg.db.clone())
        .unwrap_or_else(|| paths::db_path(root).display().to_string())
}

fn parse_listen(v: &[String]) -> Result<Vec<SocketAddr>, String> {
    v.iter()
        .map(|s| {
            s.parse::<SocketAddr>()
                .map_err(|_| format!("invalid listen address '{s}': must be ADDR:PORT"))
        })
        .collect()
}

/// Blocks the stop signals before any thread starts (so only sigwait in
/// the main thread sees them) and ignores SIGPIPE.
fn block_signals() -> SigSet {
    let set = signals::stop_signals(&[]);
    let _ = signals::block(&set);
    signals::ignore_sigpipe();
    set
}

fn init_logging(foreground: bool, root: &Path) {
    overlay_daemon::log::init(foreground, &paths::log_file(root));
}

struct Running {
    server: Server,
    stats_srv: StatsServer,
}

/// Everything after daemonising: open the store, listen, serve stats.
fn start(root: &Path, spec: &str, scfg: &ServerConfig) -> Result<Running, String> {
    let run = paths::run_dir(root);
    std::fs::create_dir_all(&run).map_err(|e| format!("{}: {e}", run.display()))?;
    let store: Arc<dyn Store> = portolan::open_store(spec).map_err(|e| e.to_string())?;
    let stats = Arc::new(Stats::default());
    let server = Server::start(scfg, Arc::clone(&store), Arc::clone(&stats))?;
    let sp = paths::stats_socket(root);
    let stats_srv = StatsServer::start(&sp, stats).map_err(|e| format!("{}: {e}", sp.display()))?;
    pidfile::write(&paths::pid_file(root));
    tracing::info!(
        store = store.kind(),
        db = %portolan::store_name(spec),
        listen = ?server.local_addrs(),
        "portolan serving"
    );
    Ok(Running { server, stats_srv })
}

fn stop(r: Running, root: &Path) {
    r.stats_srv.stop();
    r.server.shutdown();
    pidfile::remove(&paths::pid_file(root));
    tracing::info!("portolan stopped");
}

fn wait_for_signal(set: &SigSet) {
    let s = signals::wait_for_stop(set);
    tracing::info!(signal = ?s, "stopping");
}

fn serve(cli: &Cli, root: &Path, cfg: &Config) -> ExitCode {
    let spec = db_spec(&cli.db, cfg, root);
    let listen = if !cli.listen.is_empty() {
        cli.listen.clone()
    } else if !cfg.listen.is_empty() {
        cfg.listen.clone()
    } else {
        vec!["0.0.0.0:1296".into(), "[::]:1296".into()]
    };
    let listen = match parse_listen(&listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("portolan: {e}");
            return ExitCode::from(2);
        }
    };
    let scfg = ServerConfig {
        listen,
        threads: cli.threads,
        cache_entries: cli.cache_entries,
        cache_poll: Duration::from_millis(cli.cache_poll_ms.max(10)),
    };
    if cli.foreground {
        init_logging(true, root);
        let set = block_signals();
        return match start(root, &spec, &scfg) {
            Ok(r) => {
                wait_for_signal(&set);
                stop(r, root);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("portolan: {e}");
                ExitCode::FAILURE
            }
        };
    }
    // SAFETY: single-threaded here (no thread started yet), so the child
    // may run arbitrary code after fork.
    let mut ready: Ready = match unsafe { handshake::fork() } {
        Err(e) => {
            eprintln!("portolan: {e}");
            return ExitCode::FAILURE;
        }
        Ok(Fork::Invoker(inv)) => return inv.exit_code("portolan"),
        Ok(Fork::Daemon(ready)) => ready,
    };
    let _ = std::env::set_current_dir("/");
    let run = paths::run_dir(root);
    let _ = std::fs::create_dir_all(&run);
    init_logging(false, root);
    let set = block_signals();
    match start(root, &spec, &scfg) {
        Ok(r) => {
            // Ready: detach stdio, then tell the invoker.
            fds::stdio_to_null(&[0, 1, 2]);
            ready.ok();
            wait_for_signal(&set);
            stop(r, root);
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{e}");
            ready.fail(&e);
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    // Descriptors the invoker left open must not stay open for the
    // daemon's lifetime.
    fds::close_inherited();
    let cli = Cli::parse();
    let mut root = root_of(&cli);
    if cli.cmd.is_none() {
        let _ = std::fs::create_dir_all(&root);
    }
    // Absolute, since the daemon changes directory to /.
    if let Ok(r) = std::fs::canonicalize(&root) {
        root = r;
    }
    let cfg = match Config::load(&paths::config_file(&root)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("portolan: {e}");
            return ExitCode::FAILURE;
        }
    };
    match &cli.cmd {
        None => serve(&cli, &root, &cfg),
        Some(cmd) => ops::run(cmd, &cli.db, &root, &cfg),
    }
}

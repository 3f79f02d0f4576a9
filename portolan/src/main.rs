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

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use nix::sys::signal::{SigSet, Signal};
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

/// Close inherited descriptors above stderr.
fn close_inherited() {
    #[cfg(target_os = "linux")]
    // SAFETY: close_range only closes descriptors; this runs first in main
    // before anything of ours is open above stderr.
    unsafe {
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
    }
}

fn block_signals() -> SigSet {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    set.add(Signal::SIGHUP);
    let _ = set.thread_block();
    // SAFETY: SIG_IGN installs no handler code.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    set
}

fn init_logging(foreground: bool, root: &Path) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if foreground {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init();
        return;
    }
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(paths::log_file(root));
    match f {
        Ok(f) => {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(f))
                .try_init();
        }
        Err(_) => {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::sink)
                .try_init();
        }
    }
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
    let _ = std::fs::write(paths::pid_file(root), format!("{}\n", std::process::id()));
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
    let _ = std::fs::remove_file(paths::pid_file(root));
    tracing::info!("portolan stopped");
}

fn wait_for_signal(set: &SigSet) {
    loop {
        if let Ok(s) = set.wait() {
            tracing::info!(signal = ?s, "stopping");
            return;
        }
    }
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
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two descriptors into fds.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        eprintln!("portolan: pipe: {}", std::io::Error::last_os_error());
        return ExitCode::FAILURE;
    }
    // SAFETY: both descriptors were just created and are owned here.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: single-threaded here (no thread started yet), so the child
    // may run arbitrary code after fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        eprintln!("portolan: fork: {}", std::io::Error::last_os_error());
        return ExitCode::FAILURE;
    }
    if pid > 0 {
        drop(wr);
        let mut f = std::fs::File::from(rd);
        let mut msg = String::new();
        let _ = f.read_to_string(&mut msg);
        if msg == "ok" {
            return ExitCode::SUCCESS;
        }
        if msg.is_empty() {
            msg = "daemon exited during start-up".into();
        }
        eprintln!("portolan: {msg}");
        return ExitCode::FAILURE;
    }
    drop(rd);
    // SAFETY: setsid has no preconditions.
    unsafe { libc::setsid() };
    let _ = std::env::set_current_dir("/");
    let run = paths::run_dir(root);
    let _ = std::fs::create_dir_all(&run);
    init_logging(false, root);
    let set = block_signals();
    let mut w = std::fs::File::from(wr);
    match start(root, &spec, &scfg) {
        Ok(r) => {
            // Ready: detach stdio, then tell the invoker.
            if let Ok(null) = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
            {
                for fd in 0..3 {
                    // SAFETY: dup2 onto the standard descriptors.
                    unsafe { libc::dup2(null.as_raw_fd(), fd) };
                }
            }
            let _ = w.write_all(b"ok");
            drop(w);
            wait_for_signal(&set);
            stop(r, root);
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{e}");
            let _ = w.write_all(e.as_bytes());
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    close_inherited();
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

//! `fkoverlayd`: the overlay driver hosted in a Linux process.
//!
//! Theory of operation: parse the command line, daemonise (unless `-f`),
//! bring the fake kernel up ([`fkoverlayd::host::Host`]), bind the device
//! sockets, and only then tell the invoking process that we serve, so that
//! it exits 0 exactly when the sockets accept (or non-zero with the reason
//! when start-up fails). The main thread then waits for SIGTERM/SIGINT/
//! SIGHUP, with those signals blocked in every thread, and stops cleanly:
//! VNICs (and their TAPs) removed, overlays stopped, sockets unlinked, the
//! persistent configuration left as it is.
//!
//! `fkoverlayd stats` is a client mode: it asks a running daemon for its
//! counters (`FK_STATS`) and prints them.

use clap::{Parser, Subcommand};
use fkoverlayd::alloccount::CountingAlloc;
use fkoverlayd::host::Host;
use fkoverlayd::lowlat::{self, LowLatency};
use fkoverlayd::server::Server;
use fkoverlayd::stats::Stats;
use nix::sys::signal::SigSet;
use overlay_daemon::handshake::{self, Fork, Ready};
use overlay_daemon::{fds, pidfile, signals};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// The system allocator, counting the data path's allocations
/// (`datapath_allocs` in `fkoverlayd stats`).
#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[derive(Parser, Debug)]
#[command(
    name = "fkoverlayd",
    about = "The illumos overlay driver hosted in a Linux process"
)]
struct Cli {
    /// Stay in the foreground (log to stderr).
    #[arg(short = 'f', long = "foreground")]
    foreground: bool,
    /// Root prefix for sockets, state and configuration (also
    /// $OVERLAY_ROOT; default /).
    #[arg(short = 'R', long = "root", global = true)]
    root: Option<PathBuf>,
    /// A non-root uid that holds PRIV_SYS_DL_CONFIG (repeatable; adds to
    /// dl_config_uids of R/etc/overlay/fkoverlayd.toml).
    #[arg(short = 'u', long = "dl-config-uid")]
    uids: Vec<u32>,
    /// Group id for the device sockets (mode 0660), so that its members
    /// may connect (overrides socket_gid of the configuration file).
    #[arg(short = 'g', long = "socket-group")]
    group: Option<u32>,
    /// Low-latency mode: while traffic flows, hold a PM QoS request
    /// (/dev/cpu_dma_latency) for this CPU wake-up latency in
    /// microseconds (default 0: idle CPUs poll). Costs CPU time and
    /// power on every idle CPU while held (overrides low_latency_us).
    #[arg(
        short = 'L',
        long = "low-latency",
        value_name = "US",
        num_args = 0..=1,
        default_missing_value = "0"
    )]
    low_latency: Option<u32>,
    /// Low-latency mode: drop the request after this many milliseconds
    /// without traffic (default 1000; overrides low_latency_idle_ms).
    #[arg(long = "low-latency-idle", value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    low_latency_idle: Option<u64>,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Print the counters of the running daemon.
    Stats,
}

#[derive(serde::Deserialize, Default)]
struct Config {
    #[serde(default)]
    dl_config_uids: Vec<u32>,
    #[serde(default)]
    socket_gid: Option<u32>,
    #[serde(default)]
    low_latency_us: Option<u32>,
    #[serde(default)]
    low_latency_idle_ms: Option<u64>,
}

fn root_of(cli: &Cli) -> PathBuf {
    if let Some(r) = &cli.root {
        return r.clone();
    }
    match std::env::var_os("OVERLAY_ROOT") {
        Some(r) if !r.is_empty() => PathBuf::from(r),
        _ => PathBuf::from("/"),
    }
}

fn load_config(root: &Path) -> Result<Config, String> {
    let p = root.join("etc/overlay/fkoverlayd.toml");
    match std::fs::read_to_string(&p) {
        Ok(t) => {
            let c: Config = toml::from_str(&t).map_err(|e| format!("{}: {e}", p.display()))?;
            if c.low_latency_idle_ms
                .is_some_and(|ms| !(1..=3_600_000).contains(&ms))
            {
                return Err(format!(
                    "{}: invalid value '{}' for low_latency_idle_ms: must be in 1-3600000",
                    p.display(),
                    c.low_latency_idle_ms.unwrap_or(0)
                ));
            }
            Ok(c)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
        Err(e) => Err(format!("{}: {e}", p.display())),
    }
}

/// Start-up options after merging the command line and the configuration.
struct Opts {
    uids: Vec<u32>,
    group: Option<u32>,
    low_latency: Option<LowLatency>,
}

/// Everything that runs once we are the daemon process: returns the
/// running host and server, or why start-up failed.
fn start(root: &Path, opts: &Opts) -> Result<(Arc<Host>, Server), String> {
    let stats = Arc::new(Stats::default());
    let host = Host::new(root, Arc::clone(&stats))?;
    if let Some(ll) = opts.low_latency {
        lowlat::start(ll, Arc::clone(&stats))?;
    }
    let server = Server::bind(
        root,
        Arc::clone(&host),
        opts.uids.clone(),
        opts.group,
        stats,
    )?;
    pidfile::write(&root.join("run/overlay/fkoverlayd.pid"));
    publish_dl_config_uids(root, &opts.uids)?;
    Ok((host, server))
}

/// `R/run/overlay/dl_config_uids`: the non-root uids that hold
/// PRIV_SYS_DL_CONFIG here (`-u` and `dl_config_uids`), one per line, so
/// that varpd grants its door's mutating commands to exactly the callers
/// fkoverlayd grants the driver's: a change allowed by one is never
/// refused half-way by the other. Root-owned, mode 0644, replaced
/// atomically.
fn publish_dl_config_uids(root: &Path, uids: &[u32]) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let dir = root.join("run/overlay");
    let path = dir.join("dl_config_uids");
    let tmp = dir.join(".dl_config_uids.tmp");
    let mut text = String::from("# uids granted PRIV_SYS_DL_CONFIG by fkoverlayd\n");
    for u in uids {
        text.push_str(&format!("{u}\n"));
    }
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644)))
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn wait_for_signal(set: &SigSet) {
    let s = signals::wait_for_stop(set);
    tracing::info!(signal = ?s, "stopping");
}

/// Blocks the stop signals before any thread starts, so every thread
/// inherits the mask and only sigwait in the main thread sees them; a dead
/// client must not kill us with SIGPIPE.
fn block_signals() -> SigSet {
    let set = signals::stop_signals(&[]);
    let _ = signals::block(&set);
    signals::ignore_sigpipe();
    set
}

fn init_logging(foreground: bool, root: &Path) {
    overlay_daemon::log::init(foreground, &root.join("run/overlay/fkoverlayd.log"));
}

fn stop(host: &Host, server: &Server, root: &Path) {
    server.unlink();
    host.shutdown();
    pidfile::remove(&root.join("run/overlay/fkoverlayd.pid"));
    let _ = std::fs::remove_file(root.join("run/overlay/dl_config_uids"));
}

fn run_foreground(root: &Path, opts: &Opts) -> ExitCode {
    init_logging(true, root);
    let set = block_signals();
    match start(root, opts) {
        Ok((host, server)) => {
            tracing::info!(root = %root.display(), "fkoverlayd serving");
            wait_for_signal(&set);
            stop(&host, &server, root);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fkoverlayd: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_daemon(root: &Path, opts: &Opts) -> ExitCode {
    // SAFETY: we are single-threaded here (no thread has been started), so
    // the child may run arbitrary code after fork.
    let mut ready: Ready = match unsafe { handshake::fork() } {
        Err(e) => {
            eprintln!("fkoverlayd: {e}");
            return ExitCode::FAILURE;
        }
        // The invoking process: wait for the daemon's verdict.
        Ok(Fork::Invoker(inv)) => return inv.exit_code("fkoverlayd"),
        Ok(Fork::Daemon(ready)) => ready,
    };
    // stdin/stdout/stderr to /dev/null; logging goes to a file.
    fds::stdio_to_null(&[0, 1, 2]);
    let _ = std::env::set_current_dir("/");
    init_logging(false, root);
    let set = block_signals();
    match start(root, opts) {
        Ok((host, server)) => {
            tracing::info!(root = %root.display(), "fkoverlayd serving");
            ready.ok();
            wait_for_signal(&set);
            stop(&host, &server, root);
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{e}");
            ready.fail(&e);
            ExitCode::FAILURE
        }
    }
}

fn stats(root: &Path) -> ExitCode {
    match fkoverlayd::client::stats(root) {
        Ok(v) => {
            for (k, v) in v {
                println!("{k:<28} {v}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fkoverlayd: stats: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    // An open pipe or file of the invoker must not stay open for the
    // daemon's lifetime.
    fds::close_inherited();
    let cli = Cli::parse();
    let mut root = root_of(&cli);
    // Absolute, since the daemon changes directory to /.
    if cli.cmd.is_none() {
        let _ = std::fs::create_dir_all(&root);
    }
    if let Ok(r) = std::fs::canonicalize(&root) {
        root = r;
    }
    if let Some(Cmd::Stats) = cli.cmd {
        return stats(&root);
    }
    let mut opts = Opts {
        uids: cli.uids.clone(),
        group: cli.group,
        low_latency: None,
    };
    match load_config(&root) {
        Ok(c) => {
            opts.uids.extend(c.dl_config_uids);
            opts.group = opts.group.or(c.socket_gid);
            opts.low_latency = cli.low_latency.or(c.low_latency_us).map(|us| LowLatency {
                latency_us: us,
                idle: std::time::Duration::from_millis(
                    cli.low_latency_idle
                        .or(c.low_latency_idle_ms)
                        .unwrap_or(lowlat::DEFAULT_IDLE_MS),
                ),
            });
        }
        Err(e) => {
            eprintln!("fkoverlayd: {e}");
            return ExitCode::FAILURE;
        }
    }
    if cli.foreground {
        run_foreground(&root, &opts)
    } else {
        run_daemon(&root, &opts)
    }
}

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
use fkoverlayd::server::Server;
use fkoverlayd::stats::Stats;
use nix::sys::signal::{SigSet, Signal};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
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
        Ok(t) => toml::from_str(&t).map_err(|e| format!("{}: {e}", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
        Err(e) => Err(format!("{}: {e}", p.display())),
    }
}

/// Start-up options after merging the command line and the configuration.
struct Opts {
    uids: Vec<u32>,
    group: Option<u32>,
}

/// Everything that runs once we are the daemon process: returns the
/// running host and server, or why start-up failed.
fn start(root: &Path, opts: &Opts) -> Result<(Arc<Host>, Server), String> {
    let stats = Arc::new(Stats::default());
    let host = Host::new(root, Arc::clone(&stats))?;
    let server = Server::bind(
        root,
        Arc::clone(&host),
        opts.uids.clone(),
        opts.group,
        stats,
    )?;
    let pid = root.join("run/overlay/fkoverlayd.pid");
    let _ = std::fs::write(&pid, format!("{}\n", std::process::id()));
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

fn wait_for_signal() {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    set.add(Signal::SIGHUP);
    loop {
        match set.wait() {
            Ok(s) => {
                tracing::info!(signal = ?s, "stopping");
                return;
            }
            Err(_) => continue,
        }
    }
}

fn block_signals() {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    set.add(Signal::SIGHUP);
    // Blocked before any thread starts, so every thread inherits the mask
    // and only sigwait in the main thread sees these signals.
    let _ = set.thread_block();
    // A dead client must not kill us with SIGPIPE.
    // SAFETY: setting SIGPIPE to SIG_IGN installs no handler code.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

fn init_logging(foreground: bool, root: &Path) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if foreground {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init();
    } else {
        let dir = root.join("run/overlay");
        let _ = std::fs::create_dir_all(&dir);
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("fkoverlayd.log"))
        {
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
}

fn stop(host: &Host, server: &Server, root: &Path) {
    server.unlink();
    host.shutdown();
    let _ = std::fs::remove_file(root.join("run/overlay/fkoverlayd.pid"));
    let _ = std::fs::remove_file(root.join("run/overlay/dl_config_uids"));
}

fn run_foreground(root: &Path, opts: &Opts) -> ExitCode {
    init_logging(true, root);
    block_signals();
    match start(root, opts) {
        Ok((host, server)) => {
            tracing::info!(root = %root.display(), "fkoverlayd serving");
            wait_for_signal();
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
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two descriptors into fds.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        eprintln!("fkoverlayd: pipe: {}", std::io::Error::last_os_error());
        return ExitCode::FAILURE;
    }
    // SAFETY: both descriptors were just created and are owned here.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: we are single-threaded here (no thread has been started), so
    // the child may run arbitrary code after fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        eprintln!("fkoverlayd: fork: {}", std::io::Error::last_os_error());
        return ExitCode::FAILURE;
    }
    if pid > 0 {
        // The invoking process: wait for the daemon's verdict.
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
        eprintln!("fkoverlayd: {msg}");
        return ExitCode::FAILURE;
    }
    drop(rd);
    // SAFETY: setsid has no preconditions.
    unsafe { libc::setsid() };
    // stdin/stdout/stderr to /dev/null; logging goes to a file.
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
    let _ = std::env::set_current_dir("/");
    init_logging(false, root);
    block_signals();
    let mut w = std::fs::File::from(wr);
    match start(root, opts) {
        Ok((host, server)) => {
            tracing::info!(root = %root.display(), "fkoverlayd serving");
            let _ = w.write_all(b"ok");
            drop(w);
            wait_for_signal();
            stop(&host, &server, root);
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{e}");
            let _ = w.write_all(e.as_bytes());
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

/// Closes every descriptor above stderr inherited from the invoker (an
/// open pipe or file of the caller must not stay open for the daemon's
/// lifetime); runs first, before this process opens anything.
fn close_inherited() {
    // SAFETY: close_range only closes descriptors; nothing in this process
    // holds any above 2 yet.
    unsafe {
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
    }
}

fn main() -> ExitCode {
    close_inherited();
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
    };
    match load_config(&root) {
        Ok(c) => {
            opts.uids.extend(c.dl_config_uids);
            opts.group = opts.group.or(c.socket_gid);
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

//! varpd: the virtual ARP daemon (`cmd/varpd/varpd.c`).
//!
//! # Theory of operation
//!
//! varpd serves the overlay driver's target lookups and dladm's door
//! commands. Start-up follows spec/userland.md §6.2:
//!
//! 1. parse options; open `/dev/overlay` exclusively (`FREAD|FWRITE|FEXCL`;
//!    fkoverlayd's socket on Linux) — failure is fatal (exit 95);
//! 2. create the state directory (mode 0700);
//! 3. daemonise (unless `-f`): the parent waits on a pipe and exits with
//!    the status the child reports once the door serves (0), or the
//!    child's exit status if it dies first;
//! 4. register the built-in plugins (`direct`, `files`), enable
//!    persistence and restore saved instances (degrading overlays left
//!    without one);
//! 5. block the termination signals, drop privileges, start 2×CPUs+1
//!    lookup threads and the door server, and report readiness;
//! 6. wait for SIGTERM/SIGINT/SIGHUP/SIGQUIT, then revoke the door and
//!    quiesce the lookup threads. Instances are left persisted, so a new
//!    varpd restores them with the same ids.
//!
//! Beside the door (illumos' ABI, unchanged) varpd serves its counters on
//! a socket of its own (`libvarpd::stats`); `varpd stats` is the client
//! that prints them.

mod privs;

use std::path::{Path, PathBuf};
use std::process::exit;
use std::sync::Arc;

use libvarpd::door::server;
use libvarpd::door::transport::DoorServer;
use libvarpd::kdev::KDev;
use libvarpd::ksys::{FEXCL, FREAD, FWRITE};
use libvarpd::plugin::TargetDev;
use libvarpd::{paths, Errno, Varpd};
use nix::sys::signal::Signal;
use overlay_daemon::handshake::{self, Fork, ForkError};
use overlay_daemon::{fds, signals};

/// `VARPD_EXIT_REQUESTED` (`SMF_EXIT_OK`).
const VARPD_EXIT_REQUESTED: i32 = 0;
/// `VARPD_EXIT_FATAL` (`SMF_EXIT_ERR_FATAL`).
const VARPD_EXIT_FATAL: i32 = 95;
/// `VARPD_EXIT_USAGE` (`SMF_EXIT_ERR_CONFIG`).
const VARPD_EXIT_USAGE: i32 = 96;

/// Set when the lookup loop lost the device.
static DEVICE_LOST: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

const USAGE: &str = "usage: varpd [-f] [-i plugin-dir]... [-d door-path]\n\
\x20      varpd stats\n\
\t-f\t\tstay in the foreground\n\
\t-i dir\t\tadditional plugin directory\n\
\t-d path\t\tdoor path (default: <root>/run/varpd/varpd.door)\n\
The environment variable OVERLAY_ROOT prefixes every path.\n";

struct Opts {
    foreground: bool,
    include: Vec<PathBuf>,
    door: Option<PathBuf>,
}

fn pname() -> String {
    std::env::args()
        .next()
        .and_then(|a| {
            Path::new(&a)
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "varpd".into())
}

fn usage_exit(msg: Option<&str>) -> ! {
    if let Some(m) = msg {
        eprintln!("{}: {m}", pname());
    }
    eprint!("{USAGE}");
    exit(if msg.is_some() { VARPD_EXIT_USAGE } else { 0 });
}

fn parse_args() -> Opts {
    let mut o = Opts {
        foreground: false,
        include: Vec::new(),
        door: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let Some(flags) = a.strip_prefix('-').filter(|f| !f.is_empty()) else {
            usage_exit(Some(&format!("unexpected argument: {a}")));
        };
        if flags == "-" {
            break;
        }
        for (i, c) in flags.char_indices() {
            match c {
                'f' => o.foreground = true,
                'h' | '?' => usage_exit(None),
                'i' | 'd' => {
                    let rest = &flags[i + 1..];
                    let val = if !rest.is_empty() {
                        rest.to_string()
                    } else {
                        match args.next() {
                            Some(v) => v,
                            None => usage_exit(Some(&format!("option requires an argument: -{c}"))),
                        }
                    };
                    if c == 'i' {
                        o.include.push(PathBuf::from(val));
                    } else {
                        o.door = Some(PathBuf::from(val));
                    }
                    break;
                }
                other => usage_exit(Some(&format!("unknown option: -{other}"))),
            }
        }
    }
    o
}

/// `varpd_fatal`: message to stderr, exit 95.
fn fatal(msg: &str) -> ! {
    eprintln!("{}: {msg}", pname());
    tracing::error!("{msg}");
    exit(VARPD_EXIT_FATAL);
}

/// The daemonise handshake: the daemon's end of the readiness pipe, and
/// the log file that takes over standard output and error once ready.
struct Ready(handshake::Ready, Option<std::fs::File>);

impl Ready {
    /// Detaches from the invoker's output (its terminal, pipe or `$(...)`)
    /// by moving stdout and stderr onto the log file, then reports `status`:
    /// a daemon that kept them would hold the invoker's pipe open forever
    /// and fail at its next log line once the reader went away.
    fn detach_and_report(&mut self, status: i32) {
        if let Some(log) = self.1.take() {
            fds::stdio_to(&log, &[1, 2]);
        }
        self.0.status(status);
    }

    /// `varpd_dfatal`: fatal after daemonising; tell the parent.
    fn fatal(&mut self, msg: &str) -> ! {
        eprintln!("{}: {msg}", pname());
        tracing::error!("{msg}");
        self.0.status(VARPD_EXIT_FATAL);
        exit(VARPD_EXIT_FATAL);
    }
}

/// `varpd_daemonize`: fork; the parent exits with the child's report (or,
/// if it died without one, its exit status).
fn daemonize() -> Ready {
    // SAFETY: the process is single-threaded here (no thread has been
    // started yet), so the child may continue running arbitrary code.
    match unsafe { handshake::fork() } {
        Err(ForkError::Pipe(e)) => fatal(&format!("failed to create pipe: {}", Errno::from_io(&e))),
        Err(ForkError::Fork(e)) => fatal(&format!("failed to fork: {}", Errno::from_io(&e))),
        Ok(Fork::Invoker(inv)) => exit(inv.status(VARPD_EXIT_FATAL)),
        Ok(Fork::Daemon(ready)) => {
            if let Ok(devnull) = std::fs::File::open("/dev/null") {
                fds::stdio_to(&devnull, &[0]);
            }
            Ready(ready, None)
        }
    }
}

/// `varpd stats`: print the counters of the varpd serving this root.
fn stats_cmd() -> i32 {
    if let Some(a) = std::env::args().nth(2) {
        usage_exit(Some(&format!("stats: unexpected argument: {a}")));
    }
    let path = paths::stats_path(&paths::root());
    match libvarpd::stats::fetch(&path) {
        Ok(report) => {
            print!("{report}");
            0
        }
        Err(e) => {
            eprintln!("{}: stats: cannot read {}: {e}", pname(), path.display());
            1
        }
    }
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("stats") {
        exit(stats_cmd());
    }
    // fd hygiene (closefrom(3)), core and descriptor limits (§6.2, §6.3).
    privs::fd_hygiene();
    let opts = parse_args();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();

    // libvarpd_panic: a panic anywhere (a plugin, a lookup or door thread)
    // is a programming error; log it and abort for a core file rather than
    // limp on with a thread missing.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("{}: panic: {info}", pname());
        tracing::error!("panic: {info}");
        std::process::abort();
    }));

    let root = paths::root();
    // libvarpd_create: the exclusive /dev/overlay handle.
    // A predecessor killed moments ago may still hold the exclusive handle
    // until fkoverlayd notices its connection closed: retry EEXIST briefly.
    let mut tries = 0;
    let kdev = loop {
        match KDev::open_overlay(&root, FREAD | FWRITE | FEXCL) {
            Ok(k) => break k,
            Err(e) if Errno::from_io(&e) == Errno::EEXIST && tries < 20 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(e) => fatal(&format!(
                "failed to open a libvarpd handle: {}",
                Errno::from_io(&e)
            )),
        }
    };

    // varpd_dir_setup.
    let dir = paths::varpd_dir(&root);
    if let Err(e) = privs::dir_setup(&dir) {
        fatal(&format!("failed to create {}: {e}", dir.display()));
    }
    let door = opts.door.clone().unwrap_or_else(|| paths::door_path(&root));
    if let Some(parent) = door.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    for d in &opts.include {
        if let Err(e) = std::fs::read_dir(d) {
            fatal(&format!(
                "failed to load from {}: {}",
                d.display(),
                Errno::from_io(&e)
            ));
        }
        tracing::info!(dir = %d.display(), "plugin directory accepted; this port loads only built-in plugins");
    }

    let mut ready = if opts.foreground {
        Ready(handshake::Ready::foreground(), None)
    } else {
        let mut r = daemonize();
        // Opened while privileged; it replaces stdout/stderr once we serve.
        let log = paths::varpd_log(&root);
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
        {
            Ok(f) => r.1 = Some(f),
            Err(e) => r.fatal(&format!(
                "failed to open log {}: {}",
                log.display(),
                Errno::from_io(&e)
            )),
        }
        r
    };
    // SAFETY: umask has no preconditions.
    unsafe { libc::umask(0o022) };
    let _ = std::env::set_current_dir(&dir);

    let dev: Arc<dyn TargetDev> = Arc::new(kdev);
    let vh = Varpd::new(dev, cfg!(not(target_os = "illumos")));
    for reg in [
        libvarpd::plugins::direct::registration(),
        libvarpd::plugins::files::registration(),
        libvarpd::plugins::svp::registration(),
    ] {
        if let Err(e) = vh.plugin_register(reg) {
            ready.fatal(&format!("failed to register plugin: {e}"));
        }
    }
    for name in vh.plugin_names() {
        tracing::info!("loaded {name}!");
    }
    if let Err(e) = vh.persist_enable(&dir) {
        ready.fatal(&format!("failed to enable varpd persistence: {e}"));
    }
    match vh.persist_restore() {
        Ok(ids) => tracing::info!(?ids, "restored instances"),
        Err(e) => ready.fatal(&format!("failed to enable varpd persistence: {e}")),
    }

    // Termination signals are taken synchronously by this thread only.
    let sigs = signals::stop_signals(&[Signal::SIGQUIT]);
    if let Err(e) = signals::block(&sigs) {
        ready.fatal(&format!("failed to block signals: {e}"));
    }
    if let Err(e) = privs::drop_privileges() {
        ready.fatal(&format!("failed to drop privileges: {e}"));
    }

    // Losing /dev/overlay (fkoverlayd restarted) is fatal: wake the main
    // thread, which exits 95 so a supervisor restarts varpd.
    vh.set_on_device_lost(Box::new(|e| {
        if !DEVICE_LOST.swap(true, std::sync::atomic::Ordering::SeqCst) {
            tracing::error!("lost /dev/overlay ({e}); exiting");
            // SAFETY: kill on our own pid has no memory-safety preconditions.
            unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
        }
    }));

    let nthr = 2 * std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        + 1;
    let mut threads = Vec::with_capacity(nthr);
    for i in 0..nthr {
        let v = vh.clone();
        match std::thread::Builder::new()
            .name(format!("varpd-lookup-{i}"))
            .spawn(move || v.lookup_run())
        {
            Ok(t) => threads.push(t),
            Err(e) => ready.fatal(&format!("failed to create lookup thread: {e}")),
        }
    }

    let v = vh.clone();
    // On Linux the uids fkoverlayd grants PRIV_SYS_DL_CONFIG (its -u) are
    // privileged here too, so both daemons decide alike.
    let dl_config_uids = paths::dl_config_uids_path(&root);
    let handler: Arc<libvarpd::door::transport::Handler> = Arc::new(move |req, cred| {
        let mut c = *cred;
        if !c.privileged
            && cfg!(not(target_os = "illumos"))
            && privs::dl_config_uid(&dl_config_uids, c.uid)
        {
            c.privileged = true;
        }
        server::dispatch(&v, req, &c)
    });
    let ds = match DoorServer::create(&door, handler) {
        Ok(d) => d,
        Err(e) => ready.fatal(&format!(
            "failed to create door server at {}: {e}",
            door.display()
        )),
    };
    // The counters' socket; varpd serves without it if it cannot be made.
    let stats_path = paths::stats_path(&root);
    let stats = match libvarpd::stats::StatsServer::create(&stats_path, &vh) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("cannot serve counters at {}: {e}", stats_path.display());
            None
        }
    };
    tracing::info!(door = %door.display(), lookup_threads = nthr, "varpd ready");
    ready.detach_and_report(0);

    let sig = match signals::wait(&sigs) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("sigwait: {e}");
            std::process::abort();
        }
    };
    tracing::info!(signal = ?sig, "exiting");
    ds.destroy();
    drop(stats);
    vh.lookup_quiesce();
    if DEVICE_LOST.load(std::sync::atomic::Ordering::SeqCst) {
        eprintln!("{}: lost /dev/overlay", pname());
        exit(VARPD_EXIT_FATAL);
    }
    exit(VARPD_EXIT_REQUESTED);
}

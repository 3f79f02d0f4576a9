//! A throw-away PostgreSQL cluster for tests and benchmarks.
//!
//! Theory of operation: [`PgCluster::start`] finds the server binaries of the
//! Debian `postgresql` package (`/usr/lib/postgresql/<version>/bin`, the
//! highest version installed; `OVERLAY_PG_BINDIR` overrides), makes a private
//! directory under `/tmp` (`OVERLAY_PG_TMPDIR` overrides), runs `initdb` into
//! it and starts the postmaster on a free TCP port of 127.0.0.1 with its unix
//! socket in the same directory. PostgreSQL refuses to run as root, so when
//! the tests are root the directory is given to `nobody` (uid 65534) and
//! `initdb` and `postgres` drop to that user before they exec; otherwise they
//! run as the caller. Authentication is `trust` for the superuser
//! `postgres`; a database (default `portolan`) is created and
//! [`PgCluster::url`] names it.
//!
//! The postmaster is a child of the test: [`PgCluster::kill9`] SIGKILLs it
//! (a crash: the backends notice their postmaster's death and exit, WAL
//! recovery runs at the next start), [`PgCluster::stop`] is a fast shutdown,
//! and [`PgCluster::restart`] starts it again on the same port and directory,
//! so URLs handed out stay valid. Every process of the cluster has the data
//! directory as its working directory; that is how stray backends are found
//! and killed. On drop the cluster is shut down immediately, every process
//! left is SIGKILLed and the directory is removed. The postmaster also gets
//! `PR_SET_PDEATHSIG` = SIGKILL, so a test process killed outright does not
//! leave a server behind (note: it fires when the *thread* that started the
//! postmaster exits, so start and use a cluster on one thread, or keep that
//! thread alive).
//!
//! [`PgOptions::netns`] starts the postmaster inside a network namespace
//! (`/run/netns/<name>`); its unix socket stays reachable from everywhere,
//! so [`PgCluster::socket_url`] works from any namespace.

use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// How long the server gets to become ready (initdb's first start on a busy
/// machine takes a few seconds).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a stopped or crashed cluster's processes get to exit.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Options of a cluster; `PgOptions::default()` is a cluster on 127.0.0.1
/// with a database `portolan`.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// The database created at start, named by [`PgCluster::url`].
    pub database: String,
    /// The address the postmaster listens on (`listen_addresses`).
    pub listen: String,
    /// A network namespace (`ip netns` name) to run the postmaster in.
    pub netns: Option<String>,
    /// Extra server settings, each passed as `-c name=value`.
    pub settings: Vec<(String, String)>,
}

impl Default for PgOptions {
    fn default() -> PgOptions {
        PgOptions {
            database: "portolan".to_string(),
            listen: "127.0.0.1".to_string(),
            netns: None,
            settings: Vec::new(),
        }
    }
}

impl PgOptions {
    /// Adds a server setting (`-c name=value`).
    pub fn setting(mut self, name: &str, value: &str) -> PgOptions {
        self.settings.push((name.to_string(), value.to_string()));
        self
    }
}

/// A running (or stopped) private PostgreSQL cluster; see the module
/// comment.
#[derive(Debug)]
pub struct PgCluster {
    opts: PgOptions,
    bindir: PathBuf,
    dir: PathBuf,
    data: PathBuf,
    log: PathBuf,
    port: u16,
    run_as: Option<(u32, u32)>,
    postmaster: Option<Child>,
}

/// The directory holding `initdb`, `postgres`, `psql` and `pg_isready`.
pub fn bindir() -> Result<PathBuf, String> {
    if let Some(d) = std::env::var_os("OVERLAY_PG_BINDIR") {
        let d = PathBuf::from(d);
        if d.join("postgres").exists() {
            return Ok(d);
        }
        return Err(format!(
            "OVERLAY_PG_BINDIR={}: no postgres binary there",
            d.display()
        ));
    }
    let mut best: Option<(u32, PathBuf)> = None;
    if let Ok(rd) = fs::read_dir("/usr/lib/postgresql") {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(v) = name.parse::<u32>() else { continue };
            let bin = e.path().join("bin");
            let better = match &best {
                Some((b, _)) => v > *b,
                None => true,
            };
            if better && bin.join("postgres").exists() {
                best = Some((v, bin));
            }
        }
    }
    best.map(|(_, b)| b).ok_or_else(|| {
        "PostgreSQL server binaries not found in /usr/lib/postgresql/<version>/bin \
         (install the Debian package `postgresql`, or set OVERLAY_PG_BINDIR)"
            .to_string()
    })
}

/// Whether the PostgreSQL server binaries are installed.
pub fn available() -> bool {
    bindir().is_ok()
}

/// The user the server runs as: `nobody` when we are root (PostgreSQL
/// refuses root), else ourselves (`None`).
fn server_user() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let name = c"nobody";
    // SAFETY: getpwnam with a NUL-terminated name; the result, if not null,
    // points to a static passwd entry we read at once (tests are the only
    // users of this crate; no other thread calls getpwnam concurrently in a
    // way that matters for two integers).
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Some((65534, 65534));
    }
    // SAFETY: pw is a valid, non-null passwd pointer (see above).
    unsafe { Some(((*pw).pw_uid, (*pw).pw_gid)) }
}

/// A TCP port of 127.0.0.1 that nothing listens on right now.
fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// Runs `cmd` after arranging for it to drop to `run_as`, enter `netns` and
/// die with its parent thread.
fn prepare(cmd: &mut Command, run_as: Option<(u32, u32)>, netns: Option<&OwnedFd>, pdeath: bool) {
    let ns = netns.map(|f| f.as_raw_fd());
    // SAFETY: the closure runs in the child between fork and exec and calls
    // only async-signal-safe functions (setns, setgroups, setgid, setuid,
    // prctl) on plain integers captured by value.
    unsafe {
        cmd.pre_exec(move || {
            if let Some(fd) = ns {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            if let Some((uid, gid)) = run_as {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(gid) != 0
                    || libc::setuid(uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // After the uid change, which clears the death signal.
            if pdeath && libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn output_text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The pids whose working directory is `dir` (live processes only: a
/// zombie's cwd cannot be read).
fn pids_in(dir: &Path) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if fs::read_link(e.path().join("cwd")).is_ok_and(|c| c == dir) {
            out.push(pid);
        }
    }
    out
}

/// A freshly initialised data directory with the database `portolan`, made
/// once per server version and user under `/var/tmp/overlay-pgtest` and
/// copied by every cluster (initdb and CREATE DATABASE take seconds on a
/// busy machine; a copy takes a tenth of one). Creation is serialised by a
/// lock file and published by a rename, so parallel tests and processes
/// never see half a template.
fn template(bindir: &Path, run_as: Option<(u32, u32)>) -> Result<PathBuf, String> {
    // SAFETY: geteuid has no preconditions.
    let uid = run_as.map_or_else(|| unsafe { libc::geteuid() }, |(u, _)| u);
    let key = format!("{}-{uid}", bindir.to_string_lossy().replace('/', "_"));
    let base = std::env::var_os("OVERLAY_PG_TEMPLATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/overlay-pgtest"));
    let top = base.join(key);
    let ready = top.join("data");
    if ready.join("PG_VERSION").exists() {
        return Ok(ready);
    }
    fs::create_dir_all(&top).map_err(|e| format!("mkdir {}: {e}", top.display()))?;
    fs::set_permissions(&base, fs::Permissions::from_mode(0o755))
        .and_then(|()| fs::set_permissions(&top, fs::Permissions::from_mode(0o755)))
        .map_err(|e| format!("chmod {}: {e}", top.display()))?;
    let lock = File::create(top.join("lock")).map_err(|e| format!("{}: {e}", top.display()))?;
    // SAFETY: flock on a descriptor we own; released when `lock` closes.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(format!(
            "flock {}: {}",
            top.display(),
            std::io::Error::last_os_error()
        ));
    }
    if ready.join("PG_VERSION").exists() {
        return Ok(ready);
    }
    let work = top.join("work");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir(&work).map_err(|e| format!("mkdir {}: {e}", work.display()))?;
    if let Some((u, g)) = run_as {
        std::os::unix::fs::chown(&work, Some(u), Some(g))
            .map_err(|e| format!("chown {}: {e}", work.display()))?;
    }
    let data = work.join("data");
    let mut cmd = Command::new(bindir.join("initdb"));
    cmd.arg("-D")
        .arg(&data)
        .args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ])
        .current_dir(&work)
        .stdin(Stdio::null());
    prepare(&mut cmd, run_as, None, false);
    let out = cmd
        .output()
        .map_err(|e| format!("{}: {e}", bindir.join("initdb").display()))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed ({}): {}",
            out.status,
            output_text(&out)
        ));
    }
    // The default database, made in single-user mode (no server, no port).
    let mut cmd = Command::new(bindir.join("postgres"));
    cmd.args(["--single", "-D"])
        .arg(&data)
        .arg("postgres")
        .current_dir(&work)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    prepare(&mut cmd, run_as, None, false);
    let mut child = cmd.spawn().map_err(|e| format!("postgres --single: {e}"))?;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin
            .write_all(b"CREATE DATABASE portolan\n")
            .map_err(|e| format!("postgres --single: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("postgres --single: {e}"))?;
    if !out.status.success() || output_text(&out).contains("ERROR") {
        return Err(format!(
            "postgres --single: CREATE DATABASE: {}",
            output_text(&out)
        ));
    }
    fs::rename(&data, &ready).map_err(|e| format!("rename to {}: {e}", ready.display()))?;
    let _ = fs::remove_dir_all(&work);
    Ok(ready)
}

impl PgCluster {
    /// A cluster with the default options; panics with the reason (and the
    /// server log) if it cannot start.
    pub fn start() -> PgCluster {
        PgCluster::start_with(PgOptions::default())
    }

    /// A cluster with `opts`; panics with the reason if it cannot start.
    pub fn start_with(opts: PgOptions) -> PgCluster {
        PgCluster::try_start_with(opts).unwrap_or_else(|e| panic!("PostgreSQL test cluster: {e}"))
    }

    /// A cluster with `opts`, or why it could not start.
    pub fn try_start_with(opts: PgOptions) -> Result<PgCluster, String> {
        let bindir = bindir()?;
        let base = std::env::var_os("OVERLAY_PG_TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/tmp"));
        let dir = base.join(format!(
            "ovpg-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("chmod {}: {e}", dir.display()))?;
        let run_as = server_user();
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .map_err(|e| format!("chown {}: {e}", dir.display()))?;
        }
        let mut c = PgCluster {
            data: dir.join("data"),
            log: dir.join("postgres.log"),
            dir,
            bindir,
            opts,
            port: 0,
            run_as,
            postmaster: None,
        };
        c.initdb()?;
        // Processes are found by their working directory, which the kernel
        // reports canonicalised.
        c.data = fs::canonicalize(&c.data).map_err(|e| format!("{}: {e}", c.data.display()))?;
        // A port found free may be taken before the postmaster binds it:
        // try a few.
        let mut last = String::new();
        for _ in 0..5 {
            c.port = free_port()?;
            match c.spawn_postmaster().and_then(|()| c.wait_ready()) {
                Ok(()) => {
                    let db = c.opts.database.clone();
                    if db != "portolan" {
                        c.try_psql_db("postgres", &format!("CREATE DATABASE \"{db}\""))?;
                    }
                    return Ok(c);
                }
                Err(e) if e.contains("already in use") => {
                    c.reap();
                    last = e;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// Fills the data directory: a copy of the template (see [`template`]).
    fn initdb(&self) -> Result<(), String> {
        let tpl = template(&self.bindir, self.run_as)?;
        let out = Command::new("cp")
            .arg("-a")
            .arg(&tpl)
            .arg(&self.data)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cp: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "cp -a {} {}: {}",
                tpl.display(),
                self.data.display(),
                output_text(&out)
            ));
        }
        Ok(())
    }

    fn spawn_postmaster(&mut self) -> Result<(), String> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("{}: {e}", self.log.display()))?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let netns = match &self.opts.netns {
            Some(n) => {
                let p = Path::new("/run/netns").join(n);
                Some(OwnedFd::from(
                    File::open(&p).map_err(|e| format!("{}: {e}", p.display()))?,
                ))
            }
            None => None,
        };
        let mut cmd = Command::new(self.bindir.join("postgres"));
        cmd.arg("-D")
            .arg(&self.data)
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(&self.dir)
            .arg("-h")
            .arg(&self.opts.listen)
            .args(["-c", "shared_buffers=32MB", "-c", "max_connections=200"]);
        for (k, v) in &self.opts.settings {
            cmd.arg("-c").arg(format!("{k}={v}"));
        }
        cmd.current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        prepare(&mut cmd, self.run_as, netns.as_ref(), true);
        let child = cmd
            .spawn()
            .map_err(|e| format!("{}: {e}", self.bindir.join("postgres").display()))?;
        self.postmaster = Some(child);
        Ok(())
    }

    /// Waits until the server accepts connections, or fails with the log.
    fn wait_ready(&mut self) -> Result<(), String> {
        let t0 = Instant::now();
        loop {
            if let Some(ch) = self.postmaster.as_mut() {
                if let Ok(Some(st)) = ch.try_wait() {
                    self.postmaster = None;
                    return Err(format!(
                        "postgres exited ({st}) before it was ready:\n{}",
                        self.log_text()
                    ));
                }
            }
            let ok = Command::new(self.bindir.join("pg_isready"))
                .arg("-q")
                .arg("-h")
                .arg(&self.dir)
                .arg("-p")
                .arg(self.port.to_string())
                .args(["-U", "postgres", "-d", "postgres"])
                .stdin(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Ok(());
            }
            if t0.elapsed() > READY_TIMEOUT {
                return Err(format!(
                    "postgres not ready after {READY_TIMEOUT:?}:\n{}",
                    self.log_text()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server log so far.
    pub fn log_text(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the unix socket (`.s.PGSQL.<port>`).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// The data directory (`PGDATA`).
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The postmaster's pid while it runs.
    pub fn pid(&self) -> Option<i32> {
        self.postmaster.as_ref().map(|c| c.id() as i32)
    }

    /// A `postgres://` URL of the test database over TCP.
    pub fn url(&self) -> String {
        self.url_for(&self.opts.database)
    }

    /// A `postgres://` URL of database `db` over TCP.
    pub fn url_for(&self, db: &str) -> String {
        format!(
            "postgres://postgres@{}:{}/{db}",
            self.opts.listen, self.port
        )
    }

    /// A `postgres://` URL of the test database over the unix socket
    /// (usable from any network namespace).
    pub fn socket_url(&self) -> String {
        let host = self.dir.to_string_lossy().replace('/', "%2F");
        format!(
            "postgres://postgres@{host}:{}/{}",
            self.port, self.opts.database
        )
    }

    /// Creates database `name` and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        self.psql_db("postgres", &format!("CREATE DATABASE \"{name}\""));
        self.url_for(name)
    }

    /// Runs `sql` with `psql` on the test database; returns the unaligned,
    /// tuples-only output, or the error.
    pub fn try_psql(&self, sql: &str) -> Result<String, String> {
        self.try_psql_db(&self.opts.database, sql)
    }

    /// Runs `sql` on database `db` (see [`PgCluster::try_psql`]).
    pub fn try_psql_db(&self, db: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bindir.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .arg("-h")
            .arg(&self.dir)
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", "postgres", "-d", db, "-c", sql])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("psql: {e}"))?;
        if !out.status.success() {
            return Err(format!("psql {sql:?}: {}", output_text(&out)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    }

    /// [`PgCluster::try_psql`], panicking on error.
    pub fn psql(&self, sql: &str) -> String {
        self.try_psql(sql).unwrap_or_else(|e| panic!("{e}"))
    }

    fn psql_db(&self, db: &str, sql: &str) -> String {
        self.try_psql_db(db, sql).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Whether the postmaster runs.
    pub fn is_running(&mut self) -> bool {
        match self.postmaster.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Sends `sig` to the postmaster, waits for it to exit and for every
    /// other process of the cluster to go (SIGKILLing them after
    /// [`EXIT_TIMEOUT`]).
    fn signal_and_wait(&mut self, sig: i32) {
        if let Some(mut ch) = self.postmaster.take() {
            // SAFETY: kill on our own child's pid, which we have not reaped
            // yet, so it cannot have been reused.
            unsafe { libc::kill(ch.id() as i32, sig) };
            let t0 = Instant::now();
            loop {
                match ch.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if t0.elapsed() > EXIT_TIMEOUT => {
                        let _ = ch.kill();
                        let _ = ch.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }
        self.wait_gone(EXIT_TIMEOUT);
    }

    /// Waits up to `timeout` for the cluster's processes to exit, then
    /// SIGKILLs those left.
    fn wait_gone(&self, timeout: Duration) {
        let t0 = Instant::now();
        loop {
            let left = pids_in(&self.data);
            if left.is_empty() {
                return;
            }
            if t0.elapsed() > timeout {
                for p in left {
                    // SAFETY: kill has no memory-safety preconditions; the
                    // pid was just seen with the cluster's data directory
                    // as its working directory.
                    unsafe { libc::kill(p, libc::SIGKILL) };
                }
                std::thread::sleep(Duration::from_millis(50));
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Reaps a postmaster that exited (or kills one that did not) after a
    /// failed start.
    fn reap(&mut self) {
        self.signal_and_wait(libc::SIGKILL);
    }

    /// A crash: SIGKILL to the postmaster. Its backends exit when they see
    /// it gone; this returns once they have. Committed transactions survive
    /// (WAL); [`PgCluster::restart`] runs crash recovery.
    pub fn kill9(&mut self) {
        self.signal_and_wait(libc::SIGKILL);
    }

    /// A fast shutdown (SIGINT: clients are disconnected, a checkpoint is
    /// written); returns once every process has exited.
    pub fn stop(&mut self) {
        self.signal_and_wait(libc::SIGINT);
    }

    /// Starts the server again on the same port and data directory (after a
    /// [`PgCluster::stop`] or [`PgCluster::kill9`]; a running server is
    /// stopped first) and waits until it accepts connections.
    pub fn restart(&mut self) {
        self.try_restart()
            .unwrap_or_else(|e| panic!("PostgreSQL test cluster restart: {e}"));
    }

    /// [`PgCluster::restart`], returning the error instead of panicking.
    pub fn try_restart(&mut self) -> Result<(), String> {
        if self.postmaster.is_some() {
            self.stop();
        }
        self.wait_gone(EXIT_TIMEOUT);
        self.spawn_postmaster()?;
        self.wait_ready()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        // SIGQUIT: immediate shutdown; leftovers are SIGKILLed.
        if let Some(mut ch) = self.postmaster.take() {
            // SAFETY: kill on our own unreaped child.
            unsafe { libc::kill(ch.id() as i32, libc::SIGQUIT) };
            let t0 = Instant::now();
            while matches!(ch.try_wait(), Ok(None)) {
                if t0.elapsed() > Duration::from_secs(5) {
                    let _ = ch.kill();
                    let _ = ch.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        self.wait_gone(Duration::from_secs(5));
        if std::env::var_os("OVERLAY_PG_KEEP").is_some() {
            eprintln!("PostgreSQL test cluster kept in {}", self.dir.display());
            return;
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

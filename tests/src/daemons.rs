//! Locating and running the system's programs (`fkoverlayd`, `varpd`,
//! `dladm`) from tests.
//!
//! Theory of operation: the end-to-end tests run as `cargo test --release`
//! after `cargo build --release --bins` (what `cargo xtask test` does), so
//! the binaries sit beside the test executable's `deps/` directory. [`bin`]
//! finds them there and, if one is missing (a plain `cargo test`), builds
//! it once with the same profile and target directory.
//!
//! [`Daemon`] runs a daemon in the foreground (`-f`) inside a [`Netns`], with
//! its own `OVERLAY_ROOT`, waits until its socket accepts connections, and
//! on drop (or [`Daemon::stop`]) sends SIGTERM, waits, and SIGKILLs it if it
//! does not exit in time.

use crate::netns::Netns;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static BUILD_LOCK: Mutex<()> = Mutex::new(());

/// The profile directory the test executable lives in (`target/release`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe
        .parent()
        .expect("test exe has a directory")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// The crate that builds each binary.
fn package_of(name: &str) -> &'static str {
    match name {
        "fkoverlayd" => "fkoverlayd",
        "varpd" => "varpd",
        "dladm" => "dladm-overlay",
        "portolan" => "portolan",
        _ => panic!("unknown binary {name}"),
    }
}

/// The path of binary `name` (`fkoverlayd`, `varpd`, `dladm`, `portolan`), building it
/// if it is not there yet.
pub fn bin(name: &str) -> PathBuf {
    let dir = profile_dir();
    let path = dir.join(name);
    if path.exists() && std::env::var_os("OVERLAY_TESTS_REBUILD").is_none() {
        return path;
    }
    let _g = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if path.exists() && std::env::var_os("OVERLAY_TESTS_REBUILD").is_none() {
        return path;
    }
    let release = dir.file_name().is_some_and(|n| n == "release");
    let target_dir = dir
        .parent()
        .expect("profile dir has a parent")
        .to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut c = Command::new(cargo);
    c.args(["build", "-p", package_of(name), "--bin", name])
        .env("CARGO_TARGET_DIR", &target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if release {
        c.arg("--release");
    }
    let st = c.status().expect("run cargo build");
    assert!(st.success(), "building {name} failed");
    assert!(path.exists(), "{} missing after build", path.display());
    path
}

/// fkoverlayd's dld socket under `root`.
pub fn dld_socket(root: &Path) -> PathBuf {
    root.join("run/overlay/dld")
}

/// fkoverlayd's overlay socket under `root`.
pub fn overlay_socket(root: &Path) -> PathBuf {
    root.join("run/overlay/overlay")
}

/// varpd's door socket under `root`.
pub fn varpd_door(root: &Path) -> PathBuf {
    root.join("run/varpd/varpd.door")
}

/// Waits until a Unix socket accepts a connection, or `timeout` passes.
pub fn wait_for_socket(path: &Path, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if UnixStream::connect(path).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A daemon running in the foreground in a namespace.
#[derive(Debug)]
pub struct Daemon {
    name: String,
    child: Option<Child>,
}

impl Daemon {
    /// Starts `prog -f extra...` in `ns` with `OVERLAY_ROOT=root` and waits
    /// (10 s) until `ready` accepts connections.
    pub fn start(ns: &Netns, prog: &str, extra: &[&str], root: &Path, ready: &Path) -> Daemon {
        let path = bin(prog);
        let mut args = vec!["-f"];
        args.extend_from_slice(extra);
        // Daemon logs go to the test's stderr; RUST_LOG of the test run
        // wins over the default.
        let level = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
        let child = ns.spawn(&path, &args, root, &[("RUST_LOG", &level)]);
        let mut d = Daemon {
            name: prog.to_string(),
            child: Some(child),
        };
        if !wait_for_socket(ready, Duration::from_secs(10)) {
            let st = d.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            panic!(
                "{prog} did not come up ({} not accepting; exit status {st:?})",
                ready.display()
            );
        }
        d
    }

    /// `fkoverlayd -f` in `ns` with `root`, once both its sockets accept:
    /// it binds the dld socket before the overlay socket, and a varpd
    /// started in between would find no `/dev/overlay`. (A connection
    /// closed before its first frame is no protocol error.)
    pub fn fkoverlayd(ns: &Netns, root: &Path) -> Daemon {
        let d = Daemon::start(ns, "fkoverlayd", &[], root, &dld_socket(root));
        let ovl = overlay_socket(root);
        assert!(
            wait_for_socket(&ovl, Duration::from_secs(10)),
            "fkoverlayd did not come up ({} not accepting)",
            ovl.display()
        );
        d
    }

    /// `varpd -f` in `ns` with `root`.
    pub fn varpd(ns: &Netns, root: &Path) -> Daemon {
        Daemon::start(ns, "varpd", &[], root, &varpd_door(root))
    }

    /// The daemon's pid (that of `ip netns exec`, which execs the daemon,
    /// so it is the daemon's own), if it runs.
    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Sends SIGTERM and waits up to 10 s for the exit (then SIGKILL).
    /// Returns the exit status.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        // SAFETY: kill has no memory-safety preconditions; the pid is our
        // own child, not yet reaped, so it cannot have been reused.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(st)) = child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("{}: no exit 10 s after SIGTERM; killing", self.name);
        let _ = child.kill();
        child.wait().ok()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `kill -9` of a daemon, reaped; `None` afterwards.
pub fn kill9(d: &mut Option<Daemon>) {
    let mut d = d.take().expect("daemon runs");
    let pid = d.pid().expect("pid");
    // SAFETY: kill has no memory-safety preconditions; the pid is our own
    // child, not yet reaped, so it cannot have been reused.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    d.stop();
}

/// Runs `dladm args` in `ns` with `OVERLAY_ROOT=root`; returns the output
/// whatever the exit status.
pub fn dladm(ns: &Netns, root: &Path, args: &[&str]) -> Output {
    ns.command(bin("dladm"))
        .args(args)
        .env("OVERLAY_ROOT", root)
        .stdin(Stdio::null())
        .output()
        .expect("run dladm")
}

/// A raw client of fkoverlayd's device sockets (docs/fkoverlayd-protocol.md):
/// one connection, one request at a time. Tests use it to drive the driver
/// with exact ioctl bytes, without varpd or dladm.
#[derive(Debug)]
pub struct FkConn {
    s: UnixStream,
}

/// One response: illumos errno, copied-out argument, data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FkReply {
    pub errno: u32,
    pub arg: Vec<u8>,
    pub data: Vec<u8>,
}

impl FkConn {
    /// Connects to the dld socket under `root`.
    pub fn dld(root: &Path) -> std::io::Result<FkConn> {
        Ok(FkConn {
            s: UnixStream::connect(dld_socket(root))?,
        })
    }

    /// Connects to the overlay socket under `root` and opens it with the
    /// illumos open flags; `Err` carries the open's errno (or -1 for an I/O
    /// failure).
    pub fn overlay(root: &Path, oflags: u32) -> Result<FkConn, i64> {
        let s = UnixStream::connect(overlay_socket(root)).map_err(|_| -1i64)?;
        let mut c = FkConn { s };
        let r = c
            .call(overlay_sys::fk::FK_OPEN, &oflags.to_le_bytes(), &[])
            .map_err(|_| -1i64)?;
        if r.errno != 0 {
            return Err(r.errno as i64);
        }
        Ok(c)
    }

    /// Sends raw bytes (for malformed-frame tests).
    pub fn send_raw(&mut self, b: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        self.s.write_all(b)
    }

    /// Sets a read timeout on the connection.
    pub fn set_timeout(&self, t: Option<Duration>) {
        let _ = self.s.set_read_timeout(t);
    }

    /// One request/response.
    pub fn call(&mut self, cmd: u32, arg: &[u8], data: &[u8]) -> std::io::Result<FkReply> {
        use overlay_sys::fk::{fk_hdr_t, FK_HDR_SIZE, FK_MAGIC};
        use std::io::{Read, Write};
        let h = fk_hdr_t {
            fh_magic: FK_MAGIC,
            fh_cmd: cmd,
            fh_arglen: arg.len() as u32,
            fh_datalen: data.len() as u32,
        };
        let mut buf = Vec::with_capacity(FK_HDR_SIZE + arg.len() + data.len());
        buf.extend_from_slice(&h.to_wire());
        buf.extend_from_slice(arg);
        buf.extend_from_slice(data);
        self.s.write_all(&buf)?;
        let mut hb = [0u8; FK_HDR_SIZE];
        self.s.read_exact(&mut hb)?;
        let r = fk_hdr_t::from_wire(&hb);
        if r.fh_magic != FK_MAGIC {
            return Err(std::io::Error::other("bad magic in reply"));
        }
        let mut arg = vec![0u8; r.fh_arglen as usize];
        self.s.read_exact(&mut arg)?;
        let mut data = vec![0u8; r.fh_datalen as usize];
        self.s.read_exact(&mut data)?;
        Ok(FkReply {
            errno: r.fh_cmd,
            arg,
            data,
        })
    }

    /// Sets property `name` of overlay `linkid` to the raw bytes `val`
    /// (`OVERLAY_IOC_PROPINFO` for its id, then `OVERLAY_IOC_SETPROP`);
    /// returns SETPROP's errno. Panics if PROPINFO fails.
    pub fn setprop(&mut self, linkid: u32, name: &str, val: &[u8]) -> u32 {
        use overlay_sys::fk::fk_set_str;
        use overlay_sys::{
            overlay_ioc_prop_t, overlay_ioc_propinfo_t, OVERLAY_IOC_PROPINFO, OVERLAY_IOC_SETPROP,
        };
        let mut pi = overlay_ioc_propinfo_t {
            oipi_linkid: linkid,
            oipi_id: -1,
            ..Default::default()
        };
        fk_set_str(&mut pi.oipi_name, name);
        let (e, pi) = self.ioctl(OVERLAY_IOC_PROPINFO, &pi);
        assert_eq!(e, 0, "PROPINFO {name}");
        let mut p = overlay_ioc_prop_t {
            oip_linkid: linkid,
            oip_id: pi.oipi_id,
            ..Default::default()
        };
        p.oip_value[..val.len()].copy_from_slice(val);
        p.oip_size = val.len() as u32;
        self.ioctl(OVERLAY_IOC_SETPROP, &p).0
    }

    /// Like [`FkConn::call`] with a `Pod` argument: returns the errno and
    /// the copied-out struct (the input when nothing was copied out).
    pub fn ioctl<T: overlay_sys::Pod>(&mut self, cmd: u32, arg: &T) -> (u32, T) {
        let r = self
            .call(cmd, arg.as_bytes(), &[])
            .unwrap_or_else(|e| panic!("fkoverlayd call {cmd:#x}: {e}"));
        let out = if r.arg.is_empty() {
            *arg
        } else {
            T::from_bytes_padded(&r.arg)
        };
        (r.errno, out)
    }
}

//! `varpd stats`: varpd's counters for an operator (an extension; illumos
//! varpd has none, and its door protocol stays as it is).
//!
//! # Theory of operation
//!
//! The door is illumos' ABI, so the counters travel on a socket of their
//! own next to it, [`crate::paths::stats_path`] (`varpd.stats` in varpd's
//! directory), the way `fkoverlayd stats` reads fkoverlayd's counters. The
//! protocol is the smallest there is: a client connects, varpd writes
//! [`report`] as text and closes; nothing is read from the client, so a
//! caller can neither change state nor hold varpd up for long (a client
//! that does not read is cut off after [`STATS_WRITE_TIMEOUT`]). Like
//! `dladm show-overlay`, it is open to every local user (mode 0666).
//!
//! The report is sections of `name value` lines: a header line at the
//! left margin, then its counters indented by two spaces.
//!
//! ```text
//! varpd
//!   lookups 12
//!   lookup_no_instance 0
//!   lookup_errors 0
//! plugin svp
//!   queries 3
//!   ...
//! instance 1 linkid 5 vnetid 4694778 plugin svp activated 1
//!   vl2_lookups 2
//!   ...
//! ```
//!
//! `varpd` is the lookup loop's own counters; each `plugin` section is
//! [`SearchPlugin::counters`](crate::plugin::SearchPlugin::counters) (for
//! plugins that keep any), and each `instance` section
//! [`SearchInstance::counters`](crate::plugin::SearchInstance::counters).

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::errno::Errno;
use crate::handle::Varpd;

/// How long a client may take to read the report.
pub const STATS_WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest report a client reads.
pub const STATS_MAX: u64 = 16 << 20;

/// The report of `varpd stats` (see the module comment for its format).
pub fn report(vh: &Varpd) -> String {
    let mut out = String::new();
    let mut section = |head: String, rows: &[(String, u64)]| {
        out.push_str(&head);
        out.push('\n');
        for (name, v) in rows {
            out.push_str(&format!("  {name} {v}\n"));
        }
    };
    let s = &vh.stats;
    section(
        "varpd".into(),
        &[
            ("lookups".into(), s.lookups.load(Ordering::Relaxed) as u64),
            (
                "lookup_no_instance".into(),
                s.no_instance.load(Ordering::Relaxed) as u64,
            ),
            (
                "lookup_errors".into(),
                s.errors.load(Ordering::Relaxed) as u64,
            ),
        ],
    );
    for name in vh.plugin_names() {
        let Some(p) = vh.plugin(&name) else {
            continue;
        };
        let rows = p.ops.counters();
        if !rows.is_empty() {
            section(format!("plugin {name}"), &rows);
        }
    }
    for inst in vh.instances() {
        section(
            format!(
                "instance {} linkid {} vnetid {} plugin {} activated {}",
                inst.id,
                inst.linkid,
                inst.vnetid,
                inst.plugin.name,
                u8::from(inst.is_activated())
            ),
            &inst.private.counters(),
        );
    }
    out
}

/// The `varpd.stats` listener: a thread answering each connection with
/// [`report`]. Dropping it stops answering and removes the socket.
#[derive(Debug)]
pub struct StatsServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
}

impl StatsServer {
    /// Listen on `path` (a stale socket there is replaced) for `vh`.
    pub fn create(path: &Path, vh: &Arc<Varpd>) -> Result<StatsServer, Errno> {
        let _ = std::fs::remove_file(path);
        let l = UnixListener::bind(path).map_err(|e| Errno::from_io(&e))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
            .map_err(|e| Errno::from_io(&e))?;
        let weak: Weak<Varpd> = Arc::downgrade(vh);
        let me = StatsServer {
            path: path.to_path_buf(),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let stop = me.stop.clone();
        std::thread::Builder::new()
            .name("varpd-stats".into())
            .spawn(move || serve(l, weak, &stop))
            .map_err(|e| Errno::from_io(&e))?;
        Ok(me)
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for StatsServer {
    fn drop(&mut self) {
        // Wake the thread with a connection of our own, then unlink.
        self.stop.store(true, Ordering::SeqCst);
        let _ = UnixStream::connect(&self.path);
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve(l: UnixListener, vh: Weak<Varpd>, stop: &AtomicBool) {
    for conn in l.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Some(vh) = vh.upgrade() else {
            return;
        };
        let mut c = match conn {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("varpd stats: accept: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let _ = c.set_write_timeout(Some(STATS_WRITE_TIMEOUT));
        if let Err(e) = c.write_all(report(&vh).as_bytes()) {
            tracing::debug!("varpd stats: write: {e}");
        }
    }
}

/// `varpd stats`' side: the report of the varpd listening on `path`.
pub fn fetch(path: &Path) -> Result<String, std::io::Error> {
    let c = UnixStream::connect(path)?;
    c.set_read_timeout(Some(STATS_WRITE_TIMEOUT))?;
    let mut s = String::new();
    c.take(STATS_MAX).read_to_string(&mut s)?;
    Ok(s)
}

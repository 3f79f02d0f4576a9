//! portolan's counters and the stats socket.
//!
//! # Theory of operation
//!
//! Counters are relaxed atomics bumped by the worker threads. The stats
//! socket (a Unix stream socket in the run directory) answers every
//! connection with one JSON object of every counter and closes it;
//! `portolan stats` is its client.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use svp_proto::SvpError;

macro_rules! counters {
    ($($name:ident),* $(,)?) => {
        /// Every counter (see docs/portolan.md for their meaning).
        #[derive(Debug, Default)]
        pub struct Stats {
            $(pub $name: AtomicU64,)*
        }

        impl Stats {
            /// (name, value) of every counter, in a fixed order.
            pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name.load(Ordering::Relaxed)),)*]
            }
        }
    };
}

counters!(
    conns_accepted,
    conns_open,
    conns_closed,
    req_ping,
    req_vl2,
    req_vl3,
    req_bulk,
    req_log,
    req_log_rm,
    reply_pong,
    reply_ok,
    reply_fatal,
    reply_notfound,
    reply_badl3type,
    reply_badbulk,
    close_eof,
    close_io_error,
    drop_bad_crc,
    drop_bad_size,
    drop_bad_version,
    drop_size_over_cap,
    drop_unknown_op,
    drop_shootdown,
    drop_truncated,
    store_errors,
    cache_hits,
    cache_misses,
    store_lookups,
    cache_flushes,
    log_records_sent,
    log_records_removed,
);

impl Stats {
    /// Bump `c` by one.
    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Count a connection closed for a protocol error.
    pub fn count_drop(&self, e: &SvpError) {
        let c = match e {
            SvpError::BadCrc { .. } => &self.drop_bad_crc,
            SvpError::BadSize { .. } => &self.drop_bad_size,
            SvpError::BadVersion(_) => &self.drop_bad_version,
            SvpError::SizeOverCap { .. } => &self.drop_size_over_cap,
            SvpError::UnknownOp(_) => &self.drop_unknown_op,
            SvpError::ShortFrame { .. } => &self.drop_truncated,
            // Log records are a reply-side matter; a server never sees them.
            SvpError::UnknownLogType(_) | SvpError::ShortLogRecord { .. } => &self.drop_bad_size,
        };
        Self::bump(c);
    }

    /// Count a reply by its status.
    pub fn count_status(&self, status: u32) {
        use svp_proto::status::*;
        let c = match status {
            SVP_S_OK => &self.reply_ok,
            SVP_S_NOTFOUND => &self.reply_notfound,
            SVP_S_BADL3TYPE => &self.reply_badl3type,
            SVP_S_BADBULK => &self.reply_badbulk,
            _ => &self.reply_fatal,
        };
        Self::bump(c);
    }

    /// The counters as a JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        let m: serde_json::Map<String, serde_json::Value> = self
            .snapshot()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.into()))
            .collect();
        serde_json::Value::Object(m)
    }
}

/// The stats socket's server thread.
pub struct StatsServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StatsServer {
    /// Bind `path` (replacing a stale socket) and serve `stats` on it.
    pub fn start(path: &Path, stats: Arc<Stats>) -> std::io::Result<StatsServer> {
        let _ = std::fs::remove_file(path);
        let l = UnixListener::bind(path)?;
        let stop = Arc::new(AtomicBool::new(false));
        let st = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("portolan-stats".into())
            .spawn(move || {
                for c in l.incoming() {
                    if st.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(mut c) = c {
                        let _ = c.set_write_timeout(Some(std::time::Duration::from_secs(2)));
                        let _ = c.write_all(stats.to_json().to_string().as_bytes());
                    }
                }
            })?;
        Ok(StatsServer {
            path: path.to_path_buf(),
            stop,
            thread: Some(thread),
        })
    }

    /// Stop the thread and remove the socket.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = UnixStream::connect(&self.path);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Read the counters of the portolan serving `path`.
pub fn fetch(path: &Path) -> std::io::Result<serde_json::Map<String, serde_json::Value>> {
    let mut c = UnixStream::connect(path)?;
    c.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    let mut s = String::new();
    c.read_to_string(&mut s)?;
    match serde_json::from_str(&s) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "malformed stats reply",
        )),
    }
}

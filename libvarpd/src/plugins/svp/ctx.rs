//! What every part of the plugin shares: tunables, counters, request ids
//! and the event loop's wake-up pipe.
//!
//! # Theory of operation
//!
//! illumos keeps these as process globals (`svp_conn_query_timeout`,
//! `svp_dns_timer_rate`, `svp_shootdown_base`, `svp_idspace`, the event
//! port). Here one [`SvpCtx`] belongs to one plugin registration and is
//! shared by its remotes and connections; [`SvpConfig`] holds illumos'
//! values by default, and tests shorten the tick or name their own
//! resolver.
//!
//! Request ids come from one id space `[1, INT32_MAX]` (`svp_req_ids`):
//! next fit, skipping ids still in use.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Why a name did not resolve.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// `EAI_AGAIN`, `EAI_MEMORY`, `EAI_SYSTEM`: try again soon.
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// `EAI_FAIL`, `EAI_NODATA`, `EAI_NONAME`: the name has no addresses.
    #[error("{0}")]
    NotFound(String),
    /// Anything else (a bad name, an unexpected error).
    #[error("{0}")]
    Other(String),
}

/// How `svp/host` becomes addresses.
pub trait SvpResolver: Send + Sync {
    /// Every address of `host` (order kept, duplicates allowed).
    fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, ResolveError>;
}

/// `svp_conn_query_timeout`, in ticks.
pub const SVP_CONN_QUERY_TIMEOUT: u32 = 30;
/// `svp_dns_timer_rate`, in ticks.
pub const SVP_DNS_TIMER_RATE: u32 = 30;
/// `svp_shootdown_base`, in ticks.
pub const SVP_SHOOTDOWN_BASE: u32 = 5;
/// `svp_shootdown_cont`, in ticks.
pub const SVP_SHOOTDOWN_CONT: u32 = 1;

/// Tunables. The defaults are illumos'; tests shorten the tick.
#[derive(Clone)]
pub struct SvpConfig {
    /// `svp_tickrate`: the unit of every timer (1 s).
    pub tick: Duration,
    /// `svp_conn_query_timeout`: a started query with no I/O for this many
    /// ticks resets its connection (30).
    pub query_timeout: u32,
    /// `svp_dns_timer_rate`: how often `svp/host` is re-resolved (30).
    pub dns_rate: u32,
    /// `svp_shootdown_base`: the log poller waits base + uniform(0..=base)
    /// ticks when idle (5).
    pub shootdown_base: u32,
    /// `svp_shootdown_cont`: ... and this many while there is work (1).
    pub shootdown_cont: u32,
    /// How `svp/host` is resolved; `None` = the system's `getaddrinfo`.
    pub resolver: Option<Arc<dyn SvpResolver>>,
}

impl std::fmt::Debug for SvpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SvpConfig")
            .field("tick", &self.tick)
            .field("query_timeout", &self.query_timeout)
            .field("dns_rate", &self.dns_rate)
            .field("shootdown_base", &self.shootdown_base)
            .field("shootdown_cont", &self.shootdown_cont)
            .finish_non_exhaustive()
    }
}

impl Default for SvpConfig {
    fn default() -> Self {
        SvpConfig {
            tick: Duration::from_secs(1),
            query_timeout: SVP_CONN_QUERY_TIMEOUT,
            dns_rate: SVP_DNS_TIMER_RATE,
            shootdown_base: SVP_SHOOTDOWN_BASE,
            shootdown_cont: SVP_SHOOTDOWN_CONT,
            resolver: None,
        }
    }
}

/// Counters of the whole plugin (every remote of one runtime).
#[derive(Debug, Default)]
pub struct SvpStats {
    /// Queries handed to a connection.
    pub queries: AtomicU64,
    /// Queries failed at once: no ACTIVE connection (`SVP_S_FATAL`).
    pub queries_noconn: AtomicU64,
    /// Queries failed by a connection reset or the remote going away.
    pub queries_failed: AtomicU64,
    /// Replies accepted.
    pub replies: AtomicU64,
    /// Writes that took only part of a frame (the rest follows on POLLOUT).
    pub short_writes: AtomicU64,
    /// Connect attempts.
    pub connects: AtomicU64,
    /// Connect attempts that failed (backoff).
    pub connect_failures: AtomicU64,
    /// Connection resets, every reason.
    pub resets: AtomicU64,
    /// Resets by reason.
    pub reset_eof: AtomicU64,
    pub reset_io: AtomicU64,
    pub reset_version: AtomicU64,
    pub reset_op: AtomicU64,
    pub reset_id: AtomicU64,
    pub reset_size: AtomicU64,
    pub reset_crc: AtomicU64,
    pub reset_timeout: AtomicU64,
    /// `getaddrinfo` calls and failures.
    pub dns_lookups: AtomicU64,
    pub dns_failures: AtomicU64,
    /// Log poller: LOG_REQs sent, records applied, LOG_RMs sent.
    pub log_requests: AtomicU64,
    pub log_vl2: AtomicU64,
    pub log_vl3: AtomicU64,
    pub log_rm: AtomicU64,
    /// Degrade and restore upcalls made.
    pub degrades: AtomicU64,
    pub restores: AtomicU64,
}

impl SvpStats {
    pub(crate) fn bump(&self, c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Every counter by name, for logs and tests.
    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        BTreeMap::from([
            ("queries", l(&self.queries)),
            ("queries_noconn", l(&self.queries_noconn)),
            ("queries_failed", l(&self.queries_failed)),
            ("replies", l(&self.replies)),
            ("short_writes", l(&self.short_writes)),
            ("connects", l(&self.connects)),
            ("connect_failures", l(&self.connect_failures)),
            ("resets", l(&self.resets)),
            ("reset_eof", l(&self.reset_eof)),
            ("reset_io", l(&self.reset_io)),
            ("reset_version", l(&self.reset_version)),
            ("reset_op", l(&self.reset_op)),
            ("reset_id", l(&self.reset_id)),
            ("reset_size", l(&self.reset_size)),
            ("reset_crc", l(&self.reset_crc)),
            ("reset_timeout", l(&self.reset_timeout)),
            ("dns_lookups", l(&self.dns_lookups)),
            ("dns_failures", l(&self.dns_failures)),
            ("log_requests", l(&self.log_requests)),
            ("log_vl2", l(&self.log_vl2)),
            ("log_vl3", l(&self.log_vl3)),
            ("log_rm", l(&self.log_rm)),
            ("degrades", l(&self.degrades)),
            ("restores", l(&self.restores)),
        ])
    }
}

/// `svp_idspace`: request ids in `[1, INT32_MAX]`, next fit.
#[derive(Debug)]
struct IdSpace {
    next: u32,
    used: HashSet<u32>,
}

impl IdSpace {
    fn alloc(&mut self) -> u32 {
        loop {
            let id = self.next;
            self.next = if id >= i32::MAX as u32 { 1 } else { id + 1 };
            if self.used.insert(id) {
                return id;
            }
        }
    }
}

/// What the remotes and connections of one plugin share.
#[derive(Debug)]
pub struct SvpCtx {
    /// Tunables.
    pub cfg: SvpConfig,
    /// Counters.
    pub stats: SvpStats,
    ids: Mutex<IdSpace>,
    /// Wakes the event loop.
    pub(crate) waker: Waker,
}

impl SvpCtx {
    /// A context with `cfg`. Fails only if the wake-up pipe cannot be made.
    pub fn new(cfg: SvpConfig) -> std::io::Result<SvpCtx> {
        Ok(SvpCtx {
            cfg,
            stats: SvpStats::default(),
            ids: Mutex::new(IdSpace {
                next: 1,
                used: HashSet::new(),
            }),
            waker: Waker::new()?,
        })
    }

    /// `id_alloc(svp_idspace)`.
    pub(crate) fn id_alloc(&self) -> u32 {
        self.ids.lock().unwrap_or_else(|p| p.into_inner()).alloc()
    }

    /// `id_free(svp_idspace, id)` (`svp_query_release`).
    pub(crate) fn id_free(&self, id: u32) {
        self.ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .used
            .remove(&id);
    }

    /// `n` ticks.
    pub(crate) fn ticks(&self, n: u32) -> Duration {
        self.cfg.tick * n
    }
}

/// The self-pipe that wakes the event loop out of `poll`
/// (`svp_event_inject`'s role).
#[derive(Debug)]
pub(crate) struct Waker {
    rd: OwnedFd,
    wr: OwnedFd,
}

impl Waker {
    fn new() -> std::io::Result<Waker> {
        use nix::fcntl::OFlag;
        let (rd, wr) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)
            .map_err(std::io::Error::from)?;
        Ok(Waker { rd, wr })
    }

    pub fn read_fd(&self) -> RawFd {
        self.rd.as_raw_fd()
    }

    /// Make the next (or current) `poll` return.
    pub fn wake(&self) {
        // A full pipe already wakes the loop: nothing to retry.
        let _ = nix::unistd::write(&self.wr, &[1u8]);
    }

    /// Empty the pipe after a wake-up.
    pub fn drain(&self) {
        let mut b = [0u8; 64];
        while let Ok(n) = nix::unistd::read(self.rd.as_raw_fd(), &mut b) {
            if n < b.len() {
                break;
            }
        }
    }
}

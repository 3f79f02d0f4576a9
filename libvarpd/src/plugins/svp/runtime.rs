//! The remote tree and the plugin's threads: the event loop
//! (`libvarpd_svp_loop.c`) and the resolver (`svp_host_loop`).
//!
//! # Theory of operation
//!
//! illumos keeps the remote tree (`svp_remote_tree`), the event port with
//! its `2·ncpus + 1` threads, the timer and 8 DNS threads as process
//! globals, started when the plugin is loaded. Here they belong to one
//! [`SvpRuntime`] owned by the plugin registration, so every instance made
//! through it shares remotes, as every instance of a varpd process does.
//!
//! Threads: one event loop thread and one resolver thread. Both start
//! when the first remote is created and exit when the last one is
//! released, so an idle plugin holds no thread and no descriptor beyond its
//! wake-up pipe, and their number does not grow with remotes, connections
//! or reconnects. They are spawned with every signal blocked, so the
//! daemon's signal thread keeps receiving SIGTERM.
//!
//! The event loop, each pass: runs the connection timers of every remote
//! (backoff, query timeout), queues the remotes whose DNS timer fired on
//! the resolver, fires the log pollers, then `poll`s every socket that
//! waits for something plus the wake-up pipe, until the earliest deadline,
//! and hands each event to its connection. Query callbacks collected along
//! the way run after each step, outside every lock.

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv6Addr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::ctx::{ResolveError, SvpConfig, SvpCtx};
use super::host::{svp_host_lookup, SVP_DNS_TEMPFAIL_DEGRADE};
use super::query::Completions;
use super::remote::{RemoteKey, RemoteSnapshot, SvpRemote, SVP_RD_DNS_FAIL};

/// The longest single `poll` wait.
const SVP_LOOP_MAXWAIT: Duration = Duration::from_secs(1);

/// The remote tree and which threads run.
#[derive(Default)]
struct Tree {
    remotes: BTreeMap<RemoteKey, Arc<SvpRemote>>,
    loop_running: bool,
    host_running: bool,
}

/// One plugin's remotes and threads.
pub struct SvpRuntime {
    pub(crate) ctx: Arc<SvpCtx>,
    tree: Mutex<Tree>,
    hostq: Mutex<VecDeque<Arc<SvpRemote>>>,
    host_cv: Condvar,
}

impl std::fmt::Debug for SvpRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SvpRuntime")
            .field("cfg", &self.ctx.cfg)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The protected data stays consistent across a panic elsewhere.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Spawn a thread with every signal blocked (the mask is inherited).
fn spawn_quiet<F: FnOnce() + Send + 'static>(name: &str, f: F) -> std::io::Result<()> {
    use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow};
    let mut old = SigSet::empty();
    let masked = pthread_sigmask(
        SigmaskHow::SIG_SETMASK,
        Some(&SigSet::all()),
        Some(&mut old),
    )
    .is_ok();
    let r = std::thread::Builder::new().name(name.into()).spawn(f);
    if masked {
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    }
    r.map(|_| ())
}

impl SvpRuntime {
    /// A runtime with `cfg`. Fails only if the wake-up pipe cannot be made.
    pub fn new(cfg: SvpConfig) -> std::io::Result<Arc<SvpRuntime>> {
        Ok(Arc::new(SvpRuntime {
            ctx: Arc::new(SvpCtx::new(cfg)?),
            tree: Mutex::new(Tree::default()),
            hostq: Mutex::new(VecDeque::new()),
            host_cv: Condvar::new(),
        }))
    }

    /// The shared context (tunables, counters).
    pub fn ctx(&self) -> &SvpCtx {
        &self.ctx
    }

    /// `svp_remote_find`: the remote for (host, port, underlay IP), with a
    /// new reference; created (resolved at once, its log poller started)
    /// when missing.
    pub(crate) fn remote_find(
        self: &Arc<Self>,
        host: &str,
        port: u16,
        uip: Ipv6Addr,
    ) -> std::io::Result<Arc<SvpRemote>> {
        let key = RemoteKey {
            host: host.to_string(),
            port,
            uip,
        };
        let mut t = lock(&self.tree);
        if let Some(r) = t.remotes.get(&key) {
            r.hold();
            return Ok(r.clone());
        }
        if !t.loop_running {
            let rt = self.clone();
            spawn_quiet("svp-event", move || svp_event_loop(rt))?;
            t.loop_running = true;
        }
        if !t.host_running {
            let rt = self.clone();
            spawn_quiet("svp-host", move || svp_host_loop(rt))?;
            t.host_running = true;
        }
        let srp = Arc::new(SvpRemote::new(&self.ctx, key.clone()));
        t.remotes.insert(key, srp.clone());
        drop(t);
        self.host_queue(&srp);
        self.ctx.waker.wake();
        Ok(srp)
    }

    /// `svp_remote_release`: drop a reference; the last one removes the
    /// remote from the tree and destroys it.
    pub(crate) fn remote_release(&self, srp: &Arc<SvpRemote>) {
        let mut t = lock(&self.tree);
        if !srp.rele() {
            return;
        }
        t.remotes.remove(&srp.key);
        drop(t);
        srp.destroy();
        self.ctx.waker.wake();
        self.host_cv.notify_all();
    }

    /// Every remote (the event loop's view); `None` when none are left,
    /// which also marks the loop stopped.
    fn loop_remotes(&self) -> Option<Vec<Arc<SvpRemote>>> {
        let mut t = lock(&self.tree);
        if t.remotes.is_empty() {
            t.loop_running = false;
            return None;
        }
        Some(t.remotes.values().cloned().collect())
    }

    /// `svp_host_queue`: resolve `srp` soon (once, however often asked).
    pub(crate) fn host_queue(&self, srp: &Arc<SvpRemote>) {
        if !srp.lookup_schedule() {
            return;
        }
        lock(&self.hostq).push_back(srp.clone());
        self.host_cv.notify_one();
    }

    /// The next remote to resolve, waiting for one; `None` when no remote
    /// is left (the resolver thread then exits).
    fn host_next(&self) -> Option<Arc<SvpRemote>> {
        let mut q = lock(&self.hostq);
        loop {
            if let Some(r) = q.pop_front() {
                return Some(r);
            }
            {
                let mut t = lock(&self.tree);
                if t.remotes.is_empty() {
                    t.host_running = false;
                    return None;
                }
            }
            q = self
                .host_cv
                .wait_timeout(q, SVP_LOOP_MAXWAIT)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// A snapshot of every remote.
    pub fn remotes(&self) -> Vec<RemoteSnapshot> {
        let rs: Vec<Arc<SvpRemote>> = lock(&self.tree).remotes.values().cloned().collect();
        rs.iter().map(|r| r.snapshot()).collect()
    }

    /// Whether the event loop and the resolver thread are running.
    pub fn threads_running(&self) -> (bool, bool) {
        let t = lock(&self.tree);
        (t.loop_running, t.host_running)
    }
}

/// The event loop thread (`svp_event_loop`).
fn svp_event_loop(rt: Arc<SvpRuntime>) {
    let ctx = rt.ctx.clone();
    let mut pfds: Vec<libc::pollfd> = Vec::new();
    let mut owners: Vec<(usize, u64)> = Vec::new();
    let mut done = Completions::new();
    while let Some(remotes) = rt.loop_remotes() {
        let now = Instant::now();
        let mut next = now + SVP_LOOP_MAXWAIT;
        let mut work = Vec::new();
        for r in &remotes {
            let due = r.timers(now, &mut next, &mut done);
            done.run();
            if due.dns {
                rt.host_queue(r);
            }
            if let Some(w) = due.shootdown {
                work.push((r.clone(), w));
            }
        }
        for (r, w) in work {
            r.shootdown_work(w);
        }

        pfds.clear();
        owners.clear();
        pfds.push(libc::pollfd {
            fd: ctx.waker.read_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        for (i, r) in remotes.iter().enumerate() {
            let mut ids = Vec::new();
            r.poll_set(&mut pfds, &mut ids);
            owners.extend(ids.into_iter().map(|id| (i, id)));
        }
        let wait = next.saturating_duration_since(Instant::now());
        // Round up so a deadline is not polled for in a busy loop.
        let ms = wait.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
        // SAFETY: pfds is a valid, initialised array of pollfd of the
        // length passed.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
        if n <= 0 {
            continue;
        }
        if pfds[0].revents != 0 {
            ctx.waker.drain();
        }
        for (k, (ri, id)) in owners.iter().enumerate() {
            let re = pfds[k + 1].revents;
            if re != 0 {
                remotes[*ri].conn_event(*id, re, &mut done);
                done.run();
            }
        }
    }
}

/// A resolver thread (`svp_host_loop`).
fn svp_host_loop(rt: Arc<SvpRuntime>) {
    while let Some(srp) = rt.host_next() {
        if !srp.lookup_begin() {
            continue;
        }
        let ctx = &rt.ctx;
        let host = srp.key.host.clone();
        let res = svp_host_lookup(ctx.cfg.resolver.as_ref(), &host);
        ctx.stats.bump(&ctx.stats.dns_lookups);
        match res {
            Ok(addrs) => {
                srp.restore(SVP_RD_DNS_FAIL);
                srp.resolved(&addrs);
            }
            Err(e) => {
                ctx.stats.bump(&ctx.stats.dns_failures);
                if matches!(e, ResolveError::Temporary(_)) {
                    let n = srp.lookup_tempfail();
                    tracing::warn!(host = %host, attempt = n, "svp: failed to resolve host: {e}");
                    if n >= SVP_DNS_TEMPFAIL_DEGRADE {
                        srp.degrade(SVP_RD_DNS_FAIL);
                    }
                } else {
                    tracing::warn!(host = %host, "svp: failed to resolve host: {e}");
                    srp.degrade(SVP_RD_DNS_FAIL);
                }
            }
        }
        srp.lookup_end();
    }
}

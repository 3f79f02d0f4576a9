//! A remote's connections (`svp_conn_add`/`_remove`/`_degrade`/`_restore`,
//! `svp_conn_fallout`, `svp_remote_reassign`, `svp_conn_handler`) and the
//! event loop's view of the remote.
//!
//! # Theory of operation
//!
//! The remote counts its connections (`sr_tconns`) and the degraded ones
//! (`sr_ndconns`); when every connection is degraded, or none is left, the
//! remote degrades with `SVP_RD_REMOTE_FAIL`, and any connection becoming
//! ACTIVE restores it. [`SvpRemote::conn_handler`] advances one connection
//! on a timer or a `poll` event: the connection's own handlers
//! (`conn.rs`) say what should follow and the remote applies it. A reset
//! closes the socket, fails the oldest outstanding query, requeues the
//! others elsewhere and reconnects at once; a connection whose address left
//! DNS winds down and is reaped once idle. [`SvpRemote::timers`],
//! [`SvpRemote::poll_set`] and [`SvpRemote::conn_event`] are what the event
//! loop (`runtime.rs`) calls, all under the remote's one lock.

use std::time::Instant;

use super::{lowest, svp_remote_mkfmamsg, RemoteDue, RemoteState, SvpRemote, SVP_RD_REMOTE_FAIL};
use crate::plugins::svp::conn::{SvpConnAct, SvpConnState, SvpResetReason};
use crate::plugins::svp::query::{Completions, SvpReplyData};

impl SvpRemote {
    fn cidx(st: &RemoteState, id: u64) -> Option<usize> {
        st.conns.iter().position(|c| c.id == id)
    }

    pub(super) fn conn_add(st: &mut RemoteState, idx: usize) {
        if st.conns[idx].added {
            return;
        }
        st.conns[idx].added = true;
        st.tconns += 1;
    }

    fn conn_remove(&self, st: &mut RemoteState, idx: usize) {
        let c = &mut st.conns[idx];
        if !c.added {
            return;
        }
        c.added = false;
        if c.degraded {
            st.ndconns -= 1;
        }
        st.tconns -= 1;
        if st.tconns == st.ndconns {
            self.degrade_locked(st, SVP_RD_REMOTE_FAIL);
        }
    }

    fn conn_degrade(&self, st: &mut RemoteState, idx: usize) {
        let c = &mut st.conns[idx];
        if c.degraded {
            return;
        }
        c.degraded = true;
        if c.added {
            st.ndconns += 1;
        }
        if st.ndconns == st.tconns {
            self.degrade_locked(st, SVP_RD_REMOTE_FAIL);
        }
    }

    fn conn_restore(&self, st: &mut RemoteState, idx: usize) {
        let c = &mut st.conns[idx];
        if c.degraded {
            c.degraded = false;
            if c.added {
                st.ndconns -= 1;
            }
        }
        // A connection is ACTIVE: some peer is reachable.
        self.restore_locked(st, SVP_RD_REMOTE_FAIL);
    }

    /// `svp_conn_fallout`: the address left DNS.
    pub(super) fn conn_fallout(&self, st: &mut RemoteState, id: u64, done: &mut Completions) {
        let Some(idx) = Self::cidx(st, id) else {
            return;
        };
        let c = &mut st.conns[idx];
        tracing::info!(host = %self.key.host, addr = %c.addr, "svp: remote address left DNS");
        match c.state {
            SvpConnState::Active | SvpConnState::Winddown => {
                c.state = SvpConnState::Winddown;
                if c.queries.is_empty() {
                    self.conn_reap(st, idx, done);
                }
            }
            _ => self.conn_reap(st, idx, done),
        }
    }

    /// Remove a connection for good (`SVP_CF_REAP` + `svp_conn_destroy`);
    /// queries it still holds go elsewhere or fail.
    fn conn_reap(&self, st: &mut RemoteState, idx: usize, done: &mut Completions) {
        self.conn_remove(st, idx);
        let mut c = st.conns.remove(idx);
        c.close();
        while let Some(q) = c.queries.pop_front() {
            if let Err(q) = self.conn_queue(st, q) {
                self.ctx.stats.bump(&self.ctx.stats.queries_failed);
                done.push(q.complete(&self.ctx, SvpReplyData::fatal()));
            }
        }
    }

    /// `svp_remote_reassign`: the connection at `idx` is being reset.
    fn reassign(&self, st: &mut RemoteState, idx: usize, done: &mut Completions) {
        let mut c = st.conns.remove(idx);
        let mut first = true;
        while let Some(q) = c.queries.pop_front() {
            if first {
                first = false;
                self.ctx.stats.bump(&self.ctx.stats.queries_failed);
                done.push(q.complete(&self.ctx, SvpReplyData::fatal()));
                continue;
            }
            if let Err(q) = self.conn_queue(st, q) {
                self.ctx.stats.bump(&self.ctx.stats.queries_failed);
                done.push(q.complete(&self.ctx, SvpReplyData::fatal()));
            }
        }
        st.conns.push(c);
    }

    // -- the connection handler ----------------------------------------------------

    fn count_reset(&self, r: SvpResetReason) {
        let s = &self.ctx.stats;
        s.bump(&s.resets);
        s.bump(match r {
            SvpResetReason::Eof => &s.reset_eof,
            SvpResetReason::Io => &s.reset_io,
            SvpResetReason::Version => &s.reset_version,
            SvpResetReason::Op => &s.reset_op,
            SvpResetReason::Id => &s.reset_id,
            SvpResetReason::Size => &s.reset_size,
            SvpResetReason::Crc => &s.reset_crc,
            SvpResetReason::Timeout => &s.reset_timeout,
        });
    }

    /// `svp_conn_handler`: advance connection `id` on a timer (`revents`
    /// None) or a `poll` event.
    fn conn_handler(
        &self,
        st: &mut RemoteState,
        id: u64,
        revents: Option<libc::c_short>,
        done: &mut Completions,
    ) {
        let Some(idx) = Self::cidx(st, id) else {
            return;
        };
        let ctx = &*self.ctx;
        let c = &mut st.conns[idx];
        let act = if c.teardown {
            SvpConnAct::Error(SvpResetReason::Timeout)
        } else {
            match c.state {
                SvpConnState::Initial | SvpConnState::Backoff if revents.is_none() => {
                    c.connect(ctx)
                }
                SvpConnState::Error if revents.is_none() => {
                    c.state = SvpConnState::Backoff;
                    c.connect(ctx)
                }
                SvpConnState::Connecting => match revents {
                    Some(re) => c.poll_connect(ctx, re),
                    None => SvpConnAct::None,
                },
                SvpConnState::Active | SvpConnState::Winddown => {
                    let old = c.state;
                    let mut r = SvpConnAct::None;
                    if let Some(re) = revents {
                        if re & libc::POLLOUT != 0 {
                            r = c.pollout(ctx);
                        }
                        if r == SvpConnAct::None
                            && re & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0
                        {
                            r = c.pollin(ctx, done);
                        }
                    }
                    if old == SvpConnState::Winddown
                        && (c.queries.is_empty() || r != SvpConnAct::None)
                    {
                        r = SvpConnAct::Cleanup;
                    }
                    r
                }
                _ => SvpConnAct::None,
            }
        };
        let act = match act {
            SvpConnAct::Error(reason) => {
                self.count_reset(reason);
                let c = &mut st.conns[idx];
                tracing::warn!(
                    remote_ip = %c.addr,
                    remote_port = c.port,
                    reason = ?reason,
                    "svp: resetting connection"
                );
                // svp_conn_reset: close, reassign, reconnect at once.
                c.reset_socket();
                self.reassign(st, idx, done);
                let Some(idx) = Self::cidx(st, id) else {
                    return;
                };
                let a = st.conns[idx].connect(ctx);
                (a, idx)
            }
            a => (a, idx),
        };
        match act {
            (SvpConnAct::Degrade, idx) => self.conn_degrade(st, idx),
            (SvpConnAct::Restore, idx) => self.conn_restore(st, idx),
            (SvpConnAct::Cleanup, idx) => self.conn_reap(st, idx, done),
            _ => {}
        }
    }

    // -- the event loop's view --------------------------------------------------------

    /// Run the connection timers due at `now` (backoff, query timeout),
    /// report the DNS and log-poller timers due, and lower `next` to the
    /// earliest deadline left.
    pub fn timers(&self, now: Instant, next: &mut Instant, done: &mut Completions) -> RemoteDue {
        let mut st = self.lock();
        if st.destroyed {
            return RemoteDue::default();
        }
        let ids: Vec<u64> = st.conns.iter().map(|c| c.id).collect();
        let timeout = self.ctx.ticks(self.ctx.cfg.query_timeout);
        for id in ids {
            let Some(idx) = Self::cidx(&st, id) else {
                continue;
            };
            let c = &mut st.conns[idx];
            if c.btimer.fire(now) {
                self.conn_handler(&mut st, id, None, done);
            }
            let Some(idx) = Self::cidx(&st, id) else {
                continue;
            };
            let c = &mut st.conns[idx];
            if c.qtimer.fire(now) {
                c.qtimer.add(self.ctx.cfg.tick, self.ctx.cfg.query_timeout);
                if let Some(op) = c.query_timed_out(now, timeout) {
                    tracing::warn!(
                        remote_ip = %c.addr,
                        remote_port = c.port,
                        operation = op,
                        "svp: query timed out on connection"
                    );
                    c.teardown = true;
                    self.conn_handler(&mut st, id, None, done);
                }
            }
        }
        let mut due = RemoteDue {
            dns: st.dns_timer.fire(now),
            shootdown: st.shoot.fire(now),
        };
        if due.dns {
            st.dns_timer.add(self.ctx.cfg.tick, self.ctx.cfg.dns_rate);
            // Re-assert a standing degrade, so an overlay whose state was
            // cleared behind our back (a varpd restart restoring it, say)
            // shows it again within one DNS period.
            if st.degrade != 0 {
                let msg = svp_remote_mkfmamsg(&self.key.host, lowest(st.degrade));
                self.fma_all(&st, Some(&msg));
            }
        }
        if st.shoot.quiesce {
            due.shootdown = None;
        }
        for c in &st.conns {
            c.btimer.bound(next);
            c.qtimer.bound(next);
        }
        st.dns_timer.bound(next);
        st.shoot.timer.bound(next);
        due
    }

    /// Append this remote's sockets to the `poll` set.
    pub fn poll_set(&self, pfds: &mut Vec<libc::pollfd>, owners: &mut Vec<u64>) {
        let st = self.lock();
        for c in &st.conns {
            let ev = c.interest();
            if let (Some(fd), true) = (c.fd(), ev != 0) {
                pfds.push(libc::pollfd {
                    fd,
                    events: ev,
                    revents: 0,
                });
                owners.push(c.id);
            }
        }
    }

    /// A `poll` event for connection `id`.
    pub fn conn_event(&self, id: u64, revents: libc::c_short, done: &mut Completions) {
        let mut st = self.lock();
        if st.destroyed {
            return;
        }
        self.conn_handler(&mut st, id, Some(revents), done);
    }
}

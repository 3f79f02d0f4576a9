//! One TCP connection to one mapping server (`libvarpd_svp_conn.c`).
//!
//! # Theory of operation
//!
//! A remote keeps one [`SvpConn`] per address its host name resolves to.
//! The connection's states are illumos' (`svp_conn_state_t`):
//!
//! | state | meaning | leaves on |
//! |---|---|---|
//! | `INITIAL` | new, or just reset; no socket | its backoff timer (1 tick after creation; at once after a reset) → connect |
//! | `CONNECTING` | non-blocking `connect` in progress | writable: `SO_ERROR` 0 → `ACTIVE`, else `BACKOFF` |
//! | `BACKOFF` | the last connect failed; no socket | the backoff timer: 1, 2, 4, 8, 16, 32, 32 … ticks → connect |
//! | `ACTIVE` | connected; takes queries | an error → reset (`INITIAL`, reconnect at once); the address left DNS → `WINDDOWN` |
//! | `WINDDOWN` | left DNS; finishes its queries, takes no new ones | no queries left, or an error → reaped |
//! | `ERROR` | a local failure (no socket could be made) | retried after the longest backoff; reaped if it leaves DNS |
//!
//! From the 7th consecutive failed connect the connection counts as
//! degraded (`SVP_CF_DEGRADED`); when every connection of a remote is, the
//! remote degrades with `cannot reach any remote peers`. The first
//! successful connect restores it.
//!
//! Each handler returns what the remote must do next ([`SvpConnAct`],
//! `svp_conn_act_t`): nothing, degrade, restore, reset (an error), or clean
//! up (reap).
//!
//! **Output.** Queries are written one at a time and whole, in queue order
//! (`svp_conn_pollout`); completion is judged on the running offset into
//! the frame (illumos compared the size of the last `writev` alone with the
//! frame size, so a message written in several pieces could stall: fixed,
//! spec/svp.md §2.8). `send` uses `MSG_NOSIGNAL`: a peer that went away is
//! a reset, never a `SIGPIPE`.
//!
//! **Input.** A reply is read header first (16 bytes), validated against
//! the outstanding queries, then exactly `svp_size` payload bytes are read
//! into a buffer of that size, and the CRC is checked
//! (`svp_conn_pollin`, `svp_conn_pollin_validate`). Each of these resets
//! the connection: end of file or a read error, a version other than 1, an
//! op other than VL2_ACK/VL3_ACK/LOG_ACK/LOG_RM_ACK, an id no query on
//! this connection has (compared as the raw 4 bytes), a reply to a query
//! not yet written, an ack of another op than the query's (not checked by
//! illumos), a VL2_ACK/VL3_ACK/LOG_RM_ACK not of exactly 20/28/4 bytes, a
//! LOG_ACK shorter than 4 bytes or longer than the query's buffer (illumos
//! compared with the byte-swapped count and so never bounded it: fixed,
//! §2.8), a CRC mismatch. Several queries may await replies at once, and
//! replies may come in any order.
//!
//! **Query timeout** (`svp_conn_querytimer`): every `query_timeout` ticks
//! an ACTIVE connection checks its started queries; one with no I/O for
//! longer than that resets the connection (so the effective timeout is
//! between one and two periods, as in illumos).

use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno as NixErrno;
use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockType, SockaddrIn6};
use svp_proto::op::{SVP_R_LOG_ACK, SVP_R_LOG_RM_ACK, SVP_R_VL2_ACK, SVP_R_VL3_ACK};
use svp_proto::{svp_frame_crc, SvpHeader, SVP_CURRENT_VERSION};

use super::ctx::SvpCtx;
use super::query::{Completions, SvpQuery, SvpQueryList, SvpQueryState, SvpReplyData};
use super::timer::SvpTimer;

/// `svp_conn_backoff_tbl`, in ticks.
pub const SVP_CONN_BACKOFF_TBL: [u32; 6] = [1, 2, 4, 8, 16, 32];
/// `sizeof (svp_req_t)`.
pub const SVP_REQ_SIZE: usize = 16;
/// `sizeof (svp_vl2_ack_t)`, `sizeof (svp_vl3_ack_t)`, `sizeof (svp_lrm_ack_t)`,
/// `sizeof (svp_log_ack_t)`.
pub const SVP_VL2_ACK_SIZE: u32 = 20;
pub const SVP_VL3_ACK_SIZE: u32 = 28;
pub const SVP_LRM_ACK_SIZE: u32 = 4;
pub const SVP_LOG_ACK_SIZE: u32 = 4;
/// Replies handled per wake-up before giving others a turn.
const SVP_CONN_READ_BURST: usize = 64;
/// Backoff history kept per connection (for snapshots).
const SVP_CONN_BACKOFF_HIST: usize = 64;

/// `svp_conn_state_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SvpConnState {
    Error,
    Initial,
    Connecting,
    Backoff,
    Active,
    Winddown,
}

impl SvpConnState {
    /// The illumos name.
    pub fn name(self) -> &'static str {
        match self {
            SvpConnState::Error => "SVP_CS_ERROR",
            SvpConnState::Initial => "SVP_CS_INITIAL",
            SvpConnState::Connecting => "SVP_CS_CONNECTING",
            SvpConnState::Backoff => "SVP_CS_BACKOFF",
            SvpConnState::Active => "SVP_CS_ACTIVE",
            SvpConnState::Winddown => "SVP_CS_WINDDOWN",
        }
    }
}

/// Why a connection was reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SvpResetReason {
    /// The server closed the connection.
    Eof,
    /// A read or write error (ECONNRESET, EIO, …).
    Io,
    /// `unsupported version`.
    Version,
    /// `unsupported operation` (or an ack of another op than the query's).
    Op,
    /// `unknown response id` / `got response for unexpecting query`.
    Id,
    /// `response size too large` / `response size too small`.
    Size,
    /// `crc32 mismatch`.
    Crc,
    /// `query timed out on connection`.
    Timeout,
}

/// `svp_conn_act_t`: what the remote does after a handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SvpConnAct {
    /// `SVP_RA_NONE`.
    None,
    /// `SVP_RA_DEGRADE`.
    Degrade,
    /// `SVP_RA_RESTORE`.
    Restore,
    /// `SVP_RA_ERROR`: reset the connection.
    Error(SvpResetReason),
    /// `SVP_RA_CLEANUP`: reap it.
    Cleanup,
}

/// The write in progress (`svp_conn_out_t`).
#[derive(Clone, Copy, Debug)]
struct SvpConnOut {
    id: u32,
    off: usize,
}

/// The read in progress (`svp_conn_in_t`).
#[derive(Debug, Default)]
struct SvpConnIn {
    hdr: [u8; SVP_REQ_SIZE],
    /// Bytes of the header, then of the payload, read so far.
    off: usize,
    /// The query the payload answers, once the header was validated.
    query: Option<u32>,
    buf: Vec<u8>,
}

/// `svp_conn_t`.
#[derive(Debug)]
pub struct SvpConn {
    /// A handle for the event loop (never reused within a remote).
    pub id: u64,
    /// `sc_addr`.
    pub addr: Ipv6Addr,
    /// `sr_rport`.
    pub port: u16,
    /// `sc_gen`: the DNS generation that last named this address.
    pub gen: u64,
    /// `sc_cstate`.
    pub state: SvpConnState,
    /// `SVP_CF_ADDED`: counted in the remote's `sr_tconns`.
    pub added: bool,
    /// `SVP_CF_DEGRADED`.
    pub degraded: bool,
    /// `SVP_CF_TEARDOWN`: reset at the next turn of the loop.
    pub teardown: bool,
    /// `SVP_CF_REAP`: destroy at the next turn of the loop.
    pub reap: bool,
    /// `sc_nbackoff`: consecutive failed connects.
    pub nbackoff: u32,
    /// The backoff waits (ticks) chosen since the last reset or success.
    pub backoffs: Vec<u32>,
    /// `sc_btimer`: backoff (and initial connect) timer, one-shot.
    pub btimer: SvpTimer,
    /// `sc_qtimer`: the periodic query-timeout check.
    pub qtimer: SvpTimer,
    /// `sc_queries`: queued, being written, or awaiting replies.
    pub queries: SvpQueryList,
    /// Connect attempts and resets of this connection.
    pub connects: u64,
    pub resets: u64,
    /// `sc_errno`/`sc_error`: the last failure, for logs.
    pub last_error: Option<String>,
    sock: Option<OwnedFd>,
    out: Option<SvpConnOut>,
    input: SvpConnIn,
}

impl SvpConn {
    /// `svp_conn_create`: INITIAL, connecting one tick from now.
    pub fn new(ctx: &SvpCtx, id: u64, addr: Ipv6Addr, port: u16, gen: u64) -> SvpConn {
        let mut btimer = SvpTimer::default();
        btimer.add(ctx.cfg.tick, 1);
        let mut qtimer = SvpTimer::default();
        qtimer.add(ctx.cfg.tick, ctx.cfg.query_timeout);
        SvpConn {
            id,
            addr,
            port,
            gen,
            state: SvpConnState::Initial,
            added: false,
            degraded: false,
            teardown: false,
            reap: false,
            nbackoff: 0,
            backoffs: Vec::new(),
            btimer,
            qtimer,
            queries: SvpQueryList::default(),
            connects: 0,
            resets: 0,
            last_error: None,
            sock: None,
            out: None,
            input: SvpConnIn::default(),
        }
    }

    /// The socket, if any (for `poll`).
    pub fn fd(&self) -> Option<RawFd> {
        self.sock.as_ref().map(|s| s.as_raw_fd())
    }

    /// The `poll` events this connection waits for (`sc_event.se_events`).
    pub fn interest(&self) -> libc::c_short {
        match self.state {
            SvpConnState::Connecting => libc::POLLOUT,
            SvpConnState::Active | SvpConnState::Winddown => {
                let out = self.out.is_some() || self.queries.has_unstarted();
                libc::POLLIN | if out { libc::POLLOUT } else { 0 }
            }
            _ => 0,
        }
    }

    /// `svp_conn_backoff`: close, wait the next step of the table.
    fn backoff(&mut self, ctx: &SvpCtx) -> SvpConnAct {
        self.sock = None;
        self.state = SvpConnState::Backoff;
        self.nbackoff += 1;
        let n = SVP_CONN_BACKOFF_TBL.len();
        let idx = (self.nbackoff as usize).min(n) - 1;
        let wait = SVP_CONN_BACKOFF_TBL[idx];
        if self.backoffs.len() < SVP_CONN_BACKOFF_HIST {
            self.backoffs.push(wait);
        }
        self.btimer.add(ctx.cfg.tick, wait);
        ctx.stats.bump(&ctx.stats.connect_failures);
        tracing::debug!(
            addr = %self.addr,
            port = self.port,
            nbackoff = self.nbackoff,
            wait,
            "svp: connect failed: {}",
            self.last_error.as_deref().unwrap_or("?")
        );
        if self.nbackoff as usize > n {
            SvpConnAct::Degrade
        } else {
            SvpConnAct::None
        }
    }

    /// `svp_conn_connect` (from INITIAL or BACKOFF).
    pub fn connect(&mut self, ctx: &SvpCtx) -> SvpConnAct {
        if self.state == SvpConnState::Initial {
            self.nbackoff = 0;
            self.backoffs.clear();
        }
        self.connects += 1;
        ctx.stats.bump(&ctx.stats.connects);
        let fd = match socket::socket(
            AddressFamily::Inet6,
            SockType::Stream,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            None,
        ) {
            Ok(fd) => fd,
            Err(e) => {
                // SVP_CE_SOCKET: illumos stays in ERROR until the address
                // leaves DNS; here it is retried after the longest backoff.
                self.last_error = Some(format!("socket: {e}"));
                self.state = SvpConnState::Error;
                self.btimer.add(
                    ctx.cfg.tick,
                    SVP_CONN_BACKOFF_TBL[SVP_CONN_BACKOFF_TBL.len() - 1],
                );
                tracing::warn!(addr = %self.addr, "svp: cannot create a socket: {e}");
                return SvpConnAct::Degrade;
            }
        };
        let sa = SockaddrIn6::from(SocketAddrV6::new(self.addr, self.port, 0, 0));
        match socket::connect(fd.as_raw_fd(), &sa) {
            Ok(()) => {
                self.sock = Some(fd);
                self.activate()
            }
            Err(NixErrno::EINPROGRESS) | Err(NixErrno::EINTR) => {
                self.sock = Some(fd);
                self.state = SvpConnState::Connecting;
                SvpConnAct::None
            }
            Err(e) => {
                self.last_error = Some(format!("connect: {e}"));
                drop(fd);
                self.backoff(ctx)
            }
        }
    }

    fn activate(&mut self) -> SvpConnAct {
        self.state = SvpConnState::Active;
        self.out = None;
        self.input = SvpConnIn::default();
        self.last_error = None;
        tracing::info!(addr = %self.addr, port = self.port, "svp: connected");
        SvpConnAct::Restore
    }

    /// Take an already connected, non-blocking stream and become ACTIVE
    /// (for harnesses that drive a connection over a socket pair).
    #[doc(hidden)]
    pub fn adopt(&mut self, fd: OwnedFd) -> SvpConnAct {
        self.sock = Some(fd);
        self.activate()
    }

    /// `svp_conn_poll_connect`: the outcome of a non-blocking connect.
    pub fn poll_connect(&mut self, ctx: &SvpCtx, revents: libc::c_short) -> SvpConnAct {
        let err = match &self.sock {
            Some(s) => socket::getsockopt(s, socket::sockopt::SocketError).unwrap_or(libc::EIO),
            None => libc::EBADF,
        };
        if err != 0 || revents & libc::POLLOUT == 0 {
            let e = NixErrno::from_raw(if err != 0 { err } else { libc::EIO });
            self.last_error = Some(format!("connect: {e}"));
            return self.backoff(ctx);
        }
        self.activate()
    }

    /// `svp_conn_pollout`: write queued queries, each whole, in order.
    pub fn pollout(&mut self, ctx: &SvpCtx) -> SvpConnAct {
        let Some(fd) = self.fd() else {
            return SvpConnAct::Error(SvpResetReason::Io);
        };
        loop {
            let out = match self.out {
                Some(o) => o,
                None => {
                    let Some(id) = self.queries.start_next() else {
                        return SvpConnAct::None;
                    };
                    let o = SvpConnOut { id, off: 0 };
                    self.out = Some(o);
                    o
                }
            };
            let Some(q) = self.queries.get(out.id) else {
                // Its query went away (cannot happen while ACTIVE).
                self.out = None;
                continue;
            };
            let rest = q.frame.get(out.off..).unwrap_or(&[]);
            match socket::send(fd, rest, MsgFlags::MSG_NOSIGNAL) {
                Ok(n) => {
                    if n < rest.len() {
                        ctx.stats.bump(&ctx.stats.short_writes);
                    }
                    q.acttime = Some(Instant::now());
                    let off = out.off + n;
                    // The running offset, not the last write, decides.
                    if off >= q.frame.len() {
                        q.state = SvpQueryState::Reading;
                        self.out = None;
                    } else {
                        self.out = Some(SvpConnOut { id: out.id, off });
                    }
                }
                Err(NixErrno::EAGAIN) => return SvpConnAct::None,
                Err(NixErrno::EINTR) => continue,
                Err(e) => {
                    self.last_error = Some(format!("send: {e}"));
                    return SvpConnAct::Error(SvpResetReason::Io);
                }
            }
        }
    }

    /// `svp_conn_pollin_validate`: a reply header against the queries.
    fn validate(&mut self, h: &SvpHeader) -> Result<(), SvpResetReason> {
        let (addr, port) = (self.addr, self.port);
        let warn = |msg: &str| {
            tracing::warn!(
                remote_ip = %addr,
                remote_port = port,
                version = h.ver,
                operation = h.op,
                response_id = u32::from_ne_bytes(h.id),
                response_size = h.size,
                "svp: {msg}"
            );
        };
        if h.ver != SVP_CURRENT_VERSION {
            warn("unsupported version");
            return Err(SvpResetReason::Version);
        }
        if !matches!(
            h.op,
            SVP_R_VL2_ACK | SVP_R_VL3_ACK | SVP_R_LOG_ACK | SVP_R_LOG_RM_ACK
        ) {
            warn("unsupported operation");
            return Err(SvpResetReason::Op);
        }
        let Some(q) = self.queries.get_wire(h.id) else {
            warn("unknown response id");
            return Err(SvpResetReason::Id);
        };
        if q.state != SvpQueryState::Reading {
            warn("got response for unexpecting query");
            return Err(SvpResetReason::Id);
        }
        if h.op != q.op.wrapping_add(1) {
            warn("response operation does not match the request");
            return Err(SvpResetReason::Op);
        }
        let bad = match h.op {
            SVP_R_VL2_ACK => h.size != SVP_VL2_ACK_SIZE,
            SVP_R_VL3_ACK => h.size != SVP_VL3_ACK_SIZE,
            SVP_R_LOG_RM_ACK => h.size != SVP_LRM_ACK_SIZE,
            _ => {
                if h.size < SVP_LOG_ACK_SIZE {
                    warn("response size too small");
                    return Err(SvpResetReason::Size);
                }
                h.size > q.max_reply
            }
        };
        if bad {
            warn("response size too large");
            return Err(SvpResetReason::Size);
        }
        Ok(())
    }

    /// One `recv` into `buf`: `Ok(Some(n))` bytes (0 = none yet, would
    /// block), or the reset reason.
    fn recv(&mut self, fd: RawFd, buf: &mut [u8]) -> Result<usize, SvpResetReason> {
        loop {
            match socket::recv(fd, buf, MsgFlags::empty()) {
                Ok(0) if !buf.is_empty() => return Err(SvpResetReason::Eof),
                Ok(n) => return Ok(n),
                Err(NixErrno::EAGAIN) => return Ok(0),
                Err(NixErrno::EINTR) => continue,
                Err(e) => {
                    self.last_error = Some(format!("recv: {e}"));
                    return Err(SvpResetReason::Io);
                }
            }
        }
    }

    /// `svp_conn_pollin`: read replies; each complete one finishes its
    /// query (callbacks go to `done`).
    pub fn pollin(&mut self, ctx: &SvpCtx, done: &mut Completions) -> SvpConnAct {
        let Some(fd) = self.fd() else {
            return SvpConnAct::Error(SvpResetReason::Io);
        };
        for _ in 0..SVP_CONN_READ_BURST {
            if self.input.query.is_none() {
                let off = self.input.off;
                let mut hdr = self.input.hdr;
                let n = match self.recv(fd, &mut hdr[off..]) {
                    Ok(n) => n,
                    Err(r) => return SvpConnAct::Error(r),
                };
                self.input.hdr = hdr;
                if n == 0 {
                    return SvpConnAct::None;
                }
                self.input.off += n;
                if self.input.off < SVP_REQ_SIZE {
                    continue;
                }
                let h = match SvpHeader::parse(&self.input.hdr) {
                    Ok(h) => h,
                    Err(_) => return SvpConnAct::Error(SvpResetReason::Size),
                };
                if let Err(r) = self.validate(&h) {
                    return SvpConnAct::Error(r);
                }
                let Some(q) = self.queries.get_wire(h.id) else {
                    return SvpConnAct::Error(SvpResetReason::Id);
                };
                q.acttime = Some(Instant::now());
                self.input.query = Some(q.id);
                self.input.off = 0;
                // Bounded by validate: at most the query's buffer.
                self.input.buf = vec![0; h.size as usize];
            }
            let total = self.input.buf.len();
            if self.input.off < total {
                let mut buf = std::mem::take(&mut self.input.buf);
                let r = self.recv(fd, &mut buf[self.input.off..]);
                self.input.buf = buf;
                let n = match r {
                    Ok(n) => n,
                    Err(r) => return SvpConnAct::Error(r),
                };
                if n == 0 {
                    return SvpConnAct::None;
                }
                self.input.off += n;
                if let Some(q) = self.input.query.and_then(|id| self.queries.get(id)) {
                    q.acttime = Some(Instant::now());
                }
                if self.input.off < total {
                    continue;
                }
            }
            if let Err(r) = self.finish_reply(ctx, done) {
                return SvpConnAct::Error(r);
            }
        }
        SvpConnAct::None
    }

    /// A whole reply is in: check its CRC and complete its query.
    fn finish_reply(&mut self, ctx: &SvpCtx, done: &mut Completions) -> Result<(), SvpResetReason> {
        let input = std::mem::take(&mut self.input);
        let h = SvpHeader::parse(&input.hdr).map_err(|_| SvpResetReason::Size)?;
        let calc = svp_frame_crc(&input.hdr, &input.buf);
        if calc != h.crc {
            tracing::info!(
                remote_ip = %self.addr,
                remote_port = self.port,
                operation = h.op,
                msg_crc = h.crc,
                calc_crc = calc,
                "svp: crc32 mismatch"
            );
            return Err(SvpResetReason::Crc);
        }
        let Some(qid) = input.query else {
            return Err(SvpResetReason::Id);
        };
        let p = &input.buf;
        let status = if h.op == SVP_R_VL2_ACK {
            // svp_vl2_ack_t's status is 16 bits (decoded as such; illumos
            // ntohl'd it, spec/svp.md §2.8).
            u32::from(u16::from_be_bytes([p[0], p[1]]))
        } else {
            u32::from_be_bytes([p[0], p[1], p[2], p[3]])
        };
        let Some(q) = self.queries.remove(qid) else {
            return Err(SvpResetReason::Id);
        };
        ctx.stats.bump(&ctx.stats.replies);
        done.push(q.complete(
            ctx,
            SvpReplyData {
                status,
                header: Some(h),
                payload: input.buf,
            },
        ));
        Ok(())
    }

    /// `svp_conn_querytimer`: whether a started query has seen no I/O for
    /// longer than `timeout` (only ACTIVE connections are checked).
    pub fn query_timed_out(&self, now: Instant, timeout: Duration) -> Option<u16> {
        if self.state != SvpConnState::Active {
            return None;
        }
        self.queries
            .iter()
            .find(|q| q.acttime.is_some_and(|t| now.duration_since(t) > timeout))
            .map(|q| q.op)
    }

    /// The socket half of `svp_conn_reset`: close, back to INITIAL.
    pub fn reset_socket(&mut self) {
        self.sock = None;
        self.teardown = false;
        self.state = SvpConnState::Initial;
        self.out = None;
        self.input = SvpConnIn::default();
        self.resets += 1;
    }

    /// `svp_conn_queue`: take a query (the connection is ACTIVE).
    pub fn queue(&mut self, mut q: SvpQuery) {
        q.acttime = None;
        q.state = SvpQueryState::Init;
        self.queries.push_back(q);
    }

    /// Close the socket for good (destroy).
    pub fn close(&mut self) {
        self.sock = None;
        self.state = SvpConnState::Error;
    }
}

#[cfg(test)]
mod tests {
    use super::super::ctx::SvpConfig;
    use super::*;
    use std::io::Read;
    use std::net::{Ipv4Addr, TcpListener};

    fn wait_writable(fd: RawFd) {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut p, 1, 100) };
    }

    /// Frames far larger than the socket buffer are written in pieces;
    /// the running offset must carry each one to its end, in order, with
    /// nothing lost or repeated (spec/svp.md §2.8's pollout defect).
    #[test]
    fn pollout_tracks_the_running_offset() {
        let ctx = SvpCtx::new(SvpConfig::default()).unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let mut c = SvpConn::new(&ctx, 1, Ipv4Addr::LOCALHOST.to_ipv6_mapped(), port, 0);
        let mut act = c.connect(&ctx);
        while c.state == SvpConnState::Connecting {
            wait_writable(c.fd().unwrap());
            act = c.poll_connect(&ctx, libc::POLLOUT);
        }
        assert_eq!(act, SvpConnAct::Restore);
        let (mut peer, _) = l.accept().unwrap();
        let mut want = Vec::new();
        for k in 0..4u32 {
            let frame: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 + k) as u8).collect();
            want.extend_from_slice(&frame);
            c.queue(SvpQuery::new(k + 1, 3, frame, 20, Box::new(|_| {})));
        }
        let total = want.len();
        let reader = std::thread::spawn(move || {
            // Late, so the buffers fill first.
            std::thread::sleep(std::time::Duration::from_millis(200));
            let mut got = vec![0u8; total];
            peer.read_exact(&mut got).unwrap();
            got
        });
        while c.queries.iter().any(|q| q.state != SvpQueryState::Reading) {
            assert_eq!(c.pollout(&ctx), SvpConnAct::None);
            wait_writable(c.fd().unwrap());
        }
        assert_eq!(reader.join().unwrap(), want);
        assert!(
            ctx.stats
                .short_writes
                .load(std::sync::atomic::Ordering::Relaxed)
                > 0
        );
        let mut done = Completions::new();
        while let Some(q) = c.queries.pop_front() {
            done.push(q.complete(&ctx, SvpReplyData::fatal()));
        }
        done.run();
    }

    #[test]
    fn backoff_table() {
        let ctx = SvpCtx::new(SvpConfig::default()).unwrap();
        let mut c = SvpConn::new(&ctx, 1, Ipv6Addr::LOCALHOST, 1, 0);
        let mut acts = Vec::new();
        for _ in 0..8 {
            acts.push(c.backoff(&ctx));
        }
        assert_eq!(c.backoffs, vec![1, 2, 4, 8, 16, 32, 32, 32]);
        // Degraded from the 7th consecutive failure.
        assert_eq!(acts.iter().position(|a| *a == SvpConnAct::Degrade), Some(6));
    }
}

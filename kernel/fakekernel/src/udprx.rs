//! The receive side of an underlay socket.
//!
//! Theory of operation: the receive thread of a
//! [`crate::underlay::UdpSock`] waits in `poll(2)` (
//! [`crate::tap::wait_readable`] without a source-port pool; [`PollSet`]
//! with one) and reads with
//! [`RxBufs::recv`]: up to [`RX_BATCH`] datagrams per `recvmmsg(2)` into
//! buffers allocated once per thread. `UDP_GRO` is on, so the kernel may
//! hand over a train of equal-sized datagrams of one flow as one buffer
//! with their size in a control message; it is split here, so the driver
//! still sees one datagram at a time. Nothing is copied: the datagrams
//! stay in the buffer `recvmmsg` wrote, each handed up as a message over
//! its slice ([`RxBufs`]). The outer TOS (IPv4, `IP_TOS`) or
//! traffic class (IPv6, `IPV6_TCLASS`) of each datagram is read from its
//! control messages ([`rx_cmsgs`]) and handed up with it (a GRO train
//! shares one: the kernel only coalesces datagrams whose IP headers
//! match). Whatever reaches a pool (send-only) socket is read and counted
//! ([`drain`]).

use crate::stats::Stat;
use crate::tap::StopFd;
use crate::udptx::{last_errno, Shared, SOL_UDP};
use overlay::dblk_vec::Dblk;
use overlay::MsgBlk;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::sync::Arc;

/// `UDP_GRO` (receive-side coalescing; the cmsg carries an `int`).
pub(crate) const UDP_GRO: libc::c_int = 104;

/// Datagrams taken per `recvmmsg(2)`.
pub const RX_BATCH: usize = 8;

/// Largest datagram we accept (a 64 KiB UDP payload).
const RX_BUF: usize = 65536;

/// The descriptors a receive thread with a source-port pool polls: the
/// stop eventfd, the listen socket, the pool sockets; built once.
pub(crate) struct PollSet {
    pfd: Vec<libc::pollfd>,
}

impl PollSet {
    pub(crate) fn new(sh: &Shared, pool: &[Arc<Shared>], stop: &StopFd) -> PollSet {
        let pfd = std::iter::once(stop.raw_fd())
            .chain(std::iter::once(sh.fd.as_raw_fd()))
            .chain(pool.iter().map(|p| p.fd.as_raw_fd()))
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        PollSet { pfd }
    }

    /// Waits until the listen socket or pool sockets are readable; false
    /// when stopped. Then [`PollSet::ready`] says which (0: the listen
    /// socket, 1..: the pool sockets).
    pub(crate) fn wait(&mut self) -> bool {
        loop {
            // SAFETY: pfd is a valid array of pfd.len() pollfds.
            let r =
                unsafe { libc::poll(self.pfd.as_mut_ptr(), self.pfd.len() as libc::nfds_t, -1) };
            if r < 0 {
                if last_errno() == libc::EINTR {
                    continue;
                }
                return false;
            }
            if self.pfd[0].revents != 0 {
                return false;
            }
            if self.pfd[1..].iter().any(|p| p.revents != 0) {
                crate::lowlat::note_activity();
                return true;
            }
        }
    }

    /// The sockets found readable by the last [`PollSet::wait`].
    pub(crate) fn ready(&self) -> impl Iterator<Item = usize> + '_ {
        (1..self.pfd.len())
            .filter(|&i| self.pfd[i].revents != 0)
            .map(|i| i - 1)
    }
}

/// Reads and counts (`udp_rx_pool_drops`) whatever reached a pool socket:
/// peers send to the listen port, so this is stray traffic (or ICMP
/// errors), never silently queued.
pub(crate) fn drain(p: &Shared) {
    let mut buf = [0u8; 64];
    // Bounded, so a flood on a pool port cannot starve the listen socket;
    // the rest is read at the next wakeup.
    for _ in 0..RX_BATCH * 8 {
        // SAFETY: recv writes at most buf.len() bytes into buf.
        let r = unsafe {
            libc::recv(
                p.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
            )
        };
        if r >= 0 {
            p.stats.bump(Stat::UdpRxPoolDrops);
            continue;
        }
        let e = last_errno();
        if e == libc::EINTR {
            continue;
        }
        if e != libc::EAGAIN {
            // A queued ICMP error (e.g. port unreachable) is reported
            // once and cleared; anything else is counted too.
            p.stats.bump(Stat::UdpRxErrors);
            if e == libc::ECONNREFUSED
                || e == libc::EHOSTUNREACH
                || e == libc::ENETUNREACH
                || e == libc::EMSGSIZE
            {
                continue;
            }
        }
        return;
    }
}

/// Size of a receive thread's shared buffer: a 64 KiB datagram (or
/// `UDP_GRO` train) per message of one `recvmmsg`.
pub const RX_DB_CAP: usize = RX_BATCH * RX_BUF;

/// The receive thread's buffers for one `recvmmsg(2)`. The datagrams go
/// into a shared buffer ([`Dblk`]) and each is handed up as a message
/// over its own slice of it (no copy); the buffer is read into again once
/// no message references it, which is the case after the batch's end
/// (the MAC layer writes out and frees what it held back), else another
/// is taken from the pool (or allocated if the pool is dry).
pub(crate) struct RxBufs {
    db: Dblk,
    names: [libc::sockaddr_in6; RX_BATCH],
    /// Control buffers, 8-byte aligned for `cmsghdr`.
    ctrl: [[u64; 8]; RX_BATCH],
    iov: [libc::iovec; RX_BATCH],
    hdrs: [libc::mmsghdr; RX_BATCH],
}

impl RxBufs {
    /// The buffers, on the receive thread (its pool of shared buffers
    /// gets the spare one).
    pub(crate) fn new() -> Box<RxBufs> {
        crate::bufpool::prefill_db(RX_DB_CAP, 2);
        Box::new(RxBufs {
            db: crate::bufpool::take_db(RX_DB_CAP),
            // SAFETY: sockaddr_in6, iovec and mmsghdr are plain data for
            // which all-zero is valid (null pointers, zero lengths).
            names: unsafe { std::mem::zeroed() },
            ctrl: [[0; 8]; RX_BATCH],
            // SAFETY: as above.
            iov: unsafe { std::mem::zeroed() },
            // SAFETY: as above.
            hdrs: unsafe { std::mem::zeroed() },
        })
    }

    /// One `recvmmsg`; delivers what it got. Returns how many messages
    /// it took (at most [`RX_BATCH`]); 0 when nothing was ready (or on an
    /// error, which is counted).
    pub(crate) fn recv<F: Fn(MsgBlk, SocketAddrV6, u8)>(
        &mut self,
        sh: &Shared,
        deliver: &F,
    ) -> usize {
        if !self.db.reset() {
            // Messages still hold parts of it: they keep it (it goes
            // back to the pool with the last of them).
            self.db = crate::bufpool::take_db(RX_DB_CAP);
        }
        // The whole buffer: reset or fresh, nothing is carved.
        let base = self.db.tail_mut().as_mut_ptr();
        for i in 0..RX_BATCH {
            self.iov[i] = libc::iovec {
                // SAFETY: i * RX_BUF + RX_BUF <= RX_DB_CAP, the tail's
                // length, so the offset stays inside the buffer.
                iov_base: unsafe { base.add(i * RX_BUF) }.cast(),
                iov_len: RX_BUF,
            };
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = (&mut self.names[i] as *mut libc::sockaddr_in6).cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            h.msg_iov = &mut self.iov[i];
            h.msg_iovlen = 1;
            h.msg_control = self.ctrl[i].as_mut_ptr().cast();
            h.msg_controllen = std::mem::size_of::<[u64; 8]>();
            h.msg_flags = 0;
            self.hdrs[i].msg_len = 0;
        }
        // SAFETY: every header points at a sockaddr, one iovec into the
        // shared buffer's tail (ours alone: nothing is carved), and a
        // control buffer, all owned by self and valid for the sizes
        // given; the kernel writes at most those.
        let r = unsafe {
            libc::recvmmsg(
                sh.fd.as_raw_fd(),
                self.hdrs.as_mut_ptr(),
                RX_BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if r <= 0 {
            let e = last_errno();
            if r < 0 && e != libc::EAGAIN && e != libc::EINTR {
                sh.stats.bump(Stat::UdpRxErrors);
            }
            return 0;
        }
        for i in 0..r as usize {
            let h = &self.hdrs[i].msg_hdr;
            let n = (self.hdrs[i].msg_len as usize).min(RX_BUF);
            if h.msg_flags & libc::MSG_TRUNC != 0 {
                sh.stats.bump(Stat::UdpRxDatagrams);
                sh.stats.bump(Stat::UdpRxTruncated);
                continue;
            }
            let (gro, tos) = rx_cmsgs(h);
            let seg = gro.filter(|&g| g > 0 && g < n).unwrap_or(n);
            let sa = &self.names[i];
            let src = SocketAddrV6::new(
                Ipv6Addr::from(sa.sin6_addr.s6_addr),
                u16::from_be(sa.sin6_port),
                0,
                sa.sin6_scope_id,
            );
            // Each datagram a message over its slice, carved in order
            // (offsets from where the tail starts now).
            let at = i * RX_BUF;
            let mut off = 0;
            loop {
                let len = seg.min(n - off);
                sh.stats.bump(Stat::UdpRxDatagrams);
                // In range: at + n <= RX_DB_CAP and carving only went up
                // to the previous datagram's end.
                if let Some(m) = self.db.share(at + off - self.db.carved(), len) {
                    deliver(m, src, tos);
                }
                off += len;
                // An empty datagram (seg 0) is handed up once: the driver
                // counts it as malformed.
                if off >= n || len == 0 {
                    break;
                }
            }
        }
        r as usize
    }

    /// Receives batches until the socket is drained, calling `end_batch`
    /// after each. A batch short of [`RX_BATCH`] took everything queued,
    /// so the thread goes back to `poll(2)` at once rather than asking
    /// again only to hear `EAGAIN`.
    pub(crate) fn drain_batches<F: Fn(MsgBlk, SocketAddrV6, u8), G: Fn()>(
        &mut self,
        sh: &Shared,
        deliver: &F,
        end_batch: &G,
    ) {
        loop {
            let n = self.recv(sh, deliver);
            if n == 0 {
                return;
            }
            end_batch();
            if n < RX_BATCH {
                return;
            }
        }
    }
}

/// From a receive's control messages: the segment size of a coalesced
/// receive (`UDP_GRO`) and the outer TOS (`IP_TOS`, one byte, for IPv4) or
/// traffic class (`IPV6_TCLASS`, an `int`, for IPv6); 0 when absent.
fn rx_cmsgs(h: &libc::msghdr) -> (Option<usize>, u8) {
    let mut gro = None;
    let mut tos = 0u8;
    // SAFETY: h describes a control buffer the kernel filled with
    // msg_controllen bytes; CMSG_FIRSTHDR/NXTHDR stay within it, and each
    // read is checked against the message's cmsg_len.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            let dlen = ((*c).cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
            let d = libc::CMSG_DATA(c);
            match ((*c).cmsg_level, (*c).cmsg_type) {
                (SOL_UDP, UDP_GRO) if dlen >= 4 => {
                    gro = usize::try_from(d.cast::<libc::c_int>().read_unaligned()).ok();
                }
                (libc::IPPROTO_IP, libc::IP_TOS) if dlen >= 1 => tos = d.read(),
                (libc::IPPROTO_IPV6, libc::IPV6_TCLASS) if dlen >= 4 => {
                    tos = d.cast::<libc::c_int>().read_unaligned() as u8;
                }
                _ => {}
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    (gro, tos)
}

//! The send side of an underlay socket.
//!
//! Theory of operation: [`Shared`] is what every sender on one UDP socket
//! shares: the descriptor, the counters and whether UDP GSO failed on it
//! once. [`Shared::send_one`] sends a datagram at once (`sendmsg`,
//! `MSG_DONTWAIT`: a full buffer is a counted drop, never a wait);
//! [`crate::txbatch`] sends many with `sendmmsg` and UDP GSO, through the
//! same counters ([`Shared::count_error`]). The outer TOS/TTL of a
//! datagram ([`TxHdr`]) and a GSO segment size travel as control messages
//! built in place ([`TxCmsg`]). The owner of the sockets
//! ([`crate::underlay::UdpSock`]) passes its `Shared` down to both; nothing
//! here reaches back up to it.

use crate::stats::{Stat, Stats};
use overlay::msgblk_vec::MAX_BLKS;
use overlay::{MsgBlk, TxHdr};
use overlay_sys::errno::from_linux;
use std::net::SocketAddrV6;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// `SOL_UDP`.
pub(crate) const SOL_UDP: libc::c_int = 17;
/// `UDP_SEGMENT` (send-side GSO: a `u16` segment size).
pub(crate) const UDP_SEGMENT: libc::c_int = 103;

/// Ancillary data for one outgoing message: the outer TOS/TTL in the
/// destination's family and, for a GSO run, the segment size. Built in
/// place (no allocation); [`TxCmsg::apply`] points a `msghdr` at it, so it
/// must not move until the send returns.
pub(crate) struct TxCmsg {
    /// 8-byte aligned room for three `int`-sized control messages.
    buf: [u64; 10],
    len: usize,
}

impl TxCmsg {
    /// The control messages for `hdr` to `dst` and an optional segment size.
    pub(crate) fn new(dst: &libc::sockaddr_in6, hdr: TxHdr, seg: Option<u16>) -> TxCmsg {
        let mut c = TxCmsg {
            buf: [0; 10],
            len: 0,
        };
        let a = &dst.sin6_addr.s6_addr;
        let v4 = a[..10].iter().all(|&b| b == 0) && a[10] == 0xff && a[11] == 0xff;
        let (lvl, tos, ttl) = if v4 {
            (libc::IPPROTO_IP, libc::IP_TOS, libc::IP_TTL)
        } else {
            (libc::IPPROTO_IPV6, libc::IPV6_TCLASS, libc::IPV6_HOPLIMIT)
        };
        if hdr.tos != 0 {
            c.push(lvl, tos, &libc::c_int::from(hdr.tos).to_ne_bytes());
        }
        if hdr.ttl != 0 {
            c.push(lvl, ttl, &libc::c_int::from(hdr.ttl).to_ne_bytes());
        }
        if let Some(seg) = seg {
            c.push(SOL_UDP, UDP_SEGMENT, &seg.to_ne_bytes());
        }
        c
    }

    fn push(&mut self, level: libc::c_int, ty: libc::c_int, data: &[u8]) {
        // SAFETY: CMSG_SPACE/CMSG_LEN are pure size computations.
        let (space, clen) = unsafe {
            (
                libc::CMSG_SPACE(data.len() as u32) as usize,
                libc::CMSG_LEN(data.len() as u32) as usize,
            )
        };
        let hlen = clen - data.len();
        if self.len + space > std::mem::size_of_val(&self.buf) {
            return;
        }
        let h = libc::cmsghdr {
            cmsg_len: clen as _,
            cmsg_level: level,
            cmsg_type: ty,
        };
        // SAFETY: `len + space` fits the buffer (checked above); `len` is
        // a multiple of 8 (every CMSG_SPACE is), so the header is aligned;
        // the data follows the header at CMSG_LEN(0) = `hlen`.
        unsafe {
            let p = self.buf.as_mut_ptr().cast::<u8>().add(self.len);
            p.cast::<libc::cmsghdr>().write(h);
            std::ptr::copy_nonoverlapping(data.as_ptr(), p.add(hlen), data.len());
        }
        self.len += space;
    }

    /// Points `h` at the control messages (none: no control buffer).
    pub(crate) fn apply(&mut self, h: &mut libc::msghdr) {
        if self.len == 0 {
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
        } else {
            h.msg_control = self.buf.as_mut_ptr().cast();
            h.msg_controllen = self.len as _;
        }
    }
}

/// `setsockopt(fd, level, name, &val)` for an `int` option; the Linux
/// errno on failure.
pub(crate) fn set_int(
    fd: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    val: libc::c_int,
) -> Result<(), i32> {
    // SAFETY: setsockopt reads a c_int of the given size from `val`.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&val as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(last_errno())
    } else {
        Ok(())
    }
}

/// The calling thread's last OS error (Linux errno), `EIO` if none.
pub(crate) fn last_errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

pub(crate) fn to_sockaddr(a: &SocketAddrV6) -> libc::sockaddr_in6 {
    // SAFETY: sockaddr_in6 is plain data; all-zero is valid.
    let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sa.sin6_port = a.port().to_be();
    sa.sin6_addr.s6_addr = a.ip().octets();
    sa.sin6_scope_id = a.scope_id();
    sa
}

/// What a socket's senders share: the descriptor, the counters, and
/// whether UDP GSO failed on it once (then it is not tried again).
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) fd: OwnedFd,
    pub(crate) stats: Arc<Stats>,
    pub(crate) gso_off: AtomicBool,
}

impl Shared {
    /// Sends one datagram (`sendmsg`, `MSG_DONTWAIT`); counts the result.
    pub(crate) fn send_one(
        &self,
        sa: &libc::sockaddr_in6,
        bufs: &[&[u8]],
        hdr: TxHdr,
    ) -> Result<(), i32> {
        let mut iov = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; MAX_BLKS];
        let mut n = 0;
        for (d, b) in iov.iter_mut().zip(bufs) {
            d.iov_base = b.as_ptr() as *mut libc::c_void;
            d.iov_len = b.len();
            n += 1;
        }
        // SAFETY: msghdr is plain data; zero is valid.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = (sa as *const libc::sockaddr_in6) as *mut libc::c_void;
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        msg.msg_iov = iov.as_mut_ptr();
        msg.msg_iovlen = n;
        let mut cm = TxCmsg::new(sa, hdr, None);
        cm.apply(&mut msg);
        // SAFETY: msg points at a valid sockaddr, iovec array and control
        // buffer that outlive the call; sendmsg only reads them.
        let r = unsafe { libc::sendmsg(self.fd.as_raw_fd(), &msg, libc::MSG_DONTWAIT) };
        if r < 0 {
            let e = last_errno();
            self.count_error(e, 1);
            return Err(from_linux(e));
        }
        self.stats.bump(Stat::UdpTxDatagrams);
        Ok(())
    }

    /// Sends the datagram `msg`, one iovec per block (`sendmsg`); see
    /// [`Shared::send_one`].
    pub(crate) fn send_msg(
        &self,
        sa: &libc::sockaddr_in6,
        msg: &MsgBlk,
        hdr: TxHdr,
    ) -> Result<(), i32> {
        let mut parts: [&[u8]; MAX_BLKS] = [&[]; MAX_BLKS];
        for (p, b) in parts.iter_mut().zip(msg.blocks()) {
            *p = b;
        }
        self.send_one(sa, &parts[..msg.nblocks()], hdr)
    }

    /// Counts `n` datagrams lost to send error `e` (a Linux errno).
    pub(crate) fn count_error(&self, e: i32, n: u64) {
        self.stats.add(
            if e == libc::EAGAIN || e == libc::ENOBUFS {
                Stat::UdpTxFull
            } else if e == libc::EMSGSIZE {
                Stat::UdpTxTooBig
            } else {
                Stat::UdpTxErrors
            },
            n,
        );
    }
}

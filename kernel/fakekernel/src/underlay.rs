//! The underlay: real UDP sockets standing in for the driver's ksockets.
//!
//! Theory of operation: the driver opens one socket per mux (listen address,
//! port, encapsulation) when the first device on it starts. Here that is an
//! `AF_INET6` datagram socket with `IPV6_V6ONLY` off, so IPv4 underlays work
//! as v4-mapped addresses exactly as in illumos. A receive thread per socket
//! waits in `poll(2)` with a stop eventfd, takes up to [`RX_BATCH`]
//! datagrams per `recvmmsg(2)`, and hands every datagram to the callback
//! (the mux's receive path, i.e. decap), then calls the end-of-batch
//! callback (which writes out what the MAC layer coalesced). `UDP_GRO` is
//! on: the kernel may hand over a train of equal-sized datagrams of one
//! flow as one buffer with their size in a control message; it is split
//! here, so the driver still sees one datagram at a time.
//!
//! Sends use `MSG_DONTWAIT` so the transmit path never blocks; a full socket
//! buffer is a counted drop. A thread that moves many frames (a TAP reader)
//! batches its sends ([`crate::txbatch`]). Errors from Linux are translated to illumos errnos before they
//! reach the driver (bind `EADDRINUSE` 98 becomes 125, and so on).

use crate::stats::{Stat, Stats};
use crate::tap::{wait_readable, StopFd};
use overlay::MsgBlk;
use overlay_sys::errno::from_linux;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;

/// `SOL_UDP`.
pub(crate) const SOL_UDP: libc::c_int = 17;
/// `UDP_SEGMENT` (send-side GSO: a `u16` segment size).
pub(crate) const UDP_SEGMENT: libc::c_int = 103;
/// `UDP_GRO` (receive-side coalescing; the cmsg carries an `int`).
const UDP_GRO: libc::c_int = 104;

/// Datagrams taken per `recvmmsg(2)`.
pub const RX_BATCH: usize = 8;

fn last_errno() -> i32 {
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

/// Socket buffer size asked for, each way.
const SOCK_BUF: libc::c_int = 4 << 20;

/// Largest datagram we accept (a 64 KiB UDP payload).
const RX_BUF: usize = 65536;

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
    pub(crate) fn send_one(&self, sa: &libc::sockaddr_in6, bufs: &[&[u8]]) -> Result<(), i32> {
        let mut iov = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; 4];
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
        // SAFETY: msg points at a valid sockaddr and iovec array that
        // outlive the call; sendmsg only reads them.
        let r = unsafe { libc::sendmsg(self.fd.as_raw_fd(), &msg, libc::MSG_DONTWAIT) };
        if r < 0 {
            let e = last_errno();
            self.count_error(e, 1);
            return Err(from_linux(e));
        }
        self.stats.bump(Stat::UdpTxDatagrams);
        Ok(())
    }

    /// Counts `n` datagrams lost to send error `e` (a Linux errno).
    pub(crate) fn count_error(&self, e: i32, n: u64) {
        self.stats.add(
            if e == libc::EAGAIN || e == libc::ENOBUFS {
                Stat::UdpTxFull
            } else {
                Stat::UdpTxErrors
            },
            n,
        );
    }
}

/// A bound underlay socket with its receive thread.
pub struct UdpSock {
    sh: Arc<Shared>,
    stop: Arc<StopFd>,
    rx: Option<JoinHandle<()>>,
    local: SocketAddrV6,
}

impl std::fmt::Debug for UdpSock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpSock")
            .field("local", &self.local)
            .finish()
    }
}

impl UdpSock {
    /// Creates the socket and binds it to `local`. Errors are illumos
    /// errnos (`EADDRNOTAVAIL` when the address is not local, `EADDRINUSE`
    /// when the port is taken).
    pub fn bind(local: SocketAddrV6, stats: Arc<Stats>) -> Result<UdpSock, i32> {
        // SAFETY: plain socket(2) call.
        let fd = unsafe {
            libc::socket(
                libc::AF_INET6,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                0,
            )
        };
        if fd < 0 {
            return Err(from_linux(last_errno()));
        }
        // SAFETY: fd is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let off: libc::c_int = 0;
        // SAFETY: setsockopt reads a c_int of the given size from `off`.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::IPPROTO_IPV6,
                libc::IPV6_V6ONLY,
                (&off as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(from_linux(last_errno()));
        }
        // Room for bursts: 4 MiB each way (SO_*BUFFORCE as root, else the
        // sysctl-capped SO_*BUF). Failure only means the default size.
        for (force, plain) in [
            (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
            (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
        ] {
            let size: libc::c_int = SOCK_BUF;
            for opt in [force, plain] {
                // SAFETY: setsockopt reads a c_int of the given size.
                let r = unsafe {
                    libc::setsockopt(
                        fd.as_raw_fd(),
                        libc::SOL_SOCKET,
                        opt,
                        (&size as *const libc::c_int).cast(),
                        std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                    )
                };
                if r == 0 {
                    break;
                }
            }
        }
        let sa = to_sockaddr(&local);
        // SAFETY: bind reads a sockaddr_in6 of the given size.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_in6).cast(),
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(from_linux(last_errno()));
        }
        // Receive coalescing is an optimisation; without it (an old
        // kernel) every datagram simply arrives on its own.
        let on: libc::c_int = 1;
        // SAFETY: setsockopt reads a c_int of the given size from `on`.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                SOL_UDP,
                UDP_GRO,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        let stop = StopFd::new().map_err(|e| from_linux(e.raw_os_error().unwrap_or(libc::EIO)))?;
        Ok(UdpSock {
            sh: Arc::new(Shared {
                fd,
                stats,
                gso_off: AtomicBool::new(false),
            }),
            stop: Arc::new(stop),
            rx: None,
            local,
        })
    }

    /// The bound address.
    pub fn local(&self) -> SocketAddrV6 {
        self.local
    }

    /// The port the socket is bound to (the kernel's choice when bound to
    /// port 0).
    pub fn bound_port(&self) -> Option<u16> {
        // SAFETY: sockaddr_in6 is plain data; zero is valid.
        let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        // SAFETY: getsockname writes at most `len` bytes into `sa`.
        let r = unsafe {
            libc::getsockname(
                self.sh.fd.as_raw_fd(),
                (&mut sa as *mut libc::sockaddr_in6).cast(),
                &mut len,
            )
        };
        (r == 0).then(|| u16::from_be(sa.sin6_port))
    }

    /// Starts the receive thread: `deliver(datagram, source)` for each
    /// datagram, `end_batch()` after each batch of them.
    pub fn start_rx<F, G>(&mut self, deliver: F, end_batch: G) -> std::io::Result<()>
    where
        F: Fn(&[u8], SocketAddrV6) + Send + 'static,
        G: Fn() + Send + 'static,
    {
        let sh = Arc::clone(&self.sh);
        let stop = Arc::clone(&self.stop);
        let h = std::thread::Builder::new()
            .name(format!("udp-rx {}", self.local))
            .spawn(move || {
                let mut rx = RxBufs::new();
                while wait_readable(sh.fd.as_raw_fd(), &stop) {
                    while rx.recv(&sh, &deliver) {
                        end_batch();
                    }
                }
            })?;
        self.rx = Some(h);
        Ok(())
    }

    /// Sends one datagram without blocking, or queues it when this thread
    /// batches its sends ([`crate::txbatch`]; errors are then counted at
    /// the flush). Errors are illumos errnos; each failure is counted.
    pub fn send_msg(&self, dst: &SocketAddrV6, msg: MsgBlk) -> Result<(), i32> {
        let sa = to_sockaddr(dst);
        match crate::txbatch::queue(&self.sh, &sa, msg) {
            None => Ok(()),
            Some(msg) => self.sh.send_one(&sa, &[msg.data()]),
        }
    }

    /// Sends one datagram made of `bufs` without blocking. Errors are
    /// illumos errnos; each failure is counted.
    pub fn send(&self, dst: &SocketAddrV6, bufs: &[&[u8]]) -> Result<(), i32> {
        self.sh.send_one(&to_sockaddr(dst), bufs)
    }
}

/// The receive thread's buffers for one `recvmmsg(2)`.
struct RxBufs {
    data: Vec<u8>,
    names: [libc::sockaddr_in6; RX_BATCH],
    /// Control buffers, 8-byte aligned for `cmsghdr`.
    ctrl: [[u64; 8]; RX_BATCH],
    iov: [libc::iovec; RX_BATCH],
    hdrs: [libc::mmsghdr; RX_BATCH],
}

impl RxBufs {
    fn new() -> Box<RxBufs> {
        Box::new(RxBufs {
            data: vec![0u8; RX_BATCH * RX_BUF],
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

    /// One `recvmmsg`; delivers what it got. False when nothing was ready
    /// (or on an error, which is counted).
    fn recv<F: Fn(&[u8], SocketAddrV6)>(&mut self, sh: &Shared, deliver: &F) -> bool {
        let base = self.data.as_mut_ptr();
        for i in 0..RX_BATCH {
            self.iov[i] = libc::iovec {
                // SAFETY: i * RX_BUF + RX_BUF <= data.len(), so the
                // offset stays inside the allocation.
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
        // SAFETY: every header points at a sockaddr, one iovec into
        // `data`, and a control buffer, all owned by self and valid for
        // the sizes given; the kernel writes at most those.
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
            return false;
        }
        for i in 0..r as usize {
            let h = &self.hdrs[i].msg_hdr;
            let n = (self.hdrs[i].msg_len as usize).min(RX_BUF);
            if h.msg_flags & libc::MSG_TRUNC != 0 {
                sh.stats.bump(Stat::UdpRxDatagrams);
                sh.stats.bump(Stat::UdpRxTruncated);
                continue;
            }
            let seg = gro_size(h).filter(|&g| g > 0 && g < n).unwrap_or(n);
            let sa = &self.names[i];
            let src = SocketAddrV6::new(
                Ipv6Addr::from(sa.sin6_addr.s6_addr),
                u16::from_be(sa.sin6_port),
                0,
                sa.sin6_scope_id,
            );
            let d = &self.data[i * RX_BUF..i * RX_BUF + n];
            if seg == 0 {
                // An empty datagram: the driver counts it as malformed.
                sh.stats.bump(Stat::UdpRxDatagrams);
                deliver(d, src);
                continue;
            }
            for dg in d.chunks(seg) {
                sh.stats.bump(Stat::UdpRxDatagrams);
                deliver(dg, src);
            }
        }
        true
    }
}

/// The segment size of a coalesced receive (`UDP_GRO` control message).
fn gro_size(h: &libc::msghdr) -> Option<usize> {
    // SAFETY: h describes a control buffer the kernel filled with
    // msg_controllen bytes; CMSG_FIRSTHDR/NXTHDR stay within it.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            if (*c).cmsg_level == SOL_UDP && (*c).cmsg_type == UDP_GRO {
                let p = libc::CMSG_DATA(c).cast::<libc::c_int>();
                return usize::try_from(p.read_unaligned()).ok();
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    None
}

impl Drop for UdpSock {
    fn drop(&mut self) {
        self.stop.signal();
        if let Some(h) = self.rx.take() {
            // Do not join from the receive thread itself (a callback that
            // ends up closing its own socket).
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
    }
}

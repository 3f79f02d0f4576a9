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
//! The outer TOS (IPv4, `IP_RECVTOS`) or traffic class (IPv6,
//! `IPV6_RECVTCLASS`) of each datagram is read from its control messages
//! and handed up with it, so the driver can apply RFC 6040 (a GRO train
//! shares one: the kernel only coalesces datagrams whose IP headers match).
//! On send, a datagram whose [`TxHdr`] is not all-zero carries `IP_TOS` /
//! `IP_TTL` (v4-mapped destinations) or `IPV6_TCLASS` / `IPV6_HOPLIMIT`
//! control messages ([`TxCmsg`]).
//!
//! Sends use `MSG_DONTWAIT` so the transmit path never blocks; a full socket
//! buffer is a counted drop. A thread that moves many frames (a TAP reader)
//! batches its sends ([`crate::txbatch`]). Errors from Linux are translated to illumos errnos before they
//! reach the driver (bind `EADDRINUSE` 98 becomes 125, and so on).

use crate::stats::{Stat, Stats};
use crate::tap::{wait_readable, StopFd};
use overlay::{MsgBlk, TxHdr};
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
/// `UDP_NO_CHECK6_RX`: accept UDPv6 datagrams whose checksum is 0
/// (RFC 6935/6936; RFC 7348 D1).
const UDP_NO_CHECK6_RX: libc::c_int = 102;

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

/// RFC 7348 (E11): VTEPs MUST NOT fragment. With `PMTUDISC_DO` (both
/// families: the socket sends IPv4 as v4-mapped) the host sets DF and
/// never fragments; a datagram larger than the path MTU fails with
/// `EMSGSIZE` and is counted (`udp_tx_too_big_drops`).
fn set_no_frag(fd: &OwnedFd) -> Result<(), i32> {
    set_int(
        fd,
        libc::IPPROTO_IP,
        libc::IP_MTU_DISCOVER,
        libc::IP_PMTUDISC_DO,
    )
    .and_then(|()| {
        set_int(
            fd,
            libc::IPPROTO_IPV6,
            libc::IPV6_MTU_DISCOVER,
            libc::IPV6_PMTUDISC_DO,
        )
    })
    .map_err(from_linux)
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
    pub(crate) fn send_one(
        &self,
        sa: &libc::sockaddr_in6,
        bufs: &[&[u8]],
        hdr: TxHdr,
    ) -> Result<(), i32> {
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

/// A bound underlay socket with its receive thread.
pub struct UdpSock {
    sh: Arc<Shared>,
    /// Send sockets for hashed source ports (empty until
    /// `UDP_SRCPORT_HASH` is set, or when none could be bound).
    pool: Vec<Arc<Shared>>,
    /// `UDP_SRCPORT_HASH` is on: sends go out from `pool`.
    hash: AtomicBool,
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
        let fd = open_bound(&local, SOCK_BUF).map_err(from_linux)?;
        // Receive coalescing is an optimisation; without it (an old
        // kernel) every datagram simply arrives on its own.
        let _ = set_int(&fd, SOL_UDP, UDP_GRO, 1);
        // Zero-checksum UDPv6 from a peer (Linux `udp6zerocsumtx`) is
        // accepted, as RFC 7348 D1 asks; without this the host drops it.
        // An old kernel without the option keeps dropping them.
        let _ = set_int(&fd, SOL_UDP, UDP_NO_CHECK6_RX, 1);
        // The outer TOS / traffic class of every datagram (RFC 6040).
        set_int(&fd, libc::IPPROTO_IP, libc::IP_RECVTOS, 1).map_err(from_linux)?;
        set_int(&fd, libc::IPPROTO_IPV6, libc::IPV6_RECVTCLASS, 1).map_err(from_linux)?;
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
            pool: Vec::new(),
            hash: AtomicBool::new(false),
        })
    }

    /// Binds the pool of send sockets for hashed source ports (ports in
    /// 49152–65535 on the listen address). Ports that cannot be bound are
    /// skipped and counted (`udp_src_pool_short`); with no pool at all,
    /// datagrams keep leaving from the listen port. Call before
    /// [`UdpSock::start_rx`], whose thread also drains the pool.
    pub fn open_pool(&mut self) {
        if self.pool.is_empty() && self.rx.is_none() {
            self.pool = bind_pool(&self.local, &self.sh.stats);
        }
    }

    /// `UDP_SRCPORT_HASH`: with `on`, each datagram leaves from the pool
    /// socket picked by the hash of its inner flow ([`crate::srcport`]).
    pub fn set_srcport_hash(&self, on: bool) {
        self.hash.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// The source ports of the hash pool.
    pub fn pool_ports(&self) -> Vec<u16> {
        self.pool.iter().filter_map(|p| port_of(&p.fd)).collect()
    }

    /// The bound address.
    pub fn local(&self) -> SocketAddrV6 {
        self.local
    }

    /// The port the socket is bound to (the kernel's choice when bound to
    /// port 0).
    pub fn bound_port(&self) -> Option<u16> {
        port_of(&self.sh.fd)
    }

    /// Starts the receive thread: `deliver(datagram, source, outer_tos)`
    /// for each datagram, `end_batch()` after each batch of them.
    pub fn start_rx<F, G>(&mut self, deliver: F, end_batch: G) -> std::io::Result<()>
    where
        F: Fn(&[u8], SocketAddrV6, u8) + Send + 'static,
        G: Fn() + Send + 'static,
    {
        let sh = Arc::clone(&self.sh);
        let stop = Arc::clone(&self.stop);
        let pool: Vec<Arc<Shared>> = self.pool.iter().map(Arc::clone).collect();
        let h = std::thread::Builder::new()
            .name(format!("udp-rx {}", self.local))
            .spawn(move || {
                let mut rx = RxBufs::new();
                if pool.is_empty() {
                    while wait_readable(sh.fd.as_raw_fd(), &stop) {
                        while rx.recv(&sh, &deliver) {
                            end_batch();
                        }
                    }
                    return;
                }
                while let Some(ready) = wait_any(&sh, &pool, &stop) {
                    for i in ready {
                        if i == 0 {
                            while rx.recv(&sh, &deliver) {
                                end_batch();
                            }
                        } else if let Some(p) = pool.get(i - 1) {
                            drain(p);
                        }
                    }
                }
            })?;
        self.rx = Some(h);
        Ok(())
    }

    /// Sends one datagram without blocking, or queues it when this thread
    /// batches its sends ([`crate::txbatch`]; errors are then counted at
    /// the flush). Errors are illumos errnos; each failure is counted.
    pub fn send_msg(&self, dst: &SocketAddrV6, msg: MsgBlk, hdr: TxHdr) -> Result<(), i32> {
        let sa = to_sockaddr(dst);
        let sh = if !self.pool.is_empty() && self.hash.load(std::sync::atomic::Ordering::Relaxed) {
            let i = crate::srcport::flow_hash(msg.data()) as usize % self.pool.len();
            &self.pool[i]
        } else {
            &self.sh
        };
        match crate::txbatch::queue(sh, &sa, msg, hdr) {
            None => Ok(()),
            Some(msg) => sh.send_one(&sa, &[msg.data()], hdr),
        }
    }

    /// Sends one datagram made of `bufs` without blocking. Errors are
    /// illumos errnos; each failure is counted.
    pub fn send(&self, dst: &SocketAddrV6, bufs: &[&[u8]]) -> Result<(), i32> {
        self.sh.send_one(&to_sockaddr(dst), bufs, TxHdr::default())
    }
}

/// Send sockets per hash pool. Enough that flows spread over many
/// underlay paths; few enough to bind quickly.
pub const POOL_SIZE: usize = 16;

/// Bind attempts per pool, at most (a port in use is skipped).
const POOL_TRIES: usize = POOL_SIZE * 8;

/// Send buffer of a pool socket; it receives nothing (peers send to the
/// listen port), so its receive buffer stays small.
const POOL_RCVBUF: libc::c_int = 4096;

/// A non-blocking dual-stack datagram socket with DF set (E11), buffers of
/// `rcvbuf` receive and [`SOCK_BUF`] send, bound to `local`. Errors are
/// Linux errnos.
fn open_bound(local: &SocketAddrV6, rcvbuf: libc::c_int) -> Result<OwnedFd, i32> {
    // SAFETY: plain socket(2) call.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET6,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if fd < 0 {
        return Err(last_errno());
    }
    // SAFETY: fd is a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    set_int(&fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 0)?;
    set_no_frag(&fd)?;
    // Room for bursts: 4 MiB (SO_*BUFFORCE as root, else the
    // sysctl-capped SO_*BUF). Failure only means the default size.
    for (force, plain, size) in [
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF, rcvbuf),
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF, SOCK_BUF),
    ] {
        if set_int(&fd, libc::SOL_SOCKET, force, size).is_err() {
            let _ = set_int(&fd, libc::SOL_SOCKET, plain, size);
        }
    }
    let sa = to_sockaddr(local);
    // SAFETY: bind reads a sockaddr_in6 of the given size.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_in6).cast(),
            std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(last_errno());
    }
    Ok(fd)
}

/// The port a socket is bound to.
fn port_of(fd: &OwnedFd) -> Option<u16> {
    // SAFETY: sockaddr_in6 is plain data; zero is valid.
    let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    // SAFETY: getsockname writes at most `len` bytes into `sa`.
    let r = unsafe {
        libc::getsockname(
            fd.as_raw_fd(),
            (&mut sa as *mut libc::sockaddr_in6).cast(),
            &mut len,
        )
    };
    (r == 0).then(|| u16::from_be(sa.sin6_port))
}

/// Binds up to [`POOL_SIZE`] send sockets to `local`'s address and ports
/// in 49152–65535, walking the range from a varying start with a stride
/// coprime to its size so that pools of several muxes (and daemons)
/// interleave. Ports in use are skipped; any other error ends the pool.
/// Missing sockets are counted in `udp_src_pool_short`.
fn bind_pool(local: &SocketAddrV6, stats: &Arc<Stats>) -> Vec<Arc<Shared>> {
    const SPAN: u32 = 65536 - crate::srcport::SRC_PORT_MIN as u32;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        ^ std::process::id().wrapping_mul(0x9e37_79b9)
        ^ u32::from(local.port()).wrapping_mul(0x85eb_ca6b);
    let mut pool = Vec::with_capacity(POOL_SIZE);
    let mut at = seed % SPAN;
    for _ in 0..POOL_TRIES {
        if pool.len() == POOL_SIZE {
            break;
        }
        // SPAN is 16384 = 2^14; any odd stride visits every port.
        at = (at + 4099) % SPAN;
        // at < SPAN, so the sum is at most 65535.
        let port = crate::srcport::SRC_PORT_MIN + at as u16;
        let addr = SocketAddrV6::new(*local.ip(), port, 0, local.scope_id());
        match open_bound(&addr, POOL_RCVBUF) {
            Ok(fd) => pool.push(Arc::new(Shared {
                fd,
                stats: Arc::clone(stats),
                gso_off: AtomicBool::new(false),
            })),
            Err(e) if e == libc::EADDRINUSE => continue,
            Err(e) => {
                tracing::warn!(%local, errno = e, "source-port pool: bind failed");
                break;
            }
        }
    }
    stats.add(Stat::UdpSrcPoolShort, (POOL_SIZE - pool.len()) as u64);
    pool
}

/// Waits until the listen socket (index 0) or pool sockets (1..) are
/// readable; `None` when stopped.
fn wait_any(sh: &Shared, pool: &[Arc<Shared>], stop: &StopFd) -> Option<Vec<usize>> {
    let mut pfd: Vec<libc::pollfd> = std::iter::once(stop.raw_fd())
        .chain(std::iter::once(sh.fd.as_raw_fd()))
        .chain(pool.iter().map(|p| p.fd.as_raw_fd()))
        .map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    loop {
        // SAFETY: pfd is a valid array of pfd.len() pollfds.
        let r = unsafe { libc::poll(pfd.as_mut_ptr(), pfd.len() as libc::nfds_t, -1) };
        if r < 0 {
            if last_errno() == libc::EINTR {
                continue;
            }
            return None;
        }
        if pfd[0].revents != 0 {
            return None;
        }
        let ready: Vec<usize> = (1..pfd.len())
            .filter(|&i| pfd[i].revents != 0)
            .map(|i| i - 1)
            .collect();
        if !ready.is_empty() {
            return Some(ready);
        }
    }
}

/// Reads and counts (`udp_rx_pool_drops`) whatever reached a pool socket:
/// peers send to the listen port, so this is stray traffic (or ICMP
/// errors), never silently queued.
fn drain(p: &Shared) {
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
    fn recv<F: Fn(&[u8], SocketAddrV6, u8)>(&mut self, sh: &Shared, deliver: &F) -> bool {
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
            let (gro, tos) = rx_cmsgs(h);
            let seg = gro.filter(|&g| g > 0 && g < n).unwrap_or(n);
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
                deliver(d, src, tos);
                continue;
            }
            for dg in d.chunks(seg) {
                sh.stats.bump(Stat::UdpRxDatagrams);
                deliver(dg, src, tos);
            }
        }
        true
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::time::Duration;

    fn lo(port: u16) -> SocketAddrV6 {
        SocketAddrV6::new(Ipv6Addr::LOCALHOST, port, 0, 0)
    }

    /// A VXLAN datagram whose inner frame is a UDP/IPv4 packet from
    /// `sport`.
    fn dgram(sport: u16, id: u16) -> MsgBlk {
        let mut d = vec![0x08, 0, 0, 0, 0, 0, 23, 0];
        d.extend_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]);
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[4..6].copy_from_slice(&id.to_be_bytes());
        ip[9] = 17;
        ip[12..16].copy_from_slice(&[10, 0, 0, 1]);
        ip[16..20].copy_from_slice(&[10, 0, 0, 2]);
        d.extend_from_slice(&ip);
        d.extend_from_slice(&sport.to_be_bytes());
        d.extend_from_slice(&[0, 53, 0, 8, 0, 0]);
        MsgBlk::from_vec(d)
    }

    #[test]
    fn hashed_source_ports_per_flow_in_dynamic_range() {
        let stats = Arc::new(Stats::default());
        let rx = UdpSocket::bind("[::1]:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        // bind to port 0 succeeded, so local_addr has a port.
        let dst = lo(rx.local_addr().unwrap().port());
        let mut tx = UdpSock::bind(lo(0), Arc::clone(&stats)).unwrap();
        tx.open_pool();
        let ports = tx.pool_ports();
        assert_eq!(
            ports.len() as u64 + stats.get(Stat::UdpSrcPoolShort),
            POOL_SIZE as u64
        );
        assert!(!ports.is_empty());
        assert!(ports.iter().all(|&p| p >= crate::srcport::SRC_PORT_MIN));
        tx.start_rx(|_, _, _| {}, || {}).unwrap();

        // Without the option: the listen port.
        tx.send_msg(&dst, dgram(1, 0), TxHdr::default()).unwrap();
        let mut buf = [0u8; 256];
        let (_, from) = rx.recv_from(&mut buf).unwrap();
        assert_eq!(Some(from.port()), tx.bound_port());

        tx.set_srcport_hash(true);
        let mut seen = std::collections::HashMap::new();
        for flow in 0..24u16 {
            for id in 0..3 {
                tx.send_msg(&dst, dgram(1000 + flow, id), TxHdr::default())
                    .unwrap();
                let (_, from) = rx.recv_from(&mut buf).unwrap();
                let p = from.port();
                assert!(p >= 49152, "source port {p}");
                assert!(ports.contains(&p));
                assert_eq!(*seen.entry(flow).or_insert(p), p, "flow {flow} moved");
            }
        }
        let distinct: std::collections::HashSet<_> = seen.values().collect();
        assert!(distinct.len() > 1, "24 flows, one port");

        // Stray datagrams to a pool port are read and counted.
        let stray = UdpSocket::bind("[::1]:0").unwrap();
        stray.send_to(b"x", ("::1", ports[0])).unwrap();
        for _ in 0..100 {
            if stats.get(Stat::UdpRxPoolDrops) == 1 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(stats.get(Stat::UdpRxPoolDrops), 1);
    }

    #[test]
    fn df_is_set_and_oversize_is_a_counted_drop() {
        let stats = Arc::new(Stats::default());
        let tx = UdpSock::bind(lo(0), Arc::clone(&stats)).unwrap();
        for (level, name, want) in [
            (
                libc::IPPROTO_IP,
                libc::IP_MTU_DISCOVER,
                libc::IP_PMTUDISC_DO,
            ),
            (
                libc::IPPROTO_IPV6,
                libc::IPV6_MTU_DISCOVER,
                libc::IPV6_PMTUDISC_DO,
            ),
        ] {
            let mut v: libc::c_int = -1;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: getsockopt writes at most `len` bytes into `v`.
            let r = unsafe {
                libc::getsockopt(
                    tx.sh.fd.as_raw_fd(),
                    level,
                    name,
                    (&mut v as *mut libc::c_int).cast(),
                    &mut len,
                )
            };
            assert_eq!((r, v), (0, want));
        }
        // Larger than any UDP datagram: EMSGSIZE, counted as too big.
        let big = MsgBlk::from_vec(vec![0u8; 70_000]);
        assert_eq!(
            tx.send_msg(&lo(9), big, TxHdr::default()),
            Err(overlay_sys::errno::EMSGSIZE)
        );
        assert_eq!(stats.get(Stat::UdpTxTooBig), 1);
        assert_eq!(stats.get(Stat::UdpTxErrors), 0);
    }
}

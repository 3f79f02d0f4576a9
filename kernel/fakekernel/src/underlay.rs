//! The underlay: real UDP sockets standing in for the driver's ksockets.
//!
//! Theory of operation: the driver opens one socket per mux (listen address,
//! port, encapsulation) when the first device on it starts. Here that is an
//! `AF_INET6` datagram socket with `IPV6_V6ONLY` off, so IPv4 underlays work
//! as v4-mapped addresses exactly as in illumos. [`UdpSock`] owns the
//! socket, its pool of send sockets for hashed source ports and its
//! receive thread, and passes the parts down:
//!
//! * receive ([`crate::udprx`]): a thread per socket waits in `poll(2)`
//!   with a stop eventfd, takes up to [`crate::udprx::RX_BATCH`] datagrams
//!   per `recvmmsg(2)` (`UDP_GRO` trains split again), hands every
//!   datagram with its outer TOS to the callback (the mux's receive path,
//!   i.e. decap, which applies RFC 6040), then calls the end-of-batch
//!   callback (which writes out what the MAC layer coalesced);
//! * send ([`crate::udptx`]): `MSG_DONTWAIT`, so the transmit path never
//!   blocks and a full socket buffer is a counted drop; outer TOS/TTL as
//!   control messages. A thread that moves many frames (a TAP reader)
//!   batches its sends ([`crate::txbatch`]), which gets the chosen send
//!   socket's `Shared` from [`UdpSock::send_msg`].
//!
//! Errors from Linux are translated to illumos errnos before they reach
//! the driver (bind `EADDRINUSE` 98 becomes 125, and so on).

use crate::stats::{Stat, Stats};
use crate::tap::{wait_readable, StopFd};
use crate::udprx::{drain, PollSet, RxBufs, UDP_GRO};
use crate::udptx::{last_errno, set_int, to_sockaddr, Shared, SOL_UDP};
use overlay::{MsgBlk, TxHdr};
use overlay_sys::errno::from_linux;
use std::net::SocketAddrV6;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;

/// `UDP_NO_CHECK6_RX`: accept UDPv6 datagrams whose checksum is 0
/// (RFC 6935/6936; RFC 7348 D1).
const UDP_NO_CHECK6_RX: libc::c_int = 102;

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
    /// for each datagram (a message over its slice of the receive
    /// buffer), `end_batch()` after each batch of them.
    pub fn start_rx<F, G>(&mut self, deliver: F, end_batch: G) -> std::io::Result<()>
    where
        F: Fn(MsgBlk, SocketAddrV6, u8) + Send + 'static,
        G: Fn() + Send + 'static,
    {
        let sh = Arc::clone(&self.sh);
        let stop = Arc::clone(&self.stop);
        let pool: Vec<Arc<Shared>> = self.pool.iter().map(Arc::clone).collect();
        let h = std::thread::Builder::new()
            .name(format!("udp-rx {}", self.local))
            .spawn(move || {
                let mut rx = RxBufs::new();
                let mut ps = PollSet::new(&sh, &pool, &stop);
                // Pooled frame buffers in flight on this thread: the
                // header blocks of the replies it sends, and frames the
                // slow paths flatten (received datagrams stay in the
                // receive buffer, RxBufs).
                crate::bufpool::prefill(1600, crate::gro::GRO_MAX_SEGS + 2);
                // The TAP read buffers of the replies this thread sends
                // (crate::mac's rx_replies).
                crate::bufpool::prefill_db(
                    crate::readbuf::READ_DB_CAP,
                    crate::readbuf::READ_DB_PREFILL,
                );
                crate::alloccount::mark_datapath_thread();
                // A short time slice: see crate::slice.
                crate::slice::set_slice(crate::slice::RX_SLICE_NS);
                if pool.is_empty() {
                    while wait_readable(sh.fd.as_raw_fd(), &stop) {
                        rx.drain_batches(&sh, &deliver, &end_batch);
                    }
                    return;
                }
                while ps.wait() {
                    for i in ps.ready() {
                        if i == 0 {
                            rx.drain_batches(&sh, &deliver, &end_batch);
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
            // The headers (VXLAN and the inner frame's) may span blocks.
            let mut h = [0u8; 128];
            let n = msg.copy_out(0, &mut h);
            let i = crate::srcport::flow_hash(&h[..n]) as usize % self.pool.len();
            &self.pool[i]
        } else {
            &self.sh
        };
        match crate::txbatch::queue(sh, &sa, msg, hdr) {
            None => Ok(()),
            Some(msg) => sh.send_msg(&sa, &msg, hdr),
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
    use std::net::{Ipv6Addr, UdpSocket};
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

/// Batched sends ([`crate::txbatch`]) through the sockets that own them.
#[cfg(test)]
mod batch_tests {
    use super::*;
    use crate::stats::{Stat, Stats};
    use crate::txbatch::{begin, flush};
    use std::net::Ipv4Addr;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    fn lo(port: u16) -> SocketAddrV6 {
        SocketAddrV6::new(Ipv4Addr::LOCALHOST.to_ipv6_mapped(), port, 0, 0)
    }

    fn dgram(len: usize, tag: u8) -> MsgBlk {
        MsgBlk::from_vec((0..len).map(|i| tag ^ i as u8).collect())
    }

    /// Outer TOS and TTL per datagram, batched (GSO runs split where the
    /// TOS changes) and not, over IPv4 and IPv6: every datagram arrives
    /// with its own TOS, read back from the receive side's control
    /// message.
    #[test]
    fn per_datagram_tos_batched_and_not() {
        for v6 in [false, true] {
            let addr = |port| {
                if v6 {
                    SocketAddrV6::new(std::net::Ipv6Addr::LOCALHOST, port, 0, 0)
                } else {
                    lo(port)
                }
            };
            let stats = Arc::new(Stats::default());
            type Got = Vec<(Vec<u8>, u8)>;
            let got: Arc<Mutex<Got>> = Arc::default();
            let mut rx = UdpSock::bind(addr(0), Arc::clone(&stats)).unwrap();
            let port = rx.bound_port().unwrap();
            let g2 = Arc::clone(&got);
            rx.start_rx(
                move |d: MsgBlk, _, tos| g2.lock().unwrap().push((d.to_vec(), tos)),
                || {},
            )
            .unwrap();
            let tx = UdpSock::bind(addr(0), Arc::clone(&stats)).unwrap();
            let toses = [0u8, 0, 1, 1, 1, 2, 2, 0xb8, 0xb8, 0x03, 0, 0x14];
            let mut want = Vec::new();
            begin();
            for (i, &t) in toses.iter().enumerate() {
                let m = dgram(500, i as u8);
                want.push((m.to_vec(), t));
                let hdr = TxHdr { tos: t, ttl: 9 };
                tx.send_msg(&addr(port), m, hdr).unwrap();
            }
            flush();
            let m = dgram(300, 0xee);
            want.push((m.to_vec(), 0x2e));
            tx.send_msg(&addr(port), m, TxHdr { tos: 0x2e, ttl: 0 })
                .unwrap();
            let t0 = Instant::now();
            while got.lock().unwrap().len() < want.len() && t0.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(10));
            }
            assert_eq!(*got.lock().unwrap(), want, "v6 {v6}");
            assert_eq!(stats.get(Stat::UdpTxErrors), 0);
        }
    }

    /// Runs of equal sizes (GSO), a shorter tail, a longer one after a
    /// run, a lone one: the receiver (with UDP_GRO, split again by the
    /// underlay) sees exactly the datagrams sent, in order.
    #[test]
    fn batched_sends_arrive_as_sent_in_order() {
        let stats = Arc::new(Stats::default());
        let got: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let mut rx = UdpSock::bind(lo(0), Arc::clone(&stats)).unwrap();
        let port = rx.bound_port().unwrap();
        let g2 = Arc::clone(&got);
        rx.start_rx(
            move |d: MsgBlk, _, _| g2.lock().unwrap().push(d.to_vec()),
            || {},
        )
        .unwrap();
        let tx = UdpSock::bind(lo(0), Arc::clone(&stats)).unwrap();
        let mut want = Vec::new();
        let mut sizes = vec![1000; 70];
        sizes.extend([1000, 400, 1000, 1200, 7, 7, 7, 1, 0, 3000, 3000]);
        begin();
        for (i, &n) in sizes.iter().enumerate() {
            let m = dgram(n, i as u8);
            want.push(m.to_vec());
            tx.send_msg(&lo(port), m, TxHdr::default()).unwrap();
        }
        flush();
        // Not batching any more: straight out.
        let m = dgram(5, 0xaa);
        want.push(m.to_vec());
        tx.send_msg(&lo(port), m, TxHdr::default()).unwrap();
        let t0 = Instant::now();
        while got.lock().unwrap().len() < want.len() && t0.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(*got.lock().unwrap(), want);
        assert_eq!(stats.get(Stat::UdpTxDatagrams), want.len() as u64);
        assert_eq!(stats.get(Stat::UdpTxErrors), 0);
        assert_eq!(stats.get(Stat::UdpTxGsoFallbacks), 0);
    }
}

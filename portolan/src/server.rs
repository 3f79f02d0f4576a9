//! The SVP TCP server: listeners, worker threads and connections.
//!
//! # Theory of operation
//!
//! Every listening socket (IPv4 or IPv6, `IPV6_V6ONLY` set so both families
//! can share a port) is registered with every worker's mio poller; the
//! worker woken first accepts. A worker owns the connections it accepted
//! and its own lookup cache and store connection (through the store's
//! pool), so requests are answered without cross-thread hand-offs. Workers
//! default to the number of CPUs.
//!
//! A connection (`svp_conn_t`'s counterpart on the server side) reads all
//! it can (edge-triggered), feeds the bytes to an [`SvpFrameReader`], and
//! answers every whole frame in order, appending the replies to one output
//! buffer written with as few `write`s as possible: a client may pipeline
//! any number of requests. Replies carry `svp_ver = 1` and the request's
//! `svp_id` bytes. Reading pauses while more than [`OUT_HIGH`] bytes of
//! replies wait for a client that does not read.
//!
//! A frame with a bad CRC, a wrong size for its op, a size over the cap, a
//! version other than 1 or 2 (a v2 client's PING gets a v1 PONG, as
//! portolan does), an unknown op or SHOOTDOWN closes that connection only,
//! counted by reason; so does end-of-file in the middle of a frame. Idle
//! connections cost a socket and a few bytes, nothing else.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use svp_proto::{decode_request, SvpError, SvpFrameReader};

use crate::cache::{spawn_poller, LookupCache};
use crate::stats::Stats;
use crate::store::Store;
use crate::svp::SvpHandler;

/// The largest request payload accepted (a LOG_RM of 4095 ids fits).
pub const SVP_MAX_REQUEST: u32 = 64 * 1024;
/// Stop reading a connection while this many reply bytes are unsent.
pub const OUT_HIGH: usize = 1 << 20;

const WAKE: Token = Token(usize::MAX);
const FIRST_CONN: usize = 1 << 16;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: Vec<SocketAddr>,
    /// Worker threads (0: one per CPU).
    pub threads: usize,
    /// Lookup cache entries per worker per kind (0 disables the cache).
    pub cache_entries: usize,
    /// How often the store generation is polled.
    pub cache_poll: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: vec![SocketAddr::from((
                [0, 0, 0, 0],
                svp_proto::SVP_DEFAULT_PORT,
            ))],
            threads: 0,
            cache_entries: 1 << 19,
            cache_poll: Duration::from_millis(500),
        }
    }
}

/// A running server.
pub struct Server {
    addrs: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    wakers: Vec<Arc<Waker>>,
    workers: Vec<std::thread::JoinHandle<()>>,
    poller: Option<std::thread::JoinHandle<()>>,
}

/// Bind one listening socket: SO_REUSEADDR, IPV6_V6ONLY for IPv6.
fn bind(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, SockaddrStorage};
    let fam = if addr.is_ipv6() {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    let fd = socket::socket(fam, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    socket::setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    if addr.is_ipv6() {
        socket::setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
    }
    socket::bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrStorage::from(addr),
    )?;
    socket::listen(
        &fd,
        socket::Backlog::new(1024).unwrap_or(socket::Backlog::MAXCONN),
    )?;
    // SAFETY: fd is a listening TCP socket we own; ownership moves to the
    // std listener.
    let l = unsafe { std::net::TcpListener::from_raw_fd(fd.into_raw_fd()) };
    l.set_nonblocking(true)?;
    Ok(l)
}

impl Server {
    /// Bind every address and start the workers. The error names the
    /// address that could not be bound.
    pub fn start(
        cfg: &ServerConfig,
        store: Arc<dyn Store>,
        stats: Arc<Stats>,
    ) -> Result<Server, String> {
        if cfg.listen.is_empty() {
            return Err("no listen address".into());
        }
        let mut listeners = Vec::new();
        let mut addrs = Vec::new();
        for a in &cfg.listen {
            let l = bind(*a).map_err(|e| format!("cannot listen on {a}: {e}"))?;
            addrs.push(l.local_addr().map_err(|e| format!("{a}: {e}"))?);
            listeners.push(l);
        }
        let nthreads = if cfg.threads == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        } else {
            cfg.threads
        };
        let stop = Arc::new(AtomicBool::new(false));
        let epoch = Arc::new(AtomicU64::new(0));
        let mut wakers = Vec::new();
        let mut workers = Vec::new();
        for i in 0..nthreads {
            let poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
            let waker =
                Arc::new(Waker::new(poll.registry(), WAKE).map_err(|e| format!("waker: {e}"))?);
            let mut mine = Vec::new();
            for (j, l) in listeners.iter().enumerate() {
                let c = l.try_clone().map_err(|e| format!("listener: {e}"))?;
                let mut ml = TcpListener::from_std(c);
                poll.registry()
                    .register(&mut ml, Token(j), Interest::READABLE)
                    .map_err(|e| format!("register: {e}"))?;
                mine.push(ml);
            }
            let handler = SvpHandler::new(
                Arc::clone(&store),
                Arc::clone(&stats),
                LookupCache::new(cfg.cache_entries, Arc::clone(&epoch)),
            );
            let w = Worker {
                poll,
                listeners: mine,
                conns: HashMap::new(),
                next: FIRST_CONN,
                handler,
                stats: Arc::clone(&stats),
                stop: Arc::clone(&stop),
            };
            let t = std::thread::Builder::new()
                .name(format!("portolan-worker-{i}"))
                .spawn(move || w.run())
                .map_err(|e| format!("cannot start a worker thread: {e}"))?;
            wakers.push(waker);
            workers.push(t);
        }
        let poller = if cfg.cache_entries > 0 {
            Some(
                spawn_poller(store, epoch, cfg.cache_poll, Arc::clone(&stop))
                    .map_err(|e| format!("cannot start the poller thread: {e}"))?,
            )
        } else {
            None
        };
        Ok(Server {
            addrs,
            stop,
            wakers,
            workers,
            poller,
        })
    }

    /// The bound addresses (with the real port when 0 was asked for).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Stop every thread and close every connection.
    pub fn shutdown(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for w in &self.wakers {
            let _ = w.wake();
        }
        for t in self.workers.drain(..) {
            let _ = t.join();
        }
        if let Some(p) = self.poller.take() {
            p.thread().unpark();
            let _ = p.join();
        }
    }
}

struct Worker {
    poll: Poll,
    listeners: Vec<TcpListener>,
    conns: HashMap<usize, Conn>,
    next: usize,
    handler: SvpHandler,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
}

impl Worker {
    fn run(mut self) {
        let mut events = Events::with_capacity(512);
        loop {
            if let Err(e) = self.poll.poll(&mut events, None) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::error!("poll: {e}");
                return;
            }
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            for ev in events.iter() {
                match ev.token() {
                    WAKE => {}
                    Token(j) if j < self.listeners.len() => self.accept(j),
                    Token(t) => {
                        let keep = match self.conns.get_mut(&t) {
                            Some(c) => c.ready(&mut self.handler, &self.stats),
                            None => continue,
                        };
                        if !keep {
                            if let Some(mut c) = self.conns.remove(&t) {
                                let _ = self.poll.registry().deregister(&mut c.sock);
                            }
                            self.stats.conns_open.fetch_sub(1, Ordering::Relaxed);
                            Stats::bump(&self.stats.conns_closed);
                        }
                    }
                }
            }
        }
        let n = self.conns.len() as u64;
        self.stats.conns_open.fetch_sub(n, Ordering::Relaxed);
        self.stats.conns_closed.fetch_add(n, Ordering::Relaxed);
    }

    fn accept(&mut self, j: usize) {
        loop {
            match self.listeners[j].accept() {
                Ok((mut sock, peer)) => {
                    let _ = sock.set_nodelay(true);
                    let t = self.next;
                    self.next = if self.next == usize::MAX - 1 {
                        FIRST_CONN
                    } else {
                        self.next + 1
                    };
                    if let Err(e) = self.poll.registry().register(
                        &mut sock,
                        Token(t),
                        Interest::READABLE | Interest::WRITABLE,
                    ) {
                        tracing::warn!(%peer, "cannot register a connection: {e}");
                        continue;
                    }
                    Stats::bump(&self.stats.conns_accepted);
                    Stats::bump(&self.stats.conns_open);
                    tracing::debug!(%peer, "connection");
                    self.conns.insert(t, Conn::new(sock));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and friends: leave the rest in the backlog.
                    tracing::warn!("accept: {e}");
                    return;
                }
            }
        }
    }
}

/// One client connection.
struct Conn {
    sock: TcpStream,
    rd: SvpFrameReader,
    out: Vec<u8>,
    out_pos: usize,
    eof: bool,
}

enum Fill {
    /// The socket has no more data now.
    Blocked,
    /// Too many replies are unsent: stop reading until they drain.
    Paused,
    /// The peer closed its side.
    Eof,
    /// A protocol or I/O error: close now.
    Close,
}

impl Conn {
    fn new(sock: TcpStream) -> Conn {
        Conn {
            sock,
            rd: SvpFrameReader::new(SVP_MAX_REQUEST).with_versions(1, 2),
            out: Vec::new(),
            out_pos: 0,
            eof: false,
        }
    }

    fn pending(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Handle readiness; false when the connection must be closed.
    fn ready(&mut self, h: &mut SvpHandler, stats: &Stats) -> bool {
        loop {
            let f = self.fill(h, stats);
            if let Fill::Close = f {
                let _ = self.flush();
                return false;
            }
            if self.flush().is_err() {
                Stats::bump(&stats.close_io_error);
                return false;
            }
            match f {
                Fill::Eof => return self.pending() > 0,
                Fill::Blocked => return true,
                Fill::Paused if self.pending() == 0 => continue,
                Fill::Paused | Fill::Close => return true,
            }
        }
    }

    /// Read and answer until the socket would block, the output is too
    /// full, the peer closed, or an error.
    fn fill(&mut self, h: &mut SvpHandler, stats: &Stats) -> Fill {
        if self.eof {
            return Fill::Eof;
        }
        loop {
            if self.pending() > OUT_HIGH {
                return Fill::Paused;
            }
            match self.rd.read_from(&mut self.sock) {
                Ok(0) => {
                    self.eof = true;
                    match self.rd.finish() {
                        Ok(()) => Stats::bump(&stats.close_eof),
                        Err(e) => stats.count_drop(&e),
                    }
                    return Fill::Eof;
                }
                Ok(_) => {
                    if let Err(e) = self.answer(h) {
                        match e {
                            Some(e) => {
                                tracing::debug!("closing a connection: {e}");
                                stats.count_drop(&e);
                            }
                            None => tracing::debug!("closing a connection: SHOOTDOWN"),
                        }
                        return Fill::Close;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Fill::Blocked,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    Stats::bump(&stats.close_io_error);
                    return Fill::Close;
                }
            }
        }
    }

    /// Answer every whole frame buffered. `Err(Some(e))`: a bad frame;
    /// `Err(None)`: a request without a reply (SHOOTDOWN).
    fn answer(&mut self, h: &mut SvpHandler) -> Result<(), Option<SvpError>> {
        loop {
            let (id, req) = match self.rd.next_frame() {
                Ok(Some(f)) => (f.hdr.id, decode_request(&f.hdr, f.payload).map_err(Some)?),
                Ok(None) => return Ok(()),
                Err(e) => return Err(Some(e)),
            };
            match h.handle(&req) {
                Some(rep) => rep.encode_into(id, &mut self.out),
                None => return Err(None),
            }
        }
    }

    /// Write what the socket takes.
    fn flush(&mut self) -> io::Result<()> {
        while self.out_pos < self.out.len() {
            match self.sock.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        } else if self.out_pos > OUT_HIGH {
            self.out.drain(..self.out_pos);
            self.out_pos = 0;
        }
        Ok(())
    }
}

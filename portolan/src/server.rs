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
//! it can (edge-triggered) and feeds the bytes to an [`SvpFrameReader`]: a
//! client may pipeline any number of requests. A worker serves in rounds:
//! it reads every whole request from every connection that became ready
//! (at most [`CONN_BATCH_MAX`] from one; the rest in the next round), then
//! answers the round's requests together (see [`crate::svp`]): the ones
//! that need no database first, whose connections are written to at once,
//! then the others with one store call for all VL2 keys and one for all
//! VL3 keys. So a worker waits for one database round trip per round, not
//! per request, and a connection whose requests are answered from the
//! cache does not wait for another's query. Each connection's replies are
//! appended to its output buffer in the order of its requests and written
//! with as few `write`s as possible. Replies carry `svp_ver = 1` and the
//! request's `svp_id` bytes. Reading pauses while more than [`OUT_HIGH`]
//! bytes of replies wait for a client that does not read.
//!
//! A frame with a bad CRC, a wrong size for its op, a size over the cap, a
//! version other than 1 or 2 (a v2 client's PING gets a v1 PONG, as
//! portolan does), an unknown op or SHOOTDOWN closes that connection only,
//! counted by reason; so does end-of-file in the middle of a frame. Idle
//! connections cost a socket and a few bytes, nothing else.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use svp_proto::{decode_request, SvpError, SvpFrameReader, SvpRequest};

use crate::cache::{spawn_poller, LookupCache};
use crate::stats::Stats;
use crate::store::Store;
use crate::svp::{Slot, SvpHandler};

/// The largest request payload accepted (a LOG_RM of 4095 ids fits).
pub const SVP_MAX_REQUEST: u32 = 64 * 1024;
/// Stop reading a connection while this many reply bytes are unsent.
pub const OUT_HIGH: usize = 1 << 20;
/// The most requests read from one connection in one round.
pub const CONN_BATCH_MAX: usize = 256;

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
                batch: Batch::default(),
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
    batch: Batch,
}

/// The requests of one round, from every connection served in it, in the
/// order read.
#[derive(Default)]
struct Batch {
    reqs: Vec<SvpRequest>,
    /// Each request's connection (token) and frame id.
    who: Vec<(usize, [u8; 4])>,
    slots: Vec<Slot>,
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
            let mut round = Vec::new();
            for ev in events.iter() {
                match ev.token() {
                    WAKE => {}
                    Token(j) if j < self.listeners.len() => self.accept(j),
                    Token(t) => {
                        if let Some(c) = self.conns.get_mut(&t) {
                            if !c.queued {
                                c.queued = true;
                                round.push(t);
                            }
                        }
                    }
                }
            }
            self.serve(round);
        }
        let n = self.conns.len() as u64;
        self.stats.conns_open.fetch_sub(n, Ordering::Relaxed);
        self.stats.conns_closed.fetch_add(n, Ordering::Relaxed);
    }

    /// Serve the connections of `round` until none has more to read now:
    /// read every whole request from each (up to [`CONN_BATCH_MAX`]), send
    /// the replies that need no database, answer the rest with one store
    /// call per kind, send those.
    fn serve(&mut self, mut round: Vec<usize>) {
        while !round.is_empty() {
            let b = &mut self.batch;
            b.reqs.clear();
            b.who.clear();
            for &t in &round {
                if let Some(c) = self.conns.get_mut(&t) {
                    c.state = c.fill(t, b, &self.stats);
                }
            }
            self.handler.answer_cached(&b.reqs, &mut b.slots);
            let mut next = Vec::new();
            if b.slots.iter().any(|s| matches!(s, Slot::Store)) {
                // Connections with nothing waiting for the database get
                // their replies now, not after the query.
                let waiting: HashSet<usize> = b
                    .who
                    .iter()
                    .zip(&b.slots)
                    .filter(|(_, s)| matches!(s, Slot::Store))
                    .map(|((t, _), _)| *t)
                    .collect();
                let (late, early): (Vec<usize>, Vec<usize>) =
                    round.into_iter().partition(|t| waiting.contains(t));
                self.emit(|t| !waiting.contains(&t));
                for t in early {
                    self.settle(t, &mut next);
                }
                let b = &mut self.batch;
                self.handler.answer_store(&b.reqs, &mut b.slots);
                round = late;
            }
            self.emit(|_| true);
            for t in round {
                self.settle(t, &mut next);
            }
            round = next;
        }
    }

    /// Append the replies of the requests whose connection passes `pick`,
    /// in order.
    fn emit(&mut self, pick: impl Fn(usize) -> bool) {
        let b = &mut self.batch;
        for ((t, id), slot) in b.who.iter().zip(b.slots.iter_mut()) {
            if !pick(*t) || matches!(slot, Slot::Taken | Slot::Store) {
                continue;
            }
            if let (Slot::Reply(r), Some(c)) =
                (std::mem::replace(slot, Slot::Taken), self.conns.get_mut(t))
            {
                r.encode_into(*id, &mut c.out);
            }
        }
    }

    /// Write what a served connection has to send and keep it, close it,
    /// or queue it for the next round.
    fn settle(&mut self, t: usize, next: &mut Vec<usize>) {
        let Some(c) = self.conns.get_mut(&t) else {
            return;
        };
        c.queued = false;
        match c.settle(&self.stats) {
            Settle::Keep => {}
            Settle::Again => {
                c.queued = true;
                next.push(t);
            }
            Settle::Close => {
                if let Some(mut c) = self.conns.remove(&t) {
                    let _ = self.poll.registry().deregister(&mut c.sock);
                }
                self.stats.conns_open.fetch_sub(1, Ordering::Relaxed);
                Stats::bump(&self.stats.conns_closed);
            }
        }
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
    /// In the worker's current or next round.
    queued: bool,
    /// How the last read ended.
    state: Fill,
}

#[derive(Debug, Clone, Copy)]
enum Fill {
    /// The socket has no more data now.
    Blocked,
    /// [`CONN_BATCH_MAX`] requests were read: read more next round.
    More,
    /// Too many replies are unsent: stop reading until they drain.
    Paused,
    /// The peer closed its side.
    Eof,
    /// A protocol or I/O error, or SHOOTDOWN: close once the replies to
    /// the requests before it are written.
    Close,
}

/// What becomes of a connection after a round.
enum Settle {
    Keep,
    Again,
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
            queued: false,
            state: Fill::Blocked,
        }
    }

    fn pending(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// After the round's replies were appended: write them, and say what
    /// next.
    fn settle(&mut self, stats: &Stats) -> Settle {
        if let Fill::Close = self.state {
            let _ = self.flush();
            return Settle::Close;
        }
        if self.flush().is_err() {
            Stats::bump(&stats.close_io_error);
            return Settle::Close;
        }
        match self.state {
            Fill::Eof if self.pending() > 0 => Settle::Keep,
            Fill::Eof | Fill::Close => Settle::Close,
            Fill::Blocked => Settle::Keep,
            Fill::More => Settle::Again,
            Fill::Paused if self.pending() == 0 => Settle::Again,
            Fill::Paused => Settle::Keep,
        }
    }

    /// Read and decode requests into `b` (as connection `t`) until the
    /// socket would block, [`CONN_BATCH_MAX`] were read, the output is too
    /// full, the peer closed, a bad frame or SHOOTDOWN, or an error.
    fn fill(&mut self, t: usize, b: &mut Batch, stats: &Stats) -> Fill {
        if self.eof {
            return Fill::Eof;
        }
        let mut n = 0;
        loop {
            // Every whole frame already buffered first.
            loop {
                if n == CONN_BATCH_MAX {
                    return Fill::More;
                }
                let (id, req) = match self.rd.next_frame() {
                    Ok(Some(f)) => (f.hdr.id, decode_request(&f.hdr, f.payload)),
                    Ok(None) => break,
                    Err(e) => return Self::bad(&e, stats),
                };
                let req = match req {
                    Ok(r) => r,
                    Err(e) => return Self::bad(&e, stats),
                };
                let shootdown = matches!(req, SvpRequest::Shootdown { .. });
                b.reqs.push(req);
                b.who.push((t, id));
                n += 1;
                if shootdown {
                    tracing::debug!("closing a connection: SHOOTDOWN");
                    return Fill::Close;
                }
            }
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
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Fill::Blocked,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    Stats::bump(&stats.close_io_error);
                    return Fill::Close;
                }
            }
        }
    }

    fn bad(e: &SvpError, stats: &Stats) -> Fill {
        tracing::debug!("closing a connection: {e}");
        stats.count_drop(e);
        Fill::Close
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

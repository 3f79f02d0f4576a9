//! A real SVP server for the svp plugin's tests: TCP on loopback, the
//! wire format from `svp-proto`, a mapping table, a shootdown log, and
//! modes that misbehave on purpose (the "hostile server").

#![allow(dead_code)]

pub mod fixture;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use svp_proto::op::*;
use svp_proto::status::*;
use svp_proto::{
    decode_request, encode_reply, SvpFrameReader, SvpHeader, SvpLogRecord, SvpReply, SvpRequest,
};

/// How the server answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Correct replies from the tables.
    Normal,
    /// Read requests, never answer.
    Silent,
    /// Answer with bytes that are no SVP frame.
    Garbage,
    /// Correct replies with a wrong CRC.
    BadCrc,
    /// A VL2_ACK/VL3_ACK/LOG_RM_ACK 4 bytes too long.
    BadSize,
    /// svp_ver = 2.
    BadVersion,
    /// svp_op = SVP_R_PONG.
    UnknownOp,
    /// An id no query has.
    UnknownId,
    /// Close the connection on the first request.
    Close,
    /// LOG_ACK of 1028 bytes to a 1024-byte LOG_REQ (portolan's overrun).
    LogOverrun,
}

/// What the server knows and saw.
pub struct State {
    pub mode: Mode,
    pub vl2: HashMap<([u8; 6], u32), (Ipv6Addr, u16)>,
    pub vl3: HashMap<(Ipv6Addr, u32), ([u8; 6], Ipv6Addr, u16)>,
    /// Status forced for a VL3 address (e.g. FATAL).
    pub vl3_status: HashMap<Ipv6Addr, u32>,
    /// The shootdown log (any underlay IP).
    pub log: Vec<SvpLogRecord>,
    /// Ids received in LOG_RMs.
    pub removed: Vec<[u8; 16]>,
    pub lrm_status: u32,
    /// Every request, with the index of the listening address it came in on.
    pub requests: Vec<(usize, SvpHeader, SvpRequest)>,
    /// Accepted connections per listening address.
    pub accepted: Vec<usize>,
    /// While true, VL2/VL3 answers are held back (pipelining tests).
    pub hold: bool,
    streams: Vec<TcpStream>,
}

pub struct Server {
    pub port: u16,
    pub addrs: Vec<SocketAddr>,
    st: Arc<(Mutex<State>, Condvar)>,
    stop: Arc<AtomicBool>,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Server {
    /// Listen on every address in `ips`, all on one (ephemeral) port.
    pub fn start(ips: &[IpAddr]) -> Server {
        for _ in 0..50 {
            if let Some(s) = Self::try_start(ips) {
                return s;
            }
        }
        panic!("no common free port for {ips:?}");
    }

    /// Like [`start_v4`](Self::start_v4), with a tiny receive buffer so
    /// the client's writes come back short.
    pub fn start_small_rcvbuf() -> Server {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        nix::sys::socket::setsockopt(&l, nix::sys::socket::sockopt::RcvBuf, &2048).unwrap();
        Self::run(vec![l])
    }

    pub fn start_v4() -> Server {
        Self::start(&["127.0.0.1".parse().unwrap()])
    }

    /// Listen on `ip:port` (to bring a server back on a known port).
    pub fn start_at(ips: &[IpAddr], port: u16) -> Server {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let l: Result<Vec<TcpListener>, _> = ips
                .iter()
                .map(|ip| TcpListener::bind(SocketAddr::new(*ip, port)))
                .collect();
            if let Ok(l) = l {
                return Self::run(l);
            }
            assert!(Instant::now() < deadline, "cannot bind port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn try_start(ips: &[IpAddr]) -> Option<Server> {
        let first = TcpListener::bind(SocketAddr::new(ips[0], 0)).ok()?;
        let port = first.local_addr().ok()?.port();
        let mut ls = vec![first];
        for ip in &ips[1..] {
            ls.push(TcpListener::bind(SocketAddr::new(*ip, port)).ok()?);
        }
        Some(Self::run(ls))
    }

    fn run(ls: Vec<TcpListener>) -> Server {
        let port = ls[0].local_addr().unwrap().port();
        let addrs = ls.iter().map(|l| l.local_addr().unwrap()).collect();
        let st = Arc::new((
            Mutex::new(State {
                mode: Mode::Normal,
                vl2: HashMap::new(),
                vl3: HashMap::new(),
                vl3_status: HashMap::new(),
                log: Vec::new(),
                removed: Vec::new(),
                lrm_status: SVP_S_OK,
                requests: Vec::new(),
                accepted: vec![0; ls.len()],
                hold: false,
                streams: Vec::new(),
            }),
            Condvar::new(),
        ));
        let stop = Arc::new(AtomicBool::new(false));
        for (i, l) in ls.into_iter().enumerate() {
            l.set_nonblocking(true).unwrap();
            let st = st.clone();
            let stop = stop.clone();
            std::thread::spawn(move || accept_loop(i, l, st, stop));
        }
        Server {
            port,
            addrs,
            st,
            stop,
        }
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.st.0)
    }

    pub fn set_mode(&self, m: Mode) {
        self.state().mode = m;
    }

    /// Release held answers.
    pub fn release(&self) {
        self.state().hold = false;
        self.st.1.notify_all();
    }

    /// Close every accepted connection (the server "restarts").
    pub fn drop_connections(&self) {
        for s in self.state().streams.drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Wait until `f` holds on the state.
    pub fn wait<F: Fn(&State) -> bool>(&self, what: &str, timeout: Duration, f: F) {
        let deadline = Instant::now() + timeout;
        loop {
            if f(&self.state()) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn requests_of(&self, op: u16) -> usize {
        self.state()
            .requests
            .iter()
            .filter(|(_, h, _)| h.op == op)
            .count()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.drop_connections();
        self.st.1.notify_all();
    }
}

fn accept_loop(i: usize, l: TcpListener, st: Arc<(Mutex<State>, Condvar)>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                let mut g = lock(&st.0);
                g.accepted[i] += 1;
                if let Ok(c) = s.try_clone() {
                    g.streams.push(c);
                }
                drop(g);
                let st = st.clone();
                let stop = stop.clone();
                std::thread::spawn(move || serve(i, s, st, stop));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

fn answer(st: &State, req: &SvpRequest) -> SvpReply {
    match req {
        SvpRequest::Vl2 { mac, vnetid } => match st.vl2.get(&(*mac, *vnetid)) {
            Some((ip, port)) => SvpReply::Vl2Ack {
                status: SVP_S_OK as u16,
                port: *port,
                addr: *ip,
            },
            None => SvpReply::Vl2Ack {
                status: SVP_S_NOTFOUND as u16,
                port: 0,
                addr: Ipv6Addr::UNSPECIFIED,
            },
        },
        SvpRequest::Vl3 { ip, vnetid, .. } => {
            if let Some(s) = st.vl3_status.get(ip) {
                return SvpReply::Vl3Ack {
                    status: *s,
                    mac: [0; 6],
                    uport: 0,
                    uip: Ipv6Addr::UNSPECIFIED,
                };
            }
            match st.vl3.get(&(*ip, *vnetid)) {
                Some((mac, uip, uport)) => SvpReply::Vl3Ack {
                    status: SVP_S_OK,
                    mac: *mac,
                    uport: *uport,
                    uip: *uip,
                },
                None => SvpReply::Vl3Ack {
                    status: SVP_S_NOTFOUND,
                    mac: [0; 6],
                    uport: 0,
                    uip: Ipv6Addr::UNSPECIFIED,
                },
            }
        }
        SvpRequest::Log { count, .. } => {
            let mut records = Vec::new();
            let mut bytes = 0usize;
            for r in &st.log {
                if bytes + r.wire_len() > (*count as usize).saturating_sub(4) {
                    break;
                }
                bytes += r.wire_len();
                records.push(r.clone());
            }
            SvpReply::LogAck {
                status: SVP_S_OK,
                records,
            }
        }
        SvpRequest::LogRm { .. } => SvpReply::LogRmAck {
            status: st.lrm_status,
        },
        _ => SvpReply::Pong,
    }
}

fn serve(i: usize, mut s: TcpStream, st: Arc<(Mutex<State>, Condvar)>, stop: Arc<AtomicBool>) {
    // Reading and recording never wait for answers (held or not): a
    // second thread answers, in order.
    let (tx, rx) = std::sync::mpsc::channel::<(SvpHeader, SvpRequest)>();
    let Ok(mut w) = s.try_clone() else {
        return;
    };
    let st2 = st.clone();
    let stop2 = stop.clone();
    std::thread::spawn(move || {
        for (hdr, req) in rx {
            let mut g = lock(&st2.0);
            if matches!(req, SvpRequest::Vl2 { .. } | SvpRequest::Vl3 { .. }) {
                while g.hold && !stop2.load(Ordering::SeqCst) {
                    g = st2.1.wait(g).unwrap_or_else(|p| p.into_inner());
                }
            }
            let mode = g.mode;
            let reply = answer(&g, &req);
            drop(g);
            match hostile(mode, hdr, &req, &reply) {
                None if mode == Mode::Close => {
                    let _ = w.shutdown(Shutdown::Both);
                    return;
                }
                None => {}
                Some(b) if w.write_all(&b).is_err() => return,
                Some(_) => {}
            }
        }
    });
    let mut rd = SvpFrameReader::new(64 * 1024);
    loop {
        match rd.read_from(&mut s) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        loop {
            let (hdr, payload) = match rd.next_frame() {
                Ok(Some(f)) => (f.hdr, f.payload.to_vec()),
                Ok(None) => break,
                Err(_) => return,
            };
            let Ok(req) = decode_request(&hdr, &payload) else {
                return;
            };
            let mut g = lock(&st.0);
            g.requests.push((i, hdr, req.clone()));
            if let SvpRequest::LogRm { ids } = &req {
                g.removed.extend_from_slice(ids);
                g.log.retain(|r| !ids.contains(&r.id()));
            }
            drop(g);
            if tx.send((hdr, req)).is_err() {
                return;
            }
        }
    }
}

fn hostile(mode: Mode, hdr: SvpHeader, req: &SvpRequest, reply: &SvpReply) -> Option<Vec<u8>> {
    let good = encode_reply(hdr.id, reply);
    let op = reply.op();
    Some(match mode {
        Mode::Normal => good,
        Mode::Silent | Mode::Close => return None,
        Mode::Garbage => b"this is not an SVP frame at all, sorry".to_vec(),
        Mode::BadCrc => {
            let mut b = good;
            b[12] ^= 0x55;
            b
        }
        Mode::BadSize => {
            let mut payload = good[16..].to_vec();
            if op != SVP_R_LOG_ACK {
                payload.extend_from_slice(&[0; 4]);
            }
            frame(1, op, hdr.id, &payload)
        }
        Mode::BadVersion => frame(2, op, hdr.id, &good[16..]),
        Mode::UnknownOp => frame(1, SVP_R_PONG, hdr.id, &good[16..]),
        Mode::UnknownId => {
            let mut id = hdr.id;
            id[0] ^= 0x80;
            frame(1, op, id, &good[16..])
        }
        Mode::LogOverrun => {
            if let SvpRequest::Log { count, .. } = req {
                // Status + records, 4 bytes more than asked for.
                let mut payload = vec![0u8; *count as usize + 4];
                payload[..4].copy_from_slice(&SVP_S_OK.to_be_bytes());
                for chunk in payload[4..].chunks_mut(32) {
                    if chunk.len() == 32 {
                        chunk[..4].copy_from_slice(&svp_proto::SVP_LOG_VL2.to_be_bytes());
                    }
                }
                frame(1, SVP_R_LOG_ACK, hdr.id, &payload)
            } else {
                good
            }
        }
    })
}

/// A frame with any version/op/payload and a correct CRC.
pub fn frame(ver: u16, op: u16, id: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    svp_proto::msg::encode_frame(&mut out, ver, op, id, payload);
    out
}

/// Read exactly `n` bytes (test helper for raw clients).
pub fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut b = vec![0; n];
    s.read_exact(&mut b).unwrap();
    b
}

//! Hostile clients: 10 000 malformed frames (bad CRC, every op with every
//! wrong size, huge svp_size, bad versions, unknown ops, SHOOTDOWN, half
//! frames then EOF, random bytes), 500 idle connections and half frames
//! left hanging, while a good client keeps getting answers. Every bad
//! frame closes its own connection only, and the counters add up.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Client, TestServer};
use portolan::store::{Mac, Nic, Store};
use svp_proto::msg::encode_frame;
use svp_proto::op::*;
use svp_proto::{SvpReply, SvpRequest};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Want {
    BadCrc,
    BadSize,
    OverCap,
    BadVersion,
    UnknownOp,
    Shootdown,
    Truncated,
    Any,
}

fn counter(w: Want) -> &'static str {
    match w {
        Want::BadCrc => "drop_bad_crc",
        Want::BadSize => "drop_bad_size",
        Want::OverCap => "drop_size_over_cap",
        Want::BadVersion => "drop_bad_version",
        Want::UnknownOp => "drop_unknown_op",
        Want::Shootdown => "drop_shootdown",
        Want::Truncated => "drop_truncated",
        Want::Any => "",
    }
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn frame(ver: u16, op: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    encode_frame(&mut f, ver, op, [1, 2, 3, 4], payload);
    f
}

/// Every bad frame of the deterministic kinds, then random ones up to `n`.
fn corpus(n: usize) -> Vec<(Vec<u8>, Want)> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut v = Vec::new();
    let good: [(u16, usize); 6] = [
        (SVP_R_PING, 0),
        (SVP_R_VL2_REQ, 12),
        (SVP_R_VL3_REQ, 24),
        (SVP_R_BULK_REQ, 4),
        (SVP_R_LOG_REQ, 20),
        (SVP_R_SHOOTDOWN, 12),
    ];
    // Every request op with every wrong size up to 100.
    for (op, size) in good {
        for s in 0..=100usize {
            if s != size {
                v.push((frame(1, op, &rng.bytes(s)), Want::BadSize));
            }
        }
    }
    // LOG_RM whose count disagrees with its size.
    for s in 0..=100usize {
        let mut p = rng.bytes(s);
        if s >= 4 {
            let good_count = ((s - 4) / 16) as u32;
            if (s - 4) % 16 == 0 {
                p[..4].copy_from_slice(&(good_count + 1).to_be_bytes());
            }
        }
        v.push((frame(1, SVP_R_LOG_RM, &p), Want::BadSize));
    }
    // Reply ops and unknown ops, several sizes.
    for op in [0u16, 2, 4, 6, 8, 10, 12, 14, 15, 16, 0x100, 0xffff] {
        for s in [0usize, 4, 12, 20, 28] {
            v.push((frame(1, op, &rng.bytes(s)), Want::UnknownOp));
        }
    }
    // SHOOTDOWN (well formed): no reply, close.
    for _ in 0..20 {
        v.push((frame(1, SVP_R_SHOOTDOWN, &rng.bytes(12)), Want::Shootdown));
    }
    // Bad versions.
    for ver in [0u16, 3, 4, 0x100, 0xffff] {
        for _ in 0..10 {
            v.push((frame(ver, SVP_R_PING, &[]), Want::BadVersion));
        }
    }
    // Huge svp_size (only the header is sent).
    for size in [65_537u32, 1 << 20, u32::MAX] {
        let mut h = frame(1, SVP_R_LOG_RM, &[]);
        h[4..8].copy_from_slice(&size.to_be_bytes());
        for _ in 0..10 {
            v.push((h.clone(), Want::OverCap));
        }
    }
    // Half frames, then EOF.
    let full = frame(1, SVP_R_VL3_REQ, &[7; 24]);
    for cut in 1..full.len() {
        v.push((full[..cut].to_vec(), Want::Truncated));
    }
    // Bad CRCs: valid frames of every request op, one bit flipped in the
    // CRC or the payload. Fill to about 40% of the corpus.
    let reqs = [
        SvpRequest::Ping,
        SvpRequest::Vl2 {
            mac: [2, 0, 0, 0, 0, 1],
            vnetid: 23,
        },
        SvpRequest::Log {
            count: 1024,
            ip: std::net::Ipv6Addr::LOCALHOST,
        },
        SvpRequest::LogRm {
            ids: vec![[5; 16]; 3],
        },
    ];
    let mut i = 0;
    while v.len() < n * 4 / 10 {
        let mut f = svp_proto::encode_request([0; 4], &reqs[i % reqs.len()]);
        let pos = if f.len() > 16 && i % 2 == 0 {
            16 + (rng.next() as usize) % (f.len() - 16)
        } else {
            12 + (rng.next() as usize) % 4
        };
        f[pos] ^= 1 << (rng.next() % 8);
        v.push((f, Want::BadCrc));
        i += 1;
    }
    // Random bytes for the rest: whatever they are, they close the
    // connection and are counted under some reason.
    while v.len() < n {
        let len = 1 + (rng.next() as usize) % 120;
        v.push((rng.bytes(len), Want::Any));
    }
    v
}

/// Send `bytes`, half-close, and wait for portolan to close.
fn hit(addr: SocketAddr, bytes: &[u8]) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = s.write_all(bytes);
    let _ = s.shutdown(Shutdown::Write);
    let mut b = [0u8; 512];
    loop {
        match s.read(&mut b) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
            Err(e) => panic!("portolan did not close a hostile connection: {e}"),
        }
    }
}

#[test]
fn hostile_frames_idle_connections_and_a_good_client() {
    let ts = TestServer::start("hostile", 1 << 12);
    let s = ts.store.as_ref() as &dyn Store;
    s.add_host("cn1", "10.0.0.1".parse().unwrap(), 4789)
        .unwrap();
    s.add_nic(&Nic {
        vnet: 23,
        mac: Mac([2, 0, 0, 0, 0, 1]),
        ip: "192.168.0.1".parse().unwrap(),
        vlan: 0,
        host: "cn1".into(),
    })
    .unwrap();
    let addr = ts.addr;

    // 500 idle connections and 50 half frames left hanging.
    let mut idle: Vec<TcpStream> = (0..500)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    let half = frame(1, SVP_R_VL2_REQ, &[0; 12]);
    for _ in 0..50 {
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(&half[..21]).unwrap();
        idle.push(c);
    }

    // The good client, all along.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let good = {
        let (stop, answered) = (Arc::clone(&stop), Arc::clone(&answered));
        std::thread::spawn(move || {
            let mut c = Client::connect(addr);
            let q = SvpRequest::Vl2 {
                mac: [2, 0, 0, 0, 0, 1],
                vnetid: 23,
            };
            while !stop.load(Ordering::SeqCst) {
                let r = c.call(&q);
                assert_eq!(r.status(), 0, "{r:?}");
                answered.fetch_add(1, Ordering::SeqCst);
            }
        })
    };

    let corpus = Arc::new(corpus(10_000));
    assert_eq!(corpus.len(), 10_000);
    let nthreads = 4;
    let workers: Vec<_> = (0..nthreads)
        .map(|t| {
            let corpus = Arc::clone(&corpus);
            std::thread::spawn(move || {
                for (i, (bytes, _)) in corpus.iter().enumerate() {
                    if i % nthreads == t {
                        hit(addr, bytes);
                    }
                }
            })
        })
        .collect();
    let before = answered.load(Ordering::SeqCst);
    for w in workers {
        w.join().unwrap();
    }
    // The good client was served during the attack and still is.
    let during = answered.load(Ordering::SeqCst) - before;
    let t0 = Instant::now();
    while answered.load(Ordering::SeqCst) < before + during + 100 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "good client starved"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::SeqCst);
    good.join().unwrap();
    assert!(during > 0, "good client got no answer during the attack");

    // Idle and half-frame connections are still open and served.
    for c in idle.iter_mut().step_by(50) {
        c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let mut b = [0u8; 1];
        match c.read(&mut b) {
            Err(e) => assert!(
                matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "{e}"
            ),
            Ok(n) => panic!("an idle connection got {n} bytes or EOF"),
        }
    }
    let mut c = Client::connect(addr);
    let id = c.send(&SvpRequest::Ping);
    let (_, rid, r) = c.recv();
    assert_eq!((rid, r), (id, SvpReply::Pong));
    // A hanging half frame, completed, is answered.
    let last = idle.last_mut().unwrap();
    last.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    last.write_all(&half[21..]).unwrap();
    let mut rep = [0u8; 36];
    last.read_exact(&mut rep).unwrap();
    assert_eq!(&rep[2..4], &SVP_R_VL2_ACK.to_be_bytes());

    // Counters: each deterministic kind exactly; the random ones somewhere.
    let hostile = corpus.len() as u64;
    let t0 = Instant::now();
    let reasons = [
        "drop_bad_crc",
        "drop_bad_size",
        "drop_size_over_cap",
        "drop_bad_version",
        "drop_unknown_op",
        "drop_shootdown",
        "drop_truncated",
        "close_eof",
        "close_io_error",
    ];
    loop {
        let total: u64 = reasons.iter().map(|r| ts.stat(r)).sum();
        // + the good client's connection, once closed.
        if total >= hostile {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "counted {total} of {hostile}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut det = std::collections::HashMap::new();
    for (_, w) in corpus.iter() {
        *det.entry(*w).or_insert(0u64) += 1;
    }
    let any = det.remove(&Want::Any).unwrap_or(0);
    let mut extra = 0;
    for (w, n) in &det {
        let got = ts.stat(counter(*w));
        assert!(got >= *n, "{}: {got} < {n}", counter(*w));
        extra += got - n;
    }
    // What the random frames produced, plus clean EOFs of the good client.
    let rest = extra + ts.stat("close_eof") + ts.stat("close_io_error");
    assert!(
        rest >= any && rest <= any + 2,
        "random {any}, other closes {rest}"
    );
    assert_eq!(ts.stat("conns_open"), 500 + 50 + 1);
    drop(idle);
}

//! `portolan bench`: lookups per second and latency of a real portolan.
//!
//! # Theory of operation
//!
//! A fresh SQLite store in a temporary directory is loaded with N mappings
//! (10 hosts; NIC i has MAC 02:00:i, IP 10.x.y.z from i, vnet 100 + i/4096),
//! an in-process server listens on 127.0.0.1 with the normal settings, and
//! C client threads each keep W requests in flight on their own TCP
//! connection (writing the missing ones in one `write`, reading replies as
//! they come). Every request asks for a uniformly random one of the N
//! mappings, so with N above the cache size most lookups reach SQLite. Each
//! reply's latency (send → receive) is recorded; the result is replies per
//! second and the p50/p99/p99.9 latency. Clients and server share the
//! machine's CPUs.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use svp_proto::{decode_reply, SvpFrameReader, SvpRequest, SVP_VL3_IP};

use crate::server::{Server, ServerConfig};
use crate::stats::Stats;
use crate::store::sqlite::SqliteStore;
use crate::store::{Host, Mac, Nic, Store};

/// Which lookup to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BenchOp {
    Vl2,
    Vl3,
}

/// One run's settings.
#[derive(Debug, Clone)]
pub struct BenchOpts {
    pub mappings: u32,
    pub clients: usize,
    pub window: usize,
    pub duration: Duration,
    pub op: BenchOp,
    pub threads: usize,
    pub cache_entries: usize,
}

/// One run's result.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub op: BenchOp,
    pub mappings: u32,
    pub clients: usize,
    pub window: usize,
    pub replies: u64,
    pub per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub cache_hit_pct: f64,
}

fn nic(i: u32) -> Nic {
    let b = i.to_be_bytes();
    Nic {
        vnet: 100 + i / 4096,
        mac: Mac([2, 0, b[0], b[1], b[2], b[3]]),
        ip: Ipv4Addr::new(10, b[1], b[2], b[3]).into(),
        vlan: 0,
        host: format!("cn{}", i % 10),
    }
}

/// A loaded store in a fresh temporary directory.
pub struct BenchStore {
    pub dir: PathBuf,
    pub store: Arc<SqliteStore>,
    pub mappings: u32,
}

impl BenchStore {
    /// Load `mappings` NICs (at most 2^24).
    pub fn load(mappings: u32) -> Result<BenchStore, String> {
        let dir =
            std::env::temp_dir().join(format!("portolan-bench-{}-{mappings}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = SqliteStore::open(&dir.join("bench.db")).map_err(|e| e.to_string())?;
        let hosts: Vec<Host> = (0..10)
            .map(|h| Host {
                id: format!("cn{h}"),
                ip: Ipv4Addr::new(192, 0, 2, 1 + h as u8).into(),
                port: 4789,
            })
            .collect();
        let nics: Vec<Nic> = (0..mappings.min(1 << 24)).map(nic).collect();
        store.bulk_load(&hosts, &nics).map_err(|e| e.to_string())?;
        Ok(BenchStore {
            dir,
            store: Arc::new(store),
            mappings,
        })
    }
}

impl Drop for BenchStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn client(addr: SocketAddr, o: BenchOpts, seed: u64, until: Instant) -> std::io::Result<Vec<u32>> {
    let mut sock = TcpStream::connect(addr)?;
    sock.set_nodelay(true)?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut rd = SvpFrameReader::new(1 << 16);
    let mut rng = seed | 1;
    let mut sent: std::collections::VecDeque<(u32, Instant)> = Default::default();
    let mut lat = Vec::with_capacity(1 << 20);
    let mut next_id = 0u32;
    let mut buf = Vec::new();
    loop {
        let now = Instant::now();
        if now < until {
            buf.clear();
            while sent.len() < o.window {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let n = nic((rng % u64::from(o.mappings.max(1))) as u32);
                let req = match o.op {
                    BenchOp::Vl2 => SvpRequest::Vl2 {
                        mac: n.mac.0,
                        vnetid: n.vnet,
                    },
                    BenchOp::Vl3 => SvpRequest::Vl3 {
                        ip: crate::store::to_wire_ip(n.ip),
                        l3type: SVP_VL3_IP,
                        vnetid: n.vnet,
                    },
                };
                req.encode_into(next_id.to_be_bytes(), &mut buf);
                sent.push_back((next_id, now));
                next_id = next_id.wrapping_add(1);
            }
            if !buf.is_empty() {
                sock.write_all(&buf)?;
            }
        } else if sent.is_empty() {
            return Ok(lat);
        }
        if rd.read_from(&mut sock)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let now = Instant::now();
        while let Some(f) = rd
            .next_frame()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?
        {
            let rep = decode_reply(&f.hdr, f.payload)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            if rep.status() != 0 {
                return Err(std::io::Error::other(format!("lookup failed: {rep:?}")));
            }
            let id = u32::from_be_bytes(f.hdr.id);
            let Some((sid, t)) = sent.pop_front() else {
                return Err(std::io::Error::other("unexpected reply"));
            };
            if sid != id {
                return Err(std::io::Error::other("reply out of order"));
            }
            lat.push(now.duration_since(t).as_nanos().min(u128::from(u32::MAX)) as u32);
        }
    }
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

/// Run one measurement against `bs`.
pub fn run(bs: &BenchStore, o: &BenchOpts) -> Result<BenchResult, String> {
    let stats = Arc::new(Stats::default());
    let cfg = ServerConfig {
        listen: vec!["127.0.0.1:0".parse().map_err(|e| format!("{e}"))?],
        threads: o.threads,
        cache_entries: o.cache_entries,
        ..ServerConfig::default()
    };
    let server = Server::start(&cfg, bs.store.clone() as Arc<dyn Store>, stats.clone())?;
    let addr = server.local_addrs()[0];
    let o2 = BenchOpts {
        mappings: bs.mappings,
        ..o.clone()
    };
    // A short warm-up, not counted.
    let warm = Instant::now() + Duration::from_millis(300);
    let _ = client(addr, o2.clone(), 7, warm);
    let hits0 = stats.cache_hits.load(std::sync::atomic::Ordering::Relaxed);
    let miss0 = stats
        .cache_misses
        .load(std::sync::atomic::Ordering::Relaxed);
    let t0 = Instant::now();
    let until = t0 + o.duration;
    let threads: Vec<_> = (0..o.clients)
        .map(|c| {
            let o2 = o2.clone();
            std::thread::spawn(move || client(addr, o2, 0x9e37_79b9 * (c as u64 + 3), until))
        })
        .collect();
    let mut lat = Vec::new();
    let mut err = None;
    for t in threads {
        match t.join() {
            Ok(Ok(l)) => lat.extend(l),
            Ok(Err(e)) => err = Some(e.to_string()),
            Err(_) => err = Some("client thread panicked".into()),
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let hits = stats.cache_hits.load(std::sync::atomic::Ordering::Relaxed) - hits0;
    let miss = stats
        .cache_misses
        .load(std::sync::atomic::Ordering::Relaxed)
        - miss0;
    server.shutdown();
    if let Some(e) = err {
        return Err(e);
    }
    lat.sort_unstable();
    Ok(BenchResult {
        op: o.op,
        mappings: bs.mappings,
        clients: o.clients,
        window: o.window,
        replies: lat.len() as u64,
        per_sec: lat.len() as f64 / secs,
        p50_us: pct(&lat, 0.50),
        p99_us: pct(&lat, 0.99),
        p999_us: pct(&lat, 0.999),
        cache_hit_pct: if hits + miss == 0 {
            0.0
        } else {
            100.0 * hits as f64 / (hits + miss) as f64
        },
    })
}

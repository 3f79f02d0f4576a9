//! svp_bench: lookups/s and latency of portolan, over SVP, on SQLite or a
//! private PostgreSQL cluster; and the cost of a move-nic fan-out.
//!
//! # Theory of operation
//!
//! The bench makes its own database (a SQLite file in a temp dir, or a
//! PostgreSQL cluster through `overlay-pgtest`), creates the schema by
//! opening the store, adds 1 000 hosts and then `--mappings` NICs on vnet
//! 23 written straight into the `nics` table (the operator path writes log
//! events per NIC and would take hours for 10^6). It then starts
//! `--portolans` release `portolan` processes on that database, each on its
//! own port of 127.0.0.1, and drives them with `--conns` TCP connections,
//! each keeping `--depth` requests in flight (the svp plugin pipelines the
//! same way). Keys are uniformly random over every mapping, so with 10^5
//! or more mappings the per-worker cache mostly misses; `--cache-entries 0`
//! turns it off. Each reply's latency (request written → reply read) goes
//! into a histogram; the output is one line of lookups/s, p50, p99.
//!
//! `--matrix` runs, on one database, every combination of the cache
//! (portolan's default size, and off), one and two portolans, and VL2 and
//! VL3 lookups.
//!
//! `--fanout HOSTS` measures instead: HOSTS hosts each with a NIC on vnet
//! 77, then one `move_nic` (the store call `portolan move-nic` makes: the
//! mapping and one event per host in one transaction), timed over five
//! moves; and the time for every host's LOG_REQ/LOG_RM, sent through the
//! portolans over `--conns` connections, to drain the log.
//!
//! ```text
//! cargo build --release -p portolan --bins --examples
//! target/release/examples/svp_bench --store postgres --mappings 100000 --op vl2
//! target/release/examples/svp_bench --store sqlite --mappings 1000000 --matrix
//! target/release/examples/svp_bench --store sqlite --fanout 1000
//! ```

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use overlay_pgtest::{PgCluster, PgOptions};
use portolan::store::{to_wire_ip, Mac, Store};
use svp_proto::status::SVP_S_OK;
use svp_proto::{decode_reply, SvpFrameReader, SvpReply, SvpRequest};

#[derive(Clone)]
struct Args {
    matrix: bool,
    store: String,
    mappings: u64,
    portolans: usize,
    op: String,
    conns: usize,
    depth: usize,
    seconds: u64,
    cache_entries: Option<usize>,
    fanout: Option<u32>,
}

fn usage() -> ! {
    eprintln!(
        "usage: svp_bench [--store sqlite|postgres] [--mappings N] [--portolans K] \
         [--op vl2|vl3] [--conns C] [--depth D] [--seconds S] [--cache-entries E] \
         [--matrix] [--fanout HOSTS]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        matrix: false,
        store: "postgres".into(),
        mappings: 1000,
        portolans: 1,
        op: "vl2".into(),
        conns: 4,
        depth: 4,
        seconds: 5,
        cache_entries: None,
        fanout: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        if k == "--matrix" {
            a.matrix = true;
            continue;
        }
        let v = it.next().unwrap_or_else(|| usage());
        let num = |v: &str| v.parse::<u64>().unwrap_or_else(|_| usage());
        match k.as_str() {
            "--store" => a.store = v,
            "--mappings" => a.mappings = num(&v),
            "--portolans" => a.portolans = num(&v) as usize,
            "--op" => a.op = v,
            "--conns" => a.conns = num(&v) as usize,
            "--depth" => a.depth = num(&v) as usize,
            "--seconds" => a.seconds = num(&v),
            "--cache-entries" => a.cache_entries = Some(num(&v) as usize),
            "--fanout" => a.fanout = Some(num(&v) as u32),
            _ => usage(),
        }
    }
    if !matches!(a.store.as_str(), "sqlite" | "postgres") || !matches!(a.op.as_str(), "vl2" | "vl3")
    {
        usage();
    }
    a
}

/// NIC number `g`'s MAC and IP.
fn mac_of(g: u64) -> Mac {
    Mac([
        2,
        0xbe,
        (g >> 24) as u8,
        (g >> 16) as u8,
        (g >> 8) as u8,
        g as u8,
    ])
}

fn ip_of(g: u64) -> Ipv4Addr {
    Ipv4Addr::from(0x0a80_0000u32 + g as u32)
}

fn host_ip(h: u32) -> Ipv4Addr {
    Ipv4Addr::from(0xac10_0000u32 + h)
}

const HOSTS: u32 = 1000;

/// The database: where it lives and its `--db` value.
enum Db {
    Sqlite(PathBuf),
    Postgres(Box<PgCluster>),
}

impl Db {
    fn new(kind: &str) -> Db {
        if kind == "sqlite" {
            let dir = std::env::temp_dir().join(format!("svp-bench-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("mkdir");
            Db::Sqlite(dir.join("portolan.db"))
        } else {
            Db::Postgres(Box::new(PgCluster::start_with(
                PgOptions::default().setting("shared_buffers", "256MB"),
            )))
        }
    }

    fn url(&self) -> String {
        match self {
            Db::Sqlite(p) => p.display().to_string(),
            Db::Postgres(pg) => pg.url(),
        }
    }

    /// Bulk-load NICs `0..n` on `vnet`, spread over the hosts `h0..h0+hosts`.
    fn load_nics(&self, vnet: u32, n: u64, host_prefix: &str, hosts: u32) {
        match self {
            Db::Postgres(pg) => {
                pg.psql(&format!(
                    "INSERT INTO nics (vnet, mac, ip, vlan, host) \
                     SELECT {vnet}, \
                       ('02:be:' || lpad(to_hex((g >> 24) & 255), 2, '0') || ':' || \
                        lpad(to_hex((g >> 16) & 255), 2, '0') || ':' || \
                        lpad(to_hex((g >> 8) & 255), 2, '0') || ':' || \
                        lpad(to_hex(g & 255), 2, '0'))::macaddr, \
                       ('10.128.0.0'::inet + g), 0, '{host_prefix}' || (g % {hosts}) \
                     FROM generate_series(0, {}) g; ANALYZE",
                    n - 1
                ));
            }
            Db::Sqlite(p) => {
                let mut c = rusqlite::Connection::open(p).expect("open sqlite");
                let tx = c.transaction().expect("begin");
                {
                    let mut st = tx
                        .prepare(
                            "INSERT INTO nics (vnet, mac, ip, vlan, host) VALUES (?1, ?2, ?3, 0, ?4)",
                        )
                        .expect("prepare");
                    for g in 0..n {
                        let host = format!("{host_prefix}{}", g % u64::from(hosts));
                        st.execute(rusqlite::params![
                            vnet,
                            &mac_of(g).0[..],
                            &ip_of(g).to_ipv6_mapped().octets()[..],
                            host
                        ])
                        .expect("insert");
                    }
                }
                tx.commit().expect("commit");
                c.execute_batch("ANALYZE").expect("analyze");
            }
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Db::Sqlite(p) = self {
            if let Some(d) = p.parent() {
                let _ = std::fs::remove_dir_all(d);
            }
        }
    }
}

/// A running `portolan -f` on 127.0.0.1:port.
struct Portolan {
    child: Child,
    addr: SocketAddr,
    root: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

impl Portolan {
    fn start(db: &str, cache_entries: Option<usize>, n: usize) -> Portolan {
        let exe = std::env::current_exe().expect("exe");
        let bin = exe
            .parent()
            .and_then(|d| d.parent())
            .expect("target dir")
            .join("portolan");
        let port = free_port();
        let root = std::env::temp_dir().join(format!("svp-bench-root-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&root).expect("mkdir root");
        let mut cmd = Command::new(&bin);
        cmd.arg("-f")
            .arg("-R")
            .arg(&root)
            .arg("--db")
            .arg(db)
            .arg("-l")
            .arg(format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(e) = cache_entries {
            cmd.arg("--cache-entries").arg(e.to_string());
        }
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "{}: {e} (build it: cargo build --release -p portolan)",
                bin.display()
            )
        });
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let t0 = Instant::now();
        while TcpStream::connect(addr).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "portolan did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Portolan { child, addr, root }
    }
}

impl Drop for Portolan {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A pipelining SVP client.
struct Client {
    s: TcpStream,
    r: SvpFrameReader,
    next: u32,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_nodelay(true).unwrap();
        Client {
            s,
            r: SvpFrameReader::new(1 << 20),
            next: 0,
        }
    }

    fn send(&mut self, req: &SvpRequest) {
        let mut out = Vec::with_capacity(64);
        req.encode_into(self.next.to_be_bytes(), &mut out);
        self.next = self.next.wrapping_add(1);
        self.s.write_all(&out).expect("write");
    }

    fn recv(&mut self) -> SvpReply {
        loop {
            if let Some(f) = self.r.next_frame().expect("frame") {
                return decode_reply(&f.hdr, f.payload).expect("reply");
            }
            let mut buf = [0u8; 16384];
            let n = self.s.read(&mut buf).expect("read");
            assert!(n > 0, "portolan closed the connection");
            self.r.push(&buf[..n]);
        }
    }
}

/// xorshift64*: cheap uniform keys.
fn rnd(s: &mut u64) -> u64 {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    s.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

fn lookups(a: &Args, ports: &[Portolan]) {
    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicU64::new(0));
    // Latency histogram in microseconds (capped at 100 ms).
    let hist = Arc::new(Mutex::new(vec![0u64; 100_001]));
    let ts: Vec<_> = (0..a.conns)
        .map(|i| {
            let addr = ports[i % ports.len()].addr;
            let (stop, measuring, total, hist) =
                (stop.clone(), measuring.clone(), total.clone(), hist.clone());
            let (depth, n, vl3) = (a.depth, a.mappings, a.op == "vl3");
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ (i as u64 + 1);
                let mut local = vec![0u64; 100_001];
                let mut sent = std::collections::VecDeque::new();
                let mut count = 0u64;
                let req = |seed: &mut u64| {
                    let g = rnd(seed) % n;
                    if vl3 {
                        SvpRequest::Vl3 {
                            ip: ip_of(g).to_ipv6_mapped(),
                            l3type: 1,
                            vnetid: 23,
                        }
                    } else {
                        SvpRequest::Vl2 {
                            mac: mac_of(g).0,
                            vnetid: 23,
                        }
                    }
                };
                for _ in 0..depth {
                    c.send(&req(&mut seed));
                    sent.push_back(Instant::now());
                }
                while !stop.load(Ordering::Relaxed) {
                    let rep = c.recv();
                    let t = sent.pop_front().expect("in flight");
                    if rep.status() != SVP_S_OK {
                        panic!("lookup failed: status {}", rep.status());
                    }
                    if measuring.load(Ordering::Relaxed) {
                        let us = t.elapsed().as_micros().min(100_000) as usize;
                        local[us] += 1;
                        count += 1;
                    }
                    c.send(&req(&mut seed));
                    sent.push_back(Instant::now());
                }
                total.fetch_add(count, Ordering::Relaxed);
                let mut h = hist.lock().unwrap();
                for (i, v) in local.iter().enumerate() {
                    h[i] += v;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    measuring.store(true, Ordering::Relaxed);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(a.seconds));
    measuring.store(false, Ordering::Relaxed);
    let secs = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in ts {
        t.join().expect("client thread");
    }
    let n = total.load(Ordering::Relaxed);
    let h = hist.lock().unwrap();
    let pct = |p: f64| {
        let want = (n as f64 * p).ceil() as u64;
        let mut acc = 0;
        for (us, c) in h.iter().enumerate() {
            acc += c;
            if acc >= want {
                return us;
            }
        }
        100_000
    };
    println!(
        "store={} mappings={} portolans={} op={} conns={} depth={} cache={}: \
         {:.0} lookups/s  p50 {} us  p99 {} us  p99.9 {} us",
        a.store,
        a.mappings,
        a.portolans,
        a.op,
        a.conns,
        a.depth,
        a.cache_entries
            .map_or("default".to_string(), |e| e.to_string()),
        n as f64 / secs,
        pct(0.50),
        pct(0.99),
        pct(0.999),
    );
}

fn fanout(a: &Args, db: &Db, store: &dyn Store, hosts: u32) {
    for h in 0..hosts {
        store
            .add_host(
                &format!("f{h}"),
                std::net::IpAddr::V4(Ipv4Addr::from(0xac20_0000u32 + h)),
                4789,
            )
            .expect("add host");
    }
    db.load_nics(77, u64::from(hosts), "f", hosts);
    let mut times = Vec::new();
    let mut written = 0u64;
    for i in 0..5u32 {
        let to = format!("f{}", (i + 1) % hosts);
        let t0 = Instant::now();
        let (_, evs) = store.move_nic(77, mac_of(0), &to).expect("move-nic");
        times.push(t0.elapsed());
        // Every host with a NIC on the vnet, the old and new host included.
        assert!(evs.len() as u32 >= hosts - 1);
        written += evs.len() as u64;
    }
    times.sort();
    println!(
        "store={} fan-out of one move-nic to {hosts} hosts: median {:.1} ms (min {:.1}, max {:.1}) over 5 moves",
        a.store,
        times[2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[4].as_secs_f64() * 1e3
    );
    // Every host drains its 5 events: LOG_REQ, then LOG_RM of what came,
    // until a LOG_ACK is empty.
    let ports = (0..a.portolans)
        .map(|i| Portolan::start(&db.url(), a.cache_entries, i))
        .collect::<Vec<_>>();
    let next = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let ts: Vec<_> = (0..a.conns)
        .map(|i| {
            let addr = ports[i % ports.len()].addr;
            let next = next.clone();
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                let mut drained = 0u64;
                loop {
                    let h = next.fetch_add(1, Ordering::Relaxed);
                    if h >= u64::from(hosts) {
                        return drained;
                    }
                    let ip: Ipv6Addr = to_wire_ip(std::net::IpAddr::V4(Ipv4Addr::from(
                        0xac20_0000u32 + h as u32,
                    )));
                    loop {
                        c.send(&SvpRequest::Log { count: 1024, ip });
                        let SvpReply::LogAck { status, records } = c.recv() else {
                            panic!("not a LOG_ACK");
                        };
                        assert_eq!(status, SVP_S_OK);
                        if records.is_empty() {
                            break;
                        }
                        drained += records.len() as u64;
                        let ids = records.iter().map(|r| r.id()).collect();
                        c.send(&SvpRequest::LogRm { ids });
                        c.recv();
                    }
                }
            })
        })
        .collect();
    let drained: u64 = ts.into_iter().map(|t| t.join().expect("drain")).sum();
    let el = t0.elapsed();
    assert_eq!(drained, written);
    assert!(store.list_events(None).expect("list").is_empty());
    println!(
        "store={} portolans={} conns={}: {hosts} hosts drained {drained} events (LOG_REQ/LOG_RM) in {:.1} ms",
        a.store,
        a.portolans,
        a.conns,
        el.as_secs_f64() * 1e3
    );
}

fn main() {
    let a = parse_args();
    let db = Db::new(&a.store);
    let store = portolan::open_store(&db.url()).expect("open store");
    if let Some(hosts) = a.fanout {
        fanout(&a, &db, store.as_ref(), hosts);
        return;
    }
    for h in 0..HOSTS {
        store
            .add_host(&format!("h{h}"), std::net::IpAddr::V4(host_ip(h)), 4789)
            .expect("add host");
    }
    let t0 = Instant::now();
    db.load_nics(23, a.mappings, "h", HOSTS);
    eprintln!(
        "loaded {} mappings in {:.1} s",
        a.mappings,
        t0.elapsed().as_secs_f64()
    );
    // A spot check through the store before the load.
    let probe = store.vl2_lookup(23, mac_of(a.mappings - 1)).expect("vl2");
    assert!(probe.is_some(), "bulk load not visible");
    // --matrix: every combination of cache (default, off), portolans (1,
    // 2) and op (vl2, vl3) on this one database.
    let runs: Vec<(Option<usize>, usize, &str)> = if a.matrix {
        let mut v = Vec::new();
        for cache in [None, Some(0)] {
            for p in [1, 2] {
                for op in ["vl2", "vl3"] {
                    v.push((cache, p, op));
                }
            }
        }
        v
    } else {
        vec![(a.cache_entries, a.portolans, a.op.as_str())]
    };
    for (cache, portolans, op) in runs {
        let run = Args {
            cache_entries: cache,
            portolans,
            op: op.to_string(),
            ..a.clone()
        };
        let ports: Vec<Portolan> = (0..portolans)
            .map(|i| Portolan::start(&db.url(), cache, i))
            .collect();
        lookups(&run, &ports);
    }
}

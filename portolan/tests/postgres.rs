//! portolan on a real PostgreSQL (a private cluster from `overlay-pgtest`):
//! FATAL answers while the database is down and service again when it is
//! back, nothing committed lost across a crash of the postmaster, operator
//! commands failing cleanly while it is down, and two portolans on one
//! database.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{tmpdir, Client};
use overlay_pgtest::PgCluster;
use portolan::server::{Server, ServerConfig};
use portolan::stats::Stats;
use portolan::store::postgres::PostgresStore;
use portolan::store::{to_wire_ip, Mac, Nic, Store};
use svp_proto::msg::SvpLogId;
use svp_proto::status::*;
use svp_proto::{SvpReply, SvpRequest, SVP_VL3_IP};

const BIN: &str = env!("CARGO_BIN_EXE_portolan");

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn w(s: &str) -> Ipv6Addr {
    to_wire_ip(ip(s))
}

fn mac(n: u8) -> Mac {
    Mac([2, 8, 0x20, 0, 0, n])
}

fn nic(n: u8, host: &str) -> Nic {
    Nic {
        vnet: 23,
        mac: mac(n),
        ip: ip(&format!("192.168.0.{n}")),
        vlan: 0,
        host: host.into(),
    }
}

/// An in-process portolan on its own store (its own pool) of `url`.
struct Portolan {
    server: Option<Server>,
    addr: SocketAddr,
    stats: Arc<Stats>,
}

impl Portolan {
    fn start(url: &str, cache_entries: usize) -> Portolan {
        let store: Arc<dyn Store> = Arc::new(PostgresStore::open(url).unwrap());
        let cfg = ServerConfig {
            listen: vec!["127.0.0.1:0".parse().unwrap()],
            threads: 2,
            cache_entries,
            cache_poll: Duration::from_millis(100),
        };
        let stats = Arc::new(Stats::default());
        let server = Server::start(&cfg, store, Arc::clone(&stats)).unwrap();
        let addr = server.local_addrs()[0];
        Portolan {
            server: Some(server),
            addr,
            stats,
        }
    }
}

impl Drop for Portolan {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown();
        }
    }
}

/// Three hosts and two NICs on vnet 23 (mac 1 on cn1, mac 2 on cn2).
fn populate(url: &str) {
    let s = PostgresStore::open(url).unwrap();
    s.add_host("cn1", ip("10.0.0.1"), 4789).unwrap();
    s.add_host("cn2", ip("10.0.0.2"), 4789).unwrap();
    s.add_host("cn3", ip("10.0.0.3"), 4790).unwrap();
    s.add_nic(&nic(1, "cn1")).unwrap();
    s.add_nic(&nic(2, "cn2")).unwrap();
}

fn vl2(c: &mut Client, n: u8) -> (u16, Ipv6Addr) {
    match c.call(&SvpRequest::Vl2 {
        mac: mac(n).0,
        vnetid: 23,
    }) {
        SvpReply::Vl2Ack { status, addr, .. } => (status, addr),
        r => panic!("not a VL2_ACK: {r:?}"),
    }
}

fn vl3_status(c: &mut Client, n: u8) -> u32 {
    match c.call(&SvpRequest::Vl3 {
        ip: w(&format!("192.168.0.{n}")),
        l3type: SVP_VL3_IP,
        vnetid: 23,
    }) {
        SvpReply::Vl3Ack { status, .. } => status,
        r => panic!("not a VL3_ACK: {r:?}"),
    }
}

fn log_req(c: &mut Client, host_ip: &str) -> (u32, Vec<SvpLogId>) {
    match c.call(&SvpRequest::Log {
        count: 1024,
        ip: w(host_ip),
    }) {
        SvpReply::LogAck { status, records } => (status, records.iter().map(|r| r.id()).collect()),
        r => panic!("not a LOG_ACK: {r:?}"),
    }
}

fn log_rm(c: &mut Client, ids: Vec<SvpLogId>) -> u32 {
    match c.call(&SvpRequest::LogRm { ids }) {
        SvpReply::LogRmAck { status } => status,
        r => panic!("not a LOG_RM_ACK: {r:?}"),
    }
}

fn cli(root: &Path, url: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("-R")
        .arg(root)
        .arg("--db")
        .arg(url)
        .args(args)
        .env_remove("OVERLAY_ROOT")
        .output()
        .unwrap()
}

/// PostgreSQL stopped → FATAL answers (cache off: every lookup asks the
/// database); started again → the same portolan serves again on its own.
/// Then the same across a kill -9 of the postmaster, with the data intact.
#[test]
fn fatal_while_down_then_serves_again() {
    let mut pg = PgCluster::start();
    populate(&pg.url());
    let p = Portolan::start(&pg.url(), 0);
    let mut c = Client::connect(p.addr);
    assert_eq!(vl2(&mut c, 1), (SVP_S_OK as u16, w("10.0.0.1")));

    pg.stop();
    let mut c = Client::connect(p.addr);
    assert_eq!(vl2(&mut c, 1).0, SVP_S_FATAL as u16);
    assert_eq!(vl3_status(&mut c, 2), SVP_S_FATAL);
    assert_eq!(log_req(&mut c, "10.0.0.1").0, SVP_S_FATAL);
    pg.restart();
    // Reconnected on its own: the very next lookups are answered.
    let mut c = Client::connect(p.addr);
    assert_eq!(vl2(&mut c, 1), (SVP_S_OK as u16, w("10.0.0.1")));
    assert_eq!(vl3_status(&mut c, 2), SVP_S_OK);

    // A crash: committed changes (made just before) survive it.
    let s = PostgresStore::open(&pg.url()).unwrap();
    let (_, evs) = s.move_nic(23, mac(1), "cn3").unwrap();
    pg.kill9();
    assert_eq!(vl2(&mut c, 2).0, SVP_S_FATAL as u16);
    pg.restart();
    let mut c = Client::connect(p.addr);
    assert_eq!(vl2(&mut c, 1), (SVP_S_OK as u16, w("10.0.0.3")));
    let (st, ids) = log_req(&mut c, "10.0.0.2");
    assert_eq!(st, SVP_S_OK);
    let want: Vec<SvpLogId> = evs
        .iter()
        .filter(|e| e.host == "cn2")
        .map(|e| e.id.0)
        .collect();
    assert_eq!(ids, want);
}

/// With the cache on, answers already cached keep coming while the
/// database is down (Triton's choice of availability); what is not cached
/// is FATAL.
#[test]
fn cached_answers_survive_an_outage() {
    let mut pg = PgCluster::start();
    populate(&pg.url());
    let p = Portolan::start(&pg.url(), 1024);
    let mut c = Client::connect(p.addr);
    assert_eq!(vl2(&mut c, 1).0, SVP_S_OK as u16);
    pg.stop();
    let mut ok = 0;
    let mut fatal = 0;
    // Each worker has its own cache: ask a few times on fresh connections.
    for _ in 0..8 {
        let mut c = Client::connect(p.addr);
        match vl2(&mut c, 1).0 as u32 {
            SVP_S_OK => ok += 1,
            SVP_S_FATAL => fatal += 1,
            s => panic!("status {s}"),
        }
        assert_eq!(vl2(&mut c, 2).0 as u32, SVP_S_FATAL, "never looked up");
    }
    assert!(
        ok >= 1,
        "no cached answer during the outage ({fatal} FATAL)"
    );
    pg.restart();
    let mut c = Client::connect(p.addr);
    assert_eq!(vl2(&mut c, 2).0 as u32, SVP_S_OK);
}

/// Operator commands while PostgreSQL is down fail with a message naming
/// the server and write nothing; once it is back they work.
#[test]
fn operator_commands_while_down() {
    let mut pg = PgCluster::start();
    populate(&pg.url());
    let root = tmpdir("pgcli");
    let url = pg.url();
    pg.stop();
    let want = format!(
        "portolan: database error: PostgreSQL 127.0.0.1:{}/portolan: cannot connect: \
         Connection refused (os error 111)\n",
        pg.port()
    );
    for args in [
        &["add-host", "cn9", "10.0.0.9"][..],
        &[
            "move-nic",
            "--vnet",
            "23",
            "--mac",
            "2:8:20:0:0:1",
            "--host",
            "cn3",
        ],
        &["list-hosts"],
    ] {
        let o = cli(&root, &url, args);
        assert!(!o.status.success(), "{args:?} succeeded while down");
        assert_eq!(String::from_utf8_lossy(&o.stderr), want, "{args:?}");
    }
    pg.restart();
    let o = cli(&root, &url, &["list-hosts", "-p"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ids: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| l.split(':').next().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["cn1", "cn2", "cn3"]);
    assert_eq!(
        pg.psql("SELECT host FROM nics WHERE mac = '02:08:20:00:00:01'"),
        "cn1"
    );
    let o = cli(
        &root,
        &url,
        &[
            "move-nic",
            "--vnet",
            "23",
            "--mac",
            "2:8:20:0:0:1",
            "--host",
            "cn3",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let _ = std::fs::remove_dir_all(root);
}

/// Two portolans on one database: a move-nic made with the CLI reaches
/// LOG_REQ and VL2 answers through either (within the cache poll
/// interval), and one dying leaves the other serving.
#[test]
fn two_portolans_one_database() {
    let pg = PgCluster::start();
    populate(&pg.url());
    let a = Portolan::start(&pg.url(), 1024);
    let mut b = Portolan::start(&pg.url(), 1024);
    let mut ca = Client::connect(a.addr);
    let mut cb = Client::connect(b.addr);
    // Both cache mac 1 on cn1.
    for _ in 0..4 {
        assert_eq!(vl2(&mut ca, 1).1, w("10.0.0.1"));
        assert_eq!(vl2(&mut cb, 1).1, w("10.0.0.1"));
    }
    let root = tmpdir("pgtwo");
    let o = cli(
        &root,
        &pg.url(),
        &[
            "move-nic",
            "--vnet",
            "23",
            "--mac",
            "2:8:20:0:0:1",
            "--host",
            "cn3",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // cn2's log, through b, has the VL2 event at once.
    let (st, ids) = log_req(&mut cb, "10.0.0.2");
    assert_eq!(st, SVP_S_OK);
    assert_eq!(ids.len(), 1);
    // Both answer the new host well within the 10 s bound.
    let t0 = Instant::now();
    loop {
        let fa = vl2(&mut Client::connect(a.addr), 1).1 == w("10.0.0.3")
            && vl2(&mut ca, 1).1 == w("10.0.0.3");
        let fb = vl2(&mut Client::connect(b.addr), 1).1 == w("10.0.0.3")
            && vl2(&mut cb, 1).1 == w("10.0.0.3");
        if fa && fb {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "stale answer after 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // LOG_RM through a removes what b delivered.
    assert_eq!(log_rm(&mut ca, ids), SVP_S_OK);
    assert!(log_req(&mut cb, "10.0.0.2").1.is_empty());
    // b dies; a serves on.
    if let Some(s) = b.server.take() {
        s.shutdown();
    }
    assert!(std::net::TcpStream::connect(b.addr).is_err());
    assert_eq!(vl2(&mut Client::connect(a.addr), 2).1, w("10.0.0.2"));
    let _ = std::fs::remove_dir_all(root);
}

/// One host's LOG_REQ/LOG_RM served by two portolans at once, while moves
/// keep writing events for it: every event is delivered, and none by a
/// LOG_REQ sent after the LOG_RM of it was acknowledged.
#[test]
fn log_through_two_portolans_at_once() {
    let pg = PgCluster::start();
    populate(&pg.url());
    let a = Portolan::start(&pg.url(), 1024);
    let b = Portolan::start(&pg.url(), 1024);
    let clock = Arc::new(AtomicU64::new(0));
    let delivered = Arc::new(Mutex::new(Vec::<(SvpLogId, u64)>::new()));
    let acked = Arc::new(Mutex::new(HashMap::<SvpLogId, u64>::new()));
    let done = Arc::new(AtomicBool::new(false));
    let store = PostgresStore::open(&pg.url()).unwrap();
    let readers: Vec<_> = [a.addr, b.addr, a.addr, b.addr]
        .into_iter()
        .map(|addr| {
            let (clock, delivered, acked, done) = (
                clock.clone(),
                delivered.clone(),
                acked.clone(),
                done.clone(),
            );
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                loop {
                    let finishing = done.load(Ordering::Acquire);
                    let t = clock.fetch_add(1, Ordering::SeqCst);
                    let (st, ids) = log_req(&mut c, "10.0.0.1");
                    assert_eq!(st, SVP_S_OK);
                    if ids.is_empty() && finishing {
                        return;
                    }
                    delivered
                        .lock()
                        .unwrap()
                        .extend(ids.iter().map(|id| (*id, t)));
                    assert_eq!(log_rm(&mut c, ids.clone()), SVP_S_OK);
                    let t = clock.fetch_add(1, Ordering::SeqCst);
                    let mut ack = acked.lock().unwrap();
                    for id in ids {
                        ack.entry(id).or_insert(t);
                    }
                }
            })
        })
        .collect();
    let mut written = Vec::new();
    for i in 0..100 {
        let to = if i % 2 == 0 { "cn3" } else { "cn2" };
        let (_, evs) = store.move_nic(23, mac(2), to).unwrap();
        written.extend(evs.into_iter().filter(|e| e.host == "cn1").map(|e| e.id.0));
    }
    done.store(true, Ordering::Release);
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(written.len(), 100);
    let delivered = delivered.lock().unwrap();
    let acked = acked.lock().unwrap();
    let got: HashSet<SvpLogId> = delivered.iter().map(|(id, _)| *id).collect();
    for id in &written {
        assert!(got.contains(id), "an event was never delivered");
    }
    for (id, t) in delivered.iter() {
        if let Some(rm) = acked.get(id) {
            assert!(
                t < rm,
                "delivered at {t} after its LOG_RM was acknowledged at {rm}"
            );
        }
    }
    assert_eq!(store.list_events(Some("cn1")).unwrap(), vec![]);
}

/// What portolan must answer to request `i` of `pipelined_lookups_batched`
/// (the NICs of `populate` plus mac 3 on cn3, IPv6).
fn pipelined_case(i: u32) -> (SvpRequest, SvpReply) {
    let n = [1u8, 2, 3, 9][(i % 4) as usize];
    let under = |n: u8| match n {
        1 => Some((w("10.0.0.1"), 4789)),
        2 => Some((w("10.0.0.2"), 4789)),
        3 => Some((w("10.0.0.3"), 4790)),
        _ => None,
    };
    let nf = |op| SvpReply::status_only(op, SVP_S_NOTFOUND).unwrap();
    match i % 5 {
        0 | 1 => (
            SvpRequest::Vl2 {
                mac: mac(n).0,
                vnetid: 23,
            },
            match under(n) {
                Some((addr, port)) => SvpReply::Vl2Ack {
                    status: SVP_S_OK as u16,
                    port,
                    addr,
                },
                None => nf(svp_proto::op::SVP_R_VL2_REQ),
            },
        ),
        2 => (
            SvpRequest::Vl3 {
                ip: if n == 3 {
                    w("fd00::3")
                } else {
                    w(&format!("192.168.0.{n}"))
                },
                l3type: if n == 3 {
                    svp_proto::SVP_VL3_IPV6
                } else {
                    SVP_VL3_IP
                },
                vnetid: 23,
            },
            match under(n) {
                Some((uip, uport)) => SvpReply::Vl3Ack {
                    status: SVP_S_OK,
                    mac: mac(n).0,
                    uport,
                    uip,
                },
                None => nf(svp_proto::op::SVP_R_VL3_REQ),
            },
        ),
        3 if n == 9 => (
            SvpRequest::Log {
                count: 1024,
                ip: w("10.0.0.9"),
            },
            SvpReply::status_only(svp_proto::op::SVP_R_LOG_REQ, SVP_S_FATAL).unwrap(),
        ),
        3 => (SvpRequest::Ping, SvpReply::Pong),
        _ => (
            SvpRequest::Vl3 {
                ip: w("192.168.0.1"),
                l3type: 7,
                vnetid: 23,
            },
            SvpReply::status_only(svp_proto::op::SVP_R_VL3_REQ, SVP_S_BADL3TYPE).unwrap(),
        ),
    }
}

/// Requests of every kind pipelined by several clients at once, with no
/// cache: each is answered exactly, with its id, in order; the lookups of
/// a round reach PostgreSQL together (fewer queries than lookups); a
/// SHOOTDOWN closes its connection after the replies to what came before.
#[test]
fn pipelined_lookups_batched() {
    let pg = PgCluster::start();
    populate(&pg.url());
    PostgresStore::open(&pg.url())
        .unwrap()
        .add_nic(&Nic {
            ip: ip("fd00::3"),
            ..nic(3, "cn3")
        })
        .unwrap();
    let p = Portolan::start(&pg.url(), 0);
    let addr = p.addr;
    let clients: Vec<_> = (0..3u32)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                let mut bytes = Vec::new();
                let mut want = Vec::new();
                for i in 0..1500u32 {
                    let (req, rep) = pipelined_case(i + t);
                    let id = (t << 24 | i).to_be_bytes();
                    req.encode_into(id, &mut bytes);
                    want.push((id, rep));
                }
                c.sock.write_all(&bytes).unwrap();
                for (id, rep) in want {
                    let (ver, rid, got) = c.recv();
                    assert_eq!((ver, rid), (1, id), "replies in request order");
                    assert_eq!(got, rep, "reply to request {id:?}");
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let st = |f: fn(&Stats) -> &AtomicU64| f(&p.stats).load(Ordering::Relaxed);
    let lookups = st(|s| &s.cache_misses);
    assert_eq!(lookups, 3 * (600 + 300));
    assert_eq!(st(|s| &s.req_ping), 3 * 225);
    let queries = st(|s| &s.store_lookups);
    assert!(
        queries > 0 && queries < lookups,
        "{queries} store lookups for {lookups} VL2/VL3 requests"
    );
    assert_eq!(st(|s| &s.store_errors), 0);

    // SHOOTDOWN (host-to-host, never sent to portolan) closes after the
    // replies to the requests before it; what follows is not answered.
    let mut c = Client::connect(addr);
    let mut bytes = Vec::new();
    let reqs = [
        pipelined_case(0),
        pipelined_case(3),
        (
            SvpRequest::Shootdown {
                mac: mac(1).0,
                vnetid: 23,
            },
            SvpReply::Pong,
        ),
        pipelined_case(1),
    ];
    for (i, (req, _)) in reqs.iter().enumerate() {
        req.encode_into((i as u32).to_be_bytes(), &mut bytes);
    }
    c.sock.write_all(&bytes).unwrap();
    for (i, (_, rep)) in reqs.iter().take(2).enumerate() {
        let (_, rid, got) = c.recv();
        assert_eq!(rid, (i as u32).to_be_bytes());
        assert_eq!(&got, rep);
    }
    assert!(c.closed(), "SHOOTDOWN closes the connection");
}

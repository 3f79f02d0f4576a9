//! The PostgreSQL store against a real, private PostgreSQL cluster
//! (`overlay-pgtest`): the store suite, migrations, several stores on one
//! database, and outages.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use overlay_pgtest::PgCluster;

use super::schema::{self, SCHEMA_VERSION};
use super::PostgresStore;
use crate::store::suite;
use crate::store::*;

static DB_SEQ: AtomicUsize = AtomicUsize::new(0);

/// A fresh database in `pg`, and its URL.
fn fresh_db(pg: &PgCluster) -> String {
    pg.create_database(&format!("t{}", DB_SEQ.fetch_add(1, Ordering::Relaxed)))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn mac(n: u16) -> Mac {
    Mac([2, 8, 0x20, 0, (n >> 8) as u8, n as u8])
}

fn nic(vnet: u32, n: u16, host: &str) -> Nic {
    Nic {
        vnet,
        mac: mac(n),
        ip: IpAddr::V4([192, 168, (n >> 8) as u8, n as u8].into()),
        vlan: 0,
        host: host.into(),
    }
}

#[test]
fn store_suite() {
    let pg = PgCluster::start();
    suite::run(&mut || Box::new(PostgresStore::open(&fresh_db(&pg)).unwrap()));
}

#[test]
fn schema_created_upgraded_and_newer_refused() {
    let pg = PgCluster::start();
    // A new database gets the current schema.
    let s = PostgresStore::open(&pg.url()).unwrap();
    assert_eq!(s.name(), format!("127.0.0.1:{}/portolan", pg.port()));
    assert_eq!(
        pg.psql("SELECT version FROM portolan_schema"),
        SCHEMA_VERSION.to_string()
    );
    // Opening again changes nothing.
    s.add_host("cn1", ip("10.0.0.1"), 4789).unwrap();
    drop(s);
    let s = PostgresStore::open(&pg.url()).unwrap();
    assert_eq!(s.list_hosts().unwrap().len(), 1);
    drop(s);

    // A version 1 database with data in it is upgraded, data kept.
    let url = fresh_db(&pg);
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    assert_eq!(schema::migrate_to(&mut c, 1).unwrap(), 0);
    c.batch_execute(
        "INSERT INTO hosts VALUES ('cn1', '10.0.0.1', 4789), ('cn2', '10.0.0.2', 4789);
         INSERT INTO nics VALUES (23, '02:08:20:00:00:01', '192.168.0.1', 0, 'cn1');
         INSERT INTO events (id, host, vnet, type, mac)
           VALUES ('00000000-0000-4000-8000-000000000001', 'cn2', 23, 1, '02:08:20:00:00:01');",
    )
    .unwrap();
    let no_col = c.query("SELECT created FROM events", &[]);
    assert!(no_col.is_err(), "version 1 has no events.created");
    drop(c);
    let s = PostgresStore::open(&url).unwrap();
    let db = url.rsplit('/').next().unwrap();
    assert_eq!(
        pg.try_psql_db(db, "SELECT version FROM portolan_schema")
            .unwrap(),
        "2"
    );
    assert_eq!(s.vl2_lookup(23, mac(1)).unwrap().unwrap().port, 4789);
    let evs = s.list_events(Some("cn2")).unwrap();
    assert_eq!(evs.len(), 1);
    assert_eq!(
        evs[0].id.to_string(),
        "00000000-0000-4000-8000-000000000001"
    );
    assert_eq!(
        pg.try_psql_db(db, "SELECT count(*) FROM events WHERE created <= now()")
            .unwrap(),
        "1"
    );
    // New events get their time too.
    s.move_nic(23, mac(1), "cn2").unwrap();
    drop(s);

    // A newer schema is refused, untouched.
    pg.try_psql_db(db, "UPDATE portolan_schema SET version = 99")
        .unwrap();
    let e = PostgresStore::open(&url).err().unwrap();
    let msg = e.to_string();
    assert!(
        msg.contains("schema version 99 is newer than this portolan's 2"),
        "{msg}"
    );
    assert!(msg.contains(&format!("/{db}")), "{msg}");
    assert_eq!(
        pg.try_psql_db(db, "SELECT version FROM portolan_schema")
            .unwrap(),
        "99"
    );
}

#[test]
fn portolans_starting_together_on_an_empty_database() {
    let pg = PgCluster::start();
    let url = pg.url();
    let ts: Vec<_> = (0..4)
        .map(|_| {
            let u = url.clone();
            std::thread::spawn(move || PostgresStore::open(&u).map(|_| ()))
        })
        .collect();
    for t in ts {
        t.join().unwrap().unwrap();
    }
    assert_eq!(pg.psql("SELECT count(*) FROM portolan_schema"), "1");
}

#[test]
fn bad_urls_and_unreachable_servers() {
    let e = PostgresStore::open("postgres://h:notaport/db")
        .err()
        .unwrap();
    assert!(
        matches!(&e, StoreError::Invalid(m) if m.starts_with("invalid PostgreSQL URL")),
        "{e}"
    );
    // Nothing listens on port 1 of localhost.
    let e = PostgresStore::open("postgres://u@127.0.0.1:1/db")
        .err()
        .unwrap();
    let m = e.to_string();
    assert!(
        m.starts_with("database error: PostgreSQL 127.0.0.1:1/db: cannot connect:"),
        "{m}"
    );
    // A database that does not exist.
    let pg = PgCluster::start();
    let e = PostgresStore::open(&pg.url_for("nosuch")).err().unwrap();
    assert!(e.to_string().contains("nosuch"), "{e}");
}

#[test]
fn logged_names_carry_no_password() {
    assert_eq!(
        crate::store_name("postgres://portolan:s3cret@db.example:6432/fabric"),
        "postgres://db.example:6432/fabric"
    );
    assert_eq!(
        crate::store_name("postgresql://%2Frun%2Fpostgresql/fabric"),
        "postgres:///run/postgresql:5432/fabric"
    );
    assert_eq!(
        crate::store_name("/var/lib/portolan/portolan.db"),
        "/var/lib/portolan/portolan.db"
    );
}

/// Two stores (two portolans) on one database: a change through one is
/// seen by the other at once, and concurrent conflicting changes leave
/// exactly one winner.
#[test]
fn two_stores_one_database() {
    let pg = PgCluster::start();
    let a = Arc::new(PostgresStore::open(&pg.url()).unwrap());
    let b = Arc::new(PostgresStore::open(&pg.url()).unwrap());
    for h in 1..=3 {
        a.add_host(&format!("cn{h}"), ip(&format!("10.0.0.{h}")), 4789)
            .unwrap();
    }
    a.add_nic(&nic(23, 1, "cn1")).unwrap();
    b.add_nic(&nic(23, 2, "cn2")).unwrap();
    let g = b.generation().unwrap();
    a.move_nic(23, mac(1), "cn3").unwrap();
    assert_ne!(b.generation().unwrap(), g);
    assert_eq!(
        b.vl2_lookup(23, mac(1)).unwrap().unwrap().ip,
        to_wire_ip(ip("10.0.0.3"))
    );
    let evs = b
        .log_fetch(to_wire_ip(ip("10.0.0.2")), 1020)
        .unwrap()
        .unwrap();
    assert!(evs
        .iter()
        .any(|e| e.record == LogRecord::Vl2 { mac: mac(1) }));

    // 8 threads, 4 per store, all add the same 20 MACs: each MAC is added
    // exactly once, the rest get MacInUse, and the generation moved once
    // per success.
    let g0 = a.generation().unwrap();
    let ok = Arc::new(AtomicUsize::new(0));
    let ts: Vec<_> = (0..8)
        .map(|t| {
            let s = if t % 2 == 0 { a.clone() } else { b.clone() };
            let ok = ok.clone();
            std::thread::spawn(move || {
                for n in 100..120 {
                    match s.add_nic(&nic(24, n, &format!("cn{}", 1 + t % 3))) {
                        Ok(_) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(StoreError::MacInUse { .. }) => {}
                        Err(e) => panic!("add_nic: {e}"),
                    }
                }
            })
        })
        .collect();
    for t in ts {
        t.join().unwrap();
    }
    assert_eq!(ok.load(Ordering::Relaxed), 20);
    assert_eq!(a.list_nics(Some(24)).unwrap().len(), 20);
    assert_eq!(a.generation().unwrap(), g0 + 20);
    // The adds were serialised: of two NICs X, Y on different hosts, the
    // later one's add told the earlier one's host. So for every such pair
    // host(X) has a VL3 event for Y or host(Y) one for X.
    let nics = a.list_nics(Some(24)).unwrap();
    let told: HashSet<(String, Mac)> = a
        .list_events(None)
        .unwrap()
        .into_iter()
        .filter(|e| e.vnet == 24)
        .filter_map(|e| match e.record {
            LogRecord::Vl3 { mac, .. } => Some((e.host, mac)),
            LogRecord::Vl2 { .. } => None,
        })
        .collect();
    for x in &nics {
        for y in &nics {
            if x.host != y.host {
                assert!(
                    told.contains(&(x.host.clone(), y.mac))
                        || told.contains(&(y.host.clone(), x.mac)),
                    "neither {} heard of {} nor {} of {}",
                    x.host,
                    y.mac,
                    y.host,
                    x.mac
                );
            }
        }
    }
}

/// Two portolans serve one host's LOG_REQ/LOG_RM at once while changes
/// keep writing events for it: every event is delivered, and none is
/// delivered by a LOG_REQ that began after its LOG_RM finished.
#[test]
fn concurrent_log_req_and_log_rm_for_one_host() {
    let pg = PgCluster::start();
    let a = Arc::new(PostgresStore::open(&pg.url()).unwrap());
    let b = Arc::new(PostgresStore::open(&pg.url()).unwrap());
    a.add_host("cn1", ip("10.0.0.1"), 4789).unwrap();
    a.add_host("cn2", ip("10.0.0.2"), 4789).unwrap();
    a.add_host("cn3", ip("10.0.0.3"), 4789).unwrap();
    a.add_nic(&nic(23, 1, "cn1")).unwrap();
    a.add_nic(&nic(23, 2, "cn2")).unwrap();
    let cn1 = to_wire_ip(ip("10.0.0.1"));

    // A logical clock orders the operations of all threads.
    let clock = Arc::new(AtomicU64::new(0));
    let written = Arc::new(Mutex::new(Vec::<EventId>::new()));
    // (id, time the LOG_REQ began)
    let delivered = Arc::new(Mutex::new(Vec::<(EventId, u64)>::new()));
    // (id, time the LOG_RM returned)
    let removed = Arc::new(Mutex::new(Vec::<(EventId, u64)>::new()));
    let done = Arc::new(AtomicBool::new(false));

    let writer = {
        let (a, written) = (a.clone(), written.clone());
        std::thread::spawn(move || {
            // Move mac 2 back and forth: each move writes a VL2 event for
            // cn1 (and the others).
            for i in 0..150 {
                let to = if i % 2 == 0 { "cn3" } else { "cn2" };
                let (_, evs) = a.move_nic(23, mac(2), to).unwrap();
                let mut w = written.lock().unwrap();
                w.extend(evs.iter().filter(|e| e.host == "cn1").map(|e| e.id));
            }
        })
    };
    let servers: Vec<_> = [a.clone(), b.clone(), a.clone(), b.clone()]
        .into_iter()
        .map(|s| {
            let (clock, delivered, removed, done) = (
                clock.clone(),
                delivered.clone(),
                removed.clone(),
                done.clone(),
            );
            std::thread::spawn(move || loop {
                let finishing = done.load(Ordering::Acquire);
                let t0 = clock.fetch_add(1, Ordering::SeqCst);
                // Small batches, as a LOG_ACK of 10 VL2 records.
                let evs = s.log_fetch(cn1, 320).unwrap().unwrap();
                if evs.is_empty() && finishing {
                    return;
                }
                delivered
                    .lock()
                    .unwrap()
                    .extend(evs.iter().map(|e| (e.id, t0)));
                let ids: Vec<EventId> = evs.iter().map(|e| e.id).collect();
                s.log_remove(&ids).unwrap();
                let t1 = clock.fetch_add(1, Ordering::SeqCst);
                removed
                    .lock()
                    .unwrap()
                    .extend(ids.iter().map(|id| (*id, t1)));
            })
        })
        .collect();
    writer.join().unwrap();
    done.store(true, Ordering::Release);
    for s in servers {
        s.join().unwrap();
    }
    let written = written.lock().unwrap();
    assert_eq!(written.len(), 150);
    let delivered = delivered.lock().unwrap();
    let removed = removed.lock().unwrap();
    let got: HashSet<EventId> = delivered.iter().map(|(id, _)| *id).collect();
    for id in written.iter() {
        assert!(got.contains(id), "event {id} never delivered");
    }
    let mut first_rm: std::collections::HashMap<EventId, u64> = Default::default();
    for (id, t) in removed.iter() {
        let e = first_rm.entry(*id).or_insert(*t);
        *e = (*e).min(*t);
    }
    for (id, t) in delivered.iter() {
        if let Some(rm) = first_rm.get(id) {
            assert!(
                t < rm,
                "event {id} delivered by a LOG_REQ at {t} after its LOG_RM at {rm}"
            );
        }
    }
    assert_eq!(a.list_events(Some("cn1")).unwrap(), vec![]);
}

/// PostgreSQL stopped: lookups and changes fail at once with a message
/// naming the server; started again: the same store serves again.
#[test]
fn outage_fails_fast_and_recovers() {
    let mut pg = PgCluster::start();
    let s = PostgresStore::open(&pg.url()).unwrap();
    s.add_host("cn1", ip("10.0.0.1"), 4789).unwrap();
    s.add_nic(&nic(23, 1, "cn1")).unwrap();
    // Several pooled connections, all of which will die.
    std::thread::scope(|sc| {
        for _ in 0..4 {
            sc.spawn(|| s.vl2_lookup(23, mac(1)).unwrap().unwrap());
        }
    });
    pg.stop();
    let t0 = std::time::Instant::now();
    let e = s.vl2_lookup(23, mac(1)).unwrap_err();
    assert!(matches!(e, StoreError::Backend(_)), "{e}");
    assert!(
        e.to_string()
            .contains(&format!("PostgreSQL 127.0.0.1:{}/portolan", pg.port())),
        "{e}"
    );
    let e = s.add_host("cn2", ip("10.0.0.2"), 4789).unwrap_err();
    assert!(
        e.to_string().contains("cannot connect"),
        "an operator change while down: {e}"
    );
    assert!(s.generation().is_err());
    assert!(s.log_fetch(to_wire_ip(ip("10.0.0.1")), 1020).is_err());
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "failing took {:?}",
        t0.elapsed()
    );
    pg.restart();
    assert_eq!(
        s.vl2_lookup(23, mac(1)).unwrap().unwrap().ip,
        to_wire_ip(ip("10.0.0.1"))
    );
    s.add_host("cn2", ip("10.0.0.2"), 4789).unwrap();
    // Nothing of the failed add_host was written.
    assert_eq!(s.list_hosts().unwrap().len(), 2);
}

/// A pooled connection killed under the store (the server restarted
/// between two calls) costs no failed lookup: it is retried on a new
/// connection. A change checks its connection before it begins.
#[test]
fn dead_pooled_connections_are_replaced() {
    let mut pg = PgCluster::start();
    let s = PostgresStore::open(&pg.url()).unwrap();
    s.add_host("cn1", ip("10.0.0.1"), 4789).unwrap();
    s.add_nic(&nic(23, 1, "cn1")).unwrap();
    assert!(s.vl2_lookup(23, mac(1)).unwrap().is_some());
    pg.restart();
    assert!(s.vl2_lookup(23, mac(1)).unwrap().is_some());
    pg.restart();
    s.add_host("cn2", ip("10.0.0.2"), 4789).unwrap();
    // Backends terminated by an administrator, as a failover would.
    pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'portolan'");
    assert!(s.vl2_lookup(23, mac(1)).unwrap().is_some());
    pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'portolan'");
    s.move_nic(23, mac(1), "cn2").unwrap();
}

/// kill -9 of the postmaster: every committed change and log event is
/// there after the restart, and a change cut off by the crash is either
/// all there or not at all.
#[test]
fn crash_keeps_committed_and_loses_no_half() {
    let mut pg = PgCluster::start();
    let s = Arc::new(PostgresStore::open(&pg.url()).unwrap());
    // 400 hosts on vnet 23, each with a NIC that moves (mac(h)) and one
    // that stays (mac(1000 + h)), so every host stays on the vnet and every
    // move tells all 400. Written directly, for speed.
    pg.psql(
        "INSERT INTO hosts SELECT 'cn' || h, ('10.1.' || (h >> 8) || '.' || (h & 255))::inet, 4789
           FROM generate_series(0, 399) h;
         INSERT INTO nics SELECT 23,
             ('02:08:20:00:' || lpad(to_hex(n >> 8), 2, '0') || ':' || lpad(to_hex(n & 255), 2, '0'))::macaddr,
             ('192.168.' || (n >> 8) || '.' || (n & 255))::inet, 0, 'cn' || (n % 1000)
           FROM generate_series(0, 399) h, LATERAL (VALUES (h), (1000 + h)) v(n)",
    );
    assert_eq!(
        s.vl2_lookup(23, mac(1399)).unwrap().unwrap().ip,
        to_wire_ip(ip("10.1.1.143"))
    );
    let before = s.list_events(None).unwrap();
    let hosts_before = s.list_hosts().unwrap();
    // Moves (400 events each) while the postmaster is killed.
    let mover = {
        let s = s.clone();
        std::thread::spawn(move || {
            let mut committed = Vec::new();
            for i in 0..100_000u32 {
                let to = format!("cn{}", (i + 1 + i / 400) % 400);
                match s.move_nic(23, mac((i % 400) as u16), &to) {
                    Ok((_, evs)) => committed.push(evs),
                    Err(StoreError::SameHost { .. }) => {}
                    Err(_) => return committed,
                }
            }
            committed
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    pg.kill9();
    let committed = mover.join().unwrap();
    assert!(!committed.is_empty(), "no move committed before the crash");
    pg.restart();
    assert_eq!(s.list_hosts().unwrap(), hosts_before);
    let after: HashSet<EventId> = s.list_events(None).unwrap().iter().map(|e| e.id).collect();
    for e in &before {
        assert!(after.contains(&e.id), "event {} lost", e.id);
    }
    for evs in &committed {
        for e in evs {
            assert!(after.contains(&e.id), "committed event {} lost", e.id);
        }
    }
    // Every event belongs to a whole change: group by (record, vnet) and
    // check each move wrote all 400 hosts or nothing (each VL2 record names
    // one MAC; a MAC moved k times has 400·k events).
    let mut per_mac: std::collections::HashMap<Mac, usize> = Default::default();
    for e in s.list_events(None).unwrap() {
        if let LogRecord::Vl2 { mac } = e.record {
            *per_mac.entry(mac).or_default() += 1;
        }
    }
    for (m, n) in per_mac {
        assert_eq!(n % 400, 0, "MAC {m}: {n} events, not whole moves");
    }
    // The NICs agree with the events: the number of moves committed
    // (before the crash, as seen now) is the number of VL2 event batches.
    let moves_now = s
        .list_events(None)
        .unwrap()
        .iter()
        .filter(|e| matches!(e.record, LogRecord::Vl2 { .. }))
        .count()
        / 400;
    assert!(moves_now >= committed.len());
    assert!(
        moves_now <= committed.len() + 1,
        "at most the one in flight"
    );
}

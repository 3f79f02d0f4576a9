//! portolan's SVP server over real TCP on 127.0.0.1 with a real SQLite file:
//! every op, pipelining, the LOG_REQ cap, LOG_RM, store errors and cache
//! coherence with changes made by another store handle.

mod common;

use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use common::{Client, TestServer};
use portolan::store::sqlite::SqliteStore;
use portolan::store::{Mac, Nic, Store};
use svp_proto::msg::encode_frame;
use svp_proto::op::*;
use svp_proto::status::*;
use svp_proto::{SvpLogRecord, SvpReply, SvpRequest, SVP_VL3_IP, SVP_VL3_IPV6};

fn v4(a: &str) -> Ipv6Addr {
    a.parse::<Ipv4Addr>().unwrap().to_ipv6_mapped()
}

fn mac(n: u8) -> [u8; 6] {
    [2, 8, 0x20, 0, 0, n]
}

fn populate(s: &dyn Store) {
    s.add_host("cn1", "10.0.0.1".parse().unwrap(), 4789)
        .unwrap();
    s.add_host("cn2", "10.0.0.2".parse().unwrap(), 4790)
        .unwrap();
    s.add_host("cn6", "2001:db8::6".parse().unwrap(), 4789)
        .unwrap();
    for (n, host) in [(1u8, "cn1"), (2, "cn2"), (6, "cn6")] {
        s.add_nic(&Nic {
            vnet: 23,
            mac: Mac(mac(n)),
            ip: format!("192.168.0.{n}").parse().unwrap(),
            vlan: 0,
            host: host.into(),
        })
        .unwrap();
    }
    s.add_nic(&Nic {
        vnet: 23,
        mac: Mac(mac(7)),
        ip: "fd00::7".parse().unwrap(),
        vlan: 5,
        host: "cn2".into(),
    })
    .unwrap();
}

#[test]
fn every_op() {
    let ts = TestServer::start("ops", 1 << 10);
    populate(ts.store.as_ref());
    let mut c = Client::connect(ts.addr);
    assert_eq!(c.call(&SvpRequest::Ping), SvpReply::Pong);
    assert_eq!(
        c.call(&SvpRequest::Vl2 {
            mac: mac(2),
            vnetid: 23
        }),
        SvpReply::Vl2Ack {
            status: SVP_S_OK as u16,
            port: 4790,
            addr: v4("10.0.0.2")
        }
    );
    // Twice: the second from the cache, the same answer.
    for _ in 0..2 {
        assert_eq!(
            c.call(&SvpRequest::Vl2 {
                mac: mac(6),
                vnetid: 23
            }),
            SvpReply::Vl2Ack {
                status: 0,
                port: 4789,
                addr: "2001:db8::6".parse().unwrap()
            }
        );
    }
    for (m, vnet) in [(mac(9), 23), (mac(2), 24)] {
        assert_eq!(
            c.call(&SvpRequest::Vl2 {
                mac: m,
                vnetid: vnet
            }),
            SvpReply::Vl2Ack {
                status: SVP_S_NOTFOUND as u16,
                port: 0,
                addr: Ipv6Addr::UNSPECIFIED
            }
        );
    }
    assert_eq!(
        c.call(&SvpRequest::Vl3 {
            ip: v4("192.168.0.1"),
            l3type: SVP_VL3_IP,
            vnetid: 23
        }),
        SvpReply::Vl3Ack {
            status: SVP_S_OK,
            mac: mac(1),
            uport: 4789,
            uip: v4("10.0.0.1")
        }
    );
    assert_eq!(
        c.call(&SvpRequest::Vl3 {
            ip: "fd00::7".parse().unwrap(),
            l3type: SVP_VL3_IPV6,
            vnetid: 23
        }),
        SvpReply::Vl3Ack {
            status: SVP_S_OK,
            mac: mac(7),
            uport: 4790,
            uip: v4("10.0.0.2")
        }
    );
    assert_eq!(
        c.call(&SvpRequest::Vl3 {
            ip: v4("192.168.0.99"),
            l3type: SVP_VL3_IP,
            vnetid: 23
        })
        .status(),
        SVP_S_NOTFOUND
    );
    for bad in [0, 3, 0xffff_ffff] {
        assert_eq!(
            c.call(&SvpRequest::Vl3 {
                ip: v4("192.168.0.1"),
                l3type: bad,
                vnetid: 23
            }),
            SvpReply::status_only(SVP_R_VL3_REQ, SVP_S_BADL3TYPE).unwrap()
        );
    }
    assert_eq!(
        c.call(&SvpRequest::Bulk { bulk_type: 1 }),
        SvpReply::BulkAck {
            status: SVP_S_BADBULK,
            bulk_type: 0,
            data: vec![]
        }
    );
    // LOG_REQ from an unknown underlay: FATAL.
    assert_eq!(
        c.call(&SvpRequest::Log {
            count: 1024,
            ip: v4("10.9.9.9")
        }),
        SvpReply::LogAck {
            status: SVP_S_FATAL,
            records: vec![]
        }
    );
    // cn1 was told about 2, 6 and 7 (VL3 events).
    let SvpReply::LogAck { status, records } = c.call(&SvpRequest::Log {
        count: 1024,
        ip: v4("10.0.0.1"),
    }) else {
        panic!("not a LOG_ACK")
    };
    assert_eq!(status, SVP_S_OK);
    assert_eq!(records.len(), 3);
    assert!(matches!(
        records[2],
        SvpLogRecord::Vl3 {
            vlan: 5,
            vnetid: 23,
            ..
        }
    ));
    if let SvpLogRecord::Vl3 { ip, .. } = &records[0] {
        assert_eq!(*ip, v4("192.168.0.2"));
    }
    // LOG_RM once → never sent again; unknown ids tolerated.
    let mut ids: Vec<[u8; 16]> = records.iter().map(|r| r.id()).take(2).collect();
    ids.push([0xab; 16]);
    assert_eq!(
        c.call(&SvpRequest::LogRm { ids }),
        SvpReply::LogRmAck { status: SVP_S_OK }
    );
    let SvpReply::LogAck { records: left, .. } = c.call(&SvpRequest::Log {
        count: 1024,
        ip: v4("10.0.0.1"),
    }) else {
        panic!("not a LOG_ACK")
    };
    assert_eq!(left, records[2..]);
    // A v2 PING gets a v1 PONG with the same id.
    let mut f = Vec::new();
    encode_frame(&mut f, 2, SVP_R_PING, [9, 8, 7, 6], &[]);
    c.sock.write_all(&f).unwrap();
    let (ver, id, rep) = c.recv();
    assert_eq!((ver, id, rep), (1, [9, 8, 7, 6], SvpReply::Pong));
    assert_eq!(ts.stat("req_vl2"), 5);
    assert_eq!(ts.stat("reply_badl3type"), 3);
    assert_eq!(ts.stat("reply_pong"), 2);
    assert!(ts.stat("cache_hits") >= 1);
}

#[test]
fn log_req_cap() {
    let ts = TestServer::start("cap", 1 << 10);
    let s = ts.store.as_ref();
    s.add_host("cn1", "10.0.0.1".parse().unwrap(), 4789)
        .unwrap();
    s.add_host("cn2", "10.0.0.2".parse().unwrap(), 4789)
        .unwrap();
    s.add_nic(&Nic {
        vnet: 1,
        mac: Mac(mac(200)),
        ip: "172.16.0.200".parse().unwrap(),
        vlan: 0,
        host: "cn1".into(),
    })
    .unwrap();
    // 40 VL3 events (44 bytes each) then 40 VL2 events (32 bytes) for cn1.
    for n in 0..40u8 {
        s.add_nic(&Nic {
            vnet: 1,
            mac: Mac(mac(n)),
            ip: format!("172.16.0.{n}").parse().unwrap(),
            vlan: 0,
            host: "cn2".into(),
        })
        .unwrap();
    }
    for n in 0..40u8 {
        s.remove_nic(1, Mac(mac(n))).unwrap();
    }
    let mut c = Client::connect(ts.addr);
    let mut seen = 0;
    for (count, want) in [
        (0u32, 0usize),
        (4, 0),
        (47, 0),
        (48, 1),
        (1024, 23),
        (1 << 30, 80),
    ] {
        let SvpReply::LogAck { status, records } = c.call(&SvpRequest::Log {
            count,
            ip: v4("10.0.0.1"),
        }) else {
            panic!()
        };
        assert_eq!(status, SVP_S_OK);
        assert_eq!(records.len(), want, "count {count}");
        let bytes: usize = records
            .iter()
            .map(|r| match r {
                SvpLogRecord::Vl2 { .. } => 32,
                SvpLogRecord::Vl3 { .. } => 44,
            })
            .sum();
        assert!(bytes + 4 <= count.max(4) as usize);
        seen += records.len();
    }
    assert!(seen > 0);
    // Drain with the illumos client's 1024-byte buffer, removing as we go.
    let mut total = 0;
    loop {
        let SvpReply::LogAck { records, .. } = c.call(&SvpRequest::Log {
            count: 1024,
            ip: v4("10.0.0.1"),
        }) else {
            panic!()
        };
        if records.is_empty() {
            break;
        }
        total += records.len();
        let ids = records.iter().map(|r| r.id()).collect();
        assert_eq!(
            c.call(&SvpRequest::LogRm { ids }),
            SvpReply::LogRmAck { status: 0 }
        );
    }
    assert_eq!(total, 80);
    assert_eq!(s.list_events(Some("cn1")).unwrap(), vec![]);
}

#[test]
fn pipelined_clients() {
    let ts = TestServer::start("pipe", 1 << 12);
    populate(ts.store.as_ref());
    let addr = ts.addr;
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                // 2000 requests written at once, then every reply read.
                let mut batch = Vec::new();
                let mut want = Vec::new();
                for i in 0..2000u32 {
                    let id = (t * 100_000 + i).to_be_bytes();
                    let n = [1u8, 2, 6, 9][(i % 4) as usize];
                    let req = if i % 3 == 0 {
                        SvpRequest::Vl3 {
                            ip: v4(&format!("192.168.0.{n}")),
                            l3type: SVP_VL3_IP,
                            vnetid: 23,
                        }
                    } else {
                        SvpRequest::Vl2 {
                            mac: mac(n),
                            vnetid: 23,
                        }
                    };
                    req.encode_into(id, &mut batch);
                    want.push((id, n == 9));
                }
                c.sock.write_all(&batch).unwrap();
                for (id, missing) in want {
                    let (ver, rid, rep) = c.recv();
                    assert_eq!(ver, 1);
                    assert_eq!(rid, id, "replies in order");
                    let st = rep.status();
                    assert_eq!(st, if missing { SVP_S_NOTFOUND } else { SVP_S_OK });
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(ts.stat("req_vl2") + ts.stat("req_vl3"), 8000);
    assert_eq!(ts.stat("reply_ok") + ts.stat("reply_notfound"), 8000);
}

#[test]
fn store_error_is_fatal() {
    // No cache, so every lookup reaches the store.
    let ts = TestServer::start("fatal", 0);
    populate(ts.store.as_ref());
    let mut c = Client::connect(ts.addr);
    assert_eq!(
        c.call(&SvpRequest::Vl2 {
            mac: mac(1),
            vnetid: 23
        })
        .status(),
        SVP_S_OK
    );
    // Break the database under it (another connection drops the tables).
    let raw = rusqlite_free_drop(&ts.dir.join("portolan.db"));
    assert!(raw);
    for req in [
        SvpRequest::Vl2 {
            mac: mac(1),
            vnetid: 23,
        },
        SvpRequest::Vl3 {
            ip: v4("192.168.0.1"),
            l3type: SVP_VL3_IP,
            vnetid: 23,
        },
        SvpRequest::Log {
            count: 1024,
            ip: v4("10.0.0.1"),
        },
        SvpRequest::LogRm { ids: vec![[1; 16]] },
    ] {
        let r = c.call(&req);
        assert_eq!(r.status(), SVP_S_FATAL, "{req:?} → {r:?}");
        assert_eq!(r, SvpReply::status_only(req.op(), SVP_S_FATAL).unwrap());
    }
    assert_eq!(ts.stat("store_errors"), 4);
    assert_eq!(ts.stat("reply_fatal"), 4);
    // The connection is still served.
    assert_eq!(c.call(&SvpRequest::Ping), SvpReply::Pong);
}

/// Drop the tables from another connection (the store's API has no DDL).
fn rusqlite_free_drop(db: &std::path::Path) -> bool {
    let sql = "PRAGMA foreign_keys=OFF; DROP TABLE nics; DROP TABLE events; DROP TABLE hosts;";
    portolan::store::sqlite::SqliteStore::exec_raw_for_tests(db, sql).is_ok()
}

#[test]
fn changes_by_another_process_reach_answers() {
    let ts = TestServer::start("coherent", 1 << 12);
    populate(ts.store.as_ref());
    let mut c = Client::connect(ts.addr);
    let q = SvpRequest::Vl2 {
        mac: mac(1),
        vnetid: 23,
    };
    let first = c.call(&q);
    assert_eq!(c.call(&q), first); // now cached
                                   // Another handle on the same file: what a CLI or another portolan does.
    let other = SqliteStore::open(&ts.dir.join("portolan.db")).unwrap();
    other.move_nic(23, Mac(mac(1)), "cn2").unwrap();
    let t0 = Instant::now();
    loop {
        let r = c.call(&q);
        if r == (SvpReply::Vl2Ack {
            status: 0,
            port: 4790,
            addr: v4("10.0.0.2"),
        }) {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "stale answer {r:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // And a NOTFOUND becomes found once added elsewhere.
    let q9 = SvpRequest::Vl2 {
        mac: mac(9),
        vnetid: 23,
    };
    assert_eq!(c.call(&q9).status(), SVP_S_NOTFOUND);
    other
        .add_nic(&Nic {
            vnet: 23,
            mac: Mac(mac(9)),
            ip: "192.168.0.9".parse().unwrap(),
            vlan: 0,
            host: "cn1".into(),
        })
        .unwrap();
    let t0 = Instant::now();
    while c.call(&q9).status() != SVP_S_OK {
        assert!(t0.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(ts.stat("cache_flushes") >= 2);
}

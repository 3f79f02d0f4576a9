//! The store test suite every [`Store`] implementation must pass.
//!
//! [`run`] calls each case with a fresh, empty store from the factory:
//!
//! ```ignore
//! portolan::store::suite::run(&mut || Box::new(SqliteStore::open(&tmp()).unwrap()));
//! ```
//!
//! A case panics (with the case name) on the first mismatch.

use std::net::{IpAddr, Ipv6Addr};

use super::types::*;
use super::Store;

/// A suite case: panics on the first mismatch.
pub type Case = fn(&dyn Store);

/// Every case, by name.
pub const CASES: &[(&str, Case)] = &[
    ("hosts", hosts),
    ("nics_and_lookups", nics_and_lookups),
    ("add_events", add_events),
    ("remove_events", remove_events),
    ("move_events", move_events),
    ("log_fetch_cap_and_order", log_fetch_cap_and_order),
    ("log_remove", log_remove),
    ("errors_leave_nothing", errors_leave_nothing),
    ("generation", generation),
    ("ipv6", ipv6),
    ("lookup_many", lookup_many),
];

/// Run every case, each on a fresh store from `make`.
pub fn run(make: &mut dyn FnMut() -> Box<dyn Store>) {
    for (name, case) in CASES {
        let s = make();
        eprintln!("store suite ({}): {name}", s.kind());
        case(s.as_ref());
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn mac(n: u8) -> Mac {
    Mac([2, 8, 0x20, 0, 0, n])
}

fn nic(vnet: u32, n: u8, host: &str) -> Nic {
    Nic {
        vnet,
        mac: mac(n),
        ip: ip(&format!("192.168.0.{n}")),
        vlan: 0,
        host: host.into(),
    }
}

fn three_hosts(s: &dyn Store) {
    s.add_host("cn1", ip("10.0.0.1"), 4789).unwrap();
    s.add_host("cn2", ip("10.0.0.2"), 4789).unwrap();
    s.add_host("cn3", ip("10.0.0.3"), 4790).unwrap();
}

fn w(a: &str) -> Ipv6Addr {
    to_wire_ip(ip(a))
}

fn hosts_of(evs: &[LogEvent]) -> Vec<String> {
    let mut v: Vec<String> = evs.iter().map(|e| e.host.clone()).collect();
    v.sort();
    v
}

pub fn hosts(s: &dyn Store) {
    three_hosts(s);
    let l = s.list_hosts().unwrap();
    assert_eq!(l.len(), 3);
    assert_eq!(l[2].id, "cn3");
    assert_eq!(l[2].ip, ip("10.0.0.3"));
    assert_eq!(l[2].port, 4790);
    assert_eq!(
        s.add_host("cn1", ip("10.0.0.9"), 4789),
        Err(StoreError::HostExists("cn1".into()))
    );
    assert_eq!(
        s.add_host("cn9", ip("10.0.0.2"), 4789),
        Err(StoreError::UnderlayInUse {
            ip: ip("10.0.0.2"),
            host: "cn2".into()
        })
    );
    assert!(matches!(
        s.add_host("bad id", ip("10.0.0.9"), 4789),
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(
        s.remove_host("cn9"),
        Err(StoreError::UnknownHost("cn9".into()))
    );
    s.add_nic(&nic(23, 1, "cn1")).unwrap();
    assert_eq!(
        s.remove_host("cn1"),
        Err(StoreError::HostHasNics {
            host: "cn1".into(),
            count: 1
        })
    );
    s.remove_host("cn3").unwrap();
    assert_eq!(s.list_hosts().unwrap().len(), 2);
    // Its underlay address is free again.
    s.add_host("cn4", ip("10.0.0.3"), 4789).unwrap();
}

pub fn nics_and_lookups(s: &dyn Store) {
    three_hosts(s);
    let n = Nic {
        vlan: 100,
        ..nic(23, 1, "cn3")
    };
    s.add_nic(&n).unwrap();
    let u = s.vl2_lookup(23, mac(1)).unwrap().unwrap();
    assert_eq!(u.ip, w("10.0.0.3"));
    assert_eq!(u.port, 4790);
    assert_eq!(s.vl2_lookup(24, mac(1)).unwrap(), None);
    assert_eq!(s.vl2_lookup(23, mac(2)).unwrap(), None);
    let v = s.vl3_lookup(23, w("192.168.0.1")).unwrap().unwrap();
    assert_eq!(v.mac, mac(1));
    assert_eq!(v.underlay.ip, w("10.0.0.3"));
    assert_eq!(v.underlay.port, 4790);
    assert_eq!(s.vl3_lookup(23, w("192.168.0.2")).unwrap(), None);
    assert_eq!(s.vl3_lookup(22, w("192.168.0.1")).unwrap(), None);
    // The same MAC and IP may live in another vnet.
    s.add_nic(&nic(24, 1, "cn1")).unwrap();
    assert_eq!(s.vl2_lookup(24, mac(1)).unwrap().unwrap().ip, w("10.0.0.1"));
    s.add_nic(&nic(23, 2, "cn2")).unwrap();
    assert_eq!(s.list_nics(None).unwrap().len(), 3);
    let l = s.list_nics(Some(23)).unwrap();
    assert_eq!(l.len(), 2);
    assert_eq!(l[0], n);
    assert_eq!(s.list_nics(Some(99)).unwrap(), vec![]);
    let (gone, _) = s.remove_nic(23, mac(1)).unwrap();
    assert_eq!(gone, n);
    assert_eq!(s.vl2_lookup(23, mac(1)).unwrap(), None);
    assert_eq!(s.vl3_lookup(23, w("192.168.0.1")).unwrap(), None);
    assert_eq!(
        s.remove_nic(23, mac(1)),
        Err(StoreError::UnknownNic {
            mac: mac(1),
            vnet: 23
        })
    );
}

pub fn add_events(s: &dyn Store) {
    three_hosts(s);
    // The first NIC on a vnet: nobody to tell.
    assert_eq!(s.add_nic(&nic(23, 1, "cn1")).unwrap(), vec![]);
    // A second on the same host: still nobody else.
    assert_eq!(s.add_nic(&nic(23, 2, "cn1")).unwrap(), vec![]);
    // cn2 joins: cn1 learns of it.
    let e = s.add_nic(&nic(23, 3, "cn2")).unwrap();
    assert_eq!(hosts_of(&e), ["cn1"]);
    assert_eq!(e[0].vnet, 23);
    assert_eq!(
        e[0].record,
        LogRecord::Vl3 {
            ip: ip("192.168.0.3"),
            mac: mac(3),
            vlan: 0
        }
    );
    let e = s
        .add_nic(&Nic {
            vlan: 7,
            ..nic(23, 4, "cn3")
        })
        .unwrap();
    assert_eq!(hosts_of(&e), ["cn1", "cn2"]);
    // Another vnet is unaffected.
    assert_eq!(s.add_nic(&nic(5, 9, "cn3")).unwrap(), vec![]);
    let all = s.list_events(None).unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(s.list_events(Some("cn1")).unwrap().len(), 2);
    assert_eq!(s.list_events(Some("cn3")).unwrap(), vec![]);
    assert_eq!(
        s.list_events(Some("cn2")).unwrap()[0].record,
        LogRecord::Vl3 {
            ip: ip("192.168.0.4"),
            mac: mac(4),
            vlan: 7
        }
    );
}

pub fn remove_events(s: &dyn Store) {
    three_hosts(s);
    s.add_nic(&nic(23, 1, "cn1")).unwrap();
    s.add_nic(&nic(23, 2, "cn2")).unwrap();
    s.add_nic(&nic(24, 3, "cn3")).unwrap();
    let before = s.list_events(None).unwrap().len();
    let (_, e) = s.remove_nic(23, mac(2)).unwrap();
    assert_eq!(hosts_of(&e), ["cn1", "cn2"]);
    assert!(e.iter().all(|e| e.record == LogRecord::Vl2 { mac: mac(2) }));
    assert_eq!(s.list_events(None).unwrap().len(), before + 2);
}

pub fn move_events(s: &dyn Store) {
    three_hosts(s);
    s.add_nic(&nic(23, 1, "cn1")).unwrap();
    s.add_nic(&nic(23, 2, "cn2")).unwrap();
    let (moved, e) = s.move_nic(23, mac(1), "cn3").unwrap();
    assert_eq!(moved.host, "cn3");
    assert_eq!(hosts_of(&e), ["cn1", "cn2", "cn3"]);
    assert!(e.iter().all(|e| e.record == LogRecord::Vl2 { mac: mac(1) }));
    assert_eq!(s.vl2_lookup(23, mac(1)).unwrap().unwrap().ip, w("10.0.0.3"));
    assert_eq!(
        s.vl3_lookup(23, w("192.168.0.1"))
            .unwrap()
            .unwrap()
            .underlay
            .port,
        4790
    );
    assert_eq!(
        s.move_nic(23, mac(1), "cn3"),
        Err(StoreError::SameHost {
            mac: mac(1),
            vnet: 23,
            host: "cn3".into()
        })
    );
    assert_eq!(
        s.move_nic(23, mac(1), "cn9"),
        Err(StoreError::UnknownHost("cn9".into()))
    );
    assert_eq!(
        s.move_nic(23, mac(9), "cn1"),
        Err(StoreError::UnknownNic {
            mac: mac(9),
            vnet: 23
        })
    );
}

pub fn log_fetch_cap_and_order(s: &dyn Store) {
    three_hosts(s);
    s.add_nic(&nic(23, 1, "cn1")).unwrap();
    // 10 NICs on cn2: cn1 gets 10 VL3 events (44 bytes each).
    for n in 10..20 {
        s.add_nic(&nic(23, n, "cn2")).unwrap();
    }
    // Then a removal: 2 VL2 events (32 bytes), one for cn1.
    s.remove_nic(23, mac(10)).unwrap();
    let all = s.log_fetch(w("10.0.0.1"), 1 << 20).unwrap().unwrap();
    assert_eq!(all.len(), 11);
    for (i, e) in all.iter().take(10).enumerate() {
        assert_eq!(
            e.record,
            LogRecord::Vl3 {
                ip: ip(&format!("192.168.0.{}", 10 + i)),
                mac: mac(10 + i as u8),
                vlan: 0
            }
        );
        assert_eq!(e.host, "cn1");
    }
    assert_eq!(all[10].record, LogRecord::Vl2 { mac: mac(10) });
    assert_eq!(all, s.list_events(Some("cn1")).unwrap());
    // Byte caps: 44 fits one, 87 one, 88 two, 0 none.
    assert_eq!(s.log_fetch(w("10.0.0.1"), 0).unwrap().unwrap().len(), 0);
    assert_eq!(s.log_fetch(w("10.0.0.1"), 43).unwrap().unwrap().len(), 0);
    assert_eq!(s.log_fetch(w("10.0.0.1"), 44).unwrap().unwrap().len(), 1);
    assert_eq!(s.log_fetch(w("10.0.0.1"), 87).unwrap().unwrap().len(), 1);
    let two = s.log_fetch(w("10.0.0.1"), 88).unwrap().unwrap();
    assert_eq!(two[..], all[..2]);
    // 1020 = 1024 - 4: 23 VL3 records would be 1012; all 10 VL3 (440) and
    // the VL2 (32) fit.
    assert_eq!(s.log_fetch(w("10.0.0.1"), 1020).unwrap().unwrap().len(), 11);
    // A host with no events, and an unknown underlay address.
    assert_eq!(s.log_fetch(w("10.0.0.3"), 1020).unwrap(), Some(vec![]));
    assert_eq!(s.log_fetch(w("10.9.9.9"), 1020).unwrap(), None);
}

pub fn log_remove(s: &dyn Store) {
    three_hosts(s);
    s.add_nic(&nic(23, 1, "cn1")).unwrap();
    s.add_nic(&nic(23, 2, "cn2")).unwrap();
    s.add_nic(&nic(23, 3, "cn3")).unwrap();
    let evs = s.log_fetch(w("10.0.0.1"), 1020).unwrap().unwrap();
    assert_eq!(evs.len(), 2);
    let unknown = EventId([0xee; 16]);
    assert_eq!(s.log_remove(&[evs[0].id, unknown]).unwrap(), 1);
    let left = s.log_fetch(w("10.0.0.1"), 1020).unwrap().unwrap();
    assert_eq!(left, evs[1..]);
    // Removing again is harmless.
    assert_eq!(s.log_remove(&[evs[0].id]).unwrap(), 0);
    assert_eq!(s.log_remove(&[]).unwrap(), 0);
    // Other hosts' events are untouched.
    assert_eq!(s.list_events(Some("cn2")).unwrap().len(), 1);
    // Removing a host drops its events.
    s.remove_nic(23, mac(3)).unwrap();
    let n3 = s.list_events(Some("cn3")).unwrap().len();
    assert_eq!(n3, 1);
    s.remove_host("cn3").unwrap();
    assert_eq!(s.list_events(Some("cn3")).unwrap(), vec![]);
}

pub fn errors_leave_nothing(s: &dyn Store) {
    three_hosts(s);
    s.add_nic(&nic(23, 1, "cn1")).unwrap();
    let g = s.generation().unwrap();
    let evs = s.list_events(None).unwrap();
    assert_eq!(
        s.add_nic(&nic(23, 1, "cn2")),
        Err(StoreError::MacInUse {
            mac: mac(1),
            vnet: 23
        })
    );
    assert_eq!(
        s.add_nic(&Nic {
            mac: mac(2),
            ..nic(23, 1, "cn2")
        }),
        Err(StoreError::IpInUse {
            ip: ip("192.168.0.1"),
            vnet: 23
        })
    );
    assert_eq!(
        s.add_nic(&nic(23, 5, "cn9")),
        Err(StoreError::UnknownHost("cn9".into()))
    );
    for bad in [
        Nic {
            vnet: VNET_MAX + 1,
            ..nic(1, 6, "cn1")
        },
        Nic {
            vlan: 4095,
            ..nic(1, 6, "cn1")
        },
        Nic {
            mac: Mac([1, 0, 0, 0, 0, 1]),
            ..nic(1, 6, "cn1")
        },
    ] {
        assert!(matches!(s.add_nic(&bad), Err(StoreError::Invalid(_))));
    }
    assert_eq!(s.list_nics(None).unwrap().len(), 1);
    assert_eq!(s.list_events(None).unwrap(), evs);
    assert_eq!(s.generation().unwrap(), g);
}

pub fn generation(s: &dyn Store) {
    let g0 = s.generation().unwrap();
    three_hosts(s);
    let g1 = s.generation().unwrap();
    assert_ne!(g0, g1);
    s.add_nic(&nic(23, 1, "cn1")).unwrap();
    let g2 = s.generation().unwrap();
    assert_ne!(g1, g2);
    s.move_nic(23, mac(1), "cn2").unwrap();
    let g3 = s.generation().unwrap();
    assert_ne!(g2, g3);
    // Lookups and log traffic leave it alone.
    let _ = s.vl2_lookup(23, mac(1)).unwrap();
    let evs = s.list_events(None).unwrap();
    let ids: Vec<EventId> = evs.iter().map(|e| e.id).collect();
    s.log_remove(&ids).unwrap();
    assert_eq!(s.generation().unwrap(), g3);
}

pub fn ipv6(s: &dyn Store) {
    s.add_host("v6", ip("2001:db8::1"), 4789).unwrap();
    s.add_host("v4", ip("10.0.0.1"), 4789).unwrap();
    s.add_nic(&Nic {
        vnet: 7,
        mac: mac(1),
        ip: ip("fd00::1"),
        vlan: 0,
        host: "v6".into(),
    })
    .unwrap();
    s.add_nic(&nic(7, 2, "v4")).unwrap();
    assert_eq!(
        s.vl2_lookup(7, mac(1)).unwrap().unwrap().ip,
        w("2001:db8::1")
    );
    assert_eq!(s.vl3_lookup(7, w("fd00::1")).unwrap().unwrap().mac, mac(1));
    let evs = s.log_fetch(w("2001:db8::1"), 1020).unwrap().unwrap();
    assert_eq!(evs.len(), 1);
    let h = s.list_hosts().unwrap();
    assert_eq!(h[0].id, "v4");
    assert_eq!(h[0].ip, ip("10.0.0.1"));
    assert_eq!(h[1].ip, ip("2001:db8::1"));
    assert_eq!(s.list_nics(Some(7)).unwrap()[0].ip, ip("fd00::1"));
}

/// Batch lookups answer each key as the single lookups do, in key order:
/// hits, misses, duplicates, other vnets, IPv6, an empty batch.
pub fn lookup_many(s: &dyn Store) {
    three_hosts(s);
    s.add_nic(&nic(23, 1, "cn1")).unwrap();
    s.add_nic(&nic(23, 2, "cn2")).unwrap();
    s.add_nic(&nic(24, 1, "cn3")).unwrap();
    s.add_nic(&Nic {
        vnet: 23,
        mac: mac(6),
        ip: ip("fd00::6"),
        vlan: 6,
        host: "cn3".into(),
    })
    .unwrap();
    assert_eq!(s.vl2_lookup_many(&[]).unwrap(), vec![]);
    assert_eq!(s.vl3_lookup_many(&[]).unwrap(), vec![]);

    let keys2 = [
        (23, mac(2)),
        (23, mac(9)),
        (23, mac(1)),
        (24, mac(1)),
        (23, mac(2)),
        (25, mac(1)),
        (u32::MAX, mac(1)),
        (23, mac(6)),
        (23, mac(1)),
    ];
    let got = s.vl2_lookup_many(&keys2).unwrap();
    let want: Vec<_> = keys2
        .iter()
        .map(|(v, m)| s.vl2_lookup(*v, *m).unwrap())
        .collect();
    assert_eq!(got, want);
    let ips: Vec<_> = got.iter().map(|u| u.map(|u| u.ip)).collect();
    let h = |a: &str| Some(w(a));
    assert_eq!(
        ips,
        vec![
            h("10.0.0.2"),
            None,
            h("10.0.0.1"),
            h("10.0.0.3"),
            h("10.0.0.2"),
            None,
            None,
            h("10.0.0.3"),
            h("10.0.0.1"),
        ]
    );
    // Only misses; one key.
    assert_eq!(
        s.vl2_lookup_many(&[(23, mac(7)), (23, mac(7))]).unwrap(),
        vec![None, None]
    );
    assert_eq!(s.vl2_lookup_many(&[(24, mac(1))]).unwrap(), vec![want[3]]);

    let keys3 = [
        (23, w("192.168.0.9")),
        (23, w("192.168.0.1")),
        (23, w("fd00::6")),
        (24, w("192.168.0.1")),
        (23, w("192.168.0.1")),
        (22, w("192.168.0.2")),
        (u32::MAX, w("192.168.0.1")),
        (23, w("192.168.0.2")),
    ];
    let got = s.vl3_lookup_many(&keys3).unwrap();
    let want: Vec<_> = keys3
        .iter()
        .map(|(v, a)| s.vl3_lookup(*v, *a).unwrap())
        .collect();
    assert_eq!(got, want);
    let macs: Vec<_> = got.iter().map(|e| e.map(|e| e.mac)).collect();
    assert_eq!(
        macs,
        vec![
            None,
            Some(mac(1)),
            Some(mac(6)),
            Some(mac(1)),
            Some(mac(1)),
            None,
            None,
            Some(mac(2)),
        ]
    );
    assert_eq!(got[2].unwrap().underlay.ip, w("10.0.0.3"));
    assert_eq!(got[3].unwrap().underlay.ip, w("10.0.0.3"));
    assert_eq!(got[1].unwrap().underlay.ip, w("10.0.0.1"));
}

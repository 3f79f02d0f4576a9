//! The svp log poller (shootdowns, spec/svp.md §2.6) against a real SVP
//! server: VL2 records remove cache entries, VL3 records are re-queried
//! and announced (gratuitous ARP with the record's VLAN tag; an
//! unsolicited neighbour advertisement for IPv6), LOG_RM carries exactly
//! the handled ids, and failures leave records for redelivery.

mod svp_server;

use std::time::Duration;

use libvarpd::ksys::{self, TargCacheEntry};
use libvarpd::plugins::svp::SvpConfig;
use libvarpd::proxy;
use svp_proto::op::*;
use svp_proto::status::*;
use svp_proto::{SvpLogRecord, SvpRequest};
use svp_server::fixture::*;
use svp_server::Server;

const T: Duration = Duration::from_secs(20);
const MAC: [u8; 6] = [0x02, 0x08, 0x20, 0xaa, 0xbb, 0xcc];

fn id(n: u8) -> [u8; 16] {
    [n; 16]
}

fn fast() -> SvpConfig {
    SvpConfig {
        tick: Duration::from_millis(20),
        shootdown_base: 2,
        ..SvpConfig::default()
    }
}

#[test]
fn log_request_carries_count_and_underlay_ip() {
    let srv = Server::start_v4();
    let (reg, _p) = plugin_cfg(fast());
    let _i = started(&reg, 5, 9, "127.0.0.1", srv.port);
    srv.wait("a LOG_REQ", T, |s| {
        s.requests.iter().any(
            |(_, _, r)| matches!(r, SvpRequest::Log { count: 1024, ip } if *ip == v6("10.88.88.1")),
        )
    });
    // Nothing logged: no LOG_RM.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(srv.requests_of(SVP_R_LOG_RM), 0);
}

#[test]
fn vl2_and_vl3_records() {
    let srv = Server::start_v4();
    {
        let mut s = srv.state();
        s.vl3
            .insert((v6("10.55.55.7"), 9), (MAC, v6("10.88.88.70"), 4789));
        s.vl3.insert(
            ("fd00::7".parse().unwrap(), 9),
            (MAC, v6("10.88.88.70"), 4789),
        );
        s.log = vec![
            SvpLogRecord::Vl2 {
                id: id(1),
                mac: MAC,
                vnetid: 9,
            },
            SvpLogRecord::Vl3 {
                id: id(2),
                ip: v6("10.55.55.7"),
                vlan: 7,
                vnetid: 9,
            },
            SvpLogRecord::Vl3 {
                id: id(3),
                ip: "fd00::7".parse().unwrap(),
                vlan: 0,
                vnetid: 9,
            },
            // Another vnet, not on this host: still removed (illumos).
            SvpLogRecord::Vl2 {
                id: id(4),
                mac: MAC,
                vnetid: 12345,
            },
            // NOTFOUND: removed; FATAL: kept for redelivery.
            SvpLogRecord::Vl3 {
                id: id(5),
                ip: v6("10.55.55.8"),
                vlan: 0,
                vnetid: 9,
            },
            SvpLogRecord::Vl3 {
                id: id(6),
                ip: v6("10.55.55.9"),
                vlan: 0,
                vnetid: 9,
            },
        ];
        s.vl3_status.insert(v6("10.55.55.9"), SVP_S_FATAL);
    }
    let (reg, p) = plugin_cfg(fast());
    let i = started(&reg, 5, 9, "127.0.0.1", srv.port);
    srv.wait("a LOG_RM", T, |s| !s.removed.is_empty());
    let mut removed = srv.state().removed.clone();
    removed.sort();
    assert_eq!(removed, vec![id(1), id(2), id(3), id(4), id(5)]);
    assert_eq!(srv.state().log.len(), 1);

    // VL2: the cache entry removed (and only on this vnet's overlay).
    let rm = i.calls_of(ksys::OVERLAY_TARG_CACHE_REMOVE);
    assert_eq!(rm.len(), 1);
    assert_eq!(
        rm[0].arg,
        ksys::targ_cache(
            5,
            &TargCacheEntry {
                mac: MAC,
                ..Default::default()
            }
        )
        .to_vec()
    );
    // VL3: a gratuitous ARP tagged with VLAN 7, and an unsolicited NA.
    let inj: Vec<Vec<u8>> = i
        .calls_of(ksys::OVERLAY_TARG_INJECT)
        .into_iter()
        .map(|c| c.data)
        .collect();
    let garp = proxy::gratuitous_arp(7, &MAC, "10.55.55.7".parse().unwrap(), &[0xff; 6]);
    let na = proxy::unsolicited_na(
        0,
        &MAC,
        "fd00::7".parse().unwrap(),
        &[0x33, 0x33, 0, 0, 0, 1],
    );
    assert!(inj.contains(&garp), "{inj:?}");
    assert!(inj.contains(&na), "{inj:?}");
    assert_eq!(inj.len(), 2);
    assert_eq!(&garp[12..16], &[0x81, 0x00, 0x00, 0x07]);
    // The VL3 path does not touch the VL2 cache (as illumos).
    assert_eq!(i.calls_of(ksys::OVERLAY_TARG_CACHE_SET).len(), 0);
    let s = p.stats();
    assert!(s["log_vl2"] >= 2 && s["log_vl3"] >= 4, "{s:?}");

    // The FATAL record comes back and, once the server answers, goes.
    srv.state().vl3_status.clear();
    srv.wait("redelivered record removed", T, |s| s.log.is_empty());
}

#[test]
fn log_rm_failure_still_polls_again() {
    let srv = Server::start_v4();
    {
        let mut s = srv.state();
        s.lrm_status = SVP_S_FATAL;
        s.log = vec![SvpLogRecord::Vl2 {
            id: id(1),
            mac: MAC,
            vnetid: 9,
        }];
    }
    let (reg, _p) = plugin_cfg(fast());
    let _i = started(&reg, 5, 9, "127.0.0.1", srv.port);
    srv.wait("LOG_RM", T, |s| !s.removed.is_empty());
    let n = srv.requests_of(SVP_R_LOG_REQ);
    srv.wait("another LOG_REQ", T, |s| {
        s.requests
            .iter()
            .filter(|(_, h, _)| h.op == SVP_R_LOG_REQ)
            .count()
            > n
    });
}

#[test]
fn unsolicited_na_is_well_formed() {
    let ip: std::net::Ipv6Addr = "fd00::7".parse().unwrap();
    for vlan in [0u16, 42] {
        let f = proxy::unsolicited_na(vlan, &MAC, ip, &[0x33, 0x33, 0, 0, 0, 1]);
        let l2 = if vlan == 0 { 14 } else { 18 };
        assert_eq!(f.len(), l2 + 40 + 32);
        if vlan != 0 {
            assert_eq!(&f[12..16], &[0x81, 0x00, 0x00, 42]);
        }
        assert_eq!(&f[l2 - 2..l2], &[0x86, 0xdd]);
        let ip6 = &f[l2..l2 + 40];
        assert_eq!(ip6[6], 58);
        assert_eq!(ip6[7], 255);
        assert_eq!(&ip6[8..24], &ip.octets());
        let dst: std::net::Ipv6Addr = "ff02::1".parse().unwrap();
        assert_eq!(&ip6[24..40], &dst.octets());
        let icmp = &f[l2 + 40..];
        assert_eq!(icmp[0], 136);
        assert_eq!(icmp[4], 0x20, "Override only");
        assert_eq!(&icmp[8..24], &ip.octets());
        assert_eq!(&icmp[24..26], &[2, 1]);
        assert_eq!(&icmp[26..32], &MAC);
        // A correct checksum sums to zero.
        assert_eq!(proxy::icmpv6_checksum(&ip, &dst, icmp), 0);
    }
}

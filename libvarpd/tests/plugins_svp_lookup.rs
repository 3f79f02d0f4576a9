//! The `svp` plugin against real SVP servers on loopback (spec/svp.md
//! §2.3–§2.5): VL2 lookups, the ARP/NDP proxies with the cache inject
//! before the reply, drops, pipelining, round robin over two servers,
//! `svp_id` in host order, the backoff schedule with its degrade and
//! restore, the query timeout with its re-queue, DNS changes and failures.

mod svp_server;

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use libvarpd::ksys::{self, TargCacheEntry, TargetPoint};
use libvarpd::plugins::svp::conn::SvpConnState;
use libvarpd::plugins::svp::{ResolveError, SvpConfig};
use libvarpd::proxy;
use svp_proto::op::*;
use svp_proto::{SvpRequest, SVP_VL3_IP, SVP_VL3_IPV6};
use svp_server::fixture::*;
use svp_server::{Mode, Server};

const M1: [u8; 6] = [0x02, 0x08, 0x20, 0, 0, 1];
const M2: [u8; 6] = [0x02, 0x08, 0x20, 0, 0, 2];
const T: Duration = Duration::from_secs(20);

fn lo(n: u8) -> IpAddr {
    IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, n))
}

/// Wait until the plugin has `n` ACTIVE connections.
fn wait_active(p: &libvarpd::plugins::svp::SvpPlugin, n: usize) {
    wait_until("ACTIVE connections", T, || {
        p.remotes()
            .iter()
            .flat_map(|r| r.conns.iter())
            .filter(|c| c.state == SvpConnState::Active)
            .count()
            >= n
    });
}

#[test]
fn vl2_lookup_ok_notfound_and_no_connection() {
    let srv = Server::start_v4();
    srv.state()
        .vl2
        .insert((M1, 4694778), (v6("10.88.88.70"), 4789));
    let (reg, p) = plugin(50, None);
    let i = started(&reg, 5, 4694778, "127.0.0.1", srv.port);
    wait_active(&p, 1);
    i.lookup(1, M1);
    assert_eq!(
        i.answer(1),
        Some(TargetPoint {
            mac: [0; 6],
            ip: v6("10.88.88.70"),
            port: 4789
        })
    );
    i.lookup(2, M2);
    assert_eq!(i.answer(2), None);
    let st = srv.state();
    let vl2: Vec<_> = st
        .requests
        .iter()
        .filter_map(|(_, _, r)| match r {
            SvpRequest::Vl2 { mac, vnetid } => Some((*mac, *vnetid)),
            _ => None,
        })
        .collect();
    assert_eq!(vl2, vec![(M1, 4694778), (M2, 4694778)]);
    drop(st);

    // No ACTIVE connection: DROP at once, nothing sent.
    let (reg2, p2) = plugin(50, None);
    let j = started(&reg2, 6, 1, "127.0.0.1", closed_port());
    j.lookup(3, M1);
    assert_eq!(j.answer(3), None);
    assert!(p2.stats()["queries_noconn"] >= 1);
}

#[test]
fn svp_id_is_sent_in_host_order() {
    let srv = Server::start_v4();
    let (reg, p) = plugin(50, None);
    let i = started(&reg, 5, 9, "127.0.0.1", srv.port);
    wait_active(&p, 1);
    for k in 0..5 {
        i.lookup(k, M1);
        i.answer(k);
    }
    for (_, h, _) in srv.state().requests.iter() {
        let id = u32::from_ne_bytes(h.id);
        assert!((1..=i32::MAX as u32).contains(&id), "{:?}", h.id);
        assert!(id < 10_000, "svp_id {:?} not in host order", h.id);
        assert_eq!(h.ver, 1);
    }
}

#[test]
fn drops_broadcast_multicast_and_non_ipv6_33_33() {
    let srv = Server::start_v4();
    let (reg, p) = plugin(50, None);
    let i = started(&reg, 5, 9, "127.0.0.1", srv.port);
    wait_active(&p, 1);
    i.lookup(1, [0xff; 6]);
    i.lookup(2, [0x01, 0x00, 0x5e, 0, 0, 1]);
    i.lookup_sap(3, [0x33, 0x33, 0, 0, 0, 1], 0x0800);
    i.lookup(4, [0x03, 0, 0, 0, 0, 1]);
    for k in 1..=4 {
        assert_eq!(i.answer(k), None);
    }
    assert_eq!(
        srv.requests_of(SVP_R_VL2_REQ) + srv.requests_of(SVP_R_VL3_REQ),
        0
    );
}

fn arp_request(src: [u8; 6], spa: [u8; 4], tpa: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&spa);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&tpa);
    f
}

#[test]
fn arp_proxy_injects_the_mapping_before_the_reply() {
    let srv = Server::start_v4();
    srv.state()
        .vl3
        .insert((v6("10.55.55.2"), 23), (M2, v6("10.88.88.69"), 4789));
    let (reg, p) = plugin(50, None);
    let i = started(&reg, 5, 23, "127.0.0.1", srv.port);
    wait_active(&p, 1);
    let src = [0x02, 0, 0, 0, 0, 9];
    i.lookup_frame(
        7,
        &arp_request(src, [10, 55, 55, 1], [10, 55, 55, 2]),
        0x0806,
    );
    assert_eq!(i.answer(7), None); // the query itself is dropped
    let calls = i.dev.calls();
    let set = calls
        .iter()
        .position(|c| c.cmd == ksys::OVERLAY_TARG_CACHE_SET)
        .expect("CACHE_SET");
    let inj = calls
        .iter()
        .position(|c| c.cmd == ksys::OVERLAY_TARG_INJECT)
        .expect("INJECT");
    assert!(
        set < inj,
        "the VL2 mapping must be injected before the ARP reply"
    );
    let want = ksys::targ_cache(
        5,
        &TargCacheEntry {
            mac: M2,
            flags: 0,
            dest: TargetPoint {
                mac: [0; 6],
                ip: v6("10.88.88.69"),
                port: 4789,
            },
        },
    );
    assert_eq!(calls[set].arg, want.to_vec());
    // The reply: from M2, sha = M2, spa = 10.55.55.2.
    let reply = &calls[inj].data;
    assert_eq!(&reply[0..6], &src);
    assert_eq!(&reply[6..12], &M2);
    assert_eq!(&reply[20..22], &[0, 2]);
    assert_eq!(&reply[22..28], &M2);
    assert_eq!(&reply[28..32], &[10, 55, 55, 2]);
    let st = srv.state();
    let vl3: Vec<_> = st
        .requests
        .iter()
        .filter_map(|(_, _, r)| match r {
            SvpRequest::Vl3 { ip, l3type, vnetid } => Some((*ip, *l3type, *vnetid)),
            _ => None,
        })
        .collect();
    assert_eq!(vl3, vec![(v6("10.55.55.2"), SVP_VL3_IP, 23)]);
    drop(st);

    // Not found: no inject, dropped.
    let n = i.dev.calls().len();
    i.lookup_frame(
        8,
        &arp_request(src, [10, 55, 55, 1], [10, 55, 55, 3]),
        0x0806,
    );
    assert_eq!(i.answer(8), None);
    assert!(i.dev.calls()[n..]
        .iter()
        .all(|c| c.cmd != ksys::OVERLAY_TARG_CACHE_SET && c.cmd != ksys::OVERLAY_TARG_INJECT));
}

fn ndp_solicit(src: [u8; 6], sip: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    let t = target.octets();
    let dip: Ipv6Addr = format!("ff02::1:ff{:02x}:{:02x}{:02x}", t[13], t[14], t[15])
        .parse()
        .unwrap();
    let mut icmp = vec![135, 0, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&t);
    icmp.extend_from_slice(&[1, 1]);
    icmp.extend_from_slice(&src);
    let ck = proxy::icmpv6_checksum(&sip, &dip, &icmp);
    icmp[2..4].copy_from_slice(&ck.to_be_bytes());
    let mut f = vec![0x33, 0x33, 0xff, t[13], t[14], t[15]];
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
    f.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    f.extend_from_slice(&[58, 255]);
    f.extend_from_slice(&sip.octets());
    f.extend_from_slice(&dip.octets());
    f.extend_from_slice(&icmp);
    f
}

#[test]
fn ndp_proxy_asks_vl3_ipv6() {
    let srv = Server::start_v4();
    let target: Ipv6Addr = "fd00::2".parse().unwrap();
    srv.state()
        .vl3
        .insert((target, 23), (M2, v6("10.88.88.69"), 4789));
    let (reg, p) = plugin(50, None);
    let i = started(&reg, 5, 23, "127.0.0.1", srv.port);
    wait_active(&p, 1);
    let src = [0x02, 0, 0, 0, 0, 9];
    i.lookup_frame(
        7,
        &ndp_solicit(src, "fd00::1".parse().unwrap(), target),
        0x86dd,
    );
    assert_eq!(i.answer(7), None);
    let calls = i.dev.calls();
    let set = calls
        .iter()
        .position(|c| c.cmd == ksys::OVERLAY_TARG_CACHE_SET);
    let inj = calls
        .iter()
        .position(|c| c.cmd == ksys::OVERLAY_TARG_INJECT);
    assert!(set.unwrap() < inj.unwrap());
    let na = &calls[inj.unwrap()].data;
    assert_eq!(&na[6..12], &M2);
    assert_eq!(na[54], 136);
    let st = srv.state();
    assert!(st.requests.iter().any(|(_, _, r)| matches!(r,
        SvpRequest::Vl3 { ip, l3type, vnetid: 23 } if *ip == target && *l3type == SVP_VL3_IPV6)));
}

#[test]
fn pipelined_queries_on_one_connection() {
    let srv = Server::start_v4();
    for k in 0..8u8 {
        srv.state().vl2.insert(
            ([2, 0, 0, 0, 1, k], 9),
            (v6("10.0.0.9"), 4789 + u16::from(k)),
        );
    }
    let (reg, p) = plugin(50, None);
    let i = started(&reg, 5, 9, "127.0.0.1", srv.port);
    wait_active(&p, 1);
    srv.state().hold = true;
    for k in 0..8u8 {
        i.lookup(u64::from(k) + 1, [2, 0, 0, 0, 1, k]);
    }
    // Every query reaches the server before any is answered.
    srv.wait("8 queries in flight", T, |s| {
        s.requests
            .iter()
            .filter(|(_, h, _)| h.op == SVP_R_VL2_REQ)
            .count()
            == 8
    });
    assert_eq!(i.calls_of(ksys::OVERLAY_TARG_RESPOND).len(), 0);
    srv.release();
    for k in 0..8u8 {
        assert_eq!(
            i.answer(u64::from(k) + 1).unwrap().port,
            4789 + u16::from(k)
        );
    }
    assert_eq!(srv.state().accepted, vec![1]);
}

#[test]
fn many_pipelined_queries() {
    // Enough queries to fill the server's socket buffer while it holds its
    // answers; every frame must still arrive whole.
    let srv = Server::start_small_rcvbuf();
    srv.state().vl2.insert((M1, 9), (v6("10.0.0.9"), 4789));
    let (reg, p) = plugin(200, None);
    let i = started(&reg, 5, 9, "127.0.0.1", srv.port);
    wait_active(&p, 1);
    srv.state().hold = true;
    const N: u64 = 5_000;
    for k in 0..N {
        i.lookup(k + 1, M1);
    }
    std::thread::sleep(Duration::from_millis(200));
    srv.release();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while (i.calls_of(ksys::OVERLAY_TARG_RESPOND).len() as u64) < N {
        assert!(std::time::Instant::now() < deadline, "{:?}", p.stats());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(srv.requests_of(SVP_R_VL2_REQ) as u64, N);
    assert_eq!(p.stats()["resets"], 0);
}

#[test]
fn round_robin_over_two_servers() {
    let srv = Server::start(&[lo(1), lo(2)]);
    srv.state().vl2.insert((M1, 9), (v6("10.0.0.9"), 4789));
    let res = Arc::new(TestResolver::default());
    res.set(Ok(vec![lo(1), lo(2)]));
    let (reg, p) = plugin(50, Some(res.clone()));
    let i = started(&reg, 5, 9, "portolan.test", srv.port);
    wait_active(&p, 2);
    for k in 1..=10 {
        i.lookup(k, M1);
        assert!(i.answer(k).is_some());
    }
    let st = srv.state();
    let on: Vec<usize> = st
        .requests
        .iter()
        .filter(|(_, h, _)| h.op == SVP_R_VL2_REQ)
        .map(|(a, _, _)| *a)
        .collect();
    assert_eq!(on.len(), 10);
    // Strict alternation.
    for w in on.windows(2) {
        assert_ne!(w[0], w[1], "{on:?}");
    }
    assert_eq!(st.accepted, vec![1, 1]);
}

#[test]
fn backoff_schedule_degrade_and_restore() {
    let port = closed_port();
    let (reg, p) = plugin(10, None);
    let i = started(&reg, 5, 9, "127.0.0.1", port);
    wait_until("8 failed connects", T, || {
        p.remotes()[0]
            .conns
            .first()
            .is_some_and(|c| c.nbackoff >= 8)
    });
    let c = p.remotes()[0].conns[0].clone();
    assert_eq!(&c.backoffs[..8], &[1, 2, 4, 8, 16, 32, 32, 32]);
    assert!(c.degraded);
    assert_eq!(c.state, SvpConnState::Backoff);
    let d = i.degrades();
    assert!(!d.is_empty());
    assert!(
        d.iter().all(|m| m == "cannot reach any remote peers"),
        "{d:?}"
    );
    assert_eq!(
        p.remotes()[0].degrade_msg.as_deref(),
        Some("cannot reach any remote peers")
    );
    // The server comes up: the next attempt connects and restores.
    let srv = Server::start_at(&[lo(1)], port);
    wait_until("restore", Duration::from_secs(30), || i.restores() == 1);
    assert_eq!(p.remotes()[0].degrade, 0);
    assert_eq!(p.remotes()[0].conns[0].state, SvpConnState::Active);
    drop(srv);
}

#[test]
fn query_timeout_fails_the_first_and_requeues_the_rest() {
    // Server A never answers; B answers. Queries round-robin over both;
    // when A's query times out, A resets: its first query fails, the other
    // one moves to B.
    let a = Server::start(&[lo(1)]);
    a.set_mode(Mode::Silent);
    let b = Server::start_at(&[lo(2)], a.port);
    for k in 0..4u8 {
        b.state()
            .vl2
            .insert(([2, 0, 0, 0, 2, k], 9), (v6("10.0.0.9"), 4789));
    }
    let res = Arc::new(TestResolver::default());
    res.set(Ok(vec![lo(1), lo(2)]));
    let (reg, p) = plugin_cfg(SvpConfig {
        tick: Duration::from_millis(50),
        query_timeout: 4,
        resolver: Some(res),
        ..SvpConfig::default()
    });
    let i = started(&reg, 5, 9, "portolan.test", a.port);
    wait_active(&p, 2);
    for k in 0..4u8 {
        i.lookup(u64::from(k) + 1, [2, 0, 0, 0, 2, k]);
    }
    let answers: Vec<_> = (1..=4).map(|k| i.answer(k)).collect();
    let drops = answers.iter().filter(|a| a.is_none()).count();
    assert_eq!(drops, 1, "{answers:?}");
    assert!(p.stats()["reset_timeout"] >= 1);
    // A was reconnected.
    a.wait("reconnect", T, |s| s.accepted[0] >= 2);
}

#[test]
fn dns_changes_add_and_wind_down_connections() {
    let srv = Server::start(&[lo(1), lo(2)]);
    let res = Arc::new(TestResolver::default());
    res.set(Ok(vec![lo(1)]));
    let (reg, p) = plugin_cfg(SvpConfig {
        tick: Duration::from_millis(20),
        dns_rate: 3,
        resolver: Some(res.clone()),
        ..SvpConfig::default()
    });
    let _i = started(&reg, 5, 9, "portolan.test", srv.port);
    wait_active(&p, 1);
    assert_eq!(p.remotes()[0].conns[0].addr, v6("127.0.0.1"));
    res.set(Ok(vec![lo(2)]));
    wait_until("the new address only", T, || {
        let r = &p.remotes()[0];
        r.conns.len() == 1
            && r.conns[0].addr == v6("127.0.0.2")
            && r.conns[0].state == SvpConnState::Active
    });
    res.set(Ok(vec![lo(1), lo(2), lo(2)]));
    wait_active(&p, 2);
    assert_eq!(p.remotes()[0].conns.len(), 2);
}

#[test]
fn dns_failures_degrade_and_recover() {
    let srv = Server::start_v4();
    let res = Arc::new(TestResolver::default());
    res.set(Err(ResolveError::NotFound(
        "Name or service not known".into(),
    )));
    let (reg, p) = plugin_cfg(SvpConfig {
        tick: Duration::from_millis(20),
        dns_rate: 2,
        resolver: Some(res.clone()),
        ..SvpConfig::default()
    });
    let i = started(&reg, 5, 9, "nosuch.example", srv.port);
    wait_until("DNS degrade", T, || !i.degrades().is_empty());
    assert_eq!(
        i.degrades()[0],
        "failed to resolve or find entries for hostname nosuch.example"
    );
    res.set(Ok(vec![lo(1)]));
    wait_until("restore", T, || i.restores() == 1);
    wait_active(&p, 1);
    let ndeg = i.degrades().len();

    // Temporary failures: retried each tick, never in a tight loop;
    // degraded from the third.
    res.set(Err(ResolveError::Temporary("try again".into())));
    let before = res.calls();
    std::thread::sleep(Duration::from_millis(400));
    let n = res.calls() - before;
    assert!(n >= 3, "{n} retries");
    assert!(n < 100, "{n} resolver calls in 400 ms: spinning");
    wait_until("degrade after temporary failures", T, || {
        i.degrades().len() > ndeg
    });
    assert_eq!(i.degrades()[ndeg], i.degrades()[0]);
}

#[test]
fn instances_on_a_degraded_remote_are_degraded_at_attach() {
    let res = Arc::new(TestResolver::default());
    res.set(Err(ResolveError::NotFound("no".into())));
    let (reg, _p) = plugin(20, Some(res));
    let a = started(&reg, 5, 9, "nosuch.example", 1296);
    wait_until("degrade", T, || !a.degrades().is_empty());
    let b = started(&reg, 6, 10, "nosuch.example", 1296);
    assert_eq!(b.degrades(), a.degrades());
}

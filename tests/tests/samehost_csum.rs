//! Partial inner checksums from a same-host peer (docs/fkoverlayd.md,
//! `mac_rx_csum_partial`).
//!
//! A Linux vxlan peer over a veth leaves its inner TCP/UDP checksums
//! partial (the folded pseudo-header sum, for a NIC that never comes);
//! fkoverlayd finishes them before the VNIC's stack sees them, and leaves
//! every other bad checksum alone so that stack drops it. The interop tests
//! (interop_linux.rs) run TCP with the peer's default offloads; this test
//! sends hand-made VXLAN datagrams from the peer namespace so each case is
//! exact:
//!
//! | inner packet | expected | counted |
//! |---|---|---|
//! | UDP, correct checksum | delivered to the socket | — |
//! | UDP, partial sum | finished, delivered | `mac_rx_csum_partial` +1 |
//! | UDP, bad checksum | delivered as is, dropped by the stack | kernel `Udp InCsumErrors` +1 |
//! | TCP SYN to a closed port, partial sum | finished; the stack answers RST | `mac_rx_csum_partial` +1, `Tcp OutRsts` +1 |
//! | TCP SYN, bad checksum | dropped by the stack, no RST | `Tcp InCsumErrors` +1 |

use overlay_tests::have_root;
use overlay_tests::host::{delta, PeerPair, TwoHosts};
use overlay_tests::linux_peer::mac_of;
use overlay_tests::netns::Family;
use overlay_tests::packets::{ether_frame, inet_csum, ipv4_udp, vxlan_hdr, UdpCsum};
use overlay_tests::traffic::snmp;
use std::net::UdpSocket;
use std::time::Duration;

const VNETID: u32 = 23;
const PORT: u16 = 4789;
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x17, 0x02];

/// An IPv4 header + `l4` with protocol `proto`, correct header checksum.
fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], l4: &[u8]) -> Vec<u8> {
    let total = (20 + l4.len()) as u16;
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&[0x12, 0x34, 0x40, 0, 64, proto, 0, 0]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let c = inet_csum(0, &h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(l4);
    h
}

/// A TCP SYN from `sport` to `dport` with the checksum chosen by `csum`.
fn tcp_syn(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, csum: UdpCsum) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&0x0102_0304u32.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    t.extend_from_slice(&[0x50, 0x02, 0xfa, 0xf0, 0, 0, 0, 0]);
    let pseudo = u32::from(u16::from_be_bytes([src[0], src[1]]))
        + u32::from(u16::from_be_bytes([src[2], src[3]]))
        + u32::from(u16::from_be_bytes([dst[0], dst[1]]))
        + u32::from(u16::from_be_bytes([dst[2], dst[3]]))
        + 6
        + t.len() as u32;
    let good = inet_csum(pseudo, &t);
    let c = match csum {
        UdpCsum::Good => good,
        UdpCsum::Bad | UdpCsum::Zero => good ^ 0x5a5a,
        UdpCsum::Partial => !inet_csum(pseudo, &[]),
    };
    t[16..18].copy_from_slice(&c.to_be_bytes());
    t
}

#[test]
fn partial_inner_checksums_are_finished_bad_ones_delivered_as_is() {
    if !have_root("partial_inner_checksums_are_finished_bad_ones_delivered_as_is") {
        return;
    }
    let PeerPair { ours, peer, ul } = TwoHosts::new("sh").underlay(Family::V4, 174).build_peer();
    ours.direct_overlay("ov0", VNETID, &ul.ip_a, &ul.ip_b, PORT);
    ours.vnic("ov0", "foo0", None, "10.174.0.1/24");
    let vnic_mac = mac_of(&ours.ns, "foo0");
    // Replies (the RST) need no neighbour resolution across the overlay.
    ours.ns.exec_ok(
        "ip",
        &[
            "neigh",
            "replace",
            "10.174.0.2",
            "lladdr",
            "02:00:00:00:17:02",
            "dev",
            "foo0",
        ],
    );
    let (o_ip, p_ip) = ([10, 174, 0, 1], [10, 174, 0, 2]);
    let rx = ours.ns.udp_socket("10.174.0.1:7777");
    rx.set_read_timeout(Some(Duration::from_millis(800)))
        .expect("read timeout");
    let tx: UdpSocket = peer.udp_socket(&format!("{}:0", ul.ip_b));
    let to = format!("{}:{PORT}", ul.ip_a);
    let send = |ip_pkt: &[u8]| {
        let mut d = vxlan_hdr(0x08, 0, VNETID, 0).to_vec();
        d.extend_from_slice(&ether_frame(vnic_mac, PEER_MAC, 0x0800, ip_pkt));
        tx.send_to(&d, &to).expect("send_to");
    };
    let got = |want: &[u8]| -> bool {
        let mut buf = [0u8; 2048];
        match rx.recv_from(&mut buf) {
            Ok((n, _)) => &buf[..n] == want,
            Err(_) => false,
        }
    };

    let udp_case = |name: &str, csum: UdpCsum, payload: &[u8]| {
        let s0 = ours.stats();
        let k0 = snmp(&ours.ns, "Udp", "InCsumErrors");
        send(&ipv4(
            17,
            p_ip,
            o_ip,
            &ipv4_udp(p_ip, o_ip, 40_000, 7777, payload, csum),
        ));
        let delivered = got(payload);
        let s1 = ours.stats();
        let errs = snmp(&ours.ns, "Udp", "InCsumErrors") - k0;
        let fin = delta(&s0, &s1, "mac_rx_csum_partial");
        eprintln!(
            "{name}: delivered {delivered}, mac_rx_csum_partial +{fin}, Udp InCsumErrors +{errs}"
        );
        (delivered, fin, errs)
    };
    assert_eq!(
        udp_case("UDP good", UdpCsum::Good, b"good checksum"),
        (true, 0, 0)
    );
    assert_eq!(
        udp_case("UDP partial", UdpCsum::Partial, b"partial checksum"),
        (true, 1, 0)
    );
    assert_eq!(
        udp_case("UDP bad", UdpCsum::Bad, b"bad checksum!"),
        (false, 0, 1)
    );

    let tcp_case = |name: &str, csum: UdpCsum, sport: u16| {
        let s0 = ours.stats();
        let (r0, e0) = (
            snmp(&ours.ns, "Tcp", "OutRsts"),
            snmp(&ours.ns, "Tcp", "InCsumErrors"),
        );
        send(&ipv4(6, p_ip, o_ip, &tcp_syn(p_ip, o_ip, sport, 9, csum)));
        std::thread::sleep(Duration::from_millis(300));
        let s1 = ours.stats();
        let rsts = snmp(&ours.ns, "Tcp", "OutRsts") - r0;
        let errs = snmp(&ours.ns, "Tcp", "InCsumErrors") - e0;
        let fin = delta(&s0, &s1, "mac_rx_csum_partial");
        eprintln!("{name}: mac_rx_csum_partial +{fin}, Tcp OutRsts +{rsts}, InCsumErrors +{errs}");
        (fin, rsts, errs)
    };
    assert_eq!(tcp_case("TCP SYN good", UdpCsum::Good, 41_000), (0, 1, 0));
    assert_eq!(
        tcp_case("TCP SYN partial", UdpCsum::Partial, 41_001),
        (1, 1, 0)
    );
    assert_eq!(tcp_case("TCP SYN bad", UdpCsum::Bad, 41_002), (0, 0, 1));
}

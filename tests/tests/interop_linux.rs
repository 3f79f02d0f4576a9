//! Interop with Linux's kernel vxlan.
//!
//! Two namespaces joined by a veth underlay, the peer's offloads as Linux
//! sets them (a veth's transmit checksum offload on: the peer's inner
//! TCP/UDP checksums arrive partial and its TCP segments up to 64 KiB
//! whole, as from a container or VM on the same machine): "ours" runs fkoverlayd, varpd
//! and dladm with the `direct` search plugin (a VNIC `foo0` with an
//! address); "linux" has `ip link add vx0 type vxlan id N local B remote A
//! dstport P nolearning` with an address (spec/vxlan.md §2.2). Each case
//! pings both ways, runs a short iperf3 TCP transfer both ways, and checks
//! that a full-MTU (1400) packet with DF set crosses both ways while one
//! byte more does not.
//!
//! The matrix (also in docs/interop.md): IPv4 underlay vnetid 23 port 4789;
//! vnetid 0; vnetid 16777215; IPv6 underlay; port 8472 on both sides; the
//! Linux vxlan as a port of a bridge that carries the address.

use overlay_tests::have_root;
use overlay_tests::host::{PeerPair, TwoHosts};
use overlay_tests::linux_peer::{linux_vxlan, linux_vxlan_with};
use overlay_tests::netns::Family;
use overlay_tests::traffic::{iperf3, ping, ping_df, snmp6};

/// One interop case.
struct Case {
    name: &'static str,
    fam: Family,
    vnetid: u32,
    port: u16,
    subnet: u8,
    /// The Linux vxlan is a port of a bridge `br0` carrying the address
    /// (the usual deployment), instead of carrying it itself.
    bridged: bool,
}

/// Overlay MTU on both sides (our default; set on the Linux device).
const MTU: u32 = 1400;

fn run_case(c: &Case) {
    let PeerPair {
        ours,
        peer: linux,
        ul,
    } = TwoHosts::new("wr").underlay(c.fam, c.subnet).build_peer();
    ours.direct_overlay("ov0", c.vnetid, &ul.ip_a, &ul.ip_b, c.port);
    let o_ip = format!("10.{}.0.1", c.subnet);
    let l_ip = format!("10.{}.0.2", c.subnet);
    ours.vnic("ov0", "foo0", None, &format!("{o_ip}/24"));
    if c.bridged {
        linux.exec_ok("ip", &["link", "add", "br0", "type", "bridge"]);
        linux_vxlan_with(
            &linux,
            "vx0",
            c.vnetid,
            &ul.ip_b,
            &ul.ip_a,
            c.port,
            MTU,
            "",
            &[],
        );
        linux.exec_ok("ip", &["link", "set", "vx0", "master", "br0"]);
        linux.plumb("br0", &format!("{l_ip}/24"));
    } else {
        linux_vxlan(
            &linux,
            "vx0",
            c.vnetid,
            &ul.ip_b,
            &ul.ip_a,
            c.port,
            MTU,
            &format!("{l_ip}/24"),
        );
    }
    // The VNIC's MTU is the overlay's.
    let mtu = ours.dladm_ok(&["show-link", "-p", "-o", "mtu", "foo0"]);
    assert_eq!(mtu.trim(), MTU.to_string(), "{}: VNIC MTU", c.name);

    assert!(ping(&ours.ns, &l_ip, 3), "{}: ours -> linux ping", c.name);
    assert!(ping(&linux, &o_ip, 3), "{}: linux -> ours ping", c.name);

    // Full-size packets: 1400 - 20 (IPv4) - 8 (ICMP) = 1372 bytes of
    // payload fits with DF; 1373 does not leave the sender.
    assert!(
        ping_df(&ours.ns, &l_ip, 1372),
        "{}: 1400-byte DF ours -> linux",
        c.name
    );
    assert!(
        ping_df(&linux, &o_ip, 1372),
        "{}: 1400-byte DF linux -> ours",
        c.name
    );
    let big = ours.ns.exec(
        "ping",
        &["-c", "1", "-W", "1", "-M", "do", "-s", "1373", &l_ip],
    );
    assert!(
        !big.status.success(),
        "{}: 1401 bytes with DF must not pass",
        c.name
    );

    let up = iperf3(&linux, &ours.ns, &l_ip, 2)
        .unwrap_or_else(|e| panic!("{}: ours -> linux TCP: {e}", c.name));
    assert!(
        up > 100_000,
        "{}: ours -> linux TCP moved only {up} bytes",
        c.name
    );
    let down = iperf3(&ours.ns, &linux, &o_ip, 2)
        .unwrap_or_else(|e| panic!("{}: linux -> ours TCP: {e}", c.name));
    assert!(
        down > 100_000,
        "{}: linux -> ours TCP moved only {down} bytes",
        c.name
    );
    eprintln!(
        "{}: ping both ways, DF 1400 both ways, iperf3 {up} B up, {down} B down",
        c.name
    );

    // Both daemons still serve and nothing was dropped for a bad header.
    let s = ours.stats();
    eprintln!(
        "{}: partial checksums finished {}, TSO frames passed up {}, of {} datagrams",
        c.name, s["mac_rx_csum_partial"], s["mac_rx_gso_partial"], s["udp_rx_datagrams"]
    );
    // With its default offloads the peer leaves inner checksums partial
    // (a veth has no NIC to finish them): fkoverlayd finished them.
    assert!(
        s["mac_rx_csum_partial"] + s["mac_rx_gso_partial"] > 0,
        "{}: no partial checksum seen: {s:?}",
        c.name
    );
    assert_eq!(s["mux_rx_drop_decap"], 0, "{}: {s:?}", c.name);
    assert_eq!(s["mux_rx_drop_unknown_vnetid"], 0, "{}: {s:?}", c.name);
    assert!(s["mux_rx_ok"] > 0, "{}: {s:?}", c.name);
}

#[test]
fn interop_linux_v4_vnetid23_port4789() {
    if !have_root("interop_linux_v4_vnetid23_port4789") {
        return;
    }
    run_case(&Case {
        name: "v4/23/4789",
        fam: Family::V4,
        vnetid: 23,
        port: 4789,
        subnet: 151,
        bridged: false,
    });
}

#[test]
fn interop_linux_vnetid_0() {
    if !have_root("interop_linux_vnetid_0") {
        return;
    }
    run_case(&Case {
        name: "v4/0/4789",
        fam: Family::V4,
        vnetid: 0,
        port: 4789,
        subnet: 152,
        bridged: false,
    });
}

#[test]
fn interop_linux_vnetid_max() {
    if !have_root("interop_linux_vnetid_max") {
        return;
    }
    run_case(&Case {
        name: "v4/16777215/4789",
        fam: Family::V4,
        vnetid: 16_777_215,
        port: 4789,
        subnet: 153,
        bridged: false,
    });
}

#[test]
fn interop_linux_ipv6_underlay() {
    if !have_root("interop_linux_ipv6_underlay") {
        return;
    }
    run_case(&Case {
        name: "v6/23/4789",
        fam: Family::V6,
        vnetid: 23,
        port: 4789,
        subnet: 154,
        bridged: false,
    });
}

#[test]
fn interop_linux_port_8472() {
    if !have_root("interop_linux_port_8472") {
        return;
    }
    run_case(&Case {
        name: "v4/23/8472",
        fam: Family::V4,
        vnetid: 23,
        port: 8472,
        subnet: 155,
        bridged: false,
    });
}

#[test]
fn interop_linux_bridged_vxlan() {
    if !have_root("interop_linux_bridged_vxlan") {
        return;
    }
    run_case(&Case {
        name: "v4/23/4789 bridged",
        fam: Family::V4,
        vnetid: 23,
        port: 4789,
        subnet: 157,
        bridged: true,
    });
}

/// A Linux peer sending zero UDP checksums over IPv6 (`udp6zerocsumtx`,
/// RFC 6935/6936, allowed for tunnels): our host must accept them for
/// traffic to flow from Linux to us. fkoverlayd's underlay socket sets
/// `UDP_NO_CHECK6_RX`; without it the host's UDPv6 stack drops every such
/// datagram (counted in `Udp6InCsumErrors`) before fkoverlayd sees it.
/// See docs/interop.md.
#[test]
fn interop_linux_ipv6_zero_checksum() {
    if !have_root("interop_linux_ipv6_zero_checksum") {
        return;
    }
    let PeerPair {
        ours,
        peer: linux,
        ul,
    } = TwoHosts::new("wr").underlay(Family::V6, 156).build_peer();
    ours.direct_overlay("ov0", 23, &ul.ip_a, &ul.ip_b, 4789);
    ours.vnic("ov0", "foo0", None, "10.156.0.1/24");
    linux_vxlan_with(
        &linux,
        "vx0",
        23,
        &ul.ip_b,
        &ul.ip_a,
        4789,
        MTU,
        "10.156.0.2/24",
        &["udp6zerocsumtx", "udp6zerocsumrx"],
    );
    let k0 = snmp6(&ours.ns, "Udp6InCsumErrors") + snmp6(&ours.ns, "Udp6InErrors");
    let ok = ping(&linux, "10.156.0.1", 3);
    let k1 = snmp6(&ours.ns, "Udp6InCsumErrors") + snmp6(&ours.ns, "Udp6InErrors");
    eprintln!(
        "linux -> ours with zero UDPv6 checksums: ping {ok}, Udp6 errors +{}",
        k1 - k0
    );
    assert!(
        ok,
        "zero-checksum UDPv6 from Linux not accepted (Udp6 errors +{})",
        k1 - k0
    );
}

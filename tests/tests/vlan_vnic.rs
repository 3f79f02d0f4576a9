//! VLAN VNICs (`dladm create-vnic -v <vid>`, Triton's fabric VLANs) end
//! to end, on two hosts (network namespaces, each with fkoverlayd and
//! varpd) joined by one overlay:
//!
//! * VNICs with VID 5 on both hosts ping each other and carry TCP (a
//!   checked 8 MiB transfer each way and iperf3): the TAPs see untagged
//!   frames, TSO frames are cut and checksummed before the tag goes in,
//!   and `tshark` on the underlay shows the inner 802.1Q tag with VID 5
//!   (and none on an untagged VNIC's traffic);
//! * classification by (VID, MAC), with raw frames on the TAPs: a VID 5
//!   VNIC reaches the other host's VID 5 VNIC only, never a VID 0 or VID 6
//!   one (counted drops), broadcasts stay in their VLAN, a VLAN without a
//!   VNIC on the other host is `mac_rx_vlan_drops`, and local switching
//!   between VNICs of one overlay respects VIDs;
//! * persistence: after `kill -9` of fkoverlayd, `dladm up-overlay` brings
//!   the VNICs back with their VIDs, and `up-vnic` restores a VNIC taken
//!   down with `delete-vnic -t`;
//! * a `files` overlay (dynamic): a tagged ARP request is answered by
//!   varpd's proxy with a tagged reply, so VID 5 VNICs ping each other,
//!   and a gratuitous ARP injected with VLAN 5 (`libvarpd_inject_arp`)
//!   reaches the VID 5 VNIC only, untagged;
//! * interop: frames a Linux kernel `vxlan` device carries with a VID 5 tag
//!   (priority bits ignored) reach the VID 5 VNIC untagged, untagged ones
//!   the untagged VNIC, a VID without a VNIC is counted.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use libvarpd::kdev::KDev;
use libvarpd::ksys::{FEXCL, FREAD, FWRITE};
use libvarpd::plugin::ProviderHandle;
use overlay_sys::fk::{fk_dl_info_t, fk_set_str, FK_DL_NAME2ID};
use overlay_tests::capture::Capture;
use overlay_tests::daemons::FkConn;
use overlay_tests::have_root;
use overlay_tests::host::{delta, HostPair, OurHost, PeerPair, TwoHosts};
use overlay_tests::linux_peer::{linux_vxlan, mac_of};
use overlay_tests::netns::{Family, Netns, PacketSocket, TempRoot};
use overlay_tests::packets::ether_frame;
use overlay_tests::traffic::{iperf3, ping};

const ETHERTYPE_TEST: u16 = 0x88b5;
const ETHERTYPE_ARP: u16 = 0x0806;

/// No IPv6 chatter (router solicitations, MLD) on the VNICs, so the drop
/// counters below count only the test's frames.
const QUIET: &str =
    "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1";

/// Two of our hosts with the direct overlay `ov0` (VNI 23) between them,
/// software checksums on the underlay so tshark sees the real values.
fn pair(subnet: u8) -> HostPair {
    let p = TwoHosts::new("vl")
        .sysctl(QUIET)
        .underlay(Family::V4, subnet)
        .tx_checksum_off()
        .build();
    let (a, b, ul) = (&p.a, &p.b, &p.ul);
    a.direct_overlay("ov0", 23, &ul.ip_a, &ul.ip_b, 4789);
    b.direct_overlay("ov0", 23, &ul.ip_b, &ul.ip_a, 4789);
    p
}

/// `dladm create-vnic -l ov0 [-v vid] name`, then the address (or just
/// link up).
fn vnic(h: &OurHost, name: &str, vid: Option<u16>, cidr: Option<&str>) {
    let v = vid.map(|v| v.to_string());
    let mut args = vec!["create-vnic", "-l", "ov0"];
    if let Some(v) = &v {
        args.extend(["-v", v.as_str()]);
    }
    args.push(name);
    h.dladm_ok(&args);
    match cidr {
        Some(c) => h.ns.plumb(name, c),
        None => {
            h.ns.exec_ok("ip", &["link", "set", name, "up"]);
        }
    }
}

/// A test frame carrying `marker`.
fn frame(dst: [u8; 6], src: [u8; 6], marker: u8) -> Vec<u8> {
    let mut p = b"VLANTEST".to_vec();
    p.push(marker);
    p.resize(46, 0x5a);
    ether_frame(dst, src, ETHERTYPE_TEST, &p)
}

/// The markers of the test frames `ps` receives within `wait`; every one
/// must be untagged and exactly as sent (`len` bytes).
fn markers(ps: &PacketSocket, wait: Duration) -> BTreeSet<u8> {
    let mut out = BTreeSet::new();
    let end = Instant::now() + wait;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        let Some(f) = ps.recv(left) else { break };
        if f.len() < 23 || &f[14..22] != b"VLANTEST" {
            continue;
        }
        assert_eq!(
            &f[12..14],
            &ETHERTYPE_TEST.to_be_bytes(),
            "a VNIC got a tagged frame: {f:02x?}"
        );
        assert_eq!(f.len(), 60, "frame changed on the way: {f:02x?}");
        out.insert(f[22]);
    }
    out
}

fn set(v: &[u8]) -> BTreeSet<u8> {
    v.iter().copied().collect()
}

/// The byte at `i` of the transfer pattern.
fn pat(i: usize) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 9)) as u8
}

/// Sends `n` pattern bytes over TCP from `cli` to `srv_ip` (a listener in
/// `srv`) and checks every byte that arrives.
fn tcp_transfer(srv: &Netns, srv_ip: &str, cli: &Netns, n: usize) {
    let addr = format!("{srv_ip}:5990");
    let a2 = addr.clone();
    let l = srv.run_in(move || TcpListener::bind(&a2).unwrap_or_else(|e| panic!("bind {a2}: {e}")));
    let rx = std::thread::spawn(move || {
        let (mut s, _) = l.accept().expect("accept");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut buf = vec![0u8; 65536];
        let mut got = 0usize;
        loop {
            let k = s.read(&mut buf).expect("read (transfer stalled?)");
            if k == 0 {
                break;
            }
            for (j, b) in buf[..k].iter().enumerate() {
                assert_eq!(*b, pat(got + j), "byte {} corrupted", got + j);
            }
            got += k;
        }
        got
    });
    let a3 = addr.clone();
    let mut c = cli.run_in(move || {
        TcpStream::connect_timeout(&a3.parse().unwrap(), Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("connect {a3}: {e}"))
    });
    c.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    let data: Vec<u8> = (0..n).map(pat).collect();
    c.write_all(&data).expect("write");
    c.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(rx.join().expect("receiver"), n, "bytes received");
}

#[test]
fn vlan_vnic_two_hosts() {
    if !have_root("vlan_vnic_two_hosts") {
        return;
    }
    let HostPair { mut a, b, ul } = pair(61);
    // A: a5v0 (VID 5), a5x0 (VID 5, for local switching), a0u0 (untagged),
    // a6v0 (VID 6), a7v0 (VID 7: no such VNIC on B).
    vnic(&a, "a5v0", Some(5), Some("10.5.5.1/24"));
    vnic(&a, "a5x0", Some(5), None);
    vnic(&a, "a0u0", None, Some("10.50.0.1/24"));
    vnic(&a, "a6v0", Some(6), None);
    vnic(&a, "a7v0", Some(7), None);
    // B: b5v0 (VID 5), b0u0 (untagged), b6v0 (VID 6).
    vnic(&b, "b5v0", Some(5), Some("10.5.5.2/24"));
    vnic(&b, "b0u0", None, Some("10.50.0.2/24"));
    vnic(&b, "b6v0", Some(6), None);

    assert_eq!(
        a.dladm_ok(&["show-vnic", "-p", "-o", "link,over,vid"]),
        "a5v0:ov0:5\na5x0:ov0:5\na0u0:ov0:0\na6v0:ov0:6\na7v0:ov0:7\n"
    );
    let human = b.dladm_ok(&["show-vnic", "-o", "link,vid"]);
    assert_eq!(
        human,
        "LINK         VID\nb5v0         5\nb0u0         0\nb6v0         6\n"
    );

    // Ping on VID 5 and on the untagged VNICs, captured on the underlay.
    let dir = TempRoot::new("vl");
    let mut cap = Capture::start(&a.ns, &ul.if_a, dir.path());
    assert!(ping(&a.ns, "10.5.5.2", 3), "VID 5 VNICs cannot ping");
    assert!(ping(&b.ns, "10.5.5.1", 2), "VID 5 VNICs cannot ping back");
    assert!(ping(&a.ns, "10.50.0.2", 2), "untagged VNICs cannot ping");
    cap.stop();
    let v5 = cap.fields(
        4789,
        "vxlan && icmp && ip.addr == 10.5.5.1",
        &["vlan.id", "vlan.etype", "vxlan.vni"],
    );
    assert!(v5.len() >= 10, "VID 5 ICMP not captured: {v5:?}");
    for r in &v5 {
        assert_eq!(r, &["5", "0x0800", "23"], "inner tag on the wire: {v5:?}");
    }
    let arp5 = cap.fields(4789, "vxlan && arp && vlan", &["vlan.id"]);
    assert!(
        !arp5.is_empty() && arp5.iter().all(|r| r[0] == "5"),
        "ARP on VID 5 not tagged: {arp5:?}"
    );
    let u0 = cap.fields(4789, "vxlan && icmp && ip.addr == 10.50.0.1", &["vlan.id"]);
    assert!(u0.len() >= 4, "untagged ICMP not captured: {u0:?}");
    assert!(
        u0.iter().all(|r| r[0].is_empty()),
        "untagged VNIC's frames carry a tag: {u0:?}"
    );

    // TCP over VID 5: TSO frames from the TAP are segmented and
    // checksummed untagged, then tagged; every byte must arrive intact.
    let (sa0, sb0) = (a.stats(), b.stats());
    tcp_transfer(&b.ns, "10.5.5.2", &a.ns, 8 << 20);
    tcp_transfer(&a.ns, "10.5.5.1", &b.ns, 8 << 20);
    let bytes = iperf3(&b.ns, &a.ns, "10.5.5.2", 2).expect("iperf3 over VID 5");
    assert!(bytes > 1 << 20, "iperf3 moved only {bytes} bytes");
    let (sa1, sb1) = (a.stats(), b.stats());
    assert!(
        delta(&sa0, &sa1, "tap_tso_frames") > 0,
        "no TSO frame: {sa1:?}"
    );
    assert!(delta(&sa0, &sa1, "vlan_tx_tagged") > 10_000, "{sa1:?}");
    assert!(delta(&sb0, &sb1, "vlan_rx_untagged") > 10_000, "{sb1:?}");
    for (s0, s1) in [(&sa0, &sa1), (&sb0, &sb1)] {
        assert_eq!(delta(s0, s1, "tap_rx_offload_drops"), 0, "{s1:?}");
        assert_eq!(delta(s0, s1, "tap_rx_vlan_drops"), 0, "{s1:?}");
    }

    // Classification with raw frames (EtherType 0x88b5) on the TAPs.
    let m = |h: &OurHost, n: &str| mac_of(&h.ns, n);
    let (m5a, m5x, m0a, m6a, m7a) = (
        m(&a, "a5v0"),
        m(&a, "a5x0"),
        m(&a, "a0u0"),
        m(&a, "a6v0"),
        m(&a, "a7v0"),
    );
    let (m5b, m0b, m6b) = (m(&b, "b5v0"), m(&b, "b0u0"), m(&b, "b6v0"));
    let ps = |h: &OurHost, n: &str| h.ns.packet_socket(n, ETHERTYPE_TEST);
    let (s5a, s5x, s0a, s6a, s7a) = (
        ps(&a, "a5v0"),
        ps(&a, "a5x0"),
        ps(&a, "a0u0"),
        ps(&a, "a6v0"),
        ps(&a, "a7v0"),
    );
    let (r5b, r0b, r6b) = (ps(&b, "b5v0"), ps(&b, "b0u0"), ps(&b, "b6v0"));
    let bc = [0xff; 6];
    let sb0 = b.stats();
    s5a.send(&frame(m5b, m5a, 1)); // VID 5 -> VID 5 on B
    s5a.send(&frame(m0b, m5a, 2)); // VID 5 -> untagged on B: dropped
    s5a.send(&frame(m6b, m5a, 3)); // VID 5 -> VID 6 on B: dropped
    s5a.send(&frame(bc, m5a, 4)); // broadcast on VID 5
    s0a.send(&frame(bc, m0a, 5)); // broadcast untagged
    s6a.send(&frame(bc, m6a, 6)); // broadcast on VID 6
    s7a.send(&frame(bc, m7a, 7)); // broadcast on VID 7: no VNIC on B
    s5a.send(&frame(m5x, m5a, 8)); // local, same VID
    s5a.send(&frame(m0a, m5a, 9)); // local MAC, other VID: not local
    s6a.send(&frame(m6b, m6a, 10)); // VID 6 -> VID 6 on B
    let wait = Duration::from_millis(1500);
    assert_eq!(markers(&r5b, wait), set(&[1, 4]), "B's VID 5 VNIC");
    assert_eq!(markers(&r0b, wait), set(&[5]), "B's untagged VNIC");
    assert_eq!(markers(&r6b, wait), set(&[6, 10]), "B's VID 6 VNIC");
    assert_eq!(markers(&s5x, wait), set(&[4, 8]), "A's second VID 5 VNIC");
    // Frames a socket sent itself may show as outgoing; only others'
    // count here.
    let others = |s: BTreeSet<u8>, own: &[u8]| -> BTreeSet<u8> {
        s.into_iter().filter(|k| !own.contains(k)).collect()
    };
    assert_eq!(
        others(markers(&s0a, wait), &[5]),
        set(&[]),
        "A's untagged VNIC"
    );
    assert_eq!(
        others(markers(&s6a, wait), &[6, 10]),
        set(&[]),
        "A's VID 6 VNIC"
    );
    assert_eq!(
        others(markers(&s7a, wait), &[7]),
        set(&[]),
        "A's VID 7 VNIC"
    );
    let sb1 = b.stats();
    assert!(
        delta(&sb0, &sb1, "mac_rx_no_client_drops") >= 3,
        "frames for a MAC not on their VLAN: {sb1:?}"
    );
    assert!(
        delta(&sb0, &sb1, "mac_rx_vlan_drops") >= 1,
        "VID 7 frame not counted: {sb1:?}"
    );

    // Persistence: fkoverlayd crashes; up-overlay brings the VNICs back
    // with their VIDs.
    let before = b.dladm_ok(&["show-vnic", "-P", "-p", "-o", "link,vid"]);
    assert_eq!(before, "b5v0:5\nb0u0:0\nb6v0:6\n");
    let mut b = b;
    b.kill9_fk();
    // varpd loses /dev/overlay and exits.
    let end = Instant::now() + Duration::from_secs(10);
    while b.varpd.as_mut().is_some_and(|v| v.running()) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    b.varpd = None;
    assert!(!b.ns.has_link("b5v0"), "TAP outlived fkoverlayd");
    b.start();
    assert_eq!(b.dladm_ok(&["show-vnic", "-p", "-o", "link,vid"]), "");
    b.dladm_ok(&["up-overlay"]);
    assert_eq!(b.dladm_ok(&["show-vnic", "-p", "-o", "link,vid"]), before);
    b.ns.plumb("b5v0", "10.5.5.2/24");
    assert!(
        ping(&a.ns, "10.5.5.2", 2),
        "no VID 5 traffic after up-overlay"
    );

    // up-vnic alone restores the VID of a VNIC taken down with -t.
    b.dladm_ok(&["delete-vnic", "-t", "b5v0"]);
    assert!(!b.ns.has_link("b5v0"));
    assert_eq!(
        b.dladm_ok(&["show-vnic", "-p", "-o", "link,vid"]),
        "b0u0:0\nb6v0:6\n"
    );
    b.dladm_ok(&["up-vnic", "b5v0"]);
    assert_eq!(
        b.dladm_ok(&["show-vnic", "-p", "-o", "link,vid", "b5v0"]),
        "b5v0:5\n"
    );
    b.ns.plumb("b5v0", "10.5.5.2/24");
    assert!(ping(&a.ns, "10.5.5.2", 2), "no VID 5 traffic after up-vnic");
    assert!(a.daemons_alive(), "A's daemons died");
}

const MAC_A: &str = "de:ad:be:ef:05:01";
const MAC_B: &str = "de:ad:be:ef:05:02";

fn files_config(ip_a: &str, ip_b: &str) -> String {
    format!(
        r#"{{
  "{MAC_A}": {{ "ip": "{ip_a}", "port": 4789, "arp": "10.5.6.1" }},
  "{MAC_B}": {{ "ip": "{ip_b}", "port": 4789, "arp": "10.5.6.2" }}
}}
"#
    )
}

fn files_overlay(h: &OurHost, listen: &str, cfg: &std::path::Path) {
    h.files_overlay("ov0", 23, listen, cfg);
}

#[test]
fn vlan_vnic_files_proxy_arp_and_inject() {
    if !have_root("vlan_vnic_files_proxy_arp_and_inject") {
        return;
    }
    let HostPair { mut a, b, ul } = TwoHosts::new("vf")
        .sysctl(QUIET)
        .underlay(Family::V4, 62)
        .build();
    let cfg = TempRoot::new("vf");
    let path = cfg.path().join("hosts.json");
    std::fs::write(&path, files_config(&ul.ip_a, &ul.ip_b)).unwrap();
    files_overlay(&a, &ul.ip_a, &path);
    files_overlay(&b, &ul.ip_b, &path);
    a.dladm_ok(&["create-vnic", "-l", "ov0", "-v", "5", "-m", MAC_A, "a5v0"]);
    a.ns.plumb("a5v0", "10.5.6.1/24");
    a.dladm_ok(&["create-vnic", "-l", "ov0", "a0u0"]);
    a.ns.exec_ok("ip", &["link", "set", "a0u0", "up"]);
    b.dladm_ok(&["create-vnic", "-l", "ov0", "-v", "5", "-m", MAC_B, "b5v0"]);
    b.ns.plumb("b5v0", "10.5.6.2/24");

    // ARP goes to varpd tagged; its proxy's reply comes back tagged and
    // reaches the VID 5 VNIC without the tag.
    let s0 = a.stats();
    assert!(
        ping(&a.ns, "10.5.6.2", 3),
        "VID 5 VNICs of a files overlay cannot ping"
    );
    assert!(ping(&b.ns, "10.5.6.1", 2));
    let s1 = a.stats();
    assert!(delta(&s0, &s1, "vlan_rx_untagged") >= 1, "{s1:?}");
    let neigh =
        a.ns.exec_ok("ip", &["neigh", "show", "10.5.6.2", "dev", "a5v0"]);
    assert!(
        String::from_utf8_lossy(&neigh.stdout).contains(MAC_B),
        "ARP did not resolve through the proxy: {}",
        String::from_utf8_lossy(&neigh.stdout)
    );

    // libvarpd_inject_arp with VLAN 5: stop varpd, take /dev/overlay, and
    // inject a gratuitous ARP for 10.5.6.9 up the overlay.
    a.varpd = None;
    let mut dld = FkConn::dld(a.root.path()).expect("dld socket");
    let mut i = fk_dl_info_t::default();
    fk_set_str(&mut i.fdl_name, "ov0");
    let (e, i) = dld.ioctl(FK_DL_NAME2ID, &i);
    assert_eq!(e, 0, "ov0's link id");
    // fkoverlayd sees varpd's exclusive handle close a moment later: once
    // each of varpd's connections is out of its LOOKUP (at most 1 s) and
    // has read the close. Generous, for a loaded machine.
    let end = Instant::now() + Duration::from_secs(30);
    let kdev = loop {
        match KDev::open_overlay(a.root.path(), FREAD | FWRITE | FEXCL) {
            Ok(k) => break k,
            Err(_) if Instant::now() < end => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => panic!("open /dev/overlay: {e}"),
        }
    };
    let hdl = ProviderHandle::new(1, i.fdl_linkid, 23, 0, "t", Arc::new(kdev));
    let r5 = a.ns.packet_socket("a5v0", ETHERTYPE_ARP);
    let r0 = a.ns.packet_socket("a0u0", ETHERTYPE_ARP);
    let gmac = [2, 8, 0x20, 9, 9, 9];
    hdl.inject_arp(5, gmac, "10.5.6.9".parse().unwrap(), [0xff; 6])
        .expect("inject_arp");
    let is_garp = |f: &[u8]| f.len() >= 42 && f[6..12] == gmac && f[28..32] == [10, 5, 6, 9];
    let mut got = None;
    let end = Instant::now() + Duration::from_secs(3);
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        match r5.recv(left) {
            Some(f) if is_garp(&f) => {
                got = Some(f);
                break;
            }
            Some(_) => {}
            None => break,
        }
    }
    let f = got.expect("gratuitous ARP did not reach the VID 5 VNIC");
    assert_eq!(&f[12..14], &ETHERTYPE_ARP.to_be_bytes(), "tag not removed");
    assert_eq!(&f[0..6], &[0xff; 6]);
    while let Some(f) = r0.recv(Duration::from_millis(500)) {
        assert!(
            !is_garp(&f),
            "VID 5 gratuitous ARP reached an untagged VNIC"
        );
    }
    let s2 = a.stats();
    assert!(delta(&s1, &s2, "vlan_rx_untagged") >= 1, "{s2:?}");
    assert!(b.stats().contains_key("mac_rx_vlan_drops"));
}

#[test]
fn vlan_vnic_interop_linux_vxlan_tagged_frames() {
    if !have_root("vlan_vnic_interop_linux_vxlan_tagged_frames") {
        return;
    }
    let PeerPair {
        ours: a,
        peer: linux,
        ul,
    } = TwoHosts::new("vi")
        .sysctl(QUIET)
        .underlay(Family::V4, 63)
        .build_peer();
    a.direct_overlay("ov0", 23, &ul.ip_a, &ul.ip_b, 4789);
    vnic(&a, "a5v0", Some(5), None);
    vnic(&a, "a0u0", None, Some("10.5.8.1/24"));
    linux_vxlan(
        &linux,
        "vx0",
        23,
        &ul.ip_b,
        &ul.ip_a,
        4789,
        1400,
        "10.5.8.2/24",
    );
    assert!(ping(&a.ns, "10.5.8.2", 2), "untagged VNIC -> Linux vx0");

    // Frames a Linux vxlan device carries with an 802.1Q tag of VID 5
    // reach the VID 5 VNIC without the tag; untagged ones do not.
    let m5 = mac_of(&a.ns, "a5v0");
    let mvx = mac_of(&linux, "vx0");
    let r5 = a.ns.packet_socket("a5v0", ETHERTYPE_TEST);
    let r0 = a.ns.packet_socket("a0u0", ETHERTYPE_TEST);
    let tx = linux.packet_socket("vx0", ETHERTYPE_TEST);
    let tag = |mut f: Vec<u8>, vid: u16| {
        f.splice(12..12, [0x81, 0x00, (vid >> 8) as u8, vid as u8]);
        f
    };
    let s0 = a.stats();
    tx.send(&tag(frame(m5, mvx, 21), 5));
    tx.send(&frame(m5, mvx, 22));
    tx.send(&tag(frame([0xff; 6], mvx, 23), 5));
    tx.send(&frame([0xff; 6], mvx, 24));
    tx.send(&tag(frame([0xff; 6], mvx, 25), 9));
    // Priority 3, VID 5.
    tx.send(&tag(frame(m5, mvx, 26), 0x6005));
    let wait = Duration::from_millis(1500);
    assert_eq!(markers(&r5, wait), set(&[21, 23, 26]), "the VID 5 VNIC");
    assert_eq!(markers(&r0, wait), set(&[24]), "the untagged VNIC");
    let s1 = a.stats();
    assert!(delta(&s0, &s1, "vlan_rx_untagged") >= 3, "{s1:?}");
    assert!(delta(&s0, &s1, "mac_rx_no_client_drops") >= 1, "{s1:?}");
    assert!(delta(&s0, &s1, "mac_rx_vlan_drops") >= 1, "{s1:?}");
}

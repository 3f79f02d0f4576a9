//! Our host in a Linux flood-list VXLAN fabric (head-end replication), and
//! ECN/TOS across it. The topology follows Linux's selftest
//! `vxlan_bridge_1d.sh` without its VRF (this kernel has none): three
//! VTEPs on one underlay bridge (192.168.77.1–3), VNI 1000, port 4789.
//!
//! * L1 and L2 are Linux VTEPs: `vx0` (`tos inherit ttl 100`, learning)
//!   in a bridge `br0` that holds the host address (10.66.66.2 / .3), with
//!   a flood list of the two other VTEPs (`bridge fdb append
//!   00:00:00:00:00:00 dev vx0 dst … self`).
//! * Ours runs fkoverlayd + varpd with a `files` overlay whose `flood` key
//!   lists L1 and L2 and which knows one MAC (L1's bridge); a VNIC holds
//!   10.66.66.1.
//!
//! Checked: ping between every pair (ARP resolves by broadcast over the
//! flood lists); 10 frames to an unknown MAC from ours, and 10 from L1,
//! arrive exactly once at each other VTEP (tshark on each underlay port);
//! 10 frames to the configured MAC go to L1 only; then ECN: the RFC 6040
//! decapsulation table with the outer ECN field forced by nftables on L1's
//! egress and the inner by `ping -Q` (16 cells, read on our VNIC), and the
//! encapsulation mapping of `ping -Q 0x00/0x01/0x02/0x03/0x14/0x18` from
//! our VNIC (outer TOS and TTL on the wire, inner TOS after L1's
//! decapsulation), with the default `vxlan/dscp` and again with `inherit`.

use overlay_tests::bridge::{attach, underlay_bridge};
use overlay_tests::capture::Capture;
use overlay_tests::fabric::mac_str;
use overlay_tests::have_root;
use overlay_tests::host::{create_overlay_args, OurHost};
use overlay_tests::netns::{Netns, TempRoot};
use overlay_tests::packets::ether_frame;
use overlay_tests::traffic::ping;
use std::collections::BTreeMap;

const VNI: u32 = 1000;
const UL: [&str; 3] = ["192.168.77.1", "192.168.77.2", "192.168.77.3"];
const OV: [&str; 3] = ["10.66.66.1", "10.66.66.2", "10.66.66.3"];
const MAC: [[u8; 6]; 3] = [
    [0x02, 0x4c, 0, 0, 0, 1],
    [0x02, 0x4c, 0, 0, 0, 2],
    [0x02, 0x4c, 0, 0, 0, 3],
];
const UNKNOWN: [u8; 6] = [0x02, 0, 0, 0, 0x99, 0x99];
const ETHERTYPE_TEST: u16 = 0x88b5;

/// A Linux VTEP as `vxlan_bridge_1d.sh` builds one: `vx0` with a flood
/// list of the other VTEPs, bridged with the host address on `br0`.
fn linux_vtep(ns: &Netns, i: usize) {
    ns.exec_ok(
        "ip",
        &[
            "link",
            "add",
            "vx0",
            "type",
            "vxlan",
            "id",
            &VNI.to_string(),
            "local",
            UL[i],
            "dstport",
            "4789",
            "tos",
            "inherit",
            "ttl",
            "100",
        ],
    );
    for (j, ip) in UL.iter().enumerate() {
        if j != i {
            ns.exec_ok(
                "bridge",
                &[
                    "fdb",
                    "append",
                    "00:00:00:00:00:00",
                    "dev",
                    "vx0",
                    "dst",
                    ip,
                    "self",
                ],
            );
        }
    }
    ns.exec_ok("ip", &["link", "add", "br0", "type", "bridge"]);
    ns.exec_ok("ip", &["link", "set", "br0", "address", &mac_str(&MAC[i])]);
    ns.exec_ok("ip", &["link", "set", "vx0", "master", "br0"]);
    ns.exec_ok("ip", &["link", "set", "vx0", "mtu", "1400"]);
    ns.exec_ok("ip", &["link", "set", "vx0", "up"]);
    ns.plumb("br0", &format!("{}/24", OV[i]));
}

struct Fabric {
    ours: OurHost,
    linux: [Netns; 2],
    _underlay: Netns,
    dir: TempRoot,
}

/// Our overlay (`ov0`, files with the flood list) and VNIC `foo0`, with
/// `extra` further `-p` properties.
fn our_overlay(f: &Fabric, extra: &[&str]) {
    let cfg = f.dir.path().join("fabric.json");
    let json = format!(
        r#"{{ "flood": [ {{ "ip": "{}", "port": 4789 }}, {{ "ip": "{}", "port": 4789 }} ],
             "{}": {{ "ip": "{}", "port": 4789 }} }}"#,
        UL[1],
        UL[2],
        mac_str(&MAC[1]),
        UL[1]
    );
    std::fs::write(&cfg, json).expect("write files config");
    let mut props = vec![format!("files/config={}", cfg.display())];
    props.extend(extra.iter().map(|e| e.to_string()));
    let args = create_overlay_args("files", "ov0", VNI, UL[0], &props, &[]);
    f.ours.dladm_ok(&args);
    f.ours.vnic(
        "ov0",
        "foo0",
        Some(&mac_str(&MAC[0])),
        &format!("{}/24", OV[0]),
    );
}

fn fabric() -> Fabric {
    let underlay = underlay_bridge("ff");
    let ours = OurHost::new(Netns::new("ff"));
    attach(&underlay, &ours.ns, "p1", &[UL[0]]);
    let linux = [Netns::new("ff"), Netns::new("ff")];
    for (k, ns) in linux.iter().enumerate() {
        attach(&underlay, ns, &format!("p{}", k + 2), &[UL[k + 1]]);
        linux_vtep(ns, k + 1);
    }
    let f = Fabric {
        ours,
        linux,
        _underlay: underlay,
        dir: TempRoot::new("ff"),
    };
    our_overlay(&f, &["vxlan/ttl=100"]);
    f
}

/// Rows of `field` for echo requests with `size` payload bytes.
fn echo(cap: &Capture, size: u32, fields: &[&str]) -> Vec<Vec<String>> {
    let filter = format!("icmp.type == 8 && data.len == {}", size - 8);
    cap.fields(4789, &filter, fields)
}

fn hex(s: &str) -> u8 {
    match s.strip_prefix("0x") {
        Some(h) => u8::from_str_radix(h, 16).unwrap_or_else(|_| panic!("bad hex {s}")),
        None => s.parse().unwrap_or_else(|_| panic!("bad number {s}")),
    }
}

#[test]
fn three_vtep_flood_list_fabric_and_ecn() {
    if !have_root("three_vtep_flood_list_fabric_and_ecn") {
        return;
    }
    let f = fabric();
    let (l1, l2) = (&f.linux[0], &f.linux[1]);
    assert_eq!(
        f.ours
            .dladm_ok(&["show-overlay", "-p", "-o", "property,value", "ov0"])
            .lines()
            .filter(|l| l.starts_with("vxlan/"))
            .collect::<Vec<_>>(),
        [
            &format!("vxlan/listen_ip:{}", UL[0]),
            "vxlan/listen_port:4789",
            "vxlan/ecn:normal",
            "vxlan/dscp:0",
            "vxlan/ttl:100"
        ]
    );

    // 1. Every pair pings (ARP by broadcast through the flood lists).
    assert!(ping(&f.ours.ns, OV[1], 2), "ours → L1");
    assert!(ping(&f.ours.ns, OV[2], 2), "ours → L2");
    assert!(ping(l1, OV[2], 2), "L1 → L2");
    assert!(ping(l1, OV[0], 2), "L1 → ours");
    assert!(ping(l2, OV[0], 2), "L2 → ours");

    // 2. Unknown unicast floods exactly once to each other VTEP; the
    // configured MAC goes to L1 only.
    let before = f.ours.stats();
    let mut caps: Vec<Capture> = [&f.ours.ns, l1, l2]
        .iter()
        .map(|ns| Capture::start(ns, "ul0", f.dir.path()))
        .collect();
    let ps = f.ours.ns.packet_socket("foo0", ETHERTYPE_TEST);
    for i in 0..10u8 {
        ps.send(&ether_frame(UNKNOWN, MAC[0], ETHERTYPE_TEST, &[i; 60]));
        ps.send(&ether_frame(
            MAC[1],
            MAC[0],
            ETHERTYPE_TEST,
            &[0x40 | i; 60],
        ));
    }
    let lps = l1.packet_socket("br0", ETHERTYPE_TEST);
    let l1_unknown = [0x02, 0, 0, 0, 0x77, 0x77];
    for i in 0..10u8 {
        lps.send(&ether_frame(l1_unknown, MAC[1], ETHERTYPE_TEST, &[i; 60]));
    }
    std::thread::sleep(std::time::Duration::from_secs(1));
    for c in caps.iter_mut() {
        c.stop();
    }
    let count = |c: &Capture, dst: &[u8; 6], from: &str| {
        let flt = format!(
            "eth.dst == {} && eth.type == 0x{ETHERTYPE_TEST:04x} && ip.src == {from}",
            mac_str(dst)
        );
        c.fields(4789, &flt, &["frame.number"]).len()
    };
    let (co, c1, c2) = (&caps[0], &caps[1], &caps[2]);
    assert_eq!(
        count(c1, &UNKNOWN, UL[0]),
        10,
        "ours' unknown unicast at L1"
    );
    assert_eq!(
        count(c2, &UNKNOWN, UL[0]),
        10,
        "ours' unknown unicast at L2"
    );
    assert_eq!(count(c1, &MAC[1], UL[0]), 10, "configured MAC at L1");
    assert_eq!(count(c2, &MAC[1], UL[0]), 0, "configured MAC not at L2");
    assert_eq!(count(co, &l1_unknown, UL[1]), 10, "L1's unknown at ours");
    assert_eq!(count(c2, &l1_unknown, UL[1]), 10, "L1's unknown at L2");
    let after = f.ours.stats();
    let d = |k: &str| after[k] - before.get(k).copied().unwrap_or(0);
    assert!(d("dev_tx_flood_frames") >= 10, "{after:?}");
    assert_eq!(d("dev_tx_flood_drops"), 0);

    // 3. ECN decapsulation (RFC 6040 Figure 4) against L1: the inner ECN
    // by `ping -Q`, the outer forced by nftables after L1 encapsulates.
    l1.exec_ok("nft", &["add", "table", "ip", "ecnt"]);
    l1.exec_ok(
        "nft",
        &["add chain ip ecnt post { type filter hook postrouting priority 0; }"],
    );
    let outers = [("not-ect", 0u8), ("ect0", 2), ("ect1", 1), ("ce", 3)];
    // Figure 4 by (inner, outer): None = dropped.
    let fig4 = |inner: u8, outer: u8| -> Option<u8> {
        match (inner, outer) {
            (0, 3) => None,
            (_, 3) => Some(3),
            (2, 1) => Some(1),
            (i, _) => Some(i),
        }
    };
    let before = f.ours.stats();
    let mut cap = Capture::start_filter(&f.ours.ns, "foo0", f.dir.path(), "icmp");
    let mut cells = Vec::new();
    for (k, (oname, outer)) in outers.iter().enumerate() {
        l1.exec_ok("nft", &["flush", "chain", "ip", "ecnt", "post"]);
        l1.exec_ok(
            "nft",
            &[&format!(
                "add rule ip ecnt post udp dport 4789 ip ecn set {oname}"
            )],
        );
        for inner in 0..4u8 {
            let size = 100 + 4 * k as u32 + u32::from(inner);
            let _ = l1.exec(
                "ping",
                &[
                    "-c",
                    "1",
                    "-W",
                    "1",
                    "-Q",
                    &inner.to_string(),
                    "-s",
                    &size.to_string(),
                    OV[0],
                ],
            );
            cells.push((inner, *outer, size));
        }
    }
    cap.stop();
    let mut table = BTreeMap::new();
    for (inner, outer, size) in &cells {
        let rows = echo(&cap, *size, &["ip.dsfield"]);
        let got = rows.first().map(|r| hex(&r[0]) & 3);
        table.insert((*inner, *outer), got);
        assert_eq!(
            got,
            fig4(*inner, *outer),
            "inner {inner} outer {outer}: {rows:?}"
        );
    }
    let after = f.ours.stats();
    let d = |k: &str| after[k] - before.get(k).copied().unwrap_or(0);
    // The Not-ECT echo request under an outer CE, and whatever other
    // Not-ECT packet L1 sent meanwhile (IPv6 neighbour discovery).
    assert!(d("mux_rx_drop_ecn") >= 1, "{after:?}");
    assert!(d("mux_rx_ecn_marked") >= 3, "{after:?}");
    eprintln!("ECN decap against L1 (inner, outer) → inner delivered: {table:?}");
    l1.exec_ok("nft", &["delete", "table", "ip", "ecnt"]);

    // 4. Encapsulation: `ping -Q` from our VNIC to L1; the outer TOS and
    // TTL on our underlay, the inner TOS on L1's bridge after Linux
    // decapsulates. Default `vxlan/dscp` (0), then `inherit`.
    let toses = [0x00u8, 0x01, 0x02, 0x03, 0x14, 0x18];
    for (phase, inherit) in [(0u32, false), (1, true)] {
        if inherit {
            f.ours.dladm_ok(&["delete-vnic", "foo0"]);
            f.ours.dladm_ok(&["delete-overlay", "ov0"]);
            our_overlay(&f, &["vxlan/dscp=inherit", "vxlan/ttl=100"]);
        }
        assert!(ping(&f.ours.ns, OV[1], 1), "ours → L1 (phase {phase})");
        let mut wire = Capture::start(&f.ours.ns, "ul0", f.dir.path());
        let mut at_l1 = Capture::start_filter(l1, "br0", f.dir.path(), "icmp");
        for (k, t) in toses.iter().enumerate() {
            let size = 200 + 10 * phase + k as u32;
            assert!(
                ping_q(&f.ours.ns, OV[1], *t, size),
                "ping -Q {t:#x} ours → L1"
            );
        }
        wire.stop();
        at_l1.stop();
        for (k, t) in toses.iter().enumerate() {
            let size = 200 + 10 * phase + k as u32;
            let w = echo(&wire, size, &["ip.dsfield", "ip.ttl", "ip.dst"]);
            assert_eq!(w.len(), 1, "-Q {t:#x}: {w:?}");
            let ecn = match t & 3 {
                3 => 2,
                e => e,
            };
            let dscp = if inherit { t & !3 } else { 0 };
            assert_eq!(hex(&w[0][0]), dscp | ecn, "outer TOS for -Q {t:#x}");
            assert_eq!(w[0][1], "100", "vxlan/ttl");
            assert_eq!(w[0][2], UL[1], "configured MAC: L1 only");
            let i = echo(&at_l1, size, &["ip.dsfield"]);
            assert_eq!(i.len(), 1, "-Q {t:#x} at L1: {i:?}");
            assert_eq!(hex(&i[0][0]), *t, "inner TOS after L1 decapsulates");
            eprintln!(
                "encap (dscp {}) -Q {t:#04x}: outer {} inner at L1 {}",
                if inherit { "inherit" } else { "0" },
                w[0][0],
                i[0][0]
            );
        }
    }
}

/// One `ping -Q tos -s size`, retried for neighbour resolution.
fn ping_q(ns: &Netns, ip: &str, tos: u8, size: u32) -> bool {
    (0..3).any(|_| {
        ns.exec(
            "ping",
            &[
                "-c",
                "1",
                "-W",
                "2",
                "-Q",
                &tos.to_string(),
                "-s",
                &size.to_string(),
                ip,
            ],
        )
        .status
        .success()
    })
}

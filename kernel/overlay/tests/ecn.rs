//! ECN and the outer TOS through the driver (RFC 6040): crafted VXLAN
//! datagrams with every outer/inner ECN pair through the mux, the drop
//! and mark counters, `vxlan/ecn=off` (illumos' behaviour), and the outer
//! TOS/TTL the transmit path hands the host for `vxlan/ecn`, `vxlan/dscp`
//! and `vxlan/ttl`, with their validation.
mod common;
use common::*;
use overlay::ecn::{ipv4_header_checksum, ECN_CE, ECN_ECT0, ECN_ECT1, ECN_NOT_ECT};
use overlay::sys::errno::EINVAL;
use overlay::sys::*;
use overlay::{MsgBlk, TxHdr};

/// Create, set `props` (name, value), associate POINT, activate, start.
fn dev_with(props: &[(&str, &[u8])]) -> Ovl {
    let o = new();
    let h = open_varpd(&o);
    assert_eq!(create(&o, 1, 23), 0);
    set_listen(&o, 1, LISTEN, 4789);
    for (n, v) in props {
        assert_eq!(setprop_by_name(&o, 1, n, v), 0, "{n}");
    }
    associate(&o, h, 1, OVERLAY_TARGET_POINT, point(PEER, 4789)).unwrap();
    assert_eq!(activate(&o, 1), 0);
    o.dev_by_linkid(1).unwrap().m_start().unwrap();
    o
}

fn s(v: &str) -> Vec<u8> {
    let mut b = v.as_bytes().to_vec();
    b.push(0);
    b
}

/// An Ethernet + IPv4 ICMP frame with TOS `tos` and a valid checksum.
fn v4_frame(tos: u8) -> Vec<u8> {
    let mut f = eth(DST, SRC, 0x0800, 14);
    let mut ip = [
        0x45, tos, 0, 48, 0, 1, 0x40, 0, 64, 1, 0, 0, 10, 55, 0, 1, 10, 55, 0, 2,
    ];
    let c = ipv4_header_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&[8, 0, 0, 0, 0, 1, 0, 1]);
    f.extend_from_slice(&[0x5a; 20]);
    f
}

/// An Ethernet + IPv6 frame with traffic class `tc`.
fn v6_frame(tc: u8) -> Vec<u8> {
    let mut f = eth(DST, SRC, 0x86dd, 14);
    let mut ip = [0u8; 40];
    ip[0] = 0x60 | (tc >> 4);
    ip[1] = tc << 4;
    ip[5] = 8;
    ip[6] = 58;
    ip[7] = 64;
    f.extend_from_slice(&ip);
    f.extend_from_slice(&[128, 0, 0, 0, 0, 1, 0, 1]);
    f
}

fn tos_of(f: &[u8]) -> u8 {
    match u16::from_be_bytes([f[12], f[13]]) {
        0x0800 => f[15],
        _ => (f[14] << 4) | (f[15] >> 4),
    }
}

/// RFC 6040 Figure 4 (rows: inner Not-ECT, ECT(0), ECT(1), CE; columns:
/// outer Not-ECT, ECT(0), ECT(1), CE); `None` = dropped.
const FIG4: [(u8, [Option<u8>; 4]); 4] = [
    (ECN_NOT_ECT, [Some(0), Some(0), Some(0), None]),
    (ECN_ECT0, [Some(2), Some(2), Some(1), Some(3)]),
    (ECN_ECT1, [Some(1), Some(1), Some(1), Some(3)]),
    (ECN_CE, [Some(3), Some(3), Some(3), Some(3)]),
];
const OUTERS: [u8; 4] = [ECN_NOT_ECT, ECN_ECT0, ECN_ECT1, ECN_CE];

#[test]
fn decap_table_all_sixteen_cells_v4_and_v6() {
    let o = dev_with(&[]);
    let mut drops = 0;
    let mut marks = 0;
    for (inner, row) in FIG4 {
        for (i, outer) in OUTERS.iter().enumerate() {
            // The outer DSCP must never leak into the inner packet.
            let otos = (46 << 2) | outer;
            for f in [v4_frame((10 << 2) | inner), v6_frame((10 << 2) | inner)] {
                assert!(o
                    .platform()
                    .deliver_tos(&listen_addr(), &vxlan_pkt(23, &f), otos));
                let rx = o.platform().take_rx();
                match row[i] {
                    None => {
                        assert!(rx.is_empty(), "inner {inner} outer {outer}: delivered");
                        drops += 1;
                    }
                    Some(w) => {
                        assert_eq!(rx.len(), 1, "inner {inner} outer {outer}: dropped");
                        let g = &rx[0].1;
                        assert_eq!(tos_of(g), (10 << 2) | w, "inner {inner} outer {outer}");
                        if w != inner {
                            marks += 1;
                        }
                        if g[12..14] == [0x08, 0x00] {
                            let c = u16::from_be_bytes([g[24], g[25]]);
                            assert_eq!(c, ipv4_header_checksum(&g[14..34]), "checksum");
                        }
                        assert_eq!(g.len(), f.len());
                    }
                }
            }
        }
    }
    let st = o.muxes()[0].stats();
    assert_eq!(st.rx_drop_ecn, drops);
    assert_eq!(drops, 2, "outer CE on a Not-ECT inner packet, v4 and v6");
    assert_eq!(st.rx_ecn_marked, marks);
    assert_eq!(marks, 2 * 3, "ECT(0)+ECT(1)→ECT(1), ECT(0)+CE, ECT(1)+CE");
    assert_eq!(st.rx_ok, 32 - drops);
    assert_eq!(o.dev_by_linkid(1).unwrap().stats().rx_frames, 32 - drops);
}

#[test]
fn decap_non_ip_passes_and_plain_recv_is_not_ect() {
    let o = dev_with(&[]);
    let arp = eth(DST, SRC, 0x0806, 60);
    assert!(o
        .platform()
        .deliver_tos(&listen_addr(), &vxlan_pkt(23, &arp), ECN_CE));
    assert_eq!(o.platform().take_rx(), vec![(1, arp)]);
    // `recv` (no outer TOS known) never drops a Not-ECT packet.
    let f = v4_frame(0);
    assert!(o.platform().deliver(&listen_addr(), &vxlan_pkt(23, &f)));
    assert_eq!(o.platform().take_rx(), vec![(1, f)]);
    assert_eq!(o.muxes()[0].stats().rx_drop_ecn, 0);
}

#[test]
fn ecn_off_is_illumos_behaviour() {
    let o = dev_with(&[("vxlan/ecn", &s("off"))]);
    for inner in [ECN_NOT_ECT, ECN_ECT0] {
        let f = v4_frame(inner);
        assert!(o
            .platform()
            .deliver_tos(&listen_addr(), &vxlan_pkt(23, &f), ECN_CE));
        assert_eq!(o.platform().take_rx(), vec![(1, f)], "untouched");
    }
    let st = o.muxes()[0].stats();
    assert_eq!((st.rx_drop_ecn, st.rx_ecn_marked), (0, 0));
    // And nothing ECN-related on the wire either.
    tx(&o, 1, MsgBlk::with_headroom(&v4_frame(ECN_ECT0)));
    assert_eq!(o.platform().take_sent_hdrs(), vec![TxHdr::default()]);
}

fn sent_tos(o: &Ovl, tos: u8) -> TxHdr {
    tx(o, 1, MsgBlk::with_headroom(&v4_frame(tos)));
    let h = o.platform().take_sent_hdrs();
    assert_eq!(h.len(), 1);
    o.platform().take_sent();
    h[0]
}

#[test]
fn encap_default_copies_ecn_dscp_zero() {
    let o = dev_with(&[]);
    for (tos, want) in [
        (0x00, 0x00),
        (0x01, 0x01),
        (0x02, 0x02),
        (0x03, 0x02), // CE → ECT(0), as Linux's INET_ECN_encapsulate
        (0x14, 0x00),
        (0x18, 0x00),
        (0xb9, 0x01),
    ] {
        assert_eq!(sent_tos(&o, tos), TxHdr { tos: want, ttl: 0 }, "{tos:#x}");
    }
    // IPv6 inner and non-IP inner.
    tx(&o, 1, MsgBlk::with_headroom(&v6_frame(0xba)));
    tx(&o, 1, MsgBlk::with_headroom(&eth(DST, SRC, 0x0806, 60)));
    assert_eq!(
        o.platform().take_sent_hdrs(),
        vec![TxHdr { tos: 2, ttl: 0 }, TxHdr { tos: 0, ttl: 0 }]
    );
}

#[test]
fn encap_dscp_inherit_fixed_and_ttl() {
    let o = dev_with(&[
        ("vxlan/dscp", &s("inherit")),
        ("vxlan/ttl", &77u64.to_ne_bytes()),
    ]);
    assert_eq!(sent_tos(&o, 0x14), TxHdr { tos: 0x14, ttl: 77 });
    assert_eq!(sent_tos(&o, 0x1b), TxHdr { tos: 0x1a, ttl: 77 });
    let o = dev_with(&[("vxlan/dscp", &s("46")), ("vxlan/ecn", &s("off"))]);
    assert_eq!(
        sent_tos(&o, 0x03),
        TxHdr {
            tos: 46 << 2,
            ttl: 0
        }
    );
}

#[test]
fn properties_defaults_info_and_validation() {
    let o = new();
    assert_eq!(create(&o, 1, 23), 0);
    let get = |n: &str| {
        let (e, p) = getprop(&o, 1, -1, n);
        assert_eq!(e, 0, "{n}");
        p.oip_value[..p.oip_size as usize].to_vec()
    };
    assert_eq!(get("vxlan/ecn"), b"normal");
    assert_eq!(get("vxlan/dscp"), b"0");
    assert_eq!(get("vxlan/ttl"), 0u64.to_ne_bytes());
    let (e, pi) = propinfo(&o, 1, -1, "vxlan/ecn");
    assert_eq!(e, 0);
    assert_eq!(pi.oipi_type, OVERLAY_PROP_T_STRING);
    assert_eq!(pi.oipi_prot, OVERLAY_PROP_PERM_RW);
    assert_eq!(&pi.oipi_default[..pi.oipi_defsize as usize], b"normal");
    let (_, pi) = propinfo(&o, 1, -1, "vxlan/ttl");
    assert_eq!(pi.oipi_type, OVERLAY_PROP_T_UINT);
    let (_, pi) = propinfo(&o, 1, -1, "vxlan/dscp");
    assert_eq!(&pi.oipi_default[..pi.oipi_defsize as usize], b"0");
    let poss: Vec<&[u8]> = poss_strings(&pi.oipi_poss).collect();
    assert_eq!(poss, vec![&b"0-63"[..], &b"inherit"[..]]);
    for (n, bad) in [
        ("vxlan/ecn", s("bogus")),
        ("vxlan/ecn", s("")),
        ("vxlan/ecn", b"normal\0x".to_vec()),
        ("vxlan/dscp", s("64")),
        ("vxlan/dscp", s("-1")),
        ("vxlan/dscp", s("007")),
        ("vxlan/dscp", s("inherits")),
        ("vxlan/ttl", 256u64.to_ne_bytes().to_vec()),
        ("vxlan/ttl", vec![1, 0, 0, 0]),
    ] {
        assert_eq!(setprop_by_name(&o, 1, n, &bad), EINVAL, "{n} {bad:?}");
    }
    assert_eq!(get("vxlan/ecn"), b"normal", "unchanged after refusals");
    assert_eq!(setprop_by_name(&o, 1, "vxlan/dscp", &s("63")), 0);
    assert_eq!(get("vxlan/dscp"), b"63");
    assert_eq!(setprop_by_name(&o, 1, "vxlan/dscp", b"inherit"), 0);
    assert_eq!(get("vxlan/dscp"), b"inherit");
    assert_eq!(setprop_by_name(&o, 1, "vxlan/ecn", &s("off")), 0);
    assert_eq!(get("vxlan/ecn"), b"off");
    assert_eq!(
        setprop_by_name(&o, 1, "vxlan/ttl", &255u64.to_ne_bytes()),
        0
    );
    assert_eq!(get("vxlan/ttl"), 255u64.to_ne_bytes());
    // ECT(1) from the enum is the RFC's codepoint 01.
    assert_eq!((ECN_ECT1, ECN_ECT0, ECN_CE), (1, 2, 3));
}

/// A datagram that is a slice of a shared receive buffer (a host that
/// hands up `recvmmsg` buffers without copying): the driver does not
/// write a shared block, so a mark goes in with the inner headers copied
/// into a fresh block in front; the frame is otherwise as from a private
/// buffer.
#[test]
fn decap_marks_a_datagram_in_a_shared_buffer() {
    use overlay::dblk_vec::Dblk;
    let o = dev_with(&[]);
    let mux = &o.muxes()[0];
    for f in [v4_frame(ECN_ECT0), v6_frame(ECN_ECT0)] {
        let pkt = vxlan_pkt(23, &f);
        let mut db = Dblk::new(Vec::with_capacity(pkt.len() + 100), None);
        db.tail_mut()[7..7 + pkt.len()].copy_from_slice(&pkt);
        let mut m = db.share(7, pkt.len()).unwrap();
        assert!(m.first_mut().is_none());
        mux.recv_tos(m, ECN_CE);
        let rx = o.platform().take_rx();
        assert_eq!(rx.len(), 1);
        let g = &rx[0].1;
        assert_eq!(tos_of(g), ECN_CE);
        assert_eq!(g.len(), f.len());
        assert_eq!(g[60..], f[60..]);
        if g[12..14] == [0x08, 0x00] {
            let c = u16::from_be_bytes([g[24], g[25]]);
            assert_eq!(c, ipv4_header_checksum(&g[14..34]), "checksum");
        }
        // Every message over the buffer is freed.
        assert!(db.is_unique());
    }
    let st = mux.stats();
    assert_eq!((st.rx_ecn_marked, st.rx_ecn_unwritable), (2, 0));
}

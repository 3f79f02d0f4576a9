//! Byte-exact tests of the proxy packet synthesis (libvarpd::proxy) against
//! hand-built frames. Every expected frame is written out by hand; the ICMPv6
//! checksums were computed independently (a separate Python one's-complement
//! sum over the RFC 8200 pseudo-header) and are pasted as constants.

use std::net::{Ipv4Addr, Ipv6Addr};

use libvarpd::proxy::*;

const REQUESTER: [u8; 6] = [0x02, 0x08, 0x20, 0xaa, 0xbb, 0x01];
const ANSWER: [u8; 6] = [0xde, 0xad, 0xbe, 0xef, 0x00, 0x01];

fn lookup(frame: &[u8], hdrsize: usize, sap: u16) -> LookupFrame {
    let mut src = [0u8; 6];
    let mut dst = [0u8; 6];
    dst.copy_from_slice(&frame[0..6]);
    src.copy_from_slice(&frame[6..12]);
    LookupFrame {
        hdrsize: hdrsize as u64,
        pktsize: (frame.len() - hdrsize) as u64,
        sap: u32::from(sap),
        srcaddr: src,
        dstaddr: dst,
    }
}

#[rustfmt::skip]
fn arp_request() -> Vec<u8> {
    vec![
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff,             // dst: broadcast
        0x02, 0x08, 0x20, 0xaa, 0xbb, 0x01,             // src: requester
        0x08, 0x06,                                     // ARP
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // Ethernet/IPv4, request
        0x02, 0x08, 0x20, 0xaa, 0xbb, 0x01,             // sha
        10, 55, 55, 2,                                  // spa
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00,             // tha
        10, 55, 55, 3,                                  // tpa
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // padding to 60
    ]
}

#[rustfmt::skip]
const ARP_REPLY: [u8; 60] = [
    0x02, 0x08, 0x20, 0xaa, 0xbb, 0x01,             // dst: requester
    0xde, 0xad, 0xbe, 0xef, 0x00, 0x01,             // src: answer
    0x08, 0x06,
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, // reply
    0xde, 0xad, 0xbe, 0xef, 0x00, 0x01,             // sha: answer
    10, 55, 55, 3,                                  // spa: the requested address
    0x02, 0x08, 0x20, 0xaa, 0xbb, 0x01,             // tha: requester
    10, 55, 55, 2,                                  // tpa: requester's address
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

#[test]
fn arp_reply_byte_exact() {
    let req = arp_request();
    let f = lookup(&req, 14, ETHERTYPE_ARP);
    arp_precheck(&f).unwrap();
    let q = arp_parse(&f, &req).unwrap();
    assert_eq!(q.target, Ipv4Addr::new(10, 55, 55, 3));
    assert_eq!(q.sender, Ipv4Addr::new(10, 55, 55, 2));
    assert_eq!(q.sender_mac, REQUESTER);
    assert_eq!(arp_reply(&f, &req, &ANSWER).unwrap(), ARP_REPLY);
}

#[test]
fn arp_reply_vlan_tagged() {
    let mut req = arp_request();
    req.splice(12..12, [0x81, 0x00, 0x00, 0x07]); // VLAN 7
    let f = lookup(&req, 18, ETHERTYPE_ARP);
    let mut want = ARP_REPLY.to_vec();
    want.splice(12..12, [0x81, 0x00, 0x00, 0x07]);
    assert_eq!(arp_reply(&f, &req, &ANSWER).unwrap(), want);
}

#[test]
fn arp_drops() {
    let req = arp_request();
    let f = lookup(&req, 14, ETHERTYPE_ARP);

    let mut g = f;
    g.sap = u32::from(ETHERTYPE_IP);
    assert_eq!(arp_precheck(&g), Err(ProxyDrop::WrongSap));
    g = f;
    g.pktsize = 1600;
    assert_eq!(arp_precheck(&g), Err(ProxyDrop::TooLarge));
    g.pktsize = u64::MAX;
    assert_eq!(arp_precheck(&g), Err(ProxyDrop::TooLarge));
    g = f;
    g.pktsize = 27;
    assert_eq!(arp_precheck(&g), Err(ProxyDrop::TooShort));
    g = f;
    g.hdrsize = 13;
    assert_eq!(arp_precheck(&g), Err(ProxyDrop::HeaderTooShort));

    // Fetched frame longer than the lookup said, or too short for the body.
    let mut long = req.clone();
    long.push(0);
    assert_eq!(arp_parse(&f, &long), Err(ProxyDrop::SizeMismatch));
    assert_eq!(arp_parse(&f, &req[..41]), Err(ProxyDrop::SizeMismatch));
    assert_eq!(arp_parse(&f, &[]), Err(ProxyDrop::SizeMismatch));

    // Each header field.
    for (off, val) in [(15, 6u8), (16, 0x86), (18, 8), (19, 16), (21, 2)] {
        let mut bad = req.clone();
        bad[off] = val;
        assert_eq!(arp_parse(&f, &bad), Err(ProxyDrop::NotArpRequest), "{off}");
        assert!(arp_reply(&f, &bad, &ANSWER).is_err());
    }

    // Gratuitous ARP: spa == tpa.
    let mut grat = req.clone();
    grat[38..42].copy_from_slice(&[10, 55, 55, 2]);
    assert_eq!(arp_parse(&f, &grat), Err(ProxyDrop::GratuitousArp));
}

/// NS from fe80::1 (REQUESTER) for fe80::4, to ff02::1:ff00:4.
#[rustfmt::skip]
fn ndp_solicit() -> Vec<u8> {
    vec![
        0x33, 0x33, 0xff, 0x00, 0x00, 0x04,             // dst: solicited-node
        0x02, 0x08, 0x20, 0xaa, 0xbb, 0x01,             // src
        0x86, 0xdd,
        0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, // v6, plen 32, ICMPv6, hlim 255
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, 0x00, 0x00, 0x04,
        0x87, 0x00, 0x9e, 0xe0, 0, 0, 0, 0,             // NS, checksum, reserved
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x04, // target
        0x01, 0x01, 0x02, 0x08, 0x20, 0xaa, 0xbb, 0x01, // SLLA
    ]
}

#[rustfmt::skip]
const NDP_ADVERT: [u8; 86] = [
    0x02, 0x08, 0x20, 0xaa, 0xbb, 0x01,             // dst: solicitor
    0xde, 0xad, 0xbe, 0xef, 0x00, 0x04,             // src: answer
    0x86, 0xdd,
    0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff,
    0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x04, // src: target
    0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // dst: solicitor
    0x88, 0x00, 0x7c, 0x76, 0x60, 0, 0, 0,          // NA, checksum, S|O
    0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x04,
    0x02, 0x01, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x04, // TLLA
];

#[test]
fn ndp_advert_byte_exact() {
    let ns = ndp_solicit();
    let f = lookup(&ns, 14, ETHERTYPE_IPV6);
    ndp_precheck(&f).unwrap();
    let q = ndp_parse(&f, &ns).unwrap();
    assert_eq!(q.target, "fe80::4".parse::<Ipv6Addr>().unwrap());
    assert_eq!(q.source, "fe80::1".parse::<Ipv6Addr>().unwrap());
    assert_eq!(q.source_lladdr, REQUESTER);
    let mac = [0xde, 0xad, 0xbe, 0xef, 0x00, 0x04];
    let na = ndp_advert(&f, &ns, &mac).unwrap();
    assert_eq!(na, NDP_ADVERT);
    // Our own checksum agrees: a correct message sums to zero.
    let src = "fe80::4".parse().unwrap();
    let dst = "fe80::1".parse().unwrap();
    assert_eq!(icmpv6_checksum(&src, &dst, &na[54..]), 0);
}

/// VLAN-tagged NS with a nonce option before the SLLA, global addresses,
/// a hop limit the advertisement must not copy.
#[test]
#[rustfmt::skip]
fn ndp_advert_vlan_and_options() {
    let ns: Vec<u8> = vec![
        0x33, 0x33, 0xff, 0x00, 0x00, 0x09,
        0x02, 0x08, 0x20, 0xaa, 0xbb, 0x01,
        0x81, 0x00, 0x20, 0x05,                         // VLAN 5, priority 1
        0x86, 0xdd,
        0x60, 0x00, 0x00, 0x00, 0x00, 0x28, 0x3a, 0x40, // plen 40, hlim 64
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, 0x00, 0x00, 0x09,
        0x87, 0x00, 0x29, 0x51, 0, 0, 0, 0,
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x09,
        0x0e, 0x01, 1, 2, 3, 4, 5, 6,                   // nonce
        0x01, 0x01, 0x02, 0x08, 0x20, 0xaa, 0xbb, 0x01, // SLLA
    ];
    let want: [u8; 90] = [
        0x02, 0x08, 0x20, 0xaa, 0xbb, 0x01,
        0xde, 0xad, 0xbe, 0xef, 0x00, 0x09,
        0x81, 0x00, 0x20, 0x05,
        0x86, 0xdd,
        0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff,
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x09,
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
        0x88, 0x00, 0xee, 0xbe, 0x60, 0, 0, 0,
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x09,
        0x02, 0x01, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x09,
    ];
    let f = lookup(&ns, 18, ETHERTYPE_IPV6);
    let mac = [0xde, 0xad, 0xbe, 0xef, 0x00, 0x09];
    assert_eq!(ndp_advert(&f, &ns, &mac).unwrap(), want);
}

/// Recompute the NS checksum after an edit, so a test hits the check it
/// means to and not the checksum check.
fn fix_ns_checksum(ns: &mut [u8]) {
    ns[56] = 0;
    ns[57] = 0;
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&ns[22..38]).unwrap());
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&ns[38..54]).unwrap());
    let plen = usize::from(u16::from_be_bytes([ns[18], ns[19]]));
    let end = (54 + plen).min(ns.len());
    let sum = icmpv6_checksum(&src, &dst, &ns[54..end]);
    ns[56..58].copy_from_slice(&sum.to_be_bytes());
}

#[test]
fn ndp_drops() {
    let ns = ndp_solicit();
    let f = lookup(&ns, 14, ETHERTYPE_IPV6);

    let mut g = f;
    g.dstaddr = [0x01, 0x00, 0x5e, 0, 0, 1];
    assert_eq!(ndp_precheck(&g), Err(ProxyDrop::WrongDestination));
    g = f;
    g.sap = u32::from(ETHERTYPE_IP);
    assert_eq!(ndp_precheck(&g), Err(ProxyDrop::WrongSap));
    g = f;
    g.pktsize = 63;
    assert_eq!(ndp_precheck(&g), Err(ProxyDrop::TooShort));
    g = f;
    g.pktsize = 1505;
    assert_eq!(ndp_precheck(&g), Err(ProxyDrop::TooLarge));

    let check = |edit: &dyn Fn(&mut Vec<u8>), fix: bool, want: ProxyDrop| {
        let mut bad = ndp_solicit();
        edit(&mut bad);
        if fix {
            fix_ns_checksum(&mut bad);
        }
        let f = lookup(&bad, 14, ETHERTYPE_IPV6);
        assert_eq!(ndp_parse(&f, &bad), Err(want));
        assert_eq!(ndp_advert(&f, &bad, &ANSWER), Err(want));
    };
    check(&|b| b[14] = 0x40, false, ProxyDrop::NotIcmpv6);
    check(&|b| b[20] = 17, false, ProxyDrop::NotIcmpv6);
    // Global multicast destination.
    check(&|b| b[39] = 0x0e, true, ProxyDrop::NotLinkLocalMulticast);
    // Payload length beyond the frame; and shorter than an NS.
    check(&|b| b[19] = 0x28, false, ProxyDrop::SizeMismatch);
    check(&|b| b[19] = 0x10, false, ProxyDrop::TooShort);
    // Type 136 with code 0 (passed the original's `&&` check, §12 #12).
    check(&|b| b[54] = 136, true, ProxyDrop::NotNeighborSolicit);
    check(&|b| b[55] = 1, true, ProxyDrop::NotNeighborSolicit);
    check(&|b| b[57] ^= 1, false, ProxyDrop::BadChecksum);
    // Multicast, loopback, v4-mapped targets; unspecified source (DAD).
    check(&|b| b[62] = 0xff, true, ProxyDrop::BadAddress);
    check(
        &|b| b[62..78].copy_from_slice(&Ipv6Addr::LOCALHOST.octets()),
        true,
        ProxyDrop::BadAddress,
    );
    check(
        &|b| {
            let m = Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped();
            b[62..78].copy_from_slice(&m.octets());
        },
        true,
        ProxyDrop::BadAddress,
    );
    check(&|b| b[22..38].fill(0), true, ProxyDrop::BadAddress);
    // Zero-length option; option longer than the payload; no SLLA.
    check(&|b| b[79] = 0, true, ProxyDrop::BadOption);
    check(&|b| b[79] = 2, true, ProxyDrop::BadOption);
    check(&|b| b[78] = 14, true, ProxyDrop::NoSourceLinkAddr);
    // Truncated fetch.
    let f = lookup(&ns, 14, ETHERTYPE_IPV6);
    assert_eq!(ndp_parse(&f, &ns[..70]), Err(ProxyDrop::SizeMismatch));
}

/// A 342-byte DHCPDISCOVER frame: Ethernet, IPv4 (IHL 5), UDP 68 → 67, and
/// a 300-byte BOOTP body whose contents do not matter.
fn dhcp_discover() -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&REQUESTER);
    f.extend_from_slice(&[0x08, 0x00]);
    #[rustfmt::skip]
    f.extend_from_slice(&[
        0x45, 0x10, 0x01, 0x48, 0x00, 0x00, 0x00, 0x00, 0x80, 0x11, 0x39, 0x96,
        0, 0, 0, 0, 255, 255, 255, 255,
        0x00, 0x44, 0x00, 0x43, 0x01, 0x34, 0x00, 0x00,
    ]);
    f.push(1); // BOOTREQUEST
    f.extend((1..300).map(|i| i as u8));
    f
}

#[test]
fn dhcp_redirect_byte_exact() {
    let req = dhcp_discover();
    assert_eq!(req.len(), 342);
    let f = lookup(&req, 14, ETHERTYPE_IP);
    dhcp_precheck(&f).unwrap();
    dhcp_parse(&f, &req).unwrap();
    let out = dhcp_redirect(&f, &req, &ANSWER).unwrap();
    let mut want = vec![0xde, 0xad, 0xbe, 0xef, 0x00, 0x01];
    want.extend_from_slice(&req[6..]);
    assert_eq!(out, want);
}

#[test]
fn dhcp_drops() {
    let req = dhcp_discover();
    let f = lookup(&req, 14, ETHERTYPE_IP);
    let mut g = f;
    g.dstaddr = ANSWER;
    assert_eq!(dhcp_precheck(&g), Err(ProxyDrop::WrongDestination));
    g = f;
    g.sap = u32::from(ETHERTYPE_ARP);
    assert_eq!(dhcp_precheck(&g), Err(ProxyDrop::WrongSap));
    g = f;
    g.pktsize = 327;
    assert_eq!(dhcp_precheck(&g), Err(ProxyDrop::TooShort));
    g = f;
    g.hdrsize = 1200;
    assert_eq!(dhcp_precheck(&g), Err(ProxyDrop::TooLarge));
    // The fetched size must equal the lookup's.
    assert_eq!(dhcp_parse(&f, &req[..341]), Err(ProxyDrop::SizeMismatch));

    let check = |edit: &dyn Fn(&mut Vec<u8>), want: ProxyDrop| {
        let mut bad = dhcp_discover();
        edit(&mut bad);
        assert_eq!(dhcp_parse(&f, &bad), Err(want));
        assert_eq!(dhcp_redirect(&f, &bad, &ANSWER), Err(want));
    };
    // Only one of version / protocol wrong: the original let these pass.
    check(&|b| b[14] = 0x65, ProxyDrop::NotIpv4Udp);
    check(&|b| b[23] = 6, ProxyDrop::NotIpv4Udp);
    check(&|b| b[14] = 0x44, ProxyDrop::BadIpHeader);
    check(&|b| b[34] = 0x45, ProxyDrop::NotDhcpRequest);
    check(&|b| b[37] = 0x44, ProxyDrop::NotDhcpRequest);
    // IHL 15: UDP header further in, ports now read from the body.
    check(&|b| b[14] = 0x4f, ProxyDrop::NotDhcpRequest);
}

#[test]
#[rustfmt::skip]
fn gratuitous_arp_frames() {
    let src = [0xde, 0xad, 0xbe, 0xef, 0x00, 0x07];
    let dst = [0x02, 0x08, 0x20, 0x11, 0x22, 0x33];
    let ip = Ipv4Addr::new(192, 168, 1, 7);
    let untagged = [
        0x02, 0x08, 0x20, 0x11, 0x22, 0x33,
        0xde, 0xad, 0xbe, 0xef, 0x00, 0x07,
        0x08, 0x06,
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,
        0xde, 0xad, 0xbe, 0xef, 0x00, 0x07, 192, 168, 1, 7,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 192, 168, 1, 7,
    ];
    assert_eq!(gratuitous_arp(0, &src, ip, &dst), untagged);
    let mut tagged = untagged.to_vec();
    tagged.splice(12..12, [0x81, 0x00, 0x0f, 0xff]);
    assert_eq!(gratuitous_arp(4095, &src, ip, &dst), tagged);
}

/// No input, however malformed, makes a helper panic.
#[test]
fn arbitrary_bytes_never_panic() {
    use proptest::prelude::*;
    let mut runner = proptest::test_runner::TestRunner::default();
    runner
        .run(
            &(
                proptest::collection::vec(any::<u8>(), 0..1600),
                0u64..2000,
                0u64..2000,
                prop_oneof![Just(0x0806u32), Just(0x86dd), Just(0x0800), any::<u32>()],
            ),
            |(pkt, hdr, plen, sap)| {
                let mut f = lookup(&[0xff; 12], 0, 0);
                f.hdrsize = hdr;
                f.pktsize = plen;
                f.sap = sap;
                f.dstaddr = [0x33, 0x33, 0, 0, 0, 1];
                let _ = arp_reply(&f, &pkt, &ANSWER);
                let _ = ndp_advert(&f, &pkt, &ANSWER);
                f.dstaddr = [0xff; 6];
                let _ = dhcp_redirect(&f, &pkt, &ANSWER);
                // Consistent sizes, random contents.
                f.hdrsize = 14.min(pkt.len() as u64);
                f.pktsize = pkt.len() as u64 - f.hdrsize;
                let _ = arp_reply(&f, &pkt, &ANSWER);
                let _ = dhcp_redirect(&f, &pkt, &ANSWER);
                f.dstaddr = [0x33, 0x33, 0, 0, 0, 1];
                let _ = ndp_advert(&f, &pkt, &ANSWER);
                Ok(())
            },
        )
        .unwrap();
}

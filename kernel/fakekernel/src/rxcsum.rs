//! Receive: finishing the partial inner checksums of a same-host peer.
//!
//! Theory of operation: a Linux `vxlan` device whose underlay is a veth
//! (a container or VM next door) sends with the veth's transmit checksum
//! offload: the inner TCP/UDP checksum is left `CHECKSUM_PARTIAL`, its
//! field holding the folded pseudo-header sum (not complemented), for a NIC
//! that a veth does not have. The kernel hands such a datagram to our UDP
//! socket as it is; written to a TAP unchanged, the stack behind the VNIC
//! drops every TCP segment for its checksum (ping works, TCP hangs).
//!
//! [`rx_finish_partial`] runs on each frame `mac_rx` delivers. The cheap
//! test comes first: does the field equal the folded pseudo-header sum of
//! the segment? Almost no correct checksum does (one in 65536), so only
//! then is the whole segment summed. If it verifies (a correct checksum
//! that happens to have that value) the frame is left alone; otherwise the
//! field is the partial sum, and the correct checksum is derived from the
//! sum just taken (that sum minus the field) and written in place. Any
//! other bad checksum is left as it is, so the stack above drops the frame
//! and counts it (`TcpInCsumErrors`, `UdpInCsumErrors`) as it would on a
//! wire. The caller counts finished frames (`vnic_rx_csum_partial`).
//!
//! The same sender's TCP segmentation offload crosses a veth too: its
//! vxlan device's 64 KiB TCP segments arrive whole, one datagram each,
//! with the partial sum. [`rx_gso_hdr`] recognises such a frame (longer
//! than the VNIC's MTU allows, field equal to the pseudo-header sum) and
//! gives the `virtio_net_hdr` that hands it to the TAP as what it is: a
//! `GSO_TCPV4`/`GSO_TCPV6` frame with the MSS the MTU allows and the
//! checksum left to finish (`NEEDS_CSUM`). The stack takes it like a
//! GRO'd packet (and cuts it again should it forward it), so the 64 KiB
//! are never summed here.
//!
//! Only plain TCP and UDP are recognised (IPv4 unfragmented, IPv6 with
//! TCP/UDP as first next header, optionally one 802.1Q tag); a UDPv4 zero
//! checksum means "none" and is never touched.

use crate::offload::{
    be16, csum_add, csum_fold, ip_len, l4_layout, pseudo, put16, VnetHdr, F_NEEDS_CSUM, GSO_TCPV4,
    GSO_TCPV6,
};

/// Finishes `f`'s TCP/UDP checksum in place if it holds a same-host
/// sender's partial sum (see the module comment). True if it did.
pub fn rx_finish_partial(f: &mut [u8]) -> bool {
    let Ok(lay) = l4_layout(f) else {
        return false;
    };
    // The segment ends where the IP header says (an Ethernet pad may
    // follow).
    let end = lay.l3 + ip_len(f, &lay);
    if end > f.len() || end < lay.hl {
        return false;
    }
    let at = lay.l4 + if lay.udp { 6 } else { 16 };
    let field = be16(f, at);
    if lay.udp && !lay.v6 && field == 0 {
        return false;
    }
    let ps = pseudo(f, &lay, end - lay.l4);
    if field != csum_fold(ps) {
        return false;
    }
    let s = csum_add(&f[lay.l4..end], ps);
    if csum_fold(s) == 0xffff {
        return false;
    }
    // The sum without the field: adding the one's complement of a value
    // subtracts it.
    let c = !csum_fold(s + u64::from(!field));
    // A computed zero is sent as all ones (UDP's "no checksum" is zero;
    // TCP takes either).
    put16(f, at, if c == 0 { 0xffff } else { c });
    true
}

/// The vnet header for a same-host sender's oversized TCP frame (see the
/// module comment): TCP, longer than `mtu` (the VNIC's), the IP length
/// exact, the checksum field the partial sum of the whole frame. `None`
/// for any other frame.
pub fn rx_gso_hdr(f: &[u8], mtu: u32) -> Option<VnetHdr> {
    let lay = l4_layout(f).ok()?;
    let iplen = ip_len(f, &lay);
    if lay.udp || lay.l3 + iplen != f.len() || iplen <= mtu as usize {
        return None;
    }
    let mss = (mtu as usize).checked_sub(lay.hl - lay.l3)?;
    if mss == 0 || f.len() - lay.hl <= mss {
        return None;
    }
    if be16(f, lay.l4 + 16) != csum_fold(pseudo(f, &lay, f.len() - lay.l4)) {
        return None;
    }
    // The lengths are below 64 KiB: the IP length field holds them.
    Some(VnetHdr {
        flags: F_NEEDS_CSUM,
        gso_type: if lay.v6 { GSO_TCPV6 } else { GSO_TCPV4 },
        hdr_len: lay.hl as u16,
        gso_size: mss as u16,
        csum_start: lay.l4 as u16,
        csum_offset: 16,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4(proto: u8, l4: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 8, 0x20, 0, 0, 2, 2, 8, 0x20, 0, 0, 1, 0x08, 0x00];
        let tot = 20 + l4.len();
        f.extend_from_slice(&[0x45, 0, (tot >> 8) as u8, tot as u8, 0, 1, 0x40, 0]);
        f.extend_from_slice(&[64, proto, 0, 0, 10, 55, 55, 1, 10, 55, 55, 2]);
        let c = !csum_fold(csum_add(&f[14..34], 0));
        put16(&mut f, 24, c);
        f.extend_from_slice(l4);
        f
    }

    fn ipv6(proto: u8, l4: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 8, 0x20, 0, 0, 2, 2, 8, 0x20, 0, 0, 1, 0x86, 0xdd];
        let plen = l4.len();
        f.extend_from_slice(&[0x60, 0, 0, 0, (plen >> 8) as u8, plen as u8, proto, 64]);
        f.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        f.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        f.extend_from_slice(l4);
        f
    }

    fn tcp_seg(payload: &[u8]) -> Vec<u8> {
        let mut t = vec![0x9c, 0x40, 0x14, 0x51, 0, 0, 0, 1, 0, 0, 0, 7];
        t.extend_from_slice(&[0x50, 0x18, 0x01, 0xf5, 0, 0, 0, 0]);
        t.extend_from_slice(payload);
        t
    }

    fn udp_dg(payload: &[u8]) -> Vec<u8> {
        let len = 8 + payload.len();
        let mut u = vec![0x9c, 0x40, 0x14, 0x51, (len >> 8) as u8, len as u8, 0, 0];
        u.extend_from_slice(payload);
        u
    }

    /// (frame with a correct checksum, the same with the partial sum,
    /// checksum field offset).
    fn pair(v6: bool, udp: bool, payload: &[u8]) -> (Vec<u8>, Vec<u8>, usize) {
        let (proto, l4) = if udp {
            (17, udp_dg(payload))
        } else {
            (6, tcp_seg(payload))
        };
        let mut f = if v6 {
            ipv6(proto, &l4)
        } else {
            ipv4(proto, &l4)
        };
        let lay = l4_layout(&f).unwrap();
        let at = lay.l4 + if udp { 6 } else { 16 };
        let ps = pseudo(&f, &lay, f.len() - lay.l4);
        let mut partial = f.clone();
        put16(&mut partial, at, csum_fold(ps));
        let c = !csum_fold(csum_add(&f[lay.l4..], ps));
        put16(&mut f, at, if c == 0 { 0xffff } else { c });
        (f, partial, at)
    }

    fn verifies(f: &[u8]) -> bool {
        let lay = l4_layout(f).unwrap();
        let end = lay.l3 + ip_len(f, &lay);
        csum_fold(csum_add(&f[lay.l4..end], pseudo(f, &lay, end - lay.l4))) == 0xffff
    }

    #[test]
    fn a_partial_checksum_is_finished_to_the_correct_one() {
        for v6 in [false, true] {
            for udp in [false, true] {
                for n in [0usize, 1, 7, 100, 1399] {
                    let payload: Vec<u8> = (0..n).map(|i| (i * 37 + n) as u8).collect();
                    let (good, mut partial, _) = pair(v6, udp, &payload);
                    assert!(!verifies(&partial), "v6={v6} udp={udp} n={n}");
                    assert!(rx_finish_partial(&mut partial), "v6={v6} udp={udp} n={n}");
                    assert_eq!(partial, good, "v6={v6} udp={udp} n={n}");
                    assert!(verifies(&partial));
                }
            }
        }
    }

    #[test]
    fn correct_and_bad_checksums_are_left_alone() {
        for v6 in [false, true] {
            for udp in [false, true] {
                let (good, partial, at) = pair(v6, udp, b"hello, overlay");
                let mut f = good.clone();
                assert!(!rx_finish_partial(&mut f));
                assert_eq!(f, good);
                // A bad checksum that is not the partial sum: delivered
                // as is, for the stack to drop.
                let mut bad = good.clone();
                bad[at] ^= 0x5a;
                let before = bad.clone();
                assert!(!rx_finish_partial(&mut bad));
                assert_eq!(bad, before);
                // The partial sum over altered data is still recognised
                // by its value; a corrupted payload is not (the data is
                // what it is: finishing it is all we can do).
                let mut p = partial.clone();
                *p.last_mut().unwrap() ^= 1;
                assert!(rx_finish_partial(&mut p));
            }
        }
    }

    #[test]
    fn a_correct_checksum_equal_to_the_pseudo_sum_is_kept() {
        // Search a payload byte that makes the correct checksum equal the
        // folded pseudo-header sum; that frame must be left unchanged.
        let mut found = false;
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let (good, partial, at) = pair(false, false, &[a, b]);
                if good[at..at + 2] == partial[at..at + 2] {
                    let mut f = good.clone();
                    assert!(!rx_finish_partial(&mut f));
                    assert_eq!(f, good);
                    found = true;
                }
            }
        }
        assert!(found, "no payload gave a checksum equal to the pseudo sum");
    }

    #[test]
    fn an_oversized_partial_tcp_frame_goes_up_as_gso() {
        for v6 in [false, true] {
            let payload = vec![7u8; 5000];
            let (good, partial, _) = pair(v6, false, &payload);
            let h = rx_gso_hdr(&partial, 1400).unwrap();
            let l3 = 14;
            let hl = l3 + if v6 { 40 } else { 20 } + 20;
            assert_eq!(
                (h.flags, h.gso_type, h.hdr_len, h.gso_size, h.csum_start),
                (
                    F_NEEDS_CSUM,
                    if v6 { GSO_TCPV6 } else { GSO_TCPV4 },
                    hl as u16,
                    (1400 - (hl - l3)) as u16,
                    (hl - 20) as u16
                )
            );
            // Finishing what the header asks for gives the correct frame.
            let mut m = partial.clone();
            crate::offload::complete_csum(&mut m, &h).unwrap();
            assert_eq!(m, good);
            // Not for: a full checksum, a frame within the MTU, UDP.
            assert_eq!(rx_gso_hdr(&good, 1400), None);
            assert_eq!(rx_gso_hdr(&partial, 9000), None);
            let (_, udp, _) = pair(v6, true, &payload);
            assert_eq!(rx_gso_hdr(&udp, 1400), None);
            for n in 0..80 {
                assert_eq!(rx_gso_hdr(&partial[..n], 1400), None);
            }
        }
    }

    #[test]
    fn zero_udp4_checksum_padding_and_garbage() {
        let (good, _, at) = pair(false, true, b"abc");
        let mut none = good.clone();
        put16(&mut none, at, 0);
        let before = none.clone();
        assert!(!rx_finish_partial(&mut none));
        assert_eq!(none, before);
        // An Ethernet pad after the IP packet is not summed.
        let (good, mut partial, _) = pair(false, false, b"x");
        partial.extend_from_slice(&[0u8; 6]);
        assert!(rx_finish_partial(&mut partial));
        assert_eq!(&partial[..good.len()], &good[..]);
        // Truncated frames and non-IP never panic.
        for n in 0..good.len() {
            let mut t = good[..n].to_vec();
            let _ = rx_finish_partial(&mut t);
        }
        let mut arp = vec![0xffu8; 60];
        arp[12] = 0x08;
        arp[13] = 0x06;
        assert!(!rx_finish_partial(&mut arp));
    }
}

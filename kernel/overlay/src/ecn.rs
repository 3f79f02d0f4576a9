//! ECN and the outer TOS byte (RFC 6040, RFC 3168): pure functions on
//! header bytes, used by the mux on receive and by plugins on transmit.
//!
//! illumos' overlay never reads the outer IP header: a congestion mark
//! (CE) set by the underlay is lost at decapsulation, and the outer TOS
//! is always 0. Here:
//!
//! * Decapsulation follows RFC 6040 §4.2 (Figure 4). The host passes the
//!   outer TOS / traffic-class byte with each datagram; only an outer
//!   ECT(1) or CE can change the inner packet, so the common case (outer
//!   Not-ECT or ECT(0)) costs one comparison and reads nothing. An outer
//!   CE on a Not-ECT inner packet is dropped (and counted by the caller);
//!   a CE or ECT(1) is written into an ECN-capable inner IPv4 header (its
//!   checksum updated incrementally, RFC 1624) or IPv6 traffic class.
//!   Frames that are not IPv4/IPv6 (ARP, ...) pass unchanged, as Linux's
//!   `INET_ECN_decapsulate` leaves them.
//! * Encapsulation follows RFC 6040's normal mode, with one exception that
//!   matches Linux's `INET_ECN_encapsulate`: an inner CE is sent as
//!   ECT(0) in the outer header (RFC 3168's full-functionality mode), so
//!   an old decapsulator cannot mistake it for a mark made in the tunnel.
//!   The outer DSCP is a fixed value (0 by default) or the inner one.
//!
//! The inner frame is Ethernet, optionally with one 802.1Q tag. Nothing
//! here allocates or panics on any input.

use crate::ether::{ETHERTYPE_VLAN, ETHER_HDR_LEN, ETHER_VLAN_HDR_LEN};

/// The ECN field's mask in a TOS / traffic-class byte.
pub const ECN_MASK: u8 = 0x03;
/// Not ECN-capable transport.
pub const ECN_NOT_ECT: u8 = 0x00;
/// ECN-capable transport, codepoint 1.
pub const ECN_ECT1: u8 = 0x01;
/// ECN-capable transport, codepoint 0.
pub const ECN_ECT0: u8 = 0x02;
/// Congestion experienced.
pub const ECN_CE: u8 = 0x03;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;

/// RFC 6040 Figure 4: the ECN field to give the inner packet, from the
/// arriving inner and outer ECN fields; `None` means drop (an outer CE on
/// a Not-ECT inner packet). Only the low two bits of each are used.
pub const fn rfc6040_decap(inner: u8, outer: u8) -> Option<u8> {
    let inner = inner & ECN_MASK;
    match outer & ECN_MASK {
        ECN_CE => {
            if inner == ECN_NOT_ECT {
                None
            } else {
                Some(ECN_CE)
            }
        }
        ECN_ECT1 if inner == ECN_ECT0 => Some(ECN_ECT1),
        _ => Some(inner),
    }
}

/// The ECN field to put in the outer header for an inner packet's ECN
/// field: copied (RFC 6040 normal mode), except CE → ECT(0) as Linux does.
#[inline]
pub const fn ecn_encap(inner: u8) -> u8 {
    match inner & ECN_MASK {
        ECN_CE => ECN_ECT0,
        e => e,
    }
}

/// Where the inner IP header starts and which version it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InnerIp {
    /// IPv4 at this offset (version and IHL checked).
    V4(usize),
    /// IPv6 at this offset (version checked).
    V6(usize),
}

/// Find the inner IP header of an Ethernet frame whose first bytes are
/// `f`: after the Ethernet header and at most one 802.1Q tag. `None` for
/// other ethertypes or when the header does not lie in `f`.
#[inline(always)]
pub fn inner_ip(f: &[u8]) -> Option<InnerIp> {
    if f.len() < ETHER_HDR_LEN {
        return None;
    }
    let mut et = u16::from_be_bytes([f[12], f[13]]);
    let mut off = ETHER_HDR_LEN;
    if et == ETHERTYPE_VLAN {
        if f.len() < ETHER_VLAN_HDR_LEN {
            return None;
        }
        et = u16::from_be_bytes([f[16], f[17]]);
        off = ETHER_VLAN_HDR_LEN;
    }
    match et {
        ETHERTYPE_IPV4 => {
            let ip = f.get(off..off + 20)?;
            (ip[0] >> 4 == 4 && ip[0] & 0x0f >= 5).then_some(InnerIp::V4(off))
        }
        ETHERTYPE_IPV6 => {
            let ip = f.get(off..off + 40)?;
            (ip[0] >> 4 == 6).then_some(InnerIp::V6(off))
        }
        _ => None,
    }
}

/// The inner packet's TOS byte (IPv4) or traffic class (IPv6).
#[inline(always)]
pub fn inner_tos(f: &[u8]) -> Option<u8> {
    match inner_ip(f)? {
        InnerIp::V4(o) => Some(f[o + 1]),
        InnerIp::V6(o) => Some((f[o] << 4) | (f[o + 1] >> 4)),
    }
}

/// What [`ecn_decap_frame`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EcnDecap {
    /// Nothing to change (including non-IP inner frames).
    Unchanged,
    /// The inner ECN field was rewritten to this value.
    Marked(u8),
    /// Outer CE on a Not-ECT inner packet: drop it.
    Drop,
    /// A change was due but the inner IP header is not in `f`.
    Unparsed,
}

/// True if an outer TOS byte can change an inner packet (ECT(1) or CE);
/// the caller skips [`ecn_decap_frame`] otherwise.
#[inline]
pub const fn outer_ecn_matters(outer_tos: u8) -> bool {
    matches!(outer_tos & ECN_MASK, ECN_ECT1 | ECN_CE)
}

/// Apply RFC 6040 decapsulation to the inner Ethernet frame `f` (its
/// first bytes, writable) for an outer TOS / traffic class `outer_tos`.
pub fn ecn_decap_frame(outer_tos: u8, f: &mut [u8]) -> EcnDecap {
    if !outer_ecn_matters(outer_tos) {
        return EcnDecap::Unchanged;
    }
    let Some(ip) = inner_ip(f) else {
        // Non-IP (or a header not in the first block): Linux passes
        // these; distinguish a truncated IP header for the counters.
        return match ether_type(f) {
            Some(ETHERTYPE_IPV4 | ETHERTYPE_IPV6) => EcnDecap::Unparsed,
            _ => EcnDecap::Unchanged,
        };
    };
    let inner = match ip {
        InnerIp::V4(o) => f[o + 1] & ECN_MASK,
        InnerIp::V6(o) => (f[o + 1] >> 4) & ECN_MASK,
    };
    let Some(new) = rfc6040_decap(inner, outer_tos) else {
        return EcnDecap::Drop;
    };
    if new == inner {
        return EcnDecap::Unchanged;
    }
    match ip {
        InnerIp::V4(o) => {
            let tos = (f[o + 1] & !ECN_MASK) | new;
            set_ipv4_tos(&mut f[o..], tos)
        }
        InnerIp::V6(o) => f[o + 1] = (f[o + 1] & !(ECN_MASK << 4)) | (new << 4),
    }
    EcnDecap::Marked(new)
}

/// The ethertype after an optional tag, if the header is there.
fn ether_type(f: &[u8]) -> Option<u16> {
    let et = u16::from_be_bytes([*f.get(12)?, *f.get(13)?]);
    if et == ETHERTYPE_VLAN {
        return Some(u16::from_be_bytes([*f.get(16)?, *f.get(17)?]));
    }
    Some(et)
}

/// Rewrite an IPv4 header's TOS byte (`ip[1]`) and update its checksum
/// (`ip[10..12]`) incrementally: HC' = ~(~HC + ~m + m') (RFC 1624 eq. 3),
/// over the 16-bit word holding version/IHL and TOS.
pub fn set_ipv4_tos(ip: &mut [u8], tos: u8) {
    if ip.len() < 12 {
        return;
    }
    let old = u16::from_be_bytes([ip[0], ip[1]]);
    let new = u16::from_be_bytes([ip[0], tos]);
    let hc = u16::from_be_bytes([ip[10], ip[11]]);
    let mut sum = u32::from(!hc) + u32::from(!old) + u32::from(new);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    let hc2 = !(sum as u16);
    ip[1] = tos;
    ip[10..12].copy_from_slice(&hc2.to_be_bytes());
}

/// How the outer header's DSCP is chosen (`vxlan/dscp`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DscpMode {
    /// This DSCP (0–63) for every datagram.
    Fixed(u8),
    /// The inner IP packet's DSCP (0 for non-IP frames).
    Inherit,
}

/// The outer TOS / traffic-class byte for the inner frame whose first
/// bytes are `f`: the DSCP by `dscp`, the ECN field by [`ecn_encap`] when
/// `ecn` is on (else Not-ECT, illumos' behaviour).
#[inline(always)]
pub fn encap_tos(f: &[u8], dscp: DscpMode, ecn: bool) -> u8 {
    let fixed = match dscp {
        DscpMode::Fixed(d) => (d & 0x3f) << 2,
        DscpMode::Inherit => 0,
    };
    if !ecn && dscp != DscpMode::Inherit {
        return fixed;
    }
    let Some(t) = inner_tos(f) else {
        return fixed;
    };
    let d = match dscp {
        DscpMode::Fixed(_) => fixed,
        DscpMode::Inherit => t & !ECN_MASK,
    };
    if ecn {
        d | ecn_encap(t)
    } else {
        d
    }
}

/// The RFC 1071 checksum of an IPv4 header (for tests and callers that
/// build headers).
pub fn ipv4_header_checksum(ip: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for (i, c) in ip.chunks(2).enumerate() {
        if i == 5 {
            continue;
        }
        let w = u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]);
        sum += u32::from(w);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    const NAMES: [&str; 4] = ["Not-ECT", "ECT(1)", "ECT(0)", "CE"];

    /// RFC 6040 Figure 4, row by inner (Not-ECT, ECT(0), ECT(1), CE),
    /// column by outer (Not-ECT, ECT(0), ECT(1), CE); None = drop.
    const FIG4: [(u8, [Option<u8>; 4]); 4] = [
        (ECN_NOT_ECT, [Some(0), Some(0), Some(0), None]),
        (ECN_ECT0, [Some(2), Some(2), Some(1), Some(3)]),
        (ECN_ECT1, [Some(1), Some(1), Some(1), Some(3)]),
        (ECN_CE, [Some(3), Some(3), Some(3), Some(3)]),
    ];
    const OUTERS: [u8; 4] = [ECN_NOT_ECT, ECN_ECT0, ECN_ECT1, ECN_CE];

    fn v4_frame(tos: u8, tag: bool) -> Vec<u8> {
        let mut f = alloc::vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        if tag {
            f.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
        }
        f.extend_from_slice(&[0x08, 0x00]);
        let mut ip = [
            0x45, tos, 0, 84, 0x12, 0x34, 0x40, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let c = ipv4_header_checksum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&ip);
        f.extend_from_slice(&[0xab; 64]);
        f
    }

    fn v6_frame(tclass: u8) -> Vec<u8> {
        let mut f = alloc::vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x86, 0xdd];
        let mut ip = [0u8; 40];
        ip[0] = 0x60 | (tclass >> 4);
        ip[1] = (tclass << 4) | 0x0a; // flow label bits must survive
        ip[2] = 0xbc;
        ip[6] = 58;
        ip[7] = 64;
        f.extend_from_slice(&ip);
        f.extend_from_slice(&[0xcd; 16]);
        f
    }

    #[test]
    fn figure4_all_sixteen_cells() {
        for (inner, row) in FIG4 {
            for (i, outer) in OUTERS.iter().enumerate() {
                assert_eq!(
                    rfc6040_decap(inner, *outer),
                    row[i],
                    "inner {} outer {}",
                    NAMES[inner as usize],
                    NAMES[*outer as usize]
                );
            }
        }
    }

    /// Every cell applied to real IPv4 (untagged and tagged) and IPv6
    /// frames with DSCP bits set: the ECN field becomes Figure 4's value,
    /// the DSCP, flow label and everything else stay, and the IPv4
    /// checksum is still valid.
    #[test]
    fn figure4_on_frames_v4_v6() {
        for (inner, row) in FIG4 {
            for (i, outer) in OUTERS.iter().enumerate() {
                let want = row[i];
                let otos = (0x2e << 2) | outer;
                for tag in [false, true] {
                    let mut f = v4_frame((0x0a << 2) | inner, tag);
                    let orig = f.clone();
                    let r = ecn_decap_frame(otos, &mut f);
                    let o = if tag { 18 } else { 14 };
                    match want {
                        None => {
                            assert_eq!(r, EcnDecap::Drop);
                            assert_eq!(f, orig);
                        }
                        Some(w) => {
                            assert_eq!(f[o + 1], (0x0a << 2) | w, "v4 {inner} {outer}");
                            assert_eq!(
                                r,
                                if w == inner {
                                    EcnDecap::Unchanged
                                } else {
                                    EcnDecap::Marked(w)
                                }
                            );
                            let c = u16::from_be_bytes([f[o + 10], f[o + 11]]);
                            assert_eq!(c, ipv4_header_checksum(&f[o..o + 20]));
                            let mut g = f.clone();
                            g[o + 1] = orig[o + 1];
                            g[o + 10..o + 12].copy_from_slice(&orig[o + 10..o + 12]);
                            assert_eq!(g, orig, "only TOS and checksum change");
                        }
                    }
                }
                let mut f = v6_frame((0x0a << 2) | inner);
                let orig = f.clone();
                let r = ecn_decap_frame(otos, &mut f);
                match want {
                    None => {
                        assert_eq!(r, EcnDecap::Drop);
                        assert_eq!(f, orig);
                    }
                    Some(w) => {
                        assert_eq!(inner_tos(&f), Some((0x0a << 2) | w), "v6");
                        assert_eq!(f[15] & 0x0f, 0x0a, "flow label kept");
                        assert_eq!(f[14] >> 4, 6);
                        assert_eq!(&f[16..], &orig[16..]);
                    }
                }
            }
        }
    }

    #[test]
    fn non_ip_and_short_frames() {
        // ARP under an outer CE passes unchanged.
        let mut arp = alloc::vec![0xffu8; 12];
        arp.extend_from_slice(&[0x08, 0x06]);
        arp.extend_from_slice(&[0u8; 28]);
        let orig = arp.clone();
        assert_eq!(ecn_decap_frame(ECN_CE, &mut arp), EcnDecap::Unchanged);
        assert_eq!(arp, orig);
        // An IPv4 ethertype without a whole header: nothing written.
        let mut f = v4_frame(ECN_ECT0, false);
        f.truncate(20);
        assert_eq!(ecn_decap_frame(ECN_CE, &mut f), EcnDecap::Unparsed);
        // Wrong version nibble: not IP.
        let mut f = v4_frame(ECN_ECT0, false);
        f[14] = 0x65;
        assert_eq!(inner_ip(&f), None);
        // Any bytes at all: never a panic.
        for n in 0..80 {
            let mut b: Vec<u8> = (0..n as u8).collect();
            if n > 13 {
                b[12] = 0x08;
                b[13] = 0;
            }
            let _ = ecn_decap_frame(ECN_CE, &mut b);
            let _ = encap_tos(&b, DscpMode::Inherit, true);
        }
        // Outer Not-ECT / ECT(0): never touched, even for garbage.
        let mut g = [0x08u8; 3];
        assert_eq!(ecn_decap_frame(ECN_ECT0, &mut g), EcnDecap::Unchanged);
    }

    #[test]
    fn encap_mapping() {
        // The ping -Q values: 0x00, 0x01, 0x02, 0x03, 0x14, 0x18.
        for (tos, ecn_on_fixed0, inherit) in [
            (0x00u8, 0x00u8, 0x00u8),
            (0x01, 0x01, 0x01),
            (0x02, 0x02, 0x02),
            (0x03, 0x02, 0x02),
            (0x14, 0x00, 0x14),
            (0x18, 0x00, 0x18),
        ] {
            let f = v4_frame(tos, false);
            assert_eq!(encap_tos(&f, DscpMode::Fixed(0), true), ecn_on_fixed0);
            assert_eq!(encap_tos(&f, DscpMode::Inherit, true), inherit);
            assert_eq!(encap_tos(&f, DscpMode::Fixed(0), false), 0, "illumos");
            assert_eq!(
                encap_tos(&f, DscpMode::Fixed(46), true),
                (46 << 2) | ecn_encap(tos)
            );
            let f6 = v6_frame(tos);
            assert_eq!(encap_tos(&f6, DscpMode::Inherit, true), inherit);
            let ft = v4_frame(tos, true);
            assert_eq!(encap_tos(&ft, DscpMode::Inherit, false), tos & 0xfc);
        }
        let mut arp = alloc::vec![0xffu8; 12];
        arp.extend_from_slice(&[0x08, 0x06, 0, 0]);
        assert_eq!(encap_tos(&arp, DscpMode::Inherit, true), 0);
        assert_eq!(encap_tos(&arp, DscpMode::Fixed(10), true), 40);
    }

    #[test]
    fn incremental_checksum_matches_full() {
        for tos in 0..=255u8 {
            let mut f = v4_frame(0x5c, false);
            set_ipv4_tos(&mut f[14..], tos);
            let c = u16::from_be_bytes([f[24], f[25]]);
            assert_eq!(c, ipv4_header_checksum(&f[14..34]), "tos {tos:#x}");
        }
    }
}

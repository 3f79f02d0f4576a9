//! Offloads between the VNICs' TAP devices and the underlay: the vnet
//! header, checksums and header layouts that TCP segmentation
//! ([`crate::tso`]) and receive coalescing ([`crate::gro`]) work with.
//!
//! Theory of operation: the TAPs are opened with `IFF_VNET_HDR` and
//! `TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)`, so every frame
//! read or written carries a 10-byte `virtio_net_hdr` ([`VnetHdr`]) in
//! front, and the Linux stack above a VNIC hands us TCP segments of up to
//! 64 KiB whose checksum is left for us to finish (the illumos equivalent
//! is LSO and hardware checksum offload advertised by the VNIC's MAC).
//! [`complete_csum`] finishes a frame marked `NEEDS_CSUM`; [`l4_layout`]
//! finds the IP and TCP/UDP headers of a frame, [`csum_add`]/[`csum_fold`]
//! are the RFC 1071 sum.
//!
//! Malformed frames are errors ([`OffloadError`]) the caller counts and
//! drops; nothing here panics on input.
/// Size of `struct virtio_net_hdr` (no `num_buffers`).
pub const VNET_HDR_LEN: usize = 10;
/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`.
pub const F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_NONE`.
pub const GSO_NONE: u8 = 0;
/// `VIRTIO_NET_HDR_GSO_TCPV4`.
pub const GSO_TCPV4: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_TCPV6`.
pub const GSO_TCPV6: u8 = 4;
/// `VIRTIO_NET_HDR_GSO_UDP_L4` (UDP segmentation, USO).
pub const GSO_UDP_L4: u8 = 5;
/// `VIRTIO_NET_HDR_GSO_ECN` (a flag on the type).
pub const GSO_ECN: u8 = 0x80;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
pub(crate) const TCP_FIN: u8 = 0x01;
pub(crate) const TCP_SYN: u8 = 0x02;
pub(crate) const TCP_RST: u8 = 0x04;
pub(crate) const TCP_PSH: u8 = 0x08;
pub(crate) const TCP_ACK: u8 = 0x10;
pub(crate) const TCP_URG: u8 = 0x20;
pub(crate) const TCP_ECE: u8 = 0x40;
pub(crate) const TCP_CWR: u8 = 0x80;

/// Why a frame could not be offloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffloadError {
    /// Shorter than its headers say.
    Short,
    /// A GSO type we did not ask for (UDP fragmentation, USO).
    UnsupportedGso,
    /// Not IPv4/IPv6 + TCP where TCP segmentation was asked for.
    NotTcp,
    /// `gso_size` of zero.
    BadMss,
    /// `csum_start`/`csum_offset` outside the frame.
    BadCsumOffset,
}

/// `struct virtio_net_hdr` (host byte order, as tun uses without
/// `TUNSETVNETLE`/`BE`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VnetHdr {
    pub flags: u8,
    pub gso_type: u8,
    pub hdr_len: u16,
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

fn ne16(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub(crate) fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

pub(crate) fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

impl VnetHdr {
    /// Reads the header from the first [`VNET_HDR_LEN`] bytes.
    pub fn parse(b: &[u8]) -> Option<VnetHdr> {
        if b.len() < VNET_HDR_LEN {
            return None;
        }
        Some(VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: ne16(b, 2),
            gso_size: ne16(b, 4),
            csum_start: ne16(b, 6),
            csum_offset: ne16(b, 8),
        })
    }

    /// The header's bytes.
    pub fn bytes(&self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0u8; VNET_HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_ne_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_ne_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_ne_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_ne_bytes());
        b
    }
}

/// The one's complement sum of `data` (as big-endian 16-bit words, an odd
/// last byte padded with zero) added to `init`, not yet folded.
///
/// The loop adds little-endian 32-bit words into a 64-bit accumulator
/// (which the compiler vectorises) and swaps the folded result's bytes at
/// the end: the one's complement sum does not depend on byte order
/// (RFC 1071 §2 B).
pub fn csum_add(data: &[u8], init: u64) -> u64 {
    let mut s: u64 = 0;
    let mut c = data.chunks_exact(4);
    for w in &mut c {
        s += u64::from(u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
    }
    let mut r = c.remainder().chunks_exact(2);
    for w in &mut r {
        s += u64::from(u16::from_le_bytes([w[0], w[1]]));
    }
    if let [b] = r.remainder() {
        s += u64::from(*b);
    }
    init + u64::from(csum_fold(s).swap_bytes())
}

/// Folds a sum to 16 bits (not complemented).
pub fn csum_fold(mut s: u64) -> u16 {
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// Where the IP and TCP headers of a frame are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) v6: bool,
    /// UDP rather than TCP.
    pub(crate) udp: bool,
    /// Offset of the IP header.
    pub(crate) l3: usize,
    /// Offset of the TCP or UDP header.
    pub(crate) l4: usize,
    /// Offset of the payload (end of the TCP or UDP header).
    pub(crate) hl: usize,
}

/// Finds the headers of an Ethernet + IPv4/IPv6 + TCP frame (IPv4 without
/// fragmentation, IPv6 with TCP as the first next header).
pub(crate) fn tcp_layout(f: &[u8]) -> Result<Layout, OffloadError> {
    let lay = l4_layout(f)?;
    if lay.udp {
        return Err(OffloadError::NotTcp);
    }
    Ok(lay)
}

/// Finds the headers of an Ethernet + IPv4/IPv6 + TCP or UDP frame (IPv4
/// without fragmentation, IPv6 with TCP/UDP as the first next header).
pub(crate) fn l4_layout(f: &[u8]) -> Result<Layout, OffloadError> {
    if f.len() < 14 {
        return Err(OffloadError::Short);
    }
    let (mut l3, mut et) = (14, be16(f, 12));
    if et == ETHERTYPE_VLAN {
        if f.len() < 18 {
            return Err(OffloadError::Short);
        }
        l3 = 18;
        et = be16(f, 16);
    }
    let (v6, l4, udp) = match et {
        ETHERTYPE_IPV4 => {
            if f.len() < l3 + 20 {
                return Err(OffloadError::Short);
            }
            let ihl = usize::from(f[l3] & 0xf) * 4;
            if f[l3] >> 4 != 4 || ihl < 20 || !matches!(f[l3 + 9], IPPROTO_TCP | IPPROTO_UDP) {
                return Err(OffloadError::NotTcp);
            }
            // A fragment (MF or an offset) has no TCP header to work on.
            if be16(f, l3 + 6) & 0x3fff != 0 {
                return Err(OffloadError::NotTcp);
            }
            (false, l3 + ihl, f[l3 + 9] == IPPROTO_UDP)
        }
        ETHERTYPE_IPV6 => {
            if f.len() < l3 + 40 {
                return Err(OffloadError::Short);
            }
            if f[l3] >> 4 != 6 || !matches!(f[l3 + 6], IPPROTO_TCP | IPPROTO_UDP) {
                return Err(OffloadError::NotTcp);
            }
            (true, l3 + 40, f[l3 + 6] == IPPROTO_UDP)
        }
        _ => return Err(OffloadError::NotTcp),
    };
    if udp {
        if f.len() < l4 + 8 {
            return Err(OffloadError::Short);
        }
        return Ok(Layout {
            v6,
            udp,
            l3,
            l4,
            hl: l4 + 8,
        });
    }
    if f.len() < l4 + 20 {
        return Err(OffloadError::Short);
    }
    let doff = usize::from(f[l4 + 12] >> 4) * 4;
    if doff < 20 {
        return Err(OffloadError::NotTcp);
    }
    let hl = l4 + doff;
    if f.len() < hl {
        return Err(OffloadError::Short);
    }
    Ok(Layout {
        v6,
        udp,
        l3,
        l4,
        hl,
    })
}

/// The TCP or UDP pseudo-header sum for `l4_len` bytes from the TCP/UDP
/// header on.
pub(crate) fn pseudo(f: &[u8], lay: &Layout, l4_len: usize) -> u64 {
    let addrs = if lay.v6 {
        &f[lay.l3 + 8..lay.l3 + 40]
    } else {
        &f[lay.l3 + 12..lay.l3 + 20]
    };
    let proto = if lay.udp { IPPROTO_UDP } else { IPPROTO_TCP };
    csum_add(addrs, u64::from(proto) + l4_len as u64)
}

/// The IP packet's length according to its header, from the IP header on.
pub(crate) fn ip_len(f: &[u8], lay: &Layout) -> usize {
    if lay.v6 {
        40 + usize::from(be16(f, lay.l3 + 4))
    } else {
        usize::from(be16(f, lay.l3 + 2))
    }
}

/// Finishes a `NEEDS_CSUM` frame in place: the field at `csum_start +
/// csum_offset` holds the pseudo-header sum; the checksum covers
/// everything from `csum_start` to the end.
pub fn complete_csum(f: &mut [u8], h: &VnetHdr) -> Result<(), OffloadError> {
    let start = usize::from(h.csum_start);
    let at = start + usize::from(h.csum_offset);
    if at + 2 > f.len() {
        return Err(OffloadError::BadCsumOffset);
    }
    let c = !csum_fold(csum_add(&f[start..], 0));
    // A computed zero is sent as all ones (UDP reserves zero for "none";
    // the two are the same number in one's complement, so TCP agrees).
    put16(f, at, if c == 0 { 0xffff } else { c });
    Ok(())
}

/// Computes the TCP checksum of a complete frame from scratch.
pub(crate) fn fill_tcp_csum(p: &mut [u8], lay: &Layout) {
    let tcp_len = p.len() - lay.l4;
    put16(p, lay.l4 + 16, 0);
    let s = csum_add(&p[lay.l4..], pseudo(p, lay, tcp_len));
    put16(p, lay.l4 + 16, !csum_fold(s));
}

/// Frames for the offload tests (here, in `tso` and in `gro`).
#[cfg(test)]
pub(crate) mod testframes {
    use super::*;
    /// An Ethernet + IPv4 + TCP frame with correct checksums.
    pub(crate) fn tcp4(seq: u32, flags: u8, payload: &[u8], opts: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 8, 0x20, 0, 0, 2, 2, 8, 0x20, 0, 0, 1, 0x08, 0x00];
        let doff = 20 + opts.len();
        let tot = 20 + doff + payload.len();
        f.extend_from_slice(&[0x45, 0, (tot >> 8) as u8, tot as u8, 0x12, 0x34, 0x40, 0]);
        f.extend_from_slice(&[64, 6, 0, 0, 10, 55, 55, 1, 10, 55, 55, 2]);
        f.extend_from_slice(&[0x9c, 0x40, 0x14, 0x51]);
        f.extend_from_slice(&seq.to_be_bytes());
        f.extend_from_slice(&7u32.to_be_bytes());
        f.extend_from_slice(&[((doff / 4) << 4) as u8, flags, 0x01, 0xf5, 0, 0, 0, 0]);
        f.extend_from_slice(opts);
        f.extend_from_slice(payload);
        let c = !csum_fold(csum_add(&f[14..34], 0));
        put16(&mut f, 24, c);
        let lay = tcp_layout(&f).unwrap();
        fill_tcp_csum(&mut f, &lay);
        f
    }

    pub(crate) fn tcp6(seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 8, 0x20, 0, 0, 2, 2, 8, 0x20, 0, 0, 1, 0x86, 0xdd];
        let plen = 20 + payload.len();
        f.extend_from_slice(&[0x60, 0, 0, 0, (plen >> 8) as u8, plen as u8, 6, 64]);
        f.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        f.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        f.extend_from_slice(&[0x9c, 0x40, 0x14, 0x51]);
        f.extend_from_slice(&seq.to_be_bytes());
        f.extend_from_slice(&7u32.to_be_bytes());
        f.extend_from_slice(&[0x50, flags, 0x01, 0xf5, 0, 0, 0, 0]);
        f.extend_from_slice(payload);
        let lay = tcp_layout(&f).unwrap();
        fill_tcp_csum(&mut f, &lay);
        f
    }

    /// An Ethernet + IPv4 + UDP frame; checksum computed or zero.
    pub(crate) fn udp4(sport: u16, payload: &[u8], csum: bool) -> Vec<u8> {
        let mut f = vec![2, 8, 0x20, 0, 0, 2, 2, 8, 0x20, 0, 0, 1, 0x08, 0x00];
        let ulen = 8 + payload.len();
        let tot = 20 + ulen;
        f.extend_from_slice(&[0x45, 0, (tot >> 8) as u8, tot as u8, 0, 9, 0x40, 0]);
        f.extend_from_slice(&[64, 17, 0, 0, 10, 55, 55, 1, 10, 55, 55, 2]);
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&[0x14, 0x51, (ulen >> 8) as u8, ulen as u8, 0, 0]);
        f.extend_from_slice(payload);
        let c = !csum_fold(csum_add(&f[14..34], 0));
        put16(&mut f, 24, c);
        if csum {
            let lay = l4_layout(&f).unwrap();
            let c = !csum_fold(csum_add(&f[34..], pseudo(&f, &lay, ulen)));
            put16(&mut f, 40, c);
        }
        f
    }

    pub(crate) fn tso_of(f: &[u8], mss: u16, v6: bool) -> (VnetHdr, Vec<u8>) {
        // What the stack hands over: partial checksum (pseudo header sum
        // of the whole segment's length in the field).
        let mut f = f.to_vec();
        let lay = tcp_layout(&f).unwrap();
        let tcp_len = f.len() - lay.l4;
        let ps = csum_fold(pseudo(&f, &lay, tcp_len));
        put16(&mut f, lay.l4 + 16, ps);
        let h = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: if v6 { GSO_TCPV6 } else { GSO_TCPV4 },
            hdr_len: lay.hl as u16,
            gso_size: mss,
            csum_start: lay.l4 as u16,
            csum_offset: 16,
        };
        (h, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn checksum_matches_rfc1071_example() {
        // RFC 1071 §3: the sum of 00 01 f2 03 f4 f5 f6 f7 is ddf2.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(csum_fold(csum_add(&d, 0)), 0xddf2);
        assert_eq!(
            csum_fold(csum_add(&d[..7], 0)),
            csum_fold(csum_add(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6], 0))
        );
        assert_eq!(csum_fold(csum_add(&[0xff], 0)), 0xff00);
    }

    #[test]
    fn checksum_agrees_with_a_plain_big_endian_sum() {
        let d: Vec<u8> = (0..3001u32).map(|i| (i * 131 + 7) as u8).collect();
        for n in [0, 1, 2, 3, 5, 8, 9, 63, 64, 65, 1500, 3001] {
            let mut plain: u64 = 5;
            for w in d[..n].chunks(2) {
                let hi = u64::from(w[0]) << 8;
                plain += hi + w.get(1).map_or(0, |&b| u64::from(b));
            }
            assert_eq!(csum_fold(csum_add(&d[..n], 5)), csum_fold(plain), "n={n}");
        }
    }

    #[test]
    fn vnet_header_round_trips() {
        let h = VnetHdr {
            flags: 1,
            gso_type: 4,
            hdr_len: 74,
            gso_size: 1348,
            csum_start: 54,
            csum_offset: 16,
        };
        assert_eq!(VnetHdr::parse(&h.bytes()), Some(h));
        assert_eq!(VnetHdr::parse(&[0; 9]), None);
    }
}

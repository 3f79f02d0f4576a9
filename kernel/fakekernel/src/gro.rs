//! Receive coalescing (GRO) of frames the driver delivers to a VNIC.
//!
//! Theory of operation: [`Gro`] merges consecutive in-order TCP segments
//! of one flow (same addresses, ports, ack, window, options; every segment
//! but the last a full `mss`) into one frame with a `GSO_TCPV4`/`GSO_TCPV6`
//! vnet header and a partial checksum, written to the TAP in one call; the
//! Linux stack takes it as a GRO'd packet. The segments are not copied
//! into a new buffer: [`Gro`] keeps their messages, rewrites the first
//! one's headers for the merged frame, and hands out the parts (vnet
//! header, first segment, the others' payloads) for one `writev(2)`. UDP datagrams of one flow merge
//! the same way into a `GSO_UDP_L4` frame. Each segment's own checksums
//! are verified before it is merged (an unverifiable segment is delivered
//! on its own, so the stack above drops it as it would without us).

use crate::offload::{
    be16, be32, csum_add, csum_fold, ip_len, l4_layout, pseudo, put16, Layout, VnetHdr,
    F_NEEDS_CSUM, GSO_TCPV4, GSO_TCPV6, GSO_UDP_L4, TCP_ACK, TCP_CWR, TCP_ECE, TCP_FIN, TCP_PSH,
    TCP_RST, TCP_SYN, TCP_URG, VNET_HDR_LEN,
};
use overlay::MsgBlk;

/// Most segments (TCP) or datagrams (UDP) [`Gro`] merges into one frame
/// (and parts of one `writev`: this many and the vnet header).
pub const GRO_MAX_SEGS: usize = 64;

/// Largest frame [`Gro`] builds (IP length field limit).
const GRO_MAX_IP: usize = 65535;

/// Receive coalescing of one TCP flow at a time; see the module comment.
#[derive(Debug)]
pub struct Gro {
    /// The merged frame's vnet header.
    hdr: [u8; VNET_HDR_LEN],
    /// The segments, in order; the first one's headers become the merged
    /// frame's.
    frames: Vec<MsgBlk>,
    /// Length of the merged frame: the first segment, then the payload of
    /// the others.
    total: usize,
    lay: Layout,
    mss: usize,
    next_seq: u32,
    last_len: usize,
    flush_now: bool,
}

impl Default for Gro {
    fn default() -> Self {
        Gro::new()
    }
}

/// What [`Gro::check`] found out about a frame.
struct Seg {
    lay: Layout,
    /// Payload bytes.
    len: usize,
    seq: u32,
    flags: u8,
}

impl Gro {
    /// An empty coalescer.
    pub fn new() -> Gro {
        Gro {
            hdr: [0; VNET_HDR_LEN],
            frames: Vec::with_capacity(GRO_MAX_SEGS),
            total: 0,
            lay: Layout {
                v6: false,
                udp: false,
                l3: 0,
                l4: 0,
                hl: 0,
            },
            mss: 0,
            next_seq: 0,
            last_len: 0,
            flush_now: false,
        }
    }

    /// Whether a merged frame is pending.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Segments in the pending frame.
    pub fn segs(&self) -> u32 {
        // At most GRO_MAX_SEGS.
        self.frames.len() as u32
    }

    /// Whether the pending frame should be written now (PSH seen, or full).
    pub fn must_flush(&self) -> bool {
        self.flush_now
    }

    /// A frame that may be merged: plain ACK (+PSH) TCP with data, or UDP
    /// with data; exact IP (and UDP) length; correct IP and TCP/UDP
    /// checksums (or none, for UDP over IPv4).
    fn check(f: &[u8]) -> Option<Seg> {
        let lay = l4_layout(f).ok()?;
        if lay.l3 + ip_len(f, &lay) != f.len() {
            return None;
        }
        if lay.udp {
            return Gro::check_udp(f, lay);
        }
        let len = f.len() - lay.hl;
        let flags = f[lay.l4 + 13];
        let bad = TCP_FIN | TCP_SYN | TCP_RST | TCP_URG | TCP_ECE | TCP_CWR;
        if len == 0 || flags & bad != 0 || flags & TCP_ACK == 0 {
            return None;
        }
        if !lay.v6 && csum_fold(csum_add(&f[lay.l3..lay.l4], 0)) != 0xffff {
            return None;
        }
        let tcp_len = f.len() - lay.l4;
        if csum_fold(csum_add(&f[lay.l4..], pseudo(f, &lay, tcp_len))) != 0xffff {
            return None;
        }
        Some(Seg {
            lay,
            len,
            seq: be32(f, lay.l4 + 4),
            flags,
        })
    }

    fn check_udp(f: &[u8], lay: Layout) -> Option<Seg> {
        let ulen = usize::from(be16(f, lay.l4 + 4));
        let len = f.len() - lay.hl;
        if lay.l4 + ulen != f.len() || len == 0 {
            return None;
        }
        if !lay.v6 && csum_fold(csum_add(&f[lay.l3..lay.l4], 0)) != 0xffff {
            return None;
        }
        let none = !lay.v6 && be16(f, lay.l4 + 6) == 0;
        if !none && csum_fold(csum_add(&f[lay.l4..], pseudo(f, &lay, ulen))) != 0xffff {
            return None;
        }
        Some(Seg {
            lay,
            len,
            seq: 0,
            flags: 0,
        })
    }

    /// Starts a merged frame with `m` if it qualifies (the coalescer must
    /// be empty). `Err(m)`: deliver it on its own.
    pub fn start(&mut self, m: MsgBlk) -> Result<(), MsgBlk> {
        debug_assert!(self.is_empty());
        if m.nblocks() > 1 {
            return Err(m);
        }
        let Some(s) = Gro::check(m.first()) else {
            return Err(m);
        };
        self.total = m.len();
        self.frames.push(m);
        self.lay = s.lay;
        self.mss = s.len;
        self.next_seq = s.seq.wrapping_add(s.len as u32);
        self.last_len = s.len;
        self.flush_now = s.flags & TCP_PSH != 0;
        Ok(())
    }

    /// Appends `m` to the pending frame if it continues it. `Err(m)`:
    /// flush the pending frame, then [`Gro::start`] with `m`.
    pub fn append(&mut self, m: MsgBlk) -> Result<(), MsgBlk> {
        if m.nblocks() > 1 {
            return Err(m);
        }
        match self.continues(m.first()) {
            Some(s) => {
                self.add(m, s);
                Ok(())
            }
            None => Err(m),
        }
    }

    /// Whether `f` continues the pending frame; what it is if so.
    fn continues(&self, f: &[u8]) -> Option<Seg> {
        if self.is_empty() || self.flush_now || self.last_len != self.mss {
            return None;
        }
        let s = Gro::check(f)?;
        let p = self.frames[0].first();
        let lay = self.lay;
        if s.lay != lay || s.len > self.mss || !lay.udp && s.seq != self.next_seq {
            return None;
        }
        if self.frames.len() >= GRO_MAX_SEGS {
            return None;
        }
        if self.total + s.len - lay.l3 > GRO_MAX_IP {
            return None;
        }
        // Same link-layer header, same IP header except length, ID and
        // checksum (v4) or length (v6), same TCP header except sequence
        // number, flags (PSH) and checksum.
        if p[..lay.l3] != f[..lay.l3] {
            return None;
        }
        let ip_same = if lay.v6 {
            p[lay.l3..lay.l3 + 4] == f[lay.l3..lay.l3 + 4]
                && p[lay.l3 + 6..lay.l4] == f[lay.l3 + 6..lay.l4]
        } else {
            p[lay.l3..lay.l3 + 2] == f[lay.l3..lay.l3 + 2]
                && p[lay.l3 + 6..lay.l3 + 10] == f[lay.l3 + 6..lay.l3 + 10]
                && p[lay.l3 + 12..lay.l4] == f[lay.l3 + 12..lay.l4]
        };
        // Same ports; for TCP also the same ack, window and options.
        let ports_same = p[lay.l4..lay.l4 + 4] == f[lay.l4..lay.l4 + 4];
        let tcp_same = lay.udp
            || p[lay.l4 + 8..lay.l4 + 13] == f[lay.l4 + 8..lay.l4 + 13]
                && p[lay.l4 + 14..lay.l4 + 16] == f[lay.l4 + 14..lay.l4 + 16]
                && p[lay.l4 + 18..lay.hl] == f[lay.l4 + 18..lay.hl];
        if !ip_same || !ports_same || !tcp_same {
            return None;
        }
        Some(s)
    }

    /// Adds `m` (checked by [`Gro::continues`]) to the pending frame: kept
    /// as it is, its payload written out behind the others by
    /// [`Gro::finish`] (no copy).
    fn add(&mut self, m: MsgBlk, s: Seg) {
        let lay = self.lay;
        if s.flags & TCP_PSH != 0 {
            if let Some(p) = self.frames[0].first_mut() {
                p[lay.l4 + 13] |= TCP_PSH;
            }
            self.flush_now = true;
        }
        self.total += s.len;
        self.frames.push(m);
        self.next_seq = s.seq.wrapping_add(s.len as u32);
        self.last_len = s.len;
        if self.total - lay.l3 + self.mss > GRO_MAX_IP || self.frames.len() >= GRO_MAX_SEGS {
            self.flush_now = true;
        }
    }

    /// Finishes the pending frame: its vnet header, then its bytes as
    /// parts (the first segment whole, with its IP length and checksum and
    /// partial TCP/UDP checksum rewritten in place, then the other
    /// segments' payloads), ready for one `writev` to the TAP. Call
    /// [`Gro::clear`] afterwards.
    pub fn finish(&mut self) -> impl Iterator<Item = &[u8]> + '_ {
        self.flush_now = false;
        let multi = self.frames.len() > 1;
        self.hdr = [0; VNET_HDR_LEN];
        if multi {
            // The segment's bytes are its own, in a private buffer or
            // its region of a shared receive buffer.
            let p = self.frames[0].first_region_mut();
            self.hdr = Gro::rewrite(p, self.lay, self.mss, self.total);
        }
        // One segment, unchanged: an all-zero header (checksums as
        // received, verified by the stack).
        let hl = self.lay.hl;
        std::iter::once(&self.hdr[..]).chain(self.frames.iter().enumerate().map(move |(i, m)| {
            // Every segment is one block (start and append refuse others).
            if i == 0 {
                m.first()
            } else {
                &m.first()[hl..]
            }
        }))
    }

    /// Empties the coalescer (frees the segments).
    pub fn clear(&mut self) {
        self.frames.clear();
        self.total = 0;
        self.flush_now = false;
    }

    /// Rewrites the first segment's headers for a merged frame of `total`
    /// bytes; returns its vnet header.
    fn rewrite(p: &mut [u8], lay: Layout, mss: usize, total: usize) -> [u8; VNET_HDR_LEN] {
        let tcp_len = total - lay.l4;
        if lay.udp {
            put16(p, lay.l4 + 4, tcp_len as u16);
        }
        if lay.v6 {
            put16(p, lay.l3 + 4, tcp_len as u16);
        } else {
            let ihl = lay.l4 - lay.l3;
            put16(p, lay.l3 + 2, (ihl + tcp_len) as u16);
            put16(p, lay.l3 + 10, 0);
            let c = !csum_fold(csum_add(&p[lay.l3..lay.l4], 0));
            put16(p, lay.l3 + 10, c);
        }
        // CHECKSUM_PARTIAL: the field holds the pseudo-header sum (of
        // the whole merged frame; segmentation adjusts it per segment).
        let ps = csum_fold(pseudo(p, &lay, tcp_len));
        let csum_offset = if lay.udp { 6 } else { 16 };
        put16(p, lay.l4 + csum_offset, ps);
        let gso_type = match (lay.udp, lay.v6) {
            (true, _) => GSO_UDP_L4,
            (false, false) => GSO_TCPV4,
            (false, true) => GSO_TCPV6,
        };
        VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type,
            hdr_len: lay.hl as u16,
            gso_size: mss as u16,
            csum_start: lay.l4 as u16,
            csum_offset: csum_offset as u16,
        }
        .bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offload::testframes::{tcp4, tcp6, tso_of, udp4};
    use crate::offload::{complete_csum, tcp_layout};
    use crate::tso::segment_slice;

    fn start(g: &mut Gro, f: &[u8]) -> bool {
        g.start(MsgBlk::from_vec(f.to_vec())).is_ok()
    }

    fn append(g: &mut Gro, f: &[u8]) -> bool {
        g.append(MsgBlk::from_vec(f.to_vec())).is_ok()
    }

    /// The merged frame's bytes (vnet header first), as one writev would
    /// write them; the coalescer is empty afterwards.
    fn take(g: &mut Gro) -> Vec<u8> {
        let v: Vec<u8> = g.finish().flatten().copied().collect();
        g.clear();
        v
    }
    fn valid(f: &[u8]) -> bool {
        Gro::check(f).is_some()
    }

    #[test]
    fn segments_a_tso_frame_and_gro_rebuilds_it() {
        for v6 in [false, true] {
            let payload: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + 3) as u8).collect();
            let flags = TCP_ACK | TCP_PSH;
            let orig = if v6 {
                tcp6(1000, flags, &payload)
            } else {
                tcp4(
                    1000,
                    flags,
                    &payload,
                    &[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2],
                )
            };
            let (h, f) = tso_of(&orig, 1448, v6);
            let mut segs = Vec::new();
            segment_slice(&f, &h, 16, |v| segs.push(v[16..].to_vec())).unwrap();
            assert_eq!(segs.len(), 7);
            let mut got = Vec::new();
            for (i, s) in segs.iter().enumerate() {
                assert!(valid(s), "segment {i} has bad checksums");
                let lay = tcp_layout(s).unwrap();
                assert_eq!(lay.l3 + ip_len(s, &lay), s.len());
                assert_eq!(be32(s, lay.l4 + 4), 1000 + 1448 * i as u32);
                let psh = s[lay.l4 + 13] & TCP_PSH != 0;
                assert_eq!(psh, i == 6);
                if !v6 {
                    assert_eq!(be16(s, lay.l3 + 4), 0x1234 + i as u16);
                }
                got.extend_from_slice(&s[lay.hl..]);
            }
            assert_eq!(got, payload);

            // GRO back into one frame.
            let mut g = Gro::new();
            assert!(start(&mut g, &segs[0]));
            for s in &segs[1..] {
                assert!(append(&mut g, s));
            }
            assert!(g.must_flush(), "PSH ends the merge");
            let out = take(&mut g);
            let vh = VnetHdr::parse(&out).unwrap();
            assert_eq!(vh.gso_size, 1448);
            assert_eq!(vh.flags, F_NEEDS_CSUM);
            let mut m = out[VNET_HDR_LEN..].to_vec();
            let lay = tcp_layout(&m).unwrap();
            assert_eq!(usize::from(vh.hdr_len), lay.hl);
            assert_eq!(m.len(), orig.len());
            complete_csum(&mut m, &vh).unwrap();
            if !v6 {
                // The merged frame keeps the first segment's IP ID.
                put16(&mut m, lay.l3 + 4, 0x1234);
                put16(&mut m, lay.l3 + 10, be16(&orig, lay.l3 + 10));
            }
            assert_eq!(m, orig);
            assert!(g.is_empty());
        }
    }

    #[test]
    fn gro_refuses_what_it_must_not_merge() {
        let p = [9u8; 100];
        let a = tcp4(1, TCP_ACK, &p, &[]);
        let mut g = Gro::new();
        assert!(start(&mut g, &a));
        // Out of order, different flow, FIN, bad checksum, longer than mss.
        assert!(!append(&mut g, &tcp4(500, TCP_ACK, &p, &[])));
        let mut other = tcp4(101, TCP_ACK, &p, &[]);
        other[37] ^= 1; // source port
        assert!(!append(&mut g, &other));
        assert!(!append(&mut g, &tcp4(101, TCP_ACK | TCP_FIN, &p, &[])));
        let mut bad = tcp4(101, TCP_ACK, &p, &[]);
        *bad.last_mut().unwrap() ^= 0xff;
        assert!(!append(&mut g, &bad));
        assert!(!append(&mut g, &tcp4(101, TCP_ACK, &[1u8; 101], &[])));
        // A short one ends the run.
        assert!(append(&mut g, &tcp4(101, TCP_ACK, &[1u8; 50], &[])));
        assert!(!append(&mut g, &tcp4(151, TCP_ACK, &[1u8; 50], &[])));
        let out = take(&mut g);
        assert_eq!(VnetHdr::parse(&out).unwrap().gso_type, GSO_TCPV4);
        // Pure ACKs, SYNs and non-TCP never start a merge.
        assert!(!start(&mut g, &tcp4(1, TCP_ACK, &[], &[])));
        assert!(!start(&mut g, &tcp4(1, TCP_SYN, &p, &[])));
        assert!(!start(&mut g, &[0u8; 60]));
        // One segment comes back unchanged with a zero header.
        assert!(start(&mut g, &a));
        let out = take(&mut g);
        assert_eq!(&out[..VNET_HDR_LEN], &[0u8; VNET_HDR_LEN]);
        assert_eq!(&out[VNET_HDR_LEN..], &a[..]);
    }

    #[test]
    fn gro_merges_udp_datagrams_of_one_flow() {
        let mut g = Gro::new();
        assert!(start(&mut g, &udp4(9000, &[1u8; 64], true)));
        assert!(append(&mut g, &udp4(9000, &[2u8; 64], false)));
        assert!(!append(&mut g, &udp4(9001, &[3u8; 64], true)), "other flow");
        assert!(!append(&mut g, &udp4(9000, &[3u8; 65], true)), "longer");
        let mut bad = udp4(9000, &[3u8; 64], true);
        bad[50] ^= 1;
        assert!(!append(&mut g, &bad), "bad checksum");
        assert!(append(&mut g, &udp4(9000, &[3u8; 10], true)));
        assert!(
            !append(&mut g, &udp4(9000, &[4u8; 10], true)),
            "after a short one"
        );
        assert_eq!(g.segs(), 3);
        let out = take(&mut g);
        let vh = VnetHdr::parse(&out).unwrap();
        assert_eq!(vh.gso_type, GSO_UDP_L4);
        assert_eq!(
            (vh.gso_size, vh.hdr_len, vh.csum_start, vh.csum_offset),
            (64, 42, 34, 6)
        );
        let mut m = out[VNET_HDR_LEN..].to_vec();
        assert_eq!(m.len(), 42 + 138);
        assert_eq!(be16(&m, 16), 20 + 8 + 138);
        assert_eq!(be16(&m, 38), 8 + 138);
        assert_eq!(csum_fold(csum_add(&m[14..34], 0)), 0xffff);
        // Finishing the partial checksum gives a valid datagram.
        complete_csum(&mut m, &vh).unwrap();
        let lay = l4_layout(&m).unwrap();
        assert_eq!(csum_fold(csum_add(&m[34..], pseudo(&m, &lay, 146))), 0xffff);
        // At most 64 datagrams per merged frame.
        assert!(start(&mut g, &udp4(1, &[0u8; 8], true)));
        for _ in 1..GRO_MAX_SEGS {
            assert!(append(&mut g, &udp4(1, &[0u8; 8], true)));
        }
        assert!(g.must_flush());
        assert!(!append(&mut g, &udp4(1, &[0u8; 8], true)));
    }
}

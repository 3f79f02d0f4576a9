//! Offloads between the VNICs' TAP devices and the underlay: checksums,
//! TCP segmentation (TSO) and receive coalescing (GRO), in userland.
//!
//! Theory of operation: the TAPs are opened with `IFF_VNET_HDR` and
//! `TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)`, so every frame
//! read or written carries a 10-byte `virtio_net_hdr` in front, and the
//! Linux stack above a VNIC hands us TCP segments of up to 64 KiB whose
//! checksum is left for us to finish (the illumos equivalent is LSO and
//! hardware checksum offload advertised by the VNIC's MAC).
//!
//! * Transmit: [`complete_csum`] finishes a frame marked `NEEDS_CSUM`;
//!   [`segment_tcp`] cuts a `GSO_TCPV4`/`GSO_TCPV6` frame into frames of
//!   at most `gso_size` payload bytes with their own IP lengths, IDs, TCP
//!   sequence numbers, flags and full checksums, exactly what the wire (and
//!   a peer without offloads) must see. Each segment then goes through the
//!   driver's `mc_tx` like any frame.
//! * Receive: [`Gro`] merges consecutive in-order TCP segments of one flow
//!   (same addresses, ports, ack, window, options; every segment but the
//!   last a full `mss`) into one frame with a `GSO_TCPV4`/`GSO_TCPV6`
//!   header and a partial checksum, written to the TAP in one call; the
//!   Linux stack takes it as a GRO'd packet. Each segment's own checksums
//!   are verified before it is merged (an unverifiable segment is delivered
//!   on its own, so the stack above drops it as it would without us).
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
/// Most datagrams [`Gro`] merges into one UDP frame.
const GRO_MAX_UDP_SEGS: u32 = 64;
const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;
const TCP_URG: u8 = 0x20;
const TCP_ECE: u8 = 0x40;
const TCP_CWR: u8 = 0x80;

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

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub(crate) fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn put32(b: &mut [u8], at: usize, v: u32) {
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
fn tcp_layout(f: &[u8]) -> Result<Layout, OffloadError> {
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

/// Cuts a TSO frame (`f`, the bytes after the vnet header) into wire-sized
/// frames. Each one is built in a fresh `Vec` with `headroom` bytes in
/// front and handed to `emit(vec)` (frame at `vec[headroom..]`). Frames
/// with `GSO_NONE` are emitted whole, their checksum finished if asked.
pub fn segment_tcp(
    f: &[u8],
    h: &VnetHdr,
    headroom: usize,
    mut emit: impl FnMut(Vec<u8>),
) -> Result<(), OffloadError> {
    let one = |emit: &mut dyn FnMut(Vec<u8>)| -> Result<(), OffloadError> {
        let mut v = Vec::with_capacity(headroom + f.len());
        v.resize(headroom, 0);
        v.extend_from_slice(f);
        if h.flags & F_NEEDS_CSUM != 0 {
            complete_csum(&mut v[headroom..], h)?;
        }
        emit(v);
        Ok(())
    };
    match h.gso_type & !GSO_ECN {
        GSO_NONE => return one(&mut emit),
        GSO_TCPV4 | GSO_TCPV6 => {}
        _ => return Err(OffloadError::UnsupportedGso),
    }
    let lay = tcp_layout(f)?;
    let mss = usize::from(h.gso_size);
    if mss == 0 {
        return Err(OffloadError::BadMss);
    }
    let payload = &f[lay.hl..];
    if payload.len() <= mss {
        // Nothing to cut; the checksum may still be partial.
        let mut v = Vec::with_capacity(headroom + f.len());
        v.resize(headroom, 0);
        v.extend_from_slice(f);
        fill_tcp_csum(&mut v[headroom..], &lay);
        emit(v);
        return Ok(());
    }
    let seq0 = be32(f, lay.l4 + 4);
    let flags0 = f[lay.l4 + 13];
    let id0 = if lay.v6 { 0 } else { be16(f, lay.l3 + 4) };
    let nseg = payload.len().div_ceil(mss);
    for (i, chunk) in payload.chunks(mss).enumerate() {
        let mut v = Vec::with_capacity(headroom + lay.hl + chunk.len());
        v.resize(headroom, 0);
        v.extend_from_slice(&f[..lay.hl]);
        v.extend_from_slice(chunk);
        let p = &mut v[headroom..];
        let tcp_len = lay.hl - lay.l4 + chunk.len();
        if lay.v6 {
            // tcp_len <= 64 KiB: the frame came from a 64 KiB read.
            put16(p, lay.l3 + 4, tcp_len as u16);
        } else {
            let ihl = lay.l4 - lay.l3;
            put16(p, lay.l3 + 2, (ihl + tcp_len) as u16);
            put16(p, lay.l3 + 4, id0.wrapping_add(i as u16));
            put16(p, lay.l3 + 10, 0);
            let c = !csum_fold(csum_add(&p[lay.l3..lay.l4], 0));
            put16(p, lay.l3 + 10, c);
        }
        put32(p, lay.l4 + 4, seq0.wrapping_add((i * mss) as u32));
        let mut fl = flags0;
        if i + 1 < nseg {
            fl &= !(TCP_FIN | TCP_PSH);
        }
        if i > 0 {
            fl &= !TCP_CWR;
        }
        p[lay.l4 + 13] = fl;
        fill_tcp_csum(p, &lay);
        emit(v);
    }
    Ok(())
}

/// Computes the TCP checksum of a complete frame from scratch.
fn fill_tcp_csum(p: &mut [u8], lay: &Layout) {
    let tcp_len = p.len() - lay.l4;
    put16(p, lay.l4 + 16, 0);
    let s = csum_add(&p[lay.l4..], pseudo(p, lay, tcp_len));
    put16(p, lay.l4 + 16, !csum_fold(s));
}

/// Largest frame [`Gro`] builds (IP length field limit).
const GRO_MAX_IP: usize = 65535;

/// Receive coalescing of one TCP flow at a time; see the module comment.
#[derive(Debug)]
pub struct Gro {
    /// Vnet header room followed by the merged frame.
    buf: Vec<u8>,
    lay: Layout,
    mss: usize,
    next_seq: u32,
    segs: u32,
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
            buf: Vec::with_capacity(VNET_HDR_LEN + 18 + GRO_MAX_IP),
            lay: Layout {
                v6: false,
                udp: false,
                l3: 0,
                l4: 0,
                hl: 0,
            },
            mss: 0,
            next_seq: 0,
            segs: 0,
            last_len: 0,
            flush_now: false,
        }
    }

    /// Whether a merged frame is pending.
    pub fn is_empty(&self) -> bool {
        self.segs == 0
    }

    /// Segments in the pending frame.
    pub fn segs(&self) -> u32 {
        self.segs
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

    /// Starts a merged frame from `f` if it qualifies (the coalescer must
    /// be empty). False: deliver `f` on its own.
    pub fn start(&mut self, f: &[u8]) -> bool {
        debug_assert!(self.is_empty());
        let Some(s) = Gro::check(f) else {
            return false;
        };
        self.buf.clear();
        self.buf.extend_from_slice(&[0u8; VNET_HDR_LEN]);
        self.buf.extend_from_slice(f);
        self.lay = s.lay;
        self.mss = s.len;
        self.next_seq = s.seq.wrapping_add(s.len as u32);
        self.segs = 1;
        self.last_len = s.len;
        self.flush_now = s.flags & TCP_PSH != 0;
        true
    }

    /// Appends `f` to the pending frame if it continues it. False: flush
    /// the pending frame, then [`Gro::start`] with `f`.
    pub fn append(&mut self, f: &[u8]) -> bool {
        if self.is_empty() || self.flush_now || self.last_len != self.mss {
            return false;
        }
        let Some(s) = Gro::check(f) else {
            return false;
        };
        let p = &self.buf[VNET_HDR_LEN..];
        let lay = self.lay;
        if s.lay != lay || s.len > self.mss || !lay.udp && s.seq != self.next_seq {
            return false;
        }
        if lay.udp && self.segs >= GRO_MAX_UDP_SEGS {
            return false;
        }
        if p.len() + s.len - lay.l3 > GRO_MAX_IP {
            return false;
        }
        // Same link-layer header, same IP header except length, ID and
        // checksum (v4) or length (v6), same TCP header except sequence
        // number, flags (PSH) and checksum.
        if p[..lay.l3] != f[..lay.l3] {
            return false;
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
            return false;
        }
        self.buf.extend_from_slice(&f[lay.hl..]);
        if s.flags & TCP_PSH != 0 {
            let at = VNET_HDR_LEN + lay.l4 + 13;
            self.buf[at] |= TCP_PSH;
            self.flush_now = true;
        }
        self.next_seq = s.seq.wrapping_add(s.len as u32);
        self.segs += 1;
        self.last_len = s.len;
        if self.buf.len() - VNET_HDR_LEN - lay.l3 + self.mss > GRO_MAX_IP
            || lay.udp && self.segs >= GRO_MAX_UDP_SEGS
        {
            self.flush_now = true;
        }
        true
    }

    /// Finishes the pending frame and returns it with its vnet header in
    /// front, ready for one TAP write; the coalescer is empty afterwards.
    pub fn take(&mut self) -> &[u8] {
        let segs = self.segs;
        self.segs = 0;
        self.flush_now = false;
        if segs <= 1 {
            // One segment, unchanged: an all-zero header (checksums as
            // received, verified by the stack).
            self.buf[..VNET_HDR_LEN].fill(0);
            return &self.buf;
        }
        let lay = self.lay;
        let (h, p) = self.buf.split_at_mut(VNET_HDR_LEN);
        let tcp_len = p.len() - lay.l4;
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
        let vh = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type,
            hdr_len: lay.hl as u16,
            gso_size: self.mss as u16,
            csum_start: lay.l4 as u16,
            csum_offset: csum_offset as u16,
        };
        h.copy_from_slice(&vh.bytes());
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ethernet + IPv4 + TCP frame with correct checksums.
    fn tcp4(seq: u32, flags: u8, payload: &[u8], opts: &[u8]) -> Vec<u8> {
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

    fn tcp6(seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
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

    fn valid(f: &[u8]) -> bool {
        Gro::check(f).is_some()
    }

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

    fn tso_of(f: &[u8], mss: u16, v6: bool) -> (VnetHdr, Vec<u8>) {
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
            segment_tcp(&f, &h, 16, |v| segs.push(v[16..].to_vec())).unwrap();
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
            assert!(g.start(&segs[0]));
            for s in &segs[1..] {
                assert!(g.append(s));
            }
            assert!(g.must_flush(), "PSH ends the merge");
            let out = g.take().to_vec();
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
        assert!(g.start(&a));
        // Out of order, different flow, FIN, bad checksum, longer than mss.
        assert!(!g.append(&tcp4(500, TCP_ACK, &p, &[])));
        let mut other = tcp4(101, TCP_ACK, &p, &[]);
        other[37] ^= 1; // source port
        assert!(!g.append(&other));
        assert!(!g.append(&tcp4(101, TCP_ACK | TCP_FIN, &p, &[])));
        let mut bad = tcp4(101, TCP_ACK, &p, &[]);
        *bad.last_mut().unwrap() ^= 0xff;
        assert!(!g.append(&bad));
        assert!(!g.append(&tcp4(101, TCP_ACK, &[1u8; 101], &[])));
        // A short one ends the run.
        assert!(g.append(&tcp4(101, TCP_ACK, &[1u8; 50], &[])));
        assert!(!g.append(&tcp4(151, TCP_ACK, &[1u8; 50], &[])));
        let out = g.take();
        assert_eq!(VnetHdr::parse(out).unwrap().gso_type, GSO_TCPV4);
        // Pure ACKs, SYNs and non-TCP never start a merge.
        assert!(!g.start(&tcp4(1, TCP_ACK, &[], &[])));
        assert!(!g.start(&tcp4(1, TCP_SYN, &p, &[])));
        assert!(!g.start(&[0u8; 60]));
        // One segment comes back unchanged with a zero header.
        assert!(g.start(&a));
        let out = g.take();
        assert_eq!(&out[..VNET_HDR_LEN], &[0u8; VNET_HDR_LEN]);
        assert_eq!(&out[VNET_HDR_LEN..], &a[..]);
    }

    /// An Ethernet + IPv4 + UDP frame; checksum computed or zero.
    fn udp4(sport: u16, payload: &[u8], csum: bool) -> Vec<u8> {
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

    #[test]
    fn gro_merges_udp_datagrams_of_one_flow() {
        let mut g = Gro::new();
        assert!(g.start(&udp4(9000, &[1u8; 64], true)));
        assert!(g.append(&udp4(9000, &[2u8; 64], false)));
        assert!(!g.append(&udp4(9001, &[3u8; 64], true)), "other flow");
        assert!(!g.append(&udp4(9000, &[3u8; 65], true)), "longer");
        let mut bad = udp4(9000, &[3u8; 64], true);
        bad[50] ^= 1;
        assert!(!g.append(&bad), "bad checksum");
        assert!(g.append(&udp4(9000, &[3u8; 10], true)));
        assert!(
            !g.append(&udp4(9000, &[4u8; 10], true)),
            "after a short one"
        );
        assert_eq!(g.segs(), 3);
        let out = g.take().to_vec();
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
        assert!(g.start(&udp4(1, &[0u8; 8], true)));
        for _ in 1..GRO_MAX_UDP_SEGS {
            assert!(g.append(&udp4(1, &[0u8; 8], true)));
        }
        assert!(g.must_flush());
        assert!(!g.append(&udp4(1, &[0u8; 8], true)));
    }

    #[test]
    fn bad_tso_input_is_an_error_not_a_panic() {
        let h = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_TCPV4,
            gso_size: 0,
            ..Default::default()
        };
        let f = tcp4(1, TCP_ACK, &[0u8; 3000], &[]);
        assert_eq!(segment_tcp(&f, &h, 0, |_| {}), Err(OffloadError::BadMss));
        let h2 = VnetHdr {
            gso_size: 1000,
            ..h
        };
        for n in 0..60 {
            let _ = segment_tcp(&f[..n], &h2, 0, |_| {});
        }
        let h3 = VnetHdr { gso_type: 3, ..h2 };
        assert_eq!(
            segment_tcp(&f, &h3, 0, |_| {}),
            Err(OffloadError::UnsupportedGso)
        );
        let h4 = VnetHdr {
            gso_type: GSO_NONE,
            csum_start: 60000,
            ..h2
        };
        assert_eq!(
            segment_tcp(&f, &h4, 0, |_| {}),
            Err(OffloadError::BadCsumOffset)
        );
    }
}

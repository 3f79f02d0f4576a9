//! Hand-built frames and datagrams for the hostile-input and checksum
//! tests, and a raw IPv4 sender for them.
//!
//! Theory of operation: the builders ([`vxlan_hdr`], [`ether_frame`],
//! [`ipv4_udp`], [`ipv4_packet`], [`ipv4_fragments`]) make exact bytes,
//! every header field and checksum the test's to choose (good, bad, zero,
//! or left partial as an offloading sender would); [`RawSender`] sends
//! whole IPv4 packets (`IPPROTO_RAW`) from inside a namespace so that the
//! kernel adds nothing of its own.

use crate::netns::Netns;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// An 8-byte VXLAN header: `flags`, the 24-bit reserved field, the VNI and
/// the last reserved byte.
pub fn vxlan_hdr(flags: u8, rsvd24: u32, vni: u32, rsvd8: u8) -> [u8; 8] {
    let r = rsvd24.to_be_bytes();
    let v = vni.to_be_bytes();
    [flags, r[1], r[2], r[3], v[1], v[2], v[3], rsvd8]
}

/// An Ethernet frame: dst, src, EtherType, payload.
pub fn ether_frame(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// The Internet checksum of `data` (one's complement of the one's
/// complement sum), with `init` as partial sum.
pub fn inet_csum(init: u32, data: &[u8]) -> u16 {
    let mut sum = init;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// What to put in a hand-built UDP header's checksum field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UdpCsum {
    /// 0: "no checksum" (IPv4).
    Zero,
    /// The correct checksum.
    Good,
    /// A wrong non-zero checksum.
    Bad,
    /// The folded pseudo-header sum, not complemented: what a sender with
    /// transmit checksum offload leaves for the NIC (`CHECKSUM_PARTIAL`).
    Partial,
}

/// A UDP datagram (header + payload) from `src:sport` to `dst:dport` over
/// IPv4, with the checksum chosen by `csum`.
pub fn ipv4_udp(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    payload: &[u8],
    csum: UdpCsum,
) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    let mut u = Vec::with_capacity(len as usize);
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&len.to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let pseudo = u32::from(u16::from_be_bytes([src[0], src[1]]))
        + u32::from(u16::from_be_bytes([src[2], src[3]]))
        + u32::from(u16::from_be_bytes([dst[0], dst[1]]))
        + u32::from(u16::from_be_bytes([dst[2], dst[3]]))
        + 17
        + u32::from(len);
    let good = match inet_csum(pseudo, &u) {
        0 => 0xffff,
        c => c,
    };
    let c = match csum {
        UdpCsum::Zero => 0,
        UdpCsum::Good => good,
        UdpCsum::Bad => good ^ 0x5a5a,
        UdpCsum::Partial => !inet_csum(pseudo, &[]),
    };
    u[6..8].copy_from_slice(&c.to_be_bytes());
    u
}

/// An IPv4 packet (20-byte header, protocol UDP) carrying `l4` bytes
/// starting at fragment offset `off` (bytes, a multiple of 8), with "more
/// fragments" `mf` and identification `id`.
pub fn ipv4_packet(
    src: [u8; 4],
    dst: [u8; 4],
    id: u16,
    off: usize,
    mf: bool,
    l4: &[u8],
) -> Vec<u8> {
    let total = (20 + l4.len()) as u16;
    let frag = ((off / 8) as u16) | if mf { 0x2000 } else { 0 };
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[64, 17, 0, 0]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let c = inet_csum(0, &h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(l4);
    h
}

/// Splits a UDP datagram into IPv4 fragments of at most `max` bytes of
/// payload each (rounded down to a multiple of 8).
pub fn ipv4_fragments(src: [u8; 4], dst: [u8; 4], id: u16, udp: &[u8], max: usize) -> Vec<Vec<u8>> {
    let step = (max / 8).max(1) * 8;
    let mut v = Vec::new();
    let mut off = 0;
    while off < udp.len() {
        let end = (off + step).min(udp.len());
        v.push(ipv4_packet(
            src,
            dst,
            id,
            off,
            end < udp.len(),
            &udp[off..end],
        ));
        off = end;
    }
    v
}

/// A raw IPv4 socket (`IPPROTO_RAW`, so the header is ours) created in a
/// namespace.
#[derive(Debug)]
pub struct RawSender {
    fd: OwnedFd,
}

impl RawSender {
    /// Opens the socket inside `ns`.
    pub fn new(ns: &Netns) -> RawSender {
        ns.run_in(|| {
            // SAFETY: plain socket(2) call.
            let fd = unsafe {
                libc::socket(
                    libc::AF_INET,
                    libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                    libc::IPPROTO_RAW,
                )
            };
            assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
            // SAFETY: fd is a fresh descriptor we own.
            RawSender {
                fd: unsafe { OwnedFd::from_raw_fd(fd) },
            }
        })
    }

    /// Sends one whole IPv4 packet to `dst`.
    pub fn send(&self, dst: [u8; 4], pkt: &[u8]) {
        // SAFETY: sockaddr_in is plain data; zero is valid.
        let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        sa.sin_family = libc::AF_INET as libc::sa_family_t;
        sa.sin_addr.s_addr = u32::from_ne_bytes(dst);
        // SAFETY: pkt is readable for its length; sa is a valid sockaddr_in
        // of the given size.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                pkt.as_ptr().cast(),
                pkt.len(),
                0,
                (&sa as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        assert_eq!(
            n,
            pkt.len() as isize,
            "raw send: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Parses a dotted IPv4 address.
pub fn v4(s: &str) -> [u8; 4] {
    let a: std::net::Ipv4Addr = s.parse().unwrap_or_else(|_| panic!("bad IPv4 {s}"));
    a.octets()
}

/// Parses `a:b:c:d:e:f` (hex, 1 or 2 digits each).
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut m = [0u8; 6];
    let mut n = 0;
    for (i, p) in s.split(':').enumerate() {
        *m.get_mut(i)? = u8::from_str_radix(p, 16).ok()?;
        n += 1;
    }
    (n == 6).then_some(m)
}

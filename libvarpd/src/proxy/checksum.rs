//! The ICMPv6 checksum (RFC 4443 §2.3, over the RFC 8200 §8.1 pseudo-header).
//!
//! The one's-complement sum of the source and destination addresses, the
//! upper-layer length as 32 bits, three zero bytes and the next header (58),
//! followed by the ICMPv6 message with its checksum field as found. A message
//! whose checksum field is zero yields the value to store there; a message
//! with a correct checksum yields zero.

use std::net::Ipv6Addr;

/// `IPPROTO_ICMPV6`.
pub const IPPROTO_ICMPV6: u8 = 58;

/// The ICMPv6 checksum of `msg` between `src` and `dst` (the complement of
/// the one's-complement sum, as stored in the header).
pub fn icmpv6_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, msg: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut add = |b: &[u8]| {
        let mut chunks = b.chunks_exact(2);
        for c in &mut chunks {
            sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u64::from(u16::from_be_bytes([*last, 0]));
        }
    };
    add(&src.octets());
    add(&dst.octets());
    // An ICMPv6 message is at most 4 GiB by construction of the length field.
    add(&(msg.len() as u32).to_be_bytes());
    add(&[0, 0, 0, IPPROTO_ICMPV6]);
    add(msg);
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

//! Outer UDP source ports from a hash of the inner flow (`UDP_SRCPORT_HASH`).
//!
//! Theory of operation: RFC 7348 §5 recommends (E7, E8) that a VTEP pick
//! the outer UDP source port from a hash of the inner frame's flow, in the
//! dynamic range 49152–65535, so that underlay routers spreading traffic
//! over equal-cost paths (ECMP, LACP) see one tuple per inner flow. illumos
//! does this in its UDP module once the VXLAN plugin sets `UDP_SRCPORT_HASH
//! = UDP_HASH_VXLAN` on the mux's socket (`vxlan_fanout`).
//!
//! On Linux a socket sends from exactly one port, so the mux socket
//! ([`crate::underlay::UdpSock`]) owns a pool of send sockets bound to the
//! listen address and to ports in that range; [`flow_hash`] picks the pool
//! member for each datagram. The hash covers what identifies a flow and
//! nothing that changes within one: the inner MAC addresses and EtherType
//! (past one 802.1Q tag), and for IPv4/IPv6 the addresses, the protocol and,
//! for TCP, UDP and SCTP (not fragments), the ports. It is FNV-1a, cheap
//! and well spread over the low bits used to pick a socket.

/// Bytes of the VXLAN header in front of the inner frame.
const VXLAN_HDR: usize = 8;

const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_SCTP: u8 = 132;

/// The first port of the dynamic range (RFC 6335), where hashed source
/// ports live.
pub const SRC_PORT_MIN: u16 = 49152;

struct Fnv(u32);

impl Fnv {
    fn add(&mut self, b: &[u8]) {
        for &x in b {
            self.0 ^= u32::from(x);
            self.0 = self.0.wrapping_mul(0x0100_0193);
        }
    }
}

fn be16(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(off)?, *b.get(off + 1)?]))
}

fn has_ports(proto: u8) -> bool {
    matches!(proto, IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP)
}

/// The flow hash of a VXLAN datagram (`payload` is the UDP payload: the
/// 8-byte VXLAN header, then the inner Ethernet frame). A short or odd
/// frame hashes what it has; never panics.
pub fn flow_hash(payload: &[u8]) -> u32 {
    let mut h = Fnv(0x811c_9dc5);
    let f = payload.get(VXLAN_HDR..).unwrap_or(&[]);
    h.add(f.get(..12).unwrap_or(f));
    let mut off = 12;
    let mut et = be16(f, off);
    if et == Some(ETHERTYPE_VLAN) {
        off += 4;
        et = be16(f, off);
    }
    let Some(et) = et else {
        return h.0;
    };
    h.add(&et.to_be_bytes());
    let ip = &f[off + 2..];
    match et {
        ETHERTYPE_IPV4 if ip.len() >= 20 => {
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let proto = ip[9];
            h.add(&ip[9..10]);
            h.add(&ip[12..20]);
            // Only the first fragment has ports; no fragment hashes them,
            // so all pieces of one datagram leave from one port.
            let frag = be16(ip, 6).unwrap_or(0) & 0x3fff != 0;
            if !frag && has_ports(proto) && ihl >= 20 {
                if let Some(p) = ip.get(ihl..ihl + 4) {
                    h.add(p);
                }
            }
        }
        ETHERTYPE_IPV6 if ip.len() >= 40 => {
            let nh = ip[6];
            h.add(&ip[6..7]);
            h.add(&ip[8..40]);
            if has_ports(nh) {
                if let Some(p) = ip.get(40..44) {
                    h.add(p);
                }
            }
        }
        _ => {}
    }
    h.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(sport: u16, dport: u16, id: u16, ttl: u8) -> Vec<u8> {
        let mut d = vec![0x08, 0, 0, 0, 0, 0, 23, 0];
        d.extend_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]);
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[4..6].copy_from_slice(&id.to_be_bytes());
        ip[8] = ttl;
        ip[9] = IPPROTO_TCP;
        ip[12..16].copy_from_slice(&[10, 0, 0, 1]);
        ip[16..20].copy_from_slice(&[10, 0, 0, 2]);
        d.extend_from_slice(&ip);
        d.extend_from_slice(&sport.to_be_bytes());
        d.extend_from_slice(&dport.to_be_bytes());
        d.extend_from_slice(&[0xaa; 16]);
        d
    }

    #[test]
    fn one_flow_one_hash() {
        let a = v4(1000, 80, 1, 64);
        let mut b = v4(1000, 80, 2, 63);
        b.extend_from_slice(&[1, 2, 3]);
        assert_eq!(flow_hash(&a), flow_hash(&b));
    }

    #[test]
    fn flows_differ() {
        let hs: std::collections::HashSet<u32> = (0..64)
            .map(|p| flow_hash(&v4(1000 + p, 80, 0, 64)))
            .collect();
        assert_eq!(hs.len(), 64);
        let buckets: std::collections::HashSet<u32> = (0..64)
            .map(|p| flow_hash(&v4(1000 + p, 80, 0, 64)) % 16)
            .collect();
        assert!(buckets.len() >= 8, "{buckets:?}");
    }

    #[test]
    fn short_and_odd_input_never_panics() {
        let full = v4(1, 2, 3, 4);
        for n in 0..full.len() {
            let _ = flow_hash(&full[..n]);
        }
        let mut bad = full.clone();
        bad[VXLAN_HDR + 14] = 0x4f; // IHL 60 bytes: ports beyond the data
        let _ = flow_hash(&bad);
        let mut vlan = full[..VXLAN_HDR + 12].to_vec();
        vlan.extend_from_slice(&[0x81, 0x00]);
        let _ = flow_hash(&vlan);
    }
}

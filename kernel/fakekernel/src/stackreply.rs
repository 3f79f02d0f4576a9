//! Which frames the stack behind a VNIC answers by itself, at once.
//!
//! Theory of operation: an underlay receive thread that writes a frame to
//! a VNIC's TAP may read the answer and send it itself, sparing a wake-up
//! of the TAP's reader (`crate::mac`, `Mac::rx_replies`). That pays only
//! for frames the Linux stack answers inside the write, without waiting
//! for a process: an ARP request, an ICMP or ICMPv6 echo request, an IPv6
//! neighbour solicitation. For anything else (TCP and UDP data, whose
//! answer comes from an application later, if at all) the read would
//! find nothing, and holding the TAP's transmit lock over the write
//! would make the reader wait when the application answers quickly, so
//! those frames are left to the reader. [`answered_by_stack`] looks at
//! an untagged Ethernet frame.

const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const IPPROTO_ICMP: u8 = 1;
const IPPROTO_ICMPV6: u8 = 58;
const ICMP_ECHO: u8 = 8;
const ICMP6_ECHO_REQUEST: u8 = 128;
const ND_NEIGHBOR_SOLICIT: u8 = 135;
const ETHER_HDR: usize = 14;
const IPV6_HDR: usize = 40;

/// Whether the stack behind a VNIC answers `frame` (untagged Ethernet)
/// within the TAP write: ARP, ICMP echo request, ICMPv6 echo request or
/// neighbour solicitation (without IPv6 extension headers).
pub fn answered_by_stack(frame: &[u8]) -> bool {
    let Some(et) = frame.get(12..14) else {
        return false;
    };
    let ip = &frame[ETHER_HDR..];
    match u16::from_be_bytes([et[0], et[1]]) {
        ETHERTYPE_ARP => true,
        ETHERTYPE_IPV4 => {
            let Some(&vihl) = ip.first() else {
                return false;
            };
            let ihl = usize::from(vihl & 0x0f) * 4;
            ip.len() > ihl && ip.get(9) == Some(&IPPROTO_ICMP) && ip[ihl] == ICMP_ECHO
        }
        ETHERTYPE_IPV6 => {
            ip.get(6) == Some(&IPPROTO_ICMPV6)
                && matches!(
                    ip.get(IPV6_HDR),
                    Some(&ICMP6_ECHO_REQUEST) | Some(&ND_NEIGHBOR_SOLICIT)
                )
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth(et: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&et.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn ipv4(proto: u8, l4: &[u8]) -> Vec<u8> {
        let mut h = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0];
        h.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        h.extend_from_slice(l4);
        h
    }

    fn ipv6(next: u8, l4: &[u8]) -> Vec<u8> {
        let mut h = vec![0x60, 0, 0, 0, 0, 0, next, 64];
        h.extend_from_slice(&[0u8; 32]);
        h.extend_from_slice(l4);
        h
    }

    #[test]
    fn requests_the_stack_answers() {
        assert!(answered_by_stack(&eth(ETHERTYPE_ARP, &[0; 28])));
        assert!(answered_by_stack(&eth(
            ETHERTYPE_IPV4,
            &ipv4(1, &[8, 0, 0, 0])
        )));
        assert!(answered_by_stack(&eth(
            ETHERTYPE_IPV6,
            &ipv6(58, &[128, 0])
        )));
        assert!(answered_by_stack(&eth(
            ETHERTYPE_IPV6,
            &ipv6(58, &[135, 0])
        )));
    }

    #[test]
    fn everything_else_and_runts() {
        // Echo replies, TCP, UDP, IPv6 with an extension header, runts.
        assert!(!answered_by_stack(&eth(ETHERTYPE_IPV4, &ipv4(1, &[0, 0]))));
        assert!(!answered_by_stack(&eth(ETHERTYPE_IPV4, &ipv4(6, &[0; 20]))));
        assert!(!answered_by_stack(&eth(ETHERTYPE_IPV4, &ipv4(17, &[0; 8]))));
        assert!(!answered_by_stack(&eth(
            ETHERTYPE_IPV6,
            &ipv6(58, &[129, 0])
        )));
        assert!(!answered_by_stack(&eth(ETHERTYPE_IPV6, &ipv6(0, &[58, 0]))));
        assert!(!answered_by_stack(&eth(ETHERTYPE_IPV4, &[0x45])));
        assert!(!answered_by_stack(&eth(ETHERTYPE_IPV4, &ipv4(1, &[]))));
        assert!(!answered_by_stack(&eth(ETHERTYPE_IPV6, &[0x60; 10])));
        assert!(!answered_by_stack(&[0u8; 13]));
        assert!(!answered_by_stack(&[]));
    }
}

//! The gratuitous ARP of `libvarpd_inject_arp`, and its IPv6 counterpart,
//! the unsolicited neighbour advertisement of `libvarpd_inject_ndp`.
//!
//! A plugin that learns a MAC moved (svp's shootdowns) announces it to the
//! overlay's local clients with an ARP *request* whose sender and target
//! protocol addresses are both the moved address, target hardware address
//! all ones; 802.1Q-tagged when a VLAN is given (TCI = VLAN id, priority 0,
//! CFI 0).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::checksum::{icmpv6_checksum, IPPROTO_ICMPV6};
use super::{
    ETHERADDRL, ETHERTYPE_ARP, ETHERTYPE_IP, ETHERTYPE_IPV6, ETHERTYPE_VLAN, ETHER_BROADCAST,
};

/// The gratuitous ARP frame `libvarpd_inject_arp(vlan, srcmac, srcip,
/// dstmac)` injects (VLAN ids above 4095 are masked to 12 bits).
pub fn gratuitous_arp(
    vlan: u16,
    srcmac: &[u8; ETHERADDRL],
    srcip: Ipv4Addr,
    dstmac: &[u8; ETHERADDRL],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(18 + 28);
    out.extend_from_slice(dstmac);
    out.extend_from_slice(srcmac);
    if vlan != 0 {
        out.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
        out.extend_from_slice(&(vlan & 0x0fff).to_be_bytes());
    }
    out.extend_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    // hrd = Ethernet, pro = IPv4, hln 6, pln 4, op = request.
    out.extend_from_slice(&[0, 1]);
    out.extend_from_slice(&ETHERTYPE_IP.to_be_bytes());
    out.extend_from_slice(&[6, 4, 0, 1]);
    out.extend_from_slice(srcmac);
    out.extend_from_slice(&srcip.octets());
    out.extend_from_slice(&ETHER_BROADCAST);
    out.extend_from_slice(&srcip.octets());
    out
}

/// The unsolicited neighbour advertisement of `libvarpd_inject_ndp` (the
/// IPv6 counterpart of [`gratuitous_arp`], RFC 4861 §7.2.6): `srcip` is at
/// `srcmac`. Ethernet from `srcmac` to `dstmac` (normally the all-nodes
/// group's 33:33:00:00:00:01), 802.1Q-tagged when `vlan` ≠ 0; IPv6 from
/// `srcip` to ff02::1, hop limit 255; ICMPv6 type 136 with only the
/// Override flag, target `srcip`, a Target Link-Layer Address option with
/// `srcmac`, and its checksum.
pub fn unsolicited_na(
    vlan: u16,
    srcmac: &[u8; ETHERADDRL],
    srcip: Ipv6Addr,
    dstmac: &[u8; ETHERADDRL],
) -> Vec<u8> {
    let dst = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    // ICMPv6: type, code, checksum, flags (O), target, option 2 (len 1).
    let mut icmp = Vec::with_capacity(32);
    icmp.extend_from_slice(&[136, 0, 0, 0, 0x20, 0, 0, 0]);
    icmp.extend_from_slice(&srcip.octets());
    icmp.extend_from_slice(&[2, 1]);
    icmp.extend_from_slice(srcmac);
    let ck = icmpv6_checksum(&srcip, &dst, &icmp);
    icmp[2..4].copy_from_slice(&ck.to_be_bytes());

    let mut out = Vec::with_capacity(18 + 40 + icmp.len());
    out.extend_from_slice(dstmac);
    out.extend_from_slice(srcmac);
    if vlan != 0 {
        out.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
        out.extend_from_slice(&(vlan & 0x0fff).to_be_bytes());
    }
    out.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
    out.extend_from_slice(&[0x60, 0, 0, 0]);
    out.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    out.extend_from_slice(&[IPPROTO_ICMPV6, 255]);
    out.extend_from_slice(&srcip.octets());
    out.extend_from_slice(&dst.octets());
    out.extend_from_slice(&icmp);
    out
}

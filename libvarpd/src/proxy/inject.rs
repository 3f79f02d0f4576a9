//! The gratuitous ARP of `libvarpd_inject_arp`.
//!
//! A plugin that learns a MAC moved (svp's shootdowns) announces it to the
//! overlay's local clients with an ARP *request* whose sender and target
//! protocol addresses are both the moved address, target hardware address
//! all ones; 802.1Q-tagged when a VLAN is given (TCI = VLAN id, priority 0,
//! CFI 0).

use std::net::Ipv4Addr;

use super::{ETHERADDRL, ETHERTYPE_ARP, ETHERTYPE_IP, ETHERTYPE_VLAN, ETHER_BROADCAST};

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

//! Parsing the inner Ethernet header of a frame (`mac_vlan_header_info`
//! for the Ethernet MAC plugin): destination, source, address type, SAP
//! after an optional 802.1Q tag, VLAN id and header size.
//!
//! DYNAMIC targets key their cache on the destination MAC, and LOOKUP
//! reports the rest to varpd. Parsing reads at most 18 bytes into a stack
//! buffer, so it works across fragments and never allocates.

use crate::msgblk::MsgBlk;
use overlay_sys::{MAC_ADDRTYPE_BROADCAST, MAC_ADDRTYPE_MULTICAST, MAC_ADDRTYPE_UNICAST};

/// `ETHERTYPE_VLAN`.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// Ethernet header without / with an 802.1Q tag.
pub const ETHER_HDR_LEN: usize = 14;
pub const ETHER_VLAN_HDR_LEN: usize = 18;

/// A parsed L2 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MacHeaderInfo {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    /// `MAC_ADDRTYPE_*` of `dst`.
    pub dsttype: u32,
    /// Ethertype after any VLAN tag.
    pub sap: u32,
    /// VLAN id (0 if untagged).
    pub vlan: u16,
    /// 14, or 18 with a tag.
    pub hdr_size: usize,
    /// Total frame length.
    pub pkt_size: usize,
}

/// Parse `m`'s Ethernet header; `None` if the frame is too short.
pub fn mac_vlan_header_info(m: &MsgBlk) -> Option<MacHeaderInfo> {
    let mut h = [0u8; ETHER_VLAN_HDR_LEN];
    let n = m.copy_out(0, &mut h);
    parse(&h[..n], m.len())
}

/// Parse a header from `h` (the frame's first bytes); `len` is the frame's
/// total length.
pub fn parse(h: &[u8], len: usize) -> Option<MacHeaderInfo> {
    if h.len() < ETHER_HDR_LEN {
        return None;
    }
    let mut dst = [0u8; 6];
    let mut src = [0u8; 6];
    dst.copy_from_slice(&h[0..6]);
    src.copy_from_slice(&h[6..12]);
    let mut sap = u16::from_be_bytes([h[12], h[13]]);
    let mut vlan = 0;
    let mut hdr_size = ETHER_HDR_LEN;
    if sap == ETHERTYPE_VLAN {
        if h.len() < ETHER_VLAN_HDR_LEN {
            return None;
        }
        vlan = u16::from_be_bytes([h[14], h[15]]) & 0x0fff;
        sap = u16::from_be_bytes([h[16], h[17]]);
        hdr_size = ETHER_VLAN_HDR_LEN;
    }
    Some(MacHeaderInfo {
        dst,
        src,
        dsttype: addr_type(&dst),
        sap: sap as u32,
        vlan,
        hdr_size,
        pkt_size: len,
    })
}

/// The `mac_addrtype_t` of an Ethernet address.
pub fn addr_type(a: &[u8; 6]) -> u32 {
    if *a == [0xff; 6] {
        MAC_ADDRTYPE_BROADCAST
    } else if a[0] & 1 != 0 {
        MAC_ADDRTYPE_MULTICAST
    } else {
        MAC_ADDRTYPE_UNICAST
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untagged_and_tagged() {
        let mut f = [0u8; 60];
        f[0..6].copy_from_slice(&[0xff; 6]);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        let i = parse(&f, 60).unwrap();
        assert_eq!(
            (i.dsttype, i.sap, i.vlan, i.hdr_size),
            (MAC_ADDRTYPE_BROADCAST, 0x806, 0, 14)
        );
        f[0] = 0x01;
        f[12..14].copy_from_slice(&0x8100u16.to_be_bytes());
        f[14..16].copy_from_slice(&0x2064u16.to_be_bytes());
        f[16..18].copy_from_slice(&0x0800u16.to_be_bytes());
        let i = parse(&f, 60).unwrap();
        assert_eq!(
            (i.dsttype, i.sap, i.vlan, i.hdr_size),
            (MAC_ADDRTYPE_MULTICAST, 0x800, 0x64, 18)
        );
        assert!(parse(&f[..13], 13).is_none());
        assert!(parse(&f[..16], 16).is_none());
        f[0] = 2;
        assert_eq!(parse(&f, 60).unwrap().dsttype, MAC_ADDRTYPE_UNICAST);
    }
}

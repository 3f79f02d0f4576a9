//! Proxy ARP (`libvarpd_plugin_proxy_arp` and `libvarpd_proxy_arp_fini`).
//!
//! An Ethernet/IPv4 ARP request (RFC 826) is answered in place: the fetched
//! frame becomes the reply, with the operation set to REPLY, the requester's
//! hardware address moved to the target hardware address, the looked-up MAC
//! as sender hardware address, the protocol addresses swapped, and the
//! Ethernet header readdressed from the looked-up MAC to the requester.
//! Gratuitous ARP (sender and target protocol address equal) is never
//! answered, or the requester's duplicate address detection would fire.

use std::net::Ipv4Addr;

use super::{be16, bytes, LookupFrame, ProxyDrop, ETHERADDRL, ETHERTYPE_ARP, ETHER_HDRLEN};
use super::{ETHERTYPE_IP, PROXY_BUFSIZE};

/// `sizeof (struct ether_arp)`.
pub const ETHER_ARP_LEN: usize = 28;
/// `ARPHRD_ETHER`.
const ARPHRD_ETHER: u16 = 1;
/// `ARPOP_REQUEST`.
const ARPOP_REQUEST: u16 = 1;
/// `ARPOP_REPLY`.
const ARPOP_REPLY: u16 = 2;

// Offsets inside `struct ether_arp`.
const AR_HRD: usize = 0;
const AR_PRO: usize = 2;
const AR_HLN: usize = 4;
const AR_PLN: usize = 5;
const AR_OP: usize = 6;
const ARP_SHA: usize = 8;
const ARP_SPA: usize = 14;
const ARP_THA: usize = 18;
const ARP_TPA: usize = 24;

/// A validated ARP request: what to ask the plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpRequest {
    /// The address to resolve (`arp_tpa`).
    pub target: Ipv4Addr,
    /// The requester's address (`arp_spa`).
    pub sender: Ipv4Addr,
    /// The requester's MAC (`arp_sha`).
    pub sender_mac: [u8; ETHERADDRL],
}

/// Checks on the lookup alone, before the frame is fetched.
pub fn arp_precheck(f: &LookupFrame) -> Result<(), ProxyDrop> {
    if f.sap != u32::from(ETHERTYPE_ARP) {
        return Err(ProxyDrop::WrongSap);
    }
    match f.total() {
        Some(t) if t <= PROXY_BUFSIZE => {}
        _ => return Err(ProxyDrop::TooLarge),
    }
    if f.pktsize < ETHER_ARP_LEN as u64 {
        return Err(ProxyDrop::TooShort);
    }
    if f.hdrsize < ETHER_HDRLEN as u64 {
        return Err(ProxyDrop::HeaderTooShort);
    }
    Ok(())
}

/// Validate the fetched frame and extract the question.
pub fn arp_parse(f: &LookupFrame, pkt: &[u8]) -> Result<ArpRequest, ProxyDrop> {
    arp_precheck(f)?;
    let total = f.total().ok_or(ProxyDrop::TooLarge)?;
    // The kernel copies at most hdrsize + pktsize; more is a confused caller,
    // less cannot hold the ARP body.
    if pkt.len() > total || pkt.len() < f.hdr() + ETHER_ARP_LEN {
        return Err(ProxyDrop::SizeMismatch);
    }
    // In bounds: pkt.len() >= hdr + ETHER_ARP_LEN was just checked.
    let ea = &pkt[f.hdr()..];
    let field = |off| be16(ea, off).ok_or(ProxyDrop::SizeMismatch);
    if field(AR_HRD)? != ARPHRD_ETHER
        || field(AR_PRO)? != ETHERTYPE_IP
        || ea[AR_HLN] as usize != ETHERADDRL
        || ea[AR_PLN] != 4
        || field(AR_OP)? != ARPOP_REQUEST
    {
        return Err(ProxyDrop::NotArpRequest);
    }
    let spa: [u8; 4] = bytes(ea, ARP_SPA).ok_or(ProxyDrop::SizeMismatch)?;
    let tpa: [u8; 4] = bytes(ea, ARP_TPA).ok_or(ProxyDrop::SizeMismatch)?;
    if spa == tpa {
        return Err(ProxyDrop::GratuitousArp);
    }
    Ok(ArpRequest {
        target: Ipv4Addr::from(tpa),
        sender: Ipv4Addr::from(spa),
        sender_mac: bytes(ea, ARP_SHA).ok_or(ProxyDrop::SizeMismatch)?,
    })
}

/// Build the reply to the request in `pkt`, `mac` being the MAC that owns
/// the requested address. The reply has the fetched frame's length (any
/// Ethernet padding is kept, as illumos does).
pub fn arp_reply(
    f: &LookupFrame,
    pkt: &[u8],
    mac: &[u8; ETHERADDRL],
) -> Result<Vec<u8>, ProxyDrop> {
    let req = arp_parse(f, pkt)?;
    let mut out = pkt.to_vec();
    let hdr = f.hdr();
    // Bounds: arp_parse checked pkt.len() >= hdr + ETHER_ARP_LEN.
    let ea = &mut out[hdr..hdr + ETHER_ARP_LEN];
    ea[AR_OP..AR_OP + 2].copy_from_slice(&ARPOP_REPLY.to_be_bytes());
    ea[ARP_THA..ARP_THA + ETHERADDRL].copy_from_slice(&req.sender_mac);
    ea[ARP_SHA..ARP_SHA + ETHERADDRL].copy_from_slice(mac);
    ea[ARP_SPA..ARP_SPA + 4].copy_from_slice(&req.target.octets());
    ea[ARP_TPA..ARP_TPA + 4].copy_from_slice(&req.sender.octets());
    // Ethernet: to the requester (the frame's source), from the answer.
    let src: [u8; ETHERADDRL] = bytes(pkt, ETHERADDRL).ok_or(ProxyDrop::SizeMismatch)?;
    out[0..ETHERADDRL].copy_from_slice(&src);
    out[ETHERADDRL..2 * ETHERADDRL].copy_from_slice(mac);
    Ok(out)
}

//! DHCP redirect (`libvarpd_plugin_proxy_dhcp` and
//! `libvarpd_plugin_dhcp_reply`).
//!
//! Not a DHCP proxy in the RFC sense: a client's broadcast request
//! (UDP 68 → 67 over IPv4, to the Ethernet broadcast address) is re-sent
//! through the overlay with only its Ethernet destination changed to the MAC
//! the plugin names (the `dhcp-proxy` of the `files` plugin), so that it
//! reaches one DHCP server as unicast instead of being flooded. The IP and
//! UDP headers are untouched, so no checksum changes.

use super::{be16, LookupFrame, ProxyDrop, ETHERADDRL, ETHERTYPE_IP, ETHER_BROADCAST};
use super::{ETHER_HDRLEN, PROXY_BUFSIZE};

/// `sizeof (struct ip)`.
const IP_HDRLEN: usize = 20;
/// `sizeof (struct udphdr)`.
const UDP_HDRLEN: usize = 8;
/// `sizeof (struct dhcp)` (`PKT` in `<netinet/dhcp.h>`: 240 + 60 bytes).
const DHCP_LEN: usize = 300;
/// `IPPROTO_UDP`.
const IPPROTO_UDP: u8 = 17;
/// `IPPORT_BOOTPC`.
const IPPORT_BOOTPC: u16 = 68;
/// `IPPORT_BOOTPS`.
const IPPORT_BOOTPS: u16 = 67;

/// Checks on the lookup alone, before the frame is fetched.
pub fn dhcp_precheck(f: &LookupFrame) -> Result<(), ProxyDrop> {
    if f.sap != u32::from(ETHERTYPE_IP) {
        return Err(ProxyDrop::WrongSap);
    }
    if f.dstaddr != ETHER_BROADCAST {
        return Err(ProxyDrop::WrongDestination);
    }
    match f.total() {
        Some(t) if t <= PROXY_BUFSIZE => {}
        _ => return Err(ProxyDrop::TooLarge),
    }
    if f.pktsize < (IP_HDRLEN + UDP_HDRLEN + DHCP_LEN) as u64 {
        return Err(ProxyDrop::TooShort);
    }
    if f.hdrsize < ETHER_HDRLEN as u64 {
        return Err(ProxyDrop::HeaderTooShort);
    }
    Ok(())
}

/// Validate the fetched frame: a broadcast DHCP client request.
pub fn dhcp_parse(f: &LookupFrame, pkt: &[u8]) -> Result<(), ProxyDrop> {
    dhcp_precheck(f)?;
    if Some(pkt.len()) != f.total() {
        return Err(ProxyDrop::SizeMismatch);
    }
    let hdr = f.hdr();
    // In bounds: pkt.len() == hdr + pktsize and pktsize >= 328 (precheck),
    // so the IPv4 header's first 20 bytes are there.
    let ip = &pkt[hdr..];
    // §12 #12: reject unless IPv4 *and* UDP.
    if ip[0] >> 4 != 4 || ip[9] != IPPROTO_UDP {
        return Err(ProxyDrop::NotIpv4Udp);
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    if ihl < IP_HDRLEN || ihl + UDP_HDRLEN > ip.len() {
        return Err(ProxyDrop::BadIpHeader);
    }
    let sport = be16(ip, ihl).ok_or(ProxyDrop::BadIpHeader)?;
    let dport = be16(ip, ihl + 2).ok_or(ProxyDrop::BadIpHeader)?;
    if sport != IPPORT_BOOTPC || dport != IPPORT_BOOTPS {
        return Err(ProxyDrop::NotDhcpRequest);
    }
    Ok(())
}

/// The request in `pkt` with its Ethernet destination set to `mac`, to be
/// re-sent through the overlay.
pub fn dhcp_redirect(
    f: &LookupFrame,
    pkt: &[u8],
    mac: &[u8; ETHERADDRL],
) -> Result<Vec<u8>, ProxyDrop> {
    dhcp_parse(f, pkt)?;
    let mut out = pkt.to_vec();
    out[..ETHERADDRL].copy_from_slice(mac);
    Ok(out)
}

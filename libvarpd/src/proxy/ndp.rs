//! Proxy NDP (`libvarpd_plugin_proxy_ndp` and `libvarpd_proxy_ndp_fini`).
//!
//! An IPv6 neighbour solicitation (RFC 4861 §4.3), sent to a solicited-node
//! (or any link-local) multicast group, is answered with a fresh neighbour
//! advertisement (§4.4): the Ethernet header copied from the solicitation
//! (VLAN tag included) and readdressed from the looked-up MAC to the
//! solicitor; the IPv6 header copied, from the target to the solicitor, hop
//! limit 255, payload length 32; ICMPv6 type 136 with the Solicited and
//! Override flags, the target, and a Target Link-Layer Address option
//! carrying the looked-up MAC; the ICMPv6 checksum over the pseudo-header.
//!
//! A solicitation without a Source Link-Layer Address option (as in
//! duplicate address detection, from `::`) is not answered.

use std::net::Ipv6Addr;

use super::checksum::{icmpv6_checksum, IPPROTO_ICMPV6};
use super::{be16, PROXY_BUFSIZE};
use super::{bytes, LookupFrame, ProxyDrop, ETHERADDRL, ETHERTYPE_IPV6, ETHER_HDRLEN};

/// `sizeof (ip6_t)`.
pub const IP6_HDRLEN: usize = 40;
/// `sizeof (nd_neighbor_solicit_t)` = `sizeof (nd_neighbor_advert_t)`.
pub const ND_NS_LEN: usize = 24;
/// `ND_NEIGHBOR_SOLICIT`.
const ND_NEIGHBOR_SOLICIT: u8 = 135;
/// `ND_NEIGHBOR_ADVERT`.
const ND_NEIGHBOR_ADVERT: u8 = 136;
/// `ND_OPT_SOURCE_LINKADDR`.
const ND_OPT_SOURCE_LINKADDR: u8 = 1;
/// `ND_OPT_TARGET_LINKADDR`.
const ND_OPT_TARGET_LINKADDR: u8 = 2;
/// `ND_NA_FLAG_SOLICITED | ND_NA_FLAG_OVERRIDE`, in network order.
const NA_FLAGS: [u8; 4] = [0x60, 0, 0, 0];
/// The hop limit every ND message carries (RFC 4861 §7.1).
const ND_HOPLIMIT: u8 = 255;
/// Length of the advertisement's ICMPv6 message: header, target, one option.
const NA_PLEN: usize = ND_NS_LEN + 8;

// Offsets in the IPv6 header.
const IP6_PLEN: usize = 4;
const IP6_NXT: usize = 6;
const IP6_HLIM: usize = 7;
const IP6_SRC: usize = 8;
const IP6_DST: usize = 24;

/// A validated neighbour solicitation: what to ask the plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighborSolicit {
    /// The address to resolve (`nd_ns_target`).
    pub target: Ipv6Addr,
    /// The solicitor's address (the IPv6 source).
    pub source: Ipv6Addr,
    /// The solicitor's MAC, from its Source Link-Layer Address option.
    pub source_lladdr: [u8; ETHERADDRL],
}

/// Checks on the lookup alone, before the frame is fetched.
pub fn ndp_precheck(f: &LookupFrame) -> Result<(), ProxyDrop> {
    if f.sap != u32::from(ETHERTYPE_IPV6) {
        return Err(ProxyDrop::WrongSap);
    }
    if f.dstaddr[0] != 0x33 || f.dstaddr[1] != 0x33 {
        return Err(ProxyDrop::WrongDestination);
    }
    match f.total() {
        Some(t) if t <= PROXY_BUFSIZE => {}
        _ => return Err(ProxyDrop::TooLarge),
    }
    if f.pktsize < (IP6_HDRLEN + ND_NS_LEN) as u64 {
        return Err(ProxyDrop::TooShort);
    }
    if f.hdrsize < ETHER_HDRLEN as u64 {
        return Err(ProxyDrop::HeaderTooShort);
    }
    Ok(())
}

/// `IN6_IS_ADDR_MC_SOLICITEDNODE`: ff02::1:ff00:0/104.
fn is_solicited_node(a: &Ipv6Addr) -> bool {
    let o = a.octets();
    o[..11] == [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0] && o[11] == 0x01 && o[12] == 0xff
}

/// `IN6_IS_ADDR_MC_LINKLOCAL`: multicast with link-local scope.
fn is_mc_linklocal(a: &Ipv6Addr) -> bool {
    let o = a.octets();
    o[0] == 0xff && (o[1] & 0x0f) == 0x02
}

/// Validate the fetched frame and extract the question.
pub fn ndp_parse(f: &LookupFrame, pkt: &[u8]) -> Result<NeighborSolicit, ProxyDrop> {
    ndp_precheck(f)?;
    let total = f.total().ok_or(ProxyDrop::TooLarge)?;
    let hdr = f.hdr();
    if pkt.len() > total || pkt.len() < hdr + IP6_HDRLEN + ND_NS_LEN {
        return Err(ProxyDrop::SizeMismatch);
    }
    // In bounds: pkt.len() >= hdr + 40 + 24 was just checked.
    let ip6 = &pkt[hdr..];
    if ip6[0] >> 4 != 6 || ip6[IP6_NXT] != IPPROTO_ICMPV6 {
        return Err(ProxyDrop::NotIcmpv6);
    }
    let addr = |off| bytes::<16>(ip6, off).map(Ipv6Addr::from);
    let src = addr(IP6_SRC).ok_or(ProxyDrop::SizeMismatch)?;
    let dst = addr(IP6_DST).ok_or(ProxyDrop::SizeMismatch)?;
    if !is_solicited_node(&dst) && !is_mc_linklocal(&dst) {
        return Err(ProxyDrop::NotLinkLocalMulticast);
    }
    let plen = usize::from(be16(ip6, IP6_PLEN).ok_or(ProxyDrop::SizeMismatch)?);
    let body = &ip6[IP6_HDRLEN..];
    if plen > body.len() {
        return Err(ProxyDrop::SizeMismatch);
    }
    if plen < ND_NS_LEN {
        return Err(ProxyDrop::TooShort);
    }
    // In bounds: 24 <= plen <= body.len(); msg[0..24] is the NS header.
    let msg = &body[..plen];
    // §12 #12: both the type and the code must match.
    if msg[0] != ND_NEIGHBOR_SOLICIT || msg[1] != 0 {
        return Err(ProxyDrop::NotNeighborSolicit);
    }
    if icmpv6_checksum(&src, &dst, msg) != 0 {
        return Err(ProxyDrop::BadChecksum);
    }
    let target = Ipv6Addr::from(bytes::<16>(msg, 8).ok_or(ProxyDrop::SizeMismatch)?);
    if target.is_multicast()
        || target.to_ipv4_mapped().is_some()
        || target.is_loopback()
        || target.is_unspecified()
        || src.is_unspecified()
        || src.is_multicast()
    {
        return Err(ProxyDrop::BadAddress);
    }
    // Options, in units of 8 bytes; a zero length is bogus (RFC 4861 §4.6).
    let mut opts = &msg[ND_NS_LEN..];
    let mut lladdr = None;
    while opts.len() >= 2 {
        let len = usize::from(opts[1]) * 8;
        if len == 0 || len > opts.len() {
            return Err(ProxyDrop::BadOption);
        }
        if opts[0] == ND_OPT_SOURCE_LINKADDR {
            lladdr = bytes::<ETHERADDRL>(opts, 2);
        }
        // In bounds: 0 < len <= opts.len() was just checked.
        opts = &opts[len..];
    }
    let source_lladdr = lladdr.ok_or(ProxyDrop::NoSourceLinkAddr)?;
    Ok(NeighborSolicit {
        target,
        source: src,
        source_lladdr,
    })
}

/// Build the advertisement answering the solicitation in `pkt`, `mac` being
/// the MAC that owns the target address.
pub fn ndp_advert(
    f: &LookupFrame,
    pkt: &[u8],
    mac: &[u8; ETHERADDRL],
) -> Result<Vec<u8>, ProxyDrop> {
    let ns = ndp_parse(f, pkt)?;
    let hdr = f.hdr();
    let mut out = Vec::with_capacity(hdr + IP6_HDRLEN + NA_PLEN);
    // L2: copy (VLAN tag and ethertype included), then readdress.
    out.extend_from_slice(&pkt[..hdr]);
    out.copy_within(ETHERADDRL..2 * ETHERADDRL, 0);
    out[ETHERADDRL..2 * ETHERADDRL].copy_from_slice(mac);
    // IPv6: copy version, class, flow label; then length, limit, addresses.
    let ip6 = out.len();
    out.extend_from_slice(&pkt[hdr..hdr + IP6_HDRLEN]);
    out[ip6 + IP6_PLEN..ip6 + IP6_PLEN + 2].copy_from_slice(&(NA_PLEN as u16).to_be_bytes());
    out[ip6 + IP6_HLIM] = ND_HOPLIMIT;
    out[ip6 + IP6_SRC..ip6 + IP6_SRC + 16].copy_from_slice(&ns.target.octets());
    out[ip6 + IP6_DST..ip6 + IP6_DST + 16].copy_from_slice(&ns.source.octets());
    // ICMPv6 neighbour advertisement with a target link-layer address.
    let icmp = out.len();
    out.extend_from_slice(&[ND_NEIGHBOR_ADVERT, 0, 0, 0]);
    out.extend_from_slice(&NA_FLAGS);
    out.extend_from_slice(&ns.target.octets());
    out.extend_from_slice(&[ND_OPT_TARGET_LINKADDR, 1]);
    out.extend_from_slice(mac);
    let sum = icmpv6_checksum(&ns.target, &ns.source, &out[icmp..]);
    out[icmp + 2..icmp + 4].copy_from_slice(&sum.to_be_bytes());
    Ok(out)
}

//! Proxy ARP, NDP and DHCP: validation and byte-level packet synthesis.
//!
//! # Theory of operation
//!
//! A dynamic search plugin (`files`, `svp`) sees every frame the kernel could
//! not place, including broadcast ARP requests, multicast NDP neighbour
//! solicitations and broadcast DHCP requests. Rather than flood them over the
//! underlay, the plugin answers them itself through libvarpd's proxy helpers
//! (`libvarpd_plugin_proxy_arp`, `_proxy_ndp`, `_proxy_dhcp` in
//! `libvarpd_arp.c`). Each helper runs in three steps:
//!
//! 1. a *precheck* on the lookup request alone ([`LookupFrame`], the fields of
//!    `overlay_targ_lookup_t` it needs), before the frame is fetched with
//!    `OVERLAY_TARG_PKT` into a buffer of [`PROXY_BUFSIZE`] bytes;
//! 2. a *parse* of the fetched frame, yielding the question for the plugin
//!    (the IPv4 or IPv6 address to resolve, or nothing for DHCP);
//! 3. after the plugin answered with a MAC address, the *synthesis* of the
//!    frame to deliver: an ARP reply or NDP neighbour advertisement, injected
//!    up the overlay's receive path (`OVERLAY_TARG_INJECT`), or the DHCP
//!    request with its Ethernet destination rewritten, re-sent through the
//!    overlay (`OVERLAY_TARG_RESEND`).
//!
//! The original lookup is then always dropped, so nothing is cached for the
//! broadcast or multicast MAC. Any validation failure is a drop with a
//! [`ProxyDrop`] reason the caller may count or log; nothing here panics or
//! indexes out of bounds, whatever the bytes.
//!
//! Everything here is a pure function on byte slices; the ioctls are the
//! caller's (the instance handle's) business.
//!
//! Differences from illumos, all stricter (`spec/userland.md` §12 #12 and
//! bounds the original did not check): an NDP solicitation must be type 135
//! *and* code 0; a DHCP request must be IPv4 *and* UDP, with a sane IHL; NDP
//! options must fit inside the payload; the solicitation's ICMPv6 checksum
//! must be right; the advertisement's hop limit is 255 (RFC 4861 §7.1.2).

mod arp;
mod checksum;
mod dhcp;
mod inject;
mod ndp;

pub use arp::{arp_parse, arp_precheck, arp_reply, ArpRequest};
pub use checksum::icmpv6_checksum;
pub use dhcp::{dhcp_parse, dhcp_precheck, dhcp_redirect};
pub use inject::{gratuitous_arp, unsolicited_na};
pub use ndp::{ndp_advert, ndp_parse, ndp_precheck, NeighborSolicit};

use std::fmt;

/// `ETHERADDRL`: bytes in a MAC address.
pub const ETHERADDRL: usize = 6;
/// `sizeof (struct ether_header)`.
pub const ETHER_HDRLEN: usize = 14;
/// `ETHERMAX + VLAN_TAGSZ`: the buffer every helper fetches the frame into.
pub const PROXY_BUFSIZE: usize = 1514 + 4;

/// `ETHERTYPE_IP`.
pub const ETHERTYPE_IP: u16 = 0x0800;
/// `ETHERTYPE_ARP`.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// `ETHERTYPE_IPV6`.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// `ETHERTYPE_VLAN`, the 802.1Q TPID.
pub const ETHERTYPE_VLAN: u16 = 0x8100;

/// The Ethernet broadcast address.
pub const ETHER_BROADCAST: [u8; ETHERADDRL] = [0xff; ETHERADDRL];

/// The fields of an `overlay_targ_lookup_t` the proxy helpers look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LookupFrame {
    /// `otl_hdrsize`: the L2 header length, VLAN tag included.
    pub hdrsize: u64,
    /// `otl_pktsize`: the bytes after the L2 header.
    pub pktsize: u64,
    /// `otl_sap`: the ethertype.
    pub sap: u32,
    /// `otl_srcaddr`.
    pub srcaddr: [u8; ETHERADDRL],
    /// `otl_dstaddr`.
    pub dstaddr: [u8; ETHERADDRL],
}

impl LookupFrame {
    /// `hdrsize + pktsize`, or `None` when it does not fit a `usize`.
    fn total(&self) -> Option<usize> {
        let t = self.hdrsize.checked_add(self.pktsize)?;
        usize::try_from(t).ok()
    }

    /// The header size as a `usize` (callers have bounded it already).
    fn hdr(&self) -> usize {
        // Prechecks bound hdrsize by PROXY_BUFSIZE; saturate for safety.
        usize::try_from(self.hdrsize).unwrap_or(usize::MAX)
    }
}

/// Why a proxy helper dropped a query instead of answering it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyDrop {
    /// The ethertype is not the one this helper handles.
    WrongSap,
    /// The destination MAC is not the broadcast/multicast one expected.
    WrongDestination,
    /// `hdrsize + pktsize` exceeds [`PROXY_BUFSIZE`].
    TooLarge,
    /// The L2 header is shorter than an Ethernet header.
    HeaderTooShort,
    /// The payload is shorter than the protocol's minimum.
    TooShort,
    /// The fetched frame's length disagrees with the lookup's sizes.
    SizeMismatch,
    /// Not an Ethernet/IPv4 ARP request.
    NotArpRequest,
    /// Gratuitous ARP (sender and target protocol addresses equal).
    GratuitousArp,
    /// Not IPv6 carrying ICMPv6.
    NotIcmpv6,
    /// IPv6 destination neither solicited-node nor link-local multicast.
    NotLinkLocalMulticast,
    /// Not an ICMPv6 neighbour solicitation (type 135, code 0).
    NotNeighborSolicit,
    /// The ICMPv6 checksum of the solicitation is wrong.
    BadChecksum,
    /// The solicitation's source or target address cannot be answered.
    BadAddress,
    /// A malformed NDP option (zero length, or running past the payload).
    BadOption,
    /// No source link-layer address option.
    NoSourceLinkAddr,
    /// Not IPv4 carrying UDP.
    NotIpv4Udp,
    /// The IPv4 header length is impossible.
    BadIpHeader,
    /// Not from the BOOTP client port to the BOOTP server port.
    NotDhcpRequest,
}

impl ProxyDrop {
    /// A short description, for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyDrop::WrongSap => "wrong ethertype",
            ProxyDrop::WrongDestination => "wrong destination MAC address",
            ProxyDrop::TooLarge => "frame too large",
            ProxyDrop::HeaderTooShort => "L2 header too short",
            ProxyDrop::TooShort => "payload too short",
            ProxyDrop::SizeMismatch => "fetched frame size mismatch",
            ProxyDrop::NotArpRequest => "not an Ethernet/IPv4 ARP request",
            ProxyDrop::GratuitousArp => "gratuitous ARP",
            ProxyDrop::NotIcmpv6 => "not IPv6/ICMPv6",
            ProxyDrop::NotLinkLocalMulticast => "IPv6 destination not link-local multicast",
            ProxyDrop::NotNeighborSolicit => "not a neighbour solicitation",
            ProxyDrop::BadChecksum => "bad ICMPv6 checksum",
            ProxyDrop::BadAddress => "unanswerable address",
            ProxyDrop::BadOption => "malformed NDP option",
            ProxyDrop::NoSourceLinkAddr => "no source link-layer address option",
            ProxyDrop::NotIpv4Udp => "not IPv4/UDP",
            ProxyDrop::BadIpHeader => "bad IPv4 header length",
            ProxyDrop::NotDhcpRequest => "not a DHCP client request",
        }
    }
}

impl fmt::Display for ProxyDrop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for ProxyDrop {}

/// A big-endian u16 at `off`, if in bounds.
fn be16(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

/// `N` bytes at `off`, if in bounds.
fn bytes<const N: usize>(b: &[u8], off: usize) -> Option<[u8; N]> {
    let s = b.get(off..off.checked_add(N)?)?;
    let mut out = [0u8; N];
    out.copy_from_slice(s);
    Some(out)
}

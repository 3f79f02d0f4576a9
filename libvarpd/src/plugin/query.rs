//! Lookup handles (`varpd_query_handle_t`, `varpd_arp_handle_t`,
//! `varpd_dhcp_handle_t`) and their replies.
//!
//! # Theory of operation
//!
//! A [`Query`] wraps one `overlay_targ_lookup_t` from the kernel and is
//! answered exactly once: [`Query::reply`] is `libvarpd_plugin_query_reply`
//! (`OVERLAY_TARG_RESPOND` with the point, or `OVERLAY_TARG_DROP`, retried
//! on EINTR, a vanished request tolerated). Ownership makes "exactly once"
//! a compile-time fact, and a query dropped unanswered is answered DROP so
//! the kernel's queue never wedges. The proxy helpers
//! ([`super::ProviderHandle::proxy_arp`] and friends) turn a query into an
//! [`ArpQuery`] or [`DhcpQuery`] carrying the fetched frame; their replies
//! (`libvarpd_plugin_arp_reply`, `libvarpd_plugin_dhcp_reply`) build the
//! answer frame, inject or resend it, and then drop the original query:
//! an injected reply is not an answer to the lookup.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use super::{LookupAction, TargetDev, VARPD_QTYPE_ETHERNET};
use crate::errno::Errno;
use crate::ksys::{self, TargLookup, TargetPoint};
use crate::proxy::{self, LookupFrame, PROXY_BUFSIZE};

/// One lookup request from the kernel, to be answered exactly once.
pub struct Query {
    lookup: TargLookup,
    dev: Arc<dyn TargetDev>,
    plugin: Arc<str>,
    answered: bool,
}

impl fmt::Debug for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Query")
            .field("lookup", &self.lookup)
            .finish()
    }
}

impl Query {
    /// A query for `lookup`, answered on `dev`.
    pub fn new(lookup: TargLookup, dev: Arc<dyn TargetDev>, plugin: &str) -> Query {
        Query {
            lookup,
            dev,
            plugin: Arc::from(plugin),
            answered: false,
        }
    }

    /// The kernel's request (`overlay_targ_lookup_t`).
    pub fn lookup(&self) -> &TargLookup {
        &self.lookup
    }

    /// The VLAN of the frame behind the request: `otl_vlan`, the VLAN id
    /// of its 802.1Q tag, 0 when it is untagged (or priority-tagged). A
    /// value the kernel could not have sent (negative, above 4095) is 0.
    pub fn vlan(&self) -> u16 {
        u16::try_from(self.lookup.vlan)
            .ok()
            .filter(|v| *v <= 0x0fff)
            .unwrap_or(0)
    }

    /// `libvarpd_plugin_query_reply`: RESPOND with the point, or DROP.
    pub fn reply(mut self, action: LookupAction) {
        self.send(action);
    }

    fn send(&mut self, action: LookupAction) {
        if self.answered {
            return;
        }
        self.answered = true;
        let (cmd, mut arg) = match action {
            LookupAction::Ok(p) => (
                ksys::OVERLAY_TARG_RESPOND,
                ksys::targ_resp(self.lookup.reqid, &p),
            ),
            LookupAction::Drop => (
                ksys::OVERLAY_TARG_DROP,
                ksys::targ_resp(self.lookup.reqid, &TargetPoint::default()),
            ),
        };
        loop {
            match self.dev.ioctl(cmd, &mut arg) {
                Ok(()) => break,
                Err(Errno::EINTR) => continue,
                // The request is already gone (e.g. the overlay was deleted).
                Err(Errno::EINVAL) | Err(Errno::ENOENT) => break,
                Err(e) => {
                    tracing::error!(
                        plugin = %self.plugin,
                        reqid = self.lookup.reqid,
                        "query reply failed: {e:?}"
                    );
                    break;
                }
            }
        }
    }

    pub(super) fn frame(&self) -> LookupFrame {
        LookupFrame {
            hdrsize: self.lookup.hdrsize,
            pktsize: self.lookup.pktsize,
            sap: self.lookup.sap,
            srcaddr: self.lookup.srcaddr,
            dstaddr: self.lookup.dstaddr,
        }
    }

    /// `OVERLAY_TARG_PKT`: the head frame of this request.
    pub(super) fn fetch(&self) -> Result<Vec<u8>, Errno> {
        let mut arg = ksys::targ_pkt(
            ksys::OVERLAY_TARG_PKT_BY_REQID,
            self.lookup.reqid,
            PROXY_BUFSIZE as u64,
        );
        let mut v = self.dev.ioctl_data(ksys::OVERLAY_TARG_PKT, &mut arg, &[])?;
        let n = usize::try_from(ksys::get_u64(&arg, 16)).unwrap_or(usize::MAX);
        if n < v.len() {
            v.truncate(n);
        }
        v.truncate(PROXY_BUFSIZE);
        Ok(v)
    }

    /// `OVERLAY_TARG_INJECT`/`RESEND` by this request's id.
    pub(super) fn send_frame(&self, cmd: u32, frame: &[u8]) -> Result<(), Errno> {
        let mut arg = ksys::targ_pkt(
            ksys::OVERLAY_TARG_PKT_BY_REQID,
            self.lookup.reqid,
            frame.len() as u64,
        );
        self.dev.ioctl_data(cmd, &mut arg, frame).map(|_| ())
    }
}

impl Drop for Query {
    fn drop(&mut self) {
        if !self.answered {
            self.send(LookupAction::Drop);
        }
    }
}

/// What a proxied query is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ProxyKind {
    Arp,
    Ndp,
}

/// `varpd_arp_handle_t`: an ARP request or NDP solicitation to resolve.
/// Answer with [`ArpQuery::reply`] (`libvarpd_plugin_arp_reply`).
pub struct ArpQuery {
    pub(super) q: Query,
    pub(super) pkt: Vec<u8>,
    pub(super) kind: ProxyKind,
    pub(super) addr: IpAddr,
}

impl fmt::Debug for ArpQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArpQuery")
            .field("addr", &self.addr)
            .finish()
    }
}

impl ArpQuery {
    /// `VARPD_QTYPE_ETHERNET`.
    pub fn qtype(&self) -> i32 {
        VARPD_QTYPE_ETHERNET
    }
    /// The address to resolve: IPv4 for ARP, IPv6 for NDP.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }
    /// The underlying lookup.
    pub fn lookup(&self) -> &TargLookup {
        self.q.lookup()
    }
    /// The VLAN the request came on ([`Query::vlan`]: `otl_vlan`, 0 when
    /// untagged). The reply is sent back with the request's 802.1Q tag, so
    /// it reaches the VNICs of that VLAN.
    pub fn vlan(&self) -> u16 {
        self.q.vlan()
    }
    /// `Some(mac)` = `VARPD_LOOKUP_OK` with the MAC for [`addr`](Self::addr):
    /// the ARP reply / neighbour advertisement is injected up the overlay;
    /// `None` = `VARPD_LOOKUP_DROP`. The original query is dropped either way.
    pub fn reply(self, mac: Option<[u8; 6]>) {
        let ArpQuery { q, pkt, kind, .. } = self;
        if let Some(mac) = mac {
            let f = q.frame();
            let built = match kind {
                ProxyKind::Arp => proxy::arp_reply(&f, &pkt, &mac),
                ProxyKind::Ndp => proxy::ndp_advert(&f, &pkt, &mac),
            };
            match built {
                Ok(frame) => {
                    if let Err(e) = q.send_frame(ksys::OVERLAY_TARG_INJECT, &frame) {
                        tracing::warn!(plugin = %q.plugin, "proxy inject failed: {e:?}");
                    }
                }
                Err(why) => tracing::debug!(plugin = %q.plugin, "proxy reply not built: {why}"),
            }
        }
        q.reply(LookupAction::Drop);
    }
}

/// `varpd_dhcp_handle_t`: a broadcast DHCP request to redirect. Answer with
/// [`DhcpQuery::reply`] (`libvarpd_plugin_dhcp_reply`).
pub struct DhcpQuery {
    pub(super) q: Query,
    pub(super) pkt: Vec<u8>,
}

impl fmt::Debug for DhcpQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DhcpQuery")
            .field("lookup", self.q.lookup())
            .finish()
    }
}

impl DhcpQuery {
    /// `VARPD_QTYPE_ETHERNET`.
    pub fn qtype(&self) -> i32 {
        VARPD_QTYPE_ETHERNET
    }
    /// The lookup request (`otl`).
    pub fn lookup(&self) -> &TargLookup {
        self.q.lookup()
    }
    /// The VLAN the request came on ([`Query::vlan`]).
    pub fn vlan(&self) -> u16 {
        self.q.vlan()
    }
    /// `Some(mac)`: rewrite the frame's destination to the DHCP server's MAC
    /// and `OVERLAY_TARG_RESEND` it; `None`: drop. The original query is
    /// dropped either way.
    pub fn reply(self, mac: Option<[u8; 6]>) {
        let DhcpQuery { q, pkt } = self;
        if let Some(mac) = mac {
            match proxy::dhcp_redirect(&q.frame(), &pkt, &mac) {
                Ok(frame) => {
                    if let Err(e) = q.send_frame(ksys::OVERLAY_TARG_RESEND, &frame) {
                        tracing::warn!(plugin = %q.plugin, "dhcp resend failed: {e:?}");
                    }
                }
                Err(why) => tracing::debug!(plugin = %q.plugin, "dhcp redirect not built: {why}"),
            }
        }
        q.reply(LookupAction::Drop);
    }
}

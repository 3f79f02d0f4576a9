//! The instance handle (`varpd_provider_handle_t`) and the upcalls a
//! plugin makes through it.
//!
//! # Theory of operation
//!
//! varpd makes one [`ProviderHandle`] per instance and gives it to the
//! plugin's create/restore; the plugin keeps it (it is a cheap clone) for
//! its upcalls: the overlay's identity (`libvarpd_plugin_vnetid`, link id,
//! destination type), the proxy helpers that validate a queued ARP, NDP or
//! DHCP frame and hand it to the instance's `arp`/`dhcp` entry point
//! (`libvarpd_plugin_proxy_arp`, `_ndp`, `_dhcp`), kernel cache and frame
//! injection (`libvarpd_inject_varp`, `libvarpd_inject_arp`,
//! `libvarpd_inject_ndp`), head-end replication's flood list, and the
//! degrade state (`libvarpd_fma_degrade`, `libvarpd_fma_restore`). The
//! handle refers to its instance weakly ([`ProviderHandle::bind`]), so a
//! plugin that keeps its handle does not keep itself alive.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, OnceLock, Weak};

use super::query::ProxyKind;
use super::{ArpQuery, Dest, DhcpQuery, LookupAction, Query, SearchInstance, TargetDev};
use crate::errno::Errno;
use crate::ksys::{self, TargCacheEntry, TargetPoint};
use crate::proxy;

struct HandleInner {
    id: u64,
    linkid: u32,
    vnetid: u64,
    dest: Dest,
    plugin: Arc<str>,
    dev: Arc<dyn TargetDev>,
    inst: OnceLock<Weak<dyn SearchInstance>>,
}

/// `varpd_provider_handle_t`: the varpd instance as its plugin sees it.
/// Cheap to clone; plugins keep one for their upcalls.
#[derive(Clone)]
pub struct ProviderHandle {
    inner: Arc<HandleInner>,
}

impl fmt::Debug for ProviderHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderHandle")
            .field("id", &self.inner.id)
            .field("linkid", &self.inner.linkid)
            .field("plugin", &self.inner.plugin)
            .finish()
    }
}

impl ProviderHandle {
    /// A handle for instance `id` of `plugin` on overlay `linkid`. varpd
    /// builds these; tests may too (with a fake device).
    pub fn new(
        id: u64,
        linkid: u32,
        vnetid: u64,
        dest: Dest,
        plugin: &str,
        dev: Arc<dyn TargetDev>,
    ) -> ProviderHandle {
        ProviderHandle {
            inner: Arc::new(HandleInner {
                id,
                linkid,
                vnetid,
                dest,
                plugin: Arc::from(plugin),
                dev,
                inst: OnceLock::new(),
            }),
        }
    }

    /// Bind the plugin's instance object, so proxy helpers can call its
    /// `arp`/`dhcp`. Done by varpd right after create/restore; a second
    /// call is ignored.
    pub fn bind(&self, inst: &Arc<dyn SearchInstance>) {
        let _ = self.inner.inst.set(Arc::downgrade(inst));
    }

    fn instance(&self) -> Option<Arc<dyn SearchInstance>> {
        self.inner.inst.get().and_then(Weak::upgrade)
    }

    /// The varpd instance id.
    pub fn id(&self) -> u64 {
        self.inner.id
    }
    /// `libvarpd_plugin_vnetid`: the overlay's vnetid captured at create.
    pub fn vnetid(&self) -> u64 {
        self.inner.vnetid
    }
    /// The overlay's datalink id.
    pub fn linkid(&self) -> u32 {
        self.inner.linkid
    }
    /// The destination type the encapsulation needs (`oti_needs`).
    pub fn dest(&self) -> Dest {
        self.inner.dest
    }
    /// The plugin's name.
    pub fn plugin_name(&self) -> &str {
        &self.inner.plugin
    }
    /// The device handle (for the daemon and tests).
    pub fn dev(&self) -> &Arc<dyn TargetDev> {
        &self.inner.dev
    }

    /// `libvarpd_plugin_proxy_arp`: answer an ARP request (`q` must carry
    /// one) by asking the plugin's [`SearchInstance::arp`]. Invalid requests
    /// are dropped.
    pub fn proxy_arp(&self, q: Query) {
        self.proxy(q, ProxyKind::Arp)
    }

    /// `libvarpd_plugin_proxy_ndp`: the IPv6 counterpart of
    /// [`proxy_arp`](Self::proxy_arp) for neighbour solicitations.
    pub fn proxy_ndp(&self, q: Query) {
        self.proxy(q, ProxyKind::Ndp)
    }

    fn proxy(&self, q: Query, kind: ProxyKind) {
        let f = q.frame();
        let pre = match kind {
            ProxyKind::Arp => proxy::arp_precheck(&f),
            ProxyKind::Ndp => proxy::ndp_precheck(&f),
        };
        if let Err(why) = pre {
            tracing::debug!(plugin = %self.inner.plugin, "proxy drop: {why}");
            return q.reply(LookupAction::Drop);
        }
        let pkt = match q.fetch() {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(plugin = %self.inner.plugin, "OVERLAY_TARG_PKT: {e:?}");
                return q.reply(LookupAction::Drop);
            }
        };
        let addr = match kind {
            ProxyKind::Arp => proxy::arp_parse(&f, &pkt).map(|r| IpAddr::V4(r.target)),
            ProxyKind::Ndp => proxy::ndp_parse(&f, &pkt).map(|r| IpAddr::V6(r.target)),
        };
        let addr = match addr {
            Ok(a) => a,
            Err(why) => {
                tracing::debug!(plugin = %self.inner.plugin, "proxy drop: {why}");
                return q.reply(LookupAction::Drop);
            }
        };
        match self.instance() {
            Some(inst) => inst.arp(ArpQuery { q, pkt, kind, addr }),
            None => q.reply(LookupAction::Drop),
        }
    }

    /// `libvarpd_plugin_proxy_dhcp`: redirect a broadcast DHCP request to
    /// the server the plugin's [`SearchInstance::dhcp`] names.
    pub fn proxy_dhcp(&self, q: Query) {
        let f = q.frame();
        if let Err(why) = proxy::dhcp_precheck(&f) {
            tracing::debug!(plugin = %self.inner.plugin, "dhcp drop: {why}");
            return q.reply(LookupAction::Drop);
        }
        let pkt = match q.fetch() {
            Ok(p) => p,
            Err(_) => return q.reply(LookupAction::Drop),
        };
        if let Err(why) = proxy::dhcp_parse(&f, &pkt) {
            tracing::debug!(plugin = %self.inner.plugin, "dhcp drop: {why}");
            return q.reply(LookupAction::Drop);
        }
        match self.instance() {
            Some(inst) => inst.dhcp(DhcpQuery { q, pkt }),
            None => q.reply(LookupAction::Drop),
        }
    }

    /// `libvarpd_inject_varp`: `Some(point)` sets the kernel cache entry for
    /// `mac` (`OVERLAY_TARG_CACHE_SET`, flags 0); `None` removes it
    /// (`OVERLAY_TARG_CACHE_REMOVE`).
    pub fn inject_varp(&self, mac: [u8; 6], point: Option<&TargetPoint>) -> Result<(), Errno> {
        let (cmd, dest) = match point {
            Some(p) => (ksys::OVERLAY_TARG_CACHE_SET, *p),
            None => (ksys::OVERLAY_TARG_CACHE_REMOVE, TargetPoint::default()),
        };
        let mut arg = ksys::targ_cache(
            self.inner.linkid,
            &TargCacheEntry {
                mac,
                flags: 0,
                dest,
            },
        );
        self.inner.dev.ioctl(cmd, &mut arg)
    }

    /// `libvarpd_inject_arp`: inject a gratuitous ARP for `srcip`/`srcmac`
    /// (802.1Q-tagged when `vlan` ≠ 0) up the overlay, addressed to `dstmac`.
    pub fn inject_arp(
        &self,
        vlan: u16,
        srcmac: [u8; 6],
        srcip: Ipv4Addr,
        dstmac: [u8; 6],
    ) -> Result<(), Errno> {
        let frame = proxy::gratuitous_arp(vlan, &srcmac, srcip, &dstmac);
        let mut arg = ksys::targ_pkt(u64::from(self.inner.linkid), 0, frame.len() as u64);
        self.inner
            .dev
            .ioctl_data(ksys::OVERLAY_TARG_INJECT, &mut arg, &frame)
            .map(|_| ())
    }

    /// `libvarpd_inject_ndp` (declared but never implemented in illumos):
    /// inject an unsolicited neighbour advertisement for `srcip` at
    /// `srcmac` (802.1Q-tagged when `vlan` ≠ 0) up the overlay, addressed
    /// to `dstmac`.
    pub fn inject_ndp(
        &self,
        vlan: u16,
        srcmac: [u8; 6],
        srcip: Ipv6Addr,
        dstmac: [u8; 6],
    ) -> Result<(), Errno> {
        let frame = proxy::unsolicited_na(vlan, &srcmac, srcip, &dstmac);
        let mut arg = ksys::targ_pkt(u64::from(self.inner.linkid), 0, frame.len() as u64);
        self.inner
            .dev
            .ioctl_data(ksys::OVERLAY_TARG_INJECT, &mut arg, &frame)
            .map(|_| ())
    }

    /// Head-end replication (an extension): give the overlay's kernel
    /// device this flood list (empty: none). Group frames and frames this
    /// plugin answers with DROP are then replicated to each point
    /// (`OVERLAY_TARG_FLOOD_SET`; `ENOTTY` from a driver without it).
    pub fn flood_set(&self, points: &[TargetPoint]) -> Result<(), Errno> {
        let mut arg = ksys::targ_flood(self.inner.linkid, points);
        self.inner.dev.ioctl(ksys::OVERLAY_TARG_FLOOD_SET, &mut arg)
    }

    /// `libvarpd_fma_degrade`: mark the overlay degraded with `msg`
    /// (truncated to 255 bytes).
    pub fn fma_degrade(&self, msg: &str) -> Result<(), Errno> {
        let mut arg = ksys::targ_degrade(self.inner.linkid, msg);
        self.inner.dev.ioctl(ksys::OVERLAY_TARG_DEGRADE, &mut arg)
    }

    /// `libvarpd_fma_restore`: clear the overlay's degraded state.
    pub fn fma_restore(&self) -> Result<(), Errno> {
        let mut arg = ksys::targ_id(self.inner.linkid);
        self.inner.dev.ioctl(ksys::OVERLAY_TARG_RESTORE, &mut arg)
    }
}

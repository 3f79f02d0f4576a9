//! The search-plugin interface (`libvarpd_provider.h`).
//!
//! # Theory of operation
//!
//! A *search plugin* (illumos: a dlopen'd `libvarpd_<name>.so` registering a
//! `varpd_plugin_ops_t`) answers, for one overlay device, "where does the
//! frame for this MAC go?". Here a plugin is a Rust object registered by name
//! in a [`PluginRegistry`] with a [`PluginRegistration`] (`vpr_name`,
//! `vpr_mode`, `vpr_ops`). Its 14 entry points (§2.2) map as follows:
//!
//! | # | `varpd_plugin_ops_t` | here |
//! |---|---|---|
//! | 0 | `vpo_callbacks` | (reserved in C; nothing) |
//! | 1 | `vpo_create` | [`SearchPlugin::create`] |
//! | 2 | `vpo_start` | [`SearchInstance::start`] |
//! | 3 | `vpo_stop` | [`SearchInstance::stop`] |
//! | 4 | `vpo_destroy` | [`SearchInstance::destroy`] (then the object is dropped) |
//! | 5 | `vpo_default` | [`SearchInstance::default`] (POINT) |
//! | 6 | `vpo_lookup` | [`SearchInstance::lookup`] (DYNAMIC) |
//! | 7 | `vpo_nprops` | [`SearchInstance::nprops`] |
//! | 8 | `vpo_propinfo` | [`SearchInstance::propinfo`] with a [`PropHandle`] builder (§2.5) |
//! | 9 | `vpo_getprop` | [`SearchInstance::getprop`] |
//! | 10 | `vpo_setprop` | [`SearchInstance::setprop`] |
//! | 11 | `vpo_save` | [`SearchInstance::save`] → JSON |
//! | 12 | `vpo_restore` | [`SearchPlugin::restore`] ← JSON |
//! | 13 | `vpo_arp` | [`SearchInstance::arp`] with an [`ArpQuery`] |
//! | 14 | `vpo_dhcp` | [`SearchInstance::dhcp`] with a [`DhcpQuery`] |
//!
//! `create`/`restore` receive a [`ProviderHandle`] (`varpd_provider_handle_t`,
//! i.e. the varpd instance) which the plugin keeps for its upcalls (§2.4,
//! §2.6, §2.7): [`ProviderHandle::vnetid`], [`ProviderHandle::linkid`],
//! [`ProviderHandle::proxy_arp`]/[`proxy_ndp`](ProviderHandle::proxy_ndp)/
//! [`proxy_dhcp`](ProviderHandle::proxy_dhcp),
//! [`ProviderHandle::inject_varp`], [`ProviderHandle::inject_arp`],
//! [`ProviderHandle::inject_ndp`],
//! [`ProviderHandle::fma_degrade`], [`ProviderHandle::fma_restore`].
//!
//! Lookups are asynchronous: [`SearchInstance::lookup`] is handed a [`Query`]
//! (`varpd_query_handle_t`) and must answer it exactly once with
//! [`Query::reply`] (`libvarpd_plugin_query_reply`), possibly later and
//! from another thread, or pass it to one of the proxy helpers. Ownership
//! makes "exactly once" a compile-time fact; a `Query` dropped without a
//! reply is answered with DROP, so a forgotten query never wedges the
//! kernel's queue. [`ArpQuery`] and [`DhcpQuery`] work the same way.
//!
//! Concurrency contract (as in illumos): instances are independent, and calls
//! may arrive concurrently on one instance, so every method takes `&self`
//! and the plugin does its own locking. `default`, `lookup`, `arp`, `dhcp`
//! and `save` are only called between `start` and `stop`. Every upcall may
//! be made from any thread, including from inside an entry point.
//!
//! The kernel is reached through the [`TargetDev`] trait (implemented by
//! [`crate::kdev::KDev`]); tests use [`crate::testing::FakeTargetDev`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, OnceLock, Weak};

use overlay_sys::{poss_add_range_u32, poss_add_str, poss_init, OVERLAY_PROP_NAMELEN};

use crate::errno::Errno;
use crate::kdev::KDev;
use crate::ksys::{self, TargCacheEntry, TargLookup, TargetPoint};
use crate::proxy::{self, LookupFrame, PROXY_BUFSIZE};

pub use crate::ksys::{
    OVERLAY_PLUGIN_D_ETHERNET, OVERLAY_PLUGIN_D_INVALID, OVERLAY_PLUGIN_D_IP,
    OVERLAY_PLUGIN_D_MASK, OVERLAY_PLUGIN_D_PORT,
};

/// `VARPD_CURRENT_VERSION`: the registration ABI version.
pub const VARPD_CURRENT_VERSION: u32 = 1;
/// `VARPD_QTYPE_ETHERNET`: the only query type of `vpo_arp`/`vpo_dhcp`.
pub const VARPD_QTYPE_ETHERNET: i32 = 0;
/// `LIBVARPD_PROP_SIZEMAX`: largest property value.
pub const LIBVARPD_PROP_SIZEMAX: usize = 256;
/// `LIBVARPD_PROP_NAMELEN`: property name buffer, NUL included.
pub const LIBVARPD_PROP_NAMELEN: usize = OVERLAY_PROP_NAMELEN;

/// `overlay_plugin_dest_t`: a set of `OVERLAY_PLUGIN_D_*` bits.
pub type Dest = u32;

/// `overlay_target_mode_t` of a search plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetMode {
    /// `OVERLAY_TARGET_POINT` (1): one fixed destination (`direct`).
    Point,
    /// `OVERLAY_TARGET_DYNAMIC` (2): per-MAC lookups (`files`, `svp`).
    Dynamic,
}

impl TargetMode {
    /// The `overlay_target_mode_t` number.
    pub fn as_u32(self) -> u32 {
        match self {
            TargetMode::Point => ksys::OVERLAY_TARGET_POINT,
            TargetMode::Dynamic => ksys::OVERLAY_TARGET_DYNAMIC,
        }
    }

    /// From an `overlay_target_mode_t` number; `None` for NONE or unknown.
    pub fn from_u32(v: u32) -> Option<TargetMode> {
        match v {
            ksys::OVERLAY_TARGET_POINT => Some(TargetMode::Point),
            ksys::OVERLAY_TARGET_DYNAMIC => Some(TargetMode::Dynamic),
            _ => None,
        }
    }
}

/// `overlay_prop_type_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum PropType {
    /// `OVERLAY_PROP_T_INT`: signed, 8 bytes.
    Int = 1,
    /// `OVERLAY_PROP_T_UINT`: unsigned, 8 bytes.
    Uint = 2,
    /// `OVERLAY_PROP_T_IP`: a 16-byte `in6_addr` (IPv4 as v4-mapped).
    Ip = 3,
    /// `OVERLAY_PROP_T_STRING`: bytes plus NUL, at most 256.
    String = 4,
}

/// `overlay_prop_prot_t` bits.
pub const OVERLAY_PROP_PERM_REQ: u32 = 0x1;
pub const OVERLAY_PROP_PERM_READ: u32 = 0x2;
pub const OVERLAY_PROP_PERM_WRITE: u32 = 0x4;
pub const OVERLAY_PROP_PERM_RW: u32 = 0x6;
pub const OVERLAY_PROP_PERM_RRW: u32 = 0x7;
pub const OVERLAY_PROP_PERM_MASK: u32 = 0x7;

/// A plugin's answer to a lookup (`VARPD_LOOKUP_OK` with the point it
/// filled, or `VARPD_LOOKUP_DROP`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupAction {
    /// `VARPD_LOOKUP_OK`: send to this destination.
    Ok(TargetPoint),
    /// `VARPD_LOOKUP_DROP`: drop the frame.
    Drop,
}

// ---------------------------------------------------------------------------
// The kernel device as plugins' upcalls see it.

/// The `/dev/overlay` handle, abstracted so tests can record ioctls.
pub trait TargetDev: Send + Sync {
    /// An ioctl with copy-out into `arg` (see [`KDev::ioctl`]).
    fn ioctl(&self, cmd: u32, arg: &mut [u8]) -> Result<(), Errno>;
    /// An ioctl carrying a frame (see [`KDev::ioctl_data`]).
    fn ioctl_data(&self, cmd: u32, arg: &mut [u8], data: &[u8]) -> Result<Vec<u8>, Errno>;
}

impl TargetDev for KDev {
    fn ioctl(&self, cmd: u32, arg: &mut [u8]) -> Result<(), Errno> {
        KDev::ioctl(self, cmd, arg)
    }
    fn ioctl_data(&self, cmd: u32, arg: &mut [u8], data: &[u8]) -> Result<Vec<u8>, Errno> {
        KDev::ioctl_data(self, cmd, arg, data)
    }
}

// ---------------------------------------------------------------------------
// Queries (varpd_query_handle_t).

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

    fn frame(&self) -> LookupFrame {
        LookupFrame {
            hdrsize: self.lookup.hdrsize,
            pktsize: self.lookup.pktsize,
            sap: self.lookup.sap,
            srcaddr: self.lookup.srcaddr,
            dstaddr: self.lookup.dstaddr,
        }
    }

    /// `OVERLAY_TARG_PKT`: the head frame of this request.
    fn fetch(&self) -> Result<Vec<u8>, Errno> {
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
    fn send_frame(&self, cmd: u32, frame: &[u8]) -> Result<(), Errno> {
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
enum ProxyKind {
    Arp,
    Ndp,
}

/// `varpd_arp_handle_t`: an ARP request or NDP solicitation to resolve.
/// Answer with [`ArpQuery::reply`] (`libvarpd_plugin_arp_reply`).
pub struct ArpQuery {
    q: Query,
    pkt: Vec<u8>,
    kind: ProxyKind,
    addr: IpAddr,
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
    q: Query,
    pkt: Vec<u8>,
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

// ---------------------------------------------------------------------------
// The instance handle (varpd_provider_handle_t).

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

// ---------------------------------------------------------------------------
// Property information builder (varpd_prop_handle_t, §2.5).

/// `varpd_prop_handle_t` as filled by `vpo_propinfo`: name, protection,
/// type, default value and possible values (`mac_propval_range_t` image).
#[derive(Clone)]
pub struct PropHandle {
    pub name: String,
    pub prot: u32,
    pub ptype: u32,
    pub default: [u8; LIBVARPD_PROP_SIZEMAX],
    pub defsize: u32,
    pub poss: [u8; LIBVARPD_PROP_SIZEMAX],
    pub psize: u32,
}

impl fmt::Debug for PropHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PropHandle")
            .field("name", &self.name)
            .field("prot", &self.prot)
            .field("type", &self.ptype)
            .field("defsize", &self.defsize)
            .field("psize", &self.psize)
            .finish()
    }
}

impl Default for PropHandle {
    fn default() -> Self {
        PropHandle::new()
    }
}

impl PropHandle {
    /// An empty handle with the range header zeroed and `psize` =
    /// `sizeof (mac_propval_range_t)`, as libvarpd prepares it before every
    /// `vpo_propinfo`.
    pub fn new() -> PropHandle {
        let mut p = PropHandle {
            name: String::new(),
            prot: 0,
            ptype: 0,
            default: [0; LIBVARPD_PROP_SIZEMAX],
            defsize: 0,
            poss: [0; LIBVARPD_PROP_SIZEMAX],
            psize: 0,
        };
        poss_init(&mut p.poss, &mut p.psize);
        p
    }

    /// `libvarpd_prop_set_name` (truncated to 63 bytes, like strlcpy).
    pub fn set_name(&mut self, name: &str) {
        let mut n = name.len().min(LIBVARPD_PROP_NAMELEN - 1);
        while !name.is_char_boundary(n) {
            n -= 1;
        }
        self.name = name[..n].to_string();
    }
    /// `libvarpd_prop_set_prot`.
    pub fn set_prot(&mut self, prot: u32) {
        self.prot = prot;
    }
    /// `libvarpd_prop_set_type`.
    pub fn set_type(&mut self, t: PropType) {
        self.ptype = t as u32;
    }
    /// `libvarpd_prop_set_default`: E2BIG if longer than 256 bytes.
    pub fn set_default(&mut self, buf: &[u8]) -> Result<(), Errno> {
        if buf.len() > LIBVARPD_PROP_SIZEMAX {
            return Err(Errno::E2BIG);
        }
        self.default[..buf.len()].copy_from_slice(buf);
        self.defsize = buf.len() as u32;
        Ok(())
    }
    /// `libvarpd_prop_set_nodefault`.
    pub fn set_nodefault(&mut self) {
        self.defsize = 0;
    }
    /// `libvarpd_prop_set_range_uint32`: append a range (ignored if a
    /// string range is present or there is no room).
    pub fn set_range_uint32(&mut self, min: u32, max: u32) {
        poss_add_range_u32(&mut self.poss, &mut self.psize, min, max);
    }
    /// `libvarpd_prop_set_range_str`: append a possible string value.
    pub fn set_range_str(&mut self, s: &str) {
        poss_add_str(&mut self.poss, &mut self.psize, s.as_bytes());
    }
    /// The default value bytes.
    pub fn default_value(&self) -> &[u8] {
        &self.default[..(self.defsize as usize).min(LIBVARPD_PROP_SIZEMAX)]
    }
}

// ---------------------------------------------------------------------------
// The plugin traits and registry.

/// `varpd_plugin_ops_t` entry points that make instances (create, restore).
pub trait SearchPlugin: Send + Sync {
    /// `vpo_create`: a new instance for one overlay whose encapsulation
    /// needs `dest`. Reject an unsupported `dest` with `ENOTSUP`. Keep `hdl`
    /// for upcalls.
    fn create(&self, hdl: ProviderHandle, dest: Dest) -> Result<Box<dyn SearchInstance>, Errno>;

    /// `vpo_restore`: rebuild an instance from what [`SearchInstance::save`]
    /// returned (create + set properties). varpd calls `start` afterwards.
    fn restore(
        &self,
        saved: &serde_json::Value,
        hdl: ProviderHandle,
        dest: Dest,
    ) -> Result<Box<dyn SearchInstance>, Errno>;
}

/// `varpd_plugin_ops_t` entry points on one instance (the C `void *arg`).
pub trait SearchInstance: Send + Sync {
    /// `vpo_start`: check required properties (`EAGAIN` if missing) and
    /// start.
    fn start(&self) -> Result<(), Errno>;
    /// `vpo_stop`: undo start.
    fn stop(&self);
    /// `vpo_destroy`: release resources (the object is dropped afterwards).
    /// Called for every instance, activated or not (fixes §12 #4).
    fn destroy(&self) {}
    /// `vpo_default` (POINT plugins): the single destination.
    fn default(&self) -> LookupAction {
        LookupAction::Drop
    }
    /// `vpo_lookup` (DYNAMIC plugins): answer `q` exactly once, now or later.
    fn lookup(&self, q: Query) {
        q.reply(LookupAction::Drop)
    }
    /// `vpo_nprops`: number of plugin properties.
    fn nprops(&self) -> Result<u32, Errno>;
    /// `vpo_propinfo`: describe property `propid` (0-based); EINVAL if bad.
    fn propinfo(&self, propid: u32, ph: &mut PropHandle) -> Result<(), Errno>;
    /// `vpo_getprop`: copy the value into `buf` (its length is the buffer
    /// size) and return its size (0 = unset); EOVERFLOW if `buf` is too
    /// small; EINVAL for an unknown name.
    fn getprop(&self, name: &str, buf: &mut [u8]) -> Result<usize, Errno>;
    /// `vpo_setprop`: validate and store.
    fn setprop(&self, name: &str, val: &[u8]) -> Result<(), Errno>;
    /// `vpo_save`: private state for crash recovery, any JSON.
    fn save(&self) -> Result<serde_json::Value, Errno>;
    /// `vpo_arp`: resolve `q.addr()` and call `q.reply(Some(mac))` or
    /// `q.reply(None)`. Only needed by plugins that use the ARP/NDP proxy;
    /// the default drops (illumos panics).
    fn arp(&self, q: ArpQuery) {
        tracing::error!("plugin asked to do arp, but has no method");
        q.reply(None)
    }
    /// `vpo_dhcp`: name the DHCP server's MAC with `q.reply(Some(mac))`.
    fn dhcp(&self, q: DhcpQuery) {
        tracing::error!("plugin asked to do dhcp, but has no method");
        q.reply(None)
    }
}

/// `varpd_plugin_register_t`.
#[derive(Clone)]
pub struct PluginRegistration {
    /// `vpr_version`: must be [`VARPD_CURRENT_VERSION`].
    pub version: u32,
    /// `vpr_name`: unique; the `-s` name and the property prefix.
    pub name: String,
    /// `vpr_mode`.
    pub mode: TargetMode,
    /// `vpr_ops`.
    pub ops: Arc<dyn SearchPlugin>,
}

impl PluginRegistration {
    /// `libvarpd_plugin_alloc` + filling in the fields.
    pub fn new(name: &str, mode: TargetMode, ops: Arc<dyn SearchPlugin>) -> PluginRegistration {
        PluginRegistration {
            version: VARPD_CURRENT_VERSION,
            name: name.to_string(),
            mode,
            ops,
        }
    }
}

/// A registered plugin (`varpd_plugin_t`).
#[derive(Clone)]
pub struct Plugin {
    pub name: Arc<str>,
    pub mode: TargetMode,
    pub ops: Arc<dyn SearchPlugin>,
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("mode", &self.mode)
            .finish()
    }
}

/// The loaded plugins by name (`vh_plugins`, an AVL tree by `strcmp`).
#[derive(Default, Clone, Debug)]
pub struct PluginRegistry {
    plugins: std::collections::BTreeMap<String, Plugin>,
}

impl PluginRegistry {
    pub fn new() -> PluginRegistry {
        PluginRegistry::default()
    }

    /// `libvarpd_plugin_register`: EINVAL for a bad version, empty or
    /// over-long name; EEXIST for a duplicate name.
    pub fn register(&mut self, reg: PluginRegistration) -> Result<(), Errno> {
        if reg.version != VARPD_CURRENT_VERSION
            || reg.name.is_empty()
            || reg.name.len() >= LIBVARPD_PROP_NAMELEN
            || reg.name.contains('/')
        {
            return Err(Errno::EINVAL);
        }
        if self.plugins.contains_key(&reg.name) {
            tracing::warn!("module already exists with requested name '{}'", reg.name);
            return Err(Errno::EEXIST);
        }
        let p = Plugin {
            name: Arc::from(reg.name.as_str()),
            mode: reg.mode,
            ops: reg.ops,
        };
        self.plugins.insert(reg.name, p);
        Ok(())
    }

    /// The plugin named `name`.
    pub fn get(&self, name: &str) -> Option<&Plugin> {
        self.plugins.get(name)
    }

    /// `libvarpd_plugin_walk`: every plugin in name (`strcmp`) order.
    pub fn iter(&self) -> impl Iterator<Item = &Plugin> {
        self.plugins.values()
    }

    /// Number of plugins.
    pub fn len(&self) -> usize {
        self.plugins.len()
    }

    /// Whether no plugin is registered.
    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }
}

//! The `svp` search plugin (`lib/varpd/svp`, `libvarpd_svp.c`): mappings
//! from an SVP server (Triton's portolan).
//!
//! # Theory of operation
//!
//! A DYNAMIC plugin for encapsulations that need an IP and a port (VXLAN):
//! the kernel asks about every destination MAC it has not cached, and the
//! plugin asks the SVP servers named by `svp/host` over TCP (spec/svp.md
//! §1, the wire format in the `svp-proto` crate):
//!
//! | the frame (kernel miss) | the answer |
//! |---|---|
//! | ARP (any destination) | proxy ARP: VL3_REQ (`SVP_VL3_IP`, v4-mapped); on OK the VL2→underlay entry is injected into the kernel cache (`OVERLAY_TARG_CACHE_SET`) *then* the ARP reply |
//! | IPv6 to a `33:33:…` MAC | proxy NDP: VL3_REQ (`SVP_VL3_IPV6`), the same way |
//! | another frame to `33:33:…`, broadcast, any other multicast | drop: no DHCP proxy, no flooding |
//! | unicast | VL2_REQ `{mac, vnet id}`: on OK the underlay `{ip, port}`, else drop |
//!
//! A query for which no connection is ACTIVE fails at once and the frame
//! is dropped. Properties (`vpo_propinfo` order):
//!
//! | property | type | default | set rules |
//! |---|---|---|---|
//! | `svp/host` | STRING | none (required) | a DNS name or a literal address; EINVAL if empty |
//! | `svp/port` | UINT | 1296 | 8-byte value (EOVERFLOW if shorter), 1–65535 (EINVAL) |
//! | `svp/underlay_ip` | IP | none (required) | 16 bytes (EOVERFLOW); EINVAL for IPv4-compatible, multicast, 6to4 and v4-mapped multicast |
//! | `svp/underlay_port` | UINT | 1339 | as `svp/port`; stored, saved, required, never sent |
//!
//! `getprop` of a UINT returns 8 bytes (a `uint64_t`) or 0 when unset, and
//! EOVERFLOW for a buffer under 8 bytes; the IP property returns 16 bytes
//! and EOVERFLOW under 16 (illumos inverted that test, §12 #10). The
//! defaults are advertised as illumos does, as a 4-byte `int`. `start`
//! fails with EAGAIN unless all four are set; it then joins the remote for
//! (host, port, underlay IP) (`remote/`), EEXIST if that remote already
//! serves this vnet id. Properties cannot change while started (EBUSY).
//!
//! Saved state (the nvlist of `varpd_svp_save`): `svp/host` (string),
//! `svp/port` (u16), `svp/underlay_ip` (string, `inet_ntop(AF_INET6)`,
//! e.g. `::ffff:10.88.88.205`), `svp/underlay_port` (u16), each only if
//! set. `restore` starts from the defaults and then unsets every missing
//! key, as illumos: a restored instance without `svp/port` fails `start`
//! with EAGAIN.
//!
//! The machinery below the instances: remotes shared by every instance
//! with the same (host, port, underlay IP) ([`remote`]), one TCP connection
//! per address the host resolves to ([`conn`], [`host`]), the log poller
//! that applies shootdowns ([`shootdown`]), one event loop and one
//! resolver thread per plugin ([`runtime`]), whole-second timers
//! ([`timer`]), queries ([`query`]), and tunables and counters ([`ctx`]).

pub mod conn;
pub mod ctx;
pub mod host;
pub mod query;
pub mod remote;
pub mod runtime;
pub mod shootdown;
pub mod timer;

use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::errno::Errno;
use crate::ksys::TargetPoint;
use crate::plugin::{
    in6_is_addr_6to4, in6_is_addr_v4compat, prop_get_ip, prop_get_string, prop_get_uint,
    prop_set_ip, prop_set_port, prop_set_string, saved_ip, saved_string, saved_uint, ArpQuery,
    Dest, LookupAction, PluginRegistration, PropHandle, PropType, ProviderHandle, Query,
    SearchInstance, SearchPlugin, TargetMode, OVERLAY_PLUGIN_D_IP, OVERLAY_PLUGIN_D_PORT,
    OVERLAY_PROP_PERM_RRW, VARPD_QTYPE_ETHERNET,
};
use crate::proxy::{ETHERTYPE_ARP, ETHERTYPE_IPV6, ETHER_BROADCAST};

pub use ctx::{ResolveError, SvpConfig, SvpResolver, SvpStats};
pub use remote::{ConnSnapshot, RemoteSnapshot};
pub use runtime::SvpRuntime;

/// `vpr_name`.
pub const SVP_NAME: &str = "svp";
/// Property 0: the server host name or address.
pub const SVP_HOST: &str = "svp/host";
/// Property 1: the servers' TCP port.
pub const SVP_PORT: &str = "svp/port";
/// Property 2: this host's underlay address (sent in LOG_REQ).
pub const SVP_UNDERLAY_IP: &str = "svp/underlay_ip";
/// Property 3: this host's underlay port (stored only).
pub const SVP_UNDERLAY_PORT: &str = "svp/underlay_port";
/// `varpd_svp_props`.
pub const SVP_PROPS: [&str; 4] = [SVP_HOST, SVP_PORT, SVP_UNDERLAY_IP, SVP_UNDERLAY_PORT];
/// `svp_defport` ("the year of the oldest extant portolan").
pub const SVP_DEFPORT: u16 = svp_proto::SVP_DEFAULT_PORT;
/// `svp_defuport`.
pub const SVP_DEFUPORT: u16 = svp_proto::SVP_DEFAULT_UPORT;

/// The registration: name `svp`, mode DYNAMIC, illumos' tunables.
pub fn registration() -> PluginRegistration {
    registration_with(SvpConfig::default()).0
}

/// A registration with its own tunables (tests: a short tick, a resolver
/// of their own), and the plugin object for its counters and snapshots.
pub fn registration_with(cfg: SvpConfig) -> (PluginRegistration, Arc<SvpPlugin>) {
    let p = Arc::new(SvpPlugin {
        cfg,
        rt: Mutex::new(None),
    });
    (
        PluginRegistration::new(SVP_NAME, TargetMode::Dynamic, p.clone()),
        p,
    )
}

/// The plugin: its create/restore, and the runtime its instances share.
pub struct SvpPlugin {
    cfg: SvpConfig,
    rt: Mutex<Option<Arc<SvpRuntime>>>,
}

impl std::fmt::Debug for SvpPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SvpPlugin")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl SvpPlugin {
    /// The runtime (made on first use: a wake-up pipe, no thread yet).
    pub fn runtime(&self) -> Result<Arc<SvpRuntime>, Errno> {
        let mut g = self.rt.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(rt) = &*g {
            return Ok(rt.clone());
        }
        let rt = SvpRuntime::new(self.cfg.clone()).map_err(|e| Errno::from_io(&e))?;
        *g = Some(rt.clone());
        Ok(rt)
    }

    /// The counters (all zero before the first start).
    pub fn stats(&self) -> std::collections::BTreeMap<&'static str, u64> {
        match self.runtime() {
            Ok(rt) => rt.ctx().stats.snapshot(),
            Err(_) => SvpStats::default().snapshot(),
        }
    }

    /// A snapshot of every remote.
    pub fn remotes(&self) -> Vec<RemoteSnapshot> {
        self.runtime().map(|rt| rt.remotes()).unwrap_or_default()
    }
}

/// `varpd_svp_valid_dest`: exactly IP and port.
fn valid_dest(dest: Dest) -> bool {
    dest == (OVERLAY_PLUGIN_D_IP | OVERLAY_PLUGIN_D_PORT)
}

/// What `svp/underlay_ip` accepts (`varpd_svp_setprop`).
pub fn check_underlay_ip(ip: &Ipv6Addr) -> Result<(), Errno> {
    let v4compat = in6_is_addr_v4compat(ip);
    let sixtofour = in6_is_addr_6to4(ip);
    let v4mcast = ip.to_ipv4_mapped().is_some_and(|v| v.is_multicast());
    if v4compat || ip.is_multicast() || sixtofour || v4mcast {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// What `svp/host` accepts: a non-empty name without NUL or white space.
fn check_host(h: &str) -> Result<(), Errno> {
    if h.is_empty() || h.len() >= crate::plugin::LIBVARPD_PROP_SIZEMAX {
        return Err(Errno::EINVAL);
    }
    if h.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

impl SearchPlugin for SvpPlugin {
    fn create(&self, hdl: ProviderHandle, dest: Dest) -> Result<Box<dyn SearchInstance>, Errno> {
        if !valid_dest(dest) {
            return Err(Errno::ENOTSUP);
        }
        Ok(Box::new(Svp::new(self, hdl, SvpProps::default())))
    }

    fn restore(
        &self,
        saved: &serde_json::Value,
        hdl: ProviderHandle,
        dest: Dest,
    ) -> Result<Box<dyn SearchInstance>, Errno> {
        if !valid_dest(dest) {
            return Err(Errno::ENOTSUP);
        }
        let obj = saved.as_object().ok_or(Errno::EINVAL)?;
        // A missing port is unset, not the default (as illumos); 0 = unset.
        let u16_of = |k: &str| -> Result<u16, Errno> {
            Ok(saved_uint(obj, k, 0, u64::from(u16::MAX))?.map_or(0, |p| p as u16))
        };
        let host = saved_string(obj, SVP_HOST)?;
        if let Some(h) = host {
            check_host(h)?;
        }
        let uip = saved_ip(obj, SVP_UNDERLAY_IP)?;
        if let Some(ip) = &uip {
            check_underlay_ip(ip)?;
        }
        let host = host.map(str::to_string);
        let props = SvpProps {
            host,
            port: u16_of(SVP_PORT)?,
            uip,
            uport: u16_of(SVP_UNDERLAY_PORT)?,
        };
        Ok(Box::new(Svp::new(self, hdl, props)))
    }

    /// The plugin-wide counters ([`SvpStats`]), zero before the first
    /// start (asking does not make the runtime).
    fn counters(&self) -> Vec<(String, u64)> {
        let rt = self.rt.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let snap = match rt {
            Some(rt) => rt.ctx().stats.snapshot(),
            None => SvpStats::default().snapshot(),
        };
        snap.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }
}

/// The properties of one instance (0 = unset for the ports).
#[derive(Clone, Debug, PartialEq, Eq)]
struct SvpProps {
    host: Option<String>,
    port: u16,
    uip: Option<Ipv6Addr>,
    uport: u16,
}

impl Default for SvpProps {
    /// `varpd_svp_create`: the ports at their defaults.
    fn default() -> Self {
        SvpProps {
            host: None,
            port: SVP_DEFPORT,
            uip: None,
            uport: SVP_DEFUPORT,
        }
    }
}

struct SvpState {
    props: SvpProps,
    /// `svp_remote` while started.
    remote: Option<Arc<remote::SvpRemote>>,
    rt: Option<Arc<SvpRuntime>>,
}

/// One `svp` instance (`svp_t`).
pub struct Svp {
    hdl: ProviderHandle,
    /// `svp_vid`.
    vid: u64,
    plugin_rt: Result<Arc<SvpRuntime>, Errno>,
    st: Mutex<SvpState>,
    counts: Arc<SvpInstStats>,
}

/// What one instance's lookups did (`varpd stats`).
#[derive(Debug, Default)]
struct SvpInstStats {
    /// Unicast misses asked as VL2_REQ, and those answered.
    vl2_lookups: AtomicU64,
    vl2_answered: AtomicU64,
    /// ARP requests and neighbour solicitations asked as VL3_REQ, and
    /// those answered.
    vl3_lookups: AtomicU64,
    vl3_answered: AtomicU64,
    /// Misses dropped without asking: broadcast, multicast, not started.
    dropped: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Svp {
    fn new(p: &SvpPlugin, hdl: ProviderHandle, props: SvpProps) -> Svp {
        Svp {
            vid: hdl.vnetid(),
            hdl,
            plugin_rt: p.runtime(),
            st: Mutex::new(SvpState {
                props,
                remote: None,
                rt: None,
            }),
            counts: Arc::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, SvpState> {
        // A panic while holding this lock leaves plain data: keep going.
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn remote(&self) -> Option<Arc<remote::SvpRemote>> {
        self.state().remote.clone()
    }

    /// Get a port (0 = unset) as a UINT.
    fn get_port(buf: &mut [u8], v: u16) -> Result<usize, Errno> {
        prop_get_uint(buf, Some(u64::from(v)).filter(|v| *v != 0))
    }
}

impl SearchInstance for Svp {
    fn start(&self) -> Result<(), Errno> {
        let mut st = self.state();
        if st.remote.is_some() {
            return Err(Errno::EBUSY);
        }
        let p = &st.props;
        let (Some(host), Some(uip)) = (p.host.clone(), p.uip) else {
            return Err(Errno::EAGAIN);
        };
        if p.port == 0 || p.uport == 0 {
            return Err(Errno::EAGAIN);
        }
        let rt = self.plugin_rt.clone()?;
        let srp = rt
            .remote_find(&host, p.port, uip)
            .map_err(|e| Errno::from_io(&e))?;
        if let Err(e) = srp.attach(self.hdl.clone()) {
            rt.remote_release(&srp);
            return Err(e);
        }
        tracing::info!(
            linkid = self.hdl.linkid(),
            vnetid = self.vid,
            host = %host,
            port = p.port,
            underlay_ip = %uip,
            "svp: started"
        );
        st.remote = Some(srp);
        st.rt = Some(rt);
        Ok(())
    }

    fn stop(&self) {
        let (srp, rt) = {
            let mut st = self.state();
            (st.remote.take(), st.rt.take())
        };
        if let (Some(srp), Some(rt)) = (srp, rt) {
            srp.detach(self.vid);
            rt.remote_release(&srp);
        }
    }

    fn destroy(&self) {
        self.stop();
    }

    fn lookup(&self, q: Query) {
        let Some(srp) = self.remote() else {
            bump(&self.counts.dropped);
            return q.reply(LookupAction::Drop);
        };
        let l = *q.lookup();
        if l.sap == u32::from(ETHERTYPE_ARP) {
            return self.hdl.proxy_arp(q);
        }
        if l.dstaddr[0] == 0x33 && l.dstaddr[1] == 0x33 {
            if l.sap == u32::from(ETHERTYPE_IPV6) {
                return self.hdl.proxy_ndp(q);
            }
            bump(&self.counts.dropped);
            return q.reply(LookupAction::Drop);
        }
        if l.dstaddr == ETHER_BROADCAST || l.dstaddr[0] & 0x01 == 0x01 {
            bump(&self.counts.dropped);
            return q.reply(LookupAction::Drop);
        }
        bump(&self.counts.vl2_lookups);
        let counts = self.counts.clone();
        // svp_vl2_lookup_cb.
        srp.vl2_lookup(
            l.dstaddr,
            self.vid,
            Box::new(move |_status, ack| match ack {
                Some((ip, port)) => {
                    bump(&counts.vl2_answered);
                    q.reply(LookupAction::Ok(TargetPoint {
                        mac: [0; 6],
                        ip,
                        port,
                    }))
                }
                None => q.reply(LookupAction::Drop),
            }),
        );
    }

    fn arp(&self, q: ArpQuery) {
        if q.qtype() != VARPD_QTYPE_ETHERNET {
            bump(&self.counts.dropped);
            return q.reply(None);
        }
        let Some(srp) = self.remote() else {
            bump(&self.counts.dropped);
            return q.reply(None);
        };
        bump(&self.counts.vl3_lookups);
        let counts = self.counts.clone();
        let hdl = self.hdl.clone();
        let addr = q.addr();
        // svp_vl3_lookup_cb: inject the VL2 mapping, then answer the L3.
        srp.vl3_lookup(
            addr,
            self.vid,
            Box::new(move |_status, ack| match ack {
                Some((mac, uip, uport)) => {
                    bump(&counts.vl3_answered);
                    let point = TargetPoint {
                        mac: [0; 6],
                        ip: uip,
                        port: uport,
                    };
                    if let Err(e) = hdl.inject_varp(mac, Some(&point)) {
                        tracing::warn!(linkid = hdl.linkid(), "svp: cache set failed: {e}");
                    }
                    q.reply(Some(mac));
                }
                None => q.reply(None),
            }),
        );
    }

    fn nprops(&self) -> Result<u32, Errno> {
        Ok(SVP_PROPS.len() as u32)
    }

    fn propinfo(&self, propid: u32, ph: &mut PropHandle) -> Result<(), Errno> {
        // The defaults are C ints, as illumos passes them.
        let int_default = |ph: &mut PropHandle, v: u16| {
            let _ = ph.set_default(&i32::from(v).to_ne_bytes());
        };
        match propid {
            0 => {
                ph.set_name(SVP_HOST);
                ph.set_prot(OVERLAY_PROP_PERM_RRW);
                ph.set_type(PropType::String);
                ph.set_nodefault();
            }
            1 => {
                ph.set_name(SVP_PORT);
                ph.set_prot(OVERLAY_PROP_PERM_RRW);
                ph.set_type(PropType::Uint);
                int_default(ph, SVP_DEFPORT);
                ph.set_range_uint32(1, u32::from(u16::MAX));
            }
            2 => {
                ph.set_name(SVP_UNDERLAY_IP);
                ph.set_prot(OVERLAY_PROP_PERM_RRW);
                ph.set_type(PropType::Ip);
                ph.set_nodefault();
            }
            3 => {
                ph.set_name(SVP_UNDERLAY_PORT);
                ph.set_prot(OVERLAY_PROP_PERM_RRW);
                ph.set_type(PropType::Uint);
                int_default(ph, SVP_DEFUPORT);
                ph.set_range_uint32(1, u32::from(u16::MAX));
            }
            _ => return Err(Errno::EINVAL),
        }
        Ok(())
    }

    fn getprop(&self, name: &str, buf: &mut [u8]) -> Result<usize, Errno> {
        let st = self.state();
        let p = &st.props;
        match name {
            SVP_HOST => prop_get_string(buf, p.host.as_deref()),
            SVP_PORT => Self::get_port(buf, p.port),
            // §12 #10: the size test the right way round.
            SVP_UNDERLAY_IP => prop_get_ip(buf, p.uip),
            SVP_UNDERLAY_PORT => Self::get_port(buf, p.uport),
            _ => Err(Errno::EINVAL),
        }
    }

    fn setprop(&self, name: &str, val: &[u8]) -> Result<(), Errno> {
        if !SVP_PROPS.contains(&name) {
            return Err(Errno::EINVAL);
        }
        let mut st = self.state();
        // §12 #5: the remote is chosen at start.
        if st.remote.is_some() {
            return Err(Errno::EBUSY);
        }
        match name {
            SVP_HOST => {
                let h = prop_set_string(val)?;
                check_host(h)?;
                st.props.host = Some(h.to_string());
            }
            SVP_PORT => st.props.port = prop_set_port(val)?,
            SVP_UNDERLAY_IP => {
                let ip = prop_set_ip(val)?;
                check_underlay_ip(&ip)?;
                st.props.uip = Some(ip);
            }
            _ => st.props.uport = prop_set_port(val)?,
        }
        Ok(())
    }

    fn counters(&self) -> Vec<(String, u64)> {
        let c = &self.counts;
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut v: Vec<(String, u64)> = vec![
            ("vl2_lookups".into(), l(&c.vl2_lookups)),
            ("vl2_answered".into(), l(&c.vl2_answered)),
            ("vl3_lookups".into(), l(&c.vl3_lookups)),
            ("vl3_answered".into(), l(&c.vl3_answered)),
            ("dropped".into(), l(&c.dropped)),
        ];
        if let Some(srp) = self.remote() {
            let r = srp.snapshot();
            let active = r
                .conns
                .iter()
                .filter(|c| c.state == conn::SvpConnState::Active)
                .count();
            v.extend([
                ("remote_degrade".into(), u64::from(r.degrade)),
                ("remote_dns_gen".into(), r.dns_gen),
                ("remote_conns".into(), r.conns.len() as u64),
                ("remote_conns_active".into(), active as u64),
                (
                    "remote_queries".into(),
                    r.conns.iter().map(|c| c.queries as u64).sum(),
                ),
                ("remote_log_pending".into(), r.log_pending as u64),
            ]);
        }
        v
    }

    fn save(&self) -> Result<serde_json::Value, Errno> {
        let st = self.state();
        let p = &st.props;
        let mut m = serde_json::Map::new();
        if let Some(h) = &p.host {
            m.insert(SVP_HOST.into(), h.clone().into());
        }
        if p.port != 0 {
            m.insert(SVP_PORT.into(), p.port.into());
        }
        if let Some(ip) = p.uip {
            m.insert(SVP_UNDERLAY_IP.into(), ip.to_string().into());
        }
        if p.uport != 0 {
            m.insert(SVP_UNDERLAY_PORT.into(), p.uport.into());
        }
        Ok(serde_json::Value::Object(m))
    }
}

//! The `files` search plugin (`lib/varpd/files`): a static table in a file.
//!
//! # Theory of operation
//!
//! A DYNAMIC plugin: the kernel asks about every destination MAC it has not
//! cached, and this plugin answers from an overlay_files(5) JSON table
//! ([`config`]) named by the property `files/config`, read once at start:
//!
//! | the frame | the answer |
//! |---|---|
//! | ARP (any destination) | proxy ARP: a reply from the table's `arp` addresses is injected |
//! | IPv6 to a `33:33:…` MAC | proxy NDP: an advertisement from the `ndp` addresses is injected |
//! | IPv4 to the broadcast MAC, from a MAC with `dhcp-proxy` | DHCP redirect to that MAC |
//! | any other broadcast or multicast | drop (nothing floods the underlay) |
//! | unicast to a MAC in the table | its `ip` and `port` |
//! | unicast to any other MAC | drop |
//!
//! Proxied and dropped queries are never cached by the kernel; an answered
//! unicast lookup is.
//!
//! A bad configuration (unreadable file, JSON syntax error, invalid field)
//! is reported as `path:line:column: message` (for I/O errors `path:
//! message`): it is logged, and the overlay is degraded with it
//! (`libvarpd_fma_degrade`, visible in `dladm show-overlay -f`). At
//! activation (`dladm create-overlay`) start then fails with the errno
//! (`EINVAL` for a bad file, §12 #9), so the create is rolled back. An
//! instance being restored by a restarted varpd keeps running instead,
//! degraded and dropping every lookup, so the overlay and its varpd id
//! survive; each lookup (at most once a second) retries the file, and the
//! first good read restores the overlay (`libvarpd_fma_restore`).
//!
//! Saved state: `{"files/config": path, "files/vaf_nmisses": n,
//! "files/vaf_narp": n}` as in illumos (where the counters were never
//! incremented; here they count dropped unicast misses and answered
//! ARP/NDP). Restore takes every key as optional (§12 #8).

pub mod config;

use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::errno::Errno;
use crate::ksys::TargetPoint;
use crate::plugin::{
    prop_get_string, prop_set_string, saved_string, saved_uint, ArpQuery, Dest, DhcpQuery,
    LookupAction, PluginRegistration, PropHandle, PropType, ProviderHandle, Query, SearchInstance,
    SearchPlugin, TargetMode, OVERLAY_PLUGIN_D_IP, OVERLAY_PLUGIN_D_PORT, OVERLAY_PROP_PERM_RRW,
    VARPD_QTYPE_ETHERNET,
};
use crate::proxy::{ETHERTYPE_ARP, ETHERTYPE_IP, ETHERTYPE_IPV6, ETHER_BROADCAST};

pub use config::{FilesConfig, FilesEntry, FilesError, ParseError};

/// `vpr_name`.
pub const FILES_NAME: &str = "files";
/// The one property: absolute path of the JSON file.
pub const FILES_CONFIG: &str = "files/config";
/// Saved-state key of the unicast miss counter.
pub const FILES_NMISSES: &str = "files/vaf_nmisses";
/// Saved-state key of the ARP/NDP answer counter.
pub const FILES_NARP: &str = "files/vaf_narp";
/// How often a degraded restored instance retries its file.
pub const FILES_RETRY: Duration = Duration::from_secs(1);

/// The registration: name `files`, mode DYNAMIC.
pub fn registration() -> PluginRegistration {
    PluginRegistration::new(FILES_NAME, TargetMode::Dynamic, Arc::new(FilesPlugin))
}

/// The plugin (`varpd_files_ops`'s create and restore).
#[derive(Debug, Default)]
pub struct FilesPlugin;

/// `varpd_files_valid_dest`: a non-empty subset of IP and port.
fn valid_dest(dest: Dest) -> bool {
    let ok = OVERLAY_PLUGIN_D_IP | OVERLAY_PLUGIN_D_PORT;
    dest & ok != 0 && dest & !ok == 0
}

/// What `files/config` accepts: an absolute path.
fn check_path(p: &str) -> Result<(), Errno> {
    if p.is_empty() || !Path::new(p).is_absolute() {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

impl SearchPlugin for FilesPlugin {
    fn create(&self, hdl: ProviderHandle, dest: Dest) -> Result<Box<dyn SearchInstance>, Errno> {
        if !valid_dest(dest) {
            return Err(Errno::ENOTSUP);
        }
        Ok(Box::new(Files::new(hdl, dest, None, false)))
    }

    fn restore(
        &self,
        saved: &serde_json::Value,
        hdl: ProviderHandle,
        dest: Dest,
    ) -> Result<Box<dyn SearchInstance>, Errno> {
        if !valid_dest(dest) {
            return Err(Errno::EINVAL);
        }
        let obj = saved.as_object().ok_or(Errno::EINVAL)?;
        let path = saved_string(obj, FILES_CONFIG)?;
        if let Some(p) = path {
            check_path(p)?;
        }
        let path = path.map(str::to_string);
        let counter = |k: &str| saved_uint(obj, k, 0, u64::MAX).map(|v| v.unwrap_or(0));
        let f = Files::new(hdl, dest, path, true);
        f.nmisses.store(counter(FILES_NMISSES)?, Ordering::Relaxed);
        f.narp.store(counter(FILES_NARP)?, Ordering::Relaxed);
        Ok(Box::new(f))
    }
}

/// The state start/stop and the property change.
#[derive(Debug, Default)]
struct FilesState {
    path: Option<String>,
    started: bool,
    /// The table while started (None while degraded).
    table: Option<Arc<FilesConfig>>,
    /// Set while degraded by a bad file: when to try it again.
    retry_at: Option<Instant>,
    /// A flood list was given to the kernel (cleared at stop).
    flooding: bool,
}

/// The kernel's form of a configuration's `flood` list.
fn flood_points(cfg: &FilesConfig) -> Vec<TargetPoint> {
    cfg.flood()
        .iter()
        .map(|&(ip, port)| TargetPoint {
            mac: [0; 6],
            ip,
            port,
        })
        .collect()
}

/// One `files` instance (`varpd_files_t`).
pub struct Files {
    dest: Dest,
    hdl: ProviderHandle,
    /// Created by restore: a bad file degrades instead of failing start.
    restored: bool,
    state: Mutex<FilesState>,
    nmisses: AtomicU64,
    narp: AtomicU64,
}

impl Files {
    fn new(hdl: ProviderHandle, dest: Dest, path: Option<String>, restored: bool) -> Files {
        Files {
            dest,
            hdl,
            restored,
            state: Mutex::new(FilesState {
                path,
                ..FilesState::default()
            }),
            nmisses: AtomicU64::new(0),
            narp: AtomicU64::new(0),
        }
    }

    fn state(&self) -> MutexGuard<'_, FilesState> {
        // A panic while holding this lock leaves plain data: keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn load(&self, path: &str) -> Result<FilesConfig, FilesError> {
        let needs_port = self.dest & OVERLAY_PLUGIN_D_PORT != 0;
        FilesConfig::load(Path::new(path), needs_port)
    }

    fn degrade(&self, err: &FilesError) {
        let msg = err.to_string();
        tracing::error!(
            linkid = self.hdl.linkid(),
            "files: bad configuration: {msg}"
        );
        if let Err(e) = self.hdl.fma_degrade(&msg) {
            tracing::warn!(linkid = self.hdl.linkid(), "files: degrade failed: {e:?}");
        }
    }

    /// The table to answer from; while degraded, retry the file when due.
    fn table(&self) -> Option<Arc<FilesConfig>> {
        let mut st = self.state();
        if !st.started {
            return None;
        }
        if let Some(t) = &st.table {
            return Some(Arc::clone(t));
        }
        let due = st.retry_at.is_some_and(|at| Instant::now() >= at);
        let path = st.path.clone()?;
        if !due {
            return None;
        }
        match self.load(&path) {
            Ok(cfg) => {
                // The state lock is held: give the kernel the flood list
                // directly (apply_flood would take the lock again).
                if !cfg.flood().is_empty() {
                    let pts = flood_points(&cfg);
                    st.flooding = self.hdl.flood_set(&pts).is_ok();
                }
                let t = Arc::new(cfg);
                st.table = Some(Arc::clone(&t));
                st.retry_at = None;
                tracing::info!(
                    linkid = self.hdl.linkid(),
                    "files: {path}: configuration loaded"
                );
                if let Err(e) = self.hdl.fma_restore() {
                    tracing::warn!(linkid = self.hdl.linkid(), "files: restore failed: {e:?}");
                }
                Some(t)
            }
            Err(_) => {
                st.retry_at = Some(Instant::now() + FILES_RETRY);
                None
            }
        }
    }

    /// Give the kernel the file's `flood` list (head-end replication), if
    /// it has one; a file without one leaves the kernel as it is.
    fn apply_flood(&self, cfg: &FilesConfig) -> Result<(), Errno> {
        if cfg.flood().is_empty() {
            return Ok(());
        }
        let pts = flood_points(cfg);
        self.hdl.flood_set(&pts).inspect_err(|e| {
            tracing::error!(
                linkid = self.hdl.linkid(),
                "files: setting the flood list failed: {e:?} (the overlay driver needs head-end replication)"
            );
        })?;
        self.state().flooding = true;
        Ok(())
    }

    /// Counted drop of a unicast miss.
    fn miss(&self, q: Query) {
        self.nmisses.fetch_add(1, Ordering::Relaxed);
        q.reply(LookupAction::Drop);
    }
}

impl SearchInstance for Files {
    fn start(&self) -> Result<(), Errno> {
        let mut st = self.state();
        let path = st.path.clone().ok_or(Errno::EAGAIN)?;
        match self.load(&path) {
            Ok(cfg) => {
                drop(st);
                self.apply_flood(&cfg)?;
                let mut st = self.state();
                st.table = Some(Arc::new(cfg));
                st.retry_at = None;
                st.started = true;
                Ok(())
            }
            Err(e) => {
                self.degrade(&e);
                if !self.restored {
                    return Err(e.errno());
                }
                st.table = None;
                st.retry_at = Some(Instant::now() + FILES_RETRY);
                st.started = true;
                Ok(())
            }
        }
    }

    fn stop(&self) {
        let mut st = self.state();
        st.started = false;
        st.table = None;
        st.retry_at = None;
        if std::mem::take(&mut st.flooding) {
            drop(st);
            let _ = self.hdl.flood_set(&[]);
        }
    }

    fn lookup(&self, q: Query) {
        let Some(table) = self.table() else {
            return q.reply(LookupAction::Drop);
        };
        let l = *q.lookup();
        if l.sap == u32::from(ETHERTYPE_ARP) {
            return self.hdl.proxy_arp(q);
        }
        if l.sap == u32::from(ETHERTYPE_IPV6) && l.dstaddr[..2] == [0x33, 0x33] {
            return self.hdl.proxy_ndp(q);
        }
        if l.sap == u32::from(ETHERTYPE_IP) && l.dstaddr == ETHER_BROADCAST {
            let has_proxy = table
                .get(&l.srcaddr)
                .is_some_and(|e| e.dhcp_proxy.is_some());
            if has_proxy {
                return self.hdl.proxy_dhcp(q);
            }
            return q.reply(LookupAction::Drop);
        }
        // No other broadcast or multicast frame leaves this host.
        if config::is_group(&l.dstaddr) {
            return q.reply(LookupAction::Drop);
        }
        let Some(e) = table.get(&l.dstaddr) else {
            return self.miss(q);
        };
        let port = match (e.port, self.dest & OVERLAY_PLUGIN_D_PORT != 0) {
            (Some(p), _) => p,
            (None, false) => 0,
            // The parser requires a port when the destination has one.
            (None, true) => return self.miss(q),
        };
        q.reply(LookupAction::Ok(TargetPoint {
            mac: [0; 6],
            ip: e.ip,
            port,
        }))
    }

    fn arp(&self, q: ArpQuery) {
        if q.qtype() != VARPD_QTYPE_ETHERNET {
            return q.reply(None);
        }
        let Some(table) = self.table() else {
            return q.reply(None);
        };
        let mac = match q.addr() {
            IpAddr::V4(a) => table.resolve_arp(a),
            IpAddr::V6(a) => table.resolve_ndp(a),
        };
        if mac.is_some() {
            self.narp.fetch_add(1, Ordering::Relaxed);
        }
        q.reply(mac)
    }

    fn dhcp(&self, q: DhcpQuery) {
        if q.qtype() != VARPD_QTYPE_ETHERNET {
            return q.reply(None);
        }
        let mac = self
            .table()
            .and_then(|t| t.get(&q.lookup().srcaddr).and_then(|e| e.dhcp_proxy));
        q.reply(mac)
    }

    fn nprops(&self) -> Result<u32, Errno> {
        Ok(1)
    }

    fn propinfo(&self, propid: u32, ph: &mut PropHandle) -> Result<(), Errno> {
        if propid != 0 {
            return Err(Errno::EINVAL);
        }
        ph.set_name(FILES_CONFIG);
        ph.set_prot(OVERLAY_PROP_PERM_RRW);
        ph.set_type(PropType::String);
        ph.set_nodefault();
        Ok(())
    }

    fn getprop(&self, name: &str, buf: &mut [u8]) -> Result<usize, Errno> {
        if name != FILES_CONFIG {
            return Err(Errno::EINVAL);
        }
        let st = self.state();
        prop_get_string(buf, st.path.as_deref())
    }

    fn setprop(&self, name: &str, val: &[u8]) -> Result<(), Errno> {
        if name != FILES_CONFIG {
            return Err(Errno::EINVAL);
        }
        let p = prop_set_string(val)?;
        check_path(p)?;
        let mut st = self.state();
        // §12 #5: the file is read at start; a new path would be ignored.
        if st.started {
            return Err(Errno::EBUSY);
        }
        st.path = Some(p.to_string());
        Ok(())
    }

    fn counters(&self) -> Vec<(String, u64)> {
        vec![
            ("vaf_nmisses".into(), self.nmisses.load(Ordering::Relaxed)),
            ("vaf_narp".into(), self.narp.load(Ordering::Relaxed)),
        ]
    }

    fn save(&self) -> Result<serde_json::Value, Errno> {
        let st = self.state();
        let mut m = serde_json::Map::new();
        if let Some(p) = &st.path {
            m.insert(FILES_CONFIG.into(), p.clone().into());
        }
        m.insert(
            FILES_NMISSES.into(),
            self.nmisses.load(Ordering::Relaxed).into(),
        );
        m.insert(FILES_NARP.into(), self.narp.load(Ordering::Relaxed).into());
        Ok(serde_json::Value::Object(m))
    }
}

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
//!
//! Files: this one holds the types, the entry-point traits and the
//! registry (`libvarpd_plugin.c`); `query.rs` the lookup handles and their
//! replies (`libvarpd_plugin_query_reply`, `_arp_reply`, `_dhcp_reply`);
//! `provider.rs` the instance handle and its upcalls (`libvarpd_inject_*`,
//! `libvarpd_fma_*`, the proxy helpers); `prop.rs` the property-info builder
//! (`libvarpd_prop.c`); `propval.rs` how every plugin encodes, decodes and
//! checks property values and saved state.

mod prop;
mod propval;
mod provider;
mod query;

use std::fmt;
use std::sync::Arc;

use overlay_sys::OVERLAY_PROP_NAMELEN;

use crate::errno::Errno;
use crate::kdev::KDev;
use crate::ksys::{self, TargetPoint};

pub use crate::ksys::{
    OVERLAY_PLUGIN_D_ETHERNET, OVERLAY_PLUGIN_D_INVALID, OVERLAY_PLUGIN_D_IP,
    OVERLAY_PLUGIN_D_MASK, OVERLAY_PLUGIN_D_PORT,
};
pub use prop::PropHandle;
pub use propval::{
    in6_is_addr_6to4, in6_is_addr_v4compat, prop_get_ip, prop_get_string, prop_get_uint,
    prop_set_ip, prop_set_port, prop_set_string, prop_set_uint, saved_ip, saved_string, saved_uint,
    SavedObject, PROP_IP_SIZE, PROP_UINT_SIZE,
};
pub use provider::ProviderHandle;
pub use query::{ArpQuery, DhcpQuery, Query};

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

    /// Counters of the whole plugin for `varpd stats` (an extension; no
    /// illumos entry point): `(name, value)`, names without white space.
    fn counters(&self) -> Vec<(String, u64)> {
        Vec::new()
    }
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
    /// Counters and state of this instance for `varpd stats` (an
    /// extension, like [`SearchPlugin::counters`]).
    fn counters(&self) -> Vec<(String, u64)> {
        Vec::new()
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

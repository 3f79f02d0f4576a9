//! Encapsulation plugins: the trait mirroring `overlay_plugin_ops_t`, the
//! registration structure and its validation (`overlay_plugin_register`),
//! and the registry devices take their plugin from.
//!
//! A plugin answers "how to put a frame on the wire". It is split in two
//! traits: [`EncapPlugin`] holds the per-plugin ops (`init`, `decap` — which
//! illumos calls with a NULL instance — and `propinfo`), and
//! [`EncapInstance`] is what `init` returns for one device (`encap`,
//! `socket`, `sockopt`, `getprop`, `setprop`; dropping it is `fini`). A new
//! encapsulation (Geneve, NVGRE) is one file implementing both, registered
//! with [`crate::Overlay::plugin_register`].
//!
//! Each registered plugin counts the devices using it (`active`); a plugin
//! with devices cannot be unregistered (`EBUSY`).

use crate::errno::Errno;
use crate::kmutex::KMutex;
use crate::msgblk::MsgBlk;
use crate::platform::{SocketParams, TxHdr};
use crate::prop::PropHandle;
use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};
use overlay_sys::{OVEP_F_VLAN_TAG, OVEP_VERSION, OVERLAY_PLUGIN_D_MASK, OVERLAY_PROP_NAMELEN};

/// `ovep_encap_info_t`: the virtual network id and header size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EncapInfo {
    pub id: u64,
    pub hdr_size: usize,
}

/// The setter a plugin's `sockopt` op receives: `(level, name, value)`
/// with illumos numbers, as `ksocket_setsockopt` takes them.
pub type SockoptSetter<'a> = dyn FnMut(i32, i32, &[u8]) -> Result<(), Errno> + 'a;

/// Per-plugin operations.
pub trait EncapPlugin: Send + Sync + 'static {
    /// `ovpo_init`: a new instance for one device.
    fn init(&self) -> Result<Box<dyn EncapInstance>, Errno>;
    /// `ovpo_decap`: parse the header at the start of `msg`; the vnetid and
    /// the bytes to strip. Must never panic on any input.
    fn decap(&self, msg: &MsgBlk) -> Result<EncapInfo, Errno>;
    /// `ovpo_propinfo`: describe property `name`; unknown → `EINVAL`.
    fn propinfo(&self, name: &str, ph: &mut PropHandle<'_>) -> Result<(), Errno>;
}

/// One device's plugin instance. Dropping it is `ovpo_fini`.
pub trait EncapInstance: Send + Sync {
    /// `ovpo_encap`: prepend the header for `info.id` to `msg`.
    fn encap(&self, msg: &mut MsgBlk, info: &EncapInfo) -> Result<(), Errno>;
    /// Extension: the outer TOS and TTL for the inner frame `msg` (called
    /// before `encap`). The default is illumos' behaviour: the stack's.
    fn tx_hdr(&self, _msg: &MsgBlk) -> TxHdr {
        TxHdr::default()
    }
    /// The transmit path's call: `tx_hdr` then `encap`, in one call so a
    /// plugin can read its settings once per frame. Plugins override it
    /// only to go faster; the result must equal the default's.
    fn encap_tx(&self, msg: &mut MsgBlk, info: &EncapInfo) -> Result<TxHdr, Errno> {
        let hdr = self.tx_hdr(msg);
        self.encap(msg, info)?;
        Ok(hdr)
    }
    /// Extension: whether received datagrams get RFC 6040 decapsulation
    /// (the mux asks only when the outer ECN field is ECT(1) or CE).
    fn ecn_decap(&self) -> bool {
        false
    }
    /// `ovpo_socket`: the mux socket this instance needs.
    fn socket(&self) -> Result<SocketParams, Errno>;
    /// `ovpo_sockopt` (optional): called once on a new mux socket with a
    /// setter `(level, name, value)`.
    fn sockopt(&self, _set: &mut SockoptSetter<'_>) -> Result<(), Errno> {
        Ok(())
    }
    /// `ovpo_getprop`: write the value into `buf` (256 bytes) and return its
    /// size (0 = unset).
    fn getprop(&self, name: &str, buf: &mut [u8]) -> Result<usize, Errno>;
    /// `ovpo_setprop`: validate and set.
    fn setprop(&self, name: &str, val: &[u8]) -> Result<(), Errno>;
}

/// `overlay_plugin_register_t`.
#[derive(Clone)]
pub struct OverlayPluginRegister {
    pub ovep_version: u32,
    pub ovep_name: Option<&'static str>,
    pub ovep_ops: Option<Arc<dyn EncapPlugin>>,
    /// `ovpo_callbacks`: must be 0.
    pub ovep_callbacks: u32,
    pub ovep_props: &'static [&'static str],
    pub ovep_id_size: u32,
    pub ovep_flags: u32,
    pub ovep_dest: u32,
}

/// `overlay_plugin_alloc`: a blank registration, or `None` (the plugin
/// then fails with `ENOTSUP`) for an unknown version.
pub fn overlay_plugin_alloc(version: u32) -> Option<OverlayPluginRegister> {
    if version != OVEP_VERSION {
        return None;
    }
    Some(OverlayPluginRegister {
        ovep_version: version,
        ovep_name: None,
        ovep_ops: None,
        ovep_callbacks: 0,
        ovep_props: &[],
        ovep_id_size: 0,
        ovep_flags: 0,
        ovep_dest: 0,
    })
}

/// A registered plugin (`overlay_plugin_t`).
pub struct OverlayPlugin {
    pub name: &'static str,
    pub ops: Arc<dyn EncapPlugin>,
    pub props: &'static [&'static str],
    pub id_size: u32,
    pub flags: u32,
    pub dest: u32,
    active: AtomicU32,
}

impl OverlayPlugin {
    /// Largest valid virtual network id: 2^(8·id_size) − 1.
    pub fn max_vnetid(&self) -> u64 {
        if self.id_size >= 8 {
            u64::MAX
        } else {
            (1u64 << (8 * self.id_size)) - 1
        }
    }

    /// Number of plugin properties.
    pub fn nprops(&self) -> usize {
        self.props.len()
    }

    /// Devices using the plugin.
    pub fn active(&self) -> u32 {
        self.active.load(Ordering::Relaxed)
    }

    pub(crate) fn active_counter(&self) -> &AtomicU32 {
        &self.active
    }
}

/// The plugin registry (`overlay_plugin_list`).
pub struct PluginRegistry {
    list: KMutex<Vec<Arc<OverlayPlugin>>>,
}

impl Default for PluginRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl PluginRegistry {
    pub const fn new() -> Self {
        PluginRegistry {
            list: KMutex::new(Vec::new()),
        }
    }

    /// `overlay_plugin_register` with its checks, in order.
    pub fn register(&self, reg: &OverlayPluginRegister) -> Result<(), Errno> {
        if reg.ovep_version != OVEP_VERSION {
            return Err(Errno::EINVAL);
        }
        let (Some(name), Some(ops)) = (reg.ovep_name, reg.ovep_ops.as_ref()) else {
            return Err(Errno::EINVAL);
        };
        if reg.ovep_flags & !OVEP_F_VLAN_TAG != 0 {
            return Err(Errno::EINVAL);
        }
        if reg.ovep_id_size < 1 {
            return Err(Errno::EINVAL);
        }
        if reg.ovep_id_size > 8 {
            return Err(Errno::ENOTSUP);
        }
        if reg.ovep_dest == 0 || reg.ovep_dest & !OVERLAY_PLUGIN_D_MASK != 0 {
            return Err(Errno::EINVAL);
        }
        if reg.ovep_callbacks != 0 {
            return Err(Errno::EINVAL);
        }
        // An empty name would make the plugin unreachable by CREATE.
        if name.is_empty() || name.contains('/') {
            return Err(Errno::EINVAL);
        }
        // (§16 #7: the original released a lock it did not hold here.)
        if reg
            .ovep_props
            .iter()
            .any(|p| p.len() >= OVERLAY_PROP_NAMELEN)
        {
            return Err(Errno::EINVAL);
        }
        let mut l = self.list.lock();
        if l.iter().any(|p| p.name == name) {
            return Err(Errno::EEXIST);
        }
        l.push(Arc::new(OverlayPlugin {
            name,
            ops: ops.clone(),
            props: reg.ovep_props,
            id_size: reg.ovep_id_size,
            flags: reg.ovep_flags,
            dest: reg.ovep_dest,
            active: AtomicU32::new(0),
        }));
        Ok(())
    }

    /// `overlay_plugin_unregister`.
    pub fn unregister(&self, name: &str) -> Result<(), Errno> {
        let mut l = self.list.lock();
        let i = l.iter().position(|p| p.name == name).ok_or(Errno::ENOENT)?;
        if l[i].active() > 0 {
            return Err(Errno::EBUSY);
        }
        l.remove(i);
        Ok(())
    }

    /// `overlay_plugin_lookup`: find by name and take an active reference.
    pub fn lookup(&self, name: &str) -> Option<Arc<OverlayPlugin>> {
        let l = self.list.lock();
        let p = l.iter().find(|p| p.name == name)?;
        p.active.fetch_add(1, Ordering::Relaxed);
        Some(p.clone())
    }

    /// Names of all registered plugins, in registration order.
    pub fn names(&self) -> Vec<&'static str> {
        self.list.lock().iter().map(|p| p.name).collect()
    }
}

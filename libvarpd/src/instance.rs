//! Instances (`varpd_instance_t`, libvarpd.c).
//!
//! An instance binds one search-plugin instance to one overlay device. It is
//! known by a 64-bit id (allocated in `[1, INT32_MAX]`, what the kernel
//! reports as `varpd/id`) and by the overlay's datalink id; both are unique.
//! Its life, driven through the door by dladm (§6.4):
//!
//! * **create**: plugin lookup → `OVERLAY_TARG_INFO` (dest, vnetid) → id →
//!   `vpo_create`. Not persisted, not associated.
//! * **activate**: `vpo_start` → persist → `OVERLAY_TARG_ASSOCIATE` (POINT
//!   plugins give their `vpo_default` point) → ACTIVATED.
//! * **destroy**: unindex; if ACTIVATED, remove the state file and
//!   `vpo_stop`; always `vpo_destroy` (fixing §12 #4).
//!
//! Property changes are refused with `EBUSY` once the instance is activated
//! (§12 #5): the kernel point and the state file would silently diverge.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::plugin::{Dest, Plugin, ProviderHandle, SearchInstance, TargetMode};

/// One varpd instance.
pub struct Instance {
    /// `vri_id`.
    pub id: u64,
    /// `vri_linkid`: the overlay's datalink id.
    pub linkid: u32,
    /// `vri_vnetid`.
    pub vnetid: u64,
    /// `vri_dest`: what the encapsulation needs (`oti_needs`).
    pub dest: Dest,
    /// `vri_mode`: the plugin's mode.
    pub mode: TargetMode,
    /// `vri_plugin`.
    pub plugin: Plugin,
    /// The handle given to the plugin.
    pub hdl: ProviderHandle,
    /// `vri_private`: the plugin's instance.
    pub private: Arc<dyn SearchInstance>,
    activated: AtomicBool,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("id", &self.id)
            .field("linkid", &self.linkid)
            .field("plugin", &self.plugin.name)
            .field("activated", &self.is_activated())
            .finish()
    }
}

impl Instance {
    pub(crate) fn new(
        id: u64,
        linkid: u32,
        vnetid: u64,
        dest: Dest,
        plugin: Plugin,
        hdl: ProviderHandle,
        private: Arc<dyn SearchInstance>,
    ) -> Instance {
        hdl.bind(&private);
        Instance {
            id,
            linkid,
            vnetid,
            dest,
            mode: plugin.mode,
            plugin,
            hdl,
            private,
            activated: AtomicBool::new(false),
        }
    }

    /// `VARPD_INSTANCE_F_ACTIVATED`.
    pub fn is_activated(&self) -> bool {
        self.activated.load(Ordering::SeqCst)
    }

    pub(crate) fn set_activated(&self, on: bool) -> bool {
        self.activated.swap(on, Ordering::SeqCst)
    }
}

//! The overlay driver core: the illumos `overlay` driver and its `vxlan`
//! plugin (`uts/common/io/overlay`), as a `no_std` + `alloc` library that
//! three hosts embed: the illumos kernel module (`kernel/kmod`, feature
//! `kernel`), `fkoverlayd` on Linux and the tests (feature `std`).
//!
//! Theory of operation. [`Overlay`] is the driver's global state: the device
//! list, the encapsulation-plugin registry, the mux list, the target
//! globals (lookup queue, `/dev/overlay` handles) and the FMA count. A host
//! creates it with its [`Platform`] (the services the driver needs: MAC
//! registration, `mac_rx`, underlay sockets, FMA) and then routes to it:
//!
//! * `/dev/dld` management ioctls → [`Overlay::dld_ioctl`] (dld's whole
//!   rule: table size, zeroed buffer, copy-in, handler, copy-out even on
//!   error) or [`Overlay::dld_ioc_dispatch`] (the handler alone, for hosts
//!   where dld already copied the buffer);
//! * `/dev/overlay` open/close/ioctl → [`Overlay::targ_open`],
//!   [`Overlay::targ_close`], [`Overlay::targ_ioctl`] (with a [`UserIo`]
//!   for the caller's memory);
//! * MAC provider callbacks → the [`OverlayDev`] methods (`m_start`,
//!   `m_stop`, `m_tx`, `m_setprop_mtu`, ...), reached through the
//!   [`DevHandle`] given to `mac_register`;
//! * received datagrams → [`OverlayMux::recv`] on the [`MuxHandle`] given to
//!   `socket_open`.
//!
//! Module map, one concept per file, named after the illumos source:
//! `dev` (overlay.c's device and `overlay_m_*`), `ecn` (RFC 6040 on
//! header bytes) and `flood` (head-end replication), both extensions,
//! `dld` and `props`
//! (overlay.c's ioctls and properties), `plugin`/`prop`/`vxlan`
//! (overlay_plugin.c, overlay_prop.c, overlay_vxlan.c), `mux`
//! (overlay_mux.c), `target` (the target and its cache), `targ` (handles,
//! lookup queue, ioctl dispatch), `targ_req` (LOOKUP … RESEND) and
//! `targ_cache` (CACHE_*), together overlay_target.c, `fm`
//! (overlay_fm.c), `bufuserio` (an in-memory [`UserIo`]); the synonym
//! types `kmutex`, `kcondvar`, `moment`, `msgblk` pick their backend at
//! compile time.
//!
//! Layering (no import circles): `dev` owns the data path and calls down
//! into `flood`, `mux` and `target`; the mux is generic over its device
//! type, which it knows only through the `MuxDev` trait (the crate root
//! names the instance, [`OverlayMux`]); a target never sees its device
//! (a lookup request carries it); and `flood_send` is handed the
//! platform, socket, plugin instance and counters by the device.
#![no_std]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

// Public so the kernel module (kernel/kmod) declares the STREAMS FFI
// (`mblk_t`, `allocb`, ...) through `illumos::ffi` instead of a second copy.
#[cfg(feature = "kernel")]
pub mod illumos;

pub mod bufuserio;
#[cfg(not(all(feature = "kernel", not(feature = "std"))))]
pub mod dblk_vec;
pub mod dev;
pub mod dld;
pub mod ecn;
pub mod errno;
pub mod ether;
pub mod flood;
pub mod fm;
pub mod kcondvar;
pub mod kmutex;
pub mod mactable;
pub mod moment;
pub mod msgblk;
#[cfg(not(all(feature = "kernel", not(feature = "std"))))]
pub mod msgblk_chain_vec;
#[cfg(not(all(feature = "kernel", not(feature = "std"))))]
pub mod msgblk_vec;
pub mod mux;
pub mod once;
pub mod platform;
pub mod plugin;
pub mod prop;
pub mod props;
mod route;
pub mod stats;
#[cfg(not(any(feature = "std", feature = "kernel")))]
mod sync_spin;
#[cfg(feature = "std")]
mod sync_std;
pub mod targ;
pub mod targ_cache;
pub mod targ_req;
pub mod target;
#[cfg(any(test, feature = "std"))]
pub mod testing;
pub mod vxlan;

pub use bufuserio::BufUserIo;
pub use dev::OverlayDev;
pub use errno::Errno;
pub use msgblk::{MsgBlk, MsgBlkChain};
pub use overlay_sys as sys;
pub use platform::{Cred, MacRegistration, Platform, SockaddrIn6, SocketParams, TxHdr, UserIo};
pub use plugin::{EncapInfo, EncapInstance, EncapPlugin, OverlayPluginRegister};
pub use prop::PropHandle;
pub use stats::{DevCounters, MuxCounters};

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use kcondvar::KCondvar;
use kmutex::KMutex;
use plugin::PluginRegistry;

/// Headroom the driver gives frames it allocates (INJECT/RESEND), and
/// what hosts should give received and transmitted frames, so that
/// encapsulation prepends in place.
pub const FRAME_HEADROOM: usize = 128;

/// What `mac_register`'s driver-private points at.
pub type DevHandle<P> = Arc<OverlayDev<P>>;
/// The mux of this driver's devices ([`mux::OverlayMux`] over
/// [`OverlayDev`]).
pub type OverlayMux<P> = mux::OverlayMux<P, OverlayDev<P>>;
/// What `socket_open` hands the host for delivering datagrams.
pub type MuxHandle<P> = Arc<OverlayMux<P>>;

/// The driver's global state; see the crate comment.
pub struct Overlay<P: Platform> {
    pub(crate) platform: P,
    pub(crate) me: Weak<Overlay<P>>,
    /// All devices, in creation order (`overlay_dev_list`).
    pub(crate) devs: KMutex<Vec<DevHandle<P>>>,
    pub(crate) plugins: PluginRegistry,
    pub(crate) muxes: KMutex<mux::MuxList<P, OverlayDev<P>>>,
    /// Global target state: lookup queue, handles, exclusive flag.
    pub(crate) tg: KMutex<targ::TargGlobal<P>>,
    pub(crate) tcv: KCondvar,
    /// Number of degraded devices (`overlay_fm_count`).
    pub(crate) fm: KMutex<u32>,
}

impl<P: Platform> Overlay<P> {
    /// Global init (`_init`): empty lists, and the built-in `vxlan` plugin
    /// registered (what loading `/kernel/overlay/vxlan` does on illumos).
    pub fn new(platform: P) -> Arc<Self> {
        let o = Arc::new_cyclic(|me| Overlay {
            platform,
            me: me.clone(),
            devs: KMutex::new(Vec::new()),
            plugins: PluginRegistry::new(),
            muxes: KMutex::new(Vec::new()),
            tg: KMutex::new(targ::TargGlobal::new()),
            tcv: KCondvar::new(),
            fm: KMutex::new(0),
        });
        // Registering our own, valid, first plugin cannot fail.
        o.plugin_register(&vxlan::vxlan_registration())
            .expect("vxlan registration is valid");
        o
    }

    /// The host services.
    pub fn platform(&self) -> &P {
        &self.platform
    }

    pub(crate) fn arc(&self) -> Arc<Self> {
        // `&self` is only reachable through the Arc `new` returned.
        self.me.upgrade().expect("Overlay reached through its Arc")
    }

    /// `overlay_plugin_register`.
    pub fn plugin_register(&self, reg: &OverlayPluginRegister) -> Result<(), Errno> {
        self.plugins.register(reg)
    }

    /// `overlay_plugin_unregister`: `ENOENT`, or `EBUSY` while devices use it.
    pub fn plugin_unregister(&self, name: &str) -> Result<(), Errno> {
        self.plugins.unregister(name)
    }

    /// Names of the registered plugins.
    pub fn plugin_names(&self) -> Vec<&'static str> {
        self.plugins.names()
    }

    /// Any device exists or any `/dev/overlay` handle is open: detach must
    /// fail with `EBUSY`.
    pub fn busy(&self) -> bool {
        !self.devs.lock().is_empty() || !self.tg.lock().handles.is_empty()
    }

    /// The device with datalink id `linkid` (no hold taken).
    pub fn dev_by_linkid(&self, linkid: u32) -> Option<DevHandle<P>> {
        self.devs
            .lock()
            .iter()
            .find(|d| d.linkid == linkid)
            .cloned()
    }

    /// All devices, in creation order.
    pub fn devices(&self) -> Vec<DevHandle<P>> {
        self.devs.lock().clone()
    }

    /// `overlay_hold_by_dlid`: find and take a transient hold.
    pub(crate) fn dev_hold(&self, linkid: u32) -> Option<dev::DevHold<P>> {
        let l = self.devs.lock();
        let d = l.iter().find(|d| d.linkid == linkid)?;
        d.st.lock().refs += 1;
        Some(dev::DevHold(d.clone()))
    }
}

//! The driver core's `Platform` trait, implemented with the illumos DDI.
//!
//! [`KPlatform`] is a unit type: every service it provides is a kernel
//! interface reached through a handle the driver holds (`KMac`, `KSocket`)
//! or a module global (the attached dip, [`OVERLAY_DIP`], which attach and
//! detach in [`crate::dev`] set and clear; MAC registration and FMA act on
//! it). The MAC half lives in [`crate::mac`], the underlay socket half in
//! [`crate::ksock`], both generic over the platform; this file instantiates
//! them for `KPlatform` (owning MAC's callback table for its devices), ties
//! them to the trait and adds FMA.

use crate::ksock::{self, KSocket};
use crate::mac::{self, KMac, MacCallbacks};
use crate::sys::ddifm::{ddi_fm_service_impact, DDI_SERVICE_DEGRADED, DDI_SERVICE_RESTORED};
use crate::sys::types::dev_info_t;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};
use overlay::{DevHandle, Errno, MacRegistration, MsgBlk, MsgBlkChain, MuxHandle, Platform};
use overlay::{SockaddrIn6, SocketParams, TxHdr};

/// The attached dip (`overlay_dip`), NULL when detached.
pub static OVERLAY_DIP: AtomicPtr<dev_info_t> = AtomicPtr::new(ptr::null_mut());

/// MAC's callbacks for our devices (overlay.c's `overlay_m_callbacks`).
static OVERLAY_M_CALLBACKS: MacCallbacks<KPlatform> = mac::callbacks();

/// The illumos kernel as the driver's host.
pub struct KPlatform;

impl Platform for KPlatform {
    type Mac = KMac;
    type Socket = KSocket<KPlatform>;

    fn mac_register(&self, dev: &DevHandle<Self>, reg: &MacRegistration) -> Result<KMac, Errno> {
        let dip = OVERLAY_DIP.load(Ordering::Acquire);
        mac::register(dev, reg, dip, &OVERLAY_M_CALLBACKS)
    }

    fn mac_unregister(&self, m: &KMac) -> Result<(), Errno> {
        mac::unregister(m)
    }

    fn mac_link_update(&self, m: &KMac, up: bool) {
        mac::link_update(m, up)
    }

    fn mac_maxsdu_update(&self, m: &KMac, sdu: u32) -> Result<(), Errno> {
        mac::maxsdu_update(m, sdu)
    }

    fn mac_rx(&self, m: &KMac, chain: MsgBlkChain) {
        mac::rx(m, chain)
    }

    fn socket_open(
        &self,
        params: &SocketParams,
        mux: &MuxHandle<Self>,
    ) -> Result<KSocket<KPlatform>, Errno> {
        ksock::open(params, mux)
    }

    fn socket_setopt(
        &self,
        s: &KSocket<KPlatform>,
        level: i32,
        name: i32,
        val: &[u8],
    ) -> Result<(), Errno> {
        ksock::setopt(s, level, name, val)
    }

    fn socket_send(
        &self,
        s: &KSocket<KPlatform>,
        dst: &SockaddrIn6,
        msg: MsgBlk,
        hdr: TxHdr,
    ) -> Result<(), Errno> {
        ksock::send(s, dst, msg, hdr)
    }

    fn socket_close(&self, s: KSocket<KPlatform>) {
        ksock::close(s)
    }

    /// `ddi_fm_service_impact` for the whole instance (overlay_fm.c).
    fn fm_service_impact(&self, degraded: bool) {
        let dip = OVERLAY_DIP.load(Ordering::Acquire);
        if dip.is_null() {
            return;
        }
        let svc = if degraded {
            DDI_SERVICE_DEGRADED
        } else {
            DDI_SERVICE_RESTORED
        };
        // SAFETY: dip is the attached instance (cleared only at detach,
        // which cannot run while devices exist).
        unsafe { ddi_fm_service_impact(dip, svc) }
    }
}

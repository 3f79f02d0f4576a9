//! The GLDv3 MAC provider side of each overlay device (spec kernel.md §11).
//!
//! `register` fills a `mac_register_t` with the §11.1 values the driver
//! chose (Ethernet, all-zero source address, SDU, margin, `MAC_VIRT_NONE`),
//! registers it, and creates the datalink in DLS under the caller's link
//! id and zone. The MAC driver-private pointer is the device itself
//! (`Arc::as_ptr` of its `DevHandle`, not a counted reference: the driver
//! keeps the device alive until `unregister` has returned, after which MAC
//! makes no more callbacks, so no reference cycle is needed).
//!
//! The callbacks translate MAC's C calls into the device's `m_*` methods:
//! `mc_getstat` ENOTSUP, `mc_start`/`mc_stop` join/leave the mux,
//! promisc/multicast/unicast accepted, `mc_tx` takes the whole chain,
//! `mc_ioctl` NAKs with ENOTSUP, `mc_getcapab` true only for
//! `MAC_CAPAB_OVERLAY`, `mc_setprop`/`mc_propinfo` handle `MAC_PROP_MTU`,
//! `mc_getprop` ENOTSUP (MAC answers the MTU itself).
//!
//! This module is generic over the driver's `Platform`, so it never names
//! the host that uses it: the callbacks are instantiated for the platform
//! `P` whose devices they serve, and that host owns the one callback table
//! ([`MacCallbacks`]) and the attached dip, and passes both to
//! [`register`] ([`crate::platform`] for `KPlatform`).

use crate::cell::Global;
use crate::sys::dls::{dls_devnet_create, dls_devnet_destroy};
use crate::sys::mac::*;
use crate::sys::stream::mblk_t;
use crate::sys::types::*;
use core::marker::PhantomData;
use core::ptr;
use overlay::sys::errno::{EINVAL, ENOTSUP};
use overlay::{DevHandle, Errno, MacRegistration, MsgBlkChain, OverlayDev, Platform};

/// One registered MAC and its DLS link.
pub struct KMac {
    mh: mac_handle_t,
    linkid: datalink_id_t,
    zoneid: zoneid_t,
}

// SAFETY: a mac_handle_t may be used from any thread; the MAC framework
// does its own locking.
unsafe impl Send for KMac {}
// SAFETY: as above; KMac is never mutated after creation.
unsafe impl Sync for KMac {}

fn errno(e: c_int) -> Result<(), Errno> {
    if e == 0 {
        Ok(())
    } else {
        Err(Errno(e))
    }
}

/// `mac_alloc` + `mac_register` + `dls_devnet_create` (overlay_i_create),
/// under the attached `dip`, with the callback table of `dev`'s platform.
pub fn register<P: Platform>(
    dev: &DevHandle<P>,
    reg: &MacRegistration,
    dip: *mut dev_info_t,
    callbacks: &'static MacCallbacks<P>,
) -> Result<KMac, Errno> {
    // SAFETY: mac_alloc has no preconditions; NULL means the version is
    // unsupported, which overlay.c reports as EINVAL.
    let m = unsafe { mac_alloc(MAC_VERSION) };
    if m.is_null() {
        return Err(Errno(EINVAL));
    }
    // mac_register copies the address before returning.
    let mut src = reg.src_addr;
    let mut mh: mac_handle_t = ptr::null_mut();
    // SAFETY: m is a live mac_register_t from mac_alloc; every pointer
    // stored in it is valid for the mac_register call (callbacks and the
    // type name are static; the driver-private device outlives the
    // registration, see the module comment; the callbacks are the ones
    // instantiated for P, so they read m_driver as the OverlayDev<P> it
    // is); mac_free releases it.
    let err = unsafe {
        (*m).m_type_ident = MAC_PLUGIN_IDENT_ETHER.as_ptr();
        (*m).m_driver = alloc::sync::Arc::as_ptr(dev) as *mut c_void;
        (*m).m_dip = dip;
        (*m).m_instance = uint_t::MAX;
        (*m).m_src_addr = src.as_mut_ptr();
        (*m).m_dst_addr = ptr::null_mut();
        (*m).m_callbacks = callbacks.0.get();
        (*m).m_min_sdu = reg.min_sdu;
        (*m).m_max_sdu = reg.max_sdu;
        (*m).m_multicast_sdu = reg.multicast_sdu;
        (*m).m_pdata = ptr::null_mut();
        (*m).m_pdata_size = 0;
        (*m).m_priv_props = ptr::null_mut();
        (*m).m_margin = reg.margin;
        (*m).m_v12n = MAC_VIRT_NONE;
        let err = mac_register(m, &mut mh);
        mac_free(m);
        err
    };
    errno(err)?;
    let zoneid = reg.zoneid as zoneid_t;
    // SAFETY: mh was just registered; on failure it is unregistered again
    // before anything else could have opened it by link id.
    let err = unsafe { dls_devnet_create(mh, reg.linkid, zoneid) };
    if err != 0 {
        // SAFETY: as above.
        unsafe { mac_unregister(mh) };
        return Err(Errno(err));
    }
    Ok(KMac {
        mh,
        linkid: reg.linkid,
        zoneid,
    })
}

/// `dls_devnet_destroy` + `mac_disable` + `mac_unregister`
/// (overlay_i_delete). If MAC refuses (clients remain), the DLS link is
/// re-created and nothing has changed.
pub fn unregister(m: &KMac) -> Result<(), Errno> {
    let mut tid: datalink_id_t = 0;
    // SAFETY: m.mh is a live registration with a DLS link; wait = B_TRUE.
    errno(unsafe { dls_devnet_destroy(m.mh, &mut tid, B_TRUE) })?;
    // SAFETY: as above; mac_disable fails (EBUSY) while clients exist.
    let err = unsafe { mac_disable(m.mh) };
    if err != 0 {
        // SAFETY: restores the link destroyed above.
        unsafe { dls_devnet_create(m.mh, m.linkid, m.zoneid) };
        return Err(Errno(err));
    }
    // SAFETY: a disabled MAC can always be unregistered; afterwards no
    // callback runs and the handle is dead (KMac is never used again).
    let err = unsafe { mac_unregister(m.mh) };
    if err != 0 {
        crate::log::warn(format_args!("mac_unregister failed: {err}"));
    }
    Ok(())
}

pub fn link_update(m: &KMac, up: bool) {
    let st = if up { LINK_STATE_UP } else { LINK_STATE_DOWN };
    // SAFETY: live registration.
    unsafe { mac_link_update(m.mh, st) }
}

pub fn maxsdu_update(m: &KMac, sdu: u32) -> Result<(), Errno> {
    // SAFETY: live registration.
    errno(unsafe { mac_maxsdu_update(m.mh, sdu) })
}

pub fn rx(m: &KMac, chain: MsgBlkChain) {
    if chain.is_empty() {
        return;
    }
    let mp = chain.into_raw().cast::<mblk_t>();
    // SAFETY: live registration; mac_rx takes ownership of the chain.
    unsafe { mac_rx(m.mh, ptr::null_mut(), mp) }
}

/// The device behind MAC's driver-private pointer.
///
/// # Safety
/// `arg` must be the `m_driver` of a live registration of a device of
/// platform `P` (the callbacks of [`MacCallbacks<P>`] are only ever
/// registered with such a device, see [`register`]): MAC only calls the
/// callbacks between `mac_register` and `mac_unregister`, and the driver
/// keeps the device alive for that whole time.
unsafe fn dev<'a, P: Platform>(arg: *mut c_void) -> &'a OverlayDev<P> {
    // SAFETY: caller contract.
    unsafe { &*(arg as *const OverlayDev<P>) }
}

fn to_c(r: Result<(), Errno>) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => e.0,
    }
}

unsafe extern "C" fn overlay_m_stat<P: Platform>(
    arg: *mut c_void,
    stat: uint_t,
    val: *mut u64,
) -> c_int {
    // SAFETY: MAC callback contract (see dev()).
    match unsafe { dev::<P>(arg) }.m_getstat(stat) {
        Ok(v) => {
            // SAFETY: MAC passes a valid out-pointer.
            unsafe { *val = v };
            0
        }
        Err(e) => e.0,
    }
}

unsafe extern "C" fn overlay_m_start<P: Platform>(arg: *mut c_void) -> c_int {
    // SAFETY: MAC callback contract.
    to_c(unsafe { dev::<P>(arg) }.m_start())
}

unsafe extern "C" fn overlay_m_stop<P: Platform>(arg: *mut c_void) {
    // SAFETY: MAC callback contract.
    unsafe { dev::<P>(arg) }.m_stop()
}

unsafe extern "C" fn overlay_m_promisc<P: Platform>(arg: *mut c_void, on: boolean_t) -> c_int {
    // SAFETY: MAC callback contract.
    to_c(unsafe { dev::<P>(arg) }.m_setpromisc(on != B_FALSE))
}

unsafe extern "C" fn overlay_m_multicast<P: Platform>(
    arg: *mut c_void,
    add: boolean_t,
    addr: *const u8,
) -> c_int {
    if addr.is_null() {
        return EINVAL;
    }
    // SAFETY: MAC passes a 6-byte Ethernet address.
    let a = unsafe { &*(addr as *const [u8; 6]) };
    // SAFETY: MAC callback contract.
    to_c(unsafe { dev::<P>(arg) }.m_multicst(add != B_FALSE, a))
}

unsafe extern "C" fn overlay_m_unicast<P: Platform>(arg: *mut c_void, addr: *const u8) -> c_int {
    if addr.is_null() {
        return EINVAL;
    }
    // SAFETY: MAC passes a 6-byte Ethernet address.
    let a = unsafe { &*(addr as *const [u8; 6]) };
    // SAFETY: MAC callback contract.
    to_c(unsafe { dev::<P>(arg) }.m_unicst(a))
}

unsafe extern "C" fn overlay_m_tx<P: Platform>(arg: *mut c_void, mp: *mut mblk_t) -> *mut mblk_t {
    // SAFETY: MAC hands us ownership of the b_next chain.
    let chain = unsafe { MsgBlkChain::from_raw(mp.cast()) };
    // SAFETY: MAC callback contract. The driver consumes the whole chain
    // (frames it cannot send are dropped and counted), so nothing is
    // handed back for flow control.
    unsafe { dev::<P>(arg) }.m_tx(chain);
    ptr::null_mut()
}

unsafe extern "C" fn overlay_m_ioctl(_arg: *mut c_void, q: *mut queue_t, mp: *mut mblk_t) {
    // SAFETY: q and mp are the M_IOCTL MAC passes; miocnak consumes mp.
    unsafe { miocnak(q, mp, 0, ENOTSUP) }
}

unsafe extern "C" fn overlay_m_getcapab<P: Platform>(
    arg: *mut c_void,
    cap: mac_capab_t,
    _data: *mut c_void,
) -> boolean_t {
    // SAFETY: MAC callback contract.
    if cap == MAC_CAPAB_OVERLAY && unsafe { dev::<P>(arg) }.m_getcapab_overlay() {
        B_TRUE
    } else {
        B_FALSE
    }
}

unsafe extern "C" fn overlay_m_setprop<P: Platform>(
    arg: *mut c_void,
    _name: *const c_char,
    num: mac_prop_id_t,
    valsize: uint_t,
    val: *const c_void,
) -> c_int {
    if num != MAC_PROP_MTU {
        return ENOTSUP;
    }
    if val.is_null() || (valsize as usize) < core::mem::size_of::<u32>() {
        return EINVAL;
    }
    // SAFETY: MAC passes at least valsize >= 4 readable bytes.
    let mtu = unsafe { (val as *const u32).read_unaligned() };
    // SAFETY: MAC callback contract.
    to_c(unsafe { dev::<P>(arg) }.m_setprop_mtu(mtu))
}

unsafe extern "C" fn overlay_m_getprop(
    _arg: *mut c_void,
    _name: *const c_char,
    _num: mac_prop_id_t,
    _valsize: uint_t,
    _val: *mut c_void,
) -> c_int {
    ENOTSUP
}

unsafe extern "C" fn overlay_m_propinfo<P: Platform>(
    arg: *mut c_void,
    _name: *const c_char,
    num: mac_prop_id_t,
    prh: mac_prop_info_handle_t,
) {
    if num != MAC_PROP_MTU {
        return;
    }
    // SAFETY: MAC callback contract.
    let (def, min, max) = unsafe { dev::<P>(arg) }.m_propinfo_mtu();
    // SAFETY: prh is the live handle MAC passed.
    unsafe {
        mac_prop_info_set_default_uint32(prh, def);
        mac_prop_info_set_range_uint32(prh, min, max);
    }
}

/// overlay.c's `overlay_m_callbacks`, with the callbacks instantiated for
/// platform `P`. The host of `P` keeps the one instance in a `static` (MAC
/// needs it at a fixed, writable address) made by [`callbacks`].
pub struct MacCallbacks<P>(Global<mac_callbacks_t>, PhantomData<P>);

/// The callback table for devices of platform `P`.
pub const fn callbacks<P: Platform>() -> MacCallbacks<P> {
    MacCallbacks(
        Global::new(mac_callbacks_t {
            mc_callbacks: MC_IOCTL | MC_GETCAPAB | MC_SETPROP | MC_GETPROP | MC_PROPINFO,
            mc_getstat: Some(overlay_m_stat::<P>),
            mc_start: Some(overlay_m_start::<P>),
            mc_stop: Some(overlay_m_stop::<P>),
            mc_setpromisc: Some(overlay_m_promisc::<P>),
            mc_multicst: Some(overlay_m_multicast::<P>),
            mc_unicst: Some(overlay_m_unicast::<P>),
            mc_tx: Some(overlay_m_tx::<P>),
            mc_reserved: ptr::null_mut(),
            mc_ioctl: Some(overlay_m_ioctl),
            mc_getcapab: Some(overlay_m_getcapab::<P>),
            mc_open: None,
            mc_close: None,
            mc_setprop: Some(overlay_m_setprop::<P>),
            mc_getprop: Some(overlay_m_getprop),
            mc_propinfo: Some(overlay_m_propinfo::<P>),
        }),
        PhantomData,
    )
}

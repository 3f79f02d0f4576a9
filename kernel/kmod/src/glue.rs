//! The driver instance and the calls into it.
//!
//! `_init` creates the one `Overlay<KPlatform>` (the driver's global state:
//! device list, plugin registry with VXLAN, muxes, target globals, FMA
//! count) and publishes it here; `_fini`, after `mod_remove` succeeded
//! (so no entry point can run), takes it back and drops it. Every entry
//! point reaches it through [`ovl`]. The credential of each caller is
//! judged here, once, into the driver's `Cred`: `secpolicy_dl_config` and
//! the zone.

use crate::platform::KPlatform;
use crate::sys::cred::crgetzoneid;
use crate::sys::ddi::OTYP_BLK;
use crate::sys::policy::secpolicy_dl_config;
use crate::sys::types::*;
use alloc::sync::Arc;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};
use overlay::sys::errno::ENXIO;
use overlay::{Cred, Errno, Overlay, UserIo};

static OVERLAY: AtomicPtr<Overlay<KPlatform>> = AtomicPtr::new(ptr::null_mut());

/// The driver, between `_init` and `_fini`.
pub fn ovl() -> Option<&'static Overlay<KPlatform>> {
    let p = OVERLAY.load(Ordering::Acquire);
    // SAFETY: a non-null pointer came from Arc::into_raw in global_init and
    // stays valid until global_fini, which runs only after mod_remove, when
    // no entry point can be running or start.
    unsafe { p.as_ref() }
}

/// Global driver state, built in `_init`.
pub fn global_init() -> Result<(), c_int> {
    let o = Overlay::new(KPlatform);
    let p = Arc::into_raw(o) as *mut Overlay<KPlatform>;
    if OVERLAY
        .compare_exchange(ptr::null_mut(), p, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        // SAFETY: p came from Arc::into_raw just above and was not shared.
        drop(unsafe { Arc::from_raw(p) });
        return Err(overlay::sys::errno::EBUSY);
    }
    Ok(())
}

/// Tears down what `global_init` built (after `mod_remove`).
pub fn global_fini() {
    let p = OVERLAY.swap(ptr::null_mut(), Ordering::AcqRel);
    if !p.is_null() {
        // SAFETY: p came from Arc::into_raw in global_init; nothing can use
        // it any more (see ovl()).
        drop(unsafe { Arc::from_raw(p) });
    }
}

/// Whether detach must fail with EBUSY: devices exist or handles are open.
pub fn busy() -> bool {
    ovl().is_some_and(|o| o.busy())
}

/// The driver's view of a kernel credential.
pub(crate) fn cred(cr: *mut cred_t) -> Cred {
    // SAFETY: the kernel passes a valid credential to every entry point.
    let (dl, zone) = unsafe { (secpolicy_dl_config(cr), crgetzoneid(cr)) };
    Cred {
        dl_config: dl == 0,
        zoneid: u32::try_from(zone).unwrap_or(u32::MAX),
    }
}

fn to_c(r: Result<(), Errno>) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => e.0,
    }
}

/// A dld management ioctl, with dld's kernel buffer.
pub(crate) fn dld_dispatch(cmd: u32, kbuf: &mut [u8], cr: *mut cred_t) -> c_int {
    match ovl() {
        Some(o) => to_c(o.dld_ioc_dispatch(cmd, kbuf, &cred(cr))),
        None => ENXIO,
    }
}

/// open(9E) of `/dev/overlay`: the new clone minor.
pub(crate) fn targ_open(
    minor: minor_t,
    flag: c_int,
    otyp: c_int,
    cr: *mut cred_t,
) -> Result<minor_t, c_int> {
    let o = ovl().ok_or(ENXIO)?;
    o.targ_open(minor, otyp == OTYP_BLK, flag as u32, &cred(cr))
        .map_err(|e| e.0)
}

/// close(9E) of a clone minor.
pub fn targ_close(minor: minor_t) -> c_int {
    if let Some(o) = ovl() {
        o.targ_close(minor);
    }
    0
}

/// ioctl(9E) on a clone minor; `uio` reaches the caller's memory (the
/// entry point builds it from the ioctl's argument and mode).
pub(crate) fn targ_ioctl(minor: minor_t, cmd: u32, uio: &mut dyn UserIo, cr: *mut cred_t) -> c_int {
    let Some(o) = ovl() else {
        return ENXIO;
    };
    to_c(o.targ_ioctl(minor, cmd, uio, &cred(cr)))
}

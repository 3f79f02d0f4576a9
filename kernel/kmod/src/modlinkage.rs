//! Module linkage: `_init`, `_info`, `_fini` (overlay.c's counterparts).
//!
//! `_init` builds the driver's global state, calls `mac_init_ops(NULL,
//! "overlay")` as overlay.c does (NULL: MAC must not take over our
//! `cb_ops`, which serve `/dev/overlay`; the call only records the driver
//! name with MAC) and installs the module; a failed `mod_install` tears the
//! globals down again. `_fini` removes the module first (the kernel refuses
//! while the driver is attached or busy) and only then tears the globals
//! down.

use crate::cell::Global;
use crate::dev::OVERLAY_DEV_OPS;
use crate::glue;
use crate::sys::mac::mac_init_ops;
use crate::sys::modctl::{
    mod_driverops, mod_info, mod_install, mod_remove, modinfo, modldrv, modlinkage, ML_LINKAGE_LEN,
    MODREV_1,
};
use core::ffi::{c_int, c_void};
use core::ptr;

static OVERLAY_MODLDRV: Global<modldrv> = Global::new(modldrv {
    // SAFETY (of the static initialiser): only the address of the kernel's
    // mod_driverops is taken.
    drv_modops: ptr::addr_of!(mod_driverops),
    drv_linkinfo: c"Overlay Network Driver".as_ptr(),
    drv_dev_ops: OVERLAY_DEV_OPS.get(),
});

static OVERLAY_MODLINKAGE: Global<modlinkage> = Global::new(modlinkage {
    ml_rev: MODREV_1,
    ml_linkage: {
        let mut l = [ptr::null::<c_void>(); ML_LINKAGE_LEN];
        l[0] = OVERLAY_MODLDRV.get() as *const c_void;
        l
    },
});

/// `_init(9E)`.
#[no_mangle]
pub unsafe extern "C" fn _init() -> c_int {
    if let Err(e) = glue::global_init() {
        return e;
    }
    // SAFETY: a NULL dev_ops is allowed (overlay.c passes NULL); the name
    // is a static C string.
    unsafe { mac_init_ops(ptr::null_mut(), c"overlay".as_ptr()) };
    // SAFETY: the linkage is a static, fully initialised structure.
    let err = unsafe { mod_install(OVERLAY_MODLINKAGE.get()) };
    if err != 0 {
        glue::global_fini();
    }
    err
}

/// `_info(9E)`.
#[no_mangle]
pub unsafe extern "C" fn _info(modinfop: *mut modinfo) -> c_int {
    // SAFETY: the kernel passes a valid modinfo; the linkage is static.
    unsafe { mod_info(OVERLAY_MODLINKAGE.get(), modinfop) }
}

/// `_fini(9E)`.
#[no_mangle]
pub unsafe extern "C" fn _fini() -> c_int {
    // SAFETY: the linkage is static; mod_remove fails (and we keep
    // everything) while the driver is attached or in use.
    let err = unsafe { mod_remove(OVERLAY_MODLINKAGE.get()) };
    if err != 0 {
        return err;
    }
    // The module is removed, so no entry point can run any more.
    glue::global_fini();
    0
}

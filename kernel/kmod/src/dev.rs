//! The device: `dev_ops`/`cb_ops`, getinfo, attach and detach (spec
//! kernel.md §2.2).
//!
//! There is exactly one instance (overlay.conf: `name="overlay"
//! parent="pseudo" instance=0`). Attach declares FMA capability, creates the
//! character minor node `overlay` (minor 0, the clone node varpd opens) and
//! registers the management ioctls with dld; detach refuses with `EBUSY`
//! while any overlay device exists or any `/dev/overlay` handle is open,
//! else undoes attach in reverse.

use crate::cell::Global;
use crate::platform::OVERLAY_DIP;
use crate::sys::ddi::*;
use crate::sys::ddifm::{ddi_fm_fini, ddi_fm_init, DDI_FM_EREPORT_CAPABLE};
use crate::sys::types::*;
use crate::{dld, glue, target};
use core::ptr;
use core::sync::atomic::Ordering;
use overlay_sys::errno::EBUSY;

/// The name of the minor node (`/devices/pseudo/overlay@0:overlay`).
const MINOR_NAME: &core::ffi::CStr = c"overlay";

unsafe extern "C" fn overlay_getinfo(
    _dip: *mut dev_info_t,
    cmd: ddi_info_cmd_t,
    _arg: *mut c_void,
    resultp: *mut *mut c_void,
) -> c_int {
    let v = match cmd {
        DDI_INFO_DEVT2DEVINFO => OVERLAY_DIP.load(Ordering::Acquire).cast::<c_void>(),
        DDI_INFO_DEVT2INSTANCE => ptr::null_mut(), // instance 0
        _ => return DDI_FAILURE,
    };
    // SAFETY: the kernel passes a valid result pointer.
    unsafe { *resultp = v };
    DDI_SUCCESS
}

unsafe extern "C" fn overlay_attach(dip: *mut dev_info_t, cmd: ddi_attach_cmd_t) -> c_int {
    if cmd != DDI_ATTACH {
        return DDI_FAILURE;
    }
    // SAFETY: dip is the kernel's valid dev_info for this attach.
    if unsafe { ddi_get_instance(dip) } != 0 {
        return DDI_FAILURE;
    }
    if OVERLAY_DIP
        .compare_exchange(ptr::null_mut(), dip, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return DDI_FAILURE;
    }
    let mut fmcap = DDI_FM_EREPORT_CAPABLE;
    // SAFETY: dip is valid; fmcap is a live in/out parameter; no interrupt
    // cookie is wanted (NULL), as in overlay.c.
    unsafe { ddi_fm_init(dip, &mut fmcap, ptr::null_mut()) };
    // SAFETY: dip is valid; the name and node type are static C strings.
    let r = unsafe {
        ddi_create_minor_node(dip, MINOR_NAME.as_ptr(), S_IFCHR, 0, DDI_PSEUDO.as_ptr(), 0)
    };
    if r != DDI_SUCCESS {
        // SAFETY: undoes ddi_fm_init on the same dip.
        unsafe { ddi_fm_fini(dip) };
        OVERLAY_DIP.store(ptr::null_mut(), Ordering::Release);
        return DDI_FAILURE;
    }
    if dld::register() != 0 {
        // SAFETY: the minor node was created above on this dip.
        unsafe {
            ddi_remove_minor_node(dip, ptr::null());
            ddi_fm_fini(dip);
        }
        OVERLAY_DIP.store(ptr::null_mut(), Ordering::Release);
        return DDI_FAILURE;
    }
    DDI_SUCCESS
}

unsafe extern "C" fn overlay_detach(dip: *mut dev_info_t, cmd: ddi_detach_cmd_t) -> c_int {
    if cmd != DDI_DETACH {
        return DDI_FAILURE;
    }
    if glue::busy() {
        // As overlay.c: EBUSY, not DDI_FAILURE.
        return EBUSY;
    }
    dld::unregister();
    // SAFETY: dip is the attached dip; removes the node created at attach
    // and undoes ddi_fm_init.
    unsafe {
        ddi_remove_minor_node(dip, ptr::null());
        ddi_fm_fini(dip);
    }
    OVERLAY_DIP.store(ptr::null_mut(), Ordering::Release);
    DDI_SUCCESS
}

unsafe extern "C" fn overlay_nulldev(_dip: *mut dev_info_t) -> c_int {
    // SAFETY: nulldev takes no arguments and returns 0.
    unsafe { nulldev() }
}

unsafe extern "C" fn overlay_reset_nulldev(_dip: *mut dev_info_t, _cmd: ddi_reset_cmd_t) -> c_int {
    // SAFETY: nulldev takes no arguments and returns 0.
    unsafe { nulldev() }
}

unsafe extern "C" fn nodev_strategy(_bp: *mut buf_t) -> c_int {
    // SAFETY: as above.
    unsafe { nodev() }
}

unsafe extern "C" fn nodev_print(_dev: dev_t, _s: *mut c_char) -> c_int {
    // SAFETY: as above.
    unsafe { nodev() }
}

unsafe extern "C" fn nodev_dump(_dev: dev_t, _a: caddr_t, _b: daddr_t, _n: c_int) -> c_int {
    // SAFETY: as above.
    unsafe { nodev() }
}

unsafe extern "C" fn nodev_rw(_dev: dev_t, _uio: *mut uio_t, _cr: *mut cred_t) -> c_int {
    // SAFETY: as above.
    unsafe { nodev() }
}

unsafe extern "C" fn nodev_aio(_dev: dev_t, _aio: *mut aio_req_t, _cr: *mut cred_t) -> c_int {
    // SAFETY: as above.
    unsafe { nodev() }
}

static OVERLAY_CB_OPS: Global<cb_ops> = Global::new(cb_ops {
    cb_open: Some(target::overlay_target_open),
    cb_close: Some(target::overlay_target_close),
    cb_strategy: Some(nodev_strategy),
    cb_print: Some(nodev_print),
    cb_dump: Some(nodev_dump),
    cb_read: Some(nodev_rw),
    cb_write: Some(nodev_rw),
    cb_ioctl: Some(target::overlay_target_ioctl),
    cb_devmap: Some(nodev),
    cb_mmap: Some(nodev),
    cb_segmap: Some(nodev),
    cb_chpoll: Some(nochpoll),
    cb_prop_op: Some(ddi_prop_op),
    cb_str: ptr::null_mut(),
    cb_flag: D_MP,
    cb_rev: CB_REV,
    cb_aread: Some(nodev_aio),
    cb_awrite: Some(nodev_aio),
});

/// The driver's `dev_ops`, handed to `mac_init_ops` and `modldrv`.
pub static OVERLAY_DEV_OPS: Global<dev_ops> = Global::new(dev_ops {
    devo_rev: DEVO_REV,
    devo_refcnt: 0,
    devo_getinfo: Some(overlay_getinfo),
    devo_identify: Some(overlay_nulldev),
    devo_probe: Some(overlay_nulldev),
    devo_attach: Some(overlay_attach),
    devo_detach: Some(overlay_detach),
    devo_reset: Some(overlay_reset_nulldev),
    devo_cb_ops: OVERLAY_CB_OPS.get(),
    devo_bus_ops: ptr::null_mut(),
    devo_power: None,
    devo_quiesce: Some(ddi_quiesce_not_supported),
});

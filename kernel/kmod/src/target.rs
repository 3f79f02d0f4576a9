//! `/dev/overlay`: the entry points varpd uses (spec kernel.md §2.3, §8).
//!
//! The node is clone-style: only minor 0 may be opened, and each open gets
//! a fresh minor (a handle in the driver) which we write back into the
//! caller's dev_t. Every later ioctl and the close address the handle by
//! that minor. The driver core makes every decision (privilege, open
//! flags, FEXCL, command table, FWRITE, sizes); this layer only converts:
//! credentials into the driver's view of them, and user memory into
//! copyin/copyout calls that honour the caller's data model (`mode`'s
//! `FMODELS` bits, converted with `ddi_model_convert_from`, so a 32-bit
//! varpd's `overlay_targ_*` structures are widened as illumos does).

use crate::glue;
use crate::sys::ddi::*;
use crate::sys::types::*;

pub unsafe extern "C" fn overlay_target_open(
    devp: *mut dev_t,
    flag: c_int,
    otyp: c_int,
    credp: *mut cred_t,
) -> c_int {
    // SAFETY: the kernel passes a valid dev_t pointer.
    let dev = unsafe { *devp };
    // SAFETY: getminor/getmajor are pure functions of dev.
    let (maj, min) = unsafe { (getmajor(dev), getminor(dev)) };
    match glue::targ_open(min, flag, otyp, credp) {
        Ok(newmin) => {
            // SAFETY: as above; rewrites the caller's dev_t to the clone.
            unsafe { *devp = makedevice(maj, newmin) };
            0
        }
        Err(e) => e,
    }
}

pub unsafe extern "C" fn overlay_target_close(
    dev: dev_t,
    _flag: c_int,
    _otyp: c_int,
    _credp: *mut cred_t,
) -> c_int {
    // SAFETY: pure function of dev.
    let min = unsafe { getminor(dev) };
    glue::targ_close(min)
}

pub unsafe extern "C" fn overlay_target_ioctl(
    dev: dev_t,
    cmd: c_int,
    arg: intptr_t,
    mode: c_int,
    credp: *mut cred_t,
    _rvalp: *mut c_int,
) -> c_int {
    // SAFETY: pure function of dev.
    let min = unsafe { getminor(dev) };
    // Commands are plain integers; the driver rejects unknown ones.
    glue::targ_ioctl(min, cmd as u32, arg, mode, credp)
}

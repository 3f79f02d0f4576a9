//! The management ioctls on `/dev/dld` (spec kernel.md §5).
//!
//! dld owns the copy in and out: we register, under module id
//! `OVERLAY_IOC` (0x2005), each command with its argument size, its copy
//! direction (`DLDCOPYIN`, plus `DLDCOPYOUT` where the caller reads a
//! result: dld copies the whole buffer back even when the handler fails)
//! and its privilege function (`secpolicy_dl_config`, none for STATUS).
//! dld then calls the handler with a zeroed kernel buffer of exactly that
//! size. `dld_ioc_func_t` does not say which command it serves, so there is
//! one instance of [`overlay_dld_ioc`] per command, each handing the buffer
//! to the driver's byte-level dispatcher. The table itself comes from
//! `overlay_sys::DLD_IOC_TABLE`, the same one fkoverlayd serves.

use crate::cell::Global;
use crate::glue;
use crate::sys::dld_ioc::*;
use crate::sys::policy::secpolicy_dl_config;
use crate::sys::types::*;
use overlay_sys::ioc::*;

/// The registered row of `cmd` in the ABI table (a const lookup, so a
/// command missing from it fails the build).
const fn row(cmd: u32) -> DldIocInfo {
    let mut i = 0;
    while i < DLD_IOC_TABLE.len() {
        if DLD_IOC_TABLE[i].cmd == cmd {
            return DLD_IOC_TABLE[i];
        }
        i += 1;
    }
    panic!("command missing from overlay_sys::DLD_IOC_TABLE")
}

/// dld's handler for command `CMD`.
unsafe extern "C" fn overlay_dld_ioc<const CMD: u32>(
    karg: *mut c_void,
    _arg: intptr_t,
    _mode: c_int,
    cred: *mut cred_t,
    _rvalp: *mut c_int,
) -> c_int {
    const { assert!(row(CMD).size > 0) };
    let size = row(CMD).size;
    if karg.is_null() {
        return overlay_sys::errno::EINVAL;
    }
    // SAFETY: dld allocated `karg` with exactly the registered size for
    // CMD, and it stays ours until this handler returns.
    let kbuf = unsafe { core::slice::from_raw_parts_mut(karg.cast::<u8>(), size) };
    glue::dld_dispatch(CMD, kbuf, cred)
}

const fn ent(cmd: u32, f: dld_ioc_func_t) -> dld_ioc_info_t {
    let r = row(cmd);
    let mut flags = 0;
    if r.copyin {
        flags |= DLDCOPYIN;
    }
    if r.copyout {
        flags |= DLDCOPYOUT;
    }
    dld_ioc_info_t {
        di_cmd: cmd,
        di_flags: flags,
        di_argsize: r.size,
        di_func: Some(f),
        di_priv_func: if r.needs_dl_config {
            Some(secpolicy_dl_config as dld_ioc_priv_func_t)
        } else {
            None
        },
    }
}

/// The table handed to `dld_ioc_register` (overlay.c's `overlay_ioc_list`,
/// in its order).
static OVERLAY_IOC_LIST: Global<[dld_ioc_info_t; 8]> = Global::new([
    ent(OVERLAY_IOC_CREATE, overlay_dld_ioc::<OVERLAY_IOC_CREATE>),
    ent(
        OVERLAY_IOC_ACTIVATE,
        overlay_dld_ioc::<OVERLAY_IOC_ACTIVATE>,
    ),
    ent(OVERLAY_IOC_DELETE, overlay_dld_ioc::<OVERLAY_IOC_DELETE>),
    ent(
        OVERLAY_IOC_PROPINFO,
        overlay_dld_ioc::<OVERLAY_IOC_PROPINFO>,
    ),
    ent(OVERLAY_IOC_GETPROP, overlay_dld_ioc::<OVERLAY_IOC_GETPROP>),
    ent(OVERLAY_IOC_SETPROP, overlay_dld_ioc::<OVERLAY_IOC_SETPROP>),
    ent(OVERLAY_IOC_NPROPS, overlay_dld_ioc::<OVERLAY_IOC_NPROPS>),
    ent(OVERLAY_IOC_STATUS, overlay_dld_ioc::<OVERLAY_IOC_STATUS>),
]);

/// `dld_ioc_register(OVERLAY_IOC, ...)`; returns its errno.
pub fn register() -> c_int {
    // SAFETY: the list is a static array of 8 valid entries whose handlers
    // and privilege functions live as long as the module.
    unsafe { dld_ioc_register(OVERLAY_IOC as u16, OVERLAY_IOC_LIST.get().cast(), 8) }
}

/// `dld_ioc_unregister(OVERLAY_IOC)`.
pub fn unregister() {
    // SAFETY: undoes a successful register(); dld waits for running calls.
    unsafe { dld_ioc_unregister(OVERLAY_IOC as u16) }
}

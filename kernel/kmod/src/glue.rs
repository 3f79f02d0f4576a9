//! The driver instance and the calls into it.
//!
//! Until the driver core's hosting API is wired in, every entry point
//! answers as a driver with no devices would: management ioctls fail with
//! `ENOTSUP`, `/dev/overlay` opens with `ENXIO`.

use crate::sys::types::*;
use overlay_sys::errno::{ENOTSUP, ENXIO};

/// Global driver state, built in `_init`.
pub fn global_init() -> Result<(), c_int> {
    Ok(())
}

/// Tears down what `global_init` built (after `mod_remove`).
pub fn global_fini() {}

/// Whether detach must fail with EBUSY.
pub fn busy() -> bool {
    false
}

pub fn dld_dispatch(_cmd: u32, _kbuf: &mut [u8], _cred: *mut cred_t) -> c_int {
    ENOTSUP
}

pub fn targ_open(
    _minor: minor_t,
    _flag: c_int,
    _otyp: c_int,
    _cred: *mut cred_t,
) -> Result<minor_t, c_int> {
    Err(ENXIO)
}

pub fn targ_close(_minor: minor_t) -> c_int {
    0
}

pub fn targ_ioctl(
    _minor: minor_t,
    _cmd: u32,
    _arg: intptr_t,
    _mode: c_int,
    _cred: *mut cred_t,
) -> c_int {
    ENXIO
}

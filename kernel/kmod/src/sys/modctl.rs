//! sys/modctl.h: loadable-module linkage.

use super::ddi::dev_ops;
use super::types::{c_char, c_int, c_void};

pub const MODREV_1: c_int = 1;
/// The length of `struct modlinkage`'s `ml_linkage` array under `_LP64`
/// (a literal 7 in sys/modctl.h). Not illumos' `MODMAXLINK` (10), which
/// bounds `struct modinfo`'s linkage table.
pub const ML_LINKAGE_LEN: usize = 7;

/// `struct mod_ops`: opaque; we only take the address of `mod_driverops`.
#[repr(C)]
pub struct mod_ops {
    _private: [u8; 0],
}

/// `struct modinfo`: filled in by `mod_info`; opaque to us.
#[repr(C)]
pub struct modinfo {
    _private: [u8; 0],
}

#[repr(C)]
pub struct modldrv {
    pub drv_modops: *const mod_ops,
    pub drv_linkinfo: *const c_char,
    pub drv_dev_ops: *mut dev_ops,
}

#[repr(C)]
pub struct modlinkage {
    pub ml_rev: c_int,
    pub ml_linkage: [*const c_void; ML_LINKAGE_LEN],
}

extern "C" {
    pub static mod_driverops: mod_ops;
    pub fn mod_install(ml: *mut modlinkage) -> c_int;
    pub fn mod_remove(ml: *mut modlinkage) -> c_int;
    pub fn mod_info(ml: *mut modlinkage, mi: *mut modinfo) -> c_int;
}

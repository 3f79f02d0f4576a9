//! sys/dld_ioc.h: dld's registered-ioctl mechanism (`/dev/dld`).

use super::types::{c_int, cred_t, intptr_t, size_t, uint_t};

pub const DLDCOPYIN: uint_t = 0x1;
pub const DLDCOPYOUT: uint_t = 0x2;
pub const DLDCOPYINOUT: uint_t = DLDCOPYIN | DLDCOPYOUT;

pub type dld_ioc_func_t = unsafe extern "C" fn(
    karg: *mut core::ffi::c_void,
    arg: intptr_t,
    mode: c_int,
    cred: *mut cred_t,
    rvalp: *mut c_int,
) -> c_int;
pub type dld_ioc_priv_func_t = unsafe extern "C" fn(cred: *const cred_t) -> c_int;

#[repr(C)]
pub struct dld_ioc_info_t {
    pub di_cmd: uint_t,
    pub di_flags: uint_t,
    pub di_argsize: size_t,
    pub di_func: Option<dld_ioc_func_t>,
    pub di_priv_func: Option<dld_ioc_priv_func_t>,
}

extern "C" {
    pub fn dld_ioc_register(modid: u16, list: *mut dld_ioc_info_t, count: uint_t) -> c_int;
    pub fn dld_ioc_unregister(modid: u16);
}

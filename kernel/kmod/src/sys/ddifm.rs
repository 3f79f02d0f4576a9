//! sys/ddifm.h: fault management.

use super::types::{c_int, c_void, dev_info_t};

pub const DDI_FM_EREPORT_CAPABLE: c_int = 0x0000_0001;

/// `ddi_fault_impact_t` (sys/sunddi.h): ordered, deliberately not
/// consecutive values; `ddi_fm_service_impact` ignores any other value.
pub const DDI_SERVICE_LOST: c_int = -32;
pub const DDI_SERVICE_DEGRADED: c_int = -16;
pub const DDI_SERVICE_UNAFFECTED: c_int = 0;
pub const DDI_SERVICE_RESTORED: c_int = 16;

/// `ddi_iblock_cookie_t`: an opaque pointer.
pub type ddi_iblock_cookie_t = *mut c_void;

extern "C" {
    pub fn ddi_fm_init(dip: *mut dev_info_t, fmcap: *mut c_int, ibc: *mut ddi_iblock_cookie_t);
    pub fn ddi_fm_fini(dip: *mut dev_info_t);
    pub fn ddi_fm_service_impact(dip: *mut dev_info_t, svc_impact: c_int);
}

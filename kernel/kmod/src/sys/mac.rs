//! sys/mac.h, sys/mac_provider.h, sys/mac_ether.h: the GLDv3 MAC provider
//! interface.

use super::ddi::dev_ops;
use super::stream::mblk_t;
use super::types::*;

opaque!(mac_handle_s, mac_resource_s, mac_prop_info_s);
/// `mac_handle_t`.
pub type mac_handle_t = *mut mac_handle_s;
/// `mac_resource_handle_t`.
pub type mac_resource_handle_t = *mut mac_resource_s;
/// `mac_prop_info_handle_t`.
pub type mac_prop_info_handle_t = *mut mac_prop_info_s;
/// `mac_perim_handle_t` (a `uintptr_t`).
pub type mac_perim_handle_t = usize;

pub const MAC_VERSION: uint_t = 0x1;
/// `MAC_PLUGIN_IDENT_ETHER`.
pub const MAC_PLUGIN_IDENT_ETHER: &core::ffi::CStr = c"mac_ether";
pub const MAC_VIRT_NONE: u32 = 0;

pub type mac_capab_t = c_uint;
pub const MAC_CAPAB_OVERLAY: mac_capab_t = 0x0080_0000;

pub type mac_prop_id_t = c_int;
pub const MAC_PROP_MTU: mac_prop_id_t = 6;

pub type link_state_t = c_int;
pub const LINK_STATE_UNKNOWN: link_state_t = -1;
pub const LINK_STATE_DOWN: link_state_t = 0;
pub const LINK_STATE_UP: link_state_t = 1;

pub const MC_IOCTL: uint_t = 0x0002;
pub const MC_GETCAPAB: uint_t = 0x0004;
pub const MC_SETPROP: uint_t = 0x0020;
pub const MC_GETPROP: uint_t = 0x0040;
pub const MC_PROPINFO: uint_t = 0x0080;

#[repr(C)]
pub struct mac_callbacks_t {
    pub mc_callbacks: uint_t,
    pub mc_getstat: Option<unsafe extern "C" fn(*mut c_void, uint_t, *mut u64) -> c_int>,
    pub mc_start: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
    pub mc_stop: Option<unsafe extern "C" fn(*mut c_void)>,
    pub mc_setpromisc: Option<unsafe extern "C" fn(*mut c_void, boolean_t) -> c_int>,
    pub mc_multicst: Option<unsafe extern "C" fn(*mut c_void, boolean_t, *const u8) -> c_int>,
    pub mc_unicst: Option<unsafe extern "C" fn(*mut c_void, *const u8) -> c_int>,
    pub mc_tx: Option<unsafe extern "C" fn(*mut c_void, *mut mblk_t) -> *mut mblk_t>,
    pub mc_reserved: *mut c_void,
    pub mc_ioctl: Option<unsafe extern "C" fn(*mut c_void, *mut queue_t, *mut mblk_t)>,
    pub mc_getcapab:
        Option<unsafe extern "C" fn(*mut c_void, mac_capab_t, *mut c_void) -> boolean_t>,
    pub mc_open: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
    pub mc_close: Option<unsafe extern "C" fn(*mut c_void)>,
    pub mc_setprop: Option<
        unsafe extern "C" fn(
            *mut c_void,
            *const c_char,
            mac_prop_id_t,
            uint_t,
            *const c_void,
        ) -> c_int,
    >,
    pub mc_getprop: Option<
        unsafe extern "C" fn(
            *mut c_void,
            *const c_char,
            mac_prop_id_t,
            uint_t,
            *mut c_void,
        ) -> c_int,
    >,
    pub mc_propinfo: Option<
        unsafe extern "C" fn(*mut c_void, *const c_char, mac_prop_id_t, mac_prop_info_handle_t),
    >,
}

/// `mac_register_t`: allocated by `mac_alloc`, filled in, passed to
/// `mac_register`, freed by `mac_free`.
#[repr(C)]
pub struct mac_register_t {
    pub m_version: uint_t,
    pub m_type_ident: *const c_char,
    pub m_driver: *mut c_void,
    pub m_dip: *mut dev_info_t,
    pub m_instance: uint_t,
    pub m_src_addr: *mut u8,
    pub m_dst_addr: *mut u8,
    pub m_callbacks: *mut mac_callbacks_t,
    pub m_min_sdu: uint_t,
    pub m_max_sdu: uint_t,
    pub m_pdata: *mut c_void,
    pub m_pdata_size: size_t,
    pub m_priv_props: *mut *mut c_char,
    pub m_margin: u32,
    pub m_v12n: u32,
    pub m_multicast_sdu: uint_t,
}

extern "C" {
    pub fn mac_init_ops(ops: *mut dev_ops, name: *const c_char);
    pub fn mac_fini_ops(ops: *mut dev_ops);

    pub fn mac_alloc(version: uint_t) -> *mut mac_register_t;
    pub fn mac_free(mregp: *mut mac_register_t);
    pub fn mac_register(mregp: *mut mac_register_t, mhp: *mut mac_handle_t) -> c_int;
    pub fn mac_disable(mh: mac_handle_t) -> c_int;
    pub fn mac_unregister(mh: mac_handle_t) -> c_int;

    pub fn mac_rx(mh: mac_handle_t, mrh: mac_resource_handle_t, mp: *mut mblk_t);
    pub fn mac_link_update(mh: mac_handle_t, state: link_state_t);
    pub fn mac_maxsdu_update(mh: mac_handle_t, sdu_max: uint_t) -> c_int;
    pub fn mac_hcksum_set(
        mp: *mut mblk_t,
        start: u32,
        stuff: u32,
        end: u32,
        value: u32,
        flags: u32,
    );

    pub fn mac_prop_info_set_default_uint32(ph: mac_prop_info_handle_t, val: u32);
    pub fn mac_prop_info_set_range_uint32(ph: mac_prop_info_handle_t, min: u32, max: u32);

    pub fn mac_perim_enter_by_mh(mh: mac_handle_t, mph: *mut mac_perim_handle_t);
    pub fn mac_perim_exit(mph: mac_perim_handle_t);

    /// sys/strsun.h: negative-acknowledge an M_IOCTL.
    pub fn miocnak(q: *mut queue_t, mp: *mut mblk_t, count: c_int, error: c_int);
}

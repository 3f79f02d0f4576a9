//! sys/stream.h, sys/strsubr.h: STREAMS message blocks.

use super::types::*;

/// `struct msgb` (mblk_t).
#[repr(C)]
pub struct mblk_t {
    pub b_next: *mut mblk_t,
    pub b_prev: *mut mblk_t,
    pub b_cont: *mut mblk_t,
    pub b_rptr: *mut u8,
    pub b_wptr: *mut u8,
    pub b_datap: *mut dblk_t,
    pub b_band: u8,
    pub b_tag: u8,
    pub b_flag: u16,
    pub b_queue: *mut queue_t,
}

/// The leading fields of `struct datab` (dblk_t); we only read them and
/// never allocate one, so the rest of the structure is left out.
#[repr(C)]
pub struct dblk_t {
    pub db_frtnp: *mut c_void,
    pub db_base: *mut u8,
    pub db_lim: *mut u8,
    pub db_ref: u8,
    pub db_type: u8,
    pub db_flags: u8,
    pub db_struioflag: u8,
}

/// Message types (`db_type`).
pub const M_DATA: u8 = 0x00;
pub const M_PROTO: u8 = 0x01;

/// `allocb` priorities (ignored by modern illumos).
pub const BPRI_LO: uint_t = 1;
pub const BPRI_MED: uint_t = 2;
pub const BPRI_HI: uint_t = 3;

/// `T_UNITDATA_IND` (sys/tihdr.h): the primitive heading each datagram a
/// UDP kernel socket delivers.
pub const T_UNITDATA_IND: i32 = 20;

/// `struct T_unitdata_ind` (sys/tihdr.h).
#[repr(C)]
pub struct T_unitdata_ind {
    pub prim_type: i32,
    pub src_length: i32,
    pub src_offset: i32,
    pub opt_length: i32,
    pub opt_offset: i32,
}

extern "C" {
    pub fn allocb(size: size_t, pri: uint_t) -> *mut mblk_t;
    pub fn freeb(mp: *mut mblk_t);
    pub fn freemsg(mp: *mut mblk_t);
    pub fn freemsgchain(mp: *mut mblk_t);
    pub fn dupmsg(mp: *mut mblk_t) -> *mut mblk_t;
    pub fn copymsg(mp: *mut mblk_t) -> *mut mblk_t;
    pub fn msgdsize(mp: *const mblk_t) -> size_t;
}

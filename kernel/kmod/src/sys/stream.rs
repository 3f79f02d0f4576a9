//! sys/stream.h, sys/strsubr.h, sys/tihdr.h: STREAMS message blocks.
//!
//! `mblk_t`, `dblk_t` and the block allocator calls are declared once, by
//! the driver core's kernel backends (`overlay::illumos::ffi`, reached here
//! as `crate::illumos::ffi`), and re-exported: the blocks this module hands
//! to MAC and ksocket are the ones `MsgBlk` owns. What only the module uses
//! (message types, TPI, chain and copy helpers) is declared here.

use super::types::*;

pub use crate::illumos::ffi::{allocb, dblk_t, freeb, freemsg, mblk_t, BPRI_HI};

/// Message types (`db_type`).
pub const M_DATA: u8 = 0x00;
pub const M_PROTO: u8 = 0x01;

/// `allocb` priorities (ignored by modern illumos).
pub const BPRI_LO: uint_t = 1;
pub const BPRI_MED: uint_t = 2;

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
    pub fn freemsgchain(mp: *mut mblk_t);
    pub fn dupmsg(mp: *mut mblk_t) -> *mut mblk_t;
    pub fn copymsg(mp: *mut mblk_t) -> *mut mblk_t;
    pub fn msgdsize(mp: *const mblk_t) -> size_t;
}

//! The TPI framing of datagrams a kernel UDP socket delivers.
//!
//! Each received datagram is a message whose first block is M_PROTO and
//! holds a `struct T_unitdata_ind` (sys/tihdr.h: the primitive, then the
//! source address and options as offsets into that block); the payload is
//! in `b_cont`. The overlay only needs the payload (overlay_mux.c drops the
//! source too), so [`unitdata_payload`] checks the shape, frees the M_PROTO
//! block and returns the rest.

use crate::sys::stream::*;
use core::ptr;

/// Splits one received message: frees the leading M_PROTO
/// `T_unitdata_ind` block and returns the payload, or frees everything and
/// returns `None` if it is not that shape.
///
/// # Safety
/// `mp` must be a valid message we own, not linked by `b_next`.
pub unsafe fn unitdata_payload(mp: *mut mblk_t) -> Option<*mut mblk_t> {
    // SAFETY: caller contract; the reads stay within the first block (its
    // length is checked before the primitive is read).
    unsafe {
        let d = (*mp).b_datap;
        let len = ((*mp).b_wptr as usize).saturating_sub((*mp).b_rptr as usize);
        let ok = !d.is_null()
            && (*d).db_type == M_PROTO
            && !(*mp).b_cont.is_null()
            && len >= core::mem::size_of::<i32>()
            && ((*mp).b_rptr as *const i32).read_unaligned() == T_UNITDATA_IND;
        if !ok {
            freemsg(mp);
            return None;
        }
        let data = (*mp).b_cont;
        (*mp).b_cont = ptr::null_mut();
        freeb(mp);
        Some(data)
    }
}

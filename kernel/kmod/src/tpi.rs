//! The TPI framing of datagrams a kernel UDP socket delivers.
//!
//! Each received datagram is a message whose first block is M_PROTO and
//! holds a `struct T_unitdata_ind` (sys/tihdr.h: the primitive, then the
//! source address and options as offsets into that block); the payload is
//! in `b_cont`. The overlay needs the payload (overlay_mux.c drops the
//! source too) and, as an extension, the outer traffic class: the socket
//! has `IPV6_RECVTCLASS` on, so the options carry an `IPPROTO_IPV6` /
//! `IPV6_TCLASS` `T_opthdr` with a `uint_t` (illumos puts the IPv4 TOS
//! there for v4-mapped datagrams, `conn_recvancillary_add`).
//! [`unitdata_payload`] checks the shape, reads that option, frees the
//! M_PROTO block and returns the rest.

use crate::sys::stream::*;
use core::ptr;

/// illumos `IPPROTO_IPV6` and `IPV6_TCLASS` (netinet/in.h).
pub const IPPROTO_IPV6: u32 = 41;
pub const IPV6_TCLASS: u32 = 0x26;

/// The traffic class in a `T_unitdata_ind` block `b` (its options area,
/// `OPT_offset`/`OPT_length`, a run of 4-byte aligned `T_opthdr`s: len,
/// level, name, status, then the value); 0 when absent or malformed.
pub fn unitdata_tclass(b: &[u8]) -> u8 {
    let word = |o: usize| -> Option<u32> {
        let w = b.get(o..o.checked_add(4)?)?;
        Some(u32::from_ne_bytes([w[0], w[1], w[2], w[3]]))
    };
    let (Some(olen), Some(ooff)) = (word(12), word(16)) else {
        return 0;
    };
    let (olen, ooff) = (olen as usize, ooff as usize);
    let Some(end) = ooff.checked_add(olen).filter(|&e| e <= b.len()) else {
        return 0;
    };
    let mut o = ooff;
    // Bounded: every step advances by at least a header.
    while o + 16 <= end {
        let (Some(len), Some(level), Some(name)) = (word(o), word(o + 4), word(o + 8)) else {
            return 0;
        };
        let len = len as usize;
        if len < 16 || o + len > end {
            return 0;
        }
        if level == IPPROTO_IPV6 && name == IPV6_TCLASS && len >= 20 {
            return word(o + 16).map_or(0, |v| v as u8);
        }
        o += (len + 3) & !3;
    }
    0
}

/// Splits one received message: frees the leading M_PROTO
/// `T_unitdata_ind` block and returns the payload and the outer traffic
/// class ([`unitdata_tclass`]), or frees everything and returns `None` if
/// it is not that shape.
///
/// # Safety
/// `mp` must be a valid message we own, not linked by `b_next`.
pub unsafe fn unitdata_payload(mp: *mut mblk_t) -> Option<(*mut mblk_t, u8)> {
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
        let tclass = unitdata_tclass(core::slice::from_raw_parts((*mp).b_rptr, len));
        let data = (*mp).b_cont;
        (*mp).b_cont = ptr::null_mut();
        freeb(mp);
        Some((data, tclass))
    }
}

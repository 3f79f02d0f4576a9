//! `MsgBlk` and `MsgBlkChain` over real STREAMS messages; see
//! `crate::msgblk` for the contract.
//!
//! A `MsgBlk` owns one message: an `mblk_t` whose `b_cont` list holds the
//! frame's fragments. It is never null and its `b_next` is null while it
//! stands alone; dropping it is `freemsg`. A `MsgBlkChain` links messages
//! through `b_next`, as MAC (`mc_tx`, `mac_rx`) and ksocket pass them, and
//! keeps a tail pointer and a count so that pushing and popping allocate
//! nothing.
//!
//! `from_raw`/`into_raw` move ownership across the FFI boundary for the
//! kernel module; the pointer type there is `*mut c_void` so this module's
//! `mblk_t` declaration stays private to the crate.

use super::ffi::*;
use core::ffi::c_void;
use core::ptr::{self, NonNull};

/// One frame (an `mblk_t` and its `b_cont` fragments).
#[repr(transparent)]
pub struct MsgBlk(NonNull<mblk_t>);

// SAFETY: a message has a single owner (this value); STREAMS messages may be
// freed or handed on from any thread.
unsafe impl Send for MsgBlk {}

impl core::fmt::Debug for MsgBlk {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "MsgBlk({} bytes, {} headroom)",
            self.len(),
            self.headroom()
        )
    }
}

impl Drop for MsgBlk {
    fn drop(&mut self) {
        // SAFETY: we own the message; freemsg frees it and its b_cont list.
        unsafe { freemsg(self.0.as_ptr()) }
    }
}

/// The bytes of one block (`b_rptr..b_wptr`); empty if the pointers are
/// inconsistent.
///
/// # Safety
/// `b` must point to a live block whose pointers lie within its data block.
unsafe fn blk_len(b: *const mblk_t) -> usize {
    // SAFETY: caller contract.
    let (r, w) = unsafe { ((*b).b_rptr, (*b).b_wptr) };
    (w as usize).saturating_sub(r as usize)
}

impl MsgBlk {
    /// Takes ownership of the message `mp` (an `mblk_t *`); `None` if NULL.
    /// Its `b_next` is cleared: a `MsgBlk` is one message.
    ///
    /// # Safety
    /// `mp` must be NULL or a valid message the caller owns and hands over.
    pub unsafe fn from_raw(mp: *mut c_void) -> Option<MsgBlk> {
        let p = NonNull::new(mp.cast::<mblk_t>())?;
        // SAFETY: caller contract: a valid, owned mblk_t.
        unsafe { (*p.as_ptr()).b_next = ptr::null_mut() };
        Some(MsgBlk(p))
    }

    /// Gives up ownership: the caller must free or hand on the message.
    pub fn into_raw(self) -> *mut c_void {
        let p = self.0.as_ptr();
        core::mem::forget(self);
        p.cast()
    }

    fn mp(&self) -> *mut mblk_t {
        self.0.as_ptr()
    }

    /// A new single-block message holding `data` after `headroom` free
    /// bytes (`allocb`); `None` if allocation fails.
    pub fn copy_from(headroom: usize, data: &[u8]) -> Option<MsgBlk> {
        let size = headroom.checked_add(data.len())?;
        // SAFETY: allocb may be called from any context; it returns NULL or
        // a message with at least `size` bytes from b_rptr == db_base.
        let mp = unsafe { allocb(size.max(1), BPRI_HI) };
        let p = NonNull::new(mp)?;
        // SAFETY: the new block has `size` bytes at b_rptr, so the copy and
        // the pointer updates stay inside it.
        unsafe {
            let m = p.as_ptr();
            (*m).b_rptr = (*m).b_rptr.add(headroom);
            ptr::copy_nonoverlapping(data.as_ptr(), (*m).b_rptr, data.len());
            (*m).b_wptr = (*m).b_rptr.add(data.len());
        }
        Some(MsgBlk(p))
    }

    /// Bytes in every fragment (`msgdsize` without the type filter).
    pub fn len(&self) -> usize {
        let mut n = 0;
        let mut b = self.mp();
        while !b.is_null() {
            // SAFETY: b is a live block of our message.
            unsafe {
                n += blk_len(b);
                b = (*b).b_cont;
            }
        }
        n
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first block's bytes.
    pub fn first(&self) -> &[u8] {
        let m = self.mp();
        // SAFETY: b_rptr..b_wptr of a live block is initialised data that
        // lives as long as the message, which `&self` keeps alive.
        unsafe { core::slice::from_raw_parts((*m).b_rptr, blk_len(m)) }
    }

    /// Free bytes before `b_rptr` in the first block; 0 if its data block
    /// is shared (`db_ref > 1`) and so must not be written.
    pub fn headroom(&self) -> usize {
        let m = self.mp();
        // SAFETY: b_datap of a live block is its live data block.
        unsafe {
            let d = (*m).b_datap;
            if d.is_null() || (*d).db_ref > 1 {
                return 0;
            }
            ((*m).b_rptr as usize).saturating_sub((*d).db_base as usize)
        }
    }

    /// The first block's bytes, writable; `None` if its data block is
    /// shared (`db_ref > 1`) and so must not be written.
    pub fn first_mut(&mut self) -> Option<&mut [u8]> {
        let m = self.mp();
        // SAFETY: b_datap of a live block is its live data block; when it
        // is unshared, b_rptr..b_wptr is initialised data only this
        // message reaches, and `&mut self` keeps it alive and exclusive.
        unsafe {
            let d = (*m).b_datap;
            if d.is_null() || (*d).db_ref > 1 {
                return None;
            }
            Some(core::slice::from_raw_parts_mut((*m).b_rptr, blk_len(m)))
        }
    }

    /// A private copy of the whole message in one new block with
    /// `headroom` free bytes in front; `None` if allocation fails.
    pub fn dup(&self, headroom: usize) -> Option<MsgBlk> {
        let len = self.len();
        let size = headroom.checked_add(len)?;
        // SAFETY: as in copy_from.
        let p = NonNull::new(unsafe { allocb(size.max(1), BPRI_HI) })?;
        // SAFETY: the new block has `size` bytes from b_rptr; the copy
        // writes exactly `len` bytes after the headroom.
        unsafe {
            let m = p.as_ptr();
            (*m).b_rptr = (*m).b_rptr.add(headroom);
            let dst = core::slice::from_raw_parts_mut((*m).b_rptr, len);
            let n = self.copy_out(0, dst);
            (*m).b_wptr = (*m).b_rptr.add(n);
        }
        Some(MsgBlk(p))
    }

    /// Copies from byte `off` across fragments into `dst`; returns the
    /// number of bytes copied.
    pub fn copy_out(&self, mut off: usize, dst: &mut [u8]) -> usize {
        let mut done = 0;
        let mut b = self.mp();
        while !b.is_null() && done < dst.len() {
            // SAFETY: b is a live block of our message; reads stay within
            // b_rptr..b_wptr.
            unsafe {
                let l = blk_len(b);
                if off >= l {
                    off -= l;
                } else {
                    let n = (l - off).min(dst.len() - done);
                    ptr::copy_nonoverlapping((*b).b_rptr.add(off), dst[done..].as_mut_ptr(), n);
                    done += n;
                    off = 0;
                }
                b = (*b).b_cont;
            }
        }
        done
    }

    /// Advances past `n` leading bytes, freeing emptied leading blocks
    /// (the last block is kept, possibly empty); false and unchanged if the
    /// message is shorter than `n`.
    pub fn strip(&mut self, mut n: usize) -> bool {
        if self.len() < n {
            return false;
        }
        loop {
            let m = self.mp();
            // SAFETY: m is our live first block; an emptied block with a
            // successor is unlinked and freed alone (freeb), the successor
            // becoming the message.
            unsafe {
                let l = blk_len(m);
                let next = (*m).b_cont;
                if n < l || (n == l && next.is_null()) {
                    (*m).b_rptr = (*m).b_rptr.add(n);
                    return true;
                }
                // n >= l and there is a next block (n > l implies one, since
                // the total length is at least n).
                let Some(nx) = NonNull::new(next) else {
                    (*m).b_rptr = (*m).b_wptr;
                    return true;
                };
                n -= l;
                (*m).b_cont = ptr::null_mut();
                freeb(m);
                self.0 = nx;
            }
        }
    }

    /// Makes `n` bytes in front of the data and returns them: in place if
    /// the first block is unshared with at least `max(n, noalloc_min)`
    /// bytes of headroom, else in a new block of `max(alloc_size, n)` bytes
    /// (data at its end) linked in front. `None` if allocation fails.
    pub fn prepend(
        &mut self,
        n: usize,
        noalloc_min: usize,
        alloc_size: usize,
    ) -> Option<&mut [u8]> {
        if self.headroom() >= n.max(noalloc_min) {
            let m = self.mp();
            // SAFETY: headroom() checked the block is unshared and has at
            // least n bytes before b_rptr inside its data block.
            unsafe {
                (*m).b_rptr = (*m).b_rptr.sub(n);
                return Some(core::slice::from_raw_parts_mut((*m).b_rptr, n));
            }
        }
        let size = alloc_size.max(n);
        // SAFETY: as in copy_from.
        let nm = NonNull::new(unsafe { allocb(size, BPRI_HI) })?;
        // SAFETY: the new block has at least `size` >= n bytes between
        // db_base and db_lim; we put the n bytes at its end and link our
        // message behind it.
        unsafe {
            let b = nm.as_ptr();
            let lim = (*(*b).b_datap).db_lim;
            (*b).b_wptr = lim;
            (*b).b_rptr = lim.sub(n);
            (*b).b_cont = self.mp();
            self.0 = nm;
            Some(core::slice::from_raw_parts_mut((*b).b_rptr, n))
        }
    }

    /// Clears hardware-checksum offload flags on a received frame.
    pub fn clear_hcksum(&mut self) {
        // SAFETY: mac_hcksum_set writes the first data block's checksum
        // fields of our live message.
        unsafe { mac_hcksum_set(self.mp(), 0, 0, 0, 0, 0) }
    }
}

/// Messages linked by `b_next`.
pub struct MsgBlkChain {
    head: Option<MsgBlk>,
    tail: *mut mblk_t,
    len: usize,
}

// SAFETY: the chain owns its messages exclusively (see MsgBlk); the tail
// pointer only ever points into them.
unsafe impl Send for MsgBlkChain {}

impl Default for MsgBlkChain {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for MsgBlkChain {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "MsgBlkChain({} frames)", self.len)
    }
}

impl Drop for MsgBlkChain {
    fn drop(&mut self) {
        while let Some(m) = self.pop_front() {
            drop(m);
        }
    }
}

impl MsgBlkChain {
    pub const fn new() -> Self {
        MsgBlkChain {
            head: None,
            tail: ptr::null_mut(),
            len: 0,
        }
    }

    pub fn single(m: MsgBlk) -> Self {
        let mut c = Self::new();
        c.push_back(m);
        c
    }

    /// Takes ownership of a `b_next` chain of messages (NULL: empty).
    ///
    /// # Safety
    /// `mp` must be NULL or a valid chain the caller owns and hands over.
    pub unsafe fn from_raw(mp: *mut c_void) -> Self {
        let mut c = Self::new();
        let mut p = mp.cast::<mblk_t>();
        while !p.is_null() {
            // SAFETY: caller contract: every message in the chain is valid
            // and now ours; from_raw clears b_next after we read it.
            unsafe {
                let next = (*p).b_next;
                if let Some(m) = MsgBlk::from_raw(p.cast()) {
                    c.push_back(m);
                }
                p = next;
            }
        }
        c
    }

    /// Gives up ownership of the whole chain (NULL if empty).
    pub fn into_raw(mut self) -> *mut c_void {
        let h = self.head.take().map_or(ptr::null_mut(), MsgBlk::into_raw);
        self.tail = ptr::null_mut();
        self.len = 0;
        h
    }

    pub fn push_back(&mut self, m: MsgBlk) {
        let p = m.into_raw().cast::<mblk_t>();
        // SAFETY: p is a valid message we own; tail, when set, is the last
        // message of our chain.
        unsafe {
            (*p).b_next = ptr::null_mut();
            if self.head.is_none() {
                self.head = MsgBlk::from_raw(p.cast());
            } else {
                (*self.tail).b_next = p;
            }
        }
        self.tail = p;
        self.len += 1;
    }

    pub fn pop_front(&mut self) -> Option<MsgBlk> {
        let h = self.head.take()?;
        let p = h.into_raw().cast::<mblk_t>();
        // SAFETY: p is our valid head; its b_next is the rest of the chain,
        // which we keep (as the new head) before handing p out alone.
        unsafe {
            let next = (*p).b_next;
            (*p).b_next = ptr::null_mut();
            // The new head keeps its b_next: it is the rest of the chain.
            self.head = NonNull::new(next).map(MsgBlk);
            if self.head.is_none() {
                self.tail = ptr::null_mut();
            }
            self.len -= 1;
            MsgBlk::from_raw(p.cast())
        }
    }

    pub fn front(&self) -> Option<&MsgBlk> {
        self.head.as_ref()
    }

    pub fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    pub fn len(&self) -> usize {
        self.len
    }
}

include!("../msgblk_chain_impls.rs");

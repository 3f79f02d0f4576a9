//! Shared, reference-counted data blocks for the `Vec` backend of
//! [`crate::MsgBlk`] (the `dblk_t` of an illumos `mblk_t`, with its
//! `db_ref`, lent by a host with a free routine as `esballoc(9F)` does).
//!
//! Theory of operation: a host that reads many frames into one buffer (a
//! `recvmmsg` buffer holding a `UDP_GRO` train, a TAP read buffer holding a
//! 64 KiB TSO frame) wraps it in a [`Dblk`], the owner's handle. Messages
//! then reference slices of it instead of copies: [`Dblk::share`] carves
//! the next region off the buffer and returns a message over it, holding
//! a reference. Regions are carved in increasing order and never overlap,
//! so each message's bytes are its own: its owner may rewrite them (a
//! header fixed up in place) while other messages hold the rest of the
//! buffer. The owner reads and writes only the part not yet carved
//! ([`Dblk::tail`], [`Dblk::tail_mut`]: where the next system call puts
//! its data).
//!
//! The reference count counts the owner's handle and every message block
//! over the buffer. When the last one goes, the buffer's free routine
//! gets the buffer back as a fresh [`Dblk`] (a pool keeps it for the next
//! read, so the data path allocates nothing); without one it is freed.
//! [`Dblk::reset`] lets the owner reuse a buffer no message references any
//! more.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ptr::NonNull;
use core::sync::atomic::{fence, AtomicUsize, Ordering};

/// The free routine of a lent buffer (`frtn_t`): gets the buffer back,
/// unreferenced, when its last reference goes.
pub type DbFree = fn(Dblk);

/// The shared part: the buffer and its reference count.
struct DbInner {
    refs: AtomicUsize,
    /// The buffer, `cap` bytes at `ptr` (a `Vec`'s allocation, all
    /// initialised).
    ptr: *mut u8,
    cap: usize,
    free: Option<DbFree>,
}

/// The owner's handle of a shared buffer; see the module comment.
pub struct Dblk {
    inner: NonNull<DbInner>,
    /// Bytes carved off for messages; the owner may touch `carved..cap`.
    carved: usize,
}

// SAFETY: the reference count is atomic and the buffer's bytes are split
// into disjoint regions, each reachable through exactly one handle (the
// owner's tail or one message block), so moving a handle to another
// thread moves exclusive access to its bytes with it.
unsafe impl Send for Dblk {}
// SAFETY: through `&Dblk` only the tail is read; nothing else can
// write the tail while that borrow lives (writes need `&mut Dblk`).
unsafe impl Sync for Dblk {}

impl core::fmt::Debug for Dblk {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Dblk({} bytes, {} carved)", self.cap(), self.carved)
    }
}

impl Dblk {
    /// A shared buffer of `buf`'s full capacity (zero-filled beyond its
    /// length), returned to `free` when its last reference goes, or freed
    /// if `free` is `None`.
    pub fn new(mut buf: Vec<u8>, free: Option<DbFree>) -> Dblk {
        let cap = buf.capacity();
        buf.resize(cap, 0);
        let mut buf = core::mem::ManuallyDrop::new(buf);
        let inner = Box::new(DbInner {
            refs: AtomicUsize::new(1),
            ptr: buf.as_mut_ptr(),
            cap,
            free,
        });
        Dblk {
            inner: NonNull::from(Box::leak(inner)),
            carved: 0,
        }
    }

    fn inner(&self) -> &DbInner {
        // SAFETY: the inner block lives while any handle or reference
        // does; we hold one.
        unsafe { self.inner.as_ref() }
    }

    /// The buffer's size.
    pub fn cap(&self) -> usize {
        self.inner().cap
    }

    /// Bytes already carved off for messages.
    pub fn carved(&self) -> usize {
        self.carved
    }

    /// Whether no message references the buffer (`db_ref == 1`).
    pub fn is_unique(&self) -> bool {
        self.inner().refs.load(Ordering::Acquire) == 1
    }

    /// Makes the whole buffer the owner's again if no message references
    /// it; false (nothing changed) if one still does.
    pub fn reset(&mut self) -> bool {
        if !self.is_unique() {
            return false;
        }
        self.carved = 0;
        true
    }

    /// The bytes not carved off yet.
    pub fn tail(&self) -> &[u8] {
        let i = self.inner();
        // SAFETY: carved <= cap; the bytes carved..cap belong to the
        // owner's handle alone (no region covers them) and are
        // initialised.
        unsafe { core::slice::from_raw_parts(i.ptr.add(self.carved), i.cap - self.carved) }
    }

    /// The bytes not carved off yet, writable.
    pub fn tail_mut(&mut self) -> &mut [u8] {
        let i = self.inner();
        // SAFETY: as in `tail`, and `&mut self` excludes other borrows.
        unsafe { core::slice::from_raw_parts_mut(i.ptr.add(self.carved), i.cap - self.carved) }
    }

    /// Carves `len` bytes at `off` (relative to the tail: `tail()[off..off
    /// + len]`) off for a message block: a new reference and the region's
    /// bounds in the buffer; the bytes before them are skipped for good.
    /// `None` if the range is outside the tail. Messages are made with
    /// `Dblk::share` (in [`crate::msgblk_vec`]).
    pub(crate) fn carve(&mut self, off: usize, len: usize) -> Option<(DbRef, usize, usize)> {
        let lo = self.carved.checked_add(off)?;
        let hi = lo.checked_add(len)?;
        if hi > self.cap() {
            return None;
        }
        self.carved = hi;
        self.inner().refs.fetch_add(1, Ordering::Relaxed);
        Some((DbRef { inner: self.inner }, lo, hi))
    }

    /// Frees the buffer's memory now, whatever its free routine (a pool
    /// that keeps no more buffers). If a message still references it, it
    /// is only given up, as a drop does.
    pub fn free_now(self) {
        if !self.is_unique() {
            return;
        }
        let me = core::mem::ManuallyDrop::new(self);
        // SAFETY: ours is the only reference (unique, and a new one is
        // only made through `&mut self`); the inner block was leaked from
        // a Box and its buffer from a Vec of `cap` length and capacity,
        // both by `Dblk::new`.
        unsafe { dealloc(me.inner) }
    }
}

/// Frees the inner block and its buffer.
///
/// # Safety
/// No other reference to `inner` exists or is made later.
unsafe fn dealloc(inner: NonNull<DbInner>) {
    // SAFETY: per the caller; see `Dblk::new` for how both were made.
    unsafe {
        let b = Box::from_raw(inner.as_ptr());
        drop(Vec::from_raw_parts(b.ptr, b.cap, b.cap));
    }
}

impl Drop for Dblk {
    fn drop(&mut self) {
        // SAFETY: this handle holds one reference, given up here.
        unsafe { release(self.inner) }
    }
}

/// Gives up one reference; the last one returns the buffer to its free
/// routine or frees it.
///
/// # Safety
/// The caller holds a reference to `inner` and does not use it after.
unsafe fn release(inner: NonNull<DbInner>) {
    // SAFETY: the caller's reference keeps `inner` alive for this call.
    let i = unsafe { inner.as_ref() };
    if i.refs.fetch_sub(1, Ordering::Release) != 1 {
        return;
    }
    fence(Ordering::Acquire);
    match i.free {
        Some(free) => {
            // The last reference: the buffer goes back, owned again.
            i.refs.store(1, Ordering::Relaxed);
            free(Dblk { inner, carved: 0 });
        }
        // SAFETY: no other reference exists (the count reached zero).
        None => unsafe { dealloc(inner) },
    }
}

/// A message block's reference to a shared buffer (counted in its
/// `refs`).
pub(crate) struct DbRef {
    inner: NonNull<DbInner>,
}

// SAFETY: as for `Dblk`: the count is atomic and the block's region is
// reachable through this reference alone.
unsafe impl Send for DbRef {}
// SAFETY: `&DbRef` only reads its own region.
unsafe impl Sync for DbRef {}

impl DbRef {
    /// The bytes `lo..hi` of the buffer.
    ///
    /// The caller passes the block's own region (or a part of it).
    pub(crate) fn bytes(&self, lo: usize, hi: usize) -> &[u8] {
        // SAFETY: the inner block is alive while we hold a reference.
        let i = unsafe { self.inner.as_ref() };
        assert!(lo <= hi && hi <= i.cap);
        // SAFETY: in bounds (checked); the region belongs to this
        // reference's message block alone.
        unsafe { core::slice::from_raw_parts(i.ptr.add(lo), hi - lo) }
    }

    /// The bytes `lo..hi` of the buffer, writable (the block's own
    /// region).
    pub(crate) fn bytes_mut(&mut self, lo: usize, hi: usize) -> &mut [u8] {
        // SAFETY: the inner block is alive while we hold a reference.
        let i = unsafe { self.inner.as_ref() };
        assert!(lo <= hi && hi <= i.cap);
        // SAFETY: in bounds (checked); the region is carved for this
        // reference alone (regions never overlap and a block over one is
        // never duplicated), and `&mut self` excludes other borrows.
        unsafe { core::slice::from_raw_parts_mut(i.ptr.add(lo), hi - lo) }
    }
}

impl Drop for DbRef {
    fn drop(&mut self) {
        // SAFETY: this reference is given up here.
        unsafe { release(self.inner) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carving_counts_references() {
        let mut d = Dblk::new(Vec::with_capacity(32), None);
        let (r, lo, hi) = d.carve(2, 8).unwrap();
        assert_eq!((lo, hi, d.carved()), (2, 10, 10));
        assert!(!d.is_unique());
        assert!(d.carve(0, 23).is_none());
        drop(r);
        assert!(d.reset());
        assert_eq!(d.tail().len(), 32);
    }
}

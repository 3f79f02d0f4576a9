//! Counting the data path's heap allocations.
//!
//! Theory of operation: [`CountingAlloc`] is fkoverlayd's global allocator
//! (installed in `main.rs`). It forwards every call to the system
//! allocator and, on threads that marked themselves as data-path threads
//! ([`mark_datapath_thread`]: a VNIC's TAP reader, an underlay socket's
//! receive thread), counts each allocation and reallocation in one global
//! counter ([`datapath_allocs`], shown as `datapath_allocs` by
//! `fkoverlayd stats`). The data path is meant to allocate nothing per
//! packet in steady state (buffer pools, [`crate::bufpool`]; reused
//! batches), so the counter stays still while traffic flows and its cost
//! there is one thread-local read per allocation that does not happen.
//! Control threads (device sockets, varpd's calls) are not counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

static DATAPATH_ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static DATAPATH: Cell<bool> = const { Cell::new(false) };
}

/// The system allocator, counting what data-path threads allocate.
#[derive(Debug)]
pub struct CountingAlloc;

fn count() {
    // `try_with`: no panic while the thread's locals are being destroyed;
    // a const-initialised Cell needs no allocation to be read.
    if DATAPATH.try_with(Cell::get).unwrap_or(false) {
        DATAPATH_ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees hold; counting touches no memory the
// caller owns and never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded as is; the caller upholds alloc's contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is; `ptr` came from `System` through us.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded as is; `ptr` came from `System` through us.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Marks the calling thread as a data-path thread: its allocations count.
pub fn mark_datapath_thread() {
    DATAPATH.with(|d| d.set(true));
}

/// Allocations (and reallocations) made on data-path threads so far.
pub fn datapath_allocs() -> u64 {
    DATAPATH_ALLOCS.load(Ordering::Relaxed)
}

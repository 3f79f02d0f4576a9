//! The global allocator over `kmem_alloc(9F)`/`kmem_free(9F)`.
//!
//! Every Rust allocation in the module (the driver core's `Box`, `Vec`,
//! `BTreeMap`...) comes here. The allocator cannot know whether its caller
//! may block, and the data path (`mc_tx`, the ksocket receive callback)
//! runs in contexts that must not, so every request is `KM_NOSLEEP`: under
//! memory pressure it fails rather than sleeps, and the driver turns a
//! failed fallible allocation into `ENOMEM` or a counted drop.
//!
//! `kmem_alloc` returns memory aligned to 8 bytes (16 for sizes that are
//! multiples of 16, but we do not rely on it). Larger alignments are served
//! by over-allocating and storing the original pointer and size just below
//! the aligned block. `kmem_free` needs the size, which `Layout` gives back.

use crate::sys::kmem::{kmem_alloc, kmem_free, kmem_zalloc, KM_NOSLEEP};
use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_void;
use core::ptr;

/// Alignment `kmem_alloc` guarantees on every allocation.
const KMEM_ALIGN: usize = 8;

/// Header kept below an over-aligned block: what to hand `kmem_free`.
#[repr(C)]
struct OverAligned {
    base: *mut c_void,
    size: usize,
}

pub struct KmemAlloc;

impl KmemAlloc {
    unsafe fn alloc_with(&self, layout: Layout, zero: bool) -> *mut u8 {
        let size = layout.size().max(1);
        if layout.align() <= KMEM_ALIGN {
            // SAFETY: kmem_(z)alloc with KM_NOSLEEP may be called from any
            // context and returns NULL or `size` bytes aligned to 8.
            return unsafe {
                if zero {
                    kmem_zalloc(size, KM_NOSLEEP).cast()
                } else {
                    kmem_alloc(size, KM_NOSLEEP).cast()
                }
            };
        }
        let hdr = core::mem::size_of::<OverAligned>();
        let Some(total) = size
            .checked_add(layout.align())
            .and_then(|t| t.checked_add(hdr))
        else {
            return ptr::null_mut();
        };
        // SAFETY: as above.
        let base = unsafe {
            if zero {
                kmem_zalloc(total, KM_NOSLEEP)
            } else {
                kmem_alloc(total, KM_NOSLEEP)
            }
        };
        if base.is_null() {
            return ptr::null_mut();
        }
        let start = base as usize + hdr;
        let aligned = (start + layout.align() - 1) & !(layout.align() - 1);
        // aligned + size <= base + hdr + align - 1 + size < base + total, and
        // aligned - hdr >= base, so both the block and its header are inside
        // the allocation; the header is 8-aligned because `aligned` is (at
        // least 16-aligned) and `hdr` is 16 bytes.
        let h = (aligned - hdr) as *mut OverAligned;
        // SAFETY: `h` is in bounds and suitably aligned (see above).
        unsafe { h.write(OverAligned { base, size: total }) };
        aligned as *mut u8
    }
}

// SAFETY: alloc returns NULL or a block of at least `layout.size()` bytes
// aligned to `layout.align()`; dealloc frees exactly what alloc obtained
// (the size comes from the same layout, or from the over-aligned header).
unsafe impl GlobalAlloc for KmemAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded caller contract.
        unsafe { self.alloc_with(layout, false) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded caller contract.
        unsafe { self.alloc_with(layout, true) }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if p.is_null() {
            return;
        }
        if layout.align() <= KMEM_ALIGN {
            // SAFETY: `p` came from kmem_alloc of max(size, 1) bytes.
            unsafe { kmem_free(p.cast(), layout.size().max(1)) };
            return;
        }
        let hdr = core::mem::size_of::<OverAligned>();
        // SAFETY: alloc_with wrote the header just below `p`.
        let h = unsafe { ((p as usize - hdr) as *const OverAligned).read() };
        // SAFETY: the header holds the base and size of the kmem block.
        unsafe { kmem_free(h.base, h.size) };
    }
}

#[global_allocator]
static KMEM: KmemAlloc = KmemAlloc;

//! `Global<T>`: a `static` whose contents the kernel may read and write.
//!
//! Kernel linkage structures (`dev_ops`, `modlinkage`, `mac_callbacks_t`,
//! the dld ioctl table) must live at fixed addresses in writable data (the
//! kernel updates `devo_refcnt`, for one) and hold raw pointers, which are
//! neither `Sync` nor `Send`. `Global` wraps them in an `UnsafeCell` (so
//! they land in `.data`, not `.rodata`) and asserts `Sync`: every access
//! goes through a raw pointer whose use the caller justifies.

use core::cell::UnsafeCell;

#[repr(transparent)]
pub struct Global<T>(UnsafeCell<T>);

// SAFETY: the contents are only reached through `get()`, a raw pointer; the
// kernel serialises the accesses that write (module load/unload, attach and
// detach), and everything else only reads.
unsafe impl<T> Sync for Global<T> {}

impl<T> Global<T> {
    pub const fn new(v: T) -> Self {
        Global(UnsafeCell::new(v))
    }

    /// The address the kernel is given.
    pub const fn get(&self) -> *mut T {
        self.0.get()
    }
}

//! sys/kmem.h: the kernel memory allocator.

use super::types::{c_int, c_void, size_t};

pub const KM_SLEEP: c_int = 0x0000;
pub const KM_NOSLEEP: c_int = 0x0001;
pub const KM_NORMALPRI: c_int = 0x0008;

extern "C" {
    pub fn kmem_alloc(size: size_t, kmflag: c_int) -> *mut c_void;
    pub fn kmem_zalloc(size: size_t, kmflag: c_int) -> *mut c_void;
    pub fn kmem_free(buf: *mut c_void, size: size_t);
}

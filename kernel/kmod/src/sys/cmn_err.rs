//! sys/cmn_err.h: console and system-log messages, and panic.

use super::types::{c_char, c_int};

pub const CE_CONT: c_int = 0;
pub const CE_NOTE: c_int = 1;
pub const CE_WARN: c_int = 2;
pub const CE_PANIC: c_int = 3;

extern "C" {
    pub fn cmn_err(level: c_int, fmt: *const c_char, ...);
    /// The kernel's `panic()`: never returns.
    #[link_name = "panic"]
    pub fn kernel_panic(fmt: *const c_char, ...) -> !;
}

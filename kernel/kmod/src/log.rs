//! Logging through `cmn_err(9F)`.
//!
//! Messages are formatted into a fixed stack buffer (no allocation, so this
//! is usable from the panic handler and with locks held), NUL-terminated and
//! passed to `cmn_err` as the argument of a `"%s"` format, so a `%` in the
//! message is never interpreted. Over-long messages are truncated.

use crate::logbuf::LogBuf;
use crate::sys::cmn_err::{cmn_err, CE_NOTE, CE_WARN};
use core::ffi::c_int;
use core::fmt::{self, Write};

/// Logs `args` at `level` (`CE_NOTE`, `CE_WARN`, ...), prefixed "overlay: ".
pub fn log(level: c_int, args: fmt::Arguments<'_>) {
    let mut b = LogBuf::new();
    // LogBuf::write_str never fails; truncation is silent by design.
    let _ = b.write_str("overlay: ");
    let _ = b.write_fmt(args);
    // SAFETY: "%s" consumes exactly one argument, a NUL-terminated string
    // that lives until cmn_err returns.
    unsafe { cmn_err(level, c"%s".as_ptr(), b.as_ptr()) };
}

pub fn note(args: fmt::Arguments<'_>) {
    log(CE_NOTE, args)
}

pub fn warn(args: fmt::Arguments<'_>) {
    log(CE_WARN, args)
}

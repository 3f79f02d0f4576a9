//! Logging through `cmn_err(9F)`.
//!
//! Messages are formatted into a fixed stack buffer (no allocation, so this
//! is usable from the panic handler and with locks held), NUL-terminated and
//! passed to `cmn_err` as the argument of a `"%s"` format, so a `%` in the
//! message is never interpreted. Over-long messages are truncated.

use crate::sys::cmn_err::{cmn_err, CE_NOTE, CE_WARN};
use core::ffi::{c_char, c_int};
use core::fmt::{self, Write};

/// Capacity of one formatted message, including the terminating NUL.
pub const LOG_BUFLEN: usize = 256;

/// A fixed-size, always NUL-terminated text buffer.
pub struct LogBuf {
    buf: [u8; LOG_BUFLEN],
    len: usize,
}

impl Default for LogBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl LogBuf {
    pub const fn new() -> Self {
        LogBuf {
            buf: [0; LOG_BUFLEN],
            len: 0,
        }
    }

    /// The text as a C string (always terminated: `len < LOG_BUFLEN`).
    pub fn as_ptr(&self) -> *const c_char {
        self.buf.as_ptr().cast()
    }
}

impl Write for LogBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            // Keep one byte for the NUL; drop interior NULs so the C string
            // is not cut short.
            if self.len + 1 >= LOG_BUFLEN {
                break;
            }
            if b != 0 {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
        self.buf[self.len] = 0;
        Ok(())
    }
}

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

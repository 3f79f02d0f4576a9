//! `LogBuf`: a fixed-size, always NUL-terminated text buffer for
//! `cmn_err` messages, formatted without allocating (usable from the panic
//! handler and with locks held). Over-long text is truncated; interior NULs
//! are dropped so the C string is never cut short.

use core::ffi::c_char;
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

    /// The text, without the terminating NUL.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
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

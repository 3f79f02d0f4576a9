//! The panic handler: log with `cmn_err` and panic the system.
//!
//! A Rust panic in the kernel is a bug (the driver never panics on input),
//! and there is no unwinding (`panic = "abort"`), so the only safe response
//! is illumos' own `panic()`, which takes a crash dump. The message and
//! location are formatted into a stack buffer first: no allocation happens
//! on this path.

use crate::logbuf::LogBuf;
use crate::sys::cmn_err::{cmn_err, kernel_panic, CE_WARN};
use core::fmt::Write;
use core::panic::PanicInfo;

#[panic_handler]
fn overlay_panic(info: &PanicInfo<'_>) -> ! {
    let mut b = LogBuf::new();
    // LogBuf never fails; a long message is truncated.
    let _ = write!(b, "overlay: rust panic: {}", info.message());
    if let Some(loc) = info.location() {
        let _ = write!(b, " at {}:{}", loc.file(), loc.line());
    }
    // SAFETY: "%s" takes one NUL-terminated string, which `b` provides and
    // keeps alive across both calls; panic() does not return.
    unsafe {
        cmn_err(CE_WARN, c"%s".as_ptr(), b.as_ptr());
        kernel_panic(c"%s".as_ptr(), b.as_ptr())
    }
}

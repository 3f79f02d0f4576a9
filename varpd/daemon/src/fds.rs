//! Descriptors: closing what the invoker left open, and moving standard
//! input, output and error off the invoker (onto `/dev/null` or a log
//! file) once the daemon detaches.

use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};

/// Closes every descriptor above stderr inherited from the invoker
/// (`closefrom(3)`): an open pipe or file of the caller must not stay open
/// for the daemon's lifetime. Call it first in `main`, before this process
/// opens anything.
pub fn close_inherited() {
    #[cfg(target_os = "linux")]
    // SAFETY: close_range only closes descriptors; nothing in this process
    // holds any above 2 yet (the caller runs this first thing in main).
    unsafe {
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
    }
    #[cfg(target_os = "illumos")]
    {
        extern "C" {
            fn closefrom(lowfd: libc::c_int);
        }
        // SAFETY: as above.
        unsafe { closefrom(3) };
    }
}

/// Puts each of `fds` (standard descriptors: 0, 1, 2) onto `file`.
pub fn stdio_to(file: &File, fds: &[RawFd]) {
    for &fd in fds {
        // SAFETY: dup2 onto a standard descriptor; `file` is open for the
        // duration of the call.
        unsafe { libc::dup2(file.as_raw_fd(), fd) };
    }
}

/// Puts each of `fds` onto `/dev/null`, opened for reading and writing.
/// Nothing changes if `/dev/null` cannot be opened.
pub fn stdio_to_null(fds: &[RawFd]) {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        stdio_to(&null, fds);
    }
}

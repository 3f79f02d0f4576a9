//! illumos errno numbers and their `strerror(3C)` texts.
//!
//! Every errno that crosses a component boundary (ioctl results from the
//! kernel or fkoverlayd, door results from varpd) is an *illumos* number,
//! whatever the host. dladm turns them into `dladm_status_t` values
//! (`status::Status::from_errno`, libdladm's `dladm_errno2status`) and, for
//! the few messages that print `strerror()` directly (the varpd steps of the
//! create sequence), into the illumos message text, so the output is the
//! same on Linux and illumos. The numbers and texts are the ABI crate's
//! single table ([`overlay_sys::errno`], re-exported here); this module only
//! adds dladm's `String`-valued `strerror` and the mapping of host I/O
//! errors.

pub use overlay_sys::errno::*;

/// An illumos errno value (`vca_errno`, an ioctl's result). varpd's
/// `VARPD_LOOKUP_DROP` (-1) is the one negative value seen.
pub type Errno = i32;

/// illumos `strerror()` for `e`: `"Unknown error <e>"` for a number illumos
/// has no text for (as illumos' libc prints it).
pub fn strerror(e: Errno) -> String {
    match message(e) {
        Some(s) => s.to_string(),
        None => format!("Unknown error {e}"),
    }
}

/// The illumos errno for a host (`std::io`) error, for failures that happen
/// on this side of a socket (connect, read, write).
pub fn from_io(e: &std::io::Error) -> Errno {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::NotFound => ENOENT,
        K::PermissionDenied => EACCES,
        K::ConnectionRefused => ECONNREFUSED,
        K::ConnectionReset => ECONNRESET,
        K::BrokenPipe => EPIPE,
        K::UnexpectedEof => ECONNRESET,
        K::TimedOut => ETIMEDOUT,
        K::InvalidInput | K::InvalidData => EINVAL,
        K::AddrInUse => EADDRINUSE,
        K::AddrNotAvailable => EADDRNOTAVAIL,
        K::OutOfMemory => ENOMEM,
        K::Interrupted => EINTR,
        _ => EIO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn illumos_numbers_not_linux() {
        assert_eq!(ENOTSUP, 48);
        assert_eq!(EOVERFLOW, 79);
        assert_eq!(strerror(ENOENT), "No such file or directory");
        assert_eq!(strerror(9999), "Unknown error 9999");
    }
}

//! illumos errno numbers and their `strerror(3C)` texts.
//!
//! Every errno that crosses a component boundary (ioctl results from the
//! kernel or fkoverlayd, door results from varpd) is an *illumos* number,
//! whatever the host. dladm turns them into `dladm_status_t` values
//! (`status::Status::from_errno`, libdladm's `dladm_errno2status`) and, for
//! the few messages that print `strerror()` directly (the varpd steps of the
//! create sequence), into the illumos message text below, so the output is
//! the same on Linux and illumos.

/// An illumos errno value.
pub type Errno = u32;

pub const EPERM: Errno = 1;
pub const ENOENT: Errno = 2;
pub const ESRCH: Errno = 3;
pub const EINTR: Errno = 4;
pub const EIO: Errno = 5;
pub const ENXIO: Errno = 6;
pub const E2BIG: Errno = 7;
pub const EBADF: Errno = 9;
pub const EAGAIN: Errno = 11;
pub const ENOMEM: Errno = 12;
pub const EACCES: Errno = 13;
pub const EFAULT: Errno = 14;
pub const EBUSY: Errno = 16;
pub const EEXIST: Errno = 17;
pub const ENODEV: Errno = 19;
pub const EINVAL: Errno = 22;
pub const ENOTTY: Errno = 25;
pub const ENOSPC: Errno = 28;
pub const EPIPE: Errno = 32;
pub const ERANGE: Errno = 34;
pub const ENOTSUP: Errno = 48;
pub const ETIME: Errno = 62;
pub const EOVERFLOW: Errno = 79;
pub const ENOTEMPTY: Errno = 93;
pub const EOPNOTSUPP: Errno = 122;
pub const EADDRINUSE: Errno = 125;
pub const EADDRNOTAVAIL: Errno = 126;
pub const ENETDOWN: Errno = 127;
pub const ECONNRESET: Errno = 131;
pub const ETIMEDOUT: Errno = 145;
pub const ECONNREFUSED: Errno = 146;
pub const EALREADY: Errno = 149;

/// illumos `strerror()` for `e`.
pub fn strerror(e: Errno) -> String {
    let s = match e {
        0 => "Error 0",
        EPERM => "Not owner",
        ENOENT => "No such file or directory",
        ESRCH => "No such process",
        EINTR => "Interrupted system call",
        EIO => "I/O error",
        ENXIO => "No such device or address",
        E2BIG => "Arg list too long",
        EBADF => "Bad file number",
        EAGAIN => "Resource temporarily unavailable",
        ENOMEM => "Not enough space",
        EACCES => "Permission denied",
        EFAULT => "Bad address",
        EBUSY => "Device busy",
        EEXIST => "File exists",
        ENODEV => "No such device",
        EINVAL => "Invalid argument",
        ENOTTY => "Inappropriate ioctl for device",
        ENOSPC => "No space left on device",
        EPIPE => "Broken pipe",
        ERANGE => "Result too large",
        ENOTSUP => "Operation not supported",
        ETIME => "Timer expired",
        EOVERFLOW => "Value too large for defined data type",
        ENOTEMPTY => "Directory not empty",
        EOPNOTSUPP => "Operation not supported on transport endpoint",
        EADDRINUSE => "Address already in use",
        EADDRNOTAVAIL => "Cannot assign requested address",
        ENETDOWN => "Network is down",
        ECONNRESET => "Connection reset by peer",
        ETIMEDOUT => "Connection timed out",
        ECONNREFUSED => "Connection refused",
        EALREADY => "Operation already in progress",
        _ => return format!("Unknown error {e}"),
    };
    s.to_string()
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

//! illumos errno numbers.
//!
//! Every errno that crosses a component boundary (ioctl results from
//! fkoverlayd's device sockets, `vca_errno` in the varpd door envelope) is an
//! *illumos* number, whatever the host. [`Errno`] carries such a number; the
//! constants below are the illumos values (`sys/errno.h`). On Linux the host's
//! own errno values differ above 34, so [`Errno::from_io`] and
//! [`Errno::to_io`] translate at the edge where host system calls are made.

use std::fmt;
use std::io;

/// An illumos errno number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Errno(pub i32);

macro_rules! errnos {
    ($( $name:ident = $num:expr, $host:ident, $text:expr; )*) => {
        impl Errno {
            $( #[doc = $text] pub const $name: Errno = Errno($num); )*

            /// The symbolic name (`"ENOENT"`), if known.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $num => Some(stringify!($name)), )*
                    _ => None,
                }
            }

            /// The illumos `strerror(3C)` text, if known.
            pub fn text(self) -> Option<&'static str> {
                match self.0 {
                    $( $num => Some($text), )*
                    _ => None,
                }
            }

            /// Translate a host (this platform's) errno number to illumos.
            pub fn from_host(host: i32) -> Errno {
                $( if host == libc::$host { return Errno::$name; } )*
                Errno::EIO
            }

            /// The host (this platform's) errno number for this illumos errno.
            pub fn to_host(self) -> i32 {
                match self.0 {
                    $( $num => libc::$host, )*
                    _ => libc::EIO,
                }
            }
        }
    };
}

errnos! {
    EPERM = 1, EPERM, "Not owner";
    ENOENT = 2, ENOENT, "No such file or directory";
    EINTR = 4, EINTR, "Interrupted system call";
    EIO = 5, EIO, "I/O error";
    ENXIO = 6, ENXIO, "No such device or address";
    E2BIG = 7, E2BIG, "Arg list too long";
    EBADF = 9, EBADF, "Bad file number";
    EAGAIN = 11, EAGAIN, "Resource temporarily unavailable";
    ENOMEM = 12, ENOMEM, "Not enough space";
    EACCES = 13, EACCES, "Permission denied";
    EFAULT = 14, EFAULT, "Bad address";
    EBUSY = 16, EBUSY, "Device busy";
    EEXIST = 17, EEXIST, "File exists";
    ENODEV = 19, ENODEV, "No such device";
    ENOTDIR = 20, ENOTDIR, "Not a directory";
    EINVAL = 22, EINVAL, "Invalid argument";
    ENFILE = 23, ENFILE, "File table overflow";
    EMFILE = 24, EMFILE, "Too many open files";
    ENOTTY = 25, ENOTTY, "Inappropriate ioctl for device";
    ENOSPC = 28, ENOSPC, "No space left on device";
    EPIPE = 32, EPIPE, "Broken pipe";
    ERANGE = 34, ERANGE, "Result too large";
    ENOTSUP = 48, EOPNOTSUPP, "Operation not supported";
    ETIME = 62, ETIME, "Timer expired";
    EPROTO = 71, EPROTO, "Protocol error";
    ENAMETOOLONG = 78, ENAMETOOLONG, "File name too long";
    EOVERFLOW = 79, EOVERFLOW, "Value too large for defined data type";
    ENOSYS = 89, ENOSYS, "Operation not applicable";
    ENOTSOCK = 95, ENOTSOCK, "Socket operation on non-socket";
    EADDRINUSE = 125, EADDRINUSE, "Address already in use";
    ECONNRESET = 131, ECONNRESET, "Connection reset by peer";
    ETIMEDOUT = 145, ETIMEDOUT, "Connection timed out";
    ECONNREFUSED = 146, ECONNREFUSED, "Connection refused";
}

impl Errno {
    /// The illumos errno for a host I/O error (`EIO` when it has none).
    pub fn from_io(e: &io::Error) -> Errno {
        match e.raw_os_error() {
            Some(n) => Errno::from_host(n),
            None => match e.kind() {
                io::ErrorKind::UnexpectedEof => Errno::ECONNRESET,
                io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => Errno::EINVAL,
                io::ErrorKind::NotFound => Errno::ENOENT,
                io::ErrorKind::PermissionDenied => Errno::EPERM,
                _ => Errno::EIO,
            },
        }
    }

    /// A host I/O error for this illumos errno.
    pub fn to_io(self) -> io::Error {
        io::Error::from_raw_os_error(self.to_host())
    }
}

impl From<io::Error> for Errno {
    fn from(e: io::Error) -> Errno {
        Errno::from_io(&e)
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n}({})", self.0),
            None => write!(f, "Errno({})", self.0),
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.text() {
            Some(t) => f.write_str(t),
            None => write!(f, "Unknown error {}", self.0),
        }
    }
}

impl std::error::Error for Errno {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn illumos_numbers() {
        assert_eq!(Errno::ENOTSUP.0, 48);
        assert_eq!(Errno::EOVERFLOW.0, 79);
        assert_eq!(Errno::ETIME.0, 62);
        assert_eq!(Errno::ENOENT.name(), Some("ENOENT"));
        assert_eq!(Errno(9999).name(), None);
    }

    #[test]
    fn host_round_trip() {
        for e in [Errno::ENOTSUP, Errno::EOVERFLOW, Errno::EPERM, Errno::ETIME] {
            assert_eq!(Errno::from_host(e.to_host()), e);
            assert_eq!(Errno::from_io(&e.to_io()), e);
        }
    }
}

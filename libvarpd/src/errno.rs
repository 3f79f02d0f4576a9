//! illumos errno numbers.
//!
//! Every errno that crosses a component boundary (ioctl results from
//! fkoverlayd's device sockets, `vca_errno` in the varpd door envelope) is an
//! *illumos* number, whatever the host. [`Errno`] carries such a number. The
//! numbers, names, `strerror(3C)` texts and the Linux translation all come
//! from the ABI crate's single table, [`overlay_sys::errno`]; this type only
//! adds what a `std` program wants on top (Display, `io::Error`
//! conversions). On Linux the host's own errno values differ above 34, so
//! [`Errno::from_io`] and [`Errno::to_io`] translate at the edge where host
//! system calls are made; on illumos the host numbering is illumos'.

use overlay_sys::errno as e;
use std::fmt;
use std::io;

/// An illumos errno number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Errno(pub i32);

/// `Errno::NAME` for every `overlay_sys::errno::NAME`.
macro_rules! errnos {
    ($( $name:ident ),* $(,)?) => {
        impl Errno {
            $( pub const $name: Errno = Errno(e::$name); )*
        }
    };
}

errnos! {
    EPERM, ENOENT, ESRCH, EINTR, EIO, ENXIO, E2BIG, ENOEXEC, EBADF, ECHILD,
    EAGAIN, EWOULDBLOCK, ENOMEM, EACCES, EFAULT, EBUSY, EEXIST, EXDEV, ENODEV,
    ENOTDIR, EISDIR, EINVAL, ENFILE, EMFILE, ENOTTY, EFBIG, ENOSPC, ESPIPE,
    EROFS, EMLINK, EPIPE, EDOM, ERANGE, ENOMSG, EIDRM, EDEADLK, ENOLCK,
    ECANCELED, ENOTSUP, ENODATA, ETIME, EPROTO, EBADMSG, ENAMETOOLONG,
    EOVERFLOW, EILSEQ, ENOSYS, ELOOP, ENOTEMPTY, ENOTSOCK, EDESTADDRREQ,
    EMSGSIZE, EPROTOTYPE, ENOPROTOOPT, EPROTONOSUPPORT, ESOCKTNOSUPPORT,
    EOPNOTSUPP, EPFNOSUPPORT, EAFNOSUPPORT, EADDRINUSE, EADDRNOTAVAIL,
    ENETDOWN, ENETUNREACH, ENETRESET, ECONNABORTED, ECONNRESET, ENOBUFS,
    EISCONN, ENOTCONN, ETIMEDOUT, ECONNREFUSED, EHOSTDOWN, EHOSTUNREACH,
    EALREADY, EINPROGRESS,
}

impl Errno {
    /// The symbolic name (`"ENOENT"`), if known.
    pub fn name(self) -> Option<&'static str> {
        e::name(self.0)
    }

    /// The illumos `strerror(3C)` text, if known.
    pub fn text(self) -> Option<&'static str> {
        e::message(self.0)
    }

    /// Translate a host (this platform's) errno number to illumos.
    pub fn from_host(host: i32) -> Errno {
        #[cfg(target_os = "illumos")]
        {
            Errno(host)
        }
        #[cfg(not(target_os = "illumos"))]
        {
            Errno(e::from_linux(host))
        }
    }

    /// The host (this platform's) errno number for this illumos errno.
    pub fn to_host(self) -> i32 {
        #[cfg(target_os = "illumos")]
        {
            self.0
        }
        #[cfg(not(target_os = "illumos"))]
        {
            e::to_linux(self.0)
        }
    }
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

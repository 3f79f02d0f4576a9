//! The driver's error type: an illumos errno number.
//!
//! Every fallible driver function returns `Result<_, Errno>`; hosts hand the
//! number unchanged to their callers (dld, the fkoverlayd sockets), so it is
//! always the **illumos** value from `overlay_sys::errno`, never the host's.

use overlay_sys::errno as e;

/// An illumos errno (never 0 inside an `Err`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Errno(pub i32);

macro_rules! consts {
    ($($n:ident),* $(,)?) => {
        impl Errno {
            $(pub const $n: Errno = Errno(e::$n);)*
        }
    };
}

consts!(
    EPERM,
    ENOENT,
    EINTR,
    EIO,
    ENXIO,
    E2BIG,
    EBADF,
    EAGAIN,
    ENOMEM,
    EACCES,
    EFAULT,
    EBUSY,
    EEXIST,
    ENODEV,
    EINVAL,
    ENOTTY,
    ENOSPC,
    ERANGE,
    ECANCELED,
    ENOTSUP,
    ETIME,
    EPROTO,
    EOVERFLOW,
    ENOSYS,
    EOPNOTSUPP,
    EAFNOSUPPORT,
    EADDRINUSE,
    EADDRNOTAVAIL,
    ENOBUFS,
    ENETUNREACH,
    EHOSTUNREACH,
    EMSGSIZE,
    ECONNREFUSED,
    ETIMEDOUT,
);

impl Errno {
    /// The raw illumos number.
    pub fn get(self) -> i32 {
        self.0
    }

    /// illumos' `strerror` text.
    pub fn strerror(self) -> &'static str {
        e::strerror(self.0)
    }

    /// Convert a Linux errno (from a Linux system call) to the illumos one.
    pub fn from_linux(linux: i32) -> Errno {
        Errno(e::from_linux(linux))
    }
}

impl core::fmt::Debug for Errno {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match e::name(self.0) {
            Some(n) => write!(f, "{n}"),
            None => write!(f, "Errno({})", self.0),
        }
    }
}

impl core::fmt::Display for Errno {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.strerror())
    }
}

/// Turn a driver result into the number an ioctl returns (0 on success).
pub fn to_errno(r: Result<(), Errno>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => e.0,
    }
}

//! illumos errno numbers and their `strerror(3C)` messages.
//!
//! Every errno that crosses a component boundary (ioctl results over the
//! fkoverlayd sockets, door results, the driver's own `Errno`) is an
//! **illumos** number, even when the program runs on Linux. This module is
//! the single table of those numbers, the exact message strings of illumos'
//! `libc` (`errlst.c`), and a translation from Linux numbers for hosts that
//! receive errors from Linux system calls (fkoverlayd's UDP sockets).

/// Not owner.
pub const EPERM: i32 = 1;
pub const ENOENT: i32 = 2;
pub const ESRCH: i32 = 3;
pub const EINTR: i32 = 4;
pub const EIO: i32 = 5;
pub const ENXIO: i32 = 6;
pub const E2BIG: i32 = 7;
pub const ENOEXEC: i32 = 8;
pub const EBADF: i32 = 9;
pub const ECHILD: i32 = 10;
pub const EAGAIN: i32 = 11;
pub const EWOULDBLOCK: i32 = EAGAIN;
pub const ENOMEM: i32 = 12;
pub const EACCES: i32 = 13;
pub const EFAULT: i32 = 14;
pub const EBUSY: i32 = 16;
pub const EEXIST: i32 = 17;
pub const EXDEV: i32 = 18;
pub const ENODEV: i32 = 19;
pub const ENOTDIR: i32 = 20;
pub const EISDIR: i32 = 21;
pub const EINVAL: i32 = 22;
pub const ENFILE: i32 = 23;
pub const EMFILE: i32 = 24;
pub const ENOTTY: i32 = 25;
pub const EFBIG: i32 = 27;
pub const ENOSPC: i32 = 28;
pub const ESPIPE: i32 = 29;
pub const EROFS: i32 = 30;
pub const EMLINK: i32 = 31;
pub const EPIPE: i32 = 32;
pub const EDOM: i32 = 33;
pub const ERANGE: i32 = 34;
pub const ENOMSG: i32 = 35;
pub const EIDRM: i32 = 36;
pub const EDEADLK: i32 = 45;
pub const ENOLCK: i32 = 46;
pub const ECANCELED: i32 = 47;
pub const ENOTSUP: i32 = 48;
pub const ENODATA: i32 = 61;
pub const ETIME: i32 = 62;
pub const EPROTO: i32 = 71;
pub const EBADMSG: i32 = 77;
pub const ENAMETOOLONG: i32 = 78;
pub const EOVERFLOW: i32 = 79;
pub const EILSEQ: i32 = 88;
pub const ENOSYS: i32 = 89;
pub const ELOOP: i32 = 90;
pub const ENOTEMPTY: i32 = 93;
pub const ENOTSOCK: i32 = 95;
pub const EDESTADDRREQ: i32 = 96;
pub const EMSGSIZE: i32 = 97;
pub const EPROTOTYPE: i32 = 98;
pub const ENOPROTOOPT: i32 = 99;
pub const EPROTONOSUPPORT: i32 = 120;
pub const ESOCKTNOSUPPORT: i32 = 121;
pub const EOPNOTSUPP: i32 = 122;
pub const EPFNOSUPPORT: i32 = 123;
pub const EAFNOSUPPORT: i32 = 124;
pub const EADDRINUSE: i32 = 125;
pub const EADDRNOTAVAIL: i32 = 126;
pub const ENETDOWN: i32 = 127;
pub const ENETUNREACH: i32 = 128;
pub const ENETRESET: i32 = 129;
pub const ECONNABORTED: i32 = 130;
pub const ECONNRESET: i32 = 131;
pub const ENOBUFS: i32 = 132;
pub const EISCONN: i32 = 133;
pub const ENOTCONN: i32 = 134;
pub const ETIMEDOUT: i32 = 145;
pub const ECONNREFUSED: i32 = 146;
pub const EHOSTDOWN: i32 = 147;
pub const EHOSTUNREACH: i32 = 148;
pub const EALREADY: i32 = 149;
pub const EINPROGRESS: i32 = 150;

/// The message illumos' `strerror(3C)` prints for `e`, or `"Unknown error"`
/// for a number this table does not know.
pub fn strerror(e: i32) -> &'static str {
    message(e).unwrap_or("Unknown error")
}

/// The message illumos' `strerror(3C)` prints for `e` (`errlist` in libc),
/// or `None` for a number this table does not know.
pub fn message(e: i32) -> Option<&'static str> {
    Some(match e {
        0 => "Error 0",
        EPERM => "Not owner",
        ENOENT => "No such file or directory",
        ESRCH => "No such process",
        EINTR => "Interrupted system call",
        EIO => "I/O error",
        ENXIO => "No such device or address",
        E2BIG => "Arg list too long",
        ENOEXEC => "Exec format error",
        EBADF => "Bad file number",
        ECHILD => "No child processes",
        EAGAIN => "Resource temporarily unavailable",
        ENOMEM => "Not enough space",
        EACCES => "Permission denied",
        EFAULT => "Bad address",
        EBUSY => "Device busy",
        EEXIST => "File exists",
        EXDEV => "Cross-device link",
        ENODEV => "No such device",
        ENOTDIR => "Not a directory",
        EISDIR => "Is a directory",
        EINVAL => "Invalid argument",
        ENFILE => "File table overflow",
        EMFILE => "Too many open files",
        ENOTTY => "Inappropriate ioctl for device",
        EFBIG => "File too large",
        ENOSPC => "No space left on device",
        ESPIPE => "Illegal seek",
        EROFS => "Read-only file system",
        EMLINK => "Too many links",
        EPIPE => "Broken pipe",
        EDOM => "Argument out of domain",
        ERANGE => "Result too large",
        ENOMSG => "No message of desired type",
        EIDRM => "Identifier removed",
        EDEADLK => "Deadlock situation detected/avoided",
        ENOLCK => "No record locks available",
        ECANCELED => "Operation canceled",
        ENOTSUP => "Operation not supported",
        ENODATA => "No data available",
        ETIME => "Timer expired",
        EPROTO => "Protocol error",
        EBADMSG => "Not a data message",
        ENAMETOOLONG => "File name too long",
        EOVERFLOW => "Value too large for defined data type",
        EILSEQ => "Illegal byte sequence",
        ENOSYS => "Operation not applicable",
        ELOOP => {
            "Number of symbolic links encountered during path name traversal exceeds MAXSYMLINKS"
        }
        ENOTEMPTY => "Directory not empty",
        ENOTSOCK => "Socket operation on non-socket",
        EDESTADDRREQ => "Destination address required",
        EMSGSIZE => "Message too long",
        EPROTOTYPE => "Protocol wrong type for socket",
        ENOPROTOOPT => "Option not supported by protocol",
        EPROTONOSUPPORT => "Protocol not supported",
        ESOCKTNOSUPPORT => "Socket type not supported",
        EOPNOTSUPP => "Operation not supported on transport endpoint",
        EPFNOSUPPORT => "Protocol family not supported",
        EAFNOSUPPORT => "Address family not supported by protocol family",
        EADDRINUSE => "Address already in use",
        EADDRNOTAVAIL => "Cannot assign requested address",
        ENETDOWN => "Network is down",
        ENETUNREACH => "Network is unreachable",
        ENETRESET => "Network dropped connection because of reset",
        ECONNABORTED => "Software caused connection abort",
        ECONNRESET => "Connection reset by peer",
        ENOBUFS => "No buffer space available",
        EISCONN => "Transport endpoint is already connected",
        ENOTCONN => "Transport endpoint is not connected",
        ETIMEDOUT => "Connection timed out",
        ECONNREFUSED => "Connection refused",
        EHOSTDOWN => "Host is down",
        EHOSTUNREACH => "No route to host",
        EALREADY => "Operation already in progress",
        EINPROGRESS => "Operation now in progress",
        _ => return None,
    })
}

/// The illumos name of `e` (`"ENOENT"`), or `None` if unknown.
pub fn name(e: i32) -> Option<&'static str> {
    Some(match e {
        EPERM => "EPERM",
        ENOENT => "ENOENT",
        ESRCH => "ESRCH",
        EINTR => "EINTR",
        EIO => "EIO",
        ENXIO => "ENXIO",
        E2BIG => "E2BIG",
        ENOEXEC => "ENOEXEC",
        EBADF => "EBADF",
        ECHILD => "ECHILD",
        EAGAIN => "EAGAIN",
        ENOMEM => "ENOMEM",
        EACCES => "EACCES",
        EFAULT => "EFAULT",
        EBUSY => "EBUSY",
        EEXIST => "EEXIST",
        EXDEV => "EXDEV",
        ENODEV => "ENODEV",
        ENOTDIR => "ENOTDIR",
        EISDIR => "EISDIR",
        EINVAL => "EINVAL",
        ENFILE => "ENFILE",
        EMFILE => "EMFILE",
        ENOTTY => "ENOTTY",
        EFBIG => "EFBIG",
        ENOSPC => "ENOSPC",
        ESPIPE => "ESPIPE",
        EROFS => "EROFS",
        EMLINK => "EMLINK",
        EPIPE => "EPIPE",
        EDOM => "EDOM",
        ERANGE => "ERANGE",
        ENOMSG => "ENOMSG",
        EIDRM => "EIDRM",
        EDEADLK => "EDEADLK",
        ENOLCK => "ENOLCK",
        ECANCELED => "ECANCELED",
        ENOTSUP => "ENOTSUP",
        ENODATA => "ENODATA",
        ETIME => "ETIME",
        EPROTO => "EPROTO",
        EBADMSG => "EBADMSG",
        ENAMETOOLONG => "ENAMETOOLONG",
        EOVERFLOW => "EOVERFLOW",
        EILSEQ => "EILSEQ",
        ENOSYS => "ENOSYS",
        ELOOP => "ELOOP",
        ENOTEMPTY => "ENOTEMPTY",
        ENOTSOCK => "ENOTSOCK",
        EDESTADDRREQ => "EDESTADDRREQ",
        EMSGSIZE => "EMSGSIZE",
        EPROTOTYPE => "EPROTOTYPE",
        ENOPROTOOPT => "ENOPROTOOPT",
        EPROTONOSUPPORT => "EPROTONOSUPPORT",
        ESOCKTNOSUPPORT => "ESOCKTNOSUPPORT",
        EOPNOTSUPP => "EOPNOTSUPP",
        EPFNOSUPPORT => "EPFNOSUPPORT",
        EAFNOSUPPORT => "EAFNOSUPPORT",
        EADDRINUSE => "EADDRINUSE",
        EADDRNOTAVAIL => "EADDRNOTAVAIL",
        ENETDOWN => "ENETDOWN",
        ENETUNREACH => "ENETUNREACH",
        ENETRESET => "ENETRESET",
        ECONNABORTED => "ECONNABORTED",
        ECONNRESET => "ECONNRESET",
        ENOBUFS => "ENOBUFS",
        EISCONN => "EISCONN",
        ENOTCONN => "ENOTCONN",
        ETIMEDOUT => "ETIMEDOUT",
        ECONNREFUSED => "ECONNREFUSED",
        EHOSTDOWN => "EHOSTDOWN",
        EHOSTUNREACH => "EHOSTUNREACH",
        EALREADY => "EALREADY",
        EINPROGRESS => "EINPROGRESS",
        _ => return None,
    })
}

/// Translate a Linux errno (as returned by a Linux system call) to the
/// illumos number. Numbers 1–34 are the same on both systems; the rest are
/// mapped by name; an unknown Linux number becomes `EIO`.
pub fn from_linux(e: i32) -> i32 {
    match e {
        0..=34 => e,
        35 => EDEADLK,
        36 => ENAMETOOLONG,
        37 => ENOLCK,
        38 => ENOSYS,
        39 => ENOTEMPTY,
        40 => ELOOP,
        42 => ENOMSG,
        43 => EIDRM,
        61 => ENODATA,
        62 => ETIME,
        71 => EPROTO,
        74 => EBADMSG,
        75 => EOVERFLOW,
        84 => EILSEQ,
        88 => ENOTSOCK,
        89 => EDESTADDRREQ,
        90 => EMSGSIZE,
        91 => EPROTOTYPE,
        92 => ENOPROTOOPT,
        93 => EPROTONOSUPPORT,
        94 => ESOCKTNOSUPPORT,
        95 => ENOTSUP,
        96 => EPFNOSUPPORT,
        97 => EAFNOSUPPORT,
        98 => EADDRINUSE,
        99 => EADDRNOTAVAIL,
        100 => ENETDOWN,
        101 => ENETUNREACH,
        102 => ENETRESET,
        103 => ECONNABORTED,
        104 => ECONNRESET,
        105 => ENOBUFS,
        106 => EISCONN,
        107 => ENOTCONN,
        110 => ETIMEDOUT,
        111 => ECONNREFUSED,
        112 => EHOSTDOWN,
        113 => EHOSTUNREACH,
        114 => EALREADY,
        115 => EINPROGRESS,
        125 => ECANCELED,
        _ => EIO,
    }
}

/// Translate an illumos errno to the Linux number (the inverse of
/// [`from_linux`] for the numbers it knows; unknown → Linux `EIO` = 5).
pub fn to_linux(e: i32) -> i32 {
    match e {
        0..=34 => e,
        EDEADLK => 35,
        ENAMETOOLONG => 36,
        ENOLCK => 37,
        ENOSYS => 38,
        ENOTEMPTY => 39,
        ELOOP => 40,
        ENOMSG => 42,
        EIDRM => 43,
        ENODATA => 61,
        ETIME => 62,
        EPROTO => 71,
        EBADMSG => 74,
        EOVERFLOW => 75,
        EILSEQ => 84,
        ENOTSOCK => 88,
        EDESTADDRREQ => 89,
        EMSGSIZE => 90,
        EPROTOTYPE => 91,
        ENOPROTOOPT => 92,
        EPROTONOSUPPORT => 93,
        ESOCKTNOSUPPORT => 94,
        ENOTSUP | EOPNOTSUPP => 95,
        EPFNOSUPPORT => 96,
        EAFNOSUPPORT => 97,
        EADDRINUSE => 98,
        EADDRNOTAVAIL => 99,
        ENETDOWN => 100,
        ENETUNREACH => 101,
        ENETRESET => 102,
        ECONNABORTED => 103,
        ECONNRESET => 104,
        ENOBUFS => 105,
        EISCONN => 106,
        ENOTCONN => 107,
        ETIMEDOUT => 110,
        ECONNREFUSED => 111,
        EHOSTDOWN => 112,
        EHOSTUNREACH => 113,
        EALREADY => 114,
        EINPROGRESS => 115,
        ECANCELED => 125,
        _ => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        assert_eq!(strerror(ENOENT), "No such file or directory");
        assert_eq!(strerror(ENOTSUP), "Operation not supported");
        assert_eq!(strerror(EOVERFLOW), "Value too large for defined data type");
        // illumos' libc `errlist`: "62	Timer expired".
        assert_eq!(strerror(ETIME), "Timer expired");
        assert_eq!(strerror(EPERM), "Not owner");
        assert_eq!(strerror(9999), "Unknown error");
        assert_eq!(message(9999), None);
        assert_eq!(message(0), Some("Error 0"));
    }

    #[test]
    fn every_number_has_name_and_message() {
        for e in 1..=151 {
            assert_eq!(name(e).is_some(), message(e).is_some(), "errno {e}");
        }
        assert_eq!(name(ENOTSUP), Some("ENOTSUP"));
        assert_eq!(name(EOPNOTSUPP), Some("EOPNOTSUPP"));
        assert_eq!(name(EWOULDBLOCK), Some("EAGAIN"));
    }

    #[test]
    fn numbers() {
        assert_eq!(ENOTSUP, 48);
        assert_eq!(EOVERFLOW, 79);
        assert_eq!(EWOULDBLOCK, EAGAIN);
        assert_eq!(EINPROGRESS, 150);
    }

    #[test]
    fn linux_round_trip() {
        for e in [
            EADDRINUSE, ETIMEDOUT, ENOTSUP, ETIME, EOVERFLOW, ENOENT, ECANCELED,
        ] {
            assert_eq!(from_linux(to_linux(e)), e);
        }
        assert_eq!(from_linux(98), EADDRINUSE);
        assert_eq!(from_linux(95), ENOTSUP);
    }
}

//! `dladm_status_t`: libdladm's status codes, their message strings
//! (`dladm_status2str`) and the errno mapping (`dladm_errno2status`).
//!
//! Library functions in this crate return `Result<T, Status>`; the command
//! layer prints `status.as_str()` after the command's own message, exactly
//! as dladm's `die_dlerr()` does.

use crate::errno::{self, Errno};

/// A libdladm status. `Ok` exists so that a status can be stored and
/// printed the way dladm does (`ok`), e.g. in a quirk-preserving message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    BadArg,
    Failed,
    TooSmall,
    NotSup,
    NotFound,
    NoMem,
    Exist,
    LinkInval,
    Denied,
    IoErr,
    LinkBusy,
    TryAgain,
    TooManyElements,
    BadRange,
    AddrInUse,
    AddrNotAvail,
    PersistOnTemp,
    BadEncap,
    BadVal,
    InvalidMacAddr,
    NoNotif,
    FlowExists,
    FlowIncompatible,
    FlowIdentical,
}

impl Status {
    /// `dladm_status2str()`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::BadArg => "invalid argument",
            Status::Failed => "operation failed",
            Status::TooSmall => "buffer size too small",
            Status::NotSup => "operation not supported",
            Status::NotFound => "object not found",
            Status::NoMem => "insufficient memory",
            Status::Exist => "object already exists",
            Status::LinkInval => "invalid link",
            Status::Denied => "permission denied",
            Status::IoErr => "I/O error",
            Status::LinkBusy => "link busy",
            Status::TryAgain => "try again later",
            Status::TooManyElements => "too many elements specified",
            Status::BadRange => "invalid range",
            Status::AddrInUse => "address already in use",
            Status::AddrNotAvail => "can't assign requested address",
            Status::PersistOnTemp => "can't create persistent object on top of temporary object",
            Status::BadEncap => "invalid encapsulation protocol",
            Status::BadVal => "invalid value",
            Status::InvalidMacAddr => "invalid MAC address",
            Status::NoNotif => "link notification is not supported",
            Status::FlowExists => "flow exists",
            Status::FlowIncompatible => "flow incompatible",
            Status::FlowIdentical => "flow already exists",
        }
    }

    /// `dladm_errno2status()` for an illumos errno.
    pub fn from_errno(e: Errno) -> Status {
        match e {
            0 => Status::Ok,
            errno::EINVAL => Status::BadArg,
            errno::EEXIST => Status::Exist,
            errno::ENOENT => Status::NotFound,
            errno::ENOSPC => Status::TooSmall,
            errno::ENOMEM => Status::NoMem,
            errno::ENOTSUP => Status::NotSup,
            errno::ENETDOWN => Status::NoNotif,
            errno::EACCES | errno::EPERM => Status::Denied,
            errno::EIO => Status::IoErr,
            errno::EBUSY => Status::LinkBusy,
            errno::EAGAIN => Status::TryAgain,
            errno::ENOTEMPTY => Status::FlowExists,
            errno::EOPNOTSUPP => Status::FlowIncompatible,
            errno::EALREADY => Status::FlowIdentical,
            errno::EADDRINUSE => Status::AddrInUse,
            errno::EADDRNOTAVAIL => Status::AddrNotAvail,
            _ => Status::Failed,
        }
    }

    /// The illumos errno a status stands for, where there is one (used when
    /// a backend must report a status over an errno-only channel).
    pub fn to_errno(self) -> Errno {
        match self {
            Status::Ok => 0,
            Status::BadArg | Status::BadVal | Status::InvalidMacAddr => errno::EINVAL,
            Status::Exist => errno::EEXIST,
            Status::NotFound | Status::LinkInval => errno::ENOENT,
            Status::TooSmall => errno::ENOSPC,
            Status::NoMem => errno::ENOMEM,
            Status::NotSup => errno::ENOTSUP,
            Status::Denied => errno::EPERM,
            Status::IoErr => errno::EIO,
            Status::LinkBusy => errno::EBUSY,
            Status::TryAgain => errno::EAGAIN,
            Status::AddrInUse => errno::EADDRINUSE,
            Status::AddrNotAvail => errno::EADDRNOTAVAIL,
            _ => errno::EINVAL,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `dladm_errlist_t`: the list of detail messages a library call leaves
/// behind; dladm prints each as `dladm: warning: <entry>` before its final
/// message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrList(pub Vec<String>);

impl ErrList {
    pub fn new() -> ErrList {
        ErrList(Vec::new())
    }
    pub fn append(&mut self, msg: impl Into<String>) {
        self.0.push(msg.into());
    }
    pub fn count(&self) -> usize {
        self.0.len()
    }
    pub fn reset(&mut self) {
        self.0.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_mapping() {
        assert_eq!(Status::from_errno(errno::EBUSY).as_str(), "link busy");
        assert_eq!(
            Status::from_errno(errno::EPERM).as_str(),
            "permission denied"
        );
        assert_eq!(Status::from_errno(errno::ENXIO), Status::Failed);
        assert_eq!(Status::from_errno(errno::ENOTSUP), Status::NotSup);
        for s in [
            Status::LinkBusy,
            Status::Denied,
            Status::NotFound,
            Status::Exist,
        ] {
            assert_eq!(Status::from_errno(s.to_errno()), s);
        }
    }
}

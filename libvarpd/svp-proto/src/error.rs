//! Errors of the SVP decoders and the frame reader.

use thiserror::Error;

/// Why a frame or payload was rejected. Each one means the connection is
/// unusable (the illumos client resets it; portolan closes it).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SvpError {
    /// Fewer bytes than a header or than the fixed part of a payload.
    #[error("short frame: need {need} bytes, have {have}")]
    ShortFrame { need: usize, have: usize },
    /// `svp_ver` is not one this side accepts.
    #[error("unsupported version {0}")]
    BadVersion(u16),
    /// `svp_op` is not an op this side accepts in this direction.
    #[error("unsupported op {0:#x}")]
    UnknownOp(u16),
    /// `svp_size` is wrong for the op.
    #[error("bad size {size} for op {op:#x}")]
    BadSize { op: u16, size: u32 },
    /// The CRC in the header does not match the frame.
    #[error("crc32 mismatch: header has {got:#010x}, frame has {want:#010x}")]
    BadCrc { got: u32, want: u32 },
    /// `svp_size` is over the reader's cap.
    #[error("svp_size {size} over the cap of {cap} bytes")]
    SizeOverCap { size: u32, cap: u32 },
    /// A log record with an unknown type word.
    #[error("unknown log structure type {0}")]
    UnknownLogType(u32),
    /// A log record cut short by the end of the payload.
    #[error("not enough data for a log record of type {rtype} at offset {off}")]
    ShortLogRecord { rtype: u32, off: usize },
}

impl SvpError {
    /// A short, stable label for counting drops by reason.
    pub fn reason(&self) -> &'static str {
        match self {
            SvpError::ShortFrame { .. } => "short_frame",
            SvpError::BadVersion(_) => "bad_version",
            SvpError::UnknownOp(_) => "unknown_op",
            SvpError::BadSize { .. } => "bad_size",
            SvpError::BadCrc { .. } => "bad_crc",
            SvpError::SizeOverCap { .. } => "size_over_cap",
            SvpError::UnknownLogType(_) => "unknown_log_type",
            SvpError::ShortLogRecord { .. } => "short_log_record",
        }
    }

    /// The errno this maps to (EPROTO for every protocol violation, EBADMSG
    /// for a CRC mismatch, E2BIG for a frame over the cap).
    pub fn errno(&self) -> i32 {
        match self {
            SvpError::BadCrc { .. } => libc_errno::EBADMSG,
            SvpError::SizeOverCap { .. } => libc_errno::E2BIG,
            SvpError::BadVersion(_) | SvpError::UnknownOp(_) => libc_errno::ENOTSUP,
            _ => libc_errno::EPROTO,
        }
    }
}

/// The few errno values needed, without a libc dependency (Linux and
/// illumos agree on these except EPROTO/EBADMSG/ENOTSUP, chosen per target).
mod libc_errno {
    pub const E2BIG: i32 = 7;
    pub const EPROTO: i32 = 71;
    #[cfg(target_os = "illumos")]
    pub const EBADMSG: i32 = 77;
    #[cfg(not(target_os = "illumos"))]
    pub const EBADMSG: i32 = 74;
    #[cfg(target_os = "illumos")]
    pub const ENOTSUP: i32 = 48;
    #[cfg(not(target_os = "illumos"))]
    pub const ENOTSUP: i32 = 95;
}

//! The SVP (SDC VXLAN Protocol) wire format, the counterpart of illumos'
//! `lib/varpd/svp/common/libvarpd_svp_prot.h`.
//!
//! # Theory of operation
//!
//! SVP runs over TCP. Every message is a 16-byte [`svp_req_t`] header
//! followed by `svp_size` payload bytes; requests and replies share the
//! header. Every multi-byte field is big-endian except `svp_id`, which the
//! illumos client writes in host order: it is carried here as 4 opaque bytes
//! and a reply echoes it unchanged. The CRC is the standard CRC-32 (zlib's)
//! over the header with `svp_crc32` zeroed followed by the payload, stored
//! big-endian ([`crc`]).
//!
//! This crate is shared by the varpd `svp` plugin (the client) and the
//! `portolan` server, and depends on neither:
//!
//! * [`wire`]: the `#[repr(C)]` structs of the header file, with size and
//!   offset assertions;
//! * [`msg`]: typed requests ([`SvpRequest`]), replies ([`SvpReply`]) and log
//!   records ([`SvpLogRecord`]), their encoders and their decoders, which
//!   never panic and never read past the buffer;
//! * [`frame`]: a streaming reader that accumulates bytes from a socket and
//!   yields whole, CRC-checked frames;
//! * [`error`]: the decode errors ([`SvpError`]).

pub mod crc;
pub mod error;
pub mod frame;
pub mod msg;
pub mod wire;

pub use crc::{svp_crc32, svp_frame_crc};
pub use error::SvpError;
pub use frame::{SvpFrame, SvpFrameReader};
pub use msg::{
    decode_reply, decode_request, encode_reply, encode_request, SvpHeader, SvpLogRecord, SvpReply,
    SvpRequest,
};

/// The first (and shipped) protocol version.
pub const SVP_VERSION_ONE: u16 = 1;
/// The v2 version of the unmerged `vpc` branch (RFD 119); never sent here.
pub const SVP_VERSION_TWO: u16 = 2;
/// The version this crate speaks and writes in every message.
pub const SVP_CURRENT_VERSION: u16 = SVP_VERSION_ONE;

/// Default TCP port of the mapping servers (`svp/port`, `svp_defport`).
pub const SVP_DEFAULT_PORT: u16 = 1296;
/// Default underlay port (`svp/underlay_port`, `svp_defuport`); never used
/// on the wire.
pub const SVP_DEFAULT_UPORT: u16 = 1339;

/// `svp_op_t`.
pub mod op {
    pub const SVP_R_UNKNOWN: u16 = 0x00;
    pub const SVP_R_PING: u16 = 0x01;
    pub const SVP_R_PONG: u16 = 0x02;
    pub const SVP_R_VL2_REQ: u16 = 0x03;
    pub const SVP_R_VL2_ACK: u16 = 0x04;
    pub const SVP_R_VL3_REQ: u16 = 0x05;
    pub const SVP_R_VL3_ACK: u16 = 0x06;
    pub const SVP_R_BULK_REQ: u16 = 0x07;
    pub const SVP_R_BULK_ACK: u16 = 0x08;
    pub const SVP_R_LOG_REQ: u16 = 0x09;
    pub const SVP_R_LOG_ACK: u16 = 0x0A;
    pub const SVP_R_LOG_RM: u16 = 0x0B;
    pub const SVP_R_LOG_RM_ACK: u16 = 0x0C;
    pub const SVP_R_SHOOTDOWN: u16 = 0x0D;
    /// v2 (vpc branch) only.
    pub const SVP_R_ROUTE_REQ: u16 = 0x0E;
    /// v2 (vpc branch) only.
    pub const SVP_R_ROUTE_ACK: u16 = 0x0F;

    /// The illumos name of `op`, or `"unknown"`.
    pub fn name(op: u16) -> &'static str {
        match op {
            SVP_R_UNKNOWN => "SVP_R_UNKNOWN",
            SVP_R_PING => "SVP_R_PING",
            SVP_R_PONG => "SVP_R_PONG",
            SVP_R_VL2_REQ => "SVP_R_VL2_REQ",
            SVP_R_VL2_ACK => "SVP_R_VL2_ACK",
            SVP_R_VL3_REQ => "SVP_R_VL3_REQ",
            SVP_R_VL3_ACK => "SVP_R_VL3_ACK",
            SVP_R_BULK_REQ => "SVP_R_BULK_REQ",
            SVP_R_BULK_ACK => "SVP_R_BULK_ACK",
            SVP_R_LOG_REQ => "SVP_R_LOG_REQ",
            SVP_R_LOG_ACK => "SVP_R_LOG_ACK",
            SVP_R_LOG_RM => "SVP_R_LOG_RM",
            SVP_R_LOG_RM_ACK => "SVP_R_LOG_RM_ACK",
            SVP_R_SHOOTDOWN => "SVP_R_SHOOTDOWN",
            SVP_R_ROUTE_REQ => "SVP_R_ROUTE_REQ",
            SVP_R_ROUTE_ACK => "SVP_R_ROUTE_ACK",
            _ => "unknown",
        }
    }
}

/// `svp_status_t`.
pub mod status {
    pub const SVP_S_OK: u32 = 0;
    /// "Fatal error, close connection".
    pub const SVP_S_FATAL: u32 = 1;
    pub const SVP_S_NOTFOUND: u32 = 2;
    pub const SVP_S_BADL3TYPE: u32 = 3;
    pub const SVP_S_BADBULK: u32 = 4;

    /// The illumos name of `status`, or `"unknown"`.
    pub fn name(status: u32) -> &'static str {
        match status {
            SVP_S_OK => "SVP_S_OK",
            SVP_S_FATAL => "SVP_S_FATAL",
            SVP_S_NOTFOUND => "SVP_S_NOTFOUND",
            SVP_S_BADL3TYPE => "SVP_S_BADL3TYPE",
            SVP_S_BADBULK => "SVP_S_BADBULK",
            _ => "unknown",
        }
    }
}

/// `svp_vl3_type_t`: the address family of a VL3_REQ.
pub const SVP_VL3_IP: u32 = 1;
pub const SVP_VL3_IPV6: u32 = 2;

/// `svp_bulk_type_t`.
pub const SVP_BULK_VL2: u32 = 1;
pub const SVP_BULK_VL3: u32 = 2;

/// `svp_log_type_t`.
pub const SVP_LOG_VL2: u32 = 1;
pub const SVP_LOG_VL3: u32 = 2;
/// v2 (vpc branch) only.
pub const SVP_LOG_ROUTE: u32 = 3;

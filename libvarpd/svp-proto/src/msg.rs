//! Typed SVP messages: the header, requests, replies and log records, with
//! their encoders and decoders.
//!
//! # Theory of operation
//!
//! A request is what a client (varpd's `svp` plugin) sends and a server
//! (portolan) decodes; a reply goes the other way. Decoding takes the parsed
//! [`SvpHeader`] and exactly `svp_size` payload bytes (the frame reader
//! provides both) and checks the size against the op the way the illumos
//! client does: fixed-size messages must match exactly, LOG_RM must be
//! `4 + 16·count`, LOG_ACK records are walked with bounds. Decoders only
//! index through [`SvpWire::read_from`] and checked slices, so no byte
//! string makes them panic or read past the buffer.
//!
//! Encoders append a whole frame (header, payload, CRC) to a `Vec<u8>`; they
//! always write `svp_ver = SVP_CURRENT_VERSION` and copy `svp_id` verbatim.

use std::net::Ipv6Addr;

use crate::crc::svp_frame_crc;
use crate::error::SvpError;
use crate::op::*;
use crate::wire::*;
use crate::{SVP_CURRENT_VERSION, SVP_LOG_VL2, SVP_LOG_VL3};

/// An Ethernet address as carried on the wire.
pub type SvpMac = [u8; 6];
/// A log record id (a UUID) as carried on the wire.
pub type SvpLogId = [u8; 16];

/// A decoded `svp_req_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SvpHeader {
    pub ver: u16,
    pub op: u16,
    pub size: u32,
    /// Opaque; echo it unchanged.
    pub id: [u8; 4],
    pub crc: u32,
}

impl SvpHeader {
    /// The header at the front of `buf`.
    pub fn parse(buf: &[u8]) -> Result<SvpHeader, SvpError> {
        let w = svp_req_t::read_from(buf).ok_or(SvpError::ShortFrame {
            need: SVP_REQ_SIZE,
            have: buf.len(),
        })?;
        Ok(SvpHeader {
            ver: u16::from_be_bytes(w.svp_ver),
            op: u16::from_be_bytes(w.svp_op),
            size: u32::from_be_bytes(w.svp_size),
            id: w.svp_id,
            crc: u32::from_be_bytes(w.svp_crc32),
        })
    }

    /// The wire struct.
    pub fn to_wire(&self) -> svp_req_t {
        svp_req_t {
            svp_ver: self.ver.to_be_bytes(),
            svp_op: self.op.to_be_bytes(),
            svp_size: self.size.to_be_bytes(),
            svp_id: self.id,
            svp_crc32: self.crc.to_be_bytes(),
        }
    }
}

/// Append a whole frame with an arbitrary version, op and payload to `out`,
/// with a correct CRC. The building block of the typed encoders, public for
/// tests that need frames the typed API cannot express.
pub fn encode_frame(out: &mut Vec<u8>, ver: u16, op: u16, id: [u8; 4], payload: &[u8]) {
    let start = out.len();
    let hdr = SvpHeader {
        ver,
        op,
        size: payload.len() as u32,
        id,
        crc: 0,
    };
    out.extend_from_slice(hdr.to_wire().as_bytes());
    out.extend_from_slice(payload);
    let crc = svp_frame_crc(&out[start..start + SVP_REQ_SIZE], payload);
    out[start + 12..start + 16].copy_from_slice(&crc.to_be_bytes());
}

/// A request (client → server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SvpRequest {
    /// SVP_R_PING.
    Ping,
    /// SVP_R_VL2_REQ: where is this MAC?
    Vl2 { mac: SvpMac, vnetid: u32 },
    /// SVP_R_VL3_REQ: which MAC and host own this IP? `l3type` is raw
    /// (`SVP_VL3_IP`/`SVP_VL3_IPV6`; anything else deserves BADL3TYPE).
    Vl3 {
        ip: Ipv6Addr,
        l3type: u32,
        vnetid: u32,
    },
    /// SVP_R_BULK_REQ.
    Bulk { bulk_type: u32 },
    /// SVP_R_LOG_REQ: `count` is the number of bytes the client can take.
    Log { count: u32, ip: Ipv6Addr },
    /// SVP_R_LOG_RM.
    LogRm { ids: Vec<SvpLogId> },
    /// SVP_R_SHOOTDOWN (host to host; nobody implements it).
    Shootdown { mac: SvpMac, vnetid: u32 },
}

impl SvpRequest {
    /// The request's `svp_op`.
    pub fn op(&self) -> u16 {
        match self {
            SvpRequest::Ping => SVP_R_PING,
            SvpRequest::Vl2 { .. } => SVP_R_VL2_REQ,
            SvpRequest::Vl3 { .. } => SVP_R_VL3_REQ,
            SvpRequest::Bulk { .. } => SVP_R_BULK_REQ,
            SvpRequest::Log { .. } => SVP_R_LOG_REQ,
            SvpRequest::LogRm { .. } => SVP_R_LOG_RM,
            SvpRequest::Shootdown { .. } => SVP_R_SHOOTDOWN,
        }
    }

    fn payload(&self, p: &mut Vec<u8>) {
        match self {
            SvpRequest::Ping => {}
            SvpRequest::Vl2 { mac, vnetid } => p.extend_from_slice(
                svp_vl2_req_t {
                    sl2r_mac: *mac,
                    sl2r_pad: [0; 2],
                    sl2r_vnetid: vnetid.to_be_bytes(),
                }
                .as_bytes(),
            ),
            SvpRequest::Vl3 { ip, l3type, vnetid } => p.extend_from_slice(
                svp_vl3_req_t {
                    sl3r_ip: ip.octets(),
                    sl3r_type: l3type.to_be_bytes(),
                    sl3r_vnetid: vnetid.to_be_bytes(),
                }
                .as_bytes(),
            ),
            SvpRequest::Bulk { bulk_type } => p.extend_from_slice(
                svp_bulk_req_t {
                    svbr_type: bulk_type.to_be_bytes(),
                }
                .as_bytes(),
            ),
            SvpRequest::Log { count, ip } => p.extend_from_slice(
                svp_log_req_t {
                    svlr_count: count.to_be_bytes(),
                    svlr_ip: ip.octets(),
                }
                .as_bytes(),
            ),
            SvpRequest::LogRm { ids } => {
                p.extend_from_slice(&(ids.len() as u32).to_be_bytes());
                for id in ids {
                    p.extend_from_slice(id);
                }
            }
            SvpRequest::Shootdown { mac, vnetid } => p.extend_from_slice(
                svp_shootdown_t {
                    svsd_mac: *mac,
                    svsd_pad: [0; 2],
                    svsd_vnetid: vnetid.to_be_bytes(),
                }
                .as_bytes(),
            ),
        }
    }

    /// Append this request as a whole frame to `out`.
    pub fn encode_into(&self, id: [u8; 4], out: &mut Vec<u8>) {
        let mut p = Vec::new();
        self.payload(&mut p);
        encode_frame(out, SVP_CURRENT_VERSION, self.op(), id, &p);
    }
}

/// A request as a whole frame.
pub fn encode_request(id: [u8; 4], req: &SvpRequest) -> Vec<u8> {
    let mut v = Vec::new();
    req.encode_into(id, &mut v);
    v
}

fn exact<T: SvpWire>(op: u16, payload: &[u8]) -> Result<T, SvpError> {
    if payload.len() != std::mem::size_of::<T>() {
        return Err(SvpError::BadSize {
            op,
            size: payload.len() as u32,
        });
    }
    T::read_from(payload).ok_or(SvpError::BadSize {
        op,
        size: payload.len() as u32,
    })
}

fn be32(b: [u8; 4]) -> u32 {
    u32::from_be_bytes(b)
}

/// Decode a request payload for the op in `hdr` (server side). `payload`
/// must be the frame's payload; its length is what is checked, not
/// `hdr.size`. The version and CRC are the frame reader's business.
pub fn decode_request(hdr: &SvpHeader, payload: &[u8]) -> Result<SvpRequest, SvpError> {
    let op = hdr.op;
    match op {
        SVP_R_PING => {
            if !payload.is_empty() {
                return Err(SvpError::BadSize {
                    op,
                    size: payload.len() as u32,
                });
            }
            Ok(SvpRequest::Ping)
        }
        SVP_R_VL2_REQ => {
            let r: svp_vl2_req_t = exact(op, payload)?;
            Ok(SvpRequest::Vl2 {
                mac: r.sl2r_mac,
                vnetid: be32(r.sl2r_vnetid),
            })
        }
        SVP_R_VL3_REQ => {
            let r: svp_vl3_req_t = exact(op, payload)?;
            Ok(SvpRequest::Vl3 {
                ip: Ipv6Addr::from(r.sl3r_ip),
                l3type: be32(r.sl3r_type),
                vnetid: be32(r.sl3r_vnetid),
            })
        }
        SVP_R_BULK_REQ => {
            let r: svp_bulk_req_t = exact(op, payload)?;
            Ok(SvpRequest::Bulk {
                bulk_type: be32(r.svbr_type),
            })
        }
        SVP_R_LOG_REQ => {
            let r: svp_log_req_t = exact(op, payload)?;
            Ok(SvpRequest::Log {
                count: be32(r.svlr_count),
                ip: Ipv6Addr::from(r.svlr_ip),
            })
        }
        SVP_R_LOG_RM => {
            let bad = SvpError::BadSize {
                op,
                size: payload.len() as u32,
            };
            let r = svp_lrm_req_t::read_from(payload).ok_or(bad.clone())?;
            let count = be32(r.svrr_count) as usize;
            let rest = &payload[std::mem::size_of::<svp_lrm_req_t>()..];
            if count.checked_mul(SVP_LRM_ID_SIZE) != Some(rest.len()) {
                return Err(bad);
            }
            let ids = rest
                .chunks_exact(SVP_LRM_ID_SIZE)
                .map(|c| {
                    let mut id = [0u8; 16];
                    id.copy_from_slice(c);
                    id
                })
                .collect();
            Ok(SvpRequest::LogRm { ids })
        }
        SVP_R_SHOOTDOWN => {
            let r: svp_shootdown_t = exact(op, payload)?;
            Ok(SvpRequest::Shootdown {
                mac: r.svsd_mac,
                vnetid: be32(r.svsd_vnetid),
            })
        }
        _ => Err(SvpError::UnknownOp(op)),
    }
}

/// One record of a LOG_ACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SvpLogRecord {
    /// `svp_log_vl2_t`: forget this MAC (the VL2 cache entry).
    Vl2 {
        id: SvpLogId,
        mac: SvpMac,
        vnetid: u32,
    },
    /// `svp_log_vl3_t`: re-resolve this IP and announce it (gratuitous ARP).
    Vl3 {
        id: SvpLogId,
        ip: Ipv6Addr,
        vlan: u16,
        vnetid: u32,
    },
}

impl SvpLogRecord {
    /// The record's id (what LOG_RM sends back).
    pub fn id(&self) -> SvpLogId {
        match self {
            SvpLogRecord::Vl2 { id, .. } | SvpLogRecord::Vl3 { id, .. } => *id,
        }
    }

    /// The record's size on the wire: 32 (VL2) or 44 (VL3).
    pub fn wire_len(&self) -> usize {
        match self {
            SvpLogRecord::Vl2 { .. } => std::mem::size_of::<svp_log_vl2_t>(),
            SvpLogRecord::Vl3 { .. } => std::mem::size_of::<svp_log_vl3_t>(),
        }
    }

    /// Append the record's wire form to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            SvpLogRecord::Vl2 { id, mac, vnetid } => out.extend_from_slice(
                svp_log_vl2_t {
                    svl2_type: SVP_LOG_VL2.to_be_bytes(),
                    svl2_id: *id,
                    svl2_mac: *mac,
                    svl2_pad: [0; 2],
                    svl2_vnetid: vnetid.to_be_bytes(),
                }
                .as_bytes(),
            ),
            SvpLogRecord::Vl3 {
                id,
                ip,
                vlan,
                vnetid,
            } => out.extend_from_slice(
                svp_log_vl3_t {
                    svl3_type: SVP_LOG_VL3.to_be_bytes(),
                    svl3_id: *id,
                    svl3_ip: ip.octets(),
                    svl3_pad: [0; 2],
                    svl3_vlan: vlan.to_be_bytes(),
                    svl3_vnetid: vnetid.to_be_bytes(),
                }
                .as_bytes(),
            ),
        }
    }
}

/// Walk the records of a LOG_ACK payload (after the status word). Each record
/// starts with a u32 type; a record cut short or of an unknown type is an
/// error (as `svp_shootdown_logr_iter` treats them).
pub fn decode_log_records(mut buf: &[u8]) -> Result<Vec<SvpLogRecord>, SvpError> {
    let total = buf.len();
    let mut out = Vec::new();
    while !buf.is_empty() {
        let off = total - buf.len();
        let Some(tb) = buf.get(..4) else {
            return Err(SvpError::ShortLogRecord { rtype: 0, off });
        };
        let rtype = u32::from_be_bytes([tb[0], tb[1], tb[2], tb[3]]);
        match rtype {
            SVP_LOG_VL2 => {
                let r =
                    svp_log_vl2_t::read_from(buf).ok_or(SvpError::ShortLogRecord { rtype, off })?;
                out.push(SvpLogRecord::Vl2 {
                    id: r.svl2_id,
                    mac: r.svl2_mac,
                    vnetid: be32(r.svl2_vnetid),
                });
                buf = &buf[std::mem::size_of::<svp_log_vl2_t>()..];
            }
            SVP_LOG_VL3 => {
                let r =
                    svp_log_vl3_t::read_from(buf).ok_or(SvpError::ShortLogRecord { rtype, off })?;
                out.push(SvpLogRecord::Vl3 {
                    id: r.svl3_id,
                    ip: Ipv6Addr::from(r.svl3_ip),
                    vlan: u16::from_be_bytes(r.svl3_vlan),
                    vnetid: be32(r.svl3_vnetid),
                });
                buf = &buf[std::mem::size_of::<svp_log_vl3_t>()..];
            }
            t => return Err(SvpError::UnknownLogType(t)),
        }
    }
    Ok(out)
}

/// A reply (server → client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SvpReply {
    /// SVP_R_PONG.
    Pong,
    /// SVP_R_VL2_ACK. The status is 16 bits on the wire.
    Vl2Ack {
        status: u16,
        port: u16,
        addr: Ipv6Addr,
    },
    /// SVP_R_VL3_ACK.
    Vl3Ack {
        status: u32,
        mac: SvpMac,
        uport: u16,
        uip: Ipv6Addr,
    },
    /// SVP_R_BULK_ACK (its data format is undefined in v1).
    BulkAck {
        status: u32,
        bulk_type: u32,
        data: Vec<u8>,
    },
    /// SVP_R_LOG_ACK.
    LogAck {
        status: u32,
        records: Vec<SvpLogRecord>,
    },
    /// SVP_R_LOG_RM_ACK.
    LogRmAck { status: u32 },
}

impl SvpReply {
    /// The reply's `svp_op`.
    pub fn op(&self) -> u16 {
        match self {
            SvpReply::Pong => SVP_R_PONG,
            SvpReply::Vl2Ack { .. } => SVP_R_VL2_ACK,
            SvpReply::Vl3Ack { .. } => SVP_R_VL3_ACK,
            SvpReply::BulkAck { .. } => SVP_R_BULK_ACK,
            SvpReply::LogAck { .. } => SVP_R_LOG_ACK,
            SvpReply::LogRmAck { .. } => SVP_R_LOG_RM_ACK,
        }
    }

    /// The reply's status (PONG has none and reports SVP_S_OK).
    pub fn status(&self) -> u32 {
        match self {
            SvpReply::Pong => crate::status::SVP_S_OK,
            SvpReply::Vl2Ack { status, .. } => u32::from(*status),
            SvpReply::Vl3Ack { status, .. }
            | SvpReply::BulkAck { status, .. }
            | SvpReply::LogAck { status, .. }
            | SvpReply::LogRmAck { status } => *status,
        }
    }

    /// The ack of request op `req_op` carrying only `status` (zero
    /// addresses, no records), e.g. a FATAL reply; `None` for an op that has
    /// no ack (PING's PONG has no status, SHOOTDOWN no reply).
    pub fn status_only(req_op: u16, status: u32) -> Option<SvpReply> {
        Some(match req_op {
            SVP_R_VL2_REQ => SvpReply::Vl2Ack {
                status: status as u16,
                port: 0,
                addr: Ipv6Addr::UNSPECIFIED,
            },
            SVP_R_VL3_REQ => SvpReply::Vl3Ack {
                status,
                mac: [0; 6],
                uport: 0,
                uip: Ipv6Addr::UNSPECIFIED,
            },
            SVP_R_BULK_REQ => SvpReply::BulkAck {
                status,
                bulk_type: 0,
                data: Vec::new(),
            },
            SVP_R_LOG_REQ => SvpReply::LogAck {
                status,
                records: Vec::new(),
            },
            SVP_R_LOG_RM => SvpReply::LogRmAck { status },
            _ => return None,
        })
    }

    fn payload(&self, p: &mut Vec<u8>) {
        match self {
            SvpReply::Pong => {}
            SvpReply::Vl2Ack { status, port, addr } => p.extend_from_slice(
                svp_vl2_ack_t {
                    sl2a_status: status.to_be_bytes(),
                    sl2a_port: port.to_be_bytes(),
                    sl2a_addr: addr.octets(),
                }
                .as_bytes(),
            ),
            SvpReply::Vl3Ack {
                status,
                mac,
                uport,
                uip,
            } => p.extend_from_slice(
                svp_vl3_ack_t {
                    sl3a_status: status.to_be_bytes(),
                    sl3a_mac: *mac,
                    sl3a_uport: uport.to_be_bytes(),
                    sl3a_uip: uip.octets(),
                }
                .as_bytes(),
            ),
            SvpReply::BulkAck {
                status,
                bulk_type,
                data,
            } => {
                p.extend_from_slice(
                    svp_bulk_ack_t {
                        svba_status: status.to_be_bytes(),
                        svba_type: bulk_type.to_be_bytes(),
                    }
                    .as_bytes(),
                );
                p.extend_from_slice(data);
            }
            SvpReply::LogAck { status, records } => {
                p.extend_from_slice(&status.to_be_bytes());
                for r in records {
                    r.encode_into(p);
                }
            }
            SvpReply::LogRmAck { status } => p.extend_from_slice(&status.to_be_bytes()),
        }
    }

    /// Append this reply as a whole frame to `out`.
    pub fn encode_into(&self, id: [u8; 4], out: &mut Vec<u8>) {
        let mut p = Vec::with_capacity(48);
        self.payload(&mut p);
        encode_frame(out, SVP_CURRENT_VERSION, self.op(), id, &p);
    }
}

/// A reply as a whole frame.
pub fn encode_reply(id: [u8; 4], reply: &SvpReply) -> Vec<u8> {
    let mut v = Vec::new();
    reply.encode_into(id, &mut v);
    v
}

/// Decode a reply payload for the op in `hdr` (client side), with the
/// illumos client's size rules: VL2_ACK 20, VL3_ACK 28, LOG_RM_ACK 4, PONG 0
/// exactly; LOG_ACK at least 4 with well-formed records; BULK_ACK at least 8.
/// Request ops and unknown ops are [`SvpError::UnknownOp`].
pub fn decode_reply(hdr: &SvpHeader, payload: &[u8]) -> Result<SvpReply, SvpError> {
    let op = hdr.op;
    let bad = || SvpError::BadSize {
        op,
        size: payload.len() as u32,
    };
    match op {
        SVP_R_PONG => {
            if !payload.is_empty() {
                return Err(bad());
            }
            Ok(SvpReply::Pong)
        }
        SVP_R_VL2_ACK => {
            let r: svp_vl2_ack_t = exact(op, payload)?;
            Ok(SvpReply::Vl2Ack {
                status: u16::from_be_bytes(r.sl2a_status),
                port: u16::from_be_bytes(r.sl2a_port),
                addr: Ipv6Addr::from(r.sl2a_addr),
            })
        }
        SVP_R_VL3_ACK => {
            let r: svp_vl3_ack_t = exact(op, payload)?;
            Ok(SvpReply::Vl3Ack {
                status: be32(r.sl3a_status),
                mac: r.sl3a_mac,
                uport: u16::from_be_bytes(r.sl3a_uport),
                uip: Ipv6Addr::from(r.sl3a_uip),
            })
        }
        SVP_R_BULK_ACK => {
            let r = svp_bulk_ack_t::read_from(payload).ok_or_else(bad)?;
            Ok(SvpReply::BulkAck {
                status: be32(r.svba_status),
                bulk_type: be32(r.svba_type),
                data: payload[std::mem::size_of::<svp_bulk_ack_t>()..].to_vec(),
            })
        }
        SVP_R_LOG_ACK => {
            let r = svp_log_ack_t::read_from(payload).ok_or_else(bad)?;
            let records = decode_log_records(&payload[std::mem::size_of::<svp_log_ack_t>()..])?;
            Ok(SvpReply::LogAck {
                status: be32(r.svla_status),
                records,
            })
        }
        SVP_R_LOG_RM_ACK => {
            let r: svp_lrm_ack_t = exact(op, payload)?;
            Ok(SvpReply::LogRmAck {
                status: be32(r.svra_status),
            })
        }
        _ => Err(SvpError::UnknownOp(op)),
    }
}

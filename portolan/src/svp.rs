//! Request handling: one decoded SVP request → one reply (the server-side
//! counterparts of the client's `svp_remote_vl2_lookup`,
//! `svp_remote_vl3_lookup`, `svp_remote_log_request` and
//! `svp_remote_lrm_request`).
//!
//! # Theory of operation
//!
//! * PING → PONG.
//! * VL2_REQ → VL2_ACK {OK, underlay port, underlay IP} or NOTFOUND.
//! * VL3_REQ with type `SVP_VL3_IP`/`SVP_VL3_IPV6` → VL3_ACK {OK, MAC,
//!   underlay} or NOTFOUND; any other type → BADL3TYPE.
//! * LOG_REQ → LOG_ACK {OK, records} holding the host's oldest events that
//!   fit in `svlr_count - 4` bytes (the client's buffer minus the status
//!   word); an underlay address no host has → FATAL.
//! * LOG_RM → LOG_RM_ACK {OK}; unknown ids are ignored.
//! * BULK_REQ → BULK_ACK {BADBULK} (its format was never defined).
//! * SHOOTDOWN is host-to-host and has no reply: the caller closes the
//!   connection.
//!
//! Any store error → the matching ACK with status FATAL (never cached).

use std::sync::Arc;

use svp_proto::status::*;
use svp_proto::{SvpLogRecord, SvpReply, SvpRequest, SVP_VL3_IP, SVP_VL3_IPV6};

use crate::cache::LookupCache;
use crate::stats::Stats;
use crate::store::{to_wire_ip, LogRecord, Mac, Store, StoreError};

/// The most LOG_ACK record bytes sent in one reply, whatever the client
/// claims it can take.
pub const LOG_ACK_MAX: usize = 64 * 1024;

/// A worker's request handler.
pub struct SvpHandler {
    store: Arc<dyn Store>,
    stats: Arc<Stats>,
    cache: LookupCache,
}

impl SvpHandler {
    pub fn new(store: Arc<dyn Store>, stats: Arc<Stats>, cache: LookupCache) -> SvpHandler {
        SvpHandler {
            store,
            stats,
            cache,
        }
    }

    fn store_error(&self, what: &str, e: &StoreError) {
        Stats::bump(&self.stats.store_errors);
        tracing::warn!("{what}: {e}");
    }

    /// Answer `req`; `None` means the request has no reply and the
    /// connection must be closed (SHOOTDOWN).
    pub fn handle(&mut self, req: &SvpRequest) -> Option<SvpReply> {
        if self.cache.sync() {
            Stats::bump(&self.stats.cache_flushes);
        }
        let reply = match req {
            SvpRequest::Ping => {
                Stats::bump(&self.stats.req_ping);
                Stats::bump(&self.stats.reply_pong);
                return Some(SvpReply::Pong);
            }
            SvpRequest::Vl2 { mac, vnetid } => {
                Stats::bump(&self.stats.req_vl2);
                self.svp_vl2(*vnetid, Mac(*mac))
            }
            SvpRequest::Vl3 { ip, l3type, vnetid } => {
                Stats::bump(&self.stats.req_vl3);
                if *l3type != SVP_VL3_IP && *l3type != SVP_VL3_IPV6 {
                    SvpReply::status_only(req.op(), SVP_S_BADL3TYPE)?
                } else {
                    self.svp_vl3(*vnetid, *ip)
                }
            }
            SvpRequest::Bulk { .. } => {
                Stats::bump(&self.stats.req_bulk);
                SvpReply::status_only(req.op(), SVP_S_BADBULK)?
            }
            SvpRequest::Log { count, ip } => {
                Stats::bump(&self.stats.req_log);
                self.svp_log(*count, *ip)
            }
            SvpRequest::LogRm { ids } => {
                Stats::bump(&self.stats.req_log_rm);
                self.svp_log_rm(ids)
            }
            SvpRequest::Shootdown { .. } => {
                Stats::bump(&self.stats.drop_shootdown);
                return None;
            }
        };
        self.stats.count_status(reply.status());
        Some(reply)
    }

    fn svp_vl2(&mut self, vnet: u32, mac: Mac) -> SvpReply {
        let hit = self.cache.vl2.get(&(vnet, mac));
        let found = match hit {
            Some(v) => {
                Stats::bump(&self.stats.cache_hits);
                v
            }
            None => {
                Stats::bump(&self.stats.cache_misses);
                match self.store.vl2_lookup(vnet, mac) {
                    Ok(v) => {
                        self.cache.vl2.insert((vnet, mac), v);
                        v
                    }
                    Err(e) => {
                        self.store_error("VL2 lookup", &e);
                        return fatal(svp_proto::op::SVP_R_VL2_REQ);
                    }
                }
            }
        };
        match found {
            Some(u) => SvpReply::Vl2Ack {
                status: SVP_S_OK as u16,
                port: u.port,
                addr: u.ip,
            },
            None => fatal_status(svp_proto::op::SVP_R_VL2_REQ, SVP_S_NOTFOUND),
        }
    }

    fn svp_vl3(&mut self, vnet: u32, ip: std::net::Ipv6Addr) -> SvpReply {
        let found = match self.cache.vl3.get(&(vnet, ip)) {
            Some(v) => {
                Stats::bump(&self.stats.cache_hits);
                v
            }
            None => {
                Stats::bump(&self.stats.cache_misses);
                match self.store.vl3_lookup(vnet, ip) {
                    Ok(v) => {
                        self.cache.vl3.insert((vnet, ip), v);
                        v
                    }
                    Err(e) => {
                        self.store_error("VL3 lookup", &e);
                        return fatal(svp_proto::op::SVP_R_VL3_REQ);
                    }
                }
            }
        };
        match found {
            Some(v) => SvpReply::Vl3Ack {
                status: SVP_S_OK,
                mac: v.mac.0,
                uport: v.underlay.port,
                uip: v.underlay.ip,
            },
            None => fatal_status(svp_proto::op::SVP_R_VL3_REQ, SVP_S_NOTFOUND),
        }
    }

    fn svp_log(&mut self, count: u32, ip: std::net::Ipv6Addr) -> SvpReply {
        let max = (count as usize).saturating_sub(4).min(LOG_ACK_MAX);
        match self.store.log_fetch(ip, max) {
            Ok(Some(evs)) => {
                let records: Vec<SvpLogRecord> = evs
                    .into_iter()
                    .map(|e| match e.record {
                        LogRecord::Vl2 { mac } => SvpLogRecord::Vl2 {
                            id: e.id.0,
                            mac: mac.0,
                            vnetid: e.vnet,
                        },
                        LogRecord::Vl3 { ip, vlan, .. } => SvpLogRecord::Vl3 {
                            id: e.id.0,
                            ip: to_wire_ip(ip),
                            vlan,
                            vnetid: e.vnet,
                        },
                    })
                    .collect();
                self.stats
                    .log_records_sent
                    .fetch_add(records.len() as u64, std::sync::atomic::Ordering::Relaxed);
                SvpReply::LogAck {
                    status: SVP_S_OK,
                    records,
                }
            }
            Ok(None) => {
                tracing::info!(underlay = %ip, "LOG_REQ from an unknown underlay address");
                fatal(svp_proto::op::SVP_R_LOG_REQ)
            }
            Err(e) => {
                self.store_error("LOG_REQ", &e);
                fatal(svp_proto::op::SVP_R_LOG_REQ)
            }
        }
    }

    fn svp_log_rm(&mut self, ids: &[[u8; 16]]) -> SvpReply {
        let ids: Vec<crate::store::EventId> =
            ids.iter().map(|i| crate::store::EventId(*i)).collect();
        match self.store.log_remove(&ids) {
            Ok(n) => {
                self.stats
                    .log_records_removed
                    .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                SvpReply::LogRmAck { status: SVP_S_OK }
            }
            Err(e) => {
                self.store_error("LOG_RM", &e);
                fatal(svp_proto::op::SVP_R_LOG_RM)
            }
        }
    }
}

fn fatal_status(req_op: u16, status: u32) -> SvpReply {
    // Every op passed here has an ack.
    SvpReply::status_only(req_op, status).unwrap_or(SvpReply::Pong)
}

fn fatal(req_op: u16) -> SvpReply {
    fatal_status(req_op, SVP_S_FATAL)
}

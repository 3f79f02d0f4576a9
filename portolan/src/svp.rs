//! Request handling: each decoded SVP request → its reply (the server-side
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
//!
//! Requests come in batches (every whole request a worker read in one
//! round, from any number of connections) and are answered in two passes:
//! [`SvpHandler::answer_cached`] answers what needs no database, so the
//! server can send those replies before it waits for one;
//! [`SvpHandler::answer_store`] answers the rest with one store call for
//! all VL2 keys and one for all VL3 keys (one database round trip each,
//! whatever the batch size) and fills the cache with the answers.

use std::net::Ipv6Addr;
use std::sync::Arc;

use svp_proto::status::*;
use svp_proto::{SvpLogRecord, SvpReply, SvpRequest, SVP_VL3_IP, SVP_VL3_IPV6};

use crate::cache::LookupCache;
use crate::stats::Stats;
use crate::store::{to_wire_ip, LogRecord, Mac, Store, StoreError, Underlay, Vl3Entry};

/// The most LOG_ACK record bytes sent in one reply, whatever the client
/// claims it can take.
pub const LOG_ACK_MAX: usize = 64 * 1024;

/// The answer to one request of a batch.
#[derive(Debug)]
pub enum Slot {
    /// This reply.
    Reply(SvpReply),
    /// Waits for the store ([`SvpHandler::answer_store`]).
    Store,
    /// No reply: the connection is closed (SHOOTDOWN).
    Close,
    /// Already taken by the caller.
    Taken,
}

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

    /// First pass over a batch of requests (in the order they were read):
    /// `slots[i]` becomes the answer to `reqs[i]` when it needs no database
    /// (PING, a cached VL2/VL3 answer, BULK, a bad VL3 type, SHOOTDOWN),
    /// [`Slot::Store`] otherwise.
    pub fn answer_cached(&mut self, reqs: &[SvpRequest], slots: &mut Vec<Slot>) {
        if self.cache.sync() {
            Stats::bump(&self.stats.cache_flushes);
        }
        slots.clear();
        for req in reqs {
            let slot = self.first_pass(req);
            if let Slot::Reply(r) = &slot {
                self.count_reply(r);
            }
            slots.push(slot);
        }
    }

    /// Second pass: answer every [`Slot::Store`] left by
    /// [`SvpHandler::answer_cached`]. All VL2 keys go to the store in one
    /// call, all VL3 keys in another; LOG_REQ and LOG_RM one call each.
    pub fn answer_store(&mut self, reqs: &[SvpRequest], slots: &mut [Slot]) {
        let mut vl2 = Vec::new();
        let mut vl3 = Vec::new();
        for (i, (req, slot)) in reqs.iter().zip(slots.iter_mut()).enumerate() {
            if !matches!(slot, Slot::Store) {
                continue;
            }
            match req {
                SvpRequest::Vl2 { mac, vnetid } => vl2.push((i, (*vnetid, Mac(*mac)))),
                SvpRequest::Vl3 { ip, vnetid, .. } => vl3.push((i, (*vnetid, *ip))),
                SvpRequest::Log { count, ip } => *slot = Slot::Reply(self.svp_log(*count, *ip)),
                SvpRequest::LogRm { ids } => *slot = Slot::Reply(self.svp_log_rm(ids)),
                _ => *slot = Slot::Reply(fatal(req.op())),
            }
            if let Slot::Reply(r) = slot {
                self.count_reply(r);
            }
        }
        if !vl2.is_empty() {
            Stats::bump(&self.stats.store_lookups);
            let keys: Vec<(u32, Mac)> = vl2.iter().map(|(_, k)| *k).collect();
            let found = self.store.vl2_lookup_many(&keys);
            let op = svp_proto::op::SVP_R_VL2_REQ;
            self.place(
                op,
                &vl2,
                found,
                slots,
                |c, k, v| c.vl2.insert(*k, v),
                vl2_reply,
            );
        }
        if !vl3.is_empty() {
            Stats::bump(&self.stats.store_lookups);
            let keys: Vec<(u32, Ipv6Addr)> = vl3.iter().map(|(_, k)| *k).collect();
            let found = self.store.vl3_lookup_many(&keys);
            let op = svp_proto::op::SVP_R_VL3_REQ;
            self.place(
                op,
                &vl3,
                found,
                slots,
                |c, k, v| c.vl3.insert(*k, v),
                vl3_reply,
            );
        }
    }

    /// Put a batch lookup's answers into their slots and the cache; a
    /// store error answers every one of them FATAL (and is not cached).
    fn place<K, V: Copy>(
        &mut self,
        op: u16,
        keys: &[(usize, K)],
        found: Result<Vec<Option<V>>, StoreError>,
        slots: &mut [Slot],
        cache: impl Fn(&mut LookupCache, &K, Option<V>),
        reply: fn(Option<V>) -> SvpReply,
    ) {
        let found = match found {
            Ok(v) if v.len() == keys.len() => v,
            Ok(v) => {
                let e = StoreError::Corrupt(format!("{} answers to {} keys", v.len(), keys.len()));
                self.store_error("lookup", &e);
                vec![]
            }
            Err(e) => {
                self.store_error("lookup", &e);
                vec![]
            }
        };
        for (j, (i, k)) in keys.iter().enumerate() {
            let r = match found.get(j) {
                Some(v) => {
                    cache(&mut self.cache, k, *v);
                    reply(*v)
                }
                None => fatal(op),
            };
            self.count_reply(&r);
            slots[*i] = Slot::Reply(r);
        }
    }

    fn count_reply(&self, r: &SvpReply) {
        if !matches!(r, SvpReply::Pong) {
            self.stats.count_status(r.status());
        }
    }

    fn first_pass(&mut self, req: &SvpRequest) -> Slot {
        match req {
            SvpRequest::Ping => {
                Stats::bump(&self.stats.req_ping);
                Stats::bump(&self.stats.reply_pong);
                Slot::Reply(SvpReply::Pong)
            }
            SvpRequest::Vl2 { mac, vnetid } => {
                Stats::bump(&self.stats.req_vl2);
                match self.cache.vl2.get(&(*vnetid, Mac(*mac))) {
                    Some(v) => {
                        Stats::bump(&self.stats.cache_hits);
                        Slot::Reply(vl2_reply(v))
                    }
                    None => {
                        Stats::bump(&self.stats.cache_misses);
                        Slot::Store
                    }
                }
            }
            SvpRequest::Vl3 { ip, l3type, vnetid } => {
                Stats::bump(&self.stats.req_vl3);
                if *l3type != SVP_VL3_IP && *l3type != SVP_VL3_IPV6 {
                    return Slot::Reply(fatal_status(req.op(), SVP_S_BADL3TYPE));
                }
                match self.cache.vl3.get(&(*vnetid, *ip)) {
                    Some(v) => {
                        Stats::bump(&self.stats.cache_hits);
                        Slot::Reply(vl3_reply(v))
                    }
                    None => {
                        Stats::bump(&self.stats.cache_misses);
                        Slot::Store
                    }
                }
            }
            SvpRequest::Bulk { .. } => {
                Stats::bump(&self.stats.req_bulk);
                Slot::Reply(fatal_status(req.op(), SVP_S_BADBULK))
            }
            SvpRequest::Log { .. } => {
                Stats::bump(&self.stats.req_log);
                Slot::Store
            }
            SvpRequest::LogRm { .. } => {
                Stats::bump(&self.stats.req_log_rm);
                Slot::Store
            }
            SvpRequest::Shootdown { .. } => {
                Stats::bump(&self.stats.drop_shootdown);
                Slot::Close
            }
        }
    }

    fn svp_log(&mut self, count: u32, ip: Ipv6Addr) -> SvpReply {
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

fn vl2_reply(found: Option<Underlay>) -> SvpReply {
    match found {
        Some(u) => SvpReply::Vl2Ack {
            status: SVP_S_OK as u16,
            port: u.port,
            addr: u.ip,
        },
        None => fatal_status(svp_proto::op::SVP_R_VL2_REQ, SVP_S_NOTFOUND),
    }
}

fn vl3_reply(found: Option<Vl3Entry>) -> SvpReply {
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

fn fatal_status(req_op: u16, status: u32) -> SvpReply {
    // Every op passed here has an ack.
    SvpReply::status_only(req_op, status).unwrap_or(SvpReply::Pong)
}

fn fatal(req_op: u16) -> SvpReply {
    fatal_status(req_op, SVP_S_FATAL)
}

//! Queries (`svp_query_t`, `libvarpd_svp.h`): one request on the wire and
//! the callback waiting for its reply.
//!
//! # Theory of operation
//!
//! A query is built by the remote (`svp_remote_vl2_lookup` and friends)
//! with a fresh id, queued on a connection (`INIT`), written whole
//! (`WRITING`), then waits for the reply with its id (`READING`). Its
//! callback runs exactly once, on the event loop thread and outside every
//! lock, with the reply's status and payload ([`SvpReplyData`]), or with
//! `SVP_S_FATAL` and no payload when it failed locally (no connection, a
//! reset, the remote going away). A query dropped unanswered (which the
//! code never does) would answer FATAL from `Drop`, so a kernel lookup can
//! never be left waiting.
//!
//! `svp_id` is sent as illumos sends it: the id's bytes in host order,
//! without `htonl`, and replies are matched on those 4 raw bytes.

use std::time::Instant;

use svp_proto::status::SVP_S_FATAL;
use svp_proto::SvpHeader;

use super::ctx::SvpCtx;

/// `svp_query_state_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SvpQueryState {
    /// `SVP_QUERY_INIT`: queued, not yet written.
    Init,
    /// `SVP_QUERY_WRITING`: being written.
    Writing,
    /// `SVP_QUERY_READING`: written, waiting for the reply.
    Reading,
}

/// What a query's callback gets.
#[derive(Clone, Debug)]
pub struct SvpReplyData {
    /// The reply's status (`sq_status`): `SVP_S_FATAL` for a local failure.
    pub status: u32,
    /// The reply's header; `None` for a local failure.
    pub header: Option<SvpHeader>,
    /// The reply's payload (empty for a local failure).
    pub payload: Vec<u8>,
}

impl SvpReplyData {
    /// A local failure (`SVP_S_FATAL`, no reply).
    pub fn fatal() -> SvpReplyData {
        SvpReplyData {
            status: SVP_S_FATAL,
            header: None,
            payload: Vec::new(),
        }
    }
}

/// The callback (`sq_func`, `sq_arg`).
pub type SvpQueryFn = Box<dyn FnOnce(SvpReplyData) + Send>;

/// `svp_query_t`.
pub struct SvpQuery {
    /// `sq_header.svp_id`, as allocated.
    pub id: u32,
    /// `sq_header.svp_op`.
    pub op: u16,
    /// The whole request frame (header with CRC, payload).
    pub frame: Vec<u8>,
    /// The largest reply payload accepted (`sq_wsize` for LOG_ACK).
    pub max_reply: u32,
    /// `sq_state`.
    pub state: SvpQueryState,
    /// `sq_acttime`: last I/O for this query; `None` (-1) until started.
    pub acttime: Option<Instant>,
    cb: Option<SvpQueryFn>,
}

impl std::fmt::Debug for SvpQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SvpQuery")
            .field("id", &self.id)
            .field("op", &self.op)
            .field("state", &self.state)
            .finish()
    }
}

impl SvpQuery {
    /// A query for the request frame `frame` (id already inside it).
    pub fn new(id: u32, op: u16, frame: Vec<u8>, max_reply: u32, cb: SvpQueryFn) -> SvpQuery {
        SvpQuery {
            id,
            op,
            frame,
            max_reply,
            state: SvpQueryState::Init,
            acttime: None,
            cb: Some(cb),
        }
    }

    /// The raw `svp_id` bytes on the wire (host order, as illumos).
    pub fn wire_id(&self) -> [u8; 4] {
        svp_wire_id(self.id)
    }

    /// Complete the query: release its id and hand back the callback call
    /// to run outside the locks.
    pub fn complete(mut self, ctx: &SvpCtx, data: SvpReplyData) -> Completion {
        ctx.id_free(self.id);
        Completion {
            cb: self.cb.take(),
            data,
        }
    }
}

impl Drop for SvpQuery {
    fn drop(&mut self) {
        if self.cb.is_some() {
            tracing::error!(id = self.id, "svp: query dropped without an answer");
        }
    }
}

/// The bytes illumos puts in `svp_id` for `id` (no `htonl`).
pub fn svp_wire_id(id: u32) -> [u8; 4] {
    id.to_ne_bytes()
}

/// A callback call waiting to run outside the locks.
pub struct Completion {
    cb: Option<SvpQueryFn>,
    data: SvpReplyData,
}

/// Callbacks collected under a lock, run after it is dropped.
#[derive(Default)]
pub struct Completions(Vec<Completion>);

impl Completions {
    pub fn new() -> Completions {
        Completions(Vec::new())
    }

    pub fn push(&mut self, c: Completion) {
        self.0.push(c);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Run every callback (in order).
    pub fn run(&mut self) {
        for mut c in self.0.drain(..) {
            if let Some(cb) = c.cb.take() {
                cb(c.data);
            }
        }
    }
}

/// A connection's queries (`sc_queries`) in queue order, found by id in
/// O(log n): the ones before the write cursor have been started (written
/// or being written); the ones after it wait to be written.
#[derive(Debug, Default)]
pub struct SvpQueryList {
    by_seq: std::collections::BTreeMap<u64, SvpQuery>,
    by_wire: std::collections::HashMap<[u8; 4], u64>,
    next_seq: u64,
    /// The first sequence number not yet started.
    cursor: u64,
}

impl SvpQueryList {
    /// Append `q` (`list_insert_tail`).
    pub fn push_back(&mut self, q: SvpQuery) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_wire.insert(q.wire_id(), seq);
        self.by_seq.insert(seq, q);
    }

    /// Take the head (`list_remove_head`).
    pub fn pop_front(&mut self) -> Option<SvpQuery> {
        let (_, q) = self.by_seq.pop_first()?;
        self.by_wire.remove(&q.wire_id());
        Some(q)
    }

    /// Start the next query not yet started; its id.
    pub fn start_next(&mut self) -> Option<u32> {
        let (&seq, q) = self.by_seq.range_mut(self.cursor..).next()?;
        self.cursor = seq + 1;
        q.state = SvpQueryState::Writing;
        Some(q.id)
    }

    /// Whether a query waits to be written.
    pub fn has_unstarted(&self) -> bool {
        self.by_seq.range(self.cursor..).next().is_some()
    }

    /// The query whose `svp_id` bytes are `wid`.
    pub fn get_wire(&mut self, wid: [u8; 4]) -> Option<&mut SvpQuery> {
        let seq = *self.by_wire.get(&wid)?;
        self.by_seq.get_mut(&seq)
    }

    /// The query with id `id`.
    pub fn get(&mut self, id: u32) -> Option<&mut SvpQuery> {
        self.get_wire(svp_wire_id(id))
    }

    /// Remove the query with id `id`.
    pub fn remove(&mut self, id: u32) -> Option<SvpQuery> {
        let seq = self.by_wire.remove(&svp_wire_id(id))?;
        self.by_seq.remove(&seq)
    }

    pub fn is_empty(&self) -> bool {
        self.by_seq.is_empty()
    }

    pub fn len(&self) -> usize {
        self.by_seq.len()
    }

    /// Every query, in order.
    pub fn iter(&self) -> impl Iterator<Item = &SvpQuery> {
        self.by_seq.values()
    }
}

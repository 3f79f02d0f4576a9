//! Remotes (`libvarpd_svp_remote.c`): the servers behind one
//! (`svp/host`, `svp/port`, `svp/underlay_ip`).
//!
//! # Theory of operation
//!
//! Every started instance with the same (host, port, underlay IP) shares
//! one [`SvpRemote`], refcounted; within it the instances are known by vnet
//! id (log records name their instance that way), and a second instance
//! with the same vnet id on one remote is refused with `EEXIST` (illumos
//! panics). The remote owns:
//!
//! * its connections, one per address the host resolves to, in
//!   round-robin order: a query goes to the first ACTIVE one, which then
//!   moves to the tail (`svp_remote_conn_queue`); with none ACTIVE the
//!   query fails at once with `SVP_S_FATAL`;
//! * the DNS state: each resolution bumps the generation; addresses not
//!   yet known get a new connection, connections whose address is no
//!   longer named "fall out" (`svp_conn_fallout`): reaped at once unless
//!   ACTIVE, which winds down (no new queries) and is reaped when its last
//!   query is answered;
//! * the degrade flags, most severe first: `SVP_RD_DNS_FAIL` (`failed to
//!   resolve or find entries for hostname <host>`) and
//!   `SVP_RD_REMOTE_FAIL` (`cannot reach any remote peers`, when every
//!   connection is degraded). Only the most severe set flag's message is
//!   shown; every change is applied to every instance on the remote
//!   (`libvarpd_fma_degrade`), and clearing the last flag restores them
//!   (`libvarpd_fma_restore`). Beyond illumos: an instance attached to an
//!   already degraded remote is degraded at once, a standing degrade is
//!   re-applied every DNS period, and `REMOTE_FAIL` clears
//!   as soon as any connection becomes ACTIVE (illumos only cleared it when
//!   a connection that had itself been degraded reconnected);
//! * the log poller (`shootdown.rs`).
//!
//! Connection events are handled here (`svp_conn_handler`): the
//! connection's own handlers (`conn.rs`) say what should follow, and the
//! remote applies it: a reset closes the socket, hands the outstanding
//! queries to other connections (`svp_remote_reassign`: the first one, in
//! flight, fails with `SVP_S_FATAL`; the others are requeued, or fail when
//! no connection is ACTIVE) and reconnects at once; degrade and restore
//! update the counts above; cleanup reaps.
//!
//! Locking: one mutex per remote over all of the above. Query callbacks
//! and upcalls that may re-enter the remote run after it is released
//! ([`Completions`]); degrade/restore upcalls (a single ioctl each) are
//! made under it, as illumos does.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use svp_proto::status::{SVP_S_NOTFOUND, SVP_S_OK};
use svp_proto::{encode_request, SvpLogRecord, SvpReply, SvpRequest, SVP_VL3_IP, SVP_VL3_IPV6};

use super::conn::{SvpConn, SvpConnAct, SvpConnState, SvpResetReason};
use super::ctx::SvpCtx;
use super::query::{svp_wire_id, Completions, SvpQuery, SvpQueryFn, SvpReplyData};
use super::shootdown::{SvpSdLog, SvpSdWork, SVP_SHOOTDOWN_BUF};
use super::timer::SvpTimer;
use crate::errno::Errno;
use crate::plugin::ProviderHandle;

/// `SVP_RD_DNS_FAIL`: the most severe degrade reason.
pub const SVP_RD_DNS_FAIL: u32 = 0x1;
/// `SVP_RD_REMOTE_FAIL`.
pub const SVP_RD_REMOTE_FAIL: u32 = 0x2;
/// The all-nodes multicast MAC (33:33:00:00:00:01), where unsolicited
/// neighbour advertisements go.
pub const SVP_ALLNODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];
/// The broadcast MAC, where gratuitous ARPs go.
pub const SVP_BCAST: [u8; 6] = [0xff; 6];

/// A VL2 lookup's callback: the status and, on OK, the underlay (ip, port).
pub type SvpVl2Fn = Box<dyn FnOnce(u32, Option<(Ipv6Addr, u16)>) + Send>;
/// A VL3 lookup's callback: the status and, on OK, (mac, underlay ip, port).
pub type SvpVl3Fn = Box<dyn FnOnce(u32, Option<([u8; 6], Ipv6Addr, u16)>) + Send>;

/// The key of a remote (`svp_remote_comparator`: host, port, underlay IP).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RemoteKey {
    pub host: String,
    pub port: u16,
    pub uip: Ipv6Addr,
}

/// `svp_remote_mkfmamsg`: the message of the most severe flag in `state`.
pub fn svp_remote_mkfmamsg(host: &str, state: u32) -> String {
    match state {
        SVP_RD_DNS_FAIL => format!("failed to resolve or find entries for hostname {host}"),
        SVP_RD_REMOTE_FAIL => "cannot reach any remote peers".to_string(),
        s => format!("unkonwn error state: {s}"),
    }
}

/// The lowest set bit (`ffs` as a mask), 0 for none.
fn lowest(flags: u32) -> u32 {
    flags & flags.wrapping_neg()
}

/// A connection as a snapshot shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnSnapshot {
    pub addr: Ipv6Addr,
    pub state: SvpConnState,
    pub degraded: bool,
    pub nbackoff: u32,
    /// The backoff waits (ticks) since the last reset or connect.
    pub backoffs: Vec<u32>,
    pub queries: usize,
    pub connects: u64,
    pub resets: u64,
    pub last_error: Option<String>,
}

/// A remote as a snapshot shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteSnapshot {
    pub host: String,
    pub port: u16,
    pub underlay_ip: Ipv6Addr,
    /// Vnet ids of the attached instances.
    pub vnetids: Vec<u64>,
    /// `sr_degrade`.
    pub degrade: u32,
    /// The message shown, when degraded.
    pub degrade_msg: Option<String>,
    /// `sr_gen`.
    pub dns_gen: u64,
    pub conns: Vec<ConnSnapshot>,
    /// Log ids waiting for a LOG_RM.
    pub log_pending: usize,
}

/// The timers a remote found due (handled by the event loop outside the
/// remote's lock).
#[derive(Debug, Default)]
pub struct RemoteDue {
    pub dns: bool,
    pub shootdown: Option<SvpSdWork>,
}

/// `svp_remote_t`'s state, under its lock.
struct RemoteState {
    /// `sr_count`.
    count: u32,
    destroyed: bool,
    /// `sr_tree`: instances by vnet id.
    tree: BTreeMap<u64, ProviderHandle>,
    /// `sr_conns`, in round-robin order.
    conns: Vec<SvpConn>,
    next_conn: u64,
    /// `sr_gen`.
    gen: u64,
    /// `sr_degrade`.
    degrade: u32,
    /// `sr_tconns`, `sr_ndconns`.
    tconns: u32,
    ndconns: u32,
    /// `SVP_RS_LOOKUP_SCHEDULED`, `SVP_RS_LOOKUP_INPROGRESS`.
    lookup_scheduled: bool,
    lookup_inprogress: bool,
    /// Consecutive temporary DNS failures.
    dns_tempfail: u32,
    /// When DNS is asked again (the `svp_dns_timer`, per remote).
    dns_timer: SvpTimer,
    /// `sr_shoot`.
    shoot: SvpSdLog,
}

/// `svp_remote_t`.
pub struct SvpRemote {
    /// (host, port, underlay IP).
    pub key: RemoteKey,
    ctx: Arc<SvpCtx>,
    st: Mutex<RemoteState>,
}

impl std::fmt::Debug for SvpRemote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SvpRemote")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl SvpRemote {
    /// `svp_remote_create` (with `svp_shootdown_start`): one reference.
    pub fn new(ctx: &Arc<SvpCtx>, key: RemoteKey) -> SvpRemote {
        let mut shoot = SvpSdLog::default();
        shoot.schedule(ctx, false);
        let mut dns_timer = SvpTimer::default();
        dns_timer.add(ctx.cfg.tick, ctx.cfg.dns_rate);
        SvpRemote {
            key,
            ctx: ctx.clone(),
            st: Mutex::new(RemoteState {
                count: 1,
                destroyed: false,
                tree: BTreeMap::new(),
                conns: Vec::new(),
                next_conn: 1,
                gen: 0,
                degrade: 0,
                tconns: 0,
                ndconns: 0,
                lookup_scheduled: false,
                lookup_inprogress: false,
                dns_tempfail: 0,
                dns_timer,
                shoot,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, RemoteState> {
        // The state stays consistent across a panic in an upcall.
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Another reference (`sr_count++`).
    pub fn hold(&self) {
        self.lock().count += 1;
    }

    /// Drop a reference; true when it was the last.
    pub fn rele(&self) -> bool {
        let mut st = self.lock();
        st.count = st.count.saturating_sub(1);
        st.count == 0
    }

    /// `svp_remote_destroy`: close every connection and fail every query.
    pub fn destroy(&self) {
        let mut done = Completions::new();
        {
            let mut st = self.lock();
            st.destroyed = true;
            st.shoot.quiesce = true;
            st.shoot.timer.remove();
            st.tree.clear();
            for mut c in std::mem::take(&mut st.conns) {
                while let Some(q) = c.queries.pop_front() {
                    self.ctx.stats.bump(&self.ctx.stats.queries_failed);
                    done.push(q.complete(&self.ctx, SvpReplyData::fatal()));
                }
                c.close();
            }
        }
        done.run();
    }

    /// `svp_remote_attach`: EEXIST if an instance with this vnet id is
    /// already attached.
    pub fn attach(&self, hdl: ProviderHandle) -> Result<(), Errno> {
        let mut st = self.lock();
        let vid = hdl.vnetid();
        if st.tree.contains_key(&vid) {
            tracing::warn!(
                host = %self.key.host,
                vnetid = vid,
                "svp: found duplicate entry with vid {vid}"
            );
            return Err(Errno::EEXIST);
        }
        if st.degrade != 0 {
            let msg = svp_remote_mkfmamsg(&self.key.host, lowest(st.degrade));
            self.ctx.stats.bump(&self.ctx.stats.degrades);
            if let Err(e) = hdl.fma_degrade(&msg) {
                tracing::warn!(linkid = hdl.linkid(), "svp: degrade failed: {e}");
            }
        }
        st.tree.insert(vid, hdl);
        Ok(())
    }

    /// `svp_remote_detach`.
    pub fn detach(&self, vid: u64) {
        self.lock().tree.remove(&vid);
    }

    /// The instance with vnet id `vid`.
    fn instance(&self, vid: u64) -> Option<ProviderHandle> {
        self.lock().tree.get(&vid).cloned()
    }

    // -- degrade / restore ---------------------------------------------------

    fn fma_all(&self, st: &RemoteState, msg: Option<&str>) {
        for hdl in st.tree.values() {
            let r = match msg {
                Some(m) => {
                    self.ctx.stats.bump(&self.ctx.stats.degrades);
                    hdl.fma_degrade(m)
                }
                None => {
                    self.ctx.stats.bump(&self.ctx.stats.restores);
                    hdl.fma_restore()
                }
            };
            if let Err(e) = r {
                tracing::warn!(linkid = hdl.linkid(), "svp: degrade/restore failed: {e}");
            }
        }
    }

    /// `svp_remote_degrade` (lock held).
    fn degrade_locked(&self, st: &mut RemoteState, flag: u32) {
        if st.degrade & flag != 0 {
            return;
        }
        let sf = lowest(st.degrade);
        st.degrade |= flag;
        if sf == 0 || sf > lowest(flag) {
            let msg = svp_remote_mkfmamsg(&self.key.host, lowest(flag));
            tracing::warn!(host = %self.key.host, port = self.key.port, "svp: degraded: {msg}");
            self.fma_all(st, Some(&msg));
        }
    }

    /// `svp_remote_restore` (lock held).
    fn restore_locked(&self, st: &mut RemoteState, flag: u32) {
        if st.degrade & flag != flag || flag == 0 {
            return;
        }
        let sf = lowest(st.degrade);
        st.degrade &= !flag;
        let nf = lowest(st.degrade);
        if st.degrade == 0 {
            tracing::info!(host = %self.key.host, port = self.key.port, "svp: restored");
            self.fma_all(st, None);
        } else if nf != sf {
            let msg = svp_remote_mkfmamsg(&self.key.host, nf);
            self.fma_all(st, Some(&msg));
        }
    }

    /// Degrade with `flag`.
    pub fn degrade(&self, flag: u32) {
        let mut st = self.lock();
        self.degrade_locked(&mut st, flag);
    }

    /// Clear `flag`.
    pub fn restore(&self, flag: u32) {
        let mut st = self.lock();
        self.restore_locked(&mut st, flag);
    }

    // -- connection accounting (svp_conn_add/remove/degrade/restore) ------------

    fn cidx(st: &RemoteState, id: u64) -> Option<usize> {
        st.conns.iter().position(|c| c.id == id)
    }

    fn conn_add(st: &mut RemoteState, idx: usize) {
        if st.conns[idx].added {
            return;
        }
        st.conns[idx].added = true;
        st.tconns += 1;
    }

    fn conn_remove(&self, st: &mut RemoteState, idx: usize) {
        let c = &mut st.conns[idx];
        if !c.added {
            return;
        }
        c.added = false;
        if c.degraded {
            st.ndconns -= 1;
        }
        st.tconns -= 1;
        if st.tconns == st.ndconns {
            self.degrade_locked(st, SVP_RD_REMOTE_FAIL);
        }
    }

    fn conn_degrade(&self, st: &mut RemoteState, idx: usize) {
        let c = &mut st.conns[idx];
        if c.degraded {
            return;
        }
        c.degraded = true;
        if c.added {
            st.ndconns += 1;
        }
        if st.ndconns == st.tconns {
            self.degrade_locked(st, SVP_RD_REMOTE_FAIL);
        }
    }

    fn conn_restore(&self, st: &mut RemoteState, idx: usize) {
        let c = &mut st.conns[idx];
        if c.degraded {
            c.degraded = false;
            if c.added {
                st.ndconns -= 1;
            }
        }
        // A connection is ACTIVE: some peer is reachable.
        self.restore_locked(st, SVP_RD_REMOTE_FAIL);
    }

    // -- queries ----------------------------------------------------------------

    /// `svp_remote_conn_queue` (lock held): the first ACTIVE connection
    /// takes `q` and moves to the tail. `Err(q)` when none is ACTIVE.
    fn conn_queue(&self, st: &mut RemoteState, q: SvpQuery) -> Result<(), SvpQuery> {
        let Some(idx) = st
            .conns
            .iter()
            .position(|c| c.state == SvpConnState::Active)
        else {
            return Err(q);
        };
        let mut c = st.conns.remove(idx);
        c.queue(q);
        st.conns.push(c);
        Ok(())
    }

    /// Queue a request, or fail it at once (`SVP_S_FATAL`) when no
    /// connection is ACTIVE or the remote is gone.
    fn submit(&self, req: &SvpRequest, max_reply: u32, cb: SvpQueryFn) {
        let id = self.ctx.id_alloc();
        let frame = encode_request(svp_wire_id(id), req);
        let q = SvpQuery::new(id, req.op(), frame, max_reply, cb);
        let r = {
            let mut st = self.lock();
            if st.destroyed {
                Err(q)
            } else {
                self.conn_queue(&mut st, q)
            }
        };
        match r {
            Ok(()) => {
                self.ctx.stats.bump(&self.ctx.stats.queries);
                self.ctx.waker.wake();
            }
            Err(q) => {
                self.ctx.stats.bump(&self.ctx.stats.queries_noconn);
                let mut done = Completions::new();
                done.push(q.complete(&self.ctx, SvpReplyData::fatal()));
                done.run();
            }
        }
    }

    /// `svp_remote_vl2_lookup`: where is `mac` on vnet `vid`? The callback
    /// gets `Some((ip, port))` on OK, `None` otherwise.
    pub fn vl2_lookup(&self, mac: [u8; 6], vid: u64, cb: SvpVl2Fn) {
        let Ok(vnetid) = u32::try_from(vid) else {
            return cb(svp_proto::status::SVP_S_FATAL, None);
        };
        let req = SvpRequest::Vl2 { mac, vnetid };
        self.submit(
            &req,
            super::conn::SVP_VL2_ACK_SIZE,
            Box::new(move |r: SvpReplyData| match decode(&r) {
                Some(SvpReply::Vl2Ack {
                    status: 0,
                    port,
                    addr,
                }) => cb(SVP_S_OK, Some((addr, port))),
                _ => cb(r.status, None),
            }),
        );
    }

    /// `svp_remote_vl3_common`: which MAC (and host) owns `ip` on vnet
    /// `vid`? IPv4 goes as `SVP_VL3_IP` v4-mapped, IPv6 as `SVP_VL3_IPV6`.
    /// The callback gets the status and, on OK, (mac, uip, uport).
    pub fn vl3_lookup(&self, ip: IpAddr, vid: u64, cb: SvpVl3Fn) {
        let Ok(vnetid) = u32::try_from(vid) else {
            return cb(svp_proto::status::SVP_S_FATAL, None);
        };
        let (ip, l3type) = match ip {
            IpAddr::V4(v4) => (v4.to_ipv6_mapped(), SVP_VL3_IP),
            IpAddr::V6(v6) => (v6, SVP_VL3_IPV6),
        };
        let req = SvpRequest::Vl3 { ip, l3type, vnetid };
        self.submit(
            &req,
            super::conn::SVP_VL3_ACK_SIZE,
            Box::new(move |r: SvpReplyData| match decode(&r) {
                Some(SvpReply::Vl3Ack {
                    status: SVP_S_OK,
                    mac,
                    uport,
                    uip,
                }) => cb(SVP_S_OK, Some((mac, uip, uport))),
                Some(rep) => cb(rep.status(), None),
                None => cb(r.status, None),
            }),
        );
    }

    // -- the log poller (svp_remote_log_request and friends) -------------------

    /// The log poller's timer fired with `work`.
    pub fn shootdown_work(self: &Arc<Self>, work: SvpSdWork) {
        match work {
            SvpSdWork::LogRequest => {
                self.ctx.stats.bump(&self.ctx.stats.log_requests);
                let req = SvpRequest::Log {
                    count: SVP_SHOOTDOWN_BUF,
                    ip: self.key.uip,
                };
                let me = self.clone();
                self.submit(
                    &req,
                    SVP_SHOOTDOWN_BUF,
                    Box::new(move |r| me.shootdown_logr_cb(r)),
                );
            }
            SvpSdWork::LogRemove(ids) => {
                self.ctx.stats.bump(&self.ctx.stats.log_rm);
                let me = self.clone();
                self.submit(
                    &SvpRequest::LogRm { ids },
                    super::conn::SVP_LRM_ACK_SIZE,
                    Box::new(move |r| me.shootdown_lrm_cb(r)),
                );
            }
        }
    }

    /// `svp_shootdown_lrm_cb`.
    fn shootdown_lrm_cb(&self, r: SvpReplyData) {
        self.lock().shoot.lrm_done(&self.ctx);
        if r.status != SVP_S_OK {
            tracing::warn!(
                remote_host = %self.key.host,
                remote_port = self.key.port,
                status = r.status,
                "svp: SVP_R_LOG_RM failed"
            );
        }
    }

    /// `svp_shootdown_logr_cb`: apply the records of a LOG_ACK.
    fn shootdown_logr_cb(self: Arc<Self>, r: SvpReplyData) {
        let warn = |msg: &str| {
            tracing::warn!(
                remote_host = %self.key.host,
                remote_port = self.key.port,
                response_size = r.payload.len(),
                status = r.status,
                "svp: {msg}"
            );
        };
        if r.status != SVP_S_OK {
            if r.header.is_some() {
                warn("log request not OK");
            }
            self.lock().shoot.idle(&self.ctx);
            return;
        }
        let records = match svp_proto::msg::decode_log_records(r.payload.get(4..).unwrap_or(&[])) {
            Ok(v) => v,
            Err(e) => {
                warn(&e.to_string());
                self.lock().shoot.idle(&self.ctx);
                return;
            }
        };
        if records.is_empty() {
            self.lock().shoot.idle(&self.ctx);
            return;
        }
        self.lock().shoot.begin();
        for rec in records {
            match rec {
                SvpLogRecord::Vl2 { id, mac, vnetid } => {
                    self.ctx.stats.bump(&self.ctx.stats.log_vl2);
                    // svp_remote_shootdown_vl2 → svp_vl2_invalidate_cb.
                    if let Some(hdl) = self.instance(u64::from(vnetid)) {
                        if let Err(e) = hdl.inject_varp(mac, None) {
                            tracing::warn!(linkid = hdl.linkid(), "svp: cache remove failed: {e}");
                        }
                    }
                    self.lock().shoot.add_id(id);
                }
                SvpLogRecord::Vl3 {
                    id,
                    ip,
                    vlan,
                    vnetid,
                } => {
                    self.ctx.stats.bump(&self.ctx.stats.log_vl3);
                    self.lock().shoot.hold();
                    let addr = match ip.to_ipv4_mapped() {
                        Some(v4) => IpAddr::V4(v4),
                        None => IpAddr::V6(ip),
                    };
                    let me = self.clone();
                    // svp_remote_shootdown_vl3: an internal VL3_REQ.
                    self.vl3_lookup(
                        addr,
                        u64::from(vnetid),
                        Box::new(move |status, ack| {
                            if let Some((mac, _, _)) = ack {
                                me.shootdown_vl3_inject(u64::from(vnetid), vlan, addr, mac);
                            }
                            let mut st = me.lock();
                            if status == SVP_S_OK || status == SVP_S_NOTFOUND {
                                st.shoot.add_id(id);
                            }
                            st.shoot.rele(&me.ctx);
                        }),
                    );
                }
            }
        }
        let mut st = self.lock();
        st.shoot.rele(&self.ctx);
    }

    /// `svp_vl3_inject_cb`: announce `ip` at `mac` on the instance with
    /// vnet id `vid`: a gratuitous ARP to broadcast (IPv4), or an
    /// unsolicited neighbour advertisement to all nodes (IPv6, which illumos
    /// skips); 802.1Q-tagged when `vlan` ≠ 0.
    fn shootdown_vl3_inject(&self, vid: u64, vlan: u16, ip: IpAddr, mac: [u8; 6]) {
        let Some(hdl) = self.instance(vid) else {
            return;
        };
        let r = match ip {
            IpAddr::V4(v4) => hdl.inject_arp(vlan, mac, v4, SVP_BCAST),
            IpAddr::V6(v6) => hdl.inject_ndp(vlan, mac, v6, SVP_ALLNODES_MAC),
        };
        if let Err(e) = r {
            tracing::warn!(linkid = hdl.linkid(), "svp: inject failed: {e}");
        }
    }

    // -- DNS ----------------------------------------------------------------------

    /// Mark a lookup scheduled; false if it already was.
    pub fn lookup_schedule(&self) -> bool {
        let mut st = self.lock();
        if st.lookup_scheduled || st.destroyed {
            return false;
        }
        st.lookup_scheduled = true;
        true
    }

    /// A resolver thread takes the remote; false if another has it.
    pub fn lookup_begin(&self) -> bool {
        let mut st = self.lock();
        st.lookup_scheduled = false;
        if st.lookup_inprogress || st.destroyed {
            return false;
        }
        st.lookup_inprogress = true;
        true
    }

    /// The resolver thread is done with the remote.
    pub fn lookup_end(&self) {
        self.lock().lookup_inprogress = false;
    }

    /// A temporary failure: retry in one tick; the count so far.
    pub fn lookup_tempfail(&self) -> u32 {
        let mut st = self.lock();
        st.dns_tempfail += 1;
        st.dns_timer.add(self.ctx.cfg.tick, 1);
        st.dns_tempfail
    }

    /// `svp_remote_resolved`: reconcile the connections with `addrs`.
    pub fn resolved(&self, addrs: &[IpAddr]) {
        let mut addrs6: Vec<Ipv6Addr> = Vec::new();
        for a in addrs {
            let v6 = match a {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => *v6,
            };
            if !addrs6.contains(&v6) {
                addrs6.push(v6);
            }
        }
        let mut done = Completions::new();
        {
            let mut st = self.lock();
            if st.destroyed {
                return;
            }
            st.dns_tempfail = 0;
            st.gen += 1;
            let ngen = st.gen;
            for a in &addrs6 {
                if let Some(c) = st.conns.iter_mut().find(|c| c.addr == *a) {
                    c.gen = ngen;
                    continue;
                }
                let id = st.next_conn;
                st.next_conn += 1;
                tracing::info!(host = %self.key.host, addr = %a, "svp: new remote address");
                st.conns
                    .push(SvpConn::new(&self.ctx, id, *a, self.key.port, ngen));
                let idx = st.conns.len() - 1;
                Self::conn_add(&mut st, idx);
            }
            let old: Vec<u64> = st
                .conns
                .iter()
                .filter(|c| c.gen < ngen)
                .map(|c| c.id)
                .collect();
            for id in old {
                self.conn_fallout(&mut st, id, &mut done);
            }
            if st.tconns == 0 {
                self.degrade_locked(&mut st, SVP_RD_REMOTE_FAIL);
            }
        }
        self.ctx.waker.wake();
        done.run();
    }

    /// `svp_conn_fallout`: the address left DNS.
    fn conn_fallout(&self, st: &mut RemoteState, id: u64, done: &mut Completions) {
        let Some(idx) = Self::cidx(st, id) else {
            return;
        };
        let c = &mut st.conns[idx];
        tracing::info!(host = %self.key.host, addr = %c.addr, "svp: remote address left DNS");
        match c.state {
            SvpConnState::Active | SvpConnState::Winddown => {
                c.state = SvpConnState::Winddown;
                if c.queries.is_empty() {
                    self.conn_reap(st, idx, done);
                }
            }
            _ => self.conn_reap(st, idx, done),
        }
    }

    /// Remove a connection for good (`SVP_CF_REAP` + `svp_conn_destroy`);
    /// queries it still holds go elsewhere or fail.
    fn conn_reap(&self, st: &mut RemoteState, idx: usize, done: &mut Completions) {
        self.conn_remove(st, idx);
        let mut c = st.conns.remove(idx);
        c.close();
        while let Some(q) = c.queries.pop_front() {
            if let Err(q) = self.conn_queue(st, q) {
                self.ctx.stats.bump(&self.ctx.stats.queries_failed);
                done.push(q.complete(&self.ctx, SvpReplyData::fatal()));
            }
        }
    }

    /// `svp_remote_reassign`: the connection at `idx` is being reset.
    fn reassign(&self, st: &mut RemoteState, idx: usize, done: &mut Completions) {
        let mut c = st.conns.remove(idx);
        let mut first = true;
        while let Some(q) = c.queries.pop_front() {
            if first {
                first = false;
                self.ctx.stats.bump(&self.ctx.stats.queries_failed);
                done.push(q.complete(&self.ctx, SvpReplyData::fatal()));
                continue;
            }
            if let Err(q) = self.conn_queue(st, q) {
                self.ctx.stats.bump(&self.ctx.stats.queries_failed);
                done.push(q.complete(&self.ctx, SvpReplyData::fatal()));
            }
        }
        st.conns.push(c);
    }

    // -- the connection handler ----------------------------------------------------

    fn count_reset(&self, r: SvpResetReason) {
        let s = &self.ctx.stats;
        s.bump(&s.resets);
        s.bump(match r {
            SvpResetReason::Eof => &s.reset_eof,
            SvpResetReason::Io => &s.reset_io,
            SvpResetReason::Version => &s.reset_version,
            SvpResetReason::Op => &s.reset_op,
            SvpResetReason::Id => &s.reset_id,
            SvpResetReason::Size => &s.reset_size,
            SvpResetReason::Crc => &s.reset_crc,
            SvpResetReason::Timeout => &s.reset_timeout,
        });
    }

    /// `svp_conn_handler`: advance connection `id` on a timer (`revents`
    /// None) or a `poll` event.
    fn conn_handler(
        &self,
        st: &mut RemoteState,
        id: u64,
        revents: Option<libc::c_short>,
        done: &mut Completions,
    ) {
        let Some(idx) = Self::cidx(st, id) else {
            return;
        };
        let ctx = &*self.ctx;
        let c = &mut st.conns[idx];
        let act = if c.teardown {
            SvpConnAct::Error(SvpResetReason::Timeout)
        } else {
            match c.state {
                SvpConnState::Initial | SvpConnState::Backoff if revents.is_none() => {
                    c.connect(ctx)
                }
                SvpConnState::Error if revents.is_none() => {
                    c.state = SvpConnState::Backoff;
                    c.connect(ctx)
                }
                SvpConnState::Connecting => match revents {
                    Some(re) => c.poll_connect(ctx, re),
                    None => SvpConnAct::None,
                },
                SvpConnState::Active | SvpConnState::Winddown => {
                    let old = c.state;
                    let mut r = SvpConnAct::None;
                    if let Some(re) = revents {
                        if re & libc::POLLOUT != 0 {
                            r = c.pollout(ctx);
                        }
                        if r == SvpConnAct::None
                            && re & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0
                        {
                            r = c.pollin(ctx, done);
                        }
                    }
                    if old == SvpConnState::Winddown
                        && (c.queries.is_empty() || r != SvpConnAct::None)
                    {
                        r = SvpConnAct::Cleanup;
                    }
                    r
                }
                _ => SvpConnAct::None,
            }
        };
        let act = match act {
            SvpConnAct::Error(reason) => {
                self.count_reset(reason);
                let c = &mut st.conns[idx];
                tracing::warn!(
                    remote_ip = %c.addr,
                    remote_port = c.port,
                    reason = ?reason,
                    "svp: resetting connection"
                );
                // svp_conn_reset: close, reassign, reconnect at once.
                c.reset_socket();
                self.reassign(st, idx, done);
                let Some(idx) = Self::cidx(st, id) else {
                    return;
                };
                let a = st.conns[idx].connect(ctx);
                (a, idx)
            }
            a => (a, idx),
        };
        match act {
            (SvpConnAct::Degrade, idx) => self.conn_degrade(st, idx),
            (SvpConnAct::Restore, idx) => self.conn_restore(st, idx),
            (SvpConnAct::Cleanup, idx) => self.conn_reap(st, idx, done),
            _ => {}
        }
    }

    // -- the event loop's view --------------------------------------------------------

    /// Run the connection timers due at `now` (backoff, query timeout),
    /// report the DNS and log-poller timers due, and lower `next` to the
    /// earliest deadline left.
    pub fn timers(&self, now: Instant, next: &mut Instant, done: &mut Completions) -> RemoteDue {
        let mut st = self.lock();
        if st.destroyed {
            return RemoteDue::default();
        }
        let ids: Vec<u64> = st.conns.iter().map(|c| c.id).collect();
        let timeout = self.ctx.ticks(self.ctx.cfg.query_timeout);
        for id in ids {
            let Some(idx) = Self::cidx(&st, id) else {
                continue;
            };
            let c = &mut st.conns[idx];
            if c.btimer.fire(now) {
                self.conn_handler(&mut st, id, None, done);
            }
            let Some(idx) = Self::cidx(&st, id) else {
                continue;
            };
            let c = &mut st.conns[idx];
            if c.qtimer.fire(now) {
                c.qtimer.add(self.ctx.cfg.tick, self.ctx.cfg.query_timeout);
                if let Some(op) = c.query_timed_out(now, timeout) {
                    tracing::warn!(
                        remote_ip = %c.addr,
                        remote_port = c.port,
                        operation = op,
                        "svp: query timed out on connection"
                    );
                    c.teardown = true;
                    self.conn_handler(&mut st, id, None, done);
                }
            }
        }
        let mut due = RemoteDue {
            dns: st.dns_timer.fire(now),
            shootdown: st.shoot.fire(now),
        };
        if due.dns {
            st.dns_timer.add(self.ctx.cfg.tick, self.ctx.cfg.dns_rate);
            // Re-assert a standing degrade, so an overlay whose state was
            // cleared behind our back (a varpd restart restoring it, say)
            // shows it again within one DNS period.
            if st.degrade != 0 {
                let msg = svp_remote_mkfmamsg(&self.key.host, lowest(st.degrade));
                self.fma_all(&st, Some(&msg));
            }
        }
        if st.shoot.quiesce {
            due.shootdown = None;
        }
        for c in &st.conns {
            c.btimer.bound(next);
            c.qtimer.bound(next);
        }
        st.dns_timer.bound(next);
        st.shoot.timer.bound(next);
        due
    }

    /// Append this remote's sockets to the `poll` set.
    pub fn poll_set(&self, pfds: &mut Vec<libc::pollfd>, owners: &mut Vec<u64>) {
        let st = self.lock();
        for c in &st.conns {
            let ev = c.interest();
            if let (Some(fd), true) = (c.fd(), ev != 0) {
                pfds.push(libc::pollfd {
                    fd,
                    events: ev,
                    revents: 0,
                });
                owners.push(c.id);
            }
        }
    }

    /// A `poll` event for connection `id`.
    pub fn conn_event(&self, id: u64, revents: libc::c_short, done: &mut Completions) {
        let mut st = self.lock();
        if st.destroyed {
            return;
        }
        self.conn_handler(&mut st, id, Some(revents), done);
    }

    /// A snapshot for observers and tests.
    pub fn snapshot(&self) -> RemoteSnapshot {
        let st = self.lock();
        RemoteSnapshot {
            host: self.key.host.clone(),
            port: self.key.port,
            underlay_ip: self.key.uip,
            vnetids: st.tree.keys().copied().collect(),
            degrade: st.degrade,
            degrade_msg: (st.degrade != 0)
                .then(|| svp_remote_mkfmamsg(&self.key.host, lowest(st.degrade))),
            dns_gen: st.gen,
            conns: st
                .conns
                .iter()
                .map(|c| ConnSnapshot {
                    addr: c.addr,
                    state: c.state,
                    degraded: c.degraded,
                    nbackoff: c.nbackoff,
                    backoffs: c.backoffs.clone(),
                    queries: c.queries.len(),
                    connects: c.connects,
                    resets: c.resets,
                    last_error: c.last_error.clone(),
                })
                .collect(),
            log_pending: st.shoot.pending(),
        }
    }
}

/// Decode a reply's payload (None for a local failure or a bad payload).
fn decode(r: &SvpReplyData) -> Option<SvpReply> {
    let h = r.header.as_ref()?;
    svp_proto::decode_reply(h, &r.payload).ok()
}

/// `IN6_IS_ADDR_V4MAPPED` + `IN6_V4MAPPED_TO_INADDR`.
pub fn v4mapped(ip: &Ipv6Addr) -> Option<Ipv4Addr> {
    ip.to_ipv4_mapped()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        assert_eq!(
            svp_remote_mkfmamsg("portolan.example", SVP_RD_DNS_FAIL),
            "failed to resolve or find entries for hostname portolan.example"
        );
        assert_eq!(
            svp_remote_mkfmamsg("x", SVP_RD_REMOTE_FAIL),
            "cannot reach any remote peers"
        );
        assert_eq!(svp_remote_mkfmamsg("x", 4), "unkonwn error state: 4");
        assert_eq!(lowest(3), 1);
        assert_eq!(lowest(2), 2);
        assert_eq!(lowest(0), 0);
    }
}

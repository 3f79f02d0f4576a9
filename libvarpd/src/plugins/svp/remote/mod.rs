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
//! * the log poller (`shootdown.rs`; the remote's side in `log.rs`).
//!
//! Connection events are handled in `conns.rs` (`svp_conn_handler`): the
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

use svp_proto::status::SVP_S_OK;
use svp_proto::{encode_request, SvpReply, SvpRequest, SVP_VL3_IP, SVP_VL3_IPV6};

use super::conn::{SvpConn, SvpConnState};
use super::ctx::SvpCtx;
use super::query::{svp_wire_id, Completions, SvpQuery, SvpQueryFn, SvpReplyData};
use super::shootdown::{SvpSdLog, SvpSdWork};
use super::timer::SvpTimer;
use crate::errno::Errno;
use crate::plugin::ProviderHandle;

mod conns;
mod log;

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

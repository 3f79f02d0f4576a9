//! The log poller's state (`libvarpd_svp_shootdown.c`, `svp_sdlog_t`).
//!
//! # Theory of operation
//!
//! Mapping changes reach a host through its *log* on the server, never by
//! a timer on the cached entries (availability over consistency). Each
//! remote polls it:
//!
//! 1. **Schedule**: when idle, wait `base + uniform(0..=base)` ticks (5–10
//!    s); while there is work, `cont` ticks (1 s). The first wait starts
//!    when the remote is created.
//! 2. **LOG_REQ** `{count = 1024 (bytes), ip = svp/underlay_ip}`. A status
//!    other than OK (`log request not OK`), a record that does not parse
//!    (`failed to get initial shootdown tag`, `not enough data for
//!    svp_log_vl2_t`/`svp_log_vl3_t`, `unknown log structure type`) or an
//!    empty log: wait idle.
//! 3. **Apply** each record: a VL2 record removes the MAC from the kernel
//!    cache of the instance with that vnet id (`OVERLAY_TARG_CACHE_REMOVE`)
//!    and its id joins the removal list at once; a VL3 record takes a hold
//!    and issues a VL3_REQ for its IP: on OK the instance injects a
//!    gratuitous ARP (IPv4, tagged with the record's VLAN) or, beyond
//!    illumos which skips IPv6 records, an unsolicited neighbour
//!    advertisement (IPv6); on OK or NOTFOUND its id joins the list, on any
//!    other status it does not, so the server sends it again.
//! 4. When the last hold drops: with ids to remove, wait `cont` and send
//!    **LOG_RM** `{count, ids}`; without, wait idle.
//! 5. **LOG_RM_ACK**: a status other than OK logs `SVP_R_LOG_RM failed`;
//!    either way the next LOG_REQ follows after `cont`.
//!
//! This module holds the state and the schedule; the remote
//! (`remote/log.rs`) sends the requests and applies the records.

use super::ctx::SvpCtx;
use super::timer::{random_uniform, SvpTimer};

/// `svp_shootdown_buf`: the LOG_ACK buffer (and LOG_RM buffer) size.
pub const SVP_SHOOTDOWN_BUF: u32 = 1024;
/// Ids a LOG_RM of [`SVP_SHOOTDOWN_BUF`] bytes holds: (1024 − 4) / 16.
pub const SVP_SHOOTDOWN_MAXIDS: usize = (SVP_SHOOTDOWN_BUF as usize - 4) / 16;

/// What the poller's timer asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SvpSdWork {
    /// Send a LOG_REQ.
    LogRequest,
    /// Send a LOG_RM for these ids.
    LogRemove(Vec<[u8; 16]>),
}

/// `svp_sdlog_t`.
#[derive(Debug, Default)]
pub struct SvpSdLog {
    /// `sdl_timer` (one-shot).
    pub timer: SvpTimer,
    /// `SVP_SD_RUNNING`: a request or its records are being handled.
    pub running: bool,
    /// `SVP_SD_DORM`: the next firing sends the LOG_RM.
    pub dorm: bool,
    /// `SVP_SD_QUIESCE`: the remote is going away.
    pub quiesce: bool,
    /// `sdl_ref`: holds while records are applied.
    refs: u32,
    /// `sdl_logrm`'s ids.
    rm: Vec<[u8; 16]>,
}

impl SvpSdLog {
    /// `svp_shootdown_schedule`.
    pub fn schedule(&mut self, ctx: &SvpCtx, cont: bool) {
        if self.quiesce {
            return;
        }
        let ticks = if cont {
            ctx.cfg.shootdown_cont
        } else {
            let base = ctx.cfg.shootdown_base;
            base + random_uniform(base.saturating_add(1))
        };
        self.timer.add(ctx.cfg.tick, ticks);
    }

    /// `svp_shootdown_timer`: the work due at `now`, if any.
    pub fn fire(&mut self, now: std::time::Instant) -> Option<SvpSdWork> {
        if self.quiesce || self.running || !self.timer.fire(now) {
            return None;
        }
        self.running = true;
        if self.dorm {
            self.dorm = false;
            Some(SvpSdWork::LogRemove(self.rm.clone()))
        } else {
            Some(SvpSdWork::LogRequest)
        }
    }

    /// The log request failed or brought nothing: wait idle.
    pub fn idle(&mut self, ctx: &SvpCtx) {
        self.running = false;
        self.schedule(ctx, false);
    }

    /// Records are about to be applied (`svp_shootdown_ref` and the
    /// `bzero` of the removal list).
    pub fn begin(&mut self) {
        self.rm.clear();
        self.refs = 1;
    }

    /// `svp_shootdown_ref`: one more VL3 record in flight.
    pub fn hold(&mut self) {
        self.refs += 1;
    }

    /// Add a handled record's id to the removal list.
    pub fn add_id(&mut self, id: [u8; 16]) {
        if self.rm.len() < SVP_SHOOTDOWN_MAXIDS {
            self.rm.push(id);
        }
    }

    /// `svp_shootdown_rele`: the last hold schedules the LOG_RM (or idles).
    pub fn rele(&mut self, ctx: &SvpCtx) {
        self.refs = self.refs.saturating_sub(1);
        if self.refs > 0 {
            return;
        }
        self.running = false;
        let next = !self.rm.is_empty();
        self.dorm = next;
        self.schedule(ctx, next);
    }

    /// `svp_shootdown_lrm_cb`: the LOG_RM is done; ask again soon.
    pub fn lrm_done(&mut self, ctx: &SvpCtx) {
        self.running = false;
        self.rm.clear();
        self.schedule(ctx, true);
    }

    /// The ids on the removal list (for snapshots and tests).
    pub fn pending(&self) -> usize {
        self.rm.len()
    }
}

#[cfg(test)]
mod tests {
    use super::super::ctx::{SvpConfig, SvpCtx};
    use super::*;
    use std::time::{Duration, Instant};

    fn ctx() -> SvpCtx {
        SvpCtx::new(SvpConfig {
            tick: Duration::from_millis(1),
            ..SvpConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn cycle() {
        let c = ctx();
        let mut s = SvpSdLog::default();
        s.schedule(&c, false);
        std::thread::sleep(Duration::from_millis(12));
        assert_eq!(s.fire(Instant::now()), Some(SvpSdWork::LogRequest));
        // Running: the timer cannot fire again.
        assert_eq!(s.fire(Instant::now() + Duration::from_secs(60)), None);
        s.begin();
        s.add_id([1; 16]);
        s.hold();
        s.rele(&c);
        assert!(s.running);
        s.add_id([2; 16]);
        s.rele(&c);
        assert!(!s.running && s.dorm);
        std::thread::sleep(Duration::from_millis(3));
        assert_eq!(
            s.fire(Instant::now()),
            Some(SvpSdWork::LogRemove(vec![[1; 16], [2; 16]]))
        );
        s.lrm_done(&c);
        assert_eq!(s.pending(), 0);
        std::thread::sleep(Duration::from_millis(3));
        assert_eq!(s.fire(Instant::now()), Some(SvpSdWork::LogRequest));
        // Nothing handled: idle, no LOG_RM.
        s.begin();
        s.rele(&c);
        assert!(!s.dorm);
    }

    #[test]
    fn ids_are_bounded() {
        let mut s = SvpSdLog::default();
        for i in 0..200u8 {
            s.add_id([i; 16]);
        }
        assert_eq!(s.pending(), SVP_SHOOTDOWN_MAXIDS);
    }
}

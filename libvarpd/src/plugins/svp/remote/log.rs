//! A remote's side of the log poller (`svp_remote_log_request`,
//! `svp_shootdown_logr_cb`, `svp_shootdown_lrm_cb`,
//! `svp_remote_shootdown_vl2`, `svp_remote_shootdown_vl3`).
//!
//! # Theory of operation
//!
//! The poller's state and timer live in `shootdown.rs`; when its timer
//! fires the remote sends a LOG_REQ for its underlay IP (or a LOG_RM for
//! the ids handled) through its own connections. Each record of a LOG_ACK
//! is applied to the instance with the record's vnet id: a VL2 record
//! removes the MAC from the kernel cache; a VL3 record is looked up again
//! and the answer announced with a gratuitous ARP or an unsolicited
//! neighbour advertisement. Handled ids (a VL3 lookup that failed other than
//! "not found" is not handled) go to the next LOG_RM.

use std::net::IpAddr;
use std::sync::Arc;

use svp_proto::status::{SVP_S_NOTFOUND, SVP_S_OK};
use svp_proto::{SvpLogRecord, SvpRequest};

use super::{SvpRemote, SVP_ALLNODES_MAC, SVP_BCAST};
use crate::plugins::svp::conn;
use crate::plugins::svp::query::SvpReplyData;
use crate::plugins::svp::shootdown::{SvpSdWork, SVP_SHOOTDOWN_BUF};

impl SvpRemote {
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
                    conn::SVP_LRM_ACK_SIZE,
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
}

//! A lookup request's life on `/dev/overlay` (`overlay_target.c`'s
//! `overlay_target_lookup_request`, `_respond`, `_drop`, `_packet`,
//! `_inject`, `_resend`; §8.5–§8.8).
//!
//! LOOKUP hands the head of the global queue ([`crate::targ`]) to the
//! calling handle, describing the first queued frame; the handle then owns
//! the request: RESPOND makes the entry valid and sends its frames, DROP
//! discards (or, with a flood list, replicates) the first frame and asks
//! again while more remain, PKT copies the first frame out, INJECT and
//! RESEND put a frame up to MAC or out through the transmit path. Frames
//! go back through [`OverlayDev::m_tx`] of the device the request carries,
//! so they meet the device's current target.

use crate::dev::OverlayDev;
use crate::errno::Errno;
use crate::moment::Moment;
use crate::msgblk::{MsgBlk, MsgBlkChain};
use crate::platform::{Platform, UserIo};
use crate::targ::TargHandle;
use crate::target::lookup_info;
use crate::Overlay;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use overlay_sys::*;

impl<P: Platform> Overlay<P> {
    /// LOOKUP (§8.5): block ≤ 1 s for the head of the global queue.
    pub(crate) fn t_lookup(&self, h: &TargHandle<P>, kbuf: &mut [u8]) -> Result<(), Errno> {
        let deadline = Moment::now().add_nanos(OVERLAY_LOOKUP_WAIT_NS);
        let mut g = self.tg.lock();
        loop {
            while g.pending.is_empty() {
                let (ng, timed_out) = self.tcv.wait_until(g, deadline);
                g = ng;
                if timed_out && g.pending.is_empty() {
                    return Err(Errno::ETIME);
                }
            }
            let Some(req) = g.pending.pop_front() else {
                continue;
            };
            let Some(dev) = req.dev.upgrade() else {
                // The device is gone: nothing waits on it.
                continue;
            };
            let e = &req.ent;
            let Some(t) = e.target.upgrade() else {
                // The target was replaced by a new ASSOCIATE (varpd came
                // back and restored its instance) while this request was
                // queued. On illumos the old request is still answered and
                // its frames go out through the device's transmit path,
                // where the current target looks them up afresh; do the
                // same at once, so the frames meet the new target (and a
                // new request if they miss) instead of vanishing.
                let chain = {
                    let mut es = e.lock();
                    es.flags &= !OVERLAY_ENTRY_F_PENDING;
                    es.bytes = 0;
                    core::mem::take(&mut es.chain)
                };
                // m_tx may enqueue a request: not under the queue lock.
                drop(g);
                dev.m_tx(chain);
                g = self.tg.lock();
                continue;
            };
            let mut es = e.lock();
            if es.flags & OVERLAY_ENTRY_F_VALID != 0 {
                // Answered by CACHE_SET while queued. §16 #9: the request is
                // finished, so balance the outstanding count.
                es.flags &= !OVERLAY_ENTRY_F_PENDING;
                drop(es);
                t.req_done();
                continue;
            }
            let info = es.chain.front().and_then(lookup_info);
            let Some(info) = info else {
                // Unparsable (or no) first frame: discard it; ask again for
                // the next one without counting a new request (§16 #9).
                let _ = es.chain.pop_front().map(|m| es.bytes -= m.len());
                if es.chain.is_empty() {
                    es.flags &= !OVERLAY_ENTRY_F_PENDING;
                    drop(es);
                    t.req_done();
                } else {
                    drop(es);
                    g.pending.push_back(req);
                }
                continue;
            };
            drop(es);
            let l = overlay_targ_lookup_t {
                otl_dlid: dev.linkid as u64,
                otl_reqid: req.ent.reqid,
                otl_varpdid: t.varpd_id,
                otl_vnetid: dev.st.lock().vid,
                otl_hdrsize: info.hdr_size as u64,
                otl_pktsize: (info.pkt_size - info.hdr_size) as u64,
                otl_srcaddr: info.src,
                otl_dstaddr: info.dst,
                otl_dsttype: info.dsttype,
                otl_sap: info.sap,
                otl_vlan: info.vlan as i32,
            };
            h.outstanding.lock().push(req);
            drop(g);
            l.write_to(kbuf);
            return Ok(());
        }
    }

    /// RESPOND: the entry becomes valid and its frames are sent.
    pub(crate) fn t_respond(&self, h: &TargHandle<P>, kbuf: &mut [u8]) -> Result<(), Errno> {
        let r = overlay_targ_resp_t::from_bytes(kbuf).ok_or(Errno::EFAULT)?;
        let req = h.take(r.otr_reqid).ok_or(Errno::EINVAL)?;
        let e = &req.ent;
        let chain = {
            let mut es = e.lock();
            es.dest = r.otr_answer;
            es.flags &= !OVERLAY_ENTRY_F_PENDING;
            es.flags |= OVERLAY_ENTRY_F_VALID;
            es.vtime = Moment::now();
            es.bytes = 0;
            core::mem::take(&mut es.chain)
        };
        if let Some(dev) = req.dev.upgrade() {
            dev.m_tx(chain);
        }
        if let Some(t) = e.target.upgrade() {
            t.req_done();
        }
        Ok(())
    }

    /// DROP: discard the first queued frame (or, with a flood list,
    /// replicate it: [`crate::flood`]); ask again if more remain.
    pub(crate) fn t_drop(&self, h: &TargHandle<P>, kbuf: &mut [u8]) -> Result<(), Errno> {
        let r = overlay_targ_resp_t::from_bytes(kbuf).ok_or(Errno::EFAULT)?;
        let req = h.take(r.otr_reqid).ok_or(Errno::EINVAL)?;
        let e = &req.ent;
        let mut dropped = None;
        let requeue = {
            let mut es = e.lock();
            if es.flags & OVERLAY_ENTRY_F_VALID != 0 {
                es.flags &= !OVERLAY_ENTRY_F_PENDING;
                false
            } else {
                if let Some(m) = es.chain.pop_front() {
                    es.bytes -= m.len();
                    dropped = Some(m);
                }
                if es.chain.is_empty() {
                    es.flags &= !OVERLAY_ENTRY_F_PENDING;
                    false
                } else {
                    true
                }
            }
        };
        // An unknown unicast destination: flood it if the device has a
        // flood list (no lock held: this sends).
        if let (Some(m), Some(dev)) = (dropped, req.dev.upgrade()) {
            dev.m_tx_flood(m);
        }
        let t = e.target.upgrade();
        if requeue {
            if let Some(t) = &t {
                // Still one request: move it back without recounting.
                let mut g = self.tg.lock();
                if !t.st.lock().teardown {
                    g.pending.push_back(req);
                    self.tcv.signal();
                    return Ok(());
                }
            }
        }
        if let Some(t) = t {
            t.req_done();
        }
        Ok(())
    }

    /// INJECT, PKT, RESEND: custom copy-in of `overlay_targ_pkt_t`.
    pub(crate) fn targ_pkt_cmd(
        &self,
        h: &TargHandle<P>,
        cmd: u32,
        uio: &mut dyn UserIo,
    ) -> Result<(), Errno> {
        let ilp32 = uio.ilp32();
        let mut p = if ilp32 {
            let mut b = [0u8; 28];
            uio.copyin_arg(0, &mut b)?;
            let p32 = overlay_targ_pkt32_t::from_bytes(&b).ok_or(Errno::EFAULT)?;
            overlay_targ_pkt_t {
                otp_linkid: p32.otp_linkid,
                otp_reqid: p32.otp_reqid,
                otp_size: p32.otp_size,
                otp_buf: p32.otp_buf as u64,
            }
        } else {
            let mut b = [0u8; 32];
            uio.copyin_arg(0, &mut b)?;
            overlay_targ_pkt_t::from_bytes(&b).ok_or(Errno::EFAULT)?
        };
        if cmd == OVERLAY_TARG_PKT {
            let req = h.find(p.otp_reqid).ok_or(Errno::EINVAL)?;
            let mut buf = [0u8; ETHERMAX + VLAN_TAGSZ];
            let mut big = Vec::new();
            let n = {
                let es = req.ent.lock();
                let m = es.chain.front().ok_or(Errno::EINVAL)?;
                let want = (m.len() as u64).min(p.otp_size) as usize;
                let dst = if want <= buf.len() {
                    &mut buf[..want]
                } else {
                    big = vec![0u8; want];
                    &mut big[..]
                };
                m.copy_out(0, dst)
            };
            let src = if big.is_empty() { &buf[..n] } else { &big[..n] };
            uio.copyout_buf(p.otp_buf, src)?;
            p.otp_size = n as u64;
            if ilp32 {
                let p32 = overlay_targ_pkt32_t {
                    otp_linkid: p.otp_linkid,
                    otp_reqid: p.otp_reqid,
                    otp_size: p.otp_size,
                    otp_buf: p.otp_buf as u32,
                };
                uio.copyout_arg(0, p32.as_bytes())?;
            } else {
                uio.copyout_arg(0, p.as_bytes())?;
            }
            return Ok(());
        }
        // INJECT / RESEND
        if p.otp_size > OVERLAY_TARG_PKT_MAX {
            return Err(Errno::EINVAL);
        }
        let mut buf = [0u8; ETHERMAX + VLAN_TAGSZ];
        let data = &mut buf[..p.otp_size as usize];
        uio.copyin_buf(p.otp_buf, data)?;
        let m = MsgBlk::copy_from(crate::FRAME_HEADROOM, data).ok_or(Errno::ENOMEM)?;
        let dev: Arc<OverlayDev<P>> = if p.otp_linkid != OVERLAY_TARG_PKT_USE_REQID {
            // §16 #8: a transient hold, released on return.
            let hold = self.dev_hold(p.otp_linkid as u32).ok_or(Errno::ENOENT)?;
            hold.0.clone()
        } else {
            let req = h.find(p.otp_reqid).ok_or(Errno::ENOENT)?;
            req.dev.upgrade().ok_or(Errno::ENOENT)?
        };
        if cmd == OVERLAY_TARG_INJECT {
            dev.rx_deliver(m, true);
        } else {
            dev.m_tx(MsgBlkChain::single(m));
        }
        Ok(())
    }
}

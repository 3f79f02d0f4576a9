//! `/dev/overlay` (`overlay_target.c`, §2.3, §8, §9.2): varpd's handles,
//! the global lookup queue, and every target ioctl.
//!
//! Each open of minor 0 creates a handle with a fresh minor (clone open);
//! at most one handle may be exclusive (`FEXCL`), and writers must be
//! exclusive. Requests for unknown destinations wait on one global FIFO
//! shared by all devices; LOOKUP (≤ 1 s, then `ETIME`) moves the head to the
//! calling handle's outstanding list, and only that handle may answer it
//! (RESPOND, DROP) or read/inject through it (PKT, INJECT/RESEND by reqid).
//! Closing a handle puts its outstanding requests back on the queue.
//!
//! [`Overlay::targ_ioctl`] is the dispatcher: privilege (`EPERM`), handle
//! (`ENXIO`), command (`ENOTTY`), `FWRITE` (`EBADF`), copy-in through the
//! caller's [`UserIo`], the handler, and copy-out **only on success**.

use crate::dev::OverlayDev;
use crate::errno::Errno;
use crate::kmutex::KMutex;
use crate::moment::Moment;
use crate::msgblk::{MsgBlk, MsgBlkChain};
use crate::platform::{Cred, Platform, UserIo};
use crate::target::{lookup_info, Entry, Target};
use crate::Overlay;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use overlay_sys::*;

/// One open of `/dev/overlay` (`overlay_target_hdl_t`).
pub(crate) struct TargHandle<P: Platform> {
    pub flags: u32,
    /// The opener's zone (always the global zone today).
    #[allow(dead_code)]
    pub zoneid: u32,
    /// Requests taken by LOOKUP and not yet answered.
    pub outstanding: KMutex<Vec<Arc<Entry<P>>>>,
}

impl<P: Platform> TargHandle<P> {
    fn find(&self, reqid: u64) -> Option<Arc<Entry<P>>> {
        self.outstanding
            .lock()
            .iter()
            .find(|e| e.reqid == reqid)
            .cloned()
    }

    fn take(&self, reqid: u64) -> Option<Arc<Entry<P>>> {
        let mut l = self.outstanding.lock();
        let i = l.iter().position(|e| e.reqid == reqid)?;
        Some(l.remove(i))
    }
}

/// Global target state, under the global target lock.
pub(crate) struct TargGlobal<P: Platform> {
    pub pending: VecDeque<Arc<Entry<P>>>,
    pub handles: BTreeMap<u32, Arc<TargHandle<P>>>,
    pub excl: bool,
    next_minor: u32,
}

impl<P: Platform> TargGlobal<P> {
    pub fn new() -> Self {
        TargGlobal {
            pending: VecDeque::new(),
            handles: BTreeMap::new(),
            excl: false,
            next_minor: 1,
        }
    }

    fn alloc_minor(&mut self) -> Option<u32> {
        for _ in 0..self.handles.len() + 1 {
            let m = self.next_minor;
            self.next_minor = if m >= i32::MAX as u32 { 1 } else { m + 1 };
            if !self.handles.contains_key(&m) {
                return Some(m);
            }
        }
        None
    }
}

/// Marker layout (§8.4): bytes 0–5 the MAC to resume at, 6–7 a "done" flag.
fn marker_decode(m: u64) -> ([u8; 6], bool) {
    let b = m.to_ne_bytes();
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&b[..6]);
    (mac, u16::from_ne_bytes([b[6], b[7]]) != 0)
}

fn marker_encode(mac: [u8; 6], done: bool) -> u64 {
    let mut b = [0u8; 8];
    b[..6].copy_from_slice(&mac);
    b[6..8].copy_from_slice(&(done as u16).to_ne_bytes());
    u64::from_ne_bytes(b)
}

impl<P: Platform> Overlay<P> {
    /// open(9E) of `/dev/overlay` (§2.3): returns the new handle's minor.
    pub fn targ_open(
        &self,
        minor: u32,
        otyp_blk: bool,
        flags: u32,
        cred: &Cred,
    ) -> Result<u32, Errno> {
        if !cred.dl_config {
            return Err(Errno::EPERM);
        }
        if minor != 0 {
            return Err(Errno::ENXIO);
        }
        if otyp_blk {
            return Err(Errno::EINVAL);
        }
        if flags & !(FREAD | FWRITE | FEXCL) != 0 {
            return Err(Errno::EINVAL);
        }
        if flags & FWRITE != 0 && flags & FEXCL == 0 {
            return Err(Errno::EINVAL);
        }
        if flags & (FREAD | FWRITE) == 0 {
            return Err(Errno::EINVAL);
        }
        if cred.zoneid != 0 {
            return Err(Errno::EPERM);
        }
        let mut g = self.tg.lock();
        if flags & FEXCL != 0 && g.excl {
            return Err(Errno::EEXIST);
        }
        let m = g.alloc_minor().ok_or(Errno::ENXIO)?;
        if flags & FEXCL != 0 {
            g.excl = true;
        }
        g.handles.insert(
            m,
            Arc::new(TargHandle {
                flags,
                zoneid: cred.zoneid,
                outstanding: KMutex::new(Vec::new()),
            }),
        );
        Ok(m)
    }

    /// close(9E): outstanding requests go back on the global queue.
    pub fn targ_close(&self, minor: u32) {
        let mut g = self.tg.lock();
        let Some(h) = g.handles.remove(&minor) else {
            return;
        };
        let reqs = core::mem::take(&mut *h.outstanding.lock());
        let any = !reqs.is_empty();
        g.pending.extend(reqs);
        if h.flags & FEXCL != 0 {
            g.excl = false;
        }
        if any {
            self.tcv.signal();
        }
    }

    /// Number of open `/dev/overlay` handles.
    pub fn targ_nhandles(&self) -> usize {
        self.tg.lock().handles.len()
    }

    /// Number of requests waiting on the global queue.
    pub fn targ_npending(&self) -> usize {
        self.tg.lock().pending.len()
    }

    /// `overlay_target_queue`: a new lookup request for `e`.
    pub(crate) fn targ_enqueue(&self, t: &Target<P>, e: Arc<Entry<P>>) {
        let mut g = self.tg.lock();
        {
            let mut ts = t.st.lock();
            if ts.teardown {
                return;
            }
            ts.ocount += 1;
        }
        g.pending.push_back(e);
        self.tcv.signal();
    }

    /// ioctl(9E) of `/dev/overlay` (§8.2).
    pub fn targ_ioctl(
        &self,
        minor: u32,
        cmd: u32,
        uio: &mut dyn UserIo,
        cred: &Cred,
    ) -> Result<(), Errno> {
        if !cred.dl_config {
            return Err(Errno::EPERM);
        }
        let h = self
            .tg
            .lock()
            .handles
            .get(&minor)
            .cloned()
            .ok_or(Errno::ENXIO)?;
        let info = targ_ioc_info(cmd).ok_or(Errno::ENOTTY)?;
        if info.needs_write && h.flags & FWRITE == 0 {
            return Err(Errno::EBADF);
        }
        match info.copyin {
            TargCopyin::Fixed => {
                let mut kbuf = [0u8; 264];
                let kbuf = kbuf.get_mut(..info.size).ok_or(Errno::EINVAL)?;
                uio.copyin_arg(0, kbuf)?;
                self.targ_fixed(&h, cmd, kbuf)?;
                if info.copyout == TargCopyout::Whole {
                    uio.copyout_arg(0, kbuf)?;
                }
                Ok(())
            }
            TargCopyin::Pkt => self.targ_pkt_cmd(&h, cmd, uio),
            TargCopyin::List => self.targ_list(uio),
            TargCopyin::CacheIter => self.targ_cache_iter(uio),
            TargCopyin::Flood => self.targ_flood_set(uio),
        }
    }

    fn targ_fixed(&self, h: &TargHandle<P>, cmd: u32, kbuf: &mut [u8]) -> Result<(), Errno> {
        match cmd {
            OVERLAY_TARG_INFO => self.t_info(kbuf),
            OVERLAY_TARG_ASSOCIATE => self.t_associate(kbuf),
            OVERLAY_TARG_DISASSOCIATE => self.t_disassociate(kbuf),
            OVERLAY_TARG_DEGRADE => self.t_degrade(kbuf),
            OVERLAY_TARG_RESTORE => self.t_restore(kbuf),
            OVERLAY_TARG_LOOKUP => self.t_lookup(h, kbuf),
            OVERLAY_TARG_RESPOND => self.t_respond(h, kbuf),
            OVERLAY_TARG_DROP => self.t_drop(h, kbuf),
            OVERLAY_TARG_CACHE_GET => self.t_cache_get(kbuf),
            OVERLAY_TARG_CACHE_SET => self.t_cache_set(kbuf),
            OVERLAY_TARG_CACHE_REMOVE => self.t_cache_remove(kbuf),
            OVERLAY_TARG_CACHE_FLUSH => self.t_cache_flush(kbuf),
            _ => Err(Errno::ENOTTY),
        }
    }

    fn t_info(&self, kbuf: &mut [u8]) -> Result<(), Errno> {
        let mut i = overlay_targ_info_t::from_bytes(kbuf).ok_or(Errno::EFAULT)?;
        let dev = self.dev_hold(i.oti_linkid).ok_or(Errno::ENOENT)?;
        let st = dev.st.lock();
        i.oti_needs = dev.plugin.0.dest;
        i.oti_flags = 0;
        if st.flags & OVERLAY_F_ACTIVATED != 0 {
            i.oti_flags |= OVERLAY_TARG_INFO_F_ACTIVE;
        }
        if st.flags & OVERLAY_F_DEGRADED != 0 {
            i.oti_flags |= OVERLAY_TARG_INFO_F_DEGRADED;
        }
        i.oti_vnetid = st.vid;
        drop(st);
        i.write_to(kbuf);
        Ok(())
    }

    fn t_associate(&self, kbuf: &mut [u8]) -> Result<(), Errno> {
        let a = overlay_targ_associate_t::from_bytes(kbuf).ok_or(Errno::EFAULT)?;
        let dev = self.dev_hold(a.ota_linkid).ok_or(Errno::ENOENT)?;
        if a.ota_id == 0 {
            return Err(Errno::EINVAL);
        }
        if a.ota_mode != OVERLAY_TARGET_POINT && a.ota_mode != OVERLAY_TARGET_DYNAMIC {
            return Err(Errno::EINVAL);
        }
        let dest = dev.plugin.0.dest;
        if a.ota_provides != dest {
            return Err(Errno::EINVAL);
        }
        if a.ota_mode == OVERLAY_TARGET_POINT {
            let ip = a.ota_point.otp_ip;
            if dest & OVERLAY_PLUGIN_D_IP != 0
                && (ip.is_unspecified() || ip.is_v4compat() || ip.is_v4mapped_any())
            {
                return Err(Errno::EINVAL);
            }
            if dest & OVERLAY_PLUGIN_D_PORT != 0 && a.ota_point.otp_port == 0 {
                return Err(Errno::EINVAL);
            }
        }
        let mut st = dev.st.lock();
        if st.flags & OVERLAY_F_VARPD != 0 {
            return Err(Errno::EEXIST);
        }
        // §16 #10: a previous target (after DISASSOCIATE) is replaced; it is
        // freed once the last in-flight user lets go of it.
        let old = dev.target_replace(
            &mut st,
            Some(Target::new(a.ota_mode, dest, a.ota_id, a.ota_point)),
        );
        st.flags |= OVERLAY_F_VARPD;
        drop(st);
        drop(old);
        Ok(())
    }

    fn t_disassociate(&self, kbuf: &mut [u8]) -> Result<(), Errno> {
        let i = overlay_targ_id_t::from_bytes(kbuf).ok_or(Errno::EFAULT)?;
        let dev = self.dev_hold(i.otid_linkid).ok_or(Errno::ENOENT)?;
        dev.st.lock().flags &= !OVERLAY_F_VARPD;
        Ok(())
    }

    fn t_degrade(&self, kbuf: &mut [u8]) -> Result<(), Errno> {
        let d = overlay_targ_degrade_t::from_bytes(kbuf).ok_or(Errno::EFAULT)?;
        let dev = self.dev_hold(d.otd_linkid).ok_or(Errno::ENOENT)?;
        self.fm_degrade(&dev, Some(&d.otd_buf));
        Ok(())
    }

    fn t_restore(&self, kbuf: &mut [u8]) -> Result<(), Errno> {
        let i = overlay_targ_id_t::from_bytes(kbuf).ok_or(Errno::EFAULT)?;
        let dev = self.dev_hold(i.otid_linkid).ok_or(Errno::ENOENT)?;
        self.fm_restore(&dev);
        Ok(())
    }

    /// LOOKUP (§8.5): block ≤ 1 s for the head of the global queue.
    fn t_lookup(&self, h: &TargHandle<P>, kbuf: &mut [u8]) -> Result<(), Errno> {
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
            let Some(e) = g.pending.pop_front() else {
                continue;
            };
            let Some(dev) = e.dev.upgrade() else {
                // The device is gone: nothing waits on it.
                continue;
            };
            let Some(t) = e.target.upgrade() else {
                // The target was replaced by a new ASSOCIATE (varpd came
                // back and restored its instance) while this request was
                // queued. On illumos the old request is still answered and
                // its frames go out through the device's transmit path,
                // where the current target looks them up afresh; do the
                // same at once, so the frames meet the new target (and a
                // new request if they miss) instead of vanishing.
                let chain = {
                    let mut es = e.st.lock();
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
            let mut es = e.st.lock();
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
                    g.pending.push_back(e);
                }
                continue;
            };
            drop(es);
            let l = overlay_targ_lookup_t {
                otl_dlid: dev.linkid as u64,
                otl_reqid: e.reqid,
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
            h.outstanding.lock().push(e);
            drop(g);
            l.write_to(kbuf);
            return Ok(());
        }
    }

    /// RESPOND: the entry becomes valid and its frames are sent.
    fn t_respond(&self, h: &TargHandle<P>, kbuf: &mut [u8]) -> Result<(), Errno> {
        let r = overlay_targ_resp_t::from_bytes(kbuf).ok_or(Errno::EFAULT)?;
        let e = h.take(r.otr_reqid).ok_or(Errno::EINVAL)?;
        let chain = {
            let mut es = e.st.lock();
            es.dest = r.otr_answer;
            es.flags &= !OVERLAY_ENTRY_F_PENDING;
            es.flags |= OVERLAY_ENTRY_F_VALID;
            es.vtime = Moment::now();
            es.bytes = 0;
            core::mem::take(&mut es.chain)
        };
        if let Some(dev) = e.dev.upgrade() {
            dev.m_tx(chain);
        }
        if let Some(t) = e.target.upgrade() {
            t.req_done();
        }
        Ok(())
    }

    /// DROP: discard the first queued frame (or, with a flood list,
    /// replicate it: [`crate::flood`]); ask again if more remain.
    fn t_drop(&self, h: &TargHandle<P>, kbuf: &mut [u8]) -> Result<(), Errno> {
        let r = overlay_targ_resp_t::from_bytes(kbuf).ok_or(Errno::EFAULT)?;
        let e = h.take(r.otr_reqid).ok_or(Errno::EINVAL)?;
        let mut dropped = None;
        let requeue = {
            let mut es = e.st.lock();
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
        if let (Some(m), Some(dev)) = (dropped, e.dev.upgrade()) {
            dev.m_tx_flood(m);
        }
        let t = e.target.upgrade();
        if requeue {
            if let Some(t) = &t {
                // Still one request: move it back without recounting.
                let mut g = self.tg.lock();
                if !t.st.lock().teardown {
                    g.pending.push_back(e);
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
    fn targ_pkt_cmd(&self, h: &TargHandle<P>, cmd: u32, uio: &mut dyn UserIo) -> Result<(), Errno> {
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
            let e = h.find(p.otp_reqid).ok_or(Errno::EINVAL)?;
            let mut buf = [0u8; ETHERMAX + VLAN_TAGSZ];
            let mut big = Vec::new();
            let n = {
                let es = e.st.lock();
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
            let e = h.find(p.otp_reqid).ok_or(Errno::ENOENT)?;
            e.dev.upgrade().ok_or(Errno::ENOENT)?
        };
        if cmd == OVERLAY_TARG_INJECT {
            dev.rx_deliver(m, true);
        } else {
            dev.m_tx(MsgBlkChain::single(m));
        }
        Ok(())
    }

    /// LIST: header + `otl_nents` slots in; count and slots out.
    fn targ_list(&self, uio: &mut dyn UserIo) -> Result<(), Errno> {
        let mut hb = [0u8; 4];
        uio.copyin_arg(0, &mut hb)?;
        let n = u32::from_ne_bytes(hb);
        if n >= OVERLAY_TARG_LIST_MAX {
            return Err(Errno::EINVAL);
        }
        // Validate that all N slots are readable (the original copies them
        // in) without allocating N of them: they are copied out unchanged
        // beyond the device count.
        if let Some(len) = uio.arg_len_hint() {
            if len < 4 + 4 * n as usize {
                return Err(Errno::EFAULT);
            }
        } else {
            let mut chunk = [0u8; 256];
            let mut off = 0usize;
            let total = 4 * n as usize;
            while off < total {
                let k = (total - off).min(chunk.len());
                uio.copyin_arg(4 + off, &mut chunk[..k])?;
                off += k;
            }
        }
        let ids: Vec<u32> = self.devs.lock().iter().map(|d| d.linkid).collect();
        uio.copyout_arg(0, &(ids.len() as u32).to_ne_bytes())?;
        for (i, id) in ids.iter().take(n as usize).enumerate() {
            uio.copyout_arg(4 + 4 * i, &id.to_ne_bytes())?;
        }
        Ok(())
    }

    fn cache_target(&self, linkid: u32) -> Result<(crate::dev::DevHold<P>, Arc<Target<P>>), Errno> {
        let dev = self.dev_hold(linkid).ok_or(Errno::ENOENT)?;
        let st = dev.st.lock();
        if st.flags & OVERLAY_F_VARPD == 0 {
            return Err(Errno::ENXIO);
        }
        let t = st.target.clone().ok_or(Errno::ENXIO)?;
        drop(st);
        if t.mode != OVERLAY_TARGET_POINT && t.mode != OVERLAY_TARGET_DYNAMIC {
            return Err(Errno::ENOTSUP);
        }
        Ok((dev, t))
    }

    fn t_cache_get(&self, kbuf: &mut [u8]) -> Result<(), Errno> {
        let mut c = overlay_targ_cache_t::from_bytes(kbuf).ok_or(Errno::EFAULT)?;
        let (_dev, t) = self.cache_target(c.otc_linkid)?;
        if t.mode == OVERLAY_TARGET_POINT {
            c.otc_entry.otce_flags = 0;
            c.otc_entry.otce_dest = t.point;
        } else {
            let e = t.entry(&c.otc_entry.otce_mac).ok_or(Errno::ENOENT)?;
            let es = e.st.lock();
            if es.flags & OVERLAY_ENTRY_F_DROP != 0 {
                c.otc_entry.otce_flags = OVERLAY_TARGET_CACHE_DROP;
            } else if es.flags & OVERLAY_ENTRY_F_VALID != 0 {
                c.otc_entry.otce_flags = 0;
                c.otc_entry.otce_dest = es.dest;
            } else {
                return Err(Errno::ENOENT);
            }
        }
        c.write_to(kbuf);
        Ok(())
    }

    fn t_cache_set(&self, kbuf: &mut [u8]) -> Result<(), Errno> {
        let c = overlay_targ_cache_t::from_bytes(kbuf).ok_or(Errno::EFAULT)?;
        if c.otc_entry.otce_flags & !OVERLAY_TARGET_CACHE_DROP != 0 {
            return Err(Errno::EINVAL);
        }
        let (dev, t) = self.cache_target(c.otc_linkid)?;
        if t.mode != OVERLAY_TARGET_DYNAMIC {
            return Err(Errno::ENOTSUP);
        }
        let e = t
            .entry_get_or_create(&dev, c.otc_entry.otce_mac)
            .ok_or(Errno::ENOMEM)?;
        let chain = {
            let mut es = e.st.lock();
            if c.otc_entry.otce_flags & OVERLAY_TARGET_CACHE_DROP != 0 {
                es.flags |= OVERLAY_ENTRY_F_DROP;
                None
            } else {
                es.flags |= OVERLAY_ENTRY_F_VALID;
                es.dest = c.otc_entry.otce_dest;
                es.vtime = Moment::now();
                es.bytes = 0;
                Some(core::mem::take(&mut es.chain))
            }
        };
        if let Some(ch) = chain {
            if !ch.is_empty() {
                dev.m_tx(ch);
            }
        }
        Ok(())
    }

    fn t_cache_remove(&self, kbuf: &mut [u8]) -> Result<(), Errno> {
        let c = overlay_targ_cache_t::from_bytes(kbuf).ok_or(Errno::EFAULT)?;
        let (_dev, t) = self.cache_target(c.otc_linkid)?;
        if t.mode != OVERLAY_TARGET_DYNAMIC {
            return Err(Errno::ENOTSUP);
        }
        let e = t.entry(&c.otc_entry.otce_mac).ok_or(Errno::ENOENT)?;
        e.st.lock().flags &= !OVERLAY_ENTRY_F_VALID_MASK;
        Ok(())
    }

    fn t_cache_flush(&self, kbuf: &mut [u8]) -> Result<(), Errno> {
        let c = overlay_targ_cache_t::from_bytes(kbuf).ok_or(Errno::EFAULT)?;
        let (_dev, t) = self.cache_target(c.otc_linkid)?;
        if t.mode != OVERLAY_TARGET_DYNAMIC {
            return Err(Errno::ENOTSUP);
        }
        let st = t.st.lock();
        for e in st.tree.values() {
            e.st.lock().flags &= !OVERLAY_ENTRY_F_VALID_MASK;
        }
        Ok(())
    }

    /// CACHE_ITER: header + up to `otci_count` (≤ 500) entries.
    fn targ_cache_iter(&self, uio: &mut dyn UserIo) -> Result<(), Errno> {
        let mut hb = [0u8; 24];
        uio.copyin_arg(0, &mut hb)?;
        let mut it = overlay_targ_cache_iter_t::from_bytes(&hb).ok_or(Errno::EFAULT)?;
        if it.otci_count > OVERLAY_TARGET_ITER_MAX {
            return Err(Errno::E2BIG);
        }
        if it.otci_count == 0 {
            return Err(Errno::EINVAL);
        }
        let (start, done) = marker_decode(it.otci_marker);
        if done {
            it.otci_count = 0;
            uio.copyout_arg(0, it.as_bytes())?;
            return Ok(());
        }
        let (_dev, t) = self.cache_target(it.otci_linkid)?;
        let cap = it.otci_count as usize;
        let mut out: Vec<overlay_targ_cache_entry_t> = Vec::new();
        if t.mode == OVERLAY_TARGET_POINT {
            // §16 #11: one entry, then stop.
            out.push(overlay_targ_cache_entry_t {
                otce_mac: [0; 6],
                otce_flags: 0,
                otce_dest: t.point,
            });
            it.otci_marker = marker_encode([0; 6], true);
        } else {
            let st = t.st.lock();
            let mut next = None;
            for (mac, e) in st.tree.range(start..) {
                let es = e.st.lock();
                if es.flags & OVERLAY_ENTRY_F_VALID_MASK == 0 {
                    continue;
                }
                if out.len() == cap {
                    next = Some(*mac);
                    break;
                }
                let mut ce = overlay_targ_cache_entry_t {
                    otce_mac: *mac,
                    ..Default::default()
                };
                if es.flags & OVERLAY_ENTRY_F_DROP != 0 {
                    // §16 #12: the destination is zeroed, never stale memory.
                    ce.otce_flags = OVERLAY_TARGET_CACHE_DROP;
                } else {
                    ce.otce_dest = es.dest;
                }
                out.push(ce);
            }
            it.otci_marker = match next {
                Some(m) => marker_encode(m, false),
                None => marker_encode([0; 6], true),
            };
        }
        it.otci_count = out.len() as u16;
        uio.copyout_arg(0, it.as_bytes())?;
        for (i, ce) in out.iter().enumerate() {
            uio.copyout_arg(24 + 36 * i, ce.as_bytes())?;
        }
        Ok(())
    }
}

/// A [`UserIo`] over in-memory buffers: the argument bytes, and a data
/// area standing for the user buffer at `otp_buf` (any address maps to
/// it). What fkoverlayd and tests use.
#[derive(Clone, Debug, Default)]
pub struct BufUserIo {
    /// The ioctl argument (copied out in place; grown as needed).
    pub arg: Vec<u8>,
    /// The data following the argument (INJECT/RESEND frame in, PKT out).
    pub data: Vec<u8>,
    /// Pretend to be an ILP32 caller.
    pub ilp32: bool,
    /// Whether `arg_len_hint` reports `arg.len()`.
    pub hint: bool,
}

impl BufUserIo {
    pub fn new(arg: &[u8]) -> Self {
        BufUserIo {
            arg: arg.to_vec(),
            data: Vec::new(),
            ilp32: false,
            hint: true,
        }
    }

    pub fn with_data(arg: &[u8], data: &[u8]) -> Self {
        BufUserIo {
            arg: arg.to_vec(),
            data: data.to_vec(),
            ilp32: false,
            hint: true,
        }
    }
}

impl UserIo for BufUserIo {
    fn arg_len_hint(&self) -> Option<usize> {
        self.hint.then_some(self.arg.len())
    }

    fn copyin_arg(&mut self, off: usize, dst: &mut [u8]) -> Result<(), Errno> {
        let end = off.checked_add(dst.len()).ok_or(Errno::EFAULT)?;
        let src = self.arg.get(off..end).ok_or(Errno::EFAULT)?;
        dst.copy_from_slice(src);
        Ok(())
    }

    fn copyout_arg(&mut self, off: usize, src: &[u8]) -> Result<(), Errno> {
        let end = off.checked_add(src.len()).ok_or(Errno::EFAULT)?;
        if self.arg.len() < end {
            self.arg.resize(end, 0);
        }
        self.arg[off..end].copy_from_slice(src);
        Ok(())
    }

    fn copyin_buf(&mut self, _uaddr: u64, dst: &mut [u8]) -> Result<(), Errno> {
        let src = self.data.get(..dst.len()).ok_or(Errno::EFAULT)?;
        dst.copy_from_slice(src);
        Ok(())
    }

    fn copyout_buf(&mut self, _uaddr: u64, src: &[u8]) -> Result<(), Errno> {
        self.data.clear();
        self.data.extend_from_slice(src);
        Ok(())
    }

    fn ilp32(&self) -> bool {
        self.ilp32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_allocation_wraps_and_skips_in_use() {
        let mut g: TargGlobal<crate::testing::FakePlatform> = TargGlobal::new();
        let h = || {
            Arc::new(TargHandle {
                flags: FREAD,
                zoneid: 0,
                outstanding: KMutex::new(Vec::new()),
            })
        };
        assert_eq!(g.alloc_minor(), Some(1));
        g.handles.insert(2, h());
        assert_eq!(g.alloc_minor(), Some(3), "2 is in use");
        g.next_minor = i32::MAX as u32;
        assert_eq!(g.alloc_minor(), Some(i32::MAX as u32));
        assert_eq!(g.alloc_minor(), Some(1), "wraps to 1, never 0");
    }

    #[test]
    fn marker_round_trip() {
        let m = marker_encode([1, 2, 3, 4, 5, 6], false);
        assert_eq!(marker_decode(m), ([1, 2, 3, 4, 5, 6], false));
        assert!(marker_decode(marker_encode([0; 6], true)).1);
    }
}

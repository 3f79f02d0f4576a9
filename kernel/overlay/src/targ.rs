//! `/dev/overlay` (`overlay_target.c`, §2.3, §8, §9.2): varpd's handles,
//! the global lookup queue, and the target ioctl dispatcher.
//!
//! Each open of minor 0 creates a handle with a fresh minor (clone open);
//! at most one handle may be exclusive (`FEXCL`), and writers must be
//! exclusive. Requests for unknown destinations wait on one global FIFO
//! shared by all devices; LOOKUP (≤ 1 s, then `ETIME`) moves the head to the
//! calling handle's outstanding list, and only that handle may answer it
//! (RESPOND, DROP) or read/inject through it (PKT, INJECT/RESEND by reqid).
//! Closing a handle puts its outstanding requests back on the queue.
//!
//! A request (`Req`) is a pending cache entry together with the device
//! whose frames wait on it; the device travels with the request (the
//! transmit path that queues it passes itself down), so a target and its
//! entries need no way back up to their device.
//!
//! [`Overlay::targ_ioctl`] is the dispatcher: privilege (`EPERM`), handle
//! (`ENXIO`), command (`ENOTTY`), `FWRITE` (`EBADF`), copy-in through the
//! caller's [`UserIo`], the handler, and copy-out **only on success**. The
//! handlers live with their concept: this file has the handle and device
//! commands (INFO, ASSOCIATE, DISASSOCIATE, DEGRADE, RESTORE, LIST),
//! [`crate::targ_req`] the request's life (LOOKUP, RESPOND, DROP, PKT,
//! INJECT, RESEND), [`crate::targ_cache`] the cache commands and
//! [`crate::flood`] FLOOD_SET.

use crate::dev::OverlayDev;
use crate::errno::Errno;
use crate::kmutex::KMutex;
use crate::platform::{Cred, Platform, UserIo};
use crate::target::{Entry, Target};
use crate::Overlay;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use overlay_sys::*;

/// The in-memory [`UserIo`], where it has always been reachable.
pub use crate::bufuserio::BufUserIo;

/// One lookup request: an entry waiting for varpd's answer and the device
/// whose frames are queued on it (illumos reaches it as `ote_odd`).
pub(crate) struct Req<P: Platform> {
    pub ent: Arc<Entry<P>>,
    pub dev: Weak<OverlayDev<P>>,
}

impl<P: Platform> Clone for Req<P> {
    fn clone(&self) -> Self {
        Req {
            ent: self.ent.clone(),
            dev: self.dev.clone(),
        }
    }
}

/// One open of `/dev/overlay` (`overlay_target_hdl_t`).
pub(crate) struct TargHandle<P: Platform> {
    pub flags: u32,
    /// The opener's zone (always the global zone today).
    #[allow(dead_code)]
    pub zoneid: u32,
    /// Requests taken by LOOKUP and not yet answered.
    pub outstanding: KMutex<Vec<Req<P>>>,
}

impl<P: Platform> TargHandle<P> {
    pub(crate) fn find(&self, reqid: u64) -> Option<Req<P>> {
        self.outstanding
            .lock()
            .iter()
            .find(|r| r.ent.reqid == reqid)
            .cloned()
    }

    pub(crate) fn take(&self, reqid: u64) -> Option<Req<P>> {
        let mut l = self.outstanding.lock();
        let i = l.iter().position(|r| r.ent.reqid == reqid)?;
        Some(l.remove(i))
    }
}

/// Global target state, under the global target lock.
pub(crate) struct TargGlobal<P: Platform> {
    pub pending: VecDeque<Req<P>>,
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

    /// `overlay_target_queue`: a new lookup request for `e`, an entry of
    /// `dev`'s target `t`.
    pub(crate) fn targ_enqueue(&self, dev: &OverlayDev<P>, t: &Target<P>, e: Arc<Entry<P>>) {
        let mut g = self.tg.lock();
        {
            let mut ts = t.st.lock();
            if ts.teardown {
                return;
            }
            ts.ocount += 1;
        }
        g.pending.push_back(Req {
            ent: e,
            dev: dev.me.clone(),
        });
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
}

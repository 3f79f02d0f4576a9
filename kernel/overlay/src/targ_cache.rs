//! The target cache commands of `/dev/overlay` (`overlay_target.c`'s
//! `overlay_target_cache_*`, §8.9–§8.12): CACHE_GET, CACHE_SET,
//! CACHE_REMOVE, CACHE_FLUSH and CACHE_ITER, by which varpd reads and
//! edits a device's DYNAMIC cache ([`crate::target`]) directly.
//!
//! CACHE_SET on an entry with queued frames sends them at once through
//! the device's transmit path. CACHE_ITER walks the ordered tree from a
//! marker (the MAC to resume at, or "done"), at most 500 entries a call.

use crate::dev::DevHold;
use crate::errno::Errno;
use crate::moment::Moment;
use crate::platform::{Platform, UserIo};
use crate::target::Target;
use crate::Overlay;
use alloc::sync::Arc;
use alloc::vec::Vec;
use overlay_sys::*;

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
    fn cache_target(&self, linkid: u32) -> Result<(DevHold<P>, Arc<Target<P>>), Errno> {
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

    pub(crate) fn t_cache_get(&self, kbuf: &mut [u8]) -> Result<(), Errno> {
        let mut c = overlay_targ_cache_t::from_bytes(kbuf).ok_or(Errno::EFAULT)?;
        let (_dev, t) = self.cache_target(c.otc_linkid)?;
        if t.mode == OVERLAY_TARGET_POINT {
            c.otc_entry.otce_flags = 0;
            c.otc_entry.otce_dest = t.point;
        } else {
            let e = t.entry(&c.otc_entry.otce_mac).ok_or(Errno::ENOENT)?;
            let es = e.lock();
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

    pub(crate) fn t_cache_set(&self, kbuf: &mut [u8]) -> Result<(), Errno> {
        let c = overlay_targ_cache_t::from_bytes(kbuf).ok_or(Errno::EFAULT)?;
        if c.otc_entry.otce_flags & !OVERLAY_TARGET_CACHE_DROP != 0 {
            return Err(Errno::EINVAL);
        }
        let (dev, t) = self.cache_target(c.otc_linkid)?;
        if t.mode != OVERLAY_TARGET_DYNAMIC {
            return Err(Errno::ENOTSUP);
        }
        let e = t
            .entry_get_or_create(c.otc_entry.otce_mac)
            .ok_or(Errno::ENOMEM)?;
        let chain = {
            let mut es = e.lock();
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

    pub(crate) fn t_cache_remove(&self, kbuf: &mut [u8]) -> Result<(), Errno> {
        let c = overlay_targ_cache_t::from_bytes(kbuf).ok_or(Errno::EFAULT)?;
        let (_dev, t) = self.cache_target(c.otc_linkid)?;
        if t.mode != OVERLAY_TARGET_DYNAMIC {
            return Err(Errno::ENOTSUP);
        }
        let e = t.entry(&c.otc_entry.otce_mac).ok_or(Errno::ENOENT)?;
        e.lock().flags &= !OVERLAY_ENTRY_F_VALID_MASK;
        Ok(())
    }

    pub(crate) fn t_cache_flush(&self, kbuf: &mut [u8]) -> Result<(), Errno> {
        let c = overlay_targ_cache_t::from_bytes(kbuf).ok_or(Errno::EFAULT)?;
        let (_dev, t) = self.cache_target(c.otc_linkid)?;
        if t.mode != OVERLAY_TARGET_DYNAMIC {
            return Err(Errno::ENOTSUP);
        }
        let st = t.st.lock();
        for e in st.tree.values() {
            e.lock().flags &= !OVERLAY_ENTRY_F_VALID_MASK;
        }
        Ok(())
    }

    /// CACHE_ITER: header + up to `otci_count` (≤ 500) entries.
    pub(crate) fn targ_cache_iter(&self, uio: &mut dyn UserIo) -> Result<(), Errno> {
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
                let es = e.lock();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_round_trip() {
        let m = marker_encode([1, 2, 3, 4, 5, 6], false);
        assert_eq!(marker_decode(m), ([1, 2, 3, 4, 5, 6], false));
        assert!(marker_decode(marker_encode([0; 6], true)).1);
    }
}

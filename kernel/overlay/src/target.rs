//! Targets (`overlay_target_t`): where a device's frames go (§9, §10.2).
//!
//! A target is created when varpd associates with a device. POINT mode has
//! one fixed destination. DYNAMIC mode has a cache keyed by destination MAC:
//! an O(1) hash ([`MacTable`]) for the data path and a `BTreeMap` of the
//! same entries for ordered iteration (CACHE_ITER). Each entry follows the
//! state machine of §9.1: a frame to an unknown MAC creates a *pending*
//! entry, queues the frame on it (at most `overlay_ent_size` = 128 KiB) and
//! hands a request to the global lookup queue ([`crate::targ`]); varpd's
//! answer makes it *valid* (frames flushed through the normal transmit
//! path) or drops; CACHE_SET/REMOVE/FLUSH edit entries directly. Entries
//! are never evicted; the cache goes with the device.
//!
//! The target counts requests queued or outstanding (`ocount`); device
//! delete sets TEARDOWN (no new requests) and waits for it to reach zero.
//!
//! Lock order: global target lock → target lock → entry lock.
//!
//! The transmit fast path (a hit on a valid or drop entry) does not take the
//! entry lock: [`EntryLock`] publishes each entry's routing state (VALID /
//! DROP and the destination) to a seqlock whenever a holder of the entry
//! lock releases it with that state changed, and `tx_lookup` reads the
//! seqlock (loads only), falling back to the lock if the entry is
//! unresolved or a writer is mid-update.

use crate::dev::OverlayDev;
use crate::ether::mac_vlan_header_info;
use crate::kcondvar::KCondvar;
use crate::kmutex::{KMutex, KMutexGuard};
use crate::mactable::MacTable;
use crate::moment::Moment;
use crate::msgblk::{MsgBlk, MsgBlkChain};
use crate::platform::{Platform, SockaddrIn6};
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{fence, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use overlay_sys::*;

/// `overlay_ent_size`: bytes of frames one unresolved entry may queue.
pub static OVERLAY_ENT_SIZE_TUNABLE: AtomicUsize = AtomicUsize::new(OVERLAY_ENT_SIZE);

static NEXT_REQID: AtomicU64 = AtomicU64::new(1);

/// Entry state, under the entry lock.
pub(crate) struct EntryState {
    pub flags: u32,
    pub dest: overlay_target_point_t,
    pub chain: MsgBlkChain,
    pub bytes: usize,
    /// When RESPOND/CACHE_SET made it valid (recorded, never consulted).
    pub vtime: Moment,
}

/// What the seqlock holds: the entry's VALID/DROP flags and destination.
const SNAP_FLAGS: u32 = OVERLAY_ENTRY_F_VALID | OVERLAY_ENTRY_F_DROP;

/// The entry lock (`ote_lock`) plus a lock-free snapshot of the entry's
/// routing state; see the module comment. `lock()` returns a guard that
/// derefs to [`EntryState`] and republishes the snapshot on release.
pub(crate) struct EntryLock {
    m: KMutex<EntryState>,
    /// Even: stable; odd: a writer is updating the fields below.
    seq: AtomicU32,
    flags: AtomicU32,
    ip_hi: AtomicU64,
    ip_lo: AtomicU64,
    port: AtomicU32,
}

/// The guard of an [`EntryLock`].
pub(crate) struct EntryGuard<'a> {
    g: KMutexGuard<'a, EntryState>,
    l: &'a EntryLock,
}

/// An entry's routing state as read without its lock.
enum Route {
    Drop,
    Valid(SockaddrIn6),
}

fn ip_words(ip: &in6_addr) -> (u64, u64) {
    let b = &ip.s6_addr;
    let mut hi = [0u8; 8];
    let mut lo = [0u8; 8];
    hi.copy_from_slice(&b[..8]);
    lo.copy_from_slice(&b[8..]);
    (u64::from_ne_bytes(hi), u64::from_ne_bytes(lo))
}

impl EntryLock {
    pub fn new(es: EntryState) -> Self {
        let (hi, lo) = ip_words(&es.dest.otp_ip);
        EntryLock {
            seq: AtomicU32::new(0),
            flags: AtomicU32::new(es.flags & SNAP_FLAGS),
            ip_hi: AtomicU64::new(hi),
            ip_lo: AtomicU64::new(lo),
            port: AtomicU32::new(es.dest.otp_port as u32),
            m: KMutex::new(es),
        }
    }

    pub fn lock(&self) -> EntryGuard<'_> {
        EntryGuard {
            g: self.m.lock(),
            l: self,
        }
    }

    /// The routing state without the lock: `None` if the entry is neither
    /// valid nor drop, or a writer kept it busy (the caller takes the lock).
    fn route(&self) -> Option<Route> {
        for _ in 0..4 {
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 & 1 != 0 {
                core::hint::spin_loop();
                continue;
            }
            let flags = self.flags.load(Ordering::Relaxed);
            let hi = self.ip_hi.load(Ordering::Relaxed);
            let lo = self.ip_lo.load(Ordering::Relaxed);
            let port = self.port.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) != s1 {
                continue;
            }
            if flags & OVERLAY_ENTRY_F_DROP != 0 {
                return Some(Route::Drop);
            }
            if flags & OVERLAY_ENTRY_F_VALID == 0 {
                return None;
            }
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&hi.to_ne_bytes());
            b[8..].copy_from_slice(&lo.to_ne_bytes());
            return Some(Route::Valid(SockaddrIn6::new(
                in6_addr::new(b),
                port as u16,
            )));
        }
        None
    }
}

impl Deref for EntryGuard<'_> {
    type Target = EntryState;
    fn deref(&self) -> &EntryState {
        &self.g
    }
}

impl DerefMut for EntryGuard<'_> {
    fn deref_mut(&mut self) -> &mut EntryState {
        &mut self.g
    }
}

impl Drop for EntryGuard<'_> {
    /// Republish the snapshot if the routing state changed. We hold the
    /// entry lock, so we are the only writer of the snapshot.
    fn drop(&mut self) {
        let l = self.l;
        let flags = self.g.flags & SNAP_FLAGS;
        let (hi, lo) = ip_words(&self.g.dest.otp_ip);
        let port = self.g.dest.otp_port as u32;
        if l.flags.load(Ordering::Relaxed) == flags
            && l.ip_hi.load(Ordering::Relaxed) == hi
            && l.ip_lo.load(Ordering::Relaxed) == lo
            && l.port.load(Ordering::Relaxed) == port
        {
            return;
        }
        let s = l.seq.load(Ordering::Relaxed);
        l.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        l.flags.store(flags, Ordering::Relaxed);
        l.ip_hi.store(hi, Ordering::Relaxed);
        l.ip_lo.store(lo, Ordering::Relaxed);
        l.port.store(port, Ordering::Relaxed);
        l.seq.store(s.wrapping_add(2), Ordering::Release);
    }
}

/// A DYNAMIC cache entry (`overlay_target_entry_t`).
pub(crate) struct Entry<P: Platform> {
    /// The opaque request id varpd sees (`otl_reqid`).
    pub reqid: u64,
    /// The key (also in the maps); kept for debugging.
    #[allow(dead_code)]
    pub mac: [u8; 6],
    pub dev: Weak<OverlayDev<P>>,
    pub target: Weak<Target<P>>,
    pub st: EntryLock,
}

/// Target state, under the target lock.
pub(crate) struct TargetState<P: Platform> {
    pub teardown: bool,
    pub ocount: u64,
    pub hash: MacTable<Arc<Entry<P>>>,
    pub tree: BTreeMap<[u8; 6], Arc<Entry<P>>>,
}

/// A device's target.
pub(crate) struct Target<P: Platform> {
    pub me: Weak<Target<P>>,
    pub mode: u32,
    pub dest: u32,
    pub varpd_id: u64,
    pub point: overlay_target_point_t,
    pub st: KMutex<TargetState<P>>,
    pub cv: KCondvar,
}

/// What the transmit path does with one frame.
pub(crate) enum TxLookup<P: Platform> {
    /// Send to this address now.
    Send(SockaddrIn6, MsgBlk),
    /// The frame was freed (drop entry, bad header, unsupported dest).
    Drop,
    /// The entry's queue is full; the frame was freed.
    QueueFull,
    /// The frame is queued on an entry; if `Some`, a new lookup request
    /// must be enqueued for that entry.
    Queued(Option<Arc<Entry<P>>>),
}

impl<P: Platform> Target<P> {
    pub fn new(mode: u32, dest: u32, varpd_id: u64, point: overlay_target_point_t) -> Arc<Self> {
        Arc::new_cyclic(|me| Target {
            me: me.clone(),
            mode,
            dest,
            varpd_id,
            point,
            st: KMutex::new(TargetState {
                teardown: false,
                ocount: 0,
                hash: MacTable::new(),
                tree: BTreeMap::new(),
            }),
            cv: KCondvar::new(),
        })
    }

    /// `overlay_target_lookup` for one frame (§10.2, §9.1).
    pub fn tx_lookup(&self, dev: &OverlayDev<P>, m: MsgBlk) -> TxLookup<P> {
        if self.dest != OVERLAY_PLUGIN_D_IP | OVERLAY_PLUGIN_D_PORT {
            return TxLookup::Drop;
        }
        if self.mode == OVERLAY_TARGET_POINT {
            return TxLookup::Send(SockaddrIn6::new(self.point.otp_ip, self.point.otp_port), m);
        }
        if self.mode != OVERLAY_TARGET_DYNAMIC {
            return TxLookup::Drop;
        }
        if m.len() < crate::ether::ETHER_HDR_LEN {
            return TxLookup::Drop;
        }
        let mut dst = [0u8; 6];
        match m.first().get(..6) {
            // The usual case: the destination lies in the first block.
            Some(b) => dst.copy_from_slice(b),
            None => {
                if m.copy_out(0, &mut dst) != 6 {
                    return TxLookup::Drop;
                }
            }
        }
        // Fast path (a hit on a valid or drop entry): read the entry's
        // routing snapshot under the target lock, borrowing the entry; no
        // entry lock, no Arc clone.
        let ent = {
            let st = self.st.lock();
            let Some(ent) = st.hash.get(&dst) else {
                drop(st);
                return self.tx_new_entry(dev, dst, m);
            };
            match ent.st.route() {
                Some(Route::Drop) => return TxLookup::Drop,
                Some(Route::Valid(sa)) => return TxLookup::Send(sa, m),
                None => ent.clone(),
            }
        };
        // Slow path: the entry is unresolved; queue on it.
        let mut es = ent.st.lock();
        if es.flags & OVERLAY_ENTRY_F_DROP != 0 {
            return TxLookup::Drop;
        }
        if es.flags & OVERLAY_ENTRY_F_VALID != 0 {
            return TxLookup::Send(SockaddrIn6::new(es.dest.otp_ip, es.dest.otp_port), m);
        }
        let len = m.len();
        if es.bytes + len > OVERLAY_ENT_SIZE_TUNABLE.load(Ordering::Relaxed) {
            return TxLookup::QueueFull;
        }
        es.chain.push_back(m);
        es.bytes += len;
        if es.flags & OVERLAY_ENTRY_F_PENDING != 0 {
            return TxLookup::Queued(None);
        }
        es.flags |= OVERLAY_ENTRY_F_PENDING;
        drop(es);
        TxLookup::Queued(Some(ent))
    }

    fn tx_new_entry(&self, dev: &OverlayDev<P>, mac: [u8; 6], m: MsgBlk) -> TxLookup<P> {
        let len = m.len();
        if len > OVERLAY_ENT_SIZE_TUNABLE.load(Ordering::Relaxed) {
            return TxLookup::QueueFull;
        }
        let mut st = self.st.lock();
        // Lost a race with another transmit creating the same entry: take
        // the normal path, which now finds it.
        if st.hash.get(&mac).is_some() {
            drop(st);
            return self.tx_lookup(dev, m);
        }
        let e = Arc::new(Entry {
            reqid: NEXT_REQID.fetch_add(1, Ordering::Relaxed),
            mac,
            dev: dev.me.clone(),
            target: self.me.clone(),
            st: EntryLock::new(EntryState {
                flags: OVERLAY_ENTRY_F_PENDING,
                dest: overlay_target_point_t::default(),
                chain: MsgBlkChain::single(m),
                bytes: len,
                vtime: Moment::from_nanos(0),
            }),
        });
        if !st.hash.insert(mac, e.clone()) {
            return TxLookup::Drop;
        }
        st.tree.insert(mac, e.clone());
        TxLookup::Queued(Some(e))
    }

    /// Find or create the entry for `mac` (CACHE_SET).
    pub fn entry_get_or_create(&self, dev: &OverlayDev<P>, mac: [u8; 6]) -> Option<Arc<Entry<P>>> {
        let mut st = self.st.lock();
        if let Some(e) = st.hash.get(&mac) {
            return Some(e.clone());
        }
        let e = Arc::new(Entry {
            reqid: NEXT_REQID.fetch_add(1, Ordering::Relaxed),
            mac,
            dev: dev.me.clone(),
            target: self.me.clone(),
            st: EntryLock::new(EntryState {
                flags: 0,
                dest: overlay_target_point_t::default(),
                chain: MsgBlkChain::new(),
                bytes: 0,
                vtime: Moment::from_nanos(0),
            }),
        });
        if !st.hash.insert(mac, e.clone()) {
            return None;
        }
        st.tree.insert(mac, e.clone());
        Some(e)
    }

    pub fn entry(&self, mac: &[u8; 6]) -> Option<Arc<Entry<P>>> {
        self.st.lock().hash.get(mac).cloned()
    }

    /// A request of this target was answered or abandoned: `ocount − 1`
    /// and wake a deleter.
    pub fn req_done(&self) {
        let mut st = self.st.lock();
        st.ocount = st.ocount.saturating_sub(1);
        self.cv.broadcast();
    }

    /// Delete's quiesce: no new requests, wait until none are in flight.
    pub fn quiesce(&self) {
        let mut st = self.st.lock();
        st.teardown = true;
        while st.ocount > 0 {
            st = self.cv.wait(st);
        }
    }

    /// Free every entry and its queued frames.
    pub fn destroy_cache(&self) {
        let (hash, tree) = {
            let mut st = self.st.lock();
            (core::mem::take(&mut st.hash), core::mem::take(&mut st.tree))
        };
        for e in tree.values() {
            let mut es = e.st.lock();
            es.chain = MsgBlkChain::new();
            es.bytes = 0;
        }
        drop(hash);
        drop(tree);
    }

    /// Number of cache entries.
    pub fn nentries(&self) -> usize {
        self.st.lock().tree.len()
    }
}

/// The L2 summary LOOKUP reports for a frame, or `None` if unparsable.
pub(crate) fn lookup_info(m: &MsgBlk) -> Option<crate::ether::MacHeaderInfo> {
    mac_vlan_header_info(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(flags: u32) -> EntryState {
        EntryState {
            flags,
            dest: overlay_target_point_t::default(),
            chain: MsgBlkChain::new(),
            bytes: 0,
            vtime: Moment::from_nanos(0),
        }
    }

    #[test]
    fn entry_route_snapshot_follows_the_locked_state() {
        let l = EntryLock::new(state(OVERLAY_ENTRY_F_PENDING));
        assert!(l.route().is_none(), "pending: take the lock");
        {
            let mut g = l.lock();
            g.flags = OVERLAY_ENTRY_F_VALID;
            g.dest.otp_ip = in6_addr::v4mapped([10, 1, 2, 3]);
            g.dest.otp_port = 4789;
            assert!(l.route().is_none(), "not published before release");
        }
        match l.route() {
            Some(Route::Valid(sa)) => {
                assert_eq!(
                    sa,
                    SockaddrIn6::new(in6_addr::v4mapped([10, 1, 2, 3]), 4789)
                )
            }
            _ => panic!("valid entry not published"),
        }
        l.lock().flags |= OVERLAY_ENTRY_F_DROP;
        assert!(matches!(l.route(), Some(Route::Drop)));
        l.lock().flags &= !OVERLAY_ENTRY_F_VALID_MASK;
        assert!(l.route().is_none(), "invalidated");
        // Queue bookkeeping alone does not touch the snapshot.
        let s = l.seq.load(Ordering::Relaxed);
        l.lock().bytes += 1;
        assert_eq!(l.seq.load(Ordering::Relaxed), s);
    }
}

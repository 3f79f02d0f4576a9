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
//! The transmit path's common case takes no lock: [`Target::tx_route`]
//! finds the entry in the lock-free [`MacTable`] and reads its route from
//! a sequence-locked copy ([`crate::route`]) that every holder of the entry
//! lock republishes on release ([`EntryGuard`]). Anything else (no entry,
//! unresolved, a writer busy) goes to [`Target::tx_lookup`], which decides
//! again under the locks. The ioctls find entries in the tree, under the
//! target lock.
//!
//! Lock order: global target lock → target lock → table writer lock;
//! target lock → entry lock.

use crate::ether::mac_vlan_header_info;
use crate::kcondvar::KCondvar;
use crate::kmutex::{KMutex, KMutexGuard};
use crate::mactable::MacTable;
use crate::moment::Moment;
use crate::msgblk::{MsgBlk, MsgBlkChain};
use crate::platform::{Platform, SockaddrIn6};
use crate::route::{RouteCell, RouteRead};
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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

/// A DYNAMIC cache entry (`overlay_target_entry_t`).
pub(crate) struct Entry<P: Platform> {
    /// The opaque request id varpd sees (`otl_reqid`).
    pub reqid: u64,
    /// The key (also in the maps); kept for debugging.
    #[allow(dead_code)]
    pub mac: [u8; 6],
    pub target: Weak<Target<P>>,
    /// Reached only through [`Entry::lock`], which republishes `route`.
    st: KMutex<EntryState>,
    /// The route as the transmit path reads it without the lock.
    route: RouteCell,
}

/// The entry lock held: the entry's state, whose route is republished
/// for the lock-free transmit path when the guard is dropped.
pub(crate) struct EntryGuard<'a> {
    g: KMutexGuard<'a, EntryState>,
    route: &'a RouteCell,
}

impl core::ops::Deref for EntryGuard<'_> {
    type Target = EntryState;
    fn deref(&self) -> &EntryState {
        &self.g
    }
}

impl core::ops::DerefMut for EntryGuard<'_> {
    fn deref_mut(&mut self) -> &mut EntryState {
        &mut self.g
    }
}

impl Drop for EntryGuard<'_> {
    fn drop(&mut self) {
        // Still under the entry lock (the mutex guard drops after this).
        self.route.publish(self.g.flags, &self.g.dest);
    }
}

impl<P: Platform> Entry<P> {
    fn new(reqid: u64, mac: [u8; 6], target: Weak<Target<P>>, st: EntryState) -> Self {
        Entry {
            reqid,
            mac,
            target,
            st: KMutex::new(st),
            route: RouteCell::default(),
        }
    }

    /// Take the entry lock.
    pub fn lock(&self) -> EntryGuard<'_> {
        EntryGuard {
            g: self.st.lock(),
            route: &self.route,
        }
    }
}

/// Target state, under the target lock.
pub(crate) struct TargetState<P: Platform> {
    pub teardown: bool,
    pub ocount: u64,
    pub tree: BTreeMap<[u8; 6], Arc<Entry<P>>>,
}

/// A device's target.
pub(crate) struct Target<P: Platform> {
    pub me: Weak<Target<P>>,
    pub mode: u32,
    pub dest: u32,
    pub varpd_id: u64,
    pub point: overlay_target_point_t,
    /// `point` as a socket address, made once.
    pub point_sa: SockaddrIn6,
    /// The same entries as `st.tree`, for the transmit path's lock-free
    /// lookup; inserted into under the target lock, never shrunk (entries
    /// live until the target is freed).
    pub hash: MacTable<Entry<P>>,
    pub st: KMutex<TargetState<P>>,
    pub cv: KCondvar,
}

/// The transmit path's first question about a frame, asked without
/// taking the frame: where it goes, or whether it needs the slow path.
pub(crate) enum TxRoute {
    /// Send to this address now.
    Send(SockaddrIn6),
    /// Free the frame (drop entry, bad header, unsupported dest).
    Drop,
    /// No valid or drop entry: hand the frame to [`Target::tx_lookup`].
    Miss,
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
            point_sa: SockaddrIn6::new(point.otp_ip, point.otp_port),
            hash: MacTable::new(),
            st: KMutex::new(TargetState {
                teardown: false,
                ocount: 0,
                tree: BTreeMap::new(),
            }),
            cv: KCondvar::new(),
        })
    }

    /// `overlay_target_lookup`'s common case, by reference: the route of a
    /// frame to a POINT target or to a valid (or drop) cache entry.
    /// [`TxRoute::Miss`] sends the frame to [`Self::tx_lookup`], which
    /// decides again under the locks and queues it.
    /// `f` is `m.first()`, which the caller has already read.
    #[inline]
    pub fn tx_route(&self, f: &[u8], m: &MsgBlk) -> TxRoute {
        if self.dest != OVERLAY_PLUGIN_D_IP | OVERLAY_PLUGIN_D_PORT {
            return TxRoute::Drop;
        }
        if self.mode == OVERLAY_TARGET_POINT {
            return TxRoute::Send(self.point_sa);
        }
        if self.mode != OVERLAY_TARGET_DYNAMIC {
            return TxRoute::Drop;
        }
        let Some(dst) = f.get(..6) else {
            return TxRoute::Miss;
        };
        // The whole length (a walk over the blocks) only when the first
        // block alone is shorter than an Ethernet header.
        if f.len() < crate::ether::ETHER_HDR_LEN && m.len() < crate::ether::ETHER_HDR_LEN {
            return TxRoute::Drop;
        }
        let mut mac = [0u8; 6];
        mac.copy_from_slice(dst);
        let Some(ent) = self.hash.get(&mac) else {
            return TxRoute::Miss;
        };
        match ent.route.read() {
            RouteRead::Send(sa) => TxRoute::Send(sa),
            RouteRead::Drop => TxRoute::Drop,
            RouteRead::Retry => TxRoute::Miss,
        }
    }

    /// `overlay_target_lookup` for one frame (§10.2, §9.1).
    pub fn tx_lookup(&self, m: MsgBlk) -> TxLookup<P> {
        if self.dest != OVERLAY_PLUGIN_D_IP | OVERLAY_PLUGIN_D_PORT {
            return TxLookup::Drop;
        }
        if self.mode == OVERLAY_TARGET_POINT {
            return TxLookup::Send(self.point_sa, m);
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
        // Under the target lock (the order: target lock → entry lock), so
        // the entry cannot be created twice.
        let ent = {
            let st = self.st.lock();
            let Some(ent) = st.tree.get(&dst) else {
                drop(st);
                return self.tx_new_entry(dst, m);
            };
            ent.clone()
        };
        // The entry may have been answered since `tx_route` looked; if it is
        // still unresolved, queue on it.
        let mut es = ent.lock();
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

    fn tx_new_entry(&self, mac: [u8; 6], m: MsgBlk) -> TxLookup<P> {
        let len = m.len();
        if len > OVERLAY_ENT_SIZE_TUNABLE.load(Ordering::Relaxed) {
            return TxLookup::QueueFull;
        }
        let mut st = self.st.lock();
        // Lost a race with another transmit creating the same entry: take
        // the normal path, which now finds it.
        if st.tree.contains_key(&mac) {
            drop(st);
            return self.tx_lookup(m);
        }
        let e = Arc::new(Entry::new(
            NEXT_REQID.fetch_add(1, Ordering::Relaxed),
            mac,
            self.me.clone(),
            EntryState {
                flags: OVERLAY_ENTRY_F_PENDING,
                dest: overlay_target_point_t::default(),
                chain: MsgBlkChain::single(m),
                bytes: len,
                vtime: Moment::from_nanos(0),
            },
        ));
        if !self.hash.insert(mac, e.clone()) {
            return TxLookup::Drop;
        }
        st.tree.insert(mac, e.clone());
        TxLookup::Queued(Some(e))
    }

    /// Find or create the entry for `mac` (CACHE_SET).
    pub fn entry_get_or_create(&self, mac: [u8; 6]) -> Option<Arc<Entry<P>>> {
        let mut st = self.st.lock();
        if let Some(e) = st.tree.get(&mac) {
            return Some(e.clone());
        }
        let e = Arc::new(Entry::new(
            NEXT_REQID.fetch_add(1, Ordering::Relaxed),
            mac,
            self.me.clone(),
            EntryState {
                flags: 0,
                dest: overlay_target_point_t::default(),
                chain: MsgBlkChain::new(),
                bytes: 0,
                vtime: Moment::from_nanos(0),
            },
        ));
        if !self.hash.insert(mac, e.clone()) {
            return None;
        }
        st.tree.insert(mac, e.clone());
        Some(e)
    }

    pub fn entry(&self, mac: &[u8; 6]) -> Option<Arc<Entry<P>>> {
        self.st.lock().tree.get(mac).cloned()
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

    /// Free every entry's queued frames and empty the ordered cache; the
    /// entries themselves go with the target (the lock-free hash keeps
    /// them for any transmit that may still look).
    pub fn destroy_cache(&self) {
        let tree = core::mem::take(&mut self.st.lock().tree);
        for e in tree.values() {
            let mut es = e.lock();
            es.chain = MsgBlkChain::new();
            es.bytes = 0;
        }
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

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

use crate::ether::mac_vlan_header_info;
use crate::kcondvar::KCondvar;
use crate::kmutex::KMutex;
use crate::mactable::MacTable;
use crate::moment::Moment;
use crate::msgblk::{MsgBlk, MsgBlkChain};
use crate::platform::{Platform, SockaddrIn6};
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
    pub st: KMutex<EntryState>,
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
    /// `point` as a socket address, made once.
    pub point_sa: SockaddrIn6,
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
            st: KMutex::new(TargetState {
                teardown: false,
                ocount: 0,
                hash: MacTable::new(),
                tree: BTreeMap::new(),
            }),
            cv: KCondvar::new(),
        })
    }

    /// `overlay_target_lookup`'s common case, by reference: the route of a
    /// frame to a POINT target or to a valid (or drop) cache entry.
    /// [`TxRoute::Miss`] sends the frame to [`Self::tx_lookup`], which
    /// decides again under the locks and queues it.
    #[inline]
    pub fn tx_route(&self, m: &MsgBlk) -> TxRoute {
        if self.dest != OVERLAY_PLUGIN_D_IP | OVERLAY_PLUGIN_D_PORT {
            return TxRoute::Drop;
        }
        if self.mode == OVERLAY_TARGET_POINT {
            return TxRoute::Send(self.point_sa);
        }
        if self.mode != OVERLAY_TARGET_DYNAMIC {
            return TxRoute::Drop;
        }
        let f = m.first();
        let Some(dst) = f.get(..6) else {
            return TxRoute::Miss;
        };
        if m.len() < crate::ether::ETHER_HDR_LEN {
            return TxRoute::Drop;
        }
        let mut mac = [0u8; 6];
        mac.copy_from_slice(dst);
        let st = self.st.lock();
        let Some(ent) = st.hash.get(&mac) else {
            return TxRoute::Miss;
        };
        let es = ent.st.lock();
        if es.flags & OVERLAY_ENTRY_F_DROP != 0 {
            TxRoute::Drop
        } else if es.flags & OVERLAY_ENTRY_F_VALID != 0 {
            TxRoute::Send(SockaddrIn6::new(es.dest.otp_ip, es.dest.otp_port))
        } else {
            TxRoute::Miss
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
        // Fast path (a hit on a valid or drop entry): take the entry lock
        // under the target lock (the documented order) and borrow the entry
        // instead of cloning its Arc.
        let ent = {
            let st = self.st.lock();
            let Some(ent) = st.hash.get(&dst) else {
                drop(st);
                return self.tx_new_entry(dst, m);
            };
            let es = ent.st.lock();
            if es.flags & OVERLAY_ENTRY_F_DROP != 0 {
                return TxLookup::Drop;
            }
            if es.flags & OVERLAY_ENTRY_F_VALID != 0 {
                return TxLookup::Send(SockaddrIn6::new(es.dest.otp_ip, es.dest.otp_port), m);
            }
            drop(es);
            ent.clone()
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

    fn tx_new_entry(&self, mac: [u8; 6], m: MsgBlk) -> TxLookup<P> {
        let len = m.len();
        if len > OVERLAY_ENT_SIZE_TUNABLE.load(Ordering::Relaxed) {
            return TxLookup::QueueFull;
        }
        let mut st = self.st.lock();
        // Lost a race with another transmit creating the same entry: take
        // the normal path, which now finds it.
        if st.hash.get(&mac).is_some() {
            drop(st);
            return self.tx_lookup(m);
        }
        let e = Arc::new(Entry {
            reqid: NEXT_REQID.fetch_add(1, Ordering::Relaxed),
            mac,
            target: self.me.clone(),
            st: KMutex::new(EntryState {
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
    pub fn entry_get_or_create(&self, mac: [u8; 6]) -> Option<Arc<Entry<P>>> {
        let mut st = self.st.lock();
        if let Some(e) = st.hash.get(&mac) {
            return Some(e.clone());
        }
        let e = Arc::new(Entry {
            reqid: NEXT_REQID.fetch_add(1, Ordering::Relaxed),
            mac,
            target: self.me.clone(),
            st: KMutex::new(EntryState {
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

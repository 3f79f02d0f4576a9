//! The overlay device (`overlay_dev_t`) and its GLDv3 provider callbacks
//! (`overlay_m_*`, §11.2) including the transmit path (`overlay_m_tx`).
//!
//! A device is created by OVERLAY_IOC_CREATE, associated with a varpd
//! target, activated, and then started by MAC when a client (a VNIC) opens
//! it: `m_start` joins the mux for the plugin's socket and the data path
//! is live. Every TX call and RX delivery registers itself as in-flight
//! (the `IN_TX`/`IN_RX` counts, [`DevIo`]); `m_stop` sets `MDDROP` so new
//! I/O is dropped, waits for in-flight I/O to drain, and leaves the mux
//! (§10.5).
//!
//! The in-flight counts are atomics rather than fields under the device
//! lock, so finishing I/O takes no lock, and a receive none at all: it
//! increments its count, then checks the `open` flag (IN_MUX without
//! MDDROP); `m_stop` clears `open`, then reads the counts. With sequentially
//! consistent operations on both sides, either the receive sees `open`
//! clear and backs out, or `m_stop` sees the count and waits. A finisher
//! whose decrement reaches zero wakes `m_stop` (under the device lock) only
//! if `draining` is set, so the common case is one atomic decrement.
//!
//! Transmit enters like a receive, without the device lock: it increments
//! `txcount`, checks `open`, then reads the mux connection, the target and
//! the vnetid from atomic mirrors of the locked state ([`DevIo`]); per
//! frame it resolves the destination ([`crate::target`]), asks the plugin
//! to encapsulate and sends through the mux socket. Nothing on this path
//! allocates in steady state.
//!
//! The target is borrowed, not reference-counted, per call. A re-ASSOCIATE
//! (or device delete) may replace it while frames are in flight, so the
//! replacer publishes the new pointer, sets `draining`, then reads
//! `txcount` (SeqCst throughout): a transmit increments `txcount` before it
//! loads the pointer, so one that loaded the old pointer is seen by the
//! replacer, which then keeps the old target on the device's `retired`
//! list instead of freeing it. The retired targets are freed when
//! `txcount` is next seen at zero (by the last finisher, under the device
//! lock) or by `m_stop` once drained — deferred freeing, as an RCU grace
//! period would do.

use crate::errno::Errno;
use crate::flood::{flood_send, is_group_frame, FloodList};
use crate::kcondvar::KCondvar;
use crate::kmutex::KMutex;
use crate::msgblk::{MsgBlk, MsgBlkChain};
use crate::mux::{mux_close, mux_open, MuxDev};
use crate::once::OnceSlot;
use crate::platform::{Platform, SockaddrIn6};
use crate::plugin::{EncapInfo, EncapInstance, OverlayPlugin};
use crate::stats::{add, inc, sub, DevCounters, DevStats};
use crate::target::{Target, TxLookup, TxRoute};
use crate::Overlay;
use alloc::boxed::Box;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use overlay_sys::*;

/// A started device's mux connection.
type MuxConn<P> = crate::mux::MuxConn<P, OverlayDev<P>>;

/// What beginning a TX yields: the mux connection, the target (both valid
/// while the TX is in flight; the target may be null), the vnetid.
type TxEnter<P> = (*const MuxConn<P>, *const Target<P>, u64);

/// A counted reference to a plugin (`overlay_plugin_t` active count);
/// released when dropped.
pub(crate) struct PluginHold(pub(crate) Arc<OverlayPlugin>);

impl Drop for PluginHold {
    fn drop(&mut self) {
        self.0.rele_active();
    }
}

/// Mutable device state, under the device lock.
pub(crate) struct DevState<P: Platform> {
    pub flags: u32,
    /// Transient holds by ioctls (`odd_ref`).
    pub refs: u32,
    pub mux: Option<Arc<MuxConn<P>>>,
    pub vid: u64,
    pub target: Option<Arc<Target<P>>>,
    /// Targets replaced while a transmit may still borrow them; freed once
    /// `txcount` is seen at zero (see the module comment).
    pub retired: Vec<Arc<Target<P>>>,
    pub fm_msg: [u8; OVERLAY_STATUS_BUFLEN],
    /// Current max SDU (what MAC reports as the MTU).
    pub sdu: u32,
}

/// The device's in-flight I/O accounting (`odd_txcount`/`odd_rxcount` and
/// the `IN_TX`/`IN_RX` flags) and the transmit path's lock-free view of
/// the device state; see the module comment.
pub(crate) struct DevIo<P: Platform> {
    /// In the mux and not stopping: new I/O may enter.
    open: AtomicBool,
    /// Someone waits for a count to reach zero: `m_stop`, or retired
    /// targets to free.
    draining: AtomicBool,
    txcount: AtomicU32,
    rxcount: AtomicU32,
    /// Mirror of `DevState::mux` (set before `open`).
    conn: AtomicPtr<MuxConn<P>>,
    /// Mirror of `DevState::target` (null without one).
    target: AtomicPtr<Target<P>>,
    /// Mirror of `DevState::vid` (set before `open`).
    vid: AtomicU64,
}

impl<P: Platform> DevIo<P> {
    pub(crate) fn new() -> Self {
        DevIo {
            open: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            txcount: AtomicU32::new(0),
            rxcount: AtomicU32::new(0),
            conn: AtomicPtr::new(core::ptr::null_mut()),
            target: AtomicPtr::new(core::ptr::null_mut()),
            vid: AtomicU64::new(0),
        }
    }
}

/// One overlay device; see the module comment. Hosts hold it as a
/// [`DevHandle`](crate::DevHandle) (the MAC driver-private pointer).
pub struct OverlayDev<P: Platform> {
    pub(crate) ovl: Arc<Overlay<P>>,
    pub(crate) me: Weak<OverlayDev<P>>,
    pub(crate) linkid: u32,
    pub(crate) plugin: PluginHold,
    pub(crate) inst: Box<dyn EncapInstance>,
    pub(crate) mac: OnceSlot<P::Mac>,
    /// The MAC perimeter: serialises ACTIVATE/PROPINFO/GETPROP/SETPROP and
    /// MAC start/stop for this device.
    pub(crate) perim: KMutex<()>,
    pub(crate) st: KMutex<DevState<P>>,
    pub(crate) iocv: KCondvar,
    pub(crate) io: DevIo<P>,
    pub(crate) stats: DevStats,
    /// Head-end replication destinations ([`crate::flood`]); `None` = off.
    pub(crate) flood: KMutex<FloodList>,
}

impl<P: Platform> OverlayDev<P> {
    /// The datalink id.
    pub fn linkid(&self) -> u32 {
        self.linkid
    }

    /// The virtual network id.
    pub fn vnetid(&self) -> u64 {
        self.st.lock().vid
    }

    /// The `OVERLAY_F_*` flags (`IN_TX`/`IN_RX` while I/O is in flight).
    ///
    /// An entry counts itself before it checks `open`; while the device is
    /// stopped such a count belongs to a transmit or receive that is about
    /// to back out, so it is only reported while the device is open or
    /// `m_stop` is draining real I/O.
    pub fn flags(&self) -> u32 {
        let mut f = self.st.lock().flags;
        let live = self.io.open.load(Ordering::SeqCst) || self.io.draining.load(Ordering::SeqCst);
        if live && self.io.txcount.load(Ordering::SeqCst) != 0 {
            f |= OVERLAY_F_IN_TX;
        }
        if live && self.io.rxcount.load(Ordering::SeqCst) != 0 {
            f |= OVERLAY_F_IN_RX;
        }
        f
    }

    /// The encapsulation plugin's name.
    pub fn encap_name(&self) -> &'static str {
        self.plugin.0.name
    }

    /// The MAC registration, once `mac_register` has returned.
    pub fn mac(&self) -> Option<&P::Mac> {
        self.mac.get()
    }

    /// Number of DYNAMIC cache entries (0 without a target).
    pub fn cache_entries(&self) -> usize {
        let t = self.st.lock().target.clone();
        t.map_or(0, |t| t.nentries())
    }

    /// Data-path counters.
    pub fn stats(&self) -> DevCounters {
        self.stats.snapshot()
    }

    pub(crate) fn arc(&self) -> Arc<OverlayDev<P>> {
        // `&self` came from a live Arc (devices are only reached through
        // DevHandle), so the strong count is at least one.
        self.me
            .upgrade()
            .expect("device reached through a live handle")
    }

    /// `mc_start`: join the mux; `EAGAIN` until activated.
    pub fn m_start(&self) -> Result<(), Errno> {
        let _p = self.perim.lock();
        let vid = {
            let st = self.st.lock();
            if st.flags & OVERLAY_F_ACTIVATED == 0 {
                return Err(Errno::EAGAIN);
            }
            if st.flags & OVERLAY_F_IN_MUX != 0 {
                return Ok(());
            }
            st.vid
        };
        let params = self.inst.socket()?;
        let ovl = &*self.ovl;
        let conn = mux_open(
            &ovl.muxes,
            &ovl.platform,
            &self.plugin.0,
            &params,
            &*self.inst,
            |mux| ovl.platform.socket_open(&params, mux),
        )?;
        // §16 #5: two devices with one vnetid in a mux would corrupt the
        // original's AVL tree; refuse the second one.
        if let Err(e) = conn.mux.add_dev(vid, self.arc()) {
            mux_close(&ovl.muxes, &ovl.platform, conn);
            return Err(e);
        }
        let mut st = self.st.lock();
        self.io
            .conn
            .store(Arc::as_ptr(&conn).cast_mut(), Ordering::Relaxed);
        self.io.vid.store(st.vid, Ordering::Relaxed);
        st.mux = Some(conn);
        st.flags |= OVERLAY_F_IN_MUX;
        // Publishes `conn` and `vid` to transmits that see `open`.
        self.io.open.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// `mc_stop`: stop new I/O, wait for in-flight I/O, leave the mux.
    pub fn m_stop(&self) {
        let _p = self.perim.lock();
        let mut st = self.st.lock();
        if st.flags & OVERLAY_F_IN_MUX == 0 {
            return;
        }
        st.flags |= OVERLAY_F_MDDROP;
        // See the module comment: close, announce, then read the counts.
        self.io.open.store(false, Ordering::SeqCst);
        self.io.draining.store(true, Ordering::SeqCst);
        while self.io.txcount.load(Ordering::SeqCst) != 0
            || self.io.rxcount.load(Ordering::SeqCst) != 0
        {
            st = self.iocv.wait(st);
        }
        self.io.draining.store(false, Ordering::SeqCst);
        let retired = core::mem::take(&mut st.retired);
        let conn = st.mux.take();
        self.io.conn.store(core::ptr::null_mut(), Ordering::Relaxed);
        let vid = st.vid;
        drop(st);
        drop(retired);
        if let Some(conn) = conn {
            conn.mux.remove_dev(vid, self);
            mux_close(&self.ovl.muxes, &self.ovl.platform, conn);
        }
        let mut st = self.st.lock();
        st.flags &= !(OVERLAY_F_IN_MUX | OVERLAY_F_MDDROP);
    }

    /// `mc_setprop(MAC_PROP_MTU)`: [576, 8900] else `EINVAL`; updates MAC's
    /// max SDU, restoring the old value if MAC refuses.
    pub fn m_setprop_mtu(&self, mtu: u32) -> Result<(), Errno> {
        if !(OVERLAY_MTU_MIN..=OVERLAY_MTU_MAX).contains(&mtu) {
            return Err(Errno::EINVAL);
        }
        let mut st = self.st.lock();
        let old = st.sdu;
        st.sdu = mtu;
        if let Some(mac) = self.mac.get() {
            if let Err(e) = self.ovl.platform.mac_maxsdu_update(mac, mtu) {
                st.sdu = old;
                return Err(e);
            }
        }
        Ok(())
    }

    /// The current MTU (max SDU).
    pub fn mtu(&self) -> u32 {
        self.st.lock().sdu
    }

    /// `mc_getcapab(MAC_CAPAB_OVERLAY)`: true; every other capability false.
    pub fn m_getcapab_overlay(&self) -> bool {
        true
    }

    /// `mc_getstat`: always `ENOTSUP` (no driver statistics).
    pub fn m_getstat(&self, _stat: u32) -> Result<u64, Errno> {
        Err(Errno::ENOTSUP)
    }

    /// `mc_setpromisc`, `mc_multicst`, `mc_unicst`: accepted and ignored.
    pub fn m_setpromisc(&self, _on: bool) -> Result<(), Errno> {
        Ok(())
    }
    pub fn m_multicst(&self, _add: bool, _addr: &[u8; 6]) -> Result<(), Errno> {
        Ok(())
    }
    pub fn m_unicst(&self, _addr: &[u8; 6]) -> Result<(), Errno> {
        Ok(())
    }

    /// `mc_propinfo(MAC_PROP_MTU)`: (default, min, max).
    pub fn m_propinfo_mtu(&self) -> (u32, u32, u32) {
        (OVERLAY_MTU_DEF, OVERLAY_MTU_MIN, OVERLAY_MTU_MAX)
    }

    /// End one in-flight TX or RX (`flag`). Lock-free unless the count
    /// reaches zero while `m_stop` waits: then wake it, under the device
    /// lock so the wakeup cannot fall between its check and its wait.
    #[inline]
    fn io_done(&self, flag: u32) {
        let c = if flag == OVERLAY_F_IN_TX {
            &self.io.txcount
        } else {
            &self.io.rxcount
        };
        if c.fetch_sub(1, Ordering::SeqCst) == 1 && self.io.draining.load(Ordering::SeqCst) {
            self.io_drained();
        }
    }

    /// [`Self::io_done`]'s rare case, out of line: a count reached zero
    /// while someone waits.
    #[cold]
    #[inline(never)]
    fn io_drained(&self) {
        let mut st = self.st.lock();
        self.iocv.broadcast();
        let retired = self.reclaim(&mut st);
        drop(st);
        drop(retired);
    }

    /// Under the device lock: the retired targets if no transmit can still
    /// borrow one (`txcount` zero), for the caller to drop after unlocking.
    /// Clears `draining` once nothing waits any more.
    fn reclaim(&self, st: &mut DevState<P>) -> Vec<Arc<Target<P>>> {
        if !st.retired.is_empty() && self.io.txcount.load(Ordering::SeqCst) != 0 {
            return Vec::new();
        }
        if st.flags & OVERLAY_F_MDDROP == 0 {
            self.io.draining.store(false, Ordering::SeqCst);
        }
        core::mem::take(&mut st.retired)
    }

    /// Under the device lock: make `new` the device's target and return the
    /// old one. If a transmit may still borrow the old target it is also
    /// kept on `retired` until the transmits drain (see the module comment).
    pub(crate) fn target_replace(
        &self,
        st: &mut DevState<P>,
        new: Option<Arc<Target<P>>>,
    ) -> Option<Arc<Target<P>>> {
        let ptr = new
            .as_ref()
            .map_or(core::ptr::null_mut(), |t| Arc::as_ptr(t).cast_mut());
        let old = core::mem::replace(&mut st.target, new);
        self.io.target.store(ptr, Ordering::SeqCst);
        if let Some(o) = &old {
            // Announce, then read the count (the order `m_stop` uses).
            self.io.draining.store(true, Ordering::SeqCst);
            if self.io.txcount.load(Ordering::SeqCst) != 0 {
                st.retired.push(o.clone());
            } else if st.retired.is_empty() && st.flags & OVERLAY_F_MDDROP == 0 {
                self.io.draining.store(false, Ordering::SeqCst);
            }
        }
        old
    }

    /// Set the vnetid (under the device lock).
    pub(crate) fn set_vid(&self, st: &mut DevState<P>, vid: u64) {
        st.vid = vid;
        self.io.vid.store(vid, Ordering::Relaxed);
    }

    /// Begin an in-flight TX if the device is sending: the mux connection
    /// (valid until [`Self::tx_exit`]) and the vnetid.
    pub(crate) fn tx_enter(&self) -> Option<(*const MuxConn<P>, u64)> {
        self.tx_enter_target().map(|(c, _, v)| (c, v))
    }

    fn tx_enter_target(&self) -> Option<TxEnter<P>> {
        // Count first, then check `open` and load the target: `m_stop` and
        // `target_replace` store first, then read the count (SeqCst on both
        // sides), so either they see this transmit or it sees them.
        self.io.txcount.fetch_add(1, Ordering::SeqCst);
        if !self.io.open.load(Ordering::SeqCst) {
            self.io_done(OVERLAY_F_IN_TX);
            return None;
        }
        let conn = self.io.conn.load(Ordering::Relaxed);
        let target = self.io.target.load(Ordering::SeqCst);
        Some((conn, target, self.io.vid.load(Ordering::Relaxed)))
    }

    /// End an in-flight TX begun by [`Self::tx_enter`].
    pub(crate) fn tx_exit(&self) {
        self.io_done(OVERLAY_F_IN_TX);
    }

    /// `mc_tx` (`overlay_m_tx`): always consumes the whole chain.
    pub fn m_tx(&self, mut chain: MsgBlkChain) {
        let Some((conn, target, vid)) = self.tx_enter_target() else {
            add(&self.stats.tx_drop_not_started, chain.len() as u64);
            return;
        };
        // SAFETY: `st.mux` holds an Arc to the connection until `m_stop`
        // takes it, and `m_stop` first waits for IN_TX to clear, which
        // happens only in our `io_done` below; `m_start` stored the pointer
        // before setting `open`, which we saw. So the connection outlives
        // this borrow, which ends before `io_done`. Borrowing instead of
        // cloning the Arc saves two atomic operations per call.
        let conn = unsafe { &*conn };
        // SAFETY: non-null, the pointer came from an Arc that `st.target`
        // or, once replaced, `st.retired` keeps alive until `txcount` is
        // seen at zero, which cannot happen before our `io_done` below
        // (see `target_replace`); the borrow ends before it.
        let target = unsafe { target.as_ref() };
        let info = EncapInfo {
            id: vid,
            hdr_size: 0,
        };
        // Counting the frames once spares the last `pop_front`, which
        // moves a whole (absent) message out to say there is none.
        let mut left = chain.len();
        while left != 0 {
            left -= 1;
            let Some(mut m) = chain.pop_front() else {
                break;
            };
            let Some(t) = target else {
                inc(&self.stats.tx_drop_no_target);
                continue;
            };
            // The first block's bytes, read once for both questions below
            // (a POINT target asks neither).
            let dynamic = t.mode == OVERLAY_TARGET_DYNAMIC;
            let first = if dynamic { m.first() } else { &[] };
            // Head-end replication: group frames go to the flood list.
            if dynamic && is_group_frame(first) {
                if let Some(list) = self.flood_list() {
                    self.tx_flood(conn, &info, m, &list);
                    continue;
                }
            }
            // The common case decides by reference; only a miss hands the
            // frame over (to be queued, or sent if it raced a RESPOND).
            // `m` stays in place: every move of it costs copies (and
            // store-forwarding stalls) on the hot path.
            let sa = match t.tx_route(first, &m) {
                TxRoute::Send(sa) => sa,
                TxRoute::Drop => {
                    inc(&self.stats.tx_drop_lookup);
                    continue;
                }
                TxRoute::Miss => match t.tx_lookup(m) {
                    TxLookup::Send(sa, back) => {
                        m = back;
                        sa
                    }
                    TxLookup::Drop => {
                        inc(&self.stats.tx_drop_lookup);
                        continue;
                    }
                    TxLookup::QueueFull => {
                        inc(&self.stats.tx_drop_queue_full);
                        continue;
                    }
                    TxLookup::Queued(req) => {
                        inc(&self.stats.tx_queued);
                        if let Some(e) = req {
                            self.ovl.targ_enqueue(self, t, e);
                        }
                        continue;
                    }
                },
            };
            let len = m.len() as u64;
            let Ok(hdr) = self.inst.encap_tx(&mut m, &info) else {
                inc(&self.stats.tx_drop_encap);
                add(&self.stats.tx_drop_encap, chain.len() as u64);
                break;
            };
            // Counted before the hand-off and taken back if the socket
            // refuses the datagram: the counters' atomic adds between the
            // encapsulation's stores to `m` and the host's read of it let
            // those stores reach the cache first (read straight after,
            // a wider load than the stores stalls on store forwarding).
            inc(&self.stats.tx_frames);
            add(&self.stats.tx_bytes, len);
            if self
                .ovl
                .platform
                .socket_send(&conn.sock, &sa, m, hdr)
                .is_err()
            {
                sub(&self.stats.tx_frames, 1);
                sub(&self.stats.tx_bytes, len);
                inc(&self.stats.tx_drop_send);
                add(&self.stats.tx_drop_send, chain.len() as u64);
                break;
            }
        }
        self.io_done(OVERLAY_F_IN_TX);
        // Frames left after a failure are freed here, in place (moving the
        // chain to drop it costs a copy); they hold nothing of the device.
    }

    /// The current flood list (`None`: head-end replication off).
    pub(crate) fn flood_list(&self) -> FloodList {
        self.flood.lock().clone()
    }

    /// Number of destinations in the flood list.
    pub fn flood_len(&self) -> usize {
        self.flood.lock().as_ref().map_or(0, |l| l.len())
    }

    /// Replicate `m` to `list` through `conn` ([`crate::flood`]), with the
    /// TX in flight.
    fn tx_flood(&self, conn: &MuxConn<P>, info: &EncapInfo, m: MsgBlk, list: &[SockaddrIn6]) {
        flood_send(
            &self.ovl.platform,
            &conn.sock,
            &*self.inst,
            &self.stats,
            info,
            m,
            list,
        );
    }

    /// Replicate `m` to the flood list outside a transmit call (a frame
    /// varpd answered with DROP). False, with `m` freed, if the device is
    /// not sending or has no flood list.
    pub(crate) fn m_tx_flood(&self, m: MsgBlk) -> bool {
        let Some(list) = self.flood_list() else {
            return false;
        };
        let Some((conn, vid)) = self.tx_enter() else {
            return false;
        };
        // SAFETY: as in `m_tx`: the connection outlives the in-flight TX
        // that `tx_enter` registered, which ends in `tx_exit` below.
        let conn = unsafe { &*conn };
        let info = EncapInfo {
            id: vid,
            hdr_size: 0,
        };
        self.tx_flood(conn, &info, m, &list);
        self.tx_exit();
        true
    }

    /// Deliver a received frame up (the mux's last step). `false` (frame
    /// dropped) if the device is stopping.
    pub(crate) fn rx_deliver(&self, m: MsgBlk, inject: bool) -> bool {
        if !self.rx_enter(inject) {
            return false;
        }
        let len = m.len();
        self.rx_finish(m, len, inject);
        true
    }

    /// Register one receive as in-flight (`IN_RX`); false if the device is
    /// stopping or not in its mux (unless `inject`). While it is in flight
    /// `m_stop` waits, so the device stays in its mux.
    pub(crate) fn rx_enter(&self, inject: bool) -> bool {
        self.io.rxcount.fetch_add(1, Ordering::SeqCst);
        if !inject && !self.io.open.load(Ordering::SeqCst) {
            self.io_done(OVERLAY_F_IN_RX);
            return false;
        }
        true
    }

    /// End an in-flight receive that [`Self::rx_enter`] began without
    /// delivering anything (the frame was dropped after demux).
    pub(crate) fn rx_cancel(&self) {
        self.io_done(OVERLAY_F_IN_RX);
    }

    /// Deliver `m` (`len` bytes, its length) up after a successful
    /// [`Self::rx_enter`] and end the in-flight receive.
    pub(crate) fn rx_finish(&self, m: MsgBlk, len: usize, inject: bool) {
        let len = len as u64;
        match self.mac.get() {
            Some(mac) => {
                if inject {
                    inc(&self.stats.rx_injected);
                } else {
                    inc(&self.stats.rx_frames);
                    add(&self.stats.rx_bytes, len);
                }
                self.ovl.platform.mac_rx(mac, MsgBlkChain::single(m));
            }
            None => drop(m),
        }
        self.io_done(OVERLAY_F_IN_RX);
    }
}

impl<P: Platform> MuxDev for OverlayDev<P> {
    fn rx_enter(&self) -> bool {
        OverlayDev::rx_enter(self, false)
    }

    fn ecn_decap(&self) -> bool {
        self.inst.ecn_decap()
    }

    fn rx_cancel(&self) {
        OverlayDev::rx_cancel(self)
    }

    fn rx_finish(&self, m: MsgBlk, len: usize) {
        OverlayDev::rx_finish(self, m, len, false)
    }
}

/// A transient hold on a device (`overlay_hold_by_dlid` … `overlay_hold_rele`):
/// DELETE fails `EBUSY` while another exists. Released on drop, so no error
/// path can leak one (§16 #1, #8).
pub(crate) struct DevHold<P: Platform>(pub(crate) Arc<OverlayDev<P>>);

impl<P: Platform> core::ops::Deref for DevHold<P> {
    type Target = Arc<OverlayDev<P>>;
    fn deref(&self) -> &Arc<OverlayDev<P>> {
        &self.0
    }
}

impl<P: Platform> Drop for DevHold<P> {
    fn drop(&mut self) {
        let mut st = self.0.st.lock();
        st.refs -= 1;
    }
}

impl OverlayPlugin {
    pub(crate) fn rele_active(&self) {
        self.active_counter().fetch_sub(1, Ordering::Relaxed);
    }
}

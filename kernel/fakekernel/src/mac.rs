//! The MAC layer: overlays as MAC providers, VNICs as MAC clients on TAPs.
//!
//! Theory of operation (a small GLDv3): when the driver creates an overlay
//! device it registers a MAC provider here (`mac_register`), keyed by the
//! overlay's link id, with its max SDU. A VNIC is a MAC client of one
//! provider, backed by a [`Tap`] with its own MAC address. The first client
//! starts the provider (`mc_start`: the driver joins its underlay mux; the
//! error, e.g. `EADDRINUSE`, fails the VNIC creation), the last one to leave
//! stops it (`mc_stop`). Unregistering a provider that still has clients is
//! `EBUSY`, which is what deleting an overlay with VNICs reports.
//!
//! Transmit (a frame read from a VNIC's TAP): frames between VNICs of the
//! same overlay and VLAN are switched locally; broadcast and multicast go
//! to every other local VNIC of the VLAN and to `mc_tx`; unicast to a
//! local VNIC's address on the VLAN goes to that VNIC only; everything else
//! goes to `mc_tx`. Receive (`mac_rx` from the driver): classified by
//! (VLAN id, destination MAC), broadcast and multicast to every VNIC of the
//! VLAN, unicast to the VNIC with that address and VLAN, else a counted
//! drop. Each TAP has a reader thread; deliveries are non-blocking TAP
//! writes.
//!
//! VLANs ([`crate::vlan`]): a VNIC has a VLAN id (1-4094) or none (0). A
//! VLAN VNIC's TAP carries untagged frames; what it sends gets an 802.1Q
//! tag with its id on the way to `mc_tx` (a frame it tags itself is a
//! counted drop), and a tagged frame from the driver reaches the VNICs of
//! the tag's id without the tag. Untagged (and priority-tagged) frames go
//! to the VNICs without a VLAN id only. An untagged VNIC's own tagged frame
//! goes out as it is and locally to the VNICs of its tag's id.
//!
//! Offloads ([`crate::offload`], [`crate::tso`], [`crate::gro`]): a TAP
//! hands its reader TCP segments of up to 64 KiB (TSO) and frames with
//! unfinished checksums. The reader finishes checksums, switches a TSO
//! frame to a local VNIC whole, and otherwise cuts it to wire size and
//! adds each piece to the burst's chain for `mc_tx` as it is cut. Frames
//! for the driver are built in pooled buffers ([`crate::bufpool`]) and
//! collected in chains over lent lists ([`crate::txchain`]), so the
//! reader allocates nothing per frame. Each burst of reads is one `mc_tx`
//! call per provider (up to [`crate::txchain::CHAIN_MAX`] frames) and one
//! transmit batch ([`crate::txbatch`]): the driver's sends during it
//! leave in a few `sendmmsg`/UDP GSO calls. On receive, the underlay's thread marks itself
//! as batching ([`Mac::rx_batching`]); `mac_rx` on it merges in-order TCP
//! segments of one flow for one VNIC ([`crate::gro::Gro`]) and writes
//! the merged frame at the end of the underlay's batch ([`Mac::rx_flush`]),
//! before any other frame, so nothing is reordered.

mod tx;

use crate::bufpool;
use crate::gro::Gro;
pub use crate::provider::ProviderOps;
use crate::readbuf::{ReadBuf, READ_DB_CAP, READ_DB_PREFILL};
use crate::rxcsum::{rx_finish_partial, rx_gso_hdr};
use crate::stackreply::answered_by_stack;
use crate::stats::{Stat, Stats};
use crate::tap::{StopFd, Tap};
use crate::txbatch;
use crate::txchain::{self, TxChain};
use crate::txlock::{TxGuard, TxLock};
use crate::vlan::{frame_vid, tag_strip_in_place};
use overlay::MsgBlk;
use overlay_sys::errno::{EBUSY, EEXIST, ENOENT};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use tx::send_now;

/// A provider's clients and callbacks, as the data path reads them.
type Snap = (Arc<Vec<Arc<Client>>>, Arc<dyn ProviderOps>);
use std::thread::JoinHandle;

/// VNICs an underlay thread remembers writing to in one batch, so it can
/// read their replies at the end of it ([`Mac::rx_flush`]).
const RX_TOUCHED: usize = 4;

/// Frames an underlay thread reads from one VNIC's TAP at the end of a
/// batch (the replies its writes produced); the rest is the TAP reader's.
const RX_REPLY_BURST: usize = 8;

/// The receive-side coalescing state of an underlay thread.
#[derive(Default)]
struct RxCoalesce {
    on: bool,
    gro: Gro,
    to: Option<Arc<Client>>,
    /// The VNICs written to in this batch (the first [`RX_TOUCHED`]),
    /// each with whether we hold its `txlock`.
    touched: [Option<(Arc<Client>, bool)>; RX_TOUCHED],
}

impl RxCoalesce {
    /// Notes a write to `c` about to happen; takes its `txlock` if free,
    /// before the write wakes its reader (which, on an idle CPU, would
    /// otherwise be there first).
    fn touch(&mut self, c: &Arc<Client>) {
        if !self.on {
            return;
        }
        for t in self.touched.iter_mut() {
            match t {
                Some((p, _)) if Arc::ptr_eq(p, c) => return,
                Some(_) => {}
                None => {
                    *t = Some((Arc::clone(c), c.txlock.try_lock()));
                    return;
                }
            }
        }
    }
}

thread_local! {
    static RXC: RefCell<RxCoalesce> = RefCell::new(RxCoalesce::default());
    /// An underlay thread's buffer for reading replies from TAPs
    /// (allocated on first use, kept for the thread's life).
    static REPLY_BUF: RefCell<Option<ReadBuf>> = const { RefCell::new(None) };
}

/// Writes out the pending merged frame, if any.
fn rx_flush_locked(g: &mut RxCoalesce, stats: &Stats) {
    if let Some(c) = g.to.take() {
        let segs = g.gro.segs();
        if segs > 1 {
            stats.bump(Stat::VnicGroFrames);
            stats.add(Stat::VnicGroSegments, u64::from(segs));
        }
        count_write(c.tap.write_parts(g.gro.finish()), stats);
        g.gro.clear();
    }
}

/// One MAC client: a VNIC on a TAP.
#[derive(Debug)]
pub struct Client {
    pub linkid: u32,
    pub over: u32,
    pub mac: [u8; 6],
    pub mac_type: u32,
    pub mtu: u32,
    pub flags: u32,
    /// The VLAN id (1-4094), or 0 for an untagged VNIC.
    pub vid: u16,
    tap: Tap,
    stop: StopFd,
    reader: Mutex<Option<JoinHandle<()>>>,
    /// Held by whichever thread reads the TAP, from the read until what
    /// it read has been sent (the transmit batch's flush), so the TAP's
    /// frames leave in the order read: its reader thread takes it when
    /// the TAP is readable, an underlay thread only when it is free.
    txlock: TxLock,
}

impl Client {
    /// The TAP's name (the VNIC's name).
    pub fn name(&self) -> &str {
        self.tap.name()
    }

    fn deliver(&self, frame: &[u8], stats: &Stats) {
        count_write(self.tap.write(frame), stats);
    }

    /// Delivers a message, its blocks gathered by one `writev`.
    fn deliver_msg(&self, m: &MsgBlk, stats: &Stats) {
        if m.nblocks() == 1 {
            self.deliver(m.first(), stats);
        } else {
            count_write(self.tap.write_parts(m.blocks()), stats);
        }
    }

    /// Delivers a buffer that starts with its own vnet header.
    fn deliver_vnet(&self, buf: &[u8], stats: &Stats) {
        count_write(self.tap.write_vnet(buf), stats);
    }
}

fn count_write(r: Result<(), i32>, stats: &Stats) {
    match r {
        Ok(()) => {}
        Err(libc::EIO) => stats.bump(Stat::VnicWriteDown),
        Err(libc::EAGAIN) | Err(libc::ENOBUFS) => stats.bump(Stat::VnicWriteFull),
        Err(_) => stats.bump(Stat::VnicWriteErrors),
    }
}

struct Provider {
    ops: Arc<dyn ProviderOps>,
    mtu: u32,
    started: bool,
    clients: Arc<Vec<Arc<Client>>>,
}

/// The MAC layer.
pub struct Mac {
    providers: Mutex<HashMap<u32, Provider>>,
    /// Readers take a snapshot of a provider's client list from here
    /// without holding the provider lock.
    snap: RwLock<HashMap<u32, Snap>>,
    stats: Arc<Stats>,
}

impl std::fmt::Debug for Mac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mac").finish_non_exhaustive()
    }
}

fn is_group(mac: &[u8]) -> bool {
    mac.first().is_some_and(|b| b & 1 != 0)
}

const ETHER_HDR: usize = 14;

impl Mac {
    /// A MAC layer with no providers.
    pub fn new(stats: Arc<Stats>) -> Arc<Mac> {
        Arc::new(Mac {
            providers: Mutex::new(HashMap::new()),
            snap: RwLock::new(HashMap::new()),
            stats,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Provider>> {
        self.providers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish(&self, linkid: u32, pr: Option<&Provider>) {
        let mut s = self.snap.write().unwrap_or_else(|e| e.into_inner());
        match pr {
            Some(pr) => s.insert(linkid, (Arc::clone(&pr.clients), Arc::clone(&pr.ops))),
            None => s.remove(&linkid),
        };
    }

    fn clients_of(&self, linkid: u32) -> Option<Arc<Vec<Arc<Client>>>> {
        self.clients_and_ops(linkid).map(|(c, _)| c)
    }

    fn clients_and_ops(&self, linkid: u32) -> Option<Snap> {
        self.snap
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&linkid)
            .cloned()
    }

    /// `mac_register`: the overlay `linkid` becomes a provider.
    pub fn register(&self, linkid: u32, mtu: u32, ops: Arc<dyn ProviderOps>) -> Result<(), i32> {
        let mut p = self.lock();
        if p.contains_key(&linkid) {
            return Err(EEXIST);
        }
        p.insert(
            linkid,
            Provider {
                ops,
                mtu,
                started: false,
                clients: Arc::new(Vec::new()),
            },
        );
        self.publish(linkid, p.get(&linkid));
        Ok(())
    }

    /// `mac_unregister`: `EBUSY` while clients exist.
    pub fn unregister(&self, linkid: u32) -> Result<(), i32> {
        let mut p = self.lock();
        match p.get(&linkid) {
            None => Err(ENOENT),
            Some(pr) if !pr.clients.is_empty() => Err(EBUSY),
            Some(_) => {
                p.remove(&linkid);
                self.publish(linkid, None);
                Ok(())
            }
        }
    }

    /// `mac_maxsdu_update`.
    pub fn set_mtu(&self, linkid: u32, mtu: u32) -> Result<(), i32> {
        let mut p = self.lock();
        let pr = p.get_mut(&linkid).ok_or(ENOENT)?;
        pr.mtu = mtu;
        Ok(())
    }

    /// The provider's MTU, if it exists.
    pub fn mtu(&self, linkid: u32) -> Option<u32> {
        self.lock().get(&linkid).map(|p| p.mtu)
    }

    /// Whether `linkid` is a registered provider.
    pub fn is_provider(&self, linkid: u32) -> bool {
        self.lock().contains_key(&linkid)
    }

    /// Opens a client on provider `over` for an already created TAP.
    /// Starts the provider if this is its first client; on a start error
    /// nothing is kept (the TAP is closed).
    #[allow(clippy::too_many_arguments)]
    pub fn add_client(
        self: &Arc<Self>,
        over: u32,
        linkid: u32,
        tap: Tap,
        mac: [u8; 6],
        mac_type: u32,
        mtu: u32,
        flags: u32,
        vid: u16,
    ) -> Result<Arc<Client>, i32> {
        let stop = StopFd::new().map_err(|_| overlay_sys::errno::ENOMEM)?;
        let client = Arc::new(Client {
            linkid,
            over,
            mac,
            mac_type,
            mtu,
            flags,
            vid,
            tap,
            stop,
            reader: Mutex::new(None),
            txlock: TxLock::default(),
        });
        // Callers serialise client changes (fkoverlayd's VNIC lock), so the
        // start decision cannot race another add or remove. The client is
        // listed before mc_start, so mac_unregister sees EBUSY meanwhile;
        // mc_start itself runs without our lock held (it takes driver
        // locks, and the driver calls mac_register with its own held).
        let start_ops = {
            let mut p = self.lock();
            let pr = p.get_mut(&over).ok_or(ENOENT)?;
            let mut v: Vec<Arc<Client>> = pr.clients.as_ref().clone();
            v.push(Arc::clone(&client));
            pr.clients = Arc::new(v);
            let ops = (!pr.started).then(|| Arc::clone(&pr.ops));
            self.publish(over, Some(pr));
            ops
        };
        if let Some(ops) = start_ops {
            if let Err(e) = ops.m_start() {
                self.unlist(&client);
                return Err(e);
            }
            let mut p = self.lock();
            if let Some(pr) = p.get_mut(&over) {
                pr.started = true;
            }
        }
        let me = Arc::clone(self);
        let c2 = Arc::clone(&client);
        let h = std::thread::Builder::new()
            .name(format!("tap {}", client.name()))
            .spawn(move || me.reader(c2));
        match h {
            Ok(h) => {
                *client.reader.lock().unwrap_or_else(|e| e.into_inner()) = Some(h);
                Ok(client)
            }
            Err(_) => {
                self.remove_client(&client);
                Err(overlay_sys::errno::ENOMEM)
            }
        }
    }

    /// Closes a client: stops its reader, removes it, and stops the
    /// provider if it was the last one. The TAP goes when the last
    /// reference to the client drops.
    pub fn remove_client(&self, client: &Arc<Client>) {
        client.stop.signal();
        let h = client
            .reader
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(h) = h {
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
        if let Some(ops) = self.unlist(client) {
            ops.m_stop();
        }
    }

    /// Removes a client from its provider's list; returns the provider's
    /// ops if it was the last client of a started provider (which is then
    /// marked stopped: the caller runs mc_stop, without our lock held).
    fn unlist(&self, client: &Arc<Client>) -> Option<Arc<dyn ProviderOps>> {
        let mut p = self.lock();
        let pr = p.get_mut(&client.over)?;
        let v: Vec<Arc<Client>> = pr
            .clients
            .iter()
            .filter(|c| !Arc::ptr_eq(c, client))
            .cloned()
            .collect();
        pr.clients = Arc::new(v);
        self.publish(client.over, Some(pr));
        if pr.clients.is_empty() && pr.started {
            pr.started = false;
            return Some(Arc::clone(&pr.ops));
        }
        None
    }

    /// `mac_rx`: a frame the driver delivers up on overlay `linkid`. A
    /// same-host peer's partial inner checksum is finished first
    /// ([`crate::rxcsum`]). The message is ours: receive coalescing may
    /// keep it until the end of the underlay's batch.
    pub fn rx(&self, linkid: u32, mut m: MsgBlk) {
        self.stats.bump(Stat::MacRxFrames);
        if m.len() < ETHER_HDR {
            self.stats.bump(Stat::MacRxRunt);
            return;
        }
        let Some(clients) = self.clients_of(linkid) else {
            self.stats.bump(Stat::MacRxNoClient);
            return;
        };
        if m.nblocks() > 1 {
            // Classification, checksum finishing and coalescing read the
            // frame as one block (the driver hands up one block per
            // datagram; a frame in pieces is rare).
            self.stats.add(Stat::CopyBytes, m.len() as u64);
            if !m.pullup(0) {
                self.stats.bump(Stat::MacRxRunt);
                return;
            }
        }
        match frame_vid(m.first()) {
            None => {
                self.rx_classify(&clients, 0, m);
            }
            Some(_) if m.len() < ETHER_HDR + crate::vlan::VLAN_TAGSZ => {
                self.stats.bump(Stat::MacRxRunt);
            }
            Some(vid) => {
                // The driver's buffer is ours: the tag goes in place.
                tag_strip_in_place(m.first_region_mut());
                m.strip(crate::vlan::VLAN_TAGSZ);
                if self.rx_classify(&clients, vid, m) && vid != 0 {
                    self.stats.bump(Stat::VlanRxUntagged);
                }
            }
        }
    }

    /// Delivers `m` (untagged) of VLAN `vid` to the VNICs it is for;
    /// false if it was dropped.
    fn rx_classify(&self, clients: &[Arc<Client>], vid: u16, mut m: MsgBlk) -> bool {
        let frame = m.first_region_mut();
        let group = is_group(&frame[0..6]);
        let to = clients
            .iter()
            .find(|c| c.mac == frame[0..6] && c.vid == vid);
        if let Some(c) = to.filter(|_| !group) {
            if let Some(h) = rx_gso_hdr(frame, c.mtu) {
                // A same-host sender's TSO frame: up whole, in order.
                self.rx_flush_gro();
                self.stats.bump(Stat::MacRxGsoPartial);
                count_write(c.tap.write_hdr(&h.bytes(), frame), &self.stats);
                return true;
            }
        }
        if rx_finish_partial(frame) {
            self.stats.bump(Stat::MacRxCsumPartial);
        }
        // Whether to read the answer on this thread (Mac::rx_replies).
        let answered = answered_by_stack(frame);
        if group {
            self.rx_flush_gro();
            let mut any = false;
            for c in clients.iter().filter(|c| c.vid == vid) {
                if answered {
                    RXC.with(|g| g.borrow_mut().touch(c));
                }
                c.deliver_msg(&m, &self.stats);
                any = true;
            }
            if !any {
                self.stats.bump(Stat::MacRxVlanDrops);
            }
            any
        } else if let Some(c) = to {
            if answered {
                RXC.with(|g| g.borrow_mut().touch(c));
            }
            self.deliver_coalesced(c, m);
            true
        } else {
            if clients.iter().any(|c| c.vid == vid) {
                self.stats.bump(Stat::MacRxNoClient);
            } else {
                self.stats.bump(Stat::MacRxVlanDrops);
            }
            false
        }
    }

    /// Marks the calling thread (an underlay receive thread) as one that
    /// calls [`Mac::rx_flush`] at the end of each batch, so `mac_rx` on
    /// it may hold TCP segments back to merge them.
    pub fn rx_batching() {
        RXC.with(|g| g.borrow_mut().on = true);
    }

    /// The end of an underlay thread's batch: writes out what this
    /// thread's `mac_rx` calls merged, then sends the replies its writes
    /// produced ([`Mac::rx_replies`]).
    pub fn rx_flush(&self) {
        self.rx_flush_gro();
        self.rx_replies();
    }

    /// Writes out what this thread's `mac_rx` calls merged.
    fn rx_flush_gro(&self) {
        RXC.with(|g| rx_flush_locked(&mut g.borrow_mut(), &self.stats));
    }

    /// Sends what the VNICs written to in this batch have queued.
    ///
    /// A TAP write runs the Linux stack above the VNIC at once, so what it
    /// answers without waiting for a process (an ICMP echo reply, an ARP
    /// reply, a TCP ACK, or data an ACK let go) is already in the TAP's
    /// queue when the write returns. Reading it here, and sending it on
    /// this thread, spares a wake-up of the TAP's reader thread on the
    /// way (the reader the write woke finds the TAP empty, and its
    /// `poll(2)` goes back to sleep; this thread's short time slice,
    /// [`crate::slice`], keeps that reader from preempting it first).
    /// The TAP's `txlock` was taken, if free, before the first write
    /// ([`RxCoalesce::touch`]) and is held until what was read is sent
    /// (the transmit batch's flush), so a TAP's frames leave in the order
    /// read whichever thread reads them; at most [`RX_REPLY_BURST`]
    /// frames per VNIC, so a busy TAP stays its reader's.
    fn rx_replies(&self) {
        for i in 0..RX_TOUCHED {
            let Some((c, owned)) = RXC.with(|g| g.borrow_mut().touched[i].take()) else {
                break;
            };
            if !owned {
                continue;
            }
            let _own = TxGuard::adopt(&c.txlock);
            REPLY_BUF.with(|b| {
                let mut b = b.borrow_mut();
                let rb = b.get_or_insert_with(|| {
                    // As a TAP reader has (see Mac::reader), on first use.
                    txchain::prefill();
                    bufpool::prefill_db(READ_DB_CAP, READ_DB_PREFILL);
                    ReadBuf::new()
                });
                let mut pend = TxChain::new();
                txbatch::begin();
                for i in 0..RX_REPLY_BURST {
                    match c.tap.read(rb.room()) {
                        Ok(Some(n)) => {
                            self.stats.bump(Stat::TapRxFrames);
                            self.stats.bump(Stat::TapRxReplyFrames);
                            self.client_tx_vnet(&c, &mut rb.db, n, &mut pend);
                            if i == 0 {
                                send_now(&mut pend);
                            }
                        }
                        Ok(None) => break,
                        Err(_) => {
                            // Counted and handled by the TAP's reader.
                            break;
                        }
                    }
                }
                pend.send();
                txbatch::flush();
            });
        }
    }

    /// Unicast delivery to `c`, merged with the pending frame when this
    /// thread batches and the frame continues it.
    fn deliver_coalesced(&self, c: &Arc<Client>, m: MsgBlk) {
        RXC.with(|g| {
            let mut g = g.borrow_mut();
            let g = &mut *g;
            if !g.on {
                c.deliver_msg(&m, &self.stats);
                return;
            }
            let mut m = m;
            if let Some(p) = &g.to {
                if Arc::ptr_eq(p, c) {
                    match g.gro.append(m) {
                        Ok(()) => {
                            if g.gro.must_flush() {
                                rx_flush_locked(g, &self.stats);
                            }
                            return;
                        }
                        Err(back) => m = back,
                    }
                }
                rx_flush_locked(g, &self.stats);
            }
            match g.gro.start(m) {
                Ok(()) => {
                    g.to = Some(Arc::clone(c));
                    if g.gro.must_flush() {
                        rx_flush_locked(g, &self.stats);
                    }
                }
                Err(m) => c.deliver_msg(&m, &self.stats),
            }
        });
    }

    /// Every client of every provider.
    pub fn all_clients(&self) -> Vec<Arc<Client>> {
        let p = self.lock();
        let mut v: Vec<Arc<Client>> = p
            .values()
            .flat_map(|pr| pr.clients.iter().cloned())
            .collect();
        v.sort_by_key(|c| c.linkid);
        v
    }
}

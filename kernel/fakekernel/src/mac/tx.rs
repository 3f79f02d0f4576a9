//! The MAC layer's transmit side: a VNIC's TAP reader and the frames it
//! sends.
//!
//! Theory of operation: each VNIC has a reader thread that waits for its
//! TAP to be readable and then reads bursts of up to [`TX_BURST`] frames,
//! holding the VNIC's `txlock` (an underlay receive thread may read the
//! same TAP for the answers the stack gives by itself). Each frame is
//! switched locally first ([`Mac::switch_tx`]): to the other VNICs of its
//! VLAN when it is broadcast or multicast, to one local VNIC when it is
//! unicast to one; what is left joins the burst's chain for `mc_tx`
//! ([`TxChain`]) without a copy: its headers in a pooled header block,
//! its payload in the read buffer. TSO frames are cut into wire-size
//! segments as they go ([`segment_tcp`]). The first frame of a wake-up
//! leaves at once; the rest of the burst leaves together, in one `mc_tx`
//! chain and one transmit batch ([`crate::txbatch`]).

use super::{is_group, Client, Mac, ProviderOps, ETHER_HDR};
use crate::bufpool;
use crate::offload::{complete_csum, VnetHdr, F_NEEDS_CSUM, GSO_NONE, VNET_HDR_LEN};
use crate::readbuf::{ReadBuf, READ_DB_CAP, READ_DB_PREFILL};
use crate::stats::Stat;
use crate::tap::wait_readable;
use crate::tso::{frame_msg, segment_tcp};
use crate::txbatch;
use crate::txchain::{self, TxChain};
use crate::vlan::{frame_vid, tag_insert, tag_strip};
use overlay::dblk_vec::Dblk;
use overlay::{MsgBlk, FRAME_HEADROOM};
use std::sync::Arc;

/// Frames a TAP reader handles before it flushes its transmit batch.
const TX_BURST: usize = 64;

/// Sends what `pend` and the transmit batch hold, and goes on batching:
/// the first frame of a wake-up leaves at once, before the read that
/// finds the TAP empty (or the frames that follow it, which are
/// batched).
pub(super) fn send_now(pend: &mut TxChain) {
    pend.send();
    txbatch::flush();
    txbatch::begin();
}

impl Mac {
    /// The TAP reader: everything the VNIC sends, in bursts of up to
    /// [`TX_BURST`] frames per transmit batch.
    pub(super) fn reader(self: Arc<Self>, client: Arc<Client>) {
        let mut pend = TxChain::new();
        // Frames in flight on this thread: at most a chain for mc_tx and
        // a transmit batch's queue (each frame, or TSO segment, joins the
        // chain as it is built; a full chain goes to the driver, whose
        // sends join the queue; a full queue is sent and its buffers
        // freed). Standard frames; jumbo frames fill their class as they
        // come.
        bufpool::prefill(
            FRAME_HEADROOM + 1518,
            txbatch::MAX_QUEUED + txchain::CHAIN_MAX + 2,
        );
        txchain::prefill();
        // The read buffers those frames' payloads stay in.
        bufpool::prefill_db(READ_DB_CAP, READ_DB_PREFILL);
        let mut rb = ReadBuf::new();
        crate::alloccount::mark_datapath_thread();
        while wait_readable(client.tap.raw_fd(), &client.stop) {
            let mut more = true;
            let mut first = true;
            while more {
                let _own = client.txlock.lock();
                txbatch::begin();
                for _ in 0..TX_BURST {
                    match client.tap.read(rb.room()) {
                        Ok(Some(n)) => {
                            self.stats.bump(Stat::TapRxFrames);
                            self.client_tx_vnet(&client, &mut rb.db, n, &mut pend);
                            if first {
                                send_now(&mut pend);
                                first = false;
                            }
                        }
                        Ok(None) => {
                            more = false;
                            break;
                        }
                        Err(libc::EBADFD) => {
                            // The device is gone while we hold the
                            // descriptor (the zone's namespace was
                            // deleted); it stays readable with an error
                            // forever, so stop reading.
                            self.stats.bump(Stat::TapRxErrors);
                            tracing::warn!(vnic = %client.name(), "TAP device gone; no longer reading it");
                            pend.send();
                            txbatch::flush();
                            return;
                        }
                        Err(_) => {
                            self.stats.bump(Stat::TapRxErrors);
                            more = false;
                            break;
                        }
                    }
                }
                pend.send();
                txbatch::flush();
            }
        }
    }

    /// A buffer read from a VNIC's TAP (`db.tail()[..n]`): vnet header,
    /// then the frame. What goes to `mc_tx` references the frame's payload
    /// in `db` (its headers in a pooled header block): nothing is copied.
    pub(super) fn client_tx_vnet(&self, src: &Client, db: &mut Dblk, n: usize, pend: &mut TxChain) {
        let Some(h) = VnetHdr::parse(&db.tail()[..n]) else {
            self.stats.bump(Stat::TapRxRunt);
            return;
        };
        let (off, len) = (VNET_HDR_LEN, n - VNET_HDR_LEN);
        if h.gso_type == GSO_NONE {
            let f = &mut db.tail_mut()[off..n];
            if h.flags & F_NEEDS_CSUM != 0 && complete_csum(f, &h).is_err() {
                self.stats.bump(Stat::TapRxOffloadDrops);
                return;
            }
            let Some(ops) = self.switch_tx(src, &db.tail()[off..n]) else {
                return;
            };
            let Some((m, copied)) = frame_msg(db, off, len, FRAME_HEADROOM) else {
                self.stats.bump(Stat::TapRxRunt);
                return;
            };
            self.stats.add(Stat::CopyBytes, copied as u64);
            self.tx_tagged(src, &ops, m, pend, Stat::TapRxRunt);
            return;
        }
        // A TSO frame.
        let buf = &db.tail()[..n];
        let f = &buf[off..];
        if f.len() < ETHER_HDR {
            self.stats.bump(Stat::TapRxRunt);
            return;
        }
        let Some((clients, ops)) = self.clients_and_ops(src.over) else {
            self.stats.bump(Stat::OverlayDownDrops);
            return;
        };
        let dst = &f[0..6];
        let user_tagged = frame_vid(f).is_some();
        if src.vid != 0 && user_tagged {
            self.stats.bump(Stat::TapRxVlanDrops);
            return;
        }
        if !is_group(dst) && !user_tagged {
            if let Some(c) = clients.iter().find(|c| c.mac == dst && c.vid == src.vid) {
                // Local: the other TAP takes the TSO frame as it is.
                if c.linkid != src.linkid {
                    self.stats.bump(Stat::LocalUnicast);
                    c.deliver_vnet(buf, &self.stats);
                }
                return;
            }
        }
        // Each segment goes on as soon as it is cut (segment_tcp fails
        // only before the first one): a header block and its payload in
        // the read buffer.
        let group = is_group(dst);
        let mut segs = 0u64;
        let r = segment_tcp(db, off, len, &h, FRAME_HEADROOM, |m| {
            segs += 1;
            if group {
                // TCP to a group address: odd, but handle it like any
                // frame (flat, in a pooled buffer).
                self.stats.add(Stat::CopyBytes, m.len() as u64);
                let mut parts: [&[u8]; overlay::msgblk_vec::MAX_BLKS] = Default::default();
                for (p, b) in parts.iter_mut().zip(m.blocks()) {
                    *p = b;
                }
                let flat = bufpool::msgblk(0, &parts);
                self.client_tx_to(src, flat.first(), Some(&mut *pend));
                return;
            }
            self.stats.bump(Stat::ToOverlay);
            // Segmented (and checksummed) untagged; the tag goes in last.
            self.tx_tagged(src, &ops, m, pend, Stat::TapRxOffloadDrops);
        });
        if r.is_err() {
            self.stats.bump(Stat::TapRxOffloadDrops);
            return;
        }
        self.stats.bump(Stat::TapTsoFrames);
        self.stats.add(Stat::TapTsoSegments, segs);
    }

    /// Queues `m` for `mc_tx`, with the tag of `src`'s VLAN if it has one
    /// (a tag that cannot be inserted is counted in `fail`).
    fn tx_tagged(
        &self,
        src: &Client,
        ops: &Arc<dyn ProviderOps>,
        mut m: MsgBlk,
        pend: &mut TxChain,
        fail: Stat,
    ) {
        if src.vid != 0 {
            if !tag_insert(&mut m, src.vid) {
                self.stats.bump(fail);
                return;
            }
            self.stats.bump(Stat::VlanTxTagged);
        }
        pend.push(ops, m);
    }

    /// A frame sent by a VNIC: local switching, else `mc_tx`.
    pub fn client_tx(&self, src: &Client, frame: &[u8]) {
        self.client_tx_to(src, frame, None);
    }

    /// [`Mac::client_tx`], collecting what goes to `mc_tx` in `pend` if
    /// given.
    fn client_tx_to(&self, src: &Client, frame: &[u8], pend: Option<&mut TxChain>) {
        let Some(ops) = self.switch_tx(src, frame) else {
            return;
        };
        if pend.is_some() {
            self.stats.add(Stat::CopyBytes, frame.len() as u64);
        }
        if src.vid != 0 {
            let mut m = bufpool::msgblk(FRAME_HEADROOM, &[frame]);
            if !tag_insert(&mut m, src.vid) {
                self.stats.bump(Stat::TapRxRunt);
                return;
            }
            self.stats.bump(Stat::VlanTxTagged);
            match pend {
                Some(p) => p.push(&ops, m),
                None => ops.m_tx(m.first()),
            }
            return;
        }
        match pend {
            Some(p) => p.push(&ops, bufpool::msgblk(FRAME_HEADROOM, &[frame])),
            None => ops.m_tx(frame),
        }
    }

    /// Local switching of a frame a VNIC sent: delivers it to the local
    /// VNICs it is for; the provider's ops if it goes to `mc_tx` too.
    fn switch_tx(&self, src: &Client, frame: &[u8]) -> Option<Arc<dyn ProviderOps>> {
        if frame.len() < ETHER_HDR {
            self.stats.bump(Stat::TapRxRunt);
            return None;
        }
        let Some((clients, ops)) = self.clients_and_ops(src.over) else {
            self.stats.bump(Stat::OverlayDownDrops);
            return None;
        };
        let user_vid = frame_vid(frame);
        if src.vid != 0 && user_vid.is_some() {
            self.stats.bump(Stat::TapRxVlanDrops);
            return None;
        }
        // The VLAN the frame is on, and what local VNICs get (untagged).
        let vid = if src.vid != 0 {
            src.vid
        } else {
            user_vid.unwrap_or(0)
        };
        let stripped;
        let local: &[u8] = if user_vid.is_some() {
            let mut v = Vec::new();
            tag_strip(frame, &mut v);
            stripped = v;
            &stripped
        } else {
            frame
        };
        let dst = &frame[0..6];
        if is_group(dst) {
            for c in clients
                .iter()
                .filter(|c| c.linkid != src.linkid && c.vid == vid)
            {
                self.stats.bump(Stat::LocalFlood);
                c.deliver(local, &self.stats);
            }
        } else if let Some(c) = clients.iter().find(|c| c.mac == dst && c.vid == vid) {
            if c.linkid != src.linkid {
                self.stats.bump(Stat::LocalUnicast);
                c.deliver(local, &self.stats);
            }
            return None;
        }
        self.stats.bump(Stat::ToOverlay);
        Some(ops)
    }
}

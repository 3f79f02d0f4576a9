//! The mux (`overlay_mux.c`): one underlay socket per distinct (domain,
//! type, protocol, bound address) shared by every started device whose
//! plugin asks for it, demultiplexing received datagrams by vnetid.
//!
//! Opening (from `m_start`) joins an existing mux with the same key, or
//! creates the socket through the host ([`Platform::socket_open`]), applies
//! the plugin's optional `sockopt` once, and publishes it. A key owned by a
//! different plugin is `EEXIST` (§16 #6: the original returned it with the
//! global lock still held). The last device to stop closes the socket.
//!
//! Receive ([`OverlayMux::recv`], called by the host for each datagram):
//! clear hardware-checksum flags, plugin `decap`, strip the header, find the
//! device by vnetid (a `BTreeMap`, O(log n)), and deliver up if it is
//! started. Every drop is counted in [`MuxStats`].
//!
//! Hosts that can read the outer IP header's TOS / traffic-class byte pass
//! it with [`OverlayMux::recv_tos`]; an outer ECT(1) or CE is then applied
//! to the inner packet by RFC 6040 ([`crate::ecn`]) unless the device's
//! plugin instance turned ECN off. [`OverlayMux::recv`] is an outer
//! Not-ECT, which changes nothing (illumos' behaviour).
//!
//! The mux sits below the device: it is generic over the device type,
//! which it knows only as a `MuxDev` — the four receive-side operations a
//! started device hands it when it joins (`add_dev`) — so the receive
//! path calls them directly, not through a trait object. The crate root
//! names the one instance, [`crate::OverlayMux`].

use crate::ecn::{ecn_decap_frame, outer_ecn_matters, EcnDecap};
use crate::errno::Errno;
use crate::kmutex::KMutex;
use crate::msgblk::MsgBlk;
use crate::platform::{Platform, SocketParams};
use crate::plugin::{EncapInstance, OverlayPlugin};
use crate::stats::{inc, MuxCounters, MuxStats};
use crate::{MuxHandle, Overlay};
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::marker::PhantomData;

/// What the mux needs of a device that joined it: the receive-side half
/// of the device's in-flight accounting and delivery.
pub(crate) trait MuxDev: Send + Sync {
    /// Register one receive as in flight; false (nothing registered) if
    /// the device is stopping.
    fn rx_enter(&self) -> bool;
    /// Whether RFC 6040 decapsulation is on for this device.
    fn ecn_decap(&self) -> bool;
    /// End an in-flight receive that delivered nothing.
    fn rx_cancel(&self);
    /// Deliver `m` (`len` bytes) up and end the in-flight receive.
    fn rx_finish(&self, m: MsgBlk, len: usize);
}

/// One mux of devices `D`; hosts receive a [`MuxHandle`](crate::MuxHandle)
/// in `socket_open` and call [`OverlayMux::recv`] with every datagram.
// `MuxDev` stays crate-private: hosts use the one instance the crate root
// names, and must not reach a device's receive accounting.
#[allow(private_bounds)]
pub struct OverlayMux<P: Platform, D: MuxDev> {
    pub(crate) plugin: Arc<OverlayPlugin>,
    pub(crate) params: SocketParams,
    devs: KMutex<BTreeMap<u64, Arc<D>>>,
    stats: MuxStats,
    /// The host the mux belongs to (its socket is a `P::Socket`).
    _host: PhantomData<P>,
}

/// A mux together with its socket; what a started device holds.
pub(crate) struct MuxConn<P: Platform, D: MuxDev> {
    pub mux: Arc<OverlayMux<P, D>>,
    pub sock: P::Socket,
}

/// The global mux list entry: the connection and its device count.
pub(crate) struct MuxEnt<P: Platform, D: MuxDev> {
    conn: Arc<MuxConn<P, D>>,
    refcnt: u32,
}

pub(crate) type MuxList<P, D> = Vec<MuxEnt<P, D>>;

#[allow(private_bounds)]
impl<P: Platform, D: MuxDev> OverlayMux<P, D> {
    /// Handle one received datagram (the UDP payload) whose outer header
    /// is unknown or Not-ECT. Always consumes it.
    #[inline]
    pub fn recv(&self, msg: MsgBlk) {
        self.recv_tos(msg, 0)
    }

    /// Handle one received datagram (the UDP payload) that arrived with
    /// outer TOS / traffic class `outer_tos`. Always consumes it.
    pub fn recv_tos(&self, mut msg: MsgBlk, outer_tos: u8) {
        msg.clear_hcksum();
        let info = match self.plugin.ops.decap(&msg) {
            Ok(i) => i,
            Err(_) => {
                if msg.len() < 8 {
                    inc(&self.stats.rx_drop_short);
                } else {
                    inc(&self.stats.rx_drop_decap);
                }
                return;
            }
        };
        // The length once (a walk over the blocks), for this test and the
        // device's byte count.
        let len = if msg.strip(info.hdr_size) {
            msg.len()
        } else {
            0
        };
        if len == 0 {
            inc(&self.stats.rx_drop_empty);
            return;
        }
        // Demux and register the receive as in-flight under the mux lock
        // (lock order: mux devices → device), then deliver without it.
        let dev: *const D = {
            let devs = self.devs.lock();
            let Some(d) = devs.get(&info.id) else {
                drop(devs);
                inc(&self.stats.rx_drop_unknown_vnetid);
                return;
            };
            if !d.rx_enter() {
                drop(devs);
                inc(&self.stats.rx_drop_not_started);
                return;
            }
            &**d
        };
        // SAFETY: the map holds an Arc to the device until `remove_dev`,
        // which `m_stop` calls only after waiting for IN_RX to clear, and
        // that happens in `rx_finish`'s last step; so the device outlives
        // this borrow. Borrowing instead of cloning the Arc saves two
        // atomic operations per datagram.
        let dev = unsafe { &*dev };
        if outer_ecn_matters(outer_tos) && dev.ecn_decap() && !self.ecn(&mut msg, outer_tos) {
            inc(&self.stats.rx_drop_ecn);
            dev.rx_cancel();
            return;
        }
        inc(&self.stats.rx_ok);
        dev.rx_finish(msg, len);
    }

    /// RFC 6040 on the inner frame; false if it must be dropped.
    fn ecn(&self, msg: &mut MsgBlk, outer_tos: u8) -> bool {
        // The inner Ethernet (with a tag) and IP headers: 18 + 40.
        const HDRS: usize = 58;
        let r = match msg.first_mut() {
            Some(f) => ecn_decap_frame(outer_tos, f),
            None => EcnDecap::Unparsed,
        };
        let r = if r == EcnDecap::Unparsed {
            // Split or shared headers: decide on a copy. A mark goes in
            // with the headers, copied into a fresh block in front (a
            // shared block is not written).
            let mut h = [0u8; HDRS];
            let n = msg.copy_out(0, &mut h);
            match ecn_decap_frame(outer_tos, &mut h[..n]) {
                // n <= the frame's length, so the strip succeeds; the
                // headers are gone then, so a failed allocation drops.
                EcnDecap::Marked(v) if msg.strip(n) => match msg.prepend(n, 0, n) {
                    Some(d) => {
                        d.copy_from_slice(&h[..n]);
                        EcnDecap::Marked(v)
                    }
                    None => EcnDecap::Drop,
                },
                EcnDecap::Marked(_) => EcnDecap::Unparsed,
                r => r,
            }
        } else {
            r
        };
        match r {
            EcnDecap::Unchanged => true,
            EcnDecap::Marked(_) => {
                inc(&self.stats.rx_ecn_marked);
                true
            }
            EcnDecap::Unparsed => {
                inc(&self.stats.rx_ecn_unwritable);
                true
            }
            EcnDecap::Drop => false,
        }
    }

    /// Receive counters.
    pub fn stats(&self) -> MuxCounters {
        self.stats.snapshot()
    }

    /// The socket parameters (the mux key).
    pub fn params(&self) -> &SocketParams {
        &self.params
    }

    /// Number of devices in the mux.
    pub fn ndevs(&self) -> usize {
        self.devs.lock().len()
    }

    /// The encapsulation plugin's name.
    pub fn encap_name(&self) -> &'static str {
        self.plugin.name
    }

    pub(crate) fn add_dev(&self, vid: u64, dev: Arc<D>) -> Result<(), Errno> {
        let mut d = self.devs.lock();
        if d.contains_key(&vid) {
            return Err(Errno::EEXIST);
        }
        d.insert(vid, dev);
        Ok(())
    }

    /// Remove `dev` (compared by address) if it is the device at `vid`.
    pub(crate) fn remove_dev(&self, vid: u64, dev: *const D) {
        let mut d = self.devs.lock();
        if d.get(&vid)
            .is_some_and(|x| core::ptr::eq(Arc::as_ptr(x), dev))
        {
            d.remove(&vid);
        }
    }
}

/// `overlay_mux_open` on the global mux `list`: join the mux bound to
/// `params`, or create one — its socket from `open` (the host's
/// `socket_open`, which needs the device type the crate root fixes) and the
/// plugin's optional `sockopt` applied once — and publish it.
pub(crate) fn mux_open<P: Platform, D: MuxDev>(
    list: &KMutex<MuxList<P, D>>,
    platform: &P,
    plugin: &Arc<OverlayPlugin>,
    params: &SocketParams,
    inst: &dyn EncapInstance,
    open: impl FnOnce(&Arc<OverlayMux<P, D>>) -> Result<P::Socket, Errno>,
) -> Result<Arc<MuxConn<P, D>>, Errno> {
    let mut l = list.lock();
    if let Some(ent) = l.iter_mut().find(|e| e.conn.mux.params == *params) {
        if !Arc::ptr_eq(&ent.conn.mux.plugin, plugin) {
            return Err(Errno::EEXIST);
        }
        ent.refcnt += 1;
        return Ok(ent.conn.clone());
    }
    let mux = Arc::new(OverlayMux {
        plugin: plugin.clone(),
        params: *params,
        devs: KMutex::new(BTreeMap::new()),
        stats: MuxStats::default(),
        _host: PhantomData,
    });
    let sock = open(&mux)?;
    let mut set =
        |level: i32, name: i32, val: &[u8]| platform.socket_setopt(&sock, level, name, val);
    if let Err(e) = inst.sockopt(&mut set) {
        platform.socket_close(sock);
        return Err(e);
    }
    let conn = Arc::new(MuxConn { mux, sock });
    l.push(MuxEnt {
        conn: conn.clone(),
        refcnt: 1,
    });
    Ok(conn)
}

/// `overlay_mux_close` on the global mux `list`: drop one device's
/// reference; the last closes the socket.
pub(crate) fn mux_close<P: Platform, D: MuxDev>(
    list: &KMutex<MuxList<P, D>>,
    platform: &P,
    conn: Arc<MuxConn<P, D>>,
) {
    let last = {
        let mut l = list.lock();
        let Some(i) = l.iter().position(|e| Arc::ptr_eq(&e.conn, &conn)) else {
            return;
        };
        l[i].refcnt -= 1;
        if l[i].refcnt == 0 {
            Some(l.remove(i))
        } else {
            None
        }
    };
    drop(conn);
    if let Some(ent) = last {
        // Any in-flight transmit has finished (stop waited for it), so
        // this is the last reference to the connection.
        match Arc::try_unwrap(ent.conn) {
            Ok(c) => platform.socket_close(c.sock),
            Err(_) => debug_assert!(false, "mux connection still referenced at close"),
        }
    }
}

impl<P: Platform> Overlay<P> {
    /// Number of open muxes.
    pub fn nmuxes(&self) -> usize {
        self.muxes.lock().len()
    }

    /// The open muxes (for hosts and tests).
    pub fn muxes(&self) -> Vec<MuxHandle<P>> {
        self.muxes
            .lock()
            .iter()
            .map(|e| e.conn.mux.clone())
            .collect()
    }
}

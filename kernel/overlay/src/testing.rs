//! A recording fake [`Platform`] for tests (this crate's and other
//! crates'): every MAC and socket call is logged, sends are captured,
//! datagrams can be delivered to a bound mux, and failures can be injected.
//!
//! For benchmarks it has two quiet modes (`discard_sends`): sends and
//! deliveries freed at once and counted with one relaxed atomic each; or,
//! with `local_counts` as well, counted per thread (no atomic per packet)
//! and added up by [`FakePlatform::flush_counts`].

use crate::errno::Errno;
use crate::msgblk::{MsgBlk, MsgBlkChain};
use crate::platform::{MacRegistration, Platform, SockaddrIn6, SocketParams, TxHdr};
use crate::{DevHandle, MuxHandle};
use std::cell::Cell;
use std::sync::Mutex;
use std::vec::Vec;

std::thread_local! {
    /// Sends this thread made since its last flush (`local_counts`).
    static TXN: Cell<u64> = const { Cell::new(0) };
    /// Frames this thread delivered up since its last flush.
    static RXN: Cell<u64> = const { Cell::new(0) };
}

/// One recorded call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    MacRegister(u32),
    MacUnregister(u32),
    LinkUpdate(u32, bool),
    MaxSdu(u32, u32),
    SocketOpen(SocketParams),
    SocketSetopt(i32, i32, Vec<u8>),
    SocketClose(SocketParams),
    FmImpact(bool),
}

/// The fake's MAC handle.
#[derive(Debug)]
pub struct FakeMac {
    pub linkid: u32,
    pub reg: MacRegistration,
}

/// The fake's socket.
#[derive(Debug)]
pub struct FakeSocket {
    pub id: u64,
    pub params: SocketParams,
}

struct Bound {
    id: u64,
    params: SocketParams,
    mux: MuxHandle<FakePlatform>,
}

/// The recording fake.
#[derive(Default)]
pub struct FakePlatform {
    /// Every call, in order.
    pub events: Mutex<Vec<Event>>,
    /// Datagrams sent: (destination, payload).
    pub sent: Mutex<Vec<(SockaddrIn6, Vec<u8>)>>,
    /// The outer header values of each datagram in `sent`, in order.
    pub sent_hdrs: Mutex<Vec<TxHdr>>,
    /// Frames delivered up: (linkid, frame).
    pub rx: Mutex<Vec<(u32, Vec<u8>)>>,
    /// Devices registered (to reach their callbacks).
    pub devs: Mutex<Vec<DevHandle<FakePlatform>>>,
    /// Fail the next `mac_register` with this errno.
    pub fail_mac_register: Mutex<Option<Errno>>,
    /// Fail `mac_unregister` with this errno (persistently).
    pub fail_mac_unregister: Mutex<Option<Errno>>,
    /// Fail `mac_maxsdu_update` with this errno.
    pub fail_maxsdu: Mutex<Option<Errno>>,
    /// Fail the next `socket_open` with this errno.
    pub fail_socket_open: Mutex<Option<Errno>>,
    /// Fail `socket_setopt` with this errno.
    pub fail_setopt: Mutex<Option<Errno>>,
    /// Fail `socket_send` with this errno.
    pub fail_send: Mutex<Option<Errno>>,
    /// Benchmark mode: do not record sends or deliveries, just count them;
    /// `io_hook`, `fail_send` and the recording are skipped, so the
    /// fake costs two relaxed atomics per packet.
    pub discard_sends: std::sync::atomic::AtomicBool,
    /// With `discard_sends`: count sends and deliveries per thread
    /// instead of with an atomic each; they reach `nsent`/`nrx` at
    /// [`FakePlatform::flush_counts`].
    pub local_counts: std::sync::atomic::AtomicBool,
    /// Number of sends.
    pub nsent: std::sync::atomic::AtomicU64,
    /// Number of frames delivered up.
    pub nrx: std::sync::atomic::AtomicU64,
    /// Called at the start of every `mac_rx` and `socket_send` (tests use
    /// it to hold a frame "in flight").
    #[allow(clippy::type_complexity)]
    pub io_hook: Mutex<Option<std::sync::Arc<dyn Fn() + Send + Sync>>>,
    bound: Mutex<Vec<Bound>>,
    next_id: std::sync::atomic::AtomicU64,
}

impl FakePlatform {
    pub fn new() -> Self {
        Self::default()
    }

    /// The recorded events.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// Take the captured sends.
    pub fn take_sent(&self) -> Vec<(SockaddrIn6, Vec<u8>)> {
        core::mem::take(&mut *self.sent.lock().unwrap())
    }

    /// Take the outer header values of the captured sends.
    pub fn take_sent_hdrs(&self) -> Vec<TxHdr> {
        core::mem::take(&mut *self.sent_hdrs.lock().unwrap())
    }

    /// Deliver a datagram payload with outer TOS `tos` to the socket bound
    /// at `addr`; false if none is bound there.
    pub fn deliver_tos(&self, addr: &SockaddrIn6, payload: &[u8], tos: u8) -> bool {
        match self.mux_at(addr) {
            Some(m) => {
                m.recv_tos(MsgBlk::with_headroom(payload), tos);
                true
            }
            None => false,
        }
    }

    /// Take the frames delivered up.
    pub fn take_rx(&self) -> Vec<(u32, Vec<u8>)> {
        core::mem::take(&mut *self.rx.lock().unwrap())
    }

    /// Number of sockets currently open.
    pub fn nsockets(&self) -> usize {
        self.bound.lock().unwrap().len()
    }

    /// The mux of the open socket whose bound address is `addr`.
    pub fn mux_at(&self, addr: &SockaddrIn6) -> Option<MuxHandle<FakePlatform>> {
        self.bound
            .lock()
            .unwrap()
            .iter()
            .find(|b| b.params.addr == *addr)
            .map(|b| b.mux.clone())
    }

    /// Deliver a datagram payload to the socket bound at `addr`; false if
    /// none is bound there.
    pub fn deliver(&self, addr: &SockaddrIn6, payload: &[u8]) -> bool {
        match self.mux_at(addr) {
            Some(m) => {
                m.recv(MsgBlk::with_headroom(payload));
                true
            }
            None => false,
        }
    }

    /// `local_counts` mode: add this thread's sends and deliveries since
    /// its last flush to `nsent` and `nrx`. The counts are per thread, not
    /// per platform: flush before a thread moves on to another platform.
    pub fn flush_counts(&self) {
        use std::sync::atomic::Ordering;
        self.nsent.fetch_add(TXN.replace(0), Ordering::Relaxed);
        self.nrx.fetch_add(RXN.replace(0), Ordering::Relaxed);
    }

    fn hook(&self) {
        let h = self.io_hook.lock().unwrap().clone();
        if let Some(h) = h {
            h();
        }
    }

    fn ev(&self, e: Event) {
        self.events.lock().unwrap().push(e);
    }
}

impl Platform for FakePlatform {
    type Mac = FakeMac;
    type Socket = FakeSocket;

    fn mac_register(&self, dev: &DevHandle<Self>, reg: &MacRegistration) -> Result<FakeMac, Errno> {
        if let Some(e) = self.fail_mac_register.lock().unwrap().take() {
            return Err(e);
        }
        self.ev(Event::MacRegister(reg.linkid));
        self.devs.lock().unwrap().push(dev.clone());
        Ok(FakeMac {
            linkid: reg.linkid,
            reg: reg.clone(),
        })
    }

    fn mac_unregister(&self, mac: &FakeMac) -> Result<(), Errno> {
        if let Some(e) = *self.fail_mac_unregister.lock().unwrap() {
            return Err(e);
        }
        self.ev(Event::MacUnregister(mac.linkid));
        self.devs
            .lock()
            .unwrap()
            .retain(|d| d.linkid() != mac.linkid);
        Ok(())
    }

    fn mac_link_update(&self, mac: &FakeMac, up: bool) {
        self.ev(Event::LinkUpdate(mac.linkid, up));
    }

    fn mac_maxsdu_update(&self, mac: &FakeMac, sdu: u32) -> Result<(), Errno> {
        if let Some(e) = *self.fail_maxsdu.lock().unwrap() {
            return Err(e);
        }
        self.ev(Event::MaxSdu(mac.linkid, sdu));
        Ok(())
    }

    fn mac_rx(&self, mac: &FakeMac, chain: MsgBlkChain) {
        use std::sync::atomic::Ordering;
        if self.discard_sends.load(Ordering::Relaxed) {
            if self.local_counts.load(Ordering::Relaxed) {
                RXN.set(RXN.get() + chain.len() as u64);
            } else {
                self.nrx.fetch_add(chain.len() as u64, Ordering::Relaxed);
            }
            return;
        }
        self.hook();
        for m in chain {
            self.nrx.fetch_add(1, Ordering::Relaxed);
            self.rx.lock().unwrap().push((mac.linkid, m.to_vec()));
        }
    }

    fn socket_open(
        &self,
        params: &SocketParams,
        mux: &MuxHandle<Self>,
    ) -> Result<FakeSocket, Errno> {
        if let Some(e) = self.fail_socket_open.lock().unwrap().take() {
            return Err(e);
        }
        let mut b = self.bound.lock().unwrap();
        if b.iter().any(|x| x.params.addr == params.addr) {
            return Err(Errno::EADDRINUSE);
        }
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        b.push(Bound {
            id,
            params: *params,
            mux: mux.clone(),
        });
        drop(b);
        self.ev(Event::SocketOpen(*params));
        Ok(FakeSocket {
            id,
            params: *params,
        })
    }

    fn socket_setopt(
        &self,
        _s: &FakeSocket,
        level: i32,
        name: i32,
        val: &[u8],
    ) -> Result<(), Errno> {
        if let Some(e) = *self.fail_setopt.lock().unwrap() {
            return Err(e);
        }
        self.ev(Event::SocketSetopt(level, name, val.to_vec()));
        Ok(())
    }

    fn socket_send(
        &self,
        _s: &FakeSocket,
        dst: &SockaddrIn6,
        msg: MsgBlk,
        hdr: TxHdr,
    ) -> Result<(), Errno> {
        use std::sync::atomic::Ordering;
        if self.discard_sends.load(Ordering::Relaxed) {
            drop(msg);
            if self.local_counts.load(Ordering::Relaxed) {
                TXN.set(TXN.get() + 1);
            } else {
                self.nsent.fetch_add(1, Ordering::Relaxed);
            }
            return Ok(());
        }
        self.hook();
        if let Some(e) = *self.fail_send.lock().unwrap() {
            return Err(e);
        }
        self.nsent.fetch_add(1, Ordering::Relaxed);
        self.sent.lock().unwrap().push((*dst, msg.to_vec()));
        self.sent_hdrs.lock().unwrap().push(hdr);
        Ok(())
    }

    fn socket_close(&self, s: FakeSocket) {
        self.bound.lock().unwrap().retain(|b| b.id != s.id);
        self.ev(Event::SocketClose(s.params));
    }

    fn fm_service_impact(&self, degraded: bool) {
        self.ev(Event::FmImpact(degraded));
    }
}

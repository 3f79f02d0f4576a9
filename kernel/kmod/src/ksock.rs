//! The underlay: one kernel UDP socket per mux (overlay_mux.c, spec
//! kernel.md §10.4, §14.5).
//!
//! `open` creates the socket with the kernel's credential (the driver is
//! not netstack-aware), binds it to the plugin's address and installs
//! [`overlay_mux_recv`] as its direct receive callback
//! (`ksocket_krecv_set`), whose argument is the mux. The `KSocket` keeps a
//! counted reference to the mux, so the callback's pointer stays valid
//! until `close` (`ksocket_close` returns only once no callback is
//! running).
//!
//! Received datagrams arrive as a `b_next` chain; each is an M_PROTO block
//! holding a `T_unitdata_ind` (the sender's address, unused) followed by
//! the payload in `b_cont`. We drop the M_PROTO block and hand the payload
//! with the outer traffic class its options carry (`IPV6_RECVTCLASS` is
//! set at open) to the driver's `OverlayMux::recv_tos`, which decapsulates,
//! applies RFC 6040 and delivers.
//! Anything else is freed and counted in [`RX_DROP_NOT_UNITDATA`].
//!
//! Sends use `ksocket_sendmblk` with `MSG_DONTWAIT`: a clogged socket
//! returns `EAGAIN` at once rather than blocking the MAC transmit path; on
//! any error what remains of the message is freed (datagram semantics).
//! A datagram whose outer TOS or TTL is not the socket's default carries
//! `IPV6_TCLASS` / `IPV6_HOPLIMIT` ancillary data (illumos `cmsghdr`s,
//! 12-byte header, 4-byte alignment on amd64); UDP applies them to the
//! v4-mapped (IPv4) case too (`udp_output_ancillary`).
//!
//! Generic over the driver's `Platform` (the mux a socket feeds belongs to
//! one), so the host that names the platform ([`crate::platform`]) picks
//! it and this module never reaches back up to it.

use crate::sys::cred::kcred;
use crate::sys::ksocket::*;
use crate::sys::stream::*;
use crate::sys::types::*;
use crate::tpi::unitdata_payload;
use crate::tpi::{IPPROTO_IPV6, IPV6_TCLASS};
use core::ptr;
use core::sync::atomic::{AtomicU64, Ordering};
use overlay::{Errno, MsgBlk, MuxHandle, OverlayMux, Platform, SockaddrIn6, SocketParams, TxHdr};

/// illumos `IPV6_RECVTCLASS` and `IPV6_HOPLIMIT` (netinet/in.h).
const IPV6_RECVTCLASS: c_int = 0x19;
const IPV6_HOPLIMIT: u32 = 0x0c;

/// Received messages that were not a `T_unitdata_ind` with data.
pub static RX_DROP_NOT_UNITDATA: AtomicU64 = AtomicU64::new(0);

/// One open underlay socket, feeding a mux of platform `P`.
pub struct KSocket<P: Platform> {
    ks: ksocket_t,
    /// Keeps the receive callback's argument alive.
    _mux: MuxHandle<P>,
}

// SAFETY: ksocket_t operations are MT-safe; the handle is not mutated; the
// mux reference is itself Send.
unsafe impl<P: Platform> Send for KSocket<P> where MuxHandle<P>: Send {}
// SAFETY: as above, with a Sync mux reference.
unsafe impl<P: Platform> Sync for KSocket<P> where MuxHandle<P>: Sync {}

fn sin6(a: &SockaddrIn6) -> sockaddr_in6 {
    sockaddr_in6 {
        sin6_family: a.family,
        sin6_port: a.port_be,
        sin6_flowinfo: a.flowinfo,
        sin6_addr: a.addr.s6_addr,
        sin6_scope_id: a.scope_id,
        __sin6_src_id: 0,
    }
}

fn kcr() -> *mut cred_t {
    // SAFETY: kcred is set at boot and never changes.
    unsafe { kcred }
}

/// `ksocket_socket` + `ksocket_bind` + `ksocket_krecv_set`.
pub fn open<P: Platform>(p: &SocketParams, mux: &MuxHandle<P>) -> Result<KSocket<P>, Errno> {
    let mut ks: ksocket_t = ptr::null_mut();
    // SAFETY: ks is a valid out-pointer; the numbers are illumos'.
    let e = unsafe { ksocket_socket(&mut ks, p.domain, p.stype, p.protocol, KSOCKET_SLEEP, kcr()) };
    if e != 0 {
        return Err(Errno(e));
    }
    let sa = sin6(&p.addr);
    // SAFETY: ks is open; sa is a complete sockaddr_in6 of the given size.
    let e = unsafe {
        ksocket_bind(
            ks,
            (&sa as *const sockaddr_in6).cast(),
            core::mem::size_of::<sockaddr_in6>() as socklen_t,
            kcr(),
        )
    };
    if e != 0 {
        // SAFETY: closes the socket opened above.
        unsafe { ksocket_close(ks, kcr()) };
        return Err(Errno(e));
    }
    // The outer traffic class with each datagram (RFC 6040); without it
    // the driver sees every datagram as Not-ECT, illumos' behaviour.
    let on: c_int = 1;
    // SAFETY: ks is open; `on` is a readable int for the call.
    let _ = unsafe {
        ksocket_setsockopt(
            ks,
            IPPROTO_IPV6 as c_int,
            IPV6_RECVTCLASS,
            (&on as *const c_int).cast(),
            core::mem::size_of::<c_int>() as c_int,
            kcr(),
        )
    };
    let mux = mux.clone();
    let arg = alloc::sync::Arc::as_ptr(&mux) as *mut c_void;
    // SAFETY: the callback's argument is the mux, kept alive by the
    // KSocket until after ksocket_close, and the callback is the one
    // instantiated for its platform P.
    let e = unsafe { ksocket_krecv_set(ks, Some(overlay_mux_recv::<P>), arg) };
    if e != 0 {
        // SAFETY: as above.
        unsafe { ksocket_close(ks, kcr()) };
        return Err(Errno(e));
    }
    Ok(KSocket { ks, _mux: mux })
}

/// `ksocket_setsockopt` (the plugin's `sockopt`, e.g. `UDP_SRCPORT_HASH`).
pub fn setopt<P: Platform>(s: &KSocket<P>, level: i32, name: i32, val: &[u8]) -> Result<(), Errno> {
    let len = c_int::try_from(val.len()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: val is readable for len bytes for the duration of the call.
    let e = unsafe { ksocket_setsockopt(s.ks, level, name, val.as_ptr().cast(), len, kcr()) };
    if e == 0 {
        Ok(())
    } else {
        Err(Errno(e))
    }
}

/// `ksocket_sendmblk(MSG_DONTWAIT)` to `dst` (overlay_mux_tx).
pub fn send<P: Platform>(
    s: &KSocket<P>,
    dst: &SockaddrIn6,
    msg: MsgBlk,
    hdr: TxHdr,
) -> Result<(), Errno> {
    let mut sa = sin6(dst);
    // Up to two illumos cmsghdrs (len, level, type) with an int each.
    let mut ctrl = [0u32; 8];
    let mut clen = 0usize;
    for (name, v) in [(IPV6_TCLASS, hdr.tos), (IPV6_HOPLIMIT, hdr.ttl)] {
        if v != 0 {
            ctrl[clen..clen + 4].copy_from_slice(&[16, IPPROTO_IPV6, name, u32::from(v)]);
            clen += 4;
        }
    }
    let mut mh = msghdr {
        msg_name: (&mut sa as *mut sockaddr_in6).cast(),
        msg_namelen: core::mem::size_of::<sockaddr_in6>() as socklen_t,
        msg_iov: ptr::null_mut(),
        msg_iovlen: 0,
        msg_control: if clen == 0 {
            ptr::null_mut()
        } else {
            ctrl.as_mut_ptr().cast()
        },
        msg_controllen: (clen * 4) as socklen_t,
        msg_flags: 0,
    };
    let mut mp = msg.into_raw().cast::<mblk_t>();
    // SAFETY: mh, sa and ctrl live across the call; ksocket_sendmblk takes
    // the message and leaves in `mp` whatever it did not send.
    let e = unsafe { ksocket_sendmblk(s.ks, &mut mh, MSG_DONTWAIT, &mut mp, kcr()) };
    if e != 0 {
        if !mp.is_null() {
            // SAFETY: what is left is still ours; a datagram is never
            // retried in part.
            unsafe { freemsg(mp) };
        }
        return Err(Errno(e));
    }
    Ok(())
}

/// `ksocket_close`; then the mux reference is released.
pub fn close<P: Platform>(s: KSocket<P>) {
    // SAFETY: the socket is open; ksocket_close waits for running
    // callbacks, after which none can start.
    unsafe { ksocket_close(s.ks, kcr()) };
    drop(s);
}

/// The ksocket direct-receive callback (overlay_mux_recv).
unsafe extern "C" fn overlay_mux_recv<P: Platform>(
    _ks: ksocket_t,
    chain: *mut mblk_t,
    _msgsize: size_t,
    _oob: c_int,
    arg: *mut c_void,
) -> boolean_t {
    // SAFETY: arg is the mux installed in open() (an OverlayMux<P>: open
    // installs this callback instantiated for the mux's platform), alive
    // until close().
    let mux = unsafe { &*(arg as *const OverlayMux<P>) };
    let mut mp = chain;
    while !mp.is_null() {
        // SAFETY: mp is a message of the chain ksocket handed us; we own it.
        let data = unsafe {
            let next = (*mp).b_next;
            (*mp).b_next = ptr::null_mut();
            let d = unitdata_payload(mp);
            mp = next;
            d
        };
        match data {
            // SAFETY: the payload is a message we own, now detached.
            Some((d, tos)) => match unsafe { MsgBlk::from_raw(d.cast()) } {
                Some(m) => mux.recv_tos(m, tos),
                None => {
                    RX_DROP_NOT_UNITDATA.fetch_add(1, Ordering::Relaxed);
                }
            },
            None => {
                RX_DROP_NOT_UNITDATA.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    B_TRUE
}

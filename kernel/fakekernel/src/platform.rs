//! [`FkPlatform`]: the driver's host services on Linux.
//!
//! Theory of operation: the `overlay` driver is generic over
//! [`overlay::Platform`]; this is the implementation fkoverlayd gives it.
//!
//! * MAC registration goes to our [`Mac`] layer, after the check
//!   `dls_devnet_create` makes through dlmgmtd: the link id must be an
//!   active link of class overlay (`ENOENT` otherwise). The registered
//!   provider's callbacks call the device's `m_start`/`m_stop`/`m_tx`.
//! * `mac_rx` hands each frame to the MAC layer, which classifies it by
//!   destination MAC among the overlay's VNICs.
//! * Underlay sockets are [`UdpSock`]s; their receive thread calls the
//!   mux's `recv`, which decapsulates. Linux errors are translated to
//!   illumos errnos before the driver sees them.

use crate::fkcmd::Links;
use crate::mac::{Mac, ProviderOps};
use crate::stats::Stats;
use crate::underlay::UdpSock;
use overlay::{
    DevHandle, Errno, MacRegistration, MsgBlk, MsgBlkChain, MuxHandle, Platform, SockaddrIn6,
    SocketParams, TxHdr,
};
use overlay_sys::consts::{IPPROTO_UDP, UDP_HASH_DISABLE, UDP_HASH_VXLAN, UDP_SRCPORT_HASH};
use std::net::{Ipv6Addr, SocketAddrV6};
use std::sync::{Arc, OnceLock};

/// illumos `AF_INET6`.
const ILLUMOS_AF_INET6: i32 = 26;
/// illumos `SOCK_DGRAM`.
const ILLUMOS_SOCK_DGRAM: i32 = 1;

/// The host services of fkoverlayd.
pub struct FkPlatform {
    mac: Arc<Mac>,
    links: OnceLock<Arc<Links>>,
    stats: Arc<Stats>,
}

impl std::fmt::Debug for FkPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FkPlatform").finish_non_exhaustive()
    }
}

impl FkPlatform {
    /// A platform over the MAC layer.
    pub fn new(mac: Arc<Mac>, stats: Arc<Stats>) -> FkPlatform {
        FkPlatform {
            mac,
            links: OnceLock::new(),
            stats,
        }
    }

    /// Connects the link table (once, before any device is created).
    pub fn set_links(&self, links: Arc<Links>) {
        let _ = self.links.set(links);
    }
}

/// One MAC registration: the provider's link id.
#[derive(Debug)]
pub struct FkMacReg {
    linkid: u32,
}

/// The device's MAC callbacks, as the MAC layer calls them.
struct DevOps(DevHandle<FkPlatform>);

impl ProviderOps for DevOps {
    fn m_start(&self) -> Result<(), i32> {
        self.0.m_start().map_err(|e| e.get())
    }

    fn m_stop(&self) {
        self.0.m_stop()
    }

    fn m_tx_chain(&self, chain: MsgBlkChain) {
        self.0.m_tx(chain)
    }

    fn m_tx(&self, frame: &[u8]) {
        // One copy, with headroom for the encapsulation header.
        self.0
            .m_tx(MsgBlkChain::single(MsgBlk::with_headroom(frame)))
    }
}

fn to_std(a: &SockaddrIn6) -> SocketAddrV6 {
    SocketAddrV6::new(
        Ipv6Addr::from(a.addr.s6_addr),
        a.port(),
        a.flowinfo,
        a.scope_id,
    )
}

impl Platform for FkPlatform {
    type Mac = FkMacReg;
    type Socket = UdpSock;

    fn mac_register(
        &self,
        dev: &DevHandle<Self>,
        reg: &MacRegistration,
    ) -> Result<FkMacReg, Errno> {
        if let Some(l) = self.links.get() {
            l.overlay_link(reg.linkid).map_err(Errno)?;
        }
        self.mac
            .register(reg.linkid, reg.max_sdu, Arc::new(DevOps(Arc::clone(dev))))
            .map_err(Errno)?;
        Ok(FkMacReg { linkid: reg.linkid })
    }

    fn mac_unregister(&self, mac: &FkMacReg) -> Result<(), Errno> {
        self.mac.unregister(mac.linkid).map_err(Errno)
    }

    fn mac_link_update(&self, mac: &FkMacReg, up: bool) {
        tracing::debug!(linkid = mac.linkid, up, "link state");
    }

    fn mac_maxsdu_update(&self, mac: &FkMacReg, sdu: u32) -> Result<(), Errno> {
        self.mac.set_mtu(mac.linkid, sdu).map_err(Errno)
    }

    fn mac_rx(&self, mac: &FkMacReg, chain: MsgBlkChain) {
        for m in chain {
            self.mac.rx(mac.linkid, m);
        }
    }

    fn socket_open(&self, params: &SocketParams, mux: &MuxHandle<Self>) -> Result<UdpSock, Errno> {
        if params.domain != ILLUMOS_AF_INET6 || params.stype != ILLUMOS_SOCK_DGRAM {
            return Err(Errno::EAFNOSUPPORT);
        }
        let local = to_std(&params.addr);
        let mut s = UdpSock::bind(local, Arc::clone(&self.stats)).map_err(Errno)?;
        // The send sockets for UDP_SRCPORT_HASH, which the plugin sets
        // next (see socket_setopt).
        s.open_pool();
        let mux = Arc::clone(mux);
        let mac = Arc::clone(&self.mac);
        s.start_rx(
            move |m, _src, tos| {
                Mac::rx_batching();
                // The datagram's slice of the receive buffer (no copy),
                // decapsulated in place; the buffer goes back to the
                // pool once every message over it is freed.
                mux.recv_tos(m, tos)
            },
            move || mac.rx_flush(),
        )
        .map_err(|_| Errno::ENOMEM)?;
        tracing::info!(%local, "underlay socket bound");
        Ok(s)
    }

    fn socket_setopt(&self, s: &UdpSock, level: i32, name: i32, val: &[u8]) -> Result<(), Errno> {
        if level == IPPROTO_UDP && name == UDP_SRCPORT_HASH {
            // illumos UDP: an int, UDP_HASH_DISABLE or UDP_HASH_VXLAN.
            let v = <[u8; 4]>::try_from(val)
                .map(i32::from_ne_bytes)
                .map_err(|_| Errno::EINVAL)?;
            return match v {
                UDP_HASH_DISABLE => {
                    s.set_srcport_hash(false);
                    Ok(())
                }
                UDP_HASH_VXLAN => {
                    s.set_srcport_hash(true);
                    Ok(())
                }
                _ => Err(Errno::EINVAL),
            };
        }
        tracing::debug!(level, name, "socket option ignored");
        Ok(())
    }

    fn socket_send(
        &self,
        s: &UdpSock,
        dst: &SockaddrIn6,
        msg: MsgBlk,
        hdr: TxHdr,
    ) -> Result<(), Errno> {
        s.send_msg(&to_std(dst), msg, hdr).map_err(Errno)
    }

    fn socket_close(&self, s: UdpSock) {
        tracing::info!(local = %s.local(), "underlay socket closed");
        drop(s);
    }

    fn fm_service_impact(&self, degraded: bool) {
        tracing::warn!(degraded, "FMA service impact");
    }
}

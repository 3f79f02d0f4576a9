//! The services the driver needs from its host, as a trait.
//!
//! The same driver runs in three hosts: the illumos kernel module (DDI,
//! GLDv3 `mac_*`, `dls_devnet_*`, ksocket), `fkoverlayd` on Linux (its own
//! MAC layer over TAP devices, real UDP sockets), and the tests
//! ([`crate::testing::FakePlatform`], which records every call). Each
//! implements [`Platform`]; the driver is generic over it, so the data path
//! makes direct (monomorphised) calls.
//!
//! Re-entrancy contract: `mac_register` and `mac_unregister` are called with
//! the global device-list lock held and must not call back into
//! [`crate::Overlay`]. `mac_rx` and `socket_send` are called with no driver
//! lock held and may call back (e.g. a host's MAC layer looping a frame).

use crate::errno::Errno;
use crate::msgblk::{MsgBlk, MsgBlkChain};
use crate::{DevHandle, MuxHandle};
use overlay_sys::in6_addr;

/// An IPv6 socket address (`struct sockaddr_in6` without the illumos-only
/// `__sin6_src_id`). IPv4 peers are IPv4-mapped. `port` holds the port
/// **in network byte order**, as in the C struct: use [`SockaddrIn6::port`]
/// for the host-order value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SockaddrIn6 {
    /// illumos `AF_INET6` (26).
    pub family: u16,
    /// Network byte order (`htons(port)`).
    pub port_be: u16,
    pub flowinfo: u32,
    pub addr: in6_addr,
    pub scope_id: u32,
}

impl SockaddrIn6 {
    /// An `AF_INET6` address with `port` given in host order.
    pub fn new(addr: in6_addr, port: u16) -> Self {
        SockaddrIn6 {
            family: overlay_sys::AF_INET6 as u16,
            port_be: port.to_be(),
            flowinfo: 0,
            addr,
            scope_id: 0,
        }
    }

    /// The port in host order.
    pub fn port(&self) -> u16 {
        u16::from_be(self.port_be)
    }

    /// The key image of the address (28 bytes, family/port/flowinfo/addr/
    /// scope in C layout, native-endian), as the mux compares sockaddrs.
    pub fn key_bytes(&self) -> [u8; 28] {
        let mut b = [0u8; 28];
        b[0..2].copy_from_slice(&self.family.to_ne_bytes());
        b[2..4].copy_from_slice(&self.port_be.to_ne_bytes());
        b[4..8].copy_from_slice(&self.flowinfo.to_ne_bytes());
        b[8..24].copy_from_slice(&self.addr.s6_addr);
        b[24..28].copy_from_slice(&self.scope_id.to_ne_bytes());
        b
    }
}

/// Per-datagram outer IP header values for [`Platform::socket_send`] (an
/// extension: illumos' ksocket sends leave both to the stack's defaults,
/// which is what zero means here).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TxHdr {
    /// The outer TOS byte (IPv4) or traffic class (IPv6): DSCP and ECN.
    pub tos: u8,
    /// The outer TTL / hop limit; 0 = the socket's default.
    pub ttl: u8,
}

/// What a plugin's `socket` op asks for (`ovpo_socket`): illumos numbers
/// (`AF_INET6` 26, `SOCK_DGRAM` 1, protocol 0); hosts translate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketParams {
    pub domain: i32,
    pub stype: i32,
    pub protocol: i32,
    pub addr: SockaddrIn6,
}

/// The values the driver registers with MAC for one device (§11.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MacRegistration {
    /// The datalink id (`dls_devnet_create`).
    pub linkid: u32,
    /// The creating caller's zone (`crgetzoneid`).
    pub zoneid: u32,
    /// Always `"mac_ether"` (`MAC_PLUGIN_IDENT_ETHER`).
    pub mac_type: &'static str,
    /// Fixed all-zero unicast address.
    pub src_addr: [u8; 6],
    pub min_sdu: u32,
    pub max_sdu: u32,
    pub multicast_sdu: u32,
    /// 4 (`VLAN_TAGSZ`) when the plugin has `OVEP_F_VLAN_TAG`, else 0.
    pub margin: u32,
    /// The device's encapsulation plugin name (informative).
    pub encap: &'static str,
}

/// Host services; see the module comment.
pub trait Platform: Send + Sync + Sized + 'static {
    /// One MAC registration (illumos: `mac_handle_t` plus the dls link).
    type Mac: Send + Sync;
    /// One underlay socket (illumos: `ksocket_t`).
    type Socket: Send + Sync;

    /// `mac_alloc` + `mac_register` + `dls_devnet_create`. `dev` is the
    /// driver-private handle whose MAC callbacks the host calls.
    fn mac_register(
        &self,
        dev: &DevHandle<Self>,
        reg: &MacRegistration,
    ) -> Result<Self::Mac, Errno>;
    /// `dls_devnet_destroy` + `mac_disable` + `mac_unregister`; `EBUSY` (or
    /// the link's error) if clients remain, in which case nothing changed.
    fn mac_unregister(&self, mac: &Self::Mac) -> Result<(), Errno>;
    /// `mac_link_update` (true = `LINK_STATE_UP`).
    fn mac_link_update(&self, mac: &Self::Mac, up: bool);
    /// `mac_maxsdu_update`.
    fn mac_maxsdu_update(&self, mac: &Self::Mac, sdu: u32) -> Result<(), Errno>;
    /// `mac_rx`: deliver received frames up the device. Consumes them.
    fn mac_rx(&self, mac: &Self::Mac, chain: MsgBlkChain);

    /// Create a socket, bind it to `params.addr` and install a receive
    /// callback that hands every datagram's payload to `mux.recv(msg)`, or
    /// `mux.recv_tos(msg, tos)` where the host can read the outer TOS /
    /// traffic class
    /// (illumos: `ksocket_socket` + `ksocket_bind` + `ksocket_krecv_set`).
    fn socket_open(
        &self,
        params: &SocketParams,
        mux: &MuxHandle<Self>,
    ) -> Result<Self::Socket, Errno>;
    /// `ksocket_setsockopt` (a plugin's `sockopt` op, e.g. `UDP_SRCPORT_HASH`
    /// at level `IPPROTO_UDP`); illumos numbers.
    fn socket_setopt(
        &self,
        s: &Self::Socket,
        level: i32,
        name: i32,
        val: &[u8],
    ) -> Result<(), Errno>;
    /// Send one datagram with `MSG_DONTWAIT` semantics: never blocks; on any
    /// error the message is gone (datagram semantics) and the error returned.
    /// `hdr` gives the outer TOS and TTL for this datagram (zero: the
    /// socket's defaults).
    fn socket_send(
        &self,
        s: &Self::Socket,
        dst: &SockaddrIn6,
        msg: MsgBlk,
        hdr: TxHdr,
    ) -> Result<(), Errno>;
    /// Stop callbacks and close (`ksocket_close`). After it returns the
    /// host must not call `recv` for this socket's mux.
    fn socket_close(&self, s: Self::Socket);

    /// `ddi_fm_service_impact(DDI_SERVICE_DEGRADED / RESTORED)`.
    fn fm_service_impact(&self, degraded: bool);
}

/// The credential of an ioctl or open caller, as the host judged it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cred {
    /// `secpolicy_dl_config(cred) == 0` (illumos: PRIV_SYS_DL_CONFIG or
    /// PRIV_SYS_NET_CONFIG; fkoverlayd: uid 0 or a configured uid).
    pub dl_config: bool,
    /// `crgetzoneid(cred)`; 0 = global zone.
    pub zoneid: u32,
}

impl Cred {
    /// A privileged caller in the global zone.
    pub const ROOT: Cred = Cred {
        dl_config: true,
        zoneid: 0,
    };
    /// An unprivileged caller in the global zone.
    pub const USER: Cred = Cred {
        dl_config: false,
        zoneid: 0,
    };
}

/// How the driver reaches the caller's memory for `/dev/overlay` ioctls
/// (illumos: `ddi_copyin`/`ddi_copyout` with the ioctl's mode;
/// fkoverlayd: the frame's inline argument and data bytes).
pub trait UserIo {
    /// The argument's length if the host knows it (fkoverlayd does).
    fn arg_len_hint(&self) -> Option<usize> {
        None
    }
    /// Copy `dst.len()` bytes of the ioctl argument from offset `off`
    /// (`EFAULT` if they are not all there).
    fn copyin_arg(&mut self, off: usize, dst: &mut [u8]) -> Result<(), Errno>;
    /// Copy `src` into the ioctl argument at offset `off`.
    fn copyout_arg(&mut self, off: usize, src: &[u8]) -> Result<(), Errno>;
    /// Copy from the user buffer `uaddr` (`otp_buf` of INJECT/RESEND).
    fn copyin_buf(&mut self, uaddr: u64, dst: &mut [u8]) -> Result<(), Errno>;
    /// Copy to the user buffer `uaddr` (`otp_buf` of PKT).
    fn copyout_buf(&mut self, uaddr: u64, src: &[u8]) -> Result<(), Errno>;
    /// The caller is an ILP32 process (`ddi_model_convert_from` says so).
    fn ilp32(&self) -> bool {
        false
    }
}

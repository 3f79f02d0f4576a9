//! sys/ksocket.h, sys/socket.h, netinet/in.h, netinet/udp.h: kernel
//! sockets.

use super::stream::mblk_t;
use super::types::*;

opaque!(ksocket_s);
/// `ksocket_t`.
pub type ksocket_t = *mut ksocket_s;

/// illumos socket constants (not Linux's).
pub const AF_INET: c_int = 2;
pub const AF_INET6: c_int = 26;
pub const SOCK_DGRAM: c_int = 1;
pub const IPPROTO_UDP: c_int = 17;
pub const MSG_DONTWAIT: c_int = 0x80;
/// `KSOCKET_SLEEP` = `SOCKET_SLEEP` = `KM_SLEEP`.
pub const KSOCKET_SLEEP: c_int = 0;
pub const KSOCKET_NOSLEEP: c_int = 1;

/// netinet/udp.h: UDP-level option selecting source-port hashing.
pub const UDP_SRCPORT_HASH: c_int = 0x0104;
pub const UDP_HASH_DISABLE: c_int = 0;
pub const UDP_HASH_VXLAN: c_int = 1;

/// `struct nmsghdr` (the kernel's `struct msghdr`).
#[repr(C)]
pub struct msghdr {
    pub msg_name: *mut c_void,
    pub msg_namelen: socklen_t,
    pub msg_iov: *mut c_void,
    pub msg_iovlen: c_int,
    pub msg_control: *mut c_void,
    pub msg_controllen: socklen_t,
    pub msg_flags: c_int,
}

/// The receive callback installed with `ksocket_krecv_set`: gets a chain
/// (b_next) of datagrams, each an M_PROTO `T_unitdata_ind` with the data in
/// b_cont. Returns whether it consumed them (always `B_TRUE` for us).
pub type ksocket_krecv_f = unsafe extern "C" fn(
    ks: ksocket_t,
    mp: *mut mblk_t,
    msgsize: size_t,
    oob: c_int,
    arg: *mut c_void,
) -> boolean_t;

extern "C" {
    pub fn ksocket_socket(
        ksp: *mut ksocket_t,
        domain: c_int,
        ty: c_int,
        protocol: c_int,
        flags: c_int,
        cr: *mut cred_t,
    ) -> c_int;
    pub fn ksocket_bind(
        ks: ksocket_t,
        addr: *const c_void,
        addrlen: socklen_t,
        cr: *mut cred_t,
    ) -> c_int;
    pub fn ksocket_setsockopt(
        ks: ksocket_t,
        level: c_int,
        optname: c_int,
        optval: *const c_void,
        optlen: c_int,
        cr: *mut cred_t,
    ) -> c_int;
    pub fn ksocket_sendmblk(
        ks: ksocket_t,
        msg: *mut msghdr,
        flags: c_int,
        mpp: *mut *mut mblk_t,
        cr: *mut cred_t,
    ) -> c_int;
    pub fn ksocket_krecv_set(ks: ksocket_t, cb: Option<ksocket_krecv_f>, arg: *mut c_void)
        -> c_int;
    pub fn ksocket_close(ks: ksocket_t, cr: *mut cred_t) -> c_int;
}

/// illumos `struct sockaddr_in6` (32 bytes: it ends with the illumos-only
/// `__sin6_src_id`).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct sockaddr_in6 {
    pub sin6_family: u16,
    /// Network byte order.
    pub sin6_port: u16,
    pub sin6_flowinfo: u32,
    pub sin6_addr: [u8; 16],
    pub sin6_scope_id: u32,
    pub __sin6_src_id: u32,
}

const _: () = assert!(core::mem::size_of::<sockaddr_in6>() == 32);
const _: () = assert!(core::mem::size_of::<msghdr>() == 48);

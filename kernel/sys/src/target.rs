//! varpd's ioctls on `/dev/overlay` (`sys/overlay_target.h`): command
//! numbers, argument structures, and the driver's command table.
//!
//! Numbers are `OVERLAY_TARG_IOCTL | n` with `OVERLAY_TARG_IOCTL` =
//! `('o' << 24) | ('v' << 16) | ('t' << 8)`. Unlike dld, the driver copies
//! the argument out **only on success**; which commands need an `FWRITE`
//! handle and how each copies in and out is [`targ_ioc_info`].

use crate::consts::*;
use crate::ioc::zero_default;
use crate::pod::Pod;
use core::mem::{align_of, offset_of, size_of};

/// `struct in6_addr`: 16 bytes in network order, 4-byte aligned on illumos
/// (it contains a `uint32_t` union member). IPv4 addresses are IPv4-mapped.
#[repr(C, align(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct in6_addr {
    pub s6_addr: [u8; 16],
}

impl in6_addr {
    pub const UNSPECIFIED: in6_addr = in6_addr { s6_addr: [0; 16] };

    pub const fn new(b: [u8; 16]) -> Self {
        in6_addr { s6_addr: b }
    }

    /// `::ffff:a.b.c.d`.
    pub const fn v4mapped(v4: [u8; 4]) -> Self {
        let mut b = [0u8; 16];
        b[10] = 0xff;
        b[11] = 0xff;
        b[12] = v4[0];
        b[13] = v4[1];
        b[14] = v4[2];
        b[15] = v4[3];
        in6_addr { s6_addr: b }
    }

    /// `IN6_IS_ADDR_UNSPECIFIED`.
    pub fn is_unspecified(&self) -> bool {
        self.s6_addr == [0; 16]
    }

    /// `IN6_IS_ADDR_LOOPBACK` (`::1`).
    pub fn is_loopback(&self) -> bool {
        self.s6_addr[..15] == [0; 15] && self.s6_addr[15] == 1
    }

    /// `IN6_IS_ADDR_V4MAPPED` (`::ffff:0:0/96`).
    pub fn is_v4mapped(&self) -> bool {
        self.s6_addr[..10] == [0; 10] && self.s6_addr[10] == 0xff && self.s6_addr[11] == 0xff
    }

    /// `IN6_IS_ADDR_V4COMPAT`: `::a.b.c.d` excluding `::` and `::1`.
    pub fn is_v4compat(&self) -> bool {
        self.s6_addr[..12] == [0; 12] && !self.is_unspecified() && !self.is_loopback()
    }

    /// `IN6_IS_ADDR_MULTICAST` (`ff00::/8`).
    pub fn is_multicast(&self) -> bool {
        self.s6_addr[0] == 0xff
    }

    /// `IN6_IS_ADDR_6TO4` (`2002::/16`).
    pub fn is_6to4(&self) -> bool {
        self.s6_addr[0] == 0x20 && self.s6_addr[1] == 0x02
    }

    /// `IN6_IS_ADDR_V4MAPPED_ANY` (`::ffff:0.0.0.0`).
    pub fn is_v4mapped_any(&self) -> bool {
        self.is_v4mapped() && self.s6_addr[12..] == [0; 4]
    }

    /// An IPv4-mapped address whose IPv4 part is multicast (224.0.0.0/4).
    pub fn is_v4mapped_multicast(&self) -> bool {
        self.is_v4mapped() && (self.s6_addr[12] & 0xf0) == 0xe0
    }
}

/// `OVERLAY_TARG_IOCTL`.
pub const OVERLAY_TARG_IOCTL: u32 =
    ((b'o' as u32) << 24) | ((b'v' as u32) << 16) | ((b't' as u32) << 8);

pub const OVERLAY_TARG_INFO: u32 = OVERLAY_TARG_IOCTL | 0x01;
pub const OVERLAY_TARG_ASSOCIATE: u32 = OVERLAY_TARG_IOCTL | 0x02;
pub const OVERLAY_TARG_DISASSOCIATE: u32 = OVERLAY_TARG_IOCTL | 0x03;
pub const OVERLAY_TARG_DEGRADE: u32 = OVERLAY_TARG_IOCTL | 0x04;
pub const OVERLAY_TARG_RESTORE: u32 = OVERLAY_TARG_IOCTL | 0x05;
pub const OVERLAY_TARG_LOOKUP: u32 = OVERLAY_TARG_IOCTL | 0x10;
pub const OVERLAY_TARG_RESPOND: u32 = OVERLAY_TARG_IOCTL | 0x11;
pub const OVERLAY_TARG_DROP: u32 = OVERLAY_TARG_IOCTL | 0x12;
pub const OVERLAY_TARG_INJECT: u32 = OVERLAY_TARG_IOCTL | 0x13;
pub const OVERLAY_TARG_PKT: u32 = OVERLAY_TARG_IOCTL | 0x14;
pub const OVERLAY_TARG_RESEND: u32 = OVERLAY_TARG_IOCTL | 0x15;
pub const OVERLAY_TARG_LIST: u32 = OVERLAY_TARG_IOCTL | 0x20;
pub const OVERLAY_TARG_CACHE_GET: u32 = OVERLAY_TARG_IOCTL | 0x30;
pub const OVERLAY_TARG_CACHE_SET: u32 = OVERLAY_TARG_IOCTL | 0x31;
pub const OVERLAY_TARG_CACHE_REMOVE: u32 = OVERLAY_TARG_IOCTL | 0x32;
pub const OVERLAY_TARG_CACHE_FLUSH: u32 = OVERLAY_TARG_IOCTL | 0x33;
pub const OVERLAY_TARG_CACHE_ITER: u32 = OVERLAY_TARG_IOCTL | 0x34;

/// Extension (not in illumos, whose commands are 0x01–0x34): set or clear
/// a device's head-end replication (flood) list. Needs `FWRITE`; the
/// argument is an [`overlay_targ_flood_t`] followed by `otf_count`
/// `overlay_target_point_t`s (`otp_mac` ignored); nothing is copied out.
/// 0x80 keeps clear of illumos' numbering (docs/head-end-replication.md).
pub const OVERLAY_TARG_FLOOD_SET: u32 = OVERLAY_TARG_IOCTL | 0x80;
/// Most destinations in one flood list.
pub const OVERLAY_TARG_FLOOD_MAX: u32 = 64;

/// `overlay_target_point_t`: a destination. `otp_port` is in **host**
/// byte order.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct overlay_target_point_t {
    pub otp_mac: [u8; 6],
    pub _pad0: [u8; 2],
    pub otp_ip: in6_addr,
    pub otp_port: u16,
    pub _pad1: [u8; 2],
}

/// `overlay_targ_info_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct overlay_targ_info_t {
    pub oti_linkid: u32,
    pub oti_needs: u32,
    pub oti_flags: u64,
    pub oti_vnetid: u64,
}

/// `overlay_targ_associate_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct overlay_targ_associate_t {
    pub ota_linkid: u32,
    pub ota_mode: u32,
    pub ota_id: u64,
    pub ota_provides: u32,
    pub ota_point: overlay_target_point_t,
}

/// `overlay_targ_id_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct overlay_targ_id_t {
    pub otid_linkid: u32,
}

/// `overlay_targ_degrade_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct overlay_targ_degrade_t {
    pub otd_linkid: u32,
    pub otd_pad: u32,
    pub otd_buf: [u8; OVERLAY_STATUS_BUFLEN],
}

/// `overlay_targ_lookup_t` (all output).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct overlay_targ_lookup_t {
    pub otl_dlid: u64,
    pub otl_reqid: u64,
    pub otl_varpdid: u64,
    pub otl_vnetid: u64,
    pub otl_hdrsize: u64,
    pub otl_pktsize: u64,
    pub otl_srcaddr: [u8; 6],
    pub otl_dstaddr: [u8; 6],
    pub otl_dsttype: u32,
    pub otl_sap: u32,
    pub otl_vlan: i32,
}

/// `overlay_targ_resp_t` (RESPOND and DROP).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct overlay_targ_resp_t {
    pub otr_reqid: u64,
    pub otr_answer: overlay_target_point_t,
    pub _pad: [u8; 4],
}

/// `overlay_targ_pkt_t` (LP64: INJECT, PKT, RESEND). `otp_buf` is the
/// caller's user address.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct overlay_targ_pkt_t {
    pub otp_linkid: u64,
    pub otp_reqid: u64,
    pub otp_size: u64,
    pub otp_buf: u64,
}

/// `overlay_targ_pkt32_t`: the ILP32 image (28 bytes, 4-byte alignment of
/// `uint64_t` in i386 code).
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct overlay_targ_pkt32_t {
    pub otp_linkid: u64,
    pub otp_reqid: u64,
    pub otp_size: u64,
    pub otp_buf: u32,
}

/// `overlay_targ_list_t` header; `otl_nents` u32 slots follow.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct overlay_targ_list_t {
    pub otl_nents: u32,
}

/// [`OVERLAY_TARG_FLOOD_SET`]'s header (extension); `otf_count` (at most
/// [`OVERLAY_TARG_FLOOD_MAX`]; 0 clears the list) destinations follow at
/// offset 8.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct overlay_targ_flood_t {
    pub otf_linkid: u32,
    pub otf_count: u32,
}

/// `overlay_targ_cache_entry_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct overlay_targ_cache_entry_t {
    pub otce_mac: [u8; 6],
    pub otce_flags: u16,
    pub otce_dest: overlay_target_point_t,
}

/// `overlay_targ_cache_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct overlay_targ_cache_t {
    pub otc_linkid: u32,
    pub otc_entry: overlay_targ_cache_entry_t,
}

/// `overlay_targ_cache_iter_t` header; `otci_count` entries follow at
/// offset 24. The marker is opaque to callers.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct overlay_targ_cache_iter_t {
    pub otci_linkid: u32,
    pub otci_pad: u32,
    pub otci_marker: u64,
    pub otci_count: u16,
    pub otci_pad2: [u8; 3],
    pub _pad3: [u8; 3],
}

zero_default!(overlay_targ_degrade_t);

// SAFETY (all impls below): repr(C), integer/byte-array (or Pod) fields only,
// explicit padding fields; the size assertions below prove there is no
// implicit padding.
unsafe impl Pod for in6_addr {}
unsafe impl Pod for overlay_target_point_t {}
unsafe impl Pod for overlay_targ_info_t {}
unsafe impl Pod for overlay_targ_associate_t {}
unsafe impl Pod for overlay_targ_id_t {}
unsafe impl Pod for overlay_targ_degrade_t {}
unsafe impl Pod for overlay_targ_lookup_t {}
unsafe impl Pod for overlay_targ_resp_t {}
unsafe impl Pod for overlay_targ_pkt_t {}
unsafe impl Pod for overlay_targ_pkt32_t {}
unsafe impl Pod for overlay_targ_list_t {}
unsafe impl Pod for overlay_targ_cache_entry_t {}
unsafe impl Pod for overlay_targ_cache_t {}
unsafe impl Pod for overlay_targ_cache_iter_t {}
unsafe impl Pod for overlay_targ_flood_t {}

// amd64 sizes, alignments and offsets (spec/kernel.md §8.4, §17).
const _: () = {
    assert!(size_of::<in6_addr>() == 16);
    assert!(align_of::<in6_addr>() == 4);

    assert!(size_of::<overlay_target_point_t>() == 28);
    assert!(align_of::<overlay_target_point_t>() == 4);
    assert!(offset_of!(overlay_target_point_t, otp_mac) == 0);
    assert!(offset_of!(overlay_target_point_t, otp_ip) == 8);
    assert!(offset_of!(overlay_target_point_t, otp_port) == 24);

    assert!(size_of::<overlay_targ_info_t>() == 24);
    assert!(align_of::<overlay_targ_info_t>() == 8);
    assert!(offset_of!(overlay_targ_info_t, oti_needs) == 4);
    assert!(offset_of!(overlay_targ_info_t, oti_flags) == 8);
    assert!(offset_of!(overlay_targ_info_t, oti_vnetid) == 16);

    assert!(size_of::<overlay_targ_associate_t>() == 48);
    assert!(offset_of!(overlay_targ_associate_t, ota_mode) == 4);
    assert!(offset_of!(overlay_targ_associate_t, ota_id) == 8);
    assert!(offset_of!(overlay_targ_associate_t, ota_provides) == 16);
    assert!(offset_of!(overlay_targ_associate_t, ota_point) == 20);

    assert!(size_of::<overlay_targ_id_t>() == 4);

    assert!(size_of::<overlay_targ_degrade_t>() == 264);
    assert!(offset_of!(overlay_targ_degrade_t, otd_pad) == 4);
    assert!(offset_of!(overlay_targ_degrade_t, otd_buf) == 8);

    assert!(size_of::<overlay_targ_lookup_t>() == 72);
    assert!(offset_of!(overlay_targ_lookup_t, otl_reqid) == 8);
    assert!(offset_of!(overlay_targ_lookup_t, otl_varpdid) == 16);
    assert!(offset_of!(overlay_targ_lookup_t, otl_vnetid) == 24);
    assert!(offset_of!(overlay_targ_lookup_t, otl_hdrsize) == 32);
    assert!(offset_of!(overlay_targ_lookup_t, otl_pktsize) == 40);
    assert!(offset_of!(overlay_targ_lookup_t, otl_srcaddr) == 48);
    assert!(offset_of!(overlay_targ_lookup_t, otl_dstaddr) == 54);
    assert!(offset_of!(overlay_targ_lookup_t, otl_dsttype) == 60);
    assert!(offset_of!(overlay_targ_lookup_t, otl_sap) == 64);
    assert!(offset_of!(overlay_targ_lookup_t, otl_vlan) == 68);

    assert!(size_of::<overlay_targ_resp_t>() == 40);
    assert!(offset_of!(overlay_targ_resp_t, otr_answer) == 8);

    assert!(size_of::<overlay_targ_pkt_t>() == 32);
    assert!(offset_of!(overlay_targ_pkt_t, otp_reqid) == 8);
    assert!(offset_of!(overlay_targ_pkt_t, otp_size) == 16);
    assert!(offset_of!(overlay_targ_pkt_t, otp_buf) == 24);

    assert!(size_of::<overlay_targ_pkt32_t>() == 28);
    assert!(offset_of!(overlay_targ_pkt32_t, otp_buf) == 24);

    assert!(size_of::<overlay_targ_list_t>() == 4);

    assert!(size_of::<overlay_targ_cache_entry_t>() == 36);
    assert!(align_of::<overlay_targ_cache_entry_t>() == 4);
    assert!(offset_of!(overlay_targ_cache_entry_t, otce_flags) == 6);
    assert!(offset_of!(overlay_targ_cache_entry_t, otce_dest) == 8);

    assert!(size_of::<overlay_targ_cache_t>() == 40);
    assert!(offset_of!(overlay_targ_cache_t, otc_entry) == 4);

    assert!(size_of::<overlay_targ_cache_iter_t>() == 24);
    assert!(size_of::<overlay_targ_flood_t>() == 8);
    assert!(align_of::<overlay_targ_cache_iter_t>() == 8);
    assert!(offset_of!(overlay_targ_cache_iter_t, otci_pad) == 4);
    assert!(offset_of!(overlay_targ_cache_iter_t, otci_marker) == 8);
    assert!(offset_of!(overlay_targ_cache_iter_t, otci_count) == 16);
    assert!(offset_of!(overlay_targ_cache_iter_t, otci_pad2) == 18);
};

/// How a `/dev/overlay` command copies its argument in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargCopyin {
    /// Exactly `size` bytes.
    Fixed,
    /// `overlay_targ_pkt_t` (32) or, from an ILP32 caller, the 28-byte
    /// `overlay_targ_pkt32_t`.
    Pkt,
    /// LIST: the 4-byte header, then `otl_nents` u32 slots.
    List,
    /// CACHE_ITER: the 24-byte header, then `otci_count` entries.
    CacheIter,
    /// FLOOD_SET (extension): the 8-byte header, then `otf_count` points.
    Flood,
}

/// How a `/dev/overlay` command copies its argument out (on success only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargCopyout {
    /// Nothing is copied out.
    None,
    /// The whole fixed-size argument.
    Whole,
    /// PKT: the struct (in the caller's data model) and the frame bytes.
    Pkt,
    /// LIST: header and, if `otl_nents` > 0 was passed, all slots.
    List,
    /// CACHE_ITER: header plus the entries written.
    CacheIter,
}

/// One row of the `/dev/overlay` command table (`overlay_target_ioctab`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TargIocInfo {
    pub cmd: u32,
    /// Fixed (or header) size of the argument, amd64.
    pub size: usize,
    /// The handle must have been opened with `FWRITE` (`EBADF` otherwise).
    pub needs_write: bool,
    pub copyin: TargCopyin,
    pub copyout: TargCopyout,
}

const fn trow(
    cmd: u32,
    size: usize,
    needs_write: bool,
    copyin: TargCopyin,
    copyout: TargCopyout,
) -> TargIocInfo {
    TargIocInfo {
        cmd,
        size,
        needs_write,
        copyin,
        copyout,
    }
}

/// The `/dev/overlay` command table.
pub const TARG_IOC_TABLE: [TargIocInfo; 18] = {
    use TargCopyin as I;
    use TargCopyout as O;
    [
        trow(
            OVERLAY_TARG_INFO,
            size_of::<overlay_targ_info_t>(),
            true,
            I::Fixed,
            O::Whole,
        ),
        trow(
            OVERLAY_TARG_ASSOCIATE,
            size_of::<overlay_targ_associate_t>(),
            true,
            I::Fixed,
            O::None,
        ),
        trow(
            OVERLAY_TARG_DISASSOCIATE,
            size_of::<overlay_targ_id_t>(),
            true,
            I::Fixed,
            O::None,
        ),
        trow(
            OVERLAY_TARG_DEGRADE,
            size_of::<overlay_targ_degrade_t>(),
            true,
            I::Fixed,
            O::None,
        ),
        trow(
            OVERLAY_TARG_RESTORE,
            size_of::<overlay_targ_id_t>(),
            true,
            I::Fixed,
            O::None,
        ),
        trow(
            OVERLAY_TARG_LOOKUP,
            size_of::<overlay_targ_lookup_t>(),
            false,
            I::Fixed,
            O::Whole,
        ),
        trow(
            OVERLAY_TARG_RESPOND,
            size_of::<overlay_targ_resp_t>(),
            true,
            I::Fixed,
            O::None,
        ),
        trow(
            OVERLAY_TARG_DROP,
            size_of::<overlay_targ_resp_t>(),
            true,
            I::Fixed,
            O::None,
        ),
        trow(
            OVERLAY_TARG_INJECT,
            size_of::<overlay_targ_pkt_t>(),
            true,
            I::Pkt,
            O::None,
        ),
        trow(
            OVERLAY_TARG_PKT,
            size_of::<overlay_targ_pkt_t>(),
            true,
            I::Pkt,
            O::Pkt,
        ),
        trow(
            OVERLAY_TARG_RESEND,
            size_of::<overlay_targ_pkt_t>(),
            true,
            I::Pkt,
            O::None,
        ),
        trow(
            OVERLAY_TARG_LIST,
            size_of::<overlay_targ_list_t>(),
            false,
            I::List,
            O::List,
        ),
        trow(
            OVERLAY_TARG_CACHE_GET,
            size_of::<overlay_targ_cache_t>(),
            false,
            I::Fixed,
            O::Whole,
        ),
        trow(
            OVERLAY_TARG_CACHE_SET,
            size_of::<overlay_targ_cache_t>(),
            true,
            I::Fixed,
            O::Whole,
        ),
        trow(
            OVERLAY_TARG_CACHE_REMOVE,
            size_of::<overlay_targ_cache_t>(),
            true,
            I::Fixed,
            O::Whole,
        ),
        trow(
            OVERLAY_TARG_CACHE_FLUSH,
            size_of::<overlay_targ_cache_t>(),
            true,
            I::Fixed,
            O::Whole,
        ),
        trow(
            OVERLAY_TARG_CACHE_ITER,
            size_of::<overlay_targ_cache_iter_t>(),
            false,
            I::CacheIter,
            O::CacheIter,
        ),
        trow(
            OVERLAY_TARG_FLOOD_SET,
            size_of::<overlay_targ_flood_t>(),
            true,
            I::Flood,
            O::None,
        ),
    ]
};

/// Look up a `/dev/overlay` command (read as a raw integer).
pub fn targ_ioc_info(cmd: u32) -> Option<TargIocInfo> {
    TARG_IOC_TABLE.iter().copied().find(|r| r.cmd == cmd)
}

/// The command's name (`"OVERLAY_TARG_LOOKUP"`), for logs.
pub fn targ_ioc_name(cmd: u32) -> Option<&'static str> {
    Some(match cmd {
        OVERLAY_TARG_INFO => "OVERLAY_TARG_INFO",
        OVERLAY_TARG_ASSOCIATE => "OVERLAY_TARG_ASSOCIATE",
        OVERLAY_TARG_DISASSOCIATE => "OVERLAY_TARG_DISASSOCIATE",
        OVERLAY_TARG_DEGRADE => "OVERLAY_TARG_DEGRADE",
        OVERLAY_TARG_RESTORE => "OVERLAY_TARG_RESTORE",
        OVERLAY_TARG_LOOKUP => "OVERLAY_TARG_LOOKUP",
        OVERLAY_TARG_RESPOND => "OVERLAY_TARG_RESPOND",
        OVERLAY_TARG_DROP => "OVERLAY_TARG_DROP",
        OVERLAY_TARG_INJECT => "OVERLAY_TARG_INJECT",
        OVERLAY_TARG_PKT => "OVERLAY_TARG_PKT",
        OVERLAY_TARG_RESEND => "OVERLAY_TARG_RESEND",
        OVERLAY_TARG_LIST => "OVERLAY_TARG_LIST",
        OVERLAY_TARG_CACHE_GET => "OVERLAY_TARG_CACHE_GET",
        OVERLAY_TARG_CACHE_SET => "OVERLAY_TARG_CACHE_SET",
        OVERLAY_TARG_CACHE_REMOVE => "OVERLAY_TARG_CACHE_REMOVE",
        OVERLAY_TARG_CACHE_FLUSH => "OVERLAY_TARG_CACHE_FLUSH",
        OVERLAY_TARG_CACHE_ITER => "OVERLAY_TARG_CACHE_ITER",
        OVERLAY_TARG_FLOOD_SET => "OVERLAY_TARG_FLOOD_SET",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(OVERLAY_TARG_IOCTL, 0x6f767400);
        assert_eq!(OVERLAY_TARG_IOCTL, 1870033920);
        assert_eq!(OVERLAY_TARG_LOOKUP, 0x6f767410);
        assert_eq!(OVERLAY_TARG_CACHE_ITER, 0x6f767434);
    }

    #[test]
    fn table() {
        let l = targ_ioc_info(OVERLAY_TARG_LOOKUP).unwrap();
        assert!(!l.needs_write && l.copyout == TargCopyout::Whole && l.size == 72);
        assert!(targ_ioc_info(OVERLAY_TARG_INFO).unwrap().needs_write);
        assert!(!targ_ioc_info(OVERLAY_TARG_LIST).unwrap().needs_write);
        assert!(!targ_ioc_info(OVERLAY_TARG_CACHE_GET).unwrap().needs_write);
        assert_eq!(
            targ_ioc_info(OVERLAY_TARG_ASSOCIATE).unwrap().copyout,
            TargCopyout::None
        );
        assert!(targ_ioc_info(OVERLAY_TARG_IOCTL | 0x06).is_none());
        for r in TARG_IOC_TABLE {
            assert_eq!(targ_ioc_info(r.cmd), Some(r));
            assert!(targ_ioc_name(r.cmd).is_some());
        }
    }

    #[test]
    fn addrs() {
        let m = in6_addr::v4mapped([10, 0, 0, 1]);
        assert!(m.is_v4mapped() && !m.is_v4compat() && !m.is_v4mapped_any());
        assert!(in6_addr::v4mapped([0, 0, 0, 0]).is_v4mapped_any());
        assert!(in6_addr::v4mapped([239, 1, 1, 1]).is_v4mapped_multicast());
        let mut c = [0u8; 16];
        c[15] = 5;
        c[14] = 1;
        assert!(in6_addr::new(c).is_v4compat());
        let mut l = [0u8; 16];
        l[15] = 1;
        assert!(in6_addr::new(l).is_loopback() && !in6_addr::new(l).is_v4compat());
        assert!(!in6_addr::UNSPECIFIED.is_v4compat());
    }

    #[test]
    fn pkt32() {
        let p = overlay_targ_pkt32_t {
            otp_linkid: 1,
            otp_reqid: 2,
            otp_size: 3,
            otp_buf: 4,
        };
        let b = p.as_bytes();
        assert_eq!(b.len(), 28);
        assert_eq!(&b[24..28], &4u32.to_le_bytes());
    }
}

//! The `/dev/overlay` target ABI as libvarpd uses it (`sys/overlay_target.h`).
//!
//! The command numbers, constants and `repr(C)` structures are the ABI
//! crate's ([`overlay_sys`]); this module re-exports the constants and gives
//! each structure varpd exchanges a plain Rust counterpart (a
//! [`std::net::Ipv6Addr`] rather than an `in6_addr`, no padding fields) with
//! `encode`/`decode` to and from the exact amd64 byte image, built on
//! [`Pod`] so that the same bytes go to `ioctl(2)` on illumos and over
//! fkoverlayd's socket on Linux without any `unsafe` transmutes. Decoders
//! never panic: a short slice reads as if zero-filled.

use std::mem::size_of;
use std::net::Ipv6Addr;

use overlay_sys::{
    in6_addr, overlay_targ_associate_t, overlay_targ_cache_entry_t, overlay_targ_cache_iter_t,
    overlay_targ_cache_t, overlay_targ_degrade_t, overlay_targ_id_t, overlay_targ_info_t,
    overlay_targ_lookup_t, overlay_targ_pkt_t, overlay_targ_resp_t, overlay_target_point_t,
    set_cstr, Pod,
};

pub use overlay_sys::{
    FEXCL, FREAD, FWRITE, OVERLAY_PLUGIN_D_ETHERNET, OVERLAY_PLUGIN_D_INVALID, OVERLAY_PLUGIN_D_IP,
    OVERLAY_PLUGIN_D_MASK, OVERLAY_PLUGIN_D_PORT, OVERLAY_STATUS_BUFLEN, OVERLAY_TARGET_CACHE_DROP,
    OVERLAY_TARGET_DYNAMIC, OVERLAY_TARGET_ITER_MAX, OVERLAY_TARGET_NONE, OVERLAY_TARGET_POINT,
    OVERLAY_TARG_ASSOCIATE, OVERLAY_TARG_CACHE_FLUSH, OVERLAY_TARG_CACHE_GET,
    OVERLAY_TARG_CACHE_ITER, OVERLAY_TARG_CACHE_REMOVE, OVERLAY_TARG_CACHE_SET,
    OVERLAY_TARG_DEGRADE, OVERLAY_TARG_DISASSOCIATE, OVERLAY_TARG_DROP, OVERLAY_TARG_INFO,
    OVERLAY_TARG_INFO_F_ACTIVE, OVERLAY_TARG_INFO_F_DEGRADED, OVERLAY_TARG_INJECT,
    OVERLAY_TARG_IOCTL, OVERLAY_TARG_LIST, OVERLAY_TARG_LOOKUP, OVERLAY_TARG_PKT,
    OVERLAY_TARG_RESEND, OVERLAY_TARG_RESPOND, OVERLAY_TARG_RESTORE,
};
/// Head-end replication (an extension of this driver; illumos' has none).
pub use overlay_sys::{OVERLAY_TARG_FLOOD_MAX, OVERLAY_TARG_FLOOD_SET};

/// `otp_linkid` value meaning "inject by request id"
/// (overlay-sys' `OVERLAY_TARG_PKT_USE_REQID`).
pub use overlay_sys::OVERLAY_TARG_PKT_USE_REQID as OVERLAY_TARG_PKT_BY_REQID;

/// The byte image of `v`. `N` must be `size_of::<T>()` (checked at compile
/// time), so the copy cannot fail.
fn image<T: Pod, const N: usize>(v: &T) -> [u8; N] {
    const { assert!(N == size_of::<T>()) };
    let mut b = [0u8; N];
    b.copy_from_slice(v.as_bytes());
    b
}

// Native-order field access at a byte offset, for what has no fixed
// `repr(C)` image: LIST's u32 slots, CACHE_ITER's entry array, and the door
// envelope (`door::abi`). They index the slice directly: callers size their
// buffers first.

pub fn get_u16(b: &[u8], off: usize) -> u16 {
    u16::from_ne_bytes([b[off], b[off + 1]])
}
pub fn get_u32(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_ne_bytes(a)
}
pub fn get_u64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_ne_bytes(a)
}
pub fn put_u16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_ne_bytes());
}
pub fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
}
pub fn put_u64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_ne_bytes());
}
pub fn get_mac(b: &[u8], off: usize) -> [u8; 6] {
    let mut m = [0u8; 6];
    m.copy_from_slice(&b[off..off + 6]);
    m
}
pub fn get_in6(b: &[u8], off: usize) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[off..off + 16]);
    Ipv6Addr::from(a)
}

/// `overlay_target_point_t` (28 bytes): where to send frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TargetPoint {
    /// `otp_mac`: underlay-side MAC (for `D_ETHERNET` encapsulations).
    pub mac: [u8; 6],
    /// `otp_ip`: IPv6, or IPv4-mapped IPv6 for IPv4.
    pub ip: Ipv6Addr,
    /// `otp_port`: host order.
    pub port: u16,
}

impl Default for TargetPoint {
    fn default() -> Self {
        TargetPoint {
            mac: [0; 6],
            ip: Ipv6Addr::UNSPECIFIED,
            port: 0,
        }
    }
}

impl From<TargetPoint> for overlay_target_point_t {
    fn from(p: TargetPoint) -> Self {
        overlay_target_point_t {
            otp_mac: p.mac,
            otp_ip: in6_addr::new(p.ip.octets()),
            otp_port: p.port,
            ..Default::default()
        }
    }
}

impl From<overlay_target_point_t> for TargetPoint {
    fn from(p: overlay_target_point_t) -> Self {
        TargetPoint {
            mac: p.otp_mac,
            ip: Ipv6Addr::from(p.otp_ip.s6_addr),
            port: p.otp_port,
        }
    }
}

impl TargetPoint {
    pub const SIZE: usize = size_of::<overlay_target_point_t>();
    /// Write the image into `b[..SIZE]` (nothing if `b` is shorter).
    pub fn encode(&self, b: &mut [u8]) {
        overlay_target_point_t::from(*self).write_to(b);
    }
    pub fn decode(b: &[u8]) -> TargetPoint {
        overlay_target_point_t::from_bytes_padded(b).into()
    }
}

/// `OVERLAY_TARG_FLOOD_SET`'s argument: the 8-byte header (linkid,
/// count) and the points.
pub fn targ_flood(linkid: u32, points: &[TargetPoint]) -> Vec<u8> {
    let mut b = vec![0u8; 8 + TargetPoint::SIZE * points.len()];
    put_u32(&mut b, 0, linkid);
    put_u32(&mut b, 4, points.len() as u32);
    for (i, p) in points.iter().enumerate() {
        p.encode(&mut b[8 + TargetPoint::SIZE * i..]);
    }
    b
}

/// `overlay_targ_info_t` (24 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TargInfo {
    pub linkid: u32,
    pub needs: u32,
    pub flags: u64,
    pub vnetid: u64,
}

impl TargInfo {
    pub const SIZE: usize = size_of::<overlay_targ_info_t>();
    pub fn encode(&self) -> [u8; Self::SIZE] {
        image(&overlay_targ_info_t {
            oti_linkid: self.linkid,
            oti_needs: self.needs,
            oti_flags: self.flags,
            oti_vnetid: self.vnetid,
        })
    }
    pub fn decode(b: &[u8]) -> TargInfo {
        let i = overlay_targ_info_t::from_bytes_padded(b);
        TargInfo {
            linkid: i.oti_linkid,
            needs: i.oti_needs,
            flags: i.oti_flags,
            vnetid: i.oti_vnetid,
        }
    }
}

/// `overlay_targ_associate_t` (48 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TargAssociate {
    pub linkid: u32,
    pub mode: u32,
    pub id: u64,
    pub provides: u32,
    pub point: TargetPoint,
}

impl TargAssociate {
    pub const SIZE: usize = size_of::<overlay_targ_associate_t>();
    pub fn encode(&self) -> [u8; Self::SIZE] {
        image(&overlay_targ_associate_t {
            ota_linkid: self.linkid,
            ota_mode: self.mode,
            ota_id: self.id,
            ota_provides: self.provides,
            ota_point: self.point.into(),
        })
    }
    pub fn decode(b: &[u8]) -> TargAssociate {
        let a = overlay_targ_associate_t::from_bytes_padded(b);
        TargAssociate {
            linkid: a.ota_linkid,
            mode: a.ota_mode,
            id: a.ota_id,
            provides: a.ota_provides,
            point: a.ota_point.into(),
        }
    }
}

/// `overlay_targ_id_t` (4 bytes).
pub fn targ_id(linkid: u32) -> [u8; size_of::<overlay_targ_id_t>()] {
    image(&overlay_targ_id_t {
        otid_linkid: linkid,
    })
}

/// `overlay_targ_degrade_t` (264 bytes); the message is truncated to 255
/// bytes plus NUL.
pub fn targ_degrade(linkid: u32, msg: &str) -> [u8; size_of::<overlay_targ_degrade_t>()] {
    let mut d = overlay_targ_degrade_t {
        otd_linkid: linkid,
        ..Default::default()
    };
    set_cstr(&mut d.otd_buf, msg.as_bytes());
    image(&d)
}

/// `overlay_targ_lookup_t` (72 bytes): one lookup request from the kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TargLookup {
    pub dlid: u64,
    pub reqid: u64,
    pub varpdid: u64,
    pub vnetid: u64,
    pub hdrsize: u64,
    pub pktsize: u64,
    pub srcaddr: [u8; 6],
    pub dstaddr: [u8; 6],
    /// 0 unicast, 1 multicast, 2 broadcast (`mac_addrtype_t`).
    pub dsttype: u32,
    pub sap: u32,
    pub vlan: i32,
}

impl TargLookup {
    pub const SIZE: usize = size_of::<overlay_targ_lookup_t>();
    pub fn encode(&self) -> [u8; Self::SIZE] {
        image(&overlay_targ_lookup_t {
            otl_dlid: self.dlid,
            otl_reqid: self.reqid,
            otl_varpdid: self.varpdid,
            otl_vnetid: self.vnetid,
            otl_hdrsize: self.hdrsize,
            otl_pktsize: self.pktsize,
            otl_srcaddr: self.srcaddr,
            otl_dstaddr: self.dstaddr,
            otl_dsttype: self.dsttype,
            otl_sap: self.sap,
            otl_vlan: self.vlan,
        })
    }
    pub fn decode(b: &[u8]) -> TargLookup {
        let l = overlay_targ_lookup_t::from_bytes_padded(b);
        TargLookup {
            dlid: l.otl_dlid,
            reqid: l.otl_reqid,
            varpdid: l.otl_varpdid,
            vnetid: l.otl_vnetid,
            hdrsize: l.otl_hdrsize,
            pktsize: l.otl_pktsize,
            srcaddr: l.otl_srcaddr,
            dstaddr: l.otl_dstaddr,
            dsttype: l.otl_dsttype,
            sap: l.otl_sap,
            vlan: l.otl_vlan,
        }
    }
}

/// `overlay_targ_resp_t` (40 bytes).
pub fn targ_resp(reqid: u64, answer: &TargetPoint) -> [u8; size_of::<overlay_targ_resp_t>()] {
    image(&overlay_targ_resp_t {
        otr_reqid: reqid,
        otr_answer: (*answer).into(),
        ..Default::default()
    })
}

/// `overlay_targ_pkt_t` (32 bytes); `otp_buf` is filled in by the device
/// layer on illumos and ignored on Linux.
pub fn targ_pkt(linkid: u64, reqid: u64, size: u64) -> [u8; size_of::<overlay_targ_pkt_t>()] {
    image(&overlay_targ_pkt_t {
        otp_linkid: linkid,
        otp_reqid: reqid,
        otp_size: size,
        otp_buf: 0,
    })
}

/// `overlay_targ_cache_entry_t` (36 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TargCacheEntry {
    pub mac: [u8; 6],
    pub flags: u16,
    pub dest: TargetPoint,
}

impl From<TargCacheEntry> for overlay_targ_cache_entry_t {
    fn from(e: TargCacheEntry) -> Self {
        overlay_targ_cache_entry_t {
            otce_mac: e.mac,
            otce_flags: e.flags,
            otce_dest: e.dest.into(),
        }
    }
}

impl From<overlay_targ_cache_entry_t> for TargCacheEntry {
    fn from(e: overlay_targ_cache_entry_t) -> Self {
        TargCacheEntry {
            mac: e.otce_mac,
            flags: e.otce_flags,
            dest: e.otce_dest.into(),
        }
    }
}

impl TargCacheEntry {
    pub const SIZE: usize = size_of::<overlay_targ_cache_entry_t>();
    /// Write the image into `b[..SIZE]` (nothing if `b` is shorter).
    pub fn encode(&self, b: &mut [u8]) {
        overlay_targ_cache_entry_t::from(*self).write_to(b);
    }
    pub fn decode(b: &[u8]) -> TargCacheEntry {
        overlay_targ_cache_entry_t::from_bytes_padded(b).into()
    }
}

/// `overlay_targ_cache_t` (40 bytes).
pub fn targ_cache(linkid: u32, entry: &TargCacheEntry) -> [u8; size_of::<overlay_targ_cache_t>()] {
    image(&overlay_targ_cache_t {
        otc_linkid: linkid,
        otc_entry: (*entry).into(),
    })
}

/// `overlay_targ_cache_iter_t` header size.
pub const TARG_CACHE_ITER_HDR: usize = size_of::<overlay_targ_cache_iter_t>();

/// An `overlay_targ_cache_iter_t` request with room for `count` entries.
pub fn targ_cache_iter(linkid: u32, marker: u64, count: u16) -> Vec<u8> {
    let mut b = vec![0u8; TARG_CACHE_ITER_HDR + usize::from(count) * TargCacheEntry::SIZE];
    overlay_targ_cache_iter_t {
        otci_linkid: linkid,
        otci_marker: marker,
        otci_count: count,
        ..Default::default()
    }
    .write_to(&mut b);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers() {
        assert_eq!(OVERLAY_TARG_INFO, 0x6f767401);
        assert_eq!(OVERLAY_TARG_LOOKUP, 0x6f767410);
        assert_eq!(OVERLAY_TARG_RESEND, 0x6f767415);
        assert_eq!(OVERLAY_TARG_LIST, 0x6f767420);
        assert_eq!(OVERLAY_TARG_CACHE_ITER, 0x6f767434);
    }

    #[test]
    fn point_layout() {
        let p = TargetPoint {
            mac: [1, 2, 3, 4, 5, 6],
            ip: "::ffff:10.0.0.1".parse().unwrap(),
            port: 4789,
        };
        let mut b = [0xaau8; 28];
        p.encode(&mut b);
        assert_eq!(&b[0..6], &[1, 2, 3, 4, 5, 6]);
        assert_eq!(&b[6..8], &[0, 0]);
        assert_eq!(&b[18..24], &[0xff, 0xff, 10, 0, 0, 1]);
        assert_eq!(u16::from_ne_bytes([b[24], b[25]]), 4789);
        assert_eq!(TargetPoint::decode(&b), p);
    }

    #[test]
    fn associate_layout() {
        let a = TargAssociate {
            linkid: 7,
            mode: OVERLAY_TARGET_POINT,
            id: 0x1122334455667788,
            provides: 6,
            point: TargetPoint {
                port: 9,
                ..Default::default()
            },
        };
        let b = a.encode();
        assert_eq!(get_u32(&b, 0), 7);
        assert_eq!(get_u32(&b, 4), 1);
        assert_eq!(get_u64(&b, 8), 0x1122334455667788);
        assert_eq!(get_u32(&b, 16), 6);
        assert_eq!(get_u16(&b, 44), 9);
        assert_eq!(TargAssociate::decode(&b), a);
    }

    #[test]
    fn lookup_layout() {
        let l = TargLookup {
            dlid: 1,
            reqid: 2,
            varpdid: 3,
            vnetid: 4,
            hdrsize: 14,
            pktsize: 28,
            srcaddr: [1; 6],
            dstaddr: [0xff; 6],
            dsttype: 2,
            sap: 0x806,
            vlan: -1,
        };
        let b = l.encode();
        assert_eq!(get_u64(&b, 40), 28);
        assert_eq!(&b[54..60], &[0xff; 6]);
        assert_eq!(get_u32(&b, 64), 0x806);
        assert_eq!(TargLookup::decode(&b), l);
    }

    #[test]
    fn small_structs() {
        let d = targ_degrade(3, &"x".repeat(400));
        assert_eq!(get_u32(&d, 0), 3);
        assert_eq!(d[8 + 254], b'x');
        assert_eq!(d[8 + 255], 0);
        let r = targ_resp(5, &TargetPoint::default());
        assert_eq!(get_u64(&r, 0), 5);
        let c = targ_cache(
            2,
            &TargCacheEntry {
                mac: [9; 6],
                flags: 1,
                ..Default::default()
            },
        );
        assert_eq!(&c[4..10], &[9; 6]);
        assert_eq!(get_u16(&c, 10), 1);
        let it = targ_cache_iter(1, 77, 3);
        assert_eq!(it.len(), 24 + 3 * 36);
        assert_eq!(get_u64(&it, 8), 77);
        assert_eq!(get_u16(&it, 16), 3);
        assert_eq!(get_u64(&targ_pkt(u64::MAX, 1, 2), 16), 2);
    }
}

//! The `/dev/overlay` target ABI as libvarpd uses it (`sys/overlay_target.h`).
//!
//! The kernel interface is a set of `repr(C)` structures; here each has a
//! plain Rust counterpart with `encode`/`decode` to and from the exact amd64
//! byte image (offsets from spec/kernel.md §8.4, asserted in the tests), so
//! that the same bytes go to `ioctl(2)` on illumos and over fkoverlayd's
//! socket on Linux without any `unsafe` transmutes. Decoders take a slice of
//! at least the structure's size and never panic on content.

use std::net::Ipv6Addr;

/// `OVERLAY_TARG_IOCTL`: `('o' << 24) | ('v' << 16) | ('t' << 8)`.
pub const OVERLAY_TARG_IOCTL: u32 = 0x6f76_7400;
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

/// `oti_flags`: the overlay is activated in the kernel.
pub const OVERLAY_TARG_INFO_F_ACTIVE: u64 = 0x1;
/// `oti_flags`: the overlay is degraded.
pub const OVERLAY_TARG_INFO_F_DEGRADED: u64 = 0x2;
/// `otce_flags`: drop traffic to this destination.
pub const OVERLAY_TARGET_CACHE_DROP: u16 = 0x1;
/// Kernel cap on `otci_count`.
pub const OVERLAY_TARGET_ITER_MAX: u16 = 500;
/// `otp_linkid` value meaning "inject by request id".
pub const OVERLAY_TARG_PKT_BY_REQID: u64 = u64::MAX;
/// `OVERLAY_STATUS_BUFLEN`: degrade message buffer.
pub const OVERLAY_STATUS_BUFLEN: usize = 256;
/// Open flags for `/dev/overlay` (illumos `FREAD`, `FWRITE`, `FEXCL`).
pub const FREAD: u32 = 0x1;
pub const FWRITE: u32 = 0x2;
pub const FEXCL: u32 = 0x400;

/// `overlay_target_mode_t`.
pub const OVERLAY_TARGET_NONE: u32 = 0;
pub const OVERLAY_TARGET_POINT: u32 = 1;
pub const OVERLAY_TARGET_DYNAMIC: u32 = 2;

/// `overlay_plugin_dest_t` bits.
pub const OVERLAY_PLUGIN_D_INVALID: u32 = 0x0;
pub const OVERLAY_PLUGIN_D_ETHERNET: u32 = 0x1;
pub const OVERLAY_PLUGIN_D_IP: u32 = 0x2;
pub const OVERLAY_PLUGIN_D_PORT: u32 = 0x4;
pub const OVERLAY_PLUGIN_D_MASK: u32 = 0x7;

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

impl TargetPoint {
    pub const SIZE: usize = 28;
    pub fn encode(&self, b: &mut [u8]) {
        b[0..6].copy_from_slice(&self.mac);
        b[6..8].fill(0);
        b[8..24].copy_from_slice(&self.ip.octets());
        put_u16(b, 24, self.port);
        b[26..28].fill(0);
    }
    pub fn decode(b: &[u8]) -> TargetPoint {
        TargetPoint {
            mac: get_mac(b, 0),
            ip: get_in6(b, 8),
            port: get_u16(b, 24),
        }
    }
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
    pub const SIZE: usize = 24;
    pub fn encode(&self) -> [u8; 24] {
        let mut b = [0u8; 24];
        put_u32(&mut b, 0, self.linkid);
        put_u32(&mut b, 4, self.needs);
        put_u64(&mut b, 8, self.flags);
        put_u64(&mut b, 16, self.vnetid);
        b
    }
    pub fn decode(b: &[u8]) -> TargInfo {
        TargInfo {
            linkid: get_u32(b, 0),
            needs: get_u32(b, 4),
            flags: get_u64(b, 8),
            vnetid: get_u64(b, 16),
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
    pub const SIZE: usize = 48;
    pub fn encode(&self) -> [u8; 48] {
        let mut b = [0u8; 48];
        put_u32(&mut b, 0, self.linkid);
        put_u32(&mut b, 4, self.mode);
        put_u64(&mut b, 8, self.id);
        put_u32(&mut b, 16, self.provides);
        self.point.encode(&mut b[20..48]);
        b
    }
    pub fn decode(b: &[u8]) -> TargAssociate {
        TargAssociate {
            linkid: get_u32(b, 0),
            mode: get_u32(b, 4),
            id: get_u64(b, 8),
            provides: get_u32(b, 16),
            point: TargetPoint::decode(&b[20..48]),
        }
    }
}

/// `overlay_targ_id_t` (4 bytes).
pub fn targ_id(linkid: u32) -> [u8; 4] {
    linkid.to_ne_bytes()
}

/// `overlay_targ_degrade_t` (264 bytes); the message is truncated to 255
/// bytes plus NUL.
pub fn targ_degrade(linkid: u32, msg: &str) -> [u8; 264] {
    let mut b = [0u8; 264];
    put_u32(&mut b, 0, linkid);
    let m = msg.as_bytes();
    let n = m.len().min(OVERLAY_STATUS_BUFLEN - 1);
    b[8..8 + n].copy_from_slice(&m[..n]);
    b
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
    pub const SIZE: usize = 72;
    pub fn encode(&self) -> [u8; 72] {
        let mut b = [0u8; 72];
        put_u64(&mut b, 0, self.dlid);
        put_u64(&mut b, 8, self.reqid);
        put_u64(&mut b, 16, self.varpdid);
        put_u64(&mut b, 24, self.vnetid);
        put_u64(&mut b, 32, self.hdrsize);
        put_u64(&mut b, 40, self.pktsize);
        b[48..54].copy_from_slice(&self.srcaddr);
        b[54..60].copy_from_slice(&self.dstaddr);
        put_u32(&mut b, 60, self.dsttype);
        put_u32(&mut b, 64, self.sap);
        put_u32(&mut b, 68, self.vlan as u32);
        b
    }
    pub fn decode(b: &[u8]) -> TargLookup {
        TargLookup {
            dlid: get_u64(b, 0),
            reqid: get_u64(b, 8),
            varpdid: get_u64(b, 16),
            vnetid: get_u64(b, 24),
            hdrsize: get_u64(b, 32),
            pktsize: get_u64(b, 40),
            srcaddr: get_mac(b, 48),
            dstaddr: get_mac(b, 54),
            dsttype: get_u32(b, 60),
            sap: get_u32(b, 64),
            vlan: get_u32(b, 68) as i32,
        }
    }
}

/// `overlay_targ_resp_t` (40 bytes).
pub fn targ_resp(reqid: u64, answer: &TargetPoint) -> [u8; 40] {
    let mut b = [0u8; 40];
    put_u64(&mut b, 0, reqid);
    answer.encode(&mut b[8..36]);
    b
}

/// `overlay_targ_pkt_t` (32 bytes); `otp_buf` is filled in by the device
/// layer on illumos and ignored on Linux.
pub fn targ_pkt(linkid: u64, reqid: u64, size: u64) -> [u8; 32] {
    let mut b = [0u8; 32];
    put_u64(&mut b, 0, linkid);
    put_u64(&mut b, 8, reqid);
    put_u64(&mut b, 16, size);
    b
}

/// `overlay_targ_cache_entry_t` (36 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TargCacheEntry {
    pub mac: [u8; 6],
    pub flags: u16,
    pub dest: TargetPoint,
}

impl TargCacheEntry {
    pub const SIZE: usize = 36;
    pub fn encode(&self, b: &mut [u8]) {
        b[0..6].copy_from_slice(&self.mac);
        put_u16(b, 6, self.flags);
        self.dest.encode(&mut b[8..36]);
    }
    pub fn decode(b: &[u8]) -> TargCacheEntry {
        TargCacheEntry {
            mac: get_mac(b, 0),
            flags: get_u16(b, 6),
            dest: TargetPoint::decode(&b[8..36]),
        }
    }
}

/// `overlay_targ_cache_t` (40 bytes).
pub fn targ_cache(linkid: u32, entry: &TargCacheEntry) -> [u8; 40] {
    let mut b = [0u8; 40];
    put_u32(&mut b, 0, linkid);
    entry.encode(&mut b[4..40]);
    b
}

/// `overlay_targ_cache_iter_t` header size.
pub const TARG_CACHE_ITER_HDR: usize = 24;

/// An `overlay_targ_cache_iter_t` request with room for `count` entries.
pub fn targ_cache_iter(linkid: u32, marker: u64, count: u16) -> Vec<u8> {
    let mut b = vec![0u8; TARG_CACHE_ITER_HDR + usize::from(count) * TargCacheEntry::SIZE];
    put_u32(&mut b, 0, linkid);
    put_u64(&mut b, 8, marker);
    put_u16(&mut b, 16, count);
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

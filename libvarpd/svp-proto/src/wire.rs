//! The `#[repr(C)]` structs of `libvarpd_svp_prot.h`, field for field.
//!
//! # Theory of operation
//!
//! Every field is a byte array holding the big-endian (network order) value,
//! so the structs have alignment 1, no padding, and the exact sizes and
//! offsets of the illumos header (checked below at compile time against the
//! sizes gcc's `offsetof` gives for the real header). [`SvpWire`] views such a
//! struct as bytes and reads one from the front of a byte slice without
//! reading past it. Variable-length tails (`svp_log_ack_t`'s records,
//! `svp_lrm_req_t`'s ids, `svp_bulk_ack_t`'s data) are the fixed part's
//! struct plus bytes that follow it.
#![allow(non_camel_case_types)]

use core::mem::{align_of, offset_of, size_of};

/// A wire struct: `#[repr(C)]`, every field a `[u8; N]`.
///
/// # Safety
///
/// Implementors must be `#[repr(C)]` structs whose fields are all byte
/// arrays, so that alignment is 1, there is no padding, and every bit pattern
/// is a valid value.
pub unsafe trait SvpWire: Copy + Sized {
    /// The struct's bytes, as sent.
    fn as_bytes(&self) -> &[u8] {
        // SAFETY: the trait's contract: a repr(C) struct of byte arrays has
        // no padding and alignment 1, so its size_of bytes are initialised
        // u8s that live as long as `self`.
        unsafe {
            core::slice::from_raw_parts((self as *const Self).cast::<u8>(), size_of::<Self>())
        }
    }

    /// The struct at the front of `buf`, or `None` when `buf` is shorter.
    fn read_from(buf: &[u8]) -> Option<Self> {
        if buf.len() < size_of::<Self>() {
            return None;
        }
        // SAFETY: the length was checked above, read_unaligned needs no
        // alignment, and every bit pattern is valid per the trait contract.
        Some(unsafe { core::ptr::read_unaligned(buf.as_ptr().cast::<Self>()) })
    }

    /// An all-zero value.
    fn zeroed() -> Self {
        // SAFETY: every bit pattern, including all zeros, is valid.
        unsafe { core::mem::zeroed() }
    }
}

/// The message header (16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct svp_req_t {
    pub svp_ver: [u8; 2],
    pub svp_op: [u8; 2],
    pub svp_size: [u8; 4],
    /// Opaque: the illumos client writes it in host order.
    pub svp_id: [u8; 4],
    pub svp_crc32: [u8; 4],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct svp_vl2_req_t {
    pub sl2r_mac: [u8; 6],
    pub sl2r_pad: [u8; 2],
    pub sl2r_vnetid: [u8; 4],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct svp_vl2_ack_t {
    /// A 16-bit status, unlike every other ack.
    pub sl2a_status: [u8; 2],
    pub sl2a_port: [u8; 2],
    pub sl2a_addr: [u8; 16],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct svp_vl3_req_t {
    pub sl3r_ip: [u8; 16],
    pub sl3r_type: [u8; 4],
    pub sl3r_vnetid: [u8; 4],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct svp_vl3_ack_t {
    pub sl3a_status: [u8; 4],
    pub sl3a_mac: [u8; 6],
    pub sl3a_uport: [u8; 2],
    pub sl3a_uip: [u8; 16],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct svp_bulk_req_t {
    pub svbr_type: [u8; 4],
}

/// The fixed part of a BULK_ACK; `svba_data` follows.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct svp_bulk_ack_t {
    pub svba_status: [u8; 4],
    pub svba_type: [u8; 4],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct svp_log_req_t {
    /// The number of *bytes* of LOG_ACK payload the client can take.
    pub svlr_count: [u8; 4],
    /// The requesting host's underlay address (`svp/underlay_ip`).
    pub svlr_ip: [u8; 16],
}

/// The fixed part of a LOG_ACK; log records follow, each starting with a
/// u32 type.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct svp_log_ack_t {
    pub svla_status: [u8; 4],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct svp_log_vl2_t {
    pub svl2_type: [u8; 4],
    pub svl2_id: [u8; 16],
    pub svl2_mac: [u8; 6],
    pub svl2_pad: [u8; 2],
    pub svl2_vnetid: [u8; 4],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct svp_log_vl3_t {
    pub svl3_type: [u8; 4],
    pub svl3_id: [u8; 16],
    pub svl3_ip: [u8; 16],
    pub svl3_pad: [u8; 2],
    pub svl3_vlan: [u8; 2],
    pub svl3_vnetid: [u8; 4],
}

/// The fixed part of a LOG_RM; `svrr_count` 16-byte ids follow.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct svp_lrm_req_t {
    pub svrr_count: [u8; 4],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct svp_lrm_ack_t {
    pub svra_status: [u8; 4],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct svp_shootdown_t {
    pub svsd_mac: [u8; 6],
    pub svsd_pad: [u8; 2],
    pub svsd_vnetid: [u8; 4],
}

/// v2 (vpc branch) ROUTE_REQ, for completeness; never sent here.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct svp_route_req_t {
    pub srr_vnetid: [u8; 4],
    pub srr_vlan: [u8; 2],
    pub srr_pad: [u8; 2],
    pub srr_srcip: [u8; 16],
    pub srr_dstip: [u8; 16],
}

/// v2 (vpc branch) ROUTE_ACK, for completeness; never decoded here.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct svp_route_ack_t {
    pub sra_status: [u8; 4],
    pub sra_dcid: [u8; 4],
    pub sra_vnetid: [u8; 4],
    pub sra_vlan: [u8; 2],
    pub sra_port: [u8; 2],
    pub sra_ip: [u8; 16],
    pub sra_srcmac: [u8; 6],
    pub sra_dstmac: [u8; 6],
    pub sra_src_pfx: [u8; 1],
    pub sra_dst_pfx: [u8; 1],
    pub sra_pad: [u8; 2],
}

// SAFETY (all impls): each struct above is repr(C) with only byte-array
// fields (alignment 1, no padding, every bit pattern valid).
unsafe impl SvpWire for svp_req_t {}
unsafe impl SvpWire for svp_vl2_req_t {}
unsafe impl SvpWire for svp_vl2_ack_t {}
unsafe impl SvpWire for svp_vl3_req_t {}
unsafe impl SvpWire for svp_vl3_ack_t {}
unsafe impl SvpWire for svp_bulk_req_t {}
unsafe impl SvpWire for svp_bulk_ack_t {}
unsafe impl SvpWire for svp_log_req_t {}
unsafe impl SvpWire for svp_log_ack_t {}
unsafe impl SvpWire for svp_log_vl2_t {}
unsafe impl SvpWire for svp_log_vl3_t {}
unsafe impl SvpWire for svp_lrm_req_t {}
unsafe impl SvpWire for svp_lrm_ack_t {}
unsafe impl SvpWire for svp_shootdown_t {}
unsafe impl SvpWire for svp_route_req_t {}
unsafe impl SvpWire for svp_route_ack_t {}

/// `sizeof (svp_req_t)`.
pub const SVP_REQ_SIZE: usize = size_of::<svp_req_t>();
/// The size of one LOG_RM id (a UUID).
pub const SVP_LRM_ID_SIZE: usize = 16;

macro_rules! assert_layout {
    ($t:ty, $size:expr $(, $f:ident @ $off:expr)*) => {
        const _: () = assert!(size_of::<$t>() == $size);
        const _: () = assert!(align_of::<$t>() == 1);
        $(const _: () = assert!(offset_of!($t, $f) == $off);)*
    };
}

assert_layout!(svp_req_t, 16, svp_ver @ 0, svp_op @ 2, svp_size @ 4, svp_id @ 8, svp_crc32 @ 12);
assert_layout!(svp_vl2_req_t, 12, sl2r_mac @ 0, sl2r_pad @ 6, sl2r_vnetid @ 8);
assert_layout!(svp_vl2_ack_t, 20, sl2a_status @ 0, sl2a_port @ 2, sl2a_addr @ 4);
assert_layout!(svp_vl3_req_t, 24, sl3r_ip @ 0, sl3r_type @ 16, sl3r_vnetid @ 20);
assert_layout!(svp_vl3_ack_t, 28, sl3a_status @ 0, sl3a_mac @ 4, sl3a_uport @ 10, sl3a_uip @ 12);
assert_layout!(svp_bulk_req_t, 4, svbr_type @ 0);
assert_layout!(svp_bulk_ack_t, 8, svba_status @ 0, svba_type @ 4);
assert_layout!(svp_log_req_t, 20, svlr_count @ 0, svlr_ip @ 4);
assert_layout!(svp_log_ack_t, 4, svla_status @ 0);
assert_layout!(svp_log_vl2_t, 32, svl2_type @ 0, svl2_id @ 4, svl2_mac @ 20, svl2_pad @ 26,
    svl2_vnetid @ 28);
assert_layout!(svp_log_vl3_t, 44, svl3_type @ 0, svl3_id @ 4, svl3_ip @ 20, svl3_pad @ 36,
    svl3_vlan @ 38, svl3_vnetid @ 40);
assert_layout!(svp_lrm_req_t, 4, svrr_count @ 0);
assert_layout!(svp_lrm_ack_t, 4, svra_status @ 0);
assert_layout!(svp_shootdown_t, 12, svsd_mac @ 0, svsd_pad @ 6, svsd_vnetid @ 8);
assert_layout!(svp_route_req_t, 40, srr_vnetid @ 0, srr_vlan @ 4, srr_pad @ 6, srr_srcip @ 8,
    srr_dstip @ 24);
assert_layout!(svp_route_ack_t, 48, sra_status @ 0, sra_dcid @ 4, sra_vnetid @ 8, sra_vlan @ 12,
    sra_port @ 14, sra_ip @ 16, sra_srcmac @ 32, sra_dstmac @ 38, sra_src_pfx @ 44,
    sra_dst_pfx @ 45, sra_pad @ 46);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_illumos() {
        // The sizes of spec §1.4/§1.5 (gcc offsetof on the real header).
        assert_eq!(size_of::<svp_req_t>(), 16);
        assert_eq!(size_of::<svp_vl2_req_t>(), 12);
        assert_eq!(size_of::<svp_vl2_ack_t>(), 20);
        assert_eq!(size_of::<svp_vl3_req_t>(), 24);
        assert_eq!(size_of::<svp_vl3_ack_t>(), 28);
        assert_eq!(size_of::<svp_bulk_req_t>(), 4);
        assert_eq!(size_of::<svp_bulk_ack_t>(), 8);
        assert_eq!(size_of::<svp_log_req_t>(), 20);
        assert_eq!(size_of::<svp_log_ack_t>(), 4);
        assert_eq!(size_of::<svp_log_vl2_t>(), 32);
        assert_eq!(size_of::<svp_log_vl3_t>(), 44);
        assert_eq!(size_of::<svp_lrm_req_t>(), 4);
        assert_eq!(size_of::<svp_lrm_ack_t>(), 4);
        assert_eq!(size_of::<svp_shootdown_t>(), 12);
        assert_eq!(size_of::<svp_route_req_t>(), 40);
        assert_eq!(size_of::<svp_route_ack_t>(), 48);
    }

    #[test]
    fn read_from_is_bounded() {
        assert_eq!(svp_vl2_req_t::read_from(&[0u8; 11]), None);
        let b: Vec<u8> = (0..12).collect();
        let r = svp_vl2_req_t::read_from(&b).unwrap();
        assert_eq!(r.sl2r_mac, [0, 1, 2, 3, 4, 5]);
        assert_eq!(r.sl2r_vnetid, [8, 9, 10, 11]);
        assert_eq!(r.as_bytes(), &b[..]);
    }
}

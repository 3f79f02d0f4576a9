//! The `mac_propval_range_t` image carried in `oipi_poss` (§6.3 of the
//! spec), with the kernel's setter semantics and readers for clients.
//!
//! Layout inside the 256-byte buffer: `mpr_count` u32 @0, `mpr_type` u32 @4,
//! then either `{min u32, max u32}` pairs from @8 (UINT32) or, for STR,
//! `mpur_nextbyte` u32 @8 and the concatenated NUL-terminated strings from
//! @12. `oipi_posssize` starts at 16 (the C struct's size) after
//! [`poss_init`] and grows by 8 per range or `len + 1` per string; an
//! addition that would exceed 256, or whose type differs from ranges already
//! present, is silently ignored, exactly like the illumos helpers.

use crate::consts::{MAC_PROPVAL_STR, MAC_PROPVAL_UINT32, OVERLAY_PROP_SIZEMAX};

/// Size of the fixed `mac_propval_range_t` header.
pub const MAC_PROPVAL_RANGE_HDR: u32 = 16;
const OFF_COUNT: usize = 0;
const OFF_TYPE: usize = 4;
const OFF_RANGES: usize = 8;
const OFF_NEXTBYTE: usize = 8;
const OFF_STRDATA: usize = 12;

fn rd(b: &[u8], off: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[off..off + 4]);
    u32::from_ne_bytes(w)
}

fn wr(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
}

/// Zero the 16-byte header and set `posssize` to 16.
pub fn poss_init(poss: &mut [u8; OVERLAY_PROP_SIZEMAX], posssize: &mut u32) {
    poss[..MAC_PROPVAL_RANGE_HDR as usize].fill(0);
    *posssize = MAC_PROPVAL_RANGE_HDR;
}

/// `overlay_prop_set_range_uint32`.
pub fn poss_add_range_u32(
    poss: &mut [u8; OVERLAY_PROP_SIZEMAX],
    posssize: &mut u32,
    min: u32,
    max: u32,
) {
    let count = rd(poss, OFF_COUNT);
    if count != 0 && rd(poss, OFF_TYPE) != MAC_PROPVAL_UINT32 {
        return;
    }
    if *posssize as usize + 8 > OVERLAY_PROP_SIZEMAX {
        return;
    }
    let slot = OFF_RANGES + 8 * count as usize;
    if slot + 8 > OVERLAY_PROP_SIZEMAX {
        return;
    }
    *posssize += 8;
    wr(poss, OFF_COUNT, count + 1);
    wr(poss, OFF_TYPE, MAC_PROPVAL_UINT32);
    wr(poss, slot, min);
    wr(poss, slot + 4, max);
}

/// `overlay_prop_set_range_str`. `s` is the string without its NUL.
pub fn poss_add_str(poss: &mut [u8; OVERLAY_PROP_SIZEMAX], posssize: &mut u32, s: &[u8]) {
    let count = rd(poss, OFF_COUNT);
    if count != 0 && rd(poss, OFF_TYPE) != MAC_PROPVAL_STR {
        return;
    }
    let len = s.len() + 1;
    if *posssize as usize + len > OVERLAY_PROP_SIZEMAX {
        return;
    }
    let next = if count == 0 {
        0
    } else {
        rd(poss, OFF_NEXTBYTE) as usize
    };
    let at = OFF_STRDATA + next;
    if at + len > OVERLAY_PROP_SIZEMAX {
        return;
    }
    poss[at..at + s.len()].copy_from_slice(s);
    poss[at + s.len()] = 0;
    wr(poss, OFF_COUNT, count + 1);
    wr(poss, OFF_TYPE, MAC_PROPVAL_STR);
    wr(poss, OFF_NEXTBYTE, (next + len) as u32);
    *posssize += len as u32;
}

/// `mpr_count`.
pub fn poss_count(poss: &[u8; OVERLAY_PROP_SIZEMAX]) -> u32 {
    rd(poss, OFF_COUNT)
}

/// `mpr_type`.
pub fn poss_type(poss: &[u8; OVERLAY_PROP_SIZEMAX]) -> u32 {
    rd(poss, OFF_TYPE)
}

/// The `i`th uint32 range, if the image holds uint32 ranges and `i` exists.
pub fn poss_range_u32(poss: &[u8; OVERLAY_PROP_SIZEMAX], i: u32) -> Option<(u32, u32)> {
    if poss_type(poss) != MAC_PROPVAL_UINT32 || i >= poss_count(poss) {
        return None;
    }
    let slot = OFF_RANGES + 8 * i as usize;
    if slot + 8 > OVERLAY_PROP_SIZEMAX {
        return None;
    }
    Some((rd(poss, slot), rd(poss, slot + 4)))
}

/// The strings of a STR image (each without its NUL), in order. Empty if
/// the image is not STR. Tolerates a malformed image (stops at the end).
pub fn poss_strings(poss: &[u8; OVERLAY_PROP_SIZEMAX]) -> PossStrings<'_> {
    let n = if poss_type(poss) == MAC_PROPVAL_STR {
        poss_count(poss)
    } else {
        0
    };
    PossStrings {
        data: &poss[OFF_STRDATA..],
        left: n,
    }
}

/// Iterator returned by [`poss_strings`].
pub struct PossStrings<'a> {
    data: &'a [u8],
    left: u32,
}

impl<'a> Iterator for PossStrings<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 || self.data.is_empty() {
            return None;
        }
        self.left -= 1;
        let n = self
            .data
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(self.data.len());
        let s = &self.data[..n];
        self.data = &self.data[(n + 1).min(self.data.len())..];
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let mut p = [0xaau8; 256];
        let mut sz = 0;
        poss_init(&mut p, &mut sz);
        assert_eq!(sz, 16);
        assert_eq!(poss_count(&p), 0);
        poss_add_range_u32(&mut p, &mut sz, 576, 8900);
        assert_eq!(sz, 24);
        assert_eq!(poss_count(&p), 1);
        assert_eq!(poss_type(&p), MAC_PROPVAL_UINT32);
        assert_eq!(poss_range_u32(&p, 0), Some((576, 8900)));
        assert_eq!(&p[8..12], &576u32.to_le_bytes());
        // a string after ranges is ignored
        poss_add_str(&mut p, &mut sz, b"x");
        assert_eq!(sz, 24);
        for _ in 0..100 {
            poss_add_range_u32(&mut p, &mut sz, 1, 2);
        }
        assert!(sz <= 256);
        assert_eq!(poss_count(&p), 30);
    }

    #[test]
    fn strings() {
        let mut p = [0u8; 256];
        let mut sz = 0;
        poss_init(&mut p, &mut sz);
        poss_add_str(&mut p, &mut sz, b"vxlan");
        poss_add_str(&mut p, &mut sz, b"geneve");
        assert_eq!(sz, 16 + 6 + 7);
        assert_eq!(poss_count(&p), 2);
        assert_eq!(&p[8..12], &13u32.to_le_bytes());
        assert_eq!(&p[12..18], b"vxlan\0");
        let v: [&[u8]; 2] = [b"vxlan", b"geneve"];
        assert!(poss_strings(&p).eq(v.iter().copied()));
        poss_add_range_u32(&mut p, &mut sz, 1, 2);
        assert_eq!(poss_count(&p), 2);
        let long = [b'a'; 250];
        poss_add_str(&mut p, &mut sz, &long);
        assert_eq!(poss_count(&p), 2);
    }
}

//! The SVP CRC (`libvarpd_svp_crc.c`, `svp_query_crc32`).
//!
//! # Theory of operation
//!
//! Standard CRC-32 (reflected 0xEDB88320, init and final XOR 0xFFFFFFFF;
//! the same value as zlib's `crc32`) over the 16-byte header with
//! `svp_crc32` set to zero, followed by the payload. The value is stored
//! big-endian in `svp_crc32`.

use crate::wire::SVP_REQ_SIZE;

/// CRC-32 of `header` (with its crc field taken as zero) followed by
/// `payload`. Only the first 16 bytes of `header` are used; a shorter
/// header is zero-padded.
pub fn svp_frame_crc(header: &[u8], payload: &[u8]) -> u32 {
    let mut h = [0u8; SVP_REQ_SIZE];
    let n = header.len().min(SVP_REQ_SIZE);
    h[..n].copy_from_slice(&header[..n]);
    h[12..16].fill(0);
    let mut c = crc32fast::Hasher::new();
    c.update(&h);
    c.update(payload);
    c.finalize()
}

/// Plain CRC-32 of `buf` (zlib's `crc32`).
pub fn svp_crc32(buf: &[u8]) -> u32 {
    crc32fast::hash(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors computed with python3 `zlib.crc32`.
    #[test]
    fn known_vectors() {
        assert_eq!(svp_crc32(b""), 0);
        assert_eq!(svp_crc32(b"123456789"), 0xcbf4_3926);
        // PING, v1, id 00 00 00 01: zlib.crc32(bytes([0,1,0,1,0,0,0,0,0,0,0,1,0,0,0,0]))
        let ping = [0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        assert_eq!(svp_frame_crc(&ping, &[]), 0xb5b6_6088);
        // The crc field is ignored.
        let mut p2 = ping;
        p2[12..].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(svp_frame_crc(&p2, &[]), 0xb5b6_6088);
    }
}

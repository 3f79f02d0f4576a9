//! TCP segmentation (TSO) of frames read from a VNIC's TAP.
//!
//! Theory of operation: a TAP with `TUN_F_TSO4 | TUN_F_TSO6` hands its
//! reader TCP segments of up to 64 KiB (`GSO_TCPV4`/`GSO_TCPV6` in the
//! vnet header, [`crate::offload::VnetHdr`]). [`segment_tcp`] cuts one into
//! frames of at most `gso_size` payload bytes with their own IP lengths,
//! IDs, TCP sequence numbers, flags and full checksums, exactly what the
//! wire (and a peer without offloads) must see. Each segment then goes
//! through the driver's `mc_tx` like any frame.

use crate::bufpool::take;
use crate::offload::{
    be16, be32, complete_csum, csum_add, csum_fold, fill_tcp_csum, put16, put32, tcp_layout,
    OffloadError, VnetHdr, F_NEEDS_CSUM, GSO_ECN, GSO_NONE, GSO_TCPV4, GSO_TCPV6, TCP_CWR, TCP_FIN,
    TCP_PSH,
};

/// Cuts a TSO frame (`f`, the bytes after the vnet header) into wire-sized
/// frames. Each one is built in a buffer from this thread's pool
/// ([`crate::bufpool::take`]) with `headroom` bytes in front and handed to
/// `emit(vec)` (frame at `vec[headroom..]`). Errors come before the first
/// frame is emitted. Frames
/// with `GSO_NONE` are emitted whole, their checksum finished if asked.
pub fn segment_tcp(
    f: &[u8],
    h: &VnetHdr,
    headroom: usize,
    mut emit: impl FnMut(Vec<u8>),
) -> Result<(), OffloadError> {
    let one = |emit: &mut dyn FnMut(Vec<u8>)| -> Result<(), OffloadError> {
        let mut v = take(headroom + f.len());
        v.resize(headroom, 0);
        v.extend_from_slice(f);
        if h.flags & F_NEEDS_CSUM != 0 {
            complete_csum(&mut v[headroom..], h)?;
        }
        emit(v);
        Ok(())
    };
    match h.gso_type & !GSO_ECN {
        GSO_NONE => return one(&mut emit),
        GSO_TCPV4 | GSO_TCPV6 => {}
        _ => return Err(OffloadError::UnsupportedGso),
    }
    let lay = tcp_layout(f)?;
    let mss = usize::from(h.gso_size);
    if mss == 0 {
        return Err(OffloadError::BadMss);
    }
    let payload = &f[lay.hl..];
    if payload.len() <= mss {
        // Nothing to cut; the checksum may still be partial.
        let mut v = take(headroom + f.len());
        v.resize(headroom, 0);
        v.extend_from_slice(f);
        fill_tcp_csum(&mut v[headroom..], &lay);
        emit(v);
        return Ok(());
    }
    let seq0 = be32(f, lay.l4 + 4);
    let flags0 = f[lay.l4 + 13];
    let id0 = if lay.v6 { 0 } else { be16(f, lay.l3 + 4) };
    let nseg = payload.len().div_ceil(mss);
    for (i, chunk) in payload.chunks(mss).enumerate() {
        let mut v = take(headroom + lay.hl + chunk.len());
        v.resize(headroom, 0);
        v.extend_from_slice(&f[..lay.hl]);
        v.extend_from_slice(chunk);
        let p = &mut v[headroom..];
        let tcp_len = lay.hl - lay.l4 + chunk.len();
        if lay.v6 {
            // tcp_len <= 64 KiB: the frame came from a 64 KiB read.
            put16(p, lay.l3 + 4, tcp_len as u16);
        } else {
            let ihl = lay.l4 - lay.l3;
            put16(p, lay.l3 + 2, (ihl + tcp_len) as u16);
            put16(p, lay.l3 + 4, id0.wrapping_add(i as u16));
            put16(p, lay.l3 + 10, 0);
            let c = !csum_fold(csum_add(&p[lay.l3..lay.l4], 0));
            put16(p, lay.l3 + 10, c);
        }
        put32(p, lay.l4 + 4, seq0.wrapping_add((i * mss) as u32));
        let mut fl = flags0;
        if i + 1 < nseg {
            fl &= !(TCP_FIN | TCP_PSH);
        }
        if i > 0 {
            fl &= !TCP_CWR;
        }
        p[lay.l4 + 13] = fl;
        fill_tcp_csum(p, &lay);
        emit(v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offload::testframes::tcp4;
    use crate::offload::TCP_ACK;
    #[test]
    fn bad_tso_input_is_an_error_not_a_panic() {
        let h = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_TCPV4,
            gso_size: 0,
            ..Default::default()
        };
        let f = tcp4(1, TCP_ACK, &[0u8; 3000], &[]);
        assert_eq!(segment_tcp(&f, &h, 0, |_| {}), Err(OffloadError::BadMss));
        let h2 = VnetHdr {
            gso_size: 1000,
            ..h
        };
        for n in 0..60 {
            let _ = segment_tcp(&f[..n], &h2, 0, |_| {});
        }
        let h3 = VnetHdr { gso_type: 3, ..h2 };
        assert_eq!(
            segment_tcp(&f, &h3, 0, |_| {}),
            Err(OffloadError::UnsupportedGso)
        );
        let h4 = VnetHdr {
            gso_type: GSO_NONE,
            csum_start: 60000,
            ..h2
        };
        assert_eq!(
            segment_tcp(&f, &h4, 0, |_| {}),
            Err(OffloadError::BadCsumOffset)
        );
    }
}

//! TCP segmentation (TSO) of frames read from a VNIC's TAP.
//!
//! Theory of operation: a TAP with `TUN_F_TSO4 | TUN_F_TSO6` hands its
//! reader TCP segments of up to 64 KiB (`GSO_TCPV4`/`GSO_TCPV6` in the
//! vnet header, [`crate::offload::VnetHdr`]). [`segment_tcp`] cuts one into
//! frames of at most `gso_size` payload bytes with their own IP lengths,
//! IDs, TCP sequence numbers, flags and full checksums, exactly what the
//! wire (and a peer without offloads) must see. Each segment then goes
//! through the driver's `mc_tx` like any frame.

use crate::bufpool::{give, take};
use crate::offload::{
    be16, be32, complete_csum, csum_add, csum_fold, fill_tcp_csum, l4_layout, pseudo, put16, put32,
    tcp_layout, OffloadError, VnetHdr, F_NEEDS_CSUM, GSO_ECN, GSO_NONE, GSO_TCPV4, GSO_TCPV6,
    TCP_CWR, TCP_FIN, TCP_PSH,
};
use overlay::dblk_vec::Dblk;
use overlay::MsgBlk;

/// Most bytes of a frame without a TCP/UDP header that go into its
/// header block (the rest is a fragment of the read buffer).
pub const HDR_BLOCK: usize = 128;

/// The Ethernet header, which every frame's header block holds.
const ETHER_HDR: usize = 14;

/// Frames up to this size go into their header block whole: copying a
/// few payload bytes costs less than a fragment (a reference, an iovec
/// more per send) and keeps the read buffer free for the next read.
pub const COPY_MAX: usize = 256;

/// A message for the frame `db.tail()[off..off + len]` (at least an
/// Ethernet header): its headers copied into a pooled header block with
/// `headroom` bytes in front (where the driver prepends its own), the
/// rest a fragment of `db` (carved, not copied). The headers are the
/// frame up to its TCP/UDP header's end, or for any other frame its
/// first [`HDR_BLOCK`] bytes; a frame of at most [`COPY_MAX`] bytes goes
/// in whole. Also returns the bytes copied beyond the headers (beyond the
/// Ethernet header for a frame without a TCP/UDP header). `None` if the
/// range is not in the tail.
pub fn frame_msg(
    db: &mut Dblk,
    off: usize,
    len: usize,
    headroom: usize,
) -> Option<(MsgBlk, usize)> {
    let f = db.tail().get(off..off.checked_add(len)?)?;
    let hdrs = match l4_layout(f) {
        Ok(lay) => lay.hl,
        Err(_) => ETHER_HDR.min(len),
    };
    let h = if len <= COPY_MAX {
        len
    } else if hdrs > ETHER_HDR {
        hdrs
    } else {
        len.min(HDR_BLOCK)
    };
    let copied = h.saturating_sub(hdrs);
    let mut m = crate::bufpool::msgblk(headroom, &[&f[..h]]);
    if h < len {
        let frag = db.share(off + h, len - h)?;
        m.link(frag).ok()?;
    }
    Some((m, copied))
}

/// Cuts a TSO frame (`db.tail()[off..off + len]`, the bytes after the
/// vnet header) into wire-sized frames, each handed to `emit` as a
/// message of two blocks: its headers, built in a pooled buffer with
/// `headroom` bytes in front, and its payload, a fragment of `db` (not
/// copied; `db` keeps the bytes alive until the last message over them
/// is freed). Errors come before the first frame is emitted. Frames with
/// `GSO_NONE` are emitted whole ([`frame_msg`]), their checksum finished
/// if asked.
pub fn segment_tcp(
    db: &mut Dblk,
    off: usize,
    len: usize,
    h: &VnetHdr,
    headroom: usize,
    mut emit: impl FnMut(MsgBlk),
) -> Result<(), OffloadError> {
    let end = off.checked_add(len).ok_or(OffloadError::Short)?;
    if end > db.tail().len() {
        return Err(OffloadError::Short);
    }
    let whole = |db: &mut Dblk, emit: &mut dyn FnMut(MsgBlk)| -> Result<(), OffloadError> {
        let (m, _) = frame_msg(db, off, len, headroom).ok_or(OffloadError::Short)?;
        emit(m);
        Ok(())
    };
    match h.gso_type & !GSO_ECN {
        GSO_NONE => {
            if h.flags & F_NEEDS_CSUM != 0 {
                complete_csum(&mut db.tail_mut()[off..end], h)?;
            }
            return whole(db, &mut emit);
        }
        GSO_TCPV4 | GSO_TCPV6 => {}
        _ => return Err(OffloadError::UnsupportedGso),
    }
    let lay = tcp_layout(&db.tail()[off..end])?;
    let mss = usize::from(h.gso_size);
    if mss == 0 {
        return Err(OffloadError::BadMss);
    }
    let plen = len - lay.hl;
    if plen <= mss {
        // Nothing to cut; the checksum may still be partial.
        fill_tcp_csum(&mut db.tail_mut()[off..end], &lay);
        return whole(db, &mut emit);
    }
    // The headers every segment's are made from: carving the first
    // payload moves the tail past the frame's own. They fit: Ethernet
    // with a tag, and IP and TCP headers of at most 60 bytes each.
    let hl = lay.hl;
    let mut tpl = [0u8; 256];
    tpl.get_mut(..hl)
        .ok_or(OffloadError::Short)?
        .copy_from_slice(&db.tail()[off..off + hl]);
    let seq0 = be32(&tpl, lay.l4 + 4);
    let flags0 = tpl[lay.l4 + 13];
    let id0 = if lay.v6 { 0 } else { be16(&tpl, lay.l3 + 4) };
    let nseg = plen.div_ceil(mss);
    // Where the next payload starts in the tail (0 once the previous
    // payload is carved: they are back to back).
    let mut next = off + hl;
    for i in 0..nseg {
        let clen = mss.min(plen - i * mss);
        let mut v = take(headroom + hl);
        v.resize(headroom, 0);
        v.extend_from_slice(&tpl[..hl]);
        let p = &mut v[headroom..];
        let tcp_len = hl - lay.l4 + clen;
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
        // The checksum over the header here and the payload there (the
        // TCP header is a whole number of 32-bit words, so the sums
        // add up as over one buffer).
        put16(p, lay.l4 + 16, 0);
        let s = csum_add(&p[lay.l4..hl], pseudo(p, &lay, tcp_len));
        let s = csum_add(&db.tail()[next..next + clen], s);
        put16(p, lay.l4 + 16, !csum_fold(s));
        let mut m = MsgBlk::esballoc(v, headroom, give);
        // In range (checked above) and two blocks: neither fails.
        if let Some(frag) = db.share(next, clen) {
            let _ = m.link(frag);
        }
        next = 0;
        emit(m);
    }
    Ok(())
}

/// [`segment_tcp`] of a frame in a slice, for tests: each frame as a
/// buffer with `headroom` zero bytes in front (the message's headroom is
/// checked).
#[cfg(test)]
pub(crate) fn segment_slice(
    f: &[u8],
    h: &VnetHdr,
    headroom: usize,
    mut emit: impl FnMut(Vec<u8>),
) -> Result<(), OffloadError> {
    let mut v = Vec::with_capacity(f.len() + 3);
    v.extend_from_slice(&[0xee; 3]);
    v.extend_from_slice(f);
    let mut db = Dblk::new(v, None);
    segment_tcp(&mut db, 3, f.len(), h, headroom, |m| {
        assert_eq!(m.headroom(), headroom);
        let mut out = vec![0u8; headroom];
        out.extend_from_slice(&m.to_vec());
        emit(out);
    })
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
        assert_eq!(segment_slice(&f, &h, 0, |_| {}), Err(OffloadError::BadMss));
        let h2 = VnetHdr {
            gso_size: 1000,
            ..h
        };
        for n in 0..60 {
            let _ = segment_slice(&f[..n], &h2, 0, |_| {});
        }
        let h3 = VnetHdr { gso_type: 3, ..h2 };
        assert_eq!(
            segment_slice(&f, &h3, 0, |_| {}),
            Err(OffloadError::UnsupportedGso)
        );
        let h4 = VnetHdr {
            gso_type: GSO_NONE,
            csum_start: 60000,
            ..h2
        };
        assert_eq!(
            segment_slice(&f, &h4, 0, |_| {}),
            Err(OffloadError::BadCsumOffset)
        );
    }

    #[test]
    fn frame_msg_copies_headers_only_and_small_frames_whole() {
        let big = tcp4(1, TCP_ACK, &[7u8; 1400], &[]);
        let small = tcp4(1, TCP_ACK, &[7u8; 10], &[]);
        let mut icmp = big.clone();
        icmp[14 + 9] = 1;
        let hl = tcp_layout(&big).unwrap().hl;
        for (f, blocks, copied) in [
            (&big, 2, 0),
            (&small, 1, 10),
            (&icmp, 2, HDR_BLOCK - ETHER_HDR),
        ] {
            let mut db = Dblk::new(f.to_vec(), None);
            let (m, c) = frame_msg(&mut db, 0, f.len(), 32).unwrap();
            assert_eq!((m.nblocks(), c, m.headroom()), (blocks, copied, 32));
            assert_eq!(&m.to_vec(), f);
            if f == &big {
                assert_eq!(m.first().len(), hl);
                assert!(!db.is_unique(), "the payload stays in the buffer");
            }
        }
    }
}

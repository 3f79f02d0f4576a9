//! The SVP wire decoders (`svp-proto`) on arbitrary bytes, both ways: the
//! server side (portolan: frame reader with the server's cap and versions,
//! then `decode_request`) and the client side (the `svp` plugin: frame
//! reader for v1 only, then `decode_reply` with its LOG_ACK records).
//!
//! The input is split at a point taken from its first byte and fed in two
//! pushes, to exercise reassembly. Invariants: no panic; every frame's
//! payload is exactly `svp_size` bytes; whatever decodes re-encodes to a
//! frame that decodes to the same value with the same id.
//!
//! This file depends only on `svp-proto`, so `overlay-tests` includes it by
//! path to replay regression inputs.

use svp_proto::{
    decode_reply, decode_request, encode_reply, encode_request, SvpFrameReader, SvpHeader,
};

fn feed(data: &[u8], mut rd: SvpFrameReader, mut each: impl FnMut(&SvpHeader, &[u8])) {
    let cut = match data.first() {
        Some(&b) if !data.is_empty() => (b as usize) % data.len(),
        _ => 0,
    };
    for part in [&data[..cut], &data[cut..]] {
        rd.push(part);
        loop {
            match rd.next_frame() {
                Ok(Some(f)) => {
                    assert_eq!(f.payload.len(), f.hdr.size as usize);
                    each(&f.hdr, f.payload);
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = (e.to_string(), e.reason(), e.errno());
                    return;
                }
            }
        }
    }
    let _ = rd.finish();
}

fn reparse(bytes: &[u8]) -> (SvpHeader, Vec<u8>) {
    let mut rd = SvpFrameReader::new(u32::MAX);
    rd.push(bytes);
    let f = rd
        .next_frame()
        .expect("our own frame is valid")
        .expect("our own frame is whole");
    (f.hdr, f.payload.to_vec())
}

/// Server side: what portolan does with a connection's bytes.
pub fn run_server(data: &[u8]) {
    let rd = SvpFrameReader::new(64 * 1024).with_versions(1, 2);
    feed(data, rd, |hdr, payload| {
        if let Ok(req) = decode_request(hdr, payload) {
            let again = encode_request(hdr.id, &req);
            let (h2, p2) = reparse(&again);
            assert_eq!(h2.id, hdr.id);
            assert_eq!(decode_request(&h2, &p2).as_ref(), Ok(&req));
        }
    });
}

/// Client side: what the `svp` plugin does with a server's bytes.
pub fn run_client(data: &[u8]) {
    let rd = SvpFrameReader::new(64 * 1024);
    feed(data, rd, |hdr, payload| {
        if let Ok(rep) = decode_reply(hdr, payload) {
            let _ = rep.status();
            let again = encode_reply(hdr.id, &rep);
            let (h2, p2) = reparse(&again);
            assert_eq!(h2.id, hdr.id);
            assert_eq!(decode_reply(&h2, &p2).as_ref(), Ok(&rep));
        }
    });
}

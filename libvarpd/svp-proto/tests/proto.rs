//! svp-proto: encode/decode round trips for every op, pinned frames and CRC
//! vectors (computed with python3 `zlib.crc32`), the frame reader, and
//! "no byte string panics a decoder".

use std::net::Ipv6Addr;

use proptest::prelude::*;
use svp_proto::msg::{decode_log_records, encode_frame};
use svp_proto::op::*;
use svp_proto::status::*;
use svp_proto::*;

const ID: [u8; 4] = [0x11, 0x22, 0x33, 0x44];

fn v4m(a: u8, b: u8, c: u8, d: u8) -> Ipv6Addr {
    std::net::Ipv4Addr::new(a, b, c, d).to_ipv6_mapped()
}

fn frame_of(bytes: &[u8]) -> (SvpHeader, Vec<u8>) {
    let mut r = SvpFrameReader::new(1 << 20);
    r.push(bytes);
    let f = r.next_frame().unwrap().unwrap();
    let out = (f.hdr, f.payload.to_vec());
    assert!(r.next_frame().unwrap().is_none());
    assert_eq!(r.buffered(), 0);
    out
}

fn all_requests() -> Vec<SvpRequest> {
    vec![
        SvpRequest::Ping,
        SvpRequest::Vl2 {
            mac: [2, 8, 0x20, 0xaa, 0xbb, 0xcc],
            vnetid: 23,
        },
        SvpRequest::Vl3 {
            ip: v4m(192, 168, 1, 5),
            l3type: SVP_VL3_IP,
            vnetid: 0x00ff_ffff,
        },
        SvpRequest::Vl3 {
            ip: "fd00::5".parse().unwrap(),
            l3type: SVP_VL3_IPV6,
            vnetid: 1,
        },
        SvpRequest::Bulk {
            bulk_type: SVP_BULK_VL2,
        },
        SvpRequest::Log {
            count: 1024,
            ip: v4m(10, 0, 0, 1),
        },
        SvpRequest::LogRm { ids: vec![] },
        SvpRequest::LogRm {
            ids: vec![[7; 16], [9; 16], [0xff; 16]],
        },
        SvpRequest::Shootdown {
            mac: [0xa, 0xb, 0xc, 0xd, 0xe, 0xf],
            vnetid: 99,
        },
    ]
}

fn all_replies() -> Vec<SvpReply> {
    vec![
        SvpReply::Pong,
        SvpReply::Vl2Ack {
            status: SVP_S_OK as u16,
            port: 4789,
            addr: v4m(10, 0, 0, 2),
        },
        SvpReply::Vl2Ack {
            status: SVP_S_NOTFOUND as u16,
            port: 0,
            addr: Ipv6Addr::UNSPECIFIED,
        },
        SvpReply::Vl3Ack {
            status: SVP_S_OK,
            mac: [2, 0, 0, 0, 0, 1],
            uport: 4789,
            uip: "2001:db8::1".parse().unwrap(),
        },
        SvpReply::BulkAck {
            status: SVP_S_BADBULK,
            bulk_type: 0,
            data: vec![],
        },
        SvpReply::BulkAck {
            status: SVP_S_OK,
            bulk_type: 2,
            data: vec![1, 2, 3],
        },
        SvpReply::LogAck {
            status: SVP_S_OK,
            records: vec![
                SvpLogRecord::Vl2 {
                    id: [1; 16],
                    mac: [2, 0, 0, 0, 0, 9],
                    vnetid: 23,
                },
                SvpLogRecord::Vl3 {
                    id: [2; 16],
                    ip: v4m(192, 168, 0, 9),
                    vlan: 100,
                    vnetid: 23,
                },
            ],
        },
        SvpReply::LogAck {
            status: SVP_S_FATAL,
            records: vec![],
        },
        SvpReply::LogRmAck { status: SVP_S_OK },
    ]
}

#[test]
fn request_round_trips() {
    for req in all_requests() {
        let bytes = encode_request(ID, &req);
        let (hdr, payload) = frame_of(&bytes);
        assert_eq!(hdr.ver, SVP_CURRENT_VERSION);
        assert_eq!(hdr.op, req.op());
        assert_eq!(hdr.id, ID);
        assert_eq!(hdr.size as usize, bytes.len() - 16);
        assert_eq!(decode_request(&hdr, &payload).unwrap(), req, "{req:?}");
    }
}

#[test]
fn reply_round_trips() {
    for rep in all_replies() {
        let bytes = encode_reply(ID, &rep);
        let (hdr, payload) = frame_of(&bytes);
        assert_eq!(hdr.op, rep.op());
        assert_eq!(hdr.id, ID);
        assert_eq!(decode_reply(&hdr, &payload).unwrap(), rep, "{rep:?}");
    }
}

#[test]
fn sizes_per_op() {
    let sizes: Vec<(SvpRequest, usize)> = vec![
        (SvpRequest::Ping, 0),
        (
            SvpRequest::Vl2 {
                mac: [0; 6],
                vnetid: 0,
            },
            12,
        ),
        (
            SvpRequest::Vl3 {
                ip: Ipv6Addr::UNSPECIFIED,
                l3type: 1,
                vnetid: 0,
            },
            24,
        ),
        (SvpRequest::Bulk { bulk_type: 1 }, 4),
        (
            SvpRequest::Log {
                count: 0,
                ip: Ipv6Addr::UNSPECIFIED,
            },
            20,
        ),
        (
            SvpRequest::LogRm {
                ids: vec![[0; 16]; 2],
            },
            36,
        ),
        (
            SvpRequest::Shootdown {
                mac: [0; 6],
                vnetid: 0,
            },
            12,
        ),
    ];
    for (r, n) in sizes {
        assert_eq!(encode_request(ID, &r).len(), 16 + n, "{r:?}");
    }
    let rs: Vec<(SvpReply, usize)> = vec![
        (SvpReply::Pong, 0),
        (SvpReply::status_only(SVP_R_VL2_REQ, 1).unwrap(), 20),
        (SvpReply::status_only(SVP_R_VL3_REQ, 1).unwrap(), 28),
        (SvpReply::status_only(SVP_R_BULK_REQ, 4).unwrap(), 8),
        (SvpReply::status_only(SVP_R_LOG_REQ, 1).unwrap(), 4),
        (SvpReply::status_only(SVP_R_LOG_RM, 1).unwrap(), 4),
    ];
    for (r, n) in rs {
        assert_eq!(encode_reply(ID, &r).len(), 16 + n, "{r:?}");
    }
    assert!(SvpReply::status_only(SVP_R_PING, 1).is_none());
    assert!(SvpReply::status_only(SVP_R_SHOOTDOWN, 1).is_none());
}

/// Whole frames pinned byte for byte, CRCs from python3 zlib.crc32.
#[test]
fn pinned_frames() {
    // zlib.crc32(bytes([0,1,0,3,0,0,0,12,0x11,0x22,0x33,0x44,0,0,0,0]) +
    //            bytes([2,8,0x20,0xaa,0xbb,0xcc,0,0,0,0,0,23])) == 0xe77b8270
    let req = encode_request(
        ID,
        &SvpRequest::Vl2 {
            mac: [2, 8, 0x20, 0xaa, 0xbb, 0xcc],
            vnetid: 23,
        },
    );
    assert_eq!(
        req,
        [
            0, 1, 0, 3, 0, 0, 0, 12, 0x11, 0x22, 0x33, 0x44, 0xe7, 0x7b, 0x82, 0x70, 2, 8, 0x20,
            0xaa, 0xbb, 0xcc, 0, 0, 0, 0, 0, 23
        ]
    );
    // VL2_ACK OK port 4789 ::ffff:10.0.0.2: crc 0xb0abc4a3; status is u16 BE.
    let ack = encode_reply(
        ID,
        &SvpReply::Vl2Ack {
            status: 0,
            port: 4789,
            addr: v4m(10, 0, 0, 2),
        },
    );
    let mut want = vec![
        0, 1, 0, 4, 0, 0, 0, 20, 0x11, 0x22, 0x33, 0x44, 0xb0, 0xab, 0xc4, 0xa3,
    ];
    want.extend_from_slice(&[0, 0, 0x12, 0xb5]);
    want.extend_from_slice(&[0; 10]);
    want.extend_from_slice(&[0xff, 0xff, 10, 0, 0, 2]);
    assert_eq!(ack, want);
    // PING id 00000001: crc 0xb5b66088.
    let ping = encode_request([0, 0, 0, 1], &SvpRequest::Ping);
    assert_eq!(
        ping,
        [0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xb5, 0xb6, 0x60, 0x88]
    );
}

#[test]
fn vl2_ack_status_is_u16() {
    let ack = encode_reply(
        ID,
        &SvpReply::status_only(SVP_R_VL2_REQ, SVP_S_NOTFOUND).unwrap(),
    );
    assert_eq!(&ack[16..18], &[0, 2]);
}

#[test]
fn id_is_opaque() {
    // A host-order id (little-endian 5) comes back byte for byte.
    let id = 5u32.to_le_bytes();
    let r = encode_reply(id, &SvpReply::Pong);
    assert_eq!(&r[8..12], &id);
}

#[test]
fn reader_rejects() {
    // Bad CRC.
    let mut f = encode_request(ID, &SvpRequest::Ping);
    f[15] ^= 1;
    let mut r = SvpFrameReader::new(64);
    r.push(&f);
    assert!(matches!(r.next_frame(), Err(SvpError::BadCrc { .. })));
    // Bad version.
    let mut f = Vec::new();
    encode_frame(&mut f, 2, SVP_R_PING, ID, &[]);
    let mut r = SvpFrameReader::new(64);
    r.push(&f);
    assert_eq!(r.next_frame().unwrap_err(), SvpError::BadVersion(2));
    let mut r = SvpFrameReader::new(64).with_versions(1, 2);
    r.push(&f);
    assert!(r.next_frame().unwrap().is_some());
    // Over the cap: rejected from the header alone.
    let mut f = Vec::new();
    encode_frame(&mut f, 1, SVP_R_LOG_RM, ID, &[0; 100]);
    let mut r = SvpFrameReader::new(64);
    r.push(&f[..16]);
    assert!(matches!(
        r.next_frame(),
        Err(SvpError::SizeOverCap { size: 100, cap: 64 })
    ));
    // Truncated, then EOF.
    let f = encode_request(
        ID,
        &SvpRequest::Log {
            count: 5,
            ip: Ipv6Addr::LOCALHOST,
        },
    );
    let mut r = SvpFrameReader::new(64);
    r.push(&f[..20]);
    assert!(r.next_frame().unwrap().is_none());
    assert_eq!(r.finish(), Err(SvpError::ShortFrame { need: 36, have: 20 }));
    let mut r = SvpFrameReader::new(64);
    r.push(&f[..3]);
    assert_eq!(r.finish(), Err(SvpError::ShortFrame { need: 16, have: 3 }));
}

#[test]
fn reader_byte_at_a_time_and_batched() {
    let mut all = Vec::new();
    for (i, q) in all_requests().iter().enumerate() {
        q.encode_into((i as u32).to_be_bytes(), &mut all);
    }
    let mut r = SvpFrameReader::new(4096);
    let mut got = Vec::new();
    for b in &all {
        r.push(std::slice::from_ref(b));
        while let Some(f) = r.next_frame().unwrap() {
            got.push(decode_request(&f.hdr, f.payload).unwrap());
        }
    }
    assert_eq!(got, all_requests());
    assert!(r.finish().is_ok());
    // All at once, through read_from.
    let mut r = SvpFrameReader::new(4096);
    let mut src = &all[..];
    while r.read_from(&mut src).unwrap() > 0 {}
    let mut n = 0;
    while r.next_frame().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, all_requests().len());
}

#[test]
fn wrong_sizes_rejected() {
    let ops = [
        (SVP_R_PING, 0usize),
        (SVP_R_VL2_REQ, 12),
        (SVP_R_VL3_REQ, 24),
        (SVP_R_BULK_REQ, 4),
        (SVP_R_LOG_REQ, 20),
        (SVP_R_SHOOTDOWN, 12),
    ];
    for (op, good) in ops {
        for n in 0..64 {
            let h = SvpHeader {
                ver: 1,
                op,
                size: n as u32,
                id: ID,
                crc: 0,
            };
            let r = decode_request(&h, &vec![0; n]);
            if n == good {
                assert!(r.is_ok(), "op {op} size {n}");
            } else {
                assert_eq!(r, Err(SvpError::BadSize { op, size: n as u32 }));
            }
        }
    }
    // LOG_RM whose count disagrees with its size.
    let h = SvpHeader {
        ver: 1,
        op: SVP_R_LOG_RM,
        size: 20,
        id: ID,
        crc: 0,
    };
    let mut p = 2u32.to_be_bytes().to_vec();
    p.extend_from_slice(&[0; 16]);
    assert!(matches!(
        decode_request(&h, &p),
        Err(SvpError::BadSize { .. })
    ));
    let mut p = u32::MAX.to_be_bytes().to_vec();
    p.extend_from_slice(&[0; 16]);
    assert!(matches!(
        decode_request(&h, &p),
        Err(SvpError::BadSize { .. })
    ));
    // Replies with the wrong size, and request ops as replies.
    for (op, good) in [
        (SVP_R_VL2_ACK, 20),
        (SVP_R_VL3_ACK, 28),
        (SVP_R_LOG_RM_ACK, 4),
    ] {
        for n in 0..64 {
            let h = SvpHeader {
                ver: 1,
                op,
                size: n as u32,
                id: ID,
                crc: 0,
            };
            assert_eq!(decode_reply(&h, &vec![0; n]).is_ok(), n == good);
        }
    }
    let h = SvpHeader {
        ver: 1,
        op: SVP_R_VL2_REQ,
        size: 12,
        id: ID,
        crc: 0,
    };
    assert_eq!(
        decode_reply(&h, &[0; 12]),
        Err(SvpError::UnknownOp(SVP_R_VL2_REQ))
    );
    let h = SvpHeader {
        ver: 1,
        op: SVP_R_ROUTE_REQ,
        size: 40,
        id: ID,
        crc: 0,
    };
    assert_eq!(
        decode_request(&h, &[0; 40]),
        Err(SvpError::UnknownOp(SVP_R_ROUTE_REQ))
    );
}

#[test]
fn log_records_bounded() {
    let mut p = Vec::new();
    SvpLogRecord::Vl2 {
        id: [1; 16],
        mac: [1; 6],
        vnetid: 1,
    }
    .encode_into(&mut p);
    assert_eq!(p.len(), 32);
    assert!(decode_log_records(&p).is_ok());
    assert_eq!(
        decode_log_records(&p[..31]),
        Err(SvpError::ShortLogRecord { rtype: 1, off: 0 })
    );
    let mut q = p.clone();
    q.extend_from_slice(&[0, 0]);
    assert_eq!(
        decode_log_records(&q),
        Err(SvpError::ShortLogRecord { rtype: 0, off: 32 })
    );
    let mut q = p.clone();
    q.extend_from_slice(&3u32.to_be_bytes());
    q.extend_from_slice(&[0; 68]);
    assert_eq!(decode_log_records(&q), Err(SvpError::UnknownLogType(3)));
}

fn any_op() -> impl Strategy<Value = u16> {
    prop_oneof![0u16..=0x10, any::<u16>()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn decoders_never_panic(op in any_op(), payload in proptest::collection::vec(any::<u8>(), 0..200)) {
        let h = SvpHeader { ver: 1, op, size: payload.len() as u32, id: ID, crc: 0 };
        let _ = decode_request(&h, &payload);
        let _ = decode_reply(&h, &payload);
        let _ = decode_log_records(&payload);
    }

    #[test]
    fn reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300), cut in 0usize..300) {
        let mut r = SvpFrameReader::new(128).with_versions(1, 2);
        let cut = cut.min(bytes.len());
        r.push(&bytes[..cut]);
        let mut ok = true;
        while ok {
            match r.next_frame() {
                Ok(Some(f)) => {
                    prop_assert_eq!(f.payload.len(), f.hdr.size as usize);
                    let (h, p) = (f.hdr, f.payload.to_vec());
                    let _ = decode_request(&h, &p);
                    let _ = decode_reply(&h, &p);
                }
                Ok(None) => ok = false,
                Err(_) => return Ok(()),
            }
        }
        r.push(&bytes[cut..]);
        while let Ok(Some(_)) = r.next_frame() {}
        let _ = r.finish();
    }

    /// A valid frame with any one byte flipped is rejected or still decodes
    /// to something; it never panics and the CRC catches payload changes.
    #[test]
    fn corrupted_frames(idx in 0usize..64, bit in 0u8..8) {
        let f = encode_request(ID, &SvpRequest::Vl3 { ip: v4m(1,2,3,4), l3type: 1, vnetid: 7 });
        let mut g = f.clone();
        let i = idx % g.len();
        g[i] ^= 1 << bit;
        let mut r = SvpFrameReader::new(1024);
        r.push(&g);
        let passed = matches!(r.next_frame(), Ok(Some(_)));
        prop_assert!(!passed, "a flipped bit at {} passed", i);
    }
}

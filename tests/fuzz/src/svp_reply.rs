//! The svp plugin's reply path (`svp_conn_pollin`): arbitrary bytes from
//! the server side of one connection with four queries outstanding (VL2,
//! VL3, LOG with a 1024-byte buffer, LOG_RM, ids 1–4 in host order).
//!
//! Invariants: no panic; the connection either waits for more or asks for
//! a reset; every completed query gets its reply's payload within the
//! size the op allows (20, 28, ≤ 1024, 4 bytes) and a matching op; no
//! query completes twice.
//!
//! This file depends only on `libvarpd` and `svp-proto`, so libvarpd's
//! tests include it by path to replay inputs.

use std::io::{Read, Write};
use std::net::Ipv6Addr;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

use libvarpd::plugins::svp::conn::{SvpConn, SvpConnAct};
use libvarpd::plugins::svp::ctx::{SvpConfig, SvpCtx};
use libvarpd::plugins::svp::query::{svp_wire_id, Completions, SvpQuery, SvpReplyData};
use svp_proto::{encode_request, SvpRequest};

/// Largest input written (a socket pair holds at least this much).
const MAX_INPUT: usize = 64 * 1024;

pub fn run(data: &[u8]) {
    replay(data);
}

/// [`run`], returning how many queries got a reply.
pub fn replay(data: &[u8]) -> usize {
    let data = &data[..data.len().min(MAX_INPUT)];
    let Ok(ctx) = SvpCtx::new(SvpConfig::default()) else {
        return 0;
    };
    let Ok((a, mut b)) = UnixStream::pair() else {
        return 0;
    };
    if a.set_nonblocking(true).is_err() || b.set_nonblocking(true).is_err() {
        return 0;
    }
    let mut c = SvpConn::new(&ctx, 1, Ipv6Addr::LOCALHOST, 1296, 0);
    assert_eq!(c.adopt(a.into()), SvpConnAct::Restore);

    let got: Arc<Mutex<Vec<(u32, SvpReplyData)>>> = Arc::default();
    let reqs = [
        (
            SvpRequest::Vl2 {
                mac: [2, 0, 0, 0, 0, 1],
                vnetid: 7,
            },
            20u32,
        ),
        (
            SvpRequest::Vl3 {
                ip: Ipv6Addr::LOCALHOST,
                l3type: 2,
                vnetid: 7,
            },
            28,
        ),
        (
            SvpRequest::Log {
                count: 1024,
                ip: Ipv6Addr::LOCALHOST,
            },
            1024,
        ),
        (SvpRequest::LogRm { ids: vec![[9; 16]] }, 4),
    ];
    for (k, (req, max)) in reqs.iter().enumerate() {
        let id = k as u32 + 1;
        let g = got.clone();
        let frame = encode_request(svp_wire_id(id), req);
        c.queue(SvpQuery::new(
            id,
            req.op(),
            frame,
            *max,
            Box::new(move |r| {
                g.lock().unwrap().push((id, r));
            }),
        ));
    }
    // Write the requests out and throw them away on the server side.
    for _ in 0..16 {
        assert_eq!(c.pollout(&ctx), SvpConnAct::None);
    }
    let mut sink = [0u8; 4096];
    while let Ok(n) = b.read(&mut sink) {
        if n == 0 {
            break;
        }
    }
    if b.write_all(data).is_err() {
        return 0;
    }
    let _ = b.shutdown(std::net::Shutdown::Write);

    let mut done = Completions::new();
    let mut act = SvpConnAct::None;
    for _ in 0..100_000 {
        act = c.pollin(&ctx, &mut done);
        if act != SvpConnAct::None {
            break;
        }
    }
    assert!(
        matches!(act, SvpConnAct::Error(_)),
        "EOF must end in a reset: {act:?}"
    );
    done.run();
    let replies = std::mem::take(&mut *got.lock().unwrap());
    let mut seen = Vec::new();
    for (id, r) in replies.iter() {
        assert!(!seen.contains(id), "query {id} completed twice");
        seen.push(*id);
        let h = r.header.expect("a completed reply has a header");
        let max = reqs[*id as usize - 1].1 as usize;
        assert!(
            r.payload.len() <= max,
            "payload {} > {max}",
            r.payload.len()
        );
        assert_eq!(h.op, reqs[*id as usize - 1].0.op() + 1);
    }
    // The rest fail locally, as a reset would.
    while let Some(q) = c.queries.pop_front() {
        done.push(q.complete(&ctx, SvpReplyData::fatal()));
    }
    done.run();
    replies.len()
}

//! The svp plugin against a hostile SVP server: wrong sizes, a bad CRC,
//! garbage, a wrong version, op or id, a closed connection, a LOG_ACK
//! larger than asked for, and a server that never answers. Each resets the
//! connection with the reason counted, the lookup is dropped, the plugin
//! keeps running and answers again once the server behaves.

mod svp_server;

use std::time::Duration;

use libvarpd::plugins::svp::conn::SvpConnState;
use libvarpd::plugins::svp::SvpConfig;
use svp_server::fixture::*;
use svp_server::{Mode, Server};

const T: Duration = Duration::from_secs(20);
const M1: [u8; 6] = [0x02, 0x08, 0x20, 0, 0, 1];

fn active(p: &libvarpd::plugins::svp::SvpPlugin) -> bool {
    p.remotes()
        .first()
        .and_then(|r| r.conns.first().map(|c| c.state == SvpConnState::Active))
        .unwrap_or(false)
}

#[test]
fn every_hostile_reply_resets_and_the_plugin_recovers() {
    let srv = Server::start_v4();
    srv.state().vl2.insert((M1, 9), (v6("10.0.0.9"), 4789));
    let (reg, p) = plugin_cfg(SvpConfig {
        tick: Duration::from_millis(20),
        query_timeout: 5,
        // Keep the log poller out of the way of the counts.
        shootdown_base: 100_000,
        ..SvpConfig::default()
    });
    let i = started(&reg, 5, 9, "127.0.0.1", srv.port);
    wait_until("connected", T, || active(&p));
    let mut reqid = 0;
    for (mode, counter) in [
        (Mode::BadSize, "reset_size"),
        (Mode::BadCrc, "reset_crc"),
        (Mode::Garbage, "reset_version"),
        (Mode::BadVersion, "reset_version"),
        (Mode::UnknownOp, "reset_op"),
        (Mode::UnknownId, "reset_id"),
        (Mode::Close, "reset_eof"),
        (Mode::Silent, "reset_timeout"),
    ] {
        let before = p.stats()[counter];
        srv.set_mode(mode);
        reqid += 1;
        i.lookup(reqid, M1);
        assert_eq!(i.answer(reqid), None, "{mode:?}");
        wait_until(counter, T, || p.stats()[counter] > before);
        srv.set_mode(Mode::Normal);
        wait_until("reconnected", T, || active(&p));
        reqid += 1;
        i.lookup(reqid, M1);
        assert!(i.answer(reqid).is_some(), "after {mode:?}");
    }
    assert!(
        i.degrades().is_empty(),
        "a reset connection that reconnects is not degraded"
    );
}

#[test]
fn log_ack_larger_than_the_buffer_resets() {
    // portolan's overrun (spec/svp.md §2.8): 1028 bytes to a 1024-byte
    // LOG_REQ. The client bounds the read by its buffer and resets.
    let srv = Server::start_v4();
    srv.set_mode(Mode::LogOverrun);
    let (reg, p) = plugin_cfg(SvpConfig {
        tick: Duration::from_millis(20),
        shootdown_base: 1,
        ..SvpConfig::default()
    });
    let _i = started(&reg, 5, 9, "127.0.0.1", srv.port);
    wait_until("size reset", T, || p.stats()["reset_size"] >= 1);
    assert_eq!(p.stats()["log_vl2"], 0);
}

#[test]
fn a_server_that_never_answers_degrades_nothing_but_drops() {
    let srv = Server::start_v4();
    srv.set_mode(Mode::Silent);
    let (reg, p) = plugin_cfg(SvpConfig {
        tick: Duration::from_millis(20),
        query_timeout: 3,
        ..SvpConfig::default()
    });
    let i = started(&reg, 5, 9, "127.0.0.1", srv.port);
    wait_until("connected", T, || active(&p));
    for k in 1..=3 {
        i.lookup(k, M1);
    }
    for k in 1..=3 {
        assert_eq!(i.answer(k), None);
    }
    assert!(p.stats()["reset_timeout"] >= 1);
}

#[path = "../../tests/fuzz/src/svp_reply.rs"]
mod svp_reply;

/// The fuzz harness of the reply path on crafted inputs: valid replies to
/// each query, out of order, split, truncated, oversized, garbage.
#[test]
fn reply_path_harness_inputs() {
    use svp_proto::{encode_reply, SvpLogRecord, SvpReply};
    let id = |n: u32| n.to_ne_bytes();
    let vl2 = encode_reply(
        id(1),
        &SvpReply::Vl2Ack {
            status: 0,
            port: 4789,
            addr: v6("10.0.0.1"),
        },
    );
    let vl3 = encode_reply(
        id(2),
        &SvpReply::Vl3Ack {
            status: 0,
            mac: [2; 6],
            uport: 4789,
            uip: v6("10.0.0.1"),
        },
    );
    let log = encode_reply(
        id(3),
        &SvpReply::LogAck {
            status: 0,
            records: vec![SvpLogRecord::Vl2 {
                id: [1; 16],
                mac: [2; 6],
                vnetid: 7,
            }],
        },
    );
    let lrm = encode_reply(id(4), &SvpReply::LogRmAck { status: 0 });
    let mut all = Vec::new();
    for f in [&lrm, &vl3, &log, &vl2] {
        all.extend_from_slice(f);
    }
    let inputs: Vec<Vec<u8>> = vec![
        vec![],
        all.clone(),
        all[..all.len() - 3].to_vec(),
        [vl2.clone(), vl2.clone()].concat(),
        svp_server::frame(1, svp_proto::op::SVP_R_LOG_ACK, id(3), &[0u8; 1028]),
        svp_server::frame(1, svp_proto::op::SVP_R_VL2_ACK, id(2), &[0u8; 20]),
        b"garbage garbage garbage garbage".to_vec(),
        vec![0xff; 4096],
    ];
    svp_reply::run(&all);
    let counts: Vec<usize> = inputs.iter().map(|i| svp_reply::replay(i)).collect();
    // All four answered; the truncated stream answers the first three;
    // a repeated id and every malformed frame reset after what came before.
    assert_eq!(counts, vec![0, 4, 3, 1, 0, 0, 0, 0]);
}

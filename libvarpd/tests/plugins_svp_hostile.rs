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

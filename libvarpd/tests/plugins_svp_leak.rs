//! No descriptor or thread leak across 200 reconnects of the svp plugin,
//! and none left once the last instance stops. Alone in its binary so
//! nothing else opens descriptors meanwhile.

mod svp_server;

use std::time::Duration;

use libvarpd::plugins::svp::conn::SvpConnState;
use libvarpd::plugins::svp::SvpConfig;
use svp_server::fixture::*;
use svp_server::Server;

fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn svp_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|c| c.starts_with("svp-"))
        .count()
}

#[test]
fn two_hundred_reconnects_leak_nothing() {
    let srv = Server::start_v4();
    let (reg, p) = plugin_cfg(SvpConfig {
        tick: Duration::from_millis(10),
        ..SvpConfig::default()
    });
    let i = started(&reg, 5, 9, "127.0.0.1", srv.port);
    let active = || {
        p.remotes()[0]
            .conns
            .first()
            .is_some_and(|c| c.state == SvpConnState::Active)
    };
    wait_until("connected", Duration::from_secs(20), active);
    // The kernel completes the handshake before the server accepts: wait
    // for the server to hold the connection it is asked to drop.
    srv.wait("accepted", Duration::from_secs(20), |s| s.accepted[0] == 1);
    let (fd0, th0) = (fds(), svp_threads());
    assert_eq!(th0, 2, "one event loop and one resolver thread");
    for n in 1..=200usize {
        srv.drop_connections();
        let t0 = std::time::Instant::now();
        while !(srv.state().accepted[0] > n && active()) {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "reconnect {n}: accepted {:?}, {:?}, {:?}",
                srv.state().accepted,
                p.remotes(),
                p.stats()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    assert!(p.stats()["reset_eof"] + p.stats()["reset_io"] >= 200);
    // Let the server's per-connection threads wind down.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(svp_threads(), th0);
    assert!(
        fds() <= fd0 + 2,
        "descriptors: {fd0} before, {} after",
        fds()
    );
    i.inst.stop();
    wait_until("threads gone", Duration::from_secs(10), || {
        svp_threads() == 0
    });
    assert!(p.remotes().is_empty());
}

//! The data path (§10, §11): MAC start/stop, the mux, transmit and
//! receive, drop counters, and the VXLAN wire checks of spec/vxlan.md §1.2
//! (E1–E3, E13, D1, D3, D4, D5).
mod common;
use common::*;
use overlay::sys::*;
use overlay::testing::Event;
use overlay::{Errno, MsgBlk, MsgBlkChain, SockaddrIn6};

fn point_dev() -> (Ovl, u32) {
    let o = new();
    let h = open_varpd(&o);
    up(&o, h, 1, 23, OVERLAY_TARGET_POINT);
    (o, h)
}

// ---- start / stop ----

#[test]
fn start_before_activate_is_eagain() {
    let o = new();
    assert_eq!(create(&o, 1, 1), 0);
    assert_eq!(o.dev_by_linkid(1).unwrap().m_start(), Err(Errno::EAGAIN));
}

#[test]
fn start_opens_socket_with_vxlan_params_and_sockopt() {
    let (o, _h) = point_dev();
    let ev = o.platform().events();
    let p = ev
        .iter()
        .find_map(|e| match e {
            Event::SocketOpen(p) => Some(*p),
            _ => None,
        })
        .unwrap();
    assert_eq!((p.domain, p.stype, p.protocol), (AF_INET6, SOCK_DGRAM, 0));
    assert_eq!(p.addr, listen_addr());
    assert_eq!(p.addr.port_be, 4789u16.to_be());
    assert!(ev.contains(&Event::SocketSetopt(
        IPPROTO_UDP,
        UDP_SRCPORT_HASH,
        UDP_HASH_VXLAN.to_ne_bytes().to_vec()
    )));
    assert_ne!(o.dev_by_linkid(1).unwrap().flags() & OVERLAY_F_IN_MUX, 0);
}

#[test]
fn start_twice_is_harmless() {
    let (o, _h) = point_dev();
    o.dev_by_linkid(1).unwrap().m_start().unwrap();
    assert_eq!(o.nmuxes(), 1);
    assert_eq!(o.muxes()[0].ndevs(), 1);
}

#[test]
fn start_socket_error_propagates() {
    let o = new();
    let h = open_varpd(&o);
    assert_eq!(create(&o, 1, 1), 0);
    set_listen(&o, 1, LISTEN, 4789);
    associate(&o, h, 1, OVERLAY_TARGET_POINT, point(PEER, 4789)).unwrap();
    assert_eq!(activate(&o, 1), 0);
    *o.platform().fail_socket_open.lock().unwrap() = Some(Errno::EADDRINUSE);
    let d = o.dev_by_linkid(1).unwrap();
    assert_eq!(d.m_start(), Err(Errno::EADDRINUSE));
    assert_eq!(d.flags() & OVERLAY_F_IN_MUX, 0);
    *o.platform().fail_setopt.lock().unwrap() = Some(Errno::EINVAL);
    assert_eq!(d.m_start(), Err(Errno::EINVAL));
    assert_eq!(
        o.platform().nsockets(),
        0,
        "socket closed after sockopt failure"
    );
    *o.platform().fail_setopt.lock().unwrap() = None;
    assert_eq!(d.m_start(), Ok(()));
}

#[test]
fn stop_leaves_mux_and_closes_last_socket() {
    let o = new();
    let h = open_varpd(&o);
    up(&o, h, 1, 1, OVERLAY_TARGET_POINT);
    up(&o, h, 2, 2, OVERLAY_TARGET_POINT);
    assert_eq!(o.nmuxes(), 1, "same listen address: one shared mux");
    assert_eq!(o.muxes()[0].ndevs(), 2);
    o.dev_by_linkid(1).unwrap().m_stop();
    assert_eq!(o.platform().nsockets(), 1);
    assert_eq!(
        o.dev_by_linkid(1).unwrap().flags() & (OVERLAY_F_IN_MUX | OVERLAY_F_MDDROP),
        0
    );
    o.dev_by_linkid(2).unwrap().m_stop();
    assert_eq!(o.platform().nsockets(), 0);
    assert_eq!(o.nmuxes(), 0);
    // Stop of a stopped device is a no-op; restart works.
    o.dev_by_linkid(2).unwrap().m_stop();
    o.dev_by_linkid(2).unwrap().m_start().unwrap();
    assert_eq!(o.nmuxes(), 1);
}

#[test]
fn different_listen_addresses_get_different_muxes() {
    let o = new();
    let h = open_varpd(&o);
    up(&o, h, 1, 1, OVERLAY_TARGET_POINT);
    assert_eq!(create(&o, 2, 2), 0);
    set_listen(&o, 2, LISTEN, 8472);
    associate(&o, h, 2, OVERLAY_TARGET_POINT, point(PEER, 8472)).unwrap();
    assert_eq!(activate(&o, 2), 0);
    o.dev_by_linkid(2).unwrap().m_start().unwrap();
    assert_eq!(o.nmuxes(), 2);
}

#[test]
fn listen_ip_unset_start_is_einval() {
    // Activate needs listen_ip, so only a plugin-level check can be reached
    // through the instance directly: a fresh instance refuses socket().
    let inst =
        <overlay::vxlan::Vxlan as overlay::EncapPlugin>::init(&overlay::vxlan::Vxlan).unwrap();
    assert_eq!(inst.socket().err(), Some(Errno::EINVAL));
}

// ---- transmit ----

#[test]
fn tx_point_encapsulates_to_point() {
    let (o, _h) = point_dev();
    let f = eth(DST, SRC, 0x0800, 98);
    tx(&o, 1, MsgBlk::with_headroom(&f));
    let s = o.platform().take_sent();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].0, SockaddrIn6::new(v4(PEER), 4789));
    assert_eq!(&s[0].1[8..], &f[..]);
    let st = o.dev_by_linkid(1).unwrap().stats();
    assert_eq!((st.tx_frames, st.tx_bytes), (1, 98));
}

#[test]
fn tx_vxlan_header_conformance_e1_e2_e3() {
    let (o, _h) = point_dev();
    tx(&o, 1, frame(DST));
    let s = o.platform().take_sent();
    let h = &s[0].1[..8];
    assert_eq!(h[0], 0x08, "E1/E2: I flag set, other flag bits zero");
    assert_eq!(&h[1..4], &[0, 0, 0], "E3: 24-bit reserved zero");
    assert_eq!(&h[4..7], &[0, 0, 23], "VNI");
    assert_eq!(h[7], 0, "E3: 8-bit reserved zero");
}

#[test]
fn tx_no_inner_fcs_e13() {
    let (o, _h) = point_dev();
    let f = eth(DST, SRC, 0x0800, 60);
    tx(&o, 1, MsgBlk::with_headroom(&f));
    let s = o.platform().take_sent();
    assert_eq!(
        s[0].1.len(),
        8 + 60,
        "E13: exactly header + inner frame, no FCS appended"
    );
}

#[test]
fn tx_max_vni() {
    let o = new();
    let h = open_varpd(&o);
    up(&o, h, 1, 16_777_215, OVERLAY_TARGET_POINT);
    tx(&o, 1, frame(DST));
    assert_eq!(&o.platform().take_sent()[0].1[4..8], &[0xff, 0xff, 0xff, 0]);
}

#[test]
fn tx_chain_all_sent() {
    let (o, _h) = point_dev();
    let chain: MsgBlkChain = (0..5).map(|_| frame(DST)).collect();
    o.dev_by_linkid(1).unwrap().m_tx(chain);
    assert_eq!(o.platform().take_sent().len(), 5);
}

#[test]
fn tx_without_headroom_still_works() {
    let (o, _h) = point_dev();
    tx(&o, 1, MsgBlk::from_vec(eth(DST, SRC, 0x800, 64)));
    assert_eq!(o.platform().take_sent()[0].1.len(), 72);
}

#[test]
fn tx_not_started_drops_and_counts() {
    let o = new();
    assert_eq!(create(&o, 1, 1), 0);
    let chain: MsgBlkChain = (0..3).map(|_| frame(DST)).collect();
    o.dev_by_linkid(1).unwrap().m_tx(chain);
    assert_eq!(o.dev_by_linkid(1).unwrap().stats().tx_drop_not_started, 3);
    assert!(o.platform().take_sent().is_empty());
}

#[test]
fn tx_send_error_abandons_rest_of_chain() {
    let (o, _h) = point_dev();
    *o.platform().fail_send.lock().unwrap() = Some(Errno::EAGAIN);
    let chain: MsgBlkChain = (0..4).map(|_| frame(DST)).collect();
    o.dev_by_linkid(1).unwrap().m_tx(chain);
    let st = o.dev_by_linkid(1).unwrap().stats();
    assert_eq!(st.tx_drop_send, 4);
    assert_eq!(st.tx_frames, 0);
    // The in-flight count is back to zero: stop does not hang.
    o.dev_by_linkid(1).unwrap().m_stop();
}

#[test]
fn tx_dynamic_short_frame_dropped() {
    let o = new();
    let h = open_varpd(&o);
    up(&o, h, 1, 1, OVERLAY_TARGET_DYNAMIC);
    tx(&o, 1, MsgBlk::with_headroom(&[1, 2, 3]));
    assert_eq!(o.dev_by_linkid(1).unwrap().stats().tx_drop_lookup, 1);
}

#[test]
fn tx_point_sends_broadcast_to_point() {
    let (o, _h) = point_dev();
    tx(&o, 1, frame([0xff; 6]));
    tx(&o, 1, frame([0x01, 0, 0x5e, 0, 0, 1]));
    assert_eq!(o.platform().take_sent().len(), 2);
}

// ---- receive ----

fn deliver(o: &Ovl, payload: &[u8]) {
    assert!(o.platform().deliver(&listen_addr(), payload));
}

fn mux_stats(o: &Ovl) -> overlay::MuxCounters {
    o.muxes()[0].stats()
}

#[test]
fn rx_delivers_inner_frame() {
    let (o, _h) = point_dev();
    let inner = eth(SRC, DST, 0x0806, 60);
    deliver(&o, &vxlan_pkt(23, &inner));
    assert_eq!(o.platform().take_rx(), vec![(1, inner)]);
    assert_eq!(mux_stats(&o).rx_ok, 1);
    assert_eq!(o.dev_by_linkid(1).unwrap().stats().rx_frames, 1);
}

#[test]
fn rx_ignores_reserved_bits_d3() {
    let (o, _h) = point_dev();
    let inner = eth(SRC, DST, 0x0800, 60);
    let mut p = vxlan_pkt(23, &inner);
    p[0] = 0xff;
    p[1] = 0xaa;
    p[2] = 0x55;
    p[3] = 0x01;
    p[7] = 0x99;
    deliver(&o, &p);
    assert_eq!(
        o.platform().take_rx(),
        vec![(1, inner)],
        "D3: reserved bits ignored"
    );
}

#[test]
fn rx_without_i_flag_dropped_d4() {
    let (o, _h) = point_dev();
    let mut p = vxlan_pkt(23, &eth(SRC, DST, 0x0800, 60));
    p[0] = 0xf7;
    deliver(&o, &p);
    assert!(o.platform().take_rx().is_empty());
    assert_eq!(mux_stats(&o).rx_drop_decap, 1, "D4: dropped and counted");
}

#[test]
fn rx_unknown_vni_dropped_d5() {
    let (o, _h) = point_dev();
    deliver(&o, &vxlan_pkt(24, &eth(SRC, DST, 0x0800, 60)));
    assert!(o.platform().take_rx().is_empty());
    assert_eq!(
        mux_stats(&o).rx_drop_unknown_vnetid,
        1,
        "D5: unknown VNI dropped and counted"
    );
}

#[test]
fn rx_accepts_any_payload_d1() {
    // D1: UDP checksum handling is the host socket's; the driver accepts
    // every datagram the socket hands it, whatever the outer checksum was.
    let (o, _h) = point_dev();
    deliver(&o, &vxlan_pkt(23, &[0xab; 14]));
    assert_eq!(o.platform().take_rx().len(), 1);
}

#[test]
fn rx_short_and_empty_dropped() {
    let (o, _h) = point_dev();
    deliver(&o, &[0x08, 0, 0]);
    deliver(&o, &[]);
    deliver(&o, &vxlan_pkt(23, &[]));
    let s = mux_stats(&o);
    assert_eq!(s.rx_drop_short, 2);
    assert_eq!(s.rx_drop_empty, 1);
    assert!(o.platform().take_rx().is_empty());
}

#[test]
fn rx_demux_by_vni() {
    let o = new();
    let h = open_varpd(&o);
    for (l, v) in [(1, 100), (2, 200), (3, 300)] {
        up(&o, h, l, v, OVERLAY_TARGET_POINT);
    }
    for v in [300, 100, 200, 100] {
        deliver(&o, &vxlan_pkt(v, &eth(SRC, DST, 0x800, 20)));
    }
    let got: Vec<u32> = o.platform().take_rx().into_iter().map(|(l, _)| l).collect();
    assert_eq!(got, vec![3, 1, 2, 1]);
}

#[test]
fn rx_after_stop_dropped() {
    let o = new();
    let h = open_varpd(&o);
    up(&o, h, 1, 1, OVERLAY_TARGET_POINT);
    up(&o, h, 2, 2, OVERLAY_TARGET_POINT);
    o.dev_by_linkid(1).unwrap().m_stop();
    deliver(&o, &vxlan_pkt(1, &eth(SRC, DST, 0x800, 20)));
    assert!(o.platform().take_rx().is_empty());
    assert_eq!(mux_stats(&o).rx_drop_unknown_vnetid, 1);
}

#[test]
fn inject_works_on_stopped_device() {
    let o = new();
    let h = open_varpd(&o);
    assert_eq!(create(&o, 1, 1), 0);
    let p = overlay_targ_pkt_t {
        otp_linkid: 1,
        otp_reqid: 0,
        otp_size: 20,
        otp_buf: 0,
    };
    let mut u = overlay::BufUserIo::with_data(p.as_bytes(), &[1; 20]);
    o.targ_ioctl(h, OVERLAY_TARG_INJECT, &mut u, &ROOT).unwrap();
    assert_eq!(o.platform().take_rx(), vec![(1, vec![1; 20])]);
}

// ---- §16 #5 at start, #6 ----

#[test]
fn distinct_vnetids_share_one_mux() {
    let o = new();
    let h = open_varpd(&o);
    up(&o, h, 1, 5, OVERLAY_TARGET_POINT);
    assert_eq!(create(&o, 2, 6), 0);
    set_listen(&o, 2, LISTEN, 4789);
    associate(&o, h, 2, OVERLAY_TARGET_POINT, point(PEER, 4789)).unwrap();
    assert_eq!(activate(&o, 2), 0);
    o.dev_by_linkid(2).unwrap().m_start().unwrap();
    assert_eq!(o.muxes()[0].ndevs(), 2);
}

// ---- MAC callbacks ----

#[test]
fn mac_callbacks() {
    let (o, _h) = point_dev();
    let d = o.dev_by_linkid(1).unwrap();
    assert!(d.m_getcapab_overlay());
    assert_eq!(d.m_getstat(0), Err(Errno::ENOTSUP));
    assert_eq!(d.m_setpromisc(true), Ok(()));
    assert_eq!(d.m_multicst(true, &[1, 0, 0x5e, 0, 0, 1]), Ok(()));
    assert_eq!(d.m_unicst(&[2, 0, 0, 0, 0, 1]), Ok(()));
    assert_eq!(d.m_propinfo_mtu(), (1400, 576, 8900));
    assert_eq!(d.m_setprop_mtu(575), Err(Errno::EINVAL));
    assert_eq!(d.m_setprop_mtu(8901), Err(Errno::EINVAL));
    // MTU changes remain possible while started (dladm set-linkprop).
    assert_eq!(d.m_setprop_mtu(576), Ok(()));
    assert_eq!(d.mtu(), 576);
}

// ---- concurrency: tx/rx racing stop/start never deadlocks or panics ----

#[test]
fn concurrent_tx_rx_with_stop_start() {
    let o = new();
    let h = open_varpd(&o);
    up(&o, h, 1, 1, OVERLAY_TARGET_POINT);
    o.platform()
        .discard_sends
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut th = vec![];
    for i in 0..3 {
        let o = o.clone();
        let stop = stop.clone();
        th.push(std::thread::spawn(move || {
            let d = o.dev_by_linkid(1).unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if i == 0 {
                    d.m_tx(frame(DST).into());
                } else if let Some(m) = o.muxes().first() {
                    m.recv(MsgBlk::with_headroom(&vxlan_pkt(
                        1,
                        &eth(SRC, DST, 0x800, 20),
                    )));
                }
            }
        }));
    }
    let d = o.dev_by_linkid(1).unwrap();
    for _ in 0..200 {
        d.m_stop();
        d.m_start().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in th {
        t.join().unwrap();
    }
    d.m_stop();
    assert_eq!(d.flags() & OVERLAY_F_STOPMASK, 0);
    assert_eq!(delete(&o, 1), 0);
}

/// The in-flight accounting is lock-free (atomics, see dev.rs): once
/// `m_stop` returns, no transmit or receive racing it may still reach the
/// host, and none may start until `m_start`.
#[test]
fn stopped_device_sends_and_delivers_nothing() {
    use std::sync::atomic::Ordering::Relaxed;
    let o = new();
    let h = open_varpd(&o);
    up(&o, h, 1, 1, OVERLAY_TARGET_POINT);
    let p = o.platform();
    p.discard_sends.store(true, Relaxed);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut th = vec![];
    for i in 0..4 {
        let o = o.clone();
        let stop = stop.clone();
        th.push(std::thread::spawn(move || {
            let d = o.dev_by_linkid(1).unwrap();
            let pkt = vxlan_pkt(1, &eth(SRC, DST, 0x800, 20));
            while !stop.load(Relaxed) {
                if i % 2 == 0 {
                    d.m_tx(frame(DST).into());
                } else if let Some(m) = o.muxes().first() {
                    m.recv(MsgBlk::with_headroom(&pkt));
                }
            }
        }));
    }
    let d = o.dev_by_linkid(1).unwrap();
    for _ in 0..50 {
        d.m_stop();
        let (s0, r0) = (p.nsent.load(Relaxed), p.nrx.load(Relaxed));
        std::thread::sleep(std::time::Duration::from_millis(1));
        assert_eq!(p.nsent.load(Relaxed), s0, "sent while stopped");
        assert_eq!(p.nrx.load(Relaxed), r0, "delivered while stopped");
        assert_eq!(d.flags() & (OVERLAY_F_IN_TX | OVERLAY_F_IN_RX), 0);
        d.m_start().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    stop.store(true, Relaxed);
    for t in th {
        t.join().unwrap();
    }
    assert!(p.nsent.load(Relaxed) > 0 && p.nrx.load(Relaxed) > 0);
    d.m_stop();
    assert_eq!(delete(&o, 1), 0);
}

// ---- in-flight quiesce (§10.5) ----

fn gate() -> (
    std::sync::Arc<std::sync::Barrier>,
    std::sync::Arc<std::sync::Barrier>,
) {
    (
        std::sync::Arc::new(std::sync::Barrier::new(2)),
        std::sync::Arc::new(std::sync::Barrier::new(2)),
    )
}

#[test]
fn stop_waits_for_in_flight_rx() {
    let (o, _h) = point_dev();
    let (entered, release) = gate();
    let (e2, r2) = (entered.clone(), release.clone());
    *o.platform().io_hook.lock().unwrap() = Some(std::sync::Arc::new(move || {
        e2.wait();
        r2.wait();
    }));
    let o2 = o.clone();
    let rx = std::thread::spawn(move || deliver(&o2, &vxlan_pkt(23, &eth(SRC, DST, 0x800, 20))));
    entered.wait();
    let d = o.dev_by_linkid(1).unwrap();
    assert_ne!(d.flags() & OVERLAY_F_IN_RX, 0);
    let d2 = d.clone();
    let stop = std::thread::spawn(move || d2.m_stop());
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(!stop.is_finished(), "stop waits for the in-flight receive");
    assert_ne!(d.flags() & OVERLAY_F_MDDROP, 0);
    // New I/O is dropped meanwhile.
    *o.platform().io_hook.lock().unwrap() = None;
    tx(&o, 1, frame(DST));
    assert_eq!(d.stats().tx_drop_not_started, 1);
    release.wait();
    rx.join().unwrap();
    stop.join().unwrap();
    assert_eq!(d.flags() & OVERLAY_F_STOPMASK, 0);
    assert_eq!(o.platform().nsockets(), 0);
}

#[test]
fn stop_waits_for_in_flight_tx() {
    let (o, _h) = point_dev();
    let (entered, release) = gate();
    let (e2, r2) = (entered.clone(), release.clone());
    *o.platform().io_hook.lock().unwrap() = Some(std::sync::Arc::new(move || {
        e2.wait();
        r2.wait();
    }));
    let o2 = o.clone();
    let t = std::thread::spawn(move || tx(&o2, 1, frame(DST)));
    entered.wait();
    let d = o.dev_by_linkid(1).unwrap();
    assert_ne!(d.flags() & OVERLAY_F_IN_TX, 0);
    let d2 = d.clone();
    let stop = std::thread::spawn(move || d2.m_stop());
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(!stop.is_finished(), "stop waits for the in-flight transmit");
    *o.platform().io_hook.lock().unwrap() = None;
    release.wait();
    t.join().unwrap();
    stop.join().unwrap();
    assert_eq!(d.flags() & OVERLAY_F_STOPMASK, 0);
    assert_eq!(d.stats().tx_frames, 1);
}

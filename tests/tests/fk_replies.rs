//! Replies sent by the underlay receive thread (`tap_rx_reply_frames`,
//! docs/fkoverlayd.md "Latency").
//!
//! A TAP write runs the VNIC's Linux stack at once, so an ICMP echo reply
//! is already queued on the TAP when the receive thread's write returns;
//! the receive thread reads it and sends it itself, without waking the
//! TAP's reader thread. Two of our hosts in namespaces over a veth:
//!
//! * pings from a to b: b's `tap_rx_reply_frames` counts (most of) the
//!   echo replies (TCP segments' answers are left to the reader:
//!   `stackreply.rs`);
//! * bulk TCP both ways at once (two iperf3 runs) with pings both ways
//!   meanwhile: both threads read the same TAPs (the receive thread after
//!   writing an echo request, the reader for the TCP segments), each
//!   while holding the TAP's lock until what it read is sent, so every
//!   TAP's frames leave in the order read. A frame sent
//!   out of order reaches the receiving stack's out-of-order queue
//!   (`TcpExt TCPOFOQueue`), as does a lost one; with no drop anywhere on
//!   the path, that counter must stay still in both namespaces while
//!   the receive threads sent some of the frames.

use overlay_tests::have_root;
use overlay_tests::host::{delta, HostPair, OurHost, TwoHosts};
use overlay_tests::netns::Family;
use overlay_tests::traffic::{iperf3, netstat, ping, snmp};
use std::collections::BTreeMap;

/// The underlay's UDP receive errors in `h`'s namespace.
fn udp_errors(h: &OurHost) -> u64 {
    snmp(&h.ns, "Udp", "RcvbufErrors") + snmp(&h.ns, "Udp", "InErrors")
}

/// Frames fkoverlayd dropped between two of its counter snapshots.
fn fk_drops(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> u64 {
    [
        "udp_tx_full_drops",
        "udp_tx_errors",
        "udp_rx_errors",
        "vnic_write_full_drops",
        "vnic_write_errors",
        "tap_rx_offload_drops",
    ]
    .iter()
    .map(|k| delta(before, after, k))
    .sum()
}

#[test]
fn fk_replies_sent_by_receive_thread_in_order() {
    if !have_root("fk_replies_sent_by_receive_thread_in_order") {
        return;
    }
    let HostPair { a, b, ul } = TwoHosts::new("rp").underlay(Family::V4, 213).build();
    a.direct_overlay("ov0", 213, &ul.ip_a, &ul.ip_b, 4789);
    b.direct_overlay("ov0", 213, &ul.ip_b, &ul.ip_a, 4789);
    let (a_ip, b_ip) = ("10.213.0.1", "10.213.0.2");
    a.vnic("ov0", "foo0", None, &format!("{a_ip}/24"));
    b.vnic("ov0", "foo0", None, &format!("{b_ip}/24"));
    assert!(ping(&a.ns, b_ip, 2), "ping {b_ip} failed");

    // Pings: the echo replies leave from b's receive thread.
    let b0 = b.stats();
    let o =
        a.ns.exec("ping", &["-c", "40", "-i", "0.01", "-W", "2", b_ip]);
    assert!(o.status.success(), "ping: {o:?}");
    let b1 = b.stats();
    let replies = delta(&b0, &b1, "tap_rx_reply_frames");
    let read = delta(&b0, &b1, "tap_rx_frames");
    eprintln!("pings: host b sent {replies} of {read} TAP frames from its receive thread");
    assert!(
        replies >= 30,
        "40 echo replies, {replies} sent by the receive thread"
    );

    // Bulk TCP both ways at once.
    let ofo = |h: &OurHost| netstat(&h.ns, "TcpExt", "TCPOFOQueue");
    let udp0 = udp_errors(&a) + udp_errors(&b);
    let (a0, b0) = (a.stats(), b.stats());
    let (oa0, ob0) = (ofo(&a), ofo(&b));
    std::thread::scope(|s| {
        // Pings both ways meanwhile: their echo replies are read by the
        // receive threads from the TAPs the readers are busy with.
        for (h, ip) in [(&a, b_ip), (&b, a_ip)] {
            s.spawn(move || h.ns.exec("ping", &["-c", "250", "-i", "0.01", "-q", ip]));
        }
        let t = s.spawn(|| iperf3(&b.ns, &a.ns, b_ip, 3));
        let n = iperf3(&a.ns, &b.ns, a_ip, 3).expect("iperf3 b -> a");
        assert!(n > 0, "iperf3 b -> a moved nothing");
        let n = t.join().expect("iperf3 thread").expect("iperf3 a -> b");
        assert!(n > 0, "iperf3 a -> b moved nothing");
    });
    let (a1, b1) = (a.stats(), b.stats());
    let (oa1, ob1) = (ofo(&a), ofo(&b));
    let lost = fk_drops(&a0, &a1) + fk_drops(&b0, &b1) + udp_errors(&a) + udp_errors(&b) - udp0;
    let sent_by_rx =
        delta(&a0, &a1, "tap_rx_reply_frames") + delta(&b0, &b1, "tap_rx_reply_frames");
    eprintln!(
        "bulk both ways: {sent_by_rx} TAP frames sent by receive threads; \
         {lost} drops; out-of-order queued: a {}, b {}",
        oa1 - oa0,
        ob1 - ob0
    );
    assert!(
        sent_by_rx > 0,
        "no frame sent by a receive thread in bulk TCP"
    );
    if lost == 0 {
        assert_eq!(
            (oa1 - oa0, ob1 - ob0),
            (0, 0),
            "segments reached a stack out of order with no drop on the path"
        );
    }
}

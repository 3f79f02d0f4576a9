//! fkoverlayd's data path allocates nothing per packet in steady state.
//!
//! Two of our hosts (fkoverlayd + varpd, a `direct` overlay, a VNIC with
//! an address) in network namespaces over a veth underlay. After a
//! warm-up (pings, bulk TCP both ways with several streams, so the buffer
//! pools and batch vectors reach their working size), the counter
//! `datapath_allocs` (heap allocations on TAP reader and underlay receive
//! threads, counted by fkoverlayd's global allocator) is read on both
//! hosts; then more pings and bulk TCP both ways; then it is read again.
//! It must not have moved, while the traffic counters show that TSO
//! segmentation, batched sends, receive and GRO all ran in that window.
//! And no frame bytes were copied between system calls in that window
//! (`datapath_copy_bytes`, beyond the small frames without a TCP/UDP
//! header): the four copies per byte moved are the TAP read, the UDP
//! send, the UDP receive and the TAP write.

use overlay_tests::have_root;
use overlay_tests::host::{delta, HostPair, OurHost, TwoHosts};
use overlay_tests::netns::Family;
use overlay_tests::traffic::{iperf3, ping};
use std::collections::BTreeMap;

fn traffic(a: &OurHost, b: &OurHost, a_ip: &str, b_ip: &str) {
    assert!(ping(&a.ns, b_ip, 5), "ping {b_ip} failed");
    assert!(ping(&b.ns, a_ip, 5), "ping {a_ip} failed");
    let n = iperf3(&b.ns, &a.ns, b_ip, 2).expect("iperf3 a -> b");
    assert!(n > 0, "iperf3 a -> b moved nothing");
    let n = iperf3(&a.ns, &b.ns, a_ip, 2).expect("iperf3 b -> a");
    assert!(n > 0, "iperf3 b -> a moved nothing");
}

/// Frame bytes copied between system calls per byte the driver moved.
fn copies_per_byte(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> f64 {
    delta(before, after, "datapath_copy_bytes") as f64
        / (delta(before, after, "dev_tx_bytes") + delta(before, after, "dev_rx_bytes")).max(1)
            as f64
}

fn report(name: &str, before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> String {
    format!(
        "{name}: datapath_allocs +{} over {} TAP frames read, {} TSO segments, {} datagrams sent, \
         {} received, {} frames delivered up; {} of {} bytes copied between system calls \
         ({:.4} copies per byte)",
        delta(before, after, "datapath_allocs"),
        delta(before, after, "tap_rx_frames"),
        delta(before, after, "tap_tso_segments"),
        delta(before, after, "udp_tx_datagrams"),
        delta(before, after, "udp_rx_datagrams"),
        delta(before, after, "mac_rx_frames"),
        delta(before, after, "datapath_copy_bytes"),
        delta(before, after, "dev_tx_bytes") + delta(before, after, "dev_rx_bytes"),
        copies_per_byte(before, after),
    )
}

#[test]
fn fk_datapath_steady_state_allocates_nothing() {
    if !have_root("fk_datapath_steady_state_allocates_nothing") {
        return;
    }
    let HostPair { a, b, ul } = TwoHosts::new("al").underlay(Family::V4, 211).build();
    a.direct_overlay("ov0", 211, &ul.ip_a, &ul.ip_b, 4789);
    b.direct_overlay("ov0", 211, &ul.ip_b, &ul.ip_a, 4789);
    let (a_ip, b_ip) = ("10.211.0.1", "10.211.0.2");
    a.vnic("ov0", "foo0", None, &format!("{a_ip}/24"));
    b.vnic("ov0", "foo0", None, &format!("{b_ip}/24"));

    // Warm-up: pools, batch vectors and GRO buffers reach their size.
    traffic(&a, &b, a_ip, b_ip);
    traffic(&a, &b, a_ip, b_ip);

    let (a0, b0) = (a.stats(), b.stats());
    // The counter is live: starting the threads and warming the pools
    // allocated.
    for s in [&a0, &b0] {
        let n = s.get("datapath_allocs").copied();
        assert!(n.is_some_and(|n| n > 0), "datapath_allocs {n:?}: {s:?}");
    }
    traffic(&a, &b, a_ip, b_ip);
    let (a1, b1) = (a.stats(), b.stats());

    let ra = report("host a", &a0, &a1);
    let rb = report("host b", &b0, &b1);
    eprintln!("{ra}\n{rb}");
    for (before, after, r) in [(&a0, &a1, &ra), (&b0, &b1, &rb)] {
        // The window really carried traffic through every stage.
        for k in [
            "tap_tso_segments",
            "udp_tx_datagrams",
            "udp_tx_gso_sends",
            "udp_rx_datagrams",
            "vnic_gro_segments",
        ] {
            assert!(delta(before, after, k) > 0, "no {k} in the window: {r}");
        }
        assert_eq!(delta(before, after, "datapath_allocs"), 0, "{r}");
        // No copies between the system calls: frames go to the driver as
        // header blocks over their payload in the TAP read buffer, and
        // datagrams come up as slices of the recvmmsg buffer. What is
        // left is the small frames without a TCP/UDP header (the pings),
        // far below a hundredth of a copy per byte.
        assert!(copies_per_byte(before, after) < 0.005, "{r}");
    }
}

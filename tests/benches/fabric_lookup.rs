//! The cost of a lookup on the mapping path, measured end to end: how much
//! longer the first packet to a destination the kernel has not cached
//! takes than the next one.
//!
//! Theory of operation: a fabric (`overlay_tests::fabric`) of a portolan
//! and two hosts, vm1 on cn1 and vm2 on cn2. Each round:
//!
//! * **VL2** — vm1 knows vm2's MAC (a permanent neighbour entry, so no
//!   ARP); `dladm modify-overlay -d <vm2's MAC> fabric0` on cn1 empties
//!   that cache entry, then one ping: its request misses in the driver,
//!   waits in the entry's queue while varpd asks portolan (VL2_REQ →
//!   VL2_ACK) and answers the kernel (`OVERLAY_TARG_RESPOND`), then goes
//!   out. The next ping is the steady state (cache hit both ways).
//! * **ARP** — the same, but vm1's neighbour entry is deleted as well: the
//!   first ping's ARP request goes to varpd's proxy (VL3_REQ → VL3_ACK,
//!   the VL2 entry injected, the ARP reply injected), then the ICMP
//!   request hits the cache.
//!
//! The lookup's cost is the first RTT less the steady RTT (ping's own
//! figures). Reported: median, 90th percentile, min and max of each, over
//! `FABRIC_BENCH_ROUNDS` rounds (default 200), on the store named by
//! `FABRIC_BENCH_DB` (`sqlite`, the default, or `postgres`). A benchmark:
//! it asserts only that every ping was answered.
//!
//! Run (root): `cargo bench -p overlay-tests --bench fabric_lookup`.
//! Under `cargo test` it does nothing.

use std::net::Ipv4Addr;
use std::time::Duration;

use overlay_tests::fabric::{ether_ntoa, mac_str, Fabric, FabricConfig, OVERLAY};
use overlay_tests::netns::Netns;
use overlay_tests::postgres::DbKind;

/// One `ping -c 1 -W 2`: its RTT in ms, or `None` without an answer.
fn ping_rtt(ns: &Netns, ip: Ipv4Addr) -> Option<f64> {
    let o = ns.exec("ping", &["-c", "1", "-W", "2", &ip.to_string()]);
    let text = String::from_utf8_lossy(&o.stdout);
    let (_, rest) = text.split_once("time=")?;
    rest.split_whitespace().next()?.parse().ok()
}

/// Sorted copy's quantile `q` (0–1).
fn quantile(v: &[f64], q: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s[((s.len() - 1) as f64 * q).round() as usize]
}

fn row(name: &str, v: &[f64]) {
    println!(
        "{name:<28} {:>8.3} {:>8.3} {:>8.3} {:>8.3}",
        quantile(v, 0.5),
        quantile(v, 0.9),
        quantile(v, 0.0),
        quantile(v, 1.0)
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("fabric_lookup: a benchmark; run it with cargo bench");
        return;
    }
    if !overlay_tests::have_root("fabric_lookup") {
        return;
    }
    let rounds: usize = std::env::var("FABRIC_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let db = match std::env::var("FABRIC_BENCH_DB") {
        Ok(s) => DbKind::parse(&s)
            .unwrap_or_else(|| panic!("FABRIC_BENCH_DB={s}: must be sqlite or postgres")),
        Err(_) => DbKind::Sqlite,
    };
    let mut f = Fabric::new(FabricConfig::new("fbl", 2, db));
    let a = f.add_vm(0, 0);
    let b = f.add_vm(1, 0);
    let (va, vb) = (&f.vms[a], &f.vms[b]);
    assert!(va.ping_within(vb.ip, Duration::from_secs(15)), "no path");
    let cn1 = &f.hosts[0];
    let mac = ether_ntoa(&vb.mac);
    let forget = || cn1.dladm_ok(&["modify-overlay", "-d", &mac, OVERLAY]);
    let pin = || {
        va.ns.exec_ok(
            "ip",
            &[
                "neigh",
                "replace",
                &vb.ip.to_string(),
                "lladdr",
                &mac_str(&vb.mac),
                "dev",
                &va.name,
                "nud",
                "permanent",
            ],
        );
    };

    let (mut vl2_first, mut vl2_steady) = (Vec::new(), Vec::new());
    let (mut arp_first, mut arp_steady) = (Vec::new(), Vec::new());
    pin();
    for _ in 0..rounds {
        forget();
        assert!(!cn1.cache_has(&vb.mac));
        vl2_first.push(ping_rtt(&va.ns, vb.ip).expect("first ping (VL2 lookup)"));
        vl2_steady.push(ping_rtt(&va.ns, vb.ip).expect("steady ping"));
    }
    for _ in 0..rounds {
        forget();
        va.forget_neighbour(vb.ip);
        arp_first.push(ping_rtt(&va.ns, vb.ip).expect("first ping (ARP proxy)"));
        arp_steady.push(ping_rtt(&va.ns, vb.ip).expect("steady ping"));
    }
    let diff = |a: &[f64], b: &[f64]| -> Vec<f64> { a.iter().zip(b).map(|(x, y)| x - y).collect() };

    println!(
        "fabric_lookup: {} store, {rounds} rounds each, RTT in ms (ping's figures)",
        db.name()
    );
    println!(
        "{:<28} {:>8} {:>8} {:>8} {:>8}",
        "", "median", "p90", "min", "max"
    );
    row("VL2 miss: first ping", &vl2_first);
    row("VL2 miss: steady ping", &vl2_steady);
    row("VL2 lookup (first-steady)", &diff(&vl2_first, &vl2_steady));
    row("ARP proxy: first ping", &arp_first);
    row("ARP proxy: steady ping", &arp_steady);
    row("ARP lookup (first-steady)", &diff(&arp_first, &arp_steady));
    let stats = f.portolan_ok(&["stats", "-p"]);
    let get = |k: &str| {
        stats
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}:")))
            .unwrap_or("?")
            .to_string()
    };
    println!(
        "portolan: req_vl2 {}, req_vl3 {}",
        get("req_vl2"),
        get("req_vl3")
    );
    drop(f);
}

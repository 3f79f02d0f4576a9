//! `varpd stats` on a fabric (a real portolan, two hosts, one VM each,
//! SQLite store): the report has the lookup loop's, the svp plugin's and
//! the instance's sections; after one VM pings the other, the counters of the instance (VL3 for the
//! proxied ARP, VL2 for a unicast miss once the cache entry is removed) and of the plugin (queries,
//! replies, connects) have moved, and the remote shows an ACTIVE
//! connection. Without a varpd, `varpd stats` fails and names the socket.

use std::collections::BTreeMap;
use std::process::{Output, Stdio};
use std::time::Duration;

use overlay_tests::daemons::bin;
use overlay_tests::fabric::{ether_ntoa, Fabric, FabricConfig, FabricHost, OVERLAY};
use overlay_tests::have_root;
use overlay_tests::postgres::DbKind;

/// `varpd stats` on `h`.
fn varpd_stats(h: &FabricHost) -> Output {
    h.ns.command(bin("varpd"))
        .arg("stats")
        .env("OVERLAY_ROOT", h.root.path())
        .stdin(Stdio::null())
        .output()
        .expect("run varpd stats")
}

/// The report as `section -> name -> value`, sections named by their
/// first two words (`varpd`, `plugin svp`, `instance 1`).
fn parse(out: &Output) -> BTreeMap<String, BTreeMap<String, u64>> {
    assert!(
        out.status.success(),
        "varpd stats failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut m: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut cur = String::new();
    for line in text.lines() {
        if let Some(row) = line.strip_prefix("  ") {
            let (k, v) = row.split_once(' ').expect("name value");
            let v = v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}"));
            m.entry(cur.clone()).or_default().insert(k.to_string(), v);
        } else {
            let w: Vec<&str> = line.split_whitespace().collect();
            cur = w[..w.len().min(2)].join(" ");
            m.entry(cur.clone()).or_default();
        }
    }
    m
}

#[test]
fn varpd_stats_svp_counters_move() {
    if !have_root("varpd_stats_svp_counters_move") {
        return;
    }
    let mut f = Fabric::new(FabricConfig::new("vst", 2, DbKind::Sqlite));
    let a = f.add_vm(0, 0);
    let b = f.add_vm(1, 0);
    let h = &f.hosts[0];

    let before = parse(&varpd_stats(h));
    let inst = before
        .keys()
        .find(|k| k.starts_with("instance "))
        .expect("an instance section")
        .clone();
    let (i0, p0) = (&before[&inst], &before["plugin svp"]);
    assert!(before.contains_key("varpd"), "{before:?}");

    let (ip_b, mac_b, vm_a) = (f.vms[b].ip, f.vms[b].mac, &f.vms[a]);
    assert!(
        vm_a.ping_within(ip_b, Duration::from_secs(15)),
        "vm{} cannot reach {ip_b}",
        a + 1
    );
    // The ARP answer filled the cache entry for b; without it the next
    // ping's unicast misses and is asked as VL2.
    h.dladm_ok(&["modify-overlay", "-d", &ether_ntoa(&mac_b), OVERLAY]);
    assert!(!h.cache_has(&mac_b));
    assert!(vm_a.ping_within(ip_b, Duration::from_secs(15)));

    let after = parse(&varpd_stats(h));
    let (i, p) = (&after[&inst], &after["plugin svp"]);
    // The ARP for b went out as a VL3 request, the unicast miss as VL2.
    for c in ["vl3_lookups", "vl3_answered", "vl2_lookups", "vl2_answered"] {
        assert!(i[c] > i0[c], "{c}: {before:?} then {after:?}");
    }
    assert!(i["remote_conns_active"] >= 1, "{after:?}");
    assert_eq!(i["remote_degrade"], 0, "{after:?}");
    for c in ["queries", "replies"] {
        assert!(p[c] >= p0[c] + 2, "{c}: {before:?} then {after:?}");
    }
    assert!(p["connects"] >= 1, "{after:?}");
    assert!(
        after["varpd"]["lookups"] > before["varpd"]["lookups"],
        "{after:?}"
    );

    // No varpd: a clear error naming the socket.
    f.hosts[0].kill9_varpd();
    let o = varpd_stats(&f.hosts[0]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("varpd: stats: cannot read ") && err.contains("varpd.stats"),
        "{err}"
    );
}

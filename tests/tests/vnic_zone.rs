//! VNICs in zones (docs/dladm-overlay.md, `set-linkprop -p zone=`).
//!
//! Two of our hosts over a veth, an overlay and a VNIC on each. On host A
//! the VNIC `foo0` is moved into a zone, a named network namespace of its
//! own: it is plumbed and pings across the overlay from inside the zone,
//! while `show-linkprop`, `show-vnic` and `show-link` still see it from
//! the global side. Restarting fkoverlayd and varpd (the TAP goes with
//! the process) and bringing the overlay and VNICs up puts `foo0` back in
//! its zone, working. `delete-vnic` from the global side removes the
//! interface inside the zone. An unknown zone is an error naming it, and
//! so is a zone that vanished before `up-vnic`.

use overlay_tests::have_root;
use overlay_tests::host::{HostPair, OurHost, TwoHosts};
use overlay_tests::netns::{Family, Netns};
use overlay_tests::traffic::ping;

fn err_of(h: &OurHost, args: &[&str]) -> String {
    let o = h.dladm(args);
    assert!(!o.status.success(), "dladm {args:?} succeeded");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn vnic_in_a_zone_works_and_is_managed_from_the_global_zone() {
    if !have_root("vnic_in_a_zone_works_and_is_managed_from_the_global_zone") {
        return;
    }
    let HostPair { mut a, b, ul } = TwoHosts::new("zn").underlay(Family::V4, 176).build();
    let zone = Netns::new("zn");
    a.direct_overlay("ov0", 23, &ul.ip_a, &ul.ip_b, 4789);
    b.direct_overlay("ov0", 23, &ul.ip_b, &ul.ip_a, 4789);
    a.dladm_ok(&["create-vnic", "-l", "ov0", "foo0"]);
    b.vnic("ov0", "foo0", None, "10.176.0.2/24");
    let z = zone.name().to_string();

    // Unknown zone: a clear error, nothing moved.
    let e = err_of(&a, &["set-linkprop", "-p", "zone=nosuchzone", "foo0"]);
    assert_eq!(
        e,
        "dladm: warning: zone 'nosuchzone' does not exist (no network namespace /run/netns/nosuchzone)\n\
         dladm: warning: cannot set link property 'zone' on 'foo0': invalid value\n"
    );
    assert!(a.ns.has_link("foo0"));

    // Into the zone: gone from the global namespace, there in the zone.
    a.dladm_ok(&["set-linkprop", "-p", &format!("zone={z}"), "foo0"]);
    assert!(!a.ns.has_link("foo0"), "foo0 still in the global zone");
    assert!(zone.has_link("foo0"), "foo0 not in zone {z}");
    zone.plumb("foo0", "10.176.0.1/24");
    assert!(ping(&zone, "10.176.0.2", 3), "zone -> B over the overlay");
    assert!(ping(&b.ns, "10.176.0.1", 3), "B -> zone over the overlay");

    // Managed from the global side.
    assert_eq!(
        a.dladm_ok(&[
            "show-linkprop",
            "-c",
            "-o",
            "link,property,perm,value",
            "-p",
            "zone",
            "foo0"
        ]),
        format!("foo0:zone:rw:{z}\n")
    );
    assert_eq!(
        a.dladm_ok(&[
            "show-linkprop",
            "-P",
            "-c",
            "-o",
            "value",
            "-p",
            "zone",
            "foo0"
        ]),
        format!("{z}\n")
    );
    assert_eq!(
        a.dladm_ok(&["show-vnic", "-p", "-o", "link,over", "foo0"]),
        "foo0:ov0\n"
    );
    let human = a.dladm_ok(&["show-linkprop", "foo0"]);
    assert!(
        human.starts_with(
            "LINK         PROPERTY        PERM VALUE          DEFAULT        POSSIBLE\n"
        ),
        "{human}"
    );

    // Restart the daemons: the TAP goes with fkoverlayd; bring-up puts it
    // back in its zone, working.
    a.restart();
    assert!(!zone.has_link("foo0"));
    a.dladm_ok(&["up-overlay"]);
    a.dladm_ok(&["up-vnic"]);
    assert!(zone.has_link("foo0"), "foo0 not back in zone {z}");
    assert!(!a.ns.has_link("foo0"));
    zone.plumb("foo0", "10.176.0.1/24");
    assert!(ping(&zone, "10.176.0.2", 3), "zone -> B after the restart");
    assert_eq!(
        a.dladm_ok(&["show-linkprop", "-c", "-o", "value", "-p", "zone", "foo0"]),
        format!("{z}\n")
    );

    // Back to the global zone and into the zone again.
    a.dladm_ok(&["reset-linkprop", "-p", "zone", "foo0"]);
    assert!(a.ns.has_link("foo0") && !zone.has_link("foo0"));
    a.dladm_ok(&["set-linkprop", "-p", &format!("zone={z}"), "foo0"]);
    assert!(zone.has_link("foo0"));

    // delete-vnic from the global side removes it inside the zone.
    a.dladm_ok(&["delete-vnic", "foo0"]);
    assert!(!zone.has_link("foo0") && !a.ns.has_link("foo0"));

    // A zone that vanished before up-vnic: a clear error, no VNIC left.
    let gone = Netns::new("zn");
    let g = gone.name().to_string();
    a.dladm_ok(&["create-vnic", "-l", "ov0", "bar0"]);
    a.dladm_ok(&["set-linkprop", "-p", &format!("zone={g}"), "bar0"]);
    assert!(gone.has_link("bar0"));
    // The namespace is deleted under the running VNIC: its interface dies
    // with it; fkoverlayd carries on (and does not spin on the dead TAP).
    drop(gone);
    let pid = a.fk.as_ref().and_then(|d| d.pid()).expect("fkoverlayd pid");
    let cpu = |pid: i32| -> u64 {
        let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let f: Vec<&str> = st
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        // utime and stime (fields 14 and 15; 12 and 13 after the name).
        f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
    };
    let t0 = cpu(pid);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let ticks = cpu(pid) - t0;
    eprintln!("fkoverlayd CPU over 2 s after the zone vanished: {ticks} ticks");
    assert!(ticks < 50, "fkoverlayd spins: {ticks} ticks in 2 s");
    assert!(a.daemons_alive());
    assert!(a
        .dladm_ok(&["show-vnic", "-p", "-o", "link"])
        .contains("bar0"));
    a.restart();
    let e = err_of(&a, &["up-overlay"]);
    assert!(
        e.contains(&format!(
            "dladm: warning: cannot put vnic 'bar0' in zone '{g}': no such zone (network namespace /run/netns/{g})\n"
        )),
        "{e}"
    );
    let e = err_of(&a, &["up-vnic", "bar0"]);
    assert_eq!(
        e,
        format!(
            "dladm: warning: cannot put vnic 'bar0' in zone '{g}': no such zone (network namespace /run/netns/{g})\n\
             dladm: could not bring up vnic 'bar0': invalid value\n"
        )
    );
    assert!(!a.ns.has_link("bar0"));
    // The daemons are fine, and the global side can still remove it.
    assert!(a.daemons_alive());
    a.dladm_ok(&["delete-vnic", "bar0"]);
}

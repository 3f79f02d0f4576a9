//! The messages of `delete-overlay`, `modify-overlay`, `show-overlay` and
//! `up-overlay` (spec/userland.md §8.3–§8.6), and show-overlay's exit
//! status as illumos' `show-overlay-exit.ksh` checks it. Every failing
//! command must exit 1 with exactly the expected stderr.

mod common;
use common::*;
use dladm_overlay::backend::*;
use dladm_overlay::errno;
use dladm_overlay::fake::FakeBackend;

// --- delete-overlay (§8.3) -------------------------------------------------

#[test]
fn delete_overlay_messages() {
    let mut b = seeded();
    fails(
        &mut b,
        "dladm delete-overlay nope0",
        "dladm: failed to delete nope0: object not found\n",
    );
    ok(&mut b, "dladm create-vnic -l demo0 foo0");
    fails(
        &mut b,
        "dladm delete-overlay demo0",
        "dladm: failed to delete demo0: link busy\n",
    );
    fails(
        &mut b,
        "dladm delete-overlay foo0",
        "dladm: failed to delete foo0: invalid argument\n",
    );
    let (c, o, e) = dl(&mut b, "dladm delete-overlay");
    assert_eq!((c, o.as_str()), (1, ""));
    assert!(e.starts_with("usage:  dladm <subcommand> <args> ...\n"));
    ok(&mut b, "dladm delete-vnic foo0");
    ok(&mut b, "dladm delete-overlay demo0");
    assert!(b.is_empty(), "{b:?}");
}

#[test]
fn delete_overlay_temporary_and_persistent() {
    // -t on a persistent overlay removes the running overlay only; it
    // comes back with up-overlay. Without -t everything goes.
    let mut b = seeded();
    ok(&mut b, "dladm delete-overlay -t demo0");
    assert!(b.devs.is_empty() && b.insts.is_empty());
    let l = b.name2info("demo0").unwrap();
    assert_eq!(l.flags, DLADM_OPT_PERSIST);
    ok(&mut b, "dladm up-overlay demo0");
    assert_eq!(b.devs.len(), 1);
    ok(&mut b, "dladm delete-overlay demo0");
    assert!(b.is_empty(), "{b:?}");
    // A temporary overlay deleted with or without -t leaves no link id
    // (FIX §12 #13).
    for t in ["-t", ""] {
        let mut b = FakeBackend::new();
        ok(&mut b, &create("-t -v 1 demo0"));
        ok(&mut b, &format!("dladm delete-overlay {t} demo0"));
        assert!(b.is_empty(), "{b:?}");
    }
    // No varpd instance for the overlay is not an error (FIX §12 #13).
    let mut b = seeded();
    b.insts.clear();
    ok(&mut b, "dladm delete-overlay demo0");
    assert!(b.is_empty(), "{b:?}");
}

// --- modify-overlay (§8.4) ---------------------------------------------------

fn files_overlay() -> FakeBackend {
    let mut b = FakeBackend::new();
    ok(
        &mut b,
        "dladm create-overlay -e vxlan -s files -p vxlan/listen_ip=10.0.0.1 \
         -p files/config=/etc/hosts.json -v 5 dyn0",
    );
    b
}

#[test]
fn modify_overlay_messages() {
    let mut b = files_overlay();
    fails(
        &mut b,
        "dladm modify-overlay -f -f dyn0",
        "dladm: the option -f cannot be specified more than once\n",
    );
    fails(
        &mut b,
        "dladm modify-overlay -d 1:2:3:4:5:6 -d 1:2:3:4:5:6 dyn0",
        "dladm: the option -d cannot be specified more than once\n",
    );
    fails(
        &mut b,
        "dladm modify-overlay -s 1:2:3:4:5:6=10.0.0.1:1 -s 1:2:3:4:5:6=10.0.0.1:1 dyn0",
        "dladm: the option -s cannot be specified more than once\n",
    );
    fails(
        &mut b,
        "dladm modify-overlay -d 1:2:3 dyn0",
        "dladm: invalid mac address: 1:2:3\n",
    );
    fails(
        &mut b,
        "dladm modify-overlay -s 1:2:3=10.0.0.1:1 dyn0",
        "dladm: invalid mac address: 1:2:3\n",
    );
    fails(
        &mut b,
        "dladm modify-overlay -s 1:2:3:4:5:6 dyn0",
        "dladm: malformed value, expected mac=dest, got: 1:2:3:4:5:6\n",
    );
    fails(
        &mut b,
        "dladm modify-overlay dyn0",
        "dladm: need to specify one of -d, -f, or -s\n",
    );
    fails(
        &mut b,
        "dladm modify-overlay -f -d 1:2:3:4:5:6 dyn0",
        "dladm: only one of -d, -f, or -s may be used\n",
    );
    fails(
        &mut b,
        "dladm modify-overlay -f",
        "dladm: missing required overlay device\n",
    );
    fails(
        &mut b,
        "dladm modify-overlay -f dyn0 dyn1",
        "dladm: only one overlay device may be specified\n",
    );
    fails(
        &mut b,
        "dladm modify-overlay -f nope0",
        "dladm: failed to find overlay nope0: object not found\n",
    );
    fails(
        &mut b,
        "dladm modify-overlay -s 1:2:3:4:5:6=10.0.0.1 dyn0",
        "dladm: warning: invalid destination '10.0.0.1': expected ip:port, [ipv6]:port or drop\n\
         dladm: failed to set target 1:2:3:4:5:6 for overlay target cache dyn0: invalid argument\n",
    );
    fails(
        &mut b,
        "dladm modify-overlay -s 1:2:3:4:5:6=fd00::1:80 dyn0",
        "dladm: warning: invalid destination 'fd00::1:80': expected ip:port, [ipv6]:port or drop\n\
         dladm: failed to set target 1:2:3:4:5:6 for overlay target cache dyn0: invalid argument\n",
    );
    ok(
        &mut b,
        "dladm modify-overlay -s 1:2:3:4:5:6=[fd00::1]:80 dyn0",
    );
    // POINT overlays have no cache to change (the kernel says ENOTSUP).
    ok(&mut b, SEED);
    fails(
        &mut b,
        "dladm modify-overlay -f demo0",
        "dladm: warning: demo0 is a point-to-point overlay: it has no target table\n\
         dladm: failed to flush target cache for overlay demo0: operation not supported\n",
    );
    fails(
        &mut b,
        "dladm modify-overlay -d 1:2:3:4:5:6 demo0",
        "dladm: warning: demo0 is a point-to-point overlay: it has no target table\n\
         dladm: failed to flush target 1:2:3:4:5:6 from overlay target cache demo0: \
         operation not supported\n",
    );
    fails(
        &mut b,
        "dladm modify-overlay -s 1:2:3:4:5:6=10.0.0.1:1 demo0",
        "dladm: warning: demo0 is a point-to-point overlay: it has no target table\n\
         dladm: failed to set target 1:2:3:4:5:6 for overlay target cache demo0: \
         operation not supported\n",
    );
    b.privileged = false;
    fails(
        &mut b,
        "dladm modify-overlay -s 1:2:3:4:5:6=10.0.0.1:1 dyn0",
        "dladm: failed to set target 1:2:3:4:5:6 for overlay target cache dyn0: \
         permission denied\n",
    );
}

// --- show-overlay (§8.5) -----------------------------------------------------

#[test]
fn show_overlay_exit_status() {
    // illumos util-tests show-overlay-exit.ksh.
    let mut b = FakeBackend::new();
    ok(
        &mut b,
        "dladm create-overlay -t -v 20 -e vxlan -s direct -p vxlan/listen_ip=169.254.0.0 \
         -p direct/dest_ip=169.254.0.0 -p direct/dest_port=2000 soe_overlay123",
    );
    b.add_link(
        "soe_teststub123",
        DATALINK_CLASS_ETHERSTUB,
        DLADM_OPT_ACTIVE,
    );
    let (c, o, e) = dl(&mut b, "dladm show-overlay soe_overlay123");
    assert_eq!((c, e.as_str()), (0, ""));
    assert!(o.contains("soe_overlay123"));
    let warn = "dladm: warning: soe_teststub123 is not an overlay\n";
    let (c, o, e) = dl(&mut b, "dladm show-overlay soe_teststub123");
    assert_eq!((c, o.as_str(), e.as_str()), (1, "", warn));
    let (c, o, e) = dl(&mut b, "dladm show-overlay soe_teststub123 soe_overlay123");
    assert_eq!((c, e.as_str()), (1, warn));
    assert!(o.contains("soe_overlay123"));
    let (c, o, e) = dl(&mut b, "dladm show-overlay soe_overlay123 soe_teststub123");
    assert_eq!((c, e.as_str()), (1, warn));
    assert!(o.contains("soe_overlay123"));
    let (c, _, e) = dl(&mut b, "dladm show-overlay -t soe_teststub123");
    assert_eq!((c, e.as_str()), (1, warn));
    fails(
        &mut b,
        "dladm show-overlay -f soe_teststub123",
        "dladm: datalink soe_teststub123 is not an overlay device\n",
    );
    fails(
        &mut b,
        "dladm show-overlay nope0",
        "dladm: warning: failed to find nope0: object not found\n",
    );
    ok(&mut b, "dladm delete-overlay soe_overlay123");
}

#[test]
fn show_overlay_warnings() {
    let mut b = seeded();
    b.fail_at("id2info", errno::EIO);
    fails(
        &mut b,
        "dladm show-overlay demo0",
        "dladm: warning: failed to get info for datalink id 1: I/O error\n",
    );
    let mut b = seeded();
    b.fail_at("ovl_nprops", errno::EIO);
    fails(
        &mut b,
        "dladm show-overlay",
        "dladm: warning: failed to get overlay properties for overlay demo0: I/O error\n",
    );
    let mut b = seeded();
    b.fail_at("ovl_propinfo", errno::EINVAL);
    fails(
        &mut b,
        "dladm show-overlay",
        "dladm: warning: failed to get propinfo for overlay demo0, property 0: invalid argument\n",
    );
    let mut b = seeded();
    b.varpd_running = false;
    let (c, o, e) = dl(&mut b, "dladm show-overlay -o property demo0");
    assert_eq!(c, 1);
    assert_eq!(
        o,
        "PROPERTY\nmtu\nvnetid\nencap\nvarpd/id\nvxlan/listen_ip\nvxlan/listen_port\n"
    );
    assert_eq!(
        e,
        "dladm: warning: failed to get varpd props for overlay demo0, varpd id 1: \
         object not found\n"
    );
    let mut b = seeded();
    b.bad_ip_size = true;
    let (c, o, e) = dl(&mut b, "dladm show-overlay -p -o property,value demo0");
    assert_eq!(c, 0);
    assert!(o.contains("vxlan/listen_ip:--\n"), "{o}");
    assert_eq!(
        e,
        "dladm: warning: malformed overlay IP property: 3 bytes\n"
    );
}

#[test]
fn show_overlay_fma_status_failure() {
    let mut b = seeded();
    b.fail_at("ovl_status", errno::ENOENT);
    fails(
        &mut b,
        "dladm show-overlay -f demo0",
        "dladm: failed to obtain device status for demo0: object not found\n",
    );
}

// --- up-overlay (§8.6) ---------------------------------------------------------

#[test]
fn up_overlay_messages() {
    let mut b = FakeBackend::new();
    ok(&mut b, &create("-p mtu=1300 -v 1 demo0"));
    b.reboot();
    fails(
        &mut b,
        "dladm up-overlay nope0",
        "dladm: could not bring up overlay 'nope0': object not found\n",
    );
    b.varpd_running = false;
    fails(
        &mut b,
        "dladm up-overlay",
        "dladm: warning: failed to create libvarpd handle: No such file or directory\n\
         dladm: warning: failed to set properties for overlay device demo0: object not found\n\
         dladm: could not bring overlays up: operation failed\n",
    );
    fails(
        &mut b,
        "dladm up-overlay demo0",
        "dladm: warning: failed to create libvarpd handle: No such file or directory\n\
         dladm: warning: failed to set properties for overlay device demo0: object not found\n\
         dladm: could not bring up overlay 'demo0': operation failed\n",
    );
    assert!(b.devs.is_empty() && b.insts.is_empty());
    b.varpd_running = true;
    b.fail_at("ovl_create", errno::EEXIST);
    fails(
        &mut b,
        "dladm up-overlay",
        "dladm: warning: failed to create overlay device demo0: object already exists\n\
         dladm: could not bring overlays up: operation failed\n",
    );
    b.fail.clear();
    ok(&mut b, "dladm up-overlay");
    // The mtu given with -p at create time is restored (FIX §12 #15).
    let o = ok(&mut b, "dladm show-overlay -p -o property,value demo0");
    assert!(o.starts_with("mtu:1300\n"), "{o}");
}

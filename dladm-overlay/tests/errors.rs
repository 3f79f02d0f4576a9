//! One test per message of spec/userland.md §8.2–§8.6 (and the link/VNIC
//! subcommands), the show-overlay exit-status semantics of illumos'
//! `show-overlay-exit.ksh`, and privilege checks. Every failing command
//! must exit 1 with exactly the expected stderr and nothing on stdout.

mod common;
use common::*;
use dladm_overlay::backend::*;
use dladm_overlay::errno;
use dladm_overlay::fake::FakeBackend;

const C: &str = "dladm create-overlay -e vxlan -s direct";
const PROPS: &str = "-p vxlan/listen_ip=10.88.88.69 -p direct/dest_ip=10.88.88.70 \
-p direct/dest_port=4789";

fn create(extra: &str) -> String {
    format!("{C} {PROPS} {extra}")
}

// --- create-overlay (§8.2) -------------------------------------------------

#[test]
fn create_vnetid_unparsable() {
    let mut b = FakeBackend::new();
    for v in ["abc", "12x", "-1", "' 1'", "''", "+5"] {
        let shown = v.trim_matches('\'');
        fails(
            &mut b,
            &create(&format!("-v {v} demo0")),
            &format!("dladm: couldn't parse virtual networkd id: {shown}\n"),
        );
    }
    assert!(b.is_empty());
}

#[test]
fn create_vnetid_too_large() {
    let mut b = FakeBackend::new();
    fails(
        &mut b,
        &create("-v 18446744073709551616 demo0"),
        "dladm: virtual networkd id too large: 18446744073709551616\n",
    );
}

#[test]
fn create_prop_list_too_long() {
    let mut b = FakeBackend::new();
    let long = format!("x={}", "a".repeat(1100));
    let (c, _, e) = dl(&mut b, &format!("{C} -v 1 -p {long} demo0"));
    assert_eq!(c, 1);
    assert!(e.starts_with("dladm: property list too long 'x=aaa"), "{e}");
    assert_eq!(e.len(), "dladm: property list too long ''\n".len() + 1023);
}

#[test]
fn create_missing_options() {
    let mut b = FakeBackend::new();
    fails(
        &mut b,
        "dladm create-overlay -e vxlan -s direct demo0",
        "dladm: missing required virtual network id\n",
    );
    fails(
        &mut b,
        "dladm create-overlay -v 1 -s direct demo0",
        "dladm: missing required encapsulation plugin\n",
    );
    fails(
        &mut b,
        "dladm create-overlay -v 1 -e vxlan demo0",
        "dladm: missing required search plugin\n",
    );
    fails(&mut b, &create("-v 1"), "dladm: missing device name\n");
    fails(
        &mut b,
        &create("-v 1 a0 b0"),
        "dladm: missing device name\n",
    );
}

#[test]
fn create_bad_names() {
    let mut b = FakeBackend::new();
    let long = format!("{}0", "a".repeat(31));
    fails(
        &mut b,
        &create(&format!("-v 1 {long}")),
        &format!("dladm: link name too long '{long}'\n"),
    );
    for bad in ["demo", "0demo0", "demo01", "de-mo0"] {
        fails(
            &mut b,
            &create(&format!("-v 1 {bad}")),
            &format!("dladm: invalid link name '{bad}'\n"),
        );
    }
    let enc = "e".repeat(32);
    fails(
        &mut b,
        &format!("dladm create-overlay -e {enc} -s direct -v 1 demo0"),
        &format!("dladm: encapsulation plugin name too long '{enc}'\n"),
    );
    let s = "s".repeat(32);
    fails(
        &mut b,
        &format!("dladm create-overlay -e vxlan -s {s} -v 1 demo0"),
        &format!("dladm: search plugin name too long '{s}'\n"),
    );
}

#[test]
fn create_invalid_overlay_property() {
    let mut b = FakeBackend::new();
    for p in ["=1", "x=1,x=2", "novalue"] {
        fails(
            &mut b,
            &format!("{C} -v 1 -p {p} demo0"),
            "dladm: invalid overlay property\n",
        );
    }
}

#[test]
fn create_option_errors() {
    let mut b = FakeBackend::new();
    fails(
        &mut b,
        "dladm create-overlay -v",
        &format!(
            "dladm: option '-v' requires a value\nusage: {}\n",
            dladm_overlay::cli::USE_CREATE_OVERLAY
        ),
    );
    fails(
        &mut b,
        "dladm create-overlay -z demo0",
        &format!(
            "dladm: unrecognized option '-z'\nusage: {}\n",
            dladm_overlay::cli::USE_CREATE_OVERLAY
        ),
    );
}

#[test]
fn create_library_failures() {
    let mut b = seeded();
    fails(
        &mut b,
        &create("-v 99 demo0"),
        "dladm: overlay creation failed: object already exists\n",
    );
    fails(
        &mut b,
        &create("-v 23 other0"),
        "dladm: overlay creation failed: object already exists\n",
    );
    fails(
        &mut b,
        &format!("dladm create-overlay -e geneve -s direct {PROPS} -v 1 g0"),
        "dladm: overlay creation failed: object not found\n",
    );
    fails(
        &mut b,
        &create("-v 16777216 big0"),
        "dladm: overlay creation failed: invalid argument\n",
    );
    fails(
        &mut b,
        "dladm create-overlay -e vxlan -s nosuch -p vxlan/listen_ip=10.0.0.1 -v 7 n0",
        "dladm: warning: failed to create varpd instance: No such file or directory\n\
         dladm: overlay creation failed: object not found\n",
    );
    fails(
        &mut b,
        &format!("{C} -p vxlan/nosuch=1 -v 7 n0"),
        "dladm: warning: unknown property 'vxlan/nosuch': the overlay's properties are \
         mtu, vnetid, vxlan/listen_ip, vxlan/listen_port; search plugin direct's start \
         with 'direct/'\n\
         dladm: overlay creation failed: object not found\n",
    );
    fails(
        &mut b,
        &format!("{C} {PROPS} -p direct/nosuch=1 -v 7 n0"),
        "dladm: warning: unknown property 'direct/nosuch' for search plugin direct: its \
         properties are direct/dest_ip, direct/dest_port\n\
         dladm: overlay creation failed: object not found\n",
    );
    fails(
        &mut b,
        &format!("{C} {PROPS} -p encap=vxlan -v 7 n0"),
        "dladm: warning: failed to set property encap\n\
         dladm: overlay creation failed: permission denied\n",
    );
    // A property of another search plugin, a mistyped one.
    fails(
        &mut b,
        &format!("{C} {PROPS} -p files/config=/x.json -v 7 n0"),
        "dladm: warning: unknown property 'files/config': the overlay's properties are \
         mtu, vnetid, vxlan/listen_ip, vxlan/listen_port; search plugin direct's start \
         with 'direct/'\n\
         dladm: overlay creation failed: object not found\n",
    );
    fails(
        &mut b,
        &format!("{C} {PROPS} -p direct/dest_ips=10.0.0.9 -v 7 n0"),
        "dladm: warning: unknown property 'direct/dest_ips' for search plugin direct: its \
         properties are direct/dest_ip, direct/dest_port\n\
         dladm: overlay creation failed: object not found\n",
    );
    // Only the seed overlay remains.
    assert_eq!(b.links.len(), 1);
    assert_eq!(b.devs.len(), 1);
    assert_eq!(b.insts.len(), 1);
}

#[test]
fn create_unset_required_properties() {
    let mut b = FakeBackend::new();
    fails(
        &mut b,
        "dladm create-overlay -e vxlan -s direct -p vxlan/listen_ip=10.0.0.1 -v 1 demo0",
        "dladm: warning: failed to activate varpd instance: Resource temporarily unavailable\n\
         dladm: warning: unset required property: direct/dest_ip\n\
         dladm: warning: unset required property: direct/dest_port\n\
         dladm: overlay creation failed: try again later\n",
    );
    assert!(b.is_empty());
    fails(
        &mut b,
        "dladm create-overlay -e vxlan -s direct -p direct/dest_ip=10.0.0.2 \
         -p direct/dest_port=4789 -v 1 demo0",
        "dladm: warning: failed to activate device: Invalid argument\n\
         dladm: warning: unset required property: vxlan/listen_ip\n\
         dladm: overlay creation failed: invalid argument\n",
    );
    assert!(b.is_empty());
}

#[test]
fn create_varpd_not_running() {
    let mut b = FakeBackend::new();
    b.varpd_running = false;
    fails(
        &mut b,
        &create("-v 1 demo0"),
        "dladm: warning: failed to create libvarpd handle: No such file or directory\n\
         dladm: overlay creation failed: object not found\n",
    );
    assert!(b.is_empty());
}

#[test]
fn create_invalid_values() {
    let cases = [
        (
            "-p vxlan/listen_port=70000",
            "invalid value '70000' for property vxlan/listen_port: must be in 1-65535",
        ),
        (
            "-p vxlan/listen_port=-1",
            "invalid value '-1' for property vxlan/listen_port: must be in 1-65535",
        ),
        (
            "-p vxlan/listen_port=47x",
            "invalid value '47x' for property vxlan/listen_port: must be in 1-65535",
        ),
        (
            "-p mtu=100",
            "invalid value '100' for property mtu: must be in 576-8900",
        ),
        (
            "-p vnetid=-3",
            "invalid value '-3' for property vnetid: must be in 0-18446744073709551615",
        ),
        (
            "-p vxlan/listen_ip=10.0.0.300",
            "invalid value '10.0.0.300' for property vxlan/listen_ip: \
             must be an IPv4 or IPv6 address",
        ),
        (
            "-p vxlan/listen_port=1,2",
            "invalid value '1,2' for property vxlan/listen_port: exactly one value is required",
        ),
        (
            "-p direct/dest_port=0",
            "invalid value '0' for property direct/dest_port: must be in 1-65535",
        ),
        (
            "-p direct/dest_ip=nohost",
            "invalid value 'nohost' for property direct/dest_ip: must be an IPv4 or IPv6 address",
        ),
    ];
    for (p, msg) in cases {
        let mut b = FakeBackend::new();
        // The case's property replaces the seed's value of the same name.
        let name = p.trim_start_matches("-p ").split('=').next().unwrap_or("");
        let base: Vec<&str> = PROPS
            .split(" -p ")
            .map(|x| x.trim_start_matches("-p "))
            .filter(|x| !x.starts_with(&format!("{name}=")))
            .collect();
        let cmd = format!("{C} -p {} {p} -v 1 demo0", base.join(" -p "));
        fails(&mut b, &cmd, &format!("dladm: {msg}\n"));
        assert!(b.is_empty(), "{p}: left state behind: {b:?}");
    }
}

#[test]
fn create_64bit_vnetid_printed_in_full() {
    // vnetid is an 8-byte property: printed as unsigned 64-bit (illumos
    // used %d). The fake VXLAN refuses > 24 bits, so set it through a
    // property before activation on a second overlay with a small id.
    let mut b = seeded();
    let out = ok(&mut b, "dladm show-overlay -p -o property,value demo0");
    assert!(out.contains("vnetid:23\n"));
    let v = dladm_overlay::prop::format_value(2, &u64::MAX.to_le_bytes()).unwrap();
    assert_eq!(v, "18446744073709551615");
}

// --- rollback at every failure point ---------------------------------------

#[test]
fn rollback_after_each_failure_point() {
    let points: &[(&str, &str)] = &[
        (
            "create_id",
            "dladm: overlay creation failed: permission denied\n",
        ),
        (
            "ovl_create",
            "dladm: overlay creation failed: permission denied\n",
        ),
        (
            "set_conf",
            "dladm: warning: failed to create persistent configuration for demo0: \
             permission denied\ndladm: overlay creation failed: permission denied\n",
        ),
        (
            "ovl_setprop:vxlan/listen_ip",
            "dladm: warning: failed to set property vxlan/listen_ip\n\
             dladm: overlay creation failed: permission denied\n",
        ),
        (
            "ovl_setprop:vxlan/listen_port",
            "dladm: warning: failed to set property vxlan/listen_port\n\
             dladm: overlay creation failed: permission denied\n",
        ),
        (
            "ovl_setprop:mtu",
            "dladm: warning: failed to set property mtu\n\
             dladm: overlay creation failed: permission denied\n",
        ),
        (
            "varpd_open",
            "dladm: warning: failed to create libvarpd handle: Not owner\n\
             dladm: overlay creation failed: permission denied\n",
        ),
        (
            "varpd_create",
            "dladm: warning: failed to create varpd instance: Not owner\n\
             dladm: overlay creation failed: permission denied\n",
        ),
        (
            "varpd_setprop:direct/dest_ip",
            "dladm: warning: failed to set varpd prop: direct/dest_ip\n\
             dladm: overlay creation failed: permission denied\n",
        ),
        (
            "varpd_setprop:direct/dest_port",
            "dladm: warning: failed to set varpd prop: direct/dest_port\n\
             dladm: overlay creation failed: permission denied\n",
        ),
        (
            "varpd_activate",
            "dladm: warning: failed to activate varpd instance: Not owner\n\
             dladm: overlay creation failed: permission denied\n",
        ),
        (
            "ovl_activate",
            "dladm: warning: failed to activate device: Not owner\n\
             dladm: overlay creation failed: permission denied\n",
        ),
    ];
    for &(point, msg) in points {
        for temp in ["", "-t"] {
            let mut b = FakeBackend::new();
            b.fail_at(point, errno::EPERM);
            if point == "set_conf" && temp == "-t" {
                // A temporary overlay has no persistent record to write.
                ok(&mut b, &create("-t -p mtu=1300 -v 1 demo0"));
                continue;
            }
            let cmd = create(&format!(
                "{temp} -p mtu=1300 -p vxlan/listen_port=4789 -v 1 demo0"
            ));
            fails(&mut b, &cmd, msg);
            assert!(b.is_empty(), "{point} {temp}: left state behind: {b:?}");
        }
    }
}

#[test]
fn unprivileged_caller_creates_nothing() {
    let mut b = FakeBackend::new();
    b.privileged = false;
    fails(
        &mut b,
        &create("-v 1 demo0"),
        "dladm: overlay creation failed: permission denied\n",
    );
    assert!(b.is_empty());
    let mut b = seeded();
    b.privileged = false;
    fails(
        &mut b,
        "dladm delete-overlay demo0",
        "dladm: failed to delete demo0: permission denied\n",
    );
    fails(
        &mut b,
        "dladm create-vnic -l demo0 foo0",
        "dladm: vnic creation over demo0 failed: permission denied\n",
    );
    fails(
        &mut b,
        "dladm show-overlay demo0",
        "dladm: warning: failed to get overlay properties for overlay demo0: permission denied\n",
    );
    b.privileged = true;
    ok(&mut b, "dladm delete-overlay demo0");
    assert!(b.is_empty());
}

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
        "dladm: failed to set target 1:2:3:4:5:6 for overlay target cache dyn0: invalid argument\n",
    );
    fails(
        &mut b,
        "dladm modify-overlay -s 1:2:3:4:5:6=fd00::1:80 dyn0",
        "dladm: failed to set target 1:2:3:4:5:6 for overlay target cache dyn0: invalid argument\n",
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
        "dladm: failed to flush target cache for overlay demo0: operation not supported\n",
    );
    fails(
        &mut b,
        "dladm modify-overlay -d 1:2:3:4:5:6 demo0",
        "dladm: failed to flush target 1:2:3:4:5:6 from overlay target cache demo0: \
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

// --- links and VNICs ---------------------------------------------------------

#[test]
fn vnic_messages() {
    let mut b = seeded();
    ok(
        &mut b,
        "dladm create-overlay -t -e vxlan -s direct -p vxlan/listen_ip=10.0.0.1 \
         -p direct/dest_ip=10.0.0.2 -p direct/dest_port=4789 -v 9 tmp0",
    );
    fails(
        &mut b,
        "dladm create-vnic -l tmp0 foo0",
        "dladm: vnic creation over tmp0 failed: \
         can't create persistent object on top of temporary object\n",
    );
    ok(&mut b, "dladm create-vnic -t -l tmp0 foo0");
    fails(
        &mut b,
        "dladm delete-overlay tmp0",
        "dladm: failed to delete tmp0: link busy\n",
    );
    fails(
        &mut b,
        "dladm create-vnic -l demo0 foo0",
        "dladm: vnic creation over demo0 failed: object already exists\n",
    );
    fails(
        &mut b,
        "dladm create-vnic -l nope0 bar0",
        "dladm: invalid link name 'nope0'\n",
    );
    fails(
        &mut b,
        "dladm create-vnic -l foo0 bar0",
        "dladm: vnic creation over foo0 failed: invalid argument\n",
    );
    fails(
        &mut b,
        "dladm create-vnic -l demo0 bar",
        "dladm: invalid link name 'bar'\n",
    );
    fails(
        &mut b,
        "dladm create-vnic -m random -m auto -l demo0 bar0",
        "dladm: cannot specify -m option twice\n",
    );
    fails(
        &mut b,
        "dladm create-vnic -m fixed -l demo0 bar0",
        "dladm: 'fixed' is not a valid MAC address\n",
    );
    fails(
        &mut b,
        "dladm create-vnic -m 1:2:3 -l demo0 bar0",
        "dladm: invalid MAC address\n",
    );
    fails(
        &mut b,
        "dladm create-vnic -m 1:2:3:4:5:6 -l demo0 bar0",
        "dladm: vnic creation over demo0 failed: invalid MAC address\n",
    );
    fails(
        &mut b,
        "dladm create-vnic -m factory -l demo0 bar0",
        "dladm: vnic creation over demo0 failed: operation not supported\n",
    );
    fails(
        &mut b,
        "dladm create-vnic -p =5 -l demo0 bar0",
        "dladm: invalid vnic property\n",
    );
    fails(
        &mut b,
        "dladm create-vnic -p mtu=x -l demo0 bar0",
        "dladm: vnic creation over demo0 failed: invalid value\n",
    );
    fails(
        &mut b,
        "dladm create-vnic -p mtu=1500 -l demo0 bar0",
        "dladm: vnic creation over demo0 failed: invalid argument\n",
    );
    fails(
        &mut b,
        "dladm create-vnic -p maxbw=100 -l demo0 bar0",
        "dladm: vnic creation over demo0 failed: operation not supported\n",
    );
    let long = "a".repeat(32);
    fails(
        &mut b,
        &format!("dladm create-vnic -l {long} bar0"),
        "dladm: link name too long\n",
    );
    fails(
        &mut b,
        &format!("dladm create-vnic -l demo0 {long}"),
        &format!("dladm: link name too long '{long}'\n"),
    );
    let (c, _, e) = dl(&mut b, "dladm create-vnic bar0");
    assert_eq!(c, 1);
    assert!(e.starts_with("usage:"));
    fails(
        &mut b,
        "dladm delete-vnic nope0",
        "dladm: invalid link name 'nope0'\n",
    );
    fails(
        &mut b,
        "dladm delete-vnic demo0",
        "dladm: vnic deletion failed: invalid argument\n",
    );
    fails(
        &mut b,
        "dladm show-vnic nope0",
        "dladm: invalid vnic name 'nope0': object not found\n",
    );
    fails(
        &mut b,
        "dladm show-vnic demo0",
        "dladm: failed to show vnic 'demo0': invalid argument\n",
    );
    fails(
        &mut b,
        "dladm show-vnic -l nope0",
        "dladm: invalid link name 'nope0': object not found\n",
    );
    fails(
        &mut b,
        "dladm show-link nope0",
        "dladm: link nope0 is not valid: object not found\n",
    );
    fails(&mut b, "dladm show-link -p", "dladm: -p requires -o\n");
    fails(
        &mut b,
        "dladm show-link -p -o all",
        "dladm: \"-o all\" is invalid with -p\n",
    );
    fails(
        &mut b,
        "dladm show-link -p -p -o link",
        "dladm: the option -p cannot be specified more than once\n",
    );
    fails(
        &mut b,
        "dladm show-link -P -P",
        "dladm: the option -P cannot be specified more than once\n",
    );
    fails(
        &mut b,
        "dladm show-link -P tmp0",
        "dladm: failed to show link tmp0: object not found\n",
    );
    fails(
        &mut b,
        "dladm up-vnic nope0",
        "dladm: could not bring up vnic 'nope0': object not found\n",
    );
    ok(&mut b, "dladm delete-vnic foo0");
    ok(&mut b, "dladm delete-overlay tmp0");
    ok(&mut b, "dladm delete-overlay demo0");
    assert!(b.is_empty(), "{b:?}");
}

#[test]
fn up_vnic_recreates_persistent_vnics() {
    let mut b = seeded();
    ok(&mut b, "dladm create-vnic -l demo0 -p mtu=1200 foo0");
    let before = ok(&mut b, "dladm show-vnic -p -o link,over,macaddress");
    b.reboot();
    ok(&mut b, "dladm up-overlay");
    assert_eq!(
        ok(&mut b, "dladm show-vnic -p -o link,over,macaddress"),
        before
    );
    assert_eq!(
        ok(&mut b, "dladm show-link -p -o link,mtu foo0"),
        "foo0:1200\n"
    );
    // up-vnic on its own (after overlays are up) also works.
    ok(&mut b, "dladm delete-vnic -t foo0");
    assert_eq!(ok(&mut b, "dladm show-vnic"), "");
    ok(&mut b, "dladm up-vnic");
    assert_eq!(
        ok(&mut b, "dladm show-vnic -p -o link,over,macaddress"),
        before
    );
}

#[test]
fn up_overlay_replaces_a_stale_varpd_instance() {
    // varpd kept its instance while the device went away (fkoverlayd
    // restarted): up-overlay replaces it instead of failing with EEXIST.
    let mut b = seeded();
    let stale = b.insts.clone();
    b.reboot();
    b.insts = stale;
    for i in b.insts.values_mut() {
        i.active = false;
    }
    ok(&mut b, "dladm up-overlay");
    assert_eq!(b.insts.len(), 1);
    assert_eq!(b.devs.len(), 1);
    assert!(b.insts.keys().all(|&id| id != 1));
}

#[test]
fn vnic_underlay_address_not_available() {
    let mut b = seeded();
    b.fail_at("vnic_create", errno::EADDRNOTAVAIL);
    fails(
        &mut b,
        "dladm create-vnic -l demo0 foo0",
        "dladm: warning: failed to start overlay device; could not open underlay socket: \
         can't assign requested address\n\
         dladm: vnic creation over demo0 failed: can't assign requested address\n",
    );
    assert!(b.vnics.is_empty());
    assert!(b.name2info("foo0").is_err());
}

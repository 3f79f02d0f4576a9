//! The messages of the link and VNIC subcommands (`create-vnic`,
//! `delete-vnic`, `show-vnic`, `up-vnic`, `show-link`), and the VNICs
//! `up-vnic` and `up-overlay` re-create. Every failing command must exit 1
//! with exactly the expected stderr.

mod common;
use common::*;
use dladm_overlay::backend::*;
use dladm_overlay::errno;

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
        "dladm: warning: link foo0 already exists\n\
         dladm: vnic creation over demo0 failed: object already exists\n",
    );
    fails(
        &mut b,
        "dladm create-vnic -l nope0 bar0",
        "dladm: invalid link name 'nope0'\n",
    );
    fails(
        &mut b,
        "dladm create-vnic -l foo0 bar0",
        "dladm: warning: cannot create a VNIC over foo0: it is a vnic\n\
         dladm: vnic creation over foo0 failed: invalid argument\n",
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
        "dladm: invalid MAC address '1:2:3'\n",
    );
    fails(
        &mut b,
        "dladm create-vnic -m 1:2:3:4:5:6 -l demo0 bar0",
        "dladm: warning: MAC address 1:2:3:4:5:6 is not a unicast address\n\
         dladm: vnic creation over demo0 failed: invalid MAC address\n",
    );
    fails(
        &mut b,
        "dladm create-vnic -m factory -l demo0 bar0",
        "dladm: warning: MAC address type 'factory' is not supported over an overlay\n\
         dladm: vnic creation over demo0 failed: operation not supported\n",
    );
    fails(
        &mut b,
        "dladm create-vnic -p =5 -l demo0 bar0",
        "dladm: invalid vnic property\n",
    );
    fails(
        &mut b,
        "dladm create-vnic -p mtu=x -l demo0 bar0",
        "dladm: invalid value 'x' for property mtu: must be in 576-1400\n",
    );
    fails(
        &mut b,
        "dladm create-vnic -p mtu=1500 -l demo0 bar0",
        "dladm: invalid value '1500' for property mtu: must be in 576-1400\n",
    );
    ok(&mut b, "dladm create-vnic -m 2:8:20:1:2:3 -l demo0 mac0");
    fails(
        &mut b,
        "dladm create-vnic -m 2:8:20:1:2:3 -v 7 -l demo0 mac1",
        "dladm: warning: MAC address 2:8:20:1:2:3 is already in use over demo0\n\
         dladm: vnic creation over demo0 failed: object already exists\n",
    );
    ok(&mut b, "dladm delete-vnic mac0");
    for v in ["575", "0", "-1", "1400x", "576,600"] {
        fails(
            &mut b,
            &format!("dladm create-vnic -p mtu={v} -l demo0 bar0"),
            &format!("dladm: invalid value '{v}' for property mtu: must be in 576-1400\n"),
        );
    }
    fails(
        &mut b,
        "dladm create-vnic -p maxbw=100 -l demo0 bar0",
        "dladm: warning: unsupported property 'maxbw': a VNIC over an overlay takes only mtu\n\
         dladm: vnic creation over demo0 failed: operation not supported\n",
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

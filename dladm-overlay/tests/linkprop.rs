//! `set-linkprop`, `reset-linkprop`, `show-linkprop` with the `zone`
//! property (illumos' messages), its persistence and `up-vnic`.

mod common;
use common::*;
use dladm_overlay::fake::FakeBackend;

fn with_vnic() -> FakeBackend {
    let mut b = seeded();
    ok(&mut b, "dladm create-vnic -l demo0 foo0");
    b.zones_known.insert("z1".into());
    b
}

const HDR: &str = "LINK         PROPERTY        PERM VALUE          DEFAULT        POSSIBLE\n";

#[test]
fn zone_set_show_reset() {
    let mut b = with_vnic();
    let id = b
        .links
        .iter()
        .find(|(_, l)| l.name == "foo0")
        .map(|(i, _)| *i)
        .unwrap();
    assert_eq!(
        ok(&mut b, "dladm show-linkprop -p zone foo0"),
        format!("{HDR}foo0         zone            rw   --             --             --\n")
    );
    assert_eq!(ok(&mut b, "dladm set-linkprop -p zone=z1 foo0"), "");
    assert_eq!(b.vnic_zone.get(&id).map(String::as_str), Some("z1"));
    assert_eq!(
        ok(&mut b, "dladm show-linkprop foo0"),
        format!("{HDR}foo0         zone            rw   z1             --             --\n")
    );
    assert_eq!(
        ok(&mut b, "dladm show-linkprop -c -o link,value -p zone foo0"),
        "foo0:z1\n"
    );
    // Persisted with the VNIC.
    assert_eq!(
        ok(&mut b, "dladm show-linkprop -P -c -o value -p zone foo0"),
        "z1\n"
    );
    // show-vnic from the global side still sees it.
    assert!(ok(&mut b, "dladm show-vnic foo0").contains("foo0"));
    ok(&mut b, "dladm reset-linkprop -p zone foo0");
    assert_eq!(b.vnic_zone.get(&id), None);
    assert_eq!(
        ok(&mut b, "dladm show-linkprop -P -c -o value -p zone foo0"),
        "\n"
    );
    // zone=global is the global zone too; -t leaves the persistent value.
    ok(&mut b, "dladm set-linkprop -t -p zone=z1 foo0");
    assert_eq!(b.vnic_zone.get(&id).map(String::as_str), Some("z1"));
    assert_eq!(
        ok(&mut b, "dladm show-linkprop -P -c -o value -p zone foo0"),
        "\n"
    );
    ok(&mut b, "dladm set-linkprop -p zone=global foo0");
    assert_eq!(b.vnic_zone.get(&id), None);
}

#[test]
fn zone_errors() {
    let mut b = with_vnic();
    fails(
        &mut b,
        "dladm set-linkprop -p zone=nosuch foo0",
        "dladm: warning: zone 'nosuch' does not exist (no network namespace /run/netns/nosuch)\n\
         dladm: warning: cannot set link property 'zone' on 'foo0': invalid value\n",
    );
    fails(
        &mut b,
        "dladm set-linkprop -p color=red foo0",
        "dladm: warning: invalid link property 'color'\n",
    );
    fails(
        &mut b,
        "dladm set-linkprop -p zone=z1 demo0",
        "dladm: warning: cannot set link property 'zone' on 'demo0': operation not supported\n",
    );
    // An overlay's own properties are fixed once it runs.
    fails(
        &mut b,
        "dladm set-linkprop -p vxlan/listen_port=5,color=red demo0",
        "dladm: warning: cannot set link property 'vxlan/listen_port' on 'demo0': overlay \
         properties are set when the overlay is created (create-overlay -p)\n\
         dladm: warning: invalid link property 'color'\n",
    );
    fails(
        &mut b,
        "dladm reset-linkprop -p mtu demo0",
        "dladm: warning: cannot reset link property 'mtu' on 'demo0': overlay \
         properties are set when the overlay is created (create-overlay -p)\n",
    );
    fails(
        &mut b,
        "dladm set-linkprop -p zone=z1 nosuch0",
        "dladm: link nosuch0 is not valid: object not found\n",
    );
    fails(
        &mut b,
        "dladm set-linkprop foo0",
        "dladm: link property must be specified\n",
    );
    let (c, out, e) = dl(&mut b, "dladm show-linkprop -p color foo0");
    assert_eq!(c, 1);
    assert_eq!(out, "");
    assert_eq!(
        e,
        "dladm: warning: cannot get link property 'color' for foo0: object not found\n"
    );
}

#[test]
fn up_vnic_puts_it_back_in_its_zone_or_says_why_not() {
    let mut b = with_vnic();
    ok(&mut b, "dladm set-linkprop -p zone=z1 foo0");
    b.reboot();
    ok(&mut b, "dladm up-overlay");
    let id = b
        .links
        .iter()
        .find(|(_, l)| l.name == "foo0")
        .map(|(i, _)| *i)
        .unwrap();
    ok(&mut b, "dladm up-vnic");
    assert_eq!(b.vnic_zone.get(&id).map(String::as_str), Some("z1"));
    // The zone went away: a clear error, and no VNIC left in the wrong
    // zone.
    b.reboot();
    b.zones_known.clear();
    fails(
        &mut b,
        "dladm up-overlay",
        "dladm: warning: cannot put vnic 'foo0' in zone 'z1': no such zone (network namespace /run/netns/z1)\n\
         dladm: warning: failed to bring up VNICs over datalink id 1: invalid value\n\
         dladm: could not bring overlays up: invalid value\n",
    );
    assert!(b.vnics.is_empty());
    fails(
        &mut b,
        "dladm up-vnic foo0",
        "dladm: warning: cannot put vnic 'foo0' in zone 'z1': no such zone (network namespace /run/netns/z1)\n\
         dladm: could not bring up vnic 'foo0': invalid value\n",
    );
    assert!(b.vnics.is_empty());
}

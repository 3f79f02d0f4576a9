//! The `svp` plugin's registration, properties (every type, encoding and
//! error of spec/svp.md §2.1), start's EAGAIN, instances sharing remotes,
//! and save/restore (§2.2) through libvarpd's state files.

mod svp_server;

use std::net::Ipv6Addr;

use libvarpd::persist::{self, Saved};
use libvarpd::plugin::*;
use libvarpd::plugins::svp::{self, SVP_DEFPORT, SVP_DEFUPORT};
use libvarpd::Errno;
use serde_json::json;
use svp_server::fixture::*;

#[test]
fn registration_and_dest() {
    let reg = svp::registration();
    assert_eq!(reg.name, "svp");
    assert_eq!(reg.mode, TargetMode::Dynamic);
    let mut r = PluginRegistry::new();
    libvarpd::plugins::register_builtin(&mut r).unwrap();
    let names: Vec<_> = r.iter().map(|p| p.name.to_string()).collect();
    assert_eq!(names, ["direct", "files", "svp"]);

    let dev = std::sync::Arc::new(libvarpd::testing::FakeTargetDev::new());
    for dest in [
        OVERLAY_PLUGIN_D_IP,
        OVERLAY_PLUGIN_D_ETHERNET,
        0,
        VXLAN | OVERLAY_PLUGIN_D_ETHERNET,
    ] {
        let h = ProviderHandle::new(1, 1, 1, dest, "svp", dev.clone());
        assert_eq!(reg.ops.create(h.clone(), dest).err(), Some(Errno::ENOTSUP));
        assert_eq!(
            reg.ops.restore(&json!({}), h, dest).err(),
            Some(Errno::ENOTSUP)
        );
    }
}

#[test]
fn propinfo() {
    let (reg, _) = plugin(1000, None);
    let i = create(&reg, 1, 7);
    assert_eq!(i.inst.nprops().unwrap(), 4);
    let want = [
        ("svp/host", PropType::String, None),
        ("svp/port", PropType::Uint, Some(1296i32)),
        ("svp/underlay_ip", PropType::Ip, None),
        ("svp/underlay_port", PropType::Uint, Some(1339i32)),
    ];
    for (id, (name, ty, def)) in want.iter().enumerate() {
        let mut ph = PropHandle::new();
        i.inst.propinfo(id as u32, &mut ph).unwrap();
        assert_eq!(ph.name, *name);
        assert_eq!(ph.ptype, *ty as u32);
        assert_eq!(ph.prot, OVERLAY_PROP_PERM_RRW);
        match def {
            // illumos passes the defaults as a C int (4 bytes).
            Some(d) => assert_eq!(ph.default_value(), d.to_ne_bytes()),
            None => assert_eq!(ph.defsize, 0),
        }
    }
    let mut ph = PropHandle::new();
    assert_eq!(i.inst.propinfo(4, &mut ph), Err(Errno::EINVAL));
}

#[test]
fn getprop_defaults_and_sizes() {
    let (reg, _) = plugin(1000, None);
    let i = create(&reg, 1, 7);
    let mut b = [0u8; 256];
    assert_eq!(i.inst.getprop("svp/host", &mut b), Ok(0));
    assert_eq!(i.inst.getprop("svp/port", &mut b), Ok(8));
    assert_eq!(u64::from_ne_bytes(b[..8].try_into().unwrap()), 1296);
    assert_eq!(i.inst.getprop("svp/underlay_port", &mut b), Ok(8));
    assert_eq!(u64::from_ne_bytes(b[..8].try_into().unwrap()), 1339);
    assert_eq!(i.inst.getprop("svp/underlay_ip", &mut b), Ok(0));
    // Short buffers.
    assert_eq!(
        i.inst.getprop("svp/port", &mut b[..7]),
        Err(Errno::EOVERFLOW)
    );
    assert_eq!(
        i.inst.getprop("svp/underlay_port", &mut b[..4]),
        Err(Errno::EOVERFLOW)
    );
    assert_eq!(
        i.inst.getprop("svp/underlay_ip", &mut b[..15]),
        Err(Errno::EOVERFLOW)
    );
    assert_eq!(i.inst.getprop("svp/nope", &mut b), Err(Errno::EINVAL));
    i.inst
        .setprop("svp/host", &cstr("portolan.example"))
        .unwrap();
    assert_eq!(
        i.inst.getprop("svp/host", &mut b[..16]),
        Err(Errno::EOVERFLOW)
    );
    assert_eq!(i.inst.getprop("svp/host", &mut b), Ok(17));
    assert_eq!(&b[..17], b"portolan.example\0");
    i.inst
        .setprop("svp/underlay_ip", &v6("10.88.88.205").octets())
        .unwrap();
    // 16 bytes is enough (illumos' inverted test refused any larger buffer).
    assert_eq!(i.inst.getprop("svp/underlay_ip", &mut b[..16]), Ok(16));
    assert_eq!(i.inst.getprop("svp/underlay_ip", &mut b), Ok(16));
    assert_eq!(
        Ipv6Addr::from(<[u8; 16]>::try_from(&b[..16]).unwrap()),
        v6("10.88.88.205")
    );
}

#[test]
fn setprop_validation() {
    let (reg, _) = plugin(1000, None);
    let i = create(&reg, 1, 7);
    let s = |n: &str, v: &[u8]| i.inst.setprop(n, v);
    // host
    assert_eq!(s("svp/host", b"\0"), Err(Errno::EINVAL));
    assert_eq!(s("svp/host", b""), Err(Errno::EINVAL));
    assert_eq!(s("svp/host", b"two words\0"), Err(Errno::EINVAL));
    assert_eq!(s("svp/host", &[0xff, 0xfe, 0]), Err(Errno::EINVAL));
    assert_eq!(s("svp/host", b"10.0.0.1"), Ok(()));
    assert_eq!(s("svp/host", b"portolan.dc.example.com\0junk"), Ok(()));
    let mut b = [0u8; 64];
    assert_eq!(i.inst.getprop("svp/host", &mut b), Ok(24));
    // ports: 8 bytes, 1-65535
    for p in ["svp/port", "svp/underlay_port"] {
        assert_eq!(s(p, &u64b(0)), Err(Errno::EINVAL));
        assert_eq!(s(p, &u64b(65536)), Err(Errno::EINVAL));
        assert_eq!(s(p, &u64b(u64::MAX)), Err(Errno::EINVAL));
        assert_eq!(s(p, &4789u32.to_ne_bytes()), Err(Errno::EOVERFLOW));
        assert_eq!(s(p, &[]), Err(Errno::EOVERFLOW));
        assert_eq!(s(p, &u64b(65535)), Ok(()));
        assert_eq!(s(p, &u64b(1)), Ok(()));
    }
    // underlay_ip: the EINVAL checks of §2.1
    for bad in [
        "::1.2.3.4",
        "ff02::1",
        "2002::1",
        "::ffff:224.0.0.1",
        "::ffff:239.1.2.3",
    ] {
        assert_eq!(
            s(
                "svp/underlay_ip",
                &bad.parse::<Ipv6Addr>().unwrap().octets()
            ),
            Err(Errno::EINVAL),
            "{bad}"
        );
    }
    assert_eq!(s("svp/underlay_ip", &[0; 15]), Err(Errno::EOVERFLOW));
    for good in ["::ffff:10.88.88.205", "fd00::5", "::1"] {
        assert_eq!(
            s(
                "svp/underlay_ip",
                &good.parse::<Ipv6Addr>().unwrap().octets()
            ),
            Ok(()),
            "{good}"
        );
    }
    assert_eq!(s("svp/dcid", &u64b(1)), Err(Errno::EINVAL));
    assert_eq!(s("direct/dest_ip", &[0; 16]), Err(Errno::EINVAL));
}

#[test]
fn start_needs_every_property() {
    let (reg, p) = plugin(1000, None);
    let i = create(&reg, 1, 7);
    assert_eq!(i.inst.start(), Err(Errno::EAGAIN));
    i.inst.setprop("svp/host", &cstr("127.0.0.1")).unwrap();
    assert_eq!(i.inst.start(), Err(Errno::EAGAIN));
    i.inst
        .setprop("svp/underlay_ip", &v6("10.88.88.1").octets())
        .unwrap();
    i.inst
        .setprop("svp/port", &u64b(u64::from(closed_port())))
        .unwrap();
    i.inst.start().unwrap();
    assert_eq!(p.remotes().len(), 1);
    // Started: properties are fixed, a second start is refused.
    assert_eq!(i.inst.setprop("svp/port", &u64b(1)), Err(Errno::EBUSY));
    assert_eq!(i.inst.start(), Err(Errno::EBUSY));
    i.inst.stop();
    assert!(p.remotes().is_empty());
    i.inst.setprop("svp/port", &u64b(1)).unwrap();
    i.inst.destroy();
}

#[test]
fn remotes_are_shared_and_vnets_unique() {
    let (reg, p) = plugin(1000, None);
    let port = closed_port();
    let a = started(&reg, 1, 100, "127.0.0.1", port);
    let b = started(&reg, 2, 200, "127.0.0.1", port);
    let r = p.remotes();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].vnetids, vec![100, 200]);
    assert_eq!(r[0].port, port);
    assert_eq!(r[0].underlay_ip, v6("10.88.88.1"));
    // The same vnet on the same remote: an error, not a panic.
    let c = create(&reg, 3, 100);
    c.inst.setprop("svp/host", &cstr("127.0.0.1")).unwrap();
    c.inst.setprop("svp/port", &u64b(u64::from(port))).unwrap();
    c.inst
        .setprop("svp/underlay_ip", &v6("10.88.88.1").octets())
        .unwrap();
    assert_eq!(c.inst.start(), Err(Errno::EEXIST));
    assert_eq!(p.remotes()[0].vnetids, vec![100, 200]);
    // Another underlay IP is another remote.
    c.inst
        .setprop("svp/underlay_ip", &v6("10.88.88.2").octets())
        .unwrap();
    c.inst.start().unwrap();
    assert_eq!(p.remotes().len(), 2);
    a.inst.stop();
    assert_eq!(p.remotes().len(), 2);
    b.inst.stop();
    c.inst.stop();
    assert!(p.remotes().is_empty());
}

#[test]
fn save_keys_and_types() {
    let (reg, _) = plugin(1000, None);
    let i = create(&reg, 1, 7);
    // Defaults only: the ports.
    assert_eq!(
        i.inst.save().unwrap(),
        json!({"svp/port": 1296, "svp/underlay_port": 1339})
    );
    i.inst
        .setprop("svp/host", &cstr("portolan.example"))
        .unwrap();
    i.inst
        .setprop("svp/underlay_ip", &v6("10.88.88.205").octets())
        .unwrap();
    i.inst.setprop("svp/port", &u64b(4000)).unwrap();
    assert_eq!(
        i.inst.save().unwrap(),
        json!({
            "svp/host": "portolan.example",
            "svp/port": 4000,
            "svp/underlay_ip": "::ffff:10.88.88.205",
            "svp/underlay_port": 1339
        })
    );
}

#[test]
fn restore_round_trip_through_a_state_file() {
    let (reg, _) = plugin(1000, None);
    let i = create(&reg, 1, 7);
    i.inst
        .setprop("svp/host", &cstr("portolan.example"))
        .unwrap();
    i.inst
        .setprop("svp/underlay_ip", &v6("fd00::9").octets())
        .unwrap();
    i.inst.setprop("svp/underlay_port", &u64b(7000)).unwrap();
    let saved = Saved {
        vri_id: 1,
        vri_linkid: 1,
        vri_dest: VXLAN,
        vri_mode: TargetMode::Dynamic.as_u32(),
        vri_plugin: "svp".into(),
        vri_private: i.inst.save().unwrap(),
    };
    let back = persist::decode(&persist::encode(&saved).unwrap()).unwrap();
    let dev = std::sync::Arc::new(libvarpd::testing::FakeTargetDev::new());
    let h = ProviderHandle::new(1, 1, 7, VXLAN, "svp", dev);
    let r = reg.ops.restore(&back.vri_private, h, VXLAN).unwrap();
    for name in [
        "svp/host",
        "svp/port",
        "svp/underlay_ip",
        "svp/underlay_port",
    ] {
        let (mut a, mut b) = ([0u8; 256], [0u8; 256]);
        let na = i.inst.getprop(name, &mut a).unwrap();
        let nb = r.getprop(name, &mut b).unwrap();
        assert_eq!(a[..na], b[..nb], "{name}");
    }
    assert_eq!(r.save().unwrap(), i.inst.save().unwrap());
}

#[test]
fn restore_missing_keys_are_unset() {
    let (reg, _) = plugin(1000, None);
    let dev = std::sync::Arc::new(libvarpd::testing::FakeTargetDev::new());
    let h = ProviderHandle::new(1, 1, 7, VXLAN, "svp", dev);
    // No port and no underlay port: unset, not the defaults (illumos).
    let r = reg
        .ops
        .restore(
            &json!({"svp/host": "127.0.0.1", "svp/underlay_ip": "::ffff:10.0.0.1"}),
            h.clone(),
            VXLAN,
        )
        .unwrap();
    let mut b = [0u8; 256];
    assert_eq!(r.getprop("svp/port", &mut b), Ok(0));
    assert_eq!(r.getprop("svp/underlay_port", &mut b), Ok(0));
    assert_eq!(r.start(), Err(Errno::EAGAIN));
    let r = reg.ops.restore(&json!({}), h.clone(), VXLAN).unwrap();
    assert_eq!(r.getprop("svp/host", &mut b), Ok(0));
    assert_eq!(r.save().unwrap(), json!({}));
    assert_eq!(SVP_DEFPORT, 1296);
    assert_eq!(SVP_DEFUPORT, 1339);

    for bad in [
        json!([]),
        json!({"svp/host": 5}),
        json!({"svp/host": ""}),
        json!({"svp/port": 70000}),
        json!({"svp/port": "1296"}),
        json!({"svp/port": -1}),
        json!({"svp/underlay_port": 1.5}),
        json!({"svp/underlay_ip": "not-an-ip"}),
        json!({"svp/underlay_ip": "10.0.0.1"}),
        json!({"svp/underlay_ip": "ff02::1"}),
    ] {
        assert_eq!(
            reg.ops.restore(&bad, h.clone(), VXLAN).err(),
            Some(Errno::EINVAL),
            "{bad}"
        );
    }
}

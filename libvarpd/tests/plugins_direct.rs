//! The `direct` plugin: destination types, properties with their exact
//! encodings and errors, start, the default point, save/restore (§3 and the
//! fixes §12 #5, #6, #7).

use std::net::Ipv6Addr;
use std::sync::Arc;

use libvarpd::ksys::TargetPoint;
use libvarpd::plugin::*;
use libvarpd::plugins::direct::{self, DIRECT_DEST_IP, DIRECT_DEST_PORT};
use libvarpd::plugins::register_builtin;
use libvarpd::testing::FakeTargetDev;
use libvarpd::Errno;
use serde_json::json;

const VXLAN: Dest = OVERLAY_PLUGIN_D_IP | OVERLAY_PLUGIN_D_PORT;

fn handle(dest: Dest) -> ProviderHandle {
    ProviderHandle::new(1, 5, 23, dest, "direct", Arc::new(FakeTargetDev::new()))
}

fn create(dest: Dest) -> Result<Box<dyn SearchInstance>, Errno> {
    direct::registration().ops.create(handle(dest), dest)
}

fn ip_bytes(s: &str) -> [u8; 16] {
    s.parse::<Ipv6Addr>().unwrap().octets()
}

fn port_bytes(p: u64) -> [u8; 8] {
    p.to_ne_bytes()
}

#[test]
fn registration_and_dest() {
    let r = direct::registration();
    assert_eq!(r.name, "direct");
    assert_eq!(r.mode, TargetMode::Point);
    assert_eq!(r.version, VARPD_CURRENT_VERSION);
    let mut reg = PluginRegistry::new();
    register_builtin(&mut reg).unwrap();
    let names: Vec<_> = reg.iter().map(|p| p.name.to_string()).collect();
    assert_eq!(names, ["direct", "files", "svp"]);
    assert_eq!(register_builtin(&mut reg), Err(Errno::EEXIST));

    for bad in [
        0,
        OVERLAY_PLUGIN_D_ETHERNET,
        OVERLAY_PLUGIN_D_PORT,
        VXLAN | OVERLAY_PLUGIN_D_ETHERNET,
        0x8 | VXLAN,
    ] {
        assert_eq!(create(bad).err(), Some(Errno::ENOTSUP), "{bad:#x}");
        let r = direct::registration()
            .ops
            .restore(&json!({}), handle(bad), bad);
        assert_eq!(r.err(), Some(Errno::ENOTSUP), "{bad:#x}");
    }
    assert!(create(OVERLAY_PLUGIN_D_IP).is_ok());
    assert!(create(VXLAN).is_ok());
}

#[test]
fn propinfo() {
    let i = create(VXLAN).unwrap();
    assert_eq!(i.nprops(), Ok(2));
    let mut ph = PropHandle::new();
    i.propinfo(0, &mut ph).unwrap();
    assert_eq!(ph.name, "direct/dest_ip");
    assert_eq!(ph.prot, OVERLAY_PROP_PERM_RRW);
    assert_eq!(ph.ptype, PropType::Ip as u32);
    assert_eq!(ph.defsize, 0);
    assert_eq!(ph.psize, PropHandle::new().psize, "no range");

    let mut ph = PropHandle::new();
    i.propinfo(1, &mut ph).unwrap();
    assert_eq!(ph.name, "direct/dest_port");
    assert_eq!(ph.prot, OVERLAY_PROP_PERM_RRW);
    assert_eq!(ph.ptype, PropType::Uint as u32);
    assert_eq!(ph.defsize, 0);
    // One uint32 range 1..65535: count 1, type UINT32 (1), {1, 65535}.
    assert_eq!(&ph.poss[0..8], &[1, 0, 0, 0, 1, 0, 0, 0]);
    assert_eq!(&ph.poss[8..16], &[1, 0, 0, 0, 0xff, 0xff, 0, 0]);
    assert_eq!(ph.psize, PropHandle::new().psize + 8);
    assert_eq!(i.propinfo(2, &mut PropHandle::new()), Err(Errno::EINVAL));

    // IP only: one property.
    let i = create(OVERLAY_PLUGIN_D_IP).unwrap();
    assert_eq!(i.nprops(), Ok(1));
    assert_eq!(i.propinfo(1, &mut PropHandle::new()), Err(Errno::EINVAL));
    assert_eq!(
        i.setprop(DIRECT_DEST_PORT, &port_bytes(1)),
        Err(Errno::EINVAL)
    );
    assert_eq!(i.getprop(DIRECT_DEST_PORT, &mut [0; 8]), Err(Errno::EINVAL));
}

#[test]
fn dest_ip_encoding_and_errors() {
    let i = create(VXLAN).unwrap();
    let mut buf = [0xaau8; 256];
    // Unset: size 0; a short buffer is EOVERFLOW even then.
    assert_eq!(i.getprop(DIRECT_DEST_IP, &mut buf), Ok(0));
    assert_eq!(
        i.getprop(DIRECT_DEST_IP, &mut buf[..15]),
        Err(Errno::EOVERFLOW)
    );

    // IPv4 arrives v4-mapped.
    i.setprop(DIRECT_DEST_IP, &ip_bytes("::ffff:10.88.88.70"))
        .unwrap();
    assert_eq!(i.getprop(DIRECT_DEST_IP, &mut buf), Ok(16));
    assert_eq!(buf[..16], ip_bytes("::ffff:10.88.88.70"));
    assert_eq!(i.getprop(DIRECT_DEST_IP, &mut buf[..16]), Ok(16));
    i.setprop(DIRECT_DEST_IP, &ip_bytes("2001:db8::1")).unwrap();
    assert_eq!(i.getprop(DIRECT_DEST_IP, &mut buf), Ok(16));
    assert_eq!(buf[..16], ip_bytes("2001:db8::1"));
    // Extra bytes are ignored, as in illumos (only 16 are read).
    let mut long = ip_bytes("2001:db8::2").to_vec();
    long.extend_from_slice(&[1, 2, 3]);
    i.setprop(DIRECT_DEST_IP, &long).unwrap();

    assert_eq!(i.setprop(DIRECT_DEST_IP, &[0; 15]), Err(Errno::EOVERFLOW));
    assert_eq!(i.setprop(DIRECT_DEST_IP, &[]), Err(Errno::EOVERFLOW));
    for bad in [
        "::10.0.0.1",
        "2002:a00:1::1",
        "::",
        "::ffff:0.0.0.0",
        "ff02::1",
        "::ffff:224.0.0.1",
    ] {
        assert_eq!(
            i.setprop(DIRECT_DEST_IP, &ip_bytes(bad)),
            Err(Errno::EINVAL),
            "{bad}"
        );
    }
    // A refused value leaves the old one.
    assert_eq!(i.getprop(DIRECT_DEST_IP, &mut buf), Ok(16));
    assert_eq!(buf[..16], ip_bytes("2001:db8::2"));
    assert_eq!(
        i.setprop("direct/nope", &ip_bytes("::1")),
        Err(Errno::EINVAL)
    );
    assert_eq!(i.getprop("direct/nope", &mut buf), Err(Errno::EINVAL));
}

#[test]
fn dest_port_encoding_and_errors() {
    let i = create(VXLAN).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(i.getprop(DIRECT_DEST_PORT, &mut buf), Ok(0));
    assert_eq!(
        i.getprop(DIRECT_DEST_PORT, &mut buf[..7]),
        Err(Errno::EOVERFLOW)
    );
    i.setprop(DIRECT_DEST_PORT, &port_bytes(4789)).unwrap();
    assert_eq!(i.getprop(DIRECT_DEST_PORT, &mut buf), Ok(8));
    assert_eq!(u64::from_ne_bytes(buf), 4789);
    i.setprop(DIRECT_DEST_PORT, &port_bytes(65535)).unwrap();
    i.setprop(DIRECT_DEST_PORT, &port_bytes(1)).unwrap();
    assert_eq!(
        i.setprop(DIRECT_DEST_PORT, &port_bytes(0)),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        i.setprop(DIRECT_DEST_PORT, &port_bytes(65536)),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        i.setprop(DIRECT_DEST_PORT, &port_bytes(u64::MAX)),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        i.setprop(DIRECT_DEST_PORT, &[1, 0, 0, 0]),
        Err(Errno::EOVERFLOW)
    );
    assert_eq!(i.getprop(DIRECT_DEST_PORT, &mut buf), Ok(8));
    assert_eq!(u64::from_ne_bytes(buf), 1);
}

#[test]
fn start_needs_ip_and_port() {
    let i = create(VXLAN).unwrap();
    assert_eq!(i.start(), Err(Errno::EAGAIN));
    i.setprop(DIRECT_DEST_PORT, &port_bytes(4789)).unwrap();
    assert_eq!(i.start(), Err(Errno::EAGAIN));
    let i = create(VXLAN).unwrap();
    i.setprop(DIRECT_DEST_IP, &ip_bytes("::ffff:10.88.88.70"))
        .unwrap();
    // §12 #6: the port is what a D_PORT destination needs.
    assert_eq!(i.start(), Err(Errno::EAGAIN));
    i.setprop(DIRECT_DEST_PORT, &port_bytes(4789)).unwrap();
    assert_eq!(i.start(), Ok(()));
    assert_eq!(
        i.default(),
        LookupAction::Ok(TargetPoint {
            mac: [0; 6],
            ip: "::ffff:10.88.88.70".parse().unwrap(),
            port: 4789,
        })
    );
    // §12 #5: no changes once started; after stop they are allowed again.
    assert_eq!(
        i.setprop(DIRECT_DEST_PORT, &port_bytes(1)),
        Err(Errno::EBUSY)
    );
    assert_eq!(
        i.setprop(DIRECT_DEST_IP, &ip_bytes("2001:db8::1")),
        Err(Errno::EBUSY)
    );
    i.stop();
    i.setprop(DIRECT_DEST_PORT, &port_bytes(1)).unwrap();
    i.destroy();

    // IP-only encapsulation: the IP suffices, the point has port 0.
    let i = create(OVERLAY_PLUGIN_D_IP).unwrap();
    assert_eq!(i.start(), Err(Errno::EAGAIN));
    i.setprop(DIRECT_DEST_IP, &ip_bytes("2001:db8::1")).unwrap();
    assert_eq!(i.start(), Ok(()));
    assert_eq!(
        i.default(),
        LookupAction::Ok(TargetPoint {
            mac: [0; 6],
            ip: "2001:db8::1".parse().unwrap(),
            port: 0,
        })
    );
}

#[test]
fn save_restore() {
    let ops = direct::registration().ops;
    let i = create(VXLAN).unwrap();
    assert_eq!(i.save().unwrap(), json!({}));
    i.setprop(DIRECT_DEST_IP, &ip_bytes("::ffff:10.88.88.70"))
        .unwrap();
    i.setprop(DIRECT_DEST_PORT, &port_bytes(4789)).unwrap();
    i.start().unwrap();
    let saved = i.save().unwrap();
    assert_eq!(
        saved,
        json!({"direct/dest_ip": "::ffff:10.88.88.70", "direct/dest_port": 4789})
    );
    // Through the text form, as persistence stores it.
    let saved: serde_json::Value = serde_json::from_str(&saved.to_string()).unwrap();
    let r = ops.restore(&saved, handle(VXLAN), VXLAN).unwrap();
    // §12 #7: the restored instance knows its destination type.
    assert_eq!(r.nprops(), Ok(2));
    let mut ph = PropHandle::new();
    r.propinfo(1, &mut ph).unwrap();
    assert_eq!(ph.name, "direct/dest_port");
    r.start().unwrap();
    assert_eq!(r.default(), i.default());
    let mut buf = [0u8; 16];
    assert_eq!(r.getprop(DIRECT_DEST_IP, &mut buf), Ok(16));
    assert_eq!(buf, ip_bytes("::ffff:10.88.88.70"));

    // Partial state restores as partial (start then wants the rest).
    let r = ops
        .restore(
            &json!({"direct/dest_ip": "2001:db8::5"}),
            handle(VXLAN),
            VXLAN,
        )
        .unwrap();
    assert_eq!(r.start(), Err(Errno::EAGAIN));

    // Bad saved state.
    for bad in [
        json!([]),
        json!({"direct/dest_ip": "10.0.0.1"}),
        json!({"direct/dest_ip": "nope"}),
        json!({"direct/dest_ip": 5}),
        json!({"direct/dest_ip": "::"}),
        json!({"direct/dest_port": 0}),
        json!({"direct/dest_port": 65536}),
        json!({"direct/dest_port": "4789"}),
    ] {
        let r = ops.restore(&bad, handle(VXLAN), VXLAN);
        assert_eq!(r.err(), Some(Errno::EINVAL), "{bad}");
    }
}

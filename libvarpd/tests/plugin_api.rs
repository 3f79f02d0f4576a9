//! The plugin interface against a recording fake device: query replies,
//! the ARP proxy round trip, upcalls, the property builder and the registry.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

use libvarpd::ksys::{self, TargLookup, TargetPoint};
use libvarpd::plugin::*;
use libvarpd::testing::FakeTargetDev;
use libvarpd::Errno;

fn lookup(reqid: u64) -> TargLookup {
    TargLookup {
        reqid,
        dlid: 5,
        varpdid: 1,
        ..Default::default()
    }
}

#[test]
fn reply_ok_sends_respond() {
    let dev = Arc::new(FakeTargetDev::new());
    let q = Query::new(lookup(42), dev.clone(), "t");
    let p = TargetPoint {
        mac: [0; 6],
        ip: "::ffff:1.2.3.4".parse().unwrap(),
        port: 4789,
    };
    q.reply(LookupAction::Ok(p));
    let c = dev.calls();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].cmd, ksys::OVERLAY_TARG_RESPOND);
    assert_eq!(c[0].arg, ksys::targ_resp(42, &p).to_vec());
}

#[test]
fn dropped_query_sends_drop_once() {
    let dev = Arc::new(FakeTargetDev::new());
    {
        let _q = Query::new(lookup(7), dev.clone(), "t");
    }
    let c = dev.calls();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].cmd, ksys::OVERLAY_TARG_DROP);
}

#[test]
fn reply_tolerates_gone_request() {
    let dev = Arc::new(FakeTargetDev::new());
    dev.fail(ksys::OVERLAY_TARG_DROP, Errno::EINVAL);
    Query::new(lookup(7), dev.clone(), "t").reply(LookupAction::Drop);
    assert_eq!(dev.calls().len(), 1);
}

struct ArpInst {
    seen: Mutex<Vec<IpAddr>>,
    vlans: Mutex<Vec<u16>>,
}

impl ArpInst {
    fn new() -> ArpInst {
        ArpInst {
            seen: Mutex::new(vec![]),
            vlans: Mutex::new(vec![]),
        }
    }
}

impl SearchInstance for ArpInst {
    fn start(&self) -> Result<(), Errno> {
        Ok(())
    }
    fn stop(&self) {}
    fn nprops(&self) -> Result<u32, Errno> {
        Ok(0)
    }
    fn propinfo(&self, _: u32, _: &mut PropHandle) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }
    fn getprop(&self, _: &str, _: &mut [u8]) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }
    fn setprop(&self, _: &str, _: &[u8]) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }
    fn save(&self) -> Result<serde_json::Value, Errno> {
        Ok(serde_json::Value::Null)
    }
    fn arp(&self, q: ArpQuery) {
        self.seen.lock().unwrap().push(q.addr());
        self.vlans.lock().unwrap().push(q.vlan());
        q.reply(Some([2, 0, 0, 0, 0, 9]));
    }
}

fn arp_request_frame() -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&[2, 0, 0, 0, 0, 1]);
    f.extend_from_slice(&[0x08, 0x06]);
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&[2, 0, 0, 0, 0, 1]);
    f.extend_from_slice(&[10, 0, 0, 1]);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&[10, 0, 0, 2]);
    f
}

#[test]
fn proxy_arp_round_trip() {
    let dev = Arc::new(FakeTargetDev::new());
    let frame = arp_request_frame();
    dev.set_pkt(&frame);
    let hdl = ProviderHandle::new(
        1,
        5,
        23,
        OVERLAY_PLUGIN_D_IP | OVERLAY_PLUGIN_D_PORT,
        "t",
        dev.clone(),
    );
    let inst: Arc<dyn SearchInstance> = Arc::new(ArpInst::new());
    hdl.bind(&inst);
    let mut l = lookup(9);
    l.hdrsize = 14;
    l.pktsize = 28;
    l.sap = 0x0806;
    l.srcaddr = [2, 0, 0, 0, 0, 1];
    l.dstaddr = [0xff; 6];
    l.dsttype = 2;
    hdl.proxy_arp(Query::new(l, dev.clone(), "t"));
    let cmds: Vec<u32> = dev.calls().iter().map(|c| c.cmd).collect();
    assert_eq!(
        cmds,
        vec![
            ksys::OVERLAY_TARG_PKT,
            ksys::OVERLAY_TARG_INJECT,
            ksys::OVERLAY_TARG_DROP
        ]
    );
    let inj = &dev.calls_of(ksys::OVERLAY_TARG_INJECT)[0];
    assert_eq!(ksys::get_u64(&inj.arg, 0), u64::MAX);
    assert_eq!(ksys::get_u64(&inj.arg, 8), 9);
    assert_eq!(&inj.data[0..6], &[2, 0, 0, 0, 0, 1]);
    assert_eq!(&inj.data[6..12], &[2, 0, 0, 0, 0, 9]);
    assert_eq!(&inj.data[20..22], &[0, 2]);
    let _ = Ipv4Addr::new(10, 0, 0, 2);
}

/// A tagged ARP request (VLAN 5): the plugin learns the VLAN, and the
/// injected reply carries the request's tag.
#[test]
fn proxy_arp_vlan_tagged_round_trip() {
    let dev = Arc::new(FakeTargetDev::new());
    let mut frame = arp_request_frame();
    frame.splice(12..12, [0x81, 0x00, 0x00, 0x05]);
    dev.set_pkt(&frame);
    let hdl = ProviderHandle::new(1, 5, 23, OVERLAY_PLUGIN_D_IP, "t", dev.clone());
    let arp = Arc::new(ArpInst::new());
    let inst: Arc<dyn SearchInstance> = arp.clone();
    hdl.bind(&inst);
    let mut l = lookup(9);
    l.hdrsize = 18;
    l.pktsize = 28;
    l.sap = 0x0806;
    l.srcaddr = [2, 0, 0, 0, 0, 1];
    l.dstaddr = [0xff; 6];
    l.dsttype = 2;
    l.vlan = 5;
    hdl.proxy_arp(Query::new(l, dev.clone(), "t"));
    assert_eq!(*arp.vlans.lock().unwrap(), vec![5]);
    assert_eq!(
        *arp.seen.lock().unwrap(),
        vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))]
    );
    let inj = &dev.calls_of(ksys::OVERLAY_TARG_INJECT)[0];
    assert_eq!(inj.data.len(), 46);
    assert_eq!(&inj.data[0..6], &[2, 0, 0, 0, 0, 1]);
    assert_eq!(&inj.data[6..12], &[2, 0, 0, 0, 0, 9]);
    assert_eq!(&inj.data[12..18], &[0x81, 0x00, 0x00, 0x05, 0x08, 0x06]);
    assert_eq!(&inj.data[24..26], &[0, 2], "op = reply");
    assert_eq!(&inj.data[26..32], &[2, 0, 0, 0, 0, 9], "sha");
    assert_eq!(&inj.data[32..36], &[10, 0, 0, 2], "spa");

    // An untagged request reports VLAN 0; an impossible otl_vlan is 0 too.
    let mut q = lookup(10);
    q.vlan = -1;
    assert_eq!(Query::new(q, dev.clone(), "t").vlan(), 0);
    q.vlan = 4096;
    assert_eq!(Query::new(q, dev.clone(), "t").vlan(), 0);
    q.vlan = 4094;
    assert_eq!(Query::new(q, dev.clone(), "t").vlan(), 4094);
}

#[test]
fn proxy_arp_drops_non_arp() {
    let dev = Arc::new(FakeTargetDev::new());
    let hdl = ProviderHandle::new(1, 5, 23, 6, "t", dev.clone());
    let mut l = lookup(9);
    l.sap = 0x0800;
    hdl.proxy_arp(Query::new(l, dev.clone(), "t"));
    let cmds: Vec<u32> = dev.calls().iter().map(|c| c.cmd).collect();
    assert_eq!(cmds, vec![ksys::OVERLAY_TARG_DROP]);
}

#[test]
fn upcalls_encode() {
    let dev = Arc::new(FakeTargetDev::new());
    let hdl = ProviderHandle::new(3, 8, 23, 6, "t", dev.clone());
    assert_eq!(hdl.vnetid(), 23);
    assert_eq!(hdl.linkid(), 8);
    hdl.fma_degrade("bad config").unwrap();
    hdl.fma_restore().unwrap();
    let p = TargetPoint {
        port: 1,
        ..Default::default()
    };
    hdl.inject_varp([1; 6], Some(&p)).unwrap();
    hdl.inject_varp([1; 6], None).unwrap();
    let c = dev.calls();
    assert_eq!(c[0].cmd, ksys::OVERLAY_TARG_DEGRADE);
    assert_eq!(&c[0].arg[8..18], b"bad config");
    assert_eq!(c[1].cmd, ksys::OVERLAY_TARG_RESTORE);
    assert_eq!(c[1].arg, 8u32.to_ne_bytes().to_vec());
    assert_eq!(c[2].cmd, ksys::OVERLAY_TARG_CACHE_SET);
    assert_eq!(c[3].cmd, ksys::OVERLAY_TARG_CACHE_REMOVE);
}

#[test]
fn prop_handle_builder() {
    let mut ph = PropHandle::new();
    assert_eq!(ph.psize, 16);
    ph.set_name(&"n".repeat(100));
    assert_eq!(ph.name.len(), 63);
    assert_eq!(ph.set_default(&[0; 257]), Err(Errno::E2BIG));
    ph.set_default(&[1, 2]).unwrap();
    assert_eq!(ph.default_value(), &[1, 2]);
    ph.set_nodefault();
    assert_eq!(ph.defsize, 0);
    ph.set_range_str("direct");
    ph.set_range_str("files");
    assert_eq!(ph.psize, 16 + 7 + 6);
    ph.set_range_uint32(1, 2);
    assert_eq!(ph.psize, 16 + 7 + 6);
}

struct NoPlugin;
impl SearchPlugin for NoPlugin {
    fn create(&self, _: ProviderHandle, _: Dest) -> Result<Box<dyn SearchInstance>, Errno> {
        Err(Errno::ENOTSUP)
    }
    fn restore(
        &self,
        _: &serde_json::Value,
        _: ProviderHandle,
        _: Dest,
    ) -> Result<Box<dyn SearchInstance>, Errno> {
        Err(Errno::ENOTSUP)
    }
}

#[test]
fn registry_rules() {
    let mut r = PluginRegistry::new();
    let ops: Arc<dyn SearchPlugin> = Arc::new(NoPlugin);
    r.register(PluginRegistration::new(
        "files",
        TargetMode::Dynamic,
        ops.clone(),
    ))
    .unwrap();
    r.register(PluginRegistration::new(
        "direct",
        TargetMode::Point,
        ops.clone(),
    ))
    .unwrap();
    assert_eq!(
        r.register(PluginRegistration::new(
            "direct",
            TargetMode::Point,
            ops.clone()
        )),
        Err(Errno::EEXIST)
    );
    let mut bad = PluginRegistration::new("x", TargetMode::Point, ops.clone());
    bad.version = 2;
    assert_eq!(r.register(bad), Err(Errno::EINVAL));
    assert_eq!(
        r.register(PluginRegistration::new("", TargetMode::Point, ops)),
        Err(Errno::EINVAL)
    );
    let names: Vec<&str> = r.iter().map(|p| &*p.name).collect();
    assert_eq!(names, vec!["direct", "files"]);
    assert_eq!(TargetMode::from_u32(2), Some(TargetMode::Dynamic));
    assert_eq!(TargetMode::from_u32(0), None);
}

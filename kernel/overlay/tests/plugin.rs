//! Plugin registration (§13.3) and a second, minimal encapsulation to show
//! the trait is enough for one (and to test the mux's plugin check, §16 #6).
mod common;
use common::*;
use overlay::plugin::overlay_plugin_alloc;
use overlay::sys::*;
use overlay::{
    EncapInfo, EncapInstance, EncapPlugin, Errno, MsgBlk, OverlayPluginRegister, PropHandle,
    SockaddrIn6, SocketParams,
};
use std::sync::{Arc, Mutex};

/// "toy": 4-byte header = the vnetid (32 bits), no properties, socket on
/// LISTEN:4789 like VXLAN.
struct Toy;
struct ToyInst(Mutex<u64>);

impl EncapPlugin for Toy {
    fn init(&self) -> Result<Box<dyn EncapInstance>, Errno> {
        Ok(Box::new(ToyInst(Mutex::new(0))))
    }
    fn decap(&self, m: &MsgBlk) -> Result<EncapInfo, Errno> {
        let b = m.first();
        if b.len() < 4 {
            return Err(Errno::EINVAL);
        }
        Ok(EncapInfo {
            id: u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as u64,
            hdr_size: 4,
        })
    }
    fn propinfo(&self, _n: &str, _ph: &mut PropHandle<'_>) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }
}

impl EncapInstance for ToyInst {
    fn encap(&self, m: &mut MsgBlk, i: &EncapInfo) -> Result<(), Errno> {
        m.prepend(4, 0, 64)
            .ok_or(Errno::ENOMEM)?
            .copy_from_slice(&(i.id as u32).to_be_bytes());
        Ok(())
    }
    fn socket(&self) -> Result<SocketParams, Errno> {
        Ok(SocketParams {
            domain: AF_INET6,
            stype: SOCK_DGRAM,
            protocol: 0,
            addr: SockaddrIn6::new(v4(LISTEN), 4789),
        })
    }
    fn getprop(&self, _n: &str, _b: &mut [u8]) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }
    fn setprop(&self, _n: &str, _v: &[u8]) -> Result<(), Errno> {
        *self.0.lock().unwrap() += 1;
        Err(Errno::EINVAL)
    }
}

fn toy_reg() -> OverlayPluginRegister {
    let mut r = overlay_plugin_alloc(OVEP_VERSION).unwrap();
    r.ovep_name = Some("toy");
    r.ovep_ops = Some(Arc::new(Toy));
    r.ovep_id_size = 4;
    r.ovep_dest = OVERLAY_PLUGIN_D_IP | OVERLAY_PLUGIN_D_PORT;
    r
}

#[test]
fn alloc_rejects_other_versions() {
    assert!(overlay_plugin_alloc(0).is_none());
    assert!(overlay_plugin_alloc(2).is_none());
    assert!(overlay_plugin_alloc(1).is_some());
}

#[test]
fn register_validation_rows() {
    let o = new();
    type Edit = Box<dyn Fn(&mut OverlayPluginRegister)>;
    let cases: Vec<(Edit, Errno)> = vec![
        (Box::new(|r| r.ovep_version = 2), Errno::EINVAL),
        (Box::new(|r| r.ovep_name = None), Errno::EINVAL),
        (Box::new(|r| r.ovep_ops = None), Errno::EINVAL),
        (Box::new(|r| r.ovep_flags = 0x2), Errno::EINVAL),
        (Box::new(|r| r.ovep_id_size = 0), Errno::EINVAL),
        (Box::new(|r| r.ovep_id_size = 9), Errno::ENOTSUP),
        (Box::new(|r| r.ovep_dest = 0), Errno::EINVAL),
        (Box::new(|r| r.ovep_dest = 0x8), Errno::EINVAL),
        (Box::new(|r| r.ovep_callbacks = 1), Errno::EINVAL),
        (Box::new(|r| r.ovep_name = Some("")), Errno::EINVAL),
        (
            Box::new(|r| {
                r.ovep_props =
                    &["toy/this-property-name-is-far-too-long-to-fit-in-sixty-four-bytes!"]
            }),
            Errno::EINVAL,
        ),
        (Box::new(|r| r.ovep_name = Some("vxlan")), Errno::EEXIST),
    ];
    for (i, (f, e)) in cases.iter().enumerate() {
        let mut r = toy_reg();
        f(&mut r);
        assert_eq!(o.plugin_register(&r), Err(*e), "case {i}");
    }
    // §16 #7: after the long-name failure, the registry still works.
    assert_eq!(o.plugin_register(&toy_reg()), Ok(()));
    assert_eq!(o.plugin_register(&toy_reg()), Err(Errno::EEXIST));
    assert_eq!(o.plugin_names(), vec!["vxlan", "toy"]);
}

#[test]
fn prop_name_of_63_bytes_is_accepted() {
    let o = new();
    let mut r = toy_reg();
    r.ovep_props = &["toy/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"];
    assert_eq!(r.ovep_props[0].len(), 63);
    assert_eq!(o.plugin_register(&r), Ok(()));
}

#[test]
fn id_size_eight_accepts_any_vnetid() {
    let o = new();
    let mut r = toy_reg();
    r.ovep_id_size = 8;
    o.plugin_register(&r).unwrap();
    assert_eq!(create_encap(&o, 1, u64::MAX, "toy"), 0);
}

#[test]
fn unregister() {
    let o = new();
    assert_eq!(o.plugin_unregister("toy"), Err(Errno::ENOENT));
    o.plugin_register(&toy_reg()).unwrap();
    assert_eq!(create_encap(&o, 1, 1, "toy"), 0);
    assert_eq!(o.plugin_unregister("toy"), Err(Errno::EBUSY));
    assert_eq!(delete(&o, 1), 0);
    assert_eq!(o.plugin_unregister("toy"), Ok(()));
    assert_eq!(create_encap(&o, 1, 1, "toy"), ENOENT_I);
}
const ENOENT_I: i32 = overlay::sys::errno::ENOENT;

#[test]
fn vnetid_uniqueness_is_per_plugin() {
    let o = new();
    o.plugin_register(&toy_reg()).unwrap();
    assert_eq!(create(&o, 1, 7), 0);
    assert_eq!(create_encap(&o, 2, 7, "toy"), 0);
}

#[test]
fn second_plugin_carries_traffic_and_encap_lists_it() {
    let o = new();
    o.plugin_register(&toy_reg()).unwrap();
    let h = open_varpd(&o);
    assert_eq!(create_encap(&o, 1, 0xabcdef01, "toy"), 0);
    associate(&o, h, 1, OVERLAY_TARGET_POINT, point(PEER, 9)).unwrap();
    assert_eq!(activate(&o, 1), 0);
    o.dev_by_linkid(1).unwrap().m_start().unwrap();
    tx(&o, 1, frame(DST));
    let s = o.platform().take_sent();
    assert_eq!(&s[0].1[..4], &[0xab, 0xcd, 0xef, 0x01]);
    let mut p = vec![0xab, 0xcd, 0xef, 0x01];
    p.extend_from_slice(&[7; 20]);
    assert!(o.platform().deliver(&listen_addr(), &p));
    assert_eq!(o.platform().take_rx(), vec![(1, vec![7; 20])]);
    let (_, pi) = propinfo(&o, 1, 2, "");
    let names: Vec<&[u8]> = poss_strings(&pi.oipi_poss).collect();
    assert_eq!(names, vec![&b"vxlan"[..], &b"toy"[..]]);
    let (e, g) = getprop(&o, 1, 2, "");
    assert_eq!((e, g.oip_size), (0, 3));
    let (e, n) = dld(
        &o,
        OVERLAY_IOC_NPROPS,
        &overlay_ioc_nprops_t {
            oipn_linkid: 1,
            oipn_nprops: 0,
        },
    );
    assert_eq!(
        (e, overlay_ioc_nprops_t::from_bytes(&n).unwrap().oipn_nprops),
        (0, 4)
    );
}

#[test]
fn mux_owned_by_other_plugin_is_eexist_without_deadlock() {
    // §16 #6: the original returned EEXIST with the mux list lock held.
    let o = new();
    o.plugin_register(&toy_reg()).unwrap();
    let h = open_varpd(&o);
    up(&o, h, 1, 1, OVERLAY_TARGET_POINT);
    assert_eq!(create_encap(&o, 2, 1, "toy"), 0);
    associate(&o, h, 2, OVERLAY_TARGET_POINT, point(PEER, 9)).unwrap();
    assert_eq!(activate(&o, 2), 0);
    assert_eq!(o.dev_by_linkid(2).unwrap().m_start(), Err(Errno::EEXIST));
    // The mux list is usable afterwards.
    up(&o, h, 3, 3, OVERLAY_TARGET_POINT);
    assert_eq!(o.muxes()[0].ndevs(), 2);
}

#[test]
fn activate_propagates_plugin_propinfo_error() {
    // A plugin that lists a property it cannot describe fails ACTIVATE
    // with the plugin's error.
    let o = new();
    let mut r = toy_reg();
    r.ovep_name = Some("toy2");
    r.ovep_props = &["toy2/x"];
    o.plugin_register(&r).unwrap();
    let h = open_varpd(&o);
    assert_eq!(create_encap(&o, 1, 1, "toy2"), 0);
    associate(&o, h, 1, OVERLAY_TARGET_POINT, point(PEER, 9)).unwrap();
    assert_eq!(activate(&o, 1), overlay::sys::errno::EINVAL);
    assert_eq!(setprop(&o, 1, 4, "", &[1]), overlay::sys::errno::EINVAL);
    assert_eq!(getprop(&o, 1, 4, "").0, overlay::sys::errno::EINVAL);
}

struct FailInit;
impl EncapPlugin for FailInit {
    fn init(&self) -> Result<Box<dyn EncapInstance>, Errno> {
        Err(Errno::ENOMEM)
    }
    fn decap(&self, _m: &MsgBlk) -> Result<EncapInfo, Errno> {
        Err(Errno::EINVAL)
    }
    fn propinfo(&self, _n: &str, _ph: &mut PropHandle<'_>) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }
}

#[test]
fn create_with_failing_init_is_einval_and_releases_plugin() {
    let o = new();
    let mut r = toy_reg();
    r.ovep_name = Some("bad");
    r.ovep_ops = Some(Arc::new(FailInit));
    o.plugin_register(&r).unwrap();
    assert_eq!(create_encap(&o, 1, 1, "bad"), overlay::sys::errno::EINVAL);
    assert!(o.dev_by_linkid(1).is_none());
    assert_eq!(o.plugin_unregister("bad"), Ok(()));
}

#[test]
fn vxlan_is_registered_at_init() {
    let o = new();
    assert_eq!(o.plugin_names(), vec!["vxlan"]);
    assert_eq!(
        o.plugin_register(&overlay::vxlan::vxlan_registration()),
        Err(Errno::EEXIST)
    );
}

#[test]
fn vnetid_over_plugin_id_size_is_einval() {
    let o = new();
    o.plugin_register(&toy_reg()).unwrap();
    assert_eq!(create_encap(&o, 1, 0xffff_ffff, "toy"), 0);
    assert_eq!(
        create_encap(&o, 2, 0x1_0000_0000, "toy"),
        overlay::sys::errno::EINVAL
    );
}

//! Helpers shared by the driver's integration tests: a driver over the
//! recording fake platform and one-line wrappers for every ioctl.
#![allow(dead_code)]

pub mod dynamic;

use overlay::sys::*;
use overlay::testing::FakePlatform;
use overlay::{BufUserIo, Cred, Errno, MsgBlk, Overlay, SockaddrIn6};
use std::sync::Arc;

pub type Ovl = Arc<Overlay<FakePlatform>>;

pub const ROOT: Cred = Cred::ROOT;
pub const LISTEN: [u8; 4] = [10, 0, 0, 1];
pub const PEER: [u8; 4] = [10, 0, 0, 2];

pub fn new() -> Ovl {
    Overlay::new(FakePlatform::new())
}

pub fn dld<T: Pod>(o: &Ovl, cmd: u32, arg: &T) -> (i32, Vec<u8>) {
    o.dld_ioctl(cmd, arg.as_bytes(), &ROOT)
}

pub fn create_encap(o: &Ovl, linkid: u32, vnetid: u64, encap: &str) -> i32 {
    let mut c = overlay_ioc_create_t {
        oic_linkid: linkid,
        oic_vnetid: vnetid,
        ..Default::default()
    };
    set_cstr(&mut c.oic_encap, encap.as_bytes());
    dld(o, OVERLAY_IOC_CREATE, &c).0
}

pub fn create(o: &Ovl, linkid: u32, vnetid: u64) -> i32 {
    create_encap(o, linkid, vnetid, "vxlan")
}

pub fn delete(o: &Ovl, linkid: u32) -> i32 {
    dld(
        o,
        OVERLAY_IOC_DELETE,
        &overlay_ioc_delete_t { oid_linkid: linkid },
    )
    .0
}

pub fn activate(o: &Ovl, linkid: u32) -> i32 {
    dld(
        o,
        OVERLAY_IOC_ACTIVATE,
        &overlay_ioc_activate_t { oia_linkid: linkid },
    )
    .0
}

pub fn prop(linkid: u32, id: i32, name: &str, val: &[u8]) -> overlay_ioc_prop_t {
    let mut p = overlay_ioc_prop_t {
        oip_linkid: linkid,
        oip_id: id,
        oip_size: val.len() as u32,
        ..Default::default()
    };
    set_cstr(&mut p.oip_name, name.as_bytes());
    p.oip_value[..val.len()].copy_from_slice(val);
    p
}

pub fn setprop(o: &Ovl, linkid: u32, id: i32, name: &str, val: &[u8]) -> i32 {
    dld(o, OVERLAY_IOC_SETPROP, &prop(linkid, id, name, val)).0
}

pub fn getprop(o: &Ovl, linkid: u32, id: i32, name: &str) -> (i32, overlay_ioc_prop_t) {
    let (e, out) = dld(o, OVERLAY_IOC_GETPROP, &prop(linkid, id, name, &[]));
    (e, overlay_ioc_prop_t::from_bytes(&out).unwrap())
}

pub fn propinfo(o: &Ovl, linkid: u32, id: i32, name: &str) -> (i32, overlay_ioc_propinfo_t) {
    let mut pi = overlay_ioc_propinfo_t {
        oipi_linkid: linkid,
        oipi_id: id,
        ..Default::default()
    };
    set_cstr(&mut pi.oipi_name, name.as_bytes());
    let (e, out) = dld(o, OVERLAY_IOC_PROPINFO, &pi);
    (e, overlay_ioc_propinfo_t::from_bytes(&out).unwrap())
}

pub fn v4(a: [u8; 4]) -> in6_addr {
    in6_addr::v4mapped(a)
}

pub fn set_listen(o: &Ovl, linkid: u32, ip: [u8; 4], port: u16) {
    assert_eq!(
        setprop_by_name(o, linkid, "vxlan/listen_ip", &v4(ip).s6_addr),
        0
    );
    assert_eq!(
        setprop_by_name(o, linkid, "vxlan/listen_port", &(port as u64).to_ne_bytes()),
        0
    );
}

/// PROPINFO by name then SETPROP by id, as libdladm does.
pub fn setprop_by_name(o: &Ovl, linkid: u32, name: &str, val: &[u8]) -> i32 {
    let (e, pi) = propinfo(o, linkid, -1, name);
    if e != 0 {
        return e;
    }
    setprop(o, linkid, pi.oipi_id, name, val)
}

pub fn open(o: &Ovl, flags: u32) -> Result<u32, Errno> {
    o.targ_open(0, false, flags, &ROOT)
}

pub fn open_varpd(o: &Ovl) -> u32 {
    open(o, FREAD | FWRITE | FEXCL).unwrap()
}

/// A fixed-size target ioctl: the copied-out bytes on success.
pub fn targ<T: Pod>(o: &Ovl, minor: u32, cmd: u32, arg: &T) -> Result<T, Errno> {
    let mut u = BufUserIo::new(arg.as_bytes());
    o.targ_ioctl(minor, cmd, &mut u, &ROOT)?;
    Ok(T::from_bytes(&u.arg).unwrap())
}

pub fn point(ip: [u8; 4], port: u16) -> overlay_target_point_t {
    overlay_target_point_t {
        otp_ip: v4(ip),
        otp_port: port,
        ..Default::default()
    }
}

pub fn associate(
    o: &Ovl,
    minor: u32,
    linkid: u32,
    mode: u32,
    pt: overlay_target_point_t,
) -> Result<(), Errno> {
    let a = overlay_targ_associate_t {
        ota_linkid: linkid,
        ota_mode: mode,
        ota_id: 0x1234,
        ota_provides: OVERLAY_PLUGIN_D_IP | OVERLAY_PLUGIN_D_PORT,
        ota_point: pt,
    };
    targ(o, minor, OVERLAY_TARG_ASSOCIATE, &a).map(|_| ())
}

/// Create, configure, associate (POINT to PEER:4789 or DYNAMIC), activate
/// and start a device.
pub fn up(o: &Ovl, minor: u32, linkid: u32, vnetid: u64, mode: u32) {
    assert_eq!(create(o, linkid, vnetid), 0);
    set_listen(o, linkid, LISTEN, 4789);
    associate(o, minor, linkid, mode, point(PEER, 4789)).unwrap();
    assert_eq!(activate(o, linkid), 0);
    o.dev_by_linkid(linkid).unwrap().m_start().unwrap();
}

pub fn listen_addr() -> SockaddrIn6 {
    SockaddrIn6::new(v4(LISTEN), 4789)
}

pub fn eth(dst: [u8; 6], src: [u8; 6], ethertype: u16, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len.max(14)];
    f[0..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src);
    f[12..14].copy_from_slice(&ethertype.to_be_bytes());
    for (i, b) in f.iter_mut().enumerate().skip(14) {
        *b = i as u8;
    }
    f
}

pub const SRC: [u8; 6] = [2, 8, 0x20, 0, 0, 1];
pub const DST: [u8; 6] = [2, 8, 0x20, 0, 0, 2];

pub fn frame(dst: [u8; 6]) -> MsgBlk {
    MsgBlk::with_headroom(&eth(dst, SRC, 0x0800, 98))
}

pub fn tx(o: &Ovl, linkid: u32, m: MsgBlk) {
    o.dev_by_linkid(linkid).unwrap().m_tx(m.into());
}

pub fn vxlan_pkt(vni: u32, inner: &[u8]) -> Vec<u8> {
    let mut p = vec![0x08, 0, 0, 0];
    p.extend_from_slice(&(vni << 8).to_be_bytes());
    p.extend_from_slice(inner);
    p
}

//! Building a driver over the recording fake platform
//! (`overlay::testing::FakePlatform`) in a known state, for the overlay
//! harnesses: devices created, configured, associated, activated and
//! started exactly as dladm and varpd would, through the ioctls.

use overlay::sys::*;
use overlay::testing::FakePlatform;
use overlay::{BufUserIo, Cred, Overlay, SockaddrIn6};
use std::sync::Arc;

pub type Ovl = Arc<Overlay<FakePlatform>>;

/// The underlay address every harness device listens on.
pub const LISTEN: [u8; 4] = [10, 0, 0, 1];
/// The POINT destination.
pub const PEER: [u8; 4] = [10, 0, 0, 2];
pub const PORT: u16 = 4789;

/// A fresh driver (vxlan registered).
pub fn new() -> Ovl {
    Overlay::new(FakePlatform::new())
}

/// The listen address as the mux is keyed.
pub fn listen_addr() -> SockaddrIn6 {
    SockaddrIn6::new(in6_addr::v4mapped(LISTEN), PORT)
}

fn ok(what: &str, e: i32) {
    // Setup is deterministic; a failure is a driver regression worth a
    // crash report.
    assert_eq!(e, 0, "harness setup: {what} failed with errno {e}");
}

/// PROPINFO by name, then SETPROP by id (libdladm's sequence).
pub fn setprop(o: &Ovl, linkid: u32, name: &str, val: &[u8]) -> i32 {
    let mut pi = overlay_ioc_propinfo_t {
        oipi_linkid: linkid,
        oipi_id: -1,
        ..Default::default()
    };
    set_cstr(&mut pi.oipi_name, name.as_bytes());
    let (e, out) = o.dld_ioctl(OVERLAY_IOC_PROPINFO, pi.as_bytes(), &Cred::ROOT);
    if e != 0 {
        return e;
    }
    let Some(pi) = overlay_ioc_propinfo_t::from_bytes(&out) else {
        return -1;
    };
    let mut p = overlay_ioc_prop_t {
        oip_linkid: linkid,
        oip_id: pi.oipi_id,
        oip_size: val.len() as u32,
        ..Default::default()
    };
    p.oip_value[..val.len()].copy_from_slice(val);
    o.dld_ioctl(OVERLAY_IOC_SETPROP, p.as_bytes(), &Cred::ROOT)
        .0
}

/// Create device `linkid` with `vnetid` and its listen properties.
pub fn create(o: &Ovl, linkid: u32, vnetid: u64) {
    let mut c = overlay_ioc_create_t {
        oic_linkid: linkid,
        oic_vnetid: vnetid,
        ..Default::default()
    };
    set_cstr(&mut c.oic_encap, b"vxlan");
    ok(
        "CREATE",
        o.dld_ioctl(OVERLAY_IOC_CREATE, c.as_bytes(), &Cred::ROOT).0,
    );
    ok(
        "SETPROP listen_ip",
        setprop(
            o,
            linkid,
            "vxlan/listen_ip",
            &in6_addr::v4mapped(LISTEN).s6_addr,
        ),
    );
    ok(
        "SETPROP listen_port",
        setprop(
            o,
            linkid,
            "vxlan/listen_port",
            &u64::from(PORT).to_ne_bytes(),
        ),
    );
}

/// ASSOCIATE (`mode` 1 POINT to PEER, 2 DYNAMIC) through handle `minor`,
/// ACTIVATE, and start (what a VNIC's open does).
pub fn up(o: &Ovl, minor: u32, linkid: u32, vnetid: u64, mode: u32) {
    create(o, linkid, vnetid);
    let a = overlay_targ_associate_t {
        ota_linkid: linkid,
        ota_mode: mode,
        ota_id: u64::from(linkid),
        ota_provides: OVERLAY_PLUGIN_D_IP | OVERLAY_PLUGIN_D_PORT,
        ota_point: overlay_target_point_t {
            otp_ip: in6_addr::v4mapped(PEER),
            otp_port: PORT,
            ..Default::default()
        },
    };
    let mut u = BufUserIo::new(a.as_bytes());
    ok(
        "ASSOCIATE",
        o.targ_ioctl(minor, OVERLAY_TARG_ASSOCIATE, &mut u, &Cred::ROOT)
            .err()
            .map_or(0, |e| e.0),
    );
    let act = overlay_ioc_activate_t { oia_linkid: linkid };
    ok(
        "ACTIVATE",
        o.dld_ioctl(OVERLAY_IOC_ACTIVATE, act.as_bytes(), &Cred::ROOT)
            .0,
    );
    let dev = o.dev_by_linkid(linkid);
    ok(
        "m_start",
        dev.map_or(-1, |d| d.m_start().err().map_or(0, |e| e.0)),
    );
}

/// varpd's exclusive read/write handle.
pub fn open_varpd(o: &Ovl) -> u32 {
    match o.targ_open(0, false, FREAD | FWRITE | FEXCL, &Cred::ROOT) {
        Ok(m) => m,
        Err(e) => panic!("harness setup: open /dev/overlay: {e:?}"),
    }
}

/// Tear everything down as detach requires: close the handles (pending
/// requests go back to the queue), stop and delete every device. Afterwards
/// no device, handle or underlay socket may remain: the driver would refuse
/// to detach (and, here, the device ↔ driver references would leak).
///
/// DELETE waits (uninterruptibly, as on illumos, spec/kernel.md §9.2) until
/// every lookup request of the device has been answered, so the harness
/// first plays varpd: it takes each queued request and drops it.
pub fn teardown(o: &Ovl, minors: &[u32]) {
    for &m in minors {
        o.targ_close(m);
    }
    drain(o);
    for d in o.devices() {
        d.m_stop();
    }
    for d in o.devices() {
        let del = overlay_ioc_delete_t {
            oid_linkid: d.linkid(),
        };
        let (e, _) = o.dld_ioctl(OVERLAY_IOC_DELETE, del.as_bytes(), &Cred::ROOT);
        assert_eq!(e, 0, "DELETE of stopped device {} failed", d.linkid());
    }
    assert!(o.devices().is_empty(), "devices left after teardown");
    assert_eq!(o.targ_nhandles(), 0, "handles left after teardown");
    assert_eq!(o.platform().nsockets(), 0, "underlay sockets left open");
}

/// Answer every queued lookup request with DROP, as varpd would for
/// destinations it cannot resolve.
pub fn drain(o: &Ovl) {
    if o.targ_npending() == 0 {
        return;
    }
    let m = open_varpd(o);
    while o.targ_npending() > 0 {
        let mut u = BufUserIo::new(overlay_targ_lookup_t::default().as_bytes());
        if o.targ_ioctl(m, OVERLAY_TARG_LOOKUP, &mut u, &Cred::ROOT)
            .is_err()
        {
            // ETIME: only requests of vanished or answered entries were
            // left; the queue is empty now.
            continue;
        }
        let Some(l) = overlay_targ_lookup_t::from_bytes(&u.arg) else {
            panic!("LOOKUP copied out {} bytes", u.arg.len());
        };
        let r = overlay_targ_resp_t {
            otr_reqid: l.otl_reqid,
            ..Default::default()
        };
        let mut u = BufUserIo::new(r.as_bytes());
        let d = o.targ_ioctl(m, OVERLAY_TARG_DROP, &mut u, &Cred::ROOT);
        assert_eq!(d, Ok(()), "DROP of a request just looked up");
    }
    o.targ_close(m);
}

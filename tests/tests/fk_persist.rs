//! What survives an fkoverlayd restart, and what a closed `/dev/overlay`
//! connection gives back: persistent overlay and VNIC links (with the
//! attributes `up-vnic` needs) survive and can be brought up again with the
//! same ids; temporary ones vanish; a lookup taken by a connection that
//! closes without answering goes back to the queue for the next handle.

use overlay_sys::fk::*;
use overlay_sys::*;
use overlay_tests::daemons::{Daemon, FkConn};
use overlay_tests::have_root;
use overlay_tests::netns::{Netns, TempRoot};
use std::path::Path;
use std::time::{Duration, Instant};

fn create_id(c: &mut FkConn, name: &str, class: u32, flags: u32) -> u32 {
    let mut a = fk_dl_create_t::default();
    fk_set_str(&mut a.fdc_name, name);
    a.fdc_class = class;
    a.fdc_media = DL_ETHER;
    a.fdc_flags = flags;
    let (e, out) = c.ioctl(FK_DL_CREATE_ID, &a);
    assert_eq!(e, 0, "create {name}");
    out.fdc_linkid
}

fn setprop(c: &mut FkConn, linkid: u32, name: &str, val: &[u8]) {
    assert_eq!(c.setprop(linkid, name, val), 0, "SETPROP {name}");
}

/// OVERLAY_IOC_CREATE + listen props + ASSOCIATE (POINT or DYNAMIC) +
/// ACTIVATE on an existing overlay link id. Returns the target handle.
fn overlay_up(root: &Path, c: &mut FkConn, linkid: u32, dynamic: bool) -> FkConn {
    let mut oc = overlay_ioc_create_t {
        oic_linkid: linkid,
        oic_filler: 0,
        oic_vnetid: 42,
        oic_encap: [0; 32],
    };
    fk_set_str(&mut oc.oic_encap, "vxlan");
    assert_eq!(c.ioctl(OVERLAY_IOC_CREATE, &oc).0, 0);
    setprop(
        c,
        linkid,
        "vxlan/listen_ip",
        &in6_addr::v4mapped([127, 0, 0, 1]).s6_addr,
    );
    setprop(c, linkid, "vxlan/listen_port", &4789u64.to_le_bytes());
    let mut t = FkConn::overlay(root, FK_FREAD | FK_FWRITE | FK_FEXCL).expect("open");
    let mut a = overlay_targ_associate_t {
        ota_linkid: linkid,
        ota_mode: if dynamic { 2 } else { 1 },
        ota_id: 7,
        ota_provides: 0x6,
        ..Default::default()
    };
    if !dynamic {
        a.ota_point.otp_ip = in6_addr::v4mapped([127, 0, 0, 2]);
        a.ota_point.otp_port = 4789;
    }
    assert_eq!(t.ioctl(OVERLAY_TARG_ASSOCIATE, &a).0, 0);
    assert_eq!(
        c.ioctl(
            OVERLAY_IOC_ACTIVATE,
            &overlay_ioc_activate_t { oia_linkid: linkid }
        )
        .0,
        0
    );
    t
}

fn get_attr(c: &mut FkConn, linkid: u32, key: &str) -> Option<fk_dl_attr_t> {
    let mut a = fk_dl_attr_t {
        fda_linkid: linkid,
        ..Default::default()
    };
    fk_set_str(&mut a.fda_key, key);
    let (e, out) = c.ioctl(FK_DL_GETATTR, &a);
    (e == 0).then_some(out)
}

fn info(c: &mut FkConn, name: &str) -> Option<fk_dl_info_t> {
    let mut i = fk_dl_info_t::default();
    fk_set_str(&mut i.fdl_name, name);
    let (e, out) = c.ioctl(FK_DL_NAME2ID, &i);
    (e == 0).then_some(out)
}

#[test]
fn fk_persist_vnic_survives_restart_and_comes_up_again() {
    if !have_root("fk_persist_vnic_survives_restart_and_comes_up_again") {
        return;
    }
    let ns = Netns::new("fk");
    let root = TempRoot::new("fk");
    let (ovl, vnic);
    let mac = [0x02, 0x08, 0x20, 0x11, 0x22, 0x33];
    {
        let _d = Daemon::fkoverlayd(&ns, root.path());
        let mut c = FkConn::dld(root.path()).unwrap();
        ovl = create_id(
            &mut c,
            "povl0",
            DATALINK_CLASS_OVERLAY,
            DLMGMT_ACTIVE | DLMGMT_PERSIST,
        );
        let tovl = create_id(&mut c, "tovl0", DATALINK_CLASS_OVERLAY, DLMGMT_ACTIVE);
        let _t = overlay_up(root.path(), &mut c, ovl, false);
        let mut v = fk_vnic_create_t {
            fvc_over: ovl,
            fvc_flags: DLMGMT_ACTIVE | DLMGMT_PERSIST,
            fvc_mac_type: VNIC_MAC_ADDR_TYPE_FIXED,
            fvc_mac: mac,
            ..Default::default()
        };
        fk_set_str(&mut v.fvc_name, "pvnic0");
        let (e, out) = c.ioctl(FK_VNIC_CREATE, &v);
        assert_eq!(e, 0);
        vnic = out.fvc_linkid;
        // A random-MAC temporary VNIC too.
        let mut v = fk_vnic_create_t {
            fvc_over: ovl,
            fvc_flags: DLMGMT_ACTIVE,
            fvc_mac_type: VNIC_MAC_ADDR_TYPE_RANDOM,
            ..Default::default()
        };
        fk_set_str(&mut v.fvc_name, "tvnic0");
        let (e, out) = c.ioctl(FK_VNIC_CREATE, &v);
        assert_eq!(e, 0);
        assert_eq!(&out.fvc_mac[..3], &VNIC_RANDOM_PREFIX);
        assert_eq!(out.fvc_mtu, 1400, "the overlay's MTU");
        assert!(ns.has_link("pvnic0") && ns.has_link("tvnic0"));
        // The stored attributes.
        let a = get_attr(&mut c, vnic, "linkover").expect("linkover");
        assert_eq!(
            u64::from_le_bytes(a.fda_val[..8].try_into().unwrap()),
            ovl as u64
        );
        let a = get_attr(&mut c, vnic, "macaddr").expect("macaddr");
        assert_eq!(fk_get_str(&a.fda_val), b"2:8:20:11:22:33");
        assert!(info(&mut c, "tovl0").is_some());
        let _ = tovl;
    }
    // After the restart: persistent links only, inactive, same ids; the
    // TAPs are gone.
    assert!(!ns.has_link("pvnic0") && !ns.has_link("tvnic0"));
    let _d = Daemon::fkoverlayd(&ns, root.path());
    let mut c = FkConn::dld(root.path()).unwrap();
    assert!(info(&mut c, "tovl0").is_none());
    assert!(info(&mut c, "tvnic0").is_none());
    let p = info(&mut c, "pvnic0").expect("persistent VNIC link");
    assert_eq!((p.fdl_linkid, p.fdl_flags), (vnic, DLMGMT_PERSIST));
    assert_eq!(p.fdl_class, DATALINK_CLASS_VNIC);
    // What up-overlay + up-vnic do: bring the overlay back, then the VNIC
    // on its existing link id with the stored MAC.
    assert_eq!(
        c.ioctl(
            FK_DL_UP_ID,
            &fk_dl_id_t {
                fdi_linkid: ovl,
                fdi_flags: 0
            }
        )
        .0,
        0
    );
    let _t = overlay_up(root.path(), &mut c, ovl, false);
    let v = fk_vnic_create_t {
        fvc_linkid: vnic,
        fvc_over: ovl,
        fvc_mac_type: VNIC_MAC_ADDR_TYPE_FIXED,
        fvc_mac: mac,
        ..Default::default()
    };
    let (e, out) = c.ioctl(FK_VNIC_CREATE, &v);
    assert_eq!(e, 0);
    assert_eq!(fk_get_str(&out.fvc_name), b"pvnic0");
    assert!(ns.has_link("pvnic0"));
    assert_eq!(
        info(&mut c, "pvnic0").unwrap().fdl_flags,
        DLMGMT_ACTIVE | DLMGMT_PERSIST
    );
    // The walk of running VNICs finds it.
    let (e, w) = c.ioctl(FK_VNIC_GETNEXT, &fk_vnic_info_t::default());
    assert_eq!(e, 0);
    assert_eq!(w.fvi_linkid, vnic);
    // Deleting it (active and persistent) removes the TAP and the link.
    let (e, _) = c.ioctl(
        FK_VNIC_DELETE,
        &fk_dl_id_t {
            fdi_linkid: vnic,
            fdi_flags: DLMGMT_ACTIVE | DLMGMT_PERSIST,
        },
    );
    assert_eq!(e, 0);
    assert!(!ns.has_link("pvnic0"));
    assert!(info(&mut c, "pvnic0").is_none());
}

#[test]
fn fk_persist_closed_handle_requeues_lookup() {
    if !have_root("fk_persist_closed_handle_requeues_lookup") {
        return;
    }
    let ns = Netns::new("fk");
    let root = TempRoot::new("fk");
    let _d = Daemon::fkoverlayd(&ns, root.path());
    let mut c = FkConn::dld(root.path()).unwrap();
    let ovl = create_id(&mut c, "dyn0", DATALINK_CLASS_OVERLAY, DLMGMT_ACTIVE);
    let t = overlay_up(root.path(), &mut c, ovl, true);
    let mut v = fk_vnic_create_t {
        fvc_over: ovl,
        fvc_flags: DLMGMT_ACTIVE,
        fvc_mac_type: VNIC_MAC_ADDR_TYPE_RANDOM,
        ..Default::default()
    };
    fk_set_str(&mut v.fvc_name, "dv0");
    assert_eq!(c.ioctl(FK_VNIC_CREATE, &v).0, 0);
    ns.exec_ok("ip", &["link", "set", "dv0", "up"]);
    // A frame to an unknown MAC makes a lookup request.
    let s = ns.packet_socket("dv0", 0x88b5);
    let mut f = vec![0x02, 0x08, 0x20, 0x99, 0x99, 0x99];
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 1, 0x88, 0xb5]);
    f.resize(60, 0);
    s.send(&f);
    // The lookup for our frame (the kernel's own IPv6 multicast may come
    // first).
    let want: [u8; 6] = f[..6].try_into().unwrap();
    let lookup = |t: &mut FkConn| -> Option<overlay_targ_lookup_t> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            let r = t
                .call(
                    OVERLAY_TARG_LOOKUP,
                    overlay_targ_lookup_t::default().as_bytes(),
                    &[],
                )
                .expect("LOOKUP");
            if r.errno == 0 {
                let l = overlay_targ_lookup_t::from_bytes_padded(&r.arg);
                if l.otl_dstaddr == want {
                    return Some(l);
                }
            }
        }
        None
    };
    let mut t = t;
    let first = lookup(&mut t).expect("a lookup request");
    // Close without answering: the request goes back to the queue, and the
    // exclusive open is free again.
    drop(t);
    let mut t2 = {
        let start = Instant::now();
        loop {
            match FkConn::overlay(root.path(), FK_FREAD | FK_FWRITE | FK_FEXCL) {
                Ok(t) => break t,
                Err(e) if start.elapsed() < Duration::from_secs(5) => {
                    assert_eq!(e, errno::EEXIST as i64);
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("reopen: {e}"),
            }
        }
    };
    let again = lookup(&mut t2).expect("the request again");
    assert_eq!(again.otl_reqid, first.otl_reqid);
    assert_eq!(again.otl_dstaddr, first.otl_dstaddr);
}

//! `/dev/dld` ioctls (§5): dld's dispatch rule and CREATE, DELETE,
//! ACTIVATE, NPROPS, STATUS with every error row.
mod common;
use common::*;
use overlay::sys::errno::*;
use overlay::sys::*;
use overlay::testing::Event;
use overlay::{Cred, Errno};

// ---- dld dispatch (§5.2) ----

#[test]
fn unknown_command_is_enotsup() {
    let o = new();
    for cmd in [
        0u32,
        0x20050000,
        0x20050009,
        0x20060001,
        0xffff_ffff,
        OVERLAY_TARG_INFO,
    ] {
        let (e, out) = o.dld_ioctl(cmd, &[0u8; 600], &ROOT);
        assert_eq!(e, ENOTSUP, "cmd {cmd:#x}");
        assert!(out.is_empty());
    }
}

#[test]
fn privilege_checked_before_copyin() {
    let o = new();
    for cmd in [
        OVERLAY_IOC_CREATE,
        OVERLAY_IOC_DELETE,
        OVERLAY_IOC_PROPINFO,
        OVERLAY_IOC_GETPROP,
        OVERLAY_IOC_SETPROP,
        OVERLAY_IOC_NPROPS,
        OVERLAY_IOC_ACTIVATE,
    ] {
        assert_eq!(o.dld_ioctl(cmd, &[], &Cred::USER).0, EPERM, "cmd {cmd:#x}");
    }
}

#[test]
fn status_needs_no_privilege() {
    let o = new();
    assert_eq!(create(&o, 1, 1), 0);
    let s = overlay_ioc_status_t {
        ois_linkid: 1,
        ..Default::default()
    };
    let (e, out) = o.dld_ioctl(OVERLAY_IOC_STATUS, s.as_bytes(), &Cred::USER);
    assert_eq!(e, 0);
    assert_eq!(out.len(), 264);
}

#[test]
fn short_argument_is_efault() {
    let o = new();
    let (e, out) = o.dld_ioctl(OVERLAY_IOC_CREATE, &[0u8; 47], &ROOT);
    assert_eq!(e, EFAULT);
    assert!(out.is_empty());
    assert_eq!(o.dld_ioctl(OVERLAY_IOC_STATUS, &[0u8; 10], &ROOT).0, EFAULT);
}

#[test]
fn longer_argument_uses_table_size() {
    let o = new();
    let mut c = overlay_ioc_create_t {
        oic_linkid: 3,
        oic_vnetid: 3,
        ..Default::default()
    };
    set_cstr(&mut c.oic_encap, b"vxlan");
    let mut arg = c.as_bytes().to_vec();
    arg.extend_from_slice(&[0xff; 100]);
    assert_eq!(o.dld_ioctl(OVERLAY_IOC_CREATE, &arg, &ROOT).0, 0);
}

#[test]
fn copyout_even_on_error() {
    let o = new();
    // GETPROP on a missing device: ENOENT, yet the (modified) buffer comes
    // back, with oip_size forced to 256 before the lookup.
    let (e, out) = dld(&o, OVERLAY_IOC_GETPROP, &prop(77, 0, "mtu", &[]));
    assert_eq!(e, ENOENT);
    assert_eq!(out.len(), 332);
    assert_eq!(overlay_ioc_prop_t::from_bytes(&out).unwrap().oip_size, 256);
    let (e, out) = dld(
        &o,
        OVERLAY_IOC_NPROPS,
        &overlay_ioc_nprops_t {
            oipn_linkid: 9,
            oipn_nprops: 5,
        },
    );
    assert_eq!(e, ENOENT);
    assert_eq!(
        out,
        overlay_ioc_nprops_t {
            oipn_linkid: 9,
            oipn_nprops: 5
        }
        .as_bytes()
    );
}

#[test]
fn no_copyout_for_copyin_only_commands() {
    let o = new();
    let mut c = overlay_ioc_create_t {
        oic_linkid: 3,
        ..Default::default()
    };
    set_cstr(&mut c.oic_encap, b"vxlan");
    let (e, out) = dld(&o, OVERLAY_IOC_CREATE, &c);
    assert_eq!(e, 0);
    assert!(out.is_empty());
    let (e, out) = dld(
        &o,
        OVERLAY_IOC_DELETE,
        &overlay_ioc_delete_t { oid_linkid: 99 },
    );
    assert_eq!(e, ENOENT);
    assert!(out.is_empty());
}

#[test]
fn dispatch_handler_directly() {
    let o = new();
    let mut c = overlay_ioc_create_t {
        oic_linkid: 4,
        oic_vnetid: 9,
        ..Default::default()
    };
    set_cstr(&mut c.oic_encap, b"vxlan");
    let mut kbuf = c.as_bytes().to_vec();
    assert_eq!(
        o.dld_ioc_dispatch(OVERLAY_IOC_CREATE, &mut kbuf, &ROOT),
        Ok(())
    );
    assert_eq!(
        o.dld_ioc_dispatch(0x20050063, &mut kbuf, &ROOT),
        Err(Errno::ENOTSUP)
    );
    assert_eq!(
        o.dld_ioc_dispatch(OVERLAY_IOC_PROPINFO, &mut kbuf, &ROOT),
        Err(Errno::EFAULT)
    );
}

// ---- CREATE (§5.4) ----

#[test]
fn create_success_registers_mac() {
    let o = new();
    let c = Cred {
        dl_config: true,
        zoneid: 0,
    };
    let mut a = overlay_ioc_create_t {
        oic_linkid: 7,
        oic_vnetid: 23,
        ..Default::default()
    };
    set_cstr(&mut a.oic_encap, b"vxlan");
    assert_eq!(o.dld_ioctl(OVERLAY_IOC_CREATE, a.as_bytes(), &c).0, 0);
    assert_eq!(o.platform().events(), vec![Event::MacRegister(7)]);
    let d = o.dev_by_linkid(7).unwrap();
    let reg = &d.mac().unwrap().reg;
    assert_eq!(reg.src_addr, [0; 6]);
    assert_eq!(
        (reg.min_sdu, reg.max_sdu, reg.multicast_sdu, reg.margin),
        (1, 1400, 0, 4)
    );
    assert_eq!(reg.mac_type, "mac_ether");
    assert_eq!(d.vnetid(), 23);
    assert_eq!(d.flags(), 0);
    assert_eq!(d.mtu(), 1400);
    assert!(o.busy());
}

#[test]
fn create_encap_name_without_nul_is_einval() {
    let o = new();
    let a = overlay_ioc_create_t {
        oic_linkid: 1,
        oic_encap: [b'a'; 32],
        ..Default::default()
    };
    assert_eq!(dld(&o, OVERLAY_IOC_CREATE, &a).0, EINVAL);
}

#[test]
fn create_empty_encap_is_einval() {
    let o = new();
    assert_eq!(create_encap(&o, 1, 1, ""), EINVAL);
}

#[test]
fn create_encap_with_slash_is_einval() {
    let o = new();
    assert_eq!(create_encap(&o, 1, 1, "../vxlan"), EINVAL);
    assert_eq!(create_encap(&o, 1, 1, "overlay/vxlan"), EINVAL);
}

#[test]
fn create_encap_not_utf8_is_einval() {
    let o = new();
    let mut a = overlay_ioc_create_t {
        oic_linkid: 1,
        ..Default::default()
    };
    a.oic_encap[..3].copy_from_slice(&[0xff, 0xfe, b'x']);
    assert_eq!(dld(&o, OVERLAY_IOC_CREATE, &a).0, EINVAL);
}

#[test]
fn create_unknown_plugin_is_enoent() {
    let o = new();
    assert_eq!(create_encap(&o, 1, 1, "geneve"), ENOENT);
    assert!(!o.busy());
}

#[test]
fn create_vnetid_range() {
    let o = new();
    assert_eq!(create(&o, 1, 16_777_215), 0);
    assert_eq!(create(&o, 2, 16_777_216), EINVAL);
    assert_eq!(create(&o, 3, u64::MAX), EINVAL);
    assert_eq!(create(&o, 4, 0), 0);
}

#[test]
fn create_duplicate_linkid_is_eexist() {
    let o = new();
    assert_eq!(create(&o, 1, 1), 0);
    assert_eq!(create(&o, 1, 2), EEXIST);
}

#[test]
fn create_duplicate_vnetid_same_plugin_is_eexist() {
    let o = new();
    assert_eq!(create(&o, 1, 42), 0);
    assert_eq!(create(&o, 2, 42), EEXIST);
    assert_eq!(create(&o, 2, 43), 0);
}

#[test]
fn create_mac_register_failure_propagates_and_releases() {
    let o = new();
    *o.platform().fail_mac_register.lock().unwrap() = Some(Errno::ENOSPC);
    assert_eq!(create(&o, 1, 1), ENOSPC);
    assert!(o.dev_by_linkid(1).is_none());
    // The plugin reference was released: it can be unregistered.
    assert_eq!(o.plugin_unregister("vxlan"), Ok(()));
}

#[test]
fn create_holds_plugin_active() {
    let o = new();
    assert_eq!(create(&o, 1, 1), 0);
    assert_eq!(o.plugin_unregister("vxlan"), Err(Errno::EBUSY));
    assert_eq!(delete(&o, 1), 0);
    assert_eq!(o.plugin_unregister("vxlan"), Ok(()));
    assert_eq!(create(&o, 1, 1), ENOENT);
}

// ---- DELETE (§5.6) ----

#[test]
fn delete_success() {
    let o = new();
    assert_eq!(create(&o, 1, 1), 0);
    assert_eq!(delete(&o, 1), 0);
    assert!(o.dev_by_linkid(1).is_none());
    assert!(o.platform().events().contains(&Event::MacUnregister(1)));
    assert!(!o.busy());
    // The linkid and vnetid are free again.
    assert_eq!(create(&o, 1, 1), 0);
}

#[test]
fn delete_missing_is_enoent() {
    let o = new();
    assert_eq!(delete(&o, 1), ENOENT);
}

#[test]
fn delete_started_is_ebusy() {
    let o = new();
    let h = open_varpd(&o);
    up(&o, h, 1, 1, OVERLAY_TARGET_POINT);
    assert_eq!(delete(&o, 1), EBUSY);
    o.dev_by_linkid(1).unwrap().m_stop();
    assert_eq!(delete(&o, 1), 0);
}

#[test]
fn delete_mac_busy_propagates() {
    let o = new();
    assert_eq!(create(&o, 1, 1), 0);
    *o.platform().fail_mac_unregister.lock().unwrap() = Some(Errno::EBUSY);
    assert_eq!(delete(&o, 1), EBUSY);
    assert!(o.dev_by_linkid(1).is_some());
    *o.platform().fail_mac_unregister.lock().unwrap() = None;
    assert_eq!(delete(&o, 1), 0);
}

#[test]
fn delete_associated_device_frees_target() {
    let o = new();
    let h = open_varpd(&o);
    assert_eq!(create(&o, 1, 1), 0);
    associate(&o, h, 1, OVERLAY_TARGET_DYNAMIC, Default::default()).unwrap();
    assert_eq!(delete(&o, 1), 0);
}

// ---- ACTIVATE (§5.5) ----

#[test]
fn activate_success_sets_link_up() {
    let o = new();
    let h = open_varpd(&o);
    assert_eq!(create(&o, 1, 1), 0);
    set_listen(&o, 1, LISTEN, 4789);
    associate(&o, h, 1, OVERLAY_TARGET_POINT, point(PEER, 4789)).unwrap();
    assert_eq!(activate(&o, 1), 0);
    assert!(o.platform().events().contains(&Event::LinkUpdate(1, true)));
    assert_ne!(o.dev_by_linkid(1).unwrap().flags() & OVERLAY_F_ACTIVATED, 0);
}

#[test]
fn activate_missing_is_enoent() {
    let o = new();
    assert_eq!(activate(&o, 1), ENOENT);
}

#[test]
fn activate_twice_is_eexist() {
    let o = new();
    let h = open_varpd(&o);
    assert_eq!(create(&o, 1, 1), 0);
    set_listen(&o, 1, LISTEN, 4789);
    associate(&o, h, 1, OVERLAY_TARGET_POINT, point(PEER, 4789)).unwrap();
    assert_eq!(activate(&o, 1), 0);
    assert_eq!(activate(&o, 1), EEXIST);
}

#[test]
fn activate_without_required_listen_ip_is_einval() {
    let o = new();
    let h = open_varpd(&o);
    assert_eq!(create(&o, 1, 1), 0);
    associate(&o, h, 1, OVERLAY_TARGET_POINT, point(PEER, 4789)).unwrap();
    assert_eq!(activate(&o, 1), EINVAL);
}

#[test]
fn activate_unassociated_is_enxio() {
    let o = new();
    assert_eq!(create(&o, 1, 1), 0);
    set_listen(&o, 1, LISTEN, 4789);
    assert_eq!(activate(&o, 1), ENXIO);
}

#[test]
fn activate_listen_port_default_satisfies_required() {
    let o = new();
    let h = open_varpd(&o);
    assert_eq!(create(&o, 1, 1), 0);
    assert_eq!(
        setprop_by_name(&o, 1, "vxlan/listen_ip", &v4(LISTEN).s6_addr),
        0
    );
    associate(&o, h, 1, OVERLAY_TARGET_DYNAMIC, Default::default()).unwrap();
    assert_eq!(activate(&o, 1), 0);
}

// ---- NPROPS (§5.7) ----

#[test]
fn nprops_is_plugin_plus_four() {
    let o = new();
    assert_eq!(create(&o, 1, 1), 0);
    let (e, out) = dld(
        &o,
        OVERLAY_IOC_NPROPS,
        &overlay_ioc_nprops_t {
            oipn_linkid: 1,
            oipn_nprops: 0,
        },
    );
    assert_eq!(e, 0);
    assert_eq!(
        overlay_ioc_nprops_t::from_bytes(&out).unwrap().oipn_nprops,
        9,
        "4 generic + vxlan/listen_ip, listen_port, ecn, dscp, ttl"
    );
}

#[test]
fn nprops_missing_is_enoent() {
    let o = new();
    assert_eq!(
        dld(
            &o,
            OVERLAY_IOC_NPROPS,
            &overlay_ioc_nprops_t {
                oipn_linkid: 1,
                oipn_nprops: 0
            }
        )
        .0,
        ENOENT
    );
}

// ---- STATUS (§5.8) ----

#[test]
fn status_ok_and_missing() {
    let o = new();
    let mut s = overlay_ioc_status_t {
        ois_linkid: 1,
        ..Default::default()
    };
    s.ois_message[0] = b'x';
    assert_eq!(dld(&o, OVERLAY_IOC_STATUS, &s).0, ENOENT);
    assert_eq!(create(&o, 1, 1), 0);
    let (e, out) = dld(&o, OVERLAY_IOC_STATUS, &s);
    assert_eq!(e, 0);
    let r = overlay_ioc_status_t::from_bytes(&out).unwrap();
    assert_eq!(r.ois_status, OVERLAY_I_OK);
    assert_eq!(r.ois_message[0], 0);
}

#[test]
fn busy_tracks_devices_and_handles() {
    let o = new();
    assert!(!o.busy());
    let h = open_varpd(&o);
    assert!(o.busy());
    o.targ_close(h);
    assert!(!o.busy());
}

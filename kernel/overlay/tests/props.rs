//! Properties (§6): PROPINFO, GETPROP, SETPROP — ids, names, encodings,
//! error rows, and the §16 decisions (#1–#5, #19, #20).
mod common;
use common::*;
use overlay::sys::errno::*;
use overlay::sys::*;

fn dev() -> Ovl {
    let o = new();
    assert_eq!(create(&o, 1, 23), 0);
    o
}

fn u64v(p: &overlay_ioc_prop_t) -> u64 {
    u64::from_ne_bytes(p.oip_value[..8].try_into().unwrap())
}

// ---- PROPINFO ----

#[test]
fn propinfo_mtu() {
    let o = dev();
    let (e, pi) = propinfo(&o, 1, 0, "");
    assert_eq!(e, 0);
    assert_eq!(cstr_bytes(&pi.oipi_name), b"mtu");
    assert_eq!(pi.oipi_type, OVERLAY_PROP_T_UINT);
    assert_eq!(pi.oipi_prot, OVERLAY_PROP_PERM_RW);
    assert_eq!(pi.oipi_defsize, 4);
    assert_eq!(&pi.oipi_default[..4], &1400u32.to_ne_bytes());
    assert_eq!(poss_range_u32(&pi.oipi_poss, 0), Some((576, 8900)));
    assert_eq!(poss_count(&pi.oipi_poss), 1);
    assert_eq!(pi.oipi_posssize, 24);
}

#[test]
fn propinfo_vnetid() {
    let o = dev();
    let (e, pi) = propinfo(&o, 1, 1, "");
    assert_eq!(e, 0);
    assert_eq!(cstr_bytes(&pi.oipi_name), b"vnetid");
    assert_eq!(
        (pi.oipi_type, pi.oipi_prot, pi.oipi_defsize),
        (OVERLAY_PROP_T_UINT, OVERLAY_PROP_PERM_RW, 0)
    );
    assert_eq!(pi.oipi_posssize, 16);
    assert_eq!(poss_count(&pi.oipi_poss), 0);
}

#[test]
fn propinfo_encap_lists_plugins() {
    let o = dev();
    let (e, pi) = propinfo(&o, 1, 2, "");
    assert_eq!(e, 0);
    assert_eq!(cstr_bytes(&pi.oipi_name), b"encap");
    assert_eq!(
        (pi.oipi_type, pi.oipi_prot),
        (OVERLAY_PROP_T_STRING, OVERLAY_PROP_PERM_READ)
    );
    let v: Vec<&[u8]> = poss_strings(&pi.oipi_poss).collect();
    assert_eq!(v, vec![&b"vxlan"[..]]);
    assert_eq!(pi.oipi_posssize, 16 + 6);
}

#[test]
fn propinfo_varpd_id() {
    let o = dev();
    let (e, pi) = propinfo(&o, 1, 3, "");
    assert_eq!(e, 0);
    assert_eq!(cstr_bytes(&pi.oipi_name), b"varpd/id");
    assert_eq!(
        (pi.oipi_type, pi.oipi_prot, pi.oipi_defsize),
        (OVERLAY_PROP_T_UINT, OVERLAY_PROP_PERM_READ, 0)
    );
}

#[test]
fn propinfo_listen_ip() {
    let o = dev();
    let (e, pi) = propinfo(&o, 1, 4, "");
    assert_eq!(e, 0);
    assert_eq!(cstr_bytes(&pi.oipi_name), b"vxlan/listen_ip");
    assert_eq!(
        (pi.oipi_type, pi.oipi_prot, pi.oipi_defsize),
        (OVERLAY_PROP_T_IP, OVERLAY_PROP_PERM_RRW, 0)
    );
}

#[test]
fn propinfo_listen_port_default_is_two_bytes() {
    let o = dev();
    let (e, pi) = propinfo(&o, 1, 5, "");
    assert_eq!(e, 0);
    assert_eq!(cstr_bytes(&pi.oipi_name), b"vxlan/listen_port");
    assert_eq!(
        (pi.oipi_type, pi.oipi_prot),
        (OVERLAY_PROP_T_UINT, OVERLAY_PROP_PERM_RRW)
    );
    assert_eq!(pi.oipi_defsize, 2);
    assert_eq!(&pi.oipi_default[..2], &4789u16.to_ne_bytes());
    assert_eq!(poss_range_u32(&pi.oipi_poss, 0), Some((1, 65535)));
}

#[test]
fn propinfo_by_name_writes_back_id() {
    let o = dev();
    for (name, id) in [
        ("mtu", 0),
        ("vnetid", 1),
        ("encap", 2),
        ("varpd/id", 3),
        ("vxlan/listen_ip", 4),
        ("vxlan/listen_port", 5),
    ] {
        let (e, pi) = propinfo(&o, 1, -1, name);
        assert_eq!(e, 0, "{name}");
        assert_eq!(pi.oipi_id, id, "{name}");
    }
}

#[test]
fn propinfo_unknown_name_is_enoent() {
    let o = dev();
    assert_eq!(propinfo(&o, 1, -1, "vxlan/nope").0, ENOENT);
    assert_eq!(propinfo(&o, 1, -1, "").0, ENOENT);
}

#[test]
fn propinfo_bad_ids() {
    let o = dev();
    assert_eq!(propinfo(&o, 1, -2, "").0, EINVAL);
    assert_eq!(propinfo(&o, 1, i32::MIN, "").0, EINVAL);
    // 4 generic + 5 vxlan properties: 9 is one past the end.
    assert_eq!(propinfo(&o, 1, 9, "").0, EINVAL);
    assert_eq!(propinfo(&o, 1, i32::MAX, "").0, EINVAL);
}

#[test]
fn propinfo_missing_device_is_enoent() {
    let o = new();
    assert_eq!(propinfo(&o, 1, 0, "").0, ENOENT);
}

#[test]
fn propinfo_forces_name_nul() {
    let o = dev();
    let mut pi = overlay_ioc_propinfo_t {
        oipi_linkid: 1,
        oipi_id: -1,
        ..Default::default()
    };
    pi.oipi_name = [b'm'; 64];
    let (e, out) = dld(&o, OVERLAY_IOC_PROPINFO, &pi);
    assert_eq!(e, ENOENT);
    assert_eq!(
        overlay_ioc_propinfo_t::from_bytes(&out).unwrap().oipi_name[63],
        0
    );
}

// ---- GETPROP ----

#[test]
fn getprop_mtu_is_four_bytes() {
    let o = dev();
    let (e, p) = getprop(&o, 1, 0, "");
    assert_eq!(e, 0);
    assert_eq!(p.oip_size, 4);
    assert_eq!(&p.oip_value[..4], &1400u32.to_ne_bytes());
}

#[test]
fn getprop_vnetid_is_eight_bytes() {
    let o = dev();
    let (e, p) = getprop(&o, 1, 1, "");
    assert_eq!((e, p.oip_size, u64v(&p)), (0, 8, 23));
}

#[test]
fn getprop_encap_size_excludes_nul() {
    let o = dev();
    let (e, p) = getprop(&o, 1, 2, "");
    assert_eq!((e, p.oip_size), (0, 5));
    assert_eq!(&p.oip_value[..6], b"vxlan\0");
}

#[test]
fn getprop_varpd_id_empty_until_associated() {
    let o = dev();
    let (e, p) = getprop(&o, 1, 3, "");
    assert_eq!((e, p.oip_size), (0, 0));
    let h = open_varpd(&o);
    associate(&o, h, 1, OVERLAY_TARGET_DYNAMIC, Default::default()).unwrap();
    let (e, p) = getprop(&o, 1, 3, "");
    assert_eq!((e, p.oip_size, u64v(&p)), (0, 8, 0x1234));
    targ(
        &o,
        h,
        OVERLAY_TARG_DISASSOCIATE,
        &overlay_targ_id_t { otid_linkid: 1 },
    )
    .unwrap();
    assert_eq!(getprop(&o, 1, 3, "").1.oip_size, 0);
}

#[test]
fn getprop_listen_ip_unset_then_set() {
    let o = dev();
    let (e, p) = getprop(&o, 1, 4, "");
    assert_eq!((e, p.oip_size), (0, 0));
    assert_eq!(setprop(&o, 1, 4, "", &v4(LISTEN).s6_addr), 0);
    let (e, p) = getprop(&o, 1, 4, "");
    assert_eq!((e, p.oip_size), (0, 16));
    assert_eq!(&p.oip_value[..16], &v4(LISTEN).s6_addr);
}

#[test]
fn getprop_listen_port_default_eight_bytes() {
    let o = dev();
    let (e, p) = getprop(&o, 1, 5, "");
    assert_eq!((e, p.oip_size, u64v(&p)), (0, 8, 4789));
}

#[test]
fn getprop_generic_by_name() {
    let o = dev();
    let (e, p) = getprop(&o, 1, -1, "vnetid");
    assert_eq!((e, u64v(&p)), (0, 23));
}

#[test]
fn getprop_plugin_by_name_resolves() {
    // §16 #2: the original's dead code made this ENOENT; we resolve it.
    let o = dev();
    let (e, p) = getprop(&o, 1, -1, "vxlan/listen_port");
    assert_eq!((e, u64v(&p)), (0, 4789));
}

#[test]
fn getprop_unknown_name_is_enoent() {
    let o = dev();
    assert_eq!(getprop(&o, 1, -1, "bogus").0, ENOENT);
}

#[test]
fn getprop_index_equal_nprops_is_einval() {
    // §16 #3: the original's `>` let index == nprops through.
    let o = dev();
    assert_eq!(getprop(&o, 1, 9, "").0, EINVAL);
    assert_eq!(getprop(&o, 1, 10, "").0, EINVAL);
    assert_eq!(getprop(&o, 1, -5, "").0, EINVAL);
}

#[test]
fn getprop_missing_device_is_enoent() {
    let o = new();
    assert_eq!(getprop(&o, 1, 0, "").0, ENOENT);
}

// ---- SETPROP ----

#[test]
fn setprop_size_over_256_is_einval_before_lookup() {
    let o = new();
    let mut p = prop(99, 0, "", &[]);
    p.oip_size = 257;
    assert_eq!(dld(&o, OVERLAY_IOC_SETPROP, &p).0, EINVAL);
}

#[test]
fn setprop_missing_device_is_enoent() {
    let o = new();
    assert_eq!(setprop(&o, 1, 1, "", &5u64.to_ne_bytes()), ENOENT);
}

#[test]
fn setprop_mtu() {
    let o = dev();
    assert_eq!(setprop(&o, 1, 0, "", &9000u32.to_ne_bytes()), EINVAL);
    assert_eq!(setprop(&o, 1, 0, "", &575u32.to_ne_bytes()), EINVAL);
    assert_eq!(setprop(&o, 1, 0, "", &[1, 2]), EINVAL);
    assert_eq!(setprop(&o, 1, 0, "", &8900u32.to_ne_bytes()), 0);
    assert_eq!(
        &getprop(&o, 1, 0, "").1.oip_value[..4],
        &8900u32.to_ne_bytes()
    );
    assert!(o
        .platform()
        .events()
        .contains(&overlay::testing::Event::MaxSdu(1, 8900)));
}

#[test]
fn setprop_mtu_mac_refusal_restores() {
    let o = dev();
    *o.platform().fail_maxsdu.lock().unwrap() = Some(overlay::Errno::EBUSY);
    assert_eq!(setprop(&o, 1, 0, "", &1500u32.to_ne_bytes()), EBUSY);
    assert_eq!(o.dev_by_linkid(1).unwrap().mtu(), 1400);
}

#[test]
fn setprop_vnetid() {
    let o = dev();
    assert_eq!(setprop(&o, 1, 1, "", &99u64.to_ne_bytes()), 0);
    assert_eq!(o.dev_by_linkid(1).unwrap().vnetid(), 99);
    assert_eq!(setprop(&o, 1, 1, "", &99u32.to_ne_bytes()), EINVAL);
    assert_eq!(setprop(&o, 1, 1, "", &16_777_216u64.to_ne_bytes()), EINVAL);
}

#[test]
fn setprop_vnetid_max_accepted_like_create() {
    // §16 #4: unified with CREATE (≤ 2^24 − 1).
    let o = dev();
    assert_eq!(setprop(&o, 1, 1, "", &16_777_215u64.to_ne_bytes()), 0);
}

#[test]
fn setprop_vnetid_duplicate_is_eexist() {
    // §16 #5: the original allowed a duplicate (vnetid, plugin).
    let o = dev();
    assert_eq!(create(&o, 2, 24), 0);
    assert_eq!(setprop(&o, 2, 1, "", &23u64.to_ne_bytes()), EEXIST);
    assert_eq!(setprop(&o, 1, 1, "", &23u64.to_ne_bytes()), 0);
}

#[test]
fn setprop_readonly_generic_is_eperm() {
    let o = dev();
    assert_eq!(setprop(&o, 1, 2, "", b"geneve\0"), EPERM);
    assert_eq!(setprop(&o, 1, 3, "", &5u64.to_ne_bytes()), EPERM);
    assert_eq!(setprop(&o, 1, -1, "encap", b"x\0"), EPERM);
}

#[test]
fn setprop_bad_ids() {
    let o = dev();
    assert_eq!(setprop(&o, 1, 6, "", &[0; 8]), EINVAL);
    assert_eq!(setprop(&o, 1, -3, "", &[0; 8]), EINVAL);
    assert_eq!(setprop(&o, 1, -1, "nope", &[0; 8]), ENOENT);
}

#[test]
fn setprop_activated_is_enotsup_without_leak() {
    // §16 #1: the original leaked a hold here, so DELETE failed EBUSY forever.
    let o = new();
    let h = open_varpd(&o);
    assert_eq!(create(&o, 1, 1), 0);
    set_listen(&o, 1, LISTEN, 4789);
    associate(&o, h, 1, OVERLAY_TARGET_POINT, point(PEER, 4789)).unwrap();
    assert_eq!(activate(&o, 1), 0);
    assert_eq!(setprop(&o, 1, 1, "", &5u64.to_ne_bytes()), ENOTSUP);
    assert_eq!(setprop(&o, 1, 1, "", &5u64.to_ne_bytes()), ENOTSUP);
    assert_eq!(delete(&o, 1), 0);
}

#[test]
fn setprop_listen_ip_validation() {
    let o = dev();
    let bad: [[u8; 16]; 6] = [
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1], // v4-compatible
        [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], // multicast
        [0x20, 0x02, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], // 6to4
        v4([224, 0, 0, 1]).s6_addr,                        // v4 multicast
        v4([239, 255, 255, 255]).s6_addr,                  // v4 multicast
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],  // ::2 is v4-compatible
    ];
    for b in bad {
        assert_eq!(setprop(&o, 1, 4, "", &b), EINVAL, "{b:?}");
    }
    assert_eq!(setprop(&o, 1, 4, "", &[0; 15]), EINVAL);
    assert_eq!(setprop(&o, 1, 4, "", &[0; 16]), 0, ":: accepted");
    let mut lo = [0u8; 16];
    lo[15] = 1;
    assert_eq!(setprop(&o, 1, 4, "", &lo), 0, "::1 accepted");
    let mut g = [0u8; 16];
    g[0] = 0x20;
    g[1] = 0x01;
    g[15] = 7;
    assert_eq!(setprop(&o, 1, 4, "", &g), 0);
}

#[test]
fn setprop_listen_port_validation() {
    let o = dev();
    assert_eq!(setprop(&o, 1, 5, "", &0u64.to_ne_bytes()), EINVAL);
    assert_eq!(setprop(&o, 1, 5, "", &65536u64.to_ne_bytes()), EINVAL);
    assert_eq!(setprop(&o, 1, 5, "", &4789u32.to_ne_bytes()), EINVAL);
    assert_eq!(setprop(&o, 1, 5, "", &8472u64.to_ne_bytes()), 0);
    assert_eq!(u64v(&getprop(&o, 1, 5, "").1), 8472);
    assert_eq!(setprop(&o, 1, 5, "", &65535u64.to_ne_bytes()), 0);
    assert_eq!(setprop(&o, 1, 5, "", &1u64.to_ne_bytes()), 0);
}

#[test]
fn libdladm_sequence_propinfo_then_setprop() {
    let o = dev();
    assert_eq!(
        setprop_by_name(&o, 1, "vxlan/listen_ip", &v4(LISTEN).s6_addr),
        0
    );
    assert_eq!(
        setprop_by_name(&o, 1, "vxlan/listen_port", &4790u64.to_ne_bytes()),
        0
    );
    assert_eq!(setprop_by_name(&o, 1, "mtu", &1500u32.to_ne_bytes()), 0);
    assert_eq!(u64v(&getprop(&o, 1, 5, "").1), 4790);
}

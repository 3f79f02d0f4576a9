//! Every constant the kernel module passes to the illumos kernel, pinned to
//! its value in the illumos headers (named beside each group). A wrong value
//! here compiles and links, and the kernel silently ignores or misreads it:
//! `ddi_fm_service_impact` with a value outside `ddi_fault_impact_t` does
//! nothing, a wrong `DEVO_REV` fails `mod_install`. The values are written
//! out as the headers state them, not computed from the declarations.

use crate::ksys::*;

/// One pinned constant: its name, our value, illumos' value.
fn pin(name: &str, ours: i64, illumos: i64, bad: &mut Vec<String>) {
    if ours != illumos {
        bad.push(format!("{name}: ours {ours:#x}, illumos {illumos:#x}"));
    }
}

#[test]
fn kernel_constants_match_illumos() {
    let mut bad = Vec::new();
    let b = &mut bad;

    // sys/sunddi.h
    pin("DDI_SUCCESS", ddi::DDI_SUCCESS.into(), 0, b);
    pin("DDI_FAILURE", ddi::DDI_FAILURE.into(), -1, b);
    pin("DDI_SERVICE_LOST", ddifm::DDI_SERVICE_LOST.into(), -32, b);
    pin(
        "DDI_SERVICE_DEGRADED",
        ddifm::DDI_SERVICE_DEGRADED.into(),
        -16,
        b,
    );
    pin(
        "DDI_SERVICE_UNAFFECTED",
        ddifm::DDI_SERVICE_UNAFFECTED.into(),
        0,
        b,
    );
    pin(
        "DDI_SERVICE_RESTORED",
        ddifm::DDI_SERVICE_RESTORED.into(),
        16,
        b,
    );
    // sys/ddifm.h
    pin(
        "DDI_FM_EREPORT_CAPABLE",
        ddifm::DDI_FM_EREPORT_CAPABLE.into(),
        0x1,
        b,
    );
    // sys/devops.h
    pin("DEVO_REV", ddi::DEVO_REV.into(), 4, b);
    pin("CB_REV", ddi::CB_REV.into(), 1, b);
    pin(
        "DDI_INFO_DEVT2DEVINFO",
        ddi::DDI_INFO_DEVT2DEVINFO.into(),
        0,
        b,
    );
    pin(
        "DDI_INFO_DEVT2INSTANCE",
        ddi::DDI_INFO_DEVT2INSTANCE.into(),
        1,
        b,
    );
    pin("DDI_ATTACH", ddi::DDI_ATTACH.into(), 0, b);
    pin("DDI_DETACH", ddi::DDI_DETACH.into(), 0, b);
    // sys/stream.h: D_MP is D_MTSAFE
    pin("D_MP", ddi::D_MP.into(), 0x20, b);
    // sys/stat.h
    pin("S_IFCHR", ddi::S_IFCHR.into(), 0x2000, b);
    // sys/file.h
    pin("FREAD", ddi::FREAD.into(), 0x01, b);
    pin("FWRITE", ddi::FWRITE.into(), 0x02, b);
    pin("FEXCL", ddi::FEXCL.into(), 0x0400, b);
    pin("FKIOCTL", (ddi::FKIOCTL as u32).into(), 0x8000_0000, b);
    pin("FMODELS", ddi::FMODELS.into(), 0x0ff0_0000, b);
    // sys/open.h
    pin("OTYP_BLK", ddi::OTYP_BLK.into(), 0, b);
    pin("OTYP_CHR", ddi::OTYP_CHR.into(), 2, b);
    // sys/model.h (DDI_MODEL_* are DATAMODEL_*)
    pin(
        "DDI_MODEL_ILP32",
        ddi::DDI_MODEL_ILP32.into(),
        0x0010_0000,
        b,
    );
    pin("DDI_MODEL_LP64", ddi::DDI_MODEL_LP64.into(), 0x0020_0000, b);
    pin("DDI_MODEL_NONE", ddi::DDI_MODEL_NONE.into(), 0, b);
    // sys/modctl.h
    pin("MODREV_1", modctl::MODREV_1.into(), 1, b);
    pin(
        "modlinkage.ml_linkage length (_LP64)",
        modctl::ML_LINKAGE_LEN as i64,
        7,
        b,
    );
    // sys/cmn_err.h
    pin("CE_CONT", cmn_err::CE_CONT.into(), 0, b);
    pin("CE_NOTE", cmn_err::CE_NOTE.into(), 1, b);
    pin("CE_WARN", cmn_err::CE_WARN.into(), 2, b);
    pin("CE_PANIC", cmn_err::CE_PANIC.into(), 3, b);
    // sys/kmem.h
    pin("KM_SLEEP", kmem::KM_SLEEP.into(), 0x0000, b);
    pin("KM_NOSLEEP", kmem::KM_NOSLEEP.into(), 0x0001, b);
    pin("KM_NORMALPRI", kmem::KM_NORMALPRI.into(), 0x0008, b);
    // sys/mutex.h, sys/condvar.h
    pin("MUTEX_ADAPTIVE", ksynch::MUTEX_ADAPTIVE as i64, 0, b);
    pin("MUTEX_DRIVER", ksynch::MUTEX_DRIVER as i64, 4, b);
    pin("MUTEX_DEFAULT", ksynch::MUTEX_DEFAULT as i64, 6, b);
    pin("CV_DEFAULT", ksynch::CV_DEFAULT as i64, 0, b);
    pin("CV_DRIVER", ksynch::CV_DRIVER as i64, 1, b);
    pin("TR_CLOCK_TICK", ksynch::TR_CLOCK_TICK as i64, 4, b);
    // sys/socket.h, netinet/in.h (illumos' values, not Linux's)
    pin("AF_INET", ksocket::AF_INET.into(), 2, b);
    pin("AF_INET6", ksocket::AF_INET6.into(), 26, b);
    pin("SOCK_DGRAM", ksocket::SOCK_DGRAM.into(), 1, b);
    pin("IPPROTO_UDP", ksocket::IPPROTO_UDP.into(), 17, b);
    pin("MSG_DONTWAIT", ksocket::MSG_DONTWAIT.into(), 0x80, b);
    // sys/ksocket.h: KSOCKET_[NO]SLEEP are SOCKET_[NO]SLEEP, KM_[NO]SLEEP
    pin("KSOCKET_SLEEP", ksocket::KSOCKET_SLEEP.into(), 0, b);
    pin("KSOCKET_NOSLEEP", ksocket::KSOCKET_NOSLEEP.into(), 1, b);
    // netinet/udp.h
    pin(
        "UDP_SRCPORT_HASH",
        ksocket::UDP_SRCPORT_HASH.into(),
        0x0104,
        b,
    );
    pin("UDP_HASH_DISABLE", ksocket::UDP_HASH_DISABLE.into(), 0, b);
    pin("UDP_HASH_VXLAN", ksocket::UDP_HASH_VXLAN.into(), 1, b);
    // sys/stream.h
    pin("M_DATA", stream::M_DATA.into(), 0x00, b);
    pin("M_PROTO", stream::M_PROTO.into(), 0x01, b);
    pin("BPRI_LO", stream::BPRI_LO.into(), 1, b);
    pin("BPRI_MED", stream::BPRI_MED.into(), 2, b);
    pin("BPRI_HI", stream::BPRI_HI as i64, 3, b);
    // sys/tihdr.h
    pin("T_UNITDATA_IND", stream::T_UNITDATA_IND.into(), 20, b);
    // sys/dld_ioc.h
    pin("DLDCOPYIN", dld_ioc::DLDCOPYIN.into(), 0x1, b);
    pin("DLDCOPYOUT", dld_ioc::DLDCOPYOUT.into(), 0x2, b);
    pin("DLDCOPYINOUT", dld_ioc::DLDCOPYINOUT.into(), 0x3, b);
    // sys/mac_provider.h, sys/mac.h
    pin("MAC_VERSION", mac::MAC_VERSION.into(), 0x1, b);
    pin("MAC_VIRT_NONE", mac::MAC_VIRT_NONE.into(), 0, b);
    pin(
        "MAC_CAPAB_OVERLAY",
        mac::MAC_CAPAB_OVERLAY.into(),
        0x0080_0000,
        b,
    );
    pin("MAC_PROP_MTU", mac::MAC_PROP_MTU.into(), 6, b);
    pin("LINK_STATE_UNKNOWN", mac::LINK_STATE_UNKNOWN.into(), -1, b);
    pin("LINK_STATE_DOWN", mac::LINK_STATE_DOWN.into(), 0, b);
    pin("LINK_STATE_UP", mac::LINK_STATE_UP.into(), 1, b);
    pin("MC_IOCTL", mac::MC_IOCTL.into(), 0x0002, b);
    pin("MC_GETCAPAB", mac::MC_GETCAPAB.into(), 0x0004, b);
    pin("MC_SETPROP", mac::MC_SETPROP.into(), 0x0020, b);
    pin("MC_GETPROP", mac::MC_GETPROP.into(), 0x0040, b);
    pin("MC_PROPINFO", mac::MC_PROPINFO.into(), 0x0080, b);
    // sys/types.h, sys/zone.h
    pin("B_FALSE", types::B_FALSE.into(), 0, b);
    pin("B_TRUE", types::B_TRUE.into(), 1, b);
    pin("GLOBAL_ZONEID", types::GLOBAL_ZONEID.into(), 0, b);

    assert!(
        bad.is_empty(),
        "constants differ from illumos:\n{}",
        bad.join("\n")
    );
}

#[test]
fn kernel_strings_match_illumos() {
    assert_eq!(ddi::DDI_PSEUDO, c"ddi_pseudo");
    assert_eq!(mac::MAC_PLUGIN_IDENT_ETHER, c"mac_ether");
}

#[test]
fn modlinkage_layout() {
    // int ml_rev; void *ml_linkage[7]: 4 + 4 padding + 56.
    assert_eq!(core::mem::size_of::<modctl::modlinkage>(), 64);
    assert_eq!(core::mem::offset_of!(modctl::modlinkage, ml_linkage), 8);
}

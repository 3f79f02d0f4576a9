//! Device-management ioctls on `/dev/dld` (`sys/overlay.h`): command
//! numbers, argument structures, and dld's registration table.
//!
//! The numbers are `DLD_IOC_CMD(OVERLAY_IOC, n)`: module id 0x2005 in the
//! upper 16 bits, command in the lower 16; they encode no size or
//! direction. Direction and size come from the table that the driver
//! registers with dld ([`dld_ioc_info`]), which dld applies before the
//! handler runs: a zeroed buffer of exactly the registered size, copied in
//! if COPYIN, copied back **even on error** if COPYOUT.

use crate::consts::*;
use crate::pod::Pod;
use core::mem::{align_of, offset_of, size_of};

/// dld module id of the overlay driver.
pub const OVERLAY_IOC: u32 = 0x2005;

/// `DLD_IOC_CMD(modid, cmdid)`.
pub const fn dld_ioc_cmd(modid: u32, cmdid: u32) -> u32 {
    (modid << 16) | cmdid
}

pub const OVERLAY_IOC_CREATE: u32 = dld_ioc_cmd(OVERLAY_IOC, 1);
pub const OVERLAY_IOC_DELETE: u32 = dld_ioc_cmd(OVERLAY_IOC, 2);
pub const OVERLAY_IOC_PROPINFO: u32 = dld_ioc_cmd(OVERLAY_IOC, 3);
pub const OVERLAY_IOC_GETPROP: u32 = dld_ioc_cmd(OVERLAY_IOC, 4);
pub const OVERLAY_IOC_SETPROP: u32 = dld_ioc_cmd(OVERLAY_IOC, 5);
pub const OVERLAY_IOC_NPROPS: u32 = dld_ioc_cmd(OVERLAY_IOC, 6);
pub const OVERLAY_IOC_ACTIVATE: u32 = dld_ioc_cmd(OVERLAY_IOC, 7);
pub const OVERLAY_IOC_STATUS: u32 = dld_ioc_cmd(OVERLAY_IOC, 8);

/// `overlay_ioc_create_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct overlay_ioc_create_t {
    pub oic_linkid: u32,
    pub oic_filler: u32,
    pub oic_vnetid: u64,
    pub oic_encap: [u8; MAXLINKNAMELEN],
}

/// `overlay_ioc_delete_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct overlay_ioc_delete_t {
    pub oid_linkid: u32,
}

/// `overlay_ioc_activate_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct overlay_ioc_activate_t {
    pub oia_linkid: u32,
}

/// `overlay_ioc_nprops_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct overlay_ioc_nprops_t {
    pub oipn_linkid: u32,
    pub oipn_nprops: i32,
}

/// `overlay_ioc_propinfo_t` (also the kernel's property-info handle).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct overlay_ioc_propinfo_t {
    pub oipi_linkid: u32,
    pub oipi_id: i32,
    pub oipi_name: [u8; OVERLAY_PROP_NAMELEN],
    pub oipi_type: u32,
    pub oipi_prot: u32,
    pub oipi_default: [u8; OVERLAY_PROP_SIZEMAX],
    pub oipi_defsize: u32,
    pub oipi_posssize: u32,
    pub oipi_poss: [u8; OVERLAY_PROP_SIZEMAX],
}

/// `overlay_ioc_prop_t` (GETPROP and SETPROP).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct overlay_ioc_prop_t {
    pub oip_linkid: u32,
    pub oip_id: i32,
    pub oip_name: [u8; OVERLAY_PROP_NAMELEN],
    pub oip_value: [u8; OVERLAY_PROP_SIZEMAX],
    pub oip_size: u32,
}

/// `overlay_ioc_status_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct overlay_ioc_status_t {
    pub ois_linkid: u32,
    pub ois_status: u32,
    pub ois_message: [u8; OVERLAY_STATUS_BUFLEN],
}

macro_rules! zero_default {
    ($($t:ty),*) => {$(
        impl Default for $t {
            fn default() -> Self {
                let mut v = core::mem::MaybeUninit::<Self>::uninit();
                // SAFETY: the type is Pod (integers and byte arrays only),
                // so the all-zero bit pattern is a valid value.
                unsafe {
                    core::ptr::write_bytes(v.as_mut_ptr(), 0, 1);
                    v.assume_init()
                }
            }
        }
    )*};
}
pub(crate) use zero_default;

zero_default!(
    overlay_ioc_create_t,
    overlay_ioc_propinfo_t,
    overlay_ioc_prop_t,
    overlay_ioc_status_t
);

// SAFETY (all impls below): repr(C), integer/byte-array fields only, and the
// size assertions below prove there is no implicit padding.
unsafe impl Pod for overlay_ioc_create_t {}
unsafe impl Pod for overlay_ioc_delete_t {}
unsafe impl Pod for overlay_ioc_activate_t {}
unsafe impl Pod for overlay_ioc_nprops_t {}
unsafe impl Pod for overlay_ioc_propinfo_t {}
unsafe impl Pod for overlay_ioc_prop_t {}
unsafe impl Pod for overlay_ioc_status_t {}

// amd64 sizes, alignments and offsets (spec/kernel.md §5.3, §17).
const _: () = {
    assert!(size_of::<overlay_ioc_create_t>() == 48);
    assert!(align_of::<overlay_ioc_create_t>() == 8);
    assert!(offset_of!(overlay_ioc_create_t, oic_linkid) == 0);
    assert!(offset_of!(overlay_ioc_create_t, oic_filler) == 4);
    assert!(offset_of!(overlay_ioc_create_t, oic_vnetid) == 8);
    assert!(offset_of!(overlay_ioc_create_t, oic_encap) == 16);

    assert!(size_of::<overlay_ioc_delete_t>() == 4);
    assert!(size_of::<overlay_ioc_activate_t>() == 4);

    assert!(size_of::<overlay_ioc_nprops_t>() == 8);
    assert!(offset_of!(overlay_ioc_nprops_t, oipn_nprops) == 4);

    assert!(size_of::<overlay_ioc_propinfo_t>() == 600);
    assert!(align_of::<overlay_ioc_propinfo_t>() == 4);
    assert!(offset_of!(overlay_ioc_propinfo_t, oipi_linkid) == 0);
    assert!(offset_of!(overlay_ioc_propinfo_t, oipi_id) == 4);
    assert!(offset_of!(overlay_ioc_propinfo_t, oipi_name) == 8);
    assert!(offset_of!(overlay_ioc_propinfo_t, oipi_type) == 72);
    assert!(offset_of!(overlay_ioc_propinfo_t, oipi_prot) == 76);
    assert!(offset_of!(overlay_ioc_propinfo_t, oipi_default) == 80);
    assert!(offset_of!(overlay_ioc_propinfo_t, oipi_defsize) == 336);
    assert!(offset_of!(overlay_ioc_propinfo_t, oipi_posssize) == 340);
    assert!(offset_of!(overlay_ioc_propinfo_t, oipi_poss) == 344);

    assert!(size_of::<overlay_ioc_prop_t>() == 332);
    assert!(offset_of!(overlay_ioc_prop_t, oip_id) == 4);
    assert!(offset_of!(overlay_ioc_prop_t, oip_name) == 8);
    assert!(offset_of!(overlay_ioc_prop_t, oip_value) == 72);
    assert!(offset_of!(overlay_ioc_prop_t, oip_size) == 328);

    assert!(size_of::<overlay_ioc_status_t>() == 264);
    assert!(offset_of!(overlay_ioc_status_t, ois_status) == 4);
    assert!(offset_of!(overlay_ioc_status_t, ois_message) == 8);
};

/// One row of the table the driver registers with dld (`dld_ioc_info_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DldIocInfo {
    /// The command number.
    pub cmd: u32,
    /// Registered argument size: dld allocates exactly this many bytes.
    pub size: usize,
    /// `DLDCOPYIN`.
    pub copyin: bool,
    /// `DLDCOPYOUT` (whole buffer, even on error).
    pub copyout: bool,
    /// The privilege function is `secpolicy_dl_config` (false: none).
    pub needs_dl_config: bool,
}

const fn row(cmd: u32, size: usize, copyout: bool, priv_: bool) -> DldIocInfo {
    DldIocInfo {
        cmd,
        size,
        copyin: true,
        copyout,
        needs_dl_config: priv_,
    }
}

/// The overlay driver's dld ioctl table, in registration order.
pub const DLD_IOC_TABLE: [DldIocInfo; 8] = [
    row(
        OVERLAY_IOC_CREATE,
        size_of::<overlay_ioc_create_t>(),
        false,
        true,
    ),
    row(
        OVERLAY_IOC_DELETE,
        size_of::<overlay_ioc_delete_t>(),
        false,
        true,
    ),
    row(
        OVERLAY_IOC_PROPINFO,
        size_of::<overlay_ioc_propinfo_t>(),
        true,
        true,
    ),
    row(
        OVERLAY_IOC_GETPROP,
        size_of::<overlay_ioc_prop_t>(),
        true,
        true,
    ),
    row(
        OVERLAY_IOC_SETPROP,
        size_of::<overlay_ioc_prop_t>(),
        false,
        true,
    ),
    row(
        OVERLAY_IOC_NPROPS,
        size_of::<overlay_ioc_nprops_t>(),
        true,
        true,
    ),
    row(
        OVERLAY_IOC_ACTIVATE,
        size_of::<overlay_ioc_activate_t>(),
        false,
        true,
    ),
    row(
        OVERLAY_IOC_STATUS,
        size_of::<overlay_ioc_status_t>(),
        true,
        false,
    ),
];

/// Look up a dld command (read as a raw integer) in the overlay table.
pub fn dld_ioc_info(cmd: u32) -> Option<DldIocInfo> {
    DLD_IOC_TABLE.iter().copied().find(|r| r.cmd == cmd)
}

/// The command's name (`"OVERLAY_IOC_CREATE"`), for logs.
pub fn dld_ioc_name(cmd: u32) -> Option<&'static str> {
    Some(match cmd {
        OVERLAY_IOC_CREATE => "OVERLAY_IOC_CREATE",
        OVERLAY_IOC_DELETE => "OVERLAY_IOC_DELETE",
        OVERLAY_IOC_PROPINFO => "OVERLAY_IOC_PROPINFO",
        OVERLAY_IOC_GETPROP => "OVERLAY_IOC_GETPROP",
        OVERLAY_IOC_SETPROP => "OVERLAY_IOC_SETPROP",
        OVERLAY_IOC_NPROPS => "OVERLAY_IOC_NPROPS",
        OVERLAY_IOC_ACTIVATE => "OVERLAY_IOC_ACTIVATE",
        OVERLAY_IOC_STATUS => "OVERLAY_IOC_STATUS",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(OVERLAY_IOC_CREATE, 0x20050001);
        assert_eq!(OVERLAY_IOC_CREATE, 537198593);
        assert_eq!(OVERLAY_IOC_STATUS, 537198600);
    }

    #[test]
    fn table() {
        let s = dld_ioc_info(OVERLAY_IOC_STATUS).unwrap();
        assert!(s.copyout && !s.needs_dl_config && s.size == 264);
        let c = dld_ioc_info(OVERLAY_IOC_CREATE).unwrap();
        assert!(!c.copyout && c.needs_dl_config && c.size == 48);
        assert_eq!(dld_ioc_info(OVERLAY_IOC_PROPINFO).unwrap().size, 600);
        assert!(dld_ioc_info(0x20050009).is_none());
        assert!(dld_ioc_info(0).is_none());
    }

    #[test]
    fn pod_round_trip() {
        let mut c = overlay_ioc_create_t {
            oic_linkid: 7,
            oic_vnetid: 23,
            ..Default::default()
        };
        crate::pod::set_cstr(&mut c.oic_encap, b"vxlan");
        let b = c.as_bytes();
        assert_eq!(b.len(), 48);
        assert_eq!(&b[0..4], &7u32.to_le_bytes());
        assert_eq!(&b[8..16], &23u64.to_le_bytes());
        assert_eq!(&b[16..21], b"vxlan");
        assert_eq!(overlay_ioc_create_t::from_bytes(b), Some(c));
        assert_eq!(overlay_ioc_create_t::from_bytes(&b[..47]), None);
    }
}

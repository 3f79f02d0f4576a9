//! sys/ddi.h, sys/sunddi.h, sys/devops.h, sys/conf.h, sys/file.h, sys/open.h,
//! sys/model.h: the device driver interface.

use super::types::*;

pub const DDI_SUCCESS: c_int = 0;
pub const DDI_FAILURE: c_int = -1;

pub const DEVO_REV: c_int = 4;
pub const CB_REV: c_int = 1;
/// `D_MP` = `D_MTSAFE` (sys/stream.h, sys/conf.h).
pub const D_MP: c_int = 0x20;

pub type ddi_info_cmd_t = c_int;
pub const DDI_INFO_DEVT2DEVINFO: ddi_info_cmd_t = 0;
pub const DDI_INFO_DEVT2INSTANCE: ddi_info_cmd_t = 1;

pub type ddi_attach_cmd_t = c_int;
pub const DDI_ATTACH: ddi_attach_cmd_t = 0;

pub type ddi_detach_cmd_t = c_int;
pub const DDI_DETACH: ddi_detach_cmd_t = 0;

pub type ddi_reset_cmd_t = c_int;
pub type ddi_prop_op_t = c_int;

/// `S_IFCHR` (sys/stat.h): the minor node is a character device.
pub const S_IFCHR: c_int = 0x2000;
/// `DDI_PSEUDO` (sys/sunddi.h).
pub const DDI_PSEUDO: &core::ffi::CStr = c"ddi_pseudo";

/// Open flags (sys/file.h).
pub const FREAD: c_int = 0x01;
pub const FWRITE: c_int = 0x02;
pub const FEXCL: c_int = 0x0400;
/// `FKIOCTL` (sys/file.h): the ioctl came from the kernel; copy with bcopy.
pub const FKIOCTL: c_int = 0x8000_0000_u32 as c_int;

/// Open types (sys/open.h).
pub const OTYP_BLK: c_int = 0;
pub const OTYP_CHR: c_int = 2;

/// Data models (sys/model.h); `FMODELS` masks them out of an ioctl `mode`.
pub const FMODELS: c_int = 0x0ff0_0000;
pub const DDI_MODEL_ILP32: c_uint = 0x0010_0000;
pub const DDI_MODEL_LP64: c_uint = 0x0020_0000;
pub const DDI_MODEL_NONE: c_uint = 0;

#[repr(C)]
pub struct cb_ops {
    pub cb_open: Option<unsafe extern "C" fn(*mut dev_t, c_int, c_int, *mut cred_t) -> c_int>,
    pub cb_close: Option<unsafe extern "C" fn(dev_t, c_int, c_int, *mut cred_t) -> c_int>,
    pub cb_strategy: Option<unsafe extern "C" fn(*mut buf_t) -> c_int>,
    pub cb_print: Option<unsafe extern "C" fn(dev_t, *mut c_char) -> c_int>,
    pub cb_dump: Option<unsafe extern "C" fn(dev_t, caddr_t, daddr_t, c_int) -> c_int>,
    pub cb_read: Option<unsafe extern "C" fn(dev_t, *mut uio_t, *mut cred_t) -> c_int>,
    pub cb_write: Option<unsafe extern "C" fn(dev_t, *mut uio_t, *mut cred_t) -> c_int>,
    pub cb_ioctl: Option<
        unsafe extern "C" fn(dev_t, c_int, intptr_t, c_int, *mut cred_t, *mut c_int) -> c_int,
    >,
    /// `cb_devmap`, `cb_mmap`, `cb_segmap`: never used by this driver, so
    /// typed loosely; `nodev` is stored in each.
    pub cb_devmap: Option<unsafe extern "C" fn() -> c_int>,
    pub cb_mmap: Option<unsafe extern "C" fn() -> c_int>,
    pub cb_segmap: Option<unsafe extern "C" fn() -> c_int>,
    pub cb_chpoll: Option<
        unsafe extern "C" fn(dev_t, c_short, c_int, *mut c_short, *mut *mut pollhead_t) -> c_int,
    >,
    pub cb_prop_op: Option<
        unsafe extern "C" fn(
            dev_t,
            *mut dev_info_t,
            ddi_prop_op_t,
            c_int,
            *mut c_char,
            caddr_t,
            *mut c_int,
        ) -> c_int,
    >,
    pub cb_str: *mut streamtab_t,
    pub cb_flag: c_int,
    pub cb_rev: c_int,
    pub cb_aread: Option<unsafe extern "C" fn(dev_t, *mut aio_req_t, *mut cred_t) -> c_int>,
    pub cb_awrite: Option<unsafe extern "C" fn(dev_t, *mut aio_req_t, *mut cred_t) -> c_int>,
}

#[repr(C)]
pub struct dev_ops {
    pub devo_rev: c_int,
    pub devo_refcnt: c_int,
    pub devo_getinfo: Option<
        unsafe extern "C" fn(
            *mut dev_info_t,
            ddi_info_cmd_t,
            *mut c_void,
            *mut *mut c_void,
        ) -> c_int,
    >,
    pub devo_identify: Option<unsafe extern "C" fn(*mut dev_info_t) -> c_int>,
    pub devo_probe: Option<unsafe extern "C" fn(*mut dev_info_t) -> c_int>,
    pub devo_attach: Option<unsafe extern "C" fn(*mut dev_info_t, ddi_attach_cmd_t) -> c_int>,
    pub devo_detach: Option<unsafe extern "C" fn(*mut dev_info_t, ddi_detach_cmd_t) -> c_int>,
    pub devo_reset: Option<unsafe extern "C" fn(*mut dev_info_t, ddi_reset_cmd_t) -> c_int>,
    pub devo_cb_ops: *mut cb_ops,
    pub devo_bus_ops: *mut bus_ops_t,
    pub devo_power: Option<unsafe extern "C" fn(*mut dev_info_t, c_int, c_int) -> c_int>,
    pub devo_quiesce: Option<unsafe extern "C" fn(*mut dev_info_t) -> c_int>,
}

extern "C" {
    pub fn nodev() -> c_int;
    pub fn nulldev() -> c_int;
    pub fn nochpoll(
        dev: dev_t,
        events: c_short,
        anyyet: c_int,
        reventsp: *mut c_short,
        phpp: *mut *mut pollhead_t,
    ) -> c_int;
    pub fn ddi_prop_op(
        dev: dev_t,
        dip: *mut dev_info_t,
        prop_op: ddi_prop_op_t,
        mod_flags: c_int,
        name: *mut c_char,
        valuep: caddr_t,
        lengthp: *mut c_int,
    ) -> c_int;
    pub fn ddi_quiesce_not_supported(dip: *mut dev_info_t) -> c_int;

    pub fn ddi_get_instance(dip: *mut dev_info_t) -> c_int;
    pub fn ddi_create_minor_node(
        dip: *mut dev_info_t,
        name: *const c_char,
        spec_type: c_int,
        minor_num: minor_t,
        node_type: *const c_char,
        flag: c_int,
    ) -> c_int;
    pub fn ddi_remove_minor_node(dip: *mut dev_info_t, name: *const c_char);

    pub fn getminor(dev: dev_t) -> minor_t;
    pub fn getmajor(dev: dev_t) -> major_t;
    pub fn makedevice(maj: major_t, min: minor_t) -> dev_t;

    pub fn ddi_copyin(
        buf: *const c_void,
        driverbuf: *mut c_void,
        cn: size_t,
        flags: c_int,
    ) -> c_int;
    pub fn ddi_copyout(
        driverbuf: *const c_void,
        buf: *mut c_void,
        cn: size_t,
        flags: c_int,
    ) -> c_int;
    pub fn ddi_model_convert_from(model: c_uint) -> c_uint;
}

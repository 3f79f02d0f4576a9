//! The few illumos kernel interfaces the synonym-type backends call
//! (sys/ksynch.h, sys/time.h, sys/stream.h, sys/mac_provider.h). Layouts
//! are the amd64 kernel's. The STREAMS part (`mblk_t`, `dblk_t`, `allocb`,
//! `freeb`, `freemsg`) is also the kernel module's (`kernel/kmod`'s
//! `sys::stream` re-exports it).

#![allow(non_camel_case_types)]

use core::ffi::{c_int, c_long, c_uint, c_ushort, c_void};

/// `kmutex_t`: one pointer-sized word; all-zero is an unowned adaptive
/// mutex, exactly what `mutex_init(MUTEX_DRIVER, NULL)` stores.
#[repr(C)]
pub struct kmutex_t {
    pub _opaque: [*mut c_void; 1],
}

/// `kcondvar_t`: one short; all-zero is what `cv_init` stores.
#[repr(C)]
pub struct kcondvar_t {
    pub _opaque: c_ushort,
}

pub type hrtime_t = i64;
pub type clock_t = c_long;

/// sys/callo.h: the time given to `cv_timedwait_hires` is absolute.
pub const CALLOUT_FLAG_ABSOLUTE: c_int = 0x2;

/// `struct msgb`.
#[repr(C)]
pub struct mblk_t {
    pub b_next: *mut mblk_t,
    pub b_prev: *mut mblk_t,
    pub b_cont: *mut mblk_t,
    pub b_rptr: *mut u8,
    pub b_wptr: *mut u8,
    pub b_datap: *mut dblk_t,
    pub b_band: u8,
    pub b_tag: u8,
    pub b_flag: u16,
    pub b_queue: *mut c_void,
}

/// The leading fields of `struct datab`; only read, never allocated here.
#[repr(C)]
pub struct dblk_t {
    pub db_frtnp: *mut c_void,
    pub db_base: *mut u8,
    pub db_lim: *mut u8,
    pub db_ref: u8,
    pub db_type: u8,
}

/// `allocb` priority (ignored by modern illumos, kept for the ABI).
pub const BPRI_HI: c_uint = 3;

extern "C" {
    pub fn mutex_enter(mp: *mut kmutex_t);
    pub fn mutex_exit(mp: *mut kmutex_t);
    pub fn mutex_destroy(mp: *mut kmutex_t);
    pub fn cv_wait(cvp: *mut kcondvar_t, mp: *mut kmutex_t);
    pub fn cv_timedwait_hires(
        cvp: *mut kcondvar_t,
        mp: *mut kmutex_t,
        tim: hrtime_t,
        res: hrtime_t,
        flag: c_int,
    ) -> clock_t;
    pub fn cv_signal(cvp: *mut kcondvar_t);
    pub fn cv_broadcast(cvp: *mut kcondvar_t);
    pub fn cv_destroy(cvp: *mut kcondvar_t);
    pub fn gethrtime() -> hrtime_t;

    pub fn allocb(size: usize, pri: c_uint) -> *mut mblk_t;
    pub fn freeb(mp: *mut mblk_t);
    pub fn freemsg(mp: *mut mblk_t);
    pub fn mac_hcksum_set(
        mp: *mut mblk_t,
        start: u32,
        stuff: u32,
        end: u32,
        value: u32,
        flags: u32,
    );
}

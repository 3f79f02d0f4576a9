//! sys/ksynch.h: kernel mutexes and condition variables.

use super::types::{c_char, c_int, c_ushort, c_void, clock_t, hrtime_t};

/// `kmutex_t`: one opaque pointer-sized word; all-zero is a valid
/// (adaptive, unowned) mutex.
#[repr(C)]
pub struct kmutex_t {
    pub _opaque: [*mut c_void; 1],
}

/// `kcondvar_t`: one opaque short.
#[repr(C)]
pub struct kcondvar_t {
    pub _opaque: c_ushort,
}

pub type kmutex_type_t = c_int;
pub const MUTEX_ADAPTIVE: kmutex_type_t = 0;
pub const MUTEX_DRIVER: kmutex_type_t = 4;
pub const MUTEX_DEFAULT: kmutex_type_t = 6;

pub type kcv_type_t = c_int;
pub const CV_DEFAULT: kcv_type_t = 0;
pub const CV_DRIVER: kcv_type_t = 1;

/// `time_res_t` (sys/time.h) for `cv_reltimedwait`.
pub type time_res_t = c_int;
pub const TR_CLOCK_TICK: time_res_t = 4;

extern "C" {
    pub fn mutex_init(mp: *mut kmutex_t, name: *const c_char, ty: kmutex_type_t, arg: *mut c_void);
    pub fn mutex_destroy(mp: *mut kmutex_t);
    pub fn mutex_enter(mp: *mut kmutex_t);
    pub fn mutex_exit(mp: *mut kmutex_t);
    pub fn mutex_tryenter(mp: *mut kmutex_t) -> c_int;
    pub fn mutex_owned(mp: *const kmutex_t) -> c_int;

    pub fn cv_init(cvp: *mut kcondvar_t, name: *const c_char, ty: kcv_type_t, arg: *mut c_void);
    pub fn cv_destroy(cvp: *mut kcondvar_t);
    pub fn cv_wait(cvp: *mut kcondvar_t, mp: *mut kmutex_t);
    pub fn cv_signal(cvp: *mut kcondvar_t);
    pub fn cv_broadcast(cvp: *mut kcondvar_t);
    /// Waits at most `delta` ticks; returns -1 on timeout, >0 if signalled.
    pub fn cv_reltimedwait(
        cvp: *mut kcondvar_t,
        mp: *mut kmutex_t,
        delta: clock_t,
        res: time_res_t,
    ) -> clock_t;

    pub fn drv_usectohz(us: clock_t) -> clock_t;
    pub fn gethrtime() -> hrtime_t;
}

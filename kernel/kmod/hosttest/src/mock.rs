//! A mock of the few illumos kernel interfaces the backends call.
//!
//! * Mutexes: the `kmutex_t` word holds the owner (a per-thread token),
//!   taken with compare-and-swap and spinning with `yield_now`.
//! * Condition variables: one global generation counter; a waiter drops the
//!   mutex, waits for the generation to move (or the deadline), re-takes
//!   the mutex. Spurious wake-ups are allowed, as with the real ones.
//! * `allocb`: one heap allocation for the mblk, one for the dblk, one for
//!   the data; `freeb` frees one block (honouring `db_ref`), `freemsg` the
//!   `b_cont` list. Live-block and call counters are exposed.

// These are the kernel's C entry points, which take raw pointers by
// definition; the backends under test are their only callers.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use crate::illumos::ffi::{dblk_t, kcondvar_t, kmutex_t, mblk_t};
use std::ffi::{c_int, c_long, c_uint};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub static LIVE_BLOCKS: AtomicI64 = AtomicI64::new(0);
pub static ALLOCB_CALLS: AtomicU64 = AtomicU64::new(0);
pub static HCKSUM_CALLS: AtomicU64 = AtomicU64::new(0);
pub static MUTEX_DESTROYS: AtomicU64 = AtomicU64::new(0);
static CV_GEN: AtomicU64 = AtomicU64::new(0);

fn me() -> usize {
    thread_local!(static TOKEN: u8 = const { 0 });
    TOKEN.with(|t| t as *const u8 as usize)
}

fn word(mp: *mut kmutex_t) -> &'static AtomicUsize {
    // SAFETY: kmutex_t is one pointer-sized, pointer-aligned word, which has
    // the layout of an AtomicUsize; the mutex outlives every call on it.
    unsafe { &*(mp as *const AtomicUsize) }
}

#[no_mangle]
pub extern "C" fn mutex_enter(mp: *mut kmutex_t) {
    let w = word(mp);
    assert_ne!(w.load(Ordering::Relaxed), me(), "recursive mutex_enter");
    while w
        .compare_exchange_weak(0, me(), Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        std::thread::yield_now();
    }
}

#[no_mangle]
pub extern "C" fn mutex_exit(mp: *mut kmutex_t) {
    let w = word(mp);
    assert_eq!(w.load(Ordering::Relaxed), me(), "mutex_exit by non-owner");
    w.store(0, Ordering::Release);
}

#[no_mangle]
pub extern "C" fn mutex_destroy(mp: *mut kmutex_t) {
    assert_eq!(
        word(mp).load(Ordering::Relaxed),
        0,
        "mutex_destroy of a held mutex"
    );
    MUTEX_DESTROYS.fetch_add(1, Ordering::Relaxed);
}

fn wait(mp: *mut kmutex_t, deadline: Option<Instant>) -> bool {
    let gen = CV_GEN.load(Ordering::Acquire);
    mutex_exit(mp);
    let mut timed_out = false;
    while CV_GEN.load(Ordering::Acquire) == gen {
        if let Some(d) = deadline {
            if Instant::now() >= d {
                timed_out = true;
                break;
            }
        }
        std::thread::sleep(Duration::from_micros(50));
    }
    mutex_enter(mp);
    timed_out
}

#[no_mangle]
pub extern "C" fn cv_wait(_cv: *mut kcondvar_t, mp: *mut kmutex_t) {
    wait(mp, None);
}

#[no_mangle]
pub extern "C" fn cv_timedwait_hires(
    _cv: *mut kcondvar_t,
    mp: *mut kmutex_t,
    tim: i64,
    _res: i64,
    flag: c_int,
) -> c_long {
    assert_eq!(flag, 0x2, "the backend passes absolute times");
    let now = gethrtime();
    let deadline = Instant::now() + Duration::from_nanos(tim.saturating_sub(now).max(0) as u64);
    if wait(mp, Some(deadline)) {
        -1
    } else {
        1
    }
}

#[no_mangle]
pub extern "C" fn cv_signal(_cv: *mut kcondvar_t) {
    CV_GEN.fetch_add(1, Ordering::AcqRel);
}

#[no_mangle]
pub extern "C" fn cv_broadcast(_cv: *mut kcondvar_t) {
    CV_GEN.fetch_add(1, Ordering::AcqRel);
}

#[no_mangle]
pub extern "C" fn cv_destroy(_cv: *mut kcondvar_t) {}

#[no_mangle]
pub extern "C" fn gethrtime() -> i64 {
    static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let b = *BASE.get_or_init(Instant::now);
    // Like the kernel's: positive and monotonic.
    b.elapsed().as_nanos() as i64 + 1_000_000
}

/// A mock `allocb`: data, dblk and mblk in three heap blocks.
#[no_mangle]
pub extern "C" fn allocb(size: usize, _pri: c_uint) -> *mut mblk_t {
    ALLOCB_CALLS.fetch_add(1, Ordering::Relaxed);
    let data: &'static mut [u8] = Box::leak(vec![0xa5u8; size].into_boxed_slice());
    let base = data.as_mut_ptr();
    let d = Box::into_raw(Box::new(dblk_t {
        db_frtnp: std::ptr::null_mut(),
        db_base: base,
        // SAFETY: one past the end of the data allocation.
        db_lim: unsafe { base.add(size) },
        db_ref: 1,
        db_type: 0,
    }));
    LIVE_BLOCKS.fetch_add(1, Ordering::Relaxed);
    Box::into_raw(Box::new(mblk_t {
        b_next: std::ptr::null_mut(),
        b_prev: std::ptr::null_mut(),
        b_cont: std::ptr::null_mut(),
        b_rptr: base,
        b_wptr: base,
        b_datap: d,
        b_band: 0,
        b_tag: 0,
        b_flag: 0,
        b_queue: std::ptr::null_mut(),
    }))
}

/// A second message block sharing `mp`'s data (what `dupb` does).
pub fn dupb(mp: *mut mblk_t) -> *mut mblk_t {
    // SAFETY: test-only; mp is a live mock block.
    unsafe {
        (*(*mp).b_datap).db_ref += 1;
        LIVE_BLOCKS.fetch_add(1, Ordering::Relaxed);
        Box::into_raw(Box::new(mblk_t {
            b_next: std::ptr::null_mut(),
            b_prev: std::ptr::null_mut(),
            b_cont: std::ptr::null_mut(),
            b_rptr: (*mp).b_rptr,
            b_wptr: (*mp).b_wptr,
            b_datap: (*mp).b_datap,
            b_band: 0,
            b_tag: 0,
            b_flag: 0,
            b_queue: std::ptr::null_mut(),
        }))
    }
}

#[no_mangle]
pub extern "C" fn freeb(mp: *mut mblk_t) {
    assert!(!mp.is_null(), "freeb(NULL)");
    // SAFETY: mp came from allocb/dupb above and is freed once (the live
    // counter catches double frees as it goes negative).
    unsafe {
        let m = Box::from_raw(mp);
        let d = m.b_datap;
        (*d).db_ref -= 1;
        if (*d).db_ref == 0 {
            let d = Box::from_raw(d);
            let len = d.db_lim as usize - d.db_base as usize;
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                d.db_base, len,
            )));
        }
    }
    let left = LIVE_BLOCKS.fetch_sub(1, Ordering::Relaxed) - 1;
    assert!(left >= 0, "block freed twice");
}

#[no_mangle]
pub extern "C" fn freemsg(mut mp: *mut mblk_t) {
    while !mp.is_null() {
        // SAFETY: a live mock message.
        let next = unsafe { (*mp).b_cont };
        freeb(mp);
        mp = next;
    }
}

#[no_mangle]
pub extern "C" fn mac_hcksum_set(_mp: *mut mblk_t, _a: u32, _b: u32, _c: u32, _d: u32, _e: u32) {
    HCKSUM_CALLS.fetch_add(1, Ordering::Relaxed);
}

// --- kmem ------------------------------------------------------------------
//
// The test binary's global allocator is the module's KmemAlloc, which calls
// these. They sit on libc malloc with a 16-byte header recording the size,
// so kmem_free can check that it gets back exactly what was allocated.

extern "C" {
    fn malloc(n: usize) -> *mut std::ffi::c_void;
    fn free(p: *mut std::ffi::c_void);
}

const KMEM_HDR: usize = 16;
pub static KMEM_LIVE_BYTES: AtomicI64 = AtomicI64::new(0);
pub static KMEM_NOSLEEP_CALLS: AtomicU64 = AtomicU64::new(0);
pub static KMEM_SLEEP_CALLS: AtomicU64 = AtomicU64::new(0);

#[no_mangle]
pub extern "C" fn kmem_alloc(size: usize, flag: c_int) -> *mut std::ffi::c_void {
    if flag & 1 != 0 {
        KMEM_NOSLEEP_CALLS.fetch_add(1, Ordering::Relaxed);
    } else {
        KMEM_SLEEP_CALLS.fetch_add(1, Ordering::Relaxed);
    }
    assert!(size > 0, "kmem_alloc(0)");
    // SAFETY: plain malloc; the header is written inside the block.
    unsafe {
        let p = malloc(size + KMEM_HDR).cast::<u8>();
        if p.is_null() {
            return std::ptr::null_mut();
        }
        p.cast::<usize>().write(size);
        KMEM_LIVE_BYTES.fetch_add(size as i64, Ordering::Relaxed);
        // kmem_alloc guarantees 8-byte alignment; malloc gives 16, and the
        // header keeps it.
        p.add(KMEM_HDR).cast()
    }
}

#[no_mangle]
pub extern "C" fn kmem_zalloc(size: usize, flag: c_int) -> *mut std::ffi::c_void {
    let p = kmem_alloc(size, flag);
    if !p.is_null() {
        // SAFETY: p has `size` writable bytes.
        unsafe { std::ptr::write_bytes(p.cast::<u8>(), 0, size) };
    }
    p
}

#[no_mangle]
pub extern "C" fn kmem_free(p: *mut std::ffi::c_void, size: usize) {
    assert!(!p.is_null(), "kmem_free(NULL)");
    // SAFETY: p came from kmem_alloc above, which put the size 16 bytes
    // before it.
    unsafe {
        let base = p.cast::<u8>().sub(KMEM_HDR);
        let got = base.cast::<usize>().read();
        if got != size {
            // A mismatch is exactly the bug this mock exists to catch; the
            // allocator cannot unwind, so report and abort.
            eprintln!("kmem_free({p:?}, {size}) of a {got}-byte block");
            std::process::abort();
        }
        KMEM_LIVE_BYTES.fetch_sub(size as i64, Ordering::Relaxed);
        free(base.cast());
    }
}

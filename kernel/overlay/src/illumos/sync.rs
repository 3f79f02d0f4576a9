//! `KMutex`, `KCondvar` and `Moment` over `kmutex_t`, `kcondvar_t` and
//! `gethrtime()`.
//!
//! An illumos adaptive mutex is one word (owner and waiter bits) and a
//! condition variable one short; both are valid when zeroed, which is all
//! `mutex_init(MUTEX_DRIVER, NULL)` and `cv_init(CV_DRIVER)` do. So
//! `new()` is a `const fn` that zeroes them, and a value may be moved while
//! nobody holds or waits on it (the guard borrows the mutex, and a waiter
//! borrows both, so Rust forbids moving them while the kernel has their
//! address in a turnstile or sleep queue). Drop calls `mutex_destroy` and
//! `cv_destroy` as a driver's teardown would.

use super::ffi::*;
use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};

/// A `kmutex_t` with the data it protects; see `crate::kmutex`.
pub struct KMutex<T> {
    m: UnsafeCell<kmutex_t>,
    v: UnsafeCell<T>,
}

// SAFETY: the data is only reached through a guard, which exists only while
// the kernel mutex is held, so access is exclusive across threads.
unsafe impl<T: Send> Sync for KMutex<T> {}
// SAFETY: an unheld kmutex_t is a plain word; moving it with its data to
// another thread is fine when the data is Send.
unsafe impl<T: Send> Send for KMutex<T> {}

impl<T: Default> Default for KMutex<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> KMutex<T> {
    pub const fn new(v: T) -> Self {
        KMutex {
            m: UnsafeCell::new(kmutex_t {
                _opaque: [core::ptr::null_mut()],
            }),
            v: UnsafeCell::new(v),
        }
    }

    /// `mutex_enter`: blocks (adaptive spin, then sleep) until held.
    pub fn lock(&self) -> KMutexGuard<'_, T> {
        // SAFETY: `m` is a valid, initialised (zeroed) kmutex_t that does not
        // move while borrowed; the guard calls mutex_exit exactly once.
        unsafe { mutex_enter(self.m.get()) };
        KMutexGuard { lock: self }
    }

    pub fn into_inner(self) -> T {
        let me = core::mem::ManuallyDrop::new(self);
        // SAFETY: we own the mutex and nobody can hold it (we had it by
        // value); destroy it once and move the data out exactly once, then
        // forget `me` so Drop does not run.
        unsafe {
            mutex_destroy(me.m.get());
            core::ptr::read(me.v.get())
        }
    }

    fn raw(&self) -> *mut kmutex_t {
        self.m.get()
    }
}

impl<T> Drop for KMutex<T> {
    fn drop(&mut self) {
        // SAFETY: exclusive access (&mut): the mutex is not held.
        unsafe { mutex_destroy(self.m.get()) };
    }
}

/// Holds a [`KMutex`]; `mutex_exit` on drop.
pub struct KMutexGuard<'a, T> {
    lock: &'a KMutex<T>,
}

impl<T> Deref for KMutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while the mutex is held.
        unsafe { &*self.lock.v.get() }
    }
}

impl<T> DerefMut for KMutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard exists only while the mutex is held, and &mut
        // self makes this the only reference through it.
        unsafe { &mut *self.lock.v.get() }
    }
}

impl<T> Drop for KMutexGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: this thread entered the mutex in lock().
        unsafe { mutex_exit(self.lock.raw()) };
    }
}

/// A `kcondvar_t`; see `crate::kcondvar`.
pub struct KCondvar {
    cv: UnsafeCell<kcondvar_t>,
}

// SAFETY: cv_* are multi-thread safe by design; the cell is only passed to
// them.
unsafe impl Sync for KCondvar {}
// SAFETY: an idle kcondvar_t is a plain short.
unsafe impl Send for KCondvar {}

impl Default for KCondvar {
    fn default() -> Self {
        Self::new()
    }
}

impl KCondvar {
    pub const fn new() -> Self {
        KCondvar {
            cv: UnsafeCell::new(kcondvar_t { _opaque: 0 }),
        }
    }

    /// `cv_wait`: releases the guard's mutex while asleep, re-enters it
    /// before returning. Not interruptible by signals.
    pub fn wait<'a, T>(&self, g: KMutexGuard<'a, T>) -> KMutexGuard<'a, T> {
        // SAFETY: the guard proves this thread holds the mutex; both objects
        // are borrowed (so pinned) for the duration.
        unsafe { cv_wait(self.cv.get(), g.lock.raw()) };
        g
    }

    /// `cv_timedwait_hires` with an absolute deadline; true if it timed out.
    pub fn wait_until<'a, T>(
        &self,
        g: KMutexGuard<'a, T>,
        deadline: Moment,
    ) -> (KMutexGuard<'a, T>, bool) {
        if Moment::now() >= deadline {
            return (g, true);
        }
        let tim = i64::try_from(deadline.as_nanos()).unwrap_or(i64::MAX);
        // SAFETY: as in wait(); resolution 1 ns, absolute time.
        let r = unsafe {
            cv_timedwait_hires(self.cv.get(), g.lock.raw(), tim, 1, CALLOUT_FLAG_ABSOLUTE)
        };
        (g, r < 0)
    }

    pub fn signal(&self) {
        // SAFETY: cv_signal may be called with or without the mutex held.
        unsafe { cv_signal(self.cv.get()) }
    }

    pub fn broadcast(&self) {
        // SAFETY: as signal().
        unsafe { cv_broadcast(self.cv.get()) }
    }
}

impl Drop for KCondvar {
    fn drop(&mut self) {
        // SAFETY: exclusive access: nobody waits on it.
        unsafe { cv_destroy(self.cv.get()) }
    }
}

/// Nanoseconds of `gethrtime()`; see `crate::moment`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Moment(u64);

impl Moment {
    pub fn now() -> Moment {
        // SAFETY: gethrtime has no preconditions; it is callable from any
        // context. It is positive and monotonic after boot.
        let t = unsafe { gethrtime() };
        Moment(u64::try_from(t).unwrap_or(0).max(1))
    }

    pub const fn from_nanos(ns: u64) -> Moment {
        Moment(ns)
    }

    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    pub const fn add_nanos(self, ns: u64) -> Moment {
        Moment(self.0.saturating_add(ns))
    }
}

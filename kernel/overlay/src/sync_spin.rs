//! The fallback backend (neither `std` nor `kernel`): a spin lock, a
//! spinning condition variable and a counting clock. It exists so the
//! driver core builds as plain `no_std`; it is correct but not efficient.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// See [`crate::kmutex`].
#[derive(Default)]
pub struct KMutex<T> {
    locked: AtomicBool,
    v: UnsafeCell<T>,
}

// SAFETY: access to `v` is serialised by `locked`, as for any mutex.
unsafe impl<T: Send> Send for KMutex<T> {}
// SAFETY: as above; only one guard exists at a time.
unsafe impl<T: Send> Sync for KMutex<T> {}

/// The guard of a [`KMutex`].
pub struct KMutexGuard<'a, T> {
    m: &'a KMutex<T>,
}

impl<T> KMutex<T> {
    pub const fn new(v: T) -> Self {
        KMutex {
            locked: AtomicBool::new(false),
            v: UnsafeCell::new(v),
        }
    }

    pub fn lock(&self) -> KMutexGuard<'_, T> {
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        KMutexGuard { m: self }
    }

    pub fn into_inner(self) -> T {
        self.v.into_inner()
    }
}

impl<T> Deref for KMutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves we hold the lock.
        unsafe { &*self.m.v.get() }
    }
}

impl<T> DerefMut for KMutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves we hold the lock exclusively.
        unsafe { &mut *self.m.v.get() }
    }
}

impl<T> Drop for KMutexGuard<'_, T> {
    fn drop(&mut self) {
        self.m.locked.store(false, Ordering::Release);
    }
}

/// See [`crate::kcondvar`]. Waiting releases the lock, spins until a
/// signal generation change (or the deadline), and re-takes it.
#[derive(Default)]
pub struct KCondvar {
    gen: AtomicUsize,
}

impl KCondvar {
    pub const fn new() -> Self {
        KCondvar {
            gen: AtomicUsize::new(0),
        }
    }

    pub fn wait<'a, T>(&self, g: KMutexGuard<'a, T>) -> KMutexGuard<'a, T> {
        let m = g.m;
        let start = self.gen.load(Ordering::Acquire);
        drop(g);
        while self.gen.load(Ordering::Acquire) == start {
            core::hint::spin_loop();
        }
        m.lock()
    }

    pub fn wait_until<'a, T>(
        &self,
        g: KMutexGuard<'a, T>,
        deadline: Moment,
    ) -> (KMutexGuard<'a, T>, bool) {
        let m = g.m;
        let start = self.gen.load(Ordering::Acquire);
        drop(g);
        loop {
            if self.gen.load(Ordering::Acquire) != start {
                return (m.lock(), false);
            }
            if Moment::now() >= deadline {
                return (m.lock(), true);
            }
            core::hint::spin_loop();
        }
    }

    pub fn signal(&self) {
        self.gen.fetch_add(1, Ordering::Release);
    }

    pub fn broadcast(&self) {
        self.gen.fetch_add(1, Ordering::Release);
    }
}

/// See [`crate::moment`]: advances 1 µs per reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Moment(u64);

static CLOCK: AtomicU64 = AtomicU64::new(1);

impl Moment {
    pub fn now() -> Moment {
        Moment(CLOCK.fetch_add(1000, Ordering::Relaxed))
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

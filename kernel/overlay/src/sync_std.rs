//! The `std` backend of `KMutex`, `KCondvar` and `Moment`.

use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// See [`crate::kmutex`].
#[derive(Debug, Default)]
pub struct KMutex<T>(Mutex<T>);

/// The guard of a [`KMutex`].
pub type KMutexGuard<'a, T> = MutexGuard<'a, T>;

impl<T> KMutex<T> {
    pub const fn new(v: T) -> Self {
        KMutex(Mutex::new(v))
    }

    pub fn lock(&self) -> KMutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn into_inner(self) -> T {
        self.0.into_inner().unwrap_or_else(|p| p.into_inner())
    }
}

/// See [`crate::kcondvar`].
#[derive(Debug, Default)]
pub struct KCondvar(Condvar);

impl KCondvar {
    pub const fn new() -> Self {
        KCondvar(Condvar::new())
    }

    pub fn wait<'a, T>(&self, g: KMutexGuard<'a, T>) -> KMutexGuard<'a, T> {
        self.0.wait(g).unwrap_or_else(|p| p.into_inner())
    }

    /// Wait until signalled or `deadline` passes; true if it timed out.
    pub fn wait_until<'a, T>(
        &self,
        g: KMutexGuard<'a, T>,
        deadline: Moment,
    ) -> (KMutexGuard<'a, T>, bool) {
        let now = Moment::now();
        if now >= deadline {
            return (g, true);
        }
        let d = Duration::from_nanos(deadline.0 - now.0);
        let (g, r) = self.0.wait_timeout(g, d).unwrap_or_else(|p| p.into_inner());
        (g, r.timed_out())
    }

    pub fn signal(&self) {
        self.0.notify_one();
    }

    pub fn broadcast(&self) {
        self.0.notify_all();
    }
}

/// See [`crate::moment`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Moment(u64);

impl Moment {
    pub fn now() -> Moment {
        static BASE: OnceLock<Instant> = OnceLock::new();
        let base = *BASE.get_or_init(Instant::now);
        // Offset by 1 so a real moment is never 0 ("never set").
        Moment(base.elapsed().as_nanos() as u64 + 1)
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

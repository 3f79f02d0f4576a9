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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timed_wait_times_out_and_wakes() {
        let m = KMutex::new(0u32);
        let cv = KCondvar::new();
        let t = Moment::now();
        let (g, to) = cv.wait_until(m.lock(), t.add_nanos(50_000_000));
        assert!(to);
        assert_eq!(*g, 0);
        drop(g);
        assert!(Moment::now().as_nanos() - t.as_nanos() >= 50_000_000);
        // A deadline in the past returns at once.
        let (g, to) = cv.wait_until(m.lock(), Moment::from_nanos(1));
        assert!(to);
        drop(g);
        let m = std::sync::Arc::new(m);
        let cv = std::sync::Arc::new(cv);
        let (m2, cv2) = (m.clone(), cv.clone());
        let th = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            *m2.lock() = 1;
            cv2.broadcast();
        });
        let mut g = m.lock();
        let deadline = Moment::now().add_nanos(5_000_000_000);
        while *g == 0 {
            let (ng, to) = cv.wait_until(g, deadline);
            g = ng;
            assert!(!to);
        }
        drop(g);
        th.join().unwrap();
    }

    #[test]
    fn moment_is_monotonic_and_nonzero() {
        let a = Moment::now();
        let b = Moment::now();
        assert!(a.as_nanos() > 0 && b >= a);
        assert_eq!(
            Moment::from_nanos(u64::MAX).add_nanos(5).as_nanos(),
            u64::MAX
        );
    }
}

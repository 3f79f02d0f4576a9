//! The lock that gives one thread at a time a TAP's transmit side.
//!
//! Theory of operation: a VNIC's frames must leave in the order they were
//! read from its TAP, and two threads read a TAP: its reader thread, and
//! an underlay receive thread that has just written to it and takes the
//! replies the write produced (`crate::mac`). Whoever reads holds this
//! lock from before the read until what it read has been sent.
//!
//! The receive thread takes it with [`TxLock::try_lock`], only if it is
//! free, *before* its first write of a batch (the write wakes the reader
//! thread, which on an idle CPU would otherwise read the reply first),
//! and releases it at the end of the batch, after sending the replies,
//! through a [`TxGuard`] it adopts ([`TxGuard::adopt`]). The reader
//! thread waits for it in [`TxLock::lock`]: it spins for a few
//! microseconds first (the holder is running and about to release), then
//! sleeps in a futex wait. The word is 0 (free), 1 (held) or 2 (held, and a thread may wait), the
//! classic three-state futex mutex, so an uncontended release makes no
//! system call.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long [`TxLock::lock`] spins before it sleeps.
pub const SPIN: Duration = Duration::from_micros(20);

/// A lock word with a futex for the waiters.
#[derive(Debug, Default)]
pub struct TxLock {
    state: AtomicU32,
}

impl TxLock {
    /// Takes the lock if it is free; true if taken.
    pub fn try_lock(&self) -> bool {
        self.state
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Takes the lock, waiting for it; released when the guard drops.
    /// A holder keeps it for a few microseconds (one read and send), so
    /// the waiter spins for up to [`SPIN`] before it sleeps in the
    /// kernel: a futex wait and the holder's wake would cost more than
    /// the wait itself, and a wake-up more on the VNIC's path.
    pub fn lock(&self) -> TxGuard<'_> {
        if self.try_lock() || self.spin() {
            return TxGuard(self);
        }
        {
            while self.state.swap(2, Ordering::Acquire) != 0 {
                self.futex(libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG, 2);
            }
        }
        TxGuard(self)
    }

    /// Spins until the lock is taken (true) or [`SPIN`] has passed.
    fn spin(&self) -> bool {
        let t0 = Instant::now();
        loop {
            for _ in 0..64 {
                std::hint::spin_loop();
                if self.state.load(Ordering::Relaxed) == 0 && self.try_lock() {
                    return true;
                }
            }
            if t0.elapsed() >= SPIN {
                return false;
            }
        }
    }

    /// Releases the lock taken by [`TxLock::try_lock`] (or a guard's).
    pub fn unlock(&self) {
        if self.state.swap(0, Ordering::Release) == 2 {
            self.futex(libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, 1);
        }
    }

    fn futex(&self, op: libc::c_int, val: u32) {
        // SAFETY: the futex word is our AtomicU32, valid and aligned for
        // the call; FUTEX_WAIT (no timeout) and FUTEX_WAKE read no other
        // pointer. EINTR or EAGAIN simply make the caller look again.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                self.state.as_ptr(),
                op,
                val,
                std::ptr::null::<libc::timespec>(),
            );
        }
    }
}

/// Holds a [`TxLock`] until dropped.
#[derive(Debug)]
pub struct TxGuard<'a>(&'a TxLock);

impl<'a> TxGuard<'a> {
    /// Takes over a lock this thread took with [`TxLock::try_lock`].
    pub fn adopt(l: &'a TxLock) -> TxGuard<'a> {
        TxGuard(l)
    }
}

impl Drop for TxGuard<'_> {
    fn drop(&mut self) {
        self.0.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn try_lock_excludes_and_unlock_frees() {
        let l = TxLock::default();
        assert!(l.try_lock());
        assert!(!l.try_lock());
        l.unlock();
        let g = l.lock();
        assert!(!l.try_lock());
        drop(g);
        assert!(l.try_lock());
        l.unlock();
    }

    /// Threads adding under the lock, some blocking, some trying: no
    /// increment is lost, and a waiter is woken by a try_lock holder's
    /// unlock.
    #[test]
    fn mutual_exclusion_under_contention() {
        let l = Arc::new(TxLock::default());
        let n = Arc::new(AtomicU32::new(0));
        let hs: Vec<_> = (0..4)
            .map(|t| {
                let (l, n) = (Arc::clone(&l), Arc::clone(&n));
                std::thread::spawn(move || {
                    let mut done = 0;
                    while done < 20_000 {
                        let held = if t % 2 == 0 {
                            std::mem::forget(l.lock());
                            true
                        } else {
                            l.try_lock()
                        };
                        if held {
                            // A non-atomic read-modify-write, made safe
                            // only by the lock.
                            let v = n.load(Ordering::Relaxed);
                            n.store(v + 1, Ordering::Relaxed);
                            l.unlock();
                            done += 1;
                        }
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(n.load(Ordering::Relaxed), 80_000);
    }
}

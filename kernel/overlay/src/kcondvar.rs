//! `KCondvar`: the driver's condition variable (illumos `kcondvar_t`),
//! chosen at compile time; it waits on a [`crate::kmutex::KMutexGuard`].
//!
//! Used for: the device's in-flight I/O quiesce (stop waits for TX/RX to
//! drain), the target's outstanding-request count (delete waits for it to
//! reach zero), and the global lookup queue (LOOKUP waits at most 1 s,
//! `wait_until`). The backend contract is documented in [`crate::kmutex`].

#[cfg(feature = "std")]
pub use crate::sync_std::KCondvar;

#[cfg(all(feature = "kernel", not(feature = "std")))]
pub use crate::illumos::sync::KCondvar;

#[cfg(not(any(feature = "std", feature = "kernel")))]
pub use crate::sync_spin::KCondvar;

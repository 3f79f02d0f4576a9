//! `KMutex<T>`: the driver's mutex (illumos `kmutex_t` with the data it
//! protects), chosen at compile time.
//!
//! Backends:
//! * feature `std`: `std::sync::Mutex` (poisoning ignored: a panicking
//!   holder cannot leave driver state half-updated in a way we could repair).
//! * feature `kernel` without `std`: `crate::illumos::sync` (owned by the
//!   kmod engineer), over `mutex_init(MUTEX_DRIVER)`/`mutex_enter`/`mutex_exit`.
//! * neither: a spin lock, so the crate still builds `--no-default-features`.
//!
//! A backend provides, with exactly these names:
//! * `pub struct KMutex<T>` — `Send + Sync` when `T: Send`;
//!   `pub const fn new(v: T) -> Self` (or non-const) and
//!   `pub fn lock(&self) -> KMutexGuard<'_, T>`;
//!   `pub fn into_inner(self) -> T`.
//! * `pub struct/type KMutexGuard<'a, T>`: `Deref<Target = T> + DerefMut`,
//!   releasing the mutex on drop.
//! * `pub struct KCondvar`: `new()`, `wait<'a, T>(&self, g: KMutexGuard<'a, T>)
//!   -> KMutexGuard<'a, T>` (cv_wait), `wait_until<'a, T>(&self, g, deadline:
//!   Moment) -> (KMutexGuard<'a, T>, bool /*timed out*/)` (cv_timedwait_hires,
//!   not signal-interruptible), `signal(&self)`, `broadcast(&self)`.
//! * `pub struct Moment` (see [`crate::moment`]).

#[cfg(feature = "std")]
pub use crate::sync_std::{KMutex, KMutexGuard};

#[cfg(all(feature = "kernel", not(feature = "std")))]
pub use crate::illumos::sync::{KMutex, KMutexGuard};

#[cfg(not(any(feature = "std", feature = "kernel")))]
pub use crate::sync_spin::{KMutex, KMutexGuard};

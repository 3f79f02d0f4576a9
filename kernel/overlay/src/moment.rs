//! `Moment`: a point in monotonic time in nanoseconds (illumos `hrtime_t`
//! from `gethrtime()`), chosen at compile time.
//!
//! A backend provides `pub struct Moment` (`Copy + Ord + Debug`) with
//! `pub fn now() -> Moment`, `pub fn from_nanos(ns: u64) -> Moment`,
//! `pub fn as_nanos(self) -> u64` and
//! `pub fn add_nanos(self, ns: u64) -> Moment` (saturating). The `std`
//! backend counts from the first call in the process; the kernel backend is
//! `gethrtime()`; the fallback (no std, no kernel) is a counter that advances
//! by one microsecond per call, enough for timed waits to terminate.

#[cfg(feature = "std")]
pub use crate::sync_std::Moment;

#[cfg(all(feature = "kernel", not(feature = "std")))]
pub use crate::illumos::sync::Moment;

#[cfg(not(any(feature = "std", feature = "kernel")))]
pub use crate::sync_spin::Moment;

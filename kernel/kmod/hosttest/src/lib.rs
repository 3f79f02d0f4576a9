//! Host tests of the kernel backends of the driver's synonym types
//! (`kernel/overlay/src/illumos`: `KMutex`, `KCondvar`, `Moment`, `MsgBlk`,
//! `MsgBlkChain`).
//!
//! The backends call illumos kernel functions (`mutex_enter`, `allocb`,
//! `freemsg`, ...). Here those symbols are defined by [`mock`] with the
//! same ABI and the same observable behaviour on the structures the
//! backends touch (`b_rptr`/`b_wptr`/`b_cont`/`b_next`, `db_base`/`db_lim`/
//! `db_ref`), plus counters so the tests can prove every block is freed
//! exactly once. The backend sources are compiled into this crate with
//! `#[path]`, exactly as they are, so the tests exercise the real code
//! without the rest of the driver.
//!
//! Run by `cargo xtask test` (`cargo test --manifest-path
//! kernel/kmod/hosttest/Cargo.toml`).

#[path = "../../../overlay/src/illumos/mod.rs"]
pub mod illumos;

pub mod mock;

#[cfg(test)]
mod tests;

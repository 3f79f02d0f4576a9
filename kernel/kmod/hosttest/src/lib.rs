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
//! The same way, the kernel module's `GlobalAlloc` over `kmem_alloc` (with
//! its over-alignment scheme) becomes this test binary's allocator, over a
//! mock `kmem_alloc` that checks every `kmem_free` passes back exactly the
//! pointer and size it handed out; and its `LogBuf` is tested directly.
//!
//! Run by `cargo xtask test` (`cargo test --manifest-path
//! kernel/kmod/hosttest/Cargo.toml`).

#[path = "../../../overlay/src/illumos/mod.rs"]
pub mod illumos;

// The kernel module's own pure pieces, with the FFI they name: the kmem
// global allocator (which thereby serves this whole test binary, over the
// mock kmem_alloc), the cmn_err message buffer, and the TPI framing of
// received datagrams.
#[path = "../../src/sys/kmem.rs"]
pub mod sys_kmem;
// The module and the driver backends each declare the STREAMS functions
// with their own (identical) mblk_t; in the kernel object they are separate
// crates, here they meet in one.
#[path = "../../src/sys/stream.rs"]
#[allow(non_camel_case_types, dead_code, clashing_extern_declarations)]
pub mod sys_stream;
#[path = "../../src/sys/types.rs"]
#[allow(non_camel_case_types, unused_imports)]
pub mod types;
pub mod sys {
    pub use crate::sys_kmem as kmem;
    pub use crate::sys_stream as stream;
}
#[path = "../../src/kmem.rs"]
pub mod kmem;
#[path = "../../src/logbuf.rs"]
pub mod logbuf;
#[path = "../../src/tpi.rs"]
pub mod tpi;

pub mod mock;

pub mod ksys;

#[cfg(test)]
mod kconst;
#[cfg(test)]
mod tests;

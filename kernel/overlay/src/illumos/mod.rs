//! Kernel backends of the driver's synonym types (feature `kernel`).
//!
//! Compiled only into the illumos kernel object (`kernel/kmod`), never into
//! anything userland links: the FFI in [`ffi`] names symbols that exist only
//! inside the illumos kernel.
//!
//! * [`sync`]: `KMutex<T>`/`KMutexGuard` over `kmutex_t`
//!   (`mutex_enter`/`mutex_exit`), `KCondvar` over `kcondvar_t` (`cv_wait`,
//!   `cv_timedwait_hires`), `Moment` over `gethrtime()`.
//! * [`msgblk`]: `MsgBlk`/`MsgBlkChain` over real `mblk_t` messages
//!   (`allocb`, `freemsg`, `b_cont`, `b_next`), with `from_raw`/`into_raw`
//!   so the module can pass them to and from MAC and ksocket.
//!
//! [`ffi`] is public: the kernel module's `sys::stream` re-exports its
//! `mblk_t`/`dblk_t` and STREAMS functions, so the whole kernel object has
//! one declaration of each.
//!
//! The contracts the backends meet are documented in `crate::kmutex` and
//! `crate::msgblk`.

pub mod ffi;
pub mod msgblk;
pub mod sync;

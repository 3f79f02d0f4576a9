//! The illumos `overlay` kernel module.
//!
//! # Theory of operation
//!
//! This crate is the thin layer between the illumos kernel and the driver
//! core (crate `overlay`, built with feature `kernel`). It is linked as a
//! `staticlib`, turned into one relocatable object by `cargo xtask kmod`
//! (`ld -r --whole-archive`) and, on an illumos build host, into a kernel
//! module with `ld -ztype=kmod` (see docs/illumos.md). It owns, as
//! `overlay.c` does in illumos-gate:
//!
//! * module linkage: `_init`/`_info`/`_fini`, `modlinkage`/`modldrv`
//!   ([`modlinkage`]);
//! * the device: `dev_ops`/`cb_ops`, attach/detach creating the `overlay`
//!   minor node, FMA registration, and the dld registration of the eight
//!   `OVERLAY_IOC` management ioctls ([`dev`], [`dld`]);
//! * `/dev/overlay` open/close/ioctl for varpd, with clone minors and the
//!   copyin/copyout rules of the target ioctls ([`target`]);
//! * the hosting services the driver core asks for through its `Platform`
//!   trait: GLDv3 MAC registration and callbacks ([`mac`]), the ksocket UDP
//!   underlay ([`ksock`]), FMA service impact;
//! * kernel memory: a `GlobalAlloc` over `kmem_alloc`/`kmem_free`
//!   ([`kmem`]) and a panic handler that logs and panics the system
//!   ([`panic`]).
//!
//! All FFI is hand-written in [`sys`], one module per illumos header; every
//! `unsafe` block says why it is sound. Nothing in this crate is linked into
//! userland.
#![no_std]
#![allow(clippy::missing_safety_doc)]

extern crate alloc;

pub mod cell;
pub mod dev;
pub mod dld;
pub mod glue;
pub mod kmem;
pub mod ksock;
pub mod log;
pub mod logbuf;
pub mod mac;
pub mod modlinkage;
pub mod panic;
pub mod platform;
pub mod sys;
pub mod target;
pub mod tpi;

// The driver core; its `crate::illumos` module supplies the kernel
// backends of the synonym types (KMutex, KCondvar, Moment, MsgBlk).
pub use overlay;
// Its kernel backends' FFI, as `crate::illumos::ffi`: `sys::stream` takes
// `mblk_t` and the STREAMS calls from there (the same path resolves in
// kernel/kmod/hosttest, which compiles both files into one crate).
use overlay::illumos;

//! The illumos overlay ABI (`sys/overlay.h`, `sys/overlay_common.h`,
//! `sys/overlay_target.h`, `sys/overlay_plugin.h`, `sys/vxlan.h`): ioctl
//! numbers, `#[repr(C)]` structures with amd64 size and offset assertions,
//! constants, the property-value encodings, the two ioctl command tables,
//! and the illumos errno numbers and messages.
//!
//! Struct and constant names are illumos' own, so a reader of the C headers
//! finds each at once. Every struct implements [`Pod`]: a safe byte view
//! (`as_bytes`) and a checked read from bytes (`from_bytes`); `Default` is
//! all-zero.
#![no_std]
#![allow(non_camel_case_types)]

pub mod consts;
pub mod errno;
pub mod fk;
pub mod ioc;
pub mod pod;
pub mod propval;
pub mod target;

pub use consts::*;
pub use ioc::*;
pub use pod::{cstr_bytes, set_cstr, Pod};
pub use propval::*;
pub use target::*;

//! The illumos overlay ABI (`sys/overlay.h`, `sys/overlay_common.h`,
//! `sys/overlay_target.h`, `sys/vxlan.h`): ioctl numbers, `#[repr(C)]`
//! structures with amd64 size and offset assertions, and constants.
#![no_std]
pub mod fk;

//! Hand-written FFI to the illumos kernel, one module per header.
//!
//! Only what this module uses is declared, with the layouts of the amd64
//! (LP64) kernel. Structures the kernel allocates for us (`mac_register_t`)
//! or that we hand it (`dev_ops`, `cb_ops`, `modlinkage`, `dld_ioc_info_t`,
//! `mac_callbacks_t`) are `#[repr(C)]` copies of the header definitions;
//! everything else is an opaque pointer. Nothing here is safe to call
//! directly: the wrappers in the rest of the crate state each call's
//! preconditions.
//!
//! These symbols exist only inside the illumos kernel; no crate that
//! userland links may declare them.

#![allow(non_camel_case_types)]

pub mod cmn_err;
pub mod cred;
pub mod ddi;
pub mod ddifm;
pub mod dld_ioc;
pub mod dls;
pub mod kmem;
pub mod ksocket;
pub mod ksynch;
pub mod mac;
pub mod modctl;
pub mod policy;
pub mod stream;
pub mod types;

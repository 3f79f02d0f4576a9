//! The kernel module's FFI declarations (`kernel/kmod/src/sys`), compiled
//! for the build host so the tests can pin every constant the module
//! passes to the illumos kernel (see `tests::kconst`). Nothing here is
//! called: the functions are only declared.

#![allow(
    non_camel_case_types,
    dead_code,
    unused_imports,
    clashing_extern_declarations
)]

#[path = "../../src/sys/types.rs"]
pub mod types;

#[path = "../../src/sys/cmn_err.rs"]
pub mod cmn_err;
#[path = "../../src/sys/cred.rs"]
pub mod cred;
#[path = "../../src/sys/ddi.rs"]
pub mod ddi;
#[path = "../../src/sys/ddifm.rs"]
pub mod ddifm;
#[path = "../../src/sys/dld_ioc.rs"]
pub mod dld_ioc;
#[path = "../../src/sys/dls.rs"]
pub mod dls;
#[path = "../../src/sys/kmem.rs"]
pub mod kmem;
#[path = "../../src/sys/ksocket.rs"]
pub mod ksocket;
#[path = "../../src/sys/ksynch.rs"]
pub mod ksynch;
#[path = "../../src/sys/mac.rs"]
pub mod mac;
#[path = "../../src/sys/modctl.rs"]
pub mod modctl;
#[path = "../../src/sys/policy.rs"]
pub mod policy;
#[path = "../../src/sys/stream.rs"]
pub mod stream;

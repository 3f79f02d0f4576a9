//! `cargo xtask test`'s illumos compile check.
//!
//! Every userland crate has `cfg(target_os = "illumos")` code: the real
//! `/dev/dld` and `/dev/overlay` ioctls, doors, privileges. Nothing on a
//! Linux CI machine runs that code, so the least we do is compile it:
//! `cargo check --target x86_64-unknown-illumos` of each crate userland
//! links (no linking, so no illumos sysroot is needed; only the rustup
//! target's standard library). `--keep-going` reports every broken crate,
//! not just the first.

use crate::util::{cargo, run, Result};

/// The rustup target the check uses.
pub const TARGET: &str = "x86_64-unknown-illumos";

/// The crates userland links on illumos.
pub const USERLAND: &[&str] = &[
    "overlay-sys",
    "overlay-daemon",
    "libvarpd",
    "varpd",
    "dladm-overlay",
    "svp-proto",
    "portolan",
];

pub fn check() -> Result {
    let mut cmd = cargo();
    cmd.args(["check", "--keep-going", "--target", TARGET]);
    for p in USERLAND {
        cmd.args(["-p", p]);
    }
    // Lints are clippy's job on the host; here only compilation matters.
    cmd.env_remove("RUSTFLAGS");
    // portolan's bundled SQLite is C: without an illumos cross compiler the
    // host's gcc compiles it (objects only, nothing is linked).
    for (k, v) in [
        ("CC_x86_64_unknown_illumos", "gcc"),
        ("AR_x86_64_unknown_illumos", "ar"),
    ] {
        if std::env::var_os(k).is_none() {
            cmd.env(k, v);
        }
    }
    run(&mut cmd).map_err(|e| {
        format!(
            "illumos compile check ({}) failed: {e}",
            USERLAND.join(", ")
        )
    })
}

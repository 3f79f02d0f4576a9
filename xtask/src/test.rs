//! `cargo xtask test`: the full check. Installs what it needs, then runs every
//! step in order and stops at the first failure.

use crate::setup;
use crate::util::{cargo, run as sh, Result};

pub fn run(_args: &[String]) -> Result {
    setup::ensure_all()?;
    // Formatting and lints.
    sh(cargo().args(["fmt", "--all", "--", "--check"]))?;
    sh(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The driver core must build without std.
    sh(cargo().args(["build", "-p", "overlay", "--no-default-features"]))?;
    // The daemons and dladm, which the end-to-end tests run.
    sh(cargo().args(["build", "--release", "--workspace", "--bins"]))?;
    // The illumos side: every userland crate compiles for illumos, and the
    // kernel object builds and passes its checks.
    crate::illumos::check()?;
    crate::kmod::build()?;
    crate::kmod::host_tests()?;
    // Every test in the workspace. Tests that need root fail without it (CI is
    // root) unless OVERLAY_TESTS_ALLOW_SKIP=1 is set.
    sh(cargo().args(["test", "--workspace", "--release"]))?;
    // Every fuzz target, briefly (replaying tests/fuzz/regressions first).
    crate::setup::ensure_cargo_fuzz()?;
    crate::fuzz::fuzz(crate::fuzz::TARGETS, crate::fuzz::QUICK_SECONDS)?;
    Ok(())
}

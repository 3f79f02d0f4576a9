//! `cargo xtask test`: the full check. Installs what it needs, then runs every
//! step in order and stops at the first failure.

use crate::setup;
use crate::util::{cargo, run as sh, Result};

pub fn run(_args: &[String]) -> Result {
    setup::ensure_all()?;
    reachable_target_dir()?;
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

/// Some tests run this build's binaries as an unprivileged user (uid 65534)
/// to show they are refused. That user must be able to reach them: if the
/// target directory sits below a directory others cannot enter (a checkout
/// in `/root`, say), build in a world-traversable one instead.
fn reachable_target_dir() -> Result {
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::util::root().join("target"));
    let blocked = target.ancestors().skip(1).any(|d: &Path| {
        std::fs::metadata(d)
            .map(|m| m.permissions().mode() & 0o001 == 0)
            .unwrap_or(false)
    });
    if !blocked {
        return Ok(());
    }
    let alt = PathBuf::from("/var/tmp/overlay-target");
    std::fs::create_dir_all(&alt).map_err(|e| format!("{}: {e}", alt.display()))?;
    std::fs::set_permissions(&alt, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("{}: {e}", alt.display()))?;
    eprintln!(
        "xtask: {} is not reachable by other users (tests run binaries as uid 65534); building in {}",
        target.display(),
        alt.display()
    );
    // Set before any child is spawned; every cargo below inherits it.
    std::env::set_var("CARGO_TARGET_DIR", &alt);
    Ok(())
}

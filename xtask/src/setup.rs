//! Installs what the checks need on a fresh machine: rustup components and
//! targets, and Debian packages.

use crate::util::{self, run, Result};
use std::process::Command;

/// Debian packages the checks use (netns tests, captures, peers, outer-ECN
/// marking with nftables, XML, and
/// the PostgreSQL server the portolan tests run private clusters of).
pub const APT_PACKAGES: &[&str] = &[
    "iproute2",
    "iputils-ping",
    "libxml2-utils",
    "tshark",
    "nftables",
    "iperf3",
    "binutils",
    "postgresql",
];

/// rustup components on the stable toolchain.
const COMPONENTS: &[&str] = &["rustfmt", "clippy"];

pub fn ensure_all() -> Result {
    let out = Command::new("rustup")
        .args(["component", "list", "--installed"])
        .output()
        .map_err(|e| format!("rustup: {e}"))?;
    let installed = String::from_utf8_lossy(&out.stdout).into_owned();
    for c in COMPONENTS {
        if !installed.lines().any(|l| l.starts_with(c)) {
            run(Command::new("rustup").args(["component", "add", c]))?;
        }
    }
    ensure_illumos_toolchains()?;
    ensure_apt(APT_PACKAGES)
}

/// The illumos builds: the rustup target `x86_64-unknown-illumos` (for the
/// userland compile check) and the `nightly` toolchain with `rust-src` (for
/// `-Z build-std` of the kernel object, `cargo xtask kmod`).
pub fn ensure_illumos_toolchains() -> Result {
    let listed = |args: &[&str]| -> String {
        Command::new("rustup")
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let targets = listed(&["target", "list", "--installed"]);
    if !targets.lines().any(|l| l.trim() == crate::illumos::TARGET) {
        run(Command::new("rustup").args(["target", "add", crate::illumos::TARGET]))?;
    }
    let toolchains = listed(&["toolchain", "list"]);
    if !toolchains.lines().any(|l| l.starts_with("nightly")) {
        run(Command::new("rustup").args([
            "toolchain",
            "install",
            "nightly",
            "--profile",
            "minimal",
            "--component",
            "rust-src",
        ]))?;
    }
    let nightly = listed(&["component", "list", "--installed", "--toolchain", "nightly"]);
    if !nightly.lines().any(|l| l.starts_with("rust-src")) {
        run(Command::new("rustup").args([
            "component",
            "add",
            "rust-src",
            "--toolchain",
            "nightly",
        ]))?;
    }
    Ok(())
}

/// `cargo fuzz` (for `cargo xtask fuzz`, run on the nightly toolchain):
/// installed with `cargo install cargo-fuzz --locked` if missing.
pub fn ensure_cargo_fuzz() -> Result {
    ensure_illumos_toolchains()?;
    let have = Command::new("rustup")
        .args(["run", "nightly", "cargo", "fuzz", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if have {
        return Ok(());
    }
    run(Command::new("rustup").args([
        "run",
        "nightly",
        "cargo",
        "install",
        "cargo-fuzz",
        "--locked",
    ]))
}

/// Installs the missing packages of `pkgs` with apt-get (root only).
pub fn ensure_apt(pkgs: &[&str]) -> Result {
    let missing: Vec<&str> = pkgs
        .iter()
        .copied()
        .filter(|p| {
            !Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", p])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
                .unwrap_or(false)
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !util::is_root() {
        return Err(format!(
            "missing packages {missing:?}; run as root so they can be installed"
        ));
    }
    if missing.contains(&"postgresql") {
        no_main_pg_cluster()?;
    }
    run(Command::new("apt-get").arg("update").arg("-q"))?;
    let mut cmd = Command::new("apt-get");
    cmd.args(["install", "-y", "-q", "--no-install-recommends"])
        .args(&missing);
    cmd.env("DEBIAN_FRONTEND", "noninteractive");
    run(&mut cmd)
}

/// The tests start private PostgreSQL clusters of their own (initdb in a
/// temp dir, a free port, see `tests/pgtest`) and use nothing of the
/// system's. Debian's package would create and start a `main` cluster on
/// port 5432: tell postgresql-common not to, before the package is
/// installed (its `createcluster.conf` includes `createcluster.d/`).
fn no_main_pg_cluster() -> Result {
    let dir = std::path::Path::new("/etc/postgresql-common/createcluster.d");
    let file = dir.join("overlay-tests.conf");
    if file.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::write(
        &file,
        "# The overlay tests run their own clusters; no system cluster.\n\
         create_main_cluster = false\n",
    )
    .map_err(|e| format!("{}: {e}", file.display()))
}

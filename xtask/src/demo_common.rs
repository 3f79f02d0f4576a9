//! What both demos (`cargo xtask demo` and `cargo xtask demo --fabric`)
//! share: the external programs they run, with the Debian packages that
//! provide them ([`TOOLS`]; every exec goes through [`tool`], so the unit
//! test below can prove the list covers them all), this build's binaries,
//! the processes of a namespace (for teardown), progress messages and the
//! Ctrl-C flag that stops a demo between steps (its teardown still runs);
//! and the seed's `create-overlay` command, which the bench runs too.

use crate::util::{root, Result};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

/// The seed's overlay, as the demo and the bench create it: `dladm
/// create-overlay -e vxlan -s direct -p vxlan/listen_ip=LISTEN -p
/// direct/dest_ip=DEST -p direct/dest_port=4789 -v 23 demo0`, the
/// arguments after `dladm`.
pub fn seed_create_overlay(listen: &str, dest: &str) -> Vec<String> {
    let listen = format!("vxlan/listen_ip={listen}");
    let dest = format!("direct/dest_ip={dest}");
    [
        "create-overlay",
        "-e",
        "vxlan",
        "-s",
        "direct",
        "-p",
        &listen,
        "-p",
        &dest,
        "-p",
        "direct/dest_port=4789",
        "-v",
        "23",
        "demo0",
    ]
    .map(String::from)
    .to_vec()
}

/// Every program the demos exec besides cargo and the binaries they build,
/// with the Debian package providing it: `(program, package)`.
pub const TOOLS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("ping", "iputils-ping"),
    ("env", "coreutils"),
];

/// The name of an external program a demo runs; it must be in [`TOOLS`]
/// (the unit tests check every call).
pub(crate) fn tool(prog: &'static str) -> &'static str {
    debug_assert!(
        TOOLS.iter().any(|(p, _)| *p == prog),
        "{prog} is not in demo_common::TOOLS"
    );
    prog
}

/// The Debian packages of [`TOOLS`], each once.
pub fn packages() -> Vec<&'static str> {
    let mut v: Vec<&str> = TOOLS.iter().map(|(_, pkg)| *pkg).collect();
    v.sort_unstable();
    v.dedup();
    v
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Makes Ctrl-C set the flag [`check_interrupt`] reads instead of killing
/// the demo before its teardown.
pub(crate) fn catch_sigint() {
    // SAFETY: installing a handler that only stores to an atomic is
    // async-signal-safe.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t,
        )
    };
}

/// An error once Ctrl-C was pressed, so the demo stops and tears down.
pub(crate) fn check_interrupt() -> Result {
    if INTERRUPTED.load(Ordering::SeqCst) {
        Err("interrupted".into())
    } else {
        Ok(())
    }
}

/// `ip ARGS...`.
pub(crate) fn ip(args: &[&str]) -> Command {
    let mut c = Command::new(tool("ip"));
    c.args(args);
    c
}

/// A release binary of this build (honouring `CARGO_TARGET_DIR`).
pub(crate) fn bin(name: &str) -> String {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    target.join("release").join(name).display().to_string()
}

/// A progress message.
pub(crate) fn say(msg: &str) {
    eprintln!("\n==> {msg}");
}

/// The processes in namespace `ns`, those named `comm` if given.
pub(crate) fn netns_pids(ns: &str, comm: Option<&str>) -> Vec<i32> {
    let Ok(out) = ip(&["netns", "pids", ns]).output() else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
        .filter(|pid| {
            comm.is_none_or(|c| {
                std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|s| s.trim() == c)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The string literals passed to `tool(...)` in this file's code.
    fn tool_calls(src: &str) -> Vec<String> {
        src.split("tool(\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .map(str::to_string)
            .collect()
    }

    /// Every program the two-host demo execs (in demo.rs and here) is in
    /// TOOLS and its package is installed by the demo: nothing runs a
    /// program by a literal name but through `tool`, and every
    /// `tool("...")` names a listed program. (demo_fabric.rs has its own
    /// test.)
    #[test]
    fn install_list_covers_every_exec() {
        let mut calls = Vec::new();
        for (file, src) in [
            ("demo.rs", include_str!("demo.rs")),
            ("demo_common.rs", include_str!("demo_common.rs")),
        ] {
            let code = src.split("#[cfg(test)]").next().unwrap();
            // Command::new only in `ip()`, with tool(); cargo() and bin()
            // are the toolchain and this build's own binaries.
            for (i, line) in code.lines().enumerate() {
                if line.contains("Command::new(") {
                    assert!(
                        line.contains("Command::new(tool("),
                        "{file}:{}: execs a program not through tool(): {line}",
                        i + 1
                    );
                }
            }
            calls.extend(tool_calls(code));
        }
        for want in ["ip", "ping", "env"] {
            assert!(calls.iter().any(|c| c == want), "no tool(\"{want}\") found");
        }
        let pkgs = packages();
        for c in &calls {
            let (_, pkg) = TOOLS
                .iter()
                .find(|(p, _)| p == c)
                .unwrap_or_else(|| panic!("demo execs {c}, which is not in TOOLS"));
            assert!(pkgs.contains(pkg), "{pkg} ({c}) is not installed");
        }
        // The programs `cargo xtask test` installs include the demo's
        // (coreutils is Essential on Debian).
        for p in pkgs {
            assert!(
                p == "coreutils" || crate::setup::APT_PACKAGES.contains(&p),
                "{p} is installed by the demo but not by cargo xtask test"
            );
        }
    }

    /// Each listed package provides its program (checked where dpkg knows
    /// the package, as on every machine `cargo xtask test` has set up).
    #[test]
    fn tools_come_from_their_packages() {
        for (prog, pkg) in TOOLS {
            let Ok(out) = Command::new("dpkg-query").args(["-L", pkg]).output() else {
                continue;
            };
            if !out.status.success() {
                continue;
            }
            let files = String::from_utf8_lossy(&out.stdout);
            let suffix = format!("bin/{prog}");
            assert!(
                files.lines().any(|f| f.ends_with(&suffix)),
                "package {pkg} has no {suffix}"
            );
        }
    }
}

//! `cargo xtask fuzz [--seconds N] [TARGET...]`: runs each cargo-fuzz target
//! of `tests/fuzz` for a bounded time (default 60 s each; `cargo xtask test`
//! uses [`QUICK_SECONDS`]).
//!
//! Theory of operation: `tests/fuzz` is a cargo-fuzz project outside the
//! workspace (it needs the nightly toolchain and libFuzzer). This task
//! builds it once (`cargo fuzz build -O`: release with debug assertions,
//! AddressSanitizer and LeakSanitizer), then runs every target with
//! `-max_total_time`, reading two corpora: `tests/fuzz/corpus/<target>`
//! (grown by the runs, not committed) and `tests/fuzz/regressions/<target>`
//! (committed: every input that ever crashed a target, so a regression
//! fails at once, before any fuzzing) and `tests/fuzz/seeds/<target>`
//! (committed: a few well-formed inputs to start from). A crash, panic, leak or timeout
//! stops the task with the path of the input libFuzzer wrote under
//! `tests/fuzz/artifacts/<target>/`; copy it into `regressions/<target>/`
//! once the bug is fixed. See docs/faults.md.

use crate::util::{root, run, Result};
use std::path::Path;
use std::process::Command;

/// Every target, in the order they run.
pub const TARGETS: &[&str] = &[
    "vxlan_decap",
    "dld_ioctl",
    "targ_ioctl",
    "door_dispatch",
    "files_json",
    "persist_restore",
    "svp_server_decode",
    "svp_client_decode",
    "svp_reply",
];

/// Seconds per target when `cargo xtask test` runs the fuzzers.
pub const QUICK_SECONDS: u64 = 10;

const DEFAULT_SECONDS: u64 = 60;

/// The fuzz project, relative to the workspace root.
const FUZZ_DIR: &str = "tests/fuzz";

pub fn run_cli(args: &[String]) -> Result {
    let mut seconds = DEFAULT_SECONDS;
    let mut targets: Vec<&str> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" | "-s" => {
                let v = it.next().ok_or("--seconds needs a value")?;
                seconds = v
                    .parse()
                    .map_err(|_| format!("--seconds: not a number: {v}"))?;
            }
            "-h" | "--help" => {
                eprintln!(
                    "usage: cargo xtask fuzz [--seconds N] [TARGET...]\ntargets: {}",
                    TARGETS.join(" ")
                );
                return Ok(());
            }
            t => match TARGETS.iter().find(|&&k| k == t) {
                Some(k) => targets.push(k),
                None => return Err(format!("unknown fuzz target {t}")),
            },
        }
    }
    if targets.is_empty() {
        targets = TARGETS.to_vec();
    }
    crate::setup::ensure_cargo_fuzz()?;
    fuzz(&targets, seconds)
}

/// Builds the fuzz project and runs `targets` for `seconds` each.
pub fn fuzz(targets: &[&str], seconds: u64) -> Result {
    run(nightly_fuzz().args(["build", "--fuzz-dir", FUZZ_DIR, "-O"]))?;
    let dir = root().join(FUZZ_DIR);
    for t in targets {
        let corpus = dir.join("corpus").join(t);
        std::fs::create_dir_all(&corpus).map_err(|e| format!("mkdir {}: {e}", corpus.display()))?;
        let mut cmd = nightly_fuzz();
        cmd.args(["run", "--fuzz-dir", FUZZ_DIR, "-O", t]);
        cmd.arg(&corpus);
        for extra in ["regressions", "seeds"] {
            let d = dir.join(extra).join(t);
            if d.is_dir() {
                cmd.arg(&d);
            }
        }
        cmd.arg("--").args([
            format!("-max_total_time={seconds}"),
            "-timeout=20".to_string(),
            "-rss_limit_mb=2048".to_string(),
            "-print_final_stats=1".to_string(),
        ]);
        if let Err(e) = run(&mut cmd) {
            return Err(format!(
                "fuzz target {t} failed ({e}); the input is in {}",
                newest_artifact(&dir.join("artifacts").join(t))
            ));
        }
    }
    Ok(())
}

/// `cargo fuzz` on the nightly toolchain (libFuzzer's sanitizer flags
/// need it).
fn nightly_fuzz() -> Command {
    let mut c = Command::new("rustup");
    c.args(["run", "nightly", "cargo", "fuzz"]);
    // The stable toolchain's cargo, if xtask was started by it, must not
    // leak into the nightly build.
    c.env_remove("CARGO")
        .env_remove("RUSTC")
        .env_remove("RUSTDOC");
    c
}

fn newest_artifact(dir: &Path) -> String {
    std::fs::read_dir(dir)
        .ok()
        .and_then(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
                .max()
                .map(|(_, p)| p.display().to_string())
        })
        .unwrap_or_else(|| format!("{} (nothing written)", dir.display()))
}

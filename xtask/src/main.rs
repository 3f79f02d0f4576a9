//! The project's task runner: `cargo xtask <task>`.
//!
//! | task    | what it does |
//! |---------|--------------|
//! | `test`  | installs what the checks need, then runs every check (README's test command, called by `.ci/run`) |
//! | `demo`  | the two-host demo in network namespaces; `--fabric`: a portolan, three hosts and six VMs on an `svp` overlay, one VM moved |
//! | `kmod`  | builds and checks the illumos kernel object; prints its path last |
//! | `bench` | the benchmarks |
//! | `install` | installs the Linux build (daemons, dladm, systemd units, manual pages) under `--destdir` (default `/`) |
//! | `fuzz`  | runs each cargo-fuzz target of `tests/fuzz` for a bounded time (`--seconds N`, default 60) |

mod bench;
mod bench_hosts;
mod bench_lat;
mod bench_report;
mod bench_udp;
mod demo;
mod demo_common;
mod demo_fabric;
mod fuzz;
mod illumos;
mod install;
mod kmod;
mod setup;
mod test;
mod util;

use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!("usage: cargo xtask <test|demo|kmod|bench|fuzz|install>");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(task) = args.first() else {
        return usage();
    };
    let rest = &args[1..];
    let result = match task.as_str() {
        "test" => test::run(rest),
        "demo" => demo::run(rest),
        "kmod" => kmod::run(rest),
        "fuzz" => fuzz::run_cli(rest),
        "bench" => bench::run(rest),
        // Hidden: the request/response endpoints the bench runs in its
        // namespaces.
        "bench-rr" => bench_lat::rr_main(rest),
        "install" => install::run(rest),
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

//! `dladm`: the overlay subcommands, and on Linux the link and VNIC ones.
//!
//! Opens `/dev/dld` under `OVERLAY_ROOT` (fkoverlayd's dld socket on
//! Linux) for every known subcommand, as dladm opens its libdladm handle,
//! then runs the command line (`dladm_overlay::cli::run`).

use dladm_overlay::{cli, fake, ofmt, real, status::Status};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rows = ofmt::terminal_rows();
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    let code = if cli::is_subcommand(&args) {
        let root = libvarpd::paths::root();
        match real::RealBackend::open(&root) {
            Ok(mut b) => cli::run(&args, &mut b, &mut out, &mut err, rows),
            Err(e) => {
                eprintln!(
                    "{}: could not open /dev/dld: {}",
                    cli::progname(&args),
                    Status::from_errno(e)
                );
                1
            }
        }
    } else {
        // An unknown subcommand only prints usage; no system is needed.
        let mut b = fake::FakeBackend::new();
        cli::run(&args, &mut b, &mut out, &mut err, rows)
    };
    std::process::exit(code);
}

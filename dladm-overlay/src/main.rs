//! `dladm`: the overlay subcommands, and on Linux the link and VNIC ones.
//!
//! Runs the command line (`dladm_overlay::cli::run`) against the real
//! system: `/dev/dld` under `OVERLAY_ROOT` (fkoverlayd's dld socket on
//! Linux), opened at the first request, and varpd's door.

use dladm_overlay::{cli, ofmt, real, status::Status};

/// `/dev/dld` (fkoverlayd's socket on Linux) could not be opened: say
/// which daemon is missing, or what access is needed, and exit 1.
fn dld_open_failed(path: &std::path::Path, e: dladm_overlay::errno::Errno) -> ! {
    let args: Vec<String> = std::env::args().collect();
    let p = cli::progname(&args);
    eprintln!("{p}: could not open /dev/dld: {}", Status::from_errno(e));
    if cfg!(target_os = "illumos") {
        std::process::exit(1);
    }
    use dladm_overlay::errno as en;
    if e == en::ENOENT || e == en::ECONNREFUSED {
        eprintln!(
            "{p}: fkoverlayd is not running (nothing serves {}); start it with \
             'fkoverlayd' (systemd: 'systemctl start fkoverlayd')",
            path.display()
        );
    } else if e == en::EACCES || e == en::EPERM {
        eprintln!(
            "{p}: {} is fkoverlayd's socket (mode 0660): run dladm as root, or as a \
             member of the group given to fkoverlayd -g (changes also need a uid given \
             to fkoverlayd -u)",
            path.display()
        );
    }
    std::process::exit(1);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rows = ofmt::terminal_rows();
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    // /dev/dld is opened at the first request, so `help`, an unknown
    // subcommand and usage errors need no running daemon.
    let root = libvarpd::paths::root();
    let mut b = real::RealBackend::lazy(&root, dld_open_failed);
    let code = cli::run(&args, &mut b, &mut out, &mut err, rows);
    std::process::exit(code);
}

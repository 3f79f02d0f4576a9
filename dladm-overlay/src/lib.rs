//! dladm's overlay support, and on Linux its link and VNIC subcommands.
//!
//! Theory of operation: the `dladm` binary is a thin `main` around
//! [`cli::run`], which parses a subcommand exactly as illumos dladm does
//! (`getopt`, `ofmt`) and calls the libdladm-equivalent logic in
//! [`libdloverlay`] and [`libdlvnic`]. That logic reaches the system only
//! through the [`backend::Backend`] trait: [`real`] implements it with
//! fkoverlayd's device socket (the overlay ioctls and its dlmgmtd/VNIC
//! commands) and varpd's door; [`fake`] implements it in memory for tests.
//! Errno values exchanged with the system are illumos numbers ([`errno`]);
//! [`status`] turns them into libdladm's status strings.

pub mod backend;
pub mod cli;
pub mod errno;
pub mod fake;
pub mod getopt;
pub mod libdloverlay;
pub mod libdlvnic;
pub mod linkname;
pub mod linkprop;
pub mod ofmt;
pub mod prop;
pub mod real;
pub mod status;

//! What the project's daemons share to run as daemons: `fkoverlayd`,
//! `varpd` and `portolan`.
//!
//! # Theory of operation
//!
//! Each daemon is started by an invoker (a shell, SMF, systemd, a test)
//! that must learn whether it serves: the invoking process exits 0 only
//! once the daemon is ready (its sockets or door accept), or non-zero with
//! the reason. The pieces, in the order a daemon uses them:
//!
//! 1. [`fds::close_inherited`], first thing in `main`: descriptors the
//!    invoker left open must not stay open for the daemon's lifetime;
//! 2. [`handshake::fork`]: a readiness pipe, `fork(2)` and `setsid(2)` in
//!    the child; the invoking process waits on the pipe
//!    ([`handshake::Invoker`]) for the daemon's report
//!    ([`handshake::Ready`]): `ok` or the reason (fkoverlayd, portolan), or
//!    an exit status (varpd, whose status is SMF's);
//! 3. [`log`]: `tracing` to stderr in the foreground, else to the daemon's
//!    log file;
//! 4. [`signals`]: the stop signals blocked before any thread starts, so
//!    every thread inherits the mask and only the main thread's `sigwait`
//!    sees them; SIGPIPE ignored where a dead client must not kill us;
//! 5. once ready, standard I/O detached from the invoker
//!    ([`fds::stdio_to_null`], [`fds::stdio_to`]: a daemon that kept the
//!    invoker's pipe would hold `x=$(daemon)` open forever), a pid file
//!    ([`pidfile`]), the report, and the wait for a stop signal.
//!
//! What differs between the daemons (their options, what "ready" means,
//! which descriptors go where and when, their messages and exit codes)
//! stays in each daemon's `main.rs`.

pub mod fds;
pub mod handshake;
pub mod log;
pub mod pidfile;
pub mod signals;

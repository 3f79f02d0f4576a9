//! The signals that stop a daemon.
//!
//! A daemon blocks them in its main thread before starting any other, so
//! every thread inherits the mask and only the main thread, in `sigwait`,
//! ever sees them: the stop is then an orderly return from `main`, never a
//! handler running at an arbitrary point.

use nix::sys::signal::{SigSet, Signal};

/// SIGTERM, SIGINT and SIGHUP, plus `extra` (varpd adds SIGQUIT).
pub fn stop_signals(extra: &[Signal]) -> SigSet {
    let mut set = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP]
        .iter()
        .chain(extra)
    {
        set.add(*s);
    }
    set
}

/// Blocks `set` in the calling thread (and so in every thread it starts
/// afterwards).
pub fn block(set: &SigSet) -> nix::Result<()> {
    set.thread_block()
}

/// Ignores SIGPIPE: a client that went away must not kill the daemon (its
/// write fails with `EPIPE` instead).
pub fn ignore_sigpipe() {
    // SAFETY: setting SIGPIPE to SIG_IGN installs no handler code.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// Waits for one of the (blocked) signals of `set`, retrying `EINTR`.
pub fn wait(set: &SigSet) -> nix::Result<Signal> {
    loop {
        match set.wait() {
            Err(nix::errno::Errno::EINTR) => continue,
            r => return r,
        }
    }
}

/// Waits for one of the (blocked) signals of `set`, retrying every error.
pub fn wait_for_stop(set: &SigSet) -> Signal {
    loop {
        if let Ok(s) = set.wait() {
            return s;
        }
    }
}

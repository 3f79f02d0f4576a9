//! The readiness handshake between the invoking process and the daemon.
//!
//! [`fork`] creates a pipe (close-on-exec), forks, and in the child starts
//! a new session (`setsid`), detaching it from the invoker's terminal and
//! process group. The invoking process ([`Invoker`]) then blocks reading
//! the pipe; the daemon ([`Ready`]) writes one report once it serves, or
//! once start-up failed, and closes its end. A daemon that dies first
//! closes it too, so the invoker learns that as an empty report and, where
//! it wants, the daemon's exit status.
//!
//! Two encodings of the report are in use, each with its helpers here:
//!
//! * fkoverlayd and portolan: `ok`, or the reason start-up failed, which
//!   the invoker prints as `<program>: <reason>` before exiting 1
//!   ([`Ready::ok`], [`Ready::fail`], [`Invoker::exit_code`]);
//! * varpd: its exit status as a native-endian `i32`, with which the
//!   invoker exits (SMF reads 0 as online, 95 as a fatal error);
//!   [`Ready::status`], [`Invoker::status`].

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::ExitCode;

/// Why [`fork`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ForkError {
    /// The readiness pipe could not be created.
    #[error("pipe: {0}")]
    Pipe(io::Error),
    /// `fork(2)` failed.
    #[error("fork: {0}")]
    Fork(io::Error),
}

impl ForkError {
    /// The system error behind it.
    pub fn io(&self) -> &io::Error {
        match self {
            ForkError::Pipe(e) | ForkError::Fork(e) => e,
        }
    }
}

/// The two sides of a [`fork`].
pub enum Fork {
    /// The invoking process, waiting for the daemon's report.
    Invoker(Invoker),
    /// The daemon (the child, in a session of its own).
    Daemon(Ready),
}

/// Creates the readiness pipe and forks; the child calls `setsid`.
///
/// # Safety
/// The calling process must be single-threaded (no thread started yet),
/// so that the child may run arbitrary code after `fork`.
pub unsafe fn fork() -> Result<Fork, ForkError> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into fds.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(ForkError::Pipe(io::Error::last_os_error()));
    }
    // SAFETY: both descriptors were just created and are owned here.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: the caller guarantees the process is single-threaded.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(ForkError::Fork(io::Error::last_os_error()));
    }
    if pid > 0 {
        drop(wr);
        return Ok(Fork::Invoker(Invoker {
            rd: File::from(rd),
            child: pid,
        }));
    }
    drop(rd);
    // SAFETY: setsid has no preconditions (it fails only for a process
    // group leader, which a fresh child is not).
    unsafe { libc::setsid() };
    Ok(Fork::Daemon(Ready(Some(File::from(wr)))))
}

/// The invoking process's end of the handshake.
pub struct Invoker {
    rd: File,
    child: libc::pid_t,
}

impl Invoker {
    /// Blocks until the daemon has reported (and closed its end) or died;
    /// returns what it wrote, empty if it died without a word.
    pub fn report(&mut self) -> Vec<u8> {
        let mut b = Vec::new();
        let _ = self.rd.read_to_end(&mut b);
        b
    }

    /// The daemon's exit status, once it has exited (waits for it); `None`
    /// if it was killed by a signal or cannot be waited for.
    pub fn exit_status(&self) -> Option<i32> {
        let mut st: libc::c_int = 0;
        // SAFETY: waits for our own child; st is a valid out-pointer.
        let r = unsafe { libc::waitpid(self.child, &mut st, 0) };
        (r == self.child && libc::WIFEXITED(st)).then(|| libc::WEXITSTATUS(st))
    }

    /// fkoverlayd's and portolan's verdict: success on `ok`; otherwise
    /// prints `<prog>: <reason>` (or that the daemon exited during
    /// start-up) and fails.
    pub fn exit_code(mut self, prog: &str) -> ExitCode {
        let report = self.report();
        if report == b"ok" {
            return ExitCode::SUCCESS;
        }
        let msg = if report.is_empty() {
            "daemon exited during start-up".into()
        } else {
            String::from_utf8_lossy(&report).into_owned()
        };
        eprintln!("{prog}: {msg}");
        ExitCode::FAILURE
    }

    /// varpd's verdict: the status the daemon reported; if it reported
    /// none, its exit status; if it was killed, `otherwise`.
    pub fn status(mut self, otherwise: i32) -> i32 {
        let report = self.report();
        match report.get(..4).and_then(|b| <[u8; 4]>::try_from(b).ok()) {
            Some(b) => i32::from_ne_bytes(b),
            None => self.exit_status().unwrap_or(otherwise),
        }
    }
}

/// The daemon's end of the handshake: reports once, then is spent (later
/// reports do nothing). In the foreground there is no invoker waiting and
/// every report goes nowhere.
pub struct Ready(Option<File>);

impl Ready {
    /// For a process that did not fork.
    pub fn foreground() -> Ready {
        Ready(None)
    }

    /// Writes `report` to the invoker and closes the pipe.
    pub fn report(&mut self, report: &[u8]) {
        if let Some(mut f) = self.0.take() {
            let _ = f.write_all(report);
        }
    }

    /// Ready: the invoker exits 0 ([`Invoker::exit_code`]).
    pub fn ok(&mut self) {
        self.report(b"ok")
    }

    /// Start-up failed because of `reason`, which the invoker prints.
    pub fn fail(&mut self, reason: &str) {
        self.report(reason.as_bytes())
    }

    /// The invoker exits with `status` ([`Invoker::status`]).
    pub fn status(&mut self, status: i32) {
        self.report(&status.to_ne_bytes())
    }
}

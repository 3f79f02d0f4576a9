//! The readiness handshake across a real fork: every report the daemons
//! make reaches the invoker as the verdict it acts on. Runs without the
//! test harness, so the process is single-threaded when it forks.

use overlay_daemon::handshake::{fork, Fork, Ready};
use std::process::ExitCode;

/// Forks; the child runs `daemon` and exits 0 (or `exit` from inside it).
fn spawn(daemon: impl FnOnce(&mut Ready)) -> overlay_daemon::handshake::Invoker {
    // SAFETY: this test has no harness and starts no thread.
    match unsafe { fork() }.expect("fork") {
        Fork::Invoker(inv) => inv,
        Fork::Daemon(mut ready) => {
            daemon(&mut ready);
            std::process::exit(0)
        }
    }
}

fn main() -> ExitCode {
    // fkoverlayd/portolan encoding.
    let inv = spawn(|r| r.ok());
    assert_eq!(inv.exit_code("t"), ExitCode::SUCCESS, "ok is success");
    let inv = spawn(|r| r.fail("bind: Address in use"));
    assert_eq!(inv.exit_code("t"), ExitCode::FAILURE, "a reason is failure");
    let inv = spawn(|_| std::process::exit(3));
    assert_eq!(inv.exit_code("t"), ExitCode::FAILURE, "silence is failure");

    // A second report after the first goes nowhere.
    let mut inv = spawn(|r| {
        r.fail("first");
        r.fail("second");
    });
    assert_eq!(inv.report(), b"first");

    // varpd's encoding: the reported status, else the exit status, else
    // the fallback for a killed daemon.
    let inv = spawn(|r| r.status(95));
    assert_eq!(inv.status(-1), 95);
    let inv = spawn(|r| r.status(0));
    assert_eq!(inv.status(-1), 0);
    let inv = spawn(|_| std::process::exit(7));
    assert_eq!(inv.status(-1), 7);
    let inv = spawn(|_| {
        // SAFETY: signals our own process.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    });
    assert_eq!(inv.status(-1), -1);

    // The daemon is in a session of its own.
    let mut inv = spawn(|r| {
        // SAFETY: getsid/getpid have no preconditions.
        let leader = unsafe { libc::getsid(0) == libc::getpid() };
        r.report(if leader { b"leader" } else { b"not" });
    });
    assert_eq!(inv.report(), b"leader");

    // In the foreground reports go nowhere and do not fail.
    Ready::foreground().ok();
    println!("handshake: all cases passed");
    ExitCode::SUCCESS
}

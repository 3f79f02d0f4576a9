//! Daemonised fkoverlayd and varpd as a shell user starts them: they detach
//! from the invoker's standard output and error once ready (so `x=$(varpd)`
//! and `varpd | cat` return, and varpd keeps logging after that pipe is
//! gone), close descriptors inherited from the invoker, and accept a
//! relative `OVERLAY_ROOT`. Needs root (network namespaces).

use overlay_tests::daemons::bin;
use overlay_tests::have_root;
use overlay_tests::netns::{Netns, TempRoot};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// SIGTERMs (then SIGKILLs) every process left in the namespace on drop:
/// daemonised daemons are no children of the test.
struct Reaper<'a>(&'a Netns);

fn ns_pids(ns: &Netns) -> Vec<i32> {
    let out = Command::new("ip")
        .args(["netns", "pids", ns.name()])
        .output()
        .expect("ip netns pids");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// The pid of the process named `comm` in the namespace.
fn pid_of(ns: &Netns, comm: &str) -> Option<i32> {
    ns_pids(ns).into_iter().find(|p| {
        std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == comm)
    })
}

impl Drop for Reaper<'_> {
    fn drop(&mut self) {
        for sig in [libc::SIGTERM, libc::SIGKILL] {
            for p in ns_pids(self.0) {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(p, sig) };
            }
            for _ in 0..250 {
                if ns_pids(self.0).is_empty() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Runs `script` with `sh -c` in the namespace, with `$FK`, `$VARPD` and
/// `$DLADM` naming the binaries, under `timeout 30` (a daemon that keeps
/// the invoker's pipe open shows as exit 124).
fn sh(ns: &Netns, root: &str, cwd: &Path, script: &str) -> Output {
    ns.command("timeout")
        .args(["30", "sh", "-c", script])
        .env("OVERLAY_ROOT", root)
        .env("FK", bin("fkoverlayd"))
        .env("VARPD", bin("varpd"))
        .env("DLADM", bin("dladm"))
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .expect("run sh")
}

fn show(o: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const CREATE: &str = "$DLADM create-overlay -t -e vxlan -s direct \
    -p vxlan/listen_ip=127.0.0.1 -p direct/dest_ip=127.0.0.1 \
    -p direct/dest_port=4789 -v 9 ndt0";

#[test]
fn daemons_detach_from_command_substitution_and_pipes() {
    if !have_root("daemons_detach_from_command_substitution_and_pipes") {
        return;
    }
    let ns = Netns::new("ndt");
    let root = TempRoot::new("ndt");
    let _reap = Reaper(&ns);
    let r = root.path().to_str().unwrap();
    // Both start inside $(...): the substitution returns once each is
    // ready, with nothing captured.
    let o = sh(
        &ns,
        r,
        root.path(),
        "a=$($FK) && b=$($VARPD) && echo \"started[$a$b]\"",
    );
    assert!(o.status.success(), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("started[]"),
        "{}",
        show(&o)
    );
    let first = pid_of(&ns, "varpd").expect("varpd runs");
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(first, libc::SIGTERM) };
    for _ in 0..500 {
        if pid_of(&ns, "varpd").is_none() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(pid_of(&ns, "varpd").is_none(), "varpd did not stop");

    // Through a pipe whose reader then goes away.
    let o = sh(&ns, r, root.path(), "$VARPD | cat && echo piped");
    assert!(o.status.success(), "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("piped"));
    let pid = pid_of(&ns, "varpd").expect("varpd runs after the pipe closed");
    // Make it log: it must survive and the lines land in its log.
    let o = sh(&ns, r, root.path(), CREATE);
    assert!(o.status.success(), "{}", show(&o));
    let o = sh(&ns, r, root.path(), "$DLADM show-overlay ndt0");
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(pid_of(&ns, "varpd"), Some(pid), "varpd died after logging");
    let log = std::fs::read_to_string(root.path().join("run/varpd/varpd.log"))
        .expect("varpd's log exists");
    assert!(log.contains("instance created"), "varpd log:\n{log}");
    let o = sh(&ns, r, root.path(), "$DLADM delete-overlay ndt0");
    assert!(o.status.success(), "{}", show(&o));
}

#[test]
fn daemons_close_inherited_descriptors() {
    if !have_root("daemons_close_inherited_descriptors") {
        return;
    }
    let ns = Netns::new("ndf");
    let root = TempRoot::new("ndf");
    let _reap = Reaper(&ns);
    let marker = root.path().join("inherited-marker");
    let script = format!("exec 7>'{}' 8>&7 && $FK && $VARPD", marker.display());
    let o = sh(&ns, root.path().to_str().unwrap(), root.path(), &script);
    assert!(o.status.success(), "{}", show(&o));
    for comm in ["fkoverlayd", "varpd"] {
        let pid = pid_of(&ns, comm).unwrap_or_else(|| panic!("{comm} runs"));
        for ent in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap() {
            let ent = ent.unwrap();
            let target = std::fs::read_link(ent.path()).unwrap_or_default();
            assert_ne!(
                target,
                marker,
                "{comm} kept the inherited descriptor {}",
                ent.file_name().to_string_lossy()
            );
        }
    }
}

#[test]
fn relative_overlay_root() {
    if !have_root("relative_overlay_root") {
        return;
    }
    let ns = Netns::new("ndr");
    let root = TempRoot::new("ndr");
    let _reap = Reaper(&ns);
    let parent = root.path().parent().unwrap();
    let rel = root.path().file_name().unwrap().to_str().unwrap();
    let o = sh(
        &ns,
        rel,
        parent,
        &format!("$FK && $VARPD && {CREATE} && $DLADM show-overlay -p -o link ndt0"),
    );
    assert!(o.status.success(), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("ndt0"),
        "{}",
        show(&o)
    );
    // Everything landed under the root, resolved against the directory
    // the programs were started in.
    assert!(root.path().join("run/varpd/varpd.door").exists());
    assert!(root.path().join("run/overlay/dld").exists());
}

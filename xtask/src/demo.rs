//! `cargo xtask demo`: the seed walkthrough on two hosts.
//!
//! Two network namespaces joined by a veth pair stand for two hosts on one
//! underlay (10.88.88.69 and 10.88.88.70). Each runs its own `fkoverlayd` and
//! `varpd` under its own `OVERLAY_ROOT`; on each the demo runs the commands an
//! operator would on SmartOS (IPs swapped on the second host):
//!
//! ```text
//! dladm create-overlay -e vxlan -s direct -p vxlan/listen_ip=10.88.88.69 \
//!     -p direct/dest_ip=10.88.88.70 -p direct/dest_port=4789 -v 23 demo0
//! dladm show-overlay
//! dladm create-vnic -l demo0 foo0
//! ip addr add 10.55.55.1/24 dev foo0 && ip link set foo0 up
//! ```
//!
//! then pings across the overlay both ways, prints a summary, and tears
//! everything down — also on failure or Ctrl-C.

use crate::util::{cargo, root, run as sh, Result};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

struct Host {
    name: &'static str,
    ns: &'static str,
    underlay: &'static str,
    peer: &'static str,
    overlay_ip: &'static str,
    peer_overlay_ip: &'static str,
    veth: &'static str,
}

const HOSTS: [Host; 2] = [
    Host {
        name: "host 1",
        ns: "ovdemo-h1",
        underlay: "10.88.88.69",
        peer: "10.88.88.70",
        overlay_ip: "10.55.55.1",
        peer_overlay_ip: "10.55.55.2",
        veth: "ovdemo1",
    },
    Host {
        name: "host 2",
        ns: "ovdemo-h2",
        underlay: "10.88.88.70",
        peer: "10.88.88.69",
        overlay_ip: "10.55.55.2",
        peer_overlay_ip: "10.55.55.1",
        veth: "ovdemo2",
    },
];

fn state_root(h: &Host) -> PathBuf {
    std::env::temp_dir().join("overlay-demo").join(h.ns)
}

/// A release binary of this build (honouring `CARGO_TARGET_DIR`).
fn bin(name: &str) -> String {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    target.join("release").join(name).display().to_string()
}

/// A command run inside `h`'s namespace with its OVERLAY_ROOT.
fn in_host(h: &Host, prog: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", h.ns, "env"])
        .arg(format!("OVERLAY_ROOT={}", state_root(h).display()))
        .arg(prog)
        .args(args);
    c
}

fn say(msg: &str) {
    eprintln!("\n==> {msg}");
}

fn check_interrupt() -> Result {
    if INTERRUPTED.load(Ordering::SeqCst) {
        Err("interrupted".into())
    } else {
        Ok(())
    }
}

/// Tears down whatever exists of the demo; never fails.
struct Teardown;

impl Drop for Teardown {
    fn drop(&mut self) {
        say("tearing down");
        for h in &HOSTS {
            let q = |c: &mut Command| {
                let _ = c
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status();
            };
            q(&mut in_host(h, &bin("dladm"), &["delete-vnic", "foo0"]));
            q(&mut in_host(h, &bin("dladm"), &["delete-overlay", "demo0"]));
            // varpd first (it holds fkoverlayd's /dev/overlay), then
            // fkoverlayd, each with SIGTERM; anything left gets SIGKILL.
            for (comm, sig) in [
                (Some("varpd"), libc::SIGTERM),
                (Some("fkoverlayd"), libc::SIGTERM),
                (None, libc::SIGKILL),
            ] {
                for pid in netns_pids(h.ns, comm) {
                    // SAFETY: kill has no memory-safety preconditions.
                    unsafe { libc::kill(pid, sig) };
                }
                for _ in 0..50 {
                    if netns_pids(h.ns, comm).is_empty() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
            }
            q(Command::new("ip").args(["netns", "del", h.ns]));
            let _ = std::fs::remove_dir_all(state_root(h));
        }
        eprintln!("done: no namespaces, daemons or state left");
    }
}

/// The processes in namespace `ns`, those named `comm` if given.
fn netns_pids(ns: &str, comm: Option<&str>) -> Vec<i32> {
    let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
        .filter(|pid| {
            comm.is_none_or(|c| {
                std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|s| s.trim() == c)
            })
        })
        .collect()
}

/// Starts a daemon in `h`, its log in the host's state directory.
fn start_daemon(h: &Host, name: &str) -> Result {
    let log = state_root(h).join(format!("{name}.log"));
    let file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    sh(in_host(h, &bin(name), &[]).stderr(file)).map_err(|e| {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        format!("{e}\n{name}'s log ({}):\n{text}", log.display())
    })
}

pub fn run(_args: &[String]) -> Result {
    if !crate::util::is_root() {
        return Err("cargo xtask demo needs root (network namespaces and TAP devices): run it as root, e.g. sudo -E cargo xtask demo".into());
    }
    // SAFETY: installing a handler that only stores to an atomic is
    // async-signal-safe.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t,
        )
    };

    say("building fkoverlayd, varpd and dladm");
    sh(cargo().args(["build", "--release", "--bins"]))?;

    let _teardown = Teardown;
    say("creating two hosts joined by an underlay (10.88.88.69 <-> 10.88.88.70)");
    for h in &HOSTS {
        let _ = Command::new("ip")
            .args(["netns", "del", h.ns])
            .stderr(std::process::Stdio::null())
            .status();
        sh(Command::new("ip").args(["netns", "add", h.ns]))?;
        sh(Command::new("ip").args(["-n", h.ns, "link", "set", "lo", "up"]))?;
        let _ = std::fs::remove_dir_all(state_root(h));
        std::fs::create_dir_all(state_root(h))
            .map_err(|e| format!("{}: {e}", state_root(h).display()))?;
    }
    let [a, b] = &HOSTS;
    sh(Command::new("ip").args([
        "link", "add", a.veth, "netns", a.ns, "type", "veth", "peer", "name", b.veth, "netns", b.ns,
    ]))?;
    for h in &HOSTS {
        sh(Command::new("ip").args([
            "-n",
            h.ns,
            "addr",
            "add",
            &format!("{}/24", h.underlay),
            "dev",
            h.veth,
        ]))?;
        sh(Command::new("ip").args(["-n", h.ns, "link", "set", h.veth, "up"]))?;
    }
    check_interrupt()?;

    for h in &HOSTS {
        say(&format!("{}: starting fkoverlayd and varpd", h.name));
        start_daemon(h, "fkoverlayd")?;
        start_daemon(h, "varpd")?;
    }
    check_interrupt()?;

    for h in &HOSTS {
        say(&format!("{}: dladm create-overlay ... demo0", h.name));
        let listen = format!("vxlan/listen_ip={}", h.underlay);
        let dest = format!("direct/dest_ip={}", h.peer);
        sh(&mut in_host(
            h,
            &bin("dladm"),
            &[
                "create-overlay",
                "-e",
                "vxlan",
                "-s",
                "direct",
                "-p",
                &listen,
                "-p",
                &dest,
                "-p",
                "direct/dest_port=4789",
                "-v",
                "23",
                "demo0",
            ],
        ))?;
        say(&format!("{}: dladm show-overlay", h.name));
        sh(&mut in_host(h, &bin("dladm"), &["show-overlay"]))?;
        say(&format!("{}: dladm create-vnic -l demo0 foo0", h.name));
        sh(&mut in_host(
            h,
            &bin("dladm"),
            &["create-vnic", "-l", "demo0", "foo0"],
        ))?;
        sh(&mut in_host(h, &bin("dladm"), &["show-vnic"]))?;
        say(&format!("{}: plumbing foo0 as {}/24", h.name, h.overlay_ip));
        sh(Command::new("ip").args([
            "-n",
            h.ns,
            "addr",
            "add",
            &format!("{}/24", h.overlay_ip),
            "dev",
            "foo0",
        ]))?;
        sh(Command::new("ip").args(["-n", h.ns, "link", "set", "foo0", "up"]))?;
        check_interrupt()?;
    }

    let mut results = Vec::new();
    for h in &HOSTS {
        say(&format!(
            "{}: ping {} across the overlay",
            h.name, h.peer_overlay_ip
        ));
        let ok = Command::new("ip")
            .args([
                "netns",
                "exec",
                h.ns,
                "ping",
                "-c",
                "3",
                "-W",
                "2",
                h.peer_overlay_ip,
            ])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        results.push((h, ok));
        check_interrupt()?;
    }

    say("summary");
    for (h, ok) in &results {
        eprintln!(
            "  {} ({}) foo0 {} -> {}: {}",
            h.name,
            h.underlay,
            h.overlay_ip,
            h.peer_overlay_ip,
            if *ok { "ping OK" } else { "ping FAILED" }
        );
    }
    if results.iter().all(|(_, ok)| *ok) {
        println!("demo: ping across the VXLAN overlay (vnetid 23) succeeded both ways");
        Ok(())
    } else {
        Err("demo: ping across the overlay failed".into())
    }
}

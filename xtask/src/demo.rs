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
//!
//! Like `cargo xtask test`, it first installs what it runs: every program
//! it execs is listed once, with its Debian package, in [`TOOLS`] (shared
//! with the fabric demo); the packages are installed with the same code as
//! `cargo xtask test` ([`crate::setup::ensure_apt`]), and every exec goes
//! through [`tool`], so a unit test (in `demo_common`) can prove the list
//! covers them all.

use crate::demo_common::{
    bin, catch_sigint, check_interrupt, ip, netns_pids, packages, say, tool, TOOLS,
};
use crate::util::{cargo, run as sh, Result};
use std::path::PathBuf;
use std::process::Command;

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

/// The directory holding both hosts' state.
fn demo_dir() -> PathBuf {
    std::env::temp_dir().join("overlay-demo")
}

fn state_root(h: &Host) -> PathBuf {
    demo_dir().join(h.ns)
}

/// A command run inside `h`'s namespace with its OVERLAY_ROOT.
fn in_host(h: &Host, prog: &str, args: &[&str]) -> Command {
    let mut c = ip(&["netns", "exec", h.ns, tool("env")]);
    c.arg(format!("OVERLAY_ROOT={}", state_root(h).display()))
        .arg(prog)
        .args(args);
    c
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
            q(&mut ip(&["netns", "del", h.ns]));
            let _ = std::fs::remove_dir_all(state_root(h));
        }
        // The hosts' common parent, if nothing else was put there.
        let _ = std::fs::remove_dir(demo_dir());
        if demo_dir().exists() {
            eprintln!(
                "done: no namespaces or daemons left; {} is kept (it holds other files)",
                demo_dir().display()
            );
        } else {
            eprintln!("done: no namespaces, daemons or state left");
        }
    }
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

pub fn run(args: &[String]) -> Result {
    match args.first().map(String::as_str) {
        None => {}
        Some("--fabric") if args.len() == 1 => return crate::demo_fabric::run(),
        Some(a) => {
            return Err(format!(
                "demo: unknown argument '{a}' (usage: cargo xtask demo [--fabric])"
            ))
        }
    }
    if !crate::util::is_root() {
        return Err("cargo xtask demo needs root (network namespaces and TAP devices): run it as root, e.g. sudo -E cargo xtask demo".into());
    }
    catch_sigint();

    let listed: Vec<String> = TOOLS
        .iter()
        .map(|(prog, pkg)| format!("{pkg} ({prog})"))
        .collect();
    say(&format!(
        "installing what the demo runs, if missing: {}",
        listed.join(", ")
    ));
    crate::setup::ensure_apt(&packages())?;

    say("building fkoverlayd, varpd and dladm");
    sh(cargo().args(["build", "--release", "--bins"]))?;

    let _teardown = Teardown;
    say("creating two hosts joined by an underlay (10.88.88.69 <-> 10.88.88.70)");
    for h in &HOSTS {
        let _ = ip(&["netns", "del", h.ns])
            .stderr(std::process::Stdio::null())
            .status();
        sh(&mut ip(&["netns", "add", h.ns]))?;
        sh(&mut ip(&["-n", h.ns, "link", "set", "lo", "up"]))?;
        let _ = std::fs::remove_dir_all(state_root(h));
        std::fs::create_dir_all(state_root(h))
            .map_err(|e| format!("{}: {e}", state_root(h).display()))?;
    }
    let [a, b] = &HOSTS;
    sh(&mut ip(&[
        "link", "add", a.veth, "netns", a.ns, "type", "veth", "peer", "name", b.veth, "netns", b.ns,
    ]))?;
    for h in &HOSTS {
        sh(&mut ip(&[
            "-n",
            h.ns,
            "addr",
            "add",
            &format!("{}/24", h.underlay),
            "dev",
            h.veth,
        ]))?;
        sh(&mut ip(&["-n", h.ns, "link", "set", h.veth, "up"]))?;
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
        let args = crate::demo_common::seed_create_overlay(h.underlay, h.peer);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        sh(&mut in_host(h, &bin("dladm"), &args))?;
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
        sh(&mut ip(&[
            "-n",
            h.ns,
            "addr",
            "add",
            &format!("{}/24", h.overlay_ip),
            "dev",
            "foo0",
        ]))?;
        sh(&mut ip(&["-n", h.ns, "link", "set", "foo0", "up"]))?;
        check_interrupt()?;
    }

    let mut results = Vec::new();
    for h in &HOSTS {
        say(&format!(
            "{}: ping {} across the overlay",
            h.name, h.peer_overlay_ip
        ));
        let ok = ip(&[
            "netns",
            "exec",
            h.ns,
            tool("ping"),
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

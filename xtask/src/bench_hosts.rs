//! The benchmark's hosts: two network namespaces joined by a veth
//! underlay, with either Linux's kernel vxlan or fkoverlayd (dladm,
//! varpd, an overlay and a VNIC) on each, and their teardown.
//!
//! Theory of operation: a [`Pair`] names its two [`Host`]s by the bench's
//! pid and the [`Side`], so the kernel's pair and ours live side by side
//! in one run without sharing anything; [`Teardown`] kills whatever runs
//! in the namespaces, deletes them and removes the daemons' state, on
//! every exit path.

use crate::util::{root, run as sh, Result};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

pub(crate) fn say(msg: &str) {
    eprintln!("\n==> {msg}");
}

/// Where cargo puts the release binaries (honours `CARGO_TARGET_DIR`).
fn release_dir() -> PathBuf {
    let t = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) if !t.is_empty() => {
            let t = PathBuf::from(t);
            if t.is_absolute() {
                t
            } else {
                root().join(t)
            }
        }
        _ => root().join("target"),
    };
    t.join("release")
}

pub(crate) fn bin(name: &str) -> String {
    release_dir().join(name).display().to_string()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Side {
    Kernel,
    Ours,
}

impl Side {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Side::Kernel => "kernel vxlan",
            Side::Ours => "fkoverlayd",
        }
    }
}

/// One simulated host.
pub(crate) struct Host {
    pub(crate) ns: String,
    pub(crate) underlay: &'static str,
    pub(crate) peer: &'static str,
    pub(crate) overlay_ip: &'static str,
}

impl Host {
    pub(crate) fn state_root(&self) -> PathBuf {
        std::env::temp_dir().join("overlay-bench").join(&self.ns)
    }

    /// `prog args` inside the namespace, with this host's OVERLAY_ROOT.
    pub(crate) fn cmd(&self, prog: &str, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns, "env"])
            .arg(format!("OVERLAY_ROOT={}", self.state_root().display()))
            .arg(prog)
            .args(args)
            .stdin(Stdio::null());
        c
    }

    pub(crate) fn ip(&self, args: &[&str]) -> Result {
        let mut c = Command::new("ip");
        c.args(["-n", &self.ns]).args(args);
        sh(&mut c)
    }

    pub(crate) fn dladm(&self, args: &[&str]) -> Result {
        sh(&mut self.cmd(&bin("dladm"), args))
    }

    /// Pids of the processes running in the namespace.
    pub(crate) fn pids(&self) -> Vec<i32> {
        Command::new("ip")
            .args(["netns", "pids", &self.ns])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Two hosts joined by an underlay, running one kind of overlay.
pub(crate) struct Pair {
    pub(crate) side: Side,
    pub(crate) h: [Host; 2],
}

pub(crate) fn pair(side: Side) -> Pair {
    let tag = match side {
        Side::Kernel => 'k',
        Side::Ours => 'o',
    };
    let pid = std::process::id() % 100_000;
    Pair {
        side,
        h: [
            Host {
                ns: format!("bn{pid}{tag}1"),
                underlay: "10.88.88.69",
                peer: "10.88.88.70",
                overlay_ip: "10.55.55.1",
            },
            Host {
                ns: format!("bn{pid}{tag}2"),
                underlay: "10.88.88.70",
                peer: "10.88.88.69",
                overlay_ip: "10.55.55.2",
            },
        ],
    }
}

/// Tears down everything of the benchmark's namespaces; never fails.
pub(crate) struct Teardown<'a>(pub(crate) &'a [Pair]);

impl Drop for Teardown<'_> {
    fn drop(&mut self) {
        say("tearing down");
        for p in self.0 {
            for h in &p.h {
                // SIGTERM lets the daemons remove their TAPs and sockets;
                // then SIGKILL whatever remains (iperf3 servers too).
                for sig in [libc::SIGTERM, libc::SIGKILL] {
                    for pid in h.pids() {
                        // SAFETY: kill has no memory-safety preconditions;
                        // the pid runs inside our own namespace.
                        unsafe { libc::kill(pid, sig) };
                    }
                    std::thread::sleep(Duration::from_millis(300));
                }
                let _ = Command::new("ip")
                    .args(["netns", "del", &h.ns])
                    .stderr(Stdio::null())
                    .status();
                let _ = std::fs::remove_dir_all(h.state_root());
            }
        }
        eprintln!("done: no namespaces, daemons or state left");
    }
}

pub(crate) fn setup_underlay(p: &Pair) -> Result {
    for h in &p.h {
        let _ = Command::new("ip")
            .args(["netns", "del", &h.ns])
            .stderr(Stdio::null())
            .status();
        sh(Command::new("ip").args(["netns", "add", &h.ns]))?;
        h.ip(&["link", "set", "lo", "up"])?;
    }
    let [a, b] = &p.h;
    let va = format!("{}v", a.ns);
    let vb = format!("{}v", b.ns);
    sh(Command::new("ip").args([
        "link", "add", &va, "netns", &a.ns, "type", "veth", "peer", "name", &vb, "netns", &b.ns,
    ]))?;
    for (h, v) in [(a, &va), (b, &vb)] {
        h.ip(&["addr", "add", &format!("{}/24", h.underlay), "dev", v])?;
        h.ip(&["link", "set", v, "up"])?;
    }
    Ok(())
}

pub(crate) fn setup_kernel(p: &Pair) -> Result {
    for h in &p.h {
        h.ip(&[
            "link",
            "add",
            "vx0",
            "type",
            "vxlan",
            "id",
            "23",
            "local",
            h.underlay,
            "remote",
            h.peer,
            "dstport",
            "4789",
            "nolearning",
        ])?;
        h.ip(&["link", "set", "vx0", "mtu", "1400"])?;
        h.ip(&["addr", "add", &format!("{}/24", h.overlay_ip), "dev", "vx0"])?;
        h.ip(&["link", "set", "vx0", "up"])?;
    }
    Ok(())
}

/// fkoverlayd's idle period in `--low-latency` runs (ms), and how long
/// the bench waits after our measurements for the request to be dropped.
pub(crate) const LOW_LATENCY_IDLE_MS: u64 = 100;

pub(crate) fn setup_ours(p: &Pair, low_latency: bool) -> Result {
    for h in &p.h {
        let r = h.state_root();
        let _ = std::fs::remove_dir_all(&r);
        std::fs::create_dir_all(&r).map_err(|e| format!("{}: {e}", r.display()))?;
        // Both daemonise and return once they serve; what they log to
        // the inherited stderr goes to a file beside their state.
        for d in ["fkoverlayd", "varpd"] {
            let log = r.join(format!("{d}.stderr"));
            let f = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
            let idle = LOW_LATENCY_IDLE_MS.to_string();
            let args: &[&str] = if d == "fkoverlayd" && low_latency {
                &["--low-latency", "--low-latency-idle", &idle]
            } else {
                &[]
            };
            sh(h.cmd(&bin(d), args).stderr(f))
                .map_err(|e| format!("{e} (see {})", log.display()))?;
        }
        let args = crate::demo_common::seed_create_overlay(h.underlay, h.peer);
        h.dladm(&args.iter().map(String::as_str).collect::<Vec<_>>())?;
        h.dladm(&["create-vnic", "-l", "demo0", "foo0"])?;
        h.ip(&[
            "addr",
            "add",
            &format!("{}/24", h.overlay_ip),
            "dev",
            "foo0",
        ])?;
        h.ip(&["link", "set", "foo0", "up"])?;
    }
    Ok(())
}

//! `cargo xtask demo --fabric`: a Triton-style fabric on one machine.
//!
//! A portolan (the SVP mapping server) and three hosts hang off one
//! underlay, a Linux bridge in a namespace of its own (10.77.0.0/24: hosts
//! .1–.3, portolan .100). Each host runs `fkoverlayd` and `varpd` under its
//! own `OVERLAY_ROOT` and has one overlay on vnet 4694778 whose mappings
//! come from portolan, created as Triton's `nictag_rules` do:
//!
//! ```text
//! portolan add-host cn1 10.77.0.1                    (once per host)
//! dladm create-overlay -e vxlan -s svp -p svp/host=10.77.0.100 \
//!     -p svp/underlay_ip=10.77.0.1 -p vxlan/listen_ip=10.77.0.1 \
//!     -v 4694778 fabric0
//! ```
//!
//! Each host gets two VMs, the second on VLAN 5: a VNIC moved into a
//! namespace of its own (a zone) with an address in 10.200.0.0/24, and its
//! mapping:
//!
//! ```text
//! dladm create-vnic -l fabric0 -m 02:08:20:00:00:02 -v 5 vm2
//! portolan add-nic --vnet 4694778 --mac 02:08:20:00:00:02 --ip 10.200.0.12 --vlan 5 --host cn1
//! ```
//!
//! Every VM pings every other VM of its VLAN (ARP is answered by varpd's
//! proxy from portolan's data; nothing is flooded). Then vm1 moves from
//! cn1 to cn3: its VNIC is deleted on cn1 and re-created on cn3 with the
//! same MAC and address (the hypervisor's part), and the operator runs one
//! command, `portolan move-nic --vnet 4694778 --mac 02:08:20:00:00:01 --host
//! cn3`; the other hosts learn it from portolan's log within 5–10 s and vm3
//! (on cn2) reaches vm1 again, with no command on any other host. A summary
//! follows, and everything is torn down on success, failure or Ctrl-C.
//!
//! The programs it runs are those of the two-host demo
//! ([`demo_common::TOOLS`], installed the same way); its namespaces are `ovfab-*`, its state is
//! under `$TMPDIR/overlay-demo-fabric`.

use crate::demo_common::{self, bin, catch_sigint, check_interrupt, ip, netns_pids, say, tool};
use crate::util::{cargo, run as sh, Result};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The vnet id (24 bits, as Triton draws them).
const VNET: &str = "4694778";
/// The overlay link on every host.
const OVERLAY: &str = "fabric0";
/// The VLAN of the second VM on each host.
const VLAN: u16 = 5;
/// The portolan's namespace and address.
const PORTOLAN_NS: &str = "ovfab-p";
const PORTOLAN_IP: &str = "10.77.0.100";
/// The underlay namespace (the bridge).
const UNDERLAY_NS: &str = "ovfab-ul";
/// Hosts: (id, namespace, underlay address).
const HOSTS: [(&str, &str, &str); 3] = [
    ("cn1", "ovfab-h1", "10.77.0.1"),
    ("cn2", "ovfab-h2", "10.77.0.2"),
    ("cn3", "ovfab-h3", "10.77.0.3"),
];

/// A VM: its VNIC (and namespace) name, host index, MAC, address, VLAN.
struct Vm {
    name: String,
    ns: String,
    host: usize,
    mac: String,
    ip: String,
    vlan: u16,
}

fn vms() -> Vec<Vm> {
    (1..=6)
        .map(|n: usize| Vm {
            name: format!("vm{n}"),
            ns: format!("ovfab-vm{n}"),
            host: (n - 1) / 2,
            mac: format!("02:08:20:00:00:{n:02x}"),
            ip: format!("10.200.0.{}", 10 + n),
            vlan: if n.is_multiple_of(2) { VLAN } else { 0 },
        })
        .collect()
}

/// The directory holding every namespace's state.
fn demo_dir() -> PathBuf {
    std::env::temp_dir().join("overlay-demo-fabric")
}

fn state_root(ns: &str) -> PathBuf {
    demo_dir().join(ns)
}

/// Every namespace the demo makes.
fn all_ns() -> Vec<String> {
    let mut v: Vec<String> = vms().into_iter().map(|vm| vm.ns).collect();
    v.extend(HOSTS.iter().map(|h| h.1.to_string()));
    v.push(PORTOLAN_NS.into());
    v.push(UNDERLAY_NS.into());
    v
}

/// `prog args` inside namespace `ns` with its `OVERLAY_ROOT`.
fn in_ns(ns: &str, prog: &str, args: &[&str]) -> Command {
    let mut c = ip(&["netns", "exec", ns, tool("env")]);
    c.arg(format!("OVERLAY_ROOT={}", state_root(ns).display()))
        .arg(prog)
        .args(args);
    c
}

/// `dladm args` on host `h`.
fn dladm(h: usize, args: &[&str]) -> Command {
    in_ns(HOSTS[h].1, &bin("dladm"), args)
}

/// `portolan args`, an operator command (on the portolan host).
fn portolan(args: &[&str]) -> Command {
    in_ns(PORTOLAN_NS, &bin("portolan"), args)
}

/// Tears down whatever exists of the demo; never fails.
struct Teardown;

impl Drop for Teardown {
    fn drop(&mut self) {
        say("tearing down");
        for ns in all_ns() {
            // varpd first (it holds fkoverlayd's /dev/overlay), then
            // fkoverlayd and portolan, with SIGTERM; anything left gets
            // SIGKILL.
            for (comm, sig) in [
                (Some("varpd"), libc::SIGTERM),
                (Some("fkoverlayd"), libc::SIGTERM),
                (Some("portolan"), libc::SIGTERM),
                (None, libc::SIGKILL),
            ] {
                for pid in netns_pids(&ns, comm) {
                    // SAFETY: kill has no memory-safety preconditions.
                    unsafe { libc::kill(pid, sig) };
                }
                for _ in 0..100 {
                    if netns_pids(&ns, comm).is_empty() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        for ns in all_ns() {
            let _ = ip(&["netns", "del", &ns])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(demo_dir());
        eprintln!("done: no namespaces, daemons or state left");
    }
}

/// Starts a daemonising program in `ns` (it returns once ready); its
/// invoker's stderr goes to a log in the namespace's state directory.
fn start_daemon(ns: &str, name: &str, args: &[&str]) -> Result {
    let log = state_root(ns).join(format!("{name}.log"));
    let file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    sh(in_ns(ns, &bin(name), args).stderr(file)).map_err(|e| {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        format!("{e}\n{name}'s log ({}):\n{text}", log.display())
    })
}

/// One ping from VM namespace `ns` to `ip`; whether it was answered.
fn ping_once(ns: &str, ip_: &str) -> bool {
    ip(&["netns", "exec", ns, tool("ping"), "-c", "1", "-W", "1", ip_])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Pings until answered or `limit`; the time of the first answer.
fn ping_until(ns: &str, ip_: &str, limit: Duration) -> Result<Option<Duration>> {
    let start = Instant::now();
    while start.elapsed() < limit {
        check_interrupt()?;
        if ping_once(ns, ip_) {
            return Ok(Some(start.elapsed()));
        }
    }
    Ok(None)
}

/// Hangs `ns` off the underlay bridge with address `addr`.
fn attach(ns: &str, port: &str, addr: &str) -> Result {
    sh(&mut ip(&[
        "link",
        "add",
        "ul0",
        "netns",
        ns,
        "type",
        "veth",
        "peer",
        "name",
        port,
        "netns",
        UNDERLAY_NS,
    ]))?;
    sh(&mut ip(&[
        "-n",
        UNDERLAY_NS,
        "link",
        "set",
        port,
        "master",
        "br0",
    ]))?;
    sh(&mut ip(&["-n", UNDERLAY_NS, "link", "set", port, "up"]))?;
    sh(&mut ip(&[
        "-n",
        ns,
        "addr",
        "add",
        &format!("{addr}/24"),
        "dev",
        "ul0",
    ]))?;
    sh(&mut ip(&["-n", ns, "link", "set", "ul0", "up"]))
}

/// Creates `vm`'s VNIC on host `h` and moves it into the VM's namespace
/// with its address.
fn plug(vm: &Vm, h: usize) -> Result {
    let vid = vm.vlan.to_string();
    let mut args = vec!["create-vnic", "-l", OVERLAY, "-m", &vm.mac];
    if vm.vlan != 0 {
        args.extend(["-v", &vid]);
    }
    args.push(&vm.name);
    sh(&mut dladm(h, &args))?;
    sh(&mut ip(&[
        "-n", HOSTS[h].1, "link", "set", &vm.name, "netns", &vm.ns,
    ]))?;
    sh(&mut ip(&[
        "-n",
        &vm.ns,
        "addr",
        "add",
        &format!("{}/24", vm.ip),
        "dev",
        &vm.name,
    ]))?;
    sh(&mut ip(&["-n", &vm.ns, "link", "set", &vm.name, "up"]))
}

pub fn run() -> Result {
    if !crate::util::is_root() {
        return Err("cargo xtask demo --fabric needs root (network namespaces and TAP devices): run it as root, e.g. sudo -E cargo xtask demo --fabric".into());
    }
    catch_sigint();
    say("installing what the demo runs, if missing");
    crate::setup::ensure_apt(&demo_common::packages())?;
    say("building portolan, fkoverlayd, varpd and dladm");
    sh(cargo().args(["build", "--release", "--bins"]))?;

    let _teardown = Teardown;
    say("creating the underlay (a bridge), the portolan host and three hosts");
    for ns in all_ns() {
        let _ = ip(&["netns", "del", &ns]).stderr(Stdio::null()).status();
        sh(&mut ip(&["netns", "add", &ns]))?;
        sh(&mut ip(&["-n", &ns, "link", "set", "lo", "up"]))?;
    }
    let _ = std::fs::remove_dir_all(demo_dir());
    for ns in all_ns() {
        std::fs::create_dir_all(state_root(&ns))
            .map_err(|e| format!("{}: {e}", state_root(&ns).display()))?;
    }
    sh(&mut ip(&[
        "-n",
        UNDERLAY_NS,
        "link",
        "add",
        "br0",
        "type",
        "bridge",
    ]))?;
    sh(&mut ip(&["-n", UNDERLAY_NS, "link", "set", "br0", "up"]))?;
    attach(PORTOLAN_NS, "pp", PORTOLAN_IP)?;
    for (i, (_, ns, addr)) in HOSTS.iter().enumerate() {
        attach(ns, &format!("p{}", i + 1), addr)?;
    }
    check_interrupt()?;

    say(&format!(
        "portolan: serving SVP on {PORTOLAN_IP}:1296 (SQLite store)"
    ));
    start_daemon(
        PORTOLAN_NS,
        "portolan",
        &["--listen", &format!("{PORTOLAN_IP}:1296")],
    )?;
    for (i, (id, ns, addr)) in HOSTS.iter().enumerate() {
        say(&format!(
            "{id}: fkoverlayd, varpd, portolan add-host, create-overlay"
        ));
        start_daemon(ns, "fkoverlayd", &[])?;
        start_daemon(ns, "varpd", &[])?;
        sh(&mut portolan(&["add-host", id, addr]))?;
        sh(&mut dladm(
            i,
            &[
                "create-overlay",
                "-e",
                "vxlan",
                "-s",
                "svp",
                "-p",
                &format!("svp/host={PORTOLAN_IP}"),
                "-p",
                &format!("svp/underlay_ip={addr}"),
                "-p",
                &format!("vxlan/listen_ip={addr}"),
                "-v",
                VNET,
                OVERLAY,
            ],
        ))?;
        check_interrupt()?;
    }
    sh(&mut dladm(0, &["show-overlay", OVERLAY]))?;

    let vms = vms();
    for vm in &vms {
        let (id, _, _) = HOSTS[vm.host];
        say(&format!(
            "{id}: {} ({}, {}{}): create-vnic, portolan add-nic",
            vm.name,
            vm.mac,
            vm.ip,
            if vm.vlan != 0 {
                format!(", VLAN {}", vm.vlan)
            } else {
                String::new()
            }
        ));
        plug(vm, vm.host)?;
        sh(&mut portolan(&[
            "add-nic",
            "--vnet",
            VNET,
            "--mac",
            &vm.mac,
            "--ip",
            &vm.ip,
            "--vlan",
            &vm.vlan.to_string(),
            "--host",
            id,
        ]))?;
        check_interrupt()?;
    }
    sh(&mut portolan(&["list-hosts"]))?;
    sh(&mut portolan(&["list-nics"]))?;

    say("every VM pings every other VM of its VLAN");
    let mut failed = Vec::new();
    let mut npairs = 0;
    for a in &vms {
        for b in vms.iter().filter(|b| b.name != a.name && b.vlan == a.vlan) {
            npairs += 1;
            let t = ping_until(&a.ns, &b.ip, Duration::from_secs(10))?;
            eprintln!(
                "  {}@{} -> {}@{} ({}): {}",
                a.name,
                HOSTS[a.host].0,
                b.name,
                HOSTS[b.host].0,
                b.ip,
                match t {
                    Some(t) => format!("ok ({} ms to the first answer)", t.as_millis()),
                    None => "NO ANSWER".to_string(),
                }
            );
            if t.is_none() {
                failed.push(format!("{} -> {}", a.name, b.name));
            }
        }
    }
    sh(&mut dladm(1, &["show-overlay", "-t", OVERLAY]))?;
    if !failed.is_empty() {
        return Err(format!("demo: no answer: {}", failed.join(", ")));
    }

    let (moved, watcher) = (&vms[0], &vms[2]);
    say(&format!(
        "moving {} from cn1 to cn3: the hypervisor re-creates its VNIC there, the operator runs portolan move-nic",
        moved.name
    ));
    sh(&mut dladm(0, &["delete-vnic", &moved.name]))?;
    plug(moved, 2)?;
    sh(&mut portolan(&[
        "move-nic", "--vnet", VNET, "--mac", &moved.mac, "--host", "cn3",
    ]))?;
    let after = ping_until(&watcher.ns, &moved.ip, Duration::from_secs(20))?;
    let back = ping_until(&moved.ns, &watcher.ip, Duration::from_secs(5))?;
    sh(&mut dladm(1, &["show-overlay", "-t", OVERLAY]))?;

    say("summary");
    eprintln!(
        "  portolan {PORTOLAN_IP}, hosts cn1-cn3 on 10.77.0.0/24, vnet {VNET}, six VMs (vm2, vm4, vm6 on VLAN {VLAN})"
    );
    eprintln!("  all-to-all within each VLAN: {npairs} pairs answered, ARP proxied from portolan");
    match (after, back) {
        (Some(t), Some(_)) => {
            eprintln!(
                "  {} moved cn1 -> cn3 with one portolan command: {}@cn2 reached it again {:.1} s later, no command on cn2",
                moved.name,
                watcher.name,
                t.as_secs_f64()
            );
            println!("demo: fabric of three hosts: all VMs reachable, the moved VM's traffic followed it");
            Ok(())
        }
        _ => Err(format!(
            "demo: {} did not reach the moved {} within 20 s",
            watcher.name, moved.name
        )),
    }
}

#[cfg(test)]
mod tests {
    /// The fabric demo execs programs only through `demo_common::tool` (so
    /// `demo_common::TOOLS`, which the demo installs, covers them).
    #[test]
    fn execs_only_listed_tools() {
        let src = include_str!("demo_fabric.rs");
        let code = src.split("#[cfg(test)]").next().unwrap();
        for (i, line) in code.lines().enumerate() {
            assert!(
                !line.contains("Command::new("),
                "demo_fabric.rs:{}: execs a program directly: {line}",
                i + 1
            );
        }
        for call in code.split("tool(\"").skip(1) {
            let prog = call.split('"').next().unwrap();
            assert!(
                crate::demo_common::TOOLS.iter().any(|(p, _)| *p == prog),
                "{prog} is not in demo_common::TOOLS"
            );
        }
    }
}

//! One of *our* hosts (fkoverlayd + varpd + dladm in a namespace), and the
//! two-host topology most end-to-end tests start from.
//!
//! Theory of operation: an [`OurHost`] is a network namespace with a
//! private root (`OVERLAY_ROOT`) in which fkoverlayd and varpd run in the
//! foreground; the test drives them with the real `dladm`, as an operator
//! would, and reads the driver's counters with `fkoverlayd stats`. Either
//! daemon may be stopped, `kill -9`ed and started again.
//!
//! [`TwoHosts`] builds the usual pair: two namespaces (with an optional
//! sysctl script run in each first), an underlay link between them (a
//! [`veth`] with fixed addresses or an [`underlay`] by family and subnet),
//! then the daemons on each; or, with [`TwoHosts::build_peer`], our host
//! and a bare namespace for a peer of another kind (a Linux `vxlan`
//! device, raw sockets).
//!
//! The seed's point-to-point overlay (`demo0`, `direct`, VNI 23, port
//! 4789) is [`seed_overlay_args`] and, with its VNIC `foo0`,
//! [`OurHost::demo_link`]; a `files` overlay is [`files_overlay_args`];
//! both are [`create_overlay_args`].
//!
//! Field order is drop order: daemons (varpd before fkoverlayd), then the
//! root, then the namespace (which removes the veths and TAPs).

use crate::daemons::{bin, dladm, kill9, Daemon};
use crate::netns::{expect_success, underlay, veth, Family, Netns, TempRoot, Underlay};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Output, Stdio};

/// One of our hosts: fkoverlayd and varpd in a namespace with their own
/// root. Field order is drop order.
#[derive(Debug)]
pub struct OurHost {
    /// varpd (dropped first), `None` while it is down.
    pub varpd: Option<Daemon>,
    /// fkoverlayd, `None` while it is down.
    pub fk: Option<Daemon>,
    /// The `OVERLAY_ROOT` of both daemons.
    pub root: TempRoot,
    /// The namespace.
    pub ns: Netns,
}

/// `args` as `&str`s, for messages and for [`dladm`].
fn strs<S: AsRef<str>>(args: &[S]) -> Vec<&str> {
    args.iter().map(AsRef::as_ref).collect()
}

impl OurHost {
    /// Starts fkoverlayd and varpd in `ns`.
    pub fn new(ns: Netns) -> OurHost {
        let mut h = OurHost::stopped(ns);
        h.start();
        h
    }

    /// A host without neighbours: a namespace named after `prefix` with
    /// the address `cidr` on `lo` (to listen on), and the daemons.
    pub fn alone(prefix: &str, cidr: &str) -> OurHost {
        let ns = Netns::new(prefix);
        ns.exec_ok("ip", &["addr", "add", cidr, "dev", "lo"]);
        OurHost::new(ns)
    }

    /// A host with its root but no daemons yet: see [`OurHost::start`].
    pub fn stopped(ns: Netns) -> OurHost {
        OurHost::stopped_in(ns, TempRoot::new("wr"))
    }

    /// [`OurHost::stopped`] with the root `root`.
    pub fn stopped_in(ns: Netns, root: TempRoot) -> OurHost {
        // Build dladm before the daemons run (bin() may build it).
        let _ = bin("dladm");
        OurHost {
            varpd: None,
            fk: None,
            root,
            ns,
        }
    }

    /// The `OVERLAY_ROOT`.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Starts fkoverlayd, then varpd.
    pub fn start(&mut self) {
        self.start_fk();
        self.start_varpd();
    }

    /// Starts fkoverlayd.
    pub fn start_fk(&mut self) {
        assert!(self.fk.is_none(), "fkoverlayd already runs");
        self.fk = Some(Daemon::fkoverlayd(&self.ns, self.root.path()));
    }

    /// Starts varpd (it restores its instances from its state).
    pub fn start_varpd(&mut self) {
        assert!(self.varpd.is_none(), "varpd already runs");
        self.varpd = Some(Daemon::varpd(&self.ns, self.root.path()));
    }

    /// `kill -9` of varpd, reaped.
    pub fn kill9_varpd(&mut self) {
        kill9(&mut self.varpd);
    }

    /// `kill -9` of fkoverlayd, reaped.
    pub fn kill9_fk(&mut self) {
        kill9(&mut self.fk);
    }

    /// Stops both daemons (SIGTERM; varpd first), if they run.
    pub fn stop(&mut self) {
        if let Some(mut d) = self.varpd.take() {
            d.stop();
        }
        if let Some(mut d) = self.fk.take() {
            d.stop();
        }
    }

    /// Stops both daemons and starts them again: running links are gone,
    /// the persistent ones remain.
    pub fn restart(&mut self) {
        self.stop();
        self.start();
    }

    /// [`OurHost::restart`] that also loses everything under `run/` (a
    /// reboot's tmpfs): only the persistent configuration remains.
    pub fn reboot(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(self.root.path().join("run"));
        self.start();
    }

    /// Runs dladm; the output whatever the status.
    pub fn dladm<S: AsRef<str>>(&self, args: &[S]) -> Output {
        dladm(&self.ns, self.root.path(), &strs(args))
    }

    /// Runs dladm and requires success; returns stdout.
    pub fn dladm_ok<S: AsRef<str>>(&self, args: &[S]) -> String {
        let o = self.dladm(args);
        expect_success(&o, &format!("dladm {}", strs(args).join(" ")))
    }

    /// Runs dladm and requires success with nothing on stderr; returns
    /// stdout.
    pub fn dladm_quiet<S: AsRef<str>>(&self, args: &[S]) -> String {
        let o = self.dladm(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            o.status.success() && err.is_empty(),
            "dladm {} failed ({}):\nstdout: {}\nstderr: {}",
            strs(args).join(" "),
            o.status,
            String::from_utf8_lossy(&o.stdout),
            err
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Runs dladm and requires exit status 1 with exactly `stderr`.
    pub fn dladm_fails<S: AsRef<str>>(&self, args: &[S], stderr: &str) {
        let o = self.dladm(args);
        assert_eq!(o.status.code(), Some(1), "dladm {}", strs(args).join(" "));
        assert_eq!(String::from_utf8_lossy(&o.stderr), stderr);
    }

    /// `dladm create-overlay -e vxlan -s direct` with the listen and
    /// destination addresses and ports, and vnetid `vnetid`.
    pub fn direct_overlay(&self, name: &str, vnetid: u32, listen: &str, dest: &str, port: u16) {
        let props = [
            format!("vxlan/listen_port={port}"),
            format!("direct/dest_ip={dest}"),
            format!("direct/dest_port={port}"),
        ];
        self.dladm_ok(&create_overlay_args(
            "direct",
            name,
            vnetid,
            listen,
            &props,
            &[],
        ));
    }

    /// `dladm create-overlay` of [`files_overlay_args`].
    pub fn files_overlay(&self, name: &str, vnetid: u32, listen: &str, cfg: &Path) {
        self.dladm_ok(&files_overlay_args(name, vnetid, listen, cfg));
    }

    /// The seed's overlay and VNIC: `dladm create-overlay` of
    /// [`seed_overlay_args`]`(me, peer)`, `dladm create-vnic -l demo0
    /// foo0`, and the address `cidr` on `foo0`, up.
    pub fn demo_link(&self, me: &str, peer: &str, cidr: &str) {
        self.dladm_ok(&seed_overlay_args(me, peer, &[]));
        self.dladm_ok(&["create-vnic", "-l", "demo0", "foo0"]);
        self.ns.plumb("foo0", cidr);
    }

    /// `dladm create-vnic -l over [-m mac] name`, then the address `cidr`
    /// on its TAP, up.
    pub fn vnic(&self, over: &str, name: &str, mac: Option<&str>, cidr: &str) {
        let mut args = vec!["create-vnic", "-l", over];
        if let Some(m) = mac {
            args.extend(["-m", m]);
        }
        args.push(name);
        self.dladm_ok(&args);
        self.ns.plumb(name, cidr);
    }

    /// Every counter of `fkoverlayd stats` (the operator's command).
    pub fn stats(&self) -> BTreeMap<String, u64> {
        let out = self
            .ns
            .command(bin("fkoverlayd"))
            .args(["stats", "-R"])
            .arg(self.root.path())
            .stdin(Stdio::null())
            .output()
            .expect("run fkoverlayd stats");
        assert!(
            out.status.success(),
            "fkoverlayd stats failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        parse_stats(&String::from_utf8_lossy(&out.stdout))
    }

    /// One counter of [`OurHost::stats`]; panics if there is none.
    pub fn stat(&self, k: &str) -> u64 {
        *self
            .stats()
            .get(k)
            .unwrap_or_else(|| panic!("no counter {k}"))
    }

    /// One ping of `ip` (`-W 2`), tried up to five times (the first
    /// packets may race the neighbour cache): whether one was answered.
    pub fn ping_retry(&self, ip: &str) -> bool {
        (0..5).any(|_| {
            self.ns
                .exec("ping", &["-c", "1", "-W", "2", ip])
                .status
                .success()
        })
    }

    /// Whether fkoverlayd and varpd are both still running.
    pub fn daemons_alive(&mut self) -> bool {
        self.fk.as_mut().is_some_and(|d| d.running())
            && self.varpd.as_mut().is_some_and(|d| d.running())
    }
}

/// `dladm create-overlay -e vxlan -s <search> -p vxlan/listen_ip=<listen>
/// [-p <prop>]… -v <vnetid> [extra…] <name>`.
pub fn create_overlay_args(
    search: &str,
    name: &str,
    vnetid: u32,
    listen: &str,
    props: &[String],
    extra: &[&str],
) -> Vec<String> {
    let mut args: Vec<String> = ["create-overlay", "-e", "vxlan", "-s", search, "-p"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(format!("vxlan/listen_ip={listen}"));
    for p in props {
        args.push("-p".into());
        args.push(p.clone());
    }
    args.push("-v".into());
    args.push(vnetid.to_string());
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(name.into());
    args
}

/// The seed's `dladm create-overlay -e vxlan -s direct -p
/// vxlan/listen_ip=<me> -p direct/dest_ip=<peer> -p direct/dest_port=4789
/// -v 23 [extra…] demo0`.
pub fn seed_overlay_args(me: &str, peer: &str, extra: &[&str]) -> Vec<String> {
    let props = [
        format!("direct/dest_ip={peer}"),
        "direct/dest_port=4789".to_string(),
    ];
    create_overlay_args("direct", "demo0", 23, me, &props, extra)
}

/// `dladm create-overlay -e vxlan -s files -p vxlan/listen_ip=<listen> -p
/// files/config=<cfg> -v <vnetid> <name>`: a dynamic overlay answered from
/// an overlay_files(5) table.
pub fn files_overlay_args(name: &str, vnetid: u32, listen: &str, cfg: &Path) -> Vec<String> {
    let props = [format!("files/config={}", cfg.display())];
    create_overlay_args("files", name, vnetid, listen, &props, &[])
}

/// Parses `name value` lines.
pub fn parse_stats(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let k = w.next()?;
            let v = w.next()?.parse().ok()?;
            Some((k.to_string(), v))
        })
        .collect()
}

/// The difference `after - before` of one counter (0 if absent before).
pub fn delta(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>, k: &str) -> u64 {
    let b = before.get(k).copied().unwrap_or(0);
    let a = after
        .get(k)
        .copied()
        .unwrap_or_else(|| panic!("no counter {k} in {after:?}"));
    a.saturating_sub(b)
}

/// How the two namespaces of [`TwoHosts`] are joined.
#[derive(Clone, Debug)]
enum Link {
    /// [`veth`] with these two addresses (with prefix length).
    Veth(String, String),
    /// [`underlay`] of this family and subnet, transmit checksum offload
    /// off on both ends if the flag says so.
    Underlay(Family, u8, bool),
}

/// Builder of two of our hosts (or one and a peer's namespace) joined by
/// an underlay link:
///
/// ```ignore
/// let p = TwoHosts::new("dl").veth("10.88.88.69/24", "10.88.88.70/24").build();
/// p.a.demo_link(&p.ul.ip_a, &p.ul.ip_b, "10.55.55.1/24");
/// ```
///
/// In order: both namespaces (named after `prefix`), the sysctl script in
/// each, the link, the programs built, then fkoverlayd and varpd on `a`
/// and on `b` (unless [`TwoHosts::stopped`]).
#[derive(Clone, Debug)]
pub struct TwoHosts {
    prefix: &'static str,
    sysctl: Option<&'static str>,
    link: Link,
    start: bool,
}

/// The result of [`TwoHosts::build`].
pub struct HostPair {
    /// The first host.
    pub a: OurHost,
    /// The second host.
    pub b: OurHost,
    /// The link between them (`if_a`/`ip_a` in `a`).
    pub ul: Underlay,
}

/// The result of [`TwoHosts::build_peer`]: one of our hosts and a plain
/// namespace for a peer of another kind (a Linux `vxlan` device, raw
/// sockets).
pub struct PeerPair {
    /// Our host.
    pub ours: OurHost,
    /// The peer's namespace.
    pub peer: Netns,
    /// The link between them (`if_a`/`ip_a` in `ours`).
    pub ul: Underlay,
}

impl TwoHosts {
    /// Two hosts in namespaces named after `prefix` (≤ 3 characters),
    /// joined by an IPv4 [`underlay`] on subnet 1 unless told otherwise.
    pub fn new(prefix: &'static str) -> TwoHosts {
        TwoHosts {
            prefix,
            sysctl: None,
            link: Link::Underlay(Family::V4, 1, false),
            start: true,
        }
    }

    /// Joins them with [`veth`] and these addresses (e.g.
    /// "192.168.77.1/24").
    pub fn veth(mut self, a_cidr: &str, b_cidr: &str) -> TwoHosts {
        self.link = Link::Veth(a_cidr.into(), b_cidr.into());
        self
    }

    /// Joins them with [`underlay`] of `fam` on `subnet`.
    pub fn underlay(mut self, fam: Family, subnet: u8) -> TwoHosts {
        self.link = Link::Underlay(fam, subnet, false);
        self
    }

    /// Turns transmit checksum offload off on both ends of an
    /// [`underlay`] link (a [`veth`] link always has it off).
    pub fn tx_checksum_off(mut self) -> TwoHosts {
        if let Link::Underlay(_, _, off) = &mut self.link {
            *off = true;
        }
        self
    }

    /// Runs `sh -c script` in each namespace before the link is made
    /// (e.g. `sysctl -qw …`).
    pub fn sysctl(mut self, script: &'static str) -> TwoHosts {
        self.sysctl = Some(script);
        self
    }

    /// Leaves the daemons down: the test starts them with
    /// [`OurHost::start`].
    pub fn stopped(mut self) -> TwoHosts {
        self.start = false;
        self
    }

    /// Builds the pair.
    pub fn build(self) -> HostPair {
        let (na, nb, ul) = self.link();
        let mut a = OurHost::stopped(na);
        let mut b = OurHost::stopped(nb);
        if self.start {
            a.start();
            b.start();
        }
        HostPair { a, b, ul }
    }

    /// Builds our host as `a` and leaves `b` a plain namespace for the
    /// peer.
    pub fn build_peer(self) -> PeerPair {
        let (na, peer, ul) = self.link();
        let mut ours = OurHost::stopped(na);
        if self.start {
            ours.start();
        }
        PeerPair { ours, peer, ul }
    }

    /// The namespaces, their sysctls, the link and the programs.
    fn link(&self) -> (Netns, Netns, Underlay) {
        let na = Netns::new(self.prefix);
        let nb = Netns::new(self.prefix);
        if let Some(script) = self.sysctl {
            na.sh(script);
            nb.sh(script);
        }
        let ul = match &self.link {
            Link::Veth(ca, cb) => {
                let (if_a, if_b) = veth(&na, ca, &nb, cb);
                let ip = |c: &str| c.split('/').next().unwrap_or(c).to_string();
                Underlay {
                    if_a,
                    if_b,
                    ip_a: ip(ca),
                    ip_b: ip(cb),
                }
            }
            Link::Underlay(fam, subnet, off) => {
                let ul = underlay(&na, &nb, *fam, *subnet);
                if *off {
                    na.tx_checksum_off(&ul.if_a);
                    nb.tx_checksum_off(&ul.if_b);
                }
                ul
            }
        };
        for p in ["dladm", "fkoverlayd", "varpd"] {
            let _ = bin(p);
        }
        (na, nb, ul)
    }
}

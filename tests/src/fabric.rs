//! The fabric: a portolan and several hosts on one underlay, with VMs on an
//! `svp` overlay (DESIGN.md §6, "mapping path").
//!
//! Theory of operation: a [`Fabric`] is a set of network namespaces that
//! stand for a Triton data centre.
//!
//! ```text
//!                      underlay namespace: bridge "br0"
//!        +---------------+--------------+--------------+----------------+
//!   10.77.0.1      10.77.0.2       10.77.0.3           10.77.0.100 (.101 …)
//!   host cn1       host cn2        host cn3            portolan namespace
//!   fkoverlayd     fkoverlayd      fkoverlayd          portolan (one per
//!   varpd          varpd           varpd               address, one store)
//!   fabric0 (svp)  fabric0 (svp)   fabric0 (svp)
//!    |vm1 |vm2      |vm3 |vm4       |vm5 |vm6           VNICs, each moved
//!                                                       into a VM namespace
//! ```
//!
//! * The underlay is a Linux bridge in a namespace of its own; every host
//!   and the portolan namespace hang off it by a veth (`ul0` on their
//!   side, see [`crate::bridge`]). A capture on the bridge (promiscuous, so it sees forwarded
//!   frames) sees every datagram that crosses the underlay.
//! * Each portolan serves one underlay address with `--listen ADDR:1296`
//!   and its own `OVERLAY_ROOT`; all of them share the test's store (a
//!   [`TestDb`]: SQLite file or a private PostgreSQL cluster). Operator
//!   commands (`portolan add-host`, `add-nic`, `move-nic`, `remove-nic`)
//!   run against the same store.
//! * Each host runs `fkoverlayd` and `varpd` (started by `ip netns exec`,
//!   so `/etc/netns/<ns>/hosts` applies to varpd's resolver) and has one
//!   overlay, created as Triton's `nictag_rules` do:
//!   `dladm create-overlay -e vxlan -s svp -p svp/host=… -p
//!   svp/underlay_ip=<ul> -p vxlan/listen_ip=<ul> -v <vnet> fabric0`.
//! * A VM is a VNIC (`dladm create-vnic -l fabric0 -m <mac> [-v <vid>]`)
//!   moved into a namespace of its own with its address, so that two VMs
//!   on one host talk through fkoverlayd's MAC layer rather than the
//!   host's loopback, as two zones would. Moving a VM deletes its VNIC on
//!   the old host and creates it, with the same MAC and address, on the
//!   new one inside the same VM namespace, as a hypervisor would.
//!
//! Teardown: [`Fabric`]'s drop stops every daemon (varpd before
//! fkoverlayd, which destroys the VNICs' TAPs) and the portolans, then the
//! namespaces, roots, hosts files and the store go with their guards.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::bridge::{attach, underlay_bridge};
use crate::daemons::{bin, kill9, Daemon};
use crate::host::OurHost;
use crate::netns::{expect_success, Netns, TempRoot};
use crate::postgres::{DbKind, TestDb};

/// The underlay subnet: host `i` (from 0) is `.i+1`, portolan `k` is
/// `.100+k`.
pub const UNDERLAY_NET: &str = "10.77.0";
/// The overlay subnet the VMs live in.
pub const OVERLAY_NET: &str = "10.200.0";
/// The fabric's vnet id (a 24-bit id as Triton draws them).
pub const VNET: u32 = 4694778;
/// The overlay link on every host.
pub const OVERLAY: &str = "fabric0";
/// The SVP port (`svp/port`'s default).
pub const SVP_PORT: u16 = 1296;

/// `a:b:c:d:e:f` as illumos' `ether_ntoa` prints it (no leading zeros), the
/// form of `dladm show-overlay -t`.
pub fn ether_ntoa(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// `aa:bb:cc:dd:ee:ff`, the form given to `dladm -m` and `portolan --mac`.
pub fn mac_str(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// How the fabric is built.
#[derive(Debug, Clone)]
pub struct FabricConfig {
    /// Namespace prefix of the test (≤ 3 characters, unique per test file).
    pub prefix: &'static str,
    /// Number of hosts.
    pub hosts: usize,
    /// The store.
    pub db: DbKind,
    /// Number of portolan servers, each on its own address.
    pub portolans: usize,
    /// If set, `svp/host` is this name, resolved on every host through
    /// `/etc/netns/<host ns>/hosts` to every portolan address; otherwise
    /// it is the first portolan's literal address.
    pub svp_name: Option<&'static str>,
}

impl FabricConfig {
    /// One portolan on a literal address, `hosts` hosts.
    pub fn new(prefix: &'static str, hosts: usize, db: DbKind) -> FabricConfig {
        FabricConfig {
            prefix,
            hosts,
            db,
            portolans: 1,
            svp_name: None,
        }
    }
}

/// One portolan server.
#[derive(Debug)]
pub struct Portolan {
    /// The daemon, `None` while it is down.
    pub daemon: Option<Daemon>,
    /// Its `OVERLAY_ROOT` (stats socket, pid file).
    pub root: TempRoot,
    /// The underlay address it listens on.
    pub addr: Ipv4Addr,
}

/// A `/etc/netns/<ns>/` directory, removed on drop.
#[derive(Debug)]
struct NetnsEtc(PathBuf);

impl Drop for NetnsEtc {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One host of the fabric: one of our hosts ([`OurHost`]: namespace, root,
/// daemons; reached through `Deref`) with its id and underlay address.
/// Field order is drop order.
#[derive(Debug)]
pub struct FabricHost {
    /// The host itself.
    pub host: OurHost,
    /// The host's id in portolan (`cn1`, `cn2`, …).
    pub id: String,
    /// The underlay address.
    pub ul: Ipv4Addr,
    _etc: Option<NetnsEtc>,
}

impl std::ops::Deref for FabricHost {
    type Target = OurHost;

    fn deref(&self) -> &OurHost {
        &self.host
    }
}

impl std::ops::DerefMut for FabricHost {
    fn deref_mut(&mut self) -> &mut OurHost {
        &mut self.host
    }
}

impl FabricHost {
    /// Runs dladm and requires success; returns stdout. Failures name the
    /// host.
    pub fn dladm_ok(&self, args: &[&str]) -> String {
        let o = self.dladm(args);
        expect_success(&o, &format!("[{}] dladm {}", self.id, args.join(" ")))
    }

    /// `dladm show-overlay -f -p -o status,details fabric0`: (status,
    /// details), details empty when dladm shows `-`.
    pub fn overlay_status(&self) -> (String, String) {
        let out = self.dladm_ok(&["show-overlay", "-f", "-p", "-o", "status,details", OVERLAY]);
        let line = out.lines().next().unwrap_or_default();
        let (s, d) = line.split_once(':').unwrap_or((line, ""));
        let d = d.replace("\\:", ":").replace("\\\\", "\\");
        (s.to_string(), if d == "-" { String::new() } else { d })
    }

    /// The target cache: `(mac as ether_ntoa, destination)` rows of
    /// `dladm show-overlay -t -p -o target,destination fabric0`.
    pub fn cache(&self) -> Vec<(String, String)> {
        self.dladm_ok(&[
            "show-overlay",
            "-t",
            "-p",
            "-o",
            "target,destination",
            OVERLAY,
        ])
        .lines()
        .filter_map(|l| {
            // Fields are separated by an unescaped ':'.
            let mut fields = Vec::new();
            let mut cur = String::new();
            let mut esc = false;
            for c in l.chars() {
                match (esc, c) {
                    (true, _) => {
                        cur.push(c);
                        esc = false;
                    }
                    (false, '\\') => esc = true,
                    (false, ':') => fields.push(std::mem::take(&mut cur)),
                    (false, _) => cur.push(c),
                }
            }
            fields.push(cur);
            (fields.len() == 2).then(|| (fields[0].clone(), fields[1].clone()))
        })
        .collect()
    }

    /// Whether the target cache holds `mac`.
    pub fn cache_has(&self, mac: &[u8; 6]) -> bool {
        let m = ether_ntoa(mac);
        self.cache().iter().any(|(t, _)| *t == m)
    }

    /// The TCP connections of this host to `port`, from `ss -tn` in its
    /// namespace: `(state, peer address)`, IPv4 peers of an AF_INET6
    /// socket shown plainly.
    pub fn tcp_conns(&self, port: u16) -> Vec<(String, String)> {
        let o = self.ns.exec_ok("ss", &["-tnH"]);
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                // State Recv-Q Send-Q Local:Port Peer:Port
                let peer = w.get(4)?;
                let (addr, p) = peer.rsplit_once(':')?;
                // "[::ffff:10.77.0.100]" from an AF_INET6 socket.
                let addr = addr.trim_start_matches('[').trim_end_matches(']');
                let addr = addr.strip_prefix("::ffff:").unwrap_or(addr);
                (p == port.to_string()).then(|| (w[0].to_string(), addr.to_string()))
            })
            .collect()
    }
}

/// A VM: a VNIC with a MAC, an address and maybe a VLAN, in a namespace of
/// its own.
#[derive(Debug)]
pub struct Vm {
    /// The VNIC's name (on its host and in the VM namespace).
    pub name: String,
    /// The host it runs on (an index into [`Fabric::hosts`]).
    pub host: usize,
    /// Its MAC address.
    pub mac: [u8; 6],
    /// Its overlay address.
    pub ip: Ipv4Addr,
    /// Its VLAN (0: untagged).
    pub vlan: u16,
    /// The VM's namespace.
    pub ns: Netns,
}

impl Vm {
    /// One ping (`-W 1`); whether it was answered.
    pub fn ping_once(&self, ip: Ipv4Addr) -> bool {
        self.ns
            .exec("ping", &["-c", "1", "-W", "1", &ip.to_string()])
            .status
            .success()
    }

    /// Pings `ip` once a second until one is answered or `limit` passes.
    pub fn ping_within(&self, ip: Ipv4Addr, limit: Duration) -> bool {
        let start = Instant::now();
        loop {
            if self.ping_once(ip) {
                return true;
            }
            if start.elapsed() >= limit {
                return false;
            }
        }
    }

    /// `ping -c n -i 0.2 -W 1`: how many of `n` were answered.
    pub fn ping_count(&self, ip: Ipv4Addr, n: u32) -> u32 {
        let o = self.ns.exec(
            "ping",
            &[
                "-c",
                &n.to_string(),
                "-i",
                "0.2",
                "-W",
                "1",
                &ip.to_string(),
            ],
        );
        let text = String::from_utf8_lossy(&o.stdout);
        // "3 packets transmitted, 2 received, …"
        text.lines()
            .find_map(|l| {
                let (_, rest) = l.split_once("transmitted, ")?;
                rest.split_whitespace().next()?.parse().ok()
            })
            .unwrap_or(0)
    }

    /// Forgets the neighbour entry for `ip` in the VM (so the next packet
    /// ARPs again).
    pub fn forget_neighbour(&self, ip: Ipv4Addr) {
        let _ = self
            .ns
            .exec("ip", &["neigh", "del", &ip.to_string(), "dev", &self.name]);
    }
}

/// The fabric. Drop stops every daemon, then removes the namespaces.
pub struct Fabric {
    /// The VMs.
    pub vms: Vec<Vm>,
    /// The hosts.
    pub hosts: Vec<FabricHost>,
    /// The portolan servers.
    pub portolans: Vec<Portolan>,
    /// The portolan namespace.
    pub pns: Netns,
    /// The underlay namespace (the bridge `br0`).
    pub underlay: Netns,
    /// The store every portolan shares.
    pub db: TestDb,
    /// A scratch directory (captures, logs).
    pub scratch: TempRoot,
    /// The configuration it was built with.
    pub cfg: FabricConfig,
}

impl std::fmt::Debug for Fabric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fabric")
            .field("hosts", &self.hosts.len())
            .field("vms", &self.vms.len())
            .field("db", &self.db.kind())
            .finish()
    }
}

/// Which stores the fabric tests run on: `OVERLAY_TEST_DB`'s choice (both
/// when unset), less PostgreSQL when the machine has no PostgreSQL server
/// (said on stderr), unless it was asked for by name, in which case the
/// test fails.
pub fn db_kinds() -> Vec<DbKind> {
    let asked = std::env::var("OVERLAY_TEST_DB").is_ok_and(|s| !s.is_empty());
    DbKind::from_env()
        .into_iter()
        .filter(|k| match k {
            DbKind::Sqlite => true,
            DbKind::Postgres => match postgres_store_missing() {
                None => true,
                Some(why) if asked => panic!("OVERLAY_TEST_DB=postgres: {why}"),
                Some(why) => {
                    eprintln!("fabric: PostgreSQL not tested: {why}");
                    false
                }
            },
        })
        .collect()
}

/// Why the PostgreSQL store cannot be tested here, if it cannot: portolan
/// always has it, so only a machine without a PostgreSQL server to start.
fn postgres_store_missing() -> Option<String> {
    (!crate::postgres::postgres_available()).then(|| "no PostgreSQL server installed".into())
}

impl Fabric {
    /// Builds the underlay, starts the portolans, the hosts and their
    /// overlays, and registers the hosts with `portolan add-host`. No VMs
    /// yet: see [`Fabric::add_vm`].
    pub fn new(cfg: FabricConfig) -> Fabric {
        // Build the programs before anything starts (bin() may build).
        for p in ["dladm", "fkoverlayd", "varpd", "portolan"] {
            let _ = bin(p);
        }
        let scratch = TempRoot::new(cfg.prefix);
        let underlay = underlay_bridge(cfg.prefix);

        let pns = Netns::new(cfg.prefix);
        let paddrs: Vec<Ipv4Addr> = (0..cfg.portolans)
            .map(|k| format!("{UNDERLAY_NET}.{}", 100 + k).parse().unwrap())
            .collect();
        attach(&underlay, &pns, "pp", &paddrs);

        let db = TestDb::new(cfg.db);
        let mut f = Fabric {
            vms: Vec::new(),
            hosts: Vec::new(),
            portolans: paddrs
                .iter()
                .map(|a| Portolan {
                    daemon: None,
                    root: TempRoot::new(cfg.prefix),
                    addr: *a,
                })
                .collect(),
            pns,
            underlay,
            db,
            scratch,
            cfg: cfg.clone(),
        };
        for k in 0..cfg.portolans {
            f.start_portolan(k);
        }

        for i in 0..cfg.hosts {
            let ns = Netns::new(cfg.prefix);
            let ul: Ipv4Addr = format!("{UNDERLAY_NET}.{}", i + 1).parse().unwrap();
            attach(&f.underlay, &ns, &format!("p{}", i + 1), &[ul]);
            // /etc/netns/<ns>/hosts is bind-mounted over /etc/hosts by
            // `ip netns exec`, which starts the daemons.
            let etc = cfg.svp_name.map(|name| {
                let dir = PathBuf::from("/etc/netns").join(ns.name());
                std::fs::create_dir_all(&dir)
                    .unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
                let mut text = String::from("127.0.0.1 localhost\n");
                for a in &paddrs {
                    text.push_str(&format!("{a} {name}\n"));
                }
                std::fs::write(dir.join("hosts"), text).expect("write netns hosts file");
                NetnsEtc(dir)
            });
            let mut host = OurHost::stopped_in(ns, TempRoot::new(cfg.prefix));
            host.start();
            let h = FabricHost {
                host,
                id: format!("cn{}", i + 1),
                ul,
                _etc: etc,
            };
            f.portolan_ok(&["add-host", &h.id, &ul.to_string()]);
            let svp_host = cfg
                .svp_name
                .map(str::to_string)
                .unwrap_or_else(|| paddrs[0].to_string());
            h.dladm_ok(&[
                "create-overlay",
                "-e",
                "vxlan",
                "-s",
                "svp",
                "-p",
                &format!("svp/host={svp_host}"),
                "-p",
                &format!("svp/underlay_ip={ul}"),
                "-p",
                &format!("vxlan/listen_ip={ul}"),
                "-v",
                &VNET.to_string(),
                OVERLAY,
            ]);
            f.hosts.push(h);
        }
        f
    }

    /// Starts portolan `k` (`portolan -f --listen <addr>:1296 --db <store>`
    /// in the portolan namespace) and waits until it serves.
    pub fn start_portolan(&mut self, k: usize) {
        let p = &mut self.portolans[k];
        assert!(p.daemon.is_none(), "portolan {k} already runs");
        let listen = format!("{}:{SVP_PORT}", p.addr);
        let url = self.db.url();
        let ready = p.root.path().join("run/portolan/portolan.stats");
        let _ = std::fs::remove_file(&ready);
        p.daemon = Some(Daemon::start(
            &self.pns,
            "portolan",
            &["--listen", &listen, "--db", &url],
            p.root.path(),
            &ready,
        ));
    }

    /// `kill -9` of portolan `k`.
    pub fn kill9_portolan(&mut self, k: usize) {
        kill9(&mut self.portolans[k].daemon);
    }

    /// Runs a `portolan` operator command against the store; the output
    /// whatever the status.
    pub fn portolan(&self, args: &[&str]) -> Output {
        Command::new(bin("portolan"))
            .arg("--db")
            .arg(self.db.url())
            .args(args)
            .env("OVERLAY_ROOT", self.portolans[0].root.path())
            .stdin(Stdio::null())
            .output()
            .expect("run portolan")
    }

    /// Runs a `portolan` operator command and requires success; returns
    /// stdout.
    pub fn portolan_ok(&self, args: &[&str]) -> String {
        let o = self.portolan(args);
        expect_success(&o, &format!("portolan {}", args.join(" ")))
    }

    /// The MAC and address of VM number `n` (from 1).
    pub fn vm_identity(n: usize) -> ([u8; 6], Ipv4Addr) {
        (
            [0x02, 0x08, 0x20, 0x00, 0x00, n as u8],
            format!("{OVERLAY_NET}.{}", 10 + n).parse().unwrap(),
        )
    }

    /// Creates VM number `vms.len() + 1` on host `host` (VLAN `vlan`, 0
    /// for none): the VNIC, its namespace and address, and its mapping
    /// (`portolan add-nic`). Returns its index in [`Fabric::vms`].
    pub fn add_vm(&mut self, host: usize, vlan: u16) -> usize {
        let n = self.vms.len() + 1;
        let (mac, ip) = Fabric::vm_identity(n);
        let vm = Vm {
            name: format!("vm{n}"),
            host,
            mac,
            ip,
            vlan,
            ns: Netns::new(self.cfg.prefix),
        };
        self.plug(&vm, host);
        self.portolan_ok(&[
            "add-nic",
            "--vnet",
            &VNET.to_string(),
            "--mac",
            &mac_str(&mac),
            "--ip",
            &ip.to_string(),
            "--vlan",
            &vlan.to_string(),
            "--host",
            &self.hosts[host].id,
        ]);
        self.vms.push(vm);
        self.vms.len() - 1
    }

    /// Creates `vm`'s VNIC on `host` and moves it into the VM's namespace
    /// with its address (what a hypervisor does when the VM boots there).
    fn plug(&self, vm: &Vm, host: usize) {
        let h = &self.hosts[host];
        let mac = mac_str(&vm.mac);
        let vid = vm.vlan.to_string();
        let mut args = vec!["create-vnic", "-l", OVERLAY, "-m", &mac];
        if vm.vlan != 0 {
            args.extend(["-v", &vid]);
        }
        args.push(&vm.name);
        h.dladm_ok(&args);
        h.ns.exec_ok("ip", &["link", "set", &vm.name, "netns", vm.ns.name()]);
        vm.ns.plumb(&vm.name, &format!("{}/24", vm.ip));
    }

    /// Deletes VM `i`'s VNIC on its host (the VM stops; its namespace
    /// stays).
    pub fn unplug(&self, i: usize) {
        let vm = &self.vms[i];
        self.hosts[vm.host].dladm_ok(&["delete-vnic", &vm.name]);
    }

    /// Moves VM `i` to host `to`: its VNIC is deleted on the old host and
    /// created on the new one with the same MAC, VLAN and address. The
    /// mapping is not touched: that is the operator's `portolan move-nic`.
    pub fn migrate_vnic(&mut self, i: usize, to: usize) {
        self.unplug(i);
        let vm = &self.vms[i];
        self.plug(vm, to);
        self.vms[i].host = to;
    }

    /// `portolan move-nic --vnet <vnet> --mac <vm i> --host <host to>`.
    pub fn move_nic(&self, i: usize, to: usize) -> String {
        self.portolan_ok(&[
            "move-nic",
            "--vnet",
            &VNET.to_string(),
            "--mac",
            &mac_str(&self.vms[i].mac),
            "--host",
            &self.hosts[to].id,
        ])
    }

    /// `portolan remove-nic --vnet <vnet> --mac <vm i>`.
    pub fn remove_nic(&self, i: usize) -> String {
        self.portolan_ok(&[
            "remove-nic",
            "--vnet",
            &VNET.to_string(),
            "--mac",
            &mac_str(&self.vms[i].mac),
        ])
    }

    /// Every ordered pair of VMs `(a, b)`, `a != b`, on the same VLAN.
    pub fn reachable_pairs(&self) -> Vec<(usize, usize)> {
        let mut v = Vec::new();
        for a in 0..self.vms.len() {
            for b in 0..self.vms.len() {
                if a != b && self.vms[a].vlan == self.vms[b].vlan {
                    v.push((a, b));
                }
            }
        }
        v
    }

    /// Pings every pair in `pairs` (in parallel, each until answered or
    /// `limit`); returns the pairs that never got an answer.
    pub fn ping_pairs(&self, pairs: &[(usize, usize)], limit: Duration) -> Vec<(usize, usize)> {
        std::thread::scope(|s| {
            let handles: Vec<_> = pairs
                .iter()
                .map(|&(a, b)| {
                    let (va, vb) = (&self.vms[a], &self.vms[b]);
                    s.spawn(move || (!va.ping_within(vb.ip, limit)).then_some((a, b)))
                })
                .collect();
            handles
                .into_iter()
                .filter_map(|h| h.join().expect("ping thread"))
                .collect()
        })
    }

    /// A human name for a pair, for messages.
    pub fn pair_name(&self, (a, b): (usize, usize)) -> String {
        let (va, vb) = (&self.vms[a], &self.vms[b]);
        format!(
            "{}@{} ({}, vlan {}) -> {}@{} ({}, vlan {})",
            va.name,
            self.hosts[va.host].id,
            va.ip,
            va.vlan,
            vb.name,
            self.hosts[vb.host].id,
            vb.ip,
            vb.vlan
        )
    }

    /// Waits until `cond` holds, polling every 100 ms, for at most
    /// `limit`; returns how long it took, or `None`.
    pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
        let start = Instant::now();
        loop {
            if cond() {
                return Some(start.elapsed());
            }
            if start.elapsed() >= limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The scratch directory.
    pub fn scratch(&self) -> &Path {
        self.scratch.path()
    }
}

impl Drop for Fabric {
    fn drop(&mut self) {
        // varpd first (it holds fkoverlayd's /dev/overlay), then
        // fkoverlayd (closing the VNICs' TAPs, wherever they are), then
        // the portolans; the namespaces and directories go with the
        // fields.
        for h in &mut self.hosts {
            if let Some(mut d) = h.varpd.take() {
                d.stop();
            }
        }
        for h in &mut self.hosts {
            if let Some(mut d) = h.fk.take() {
                d.stop();
            }
        }
        for p in &mut self.portolans {
            if let Some(mut d) = p.daemon.take() {
                d.stop();
            }
        }
    }
}

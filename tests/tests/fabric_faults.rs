//! Faults on the mapping path (DESIGN.md §6; spec/svp.md §2.5–2.7): the
//! svp plugin chooses availability over consistency.
//!
//! * `kill -9` of portolan while a VM pings: the established destination
//!   keeps flowing from the kernel's cache; a new destination is dropped;
//!   once every connection has failed seven times in a row (backoff 1, 2,
//!   4, … 32 s) `dladm show-overlay -f` says `cannot reach any remote
//!   peers`; portolan restarted, the overlay is ONLINE again and new
//!   lookups work with no operator action, with every mapping still there.
//! * `svp/host` a name with two addresses (the namespace's hosts file):
//!   one connection per address (`ss -tn`); one server killed, new lookups
//!   go through the other.
//! * `kill -9` of varpd and a restart: lookups resume.

use std::time::Duration;

use overlay_tests::fabric::{db_kinds, Fabric, FabricConfig, SVP_PORT};
use overlay_tests::have_root;
use overlay_tests::postgres::DbKind;

/// A first ping: ARP proxy and neighbour resolution, generously.
const FIRST_PING: Duration = Duration::from_secs(15);

/// From the crash to the degrade: the seventh consecutive failed connect
/// comes 1+2+4+8+16+32 = 63 s after the first; generously.
const DEGRADE: Duration = Duration::from_secs(150);

/// From portolan's restart to a connection: the longest backoff (32 s),
/// generously.
const RECONNECT: Duration = Duration::from_secs(60);

/// Two hosts; vm1 on cn1, vm2 and vm3 on cn2.
fn small_fabric(cfg: FabricConfig) -> Fabric {
    let mut f = Fabric::new(cfg);
    f.add_vm(0, 0);
    f.add_vm(1, 0);
    f.add_vm(1, 0);
    f
}

fn portolan_kill9(kind: DbKind) {
    eprintln!("fabric faults: store {}", kind.name());
    let mut f = small_fabric(FabricConfig::new("faf", 2, kind));
    let (vm1, vm2) = (&f.vms[0], &f.vms[1]);
    assert!(vm1.ping_within(vm2.ip, FIRST_PING), "vm1 -> vm2 before");
    let nics = f.portolan_ok(&["list-nics", "--json"]);
    let hosts = f.portolan_ok(&["list-hosts", "--json"]);

    // kill -9 while pinging: a 5 s ping runs across the crash.
    let ping = f.vms[0]
        .ns
        .command("ping")
        .args(["-c", "25", "-i", "0.2", "-W", "1"])
        .arg(f.vms[1].ip.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn ping");
    std::thread::sleep(Duration::from_secs(1));
    f.kill9_portolan(0);
    let out = ping.wait_with_output().expect("ping");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(" 25 received"),
        "the established destination lost packets across the crash:\n{text}"
    );
    let (vm1, vm2, vm3) = (&f.vms[0], &f.vms[1], &f.vms[2]);
    assert_eq!(vm1.ping_count(vm2.ip, 5), 5, "vm1 -> vm2 from the cache");
    // A new destination needs a lookup, which is dropped.
    assert_eq!(vm1.ping_count(vm3.ip, 3), 0, "vm1 -> vm3 without portolan");

    // After the backoff: degraded, with illumos' message.
    let h = &f.hosts[0];
    let t = Fabric::wait_for(DEGRADE, || {
        h.overlay_status().1 == "cannot reach any remote peers"
    });
    let st = h.overlay_status();
    assert!(t.is_some(), "cn1 not degraded after {DEGRADE:?}: {st:?}");
    assert_ne!(st.0, "ONLINE", "{st:?}");
    eprintln!("fabric faults: degraded {:?} after the crash", t.unwrap());
    // Still forwarding from the cache.
    assert_eq!(vm1.ping_count(vm2.ip, 3), 3);

    // Restart: ONLINE again, new lookups work, nothing was lost.
    f.start_portolan(0);
    let h = &f.hosts[0];
    let t = Fabric::wait_for(RECONNECT, || h.overlay_status().0 == "ONLINE");
    assert!(
        t.is_some(),
        "cn1 not ONLINE {RECONNECT:?} after the restart: {:?}",
        h.overlay_status()
    );
    assert_eq!(h.overlay_status().1, "");
    let (vm1, vm3) = (&f.vms[0], &f.vms[2]);
    vm1.forget_neighbour(vm3.ip);
    assert!(
        vm1.ping_within(vm3.ip, FIRST_PING),
        "vm1 -> vm3 after the restart"
    );
    assert_eq!(f.portolan_ok(&["list-nics", "--json"]), nics);
    assert_eq!(f.portolan_ok(&["list-hosts", "--json"]), hosts);
}

#[test]
fn fabric_portolan_kill9_degrade_restart() {
    if !have_root("fabric_portolan_kill9_degrade_restart") {
        return;
    }
    for kind in db_kinds() {
        portolan_kill9(kind);
    }
}

fn two_servers(kind: DbKind) {
    eprintln!("fabric faults: two servers, store {}", kind.name());
    let mut cfg = FabricConfig::new("fag", 2, kind);
    cfg.portolans = 2;
    cfg.svp_name = Some("portolan.fabric");
    let mut f = small_fabric(cfg);
    f.add_vm(1, 0);
    let (a0, a1) = (
        f.portolans[0].addr.to_string(),
        f.portolans[1].addr.to_string(),
    );

    // One connection per address of the name.
    let h = &f.hosts[0];
    let both = Fabric::wait_for(Duration::from_secs(20), || {
        let c = h.tcp_conns(SVP_PORT);
        let est = |a: &str| c.iter().any(|(s, p)| s == "ESTAB" && p == a);
        est(&a0) && est(&a1)
    });
    assert!(
        both.is_some(),
        "cn1 is not connected to both {a0} and {a1}: {:?}",
        h.tcp_conns(SVP_PORT)
    );
    assert_eq!(
        f.hosts[0].overlay_status(),
        ("ONLINE".to_string(), String::new())
    );
    let (vm1, vm2) = (&f.vms[0], &f.vms[1]);
    assert!(vm1.ping_within(vm2.ip, FIRST_PING));

    // One server down: new lookups go through the other.
    f.kill9_portolan(0);
    let h = &f.hosts[0];
    let t = Fabric::wait_for(Duration::from_secs(10), || {
        !h.tcp_conns(SVP_PORT)
            .iter()
            .any(|(s, p)| s == "ESTAB" && *p == a0)
    });
    assert!(t.is_some(), "{:?}", h.tcp_conns(SVP_PORT));
    let (vm1, vm3, vm4) = (&f.vms[0], &f.vms[2], &f.vms[3]);
    assert!(
        vm1.ping_within(vm3.ip, FIRST_PING),
        "vm1 -> vm3 through {a1}"
    );
    assert!(
        vm1.ping_within(vm4.ip, FIRST_PING),
        "vm1 -> vm4 through {a1}"
    );
    assert_eq!(f.hosts[0].overlay_status().0, "ONLINE");
}

#[test]
fn fabric_two_servers_by_name() {
    if !have_root("fabric_two_servers_by_name") {
        return;
    }
    for kind in db_kinds() {
        two_servers(kind);
    }
}

#[test]
fn fabric_varpd_kill9_restart() {
    if !have_root("fabric_varpd_kill9_restart") {
        return;
    }
    // The store plays no part here: SQLite only.
    let mut f = small_fabric(FabricConfig::new("fah", 2, DbKind::Sqlite));
    let (vm1, vm2) = (&f.vms[0], &f.vms[1]);
    assert!(vm1.ping_within(vm2.ip, FIRST_PING));
    f.hosts[0].kill9_varpd();
    // The kernel's cache keeps forwarding without varpd.
    let (vm1, vm2, vm3) = (&f.vms[0], &f.vms[1], &f.vms[2]);
    assert_eq!(vm1.ping_count(vm2.ip, 3), 3);
    assert_eq!(vm1.ping_count(vm3.ip, 2), 0, "a lookup without varpd");
    f.hosts[0].start_varpd();
    let (vm1, vm3) = (&f.vms[0], &f.vms[2]);
    vm1.forget_neighbour(vm3.ip);
    assert!(
        vm1.ping_within(vm3.ip, FIRST_PING),
        "vm1 -> vm3 after varpd's restart"
    );
    assert_eq!(
        f.hosts[0].overlay_status(),
        ("ONLINE".to_string(), String::new())
    );
}

//! varpd end to end, with fkoverlayd and dladm in network namespaces:
//! a `direct` instance associates POINT and traffic flows between two
//! hosts; `kill -9` of varpd and a restart restore the instances with the
//! same ids and traffic keeps flowing; SIGTERM leaves state persisted.

use std::path::{Path, PathBuf};
use std::time::Duration;

use libvarpd::client::Client;
use libvarpd::persist;
use overlay_tests::daemons::{varpd_door, Daemon};
use overlay_tests::have_root;
use overlay_tests::host::{OurHost, TwoHosts};
use overlay_tests::netns::{Netns, TempRoot};

/// What these tests read of a host's varpd.
trait VarpdHost {
    /// varpd's state directory.
    fn state_dir(&self) -> PathBuf;
    /// The saved instances: (id, linkid, plugin).
    fn saved(&self) -> Vec<(u64, u32, String)>;
    /// A door client.
    fn client(&self) -> Client;
}

impl VarpdHost for OurHost {
    fn state_dir(&self) -> PathBuf {
        self.root.path().join("run/varpd")
    }

    fn saved(&self) -> Vec<(u64, u32, String)> {
        let mut v = Vec::new();
        for (id, path) in persist::list(&self.state_dir()).expect("state dir") {
            let s = persist::decode(&std::fs::read(&path).unwrap()).expect("valid state file");
            assert_eq!(s.vri_id, id);
            v.push((id, s.vri_linkid, s.vri_plugin));
        }
        v
    }

    fn client(&self) -> Client {
        Client::open(&varpd_door(self.root.path())).expect("open door")
    }
}

/// Two hosts joined by 192.168.231.0/24.
fn hosts() -> (OurHost, OurHost) {
    let p = TwoHosts::new("vp")
        .veth("192.168.231.1/24", "192.168.231.2/24")
        .build();
    (p.a, p.b)
}

/// [`hosts`] with the seed's overlay and VNIC on each (10.231.0.0/24).
fn two_hosts() -> (OurHost, OurHost) {
    let (ha, hb) = hosts();
    ha.demo_link("192.168.231.1", "192.168.231.2", "10.231.0.1/24");
    hb.demo_link("192.168.231.2", "192.168.231.1", "10.231.0.2/24");
    (ha, hb)
}

fn wait_gone(p: &Path) {
    for _ in 0..100 {
        if !p.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn varpd_direct_point_traffic_flows() {
    if !have_root("varpd_direct_point_traffic_flows") {
        return;
    }
    let (ha, hb) = two_hosts();
    let saved = ha.saved();
    assert_eq!(saved.len(), 1, "one activated instance persisted");
    let (id, linkid, plugin) = saved[0].clone();
    assert_eq!(plugin, "direct");
    let c = ha.client();
    assert_eq!(c.instance_lookup(linkid), Ok(id));
    // POINT mode, vxlan needs IP|PORT.
    assert_eq!(c.instance_target_mode(id), Ok((6, 1)));
    let pi = c.prop_info_by_name(id, "direct/dest_port").unwrap();
    assert_eq!(
        c.prop_get(id, pi.propid).unwrap(),
        4789u64.to_ne_bytes().to_vec()
    );
    assert!(
        ha.ping_retry("10.231.0.2"),
        "A cannot ping B over the overlay"
    );
    assert!(
        hb.ping_retry("10.231.0.1"),
        "B cannot ping A over the overlay"
    );
    // The kernel reports our id as varpd/id.
    let out = ha.dladm_ok(&["show-overlay", "-p", "-o", "property,value", "demo0"]);
    assert!(
        out.lines().any(|l| l == format!("varpd/id:{id}")),
        "show-overlay:\n{out}"
    );
}

#[test]
fn varpd_kill9_restart_restores_instances() {
    if !have_root("varpd_kill9_restart_restores_instances") {
        return;
    }
    let (mut ha, hb) = two_hosts();
    assert!(ha.ping_retry("10.231.0.2"));
    let before = ha.saved();
    assert_eq!(before.len(), 1);
    let (id, linkid, _) = before[0].clone();

    // kill -9: no cleanup at all.
    ha.kill9_varpd();
    assert_eq!(ha.saved(), before, "state survives a crash untouched");
    // Traffic keeps flowing without varpd: POINT needs no lookups.
    assert!(hb.ping_retry("10.231.0.1"));

    ha.start_varpd();
    assert_eq!(ha.saved(), before);
    let c = ha.client();
    assert_eq!(c.instance_lookup(linkid), Ok(id), "same id after restart");
    assert_eq!(c.instance_target_mode(id), Ok((6, 1)));
    assert!(ha.ping_retry("10.231.0.2"));
    let out = ha.dladm_ok(&["show-overlay", "-f", "-p", "-o", "status", "demo0"]);
    assert!(
        !out.contains("DEGRADED") && !out.contains("degraded"),
        "{out}"
    );

    // A new overlay after the restart gets a fresh id.
    ha.dladm_ok(&[
        "create-overlay",
        "-e",
        "vxlan",
        "-s",
        "direct",
        "-p",
        "vxlan/listen_ip=192.168.231.1",
        "-p",
        "vxlan/listen_port=4790",
        "-p",
        "direct/dest_ip=192.168.231.2",
        "-p",
        "direct/dest_port=4790",
        "-v",
        "24",
        "demo1",
    ]);
    let ids: Vec<u64> = ha.saved().iter().map(|s| s.0).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&id) && ids.iter().any(|&i| i != id));

    // SIGTERM: orderly exit 0, instances stay persisted, door removed.
    let mut d = ha.varpd.take().expect("varpd runs");
    let st = d.stop().expect("exit status");
    assert!(st.success(), "varpd exit status {st}");
    wait_gone(&varpd_door(ha.root.path()));
    assert_eq!(ha.saved().len(), 2);
    assert!(Client::open(&varpd_door(ha.root.path())).is_err());

    // Deleting an overlay destroys its instance and its state file.
    ha.start_varpd();
    ha.dladm_ok(&["delete-overlay", "demo1"]);
    assert_eq!(ha.saved().len(), 1);
}

#[test]
fn varpd_refuses_second_instance_and_unprivileged_mutations() {
    if !have_root("varpd_refuses_second_instance_and_unprivileged_mutations") {
        return;
    }
    let ns = Netns::new("vp");
    let h = OurHost::new(ns);
    // A second varpd on the same root cannot get the exclusive handle.
    let out =
        h.ns.command(overlay_tests::daemons::bin("varpd"))
            .arg("-f")
            .env("OVERLAY_ROOT", h.root.path())
            .output()
            .expect("run varpd");
    assert_eq!(out.status.code(), Some(95));
    assert!(String::from_utf8_lossy(&out.stderr).contains("failed to open a libvarpd handle"));
    // Bad options: usage, exit 96.
    let out = std::process::Command::new(overlay_tests::daemons::bin("varpd"))
        .arg("-x")
        .output()
        .expect("run varpd");
    assert_eq!(out.status.code(), Some(96));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: varpd"));

    // An unprivileged client may read but not create. (The state
    // directory is 0700 as on illumos; let the test user through.)
    let door = varpd_door(h.root.path());
    for d in [
        h.root.path().to_path_buf(),
        h.root.path().join("run"),
        h.state_dir(),
    ] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o711)).unwrap();
    }
    // Run this test binary's helper below as uid/gid 65534.
    use std::os::unix::process::CommandExt;
    // A copy of this test binary the test user can surely execute (the
    // build directory may sit under a 0700 home).
    let helper = h.root.path().join("varpd-helper");
    std::fs::copy(std::env::current_exe().unwrap(), &helper).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = std::process::Command::new(&helper)
        .args([
            "--exact",
            "varpd_unprivileged_client_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("VARPD_HELPER_DOOR", &door)
        .uid(65534)
        .gid(65534)
        .output()
        .expect("run helper");
    assert!(
        out.status.success(),
        "unprivileged client checks failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("helper: checked"));
}

/// Run as an unprivileged user by the test above (does nothing otherwise):
/// reads are allowed, mutations refused with EPERM.
#[test]
fn varpd_unprivileged_client_helper() {
    let Some(door) = std::env::var_os("VARPD_HELPER_DOOR") else {
        return;
    };
    // SAFETY: geteuid has no preconditions.
    assert_ne!(unsafe { libc::geteuid() }, 0);
    let c = Client::open(Path::new(&door)).expect("open door");
    assert_eq!(c.instance_lookup(4242), Err(libvarpd::Errno::ENOENT));
    assert_eq!(c.instance_create(1, "direct"), Err(libvarpd::Errno::EPERM));
    assert_eq!(c.instance_destroy(1), Err(libvarpd::Errno::EPERM));
    assert_eq!(c.cache_flush(1), Err(libvarpd::Errno::EPERM));
    println!("helper: checked");
}

/// A `files` overlay on both hosts with fixed VNIC MACs, so lookups (and
/// proxy ARP) go through varpd.
fn files_overlay(h: &OurHost, me: &str, mac: &str, cidr: &str) {
    let cfg = h.root.path().join("hosts.json");
    std::fs::write(
        &cfg,
        r#"{
  "02:08:20:00:00:0a": { "ip": "192.168.231.1", "port": 4789, "arp": "10.231.1.1" },
  "02:08:20:00:00:0b": { "ip": "192.168.231.2", "port": 4789, "arp": "10.231.1.2" }
}"#,
    )
    .unwrap();
    h.files_overlay("dyn0", 31, me, &cfg);
    h.dladm_ok(&["create-vnic", "-l", "dyn0", "-m", mac, "dyn1"]);
    h.ns.plumb("dyn1", cidr);
}

#[test]
fn varpd_kill9_restart_serves_lookups_again() {
    if !have_root("varpd_kill9_restart_serves_lookups_again") {
        return;
    }
    let (mut ha, hb) = hosts();
    files_overlay(&ha, "192.168.231.1", "2:8:20:0:0:a", "10.231.1.1/24");
    files_overlay(&hb, "192.168.231.2", "2:8:20:0:0:b", "10.231.1.2/24");
    assert!(
        ha.ping_retry("10.231.1.2"),
        "files overlay: A cannot ping B"
    );
    let before = ha.saved();
    assert_eq!(before.len(), 1);
    let (id, linkid, plugin) = before[0].clone();
    assert_eq!(plugin, "files");
    assert_eq!(ha.client().instance_target_mode(id), Ok((6, 2)));

    ha.kill9_varpd();
    ha.start_varpd();
    let c = ha.client();
    assert_eq!(c.instance_lookup(linkid), Ok(id), "same id after restart");
    // Forget everything learnt so far, so the kernel must ask again.
    c.cache_flush(id).expect("cache flush");
    ha.ns.exec_ok("ip", &["neigh", "flush", "dev", "dyn1"]);
    assert!(
        ha.ping_retry("10.231.1.2"),
        "lookups not served after restart"
    );
    let mut learnt = 0;
    c.cache_walk(id, |_, _| {
        learnt += 1;
        true
    })
    .expect("cache walk");
    assert!(learnt >= 1, "no cache entry learnt after restart");
}

#[test]
fn varpd_daemonises_once_ready() {
    if !have_root("varpd_daemonises_once_ready") {
        return;
    }
    let ns = Netns::new("vp");
    let root = TempRoot::new("vp");
    let varpd = overlay_tests::daemons::bin("varpd");
    // No fkoverlayd: the open fails before forking.
    let out = ns
        .command(&varpd)
        .env("OVERLAY_ROOT", root.path())
        .output()
        .expect("run varpd");
    assert_eq!(out.status.code(), Some(95));
    let _fk = Daemon::fkoverlayd(&ns, root.path());
    // A door that cannot be created: the child fails after the fork and the
    // parent reports its status.
    let out = ns
        .command(&varpd)
        .args(["-d", "/proc/varpd-nonexistent/door"])
        .env("OVERLAY_ROOT", root.path())
        .output()
        .expect("run varpd");
    assert_eq!(
        out.status.code(),
        Some(95),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("failed to create door server"),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // An unreadable plugin directory is fatal.
    let out = ns
        .command(&varpd)
        .args(["-f", "-i", "/nonexistent-varpd-plugins"])
        .env("OVERLAY_ROOT", root.path())
        .output()
        .expect("run varpd");
    assert_eq!(out.status.code(), Some(95));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("failed to load from /nonexistent-varpd-plugins"));
    // -h: usage on stderr, exit 0; a missing option argument: exit 96.
    let out = std::process::Command::new(&varpd)
        .arg("-h")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("usage: varpd"));
    let out = std::process::Command::new(&varpd)
        .arg("-d")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(96));
    assert!(String::from_utf8_lossy(&out.stderr).contains("option requires an argument: -d"));
    // Daemonised: the parent exits 0 once the door accepts.
    let st = ns
        .command(&varpd)
        .env("OVERLAY_ROOT", root.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run varpd");
    assert!(st.success());
    let door = varpd_door(root.path());
    let c = Client::open(&door).expect("door serves as soon as the parent exits");
    assert_eq!(c.instance_lookup(12345), Err(libvarpd::Errno::ENOENT));
    // Stop it with SIGTERM: the door goes away.
    let out = std::process::Command::new("ip")
        .args(["netns", "pids", ns.name()])
        .output()
        .unwrap();
    for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        let pid: i32 = pid.parse().unwrap();
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "varpd" {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
    }
    wait_gone(&door);
    assert!(!door.exists(), "door removed on SIGTERM");
}

#[test]
fn varpd_exits_when_fkoverlayd_goes_away() {
    if !have_root("varpd_exits_when_fkoverlayd_goes_away") {
        return;
    }
    let ns = Netns::new("vp");
    let root = TempRoot::new("vp");
    let mut fk = Daemon::fkoverlayd(&ns, root.path());
    let mut vd = Daemon::varpd(&ns, root.path());
    fk.stop();
    // The lookup threads see the connection drop within about a second.
    for _ in 0..100 {
        if !vd.running() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let st = vd.stop().expect("exit status");
    assert_eq!(st.code(), Some(95), "varpd exit status {st}");
}

//! End to end: a `files` overlay between two hosts (network namespaces,
//! each with fkoverlayd and varpd). varpd answers the kernel's lookups from
//! the overlay_files(5) table and proxies ARP and NDP, so the two VNICs ping
//! each other over IPv4 and IPv6, and redirects a broadcast DHCP request to
//! the `dhcp-proxy` MAC, while no broadcast or multicast overlay frame is
//! ever encapsulated onto the underlay. The underlay is watched
//! with an AF_PACKET socket opened inside one namespace, and every VXLAN
//! datagram's inner Ethernet destination is checked.
//!
//! A second test breaks the file under a running overlay and restarts
//! varpd: the overlay stays, degraded with the file's path:line:column
//! message, and heals when the file is fixed.

use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use overlay_tests::have_root;
use overlay_tests::host::{files_overlay_args, HostPair, OurHost, TwoHosts};
use overlay_tests::netns::{expect_success, Netns, TempRoot};

const UL_A: &str = "10.88.88.69";
const UL_B: &str = "10.88.88.70";
const MAC_A: &str = "de:ad:be:ef:00:01";
const MAC_B: &str = "de:ad:be:ef:00:02";

fn config(port: &str) -> String {
    format!(
        r#"{{
  "{MAC_A}": {{ "ip": "{UL_A}", "port": {port}, "arp": "10.55.55.1", "ndp": "fe80::dcad:beff:feef:1" }},
  "{MAC_B}": {{ "ip": "{UL_B}", "port": {port}, "arp": "10.55.55.2", "ndp": "fe80::dcad:beff:feef:2", "dhcp-proxy": "{MAC_A}" }}
}}
"#
    )
}

/// Two hosts on UL_A/UL_B, daemons running; IPv6 addresses usable at once
/// (no DAD delay on the VNICs).
fn two_hosts() -> HostPair {
    TwoHosts::new("pl")
        .sysctl("sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0")
        .veth(&format!("{UL_A}/24"), &format!("{UL_B}/24"))
        .build()
}

/// What these tests do on a host beyond the shared harness.
trait Files {
    /// create-overlay (files), create-vnic with a fixed MAC, plumb.
    fn overlay(&self, ul: &str, cfg: &Path, mac: &str, ip4: &str);
    /// Three pings (`ping -c 3 -i 0.2 -W 2 args…`): whether all went well.
    fn ping(&self, args: &[&str]) -> bool;
}

impl Files for OurHost {
    fn overlay(&self, ul: &str, cfg: &Path, mac: &str, ip4: &str) {
        expect_success(
            &self.dladm(&files_overlay_args("demo0", 23, ul, cfg)),
            "create-overlay",
        );
        expect_success(
            &self.dladm(&["create-vnic", "-l", "demo0", "-m", mac, "foo0"]),
            "create-vnic",
        );
        self.ns.plumb("foo0", ip4);
    }

    fn ping(&self, args: &[&str]) -> bool {
        let mut a = vec!["-c", "3", "-i", "0.2", "-W", "2"];
        a.extend_from_slice(args);
        self.ns.exec("ping", &a).status.success()
    }
}

/// An AF_PACKET socket bound to `ifname` inside `ns` (made on a thread that
/// enters the namespace; the socket stays bound there), with a 100 ms
/// receive timeout.
fn packet_socket(ns: &Netns, ifname: &str) -> OwnedFd {
    let nspath = format!("/var/run/netns/{}", ns.name());
    let ifname = std::ffi::CString::new(ifname).unwrap();
    std::thread::spawn(move || {
        let nsf = std::fs::File::open(&nspath).expect("open netns");
        // SAFETY: setns on a valid namespace fd affects this thread only.
        let r = unsafe { libc::setns(nsf.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
        let proto = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket(2) call.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(proto)) };
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        // SAFETY: fd is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: a valid NUL-terminated name.
        let ifindex = unsafe { libc::if_nametoindex(ifname.as_ptr()) };
        assert!(ifindex != 0, "if_nametoindex {ifname:?}");
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: sll is a properly sized sockaddr_ll for this socket.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        assert_eq!(r, 0, "bind: {}", std::io::Error::last_os_error());
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 100_000,
        };
        // SAFETY: tv is a valid timeval for SO_RCVTIMEO.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &tv as *const libc::timeval as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as u32,
            )
        };
        fd
    })
    .join()
    .expect("packet socket thread")
}

/// A broadcast DHCPDISCOVER from `src` (UDP 68 -> 67, a 300-byte BOOTP
/// body ending in `marker`).
fn dhcp_discover(src: [u8; 6], marker: &[u8]) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&[
        0x45, 0, 0x01, 0x48, 0, 0, 0, 0, 64, 17, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255,
    ]);
    f.extend_from_slice(&[0, 68, 0, 67, 0x01, 0x34, 0, 0]);
    let mut bootp = vec![0u8; 300];
    bootp[0] = 1;
    bootp[300 - marker.len()..].copy_from_slice(marker);
    f.extend_from_slice(&bootp);
    f
}

/// Frames seen on one interface, captured from inside its namespace.
struct Capture {
    stop: Arc<AtomicBool>,
    frames: Arc<Mutex<Vec<Vec<u8>>>>,
    thread: Option<JoinHandle<()>>,
}

impl Capture {
    fn start(ns: &Netns, ifname: &str) -> Capture {
        let fd = packet_socket(ns, ifname);
        let stop = Arc::new(AtomicBool::new(false));
        let frames = Arc::new(Mutex::new(Vec::new()));
        let (s, f) = (stop.clone(), frames.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !s.load(Ordering::Relaxed) {
                // SAFETY: buf is valid for buf.len() bytes; fd is open.
                let n =
                    unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
                if n > 0 {
                    f.lock().unwrap().push(buf[..n as usize].to_vec());
                }
            }
        });
        Capture {
            stop,
            frames,
            thread: Some(thread),
        }
    }

    /// The frames seen so far.
    fn snapshot(&self) -> Vec<Vec<u8>> {
        self.frames.lock().unwrap().clone()
    }

    /// Stop and return every frame seen.
    fn frames(mut self) -> Vec<Vec<u8>> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        let f = self.frames.lock().unwrap();
        f.clone()
    }

    /// Stop and return the inner Ethernet headers (dst, src, ethertype) of
    /// every VXLAN datagram (IPv4/UDP to port 4789) seen.
    fn vxlan_inner(self) -> Vec<([u8; 6], [u8; 6], u16)> {
        let frames = self.frames();
        let mut out = Vec::new();
        for f in frames.iter() {
            if f.len() < 14 + 20 + 8 + 8 + 14 || f[12..14] != [0x08, 0x00] {
                continue;
            }
            let ihl = usize::from(f[14] & 0x0f) * 4;
            let udp = 14 + ihl;
            if f[23] != 17 || f.len() < udp + 8 + 8 + 14 || f[udp + 2..udp + 4] != [0x12, 0xb5] {
                continue;
            }
            let inner = &f[udp + 16..];
            let mut d = [0u8; 6];
            let mut s = [0u8; 6];
            d.copy_from_slice(&inner[0..6]);
            s.copy_from_slice(&inner[6..12]);
            out.push((d, s, u16::from_be_bytes([inner[12], inner[13]])));
        }
        out
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn files_overlay_proxies_arp_and_ndp_with_no_broadcast_on_the_underlay() {
    if !have_root("files_overlay_proxies_arp_and_ndp_with_no_broadcast_on_the_underlay") {
        return;
    }
    let shared = TempRoot::new("pl");
    let cfg = shared.path().join("overlay.json");
    std::fs::write(&cfg, config("4789")).unwrap();

    let HostPair { a, b, ul } = two_hosts();
    let vb = ul.if_b;
    // Watch the underlay from before the VNICs exist: their first IPv6
    // multicast (MLD, router solicitations) must be dropped too.
    let cap = Capture::start(&b.ns, &vb);
    a.overlay(UL_A, &cfg, MAC_A, "10.55.55.1/24");
    b.overlay(UL_B, &cfg, MAC_B, "10.55.55.2/24");

    assert!(
        a.ping(&["10.55.55.2"]),
        "IPv4 ping A -> B over the files overlay"
    );
    assert!(b.ping(&["10.55.55.1"]), "IPv4 ping B -> A");
    assert!(
        a.ping(&["-6", "fe80::dcad:beff:feef:2%foo0"]),
        "IPv6 ping A -> B (NDP proxied)"
    );
    // The neighbour entries came from varpd's proxy answers.
    let neigh =
        String::from_utf8_lossy(&a.ns.exec_ok("ip", &["neigh", "show", "dev", "foo0"]).stdout)
            .into_owned();
    assert!(
        neigh.contains("10.55.55.2 lladdr de:ad:be:ef:00:02"),
        "{neigh}"
    );
    assert!(
        neigh.contains("fe80::dcad:beff:feef:2 lladdr de:ad:be:ef:00:02"),
        "{neigh}"
    );

    // The kernel cached the unicast answer and nothing for the broadcast
    // and multicast lookups (proxied or dropped queries are not cached).
    let t = String::from_utf8_lossy(&a.dladm(&["show-overlay", "-t", "demo0"]).stdout).into_owned();
    let entries: Vec<&str> = t.lines().skip(1).collect();
    assert_eq!(entries.len(), 1, "{t}");
    assert!(entries[0].contains("de:ad:be:ef:0:2"), "{t}");
    assert!(entries[0].contains("10.88.88.70:4789"), "{t}");

    // An address nobody has: no answer, nothing on the underlay.
    assert!(!a
        .ns
        .exec("ping", &["-c", "1", "-W", "1", "10.55.55.99"])
        .status
        .success());

    // DHCP: B's broadcast request reaches A's VNIC (B's dhcp-proxy) as a
    // unicast frame, and is never flooded.
    let mac_a = [0xde, 0xad, 0xbe, 0xef, 0, 1];
    let mac_b = [0xde, 0xad, 0xbe, 0xef, 0, 2];
    let at_a = Capture::start(&a.ns, "foo0");
    let tx = packet_socket(&b.ns, "foo0");
    let marker = b"pl-dhcp-redirect";
    let discover = dhcp_discover(mac_b, marker);
    // SAFETY: discover is valid for its length; tx is an open bound socket.
    let n = unsafe { libc::send(tx.as_raw_fd(), discover.as_ptr().cast(), discover.len(), 0) };
    assert_eq!(
        n,
        discover.len() as isize,
        "send: {}",
        std::io::Error::last_os_error()
    );
    // Wait (at most 10 s, in case the machine is busy) for it to arrive.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !at_a.snapshot().iter().any(|f| f.ends_with(marker)) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let got: Vec<Vec<u8>> = at_a
        .frames()
        .into_iter()
        .filter(|f| f.ends_with(marker))
        .collect();
    assert_eq!(got.len(), 1, "DHCP request at A's VNIC: {got:x?}");
    assert_eq!(got[0][0..6], mac_a, "redirected to the dhcp-proxy MAC");
    assert_eq!(got[0][6..], discover[6..], "otherwise unchanged");

    let inner = cap.vxlan_inner();
    assert!(!inner.is_empty(), "no VXLAN traffic seen on the underlay");
    for (d, s, ty) in &inner {
        assert!(
            d[0] & 1 == 0,
            "group frame on the underlay: dst {d:x?} type {ty:#06x}"
        );
        assert_ne!(*ty, 0x0806, "ARP on the underlay");
        assert!(
            (*d == mac_a && *s == mac_b) || (*d == mac_b && *s == mac_a),
            "unexpected inner frame {s:x?} -> {d:x?}"
        );
    }
    // IPv4 and IPv6 echo both crossed.
    assert!(inner.iter().any(|(_, _, t)| *t == 0x0800));
    assert!(inner.iter().any(|(_, _, t)| *t == 0x86dd));

    for h in [&a, &b] {
        let _ = h.dladm(&["delete-vnic", "foo0"]);
        let _ = h.dladm(&["delete-overlay", "demo0"]);
    }
}

#[test]
fn files_bad_config_fails_create_and_degrades_restored_overlay() {
    if !have_root("files_bad_config_fails_create_and_degrades_restored_overlay") {
        return;
    }
    let shared = TempRoot::new("pl");
    let cfg = shared.path().join("overlay.json");
    let HostPair { mut a, b, .. } = two_hosts();

    // A bad file: create-overlay fails and leaves nothing behind.
    std::fs::write(
        &cfg,
        config("4789").replace(
            "\"port\": 4789, \"arp\": \"10.55.55.2\"",
            "\"arp\": \"10.55.55.2\"",
        ),
    )
    .unwrap();
    let out = a.dladm(&files_overlay_args("demo0", 23, UL_A, &cfg));
    assert!(
        !out.status.success(),
        "create-overlay with a bad file succeeded"
    );
    let show = a.dladm(&["show-overlay"]);
    assert!(!String::from_utf8_lossy(&show.stdout).contains("demo0"));

    // A good file: the overlay works.
    std::fs::write(&cfg, config("4789")).unwrap();
    a.overlay(UL_A, &cfg, MAC_A, "10.55.55.1/24");
    b.overlay(UL_B, &cfg, MAC_B, "10.55.55.2/24");
    assert!(a.ping(&["10.55.55.2"]));

    // Break the file and restart varpd on A: the restored overlay is kept,
    // degraded with the file's path, line and column.
    let mut f = std::fs::File::create(&cfg).unwrap();
    f.write_all(config("4789").replace(": 4789", ": 47890000").as_bytes())
        .unwrap();
    drop(f);
    a.varpd.take();
    a.start_varpd();
    let want = format!("{}:2:", cfg.display());
    let deadline = Instant::now() + Duration::from_secs(10);
    let fma = loop {
        let out = a.dladm(&["show-overlay", "-f", "demo0"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.contains(&want) || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(fma.contains(&want), "show-overlay -f: {fma}");
    assert!(fma.contains("is not an integer from 1 to 65535"), "{fma}");
    // A flushes its ARP entry so the next ping needs varpd.
    a.ns.exec("ip", &["neigh", "flush", "dev", "foo0"]);
    assert!(!a
        .ns
        .exec("ping", &["-c", "1", "-W", "1", "10.55.55.2"])
        .status
        .success());

    // Fixed: the overlay heals on the next lookups.
    std::fs::write(&cfg, config("4789")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut healed = false;
    while Instant::now() < deadline {
        if a.ns
            .exec("ping", &["-c", "1", "-W", "1", "10.55.55.2"])
            .status
            .success()
        {
            healed = true;
            break;
        }
    }
    assert!(healed, "overlay did not heal after the file was fixed");
    let fma =
        String::from_utf8_lossy(&a.dladm(&["show-overlay", "-f", "demo0"]).stdout).into_owned();
    assert!(!fma.contains(&want), "still degraded: {fma}");

    for h in [&a, &b] {
        let _ = h.dladm(&["delete-vnic", "foo0"]);
        let _ = h.dladm(&["delete-overlay", "demo0"]);
    }
}

//! Peers for the interop, wire-conformance, hostile-input and security
//! tests: one of *our* hosts (fkoverlayd + varpd + dladm), a Linux kernel
//! `vxlan` device as the other end, a `tshark` capture, and hand-built
//! VXLAN datagrams.
//!
//! Theory of operation: every "host" is a network namespace ([`Netns`]);
//! [`underlay`] joins two of them with a veth pair carrying IPv4 or IPv6
//! (`nodad`, so the addresses are usable at once) underlay addresses.
//! [`OurHost`] runs fkoverlayd and varpd under a private root and drives
//! them with the real `dladm`, as an operator would; [`linux_vxlan`] builds
//! the Linux peer of spec/vxlan.md §2.2 (`ip link add … type vxlan id N
//! local A remote B dstport P nolearning`). [`Capture`] is a `tshark -w`
//! running inside a namespace, stopped with SIGINT, whose file is read back
//! with `tshark -r -T fields`. The packet builders ([`vxlan_hdr`],
//! [`ether_frame`], [`ipv4_udp`], [`ipv4_fragments`]) make exact datagrams
//! for the hostile-input tests, and [`RawSender`] sends whole IPv4 packets
//! (`IPPROTO_RAW`) so that checksums and fragments are ours to choose.
//!
//! Everything is dropped in order: daemons, then their root, then the
//! namespace (which removes the veths, TAPs and Linux vxlan devices).

use crate::daemons::{bin, dladm, Daemon};
use crate::netns::{unique_name, Netns, TempRoot};
use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

/// Underlay address family of a test topology.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// IPv4 underlay (192.168.x.0/24).
    V4,
    /// IPv6 underlay (fd00:x::/64), addresses without DAD.
    V6,
}

/// The two underlay addresses of [`underlay`], without prefix length.
#[derive(Clone, Debug)]
pub struct Underlay {
    /// Interface name in the first namespace.
    pub if_a: String,
    /// Interface name in the second namespace.
    pub if_b: String,
    /// Address in the first namespace.
    pub ip_a: String,
    /// Address in the second namespace.
    pub ip_b: String,
}

/// Joins `a` and `b` with a veth pair; `subnet` (1–254) picks the
/// addresses: 192.168.`subnet`.1/.2 or fd00:`subnet`::1/::2.
pub fn underlay(a: &Netns, b: &Netns, fam: Family, subnet: u8) -> Underlay {
    let if_a = unique_name("ua");
    let if_b = unique_name("ub");
    crate::netns::run(
        "ip",
        &[
            "link",
            "add",
            &if_a,
            "netns",
            a.name(),
            "type",
            "veth",
            "peer",
            "name",
            &if_b,
            "netns",
            b.name(),
        ],
    );
    let (ip_a, ip_b, plen, extra): (String, String, &str, &[&str]) = match fam {
        Family::V4 => (
            format!("192.168.{subnet}.1"),
            format!("192.168.{subnet}.2"),
            "24",
            &[],
        ),
        Family::V6 => (
            format!("fd00:{subnet:x}::1"),
            format!("fd00:{subnet:x}::2"),
            "64",
            &["nodad"],
        ),
    };
    for (ns, ifn, ip) in [(a, &if_a, &ip_a), (b, &if_b, &ip_b)] {
        let cidr = format!("{ip}/{plen}");
        let mut args = vec!["addr", "add", cidr.as_str(), "dev", ifn.as_str()];
        args.extend_from_slice(extra);
        ns.exec_ok("ip", &args);
        ns.exec_ok("ip", &["link", "set", ifn.as_str(), "up"]);
    }
    Underlay {
        if_a,
        if_b,
        ip_a,
        ip_b,
    }
}

/// One of our hosts: fkoverlayd and varpd in a namespace with their own
/// root. Field order is drop order.
pub struct OurHost {
    /// varpd (dropped first).
    pub varpd: Option<Daemon>,
    /// fkoverlayd.
    pub fk: Option<Daemon>,
    /// The `OVERLAY_ROOT` of both daemons.
    pub root: TempRoot,
    /// The namespace.
    pub ns: Netns,
}

impl OurHost {
    /// Starts fkoverlayd and varpd in `ns`.
    pub fn new(ns: Netns) -> OurHost {
        // Build dladm before the daemons run (bin() may build it).
        let _ = bin("dladm");
        let root = TempRoot::new("wr");
        let fk = Daemon::fkoverlayd(&ns, root.path());
        let varpd = Daemon::varpd(&ns, root.path());
        OurHost {
            varpd: Some(varpd),
            fk: Some(fk),
            root,
            ns,
        }
    }

    /// Runs dladm; the output whatever the status.
    pub fn dladm(&self, args: &[&str]) -> Output {
        dladm(&self.ns, self.root.path(), args)
    }

    /// Runs dladm and requires success; returns stdout.
    pub fn dladm_ok(&self, args: &[&str]) -> String {
        let o = self.dladm(args);
        assert!(
            o.status.success(),
            "dladm {} failed ({}):\nstdout: {}\nstderr: {}",
            args.join(" "),
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// `dladm create-overlay -e vxlan -s direct` with the listen and
    /// destination addresses and ports, and vnetid `vnetid`.
    pub fn direct_overlay(&self, name: &str, vnetid: u32, listen: &str, dest: &str, port: u16) {
        self.dladm_ok(&[
            "create-overlay",
            "-e",
            "vxlan",
            "-s",
            "direct",
            "-p",
            &format!("vxlan/listen_ip={listen}"),
            "-p",
            &format!("vxlan/listen_port={port}"),
            "-p",
            &format!("direct/dest_ip={dest}"),
            "-p",
            &format!("direct/dest_port={port}"),
            "-v",
            &vnetid.to_string(),
            name,
        ]);
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

    /// Whether fkoverlayd and varpd are both still running.
    pub fn daemons_alive(&mut self) -> bool {
        self.fk.as_mut().is_some_and(|d| d.running())
            && self.varpd.as_mut().is_some_and(|d| d.running())
    }
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

/// The difference `after - before` of one counter (0 if absent).
pub fn delta(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>, k: &str) -> u64 {
    let b = before.get(k).copied().unwrap_or(0);
    let a = after
        .get(k)
        .copied()
        .unwrap_or_else(|| panic!("no counter {k} in {after:?}"));
    a.saturating_sub(b)
}

/// Builds the Linux peer in `ns`: `ip link add name type vxlan id vni local
/// local remote remote dstport port nolearning`, MTU `mtu`, up, with the
/// overlay address `cidr`.
#[allow(clippy::too_many_arguments)]
pub fn linux_vxlan(
    ns: &Netns,
    name: &str,
    vni: u32,
    local: &str,
    remote: &str,
    port: u16,
    mtu: u32,
    cidr: &str,
) {
    linux_vxlan_with(ns, name, vni, local, remote, port, mtu, cidr, &[]);
}

/// [`linux_vxlan`] with further `ip link … type vxlan` options (e.g.
/// `udp6zerocsumtx`); an empty `cidr` leaves the device without address.
#[allow(clippy::too_many_arguments)]
pub fn linux_vxlan_with(
    ns: &Netns,
    name: &str,
    vni: u32,
    local: &str,
    remote: &str,
    port: u16,
    mtu: u32,
    cidr: &str,
    extra: &[&str],
) {
    let vni = vni.to_string();
    let port = port.to_string();
    let mut args = vec![
        "link",
        "add",
        name,
        "type",
        "vxlan",
        "id",
        &vni,
        "local",
        local,
        "remote",
        remote,
        "dstport",
        &port,
        "nolearning",
    ];
    args.extend_from_slice(extra);
    ns.exec_ok("ip", &args);
    ns.exec_ok("ip", &["link", "set", name, "mtu", &mtu.to_string()]);
    if cidr.is_empty() {
        ns.exec_ok("ip", &["link", "set", name, "up"]);
    } else {
        ns.plumb(name, cidr);
    }
}

/// The MAC address of interface `ifname` in `ns`.
pub fn mac_of(ns: &Netns, ifname: &str) -> [u8; 6] {
    let out = ns.exec_ok("cat", &[&format!("/sys/class/net/{ifname}/address")]);
    parse_mac(String::from_utf8_lossy(&out.stdout).trim())
        .unwrap_or_else(|| panic!("bad MAC of {ifname}"))
}

/// Parses `a:b:c:d:e:f` (hex, 1 or 2 digits each).
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut m = [0u8; 6];
    let mut n = 0;
    for (i, p) in s.split(':').enumerate() {
        *m.get_mut(i)? = u8::from_str_radix(p, 16).ok()?;
        n += 1;
    }
    (n == 6).then_some(m)
}

/// `count` pings of `ip` from `ns`, 0.2 s apart, with retries for the
/// first neighbour resolution: true if a run of `count` gets replies.
pub fn ping(ns: &Netns, ip: &str, count: u32) -> bool {
    for _ in 0..3 {
        let o = ns.exec(
            "ping",
            &["-c", &count.to_string(), "-i", "0.2", "-W", "2", ip],
        );
        if o.status.success() {
            return true;
        }
    }
    false
}

/// One ping with `size` bytes of payload and "don't fragment" set.
pub fn ping_df(ns: &Netns, ip: &str, size: u32) -> bool {
    for _ in 0..3 {
        let o = ns.exec(
            "ping",
            &[
                "-c",
                "1",
                "-W",
                "2",
                "-M",
                "do",
                "-s",
                &size.to_string(),
                ip,
            ],
        );
        if o.status.success() {
            return true;
        }
    }
    false
}

/// A short iperf3 TCP run from `client` to a server on `server` at `ip`:
/// returns the bytes the server received, or the reason it failed.
pub fn iperf3(server: &Netns, client: &Netns, ip: &str, secs: u32) -> Result<u64, String> {
    let port = 5201 + (std::process::id() % 1000) as u16;
    let mut srv = server
        .command("iperf3")
        .args(["-s", "-1", "-B", ip, "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn iperf3 -s: {e}"))?;
    let _guard = ChildGuard(&mut srv);
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < Duration::from_secs(10) {
        let o = client.exec(
            "iperf3",
            &[
                "-c",
                ip,
                "-p",
                &port.to_string(),
                "-t",
                &secs.to_string(),
                "-J",
            ],
        );
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if o.status.success() && v.get("error").is_none() {
            return v["end"]["sum_received"]["bytes"]
                .as_u64()
                .ok_or_else(|| format!("no end.sum_received.bytes in {text}"));
        }
        last = match v.get("error") {
            Some(e) => e.to_string(),
            None => format!("{text}{}", String::from_utf8_lossy(&o.stderr)),
        };
        // The server may not listen yet.
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!("iperf3 client failed: {last}"))
}

/// Kills and reaps a child on drop.
struct ChildGuard<'a>(&'a mut Child);

impl Drop for ChildGuard<'_> {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `tshark -w` capture inside a namespace.
pub struct Capture {
    child: Option<Child>,
    file: PathBuf,
    log: PathBuf,
}

impl Capture {
    /// Starts capturing UDP on `ifname` in `ns` into a file under `dir`,
    /// and waits (20 s at most) until tshark says it is capturing.
    pub fn start(ns: &Netns, ifname: &str, dir: &Path) -> Capture {
        Capture::start_snap(ns, ifname, dir, 0)
    }

    /// [`Capture::start`] keeping only the first `snaplen` bytes of each
    /// packet (0: whole packets), for bulk traffic.
    pub fn start_snap(ns: &Netns, ifname: &str, dir: &Path, snaplen: u32) -> Capture {
        Capture::start_with(ns, ifname, dir, snaplen, "udp")
    }

    /// [`Capture::start`] with the capture filter `filter` instead of `udp`
    /// (e.g. `icmp` on a VNIC).
    pub fn start_filter(ns: &Netns, ifname: &str, dir: &Path, filter: &str) -> Capture {
        Capture::start_with(ns, ifname, dir, 0, filter)
    }

    fn start_with(ns: &Netns, ifname: &str, dir: &Path, snaplen: u32, filter: &str) -> Capture {
        let file = dir.join(format!("{}.pcapng", unique_name("cap")));
        let log = dir.join(format!("{}.log", unique_name("cap")));
        let logf = std::fs::File::create(&log).expect("create capture log");
        let child = ns
            .command("tshark")
            .args(["-i", ifname, "-f", filter])
            .args(if snaplen > 0 {
                vec!["-s".to_string(), snaplen.to_string()]
            } else {
                vec![]
            })
            .arg("-w")
            .arg(&file)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(logf)
            .spawn()
            .expect("spawn tshark (apt-get install tshark)");
        let cap = Capture {
            child: Some(child),
            file,
            log,
        };
        let start = Instant::now();
        loop {
            let text = std::fs::read_to_string(&cap.log).unwrap_or_default();
            if text.contains("Capturing on") {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "tshark did not start capturing: {text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // dumpcap prints before its capture loop runs; give it a moment.
        std::thread::sleep(Duration::from_millis(500));
        cap
    }

    /// Stops the capture (SIGINT, so tshark writes out the file) and
    /// returns its path.
    pub fn stop(&mut self) -> PathBuf {
        // Let the last packets reach the ring buffer.
        std::thread::sleep(Duration::from_millis(500));
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill has no memory-safety preconditions; the pid is
            // our child (ip netns exec execs tshark), not yet reaped.
            unsafe { libc::kill(c.id() as i32, libc::SIGINT) };
            let start = Instant::now();
            loop {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                if start.elapsed() > Duration::from_secs(10) {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        self.file.clone()
    }

    /// `tshark -r file [-d udp.port==P,vxlan] -T fields -e …` on the
    /// stopped capture: one row per packet matching `filter`, one column
    /// per field.
    pub fn fields(&self, vxlan_port: u16, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
        let mut c = std::process::Command::new("tshark");
        c.arg("-r").arg(&self.file);
        c.args(["-o", "udp.check_checksum:TRUE"]);
        if vxlan_port != 4789 {
            c.args(["-d", &format!("udp.port=={vxlan_port},vxlan")]);
        }
        c.args([
            "-Y",
            filter,
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-E",
            "occurrence=f",
        ]);
        for f in fields {
            c.args(["-e", f]);
        }
        let out = c.stdin(Stdio::null()).output().expect("run tshark -r");
        assert!(
            out.status.success(),
            "tshark -r failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split('|').map(|s| s.to_string()).collect())
            .collect()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(&self.file);
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Decodes tshark's hex for a bytes field (`0a1b…`, possibly with `:`).
pub fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
        .collect()
}

/// An 8-byte VXLAN header: `flags`, the 24-bit reserved field, the VNI and
/// the last reserved byte.
pub fn vxlan_hdr(flags: u8, rsvd24: u32, vni: u32, rsvd8: u8) -> [u8; 8] {
    let r = rsvd24.to_be_bytes();
    let v = vni.to_be_bytes();
    [flags, r[1], r[2], r[3], v[1], v[2], v[3], rsvd8]
}

/// An Ethernet frame: dst, src, EtherType, payload.
pub fn ether_frame(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// The Internet checksum of `data` (one's complement of the one's
/// complement sum), with `init` as partial sum.
pub fn inet_csum(init: u32, data: &[u8]) -> u16 {
    let mut sum = init;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// What to put in a hand-built UDP header's checksum field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UdpCsum {
    /// 0: "no checksum" (IPv4).
    Zero,
    /// The correct checksum.
    Good,
    /// A wrong non-zero checksum.
    Bad,
    /// The folded pseudo-header sum, not complemented: what a sender with
    /// transmit checksum offload leaves for the NIC (`CHECKSUM_PARTIAL`).
    Partial,
}

/// A UDP datagram (header + payload) from `src:sport` to `dst:dport` over
/// IPv4, with the checksum chosen by `csum`.
pub fn ipv4_udp(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    payload: &[u8],
    csum: UdpCsum,
) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    let mut u = Vec::with_capacity(len as usize);
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&len.to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let pseudo = u32::from(u16::from_be_bytes([src[0], src[1]]))
        + u32::from(u16::from_be_bytes([src[2], src[3]]))
        + u32::from(u16::from_be_bytes([dst[0], dst[1]]))
        + u32::from(u16::from_be_bytes([dst[2], dst[3]]))
        + 17
        + u32::from(len);
    let good = match inet_csum(pseudo, &u) {
        0 => 0xffff,
        c => c,
    };
    let c = match csum {
        UdpCsum::Zero => 0,
        UdpCsum::Good => good,
        UdpCsum::Bad => good ^ 0x5a5a,
        UdpCsum::Partial => !inet_csum(pseudo, &[]),
    };
    u[6..8].copy_from_slice(&c.to_be_bytes());
    u
}

/// An IPv4 packet (20-byte header, protocol UDP) carrying `l4` bytes
/// starting at fragment offset `off` (bytes, a multiple of 8), with "more
/// fragments" `mf` and identification `id`.
pub fn ipv4_packet(
    src: [u8; 4],
    dst: [u8; 4],
    id: u16,
    off: usize,
    mf: bool,
    l4: &[u8],
) -> Vec<u8> {
    let total = (20 + l4.len()) as u16;
    let frag = ((off / 8) as u16) | if mf { 0x2000 } else { 0 };
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[64, 17, 0, 0]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let c = inet_csum(0, &h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(l4);
    h
}

/// Splits a UDP datagram into IPv4 fragments of at most `max` bytes of
/// payload each (rounded down to a multiple of 8).
pub fn ipv4_fragments(src: [u8; 4], dst: [u8; 4], id: u16, udp: &[u8], max: usize) -> Vec<Vec<u8>> {
    let step = (max / 8).max(1) * 8;
    let mut v = Vec::new();
    let mut off = 0;
    while off < udp.len() {
        let end = (off + step).min(udp.len());
        v.push(ipv4_packet(
            src,
            dst,
            id,
            off,
            end < udp.len(),
            &udp[off..end],
        ));
        off = end;
    }
    v
}

/// A raw IPv4 socket (`IPPROTO_RAW`, so the header is ours) created in a
/// namespace.
#[derive(Debug)]
pub struct RawSender {
    fd: OwnedFd,
}

impl RawSender {
    /// Opens the socket inside `ns`.
    pub fn new(ns: &Netns) -> RawSender {
        ns.run_in(|| {
            // SAFETY: plain socket(2) call.
            let fd = unsafe {
                libc::socket(
                    libc::AF_INET,
                    libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                    libc::IPPROTO_RAW,
                )
            };
            assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
            // SAFETY: fd is a fresh descriptor we own.
            RawSender {
                fd: unsafe { OwnedFd::from_raw_fd(fd) },
            }
        })
    }

    /// Sends one whole IPv4 packet to `dst`.
    pub fn send(&self, dst: [u8; 4], pkt: &[u8]) {
        // SAFETY: sockaddr_in is plain data; zero is valid.
        let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        sa.sin_family = libc::AF_INET as libc::sa_family_t;
        sa.sin_addr.s_addr = u32::from_ne_bytes(dst);
        // SAFETY: pkt is readable for its length; sa is a valid sockaddr_in
        // of the given size.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                pkt.as_ptr().cast(),
                pkt.len(),
                0,
                (&sa as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        assert_eq!(
            n,
            pkt.len() as isize,
            "raw send: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Turns off transmit checksum offload on `ifname` in `ns` (what `ethtool
/// -K ifname tx off` does, through `SIOCETHTOOL`).
///
/// Why: a Linux vxlan device over a veth hands the peer namespace packets
/// whose *inner* TCP/UDP checksum is still "partial" (to be completed by a
/// NIC that a veth does not have). The kernel passes such a datagram to
/// fkoverlayd's UDP socket as is, and the inner stack behind the TAP then
/// drops the segment for its bad checksum. On a real wire the NIC completes
/// the checksum; here the sender must compute it in software.
pub fn tx_csum_off(ns: &Netns, ifname: &str) {
    let ifname = ifname.to_string();
    ns.run_in(move || {
        const ETHTOOL_STXCSUM: u32 = 0x17;
        #[repr(C)]
        struct EthtoolValue {
            cmd: u32,
            data: u32,
        }
        let mut ev = EthtoolValue {
            cmd: ETHTOOL_STXCSUM,
            data: 0,
        };
        // SAFETY: ifreq is plain data; zero is valid.
        let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
        for (d, s) in ifr.ifr_name.iter_mut().zip(ifname.bytes().take(15)) {
            *d = s as libc::c_char;
        }
        ifr.ifr_ifru.ifru_data = (&mut ev as *mut EthtoolValue).cast();
        // SAFETY: plain socket(2) call.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        // SAFETY: fd is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: SIOCETHTOOL reads the ifreq, whose data pointer points at
        // an ethtool_value that outlives the call.
        let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCETHTOOL, &mut ifr) };
        assert_eq!(
            r,
            0,
            "SIOCETHTOOL tx off {ifname}: {}",
            std::io::Error::last_os_error()
        );
    });
}

/// Parses a dotted IPv4 address.
pub fn v4(s: &str) -> [u8; 4] {
    let a: std::net::Ipv4Addr = s.parse().unwrap_or_else(|_| panic!("bad IPv4 {s}"));
    a.octets()
}

/// A counter of a namespace's kernel SNMP table (`/proc/net/snmp`), e.g.
/// ("Udp", "InCsumErrors"): what `nstat`/`netstat -s` show operators.
pub fn snmp(ns: &Netns, table: &str, field: &str) -> u64 {
    let out = ns.exec_ok("cat", &["/proc/net/snmp"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(&format!("{table}:")))
        .collect();
    assert!(rows.len() >= 2, "no {table} in /proc/net/snmp");
    let names: Vec<&str> = rows[0].split_whitespace().collect();
    let vals: Vec<&str> = rows[1].split_whitespace().collect();
    let i = names
        .iter()
        .position(|n| *n == field)
        .unwrap_or_else(|| panic!("no {table} {field}"));
    vals[i].parse().unwrap_or(0)
}

/// One counter of a namespace's `/proc/net/snmp6` (e.g.
/// `Udp6InCsumErrors`), 0 if absent.
pub fn snmp6(ns: &Netns, name: &str) -> u64 {
    let out = ns.exec_ok("cat", &["/proc/net/snmp6"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some(name)).then(|| w.next()?.parse().ok())?
        })
        .unwrap_or(0)
}

//! Network namespaces for end-to-end tests.
//!
//! Theory of operation: each simulated "host" is a Linux network namespace
//! (`ip netns add`) plus a private root directory (the `OVERLAY_ROOT` of the
//! daemons started in it). [`Netns`] owns a namespace and deletes it on drop,
//! so a failing test (a panic unwinds through the guard) leaves nothing
//! behind. [`veth`] and [`underlay`] join two namespaces with a veth pair
//! carrying the underlay addresses. [`TempRoot`] is a temporary directory
//! removed on drop.
//!
//! Names: callers pass a short prefix of their own (their engineer name,
//! e.g. "fk") and [`unique_name`] appends the pid and a counter, so parallel
//! tests and leftovers from killed runs never collide.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// `<prefix><pid mod 100000>x<n>`: unique in this machine for this run, and
/// short enough (≤ 15 bytes for a prefix of ≤ 3) to be an interface name.
pub fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}x{n}", std::process::id() % 100_000)
}

/// Panics, naming the command `what` and showing its exit status, stdout
/// and stderr, unless `out` is a success; returns its stdout.
pub fn expect_success(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `prog args…` as one string, for messages.
fn command_line<S: AsRef<OsStr>>(prog: &str, args: &[S]) -> String {
    let mut s = prog.to_string();
    for a in args {
        s.push(' ');
        s.push_str(&a.as_ref().to_string_lossy());
    }
    s
}

/// Runs a command, panicking with its output if it fails.
pub fn run<S: AsRef<OsStr>>(prog: &str, args: &[S]) -> Output {
    let out = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{prog}: cannot run: {e}"));
    expect_success(&out, &command_line(prog, args));
    out
}

/// A network namespace, deleted (with every interface in it) on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates a namespace named [`unique_name`]`(prefix)` with `lo` up.
    pub fn new(prefix: &str) -> Netns {
        let name = unique_name(prefix);
        run("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        ns.exec_ok("ip", &["link", "set", "lo", "up"]);
        ns
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A `Command` that runs `prog` inside the namespace.
    pub fn command(&self, prog: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(prog);
        c
    }

    /// Runs `prog args` in the namespace and returns its output, whatever
    /// its exit status.
    pub fn exec<S: AsRef<OsStr>>(&self, prog: &str, args: &[S]) -> Output {
        self.command(prog)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("ip netns exec {} {prog}: {e}", self.name))
    }

    /// Runs `prog args` in the namespace, panicking with its output if it
    /// fails.
    pub fn exec_ok<S: AsRef<OsStr>>(&self, prog: &str, args: &[S]) -> Output {
        let out = self.exec(prog, args);
        expect_success(
            &out,
            &format!("[{}] {}", self.name, command_line(prog, args)),
        );
        out
    }

    /// Runs a shell script in the namespace (panics on failure).
    pub fn sh(&self, script: &str) -> Output {
        self.exec_ok("sh", &["-c", script])
    }

    /// Spawns `prog args` in the namespace with `OVERLAY_ROOT=root` and the
    /// given extra environment; stdout and stderr are inherited so they show
    /// in the test's output.
    pub fn spawn<S: AsRef<OsStr>>(
        &self,
        prog: &Path,
        args: &[S],
        root: &Path,
        env: &[(&str, &str)],
    ) -> Child {
        let mut c = self.command(prog);
        c.args(args).env("OVERLAY_ROOT", root).stdin(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        c.spawn()
            .unwrap_or_else(|e| panic!("spawn {} in {}: {e}", prog.display(), self.name))
    }

    /// Whether an interface of that name exists in the namespace.
    pub fn has_link(&self, ifname: &str) -> bool {
        self.exec("ip", &["link", "show", "dev", ifname])
            .status
            .success()
    }

    /// Adds an address to an interface and brings it up (the Linux form of
    /// `ifconfig <if> plumb up <addr>`).
    pub fn plumb(&self, ifname: &str, cidr: &str) {
        self.exec_ok("ip", &["addr", "add", cidr, "dev", ifname]);
        self.exec_ok("ip", &["link", "set", ifname, "up"]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Kill anything still running inside, then delete the namespace
        // (which destroys its veths and TAPs). Errors are ignored: this runs
        // during unwinding too.
        let _ = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
            .map(|o| {
                for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                    if let Ok(pid) = pid.parse::<i32>() {
                        // SAFETY: kill has no memory-safety preconditions;
                        // the pid belongs to a process inside our own
                        // namespace.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                }
            });
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// Creates a veth pair with one end, `an`, in `a` and the other, `bn`, in
/// `b`; both ends are down and without addresses.
pub(crate) fn veth_pair(a: &Netns, an: &str, b: &Netns, bn: &str) {
    run(
        "ip",
        &[
            "link",
            "add",
            an,
            "netns",
            a.name(),
            "type",
            "veth",
            "peer",
            "name",
            bn,
            "netns",
            b.name(),
        ],
    );
}

/// Joins `a` and `b` with a veth pair, giving `a` the address `a_cidr` and
/// `b` `b_cidr` (e.g. "192.168.77.1/24"); both ends are brought up, with
/// transmit checksum offload off (see [`Netns::tx_checksum_off`]). Returns
/// the interface names (in `a`, in `b`).
pub fn veth(a: &Netns, a_cidr: &str, b: &Netns, b_cidr: &str) -> (String, String) {
    let an = unique_name("va");
    let bn = unique_name("vb");
    veth_pair(a, &an, b, &bn);
    a.tx_checksum_off(&an);
    b.tx_checksum_off(&bn);
    a.plumb(&an, a_cidr);
    b.plumb(&bn, b_cidr);
    (an, bn)
}

/// Underlay address family of a test topology.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// IPv4 underlay (192.168.x.0/24).
    V4,
    /// IPv6 underlay (fd00:x::/64), addresses without DAD.
    V6,
}

/// The two ends of an underlay link: interface names and addresses
/// (without prefix length).
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
/// addresses: 192.168.`subnet`.1/.2 or fd00:`subnet`::1/::2 (`nodad`, so
/// they are usable at once). Unlike [`veth`], transmit checksum offload
/// stays on: tests that need it off say so with
/// [`Netns::tx_checksum_off`].
pub fn underlay(a: &Netns, b: &Netns, fam: Family, subnet: u8) -> Underlay {
    let if_a = unique_name("ua");
    let if_b = unique_name("ub");
    veth_pair(a, &if_a, b, &if_b);
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

/// A temporary directory, removed with its contents on drop.
#[derive(Debug)]
pub struct TempRoot {
    path: PathBuf,
}

impl TempRoot {
    /// Creates `$TMPDIR/<unique_name(prefix)>`.
    pub fn new(prefix: &str) -> TempRoot {
        let path = std::env::temp_dir().join(format!("overlay-{}", unique_name(prefix)));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        TempRoot { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

impl Netns {
    /// Runs `f` on a thread that has entered the namespace (`setns`), and
    /// returns its result. Sockets created there stay in the namespace and
    /// can be used from any thread afterwards.
    pub fn run_in<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> R {
        let path = PathBuf::from("/var/run/netns").join(&self.name);
        std::thread::spawn(move || {
            let ns = std::fs::File::open(&path)
                .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
            use std::os::fd::AsRawFd;
            // SAFETY: setns on a valid namespace descriptor; it only
            // changes this (short-lived) thread's network namespace.
            let r = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .expect("namespace thread panicked")
    }

    /// A raw Ethernet socket on interface `ifname` of this namespace,
    /// receiving only frames of EtherType `ethertype`.
    pub fn packet_socket(&self, ifname: &str, ethertype: u16) -> PacketSocket {
        let ifname = ifname.to_string();
        self.run_in(move || PacketSocket::open(&ifname, ethertype))
    }

    /// Turns transmit checksum offload off on `ifname` (what `ethtool -K
    /// <if> tx off` does, through `SIOCETHTOOL`), so that the kernel
    /// completes every checksum in software before a packet leaves, as a
    /// NIC would on a wire.
    ///
    /// Why: a veth never computes a checksum left "partial" for the NIC.
    /// A Linux `vxlan` device over a veth hands the other namespace
    /// datagrams whose *inner* TCP/UDP checksum is still partial; the
    /// kernel there passes them as they are to fkoverlayd's UDP socket, and
    /// the stack behind the TAP then drops the inner segment for its bad
    /// checksum. With offload off the checksums on the wire are final, so
    /// a capture (`tshark`) on the link sees the real values too.
    /// [`veth`] does this on both ends; [`underlay`] leaves it to the test.
    pub fn tx_checksum_off(&self, ifname: &str) {
        let ifname = ifname.to_string();
        self.run_in(move || {
            const SIOCETHTOOL: libc::c_ulong = 0x8946;
            const ETHTOOL_STXCSUM: u32 = 0x17;
            #[repr(C)]
            struct EthtoolValue {
                cmd: u32,
                data: u32,
            }
            let mut v = EthtoolValue {
                cmd: ETHTOOL_STXCSUM,
                data: 0,
            };
            // SAFETY: ifreq is plain data; zero is valid.
            let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
            for (d, s) in ifr.ifr_name.iter_mut().zip(ifname.as_bytes()) {
                *d = *s as libc::c_char;
            }
            ifr.ifr_ifru.ifru_data = (&mut v as *mut EthtoolValue).cast();
            // SAFETY: plain socket(2) call.
            let s =
                unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
            assert!(s >= 0, "socket: {}", std::io::Error::last_os_error());
            // SAFETY: SIOCETHTOOL reads the ifreq and the ethtool_value it
            // points at, both alive for the call.
            let r = unsafe { libc::ioctl(s, SIOCETHTOOL as _, &mut ifr as *mut libc::ifreq) };
            let err = std::io::Error::last_os_error();
            // SAFETY: closing the socket we opened.
            unsafe { libc::close(s) };
            assert_eq!(r, 0, "ETHTOOL_STXCSUM off on {ifname}: {err}");
        })
    }

    /// A UDP socket bound to `addr` inside this namespace.
    pub fn udp_socket(&self, addr: &str) -> std::net::UdpSocket {
        let addr = addr.to_string();
        self.run_in(move || {
            std::net::UdpSocket::bind(&addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"))
        })
    }
}

/// An `AF_PACKET` socket bound to one interface and EtherType: writes are
/// whole Ethernet frames sent out of the interface, reads the frames of
/// that EtherType it receives.
#[derive(Debug)]
pub struct PacketSocket {
    fd: std::os::fd::OwnedFd,
}

impl PacketSocket {
    fn open(ifname: &str, ethertype: u16) -> PacketSocket {
        use std::os::fd::FromRawFd;
        let cname = std::ffi::CString::new(ifname).expect("interface name");
        // SAFETY: if_nametoindex reads a NUL-terminated string.
        let idx = unsafe { libc::if_nametoindex(cname.as_ptr()) };
        assert!(idx != 0, "no interface {ifname}");
        // SAFETY: plain socket(2) call.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                i32::from(ethertype.to_be()),
            )
        };
        assert!(
            fd >= 0,
            "AF_PACKET socket: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: fd is a fresh descriptor we own.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        // SAFETY: sockaddr_ll is plain data; zero is valid.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ethertype.to_be();
        sll.sll_ifindex = idx as i32;
        use std::os::fd::AsRawFd;
        // SAFETY: bind reads a sockaddr_ll of the given size.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        assert_eq!(r, 0, "bind AF_PACKET: {}", std::io::Error::last_os_error());
        PacketSocket { fd }
    }

    /// Sends one frame.
    pub fn send(&self, frame: &[u8]) {
        use std::os::fd::AsRawFd;
        // SAFETY: frame is readable for frame.len() bytes.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        assert_eq!(
            n,
            frame.len() as isize,
            "send: {}",
            std::io::Error::last_os_error()
        );
    }

    /// Receives one frame, or `None` after `timeout`.
    pub fn recv(&self, timeout: std::time::Duration) -> Option<Vec<u8>> {
        use std::os::fd::AsRawFd;
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as i32) };
        if r <= 0 {
            return None;
        }
        let mut buf = vec![0u8; 65536];
        // SAFETY: buf is writable for buf.len() bytes.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            return None;
        }
        buf.truncate(n as usize);
        Some(buf)
    }
}

//! One `/dev/overlay` handle used concurrently, as varpd uses its one
//! descriptor on illumos: fkoverlayd's `FK_ATTACH` (docs/fkoverlayd-protocol.md)
//! lets further connections share the handle `FK_OPEN` made.
//!
//! * a LOOKUP blocking on one connection does not delay INFO/LIST on another
//!   connection of the same handle (raw protocol, and through `KDev`, whose
//!   pool gives every concurrent caller its own connection);
//! * the handle closes only when its last connection goes: a request taken
//!   by LOOKUP stays with the handle while one connection remains (readable
//!   with PKT there, not handed to another LOOKUP), and goes back to the
//!   queue when the last one closes;
//! * a wrong secret, an unknown handle or a short name is refused, and an
//!   unprivileged peer (uid 65534) gets `EPERM`;
//! * with varpd and dladm: `dladm create-overlay` no longer waits behind
//!   varpd's lookup threads (it took ~2 s when they shared one connection).

use overlay_sys::errno;
use overlay_sys::fk::*;
use overlay_sys::*;
use overlay_tests::daemons::{dladm, dld_socket, overlay_socket, Daemon, FkConn};
use overlay_tests::have_root;
use overlay_tests::netns::{Netns, TempRoot};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RW_EXCL: u32 = FK_FREAD | FK_FWRITE | FK_FEXCL;
const PORT: u16 = 4789;
const MAC_A: [u8; 6] = [0x02, 0x08, 0x20, 0x00, 0x00, 0x0a];
const MAC_B: [u8; 6] = [0x02, 0x08, 0x20, 0x00, 0x00, 0x0b];

/// A raw `/dev/overlay` connection (the harness's `FkConn` drops the
/// open's reply, which carries the handle's name).
struct Conn {
    s: UnixStream,
}

fn call(s: &mut UnixStream, cmd: u32, arg: &[u8], data: &[u8]) -> (u32, Vec<u8>, Vec<u8>) {
    let h = fk_hdr_t {
        fh_magic: FK_MAGIC,
        fh_cmd: cmd,
        fh_arglen: arg.len() as u32,
        fh_datalen: data.len() as u32,
    };
    let mut b = h.to_wire().to_vec();
    b.extend_from_slice(arg);
    b.extend_from_slice(data);
    s.write_all(&b).expect("send request");
    let mut hb = [0u8; FK_HDR_SIZE];
    s.read_exact(&mut hb).expect("read reply header");
    let r = fk_hdr_t::from_wire(&hb);
    assert!(r.valid(), "malformed reply");
    let mut a = vec![0; r.fh_arglen as usize];
    s.read_exact(&mut a).expect("read reply argument");
    let mut d = vec![0; r.fh_datalen as usize];
    s.read_exact(&mut d).expect("read reply data");
    (r.fh_cmd, a, d)
}

impl Conn {
    /// `FK_OPEN`: the connection and the handle's name.
    fn open(root: &Path, flags: u32) -> (Conn, fk_open_t) {
        let mut s = UnixStream::connect(overlay_socket(root)).expect("connect overlay");
        let (e, a, _) = call(&mut s, FK_OPEN, &flags.to_le_bytes(), &[]);
        assert_eq!(e, 0, "FK_OPEN");
        let name = fk_open_t::from_bytes(&a).expect("FK_OPEN names the handle");
        (Conn { s }, name)
    }

    /// `FK_ATTACH` with raw argument bytes: the errno.
    fn attach_raw(root: &Path, arg: &[u8]) -> (u32, Option<Conn>) {
        let mut s = UnixStream::connect(overlay_socket(root)).expect("connect overlay");
        let (e, a, _) = call(&mut s, FK_ATTACH, arg, &[]);
        if e == 0 {
            assert_eq!(a, arg, "the attach reply repeats the name");
            (0, Some(Conn { s }))
        } else {
            (e, None)
        }
    }

    fn attach(root: &Path, name: &fk_open_t) -> Conn {
        let (e, c) = Conn::attach_raw(root, name.as_bytes());
        assert_eq!(e, 0, "FK_ATTACH");
        c.expect("attached")
    }

    fn call(&mut self, cmd: u32, arg: &[u8], data: &[u8]) -> (u32, Vec<u8>, Vec<u8>) {
        call(&mut self.s, cmd, arg, data)
    }

    fn lookup(&mut self) -> (u32, overlay_targ_lookup_t) {
        let (e, a, _) = self.call(
            OVERLAY_TARG_LOOKUP,
            overlay_targ_lookup_t::default().as_bytes(),
            &[],
        );
        (e, overlay_targ_lookup_t::from_bytes_padded(&a))
    }

    /// `OVERLAY_TARG_LIST` with room for 8 link ids.
    fn list(&mut self) -> u32 {
        let mut arg = overlay_targ_list_t { otl_nents: 8 }.as_bytes().to_vec();
        arg.resize(arg.len() + 8 * 4, 0);
        self.call(OVERLAY_TARG_LIST, &arg, &[]).0
    }

    /// `OVERLAY_TARG_INFO` of `linkid`.
    fn info(&mut self, linkid: u32) -> u32 {
        let i = overlay_targ_info_t {
            oti_linkid: linkid,
            ..Default::default()
        };
        self.call(OVERLAY_TARG_INFO, i.as_bytes(), &[]).0
    }
}

/// One host: a namespace with fkoverlayd. Fields drop in order: the daemon,
/// the root, then the namespace.
struct Host {
    _fk: Daemon,
    root: TempRoot,
    ns: Netns,
}

fn host() -> Host {
    let ns = Netns::new("fc");
    let root = TempRoot::new("fc");
    let fk = Daemon::fkoverlayd(&ns, root.path());
    Host { _fk: fk, root, ns }
}

/// Runs one blocking LOOKUP on `c` on a thread; the flag turns true
/// once it has returned.
fn lookup_in_background(mut c: Conn) -> (Arc<AtomicBool>, std::thread::JoinHandle<(u32, Conn)>) {
    let done = Arc::new(AtomicBool::new(false));
    let d = Arc::clone(&done);
    let t = std::thread::spawn(move || {
        let (e, _) = c.lookup();
        d.store(true, Ordering::SeqCst);
        (e, c)
    });
    (done, t)
}

#[test]
fn fk_concurrency_lookup_does_not_delay_another_connection() {
    if !have_root("fk_concurrency_lookup_does_not_delay_another_connection") {
        return;
    }
    let h = host();
    let r = h.root.path();
    let (a, name) = Conn::open(r, RW_EXCL);
    assert_ne!(name.fo_minor, 0);
    let mut b = Conn::attach(r, &name);
    // Attaching is not a second open: no EEXIST for the exclusive handle,
    // while a real second exclusive open still gets it.
    let mut s = UnixStream::connect(overlay_socket(r)).unwrap();
    let (e, _, _) = call(&mut s, FK_OPEN, &RW_EXCL.to_le_bytes(), &[]);
    assert_eq!(e, errno::EEXIST as u32);

    // Nothing is queued: the LOOKUP on `a` waits its full second.
    let (done, t) = lookup_in_background(a);
    std::thread::sleep(Duration::from_millis(150));
    let start = Instant::now();
    assert_eq!(b.list(), 0, "LIST");
    assert_eq!(b.info(4242), errno::ENOENT as u32, "INFO of no overlay");
    let took = start.elapsed();
    assert!(
        !done.load(Ordering::SeqCst),
        "INFO/LIST waited for the LOOKUP on the other connection"
    );
    eprintln!("LIST+INFO beside a blocked LOOKUP: {took:?}");
    assert!(took < Duration::from_millis(500), "{took:?}");
    let (e, _a) = t.join().expect("lookup thread");
    assert_eq!(e, errno::ETIME as u32, "the idle LOOKUP times out");
}

#[test]
fn fk_concurrency_kdev_pool() {
    if !have_root("fk_concurrency_kdev_pool") {
        return;
    }
    use libvarpd::kdev::KDev;
    use libvarpd::ksys;
    use libvarpd::Errno;
    let h = host();
    let k = Arc::new(KDev::open_overlay(h.root.path(), RW_EXCL).expect("open"));
    // Five lookup threads, as varpd on a 2-CPU machine, all blocking.
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = vec![];
    for _ in 0..5 {
        let (k, stop) = (Arc::clone(&k), Arc::clone(&stop));
        threads.push(std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let mut b = [0u8; ksys::TargLookup::SIZE];
                assert_eq!(
                    k.ioctl(ksys::OVERLAY_TARG_LOOKUP, &mut b),
                    Err(Errno::ETIME)
                );
                n += 1;
            }
            n
        }));
    }
    std::thread::sleep(Duration::from_millis(200));
    let mut worst = Duration::ZERO;
    for _ in 0..10 {
        let start = Instant::now();
        let mut info = ksys::TargInfo {
            linkid: 4242,
            ..Default::default()
        }
        .encode();
        assert_eq!(
            k.ioctl(ksys::OVERLAY_TARG_INFO, &mut info),
            Err(Errno::ENOENT)
        );
        worst = worst.max(start.elapsed());
    }
    eprintln!("worst INFO beside 5 blocked LOOKUPs: {worst:?}");
    assert!(worst < Duration::from_millis(500), "{worst:?}");
    // One connection per concurrent caller, no more.
    let n = k.connections();
    assert!((6..=7).contains(&n), "{n} connections");
    // A clone reaches the same handle on its own connection.
    let c = k.try_clone().expect("try_clone");
    assert_eq!(c.connections(), 1);
    let mut info = ksys::TargInfo {
        linkid: 4242,
        ..Default::default()
    }
    .encode();
    assert_eq!(
        c.ioctl(ksys::OVERLAY_TARG_INFO, &mut info),
        Err(Errno::ENOENT)
    );
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        assert!(t.join().expect("lookup thread") >= 1);
    }
    // Dropping every KDev closes the handle: the exclusive open is free.
    drop((k, c));
    let mut ok = false;
    for _ in 0..100 {
        if KDev::open_overlay(h.root.path(), RW_EXCL).is_ok() {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(ok, "handle not closed after its last connection");
}

/// An active DYNAMIC overlay with one VNIC (`fcd0`, MAC_A) on a loopback
/// underlay; returns its link id.
fn dynamic_overlay(h: &Host, targ: &mut Conn) -> u32 {
    let mut dld = FkConn::dld(h.root.path()).expect("connect dld");
    // Keep the stack quiet on the VNIC: only the test's frame goes out.
    h.ns.exec_ok("sysctl", &["-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
    h.ns.exec_ok("sysctl", &["-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
    let mut c = fk_dl_create_t::default();
    fk_set_str(&mut c.fdc_name, "fcdyn0");
    c.fdc_class = DATALINK_CLASS_OVERLAY;
    c.fdc_media = DL_ETHER;
    c.fdc_flags = DLMGMT_ACTIVE;
    let (e, c) = dld.ioctl(FK_DL_CREATE_ID, &c);
    assert_eq!(e, 0, "create link id");
    let linkid = c.fdc_linkid;
    let mut oc = overlay_ioc_create_t {
        oic_linkid: linkid,
        oic_vnetid: 23,
        ..Default::default()
    };
    fk_set_str(&mut oc.oic_encap, "vxlan");
    assert_eq!(dld.ioctl(OVERLAY_IOC_CREATE, &oc).0, 0, "CREATE");
    for (prop, val) in [
        (
            "vxlan/listen_ip",
            in6_addr::v4mapped([127, 0, 0, 1]).s6_addr.to_vec(),
        ),
        ("vxlan/listen_port", u64::from(PORT).to_le_bytes().to_vec()),
    ] {
        assert_eq!(dld.setprop(linkid, prop, &val), 0, "SETPROP {prop}");
    }
    let a = overlay_targ_associate_t {
        ota_linkid: linkid,
        ota_mode: OVERLAY_TARGET_DYNAMIC,
        ota_id: 77,
        ota_provides: OVERLAY_PLUGIN_D_IP | OVERLAY_PLUGIN_D_PORT,
        ..Default::default()
    };
    assert_eq!(
        targ.call(OVERLAY_TARG_ASSOCIATE, a.as_bytes(), &[]).0,
        0,
        "ASSOCIATE"
    );
    let (e, _) = dld.ioctl(
        OVERLAY_IOC_ACTIVATE,
        &overlay_ioc_activate_t { oia_linkid: linkid },
    );
    assert_eq!(e, 0, "ACTIVATE");
    let mut v = fk_vnic_create_t {
        fvc_over: linkid,
        fvc_flags: DLMGMT_ACTIVE,
        fvc_mac_type: VNIC_MAC_ADDR_TYPE_FIXED,
        fvc_mac: MAC_A,
        ..Default::default()
    };
    fk_set_str(&mut v.fvc_name, "fcd0");
    assert_eq!(dld.ioctl(FK_VNIC_CREATE, &v).0, 0, "VNIC_CREATE");
    h.ns.exec_ok("ip", &["link", "set", "fcd0", "up"]);
    linkid
}

#[test]
fn fk_concurrency_handle_closes_with_its_last_connection() {
    if !have_root("fk_concurrency_handle_closes_with_its_last_connection") {
        return;
    }
    let h = host();
    let r = h.root.path();
    let (mut a, name) = Conn::open(r, RW_EXCL);
    let linkid = dynamic_overlay(&h, &mut a);
    let mut b = Conn::attach(r, &name);

    // A frame to an unknown destination: one lookup request.
    let ps = h.ns.packet_socket("fcd0", 0x88b5);
    let mut f = MAC_B.to_vec();
    f.extend_from_slice(&MAC_A);
    f.extend_from_slice(&0x88b5u16.to_be_bytes());
    f.extend_from_slice(b"lookup me");
    f.resize(60, 0);
    ps.send(&f);
    let (e, req) = a.lookup();
    assert_eq!(e, 0, "LOOKUP");
    assert_eq!(req.otl_dstaddr, MAC_B);
    let reqid = req.otl_reqid;

    // The opener's connection goes; the handle, and the request it took,
    // stay: the survivor can read the frame, and its LOOKUP finds nothing.
    drop(a);
    std::thread::sleep(Duration::from_millis(200));
    let pkt = overlay_targ_pkt_t {
        otp_linkid: u64::from(linkid),
        otp_reqid: reqid,
        otp_size: 1518,
        otp_buf: 0,
    };
    let (e, out, data) = b.call(OVERLAY_TARG_PKT, pkt.as_bytes(), &[]);
    assert_eq!(e, 0, "PKT through the surviving connection");
    let n = overlay_targ_pkt_t::from_bytes_padded(&out).otp_size as usize;
    assert_eq!(&data[..n.min(f.len())], &f[..n.min(f.len())]);
    assert_eq!(b.lookup().0, errno::ETIME as u32, "request not re-queued");
    // The handle is still open and exclusive.
    let mut s = UnixStream::connect(overlay_socket(r)).unwrap();
    assert_eq!(
        call(&mut s, FK_OPEN, &RW_EXCL.to_le_bytes(), &[]).0,
        errno::EEXIST as u32
    );

    // The last connection goes: the handle closes, the request is back on
    // the queue for the next opener, and the old name is dead.
    drop(b);
    let mut c = None;
    for _ in 0..100 {
        let mut s = UnixStream::connect(overlay_socket(r)).unwrap();
        let (e, _, _) = call(&mut s, FK_OPEN, &RW_EXCL.to_le_bytes(), &[]);
        if e == 0 {
            c = Some(Conn { s });
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut c = c.expect("handle not closed after its last connection");
    let (e, again) = c.lookup();
    assert_eq!(e, 0, "re-queued request");
    assert_eq!((again.otl_reqid, again.otl_dstaddr), (reqid, MAC_B));
    assert_eq!(
        Conn::attach_raw(r, name.as_bytes()).0,
        errno::ENXIO as u32,
        "attach to a closed handle"
    );
    let resp = overlay_targ_resp_t {
        otr_reqid: reqid,
        ..Default::default()
    };
    assert_eq!(c.call(OVERLAY_TARG_DROP, resp.as_bytes(), &[]).0, 0);
}

#[test]
fn fk_concurrency_attach_refusals() {
    if !have_root("fk_concurrency_attach_refusals") {
        return;
    }
    let h = host();
    let r = h.root.path();
    let (mut a, name) = Conn::open(r, RW_EXCL);
    let wrong = fk_open_t {
        fo_secret: name.fo_secret.wrapping_add(1),
        ..name
    };
    assert_eq!(
        Conn::attach_raw(r, wrong.as_bytes()).0,
        errno::ENXIO as u32,
        "wrong secret"
    );
    let unknown = fk_open_t {
        fo_minor: name.fo_minor.wrapping_add(1000),
        ..name
    };
    assert_eq!(
        Conn::attach_raw(r, unknown.as_bytes()).0,
        errno::ENXIO as u32
    );
    assert_eq!(
        Conn::attach_raw(r, &name.as_bytes()[..12]).0,
        errno::EINVAL as u32
    );
    // Anything but OPEN/ATTACH first is EBADF.
    let mut s = UnixStream::connect(overlay_socket(r)).unwrap();
    assert_eq!(
        call(&mut s, OVERLAY_TARG_LIST, &[0u8; 4], &[]).0,
        errno::EBADF as u32
    );
    // The handle itself is untouched by the refusals.
    assert_eq!(a.list(), 0);

    // An unprivileged peer that can reach the socket (group access) and
    // knows the name still gets EPERM.
    for p in [r.to_path_buf(), r.join("run"), r.join("run/overlay")] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    for s in [dld_socket(r), overlay_socket(r)] {
        std::os::unix::fs::chown(&s, None, Some(65534)).unwrap();
    }
    let ovl = overlay_socket(r);
    let arg = *name.as_bytes().first_chunk::<16>().expect("16-byte name");
    // SAFETY: fork in a test process; the child only makes system calls
    // and _exit()s, it never returns into the test harness.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let code = (|| -> i32 {
            // SAFETY: plain system calls in the forked child.
            unsafe {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(65534) != 0
                    || libc::setuid(65534) != 0
                {
                    return 10;
                }
            }
            let Ok(mut s) = UnixStream::connect(&ovl) else {
                return 11;
            };
            let mut req = [0u8; FK_HDR_SIZE + 16];
            req[..FK_HDR_SIZE].copy_from_slice(
                &fk_hdr_t {
                    fh_magic: FK_MAGIC,
                    fh_cmd: FK_ATTACH,
                    fh_arglen: 16,
                    fh_datalen: 0,
                }
                .to_wire(),
            );
            req[FK_HDR_SIZE..].copy_from_slice(&arg);
            if s.write_all(&req).is_err() {
                return 12;
            }
            let mut hb = [0u8; FK_HDR_SIZE];
            if s.read_exact(&mut hb).is_err() {
                return 13;
            }
            let e = fk_hdr_t::from_wire(&hb).fh_cmd;
            if e != errno::EPERM as u32 {
                return 14;
            }
            0
        })();
        // SAFETY: terminate the child without running the parent's
        // destructors or test harness.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status));
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "unprivileged attach step failed"
    );
    assert_eq!(a.list(), 0);
}

#[test]
fn fk_concurrency_dladm_does_not_wait_for_lookups() {
    if !have_root("fk_concurrency_dladm_does_not_wait_for_lookups") {
        return;
    }
    let ns = Netns::new("fc");
    let root = TempRoot::new("fc");
    let fk = Daemon::fkoverlayd(&ns, root.path());
    let varpd = Daemon::varpd(&ns, root.path());
    // Let varpd's lookup threads settle into their blocking LOOKUPs.
    std::thread::sleep(Duration::from_millis(300));
    let mut times = vec![];
    for i in 0..3 {
        let name = format!("demo{i}");
        let vnetid = format!("{}", 23 + i);
        let start = Instant::now();
        let o = dladm(
            &ns,
            root.path(),
            &[
                "create-overlay",
                "-e",
                "vxlan",
                "-s",
                "direct",
                "-p",
                "vxlan/listen_ip=10.88.88.69",
                "-p",
                "direct/dest_ip=10.88.88.70",
                "-p",
                "direct/dest_port=4789",
                "-v",
                &vnetid,
                &name,
            ],
        );
        let took = start.elapsed();
        assert!(
            o.status.success(),
            "create-overlay: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        times.push(took);
        let o = dladm(&ns, root.path(), &["delete-overlay", &name]);
        assert!(o.status.success(), "delete-overlay");
    }
    eprintln!("dladm create-overlay with varpd's lookup threads blocked: {times:?}");
    // Each create makes two varpd calls that reach /dev/overlay; with one
    // shared connection each waited for a LOOKUP (≈ 2 s in all).
    let best = times.iter().min().copied().unwrap_or_default();
    assert!(best < Duration::from_millis(1000), "{times:?}");
    drop(varpd);
    drop(fk);
}

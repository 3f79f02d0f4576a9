//! fkoverlayd as a daemon: start-up handshake, privilege, malformed frames,
//! the link table and its persistence across restarts, clean SIGTERM.
//! These need root (network namespaces) and drive the daemon with raw
//! frames (no varpd, no dladm).

use overlay_sys::fk::*;
use overlay_sys::Pod;
use overlay_tests::daemons::{bin, dld_socket, overlay_socket, Daemon, FkConn};
use overlay_tests::have_root;
use overlay_tests::netns::{Netns, TempRoot};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

fn create_id(c: &mut FkConn, name: &str, class: u32, flags: u32) -> (u32, u32) {
    let mut a = fk_dl_create_t::default();
    assert!(fk_set_str(&mut a.fdc_name, name));
    a.fdc_class = class;
    a.fdc_media = DL_ETHER;
    a.fdc_flags = flags;
    let (e, out) = c.ioctl(FK_DL_CREATE_ID, &a);
    (e, out.fdc_linkid)
}

fn name2id(c: &mut FkConn, name: &str) -> Option<fk_dl_info_t> {
    let mut i = fk_dl_info_t::default();
    fk_set_str(&mut i.fdl_name, name);
    let (e, out) = c.ioctl(FK_DL_NAME2ID, &i);
    (e == 0).then_some(out)
}

fn set_str_attr(c: &mut FkConn, linkid: u32, key: &str, val: &str) -> u32 {
    let mut a = fk_dl_attr_t {
        fda_linkid: linkid,
        fda_type: DLADM_TYPE_STR,
        ..Default::default()
    };
    fk_set_str(&mut a.fda_key, key);
    fk_set_str(&mut a.fda_val, val);
    a.fda_vsize = val.len() as u32 + 1;
    c.ioctl(FK_DL_SETATTR, &a).0
}

fn stat(root: &Path, name: &str) -> u64 {
    let out = std::process::Command::new(bin("fkoverlayd"))
        .args(["stats", "-R"])
        .arg(root)
        .output()
        .expect("fkoverlayd stats");
    assert!(out.status.success(), "fkoverlayd stats failed");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some(name)).then(|| w.next().and_then(|v| v.parse().ok()))?
        })
        .unwrap_or_else(|| panic!("no counter {name} in:\n{text}"))
}

#[test]
fn fk_daemon_handshake_and_sigterm() {
    if !have_root("fk_daemon_handshake_and_sigterm") {
        return;
    }
    let ns = Netns::new("fk");
    let root = TempRoot::new("fk");
    // Daemonised start: the invoking process exits 0 once the sockets
    // accept.
    let st = ns
        .command(bin("fkoverlayd"))
        .env("OVERLAY_ROOT", root.path())
        .status()
        .expect("run fkoverlayd");
    assert!(st.success());
    assert!(std::os::unix::net::UnixStream::connect(dld_socket(root.path())).is_ok());
    let mode = std::fs::metadata(dld_socket(root.path()))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o007, 0, "socket must not be world-accessible");
    // A second daemon on the same root fails with a reason.
    let out = ns
        .command(bin("fkoverlayd"))
        .env("OVERLAY_ROOT", root.path())
        .output()
        .expect("run fkoverlayd");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("another fkoverlayd"));
    // SIGTERM stops it and removes the sockets.
    let pid: i32 = std::fs::read_to_string(root.path().join("run/overlay/fkoverlayd.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    for _ in 0..200 {
        if !dld_socket(root.path()).exists() && !overlay_socket(root.path()).exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(!dld_socket(root.path()).exists());
    assert!(!overlay_socket(root.path()).exists());
}

#[test]
fn fk_daemon_links_persist_across_restart() {
    if !have_root("fk_daemon_links_persist_across_restart") {
        return;
    }
    let ns = Netns::new("fk");
    let root = TempRoot::new("fk");
    let (pid, tid);
    {
        let _d = Daemon::fkoverlayd(&ns, root.path());
        let mut c = FkConn::dld(root.path()).unwrap();
        let (e, p) = create_id(
            &mut c,
            "pers0",
            DATALINK_CLASS_OVERLAY,
            DLMGMT_ACTIVE | DLMGMT_PERSIST,
        );
        assert_eq!(e, 0);
        pid = p;
        let (e, t) = create_id(&mut c, "temp0", DATALINK_CLASS_OVERLAY, DLMGMT_ACTIVE);
        assert_eq!(e, 0);
        tid = t;
        assert_ne!(pid, tid);
        // Bad names and duplicates.
        assert_eq!(
            create_id(&mut c, "pers0", DATALINK_CLASS_OVERLAY, DLMGMT_ACTIVE).0,
            overlay_sys::errno::EEXIST as u32
        );
        assert_eq!(
            create_id(&mut c, "nonumber", DATALINK_CLASS_OVERLAY, DLMGMT_ACTIVE).0,
            overlay_sys::errno::EINVAL as u32
        );
        assert_eq!(set_str_attr(&mut c, pid, "vxlan/listen_ip", "10.1.1.1"), 0);
        assert_eq!(
            set_str_attr(&mut c, tid, "vxlan/listen_ip", "10.1.1.1"),
            overlay_sys::errno::EINVAL as u32,
            "temporary links have no persistent attributes"
        );
        // Walk sees both.
        let mut w = fk_dl_info_t::default();
        let mut seen = vec![];
        loop {
            let (e, out) = c.ioctl(FK_DL_GETNEXT, &w);
            if e != 0 {
                assert_eq!(e, overlay_sys::errno::ENOENT as u32);
                break;
            }
            seen.push(out.fdl_linkid);
            w.fdl_linkid = out.fdl_linkid;
        }
        assert_eq!(seen, vec![pid, tid]);
    }
    // Restart: the persistent link is there (persistent, not active) with
    // its attribute; the temporary one is gone.
    let _d = Daemon::fkoverlayd(&ns, root.path());
    let mut c = FkConn::dld(root.path()).unwrap();
    let p = name2id(&mut c, "pers0").expect("persistent link survives");
    assert_eq!(p.fdl_linkid, pid);
    assert_eq!(p.fdl_flags, DLMGMT_PERSIST);
    assert_eq!(p.fdl_class, DATALINK_CLASS_OVERLAY);
    assert!(name2id(&mut c, "temp0").is_none());
    let mut a = fk_dl_attr_t {
        fda_linkid: pid,
        ..Default::default()
    };
    fk_set_str(&mut a.fda_key, "vxlan/listen_ip");
    let (e, out) = c.ioctl(FK_DL_GETATTR, &a);
    assert_eq!(e, 0);
    assert_eq!(fk_get_str(&out.fda_val), b"10.1.1.1");
    // up makes it active; new ids do not reuse the persistent one.
    let (e, _) = c.ioctl(
        FK_DL_UP_ID,
        &fk_dl_id_t {
            fdi_linkid: pid,
            fdi_flags: 0,
        },
    );
    assert_eq!(e, 0);
    assert_eq!(
        name2id(&mut c, "pers0").unwrap().fdl_flags,
        DLMGMT_ACTIVE | DLMGMT_PERSIST
    );
    let (e, n) = create_id(&mut c, "new0", DATALINK_CLASS_VNIC, DLMGMT_ACTIVE);
    assert_eq!(e, 0);
    assert!(n > pid);
    // Destroying the persistent part removes it from the file.
    let (e, _) = c.ioctl(
        FK_DL_DESTROY_ID,
        &fk_dl_id_t {
            fdi_linkid: pid,
            fdi_flags: DLMGMT_ACTIVE | DLMGMT_PERSIST,
        },
    );
    assert_eq!(e, 0);
    let conf = std::fs::read_to_string(root.path().join("var/lib/overlay/datalink.conf")).unwrap();
    assert!(!conf.contains("pers0"));
}

#[test]
fn fk_daemon_unprivileged_gets_eperm() {
    if !have_root("fk_daemon_unprivileged_gets_eperm") {
        return;
    }
    let ns = Netns::new("fk");
    let root = TempRoot::new("fk");
    let _d = Daemon::fkoverlayd(&ns, root.path());
    // Let uid/gid 65534 reach the sockets (group access), as an operator
    // would with a socket group; privilege is still judged per command.
    let run = root.path().join("run/overlay");
    for p in [
        root.path().to_path_buf(),
        root.path().join("run"),
        run.clone(),
    ] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    for s in [dld_socket(root.path()), overlay_socket(root.path())] {
        std::os::unix::fs::chown(&s, None, Some(65534)).unwrap();
    }
    let dld = dld_socket(root.path());
    let ovl = overlay_socket(root.path());
    // SAFETY: fork in a test process; the child only makes raw system calls
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
            let Ok(mut s) = std::os::unix::net::UnixStream::connect(&dld) else {
                return 11;
            };
            let mut c = fk_dl_create_t::default();
            fk_set_str(&mut c.fdc_name, "user0");
            c.fdc_class = DATALINK_CLASS_OVERLAY;
            c.fdc_flags = DLMGMT_ACTIVE;
            let e = raw_call(&mut s, FK_DL_CREATE_ID, c.as_bytes());
            if e != overlay_sys::errno::EPERM as u32 {
                return 12;
            }
            // OVERLAY_IOC_CREATE is privileged too (dld's check).
            let e = raw_call(&mut s, overlay_sys::OVERLAY_IOC_CREATE, &[0u8; 48]);
            if e != overlay_sys::errno::EPERM as u32 {
                return 13;
            }
            // Reading is allowed.
            let e = raw_call(&mut s, FK_DL_GETNEXT, fk_dl_info_t::default().as_bytes());
            if e != overlay_sys::errno::ENOENT as u32 {
                return 14;
            }
            let Ok(mut o) = std::os::unix::net::UnixStream::connect(&ovl) else {
                return 15;
            };
            let e = raw_call(
                &mut o,
                FK_OPEN,
                &(FK_FREAD | FK_FWRITE | FK_FEXCL).to_le_bytes(),
            );
            if e != overlay_sys::errno::EPERM as u32 {
                return 16;
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
    assert_eq!(libc::WEXITSTATUS(status), 0, "child step failed");
}

fn raw_call(s: &mut std::os::unix::net::UnixStream, cmd: u32, arg: &[u8]) -> u32 {
    use std::io::{Read, Write};
    let h = fk_hdr_t {
        fh_magic: FK_MAGIC,
        fh_cmd: cmd,
        fh_arglen: arg.len() as u32,
        fh_datalen: 0,
    };
    let mut b = h.to_wire().to_vec();
    b.extend_from_slice(arg);
    if s.write_all(&b).is_err() {
        return u32::MAX;
    }
    let mut hb = [0u8; FK_HDR_SIZE];
    if s.read_exact(&mut hb).is_err() {
        return u32::MAX;
    }
    let r = fk_hdr_t::from_wire(&hb);
    let mut rest = vec![0u8; (r.fh_arglen + r.fh_datalen) as usize];
    if s.read_exact(&mut rest).is_err() {
        return u32::MAX;
    }
    r.fh_cmd
}

#[test]
fn fk_daemon_malformed_frame_closes_only_that_connection() {
    if !have_root("fk_daemon_malformed_frame_closes_only_that_connection") {
        return;
    }
    let ns = Netns::new("fk");
    let root = TempRoot::new("fk");
    let _d = Daemon::fkoverlayd(&ns, root.path());
    let mut good = FkConn::dld(root.path()).unwrap();
    let mut bad = FkConn::dld(root.path()).unwrap();
    bad.set_timeout(Some(Duration::from_secs(5)));
    // Bad magic.
    bad.send_raw(&[0xff; 16]).unwrap();
    assert!(bad.call(FK_DL_GETNEXT, &[0; 48], &[]).is_err());
    // Over the argument limit.
    let mut big = FkConn::dld(root.path()).unwrap();
    big.set_timeout(Some(Duration::from_secs(5)));
    let h = fk_hdr_t {
        fh_magic: FK_MAGIC,
        fh_cmd: FK_DL_GETNEXT,
        fh_arglen: FK_MAX_ARGLEN + 1,
        fh_datalen: 0,
    };
    big.send_raw(&h.to_wire()).unwrap();
    assert!(big.call(FK_DL_GETNEXT, &[0; 48], &[]).is_err());
    // The other connection still works.
    let (e, _) = good.ioctl(FK_DL_GETNEXT, &fk_dl_info_t::default());
    assert_eq!(e, overlay_sys::errno::ENOENT as u32);
    // Unknown command numbers are errors, not crashes.
    let r = good.call(0x4b46_10ff, &[], &[]).unwrap();
    assert_eq!(r.errno, overlay_sys::errno::ENOTTY as u32);
    assert_eq!(stat(root.path(), "conn_bad_frames"), 2);
}

#[test]
fn fk_daemon_bad_arguments_never_crash() {
    if !have_root("fk_daemon_bad_arguments_never_crash") {
        return;
    }
    let ns = Netns::new("fk");
    let root = TempRoot::new("fk");
    let mut d = Daemon::fkoverlayd(&ns, root.path());
    let mut c = FkConn::dld(root.path()).unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    };
    let mut dld_cmds: Vec<u32> = (0x4b46_1001..=0x4b46_100b).collect();
    dld_cmds.extend([
        FK_VNIC_CREATE,
        FK_VNIC_DELETE,
        FK_VNIC_INFO,
        FK_VNIC_GETNEXT,
        FK_STATS,
    ]);
    dld_cmds.extend((1..=8).map(|n| overlay_sys::dld_ioc_cmd(overlay_sys::OVERLAY_IOC, n)));
    dld_cmds.extend([0, 0x4b46_10ff, u32::MAX]);
    for &cmd in &dld_cmds {
        for n in [0usize, 1, 7, 47, 48, 49, 64, 1104, 4096] {
            for arg in [vec![0u8; n], vec![0xffu8; n], rnd(n)] {
                let r = c.call(cmd, &arg, &[]);
                assert!(r.is_ok(), "dld cmd {cmd:#x} len {n}: no reply");
            }
        }
    }
    let mut t = FkConn::overlay(root.path(), FK_FREAD | FK_FWRITE | FK_FEXCL).unwrap();
    for n in 0x01..=0x34u32 {
        let cmd = overlay_sys::OVERLAY_TARG_IOCTL | n;
        let sizes: &[usize] = if cmd == overlay_sys::OVERLAY_TARG_LOOKUP {
            &[0]
        } else {
            &[0, 4, 31, 32, 40, 72, 264, 4096]
        };
        for &sz in sizes {
            for arg in [vec![0u8; sz], vec![0xffu8; sz], rnd(sz)] {
                let data = rnd(sz.min(100));
                let r = t.call(cmd, &arg, &data);
                assert!(r.is_ok(), "targ cmd {cmd:#x} len {sz}: no reply");
            }
        }
    }
    assert!(d.running(), "fkoverlayd survived");
    let (e, _) = c.ioctl(FK_DL_GETNEXT, &fk_dl_info_t::default());
    assert_eq!(e, overlay_sys::errno::ENOENT as u32, "no link was created");
}

#[test]
fn fk_daemon_bad_configuration_fails_start_with_reason() {
    if !have_root("fk_daemon_bad_configuration_fails_start_with_reason") {
        return;
    }
    let ns = Netns::new("fk");
    let root = TempRoot::new("fk");
    let conf = root.path().join("var/lib/overlay/datalink.conf");
    std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
    std::fs::write(&conf, "this is [not toml").unwrap();
    let out = ns
        .command(bin("fkoverlayd"))
        .env("OVERLAY_ROOT", root.path())
        .output()
        .expect("run fkoverlayd");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("datalink.conf"), "{err}");
    assert!(!dld_socket(root.path()).exists());
}

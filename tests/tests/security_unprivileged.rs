//! Security (issue 8, item 6): an unprivileged user (uid/gid 65534, no
//! supplementary groups, via `setpriv`) can create or delete nothing, cannot
//! open `/dev/overlay` (fkoverlayd's overlay socket) for writing, and cannot
//! change a target cache through the varpd door; the device sockets and the
//! door are not writable by others.
//!
//! Two hosts:
//!
//! * **default**: the daemons as they start, so file modes are the first
//!   line: the dld and overlay sockets are 0660 root:root and the door sits
//!   in a 0700 directory, so the user cannot even connect (EACCES, which
//!   dladm reports as `permission denied`);
//! * **open**: fkoverlayd started with `-g 65534` (socket group nogroup) and
//!   the root's directories opened to 0711, so the user reaches every
//!   socket and the privilege checks behind them are what refuse: every
//!   mutating dld command and every `/dev/overlay` open is `EPERM`, every
//!   mutating door command `EPERM`, reads are allowed.
//!
//! The unprivileged side runs this test binary again as uid 65534
//! (`security_unprivileged_helper`, which does nothing unless its
//! environment names a phase) and dladm under `setpriv`.

use libvarpd::client::{CacheEntry, Client};
use libvarpd::Errno;
use overlay_sys::errno;
use overlay_sys::fk::*;
use overlay_tests::daemons::{bin, dld_socket, overlay_socket, varpd_door, Daemon, FkConn};
use overlay_tests::have_root;
use overlay_tests::host::files_overlay_args;
use overlay_tests::netns::{Netns, TempRoot};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

const NOBODY: &str = "65534";
const MAC_SET: [u8; 6] = [0x02, 0x08, 0x20, 0, 0, 0x31];
const MAC_NEW: [u8; 6] = [0x02, 0x08, 0x20, 0, 0, 0x32];

/// Runs `prog args` in `ns` as uid/gid 65534 with no supplementary groups.
fn as_nobody(ns: &Netns, root: &Path, prog: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = ns.command("setpriv");
    c.args([
        &format!("--reuid={NOBODY}"),
        &format!("--regid={NOBODY}"),
        "--clear-groups",
    ])
    .arg(prog)
    .args(args)
    .env("OVERLAY_ROOT", root);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run setpriv")
}

fn dladm_root(ns: &Netns, root: &Path, args: &[&str]) -> String {
    let o = overlay_tests::daemons::dladm(ns, root, args);
    assert!(
        o.status.success(),
        "dladm {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Mode bits of a path.
fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("stat {}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Whether "others" may write to `sock`: its own o+w bit, and o+x on every
/// directory from `root` down to it.
fn others_can_write(root: &Path, sock: &Path) -> bool {
    if mode(sock) & 0o002 == 0 {
        return false;
    }
    let mut d = sock.parent();
    while let Some(dir) = d {
        if mode(dir) & 0o001 == 0 {
            return false;
        }
        if dir == root {
            break;
        }
        d = dir.parent();
    }
    true
}

/// Runs the helper below as nobody in `phase`; requires it to pass.
fn helper(ns: &Netns, root: &Path, phase: &str, extra: &[(&str, &str)]) {
    let exe = std::env::current_exe().expect("current_exe");
    let mut env = vec![
        ("IO_SEC_PHASE", phase),
        ("IO_SEC_ROOT", root.to_str().expect("utf-8 root")),
    ];
    env.extend_from_slice(extra);
    let o = as_nobody(
        ns,
        root,
        &exe,
        &[
            "--exact",
            "security_unprivileged_helper",
            "--nocapture",
            "--test-threads=1",
        ],
        &env,
    );
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "helper phase {phase} failed:\n{out}");
    assert!(
        out.contains(&format!("helper {phase}: checked")),
        "helper did not run:\n{out}"
    );
}

/// Every mutating dladm command, run as nobody, fails with `permission
/// denied` and changes nothing.
fn dladm_refused(ns: &Netns, root: &Path) {
    let links = dladm_root(ns, root, &["show-link", "-p", "-o", "link,class,over"]);
    let persistent = dladm_root(ns, root, &["show-link", "-P", "-p", "-o", "link,class"]);
    let cmds: &[&[&str]] = &[
        &[
            "create-overlay",
            "-e",
            "vxlan",
            "-s",
            "direct",
            "-p",
            "vxlan/listen_ip=10.99.0.1",
            "-p",
            "direct/dest_ip=10.99.0.2",
            "-p",
            "direct/dest_port=4789",
            "-v",
            "77",
            "evil0",
        ],
        &["delete-overlay", "dyn0"],
        &["create-vnic", "-l", "dyn0", "evil1"],
        &["delete-vnic", "vn0"],
        // The target cache, through dladm (and so the varpd door).
        &[
            "modify-overlay",
            "-s",
            "2:8:20:0:0:32=10.66.6.6:666",
            "dyn0",
        ],
        &["modify-overlay", "-d", "2:8:20:0:0:31", "dyn0"],
        &["modify-overlay", "-f", "dyn0"],
    ];
    for args in cmds {
        let o = as_nobody(ns, root, &bin("dladm"), args, &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "nobody: dladm {args:?}: {err}");
        assert!(
            err.contains("permission denied"),
            "nobody: dladm {args:?}: want 'permission denied', got: {err}"
        );
        eprintln!("nobody: dladm {}: {}", args.join(" "), err.trim());
    }
    assert_eq!(
        dladm_root(ns, root, &["show-link", "-p", "-o", "link,class,over"]),
        links
    );
    assert_eq!(
        dladm_root(ns, root, &["show-link", "-P", "-p", "-o", "link,class"]),
        persistent
    );
}

/// A `files` overlay `dyn0` with VNIC `vn0` on a local address; returns
/// the varpd instance id.
fn files_overlay(ns: &Netns, root: &Path) -> u64 {
    ns.exec_ok("ip", &["addr", "add", "10.99.0.1/32", "dev", "lo"]);
    let cfg = root.join("hosts.json");
    std::fs::write(
        &cfg,
        r#"{ "02:08:20:00:00:0a": { "ip": "10.99.0.1", "port": 4789, "arp": "10.231.9.1" } }"#,
    )
    .expect("write files config");
    let create = files_overlay_args("dyn0", 31, "10.99.0.1", &cfg);
    let create: Vec<&str> = create.iter().map(String::as_str).collect();
    dladm_root(ns, root, &create);
    dladm_root(ns, root, &["create-vnic", "-l", "dyn0", "vn0"]);
    let props = dladm_root(
        ns,
        root,
        &["show-overlay", "-p", "-o", "property,value", "dyn0"],
    );
    props
        .lines()
        .find_map(|l| l.strip_prefix("varpd/id:")?.parse().ok())
        .unwrap_or_else(|| panic!("no varpd/id in {props}"))
}

#[test]
fn security_unprivileged_user_is_refused() {
    if !have_root("security_unprivileged_user_is_refused") {
        return;
    }
    let _ = bin("dladm");

    // Host "default": modes as the daemons leave them.
    let ns = Netns::new("io");
    let root = TempRoot::new("io");
    let _fk = Daemon::fkoverlayd(&ns, root.path());
    let _vp = Daemon::varpd(&ns, root.path());
    let r = root.path();
    for s in [dld_socket(r), overlay_socket(r)] {
        let m = mode(&s);
        assert_eq!(m & 0o007, 0, "{}: mode {m:o} open to others", s.display());
        eprintln!("{}: mode {m:o}", s.display());
    }
    let door = varpd_door(r);
    assert!(
        !others_can_write(r, &door),
        "door {} writable by others (mode {:o}, directory {:o})",
        door.display(),
        mode(&door),
        mode(door.parent().expect("door has a directory"))
    );
    eprintln!(
        "door: mode {:o} in a directory of mode {:o}",
        mode(&door),
        mode(door.parent().expect("door has a directory"))
    );
    let _ = files_overlay(&ns, r);
    // The user cannot get past the modes. Open the root's own directories
    // (not the sockets) so that the socket modes are what is tested.
    std::fs::set_permissions(r, std::fs::Permissions::from_mode(0o711)).expect("chmod");
    helper(&ns, r, "default", &[]);
    dladm_refused(&ns, r);

    // Host "open": nobody may connect; privilege checks refuse.
    let ns2 = Netns::new("io");
    let root2 = TempRoot::new("io");
    let r2 = root2.path();
    let _fk2 = Daemon::start(&ns2, "fkoverlayd", &["-g", NOBODY], r2, &dld_socket(r2));
    let _vp2 = Daemon::varpd(&ns2, r2);
    for s in [dld_socket(r2), overlay_socket(r2)] {
        let m = mode(&s);
        assert_eq!(
            m & 0o002,
            0,
            "{}: mode {m:o} writable by others",
            s.display()
        );
    }
    let id = files_overlay(&ns2, r2);
    for d in [r2.to_path_buf(), r2.join("run"), r2.join("run/varpd")] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o711)).expect("chmod");
    }
    // A cache entry set by root, which the user will try to change.
    let c = Client::open(&varpd_door(r2)).expect("open door");
    let entry = CacheEntry {
        mac: [0; 6],
        flags: 0,
        ip: "::ffff:10.99.0.7".parse().expect("ip"),
        port: 4789,
    };
    c.cache_set(id, MAC_SET, &entry).expect("root cache_set");
    let before = c.cache_get(id, MAC_SET).expect("root cache_get");
    let ids = id.to_string();
    helper(&ns2, r2, "open", &[("IO_SEC_ID", &ids)]);
    assert_eq!(
        c.cache_get(id, MAC_SET),
        Ok(before),
        "cache entry changed by an unprivileged user"
    );
    assert!(
        c.cache_get(id, MAC_NEW).is_err(),
        "an unprivileged user added a cache entry"
    );
    dladm_refused(&ns2, r2);
    // Reads stay open to the group: show-link works as nobody.
    let o = as_nobody(
        &ns2,
        r2,
        &bin("dladm"),
        &["show-link", "-p", "-o", "link"],
        &[],
    );
    assert!(
        o.status.success(),
        "nobody: show-link: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "dyn0\nvn0\n");
}

/// The unprivileged side of the test above (runs as uid 65534; does
/// nothing unless `IO_SEC_PHASE` is set).
#[test]
fn security_unprivileged_helper() {
    let Some(phase) = std::env::var_os("IO_SEC_PHASE") else {
        return;
    };
    let phase = phase.to_string_lossy().into_owned();
    let root = std::path::PathBuf::from(std::env::var_os("IO_SEC_ROOT").expect("IO_SEC_ROOT"));
    // SAFETY: geteuid/getegid have no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 65534);
    // SAFETY: as above.
    assert_eq!(unsafe { libc::getegid() }, 65534);
    // SAFETY: getgroups with size 0 only returns the count.
    assert_eq!(unsafe { libc::getgroups(0, std::ptr::null_mut()) }, 0);
    let door = varpd_door(&root);
    match phase.as_str() {
        "default" => {
            // The sockets refuse the connection itself.
            let e = FkConn::dld(&root).expect_err("nobody connected to dld");
            assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied, "dld: {e}");
            for fl in [FK_FREAD | FK_FWRITE, FK_FWRITE, FK_FREAD] {
                assert!(
                    FkConn::overlay(&root, fl).is_err(),
                    "nobody opened /dev/overlay ({fl:#x})"
                );
            }
            let e = std::os::unix::net::UnixStream::connect(overlay_socket(&root))
                .expect_err("nobody connected to the overlay socket");
            assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
            let e = std::os::unix::net::UnixStream::connect(&door)
                .expect_err("nobody connected to the door");
            assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
        }
        "open" => {
            let id: u64 = std::env::var("IO_SEC_ID")
                .expect("IO_SEC_ID")
                .parse()
                .expect("id");
            // dld: reads allowed, every mutation EPERM.
            let mut dld = FkConn::dld(&root).expect("group member connects to dld");
            let mut info = fk_dl_info_t::default();
            fk_set_str(&mut info.fdl_name, "dyn0");
            let (e, _) = dld.ioctl(FK_DL_NAME2ID, &info);
            assert_eq!(e, 0, "read-only NAME2ID");
            let mut c = fk_dl_create_t::default();
            fk_set_str(&mut c.fdc_name, "evil0");
            c.fdc_class = DATALINK_CLASS_OVERLAY;
            c.fdc_media = DL_ETHER;
            c.fdc_flags = DLMGMT_ACTIVE;
            assert_eq!(dld.ioctl(FK_DL_CREATE_ID, &c).0, errno::EPERM as u32);
            for linkid in 1..4 {
                let d = fk_dl_id_t {
                    fdi_linkid: linkid,
                    fdi_flags: DLMGMT_ACTIVE,
                };
                assert_eq!(dld.ioctl(FK_VNIC_DELETE, &d).0, errno::EPERM as u32);
                assert_eq!(dld.ioctl(FK_DL_DESTROY_ID, &d).0, errno::EPERM as u32);
            }
            let v = fk_vnic_create_t {
                fvc_over: 1,
                fvc_flags: DLMGMT_ACTIVE,
                fvc_mac_type: 1,
                ..Default::default()
            };
            assert_eq!(dld.ioctl(FK_VNIC_CREATE, &v).0, errno::EPERM as u32);
            // /dev/overlay: no open for writing (nor for reading: every
            // open needs PRIV_SYS_DL_CONFIG, as secpolicy_dl_config).
            for fl in [
                FK_FREAD | FK_FWRITE,
                FK_FWRITE,
                FK_FREAD | FK_FWRITE | FK_FEXCL,
            ] {
                assert_eq!(
                    FkConn::overlay(&root, fl).err(),
                    Some(errno::EPERM as i64),
                    "/dev/overlay open {fl:#x}"
                );
            }
            // The door: lookups allowed, cache changes refused.
            let c = Client::open(&door).expect("open door");
            assert_eq!(c.instance_target_mode(id).map(|m| m.1), Ok(2));
            let entry = CacheEntry {
                mac: [0; 6],
                flags: 0,
                ip: "::ffff:10.66.6.6".parse().expect("ip"),
                port: 666,
            };
            assert_eq!(c.cache_set(id, MAC_SET, &entry), Err(Errno::EPERM));
            assert_eq!(c.cache_set(id, MAC_NEW, &entry), Err(Errno::EPERM));
            assert_eq!(c.cache_delete(id, MAC_SET), Err(Errno::EPERM));
            assert_eq!(c.cache_flush(id), Err(Errno::EPERM));
            assert_eq!(c.instance_destroy(id), Err(Errno::EPERM));
            assert_eq!(c.instance_create(99, "direct"), Err(Errno::EPERM));
            if let Ok(pi) = c.prop_info_by_name(id, "files/config") {
                assert_eq!(
                    c.prop_set(id, pi.propid, b"/etc/passwd\0"),
                    Err(Errno::EPERM)
                );
            }
        }
        p => panic!("unknown phase {p}"),
    }
    println!("helper {phase}: checked");
}

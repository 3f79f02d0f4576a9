//! What a user meets running the documented commands: a uid delegated with
//! `fkoverlayd -u` creating and deleting an overlay (fkoverlayd and varpd
//! agree on its privilege, so nothing is left half done); a random-MAC VNIC
//! staying random across `up-vnic`; a bad `files/config` explained by
//! `create-overlay` itself; varpd missing named as such. Needs root
//! (network namespaces, setpriv).

use overlay_tests::daemons::{bin, dladm, dld_socket, Daemon};
use overlay_tests::have_root;
use overlay_tests::netns::{Netns, TempRoot};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

const DELEGATE: &str = "4242";

fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(ns: &Netns, root: &Path, args: &[&str]) -> String {
    let o = dladm(ns, root, args);
    assert!(o.status.success(), "dladm {args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// dladm `args` as uid/gid 4242 with no supplementary groups.
fn as_delegate(ns: &Netns, root: &Path, args: &[&str]) -> Output {
    ns.command("setpriv")
        .args([
            &format!("--reuid={DELEGATE}"),
            &format!("--regid={DELEGATE}"),
            "--clear-groups",
        ])
        .arg(bin("dladm"))
        .args(args)
        .env("OVERLAY_ROOT", root)
        .output()
        .expect("run setpriv")
}

const DIRECT: &[&str] = &[
    "create-overlay",
    "-e",
    "vxlan",
    "-s",
    "direct",
    "-p",
    "vxlan/listen_ip=127.0.0.1",
    "-p",
    "direct/dest_ip=127.0.0.1",
    "-p",
    "direct/dest_port=4789",
    "-v",
    "31",
];

/// varpd's state files (`<id>.varpd`): one per instance.
fn instances(root: &Path) -> usize {
    std::fs::read_dir(root.join("run/varpd"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".varpd"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn delegated_uid_creates_and_deletes_overlays() {
    if !have_root("delegated_uid_creates_and_deletes_overlays") {
        return;
    }
    let ns = Netns::new("nup");
    let root = TempRoot::new("nup");
    let r = root.path();
    let _fk = Daemon::start(
        &ns,
        "fkoverlayd",
        &["-u", DELEGATE, "-g", DELEGATE],
        r,
        &dld_socket(r),
    );
    let _vp = Daemon::varpd(&ns, r);
    // The delegate must reach the door: its directory searchable.
    for d in [r.to_path_buf(), r.join("run/varpd")] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o711)).expect("chmod");
    }
    let mut create = DIRECT.to_vec();
    create.push("ndel0");
    let o = as_delegate(&ns, r, &create);
    assert!(o.status.success(), "create as {DELEGATE}: {}", text(&o));
    assert_eq!(instances(r), 1);
    assert!(ok(&ns, r, &["show-link", "-P", "-p", "-o", "link"]).contains("ndel0"));

    let o = as_delegate(&ns, r, &["delete-overlay", "ndel0"]);
    assert!(o.status.success(), "delete as {DELEGATE}: {}", text(&o));
    // Everything went: the link, its persistent record, the instance.
    assert_eq!(ok(&ns, r, &["show-link"]), "");
    assert_eq!(ok(&ns, r, &["show-link", "-P"]), "");
    assert_eq!(instances(r), 0);

    // Any other uid is refused before anything changes.
    create.pop();
    create.push("nrf0");
    ok(&ns, r, &create);
    let o = ns
        .command("setpriv")
        .args([
            "--reuid=4343",
            &format!("--regid={DELEGATE}"),
            "--clear-groups",
        ])
        .arg(bin("dladm"))
        .args(["delete-overlay", "nrf0"])
        .env("OVERLAY_ROOT", r)
        .output()
        .expect("run setpriv");
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("permission denied"),
        "{}",
        text(&o)
    );
    assert!(ok(&ns, r, &["show-overlay", "-p", "-o", "link", "nrf0"]).contains("nrf0"));
    assert_eq!(instances(r), 1);
    ok(&ns, r, &["delete-overlay", "nrf0"]);
}

#[test]
fn up_vnic_keeps_a_random_mac_random() {
    if !have_root("up_vnic_keeps_a_random_mac_random") {
        return;
    }
    let ns = Netns::new("nuv");
    let root = TempRoot::new("nuv");
    let r = root.path();
    let mut fk = Daemon::fkoverlayd(&ns, r);
    let mut vp = Daemon::varpd(&ns, r);
    let mut create = DIRECT.to_vec();
    create.push("nrm0");
    ok(&ns, r, &create);
    ok(
        &ns,
        r,
        &["create-vnic", "-l", "nrm0", "-m", "random", "nrv0"],
    );
    let show = [
        "show-vnic",
        "-p",
        "-o",
        "link,macaddress,macaddrtype",
        "nrv0",
    ];
    let before = ok(&ns, r, &show);
    assert!(before.ends_with(":random\n"), "{before}");

    // A reboot: the daemons restart with only the persistent record.
    vp.stop();
    fk.stop();
    let _ = std::fs::remove_dir_all(r.join("run"));
    let _fk = Daemon::fkoverlayd(&ns, r);
    let _vp = Daemon::varpd(&ns, r);
    ok(&ns, r, &["up-overlay"]);
    ok(&ns, r, &["up-vnic"]);
    assert_eq!(ok(&ns, r, &show), before, "up-vnic changed the VNIC");
    // And the record still says random, so the next boot does too.
    let persisted = ok(
        &ns,
        r,
        &["show-vnic", "-P", "-p", "-o", "link,macaddrtype", "nrv0"],
    );
    assert_eq!(persisted, "nrv0:random\n");
    ok(&ns, r, &["delete-vnic", "nrv0"]);
    ok(&ns, r, &["delete-overlay", "nrm0"]);
}

#[test]
fn create_overlay_explains_a_bad_files_config() {
    if !have_root("create_overlay_explains_a_bad_files_config") {
        return;
    }
    let ns = Netns::new("nfc");
    let root = TempRoot::new("nfc");
    let r = root.path();
    let _fk = Daemon::fkoverlayd(&ns, r);
    let cfg = r.join("hosts.json");
    std::fs::write(
        &cfg,
        "{\n\t\"de:ad:be:ef:00:01\": {\n\t\t\"ip\": \"10.88.88.70\",\n\t\t\"prot\": 4789\n\t}\n}\n",
    )
    .unwrap();
    let config = format!("files/config={}", cfg.display());
    let args = [
        "create-overlay",
        "-e",
        "vxlan",
        "-s",
        "files",
        "-v",
        "32",
        "-p",
        "vxlan/listen_ip=127.0.0.1",
        "-p",
        &config,
        "nfc0",
    ];
    // varpd not running yet: said so, with how to start it.
    let o = dladm(&ns, r, &args);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("varpd is not running (nothing serves ")
            && err.contains("start it with 'varpd'"),
        "{err}"
    );
    let _vp = Daemon::varpd(&ns, r);
    let o = dladm(&ns, r, &args);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    let want = format!("dladm: warning: {}:4:", cfg.display());
    assert!(err.contains(&want), "no {want} in:\n{err}");
    assert!(err.contains("unknown key \"prot\""), "{err}");
    assert!(err.contains("dladm: overlay creation failed: "), "{err}");
    // Rolled back.
    assert_eq!(ok(&ns, r, &["show-link", "-P"]), "");
    assert_eq!(ok(&ns, r, &["show-link"]), "");
}

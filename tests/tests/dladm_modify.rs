//! `dladm modify-overlay` and `show-overlay -t` against the real system
//! (fkoverlayd + varpd in a namespace): the target table of a dynamic
//! (`files`) overlay is set, listed, pruned and flushed through varpd; a
//! point-to-point (`direct`) overlay has no table to change.

use std::process::Output;

use overlay_tests::daemons::{bin, dladm, Daemon};
use overlay_tests::have_root;
use overlay_tests::netns::{Netns, TempRoot};

struct Host {
    _varpd: Daemon,
    _fk: Daemon,
    root: TempRoot,
    ns: Netns,
}

impl Host {
    fn dladm(&self, args: &[&str]) -> Output {
        dladm(&self.ns, self.root.path(), args)
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.dladm(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            o.status.success() && err.is_empty(),
            "dladm {} failed ({}): {}",
            args.join(" "),
            o.status,
            err
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn fails(&self, args: &[&str], stderr: &str) {
        let o = self.dladm(args);
        assert_eq!(o.status.code(), Some(1), "dladm {}", args.join(" "));
        assert_eq!(String::from_utf8_lossy(&o.stderr), stderr);
    }
}

#[test]
fn dladm_modify_overlay_target_table() {
    if !have_root("dladm_modify_overlay_target_table") {
        return;
    }
    let ns = Netns::new("dl");
    ns.exec_ok("ip", &["addr", "add", "10.88.88.69/32", "dev", "lo"]);
    let _ = bin("dladm");
    let root = TempRoot::new("dl");
    let fk = Daemon::fkoverlayd(&ns, root.path());
    let varpd = Daemon::varpd(&ns, root.path());
    let h = Host {
        _varpd: varpd,
        _fk: fk,
        root,
        ns,
    };

    let conf = h.root.path().join("hosts.json");
    std::fs::write(
        &conf,
        r#"{ "de:ad:be:ef:0:1": { "ip": "10.88.88.70", "port": 4789, "arp": "10.55.55.2" } }"#,
    )
    .expect("write files/config");
    let cfg = format!("files/config={}", conf.display());
    h.ok(&[
        "create-overlay",
        "-e",
        "vxlan",
        "-s",
        "files",
        "-p",
        "vxlan/listen_ip=10.88.88.69",
        "-p",
        &cfg,
        "-v",
        "7",
        "dyn0",
    ]);
    let t = [
        "show-overlay",
        "-t",
        "-p",
        "-o",
        "target,destination",
        "dyn0",
    ];
    assert_eq!(h.ok(&t), "");

    h.ok(&[
        "modify-overlay",
        "-s",
        "2:8:20:1:2:3=10.88.88.71:4789",
        "dyn0",
    ]);
    h.ok(&[
        "modify-overlay",
        "--set-entry",
        "2:8:20:1:2:4=[fd00::2]:8472",
        "dyn0",
    ]);
    let got = h.ok(&t);
    assert!(
        got.contains("2\\:8\\:20\\:1\\:2\\:3:10.88.88.71\\:4789\n"),
        "{got}"
    );
    assert!(
        got.contains("2\\:8\\:20\\:1\\:2\\:4:[fd00\\:\\:2]\\:8472\n"),
        "{got}"
    );
    h.fails(
        &["modify-overlay", "-s", "2:8:20:1:2:5=10.88.88.71", "dyn0"],
        "dladm: failed to set target 2:8:20:1:2:5 for overlay target cache dyn0: \
         invalid argument\n",
    );

    h.ok(&["modify-overlay", "-d", "2:8:20:1:2:3", "dyn0"]);
    let got = h.ok(&t);
    assert!(!got.contains("2\\:8\\:20\\:1\\:2\\:3:"), "{got}");
    h.ok(&["modify-overlay", "-f", "dyn0"]);
    assert_eq!(h.ok(&t), "");

    // A point-to-point overlay: one default destination, no table.
    h.ok(&[
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
        "8",
        "demo0",
    ]);
    assert_eq!(
        h.ok(&["show-overlay", "-t", "demo0"]),
        "LINK                TARGET            DESTINATION\n\
         demo0               *:*:*:*:*:*       10.88.88.70:4789\n"
    );
    h.fails(
        &["modify-overlay", "-f", "demo0"],
        "dladm: failed to flush target cache for overlay demo0: operation not supported\n",
    );
    h.fails(
        &["modify-overlay", "-f", "nope0"],
        "dladm: failed to find overlay nope0: object not found\n",
    );

    h.ok(&["delete-overlay", "demo0"]);
    h.ok(&["delete-overlay", "dyn0"]);
    assert_eq!(h.ok(&["show-link"]), "");
}

//! `dladm modify-overlay` and `show-overlay -t` against the real system
//! (fkoverlayd + varpd in a namespace): the target table of a dynamic
//! (`files`) overlay is set, listed, pruned and flushed through varpd; a
//! point-to-point (`direct`) overlay has no table to change.

use overlay_tests::have_root;
use overlay_tests::host::{files_overlay_args, OurHost};

#[test]
fn dladm_modify_overlay_target_table() {
    if !have_root("dladm_modify_overlay_target_table") {
        return;
    }
    let h = OurHost::alone("dl", "10.88.88.69/32");

    let conf = h.root.path().join("hosts.json");
    std::fs::write(
        &conf,
        r#"{ "de:ad:be:ef:0:1": { "ip": "10.88.88.70", "port": 4789, "arp": "10.55.55.2" } }"#,
    )
    .expect("write files/config");
    h.dladm_quiet(&files_overlay_args("dyn0", 7, "10.88.88.69", &conf));
    let t = [
        "show-overlay",
        "-t",
        "-p",
        "-o",
        "target,destination",
        "dyn0",
    ];
    assert_eq!(h.dladm_quiet(&t), "");

    h.dladm_quiet(&[
        "modify-overlay",
        "-s",
        "2:8:20:1:2:3=10.88.88.71:4789",
        "dyn0",
    ]);
    h.dladm_quiet(&[
        "modify-overlay",
        "--set-entry",
        "2:8:20:1:2:4=[fd00::2]:8472",
        "dyn0",
    ]);
    let got = h.dladm_quiet(&t);
    assert!(
        got.contains("2\\:8\\:20\\:1\\:2\\:3:10.88.88.71\\:4789\n"),
        "{got}"
    );
    assert!(
        got.contains("2\\:8\\:20\\:1\\:2\\:4:[fd00\\:\\:2]\\:8472\n"),
        "{got}"
    );
    h.dladm_fails(
        &["modify-overlay", "-s", "2:8:20:1:2:5=10.88.88.71", "dyn0"],
        "dladm: warning: invalid destination '10.88.88.71': expected ip:port, [ipv6]:port \
         or drop\n\
         dladm: failed to set target 2:8:20:1:2:5 for overlay target cache dyn0: \
         invalid argument\n",
    );

    h.dladm_quiet(&["modify-overlay", "-d", "2:8:20:1:2:3", "dyn0"]);
    let got = h.dladm_quiet(&t);
    assert!(!got.contains("2\\:8\\:20\\:1\\:2\\:3:"), "{got}");
    h.dladm_quiet(&["modify-overlay", "-f", "dyn0"]);
    assert_eq!(h.dladm_quiet(&t), "");

    // A point-to-point overlay: one default destination, no table.
    h.dladm_quiet(&[
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
        h.dladm_quiet(&["show-overlay", "-t", "demo0"]),
        "LINK                TARGET            DESTINATION\n\
         demo0               *:*:*:*:*:*       10.88.88.70:4789\n"
    );
    h.dladm_fails(
        &["modify-overlay", "-f", "demo0"],
        "dladm: warning: demo0 is a point-to-point overlay: it has no target table\n\
         dladm: failed to flush target cache for overlay demo0: operation not supported\n",
    );
    h.dladm_fails(
        &["modify-overlay", "-f", "nope0"],
        "dladm: failed to find overlay nope0: object not found\n",
    );

    h.dladm_quiet(&["delete-overlay", "demo0"]);
    h.dladm_quiet(&["delete-overlay", "dyn0"]);
    assert_eq!(h.dladm_quiet(&["show-link"]), "");
}

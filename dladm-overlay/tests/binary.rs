//! The `dladm` binary itself: opening `/dev/dld` (fkoverlayd's socket
//! under `OVERLAY_ROOT`) fails cleanly when nothing serves it, and an
//! unknown subcommand needs no system at all.

use std::process::Command;

fn dladm(root: &str, args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_dladm"))
        .args(args)
        .env("OVERLAY_ROOT", root)
        .output()
        .expect("run dladm");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn no_dld_node() {
    let root = "/nonexistent/dladm-test-root";
    for args in [
        &["show-overlay"][..],
        &[][..],
        &["create-vnic", "-l", "a0", "b0"][..],
    ] {
        let (c, o, e) = dladm(root, args);
        assert_eq!((c, o.as_str()), (1, ""), "{args:?}");
        assert_eq!(
            e,
            format!(
                "dladm: could not open /dev/dld: object not found\n\
                 dladm: fkoverlayd is not running (nothing serves {root}/run/overlay/dld); \
                 start it with 'fkoverlayd' (systemd: 'systemctl start fkoverlayd')\n"
            ),
            "{args:?}"
        );
    }
}

/// `help` and every usage error work with no daemon running (and as any
/// user): nothing is opened before the command line has been checked.
#[test]
fn help_and_usage_errors_need_no_system() {
    let root = "/nonexistent/dladm-test-root";
    // As illumos: the usage goes to standard error, exit 0.
    let (c, o, e) = dladm(root, &["help"]);
    assert_eq!((c, o.as_str()), (0, ""));
    assert!(
        e.starts_with("usage:  dladm <subcommand> <args> ...\n"),
        "{e}"
    );
    assert!(e.contains("create-overlay"), "{e}");
    for (args, want) in [
        (
            &["delete-overlay"][..],
            "usage:  dladm <subcommand> <args> ...\n",
        ),
        (
            &["create-overlay"][..],
            "dladm: missing required virtual network id\n",
        ),
        (
            &["create-overlay", "-v", "1", "-e", "vxlan", "ov0"][..],
            "dladm: missing required search plugin",
        ),
        (
            &["show-overlay", "-z"][..],
            "dladm: unrecognized option '-z'\n",
        ),
        (&["create-vnic", "b0"][..], "usage:"),
        (
            &["modify-overlay", "ov0"][..],
            "dladm: need to specify one of -d, -f, or -s\n",
        ),
    ] {
        let (c, o, e) = dladm(root, args);
        assert_eq!((c, o.as_str()), (1, ""), "{args:?}");
        assert!(e.starts_with(want), "{args:?}: {e}");
        assert!(!e.contains("could not open"), "{args:?}: {e}");
    }
}

#[test]
fn unknown_subcommand_needs_no_system() {
    let (c, o, e) = dladm("/nonexistent/dladm-test-root", &["frob"]);
    assert_eq!((c, o.as_str()), (1, ""));
    assert!(
        e.starts_with("dladm: unknown subcommand 'frob'\nusage:  dladm <subcommand> <args> ...\n"),
        "{e}"
    );
}

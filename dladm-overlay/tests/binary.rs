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
            e, "dladm: could not open /dev/dld: object not found\n",
            "{args:?}"
        );
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

//! Helpers for the dladm tests: run a command line against the fake
//! backend, and compare a transcript of several commands with a golden file
//! (`tests/golden/<name>.txt`; `UPDATE_GOLDEN=1` rewrites them).

#![allow(dead_code)]

use dladm_overlay::cli;
use dladm_overlay::fake::FakeBackend;

/// Split a command line into words; single quotes group.
pub fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut inq = false;
    let mut have = false;
    for c in line.chars() {
        match c {
            '\'' => {
                inq = !inq;
                have = true;
            }
            ' ' if !inq => {
                if have {
                    out.push(std::mem::take(&mut cur));
                    have = false;
                }
            }
            c => {
                cur.push(c);
                have = true;
            }
        }
    }
    if have {
        out.push(cur);
    }
    out
}

/// Run one `dladm ...` line: `(exit status, stdout, stderr)`.
pub fn dl(b: &mut FakeBackend, line: &str) -> (i32, String, String) {
    let args = words(line);
    assert_eq!(args[0], "dladm", "command lines start with dladm");
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = cli::run(&args, b, &mut out, &mut err, 24);
    (
        code,
        String::from_utf8(out).expect("utf-8 stdout"),
        String::from_utf8(err).expect("utf-8 stderr"),
    )
}

/// Run `line`, which must succeed silently on stderr.
pub fn ok(b: &mut FakeBackend, line: &str) -> String {
    let (c, o, e) = dl(b, line);
    assert_eq!((c, e.as_str()), (0, ""), "{line}");
    o
}

/// Run `line`, which must fail with exit 1 and exactly `stderr`.
pub fn fails(b: &mut FakeBackend, line: &str, stderr: &str) {
    let (c, o, e) = dl(b, line);
    assert_eq!(c, 1, "{line}: exit status");
    assert_eq!(o, "", "{line}: stdout");
    assert_eq!(e, stderr, "{line}: stderr");
}

/// The transcript of running `lines` in order.
pub fn transcript(b: &mut FakeBackend, lines: &[&str]) -> String {
    let mut t = String::new();
    for l in lines {
        let (c, o, e) = dl(b, l);
        t.push_str(&format!("$ {l}\n"));
        if !o.is_empty() {
            t.push_str("--- stdout\n");
            t.push_str(&o);
        }
        if !e.is_empty() {
            t.push_str("--- stderr\n");
            t.push_str(&e);
        }
        t.push_str(&format!("[exit {c}]\n\n"));
    }
    t
}

/// Compare `actual` with `tests/golden/<name>.txt`.
pub fn golden(name: &str, actual: &str) {
    let path = format!("{}/tests/golden/{name}.txt", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing golden file {path} (run with UPDATE_GOLDEN=1)"));
    if want != actual {
        panic!("{name}: output differs from {path}\n--- want\n{want}\n--- got\n{actual}");
    }
}

/// The seed's overlay on host A.
pub const SEED: &str = "dladm create-overlay -e vxlan -s direct -p vxlan/listen_ip=10.88.88.69 \
-p direct/dest_ip=10.88.88.70 -p direct/dest_port=4789 -v 23 demo0";

/// A fresh system with the seed overlay.
pub fn seeded() -> FakeBackend {
    let mut b = FakeBackend::new();
    ok(&mut b, SEED);
    b
}

/// The start of a `create-overlay` line, and the properties a `direct`
/// overlay needs.
pub const C: &str = "dladm create-overlay -e vxlan -s direct";
pub const PROPS: &str = "-p vxlan/listen_ip=10.88.88.69 -p direct/dest_ip=10.88.88.70 \
-p direct/dest_port=4789";

/// A complete `create-overlay` line ending in `extra`.
pub fn create(extra: &str) -> String {
    format!("{C} {PROPS} {extra}")
}

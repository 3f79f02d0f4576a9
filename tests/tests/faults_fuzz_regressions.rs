//! Fuzz regressions replayed by `cargo test` (issue 8 item 5).
//!
//! The libvarpd harnesses of `tests/fuzz` (door envelope, files JSON, state
//! files) depend only on `libvarpd`, so they are included here by path and
//! every input in `tests/fuzz/regressions/<target>/` and
//! `tests/fuzz/seeds/<target>/` is replayed through them, together with a
//! few hand-made edge cases. (The overlay-crate harnesses need the
//! `overlay` crate, which this crate does not depend on; `cargo xtask fuzz`
//! replays their regressions before fuzzing.)

#[path = "../fuzz/src/input.rs"]
#[allow(dead_code)]
mod input;

#[path = "../fuzz/src/door.rs"]
mod door;

#[path = "../fuzz/src/files.rs"]
mod files;

#[path = "../fuzz/src/persist.rs"]
mod persist;

use std::path::PathBuf;

/// The committed inputs of `target`: its regressions, then its seeds.
fn regressions(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v = inputs("regressions", target);
    v.extend(inputs("seeds", target));
    v
}

fn inputs(kind: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut v: Vec<(PathBuf, Vec<u8>)> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .map(|p| {
            let b = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, b)
        })
        .collect();
    v.sort();
    v
}

fn replay(target: &str, run: fn(&[u8]), extra: &[&[u8]]) {
    for (p, b) in regressions(target) {
        eprintln!("replaying {}", p.display());
        run(&b);
    }
    for b in extra {
        run(b);
    }
}

#[test]
fn faults_fuzz_regressions_door_dispatch() {
    let zeros = vec![0u8; 700];
    let ones = vec![0xffu8; 2000];
    // A CACHE_WALK envelope (mode byte, walk length, command 14) with
    // every count.
    let walk = [0x81u8, 0xff, 0xff, 14, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
    replay(
        "door_dispatch",
        door::run,
        &[b"", b"\x01", &zeros, &ones, &walk],
    );
}

#[test]
fn faults_fuzz_regressions_files_json() {
    replay(
        "files_json",
        files::run,
        &[
            b"",
            b"{}",
            b"{\"02:08:20:00:00:0b\": {\"ip\": \"10.0.0.1\", \"port\": 4789}}",
            b"{\"ff:ff:ff:ff:ff:ff\": {\"ip\": \"10.0.0.1\"}}",
            b"{\"2:8:20:0:0:b\": {\"ip\": \"::1\", \"port\": 70000}}",
            b"[1,2,3]",
            b"\n\n\n{",
            b"\xff\xfe",
        ],
    );
}

#[test]
fn faults_fuzz_regressions_persist_restore() {
    replay(
        "persist_restore",
        persist::run,
        &[
            b"",
            b"{}",
            b"null",
            b"{\"vri_id\":0,\"vri_linkid\":7,\"vri_dest\":6,\"vri_mode\":1,\
              \"vri_plugin\":\"direct\",\"vri_private\":null}",
            b"{\"vri_id\":18446744073709551615,\"vri_linkid\":7,\"vri_dest\":6,\
              \"vri_mode\":2,\"vri_plugin\":\"files\",\"vri_private\":{\"files/config\":\"/\"}}",
        ],
    );
}

#[path = "../fuzz/src/svp.rs"]
mod svp;

#[test]
fn faults_fuzz_regressions_svp_server_decode() {
    // A LOG_RM header claiming u32::MAX ids, a huge svp_size, a lone byte.
    let huge = [
        0u8, 1, 0, 0x0b, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    replay(
        "svp_server_decode",
        svp::run_server,
        &[b"", b"\x00", &huge, &[0xffu8; 64]],
    );
}

#[test]
fn faults_fuzz_regressions_svp_client_decode() {
    replay("svp_client_decode", svp::run_client, &[b"", &[0u8; 40]]);
}

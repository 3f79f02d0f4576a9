//! The door socket is open to everyone (an unprivileged `show-overlay`
//! reads through it), so unprivileged peers share a bounded number of
//! connections: holding many open cannot exhaust varpd's threads, and a
//! privileged caller is still served meanwhile.
#![cfg(target_os = "linux")]

use libvarpd::door::transport::{connect, Cred, DoorServer, Handler};
use std::process::Command;
use std::sync::Arc;

fn have_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var_os("OVERLAY_TESTS_ALLOW_SKIP").is_some() {
        eprintln!("skipped: needs root");
        return false;
    }
    panic!("needs root (set OVERLAY_TESTS_ALLOW_SKIP=1 to skip)");
}

#[test]
fn unprivileged_connections_are_bounded_and_root_is_still_served() {
    if !have_root() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("door-limits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Others must reach the socket: the directory is searchable.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.join("varpd.door");
    // The reply is the request with its first byte replaced by whether the
    // caller is privileged.
    let h: Arc<Handler> = Arc::new(|req: &[u8], c: &Cred| {
        let mut r = req.to_vec();
        if let Some(b) = r.first_mut() {
            *b = c.privileged as u8;
        }
        r
    });
    let server = DoorServer::create(&path, h).expect("door server");

    // As uid 65534 (this test binary again, in client mode, copied where
    // that user can run it), open 100 connections and hold them; each then
    // makes one call. Those over the bound are closed by varpd at once.
    let exe = dir.join("door_limits_client");
    std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let child = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&exe)
        .args(["--exact", "door_limits_client", "--nocapture"])
        .env("DOOR_LIMITS_PATH", &path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run setpriv");

    // Meanwhile root is served.
    let c = connect(&path).expect("root connects");
    let mut buf = *b"xyz";
    c.call(&mut buf).expect("root's call");
    assert_eq!(&buf, b"\x01yz", "served, as privileged");

    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let served: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("served "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("client output: {text}"));
    assert_eq!(
        served, 64,
        "exactly the bound of unprivileged connections is served"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Client mode of the test above (run by it as uid 65534): 100 connections
/// held open, then one call on each; prints how many were served.
#[test]
fn door_limits_client() {
    let Some(path) = std::env::var_os("DOOR_LIMITS_PATH") else {
        return;
    };
    use std::io::{Read, Write};
    // All stay open to the end: a closed one would free its slot.
    let conns: Vec<_> = (0..100)
        .map(|_| std::os::unix::net::UnixStream::connect(&path).expect("connect"))
        .collect();
    let mut served = 0;
    let mut conns = conns;
    for c in conns.iter_mut() {
        let _ = c.set_read_timeout(Some(std::time::Duration::from_secs(5)));
        let mut hdr = [0u8; 4];
        if c.write_all(&[3, 0, 0, 0, b'a', b'b', b'c']).is_ok() && c.read_exact(&mut hdr).is_ok() {
            served += 1;
        }
    }
    println!("served {served}");
}

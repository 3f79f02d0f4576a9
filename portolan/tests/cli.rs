//! The `portolan` binary: daemonising (the invoker exits 0 only once
//! portolan listens), `stats`, SIGTERM, persistence across a restart, the
//! operator commands' output and errors, and the privilege check (a
//! subcommand run as uid 65534).

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{tmpdir, Client};
use svp_proto::status::*;
use svp_proto::{SvpLogRecord, SvpReply, SvpRequest, SVP_VL3_IP};

const BIN: &str = env!("CARGO_BIN_EXE_portolan");

fn portolan(root: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("-R")
        .arg(root)
        .args(args)
        .env_remove("OVERLAY_ROOT")
        .output()
        .unwrap()
}

fn ok(root: &Path, args: &[&str]) -> String {
    let o = portolan(root, args);
    assert!(
        o.status.success(),
        "portolan {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn fails(root: &Path, args: &[&str]) -> String {
    let o = portolan(root, args);
    assert!(!o.status.success(), "portolan {args:?} succeeded");
    assert!(o.stdout.is_empty());
    String::from_utf8(o.stderr).unwrap()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn pid_of(root: &Path) -> i32 {
    std::fs::read_to_string(root.join("run/portolan/portolan.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Start a daemonised portolan; returns its address once `portolan`
/// exited 0 (which must mean it already listens).
fn start(root: &Path) -> SocketAddr {
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let o = portolan(root, &["--listen", &addr.to_string()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // No retry: the handshake promises it listens now.
    let mut c = Client::connect(addr);
    assert_eq!(c.call(&SvpRequest::Ping), SvpReply::Pong);
    addr
}

fn stop(root: &Path) {
    let pid = pid_of(root);
    // SAFETY: kill on a pid we started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let t0 = Instant::now();
    // SAFETY: signal 0 only probes.
    while unsafe { libc::kill(pid, 0) } == 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "portolan ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!root.join("run/portolan/portolan.pid").exists());
    assert!(!root.join("run/portolan/portolan.stats").exists());
}

fn setup(root: &Path) {
    ok(root, &["add-host", "cn1", "10.0.0.1"]);
    ok(root, &["add-host", "cn2", "10.0.0.2:4790"]);
    ok(root, &["add-host", "cn6", "[2001:db8::6]:4789"]);
    ok(
        root,
        &[
            "add-nic",
            "--vnet",
            "23",
            "--mac",
            "2:8:20:0:0:1",
            "--ip",
            "192.168.0.1",
            "--host",
            "cn1",
        ],
    );
    ok(
        root,
        &[
            "add-nic",
            "--vnet",
            "23",
            "--mac",
            "02:08:20:00:00:02",
            "--ip",
            "192.168.0.2",
            "--vlan",
            "5",
            "--host",
            "cn2",
        ],
    );
}

fn v4(a: &str) -> std::net::Ipv6Addr {
    a.parse::<std::net::Ipv4Addr>().unwrap().to_ipv6_mapped()
}

#[test]
fn daemon_stats_restart_and_persistence() {
    let root = tmpdir("cli-daemon");
    setup(&root);
    let addr = start(&root);
    assert!(root.join("var/lib/portolan/portolan.db").exists());
    let mut c = Client::connect(addr);
    assert_eq!(
        c.call(&SvpRequest::Vl2 {
            mac: [2, 8, 0x20, 0, 0, 2],
            vnetid: 23
        }),
        SvpReply::Vl2Ack {
            status: 0,
            port: 4790,
            addr: v4("10.0.0.2")
        }
    );
    // stats: table, -p and --json.
    let t = ok(&root, &["stats"]);
    assert!(
        t.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["req_vl2", "1"]),
        "{t}"
    );
    let p = ok(&root, &["stats", "-p"]);
    assert!(p.lines().any(|l| l == "reply_pong:1"), "{p}");
    let j: serde_json::Value = serde_json::from_str(&ok(&root, &["stats", "--json"])).unwrap();
    assert_eq!(j["conns_accepted"], 2);
    drop(c);

    // A second portolan on the same port: the invoker says why, non-zero.
    let o = portolan(&root, &["--listen", &addr.to_string()]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains(&format!("cannot listen on {addr}")), "{e}");

    // Restart: mappings and unacknowledged events survive.
    stop(&root);
    let o = portolan(&root, &["stats"]);
    assert!(!o.status.success());
    let addr = start(&root);
    let mut c = Client::connect(addr);
    assert_eq!(
        c.call(&SvpRequest::Vl3 {
            ip: v4("192.168.0.1"),
            l3type: SVP_VL3_IP,
            vnetid: 23
        }),
        SvpReply::Vl3Ack {
            status: 0,
            mac: [2, 8, 0x20, 0, 0, 1],
            uport: 4789,
            uip: v4("10.0.0.1")
        }
    );
    let SvpReply::LogAck { status, records } = c.call(&SvpRequest::Log {
        count: 1024,
        ip: v4("10.0.0.1"),
    }) else {
        panic!()
    };
    assert_eq!(status, SVP_S_OK);
    assert_eq!(records.len(), 1);
    assert!(matches!(
        records[0],
        SvpLogRecord::Vl3 {
            vlan: 5,
            vnetid: 23,
            ..
        }
    ));
    c.call(&SvpRequest::LogRm {
        ids: vec![records[0].id()],
    });
    // A move made by the CLI while portolan runs reaches its answers.
    ok(
        &root,
        &[
            "move-nic",
            "--vnet",
            "23",
            "--mac",
            "02:08:20:00:00:01",
            "--host",
            "cn6",
        ],
    );
    let t0 = Instant::now();
    loop {
        let r = c.call(&SvpRequest::Vl2 {
            mac: [2, 8, 0x20, 0, 0, 1],
            vnetid: 23,
        });
        if r == (SvpReply::Vl2Ack {
            status: 0,
            port: 4789,
            addr: "2001:db8::6".parse().unwrap(),
        }) {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "{r:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    stop(&root);
    let o = portolan(&root, &["-f", "--listen", "256.0.0.1:1"]);
    assert_eq!(o.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn listings() {
    let root = tmpdir("cli-list");
    setup(&root);
    let h = ok(&root, &["list-hosts"]);
    assert_eq!(
        h.lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["HOST", "UNDERLAY", "PORT"]
    );
    assert_eq!(h.lines().count(), 4);
    assert_eq!(
        ok(&root, &["list-hosts", "-p"]),
        "cn1:10.0.0.1:4789\ncn2:10.0.0.2:4790\ncn6:2001\\:db8\\:\\:6:4789\n"
    );
    let j: serde_json::Value = serde_json::from_str(&ok(&root, &["list-hosts", "--json"])).unwrap();
    assert_eq!(j[2]["ip"], "2001:db8::6");
    assert_eq!(
        ok(&root, &["list-nics", "-p", "--vnet", "23"]),
        "23:02\\:08\\:20\\:00\\:00\\:01:192.168.0.1:0:cn1\n23:02\\:08\\:20\\:00\\:00\\:02:192.168.0.2:5:cn2\n"
    );
    assert_eq!(ok(&root, &["list-nics", "-p", "--vnet", "24"]), "");
    let j: serde_json::Value = serde_json::from_str(&ok(&root, &["list-nics", "--json"])).unwrap();
    assert_eq!(j[1]["mac"], "02:08:20:00:00:02");
    assert_eq!(j[1]["vlan"], 5);
    // One VL3 event for cn1 about the second NIC.
    let e: serde_json::Value =
        serde_json::from_str(&ok(&root, &["list-events", "--json"])).unwrap();
    assert_eq!(e.as_array().unwrap().len(), 1);
    assert_eq!(e[0]["host"], "cn1");
    assert_eq!(e[0]["type"], "VL3");
    assert_eq!(e[0]["ip"], "192.168.0.2");
    // move-nic --json names the events written.
    let m: serde_json::Value = serde_json::from_str(&ok(
        &root,
        &[
            "move-nic",
            "--vnet",
            "23",
            "--mac",
            "02:08:20:00:00:02",
            "--host",
            "cn6",
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(m["nic"]["host"], "cn6");
    let hosts: Vec<&str> = m["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, ["cn1", "cn2", "cn6"]);
    let r: serde_json::Value = serde_json::from_str(&ok(
        &root,
        &[
            "remove-nic",
            "--vnet",
            "23",
            "--mac",
            "02:08:20:00:00:02",
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(r["events"].as_array().unwrap().len(), 2);
    assert_eq!(
        ok(&root, &["list-events", "-p", "--host", "cn2"])
            .lines()
            .count(),
        1
    );
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn errors_name_the_culprit() {
    let root = tmpdir("cli-err");
    setup(&root);
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "add-nic",
                "--vnet",
                "23",
                "--mac",
                "02:08:20:aa:bb:cc",
                "--ip",
                "192.168.0.9",
                "--host",
                "cn7",
            ],
            "portolan: unknown host 'cn7'\n",
        ),
        (
            &[
                "add-nic",
                "--vnet",
                "23",
                "--mac",
                "02:08:20:00:00:01",
                "--ip",
                "192.168.0.9",
                "--host",
                "cn1",
            ],
            "portolan: MAC 02:08:20:00:00:01 already in vnet 23\n",
        ),
        (
            &[
                "add-nic",
                "--vnet",
                "23",
                "--mac",
                "02:08:20:00:00:09",
                "--ip",
                "192.168.0.1",
                "--host",
                "cn1",
            ],
            "portolan: IP 192.168.0.1 already in vnet 23\n",
        ),
        (
            &[
                "add-nic",
                "--vnet",
                "23",
                "--mac",
                "zz",
                "--ip",
                "192.168.0.9",
                "--host",
                "cn1",
            ],
            "portolan: invalid MAC address 'zz'\n",
        ),
        (
            &[
                "add-nic",
                "--vnet",
                "16777216",
                "--mac",
                "2:0:0:0:0:9",
                "--ip",
                "192.168.0.9",
                "--host",
                "cn1",
            ],
            "portolan: invalid vnet '16777216': must be in 0-16777215\n",
        ),
        (
            &[
                "add-nic",
                "--vnet",
                "1",
                "--mac",
                "2:0:0:0:0:9",
                "--ip",
                "192.168.0.300",
                "--host",
                "cn1",
            ],
            "portolan: invalid IP address '192.168.0.300'\n",
        ),
        (
            &[
                "add-nic",
                "--vnet",
                "1",
                "--mac",
                "2:0:0:0:0:9",
                "--ip",
                "10.1.1.1",
                "--vlan",
                "4095",
                "--host",
                "cn1",
            ],
            "portolan: invalid VLAN '4095': must be in 0-4094\n",
        ),
        (
            &[
                "add-nic",
                "--vnet",
                "1",
                "--mac",
                "1:0:0:0:0:9",
                "--ip",
                "10.1.1.1",
                "--host",
                "cn1",
            ],
            "portolan: invalid MAC address '01:00:00:00:00:09': multicast\n",
        ),
        (
            &["add-host", "cn1", "10.0.0.9"],
            "portolan: host 'cn1' already exists\n",
        ),
        (
            &["add-host", "cn9", "10.0.0.2:4789"],
            "portolan: underlay address 10.0.0.2 already used by host 'cn2'\n",
        ),
        (
            &["add-host", "cn9", "10.0.0.9:0"],
            "portolan: invalid underlay address '10.0.0.9:0': port must be in 1-65535\n",
        ),
        (
            &["add-host", "cn9", "nowhere"],
            "portolan: invalid underlay address 'nowhere': must be IP, IPv4:PORT or [IPv6]:PORT\n",
        ),
        (
            &["add-host", "c n", "10.0.0.9"],
            "portolan: invalid host id 'c n': must be 1-64 characters of A-Z a-z 0-9 . _ - :\n",
        ),
        (
            &["remove-host", "cn1"],
            "portolan: host 'cn1' still has 1 NIC(s)\n",
        ),
        (&["remove-host", "cn7"], "portolan: unknown host 'cn7'\n"),
        (
            &["remove-nic", "--vnet", "23", "--mac", "2:0:0:0:0:77"],
            "portolan: no MAC 02:00:00:00:00:77 in vnet 23\n",
        ),
        (
            &[
                "move-nic",
                "--vnet",
                "23",
                "--mac",
                "2:8:20:0:0:1",
                "--host",
                "cn1",
            ],
            "portolan: MAC 02:08:20:00:00:01 in vnet 23 is already on host 'cn1'\n",
        ),
        (
            &[
                "move-nic",
                "--vnet",
                "23",
                "--mac",
                "2:8:20:0:0:1",
                "--host",
                "cn7",
            ],
            "portolan: unknown host 'cn7'\n",
        ),
        (
            &["--db", "postgres://u@127.0.0.1:1/db", "list-hosts"],
            "portolan: database error: PostgreSQL 127.0.0.1:1/db: cannot connect: \
             Connection refused (os error 111)\n",
        ),
    ];
    let before = ok(&root, &["list-events", "-p"]);
    for (args, want) in cases {
        assert_eq!(fails(&root, args), *want, "{args:?}");
    }
    // Nothing half-done.
    assert_eq!(ok(&root, &["list-events", "-p"]), before);
    assert_eq!(ok(&root, &["list-nics", "-p"]).lines().count(), 2);
    assert_eq!(ok(&root, &["list-hosts", "-p"]).lines().count(), 3);
    // Usage errors exit 2.
    assert_eq!(
        portolan(&root, &["add-nic", "--vnet", "1"]).status.code(),
        Some(2)
    );
    let _ = std::fs::remove_dir_all(root);
}

fn as_nobody(root: &Path, args: &[&str]) -> Output {
    Command::new("setpriv")
        .args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            BIN,
            "-R",
        ])
        .arg(root)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn privilege() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        if std::env::var_os("OVERLAY_TESTS_ALLOW_SKIP").is_some() {
            eprintln!("privilege: needs root; skipped");
            return;
        }
        panic!("privilege: needs root (set OVERLAY_TESTS_ALLOW_SKIP=1 to skip)");
    }
    let root = tmpdir("cli-priv");
    setup(&root);
    // Let uid 65534 reach the tree (not the database).
    let mut p = PathBuf::from(&root);
    loop {
        use std::os::unix::fs::PermissionsExt;
        let m = std::fs::metadata(&p).unwrap().permissions().mode();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m | 0o755)).unwrap();
        if !p.pop() || p == Path::new("/") || p == std::env::temp_dir() {
            break;
        }
    }
    let mutations: &[&[&str]] = &[
        &["add-host", "cn9", "10.0.0.9"],
        &["remove-host", "cn6"],
        &[
            "add-nic",
            "--vnet",
            "23",
            "--mac",
            "2:0:0:0:0:9",
            "--ip",
            "192.168.0.9",
            "--host",
            "cn1",
        ],
        &["remove-nic", "--vnet", "23", "--mac", "2:8:20:0:0:1"],
        &[
            "move-nic",
            "--vnet",
            "23",
            "--mac",
            "2:8:20:0:0:1",
            "--host",
            "cn2",
        ],
    ];
    for args in mutations {
        let o = as_nobody(&root, args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&o.stderr),
            "portolan: permission denied\n",
            "{args:?}"
        );
    }
    // Reading the mode-0600 database is refused too.
    let o = as_nobody(&root, &["list-nics"]);
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.starts_with("portolan: permission denied: "), "{e}");
    // Nothing changed.
    assert_eq!(ok(&root, &["list-hosts", "-p"]).lines().count(), 3);
    assert_eq!(ok(&root, &["list-nics", "-p"]).lines().count(), 2);
    // A uid listed in admin_uids passes the check (and then meets the
    // file's mode, which the operator grants separately).
    std::fs::create_dir_all(root.join("etc/portolan")).unwrap();
    std::fs::write(
        root.join("etc/portolan/portolan.toml"),
        "admin_uids = [65534]\n",
    )
    .unwrap();
    let o = as_nobody(&root, &["add-host", "cn9", "10.0.0.9"]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.starts_with("portolan: permission denied: "), "{e}");
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn bench_runs_and_reports() {
    let root = tmpdir("cli-bench");
    let out = ok(
        &root,
        &[
            "bench",
            "--mappings",
            "200",
            "--clients",
            "2",
            "--seconds",
            "0.3",
            "--json",
        ],
    );
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    for (l, op) in lines.iter().zip(["Vl2", "Vl3"]) {
        assert_eq!(l["op"], op);
        assert_eq!(l["mappings"], 200);
        assert!(l["replies"].as_u64().unwrap() > 0);
        assert!(l["p99_us"].as_f64().unwrap() >= l["p50_us"].as_f64().unwrap());
    }
    assert_eq!(
        fails(&root, &["bench", "--op", "arp"]),
        "portolan: invalid op 'arp': must be vl2, vl3 or both\n"
    );
    let _ = std::fs::remove_dir_all(root);
}

//! Traffic and the kernel's view of it: pings, an iperf3 TCP run, and the
//! SNMP counters of a namespace.
//!
//! Theory of operation: everything here runs the ordinary tools (`ping`,
//! `iperf3`) inside a namespace, as an operator would, and reads
//! `/proc/net/snmp{,6}` there (what `nstat` and `netstat -s` show).
//! Retries absorb the first neighbour resolution over a fresh overlay;
//! nothing here measures speed.

use crate::netns::Netns;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// `count` pings of `ip` from `ns`, 0.2 s apart, with retries for the
/// first neighbour resolution: true if a run of `count` gets replies.
pub fn ping(ns: &Netns, ip: &str, count: u32) -> bool {
    for _ in 0..3 {
        let o = ns.exec(
            "ping",
            &["-c", &count.to_string(), "-i", "0.2", "-W", "2", ip],
        );
        if o.status.success() {
            return true;
        }
    }
    false
}

/// One ping with `size` bytes of payload and "don't fragment" set.
pub fn ping_df(ns: &Netns, ip: &str, size: u32) -> bool {
    for _ in 0..3 {
        let o = ns.exec(
            "ping",
            &[
                "-c",
                "1",
                "-W",
                "2",
                "-M",
                "do",
                "-s",
                &size.to_string(),
                ip,
            ],
        );
        if o.status.success() {
            return true;
        }
    }
    false
}

/// A short iperf3 TCP run from `client` to a server on `server` at `ip`:
/// returns the bytes the server received, or the reason it failed.
pub fn iperf3(server: &Netns, client: &Netns, ip: &str, secs: u32) -> Result<u64, String> {
    let port = 5201 + (std::process::id() % 1000) as u16;
    let mut srv = server
        .command("iperf3")
        .args(["-s", "-1", "-B", ip, "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn iperf3 -s: {e}"))?;
    let _guard = ChildGuard(&mut srv);
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < Duration::from_secs(10) {
        let o = client.exec(
            "iperf3",
            &[
                "-c",
                ip,
                "-p",
                &port.to_string(),
                "-t",
                &secs.to_string(),
                "-J",
            ],
        );
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if o.status.success() && v.get("error").is_none() {
            return v["end"]["sum_received"]["bytes"]
                .as_u64()
                .ok_or_else(|| format!("no end.sum_received.bytes in {text}"));
        }
        last = match v.get("error") {
            Some(e) => e.to_string(),
            None => format!("{text}{}", String::from_utf8_lossy(&o.stderr)),
        };
        // The server may not listen yet.
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!("iperf3 client failed: {last}"))
}

/// Kills and reaps a child on drop.
struct ChildGuard<'a>(&'a mut Child);

impl Drop for ChildGuard<'_> {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A counter of a namespace's kernel SNMP table (`/proc/net/snmp`), e.g.
/// ("Udp", "InCsumErrors"): what `nstat`/`netstat -s` show operators.
pub fn snmp(ns: &Netns, table: &str, field: &str) -> u64 {
    proc_counter(ns, "/proc/net/snmp", table, field)
}

/// A counter of a namespace's `/proc/net/netstat` (e.g. `TcpExt`,
/// `TCPOFOQueue`).
pub fn netstat(ns: &Netns, table: &str, field: &str) -> u64 {
    proc_counter(ns, "/proc/net/netstat", table, field)
}

/// `field` of `table` in a file of header/value line pairs
/// (`/proc/net/snmp`, `/proc/net/netstat`).
fn proc_counter(ns: &Netns, file: &str, table: &str, field: &str) -> u64 {
    let out = ns.exec_ok("cat", &[file]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(&format!("{table}:")))
        .collect();
    assert!(rows.len() >= 2, "no {table} in {file}");
    let names: Vec<&str> = rows[0].split_whitespace().collect();
    let vals: Vec<&str> = rows[1].split_whitespace().collect();
    let i = names
        .iter()
        .position(|n| *n == field)
        .unwrap_or_else(|| panic!("no {table} {field}"));
    vals[i].parse().unwrap_or(0)
}

/// One counter of a namespace's `/proc/net/snmp6` (e.g.
/// `Udp6InCsumErrors`), 0 if absent.
pub fn snmp6(ns: &Netns, name: &str) -> u64 {
    let out = ns.exec_ok("cat", &["/proc/net/snmp6"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some(name)).then(|| w.next()?.parse().ok())?
        })
        .unwrap_or(0)
}

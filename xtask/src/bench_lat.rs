//! Latency tests of `cargo xtask bench`: ping round-trip times and a TCP
//! request/response rate across an overlay.
//!
//! Theory of operation: `ping -c N -i 0.002` from host 1 to host 2 gives
//! one `time=` per reply; the bench keeps them all and reports the median,
//! the 99th percentile (nearest rank) and the minimum. The request/response
//! test runs this same xtask binary inside the namespaces as a hidden
//! subcommand (`xtask bench-rr server ADDR` on host 2, `xtask bench-rr
//! client ADDR SECS` on host 1): one TCP connection with `TCP_NODELAY`, the
//! client writes one byte and waits for the server's one byte back, as
//! many times as it can for SECS seconds, and prints the transactions per
//! second. Each transaction is one full round trip across the overlay
//! through both TCP stacks, so its inverse is the request/response
//! latency without ping's ICMP shortcut.

use crate::util::Result;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Per-ping round-trip times, in milliseconds, sorted.
pub struct PingTimes {
    pub sent: u32,
    pub ms: Vec<f64>,
}

impl PingTimes {
    /// The `p`-th percentile (0 < p ≤ 100), nearest rank.
    pub fn pct(&self, p: f64) -> f64 {
        percentile(&self.ms, p)
    }

    pub fn min(&self) -> f64 {
        self.ms.first().copied().unwrap_or(f64::NAN)
    }
}

/// Nearest-rank percentile of sorted values; NaN if empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The `time=` values of ping's reply lines, in milliseconds.
pub fn parse_ping(out: &str) -> Vec<f64> {
    let mut v: Vec<f64> = out
        .lines()
        .filter_map(|l| {
            let t = &l[l.find("time=")? + 5..];
            let n: String = t
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let ms: f64 = n.parse().ok()?;
            // ping prints "time=1.23 ms", or "time=2 s" past a second.
            Some(if t[n.len()..].trim_start().starts_with("ms") {
                ms
            } else {
                ms * 1000.0
            })
        })
        .collect();
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

/// `count` pings at `interval_ms` from namespace `ns` to `dst`.
pub fn ping(ns: &str, dst: &str, count: u32, interval_ms: u32) -> Result<PingTimes> {
    let interval = format!("{}", f64::from(interval_ms) / 1000.0);
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "ping", "-n", "-c", &count.to_string()])
        .args(["-i", &interval, "-W", "1", dst])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ping (is iputils-ping installed?): {e}"))?;
    let ms = parse_ping(&String::from_utf8_lossy(&out.stdout));
    if ms.is_empty() {
        return Err(format!(
            "ping from {ns} to {dst}: no replies ({})",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(PingTimes { sent: count, ms })
}

/// The request/response rate (transactions per second) from namespace
/// `client_ns` to a server this runs in `server_ns` on `addr:port`.
pub fn rr(server_ns: &str, client_ns: &str, addr: &str, secs: u32) -> Result<f64> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the xtask binary: {e}"))?;
    let target = format!("{addr}:5301");
    let mut server = Command::new("ip")
        .args(["netns", "exec", server_ns])
        .arg(&exe)
        .args(["bench-rr", "server", &target])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("bench-rr server: {e}"))?;
    // Wait until it listens.
    let mut line = String::new();
    let ready = server
        .stdout
        .take()
        .map(|o| BufReader::new(o).read_line(&mut line).is_ok() && line.trim() == "ready")
        .unwrap_or(false);
    let result = if ready {
        Command::new("ip")
            .args(["netns", "exec", client_ns])
            .arg(&exe)
            .args(["bench-rr", "client", &target, &secs.to_string()])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("bench-rr client: {e}"))
            .and_then(|o| {
                let s = String::from_utf8_lossy(&o.stdout);
                s.trim().parse::<f64>().map_err(|_| {
                    format!(
                        "bench-rr client to {target}: {}{}",
                        s.trim(),
                        String::from_utf8_lossy(&o.stderr).trim()
                    )
                })
            })
    } else {
        Err(format!("bench-rr server on {target} did not start"))
    };
    let _ = server.kill();
    let _ = server.wait();
    result
}

/// The hidden `xtask bench-rr server ADDR` / `client ADDR SECS` subcommand.
pub fn rr_main(args: &[String]) -> Result {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match a.as_slice() {
        ["server", addr] => rr_server(addr),
        ["client", addr, secs] => {
            let secs: u64 = secs
                .parse()
                .ok()
                .filter(|s| *s > 0)
                .ok_or_else(|| format!("bench-rr: invalid seconds '{secs}'"))?;
            let tps = rr_client(addr, Duration::from_secs(secs))?;
            println!("{tps:.1}");
            Ok(())
        }
        _ => Err("usage: xtask bench-rr server ADDR:PORT | client ADDR:PORT SECS".into()),
    }
}

fn rr_server(addr: &str) -> Result {
    let l = TcpListener::bind(addr).map_err(|e| format!("bench-rr: bind {addr}: {e}"))?;
    println!("ready");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let (mut s, _) = l.accept().map_err(|e| format!("bench-rr: accept: {e}"))?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut b = [0u8; 1];
    // Echo each byte until the client closes.
    while s.read_exact(&mut b).is_ok() {
        if s.write_all(&b).is_err() {
            break;
        }
    }
    Ok(())
}

fn rr_client(addr: &str, d: Duration) -> Result<f64> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("bench-rr: connect {addr}: {e}"))?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    let one = |s: &mut TcpStream| -> Result {
        let mut b = [7u8; 1];
        s.write_all(&b)
            .map_err(|e| format!("bench-rr: write: {e}"))?;
        s.read_exact(&mut b)
            .map_err(|e| format!("bench-rr: read: {e}"))
    };
    // Warm up (ARP, slow start, caches), then count.
    for _ in 0..100 {
        one(&mut s)?;
    }
    let t0 = Instant::now();
    let mut n = 0u64;
    loop {
        for _ in 0..32 {
            one(&mut s)?;
        }
        n += 32;
        let e = t0.elapsed();
        if e >= d {
            return Ok(n as f64 / e.as_secs_f64());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_lines_are_parsed() {
        let out = "PING 10.55.55.2 (10.55.55.2) 56(84) bytes of data.\n\
            64 bytes from 10.55.55.2: icmp_seq=1 ttl=64 time=0.230 ms\n\
            64 bytes from 10.55.55.2: icmp_seq=2 ttl=64 time=0.110 ms\n\
            64 bytes from 10.55.55.2: icmp_seq=3 ttl=64 time=1.5 s\n\
            \n--- 10.55.55.2 ping statistics ---\n\
            rtt min/avg/max/mdev = 0.110/0.170/0.230/0.060 ms\n";
        assert_eq!(parse_ping(out), vec![0.110, 0.230, 1500.0]);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[3.0], 99.0), 3.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn rr_over_loopback() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let a = addr.clone();
        let srv = std::thread::spawn(move || rr_server(&a));
        // The server binds in its thread; retry the connect briefly.
        let mut tps = Err(String::new());
        for _ in 0..50 {
            tps = rr_client(&addr, Duration::from_millis(200));
            if tps.is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(tps.unwrap() > 0.0);
        srv.join().unwrap().unwrap();
    }
}

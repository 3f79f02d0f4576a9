//! `cargo xtask bench`: the system beside Linux's kernel vxlan, then the
//! driver's criterion benches.
//!
//! Theory of operation: two pairs of network namespaces stand for two pairs
//! of hosts, each pair joined by a veth underlay (10.88.88.69 <-> .70, the
//! seed's addresses). On the first pair ("kernel") each host runs Linux's
//! own VXLAN:
//!
//! ```text
//! ip link add vx0 type vxlan id 23 local A remote B dstport 4789 nolearning
//! ip link set vx0 mtu 1400; ip addr add 10.55.55.x/24 dev vx0; ip link set vx0 up
//! ```
//!
//! On the second pair ("ours") each host runs `fkoverlayd` and `varpd` under
//! its own `OVERLAY_ROOT` and the seed's commands (`dladm create-overlay -e
//! vxlan -s direct … -v 23 demo0`, `dladm create-vnic -l demo0 foo0`, an
//! address on foo0). Both overlays have MTU 1400 (the overlay default), so
//! both carry the same frames. Separate pairs keep the two users of UDP port
//! 4789 apart; the measurements alternate between them in one run (the order
//! flips every round) so both see the same background load.
//!
//! Each round measures, from host 1 to host 2 across the overlay: with
//! `iperf3`, TCP throughput of one stream and of four parallel streams
//! (`-P 4`; receiver's figures) and 64-byte
//! UDP datagrams at full speed (`-u -l 64 -b 0`), reported as datagrams per
//! second *received*, and beside that the datagrams per second the sending
//! host's VTEP put on the underlay meanwhile (the kernel's `vx0` transmit
//! count, fkoverlayd's `udp_tx_datagrams`, over the test's wall time):
//! what each VTEP carried, whatever the receiver then read; the ping round-trip time (p50 and p99 of `--pings`
//! pings 2 ms apart); and a TCP request/response rate (one byte each way,
//! [`crate::bench_lat`]). The table ([`crate::bench_report`]) gives every
//! round with its ours/kernel ratio, then the medians; for our side also
//! the CPU time fkoverlayd used (both hosts), in cores, and at the end
//! fkoverlayd's non-zero counters. Then `cargo bench -p overlay --bench
//! datapath` runs briefly (ns and allocations per packet of the driver
//! itself).
//!
//! Everything is torn down on success, failure or Ctrl-C (a drop guard kills
//! whatever runs in the namespaces and deletes them). Namespaces are named
//! `bn<pid><k|o><1|2>` so parallel runs never collide.
//!
//! Options: `--rounds N` (3), `--tcp-secs S` (10), `--udp-secs S` (5),
//! `--pings N` (1000), `--rr-secs S` (5), `--json FILE` (every round),
//! `--svg FILE` (chart, ours beside the kernel per test), `--quick` (1
//! round, 3 s tests, no criterion), `--no-criterion`, `--no-system`,
//! `--low-latency` (ours runs `fkoverlayd --low-latency
//! --low-latency-idle 100`: a CPU latency request of 0 held while its
//! traffic flows; the request is system-wide, so after each of our
//! measurements the bench waits until it is dropped, and the kernel's
//! figures are taken without it).

use crate::bench_hosts::{
    bin, pair, say, setup_kernel, setup_ours, setup_underlay, Pair, Side, Teardown,
    LOW_LATENCY_IDLE_MS,
};
use crate::bench_lat;
use crate::bench_report::{Record, Report, Test};
use crate::bench_udp;
use crate::util::{cargo, is_root, run as sh, Result};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn check_interrupt() -> Result {
    if INTERRUPTED.load(Ordering::SeqCst) {
        Err("interrupted".into())
    } else {
        Ok(())
    }
}

struct Opts {
    rounds: u32,
    tcp_secs: u32,
    udp_secs: u32,
    criterion: bool,
    system: bool,
    pings: u32,
    rr_secs: u32,
    json: Option<String>,
    svg: Option<String>,
    low_latency: bool,
}

fn parse(args: &[String]) -> Result<Opts> {
    let mut o = Opts {
        rounds: 3,
        tcp_secs: 10,
        udp_secs: 5,
        criterion: true,
        system: true,
        pings: 1000,
        rr_secs: 5,
        json: None,
        svg: None,
        low_latency: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = |name: &str| -> Result<u32> {
            it.next()
                .and_then(|v| v.parse().ok())
                .filter(|v| *v > 0)
                .ok_or_else(|| format!("{name} needs a positive number"))
        };
        match a.as_str() {
            "--rounds" => o.rounds = num("--rounds")?,
            "--tcp-secs" => o.tcp_secs = num("--tcp-secs")?,
            "--udp-secs" => o.udp_secs = num("--udp-secs")?,
            "--pings" => o.pings = num("--pings")?,
            "--rr-secs" => o.rr_secs = num("--rr-secs")?,
            "--no-criterion" => o.criterion = false,
            "--no-system" => o.system = false,
            "--low-latency" => o.low_latency = true,
            "--quick" => {
                o.rounds = 1;
                o.tcp_secs = 3;
                o.udp_secs = 3;
                o.rr_secs = 3;
                o.criterion = false;
            }
            "--json" | "--svg" => {
                let f = it
                    .next()
                    .filter(|f| !f.is_empty())
                    .ok_or_else(|| format!("{a} needs a file name"))?
                    .clone();
                if a == "--json" {
                    o.json = Some(f);
                } else {
                    o.svg = Some(f);
                }
            }
            _ => {
                return Err(format!(
                    "unknown option {a}; usage: cargo xtask bench [--quick] [--rounds N] \
                     [--tcp-secs S] [--udp-secs S] [--pings N] [--rr-secs S] [--json FILE] \
                     [--svg FILE] [--no-criterion] [--no-system] [--low-latency]"
                ))
            }
        }
    }
    Ok(o)
}

/// Pings across the overlay until it answers (ARP warmed), or fails.
fn check_path(p: &Pair) -> Result {
    let [a, b] = &p.h;
    for _ in 0..10 {
        let ok = Command::new("ip")
            .args(["netns", "exec", &a.ns, "ping", "-c", "1", "-W", "1"])
            .arg(b.overlay_ip)
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Ok(());
        }
        check_interrupt()?;
    }
    Err(format!(
        "{}: no ping from {} to {} across the overlay",
        p.side.label(),
        a.overlay_ip,
        b.overlay_ip
    ))
}

fn start_iperf_server(p: &Pair) -> Result<Child> {
    let b = &p.h[1];
    let c = Command::new("ip")
        .args(["netns", "exec", &b.ns, "iperf3", "-s", "-B", b.overlay_ip])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run iperf3 (is it installed?): {e}"))?;
    std::thread::sleep(Duration::from_millis(500));
    Ok(c)
}

/// The number after `"key":` in the object that follows `"section":` in
/// iperf3's JSON output (its `end` summary comes last, so the last
/// occurrence of the section is the one).
fn json_num(json: &str, section: &str, key: &str) -> Option<f64> {
    let at = json.rfind(&format!("\"{section}\""))?;
    let rest = &json[at..];
    let end = rest.find('}')?;
    let obj = &rest[..end];
    let k = obj.find(&format!("\"{key}\""))?;
    let v = obj[k + key.len() + 2..].trim_start();
    let v = v.strip_prefix(':')?.trim_start();
    let n: String = v
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | 'e' | 'E' | '+'))
        .collect();
    n.parse().ok()
}

fn iperf(p: &Pair, args: &[&str]) -> Result<String> {
    let [a, b] = &p.h;
    let mut c = Command::new("ip");
    c.args(["netns", "exec", &a.ns, "iperf3", "-c", b.overlay_ip, "-J"])
        .args(args)
        .stdin(Stdio::null());
    let out: Output = c.output().map_err(|e| format!("iperf3: {e}"))?;
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "{}: iperf3 {} failed: {}{}",
            p.side.label(),
            args.join(" "),
            json_err(&s),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(s)
}

fn json_err(s: &str) -> String {
    s.find("\"error\"")
        .map(|i| s[i..].lines().next().unwrap_or("").to_string())
        .unwrap_or_default()
}

/// CPU seconds used so far by the fkoverlayd processes of a pair.
fn fk_cpu(p: &Pair) -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut ticks = 0u64;
    for h in &p.h {
        for pid in h.pids() {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() != "fkoverlayd" {
                continue;
            }
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Fields after the ")" that ends comm: state is field 3, utime
            // 14 and stime 15 (1-based), i.e. 11 and 12 after the paren.
            if let Some(i) = stat.rfind(')') {
                let f: Vec<&str> = stat[i + 1..].split_whitespace().collect();
                for j in [11, 12] {
                    ticks += f.get(j).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
                }
            }
        }
    }
    ticks as f64 / hz
}

/// Single-stream TCP throughput, Gbit/s received.
fn measure_tcp(p: &Pair, secs: u32) -> Result<f64> {
    measure_tcp_streams(p, secs, 1)
}

/// TCP throughput of `streams` parallel connections (`iperf3 -P`), Gbit/s
/// received in total.
fn measure_tcp_streams(p: &Pair, secs: u32, streams: u32) -> Result<f64> {
    let j = iperf(p, &["-t", &secs.to_string(), "-P", &streams.to_string()])?;
    let bps = json_num(&j, "sum_received", "bits_per_second")
        .ok_or("iperf3 TCP output has no sum_received.bits_per_second")?;
    if let Some(r) = json_num(&j, "sum_sent", "retransmits") {
        eprintln!("    TCP retransmissions: {r}");
    }
    Ok(bps / 1e9)
}

/// 64-byte UDP datagrams received per second, in thousands.
fn measure_udp(p: &Pair, secs: u32) -> Result<f64> {
    let j = iperf(p, &["-u", "-l", "64", "-b", "0", "-t", &secs.to_string()])?;
    let bytes = json_num(&j, "sum_received", "bytes")
        .ok_or("iperf3 UDP output has no sum_received.bytes")?;
    let s = json_num(&j, "sum_received", "seconds")
        .filter(|s| *s > 0.0)
        .ok_or("iperf3 UDP output has no sum_received.seconds")?;
    Ok(bytes / 64.0 / s / 1e3)
}

/// The counters read around a 64-byte UDP test ([`bench_udp`]).
#[derive(Clone, Copy)]
struct UdpCounters {
    /// Datagrams dropped at the receiving socket (`RcvbufErrors`).
    drops: Option<u64>,
    /// fkoverlayd only: frames the sending host's TAP reader carried.
    carried: Option<u64>,
    /// VXLAN datagrams the sending host's VTEP put on the underlay: the
    /// kernel's `vx0` transmit count (one per encapsulated frame),
    /// fkoverlayd's `udp_tx_datagrams` (datagrams, however many share a
    /// GSO send). Over the test, the rate the VTEP carried whatever the
    /// receiving application then managed to read.
    sent: Option<u64>,
}

/// Reads [`UdpCounters`] now (one `fkoverlayd stats` for ours).
fn udp_counters(p: &Pair) -> UdpCounters {
    let drops = bench_udp::rcvbuf_errors(&p.h[1].ns);
    let h = &p.h[0];
    match p.side {
        Side::Kernel => {
            let sent = h
                .cmd("cat", &["/sys/class/net/vx0/statistics/tx_packets"])
                .output()
                .ok()
                .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok());
            UdpCounters {
                drops,
                carried: None,
                sent,
            }
        }
        Side::Ours => {
            let stats = h
                .cmd(&bin("fkoverlayd"), &["stats"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            UdpCounters {
                drops,
                carried: bench_udp::stat_field(&stats, "tap_rx_frames"),
                sent: bench_udp::stat_field(&stats, "udp_tx_datagrams"),
            }
        }
    }
}

/// `b - a` where both were read.
fn delta(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    Some(b?.saturating_sub(a?))
}

/// Prints where a UDP test's datagrams went: dropped at the receiving
/// socket, and what fkoverlayd carried for `fk_secs` of its CPU.
fn udp_where(p: &Pair, c0: UdpCounters, c1: UdpCounters, fk_secs: f64) {
    if let Some(d) = delta(c0.drops, c1.drops) {
        eprintln!("    dropped at the receiving socket: {d} datagrams (UDP RcvbufErrors)");
    }
    if let (Some(n), Side::Ours) = (delta(c0.carried, c1.carried), p.side) {
        eprintln!(
            "    fkoverlayd carried {n} frames, {:.2} µs of its CPU per frame",
            fk_secs * 1e6 / n.max(1) as f64
        );
    }
}

fn load_avg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Debian packages of the system benchmark: namespaces and veth, ping,
/// iperf3.
const BENCH_PACKAGES: &[&str] = &["iproute2", "iputils-ping", "iperf3"];

fn system(o: &Opts) -> Result {
    if !is_root() {
        return Err("cargo xtask bench needs root (network namespaces and TAP devices): run it as root, e.g. sudo -E cargo xtask bench (or --no-system)".into());
    }
    // The tools the system benchmark runs, on a fresh machine too.
    crate::setup::ensure_apt(BENCH_PACKAGES)?;
    say("building fkoverlayd, varpd and dladm (release)");
    sh(cargo().args([
        "build",
        "--release",
        "-p",
        "fkoverlayd",
        "-p",
        "varpd",
        "-p",
        "dladm-overlay",
    ]))?;

    let pairs = [pair(Side::Kernel), pair(Side::Ours)];
    let _teardown = Teardown(&pairs);
    say("kernel vxlan: two hosts (10.88.88.69 <-> .70), vx0 id 23, 10.55.55.1 <-> .2");
    setup_underlay(&pairs[0])?;
    setup_kernel(&pairs[0])?;
    check_interrupt()?;
    say(&format!(
        "fkoverlayd{}: two hosts, dladm create-overlay -s direct … -v 23 demo0, create-vnic foo0",
        if o.low_latency { " --low-latency" } else { "" }
    ));
    setup_underlay(&pairs[1])?;
    setup_ours(&pairs[1], o.low_latency)?;
    check_interrupt()?;
    for p in &pairs {
        check_path(p)?;
    }
    let mut servers = Vec::new();
    for p in &pairs {
        servers.push(start_iperf_server(p)?);
    }

    let tests = vec![
        Test {
            key: "tcp_gbps",
            title: format!("TCP 1 stream, {} s", o.tcp_secs),
            unit: "Gbit/s",
            higher_is_better: true,
        },
        Test {
            key: "tcp4_gbps",
            title: format!("TCP 4 streams, {} s", o.tcp_secs),
            unit: "Gbit/s",
            higher_is_better: true,
        },
        Test {
            key: "udp64_kpps",
            title: format!("UDP 64 B rx, {} s", o.udp_secs),
            unit: "kpps",
            higher_is_better: true,
        },
        Test {
            key: "udp64_vtep_kpps",
            title: format!("UDP 64 B sent by the VTEP, {} s", o.udp_secs),
            unit: "kpps",
            higher_is_better: true,
        },
        Test {
            key: "ping_p50_ms",
            title: format!("ping p50 of {}", o.pings),
            unit: "ms",
            higher_is_better: false,
        },
        Test {
            key: "ping_p99_ms",
            title: format!("ping p99 of {}", o.pings),
            unit: "ms",
            higher_is_better: false,
        },
        Test {
            key: "tcp_rr_tps",
            title: format!("TCP 1-byte req/resp, {} s", o.rr_secs),
            unit: "trans/s",
            higher_is_better: true,
        },
    ];
    let mut rep = Report {
        tests,
        records: Vec::new(),
        rounds: o.rounds,
        load_before: load_avg(),
        load_after: String::new(),
        started: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    for r in 0..o.rounds {
        let order: [usize; 2] = if r % 2 == 0 { [0, 1] } else { [1, 0] };
        for what in [
            "TCP",
            "TCP -P 4",
            "UDP 64 B",
            "ping",
            "TCP request/response",
        ] {
            for &i in &order {
                let p = &pairs[i];
                say(&format!(
                    "round {}/{}: {what} over {}",
                    r + 1,
                    o.rounds,
                    p.side.label()
                ));
                let c0 = fk_cpu(p);
                let t0 = std::time::Instant::now();
                let figures: Vec<(usize, f64)> = match what {
                    "TCP" => vec![(0, measure_tcp(p, o.tcp_secs)?)],
                    "TCP -P 4" => vec![(1, measure_tcp_streams(p, o.tcp_secs, 4)?)],
                    "UDP 64 B" => {
                        let before = udp_counters(p);
                        let t = std::time::Instant::now();
                        let kpps = measure_udp(p, o.udp_secs)?;
                        let secs = t.elapsed().as_secs_f64();
                        let after = udp_counters(p);
                        udp_where(p, before, after, fk_cpu(p) - c0);
                        let sent = delta(before.sent, after.sent)
                            .ok_or("cannot read the sending VTEP's datagram count")?;
                        vec![(2, kpps), (3, sent as f64 / secs / 1e3)]
                    }
                    "ping" => {
                        let t = bench_lat::ping(&p.h[0].ns, p.h[1].overlay_ip, o.pings, 2)?;
                        eprintln!(
                            "    {} of {} replies, min {:.3} ms",
                            t.ms.len(),
                            t.sent,
                            t.min()
                        );
                        vec![(4, t.pct(50.0)), (5, t.pct(99.0))]
                    }
                    _ => vec![(
                        6,
                        bench_lat::rr(&p.h[1].ns, &p.h[0].ns, p.h[1].overlay_ip, o.rr_secs)?,
                    )],
                };
                let cores = (fk_cpu(p) - c0) / t0.elapsed().as_secs_f64();
                if o.low_latency && p.side == Side::Ours {
                    // Dropped within two idle periods of the last frame.
                    std::thread::sleep(Duration::from_millis(3 * LOW_LATENCY_IDLE_MS));
                }
                for (t, value) in figures {
                    let test = &rep.tests[t];
                    eprintln!(
                        "    {}: {value:.3} {}{}",
                        test.key,
                        test.unit,
                        if p.side == Side::Ours {
                            format!(", fkoverlayd {cores:.2} cores")
                        } else {
                            String::new()
                        }
                    );
                    rep.records.push(Record {
                        round: r + 1,
                        side: i,
                        test: t,
                        value,
                        fk_cores: (p.side == Side::Ours).then_some(cores),
                    });
                }
                check_interrupt()?;
            }
        }
    }
    rep.load_after = load_avg();
    for mut s in servers {
        let _ = s.kill();
        let _ = s.wait();
    }
    // What the offloads did, and every drop: fkoverlayd's counters.
    for h in &pairs[1].h {
        if let Ok(out) = h.cmd(&bin("fkoverlayd"), &["stats"]).output() {
            let text = String::from_utf8_lossy(&out.stdout);
            let lines: Vec<&str> = text
                .lines()
                .filter(|l| {
                    let n = l.split_whitespace().last().unwrap_or("0");
                    n != "0"
                        && [
                            "tso",
                            "gro",
                            "drop",
                            "error",
                            "full",
                            "udp_",
                            "tap_rx_frames",
                            "tap_rx_reply",
                            "low_latency",
                        ]
                        .iter()
                        .any(|k| l.contains(k))
                })
                .collect();
            println!(
                "fkoverlayd stats on {} (non-zero): {}",
                h.ns,
                lines.join("; ")
            );
        }
    }

    rep.print();
    if o.low_latency {
        println!(
            "fkoverlayd ran with --low-latency (a CPU latency request of 0 µs while its \
             traffic flowed); the kernel's figures were taken without one"
        );
    }
    if let Some(f) = &o.json {
        rep.write_json(f)?;
        eprintln!("every round written to {f}");
    }
    if let Some(f) = &o.svg {
        rep.write_svg(f)?;
        eprintln!("chart written to {f}");
    }
    Ok(())
}

pub fn run(args: &[String]) -> Result {
    let o = parse(args)?;
    // SAFETY: installing a handler that only stores to an atomic is
    // async-signal-safe.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t,
        )
    };
    if o.system {
        system(&o)?;
    }
    if o.criterion {
        say("driver core: criterion (ns and allocations per packet)");
        sh(cargo().args([
            "bench",
            "-p",
            "overlay",
            "--bench",
            "datapath",
            "--",
            "--warm-up-time",
            "1",
            "--measurement-time",
            "3",
        ]))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_num_reads_the_last_section() {
        let j = r#"{"intervals":[{"sum_received": {"bytes": 1}}],
            "end": {"sum_received":	{
                "seconds":	2.5, "bytes":	640,
                "bits_per_second":	1.5e9 }}}"#;
        assert_eq!(json_num(j, "sum_received", "bytes"), Some(640.0));
        assert_eq!(json_num(j, "sum_received", "seconds"), Some(2.5));
        assert_eq!(json_num(j, "sum_received", "bits_per_second"), Some(1.5e9));
        assert_eq!(json_num(j, "sum_received", "packets"), None);
        assert_eq!(json_num(j, "sum_sent", "bytes"), None);
    }
}

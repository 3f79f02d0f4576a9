//! Packet captures with `tshark`, read back field by field.
//!
//! Theory of operation: a [`Capture`] is a `tshark -w` running inside a
//! namespace on one interface with a capture filter; the test waits until
//! it says it is capturing, makes its traffic, stops it with SIGINT (so the
//! file is complete) and reads it back with `tshark -r -T fields`, VXLAN
//! decoding on the test's port and UDP checksums checked. Drop kills a
//! capture still running and removes its files.

use crate::netns::{unique_name, Netns};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A `tshark -w` capture inside a namespace.
pub struct Capture {
    child: Option<Child>,
    file: PathBuf,
    log: PathBuf,
}

impl Capture {
    /// Starts capturing UDP on `ifname` in `ns` into a file under `dir`,
    /// and waits (20 s at most) until tshark says it is capturing.
    pub fn start(ns: &Netns, ifname: &str, dir: &Path) -> Capture {
        Capture::start_snap(ns, ifname, dir, 0)
    }

    /// [`Capture::start`] keeping only the first `snaplen` bytes of each
    /// packet (0: whole packets), for bulk traffic.
    pub fn start_snap(ns: &Netns, ifname: &str, dir: &Path, snaplen: u32) -> Capture {
        Capture::start_with(ns, ifname, dir, snaplen, "udp")
    }

    /// [`Capture::start`] with the capture filter `filter` instead of `udp`
    /// (e.g. `icmp` on a VNIC).
    pub fn start_filter(ns: &Netns, ifname: &str, dir: &Path, filter: &str) -> Capture {
        Capture::start_with(ns, ifname, dir, 0, filter)
    }

    fn start_with(ns: &Netns, ifname: &str, dir: &Path, snaplen: u32, filter: &str) -> Capture {
        let file = dir.join(format!("{}.pcapng", unique_name("cap")));
        let log = dir.join(format!("{}.log", unique_name("cap")));
        let logf = std::fs::File::create(&log).expect("create capture log");
        let child = ns
            .command("tshark")
            .args(["-i", ifname, "-f", filter])
            .args(if snaplen > 0 {
                vec!["-s".to_string(), snaplen.to_string()]
            } else {
                vec![]
            })
            .arg("-w")
            .arg(&file)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(logf)
            .spawn()
            .expect("spawn tshark (apt-get install tshark)");
        let cap = Capture {
            child: Some(child),
            file,
            log,
        };
        let start = Instant::now();
        loop {
            let text = std::fs::read_to_string(&cap.log).unwrap_or_default();
            if text.contains("Capturing on") {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "tshark did not start capturing: {text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // dumpcap prints before its capture loop runs; give it a moment.
        std::thread::sleep(Duration::from_millis(500));
        cap
    }

    /// Stops the capture (SIGINT, so tshark writes out the file) and
    /// returns its path.
    pub fn stop(&mut self) -> PathBuf {
        // Let the last packets reach the ring buffer.
        std::thread::sleep(Duration::from_millis(500));
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill has no memory-safety preconditions; the pid is
            // our child (ip netns exec execs tshark), not yet reaped.
            unsafe { libc::kill(c.id() as i32, libc::SIGINT) };
            let start = Instant::now();
            loop {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                if start.elapsed() > Duration::from_secs(10) {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        self.file.clone()
    }

    /// `tshark -r file [-d udp.port==P,vxlan] -T fields -e …` on the
    /// stopped capture: one row per packet matching `filter`, one column
    /// per field.
    pub fn fields(&self, vxlan_port: u16, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
        let mut c = std::process::Command::new("tshark");
        c.arg("-r").arg(&self.file);
        c.args(["-o", "udp.check_checksum:TRUE"]);
        if vxlan_port != 4789 {
            c.args(["-d", &format!("udp.port=={vxlan_port},vxlan")]);
        }
        c.args([
            "-Y",
            filter,
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-E",
            "occurrence=f",
        ]);
        for f in fields {
            c.args(["-e", f]);
        }
        let out = c.stdin(Stdio::null()).output().expect("run tshark -r");
        assert!(
            out.status.success(),
            "tshark -r failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split('|').map(|s| s.to_string()).collect())
            .collect()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(&self.file);
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Decodes tshark's hex for a bytes field (`0a1b…`, possibly with `:`).
pub fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
        .collect()
}

//! The `files` plugin's configuration parser (overlay_files(5), JSON) on
//! arbitrary bytes, with and without required ports, plus the MAC address
//! parser on the same text.
//!
//! Invariants: no panic; an error carries a position inside the text (line
//! ≥ 1) and formats; a MAC string that parses prints back to a string that
//! parses to the same MAC; a configuration accepted with ports required is
//! accepted without.
//!
//! This file depends only on `libvarpd`, so `overlay-tests` includes it by
//! path to replay regression inputs.

use libvarpd::plugins::files::config::{mac_to_string, parse_mac, FilesConfig};

pub fn run(data: &[u8]) {
    let strict = FilesConfig::parse(data, true);
    let lax = FilesConfig::parse(data, false);
    for r in [&strict, &lax] {
        if let Err(e) = r {
            let nl = data.iter().filter(|&&c| c == b'\n').count();
            assert!(
                e.line <= nl + 1,
                "error line {} beyond the text ({} lines)",
                e.line,
                nl + 1
            );
            let _ = e.to_string();
        }
    }
    if let Ok(c) = &strict {
        assert_eq!(lax.as_ref().ok(), Some(c), "strict parse accepted, lax not");
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Some(m) = parse_mac(s) {
            let p = mac_to_string(&m);
            assert_eq!(parse_mac(&p), Some(m), "MAC {s:?} printed as {p:?}");
        }
    }
}

//! Where a 64-byte UDP test's datagrams went: the counters the system
//! bench reads around `iperf3 -u -l 64 -b 0`.
//!
//! The figure the bench reports is what the receiving iperf3 took. On a
//! 2-core machine much of what the sender sends is lost on the way, and
//! where it is lost decides what it cost: a datagram dropped at the
//! receiving socket (`RcvbufErrors` in the receiver's namespace) has been
//! carried the whole way. For fkoverlayd the bench also reads the frames
//! the sending host's TAP reader carried (`tap_rx_frames`), so the CPU
//! fkoverlayd used can be divided by what it moved, not only by what
//! arrived.

use std::process::Command;

/// `RcvbufErrors` of the UDP MIB in network namespace `ns` (datagrams a
/// full socket receive buffer dropped), if it can be read.
pub fn rcvbuf_errors(ns: &str) -> Option<u64> {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "cat", "/proc/net/snmp"])
        .output()
        .ok()?;
    snmp_field(
        &String::from_utf8_lossy(&out.stdout),
        "Udp:",
        "RcvbufErrors",
    )
}

/// A field of `/proc/net/snmp` (a line of names, then a line of values,
/// both starting with `group`).
pub fn snmp_field(text: &str, group: &str, name: &str) -> Option<u64> {
    let mut lines = text.lines().filter(|l| l.starts_with(group));
    let names = lines.next()?;
    let values = lines.next()?;
    let i = names.split_whitespace().position(|n| n == name)?;
    values.split_whitespace().nth(i)?.parse().ok()
}

/// The counter `key` of `fkoverlayd stats` output (`name value` lines).
pub fn stat_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        (w.next()? == key).then(|| w.next()?.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snmp_and_stats_fields() {
        let snmp = "Ip: Forwarding DefaultTTL\nIp: 1 64\n\
                    Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n\
                    Udp: 10 0 5 7 42 0\nUdpLite: InDatagrams RcvbufErrors\nUdpLite: 0 0\n";
        assert_eq!(snmp_field(snmp, "Udp:", "RcvbufErrors"), Some(42));
        assert_eq!(snmp_field(snmp, "Udp:", "InDatagrams"), Some(10));
        assert_eq!(snmp_field(snmp, "Udp:", "Nope"), None);
        assert_eq!(snmp_field("", "Udp:", "RcvbufErrors"), None);
        let stats = "tap_rx_frames                339208\nudp_rx_datagrams 21080\nbad\n";
        assert_eq!(stat_field(stats, "tap_rx_frames"), Some(339208));
        assert_eq!(stat_field(stats, "udp_rx_datagrams"), Some(21080));
        assert_eq!(stat_field(stats, "tap_rx"), None);
        assert_eq!(stat_field(stats, "bad"), None);
    }
}

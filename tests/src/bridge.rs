//! An underlay of many hosts: a Linux bridge in a namespace of its own,
//! each host hanging off it by a veth.
//!
//! Theory of operation: [`underlay_bridge`] makes the namespace with the
//! bridge `br0`, up. [`attach`] joins another namespace to it: a veth whose
//! end in that namespace is `ul0` (with the given addresses, the first its
//! primary) and whose end in the bridge's namespace is a bridge port of the
//! caller's naming. Transmit checksum offload is off on both ends, as
//! [`crate::netns::veth`] does, so that checksums on the underlay are final
//! (see [`Netns::tx_checksum_off`]). A capture on `br0` (promiscuous, so it
//! sees forwarded frames) sees every datagram that crosses the underlay.
//! Dropping the bridge's namespace removes the bridge and every veth.

use crate::netns::{veth_pair, Netns};
use std::fmt::Display;

/// A namespace named after `prefix` holding the bridge `br0`, up.
pub fn underlay_bridge(prefix: &str) -> Netns {
    let underlay = Netns::new(prefix);
    underlay.exec_ok("ip", &["link", "add", "br0", "type", "bridge"]);
    underlay.exec_ok("ip", &["link", "set", "br0", "up"]);
    underlay
}

/// Hangs `ns` off the bridge of `underlay` by a veth (`ul0` in `ns`, `port`
/// on the bridge) and gives `ul0` the addresses `addrs` (each a /24; the
/// first is its primary address).
pub fn attach(underlay: &Netns, ns: &Netns, port: &str, addrs: &[impl Display]) {
    veth_pair(ns, "ul0", underlay, port);
    ns.tx_checksum_off("ul0");
    underlay.tx_checksum_off(port);
    underlay.exec_ok("ip", &["link", "set", port, "master", "br0"]);
    underlay.exec_ok("ip", &["link", "set", port, "up"]);
    for a in addrs {
        ns.exec_ok("ip", &["addr", "add", &format!("{a}/24"), "dev", "ul0"]);
    }
    ns.exec_ok("ip", &["link", "set", "ul0", "up"]);
}

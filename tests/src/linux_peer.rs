//! A Linux kernel `vxlan` device as the other end of our overlay
//! (spec/vxlan.md §2.2), for the interop, wire-conformance and
//! hostile-input tests.
//!
//! Theory of operation: [`linux_vxlan`] builds the peer in a namespace of
//! its own with `ip link add … type vxlan id N local A remote B dstport P
//! nolearning`, an MTU and an overlay address, so the kernel encapsulates
//! and decapsulates for it; [`mac_of`] reads back an interface's MAC (the
//! peer's, to address frames to it). The namespace's drop removes the
//! device.

use crate::netns::Netns;
use crate::packets::parse_mac;

/// Builds the Linux peer in `ns`: `ip link add name type vxlan id vni local
/// local remote remote dstport port nolearning`, MTU `mtu`, up, with the
/// overlay address `cidr`.
#[allow(clippy::too_many_arguments)]
pub fn linux_vxlan(
    ns: &Netns,
    name: &str,
    vni: u32,
    local: &str,
    remote: &str,
    port: u16,
    mtu: u32,
    cidr: &str,
) {
    linux_vxlan_with(ns, name, vni, local, remote, port, mtu, cidr, &[]);
}

/// [`linux_vxlan`] with further `ip link … type vxlan` options (e.g.
/// `udp6zerocsumtx`); an empty `cidr` leaves the device without address.
#[allow(clippy::too_many_arguments)]
pub fn linux_vxlan_with(
    ns: &Netns,
    name: &str,
    vni: u32,
    local: &str,
    remote: &str,
    port: u16,
    mtu: u32,
    cidr: &str,
    extra: &[&str],
) {
    let vni = vni.to_string();
    let port = port.to_string();
    let mut args = vec![
        "link",
        "add",
        name,
        "type",
        "vxlan",
        "id",
        &vni,
        "local",
        local,
        "remote",
        remote,
        "dstport",
        &port,
        "nolearning",
    ];
    args.extend_from_slice(extra);
    ns.exec_ok("ip", &args);
    ns.exec_ok("ip", &["link", "set", name, "mtu", &mtu.to_string()]);
    if cidr.is_empty() {
        ns.exec_ok("ip", &["link", "set", name, "up"]);
    } else {
        ns.plumb(name, cidr);
    }
}

/// The MAC address of interface `ifname` in `ns`.
pub fn mac_of(ns: &Netns, ifname: &str) -> [u8; 6] {
    let out = ns.exec_ok("cat", &[&format!("/sys/class/net/{ifname}/address")]);
    parse_mac(String::from_utf8_lossy(&out.stdout).trim())
        .unwrap_or_else(|| panic!("bad MAC of {ifname}"))
}

//! Shared harness for the end-to-end tests (network namespaces, daemons).
//!
//! * [`netns`]: network namespaces, veth pairs and temporary roots, all
//!   removed by drop guards;
//! * [`daemons`]: finding the release binaries, running `fkoverlayd` and
//!   `varpd` in a namespace, `dladm`, and a raw fkoverlayd socket client;
//! * [`host`]: one of our hosts (fkoverlayd + varpd + dladm), and the
//!   two-host topology builder;
//! * [`bridge`]: an underlay bridge that many namespaces hang off;
//! * [`fabric`]: a portolan and several hosts with VMs on an `svp` overlay;
//! * [`linux_peer`]: a Linux kernel `vxlan` device as the other end;
//! * [`traffic`]: pings, iperf3, the kernel's SNMP counters;
//! * [`capture`]: `tshark` captures read back by field;
//! * [`packets`]: hand-built frames and datagrams, a raw IPv4 sender;
//! * [`postgres`]: the database of a portolan test, SQLite or a private
//!   PostgreSQL cluster, by name.

pub mod bridge;
pub mod capture;
pub mod daemons;
pub mod fabric;
pub mod host;
pub mod linux_peer;
pub mod netns;
pub mod packets;
pub mod postgres;
pub mod traffic;

/// Whether a test that needs root may run. Without root the test fails, since
/// CI runs as root and must never skip; set `OVERLAY_TESTS_ALLOW_SKIP=1` to
/// skip such tests on a developer's unprivileged machine instead.
pub fn have_root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var_os("OVERLAY_TESTS_ALLOW_SKIP").is_some() {
        eprintln!("{test}: skipped: needs root");
        return false;
    }
    panic!("{test}: needs root (set OVERLAY_TESTS_ALLOW_SKIP=1 to skip)");
}

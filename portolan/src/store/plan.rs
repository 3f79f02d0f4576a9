//! Which log events each operator change writes (spec §4, what NAPI did),
//! shared by every store so they all write the same ones.
//!
//! * **add-nic** (vnet V, MAC M, IP I, VLAN L, host H): one VL3 {I, M, L}
//!   event for every host that already has a NIC on V, except H. Those
//!   hosts re-resolve I and send a gratuitous ARP, so guests that cached a
//!   stale ARP entry for I learn M.
//! * **remove-nic**: one VL2 {M} event for every host with a NIC on V
//!   (before the removal, the NIC's own host included): each drops its VL2
//!   cache entry, so the next frame to M misses and finds nothing.
//! * **move-nic** (H1 → H2): one VL2 {M} event for every host on V before
//!   or after the move, H1 and H2 included: every cached M → H1 entry is
//!   dropped, the next frame misses and the VL2 query answers H2. The IP
//!   and MAC do not change, so ARP caches stay right and no VL3 event is
//!   needed.
//!
//! Events are listed in host-id order; a host appears once per change.

use std::collections::BTreeSet;

use super::types::{EventId, LogEvent, LogRecord, Nic};

fn events(hosts: BTreeSet<&str>, vnet: u32, record: &LogRecord) -> Vec<LogEvent> {
    hosts
        .into_iter()
        .map(|h| LogEvent {
            id: EventId::random(),
            host: h.to_string(),
            vnet,
            record: record.clone(),
        })
        .collect()
}

/// The events of adding `nic`, given the hosts with a NIC on its vnet
/// before the change.
pub fn add_nic(nic: &Nic, vnet_hosts: &[String]) -> Vec<LogEvent> {
    let hosts = vnet_hosts
        .iter()
        .map(String::as_str)
        .filter(|h| *h != nic.host)
        .collect();
    let rec = LogRecord::Vl3 {
        ip: nic.ip,
        mac: nic.mac,
        vlan: nic.vlan,
    };
    events(hosts, nic.vnet, &rec)
}

/// The events of removing `nic`, given the hosts with a NIC on its vnet
/// before the change.
pub fn remove_nic(nic: &Nic, vnet_hosts: &[String]) -> Vec<LogEvent> {
    let mut hosts: BTreeSet<&str> = vnet_hosts.iter().map(String::as_str).collect();
    hosts.insert(nic.host.as_str());
    events(hosts, nic.vnet, &LogRecord::Vl2 { mac: nic.mac })
}

/// The events of moving `nic` (still naming its old host) to `to`, given
/// the hosts with a NIC on its vnet before the change.
pub fn move_nic(nic: &Nic, to: &str, vnet_hosts: &[String]) -> Vec<LogEvent> {
    let mut hosts: BTreeSet<&str> = vnet_hosts.iter().map(String::as_str).collect();
    hosts.insert(nic.host.as_str());
    hosts.insert(to);
    events(hosts, nic.vnet, &LogRecord::Vl2 { mac: nic.mac })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::types::Mac;

    fn nic(host: &str) -> Nic {
        Nic {
            vnet: 23,
            mac: Mac([2, 0, 0, 0, 0, 1]),
            ip: "10.0.0.1".parse().unwrap(),
            vlan: 0,
            host: host.into(),
        }
    }

    fn hosts(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn names(e: &[LogEvent]) -> Vec<&str> {
        e.iter().map(|e| e.host.as_str()).collect()
    }

    #[test]
    fn rules() {
        let add = add_nic(&nic("a"), &hosts(&["c", "a", "b", "b"]));
        assert_eq!(names(&add), ["b", "c"]);
        assert!(matches!(add[0].record, LogRecord::Vl3 { .. }));
        let rm = remove_nic(&nic("a"), &hosts(&["b"]));
        assert_eq!(names(&rm), ["a", "b"]);
        let mv = move_nic(&nic("a"), "d", &hosts(&["a", "b"]));
        assert_eq!(names(&mv), ["a", "b", "d"]);
        assert!(mv
            .iter()
            .all(|e| e.record == LogRecord::Vl2 { mac: nic("a").mac }));
        assert_ne!(mv[0].id, mv[1].id);
    }
}

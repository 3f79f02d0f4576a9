//! The operator changes, once for every store.
//!
//! # Theory of operation
//!
//! Each change (`add-host`, `remove-host`, `add-nic`, `remove-nic`,
//! `move-nic`) is a few checks, a row change and the log events [`plan`]
//! says it writes. The checks and their order decide which error a bad
//! change gets (an unknown NIC before an unknown host, a taken MAC before a
//! taken IP), so they live here, once: a store supplies only its row
//! operations ([`ChangeTx`]) on a transaction it opened, and commits it
//! when the function returns `Ok` (an `Err` rolls everything back).
//!
//! The arguments are validated by the caller before the transaction opens
//! ([`validate_nic`](super::validate_nic),
//! [`validate_host_id`](super::validate_host_id)), so bad input is
//! reported as such even while the database is unreachable.

use std::net::IpAddr;

use super::plan;
use super::types::*;

/// The row operations of one open change transaction. Every read sees the
/// transaction's own writes.
pub trait ChangeTx {
    fn host_exists(&mut self, id: &str) -> Result<bool, StoreError>;
    /// The id of the host whose underlay address is `ip`.
    fn host_by_ip(&mut self, ip: IpAddr) -> Result<Option<String>, StoreError>;
    fn insert_host(&mut self, id: &str, ip: IpAddr, port: u16) -> Result<(), StoreError>;
    /// How many NICs live on host `id`.
    fn host_nics(&mut self, id: &str) -> Result<u64, StoreError>;
    /// Delete host `id` and its pending log events.
    fn delete_host(&mut self, id: &str) -> Result<(), StoreError>;
    fn get_nic(&mut self, vnet: u32, mac: Mac) -> Result<Option<Nic>, StoreError>;
    /// Whether a NIC on `vnet` has `ip`.
    fn ip_used(&mut self, vnet: u32, ip: IpAddr) -> Result<bool, StoreError>;
    /// The hosts with a NIC on `vnet`, each once.
    fn vnet_hosts(&mut self, vnet: u32) -> Result<Vec<String>, StoreError>;
    fn insert_nic(&mut self, nic: &Nic) -> Result<(), StoreError>;
    fn delete_nic(&mut self, vnet: u32, mac: Mac) -> Result<(), StoreError>;
    fn set_nic_host(&mut self, vnet: u32, mac: Mac, host: &str) -> Result<(), StoreError>;
    /// Write one change's log events.
    fn insert_events(&mut self, evs: &[LogEvent]) -> Result<(), StoreError>;
}

/// [`Store::add_host`](super::Store::add_host) in `tx`.
pub fn add_host(tx: &mut impl ChangeTx, id: &str, ip: IpAddr, port: u16) -> Result<(), StoreError> {
    if tx.host_exists(id)? {
        return Err(StoreError::HostExists(id.into()));
    }
    if let Some(host) = tx.host_by_ip(ip)? {
        return Err(StoreError::UnderlayInUse { ip, host });
    }
    tx.insert_host(id, ip, port)
}

/// [`Store::remove_host`](super::Store::remove_host) in `tx`.
pub fn remove_host(tx: &mut impl ChangeTx, id: &str) -> Result<(), StoreError> {
    if !tx.host_exists(id)? {
        return Err(StoreError::UnknownHost(id.into()));
    }
    let count = tx.host_nics(id)?;
    if count > 0 {
        return Err(StoreError::HostHasNics {
            host: id.into(),
            count,
        });
    }
    tx.delete_host(id)
}

/// [`Store::add_nic`](super::Store::add_nic) in `tx`.
pub fn add_nic(tx: &mut impl ChangeTx, nic: &Nic) -> Result<Vec<LogEvent>, StoreError> {
    if !tx.host_exists(&nic.host)? {
        return Err(StoreError::UnknownHost(nic.host.clone()));
    }
    if tx.get_nic(nic.vnet, nic.mac)?.is_some() {
        return Err(StoreError::MacInUse {
            mac: nic.mac,
            vnet: nic.vnet,
        });
    }
    if tx.ip_used(nic.vnet, nic.ip)? {
        return Err(StoreError::IpInUse {
            ip: nic.ip,
            vnet: nic.vnet,
        });
    }
    let hosts = tx.vnet_hosts(nic.vnet)?;
    tx.insert_nic(nic)?;
    let evs = plan::add_nic(nic, &hosts);
    tx.insert_events(&evs)?;
    Ok(evs)
}

/// [`Store::remove_nic`](super::Store::remove_nic) in `tx`.
pub fn remove_nic(
    tx: &mut impl ChangeTx,
    vnet: u32,
    mac: Mac,
) -> Result<(Nic, Vec<LogEvent>), StoreError> {
    let nic = tx
        .get_nic(vnet, mac)?
        .ok_or(StoreError::UnknownNic { mac, vnet })?;
    let hosts = tx.vnet_hosts(vnet)?;
    tx.delete_nic(vnet, mac)?;
    let evs = plan::remove_nic(&nic, &hosts);
    tx.insert_events(&evs)?;
    Ok((nic, evs))
}

/// [`Store::move_nic`](super::Store::move_nic) in `tx`.
pub fn move_nic(
    tx: &mut impl ChangeTx,
    vnet: u32,
    mac: Mac,
    host: &str,
) -> Result<(Nic, Vec<LogEvent>), StoreError> {
    let nic = tx
        .get_nic(vnet, mac)?
        .ok_or(StoreError::UnknownNic { mac, vnet })?;
    if !tx.host_exists(host)? {
        return Err(StoreError::UnknownHost(host.into()));
    }
    if nic.host == host {
        return Err(StoreError::SameHost {
            mac,
            vnet,
            host: host.into(),
        });
    }
    let hosts = tx.vnet_hosts(vnet)?;
    tx.set_nic_host(vnet, mac, host)?;
    let evs = plan::move_nic(&nic, host, &hosts);
    tx.insert_events(&evs)?;
    let moved = Nic {
        host: host.into(),
        ..nic
    };
    Ok((moved, evs))
}

//! The mapping store: what portolan answers from and what the operator
//! commands change.
//!
//! # Theory of operation
//!
//! [`Store`] is the whole interface between portolan and its database, with
//! no database type in it, so that an embedded SQLite store
//! ([`sqlite::SqliteStore`]) and a PostgreSQL store
//! ([`postgres::PostgresStore`]) sit behind it and pass the same test suite
//! ([`suite`]). It holds three things (the Moray
//! buckets of Triton, spec §3.2):
//!
//! * **hosts**: host id → underlay address and port (4789 by default). A
//!   host's underlay address is unique: LOG_REQ names the asking host by it.
//! * **NICs**: (vnet, MAC) → IP, VLAN, host. (vnet, MAC) and (vnet, IP) are
//!   both unique; a removed NIC is deleted outright (no tombstone: the SQL
//!   stores need none, the shootdown log carries the news).
//! * **log events**: per host, in insertion order, each with a random UUID
//!   (the id LOG_RM sends back), a vnet and a VL2 {MAC} or VL3 {IP, MAC,
//!   VLAN} record.
//!
//! Every operator change is ONE call and ONE transaction that writes the
//! mapping and the log events for the other hosts on the vnet, as NAPI did
//! (spec §4); [`plan`] says which events each change produces, and
//! [`change`] makes each change (its checks, in order, then the rows and
//! the events) over the row operations a store supplies
//! ([`change::ChangeTx`]), so every store implementation refuses the same
//! changes with the same errors and writes the same events. Every change also bumps a
//! generation number ([`Store::generation`]), which lets portolan's lookup
//! cache notice changes made by other processes (the CLI, or other
//! portolans on the same PostgreSQL database).
//!
//! Lookups are each one indexed query: VL2 by (vnet, MAC), VL3 by
//! (vnet, IP), LOG_REQ by the host's underlay address then (host, order).
//! The server asks for the VL2 and VL3 keys of every request it has read
//! at once ([`Store::vl2_lookup_many`], [`Store::vl3_lookup_many`]): one
//! query for the whole batch on PostgreSQL, one prepared statement run per
//! key on SQLite.

pub mod change;
pub mod plan;
pub mod postgres;
pub mod sqlite;
pub mod suite;
pub mod types;

pub use types::*;

use std::net::{IpAddr, Ipv6Addr};

/// The mapping store. Implementations are shared by every portolan thread
/// (`Send + Sync`) and manage their own database connections.
pub trait Store: Send + Sync {
    /// A short name for logs: "sqlite" or "postgres".
    fn kind(&self) -> &'static str;

    // ---- lookups (the SVP server) ----

    /// VL2_REQ: the underlay of the host owning `mac` in `vnet`.
    fn vl2_lookup(&self, vnet: u32, mac: Mac) -> Result<Option<Underlay>, StoreError>;

    /// VL3_REQ: the MAC owning `ip` (as carried on the wire: IPv4 is
    /// IPv4-mapped) in `vnet` and its host's underlay.
    fn vl3_lookup(&self, vnet: u32, ip: Ipv6Addr) -> Result<Option<Vl3Entry>, StoreError>;

    /// VL2_REQ for many keys at once: one answer per key, in the order
    /// of `keys` (a key given twice is answered twice). One query where
    /// the database allows; an error fails the whole batch.
    fn vl2_lookup_many(&self, keys: &[(u32, Mac)]) -> Result<Vec<Option<Underlay>>, StoreError>;

    /// VL3_REQ for many keys at once, as [`Store::vl2_lookup_many`].
    fn vl3_lookup_many(
        &self,
        keys: &[(u32, Ipv6Addr)],
    ) -> Result<Vec<Option<Vl3Entry>>, StoreError>;

    /// LOG_REQ: the log events of the host whose underlay address is
    /// `underlay` (IPv4-mapped for IPv4), oldest first, as many as fit in
    /// `max_bytes` of wire records (32 bytes per VL2, 44 per VL3; stopping
    /// at the first that does not fit). `None` when no host has that
    /// underlay address.
    fn log_fetch(
        &self,
        underlay: Ipv6Addr,
        max_bytes: usize,
    ) -> Result<Option<Vec<LogEvent>>, StoreError>;

    /// LOG_RM: delete these events; unknown ids are ignored. Returns how
    /// many were deleted.
    fn log_remove(&self, ids: &[EventId]) -> Result<usize, StoreError>;

    /// A number that changes whenever a mapping or host changes (by any
    /// process using the same database).
    fn generation(&self) -> Result<u64, StoreError>;

    // ---- operator changes: each is one transaction ----

    /// Add host `id` with its underlay address. Errors: `HostExists`,
    /// `UnderlayInUse`.
    fn add_host(&self, id: &str, ip: IpAddr, port: u16) -> Result<(), StoreError>;

    /// Remove host `id` and its pending log events. Errors: `UnknownHost`,
    /// `HostHasNics`.
    fn remove_host(&self, id: &str) -> Result<(), StoreError>;

    /// Add a NIC and a VL3 event for every other host on its vnet.
    /// Errors: `UnknownHost`, `MacInUse`, `IpInUse`.
    fn add_nic(&self, nic: &Nic) -> Result<Vec<LogEvent>, StoreError>;

    /// Remove the NIC (vnet, mac) and write a VL2 event for every host on
    /// the vnet. Returns the removed NIC and the events. Errors: `UnknownNic`.
    fn remove_nic(&self, vnet: u32, mac: Mac) -> Result<(Nic, Vec<LogEvent>), StoreError>;

    /// Move the NIC (vnet, mac) to host `host` and write a VL2 event for
    /// every host on the vnet (before and after the move). Errors:
    /// `UnknownNic`, `UnknownHost`, `SameHost`.
    fn move_nic(&self, vnet: u32, mac: Mac, host: &str)
        -> Result<(Nic, Vec<LogEvent>), StoreError>;

    // ---- listings ----

    /// Every host, ordered by id.
    fn list_hosts(&self) -> Result<Vec<Host>, StoreError>;

    /// Every NIC (of `vnet` if given), ordered by vnet then MAC.
    fn list_nics(&self, vnet: Option<u32>) -> Result<Vec<Nic>, StoreError>;

    /// Pending log events (of host `host` if given), in insertion order.
    fn list_events(&self, host: Option<&str>) -> Result<Vec<LogEvent>, StoreError>;
}

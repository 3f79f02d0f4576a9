//! The row operations of a SQLite change transaction ([`ChangeTx`]); the
//! changes themselves are in [`crate::store::change`].
//!
//! Every statement runs inside the `BEGIN IMMEDIATE` transaction
//! [`SqliteStore::write`] opened, from the connection's statement cache.
//! Addresses go in as 16-byte IPv6 blobs (IPv4 mapped), MACs as 6 bytes.

use std::net::IpAddr;

use rusqlite::{params, OptionalExtension, Transaction};

use super::{nic_of, raw_nic, SqliteStore};
use crate::store::change::ChangeTx;
use crate::store::types::*;

/// An open change transaction of `store`.
pub(super) struct SqliteChange<'s, 't, 'c> {
    pub(super) store: &'s SqliteStore,
    pub(super) tx: &'t Transaction<'c>,
}

impl SqliteChange<'_, '_, '_> {
    fn exists(&self, sql: &str, p: impl rusqlite::Params) -> Result<bool, StoreError> {
        self.tx
            .prepare_cached(sql)
            .and_then(|mut s| s.exists(p))
            .map_err(|e| self.store.err(e))
    }

    fn exec(&self, sql: &str, p: impl rusqlite::Params) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(p))
            .map_err(|e| self.store.err(e))?;
        Ok(())
    }
}

impl ChangeTx for SqliteChange<'_, '_, '_> {
    fn host_exists(&mut self, id: &str) -> Result<bool, StoreError> {
        self.exists("SELECT 1 FROM hosts WHERE id = ?1", params![id])
    }

    fn host_by_ip(&mut self, ip: IpAddr) -> Result<Option<String>, StoreError> {
        let wip = to_wire_ip(ip);
        self.tx
            .prepare_cached("SELECT id FROM hosts WHERE ip = ?1")
            .and_then(|mut s| {
                s.query_row(params![&wip.octets()[..]], |r| r.get(0))
                    .optional()
            })
            .map_err(|e| self.store.err(e))
    }

    fn insert_host(&mut self, id: &str, ip: IpAddr, port: u16) -> Result<(), StoreError> {
        let wip = to_wire_ip(ip);
        self.exec(
            "INSERT INTO hosts (id, ip, port) VALUES (?1, ?2, ?3)",
            params![id, &wip.octets()[..], port],
        )
    }

    fn host_nics(&mut self, id: &str) -> Result<u64, StoreError> {
        let count: i64 = self
            .tx
            .query_row(
                "SELECT count(*) FROM nics WHERE host = ?1",
                params![id],
                |r| r.get(0),
            )
            .map_err(|e| self.store.err(e))?;
        Ok(count as u64)
    }

    fn delete_host(&mut self, id: &str) -> Result<(), StoreError> {
        self.exec("DELETE FROM events WHERE host = ?1", params![id])?;
        self.exec("DELETE FROM hosts WHERE id = ?1", params![id])
    }

    fn get_nic(&mut self, vnet: u32, mac: Mac) -> Result<Option<Nic>, StoreError> {
        let raw = self
            .tx
            .prepare_cached(
                "SELECT vnet, mac, ip, vlan, host FROM nics WHERE vnet = ?1 AND mac = ?2",
            )
            .and_then(|mut s| s.query_row(params![vnet, &mac.0[..]], raw_nic).optional())
            .map_err(|e| self.store.err(e))?;
        raw.map(nic_of).transpose()
    }

    fn ip_used(&mut self, vnet: u32, ip: IpAddr) -> Result<bool, StoreError> {
        let wip = to_wire_ip(ip);
        self.exists(
            "SELECT 1 FROM nics WHERE vnet = ?1 AND ip = ?2",
            params![vnet, &wip.octets()[..]],
        )
    }

    fn vnet_hosts(&mut self, vnet: u32) -> Result<Vec<String>, StoreError> {
        let mut st = self
            .tx
            .prepare_cached("SELECT DISTINCT host FROM nics WHERE vnet = ?1")
            .map_err(|e| self.store.err(e))?;
        let rows = st
            .query_map(params![vnet], |r| r.get::<_, String>(0))
            .map_err(|e| self.store.err(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.store.err(e))
    }

    fn insert_nic(&mut self, nic: &Nic) -> Result<(), StoreError> {
        let wip = to_wire_ip(nic.ip);
        self.exec(
            "INSERT INTO nics (vnet, mac, ip, vlan, host) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                nic.vnet,
                &nic.mac.0[..],
                &wip.octets()[..],
                nic.vlan,
                nic.host
            ],
        )
    }

    fn delete_nic(&mut self, vnet: u32, mac: Mac) -> Result<(), StoreError> {
        self.exec(
            "DELETE FROM nics WHERE vnet = ?1 AND mac = ?2",
            params![vnet, &mac.0[..]],
        )
    }

    fn set_nic_host(&mut self, vnet: u32, mac: Mac, host: &str) -> Result<(), StoreError> {
        self.exec(
            "UPDATE nics SET host = ?3 WHERE vnet = ?1 AND mac = ?2",
            params![vnet, &mac.0[..], host],
        )
    }

    fn insert_events(&mut self, evs: &[LogEvent]) -> Result<(), StoreError> {
        let mut st = self
            .tx
            .prepare_cached(
                "INSERT INTO events (id, host, vnet, type, mac, ip, vlan) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(|e| self.store.err(e))?;
        for e in evs {
            let (ty, mac, ip, vlan) = match &e.record {
                LogRecord::Vl2 { mac } => (1, mac, None, None),
                LogRecord::Vl3 { ip, mac, vlan } => {
                    (2, mac, Some(to_wire_ip(*ip).octets().to_vec()), Some(*vlan))
                }
            };
            st.execute(params![
                &e.id.0[..],
                e.host,
                e.vnet,
                ty,
                &mac.0[..],
                ip,
                vlan
            ])
            .map_err(|e| self.store.err(e))?;
        }
        Ok(())
    }
}

//! The row operations of a PostgreSQL change transaction
//! ([`ChangeTx`]); the changes themselves are in [`crate::store::change`].
//!
//! Every statement runs inside the transaction [`PostgresStore::write`]
//! opened (after its generation bump, which serialises changes), prepared
//! once per connection. A change's log events are written by one
//! `INSERT … SELECT FROM unnest(…)`, however many hosts the vnet has.

use std::net::IpAddr;

use postgres::error::SqlState;

use super::rows::*;
use super::{PostgresStore, Tx};
use crate::store::change::ChangeTx;
use crate::store::types::*;

const Q_HOST_EXISTS: &str = "SELECT 1 FROM hosts WHERE id = $1";
const Q_HOST_BY_IP: &str = "SELECT id FROM hosts WHERE ip = $1";
const Q_GET_NIC: &str = "SELECT vnet, mac::text, ip, vlan, host FROM nics \
                         WHERE vnet = $1 AND mac = $2::text::macaddr";
const Q_IP_USED: &str = "SELECT 1 FROM nics WHERE vnet = $1 AND ip = $2";
const Q_VNET_HOSTS: &str = "SELECT DISTINCT host FROM nics WHERE vnet = $1";
const Q_INSERT_EVENTS: &str = "INSERT INTO events (id, host, vnet, type, mac, ip, vlan) \
     SELECT u.id::uuid, u.host, $3, $4, $5::text::macaddr, $6, $7 \
     FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(id, host, n) ORDER BY u.n";

/// An open change transaction of `store`.
pub(super) struct PgChange<'s, 'a, 'b, 'c> {
    pub(super) store: &'s PostgresStore,
    pub(super) tx: &'a mut Tx<'b, 'c>,
}

impl PostgresStore {
    /// The row operations on `tx`.
    pub(super) fn change<'s, 'a, 'b, 'c>(
        &'s self,
        tx: &'a mut Tx<'b, 'c>,
    ) -> PgChange<'s, 'a, 'b, 'c> {
        PgChange { store: self, tx }
    }
}

impl PgChange<'_, '_, '_, '_> {
    fn err(&self, e: postgres::Error) -> StoreError {
        self.store.err(e)
    }

    /// A unique-constraint violation as the matching [`StoreError`]
    /// (changes are serialised, so this only happens if something else
    /// writes the tables).
    fn unique_err(
        &self,
        e: postgres::Error,
        nic: Option<&Nic>,
        host: Option<(&str, IpAddr)>,
    ) -> StoreError {
        let Some(db) = e.as_db_error() else {
            return self.err(e);
        };
        if *db.code() != SqlState::UNIQUE_VIOLATION {
            return self.err(e);
        }
        match (db.constraint(), nic, host) {
            (Some("nics_pkey"), Some(n), _) => StoreError::MacInUse {
                mac: n.mac,
                vnet: n.vnet,
            },
            (Some("nics_vnet_ip_key"), Some(n), _) => StoreError::IpInUse {
                ip: n.ip,
                vnet: n.vnet,
            },
            (Some("hosts_pkey"), _, Some((id, _))) => StoreError::HostExists(id.into()),
            (Some("hosts_ip_key"), _, Some((_, ip))) => StoreError::UnderlayInUse {
                ip,
                host: "?".into(),
            },
            _ => self.err(e),
        }
    }
}

impl ChangeTx for PgChange<'_, '_, '_, '_> {
    fn host_exists(&mut self, id: &str) -> Result<bool, StoreError> {
        let r = self.tx.query_opt(Q_HOST_EXISTS, &[&id]);
        Ok(r.map_err(|e| self.err(e))?.is_some())
    }

    fn host_by_ip(&mut self, ip: IpAddr) -> Result<Option<String>, StoreError> {
        let r = self.tx.query_opt(Q_HOST_BY_IP, &[&ip]);
        Ok(r.map_err(|e| self.err(e))?
            .map(|r| r.try_get(0).unwrap_or_default()))
    }

    fn insert_host(&mut self, id: &str, ip: IpAddr, port: u16) -> Result<(), StoreError> {
        let r = self.tx.execute(
            "INSERT INTO hosts (id, ip, port) VALUES ($1, $2, $3)",
            &[&id, &ip, &i32::from(port)],
        );
        r.map_err(|e| self.unique_err(e, None, Some((id, ip))))?;
        Ok(())
    }

    fn host_nics(&mut self, id: &str) -> Result<u64, StoreError> {
        let r = self
            .tx
            .query_opt("SELECT count(*) FROM nics WHERE host = $1", &[&id]);
        let count: i64 = r
            .map_err(|e| self.err(e))?
            .map_or(Ok(0), |r| r.try_get(0))
            .map_err(|e| StoreError::Corrupt(format!("count: {e}")))?;
        Ok(count as u64)
    }

    fn delete_host(&mut self, id: &str) -> Result<(), StoreError> {
        let r = self
            .tx
            .execute("DELETE FROM events WHERE host = $1", &[&id]);
        r.map_err(|e| self.err(e))?;
        let r = self.tx.execute("DELETE FROM hosts WHERE id = $1", &[&id]);
        r.map_err(|e| self.err(e))?;
        Ok(())
    }

    fn get_nic(&mut self, vnet: u32, mac: Mac) -> Result<Option<Nic>, StoreError> {
        let v = vnet_param(vnet)?;
        let r = self.tx.query_opt(Q_GET_NIC, &[&v, &mac_text(mac)]);
        r.map_err(|e| self.err(e))?.map(|r| nic_of(&r)).transpose()
    }

    fn ip_used(&mut self, vnet: u32, ip: IpAddr) -> Result<bool, StoreError> {
        let v = vnet_param(vnet)?;
        let ip = from_wire_ip(to_wire_ip(ip));
        let r = self.tx.query_opt(Q_IP_USED, &[&v, &ip]);
        Ok(r.map_err(|e| self.err(e))?.is_some())
    }

    fn vnet_hosts(&mut self, vnet: u32) -> Result<Vec<String>, StoreError> {
        let v = vnet_param(vnet)?;
        let r = self.tx.query(Q_VNET_HOSTS, &[&v]);
        r.map_err(|e| self.err(e))?
            .iter()
            .map(|r| {
                r.try_get(0)
                    .map_err(|e| StoreError::Corrupt(format!("host id: {e}")))
            })
            .collect()
    }

    fn insert_nic(&mut self, nic: &Nic) -> Result<(), StoreError> {
        let vnet = vnet_param(nic.vnet)?;
        let ip = from_wire_ip(to_wire_ip(nic.ip));
        let r = self.tx.execute(
            "INSERT INTO nics (vnet, mac, ip, vlan, host) \
             VALUES ($1, $2::text::macaddr, $3, $4, $5)",
            &[
                &vnet,
                &mac_text(nic.mac),
                &ip,
                &i32::from(nic.vlan),
                &nic.host,
            ],
        );
        r.map_err(|e| self.unique_err(e, Some(nic), None))?;
        Ok(())
    }

    fn delete_nic(&mut self, vnet: u32, mac: Mac) -> Result<(), StoreError> {
        let r = self.tx.execute(
            "DELETE FROM nics WHERE vnet = $1 AND mac = $2::text::macaddr",
            &[&vnet_param(vnet)?, &mac_text(mac)],
        );
        r.map_err(|e| self.err(e))?;
        Ok(())
    }

    fn set_nic_host(&mut self, vnet: u32, mac: Mac, host: &str) -> Result<(), StoreError> {
        let r = self.tx.execute(
            "UPDATE nics SET host = $3 WHERE vnet = $1 AND mac = $2::text::macaddr",
            &[&vnet_param(vnet)?, &mac_text(mac), &host],
        );
        r.map_err(|e| self.err(e))?;
        Ok(())
    }

    /// `evs` were made by one change: they share a vnet and a record and
    /// differ in id and host. One statement for all of them.
    fn insert_events(&mut self, evs: &[LogEvent]) -> Result<(), StoreError> {
        let Some(first) = evs.first() else {
            return Ok(());
        };
        if evs
            .iter()
            .any(|e| e.vnet != first.vnet || e.record != first.record)
        {
            // Not one change's events: one statement per event.
            for e in evs {
                self.insert_events(std::slice::from_ref(e))?;
            }
            return Ok(());
        }
        let ids: Vec<String> = evs.iter().map(|e| event_id_text(&e.id)).collect();
        let hosts: Vec<&str> = evs.iter().map(|e| e.host.as_str()).collect();
        let vnet = vnet_param(first.vnet)?;
        let (ty, mac, ip, vlan): (i16, Mac, Option<IpAddr>, Option<i32>) = match &first.record {
            LogRecord::Vl2 { mac } => (1, *mac, None, None),
            LogRecord::Vl3 { ip, mac, vlan } => (2, *mac, Some(*ip), Some(i32::from(*vlan))),
        };
        let r = self.tx.execute(
            Q_INSERT_EVENTS,
            &[&ids, &hosts, &vnet, &ty, &mac_text(mac), &ip, &vlan],
        );
        r.map_err(|e| self.err(e))?;
        Ok(())
    }
}

//! The embedded SQLite store (the default).
//!
//! # Theory of operation
//!
//! One database file (default `$OVERLAY_ROOT/var/lib/portolan/portolan.db`)
//! in WAL mode, so readers never wait for the one writer. Connections are
//! pooled: a call takes one from the pool (opening a new one when the pool
//! is empty), runs its prepared, cached statements and puts it back, so
//! each portolan worker thread ends up with a connection of its own.
//! Writes are `BEGIN IMMEDIATE` transactions, retried by SQLite's busy
//! timeout while another process writes.
//!
//! Connections map the file (`mmap_size` 1 GiB) and keep a 32 MiB page
//! cache, so a lookup in a million mappings is a few B-tree page visits in
//! memory.
//!
//! The file is created mode 0600 (the directory 0755), so only its owner
//! (root) can read or change the mappings. Addresses are stored as 16-byte
//! IPv6 blobs (IPv4 mapped), MACs as 6-byte blobs. Schema:
//!
//! ```text
//! hosts  (id TEXT PRIMARY KEY, ip BLOB UNIQUE, port)
//! nics   (vnet, mac, ip, vlan, host → hosts.id) PRIMARY KEY (vnet, mac),
//!        UNIQUE (vnet, ip), INDEX (vnet, host), INDEX (host)
//! events (seq INTEGER PRIMARY KEY AUTOINCREMENT, id BLOB UNIQUE, host,
//!        vnet, type, mac, ip, vlan), INDEX (host, seq)
//! meta   (k TEXT PRIMARY KEY, v) — 'generation', bumped by every change
//! ```

use std::net::{IpAddr, Ipv6Addr};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, ErrorCode, OptionalExtension, TransactionBehavior};

use self::change_tx::SqliteChange;
use super::change;
use super::types::*;
use super::Store;

mod change_tx;

const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS hosts (
    id TEXT PRIMARY KEY NOT NULL,
    ip BLOB NOT NULL UNIQUE,
    port INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS nics (
    vnet INTEGER NOT NULL,
    mac BLOB NOT NULL,
    ip BLOB NOT NULL,
    vlan INTEGER NOT NULL,
    host TEXT NOT NULL REFERENCES hosts(id),
    PRIMARY KEY (vnet, mac)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS nics_vnet_ip ON nics (vnet, ip);
CREATE INDEX IF NOT EXISTS nics_vnet_host ON nics (vnet, host);
CREATE INDEX IF NOT EXISTS nics_host ON nics (host);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id BLOB NOT NULL UNIQUE,
    host TEXT NOT NULL,
    vnet INTEGER NOT NULL,
    type INTEGER NOT NULL,
    mac BLOB NOT NULL,
    ip BLOB,
    vlan INTEGER
);
CREATE INDEX IF NOT EXISTS events_host ON events (host, seq);
CREATE TABLE IF NOT EXISTS meta (
    k TEXT PRIMARY KEY NOT NULL,
    v INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (k, v) VALUES ('generation', 0);
";

/// The SQLite store.
pub struct SqliteStore {
    path: PathBuf,
    pool: Mutex<Vec<Connection>>,
}

fn map_err(path: &Path, e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        if matches!(
            f.code,
            ErrorCode::CannotOpen | ErrorCode::ReadOnly | ErrorCode::PermissionDenied
        ) {
            return StoreError::PermissionDenied(path.display().to_string());
        }
    }
    StoreError::Backend(format!("{}: {e}", path.display()))
}

fn mac_of(b: Vec<u8>) -> Result<Mac, StoreError> {
    <[u8; 6]>::try_from(b.as_slice())
        .map(Mac)
        .map_err(|_| StoreError::Corrupt(format!("MAC of {} bytes", b.len())))
}

fn ip_of(b: Vec<u8>) -> Result<Ipv6Addr, StoreError> {
    <[u8; 16]>::try_from(b.as_slice())
        .map(Ipv6Addr::from)
        .map_err(|_| StoreError::Corrupt(format!("address of {} bytes", b.len())))
}

fn u16_of(v: i64, what: &str) -> Result<u16, StoreError> {
    u16::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} {v}")))
}

fn u32_of(v: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} {v}")))
}

type RawEvent = (
    Vec<u8>,
    String,
    i64,
    i64,
    Vec<u8>,
    Option<Vec<u8>>,
    Option<i64>,
);

fn event_of(r: RawEvent) -> Result<LogEvent, StoreError> {
    let (id, host, vnet, ty, mac, ip, vlan) = r;
    let id = <[u8; 16]>::try_from(id.as_slice())
        .map(EventId)
        .map_err(|_| StoreError::Corrupt("event id".into()))?;
    let mac = mac_of(mac)?;
    let record = match ty {
        1 => LogRecord::Vl2 { mac },
        2 => LogRecord::Vl3 {
            ip: from_wire_ip(ip_of(
                ip.ok_or_else(|| StoreError::Corrupt("VL3 event without IP".into()))?,
            )?),
            mac,
            vlan: u16_of(vlan.unwrap_or(0), "VLAN")?,
        },
        t => return Err(StoreError::Corrupt(format!("event type {t}"))),
    };
    Ok(LogEvent {
        id,
        host,
        vnet: u32_of(vnet, "vnet")?,
        record,
    })
}

const EVENT_COLS: &str = "id, host, vnet, type, mac, ip, vlan";

fn raw_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawEvent> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

type RawNic = (i64, Vec<u8>, Vec<u8>, i64, String);

fn nic_of(r: RawNic) -> Result<Nic, StoreError> {
    Ok(Nic {
        vnet: u32_of(r.0, "vnet")?,
        mac: mac_of(r.1)?,
        ip: from_wire_ip(ip_of(r.2)?),
        vlan: u16_of(r.3, "VLAN")?,
        host: r.4,
    })
}

fn raw_nic(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawNic> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

impl SqliteStore {
    /// Open (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            match std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(dir)
            {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    return Err(StoreError::PermissionDenied(dir.display().to_string()))
                }
                Err(e) => return Err(StoreError::Backend(format!("{}: {e}", dir.display()))),
            }
        }
        // Create the file ourselves so that it is born mode 0600.
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(StoreError::PermissionDenied(path.display().to_string()))
            }
            Err(e) => return Err(StoreError::Backend(format!("{}: {e}", path.display()))),
        }
        let s = SqliteStore {
            path: path.to_path_buf(),
            pool: Mutex::new(Vec::new()),
        };
        let c = s.connect()?;
        let have: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| s.err(e))?;
        if have > SCHEMA_VERSION {
            return Err(StoreError::Backend(format!(
                "{}: schema version {have} is newer than this portolan's {SCHEMA_VERSION}",
                path.display()
            )));
        }
        c.execute_batch(SCHEMA).map_err(|e| s.err(e))?;
        c.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(|e| s.err(e))?;
        s.put(c);
        Ok(s)
    }

    /// Run raw SQL on the file at `path`, outside any store: for tests
    /// that must damage a database under a running server.
    #[doc(hidden)]
    pub fn exec_raw_for_tests(path: &Path, sql: &str) -> Result<(), StoreError> {
        let c = Connection::open(path).map_err(|e| map_err(path, e))?;
        c.busy_timeout(Duration::from_secs(10))
            .map_err(|e| map_err(path, e))?;
        c.execute_batch(sql).map_err(|e| map_err(path, e))
    }

    /// Load `hosts` and `nics` in one transaction without writing log
    /// events: for benchmarks that need millions of mappings quickly. The
    /// NICs' hosts must be among `hosts` or already present.
    pub fn bulk_load(&self, hosts: &[Host], nics: &[Nic]) -> Result<(), StoreError> {
        self.write(|tx| {
            {
                let mut h = tx
                    .prepare("INSERT INTO hosts (id, ip, port) VALUES (?1, ?2, ?3)")
                    .map_err(|e| self.err(e))?;
                for x in hosts {
                    validate_host_id(&x.id)?;
                    h.execute(params![x.id, &to_wire_ip(x.ip).octets()[..], x.port])
                        .map_err(|e| self.err(e))?;
                }
                let mut n = tx
                    .prepare(
                        "INSERT INTO nics (vnet, mac, ip, vlan, host) \
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                    )
                    .map_err(|e| self.err(e))?;
                for x in nics {
                    validate_nic(x)?;
                    n.execute(params![
                        x.vnet,
                        &x.mac.0[..],
                        &to_wire_ip(x.ip).octets()[..],
                        x.vlan,
                        x.host
                    ])
                    .map_err(|e| self.err(e))?;
                }
            }
            Ok(())
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        map_err(&self.path, e)
    }

    fn connect(&self) -> Result<Connection, StoreError> {
        let c = Connection::open(&self.path).map_err(|e| self.err(e))?;
        c.busy_timeout(Duration::from_secs(10))
            .map_err(|e| self.err(e))?;
        c.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| self.err(e))?;
        c.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| self.err(e))?;
        c.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| self.err(e))?;
        // Lookups read pages through a shared mapping (no read(2) per page
        // miss) and keep a larger page cache per connection.
        c.pragma_update(None, "mmap_size", 1i64 << 30)
            .map_err(|e| self.err(e))?;
        c.pragma_update(None, "cache_size", -32768i64)
            .map_err(|e| self.err(e))?;
        c.set_prepared_statement_cache_capacity(32);
        Ok(c)
    }

    fn take(&self) -> Result<Connection, StoreError> {
        let pooled = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match pooled {
            Some(c) => Ok(c),
            None => self.connect(),
        }
    }

    fn put(&self, c: Connection) {
        self.pool.lock().unwrap_or_else(|p| p.into_inner()).push(c);
    }

    /// Run `f` on a pooled connection.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut c = self.take()?;
        let r = f(&mut c);
        self.put(c);
        r
    }

    /// Run `f` in one `BEGIN IMMEDIATE` transaction that also bumps the
    /// generation; committed only when `f` succeeds.
    fn write<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.with(|c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| self.err(e))?;
            let v = f(&tx)?;
            tx.execute("UPDATE meta SET v = v + 1 WHERE k = 'generation'", [])
                .map_err(|e| self.err(e))?;
            tx.commit().map_err(|e| self.err(e))?;
            Ok(v)
        })
    }

    /// The row operations on `tx`.
    fn change<'s, 't, 'c>(&'s self, tx: &'t rusqlite::Transaction<'c>) -> SqliteChange<'s, 't, 'c> {
        SqliteChange { store: self, tx }
    }

    /// One VL2 lookup on `c` (its statement prepared once per connection).
    fn vl2_on(&self, c: &Connection, vnet: u32, mac: Mac) -> Result<Option<Underlay>, StoreError> {
        let raw = c
            .prepare_cached(
                "SELECT h.ip, h.port FROM nics n JOIN hosts h ON h.id = n.host \
                 WHERE n.vnet = ?1 AND n.mac = ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![vnet, &mac.0[..]], |r| {
                    Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?))
                })
                .optional()
            })
            .map_err(|e| self.err(e))?;
        raw.map(|(ip, port)| {
            Ok(Underlay {
                ip: ip_of(ip)?,
                port: u16_of(port, "port")?,
            })
        })
        .transpose()
    }

    /// One VL3 lookup on `c`.
    fn vl3_on(
        &self,
        c: &Connection,
        vnet: u32,
        ip: Ipv6Addr,
    ) -> Result<Option<Vl3Entry>, StoreError> {
        let raw = c
            .prepare_cached(
                "SELECT n.mac, h.ip, h.port FROM nics n JOIN hosts h ON h.id = n.host \
                 WHERE n.vnet = ?1 AND n.ip = ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![vnet, &ip.octets()[..]], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })
                .optional()
            })
            .map_err(|e| self.err(e))?;
        raw.map(|(mac, uip, port)| {
            Ok(Vl3Entry {
                mac: mac_of(mac)?,
                underlay: Underlay {
                    ip: ip_of(uip)?,
                    port: u16_of(port, "port")?,
                },
            })
        })
        .transpose()
    }
}

impl Store for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn vl2_lookup(&self, vnet: u32, mac: Mac) -> Result<Option<Underlay>, StoreError> {
        self.with(|c| self.vl2_on(c, vnet, mac))
    }

    fn vl3_lookup(&self, vnet: u32, ip: Ipv6Addr) -> Result<Option<Vl3Entry>, StoreError> {
        self.with(|c| self.vl3_on(c, vnet, ip))
    }

    fn vl2_lookup_many(&self, keys: &[(u32, Mac)]) -> Result<Vec<Option<Underlay>>, StoreError> {
        self.with(|c| keys.iter().map(|(v, m)| self.vl2_on(c, *v, *m)).collect())
    }

    fn vl3_lookup_many(
        &self,
        keys: &[(u32, Ipv6Addr)],
    ) -> Result<Vec<Option<Vl3Entry>>, StoreError> {
        self.with(|c| keys.iter().map(|(v, ip)| self.vl3_on(c, *v, *ip)).collect())
    }

    fn log_fetch(
        &self,
        underlay: Ipv6Addr,
        max_bytes: usize,
    ) -> Result<Option<Vec<LogEvent>>, StoreError> {
        self.with(|c| {
            let host: Option<String> = c
                .prepare_cached("SELECT id FROM hosts WHERE ip = ?1")
                .and_then(|mut s| {
                    s.query_row(params![&underlay.octets()[..]], |r| r.get(0))
                        .optional()
                })
                .map_err(|e| self.err(e))?;
            let Some(host) = host else {
                return Ok(None);
            };
            // At most max_bytes / 32 records can fit.
            let limit = i64::try_from(max_bytes / 32).unwrap_or(i64::MAX);
            let mut st = c
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLS} FROM events WHERE host = ?1 ORDER BY seq LIMIT ?2"
                ))
                .map_err(|e| self.err(e))?;
            let rows = st
                .query_map(params![host, limit], raw_event)
                .map_err(|e| self.err(e))?;
            let mut out = Vec::new();
            let mut used = 0usize;
            for r in rows {
                let ev = event_of(r.map_err(|e| self.err(e))?)?;
                used += ev.record.wire_len();
                if used > max_bytes {
                    break;
                }
                out.push(ev);
            }
            Ok(Some(out))
        })
    }

    fn log_remove(&self, ids: &[EventId]) -> Result<usize, StoreError> {
        self.with(|c| {
            let tx = c.transaction().map_err(|e| self.err(e))?;
            let mut n = 0;
            {
                let mut st = tx
                    .prepare_cached("DELETE FROM events WHERE id = ?1")
                    .map_err(|e| self.err(e))?;
                for id in ids {
                    n += st.execute(params![&id.0[..]]).map_err(|e| self.err(e))?;
                }
            }
            tx.commit().map_err(|e| self.err(e))?;
            Ok(n)
        })
    }

    fn generation(&self) -> Result<u64, StoreError> {
        let v: i64 = self.with(|c| {
            c.prepare_cached("SELECT v FROM meta WHERE k = 'generation'")
                .and_then(|mut s| s.query_row([], |r| r.get(0)))
                .map_err(|e| self.err(e))
        })?;
        Ok(v as u64)
    }

    fn add_host(&self, id: &str, ip: IpAddr, port: u16) -> Result<(), StoreError> {
        validate_host_id(id)?;
        self.write(|tx| change::add_host(&mut self.change(tx), id, ip, port))
    }

    fn remove_host(&self, id: &str) -> Result<(), StoreError> {
        self.write(|tx| change::remove_host(&mut self.change(tx), id))
    }

    fn add_nic(&self, nic: &Nic) -> Result<Vec<LogEvent>, StoreError> {
        validate_nic(nic)?;
        self.write(|tx| change::add_nic(&mut self.change(tx), nic))
    }

    fn remove_nic(&self, vnet: u32, mac: Mac) -> Result<(Nic, Vec<LogEvent>), StoreError> {
        self.write(|tx| change::remove_nic(&mut self.change(tx), vnet, mac))
    }

    fn move_nic(
        &self,
        vnet: u32,
        mac: Mac,
        host: &str,
    ) -> Result<(Nic, Vec<LogEvent>), StoreError> {
        self.write(|tx| change::move_nic(&mut self.change(tx), vnet, mac, host))
    }

    fn list_hosts(&self) -> Result<Vec<Host>, StoreError> {
        let raw: Vec<(String, Vec<u8>, i64)> = self.with(|c| {
            let mut st = c
                .prepare_cached("SELECT id, ip, port FROM hosts ORDER BY id")
                .map_err(|e| self.err(e))?;
            let rows = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(|e| self.err(e))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
        })?;
        raw.into_iter()
            .map(|(id, ip, port)| {
                Ok(Host {
                    id,
                    ip: from_wire_ip(ip_of(ip)?),
                    port: u16_of(port, "port")?,
                })
            })
            .collect()
    }

    fn list_nics(&self, vnet: Option<u32>) -> Result<Vec<Nic>, StoreError> {
        let raw: Vec<RawNic> = self.with(|c| {
            let mut st = c
                .prepare_cached(
                    "SELECT vnet, mac, ip, vlan, host FROM nics \
                     WHERE ?1 IS NULL OR vnet = ?1 ORDER BY vnet, mac",
                )
                .map_err(|e| self.err(e))?;
            let rows = st
                .query_map(params![vnet], raw_nic)
                .map_err(|e| self.err(e))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
        })?;
        raw.into_iter().map(nic_of).collect()
    }

    fn list_events(&self, host: Option<&str>) -> Result<Vec<LogEvent>, StoreError> {
        let raw: Vec<RawEvent> = self.with(|c| {
            let mut st = c
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLS} FROM events WHERE ?1 IS NULL OR host = ?1 ORDER BY seq"
                ))
                .map_err(|e| self.err(e))?;
            let rows = st
                .query_map(params![host], raw_event)
                .map_err(|e| self.err(e))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
        })?;
        raw.into_iter().map(event_of).collect()
    }
}

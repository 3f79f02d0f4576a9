//! The PostgreSQL store: any number of portolans on one database.
//!
//! # Theory of operation
//!
//! Triton kept its portolan buckets in Moray on Manatee (PostgreSQL) and ran
//! stateless portolans in front of it (spec §4); this is that arrangement
//! without Moray. `portolan --db postgres://user@host:port/dbname` opens it.
//!
//! **Schema** (created and upgraded at open, see [`schema`]): `hosts`,
//! `nics` and `events` as in the SQLite store, with PostgreSQL's own types
//! (`inet` for addresses, IPv4 stored as IPv4; `macaddr`; `uuid` for event
//! ids) so that an operator can read them with `psql`; `events.seq` is a
//! `bigserial` giving each host's events their order. A one-row table
//! `portolan_meta` holds the generation number.
//!
//! **Writes**: each operator change is one transaction that first bumps the
//! generation (`UPDATE portolan_meta ...`). That row lock serialises every
//! change from every portolan and CLI on the database, so the checks made
//! inside the transaction (host exists, MAC free, the hosts on the vnet)
//! stay true until it commits, and a host's events get their `seq` in
//! commit order. The change's log events are written by one `INSERT ...
//! SELECT FROM unnest(...)`, however many hosts the vnet has.
//!
//! **Log**: LOG_REQ reads the asking host's oldest events (one query: host
//! by underlay address, then its events by `(host, seq)`), LOG_RM deletes
//! events by id. Nothing is marked as delivered, so when two portolans
//! serve one host's LOG_REQ and LOG_RM at once no event is lost (an event
//! goes only when its id comes back in a LOG_RM) and none is delivered
//! after its LOG_RM committed (every statement sees the committed state).
//!
//! **Connections** come from a small pool of clients (the `postgres`
//! crate), each with its prepared statements. When the database is down a
//! call fails at once with [`StoreError::Backend`] naming the server — the
//! SVP server answers FATAL, an operator command prints it — and nothing
//! waits or retries in the background: the next call connects again. A
//! pooled connection that turns out to be dead (the server restarted) is
//! dropped; a lookup that failed on one is retried once on a fresh
//! connection, a change checks its connection before it begins.

mod change_tx;
mod rows;
mod schema;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, Config, GenericClient, NoTls, Row, Statement};

use self::rows::*;
use super::change;
use super::types::*;
use super::Store;

pub use schema::SCHEMA_VERSION;

/// Idle connections kept for reuse.
const POOL_IDLE_MAX: usize = 32;
/// How long connecting may take (a dead host does not refuse, it is silent).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// One pooled connection and the statements prepared on it.
struct Conn {
    client: Client,
    stmts: HashMap<&'static str, Statement>,
}

impl Conn {
    /// The client (or an open transaction on it) with this connection's
    /// statement cache.
    fn db(&mut self) -> Db<'_, Client> {
        Db {
            c: &mut self.client,
            stmts: &mut self.stmts,
        }
    }
}

/// A client or transaction plus the statement cache: statements are
/// prepared once per connection, on first use, by their SQL text.
struct Db<'a, C: GenericClient> {
    c: &'a mut C,
    stmts: &'a mut HashMap<&'static str, Statement>,
}

impl<C: GenericClient> Db<'_, C> {
    fn st(&mut self, sql: &'static str) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.stmts.get(sql) {
            return Ok(s.clone());
        }
        let s = self.c.prepare(sql)?;
        self.stmts.insert(sql, s.clone());
        Ok(s)
    }

    fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, postgres::Error> {
        let st = self.st(sql)?;
        self.c.query(&st, params)
    }

    fn query_opt(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, postgres::Error> {
        let st = self.st(sql)?;
        self.c.query_opt(&st, params)
    }

    fn execute(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, postgres::Error> {
        let st = self.st(sql)?;
        self.c.execute(&st, params)
    }
}

type Tx<'a, 'b> = Db<'a, postgres::Transaction<'b>>;

/// The PostgreSQL store.
pub struct PostgresStore {
    config: Config,
    /// `host:port/dbname`, for messages (never the password).
    name: String,
    pool: Mutex<Vec<Conn>>,
}

/// Whether `e` means the connection is unusable (as opposed to an error of
/// the statement): I/O errors, a closed connection, or the server saying
/// it is shutting down or crashed (SQLSTATE classes 08 and 57).
fn is_connection_error(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        None => e.as_db_error().is_none(),
        Some(c) => {
            let c = c.code();
            c.starts_with("08") || c.starts_with("57")
        }
    }
}

/// `host:port/dbname` of `config`.
fn describe(config: &Config) -> String {
    use postgres::config::Host;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("{host}:{port}/{db}")
}

/// `host:port/dbname` of a URL (no user, no password), if it parses.
pub fn describe_url(url: &str) -> Option<String> {
    url.parse::<Config>().ok().map(|c| describe(&c))
}

const Q_VL2: &str = "SELECT h.ip, h.port FROM nics n JOIN hosts h ON h.id = n.host \
                     WHERE n.vnet = $1 AND n.mac = $2::text::macaddr";
const Q_VL3: &str = "SELECT n.mac::text, h.ip, h.port FROM nics n JOIN hosts h ON h.id = n.host \
                     WHERE n.vnet = $1 AND n.ip = $2";
/// Every key of a batch in one query: the keys are unnested with their
/// position, each probes the primary key (or the `(vnet, ip)` index).
const Q_VL2_MANY: &str = "SELECT k.i, h.ip, h.port \
     FROM unnest($1::integer[], $2::text[]::macaddr[]) WITH ORDINALITY AS k(vnet, mac, i) \
     JOIN nics n ON n.vnet = k.vnet AND n.mac = k.mac JOIN hosts h ON h.id = n.host";
const Q_VL3_MANY: &str = "SELECT k.i, n.mac::text, h.ip, h.port \
     FROM unnest($1::integer[], $2::inet[]) WITH ORDINALITY AS k(vnet, ip, i) \
     JOIN nics n ON n.vnet = k.vnet AND n.ip = k.ip JOIN hosts h ON h.id = n.host";
const Q_LOG_FETCH: &str = "SELECT h.id, e.id::text, e.host, e.vnet, e.type, e.mac::text, e.ip, \
     e.vlan FROM hosts h LEFT JOIN LATERAL (SELECT * FROM events WHERE host = h.id \
     ORDER BY seq LIMIT $2) e ON true WHERE h.ip = $1 ORDER BY e.seq";
const Q_LOG_RM: &str = "DELETE FROM events WHERE id = ANY($1::text[]::uuid[])";
const Q_GENERATION: &str = "SELECT generation FROM portolan_meta";
const Q_BUMP: &str = "UPDATE portolan_meta SET generation = generation + 1";
impl PostgresStore {
    /// Connect to the database named by `url` (`postgres://…` or
    /// `postgresql://…`), then create or upgrade its schema. A database
    /// whose schema is newer than this portolan's is refused.
    pub fn open(url: &str) -> Result<PostgresStore, StoreError> {
        let mut config: Config = url
            .parse()
            .map_err(|e| StoreError::Invalid(format!("invalid PostgreSQL URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("portolan");
        }
        let s = PostgresStore {
            name: describe(&config),
            config,
            pool: Mutex::new(Vec::new()),
        };
        let mut c = s.connect()?;
        schema::migrate(&mut c.client).map_err(|e| match e {
            schema::MigrateError::Newer(have) => StoreError::Backend(format!(
                "PostgreSQL {}: schema version {have} is newer than this portolan's \
                 {SCHEMA_VERSION}; upgrade portolan",
                s.name
            )),
            schema::MigrateError::Db(e) => s.err(e),
        })?;
        s.put(c);
        Ok(s)
    }

    /// `host:port/dbname` of the database.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn err(&self, e: postgres::Error) -> StoreError {
        if let Some(db) = e.as_db_error() {
            if *db.code() == SqlState::INSUFFICIENT_PRIVILEGE {
                return StoreError::PermissionDenied(format!(
                    "PostgreSQL {}: {}",
                    self.name,
                    db.message()
                ));
            }
            return StoreError::Backend(format!("PostgreSQL {}: {}", self.name, db.message()));
        }
        StoreError::Backend(format!("PostgreSQL {}: {e}", self.name))
    }

    fn connect(&self) -> Result<Conn, StoreError> {
        let client = self.config.connect(NoTls).map_err(|e| {
            StoreError::Backend(format!("PostgreSQL {}: cannot connect: {}", self.name, {
                // The cause (e.g. "Connection refused") is the useful part.
                match std::error::Error::source(&e) {
                    Some(src) => src.to_string(),
                    None => e.to_string(),
                }
            }))
        })?;
        Ok(Conn {
            client,
            stmts: HashMap::new(),
        })
    }

    /// A pooled connection (and whether it came from the pool), or a new one.
    fn take(&self) -> Result<(Conn, bool), StoreError> {
        let pooled = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match pooled {
            Some(c) if !c.client.is_closed() => Ok((c, true)),
            _ => Ok((self.connect()?, false)),
        }
    }

    fn put(&self, c: Conn) {
        if c.client.is_closed() {
            return;
        }
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < POOL_IDLE_MAX {
            pool.push(c);
        }
    }

    /// Run the read-only `f` on a pooled connection; if that connection
    /// turns out to be dead, once more on a fresh one.
    fn read<T>(
        &self,
        f: impl Fn(&mut Db<'_, Client>) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let (mut c, pooled) = self.take()?;
        match f(&mut c.db()) {
            Ok(v) => {
                self.put(c);
                Ok(v)
            }
            Err(e) if pooled && is_connection_error(&e) => {
                drop(c);
                let mut c = self.connect()?;
                let r = f(&mut c.db()).map_err(|e| self.err(e));
                self.put(c);
                r
            }
            Err(e) => {
                self.put(c);
                Err(self.err(e))
            }
        }
    }

    /// Run `f` in one transaction that first bumps the generation (which
    /// serialises all changes, see the module comment); committed only when
    /// `f` succeeds. A pooled connection is checked before the transaction
    /// begins, so a change never starts on a dead one.
    fn write<T>(
        &self,
        f: impl FnOnce(&mut Tx<'_, '_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let (mut c, pooled) = self.take()?;
        if pooled && c.client.is_valid(CONNECT_TIMEOUT).is_err() {
            c = self.connect()?;
        }
        let r = self.write_on(&mut c, f);
        self.put(c);
        r
    }

    fn write_on<T>(
        &self,
        c: &mut Conn,
        f: impl FnOnce(&mut Tx<'_, '_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut tx = c.client.transaction().map_err(|e| self.err(e))?;
        let v = {
            let mut db = Db {
                c: &mut tx,
                stmts: &mut c.stmts,
            };
            db.execute(Q_BUMP, &[]).map_err(|e| self.err(e))?;
            f(&mut db)?
        };
        // An error drops `tx`, which rolls back.
        tx.commit().map_err(|e| self.err(e))?;
        Ok(v)
    }
}

impl Store for PostgresStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn vl2_lookup(&self, vnet: u32, mac: Mac) -> Result<Option<Underlay>, StoreError> {
        let Ok(v) = i32::try_from(vnet) else {
            return Ok(None);
        };
        let m = mac_text(mac);
        let row = self.read(|db| db.query_opt(Q_VL2, &[&v, &m]))?;
        row.map(|r| vl2_of(&r, 0)).transpose()
    }

    fn vl3_lookup(&self, vnet: u32, ip: Ipv6Addr) -> Result<Option<Vl3Entry>, StoreError> {
        let Ok(v) = i32::try_from(vnet) else {
            return Ok(None);
        };
        let ip = from_wire_ip(ip);
        let row = self.read(|db| db.query_opt(Q_VL3, &[&v, &ip]))?;
        row.map(|r| vl3_of(&r, 0)).transpose()
    }

    fn vl2_lookup_many(&self, keys: &[(u32, Mac)]) -> Result<Vec<Option<Underlay>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let vnets = lookup_vnets(keys);
        let macs: Vec<String> = keys.iter().map(|(_, m)| mac_text(*m)).collect();
        let rows = self.read(|db| db.query(Q_VL2_MANY, &[&vnets, &macs]))?;
        by_ordinal(keys.len(), &rows, vl2_of)
    }

    fn vl3_lookup_many(
        &self,
        keys: &[(u32, Ipv6Addr)],
    ) -> Result<Vec<Option<Vl3Entry>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let vnets = lookup_vnets(keys);
        let ips: Vec<IpAddr> = keys.iter().map(|(_, ip)| from_wire_ip(*ip)).collect();
        let rows = self.read(|db| db.query(Q_VL3_MANY, &[&vnets, &ips]))?;
        by_ordinal(keys.len(), &rows, vl3_of)
    }

    fn log_fetch(
        &self,
        underlay: Ipv6Addr,
        max_bytes: usize,
    ) -> Result<Option<Vec<LogEvent>>, StoreError> {
        let ip = from_wire_ip(underlay);
        // At most max_bytes / 32 records can fit.
        let limit = i64::try_from(max_bytes / 32).unwrap_or(i64::MAX);
        let rows = self.read(|db| db.query(Q_LOG_FETCH, &[&ip, &limit]))?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut out = Vec::new();
        let mut used = 0usize;
        for r in &rows {
            // The host without events: one row of NULL event columns.
            let id: Option<&str> = r
                .try_get(1)
                .map_err(|e| StoreError::Corrupt(format!("event row: {e}")))?;
            if id.is_none() {
                break;
            }
            let ev = event_of(r, 1)?;
            used += ev.record.wire_len();
            if used > max_bytes {
                break;
            }
            out.push(ev);
        }
        Ok(Some(out))
    }

    fn log_remove(&self, ids: &[EventId]) -> Result<usize, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let ids: Vec<String> = ids.iter().map(event_id_text).collect();
        let n = self.read(|db| db.execute(Q_LOG_RM, &[&ids]))?;
        Ok(n as usize)
    }

    fn generation(&self) -> Result<u64, StoreError> {
        let row = self.read(|db| db.query_opt(Q_GENERATION, &[]))?;
        let v: i64 = row
            .ok_or_else(|| StoreError::Corrupt("portolan_meta is empty".into()))?
            .try_get(0)
            .map_err(|e| StoreError::Corrupt(format!("generation: {e}")))?;
        Ok(v as u64)
    }

    fn add_host(&self, id: &str, ip: IpAddr, port: u16) -> Result<(), StoreError> {
        validate_host_id(id)?;
        let ip = from_wire_ip(to_wire_ip(ip));
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
        let rows = self.read(|db| {
            db.query(
                "SELECT id, ip, port FROM hosts ORDER BY id COLLATE \"C\"",
                &[],
            )
        })?;
        rows.iter()
            .map(|r| {
                let g = |e: postgres::Error| StoreError::Corrupt(format!("host row: {e}"));
                Ok(Host {
                    id: r.try_get(0).map_err(g)?,
                    ip: r.try_get(1).map_err(g)?,
                    port: u16_of(r.try_get(2).map_err(g)?, "port")?,
                })
            })
            .collect()
    }

    fn list_nics(&self, vnet: Option<u32>) -> Result<Vec<Nic>, StoreError> {
        let v = vnet.map(vnet_param).transpose()?;
        let rows = self.read(|db| {
            db.query(
                "SELECT vnet, mac::text, ip, vlan, host FROM nics \
                 WHERE $1::integer IS NULL OR vnet = $1 ORDER BY vnet, mac",
                &[&v],
            )
        })?;
        rows.iter().map(nic_of).collect()
    }

    fn list_events(&self, host: Option<&str>) -> Result<Vec<LogEvent>, StoreError> {
        let rows = self.read(|db| {
            db.query(
                "SELECT e.id::text, e.host, e.vnet, e.type, e.mac::text, e.ip, e.vlan \
                 FROM events e WHERE $1::text IS NULL OR e.host = $1 ORDER BY e.seq",
                &[&host],
            )
        })?;
        rows.iter().map(|r| event_of(r, 0)).collect()
    }
}

#[cfg(test)]
mod tests;

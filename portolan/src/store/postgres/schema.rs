//! The PostgreSQL store's schema and its migrations.
//!
//! # Theory of operation
//!
//! `portolan_schema` holds one row, the schema version. [`migrate`] runs at
//! every open, in one transaction under an advisory lock (so portolans
//! starting together on an empty database do not race): it creates the
//! version table if needed, reads the version (0 for a new database), runs
//! every step newer than it in order and records the new version. A
//! database whose version is newer than [`SCHEMA_VERSION`] (written by a
//! newer portolan) is refused untouched. A failed step rolls the whole
//! upgrade back.
//!
//! Steps are only ever appended: step N turns a version N-1 database into a
//! version N one.
//!
//! ```text
//! 1  hosts  (id text PK, ip inet UNIQUE, port)
//!    nics   (vnet, mac macaddr, ip inet, vlan, host → hosts) PK (vnet, mac),
//!           UNIQUE (vnet, ip), INDEX (vnet, host), INDEX (host)
//!    events (seq bigserial PK, id uuid UNIQUE, host, vnet, type, mac, ip,
//!           vlan), INDEX (host, seq)
//!    portolan_meta (generation)
//! 2  events.created timestamptz: when the event was written, so that an
//!    operator can see how long a host has left its log undrained
//! ```

use postgres::Client;

/// The schema version this portolan writes.
pub const SCHEMA_VERSION: i32 = 2;

/// Key of the advisory lock held while migrating ("portolan" in ASCII).
const LOCK_KEY: i64 = 0x706f_7274_6f6c_616e;

/// Step N (index N-1) upgrades a version N-1 database to version N.
pub(super) const STEPS: &[&str] = &[
    // 1: the tables.
    "CREATE TABLE hosts (
        id text PRIMARY KEY,
        ip inet NOT NULL,
        port integer NOT NULL CHECK (port BETWEEN 0 AND 65535),
        CONSTRAINT hosts_ip_key UNIQUE (ip)
    );
    CREATE TABLE nics (
        vnet integer NOT NULL CHECK (vnet BETWEEN 0 AND 16777215),
        mac macaddr NOT NULL,
        ip inet NOT NULL,
        vlan integer NOT NULL CHECK (vlan BETWEEN 0 AND 4094),
        host text NOT NULL REFERENCES hosts (id),
        CONSTRAINT nics_pkey PRIMARY KEY (vnet, mac),
        CONSTRAINT nics_vnet_ip_key UNIQUE (vnet, ip)
    );
    CREATE INDEX nics_vnet_host ON nics (vnet, host);
    CREATE INDEX nics_host ON nics (host);
    CREATE TABLE events (
        seq bigserial PRIMARY KEY,
        id uuid NOT NULL UNIQUE,
        host text NOT NULL,
        vnet integer NOT NULL,
        type smallint NOT NULL CHECK (type IN (1, 2)),
        mac macaddr NOT NULL,
        ip inet,
        vlan integer
    );
    CREATE INDEX events_host_seq ON events (host, seq);
    CREATE TABLE portolan_meta (generation bigint NOT NULL);
    INSERT INTO portolan_meta (generation) VALUES (0);",
    // 2: event age.
    "ALTER TABLE events ADD COLUMN created timestamptz NOT NULL DEFAULT now();",
];

const _: () = assert!(STEPS.len() == SCHEMA_VERSION as usize);

/// Why [`migrate`] failed.
#[derive(Debug)]
pub enum MigrateError {
    /// The database's schema version is newer than ours.
    Newer(i32),
    /// A database error.
    Db(postgres::Error),
}

impl From<postgres::Error> for MigrateError {
    fn from(e: postgres::Error) -> MigrateError {
        MigrateError::Db(e)
    }
}

/// Bring the database to [`SCHEMA_VERSION`] (see the module comment).
/// Returns the version found.
pub fn migrate(c: &mut Client) -> Result<i32, MigrateError> {
    migrate_to(c, SCHEMA_VERSION)
}

/// Bring the database to version `target` (tests make old databases with
/// it).
pub(super) fn migrate_to(c: &mut Client, target: i32) -> Result<i32, MigrateError> {
    let mut tx = c.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS portolan_schema (version integer NOT NULL)")?;
    let have: Option<i32> = tx
        .query_opt("SELECT version FROM portolan_schema", &[])?
        .map(|r| r.try_get(0))
        .transpose()?;
    let from = have.unwrap_or(0);
    if from > SCHEMA_VERSION {
        return Err(MigrateError::Newer(from));
    }
    for (i, step) in STEPS.iter().enumerate() {
        let v = i as i32 + 1;
        if v > from && v <= target {
            tx.batch_execute(step)?;
        }
    }
    if have.is_none() {
        tx.execute(
            "INSERT INTO portolan_schema (version) VALUES ($1)",
            &[&target],
        )?;
    } else if target > from {
        tx.execute("UPDATE portolan_schema SET version = $1", &[&target])?;
    }
    tx.commit()?;
    Ok(from)
}

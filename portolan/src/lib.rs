//! portolan: the SVP mapping server (Triton's `sdc-portolan`), its store
//! and its operator commands.
//!
//! # Theory of operation
//!
//! varpd's `svp` plugin on every host asks portolan, over TCP port 1296,
//! where a MAC lives (VL2), which MAC owns an IP (VL3) and what changed for
//! that host (the log, LOG_REQ/LOG_RM). portolan answers from a [`store`]
//! (embedded SQLite by default); operators change the store with
//! `portolan add-host/add-nic/move-nic/…`, each change one transaction that
//! also writes the log events telling the other hosts (spec §4).
//!
//! * [`store`]: the `Store` trait, its SQLite implementation and test suite;
//! * [`server`]: the TCP listeners and worker threads (one mio poller per
//!   CPU, many connections each, pipelined requests);
//! * [`svp`]: one request → one reply (`svp_*` handlers) with the
//!   per-worker [`cache`];
//! * [`stats`]: the counters and the stats socket;
//! * [`paths`], [`config`]: files under `OVERLAY_ROOT`;
//! * [`bench`]: `portolan bench`, the lookup benchmark.

pub mod bench;
pub mod cache;
pub mod config;
pub mod paths;
pub mod server;
pub mod stats;
pub mod store;
pub mod svp;

use std::sync::Arc;

use store::{Store, StoreError};

/// Open the store named by `spec`: a PostgreSQL URL (`postgres://…`) or a
/// SQLite file path.
pub fn open_store(spec: &str) -> Result<Arc<dyn Store>, StoreError> {
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        return Ok(Arc::new(store::postgres::PostgresStore::open(spec)?));
    }
    Ok(Arc::new(store::sqlite::SqliteStore::open(
        std::path::Path::new(spec),
    )?))
}

/// The store named by `spec` as logs show it: a PostgreSQL URL without its
/// user and password (`postgres://host:port/dbname`), or the SQLite path.
pub fn store_name(spec: &str) -> String {
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        return match store::postgres::describe_url(spec) {
            Some(d) => format!("postgres://{d}"),
            None => "postgres://(invalid URL)".to_string(),
        };
    }
    spec.to_string()
}

//! Databases for the portolan tests: a SQLite file or a private PostgreSQL
//! cluster, chosen by name so one test body runs against either store.
//!
//! Theory of operation: [`TestDb::new`] makes the database a test's
//! portolan will use and [`TestDb::url`] is what it is given with `--db`.
//! For SQLite that is the path of a file in a temporary directory; for
//! PostgreSQL a [`PgCluster`] (see `overlay-pgtest`: initdb in a temp dir,
//! run as `nobody` on a free port, crash/stop/restart, removed on drop) and
//! its URL. Both kinds work from any network namespace: the SQLite file is
//! in the shared filesystem and [`TestDb::url`] of a cluster goes through
//! its unix socket. [`DbKind::from_env`] reads `OVERLAY_TEST_DB`
//! (`sqlite`, `postgres`, or unset for both) so a run can be narrowed to
//! one store.

use crate::netns::TempRoot;
pub use overlay_pgtest::{available as postgres_available, PgCluster, PgOptions};

/// A store kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

impl DbKind {
    /// Every kind, SQLite first.
    pub const ALL: [DbKind; 2] = [DbKind::Sqlite, DbKind::Postgres];

    /// The kind named `s` (`sqlite` or `postgres`).
    pub fn parse(s: &str) -> Option<DbKind> {
        match s {
            "sqlite" => Some(DbKind::Sqlite),
            "postgres" | "postgresql" => Some(DbKind::Postgres),
            _ => None,
        }
    }

    /// The name a test prints.
    pub fn name(self) -> &'static str {
        match self {
            DbKind::Sqlite => "sqlite",
            DbKind::Postgres => "postgres",
        }
    }

    /// The kinds to test: the one named by `OVERLAY_TEST_DB`, or all.
    pub fn from_env() -> Vec<DbKind> {
        match std::env::var("OVERLAY_TEST_DB") {
            Ok(s) if !s.is_empty() => vec![DbKind::parse(&s)
                .unwrap_or_else(|| panic!("OVERLAY_TEST_DB={s}: must be sqlite or postgres"))],
            _ => DbKind::ALL.to_vec(),
        }
    }
}

/// A test's database, removed (or its cluster shut down) on drop.
#[derive(Debug)]
pub enum TestDb {
    Sqlite { dir: TempRoot },
    Postgres(Box<PgCluster>),
}

impl TestDb {
    /// A fresh, empty database of `kind`.
    pub fn new(kind: DbKind) -> TestDb {
        match kind {
            DbKind::Sqlite => {
                let dir = TempRoot::new("db");
                // The directory is created by root; a portolan running as
                // another user must still be able to create the file.
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
                    .expect("chmod sqlite dir");
                TestDb::Sqlite { dir }
            }
            DbKind::Postgres => TestDb::Postgres(Box::new(PgCluster::start())),
        }
    }

    /// Its kind.
    pub fn kind(&self) -> DbKind {
        match self {
            TestDb::Sqlite { .. } => DbKind::Sqlite,
            TestDb::Postgres(_) => DbKind::Postgres,
        }
    }

    /// What portolan's `--db` takes: the SQLite file's path, or a
    /// `postgres://` URL through the cluster's unix socket.
    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite { dir } => dir.path().join("portolan.db").display().to_string(),
            TestDb::Postgres(pg) => pg.socket_url(),
        }
    }

    /// The cluster, for the outage tests (stop, kill -9, restart).
    pub fn cluster(&mut self) -> Option<&mut PgCluster> {
        match self {
            TestDb::Sqlite { .. } => None,
            TestDb::Postgres(pg) => Some(pg),
        }
    }
}

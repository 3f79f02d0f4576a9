//! The portolan tests' databases: a private PostgreSQL cluster inside a
//! network namespace is reachable through its unix socket from outside,
//! and `TestDb` gives a usable `--db` value for both stores.

use overlay_tests::have_root;
use overlay_tests::netns::Netns;
use overlay_tests::postgres::{DbKind, PgCluster, PgOptions, TestDb};
use std::net::TcpStream;
use std::time::Duration;

fn connectable(addr: &str) -> bool {
    TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(2)).is_ok()
}

#[test]
fn cluster_in_a_namespace() {
    if !have_root("cluster_in_a_namespace") {
        return;
    }
    let ns = Netns::new("pgh");
    let pg = PgCluster::start_with(PgOptions {
        netns: Some(ns.name().to_string()),
        ..PgOptions::default()
    });
    let addr = format!("127.0.0.1:{}", pg.port());
    // Its TCP port is the namespace's, not ours.
    assert!(!connectable(&addr));
    let a2 = addr.clone();
    assert!(ns.run_in(move || connectable(&a2)));
    // The unix socket works from here.
    assert_eq!(pg.psql("SELECT 40 + 2"), "42");
    assert!(pg
        .socket_url()
        .contains(&format!(":{}/portolan", pg.port())));
}

#[test]
fn test_db_of_each_kind() {
    for kind in DbKind::from_env() {
        let mut db = TestDb::new(kind);
        assert_eq!(db.kind(), kind);
        let url = db.url();
        match kind {
            DbKind::Sqlite => {
                assert!(url.ends_with("/portolan.db"), "{url}");
                assert!(db.cluster().is_none());
            }
            DbKind::Postgres => {
                assert!(url.starts_with("postgres://"), "{url}");
                let pg = db.cluster().unwrap();
                assert_eq!(pg.psql("SELECT current_database()"), "portolan");
            }
        }
    }
    assert_eq!(DbKind::parse("postgresql"), Some(DbKind::Postgres));
    assert_eq!(DbKind::parse("mysql"), None);
}

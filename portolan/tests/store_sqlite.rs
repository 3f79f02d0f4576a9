//! The store suite on the SQLite store, each case on a fresh database file.

use std::sync::atomic::{AtomicUsize, Ordering};

use portolan::store::sqlite::SqliteStore;
use portolan::store::{suite, Store};

fn tmpdir() -> std::path::PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "portolan-store-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn sqlite_passes_the_store_suite() {
    let mut dirs = Vec::new();
    suite::run(&mut || {
        let d = tmpdir();
        let s = SqliteStore::open(&d.join("portolan.db")).unwrap();
        dirs.push(d);
        Box::new(s) as Box<dyn Store>
    });
    for d in dirs {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn sqlite_file_is_private_and_reopens() {
    use std::os::unix::fs::PermissionsExt;
    let d = tmpdir();
    let p = d.join("sub/portolan.db");
    {
        let s = SqliteStore::open(&p).unwrap();
        s.add_host("cn1", "10.0.0.1".parse().unwrap(), 4789)
            .unwrap();
    }
    let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let s = SqliteStore::open(&p).unwrap();
    assert_eq!(s.list_hosts().unwrap().len(), 1);
    // A file that is not a database is a clear error, not a panic.
    let bad = d.join("bad.db");
    std::fs::write(&bad, b"this is not sqlite, not at all, really not").unwrap();
    let e = SqliteStore::open(&bad).err().expect("garbage db rejected");
    assert!(e.to_string().contains("bad.db"), "{e}");
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn generation_sees_other_connections() {
    let d = tmpdir();
    let p = d.join("portolan.db");
    let a = SqliteStore::open(&p).unwrap();
    let b = SqliteStore::open(&p).unwrap();
    let g = a.generation().unwrap();
    b.add_host("cn1", "10.0.0.1".parse().unwrap(), 4789)
        .unwrap();
    assert_ne!(a.generation().unwrap(), g);
    let _ = std::fs::remove_dir_all(d);
}

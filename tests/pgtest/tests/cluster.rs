//! The harness itself: a cluster starts, serves, survives a crash with its
//! committed rows, stops and restarts on the same port, and leaves no
//! process or directory behind.

use overlay_pgtest::{PgCluster, PgOptions};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

fn connectable(port: u16) -> bool {
    TcpStream::connect_timeout(
        &format!("127.0.0.1:{port}").parse().unwrap(),
        Duration::from_secs(2),
    )
    .is_ok()
}

/// The processes whose working directory is `dir`.
fn procs_in(dir: &Path) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| std::fs::read_link(e.path().join("cwd")).is_ok_and(|c| c == dir))
        .count()
}

fn uid_of(pid: i32) -> u32 {
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = st.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn starts_serves_and_cleans_up() {
    let pg = PgCluster::start();
    let port = pg.port();
    assert!(connectable(port));
    assert_eq!(
        pg.url(),
        format!("postgres://postgres@127.0.0.1:{port}/portolan")
    );
    assert!(pg.socket_url().starts_with("postgres://postgres@%2F"));
    assert_eq!(pg.psql("SELECT current_database()"), "portolan");
    assert!(pg.socket_dir().join(format!(".s.PGSQL.{port}")).exists());
    // Root runs the server as nobody; others as themselves.
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    let want = if me == 0 { 65534 } else { me };
    assert_eq!(uid_of(pg.pid().unwrap()), want);
    let url2 = pg.create_database("other");
    assert!(url2.ends_with("/other"));
    let data = pg.data_dir().to_path_buf();
    let dir = pg.socket_dir().to_path_buf();
    assert!(procs_in(&data) >= 2, "postmaster and its helpers");
    drop(pg);
    assert_eq!(procs_in(&data), 0, "processes left after drop");
    assert!(!dir.exists(), "{} left after drop", dir.display());
    assert!(!connectable(port));
}

#[test]
fn committed_rows_survive_kill9_and_restart() {
    let mut pg = PgCluster::start();
    pg.psql("CREATE TABLE t (id bigserial PRIMARY KEY, v text NOT NULL)");
    pg.psql("INSERT INTO t (v) SELECT 'row' || g FROM generate_series(1, 1000) g");
    let pid = pg.pid().unwrap();
    pg.kill9();
    assert!(!pg.is_running());
    assert_eq!(
        procs_in(pg.data_dir()),
        0,
        "backends outlived the postmaster"
    );
    assert!(!connectable(pg.port()));
    assert!(pg.try_psql("SELECT 1").is_err());
    pg.restart();
    assert_ne!(pg.pid().unwrap(), pid);
    assert_eq!(pg.psql("SELECT count(*) FROM t"), "1000");
    assert!(
        pg.log_text().contains("not properly shut down")
            || pg.log_text().contains("automatic recovery"),
        "no crash recovery in the log:\n{}",
        pg.log_text()
    );
}

#[test]
fn stop_and_restart_keep_port_and_data() {
    let mut pg = PgCluster::start();
    let url = pg.url();
    pg.psql("CREATE TABLE t (v int); INSERT INTO t VALUES (7)");
    pg.stop();
    assert!(!pg.is_running());
    assert!(!connectable(pg.port()));
    pg.restart();
    assert_eq!(pg.url(), url);
    assert!(connectable(pg.port()));
    assert_eq!(pg.psql("SELECT v FROM t"), "7");
    // restart of a running server stops it first.
    let pid = pg.pid().unwrap();
    pg.restart();
    assert_ne!(pg.pid().unwrap(), pid);
    assert_eq!(pg.psql("SELECT v FROM t"), "7");
}

#[test]
fn clusters_run_side_by_side_with_settings() {
    let a = PgCluster::start();
    let b = PgCluster::start_with(PgOptions::default().setting("work_mem", "8MB"));
    assert_ne!(a.port(), b.port());
    a.psql("CREATE TABLE only_a (v int)");
    assert!(b.try_psql("SELECT * FROM only_a").is_err());
    assert_eq!(b.psql("SHOW work_mem"), "8MB");
}

#[test]
fn postmaster_dies_with_the_thread_that_started_it() {
    // A test killed without unwinding leaves no server: the postmaster has
    // PR_SET_PDEATHSIG tied to the starting thread.
    let (data, dir, port) = std::thread::spawn(|| {
        let pg = PgCluster::start();
        let r = (
            pg.data_dir().to_path_buf(),
            pg.socket_dir().to_path_buf(),
            pg.port(),
        );
        std::mem::forget(pg);
        r
    })
    .join()
    .unwrap();
    let t0 = Instant::now();
    while procs_in(&data) > 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "postmaster outlived its thread"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!connectable(port));
    let _ = std::fs::remove_dir_all(dir);
}

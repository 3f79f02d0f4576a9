//! Shared test helpers: a blocking SVP client, temp dirs, an in-process
//! server on 127.0.0.1 with a SQLite store in a temp dir.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use portolan::server::{Server, ServerConfig};
use portolan::stats::Stats;
use portolan::store::sqlite::SqliteStore;
use portolan::store::Store;
use svp_proto::{decode_reply, SvpFrameReader, SvpReply, SvpRequest};

pub fn tmpdir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "portolan-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A blocking SVP client.
pub struct Client {
    pub sock: TcpStream,
    rd: SvpFrameReader,
    next: u32,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let sock = TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        sock.set_nodelay(true).unwrap();
        Client {
            sock,
            rd: SvpFrameReader::new(1 << 20),
            next: 1,
        }
    }

    /// Send `req` with a host-order id (as illumos does); returns the id.
    pub fn send(&mut self, req: &SvpRequest) -> [u8; 4] {
        let id = self.next.to_le_bytes();
        self.next += 1;
        self.sock
            .write_all(&svp_proto::encode_request(id, req))
            .unwrap();
        id
    }

    /// The next reply: (version, id, reply).
    pub fn recv(&mut self) -> (u16, [u8; 4], SvpReply) {
        loop {
            if let Some(f) = self.rd.next_frame().expect("good frame from portolan") {
                let r = decode_reply(&f.hdr, f.payload).expect("good reply");
                return (f.hdr.ver, f.hdr.id, r);
            }
            let n = self.rd.read_from(&mut self.sock).expect("read reply");
            assert!(n > 0, "portolan closed the connection");
        }
    }

    /// One request, one reply (checking the id and version).
    pub fn call(&mut self, req: &SvpRequest) -> SvpReply {
        let id = self.send(req);
        let (ver, rid, rep) = self.recv();
        assert_eq!(ver, 1);
        assert_eq!(rid, id);
        rep
    }

    /// True when the server closed the connection (EOF or reset) within
    /// the timeout.
    pub fn closed(&mut self) -> bool {
        let mut b = [0u8; 256];
        loop {
            match self.sock.read(&mut b) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}

/// An in-process portolan on 127.0.0.1 with a fresh SQLite store.
pub struct TestServer {
    pub dir: PathBuf,
    pub store: Arc<SqliteStore>,
    pub stats: Arc<Stats>,
    pub server: Option<Server>,
    pub addr: SocketAddr,
}

impl TestServer {
    pub fn start(tag: &str, cache_entries: usize) -> TestServer {
        let dir = tmpdir(tag);
        let store = Arc::new(SqliteStore::open(&dir.join("portolan.db")).unwrap());
        let stats = Arc::new(Stats::default());
        let cfg = ServerConfig {
            listen: vec!["127.0.0.1:0".parse().unwrap()],
            threads: 2,
            cache_entries,
            cache_poll: Duration::from_millis(100),
        };
        let server = Server::start(&cfg, store.clone() as Arc<dyn Store>, stats.clone()).unwrap();
        let addr = server.local_addrs()[0];
        TestServer {
            dir,
            store,
            stats,
            server: Some(server),
            addr,
        }
    }

    pub fn stat(&self, name: &str) -> u64 {
        self.stats
            .snapshot()
            .into_iter()
            .find(|(k, _)| *k == name)
            .unwrap_or_else(|| panic!("no counter {name}"))
            .1
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

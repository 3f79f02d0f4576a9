//! The device sockets: `/dev/dld` and `/dev/overlay` as Unix stream sockets.
//!
//! Theory of operation: [`Server::bind`] creates `R/run/overlay/{dld,overlay}`
//! (mode 0660, never world-writable) and an accept thread for each; every
//! connection gets its own thread, which reads frames (16-byte header,
//! argument, data: docs/fkoverlayd-protocol.md), asks [`Kernel`] to run the
//! command with the caller's credential, and writes the reply. The
//! credential comes from `SO_PEERCRED` at accept time: uid 0 or a uid named
//! in the configuration passes `secpolicy_dl_config`.
//!
//! A frame with a bad magic or a length over the limits closes that
//! connection only (counted as `conn_bad_frames`). A `/dev/overlay`
//! connection must start with `FK_OPEN` (a new handle, registered in
//! [`Handles`] with a random secret that the reply carries) or `FK_ATTACH`
//! (one more reference to an open handle, like `dup(2)`). Requests on
//! different connections of one handle run concurrently, each on its
//! connection's thread, so one connection blocked in `OVERLAY_TARG_LOOKUP`
//! delays none of the others. When the handle's last connection closes,
//! [`Kernel::targ_close`] runs (outstanding lookups go back to the queue).

use crate::stats::{Stat, Stats};
use overlay_sys::errno::{EINVAL, EPERM};
use overlay_sys::fk::{fk_hdr_t, fk_open_t, FK_ATTACH, FK_HDR_SIZE, FK_MAGIC, FK_OPEN};
use overlay_sys::Pod;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::handles;
pub use crate::handles::{HandleRef, Handles};

/// Who is calling, as judged from `SO_PEERCRED`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    pub pid: i32,
    /// `secpolicy_dl_config` passes.
    pub dl_config: bool,
}

/// A command's result: illumos errno, argument to copy out, data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reply {
    pub errno: i32,
    pub arg: Vec<u8>,
    pub data: Vec<u8>,
}

impl Reply {
    /// An error with nothing copied out.
    pub fn err(errno: i32) -> Reply {
        Reply {
            errno,
            ..Reply::default()
        }
    }
}

/// What the sockets call: the driver plus fkoverlayd's own commands.
pub trait Kernel: Send + Sync + 'static {
    /// One open `/dev/overlay` handle. Shared by the connections attached
    /// to it, which may call [`Kernel::targ_ioctl`] on it concurrently.
    type Handle: Send + Sync;
    /// A request on the dld socket.
    fn dld(&self, cmd: u32, arg: &[u8], data: &[u8], who: &Caller) -> Reply;
    /// `open(/dev/overlay, flags)`.
    fn targ_open(&self, flags: u32, who: &Caller) -> Result<Self::Handle, i32>;
    /// An ioctl on an open handle; may run on several threads at once for
    /// one handle (one per attached connection).
    fn targ_ioctl(
        &self,
        h: &Self::Handle,
        cmd: u32,
        arg: &[u8],
        data: &[u8],
        who: &Caller,
    ) -> Reply;
    /// `close` of the handle: after its last connection has gone.
    fn targ_close(&self, h: Self::Handle);
}

/// The two socket paths under a root.
pub fn socket_paths(root: &Path) -> (PathBuf, PathBuf) {
    let dir = root.join("run/overlay");
    (dir.join("dld"), dir.join("overlay"))
}

/// The bound sockets.
#[derive(Debug)]
pub struct Server {
    dld: PathBuf,
    overlay: PathBuf,
}

fn bind_one(path: &Path, group: Option<u32>) -> Result<UnixListener, String> {
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(format!(
                "{}: another fkoverlayd is serving this root",
                path.display()
            ));
        }
        std::fs::remove_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let l = UnixListener::bind(path).map_err(|e| format!("{}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(g) = group {
        std::os::unix::fs::chown(path, None, Some(g))
            .map_err(|e| format!("{}: chown to group {g}: {e}", path.display()))?;
    }
    Ok(l)
}

fn peer(s: &UnixStream, allowed: &[u32]) -> Option<Caller> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`, a valid
    // ucred, and updates len.
    let r = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if r < 0 {
        return None;
    }
    Some(Caller {
        uid: cred.uid,
        pid: cred.pid,
        dl_config: cred.uid == 0 || allowed.contains(&cred.uid),
    })
}

/// A request: command, argument, data.
type Frame = (u32, Vec<u8>, Vec<u8>);

/// Reads one request. `Ok(None)` on a clean end of stream; `Err` on a
/// malformed frame or I/O error.
fn read_frame(s: &mut UnixStream) -> Result<Option<Frame>, ()> {
    let mut hb = [0u8; FK_HDR_SIZE];
    // Distinguish a clean close (no byte of a new frame) from a torn one.
    let mut got = 0;
    while got < FK_HDR_SIZE {
        match s.read(&mut hb[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(()),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Err(()),
        }
    }
    let h = fk_hdr_t::from_wire(&hb);
    if !h.valid() {
        return Err(());
    }
    let mut arg = vec![0u8; h.fh_arglen as usize];
    s.read_exact(&mut arg).map_err(|_| ())?;
    let mut data = vec![0u8; h.fh_datalen as usize];
    s.read_exact(&mut data).map_err(|_| ())?;
    Ok(Some((h.fh_cmd, arg, data)))
}

fn write_reply(s: &mut UnixStream, r: &Reply) -> std::io::Result<()> {
    let h = fk_hdr_t {
        fh_magic: FK_MAGIC,
        fh_cmd: r.errno as u32,
        fh_arglen: r.arg.len() as u32,
        fh_datalen: r.data.len() as u32,
    };
    let mut b = Vec::with_capacity(FK_HDR_SIZE + r.arg.len() + r.data.len());
    b.extend_from_slice(&h.to_wire());
    b.extend_from_slice(&r.arg);
    b.extend_from_slice(&r.data);
    s.write_all(&b)
}

fn serve_dld<K: Kernel>(k: &K, mut s: UnixStream, who: Caller, stats: &Stats) {
    loop {
        match read_frame(&mut s) {
            Ok(Some((cmd, arg, data))) => {
                let r = k.dld(cmd, &arg, &data, &who);
                if write_reply(&mut s, &r).is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(()) => {
                stats.bump(Stat::ConnBadFrames);
                return;
            }
        }
    }
}

/// The first request of a `/dev/overlay` connection: `FK_OPEN` or
/// `FK_ATTACH`. Returns the connection's reference to its handle, or `None`
/// when the connection is to close (the reply, if any, already sent).
fn overlay_first<K: Kernel>(
    k: &K,
    hs: &Handles<K::Handle>,
    s: &mut UnixStream,
    who: &Caller,
    stats: &Stats,
) -> Option<HandleRef<K::Handle>> {
    let res = match read_frame(s) {
        Ok(Some((FK_OPEN, arg, _))) => overlay_open(k, hs, &arg, who),
        Ok(Some((FK_ATTACH, arg, _))) => overlay_attach(hs, &arg, who),
        Ok(Some(_)) => {
            // Anything before the open is a protocol error.
            stats.bump(Stat::ConnBadFrames);
            let _ = write_reply(s, &Reply::err(overlay_sys::errno::EBADF));
            return None;
        }
        Ok(None) => return None,
        Err(()) => {
            stats.bump(Stat::ConnBadFrames);
            return None;
        }
    };
    match res {
        Ok((r, name)) => {
            let reply = Reply {
                errno: 0,
                arg: name.as_bytes().to_vec(),
                data: Vec::new(),
            };
            if write_reply(s, &reply).is_err() {
                if let Some(h) = hs.release(r) {
                    k.targ_close(h);
                }
                return None;
            }
            Some(r)
        }
        Err(e) => {
            let _ = write_reply(s, &Reply::err(e));
            None
        }
    }
}

fn overlay_open<K: Kernel>(
    k: &K,
    hs: &Handles<K::Handle>,
    arg: &[u8],
    who: &Caller,
) -> Result<(HandleRef<K::Handle>, fk_open_t), i32> {
    let flags = <[u8; 4]>::try_from(arg)
        .map(u32::from_le_bytes)
        .map_err(|_| EINVAL)?;
    let secret = handles::random_secret()?;
    let h = k.targ_open(flags, who)?;
    match hs.insert(h, secret) {
        Ok(r) => Ok(r),
        Err((h, e)) => {
            k.targ_close(h);
            Err(e)
        }
    }
}

/// `FK_ATTACH`: the reply repeats the name presented.
fn overlay_attach<H>(
    hs: &Handles<H>,
    arg: &[u8],
    who: &Caller,
) -> Result<(HandleRef<H>, fk_open_t), i32> {
    // The same policy as the open (secpolicy_dl_config), judged on this
    // connection's own peer.
    if !who.dl_config {
        return Err(EPERM);
    }
    if arg.len() != std::mem::size_of::<fk_open_t>() {
        return Err(EINVAL);
    }
    let name = fk_open_t::from_bytes(arg).ok_or(EINVAL)?;
    Ok((hs.attach(&name)?, name))
}

fn serve_overlay<K: Kernel>(
    k: &K,
    hs: &Handles<K::Handle>,
    mut s: UnixStream,
    who: Caller,
    stats: &Stats,
) {
    let Some(h) = overlay_first(k, hs, &mut s, &who, stats) else {
        return;
    };
    loop {
        match read_frame(&mut s) {
            Ok(Some((cmd, arg, data))) => {
                let r = k.targ_ioctl(h.get(), cmd, &arg, &data, &who);
                if write_reply(&mut s, &r).is_err() {
                    break;
                }
            }
            Ok(None) => break,
            Err(()) => {
                stats.bump(Stat::ConnBadFrames);
                break;
            }
        }
    }
    if let Some(h) = hs.release(h) {
        k.targ_close(h);
    }
}

impl Server {
    /// Binds both sockets under `root` and starts serving them with `k`.
    /// `allowed` are the non-root uids that pass `secpolicy_dl_config`;
    /// `group`, if given, becomes the sockets' group (members may connect,
    /// e.g. for `dladm show-link`; privilege is still judged per command).
    pub fn bind<K: Kernel>(
        root: &Path,
        k: Arc<K>,
        allowed: Vec<u32>,
        group: Option<u32>,
        stats: Arc<Stats>,
    ) -> Result<Server, String> {
        let (dld, overlay) = socket_paths(root);
        let dir = dld.parent().unwrap_or(Path::new("/"));
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let ld = bind_one(&dld, group)?;
        let lo = match bind_one(&overlay, group) {
            Ok(l) => l,
            Err(e) => {
                let _ = std::fs::remove_file(&dld);
                return Err(e);
            }
        };
        let allowed = Arc::new(allowed);
        let handles: Arc<Handles<K::Handle>> = Arc::new(Handles::default());
        for (l, is_dld) in [(ld, true), (lo, false)] {
            let k = Arc::clone(&k);
            let allowed = Arc::clone(&allowed);
            let stats = Arc::clone(&stats);
            let handles = Arc::clone(&handles);
            std::thread::Builder::new()
                .name(
                    if is_dld {
                        "accept dld"
                    } else {
                        "accept overlay"
                    }
                    .into(),
                )
                .spawn(move || {
                    for s in l.incoming() {
                        let Ok(s) = s else { continue };
                        let Some(who) = peer(&s, &allowed) else {
                            continue;
                        };
                        let k = Arc::clone(&k);
                        let stats = Arc::clone(&stats);
                        let handles = Arc::clone(&handles);
                        let _ = std::thread::Builder::new()
                            .name(format!("conn {}", who.pid))
                            .spawn(move || {
                                if is_dld {
                                    serve_dld(&*k, s, who, &stats)
                                } else {
                                    serve_overlay(&*k, &handles, s, who, &stats)
                                }
                            });
                    }
                })
                .map_err(|e| format!("thread: {e}"))?;
        }
        Ok(Server { dld, overlay })
    }

    /// Removes the socket files (on shutdown).
    pub fn unlink(&self) {
        let _ = std::fs::remove_file(&self.dld);
        let _ = std::fs::remove_file(&self.overlay);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    /// Echoes dld requests (errno = low byte of cmd, argument reversed),
    /// opens handles for FREAD only, counts closes.
    #[derive(Default)]
    struct Echo {
        closes: AtomicU32,
    }

    impl Kernel for Echo {
        type Handle = u32;
        fn dld(&self, cmd: u32, arg: &[u8], data: &[u8], _who: &Caller) -> Reply {
            Reply {
                errno: (cmd & 0xff) as i32,
                arg: arg.iter().rev().copied().collect(),
                data: data.to_vec(),
            }
        }
        fn targ_open(&self, flags: u32, _who: &Caller) -> Result<u32, i32> {
            if flags == 1 {
                Ok(7)
            } else {
                Err(overlay_sys::errno::EINVAL)
            }
        }
        fn targ_ioctl(&self, h: &u32, cmd: u32, _a: &[u8], _d: &[u8], _w: &Caller) -> Reply {
            Reply {
                errno: 0,
                arg: vec![*h as u8, cmd as u8],
                data: vec![],
            }
        }
        fn targ_close(&self, h: u32) {
            assert_eq!(h, 7);
            self.closes.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn call(
        s: &mut UnixStream,
        cmd: u32,
        arg: &[u8],
        data: &[u8],
    ) -> Option<(u32, Vec<u8>, Vec<u8>)> {
        let h = fk_hdr_t {
            fh_magic: FK_MAGIC,
            fh_cmd: cmd,
            fh_arglen: arg.len() as u32,
            fh_datalen: data.len() as u32,
        };
        let mut b = h.to_wire().to_vec();
        b.extend_from_slice(arg);
        b.extend_from_slice(data);
        s.write_all(&b).ok()?;
        let mut hb = [0u8; FK_HDR_SIZE];
        s.read_exact(&mut hb).ok()?;
        let r = fk_hdr_t::from_wire(&hb);
        let mut a = vec![0; r.fh_arglen as usize];
        s.read_exact(&mut a).ok()?;
        let mut d = vec![0; r.fh_datalen as usize];
        s.read_exact(&mut d).ok()?;
        Some((r.fh_cmd, a, d))
    }

    fn closed(s: &mut UnixStream) -> bool {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut b = [0u8; 1];
        matches!(s.read(&mut b), Ok(0) | Err(_))
    }

    #[test]
    fn framing_open_and_close() {
        let root = std::env::temp_dir().join(format!("fk-server-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let k = Arc::new(Echo::default());
        let stats = Arc::new(Stats::default());
        let srv = Server::bind(&root, Arc::clone(&k), vec![], None, Arc::clone(&stats)).unwrap();
        let (dld, ovl) = socket_paths(&root);
        let mode = std::fs::metadata(&dld).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o660);
        // A second server on the same root is refused.
        assert!(Server::bind(&root, Arc::clone(&k), vec![], None, Arc::clone(&stats)).is_err());

        let mut s = UnixStream::connect(&dld).unwrap();
        let (e, a, d) = call(&mut s, 0x105, &[1, 2, 3], &[9]).unwrap();
        assert_eq!((e, a, d), (5, vec![3, 2, 1], vec![9]));
        // Bad magic: that connection closes, another still works.
        let mut bad = UnixStream::connect(&dld).unwrap();
        bad.write_all(&[0u8; 16]).unwrap();
        assert!(closed(&mut bad));
        assert_eq!(call(&mut s, 0x100, &[], &[]).unwrap().0, 0);
        // Over the data limit.
        let mut big = UnixStream::connect(&dld).unwrap();
        let h = fk_hdr_t {
            fh_magic: FK_MAGIC,
            fh_cmd: 1,
            fh_arglen: 0,
            fh_datalen: overlay_sys::fk::FK_MAX_DATALEN + 1,
        };
        big.write_all(&h.to_wire()).unwrap();
        assert!(closed(&mut big));
        // A torn header also closes.
        let mut torn = UnixStream::connect(&dld).unwrap();
        torn.write_all(&FK_MAGIC.to_le_bytes()).unwrap();
        torn.shutdown(std::net::Shutdown::Write).unwrap();
        assert!(closed(&mut torn));

        // /dev/overlay: a request before the open is EBADF and closes.
        let mut o = UnixStream::connect(&ovl).unwrap();
        let (e, _, _) = call(&mut o, 0x1234, &[], &[]).unwrap();
        assert_eq!(e, overlay_sys::errno::EBADF as u32);
        assert!(closed(&mut o));
        // A refused open returns its errno and closes.
        let mut o = UnixStream::connect(&ovl).unwrap();
        let (e, _, _) = call(&mut o, FK_OPEN, &2u32.to_le_bytes(), &[]).unwrap();
        assert_eq!(e, overlay_sys::errno::EINVAL as u32);
        assert!(closed(&mut o));
        // A good open, an ioctl, then disconnect = close.
        let mut o = UnixStream::connect(&ovl).unwrap();
        assert_eq!(
            call(&mut o, FK_OPEN, &1u32.to_le_bytes(), &[]).unwrap().0,
            0
        );
        let (e, a, _) = call(&mut o, 0x42, &[], &[]).unwrap();
        assert_eq!((e, a), (0, vec![7, 0x42]));
        drop(o);
        for _ in 0..200 {
            if k.closes.load(Ordering::SeqCst) == 1 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(k.closes.load(Ordering::SeqCst), 1);
        assert_eq!(stats.get(Stat::ConnBadFrames), 4);
        srv.unlink();
        assert!(!dld.exists() && !ovl.exists());
        let _ = std::fs::remove_dir_all(&root);
    }

    fn wait_closes(k: &Echo, n: u32) -> u32 {
        for _ in 0..200 {
            if k.closes.load(Ordering::SeqCst) == n {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        k.closes.load(Ordering::SeqCst)
    }

    #[test]
    fn attach_shares_the_handle_until_the_last_close() {
        let root = std::env::temp_dir().join(format!("fk-server-att-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let k = Arc::new(Echo::default());
        let stats = Arc::new(Stats::default());
        let srv = Server::bind(&root, Arc::clone(&k), vec![], None, Arc::clone(&stats)).unwrap();
        let (_, ovl) = socket_paths(&root);

        // The open's reply names the handle.
        let mut a = UnixStream::connect(&ovl).unwrap();
        let (e, name, _) = call(&mut a, FK_OPEN, &1u32.to_le_bytes(), &[]).unwrap();
        assert_eq!(e, 0);
        let name = fk_open_t::from_bytes(&name).expect("16-byte open reply");
        assert_ne!(name.fo_minor, 0);

        // A second connection attaches and reaches the same handle.
        let mut b = UnixStream::connect(&ovl).unwrap();
        let (e, back, _) = call(&mut b, FK_ATTACH, name.as_bytes(), &[]).unwrap();
        assert_eq!((e, back), (0, name.as_bytes().to_vec()));
        assert_eq!(call(&mut b, 0x43, &[], &[]).unwrap().1, vec![7, 0x43]);

        // A wrong secret, an unknown handle, a short argument: refused and
        // closed.
        for (arg, want) in [
            (
                fk_open_t {
                    fo_secret: name.fo_secret ^ 1,
                    ..name
                }
                .as_bytes()
                .to_vec(),
                overlay_sys::errno::ENXIO,
            ),
            (
                fk_open_t {
                    fo_minor: name.fo_minor + 100,
                    ..name
                }
                .as_bytes()
                .to_vec(),
                overlay_sys::errno::ENXIO,
            ),
            (name.as_bytes()[..8].to_vec(), EINVAL),
        ] {
            let mut c = UnixStream::connect(&ovl).unwrap();
            let (e, out, _) = call(&mut c, FK_ATTACH, &arg, &[]).unwrap();
            assert_eq!((e, out.len()), (want as u32, 0));
            assert!(closed(&mut c));
        }

        // Closing the opener's connection does not close the handle.
        drop(a);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(k.closes.load(Ordering::SeqCst), 0);
        assert_eq!(call(&mut b, 0x44, &[], &[]).unwrap().1, vec![7, 0x44]);
        // Still attachable through the survivor.
        let mut c = UnixStream::connect(&ovl).unwrap();
        assert_eq!(call(&mut c, FK_ATTACH, name.as_bytes(), &[]).unwrap().0, 0);
        drop(b);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(k.closes.load(Ordering::SeqCst), 0);
        // The last one closes it, once; its name is then dead.
        drop(c);
        assert_eq!(wait_closes(&k, 1), 1);
        let mut d = UnixStream::connect(&ovl).unwrap();
        let (e, _, _) = call(&mut d, FK_ATTACH, name.as_bytes(), &[]).unwrap();
        assert_eq!(e, overlay_sys::errno::ENXIO as u32);
        // Two opens are two handles with different secrets.
        let mut x = UnixStream::connect(&ovl).unwrap();
        let mut y = UnixStream::connect(&ovl).unwrap();
        let nx = call(&mut x, FK_OPEN, &1u32.to_le_bytes(), &[]).unwrap().1;
        let ny = call(&mut y, FK_OPEN, &1u32.to_le_bytes(), &[]).unwrap().1;
        let (nx, ny) = (
            fk_open_t::from_bytes(&nx).unwrap(),
            fk_open_t::from_bytes(&ny).unwrap(),
        );
        assert_ne!(nx.fo_minor, ny.fo_minor);
        assert_ne!(nx.fo_secret, ny.fo_secret);
        drop((x, y));
        assert_eq!(wait_closes(&k, 3), 3);
        srv.unlink();
        let _ = std::fs::remove_dir_all(&root);
    }
}

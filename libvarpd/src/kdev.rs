//! Kernel device handles: `/dev/dld` and `/dev/overlay`.
//!
//! [`KDev`] is the one way userland (varpd, libvarpd, dladm, tests) issues
//! overlay ioctls. The argument is always the exact `repr(C)` byte image of
//! the ioctl's structure (see [`crate::ksys`] and `overlay-sys`):
//!
//! * **illumos**: the nodes are opened with `open(2)` and [`KDev::ioctl`] is
//!   `ioctl(fd, cmd, arg.as_mut_ptr())`; the kernel copies out into `arg`.
//!   For `OVERLAY_TARG_INJECT`/`RESEND`/`PKT` the frame travels through
//!   `otp_buf`, which [`KDev::ioctl_data`] points at a local buffer.
//! * **Linux**: the nodes are fkoverlayd's Unix sockets and each ioctl is one
//!   request/response frame of docs/fkoverlayd-protocol.md. The copied-out
//!   argument the server returns (dld: even on error for copy-out commands;
//!   `/dev/overlay`: only on success) is written back into `arg`, so callers
//!   see the same bytes they would on illumos.
//!
//! Errors are [`Errno`] values with **illumos** numbers on both platforms.
//!
//! Concurrency: on illumos one descriptor serves any number of threads at
//! once, each blocking in its own ioctl. On Linux a connection answers one
//! request at a time, so a `KDev` keeps a pool of connections to the same
//! kernel handle: the one `FK_OPEN` made, plus more attached to it with
//! `FK_ATTACH` (docs/fkoverlayd-protocol.md) as concurrent callers need
//! them (at most `MAX_CONNS`). Every ioctl takes an idle connection or a
//! new one, so an ioctl never waits behind another thread's
//! `OVERLAY_TARG_LOOKUP` (≤ 1 s): each lookup thread blocks on its own
//! connection, as on illumos. [`KDev::try_clone`] makes an independent
//! `KDev` on the same kernel handle (`dup(2)`). Against a server that does
//! not name its handles (no `FK_ATTACH`), the one connection is shared in
//! turns, any other ioctl going before the next LOOKUP.

use std::io;
use std::path::Path;

use crate::errno::Errno;
use crate::paths;

/// fkoverlayd frame magic ("VOFK" as little-endian bytes).
pub const FK_MAGIC: u32 = overlay_sys::fk::FK_MAGIC;
/// fkoverlayd's open request on a `/dev/overlay` connection.
pub const FK_OPEN: u32 = overlay_sys::fk::FK_OPEN;
/// fkoverlayd's attach request: another connection to an open handle.
pub const FK_ATTACH: u32 = overlay_sys::fk::FK_ATTACH;
/// Size of the handle's name (`fk_open_t`) `FK_OPEN` returns.
pub const FK_OPEN_NAME_SIZE: usize = std::mem::size_of::<overlay_sys::fk::fk_open_t>();
/// Largest argument fkoverlayd accepts or returns.
pub const FK_MAX_ARG: usize = overlay_sys::fk::FK_MAX_ARGLEN as usize;
/// Largest data payload fkoverlayd accepts or returns.
pub const FK_MAX_DATA: usize = overlay_sys::fk::FK_MAX_DATALEN as usize;

/// Which device node a handle is open on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Node {
    /// `/dev/dld`: `OVERLAY_IOC_*` and fkoverlayd's datalink commands.
    Dld,
    /// `/dev/overlay`: `OVERLAY_TARG_*`.
    Overlay,
}

/// An open handle on `/dev/dld` or `/dev/overlay`.
pub struct KDev {
    node: Node,
    imp: imp::Handle,
}

impl std::fmt::Debug for KDev {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KDev").field("node", &self.node).finish()
    }
}

impl KDev {
    /// Open `/dev/dld` under `root`.
    pub fn open_dld(root: &Path) -> io::Result<KDev> {
        let imp = imp::Handle::open(&paths::dld_path(root), None)?;
        Ok(KDev {
            node: Node::Dld,
            imp,
        })
    }

    /// Open `/dev/overlay` under `root` with illumos open flags `oflags`
    /// (`ksys::FREAD | FWRITE | FEXCL` for varpd). A refused open (EPERM,
    /// EINVAL, EEXIST for a second exclusive opener) is an `io::Error`
    /// carrying the host equivalent of the illumos errno; use
    /// [`Errno::from_io`] to get it back.
    pub fn open_overlay(root: &Path, oflags: u32) -> io::Result<KDev> {
        let imp = imp::Handle::open(&paths::overlay_path(root), Some(oflags))?;
        Ok(KDev {
            node: Node::Overlay,
            imp,
        })
    }

    /// Which node this handle is on.
    pub fn node(&self) -> Node {
        self.node
    }

    /// `dup(2)`: an independent handle on the same open kernel handle
    /// (same minor, open flags and taken lookups); the kernel handle is
    /// closed when the last of them is dropped. On Linux this opens one
    /// more connection attached with `FK_ATTACH` (`ENOTSUP` from a server
    /// without it).
    pub fn try_clone(&self) -> io::Result<KDev> {
        Ok(KDev {
            node: self.node,
            imp: self.imp.try_clone()?,
        })
    }

    /// How many connections to fkoverlayd this handle holds now (idle or
    /// in a call); 1 on illumos, where one descriptor serves all threads.
    pub fn connections(&self) -> usize {
        self.imp.connections()
    }

    /// Issue ioctl `cmd` with `arg` as the structure; copied-out bytes are
    /// written back into `arg`.
    pub fn ioctl(&self, cmd: u32, arg: &mut [u8]) -> Result<(), Errno> {
        self.imp.ioctl(cmd, arg, &[], false).map(|_| ())
    }

    /// [`KDev::ioctl`] that gives up after `timeout` with `ETIMEDOUT` (on
    /// Linux; an ioctl on illumos' device cannot be abandoned, so there it
    /// waits). The request itself is not withdrawn: the driver finishes it
    /// when it can, and the handle drops the connection it was sent on.
    pub fn ioctl_within(
        &self,
        cmd: u32,
        arg: &mut [u8],
        timeout: std::time::Duration,
    ) -> Result<(), Errno> {
        self.imp.ioctl_within(cmd, arg, timeout)
    }

    /// An ioctl that carries a frame: `INJECT`/`RESEND` send `data_in`
    /// (`otp_size` in `arg` must already say how many bytes); `PKT` returns
    /// the copied frame (at most `otp_size` of `arg` bytes), and `arg`'s
    /// `otp_size` is updated to its length.
    pub fn ioctl_data(&self, cmd: u32, arg: &mut [u8], data_in: &[u8]) -> Result<Vec<u8>, Errno> {
        let want_out = cmd == crate::ksys::OVERLAY_TARG_PKT;
        self.imp.ioctl(cmd, arg, data_in, want_out)
    }
}

#[cfg(not(target_os = "illumos"))]
mod imp {
    use std::io::{self, Read, Write};
    use std::os::unix::net::UnixStream;
    use std::path::{Path, PathBuf};
    use std::sync::{Condvar, Mutex, MutexGuard};

    use super::{FK_ATTACH, FK_MAGIC, FK_MAX_ARG, FK_MAX_DATA, FK_OPEN, FK_OPEN_NAME_SIZE};
    use crate::errno::Errno;

    /// Most connections one handle opens; further concurrent callers wait
    /// for an idle one. varpd needs one per lookup thread (2×CPUs+1) plus
    /// one per door call in progress; this only guards against runaway.
    pub const MAX_CONNS: usize = 1024;

    /// How more connections reach the same kernel handle.
    #[derive(Clone, Copy)]
    enum Kind {
        /// `/dev/dld`: connections carry no state; any new one will do.
        Dld,
        /// `/dev/overlay` on an fkoverlayd that named the handle: attach
        /// (`FK_ATTACH`) with this name.
        Attach([u8; FK_OPEN_NAME_SIZE]),
        /// `/dev/overlay` on a server that gave no name: the one connection
        /// is all there is, shared in turns (see [`Gate`]).
        Serial,
    }

    pub struct Handle {
        path: PathBuf,
        kind: Kind,
        pool: Mutex<Pool>,
        cv: Condvar,
        gate: Gate,
    }

    /// Idle connections, and how many exist (idle or in a call).
    struct Pool {
        idle: Vec<UnixStream>,
        total: usize,
    }

    /// Turn-taking on a single connection (a server without `FK_ATTACH`):
    /// fkoverlayd answers a connection's requests in order, and
    /// `OVERLAY_TARG_LOOKUP` may block for up to a second, so any other
    /// ioctl waiting for the connection goes before the next LOOKUP.
    #[derive(Default)]
    struct Gate {
        st: Mutex<GateState>,
        cv: Condvar,
    }

    #[derive(Default)]
    struct GateState {
        busy: bool,
        urgent: usize,
    }

    impl Gate {
        fn enter(&self, lookup: bool) {
            let mut g = self.st.lock().unwrap_or_else(|p| p.into_inner());
            if !lookup {
                g.urgent += 1;
            }
            while g.busy || (lookup && g.urgent > 0) {
                g = self.cv.wait(g).unwrap_or_else(|p| p.into_inner());
            }
            if !lookup {
                g.urgent -= 1;
            }
            g.busy = true;
        }

        fn exit(&self) {
            self.st.lock().unwrap_or_else(|p| p.into_inner()).busy = false;
            self.cv.notify_all();
        }
    }

    /// A decoded response: errno, copied-out argument, data.
    struct Resp {
        errno: u32,
        arg: Vec<u8>,
        data: Vec<u8>,
    }

    fn request(s: &mut UnixStream, cmd: u32, arg: &[u8], data: &[u8]) -> io::Result<Resp> {
        let mut frame = Vec::with_capacity(16 + arg.len() + data.len());
        frame.extend_from_slice(&FK_MAGIC.to_le_bytes());
        frame.extend_from_slice(&cmd.to_le_bytes());
        frame.extend_from_slice(&(arg.len() as u32).to_le_bytes());
        frame.extend_from_slice(&(data.len() as u32).to_le_bytes());
        frame.extend_from_slice(arg);
        frame.extend_from_slice(data);
        s.write_all(&frame)?;
        let mut hdr = [0u8; 16];
        s.read_exact(&mut hdr)?;
        let word = |i: usize| u32::from_le_bytes([hdr[i], hdr[i + 1], hdr[i + 2], hdr[i + 3]]);
        let (magic, errno, arglen, datalen) = (word(0), word(4), word(8), word(12));
        if magic != FK_MAGIC || arglen as usize > FK_MAX_ARG || datalen as usize > FK_MAX_DATA {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "malformed response from fkoverlayd",
            ));
        }
        let mut rarg = vec![0u8; arglen as usize];
        s.read_exact(&mut rarg)?;
        let mut rdata = vec![0u8; datalen as usize];
        s.read_exact(&mut rdata)?;
        Ok(Resp {
            errno,
            arg: rarg,
            data: rdata,
        })
    }

    /// A failure to reach a handle we had: the daemon is gone, or the
    /// handle with it; either way the descriptor is no longer usable
    /// (EBADF), which varpd's lookup loop treats as a lost device.
    fn gone(e: Errno) -> Errno {
        match e {
            Errno::ENOENT
            | Errno::ECONNREFUSED
            | Errno::ECONNRESET
            | Errno::EPIPE
            | Errno::ENXIO => Errno::EBADF,
            e => e,
        }
    }

    impl Handle {
        fn with(path: &Path, kind: Kind, first: UnixStream) -> Handle {
            Handle {
                path: path.to_path_buf(),
                kind,
                pool: Mutex::new(Pool {
                    idle: vec![first],
                    total: 1,
                }),
                cv: Condvar::new(),
                gate: Gate::default(),
            }
        }

        pub fn open(path: &Path, oflags: Option<u32>) -> io::Result<Handle> {
            let mut s = UnixStream::connect(path)?;
            let Some(flags) = oflags else {
                return Ok(Handle::with(path, Kind::Dld, s));
            };
            let r = request(&mut s, FK_OPEN, &flags.to_le_bytes(), &[])?;
            if r.errno != 0 {
                return Err(Errno(r.errno as i32).to_io());
            }
            let kind = match <[u8; FK_OPEN_NAME_SIZE]>::try_from(r.arg.as_slice()) {
                Ok(name) => Kind::Attach(name),
                Err(_) => Kind::Serial,
            };
            Ok(Handle::with(path, kind, s))
        }

        /// A new, independent handle on the same kernel handle (`dup(2)`).
        pub fn try_clone(&self) -> io::Result<Handle> {
            if let Kind::Serial = self.kind {
                return Err(Errno::ENOTSUP.to_io());
            }
            let s = self.connect().map_err(Errno::to_io)?;
            Ok(Handle::with(&self.path, self.kind, s))
        }

        /// One more connection to the same kernel handle.
        fn connect(&self) -> Result<UnixStream, Errno> {
            let mut s = UnixStream::connect(&self.path).map_err(|e| gone(Errno::from_io(&e)))?;
            match self.kind {
                Kind::Dld => Ok(s),
                Kind::Attach(name) => {
                    let r = request(&mut s, FK_ATTACH, &name, &[])
                        .map_err(|e| gone(Errno::from_io(&e)))?;
                    if r.errno != 0 {
                        return Err(gone(Errno(r.errno as i32)));
                    }
                    Ok(s)
                }
                Kind::Serial => Err(Errno::ENOTSUP),
            }
        }

        fn pool(&self) -> MutexGuard<'_, Pool> {
            // The pool is consistent after every statement that changes it.
            self.pool.lock().unwrap_or_else(|p| p.into_inner())
        }

        /// An idle connection, a new one if none is idle (up to
        /// [`MAX_CONNS`]), or the next one to come back.
        fn take(&self) -> Result<UnixStream, Errno> {
            let mut p = self.pool();
            loop {
                if let Some(s) = p.idle.pop() {
                    return Ok(s);
                }
                let can_grow = !matches!(self.kind, Kind::Serial);
                if can_grow && p.total < MAX_CONNS {
                    p.total += 1;
                    drop(p);
                    return self.connect().inspect_err(|_| self.forget());
                }
                if p.total == 0 {
                    // The only connection of a serial handle broke.
                    return Err(Errno::EBADF);
                }
                p = self.cv.wait(p).unwrap_or_else(|e| e.into_inner());
            }
        }

        fn put(&self, s: UnixStream) {
            self.pool().idle.push(s);
            self.cv.notify_one();
        }

        /// A connection broke (or could not be made): it is not coming back.
        fn forget(&self) {
            let mut p = self.pool();
            p.total = p.total.saturating_sub(1);
            drop(p);
            self.cv.notify_all();
        }

        pub fn ioctl(
            &self,
            cmd: u32,
            arg: &mut [u8],
            data: &[u8],
            _want_out: bool,
        ) -> Result<Vec<u8>, Errno> {
            if arg.len() > FK_MAX_ARG || data.len() > FK_MAX_DATA {
                return Err(Errno::E2BIG);
            }
            let serial = matches!(self.kind, Kind::Serial);
            if serial {
                self.gate.enter(cmd == crate::ksys::OVERLAY_TARG_LOOKUP);
            }
            let r = self.take().and_then(|mut s| {
                let r = request(&mut s, cmd, arg, data).map_err(|e| Errno::from_io(&e));
                // A connection that failed mid-frame is out of step with
                // the server: drop it (the handle lives on in the others).
                if r.is_ok() {
                    self.put(s);
                } else {
                    self.forget();
                }
                r
            });
            if serial {
                self.gate.exit();
            }
            let r = r?;
            let n = r.arg.len().min(arg.len());
            arg[..n].copy_from_slice(&r.arg[..n]);
            if r.errno != 0 {
                return Err(Errno(r.errno as i32));
            }
            Ok(r.data)
        }

        /// Connections open now (idle or in a call).
        pub fn connections(&self) -> usize {
            self.pool().total
        }

        /// One request on a connection of its own, waiting at most `t` for
        /// the answer; a connection that timed out is out of step with the
        /// server and is dropped.
        pub fn ioctl_within(
            &self,
            cmd: u32,
            arg: &mut [u8],
            t: std::time::Duration,
        ) -> Result<(), Errno> {
            if matches!(self.kind, Kind::Serial) || arg.len() > FK_MAX_ARG {
                return self.ioctl(cmd, arg, &[], false).map(|_| ());
            }
            let mut s = self.take()?;
            let _ = s.set_read_timeout(Some(t));
            match request(&mut s, cmd, arg, &[]) {
                Ok(r) => {
                    let _ = s.set_read_timeout(None);
                    self.put(s);
                    let n = r.arg.len().min(arg.len());
                    arg[..n].copy_from_slice(&r.arg[..n]);
                    if r.errno != 0 {
                        return Err(Errno(r.errno as i32));
                    }
                    Ok(())
                }
                Err(e) => {
                    self.forget();
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) {
                        Err(Errno::ETIMEDOUT)
                    } else {
                        Err(Errno::from_io(&e))
                    }
                }
            }
        }
    }
}

#[cfg(target_os = "illumos")]
mod imp {
    use std::fs::{File, OpenOptions};
    use std::io;
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    use std::path::Path;

    use crate::errno::Errno;
    use crate::ksys::{get_u64, put_u64, FEXCL, FREAD, FWRITE};

    pub struct Handle {
        file: File,
    }

    impl Handle {
        pub fn open(path: &Path, oflags: Option<u32>) -> io::Result<Handle> {
            let mut oo = OpenOptions::new();
            match oflags {
                None => {
                    oo.read(true).write(true);
                }
                Some(f) => {
                    oo.read(f & FREAD != 0).write(f & FWRITE != 0);
                    if f & FEXCL != 0 {
                        oo.custom_flags(libc::O_EXCL);
                    }
                }
            }
            Ok(Handle {
                file: oo.open(path)?,
            })
        }

        /// `dup(2)`: a second descriptor on the same open file.
        pub fn try_clone(&self) -> io::Result<Handle> {
            Ok(Handle {
                file: self.file.try_clone()?,
            })
        }

        /// One descriptor, usable by any number of threads at once.
        pub fn connections(&self) -> usize {
            1
        }

        /// An ioctl cannot be abandoned here: it waits.
        pub fn ioctl_within(
            &self,
            cmd: u32,
            arg: &mut [u8],
            _t: std::time::Duration,
        ) -> Result<(), Errno> {
            self.ioctl(cmd, arg, &[], false).map(|_| ())
        }

        pub fn ioctl(
            &self,
            cmd: u32,
            arg: &mut [u8],
            data: &[u8],
            want_out: bool,
        ) -> Result<Vec<u8>, Errno> {
            // Frame-carrying commands point otp_buf (offset 24) at a buffer.
            let mut out = Vec::new();
            let mut inbuf = data.to_vec();
            if want_out || !data.is_empty() {
                if arg.len() < 32 {
                    return Err(Errno::EINVAL);
                }
                let ptr = if want_out {
                    let size = usize::try_from(get_u64(arg, 16)).unwrap_or(0).min(1 << 16);
                    out = vec![0u8; size];
                    out.as_mut_ptr()
                } else {
                    inbuf.as_mut_ptr()
                };
                put_u64(arg, 24, ptr as u64);
            }
            loop {
                // SAFETY: `arg` is a live, writable buffer at least as large as
                // the structure the kernel copies for `cmd` (callers build it
                // from the ksys/overlay-sys layouts), and any otp_buf pointer
                // in it refers to `out`/`inbuf`, which outlive the call and
                // are `otp_size` bytes long.
                let r = unsafe {
                    libc::ioctl(self.file.as_raw_fd(), cmd as libc::c_int, arg.as_mut_ptr())
                };
                if r == 0 {
                    break;
                }
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Err(Errno::from_io(&e));
            }
            if want_out {
                let n = usize::try_from(get_u64(arg, 16))
                    .unwrap_or(0)
                    .min(out.len());
                out.truncate(n);
            }
            Ok(out)
        }
    }
}

#[cfg(all(test, not(target_os = "illumos")))]
mod tests {
    //! The connection pool against a stand-in fkoverlayd that names its
    //! handle and accepts `FK_ATTACH`.
    use super::*;
    use crate::ksys::{FEXCL, FREAD, FWRITE, OVERLAY_TARG_INFO, OVERLAY_TARG_LOOKUP};
    use std::io::{Read, Write};
    use std::os::unix::net::{UnixListener, UnixStream};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;

    const NAME: [u8; FK_OPEN_NAME_SIZE] = [1, 0, 0, 0, 0, 0, 0, 0, 9, 8, 7, 6, 5, 4, 3, 2];
    const KILL: u32 = 0xdead;

    #[derive(Default)]
    struct Fake {
        in_lookup: AtomicUsize,
        max_in_lookup: AtomicUsize,
        lookups_at_info: AtomicUsize,
        refuse_attach: AtomicBool,
    }

    fn frame(s: &mut UnixStream) -> Option<(u32, Vec<u8>)> {
        let mut h = [0u8; 16];
        s.read_exact(&mut h).ok()?;
        let w = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let mut a = vec![0u8; w(8) as usize + w(12) as usize];
        s.read_exact(&mut a).ok()?;
        Some((w(4), a))
    }

    fn reply(s: &mut UnixStream, errno: u32, arg: &[u8]) {
        let mut f = Vec::new();
        for v in [FK_MAGIC, errno, arg.len() as u32, 0] {
            f.extend_from_slice(&v.to_le_bytes());
        }
        f.extend_from_slice(arg);
        let _ = s.write_all(&f);
    }

    fn serve(mut s: UnixStream, fk: &Fake) {
        match frame(&mut s) {
            Some((FK_OPEN, _)) => reply(&mut s, 0, &NAME),
            Some((FK_ATTACH, a)) if a == NAME && !fk.refuse_attach.load(Ordering::SeqCst) => {
                reply(&mut s, 0, &NAME)
            }
            Some((FK_ATTACH, _)) => return reply(&mut s, Errno::ENXIO.0 as u32, &[]),
            _ => return,
        }
        while let Some((cmd, _)) = frame(&mut s) {
            match cmd {
                OVERLAY_TARG_LOOKUP => {
                    let n = fk.in_lookup.fetch_add(1, Ordering::SeqCst) + 1;
                    fk.max_in_lookup.fetch_max(n, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(300));
                    fk.in_lookup.fetch_sub(1, Ordering::SeqCst);
                    reply(&mut s, Errno::ETIME.0 as u32, &[]);
                }
                OVERLAY_TARG_INFO => {
                    fk.lookups_at_info
                        .store(fk.in_lookup.load(Ordering::SeqCst), Ordering::SeqCst);
                    reply(&mut s, 0, &[0u8; 24]);
                }
                KILL => return,
                _ => reply(&mut s, Errno::ENOTTY.0 as u32, &[]),
            }
        }
    }

    fn fake(tag: &str) -> (std::path::PathBuf, Arc<Fake>) {
        let root = std::env::temp_dir().join(format!("kdev-pool-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("run/overlay")).unwrap();
        let l = UnixListener::bind(root.join("run/overlay/overlay")).unwrap();
        let fk = Arc::new(Fake::default());
        let f = Arc::clone(&fk);
        std::thread::spawn(move || {
            for c in l.incoming().flatten() {
                let f = Arc::clone(&f);
                std::thread::spawn(move || serve(c, &f));
            }
        });
        (root, fk)
    }

    #[test]
    fn concurrent_calls_get_their_own_connections() {
        let (root, fk) = fake("conc");
        let k = Arc::new(KDev::open_overlay(&root, FREAD | FWRITE | FEXCL).unwrap());
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let k = Arc::clone(&k);
                std::thread::spawn(move || k.ioctl(OVERLAY_TARG_LOOKUP, &mut [0u8; 72]))
            })
            .collect();
        while fk.in_lookup.load(Ordering::SeqCst) < 3 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // All three LOOKUPs wait at once, and INFO is answered meanwhile.
        k.ioctl(OVERLAY_TARG_INFO, &mut [0u8; 24]).unwrap();
        assert_eq!(fk.lookups_at_info.load(Ordering::SeqCst), 3);
        for t in threads {
            assert_eq!(t.join().unwrap(), Err(Errno::ETIME));
        }
        assert_eq!(fk.max_in_lookup.load(Ordering::SeqCst), 3);
        assert_eq!(k.connections(), 4);
        let c = k.try_clone().unwrap();
        assert_eq!(c.connections(), 1);
        c.ioctl(OVERLAY_TARG_INFO, &mut [0u8; 24]).unwrap();
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn broken_connections_are_replaced_until_the_handle_is_gone() {
        let (root, fk) = fake("broken");
        let k = KDev::open_overlay(&root, FREAD | FWRITE | FEXCL).unwrap();
        assert!(k.ioctl(KILL, &mut [0u8; 4]).is_err());
        assert_eq!(k.connections(), 0);
        // The next call attaches a new connection to the same handle.
        k.ioctl(OVERLAY_TARG_INFO, &mut [0u8; 24]).unwrap();
        assert_eq!(k.connections(), 1);
        // The handle is gone (a restarted daemon does not know it): the
        // descriptor is unusable, EBADF.
        fk.refuse_attach.store(true, Ordering::SeqCst);
        assert!(k.ioctl(KILL, &mut [0u8; 4]).is_err());
        assert_eq!(
            k.ioctl(OVERLAY_TARG_INFO, &mut [0u8; 24]),
            Err(Errno::EBADF)
        );
        assert_eq!(k.connections(), 0);
        let _ = std::fs::remove_dir_all(&root);
    }
}

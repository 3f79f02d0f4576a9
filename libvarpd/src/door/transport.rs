//! The door transport: illumos doors, or a Unix stream socket on Linux.
//!
//! A door call sends one buffer (the envelope, or the longer walk buffer)
//! and receives one buffer back, which the client copies over the start of
//! its own (so an 8-byte error reply overwrites only command and errno,
//! exactly as with `door_call` and a shared `rbuf`).
//!
//! * **illumos**: `door_create` + `fattach` on the door path (mode 0666, so
//!   unprivileged `dladm show-overlay` works; privilege is checked per
//!   command from `door_ucred`), `door_call` on the client side.
//! * **Linux**: the door path is a listening `AF_UNIX` stream socket (mode
//!   0666). Each request is a little-endian `u32` length then that many
//!   bytes (at most [`VARPD_DOOR_MAX`](super::abi::VARPD_DOOR_MAX)); each
//!   response the same. A connection may carry any number of calls, in
//!   order. The caller's credentials come from `SO_PEERCRED`.

use std::path::Path;

use crate::errno::Errno;

/// The caller of a door command, as the server sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cred {
    /// Effective uid (on Linux: the peer's uid from `SO_PEERCRED`).
    pub uid: u32,
    /// Effective gid.
    pub gid: u32,
    /// Process id, when known.
    pub pid: i32,
    /// Whether the caller holds `PRIV_SYS_NET_CONFIG` or
    /// `PRIV_SYS_DL_CONFIG` (Linux: uid 0 or varpd's own euid).
    pub privileged: bool,
}

/// The server's per-call handler: gets the request buffer (at least as long
/// as the caller sent) and returns the reply buffer.
pub type Handler = dyn Fn(&[u8], &Cred) -> Vec<u8> + Send + Sync;

pub use imp::{DoorClient, DoorServer};

/// Open a client connection to the door at `path`.
pub fn connect(path: &Path) -> Result<DoorClient, Errno> {
    DoorClient::open(path)
}

#[cfg(not(target_os = "illumos"))]
mod imp {
    use std::io::{self, Read, Write};
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::{UnixListener, UnixStream};
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::thread;

    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};

    use super::{Cred, Handler};
    use crate::door::abi::VARPD_DOOR_MAX;
    use crate::errno::Errno;

    fn read_frame(s: &mut UnixStream) -> io::Result<Vec<u8>> {
        let mut len = [0u8; 4];
        s.read_exact(&mut len)?;
        let n = u32::from_le_bytes(len) as usize;
        if n > VARPD_DOOR_MAX {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "door frame too large",
            ));
        }
        let mut b = vec![0u8; n];
        s.read_exact(&mut b)?;
        Ok(b)
    }

    fn write_frame(s: &mut UnixStream, b: &[u8]) -> io::Result<()> {
        let mut f = Vec::with_capacity(4 + b.len());
        f.extend_from_slice(&(b.len() as u32).to_le_bytes());
        f.extend_from_slice(b);
        s.write_all(&f)
    }

    /// A client connection to varpd's door.
    pub struct DoorClient {
        conn: Mutex<UnixStream>,
    }

    impl DoorClient {
        /// Connect; `ENOENT` when varpd is not running (no socket, or a
        /// stale one nobody listens on).
        pub fn open(path: &Path) -> Result<DoorClient, Errno> {
            match UnixStream::connect(path) {
                Ok(s) => Ok(DoorClient {
                    conn: Mutex::new(s),
                }),
                Err(e) => match Errno::from_io(&e) {
                    Errno::ECONNREFUSED => Err(Errno::ENOENT),
                    e => Err(e),
                },
            }
        }

        /// One door call: send `buf`, copy the reply over its start.
        pub fn call(&self, buf: &mut [u8]) -> Result<(), Errno> {
            if buf.len() > VARPD_DOOR_MAX {
                return Err(Errno::E2BIG);
            }
            // A poisoned lock means a caller panicked mid-call: the stream
            // may be mid-frame and is unusable.
            let mut s = self.conn.lock().map_err(|_| Errno::EBADF)?;
            write_frame(&mut s, buf).map_err(|e| Errno::from_io(&e))?;
            let r = read_frame(&mut s).map_err(|e| Errno::from_io(&e))?;
            let n = r.len().min(buf.len());
            buf[..n].copy_from_slice(&r[..n]);
            Ok(())
        }
    }

    /// A serving door: a listening socket and its accept thread.
    pub struct DoorServer {
        path: PathBuf,
        stop: Arc<AtomicBool>,
        accept: Option<thread::JoinHandle<()>>,
    }

    impl DoorServer {
        /// `libvarpd_door_server_create`: bind `path` (replacing a stale
        /// socket), mode 0666, and serve calls with `handler`.
        pub fn create(path: &Path, handler: Arc<Handler>) -> Result<DoorServer, Errno> {
            let _ = std::fs::remove_file(path);
            let l = UnixListener::bind(path).map_err(|e| Errno::from_io(&e))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
                .map_err(|e| Errno::from_io(&e))?;
            let stop = Arc::new(AtomicBool::new(false));
            let st = stop.clone();
            // SAFETY: geteuid has no preconditions.
            let me = unsafe { libc::geteuid() };
            let accept = thread::Builder::new()
                .name("varpd-door".into())
                .spawn(move || {
                    let unpriv = Arc::new(AtomicUsize::new(0));
                    for conn in l.incoming() {
                        if st.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(conn) = conn else { continue };
                        let Some(cred) = peer_cred(&conn, me) else {
                            continue;
                        };
                        // Anyone may connect (show-overlay needs no
                        // privilege), so unprivileged peers share a bounded
                        // number of connections: they cannot exhaust
                        // varpd's threads. Privileged callers are never
                        // turned away.
                        let slot = if cred.privileged {
                            None
                        } else if unpriv.fetch_add(1, Ordering::SeqCst) >= MAX_UNPRIV_CONNS {
                            unpriv.fetch_sub(1, Ordering::SeqCst);
                            tracing::warn!(
                                uid = cred.uid,
                                "door: too many unprivileged connections; refused"
                            );
                            continue;
                        } else {
                            Some(unpriv.clone())
                        };
                        let _ = conn.set_read_timeout(Some(DOOR_IDLE_TIMEOUT));
                        let h = handler.clone();
                        let _ = thread::Builder::new().name("varpd-door-conn".into()).spawn(
                            move || {
                                serve_conn(conn, h, &cred);
                                if let Some(n) = slot {
                                    n.fetch_sub(1, Ordering::SeqCst);
                                }
                            },
                        );
                    }
                })
                .map_err(|e| Errno::from_io(&e))?;
            Ok(DoorServer {
                path: path.to_path_buf(),
                stop,
                accept: Some(accept),
            })
        }

        /// `libvarpd_door_server_destroy`: stop accepting and remove the
        /// socket.
        pub fn destroy(mut self) {
            self.shutdown();
        }

        fn shutdown(&mut self) {
            if let Some(t) = self.accept.take() {
                self.stop.store(true, Ordering::SeqCst);
                // Wake the accept loop.
                let _ = UnixStream::connect(&self.path);
                let _ = t.join();
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }

    impl Drop for DoorServer {
        fn drop(&mut self) {
            self.shutdown();
        }
    }

    /// Unprivileged connections served at once; more are closed at accept.
    const MAX_UNPRIV_CONNS: usize = 64;
    /// A connection idle this long (or stalled mid-frame) is closed.
    const DOOR_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

    /// The peer's credentials; privileged = root or varpd's own uid.
    fn peer_cred(s: &UnixStream, me: u32) -> Option<Cred> {
        let c = getsockopt(s, PeerCredentials).ok()?;
        Some(Cred {
            uid: c.uid(),
            gid: c.gid(),
            pid: c.pid(),
            privileged: c.uid() == 0 || c.uid() == me,
        })
    }

    fn serve_conn(mut s: UnixStream, h: Arc<Handler>, cred: &Cred) {
        while let Ok(req) = read_frame(&mut s) {
            let resp = h(&req, cred);
            if write_frame(&mut s, &resp).is_err() {
                break;
            }
        }
    }
}

#[cfg(target_os = "illumos")]
mod imp {
    //! Real doors, through hand-written FFI (`<door.h>`, `<ucred.h>`,
    //! `<priv.h>`, `<stropts.h>`; all in illumos libc).

    use std::cell::RefCell;
    use std::ffi::{c_char, c_int, c_uint, c_void, CString};
    use std::fs::File;
    use std::io;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::io::{AsRawFd, FromRawFd, OwnedFd};
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use super::{Cred, Handler};
    use crate::door::abi::VARPD_DOOR_MAX;
    use crate::errno::Errno;

    #[repr(C)]
    struct DoorArg {
        data_ptr: *mut c_char,
        data_size: usize,
        desc_ptr: *mut c_void,
        desc_num: c_uint,
        rbuf: *mut c_char,
        rsize: usize,
    }

    type ServerProc = extern "C" fn(*mut c_void, *mut c_char, usize, *mut c_void, c_uint);

    const DOOR_REFUSE_DESC: c_uint = 0x40;
    const DOOR_NO_CANCEL: c_uint = 0x80;
    const PRIV_EFFECTIVE: &[u8] = b"Effective\0";

    extern "C" {
        fn door_create(server: ServerProc, cookie: *mut c_void, attrs: c_uint) -> c_int;
        fn door_call(d: c_int, params: *mut DoorArg) -> c_int;
        fn door_return(data: *mut c_char, size: usize, desc: *mut c_void, ndesc: c_uint) -> c_int;
        fn door_revoke(d: c_int) -> c_int;
        fn door_ucred(uc: *mut *mut c_void) -> c_int;
        fn ucred_free(uc: *mut c_void);
        fn ucred_geteuid(uc: *const c_void) -> u32;
        fn ucred_getegid(uc: *const c_void) -> u32;
        fn ucred_getpid(uc: *const c_void) -> i32;
        fn ucred_getprivset(uc: *const c_void, which: *const c_char) -> *const c_void;
        fn priv_ismember(set: *const c_void, p: *const c_char) -> c_int;
        fn fattach(fd: c_int, path: *const c_char) -> c_int;
        fn fdetach(path: *const c_char) -> c_int;
    }

    /// A client handle on the door.
    pub struct DoorClient {
        file: File,
    }

    impl DoorClient {
        pub fn open(path: &Path) -> Result<DoorClient, Errno> {
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .map_err(|e| Errno::from_io(&e))?;
            Ok(DoorClient { file: f })
        }

        pub fn call(&self, buf: &mut [u8]) -> Result<(), Errno> {
            let mut da = DoorArg {
                data_ptr: buf.as_mut_ptr().cast(),
                data_size: buf.len(),
                desc_ptr: std::ptr::null_mut(),
                desc_num: 0,
                rbuf: buf.as_mut_ptr().cast(),
                rsize: buf.len(),
            };
            loop {
                // SAFETY: `da` points at `buf`, live and `buf.len()` bytes
                // long, for both the argument and the result.
                let r = unsafe { door_call(self.file.as_raw_fd(), &mut da) };
                if r == 0 {
                    break;
                }
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Err(Errno::from_io(&e));
            }
            if da.rbuf != buf.as_mut_ptr().cast() {
                // The reply did not fit and the system mapped a new buffer.
                let n = da.data_size.min(buf.len());
                // SAFETY: door_call returned `data_size` readable bytes at
                // `data_ptr` inside the mapping at `rbuf` of `rsize` bytes,
                // which we own and unmap once copied.
                unsafe {
                    std::ptr::copy_nonoverlapping(da.data_ptr.cast::<u8>(), buf.as_mut_ptr(), n);
                    libc::munmap(da.rbuf.cast(), da.rsize);
                }
            }
            Ok(())
        }
    }

    struct Cookie {
        handler: Arc<Handler>,
    }

    thread_local! {
        static REPLY: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }

    fn caller_cred() -> Result<Cred, Errno> {
        let mut uc: *mut c_void = std::ptr::null_mut();
        // SAFETY: door_ucred allocates a ucred_t into `uc`; we only call it
        // from a door server thread and free it below.
        if unsafe { door_ucred(&mut uc) } != 0 {
            return Err(Errno::from_io(&io::Error::last_os_error()));
        }
        // SAFETY: `uc` is a valid ucred_t until ucred_free; the privilege
        // names are NUL-terminated constants.
        let cred = unsafe {
            let set = ucred_getprivset(uc, PRIV_EFFECTIVE.as_ptr().cast());
            let privileged = !set.is_null()
                && (priv_ismember(set, b"sys_net_config\0".as_ptr().cast()) != 0
                    || priv_ismember(set, b"sys_dl_config\0".as_ptr().cast()) != 0);
            let c = Cred {
                uid: ucred_geteuid(uc),
                gid: ucred_getegid(uc),
                pid: ucred_getpid(uc),
                privileged,
            };
            ucred_free(uc);
            c
        };
        Ok(cred)
    }

    extern "C" fn server(
        cookie: *mut c_void,
        argp: *mut c_char,
        size: usize,
        _dp: *mut c_void,
        _n: c_uint,
    ) {
        // SAFETY: the cookie is the `Cookie` leaked in `create`, alive for
        // the door's lifetime.
        let c = unsafe { &*(cookie as *const Cookie) };
        let reply = match caller_cred() {
            Ok(cred) => {
                let req: &[u8] = if argp.is_null() || size == 0 {
                    &[]
                } else {
                    // SAFETY: the door framework hands us `size` readable
                    // bytes at `argp` for the duration of this call.
                    unsafe {
                        std::slice::from_raw_parts(argp.cast::<u8>(), size.min(VARPD_DOOR_MAX))
                    }
                };
                (c.handler)(req, &cred)
            }
            Err(e) => crate::door::abi::eresp(e.0),
        };
        // Park the reply in this thread's buffer and release the borrow
        // before door_return, which never returns: the next call on this
        // (pooled) thread must find the RefCell free.
        let (ptr, len) = REPLY.with(|r| {
            let mut r = r.borrow_mut();
            *r = reply;
            (r.as_mut_ptr(), r.len())
        });
        // SAFETY: the reply lives in this thread's local buffer, untouched
        // until this thread serves its next call, by which time the kernel
        // has copied it to the caller.
        unsafe {
            door_return(ptr.cast(), len, std::ptr::null_mut(), 0);
        }
    }

    /// A door attached to a path.
    pub struct DoorServer {
        fd: Option<OwnedFd>,
        path: PathBuf,
    }

    impl DoorServer {
        pub fn create(path: &Path, handler: Arc<Handler>) -> Result<DoorServer, Errno> {
            let cookie = Box::into_raw(Box::new(Cookie { handler })) as *mut c_void;
            // SAFETY: `server` matches the door server procedure signature
            // and `cookie` stays valid forever (deliberately leaked).
            let d = unsafe { door_create(server, cookie, DOOR_REFUSE_DESC | DOOR_NO_CANCEL) };
            if d < 0 {
                return Err(Errno::from_io(&io::Error::last_os_error()));
            }
            // SAFETY: door_create returned a new descriptor we now own.
            let fd = unsafe { OwnedFd::from_raw_fd(d) };
            let cpath = CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
            {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .mode(0o666)
                    .open(path)
                    .map_err(|e| Errno::from_io(&e))?;
            }
            // SAFETY: cpath is NUL-terminated; fd is a live door descriptor.
            unsafe {
                fdetach(cpath.as_ptr());
                if fattach(fd.as_raw_fd(), cpath.as_ptr()) != 0 {
                    let e = Errno::from_io(&io::Error::last_os_error());
                    door_revoke(fd.as_raw_fd());
                    return Err(e);
                }
            }
            Ok(DoorServer {
                fd: Some(fd),
                path: path.to_path_buf(),
            })
        }

        pub fn destroy(mut self) {
            self.shutdown();
        }

        fn shutdown(&mut self) {
            if let Some(fd) = self.fd.take() {
                if let Ok(c) = CString::new(self.path.as_os_str().as_bytes()) {
                    // SAFETY: c is NUL-terminated.
                    unsafe { fdetach(c.as_ptr()) };
                }
                // SAFETY: fd is our live door descriptor.
                unsafe { door_revoke(fd.as_raw_fd()) };
                std::mem::forget(fd);
            }
        }
    }

    impl Drop for DoorServer {
        fn drop(&mut self) {
            self.shutdown();
        }
    }
}

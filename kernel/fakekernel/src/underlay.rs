//! The underlay: real UDP sockets standing in for the driver's ksockets.
//!
//! Theory of operation: the driver opens one socket per mux (listen address,
//! port, encapsulation) when the first device on it starts. Here that is an
//! `AF_INET6` datagram socket with `IPV6_V6ONLY` off, so IPv4 underlays work
//! as v4-mapped addresses exactly as in illumos. A receive thread per socket
//! waits in `poll(2)` with a stop eventfd and hands every datagram to the
//! callback (the mux's receive path, i.e. decap). Sends use `MSG_DONTWAIT`
//! so the transmit path never blocks; a full socket buffer is a counted
//! drop. Errors from Linux are translated to illumos errnos before they
//! reach the driver (bind `EADDRINUSE` 98 becomes 125, and so on).

use crate::stats::{Stat, Stats};
use crate::tap::{wait_readable, StopFd};
use overlay_sys::errno::from_linux;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::thread::JoinHandle;

fn last_errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn to_sockaddr(a: &SocketAddrV6) -> libc::sockaddr_in6 {
    // SAFETY: sockaddr_in6 is plain data; all-zero is valid.
    let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sa.sin6_port = a.port().to_be();
    sa.sin6_addr.s6_addr = a.ip().octets();
    sa.sin6_scope_id = a.scope_id();
    sa
}

/// Socket buffer size asked for, each way.
const SOCK_BUF: libc::c_int = 4 << 20;

/// Largest datagram we accept (a 64 KiB UDP payload).
const RX_BUF: usize = 65536;

/// A bound underlay socket with its receive thread.
pub struct UdpSock {
    fd: Arc<OwnedFd>,
    stop: Arc<StopFd>,
    rx: Option<JoinHandle<()>>,
    stats: Arc<Stats>,
    local: SocketAddrV6,
}

impl std::fmt::Debug for UdpSock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpSock")
            .field("local", &self.local)
            .finish()
    }
}

impl UdpSock {
    /// Creates the socket and binds it to `local`. Errors are illumos
    /// errnos (`EADDRNOTAVAIL` when the address is not local, `EADDRINUSE`
    /// when the port is taken).
    pub fn bind(local: SocketAddrV6, stats: Arc<Stats>) -> Result<UdpSock, i32> {
        // SAFETY: plain socket(2) call.
        let fd = unsafe {
            libc::socket(
                libc::AF_INET6,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                0,
            )
        };
        if fd < 0 {
            return Err(from_linux(last_errno()));
        }
        // SAFETY: fd is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let off: libc::c_int = 0;
        // SAFETY: setsockopt reads a c_int of the given size from `off`.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::IPPROTO_IPV6,
                libc::IPV6_V6ONLY,
                (&off as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(from_linux(last_errno()));
        }
        // Room for bursts: 4 MiB each way (SO_*BUFFORCE as root, else the
        // sysctl-capped SO_*BUF). Failure only means the default size.
        for (force, plain) in [
            (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
            (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
        ] {
            let size: libc::c_int = SOCK_BUF;
            for opt in [force, plain] {
                // SAFETY: setsockopt reads a c_int of the given size.
                let r = unsafe {
                    libc::setsockopt(
                        fd.as_raw_fd(),
                        libc::SOL_SOCKET,
                        opt,
                        (&size as *const libc::c_int).cast(),
                        std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                    )
                };
                if r == 0 {
                    break;
                }
            }
        }
        let sa = to_sockaddr(&local);
        // SAFETY: bind reads a sockaddr_in6 of the given size.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_in6).cast(),
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(from_linux(last_errno()));
        }
        let stop = StopFd::new().map_err(|e| from_linux(e.raw_os_error().unwrap_or(libc::EIO)))?;
        Ok(UdpSock {
            fd: Arc::new(fd),
            stop: Arc::new(stop),
            rx: None,
            stats,
            local,
        })
    }

    /// The bound address.
    pub fn local(&self) -> SocketAddrV6 {
        self.local
    }

    /// Starts the receive thread: `deliver(datagram, source)` for each one.
    pub fn start_rx<F>(&mut self, deliver: F) -> std::io::Result<()>
    where
        F: Fn(Vec<u8>, SocketAddrV6) + Send + 'static,
    {
        let fd = Arc::clone(&self.fd);
        let stop = Arc::clone(&self.stop);
        let stats = Arc::clone(&self.stats);
        let h = std::thread::Builder::new()
            .name(format!("udp-rx {}", self.local))
            .spawn(move || {
                let mut buf = vec![0u8; RX_BUF];
                while wait_readable(fd.as_raw_fd(), &stop) {
                    loop {
                        // SAFETY: sockaddr_in6 is plain data; zero is valid.
                        let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
                        let mut slen = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
                        // SAFETY: buf is writable for buf.len() bytes; sa
                        // and slen describe a writable sockaddr buffer.
                        let n = unsafe {
                            libc::recvfrom(
                                fd.as_raw_fd(),
                                buf.as_mut_ptr().cast(),
                                buf.len(),
                                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                                (&mut sa as *mut libc::sockaddr_in6).cast(),
                                &mut slen,
                            )
                        };
                        if n < 0 {
                            let e = last_errno();
                            if e != libc::EAGAIN && e != libc::EINTR {
                                stats.bump(Stat::UdpRxErrors);
                            }
                            break;
                        }
                        let n = n as usize;
                        stats.bump(Stat::UdpRxDatagrams);
                        if n > buf.len() {
                            stats.bump(Stat::UdpRxTruncated);
                            continue;
                        }
                        let src = SocketAddrV6::new(
                            Ipv6Addr::from(sa.sin6_addr.s6_addr),
                            u16::from_be(sa.sin6_port),
                            0,
                            sa.sin6_scope_id,
                        );
                        deliver(buf[..n].to_vec(), src);
                    }
                }
            })?;
        self.rx = Some(h);
        Ok(())
    }

    /// Sends one datagram without blocking. Errors are illumos errnos; each
    /// failure is counted.
    pub fn send(&self, dst: &SocketAddrV6, bufs: &[&[u8]]) -> Result<(), i32> {
        let sa = to_sockaddr(dst);
        let mut iov: Vec<libc::iovec> = bufs
            .iter()
            .map(|b| libc::iovec {
                iov_base: b.as_ptr() as *mut libc::c_void,
                iov_len: b.len(),
            })
            .collect();
        // SAFETY: msghdr is plain data; zero is valid.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = (&sa as *const libc::sockaddr_in6) as *mut libc::c_void;
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        msg.msg_iov = iov.as_mut_ptr();
        msg.msg_iovlen = iov.len();
        // SAFETY: msg points at a valid sockaddr and iovec array that
        // outlive the call; sendmsg only reads them.
        let r = unsafe { libc::sendmsg(self.fd.as_raw_fd(), &msg, libc::MSG_DONTWAIT) };
        if r < 0 {
            let e = last_errno();
            self.stats.bump(if e == libc::EAGAIN {
                Stat::UdpTxFull
            } else {
                Stat::UdpTxErrors
            });
            return Err(from_linux(e));
        }
        self.stats.bump(Stat::UdpTxDatagrams);
        Ok(())
    }
}

impl Drop for UdpSock {
    fn drop(&mut self) {
        self.stop.signal();
        if let Some(h) = self.rx.take() {
            // Do not join from the receive thread itself (a callback that
            // ends up closing its own socket).
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
    }
}

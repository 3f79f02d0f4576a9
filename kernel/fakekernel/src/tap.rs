//! Linux TAP devices: the wire side of each VNIC.
//!
//! Theory of operation: a VNIC is a MAC client of its overlay; on Linux the
//! frames it sends and receives come from a TAP device of the VNIC's name
//! (`IFF_TAP | IFF_NO_PI`, so each read or write is exactly one Ethernet
//! frame). The device is not persistent: it exists as long as the file
//! descriptor is open, so closing it (drop, SIGTERM, even a crash) removes
//! the interface. `IFF_TUN_EXCL` refuses to attach to an existing device.
//! The TAP's own MAC address and MTU are set to the VNIC's, so the Linux
//! stack on top of it behaves like an illumos IP interface on the VNIC.
//!
//! The descriptor is non-blocking: writes (frames delivered to the VNIC)
//! never stall the caller, and the reader thread waits in `poll(2)`
//! together with a stop eventfd.
//!
//! Offloads: the TAP is opened with `IFF_VNET_HDR`, so every read and write
//! starts with a `virtio_net_hdr` ([`crate::offload`]), and
//! `TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)` lets the stack
//! above the VNIC hand over TCP segments of up to 64 KiB with the checksum
//! left to finish (as a VNIC advertising LSO and checksum offload would on
//! illumos); the MAC layer cuts them to wire size. Writes may likewise
//! carry a merged (GRO) TCP frame. [`Tap::write`] writes a plain frame
//! behind an all-zero header.

use crate::offload::VNET_HDR_LEN;
use overlay_sys::errno::{from_linux, EINVAL};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const IFF_TUN_EXCL: libc::c_short = 0x8000_u16 as libc::c_short;
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
/// `_IOW('T', 208, unsigned int)`.
const TUNSETOFFLOAD: libc::c_ulong = 0x4004_54d0;
const IFF_VNET_HDR: libc::c_short = 0x4000;
const TUN_F_CSUM: libc::c_ulong = 0x01;
const TUN_F_TSO4: libc::c_ulong = 0x02;
const TUN_F_TSO6: libc::c_ulong = 0x04;

/// Largest read from a TAP: a vnet header and a 64 KiB TSO frame, with
/// room to spare (the stack's GSO limit for a TAP is 64 KiB).
pub const TAP_READ_MAX: usize = 128 * 1024;

fn last_errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// An open TAP device.
#[derive(Debug)]
pub struct Tap {
    fd: OwnedFd,
    name: String,
}

fn ifreq_with_name(name: &str) -> Result<libc::ifreq, i32> {
    // SAFETY: ifreq is plain data; all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    let b = name.as_bytes();
    if b.is_empty() || b.len() >= ifr.ifr_name.len() {
        return Err(EINVAL);
    }
    for (d, s) in ifr.ifr_name.iter_mut().zip(b) {
        *d = *s as libc::c_char;
    }
    Ok(ifr)
}

/// Runs an interface ioctl on a throwaway datagram socket. Returns a Linux
/// errno on failure.
fn if_ioctl(req: libc::c_ulong, ifr: &mut libc::ifreq) -> Result<(), i32> {
    // SAFETY: plain socket(2) call.
    let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if s < 0 {
        return Err(last_errno());
    }
    // SAFETY: s is a fresh descriptor we own.
    let s = unsafe { OwnedFd::from_raw_fd(s) };
    // SAFETY: ifr is a valid, exclusively borrowed ifreq for the duration of
    // the call, which is what these SIOC* requests read and write.
    let r = unsafe { libc::ioctl(s.as_raw_fd(), req as _, ifr as *mut libc::ifreq) };
    if r < 0 {
        return Err(last_errno());
    }
    Ok(())
}

impl Tap {
    /// Creates the TAP `name` with MAC address `mac` and MTU `mtu`. Errors
    /// are illumos errnos (`EEXIST` if an interface of that name exists).
    pub fn create(name: &str, mac: [u8; 6], mtu: u32) -> Result<Tap, i32> {
        let mut ifr = ifreq_with_name(name)?;
        // SAFETY: open(2) with a NUL-terminated literal path.
        let fd = unsafe {
            libc::open(
                c"/dev/net/tun".as_ptr(),
                libc::O_RDWR | libc::O_CLOEXEC | libc::O_NONBLOCK,
            )
        };
        if fd < 0 {
            return Err(from_linux(last_errno()));
        }
        // SAFETY: fd is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        ifr.ifr_ifru.ifru_flags =
            (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short | IFF_VNET_HDR | IFF_TUN_EXCL;
        // SAFETY: TUNSETIFF reads and writes the ifreq we pass, which lives
        // for the duration of the call.
        let r = unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF as _, &mut ifr as *mut _) };
        if r < 0 {
            let e = last_errno();
            // An existing non-TAP device or TAP gives EBUSY/EINVAL: report
            // the name as taken.
            return Err(match e {
                libc::EBUSY | libc::EINVAL => overlay_sys::errno::EEXIST,
                e => from_linux(e),
            });
        }
        // Offloads are an optimisation: without them (an old kernel) the
        // stack simply sends finished, MTU-sized frames.
        let off = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
        // SAFETY: TUNSETOFFLOAD takes its argument by value.
        let r = unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETOFFLOAD as _, off) };
        if r < 0 {
            tracing::debug!(name, errno = last_errno(), "TUNSETOFFLOAD refused");
        }
        let tap = Tap {
            fd,
            name: name.to_string(),
        };
        tap.set_mac(mac).map_err(from_linux)?;
        tap.set_mtu(mtu).map_err(from_linux)?;
        Ok(tap)
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The descriptor (for poll).
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    fn set_mac(&self, mac: [u8; 6]) -> Result<(), i32> {
        let mut ifr = ifreq_with_name(&self.name)?;
        // SAFETY: writing the sockaddr member of the ifreq union, which is
        // plain data.
        unsafe {
            ifr.ifr_ifru.ifru_hwaddr.sa_family = libc::ARPHRD_ETHER;
            for (d, s) in ifr.ifr_ifru.ifru_hwaddr.sa_data.iter_mut().zip(mac) {
                *d = s as libc::c_char;
            }
        }
        if_ioctl(libc::SIOCSIFHWADDR, &mut ifr)
    }

    /// Sets the interface MTU (Linux errno on failure).
    pub fn set_mtu(&self, mtu: u32) -> Result<(), i32> {
        let mut ifr = ifreq_with_name(&self.name)?;
        ifr.ifr_ifru.ifru_mtu = mtu as libc::c_int;
        if_ioctl(libc::SIOCSIFMTU, &mut ifr)
    }

    /// Reads one frame with its vnet header in front; `Ok(None)` if none
    /// is ready. Errors are Linux errnos.
    pub fn read(&self, buf: &mut [u8]) -> Result<Option<usize>, i32> {
        // SAFETY: buf is a valid writable buffer of buf.len() bytes.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = last_errno();
            if e == libc::EAGAIN || e == libc::EINTR {
                return Ok(None);
            }
            return Err(e);
        }
        Ok(Some(n as usize))
    }

    /// Writes one frame to the interface (it appears as received there),
    /// behind an all-zero vnet header. Never blocks. Errors are Linux
    /// errnos (`EIO` when the interface is down).
    pub fn write(&self, frame: &[u8]) -> Result<(), i32> {
        self.write_hdr(&[0u8; VNET_HDR_LEN], frame)
    }

    /// Writes one frame behind the vnet header `hdr`. Never blocks; errors
    /// as for [`Tap::write`].
    pub fn write_hdr(&self, hdr: &[u8; VNET_HDR_LEN], frame: &[u8]) -> Result<(), i32> {
        let iov = [
            libc::iovec {
                iov_base: hdr.as_ptr() as *mut libc::c_void,
                iov_len: hdr.len(),
            },
            libc::iovec {
                iov_base: frame.as_ptr() as *mut libc::c_void,
                iov_len: frame.len(),
            },
        ];
        // SAFETY: both iovecs describe valid readable buffers that outlive
        // the call; writev only reads them.
        let n = unsafe { libc::writev(self.fd.as_raw_fd(), iov.as_ptr(), 2) };
        if n < 0 {
            return Err(last_errno());
        }
        Ok(())
    }

    /// Writes one frame given as parts, the first its vnet header (a
    /// merged frame from [`crate::gro::Gro`]), with one `writev`. Never
    /// blocks; errors as for [`Tap::write`], and `EMSGSIZE` for more than
    /// [`WRITE_PARTS_MAX`] parts.
    pub fn write_parts<'a>(&self, parts: impl Iterator<Item = &'a [u8]>) -> Result<(), i32> {
        let mut iov = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; WRITE_PARTS_MAX];
        let mut n = 0;
        for p in parts {
            let Some(v) = iov.get_mut(n) else {
                return Err(libc::EMSGSIZE);
            };
            *v = libc::iovec {
                iov_base: p.as_ptr() as *mut libc::c_void,
                iov_len: p.len(),
            };
            n += 1;
        }
        // SAFETY: iov[..n] describe valid readable buffers (borrowed for
        // the call); writev only reads them.
        let r = unsafe { libc::writev(self.fd.as_raw_fd(), iov.as_ptr(), n as libc::c_int) };
        if r < 0 {
            return Err(last_errno());
        }
        Ok(())
    }

    /// Writes a buffer that starts with its own vnet header (a TSO frame
    /// switched between local VNICs). Never blocks; errors as for [`Tap::write`].
    pub fn write_vnet(&self, buf: &[u8]) -> Result<(), i32> {
        // SAFETY: buf is a valid readable buffer of buf.len() bytes.
        let n = unsafe { libc::write(self.fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(last_errno());
        }
        Ok(())
    }
}

/// Most parts of one [`Tap::write_parts`]: a vnet header and
/// [`crate::gro::GRO_MAX_SEGS`] segments.
pub const WRITE_PARTS_MAX: usize = 1 + crate::gro::GRO_MAX_SEGS;

/// An eventfd used to wake and stop poll loops.
#[derive(Debug)]
pub struct StopFd(OwnedFd);

impl StopFd {
    /// A new, unsignalled eventfd.
    pub fn new() -> std::io::Result<StopFd> {
        // SAFETY: plain eventfd(2) call.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor we own.
        Ok(StopFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Signals it (stays readable from then on).
    pub fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64 to our eventfd.
        unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// The descriptor.
    pub fn raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// Waits until `fd` is readable or `stop` is signalled. Returns false when
/// stopped. A data-path thread's wait: waking to read is activity for the
/// low-latency mode ([`crate::lowlat`]).
pub fn wait_readable(fd: RawFd, stop: &StopFd) -> bool {
    loop {
        let mut pfd = [
            libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: stop.raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: pfd is a valid array of two pollfds.
        let r = unsafe { libc::poll(pfd.as_mut_ptr(), 2, -1) };
        if r < 0 {
            if last_errno() == libc::EINTR {
                continue;
            }
            return false;
        }
        if pfd[1].revents != 0 {
            return false;
        }
        if pfd[0].revents != 0 {
            crate::lowlat::note_activity();
            return true;
        }
    }
}

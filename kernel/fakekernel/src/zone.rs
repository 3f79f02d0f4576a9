//! Zones on Linux: a VNIC's TAP moved into a named network namespace.
//!
//! Theory of operation: on illumos `dladm set-linkprop -p zone=<z> <vnic>`
//! assigns the datalink to an exclusive-IP zone, where it is plumbed and
//! used; the global zone still owns and manages it. fkoverlayd's stand-in
//! for an exclusive-IP zone is a named network namespace, the file
//! `FK_NETNS_DIR/<name>` that `ip netns add <name>` creates, and the
//! global zone is fkoverlayd's own namespace. [`zone_move`] moves the
//! interface with one `RTM_NEWLINK` carrying `IFLA_NET_NS_FD` (what `ip
//! link set dev <if> netns <ns>` sends), from a short-lived thread that
//! has entered the namespace the interface is in now (a netlink socket
//! works in the namespace of the thread that opens it). The TAP's
//! descriptor, which fkoverlayd keeps, stays attached to the device, so
//! frames keep flowing; deleting the VNIC closes it and the interface
//! goes wherever it is.
//!
//! Errors are Linux errnos from the kernel, or `EINVAL` for a zone name
//! that is not a plain file name or whose namespace file does not exist.

use overlay_sys::fk::{FK_NETNS_DIR, FK_ZONENAME_MAX};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

/// `RTM_NEWLINK`.
const RTM_NEWLINK: u16 = 16;
/// `IFLA_NET_NS_FD`.
const IFLA_NET_NS_FD: u16 = 28;
/// `NLMSG_ERROR`.
const NLMSG_ERROR: u16 = 2;
/// `NLM_F_REQUEST | NLM_F_ACK`.
const NLM_F_REQUEST_ACK: u16 = 1 | 4;

/// The global zone's name as dladm prints and accepts it.
pub const GLOBAL_ZONENAME: &str = "global";

/// The namespace file of zone `name`; `EINVAL` for a name that cannot be
/// one (empty, `global`, a path, too long).
pub fn zone_path(name: &str) -> Result<PathBuf, i32> {
    if name.is_empty()
        || name == GLOBAL_ZONENAME
        || name == "."
        || name == ".."
        || name.len() >= FK_ZONENAME_MAX
        || name.contains(['/', '\0'])
    {
        return Err(libc::EINVAL);
    }
    Ok(PathBuf::from(FK_NETNS_DIR).join(name))
}

/// Opens zone `zone`'s namespace (`None`: the global zone, ours).
fn open_ns(zone: Option<&str>) -> Result<File, i32> {
    let p = match zone {
        Some(z) => zone_path(z)?,
        None => PathBuf::from("/proc/self/ns/net"),
    };
    let f = File::open(&p).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOENT) | None => libc::EINVAL,
        Some(e) => e,
    })?;
    // A file that is not a namespace (a stray file in the directory) is
    // refused by setns and by the kernel's IFLA_NET_NS_FD check alike.
    Ok(f)
}

/// Moves interface `ifname` from zone `from` to zone `to` (`None`: the
/// global zone).
pub fn zone_move(ifname: &str, from: Option<&str>, to: Option<&str>) -> Result<(), i32> {
    let target = open_ns(to)?;
    let here = match from {
        Some(z) => Some(open_ns(Some(z))?),
        None => None,
    };
    let name = std::ffi::CString::new(ifname).map_err(|_| libc::EINVAL)?;
    std::thread::Builder::new()
        .name("zone-move".into())
        .spawn(move || {
            if let Some(ns) = &here {
                // SAFETY: setns on an open namespace file; it changes only
                // this short-lived thread's network namespace.
                if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    return Err(last_errno());
                }
            }
            // SAFETY: if_nametoindex reads a NUL-terminated string.
            let idx = unsafe { libc::if_nametoindex(name.as_ptr()) };
            if idx == 0 {
                return Err(libc::ENODEV);
            }
            set_netns(idx, target.as_raw_fd())
        })
        .map_err(|_| libc::ENOMEM)?
        .join()
        .unwrap_or(Err(libc::EIO))
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// `RTM_NEWLINK { ifi_index = idx } IFLA_NET_NS_FD = nsfd` on a route
/// netlink socket of the calling thread's namespace; waits for the ack.
fn set_netns(idx: u32, nsfd: i32) -> Result<(), i32> {
    // SAFETY: plain socket(2) call.
    let s = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if s < 0 {
        return Err(last_errno());
    }
    // SAFETY: s is a fresh descriptor we own.
    let s = unsafe { OwnedFd::from_raw_fd(s) };
    // nlmsghdr (16) + ifinfomsg (16) + rtattr (4) + u32.
    let mut m = [0u8; 40];
    m[0..4].copy_from_slice(&40u32.to_ne_bytes());
    m[4..6].copy_from_slice(&RTM_NEWLINK.to_ne_bytes());
    m[6..8].copy_from_slice(&NLM_F_REQUEST_ACK.to_ne_bytes());
    m[8..12].copy_from_slice(&1u32.to_ne_bytes());
    // ifinfomsg: family AF_UNSPEC, type 0, index, flags 0, change 0.
    m[20..24].copy_from_slice(&idx.to_ne_bytes());
    m[32..34].copy_from_slice(&8u16.to_ne_bytes());
    m[34..36].copy_from_slice(&IFLA_NET_NS_FD.to_ne_bytes());
    m[36..40].copy_from_slice(&(nsfd as u32).to_ne_bytes());
    // SAFETY: sockaddr_nl is plain data; zero (pid 0: the kernel) is valid.
    let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: m and sa are valid for the lengths given.
    let r = unsafe {
        libc::sendto(
            s.as_raw_fd(),
            m.as_ptr().cast(),
            m.len(),
            0,
            (&sa as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(last_errno());
    }
    let mut buf = [0u8; 1024];
    loop {
        // SAFETY: buf is writable for its length.
        let n = unsafe { libc::recv(s.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let e = last_errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        let n = n as usize;
        if n < 20 {
            return Err(libc::EIO);
        }
        let ty = u16::from_ne_bytes([buf[4], buf[5]]);
        if ty != NLMSG_ERROR {
            continue;
        }
        let err = i32::from_ne_bytes([buf[16], buf[17], buf[18], buf[19]]);
        return if err == 0 { Ok(()) } else { Err(-err) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_names_that_cannot_be_namespaces_are_refused() {
        for bad in ["", "global", ".", "..", "a/b", "../x", &"z".repeat(64)] {
            assert_eq!(zone_path(bad), Err(libc::EINVAL), "{bad:?}");
        }
        assert_eq!(
            zone_path("z1").unwrap(),
            PathBuf::from(FK_NETNS_DIR).join("z1")
        );
        assert_eq!(
            zone_move("lo", None, Some("no-such-zone-xyz")),
            Err(libc::EINVAL)
        );
    }
}

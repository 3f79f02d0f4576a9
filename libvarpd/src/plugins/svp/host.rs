//! Host name resolution (`libvarpd_svp_host.c`).
//!
//! # Theory of operation
//!
//! `svp/host` names the mapping servers: a DNS name with one address per
//! server, or a literal address. Each remote is resolved when it is created
//! and then every 30 ticks (`svp_dns_timer_rate`), by a resolver thread
//! that calls `getaddrinfo(3C)` (blocking, so never on the event loop). A
//! remote is queued at most once at a time (`SVP_RS_LOOKUP_SCHEDULED`) and
//! resolved by one thread at a time (`SVP_RS_LOOKUP_INPROGRESS`).
//!
//! The outcome ([`ResolveError`]):
//!
//! * addresses: the DNS degrade is cleared and the remote reconciles its
//!   connections with them (`svp_remote_resolved`);
//! * a permanent failure (`EAI_FAIL`, `EAI_NODATA`, `EAI_NONAME`, and here
//!   every other error, which illumos panics on): the remote is degraded
//!   with `failed to resolve or find entries for hostname <host>`;
//! * a temporary failure (`EAI_AGAIN`, `EAI_MEMORY`, `EAI_SYSTEM`): illumos
//!   retries at once in a tight loop; here the remote is retried one tick
//!   later, and from the third consecutive temporary failure it is degraded
//!   like a permanent one (a resolver that keeps timing out is as useless).
//!
//! The lookup itself is behind [`SvpResolver`] so tests can name several
//! loopback servers without touching the system's resolver.

use std::ffi::{CStr, CString};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use super::ctx::{ResolveError, SvpResolver};

/// Consecutive temporary failures after which a remote is degraded.
pub const SVP_DNS_TEMPFAIL_DEGRADE: u32 = 3;

/// The system resolver: `getaddrinfo(host, NULL, {SOCK_STREAM})`.
#[derive(Clone, Copy, Debug, Default)]
pub struct GetAddrInfo;

fn gai_text(err: libc::c_int) -> String {
    // SAFETY: gai_strerror returns a pointer to a static, NUL-terminated
    // string for any code (or NULL, checked).
    let p = unsafe { libc::gai_strerror(err) };
    if p.is_null() {
        return format!("getaddrinfo error {err}");
    }
    // SAFETY: p is non-NULL and points at a static C string.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

impl SvpResolver for GetAddrInfo {
    fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, ResolveError> {
        let c = CString::new(host)
            .map_err(|_| ResolveError::Other(format!("invalid host name {host:?}")))?;
        // SAFETY: addrinfo is plain old data; all-zero is a valid "no hints".
        let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
        hints.ai_family = libc::AF_UNSPEC;
        hints.ai_socktype = libc::SOCK_STREAM;
        let mut res: *mut libc::addrinfo = std::ptr::null_mut();
        // SAFETY: c is a valid C string, hints a valid addrinfo, res a valid
        // out pointer; the result list is freed below.
        let err = unsafe { libc::getaddrinfo(c.as_ptr(), std::ptr::null(), &hints, &mut res) };
        if err != 0 {
            let text = gai_text(err);
            return Err(match err {
                libc::EAI_AGAIN | libc::EAI_MEMORY | libc::EAI_SYSTEM => {
                    ResolveError::Temporary(text)
                }
                libc::EAI_FAIL | libc::EAI_NONAME | EAI_NODATA => ResolveError::NotFound(text),
                _ => ResolveError::Other(text),
            });
        }
        let mut out = Vec::new();
        let mut p = res;
        while !p.is_null() {
            // SAFETY: p is a node of the list getaddrinfo returned, not yet
            // freed.
            let ai = unsafe { &*p };
            if !ai.ai_addr.is_null() {
                if ai.ai_family == libc::AF_INET
                    && ai.ai_addrlen as usize >= std::mem::size_of::<libc::sockaddr_in>()
                {
                    // SAFETY: family AF_INET with a long enough address
                    // means ai_addr points at a sockaddr_in.
                    let sin = unsafe { &*(ai.ai_addr as *const libc::sockaddr_in) };
                    out.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                        sin.sin_addr.s_addr,
                    ))));
                } else if ai.ai_family == libc::AF_INET6
                    && ai.ai_addrlen as usize >= std::mem::size_of::<libc::sockaddr_in6>()
                {
                    // SAFETY: as above for AF_INET6 and sockaddr_in6.
                    let sin6 = unsafe { &*(ai.ai_addr as *const libc::sockaddr_in6) };
                    out.push(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
                }
            }
            p = ai.ai_next;
        }
        // SAFETY: res came from a successful getaddrinfo and is freed once.
        unsafe { libc::freeaddrinfo(res) };
        Ok(out)
    }
}

/// `EAI_NODATA` (a GNU extension on Linux that the libc crate may lack).
#[cfg(target_os = "linux")]
const EAI_NODATA: libc::c_int = -5;
#[cfg(not(target_os = "linux"))]
const EAI_NODATA: libc::c_int = libc::EAI_NODATA;

/// `getaddrinfo` through the configured resolver (the system's by
/// default).
pub(crate) fn svp_host_lookup(
    resolver: Option<&Arc<dyn SvpResolver>>,
    host: &str,
) -> Result<Vec<IpAddr>, ResolveError> {
    match resolver {
        Some(r) => r.resolve(host),
        None => GetAddrInfo.resolve(host),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_addresses_resolve() {
        let r = GetAddrInfo.resolve("127.0.0.1").unwrap();
        assert_eq!(r, vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]);
        let r = GetAddrInfo.resolve("::1").unwrap();
        assert_eq!(r, vec![IpAddr::V6(Ipv6Addr::LOCALHOST)]);
        assert!(matches!(
            GetAddrInfo.resolve("a\0b"),
            Err(ResolveError::Other(_))
        ));
    }
}

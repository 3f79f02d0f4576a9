//! Property values as the plugins' `vpo_getprop`, `vpo_setprop`,
//! `vpo_save` and `vpo_restore` carry them.
//!
//! # Theory of operation
//!
//! Over the door a property value is raw bytes (spec/userland.md §2.2,
//! §1.4), and every illumos plugin encodes and checks them the same way:
//!
//! | type | getprop | setprop |
//! |---|---|---|
//! | UINT | 8 bytes, a `uint64_t` in host order; size 0 when unset; EOVERFLOW for a buffer under 8 bytes | the first 8 bytes (EOVERFLOW if fewer), EINVAL outside the property's range |
//! | IP | 16 bytes, an `in6_addr` (IPv4 as v4-mapped); size 0 when unset; EOVERFLOW under 16 | the first 16 bytes (EOVERFLOW if fewer) |
//! | STRING | the bytes and a NUL; size 0 when unset; EOVERFLOW when it does not fit | up to the first NUL, if any (`strlcpy`); EINVAL if not UTF-8 |
//!
//! Saved state is JSON (the nvlist of `vpo_save`): integers as numbers,
//! strings as strings, addresses as their IPv6 text. The `saved_*`
//! helpers read one key back for `vpo_restore`: `None` when it is missing,
//! EINVAL when it has the wrong type or is out of range. Each plugin keeps
//! its own checks of what a value may be (a host name, an underlay
//! address); the address predicates they share are here too.

use std::net::Ipv6Addr;

use crate::errno::Errno;

/// `sizeof (uint64_t)`: the size of a UINT property's value.
pub const PROP_UINT_SIZE: usize = 8;
/// `sizeof (struct in6_addr)`: the size of an IP property's value.
pub const PROP_IP_SIZE: usize = 16;

/// getprop of a UINT: `v` as 8 bytes in host order, size 0 when unset.
pub fn prop_get_uint(buf: &mut [u8], v: Option<u64>) -> Result<usize, Errno> {
    if buf.len() < PROP_UINT_SIZE {
        return Err(Errno::EOVERFLOW);
    }
    let Some(v) = v else {
        return Ok(0);
    };
    buf[..PROP_UINT_SIZE].copy_from_slice(&v.to_ne_bytes());
    Ok(PROP_UINT_SIZE)
}

/// setprop of a UINT: the first 8 bytes (EOVERFLOW if fewer) as a
/// `uint64_t`, which must be within `min..=max` (EINVAL).
pub fn prop_set_uint(val: &[u8], min: u64, max: u64) -> Result<u64, Errno> {
    let b: [u8; PROP_UINT_SIZE] = val
        .get(..PROP_UINT_SIZE)
        .and_then(|b| b.try_into().ok())
        .ok_or(Errno::EOVERFLOW)?;
    Some(u64::from_ne_bytes(b))
        .filter(|v| (min..=max).contains(v))
        .ok_or(Errno::EINVAL)
}

/// setprop of a UINT port: [`prop_set_uint`] within 1–65535.
pub fn prop_set_port(val: &[u8]) -> Result<u16, Errno> {
    let v = prop_set_uint(val, 1, u64::from(u16::MAX))?;
    u16::try_from(v).map_err(|_| Errno::EINVAL)
}

/// getprop of an IP: the 16 bytes of `ip`, size 0 when unset.
pub fn prop_get_ip(buf: &mut [u8], ip: Option<Ipv6Addr>) -> Result<usize, Errno> {
    if buf.len() < PROP_IP_SIZE {
        return Err(Errno::EOVERFLOW);
    }
    let Some(ip) = ip else {
        return Ok(0);
    };
    buf[..PROP_IP_SIZE].copy_from_slice(&ip.octets());
    Ok(PROP_IP_SIZE)
}

/// setprop of an IP: the first 16 bytes (EOVERFLOW if fewer).
pub fn prop_set_ip(val: &[u8]) -> Result<Ipv6Addr, Errno> {
    let b: [u8; PROP_IP_SIZE] = val
        .get(..PROP_IP_SIZE)
        .and_then(|b| b.try_into().ok())
        .ok_or(Errno::EOVERFLOW)?;
    Ok(Ipv6Addr::from(b))
}

/// getprop of a STRING: its bytes and a NUL, size 0 when unset.
pub fn prop_get_string(buf: &mut [u8], s: Option<&str>) -> Result<usize, Errno> {
    let Some(s) = s else {
        return Ok(0);
    };
    let len = s.len() + 1;
    if buf.len() < len {
        return Err(Errno::EOVERFLOW);
    }
    buf[..s.len()].copy_from_slice(s.as_bytes());
    buf[s.len()] = 0;
    Ok(len)
}

/// setprop of a STRING: the bytes up to the first NUL, if any; EINVAL if
/// they are not UTF-8.
pub fn prop_set_string(val: &[u8]) -> Result<&str, Errno> {
    let end = val.iter().position(|b| *b == 0).unwrap_or(val.len());
    std::str::from_utf8(&val[..end]).map_err(|_| Errno::EINVAL)
}

/// Saved state (a `vpo_save` object) as `vpo_restore` reads it.
pub type SavedObject = serde_json::Map<String, serde_json::Value>;

/// The saved integer `key`: `None` if missing; EINVAL unless a number in
/// `min..=max`.
pub fn saved_uint(obj: &SavedObject, key: &str, min: u64, max: u64) -> Result<Option<u64>, Errno> {
    obj.get(key)
        .map(|v| {
            v.as_u64()
                .filter(|v| (min..=max).contains(v))
                .ok_or(Errno::EINVAL)
        })
        .transpose()
}

/// The saved string `key`: `None` if missing; EINVAL unless a string.
pub fn saved_string<'a>(obj: &'a SavedObject, key: &str) -> Result<Option<&'a str>, Errno> {
    obj.get(key)
        .map(|v| v.as_str().ok_or(Errno::EINVAL))
        .transpose()
}

/// The saved address `key` (IPv6 text): `None` if missing; EINVAL unless
/// a string that parses.
pub fn saved_ip(obj: &SavedObject, key: &str) -> Result<Option<Ipv6Addr>, Errno> {
    saved_string(obj, key)?
        .map(|s| s.parse().map_err(|_| Errno::EINVAL))
        .transpose()
}

/// `IN6_IS_ADDR_V4COMPAT`: `::a.b.c.d` with the last word above 1.
pub fn in6_is_addr_v4compat(ip: &Ipv6Addr) -> bool {
    let o = ip.octets();
    o[..12] == [0; 12] && u32::from_be_bytes([o[12], o[13], o[14], o[15]]) > 1
}

/// `IN6_IS_ADDR_6TO4`: `2002::/16`.
pub fn in6_is_addr_6to4(ip: &Ipv6Addr) -> bool {
    let o = ip.octets();
    o[0] == 0x20 && o[1] == 0x02
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uint() {
        let mut b = [0u8; 8];
        assert_eq!(prop_get_uint(&mut b[..7], Some(1)), Err(Errno::EOVERFLOW));
        assert_eq!(prop_get_uint(&mut b[..7], None), Err(Errno::EOVERFLOW));
        assert_eq!(prop_get_uint(&mut b, None), Ok(0));
        assert_eq!(prop_get_uint(&mut b, Some(4789)), Ok(8));
        assert_eq!(b, 4789u64.to_ne_bytes());
        assert_eq!(prop_set_port(&b), Ok(4789));
        assert_eq!(prop_set_port(&b[..7]), Err(Errno::EOVERFLOW));
        assert_eq!(prop_set_port(&0u64.to_ne_bytes()), Err(Errno::EINVAL));
        assert_eq!(prop_set_port(&65536u64.to_ne_bytes()), Err(Errno::EINVAL));
        assert_eq!(prop_set_port(&65535u64.to_ne_bytes()), Ok(65535));
        assert_eq!(prop_set_uint(&7u64.to_ne_bytes(), 8, 9), Err(Errno::EINVAL));
    }

    #[test]
    fn ip_and_string() {
        let mut b = [0u8; 16];
        let ip: Ipv6Addr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(prop_get_ip(&mut b[..15], None), Err(Errno::EOVERFLOW));
        assert_eq!(prop_get_ip(&mut b, Some(ip)), Ok(16));
        assert_eq!(prop_set_ip(&b), Ok(ip));
        assert_eq!(prop_set_ip(&b[..15]), Err(Errno::EOVERFLOW));
        assert_eq!(prop_get_string(&mut b[..0], None), Ok(0));
        assert_eq!(
            prop_get_string(&mut b[..3], Some("abc")),
            Err(Errno::EOVERFLOW)
        );
        assert_eq!(prop_get_string(&mut b, Some("abc")), Ok(4));
        assert_eq!(&b[..4], b"abc\0");
        assert_eq!(prop_set_string(b"ab\0cd"), Ok("ab"));
        assert_eq!(prop_set_string(&[0xff]), Err(Errno::EINVAL));
    }

    #[test]
    fn saved() {
        let v = serde_json::json!({"p": 70000, "s": "x", "ip": "::1", "bad": 1});
        let o = v.as_object().unwrap();
        assert_eq!(saved_uint(o, "p", 0, 65535), Err(Errno::EINVAL));
        assert_eq!(saved_uint(o, "p", 0, u64::MAX), Ok(Some(70000)));
        assert_eq!(saved_uint(o, "none", 0, 1), Ok(None));
        assert_eq!(saved_uint(o, "s", 0, 1), Err(Errno::EINVAL));
        assert_eq!(saved_string(o, "s"), Ok(Some("x")));
        assert_eq!(saved_string(o, "bad"), Err(Errno::EINVAL));
        assert_eq!(saved_ip(o, "ip"), Ok(Some(Ipv6Addr::LOCALHOST)));
        assert_eq!(saved_ip(o, "s"), Err(Errno::EINVAL));
        assert!(in6_is_addr_v4compat(&"::10.0.0.1".parse().unwrap()));
        assert!(!in6_is_addr_v4compat(&Ipv6Addr::LOCALHOST));
        assert!(in6_is_addr_6to4(&"2002::1".parse().unwrap()));
    }
}

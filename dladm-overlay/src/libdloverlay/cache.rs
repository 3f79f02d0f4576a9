//! The target table of an overlay through varpd (`dladm_overlay_cache_*`,
//! `dladm_overlay_walk_cache`): what `modify-overlay` changes and
//! `show-overlay -t` prints.
//!
//! Theory of operation: each operation finds the overlay's varpd instance
//! (`LOOKUP`), then asks it; a destination typed by the user is parsed
//! against the parts the encapsulation needs (`OVERLAY_PLUGIN_D_*`, from
//! `TARGET_MODE`), and a malformed one is named in the error list with
//! the syntax expected. A point-to-point instance has no table (varpd
//! answers `ENOTSUP`); its one default destination is walked as the
//! entry with the `default` flag.

use crate::backend::*;
use crate::prop;
use crate::status::{ErrList, Status};

pub(crate) fn lookup(b: &mut dyn Backend, linkid: LinkId) -> Result<u64, Status> {
    b.varpd_open().map_err(Status::from_errno)?;
    b.varpd_lookup(linkid).map_err(Status::from_errno)
}

/// `dladm_overlay_cache_flush()`.
pub fn cache_flush(b: &mut dyn Backend, linkid: LinkId) -> Result<(), Status> {
    let id = lookup(b, linkid)?;
    b.varpd_cache_flush(id).map_err(Status::from_errno)
}

/// `dladm_overlay_cache_delete()`.
pub fn cache_delete(b: &mut dyn Backend, linkid: LinkId, key: [u8; 6]) -> Result<(), Status> {
    let id = lookup(b, linkid)?;
    b.varpd_cache_delete(id, key).map_err(Status::from_errno)
}

/// `dladm_overlay_cache_set()`: `value` per §7.5 (FIX §12 #14: every
/// parse failure is an error, and IPv6 with a port is written
/// `[addr]:port`).
pub fn cache_set(
    b: &mut dyn Backend,
    linkid: LinkId,
    key: [u8; 6],
    value: &str,
    errs: &mut ErrList,
) -> Result<(), Status> {
    let id = lookup(b, linkid)?;
    let (dest, _mode) = b.varpd_target_mode(id).map_err(Status::from_errno)?;
    let ent = parse_cache_value(value, dest).inspect_err(|_| {
        errs.append(format!(
            "invalid destination '{value}': expected {}",
            dest_syntax(dest)
        ))
    })?;
    b.varpd_cache_set(id, key, &ent).map_err(Status::from_errno)
}

/// What `modify-overlay -s mac=<dest>` takes for an overlay whose
/// destinations have the parts `dest` (`OVERLAY_PLUGIN_D_*`).
pub fn dest_syntax(dest: u32) -> String {
    let eth = dest & OVERLAY_PLUGIN_D_ETHERNET != 0;
    let ip = dest & OVERLAY_PLUGIN_D_IP != 0;
    let port = dest & OVERLAY_PLUGIN_D_PORT != 0;
    let mut forms: Vec<String> = match (ip, port) {
        (true, true) => vec!["ip:port".into(), "[ipv6]:port".into()],
        (true, false) => vec!["ip".into()],
        (false, true) => vec!["port".into()],
        (false, false) => vec![],
    };
    if eth {
        if forms.is_empty() {
            forms.push("mac".into());
        } else {
            forms = forms.into_iter().map(|f| format!("mac,{f}")).collect();
        }
    }
    forms.push("drop".into());
    let last = forms.pop().unwrap_or_default();
    if forms.is_empty() {
        last
    } else {
        format!("{} or {last}", forms.join(", "))
    }
}

/// The destination syntax of `modify-overlay -s mac=<dest>`.
pub fn parse_cache_value(value: &str, dest: u32) -> Result<CacheEntry, Status> {
    let mut ent = CacheEntry::default();
    if value.eq_ignore_ascii_case("drop") {
        ent.flags = OVERLAY_TARGET_CACHE_DROP;
        return Ok(ent);
    }
    let has_eth = dest & OVERLAY_PLUGIN_D_ETHERNET != 0;
    let has_ip = dest & OVERLAY_PLUGIN_D_IP != 0;
    let has_port = dest & OVERLAY_PLUGIN_D_PORT != 0;
    let mut rest = value;
    if has_eth {
        let (m, r) = if has_ip || has_port {
            value.split_once(',').ok_or(Status::BadArg)?
        } else {
            (value, "")
        };
        ent.mac = crate::linkname::ether_aton(m).ok_or(Status::BadArg)?;
        rest = r;
    }
    let port_str;
    if has_ip {
        let ip_str;
        if has_port {
            if let Some(r) = rest.strip_prefix('[') {
                let (a, p) = r.split_once("]:").ok_or(Status::BadArg)?;
                ip_str = a;
                port_str = p;
            } else {
                let (a, p) = rest.rsplit_once(':').ok_or(Status::BadArg)?;
                if a.contains(':') {
                    // A bare IPv6 address with a port is ambiguous.
                    return Err(Status::BadArg);
                }
                ip_str = a;
                port_str = p;
            }
        } else {
            ip_str = rest
                .strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .unwrap_or(rest);
            port_str = "";
        }
        let a = prop::parse_ip(ip_str).ok_or(Status::BadArg)?;
        ent.ip = a.octets();
    } else {
        port_str = rest;
    }
    if has_port {
        if port_str.is_empty() || !port_str.bytes().all(|c| c.is_ascii_digit()) {
            return Err(Status::BadArg);
        }
        let p: u32 = port_str.parse().map_err(|_| Status::BadArg)?;
        if p == 0 || p > 65535 {
            return Err(Status::BadArg);
        }
        ent.port = p as u16;
    } else if !port_str.is_empty() {
        return Err(Status::BadArg);
    }
    Ok(ent)
}

/// One row of `show-overlay -t`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachePoint {
    pub key: [u8; 6],
    pub dest: u32,
    pub entry: CacheEntry,
    /// `DLADM_OVERLAY_F_DEFAULT`: the POINT-mode default destination.
    pub default: bool,
}

/// `dladm_overlay_walk_cache()`.
pub fn walk_cache(b: &mut dyn Backend, linkid: LinkId) -> Result<Vec<CachePoint>, Status> {
    let id = lookup(b, linkid)?;
    let (dest, mode) = b.varpd_target_mode(id).map_err(Status::from_errno)?;
    let ents = b.varpd_cache_walk(id).map_err(Status::from_errno)?;
    Ok(ents
        .into_iter()
        .map(|(key, entry)| CachePoint {
            key,
            dest,
            entry,
            default: mode == OVERLAY_TARGET_POINT,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_values() {
        let v = OVERLAY_PLUGIN_D_IP | OVERLAY_PLUGIN_D_PORT;
        let e = parse_cache_value("10.1.2.3:4789", v).unwrap();
        assert_eq!(e.port, 4789);
        assert_eq!(prop::ip_to_string(&e.ip.into()), "10.1.2.3");
        let e = parse_cache_value("[fd00::1]:8", v).unwrap();
        assert_eq!(prop::ip_to_string(&e.ip.into()), "fd00::1");
        assert_eq!(e.port, 8);
        assert_eq!(
            parse_cache_value("DROP", v).unwrap().flags,
            OVERLAY_TARGET_CACHE_DROP
        );
        for bad in [
            "10.1.2.3",
            "fd00::1:8",
            "10.1.2.3:0",
            "10.1.2.3:70000",
            "x:1",
            "[fd00::1]",
        ] {
            assert_eq!(parse_cache_value(bad, v), Err(Status::BadArg), "{bad}");
        }
        let all = v | OVERLAY_PLUGIN_D_ETHERNET;
        let e = parse_cache_value("0:1:2:3:4:5,10.0.0.1:9", all).unwrap();
        assert_eq!(e.mac, [0, 1, 2, 3, 4, 5]);
        let e = parse_cache_value("0:1:2:3:4:5", OVERLAY_PLUGIN_D_ETHERNET).unwrap();
        assert_eq!(e.mac, [0, 1, 2, 3, 4, 5]);
        assert!(parse_cache_value("0:1:2:3:4:5", all).is_err());
    }
}

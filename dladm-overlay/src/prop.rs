//! Overlay properties as dladm sees them: the property description
//! (`overlay_ioc_propinfo_t` / `varpd_client_propinfo_arg_t`, unified as
//! libdladm's `dladm_overlay_propinfo_handle_t`), value parsing
//! (`dladm_overlay_parse_prop`, §7.8), value formatting
//! (`print_overlay_value`), the "possible values" range
//! (`mac_propval_range_t`, `dladm_range2strs`) and the `-p` list syntax
//! (`dladm_parse_link_props`).
//!
//! Parsing is strict where illumos was not (§7.8): trailing junk, negative
//! numbers for unsigned properties and values outside the range the
//! property advertises are refused with a message naming the property, the
//! value and what is accepted. Formatting prints 64-bit values in full
//! (illumos printed them with `%d`, §12 #18).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use overlay_sys::{
    OVERLAY_PROP_PERM_READ, OVERLAY_PROP_PERM_REQ, OVERLAY_PROP_PERM_RW, OVERLAY_PROP_PERM_WRITE,
    OVERLAY_PROP_T_INT, OVERLAY_PROP_T_IP, OVERLAY_PROP_T_STRING, OVERLAY_PROP_T_UINT,
};

/// `OVERLAY_PROP_SIZEMAX`: value, default and range buffers.
pub const PROP_SIZEMAX: usize = overlay_sys::OVERLAY_PROP_SIZEMAX;
pub use overlay_sys::{MAC_PROPVAL_STR, MAC_PROPVAL_UINT32};

/// The "possible values" of a property.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Range {
    /// `mpr_count == 0`.
    #[default]
    None,
    /// Inclusive `uint32` ranges.
    Uint32(Vec<(u32, u32)>),
    /// A list of strings.
    Str(Vec<String>),
    /// A range dladm cannot convert (prints `?`).
    Unknown,
}

impl Range {
    /// Decode a `mac_propval_range_t` image (`oipi_poss`/`vcfa_poss`).
    pub fn decode(poss: &[u8]) -> Range {
        let u32at = |o: usize| -> Option<u32> {
            poss.get(o..o + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let (Some(count), Some(ty)) = (u32at(0), u32at(4)) else {
            return Range::None;
        };
        if count == 0 {
            return Range::None;
        }
        match ty {
            MAC_PROPVAL_UINT32 => {
                let mut v = Vec::new();
                for i in 0..count as usize {
                    match (u32at(8 + 8 * i), u32at(12 + 8 * i)) {
                        (Some(a), Some(b)) => v.push((a, b)),
                        _ => return Range::Unknown,
                    }
                }
                Range::Uint32(v)
            }
            MAC_PROPVAL_STR => {
                let data = poss.get(12..).unwrap_or(&[]);
                let mut v = Vec::new();
                let mut it = data.split(|&b| b == 0);
                for _ in 0..count {
                    match it.next() {
                        Some(s) => v.push(String::from_utf8_lossy(s).into_owned()),
                        None => return Range::Unknown,
                    }
                }
                Range::Str(v)
            }
            _ => Range::Unknown,
        }
    }

    /// Encode as a 256-byte `mac_propval_range_t` image (for fakes).
    pub fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; PROP_SIZEMAX];
        match self {
            Range::None | Range::Unknown => {}
            Range::Uint32(v) => {
                b[0..4].copy_from_slice(&(v.len() as u32).to_le_bytes());
                b[4..8].copy_from_slice(&MAC_PROPVAL_UINT32.to_le_bytes());
                for (i, (lo, hi)) in v.iter().enumerate() {
                    let o = 8 + 8 * i;
                    if o + 8 > PROP_SIZEMAX {
                        break;
                    }
                    b[o..o + 4].copy_from_slice(&lo.to_le_bytes());
                    b[o + 4..o + 8].copy_from_slice(&hi.to_le_bytes());
                }
            }
            Range::Str(v) => {
                b[0..4].copy_from_slice(&(v.len() as u32).to_le_bytes());
                b[4..8].copy_from_slice(&MAC_PROPVAL_STR.to_le_bytes());
                let mut o = 12;
                for s in v {
                    let n = s.len();
                    if o + n + 1 > PROP_SIZEMAX {
                        break;
                    }
                    b[o..o + n].copy_from_slice(s.as_bytes());
                    o += n + 1;
                }
                b[8..12].copy_from_slice(&((o - 12) as u32).to_le_bytes());
            }
        }
        b
    }

    /// `dladm_range2strs` joined with `,`: the POSSIBLE column.
    pub fn to_strs(&self) -> Option<Vec<String>> {
        match self {
            Range::None => Some(Vec::new()),
            Range::Unknown => None,
            Range::Uint32(v) => Some(
                v.iter()
                    .map(|&(a, b)| {
                        if a == b {
                            format!("{a}")
                        } else {
                            format!("{a}-{b}")
                        }
                    })
                    .collect(),
            ),
            Range::Str(v) => Some(v.clone()),
        }
    }
}

/// One property's description, from the kernel or from varpd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropInfo {
    /// The property id (kernel `oipi_id` or varpd `vcfa_propid`).
    pub id: u32,
    pub name: String,
    pub ptype: u32,
    pub prot: u32,
    /// The default value's bytes (empty: no default).
    pub default: Vec<u8>,
    pub range: Range,
}

impl PropInfo {
    pub fn required(&self) -> bool {
        self.prot & OVERLAY_PROP_PERM_REQ != 0
    }
}

/// `print_overlay_value()`, with 64-bit values printed in full.
/// `Err(msg)` is a warning to print (and the value shows as `--`).
pub fn format_value(ptype: u32, v: &[u8]) -> Result<String, String> {
    match ptype {
        OVERLAY_PROP_T_INT => Ok(match v.len() {
            1 => format!("{}", v[0] as i8),
            2 => format!("{}", i16::from_le_bytes([v[0], v[1]])),
            4 => format!("{}", i32::from_le_bytes([v[0], v[1], v[2], v[3]])),
            8 => format!("{}", i64::from_le_bytes(arr8(v))),
            _ => "?".into(),
        }),
        OVERLAY_PROP_T_UINT => Ok(match v.len() {
            1 => format!("{}", v[0]),
            2 => format!("{}", u16::from_le_bytes([v[0], v[1]])),
            4 => format!("{}", u32::from_le_bytes([v[0], v[1], v[2], v[3]])),
            8 => format!("{}", u64::from_le_bytes(arr8(v))),
            _ => "?".into(),
        }),
        OVERLAY_PROP_T_IP => {
            if v.len() != 16 {
                return Err(format!("malformed overlay IP property: {} bytes", v.len()));
            }
            let mut a = [0u8; 16];
            a.copy_from_slice(v);
            Ok(ip_to_string(&Ipv6Addr::from(a)))
        }
        OVERLAY_PROP_T_STRING => {
            let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
            Ok(String::from_utf8_lossy(&v[..end]).into_owned())
        }
        _ => Ok("?".into()),
    }
}

fn arr8(v: &[u8]) -> [u8; 8] {
    let mut a = [0u8; 8];
    a.copy_from_slice(&v[..8]);
    a
}

/// An IPv6 address as illumos prints it: v4-mapped as a dotted quad.
pub fn ip_to_string(a: &Ipv6Addr) -> String {
    match a.to_ipv4_mapped() {
        Some(v4) => v4.to_string(),
        None => a.to_string(),
    }
}

/// An address in the property encoding (IPv4 as v4-mapped IPv6).
pub fn ip_to_v6(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// Parse an IP address the way `inet_pton(AF_INET6)` then `AF_INET` does.
pub fn parse_ip(s: &str) -> Option<Ipv6Addr> {
    if let Ok(v6) = s.parse::<Ipv6Addr>() {
        return Some(v6);
    }
    s.parse::<Ipv4Addr>().ok().map(|v4| v4.to_ipv6_mapped())
}

/// Why a value was refused, as the tail of the message
/// `invalid value '<v>' for property <name>: <why>`.
fn accepted(info: &PropInfo) -> String {
    match info.ptype {
        OVERLAY_PROP_T_UINT | OVERLAY_PROP_T_INT => {
            if let Range::Uint32(r) = &info.range {
                if !r.is_empty() {
                    // Range::to_strs cannot fail for Uint32.
                    let strs = info.range.to_strs().unwrap_or_default();
                    return format!("must be in {}", strs.join(","));
                }
            }
            if info.ptype == OVERLAY_PROP_T_UINT {
                format!("must be in 0-{}", u64::MAX)
            } else {
                format!("must be in {}-{}", i64::MIN, i64::MAX)
            }
        }
        OVERLAY_PROP_T_IP => "must be an IPv4 or IPv6 address".into(),
        OVERLAY_PROP_T_STRING => match &info.range {
            Range::Str(v) if !v.is_empty() => {
                let (ranges, words): (Vec<&String>, Vec<&String>) =
                    v.iter().partition(|p| num_range(p).is_some());
                let join =
                    |l: &[&String]| l.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",");
                match (ranges.is_empty(), words.len()) {
                    (true, _) => format!("must be one of {}", join(&words)),
                    (false, 0) => format!("must be in {}", join(&ranges)),
                    (false, 1) => format!("must be in {} or {}", join(&ranges), words[0]),
                    (false, _) => {
                        format!("must be in {} or one of {}", join(&ranges), join(&words))
                    }
                }
            }
            _ => format!("must be at most {} bytes", PROP_SIZEMAX - 1),
        },
        _ => "unsupported property type".into(),
    }
}

/// A possible value of a string property written `lo-hi` (decimal): the
/// numbers it stands for.
fn num_range(p: &str) -> Option<(u64, u64)> {
    let (lo, hi) = p.split_once('-')?;
    let num = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    let (lo, hi) = (num(lo)?, num(hi)?);
    (lo <= hi).then_some((lo, hi))
}

/// The message for a value that parsed but that `by` (the overlay driver,
/// a search plugin) refused with `EINVAL`.
pub fn refused_value_msg(info: &PropInfo, value: &str, by: &str) -> String {
    let hint = if info.ptype == OVERLAY_PROP_T_IP {
        " (not a usable unicast address)"
    } else {
        ""
    };
    format!(
        "invalid value '{}' for property {}: refused by {}{}",
        value, info.name, by, hint
    )
}

/// The message for a value given to a property that cannot be set.
pub fn read_only_msg(info: &PropInfo) -> String {
    format!("property {} is read-only", info.name)
}

/// The message for a refused value.
pub fn bad_value_msg(info: &PropInfo, value: &str) -> String {
    format!(
        "invalid value '{}' for property {}: {}",
        value,
        info.name,
        accepted(info)
    )
}

fn in_ranges(info: &PropInfo, v: i128) -> bool {
    match &info.range {
        Range::Uint32(r) if !r.is_empty() => r
            .iter()
            .any(|&(lo, hi)| v >= i128::from(lo) && v <= i128::from(hi)),
        _ => true,
    }
}

/// `dladm_overlay_parse_prop()`, strict: the encoded value, or the message
/// to print.
pub fn parse_value(info: &PropInfo, value: &str) -> Result<Vec<u8>, String> {
    let bad = || bad_value_msg(info, value);
    match info.ptype {
        OVERLAY_PROP_T_INT => {
            let digits = value.strip_prefix(['+', '-']).unwrap_or(value);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let v: i64 = value.parse().map_err(|_| bad())?;
            if !in_ranges(info, i128::from(v)) {
                return Err(bad());
            }
            Ok(v.to_le_bytes().to_vec())
        }
        OVERLAY_PROP_T_UINT => {
            let digits = value.strip_prefix('+').unwrap_or(value);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let v: u64 = digits.parse().map_err(|_| bad())?;
            if !in_ranges(info, i128::from(v)) {
                return Err(bad());
            }
            Ok(v.to_le_bytes().to_vec())
        }
        OVERLAY_PROP_T_STRING => {
            if value.len() >= PROP_SIZEMAX || value.as_bytes().contains(&0) {
                return Err(bad());
            }
            // A property that lists its possible values takes only those;
            // a `lo-hi` entry stands for the decimal numbers in that range,
            // sent in canonical form.
            let mut text = value.to_string();
            if let Range::Str(v) = &info.range {
                if !v.is_empty() && !v.iter().any(|p| p == value && num_range(p).is_none()) {
                    let n = (!value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()))
                        .then(|| value.parse::<u64>().ok())
                        .flatten()
                        .filter(|n| {
                            v.iter()
                                .filter_map(|p| num_range(p))
                                .any(|(lo, hi)| (lo..=hi).contains(n))
                        })
                        .ok_or_else(bad)?;
                    text = n.to_string();
                }
            }
            let mut b = text.into_bytes();
            b.push(0);
            Ok(b)
        }
        OVERLAY_PROP_T_IP => parse_ip(value).map(|a| a.octets().to_vec()).ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// One `name=value[,value...]` of a `-p` list (`dladm_arg_info_t`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropArg {
    pub name: String,
    pub values: Vec<String>,
}

/// `dladm_parse_link_props(str, &list, B_FALSE)`: `,` and `=` separate;
/// a word without `=` is a further value of the previous property. `None`
/// for a malformed list (a leading value, an empty name, a repeated name).
pub fn parse_prop_list(s: &str) -> Option<Vec<PropArg>> {
    let mut out: Vec<PropArg> = Vec::new();
    for tok in s.split(',') {
        if tok.is_empty() {
            continue;
        }
        match tok.split_once('=') {
            Some((name, val)) => {
                if name.is_empty() || out.iter().any(|p| p.name == name) {
                    return None;
                }
                let mut values = Vec::new();
                if !val.is_empty() {
                    values.push(val.to_string());
                }
                out.push(PropArg {
                    name: name.to_string(),
                    values,
                });
            }
            None => match out.last_mut() {
                Some(p) => p.values.push(tok.to_string()),
                None => return None,
            },
        }
    }
    Some(out)
}

/// Property routing (§7.2): `<search>/...` goes to varpd.
pub fn is_search_prop(name: &str, search: &str) -> bool {
    name.len() > search.len() && name.starts_with(search) && name.as_bytes()[search.len()] == b'/'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(ptype: u32, range: Range) -> PropInfo {
        PropInfo {
            id: 5,
            name: "vxlan/listen_port".into(),
            ptype,
            prot: OVERLAY_PROP_PERM_RW | OVERLAY_PROP_PERM_REQ,
            default: vec![],
            range,
        }
    }

    #[test]
    fn strict_uint() {
        let p = info(OVERLAY_PROP_T_UINT, Range::Uint32(vec![(1, 65535)]));
        assert_eq!(parse_value(&p, "4789").unwrap(), 4789u64.to_le_bytes());
        for bad in ["70000", "0", "-1", "12x", "", " 1", "0x10"] {
            assert!(parse_value(&p, bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_value(&p, "70000").unwrap_err(),
            "invalid value '70000' for property vxlan/listen_port: must be in 1-65535"
        );
        let q = info(OVERLAY_PROP_T_UINT, Range::None);
        assert_eq!(
            parse_value(&q, "18446744073709551615").unwrap(),
            u64::MAX.to_le_bytes()
        );
        assert!(parse_value(&q, "18446744073709551616").is_err());
        assert_eq!(
            format_value(OVERLAY_PROP_T_UINT, &u64::MAX.to_le_bytes()).unwrap(),
            "18446744073709551615"
        );
    }

    #[test]
    fn ip_and_string() {
        let p = info(OVERLAY_PROP_T_IP, Range::None);
        let v = parse_value(&p, "10.88.88.69").unwrap();
        assert_eq!(format_value(OVERLAY_PROP_T_IP, &v).unwrap(), "10.88.88.69");
        let v = parse_value(&p, "fd00::1").unwrap();
        assert_eq!(format_value(OVERLAY_PROP_T_IP, &v).unwrap(), "fd00::1");
        assert!(parse_value(&p, "10.88.88").is_err());
        assert!(format_value(OVERLAY_PROP_T_IP, &[1, 2, 3]).is_err());
        let s = info(OVERLAY_PROP_T_STRING, Range::None);
        assert_eq!(parse_value(&s, "ab").unwrap(), b"ab\0");
        assert!(parse_value(&s, &"x".repeat(256)).is_err());
        // A string property with possible values (vxlan/ecn) takes only those.
        let mut e = info(
            OVERLAY_PROP_T_STRING,
            Range::Str(vec!["normal".into(), "off".into()]),
        );
        e.name = "vxlan/ecn".into();
        assert_eq!(parse_value(&e, "off").unwrap(), b"off\0");
        assert_eq!(
            parse_value(&e, "on").unwrap_err(),
            "invalid value 'on' for property vxlan/ecn: must be one of normal,off"
        );
        // A `lo-hi` possible value takes the decimal numbers in it.
        let mut d = info(
            OVERLAY_PROP_T_STRING,
            Range::Str(vec!["0-63".into(), "inherit".into()]),
        );
        d.name = "vxlan/dscp".into();
        assert_eq!(parse_value(&d, "inherit").unwrap(), b"inherit\0");
        assert_eq!(parse_value(&d, "046").unwrap(), b"46\0");
        for bad in ["64", "0-63", "-1", "+1", "", "4 "] {
            assert_eq!(
                parse_value(&d, bad).unwrap_err(),
                format!(
                    "invalid value '{bad}' for property vxlan/dscp: must be in 0-63 or inherit"
                )
            );
        }
    }

    #[test]
    fn ranges_roundtrip() {
        for r in [
            Range::None,
            Range::Uint32(vec![(576, 8900), (9000, 9000)]),
            Range::Str(vec!["direct".into(), "files".into()]),
        ] {
            assert_eq!(Range::decode(&r.encode()), r);
        }
        assert_eq!(
            Range::Uint32(vec![(576, 8900), (7, 7)]).to_strs().unwrap(),
            vec!["576-8900", "7"]
        );
    }

    #[test]
    fn prop_lists() {
        let l = parse_prop_list("a=1,b=2,3,").unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[1].values, vec!["2", "3"]);
        assert!(parse_prop_list("x,a=1").is_none());
        assert!(parse_prop_list("a=1,a=2").is_none());
        assert!(parse_prop_list("=1").is_none());
        assert!(is_search_prop("direct/dest_ip", "direct"));
        assert!(!is_search_prop("directx/dest_ip", "direct"));
        assert!(!is_search_prop("direct", "direct"));
    }
}

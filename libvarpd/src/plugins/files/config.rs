//! The overlay_files(5) configuration: parsing, validation, the lookup table.
//!
//! # Theory of operation
//!
//! The file is one JSON object keyed by overlay (VL2) MAC address; each value
//! describes that MAC: `ip` (underlay address, required), `port` (underlay
//! UDP port, required when the encapsulation needs one), `arp` (its IPv4
//! address on the overlay), `ndp` (its IPv6 address on the overlay) and
//! `dhcp-proxy` (the MAC its broadcast DHCP requests are redirected to).
//! See `docs/overlay_files.md`.
//!
//! illumos parses the file with its own JSON-to-nvlist parser and looks keys
//! up lazily at each query, so a typo surfaces as silently dropped traffic.
//! Here the whole file is validated up front with serde_json: every key and
//! value is checked while it is read, and the first problem is reported as
//! `path:line:column: message`, the position being where serde_json stood
//! when the problem was found (just after the offending key or value). The
//! result is a [`FilesConfig`]: entries by MAC, plus indexes from `arp` and
//! `ndp` addresses back to their MAC for the proxies.
//!
//! Stricter than illumos, on purpose: unknown keys (reserved by the man
//! page) are rejected, as are duplicate MACs (illumos kept the last after
//! canonicalising `de:ad:be:ef:0:1` and `de:ad:be:ef:00:01` to the same
//! key), duplicate keys in an entry, and an `arp` or `ndp` address claimed
//! by two MACs (illumos answered with whichever came first). Group
//! (multicast/broadcast) MACs cannot be keys or `dhcp-proxy` targets.
//!
//! Extension: the top-level key `flood` (never a MAC) holds the overlay's
//! head-end replication list, an array of `{"ip": …, "port": …}` objects
//! (at most `OVERLAY_TARG_FLOOD_MAX`, no duplicates); see
//! docs/head-end-replication.md.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use serde::de::{self, DeserializeSeed, MapAccess, Visitor};

use crate::errno::Errno;

/// Largest configuration file read (bigger is an error, not an allocation).
pub const FILES_CONFIG_MAX: u64 = 16 << 20;

/// A MAC address.
pub type Mac = [u8; 6];

/// One MAC's entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilesEntry {
    /// `ip`: the underlay address (IPv4 as v4-mapped IPv6).
    pub ip: Ipv6Addr,
    /// `port`: the underlay UDP port.
    pub port: Option<u16>,
    /// `arp`: the MAC's IPv4 address on the overlay.
    pub arp: Option<Ipv4Addr>,
    /// `ndp`: the MAC's IPv6 address on the overlay.
    pub ndp: Option<Ipv6Addr>,
    /// `dhcp-proxy`: where this MAC's broadcast DHCP requests go.
    pub dhcp_proxy: Option<Mac>,
}

/// A parsed, validated configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FilesConfig {
    entries: HashMap<Mac, FilesEntry>,
    /// `flood`: the head-end replication list (underlay address, port).
    flood: Vec<(Ipv6Addr, u16)>,
    by_arp: HashMap<Ipv4Addr, Mac>,
    by_ndp: HashMap<Ipv6Addr, Mac>,
}

impl FilesConfig {
    /// The entry for `mac`.
    pub fn get(&self, mac: &Mac) -> Option<&FilesEntry> {
        self.entries.get(mac)
    }

    /// The MAC whose `arp` address is `ip`.
    pub fn resolve_arp(&self, ip: Ipv4Addr) -> Option<Mac> {
        self.by_arp.get(&ip).copied()
    }

    /// The MAC whose `ndp` address is `ip`.
    pub fn resolve_ndp(&self, ip: Ipv6Addr) -> Option<Mac> {
        self.by_ndp.get(&ip).copied()
    }

    /// The `flood` list, in file order (empty: no head-end replication).
    pub fn flood(&self) -> &[(Ipv6Addr, u16)] {
        &self.flood
    }

    /// Number of MACs.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the file had no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Parse and validate `text`; `needs_port` when the encapsulation's
    /// destination includes a port (every entry must then have one).
    pub fn parse(text: &[u8], needs_port: bool) -> Result<FilesConfig, ParseError> {
        let mut de = serde_json::Deserializer::from_slice(text);
        let cfg = ConfigSeed { needs_port }
            .deserialize(&mut de)
            .and_then(|c| de.end().map(|()| c))
            .map_err(ParseError::from)?;
        Ok(cfg)
    }

    /// Read, parse and validate the file at `path`.
    pub fn load(path: &Path, needs_port: bool) -> Result<FilesConfig, FilesError> {
        let io = |e: std::io::Error| FilesError::Io {
            path: path.to_path_buf(),
            errno: Errno::from_io(&e),
            msg: e.to_string(),
        };
        let f = File::open(path).map_err(io)?;
        let meta = f.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(FilesError::Io {
                path: path.to_path_buf(),
                errno: Errno::EINVAL,
                msg: "not a regular file".to_string(),
            });
        }
        let mut text = Vec::new();
        f.take(FILES_CONFIG_MAX + 1)
            .read_to_end(&mut text)
            .map_err(io)?;
        if text.len() as u64 > FILES_CONFIG_MAX {
            return Err(FilesError::Io {
                path: path.to_path_buf(),
                errno: Errno::EINVAL,
                msg: format!("larger than {FILES_CONFIG_MAX} bytes"),
            });
        }
        FilesConfig::parse(&text, needs_port).map_err(|e| FilesError::Parse {
            path: path.to_path_buf(),
            err: e,
        })
    }
}

/// A configuration error at a position in the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (0 at the very start of a line, as serde_json says).
    pub column: usize,
    /// What is wrong.
    pub msg: String,
}

impl From<serde_json::Error> for ParseError {
    fn from(e: serde_json::Error) -> ParseError {
        let (line, column) = (e.line(), e.column());
        let full = e.to_string();
        let suffix = format!(" at line {line} column {column}");
        let msg = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
        ParseError { line, column, msg }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.msg)
    }
}

/// Why a configuration could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilesError {
    /// The file could not be read.
    Io {
        path: PathBuf,
        errno: Errno,
        msg: String,
    },
    /// The file is not a valid overlay_files(5) configuration.
    Parse { path: PathBuf, err: ParseError },
}

impl FilesError {
    /// The errno `vpo_start` returns: the read error, or `EINVAL` for a bad
    /// file (illumos returned -1, §12 #9).
    pub fn errno(&self) -> Errno {
        match self {
            FilesError::Io { errno, .. } => *errno,
            FilesError::Parse { .. } => Errno::EINVAL,
        }
    }
}

impl fmt::Display for FilesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FilesError::Io { path, msg, .. } => write!(f, "{}: {msg}", path.display()),
            FilesError::Parse { path, err } => write!(f, "{}:{err}", path.display()),
        }
    }
}

impl std::error::Error for FilesError {}

/// `ether_aton`: six groups of one or two hex digits separated by `:`.
pub fn parse_mac(s: &str) -> Option<Mac> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut mac {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 2 || !p.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(mac)
}

/// `ether_ntoa`-style text, with leading zeros (`de:ad:be:ef:00:01`).
pub fn mac_to_string(m: &Mac) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// Whether `m` is a group (multicast or broadcast) address.
pub fn is_group(m: &Mac) -> bool {
    m[0] & 1 != 0
}

/// The top-level object.
struct ConfigSeed {
    needs_port: bool,
}

impl<'de> DeserializeSeed<'de> for ConfigSeed {
    type Value = FilesConfig;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<FilesConfig, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ConfigSeed {
    type Value = FilesConfig;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object keyed by MAC address")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FilesConfig, A::Error> {
        let mut cfg = FilesConfig::default();
        let mut seen_flood = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == FLOOD_KEY {
                if seen_flood {
                    return Err(de::Error::custom("duplicate key \"flood\""));
                }
                seen_flood = true;
                let v: Vec<serde_json::Value> = map.next_value()?;
                cfg.flood = parse_flood(&v, self.needs_port).map_err(de::Error::custom)?;
                continue;
            }
            let mac = parse_mac(&key).ok_or_else(|| {
                de::Error::custom(format!(
                    "\"{key}\": not a MAC address (expected e.g. de:ad:be:ef:00:01)"
                ))
            })?;
            if is_group(&mac) {
                return Err(de::Error::custom(format!(
                    "\"{key}\": a multicast or broadcast MAC address cannot have an entry"
                )));
            }
            if cfg.entries.contains_key(&mac) {
                return Err(de::Error::custom(format!(
                    "\"{key}\": duplicate entry for {}",
                    mac_to_string(&mac)
                )));
            }
            let entry = map.next_value_seed(EntrySeed {
                needs_port: self.needs_port,
            })?;
            if let Some(a) = entry.arp {
                if let Some(other) = cfg.by_arp.insert(a, mac) {
                    return Err(de::Error::custom(format!(
                        "\"{key}\": \"arp\" address {a} already belongs to {}",
                        mac_to_string(&other)
                    )));
                }
            }
            if let Some(a) = entry.ndp {
                if let Some(other) = cfg.by_ndp.insert(a, mac) {
                    return Err(de::Error::custom(format!(
                        "\"{key}\": \"ndp\" address {a} already belongs to {}",
                        mac_to_string(&other)
                    )));
                }
            }
            cfg.entries.insert(mac, entry);
        }
        Ok(cfg)
    }
}

/// The top-level key of the head-end replication list.
pub const FLOOD_KEY: &str = "flood";

/// Most entries in `flood` (the kernel's `OVERLAY_TARG_FLOOD_MAX`).
pub const FLOOD_MAX: usize = overlay_sys::OVERLAY_TARG_FLOOD_MAX as usize;

/// `flood`: an array of `{"ip": …, "port": …}`.
fn parse_flood(v: &[serde_json::Value], needs_port: bool) -> Result<Vec<(Ipv6Addr, u16)>, String> {
    if v.len() > FLOOD_MAX {
        return Err(format!(
            "\"flood\": {} entries (at most {FLOOD_MAX})",
            v.len()
        ));
    }
    let mut out: Vec<(Ipv6Addr, u16)> = Vec::new();
    for (i, e) in v.iter().enumerate() {
        let at = |m: String| format!("\"flood\" entry {i}: {m}");
        let obj = e
            .as_object()
            .ok_or_else(|| at("not an object with \"ip\" and \"port\"".into()))?;
        if let Some(k) = obj.keys().find(|k| *k != "ip" && *k != "port") {
            return Err(at(format!("unknown key \"{k}\" (the keys are ip, port)")));
        }
        let ip = obj
            .get("ip")
            .ok_or_else(|| at("missing \"ip\" (the underlay address)".into()))?;
        let ip = ip
            .as_str()
            .ok_or_else(|| at(format!("\"ip\": {ip} is not a string")))?;
        let ip = underlay_ip(ip).map_err(at)?;
        let port = match obj.get("port") {
            Some(p) => p
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p != 0)
                .ok_or_else(|| at(format!("\"port\": {p} is not an integer from 1 to 65535")))?,
            None if needs_port => {
                return Err(at(
                    "missing \"port\" (the encapsulation needs an underlay port)".into(),
                ))
            }
            None => 0,
        };
        if out.contains(&(ip, port)) {
            return Err(at("duplicate destination".into()));
        }
        out.push((ip, port));
    }
    Ok(out)
}

/// One MAC's object.
struct EntrySeed {
    needs_port: bool,
}

impl<'de> DeserializeSeed<'de> for EntrySeed {
    type Value = FilesEntry;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<FilesEntry, D::Error> {
        d.deserialize_map(self)
    }
}

/// The keys an entry may have.
const ENTRY_KEYS: &str = "ip, port, arp, ndp, dhcp-proxy";

impl<'de> Visitor<'de> for EntrySeed {
    type Value = FilesEntry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object with the keys {ENTRY_KEYS}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FilesEntry, A::Error> {
        let mut ip: Option<Ipv6Addr> = None;
        let mut port: Option<u16> = None;
        let mut arp: Option<Ipv4Addr> = None;
        let mut ndp: Option<Ipv6Addr> = None;
        let mut dhcp_proxy: Option<Mac> = None;
        let mut seen: Vec<String> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if seen.contains(&key) {
                return Err(de::Error::custom(format!("duplicate key \"{key}\"")));
            }
            match key.as_str() {
                "ip" => {
                    let s: String = map.next_value()?;
                    ip = Some(underlay_ip(&s).map_err(de::Error::custom)?);
                }
                "port" => {
                    let v: serde_json::Value = map.next_value()?;
                    let p = v
                        .as_u64()
                        .and_then(|p| u16::try_from(p).ok())
                        .filter(|p| *p != 0)
                        .ok_or_else(|| {
                            de::Error::custom(format!(
                                "\"port\": {v} is not an integer from 1 to 65535"
                            ))
                        })?;
                    port = Some(p);
                }
                "arp" => {
                    let s: String = map.next_value()?;
                    arp = Some(overlay_ipv4(&s).map_err(de::Error::custom)?);
                }
                "ndp" => {
                    let s: String = map.next_value()?;
                    ndp = Some(overlay_ipv6(&s).map_err(de::Error::custom)?);
                }
                "dhcp-proxy" => {
                    let s: String = map.next_value()?;
                    let m = parse_mac(&s).ok_or_else(|| {
                        de::Error::custom(format!("\"dhcp-proxy\": \"{s}\" is not a MAC address"))
                    })?;
                    if is_group(&m) {
                        return Err(de::Error::custom(format!(
                            "\"dhcp-proxy\": \"{s}\" is a multicast or broadcast address"
                        )));
                    }
                    dhcp_proxy = Some(m);
                }
                _ => {
                    return Err(de::Error::custom(format!(
                        "unknown key \"{key}\" (the keys are {ENTRY_KEYS}; others are reserved)"
                    )))
                }
            }
            seen.push(key);
        }
        let ip = ip.ok_or_else(|| de::Error::custom("missing \"ip\" (the underlay address)"))?;
        if self.needs_port && port.is_none() {
            return Err(de::Error::custom(
                "missing \"port\" (the encapsulation needs an underlay port)",
            ));
        }
        Ok(FilesEntry {
            ip,
            port,
            arp,
            ndp,
            dhcp_proxy,
        })
    }
}

/// `ip`: IPv6, or IPv4 as v4-mapped; a unicast address.
fn underlay_ip(s: &str) -> Result<Ipv6Addr, String> {
    let bad = |why: &str| Err(format!("\"ip\": \"{s}\" {why}"));
    let ip: IpAddr = match s.parse() {
        Ok(ip) => ip,
        Err(_) => return bad("is not an IPv4 or IPv6 address"),
    };
    if ip.is_unspecified() || ip.is_multicast() || ip == IpAddr::V4(Ipv4Addr::BROADCAST) {
        return bad("is not a unicast address");
    }
    Ok(match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    })
}

/// `arp`: an IPv4 unicast address.
fn overlay_ipv4(s: &str) -> Result<Ipv4Addr, String> {
    match s.parse::<Ipv4Addr>() {
        Ok(a) if a.is_unspecified() || a.is_multicast() || a.is_broadcast() => {
            Err(format!("\"arp\": \"{s}\" is not a unicast address"))
        }
        Ok(a) => Ok(a),
        Err(_) => Err(format!("\"arp\": \"{s}\" is not an IPv4 address")),
    }
}

/// `ndp`: an IPv6 address a neighbour solicitation can ask for.
fn overlay_ipv6(s: &str) -> Result<Ipv6Addr, String> {
    match s.parse::<Ipv6Addr>() {
        Ok(a)
            if a.is_unspecified()
                || a.is_multicast()
                || a.is_loopback()
                || a.to_ipv4_mapped().is_some() =>
        {
            Err(format!(
                "\"ndp\": \"{s}\" cannot be solicited (multicast, loopback, unspecified or v4-mapped)"
            ))
        }
        Ok(a) => Ok(a),
        Err(_) => Err(format!("\"ndp\": \"{s}\" is not an IPv6 address")),
    }
}

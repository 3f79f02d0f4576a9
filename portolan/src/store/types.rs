//! The values the [`Store`](super::Store) trait passes: hosts, NICs, log
//! events, lookup results and errors. None of them is tied to a database.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

use serde::Serialize;
use thiserror::Error;

/// The largest vnet id (VXLAN's VNI is 24 bits).
pub const VNET_MAX: u32 = (1 << 24) - 1;
/// The largest VLAN id.
pub const VLAN_MAX: u16 = 4094;
/// The default underlay (VXLAN) port of a host.
pub const DEFAULT_UNDERLAY_PORT: u16 = 4789;

/// An Ethernet address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl FromStr for Mac {
    type Err = ();

    /// `xx:xx:xx:xx:xx:xx` with one or two hex digits per byte (as
    /// `ether_aton` takes), or `-` as the separator.
    fn from_str(s: &str) -> Result<Mac, ()> {
        let parts: Vec<&str> = s.split([':', '-']).collect();
        if parts.len() != 6 {
            return Err(());
        }
        let mut m = [0u8; 6];
        for (i, p) in parts.iter().enumerate() {
            if p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(());
            }
            m[i] = u8::from_str_radix(p, 16).map_err(|_| ())?;
        }
        Ok(Mac(m))
    }
}

impl Serialize for Mac {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A log event id (a version 4 UUID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventId(pub [u8; 16]);

impl EventId {
    /// A fresh random (version 4) UUID.
    pub fn random() -> EventId {
        let mut b = [0u8; 16];
        fill_random(&mut b);
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        EventId(b)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl Serialize for EventId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Fill `b` from the kernel's random source.
fn fill_random(b: &mut [u8]) {
    let mut off = 0;
    while off < b.len() {
        // SAFETY: getrandom writes at most len bytes into the live buffer
        // starting at the given pointer.
        let n = unsafe {
            libc::getrandom(
                b[off..].as_mut_ptr().cast::<libc::c_void>(),
                b.len() - off,
                0,
            )
        };
        if n > 0 {
            off += n as usize;
        } else if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            // No entropy source at all: fall back to time and address bits;
            // ids need uniqueness, not secrecy.
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            for (i, x) in b[off..].iter_mut().enumerate() {
                *x = (t >> ((i % 16) * 8)) as u8 ^ (i as u8).wrapping_mul(151);
            }
            return;
        }
    }
}

/// An IP address as the wire carries it: IPv4 as IPv4-mapped IPv6.
pub fn to_wire_ip(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// The inverse of [`to_wire_ip`]: IPv4-mapped addresses become IPv4.
pub fn from_wire_ip(ip: Ipv6Addr) -> IpAddr {
    match ip.to_ipv4_mapped() {
        Some(a) => IpAddr::V4(a),
        None => IpAddr::V6(ip),
    }
}

/// A host (compute node): its id and underlay address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Host {
    pub id: String,
    pub ip: IpAddr,
    pub port: u16,
}

/// A host's underlay address, as VL2/VL3 replies carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Underlay {
    pub ip: Ipv6Addr,
    pub port: u16,
}

/// A VL3 lookup's answer: the MAC owning the IP and its host's underlay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vl3Entry {
    pub mac: Mac,
    pub underlay: Underlay,
}

/// A virtual NIC's mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Nic {
    pub vnet: u32,
    pub mac: Mac,
    pub ip: IpAddr,
    pub vlan: u16,
    pub host: String,
}

/// What a log event tells its host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type")]
pub enum LogRecord {
    /// SVP_LOG_VL2: forget where `mac` is.
    #[serde(rename = "VL2")]
    Vl2 { mac: Mac },
    /// SVP_LOG_VL3: re-resolve `ip` (owned by `mac`) and announce it.
    #[serde(rename = "VL3")]
    Vl3 { ip: IpAddr, mac: Mac, vlan: u16 },
}

impl LogRecord {
    /// Its size as a LOG_ACK record (`svp_log_vl2_t` 32, `svp_log_vl3_t` 44).
    pub fn wire_len(&self) -> usize {
        match self {
            LogRecord::Vl2 { .. } => 32,
            LogRecord::Vl3 { .. } => 44,
        }
    }
}

/// One pending log event for one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogEvent {
    pub id: EventId,
    pub host: String,
    pub vnet: u32,
    #[serde(flatten)]
    pub record: LogRecord,
}

/// Why a store call failed. The Display text is what `portolan` prints
/// after `portolan: `.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoreError {
    #[error("unknown host '{0}'")]
    UnknownHost(String),
    #[error("host '{0}' already exists")]
    HostExists(String),
    #[error("underlay address {ip} already used by host '{host}'")]
    UnderlayInUse { ip: IpAddr, host: String },
    #[error("host '{host}' still has {count} NIC(s)")]
    HostHasNics { host: String, count: u64 },
    #[error("MAC {mac} already in vnet {vnet}")]
    MacInUse { mac: Mac, vnet: u32 },
    #[error("IP {ip} already in vnet {vnet}")]
    IpInUse { ip: IpAddr, vnet: u32 },
    #[error("no MAC {mac} in vnet {vnet}")]
    UnknownNic { mac: Mac, vnet: u32 },
    #[error("MAC {mac} in vnet {vnet} is already on host '{host}'")]
    SameHost { mac: Mac, vnet: u32, host: String },
    #[error("{0}")]
    Invalid(String),
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    #[error("database error: {0}")]
    Backend(String),
    #[error("corrupt database row: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// The errno this maps to.
    pub fn errno(&self) -> i32 {
        match self {
            StoreError::UnknownHost(_) | StoreError::UnknownNic { .. } => libc::ENOENT,
            StoreError::HostExists(_)
            | StoreError::UnderlayInUse { .. }
            | StoreError::MacInUse { .. }
            | StoreError::IpInUse { .. }
            | StoreError::SameHost { .. } => libc::EEXIST,
            StoreError::HostHasNics { .. } => libc::EBUSY,
            StoreError::Invalid(_) => libc::EINVAL,
            StoreError::PermissionDenied(_) => libc::EACCES,
            StoreError::Backend(_) | StoreError::Corrupt(_) => libc::EIO,
        }
    }
}

/// Check a vnet id, VLAN and host id the same way in every store.
pub fn validate_nic(nic: &Nic) -> Result<(), StoreError> {
    if nic.vnet > VNET_MAX {
        return Err(StoreError::Invalid(format!(
            "invalid vnet '{}': must be in 0-{VNET_MAX}",
            nic.vnet
        )));
    }
    if nic.vlan > VLAN_MAX {
        return Err(StoreError::Invalid(format!(
            "invalid VLAN '{}': must be in 0-{VLAN_MAX}",
            nic.vlan
        )));
    }
    if nic.mac.0[0] & 1 != 0 {
        return Err(StoreError::Invalid(format!(
            "invalid MAC address '{}': multicast",
            nic.mac
        )));
    }
    validate_host_id(&nic.host)
}

/// A host id: 1-64 characters of `[A-Za-z0-9._:-]`.
pub fn validate_host_id(id: &str) -> Result<(), StoreError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "invalid host id '{id}': must be 1-64 characters of A-Z a-z 0-9 . _ - :"
        )))
    }
}

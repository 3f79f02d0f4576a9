//! Conversions between PostgreSQL rows or parameters and the store's
//! types. Every value read back is checked: a row that does not fit its
//! type (a port over 65535, a malformed MAC) is [`StoreError::Corrupt`],
//! never a panic.

use std::net::IpAddr;

use postgres::Row;

use crate::store::types::*;

pub(super) fn mac_text(m: Mac) -> String {
    m.to_string()
}

pub(super) fn mac_of(s: &str) -> Result<Mac, StoreError> {
    s.parse()
        .map_err(|()| StoreError::Corrupt(format!("MAC '{s}'")))
}

pub(super) fn event_id_text(id: &EventId) -> String {
    id.to_string()
}

pub(super) fn event_id_of(s: &str) -> Result<EventId, StoreError> {
    let hex: Vec<u8> = s.bytes().filter(|b| *b != b'-').collect();
    if hex.len() != 32 {
        return Err(StoreError::Corrupt(format!("event id '{s}'")));
    }
    let mut b = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        let t = std::str::from_utf8(pair).map_err(|_| StoreError::Corrupt(s.into()))?;
        b[i] = u8::from_str_radix(t, 16)
            .map_err(|_| StoreError::Corrupt(format!("event id '{s}'")))?;
    }
    Ok(EventId(b))
}

pub(super) fn u16_of(v: i32, what: &str) -> Result<u16, StoreError> {
    u16::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} {v}")))
}

pub(super) fn u32_of(v: i32, what: &str) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} {v}")))
}

/// vnet ids are at most 24 bits, VLANs 12: both fit an `integer`.
pub(super) fn vnet_param(vnet: u32) -> Result<i32, StoreError> {
    i32::try_from(vnet)
        .map_err(|_| StoreError::Invalid(format!("invalid vnet '{vnet}': must be in 0-{VNET_MAX}")))
}

/// The vnet column values of lookup keys: a vnet over 2^31 - 1 cannot be
/// stored, so it becomes -1, which matches no row.
pub(super) fn lookup_vnets<K>(keys: &[(u32, K)]) -> Vec<i32> {
    keys.iter()
        .map(|(v, _)| i32::try_from(*v).unwrap_or(-1))
        .collect()
}

/// A log event from columns `first..first+7` of `r`: `id::text, host,
/// vnet, type, mac::text, ip, vlan`.
pub(super) fn event_of(r: &Row, first: usize) -> Result<LogEvent, StoreError> {
    let g = |e: postgres::Error| StoreError::Corrupt(format!("event row: {e}"));
    let id: String = r.try_get(first).map_err(g)?;
    let host: String = r.try_get(first + 1).map_err(g)?;
    let vnet: i32 = r.try_get(first + 2).map_err(g)?;
    let ty: i16 = r.try_get(first + 3).map_err(g)?;
    let mac: String = r.try_get(first + 4).map_err(g)?;
    let ip: Option<IpAddr> = r.try_get(first + 5).map_err(g)?;
    let vlan: Option<i32> = r.try_get(first + 6).map_err(g)?;
    let mac = mac_of(&mac)?;
    let record = match ty {
        1 => LogRecord::Vl2 { mac },
        2 => LogRecord::Vl3 {
            ip: ip.ok_or_else(|| StoreError::Corrupt("VL3 event without IP".into()))?,
            mac,
            vlan: u16_of(vlan.unwrap_or(0), "VLAN")?,
        },
        t => return Err(StoreError::Corrupt(format!("event type {t}"))),
    };
    Ok(LogEvent {
        id: event_id_of(&id)?,
        host,
        vnet: u32_of(vnet, "vnet")?,
        record,
    })
}

pub(super) fn nic_of(r: &Row) -> Result<Nic, StoreError> {
    let g = |e: postgres::Error| StoreError::Corrupt(format!("nic row: {e}"));
    Ok(Nic {
        vnet: u32_of(r.try_get(0).map_err(g)?, "vnet")?,
        mac: mac_of(r.try_get::<_, &str>(1).map_err(g)?)?,
        ip: r.try_get(2).map_err(g)?,
        vlan: u16_of(r.try_get(3).map_err(g)?, "VLAN")?,
        host: r.try_get(4).map_err(g)?,
    })
}

pub(super) fn underlay_of(ip: IpAddr, port: i32) -> Result<Underlay, StoreError> {
    Ok(Underlay {
        ip: to_wire_ip(ip),
        port: u16_of(port, "port")?,
    })
}

/// A VL2 answer from columns `first..first+2` of `r`: `h.ip, h.port`.
pub(super) fn vl2_of(r: &Row, first: usize) -> Result<Underlay, StoreError> {
    let g = |e: postgres::Error| StoreError::Corrupt(format!("host row: {e}"));
    underlay_of(
        r.try_get(first).map_err(g)?,
        r.try_get(first + 1).map_err(g)?,
    )
}

/// A VL3 answer from columns `first..first+3` of `r`: `n.mac::text, h.ip,
/// h.port`.
pub(super) fn vl3_of(r: &Row, first: usize) -> Result<Vl3Entry, StoreError> {
    let g = |e: postgres::Error| StoreError::Corrupt(format!("nic row: {e}"));
    Ok(Vl3Entry {
        mac: mac_of(r.try_get::<_, &str>(first).map_err(g)?)?,
        underlay: underlay_of(
            r.try_get(first + 1).map_err(g)?,
            r.try_get(first + 2).map_err(g)?,
        )?,
    })
}

/// Place the answers of a batch lookup: each row's column 0 is the 1-based
/// position of its key (`WITH ORDINALITY`), the rest is decoded by `of`;
/// keys without a row are not found.
pub(super) fn by_ordinal<T>(
    n: usize,
    rows: &[Row],
    of: impl Fn(&Row, usize) -> Result<T, StoreError>,
) -> Result<Vec<Option<T>>, StoreError> {
    let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
    for r in rows {
        let i: i64 = r
            .try_get(0)
            .map_err(|e| StoreError::Corrupt(format!("ordinality: {e}")))?;
        let slot = usize::try_from(i - 1)
            .ok()
            .and_then(|i| out.get_mut(i))
            .ok_or_else(|| StoreError::Corrupt(format!("ordinality {i} of {n} keys")))?;
        *slot = Some(of(r, 1)?);
    }
    Ok(out)
}

//! The fake overlay driver: devices (`ovl_create` ... `ovl_status`) with
//! the VXLAN plugin's properties.
//!
//! Theory of operation: a device exists once `ovl_create` succeeds for an
//! active overlay link; its properties can be changed until it is
//! activated, which needs `vxlan/listen_ip` and a varpd instance. The
//! properties and their possible values are the driver's, the VXLAN
//! extensions (`vxlan/ecn`, `vxlan/dscp`, `vxlan/ttl`) included. Property
//! values travel in the kernel's encoding (little-endian integers, 16-byte
//! addresses, NUL-terminated strings) and are checked as the driver does.

use super::{FDev, FakeBackend};
use crate::backend::*;
use crate::errno::{self, Errno};
use crate::prop::*;

pub(super) const KPROPS: &[&str] = &[
    "mtu",
    "vnetid",
    "encap",
    "varpd/id",
    "vxlan/listen_ip",
    "vxlan/listen_port",
    "vxlan/ecn",
    "vxlan/dscp",
    "vxlan/ttl",
];
/// The properties of illumos' VXLAN plugin end here; the extensions
/// follow (`vxlan_ext`).
const KPROPS_ILLUMOS: usize = 6;

pub(super) fn u64_of(v: &[u8]) -> Result<u64, Errno> {
    if v.len() != 8 {
        return Err(errno::EINVAL);
    }
    let mut a = [0u8; 8];
    a.copy_from_slice(v);
    Ok(u64::from_le_bytes(a))
}

/// A NUL-terminated string value.
pub(super) fn str_of(v: &[u8]) -> Result<String, Errno> {
    let end = v.iter().position(|&c| c == 0).unwrap_or(v.len());
    if v[end..].iter().any(|&c| c != 0) {
        return Err(errno::EINVAL);
    }
    String::from_utf8(v[..end].to_vec()).map_err(|_| errno::EINVAL)
}

/// An address no plugin takes: multicast (also v4-mapped),
/// IPv4-compatible (`::a.b.c.d`) or 6to4.
pub(super) fn ip_unusable(a: &[u8; 16]) -> bool {
    let ip = std::net::Ipv6Addr::from(*a);
    let v4compat = a[..12].iter().all(|&b| b == 0) && !ip.is_unspecified() && !ip.is_loopback();
    let sixtofour = a[0] == 0x20 && a[1] == 0x02;
    let mcast = ip.is_multicast() || ip.to_ipv4_mapped().is_some_and(|v| v.is_multicast());
    v4compat || sixtofour || mcast
}

pub(super) fn ip_of(v: &[u8]) -> Result<[u8; 16], Errno> {
    if v.len() != 16 {
        return Err(errno::EINVAL);
    }
    let mut a = [0u8; 16];
    a.copy_from_slice(v);
    Ok(a)
}

impl FakeBackend {
    /// The device properties: the generic ones and the VXLAN plugin's.
    fn kprops(&self) -> &'static [&'static str] {
        if self.vxlan_ext {
            KPROPS
        } else {
            &KPROPS[..KPROPS_ILLUMOS]
        }
    }

    fn kprop_info(&self, id: u32) -> Option<PropInfo> {
        let name = self.kprops().get(id as usize)?.to_string();
        let (ptype, prot, default, range) = match id {
            0 => (
                OVERLAY_PROP_T_UINT,
                OVERLAY_PROP_PERM_RW,
                1400u32.to_le_bytes().to_vec(),
                Range::Uint32(vec![(576, 8900)]),
            ),
            1 => (
                OVERLAY_PROP_T_UINT,
                OVERLAY_PROP_PERM_RW,
                vec![],
                Range::None,
            ),
            2 => (
                OVERLAY_PROP_T_STRING,
                OVERLAY_PROP_PERM_READ,
                vec![],
                Range::Str(vec!["vxlan".into()]),
            ),
            3 => (
                OVERLAY_PROP_T_UINT,
                OVERLAY_PROP_PERM_READ,
                vec![],
                Range::None,
            ),
            4 => (
                OVERLAY_PROP_T_IP,
                OVERLAY_PROP_PERM_RW | OVERLAY_PROP_PERM_REQ,
                vec![],
                Range::None,
            ),
            5 => (
                OVERLAY_PROP_T_UINT,
                OVERLAY_PROP_PERM_RW | OVERLAY_PROP_PERM_REQ,
                4789u64.to_le_bytes().to_vec(),
                Range::Uint32(vec![(1, 65535)]),
            ),
            6 => (
                OVERLAY_PROP_T_STRING,
                OVERLAY_PROP_PERM_RW,
                b"normal".to_vec(),
                Range::Str(vec!["normal".into(), "off".into()]),
            ),
            7 => (
                OVERLAY_PROP_T_STRING,
                OVERLAY_PROP_PERM_RW,
                b"0".to_vec(),
                Range::Str(vec!["0-63".into(), "inherit".into()]),
            ),
            _ => (
                OVERLAY_PROP_T_UINT,
                OVERLAY_PROP_PERM_RW,
                0u64.to_le_bytes().to_vec(),
                Range::Uint32(vec![(0, 255)]),
            ),
        };
        Some(PropInfo {
            id,
            name,
            ptype,
            prot,
            default,
            range,
        })
    }

    pub(super) fn ovl_create(
        &mut self,
        linkid: LinkId,
        vnetid: u64,
        encap: &str,
    ) -> Result<(), Errno> {
        self.priv_check()?;
        self.check("ovl_create")?;
        // dls_devnet_create: an active link of class overlay.
        match self.links.get(&linkid) {
            Some(l) if l.class == DATALINK_CLASS_OVERLAY && l.flags & DLADM_OPT_ACTIVE != 0 => {}
            _ => return Err(errno::ENOENT),
        }
        if encap.is_empty() || encap.contains('/') {
            return Err(errno::EINVAL);
        }
        if encap != "vxlan" {
            return Err(errno::ENOENT);
        }
        if vnetid > 0xff_ffff {
            return Err(errno::EINVAL);
        }
        if self.devs.contains_key(&linkid)
            || self
                .devs
                .values()
                .any(|d| d.vnetid == vnetid && d.encap == encap)
        {
            return Err(errno::EEXIST);
        }
        self.devs.insert(
            linkid,
            FDev {
                vnetid,
                encap: encap.to_string(),
                mtu: 1400,
                listen_ip: None,
                listen_port: 4789,
                ecn: "normal".into(),
                dscp: "0".into(),
                ttl: 0,
                activated: false,
                varpd: None,
                degraded: None,
            },
        );
        Ok(())
    }

    pub(super) fn ovl_delete(&mut self, linkid: LinkId) -> Result<(), Errno> {
        self.priv_check()?;
        if !self.devs.contains_key(&linkid) {
            return Err(errno::ENOENT);
        }
        if self.vnics.values().any(|v| v.over == linkid) {
            return Err(errno::EBUSY);
        }
        self.devs.remove(&linkid);
        Ok(())
    }

    pub(super) fn ovl_activate(&mut self, linkid: LinkId) -> Result<(), Errno> {
        self.priv_check()?;
        self.check("ovl_activate")?;
        let d = self.devs.get_mut(&linkid).ok_or(errno::ENOENT)?;
        if d.activated {
            return Err(errno::EEXIST);
        }
        if d.listen_ip.is_none() {
            return Err(errno::EINVAL);
        }
        if d.varpd.is_none() {
            return Err(errno::ENXIO);
        }
        d.activated = true;
        Ok(())
    }

    pub(super) fn ovl_nprops(&mut self, linkid: LinkId) -> Result<u32, Errno> {
        self.priv_check()?;
        self.check("ovl_nprops")?;
        if !self.devs.contains_key(&linkid) {
            return Err(errno::ENOENT);
        }
        Ok(self.kprops().len() as u32)
    }

    pub(super) fn ovl_propinfo(
        &mut self,
        linkid: LinkId,
        sel: PropSel<'_>,
    ) -> Result<PropInfo, Errno> {
        self.priv_check()?;
        self.check("ovl_propinfo")?;
        if !self.devs.contains_key(&linkid) {
            return Err(errno::ENOENT);
        }
        let id = match sel {
            PropSel::Id(i) => i,
            PropSel::Name(n) => self
                .kprops()
                .iter()
                .position(|p| *p == n)
                .ok_or(errno::ENOENT)? as u32,
        };
        self.kprop_info(id).ok_or(errno::EINVAL)
    }

    pub(super) fn ovl_getprop(&mut self, linkid: LinkId, id: u32) -> Result<Vec<u8>, Errno> {
        self.priv_check()?;
        if id as usize >= self.kprops().len() {
            return Err(errno::EINVAL);
        }
        let d = self.devs.get(&linkid).ok_or(errno::ENOENT)?;
        Ok(match id {
            0 => d.mtu.to_le_bytes().to_vec(),
            1 => d.vnetid.to_le_bytes().to_vec(),
            2 => {
                let mut v = d.encap.as_bytes().to_vec();
                v.push(0);
                v
            }
            3 => d
                .varpd
                .map(|v| v.to_le_bytes().to_vec())
                .unwrap_or_default(),
            4 if self.bad_ip_size => vec![10, 0, 0],
            4 => d.listen_ip.map(|a| a.to_vec()).unwrap_or_default(),
            5 => d.listen_port.to_le_bytes().to_vec(),
            6 | 7 => {
                let mut v = if id == 6 { &d.ecn } else { &d.dscp }.as_bytes().to_vec();
                v.push(0);
                v
            }
            8 => d.ttl.to_le_bytes().to_vec(),
            _ => return Err(errno::EINVAL),
        })
    }

    pub(super) fn ovl_setprop(&mut self, linkid: LinkId, id: u32, val: &[u8]) -> Result<(), Errno> {
        self.priv_check()?;
        let Some(name) = self.kprops().get(id as usize) else {
            return Err(errno::EINVAL);
        };
        self.check(&format!("ovl_setprop:{name}"))?;
        let d = self.devs.get_mut(&linkid).ok_or(errno::ENOENT)?;
        if d.activated {
            return Err(errno::ENOTSUP);
        }
        match id {
            0 => {
                if val.len() < 4 {
                    return Err(errno::EINVAL);
                }
                let m = u32::from_le_bytes([val[0], val[1], val[2], val[3]]);
                if !(576..=8900).contains(&m) {
                    return Err(errno::EINVAL);
                }
                d.mtu = m;
            }
            1 => {
                let v = u64_of(val)?;
                if v > 0xff_ffff {
                    return Err(errno::EINVAL);
                }
                d.vnetid = v;
            }
            2 | 3 => return Err(errno::EPERM),
            4 => {
                let a = ip_of(val)?;
                if ip_unusable(&a) {
                    return Err(errno::EINVAL);
                }
                d.listen_ip = Some(a);
            }
            5 => {
                let v = u64_of(val)?;
                if v > 65535 {
                    return Err(errno::EINVAL);
                }
                d.listen_port = v;
            }
            6 => match str_of(val)?.as_str() {
                v @ ("normal" | "off") => d.ecn = v.to_string(),
                _ => return Err(errno::EINVAL),
            },
            7 => {
                // As the driver: `inherit`, or one or two digits up to 63.
                let v = str_of(val)?;
                let num = !v.is_empty() && v.len() <= 2 && v.bytes().all(|c| c.is_ascii_digit());
                if v != "inherit" && !(num && v.parse::<u8>().is_ok_and(|n| n <= 63)) {
                    return Err(errno::EINVAL);
                }
                d.dscp = v;
            }
            8 => {
                let v = u64_of(val)?;
                if v > 255 {
                    return Err(errno::EINVAL);
                }
                d.ttl = v;
            }
            _ => return Err(errno::EINVAL),
        }
        Ok(())
    }

    pub(super) fn ovl_status(&mut self, linkid: LinkId) -> Result<(bool, String), Errno> {
        self.check("ovl_status")?;
        let d = self.devs.get(&linkid).ok_or(errno::ENOENT)?;
        Ok(match &d.degraded {
            Some(m) => (true, m.clone()),
            None => (false, String::new()),
        })
    }
}

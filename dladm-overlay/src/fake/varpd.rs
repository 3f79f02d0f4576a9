//! The fake varpd: instances of the `direct` and `files` search plugins,
//! their properties and target tables, behind a door that is missing
//! while `varpd_running` is false.
//!
//! Theory of operation: an instance is created for an overlay device and
//! takes its properties until it is activated, which needs the plugin's
//! required properties and binds it to the device. A `direct` instance has
//! no table: it reports its one destination as the default entry.

use std::collections::BTreeMap;

use super::driver::{ip_of, ip_unusable, u64_of};
use super::{FInst, FakeBackend};
use crate::backend::*;
use crate::errno::{self, Errno};
use crate::prop::*;

impl FakeBackend {
    fn vprops(plugin: &str) -> Vec<PropInfo> {
        let mut v = vec![PropInfo {
            id: 0,
            name: "search".into(),
            ptype: OVERLAY_PROP_T_STRING,
            prot: OVERLAY_PROP_PERM_READ,
            default: vec![],
            range: Range::Str(vec!["direct".into(), "files".into()]),
        }];
        match plugin {
            "direct" => {
                v.push(PropInfo {
                    id: 1,
                    name: "direct/dest_ip".into(),
                    ptype: OVERLAY_PROP_T_IP,
                    prot: OVERLAY_PROP_PERM_RW | OVERLAY_PROP_PERM_REQ,
                    default: vec![],
                    range: Range::None,
                });
                v.push(PropInfo {
                    id: 2,
                    name: "direct/dest_port".into(),
                    ptype: OVERLAY_PROP_T_UINT,
                    prot: OVERLAY_PROP_PERM_RW | OVERLAY_PROP_PERM_REQ,
                    default: vec![],
                    range: Range::Uint32(vec![(1, 65535)]),
                });
            }
            _ => v.push(PropInfo {
                id: 1,
                name: "files/config".into(),
                ptype: OVERLAY_PROP_T_STRING,
                prot: OVERLAY_PROP_PERM_RW | OVERLAY_PROP_PERM_REQ,
                default: vec![],
                range: Range::None,
            }),
        }
        v
    }

    pub(super) fn varpd_open(&mut self) -> Result<(), Errno> {
        self.door()?;
        self.check("varpd_open")
    }

    pub(super) fn varpd_instance_create(
        &mut self,
        linkid: LinkId,
        plugin: &str,
    ) -> Result<u64, Errno> {
        self.door()?;
        self.priv_check()?;
        self.check("varpd_create")?;
        if plugin != "direct" && plugin != "files" {
            return Err(errno::ENOENT);
        }
        if !self.devs.contains_key(&linkid) {
            return Err(errno::ENOENT);
        }
        if self.insts.values().any(|i| i.linkid == linkid) {
            return Err(errno::EEXIST);
        }
        let id = self.next_inst;
        self.next_inst += 1;
        self.insts.insert(
            id,
            FInst {
                linkid,
                plugin: plugin.to_string(),
                active: false,
                dest_ip: None,
                dest_port: None,
                config: None,
                cache: BTreeMap::new(),
            },
        );
        Ok(id)
    }

    pub(super) fn varpd_instance_activate(&mut self, id: u64) -> Result<(), Errno> {
        self.door()?;
        self.priv_check()?;
        self.check("varpd_activate")?;
        let inst = self.insts.get_mut(&id).ok_or(errno::ENOENT)?;
        if inst.active {
            return Err(errno::EEXIST);
        }
        let ready = match inst.plugin.as_str() {
            "direct" => inst.dest_ip.is_some() && inst.dest_port.is_some(),
            _ => inst.config.is_some(),
        };
        if !ready {
            return Err(errno::EAGAIN);
        }
        let linkid = inst.linkid;
        let d = self.devs.get_mut(&linkid).ok_or(errno::ENOENT)?;
        if d.varpd.is_some() {
            return Err(errno::EEXIST);
        }
        d.varpd = Some(id);
        // insts.get_mut(&id) succeeded above and nothing removed it since.
        if let Some(i) = self.insts.get_mut(&id) {
            i.active = true;
        }
        Ok(())
    }

    pub(super) fn varpd_instance_destroy(&mut self, id: u64) -> Result<(), Errno> {
        self.door()?;
        self.priv_check()?;
        let inst = self.insts.remove(&id).ok_or(errno::ENOENT)?;
        if let Some(d) = self.devs.get_mut(&inst.linkid) {
            if d.varpd == Some(id) {
                d.varpd = None;
            }
        }
        Ok(())
    }

    pub(super) fn varpd_nprops(&mut self, id: u64) -> Result<u32, Errno> {
        self.door()?;
        self.check("varpd_nprops")?;
        let i = self.insts.get(&id).ok_or(errno::ENOENT)?;
        Ok(Self::vprops(&i.plugin).len() as u32)
    }

    pub(super) fn varpd_propinfo(&mut self, id: u64, sel: PropSel<'_>) -> Result<PropInfo, Errno> {
        self.door()?;
        let i = self.insts.get(&id).ok_or(errno::ENOENT)?;
        let props = Self::vprops(&i.plugin);
        match sel {
            PropSel::Id(n) => props.get(n as usize).cloned().ok_or(errno::EINVAL),
            PropSel::Name(n) => props.into_iter().find(|p| p.name == n).ok_or(errno::ENOENT),
        }
    }

    pub(super) fn varpd_getprop(&mut self, id: u64, propid: u32) -> Result<Vec<u8>, Errno> {
        self.door()?;
        let i = self.insts.get(&id).ok_or(errno::ENOENT)?;
        Ok(match (i.plugin.as_str(), propid) {
            (_, 0) => {
                let mut v = i.plugin.as_bytes().to_vec();
                v.push(0);
                v
            }
            ("direct", 1) => i.dest_ip.map(|a| a.to_vec()).unwrap_or_default(),
            ("direct", 2) => i
                .dest_port
                .map(|p| p.to_le_bytes().to_vec())
                .unwrap_or_default(),
            ("files", 1) => i
                .config
                .as_ref()
                .map(|c| {
                    let mut v = c.as_bytes().to_vec();
                    v.push(0);
                    v
                })
                .unwrap_or_default(),
            _ => return Err(errno::EINVAL),
        })
    }

    pub(super) fn varpd_setprop(&mut self, id: u64, propid: u32, val: &[u8]) -> Result<(), Errno> {
        self.door()?;
        self.priv_check()?;
        let plugin = self.insts.get(&id).ok_or(errno::ENOENT)?.plugin.clone();
        if let Some(p) = Self::vprops(&plugin).get(propid as usize) {
            self.check(&format!("varpd_setprop:{}", p.name))?;
        }
        let i = self.insts.get_mut(&id).ok_or(errno::ENOENT)?;
        if i.active {
            // §12 #5: properties are fixed once the instance is active.
            return Err(errno::EBUSY);
        }
        match (plugin.as_str(), propid) {
            (_, 0) => return Err(errno::EPERM),
            ("direct", 1) => {
                // As the direct plugin: also not the unspecified address.
                let a = ip_of(val)?;
                if ip_unusable(&a) || std::net::Ipv6Addr::from(a).is_unspecified() {
                    return Err(errno::EINVAL);
                }
                i.dest_ip = Some(a);
            }
            ("direct", 2) => {
                let p = u64_of(val)?;
                if p == 0 || p > 65535 {
                    return Err(errno::EINVAL);
                }
                i.dest_port = Some(p);
            }
            ("files", 1) => {
                let end = val.iter().position(|&c| c == 0).unwrap_or(val.len());
                i.config = Some(String::from_utf8_lossy(&val[..end]).into_owned());
            }
            _ => return Err(errno::EINVAL),
        }
        Ok(())
    }

    pub(super) fn varpd_lookup(&mut self, linkid: LinkId) -> Result<u64, Errno> {
        self.door()?;
        self.insts
            .iter()
            .find(|(_, i)| i.linkid == linkid)
            .map(|(id, _)| *id)
            .ok_or(errno::ENOENT)
    }

    pub(super) fn varpd_target_mode(&mut self, id: u64) -> Result<(u32, u32), Errno> {
        self.door()?;
        let i = self.insts.get(&id).ok_or(errno::ENOENT)?;
        let mode = if i.plugin == "direct" {
            OVERLAY_TARGET_POINT
        } else {
            OVERLAY_TARGET_DYNAMIC
        };
        Ok((OVERLAY_PLUGIN_D_IP | OVERLAY_PLUGIN_D_PORT, mode))
    }

    pub(super) fn varpd_cache_flush(&mut self, id: u64) -> Result<(), Errno> {
        self.door()?;
        self.priv_check()?;
        let i = self.insts.get_mut(&id).ok_or(errno::ENOENT)?;
        if i.plugin == "direct" {
            return Err(errno::ENOTSUP);
        }
        i.cache.clear();
        Ok(())
    }

    pub(super) fn varpd_cache_delete(&mut self, id: u64, key: [u8; 6]) -> Result<(), Errno> {
        self.door()?;
        self.priv_check()?;
        let i = self.insts.get_mut(&id).ok_or(errno::ENOENT)?;
        if i.plugin == "direct" {
            return Err(errno::ENOTSUP);
        }
        i.cache.remove(&key);
        Ok(())
    }

    pub(super) fn varpd_cache_get(&mut self, id: u64, key: [u8; 6]) -> Result<CacheEntry, Errno> {
        self.door()?;
        let i = self.insts.get(&id).ok_or(errno::ENOENT)?;
        i.cache.get(&key).copied().ok_or(errno::ENOENT)
    }

    pub(super) fn varpd_cache_set(
        &mut self,
        id: u64,
        key: [u8; 6],
        ent: &CacheEntry,
    ) -> Result<(), Errno> {
        self.door()?;
        self.priv_check()?;
        let i = self.insts.get_mut(&id).ok_or(errno::ENOENT)?;
        if i.plugin == "direct" {
            return Err(errno::ENOTSUP);
        }
        i.cache.insert(key, *ent);
        Ok(())
    }

    pub(super) fn varpd_cache_walk(
        &mut self,
        id: u64,
    ) -> Result<Vec<([u8; 6], CacheEntry)>, Errno> {
        self.door()?;
        let i = self.insts.get(&id).ok_or(errno::ENOENT)?;
        if i.plugin == "direct" {
            let ent = CacheEntry {
                mac: [0; 6],
                flags: 0,
                ip: i.dest_ip.unwrap_or([0; 16]),
                port: i.dest_port.unwrap_or(0) as u16,
            };
            return Ok(vec![([0; 6], ent)]);
        }
        Ok(i.cache.iter().map(|(k, v)| (*k, *v)).collect())
    }
}

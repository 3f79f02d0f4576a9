//! An in-memory system for testing dladm: dlmgmtd, the overlay driver
//! with the VXLAN plugin, varpd with the `direct` and `files` plugins, and
//! VNICs, with the errors the real ones return.
//!
//! Tests drive it through the same `Backend` trait as the real system and
//! inspect its state afterwards (`links`, `devs`, `insts`, `vnics`) to check
//! that failures leave nothing behind. `fail` injects an errno at a named
//! step (`"ovl_create"`, `"ovl_setprop:vxlan/listen_ip"`, `"varpd_open"`,
//! `"varpd_create"`, `"varpd_setprop:direct/dest_ip"`, `"varpd_activate"`,
//! `"ovl_activate"`, `"set_conf"`, `"create_id"`, `"vnic_create"`, ...);
//! `privileged = false` makes every privileged operation fail with `EPERM`,
//! as fkoverlayd and varpd do for a caller without `sys_dl_config`.

use std::collections::{BTreeMap, HashMap};

use crate::backend::*;
use crate::errno::{self, Errno};
use crate::prop::*;

/// A link in the fake dlmgmtd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FLink {
    pub name: String,
    pub class: u32,
    pub flags: u32,
    pub conf: BTreeMap<String, ConfVal>,
}

/// A device of the fake overlay driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FDev {
    pub vnetid: u64,
    pub encap: String,
    pub mtu: u32,
    pub listen_ip: Option<[u8; 16]>,
    pub listen_port: u64,
    pub activated: bool,
    pub varpd: Option<u64>,
    pub degraded: Option<String>,
}

/// A varpd instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FInst {
    pub linkid: LinkId,
    pub plugin: String,
    pub active: bool,
    pub dest_ip: Option<[u8; 16]>,
    pub dest_port: Option<u64>,
    pub config: Option<String>,
    pub cache: BTreeMap<[u8; 6], CacheEntry>,
}

/// The fake system.
#[derive(Clone, Debug)]
pub struct FakeBackend {
    pub privileged: bool,
    /// Return a malformed (3-byte) `vxlan/listen_ip` value.
    pub bad_ip_size: bool,
    pub varpd_running: bool,
    pub fail: HashMap<String, Errno>,
    pub links: BTreeMap<LinkId, FLink>,
    pub devs: BTreeMap<LinkId, FDev>,
    pub insts: BTreeMap<u64, FInst>,
    pub vnics: BTreeMap<LinkId, VnicAttr>,
    /// Zones that exist (`zone_exists`).
    pub zones_known: std::collections::BTreeSet<String>,
    /// The zone of each running VNIC not in the global zone.
    pub vnic_zone: BTreeMap<LinkId, String>,
    next_linkid: LinkId,
    next_inst: u64,
    next_mac: u8,
}

impl Default for FakeBackend {
    fn default() -> Self {
        FakeBackend::new()
    }
}

const KPROPS: &[&str] = &[
    "mtu",
    "vnetid",
    "encap",
    "varpd/id",
    "vxlan/listen_ip",
    "vxlan/listen_port",
];

impl FakeBackend {
    pub fn new() -> FakeBackend {
        FakeBackend {
            privileged: true,
            bad_ip_size: false,
            varpd_running: true,
            fail: HashMap::new(),
            links: BTreeMap::new(),
            devs: BTreeMap::new(),
            insts: BTreeMap::new(),
            vnics: BTreeMap::new(),
            zones_known: std::collections::BTreeSet::new(),
            vnic_zone: BTreeMap::new(),
            next_linkid: 1,
            next_inst: 1,
            next_mac: 1,
        }
    }

    /// Make step `what` fail with `e`.
    pub fn fail_at(&mut self, what: &str, e: Errno) {
        self.fail.insert(what.to_string(), e);
    }

    fn check(&self, what: &str) -> Result<(), Errno> {
        match self.fail.get(what) {
            Some(&e) => Err(e),
            None => Ok(()),
        }
    }

    fn priv_check(&self) -> Result<(), Errno> {
        if self.privileged {
            Ok(())
        } else {
            Err(errno::EPERM)
        }
    }

    fn door(&self) -> Result<(), Errno> {
        if self.varpd_running {
            Ok(())
        } else {
            Err(errno::ENOENT)
        }
    }

    /// Add a link of any class (e.g. a physical link or an etherstub).
    pub fn add_link(&mut self, name: &str, class: u32, flags: u32) -> LinkId {
        let id = self.next_linkid;
        self.next_linkid += 1;
        self.links.insert(
            id,
            FLink {
                name: name.to_string(),
                class,
                flags,
                conf: BTreeMap::new(),
            },
        );
        id
    }

    /// Mark a device degraded (FMA), as varpd would.
    pub fn degrade(&mut self, linkid: LinkId, msg: &str) {
        if let Some(d) = self.devs.get_mut(&linkid) {
            d.degraded = Some(msg.to_string());
        }
    }

    /// Simulate a reboot: running state is lost, persistent links remain
    /// (inactive), varpd instances and devices are gone.
    pub fn reboot(&mut self) {
        self.devs.clear();
        self.insts.clear();
        self.vnics.clear();
        self.vnic_zone.clear();
        self.links.retain(|_, l| l.flags & DLADM_OPT_PERSIST != 0);
        for l in self.links.values_mut() {
            l.flags &= !DLADM_OPT_ACTIVE;
        }
    }

    /// True when nothing at all exists (no link, device, instance, VNIC).
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
            && self.devs.is_empty()
            && self.insts.is_empty()
            && self.vnics.is_empty()
    }

    fn link_info(&self, id: LinkId) -> Result<LinkInfo, Errno> {
        let l = self.links.get(&id).ok_or(errno::ENOENT)?;
        Ok(LinkInfo {
            linkid: id,
            name: l.name.clone(),
            class: l.class,
            media: DL_ETHER,
            flags: l.flags,
        })
    }

    fn kprop_info(&self, id: u32) -> Option<PropInfo> {
        let name = KPROPS.get(id as usize)?.to_string();
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
            _ => (
                OVERLAY_PROP_T_UINT,
                OVERLAY_PROP_PERM_RW | OVERLAY_PROP_PERM_REQ,
                4789u64.to_le_bytes().to_vec(),
                Range::Uint32(vec![(1, 65535)]),
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

    fn random_mac(&mut self) -> [u8; 6] {
        let m = [0x02, 0x08, 0x20, 0x00, 0x00, self.next_mac];
        self.next_mac = self.next_mac.wrapping_add(1);
        m
    }
}

fn u64_of(v: &[u8]) -> Result<u64, Errno> {
    if v.len() != 8 {
        return Err(errno::EINVAL);
    }
    let mut a = [0u8; 8];
    a.copy_from_slice(v);
    Ok(u64::from_le_bytes(a))
}

fn ip_of(v: &[u8]) -> Result<[u8; 16], Errno> {
    if v.len() != 16 {
        return Err(errno::EINVAL);
    }
    let mut a = [0u8; 16];
    a.copy_from_slice(v);
    Ok(a)
}

impl Backend for FakeBackend {
    fn name2info(&mut self, name: &str) -> Result<LinkInfo, Errno> {
        let id = self
            .links
            .iter()
            .find(|(_, l)| l.name == name)
            .map(|(id, _)| *id)
            .ok_or(errno::ENOENT)?;
        self.link_info(id)
    }

    fn id2info(&mut self, linkid: LinkId) -> Result<LinkInfo, Errno> {
        self.check("id2info")?;
        self.link_info(linkid)
    }

    fn walk_links(&mut self, class_mask: u32, flags: u32) -> Result<Vec<LinkInfo>, Errno> {
        let ids: Vec<LinkId> = self
            .links
            .iter()
            .filter(|(_, l)| l.class & class_mask != 0 && l.flags & flags != 0)
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter().map(|id| self.link_info(id)).collect()
    }

    fn create_datalink_id(&mut self, name: &str, class: u32, flags: u32) -> Result<LinkId, Errno> {
        self.priv_check()?;
        self.check("create_id")?;
        if self.links.values().any(|l| l.name == name) {
            return Err(errno::EEXIST);
        }
        Ok(self.add_link(name, class, flags))
    }

    fn destroy_datalink_id(&mut self, linkid: LinkId, flags: u32) -> Result<(), Errno> {
        self.priv_check()?;
        let busy = self.devs.contains_key(&linkid) || self.vnics.contains_key(&linkid);
        let l = self.links.get_mut(&linkid).ok_or(errno::ENOENT)?;
        if flags & DLADM_OPT_ACTIVE != 0 && busy {
            return Err(errno::EBUSY);
        }
        l.flags &= !flags;
        if flags & DLADM_OPT_PERSIST != 0 {
            l.conf.clear();
        }
        if l.flags == 0 {
            self.links.remove(&linkid);
        }
        Ok(())
    }

    fn up_datalink_id(&mut self, linkid: LinkId) -> Result<(), Errno> {
        self.priv_check()?;
        self.check("up_id")?;
        let l = self.links.get_mut(&linkid).ok_or(errno::ENOENT)?;
        if l.flags & DLADM_OPT_PERSIST == 0 {
            return Err(errno::EINVAL);
        }
        l.flags |= DLADM_OPT_ACTIVE;
        Ok(())
    }

    fn set_conf(&mut self, linkid: LinkId, key: &str, val: &ConfVal) -> Result<(), Errno> {
        self.priv_check()?;
        self.check("set_conf")?;
        let l = self.links.get_mut(&linkid).ok_or(errno::ENOENT)?;
        if l.flags & DLADM_OPT_PERSIST == 0 {
            return Err(errno::EINVAL);
        }
        l.conf.insert(key.to_string(), val.clone());
        Ok(())
    }

    fn get_conf(&mut self, linkid: LinkId) -> Result<Vec<(String, ConfVal)>, Errno> {
        let l = self.links.get(&linkid).ok_or(errno::ENOENT)?;
        Ok(l.conf.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    fn remove_conf(&mut self, linkid: LinkId) -> Result<(), Errno> {
        self.priv_check()?;
        let l = self.links.get_mut(&linkid).ok_or(errno::ENOENT)?;
        l.conf.clear();
        Ok(())
    }

    fn ovl_create(&mut self, linkid: LinkId, vnetid: u64, encap: &str) -> Result<(), Errno> {
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
                activated: false,
                varpd: None,
                degraded: None,
            },
        );
        Ok(())
    }

    fn ovl_delete(&mut self, linkid: LinkId) -> Result<(), Errno> {
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

    fn ovl_activate(&mut self, linkid: LinkId) -> Result<(), Errno> {
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

    fn ovl_nprops(&mut self, linkid: LinkId) -> Result<u32, Errno> {
        self.priv_check()?;
        self.check("ovl_nprops")?;
        if !self.devs.contains_key(&linkid) {
            return Err(errno::ENOENT);
        }
        Ok(KPROPS.len() as u32)
    }

    fn ovl_propinfo(&mut self, linkid: LinkId, sel: PropSel<'_>) -> Result<PropInfo, Errno> {
        self.priv_check()?;
        self.check("ovl_propinfo")?;
        if !self.devs.contains_key(&linkid) {
            return Err(errno::ENOENT);
        }
        let id = match sel {
            PropSel::Id(i) => i,
            PropSel::Name(n) => KPROPS.iter().position(|p| *p == n).ok_or(errno::ENOENT)? as u32,
        };
        self.kprop_info(id).ok_or(errno::EINVAL)
    }

    fn ovl_getprop(&mut self, linkid: LinkId, id: u32) -> Result<Vec<u8>, Errno> {
        self.priv_check()?;
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
            _ => return Err(errno::EINVAL),
        })
    }

    fn ovl_setprop(&mut self, linkid: LinkId, id: u32, val: &[u8]) -> Result<(), Errno> {
        self.priv_check()?;
        if let Some(name) = KPROPS.get(id as usize) {
            self.check(&format!("ovl_setprop:{name}"))?;
        }
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
                if v >= 0xff_ffff {
                    return Err(errno::EINVAL);
                }
                d.vnetid = v;
            }
            2 | 3 => return Err(errno::EPERM),
            4 => d.listen_ip = Some(ip_of(val)?),
            5 => {
                let v = u64_of(val)?;
                if v > 65535 {
                    return Err(errno::EINVAL);
                }
                d.listen_port = v;
            }
            _ => return Err(errno::EINVAL),
        }
        Ok(())
    }

    fn ovl_status(&mut self, linkid: LinkId) -> Result<(bool, String), Errno> {
        self.check("ovl_status")?;
        let d = self.devs.get(&linkid).ok_or(errno::ENOENT)?;
        Ok(match &d.degraded {
            Some(m) => (true, m.clone()),
            None => (false, String::new()),
        })
    }

    fn varpd_open(&mut self) -> Result<(), Errno> {
        self.door()?;
        self.check("varpd_open")
    }

    fn varpd_instance_create(&mut self, linkid: LinkId, plugin: &str) -> Result<u64, Errno> {
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

    fn varpd_instance_activate(&mut self, id: u64) -> Result<(), Errno> {
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

    fn varpd_instance_destroy(&mut self, id: u64) -> Result<(), Errno> {
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

    fn varpd_nprops(&mut self, id: u64) -> Result<u32, Errno> {
        self.door()?;
        self.check("varpd_nprops")?;
        let i = self.insts.get(&id).ok_or(errno::ENOENT)?;
        Ok(Self::vprops(&i.plugin).len() as u32)
    }

    fn varpd_propinfo(&mut self, id: u64, sel: PropSel<'_>) -> Result<PropInfo, Errno> {
        self.door()?;
        let i = self.insts.get(&id).ok_or(errno::ENOENT)?;
        let props = Self::vprops(&i.plugin);
        match sel {
            PropSel::Id(n) => props.get(n as usize).cloned().ok_or(errno::EINVAL),
            PropSel::Name(n) => props.into_iter().find(|p| p.name == n).ok_or(errno::ENOENT),
        }
    }

    fn varpd_getprop(&mut self, id: u64, propid: u32) -> Result<Vec<u8>, Errno> {
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

    fn varpd_setprop(&mut self, id: u64, propid: u32, val: &[u8]) -> Result<(), Errno> {
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
            ("direct", 1) => i.dest_ip = Some(ip_of(val)?),
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

    fn varpd_lookup(&mut self, linkid: LinkId) -> Result<u64, Errno> {
        self.door()?;
        self.insts
            .iter()
            .find(|(_, i)| i.linkid == linkid)
            .map(|(id, _)| *id)
            .ok_or(errno::ENOENT)
    }

    fn varpd_target_mode(&mut self, id: u64) -> Result<(u32, u32), Errno> {
        self.door()?;
        let i = self.insts.get(&id).ok_or(errno::ENOENT)?;
        let mode = if i.plugin == "direct" {
            OVERLAY_TARGET_POINT
        } else {
            OVERLAY_TARGET_DYNAMIC
        };
        Ok((OVERLAY_PLUGIN_D_IP | OVERLAY_PLUGIN_D_PORT, mode))
    }

    fn varpd_cache_flush(&mut self, id: u64) -> Result<(), Errno> {
        self.door()?;
        self.priv_check()?;
        let i = self.insts.get_mut(&id).ok_or(errno::ENOENT)?;
        if i.plugin == "direct" {
            return Err(errno::ENOTSUP);
        }
        i.cache.clear();
        Ok(())
    }

    fn varpd_cache_delete(&mut self, id: u64, key: [u8; 6]) -> Result<(), Errno> {
        self.door()?;
        self.priv_check()?;
        let i = self.insts.get_mut(&id).ok_or(errno::ENOENT)?;
        if i.plugin == "direct" {
            return Err(errno::ENOTSUP);
        }
        i.cache.remove(&key);
        Ok(())
    }

    fn varpd_cache_get(&mut self, id: u64, key: [u8; 6]) -> Result<CacheEntry, Errno> {
        self.door()?;
        let i = self.insts.get(&id).ok_or(errno::ENOENT)?;
        i.cache.get(&key).copied().ok_or(errno::ENOENT)
    }

    fn varpd_cache_set(&mut self, id: u64, key: [u8; 6], ent: &CacheEntry) -> Result<(), Errno> {
        self.door()?;
        self.priv_check()?;
        let i = self.insts.get_mut(&id).ok_or(errno::ENOENT)?;
        if i.plugin == "direct" {
            return Err(errno::ENOTSUP);
        }
        i.cache.insert(key, *ent);
        Ok(())
    }

    fn varpd_cache_walk(&mut self, id: u64) -> Result<Vec<([u8; 6], CacheEntry)>, Errno> {
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

    fn vnic_create(&mut self, req: &VnicCreate) -> Result<VnicAttr, Errno> {
        self.priv_check()?;
        self.check("vnic_create")?;
        let over = self.link_info(req.over)?;
        let dev = self.devs.get(&req.over).ok_or(errno::ENXIO)?.clone();
        if !dev.activated {
            return Err(errno::ENXIO);
        }
        if req.mtu > dev.mtu || req.vid > VLAN_ID_MAX {
            return Err(errno::EINVAL);
        }
        // As fkoverlayd: a random address handed back is kept.
        let mac = if req.mac_type == VNIC_MAC_ADDR_TYPE_FIXED || req.mac != [0; 6] {
            req.mac
        } else {
            self.random_mac()
        };
        let linkid = match req.linkid {
            Some(l) => {
                let li = self.links.get_mut(&l).ok_or(errno::ENOENT)?;
                if li.class != DATALINK_CLASS_VNIC || self.vnics.contains_key(&l) {
                    return Err(errno::EINVAL);
                }
                li.flags |= DLADM_OPT_ACTIVE;
                l
            }
            None => {
                if self.links.values().any(|l| l.name == req.name) {
                    return Err(errno::EEXIST);
                }
                self.add_link(&req.name, DATALINK_CLASS_VNIC, req.flags)
            }
        };
        let mtu = if req.mtu == 0 { dev.mtu } else { req.mtu };
        let attr = VnicAttr {
            linkid,
            name: req.name.clone(),
            over: req.over,
            overname: over.name,
            flags: req.flags,
            mac_type: req.mac_type,
            mac,
            mtu,
            vid: u32::from(req.vid),
            state: 1,
            speed_mbps: 0,
        };
        if req.linkid.is_none() && req.flags & DLADM_OPT_PERSIST != 0 {
            // links.get_mut cannot fail: add_link just inserted it.
            if let Some(l) = self.links.get_mut(&linkid) {
                l.conf
                    .insert("linkover".into(), ConfVal::U64(u64::from(req.over)));
                l.conf.insert(
                    "macaddr".into(),
                    ConfVal::Str(crate::linkname::ether_ntoa(&mac)),
                );
                l.conf
                    .insert("mac_type".into(), ConfVal::U64(u64::from(req.mac_type)));
                if req.mtu != 0 {
                    l.conf
                        .insert("mtu".into(), ConfVal::U64(u64::from(req.mtu)));
                }
                if req.vid != 0 {
                    l.conf
                        .insert("vid".into(), ConfVal::U64(u64::from(req.vid)));
                }
            }
        }
        self.vnics.insert(linkid, attr.clone());
        Ok(attr)
    }

    fn vnic_delete(&mut self, linkid: LinkId, flags: u32) -> Result<(), Errno> {
        self.priv_check()?;
        self.vnic_zone.remove(&linkid);
        if self.vnics.remove(&linkid).is_none() {
            return Err(errno::ENOENT);
        }
        let flags = if flags == 0 { DLADM_OPT_ACTIVE } else { flags };
        self.destroy_datalink_id(linkid, flags)
    }

    fn vnic_info(&mut self, linkid: LinkId) -> Result<VnicAttr, Errno> {
        self.vnics.get(&linkid).cloned().ok_or(errno::ENOENT)
    }

    fn vnic_walk(&mut self, over: Option<LinkId>) -> Result<Vec<VnicAttr>, Errno> {
        Ok(self
            .vnics
            .values()
            .filter(|v| over.is_none_or(|o| o == v.over))
            .cloned()
            .collect())
    }

    fn zone_exists(&mut self, name: &str) -> bool {
        self.zones_known.contains(name)
    }

    fn vnic_set_zone(&mut self, linkid: LinkId, zone: &str) -> Result<(), Errno> {
        self.priv_check()?;
        self.check("vnic_set_zone")?;
        if !self.vnics.contains_key(&linkid) {
            return Err(errno::ENOENT);
        }
        if zone.is_empty() {
            self.vnic_zone.remove(&linkid);
        } else if self.zones_known.contains(zone) {
            self.vnic_zone.insert(linkid, zone.to_string());
        } else {
            return Err(errno::EINVAL);
        }
        Ok(())
    }

    fn vnic_get_zone(&mut self, linkid: LinkId) -> Result<String, Errno> {
        if !self.vnics.contains_key(&linkid) {
            return Err(errno::ENOENT);
        }
        Ok(self.vnic_zone.get(&linkid).cloned().unwrap_or_default())
    }
}

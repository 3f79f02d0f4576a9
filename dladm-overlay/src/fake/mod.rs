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
//!
//! Theory of operation: [`FakeBackend`] holds the state of the four fake
//! components and implements [`Backend`]. dlmgmtd (links and their
//! persistent configuration) is handled right here; every other call goes
//! to the component's inherent method of the same name: `driver` (the
//! overlay driver and its properties), `varpd` (instances, properties,
//! target tables) and `vnic` (VNICs and their zones).

use std::collections::{BTreeMap, HashMap};

use crate::backend::*;
use crate::errno::{self, Errno};
use crate::prop::*;

mod driver;
mod varpd;
mod vnic;

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
    pub ecn: String,
    pub dscp: String,
    pub ttl: u64,
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
    /// The VXLAN plugin also has this port's extensions (`vxlan/ecn`,
    /// `vxlan/dscp`, `vxlan/ttl`), as the real driver does; without it,
    /// only illumos' `vxlan/listen_ip` and `vxlan/listen_port`.
    pub vxlan_ext: bool,
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

impl FakeBackend {
    pub fn new() -> FakeBackend {
        FakeBackend {
            privileged: true,
            bad_ip_size: false,
            vxlan_ext: false,
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

    pub(super) fn check(&self, what: &str) -> Result<(), Errno> {
        match self.fail.get(what) {
            Some(&e) => Err(e),
            None => Ok(()),
        }
    }

    pub(super) fn priv_check(&self) -> Result<(), Errno> {
        if self.privileged {
            Ok(())
        } else {
            Err(errno::EPERM)
        }
    }

    pub(super) fn door(&self) -> Result<(), Errno> {
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

    pub(super) fn link_info(&self, id: LinkId) -> Result<LinkInfo, Errno> {
        let l = self.links.get(&id).ok_or(errno::ENOENT)?;
        Ok(LinkInfo {
            linkid: id,
            name: l.name.clone(),
            class: l.class,
            media: DL_ETHER,
            flags: l.flags,
        })
    }
}

/// dlmgmtd's methods are here; each other method calls the component's
/// inherent method of the same name (inherent methods take precedence
/// over the trait's), in `driver`, `varpd` or `vnic`.
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
        FakeBackend::ovl_create(self, linkid, vnetid, encap)
    }

    fn ovl_delete(&mut self, linkid: LinkId) -> Result<(), Errno> {
        FakeBackend::ovl_delete(self, linkid)
    }

    fn ovl_activate(&mut self, linkid: LinkId) -> Result<(), Errno> {
        FakeBackend::ovl_activate(self, linkid)
    }

    fn ovl_nprops(&mut self, linkid: LinkId) -> Result<u32, Errno> {
        FakeBackend::ovl_nprops(self, linkid)
    }

    fn ovl_propinfo(&mut self, linkid: LinkId, sel: PropSel<'_>) -> Result<PropInfo, Errno> {
        FakeBackend::ovl_propinfo(self, linkid, sel)
    }

    fn ovl_getprop(&mut self, linkid: LinkId, id: u32) -> Result<Vec<u8>, Errno> {
        FakeBackend::ovl_getprop(self, linkid, id)
    }

    fn ovl_setprop(&mut self, linkid: LinkId, id: u32, val: &[u8]) -> Result<(), Errno> {
        FakeBackend::ovl_setprop(self, linkid, id, val)
    }

    fn ovl_status(&mut self, linkid: LinkId) -> Result<(bool, String), Errno> {
        FakeBackend::ovl_status(self, linkid)
    }

    fn varpd_open(&mut self) -> Result<(), Errno> {
        FakeBackend::varpd_open(self)
    }

    fn varpd_instance_create(&mut self, linkid: LinkId, plugin: &str) -> Result<u64, Errno> {
        FakeBackend::varpd_instance_create(self, linkid, plugin)
    }

    fn varpd_instance_activate(&mut self, id: u64) -> Result<(), Errno> {
        FakeBackend::varpd_instance_activate(self, id)
    }

    fn varpd_instance_destroy(&mut self, id: u64) -> Result<(), Errno> {
        FakeBackend::varpd_instance_destroy(self, id)
    }

    fn varpd_nprops(&mut self, id: u64) -> Result<u32, Errno> {
        FakeBackend::varpd_nprops(self, id)
    }

    fn varpd_propinfo(&mut self, id: u64, sel: PropSel<'_>) -> Result<PropInfo, Errno> {
        FakeBackend::varpd_propinfo(self, id, sel)
    }

    fn varpd_getprop(&mut self, id: u64, propid: u32) -> Result<Vec<u8>, Errno> {
        FakeBackend::varpd_getprop(self, id, propid)
    }

    fn varpd_setprop(&mut self, id: u64, propid: u32, val: &[u8]) -> Result<(), Errno> {
        FakeBackend::varpd_setprop(self, id, propid, val)
    }

    fn varpd_lookup(&mut self, linkid: LinkId) -> Result<u64, Errno> {
        FakeBackend::varpd_lookup(self, linkid)
    }

    fn varpd_target_mode(&mut self, id: u64) -> Result<(u32, u32), Errno> {
        FakeBackend::varpd_target_mode(self, id)
    }

    fn varpd_cache_flush(&mut self, id: u64) -> Result<(), Errno> {
        FakeBackend::varpd_cache_flush(self, id)
    }

    fn varpd_cache_delete(&mut self, id: u64, key: [u8; 6]) -> Result<(), Errno> {
        FakeBackend::varpd_cache_delete(self, id, key)
    }

    fn varpd_cache_get(&mut self, id: u64, key: [u8; 6]) -> Result<CacheEntry, Errno> {
        FakeBackend::varpd_cache_get(self, id, key)
    }

    fn varpd_cache_set(&mut self, id: u64, key: [u8; 6], ent: &CacheEntry) -> Result<(), Errno> {
        FakeBackend::varpd_cache_set(self, id, key, ent)
    }

    fn varpd_cache_walk(&mut self, id: u64) -> Result<Vec<([u8; 6], CacheEntry)>, Errno> {
        FakeBackend::varpd_cache_walk(self, id)
    }

    fn vnic_create(&mut self, req: &VnicCreate) -> Result<VnicAttr, Errno> {
        FakeBackend::vnic_create(self, req)
    }

    fn vnic_delete(&mut self, linkid: LinkId, flags: u32) -> Result<(), Errno> {
        FakeBackend::vnic_delete(self, linkid, flags)
    }

    fn vnic_info(&mut self, linkid: LinkId) -> Result<VnicAttr, Errno> {
        FakeBackend::vnic_info(self, linkid)
    }

    fn vnic_walk(&mut self, over: Option<LinkId>) -> Result<Vec<VnicAttr>, Errno> {
        FakeBackend::vnic_walk(self, over)
    }

    fn zone_exists(&mut self, name: &str) -> bool {
        FakeBackend::zone_exists(self, name)
    }

    fn vnic_set_zone(&mut self, linkid: LinkId, zone: &str) -> Result<(), Errno> {
        FakeBackend::vnic_set_zone(self, linkid, zone)
    }

    fn vnic_get_zone(&mut self, linkid: LinkId) -> Result<String, Errno> {
        FakeBackend::vnic_get_zone(self, linkid)
    }
}

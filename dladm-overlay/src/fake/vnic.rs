//! The fake VNIC driver: VNICs over activated overlays, their MAC
//! addresses, persistent attributes and zones.
//!
//! Theory of operation: as fkoverlayd does, a VNIC gets a datalink id of
//! class VNIC (or re-activates its persistent one), a random address when
//! none is given, and, when persistent, its attributes (`linkover`,
//! `macaddr`, `mac_type`, `mtu`, `vid`) recorded with its link. A zone is
//! any name in `zones_known`.

use super::FakeBackend;
use crate::backend::*;
use crate::errno::{self, Errno};

impl FakeBackend {
    fn random_mac(&mut self) -> [u8; 6] {
        let m = [0x02, 0x08, 0x20, 0x00, 0x00, self.next_mac];
        self.next_mac = self.next_mac.wrapping_add(1);
        m
    }

    pub(super) fn vnic_create(&mut self, req: &VnicCreate) -> Result<VnicAttr, Errno> {
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
        // VNICs of one overlay need distinct addresses.
        if self
            .vnics
            .values()
            .any(|v| v.over == req.over && v.mac == mac)
        {
            return Err(errno::EEXIST);
        }
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

    pub(super) fn vnic_delete(&mut self, linkid: LinkId, flags: u32) -> Result<(), Errno> {
        self.priv_check()?;
        self.vnic_zone.remove(&linkid);
        if self.vnics.remove(&linkid).is_none() {
            return Err(errno::ENOENT);
        }
        let flags = if flags == 0 { DLADM_OPT_ACTIVE } else { flags };
        self.destroy_datalink_id(linkid, flags)
    }

    pub(super) fn vnic_info(&mut self, linkid: LinkId) -> Result<VnicAttr, Errno> {
        self.vnics.get(&linkid).cloned().ok_or(errno::ENOENT)
    }

    pub(super) fn vnic_walk(&mut self, over: Option<LinkId>) -> Result<Vec<VnicAttr>, Errno> {
        Ok(self
            .vnics
            .values()
            .filter(|v| over.is_none_or(|o| o == v.over))
            .cloned()
            .collect())
    }

    pub(super) fn zone_exists(&mut self, name: &str) -> bool {
        self.zones_known.contains(name)
    }

    pub(super) fn vnic_set_zone(&mut self, linkid: LinkId, zone: &str) -> Result<(), Errno> {
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

    pub(super) fn vnic_get_zone(&mut self, linkid: LinkId) -> Result<String, Errno> {
        if !self.vnics.contains_key(&linkid) {
            return Err(errno::ENOENT);
        }
        Ok(self.vnic_zone.get(&linkid).cloned().unwrap_or_default())
    }
}

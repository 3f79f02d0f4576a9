//! The `Backend` trait: everything dladm asks of the system.
//!
//! dladm's logic (the create sequence and its rollback, delete, the
//! property walk, persistence, bring-up, VNICs) is written once against
//! this trait, in the terms libdladm uses on illumos:
//!
//! * **datalink management** (dlmgmtd's door on illumos, fkoverlayd's
//!   `FK_DL_*` commands on Linux): link ids, names, classes, flags, and the
//!   persistent per-link attributes;
//! * **the overlay driver** (`OVERLAY_IOC_*` on `/dev/dld`): each method is
//!   one ioctl and fails with the ioctl's illumos errno;
//! * **varpd** (the door client, `libvarpd_c_*`): each method is one door
//!   command and fails with the illumos errno varpd returned (or the
//!   transport's, e.g. `ENOENT` when varpd is not running);
//! * **VNICs** (the vnic driver; fkoverlayd's `FK_VNIC_*` on Linux).
//!
//! `real::RealBackend` talks to fkoverlayd and varpd; `fake::FakeBackend`
//! is an in-memory system for the unit and golden tests.

use crate::errno::Errno;
use crate::prop::PropInfo;

pub type LinkId = u32;

/// `DATALINK_CLASS_*` values (`sys/dls_mgmt.h`).
pub const DATALINK_CLASS_PHYS: u32 = 0x01;
pub const DATALINK_CLASS_VLAN: u32 = 0x02;
pub const DATALINK_CLASS_AGGR: u32 = 0x04;
pub const DATALINK_CLASS_VNIC: u32 = 0x08;
pub const DATALINK_CLASS_ETHERSTUB: u32 = 0x10;
pub const DATALINK_CLASS_SIMNET: u32 = 0x20;
pub const DATALINK_CLASS_BRIDGE: u32 = 0x40;
pub const DATALINK_CLASS_IPTUN: u32 = 0x80;
pub const DATALINK_CLASS_PART: u32 = 0x100;
pub const DATALINK_CLASS_OVERLAY: u32 = 0x200;
pub const DATALINK_CLASS_ALL: u32 = 0xffff_ffff;

/// `DL_ETHER`.
pub const DL_ETHER: u32 = 0x4;

/// `DLADM_OPT_ACTIVE` / `DLADM_OPT_PERSIST` (= dlmgmtd's flags).
pub const DLADM_OPT_ACTIVE: u32 = 0x01;
pub const DLADM_OPT_PERSIST: u32 = 0x02;

/// `dladm_class2str()`.
pub fn class2str(class: u32) -> &'static str {
    match class {
        DATALINK_CLASS_PHYS => "phys",
        DATALINK_CLASS_VLAN => "vlan",
        DATALINK_CLASS_AGGR => "aggr",
        DATALINK_CLASS_VNIC => "vnic",
        DATALINK_CLASS_ETHERSTUB => "etherstub",
        DATALINK_CLASS_SIMNET => "simnet",
        DATALINK_CLASS_BRIDGE => "bridge",
        DATALINK_CLASS_IPTUN => "iptun",
        DATALINK_CLASS_PART => "part",
        DATALINK_CLASS_OVERLAY => "overlay",
        _ => "unknown",
    }
}

/// A datalink as dlmgmtd knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkInfo {
    pub linkid: LinkId,
    pub name: String,
    pub class: u32,
    pub media: u32,
    /// `DLADM_OPT_ACTIVE` and/or `DLADM_OPT_PERSIST`.
    pub flags: u32,
}

/// A persistent link attribute value (`DLADM_TYPE_*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfVal {
    Str(String),
    Bool(bool),
    U64(u64),
}

/// Which property a PROPINFO asks about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PropSel<'a> {
    Id(u32),
    Name(&'a str),
}

/// A destination in the target cache (`varpd_client_cache_entry_t`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheEntry {
    pub mac: [u8; 6],
    /// `OVERLAY_TARGET_CACHE_DROP` = 0x01.
    pub flags: u16,
    pub ip: [u8; 16],
    pub port: u16,
}

pub const OVERLAY_TARGET_CACHE_DROP: u16 = 0x01;
pub const OVERLAY_TARGET_POINT: u32 = 1;
pub const OVERLAY_TARGET_DYNAMIC: u32 = 2;
pub const OVERLAY_PLUGIN_D_ETHERNET: u32 = 0x1;
pub const OVERLAY_PLUGIN_D_IP: u32 = 0x2;
pub const OVERLAY_PLUGIN_D_PORT: u32 = 0x4;

/// `VNIC_MAC_ADDR_TYPE_*` as fkoverlayd stores them.
pub const VNIC_MAC_ADDR_TYPE_FIXED: u32 = 0;
pub const VNIC_MAC_ADDR_TYPE_RANDOM: u32 = 1;

/// `VLAN_ID_MIN`/`VLAN_ID_MAX`: the VLAN ids a VNIC may carry (0 is an
/// untagged VNIC, 4095 is reserved).
pub const VLAN_ID_MIN: u16 = 1;
pub const VLAN_ID_MAX: u16 = 4094;

/// A VNIC to create (`dladm_vnic_create`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VnicCreate {
    /// An existing (persistent, not running) VNIC link to bring up, or
    /// `None` to create the link id from `name` and `flags`.
    pub linkid: Option<LinkId>,
    pub name: String,
    pub over: LinkId,
    pub flags: u32,
    pub mac_type: u32,
    /// The address for FIXED.
    pub mac: [u8; 6],
    /// 0: the lower link's MTU.
    pub mtu: u32,
    /// The VLAN id (1-4094), or 0 for an untagged VNIC.
    pub vid: u16,
}

/// A running VNIC (`dladm_vnic_attr_t` plus what show-link needs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VnicAttr {
    pub linkid: LinkId,
    pub name: String,
    pub over: LinkId,
    pub overname: String,
    pub flags: u32,
    pub mac_type: u32,
    pub mac: [u8; 6],
    pub mtu: u32,
    pub vid: u32,
    /// `LINK_STATE_UP` 1, `LINK_STATE_DOWN` 0, else unknown.
    pub state: u32,
    /// Speed in Mbit/s.
    pub speed_mbps: u64,
}

/// Everything dladm needs from the system. Methods take `&mut self` so
/// implementations may keep connections open.
pub trait Backend {
    // --- datalink management (dlmgmtd) ---------------------------------
    fn name2info(&mut self, name: &str) -> Result<LinkInfo, Errno>;
    fn id2info(&mut self, linkid: LinkId) -> Result<LinkInfo, Errno>;
    /// Links whose class is in `class_mask` and whose flags intersect
    /// `flags`, by increasing id.
    fn walk_links(&mut self, class_mask: u32, flags: u32) -> Result<Vec<LinkInfo>, Errno>;
    fn create_datalink_id(&mut self, name: &str, class: u32, flags: u32) -> Result<LinkId, Errno>;
    fn destroy_datalink_id(&mut self, linkid: LinkId, flags: u32) -> Result<(), Errno>;
    fn up_datalink_id(&mut self, linkid: LinkId) -> Result<(), Errno>;
    fn set_conf(&mut self, linkid: LinkId, key: &str, val: &ConfVal) -> Result<(), Errno>;
    fn get_conf(&mut self, linkid: LinkId) -> Result<Vec<(String, ConfVal)>, Errno>;
    fn remove_conf(&mut self, linkid: LinkId) -> Result<(), Errno>;

    // --- the overlay driver (OVERLAY_IOC_*) -------------------------------
    fn ovl_create(&mut self, linkid: LinkId, vnetid: u64, encap: &str) -> Result<(), Errno>;
    fn ovl_delete(&mut self, linkid: LinkId) -> Result<(), Errno>;
    fn ovl_activate(&mut self, linkid: LinkId) -> Result<(), Errno>;
    fn ovl_nprops(&mut self, linkid: LinkId) -> Result<u32, Errno>;
    fn ovl_propinfo(&mut self, linkid: LinkId, sel: PropSel<'_>) -> Result<PropInfo, Errno>;
    fn ovl_getprop(&mut self, linkid: LinkId, id: u32) -> Result<Vec<u8>, Errno>;
    fn ovl_setprop(&mut self, linkid: LinkId, id: u32, val: &[u8]) -> Result<(), Errno>;
    /// `(degraded, message)`.
    fn ovl_status(&mut self, linkid: LinkId) -> Result<(bool, String), Errno>;

    // --- varpd (libvarpd_c_*) --------------------------------------------
    /// `libvarpd_c_create`: reach varpd's door.
    fn varpd_open(&mut self) -> Result<(), Errno>;
    fn varpd_instance_create(&mut self, linkid: LinkId, plugin: &str) -> Result<u64, Errno>;
    fn varpd_instance_activate(&mut self, id: u64) -> Result<(), Errno>;
    fn varpd_instance_destroy(&mut self, id: u64) -> Result<(), Errno>;
    fn varpd_nprops(&mut self, id: u64) -> Result<u32, Errno>;
    fn varpd_propinfo(&mut self, id: u64, sel: PropSel<'_>) -> Result<PropInfo, Errno>;
    fn varpd_getprop(&mut self, id: u64, propid: u32) -> Result<Vec<u8>, Errno>;
    fn varpd_setprop(&mut self, id: u64, propid: u32, val: &[u8]) -> Result<(), Errno>;
    fn varpd_lookup(&mut self, linkid: LinkId) -> Result<u64, Errno>;
    /// `(dest, mode)`.
    fn varpd_target_mode(&mut self, id: u64) -> Result<(u32, u32), Errno>;
    fn varpd_cache_flush(&mut self, id: u64) -> Result<(), Errno>;
    fn varpd_cache_delete(&mut self, id: u64, key: [u8; 6]) -> Result<(), Errno>;
    fn varpd_cache_get(&mut self, id: u64, key: [u8; 6]) -> Result<CacheEntry, Errno>;
    fn varpd_cache_set(&mut self, id: u64, key: [u8; 6], ent: &CacheEntry) -> Result<(), Errno>;
    fn varpd_cache_walk(&mut self, id: u64) -> Result<Vec<([u8; 6], CacheEntry)>, Errno>;

    // --- VNICs ------------------------------------------------------------
    fn vnic_create(&mut self, req: &VnicCreate) -> Result<VnicAttr, Errno>;
    fn vnic_delete(&mut self, linkid: LinkId, flags: u32) -> Result<(), Errno>;
    fn vnic_info(&mut self, linkid: LinkId) -> Result<VnicAttr, Errno>;
    /// Running VNICs (over `over` when given).
    fn vnic_walk(&mut self, over: Option<LinkId>) -> Result<Vec<VnicAttr>, Errno>;

    // --- zones (the `zone` link property) -----------------------------------
    /// `getzoneidbyname() != -1`: whether zone `name` exists (on Linux, its
    /// network namespace).
    fn zone_exists(&mut self, name: &str) -> bool {
        let _ = name;
        false
    }
    /// Assigns a running VNIC to zone `zone` (`""`: the global zone).
    fn vnic_set_zone(&mut self, linkid: LinkId, zone: &str) -> Result<(), Errno> {
        let _ = (linkid, zone);
        Err(crate::errno::ENOTSUP)
    }
    /// The zone of a running VNIC (`""`: the global zone).
    fn vnic_get_zone(&mut self, linkid: LinkId) -> Result<String, Errno> {
        let _ = linkid;
        Err(crate::errno::ENOTSUP)
    }
}

//! Constants of `sys/overlay_common.h`, `sys/overlay.h`,
//! `sys/overlay_target.h`, `sys/overlay_plugin.h`, `sys/vxlan.h` and the few
//! system values (open flags, socket numbers, Ethernet sizes) the overlay
//! ABI relies on. Values are illumos', amd64.

/// Property-name buffer, including the NUL.
pub const OVERLAY_PROP_NAMELEN: usize = 64;
/// Maximum property value / default / possible-values buffer.
pub const OVERLAY_PROP_SIZEMAX: usize = 256;
/// FMA/status message buffer.
pub const OVERLAY_STATUS_BUFLEN: usize = 256;
/// Encap-name buffer in CREATE.
pub const MAXLINKNAMELEN: usize = 32;
/// Number of generic (non-plugin) device properties.
pub const OVERLAY_DEV_NPROPS: usize = 4;
pub const OVERLAY_MTU_MIN: u32 = 576;
pub const OVERLAY_MTU_DEF: u32 = 1400;
pub const OVERLAY_MTU_MAX: u32 = 8900;
/// Buckets of a dynamic target cache hash in illumos (informative).
pub const OVERLAY_HSIZE: usize = 823;
/// Default `overlay_ent_size`: bytes queued on one unresolved entry.
pub const OVERLAY_ENT_SIZE: usize = 131_072;
/// Max entries per CACHE_ITER call.
pub const OVERLAY_TARGET_ITER_MAX: u16 = 500;
/// `otce_flags` bit: the entry is a drop entry.
pub const OVERLAY_TARGET_CACHE_DROP: u16 = 0x01;
/// `ETHERMAX`.
pub const ETHERMAX: usize = 1514;
/// `VLAN_TAGSZ`.
pub const VLAN_TAGSZ: usize = 4;
/// Largest frame INJECT/RESEND accept.
pub const OVERLAY_TARG_PKT_MAX: u64 = (ETHERMAX + VLAN_TAGSZ) as u64;
/// `otp_linkid` value meaning "use `otp_reqid`".
pub const OVERLAY_TARG_PKT_USE_REQID: u64 = u64::MAX;
/// Largest `otl_nents` LIST accepts (exclusive): INT32_MAX / 4.
pub const OVERLAY_TARG_LIST_MAX: u32 = (i32::MAX / 4) as u32;
/// LOOKUP's maximum wait, nanoseconds (1 s).
pub const OVERLAY_LOOKUP_WAIT_NS: u64 = 1_000_000_000;

/// Plugin ABI version.
pub const OVEP_VERSION_ONE: u32 = 1;
pub const OVEP_VERSION: u32 = OVEP_VERSION_ONE;
/// Plugin flag: the encapsulated frame may carry an 802.1Q tag.
pub const OVEP_F_VLAN_TAG: u32 = 0x01;

// overlay_target_mode_t
pub const OVERLAY_TARGET_NONE: u32 = 0;
pub const OVERLAY_TARGET_POINT: u32 = 1;
pub const OVERLAY_TARGET_DYNAMIC: u32 = 2;

// overlay_plugin_dest_t
pub const OVERLAY_PLUGIN_D_INVALID: u32 = 0x0;
pub const OVERLAY_PLUGIN_D_ETHERNET: u32 = 0x1;
pub const OVERLAY_PLUGIN_D_IP: u32 = 0x2;
pub const OVERLAY_PLUGIN_D_PORT: u32 = 0x4;
pub const OVERLAY_PLUGIN_D_MASK: u32 = 0x7;

// overlay_prop_type_t
pub const OVERLAY_PROP_T_INT: u32 = 1;
pub const OVERLAY_PROP_T_UINT: u32 = 2;
pub const OVERLAY_PROP_T_IP: u32 = 3;
pub const OVERLAY_PROP_T_STRING: u32 = 4;

// overlay_prop_prot_t
pub const OVERLAY_PROP_PERM_REQ: u32 = 0x1;
pub const OVERLAY_PROP_PERM_READ: u32 = 0x2;
pub const OVERLAY_PROP_PERM_WRITE: u32 = 0x4;
pub const OVERLAY_PROP_PERM_RW: u32 = 0x6;
pub const OVERLAY_PROP_PERM_RRW: u32 = 0x7;
pub const OVERLAY_PROP_PERM_MASK: u32 = 0x7;

// overlay_status_t
pub const OVERLAY_I_OK: u32 = 0;
pub const OVERLAY_I_DEGRADED: u32 = 1;

// oti_flags
pub const OVERLAY_TARG_INFO_F_ACTIVE: u64 = 0x1;
pub const OVERLAY_TARG_INFO_F_DEGRADED: u64 = 0x2;

// overlay_dev_flag_t (driver-internal, exported for tests and tools)
pub const OVERLAY_F_ACTIVATED: u32 = 0x01;
pub const OVERLAY_F_IN_MUX: u32 = 0x02;
pub const OVERLAY_F_IN_TX: u32 = 0x04;
pub const OVERLAY_F_IN_RX: u32 = 0x08;
pub const OVERLAY_F_IOMASK: u32 = 0x0c;
pub const OVERLAY_F_MDDROP: u32 = 0x10;
pub const OVERLAY_F_STOPMASK: u32 = 0x1e;
pub const OVERLAY_F_VARPD: u32 = 0x20;
pub const OVERLAY_F_DEGRADED: u32 = 0x40;
pub const OVERLAY_F_MASK: u32 = 0x7f;

// overlay_target_flag_t
pub const OVERLAY_T_TEARDOWN: u32 = 0x1;

// overlay_target_entry_flags_t
pub const OVERLAY_ENTRY_F_PENDING: u32 = 0x01;
pub const OVERLAY_ENTRY_F_VALID: u32 = 0x02;
pub const OVERLAY_ENTRY_F_DROP: u32 = 0x04;
pub const OVERLAY_ENTRY_F_VALID_MASK: u32 = 0x06;

// overlay_target_lookup result codes (driver-internal)
/// Send the frame now.
pub const OVERLAY_TARGET_OK: i32 = 0;
/// Drop the frame (the caller frees it).
pub const OVERLAY_TARGET_DROP: i32 = 1;
/// The frame was queued on a cache entry.
pub const OVERLAY_TARGET_ASYNC: i32 = 2;

/// First and last minor number of a `/dev/overlay` handle.
pub const OVERLAY_TARG_MINOR_MIN: u32 = 1;
pub const OVERLAY_TARG_MINOR_MAX: u32 = i32::MAX as u32;

// mac_addrtype_t as reported in otl_dsttype
pub const MAC_ADDRTYPE_UNICAST: u32 = 0;
pub const MAC_ADDRTYPE_MULTICAST: u32 = 1;
pub const MAC_ADDRTYPE_BROADCAST: u32 = 2;

// mac_propval_type_t (the mpr_type of a mac_propval_range_t)
pub const MAC_PROPVAL_UINT8: u32 = 0;
pub const MAC_PROPVAL_UINT32: u32 = 1;
pub const MAC_PROPVAL_STR: u32 = 2;

// mac_prop_perm_t
pub const MAC_PROP_PERM_READ: u32 = 0x0001;
pub const MAC_PROP_PERM_WRITE: u32 = 0x0010;
pub const MAC_PROP_PERM_RW: u32 = 0x0011;

// VXLAN (sys/vxlan.h, overlay_vxlan.c)
pub const VXLAN_HDR_LEN: usize = 8;
pub const VXLAN_ID_LEN: u32 = 3;
/// The I flag, bit 0x08000000 of the first (network-order) word.
pub const VXLAN_F_VDI: u32 = 0x0800_0000;
pub const VXLAN_MAGIC: u32 = VXLAN_F_VDI;
pub const VXLAN_ID_SHIFT: u32 = 8;
pub const IPPORT_VXLAN: u16 = 4789;
/// Bytes allocated for a fresh VXLAN header block.
pub const VXLAN_ALLOC_SIZE: usize = 128;
/// Minimum headroom to prepend the header in place.
pub const VXLAN_NOALLOC_MIN: usize = 54;
/// UDP-level socket option: source-port hashing.
pub const UDP_SRCPORT_HASH: i32 = 0x0104;
pub const UDP_HASH_DISABLE: i32 = 0;
pub const UDP_HASH_VXLAN: i32 = 1;

// open(9E) flags as the driver sees them
pub const FREAD: u32 = 0x1;
pub const FWRITE: u32 = 0x2;
pub const FEXCL: u32 = 0x400;

// illumos socket numbers
pub const AF_INET: i32 = 2;
pub const AF_INET6: i32 = 26;
pub const SOCK_DGRAM: i32 = 1;
pub const SOCK_STREAM: i32 = 2;
pub const IPPROTO_UDP: i32 = 17;

/// `MAXLINKNAMELEN`-style limit used by illumos for datalink names.
pub const DATALINK_INVALID_LINKID: u32 = 0;

/// `MAC_PLUGIN_IDENT_ETHER`.
pub const MAC_PLUGIN_IDENT_ETHER: &str = "mac_ether";

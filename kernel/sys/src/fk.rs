//! fkoverlayd's own protocol: the framing of its device sockets and the
//! commands it adds on the `/dev/dld` socket for datalink management
//! (dlmgmtd's role on illumos) and VNICs (the vnic driver's role).
//!
//! Theory of operation: on Linux, `fkoverlayd` hosts the overlay driver and
//! stands in for the illumos kernel services it needs. Its two device nodes
//! are Unix stream sockets (`R/run/overlay/dld`, `R/run/overlay/overlay`).
//! Every request is an [`fk_hdr_t`] (magic, command, argument length, data
//! length) followed by the argument bytes (the `repr(C)` struct an ioctl's
//! pointer would point at) and the data bytes (frames of INJECT/RESEND/PKT).
//! The response has the same header shape with the illumos errno in place of
//! the command. `docs/fkoverlayd-protocol.md` is the full contract.
//!
//! None of this is an illumos ABI: it is the glue that lets `dladm` and
//! `varpd` on Linux reach the same driver. The structures below carry the
//! management commands numbered `0x4b4610nn` ("FK" + 0x10nn), all on the dld
//! socket. Every structure is plain old data with explicit padding and a size
//! assertion, little-endian like the amd64 structs it travels with.
//!
//! Link ids, classes and flags use dlmgmtd's values (`sys/dls_mgmt.h`) so a
//! reader of libdladm recognises them.

#![allow(non_camel_case_types)]

use crate::pod::Pod;

/// Frame magic: the bytes "VOFK" read as a little-endian u32.
pub const FK_MAGIC: u32 = 0x4b46_4f56;
/// First request on a `/dev/overlay` connection: the open, with a 4-byte
/// argument holding the illumos open flags (`FREAD`, `FWRITE`, `FEXCL`).
/// On success the response's argument is an [`fk_open_t`] naming the new
/// handle (older clients may ignore it).
pub const FK_OPEN: u32 = 0x4b46_0001;
/// Alternative first request on a `/dev/overlay` connection: attach it to
/// an open handle (like `dup(2)` of its descriptor), with the
/// [`fk_open_t`] that handle's [`FK_OPEN`] returned as argument. The
/// connection then shares the handle (minor, open flags, taken lookups);
/// the handle is closed when its last connection goes. `EPERM` if the
/// caller lacks `PRIV_SYS_DL_CONFIG`, `ENXIO` for an unknown handle or a
/// wrong secret, `EINVAL` for an argument that is not 16 bytes.
pub const FK_ATTACH: u32 = 0x4b46_0002;
/// Size of [`fk_hdr_t`].
pub const FK_HDR_SIZE: usize = 16;
/// Largest argument a request may carry; larger closes the connection.
pub const FK_MAX_ARGLEN: u32 = 1 << 20;
/// Largest data part a request may carry; larger closes the connection.
pub const FK_MAX_DATALEN: u32 = 64 * 1024;

/// illumos open flags carried by [`FK_OPEN`].
pub const FK_FREAD: u32 = 0x1;
/// See [`FK_FREAD`].
pub const FK_FWRITE: u32 = 0x2;
/// See [`FK_FREAD`].
pub const FK_FEXCL: u32 = 0x400;

/// Header of every request and response.
///
/// In a request `fh_cmd` is the command number; in a response it is the
/// illumos errno (0 on success).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct fk_hdr_t {
    pub fh_magic: u32,
    pub fh_cmd: u32,
    pub fh_arglen: u32,
    pub fh_datalen: u32,
}

impl fk_hdr_t {
    /// Encodes the header into its 16 wire bytes.
    pub fn to_wire(&self) -> [u8; FK_HDR_SIZE] {
        let mut b = [0u8; FK_HDR_SIZE];
        b[0..4].copy_from_slice(&self.fh_magic.to_le_bytes());
        b[4..8].copy_from_slice(&self.fh_cmd.to_le_bytes());
        b[8..12].copy_from_slice(&self.fh_arglen.to_le_bytes());
        b[12..16].copy_from_slice(&self.fh_datalen.to_le_bytes());
        b
    }

    /// Decodes 16 wire bytes (no validation: see [`fk_hdr_t::valid`]).
    pub fn from_wire(b: &[u8; FK_HDR_SIZE]) -> Self {
        let w = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        fk_hdr_t {
            fh_magic: w(0),
            fh_cmd: w(4),
            fh_arglen: w(8),
            fh_datalen: w(12),
        }
    }

    /// Whether the magic is right and both lengths are within the limits.
    pub fn valid(&self) -> bool {
        self.fh_magic == FK_MAGIC
            && self.fh_arglen <= FK_MAX_ARGLEN
            && self.fh_datalen <= FK_MAX_DATALEN
    }
}

// ---------------------------------------------------------------------------
// dlmgmtd values (sys/dls_mgmt.h, libdladm.h)
// ---------------------------------------------------------------------------

/// `datalink_id_t` of "no link" (`DATALINK_INVALID_LINKID`).
pub const DATALINK_INVALID_LINKID: u32 = 0;
/// `DATALINK_ALL_LINKID`: walk every link.
pub const DATALINK_ALL_LINKID: u32 = 0;
/// Link name buffer, NUL included (`MAXLINKNAMELEN`).
pub const MAXLINKNAMELEN: usize = 32;

/// `DATALINK_CLASS_VNIC`.
pub const DATALINK_CLASS_VNIC: u32 = 0x08;
/// `DATALINK_CLASS_OVERLAY`.
pub const DATALINK_CLASS_OVERLAY: u32 = 0x200;
/// `DATALINK_CLASS_ALL`: every class (walk filter).
pub const DATALINK_CLASS_ALL: u32 = 0xffff_ffff;

/// `DL_ETHER`, the only media type we use.
pub const DL_ETHER: u32 = 0x4;

/// Link flag: the link exists now (`DLMGMT_ACTIVE` / `DLADM_OPT_ACTIVE`).
pub const DLMGMT_ACTIVE: u32 = 0x01;
/// Link flag: the link is in the persistent configuration
/// (`DLMGMT_PERSIST` / `DLADM_OPT_PERSIST`).
pub const DLMGMT_PERSIST: u32 = 0x02;

/// Attribute value types (`dladm_datatype_t`).
pub const DLADM_TYPE_STR: u32 = 0;
/// See [`DLADM_TYPE_STR`]: a `boolean_t`, 4 bytes.
pub const DLADM_TYPE_BOOLEAN: u32 = 1;
/// See [`DLADM_TYPE_STR`]: a u64, 8 bytes little-endian.
pub const DLADM_TYPE_UINT64: u32 = 2;

/// Attribute key buffer, NUL included.
pub const FK_ATTR_KEYLEN: usize = 64;
/// Attribute value buffer.
pub const FK_ATTR_VALLEN: usize = 1024;

/// `vnic_mac_addr_type_t` values used by VNIC creation.
pub const VNIC_MAC_ADDR_TYPE_FIXED: u32 = 0;
/// See [`VNIC_MAC_ADDR_TYPE_FIXED`]: random, with the illumos VNIC OUI
/// prefix `2:8:20`.
pub const VNIC_MAC_ADDR_TYPE_RANDOM: u32 = 1;
/// The illumos VNIC random-address prefix.
pub const VNIC_RANDOM_PREFIX: [u8; 3] = [0x02, 0x08, 0x20];

/// Link states (`link_state_t`).
pub const LINK_STATE_UNKNOWN: u32 = 0xffff_ffff;
/// See [`LINK_STATE_UNKNOWN`].
pub const LINK_STATE_DOWN: u32 = 0;
/// See [`LINK_STATE_UNKNOWN`].
pub const LINK_STATE_UP: u32 = 1;

// ---------------------------------------------------------------------------
// Command numbers (on the dld socket)
// ---------------------------------------------------------------------------

/// Create a link id: [`fk_dl_create_t`], copied out. Privileged.
pub const FK_DL_CREATE_ID: u32 = 0x4b46_1001;
/// Destroy (parts of) a link id: [`fk_dl_id_t`]. Privileged.
pub const FK_DL_DESTROY_ID: u32 = 0x4b46_1002;
/// Name to link info: [`fk_dl_info_t`] with `fdi_name` in, copied out.
pub const FK_DL_NAME2ID: u32 = 0x4b46_1003;
/// Link id to info: [`fk_dl_info_t`] with `fdi_linkid` in, copied out.
pub const FK_DL_ID2INFO: u32 = 0x4b46_1004;
/// Walk: [`fk_dl_info_t`] with a cursor, copied out (next link).
pub const FK_DL_GETNEXT: u32 = 0x4b46_1005;
/// Mark a persistent link active again: [`fk_dl_id_t`]. Privileged.
pub const FK_DL_UP_ID: u32 = 0x4b46_1006;
/// Read one persistent attribute by key: [`fk_dl_attr_t`], copied out.
pub const FK_DL_GETATTR: u32 = 0x4b46_1007;
/// Write one persistent attribute: [`fk_dl_attr_t`]. Privileged.
pub const FK_DL_SETATTR: u32 = 0x4b46_1008;
/// Remove one persistent attribute: [`fk_dl_attr_t`] (key). Privileged.
pub const FK_DL_UNSETATTR: u32 = 0x4b46_1009;
/// Read the attribute at an index: [`fk_dl_attr_t`], copied out.
pub const FK_DL_WALKATTR: u32 = 0x4b46_100a;
/// Remove the whole persistent configuration of a link
/// (`dladm_remove_conf`): [`fk_dl_id_t`]. Privileged.
pub const FK_DL_REMOVE_CONF: u32 = 0x4b46_100b;

/// Create a VNIC: [`fk_vnic_create_t`], copied out. Privileged.
pub const FK_VNIC_CREATE: u32 = 0x4b46_1010;
/// Delete a VNIC: [`fk_dl_id_t`]. Privileged.
pub const FK_VNIC_DELETE: u32 = 0x4b46_1011;
/// One running VNIC by link id: [`fk_vnic_info_t`], copied out.
pub const FK_VNIC_INFO: u32 = 0x4b46_1012;
/// Walk running VNICs: [`fk_vnic_info_t`] with a cursor, copied out.
pub const FK_VNIC_GETNEXT: u32 = 0x4b46_1013;

/// Move a running VNIC's TAP into a zone (a named network namespace) or
/// back to the global zone: [`fk_vnic_zone_t`]. Privileged.
pub const FK_VNIC_SETZONE: u32 = 0x4b46_1014;
/// The zone a running VNIC is in: [`fk_vnic_zone_t`], copied out.
pub const FK_VNIC_GETZONE: u32 = 0x4b46_1015;

/// Counters: [`fk_stats_t`] followed by [`fk_stat_t`] entries, copied out.
pub const FK_STATS: u32 = 0x4b46_1020;

// ---------------------------------------------------------------------------
// Structures
// ---------------------------------------------------------------------------

/// [`FK_DL_CREATE_ID`] (`dladm_create_datalink_id`).
///
/// In: name (a valid illumos link name, ≤ 31 bytes + NUL), class, media,
/// flags (`DLMGMT_ACTIVE` and/or `DLMGMT_PERSIST`; at least one). Out: the
/// new link id. Errors: `EEXIST` name taken, `EINVAL` bad name/class/flags,
/// `ENOSPC` no free ids.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct fk_dl_create_t {
    pub fdc_name: [u8; MAXLINKNAMELEN],
    pub fdc_class: u32,
    pub fdc_media: u32,
    pub fdc_flags: u32,
    pub fdc_linkid: u32,
}

/// A link id with flags: [`FK_DL_DESTROY_ID`], [`FK_DL_UP_ID`],
/// [`FK_DL_REMOVE_CONF`], [`FK_VNIC_DELETE`].
///
/// DESTROY removes the parts named by `fdi_flags` (ACTIVE: the running
/// link, PERSIST: the link and its attributes in the configuration file);
/// the id is freed once neither remains. `EBUSY` if ACTIVE is removed while
/// a VNIC or overlay device still uses the id. VNIC_DELETE removes the TAP
/// and then destroys the id with the same flags (flags 0 means ACTIVE).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct fk_dl_id_t {
    pub fdi_linkid: u32,
    pub fdi_flags: u32,
}

/// Link information: [`FK_DL_NAME2ID`], [`FK_DL_ID2INFO`], [`FK_DL_GETNEXT`].
///
/// GETNEXT: in, `fdl_linkid` is the cursor (0 to start), `fdl_class` a class
/// mask (0 = all) and `fdl_flags` a flag mask (0 = all); out, the first link
/// with a larger id whose class and flags intersect the masks. `ENOENT` at
/// the end.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct fk_dl_info_t {
    pub fdl_linkid: u32,
    pub fdl_class: u32,
    pub fdl_media: u32,
    pub fdl_flags: u32,
    pub fdl_name: [u8; MAXLINKNAMELEN],
}

/// One persistent attribute of a link: [`FK_DL_GETATTR`], [`FK_DL_SETATTR`],
/// [`FK_DL_UNSETATTR`], [`FK_DL_WALKATTR`].
///
/// Attributes exist only on links with `DLMGMT_PERSIST`; SETATTR on another
/// link is `EINVAL`. `fda_key` is NUL-terminated (≤ 63 bytes);
/// `fda_vsize` bytes of `fda_val` hold the value: a NUL-terminated string
/// (size includes the NUL), a 4-byte `boolean_t`, or an 8-byte u64.
/// WALKATTR reads the attribute number `fda_index` (in key order); `ENOENT`
/// past the end. Each SETATTR/UNSETATTR is written to disk before it
/// returns.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct fk_dl_attr_t {
    pub fda_linkid: u32,
    pub fda_type: u32,
    pub fda_index: u32,
    pub fda_vsize: u32,
    pub fda_key: [u8; FK_ATTR_KEYLEN],
    pub fda_val: [u8; FK_ATTR_VALLEN],
}

/// [`FK_VNIC_CREATE`] (`dladm_vnic_create` + the vnic driver).
///
/// In: `fvc_linkid` an existing link of class VNIC without a running VNIC
/// (its name is used), or 0 to create the link id from `fvc_name` with
/// `fvc_flags`; `fvc_over` the overlay's link id; `fvc_mac_type` FIXED (with
/// `fvc_mac`) or RANDOM; `fvc_mtu` 0 for the overlay's MTU; `fvc_vid` the
/// VLAN id 1-4094, or 0 for an untagged VNIC (above 4094: `EINVAL`). Out:
/// `fvc_linkid`, `fvc_mac`, `fvc_mtu`. Starting the overlay's
/// data path (first VNIC) can fail with the underlay's errno, e.g.
/// `EADDRNOTAVAIL` or `EADDRINUSE`. When the link is persistent, the
/// attributes `linkover` (u64), `macaddr` (string `x:x:x:x:x:x`),
/// `mac_type` (u64), `mtu` (u64, when given) and `vid` (u64, when not 0)
/// are stored with it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct fk_vnic_create_t {
    pub fvc_linkid: u32,
    pub fvc_over: u32,
    pub fvc_flags: u32,
    pub fvc_mac_type: u32,
    pub fvc_mtu: u32,
    pub fvc_vid: u32,
    pub fvc_mac: [u8; 6],
    pub fvc_pad: [u8; 2],
    pub fvc_name: [u8; MAXLINKNAMELEN],
}

/// A running VNIC: [`FK_VNIC_INFO`] (by `fvi_linkid`) and
/// [`FK_VNIC_GETNEXT`] (`fvi_linkid` is the cursor, 0 to start; `fvi_over`
/// non-zero restricts the walk to VNICs over that link).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct fk_vnic_info_t {
    pub fvi_linkid: u32,
    pub fvi_over: u32,
    pub fvi_flags: u32,
    pub fvi_mac_type: u32,
    pub fvi_mtu: u32,
    pub fvi_vid: u32,
    pub fvi_state: u32,
    pub fvi_pad: u32,
    pub fvi_mac: [u8; 6],
    pub fvi_pad2: [u8; 2],
    pub fvi_name: [u8; MAXLINKNAMELEN],
    pub fvi_overname: [u8; MAXLINKNAMELEN],
}

/// The name of an open `/dev/overlay` handle: returned by [`FK_OPEN`],
/// presented by [`FK_ATTACH`].
///
/// `fo_minor` is the handle's minor; `fo_secret` a random value chosen per
/// handle at open, so that only the opener (and whoever it tells) can
/// attach further connections to it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct fk_open_t {
    pub fo_minor: u32,
    pub fo_pad: u32,
    pub fo_secret: u64,
}

/// Zone name buffer, NUL included (illumos `ZONENAME_MAX`).
pub const FK_ZONENAME_MAX: usize = 64;
/// Where the zones' network namespaces are (as `ip netns add` makes them).
pub const FK_NETNS_DIR: &str = "/run/netns";

/// A VNIC's zone: [`FK_VNIC_SETZONE`], [`FK_VNIC_GETZONE`].
///
/// On Linux a zone is a named network namespace, `FK_NETNS_DIR/<name>`;
/// the empty name (or `global`) is the global zone, fkoverlayd's own
/// namespace. SETZONE moves the VNIC's TAP there (the interface leaves
/// its old namespace down and without addresses, as a link assigned to a
/// zone is unplumbed; frames keep flowing through the descriptor
/// fkoverlayd holds). Errors: `ENOENT` no running VNIC with that id,
/// `EINVAL` a zone whose namespace does not exist or a bad name. GETZONE
/// returns the name (empty: global). Persisting the zone is the caller's
/// business (the link attribute `zone`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct fk_vnic_zone_t {
    pub fvz_linkid: u32,
    pub fvz_pad: u32,
    pub fvz_zone: [u8; FK_ZONENAME_MAX],
}

impl Default for fk_vnic_zone_t {
    fn default() -> Self {
        fk_vnic_zone_t {
            fvz_linkid: 0,
            fvz_pad: 0,
            fvz_zone: [0; FK_ZONENAME_MAX],
        }
    }
}

// SAFETY: repr(C), integers and an integer array, no padding (size
// asserted below): every byte is initialised and every bit pattern valid.
unsafe impl Pod for fk_vnic_zone_t {}

const _: () = {
    assert!(core::mem::size_of::<fk_vnic_zone_t>() == 8 + FK_ZONENAME_MAX);
    assert!(core::mem::offset_of!(fk_vnic_zone_t, fvz_zone) == 8);
};

/// Counter name buffer, NUL included.
pub const FK_STAT_NAMELEN: usize = 48;

/// [`FK_STATS`] header: the argument is this header followed by room for
/// `fs_nstats` [`fk_stat_t`] entries. Out: `fs_nstats` is the total number
/// of counters (possibly more than were copied); the first
/// `min(capacity, total)` entries are filled.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct fk_stats_t {
    pub fs_nstats: u32,
    pub fs_pad: u32,
}

/// One named counter of [`FK_STATS`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct fk_stat_t {
    pub fst_name: [u8; FK_STAT_NAMELEN],
    pub fst_value: u64,
}

const _: () = {
    assert!(core::mem::size_of::<fk_hdr_t>() == FK_HDR_SIZE);
    assert!(core::mem::size_of::<fk_dl_create_t>() == 48);
    assert!(core::mem::size_of::<fk_dl_id_t>() == 8);
    assert!(core::mem::size_of::<fk_dl_info_t>() == 48);
    assert!(core::mem::size_of::<fk_dl_attr_t>() == 16 + FK_ATTR_KEYLEN + FK_ATTR_VALLEN);
    assert!(core::mem::size_of::<fk_vnic_create_t>() == 64);
    assert!(core::mem::size_of::<fk_vnic_info_t>() == 104);
    assert!(core::mem::size_of::<fk_stats_t>() == 8);
    assert!(core::mem::size_of::<fk_stat_t>() == 56);
    assert!(core::mem::size_of::<fk_open_t>() == 16);
    assert!(core::mem::offset_of!(fk_open_t, fo_secret) == 8);
    assert!(core::mem::offset_of!(fk_vnic_create_t, fvc_mac) == 24);
    assert!(core::mem::offset_of!(fk_vnic_create_t, fvc_name) == 32);
    assert!(core::mem::offset_of!(fk_vnic_info_t, fvi_name) == 40);
    assert!(core::mem::offset_of!(fk_dl_attr_t, fda_val) == 80);
};

// SAFETY: each of these is repr(C), all fields are integers or integer
// arrays, and the size assertions above show there is no implicit padding,
// so every byte is initialised and every bit pattern is valid.
unsafe impl Pod for fk_hdr_t {}
// SAFETY: as above.
unsafe impl Pod for fk_dl_create_t {}
// SAFETY: as above.
unsafe impl Pod for fk_dl_id_t {}
// SAFETY: as above.
unsafe impl Pod for fk_dl_info_t {}
// SAFETY: as above.
unsafe impl Pod for fk_dl_attr_t {}
// SAFETY: as above.
unsafe impl Pod for fk_vnic_create_t {}
// SAFETY: as above.
unsafe impl Pod for fk_vnic_info_t {}
// SAFETY: as above.
unsafe impl Pod for fk_stats_t {}
// SAFETY: as above.
unsafe impl Pod for fk_stat_t {}
// SAFETY: as above.
unsafe impl Pod for fk_open_t {}

impl Default for fk_dl_attr_t {
    fn default() -> Self {
        fk_dl_attr_t {
            fda_linkid: 0,
            fda_type: 0,
            fda_index: 0,
            fda_vsize: 0,
            fda_key: [0; FK_ATTR_KEYLEN],
            fda_val: [0; FK_ATTR_VALLEN],
        }
    }
}

impl Default for fk_stat_t {
    fn default() -> Self {
        fk_stat_t {
            fst_name: [0; FK_STAT_NAMELEN],
            fst_value: 0,
        }
    }
}

/// Copies `s` into a fixed NUL-terminated buffer; `false` (buffer untouched)
/// if it does not fit with its NUL.
pub fn fk_set_str(buf: &mut [u8], s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() >= buf.len() || b.contains(&0) {
        return false;
    }
    buf.fill(0);
    buf[..b.len()].copy_from_slice(b);
    true
}

/// The bytes of a NUL-terminated buffer before its first NUL (all of it if
/// there is none).
pub fn fk_get_str(buf: &[u8]) -> &[u8] {
    let n = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
    &buf[..n]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hdr_round_trip_and_limits() {
        let h = fk_hdr_t {
            fh_magic: FK_MAGIC,
            fh_cmd: FK_OPEN,
            fh_arglen: 4,
            fh_datalen: 0,
        };
        let b = h.to_wire();
        assert_eq!(&b[0..4], b"VOFK");
        assert_eq!(fk_hdr_t::from_wire(&b), h);
        assert!(h.valid());
        let big = fk_hdr_t {
            fh_arglen: FK_MAX_ARGLEN + 1,
            ..h
        };
        assert!(!big.valid());
    }

    #[test]
    fn pod_and_strings() {
        let mut c = fk_dl_create_t::default();
        assert!(fk_set_str(&mut c.fdc_name, "demo0"));
        assert!(!fk_set_str(&mut c.fdc_name, &"x".repeat(32)));
        assert_eq!(fk_get_str(&c.fdc_name), b"demo0");
        c.fdc_class = DATALINK_CLASS_OVERLAY;
        let back = fk_dl_create_t::from_bytes(c.as_bytes());
        assert_eq!(back, Some(c));
        // Short input zero-fills.
        let short = fk_dl_create_t::from_bytes_padded(&c.as_bytes()[..8]);
        assert_eq!(short.fdc_class, 0);
    }

    #[test]
    fn open_name_layout() {
        let o = fk_open_t {
            fo_minor: 3,
            fo_pad: 0,
            fo_secret: 0x0102_0304_0506_0708,
        };
        let b = o.as_bytes();
        assert_eq!(&b[0..4], &3u32.to_le_bytes());
        assert_eq!(&b[8..16], &0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(fk_open_t::from_bytes(b), Some(o));
        assert_eq!(fk_open_t::from_bytes(&b[..15]), None);
    }
}

//! Property descriptions (`varpd_prop_handle_t`, `libvarpd_prop.c`).
//!
//! # Theory of operation
//!
//! `vpo_propinfo` describes one property by filling a [`PropHandle`]
//! through the builder calls of spec/userland.md §2.5 (name, protection,
//! type, default, possible values as a `mac_propval_range_t` image);
//! libvarpd prepares the handle before each call exactly as illumos does.

use std::fmt;

use overlay_sys::{poss_add_range_u32, poss_add_str, poss_init};

use super::{PropType, LIBVARPD_PROP_NAMELEN, LIBVARPD_PROP_SIZEMAX};
use crate::errno::Errno;

/// `varpd_prop_handle_t` as filled by `vpo_propinfo`: name, protection,
/// type, default value and possible values (`mac_propval_range_t` image).
#[derive(Clone)]
pub struct PropHandle {
    pub name: String,
    pub prot: u32,
    pub ptype: u32,
    pub default: [u8; LIBVARPD_PROP_SIZEMAX],
    pub defsize: u32,
    pub poss: [u8; LIBVARPD_PROP_SIZEMAX],
    pub psize: u32,
}

impl fmt::Debug for PropHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PropHandle")
            .field("name", &self.name)
            .field("prot", &self.prot)
            .field("type", &self.ptype)
            .field("defsize", &self.defsize)
            .field("psize", &self.psize)
            .finish()
    }
}

impl Default for PropHandle {
    fn default() -> Self {
        PropHandle::new()
    }
}

impl PropHandle {
    /// An empty handle with the range header zeroed and `psize` =
    /// `sizeof (mac_propval_range_t)`, as libvarpd prepares it before every
    /// `vpo_propinfo`.
    pub fn new() -> PropHandle {
        let mut p = PropHandle {
            name: String::new(),
            prot: 0,
            ptype: 0,
            default: [0; LIBVARPD_PROP_SIZEMAX],
            defsize: 0,
            poss: [0; LIBVARPD_PROP_SIZEMAX],
            psize: 0,
        };
        poss_init(&mut p.poss, &mut p.psize);
        p
    }

    /// `libvarpd_prop_set_name` (truncated to 63 bytes, like strlcpy).
    pub fn set_name(&mut self, name: &str) {
        let mut n = name.len().min(LIBVARPD_PROP_NAMELEN - 1);
        while !name.is_char_boundary(n) {
            n -= 1;
        }
        self.name = name[..n].to_string();
    }
    /// `libvarpd_prop_set_prot`.
    pub fn set_prot(&mut self, prot: u32) {
        self.prot = prot;
    }
    /// `libvarpd_prop_set_type`.
    pub fn set_type(&mut self, t: PropType) {
        self.ptype = t as u32;
    }
    /// `libvarpd_prop_set_default`: E2BIG if longer than 256 bytes.
    pub fn set_default(&mut self, buf: &[u8]) -> Result<(), Errno> {
        if buf.len() > LIBVARPD_PROP_SIZEMAX {
            return Err(Errno::E2BIG);
        }
        self.default[..buf.len()].copy_from_slice(buf);
        self.defsize = buf.len() as u32;
        Ok(())
    }
    /// `libvarpd_prop_set_nodefault`.
    pub fn set_nodefault(&mut self) {
        self.defsize = 0;
    }
    /// `libvarpd_prop_set_range_uint32`: append a range (ignored if a
    /// string range is present or there is no room).
    pub fn set_range_uint32(&mut self, min: u32, max: u32) {
        poss_add_range_u32(&mut self.poss, &mut self.psize, min, max);
    }
    /// `libvarpd_prop_set_range_str`: append a possible string value.
    pub fn set_range_str(&mut self, s: &str) {
        poss_add_str(&mut self.poss, &mut self.psize, s.as_bytes());
    }
    /// The default value bytes.
    pub fn default_value(&self) -> &[u8] {
        &self.default[..(self.defsize as usize).min(LIBVARPD_PROP_SIZEMAX)]
    }
}

//! The property-information handle (`overlay_prop_handle_t`) and the
//! helpers plugins use to describe a property (`overlay_prop_set_*`).
//!
//! The handle is the PROPINFO ioctl's own buffer
//! (`overlay_ioc_propinfo_t`): the driver initialises only the
//! possible-values header, then the generic code or the plugin's `propinfo`
//! op fills in name, type, protection, default and possible values with the
//! exact encodings of §6.3 (so dladm can parse them by size).

use crate::errno::Errno;
use overlay_sys::{overlay_ioc_propinfo_t, poss_add_range_u32, poss_add_str, poss_init, set_cstr};

/// A property being described; wraps the PROPINFO buffer.
pub struct PropHandle<'a> {
    pub(crate) pi: &'a mut overlay_ioc_propinfo_t,
}

impl<'a> PropHandle<'a> {
    /// Wrap `pi`, zeroing the possible-values header (`posssize` = 16).
    pub fn new(pi: &'a mut overlay_ioc_propinfo_t) -> Self {
        poss_init(&mut pi.oipi_poss, &mut pi.oipi_posssize);
        PropHandle { pi }
    }

    /// `overlay_prop_set_name`: at most 63 bytes and a NUL.
    pub fn set_name(&mut self, name: &str) {
        set_cstr(&mut self.pi.oipi_name, name.as_bytes());
    }

    /// `overlay_prop_set_prot`.
    pub fn set_prot(&mut self, prot: u32) {
        self.pi.oipi_prot = prot;
    }

    /// `overlay_prop_set_type`.
    pub fn set_type(&mut self, ty: u32) {
        self.pi.oipi_type = ty;
    }

    /// `overlay_prop_set_default`: more than 256 bytes is `E2BIG`.
    pub fn set_default(&mut self, val: &[u8]) -> Result<(), Errno> {
        if val.len() > self.pi.oipi_default.len() {
            return Err(Errno::E2BIG);
        }
        self.pi.oipi_default[..val.len()].copy_from_slice(val);
        self.pi.oipi_defsize = val.len() as u32;
        Ok(())
    }

    /// `overlay_prop_set_nodefault`.
    pub fn set_nodefault(&mut self) {
        self.pi.oipi_default[0] = 0;
        self.pi.oipi_defsize = 0;
    }

    /// `overlay_prop_set_range_uint32` (ignored if full or mixed).
    pub fn set_range_uint32(&mut self, min: u32, max: u32) {
        poss_add_range_u32(&mut self.pi.oipi_poss, &mut self.pi.oipi_posssize, min, max);
    }

    /// `overlay_prop_set_range_str` (ignored if full or mixed).
    pub fn set_range_str(&mut self, s: &str) {
        poss_add_str(
            &mut self.pi.oipi_poss,
            &mut self.pi.oipi_posssize,
            s.as_bytes(),
        );
    }

    /// The underlying buffer (read-only).
    pub fn info(&self) -> &overlay_ioc_propinfo_t {
        self.pi
    }
}

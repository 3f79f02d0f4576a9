//! The varpd door client (`libvarpd_client.h`), used by dladm.
//!
//! [`Client::open`] opens the door (`libvarpd_c_create`); every method is
//! one door call with the envelope of [`crate::door::abi`], following the
//! client-side checks of spec/userland.md §1.5. Errors are illumos
//! [`Errno`]s: a transport failure (ENOENT when varpd is not running), a
//! client-side check, or the server's `vca_errno`.
//!
//! The property calls take the property id directly where the C API keeps
//! it in a `varpd_client_prop_handle_t`: fill a [`PropInfo`] with
//! [`Client::prop_info`] or [`Client::prop_info_by_name`], then use its
//! `propid` for [`Client::prop_get`] / [`Client::prop_set`].
//!
//! [`Client::cache_walk`] sizes each batch for 36-byte kernel entries, fixing
//! the truncation of the original (§12 #3).

use std::path::Path;

use crate::door::abi::*;
use crate::door::transport::{self, DoorClient};
use crate::errno::Errno;
use crate::ksys::TargCacheEntry;

pub use crate::door::abi::CacheEntry;

/// `varpd_client_handle_t`: an open door.
pub struct Client {
    door: DoorClient,
}

/// One property's description (the cached PROPINFO result of a
/// `varpd_client_prop_handle_t`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropInfo {
    /// The instance.
    pub id: u64,
    /// The client-visible property id (0 = `search`).
    pub propid: u32,
    /// Name, e.g. `direct/dest_ip`.
    pub name: String,
    /// `overlay_prop_type_t`.
    pub ptype: u32,
    /// `overlay_prop_prot_t`.
    pub prot: u32,
    /// Default value (empty = none).
    pub default: Vec<u8>,
    /// Possible values: the `mac_propval_range_t` image and its size.
    pub poss: [u8; PROP_SIZEMAX],
    pub psize: u32,
}

impl Client {
    /// `libvarpd_c_create`: open the door at `door` (see
    /// [`crate::paths::default_door_path`]).
    pub fn open(door: &Path) -> Result<Client, Errno> {
        Ok(Client {
            door: transport::connect(door)?,
        })
    }

    /// One call; the server's `vca_errno` becomes the error.
    fn call(&self, buf: &mut [u8]) -> Result<(), Errno> {
        set_vca_errno(buf, 0);
        self.door.call(buf)?;
        match vca_errno(buf) {
            0 => Ok(()),
            e => Err(Errno(e as i32)),
        }
    }

    /// `libvarpd_c_instance_create`: a new instance of `plugin` for overlay
    /// `linkid`; returns its id.
    pub fn instance_create(&self, linkid: u32, plugin: &str) -> Result<u64, Errno> {
        if plugin.len() >= PROP_NAMELEN || plugin.contains('\0') {
            return Err(Errno::EINVAL);
        }
        let mut b = envelope(Command::Create);
        CreateArg {
            linkid,
            id: 0,
            plugin: plugin.to_string(),
        }
        .encode(&mut b[VCA_UN..]);
        self.call(&mut b)?;
        Ok(CreateArg::decode(&b[VCA_UN..]).id)
    }

    fn instance_cmd(&self, cmd: Command, id: u64) -> Result<(), Errno> {
        let mut b = envelope(cmd);
        b[VCA_UN..VCA_UN + 8].copy_from_slice(&id.to_ne_bytes());
        self.call(&mut b)
    }

    /// `libvarpd_c_instance_activate`.
    pub fn instance_activate(&self, id: u64) -> Result<(), Errno> {
        self.instance_cmd(Command::Activate, id)
    }

    /// `libvarpd_c_instance_destroy`.
    pub fn instance_destroy(&self, id: u64) -> Result<(), Errno> {
        self.instance_cmd(Command::Destroy, id)
    }

    /// `libvarpd_c_prop_nprops`: plugin properties + 1 (`search`).
    pub fn prop_nprops(&self, id: u64) -> Result<u32, Errno> {
        let mut b = envelope(Command::Nprops);
        NpropsArg { id, nprops: 0 }.encode(&mut b[VCA_UN..]);
        self.call(&mut b)?;
        Ok(NpropsArg::decode(&b[VCA_UN..]).nprops)
    }

    fn propinfo(&self, id: u64, propid: u32, name: &str) -> Result<PropInfo, Errno> {
        let mut b = envelope(Command::Propinfo);
        PropinfoArg {
            id,
            propid,
            name: name.to_string(),
            ..Default::default()
        }
        .encode(&mut b[VCA_UN..]);
        self.call(&mut b)?;
        let a = PropinfoArg::decode(&b[VCA_UN..]);
        let defsize = (a.defsize as usize).min(PROP_SIZEMAX);
        Ok(PropInfo {
            id,
            propid: a.propid,
            name: a.name,
            ptype: a.ptype,
            prot: a.prot,
            default: a.default[..defsize].to_vec(),
            poss: a.poss,
            psize: a.psize,
        })
    }

    /// `libvarpd_c_prop_info_fill`: describe property `propid`.
    pub fn prop_info(&self, id: u64, propid: u32) -> Result<PropInfo, Errno> {
        if propid == PROPID_BY_NAME {
            return Err(Errno::EINVAL);
        }
        self.propinfo(id, propid, "")
    }

    /// `libvarpd_c_prop_info_fill_by_name`.
    pub fn prop_info_by_name(&self, id: u64, name: &str) -> Result<PropInfo, Errno> {
        if name.len() >= PROP_NAMELEN || name.contains('\0') {
            return Err(Errno::EINVAL);
        }
        self.propinfo(id, PROPID_BY_NAME, name)
    }

    /// `libvarpd_c_prop_get`: the value (empty = unset).
    pub fn prop_get(&self, id: u64, propid: u32) -> Result<Vec<u8>, Errno> {
        let mut b = envelope(Command::Getprop);
        PropArg {
            id,
            propid,
            bufsize: PROP_SIZEMAX as u64,
            ..Default::default()
        }
        .encode(&mut b[VCA_UN..]);
        self.call(&mut b)?;
        let a = PropArg::decode(&b[VCA_UN..]);
        if a.bufsize > PROP_SIZEMAX as u64 {
            return Err(Errno::E2BIG);
        }
        Ok(a.buf[..a.bufsize as usize].to_vec())
    }

    /// `libvarpd_c_prop_set`: EINVAL for an empty value, EOVERFLOW over 256
    /// bytes.
    pub fn prop_set(&self, id: u64, propid: u32, val: &[u8]) -> Result<(), Errno> {
        if val.is_empty() {
            return Err(Errno::EINVAL);
        }
        if val.len() > PROP_SIZEMAX {
            return Err(Errno::EOVERFLOW);
        }
        let mut a = PropArg {
            id,
            propid,
            bufsize: val.len() as u64,
            ..Default::default()
        };
        a.buf[..val.len()].copy_from_slice(val);
        let mut b = envelope(Command::Setprop);
        a.encode(&mut b[VCA_UN..]);
        self.call(&mut b)
    }

    /// `libvarpd_c_instance_lookup`: the instance serving overlay `linkid`.
    pub fn instance_lookup(&self, linkid: u32) -> Result<u64, Errno> {
        let mut b = envelope(Command::Lookup);
        LookupArg { linkid, id: 0 }.encode(&mut b[VCA_UN..]);
        self.call(&mut b)?;
        Ok(LookupArg::decode(&b[VCA_UN..]).id)
    }

    /// `libvarpd_c_instance_target_mode`: `(dest, mode)`.
    pub fn instance_target_mode(&self, id: u64) -> Result<(u32, u32), Errno> {
        let mut b = envelope(Command::TargetMode);
        TargetModeArg {
            id,
            ..Default::default()
        }
        .encode(&mut b[VCA_UN..]);
        self.call(&mut b)?;
        let a = TargetModeArg::decode(&b[VCA_UN..]);
        Ok((a.dest, a.mode))
    }

    fn cache_cmd(
        &self,
        cmd: Command,
        id: u64,
        key: [u8; 6],
        entry: CacheEntry,
    ) -> Result<CacheEntry, Errno> {
        let mut b = envelope(cmd);
        TargetCacheArg { id, key, entry }.encode(&mut b[VCA_UN..]);
        self.call(&mut b)?;
        Ok(TargetCacheArg::decode(&b[VCA_UN..]).entry)
    }

    /// `libvarpd_c_instance_cache_flush`.
    pub fn cache_flush(&self, id: u64) -> Result<(), Errno> {
        self.cache_cmd(Command::CacheFlush, id, [0; 6], CacheEntry::default())
            .map(|_| ())
    }

    /// `libvarpd_c_instance_cache_delete`.
    pub fn cache_delete(&self, id: u64, key: [u8; 6]) -> Result<(), Errno> {
        self.cache_cmd(Command::CacheDelete, id, key, CacheEntry::default())
            .map(|_| ())
    }

    /// `libvarpd_c_instance_cache_get`.
    pub fn cache_get(&self, id: u64, key: [u8; 6]) -> Result<CacheEntry, Errno> {
        self.cache_cmd(Command::CacheGet, id, key, CacheEntry::default())
    }

    /// `libvarpd_c_instance_cache_set`.
    pub fn cache_set(&self, id: u64, key: [u8; 6], entry: &CacheEntry) -> Result<(), Errno> {
        self.cache_cmd(Command::CacheSet, id, key, *entry)
            .map(|_| ())
    }

    /// `libvarpd_c_instance_cache_walk`: call `f(key, entry)` for every
    /// cache entry; `f` returning `false` ends the walk (successfully).
    pub fn cache_walk(
        &self,
        id: u64,
        mut f: impl FnMut([u8; 6], &CacheEntry) -> bool,
    ) -> Result<(), Errno> {
        let n = VARPD_CLIENT_WALK_BATCH;
        let mut b = vec![0u8; WalkArg::request_size(n)];
        let mut marker = 0u64;
        loop {
            b.fill(0);
            b[0..4].copy_from_slice(&(Command::CacheWalk as u32).to_ne_bytes());
            WalkArg {
                id,
                marker,
                count: n,
            }
            .encode(&mut b[VCA_UN..]);
            self.call(&mut b)?;
            let w = WalkArg::decode(&b[VCA_UN..]);
            if w.count == 0 {
                return Ok(());
            }
            if w.marker == marker {
                // No progress: a misbehaving server; stop rather than spin.
                return Err(Errno::EPROTO);
            }
            marker = w.marker;
            let base = VCA_UN + WalkArg::HDR;
            for i in 0..(w.count.min(n) as usize) {
                let off = base + i * TargCacheEntry::SIZE;
                let ke = TargCacheEntry::decode(&b[off..off + TargCacheEntry::SIZE]);
                let (key, ent) = CacheEntry::from_kernel(&ke);
                if !f(key, &ent) {
                    return Ok(());
                }
            }
        }
    }
}

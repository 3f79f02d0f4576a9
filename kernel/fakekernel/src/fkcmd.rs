//! fkoverlayd's own commands on the dld socket (`0x4b4610nn`): datalink
//! management (dlmgmtd's door) and VNICs (the vnic driver's ioctls).
//!
//! Theory of operation: [`Links`] owns the link table ([`DlMgmt`]) and the
//! running VNICs. Each command decodes its `overlay_sys::fk` struct
//! (zero-filled when short, like dld's buffers), checks privilege for the
//! mutating ones, and replies with the errno and the struct copied out
//! (on success and on error alike). Locks: the VNIC lock serialises VNIC
//! creation and deletion and may be held while the driver starts or stops a
//! device; the link-table lock is only ever held for table operations, never
//! across a driver call (the driver calls back into it from
//! `mac_register`).

use crate::dlmgmt::{valid_linkname, Attr, DlMgmt, Link};
use crate::mac::{Client, Mac};
use crate::server::{Caller, Reply};
use crate::tap::Tap;
use crate::zone::{zone_move, GLOBAL_ZONENAME};
use overlay_sys::errno::{EBUSY, EEXIST, EINVAL, ENOENT, ENOTTY, EPERM};
use overlay_sys::fk::*;
use overlay_sys::Pod;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Linux interface names hold 15 bytes.
const IFNAMSIZ_MAX: usize = 15;
/// Smallest VNIC MTU (the overlay's own lower bound).
const MIN_MTU: u32 = 576;

/// Link table plus VNICs.
pub struct Links {
    dl: Mutex<DlMgmt>,
    vnics: Mutex<BTreeMap<u32, Arc<Client>>>,
    /// The zone of each VNIC not in the global zone (under the VNIC lock).
    zones: Mutex<BTreeMap<u32, String>>,
    mac: Arc<Mac>,
}

impl std::fmt::Debug for Links {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Links").finish_non_exhaustive()
    }
}

fn reply<T: Pod>(errno: i32, v: &T) -> Reply {
    Reply {
        errno,
        arg: v.as_bytes().to_vec(),
        data: Vec::new(),
    }
}

fn res<T: Pod>(r: Result<(), i32>, v: &T) -> Reply {
    reply(r.err().unwrap_or(0), v)
}

fn name_of(buf: &[u8]) -> Option<&str> {
    std::str::from_utf8(fk_get_str(buf)).ok()
}

fn fill_info(i: &mut fk_dl_info_t, l: &Link) {
    i.fdl_linkid = l.linkid;
    i.fdl_class = l.class;
    i.fdl_media = l.media;
    i.fdl_flags = l.flags;
    // Names were validated (≤ 31 bytes) when the link was created.
    fk_set_str(&mut i.fdl_name, &l.name);
}

/// Formats a MAC address the illumos way (`2:8:20:a:b:c`).
pub fn mac_to_string(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn random_mac() -> [u8; 6] {
    let mut r = [0u8; 3];
    // SAFETY: getrandom writes at most r.len() bytes into r.
    let n = unsafe { libc::getrandom(r.as_mut_ptr().cast(), r.len(), 0) };
    if n != r.len() as isize {
        // Fall back on time and pid; uniqueness, not secrecy, matters.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
            ^ std::process::id();
        r.copy_from_slice(&t.to_le_bytes()[..3]);
    }
    let p = VNIC_RANDOM_PREFIX;
    [p[0], p[1], p[2], r[0], r[1], r[2]]
}

impl Links {
    /// A link table over `dl` and the MAC layer.
    pub fn new(dl: DlMgmt, mac: Arc<Mac>) -> Links {
        Links {
            dl: Mutex::new(dl),
            vnics: Mutex::new(BTreeMap::new()),
            zones: Mutex::new(BTreeMap::new()),
            mac,
        }
    }

    fn dl(&self) -> MutexGuard<'_, DlMgmt> {
        self.dl.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn vnics(&self) -> MutexGuard<'_, BTreeMap<u32, Arc<Client>>> {
        self.vnics.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The name of `linkid` if it is an overlay link, active or only
    /// persistent (the check `dls_devnet_create` makes through dlmgmtd when
    /// the driver registers a device; `dladm up-overlay` creates the device
    /// before it marks the persistent link active).
    pub fn overlay_link(&self, linkid: u32) -> Result<String, i32> {
        let dl = self.dl();
        match dl.get(linkid) {
            Some(l) if l.class == DATALINK_CLASS_OVERLAY => Ok(l.name.clone()),
            _ => Err(ENOENT),
        }
    }

    /// Handles one fk command; `None` if `cmd` is not one of ours.
    pub fn dispatch(&self, cmd: u32, arg: &[u8], who: &Caller) -> Option<Reply> {
        let priv_needed = matches!(
            cmd,
            FK_DL_CREATE_ID
                | FK_DL_DESTROY_ID
                | FK_DL_UP_ID
                | FK_DL_SETATTR
                | FK_DL_UNSETATTR
                | FK_DL_REMOVE_CONF
                | FK_VNIC_CREATE
                | FK_VNIC_DELETE
                | FK_VNIC_SETZONE
        );
        if cmd & 0xffff_f000 != 0x4b46_1000 {
            return None;
        }
        let r = match cmd {
            FK_DL_CREATE_ID => self.create_id(arg, who),
            FK_DL_DESTROY_ID | FK_DL_UP_ID | FK_DL_REMOVE_CONF | FK_VNIC_DELETE => {
                let a = fk_dl_id_t::from_bytes_padded(arg);
                if !who.dl_config {
                    return Some(reply(EPERM, &a));
                }
                let r = match cmd {
                    FK_DL_DESTROY_ID => self.destroy_id(a.fdi_linkid, a.fdi_flags),
                    FK_DL_UP_ID => self.dl().up(a.fdi_linkid),
                    FK_DL_REMOVE_CONF => self.dl().remove_conf(a.fdi_linkid),
                    _ => self.vnic_delete(a.fdi_linkid, a.fdi_flags),
                };
                res(r, &a)
            }
            FK_DL_NAME2ID | FK_DL_ID2INFO | FK_DL_GETNEXT => {
                let mut i = fk_dl_info_t::from_bytes_padded(arg);
                let dl = self.dl();
                let l = match cmd {
                    FK_DL_NAME2ID => name_of(&i.fdl_name).and_then(|n| dl.by_name(n)),
                    FK_DL_ID2INFO => dl.get(i.fdl_linkid),
                    _ => dl.next(i.fdl_linkid, i.fdl_class, i.fdl_flags),
                };
                match l {
                    Some(l) => {
                        fill_info(&mut i, l);
                        reply(0, &i)
                    }
                    None => reply(ENOENT, &i),
                }
            }
            FK_DL_GETATTR | FK_DL_SETATTR | FK_DL_UNSETATTR | FK_DL_WALKATTR => {
                let mut a = fk_dl_attr_t::from_bytes_padded(arg);
                if priv_needed && !who.dl_config {
                    return Some(reply(EPERM, &a));
                }
                let key = name_of(&a.fda_key).map(str::to_string);
                let r = match (cmd, key) {
                    (FK_DL_WALKATTR, _) => {
                        let dl = self.dl();
                        dl.attr_at(a.fda_linkid, a.fda_index).map(|(k, v)| {
                            fk_set_str(&mut a.fda_key, k);
                            put_attr(&mut a, v);
                        })
                    }
                    (_, None) => Err(EINVAL),
                    (FK_DL_GETATTR, Some(k)) => {
                        let dl = self.dl();
                        dl.get_attr(a.fda_linkid, &k).map(|v| put_attr(&mut a, v))
                    }
                    (FK_DL_SETATTR, Some(k)) => {
                        let n = (a.fda_vsize as usize).min(FK_ATTR_VALLEN);
                        if a.fda_vsize as usize > FK_ATTR_VALLEN {
                            Err(EINVAL)
                        } else {
                            self.dl().set_attr(
                                a.fda_linkid,
                                &k,
                                Attr {
                                    ty: a.fda_type,
                                    val: a.fda_val[..n].to_vec(),
                                },
                            )
                        }
                    }
                    (_, Some(k)) => self.dl().unset_attr(a.fda_linkid, &k),
                };
                res(r, &a)
            }
            FK_VNIC_CREATE => {
                let mut c = fk_vnic_create_t::from_bytes_padded(arg);
                if !who.dl_config {
                    return Some(reply(EPERM, &c));
                }
                let r = self.vnic_create(&mut c);
                res(r, &c)
            }
            FK_VNIC_INFO | FK_VNIC_GETNEXT => {
                let mut i = fk_vnic_info_t::from_bytes_padded(arg);
                let v = self.vnics();
                let c = if cmd == FK_VNIC_INFO {
                    v.get(&i.fvi_linkid).cloned()
                } else {
                    v.range(i.fvi_linkid.saturating_add(1)..)
                        .map(|(_, c)| c)
                        .find(|c| i.fvi_over == 0 || c.over == i.fvi_over)
                        .cloned()
                };
                drop(v);
                match c {
                    Some(c) => {
                        self.fill_vnic(&mut i, &c);
                        reply(0, &i)
                    }
                    None => reply(ENOENT, &i),
                }
            }
            FK_VNIC_SETZONE | FK_VNIC_GETZONE => {
                let mut z = fk_vnic_zone_t::from_bytes_padded(arg);
                if priv_needed && !who.dl_config {
                    return Some(reply(EPERM, &z));
                }
                let r = if cmd == FK_VNIC_SETZONE {
                    self.vnic_set_zone(&z)
                } else {
                    self.vnic_get_zone(&mut z)
                };
                res(r, &z)
            }
            _ => Reply::err(ENOTTY),
        };
        Some(r)
    }

    fn create_id(&self, arg: &[u8], who: &Caller) -> Reply {
        let mut c = fk_dl_create_t::from_bytes_padded(arg);
        if !who.dl_config {
            return reply(EPERM, &c);
        }
        let Some(name) = name_of(&c.fdc_name).map(str::to_string) else {
            return reply(EINVAL, &c);
        };
        match self
            .dl()
            .create(&name, c.fdc_class, c.fdc_media, c.fdc_flags)
        {
            Ok(id) => {
                c.fdc_linkid = id;
                reply(0, &c)
            }
            Err(e) => reply(e, &c),
        }
    }

    fn destroy_id(&self, linkid: u32, flags: u32) -> Result<(), i32> {
        if flags & DLMGMT_ACTIVE != 0
            && (self.vnics().contains_key(&linkid) || self.mac.is_provider(linkid))
        {
            return Err(EBUSY);
        }
        self.dl().destroy(linkid, flags)
    }

    fn fill_vnic(&self, i: &mut fk_vnic_info_t, c: &Client) {
        i.fvi_linkid = c.linkid;
        i.fvi_over = c.over;
        i.fvi_mac_type = c.mac_type;
        i.fvi_mtu = c.mtu;
        i.fvi_vid = u32::from(c.vid);
        i.fvi_state = LINK_STATE_UP;
        i.fvi_mac = c.mac;
        fk_set_str(&mut i.fvi_name, c.name());
        let dl = self.dl();
        i.fvi_flags = dl.get(c.linkid).map_or(DLMGMT_ACTIVE, |l| l.flags);
        i.fvi_overname = [0; MAXLINKNAMELEN];
        if let Some(o) = dl.get(c.over) {
            fk_set_str(&mut i.fvi_overname, &o.name);
        }
    }

    fn vnic_create(&self, c: &mut fk_vnic_create_t) -> Result<(), i32> {
        // 0: untagged; 4095 and above are no VLAN ids.
        let vid = match u16::try_from(c.fvc_vid) {
            Ok(v) if v <= crate::vlan::VLAN_ID_MAX => v,
            _ => return Err(EINVAL),
        };
        let mut vnics = self.vnics();
        let over_mtu = self.mac.mtu(c.fvc_over).ok_or(ENOENT)?;
        self.overlay_link(c.fvc_over)?;
        // The link: an existing VNIC link, or a new one.
        let (linkid, name, created, was_active) = if c.fvc_linkid != 0 {
            let dl = self.dl();
            let l = dl.get(c.fvc_linkid).ok_or(ENOENT)?;
            if l.class != DATALINK_CLASS_VNIC {
                return Err(EINVAL);
            }
            if vnics.contains_key(&l.linkid) {
                return Err(EEXIST);
            }
            (
                l.linkid,
                l.name.clone(),
                false,
                l.flags & DLMGMT_ACTIVE != 0,
            )
        } else {
            let name = name_of(&c.fvc_name).ok_or(EINVAL)?.to_string();
            if !valid_linkname(&name) || name.len() > IFNAMSIZ_MAX {
                return Err(EINVAL);
            }
            let flags = if c.fvc_flags == 0 {
                DLMGMT_ACTIVE
            } else {
                c.fvc_flags | DLMGMT_ACTIVE
            };
            let id = self
                .dl()
                .create(&name, DATALINK_CLASS_VNIC, DL_ETHER, flags)?;
            (id, name, true, true)
        };
        let undo = |links: &Links| {
            if created {
                let _ = links.dl().destroy(linkid, DLMGMT_ACTIVE | DLMGMT_PERSIST);
            }
        };
        if name.len() > IFNAMSIZ_MAX {
            undo(self);
            return Err(EINVAL);
        }
        // A MAC address is unique among the clients of one overlay (the
        // MAC layer would refuse a second unicast address like it).
        let taken = |m: &[u8; 6]| vnics.values().any(|v| v.over == c.fvc_over && &v.mac == m);
        let mac = match c.fvc_mac_type {
            VNIC_MAC_ADDR_TYPE_FIXED => {
                let m = c.fvc_mac;
                if m[0] & 1 != 0 || m == [0; 6] {
                    undo(self);
                    return Err(EINVAL);
                }
                if taken(&m) {
                    undo(self);
                    return Err(EEXIST);
                }
                m
            }
            // A random address given back (dladm up-vnic re-creating a
            // persistent VNIC) is kept, and so is its type.
            VNIC_MAC_ADDR_TYPE_RANDOM if c.fvc_mac != [0; 6] => {
                let m = c.fvc_mac;
                if m[0] & 1 != 0 {
                    undo(self);
                    return Err(EINVAL);
                }
                if taken(&m) {
                    undo(self);
                    return Err(EEXIST);
                }
                m
            }
            VNIC_MAC_ADDR_TYPE_RANDOM => {
                let mut m = random_mac();
                for _ in 0..8 {
                    if !taken(&m) {
                        break;
                    }
                    m = random_mac();
                }
                if taken(&m) {
                    undo(self);
                    return Err(EEXIST);
                }
                m
            }
            _ => {
                undo(self);
                return Err(EINVAL);
            }
        };
        let mtu = if c.fvc_mtu == 0 { over_mtu } else { c.fvc_mtu };
        if mtu < MIN_MTU || mtu > over_mtu {
            undo(self);
            return Err(EINVAL);
        }
        let tap = match Tap::create(&name, mac, mtu) {
            Ok(t) => t,
            Err(e) => {
                undo(self);
                return Err(e);
            }
        };
        let flags = self.dl().get(linkid).map_or(DLMGMT_ACTIVE, |l| l.flags);
        let client = match self.mac.add_client(
            c.fvc_over,
            linkid,
            tap,
            mac,
            c.fvc_mac_type,
            mtu,
            flags,
            vid,
        ) {
            Ok(cl) => cl,
            Err(e) => {
                undo(self);
                return Err(e);
            }
        };
        {
            let mut dl = self.dl();
            if !was_active {
                let _ = dl.up(linkid);
            }
            if dl
                .get(linkid)
                .is_some_and(|l| l.flags & DLMGMT_PERSIST != 0)
            {
                let u = |v: u64| Attr {
                    ty: DLADM_TYPE_UINT64,
                    val: v.to_le_bytes().to_vec(),
                };
                let mut ms = mac_to_string(&mac).into_bytes();
                ms.push(0);
                let _ = dl.set_attr(linkid, "linkover", u(c.fvc_over as u64));
                let _ = dl.set_attr(
                    linkid,
                    "macaddr",
                    Attr {
                        ty: DLADM_TYPE_STR,
                        val: ms,
                    },
                );
                let _ = dl.set_attr(linkid, "mac_type", u(c.fvc_mac_type as u64));
                if c.fvc_mtu != 0 {
                    let _ = dl.set_attr(linkid, "mtu", u(c.fvc_mtu as u64));
                }
                if vid != 0 {
                    let _ = dl.set_attr(linkid, "vid", u(u64::from(vid)));
                }
            }
        }
        vnics.insert(linkid, client);
        c.fvc_linkid = linkid;
        c.fvc_mac = mac;
        c.fvc_mtu = mtu;
        fk_set_str(&mut c.fvc_name, &name);
        tracing::info!(vnic = %name, linkid, over = c.fvc_over, mac = %mac_to_string(&mac), mtu, vid, "VNIC created");
        Ok(())
    }

    fn vnic_delete(&self, linkid: u32, flags: u32) -> Result<(), i32> {
        let flags = if flags == 0 { DLMGMT_ACTIVE } else { flags };
        let mut vnics = self.vnics();
        {
            let dl = self.dl();
            let l = dl.get(linkid).ok_or(ENOENT)?;
            if l.class != DATALINK_CLASS_VNIC {
                return Err(EINVAL);
            }
        }
        if flags & DLMGMT_ACTIVE != 0 {
            let c = vnics.remove(&linkid).ok_or(ENOENT)?;
            // Closing the TAP removes the interface in whatever zone.
            self.zones().remove(&linkid);
            self.mac.remove_client(&c);
            tracing::info!(vnic = %c.name(), linkid, "VNIC deleted");
        }
        self.dl().destroy(linkid, flags)
    }

    fn zones(&self) -> MutexGuard<'_, BTreeMap<u32, String>> {
        self.zones.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `FK_VNIC_SETZONE`: moves a running VNIC's TAP to another zone
    /// ([`crate::zone`]).
    fn vnic_set_zone(&self, z: &fk_vnic_zone_t) -> Result<(), i32> {
        let vnics = self.vnics();
        let c = vnics.get(&z.fvz_linkid).ok_or(ENOENT)?;
        let to = name_of(&z.fvz_zone).ok_or(EINVAL)?;
        let to = (!to.is_empty() && to != GLOBAL_ZONENAME).then_some(to);
        let from = self.zones().get(&z.fvz_linkid).cloned();
        if from.as_deref() == to {
            return Ok(());
        }
        zone_move(c.name(), from.as_deref(), to).map_err(|e| {
            tracing::warn!(vnic = %c.name(), zone = to.unwrap_or(GLOBAL_ZONENAME), errno = e, "cannot move VNIC");
            if e == libc::EINVAL {
                EINVAL
            } else {
                overlay_sys::errno::from_linux(e)
            }
        })?;
        match to {
            Some(t) => self.zones().insert(z.fvz_linkid, t.to_string()),
            None => self.zones().remove(&z.fvz_linkid),
        };
        tracing::info!(vnic = %c.name(), zone = to.unwrap_or(GLOBAL_ZONENAME), "VNIC moved");
        Ok(())
    }

    /// `FK_VNIC_GETZONE`: the zone of a running VNIC (empty: global).
    fn vnic_get_zone(&self, z: &mut fk_vnic_zone_t) -> Result<(), i32> {
        let vnics = self.vnics();
        if !vnics.contains_key(&z.fvz_linkid) {
            return Err(ENOENT);
        }
        let name = self.zones().get(&z.fvz_linkid).cloned().unwrap_or_default();
        // Names were checked to fit when they were set.
        fk_set_str(&mut z.fvz_zone, &name);
        Ok(())
    }

    /// Removes every VNIC (shutdown): TAPs go, overlays stop, persistent
    /// configuration stays.
    pub fn shutdown(&self) {
        let mut vnics = self.vnics();
        self.zones().clear();
        for (_, c) in std::mem::take(&mut *vnics) {
            self.mac.remove_client(&c);
        }
    }
}

fn put_attr(a: &mut fk_dl_attr_t, v: &Attr) {
    a.fda_type = v.ty;
    let n = v.val.len().min(FK_ATTR_VALLEN);
    a.fda_val = [0; FK_ATTR_VALLEN];
    a.fda_val[..n].copy_from_slice(&v.val[..n]);
    a.fda_vsize = n as u32;
}

/// The `FK_STATS` reply for `counters`: the header with the total, then as
/// many entries as the caller made room for.
pub fn stats_reply(arg: &[u8], counters: &[(String, u64)]) -> Reply {
    let hdr = fk_stats_t::from_bytes_padded(arg);
    let room = (arg.len().saturating_sub(std::mem::size_of::<fk_stats_t>())
        / std::mem::size_of::<fk_stat_t>())
    .min(hdr.fs_nstats as usize);
    let mut out = fk_stats_t {
        fs_nstats: counters.len() as u32,
        fs_pad: 0,
    }
    .as_bytes()
    .to_vec();
    for (name, v) in counters.iter().take(room) {
        let mut s = fk_stat_t::default();
        fk_set_str(&mut s.fst_name, name);
        s.fst_value = *v;
        out.extend_from_slice(s.as_bytes());
    }
    out.resize(arg.len().max(out.len()), 0);
    Reply {
        errno: 0,
        arg: out,
        data: Vec::new(),
    }
}

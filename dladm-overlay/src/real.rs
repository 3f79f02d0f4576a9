//! The real system: the overlay driver and datalink management through
//! `/dev/dld` (fkoverlayd's dld socket on Linux, `libvarpd::kdev`), and
//! varpd through its door (`libvarpd::client`).
//!
//! Each `Backend` method is one ioctl or one door call with the illumos
//! structure of `overlay-sys` (`overlay_ioc_*_t`, `fk_*_t`); results are
//! illumos errnos. The varpd door is opened on first use, so commands that
//! never talk to varpd work while it is down (and `create-overlay` reports
//! `failed to create libvarpd handle: ...` at the right step).
//!
//! On illumos the same code drives the real `/dev/dld` for the overlay
//! ioctls; datalink management there belongs to dlmgmtd's door, which this
//! crate does not speak yet, so the `FK_DL_*`/`FK_VNIC_*` commands fail
//! (the system dladm(8) manages links and VNICs on illumos).

use std::path::{Path, PathBuf};

use libvarpd::client::{CacheEntry as VCacheEntry, Client, PropInfo as VPropInfo};
use libvarpd::kdev::KDev;
use overlay_sys::fk::*;
use overlay_sys::{
    overlay_ioc_activate_t, overlay_ioc_create_t, overlay_ioc_delete_t, overlay_ioc_nprops_t,
    overlay_ioc_prop_t, overlay_ioc_propinfo_t, overlay_ioc_status_t, Pod, OVERLAY_IOC_ACTIVATE,
    OVERLAY_IOC_CREATE, OVERLAY_IOC_DELETE, OVERLAY_IOC_GETPROP, OVERLAY_IOC_NPROPS,
    OVERLAY_IOC_PROPINFO, OVERLAY_IOC_SETPROP, OVERLAY_IOC_STATUS,
};

use crate::backend::*;
use crate::errno::{self, Errno};
use crate::prop::{PropInfo, Range, PROP_SIZEMAX};

/// What to do when `/dev/dld` cannot be opened: report and exit (dladm's
/// `die()` when `dladm_open` fails). Gets the node's path and the errno.
pub type OpenFailed = fn(&Path, Errno) -> !;

/// How long `delete-overlay` waits for the driver's DELETE
/// (`DLADM_DELETE_TIMEOUT` overrides it, in seconds).
const DELETE_TIMEOUT_SECS: u64 = 10;

/// The system's dld node and varpd door.
pub struct RealBackend {
    /// Opened at the first ioctl, so usage errors and `help` need no
    /// running fkoverlayd.
    dld: std::cell::OnceCell<KDev>,
    root: PathBuf,
    on_open_failed: OpenFailed,
    door: PathBuf,
    varpd: Option<Client>,
}

fn en(e: libvarpd::errno::Errno) -> Errno {
    e.0
}

/// A NUL-terminated string from a fixed buffer.
fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Copy `s` into a fixed buffer, NUL-terminated; `EINVAL` if too long.
fn setstr(buf: &mut [u8], s: &str) -> Result<(), Errno> {
    if s.len() >= buf.len() || s.as_bytes().contains(&0) {
        return Err(errno::EINVAL);
    }
    buf.fill(0);
    buf[..s.len()].copy_from_slice(s.as_bytes());
    Ok(())
}

impl RealBackend {
    /// Open `/dev/dld` under `root` (`OVERLAY_ROOT`) now.
    pub fn open(root: &Path) -> Result<RealBackend, Errno> {
        let dld = KDev::open_dld(root).map_err(|e| errno::from_io(&e))?;
        let b = RealBackend::lazy(root, |_, e| panic!("/dev/dld lost: errno {e}"));
        let _ = b.dld.set(dld);
        Ok(b)
    }

    /// A backend that opens `/dev/dld` under `root` at its first ioctl and
    /// calls `on_open_failed` if that fails.
    pub fn lazy(root: &Path, on_open_failed: OpenFailed) -> RealBackend {
        RealBackend {
            dld: std::cell::OnceCell::new(),
            root: root.to_path_buf(),
            on_open_failed,
            door: libvarpd::paths::door_path(root),
            varpd: None,
        }
    }

    fn dld(&self) -> &KDev {
        if let Some(k) = self.dld.get() {
            return k;
        }
        match KDev::open_dld(&self.root) {
            Ok(k) => self.dld.get_or_init(|| k),
            Err(e) => {
                (self.on_open_failed)(&libvarpd::paths::dld_path(&self.root), errno::from_io(&e))
            }
        }
    }

    fn ioc<T: Pod>(&self, cmd: u32, arg: &mut T) -> Result<(), Errno> {
        let r = self.dld().ioctl(cmd, arg.as_bytes_mut()).map_err(en);
        if let Err(e) = r {
            if std::env::var_os("DLADM_DEBUG").is_some() {
                eprintln!("dladm: debug: ioctl {cmd:#x}: errno {e}");
            }
        }
        r
    }

    fn door(&mut self) -> Result<&Client, Errno> {
        if self.varpd.is_none() {
            let c = Client::open(&self.door).map_err(en).inspect_err(|&e| {
                if e == errno::ENOENT || e == errno::ECONNREFUSED {
                    eprintln!(
                        "dladm: varpd is not running (nothing serves {}); start it with \
                         'varpd' (systemd: 'systemctl start varpd')",
                        self.door.display()
                    );
                }
            })?;
            self.varpd = Some(c);
        }
        // Set just above when it was None.
        self.varpd.as_ref().ok_or(errno::EBADF)
    }

    fn info_of(i: &fk_dl_info_t) -> LinkInfo {
        LinkInfo {
            linkid: i.fdl_linkid,
            name: cstr(&i.fdl_name),
            class: i.fdl_class,
            media: i.fdl_media,
            flags: i.fdl_flags,
        }
    }

    fn vnic_of(v: &fk_vnic_info_t) -> VnicAttr {
        VnicAttr {
            linkid: v.fvi_linkid,
            name: cstr(&v.fvi_name),
            over: v.fvi_over,
            overname: cstr(&v.fvi_overname),
            flags: v.fvi_flags,
            mac_type: v.fvi_mac_type,
            mac: v.fvi_mac,
            mtu: v.fvi_mtu,
            vid: v.fvi_vid,
            state: v.fvi_state,
            speed_mbps: 0,
        }
    }

    fn vprop(p: VPropInfo) -> PropInfo {
        PropInfo {
            id: p.propid,
            name: p.name,
            ptype: p.ptype,
            prot: p.prot,
            default: p.default,
            range: Range::decode(&p.poss),
        }
    }
}

fn to_vcache(e: &CacheEntry) -> VCacheEntry {
    VCacheEntry {
        mac: e.mac,
        flags: e.flags,
        ip: e.ip.into(),
        port: e.port,
    }
}

fn from_vcache(e: &VCacheEntry) -> CacheEntry {
    CacheEntry {
        mac: e.mac,
        flags: e.flags,
        ip: e.ip.octets(),
        port: e.port,
    }
}

impl Backend for RealBackend {
    fn name2info(&mut self, name: &str) -> Result<LinkInfo, Errno> {
        let mut i = fk_dl_info_t::default();
        // A name that cannot be a link name names no link.
        setstr(&mut i.fdl_name, name).map_err(|_| errno::ENOENT)?;
        self.ioc(FK_DL_NAME2ID, &mut i)?;
        Ok(Self::info_of(&i))
    }

    fn id2info(&mut self, linkid: LinkId) -> Result<LinkInfo, Errno> {
        let mut i = fk_dl_info_t {
            fdl_linkid: linkid,
            ..Default::default()
        };
        self.ioc(FK_DL_ID2INFO, &mut i)?;
        Ok(Self::info_of(&i))
    }

    fn walk_links(&mut self, class_mask: u32, flags: u32) -> Result<Vec<LinkInfo>, Errno> {
        let mut out = Vec::new();
        let mut cursor = 0;
        loop {
            let mut i = fk_dl_info_t {
                fdl_linkid: cursor,
                fdl_class: class_mask,
                fdl_flags: flags,
                ..Default::default()
            };
            match self.ioc(FK_DL_GETNEXT, &mut i) {
                Ok(()) => {}
                Err(errno::ENOENT) => return Ok(out),
                Err(e) => return Err(e),
            }
            if i.fdl_linkid <= cursor {
                // A server that does not advance would loop forever.
                return Err(errno::EIO);
            }
            cursor = i.fdl_linkid;
            out.push(Self::info_of(&i));
        }
    }

    fn create_datalink_id(&mut self, name: &str, class: u32, flags: u32) -> Result<LinkId, Errno> {
        let mut c = fk_dl_create_t {
            fdc_class: class,
            fdc_media: crate::backend::DL_ETHER,
            fdc_flags: flags,
            ..Default::default()
        };
        setstr(&mut c.fdc_name, name)?;
        self.ioc(FK_DL_CREATE_ID, &mut c)?;
        Ok(c.fdc_linkid)
    }

    fn destroy_datalink_id(&mut self, linkid: LinkId, flags: u32) -> Result<(), Errno> {
        let mut a = fk_dl_id_t {
            fdi_linkid: linkid,
            fdi_flags: flags,
        };
        self.ioc(FK_DL_DESTROY_ID, &mut a)
    }

    fn up_datalink_id(&mut self, linkid: LinkId) -> Result<(), Errno> {
        let mut a = fk_dl_id_t {
            fdi_linkid: linkid,
            fdi_flags: DLMGMT_ACTIVE,
        };
        self.ioc(FK_DL_UP_ID, &mut a)
    }

    fn set_conf(&mut self, linkid: LinkId, key: &str, val: &ConfVal) -> Result<(), Errno> {
        let mut a = fk_dl_attr_t {
            fda_linkid: linkid,
            ..Default::default()
        };
        setstr(&mut a.fda_key, key)?;
        let bytes: Vec<u8> = match val {
            ConfVal::Str(s) => {
                a.fda_type = DLADM_TYPE_STR;
                let mut b = s.as_bytes().to_vec();
                b.push(0);
                b
            }
            ConfVal::Bool(x) => {
                a.fda_type = DLADM_TYPE_BOOLEAN;
                u32::from(*x).to_le_bytes().to_vec()
            }
            ConfVal::U64(x) => {
                a.fda_type = DLADM_TYPE_UINT64;
                x.to_le_bytes().to_vec()
            }
        };
        if bytes.len() > a.fda_val.len() {
            return Err(errno::EOVERFLOW);
        }
        a.fda_val[..bytes.len()].copy_from_slice(&bytes);
        a.fda_vsize = bytes.len() as u32;
        self.ioc(FK_DL_SETATTR, &mut a)
    }

    fn get_conf(&mut self, linkid: LinkId) -> Result<Vec<(String, ConfVal)>, Errno> {
        let mut out = Vec::new();
        // Bounded: a link has a handful of attributes; a server that never
        // says ENOENT must not make dladm loop forever.
        for index in 0..4096 {
            let mut a = fk_dl_attr_t {
                fda_linkid: linkid,
                fda_index: index,
                ..Default::default()
            };
            match self.ioc(FK_DL_WALKATTR, &mut a) {
                Ok(()) => {}
                Err(errno::ENOENT) => break,
                Err(e) => return Err(e),
            }
            let n = (a.fda_vsize as usize).min(a.fda_val.len());
            let v = &a.fda_val[..n];
            let val = match a.fda_type {
                DLADM_TYPE_STR => ConfVal::Str(cstr(v)),
                DLADM_TYPE_BOOLEAN if n >= 4 => {
                    ConfVal::Bool(u32::from_le_bytes([v[0], v[1], v[2], v[3]]) != 0)
                }
                DLADM_TYPE_UINT64 if n == 8 => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(v);
                    ConfVal::U64(u64::from_le_bytes(b))
                }
                _ => continue,
            };
            out.push((cstr(&a.fda_key), val));
        }
        Ok(out)
    }

    fn remove_conf(&mut self, linkid: LinkId) -> Result<(), Errno> {
        let mut a = fk_dl_id_t {
            fdi_linkid: linkid,
            fdi_flags: DLMGMT_PERSIST,
        };
        self.ioc(FK_DL_REMOVE_CONF, &mut a)
    }

    fn ovl_create(&mut self, linkid: LinkId, vnetid: u64, encap: &str) -> Result<(), Errno> {
        let mut c = overlay_ioc_create_t {
            oic_linkid: linkid,
            oic_vnetid: vnetid,
            ..Default::default()
        };
        setstr(&mut c.oic_encap, encap)?;
        self.ioc(OVERLAY_IOC_CREATE, &mut c)
    }

    fn ovl_delete(&mut self, linkid: LinkId) -> Result<(), Errno> {
        // The driver's DELETE waits until every lookup queued for varpd on
        // the device is answered: with varpd down it would hang for good.
        let secs = std::env::var("DLADM_DELETE_TIMEOUT")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(DELETE_TIMEOUT_SECS);
        let mut d = overlay_ioc_delete_t { oid_linkid: linkid };
        let r = self
            .dld()
            .ioctl_within(
                OVERLAY_IOC_DELETE,
                d.as_bytes_mut(),
                std::time::Duration::from_secs(secs),
            )
            .map_err(en);
        if r == Err(errno::ETIMEDOUT) {
            let varpd = if Client::open(&self.door).is_ok() {
                "varpd is running but has not answered them"
            } else {
                "varpd is not running: start it with 'varpd'"
            };
            eprintln!(
                "dladm: the overlay device still has lookups queued for varpd after {secs} s; \
                 {varpd}. The driver deletes the device once they are answered; then run \
                 delete-overlay again to remove the link"
            );
        }
        r
    }

    fn ovl_activate(&mut self, linkid: LinkId) -> Result<(), Errno> {
        let mut a = overlay_ioc_activate_t { oia_linkid: linkid };
        self.ioc(OVERLAY_IOC_ACTIVATE, &mut a)
    }

    fn ovl_nprops(&mut self, linkid: LinkId) -> Result<u32, Errno> {
        let mut n = overlay_ioc_nprops_t {
            oipn_linkid: linkid,
            oipn_nprops: 0,
        };
        self.ioc(OVERLAY_IOC_NPROPS, &mut n)?;
        u32::try_from(n.oipn_nprops).map_err(|_| errno::EINVAL)
    }

    fn ovl_propinfo(&mut self, linkid: LinkId, sel: PropSel<'_>) -> Result<PropInfo, Errno> {
        let mut p = overlay_ioc_propinfo_t {
            oipi_linkid: linkid,
            ..Default::default()
        };
        match sel {
            PropSel::Id(i) => p.oipi_id = i32::try_from(i).map_err(|_| errno::EINVAL)?,
            PropSel::Name(n) => {
                p.oipi_id = -1;
                setstr(&mut p.oipi_name, n)?;
            }
        }
        self.ioc(OVERLAY_IOC_PROPINFO, &mut p)?;
        let defsize = (p.oipi_defsize as usize).min(PROP_SIZEMAX);
        Ok(PropInfo {
            id: u32::try_from(p.oipi_id).map_err(|_| errno::EINVAL)?,
            name: cstr(&p.oipi_name),
            ptype: p.oipi_type,
            prot: p.oipi_prot,
            default: p.oipi_default[..defsize].to_vec(),
            range: Range::decode(&p.oipi_poss),
        })
    }

    fn ovl_getprop(&mut self, linkid: LinkId, id: u32) -> Result<Vec<u8>, Errno> {
        let mut p = overlay_ioc_prop_t {
            oip_linkid: linkid,
            oip_id: i32::try_from(id).map_err(|_| errno::EINVAL)?,
            ..Default::default()
        };
        self.ioc(OVERLAY_IOC_GETPROP, &mut p)?;
        let n = (p.oip_size as usize).min(PROP_SIZEMAX);
        Ok(p.oip_value[..n].to_vec())
    }

    fn ovl_setprop(&mut self, linkid: LinkId, id: u32, val: &[u8]) -> Result<(), Errno> {
        if val.len() > PROP_SIZEMAX {
            return Err(errno::EOVERFLOW);
        }
        let mut p = overlay_ioc_prop_t {
            oip_linkid: linkid,
            oip_id: i32::try_from(id).map_err(|_| errno::EINVAL)?,
            oip_size: val.len() as u32,
            ..Default::default()
        };
        p.oip_value[..val.len()].copy_from_slice(val);
        self.ioc(OVERLAY_IOC_SETPROP, &mut p)
    }

    fn ovl_status(&mut self, linkid: LinkId) -> Result<(bool, String), Errno> {
        let mut s = overlay_ioc_status_t {
            ois_linkid: linkid,
            ..Default::default()
        };
        self.ioc(OVERLAY_IOC_STATUS, &mut s)?;
        Ok((s.ois_status == 1, cstr(&s.ois_message)))
    }

    fn varpd_open(&mut self) -> Result<(), Errno> {
        self.door().map(|_| ())
    }

    fn varpd_instance_create(&mut self, linkid: LinkId, plugin: &str) -> Result<u64, Errno> {
        self.door()?.instance_create(linkid, plugin).map_err(en)
    }

    fn varpd_instance_activate(&mut self, id: u64) -> Result<(), Errno> {
        self.door()?.instance_activate(id).map_err(en)
    }

    fn varpd_instance_destroy(&mut self, id: u64) -> Result<(), Errno> {
        self.door()?.instance_destroy(id).map_err(en)
    }

    fn varpd_nprops(&mut self, id: u64) -> Result<u32, Errno> {
        self.door()?.prop_nprops(id).map_err(en)
    }

    fn varpd_propinfo(&mut self, id: u64, sel: PropSel<'_>) -> Result<PropInfo, Errno> {
        let c = self.door()?;
        let p = match sel {
            PropSel::Id(i) => c.prop_info(id, i),
            PropSel::Name(n) => c.prop_info_by_name(id, n),
        }
        .map_err(en)?;
        Ok(Self::vprop(p))
    }

    fn varpd_getprop(&mut self, id: u64, propid: u32) -> Result<Vec<u8>, Errno> {
        self.door()?.prop_get(id, propid).map_err(en)
    }

    fn varpd_setprop(&mut self, id: u64, propid: u32, val: &[u8]) -> Result<(), Errno> {
        self.door()?.prop_set(id, propid, val).map_err(en)
    }

    fn varpd_lookup(&mut self, linkid: LinkId) -> Result<u64, Errno> {
        self.door()?.instance_lookup(linkid).map_err(en)
    }

    fn varpd_target_mode(&mut self, id: u64) -> Result<(u32, u32), Errno> {
        self.door()?.instance_target_mode(id).map_err(en)
    }

    fn varpd_cache_flush(&mut self, id: u64) -> Result<(), Errno> {
        self.door()?.cache_flush(id).map_err(en)
    }

    fn varpd_cache_delete(&mut self, id: u64, key: [u8; 6]) -> Result<(), Errno> {
        self.door()?.cache_delete(id, key).map_err(en)
    }

    fn varpd_cache_get(&mut self, id: u64, key: [u8; 6]) -> Result<CacheEntry, Errno> {
        self.door()?
            .cache_get(id, key)
            .map(|e| from_vcache(&e))
            .map_err(en)
    }

    fn varpd_cache_set(&mut self, id: u64, key: [u8; 6], ent: &CacheEntry) -> Result<(), Errno> {
        self.door()?.cache_set(id, key, &to_vcache(ent)).map_err(en)
    }

    fn varpd_cache_walk(&mut self, id: u64) -> Result<Vec<([u8; 6], CacheEntry)>, Errno> {
        let mut out = Vec::new();
        self.door()?
            .cache_walk(id, |k, e| {
                out.push((k, from_vcache(e)));
                true
            })
            .map_err(en)?;
        Ok(out)
    }

    fn vnic_create(&mut self, req: &VnicCreate) -> Result<VnicAttr, Errno> {
        let mut c = fk_vnic_create_t {
            fvc_linkid: req.linkid.unwrap_or(0),
            fvc_over: req.over,
            fvc_flags: req.flags,
            fvc_mac_type: req.mac_type,
            fvc_mtu: req.mtu,
            fvc_vid: u32::from(req.vid),
            fvc_mac: req.mac,
            ..Default::default()
        };
        setstr(&mut c.fvc_name, &req.name)?;
        self.ioc(FK_VNIC_CREATE, &mut c)?;
        self.vnic_info(c.fvc_linkid)
    }

    fn vnic_delete(&mut self, linkid: LinkId, flags: u32) -> Result<(), Errno> {
        let mut a = fk_dl_id_t {
            fdi_linkid: linkid,
            fdi_flags: flags,
        };
        self.ioc(FK_VNIC_DELETE, &mut a)
    }

    fn vnic_info(&mut self, linkid: LinkId) -> Result<VnicAttr, Errno> {
        let mut v = fk_vnic_info_t {
            fvi_linkid: linkid,
            ..Default::default()
        };
        self.ioc(FK_VNIC_INFO, &mut v)?;
        Ok(Self::vnic_of(&v))
    }

    fn vnic_walk(&mut self, over: Option<LinkId>) -> Result<Vec<VnicAttr>, Errno> {
        let mut out = Vec::new();
        let mut cursor = 0;
        loop {
            let mut v = fk_vnic_info_t {
                fvi_linkid: cursor,
                fvi_over: over.unwrap_or(0),
                ..Default::default()
            };
            match self.ioc(FK_VNIC_GETNEXT, &mut v) {
                Ok(()) => {}
                Err(errno::ENOENT) => return Ok(out),
                Err(e) => return Err(e),
            }
            if v.fvi_linkid <= cursor {
                return Err(errno::EIO);
            }
            cursor = v.fvi_linkid;
            out.push(Self::vnic_of(&v));
        }
    }

    fn zone_exists(&mut self, name: &str) -> bool {
        // A plain name whose network namespace file exists (what `ip netns
        // add` creates).
        !name.is_empty()
            && name.len() < FK_ZONENAME_MAX
            && !name.contains('/')
            && name != "."
            && name != ".."
            && std::path::Path::new(FK_NETNS_DIR).join(name).exists()
    }

    fn vnic_set_zone(&mut self, linkid: LinkId, zone: &str) -> Result<(), Errno> {
        let mut z = fk_vnic_zone_t {
            fvz_linkid: linkid,
            ..Default::default()
        };
        setstr(&mut z.fvz_zone, zone)?;
        self.ioc(FK_VNIC_SETZONE, &mut z)
    }

    fn vnic_get_zone(&mut self, linkid: LinkId) -> Result<String, Errno> {
        let mut z = fk_vnic_zone_t {
            fvz_linkid: linkid,
            ..Default::default()
        };
        self.ioc(FK_VNIC_GETZONE, &mut z)?;
        Ok(cstr(&z.fvz_zone))
    }
}

//! Device-management ioctls on `/dev/dld` (§5): CREATE, DELETE, ACTIVATE,
//! NPROPS, STATUS here; PROPINFO, GETPROP, SETPROP in [`crate::props`].
//!
//! [`Overlay::dld_ioctl`] applies dld's registered-ioctl rule around the
//! handlers: unknown command `ENOTSUP`; privilege (`EPERM`); a zeroed
//! kernel buffer of exactly the table size with the caller's bytes copied
//! in (a shorter argument is `EFAULT`, as a short user buffer would be);
//! the handler; and, for COPYOUT commands, the whole buffer returned **even
//! when the handler failed**. Handlers work on the kernel buffer in place,
//! so whatever they changed before failing is what the caller sees, as on
//! illumos.

use crate::dev::{DevIo, DevState, OverlayDev, PluginHold};
use crate::errno::{to_errno, Errno};
use crate::kcondvar::KCondvar;
use crate::kmutex::KMutex;
use crate::once::OnceSlot;
use crate::platform::{Cred, MacRegistration, Platform};
use crate::prop::PropHandle;
use crate::stats::DevStats;
use crate::Overlay;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use overlay_sys::*;

impl<P: Platform> Overlay<P> {
    /// A whole `/dev/dld` ioctl: returns the errno (0 on success) and the
    /// bytes to copy back (empty unless the command has COPYOUT).
    pub fn dld_ioctl(&self, cmd: u32, arg_in: &[u8], cred: &Cred) -> (i32, Vec<u8>) {
        let Some(info) = dld_ioc_info(cmd) else {
            return (Errno::ENOTSUP.0, Vec::new());
        };
        if info.needs_dl_config && !cred.dl_config {
            return (Errno::EPERM.0, Vec::new());
        }
        if info.copyin && arg_in.len() < info.size {
            return (Errno::EFAULT.0, Vec::new());
        }
        let mut kbuf = vec![0u8; info.size];
        if info.copyin {
            kbuf.copy_from_slice(&arg_in[..info.size]);
        }
        let r = self.dld_ioc_dispatch(cmd, &mut kbuf, cred);
        (to_errno(r), if info.copyout { kbuf } else { Vec::new() })
    }

    /// The per-command handler (what the driver registers with dld). `kbuf`
    /// is the kernel buffer, at least the table size for `cmd`; privilege
    /// has been checked by the caller (dld). Unknown command: `ENOTSUP`.
    pub fn dld_ioc_dispatch(&self, cmd: u32, kbuf: &mut [u8], cred: &Cred) -> Result<(), Errno> {
        let Some(info) = dld_ioc_info(cmd) else {
            return Err(Errno::ENOTSUP);
        };
        if kbuf.len() < info.size {
            return Err(Errno::EFAULT);
        }
        let kbuf = &mut kbuf[..info.size];
        match cmd {
            OVERLAY_IOC_CREATE => self.i_create(kbuf, cred),
            OVERLAY_IOC_DELETE => self.i_delete(kbuf),
            OVERLAY_IOC_PROPINFO => self.i_propinfo(kbuf),
            OVERLAY_IOC_GETPROP => self.i_getprop(kbuf),
            OVERLAY_IOC_SETPROP => self.i_setprop(kbuf),
            OVERLAY_IOC_NPROPS => self.i_nprops(kbuf),
            OVERLAY_IOC_ACTIVATE => self.i_activate(kbuf),
            OVERLAY_IOC_STATUS => self.i_status(kbuf),
            _ => Err(Errno::ENOTSUP),
        }
    }

    /// OVERLAY_IOC_CREATE (§5.4).
    fn i_create(&self, kbuf: &mut [u8], cred: &Cred) -> Result<(), Errno> {
        let c = overlay_ioc_create_t::from_bytes(kbuf).ok_or(Errno::EFAULT)?;
        // 1: NUL within the buffer, non-empty, no '/', UTF-8.
        let Some(nul) = c.oic_encap.iter().position(|&b| b == 0) else {
            return Err(Errno::EINVAL);
        };
        let name = core::str::from_utf8(&c.oic_encap[..nul]).map_err(|_| Errno::EINVAL)?;
        if name.is_empty() || name.contains('/') {
            return Err(Errno::EINVAL);
        }
        // 2: the plugin, with an active reference.
        let plugin = PluginHold(self.plugins.lookup(name).ok_or(Errno::ENOENT)?);
        // 3: an instance (dropping it on any later failure is `fini`).
        let inst = plugin.0.ops.init().map_err(|_| Errno::EINVAL)?;
        // 4: the vnetid fits the plugin's id size.
        if c.oic_vnetid > plugin.0.max_vnetid() {
            return Err(Errno::EINVAL);
        }
        // 5: MAC registration values (§11.1).
        let reg = MacRegistration {
            linkid: c.oic_linkid,
            zoneid: cred.zoneid,
            mac_type: MAC_PLUGIN_IDENT_ETHER,
            src_addr: [0; 6],
            min_sdu: 1,
            max_sdu: OVERLAY_MTU_DEF,
            multicast_sdu: 0,
            margin: if plugin.0.flags & OVEP_F_VLAN_TAG != 0 {
                VLAN_TAGSZ as u32
            } else {
                0
            },
            encap: plugin.0.name,
        };
        let mut l = self.devs.lock();
        // 6, 7: unique linkid, unique (vnetid, plugin).
        if l.iter().any(|d| d.linkid == c.oic_linkid) {
            return Err(Errno::EEXIST);
        }
        if l.iter()
            .any(|d| Arc::ptr_eq(&d.plugin.0, &plugin.0) && d.st.lock().vid == c.oic_vnetid)
        {
            return Err(Errno::EEXIST);
        }
        let dev = Arc::new_cyclic(|me| OverlayDev {
            ovl: self.arc(),
            me: me.clone(),
            linkid: c.oic_linkid,
            plugin,
            inst,
            mac: OnceSlot::new(),
            perim: KMutex::new(()),
            st: KMutex::new(DevState {
                flags: 0,
                refs: 0,
                mux: None,
                vid: c.oic_vnetid,
                target: None,
                retired: Vec::new(),
                fm_msg: [0; OVERLAY_STATUS_BUFLEN],
                sdu: OVERLAY_MTU_DEF,
            }),
            iocv: KCondvar::new(),
            io: DevIo::new(),
            stats: DevStats::default(),
            flood: KMutex::new(None),
        });
        // 8, 9: mac_register + dls_devnet_create.
        let mac = self.platform.mac_register(&dev, &reg)?;
        // A fresh slot is empty, so this cannot fail.
        let _ = dev.mac.set(mac);
        l.push(dev);
        Ok(())
    }

    /// OVERLAY_IOC_DELETE (§5.6).
    fn i_delete(&self, kbuf: &mut [u8]) -> Result<(), Errno> {
        let d = overlay_ioc_delete_t::from_bytes(kbuf).ok_or(Errno::EFAULT)?;
        let hold = self.dev_hold(d.oid_linkid).ok_or(Errno::ENOENT)?;
        {
            let st = hold.st.lock();
            if st.refs != 1 {
                return Err(Errno::EBUSY);
            }
            if st.flags & OVERLAY_F_IN_MUX != 0 {
                return Err(Errno::EBUSY);
            }
        }
        {
            // Unlink under the list lock only if nobody took a hold since.
            let mut l = self.devs.lock();
            if hold.st.lock().refs != 1 {
                return Err(Errno::EBUSY);
            }
            if let Some(mac) = hold.mac.get() {
                self.platform.mac_unregister(mac)?;
            }
            l.retain(|x| !Arc::ptr_eq(x, &hold.0));
        }
        // §16 #14: a degraded device must not keep the driver degraded.
        self.fm_restore(&hold);
        let target = {
            let mut st = hold.st.lock();
            hold.target_replace(&mut st, None)
        };
        if let Some(t) = target {
            t.quiesce();
            t.destroy_cache();
        }
        hold.st.lock().flags &= !OVERLAY_F_VARPD;
        Ok(())
    }

    /// OVERLAY_IOC_ACTIVATE (§5.5).
    fn i_activate(&self, kbuf: &mut [u8]) -> Result<(), Errno> {
        let a = overlay_ioc_activate_t::from_bytes(kbuf).ok_or(Errno::EFAULT)?;
        let dev = self.dev_hold(a.oia_linkid).ok_or(Errno::ENOENT)?;
        let _p = dev.perim.lock();
        if dev.st.lock().flags & OVERLAY_F_ACTIVATED != 0 {
            return Err(Errno::EEXIST);
        }
        for name in dev.plugin.0.props {
            let mut pi = overlay_ioc_propinfo_t::default();
            let mut ph = PropHandle::new(&mut pi);
            dev.plugin.0.ops.propinfo(name, &mut ph)?;
            if pi.oipi_prot & OVERLAY_PROP_PERM_REQ != 0 {
                let mut buf = [0u8; OVERLAY_PROP_SIZEMAX];
                if dev.inst.getprop(name, &mut buf)? == 0 {
                    return Err(Errno::EINVAL);
                }
            }
        }
        let mut st = dev.st.lock();
        if st.flags & OVERLAY_F_VARPD == 0 {
            return Err(Errno::ENXIO);
        }
        st.flags |= OVERLAY_F_ACTIVATED;
        drop(st);
        if let Some(mac) = dev.mac.get() {
            self.platform.mac_link_update(mac, true);
        }
        Ok(())
    }

    /// OVERLAY_IOC_NPROPS (§5.7).
    fn i_nprops(&self, kbuf: &mut [u8]) -> Result<(), Errno> {
        let mut n = overlay_ioc_nprops_t::from_bytes(kbuf).ok_or(Errno::EFAULT)?;
        let dev = self.dev_hold(n.oipn_linkid).ok_or(Errno::ENOENT)?;
        n.oipn_nprops = (dev.plugin.0.nprops() + OVERLAY_DEV_NPROPS) as i32;
        n.write_to(kbuf);
        Ok(())
    }

    /// OVERLAY_IOC_STATUS (§5.8).
    fn i_status(&self, kbuf: &mut [u8]) -> Result<(), Errno> {
        let mut s = overlay_ioc_status_t::from_bytes(kbuf).ok_or(Errno::EFAULT)?;
        let dev = self.dev_hold(s.ois_linkid).ok_or(Errno::ENOENT)?;
        let st = dev.st.lock();
        if st.flags & OVERLAY_F_DEGRADED != 0 {
            s.ois_status = OVERLAY_I_DEGRADED;
            set_cstr(&mut s.ois_message, cstr_bytes(&st.fm_msg));
        } else {
            s.ois_status = OVERLAY_I_OK;
            s.ois_message[0] = 0;
        }
        drop(st);
        s.write_to(kbuf);
        Ok(())
    }
}

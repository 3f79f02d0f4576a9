//! The `direct` search plugin (`lib/varpd/direct`): point to point.
//!
//! # Theory of operation
//!
//! A POINT plugin: every frame of the overlay goes to one underlay
//! destination, set with the properties `direct/dest_ip` (an IP, as a
//! 16-byte `in6_addr`, IPv4 as v4-mapped) and, when the encapsulation needs
//! a port, `direct/dest_port` (a UINT, 8 bytes, 1–65535). At activation
//! varpd calls [`default`](SearchInstance::default) and hands the point to
//! the kernel with `OVERLAY_TARG_ASSOCIATE`; the kernel never asks again, so
//! this plugin has no lookup, ARP or DHCP entry point.
//!
//! Saved state (`vpo_save`) is `{"direct/dest_ip": "<IPv6 text>",
//! "direct/dest_port": <u16>}`, each key present only if set, as the
//! original's nvlist.
//!
//! Fixes (`spec/userland.md` §12): start requires the port when the
//! destination includes `D_PORT` (#6; the original tested `D_IP`, which for
//! vxlan has the same effect); restore keeps the destination type (#7);
//! properties cannot change once started (#5: the kernel's point and the
//! persisted state would no longer match), `EBUSY`. Also stricter: the
//! destination must include `D_IP` (the original asserted it), and
//! `dest_ip` rejects the unspecified and multicast addresses the kernel
//! would refuse at association anyway.

use std::net::Ipv6Addr;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::errno::Errno;
use crate::ksys::TargetPoint;
use crate::plugin::{
    in6_is_addr_6to4, in6_is_addr_v4compat, prop_get_ip, prop_get_uint, prop_set_ip, prop_set_port,
    saved_ip, saved_uint, Dest, LookupAction, PluginRegistration, PropHandle, PropType,
    ProviderHandle, SearchInstance, SearchPlugin, TargetMode, OVERLAY_PLUGIN_D_IP,
    OVERLAY_PLUGIN_D_PORT, OVERLAY_PROP_PERM_RRW,
};

/// `vpr_name`.
pub const DIRECT_NAME: &str = "direct";
/// Property 0.
pub const DIRECT_DEST_IP: &str = "direct/dest_ip";
/// Property 1 (only when the destination includes a port).
pub const DIRECT_DEST_PORT: &str = "direct/dest_port";

/// The registration: name `direct`, mode POINT.
pub fn registration() -> PluginRegistration {
    PluginRegistration::new(DIRECT_NAME, TargetMode::Point, Arc::new(DirectPlugin))
}

/// The plugin (`varpd_direct_ops`'s create and restore).
#[derive(Debug, Default)]
pub struct DirectPlugin;

/// `varpd_direct_valid_dest`, stricter: IP required, port optional,
/// nothing else.
fn valid_dest(dest: Dest) -> bool {
    dest & OVERLAY_PLUGIN_D_IP != 0 && dest & !(OVERLAY_PLUGIN_D_IP | OVERLAY_PLUGIN_D_PORT) == 0
}

/// What `direct/dest_ip` accepts. EINVAL for IPv4-compatible (`::a.b.c.d`)
/// and 6to4 (`2002::/16`) as in illumos, and for what the kernel would
/// refuse at association: unspecified (`::`, `::ffff:0.0.0.0`), multicast.
pub fn check_dest_ip(ip: &Ipv6Addr) -> Result<(), Errno> {
    let v4compat = in6_is_addr_v4compat(ip);
    let sixtofour = in6_is_addr_6to4(ip);
    let unspec = ip.is_unspecified() || ip.to_ipv4_mapped().is_some_and(|v| v.is_unspecified());
    let mcast = ip.is_multicast() || ip.to_ipv4_mapped().is_some_and(|v| v.is_multicast());
    if v4compat || sixtofour || unspec || mcast {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

impl SearchPlugin for DirectPlugin {
    fn create(&self, hdl: ProviderHandle, dest: Dest) -> Result<Box<dyn SearchInstance>, Errno> {
        if !valid_dest(dest) {
            return Err(Errno::ENOTSUP);
        }
        Ok(Box::new(Direct::new(hdl, dest, DirectState::default())))
    }

    fn restore(
        &self,
        saved: &serde_json::Value,
        hdl: ProviderHandle,
        dest: Dest,
    ) -> Result<Box<dyn SearchInstance>, Errno> {
        if !valid_dest(dest) {
            return Err(Errno::ENOTSUP);
        }
        let obj = saved.as_object().ok_or(Errno::EINVAL)?;
        // In range, so the cast keeps the value.
        let port = saved_uint(obj, DIRECT_DEST_PORT, 1, u64::from(u16::MAX))?.map(|p| p as u16);
        let ip = saved_ip(obj, DIRECT_DEST_IP)?;
        if let Some(ip) = &ip {
            check_dest_ip(ip)?;
        }
        let st = DirectState {
            ip,
            port,
            started: false,
        };
        // §12 #7: the destination type is kept (the original left it unset).
        Ok(Box::new(Direct::new(hdl, dest, st)))
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct DirectState {
    ip: Option<Ipv6Addr>,
    port: Option<u16>,
    started: bool,
}

/// One `direct` instance (`varpd_direct_t`).
pub struct Direct {
    dest: Dest,
    _hdl: ProviderHandle,
    state: Mutex<DirectState>,
}

impl Direct {
    fn new(hdl: ProviderHandle, dest: Dest, st: DirectState) -> Direct {
        Direct {
            dest,
            _hdl: hdl,
            state: Mutex::new(st),
        }
    }

    fn state(&self) -> MutexGuard<'_, DirectState> {
        // A panic while holding this lock leaves plain data: keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn has_port(&self) -> bool {
        self.dest & OVERLAY_PLUGIN_D_PORT != 0
    }
}

impl SearchInstance for Direct {
    fn start(&self) -> Result<(), Errno> {
        let mut st = self.state();
        // §12 #6: the port is required when the destination has one.
        if st.ip.is_none() || (self.has_port() && st.port.is_none()) {
            return Err(Errno::EAGAIN);
        }
        st.started = true;
        Ok(())
    }

    fn stop(&self) {
        self.state().started = false;
    }

    fn default(&self) -> LookupAction {
        let st = self.state();
        match st.ip {
            Some(ip) => LookupAction::Ok(TargetPoint {
                mac: [0; 6],
                ip,
                port: st.port.unwrap_or(0),
            }),
            None => LookupAction::Drop,
        }
    }

    fn nprops(&self) -> Result<u32, Errno> {
        Ok(if self.has_port() { 2 } else { 1 })
    }

    fn propinfo(&self, propid: u32, ph: &mut PropHandle) -> Result<(), Errno> {
        match propid {
            0 => {
                ph.set_name(DIRECT_DEST_IP);
                ph.set_prot(OVERLAY_PROP_PERM_RRW);
                ph.set_type(PropType::Ip);
                ph.set_nodefault();
            }
            1 if self.has_port() => {
                ph.set_name(DIRECT_DEST_PORT);
                ph.set_prot(OVERLAY_PROP_PERM_RRW);
                ph.set_type(PropType::Uint);
                ph.set_nodefault();
                ph.set_range_uint32(1, u32::from(u16::MAX));
            }
            _ => return Err(Errno::EINVAL),
        }
        Ok(())
    }

    fn getprop(&self, name: &str, buf: &mut [u8]) -> Result<usize, Errno> {
        let st = self.state();
        match name {
            DIRECT_DEST_IP => prop_get_ip(buf, st.ip),
            DIRECT_DEST_PORT if self.has_port() => prop_get_uint(buf, st.port.map(u64::from)),
            _ => Err(Errno::EINVAL),
        }
    }

    fn setprop(&self, name: &str, val: &[u8]) -> Result<(), Errno> {
        let mut st = self.state();
        let known = name == DIRECT_DEST_IP || (name == DIRECT_DEST_PORT && self.has_port());
        if !known {
            return Err(Errno::EINVAL);
        }
        // §12 #5: the kernel already has the point; refuse to diverge.
        if st.started {
            return Err(Errno::EBUSY);
        }
        if name == DIRECT_DEST_IP {
            let ip = prop_set_ip(val)?;
            check_dest_ip(&ip)?;
            st.ip = Some(ip);
        } else {
            st.port = Some(prop_set_port(val)?);
        }
        Ok(())
    }

    fn save(&self) -> Result<serde_json::Value, Errno> {
        let st = self.state();
        let mut m = serde_json::Map::new();
        if let Some(p) = st.port {
            m.insert(DIRECT_DEST_PORT.into(), p.into());
        }
        if let Some(ip) = st.ip {
            m.insert(DIRECT_DEST_IP.into(), ip.to_string().into());
        }
        Ok(serde_json::Value::Object(m))
    }
}

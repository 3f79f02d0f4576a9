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
    Dest, LookupAction, PluginRegistration, PropHandle, PropType, ProviderHandle, SearchInstance,
    SearchPlugin, TargetMode, OVERLAY_PLUGIN_D_IP, OVERLAY_PLUGIN_D_PORT, OVERLAY_PROP_PERM_RRW,
};

/// `vpr_name`.
pub const DIRECT_NAME: &str = "direct";
/// Property 0.
pub const DIRECT_DEST_IP: &str = "direct/dest_ip";
/// Property 1 (only when the destination includes a port).
pub const DIRECT_DEST_PORT: &str = "direct/dest_port";

/// `sizeof (struct in6_addr)`.
const IP_SIZE: usize = 16;
/// `sizeof (uint64_t)`.
const UINT_SIZE: usize = 8;

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
    let o = ip.octets();
    let v4compat = o[..12] == [0; 12] && u32::from_be_bytes([o[12], o[13], o[14], o[15]]) > 1;
    let sixtofour = o[0] == 0x20 && o[1] == 0x02;
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
        let mut st = DirectState::default();
        if let Some(v) = obj.get(DIRECT_DEST_PORT) {
            let p = v
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p != 0)
                .ok_or(Errno::EINVAL)?;
            st.port = Some(p);
        }
        if let Some(v) = obj.get(DIRECT_DEST_IP) {
            let ip: Ipv6Addr = v
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or(Errno::EINVAL)?;
            check_dest_ip(&ip)?;
            st.ip = Some(ip);
        }
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
            DIRECT_DEST_IP => {
                if buf.len() < IP_SIZE {
                    return Err(Errno::EOVERFLOW);
                }
                Ok(match st.ip {
                    Some(ip) => {
                        buf[..IP_SIZE].copy_from_slice(&ip.octets());
                        IP_SIZE
                    }
                    None => 0,
                })
            }
            DIRECT_DEST_PORT if self.has_port() => {
                if buf.len() < UINT_SIZE {
                    return Err(Errno::EOVERFLOW);
                }
                Ok(match st.port {
                    Some(p) => {
                        buf[..UINT_SIZE].copy_from_slice(&u64::from(p).to_ne_bytes());
                        UINT_SIZE
                    }
                    None => 0,
                })
            }
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
            let b: [u8; IP_SIZE] = val
                .get(..IP_SIZE)
                .and_then(|b| b.try_into().ok())
                .ok_or(Errno::EOVERFLOW)?;
            let ip = Ipv6Addr::from(b);
            check_dest_ip(&ip)?;
            st.ip = Some(ip);
        } else {
            let b: [u8; UINT_SIZE] = val
                .get(..UINT_SIZE)
                .and_then(|b| b.try_into().ok())
                .ok_or(Errno::EOVERFLOW)?;
            let v = u64::from_ne_bytes(b);
            let p = u16::try_from(v)
                .ok()
                .filter(|p| *p != 0)
                .ok_or(Errno::EINVAL)?;
            st.port = Some(p);
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

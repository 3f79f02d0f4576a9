//! Head-end replication (an extension; illumos has none): a device's flood
//! list of remote VTEPs, and sending one copy of a broadcast, multicast or
//! unknown-unicast frame to each (RFC 7348 §4.2's alternative to an
//! underlay multicast group, as Linux VTEPs do with all-zero FDB entries).
//!
//! The list is set by varpd with `OVERLAY_TARG_FLOOD_SET` (a command number
//! outside illumos' range; see docs/head-end-replication.md) and lives on
//! the device, so it can be set before the target is associated (varpd
//! starts a plugin before ASSOCIATE) and survives a re-association. An
//! empty list — the default — is illumos' behaviour exactly.
//!
//! With a list, on a DYNAMIC target:
//! * a frame to a group MAC (broadcast or multicast) is not looked up: it is
//!   replicated to every listed destination at once;
//! * a frame to a unicast MAC is looked up as always; when varpd answers
//!   DROP (the search plugin does not know the MAC), the frame is
//!   replicated instead of discarded. A cache entry varpd marked DROP
//!   (CACHE_SET with the DROP flag) still drops.
//!
//! Bounds: at most [`OVERLAY_TARG_FLOOD_MAX`] destinations; each copy is one
//! allocation (`MsgBlk::dup`), the last destination takes the original.
//! Counted per device: `tx_flood_frames` (frames replicated),
//! `tx_flood_copies` (datagrams sent), `tx_flood_drops` (copies lost to an
//! allocation, encapsulation or send failure). The list is an `Arc` read
//! under the device's flood lock only for group frames and DROP answers,
//! so unicast traffic to known destinations pays one byte test.
//!
//! This module sits below the device: the device's transmit path
//! (`crate::dev`) decides when to replicate and hands `flood_send` what
//! it needs (platform, socket, plugin instance, counters).

use crate::errno::Errno;
use crate::msgblk::MsgBlk;
use crate::platform::{Platform, SockaddrIn6, UserIo};
use crate::plugin::{EncapInfo, EncapInstance};
use crate::stats::{add, inc, DevStats};
use crate::Overlay;
use alloc::sync::Arc;
use alloc::vec::Vec;
use overlay_sys::*;

/// A device's flood list.
pub(crate) type FloodList = Option<Arc<[SockaddrIn6]>>;

/// Whether the Ethernet frame starting with `f` is addressed to a group
/// (broadcast or multicast) MAC.
#[inline]
pub(crate) fn is_group_frame(f: &[u8]) -> bool {
    f.first().is_some_and(|b| b & 1 != 0)
}

/// Send one copy of `m` (an inner frame) to each of `list` on the
/// underlay socket `sock`, encapsulated by `inst` with `info`, counting in
/// the device's `stats`. The caller (the device's transmit path) has the
/// transmit in flight, which keeps `sock` open.
pub(crate) fn flood_send<P: Platform>(
    platform: &P,
    sock: &P::Socket,
    inst: &dyn EncapInstance,
    stats: &DevStats,
    info: &EncapInfo,
    m: MsgBlk,
    list: &[SockaddrIn6],
) {
    inc(&stats.tx_flood_frames);
    let len = m.len() as u64;
    let mut orig = Some(m);
    for (i, dst) in list.iter().enumerate() {
        let copy = if i + 1 == list.len() {
            orig.take()
        } else {
            orig.as_ref().and_then(|o| o.dup(crate::FRAME_HEADROOM))
        };
        let Some(mut c) = copy else {
            inc(&stats.tx_flood_drops);
            continue;
        };
        let Ok(hdr) = inst.encap_tx(&mut c, info) else {
            inc(&stats.tx_flood_drops);
            continue;
        };
        if platform.socket_send(sock, dst, c, hdr).is_err() {
            inc(&stats.tx_flood_drops);
            continue;
        }
        inc(&stats.tx_flood_copies);
        add(&stats.tx_bytes, len);
    }
}

impl<P: Platform> Overlay<P> {
    /// `OVERLAY_TARG_FLOOD_SET` (extension): header, then the points.
    pub(crate) fn targ_flood_set(&self, uio: &mut dyn UserIo) -> Result<(), Errno> {
        let mut hb = [0u8; 8];
        uio.copyin_arg(0, &mut hb)?;
        let h = overlay_targ_flood_t::from_bytes(&hb).ok_or(Errno::EFAULT)?;
        if h.otf_count > OVERLAY_TARG_FLOOD_MAX {
            return Err(Errno::EINVAL);
        }
        let dev = self.dev_hold(h.otf_linkid).ok_or(Errno::ENOENT)?;
        if dev.plugin.0.dest != OVERLAY_PLUGIN_D_IP | OVERLAY_PLUGIN_D_PORT {
            return Err(Errno::ENOTSUP);
        }
        let mut list: Vec<SockaddrIn6> = Vec::new();
        list.try_reserve_exact(h.otf_count as usize)
            .map_err(|_| Errno::ENOMEM)?;
        let mut pb = [0u8; 28];
        for i in 0..h.otf_count as usize {
            uio.copyin_arg(8 + 28 * i, &mut pb)?;
            let p = overlay_target_point_t::from_bytes(&pb).ok_or(Errno::EFAULT)?;
            let ip = p.otp_ip;
            if ip.is_unspecified()
                || ip.is_v4compat()
                || ip.is_multicast()
                || ip.is_v4mapped_multicast()
                || ip.is_v4mapped_any()
                || p.otp_port == 0
            {
                return Err(Errno::EINVAL);
            }
            let sa = SockaddrIn6::new(ip, p.otp_port);
            if list.contains(&sa) {
                return Err(Errno::EINVAL);
            }
            list.push(sa);
        }
        *dev.flood.lock() = if list.is_empty() {
            None
        } else {
            Some(Arc::from(list))
        };
        Ok(())
    }
}

//! The VXLAN encapsulation plugin (`overlay_vxlan.c`, RFC 7348).
//!
//! Header (8 bytes, network order): byte 0 = 0x08 (the I flag), bytes 1–3
//! reserved, bytes 4–6 the 24-bit VNI, byte 7 reserved. Encap writes exactly
//! that (reserved bits zero, E1–E3). Decap is lenient as the RFC asks (D3):
//! only the I flag is checked (D4: I = 0 is `EINVAL`, which the mux counts
//! as a drop); reserved bits and bytes are ignored. The header must lie in
//! the first block of the message.
//!
//! Properties: `vxlan/listen_ip` (IP, required, no default) and
//! `vxlan/listen_port` (UINT, required, default 4789 advertised as 2 bytes,
//! range 1–65535, read back as 8 bytes). The mux socket is AF_INET6/UDP
//! bound to `[listen_ip]:listen_port`; with the `vxlan_fanout` tunable on
//! (default), the socket gets `UDP_SRCPORT_HASH = UDP_HASH_VXLAN`.
//!
//! Extensions (illumos has none of these; see docs/overlay.md):
//! `vxlan/ecn` (STRING `normal` | `off`, default `normal`): RFC 6040 on
//! both sides ([`crate::ecn`]); `off` is illumos' behaviour (outer ECN
//! Not-ECT, the outer header ignored on receive). `vxlan/dscp` (STRING
//! `0`–`63` | `inherit`, default `0`, possible values advertised as `0-63`
//! and `inherit`): the outer DSCP. `vxlan/ttl` (UINT
//! 0–255, default 0 = the underlay stack's default hop limit). The three
//! live in one atomic word so the data path reads them without a lock.

use crate::ecn::{encap_tos, DscpMode};
use crate::errno::Errno;
use crate::kmutex::KMutex;
use crate::msgblk::MsgBlk;
use crate::platform::TxHdr;
use crate::platform::{SockaddrIn6, SocketParams};
use crate::plugin::{
    overlay_plugin_alloc, EncapInfo, EncapInstance, EncapPlugin, OverlayPluginRegister,
    SockoptSetter,
};
use crate::prop::PropHandle;
use alloc::boxed::Box;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use overlay_sys::*;

/// The plugin's name.
pub const VXLAN_NAME: &str = "vxlan";
pub const VXLAN_PROP_LISTEN_IP: &str = "vxlan/listen_ip";
pub const VXLAN_PROP_LISTEN_PORT: &str = "vxlan/listen_port";
pub const VXLAN_PROP_ECN: &str = "vxlan/ecn";
pub const VXLAN_PROP_DSCP: &str = "vxlan/dscp";
pub const VXLAN_PROP_TTL: &str = "vxlan/ttl";
static VXLAN_PROPS: [&str; 5] = [
    VXLAN_PROP_LISTEN_IP,
    VXLAN_PROP_LISTEN_PORT,
    VXLAN_PROP_ECN,
    VXLAN_PROP_DSCP,
    VXLAN_PROP_TTL,
];

/// `vxlan/ecn` values.
const ECN_NORMAL: &str = "normal";
const ECN_OFF: &str = "off";
/// `vxlan/dscp`'s word for "copy the inner DSCP".
const DSCP_INHERIT: &str = "inherit";
/// `vxlan/dscp`'s numeric values, advertised as a possible value.
const DSCP_RANGE: &str = "0-63";

/// The transmit/receive header settings packed in one word: bits 0–7 the
/// TTL, 8–15 the DSCP (`TXW_INHERIT` = inherit), bit 16 ECN on.
const TXW_INHERIT: u32 = 0xff;
const TXW_ECN: u32 = 1 << 16;
const TXW_DEFAULT: u32 = TXW_ECN;

/// The outer header for the inner frame starting with `f` under settings
/// word `w`: with ECN off and a fixed DSCP (illumos' behaviour, and any
/// fixed marking) the TOS comes from the word alone and the inner headers
/// are not read.
#[inline]
fn txw_hdr(w: u32, f: &[u8]) -> TxHdr {
    let d = (w >> 8) & 0xff;
    let ecn = w & TXW_ECN != 0;
    let tos = if !ecn && d != TXW_INHERIT {
        ((d & 0x3f) << 2) as u8
    } else {
        encap_tos(f, txw_dscp(w), ecn)
    };
    TxHdr { tos, ttl: w as u8 }
}

#[inline]
fn txw_dscp(w: u32) -> DscpMode {
    match (w >> 8) & 0xff {
        TXW_INHERIT => DscpMode::Inherit,
        d => DscpMode::Fixed(d as u8),
    }
}

/// A STRING property value without its NUL terminator(s).
fn prop_str(val: &[u8]) -> Option<&str> {
    let end = val.iter().position(|&b| b == 0).unwrap_or(val.len());
    if val[end..].iter().any(|&b| b != 0) {
        return None;
    }
    core::str::from_utf8(&val[..end]).ok()
}

/// Writes `s` and a NUL into `buf`; the size reported excludes the NUL,
/// as for `encap`.
fn put_str(buf: &mut [u8], s: &str) -> Result<usize, Errno> {
    let b = s.as_bytes();
    if buf.len() <= b.len() {
        return Err(Errno::EOVERFLOW);
    }
    buf[..b.len()].copy_from_slice(b);
    buf[b.len()] = 0;
    Ok(b.len())
}

/// Tunable `vxlan_fanout`: set `UDP_SRCPORT_HASH` on new mux sockets.
pub static VXLAN_FANOUT: AtomicBool = AtomicBool::new(true);

/// The VXLAN plugin (stateless; instances hold the properties).
pub struct Vxlan;

/// The registration the driver makes at load (`vxlan`'s `_init`).
pub fn vxlan_registration() -> OverlayPluginRegister {
    // overlay_plugin_alloc(OVEP_VERSION) cannot fail: the version is ours.
    let mut r = overlay_plugin_alloc(OVEP_VERSION).expect("OVEP_VERSION is supported");
    r.ovep_name = Some(VXLAN_NAME);
    r.ovep_ops = Some(Arc::new(Vxlan));
    r.ovep_props = &VXLAN_PROPS;
    r.ovep_id_size = VXLAN_ID_LEN;
    r.ovep_flags = OVEP_F_VLAN_TAG;
    r.ovep_dest = OVERLAY_PLUGIN_D_IP | OVERLAY_PLUGIN_D_PORT;
    r
}

/// Write the 8-byte header for `vni` into `h` (E1–E3: I flag, zero reserved).
pub fn vxlan_hdr(vni: u32, h: &mut [u8]) {
    h[..4].copy_from_slice(&VXLAN_MAGIC.to_be_bytes());
    h[4..8].copy_from_slice(&(vni << VXLAN_ID_SHIFT).to_be_bytes());
}

/// Parse a header: `Some(vni)` if at least 8 bytes with the I flag set.
pub fn vxlan_parse(b: &[u8]) -> Option<u32> {
    if b.len() < VXLAN_HDR_LEN {
        return None;
    }
    let w0 = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    if w0 & VXLAN_F_VDI == 0 {
        return None;
    }
    Some(u32::from_be_bytes([b[4], b[5], b[6], b[7]]) >> VXLAN_ID_SHIFT)
}

impl EncapPlugin for Vxlan {
    fn init(&self) -> Result<Box<dyn EncapInstance>, Errno> {
        Ok(Box::new(VxlanInst {
            st: KMutex::new(VxlanState {
                port: IPPORT_VXLAN,
                ip_set: false,
                ip: in6_addr::UNSPECIFIED,
            }),
            txw: AtomicU32::new(TXW_DEFAULT),
        }))
    }

    fn decap(&self, msg: &MsgBlk) -> Result<EncapInfo, Errno> {
        let vni = vxlan_parse(msg.first()).ok_or(Errno::EINVAL)?;
        Ok(EncapInfo {
            id: vni as u64,
            hdr_size: VXLAN_HDR_LEN,
        })
    }

    fn propinfo(&self, name: &str, ph: &mut PropHandle<'_>) -> Result<(), Errno> {
        match name {
            VXLAN_PROP_LISTEN_IP => {
                ph.set_name(name);
                ph.set_prot(OVERLAY_PROP_PERM_RRW);
                ph.set_type(OVERLAY_PROP_T_IP);
                ph.set_nodefault();
            }
            VXLAN_PROP_LISTEN_PORT => {
                ph.set_name(name);
                ph.set_prot(OVERLAY_PROP_PERM_RRW);
                ph.set_type(OVERLAY_PROP_T_UINT);
                // §16 #20: the default is advertised as a 2-byte uint16.
                ph.set_default(&IPPORT_VXLAN.to_ne_bytes())?;
                ph.set_range_uint32(1, u16::MAX as u32);
            }
            VXLAN_PROP_ECN => {
                ph.set_name(name);
                ph.set_prot(OVERLAY_PROP_PERM_RW);
                ph.set_type(OVERLAY_PROP_T_STRING);
                ph.set_default(ECN_NORMAL.as_bytes())?;
                ph.set_range_str(ECN_NORMAL);
                ph.set_range_str(ECN_OFF);
            }
            VXLAN_PROP_DSCP => {
                ph.set_name(name);
                ph.set_prot(OVERLAY_PROP_PERM_RW);
                ph.set_type(OVERLAY_PROP_T_STRING);
                ph.set_default(b"0")?;
                // The possible values as dladm shows and checks them: the
                // decimal range, then the word.
                ph.set_range_str(DSCP_RANGE);
                ph.set_range_str(DSCP_INHERIT);
            }
            VXLAN_PROP_TTL => {
                ph.set_name(name);
                ph.set_prot(OVERLAY_PROP_PERM_RW);
                ph.set_type(OVERLAY_PROP_T_UINT);
                ph.set_default(&0u64.to_ne_bytes())?;
                ph.set_range_uint32(0, 255);
            }
            _ => return Err(Errno::EINVAL),
        }
        Ok(())
    }
}

struct VxlanState {
    port: u16,
    ip_set: bool,
    ip: in6_addr,
}

/// One device's VXLAN state.
pub struct VxlanInst {
    st: KMutex<VxlanState>,
    /// `vxlan/ecn`, `vxlan/dscp`, `vxlan/ttl`; see `TXW_*`.
    txw: AtomicU32,
}

impl VxlanInst {
    /// Replace one field of the settings word.
    fn txw_update(&self, f: impl Fn(u32) -> u32) {
        let _ = self
            .txw
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| Some(f(w)));
    }
}

impl EncapInstance for VxlanInst {
    #[inline]
    fn encap(&self, msg: &mut MsgBlk, info: &EncapInfo) -> Result<(), Errno> {
        let h = msg
            .prepend(VXLAN_HDR_LEN, VXLAN_NOALLOC_MIN, VXLAN_ALLOC_SIZE)
            .ok_or(Errno::ENOMEM)?;
        vxlan_hdr(info.id as u32, h);
        Ok(())
    }

    fn tx_hdr(&self, msg: &MsgBlk) -> TxHdr {
        txw_hdr(self.txw.load(Ordering::Relaxed), msg.first())
    }

    fn encap_tx(&self, msg: &mut MsgBlk, info: &EncapInfo) -> Result<TxHdr, Errno> {
        let hdr = txw_hdr(self.txw.load(Ordering::Relaxed), msg.first());
        self.encap(msg, info)?;
        Ok(hdr)
    }

    fn ecn_decap(&self) -> bool {
        self.txw.load(Ordering::Relaxed) & TXW_ECN != 0
    }

    fn socket(&self) -> Result<SocketParams, Errno> {
        let st = self.st.lock();
        if !st.ip_set {
            return Err(Errno::EINVAL);
        }
        Ok(SocketParams {
            domain: AF_INET6,
            stype: SOCK_DGRAM,
            protocol: 0,
            addr: SockaddrIn6::new(st.ip, st.port),
        })
    }

    fn sockopt(&self, set: &mut SockoptSetter<'_>) -> Result<(), Errno> {
        if !VXLAN_FANOUT.load(Ordering::Relaxed) {
            return Ok(());
        }
        set(IPPROTO_UDP, UDP_SRCPORT_HASH, &UDP_HASH_VXLAN.to_ne_bytes())
    }

    fn getprop(&self, name: &str, buf: &mut [u8]) -> Result<usize, Errno> {
        let st = self.st.lock();
        match name {
            VXLAN_PROP_LISTEN_IP => {
                if buf.len() < 16 {
                    return Err(Errno::EOVERFLOW);
                }
                if !st.ip_set {
                    return Ok(0);
                }
                buf[..16].copy_from_slice(&st.ip.s6_addr);
                Ok(16)
            }
            VXLAN_PROP_LISTEN_PORT => {
                if buf.len() < 8 {
                    return Err(Errno::EOVERFLOW);
                }
                buf[..8].copy_from_slice(&(st.port as u64).to_ne_bytes());
                Ok(8)
            }
            VXLAN_PROP_ECN => {
                let on = self.txw.load(Ordering::Relaxed) & TXW_ECN != 0;
                put_str(buf, if on { ECN_NORMAL } else { ECN_OFF })
            }
            VXLAN_PROP_DSCP => {
                let mut t = [0u8; 3];
                let s = match txw_dscp(self.txw.load(Ordering::Relaxed)) {
                    DscpMode::Inherit => DSCP_INHERIT,
                    DscpMode::Fixed(d) => fmt_u8(d, &mut t),
                };
                put_str(buf, s)
            }
            VXLAN_PROP_TTL => {
                if buf.len() < 8 {
                    return Err(Errno::EOVERFLOW);
                }
                let ttl = u64::from(self.txw.load(Ordering::Relaxed) as u8);
                buf[..8].copy_from_slice(&ttl.to_ne_bytes());
                Ok(8)
            }
            _ => Err(Errno::EINVAL),
        }
    }

    fn setprop(&self, name: &str, val: &[u8]) -> Result<(), Errno> {
        match name {
            VXLAN_PROP_LISTEN_IP => {
                if val.len() != 16 {
                    return Err(Errno::EINVAL);
                }
                let mut b = [0u8; 16];
                b.copy_from_slice(val);
                let ip = in6_addr::new(b);
                if ip.is_v4compat()
                    || ip.is_multicast()
                    || ip.is_6to4()
                    || ip.is_v4mapped_multicast()
                {
                    return Err(Errno::EINVAL);
                }
                let mut st = self.st.lock();
                st.ip = ip;
                st.ip_set = true;
                Ok(())
            }
            VXLAN_PROP_LISTEN_PORT => {
                if val.len() != 8 {
                    return Err(Errno::EINVAL);
                }
                let mut w = [0u8; 8];
                w.copy_from_slice(val);
                let v = u64::from_ne_bytes(w);
                if v == 0 || v > u16::MAX as u64 {
                    return Err(Errno::EINVAL);
                }
                self.st.lock().port = v as u16;
                Ok(())
            }
            VXLAN_PROP_ECN => {
                let on = match prop_str(val) {
                    Some(ECN_NORMAL) => true,
                    Some(ECN_OFF) => false,
                    _ => return Err(Errno::EINVAL),
                };
                self.txw_update(|w| if on { w | TXW_ECN } else { w & !TXW_ECN });
                Ok(())
            }
            VXLAN_PROP_DSCP => {
                let d = match prop_str(val) {
                    Some(DSCP_INHERIT) => TXW_INHERIT,
                    Some(s)
                        if !s.is_empty()
                            && s.len() <= 2
                            && s.bytes().all(|b| b.is_ascii_digit()) =>
                    {
                        let d = s.bytes().fold(0u32, |a, b| a * 10 + u32::from(b - b'0'));
                        if d > 63 {
                            return Err(Errno::EINVAL);
                        }
                        d
                    }
                    _ => return Err(Errno::EINVAL),
                };
                self.txw_update(|w| (w & !0xff00) | (d << 8));
                Ok(())
            }
            VXLAN_PROP_TTL => {
                let w8: [u8; 8] = val.try_into().map_err(|_| Errno::EINVAL)?;
                let v = u64::from_ne_bytes(w8);
                if v > 255 {
                    return Err(Errno::EINVAL);
                }
                self.txw_update(|w| (w & !0xff) | v as u32);
                Ok(())
            }
            _ => Err(Errno::EINVAL),
        }
    }
}

/// `d` in decimal, in `t`.
fn fmt_u8(d: u8, t: &mut [u8; 3]) -> &str {
    let mut n = 0;
    if d >= 100 {
        t[n] = b'0' + d / 100;
        n += 1;
    }
    if d >= 10 {
        t[n] = b'0' + (d / 10) % 10;
        n += 1;
    }
    t[n] = b'0' + d % 10;
    n += 1;
    // Only ASCII digits were written.
    core::str::from_utf8(&t[..n]).unwrap_or("0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn header_bytes() {
        let mut h = [0xffu8; 8];
        vxlan_hdr(0x123456, &mut h);
        assert_eq!(h, [0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0]);
        assert_eq!(vxlan_parse(&h), Some(0x123456));
        assert_eq!(vxlan_parse(&h[..7]), None);
        h[0] = 0xf7;
        assert_eq!(vxlan_parse(&h), None);
    }

    #[test]
    fn getprop_small_buffers_overflow() {
        let i = Vxlan.init().unwrap();
        let mut b = [0u8; 15];
        assert_eq!(
            i.getprop(VXLAN_PROP_LISTEN_IP, &mut b),
            Err(Errno::EOVERFLOW)
        );
        assert_eq!(
            i.getprop(VXLAN_PROP_LISTEN_PORT, &mut b[..7]),
            Err(Errno::EOVERFLOW)
        );
        assert_eq!(i.getprop("vxlan/x", &mut [0u8; 256]), Err(Errno::EINVAL));
        assert_eq!(i.setprop("vxlan/x", &[0; 8]), Err(Errno::EINVAL));
    }

    #[test]
    fn propinfo_unknown_is_einval() {
        let mut pi = overlay_ioc_propinfo_t::default();
        let mut ph = PropHandle::new(&mut pi);
        assert_eq!(Vxlan.propinfo("vxlan/nope", &mut ph), Err(Errno::EINVAL));
    }

    #[test]
    fn encap_in_place_with_headroom() {
        let i = Vxlan.init().unwrap();
        let mut m = MsgBlk::copy_from(64, &[1, 2, 3]).unwrap();
        i.encap(&mut m, &EncapInfo { id: 5, hdr_size: 0 }).unwrap();
        assert_eq!(m.headroom(), 56, "prepended in place");
        let mut m = MsgBlk::copy_from(53, &[1, 2, 3]).unwrap();
        i.encap(&mut m, &EncapInfo { id: 5, hdr_size: 0 }).unwrap();
        assert_eq!(
            m.headroom(),
            VXLAN_ALLOC_SIZE - 8,
            "fresh 128-byte block below the minimum"
        );
        assert_eq!(m.to_vec(), [8, 0, 0, 0, 0, 0, 5, 0, 1, 2, 3]);
    }

    #[test]
    fn sockopt_follows_fanout_tunable() {
        let i = Vxlan.init().unwrap();
        let mut got: Vec<(i32, i32, Vec<u8>)> = Vec::new();
        i.sockopt(&mut |l, n, v| {
            got.push((l, n, v.to_vec()));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            got,
            [(IPPROTO_UDP, UDP_SRCPORT_HASH, 1i32.to_ne_bytes().to_vec())]
        );
        assert_eq!(
            i.sockopt(&mut |_, _, _| Err(Errno(overlay_sys::errno::ENOPROTOOPT))),
            Err(Errno(overlay_sys::errno::ENOPROTOOPT))
        );
    }
}

//! Setup shared by the `datapath` bench and the `pktloop` example: a driver
//! on the fake platform with N started devices on one mux, cache entries,
//! and frames to push through it — either freshly allocated, or from a
//! per-thread buffer pool as fkoverlayd makes them.

#![allow(dead_code)]

use overlay::sys::*;
use overlay::testing::FakePlatform;
use overlay::{BufUserIo, Cred, MsgBlk, MuxHandle, Overlay, SockaddrIn6};
use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub type Ovl = Arc<Overlay<FakePlatform>>;
pub const ROOT: Cred = Cred::ROOT;
pub const LISTEN: [u8; 4] = [10, 0, 0, 1];
pub const SRC: [u8; 6] = [2, 8, 0x20, 0, 0, 1];
pub const DST: [u8; 6] = [2, 8, 0x20, 0, 0, 2];

fn dld<T: Pod>(o: &Ovl, cmd: u32, a: &T) {
    let (e, _) = o.dld_ioctl(cmd, a.as_bytes(), &ROOT);
    assert_eq!(e, 0, "dld {cmd:#x}");
}

fn targ<T: Pod>(o: &Ovl, h: u32, cmd: u32, a: &T) {
    let mut u = BufUserIo::new(a.as_bytes());
    o.targ_ioctl(h, cmd, &mut u, &ROOT).unwrap();
}

pub fn pt(port: u16) -> overlay_target_point_t {
    overlay_target_point_t {
        otp_ip: in6_addr::v4mapped([10, 0, 0, 2]),
        otp_port: port,
        ..Default::default()
    }
}

/// A driver with `ndevs` started devices (vnetid = linkid) on one mux, all
/// in `mode`; sends and deliveries are counted, not recorded.
pub fn setup(ndevs: u32, mode: u32) -> (Ovl, u32) {
    let o = Overlay::new(FakePlatform::new());
    o.platform().discard_sends.store(true, Ordering::Relaxed);
    let h = o
        .targ_open(0, false, FREAD | FWRITE | FEXCL, &ROOT)
        .unwrap();
    for l in 1..=ndevs {
        let mut c = overlay_ioc_create_t {
            oic_linkid: l,
            oic_vnetid: l as u64,
            ..Default::default()
        };
        set_cstr(&mut c.oic_encap, b"vxlan");
        dld(&o, OVERLAY_IOC_CREATE, &c);
        let mut p = overlay_ioc_prop_t {
            oip_linkid: l,
            oip_id: 4,
            oip_size: 16,
            ..Default::default()
        };
        p.oip_value[..16].copy_from_slice(&in6_addr::v4mapped(LISTEN).s6_addr);
        dld(&o, OVERLAY_IOC_SETPROP, &p);
        let a = overlay_targ_associate_t {
            ota_linkid: l,
            ota_mode: mode,
            ota_id: 1,
            ota_provides: 6,
            ota_point: pt(4789),
        };
        targ(&o, h, OVERLAY_TARG_ASSOCIATE, &a);
        dld(
            &o,
            OVERLAY_IOC_ACTIVATE,
            &overlay_ioc_activate_t { oia_linkid: l },
        );
        o.dev_by_linkid(l).unwrap().m_start().unwrap();
    }
    (o, h)
}

pub fn mac_of(i: u32) -> [u8; 6] {
    let b = i.to_be_bytes();
    [2, 0, b[0], b[1], b[2], b[3]]
}

/// `n` valid cache entries on device 1, for `mac_of(0..n)`.
pub fn add_entries(o: &Ovl, h: u32, n: u32) {
    for i in 0..n {
        let c = overlay_targ_cache_t {
            otc_linkid: 1,
            otc_entry: overlay_targ_cache_entry_t {
                otce_mac: mac_of(i),
                otce_flags: 0,
                otce_dest: pt(4789),
            },
        };
        targ(o, h, OVERLAY_TARG_CACHE_SET, &c);
    }
}

/// A 98-byte IPv4-over-Ethernet frame to `dst`.
pub fn eth(dst: [u8; 6]) -> Vec<u8> {
    let mut f = vec![0u8; 98];
    f[0..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&SRC);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    f
}

/// A VXLAN datagram (UDP payload) for `vni` carrying `eth(DST)`.
pub fn vxlan(vni: u32) -> Vec<u8> {
    let mut p = vec![0x08, 0, 0, 0];
    p.extend_from_slice(&(vni << 8).to_be_bytes());
    p.extend_from_slice(&eth(DST));
    p
}

/// The mux the setup's devices joined.
pub fn mux_of(o: &Ovl) -> MuxHandle<FakePlatform> {
    o.platform()
        .mux_at(&SockaddrIn6::new(in6_addr::v4mapped(LISTEN), 4789))
        .unwrap()
}

/// `n` copies of `frame` with the standard headroom.
pub fn frames(frame: &[u8], n: usize) -> Vec<MsgBlk> {
    (0..n).map(|_| MsgBlk::with_headroom(frame)).collect()
}

/// Buffers the frame pool keeps (fkoverlayd's `bufpool::POOL_MAX`).
const POOL_MAX: usize = 512;
/// Capacity of a pooled buffer (fkoverlayd's standard size class).
const POOL_BUF: usize = 2048;

thread_local! {
    static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// The free routine of pooled frames: the buffer goes back to this
/// thread's pool (fkoverlayd's `bufpool::give`).
fn give(v: Vec<u8>) {
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < POOL_MAX {
            p.push(v);
        }
    });
}

/// Fill this thread's frame pool (fkoverlayd's `bufpool::prefill`).
pub fn pool_prefill(n: usize) {
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        p.reserve_exact(POOL_MAX);
        while p.len() < n.min(POOL_MAX) {
            p.push(Vec::with_capacity(POOL_BUF));
        }
    });
}

/// `frame` in a buffer from this thread's pool with
/// [`overlay::FRAME_HEADROOM`] in front, lent to the message with
/// `MsgBlk::esballoc` so freeing it returns the buffer: what fkoverlayd's
/// TAP reader and underlay receiver hand the driver. The copy of `frame`
/// stands for the `read(2)` that fills the buffer there.
#[inline]
pub fn pool_frame(frame: &[u8]) -> MsgBlk {
    let h = overlay::FRAME_HEADROOM;
    let mut v = POOL
        .with(|p| p.borrow_mut().pop())
        .unwrap_or_else(|| Vec::with_capacity(POOL_BUF));
    if v.len() < h {
        v.resize(h, 0);
    } else {
        v.truncate(h);
    }
    v.extend_from_slice(frame);
    MsgBlk::esballoc(v, h, give)
}

/// Make the setup's host count sends and deliveries per thread, with no
/// atomic per packet (`FakePlatform::local_counts`; read the counts after
/// `flush_counts`).
pub fn local_counts(o: &Ovl) {
    o.platform().local_counts.store(true, Ordering::Relaxed);
}

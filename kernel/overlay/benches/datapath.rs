//! Per-packet cost of the driver's data path, with allocation counts.
//!
//! Scenarios (each on the recording fake platform with sends/deliveries
//! discarded, so the figures are the driver's own work plus a trivial
//! host): transmit to a POINT target (encap + send), transmit with a
//! DYNAMIC cache hit, and receive (decap + mux demux + `mac_rx`), each with
//! 1 vs 100 000 cache entries and 1 vs 10 000 devices on one mux where the
//! dimension applies. A counting global allocator measures allocations per
//! packet over 10 000 packets whose frames were built beforehand.
//!
//! Run: `cargo bench -p overlay --bench datapath -- --warm-up-time 1 --measurement-time 2`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use overlay::sys::*;
use overlay::testing::FakePlatform;
use overlay::{BufUserIo, Cred, DevHandle, MsgBlk, MuxHandle, Overlay, SockaddrIn6};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

type Ovl = Arc<Overlay<FakePlatform>>;
const ROOT: Cred = Cred::ROOT;
const LISTEN: [u8; 4] = [10, 0, 0, 1];
const SRC: [u8; 6] = [2, 8, 0x20, 0, 0, 1];
const DST: [u8; 6] = [2, 8, 0x20, 0, 0, 2];

fn dld<T: Pod>(o: &Ovl, cmd: u32, a: &T) {
    let (e, _) = o.dld_ioctl(cmd, a.as_bytes(), &ROOT);
    assert_eq!(e, 0, "dld {cmd:#x}");
}

fn targ<T: Pod>(o: &Ovl, h: u32, cmd: u32, a: &T) {
    let mut u = BufUserIo::new(a.as_bytes());
    o.targ_ioctl(h, cmd, &mut u, &ROOT).unwrap();
}

fn pt(port: u16) -> overlay_target_point_t {
    overlay_target_point_t {
        otp_ip: in6_addr::v4mapped([10, 0, 0, 2]),
        otp_port: port,
        ..Default::default()
    }
}

/// A driver with `ndevs` started devices (vnetid = linkid) on one mux, all
/// in `mode`.
fn setup(ndevs: u32, mode: u32) -> (Ovl, u32) {
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

fn mac_of(i: u32) -> [u8; 6] {
    let b = i.to_be_bytes();
    [2, 0, b[0], b[1], b[2], b[3]]
}

fn add_entries(o: &Ovl, h: u32, n: u32) {
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

fn eth(dst: [u8; 6]) -> Vec<u8> {
    let mut f = vec![0u8; 98];
    f[0..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&SRC);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    f
}

/// Allocations per packet over 10 000 packets with prebuilt frames.
fn allocs_per_packet(frame: &[u8], mut f: impl FnMut(MsgBlk)) -> f64 {
    const N: usize = 10_000;
    let frames: Vec<MsgBlk> = (0..N).map(|_| MsgBlk::with_headroom(frame)).collect();
    let before = ALLOCS.load(Ordering::Relaxed);
    for m in frames {
        f(m);
    }
    (ALLOCS.load(Ordering::Relaxed) - before) as f64 / N as f64
}

fn bench_tx(c: &mut Criterion, name: &str, dev: DevHandle<FakePlatform>, frame: Vec<u8>) {
    let a = allocs_per_packet(&frame, |m| dev.m_tx(m.into()));
    eprintln!("ALLOCS {name}: {a:.3} allocations/packet");
    c.bench_function(name, |b| {
        b.iter_batched(
            || MsgBlk::with_headroom(&frame),
            |m| dev.m_tx(m.into()),
            BatchSize::SmallInput,
        )
    });
}

fn bench_rx(c: &mut Criterion, name: &str, mux: MuxHandle<FakePlatform>, pkt: Vec<u8>) {
    let a = allocs_per_packet(&pkt, |m| mux.recv(m));
    eprintln!("ALLOCS {name}: {a:.3} allocations/packet");
    c.bench_function(name, |b| {
        b.iter_batched(
            || MsgBlk::with_headroom(&pkt),
            |m| mux.recv(m),
            BatchSize::SmallInput,
        )
    });
}

fn vxlan(vni: u32) -> Vec<u8> {
    let mut p = vec![0x08, 0, 0, 0];
    p.extend_from_slice(&(vni << 8).to_be_bytes());
    p.extend_from_slice(&eth(DST));
    p
}

fn datapath(c: &mut Criterion) {
    // tx POINT, 1 and 10 000 devices on the mux.
    for n in [1u32, 10_000] {
        let (o, _h) = setup(n, OVERLAY_TARGET_POINT);
        let dev = o.dev_by_linkid(n).unwrap();
        bench_tx(c, &format!("tx_point/devs={n}"), dev, eth(DST));
        assert!(o.platform().nsent.load(Ordering::Relaxed) > 0);
    }
    // tx DYNAMIC cache hit, 1 and 100 000 entries (1 device), and
    // 10 000 devices (1 entry).
    for (n, e) in [(1u32, 1u32), (1, 100_000), (10_000, 1)] {
        let (o, h) = setup(n, OVERLAY_TARGET_DYNAMIC);
        add_entries(&o, h, e);
        let dev = o.dev_by_linkid(1).unwrap();
        let before = o.platform().nsent.load(Ordering::Relaxed);
        bench_tx(
            c,
            &format!("tx_dynamic_hit/devs={n}/entries={e}"),
            dev.clone(),
            eth(mac_of(e / 2)),
        );
        assert!(
            o.platform().nsent.load(Ordering::Relaxed) > before,
            "hits are sent"
        );
        assert_eq!(dev.stats().tx_queued, 0, "every frame was a hit");
    }
    // rx decap + demux, 1 and 10 000 devices on the mux; 100 000 cache
    // entries on the receiving device change nothing on this path.
    for (n, e) in [(1u32, 1u32), (10_000, 1), (1, 100_000)] {
        let (o, h) = setup(n, OVERLAY_TARGET_DYNAMIC);
        add_entries(&o, h, e);
        let mux = o
            .platform()
            .mux_at(&SockaddrIn6::new(in6_addr::v4mapped(LISTEN), 4789))
            .unwrap();
        bench_rx(
            c,
            &format!("rx/devs={n}/entries={e}"),
            mux.clone(),
            vxlan(n / 2 + 1),
        );
        assert_eq!(mux.stats().rx_ok, o.platform().nrx.load(Ordering::Relaxed));
        assert!(mux.stats().rx_ok > 0);
    }
}

criterion_group!(benches, datapath);
criterion_main!(benches);

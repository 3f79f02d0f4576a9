//! Per-packet cost of the driver's data path, with allocation counts.
//!
//! Scenarios (each on the fake platform in benchmark mode: sends and
//! deliveries are only counted, so the figures are the driver's own work
//! plus a trivial host): transmit to a POINT target (encap + send), transmit
//! with a DYNAMIC cache hit, and receive (decap + mux demux + `mac_rx`),
//! with 1 to 1 000 000 cache entries and 1 vs 10 000 devices on one mux
//! where the dimension applies.
//!
//! Each timed iteration builds one frame (`MsgBlk::with_headroom`: malloc,
//! 226-byte fill) and pushes it through the driver, which frees it at the
//! end (as a host's send completion would). `harness/frame` times exactly
//! that build-and-free alone, so driver cost = scenario − `harness/frame`.
//! (Prebuilding frames in batches costs more: freeing thousands of blocks
//! in a row misses malloc's per-thread cache.) A counting global allocator
//! reports allocations per packet over 10 000 prebuilt frames.
//!
//! Run: `cargo bench -p overlay --bench datapath -- --warm-up-time 1 --measurement-time 2`

mod common;

use common::*;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use overlay::sys::*;
use overlay::testing::FakePlatform;
use overlay::{DevHandle, MsgBlk, MuxHandle};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

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

/// Allocations per packet over 10 000 packets with prebuilt frames.
fn allocs_per_packet(frame: &[u8], mut f: impl FnMut(MsgBlk)) -> f64 {
    const N: usize = 10_000;
    let fr = frames(frame, N);
    let before = ALLOCS.load(Ordering::Relaxed);
    for m in fr {
        f(m);
    }
    (ALLOCS.load(Ordering::Relaxed) - before) as f64 / N as f64
}

fn bench_tx(c: &mut Criterion, name: &str, dev: &DevHandle<FakePlatform>, frame: &[u8]) {
    let a = allocs_per_packet(frame, |m| dev.m_tx(m.into()));
    eprintln!("ALLOCS {name}: {a:.3} allocations/packet");
    c.bench_function(name, |b| {
        b.iter(|| dev.m_tx(MsgBlk::with_headroom(black_box(frame)).into()))
    });
}

fn bench_rx(c: &mut Criterion, name: &str, mux: &MuxHandle<FakePlatform>, pkt: &[u8]) {
    let a = allocs_per_packet(pkt, |m| mux.recv(m));
    eprintln!("ALLOCS {name}: {a:.3} allocations/packet");
    c.bench_function(name, |b| {
        b.iter(|| mux.recv(MsgBlk::with_headroom(black_box(pkt))))
    });
}

fn datapath(c: &mut Criterion) {
    // The harness alone: build one frame and free it.
    let f = vxlan(1);
    c.bench_function("harness/frame", |b| {
        b.iter(|| drop(black_box(MsgBlk::with_headroom(black_box(&f)))))
    });
    // tx POINT, 1 and 10 000 devices on the mux.
    for n in [1u32, 10_000] {
        let (o, _h) = setup(n, OVERLAY_TARGET_POINT);
        let dev = o.dev_by_linkid(n).unwrap();
        bench_tx(c, &format!("tx_point/devs={n}"), &dev, &eth(DST));
        assert!(o.platform().nsent.load(Ordering::Relaxed) > 0);
    }
    // tx DYNAMIC cache hit: 1, 100 000 and 1 000 000 entries (1 device),
    // and 10 000 devices (1 entry).
    for (n, e) in [(1u32, 1u32), (1, 100_000), (1, 1_000_000), (10_000, 1)] {
        let (o, h) = setup(n, OVERLAY_TARGET_DYNAMIC);
        add_entries(&o, h, e);
        let dev = o.dev_by_linkid(1).unwrap();
        let before = o.platform().nsent.load(Ordering::Relaxed);
        bench_tx(
            c,
            &format!("tx_dynamic_hit/devs={n}/entries={e}"),
            &dev,
            &eth(mac_of(e / 2)),
        );
        assert!(
            o.platform().nsent.load(Ordering::Relaxed) > before,
            "hits are sent"
        );
        assert_eq!(dev.stats().tx_queued, 0, "every frame was a hit");
    }
    // rx decap + demux, 1 and 10 000 devices on the mux; cache entries on
    // the receiving device change nothing on this path.
    for (n, e) in [(1u32, 1u32), (10_000, 1), (1, 100_000)] {
        let (o, h) = setup(n, OVERLAY_TARGET_DYNAMIC);
        add_entries(&o, h, e);
        let mux = mux_of(&o);
        bench_rx(
            c,
            &format!("rx/devs={n}/entries={e}"),
            &mux,
            &vxlan(n / 2 + 1),
        );
        assert_eq!(mux.stats().rx_ok, o.platform().nrx.load(Ordering::Relaxed));
        assert!(mux.stats().rx_ok > 0);
    }
}

criterion_group!(benches, datapath);
criterion_main!(benches);

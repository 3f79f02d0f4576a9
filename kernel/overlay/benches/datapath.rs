//! Per-packet cost of the driver's data path, with allocation counts.
//!
//! Scenarios (each on the fake platform in benchmark mode: no recording,
//! so the figures are the driver's own work plus a trivial host): transmit
//! to a POINT target (encap + send), transmit with a DYNAMIC cache hit,
//! and receive (decap + mux demux + `mac_rx`), with 1 to 1 000 000 cache
//! entries and 1 vs 10 000 devices on one mux where the dimension applies.
//! Every timed iteration is one whole `mc_tx` (or mux receive) of one
//! frame: lookup, encapsulation into the frame's headroom, the datagram
//! handed to the host's send callback, the frame freed.
//!
//! Two harnesses, both run (see `Harness`):
//! * names without a prefix: each iteration allocates its frame
//!   (`MsgBlk::with_headroom`: malloc, 226-byte fill), and the host counts
//!   each send with one atomic and frees the frame at once.
//!   `harness/frame` times that build-and-free alone.
//! * `pool/…`: frames as fkoverlayd makes them — the buffer comes from a
//!   per-thread pool and is lent with `MsgBlk::esballoc` (a 98-byte copy
//!   into it stands for the TAP `read`), and freeing the message returns
//!   it; the host frees each datagram at once (the buffer back to the
//!   pool) and counts it per thread, with no atomic — cheaper than
//!   fkoverlayd's queueing on its transmit batch, which also moves the
//!   message into the queue and clones the socket's `Arc`.
//!   `pool/harness/frame` times take + copy + free alone.
//!
//! Driver cost ≈ scenario − its `harness/frame`. A counting global
//! allocator reports allocations per packet over 10 000 packets.
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

/// Allocations per packet of the driver (and host) over 10 000 packets:
/// with the malloc harness the frames are built beforehand; pooled frames
/// are taken in the loop (the pool allocates nothing once warm).
fn allocs_per_packet(hn: Harness, frame: &[u8], mut f: impl FnMut(MsgBlk)) -> f64 {
    const N: usize = 10_000;
    let before;
    match hn {
        Harness::Malloc => {
            let fr = frames(frame, N);
            before = ALLOCS.load(Ordering::Relaxed);
            for m in fr {
                f(m);
            }
        }
        Harness::Pool => {
            for _ in 0..N {
                f(pool_frame(frame));
            }
            before = ALLOCS.load(Ordering::Relaxed);
            for _ in 0..N {
                f(pool_frame(frame));
            }
        }
    }
    (ALLOCS.load(Ordering::Relaxed) - before) as f64 / N as f64
}

/// How each iteration gets its frame and the host disposes of the datagram.
#[derive(Clone, Copy)]
enum Harness {
    /// A fresh frame per packet (malloc + headroom fill); the fake host
    /// counts each send or delivery with one atomic and frees the frame at
    /// once. Bench names without a prefix.
    Malloc,
    /// The frame's buffer comes from a per-thread pool (`esballoc`, freed
    /// back to it, as in fkoverlayd); the host frees each datagram at once
    /// and counts it per thread (`FakePlatform::local_counts`). Names
    /// prefixed `pool/`.
    Pool,
}

impl Harness {
    fn name(self, n: &str) -> String {
        match self {
            Harness::Malloc => n.to_string(),
            Harness::Pool => format!("pool/{n}"),
        }
    }

    #[inline(always)]
    fn frame(self, f: &[u8]) -> MsgBlk {
        match self {
            Harness::Malloc => MsgBlk::with_headroom(f),
            Harness::Pool => pool_frame(f),
        }
    }

    fn setup(self, o: &Ovl) {
        if let Harness::Pool = self {
            local_counts(o);
            pool_prefill(256);
        }
    }
}

fn bench_tx(
    c: &mut Criterion,
    hn: Harness,
    name: &str,
    dev: &DevHandle<FakePlatform>,
    frame: &[u8],
) {
    let a = allocs_per_packet(hn, frame, |m| dev.m_tx(m.into()));
    let name = hn.name(name);
    eprintln!("ALLOCS {name}: {a:.3} allocations/packet");
    match hn {
        Harness::Malloc => c.bench_function(&name, |b| {
            b.iter(|| dev.m_tx(MsgBlk::with_headroom(black_box(frame)).into()))
        }),
        Harness::Pool => c.bench_function(&name, |b| {
            b.iter(|| dev.m_tx(pool_frame(black_box(frame)).into()))
        }),
    };
}

fn bench_rx(c: &mut Criterion, hn: Harness, name: &str, mux: &MuxHandle<FakePlatform>, pkt: &[u8]) {
    let a = allocs_per_packet(hn, pkt, |m| mux.recv(m));
    let name = hn.name(name);
    eprintln!("ALLOCS {name}: {a:.3} allocations/packet");
    match hn {
        Harness::Malloc => c.bench_function(&name, |b| {
            b.iter(|| mux.recv(MsgBlk::with_headroom(black_box(pkt))))
        }),
        Harness::Pool => {
            c.bench_function(&name, |b| b.iter(|| mux.recv(pool_frame(black_box(pkt)))))
        }
    };
}

fn datapath(c: &mut Criterion) {
    for hn in [Harness::Malloc, Harness::Pool] {
        datapath_with(c, hn);
    }
}

fn datapath_with(c: &mut Criterion, hn: Harness) {
    // The harness alone: make one frame and free it.
    let f = vxlan(1);
    if let Harness::Pool = hn {
        pool_prefill(256);
    }
    c.bench_function(&hn.name("harness/frame"), |b| {
        b.iter(|| drop(black_box(hn.frame(black_box(&f)))))
    });
    // tx POINT, 1 and 10 000 devices on the mux.
    for n in [1u32, 10_000] {
        let (o, _h) = setup(n, OVERLAY_TARGET_POINT);
        hn.setup(&o);
        let dev = o.dev_by_linkid(n).unwrap();
        bench_tx(c, hn, &format!("tx_point/devs={n}"), &dev, &eth(DST));
        o.platform().flush_counts();
        assert!(o.platform().nsent.load(Ordering::Relaxed) > 0);
    }
    // tx DYNAMIC cache hit: 1, 100 000 and 1 000 000 entries (1 device),
    // and 10 000 devices (1 entry).
    for (n, e) in [(1u32, 1u32), (1, 100_000), (1, 1_000_000), (10_000, 1)] {
        let (o, h) = setup(n, OVERLAY_TARGET_DYNAMIC);
        hn.setup(&o);
        add_entries(&o, h, e);
        let dev = o.dev_by_linkid(1).unwrap();
        let before = o.platform().nsent.load(Ordering::Relaxed);
        bench_tx(
            c,
            hn,
            &format!("tx_dynamic_hit/devs={n}/entries={e}"),
            &dev,
            &eth(mac_of(e / 2)),
        );
        o.platform().flush_counts();
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
        hn.setup(&o);
        add_entries(&o, h, e);
        let mux = mux_of(&o);
        bench_rx(
            c,
            hn,
            &format!("rx/devs={n}/entries={e}"),
            &mux,
            &vxlan(n / 2 + 1),
        );
        o.platform().flush_counts();
        assert_eq!(mux.stats().rx_ok, o.platform().nrx.load(Ordering::Relaxed));
        assert!(mux.stats().rx_ok > 0);
    }
}

criterion_group!(benches, datapath);
criterion_main!(benches);

//! Instruction-count harness for the data path: pushes N packets through
//! one scenario so `valgrind --tool=callgrind --toggle-collect='pktloop::run_*'`
//! can attribute the cost. Like the `datapath` bench, each packet's frame
//! is built in the loop (malloc + fill) and freed by the driver/fake host;
//! `frame` runs only that, so driver cost = scenario − `frame`.
//!
//! The `pool_*` scenarios use the `datapath` bench's `pool` harness
//! instead (a pooled `esballoc` frame as fkoverlayd makes them, the host
//! counting per thread with no atomic); `pool_frame` is its take + copy +
//! free.
//!
//! `tx_chain` is `tx_point` with the frames handed over in chains of
//! [`CHAIN`]: one `mc_tx` call per chain, over a lent list as fkoverlayd's
//! TAP readers pass them.
//!
//! Run: `cargo run --release -p overlay --example pktloop -- <[pool_]frame|[pool_]tx_point|[pool_]tx_chain|[pool_]tx_hit|[pool_]rx> [N] [devs] [entries]`

#[path = "../benches/common/mod.rs"]
mod common;

use common::*;
use overlay::msgblk_chain_vec::ChainStorage;
use overlay::sys::*;
use overlay::testing::FakePlatform;
use overlay::{DevHandle, MsgBlk, MsgBlkChain, MuxHandle};
use std::cell::RefCell;
use std::hint::black_box;

/// Frames per chain in `tx_chain`.
const CHAIN: usize = 32;

thread_local! {
    static STORAGE: RefCell<Option<ChainStorage>> = const { RefCell::new(None) };
}

/// The free routine of the chains' lent list: kept for the next chain.
fn give_storage(s: ChainStorage) {
    STORAGE.with(|k| *k.borrow_mut() = Some(s));
}

#[inline(never)]
fn run_tx_chain(dev: &DevHandle<FakePlatform>, f: &[u8], n: usize, pool: bool) {
    for _ in 0..n / CHAIN {
        let st = STORAGE.with(|k| k.borrow_mut().take());
        let mut c = MsgBlkChain::lend(
            st.unwrap_or_else(|| ChainStorage::with_capacity(CHAIN)),
            give_storage,
        );
        for _ in 0..CHAIN {
            c.push_back(if pool {
                pool_frame(black_box(f))
            } else {
                MsgBlk::with_headroom(black_box(f))
            });
        }
        dev.m_tx(c);
    }
}

#[inline(never)]
fn run_frame(f: &[u8], n: usize) {
    for _ in 0..n {
        drop(black_box(MsgBlk::with_headroom(black_box(f))));
    }
}

#[inline(never)]
fn run_pool_frame(f: &[u8], n: usize) {
    for _ in 0..n {
        drop(black_box(pool_frame(black_box(f))));
    }
}

#[inline(never)]
fn run_pool_tx(dev: &DevHandle<FakePlatform>, f: &[u8], n: usize) {
    for _ in 0..n {
        dev.m_tx(pool_frame(black_box(f)).into());
    }
}

#[inline(never)]
fn run_pool_rx(mux: &MuxHandle<FakePlatform>, f: &[u8], n: usize) {
    for _ in 0..n {
        mux.recv(pool_frame(black_box(f)));
    }
}

#[inline(never)]
fn run_tx(dev: &DevHandle<FakePlatform>, f: &[u8], n: usize) {
    for _ in 0..n {
        dev.m_tx(MsgBlk::with_headroom(black_box(f)).into());
    }
}

#[inline(never)]
fn run_rx(mux: &MuxHandle<FakePlatform>, f: &[u8], n: usize) {
    for _ in 0..n {
        mux.recv(MsgBlk::with_headroom(black_box(f)));
    }
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let what = a.get(1).map(String::as_str).unwrap_or("tx_hit");
    let n: usize = a.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let devs: u32 = a.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    let ents: u32 = a.get(4).and_then(|s| s.parse().ok()).unwrap_or(1);
    let pool = what.starts_with("pool_");
    if pool {
        pool_prefill(256);
    }
    let tx = if pool { run_pool_tx } else { run_tx };
    let rx = if pool { run_pool_rx } else { run_rx };
    let what = what.strip_prefix("pool_").unwrap_or(what);
    let host = |o: &Ovl| {
        if pool {
            local_counts(o);
        }
    };
    match what {
        "frame" if pool => run_pool_frame(&vxlan(1), n),
        "frame" => run_frame(&vxlan(1), n),
        "tx_point" => {
            let (o, _) = setup(devs, OVERLAY_TARGET_POINT);
            host(&o);
            let dev = o.dev_by_linkid(1).unwrap();
            tx(&dev, &eth(DST), n);
        }
        "tx_chain" => {
            let (o, _) = setup(devs, OVERLAY_TARGET_POINT);
            host(&o);
            let dev = o.dev_by_linkid(1).unwrap();
            run_tx_chain(&dev, &eth(DST), n, pool);
        }
        "tx_hit" => {
            let (o, h) = setup(devs, OVERLAY_TARGET_DYNAMIC);
            host(&o);
            add_entries(&o, h, ents);
            let dev = o.dev_by_linkid(1).unwrap();
            tx(&dev, &eth(mac_of(ents / 2)), n);
            assert_eq!(dev.stats().tx_frames, n as u64);
        }
        "rx" => {
            let (o, h) = setup(devs, OVERLAY_TARGET_DYNAMIC);
            host(&o);
            add_entries(&o, h, ents);
            let mux = mux_of(&o);
            rx(&mux, &vxlan(devs / 2 + 1), n);
            assert_eq!(mux.stats().rx_ok, n as u64);
        }
        _ => panic!("unknown scenario {what}"),
    }
}

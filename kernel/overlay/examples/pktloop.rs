//! Instruction-count harness for the data path: pushes N packets through
//! one scenario so `valgrind --tool=callgrind --toggle-collect='pktloop::run_*'`
//! can attribute the cost. Like the `datapath` bench, each packet's frame
//! is built in the loop (malloc + fill) and freed by the driver/fake host;
//! `frame` runs only that, so driver cost = scenario − `frame`.
//!
//! Run: `cargo run --release -p overlay --example pktloop -- <frame|tx_point|tx_hit|rx> [N] [devs] [entries]`

#[path = "../benches/common/mod.rs"]
mod common;

use common::*;
use overlay::sys::*;
use overlay::testing::FakePlatform;
use overlay::{DevHandle, MsgBlk, MuxHandle};
use std::hint::black_box;

#[inline(never)]
fn run_frame(f: &[u8], n: usize) {
    for _ in 0..n {
        drop(black_box(MsgBlk::with_headroom(black_box(f))));
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
    match what {
        "frame" => run_frame(&vxlan(1), n),
        "tx_point" => {
            let (o, _) = setup(devs, OVERLAY_TARGET_POINT);
            let dev = o.dev_by_linkid(1).unwrap();
            run_tx(&dev, &eth(DST), n);
        }
        "tx_hit" => {
            let (o, h) = setup(devs, OVERLAY_TARGET_DYNAMIC);
            add_entries(&o, h, ents);
            let dev = o.dev_by_linkid(1).unwrap();
            run_tx(&dev, &eth(mac_of(ents / 2)), n);
            assert_eq!(dev.stats().tx_frames, n as u64);
        }
        "rx" => {
            let (o, h) = setup(devs, OVERLAY_TARGET_DYNAMIC);
            add_entries(&o, h, ents);
            let mux = mux_of(&o);
            run_rx(&mux, &vxlan(devs / 2 + 1), n);
            assert_eq!(mux.stats().rx_ok, n as u64);
        }
        _ => panic!("unknown scenario {what}"),
    }
}

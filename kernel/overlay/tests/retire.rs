//! Re-ASSOCIATE while frames are being transmitted: the transmit path
//! borrows the device's target without a reference count, so a target
//! replaced under a running transmit must stay alive until that transmit
//! ends (the device's retired list). Two threads transmit to a POINT
//! target while the main thread replaces it hundreds of times, alternating
//! between two destinations: every frame must go out, to one of the two.
mod common;
use common::*;
use overlay::sys::*;
use overlay::SockaddrIn6;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const OTHER: [u8; 4] = [10, 0, 0, 3];

#[test]
fn reassociate_under_concurrent_transmits() {
    let o = new();
    let m = open_varpd(&o);
    up(&o, m, 1, 77, OVERLAY_TARGET_POINT);
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..2)
        .map(|_| {
            let o = o.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    tx(&o, 1, frame(DST));
                    n += 1;
                }
                n
            })
        })
        .collect();
    let id = overlay_targ_id_t { otid_linkid: 1 };
    for i in 0..2000 {
        targ(&o, m, OVERLAY_TARG_DISASSOCIATE, &id).expect("DISASSOCIATE");
        let ip = if i % 2 == 0 { OTHER } else { PEER };
        associate(&o, m, 1, OVERLAY_TARGET_POINT, point(ip, 4789)).expect("ASSOCIATE");
        // Keep the recording fake's memory bounded.
        let _ = o.platform().take_sent();
    }
    stop.store(true, Ordering::Relaxed);
    let total: u64 = senders.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(total > 0);
    let d = o.dev_by_linkid(1).unwrap();
    let s = d.stats();
    assert_eq!(s.tx_frames, total, "every frame was sent: {s:?}");
    let ok = [
        SockaddrIn6::new(v4(PEER), 4789),
        SockaddrIn6::new(v4(OTHER), 4789),
    ];
    for (to, _) in o.platform().take_sent() {
        assert!(ok.contains(&to), "frame sent to {to:?}");
    }
    // A stopped device has freed every replaced target; it still sends
    // after a restart.
    d.m_stop();
    d.m_start().unwrap();
    tx(&o, 1, frame(DST));
    assert_eq!(d.stats().tx_frames, total + 1);
}

//! End-to-end through the driver on the fake platform: create, configure,
//! associate, activate, start, transmit and receive.
mod common;
use common::*;
use overlay::sys::*;

#[test]
fn point_tx_rx() {
    let o = new();
    let h = open_varpd(&o);
    up(&o, h, 5, 23, OVERLAY_TARGET_POINT);
    tx(&o, 5, frame(DST));
    let sent = o.platform().take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0.addr, v4(PEER));
    assert_eq!(sent[0].0.port(), 4789);
    assert_eq!(&sent[0].1[..8], &[0x08, 0, 0, 0, 0, 0, 23, 0]);
    let inner = eth(SRC, DST, 0x0800, 60);
    assert!(o.platform().deliver(&listen_addr(), &vxlan_pkt(23, &inner)));
    let rx = o.platform().take_rx();
    assert_eq!(rx, vec![(5, inner)]);
}

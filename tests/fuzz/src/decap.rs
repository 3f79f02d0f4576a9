//! VXLAN receive: arbitrary UDP payloads delivered to a mux shared by a
//! started POINT device (vnetid 23), a started DYNAMIC device (vnetid
//! 0xffffff) and a created-but-stopped device (vnetid 0). Invariants: the
//! driver never panics; every datagram is counted exactly once (delivered
//! or dropped for one reason); a delivered frame is the payload after the
//! 8-byte header, to the device whose vnetid the header names; the parser
//! agrees with the RFC (I flag, 24-bit VNI, reserved bits ignored).

use crate::driver;
use crate::input::Input;
use overlay::vxlan::vxlan_parse;

const VNIS: [(u32, u64); 2] = [(10, 23), (11, 0xff_ffff)];

/// Input: a sequence of length-prefixed datagrams.
pub fn run(data: &[u8]) {
    let o = driver::new();
    let m = driver::open_varpd(&o);
    driver::up(&o, m, 10, 23, 1);
    driver::up(&o, m, 11, 0xff_ffff, 2);
    driver::create(&o, 12, 0);
    let addr = driver::listen_addr();
    let mut inp = Input::new(data);
    let mut sent = 0u64;
    let mut want_rx: Vec<(u32, Vec<u8>)> = Vec::new();
    while !inp.is_empty() {
        let d = inp.blob(9000);
        // The RFC's reading of the header, independently of the driver.
        let parsed = vxlan_parse(d);
        let rfc = (d.len() >= 8 && d[0] & 0x08 != 0)
            .then(|| u32::from_be_bytes([d[4], d[5], d[6], d[7]]) >> 8);
        assert_eq!(parsed, rfc, "vxlan_parse disagrees with RFC 7348");
        if let Some(vni) = rfc {
            if d.len() > 8 {
                if let Some(&(linkid, _)) = VNIS.iter().find(|v| v.1 == u64::from(vni)) {
                    want_rx.push((linkid, d[8..].to_vec()));
                }
            }
        }
        assert!(o.platform().deliver(&addr, d), "mux not bound");
        sent += 1;
    }
    let mux = o
        .platform()
        .mux_at(&addr)
        .expect("the started devices hold the mux");
    let s = mux.stats();
    let counted = s.rx_ok
        + s.rx_drop_short
        + s.rx_drop_decap
        + s.rx_drop_unknown_vnetid
        + s.rx_drop_not_started
        + s.rx_drop_empty;
    assert_eq!(counted, sent, "datagrams not counted exactly once: {s:?}");
    let rx = o.platform().take_rx();
    assert_eq!(rx.len() as u64, s.rx_ok);
    assert_eq!(rx, want_rx, "delivered frames differ from the payloads");
    drop(mux);
    driver::teardown(&o, &[m]);
}

//! Driver-level reproductions of bugs the fault tests found, on the fake
//! platform (`cargo test` in tests/fuzz). Each is `#[ignore]`d until fixed;
//! `cargo test -- --ignored` shows it failing.

use overlay::sys::*;
use overlay::{BufUserIo, Cred, MsgBlk};
use overlay_fuzz::driver;

fn targ<T: Pod>(o: &driver::Ovl, m: u32, cmd: u32, a: &T) -> Result<Vec<u8>, overlay::Errno> {
    let mut u = BufUserIo::new(a.as_bytes());
    o.targ_ioctl(m, cmd, &mut u, &Cred::ROOT).map(|()| u.arg)
}

/// varpd restarts (its handle closes) while a DYNAMIC device has a lookup
/// queued; the new varpd restores its instance with DISASSOCIATE +
/// ASSOCIATE (libvarpd `restore_one`, as illumos). The queued request must
/// still be served and its frame sent once answered. Today the old target
/// is freed by the re-ASSOCIATE, LOOKUP skips the request ("target gone")
/// and the frame disappears without a drop counter.
#[test]
#[ignore = "BUG: re-ASSOCIATE discards queued lookups and frames"]
fn reassociate_keeps_queued_lookups() {
    let o = driver::new();
    let m = driver::open_varpd(&o);
    driver::up(&o, m, 11, 24, 2);
    let mut f = vec![0u8; 100];
    f[..6].copy_from_slice(&[2, 8, 0x20, 0, 0, 2]);
    f[6..12].copy_from_slice(&[2, 8, 0x20, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let d = o.dev_by_linkid(11).expect("device 11");
    d.m_tx(MsgBlk::with_headroom(&f).into());
    assert_eq!(d.stats().tx_queued, 1);
    // varpd dies; a new one opens and restores.
    o.targ_close(m);
    let m = driver::open_varpd(&o);
    let id = overlay_targ_id_t { otid_linkid: 11 };
    targ(&o, m, OVERLAY_TARG_DISASSOCIATE, &id).expect("DISASSOCIATE");
    let a = overlay_targ_associate_t {
        ota_linkid: 11,
        ota_mode: 2,
        ota_id: 11,
        ota_provides: OVERLAY_PLUGIN_D_IP | OVERLAY_PLUGIN_D_PORT,
        ..Default::default()
    };
    targ(&o, m, OVERLAY_TARG_ASSOCIATE, &a).expect("ASSOCIATE");
    let l = targ(
        &o,
        m,
        OVERLAY_TARG_LOOKUP,
        &overlay_targ_lookup_t::default(),
    )
    .expect("the queued request is handed to the new varpd");
    let l = overlay_targ_lookup_t::from_bytes(&l).expect("lookup struct");
    let r = overlay_targ_resp_t {
        otr_reqid: l.otl_reqid,
        otr_answer: overlay_target_point_t {
            otp_ip: in6_addr::v4mapped([10, 0, 0, 3]),
            otp_port: 4789,
            ..Default::default()
        },
        ..Default::default()
    };
    targ(&o, m, OVERLAY_TARG_RESPOND, &r).expect("RESPOND");
    assert_eq!(d.stats().tx_frames, 1, "the queued frame was sent");
}

//! A varpd restart while a DYNAMIC device has lookups queued: the new varpd
//! restores its instance with DISASSOCIATE + ASSOCIATE (libvarpd's restore,
//! as illumos'), which replaces the device's target. The frames queued on
//! the old target must still go out once the new varpd answers — on illumos
//! the old request is answered and its frames re-enter the transmit path.
mod common;
use common::*;
use overlay::sys::*;

fn restore(o: &Ovl, linkid: u32) -> u32 {
    let m = open_varpd(o);
    targ(
        o,
        m,
        OVERLAY_TARG_DISASSOCIATE,
        &overlay_targ_id_t {
            otid_linkid: linkid,
        },
    )
    .expect("DISASSOCIATE");
    associate(o, m, linkid, OVERLAY_TARGET_DYNAMIC, point(PEER, 4789)).expect("ASSOCIATE");
    m
}

#[test]
fn frames_queued_before_a_reassociate_go_out_once_answered() {
    let o = new();
    let m = open_varpd(&o);
    up(&o, m, 1, 77, OVERLAY_TARGET_DYNAMIC);
    let d = o.dev_by_linkid(1).unwrap();
    tx(&o, 1, frame(DST));
    tx(&o, 1, frame(DST));
    assert_eq!(d.stats().tx_queued, 2);

    // varpd dies with the request queued, and a new one restores.
    o.targ_close(m);
    let m = restore(&o, 1);

    // The new varpd is asked about the destination (once) and answers.
    let l = targ(
        &o,
        m,
        OVERLAY_TARG_LOOKUP,
        &overlay_targ_lookup_t::default(),
    )
    .expect("the destination is looked up again");
    assert_eq!(l.otl_dstaddr, DST);
    let r = overlay_targ_resp_t {
        otr_reqid: l.otl_reqid,
        otr_answer: point([10, 0, 0, 3], 4789),
        ..Default::default()
    };
    targ(&o, m, OVERLAY_TARG_RESPOND, &r).expect("RESPOND");
    assert_eq!(d.stats().tx_frames, 2, "both queued frames were sent");
    assert_eq!(
        targ(
            &o,
            m,
            OVERLAY_TARG_LOOKUP,
            &overlay_targ_lookup_t::default()
        )
        .err(),
        Some(overlay::Errno::ETIME),
        "no second request for the same destination"
    );
    // And the device can still be deleted: no request is left outstanding.
    d.m_stop();
    assert_eq!(delete(&o, 1), 0);
}

#[test]
fn an_outstanding_request_answered_after_a_reassociate_still_sends() {
    let o = new();
    let m = open_varpd(&o);
    up(&o, m, 1, 77, OVERLAY_TARGET_DYNAMIC);
    let d = o.dev_by_linkid(1).unwrap();
    tx(&o, 1, frame(DST));
    // The old varpd took the request, then a new target replaced its own
    // (varpd restored while the old handle was still open).
    let old = targ(
        &o,
        m,
        OVERLAY_TARG_LOOKUP,
        &overlay_targ_lookup_t::default(),
    )
    .unwrap();
    targ(
        &o,
        m,
        OVERLAY_TARG_DISASSOCIATE,
        &overlay_targ_id_t { otid_linkid: 1 },
    )
    .unwrap();
    associate(&o, m, 1, OVERLAY_TARGET_DYNAMIC, point(PEER, 4789)).unwrap();
    // Answering the old request re-sends its frame through the new target,
    // which asks for the destination afresh.
    let r = overlay_targ_resp_t {
        otr_reqid: old.otl_reqid,
        otr_answer: point([10, 0, 0, 3], 4789),
        ..Default::default()
    };
    targ(&o, m, OVERLAY_TARG_RESPOND, &r).unwrap();
    let l = targ(
        &o,
        m,
        OVERLAY_TARG_LOOKUP,
        &overlay_targ_lookup_t::default(),
    )
    .unwrap();
    let r = overlay_targ_resp_t {
        otr_reqid: l.otl_reqid,
        ..r
    };
    targ(&o, m, OVERLAY_TARG_RESPOND, &r).unwrap();
    assert_eq!(d.stats().tx_frames, 1);
    d.m_stop();
    assert_eq!(delete(&o, 1), 0);
}

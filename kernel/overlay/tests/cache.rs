//! DYNAMIC targets: the cache state machine (§9.1) and the CACHE_*
//! ioctls (§8.9–§8.12), including §16 #11, #12 and #21. The request's life
//! (LOOKUP/PKT/INJECT/RESEND) and the handles and global queue (§9.2) are
//! in `lookup.rs`.
mod common;
use common::dynamic::*;
use common::*;
use overlay::sys::*;
use overlay::{BufUserIo, Errno, MsgBlk};

// ---- §9.1 transitions ----

#[test]
fn miss_creates_pending_entry_and_one_request() {
    let (o, h) = dynamic();
    tx(&o, 1, frame(DST));
    tx(&o, 1, frame(DST));
    assert!(sent(&o).is_empty());
    assert_eq!(o.targ_npending(), 1);
    let d = o.dev_by_linkid(1).unwrap();
    assert_eq!(d.stats().tx_queued, 2);
    assert_eq!(d.cache_entries(), 1);
    let l = lookup(&o, h).unwrap();
    assert_eq!(l.otl_dlid, 1);
    assert_eq!(l.otl_varpdid, 0x1234);
    assert_eq!(l.otl_vnetid, 77);
    assert_eq!(l.otl_dstaddr, DST);
    assert_eq!(l.otl_srcaddr, SRC);
    assert_eq!(l.otl_dsttype, MAC_ADDRTYPE_UNICAST);
    assert_eq!(l.otl_sap, 0x0800);
    assert_eq!(l.otl_hdrsize, 14);
    assert_eq!(l.otl_pktsize, 98 - 14);
    assert_eq!(l.otl_vlan, 0);
    assert_eq!(lookup(&o, h), Err(Errno::ETIME));
}

#[test]
fn respond_validates_and_flushes_queue() {
    let (o, h) = dynamic();
    tx(&o, 1, frame(DST));
    tx(&o, 1, frame(DST));
    let l = lookup(&o, h).unwrap();
    respond(&o, h, l.otl_reqid, point([10, 9, 9, 9], 5555)).unwrap();
    let s = sent(&o);
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].0.addr, v4([10, 9, 9, 9]));
    assert_eq!(s[0].0.port(), 5555);
    // Valid: the next frame goes straight out.
    tx(&o, 1, frame(DST));
    assert_eq!(sent(&o).len(), 1);
    assert_eq!(cget(&o, h, DST).unwrap().otce_dest.otp_port, 5555);
    // The request is answered; a second answer is EINVAL.
    assert_eq!(
        respond(&o, h, l.otl_reqid, point(PEER, 1)),
        Err(Errno::EINVAL)
    );
}

#[test]
fn respond_unknown_reqid_is_einval() {
    let (o, h) = dynamic();
    assert_eq!(respond(&o, h, 12345, point(PEER, 1)), Err(Errno::EINVAL));
    assert_eq!(drop_req(&o, h, 12345), Err(Errno::EINVAL));
}

#[test]
fn request_belongs_to_the_handle_that_took_it() {
    let (o, h) = dynamic();
    let r = open(&o, FREAD).unwrap();
    tx(&o, 1, frame(DST));
    let l = lookup(&o, r).unwrap();
    // The varpd handle cannot answer the other handle's request.
    assert_eq!(
        respond(&o, h, l.otl_reqid, point(PEER, 1)),
        Err(Errno::EINVAL)
    );
}

#[test]
fn drop_frees_first_frame_and_requeues() {
    let (o, h) = dynamic();
    tx(&o, 1, frame(DST));
    tx(&o, 1, frame(DST));
    let l = lookup(&o, h).unwrap();
    drop_req(&o, h, l.otl_reqid).unwrap();
    // One frame left: a new request for the same entry.
    assert_eq!(o.targ_npending(), 1);
    let l2 = lookup(&o, h).unwrap();
    assert_eq!(l2.otl_reqid, l.otl_reqid);
    drop_req(&o, h, l2.otl_reqid).unwrap();
    assert_eq!(o.targ_npending(), 0);
    // Back to invalid, not pending: the next frame asks again.
    tx(&o, 1, frame(DST));
    assert_eq!(o.targ_npending(), 1);
    assert!(sent(&o).is_empty());
}

#[test]
fn drop_on_valid_entry_keeps_queue() {
    let (o, h) = dynamic();
    tx(&o, 1, frame(DST));
    let l = lookup(&o, h).unwrap();
    cset(&o, h, DST, 0, point(PEER, 4789)).unwrap();
    assert_eq!(sent(&o).len(), 1);
    drop_req(&o, h, l.otl_reqid).unwrap();
    assert_eq!(delete_after_stop(&o), 0);
}

#[test]
fn queue_is_bounded_at_128k() {
    let (o, _h) = dynamic();
    let big = || MsgBlk::with_headroom(&eth(DST, SRC, 0x0800, 8000));
    for _ in 0..16 {
        tx(&o, 1, big());
    }
    let d = o.dev_by_linkid(1).unwrap();
    assert_eq!(d.stats().tx_queued, 16);
    tx(&o, 1, big());
    assert_eq!(d.stats().tx_drop_queue_full, 1);
    // A small frame still fits (128000 + 98 ≤ 131072).
    tx(&o, 1, frame(DST));
    assert_eq!(d.stats().tx_queued, 17);
}

#[test]
fn drop_entry_drops_frames() {
    let (o, h) = dynamic();
    cset(&o, h, DST, OVERLAY_TARGET_CACHE_DROP, Default::default()).unwrap();
    tx(&o, 1, frame(DST));
    assert!(sent(&o).is_empty());
    assert_eq!(o.dev_by_linkid(1).unwrap().stats().tx_drop_lookup, 1);
    assert_eq!(
        cget(&o, h, DST).unwrap().otce_flags,
        OVERLAY_TARGET_CACHE_DROP
    );
    // §16 #21 (reproduced): a non-drop SET does not clear DROP...
    cset(&o, h, DST, 0, point(PEER, 4789)).unwrap();
    tx(&o, 1, frame(DST));
    assert!(sent(&o).is_empty());
    // ...REMOVE does.
    targ(
        &o,
        h,
        OVERLAY_TARG_CACHE_REMOVE,
        &cache(1, DST, 0, Default::default()),
    )
    .unwrap();
    cset(&o, h, DST, 0, point(PEER, 4789)).unwrap();
    tx(&o, 1, frame(DST));
    assert_eq!(sent(&o).len(), 1);
}

#[test]
fn cache_set_flushes_queued_frames() {
    let (o, h) = dynamic();
    tx(&o, 1, frame(DST));
    tx(&o, 1, frame(DST));
    cset(&o, h, DST, 0, point(PEER, 6000)).unwrap();
    let s = sent(&o);
    assert_eq!(s.len(), 2);
    assert_eq!(s[1].0.port(), 6000);
    // The queued request is now stale: LOOKUP skips it (and balances the
    // count, §16 #9), so delete does not hang.
    assert_eq!(lookup(&o, h), Err(Errno::ETIME));
    assert_eq!(delete_after_stop(&o), 0);
}

#[test]
fn cache_remove_and_flush_invalidate_but_keep_entries() {
    let (o, h) = dynamic();
    cset(&o, h, DST, 0, point(PEER, 1)).unwrap();
    cset(&o, h, M2, 0, point(PEER, 2)).unwrap();
    cset(&o, h, M3, OVERLAY_TARGET_CACHE_DROP, Default::default()).unwrap();
    targ(
        &o,
        h,
        OVERLAY_TARG_CACHE_REMOVE,
        &cache(1, DST, 0, Default::default()),
    )
    .unwrap();
    assert_eq!(cget(&o, h, DST), Err(Errno::ENOENT));
    assert!(cget(&o, h, M2).is_ok());
    targ(
        &o,
        h,
        OVERLAY_TARG_CACHE_FLUSH,
        &cache(1, [0; 6], 0, Default::default()),
    )
    .unwrap();
    assert_eq!(cget(&o, h, M2), Err(Errno::ENOENT));
    assert_eq!(cget(&o, h, M3), Err(Errno::ENOENT));
    assert_eq!(o.dev_by_linkid(1).unwrap().cache_entries(), 3);
    // Invalid again: a frame triggers a new lookup.
    tx(&o, 1, frame(M2));
    assert_eq!(o.targ_npending(), 1);
}

#[test]
fn cache_errors() {
    let (o, h) = dynamic();
    assert_eq!(cset(&o, h, DST, 2, Default::default()), Err(Errno::EINVAL));
    assert_eq!(
        targ(
            &o,
            h,
            OVERLAY_TARG_CACHE_SET,
            &cache(9, DST, 0, Default::default())
        )
        .err(),
        Some(Errno::ENOENT)
    );
    assert_eq!(
        targ(
            &o,
            h,
            OVERLAY_TARG_CACHE_GET,
            &cache(9, DST, 0, Default::default())
        )
        .err(),
        Some(Errno::ENOENT)
    );
    assert_eq!(
        targ(
            &o,
            h,
            OVERLAY_TARG_CACHE_REMOVE,
            &cache(9, DST, 0, Default::default())
        )
        .err(),
        Some(Errno::ENOENT)
    );
    assert_eq!(
        targ(
            &o,
            h,
            OVERLAY_TARG_CACHE_FLUSH,
            &cache(9, DST, 0, Default::default())
        )
        .err(),
        Some(Errno::ENOENT)
    );
    assert_eq!(cget(&o, h, M2), Err(Errno::ENOENT));
    assert_eq!(
        targ(
            &o,
            h,
            OVERLAY_TARG_CACHE_REMOVE,
            &cache(1, M2, 0, Default::default())
        )
        .err(),
        Some(Errno::ENOENT)
    );
    // Flags check precedes the device lookup.
    assert_eq!(
        targ(
            &o,
            h,
            OVERLAY_TARG_CACHE_SET,
            &cache(9, DST, 0x80, Default::default())
        )
        .err(),
        Some(Errno::EINVAL)
    );
    assert_eq!(create(&o, 2, 2), 0);
    assert_eq!(
        targ(
            &o,
            h,
            OVERLAY_TARG_CACHE_SET,
            &cache(2, DST, 0, Default::default())
        )
        .err(),
        Some(Errno::ENXIO)
    );
    assert_eq!(
        targ(
            &o,
            h,
            OVERLAY_TARG_CACHE_REMOVE,
            &cache(2, DST, 0, Default::default())
        )
        .err(),
        Some(Errno::ENXIO)
    );
    assert_eq!(
        targ(
            &o,
            h,
            OVERLAY_TARG_CACHE_FLUSH,
            &cache(2, DST, 0, Default::default())
        )
        .err(),
        Some(Errno::ENXIO)
    );
}

#[test]
fn cache_on_point_target() {
    let o = new();
    let h = open_varpd(&o);
    up(&o, h, 1, 1, OVERLAY_TARGET_POINT);
    let g = cget(&o, h, [7; 6]).unwrap();
    assert_eq!(
        (g.otce_flags, g.otce_dest.otp_port, g.otce_dest.otp_ip),
        (0, 4789, v4(PEER))
    );
    assert_eq!(cset(&o, h, DST, 0, Default::default()), Err(Errno::ENOTSUP));
    assert_eq!(
        targ(
            &o,
            h,
            OVERLAY_TARG_CACHE_REMOVE,
            &cache(1, DST, 0, Default::default())
        )
        .err(),
        Some(Errno::ENOTSUP)
    );
    assert_eq!(
        targ(
            &o,
            h,
            OVERLAY_TARG_CACHE_FLUSH,
            &cache(1, DST, 0, Default::default())
        )
        .err(),
        Some(Errno::ENOTSUP)
    );
}

#[test]
fn cache_set_unchanged_copyout() {
    let (o, h) = dynamic();
    let c = cache(1, DST, 0, point(PEER, 9));
    assert_eq!(targ(&o, h, OVERLAY_TARG_CACHE_SET, &c).unwrap(), c);
}

// ---- CACHE_ITER ----

fn iter(
    o: &Ovl,
    h: u32,
    linkid: u32,
    marker: u64,
    count: u16,
) -> Result<(overlay_targ_cache_iter_t, Vec<overlay_targ_cache_entry_t>), Errno> {
    let it = overlay_targ_cache_iter_t {
        otci_linkid: linkid,
        otci_marker: marker,
        otci_count: count,
        ..Default::default()
    };
    let mut u = BufUserIo::new(it.as_bytes());
    o.targ_ioctl(h, OVERLAY_TARG_CACHE_ITER, &mut u, &ROOT)?;
    let hdr = overlay_targ_cache_iter_t::from_bytes(&u.arg).unwrap();
    let ents = (0..hdr.otci_count as usize)
        .map(|i| overlay_targ_cache_entry_t::from_bytes(&u.arg[24 + 36 * i..]).unwrap())
        .collect();
    Ok((hdr, ents))
}

#[test]
fn cache_iter_pages_in_mac_order() {
    let (o, h) = dynamic();
    let macs: Vec<[u8; 6]> = (0..25u8).rev().map(|i| [2, 0, 0, 0, 1, i]).collect();
    for (i, m) in macs.iter().enumerate() {
        if i % 5 == 0 {
            cset(&o, h, *m, OVERLAY_TARGET_CACHE_DROP, Default::default()).unwrap();
        } else {
            cset(&o, h, *m, 0, point(PEER, 1000 + i as u16)).unwrap();
        }
    }
    // An invalid (pending) entry is skipped.
    tx(&o, 1, frame([2, 0, 0, 0, 1, 200]));
    let mut marker = 0;
    let mut all = vec![];
    loop {
        let (hdr, ents) = iter(&o, h, 1, marker, 7).unwrap();
        all.extend(ents);
        marker = hdr.otci_marker;
        if hdr.otci_count == 0 {
            break;
        }
    }
    assert_eq!(all.len(), 25);
    let mut sorted = macs.clone();
    sorted.sort();
    assert_eq!(all.iter().map(|e| e.otce_mac).collect::<Vec<_>>(), sorted);
    for e in &all {
        if e.otce_flags == OVERLAY_TARGET_CACHE_DROP {
            // §16 #12: a drop entry's destination is zeroed.
            assert_eq!(e.otce_dest, overlay_target_point_t::default());
        } else {
            assert!(e.otce_dest.otp_port >= 1000);
        }
    }
}

#[test]
fn cache_iter_errors_and_done_marker() {
    let (o, h) = dynamic();
    assert_eq!(iter(&o, h, 1, 0, 501).err(), Some(Errno::E2BIG));
    assert_eq!(iter(&o, h, 1, 0, 0).err(), Some(Errno::EINVAL));
    assert_eq!(iter(&o, h, 9, 0, 5).err(), Some(Errno::ENOENT));
    let (hdr, ents) = iter(&o, h, 1, 0, 500).unwrap();
    assert!(ents.is_empty());
    // Done marker: success with no entries, without even a device lookup.
    let (h2, e2) = iter(&o, h, 999, hdr.otci_marker, 5).unwrap();
    assert!(e2.is_empty());
    assert_eq!(h2.otci_count, 0);
    assert_eq!(create(&o, 2, 2), 0);
    assert_eq!(iter(&o, h, 2, 0, 5).err(), Some(Errno::ENXIO));
}

#[test]
fn cache_iter_point_returns_one_entry() {
    // §16 #11: the original then walked the DYNAMIC tree over the union.
    let o = new();
    let h = open_varpd(&o);
    up(&o, h, 1, 1, OVERLAY_TARGET_POINT);
    let (hdr, ents) = iter(&o, h, 1, 0, 10).unwrap();
    assert_eq!(ents.len(), 1);
    assert_eq!(ents[0].otce_mac, [0; 6]);
    assert_eq!(ents[0].otce_dest.otp_ip, v4(PEER));
    let (_, ents) = iter(&o, h, 1, hdr.otci_marker, 10).unwrap();
    assert!(ents.is_empty());
}

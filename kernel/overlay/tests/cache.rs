//! DYNAMIC targets: the cache state machine (§9.1), the lookup queue and
//! handles (§9.2), and LOOKUP/RESPOND/DROP/PKT/INJECT/RESEND and the CACHE_*
//! ioctls (§8.5), including §16 #8, #9, #11, #12 and #21.
mod common;
use common::*;
use overlay::sys::*;
use overlay::{BufUserIo, Errno, MsgBlk};
use std::time::Duration;

fn dynamic() -> (Ovl, u32) {
    let o = new();
    let h = open_varpd(&o);
    up(&o, h, 1, 77, OVERLAY_TARGET_DYNAMIC);
    (o, h)
}

fn lookup(o: &Ovl, h: u32) -> Result<overlay_targ_lookup_t, Errno> {
    targ(o, h, OVERLAY_TARG_LOOKUP, &overlay_targ_lookup_t::default())
}

fn respond(o: &Ovl, h: u32, reqid: u64, pt: overlay_target_point_t) -> Result<(), Errno> {
    targ(
        o,
        h,
        OVERLAY_TARG_RESPOND,
        &overlay_targ_resp_t {
            otr_reqid: reqid,
            otr_answer: pt,
            _pad: [0; 4],
        },
    )
    .map(|_| ())
}

fn drop_req(o: &Ovl, h: u32, reqid: u64) -> Result<(), Errno> {
    targ(
        o,
        h,
        OVERLAY_TARG_DROP,
        &overlay_targ_resp_t {
            otr_reqid: reqid,
            ..Default::default()
        },
    )
    .map(|_| ())
}

fn cache(
    linkid: u32,
    mac: [u8; 6],
    flags: u16,
    dest: overlay_target_point_t,
) -> overlay_targ_cache_t {
    overlay_targ_cache_t {
        otc_linkid: linkid,
        otc_entry: overlay_targ_cache_entry_t {
            otce_mac: mac,
            otce_flags: flags,
            otce_dest: dest,
        },
    }
}

fn cget(o: &Ovl, h: u32, mac: [u8; 6]) -> Result<overlay_targ_cache_entry_t, Errno> {
    targ(
        o,
        h,
        OVERLAY_TARG_CACHE_GET,
        &cache(1, mac, 0, Default::default()),
    )
    .map(|c| c.otc_entry)
}

fn cset(
    o: &Ovl,
    h: u32,
    mac: [u8; 6],
    flags: u16,
    dest: overlay_target_point_t,
) -> Result<(), Errno> {
    targ(o, h, OVERLAY_TARG_CACHE_SET, &cache(1, mac, flags, dest)).map(|_| ())
}

fn sent(o: &Ovl) -> Vec<(overlay::SockaddrIn6, Vec<u8>)> {
    o.platform().take_sent()
}

const M2: [u8; 6] = [2, 0, 0, 0, 0, 0x22];
const M3: [u8; 6] = [2, 0, 0, 0, 0, 0x33];

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

fn delete_after_stop(o: &Ovl) -> i32 {
    o.dev_by_linkid(1).unwrap().m_stop();
    delete(o, 1)
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

// ---- PKT / INJECT / RESEND ----

fn pkt(
    o: &Ovl,
    h: u32,
    cmd: u32,
    linkid: u64,
    reqid: u64,
    size: u64,
    data: &[u8],
) -> Result<BufUserIo, Errno> {
    let p = overlay_targ_pkt_t {
        otp_linkid: linkid,
        otp_reqid: reqid,
        otp_size: size,
        otp_buf: 0xdead_0000,
    };
    let mut u = BufUserIo::with_data(p.as_bytes(), data);
    o.targ_ioctl(h, cmd, &mut u, &ROOT)?;
    Ok(u)
}

#[test]
fn pkt_copies_first_frame() {
    let (o, h) = dynamic();
    let f = eth(DST, SRC, 0x0806, 60);
    tx(&o, 1, MsgBlk::with_headroom(&f));
    let l = lookup(&o, h).unwrap();
    let u = pkt(&o, h, OVERLAY_TARG_PKT, 0, l.otl_reqid, 1518, &[]).unwrap();
    assert_eq!(u.data, f);
    assert_eq!(overlay_targ_pkt_t::from_bytes(&u.arg).unwrap().otp_size, 60);
    let u = pkt(&o, h, OVERLAY_TARG_PKT, 0, l.otl_reqid, 20, &[]).unwrap();
    assert_eq!(u.data, &f[..20]);
    assert_eq!(overlay_targ_pkt_t::from_bytes(&u.arg).unwrap().otp_size, 20);
    assert_eq!(
        pkt(&o, h, OVERLAY_TARG_PKT, 0, 424242, 100, &[]).err(),
        Some(Errno::EINVAL)
    );
}

#[test]
fn pkt_ilp32() {
    let (o, h) = dynamic();
    tx(&o, 1, frame(DST));
    let l = lookup(&o, h).unwrap();
    let p = overlay_targ_pkt32_t {
        otp_linkid: 0,
        otp_reqid: l.otl_reqid,
        otp_size: 10,
        otp_buf: 0x1000,
    };
    let mut u = BufUserIo::new(p.as_bytes());
    u.ilp32 = true;
    o.targ_ioctl(h, OVERLAY_TARG_PKT, &mut u, &ROOT).unwrap();
    // §16 #18: 28 bytes in and out for an ILP32 caller.
    assert_eq!(u.arg.len(), 28);
    let sz = { overlay_targ_pkt32_t::from_bytes(&u.arg).unwrap().otp_size };
    assert_eq!(sz, 10);
    assert_eq!(u.data.len(), 10);
}

#[test]
fn inject_by_reqid_and_linkid() {
    let (o, h) = dynamic();
    tx(&o, 1, frame(DST));
    let l = lookup(&o, h).unwrap();
    let reply = eth(SRC, DST, 0x0806, 42);
    pkt(
        &o,
        h,
        OVERLAY_TARG_INJECT,
        u64::MAX,
        l.otl_reqid,
        42,
        &reply,
    )
    .unwrap();
    assert_eq!(o.platform().take_rx(), vec![(1, reply.clone())]);
    // Not an answer: the request is still outstanding.
    drop_req(&o, h, l.otl_reqid).unwrap();
    pkt(&o, h, OVERLAY_TARG_INJECT, 1, 0, 42, &reply).unwrap();
    assert_eq!(o.platform().take_rx().len(), 1);
    assert_eq!(o.dev_by_linkid(1).unwrap().stats().rx_injected, 2);
}

#[test]
fn inject_errors() {
    let (o, h) = dynamic();
    let f = eth(SRC, DST, 0x0806, 60);
    assert_eq!(
        pkt(&o, h, OVERLAY_TARG_INJECT, 1, 0, 1519, &[0; 1519]).err(),
        Some(Errno::EINVAL)
    );
    assert_eq!(
        pkt(&o, h, OVERLAY_TARG_INJECT, 1, 0, 60, &f[..59]).err(),
        Some(Errno::EFAULT)
    );
    assert_eq!(
        pkt(&o, h, OVERLAY_TARG_INJECT, 9, 0, 60, &f).err(),
        Some(Errno::ENOENT)
    );
    assert_eq!(
        pkt(&o, h, OVERLAY_TARG_INJECT, u64::MAX, 77, 60, &f).err(),
        Some(Errno::ENOENT)
    );
    assert_eq!(
        pkt(&o, h, OVERLAY_TARG_RESEND, u64::MAX, 77, 60, &f).err(),
        Some(Errno::ENOENT)
    );
    assert!(pkt(&o, h, OVERLAY_TARG_INJECT, 1, 0, 1518, &[0; 1518]).is_ok());
}

#[test]
fn inject_by_linkid_releases_hold() {
    // §16 #8: the original leaked the hold, so DELETE failed EBUSY forever.
    let o = new();
    let h = open_varpd(&o);
    assert_eq!(create(&o, 1, 1), 0);
    pkt(
        &o,
        h,
        OVERLAY_TARG_INJECT,
        1,
        0,
        60,
        &eth(SRC, DST, 0x800, 60),
    )
    .unwrap();
    pkt(
        &o,
        h,
        OVERLAY_TARG_RESEND,
        1,
        0,
        60,
        &eth(SRC, DST, 0x800, 60),
    )
    .unwrap();
    assert_eq!(delete(&o, 1), 0);
}

#[test]
fn resend_does_a_fresh_lookup() {
    let (o, h) = dynamic();
    cset(&o, h, M2, 0, point(PEER, 7777)).unwrap();
    let f = eth(M2, SRC, 0x0800, 60);
    pkt(&o, h, OVERLAY_TARG_RESEND, 1, 0, 60, &f).unwrap();
    let s = sent(&o);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].0.port(), 7777);
    assert_eq!(&s[0].1[8..], &f[..]);
}

// ---- handles and the global queue (§9.2) ----

#[test]
fn close_requeues_outstanding_requests() {
    let (o, h) = dynamic();
    tx(&o, 1, frame(DST));
    tx(&o, 1, frame(M2));
    let l1 = lookup(&o, h).unwrap();
    assert_eq!(o.targ_npending(), 1);
    o.targ_close(h);
    assert_eq!(o.targ_npending(), 2);
    let h2 = open_varpd(&o);
    // FIFO: M2 (still queued) first, then the re-queued DST.
    let a = lookup(&o, h2).unwrap();
    let b = lookup(&o, h2).unwrap();
    assert_eq!(a.otl_dstaddr, M2);
    assert_eq!(b.otl_dstaddr, DST);
    assert_eq!(b.otl_reqid, l1.otl_reqid);
    respond(&o, h2, b.otl_reqid, point(PEER, 1)).unwrap();
    assert_eq!(sent(&o).len(), 1);
}

#[test]
fn fifo_across_devices() {
    let o = new();
    let h = open_varpd(&o);
    assert_eq!(create(&o, 1, 1), 0);
    assert_eq!(create(&o, 2, 2), 0);
    for l in [1, 2] {
        assert_eq!(
            setprop_by_name(&o, l, "vxlan/listen_ip", &v4(LISTEN).s6_addr),
            0
        );
        associate(&o, h, l, OVERLAY_TARGET_DYNAMIC, Default::default()).unwrap();
        assert_eq!(activate(&o, l), 0);
        o.dev_by_linkid(l).unwrap().m_start().unwrap();
    }
    tx(&o, 2, frame(DST));
    tx(&o, 1, frame(DST));
    tx(&o, 2, frame(M2));
    let order: Vec<(u64, [u8; 6])> = (0..3)
        .map(|_| lookup(&o, h).unwrap())
        .map(|l| (l.otl_dlid, l.otl_dstaddr))
        .collect();
    assert_eq!(order, vec![(2, DST), (1, DST), (2, M2)]);
}

#[test]
fn lookup_discards_unparsable_frame() {
    let (o, h) = dynamic();
    // A frame too short for an Ethernet header cannot even be keyed.
    tx(&o, 1, MsgBlk::with_headroom(&[2, 0, 0, 0, 0, 9, 1]));
    assert_eq!(o.targ_npending(), 0);
    // A VLAN-tagged header cut short: keyed on its dst, but LOOKUP cannot
    // parse it. It is discarded and the count balanced (§16 #9).
    let mut f = eth(DST, SRC, 0x8100, 15);
    f.truncate(15);
    tx(&o, 1, MsgBlk::with_headroom(&f));
    assert_eq!(o.targ_npending(), 1);
    assert_eq!(lookup(&o, h), Err(Errno::ETIME));
    assert_eq!(delete_after_stop(&o), 0);
}

#[test]
fn lookup_skips_bad_frame_and_reports_next() {
    let (o, h) = dynamic();
    let mut f = eth(DST, SRC, 0x8100, 15);
    f.truncate(15);
    tx(&o, 1, MsgBlk::with_headroom(&f));
    tx(&o, 1, MsgBlk::with_headroom(&eth(DST, SRC, 0x8100, 64)));
    let l = lookup(&o, h).unwrap();
    assert_eq!(l.otl_hdrsize, 18);
    respond(&o, h, l.otl_reqid, point(PEER, 1)).unwrap();
    assert_eq!(sent(&o).len(), 1);
    assert_eq!(delete_after_stop(&o), 0);
}

#[test]
fn lookup_reports_vlan_and_broadcast() {
    let (o, h) = dynamic();
    let mut f = eth([0xff; 6], SRC, 0x8100, 64);
    f[14..16].copy_from_slice(&0x0123u16.to_be_bytes());
    f[16..18].copy_from_slice(&0x0806u16.to_be_bytes());
    tx(&o, 1, MsgBlk::with_headroom(&f));
    let l = lookup(&o, h).unwrap();
    assert_eq!(
        (
            l.otl_dsttype,
            l.otl_vlan,
            l.otl_sap,
            l.otl_hdrsize,
            l.otl_pktsize
        ),
        (MAC_ADDRTYPE_BROADCAST, 0x123, 0x806, 18, 46)
    );
    tx(&o, 1, frame([0x33, 0x33, 0, 0, 0, 1]));
    assert_eq!(lookup(&o, h).unwrap().otl_dsttype, MAC_ADDRTYPE_MULTICAST);
}

#[test]
fn delete_waits_for_outstanding_requests() {
    let (o, h) = dynamic();
    tx(&o, 1, frame(DST));
    let l = lookup(&o, h).unwrap();
    o.dev_by_linkid(1).unwrap().m_stop();
    let o2 = o.clone();
    let th = std::thread::spawn(move || delete(&o2, 1));
    std::thread::sleep(Duration::from_millis(150));
    assert!(!th.is_finished());
    drop_req(&o, h, l.otl_reqid).unwrap();
    assert_eq!(th.join().unwrap(), 0);
}

#[test]
fn teardown_stops_new_requests() {
    let (o, h) = dynamic();
    tx(&o, 1, frame(DST));
    tx(&o, 1, frame(DST));
    let l = lookup(&o, h).unwrap();
    o.dev_by_linkid(1).unwrap().m_stop();
    let o2 = o.clone();
    let th = std::thread::spawn(move || delete(&o2, 1));
    std::thread::sleep(Duration::from_millis(100));
    // DROP with a frame left would re-queue; during teardown it does not,
    // and the request is finished so delete completes.
    drop_req(&o, h, l.otl_reqid).unwrap();
    assert_eq!(th.join().unwrap(), 0);
    assert_eq!(o.targ_npending(), 0);
}

#[test]
fn pending_entry_ignored_by_get() {
    let (o, h) = dynamic();
    tx(&o, 1, frame(DST));
    assert_eq!(cget(&o, h, DST), Err(Errno::ENOENT));
}

//! DYNAMIC targets: a lookup request's life (§8.5–§8.8: LOOKUP, PKT,
//! INJECT, RESEND) and the handles and global queue (§9.2), including
//! §16 #8 and #9. The cache state machine and the CACHE_* ioctls are in
//! `cache.rs`.
mod common;
use common::dynamic::*;
use common::*;
use overlay::sys::*;
use overlay::{BufUserIo, Errno, MsgBlk};
use std::time::Duration;

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
    // Delete unlinks the device, then sets TEARDOWN: wait for the first,
    // then give it time for the second (a loaded machine may not have
    // started the thread within a fixed sleep).
    while o.dev_by_linkid(1).is_some() {
        std::thread::sleep(Duration::from_millis(1));
    }
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

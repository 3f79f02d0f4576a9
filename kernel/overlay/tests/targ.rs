//! `/dev/overlay` (§2.3, §8): open rules, dispatch, and every target
//! ioctl's success path and error rows, including the §16 fixes.
mod common;
use common::*;
use overlay::sys::*;
use overlay::testing::Event;
use overlay::{BufUserIo, Cred, Errno, UserIo};
use std::time::{Duration, Instant};

// ---- open / close (§2.3) ----

#[test]
fn open_checks_in_order() {
    let o = new();
    assert_eq!(o.targ_open(1, true, 0x999, &Cred::USER), Err(Errno::EPERM));
    assert_eq!(o.targ_open(1, false, FREAD, &ROOT), Err(Errno::ENXIO));
    assert_eq!(o.targ_open(0, true, FREAD, &ROOT), Err(Errno::EINVAL));
    assert_eq!(
        o.targ_open(0, false, FREAD | 0x4, &ROOT),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        o.targ_open(0, false, FREAD | FWRITE, &ROOT),
        Err(Errno::EINVAL)
    );
    assert_eq!(o.targ_open(0, false, FWRITE, &ROOT), Err(Errno::EINVAL));
    assert_eq!(o.targ_open(0, false, 0, &ROOT), Err(Errno::EINVAL));
    assert_eq!(o.targ_open(0, false, FEXCL, &ROOT), Err(Errno::EINVAL));
    assert_eq!(
        o.targ_open(
            0,
            false,
            FREAD,
            &Cred {
                dl_config: true,
                zoneid: 3
            }
        ),
        Err(Errno::EPERM)
    );
    assert_eq!(o.targ_nhandles(), 0);
}

#[test]
fn open_allocates_distinct_minors() {
    let o = new();
    let a = open(&o, FREAD).unwrap();
    let b = open(&o, FREAD).unwrap();
    let c = open(&o, FWRITE | FEXCL).unwrap();
    assert!(a >= 1 && b >= 1 && c >= 1);
    assert!(a != b && b != c && a != c);
    assert_eq!(o.targ_nhandles(), 3);
}

#[test]
fn exclusive_open_is_unique() {
    let o = new();
    let a = open(&o, FREAD | FWRITE | FEXCL).unwrap();
    assert_eq!(open(&o, FREAD | FWRITE | FEXCL), Err(Errno::EEXIST));
    assert_eq!(open(&o, FREAD | FEXCL), Err(Errno::EEXIST));
    assert!(open(&o, FREAD).is_ok());
    o.targ_close(a);
    assert!(open(&o, FREAD | FWRITE | FEXCL).is_ok());
}

#[test]
fn close_unknown_minor_is_harmless() {
    let o = new();
    o.targ_close(12345);
    let a = open(&o, FREAD).unwrap();
    o.targ_close(a);
    o.targ_close(a);
    assert_eq!(o.targ_nhandles(), 0);
}

// ---- dispatch (§8.2) ----

#[test]
fn ioctl_without_privilege_is_eperm() {
    let o = new();
    let h = open_varpd(&o);
    let mut u = BufUserIo::new(&[0; 24]);
    assert_eq!(
        o.targ_ioctl(h, OVERLAY_TARG_INFO, &mut u, &Cred::USER),
        Err(Errno::EPERM)
    );
}

#[test]
fn ioctl_unknown_minor_is_enxio() {
    let o = new();
    let mut u = BufUserIo::new(&[0; 24]);
    assert_eq!(
        o.targ_ioctl(7, OVERLAY_TARG_INFO, &mut u, &ROOT),
        Err(Errno::ENXIO)
    );
}

#[test]
fn ioctl_unknown_command_is_enotty() {
    let o = new();
    let h = open_varpd(&o);
    for cmd in [
        0,
        OVERLAY_TARG_IOCTL,
        OVERLAY_TARG_IOCTL | 0x06,
        OVERLAY_TARG_IOCTL | 0x35,
        OVERLAY_IOC_CREATE,
    ] {
        let mut u = BufUserIo::new(&[0; 600]);
        assert_eq!(
            o.targ_ioctl(h, cmd, &mut u, &ROOT),
            Err(Errno::ENOTTY),
            "{cmd:#x}"
        );
    }
}

#[test]
fn write_commands_need_fwrite() {
    let o = new();
    let r = open(&o, FREAD).unwrap();
    for cmd in [
        OVERLAY_TARG_INFO,
        OVERLAY_TARG_ASSOCIATE,
        OVERLAY_TARG_DISASSOCIATE,
        OVERLAY_TARG_DEGRADE,
        OVERLAY_TARG_RESTORE,
        OVERLAY_TARG_RESPOND,
        OVERLAY_TARG_DROP,
        OVERLAY_TARG_INJECT,
        OVERLAY_TARG_PKT,
        OVERLAY_TARG_RESEND,
        OVERLAY_TARG_CACHE_SET,
        OVERLAY_TARG_CACHE_REMOVE,
        OVERLAY_TARG_CACHE_FLUSH,
    ] {
        let mut u = BufUserIo::new(&[0; 300]);
        assert_eq!(
            o.targ_ioctl(r, cmd, &mut u, &ROOT),
            Err(Errno::EBADF),
            "{cmd:#x}"
        );
    }
}

#[test]
fn read_commands_work_read_only() {
    let o = new();
    assert_eq!(create(&o, 1, 1), 0);
    let r = open(&o, FREAD).unwrap();
    let mut u = BufUserIo::new(&0u32.to_ne_bytes());
    assert_eq!(o.targ_ioctl(r, OVERLAY_TARG_LIST, &mut u, &ROOT), Ok(()));
    let c = overlay_targ_cache_t {
        otc_linkid: 1,
        ..Default::default()
    };
    assert_eq!(targ(&o, r, OVERLAY_TARG_CACHE_GET, &c), Err(Errno::ENXIO));
    let lookup_err = targ(
        &o,
        r,
        OVERLAY_TARG_LOOKUP,
        &overlay_targ_lookup_t::default(),
    );
    assert_eq!(lookup_err, Err(Errno::ETIME));
}

#[test]
fn short_argument_is_efault() {
    let o = new();
    let h = open_varpd(&o);
    let mut u = BufUserIo::new(&[0; 23]);
    assert_eq!(
        o.targ_ioctl(h, OVERLAY_TARG_INFO, &mut u, &ROOT),
        Err(Errno::EFAULT)
    );
    let mut u = BufUserIo::new(&[0; 31]);
    assert_eq!(
        o.targ_ioctl(h, OVERLAY_TARG_INJECT, &mut u, &ROOT),
        Err(Errno::EFAULT)
    );
}

#[test]
fn no_copyout_on_error() {
    let o = new();
    let h = open_varpd(&o);
    let i = overlay_targ_info_t {
        oti_linkid: 5,
        oti_needs: 77,
        oti_flags: 77,
        oti_vnetid: 77,
    };
    let mut u = BufUserIo::new(i.as_bytes());
    assert_eq!(
        o.targ_ioctl(h, OVERLAY_TARG_INFO, &mut u, &ROOT),
        Err(Errno::ENOENT)
    );
    assert_eq!(u.arg, i.as_bytes());
}

// ---- INFO ----

#[test]
fn info_reports_needs_flags_vnetid() {
    let o = new();
    let h = open_varpd(&o);
    assert_eq!(create(&o, 1, 23), 0);
    let i = targ(
        &o,
        h,
        OVERLAY_TARG_INFO,
        &overlay_targ_info_t {
            oti_linkid: 1,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!((i.oti_needs, i.oti_flags, i.oti_vnetid), (6, 0, 23));
    set_listen(&o, 1, LISTEN, 4789);
    associate(&o, h, 1, OVERLAY_TARGET_POINT, point(PEER, 4789)).unwrap();
    assert_eq!(activate(&o, 1), 0);
    let mut d = overlay_targ_degrade_t {
        otd_linkid: 1,
        ..Default::default()
    };
    set_cstr(&mut d.otd_buf, b"lost");
    targ(&o, h, OVERLAY_TARG_DEGRADE, &d).unwrap();
    let i = targ(
        &o,
        h,
        OVERLAY_TARG_INFO,
        &overlay_targ_info_t {
            oti_linkid: 1,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        i.oti_flags,
        OVERLAY_TARG_INFO_F_ACTIVE | OVERLAY_TARG_INFO_F_DEGRADED
    );
}

#[test]
fn info_missing_is_enoent() {
    let o = new();
    let h = open_varpd(&o);
    assert_eq!(
        targ(&o, h, OVERLAY_TARG_INFO, &overlay_targ_info_t::default()),
        Err(Errno::ENOENT)
    );
}

// ---- ASSOCIATE / DISASSOCIATE ----

fn assoc(
    linkid: u32,
    mode: u32,
    id: u64,
    provides: u32,
    pt: overlay_target_point_t,
) -> overlay_targ_associate_t {
    overlay_targ_associate_t {
        ota_linkid: linkid,
        ota_mode: mode,
        ota_id: id,
        ota_provides: provides,
        ota_point: pt,
    }
}

#[test]
fn associate_errors() {
    let o = new();
    let h = open_varpd(&o);
    let good = point(PEER, 4789);
    let ipp = OVERLAY_PLUGIN_D_IP | OVERLAY_PLUGIN_D_PORT;
    assert_eq!(
        targ(&o, h, OVERLAY_TARG_ASSOCIATE, &assoc(1, 1, 1, ipp, good)),
        Err(Errno::ENOENT)
    );
    assert_eq!(create(&o, 1, 1), 0);
    assert_eq!(
        targ(&o, h, OVERLAY_TARG_ASSOCIATE, &assoc(1, 1, 0, ipp, good)),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        targ(&o, h, OVERLAY_TARG_ASSOCIATE, &assoc(1, 0, 1, ipp, good)),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        targ(&o, h, OVERLAY_TARG_ASSOCIATE, &assoc(1, 3, 1, ipp, good)),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        targ(
            &o,
            h,
            OVERLAY_TARG_ASSOCIATE,
            &assoc(1, 1, 1, OVERLAY_PLUGIN_D_IP, good)
        ),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        targ(&o, h, OVERLAY_TARG_ASSOCIATE, &assoc(1, 1, 1, 7, good)),
        Err(Errno::EINVAL)
    );
    let unspec = overlay_target_point_t {
        otp_port: 4789,
        ..Default::default()
    };
    assert_eq!(
        targ(&o, h, OVERLAY_TARG_ASSOCIATE, &assoc(1, 1, 1, ipp, unspec)),
        Err(Errno::EINVAL)
    );
    let mut compat = unspec;
    compat.otp_ip.s6_addr[12..].copy_from_slice(&[10, 0, 0, 1]);
    assert_eq!(
        targ(&o, h, OVERLAY_TARG_ASSOCIATE, &assoc(1, 1, 1, ipp, compat)),
        Err(Errno::EINVAL)
    );
    let mapped_any = point([0, 0, 0, 0], 4789);
    assert_eq!(
        targ(
            &o,
            h,
            OVERLAY_TARG_ASSOCIATE,
            &assoc(1, 1, 1, ipp, mapped_any)
        ),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        targ(
            &o,
            h,
            OVERLAY_TARG_ASSOCIATE,
            &assoc(1, 1, 1, ipp, point(PEER, 0))
        ),
        Err(Errno::EINVAL)
    );
    // DYNAMIC ignores the point entirely.
    assert!(targ(&o, h, OVERLAY_TARG_ASSOCIATE, &assoc(1, 2, 1, ipp, unspec)).is_ok());
    assert_eq!(
        targ(&o, h, OVERLAY_TARG_ASSOCIATE, &assoc(1, 1, 1, ipp, good)),
        Err(Errno::EEXIST)
    );
}

#[test]
fn associate_sets_varpd_flag() {
    let o = new();
    let h = open_varpd(&o);
    assert_eq!(create(&o, 1, 1), 0);
    associate(&o, h, 1, OVERLAY_TARGET_POINT, point(PEER, 4789)).unwrap();
    assert_ne!(o.dev_by_linkid(1).unwrap().flags() & OVERLAY_F_VARPD, 0);
    // Not tied to the handle: closing it keeps the association.
    o.targ_close(h);
    assert_ne!(o.dev_by_linkid(1).unwrap().flags() & OVERLAY_F_VARPD, 0);
}

#[test]
fn disassociate_then_reassociate() {
    let o = new();
    let h = open_varpd(&o);
    assert_eq!(
        targ(
            &o,
            h,
            OVERLAY_TARG_DISASSOCIATE,
            &overlay_targ_id_t { otid_linkid: 1 }
        ),
        Err(Errno::ENOENT)
    );
    assert_eq!(create(&o, 1, 1), 0);
    associate(&o, h, 1, OVERLAY_TARGET_DYNAMIC, Default::default()).unwrap();
    targ(
        &o,
        h,
        OVERLAY_TARG_DISASSOCIATE,
        &overlay_targ_id_t { otid_linkid: 1 },
    )
    .unwrap();
    assert_eq!(o.dev_by_linkid(1).unwrap().flags() & OVERLAY_F_VARPD, 0);
    // Cache ioctls now fail ENXIO.
    let c = overlay_targ_cache_t {
        otc_linkid: 1,
        ..Default::default()
    };
    assert_eq!(targ(&o, h, OVERLAY_TARG_CACHE_GET, &c), Err(Errno::ENXIO));
    // §16 #10: a new association replaces the old target safely.
    associate(&o, h, 1, OVERLAY_TARGET_POINT, point(PEER, 4789)).unwrap();
    let g = targ(&o, h, OVERLAY_TARG_CACHE_GET, &c).unwrap();
    assert_eq!(g.otc_entry.otce_dest.otp_port, 4789);
    assert_eq!(delete(&o, 1), 0);
}

#[test]
fn disassociated_started_device_keeps_transmitting() {
    let o = new();
    let h = open_varpd(&o);
    up(&o, h, 1, 1, OVERLAY_TARGET_POINT);
    targ(
        &o,
        h,
        OVERLAY_TARG_DISASSOCIATE,
        &overlay_targ_id_t { otid_linkid: 1 },
    )
    .unwrap();
    tx(&o, 1, frame(DST));
    assert_eq!(o.platform().take_sent().len(), 1);
}

// ---- DEGRADE / RESTORE / FMA (§12) ----

fn degrade(o: &Ovl, h: u32, linkid: u32, msg: &[u8]) -> Result<(), Errno> {
    let mut d = overlay_targ_degrade_t {
        otd_linkid: linkid,
        ..Default::default()
    };
    let n = msg.len().min(256);
    d.otd_buf[..n].copy_from_slice(&msg[..n]);
    targ(o, h, OVERLAY_TARG_DEGRADE, &d).map(|_| ())
}

fn restore(o: &Ovl, h: u32, linkid: u32) -> Result<(), Errno> {
    targ(
        o,
        h,
        OVERLAY_TARG_RESTORE,
        &overlay_targ_id_t {
            otid_linkid: linkid,
        },
    )
    .map(|_| ())
}

fn status(o: &Ovl, linkid: u32) -> overlay_ioc_status_t {
    let (e, out) = dld(
        o,
        OVERLAY_IOC_STATUS,
        &overlay_ioc_status_t {
            ois_linkid: linkid,
            ..Default::default()
        },
    );
    assert_eq!(e, 0);
    overlay_ioc_status_t::from_bytes(&out).unwrap()
}

fn fm_events(o: &Ovl) -> Vec<bool> {
    o.platform()
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::FmImpact(d) => Some(d),
            _ => None,
        })
        .collect()
}

#[test]
fn degrade_restore_status_and_service_impact() {
    let o = new();
    let h = open_varpd(&o);
    assert_eq!(degrade(&o, h, 1, b"x"), Err(Errno::ENOENT));
    assert_eq!(restore(&o, h, 1), Err(Errno::ENOENT));
    assert_eq!(create(&o, 1, 1), 0);
    assert_eq!(create(&o, 2, 2), 0);
    degrade(&o, h, 1, b"no route\0").unwrap();
    let s = status(&o, 1);
    assert_eq!(s.ois_status, OVERLAY_I_DEGRADED);
    assert_eq!(cstr_bytes(&s.ois_message), b"no route");
    // Message refresh while degraded; no second impact report.
    degrade(&o, h, 1, b"still\0").unwrap();
    assert_eq!(cstr_bytes(&status(&o, 1).ois_message), b"still");
    degrade(&o, h, 2, b"b\0").unwrap();
    assert_eq!(o.fm_degraded_count(), 2);
    assert_eq!(fm_events(&o), vec![true]);
    restore(&o, h, 1).unwrap();
    assert_eq!(fm_events(&o), vec![true]);
    assert_eq!(status(&o, 1).ois_status, OVERLAY_I_OK);
    assert_eq!(status(&o, 1).ois_message[0], 0);
    restore(&o, h, 1).unwrap();
    restore(&o, h, 2).unwrap();
    assert_eq!(fm_events(&o), vec![true, false]);
    assert_eq!(o.fm_degraded_count(), 0);
}

#[test]
fn degrade_message_is_bounded() {
    // §16 #13: a full 256-byte buffer without NUL is truncated to 255 + NUL.
    let o = new();
    let h = open_varpd(&o);
    assert_eq!(create(&o, 1, 1), 0);
    degrade(&o, h, 1, &[b'z'; 256]).unwrap();
    let s = status(&o, 1);
    assert_eq!(cstr_bytes(&s.ois_message).len(), 255);
    assert_eq!(s.ois_message[255], 0);
}

#[test]
fn delete_of_degraded_device_restores() {
    // §16 #14: the original left the driver degraded forever.
    let o = new();
    let h = open_varpd(&o);
    assert_eq!(create(&o, 1, 1), 0);
    degrade(&o, h, 1, b"x\0").unwrap();
    assert_eq!(delete(&o, 1), 0);
    assert_eq!(o.fm_degraded_count(), 0);
    assert_eq!(fm_events(&o), vec![true, false]);
}

#[test]
fn degrade_never_touches_link_state() {
    let o = new();
    let h = open_varpd(&o);
    assert_eq!(create(&o, 1, 1), 0);
    degrade(&o, h, 1, b"x\0").unwrap();
    restore(&o, h, 1).unwrap();
    assert!(!o
        .platform()
        .events()
        .iter()
        .any(|e| matches!(e, Event::LinkUpdate(..))));
}

// ---- LOOKUP timing ----

#[test]
fn lookup_times_out_after_one_second() {
    let o = new();
    let h = open_varpd(&o);
    let t = Instant::now();
    assert_eq!(
        targ(
            &o,
            h,
            OVERLAY_TARG_LOOKUP,
            &overlay_targ_lookup_t::default()
        ),
        Err(Errno::ETIME)
    );
    let el = t.elapsed();
    assert!(
        el >= Duration::from_millis(950) && el < Duration::from_secs(3),
        "{el:?}"
    );
}

#[test]
fn lookup_wakes_on_enqueue() {
    let o = new();
    let h = open_varpd(&o);
    up(&o, h, 1, 1, OVERLAY_TARGET_DYNAMIC);
    let o2 = o.clone();
    let th = std::thread::spawn(move || {
        let t = Instant::now();
        let r = targ(
            &o2,
            h,
            OVERLAY_TARG_LOOKUP,
            &overlay_targ_lookup_t::default(),
        );
        (r, t.elapsed())
    });
    std::thread::sleep(Duration::from_millis(100));
    tx(&o, 1, frame(DST));
    let (r, el) = th.join().unwrap();
    let l = r.unwrap();
    assert_eq!(l.otl_dstaddr, DST);
    assert!(el < Duration::from_millis(900), "{el:?}");
}

// ---- LIST ----

fn list(o: &Ovl, h: u32, n: u32, fill: u32) -> Result<Vec<u32>, Errno> {
    let mut arg = n.to_ne_bytes().to_vec();
    for _ in 0..n {
        arg.extend_from_slice(&fill.to_ne_bytes());
    }
    let mut u = BufUserIo::new(&arg);
    o.targ_ioctl(h, OVERLAY_TARG_LIST, &mut u, &ROOT)?;
    Ok(u.arg
        .chunks(4)
        .map(|c| u32::from_ne_bytes(c.try_into().unwrap()))
        .collect())
}

#[test]
fn list_counts_and_fills() {
    let o = new();
    let h = open_varpd(&o);
    assert_eq!(list(&o, h, 0, 0).unwrap(), vec![0]);
    for (l, v) in [(30, 1), (10, 2), (20, 3)] {
        assert_eq!(create(&o, l, v), 0);
    }
    assert_eq!(list(&o, h, 0, 0).unwrap(), vec![3]);
    assert_eq!(list(&o, h, 2, 9).unwrap(), vec![3, 30, 10]);
    assert_eq!(list(&o, h, 5, 9).unwrap(), vec![3, 30, 10, 20, 9, 9]);
    assert_eq!(delete(&o, 10), 0);
    assert_eq!(list(&o, h, 3, 0).unwrap(), vec![2, 30, 20, 0]);
}

#[test]
fn list_limits() {
    let o = new();
    let h = open_varpd(&o);
    let mut u = BufUserIo::new(&536_870_911u32.to_ne_bytes());
    assert_eq!(
        o.targ_ioctl(h, OVERLAY_TARG_LIST, &mut u, &ROOT),
        Err(Errno::EINVAL)
    );
    let mut u = BufUserIo::new(&u32::MAX.to_ne_bytes());
    assert_eq!(
        o.targ_ioctl(h, OVERLAY_TARG_LIST, &mut u, &ROOT),
        Err(Errno::EINVAL)
    );
    // N slots promised but missing: EFAULT (with and without a length hint).
    let mut u = BufUserIo::new(&4u32.to_ne_bytes());
    assert_eq!(
        o.targ_ioctl(h, OVERLAY_TARG_LIST, &mut u, &ROOT),
        Err(Errno::EFAULT)
    );
    let mut u = BufUserIo::new(&4u32.to_ne_bytes());
    u.hint = false;
    assert_eq!(
        o.targ_ioctl(h, OVERLAY_TARG_LIST, &mut u, &ROOT),
        Err(Errno::EFAULT)
    );
    let mut u = BufUserIo::new(&[1, 0]);
    assert_eq!(
        o.targ_ioctl(h, OVERLAY_TARG_LIST, &mut u, &ROOT),
        Err(Errno::EFAULT)
    );
}

// ---- a UserIo that counts, to prove copy-out happens only on success ----

struct Counting(BufUserIo, usize);
impl UserIo for Counting {
    fn copyin_arg(&mut self, off: usize, dst: &mut [u8]) -> Result<(), Errno> {
        self.0.copyin_arg(off, dst)
    }
    fn copyout_arg(&mut self, off: usize, src: &[u8]) -> Result<(), Errno> {
        self.1 += 1;
        self.0.copyout_arg(off, src)
    }
    fn copyin_buf(&mut self, a: u64, dst: &mut [u8]) -> Result<(), Errno> {
        self.0.copyin_buf(a, dst)
    }
    fn copyout_buf(&mut self, a: u64, src: &[u8]) -> Result<(), Errno> {
        self.0.copyout_buf(a, src)
    }
}

#[test]
fn copyout_only_for_copyout_commands() {
    let o = new();
    let h = open_varpd(&o);
    assert_eq!(create(&o, 1, 1), 0);
    let a = assoc(1, 2, 9, 6, Default::default());
    let mut u = Counting(BufUserIo::new(a.as_bytes()), 0);
    o.targ_ioctl(h, OVERLAY_TARG_ASSOCIATE, &mut u, &ROOT)
        .unwrap();
    assert_eq!(u.1, 0);
    let mut u = Counting(
        BufUserIo::new(
            overlay_targ_info_t {
                oti_linkid: 1,
                ..Default::default()
            }
            .as_bytes(),
        ),
        0,
    );
    o.targ_ioctl(h, OVERLAY_TARG_INFO, &mut u, &ROOT).unwrap();
    assert_eq!(u.1, 1);
}

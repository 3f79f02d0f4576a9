//! Head-end replication (extension): OVERLAY_TARG_FLOOD_SET's validation,
//! group frames replicated to every listed VTEP without a lookup, unknown
//! unicast replicated when varpd answers DROP, known unicast to one VTEP,
//! and the illumos behaviour without a list.
mod common;
use common::*;
use overlay::sys::*;
use overlay::{BufUserIo, Errno, SockaddrIn6};

const VTEPS: [[u8; 4]; 3] = [[10, 0, 0, 2], [10, 0, 0, 3], [10, 0, 0, 4]];

fn flood_arg(linkid: u32, pts: &[overlay_target_point_t]) -> Vec<u8> {
    let mut b = overlay_targ_flood_t {
        otf_linkid: linkid,
        otf_count: pts.len() as u32,
    }
    .as_bytes()
    .to_vec();
    for p in pts {
        b.extend_from_slice(p.as_bytes());
    }
    b
}

fn flood_set(
    o: &Ovl,
    minor: u32,
    linkid: u32,
    pts: &[overlay_target_point_t],
) -> Result<(), Errno> {
    let mut u = BufUserIo::new(&flood_arg(linkid, pts));
    o.targ_ioctl(minor, OVERLAY_TARG_FLOOD_SET, &mut u, &ROOT)
}

fn vteps() -> Vec<overlay_target_point_t> {
    VTEPS.iter().map(|ip| point(*ip, 4789)).collect()
}

fn dsts(o: &Ovl) -> Vec<SockaddrIn6> {
    o.platform()
        .take_sent()
        .into_iter()
        .map(|(d, _)| d)
        .collect()
}

fn want(ips: &[[u8; 4]]) -> Vec<SockaddrIn6> {
    ips.iter()
        .map(|ip| SockaddrIn6::new(v4(*ip), 4789))
        .collect()
}

fn dynamic() -> (Ovl, u32) {
    let o = new();
    let h = open_varpd(&o);
    up(&o, h, 1, 23, OVERLAY_TARGET_DYNAMIC);
    (o, h)
}

#[test]
fn flood_set_validation() {
    let (o, h) = dynamic();
    let ro = open(&o, FREAD).unwrap();
    assert_eq!(flood_set(&o, ro, 1, &vteps()), Err(Errno::EBADF));
    assert_eq!(flood_set(&o, h, 9, &vteps()), Err(Errno::ENOENT));
    let many: Vec<_> = (0..65u16).map(|i| point([10, 1, 0, 1], 1000 + i)).collect();
    assert_eq!(flood_set(&o, h, 1, &many), Err(Errno::EINVAL));
    assert_eq!(flood_set(&o, h, 1, &many[..64]), Ok(()));
    assert_eq!(o.dev_by_linkid(1).unwrap().flood_len(), 64);
    for bad in [
        point([0, 0, 0, 0], 4789),
        point([224, 0, 0, 1], 4789),
        point([10, 0, 0, 2], 0),
        overlay_target_point_t::default(),
    ] {
        assert_eq!(flood_set(&o, h, 1, &[bad]), Err(Errno::EINVAL), "{bad:?}");
    }
    let dup = [point([10, 0, 0, 2], 4789), point([10, 0, 0, 2], 4789)];
    assert_eq!(flood_set(&o, h, 1, &dup), Err(Errno::EINVAL));
    assert_eq!(
        o.dev_by_linkid(1).unwrap().flood_len(),
        64,
        "a refused list leaves the old one"
    );
    // A short argument: the header claims more than was given.
    let mut a = flood_arg(1, &vteps());
    a.truncate(8 + 28 * 2);
    let mut u = BufUserIo::new(&a);
    assert_eq!(
        o.targ_ioctl(h, OVERLAY_TARG_FLOOD_SET, &mut u, &ROOT),
        Err(Errno::EFAULT)
    );
    assert_eq!(flood_set(&o, h, 1, &[]), Ok(()));
    assert_eq!(o.dev_by_linkid(1).unwrap().flood_len(), 0, "0 clears");
    assert_eq!(
        targ_ioc_name(OVERLAY_TARG_FLOOD_SET),
        Some("OVERLAY_TARG_FLOOD_SET")
    );
    assert_eq!(
        OVERLAY_TARG_FLOOD_SET, 0x6f767480,
        "outside illumos' 0x01-0x34"
    );
}

#[test]
fn broadcast_and_multicast_go_to_every_vtep_without_lookup() {
    let (o, h) = dynamic();
    flood_set(&o, h, 1, &vteps()).unwrap();
    tx(&o, 1, frame([0xff; 6]));
    tx(&o, 1, frame([0x01, 0x00, 0x5e, 0, 0, 1]));
    tx(&o, 1, frame([0x33, 0x33, 0, 0, 0, 1]));
    let sent = o.platform().take_sent();
    assert_eq!(sent.len(), 9);
    for (i, (d, p)) in sent.iter().enumerate() {
        assert_eq!(*d, want(&VTEPS)[i % 3]);
        assert_eq!(&p[..8], &[8, 0, 0, 0, 0, 0, 23, 0], "VXLAN header, VNI 23");
        assert_eq!(p.len(), 8 + 98);
    }
    assert_eq!(o.targ_npending(), 0, "no lookup for group frames");
    let s = o.dev_by_linkid(1).unwrap().stats();
    assert_eq!(
        (s.tx_flood_frames, s.tx_flood_copies, s.tx_flood_drops),
        (3, 9, 0)
    );
    assert_eq!(o.dev_by_linkid(1).unwrap().cache_entries(), 0);
}

#[test]
fn without_a_list_broadcast_is_looked_up_as_illumos() {
    let (o, _h) = dynamic();
    tx(&o, 1, frame([0xff; 6]));
    assert!(o.platform().take_sent().is_empty());
    assert_eq!(o.targ_npending(), 1);
    assert_eq!(o.dev_by_linkid(1).unwrap().stats().tx_flood_frames, 0);
}

fn lookup(o: &Ovl, h: u32) -> overlay_targ_lookup_t {
    targ(o, h, OVERLAY_TARG_LOOKUP, &overlay_targ_lookup_t::default()).unwrap()
}

fn drop_req(o: &Ovl, h: u32, reqid: u64) {
    let r = overlay_targ_resp_t {
        otr_reqid: reqid,
        ..Default::default()
    };
    targ(o, h, OVERLAY_TARG_DROP, &r).unwrap();
}

#[test]
fn unknown_unicast_floods_on_drop_known_goes_to_one() {
    let (o, h) = dynamic();
    flood_set(&o, h, 1, &vteps()).unwrap();
    let unknown = [2, 0, 0, 0, 0, 0x99];
    for _ in 0..10 {
        tx(&o, 1, frame(unknown));
    }
    assert!(o.platform().take_sent().is_empty(), "queued for varpd");
    // varpd does not know the MAC: each DROP floods one frame and asks
    // again while frames remain.
    for _ in 0..10 {
        let l = lookup(&o, h);
        assert_eq!(l.otl_dstaddr, unknown);
        drop_req(&o, h, l.otl_reqid);
    }
    assert_eq!(o.targ_npending(), 0);
    let d = dsts(&o);
    assert_eq!(d.len(), 30, "10 frames × 3 VTEPs");
    for ip in want(&VTEPS) {
        assert_eq!(d.iter().filter(|x| **x == ip).count(), 10);
    }
    // A MAC varpd knows (CACHE_SET) goes to its VTEP only.
    let known = [2, 0, 0, 0, 0, 0x42];
    let c = overlay_targ_cache_t {
        otc_linkid: 1,
        otc_entry: overlay_targ_cache_entry_t {
            otce_mac: known,
            otce_flags: 0,
            otce_dest: point(VTEPS[1], 4789),
        },
    };
    targ(&o, h, OVERLAY_TARG_CACHE_SET, &c).unwrap();
    for _ in 0..5 {
        tx(&o, 1, frame(known));
    }
    assert_eq!(dsts(&o), want(&[VTEPS[1]; 5]));
    // A MAC varpd marked DROP still drops.
    let c = overlay_targ_cache_t {
        otc_linkid: 1,
        otc_entry: overlay_targ_cache_entry_t {
            otce_mac: [2, 0, 0, 0, 0, 0x43],
            otce_flags: OVERLAY_TARGET_CACHE_DROP,
            ..Default::default()
        },
    };
    targ(&o, h, OVERLAY_TARG_CACHE_SET, &c).unwrap();
    tx(&o, 1, frame([2, 0, 0, 0, 0, 0x43]));
    assert!(dsts(&o).is_empty());
    let s = o.dev_by_linkid(1).unwrap().stats();
    assert_eq!((s.tx_flood_frames, s.tx_flood_copies), (10, 30));
}

#[test]
fn drop_without_a_list_discards() {
    let (o, h) = dynamic();
    tx(&o, 1, frame([2, 0, 0, 0, 0, 0x99]));
    let l = lookup(&o, h);
    drop_req(&o, h, l.otl_reqid);
    assert!(o.platform().take_sent().is_empty());
}

#[test]
fn point_mode_ignores_the_list_and_stopped_device_sends_nothing() {
    let o = new();
    let h = open_varpd(&o);
    up(&o, h, 1, 23, OVERLAY_TARGET_POINT);
    flood_set(&o, h, 1, &vteps()).unwrap();
    tx(&o, 1, frame([0xff; 6]));
    assert_eq!(dsts(&o), want(&[PEER]));
    // Stopped: a flood from a DROP answer sends nothing.
    let (o, h) = dynamic();
    flood_set(&o, h, 1, &vteps()).unwrap();
    tx(&o, 1, frame([2, 0, 0, 0, 0, 0x99]));
    let l = lookup(&o, h);
    o.dev_by_linkid(1).unwrap().m_stop();
    drop_req(&o, h, l.otl_reqid);
    assert!(o.platform().take_sent().is_empty());
}

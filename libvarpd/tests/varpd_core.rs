//! libvarpd's core against a model of the kernel's `/dev/overlay`
//! (`varpd_model`): the door envelope and every error of
//! spec/userland.md §1.3, the kernel call order of §6.5, properties and
//! the target cache over the door.

mod varpd_model;

use std::net::Ipv6Addr;

use libvarpd::client::CacheEntry;
use libvarpd::door::abi::*;
use libvarpd::door::server::dispatch;
use libvarpd::door::transport::Cred;
use libvarpd::ksys::{self, TargAssociate, TargCacheEntry};
use libvarpd::Errno;
use varpd_model::*;

// ---------------------------------------------------------------------------
// The envelope.

#[test]
fn short_request_gets_eresp_einval() {
    let f = fixture("short");
    for n in [0, 1, 8, 615] {
        let r = dispatch(&f.vh, &vec![0u8; n], &ROOT);
        assert_eq!(r, eresp(22), "size {n}");
    }
}

#[test]
fn invalid_commands_get_eresp_einval() {
    let f = fixture("inval");
    for cmd in [0u32, 15, 16, 0xffff_ffff] {
        let mut b = vec![0u8; 616];
        b[0..4].copy_from_slice(&cmd.to_ne_bytes());
        let r = dispatch(&f.vh, &b, &ROOT);
        assert_eq!(r.len(), 8);
        assert_eq!(vca_errno(&r), 22);
    }
}

#[test]
fn reply_is_the_whole_envelope() {
    let f = fixture("whole");
    let mut b = envelope(Command::Lookup);
    b[600] = 0x5a;
    let r = dispatch(&f.vh, &b, &ROOT);
    assert_eq!(r.len(), 616);
    assert_eq!(r[600], 0x5a);
    assert_eq!(vca_errno(&r), Errno::ENOENT.0 as u32);
}

// ---------------------------------------------------------------------------
// Every command's errors.

#[test]
fn create_errors() {
    let f = fixture("create");
    assert_eq!(create(&f, 5, "nosuch", &ROOT).0, Errno::ENOENT.0 as u32);
    assert_eq!(create(&f, 99, "direct", &ROOT).0, Errno::ENOENT.0 as u32);
    assert_eq!(create(&f, 5, "direct", &USER).0, Errno::EPERM.0 as u32);
    let (e, id) = create(&f, 5, "direct", &ROOT);
    assert_eq!((e, id), (0, 1));
    assert_eq!(create(&f, 5, "files", &ROOT).0, Errno::EEXIST.0 as u32);
    let (e, id2) = create(&f, 6, "files", &ROOT);
    assert_eq!((e, id2), (0, 2));
    // Over-long plugin names are cut at 63 bytes by the server.
    let mut b = envelope(Command::Create);
    b[VCA_UN + 16..VCA_UN + 80].fill(b'd');
    assert_eq!(call(&f, &mut b, &ROOT), Errno::ENOENT.0 as u32);
}

#[test]
fn activate_destroy_errors_and_order() {
    let f = fixture("activate");
    assert_eq!(
        inst_cmd(&f, Command::Activate, 77, &ROOT),
        Errno::ENOENT.0 as u32
    );
    assert_eq!(
        inst_cmd(&f, Command::Destroy, 77, &ROOT),
        Errno::ENOENT.0 as u32
    );
    let (_, id) = create(&f, 5, "direct", &ROOT);
    // Required properties missing: the plugin's start says EAGAIN.
    assert_eq!(
        inst_cmd(&f, Command::Activate, id, &ROOT),
        Errno::EAGAIN.0 as u32
    );
    assert!(!f.dir.join(format!("{id}.varpd")).exists());
    assert_eq!(
        setprop(&f, id, "direct/dest_ip", &v4([10, 0, 0, 1]), &ROOT),
        0
    );
    assert_eq!(
        setprop(&f, id, "direct/dest_port", &4789u64.to_ne_bytes(), &ROOT),
        0
    );
    assert_eq!(
        inst_cmd(&f, Command::Activate, id, &USER),
        Errno::EPERM.0 as u32
    );
    let before = f.k.log().len();
    assert_eq!(inst_cmd(&f, Command::Activate, id, &ROOT), 0);
    assert_eq!(&f.k.log()[before..], &[ksys::OVERLAY_TARG_ASSOCIATE]);
    let a = f.k.ov(5).assoc.unwrap();
    assert_eq!(a.mode, ksys::OVERLAY_TARGET_POINT);
    assert_eq!(a.id, id);
    assert_eq!(a.point.ip.octets(), v4([10, 0, 0, 1]));
    assert_eq!(a.point.port, 4789);
    assert!(f.dir.join(format!("{id}.varpd")).exists());
    assert_eq!(
        inst_cmd(&f, Command::Activate, id, &ROOT),
        Errno::EEXIST.0 as u32
    );
    // Properties are frozen once activated (§12 #5).
    assert_eq!(
        setprop(&f, id, "direct/dest_port", &1u64.to_ne_bytes(), &ROOT),
        Errno::EBUSY.0 as u32
    );
    assert_eq!(
        inst_cmd(&f, Command::Destroy, id, &USER),
        Errno::EPERM.0 as u32
    );
    assert_eq!(inst_cmd(&f, Command::Destroy, id, &ROOT), 0);
    assert!(!f.dir.join(format!("{id}.varpd")).exists());
    assert_eq!(
        inst_cmd(&f, Command::Destroy, id, &ROOT),
        Errno::ENOENT.0 as u32
    );
}

#[test]
fn activate_associate_failure_is_undone() {
    let f = fixture("assocfail");
    // Someone else already associated the overlay.
    f.k.m.lock().unwrap().ovs.get_mut(&5).unwrap().assoc = Some(TargAssociate::default());
    let (_, id) = create(&f, 5, "direct", &ROOT);
    assert_eq!(
        setprop(&f, id, "direct/dest_ip", &v4([10, 0, 0, 1]), &ROOT),
        0
    );
    assert_eq!(
        setprop(&f, id, "direct/dest_port", &4789u64.to_ne_bytes(), &ROOT),
        0
    );
    assert_eq!(
        inst_cmd(&f, Command::Activate, id, &ROOT),
        Errno::EEXIST.0 as u32
    );
    assert!(!f.dir.join(format!("{id}.varpd")).exists());
    // Not activated: properties may still change.
    assert_eq!(
        setprop(&f, id, "direct/dest_port", &1u64.to_ne_bytes(), &ROOT),
        0
    );
}

#[test]
fn props_over_the_door() {
    let f = fixture("props");
    let (_, id) = create(&f, 5, "direct", &ROOT);
    let mut b = envelope(Command::Nprops);
    NpropsArg { id, nprops: 0 }.encode(&mut b[VCA_UN..]);
    assert_eq!(call(&f, &mut b, &ROOT), 0);
    assert_eq!(NpropsArg::decode(&b[VCA_UN..]).nprops, 3);
    let mut b = envelope(Command::Nprops);
    NpropsArg { id: 99, nprops: 0 }.encode(&mut b[VCA_UN..]);
    assert_eq!(call(&f, &mut b, &ROOT), Errno::ENOENT.0 as u32);

    // search: propid 0, STRING, READ, possible values = every plugin.
    let mut b = envelope(Command::Propinfo);
    PropinfoArg {
        id,
        propid: 0,
        ..Default::default()
    }
    .encode(&mut b[VCA_UN..]);
    assert_eq!(call(&f, &mut b, &USER), 0);
    let pi = PropinfoArg::decode(&b[VCA_UN..]);
    assert_eq!(pi.name, "search");
    assert_eq!((pi.ptype, pi.prot, pi.defsize), (4, 2, 0));
    assert_eq!(pi.psize, 16 + 7 + 6);
    assert_eq!(&pi.poss[12..25], b"direct\0files\0");

    // By name, and unknown names / ids.
    let mut b = envelope(Command::Propinfo);
    PropinfoArg {
        id,
        propid: PROPID_BY_NAME,
        name: "direct/dest_port".into(),
        ..Default::default()
    }
    .encode(&mut b[VCA_UN..]);
    assert_eq!(call(&f, &mut b, &ROOT), 0);
    let pi = PropinfoArg::decode(&b[VCA_UN..]);
    assert_eq!(pi.name, "direct/dest_port");
    assert!(pi.propid >= 1);
    let mut b = envelope(Command::Propinfo);
    PropinfoArg {
        id,
        propid: PROPID_BY_NAME,
        name: "nope".into(),
        ..Default::default()
    }
    .encode(&mut b[VCA_UN..]);
    assert_eq!(call(&f, &mut b, &ROOT), Errno::ENOENT.0 as u32);
    let mut b = envelope(Command::Propinfo);
    PropinfoArg {
        id,
        propid: 40,
        ..Default::default()
    }
    .encode(&mut b[VCA_UN..]);
    assert_eq!(call(&f, &mut b, &ROOT), Errno::EINVAL.0 as u32);

    // GETPROP of search returns the plugin name; unset plugin props are 0
    // bytes; SETPROP of search is EPERM; unprivileged SETPROP is EPERM.
    let mut b = envelope(Command::Getprop);
    PropArg {
        id,
        propid: 0,
        ..Default::default()
    }
    .encode(&mut b[VCA_UN..]);
    assert_eq!(call(&f, &mut b, &USER), 0);
    let pa = PropArg::decode(&b[VCA_UN..]);
    assert_eq!(&pa.buf[..pa.bufsize as usize], b"direct\0");
    assert_eq!(
        setprop(&f, id, "search", b"files\0", &ROOT),
        Errno::EPERM.0 as u32
    );
    assert_eq!(
        setprop(&f, id, "direct/dest_port", &4789u64.to_ne_bytes(), &USER),
        Errno::EPERM.0 as u32
    );
    assert_eq!(
        setprop(&f, id, "direct/dest_port", &[1, 2], &ROOT),
        Errno::EOVERFLOW.0 as u32
    );
    let mut b = envelope(Command::Setprop);
    PropArg {
        id,
        propid: 2,
        bufsize: 300,
        ..Default::default()
    }
    .encode(&mut b[VCA_UN..]);
    assert_eq!(call(&f, &mut b, &ROOT), Errno::EOVERFLOW.0 as u32);
}

#[test]
fn lookup_and_target_mode() {
    let f = fixture("lookup");
    let (_, id) = create(&f, 6, "files", &ROOT);
    let mut b = envelope(Command::Lookup);
    LookupArg { linkid: 6, id: 0 }.encode(&mut b[VCA_UN..]);
    assert_eq!(call(&f, &mut b, &USER), 0);
    assert_eq!(LookupArg::decode(&b[VCA_UN..]).id, id);
    let mut b = envelope(Command::Lookup);
    LookupArg { linkid: 5, id: 0 }.encode(&mut b[VCA_UN..]);
    assert_eq!(call(&f, &mut b, &USER), Errno::ENOENT.0 as u32);
    let mut b = envelope(Command::TargetMode);
    TargetModeArg {
        id,
        ..Default::default()
    }
    .encode(&mut b[VCA_UN..]);
    assert_eq!(call(&f, &mut b, &USER), 0);
    let tm = TargetModeArg::decode(&b[VCA_UN..]);
    assert_eq!((tm.dest, tm.mode), (6, 2));
    let mut b = envelope(Command::TargetMode);
    TargetModeArg {
        id: 42,
        ..Default::default()
    }
    .encode(&mut b[VCA_UN..]);
    assert_eq!(call(&f, &mut b, &USER), Errno::ENOENT.0 as u32);
}

fn cache(
    f: &Fixture,
    cmd: Command,
    id: u64,
    key: [u8; 6],
    entry: CacheEntry,
    cred: &Cred,
) -> (u32, CacheEntry) {
    let mut b = envelope(cmd);
    TargetCacheArg { id, key, entry }.encode(&mut b[VCA_UN..]);
    let e = call(f, &mut b, cred);
    (e, TargetCacheArg::decode(&b[VCA_UN..]).entry)
}

#[test]
fn cache_commands() {
    let f = fixture("cache");
    let id = direct_up(&f, 5);
    let ent = CacheEntry {
        mac: [0; 6],
        flags: 0,
        ip: Ipv6Addr::from(v4([10, 1, 1, 1])),
        port: 4789,
    };
    let key = [2, 8, 32, 1, 2, 3];
    assert_eq!(
        cache(&f, Command::CacheSet, id, key, ent, &USER).0,
        Errno::EPERM.0 as u32
    );
    assert_eq!(cache(&f, Command::CacheSet, id, key, ent, &ROOT).0, 0);
    let (e, got) = cache(&f, Command::CacheGet, id, key, CacheEntry::default(), &USER);
    assert_eq!((e, got), (0, ent));
    assert_eq!(
        cache(&f, Command::CacheGet, 99, key, ent, &ROOT).0,
        Errno::ENOENT.0 as u32
    );
    assert_eq!(
        cache(&f, Command::CacheDelete, id, key, ent, &USER).0,
        Errno::EPERM.0 as u32
    );
    assert_eq!(cache(&f, Command::CacheDelete, id, key, ent, &ROOT).0, 0);
    assert_eq!(
        cache(&f, Command::CacheGet, id, key, ent, &ROOT).0,
        Errno::ENOENT.0 as u32
    );
    assert_eq!(
        cache(&f, Command::CacheFlush, id, key, ent, &USER).0,
        Errno::EPERM.0 as u32
    );
    assert_eq!(cache(&f, Command::CacheFlush, id, key, ent, &ROOT).0, 0);
    // Kernel errors pass through: not associated is ENXIO.
    let (_, id2) = create(&f, 6, "files", &ROOT);
    assert_eq!(
        cache(&f, Command::CacheGet, id2, key, ent, &ROOT).0,
        Errno::ENXIO.0 as u32
    );
}

#[test]
fn cache_walk_limits_and_sizes() {
    let f = fixture("walk");
    let id = direct_up(&f, 5);
    {
        let mut m = f.k.m.lock().unwrap();
        let ov = m.ovs.get_mut(&5).unwrap();
        for i in 0..250u16 {
            let mac = [2, 0, 0, 0, (i >> 8) as u8, i as u8];
            ov.cache.insert(
                mac,
                TargCacheEntry {
                    mac,
                    flags: 0,
                    dest: Default::default(),
                },
            );
        }
    }
    let mut b = vec![0u8; WalkArg::request_size(201)];
    b[0..4].copy_from_slice(&(Command::CacheWalk as u32).to_ne_bytes());
    WalkArg {
        id,
        marker: 0,
        count: 201,
    }
    .encode(&mut b[VCA_UN..]);
    assert_eq!(call(&f, &mut b, &ROOT), Errno::E2BIG.0 as u32);
    // A C client's short buffer (3416 bytes for 100) gets only what fits.
    let mut b = vec![0u8; 616 + 100 * 28];
    b[0..4].copy_from_slice(&(Command::CacheWalk as u32).to_ne_bytes());
    WalkArg {
        id,
        marker: 0,
        count: 100,
    }
    .encode(&mut b[VCA_UN..]);
    let r = dispatch(&f.vh, &b, &ROOT);
    assert_eq!(r.len(), b.len());
    let w = WalkArg::decode(&r[VCA_UN..]);
    assert_eq!(w.count, ((3416 - 32) / 36) as u64);
    assert_eq!(w.marker, w.count);
}

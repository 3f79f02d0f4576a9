//! libvarpd's core against a model of the kernel's `/dev/overlay`
//! (`varpd_model`): instance ids, persistence and restore (§6.8), the
//! lookup loop, the client API over a real socket, and door fuzzing.

mod varpd_model;

use std::net::Ipv6Addr;
use std::sync::Arc;

use libvarpd::client::{CacheEntry, Client};
use libvarpd::door::abi::*;
use libvarpd::door::server::dispatch;
use libvarpd::door::transport::{Cred, DoorServer, Handler};
use libvarpd::ksys::{self, TargLookup};
use libvarpd::Errno;
use varpd_model::*;

// ---------------------------------------------------------------------------
// Instances, persistence and restore.

#[test]
fn ids_are_sequential_and_not_reused_immediately() {
    let f = fixture("ids");
    let a = f.vh.instance_create(5, "direct").unwrap().id;
    f.vh.instance_destroy(a).unwrap();
    let b = f.vh.instance_create(5, "direct").unwrap().id;
    assert_eq!((a, b), (1, 2));
    assert_eq!(f.vh.instance_by_linkid(5).unwrap().id, 2);
}

#[test]
fn restore_same_ids_and_degrade() {
    let f = fixture("restore");
    f.k.add(7, 25);
    let id = direct_up(&f, 5);
    let (_, id2) = create(&f, 6, "files", &ROOT);
    assert!(id2 > id);
    // varpd "crashes": the kernel keeps the association and is degraded.
    f.k.m.lock().unwrap().ovs.get_mut(&5).unwrap().degraded = Some("x".into());
    f.k.m.lock().unwrap().ovs.get_mut(&5).unwrap().active = true;
    // Junk in the state directory is discarded.
    std::fs::write(
        f.dir.join("99.varpd"),
        b"garbage that is long enough to pass the size",
    )
    .unwrap();
    let mut stale = std::fs::read(f.dir.join(format!("{id}.varpd"))).unwrap();
    std::fs::write(f.dir.join("3.varpd"), &stale).unwrap(); // id mismatch
    stale.clear();

    let vh2 = varpd_on(f.k.clone(), &f.dir);
    let restored = vh2.persist_restore().unwrap();
    assert_eq!(restored, vec![id]);
    let inst = vh2.instance(id).unwrap();
    assert!(inst.is_activated());
    assert_eq!(inst.linkid, 5);
    let ov = f.k.ov(5);
    assert_eq!(ov.assoc.unwrap().id, id);
    assert_eq!(ov.degraded, None);
    assert!(!f.dir.join("99.varpd").exists());
    assert!(!f.dir.join("3.varpd").exists());
    assert!(f.dir.join(format!("{id}.varpd")).exists());
    // Overlays 6 (instance never activated) and 7 have no instance now.
    assert_eq!(
        f.k.ov(6).degraded.as_deref(),
        Some("no varpd instance exists")
    );
    assert_eq!(
        f.k.ov(7).degraded.as_deref(),
        Some("no varpd instance exists")
    );
    // A new instance does not take a restored id.
    assert!(vh2.instance_create(6, "files").unwrap().id != id);
}

#[test]
fn restore_discards_files_for_vanished_overlays() {
    let f = fixture("vanished");
    let id = direct_up(&f, 5);
    f.k.m.lock().unwrap().ovs.remove(&5);
    let vh2 = varpd_on(f.k.clone(), &f.dir);
    assert!(vh2.persist_restore().unwrap().is_empty());
    assert!(!f.dir.join(format!("{id}.varpd")).exists());
}

// ---------------------------------------------------------------------------
// The lookup loop.

#[test]
fn lookups_dispatch_or_drop() {
    let f = fixture("lookups");
    // No instance with varpd id 77: dropped.
    f.k.m.lock().unwrap().lookups.push(TargLookup {
        reqid: 1,
        varpdid: 77,
        ..Default::default()
    });
    f.vh.lookup_handle_one();
    assert_eq!(
        f.k.m.lock().unwrap().responses,
        vec![(ksys::OVERLAY_TARG_DROP, 1)]
    );
    // Nothing queued: ETIME, no reply.
    f.vh.lookup_handle_one();
    assert_eq!(f.k.m.lock().unwrap().responses.len(), 1);
    assert_eq!(
        f.vh.stats
            .no_instance
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

// ---------------------------------------------------------------------------
// The client API over the Linux socket transport.

#[test]
fn client_over_socket() {
    let f = fixture("client");
    let door = f.dir.join("varpd.door");
    let vh = f.vh.clone();
    let h: Arc<Handler> = Arc::new(move |req: &[u8], cred: &Cred| dispatch(&vh, req, cred));
    let srv = DoorServer::create(&door, h).unwrap();
    let c = Client::open(&door).unwrap();
    assert_eq!(c.instance_create(5, &"x".repeat(64)), Err(Errno::EINVAL));
    assert_eq!(c.instance_create(5, "nosuch"), Err(Errno::ENOENT));
    let id = c.instance_create(5, "direct").unwrap();
    assert_eq!(c.instance_lookup(5), Ok(id));
    assert_eq!(c.prop_nprops(id), Ok(3));
    let pi = c.prop_info_by_name(id, "direct/dest_ip").unwrap();
    assert_eq!(pi.ptype, 3);
    assert_eq!(c.prop_get(id, pi.propid), Ok(vec![]));
    assert_eq!(c.prop_set(id, pi.propid, &[]), Err(Errno::EINVAL));
    assert_eq!(c.prop_set(id, pi.propid, &[0; 257]), Err(Errno::EOVERFLOW));
    c.prop_set(id, pi.propid, &v4([10, 9, 8, 7])).unwrap();
    assert_eq!(
        c.prop_get(id, pi.propid).unwrap(),
        v4([10, 9, 8, 7]).to_vec()
    );
    let port = c.prop_info_by_name(id, "direct/dest_port").unwrap();
    c.prop_set(id, port.propid, &4789u64.to_ne_bytes()).unwrap();
    assert_eq!(c.prop_info(id, 0).unwrap().name, "search");
    assert_eq!(c.prop_get(id, 0).unwrap(), b"direct\0");
    c.instance_activate(id).unwrap();
    assert_eq!(c.instance_target_mode(id), Ok((6, 1)));
    let e = CacheEntry {
        mac: [0; 6],
        flags: 1,
        ip: Ipv6Addr::LOCALHOST,
        port: 7,
    };
    for i in 0..230u8 {
        c.cache_set(id, [2, 0, 0, 0, 0, i], &e).unwrap();
    }
    assert_eq!(c.cache_get(id, [2, 0, 0, 0, 0, 3]), Ok(e));
    let mut seen = Vec::new();
    c.cache_walk(id, |k, ent| {
        assert_eq!(*ent, e);
        seen.push(k);
        true
    })
    .unwrap();
    assert_eq!(seen.len(), 230);
    let mut n = 0;
    c.cache_walk(id, |_, _| {
        n += 1;
        n < 5
    })
    .unwrap();
    assert_eq!(n, 5);
    c.cache_delete(id, [2, 0, 0, 0, 0, 3]).unwrap();
    assert_eq!(c.cache_get(id, [2, 0, 0, 0, 0, 3]), Err(Errno::ENOENT));
    c.cache_flush(id).unwrap();
    c.instance_destroy(id).unwrap();
    assert_eq!(c.instance_destroy(id), Err(Errno::ENOENT));
    drop(c);
    srv.destroy();
    assert_eq!(Client::open(&door).err(), Some(Errno::ENOENT));
}

#[test]
fn dynamic_lookups_answered_by_files_plugin() {
    let f = fixture("files");
    let cfg = f.dir.join("hosts.json");
    std::fs::write(
        &cfg,
        r#"{ "02:08:20:aa:bb:cc": { "ip": "10.0.0.9", "port": 4789 } }"#,
    )
    .unwrap();
    let (_, id) = create(&f, 6, "files", &ROOT);
    let mut path = cfg.to_str().unwrap().as_bytes().to_vec();
    path.push(0);
    assert_eq!(setprop(&f, id, "files/config", &path, &ROOT), 0);
    assert_eq!(inst_cmd(&f, Command::Activate, id, &ROOT), 0);
    let a = f.k.ov(6).assoc.unwrap();
    assert_eq!((a.mode, a.id), (ksys::OVERLAY_TARGET_DYNAMIC, id));
    {
        let mut m = f.k.m.lock().unwrap();
        m.lookups.push(TargLookup {
            reqid: 5,
            varpdid: id,
            dlid: 6,
            dstaddr: [2, 8, 0x20, 0xaa, 0xbb, 0xcc],
            hdrsize: 14,
            pktsize: 84,
            sap: 0x800,
            ..Default::default()
        });
    }
    f.vh.lookup_handle_one();
    f.k.m.lock().unwrap().lookups.push(TargLookup {
        reqid: 6,
        varpdid: id,
        dlid: 6,
        dstaddr: [2, 8, 0x20, 0, 0, 1],
        hdrsize: 14,
        pktsize: 84,
        sap: 0x800,
        ..Default::default()
    });
    f.vh.lookup_handle_one();
    assert_eq!(
        f.k.m.lock().unwrap().responses,
        vec![
            (ksys::OVERLAY_TARG_RESPOND, 5),
            (ksys::OVERLAY_TARG_DROP, 6)
        ]
    );
    // A restarted varpd restores the files instance and answers again.
    let vh2 = varpd_on(f.k.clone(), &f.dir);
    f.k.m.lock().unwrap().ovs.get_mut(&6).unwrap().assoc = None;
    assert_eq!(vh2.persist_restore().unwrap(), vec![id]);
    f.k.m.lock().unwrap().lookups.push(TargLookup {
        reqid: 7,
        varpdid: id,
        dlid: 6,
        dstaddr: [2, 8, 0x20, 0xaa, 0xbb, 0xcc],
        hdrsize: 14,
        pktsize: 84,
        sap: 0x800,
        ..Default::default()
    });
    vh2.lookup_handle_one();
    assert_eq!(
        f.k.m.lock().unwrap().responses.last(),
        Some(&(ksys::OVERLAY_TARG_RESPOND, 7))
    );
}

#[test]
fn restore_failing_associate_discards_file_and_continues() {
    let f = fixture("assocrestore");
    let id = direct_up(&f, 5);
    let id6 = {
        let (_, id6) = create(&f, 6, "direct", &ROOT);
        assert_eq!(
            setprop(&f, id6, "direct/dest_ip", &v4([10, 0, 0, 6]), &ROOT),
            0
        );
        assert_eq!(
            setprop(&f, id6, "direct/dest_port", &4789u64.to_ne_bytes(), &ROOT),
            0
        );
        assert_eq!(inst_cmd(&f, Command::Activate, id6, &ROOT), 0);
        id6
    };
    // Overlay 5 changed its destination type: its file is stale. Overlay 6
    // keeps its association, which restore replaces only when F_ACTIVE.
    f.k.m.lock().unwrap().ovs.get_mut(&5).unwrap().needs = 7;
    f.k.m.lock().unwrap().ovs.get_mut(&6).unwrap().active = true;
    let vh2 = varpd_on(f.k.clone(), &f.dir);
    assert_eq!(vh2.persist_restore().unwrap(), vec![id6]);
    assert!(!f.dir.join(format!("{id}.varpd")).exists());
    // Overlay 6 not active and still associated: ASSOCIATE fails (EEXIST),
    // the instance is destroyed and its file removed, without aborting.
    let vh3 = varpd_on(f.k.clone(), &f.dir);
    f.k.m.lock().unwrap().ovs.get_mut(&6).unwrap().active = false;
    assert_eq!(vh3.persist_restore().unwrap(), Vec::<u64>::new());
    assert!(!f.dir.join(format!("{id6}.varpd")).exists());
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Arbitrary door buffers never panic the server, and every reply
        /// is either the 8-byte eresp or exactly as long as the request.
        #[test]
        fn door_dispatch_never_panics(
            cmd in 0u32..17,
            body in proptest::collection::vec(any::<u8>(), 0..8000),
            privileged in any::<bool>(),
        ) {
            let f = fixture("fuzz");
            let _ = direct_up(&f, 5);
            let mut b = body;
            if b.len() >= 4 {
                b[0..4].copy_from_slice(&cmd.to_ne_bytes());
            }
            let cred = Cred { privileged, ..ROOT };
            let r = dispatch(&f.vh, &b, &cred);
            prop_assert!(r.len() == 8 || r.len() == b.len().min(VARPD_DOOR_MAX) || r.len() == 616);
        }
    }
}

#[test]
fn remaining_command_errors() {
    let f = fixture("remaining");
    // An encapsulation needing only D_ETHERNET: direct refuses (ENOTSUP)
    // and nothing is left behind.
    f.k.add(9, 1);
    f.k.m.lock().unwrap().ovs.get_mut(&9).unwrap().needs = 1;
    assert_eq!(create(&f, 9, "direct", &ROOT).0, Errno::ENOTSUP.0 as u32);
    assert!(f.vh.instance_by_linkid(9).is_err());
    // GETPROP / SETPROP / PROPINFO on a missing instance.
    let mut b = envelope(Command::Getprop);
    PropArg {
        id: 9,
        propid: 0,
        ..Default::default()
    }
    .encode(&mut b[VCA_UN..]);
    assert_eq!(call(&f, &mut b, &ROOT), Errno::ENOENT.0 as u32);
    let mut b = envelope(Command::Setprop);
    PropArg {
        id: 9,
        propid: 1,
        bufsize: 1,
        ..Default::default()
    }
    .encode(&mut b[VCA_UN..]);
    assert_eq!(call(&f, &mut b, &ROOT), Errno::ENOENT.0 as u32);
    let mut b = envelope(Command::Propinfo);
    PropinfoArg {
        id: 9,
        propid: 0,
        ..Default::default()
    }
    .encode(&mut b[VCA_UN..]);
    assert_eq!(call(&f, &mut b, &ROOT), Errno::ENOENT.0 as u32);
    // GETPROP of a bad property id is the plugin's EINVAL.
    let (_, id) = create(&f, 5, "direct", &ROOT);
    let mut b = envelope(Command::Getprop);
    PropArg {
        id,
        propid: 50,
        ..Default::default()
    }
    .encode(&mut b[VCA_UN..]);
    assert_eq!(call(&f, &mut b, &ROOT), Errno::EINVAL.0 as u32);
    // Walk of a missing instance.
    let mut b = vec![0u8; WalkArg::request_size(10)];
    b[0..4].copy_from_slice(&(Command::CacheWalk as u32).to_ne_bytes());
    WalkArg {
        id: 99,
        marker: 0,
        count: 10,
    }
    .encode(&mut b[VCA_UN..]);
    assert_eq!(call(&f, &mut b, &ROOT), Errno::ENOENT.0 as u32);
}

#[test]
fn stats_socket_reports_every_instance() {
    let f = fixture("stats");
    let id = direct_up(&f, 5);
    let (e, fid) = create(&f, 6, "files", &ROOT);
    assert_eq!(e, 0);
    let path = f.dir.join("varpd.stats");
    let srv = libvarpd::stats::StatsServer::create(&path, &f.vh).unwrap();
    let text = libvarpd::stats::fetch(&path).unwrap();
    assert!(text.starts_with("varpd\n  lookups 0\n"), "{text}");
    assert!(
        text.contains(&format!(
            "instance {id} linkid 5 vnetid 23 plugin direct activated 1\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "instance {fid} linkid 6 vnetid 24 plugin files activated 0\n  vaf_nmisses 0\n  vaf_narp 0\n"
        )),
        "{text}"
    );
    // The report is what libvarpd::stats::report makes.
    assert_eq!(text, libvarpd::stats::report(&f.vh));
    drop(srv);
    assert!(!path.exists());
    assert!(libvarpd::stats::fetch(&path).is_err());
}

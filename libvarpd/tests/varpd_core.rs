//! libvarpd's core against a model of the kernel's `/dev/overlay`: the door
//! envelope and every error of spec/userland.md §1.3, instances and the
//! kernel call order of §6.5, persistence and restore (§6.8), the lookup
//! loop, and the client API over a real socket.

use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use libvarpd::client::{CacheEntry, Client};
use libvarpd::door::abi::*;
use libvarpd::door::server::dispatch;
use libvarpd::door::transport::{Cred, DoorServer, Handler};
use libvarpd::ksys::{self, TargAssociate, TargCacheEntry, TargInfo, TargLookup};
use libvarpd::plugin::TargetDev;
use libvarpd::{Errno, Varpd};

// ---------------------------------------------------------------------------
// A small model of the driver's target ioctls.

#[derive(Default, Clone)]
struct Ov {
    needs: u32,
    vnetid: u64,
    active: bool,
    assoc: Option<TargAssociate>,
    degraded: Option<String>,
    cache: BTreeMap<[u8; 6], TargCacheEntry>,
}

#[derive(Default)]
struct Model {
    ovs: BTreeMap<u32, Ov>,
    log: Vec<u32>,
    lookups: Vec<TargLookup>,
    responses: Vec<(u32, u64)>,
}

#[derive(Default)]
struct FakeKernel {
    m: Mutex<Model>,
}

impl FakeKernel {
    fn add(&self, linkid: u32, vnetid: u64) {
        self.m.lock().unwrap().ovs.insert(
            linkid,
            Ov {
                needs: 6,
                vnetid,
                ..Default::default()
            },
        );
    }
    fn ov(&self, linkid: u32) -> Ov {
        self.m.lock().unwrap().ovs[&linkid].clone()
    }
    fn log(&self) -> Vec<u32> {
        self.m.lock().unwrap().log.clone()
    }
}

impl TargetDev for FakeKernel {
    fn ioctl(&self, cmd: u32, arg: &mut [u8]) -> Result<(), Errno> {
        self.ioctl_data(cmd, arg, &[]).map(|_| ())
    }
    fn ioctl_data(&self, cmd: u32, arg: &mut [u8], _data: &[u8]) -> Result<Vec<u8>, Errno> {
        let mut m = self.m.lock().unwrap();
        m.log.push(cmd);
        let linkid = ksys::get_u32(arg, 0);
        match cmd {
            ksys::OVERLAY_TARG_INFO => {
                let ov = m.ovs.get(&linkid).ok_or(Errno::ENOENT)?;
                let mut flags = 0;
                if ov.active {
                    flags |= ksys::OVERLAY_TARG_INFO_F_ACTIVE;
                }
                if ov.degraded.is_some() {
                    flags |= ksys::OVERLAY_TARG_INFO_F_DEGRADED;
                }
                let b = TargInfo {
                    linkid,
                    needs: ov.needs,
                    flags,
                    vnetid: ov.vnetid,
                }
                .encode();
                arg.copy_from_slice(&b);
            }
            ksys::OVERLAY_TARG_ASSOCIATE => {
                let a = TargAssociate::decode(arg);
                let ov = m.ovs.get_mut(&linkid).ok_or(Errno::ENOENT)?;
                if ov.assoc.is_some() {
                    return Err(Errno::EEXIST);
                }
                if a.id == 0 || a.provides != ov.needs {
                    return Err(Errno::EINVAL);
                }
                ov.assoc = Some(a);
            }
            ksys::OVERLAY_TARG_DISASSOCIATE => {
                m.ovs.get_mut(&linkid).ok_or(Errno::ENOENT)?.assoc = None;
            }
            ksys::OVERLAY_TARG_DEGRADE => {
                let msg = &arg[8..];
                let n = msg.iter().position(|&c| c == 0).unwrap_or(msg.len());
                let s = String::from_utf8_lossy(&msg[..n]).into_owned();
                m.ovs.get_mut(&linkid).ok_or(Errno::ENOENT)?.degraded = Some(s);
            }
            ksys::OVERLAY_TARG_RESTORE => {
                m.ovs.get_mut(&linkid).ok_or(Errno::ENOENT)?.degraded = None;
            }
            ksys::OVERLAY_TARG_LIST => {
                let cap = linkid as usize;
                let ids: Vec<u32> = m.ovs.keys().copied().collect();
                ksys::put_u32(arg, 0, ids.len() as u32);
                for (i, id) in ids.iter().take(cap).enumerate() {
                    ksys::put_u32(arg, 4 + 4 * i, *id);
                }
            }
            ksys::OVERLAY_TARG_LOOKUP => {
                let l = m.lookups.pop().ok_or(Errno::ETIME)?;
                arg.copy_from_slice(&l.encode());
            }
            ksys::OVERLAY_TARG_RESPOND | ksys::OVERLAY_TARG_DROP => {
                let reqid = ksys::get_u64(arg, 0);
                m.responses.push((cmd, reqid));
            }
            ksys::OVERLAY_TARG_CACHE_GET
            | ksys::OVERLAY_TARG_CACHE_SET
            | ksys::OVERLAY_TARG_CACHE_REMOVE
            | ksys::OVERLAY_TARG_CACHE_FLUSH => {
                let e = TargCacheEntry::decode(&arg[4..40]);
                let ov = m.ovs.get_mut(&linkid).ok_or(Errno::ENOENT)?;
                if ov.assoc.is_none() {
                    return Err(Errno::ENXIO);
                }
                match cmd {
                    ksys::OVERLAY_TARG_CACHE_GET => {
                        let got = ov.cache.get(&e.mac).ok_or(Errno::ENOENT)?;
                        got.encode(&mut arg[4..40]);
                    }
                    ksys::OVERLAY_TARG_CACHE_SET => {
                        ov.cache.insert(e.mac, e);
                    }
                    ksys::OVERLAY_TARG_CACHE_REMOVE => {
                        ov.cache.remove(&e.mac);
                    }
                    _ => ov.cache.clear(),
                }
            }
            ksys::OVERLAY_TARG_CACHE_ITER => {
                let marker = ksys::get_u64(arg, 8);
                let count = ksys::get_u16(arg, 16) as usize;
                if count == 0 || count > 500 || arg.len() < 24 + 36 * count {
                    return Err(Errno::EINVAL);
                }
                let ov = m.ovs.get(&linkid).ok_or(Errno::ENOENT)?;
                let ents: Vec<TargCacheEntry> = ov.cache.values().copied().collect();
                let start = marker as usize;
                let n = ents.len().saturating_sub(start).min(count);
                for (i, e) in ents[start..start + n].iter().enumerate() {
                    e.encode(&mut arg[24 + 36 * i..24 + 36 * (i + 1)]);
                }
                ksys::put_u64(arg, 8, (start + n) as u64);
                ksys::put_u16(arg, 16, n as u16);
            }
            _ => return Err(Errno::ENOTTY),
        }
        Ok(Vec::new())
    }
}

// ---------------------------------------------------------------------------

struct Fixture {
    k: Arc<FakeKernel>,
    vh: Arc<Varpd>,
    dir: PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tmpdir(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let d = std::env::temp_dir().join(format!("varpd-core-{}-{tag}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn varpd_on(k: Arc<FakeKernel>, dir: &std::path::Path) -> Arc<Varpd> {
    let vh = Varpd::new(k, false);
    vh.plugin_register(libvarpd::plugins::direct::registration())
        .unwrap();
    vh.plugin_register(libvarpd::plugins::files::registration())
        .unwrap();
    vh.persist_enable(dir).unwrap();
    vh
}

fn fixture(tag: &str) -> Fixture {
    let k = Arc::new(FakeKernel::default());
    k.add(5, 23);
    k.add(6, 24);
    let dir = tmpdir(tag);
    let vh = varpd_on(k.clone(), &dir);
    Fixture { k, vh, dir }
}

const ROOT: Cred = Cred {
    uid: 0,
    gid: 0,
    pid: 1,
    privileged: true,
};
const USER: Cred = Cred {
    uid: 1000,
    gid: 1000,
    pid: 2,
    privileged: false,
};

fn call(f: &Fixture, b: &mut [u8], cred: &Cred) -> u32 {
    let r = dispatch(&f.vh, b, cred);
    let n = r.len().min(b.len());
    b[..n].copy_from_slice(&r[..n]);
    vca_errno(b)
}

fn create(f: &Fixture, linkid: u32, plugin: &str, cred: &Cred) -> (u32, u64) {
    let mut b = envelope(Command::Create);
    CreateArg {
        linkid,
        id: 0,
        plugin: plugin.into(),
    }
    .encode(&mut b[VCA_UN..]);
    let e = call(f, &mut b, cred);
    (e, CreateArg::decode(&b[VCA_UN..]).id)
}

fn inst_cmd(f: &Fixture, cmd: Command, id: u64, cred: &Cred) -> u32 {
    let mut b = envelope(cmd);
    b[VCA_UN..VCA_UN + 8].copy_from_slice(&id.to_ne_bytes());
    call(f, &mut b, cred)
}

fn setprop(f: &Fixture, id: u64, name: &str, val: &[u8], cred: &Cred) -> u32 {
    let mut b = envelope(Command::Propinfo);
    PropinfoArg {
        id,
        propid: PROPID_BY_NAME,
        name: name.into(),
        ..Default::default()
    }
    .encode(&mut b[VCA_UN..]);
    let e = call(f, &mut b, &ROOT);
    if e != 0 {
        return e;
    }
    let propid = PropinfoArg::decode(&b[VCA_UN..]).propid;
    let mut a = PropArg {
        id,
        propid,
        bufsize: val.len() as u64,
        ..Default::default()
    };
    a.buf[..val.len()].copy_from_slice(val);
    let mut b = envelope(Command::Setprop);
    a.encode(&mut b[VCA_UN..]);
    call(f, &mut b, cred)
}

fn v4(a: [u8; 4]) -> [u8; 16] {
    std::net::Ipv4Addr::from(a).to_ipv6_mapped().octets()
}

fn direct_up(f: &Fixture, linkid: u32) -> u64 {
    let (e, id) = create(f, linkid, "direct", &ROOT);
    assert_eq!(e, 0);
    assert_eq!(
        setprop(f, id, "direct/dest_ip", &v4([192, 168, 1, 2]), &ROOT),
        0
    );
    assert_eq!(
        setprop(f, id, "direct/dest_port", &4789u64.to_ne_bytes(), &ROOT),
        0
    );
    assert_eq!(inst_cmd(f, Command::Activate, id, &ROOT), 0);
    id
}

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

//! The fixture of the varpd core tests: libvarpd over a model of the
//! kernel's `/dev/overlay` target ioctls, a varpd with the built-in
//! plugins and persistence in a private directory, and door helpers that
//! call the server's dispatch with a given credential.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use libvarpd::door::abi::*;
use libvarpd::door::server::dispatch;
use libvarpd::door::transport::Cred;
use libvarpd::ksys::{self, TargAssociate, TargCacheEntry, TargInfo, TargLookup};
use libvarpd::plugin::TargetDev;
use libvarpd::{Errno, Varpd};

// ---------------------------------------------------------------------------
// A small model of the driver's target ioctls.

#[derive(Default, Clone)]
pub struct Ov {
    pub needs: u32,
    pub vnetid: u64,
    pub active: bool,
    pub assoc: Option<TargAssociate>,
    pub degraded: Option<String>,
    pub cache: BTreeMap<[u8; 6], TargCacheEntry>,
}

#[derive(Default)]
pub struct Model {
    pub ovs: BTreeMap<u32, Ov>,
    pub log: Vec<u32>,
    pub lookups: Vec<TargLookup>,
    pub responses: Vec<(u32, u64)>,
}

#[derive(Default)]
pub struct FakeKernel {
    pub m: Mutex<Model>,
}

impl FakeKernel {
    pub fn add(&self, linkid: u32, vnetid: u64) {
        self.m.lock().unwrap().ovs.insert(
            linkid,
            Ov {
                needs: 6,
                vnetid,
                ..Default::default()
            },
        );
    }
    pub fn ov(&self, linkid: u32) -> Ov {
        self.m.lock().unwrap().ovs[&linkid].clone()
    }
    pub fn log(&self) -> Vec<u32> {
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

pub struct Fixture {
    pub k: Arc<FakeKernel>,
    pub vh: Arc<Varpd>,
    pub dir: PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn tmpdir(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let d = std::env::temp_dir().join(format!("varpd-core-{}-{tag}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn varpd_on(k: Arc<FakeKernel>, dir: &std::path::Path) -> Arc<Varpd> {
    let vh = Varpd::new(k, false);
    vh.plugin_register(libvarpd::plugins::direct::registration())
        .unwrap();
    vh.plugin_register(libvarpd::plugins::files::registration())
        .unwrap();
    vh.persist_enable(dir).unwrap();
    vh
}

pub fn fixture(tag: &str) -> Fixture {
    let k = Arc::new(FakeKernel::default());
    k.add(5, 23);
    k.add(6, 24);
    let dir = tmpdir(tag);
    let vh = varpd_on(k.clone(), &dir);
    Fixture { k, vh, dir }
}

pub const ROOT: Cred = Cred {
    uid: 0,
    gid: 0,
    pid: 1,
    privileged: true,
};
pub const USER: Cred = Cred {
    uid: 1000,
    gid: 1000,
    pid: 2,
    privileged: false,
};

pub fn call(f: &Fixture, b: &mut [u8], cred: &Cred) -> u32 {
    let r = dispatch(&f.vh, b, cred);
    let n = r.len().min(b.len());
    b[..n].copy_from_slice(&r[..n]);
    vca_errno(b)
}

pub fn create(f: &Fixture, linkid: u32, plugin: &str, cred: &Cred) -> (u32, u64) {
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

pub fn inst_cmd(f: &Fixture, cmd: Command, id: u64, cred: &Cred) -> u32 {
    let mut b = envelope(cmd);
    b[VCA_UN..VCA_UN + 8].copy_from_slice(&id.to_ne_bytes());
    call(f, &mut b, cred)
}

pub fn setprop(f: &Fixture, id: u64, name: &str, val: &[u8], cred: &Cred) -> u32 {
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

pub fn v4(a: [u8; 4]) -> [u8; 16] {
    std::net::Ipv4Addr::from(a).to_ipv6_mapped().octets()
}

pub fn direct_up(f: &Fixture, linkid: u32) -> u64 {
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

//! `KDev` against a stand-in fkoverlayd speaking docs/fkoverlayd-protocol.md:
//! the open handshake, copy-out written back into the argument, dld's
//! copy-out on error, frames carried for INJECT and returned for PKT, and
//! a dead connection reported as an error.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use libvarpd::kdev::{KDev, FK_MAGIC, FK_OPEN};
use libvarpd::ksys::{self, FEXCL, FREAD, FWRITE};
use libvarpd::Errno;

fn read_frame(s: &mut UnixStream) -> Option<(u32, Vec<u8>, Vec<u8>)> {
    let mut h = [0u8; 16];
    s.read_exact(&mut h).ok()?;
    let w = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    assert_eq!(w(0), FK_MAGIC);
    let mut a = vec![0u8; w(8) as usize];
    s.read_exact(&mut a).ok()?;
    let mut d = vec![0u8; w(12) as usize];
    s.read_exact(&mut d).ok()?;
    Some((w(4), a, d))
}

fn write_frame(s: &mut UnixStream, errno: u32, a: &[u8], d: &[u8]) {
    let mut f = Vec::new();
    for v in [FK_MAGIC, errno, a.len() as u32, d.len() as u32] {
        f.extend_from_slice(&v.to_le_bytes());
    }
    f.extend_from_slice(a);
    f.extend_from_slice(d);
    s.write_all(&f).unwrap();
}

struct FakeFk {
    root: PathBuf,
    injected: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Drop for FakeFk {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn serve_overlay(mut s: UnixStream, excl: Arc<Mutex<bool>>, injected: Arc<Mutex<Vec<Vec<u8>>>>) {
    let Some((cmd, a, _)) = read_frame(&mut s) else {
        return;
    };
    assert_eq!(cmd, FK_OPEN);
    let flags = u32::from_le_bytes([a[0], a[1], a[2], a[3]]);
    if flags & FWRITE != 0 && flags & FEXCL == 0 {
        return write_frame(&mut s, 22, &[], &[]);
    }
    let mine = flags & FEXCL != 0;
    if mine {
        let mut e = excl.lock().unwrap();
        if *e {
            return write_frame(&mut s, 17, &[], &[]);
        }
        *e = true;
    }
    write_frame(&mut s, 0, &[], &[]);
    while let Some((cmd, mut a, d)) = read_frame(&mut s) {
        match cmd {
            ksys::OVERLAY_TARG_INFO => {
                ksys::put_u32(&mut a, 4, 6);
                ksys::put_u64(&mut a, 16, 23);
                write_frame(&mut s, 0, &a, &[]);
            }
            ksys::OVERLAY_TARG_INJECT => {
                if (d.len() as u64) < ksys::get_u64(&a, 16) {
                    write_frame(&mut s, 14, &[], &[]);
                } else {
                    injected.lock().unwrap().push(d);
                    write_frame(&mut s, 0, &[], &[]);
                }
            }
            ksys::OVERLAY_TARG_PKT => {
                let frame = [0xabu8; 60];
                let n = (ksys::get_u64(&a, 16) as usize).min(frame.len());
                ksys::put_u64(&mut a, 16, n as u64);
                write_frame(&mut s, 0, &a, &frame[..n]);
            }
            ksys::OVERLAY_TARG_LOOKUP => {
                // An idle kernel: block, then ETIME.
                std::thread::sleep(std::time::Duration::from_millis(300));
                write_frame(&mut s, 62, &[], &[]);
            }
            0xdead => return, // drop the connection
            _ => write_frame(&mut s, 25, &[], &[]),
        }
    }
    if mine {
        *excl.lock().unwrap() = false;
    }
}

fn serve_dld(mut s: UnixStream) {
    while let Some((cmd, mut a, _)) = read_frame(&mut s) {
        // A copy-out command failing: the buffer comes back anyway.
        a.iter_mut().for_each(|b| *b = 0x11);
        let errno = if cmd == 0x2005_0004 { 2 } else { 0 };
        write_frame(&mut s, errno, &a, &[]);
    }
}

fn fake_fk(tag: &str) -> FakeFk {
    let root = std::env::temp_dir().join(format!("varpd-kdev-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("run/overlay")).unwrap();
    let lo = UnixListener::bind(root.join("run/overlay/overlay")).unwrap();
    let ld = UnixListener::bind(root.join("run/overlay/dld")).unwrap();
    let excl = Arc::new(Mutex::new(false));
    let injected = Arc::new(Mutex::new(Vec::new()));
    let inj = injected.clone();
    std::thread::spawn(move || {
        for c in lo.incoming().flatten() {
            let (e, i) = (excl.clone(), inj.clone());
            std::thread::spawn(move || serve_overlay(c, e, i));
        }
    });
    std::thread::spawn(move || {
        for c in ld.incoming().flatten() {
            std::thread::spawn(move || serve_dld(c));
        }
    });
    FakeFk { root, injected }
}

fn errno_of(r: std::io::Result<KDev>) -> Errno {
    Errno::from_io(&r.expect_err("open should fail"))
}

#[test]
fn open_handshake() {
    let fk = fake_fk("open");
    let r: &Path = &fk.root;
    assert_eq!(
        errno_of(KDev::open_overlay(r, FREAD | FWRITE)),
        Errno::EINVAL
    );
    let k = KDev::open_overlay(r, FREAD | FWRITE | FEXCL).unwrap();
    assert_eq!(
        errno_of(KDev::open_overlay(r, FREAD | FWRITE | FEXCL)),
        Errno::EEXIST
    );
    let _ro = KDev::open_overlay(r, FREAD).unwrap();
    drop(k);
    // The fake notices the close asynchronously.
    let mut ok = false;
    for _ in 0..50 {
        if KDev::open_overlay(r, FREAD | FWRITE | FEXCL).is_ok() {
            ok = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(ok);
    let nowhere = std::env::temp_dir().join("varpd-kdev-nowhere");
    assert_eq!(errno_of(KDev::open_overlay(&nowhere, FREAD)), Errno::ENOENT);
}

#[test]
fn ioctl_copy_out_and_data() {
    let fk = fake_fk("ioctl");
    let k = KDev::open_overlay(&fk.root, FREAD | FWRITE | FEXCL).unwrap();
    let mut info = ksys::TargInfo {
        linkid: 5,
        ..Default::default()
    }
    .encode();
    k.ioctl(ksys::OVERLAY_TARG_INFO, &mut info).unwrap();
    let i = ksys::TargInfo::decode(&info);
    assert_eq!((i.linkid, i.needs, i.vnetid), (5, 6, 23));
    assert_eq!(k.ioctl(0x6f76_74ff, &mut [0u8; 4]), Err(Errno::ENOTTY));

    let mut pkt = ksys::targ_pkt(u64::MAX, 9, 1518);
    let frame = k.ioctl_data(ksys::OVERLAY_TARG_PKT, &mut pkt, &[]).unwrap();
    assert_eq!(frame, vec![0xab; 60]);
    assert_eq!(ksys::get_u64(&pkt, 16), 60);

    let mut inj = ksys::targ_pkt(u64::MAX, 9, 3);
    k.ioctl_data(ksys::OVERLAY_TARG_INJECT, &mut inj, &[1, 2, 3])
        .unwrap();
    assert_eq!(fk.injected.lock().unwrap()[0], vec![1, 2, 3]);
    let mut inj = ksys::targ_pkt(u64::MAX, 9, 10);
    assert_eq!(
        k.ioctl_data(ksys::OVERLAY_TARG_INJECT, &mut inj, &[1]),
        Err(Errno::EFAULT)
    );

    // The server drops the connection: later calls fail cleanly.
    assert!(k.ioctl(0xdead, &mut [0u8; 4]).is_err());
    assert!(k.ioctl(ksys::OVERLAY_TARG_INFO, &mut info).is_err());
}

#[test]
fn dld_copy_out_even_on_error() {
    let fk = fake_fk("dld");
    let k = KDev::open_dld(&fk.root).unwrap();
    let mut a = [0u8; 332];
    assert_eq!(k.ioctl(0x2005_0004, &mut a), Err(Errno::ENOENT));
    assert!(a.iter().all(|&b| b == 0x11));
}

#[test]
fn other_ioctls_go_before_the_next_lookup() {
    let fk = fake_fk("prio");
    let k = Arc::new(KDev::open_overlay(&fk.root, FREAD | FWRITE | FEXCL).unwrap());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut loopers = Vec::new();
    for _ in 0..3 {
        let (k, stop) = (k.clone(), stop.clone());
        loopers.push(std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let mut b = [0u8; 72];
                assert_eq!(
                    k.ioctl(ksys::OVERLAY_TARG_LOOKUP, &mut b),
                    Err(Errno::ETIME)
                );
            }
        }));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    for _ in 0..5 {
        let t = std::time::Instant::now();
        let mut info = ksys::TargInfo {
            linkid: 5,
            ..Default::default()
        }
        .encode();
        k.ioctl(ksys::OVERLAY_TARG_INFO, &mut info).unwrap();
        // At most the one LOOKUP in progress (300 ms) is ahead of us.
        assert!(
            t.elapsed() < std::time::Duration::from_millis(550),
            "{:?}",
            t.elapsed()
        );
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for l in loopers {
        l.join().unwrap();
    }
}

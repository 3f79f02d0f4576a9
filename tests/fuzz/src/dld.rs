//! `/dev/dld` management ioctls: [`Overlay::dld_ioctl`] on arbitrary command
//! numbers, argument bytes and credentials, against a driver holding a
//! started POINT device (10), a started DYNAMIC device (11) and a created
//! device (12). Arguments are either raw bytes of any length or the
//! command's registered size with a plausible link id, a known property
//! name and byte mutations, so the handlers' deep paths are reached.
//!
//! Frames sent on the devices and datagrams delivered to the mux are
//! interleaved with the ioctls.
//!
//! Invariants: no panic; an unknown command is `ENOTSUP`; a COPYOUT
//! command returns exactly its registered size (even on error), others
//! nothing; an unprivileged caller of a privileged command gets `EPERM`.
//!
//! [`Overlay::dld_ioctl`]: overlay::Overlay::dld_ioctl

use crate::driver;
use crate::input::Input;
use overlay::sys::*;
use overlay::{Cred, Errno, MsgBlk};

/// Property names worth placing in name fields.
pub const NAMES: &[&[u8]] = &[
    b"vxlan/listen_ip",
    b"vxlan/listen_port",
    b"mtu",
    b"vnetid",
    b"encap",
    b"varpd/id",
    b"vxlan",
];

/// Link ids the harness's devices use (and one that does not exist).
pub const LINKIDS: [u32; 4] = [10, 11, 12, 13];

/// An argument for a command whose registered size is `size`.
pub fn arg(inp: &mut Input<'_>, size: usize) -> Vec<u8> {
    let mode = inp.u8();
    if mode & 7 == 0 {
        return inp.blob(size * 2 + 16).to_vec();
    }
    let mut a = vec![0u8; size];
    if size >= 4 {
        let l = inp.u8();
        let linkid = if l < 240 {
            LINKIDS[l as usize % LINKIDS.len()]
        } else {
            inp.u32()
        };
        a[..4].copy_from_slice(&linkid.to_ne_bytes());
    }
    let nmut = inp.u8() % 8;
    for _ in 0..nmut {
        if size == 0 {
            break;
        }
        let kind = inp.u8();
        let off = inp.u16() as usize % size;
        if kind & 3 == 0 {
            let name = NAMES[inp.u8() as usize % NAMES.len()];
            let end = (off + name.len()).min(size);
            a[off..end].copy_from_slice(&name[..end - off]);
        } else {
            a[off] = inp.u8();
        }
    }
    // Occasionally short (EFAULT) or long (ignored tail).
    match mode >> 5 {
        1 => a.truncate(inp.u16() as usize % (size + 1)),
        2 => a.extend_from_slice(inp.blob(64)),
        _ => {}
    }
    a
}

/// A credential: privileged in the global zone most of the time.
pub fn cred(inp: &mut Input<'_>) -> Cred {
    let c = inp.u8();
    Cred {
        dl_config: c & 0xf != 0,
        zoneid: if c & 0xf0 == 0xf0 { u32::from(c) } else { 0 },
    }
}

/// Input: a sequence of (command, argument, credential).
pub fn run(data: &[u8]) {
    let o = driver::new();
    let m = driver::open_varpd(&o);
    driver::up(&o, m, 10, 23, 1);
    driver::up(&o, m, 11, 24, 2);
    driver::create(&o, 12, 25);
    let known: Vec<u32> = DLD_IOC_TABLE.iter().map(|r| r.cmd).collect();
    let mut inp = Input::new(data);
    let mut n = 0;
    while !inp.is_empty() && n < 256 {
        n += 1;
        // Now and then, traffic: the data path must cope with whatever
        // state the ioctls left (stopped, re-propertied, deleted devices).
        match inp.u8() % 8 {
            0 => {
                let linkid = LINKIDS[inp.u8() as usize % LINKIDS.len()];
                let f = inp.blob(1600);
                if let Some(d) = o.dev_by_linkid(linkid) {
                    d.m_tx(MsgBlk::with_headroom(f).into());
                }
                continue;
            }
            1 => {
                let d = inp.blob(1600);
                let _ = o.platform().deliver(&driver::listen_addr(), d);
                continue;
            }
            _ => {}
        }
        let cmd = inp.cmd(&known);
        let info = dld_ioc_info(cmd);
        let a = arg(&mut inp, info.map_or(64, |i| i.size));
        let c = cred(&mut inp);
        let (e, out) = o.dld_ioctl(cmd, &a, &c);
        match info {
            None => {
                assert_eq!(
                    e,
                    Errno::ENOTSUP.0,
                    "unknown command {cmd:#x}: want ENOTSUP"
                );
                assert!(out.is_empty());
            }
            Some(i) if i.needs_dl_config && !c.dl_config => {
                assert_eq!(e, Errno::EPERM.0, "unprivileged {cmd:#x}: want EPERM");
                assert!(out.is_empty());
            }
            Some(i) if i.copyin && a.len() < i.size => {
                assert_eq!(
                    e,
                    Errno::EFAULT.0,
                    "short argument to {cmd:#x}: want EFAULT"
                );
            }
            Some(i) => {
                let want = if i.copyout { i.size } else { 0 };
                assert_eq!(out.len(), want, "copy-out size of {cmd:#x} (errno {e})");
            }
        }
    }
    // Whatever happened, the driver can still be torn down.
    driver::teardown(&o, &[m]);
}

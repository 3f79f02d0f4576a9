//! `/dev/overlay`: open/close with arbitrary flags and credentials, and
//! [`Overlay::targ_ioctl`] on arbitrary command numbers, argument and data
//! bytes, against a driver with a started POINT device (10), a started
//! DYNAMIC device (11) and a created one (12). Frames sent on the DYNAMIC
//! device queue lookups, so LOOKUP, RESPOND, DROP, PKT, INJECT and RESEND
//! meet real requests.
//!
//! Invariants: no panic; an unknown command is `ENOTTY`; an unprivileged
//! caller gets `EPERM`; a closed or never-opened minor `ENXIO`; the driver
//! tears down cleanly afterwards (no request left waiting on a deleted
//! device).
//!
//! LOOKUP blocks up to a second when nothing is queued, so the harness
//! only issues it while requests are pending.
//!
//! [`Overlay::targ_ioctl`]: overlay::Overlay::targ_ioctl

use crate::dld::{arg, cred};
use crate::driver;
use crate::input::Input;
use overlay::sys::*;
use overlay::{BufUserIo, Cred, Errno, MsgBlk};

/// Destination MACs for frames on the DYNAMIC device.
const DSTS: [[u8; 6]; 4] = [
    [2, 8, 0x20, 0, 0, 2],
    [2, 8, 0x20, 0, 0, 3],
    [0xff; 6],
    [0x33, 0x33, 0, 0, 0, 1],
];

/// Input: a sequence of operations (open, close, ioctl, transmit).
pub fn run(data: &[u8]) {
    let o = driver::new();
    let varpd = driver::open_varpd(&o);
    driver::up(&o, varpd, 10, 23, 1);
    driver::up(&o, varpd, 11, 24, 2);
    driver::create(&o, 12, 25);
    let known: Vec<u32> = TARG_IOC_TABLE.iter().map(|r| r.cmd).collect();
    let mut minors = vec![varpd];
    let mut last_reqid = 0u64;
    let mut inp = Input::new(data);
    let mut n = 0;
    while !inp.is_empty() && n < 256 {
        n += 1;
        match inp.u8() % 16 {
            0 => {
                let flags = u32::from(inp.u8());
                let c = cred(&mut inp);
                let minor = u32::from(inp.u8() & 1);
                if let Ok(m) = o.targ_open(minor, inp.u8() == 0, flags, &c) {
                    minors.push(m);
                }
            }
            1 => {
                if !minors.is_empty() {
                    let i = inp.u8() as usize % minors.len();
                    o.targ_close(minors.swap_remove(i));
                }
            }
            2 | 3 => {
                let dst = DSTS[inp.u8() as usize % DSTS.len()];
                let len = 14 + inp.u16() as usize % 1500;
                let mut f = vec![0u8; len];
                f[..6].copy_from_slice(&dst);
                f[6..12].copy_from_slice(&[2, 8, 0x20, 0, 0, 1]);
                f[12..14].copy_from_slice(&[0x08, 0x00]);
                let linkid = if inp.u8() & 1 == 0 { 11 } else { 10 };
                if let Some(d) = o.dev_by_linkid(linkid) {
                    d.m_tx(MsgBlk::with_headroom(&f).into());
                }
            }
            _ => {
                let cmd = inp.cmd(&known);
                let info = targ_ioc_info(cmd);
                if cmd == OVERLAY_TARG_LOOKUP && o.targ_npending() == 0 {
                    continue;
                }
                let mut a = arg(&mut inp, info.map_or(64, |i| i.size));
                // Request ids are opaque kernel values: hand back the last
                // one LOOKUP gave, where the command expects one.
                let off = match cmd {
                    OVERLAY_TARG_RESPOND | OVERLAY_TARG_DROP => Some(0),
                    OVERLAY_TARG_INJECT | OVERLAY_TARG_PKT | OVERLAY_TARG_RESEND => Some(8),
                    _ => None,
                };
                if let Some(off) = off {
                    if inp.u8() & 3 != 0 && a.len() >= off + 8 {
                        a[off..off + 8].copy_from_slice(&last_reqid.to_ne_bytes());
                    }
                }
                let d = inp.blob(2048).to_vec();
                let flags = inp.u8();
                let mut u = BufUserIo::with_data(&a, &d);
                u.ilp32 = flags & 1 != 0;
                u.hint = flags & 2 == 0;
                let c = if flags & 0x1c == 0 {
                    cred(&mut inp)
                } else {
                    Cred::ROOT
                };
                let minor = if flags & 0xe0 == 0xe0 {
                    u32::from(inp.u8())
                } else if minors.is_empty() {
                    0
                } else {
                    minors[inp.u8() as usize % minors.len()]
                };
                let r = o.targ_ioctl(minor, cmd, &mut u, &c);
                if cmd == OVERLAY_TARG_LOOKUP && r.is_ok() {
                    if let Some(l) = overlay_targ_lookup_t::from_bytes(&u.arg) {
                        last_reqid = l.otl_reqid;
                    }
                }
                if !c.dl_config {
                    assert_eq!(r, Err(Errno::EPERM), "unprivileged {cmd:#x}");
                } else if !minors.contains(&minor) {
                    assert_eq!(r, Err(Errno::ENXIO), "bad minor {minor} {cmd:#x}");
                } else if info.is_none() {
                    assert_eq!(r, Err(Errno::ENOTTY), "unknown command {cmd:#x}");
                }
            }
        }
    }
    // Whatever happened, the driver can be torn down, and a new
    // exclusive open succeeds.
    driver::teardown(&o, &minors);
    let m = driver::open_varpd(&o);
    driver::teardown(&o, &[m]);
}

//! The varpd door: libvarpd's server `dispatch` on arbitrary envelopes and
//! credentials, against a handle with the built-in plugins (`direct`,
//! `files`) and one existing `direct` instance, over the recording fake
//! `/dev/overlay` (`libvarpd::testing::FakeTargetDev`). Requests are raw
//! bytes of any length or a 616-byte envelope with a real command, the
//! existing instance's id, known plugin and property names, and byte
//! mutations; CACHE_WALK requests may be longer.
//!
//! Invariants: no panic; a request shorter than the envelope or with an
//! unknown command gets the 8-byte eresp `EINVAL`; otherwise the reply is
//! the envelope (never longer than the request, never shorter than 616
//! bytes) echoing the command; an unprivileged mutating call gets `EPERM`.
//!
//! This file depends only on `libvarpd`, so `overlay-tests` includes it by
//! path to replay regression inputs.

use crate::input::Input;
use libvarpd::door::abi::{
    vca_command, vca_errno, Command, VARPD_CLIENT_ARG_SIZE, VARPD_CLIENT_ERESP_SIZE,
    VARPD_DOOR_MAX, VCA_UN,
};
use libvarpd::door::server::dispatch;
use libvarpd::door::transport::Cred;
use libvarpd::ksys::{self, TargInfo};
use libvarpd::testing::FakeTargetDev;
use libvarpd::Varpd;
use std::sync::Arc;

const STRINGS: &[&[u8]] = &[
    b"direct",
    b"files",
    b"search",
    b"direct/dest_ip",
    b"direct/dest_port",
    b"files/config",
    b"/nonexistent/overlay-fuzz.json",
];

const EINVAL: u32 = 22;
const EPERM: u32 = 1;

/// A handle with the built-in plugins and a `direct` instance on link 7.
pub fn handle() -> (Arc<Varpd>, u64) {
    let dev = Arc::new(FakeTargetDev::new());
    let info = TargInfo {
        linkid: 7,
        needs: 0x6,
        flags: 0,
        vnetid: 23,
    };
    dev.reply(ksys::OVERLAY_TARG_INFO, &info.encode());
    let vh = Varpd::new(dev, false);
    for r in [
        libvarpd::plugins::direct::registration(),
        libvarpd::plugins::files::registration(),
    ] {
        if let Err(e) = vh.plugin_register(r) {
            panic!("harness setup: plugin register: {e:?}");
        }
    }
    let id = match vh.instance_create(7, "direct") {
        Ok(i) => i.id,
        Err(e) => panic!("harness setup: instance create: {e:?}"),
    };
    (vh, id)
}

fn request(inp: &mut Input<'_>, id: u64) -> Vec<u8> {
    let mode = inp.u8();
    if mode & 7 == 0 {
        return inp.blob(VARPD_DOOR_MAX + 64).to_vec();
    }
    let walk_extra = if mode & 0x80 != 0 {
        inp.u16() as usize % (VARPD_DOOR_MAX - VARPD_CLIENT_ARG_SIZE + 64)
    } else {
        0
    };
    let mut b = vec![0u8; VARPD_CLIENT_ARG_SIZE + walk_extra];
    let c = inp.u8();
    let cmd = if c < 240 {
        u32::from(c % 15)
    } else {
        inp.u32()
    };
    b[..4].copy_from_slice(&cmd.to_ne_bytes());
    b[4..8].copy_from_slice(&inp.u32().to_ne_bytes());
    let which = inp.u8();
    let v: u64 = match which & 3 {
        0 => id,
        1 => 7,
        2 => u64::from(inp.u32()),
        _ => 0,
    };
    b[VCA_UN..VCA_UN + 8].copy_from_slice(&v.to_ne_bytes());
    let nmut = inp.u8() % 8;
    for _ in 0..nmut {
        let kind = inp.u8();
        let off = VCA_UN + inp.u16() as usize % (b.len() - VCA_UN);
        if kind & 3 == 0 {
            let s = STRINGS[inp.u8() as usize % STRINGS.len()];
            let end = (off + s.len() + 1).min(b.len());
            let n = end - off;
            let mut z = s.to_vec();
            z.push(0);
            b[off..end].copy_from_slice(&z[..n]);
        } else {
            b[off] = inp.u8();
        }
    }
    b
}

/// Input: a sequence of (request, credential).
pub fn run(data: &[u8]) {
    let (vh, id) = handle();
    let mut inp = Input::new(data);
    let mut n = 0;
    while !inp.is_empty() && n < 128 {
        n += 1;
        let req = request(&mut inp, id);
        let privileged = inp.u8() & 7 != 0;
        let cred = Cred {
            uid: if privileged { 0 } else { 1000 },
            gid: 0,
            pid: 1,
            privileged,
        };
        let rep = dispatch(&vh, &req, &cred);
        let cmd = (req.len() >= 4).then(|| vca_command(&req));
        let known = cmd.and_then(Command::from_u32);
        if req.len() < VARPD_CLIENT_ARG_SIZE || known.is_none() {
            assert_eq!(rep.len(), VARPD_CLIENT_ERESP_SIZE, "eresp expected");
            assert_eq!(vca_errno(&rep), EINVAL);
            continue;
        }
        assert!(
            rep.len() >= VARPD_CLIENT_ARG_SIZE && rep.len() <= req.len(),
            "reply of {} bytes to a request of {}",
            rep.len(),
            req.len()
        );
        assert_eq!(vca_command(&rep), vca_command(&req), "command not echoed");
        if let Some(k) = known {
            if k.is_mutating() && !privileged {
                assert_eq!(vca_errno(&rep), EPERM, "unprivileged {k:?}");
            }
        }
    }
}

//! The door server's dispatch (`libvarpd_door.c`).
//!
//! [`dispatch`] is the server procedure: it validates the request, checks
//! privilege, runs the command of spec/userland.md §1.3 against the
//! [`Varpd`] handle and returns the buffer to send back.
//!
//! 1. A request shorter than the envelope gets the 8-byte eresp `EINVAL`.
//! 2. Command 0 or ≥ 15: eresp `EINVAL`.
//! 3. A mutating command (create, activate, destroy, setprop, cache
//!    flush/delete/set) from a caller without `PRIV_SYS_NET_CONFIG` (or
//!    `PRIV_SYS_DL_CONFIG`) fails with `EPERM` — every mutation, where
//!    illumos checked only the cache ones (§12 #2).
//! 4. `vca_errno` = the handler's errno (0 on success); the whole buffer is
//!    returned.
//!
//! CACHE_WALK: `vtcw_count` > 200 is `E2BIG`; the count is clamped to the
//! entries the caller's buffer can hold (36 bytes each), so no reply ever
//! exceeds the request (the original wrote past it, §12 #3).

use crate::door::abi::*;
use crate::door::transport::Cred;
use crate::errno::Errno;
use crate::handle::Varpd;
use crate::ksys::{TargCacheEntry, TargetPoint};

/// Serve one door call.
pub fn dispatch(vh: &Varpd, req: &[u8], cred: &Cred) -> Vec<u8> {
    if req.len() < VARPD_CLIENT_ARG_SIZE {
        return eresp(Errno::EINVAL.0);
    }
    let Some(cmd) = Command::from_u32(vca_command(req)) else {
        return eresp(Errno::EINVAL.0);
    };
    let mut buf = if cmd == Command::CacheWalk {
        req[..req.len().min(VARPD_DOOR_MAX)].to_vec()
    } else {
        req[..VARPD_CLIENT_ARG_SIZE].to_vec()
    };
    set_vca_errno(&mut buf, 0);
    let r = if cmd.is_mutating() && !cred.privileged {
        tracing::warn!(
            uid = cred.uid,
            pid = cred.pid,
            ?cmd,
            "door: unprivileged caller refused"
        );
        Err(Errno::EPERM)
    } else {
        run(vh, cmd, &mut buf)
    };
    if let Err(e) = r {
        set_vca_errno(&mut buf, e.0 as u32);
    }
    buf
}

fn run(vh: &Varpd, cmd: Command, buf: &mut [u8]) -> Result<(), Errno> {
    let u = &mut buf[VCA_UN..];
    match cmd {
        Command::Create => {
            let mut a = CreateArg::decode(u);
            let inst = vh.instance_create(a.linkid, &a.plugin)?;
            a.id = inst.id;
            a.encode(u);
        }
        Command::Activate => vh.instance_activate(instance_id(u))?,
        Command::Destroy => vh.instance_destroy(instance_id(u))?,
        Command::Nprops => {
            let mut a = NpropsArg::decode(u);
            a.nprops = vh.prop_nprops(a.id)?;
            a.encode(u);
        }
        Command::Propinfo => {
            let mut a = PropinfoArg::decode(u);
            let (propid, ph) = if a.propid == PROPID_BY_NAME {
                vh.prop_info_by_name(a.id, &a.name)?
            } else {
                (a.propid, vh.prop_info(a.id, a.propid)?)
            };
            a.propid = propid;
            a.ptype = ph.ptype;
            a.prot = ph.prot;
            a.defsize = ph.defsize;
            a.psize = ph.psize;
            a.name = ph.name.clone();
            a.default = ph.default;
            a.poss = ph.poss;
            a.encode(u);
        }
        Command::Getprop => {
            let mut a = PropArg::decode(u);
            let v = vh.prop_get(a.id, a.propid)?;
            a.buf = [0; PROP_SIZEMAX];
            a.buf[..v.len()].copy_from_slice(&v);
            a.bufsize = v.len() as u64;
            a.encode(u);
        }
        Command::Setprop => {
            let a = PropArg::decode(u);
            if a.bufsize > PROP_SIZEMAX as u64 {
                return Err(Errno::EOVERFLOW);
            }
            vh.prop_set(a.id, a.propid, &a.buf[..a.bufsize as usize])?;
        }
        Command::Lookup => {
            let mut a = LookupArg::decode(u);
            a.id = vh.instance_by_linkid(a.linkid)?.id;
            a.encode(u);
        }
        Command::TargetMode => {
            let mut a = TargetModeArg::decode(u);
            let inst = vh.instance(a.id)?;
            a.dest = inst.dest;
            a.mode = inst.mode.as_u32();
            a.encode(u);
        }
        Command::CacheFlush => vh.cache_flush(TargetCacheArg::decode(u).id)?,
        Command::CacheDelete => {
            let a = TargetCacheArg::decode(u);
            vh.cache_delete(a.id, a.key)?;
        }
        Command::CacheGet => {
            let mut a = TargetCacheArg::decode(u);
            let e = vh.cache_get(a.id, a.key)?;
            a.entry = CacheEntry {
                mac: e.dest.mac,
                flags: e.flags,
                ip: e.dest.ip,
                port: e.dest.port,
            };
            a.encode(u);
        }
        Command::CacheSet => {
            let a = TargetCacheArg::decode(u);
            let e = TargCacheEntry {
                mac: a.key,
                flags: a.entry.flags,
                dest: TargetPoint {
                    mac: a.entry.mac,
                    ip: a.entry.ip,
                    port: a.entry.port,
                },
            };
            vh.cache_set(a.id, e)?;
        }
        Command::CacheWalk => {
            let mut a = WalkArg::decode(u);
            if a.count > VARPD_CACHE_WALK_MAX {
                return Err(Errno::E2BIG);
            }
            let room = (u.len() - WalkArg::HDR) / TargCacheEntry::SIZE;
            let want = a.count.min(room as u64) as u16;
            let (marker, ents) = vh.cache_iter(a.id, a.marker, want)?;
            a.marker = marker;
            a.count = ents.len() as u64;
            a.encode(u);
            for (i, e) in ents.iter().enumerate() {
                let off = WalkArg::HDR + i * TargCacheEntry::SIZE;
                e.encode(&mut u[off..off + TargCacheEntry::SIZE]);
            }
        }
        Command::Invalid | Command::Max => return Err(Errno::EINVAL),
    }
    Ok(())
}

//! Helpers for the DYNAMIC-target tests (`cache.rs`, `lookup.rs`): a
//! device with a DYNAMIC target and varpd's handle, and one-line wrappers
//! for LOOKUP, RESPOND, DROP and the CACHE_* ioctls.

use super::*;
use overlay::sys::*;
use overlay::Errno;

pub fn dynamic() -> (Ovl, u32) {
    let o = new();
    let h = open_varpd(&o);
    up(&o, h, 1, 77, OVERLAY_TARGET_DYNAMIC);
    (o, h)
}

pub fn lookup(o: &Ovl, h: u32) -> Result<overlay_targ_lookup_t, Errno> {
    targ(o, h, OVERLAY_TARG_LOOKUP, &overlay_targ_lookup_t::default())
}

pub fn respond(o: &Ovl, h: u32, reqid: u64, pt: overlay_target_point_t) -> Result<(), Errno> {
    targ(
        o,
        h,
        OVERLAY_TARG_RESPOND,
        &overlay_targ_resp_t {
            otr_reqid: reqid,
            otr_answer: pt,
            _pad: [0; 4],
        },
    )
    .map(|_| ())
}

pub fn drop_req(o: &Ovl, h: u32, reqid: u64) -> Result<(), Errno> {
    targ(
        o,
        h,
        OVERLAY_TARG_DROP,
        &overlay_targ_resp_t {
            otr_reqid: reqid,
            ..Default::default()
        },
    )
    .map(|_| ())
}

pub fn cache(
    linkid: u32,
    mac: [u8; 6],
    flags: u16,
    dest: overlay_target_point_t,
) -> overlay_targ_cache_t {
    overlay_targ_cache_t {
        otc_linkid: linkid,
        otc_entry: overlay_targ_cache_entry_t {
            otce_mac: mac,
            otce_flags: flags,
            otce_dest: dest,
        },
    }
}

pub fn cget(o: &Ovl, h: u32, mac: [u8; 6]) -> Result<overlay_targ_cache_entry_t, Errno> {
    targ(
        o,
        h,
        OVERLAY_TARG_CACHE_GET,
        &cache(1, mac, 0, Default::default()),
    )
    .map(|c| c.otc_entry)
}

pub fn cset(
    o: &Ovl,
    h: u32,
    mac: [u8; 6],
    flags: u16,
    dest: overlay_target_point_t,
) -> Result<(), Errno> {
    targ(o, h, OVERLAY_TARG_CACHE_SET, &cache(1, mac, flags, dest)).map(|_| ())
}

pub fn sent(o: &Ovl) -> Vec<(overlay::SockaddrIn6, Vec<u8>)> {
    o.platform().take_sent()
}

pub const M2: [u8; 6] = [2, 0, 0, 0, 0, 0x22];
pub const M3: [u8; 6] = [2, 0, 0, 0, 0, 0x33];

/// Stop device 1 and DELETE it: the errno.
pub fn delete_after_stop(o: &Ovl) -> i32 {
    o.dev_by_linkid(1).unwrap().m_stop();
    delete(o, 1)
}

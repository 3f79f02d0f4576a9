//! libdladm's VNIC support (`libdlvnic.c`) as far as overlays need it:
//! create (with the persistence rule that a persistent VNIC cannot sit on a
//! temporary link), delete, bring-up of persistent VNICs, and the link
//! attributes `show-link` prints.
//!
//! On Linux a VNIC is a MAC client of fkoverlayd's MAC layer backed by a TAP
//! device of the same name; fkoverlayd records a persistent VNIC's lower
//! link, address, MTU and VLAN id as attributes of its link (`linkover`,
//! `macaddr`, `mac_type`, `mtu`, `vid`: libdladm's `FLINKOVER`, `FMACADDR`,
//! `FMADDRTYPE`, `FMTU`, `FVLANID`) so that `up-vnic` can re-create it.
//!
//! A VNIC with a VLAN id (`create-vnic -v`) presents untagged frames to its
//! user; the MAC layer tags what it sends with the id and gives it only the
//! frames of its VLAN.

use crate::backend::*;
use crate::errno::Errno;
use crate::status::{ErrList, Status};

fn st(e: Errno) -> Status {
    Status::from_errno(e)
}

/// How the VNIC's address is chosen (`vnic_mac_addr_type_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MacSpec {
    /// `auto`: a random address (no factory addresses on an overlay).
    Auto,
    Random,
    Fixed([u8; 6]),
}

/// `dladm_vnic_create()`. `vid` 0 is an untagged VNIC.
#[allow(clippy::too_many_arguments)]
pub fn create(
    b: &mut dyn Backend,
    name: &str,
    over: LinkId,
    mac: MacSpec,
    mtu: u32,
    vid: u16,
    flags: u32,
    errs: &mut ErrList,
) -> Result<VnicAttr, Status> {
    if vid > VLAN_ID_MAX {
        return Err(Status::BadArg);
    }
    let lower = b.id2info(over).map_err(st)?;
    if lower.class == DATALINK_CLASS_VNIC || lower.class == DATALINK_CLASS_VLAN {
        errs.append(format!(
            "cannot create a VNIC over {}: it is a {}",
            lower.name,
            class2str(lower.class)
        ));
        return Err(Status::BadArg);
    }
    if flags & DLADM_OPT_PERSIST != 0 && lower.flags & DLADM_OPT_PERSIST == 0 {
        return Err(Status::PersistOnTemp);
    }
    if lower.flags & DLADM_OPT_ACTIVE == 0 {
        return Err(Status::LinkInval);
    }
    let (mac_type, addr) = match mac {
        MacSpec::Auto | MacSpec::Random => (VNIC_MAC_ADDR_TYPE_RANDOM, [0u8; 6]),
        MacSpec::Fixed(m) => {
            // A VNIC needs a unicast address.
            if m[0] & 1 != 0 || m == [0u8; 6] {
                errs.append(format!(
                    "MAC address {} is not a unicast address",
                    crate::linkname::ether_ntoa(&m)
                ));
                return Err(Status::InvalidMacAddr);
            }
            (VNIC_MAC_ADDR_TYPE_FIXED, m)
        }
    };
    let res = b.vnic_create(&VnicCreate {
        linkid: None,
        name: name.to_string(),
        over,
        flags,
        mac_type,
        mac: addr,
        mtu,
        vid,
    });
    let e = match res {
        Ok(a) => return Ok(a),
        Err(e) => e,
    };
    if e == crate::errno::EADDRNOTAVAIL {
        // The first VNIC starts the overlay, which opens its underlay
        // socket on vxlan/listen_ip (spec §7.10).
        errs.append(format!(
            "failed to start overlay device; could not open underlay socket: {}",
            Status::AddrNotAvail
        ));
    } else if e == crate::errno::EEXIST {
        // Say what exists: the name, or (VNICs of an overlay need
        // distinct addresses) the MAC address.
        if b.name2info(name).is_ok() {
            errs.append(format!("link {name} already exists"));
        } else if mac_type == VNIC_MAC_ADDR_TYPE_FIXED {
            errs.append(format!(
                "MAC address {} is already in use over {}",
                crate::linkname::ether_ntoa(&addr),
                lower.name
            ));
        }
    }
    Err(st(e))
}

/// The MTUs a VNIC over overlay `over` may have: from the smallest the
/// overlay's `mtu` property advertises up to the overlay's own MTU.
/// `None` when they cannot be read (`over` is not an overlay).
pub fn mtu_range(b: &mut dyn Backend, over: LinkId) -> Option<(u32, u32)> {
    let info = b.id2info(over).ok()?;
    if info.class != DATALINK_CLASS_OVERLAY {
        return None;
    }
    let pi = b.ovl_propinfo(over, PropSel::Name("mtu")).ok()?;
    let lo = match &pi.range {
        crate::prop::Range::Uint32(r) => r.iter().map(|&(lo, _)| lo).min()?,
        _ => 1,
    };
    let (hi, _) = link_attr(b, &info);
    let hi = hi?;
    (lo <= hi).then_some((lo, hi))
}

/// `dladm_vnic_delete()`.
pub fn delete(b: &mut dyn Backend, linkid: LinkId, flags: u32) -> Result<(), Status> {
    let info = b.id2info(linkid).map_err(st)?;
    if info.class != DATALINK_CLASS_VNIC {
        return Err(Status::BadArg);
    }
    let f = flags & info.flags;
    if f & DLADM_OPT_ACTIVE != 0 {
        // vnic_delete removes the TAP and destroys the id with `f`.
        b.vnic_delete(linkid, f).map_err(st)
    } else if f != 0 {
        b.destroy_datalink_id(linkid, f).map_err(st)
    } else {
        Err(Status::NotFound)
    }
}

/// `dladm_vnic_up()`: re-create persistent VNICs that are not running
/// (all of them, one, or those over `over`). Returns the last failure.
pub fn up(
    b: &mut dyn Backend,
    linkid: Option<LinkId>,
    over: Option<LinkId>,
) -> Result<Vec<LinkId>, Status> {
    up_errs(b, linkid, over, &mut ErrList::default())
}

/// [`up`], with the reasons for failures that a status alone cannot name
/// (a VNIC's zone that no longer exists) appended to `errs`.
pub fn up_errs(
    b: &mut dyn Backend,
    linkid: Option<LinkId>,
    over: Option<LinkId>,
    errs: &mut ErrList,
) -> Result<Vec<LinkId>, Status> {
    let links: Vec<LinkInfo> = match linkid {
        Some(l) => vec![b.id2info(l).map_err(st)?],
        None => b
            .walk_links(DATALINK_CLASS_VNIC, DLADM_OPT_PERSIST)
            .map_err(st)?
            .into_iter()
            .filter(|l| l.flags & DLADM_OPT_ACTIVE == 0)
            .collect(),
    };
    let mut res = Ok(Vec::new());
    let mut done = Vec::new();
    for l in links {
        if l.class != DATALINK_CLASS_VNIC {
            res = Err(Status::BadArg);
            continue;
        }
        match up_one(b, &l, over, errs) {
            Ok(true) => done.push(l.linkid),
            Ok(false) => {}
            Err(s) => res = Err(s),
        }
    }
    res.map(|_: Vec<LinkId>| done)
}

fn up_one(
    b: &mut dyn Backend,
    l: &LinkInfo,
    over_filter: Option<LinkId>,
    errs: &mut ErrList,
) -> Result<bool, Status> {
    let conf = b.get_conf(l.linkid).map_err(st)?;
    let zone = crate::linkprop::conf_zone(&conf);
    let mut over = None;
    let mut mac = None;
    let mut mac_type = VNIC_MAC_ADDR_TYPE_RANDOM;
    let mut mtu = 0u32;
    let mut vid = 0u16;
    for (k, v) in conf {
        match (k.as_str(), v) {
            ("linkover", ConfVal::U64(x)) => over = u32::try_from(x).ok(),
            ("macaddr", ConfVal::Str(s)) => mac = crate::linkname::ether_aton(&s),
            ("mac_type", ConfVal::U64(x)) => mac_type = x as u32,
            ("mtu", ConfVal::U64(x)) => mtu = u32::try_from(x).unwrap_or(0),
            ("vid", ConfVal::U64(x)) => {
                vid = match u16::try_from(x) {
                    Ok(v) if v <= VLAN_ID_MAX => v,
                    _ => return Err(Status::BadVal),
                }
            }
            _ => {}
        }
    }
    let over = over.ok_or(Status::NotFound)?;
    if let Some(f) = over_filter {
        if f != over {
            return Ok(false);
        }
    }
    // A persistent VNIC keeps the address it was first given, and its
    // type: a random address stays `random` (fkoverlayd reuses the
    // address it is handed back).
    let mac = mac.unwrap_or([0u8; 6]);
    b.vnic_create(&VnicCreate {
        linkid: Some(l.linkid),
        name: l.name.clone(),
        over,
        flags: l.flags | DLADM_OPT_ACTIVE,
        mac_type,
        mac,
        mtu,
        vid,
    })
    .map_err(st)?;
    if let Some(z) = zone {
        crate::linkprop::restore_zone(b, l.linkid, &l.name, &z, errs)?;
    }
    Ok(true)
}

/// `dladm_linkstate2str()`.
pub fn linkstate2str(state: u32) -> &'static str {
    match state {
        1 => "up",
        0 => "down",
        _ => "unknown",
    }
}

/// MTU and state of any link, for `show-link`: `(mtu, state)`.
pub fn link_attr(b: &mut dyn Backend, l: &LinkInfo) -> (Option<u32>, &'static str) {
    match l.class {
        DATALINK_CLASS_VNIC => match b.vnic_info(l.linkid) {
            Ok(v) => (Some(v.mtu), linkstate2str(v.state)),
            Err(_) => (None, "unknown"),
        },
        DATALINK_CLASS_OVERLAY => {
            let mtu = b.ovl_getprop(l.linkid, 0).ok().and_then(|v| match v.len() {
                4 => Some(u32::from_le_bytes([v[0], v[1], v[2], v[3]])),
                8 => {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(&v);
                    u32::try_from(u64::from_le_bytes(a)).ok()
                }
                _ => None,
            });
            // The device's link goes up when it is activated, which needs
            // the varpd association (varpd/id set).
            let up = b
                .ovl_getprop(l.linkid, 3)
                .map(|v| !v.is_empty())
                .unwrap_or(false);
            (
                mtu,
                if mtu.is_none() {
                    "unknown"
                } else if up {
                    "up"
                } else {
                    "down"
                },
            )
        }
        _ => (None, "unknown"),
    }
}

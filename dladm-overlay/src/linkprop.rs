//! libdladm's link properties (`linkprop.c`) as far as VNICs on Linux need
//! them: `zone`.
//!
//! Theory of operation: illumos' `zone` property assigns a datalink to an
//! exclusive-IP zone (`check_zone`: the name must give a zone id, else
//! `DLADM_STATUS_BADVAL`; `set_zone`: the dld ioctl moves the link;
//! `get_zone`: the zone's name, empty for the global zone). On Linux a
//! zone is a named network namespace and the VNIC's TAP moves there
//! (fkoverlayd's `FK_VNIC_SETZONE`). Unlike illumos, where the property is
//! temporary and zonecfg re-assigns links when a zone boots, the zone is
//! kept with the VNIC's persistent configuration (the link attribute
//! `zone`) unless `-t` is given, and `up-vnic` puts the VNIC back there
//! ([`restore_zone`]). Only VNICs carry the property here; other links
//! answer `DLADM_STATUS_NOTSUP`.

use crate::backend::*;
use crate::status::{ErrList, Status};

/// The property's name.
pub const PROP_ZONE: &str = "zone";
/// The global zone's name (`GLOBAL_ZONENAME`).
pub const GLOBAL_ZONENAME: &str = "global";
/// The link attribute a persistent VNIC's zone is kept in.
pub const CONF_ZONE: &str = "zone";

/// The link properties a link of `class` has, in `show-linkprop` order.
pub fn props_of(class: u32) -> &'static [&'static str] {
    if class == DATALINK_CLASS_VNIC {
        &[PROP_ZONE]
    } else {
        &[]
    }
}

/// `check_zone()`: the zone a value names, `""` for the global zone;
/// `BadVal` for a zone that does not exist.
pub fn check_zone(b: &mut dyn Backend, val: Option<&str>) -> Result<String, Status> {
    match val {
        None | Some("") | Some(GLOBAL_ZONENAME) => Ok(String::new()),
        Some(z) if b.zone_exists(z) => Ok(z.to_string()),
        Some(_) => Err(Status::BadVal),
    }
}

/// `dladm_set_linkprop()` for `zone`: `val` `None` resets it (the global
/// zone). `flags`: `DLADM_OPT_ACTIVE` moves the running VNIC,
/// `DLADM_OPT_PERSIST` records it with a persistent VNIC.
pub fn set_zone(
    b: &mut dyn Backend,
    linkid: LinkId,
    val: Option<&str>,
    flags: u32,
) -> Result<(), Status> {
    let info = b.id2info(linkid).map_err(Status::from_errno)?;
    if info.class != DATALINK_CLASS_VNIC {
        return Err(Status::NotSup);
    }
    let zone = check_zone(b, val)?;
    if flags & DLADM_OPT_ACTIVE != 0 && info.flags & DLADM_OPT_ACTIVE != 0 {
        b.vnic_set_zone(linkid, &zone)
            .map_err(|e| match Status::from_errno(e) {
                // The namespace went away between the check and the move.
                Status::BadArg => Status::BadVal,
                s => s,
            })?;
    }
    if flags & DLADM_OPT_PERSIST != 0 && info.flags & DLADM_OPT_PERSIST != 0 {
        b.set_conf(linkid, CONF_ZONE, &ConfVal::Str(zone))
            .map_err(Status::from_errno)?;
    }
    Ok(())
}

/// `dladm_get_linkprop()` for `zone`: the running VNIC's zone, or with
/// `persist` the recorded one; `""` is the global zone.
pub fn get_zone(b: &mut dyn Backend, linkid: LinkId, persist: bool) -> Result<String, Status> {
    if persist {
        let conf = b.get_conf(linkid).map_err(Status::from_errno)?;
        return Ok(conf
            .into_iter()
            .find_map(|(k, v)| match (k.as_str(), v) {
                (CONF_ZONE, ConfVal::Str(s)) => Some(s),
                _ => None,
            })
            .unwrap_or_default());
    }
    b.vnic_get_zone(linkid).map_err(Status::from_errno)
}

/// The zone recorded in a persistent VNIC's configuration, if any.
pub fn conf_zone(conf: &[(String, ConfVal)]) -> Option<String> {
    conf.iter().find_map(|(k, v)| match (k.as_str(), v) {
        (CONF_ZONE, ConfVal::Str(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    })
}

/// `up-vnic`'s part (illumos: `dladm_init_linkprop` after the link is
/// up): a VNIC just re-created goes back to its recorded zone. A zone that
/// no longer exists is an error named in `errs`, and the VNIC is deleted
/// again rather than left running in the wrong zone.
pub fn restore_zone(
    b: &mut dyn Backend,
    linkid: LinkId,
    name: &str,
    zone: &str,
    errs: &mut ErrList,
) -> Result<(), Status> {
    let r = if b.zone_exists(zone) {
        b.vnic_set_zone(linkid, zone).map_err(Status::from_errno)
    } else {
        Err(Status::BadVal)
    };
    if let Err(s) = r {
        errs.append(format!(
            "cannot put vnic '{name}' in zone '{zone}': {}",
            if s == Status::BadVal || s == Status::BadArg {
                format!("no such zone (network namespace {}/{zone})", netns_dir())
            } else {
                s.to_string()
            }
        ));
        let _ = b.vnic_delete(linkid, DLADM_OPT_ACTIVE);
        return Err(Status::BadVal);
    }
    Ok(())
}

/// Where zones' namespaces are, for messages.
pub fn netns_dir() -> &'static str {
    overlay_sys::fk::FK_NETNS_DIR
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeBackend;

    #[test]
    fn zone_values() {
        let mut b = FakeBackend::new();
        b.zones_known.insert("z1".into());
        assert_eq!(check_zone(&mut b, Some("z1")), Ok("z1".into()));
        assert_eq!(check_zone(&mut b, Some("global")), Ok(String::new()));
        assert_eq!(check_zone(&mut b, Some("")), Ok(String::new()));
        assert_eq!(check_zone(&mut b, None), Ok(String::new()));
        assert_eq!(check_zone(&mut b, Some("nosuch")), Err(Status::BadVal));
    }
}

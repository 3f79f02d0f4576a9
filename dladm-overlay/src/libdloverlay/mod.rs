//! libdladm's overlay support (`libdloverlay.c`): create with rollback,
//! delete, the property walk, bring-up from the persistent configuration,
//! status; the target-cache operations behind `modify-overlay` and
//! `show-overlay -t` are in [`cache`].
//!
//! Theory of operation (spec/userland.md §7). Creating an overlay takes
//! three parties: dlmgmtd hands out a datalink id, the overlay driver gets
//! a device for it and the encapsulation properties, and varpd gets an
//! instance of the search plugin with its properties. The order is fixed:
//! link id → kernel device → (persistent record) → kernel properties →
//! varpd instance → varpd properties → varpd activate (which associates the
//! instance with the kernel device) → kernel activate. Any failure undoes
//! everything before it, so a failed create leaves no kernel device, no
//! varpd instance, no link id and no persistent record; the error list says
//! what failed and which required properties are still unset.
//!
//! Properties named `<search>/...` go to varpd, all others to the kernel.
//! Values are parsed strictly (see `prop`); a refused value is reported as
//! a fatal message of its own rather than a bare "invalid argument".
//!
//! Deliberate fixes of illumos defects (§12) are marked FIX.

use crate::backend::*;
use crate::errno::{self, strerror, Errno};
use crate::prop::{self, PropArg, PropInfo};
use crate::status::{ErrList, Status};

mod cache;
pub use cache::*;

/// `VARPD_PROPERTY_NAME`.
pub const VARPD_PROPERTY_NAME: &str = "varpd/id";
/// The persistent attributes of an overlay link (`FVNETID`, `FENCAP`,
/// `FSEARCH`).
pub const FVNETID: &str = "vnetid";
pub const FENCAP: &str = "encap";
pub const FSEARCH: &str = "search";

/// How a library call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpErr {
    /// A status, printed after the command's own message.
    Status(Status),
    /// A complete message that replaces the command's (a refused value).
    Fatal(String),
}

impl From<Status> for OpErr {
    fn from(s: Status) -> OpErr {
        OpErr::Status(s)
    }
}

fn st(e: Errno) -> Status {
    Status::from_errno(e)
}

/// Where a property lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropSrc {
    Kernel,
    Varpd(u64),
}

/// One property of an overlay, with its current value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropRow {
    pub src: PropSrc,
    pub info: PropInfo,
    /// `None`: the value could not be read (show-overlay skips the row);
    /// `Some(empty)`: unset.
    pub value: Option<Vec<u8>>,
}

/// `dladm_overlay_create()`.
#[allow(clippy::too_many_arguments)]
pub fn create(
    b: &mut dyn Backend,
    name: &str,
    encap: &str,
    search: &str,
    vnetid: u64,
    props: &[PropArg],
    errs: &mut ErrList,
    flags: u32,
) -> Result<LinkId, OpErr> {
    if name.len() >= 32 || encap.len() >= 256 || search.len() >= 256 {
        return Err(Status::BadArg.into());
    }
    let linkid = b
        .create_datalink_id(name, DATALINK_CLASS_OVERLAY, flags)
        .inspect_err(|&e| {
            if e == errno::EEXIST {
                errs.append(format!("link {name} already exists"));
            }
        })
        .map_err(st)?;
    if let Err(e) = b.ovl_create(linkid, vnetid, encap) {
        let _ = b.destroy_datalink_id(linkid, flags);
        // Name what the driver refused (OVERLAY_IOC_CREATE: an invalid
        // plugin name or a vnetid too large for the plugin is EINVAL, an
        // unknown plugin ENOENT).
        if e == errno::EINVAL {
            errs.append(if encap.is_empty() || encap.contains('/') {
                format!("invalid encapsulation plugin name '{encap}'")
            } else {
                format!(
                    "the overlay driver refused virtual network id {vnetid}: \
                     out of range for encapsulation plugin {encap}"
                )
            });
        } else if e == errno::ENOENT {
            errs.append(format!("unknown encapsulation plugin '{encap}'"));
        } else if e == errno::EEXIST {
            errs.append(format!(
                "virtual network id {vnetid} is already used by another {encap} overlay"
            ));
        }
        return Err(st(e).into());
    }
    let persist = flags & DLADM_OPT_PERSIST != 0;
    let mut res = Ok(());
    if persist {
        let conf = [
            (FVNETID, ConfVal::U64(vnetid)),
            (FENCAP, ConfVal::Str(encap.to_string())),
            (FSEARCH, ConfVal::Str(search.to_string())),
        ];
        for (k, v) in conf.iter() {
            if let Err(e) = b.set_conf(linkid, k, v) {
                errs.append(format!(
                    "failed to create persistent configuration for {}: {}",
                    name,
                    st(e)
                ));
                res = Err(st(e).into());
                break;
            }
        }
    }
    if res.is_ok() {
        res = commit_sys(b, linkid, search, props, errs, persist);
    }
    if let Err(e) = res {
        // Roll back everything (§7.2 step 7): the kernel device, the
        // persistent record, the link id.
        let _ = b.ovl_delete(linkid);
        if persist {
            let _ = b.remove_conf(linkid);
        }
        let _ = b.destroy_datalink_id(linkid, flags);
        return Err(e);
    }
    Ok(linkid)
}

/// Parse a `-p` property's single value against its description; a
/// property that cannot be set is refused by name.
fn parse_one(info: &PropInfo, p: &PropArg) -> Result<Vec<u8>, OpErr> {
    if info.prot & prop::OVERLAY_PROP_PERM_WRITE == 0 {
        return Err(OpErr::Fatal(prop::read_only_msg(info)));
    }
    if p.values.len() != 1 {
        let shown = p.values.join(",");
        return Err(OpErr::Fatal(format!(
            "invalid value '{}' for property {}: exactly one value is required",
            shown, p.name
        )));
    }
    prop::parse_value(info, &p.values[0]).map_err(OpErr::Fatal)
}

/// `i_dladm_overlay_commit_sys()`: properties, varpd instance, activation.
/// On failure nothing of varpd remains; the caller removes the kernel
/// device and the link id.
pub fn commit_sys(
    b: &mut dyn Backend,
    linkid: LinkId,
    search: &str,
    props: &[PropArg],
    errs: &mut ErrList,
    persist: bool,
) -> Result<(), OpErr> {
    // 1. Kernel (encapsulation and generic) properties.
    for p in props
        .iter()
        .filter(|p| !prop::is_search_prop(&p.name, search))
    {
        if p.name.len() >= 64 {
            errs.append(format!("failed to set property {}", p.name));
            return Err(Status::BadArg.into());
        }
        let info = match b.ovl_propinfo(linkid, PropSel::Name(&p.name)) {
            Ok(i) => i,
            Err(e) if e == errno::ENOENT => {
                let valid = settable_names(b, Some(linkid), None);
                errs.append(format!(
                    "unknown property '{}': the overlay's properties are {}; \
                     search plugin {search}'s start with '{search}/'",
                    p.name,
                    valid.join(", ")
                ));
                return Err(st(e).into());
            }
            Err(e) => {
                errs.append(format!("failed to set property {}", p.name));
                return Err(st(e).into());
            }
        };
        let val = parse_one(&info, p)?;
        if let Err(e) = b.ovl_setprop(linkid, info.id, &val) {
            if e == errno::EINVAL {
                // The value parsed, so the driver refused it as such.
                let by = "the overlay driver";
                return Err(OpErr::Fatal(prop::refused_value_msg(
                    &info,
                    &p.values[0],
                    by,
                )));
            }
            errs.append(format!("failed to set property {}", p.name));
            return Err(st(e).into());
        }
        if persist {
            let v = ConfVal::Str(p.values[0].clone());
            if let Err(e) = b.set_conf(linkid, &p.name, &v) {
                errs.append(format!("failed to persistently set property {}", p.name));
                return Err(st(e).into());
            }
        }
    }

    // 2.-3. varpd handle and instance.
    if let Err(e) = b.varpd_open() {
        errs.append(format!("failed to create libvarpd handle: {}", strerror(e)));
        return Err(st(e).into());
    }
    if search.len() >= 64 {
        errs.append(format!(
            "failed to create varpd instance: {}",
            strerror(errno::EINVAL)
        ));
        return Err(Status::BadArg.into());
    }
    let id = match b.varpd_instance_create(linkid, search) {
        Ok(id) => id,
        Err(e) => {
            errs.append(format!("failed to create varpd instance: {}", strerror(e)));
            if e == errno::ENOENT {
                errs.append(format!("unknown search plugin '{search}'"));
            }
            return Err(st(e).into());
        }
    };

    // 4. Search plugin properties. (illumos appended "\n" to these
    // messages, printing a blank line; dropped.)
    for p in props
        .iter()
        .filter(|p| prop::is_search_prop(&p.name, search))
    {
        let r = (|| -> Result<(), OpErr> {
            let info = b
                .varpd_propinfo(id, PropSel::Name(&p.name))
                .map_err(|e| OpErr::Status(st(e)))?;
            let val = parse_one(&info, p)?;
            b.varpd_setprop(id, info.id, &val).map_err(|e| {
                if e == errno::EINVAL {
                    // The value parsed, so the plugin refused it as such.
                    let by = format!("search plugin {search}");
                    OpErr::Fatal(prop::refused_value_msg(&info, &p.values[0], &by))
                } else {
                    OpErr::Status(st(e))
                }
            })
        })();
        if let Err(e) = r {
            if matches!(e, OpErr::Status(Status::NotFound)) {
                let valid = settable_names(b, None, Some(id));
                errs.append(format!(
                    "unknown property '{}' for search plugin {search}: its properties are {}",
                    p.name,
                    valid.join(", ")
                ));
            } else if matches!(e, OpErr::Status(_)) {
                errs.append(format!("failed to set varpd prop: {}", p.name));
            }
            let _ = b.varpd_instance_destroy(id);
            return Err(e);
        }
        if persist {
            let v = ConfVal::Str(p.values[0].clone());
            if let Err(e) = b.set_conf(linkid, &p.name, &v) {
                errs.append(format!("failed to persistently set varpd prop: {}", p.name));
                let _ = b.varpd_instance_destroy(id);
                return Err(st(e).into());
            }
        }
    }

    // 5. varpd activation (plugin start, association with the device).
    if let Err(e) = b.varpd_instance_activate(id) {
        // A plugin that refuses to start says why by degrading the device
        // (the files plugin: `path:line:col: problem`); the door itself
        // carries only an errno (illumos' envelope), so read it back from
        // the kernel before the device is rolled back.
        if let Ok((true, msg)) = b.ovl_status(linkid) {
            if !msg.is_empty() {
                errs.append(msg);
            }
        }
        errs.append(format!(
            "failed to activate varpd instance: {}",
            strerror(e)
        ));
        unset_required(b, None, Some(id), errs);
        let _ = b.varpd_instance_destroy(id);
        return Err(st(e).into());
    }

    // 6. Kernel activation.
    if let Err(e) = b.ovl_activate(linkid) {
        errs.append(format!("failed to activate device: {}", strerror(e)));
        unset_required(b, Some(linkid), Some(id), errs);
        let _ = b.varpd_instance_destroy(id);
        return Err(st(e).into());
    }
    Ok(())
}

/// The names of the settable properties of the kernel device `linkid` or
/// of varpd instance `varpd`, for a message about a name that is neither.
fn settable_names(b: &mut dyn Backend, linkid: Option<LinkId>, varpd: Option<u64>) -> Vec<String> {
    let n = match (linkid, varpd) {
        (Some(l), _) => b.ovl_nprops(l),
        (None, Some(id)) => b.varpd_nprops(id),
        (None, None) => Ok(0),
    }
    .unwrap_or(0);
    let mut names = Vec::new();
    for i in 0..n.min(256) {
        let info = match (linkid, varpd) {
            (Some(l), _) => b.ovl_propinfo(l, PropSel::Id(i)),
            (None, Some(id)) => b.varpd_propinfo(id, PropSel::Id(i)),
            (None, None) => break,
        };
        if let Ok(info) = info {
            if info.prot & prop::OVERLAY_PROP_PERM_WRITE != 0 {
                names.push(info.name);
            }
        }
    }
    names
}

/// Append `unset required property: <name>` for every required property
/// (of the kernel device and/or the varpd instance) that has no value.
fn unset_required(
    b: &mut dyn Backend,
    linkid: Option<LinkId>,
    varpd: Option<u64>,
    errs: &mut ErrList,
) {
    if let Some(l) = linkid {
        if let Ok(n) = b.ovl_nprops(l) {
            for i in 0..n {
                if let Ok(info) = b.ovl_propinfo(l, PropSel::Id(i)) {
                    if info.required() && b.ovl_getprop(l, i).map(|v| v.is_empty()).unwrap_or(false)
                    {
                        errs.append(format!("unset required property: {}", info.name));
                    }
                }
            }
        }
    }
    if let Some(id) = varpd {
        if let Ok(n) = b.varpd_nprops(id) {
            for i in 0..n {
                if let Ok(info) = b.varpd_propinfo(id, PropSel::Id(i)) {
                    if info.required()
                        && b.varpd_getprop(id, i)
                            .map(|v| v.is_empty())
                            .unwrap_or(false)
                    {
                        errs.append(format!("unset required property: {}", info.name));
                    }
                }
            }
        }
    }
}

/// `dladm_overlay_delete()`. FIX (§12 #13): success when varpd has no
/// instance for the link, and with `-t` the active link id is destroyed
/// too (illumos left a stale entry).
pub fn delete(b: &mut dyn Backend, linkid: LinkId, flags: u32) -> Result<(), Status> {
    let info = b.id2info(linkid).map_err(st)?;
    if info.class != DATALINK_CLASS_OVERLAY {
        return Err(Status::BadArg);
    }
    if info.flags & DLADM_OPT_ACTIVE != 0 {
        // Reach varpd and find the instance before changing anything, so
        // a door we may not use stops the delete while nothing is undone.
        let inst = match b.varpd_open() {
            Ok(()) => match b.varpd_lookup(linkid) {
                Ok(id) => Some(id),
                Err(errno::ENOENT) => None,
                Err(e) => return Err(st(e)),
            },
            // No varpd means no instance to remove.
            Err(errno::ENOENT) | Err(errno::ECONNREFUSED) => None,
            Err(e) => return Err(st(e)),
        };
        match b.ovl_delete(linkid) {
            Ok(()) | Err(errno::ENOENT) => {}
            Err(e) => return Err(st(e)),
        }
        if let Some(id) = inst {
            match b.varpd_instance_destroy(id) {
                Ok(()) | Err(errno::ENOENT) => {}
                Err(e) => return Err(st(e)),
            }
        }
    }
    let f = flags & info.flags;
    if f & DLADM_OPT_PERSIST != 0 {
        let _ = b.remove_conf(linkid);
    }
    if f != 0 {
        b.destroy_datalink_id(linkid, f).map_err(st)?;
    }
    Ok(())
}

/// `dladm_overlay_walk_prop()`: kernel properties, then (when the device
/// is associated) the varpd instance's. Errors go to `errs`; the rows read
/// so far are returned either way.
pub fn walk_prop(b: &mut dyn Backend, linkid: LinkId, errs: &mut ErrList) -> Vec<PropRow> {
    let mut rows = Vec::new();
    let info = match b.id2info(linkid) {
        Ok(i) => i,
        Err(e) => {
            errs.append(format!(
                "failed to get info for datalink id {}: {}",
                linkid,
                st(e)
            ));
            return rows;
        }
    };
    if info.class != DATALINK_CLASS_OVERLAY {
        errs.append(format!("{} is not an overlay", info.name));
        return rows;
    }
    let n = match b.ovl_nprops(linkid) {
        Ok(n) => n,
        Err(e) => {
            errs.append(format!(
                "failed to get overlay properties for overlay {}: {}",
                info.name,
                st(e)
            ));
            return rows;
        }
    };
    let mut varpd_id = None;
    for i in 0..n {
        let pi = match b.ovl_propinfo(linkid, PropSel::Id(i)) {
            Ok(p) => p,
            Err(e) => {
                errs.append(format!(
                    "failed to get propinfo for overlay {}, property {}: {}",
                    info.name,
                    i,
                    st(e)
                ));
                return rows;
            }
        };
        let value = b.ovl_getprop(linkid, pi.id).ok();
        if pi.name == VARPD_PROPERTY_NAME {
            if let Some(v) = &value {
                if v.len() == 8 {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(v);
                    varpd_id = Some(u64::from_le_bytes(a));
                }
            }
        }
        rows.push(PropRow {
            src: PropSrc::Kernel,
            info: pi,
            value,
        });
    }
    if let Some(id) = varpd_id {
        let r = (|| -> Result<(), Errno> {
            b.varpd_open()?;
            let m = b.varpd_nprops(id)?;
            for j in 0..m {
                let pi = b.varpd_propinfo(id, PropSel::Id(j))?;
                let value = b.varpd_getprop(id, j).ok();
                rows.push(PropRow {
                    src: PropSrc::Varpd(id),
                    info: pi,
                    value,
                });
            }
            Ok(())
        })();
        if let Err(e) = r {
            // FIX: illumos printed the earlier (successful) status here.
            errs.append(format!(
                "failed to get varpd props for overlay {}, varpd id {}: {}",
                info.name,
                id,
                st(e)
            ));
        }
    }
    rows
}

/// `dladm_overlay_up()` for one link or all persistent overlays. Returns
/// the link ids brought up; failures are in `errs` (and make the result
/// `Failed`).
pub fn up(
    b: &mut dyn Backend,
    linkid: Option<LinkId>,
    errs: &mut ErrList,
) -> Result<Vec<LinkId>, Status> {
    let links: Vec<LinkId> = match linkid {
        Some(l) => vec![l],
        None => b
            .walk_links(DATALINK_CLASS_OVERLAY, DLADM_OPT_PERSIST)
            .map_err(st)?
            .into_iter()
            // An overlay that is already up is left alone.
            .filter(|l| l.flags & DLADM_OPT_ACTIVE == 0)
            .map(|l| l.linkid)
            .collect(),
    };
    let mut done = Vec::new();
    for l in links {
        let info = match b.id2info(l) {
            Ok(i) => i,
            Err(e) => {
                errs.append(format!(
                    "failed to get info for datalink id {}: {}",
                    l,
                    st(e)
                ));
                continue;
            }
        };
        if info.class != DATALINK_CLASS_OVERLAY {
            errs.append(format!("{} is not an overlay", info.name));
            continue;
        }
        if up_one(b, &info, errs) {
            done.push(l);
        }
    }
    if errs.count() > 0 {
        Err(Status::Failed)
    } else {
        Ok(done)
    }
}

fn up_one(b: &mut dyn Backend, info: &LinkInfo, errs: &mut ErrList) -> bool {
    let conf = match b.get_conf(info.linkid) {
        Ok(c) => c,
        Err(e) => {
            errs.append(format!(
                "failed to retrieve persistent configuration for {}: {}",
                info.name,
                st(e)
            ));
            return false;
        }
    };
    let mut vnetid = None;
    let mut encap = None;
    let mut search = None;
    let mut props = Vec::new();
    for (k, v) in conf {
        match (k.as_str(), v) {
            (FVNETID, ConfVal::U64(x)) => vnetid = Some(x),
            (FENCAP, ConfVal::Str(s)) => encap = Some(s),
            (FSEARCH, ConfVal::Str(s)) => search = Some(s),
            // FIX (§12 #15): every persisted property is restored, also
            // those without a '/' (mtu).
            (_, ConfVal::Str(s)) => props.push(PropArg {
                name: k,
                values: vec![s],
            }),
            _ => {}
        }
    }
    let (Some(vnetid), Some(encap), Some(search)) = (vnetid, encap, search) else {
        errs.append(format!(
            "failed to retrieve persistent configuration for {}: {}",
            info.name,
            Status::NotFound
        ));
        return false;
    };
    // The link must be active before the driver can register a device on
    // it (dls_devnet_create's check), so it is brought up first and taken
    // down again if the device cannot be set up.
    if let Err(e) = b.up_datalink_id(info.linkid) {
        errs.append(format!(
            "failed to bring datalink up for overlay device {}: {}",
            info.name,
            st(e)
        ));
        return false;
    }
    if let Err(e) = b.ovl_create(info.linkid, vnetid, &encap) {
        errs.append(format!(
            "failed to create overlay device {}: {}",
            info.name,
            st(e)
        ));
        let _ = b.destroy_datalink_id(info.linkid, DLADM_OPT_ACTIVE);
        return false;
    }
    // A varpd instance left for this link (varpd outlived the device, e.g.
    // across an fkoverlayd restart) is stale: the device is new.
    if b.varpd_open().is_ok() {
        if let Ok(id) = b.varpd_lookup(info.linkid) {
            let _ = b.varpd_instance_destroy(id);
        }
    }
    if let Err(e) = commit_sys(b, info.linkid, &search, &props, errs, false) {
        let s = match e {
            OpErr::Status(s) => s,
            OpErr::Fatal(m) => {
                errs.append(m);
                Status::BadArg
            }
        };
        errs.append(format!(
            "failed to set properties for overlay device {}: {}",
            info.name, s
        ));
        let _ = delete_active(b, info.linkid);
        let _ = b.destroy_datalink_id(info.linkid, DLADM_OPT_ACTIVE);
        return false;
    }
    true
}

/// Remove the running parts of an overlay (kernel device, varpd instance).
fn delete_active(b: &mut dyn Backend, linkid: LinkId) -> Result<(), Errno> {
    b.ovl_delete(linkid)?;
    if b.varpd_open().is_ok() {
        if let Ok(id) = b.varpd_lookup(linkid) {
            let _ = b.varpd_instance_destroy(id);
        }
    }
    Ok(())
}

/// `dladm_overlay_status()`: `(degraded, message)`.
pub fn status(b: &mut dyn Backend, linkid: LinkId) -> Result<(bool, String), Status> {
    b.ovl_status(linkid).map_err(st)
}

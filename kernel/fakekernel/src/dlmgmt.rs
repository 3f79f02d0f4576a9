//! Datalink management: dlmgmtd's role.
//!
//! Theory of operation: illumos keeps datalink ids, names, classes and
//! flags in dlmgmtd, and persistent link configuration in
//! `/etc/dladm/datalink.conf`. Here [`DlMgmt`] holds the table in memory and
//! keeps the persistent part (links with `DLMGMT_PERSIST` and their typed
//! attributes) in `R/var/lib/overlay/datalink.conf`, a TOML file rewritten
//! atomically (temporary file, fsync, rename) after every change to it.
//!
//! A link has an ACTIVE part (it exists now) and a PERSIST part (it is in
//! the configuration). Destroying removes the parts named by the flags; the
//! id is freed when neither remains. At start-up the persistent links are
//! loaded with PERSIST only: `dladm up-overlay` / `up-vnic` makes them
//! active again. Ids are never reused while the daemon runs, and persistent
//! links keep theirs across restarts.

use overlay_sys::errno::{EEXIST, EINVAL, EIO, ENOENT, ENOSPC};
use overlay_sys::fk::{
    DATALINK_CLASS_OVERLAY, DATALINK_CLASS_VNIC, DLADM_TYPE_BOOLEAN, DLADM_TYPE_STR,
    DLADM_TYPE_UINT64, DLMGMT_ACTIVE, DLMGMT_PERSIST, FK_ATTR_KEYLEN, FK_ATTR_VALLEN,
    MAXLINKNAMELEN,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One typed attribute value (`dladm_datatype_t` plus bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    pub ty: u32,
    pub val: Vec<u8>,
}

/// One datalink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub linkid: u32,
    pub name: String,
    pub class: u32,
    pub media: u32,
    pub flags: u32,
    pub attrs: BTreeMap<String, Attr>,
}

/// The link table and its configuration file.
#[derive(Debug)]
pub struct DlMgmt {
    links: BTreeMap<u32, Link>,
    next_id: u32,
    conf: Option<PathBuf>,
}

/// `dladm_valid_linkname`: ≤ 31 bytes of `[A-Za-z0-9_.]`, not starting with
/// a digit, ending with a number without leading zeroes.
pub fn valid_linkname(name: &str) -> bool {
    let b = name.as_bytes();
    if b.is_empty() || b.len() >= MAXLINKNAMELEN || b[0].is_ascii_digit() {
        return false;
    }
    if !b
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'.')
    {
        return false;
    }
    let nd = b.iter().rev().take_while(|c| c.is_ascii_digit()).count();
    if nd == 0 {
        return false;
    }
    let first = b.len() - nd;
    !(nd > 1 && b[first] == b'0')
}

// ---- on-disk form ----

#[derive(Serialize, Deserialize, Default)]
struct ConfFile {
    #[serde(default)]
    link: Vec<ConfLink>,
}

#[derive(Serialize, Deserialize)]
struct ConfLink {
    linkid: u32,
    name: String,
    class: u32,
    media: u32,
    #[serde(default)]
    attr: Vec<ConfAttr>,
}

/// A value as text: strings as themselves (without the NUL), u64 in
/// decimal, booleans as `true`/`false`; anything else in hex.
#[derive(Serialize, Deserialize)]
struct ConfAttr {
    key: String,
    #[serde(rename = "type")]
    ty: u32,
    value: String,
    #[serde(default)]
    hex: bool,
}

fn attr_to_conf(key: &str, a: &Attr) -> ConfAttr {
    let text = match a.ty {
        DLADM_TYPE_STR => {
            let v = a.val.strip_suffix(&[0]).unwrap_or(&a.val);
            std::str::from_utf8(v).ok().map(str::to_string)
        }
        DLADM_TYPE_UINT64 if a.val.len() == 8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&a.val);
            Some(u64::from_le_bytes(b).to_string())
        }
        DLADM_TYPE_BOOLEAN if a.val.len() == 4 => {
            let mut b = [0u8; 4];
            b.copy_from_slice(&a.val);
            Some((u32::from_le_bytes(b) != 0).to_string())
        }
        _ => None,
    };
    match text {
        Some(value) => ConfAttr {
            key: key.to_string(),
            ty: a.ty,
            value,
            hex: false,
        },
        None => ConfAttr {
            key: key.to_string(),
            ty: a.ty,
            value: a.val.iter().map(|b| format!("{b:02x}")).collect(),
            hex: true,
        },
    }
}

fn attr_from_conf(c: &ConfAttr) -> Option<Attr> {
    let val = if c.hex {
        if c.value.len() & 1 != 0 {
            return None;
        }
        (0..c.value.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(c.value.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?
    } else {
        match c.ty {
            DLADM_TYPE_STR => {
                let mut v = c.value.as_bytes().to_vec();
                v.push(0);
                v
            }
            DLADM_TYPE_UINT64 => c.value.parse::<u64>().ok()?.to_le_bytes().to_vec(),
            DLADM_TYPE_BOOLEAN => {
                let b: bool = c.value.parse().ok()?;
                (b as u32).to_le_bytes().to_vec()
            }
            _ => return None,
        }
    };
    if val.len() > FK_ATTR_VALLEN {
        return None;
    }
    Some(Attr { ty: c.ty, val })
}

impl DlMgmt {
    /// An empty table with no configuration file (tests).
    pub fn in_memory() -> DlMgmt {
        DlMgmt {
            links: BTreeMap::new(),
            next_id: 1,
            conf: None,
        }
    }

    /// Loads the persistent links from `conf` (missing file: none). Bad
    /// entries are skipped with a warning; an unreadable file is an error.
    pub fn load(conf: &Path) -> Result<DlMgmt, String> {
        let mut d = DlMgmt {
            links: BTreeMap::new(),
            next_id: 1,
            conf: Some(conf.to_path_buf()),
        };
        let text = match std::fs::read_to_string(conf) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(d),
            Err(e) => return Err(format!("{}: {e}", conf.display())),
        };
        let file: ConfFile =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", conf.display()))?;
        for l in file.link {
            if l.linkid == 0
                || !valid_linkname(&l.name)
                || d.links.contains_key(&l.linkid)
                || d.by_name(&l.name).is_some()
            {
                tracing::warn!(linkid = l.linkid, name = %l.name, "skipping bad link in configuration");
                continue;
            }
            let mut attrs = BTreeMap::new();
            for a in &l.attr {
                match attr_from_conf(a) {
                    Some(v) if !a.key.is_empty() && a.key.len() < FK_ATTR_KEYLEN => {
                        attrs.insert(a.key.clone(), v);
                    }
                    _ => tracing::warn!(key = %a.key, link = %l.name, "skipping bad attribute"),
                }
            }
            d.next_id = d.next_id.max(l.linkid.saturating_add(1));
            d.links.insert(
                l.linkid,
                Link {
                    linkid: l.linkid,
                    name: l.name,
                    class: l.class,
                    media: l.media,
                    flags: DLMGMT_PERSIST,
                    attrs,
                },
            );
        }
        Ok(d)
    }

    /// Writes the persistent links (atomically). Returns an illumos errno.
    fn save(&self) -> Result<(), i32> {
        let Some(path) = &self.conf else {
            return Ok(());
        };
        let file = ConfFile {
            link: self
                .links
                .values()
                .filter(|l| l.flags & DLMGMT_PERSIST != 0)
                .map(|l| ConfLink {
                    linkid: l.linkid,
                    name: l.name.clone(),
                    class: l.class,
                    media: l.media,
                    attr: l.attrs.iter().map(|(k, a)| attr_to_conf(k, a)).collect(),
                })
                .collect(),
        };
        let text = toml::to_string(&file).map_err(|_| EIO)?;
        write_atomic(path, text.as_bytes()).map_err(|e| {
            tracing::error!(path = %path.display(), error = %e, "cannot write link configuration");
            EIO
        })
    }

    /// A link by id.
    pub fn get(&self, linkid: u32) -> Option<&Link> {
        self.links.get(&linkid)
    }

    /// A link by name.
    pub fn by_name(&self, name: &str) -> Option<&Link> {
        self.links.values().find(|l| l.name == name)
    }

    /// The first link with an id above `cursor` whose class and flags
    /// intersect the masks (0 = any).
    pub fn next(&self, cursor: u32, class_mask: u32, flag_mask: u32) -> Option<&Link> {
        self.links
            .range(cursor.saturating_add(1)..)
            .map(|(_, l)| l)
            .find(|l| {
                (class_mask == 0 || l.class & class_mask != 0)
                    && (flag_mask == 0 || l.flags & flag_mask != 0)
            })
    }

    /// `dladm_create_datalink_id`.
    pub fn create(&mut self, name: &str, class: u32, media: u32, flags: u32) -> Result<u32, i32> {
        if !valid_linkname(name) {
            return Err(EINVAL);
        }
        if class != DATALINK_CLASS_OVERLAY && class != DATALINK_CLASS_VNIC {
            return Err(EINVAL);
        }
        if flags == 0 || flags & !(DLMGMT_ACTIVE | DLMGMT_PERSIST) != 0 {
            return Err(EINVAL);
        }
        if self.by_name(name).is_some() {
            return Err(EEXIST);
        }
        if self.next_id == u32::MAX {
            return Err(ENOSPC);
        }
        let linkid = self.next_id;
        self.next_id += 1;
        self.links.insert(
            linkid,
            Link {
                linkid,
                name: name.to_string(),
                class,
                media,
                flags,
                attrs: BTreeMap::new(),
            },
        );
        if flags & DLMGMT_PERSIST != 0 {
            if let Err(e) = self.save() {
                self.links.remove(&linkid);
                return Err(e);
            }
        }
        Ok(linkid)
    }

    /// `dladm_destroy_datalink_id`: removes the parts named by `flags`.
    /// The caller checks that nothing still uses an ACTIVE part.
    pub fn destroy(&mut self, linkid: u32, flags: u32) -> Result<(), i32> {
        if flags == 0 || flags & !(DLMGMT_ACTIVE | DLMGMT_PERSIST) != 0 {
            return Err(EINVAL);
        }
        let link = self.links.get_mut(&linkid).ok_or(ENOENT)?;
        if link.flags & flags == 0 {
            return Err(ENOENT);
        }
        let old = link.clone();
        link.flags &= !flags;
        if flags & DLMGMT_PERSIST != 0 {
            link.attrs.clear();
        }
        if link.flags == 0 {
            self.links.remove(&linkid);
        }
        if old.flags & flags & DLMGMT_PERSIST != 0 {
            if let Err(e) = self.save() {
                self.links.insert(linkid, old);
                return Err(e);
            }
        }
        Ok(())
    }

    /// `dladm_up_datalink_id`: a persistent link becomes active.
    pub fn up(&mut self, linkid: u32) -> Result<(), i32> {
        let link = self.links.get_mut(&linkid).ok_or(ENOENT)?;
        if link.flags & DLMGMT_PERSIST == 0 {
            return Err(EINVAL);
        }
        link.flags |= DLMGMT_ACTIVE;
        Ok(())
    }

    /// Sets one attribute of a persistent link.
    pub fn set_attr(&mut self, linkid: u32, key: &str, attr: Attr) -> Result<(), i32> {
        if key.is_empty() || key.len() >= FK_ATTR_KEYLEN || attr.val.len() > FK_ATTR_VALLEN {
            return Err(EINVAL);
        }
        match attr.ty {
            DLADM_TYPE_STR if attr.val.last() == Some(&0) => {}
            DLADM_TYPE_UINT64 if attr.val.len() == 8 => {}
            DLADM_TYPE_BOOLEAN if attr.val.len() == 4 => {}
            _ => return Err(EINVAL),
        }
        let link = self.links.get_mut(&linkid).ok_or(ENOENT)?;
        if link.flags & DLMGMT_PERSIST == 0 {
            return Err(EINVAL);
        }
        let old = link.attrs.insert(key.to_string(), attr);
        if let Err(e) = self.save() {
            let link = self.links.get_mut(&linkid).ok_or(ENOENT)?;
            match old {
                Some(o) => link.attrs.insert(key.to_string(), o),
                None => link.attrs.remove(key),
            };
            return Err(e);
        }
        Ok(())
    }

    /// Removes one attribute.
    pub fn unset_attr(&mut self, linkid: u32, key: &str) -> Result<(), i32> {
        let link = self.links.get_mut(&linkid).ok_or(ENOENT)?;
        let old = link.attrs.remove(key).ok_or(ENOENT)?;
        if let Err(e) = self.save() {
            if let Some(link) = self.links.get_mut(&linkid) {
                link.attrs.insert(key.to_string(), old);
            }
            return Err(e);
        }
        Ok(())
    }

    /// Removes every attribute of a link (`dladm_remove_conf`).
    pub fn remove_conf(&mut self, linkid: u32) -> Result<(), i32> {
        let link = self.links.get_mut(&linkid).ok_or(ENOENT)?;
        let old = std::mem::take(&mut link.attrs);
        if let Err(e) = self.save() {
            if let Some(link) = self.links.get_mut(&linkid) {
                link.attrs = old;
            }
            return Err(e);
        }
        Ok(())
    }

    /// One attribute by key.
    pub fn get_attr(&self, linkid: u32, key: &str) -> Result<&Attr, i32> {
        let link = self.links.get(&linkid).ok_or(ENOENT)?;
        link.attrs.get(key).ok_or(ENOENT)
    }

    /// The attribute at `index` in key order.
    pub fn attr_at(&self, linkid: u32, index: u32) -> Result<(&str, &Attr), i32> {
        let link = self.links.get(&linkid).ok_or(ENOENT)?;
        link.attrs
            .iter()
            .nth(index as usize)
            .map(|(k, a)| (k.as_str(), a))
            .ok_or(ENOENT)
    }
}

/// Writes `data` to `path` atomically: a temporary file in the same
/// directory, fsync, rename.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("conf")
    ));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use overlay_sys::fk::DL_ETHER;

    #[test]
    fn link_names() {
        for good in ["demo0", "foo0", "a1", "net.1", "x_y10", "o123"] {
            assert!(valid_linkname(good), "{good}");
        }
        for bad in [
            "",
            "0abc1",
            "foo",
            "foo01",
            "foo-1",
            "a b1",
            &"a".repeat(31),
            "é1",
        ] {
            assert!(!valid_linkname(bad), "{bad}");
        }
        assert!(valid_linkname(&format!("{}1", "a".repeat(30))));
    }

    #[test]
    fn create_destroy_flags() {
        let mut d = DlMgmt::in_memory();
        let id = d
            .create("demo0", DATALINK_CLASS_OVERLAY, DL_ETHER, DLMGMT_ACTIVE)
            .unwrap();
        assert_eq!(
            d.create("demo0", DATALINK_CLASS_VNIC, DL_ETHER, DLMGMT_ACTIVE),
            Err(EEXIST)
        );
        assert_eq!(
            d.create("bad", DATALINK_CLASS_VNIC, DL_ETHER, 1),
            Err(EINVAL)
        );
        assert_eq!(d.create("x0", 0x1, DL_ETHER, 1), Err(EINVAL));
        assert_eq!(
            d.create("x0", DATALINK_CLASS_VNIC, DL_ETHER, 0),
            Err(EINVAL)
        );
        assert_eq!(d.destroy(id, DLMGMT_PERSIST), Err(ENOENT));
        // Attributes only on persistent links.
        let a = Attr {
            ty: DLADM_TYPE_UINT64,
            val: 23u64.to_le_bytes().to_vec(),
        };
        assert_eq!(d.set_attr(id, "vnetid", a.clone()), Err(EINVAL));
        d.destroy(id, DLMGMT_ACTIVE).unwrap();
        assert!(d.get(id).is_none());
        let id2 = d
            .create("demo0", DATALINK_CLASS_OVERLAY, DL_ETHER, 3)
            .unwrap();
        assert_ne!(id, id2, "ids are not reused");
        d.set_attr(id2, "vnetid", a).unwrap();
        assert_eq!(d.next(0, DATALINK_CLASS_OVERLAY, 0).unwrap().linkid, id2);
        assert!(d.next(id2, 0, 0).is_none());
    }

    #[test]
    fn persistence_round_trip() {
        let dir = std::env::temp_dir().join(format!("fk-dlmgmt-{}", std::process::id()));
        let conf = dir.join("datalink.conf");
        let _ = std::fs::remove_dir_all(&dir);
        let (p, t);
        {
            let mut d = DlMgmt::load(&conf).unwrap();
            p = d
                .create("demo0", DATALINK_CLASS_OVERLAY, DL_ETHER, 3)
                .unwrap();
            t = d
                .create("tmp0", DATALINK_CLASS_OVERLAY, DL_ETHER, 1)
                .unwrap();
            d.set_attr(
                p,
                "vxlan/listen_ip",
                Attr {
                    ty: DLADM_TYPE_STR,
                    val: b"10.0.0.1\0".to_vec(),
                },
            )
            .unwrap();
            d.set_attr(
                p,
                "vnetid",
                Attr {
                    ty: DLADM_TYPE_UINT64,
                    val: u64::MAX.to_le_bytes().to_vec(),
                },
            )
            .unwrap();
        }
        let d = DlMgmt::load(&conf).unwrap();
        let l = d.get(p).unwrap();
        assert_eq!(l.name, "demo0");
        assert_eq!(l.flags, DLMGMT_PERSIST);
        assert_eq!(
            d.get_attr(p, "vnetid").unwrap().val,
            u64::MAX.to_le_bytes().to_vec()
        );
        assert_eq!(d.attr_at(p, 1).unwrap().0, "vxlan/listen_ip");
        assert!(d.get(t).is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

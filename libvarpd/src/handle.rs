//! The libvarpd handle (`varpd_impl_t`, libvarpd.c and
//! libvarpd_overlay.c): plugins, instances, properties, persistence and the
//! kernel calls that go with them.
//!
//! # Theory of operation
//!
//! [`Varpd`] owns the exclusive `/dev/overlay` handle (as a [`TargetDev`]),
//! the plugin registry and the instance tables (by id and by datalink id).
//! The door server ([`crate::door::server`]) turns each door command into
//! one method call here; the lookup threads run [`Varpd::lookup_run`].
//!
//! Kernel calls follow spec/userland.md §6.5: `OVERLAY_TARG_INFO` at create
//! and restore; `ASSOCIATE` at activate (after `vpo_start` and persisting);
//! `DISASSOCIATE`/`ASSOCIATE`/`RESTORE` at restore; `LIST` + `DEGRADE` for
//! overlays left without an instance; the cache commands for the door's
//! cache operations.
//!
//! Locking: one mutex over the instance tables, never held across a plugin
//! or kernel call except in the short create/insert and remove steps;
//! instances are `Arc`s, so a door call holds its instance alive while it
//! works. Persistence has its own mutex.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Duration;

use crate::errno::Errno;
use crate::instance::Instance;
use crate::ksys::{self, TargAssociate, TargCacheEntry, TargInfo, TargLookup, TargetPoint};
use crate::persist::{self, Saved};
use crate::plugin::PropType;
use crate::plugin::{
    LookupAction, Plugin, PluginRegistration, PluginRegistry, PropHandle, ProviderHandle, Query,
    SearchInstance, TargetDev, TargetMode, LIBVARPD_PROP_SIZEMAX, OVERLAY_PROP_PERM_READ,
};

/// `LIBVARPD_ID_MIN`..=`LIBVARPD_ID_MAX`.
pub const LIBVARPD_ID_MIN: u64 = 1;
pub const LIBVARPD_ID_MAX: u64 = i32::MAX as u64;
/// The degrade message for overlays without an instance.
pub const VARPD_NO_INSTANCE_MSG: &str = "no varpd instance exists";
/// The internal `search` property.
pub const VARPD_PROP_SEARCH: &str = "search";

#[derive(Default)]
struct Tables {
    by_id: BTreeMap<u64, Arc<Instance>>,
    by_linkid: HashMap<u32, u64>,
    next_id: u64,
}

impl Tables {
    /// Next-fit id allocation in [1, INT32_MAX] (libidspace's `id_alloc`).
    fn alloc_id(&mut self) -> Result<u64, Errno> {
        if self.by_id.len() as u64 >= LIBVARPD_ID_MAX {
            return Err(Errno::ENOMEM);
        }
        let mut id = self.next_id.max(LIBVARPD_ID_MIN);
        while self.by_id.contains_key(&id) {
            id = if id >= LIBVARPD_ID_MAX {
                LIBVARPD_ID_MIN
            } else {
                id + 1
            };
        }
        self.next_id = if id >= LIBVARPD_ID_MAX {
            LIBVARPD_ID_MIN
        } else {
            id + 1
        };
        Ok(id)
    }
}

/// Counters of what the lookup loop did.
#[derive(Default, Debug)]
pub struct LookupStats {
    pub lookups: AtomicUsize,
    pub no_instance: AtomicUsize,
    pub errors: AtomicUsize,
}

/// `varpd_handle_t`.
pub struct Varpd {
    dev: Arc<dyn TargetDev>,
    plugins: RwLock<PluginRegistry>,
    tables: Mutex<Tables>,
    persist_dir: Mutex<Option<PathBuf>>,
    quiesce: AtomicBool,
    running: Mutex<usize>,
    running_cv: Condvar,
    on_lost: std::sync::OnceLock<Box<dyn Fn(Errno) + Send + Sync>>,
    /// What the lookup loop did.
    pub stats: LookupStats,
}

impl std::fmt::Debug for Varpd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Varpd").finish_non_exhaustive()
    }
}

impl Varpd {
    /// `libvarpd_create` around an open `/dev/overlay` handle, which must
    /// serve concurrent ioctls from several threads (a descriptor on
    /// illumos; a [`crate::kdev::KDev`], which attaches a connection per
    /// concurrent caller, on Linux): each lookup thread blocks in
    /// `OVERLAY_TARG_LOOKUP` on its own while other calls proceed.
    /// `_serial_dev` is no longer used (the lookup loop once kept a single
    /// thread in LOOKUP for a device that serialised its ioctls); it stays
    /// for existing callers.
    pub fn new(dev: Arc<dyn TargetDev>, _serial_dev: bool) -> Arc<Varpd> {
        Arc::new(Varpd {
            dev,
            plugins: RwLock::new(PluginRegistry::new()),
            tables: Mutex::new(Tables {
                next_id: LIBVARPD_ID_MIN,
                ..Default::default()
            }),
            persist_dir: Mutex::new(None),
            quiesce: AtomicBool::new(false),
            running: Mutex::new(0),
            running_cv: Condvar::new(),
            on_lost: std::sync::OnceLock::new(),
            stats: LookupStats::default(),
        })
    }

    /// Set what to do when the device handle is lost (fkoverlayd went
    /// away, or the descriptor is unusable): varpd exits so that its
    /// supervisor restarts it against the new kernel. Only the first call
    /// counts.
    pub fn set_on_device_lost(&self, f: Box<dyn Fn(Errno) + Send + Sync>) {
        let _ = self.on_lost.set(f);
    }

    /// The device handle.
    pub fn dev(&self) -> &Arc<dyn TargetDev> {
        &self.dev
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    // -- plugins ------------------------------------------------------------

    /// `libvarpd_plugin_register` into this handle.
    pub fn plugin_register(&self, reg: PluginRegistration) -> Result<(), Errno> {
        self.plugins
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .register(reg)
    }

    /// The plugin named `name`.
    pub fn plugin(&self, name: &str) -> Option<Plugin> {
        self.plugins
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// `libvarpd_plugin_walk`: the plugin names, in `strcmp` order.
    pub fn plugin_names(&self) -> Vec<String> {
        self.plugins
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|p| p.name.to_string())
            .collect()
    }

    // -- kernel helpers -----------------------------------------------------

    fn targ_info(&self, linkid: u32) -> Result<TargInfo, Errno> {
        let mut b = TargInfo {
            linkid,
            ..Default::default()
        }
        .encode();
        self.dev.ioctl(ksys::OVERLAY_TARG_INFO, &mut b)?;
        Ok(TargInfo::decode(&b))
    }

    fn associate(&self, inst: &Instance) -> Result<(), Errno> {
        let point = match inst.mode {
            TargetMode::Point => match inst.private.default() {
                LookupAction::Ok(p) => p,
                // VARPD_LOOKUP_DROP from vpo_default: no usable destination.
                LookupAction::Drop => return Err(Errno::EINVAL),
            },
            TargetMode::Dynamic => TargetPoint::default(),
        };
        let mut b = TargAssociate {
            linkid: inst.linkid,
            mode: inst.mode.as_u32(),
            id: inst.id,
            provides: inst.dest,
            point,
        }
        .encode();
        self.dev.ioctl(ksys::OVERLAY_TARG_ASSOCIATE, &mut b)
    }

    fn ioctl_id(&self, cmd: u32, linkid: u32) -> Result<(), Errno> {
        let mut b = ksys::targ_id(linkid);
        self.dev.ioctl(cmd, &mut b)
    }

    fn degrade(&self, linkid: u32, msg: &str) -> Result<(), Errno> {
        let mut b = ksys::targ_degrade(linkid, msg);
        self.dev.ioctl(ksys::OVERLAY_TARG_DEGRADE, &mut b)
    }

    /// `OVERLAY_TARG_LIST`: every overlay's datalink id.
    pub fn overlay_list(&self) -> Result<Vec<u32>, Errno> {
        loop {
            let mut b = vec![0u8; 4];
            self.dev.ioctl(ksys::OVERLAY_TARG_LIST, &mut b)?;
            let n = ksys::get_u32(&b, 0) as usize;
            if n == 0 {
                return Ok(Vec::new());
            }
            let mut b = vec![0u8; 4 + 4 * n];
            ksys::put_u32(&mut b, 0, n as u32);
            self.dev.ioctl(ksys::OVERLAY_TARG_LIST, &mut b)?;
            let total = ksys::get_u32(&b, 0) as usize;
            if total > n {
                continue; // grew meanwhile: size again
            }
            return Ok((0..total).map(|i| ksys::get_u32(&b, 4 + 4 * i)).collect());
        }
    }

    // -- instances ----------------------------------------------------------

    /// The instance with id `id`.
    pub fn instance(&self, id: u64) -> Result<Arc<Instance>, Errno> {
        self.tables().by_id.get(&id).cloned().ok_or(Errno::ENOENT)
    }

    /// `libvarpd_instance_lookup_by_linkid` (door LOOKUP).
    pub fn instance_by_linkid(&self, linkid: u32) -> Result<Arc<Instance>, Errno> {
        let t = self.tables();
        let id = t.by_linkid.get(&linkid).ok_or(Errno::ENOENT)?;
        t.by_id.get(id).cloned().ok_or(Errno::ENOENT)
    }

    /// Every instance, by id.
    pub fn instances(&self) -> Vec<Arc<Instance>> {
        self.tables().by_id.values().cloned().collect()
    }

    fn insert(&self, inst: Arc<Instance>) -> Result<(), Errno> {
        let mut t = self.tables();
        if t.by_id.contains_key(&inst.id) || t.by_linkid.contains_key(&inst.linkid) {
            return Err(Errno::EEXIST);
        }
        t.by_linkid.insert(inst.linkid, inst.id);
        t.by_id.insert(inst.id, inst);
        Ok(())
    }

    /// `libvarpd_instance_create`: a new instance of `plugin` for overlay
    /// `linkid`. ENOENT: no such plugin or overlay; EEXIST: the overlay
    /// already has an instance; the plugin's create error.
    pub fn instance_create(&self, linkid: u32, plugin: &str) -> Result<Arc<Instance>, Errno> {
        let p = self.plugin(plugin).ok_or(Errno::ENOENT)?;
        let info = self.targ_info(linkid)?;
        let id = {
            let mut t = self.tables();
            if t.by_linkid.contains_key(&linkid) {
                return Err(Errno::EEXIST);
            }
            t.alloc_id()?
        };
        let hdl = ProviderHandle::new(
            id,
            linkid,
            info.vnetid,
            info.needs,
            &p.name,
            self.dev.clone(),
        );
        let private: Arc<dyn SearchInstance> = Arc::from(p.ops.create(hdl.clone(), info.needs)?);
        let inst = Arc::new(Instance::new(
            id,
            linkid,
            info.vnetid,
            info.needs,
            p,
            hdl,
            private,
        ));
        if let Err(e) = self.insert(inst.clone()) {
            inst.private.destroy();
            return Err(e);
        }
        tracing::info!(id, linkid, plugin, "instance created");
        Ok(inst)
    }

    /// `libvarpd_instance_activate`: start, persist, associate. EEXIST if
    /// already active.
    pub fn instance_activate(&self, id: u64) -> Result<(), Errno> {
        let inst = self.instance(id)?;
        if inst.set_activated(true) {
            return Err(Errno::EEXIST);
        }
        let r = (|| {
            inst.private.start()?;
            if let Err(e) = self.persist_instance(&inst) {
                inst.private.stop();
                return Err(e);
            }
            if let Err(e) = self.associate(&inst) {
                self.unpersist(inst.id);
                inst.private.stop();
                return Err(e);
            }
            Ok(())
        })();
        match r {
            Ok(()) => {
                tracing::info!(id, linkid = inst.linkid, "instance activated");
                Ok(())
            }
            Err(e) => {
                inst.set_activated(false);
                Err(e)
            }
        }
    }

    /// `libvarpd_instance_destroy`.
    pub fn instance_destroy(&self, id: u64) -> Result<(), Errno> {
        let inst = {
            let mut t = self.tables();
            let inst = t.by_id.remove(&id).ok_or(Errno::ENOENT)?;
            t.by_linkid.remove(&inst.linkid);
            inst
        };
        if inst.set_activated(false) {
            self.unpersist(id);
            inst.private.stop();
        }
        inst.private.destroy();
        tracing::info!(id, linkid = inst.linkid, "instance destroyed");
        Ok(())
    }

    // -- properties -----------------------------------------------------------

    /// `libvarpd_prop_nprops`: the plugin's properties plus `search`.
    pub fn prop_nprops(&self, id: u64) -> Result<u32, Errno> {
        let inst = self.instance(id)?;
        Ok(inst.private.nprops()?.saturating_add(1))
    }

    /// `libvarpd_prop_info_fill` for client property id `propid`.
    pub fn prop_info(&self, id: u64, propid: u32) -> Result<PropHandle, Errno> {
        let inst = self.instance(id)?;
        self.prop_info_inst(&inst, propid)
    }

    fn prop_info_inst(&self, inst: &Instance, propid: u32) -> Result<PropHandle, Errno> {
        let mut ph = PropHandle::new();
        if propid == 0 {
            ph.set_name(VARPD_PROP_SEARCH);
            ph.set_type(PropType::String);
            ph.set_prot(OVERLAY_PROP_PERM_READ);
            ph.set_nodefault();
            for n in self.plugin_names() {
                ph.set_range_str(&n);
            }
        } else {
            inst.private.propinfo(propid - 1, &mut ph)?;
        }
        Ok(ph)
    }

    /// PROPINFO by name: the client property id and its description.
    pub fn prop_info_by_name(&self, id: u64, name: &str) -> Result<(u32, PropHandle), Errno> {
        let inst = self.instance(id)?;
        let n = inst.private.nprops()?.saturating_add(1);
        for propid in 0..n {
            let ph = self.prop_info_inst(&inst, propid)?;
            if ph.name == name {
                return Ok((propid, ph));
            }
        }
        Err(Errno::ENOENT)
    }

    /// GETPROP: the value of client property `propid` (empty = unset).
    /// Plugin errors are returned (§12 #1).
    pub fn prop_get(&self, id: u64, propid: u32) -> Result<Vec<u8>, Errno> {
        let inst = self.instance(id)?;
        let ph = self.prop_info_inst(&inst, propid)?;
        if propid == 0 {
            let mut v = inst.plugin.name.as_bytes().to_vec();
            v.push(0);
            return Ok(v);
        }
        let mut buf = [0u8; LIBVARPD_PROP_SIZEMAX];
        let n = inst.private.getprop(&ph.name, &mut buf)?;
        Ok(buf[..n.min(LIBVARPD_PROP_SIZEMAX)].to_vec())
    }

    /// SETPROP: EPERM for `search`, EBUSY once activated (§12 #5), EINVAL
    /// for an empty name, else the plugin's answer.
    pub fn prop_set(&self, id: u64, propid: u32, val: &[u8]) -> Result<(), Errno> {
        let inst = self.instance(id)?;
        let ph = self.prop_info_inst(&inst, propid)?;
        if propid == 0 {
            return Err(Errno::EPERM);
        }
        if ph.name.is_empty() {
            return Err(Errno::EINVAL);
        }
        if val.len() > LIBVARPD_PROP_SIZEMAX {
            return Err(Errno::EOVERFLOW);
        }
        if inst.is_activated() {
            return Err(Errno::EBUSY);
        }
        inst.private.setprop(&ph.name, val)
    }

    // -- target cache (door CACHE_*) ------------------------------------------

    fn cache_ioctl(
        &self,
        id: u64,
        cmd: u32,
        entry: TargCacheEntry,
    ) -> Result<TargCacheEntry, Errno> {
        let inst = self.instance(id)?;
        let mut b = ksys::targ_cache(inst.linkid, &entry);
        self.dev.ioctl(cmd, &mut b)?;
        Ok(TargCacheEntry::decode(&b[4..40]))
    }

    /// `OVERLAY_TARG_CACHE_FLUSH`.
    pub fn cache_flush(&self, id: u64) -> Result<(), Errno> {
        self.cache_ioctl(
            id,
            ksys::OVERLAY_TARG_CACHE_FLUSH,
            TargCacheEntry::default(),
        )
        .map(|_| ())
    }

    /// `OVERLAY_TARG_CACHE_REMOVE` for `key`.
    pub fn cache_delete(&self, id: u64, key: [u8; 6]) -> Result<(), Errno> {
        let e = TargCacheEntry {
            mac: key,
            ..Default::default()
        };
        self.cache_ioctl(id, ksys::OVERLAY_TARG_CACHE_REMOVE, e)
            .map(|_| ())
    }

    /// `OVERLAY_TARG_CACHE_GET` for `key`.
    pub fn cache_get(&self, id: u64, key: [u8; 6]) -> Result<TargCacheEntry, Errno> {
        let e = TargCacheEntry {
            mac: key,
            ..Default::default()
        };
        self.cache_ioctl(id, ksys::OVERLAY_TARG_CACHE_GET, e)
    }

    /// `OVERLAY_TARG_CACHE_SET`.
    pub fn cache_set(&self, id: u64, entry: TargCacheEntry) -> Result<(), Errno> {
        self.cache_ioctl(id, ksys::OVERLAY_TARG_CACHE_SET, entry)
            .map(|_| ())
    }

    /// `OVERLAY_TARG_CACHE_ITER`: up to `count` entries from `marker`;
    /// returns the new marker and the entries.
    pub fn cache_iter(
        &self,
        id: u64,
        marker: u64,
        count: u16,
    ) -> Result<(u64, Vec<TargCacheEntry>), Errno> {
        let inst = self.instance(id)?;
        let mut b = ksys::targ_cache_iter(inst.linkid, marker, count);
        self.dev.ioctl(ksys::OVERLAY_TARG_CACHE_ITER, &mut b)?;
        let marker = ksys::get_u64(&b, 8);
        let n = usize::from(ksys::get_u16(&b, 16).min(count));
        let ents = (0..n)
            .map(|i| {
                let off = ksys::TARG_CACHE_ITER_HDR + i * TargCacheEntry::SIZE;
                TargCacheEntry::decode(&b[off..off + TargCacheEntry::SIZE])
            })
            .collect();
        Ok((marker, ents))
    }

    // -- persistence ----------------------------------------------------------

    /// `libvarpd_persist_enable`: `dir` must be a directory; EEXIST if
    /// already enabled.
    pub fn persist_enable(&self, dir: &Path) -> Result<(), Errno> {
        let mut p = self.persist_dir.lock().unwrap_or_else(|p| p.into_inner());
        if p.is_some() {
            return Err(Errno::EEXIST);
        }
        let m = std::fs::metadata(dir).map_err(|e| Errno::from_io(&e))?;
        if !m.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        *p = Some(dir.to_path_buf());
        Ok(())
    }

    fn persist_dir(&self) -> Option<PathBuf> {
        self.persist_dir
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn persist_instance(&self, inst: &Instance) -> Result<(), Errno> {
        let Some(dir) = self.persist_dir() else {
            return Ok(());
        };
        let saved = Saved {
            vri_id: inst.id,
            vri_linkid: inst.linkid,
            vri_dest: inst.dest,
            vri_mode: inst.mode.as_u32(),
            vri_plugin: inst.plugin.name.to_string(),
            vri_private: inst.private.save()?,
        };
        persist::write(&dir, &saved)
    }

    fn unpersist(&self, id: u64) {
        if let Some(dir) = self.persist_dir() {
            if let Err(e) = persist::remove(&dir, id) {
                tracing::error!(id, "failed to remove state file: {e}");
            }
        }
    }

    /// `libvarpd_persist_restore`: restore every saved instance (§6.8),
    /// unlink the files that fail, then degrade overlays left without an
    /// instance. Returns the ids restored.
    pub fn persist_restore(&self) -> Result<Vec<u64>, Errno> {
        let Some(dir) = self.persist_dir() else {
            return Err(Errno::ENOENT);
        };
        let mut restored = Vec::new();
        for (fid, path) in persist::list(&dir)? {
            match self.restore_one(fid, &path) {
                Ok(id) => restored.push(id),
                Err(why) => {
                    tracing::warn!(file = %path.display(), "discarding state file: {why}");
                    match std::fs::remove_file(&path) {
                        Ok(()) => {}
                        // Already gone (a failed restore destroys its instance).
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(Errno::from_io(&e)),
                    }
                }
            }
        }
        self.check_degrade();
        Ok(restored)
    }

    fn restore_one(&self, fid: u64, path: &Path) -> Result<u64, String> {
        let img = persist::read(path).map_err(|e| e.to_string())?;
        let s = persist::decode(&img).map_err(|e| e.to_string())?;
        if s.vri_id != fid || !(LIBVARPD_ID_MIN..=LIBVARPD_ID_MAX).contains(&s.vri_id) {
            return Err("id does not match file name".into());
        }
        let p = self
            .plugin(&s.vri_plugin)
            .ok_or_else(|| format!("no plugin {}", s.vri_plugin))?;
        if p.mode.as_u32() != s.vri_mode {
            return Err("plugin mode changed".into());
        }
        let info = self
            .targ_info(s.vri_linkid)
            .map_err(|e| format!("overlay {}: {e}", s.vri_linkid))?;
        if info.needs != s.vri_dest {
            return Err("overlay destination type changed".into());
        }
        {
            let t = self.tables();
            if t.by_id.contains_key(&s.vri_id) || t.by_linkid.contains_key(&s.vri_linkid) {
                return Err("duplicate instance".into());
            }
        }
        let hdl = ProviderHandle::new(
            s.vri_id,
            s.vri_linkid,
            info.vnetid,
            info.needs,
            &p.name,
            self.dev.clone(),
        );
        let private: Arc<dyn SearchInstance> = Arc::from(
            p.ops
                .restore(&s.vri_private, hdl.clone(), info.needs)
                .map_err(|e| format!("plugin restore: {e}"))?,
        );
        let inst = Arc::new(Instance::new(
            s.vri_id,
            s.vri_linkid,
            info.vnetid,
            info.needs,
            p,
            hdl,
            private,
        ));
        self.insert(inst.clone())
            .map_err(|_| "duplicate instance".to_string())?;
        let fail = |why: String| {
            let _ = self.instance_destroy(inst.id);
            why
        };
        if let Err(e) = inst.private.start() {
            return Err(fail(format!("plugin start: {e}")));
        }
        inst.set_activated(true);
        if info.flags & ksys::OVERLAY_TARG_INFO_F_ACTIVE != 0 {
            let _ = self.ioctl_id(ksys::OVERLAY_TARG_DISASSOCIATE, inst.linkid);
        }
        if let Err(e) = self.associate(&inst) {
            // instance_destroy would also unlink the file; the caller does.
            return Err(fail(format!("associate: {e}")));
        }
        if info.flags & ksys::OVERLAY_TARG_INFO_F_DEGRADED != 0 {
            if let Err(e) = self.ioctl_id(ksys::OVERLAY_TARG_RESTORE, inst.linkid) {
                tracing::error!(linkid = inst.linkid, "OVERLAY_TARG_RESTORE failed: {e}");
            }
        }
        tracing::info!(id = inst.id, linkid = inst.linkid, "instance restored");
        Ok(inst.id)
    }

    /// `libvarpd_check_degrade`: degrade every kernel overlay without an
    /// instance with `no varpd instance exists`.
    pub fn check_degrade(&self) {
        let list = match self.overlay_list() {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("OVERLAY_TARG_LIST failed: {e}");
                return;
            }
        };
        for linkid in list {
            if self.instance_by_linkid(linkid).is_err() {
                if let Err(e) = self.degrade(linkid, VARPD_NO_INSTANCE_MSG) {
                    tracing::warn!(linkid, "degrade failed: {e}");
                }
            }
        }
    }

    // -- lookups (libvarpd_overlay.c) -----------------------------------------

    /// `libvarpd_overlay_lookup_run`: serve lookups until quiesced. Run this
    /// on each of the 2×CPUs+1 lookup threads.
    pub fn lookup_run(self: &Arc<Self>) {
        {
            let mut n = self.running.lock().unwrap_or_else(|p| p.into_inner());
            if self.quiesce.load(Ordering::SeqCst) {
                return;
            }
            *n += 1;
        }
        while !self.quiesce.load(Ordering::SeqCst) {
            self.lookup_handle_one();
        }
        let mut n = self.running.lock().unwrap_or_else(|p| p.into_inner());
        *n -= 1;
        self.running_cv.notify_all();
    }

    /// `libvarpd_overlay_lookup_handle`: one `OVERLAY_TARG_LOOKUP` and its
    /// dispatch.
    pub fn lookup_handle_one(&self) {
        let q = {
            if self.quiesce.load(Ordering::SeqCst) {
                return;
            }
            // Every lookup thread blocks here on its own (KDev gives each
            // concurrent caller its own connection on Linux), and no other
            // call waits for it.
            let mut b = [0u8; TargLookup::SIZE];
            match self.dev.ioctl(ksys::OVERLAY_TARG_LOOKUP, &mut b) {
                Ok(()) => {}
                Err(Errno::ETIME) | Err(Errno::EINTR) => return,
                Err(e @ (Errno::ECONNRESET | Errno::EPIPE | Errno::EBADF | Errno::EIO)) => {
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::error!("lost /dev/overlay: OVERLAY_TARG_LOOKUP: {e:?}");
                    if let Some(f) = self.on_lost.get() {
                        f(e);
                    }
                    std::thread::sleep(Duration::from_secs(1));
                    return;
                }
                Err(e) => {
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::error!("received bad errno from OVERLAY_TARG_LOOKUP: {e:?}");
                    std::thread::sleep(Duration::from_secs(1));
                    return;
                }
            }
            let otl = TargLookup::decode(&b);
            self.stats.lookups.fetch_add(1, Ordering::Relaxed);
            match self.instance(otl.varpdid) {
                Ok(inst) => (
                    Query::new(otl, self.dev.clone(), &inst.plugin.name),
                    Some(inst),
                ),
                Err(_) => (Query::new(otl, self.dev.clone(), ""), None),
            }
        };
        match q {
            (q, Some(inst)) => inst.private.lookup(q),
            (q, None) => {
                self.stats.no_instance.fetch_add(1, Ordering::Relaxed);
                q.reply(LookupAction::Drop)
            }
        }
    }

    /// `libvarpd_overlay_lookup_quiesce`: stop the lookup threads and wait
    /// for them (bounded by the kernel's ~1 s LOOKUP timeout).
    pub fn lookup_quiesce(&self) {
        self.quiesce.store(true, Ordering::SeqCst);
        let n = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let _ = self
            .running_cv
            .wait_timeout_while(n, Duration::from_secs(5), |n| *n > 0);
    }
}

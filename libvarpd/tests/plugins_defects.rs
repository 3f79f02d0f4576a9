//! The §12 defects that sit between libvarpd and its plugins, checked
//! through the `Varpd` handle with a spy plugin (and the real `direct` and
//! `files` plugins where they are the fix):
//!
//! * #1: a plugin's getprop sees a 256-byte buffer and its error is
//!   returned, not swallowed;
//! * #4: a never-activated instance is still destroyed (`vpo_destroy`);
//! * the built-in plugins' property encodings and errors as door clients
//!   see them (client property ids, after `search`).
//!
//! #5 (properties frozen once started) is checked for libvarpd in
//! `varpd_core*.rs` and for the plugins themselves, with #6–#9 and #12, in
//! `plugins_direct.rs`, `plugins_files.rs` and `plugins_proxy.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use libvarpd::handle::Varpd;
use libvarpd::ksys::{self, TargInfo};
use libvarpd::plugin::*;
use libvarpd::plugins::register_builtin;
use libvarpd::testing::FakeTargetDev;
use libvarpd::Errno;

const VXLAN: Dest = OVERLAY_PLUGIN_D_IP | OVERLAY_PLUGIN_D_PORT;

#[derive(Default)]
struct Spy {
    destroyed: AtomicUsize,
    started: AtomicUsize,
    stopped: AtomicUsize,
    getprop_buf: Mutex<Vec<usize>>,
}

struct SpyPlugin(Arc<Spy>);
struct SpyInst(Arc<Spy>);

impl SearchPlugin for SpyPlugin {
    fn create(&self, _: ProviderHandle, _: Dest) -> Result<Box<dyn SearchInstance>, Errno> {
        Ok(Box::new(SpyInst(self.0.clone())))
    }
    fn restore(
        &self,
        _: &serde_json::Value,
        _: ProviderHandle,
        _: Dest,
    ) -> Result<Box<dyn SearchInstance>, Errno> {
        Err(Errno::EINVAL)
    }
}

impl SearchInstance for SpyInst {
    fn start(&self) -> Result<(), Errno> {
        self.0.started.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn stop(&self) {
        self.0.stopped.fetch_add(1, Ordering::SeqCst);
    }
    fn destroy(&self) {
        self.0.destroyed.fetch_add(1, Ordering::SeqCst);
    }
    fn nprops(&self) -> Result<u32, Errno> {
        Ok(1)
    }
    fn propinfo(&self, id: u32, ph: &mut PropHandle) -> Result<(), Errno> {
        if id != 0 {
            return Err(Errno::EINVAL);
        }
        ph.set_name("spy/x");
        ph.set_type(PropType::Uint);
        ph.set_prot(OVERLAY_PROP_PERM_RRW);
        Ok(())
    }
    fn getprop(&self, _: &str, buf: &mut [u8]) -> Result<usize, Errno> {
        self.0.getprop_buf.lock().unwrap().push(buf.len());
        Err(Errno::EIO)
    }
    fn setprop(&self, _: &str, _: &[u8]) -> Result<(), Errno> {
        Ok(())
    }
    fn save(&self) -> Result<serde_json::Value, Errno> {
        Ok(serde_json::json!({}))
    }
}

fn varpd() -> (Arc<Varpd>, Arc<Spy>) {
    let dev = Arc::new(FakeTargetDev::new());
    let info = TargInfo {
        linkid: 7,
        needs: VXLAN,
        flags: 0,
        vnetid: 23,
    };
    dev.reply(ksys::OVERLAY_TARG_INFO, &info.encode());
    let vh = Varpd::new(dev, false);
    let spy = Arc::new(Spy::default());
    vh.plugin_register(PluginRegistration::new(
        "spy",
        TargetMode::Dynamic,
        Arc::new(SpyPlugin(spy.clone())),
    ))
    .unwrap();
    let mut reg = PluginRegistry::new();
    register_builtin(&mut reg).unwrap();
    for p in reg.iter() {
        vh.plugin_register(PluginRegistration::new(&p.name, p.mode, p.ops.clone()))
            .unwrap();
    }
    (vh, spy)
}

#[test]
fn getprop_errors_are_returned_with_a_full_buffer() {
    let (vh, spy) = varpd();
    let inst = vh.instance_create(7, "spy").unwrap();
    let id = inst.id;
    assert_eq!(vh.prop_get(id, 1), Err(Errno::EIO));
    assert_eq!(*spy.getprop_buf.lock().unwrap(), [LIBVARPD_PROP_SIZEMAX]);
    // `search` (id 0) is libvarpd's own.
    assert_eq!(vh.prop_get(id, 0).unwrap(), b"spy\0");
}

#[test]
fn never_activated_instance_is_destroyed() {
    let (vh, spy) = varpd();
    let id = vh.instance_create(7, "spy").unwrap().id;
    vh.instance_destroy(id).unwrap();
    assert_eq!(spy.destroyed.load(Ordering::SeqCst), 1);
    assert_eq!(spy.started.load(Ordering::SeqCst), 0);
    assert_eq!(spy.stopped.load(Ordering::SeqCst), 0);
    assert_eq!(vh.instance_destroy(id), Err(Errno::ENOENT));
}

#[test]
fn builtin_plugins_through_varpd() {
    let (vh, _) = varpd();
    // direct: the property ids, encodings and errors seen by door clients.
    let id = vh.instance_create(7, "direct").unwrap().id;
    assert_eq!(vh.prop_nprops(id), Ok(3));
    let (pid, ph) = vh.prop_info_by_name(id, "direct/dest_port").unwrap();
    assert_eq!((pid, ph.ptype), (2, PropType::Uint as u32));
    assert_eq!(vh.prop_get(id, 1), Ok(vec![]));
    assert_eq!(vh.prop_set(id, 1, &[0; 8]), Err(Errno::EOVERFLOW));
    assert_eq!(vh.prop_set(id, 1, &[0; 16]), Err(Errno::EINVAL), "::");
    let ip = "::ffff:10.88.88.70"
        .parse::<std::net::Ipv6Addr>()
        .unwrap()
        .octets();
    vh.prop_set(id, 1, &ip).unwrap();
    assert_eq!(vh.prop_set(id, 2, &0u64.to_ne_bytes()), Err(Errno::EINVAL));
    vh.prop_set(id, 2, &4789u64.to_ne_bytes()).unwrap();
    assert_eq!(vh.prop_get(id, 1), Ok(ip.to_vec()));
    assert_eq!(vh.prop_get(id, 2), Ok(4789u64.to_ne_bytes().to_vec()));
    vh.instance_destroy(id).unwrap();

    // files: a relative path is refused; an absolute one reads back with NUL.
    let id = vh.instance_create(7, "files").unwrap().id;
    assert_eq!(vh.prop_set(id, 1, b"x.json\0"), Err(Errno::EINVAL));
    vh.prop_set(id, 1, b"/etc/x.json\0").unwrap();
    assert_eq!(vh.prop_get(id, 1), Ok(b"/etc/x.json\0".to_vec()));
    // Start fails on the missing file with its errno.
    assert_eq!(vh.instance_activate(id), Err(Errno::ENOENT));
    vh.instance_destroy(id).unwrap();
}

//! varpd's saved state: `persist::decode` of arbitrary file images, and the
//! whole restore (`Varpd::persist_restore`: header and CRC checks, JSON
//! payload, plugin `restore` of `vri_private`, plugin start, re-associate)
//! of one state file whose payload is the fuzz input, wrapped in a valid
//! header. A crash can leave any bytes in the state directory; varpd must
//! restore or discard them, never fall over.
//!
//! Invariants: no panic; after the restore the file is either kept (the
//! instance was restored, with the id the file names) or removed.
//!
//! This file depends only on `libvarpd`, so `overlay-tests` includes it by
//! path to replay regression inputs.

use libvarpd::ksys::{self, TargInfo};
use libvarpd::persist::{self, crc32, VARPD_PERSIST_MAGIC, VARPD_PERSIST_VERSION};
use libvarpd::testing::FakeTargetDev;
use libvarpd::Varpd;
use std::path::PathBuf;
use std::sync::Arc;

/// A valid header around `payload`.
pub fn wrap(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + payload.len());
    out.extend_from_slice(VARPD_PERSIST_MAGIC);
    out.extend_from_slice(&VARPD_PERSIST_VERSION.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32(payload).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(payload);
    out
}

fn state_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("overlay-fuzz-persist-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    if let Err(e) = std::fs::create_dir_all(&d) {
        panic!("harness setup: mkdir {}: {e}", d.display());
    }
    d
}

pub fn run(data: &[u8]) {
    // Any image: a clear error or a value.
    let _ = persist::decode(data);
    // The input as the payload of a well-formed file.
    let img = wrap(data);
    let decoded = persist::decode(&img);
    let id = decoded.as_ref().map_or(1, |s| s.vri_id);
    let dir = state_dir();
    let path = dir.join(persist::file_name(id));
    if let Err(e) = std::fs::write(&path, &img) {
        panic!("harness setup: write {}: {e}", path.display());
    }
    let dev = Arc::new(FakeTargetDev::new());
    let info = TargInfo {
        linkid: 7,
        needs: 0x6,
        flags: ksys::OVERLAY_TARG_INFO_F_ACTIVE,
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
    if let Err(e) = vh.persist_enable(&dir) {
        panic!("harness setup: persist_enable: {e:?}");
    }
    let restored = vh.persist_restore().unwrap_or_default();
    let kept = path.exists();
    if kept {
        assert_eq!(restored, vec![id], "file kept but instance not restored");
    } else {
        assert!(restored.is_empty(), "instance restored but file removed");
    }
    for i in vh.instances() {
        let _ = vh.instance_destroy(i.id);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

//! Every path libvarpd, varpd and dladm use, under one root prefix.
//!
//! All programs honour `OVERLAY_ROOT` (DESIGN.md §7): with `OVERLAY_ROOT=R`,
//! every socket, door and state file lives under `R`, so several "hosts" can
//! run side by side. Unset or empty means `/`. The layout follows each
//! platform's conventions:
//!
//! | what | Linux | illumos |
//! |---|---|---|
//! | `/dev/dld` | `R/run/overlay/dld` (fkoverlayd socket) | `R/dev/dld` |
//! | `/dev/overlay` | `R/run/overlay/overlay` (fkoverlayd socket) | `R/dev/overlay` |
//! | varpd door | `R/run/varpd/varpd.door` | `R/var/run/varpd/varpd.door` |
//! | varpd state dir (§6.8) | `R/run/varpd` | `R/var/run/varpd` |

use std::path::{Path, PathBuf};

/// The environment variable naming the root prefix.
pub const OVERLAY_ROOT_ENV: &str = "OVERLAY_ROOT";

/// The root prefix: `$OVERLAY_ROOT`, or `/` when unset or empty. A
/// relative root is taken from the current directory at the call and made
/// absolute, so a daemon that changes directory keeps the same paths.
pub fn root() -> PathBuf {
    match std::env::var_os(OVERLAY_ROOT_ENV) {
        Some(r) if !r.is_empty() => absolute(PathBuf::from(r)),
        _ => PathBuf::from("/"),
    }
}

/// `p` made absolute against the current directory (left as it is if the
/// current directory cannot be read).
fn absolute(p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        return p;
    }
    match std::env::current_dir() {
        Ok(cwd) => cwd.join(p),
        Err(_) => p,
    }
}

/// `rel` (an absolute platform path such as `/run/varpd`) under `root`.
pub fn under(root: &Path, rel: &str) -> PathBuf {
    root.join(rel.trim_start_matches('/'))
}

#[cfg(target_os = "illumos")]
mod plat {
    pub const DLD: &str = "/dev/dld";
    pub const OVERLAY: &str = "/dev/overlay";
    pub const VARPD_DIR: &str = "/var/run/varpd";
}

#[cfg(not(target_os = "illumos"))]
mod plat {
    pub const DLD: &str = "/run/overlay/dld";
    pub const OVERLAY: &str = "/run/overlay/overlay";
    pub const VARPD_DIR: &str = "/run/varpd";
}

/// The `/dev/dld` node (fkoverlayd's dld socket on Linux).
pub fn dld_path(root: &Path) -> PathBuf {
    under(root, plat::DLD)
}

/// The `/dev/overlay` node (fkoverlayd's overlay socket on Linux).
pub fn overlay_path(root: &Path) -> PathBuf {
    under(root, plat::OVERLAY)
}

/// varpd's directory: state files (§6.8), the door, core files.
pub fn varpd_dir(root: &Path) -> PathBuf {
    under(root, plat::VARPD_DIR)
}

/// The persistence (state) directory of §6.8; the same as [`varpd_dir`].
pub fn state_dir(root: &Path) -> PathBuf {
    varpd_dir(root)
}

/// The uids fkoverlayd grants `PRIV_SYS_DL_CONFIG` (Linux only; written
/// by fkoverlayd, read by varpd's door).
pub fn dl_config_uids_path(root: &Path) -> PathBuf {
    under(root, "/run/overlay/dl_config_uids")
}

/// varpd's log once it has daemonised (its standard output and error).
pub fn varpd_log(root: &Path) -> PathBuf {
    varpd_dir(root).join("varpd.log")
}

/// The door varpd serves and dladm calls (`VARPD_DEFAULT_DOOR`).
pub fn door_path(root: &Path) -> PathBuf {
    varpd_dir(root).join("varpd.door")
}

/// The socket of `varpd stats` (an extension: counters, read-only).
pub fn stats_path(root: &Path) -> PathBuf {
    varpd_dir(root).join("varpd.stats")
}

/// The default door under [`root`] (what dladm uses).
pub fn default_door_path() -> PathBuf {
    door_path(&root())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_under_root() {
        let r = Path::new("/tmp/h1");
        #[cfg(not(target_os = "illumos"))]
        {
            assert_eq!(door_path(r), Path::new("/tmp/h1/run/varpd/varpd.door"));
            assert_eq!(dld_path(r), Path::new("/tmp/h1/run/overlay/dld"));
            assert_eq!(overlay_path(r), Path::new("/tmp/h1/run/overlay/overlay"));
            assert_eq!(state_dir(Path::new("/")), Path::new("/run/varpd"));
        }
        #[cfg(target_os = "illumos")]
        assert_eq!(door_path(r), Path::new("/tmp/h1/var/run/varpd/varpd.door"));
    }

    #[test]
    fn relative_root_is_made_absolute() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(absolute(PathBuf::from("h1")), cwd.join("h1"));
        assert_eq!(absolute(PathBuf::from("/abs")), Path::new("/abs"));
    }
}

//! Where portolan keeps its files, under the root prefix `OVERLAY_ROOT`
//! (DESIGN.md §7; the same convention as libvarpd's `paths`).
//!
//! | what | Linux | illumos |
//! |---|---|---|
//! | database | `R/var/lib/portolan/portolan.db` | `R/var/db/portolan/portolan.db` |
//! | run dir: stats socket, pid, log | `R/run/portolan` | `R/var/run/portolan` |
//! | configuration | `R/etc/portolan/portolan.toml` | the same |

use std::path::{Path, PathBuf};

/// The environment variable naming the root prefix.
pub const OVERLAY_ROOT_ENV: &str = "OVERLAY_ROOT";

/// `$OVERLAY_ROOT`, or `/` when unset or empty.
pub fn root() -> PathBuf {
    match std::env::var_os(OVERLAY_ROOT_ENV) {
        Some(r) if !r.is_empty() => PathBuf::from(r),
        _ => PathBuf::from("/"),
    }
}

/// `rel` (an absolute platform path) under `root`.
pub fn under(root: &Path, rel: &str) -> PathBuf {
    root.join(rel.trim_start_matches('/'))
}

#[cfg(target_os = "illumos")]
mod plat {
    pub const DB: &str = "/var/db/portolan/portolan.db";
    pub const RUN: &str = "/var/run/portolan";
}

#[cfg(not(target_os = "illumos"))]
mod plat {
    pub const DB: &str = "/var/lib/portolan/portolan.db";
    pub const RUN: &str = "/run/portolan";
}

/// The default SQLite database.
pub fn db_path(root: &Path) -> PathBuf {
    under(root, plat::DB)
}

/// The run directory.
pub fn run_dir(root: &Path) -> PathBuf {
    under(root, plat::RUN)
}

/// The stats socket `portolan stats` reads.
pub fn stats_socket(root: &Path) -> PathBuf {
    run_dir(root).join("portolan.stats")
}

/// The pid file of the running server.
pub fn pid_file(root: &Path) -> PathBuf {
    run_dir(root).join("portolan.pid")
}

/// The log file of the daemonised server.
pub fn log_file(root: &Path) -> PathBuf {
    run_dir(root).join("portolan.log")
}

/// The configuration file.
pub fn config_file(root: &Path) -> PathBuf {
    under(root, "/etc/portolan/portolan.toml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let r = Path::new("/tmp/r");
        assert_eq!(
            config_file(r),
            Path::new("/tmp/r/etc/portolan/portolan.toml")
        );
        assert!(db_path(r).starts_with("/tmp/r/var"));
        assert!(stats_socket(r).starts_with(run_dir(r)));
    }
}

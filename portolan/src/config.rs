//! The configuration file, `$OVERLAY_ROOT/etc/portolan/portolan.toml`
//! (optional; command-line options override it):
//!
//! ```toml
//! db = "/var/lib/portolan/portolan.db"   # or postgres://…
//! listen = ["0.0.0.0:1296", "[::]:1296"]
//! admin_uids = [1000]                    # may run the mutating commands
//! ```

use std::path::Path;

use serde::Deserialize;

/// The parsed configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub db: Option<String>,
    #[serde(default)]
    pub listen: Vec<String>,
    #[serde(default)]
    pub admin_uids: Vec<u32>,
}

impl Config {
    /// Load `path`; a missing file is the default configuration.
    pub fn load(path: &Path) -> Result<Config, String> {
        match std::fs::read_to_string(path) {
            Ok(t) => toml::from_str(&t).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// May the caller change mappings? Root always may; otherwise the real
    /// uid must be listed in `admin_uids`.
    pub fn may_mutate(&self) -> bool {
        // SAFETY: getuid/geteuid cannot fail and touch no memory.
        let (uid, euid) = unsafe { (libc::getuid(), libc::geteuid()) };
        euid == 0 || self.admin_uids.contains(&uid)
    }
}

//! The built-in search plugins: `direct` (§3), `files` (§4) and `svp`
//! (§5, spec/svp.md §2).
//!
//! # Theory of operation
//!
//! illumos builds each plugin as a shared object whose `#pragma init`
//! registers it when varpd `dlopen`s it. Here they are compiled in, and the
//! daemon registers them at start-up, before restoring saved instances:
//!
//! ```ignore
//! let mut reg = libvarpd::plugin::PluginRegistry::new();
//! libvarpd::plugins::register_builtin(&mut reg)?; // direct, files, svp
//! ```
//!
//! or one at a time with [`direct::registration`] and
//! [`files::registration`] passed to
//! [`PluginRegistry::register`](crate::plugin::PluginRegistry::register).
//!
//! Each plugin implements [`SearchPlugin`](crate::plugin::SearchPlugin)
//! (create, restore) and its instances
//! [`SearchInstance`](crate::plugin::SearchInstance); properties and saved
//! state are described in `docs/varpd-plugins.md`, the `files` format in
//! `docs/overlay_files.md`.

pub mod direct;
pub mod files;
pub mod svp;

use crate::errno::Errno;
use crate::plugin::PluginRegistry;

/// Register every built-in plugin (`direct`, `files`, `svp`) in `reg`.
pub fn register_builtin(reg: &mut PluginRegistry) -> Result<(), Errno> {
    reg.register(direct::registration())?;
    reg.register(files::registration())?;
    reg.register(svp::registration())?;
    Ok(())
}

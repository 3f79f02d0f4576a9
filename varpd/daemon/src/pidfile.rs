//! The pid file: the daemon's process id and a newline, written once it
//! serves and removed when it stops. Best effort: a daemon whose pid file
//! cannot be written still serves.

use std::path::Path;

/// Writes this process's id to `path`.
pub fn write(path: &Path) {
    let _ = std::fs::write(path, format!("{}\n", std::process::id()));
}

/// Removes the pid file at `path`, if there is one.
pub fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
}

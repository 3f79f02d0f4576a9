//! Logging through `tracing`: to stderr in the foreground, to the
//! daemon's log file (appended, without colour) once it runs detached. The
//! filter is `RUST_LOG`'s, `info` by default.

use std::path::Path;
use tracing_subscriber::EnvFilter;

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Logs to standard error.
pub fn to_stderr() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        .try_init();
}

/// Logs to `path`, appending, creating it and its directory; if it cannot
/// be opened, nowhere (a daemon without a log still serves).
pub fn to_file(path: &Path) {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        Ok(f) => {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter())
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(f))
                .try_init();
        }
        Err(_) => {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter())
                .with_writer(std::io::sink)
                .try_init();
        }
    }
}

/// [`to_stderr`] in the foreground, else [`to_file`]`(log)`.
pub fn init(foreground: bool, log: &Path) {
    if foreground {
        to_stderr()
    } else {
        to_file(log)
    }
}

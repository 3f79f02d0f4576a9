//! `cargo xtask install [--destdir DIR]`: installs the Linux build — the
//! daemons, dladm, the systemd units and the manual pages — under DIR
//! (default `/`), the way a package would. With the default destination it
//! also reloads systemd; enabling is left to the operator
//! (`systemctl enable --now fkoverlayd varpd overlay-up`, and `portolan`
//! on the mapping server).

use crate::util::{cargo, root, run as sh, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The systemd units installed.
const UNITS: [&str; 4] = [
    "fkoverlayd.service",
    "varpd.service",
    "overlay-up.service",
    "portolan.service",
];

/// What goes where: (source relative to the repository or the release
/// directory, destination relative to DESTDIR, mode).
pub fn plan(release: &Path) -> Vec<(PathBuf, String, u32)> {
    let repo = root();
    let mut p: Vec<(PathBuf, String, u32)> = vec![
        (
            release.join("fkoverlayd"),
            "usr/sbin/fkoverlayd".into(),
            0o755,
        ),
        (release.join("varpd"), "usr/lib/varpd/varpd".into(), 0o755),
        (release.join("dladm"), "usr/sbin/dladm".into(), 0o755),
        (release.join("portolan"), "usr/sbin/portolan".into(), 0o755),
    ];
    for unit in UNITS {
        p.push((
            repo.join("smf/linux").join(unit),
            format!("etc/systemd/system/{unit}"),
            0o644,
        ));
    }
    for doc in [
        "overlay.md",
        "dladm-overlay.md",
        "varpd.md",
        "varpd-plugins.md",
        "overlay_files.md",
        "fkoverlayd.md",
        "fkoverlayd-protocol.md",
        "portolan.md",
    ] {
        p.push((
            repo.join("docs").join(doc),
            format!("usr/share/doc/overlay/{doc}"),
            0o644,
        ));
    }
    p
}

pub fn run(args: &[String]) -> Result {
    let mut destdir = PathBuf::from("/");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--destdir" => {
                destdir = it
                    .next()
                    .map(PathBuf::from)
                    .ok_or("--destdir needs a directory")?;
            }
            other => {
                return Err(format!(
                "install: unknown argument '{other}' (usage: cargo xtask install [--destdir DIR])"
            ))
            }
        }
    }
    sh(cargo().args(["build", "--release", "--bins"]))?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let release = target.join("release");
    for (src, dst, mode) in plan(&release) {
        let dst = destdir.join(dst);
        if let Some(dir) = dst.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::copy(&src, &dst)
            .map_err(|e| format!("{} -> {}: {e}", src.display(), dst.display()))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("{}: {e}", dst.display()))?;
        eprintln!("installed {}", dst.display());
    }
    if destdir == Path::new("/") {
        let _ = Command::new("systemctl").arg("daemon-reload").status();
        eprintln!("enable with: systemctl enable --now fkoverlayd varpd overlay-up");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_of_the_plan_but_the_binaries_exists() {
        for (src, dst, _) in plan(Path::new("/nonexistent/release")) {
            if src.starts_with("/nonexistent") {
                continue;
            }
            assert!(src.exists(), "{} (for {dst}) is missing", src.display());
        }
    }

    #[test]
    fn units_name_the_installed_binaries() {
        let plan = plan(Path::new("/r"));
        let dests: Vec<&str> = plan.iter().map(|(_, d, _)| d.as_str()).collect();
        for unit in UNITS {
            let text = std::fs::read_to_string(root().join("smf/linux").join(unit)).unwrap();
            for line in text.lines().filter(|l| l.starts_with("ExecStart=")) {
                let exe = line["ExecStart=".len()..]
                    .split_whitespace()
                    .next()
                    .unwrap();
                assert!(
                    dests.contains(&exe.trim_start_matches('/')),
                    "{unit}: {exe} is not installed"
                );
            }
        }
    }
}

//! The SMF manifest and the Linux service units are valid: the manifest
//! against the service_bundle DTD with xmllint, the units with
//! `systemd-analyze verify` (with their binaries pointed at this build).

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The directory holding this build's binaries (target/<profile>).
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> -> target/<profile>
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

fn need(tool: &str) {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool} >/dev/null")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "{tool} is not installed (cargo xtask test installs it)");
}

fn manifest() -> String {
    std::fs::read_to_string(repo().join("smf/varpd.xml")).expect("smf/varpd.xml")
}

#[test]
fn varpd_manifest_is_valid_against_the_dtd() {
    need("xmllint");
    let dtd = [
        repo().join("../shared/dtd/service_bundle.dtd.1"),
        PathBuf::from("/usr/share/lib/xml/dtd/service_bundle.dtd.1"),
    ]
    .into_iter()
    .find(|p| p.exists());
    let mut cmd = Command::new("xmllint");
    cmd.arg("--noout");
    match &dtd {
        Some(d) => {
            cmd.arg("--dtdvalid").arg(d);
        }
        None => eprintln!("service_bundle.dtd.1 not found: checking well-formedness only"),
    }
    let out = cmd
        .arg(repo().join("smf/varpd.xml"))
        .output()
        .expect("run xmllint");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "xmllint rejected smf/varpd.xml:\n{stderr}"
    );
    // The only complaint allowed is the unreachable system DTD of the DOCTYPE.
    if let Some(line) = stderr.lines().find(|l| l.contains("error")) {
        panic!("xmllint: {line}");
    }
}

#[test]
fn portolan_manifest_is_valid_against_the_dtd() {
    need("xmllint");
    let dtd = [
        repo().join("../shared/dtd/service_bundle.dtd.1"),
        PathBuf::from("/usr/share/lib/xml/dtd/service_bundle.dtd.1"),
    ]
    .into_iter()
    .find(|p| p.exists());
    let mut cmd = Command::new("xmllint");
    cmd.arg("--noout");
    if let Some(d) = &dtd {
        cmd.arg("--dtdvalid").arg(d);
    }
    let out = cmd
        .arg(repo().join("smf/portolan.xml"))
        .output()
        .expect("run xmllint");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "xmllint rejected smf/portolan.xml:\n{stderr}"
    );
    if let Some(line) = stderr.lines().find(|l| l.contains("error")) {
        panic!("xmllint: {line}");
    }
    let m = std::fs::read_to_string(repo().join("smf/portolan.xml")).unwrap();
    for want in [
        r#"<service name="network/portolan" type="service" version="1">"#,
        r#"exec="/usr/sbin/portolan" timeout_seconds="60""#,
        r#"name="stop" exec=":kill""#,
        r#"<manpage title="portolan" section="8""#,
    ] {
        assert!(m.contains(want), "smf/portolan.xml lacks {want}");
    }
}

#[test]
fn varpd_manifest_says_what_illumos_does() {
    let m = manifest();
    for want in [
        r#"<service name="network/varpd" type="service" version="1">"#,
        r#"<create_default_instance enabled="true"/>"#,
        "<single_instance/>",
        r#"<service_fmri value="svc:/network/physical:default"/>"#,
        r#"<service_fmri value="svc:/system/device/local:default"/>"#,
        r#"exec="/usr/lib/varpd/varpd" timeout_seconds="60""#,
        r#"name="stop" exec=":kill""#,
        r#"<property_group name="varpd" type="application">"#,
        r#"<propval name="include_path" type="astring""#,
        r#"<loctext xml:lang="C">virtual ARP daemon</loctext>"#,
        r#"<manpage title="varpd" section="8""#,
    ] {
        assert!(m.contains(want), "smf/varpd.xml lacks {want}");
    }
}

#[test]
fn linux_units_verify() {
    need("systemd-analyze");
    let tmp = std::env::temp_dir().join(format!("overlay-units-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let bins = bin_dir();
    // Point ExecStart at this build's binaries when they exist; otherwise at
    // /bin/true so verify checks the unit syntax and dependencies only.
    let exe = |name: &str| {
        let p = bins.join(name);
        if p.exists() {
            p.display().to_string()
        } else {
            "/bin/true".to_string()
        }
    };
    let units = [
        "fkoverlayd.service",
        "varpd.service",
        "overlay-up.service",
        "portolan.service",
    ];
    for u in units {
        let text = std::fs::read_to_string(repo().join("smf/linux").join(u)).unwrap();
        let text = text
            .replace("/usr/sbin/fkoverlayd", &exe("fkoverlayd"))
            .replace("/usr/lib/varpd/varpd", &exe("varpd"))
            .replace("/usr/sbin/dladm", &exe("dladm"))
            .replace("/usr/sbin/portolan", &exe("portolan"));
        std::fs::write(tmp.join(u), text).unwrap();
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(units.iter().map(|u| tmp.join(u)))
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .output()
        .expect("run systemd-analyze");
    let _ = std::fs::remove_dir_all(&tmp);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Complaints about units of the host that ours do not name are not ours.
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| units.iter().any(|u| l.contains(u)))
        .collect();
    assert!(
        out.status.success() && ours.is_empty(),
        "systemd-analyze verify:\n{stderr}"
    );
}

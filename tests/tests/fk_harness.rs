//! The namespace harness itself: two namespaces joined by a veth pair can
//! reach each other, and everything is gone after the guards drop.

use overlay_tests::have_root;
use overlay_tests::netns::{veth, Netns, TempRoot};

#[test]
fn fk_harness_veth_ping_and_cleanup() {
    if !have_root("fk_harness_veth_ping_and_cleanup") {
        return;
    }
    let name;
    let dir;
    {
        let a = Netns::new("fk");
        let b = Netns::new("fk");
        let root = TempRoot::new("fk");
        let (ai, _bi) = veth(&a, "192.168.201.1/24", &b, "192.168.201.2/24");
        assert!(a.has_link(&ai));
        a.exec_ok("ping", &["-c", "1", "-W", "2", "192.168.201.2"]);
        name = a.name().to_string();
        dir = root.path().to_path_buf();
        assert!(dir.is_dir());
    }
    let out = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&name));
    assert!(!dir.exists());
}

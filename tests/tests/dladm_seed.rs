//! The seed walkthrough with the real `dladm`, end to end on two hosts
//! (network namespaces, each with its own fkoverlayd and varpd):
//!
//! ```text
//! dladm create-overlay -e vxlan -s direct -p vxlan/listen_ip=10.88.88.69 \
//!     -p direct/dest_ip=10.88.88.70 -p direct/dest_port=4789 -v 23 demo0
//! dladm show-overlay
//! dladm create-vnic -l demo0 foo0
//! ip addr add 10.55.55.1/24 dev foo0     (10.55.55.2 on the other host)
//! ping, both ways
//! dladm delete-vnic foo0; dladm delete-overlay demo0   -> nothing left
//! ```
//!
//! plus, on the real system, that a failed create leaves nothing behind and
//! that an unprivileged caller is refused.

use std::collections::BTreeMap;

use overlay_tests::daemons::bin;
use overlay_tests::have_root;
use overlay_tests::host::{seed_overlay_args, OurHost, TwoHosts};

/// What these tests do on a host beyond the shared harness.
trait Seed {
    /// `dladm args`, requiring success with nothing on stderr; stdout.
    fn ok(&self, args: &[&str]) -> String;
    /// The seed's `create-overlay … demo0` from `me` to `peer`, plus
    /// `extra` arguments.
    fn create_seed_with(&self, me: &str, peer: &str, extra: &[&str]);
    /// `show-overlay -p -o property,value` as a map.
    fn props(&self, link: &str) -> BTreeMap<String, String>;
    /// Three pings, 0.2 s apart: whether they were answered.
    fn ping(&self, ip: &str) -> bool;

    fn create_seed(&self, me: &str, peer: &str) {
        self.create_seed_with(me, peer, &[]);
    }
}

impl Seed for OurHost {
    fn ok(&self, args: &[&str]) -> String {
        self.dladm_quiet(args)
    }

    fn create_seed_with(&self, me: &str, peer: &str, extra: &[&str]) {
        self.dladm_quiet(&seed_overlay_args(me, peer, extra));
    }

    fn props(&self, link: &str) -> BTreeMap<String, String> {
        self.ok(&["show-overlay", "-p", "-o", "property,value", link])
            .lines()
            .filter_map(|l| {
                // Values may contain escaped ':' (IPv6); the property
                // name never does.
                let (k, v) = l.split_once(':')?;
                Some((k.to_string(), v.replace("\\:", ":").replace("\\\\", "\\")))
            })
            .collect()
    }

    fn ping(&self, ip: &str) -> bool {
        self.ns
            .exec("ping", &["-c", "3", "-i", "0.2", "-W", "2", ip])
            .status
            .success()
    }
}

fn two_hosts() -> (OurHost, OurHost) {
    let p = TwoHosts::new("dl")
        .veth("10.88.88.69/24", "10.88.88.70/24")
        .build();
    (p.a, p.b)
}

#[test]
fn dladm_seed_walkthrough() {
    if !have_root("dladm_seed_walkthrough") {
        return;
    }
    let (a, b) = two_hosts();
    a.create_seed("10.88.88.69", "10.88.88.70");
    b.create_seed("10.88.88.70", "10.88.88.69");

    // Every row of show-overlay (§8.5), in order, with the seed's values.
    let human = a.ok(&["show-overlay"]);
    assert!(
        human.starts_with(
            "LINK               PROPERTY           PERM REQ VALUE      DEFAULT   POSSIBLE\n"
        ),
        "{human}"
    );
    let rows: Vec<String> = a
        .ok(&["show-overlay", "-p", "-o", "link,property"])
        .lines()
        .map(|l| l.to_string())
        .collect();
    let want = [
        "mtu",
        "vnetid",
        "encap",
        "varpd/id",
        "vxlan/listen_ip",
        "vxlan/listen_port",
        "vxlan/ecn",
        "vxlan/dscp",
        "vxlan/ttl",
        "search",
        "direct/dest_ip",
        "direct/dest_port",
    ];
    let got: Vec<String> = rows
        .iter()
        .map(|r| r.strip_prefix("demo0:").unwrap_or(r).to_string())
        .collect();
    assert_eq!(got, want, "show-overlay rows:\n{human}");
    let p = a.props("demo0");
    assert_eq!(p["mtu"], "1400");
    assert_eq!(p["vnetid"], "23");
    assert_eq!(p["encap"], "vxlan");
    assert!(p["varpd/id"].parse::<u64>().is_ok_and(|v| v > 0), "{p:?}");
    assert_eq!(p["vxlan/listen_ip"], "10.88.88.69");
    assert_eq!(p["vxlan/listen_port"], "4789");
    assert_eq!(p["vxlan/ecn"], "normal");
    assert_eq!(p["vxlan/dscp"], "0");
    assert_eq!(p["vxlan/ttl"], "0");
    assert_eq!(p["search"], "direct");
    assert_eq!(p["direct/dest_ip"], "10.88.88.70");
    assert_eq!(p["direct/dest_port"], "4789");
    assert_eq!(b.props("demo0")["direct/dest_ip"], "10.88.88.69");
    assert_eq!(
        a.ok(&["show-overlay", "-f", "-p", "-o", "link,status"]),
        "demo0:ONLINE\n"
    );
    assert_eq!(
        a.ok(&["show-overlay", "-t", "-p", "-o", "target,destination"]),
        "*\\:*\\:*\\:*\\:*\\:*:10.88.88.70\\:4789\n"
    );

    // VNICs, addresses, traffic both ways.
    a.ok(&["create-vnic", "-l", "demo0", "foo0"]);
    b.ok(&["create-vnic", "-l", "demo0", "foo0"]);
    assert!(a.ns.has_link("foo0") && b.ns.has_link("foo0"));
    a.ns.plumb("foo0", "10.55.55.1/24");
    b.ns.plumb("foo0", "10.55.55.2/24");
    assert!(
        a.ping("10.55.55.2"),
        "ping from A to B over the overlay failed"
    );
    assert!(
        b.ping("10.55.55.1"),
        "ping from B to A over the overlay failed"
    );

    let vnic = a.ok(&["show-vnic", "-p", "-o", "link,over,macaddrtype"]);
    assert_eq!(vnic, "foo0:demo0:random\n");
    let links = a.ok(&["show-link", "-p", "-o", "link,class,over"]);
    assert_eq!(links, "demo0:overlay:\nfoo0:vnic:demo0\n");

    // An overlay with VNICs cannot go.
    let o = a.dladm(&["delete-overlay", "demo0"]);
    assert!(!o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "dladm: failed to delete demo0: link busy\n"
    );

    // Tear down: nothing left, active or persistent.
    for h in [&a, &b] {
        h.ok(&["delete-vnic", "foo0"]);
        h.ok(&["delete-overlay", "demo0"]);
        assert!(!h.ns.has_link("foo0"));
        assert_eq!(h.ok(&["show-link"]), "");
        assert_eq!(h.ok(&["show-link", "-P"]), "");
        assert_eq!(h.ok(&["show-overlay"]), "");
    }
}

#[test]
fn dladm_real_failures_leave_nothing() {
    if !have_root("dladm_real_failures_leave_nothing") {
        return;
    }
    let h = OurHost::alone("dl", "10.88.88.69/32");

    // Refused values, missing required properties, unknown plugins: each
    // fails with its message and leaves no link, device or instance.
    let cases: &[(&[&str], &str)] = &[
        (
            &["-p", "vxlan/listen_port=70000"],
            "dladm: invalid value '70000' for property vxlan/listen_port: must be in",
        ),
        (
            &["-p", "direct/dest_port=12x"],
            "dladm: invalid value '12x' for property direct/dest_port",
        ),
        (
            &["-p", "nosuch=1"],
            "dladm: warning: unknown property 'nosuch': the overlay's properties are mtu, \
             vnetid, vxlan/listen_ip, vxlan/listen_port",
        ),
    ];
    for (extra, msg) in cases {
        let mut args = vec![
            "create-overlay",
            "-e",
            "vxlan",
            "-s",
            "direct",
            "-p",
            "vxlan/listen_ip=10.88.88.69",
            "-p",
            "direct/dest_ip=10.88.88.70",
            "-v",
            "23",
        ];
        if !extra.iter().any(|e| e.starts_with("direct/dest_port")) {
            args.extend(["-p", "direct/dest_port=4789"]);
        }
        args.extend_from_slice(extra);
        args.push("demo0");
        let o = h.dladm(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.starts_with(msg), "{args:?}: {err}");
        assert_eq!(h.ok(&["show-link", "-P"]), "", "{args:?}");
        assert_eq!(h.ok(&["show-link"]), "", "{args:?}");
    }

    // Missing required property: the list of what is unset.
    let o = h.dladm(&[
        "create-overlay",
        "-e",
        "vxlan",
        "-s",
        "direct",
        "-p",
        "vxlan/listen_ip=10.88.88.69",
        "-v",
        "23",
        "demo0",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("dladm: warning: unset required property: direct/dest_ip\n"),
        "{err}"
    );
    assert!(
        err.ends_with("\n") && err.contains("dladm: overlay creation failed: "),
        "{err}"
    );
    assert_eq!(h.ok(&["show-link"]), "");

    // The first VNIC starts the overlay, which binds vxlan/listen_ip: an
    // address this host does not have fails the VNIC, not the overlay.
    h.ok(&[
        "create-overlay",
        "-t",
        "-e",
        "vxlan",
        "-s",
        "direct",
        "-p",
        "vxlan/listen_ip=10.99.99.99",
        "-p",
        "direct/dest_ip=10.88.88.70",
        "-p",
        "direct/dest_port=4789",
        "-v",
        "23",
        "demo0",
    ]);
    let o = h.dladm(&["create-vnic", "-t", "-l", "demo0", "foo0"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "dladm: warning: failed to start overlay device; could not open underlay socket: \
         can't assign requested address\n\
         dladm: vnic creation over demo0 failed: can't assign requested address\n"
    );
    assert!(!h.ns.has_link("foo0"));
    assert_eq!(h.ok(&["show-link", "-p", "-o", "link"]), "demo0\n");
    h.ok(&["delete-overlay", "demo0"]);
    assert_eq!(h.ok(&["show-link"]), "");

    // A caller without privilege is refused and creates nothing.
    if std::path::Path::new("/usr/bin/setpriv").exists() {
        let o =
            h.ns.command("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(bin("dladm"))
                .args([
                    "create-overlay",
                    "-e",
                    "vxlan",
                    "-s",
                    "direct",
                    "-p",
                    "vxlan/listen_ip=10.88.88.69",
                    "-p",
                    "direct/dest_ip=10.88.88.70",
                    "-p",
                    "direct/dest_port=4789",
                    "-v",
                    "23",
                    "demo0",
                ])
                .env("OVERLAY_ROOT", h.root.path())
                .output()
                .expect("run setpriv dladm");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains("permission denied"), "{err}");
        assert_eq!(h.ok(&["show-link"]), "");
    }
}

#[test]
fn dladm_up_overlay_after_reboot() {
    if !have_root("dladm_up_overlay_after_reboot") {
        return;
    }
    let (mut a, b) = two_hosts();
    // mtu is recorded too and comes back (FIX §12 #15); so are the
    // vxlan extension properties.
    a.create_seed_with(
        "10.88.88.69",
        "10.88.88.70",
        &[
            "-p",
            "mtu=1350",
            "-p",
            "vxlan/ecn=off",
            "-p",
            "vxlan/dscp=inherit",
            "-p",
            "vxlan/ttl=77",
        ],
    );
    b.create_seed("10.88.88.70", "10.88.88.69");
    a.ok(&["create-vnic", "-l", "demo0", "-p", "mtu=1300", "foo0"]);
    b.ok(&["create-vnic", "-l", "demo0", "foo0"]);
    // A temporary VNIC does not come back.
    a.ok(&["create-vnic", "-t", "-l", "demo0", "tmp0"]);
    let props = a.props("demo0");
    assert_eq!(props["mtu"], "1350");
    assert_eq!(
        (
            &*props["vxlan/ecn"],
            &*props["vxlan/dscp"],
            &*props["vxlan/ttl"]
        ),
        ("off", "inherit", "77")
    );
    let vnics = a.ok(&["show-vnic", "-p", "-o", "link,over,macaddress"]);

    a.reboot();
    assert_eq!(a.ok(&["show-overlay"]), "");
    assert_eq!(a.ok(&["show-link"]), "");
    assert_eq!(
        a.ok(&["show-link", "-P", "-p", "-o", "link,class,over"]),
        "demo0:overlay:\nfoo0:vnic:demo0\n"
    );
    a.ok(&["up-overlay"]);
    let mut after = a.props("demo0");
    let mut before = props.clone();
    // varpd hands out a new instance id.
    before.remove("varpd/id");
    after.remove("varpd/id");
    assert_eq!(after, before);
    assert_eq!(
        a.ok(&["show-vnic", "-p", "-o", "link,over,macaddress"]),
        vnics
            .lines()
            .filter(|l| l.starts_with("foo0:"))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    );
    assert_eq!(
        a.ok(&["show-link", "-p", "-o", "link,mtu", "foo0"]),
        "foo0:1300\n"
    );
    // Running again changes nothing.
    a.ok(&["up-overlay"]);

    a.ns.plumb("foo0", "10.55.55.1/24");
    b.ns.plumb("foo0", "10.55.55.2/24");
    assert!(a.ping("10.55.55.2"), "ping from A to B after reboot failed");
    assert!(b.ping("10.55.55.1"), "ping from B to A after reboot failed");

    for h in [&a, &b] {
        h.ok(&["delete-vnic", "foo0"]);
        h.ok(&["delete-overlay", "demo0"]);
        assert_eq!(h.ok(&["show-link", "-P"]), "");
    }
}

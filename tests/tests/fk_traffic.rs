//! fkoverlayd carrying real traffic between two network namespaces, driven
//! with raw ioctls only (no varpd, no dladm): create → setprop → ASSOCIATE
//! → ACTIVATE → VNIC on each host, then Ethernet frames written into one
//! host's TAP come out of the other's. Also DYNAMIC mode with the test
//! answering LOOKUPs, malformed underlay datagrams, underlay bind errors,
//! local switching, and SIGTERM removing the TAPs.

use overlay_sys::errno;
use overlay_sys::fk::*;
use overlay_sys::*;
use overlay_tests::daemons::{Daemon, FkConn};
use overlay_tests::have_root;
use overlay_tests::netns::{veth, Netns, PacketSocket, TempRoot};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const ETHERTYPE_TEST: u16 = 0x88b5;
const VNETID: u64 = 23;
const PORT: u16 = 4789;

struct Host {
    ns: Netns,
    root: TempRoot,
    daemon: Daemon,
    dld: FkConn,
    ip: [u8; 4],
}

impl Host {
    fn ipstr(&self) -> String {
        let [a, b, c, d] = self.ip;
        format!("{a}.{b}.{c}.{d}")
    }
}

fn two_hosts() -> (Host, Host) {
    let a = Netns::new("fk");
    let b = Netns::new("fk");
    veth(&a, "192.168.77.1/24", &b, "192.168.77.2/24");
    let mk = |ns: Netns, ip: [u8; 4]| {
        let root = TempRoot::new("fk");
        let daemon = Daemon::fkoverlayd(&ns, root.path());
        let dld = FkConn::dld(root.path()).expect("connect dld");
        Host {
            ns,
            root,
            daemon,
            dld,
            ip,
        }
    };
    (mk(a, [192, 168, 77, 1]), mk(b, [192, 168, 77, 2]))
}

fn create_overlay(h: &mut Host, name: &str, vnetid: u64, listen: [u8; 4]) -> u32 {
    create_overlay6(h, name, vnetid, in6_addr::v4mapped(listen))
}

fn create_overlay6(h: &mut Host, name: &str, vnetid: u64, listen: in6_addr) -> u32 {
    let mut c = fk_dl_create_t::default();
    fk_set_str(&mut c.fdc_name, name);
    c.fdc_class = DATALINK_CLASS_OVERLAY;
    c.fdc_media = DL_ETHER;
    c.fdc_flags = DLMGMT_ACTIVE;
    let (e, c) = h.dld.ioctl(FK_DL_CREATE_ID, &c);
    assert_eq!(e, 0, "create link id");
    let linkid = c.fdc_linkid;
    let mut oc = overlay_ioc_create_t {
        oic_linkid: linkid,
        oic_filler: 0,
        oic_vnetid: vnetid,
        oic_encap: [0; 32],
    };
    fk_set_str(&mut oc.oic_encap, "vxlan");
    let (e, _) = h.dld.ioctl(OVERLAY_IOC_CREATE, &oc);
    assert_eq!(e, 0, "OVERLAY_IOC_CREATE");
    assert_eq!(h.dld.setprop(linkid, "vxlan/listen_ip", &listen.s6_addr), 0);
    assert_eq!(
        h.dld
            .setprop(linkid, "vxlan/listen_port", &(PORT as u64).to_le_bytes()),
        0
    );
    linkid
}

fn open_targ(h: &Host) -> FkConn {
    FkConn::overlay(h.root.path(), FK_FREAD | FK_FWRITE | FK_FEXCL).expect("open /dev/overlay")
}

fn associate(t: &mut FkConn, linkid: u32, point: Option<[u8; 4]>) {
    associate6(t, linkid, point.map(in6_addr::v4mapped))
}

fn associate6(t: &mut FkConn, linkid: u32, point: Option<in6_addr>) {
    let mut a = overlay_targ_associate_t {
        ota_linkid: linkid,
        ota_mode: if point.is_some() { 1 } else { 2 },
        ota_id: 1000 + linkid as u64,
        ota_provides: 0x6,
        ..Default::default()
    };
    if let Some(ip) = point {
        a.ota_point.otp_ip = ip;
        a.ota_point.otp_port = PORT;
    }
    let (e, _) = t.ioctl(OVERLAY_TARG_ASSOCIATE, &a);
    assert_eq!(e, 0, "ASSOCIATE");
}

fn activate(h: &mut Host, linkid: u32) {
    let (e, _) = h.dld.ioctl(
        OVERLAY_IOC_ACTIVATE,
        &overlay_ioc_activate_t { oia_linkid: linkid },
    );
    assert_eq!(e, 0, "ACTIVATE");
}

fn create_vnic(h: &mut Host, over: u32, name: &str, mac: [u8; 6]) -> (u32, u32) {
    let mut v = fk_vnic_create_t {
        fvc_over: over,
        fvc_flags: DLMGMT_ACTIVE,
        fvc_mac_type: VNIC_MAC_ADDR_TYPE_FIXED,
        fvc_mac: mac,
        ..Default::default()
    };
    fk_set_str(&mut v.fvc_name, name);
    let (e, v) = h.dld.ioctl(FK_VNIC_CREATE, &v);
    (e, v.fvc_linkid)
}

fn frame(dst: [u8; 6], src: [u8; 6], payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ETHERTYPE_TEST.to_be_bytes());
    f.extend_from_slice(payload);
    // Pad to the Ethernet minimum, as a NIC would.
    if f.len() < 60 {
        f.resize(60, 0);
    }
    f
}

fn expect_frame(s: &PacketSocket, want: &[u8]) {
    let got = s
        .recv(Duration::from_secs(3))
        .expect("frame did not arrive");
    assert_eq!(&got[..want.len()], want, "frame content");
}

fn stat(h: &Host, name: &str) -> u64 {
    let out =
        h.ns.command(overlay_tests::daemons::bin("fkoverlayd"))
            .args(["stats", "-R"])
            .arg(h.root.path())
            .output()
            .expect("fkoverlayd stats");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some(name)).then(|| w.next().and_then(|v| v.parse().ok()))?
        })
        .unwrap_or_else(|| panic!("no counter {name} in:\n{text}"))
}

const MAC_A: [u8; 6] = [0x02, 0x08, 0x20, 0x00, 0x00, 0x0a];
const MAC_B: [u8; 6] = [0x02, 0x08, 0x20, 0x00, 0x00, 0x0b];
const MAC_A2: [u8; 6] = [0x02, 0x08, 0x20, 0x00, 0x00, 0xa2];

#[test]
fn fk_traffic_point_two_hosts() {
    if !have_root("fk_traffic_point_two_hosts") {
        return;
    }
    let (mut a, mut b) = two_hosts();
    let mut targs = vec![];
    for (h, peer) in [(&mut a, [192, 168, 77, 2]), (&mut b, [192, 168, 77, 1])] {
        let ip = h.ip;
        let l = create_overlay(h, "ovl0", VNETID, ip);
        let mut t = open_targ(h);
        associate(&mut t, l, Some(peer));
        activate(h, l);
        targs.push((t, l));
    }
    let (la, lb) = (targs[0].1, targs[1].1);
    // Underlay errors surface as the VNIC creation's errno: a listen
    // address that is not local.
    {
        let l = create_overlay(&mut a, "bad0", 99, [10, 99, 99, 99]);
        associate(&mut targs[0].0, l, Some([192, 168, 77, 2]));
        activate(&mut a, l);
        let (e, _) = create_vnic(&mut a, l, "badv0", MAC_A2);
        assert_eq!(e, errno::EADDRNOTAVAIL as u32);
        assert!(!a.ns.has_link("badv0"), "nothing left behind");
    }
    let (e, va) = create_vnic(&mut a, la, "fkv0", MAC_A);
    assert_eq!(e, 0);
    let (e, _) = create_vnic(&mut b, lb, "fkv0", MAC_B);
    assert_eq!(e, 0);
    for h in [&a, &b] {
        assert!(h.ns.has_link("fkv0"));
        // IPv4 only: IPv6's own MLD and router solicitations would reach the
        // overlay at any time and upset the frame counts below.
        h.ns.exec_ok("sysctl", &["-qw", "net.ipv6.conf.fkv0.disable_ipv6=1"]);
        h.ns.exec_ok("ip", &["link", "set", "fkv0", "up"]);
    }
    // The VNIC is listed with its overlay and MAC.
    let (e, info) = a.dld.ioctl(
        FK_VNIC_INFO,
        &fk_vnic_info_t {
            fvi_linkid: va,
            ..Default::default()
        },
    );
    assert_eq!(e, 0);
    assert_eq!(info.fvi_over, la);
    assert_eq!(info.fvi_mac, MAC_A);
    assert_eq!(fk_get_str(&info.fvi_overname), b"ovl0");
    assert_eq!(fk_get_str(&info.fvi_name), b"fkv0");
    // Deleting an overlay with VNICs is EBUSY.
    let (e, _) = a
        .dld
        .ioctl(OVERLAY_IOC_DELETE, &overlay_ioc_delete_t { oid_linkid: la });
    assert_eq!(e, errno::EBUSY as u32);

    let sa = a.ns.packet_socket("fkv0", ETHERTYPE_TEST);
    let sb = b.ns.packet_socket("fkv0", ETHERTYPE_TEST);
    // Unicast both ways, then broadcast.
    let f = frame(MAC_B, MAC_A, b"hello from a");
    sa.send(&f);
    expect_frame(&sb, &f);
    let f = frame(MAC_A, MAC_B, b"hello from b");
    sb.send(&f);
    expect_frame(&sa, &f);
    let f = frame([0xff; 6], MAC_A, b"broadcast");
    sa.send(&f);
    expect_frame(&sb, &f);
    assert!(stat(&a, "dev_tx_frames") >= 2);
    assert!(stat(&b, "mux_rx_ok") >= 2);

    // IP on top: the Linux form of `ifconfig fkv0 plumb up`.
    a.ns.exec_ok("ip", &["addr", "add", "10.55.55.1/24", "dev", "fkv0"]);
    b.ns.exec_ok("ip", &["addr", "add", "10.55.55.2/24", "dev", "fkv0"]);
    a.ns.exec_ok("ping", &["-c", "2", "-W", "3", "10.55.55.2"]);

    // Local switching: a second VNIC on the same overlay of host a.
    let (e, _) = create_vnic(&mut a, la, "fkv1", MAC_A2);
    assert_eq!(e, 0);
    // No IPv6 on it: the kernel's own MLD and router solicitations would
    // go to the overlay at any time and upset the count below.
    a.ns.exec_ok("sysctl", &["-qw", "net.ipv6.conf.fkv1.disable_ipv6=1"]);
    a.ns.exec_ok("ip", &["link", "set", "fkv1", "up"]);
    let sa2 = a.ns.packet_socket("fkv1", ETHERTYPE_TEST);
    let before = stat(&a, "overlay_tx");
    let f = frame(MAC_A2, MAC_A, b"local");
    sa.send(&f);
    expect_frame(&sa2, &f);
    assert_eq!(stat(&a, "local_unicast"), 1);
    assert_eq!(stat(&a, "overlay_tx"), before, "local frames stay local");
    // Broadcast reaches the other local VNIC and the remote host.
    let f = frame([0xff; 6], MAC_A2, b"flood");
    sa2.send(&f);
    expect_frame(&sa, &f);
    expect_frame(&sb, &f);

    // SIGTERM removes the TAPs.
    let st = a.daemon.stop().expect("daemon was running");
    assert!(st.success(), "clean exit: {st:?}");
    assert!(!a.ns.has_link("fkv0"));
    assert!(!a.ns.has_link("fkv1"));
}

#[test]
fn fk_traffic_dynamic_lookup_respond() {
    if !have_root("fk_traffic_dynamic_lookup_respond") {
        return;
    }
    let (mut a, mut b) = two_hosts();
    let stop = Arc::new(AtomicBool::new(false));
    let mut responders = vec![];
    for (h, peer) in [(&mut a, [192, 168, 77, 2u8]), (&mut b, [192, 168, 77, 1u8])] {
        let ip = h.ip;
        let l = create_overlay(h, "dyn0", VNETID, ip);
        let mut t = open_targ(h);
        associate(&mut t, l, None);
        activate(h, l);
        let (e, _) = create_vnic(h, l, "fkd0", if ip[3] == 1 { MAC_A } else { MAC_B });
        assert_eq!(e, 0);
        h.ns.exec_ok("ip", &["link", "set", "fkd0", "up"]);
        // The test plays varpd: every lookup is answered with the peer.
        let stop = Arc::clone(&stop);
        responders.push(std::thread::spawn(move || {
            let mut answered = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let r = t
                    .call(
                        OVERLAY_TARG_LOOKUP,
                        overlay_targ_lookup_t::default().as_bytes(),
                        &[],
                    )
                    .expect("LOOKUP");
                if r.errno != 0 {
                    continue;
                }
                let lk = overlay_targ_lookup_t::from_bytes_padded(&r.arg);
                let mut resp = overlay_targ_resp_t {
                    otr_reqid: lk.otl_reqid,
                    ..Default::default()
                };
                resp.otr_answer.otp_ip = in6_addr::v4mapped(peer);
                resp.otr_answer.otp_port = PORT;
                let r = t
                    .call(OVERLAY_TARG_RESPOND, resp.as_bytes(), &[])
                    .expect("RESPOND");
                assert_eq!(r.errno, 0, "RESPOND");
                answered += 1;
            }
            answered
        }));
    }
    let sa = a.ns.packet_socket("fkd0", ETHERTYPE_TEST);
    let sb = b.ns.packet_socket("fkd0", ETHERTYPE_TEST);
    // The first frame to B's MAC misses the cache, is queued, and is sent
    // when the responder answers.
    let f = frame(MAC_B, MAC_A, b"queued until RESPOND");
    sa.send(&f);
    expect_frame(&sb, &f);
    assert!(stat(&a, "dev_tx_queued") >= 1);
    let f = frame(MAC_A, MAC_B, b"reply");
    sb.send(&f);
    expect_frame(&sa, &f);
    // A second frame hits the cache.
    let f = frame(MAC_B, MAC_A, b"cached");
    sa.send(&f);
    expect_frame(&sb, &f);
    stop.store(true, Ordering::Relaxed);
    for r in responders {
        assert!(r.join().expect("responder") >= 1);
    }
}

#[test]
fn fk_traffic_malformed_datagrams_counted() {
    if !have_root("fk_traffic_malformed_datagrams_counted") {
        return;
    }
    let (mut a, mut b) = two_hosts();
    let mut keep = vec![];
    for (h, peer, mac) in [
        (&mut a, [192, 168, 77, 2], MAC_A),
        (&mut b, [192, 168, 77, 1], MAC_B),
    ] {
        let ip = h.ip;
        let l = create_overlay(h, "ovl0", VNETID, ip);
        let mut t = open_targ(h);
        associate(&mut t, l, Some(peer));
        activate(h, l);
        assert_eq!(create_vnic(h, l, "fkv0", mac).0, 0);
        h.ns.exec_ok("ip", &["link", "set", "fkv0", "up"]);
        keep.push(t);
    }
    let sa = a.ns.packet_socket("fkv0", ETHERTYPE_TEST);
    let sb = b.ns.packet_socket("fkv0", ETHERTYPE_TEST);
    let u = a.ns.udp_socket("192.168.77.1:0");
    let dst = format!("{}:{PORT}", b.ipstr());
    // Too short for any header.
    u.send_to(b"abc", &dst).unwrap();
    // VXLAN header with the I flag clear.
    let mut bad = vec![0u8; 8];
    bad.extend_from_slice(&frame(MAC_B, MAC_A, b"x"));
    u.send_to(&bad, &dst).unwrap();
    // A vnetid nobody has.
    let mut other = vec![0x08, 0, 0, 0, 0, 0, 0x63, 0];
    other.extend_from_slice(&frame(MAC_B, MAC_A, b"x"));
    u.send_to(&other, &dst).unwrap();
    // Traffic continues.
    let f = frame(MAC_B, MAC_A, b"still flowing");
    sa.send(&f);
    expect_frame(&sb, &f);
    assert_eq!(stat(&b, "mux_rx_drop_short"), 1);
    assert_eq!(stat(&b, "mux_rx_drop_decap"), 1);
    assert_eq!(stat(&b, "mux_rx_drop_unknown_vnetid"), 1);
    assert!(b.daemon.running());
}

#[test]
fn fk_traffic_port_taken_is_eaddrinuse() {
    if !have_root("fk_traffic_port_taken_is_eaddrinuse") {
        return;
    }
    let (mut a, _b) = two_hosts();
    let ip = a.ip;
    let l = create_overlay(&mut a, "ovl0", VNETID, ip);
    let mut t = open_targ(&a);
    associate(&mut t, l, Some([192, 168, 77, 2]));
    activate(&mut a, l);
    let taken = a.ns.udp_socket(&format!("{}:{PORT}", a.ipstr()));
    let (e, _) = create_vnic(&mut a, l, "fkv0", MAC_A);
    assert_eq!(e, errno::EADDRINUSE as u32);
    assert!(!a.ns.has_link("fkv0"));
    // The name is free again, and once the port is, creation works; the
    // last VNIC's deletion releases the port.
    drop(taken);
    let (e, v) = create_vnic(&mut a, l, "fkv0", MAC_A);
    assert_eq!(e, 0);
    let (e, _) = a.dld.ioctl(
        FK_VNIC_DELETE,
        &fk_dl_id_t {
            fdi_linkid: v,
            fdi_flags: 0,
        },
    );
    assert_eq!(e, 0);
    assert!(!a.ns.has_link("fkv0"));
    let _again = a.ns.udp_socket(&format!("{}:{PORT}", a.ipstr()));
    let (e, _) = a
        .dld
        .ioctl(OVERLAY_IOC_DELETE, &overlay_ioc_delete_t { oid_linkid: l });
    assert_eq!(e, 0);
}

#[test]
fn fk_traffic_ipv6_underlay() {
    if !have_root("fk_traffic_ipv6_underlay") {
        return;
    }
    let (mut a, mut b) = two_hosts();
    let v6 = |last: u8| {
        let mut x = [0u8; 16];
        x[0] = 0xfd;
        x[1] = 0x00;
        x[2] = 0x77;
        x[15] = last;
        in6_addr::new(x)
    };
    // The veth of two_hosts() also gets fd00:7700::1 and ::2.
    for (h, me) in [(&a, 1u8), (&b, 2u8)] {
        let dev = String::from_utf8(
            h.ns.exec_ok(
                "sh",
                &[
                    "-c",
                    "ip -o link show type veth | cut -d: -f2 | cut -d@ -f1",
                ],
            )
            .stdout,
        )
        .unwrap();
        let dev = dev.trim().to_string();
        h.ns.exec_ok(
            "ip",
            &[
                "addr",
                "add",
                &format!("fd00:7700::{me}/64"),
                "dev",
                &dev,
                "nodad",
            ],
        );
    }
    let mut targs = vec![];
    for (h, me, peer, mac) in [(&mut a, 1u8, 2u8, MAC_A), (&mut b, 2, 1, MAC_B)] {
        let l = create_overlay6(h, "ovl0", VNETID, v6(me));
        let mut t = open_targ(h);
        associate6(&mut t, l, Some(v6(peer)));
        activate(h, l);
        assert_eq!(create_vnic(h, l, "fkv0", mac).0, 0);
        h.ns.exec_ok("ip", &["link", "set", "fkv0", "up"]);
        targs.push(t);
    }
    let sa = a.ns.packet_socket("fkv0", ETHERTYPE_TEST);
    let sb = b.ns.packet_socket("fkv0", ETHERTYPE_TEST);
    let f = frame(MAC_B, MAC_A, b"over ipv6");
    sa.send(&f);
    expect_frame(&sb, &f);
    let f = frame(MAC_A, MAC_B, b"and back");
    sb.send(&f);
    expect_frame(&sa, &f);
}

//! The `files` plugin against a recording fake `/dev/overlay`: property
//! encodings and errors, start with good and bad files (degrade with
//! path:line:column), every lookup rule of §4.4 (unicast answers, ARP/NDP
//! proxy, DHCP redirect, drop of other broadcast and multicast), and
//! save/restore (§12 #8), including the self-healing of a restored instance.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use libvarpd::ksys::{self, TargLookup, TargetPoint};
use libvarpd::plugin::*;
use libvarpd::plugins::files::{self, FILES_CONFIG};
use libvarpd::proxy::{self, LookupFrame};
use libvarpd::testing::FakeTargetDev;
use libvarpd::Errno;
use serde_json::json;

const VXLAN: Dest = OVERLAY_PLUGIN_D_IP | OVERLAY_PLUGIN_D_PORT;
const LINKID: u32 = 5;

const CONFIG: &str = r#"{
	"de:ad:be:ef:00:00": { "arp": "10.55.55.2", "ip": "10.88.88.69", "ndp": "fe80::3", "port": 4789 },
	"de:ad:be:ef:00:01": { "arp": "10.55.55.3", "dhcp-proxy": "de:ad:be:ef:00:00",
	                       "ip": "10.88.88.70", "ndp": "fe80::4", "port": 4789 },
	"de:ad:be:ef:00:02": { "arp": "10.55.55.4", "ip": "2001:db8::71", "ndp": "fe80::5", "port": 4790 }
}
"#;

const M0: [u8; 6] = [0xde, 0xad, 0xbe, 0xef, 0, 0];
const M1: [u8; 6] = [0xde, 0xad, 0xbe, 0xef, 0, 1];
const M2: [u8; 6] = [0xde, 0xad, 0xbe, 0xef, 0, 2];

/// A scratch directory removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("pl-files-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Fixture {
    dev: Arc<FakeTargetDev>,
    inst: Arc<dyn SearchInstance>,
}

fn hdl(dev: &Arc<FakeTargetDev>, dest: Dest) -> ProviderHandle {
    ProviderHandle::new(1, LINKID, 23, dest, "files", dev.clone())
}

fn bind(dev: Arc<FakeTargetDev>, h: ProviderHandle, inst: Box<dyn SearchInstance>) -> Fixture {
    let inst: Arc<dyn SearchInstance> = Arc::from(inst);
    h.bind(&inst);
    Fixture { dev, inst }
}

fn fixture(dest: Dest) -> Fixture {
    let dev = Arc::new(FakeTargetDev::new());
    let h = hdl(&dev, dest);
    let inst = files::registration().ops.create(h.clone(), dest).unwrap();
    bind(dev, h, inst)
}

fn set_path(i: &dyn SearchInstance, p: &Path) -> Result<(), Errno> {
    let mut v = p.to_str().unwrap().as_bytes().to_vec();
    v.push(0);
    i.setprop(FILES_CONFIG, &v)
}

impl Fixture {
    /// Run one lookup of `frame` (sizes from `hdrsize`) with request id 9.
    fn lookup(&self, frame: &[u8], hdrsize: usize, sap: u16) {
        self.dev.set_pkt(frame);
        let mut l = TargLookup {
            dlid: u64::from(LINKID),
            reqid: 9,
            varpdid: 1,
            vnetid: 23,
            hdrsize: hdrsize as u64,
            pktsize: (frame.len() - hdrsize) as u64,
            sap: u32::from(sap),
            ..Default::default()
        };
        l.dstaddr.copy_from_slice(&frame[0..6]);
        l.srcaddr.copy_from_slice(&frame[6..12]);
        let q = Query::new(l, self.dev.clone(), "files");
        self.inst.lookup(q);
    }

    /// The commands issued since the last call, and the calls themselves.
    fn take(&self, from: &mut usize) -> Vec<libvarpd::testing::Call> {
        let c = self.dev.calls();
        let out = c[*from..].to_vec();
        *from = c.len();
        out
    }
}

fn cmds(c: &[libvarpd::testing::Call]) -> Vec<u32> {
    c.iter().map(|c| c.cmd).collect()
}

fn eth(dst: [u8; 6], src: [u8; 6], ty: u16, body: &[u8]) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend_from_slice(&src);
    f.extend_from_slice(&ty.to_be_bytes());
    f.extend_from_slice(body);
    f
}

fn arp_request(sender: [u8; 6], spa: [u8; 4], tpa: [u8; 4]) -> Vec<u8> {
    let mut b = vec![0, 1, 8, 0, 6, 4, 0, 1];
    b.extend_from_slice(&sender);
    b.extend_from_slice(&spa);
    b.extend_from_slice(&[0; 6]);
    b.extend_from_slice(&tpa);
    eth([0xff; 6], sender, 0x0806, &b)
}

fn ndp_solicit(sender: [u8; 6], src: &str, target: &str) -> Vec<u8> {
    let src: std::net::Ipv6Addr = src.parse().unwrap();
    let target: std::net::Ipv6Addr = target.parse().unwrap();
    let t = target.octets();
    let dst = std::net::Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(t[13]),
        u16::from_be_bytes([t[14], t[15]]),
    );
    let mut icmp = vec![135, 0, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&t);
    icmp.extend_from_slice(&[1, 1]);
    icmp.extend_from_slice(&sender);
    let sum = proxy::icmpv6_checksum(&src, &dst, &icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    let mut ip6 = vec![0x60, 0, 0, 0, 0, icmp.len() as u8, 58, 255];
    ip6.extend_from_slice(&src.octets());
    ip6.extend_from_slice(&dst.octets());
    ip6.extend_from_slice(&icmp);
    let d = dst.octets();
    eth(
        [0x33, 0x33, d[12], d[13], d[14], d[15]],
        sender,
        0x86dd,
        &ip6,
    )
}

fn dhcp_discover(sender: [u8; 6]) -> Vec<u8> {
    let mut b = vec![
        0x45, 0, 0x01, 0x48, 0, 0, 0, 0, 64, 17, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255,
    ];
    b.extend_from_slice(&[0, 68, 0, 67, 0x01, 0x34, 0, 0]);
    b.resize(b.len() + 300, 0);
    eth([0xff; 6], sender, 0x0800, &b)
}

fn started(dir: &Dir) -> Fixture {
    let f = fixture(VXLAN);
    set_path(&*f.inst, &dir.file("overlay.json", CONFIG)).unwrap();
    f.inst.start().unwrap();
    f
}

#[test]
fn registration_and_dest() {
    let r = files::registration();
    assert_eq!((r.name.as_str(), r.mode), ("files", TargetMode::Dynamic));
    let dev = Arc::new(FakeTargetDev::new());
    for bad in [
        0,
        OVERLAY_PLUGIN_D_ETHERNET,
        VXLAN | OVERLAY_PLUGIN_D_ETHERNET,
    ] {
        assert_eq!(
            r.ops.create(hdl(&dev, bad), bad).err(),
            Some(Errno::ENOTSUP)
        );
        assert_eq!(
            r.ops.restore(&json!({}), hdl(&dev, bad), bad).err(),
            Some(Errno::EINVAL)
        );
    }
    for good in [OVERLAY_PLUGIN_D_IP, OVERLAY_PLUGIN_D_PORT, VXLAN] {
        assert!(r.ops.create(hdl(&dev, good), good).is_ok());
    }
}

#[test]
fn config_property() {
    let f = fixture(VXLAN);
    let i = &*f.inst;
    assert_eq!(i.nprops(), Ok(1));
    let mut ph = PropHandle::new();
    i.propinfo(0, &mut ph).unwrap();
    assert_eq!(ph.name, "files/config");
    assert_eq!(ph.prot, OVERLAY_PROP_PERM_RRW);
    assert_eq!(ph.ptype, PropType::String as u32);
    assert_eq!(ph.defsize, 0);
    assert_eq!(i.propinfo(1, &mut PropHandle::new()), Err(Errno::EINVAL));

    let mut buf = [0xaau8; 256];
    assert_eq!(i.getprop(FILES_CONFIG, &mut buf), Ok(0));
    i.setprop(FILES_CONFIG, b"/etc/overlay/x.json\0").unwrap();
    assert_eq!(i.getprop(FILES_CONFIG, &mut buf), Ok(20));
    assert_eq!(&buf[..20], b"/etc/overlay/x.json\0");
    assert_eq!(i.getprop(FILES_CONFIG, &mut buf[..20]), Ok(20));
    assert_eq!(
        i.getprop(FILES_CONFIG, &mut buf[..19]),
        Err(Errno::EOVERFLOW)
    );
    // strlcpy: without a NUL the whole value; with one, up to it.
    i.setprop(FILES_CONFIG, b"/a/b").unwrap();
    assert_eq!(i.getprop(FILES_CONFIG, &mut buf), Ok(5));
    assert_eq!(&buf[..5], b"/a/b\0");
    i.setprop(FILES_CONFIG, b"/c\0junk").unwrap();
    assert_eq!(i.getprop(FILES_CONFIG, &mut buf), Ok(3));
    for bad in [&b"relative.json\0"[..], b"\0", b"", b"/\xff\xfe\0"] {
        assert_eq!(i.setprop(FILES_CONFIG, bad), Err(Errno::EINVAL), "{bad:?}");
    }
    assert_eq!(i.getprop(FILES_CONFIG, &mut buf), Ok(3), "unchanged");
    assert_eq!(i.setprop("files/other", b"/x\0"), Err(Errno::EINVAL));
    assert_eq!(i.getprop("files/other", &mut buf), Err(Errno::EINVAL));
}

#[test]
fn start_and_bad_files() {
    let dir = Dir::new("start");
    let f = fixture(VXLAN);
    assert_eq!(f.inst.start(), Err(Errno::EAGAIN));

    // A bad file: EINVAL (§12 #9), and the overlay is degraded with the
    // path, line and column.
    let bad = dir.file(
        "bad.json",
        "{\n  \"de:ad:be:ef:00:01\": {\n    \"ip\": \"10.88.88.70\"\n  }\n}\n",
    );
    set_path(&*f.inst, &bad).unwrap();
    assert_eq!(f.inst.start(), Err(Errno::EINVAL));
    let msg = format!(
        "{}:4:3: missing \"port\" (the encapsulation needs an underlay port)",
        bad.display()
    );
    let deg = f.dev.calls_of(ksys::OVERLAY_TARG_DEGRADE);
    assert_eq!(deg.len(), 1);
    assert_eq!(deg[0].arg, ksys::targ_degrade(LINKID, &msg).to_vec());

    // The same file is fine for an encapsulation without ports.
    let g = fixture(OVERLAY_PLUGIN_D_IP);
    set_path(&*g.inst, &bad).unwrap();
    assert_eq!(g.inst.start(), Ok(()));

    // A missing file: its errno.
    let missing = dir.0.join("missing.json");
    set_path(&*f.inst, &missing).unwrap();
    assert_eq!(f.inst.start(), Err(Errno::ENOENT));
    let deg = f.dev.calls_of(ksys::OVERLAY_TARG_DEGRADE);
    assert_eq!(deg.len(), 2);
    assert!(
        String::from_utf8_lossy(&deg[1].arg[8..]).starts_with(&format!("{}: ", missing.display()))
    );

    // Good file: started; the path cannot change any more (§12 #5).
    set_path(&*f.inst, &dir.file("good.json", CONFIG)).unwrap();
    assert_eq!(f.inst.start(), Ok(()));
    assert_eq!(set_path(&*f.inst, &bad), Err(Errno::EBUSY));
    f.inst.stop();
    assert_eq!(set_path(&*f.inst, &bad), Ok(()));
    f.inst.destroy();
}

#[test]
fn unicast_lookups() {
    let dir = Dir::new("unicast");
    let f = started(&dir);
    let mut n = 0;
    let ipv4 = |dst| eth(dst, M0, 0x0800, &[0x45; 40]);

    f.lookup(&ipv4(M1), 14, 0x0800);
    let c = f.take(&mut n);
    let p = TargetPoint {
        mac: [0; 6],
        ip: "::ffff:10.88.88.70".parse().unwrap(),
        port: 4789,
    };
    assert_eq!(cmds(&c), [ksys::OVERLAY_TARG_RESPOND]);
    assert_eq!(c[0].arg, ksys::targ_resp(9, &p).to_vec());

    // IPv6 underlay; TCP over IPv6 to a unicast MAC is not NDP.
    f.lookup(&eth(M2, M0, 0x86dd, &[0x60; 60]), 14, 0x86dd);
    let c = f.take(&mut n);
    let p = TargetPoint {
        mac: [0; 6],
        ip: "2001:db8::71".parse().unwrap(),
        port: 4790,
    };
    assert_eq!(c[0].arg, ksys::targ_resp(9, &p).to_vec());

    // Unknown unicast MAC: dropped and counted.
    f.lookup(&ipv4([2, 0, 0, 0, 0, 9]), 14, 0x0800);
    assert_eq!(cmds(&f.take(&mut n)), [ksys::OVERLAY_TARG_DROP]);
    assert_eq!(f.inst.save().unwrap()["files/vaf_nmisses"], json!(1));

    // Other broadcast and multicast: dropped without even reading the frame.
    for (dst, sap) in [
        ([0xff; 6], 0x0800u16), // broadcast IPv4 from a MAC without dhcp-proxy
        ([0xff; 6], 0x88cc),    // broadcast, other ethertype
        ([0x01, 0x00, 0x5e, 0, 0, 0xfb], 0x0800), // IPv4 multicast (mDNS)
        ([0x33, 0x33, 0, 0, 0, 0x16], 0x0800), // 33:33 but not IPv6
        ([0x01, 0x80, 0xc2, 0, 0, 0], 0x0027), // STP
    ] {
        f.lookup(&eth(dst, M0, sap, &[0x45; 400]), 14, sap);
        assert_eq!(
            cmds(&f.take(&mut n)),
            [ksys::OVERLAY_TARG_DROP],
            "{dst:x?} {sap:#x}"
        );
    }
    assert_eq!(f.inst.save().unwrap()["files/vaf_nmisses"], json!(1));

    // Stopped: everything is dropped.
    f.inst.stop();
    f.lookup(&ipv4(M1), 14, 0x0800);
    assert_eq!(cmds(&f.take(&mut n)), [ksys::OVERLAY_TARG_DROP]);
}

#[test]
fn proxy_arp_and_ndp() {
    let dir = Dir::new("arp");
    let f = started(&dir);
    let mut n = 0;
    let requester = [2, 8, 0x20, 0xaa, 0xbb, 1];

    // 10.55.55.3 is M1's: the reply is injected, the query dropped.
    let req = arp_request(requester, [10, 55, 55, 9], [10, 55, 55, 3]);
    f.lookup(&req, 14, 0x0806);
    let c = f.take(&mut n);
    assert_eq!(
        cmds(&c),
        [
            ksys::OVERLAY_TARG_PKT,
            ksys::OVERLAY_TARG_INJECT,
            ksys::OVERLAY_TARG_DROP
        ]
    );
    let frame = LookupFrame {
        hdrsize: 14,
        pktsize: 28,
        sap: 0x0806,
        srcaddr: requester,
        dstaddr: [0xff; 6],
    };
    let want = proxy::arp_reply(&frame, &req, &M1).unwrap();
    assert_eq!(c[1].data, want);
    assert_eq!(
        &want[0..12],
        &[2, 8, 0x20, 0xaa, 0xbb, 1, 0xde, 0xad, 0xbe, 0xef, 0, 1]
    );
    assert_eq!(&want[22..28], &M1, "sha");
    assert_eq!(&want[28..32], &[10, 55, 55, 3], "spa");
    // INJECT by request id, with the frame's size.
    assert_eq!(
        c[1].arg,
        ksys::targ_pkt(ksys::OVERLAY_TARG_PKT_BY_REQID, 9, want.len() as u64).to_vec()
    );

    // Nobody has 10.55.55.99: no reply.
    f.lookup(
        &arp_request(requester, [10, 55, 55, 9], [10, 55, 55, 99]),
        14,
        0x0806,
    );
    assert_eq!(
        cmds(&f.take(&mut n)),
        [ksys::OVERLAY_TARG_PKT, ksys::OVERLAY_TARG_DROP]
    );
    // Gratuitous ARP is never answered.
    f.lookup(
        &arp_request(M1, [10, 55, 55, 3], [10, 55, 55, 3]),
        14,
        0x0806,
    );
    assert_eq!(
        cmds(&f.take(&mut n)),
        [ksys::OVERLAY_TARG_PKT, ksys::OVERLAY_TARG_DROP]
    );

    // NDP for fe80::5 (M2).
    let ns = ndp_solicit(requester, "fe80::1", "fe80::5");
    f.lookup(&ns, 14, 0x86dd);
    let c = f.take(&mut n);
    assert_eq!(
        cmds(&c),
        [
            ksys::OVERLAY_TARG_PKT,
            ksys::OVERLAY_TARG_INJECT,
            ksys::OVERLAY_TARG_DROP
        ]
    );
    let mut frame = frame;
    frame.pktsize = (ns.len() - 14) as u64;
    frame.sap = 0x86dd;
    frame.dstaddr.copy_from_slice(&ns[..6]);
    assert_eq!(c[1].data, proxy::ndp_advert(&frame, &ns, &M2).unwrap());
    assert_eq!(&c[1].data[6..12], &M2);

    // Unknown IPv6 address; an IPv6 multicast that is not an NS (MLD).
    f.lookup(&ndp_solicit(requester, "fe80::1", "fe80::77"), 14, 0x86dd);
    assert_eq!(
        cmds(&f.take(&mut n)),
        [ksys::OVERLAY_TARG_PKT, ksys::OVERLAY_TARG_DROP]
    );
    let mut mld = ns.clone();
    mld[54] = 143;
    f.lookup(&mld, 14, 0x86dd);
    assert_eq!(
        cmds(&f.take(&mut n)),
        [ksys::OVERLAY_TARG_PKT, ksys::OVERLAY_TARG_DROP]
    );

    assert_eq!(f.inst.save().unwrap()["files/vaf_narp"], json!(2));
}

/// The files format has no VLANs: a tagged request (VLAN 5) is answered
/// from the same table, and the reply keeps the request's tag.
#[test]
fn proxy_arp_tagged() {
    let dir = Dir::new("arpv");
    let f = started(&dir);
    let mut n = 0;
    let requester = [2, 8, 0x20, 0xaa, 0xbb, 1];
    let mut req = arp_request(requester, [10, 55, 55, 9], [10, 55, 55, 3]);
    req.splice(12..12, [0x81, 0x00, 0x00, 0x05]);
    f.dev.set_pkt(&req);
    let mut l = TargLookup {
        dlid: u64::from(LINKID),
        reqid: 9,
        varpdid: 1,
        vnetid: 23,
        hdrsize: 18,
        pktsize: 28,
        sap: 0x0806,
        vlan: 5,
        ..Default::default()
    };
    l.dstaddr = [0xff; 6];
    l.srcaddr = requester;
    f.inst.lookup(Query::new(l, f.dev.clone(), "files"));
    let c = f.take(&mut n);
    assert_eq!(
        cmds(&c),
        [
            ksys::OVERLAY_TARG_PKT,
            ksys::OVERLAY_TARG_INJECT,
            ksys::OVERLAY_TARG_DROP
        ]
    );
    let r = &c[1].data;
    assert_eq!(r.len(), 46);
    assert_eq!(&r[0..6], &requester);
    assert_eq!(&r[6..12], &M1);
    assert_eq!(&r[12..18], &[0x81, 0x00, 0x00, 0x05, 0x08, 0x06]);
    assert_eq!(&r[26..32], &M1, "sha");
    assert_eq!(&r[32..36], &[10, 55, 55, 3], "spa");
}

#[test]
fn dhcp_redirect() {
    let dir = Dir::new("dhcp");
    let f = started(&dir);
    let mut n = 0;
    // M1 has "dhcp-proxy": M0.
    let req = dhcp_discover(M1);
    f.lookup(&req, 14, 0x0800);
    let c = f.take(&mut n);
    assert_eq!(
        cmds(&c),
        [
            ksys::OVERLAY_TARG_PKT,
            ksys::OVERLAY_TARG_RESEND,
            ksys::OVERLAY_TARG_DROP
        ]
    );
    let mut want = req.clone();
    want[..6].copy_from_slice(&M0);
    assert_eq!(c[1].data, want);
    // M0 has none: plain drop.
    f.lookup(&dhcp_discover(M0), 14, 0x0800);
    assert_eq!(cmds(&f.take(&mut n)), [ksys::OVERLAY_TARG_DROP]);
    // From M1 but not DHCP (UDP 53): fetched, found wanting, dropped.
    let mut dns = dhcp_discover(M1);
    dns[36] = 0;
    dns[37] = 53;
    f.lookup(&dns, 14, 0x0800);
    assert_eq!(
        cmds(&f.take(&mut n)),
        [ksys::OVERLAY_TARG_PKT, ksys::OVERLAY_TARG_DROP]
    );
}

#[test]
fn save_restore() {
    let dir = Dir::new("save");
    let ops = files::registration().ops;
    let f = fixture(VXLAN);
    assert_eq!(
        f.inst.save().unwrap(),
        json!({"files/vaf_nmisses": 0, "files/vaf_narp": 0})
    );
    let path = dir.file("overlay.json", CONFIG);
    set_path(&*f.inst, &path).unwrap();
    f.inst.start().unwrap();
    let saved = f.inst.save().unwrap();
    assert_eq!(
        saved,
        json!({"files/config": path.to_str().unwrap(), "files/vaf_nmisses": 0, "files/vaf_narp": 0})
    );

    let dev = Arc::new(FakeTargetDev::new());
    let h = hdl(&dev, VXLAN);
    let r = bind(dev, h.clone(), ops.restore(&saved, h, VXLAN).unwrap());
    r.inst.start().unwrap();
    let mut buf = [0u8; 256];
    let n = r.inst.getprop(FILES_CONFIG, &mut buf).unwrap();
    assert_eq!(&buf[..n - 1], path.to_str().unwrap().as_bytes());
    r.lookup(&eth(M1, M0, 0x0800, &[0x45; 40]), 14, 0x0800);
    assert_eq!(cmds(&r.dev.calls()), [ksys::OVERLAY_TARG_RESPOND]);

    // §12 #8: counters and path are optional.
    let dev = Arc::new(FakeTargetDev::new());
    let r = ops.restore(&json!({}), hdl(&dev, VXLAN), VXLAN).unwrap();
    assert_eq!(r.start(), Err(Errno::EAGAIN));
    let r = ops
        .restore(&json!({"files/vaf_nmisses": 7}), hdl(&dev, VXLAN), VXLAN)
        .unwrap();
    assert_eq!(r.save().unwrap()["files/vaf_nmisses"], json!(7));
    for bad in [
        json!("x"),
        json!({"files/config": 5}),
        json!({"files/config": "relative"}),
        json!({"files/vaf_narp": -1}),
        json!({"files/vaf_nmisses": "0"}),
    ] {
        assert_eq!(
            ops.restore(&bad, hdl(&dev, VXLAN), VXLAN).err(),
            Some(Errno::EINVAL),
            "{bad}"
        );
    }
}

#[test]
fn restored_instance_with_bad_file_degrades_then_heals() {
    let dir = Dir::new("heal");
    let path = dir.file(
        "overlay.json",
        "{ \"de:ad:be:ef:00:01\": { \"ip\": \"10.88.88.70\", \"port\": 99999 } }",
    );
    let dev = Arc::new(FakeTargetDev::new());
    let h = hdl(&dev, VXLAN);
    let saved = json!({"files/config": path.to_str().unwrap()});
    let r = bind(
        dev,
        h.clone(),
        files::registration().ops.restore(&saved, h, VXLAN).unwrap(),
    );
    // A restored instance keeps running, degraded.
    assert_eq!(r.inst.start(), Ok(()));
    let msg = format!(
        "{}:1:61: \"port\": 99999 is not an integer from 1 to 65535",
        path.display()
    );
    assert_eq!(
        r.dev.calls_of(ksys::OVERLAY_TARG_DEGRADE)[0].arg,
        ksys::targ_degrade(LINKID, &msg).to_vec()
    );
    let mut n = r.dev.calls().len();
    let ipv4 = eth(M1, M0, 0x0800, &[0x45; 40]);
    r.lookup(&ipv4, 14, 0x0800);
    assert_eq!(cmds(&r.take(&mut n)), [ksys::OVERLAY_TARG_DROP]);

    // Fixed; after the retry interval the next lookup loads it, restores
    // the overlay and is answered.
    dir.file("overlay.json", CONFIG);
    std::thread::sleep(files::FILES_RETRY + std::time::Duration::from_millis(100));
    r.lookup(&ipv4, 14, 0x0800);
    assert_eq!(
        cmds(&r.take(&mut n)),
        [ksys::OVERLAY_TARG_RESTORE, ksys::OVERLAY_TARG_RESPOND]
    );
    assert_eq!(
        r.dev.calls_of(ksys::OVERLAY_TARG_RESTORE)[0].arg,
        ksys::targ_id(LINKID).to_vec()
    );
}

/// Head-end replication (extension): a `flood` key gives the kernel its
/// list at start (OVERLAY_TARG_FLOOD_SET with every point), stop clears
/// it, a file without one issues no such ioctl (illumos' driver lacks
/// it), and a driver refusing it fails the start.
#[test]
fn flood_list_is_given_to_the_kernel() {
    let dir = Dir::new("flood");
    let text = r#"{
        "de:ad:be:ef:00:00": { "ip": "10.88.88.69", "port": 4789 },
        "flood": [ { "ip": "10.88.88.70", "port": 4789 }, { "ip": "2001:db8::71", "port": 4790 } ]
    }"#;
    let f = fixture(VXLAN);
    set_path(&*f.inst, &dir.file("flood.json", text)).unwrap();
    f.inst.start().unwrap();
    let calls = f.dev.calls_of(ksys::OVERLAY_TARG_FLOOD_SET);
    assert_eq!(calls.len(), 1);
    let a = &calls[0].arg;
    assert_eq!(ksys::get_u32(a, 0), LINKID);
    assert_eq!(ksys::get_u32(a, 4), 2);
    let p0 = TargetPoint::decode(&a[8..]);
    let p1 = TargetPoint::decode(&a[8 + TargetPoint::SIZE..]);
    assert_eq!(
        p0.ip,
        "10.88.88.70"
            .parse::<std::net::Ipv4Addr>()
            .unwrap()
            .to_ipv6_mapped()
    );
    assert_eq!((p0.port, p1.port), (4789, 4790));
    assert_eq!(p1.ip, "2001:db8::71".parse::<std::net::Ipv6Addr>().unwrap());
    assert_eq!(a.len(), 8 + 2 * TargetPoint::SIZE);
    f.inst.stop();
    let calls = f.dev.calls_of(ksys::OVERLAY_TARG_FLOOD_SET);
    assert_eq!(calls.len(), 2);
    assert_eq!(ksys::get_u32(&calls[1].arg, 4), 0, "stop clears the list");

    let g = started(&dir);
    assert!(g.dev.calls_of(ksys::OVERLAY_TARG_FLOOD_SET).is_empty());
    g.inst.stop();
    assert!(g.dev.calls_of(ksys::OVERLAY_TARG_FLOOD_SET).is_empty());

    let h = fixture(VXLAN);
    h.dev.fail(ksys::OVERLAY_TARG_FLOOD_SET, Errno::ENOTTY);
    set_path(&*h.inst, &dir.file("flood2.json", text)).unwrap();
    assert_eq!(h.inst.start(), Err(Errno::ENOTTY));
}

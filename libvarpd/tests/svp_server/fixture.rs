//! Instances of the svp plugin over a recording `/dev/overlay`.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libvarpd::ksys::{self, TargLookup, TargetPoint};
use libvarpd::plugin::*;
use libvarpd::plugins::svp::{self, ResolveError, SvpConfig, SvpPlugin, SvpResolver};
use libvarpd::testing::{Call, FakeTargetDev};

pub const VXLAN: Dest = OVERLAY_PLUGIN_D_IP | OVERLAY_PLUGIN_D_PORT;

/// A resolver the test controls.
#[derive(Default)]
pub struct TestResolver {
    pub answer: Mutex<Option<Result<Vec<IpAddr>, ResolveError>>>,
    pub calls: Mutex<u64>,
}

impl TestResolver {
    pub fn set(&self, r: Result<Vec<IpAddr>, ResolveError>) {
        *self.answer.lock().unwrap() = Some(r);
    }
    pub fn calls(&self) -> u64 {
        *self.calls.lock().unwrap()
    }
}

impl SvpResolver for TestResolver {
    fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, ResolveError> {
        *self.calls.lock().unwrap() += 1;
        match &*self.answer.lock().unwrap() {
            Some(r) => r.clone(),
            None => libvarpd::plugins::svp::host::GetAddrInfo.resolve(host),
        }
    }
}

/// A plugin with a tick of `tick_ms` and (optionally) a test resolver.
pub fn plugin(
    tick_ms: u64,
    resolver: Option<Arc<TestResolver>>,
) -> (PluginRegistration, Arc<SvpPlugin>) {
    svp::registration_with(SvpConfig {
        tick: Duration::from_millis(tick_ms),
        resolver: resolver.map(|r| r as Arc<dyn SvpResolver>),
        ..SvpConfig::default()
    })
}

pub fn plugin_cfg(cfg: SvpConfig) -> (PluginRegistration, Arc<SvpPlugin>) {
    svp::registration_with(cfg)
}

pub struct Inst {
    pub dev: Arc<FakeTargetDev>,
    pub inst: Arc<dyn SearchInstance>,
    pub linkid: u32,
    pub vnet: u64,
}

pub fn u64b(v: u64) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

pub fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

pub fn v6(ip: &str) -> Ipv6Addr {
    match ip.parse::<IpAddr>().unwrap() {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// An instance (not started) on its own fake device.
pub fn create(reg: &PluginRegistration, linkid: u32, vnet: u64) -> Inst {
    let dev = Arc::new(FakeTargetDev::new());
    let h = ProviderHandle::new(u64::from(linkid), linkid, vnet, VXLAN, "svp", dev.clone());
    let inst: Arc<dyn SearchInstance> = Arc::from(reg.ops.create(h.clone(), VXLAN).unwrap());
    h.bind(&inst);
    Inst {
        dev,
        inst,
        linkid,
        vnet,
    }
}

/// An instance with host, port and underlay IP set, started.
pub fn started(reg: &PluginRegistration, linkid: u32, vnet: u64, host: &str, port: u16) -> Inst {
    let i = create(reg, linkid, vnet);
    i.inst.setprop("svp/host", &cstr(host)).unwrap();
    i.inst.setprop("svp/port", &u64b(u64::from(port))).unwrap();
    i.inst
        .setprop("svp/underlay_ip", &v6("10.88.88.1").octets())
        .unwrap();
    i.inst.start().unwrap();
    i
}

pub fn wait_until<F: FnMut() -> bool>(what: &str, timeout: Duration, mut f: F) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

impl Inst {
    /// A lookup for `dst` (unicast IPv4 frame) with request id `reqid`.
    pub fn lookup(&self, reqid: u64, dst: [u8; 6]) {
        self.lookup_sap(reqid, dst, 0x0800);
    }

    pub fn lookup_sap(&self, reqid: u64, dst: [u8; 6], sap: u16) {
        let l = TargLookup {
            dlid: u64::from(self.linkid),
            reqid,
            varpdid: u64::from(self.linkid),
            vnetid: self.vnet,
            hdrsize: 14,
            pktsize: 64,
            srcaddr: [2, 0, 0, 0, 0, 1],
            dstaddr: dst,
            sap: u32::from(sap),
            ..Default::default()
        };
        self.inst.lookup(Query::new(l, self.dev.clone(), "svp"));
    }

    /// Run a lookup of a whole frame (for the ARP/NDP proxies).
    pub fn lookup_frame(&self, reqid: u64, frame: &[u8], sap: u16) {
        self.dev.set_pkt(frame);
        let mut l = TargLookup {
            dlid: u64::from(self.linkid),
            reqid,
            varpdid: u64::from(self.linkid),
            vnetid: self.vnet,
            hdrsize: 14,
            pktsize: (frame.len() - 14) as u64,
            sap: u32::from(sap),
            ..Default::default()
        };
        l.dstaddr.copy_from_slice(&frame[0..6]);
        l.srcaddr.copy_from_slice(&frame[6..12]);
        self.inst.lookup(Query::new(l, self.dev.clone(), "svp"));
    }

    /// The answer to request `reqid`: Some(point) for RESPOND, None for
    /// DROP; waits for it.
    pub fn answer(&self, reqid: u64) -> Option<TargetPoint> {
        let mut out = None;
        wait_until("a lookup answer", Duration::from_secs(20), || {
            for c in self.dev.calls() {
                if (c.cmd == ksys::OVERLAY_TARG_RESPOND || c.cmd == ksys::OVERLAY_TARG_DROP)
                    && ksys::get_u64(&c.arg, 0) == reqid
                {
                    out = Some(if c.cmd == ksys::OVERLAY_TARG_RESPOND {
                        Some(TargetPoint::decode(&c.arg[8..]))
                    } else {
                        None
                    });
                    return true;
                }
            }
            false
        });
        out.unwrap()
    }

    pub fn calls_of(&self, cmd: u32) -> Vec<Call> {
        self.dev.calls_of(cmd)
    }

    /// The DEGRADE messages so far.
    pub fn degrades(&self) -> Vec<String> {
        self.calls_of(ksys::OVERLAY_TARG_DEGRADE)
            .iter()
            .map(|c| {
                let b = &c.arg[8..];
                let end = b.iter().position(|x| *x == 0).unwrap_or(b.len());
                String::from_utf8_lossy(&b[..end]).into_owned()
            })
            .collect()
    }

    pub fn restores(&self) -> usize {
        self.calls_of(ksys::OVERLAY_TARG_RESTORE).len()
    }
}

/// A port nobody listens on (bound, then closed).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

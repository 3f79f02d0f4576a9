//! The fake kernel: the driver, the MAC layer and the link table wired
//! together behind the device sockets.
//!
//! Theory of operation: [`Host`] owns the `overlay` driver instance
//! (`Overlay<FkPlatform>`), the [`Mac`] layer its devices register with, and
//! the [`Links`] table. The dld socket's fk commands go to [`Links`]
//! (`FK_STATS` is answered here, since it adds the driver's own per-device
//! and per-mux counters); every other command goes to the driver's dld
//! entry (`Overlay::dld_ioctl`: table size, privilege, copy-out even on
//! error). The overlay socket's open, ioctls and close go to the driver's
//! target entry points, with the frame's inline argument and data standing
//! for the caller's memory (`BufUserIo`); the argument is copied back only
//! on success and only for commands that copy out.

use crate::dlmgmt::DlMgmt;
use crate::fkcmd::{stats_reply, Links};
use crate::mac::Mac;
use crate::platform::FkPlatform;
use crate::server::{Caller, Kernel, Reply};
use crate::stats::Stats;
use overlay::targ::BufUserIo;
use overlay::{Cred, Overlay};
use overlay_sys::fk::FK_STATS;
use overlay_sys::{targ_ioc_info, TargCopyout};
use std::path::Path;
use std::sync::Arc;

/// The fake kernel.
pub struct Host {
    ovl: Arc<Overlay<FkPlatform>>,
    links: Arc<Links>,
    stats: Arc<Stats>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").finish_non_exhaustive()
    }
}

/// The persistent link configuration under a root.
pub fn conf_path(root: &Path) -> std::path::PathBuf {
    root.join("var/lib/overlay/datalink.conf")
}

fn cred(who: &Caller) -> Cred {
    Cred {
        dl_config: who.dl_config,
        zoneid: 0,
    }
}

impl Host {
    /// Loads the configuration and brings the driver up.
    pub fn new(root: &Path, stats: Arc<Stats>) -> Result<Arc<Host>, String> {
        let dl = DlMgmt::load(&conf_path(root))?;
        let mac = Mac::new(Arc::clone(&stats));
        let links = Arc::new(Links::new(dl, Arc::clone(&mac)));
        let platform = FkPlatform::new(mac, Arc::clone(&stats));
        platform.set_links(Arc::clone(&links));
        let ovl = Overlay::new(platform);
        Ok(Arc::new(Host { ovl, links, stats }))
    }

    /// Stops everything that must not outlive the process: VNICs (their
    /// TAPs), which stops the overlays and closes their underlay sockets.
    pub fn shutdown(&self) {
        self.links.shutdown();
    }

    /// Every counter: fkoverlayd's own, then the driver's summed over
    /// devices and muxes.
    pub fn counters(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self
            .stats
            .snapshot()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let mut d = overlay::DevCounters::default();
        for dev in self.ovl.devices() {
            let s = dev.stats();
            d.tx_frames += s.tx_frames;
            d.tx_bytes += s.tx_bytes;
            d.tx_drop_not_started += s.tx_drop_not_started;
            d.tx_drop_no_target += s.tx_drop_no_target;
            d.tx_drop_lookup += s.tx_drop_lookup;
            d.tx_queued += s.tx_queued;
            d.tx_drop_queue_full += s.tx_drop_queue_full;
            d.tx_drop_encap += s.tx_drop_encap;
            d.tx_drop_send += s.tx_drop_send;
            d.rx_frames += s.rx_frames;
            d.rx_bytes += s.rx_bytes;
            d.rx_injected += s.rx_injected;
            d.tx_flood_frames += s.tx_flood_frames;
            d.tx_flood_copies += s.tx_flood_copies;
            d.tx_flood_drops += s.tx_flood_drops;
        }
        let mut m = overlay::MuxCounters::default();
        for mux in self.ovl.muxes() {
            let s = mux.stats();
            m.rx_ok += s.rx_ok;
            m.rx_drop_short += s.rx_drop_short;
            m.rx_drop_decap += s.rx_drop_decap;
            m.rx_drop_unknown_vnetid += s.rx_drop_unknown_vnetid;
            m.rx_drop_not_started += s.rx_drop_not_started;
            m.rx_drop_empty += s.rx_drop_empty;
            m.rx_drop_ecn += s.rx_drop_ecn;
            m.rx_ecn_marked += s.rx_ecn_marked;
            m.rx_ecn_unwritable += s.rx_ecn_unwritable;
        }
        for (k, n) in [
            ("dev_tx_frames", d.tx_frames),
            ("dev_tx_bytes", d.tx_bytes),
            ("dev_tx_drop_not_started", d.tx_drop_not_started),
            ("dev_tx_drop_no_target", d.tx_drop_no_target),
            ("dev_tx_drop_lookup", d.tx_drop_lookup),
            ("dev_tx_queued", d.tx_queued),
            ("dev_tx_drop_queue_full", d.tx_drop_queue_full),
            ("dev_tx_drop_encap", d.tx_drop_encap),
            ("dev_tx_drop_send", d.tx_drop_send),
            ("dev_rx_frames", d.rx_frames),
            ("dev_rx_bytes", d.rx_bytes),
            ("dev_rx_injected", d.rx_injected),
            ("dev_tx_flood_frames", d.tx_flood_frames),
            ("dev_tx_flood_copies", d.tx_flood_copies),
            ("dev_tx_flood_drops", d.tx_flood_drops),
            ("mux_rx_ok", m.rx_ok),
            ("mux_rx_drop_short", m.rx_drop_short),
            ("mux_rx_drop_decap", m.rx_drop_decap),
            ("mux_rx_drop_unknown_vnetid", m.rx_drop_unknown_vnetid),
            ("mux_rx_drop_not_started", m.rx_drop_not_started),
            ("mux_rx_drop_empty", m.rx_drop_empty),
            ("mux_rx_drop_ecn", m.rx_drop_ecn),
            ("mux_rx_ecn_marked", m.rx_ecn_marked),
            ("mux_rx_ecn_unwritable", m.rx_ecn_unwritable),
        ] {
            v.push((k.to_string(), n));
        }
        v
    }
}

impl Kernel for Host {
    type Handle = u32;

    fn dld(&self, cmd: u32, arg: &[u8], _data: &[u8], who: &Caller) -> Reply {
        if cmd == FK_STATS {
            return stats_reply(arg, &self.counters());
        }
        if let Some(r) = self.links.dispatch(cmd, arg, who) {
            return r;
        }
        let (errno, out) = self.ovl.dld_ioctl(cmd, arg, &cred(who));
        Reply {
            errno,
            arg: out,
            data: Vec::new(),
        }
    }

    fn targ_open(&self, flags: u32, who: &Caller) -> Result<u32, i32> {
        self.ovl
            .targ_open(0, false, flags, &cred(who))
            .map_err(|e| e.get())
    }

    fn targ_ioctl(&self, h: &u32, cmd: u32, arg: &[u8], data: &[u8], who: &Caller) -> Reply {
        let mut uio = BufUserIo::with_data(arg, data);
        match self.ovl.targ_ioctl(*h, cmd, &mut uio, &cred(who)) {
            Ok(()) => {
                let co = targ_ioc_info(cmd).map_or(TargCopyout::None, |i| i.copyout);
                Reply {
                    errno: 0,
                    arg: if co == TargCopyout::None {
                        Vec::new()
                    } else {
                        uio.arg
                    },
                    data: if co == TargCopyout::Pkt {
                        uio.data
                    } else {
                        Vec::new()
                    },
                }
            }
            Err(e) => Reply::err(e.get()),
        }
    }

    fn targ_close(&self, h: u32) {
        self.ovl.targ_close(h);
    }
}

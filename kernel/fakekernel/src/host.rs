//! The fake kernel: the driver, the MAC layer and the link table wired
//! together behind the device sockets.
//!
//! Theory of operation: [`Host`] owns the `overlay` driver instance
//! (`Overlay<FkPlatform>`), the [`Mac`] layer its devices register with, and
//! the [`Links`] table. The dld socket's fk commands go to [`Links`],
//! every other command to the driver's dld ioctl entry; the overlay
//! socket's open, ioctls and close go to the driver's target entry points.

use crate::dlmgmt::DlMgmt;
use crate::fkcmd::Links;
use crate::mac::Mac;
use crate::server::{Caller, Kernel, Reply};
use crate::stats::Stats;
use overlay_sys::errno::{ENOTTY, ENXIO};
use std::path::Path;
use std::sync::Arc;

/// The fake kernel.
pub struct Host {
    links: Arc<Links>,
    #[allow(dead_code)]
    mac: Arc<Mac>,
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

impl Host {
    /// Loads the configuration and brings the driver up.
    pub fn new(root: &Path, stats: Arc<Stats>) -> Result<Arc<Host>, String> {
        let dl = DlMgmt::load(&conf_path(root))?;
        let mac = Mac::new(Arc::clone(&stats));
        let links = Arc::new(Links::new(dl, Arc::clone(&mac), stats));
        Ok(Arc::new(Host { links, mac }))
    }

    /// Stops everything that must not outlive the process: VNICs (TAPs).
    pub fn shutdown(&self) {
        self.links.shutdown();
    }
}

impl Kernel for Host {
    type Handle = ();

    fn dld(&self, cmd: u32, arg: &[u8], _data: &[u8], who: &Caller) -> Reply {
        if let Some(r) = self.links.dispatch(cmd, arg, who) {
            return r;
        }
        Reply::err(ENOTTY)
    }

    fn targ_open(&self, _flags: u32, _who: &Caller) -> Result<(), i32> {
        Err(ENXIO)
    }

    fn targ_ioctl(&self, _h: &(), _cmd: u32, _arg: &[u8], _data: &[u8], _who: &Caller) -> Reply {
        Reply::err(ENOTTY)
    }

    fn targ_close(&self, _h: ()) {}
}

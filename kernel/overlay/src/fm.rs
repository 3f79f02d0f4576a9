//! FMA degrade/restore (`overlay_fm.c`, §12).
//!
//! varpd degrades a device (with a message) when it cannot serve it, and
//! restores it when it can again. The driver keeps a global count of
//! degraded devices and reports the whole instance's service impact to the
//! host on the 0→1 (DEGRADED) and 1→0 (RESTORED) transitions. Link state is
//! never touched. Lock order: FMA lock → device lock.

use crate::dev::OverlayDev;
use crate::platform::Platform;
use crate::Overlay;
use overlay_sys::{set_cstr, OVERLAY_F_DEGRADED};

impl<P: Platform> Overlay<P> {
    /// `overlay_fm_degrade`: store `msg` (bounded to 255 bytes + NUL, §16
    /// #13) even if already degraded; count the first degrade.
    pub(crate) fn fm_degrade(&self, dev: &OverlayDev<P>, msg: Option<&[u8]>) {
        let mut cnt = self.fm.lock();
        let mut st = dev.st.lock();
        if let Some(m) = msg {
            set_cstr(&mut st.fm_msg, overlay_sys::cstr_bytes(m));
        }
        if st.flags & OVERLAY_F_DEGRADED != 0 {
            return;
        }
        st.flags |= OVERLAY_F_DEGRADED;
        *cnt += 1;
        if *cnt == 1 {
            self.platform.fm_service_impact(true);
        }
    }

    /// `overlay_fm_restore`: clear the message and the flag; the last
    /// restore reports RESTORED. No-op if not degraded.
    pub(crate) fn fm_restore(&self, dev: &OverlayDev<P>) {
        let mut cnt = self.fm.lock();
        let mut st = dev.st.lock();
        if st.flags & OVERLAY_F_DEGRADED == 0 {
            return;
        }
        st.fm_msg = [0; overlay_sys::OVERLAY_STATUS_BUFLEN];
        st.flags &= !OVERLAY_F_DEGRADED;
        *cnt -= 1;
        if *cnt == 0 {
            self.platform.fm_service_impact(false);
        }
    }

    /// Number of degraded devices.
    pub fn fm_degraded_count(&self) -> u32 {
        *self.fm.lock()
    }
}

//! Test doubles: a recording `/dev/overlay`.
//!
//! [`FakeTargetDev`] implements [`TargetDev`] by recording every ioctl and
//! answering from a small model: `OVERLAY_TARG_PKT` returns the frame set
//! with [`FakeTargetDev::set_pkt`], and errors can be queued per command.
//! Plugin and libvarpd tests use it to check upcalls byte for byte.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::errno::Errno;
use crate::ksys;
use crate::plugin::TargetDev;

/// One recorded ioctl.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub cmd: u32,
    pub arg: Vec<u8>,
    pub data: Vec<u8>,
}

/// A recording fake of the `/dev/overlay` handle.
#[derive(Default)]
pub struct FakeTargetDev {
    calls: Mutex<Vec<Call>>,
    pkt: Mutex<Vec<u8>>,
    errors: Mutex<HashMap<u32, Errno>>,
    replies: Mutex<HashMap<u32, Vec<u8>>>,
}

impl FakeTargetDev {
    pub fn new() -> FakeTargetDev {
        FakeTargetDev::default()
    }
    /// The frame `OVERLAY_TARG_PKT` returns.
    pub fn set_pkt(&self, frame: &[u8]) {
        *self.pkt.lock().unwrap_or_else(|p| p.into_inner()) = frame.to_vec();
    }
    /// Make every `cmd` fail with `e`.
    pub fn fail(&self, cmd: u32, e: Errno) {
        self.errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(cmd, e);
    }
    /// Copy `bytes` into the argument of every successful `cmd`.
    pub fn reply(&self, cmd: u32, bytes: &[u8]) {
        self.replies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(cmd, bytes.to_vec());
    }
    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    /// The calls with command `cmd`.
    pub fn calls_of(&self, cmd: u32) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.cmd == cmd).collect()
    }
}

impl TargetDev for FakeTargetDev {
    fn ioctl(&self, cmd: u32, arg: &mut [u8]) -> Result<(), Errno> {
        self.ioctl_data(cmd, arg, &[]).map(|_| ())
    }

    fn ioctl_data(&self, cmd: u32, arg: &mut [u8], data: &[u8]) -> Result<Vec<u8>, Errno> {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Call {
                cmd,
                arg: arg.to_vec(),
                data: data.to_vec(),
            });
        if let Some(e) = self
            .errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&cmd)
        {
            return Err(*e);
        }
        if let Some(r) = self
            .replies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&cmd)
        {
            let n = r.len().min(arg.len());
            arg[..n].copy_from_slice(&r[..n]);
        }
        if cmd == ksys::OVERLAY_TARG_PKT {
            let pkt = self.pkt.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let cap = usize::try_from(ksys::get_u64(arg, 16)).unwrap_or(0);
            let n = pkt.len().min(cap);
            ksys::put_u64(arg, 16, n as u64);
            return Ok(pkt[..n].to_vec());
        }
        Ok(Vec::new())
    }
}

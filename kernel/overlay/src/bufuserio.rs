//! [`BufUserIo`]: a [`UserIo`] over in-memory buffers, for hosts that
//! receive an ioctl's bytes in a message rather than in a process's memory
//! (fkoverlayd's `/dev/overlay` socket frames) and for tests. illumos
//! reaches the caller's memory with `ddi_copyin`/`ddi_copyout` instead.

use crate::errno::Errno;
use crate::platform::UserIo;
use alloc::vec::Vec;

/// A [`UserIo`] over in-memory buffers: the argument bytes, and a data
/// area standing for the user buffer at `otp_buf` (any address maps to
/// it). What fkoverlayd and tests use.
#[derive(Clone, Debug, Default)]
pub struct BufUserIo {
    /// The ioctl argument (copied out in place; grown as needed).
    pub arg: Vec<u8>,
    /// The data following the argument (INJECT/RESEND frame in, PKT out).
    pub data: Vec<u8>,
    /// Pretend to be an ILP32 caller.
    pub ilp32: bool,
    /// Whether `arg_len_hint` reports `arg.len()`.
    pub hint: bool,
}

impl BufUserIo {
    pub fn new(arg: &[u8]) -> Self {
        BufUserIo {
            arg: arg.to_vec(),
            data: Vec::new(),
            ilp32: false,
            hint: true,
        }
    }

    pub fn with_data(arg: &[u8], data: &[u8]) -> Self {
        BufUserIo {
            arg: arg.to_vec(),
            data: data.to_vec(),
            ilp32: false,
            hint: true,
        }
    }
}

impl UserIo for BufUserIo {
    fn arg_len_hint(&self) -> Option<usize> {
        self.hint.then_some(self.arg.len())
    }

    fn copyin_arg(&mut self, off: usize, dst: &mut [u8]) -> Result<(), Errno> {
        let end = off.checked_add(dst.len()).ok_or(Errno::EFAULT)?;
        let src = self.arg.get(off..end).ok_or(Errno::EFAULT)?;
        dst.copy_from_slice(src);
        Ok(())
    }

    fn copyout_arg(&mut self, off: usize, src: &[u8]) -> Result<(), Errno> {
        let end = off.checked_add(src.len()).ok_or(Errno::EFAULT)?;
        if self.arg.len() < end {
            self.arg.resize(end, 0);
        }
        self.arg[off..end].copy_from_slice(src);
        Ok(())
    }

    fn copyin_buf(&mut self, _uaddr: u64, dst: &mut [u8]) -> Result<(), Errno> {
        let src = self.data.get(..dst.len()).ok_or(Errno::EFAULT)?;
        dst.copy_from_slice(src);
        Ok(())
    }

    fn copyout_buf(&mut self, _uaddr: u64, src: &[u8]) -> Result<(), Errno> {
        self.data.clear();
        self.data.extend_from_slice(src);
        Ok(())
    }

    fn ilp32(&self) -> bool {
        self.ilp32
    }
}

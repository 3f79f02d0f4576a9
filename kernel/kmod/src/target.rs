//! `/dev/overlay`: the entry points varpd uses (spec kernel.md §2.3, §8).
//!
//! The node is clone-style: only minor 0 may be opened, and each open gets
//! a fresh minor (a handle in the driver) which we write back into the
//! caller's dev_t. Every later ioctl and the close address the handle by
//! that minor. The driver core makes every decision (privilege, open
//! flags, FEXCL, command table, FWRITE, sizes); this layer only converts:
//! credentials into the driver's view of them, and user memory into
//! copyin/copyout calls that honour the caller's data model (`mode`'s
//! `FMODELS` bits, converted with `ddi_model_convert_from`, so a 32-bit
//! varpd's `overlay_targ_*` structures are widened as illumos does).

use crate::glue;
use crate::sys::ddi::*;
use crate::sys::types::*;
use overlay::{Errno, UserIo};

pub unsafe extern "C" fn overlay_target_open(
    devp: *mut dev_t,
    flag: c_int,
    otyp: c_int,
    credp: *mut cred_t,
) -> c_int {
    // SAFETY: the kernel passes a valid dev_t pointer.
    let dev = unsafe { *devp };
    // SAFETY: getminor/getmajor are pure functions of dev.
    let (maj, min) = unsafe { (getmajor(dev), getminor(dev)) };
    match glue::targ_open(min, flag, otyp, credp) {
        Ok(newmin) => {
            // SAFETY: as above; rewrites the caller's dev_t to the clone.
            unsafe { *devp = makedevice(maj, newmin) };
            0
        }
        Err(e) => e,
    }
}

pub unsafe extern "C" fn overlay_target_close(
    dev: dev_t,
    _flag: c_int,
    _otyp: c_int,
    _credp: *mut cred_t,
) -> c_int {
    // SAFETY: pure function of dev.
    let min = unsafe { getminor(dev) };
    glue::targ_close(min)
}

pub unsafe extern "C" fn overlay_target_ioctl(
    dev: dev_t,
    cmd: c_int,
    arg: intptr_t,
    mode: c_int,
    credp: *mut cred_t,
    _rvalp: *mut c_int,
) -> c_int {
    // SAFETY: pure function of dev.
    let min = unsafe { getminor(dev) };
    let mut uio = KUserIo { arg, mode };
    // Commands are plain integers; the driver rejects unknown ones.
    glue::targ_ioctl(min, cmd as u32, &mut uio, credp)
}

/// The caller's memory for one `/dev/overlay` ioctl: the argument pointer
/// and the ioctl `mode` (which carries `FKIOCTL` for in-kernel callers and
/// the data model).
pub struct KUserIo {
    pub arg: intptr_t,
    pub mode: c_int,
}

impl KUserIo {
    fn copyin(&self, uaddr: usize, dst: &mut [u8]) -> Result<(), Errno> {
        if dst.is_empty() {
            return Ok(());
        }
        // SAFETY: ddi_copyin validates the user address range itself and
        // fails with -1 on a fault; dst is a writable kernel buffer of the
        // given length.
        let r = unsafe {
            ddi_copyin(
                uaddr as *const c_void,
                dst.as_mut_ptr().cast(),
                dst.len(),
                self.mode,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(Errno::EFAULT)
        }
    }

    fn copyout(&self, uaddr: usize, src: &[u8]) -> Result<(), Errno> {
        if src.is_empty() {
            return Ok(());
        }
        // SAFETY: as copyin, the other way.
        let r = unsafe {
            ddi_copyout(
                src.as_ptr().cast(),
                uaddr as *mut c_void,
                src.len(),
                self.mode,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(Errno::EFAULT)
        }
    }

    fn at(&self, off: usize) -> Result<usize, Errno> {
        (self.arg as usize).checked_add(off).ok_or(Errno::EFAULT)
    }
}

impl UserIo for KUserIo {
    fn copyin_arg(&mut self, off: usize, dst: &mut [u8]) -> Result<(), Errno> {
        self.copyin(self.at(off)?, dst)
    }

    fn copyout_arg(&mut self, off: usize, src: &[u8]) -> Result<(), Errno> {
        self.copyout(self.at(off)?, src)
    }

    fn copyin_buf(&mut self, uaddr: u64, dst: &mut [u8]) -> Result<(), Errno> {
        let a = usize::try_from(uaddr).map_err(|_| Errno::EFAULT)?;
        self.copyin(a, dst)
    }

    fn copyout_buf(&mut self, uaddr: u64, src: &[u8]) -> Result<(), Errno> {
        let a = usize::try_from(uaddr).map_err(|_| Errno::EFAULT)?;
        self.copyout(a, src)
    }

    /// `ddi_model_convert_from(mode & FMODELS) == DDI_MODEL_ILP32`: a
    /// 32-bit varpd, whose `overlay_targ_*` structures the driver widens.
    fn ilp32(&self) -> bool {
        // SAFETY: a pure function of the model bits.
        unsafe { ddi_model_convert_from((self.mode & FMODELS) as c_uint) == DDI_MODEL_ILP32 }
    }
}

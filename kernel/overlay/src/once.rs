//! `OnceSlot<T>`: a value set at most once and read without locking.
//!
//! The device's MAC registration is only known after `mac_register`
//! returns, yet the device must already exist (its handle is the MAC
//! driver-private pointer). The data path then reads it on every received
//! frame, so it is published once and read lock-free afterwards.

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU8, Ordering};

const EMPTY: u8 = 0;
const BUSY: u8 = 1;
const SET: u8 = 2;

pub struct OnceSlot<T> {
    state: AtomicU8,
    v: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: the value is written once before `state` becomes SET (Release) and
// only read after observing SET (Acquire); after that it is shared read-only.
unsafe impl<T: Send + Sync> Sync for OnceSlot<T> {}
// SAFETY: moving the slot moves the value; T: Send suffices.
unsafe impl<T: Send> Send for OnceSlot<T> {}

impl<T> Default for OnceSlot<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> OnceSlot<T> {
    pub const fn new() -> Self {
        OnceSlot {
            state: AtomicU8::new(EMPTY),
            v: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// Store `v` if the slot is empty; otherwise give it back.
    pub fn set(&self, v: T) -> Result<(), T> {
        if self
            .state
            .compare_exchange(EMPTY, BUSY, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(v);
        }
        // SAFETY: we won the EMPTY->BUSY transition, so we are the only
        // writer and no reader looks before SET.
        unsafe { (*self.v.get()).write(v) };
        self.state.store(SET, Ordering::Release);
        Ok(())
    }

    pub fn get(&self) -> Option<&T> {
        if self.state.load(Ordering::Acquire) == SET {
            // SAFETY: SET is stored only after the value was written, and it
            // is never written again.
            Some(unsafe { (*self.v.get()).assume_init_ref() })
        } else {
            None
        }
    }
}

impl<T> Drop for OnceSlot<T> {
    fn drop(&mut self) {
        if *self.state.get_mut() == SET {
            // SAFETY: SET means initialised; we have exclusive access.
            unsafe { self.v.get_mut().assume_init_drop() };
        }
    }
}

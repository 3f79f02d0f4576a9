//! Open `/dev/overlay` handles shared by several connections.
//!
//! Theory of operation: on illumos varpd opens `/dev/overlay` once and its
//! lookup threads and control paths issue ioctls on that one descriptor
//! concurrently; each blocks in `OVERLAY_TARG_LOOKUP` on its own. On
//! fkoverlayd's socket a connection answers one request at a time, so a
//! client that wants concurrency opens further connections and attaches
//! them to its handle (`FK_ATTACH`, docs/fkoverlayd-protocol.md): that is
//! `dup(2)` of the descriptor, the connection being the file description's
//! reference.
//!
//! [`Handles`] is the registry that makes this work: every successful
//! `FK_OPEN` registers the driver's handle under a number (`fo_minor`) with a
//! random 64-bit secret; `FK_ATTACH` presents both and takes one more
//! reference. Each connection holds a [`HandleRef`]; [`Handles::release`]
//! drops one and hands the driver's handle back only when the last
//! reference goes, so that the caller runs `targ_close` exactly once, as
//! close(9E) runs once for the last close of a file.

use overlay_sys::errno::{EAGAIN, ENXIO};
use overlay_sys::fk::fk_open_t;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// One connection's reference to a shared handle.
#[derive(Debug)]
pub struct HandleRef<H> {
    minor: u32,
    h: Arc<H>,
}

impl<H> HandleRef<H> {
    /// The driver's handle.
    pub fn get(&self) -> &H {
        &self.h
    }

    /// The handle's number (`fo_minor`).
    pub fn minor(&self) -> u32 {
        self.minor
    }
}

struct Slot<H> {
    h: Arc<H>,
    secret: u64,
    refs: usize,
}

struct Table<H> {
    slots: BTreeMap<u32, Slot<H>>,
    next: u32,
}

/// The registry of open handles (see the module comment).
pub struct Handles<H> {
    t: Mutex<Table<H>>,
}

impl<H> std::fmt::Debug for Handles<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handles")
            .field("open", &self.open())
            .finish()
    }
}

impl<H> Default for Handles<H> {
    fn default() -> Self {
        Handles {
            t: Mutex::new(Table {
                slots: BTreeMap::new(),
                next: 1,
            }),
        }
    }
}

/// Eight random bytes from the kernel (`getrandom(2)`), or `EAGAIN`.
pub fn random_secret() -> Result<u64, i32> {
    let mut b = [0u8; 8];
    let mut got = 0;
    while got < b.len() {
        // SAFETY: the pointer and length describe the unfilled tail of `b`,
        // which lives across the call.
        let r = unsafe { libc::getrandom(b[got..].as_mut_ptr().cast(), b.len() - got, 0) };
        if r < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(EAGAIN);
        }
        got += r as usize;
    }
    Ok(u64::from_le_bytes(b))
}

impl<H> Handles<H> {
    fn table(&self) -> std::sync::MutexGuard<'_, Table<H>> {
        // The table is consistent after every statement that changes it, so
        // a panic elsewhere while it was held leaves nothing half-done.
        self.t.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a freshly opened handle with `secret`; returns the opener's
    /// reference and the name to hand to the client. `ENXIO` if every
    /// number is taken (the caller then closes the handle itself, and gets
    /// it back in the error).
    pub fn insert(&self, h: H, secret: u64) -> Result<(HandleRef<H>, fk_open_t), (H, i32)> {
        let mut t = self.table();
        let mut minor = None;
        for _ in 0..=t.slots.len() {
            let m = t.next;
            t.next = if m >= i32::MAX as u32 { 1 } else { m + 1 };
            if !t.slots.contains_key(&m) {
                minor = Some(m);
                break;
            }
        }
        let Some(minor) = minor else {
            return Err((h, ENXIO));
        };
        let h = Arc::new(h);
        t.slots.insert(
            minor,
            Slot {
                h: Arc::clone(&h),
                secret,
                refs: 1,
            },
        );
        Ok((
            HandleRef { minor, h },
            fk_open_t {
                fo_minor: minor,
                fo_pad: 0,
                fo_secret: secret,
            },
        ))
    }

    /// `FK_ATTACH`: one more reference to the handle `name` names. `ENXIO`
    /// if no such handle is open or the secret differs (the two are not
    /// told apart, so a guesser learns nothing).
    pub fn attach(&self, name: &fk_open_t) -> Result<HandleRef<H>, i32> {
        let mut t = self.table();
        let slot = t.slots.get_mut(&name.fo_minor).ok_or(ENXIO)?;
        if slot.secret ^ name.fo_secret != 0 {
            return Err(ENXIO);
        }
        slot.refs += 1;
        Ok(HandleRef {
            minor: name.fo_minor,
            h: Arc::clone(&slot.h),
        })
    }

    /// Drops one reference. Returns the driver's handle when it was the
    /// last, for the caller to close.
    pub fn release(&self, r: HandleRef<H>) -> Option<H> {
        let mut t = self.table();
        let slot = t.slots.get_mut(&r.minor)?;
        slot.refs -= 1;
        if slot.refs > 0 {
            return None;
        }
        let slot = t.slots.remove(&r.minor)?;
        drop(slot.h);
        drop(t);
        // References are only made under the table lock with `refs`
        // counted, so with `refs` at 0 and the slot's own Arc dropped, `r`
        // holds the last one and the unwrap cannot fail.
        Arc::try_unwrap(r.h).ok()
    }

    /// Number of open handles.
    pub fn open(&self) -> usize {
        self.table().slots.len()
    }

    /// Number of connections holding handle `minor` (0 if none is open).
    pub fn refs(&self, minor: u32) -> usize {
        self.table().slots.get(&minor).map_or(0, |s| s.refs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_and_last_release_closes() {
        let hs: Handles<u32> = Handles::default();
        let (a, name) = hs.insert(7, 0x1234).unwrap();
        assert_eq!(name.fo_minor, a.minor());
        assert_eq!(name.fo_secret, 0x1234);
        let b = hs.attach(&name).unwrap();
        assert_eq!(*b.get(), 7);
        assert_eq!(hs.refs(name.fo_minor), 2);
        // Closing one of two references leaves the handle open.
        assert_eq!(hs.release(a), None);
        assert_eq!(hs.open(), 1);
        let c = hs.attach(&name).unwrap();
        assert_eq!(hs.release(b), None);
        // The last one returns the handle, and the name is gone.
        assert_eq!(hs.release(c), Some(7));
        assert_eq!(hs.open(), 0);
        assert_eq!(hs.attach(&name).unwrap_err(), ENXIO);
    }

    #[test]
    fn bad_secret_or_minor() {
        let hs: Handles<u32> = Handles::default();
        let (_a, name) = hs.insert(1, 99).unwrap();
        let bad = fk_open_t {
            fo_secret: 98,
            ..name
        };
        assert_eq!(hs.attach(&bad).unwrap_err(), ENXIO);
        let other = fk_open_t {
            fo_minor: name.fo_minor + 1,
            ..name
        };
        assert_eq!(hs.attach(&other).unwrap_err(), ENXIO);
        assert_eq!(hs.refs(name.fo_minor), 1);
    }

    #[test]
    fn numbers_wrap_and_skip_in_use() {
        let hs: Handles<u32> = Handles::default();
        let (a, _) = hs.insert(1, 0).unwrap();
        assert_eq!(a.minor(), 1);
        hs.table().next = i32::MAX as u32;
        let (b, _) = hs.insert(2, 0).unwrap();
        assert_eq!(b.minor(), i32::MAX as u32);
        let (c, _) = hs.insert(3, 0).unwrap();
        assert_eq!(c.minor(), 2, "wraps to 1, which is in use, so 2");
    }

    #[test]
    fn secrets_differ() {
        let a = random_secret().unwrap();
        let b = random_secret().unwrap();
        assert_ne!(a, b);
    }
}

//! `RouteCell`: a cache entry's route (valid / drop / unresolved, and the
//! destination) published for the transmit path to read without a lock.
//!
//! Theory of operation. The authoritative state is the entry's
//! `EntryState`, under the entry lock; every holder of that lock
//! republishes the route when it lets go (the entry's guard does it, see
//! [`crate::target`]), so writers are serialised by the entry lock. The
//! cell is a sequence lock: a writer makes the sequence odd, stores the
//! words, and makes it even again; a reader reads the sequence, the words,
//! and the sequence again, and trusts the words only if both reads are the
//! same even number. A reader that loses the race is told
//! [`RouteRead::Retry`] and takes the locked path, so the cell never
//! blocks and never returns a torn destination.

use crate::platform::SockaddrIn6;
use core::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use overlay_sys::*;

/// `word`: bits 0–15 the port (host order), bit 16 valid, bit 17 drop.
const R_VALID: u32 = 1 << 16;
const R_DROP: u32 = 1 << 17;

/// What a lock-free read of the route found.
pub(crate) enum RouteRead {
    /// A valid entry: send here.
    Send(SockaddrIn6),
    /// A drop entry.
    Drop,
    /// Neither valid nor drop, or a writer was busy: ask under the lock.
    Retry,
}

/// See the module comment.
#[derive(Default)]
pub(crate) struct RouteCell {
    seq: AtomicU32,
    word: AtomicU32,
    ip: [AtomicU64; 2],
}

impl RouteCell {
    /// The route word for entry flags and destination.
    fn word_of(flags: u32, dest: &overlay_target_point_t) -> u32 {
        let mut w = u32::from(dest.otp_port);
        if flags & OVERLAY_ENTRY_F_DROP != 0 {
            w |= R_DROP;
        } else if flags & OVERLAY_ENTRY_F_VALID != 0 {
            w |= R_VALID;
        }
        w
    }

    /// Publish `flags` and `dest`. Only under the entry lock.
    pub(crate) fn publish(&self, flags: u32, dest: &overlay_target_point_t) {
        let w = Self::word_of(flags, dest);
        let a = u64::from_ne_bytes(dest.otp_ip.s6_addr[..8].try_into().unwrap_or([0; 8]));
        let b = u64::from_ne_bytes(dest.otp_ip.s6_addr[8..].try_into().unwrap_or([0; 8]));
        if self.word.load(Ordering::Relaxed) == w
            && self.ip[0].load(Ordering::Relaxed) == a
            && self.ip[1].load(Ordering::Relaxed) == b
        {
            return;
        }
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.word.store(w, Ordering::Relaxed);
        self.ip[0].store(a, Ordering::Relaxed);
        self.ip[1].store(b, Ordering::Relaxed);
        self.seq.store(s.wrapping_add(2), Ordering::Release);
    }

    /// Read the route without a lock.
    #[inline]
    pub(crate) fn read(&self) -> RouteRead {
        let s1 = self.seq.load(Ordering::Acquire);
        let w = self.word.load(Ordering::Relaxed);
        let a = self.ip[0].load(Ordering::Relaxed);
        let b = self.ip[1].load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        let s2 = self.seq.load(Ordering::Relaxed);
        if s1 & 1 != 0 || s1 != s2 {
            return RouteRead::Retry;
        }
        if w & R_DROP != 0 {
            return RouteRead::Drop;
        }
        if w & R_VALID == 0 {
            return RouteRead::Retry;
        }
        let mut ip = [0u8; 16];
        ip[..8].copy_from_slice(&a.to_ne_bytes());
        ip[8..].copy_from_slice(&b.to_ne_bytes());
        RouteRead::Send(SockaddrIn6::new(in6_addr::new(ip), w as u16))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(last: u8, port: u16) -> overlay_target_point_t {
        overlay_target_point_t {
            otp_ip: in6_addr::v4mapped([10, 0, 0, last]),
            otp_port: port,
            ..Default::default()
        }
    }

    #[test]
    fn publishes_each_state() {
        let c = RouteCell::default();
        assert!(matches!(c.read(), RouteRead::Retry), "unresolved");
        c.publish(OVERLAY_ENTRY_F_VALID, &pt(2, 4789));
        match c.read() {
            RouteRead::Send(sa) => {
                assert_eq!(
                    sa,
                    SockaddrIn6::new(in6_addr::v4mapped([10, 0, 0, 2]), 4789)
                )
            }
            _ => panic!("valid entry not read as valid"),
        }
        c.publish(OVERLAY_ENTRY_F_VALID | OVERLAY_ENTRY_F_DROP, &pt(2, 4789));
        assert!(matches!(c.read(), RouteRead::Drop));
        c.publish(OVERLAY_ENTRY_F_PENDING, &pt(2, 4789));
        assert!(matches!(c.read(), RouteRead::Retry));
    }

    #[test]
    fn a_reader_never_sees_a_torn_destination() {
        use std::sync::atomic::AtomicBool;
        use std::sync::Arc;
        let c = Arc::new(RouteCell::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (c2, s2) = (c.clone(), stop.clone());
        let reader = std::thread::spawn(move || {
            let mut n = 0u64;
            while !s2.load(Ordering::Relaxed) {
                if let RouteRead::Send(sa) = c2.read() {
                    // Writers pair address byte and port: 10.0.0.x, port x.
                    let last = sa.addr.s6_addr[15];
                    assert_eq!(sa.port(), u16::from(last), "torn read");
                    n += 1;
                }
            }
            n
        });
        for i in 0..200_000u32 {
            let x = (i % 250) as u8 + 1;
            c.publish(OVERLAY_ENTRY_F_VALID, &pt(x, u16::from(x)));
        }
        stop.store(true, Ordering::Relaxed);
        reader.join().unwrap();
    }
}

//! Timers (`libvarpd_svp_timer.c`): whole ticks of one second.
//!
//! # Theory of operation
//!
//! illumos drives every svp timer from one 1-second `CLOCK_REALTIME` timer
//! (`svp_tickrate`), and counts each timer's period in ticks: a
//! connection's backoff (1, 2, 4 … 32), its query timer (30), the DNS timer
//! (30), the log poller (5–10, or 1). Here a timer is a deadline
//! ([`SvpTimer`]) that the event loop checks on each pass and uses to bound
//! its `poll` timeout; a tick is [`SvpConfig::tick`](super::SvpConfig::tick)
//! long (one second by default; tests shorten it to run the same schedule
//! faster).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

/// `svp_timer_t`: a one-shot or periodic deadline.
#[derive(Clone, Copy, Debug, Default)]
pub struct SvpTimer {
    /// When it fires next; `None` when not armed.
    pub deadline: Option<Instant>,
}

impl SvpTimer {
    /// `svp_timer_add`: arm to fire `ticks` ticks from now.
    pub fn add(&mut self, tick: Duration, ticks: u32) {
        self.deadline = Some(Instant::now() + tick * ticks);
    }

    /// `svp_timer_remove`.
    pub fn remove(&mut self) {
        self.deadline = None;
    }

    /// Whether it is due at `now`; a due one-shot timer is disarmed.
    pub fn fire(&mut self, now: Instant) -> bool {
        match self.deadline {
            Some(d) if d <= now => {
                self.deadline = None;
                true
            }
            _ => false,
        }
    }

    /// Lower `next` to this timer's deadline.
    pub fn bound(&self, next: &mut Instant) {
        if let Some(d) = self.deadline {
            if d < *next {
                *next = d;
            }
        }
    }
}

/// `arc4random_uniform(n)`: a uniformly distributed value in `[0, n)`
/// (0 when `n` is 0). Seeded by the standard library's random hash keys.
pub fn random_uniform(n: u32) -> u32 {
    if n == 0 {
        return 0;
    }
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        Instant::now()
            .elapsed()
            .as_nanos()
            .wrapping_add(u128::from(std::process::id())),
    );
    (h.finish() % u64::from(n)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shot() {
        let mut t = SvpTimer::default();
        assert!(!t.fire(Instant::now()));
        t.add(Duration::from_millis(1), 0);
        let mut next = Instant::now() + Duration::from_secs(5);
        t.bound(&mut next);
        assert!(next <= Instant::now());
        assert!(t.fire(Instant::now()));
        assert!(!t.fire(Instant::now()));
    }

    #[test]
    fn uniform_in_range() {
        for _ in 0..200 {
            assert!(random_uniform(6) < 6);
        }
        assert_eq!(random_uniform(0), 0);
        let seen: std::collections::HashSet<u32> = (0..400).map(|_| random_uniform(6)).collect();
        assert!(seen.len() > 1);
    }
}

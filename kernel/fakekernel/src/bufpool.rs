//! Per-thread pools of frame buffers, so the data path does not allocate
//! per packet.
//!
//! Theory of operation: every frame the data path hands the driver is a
//! [`MsgBlk`] over a `Vec<u8>`. Instead of a fresh vector per frame, a
//! data-path thread takes one from its own pool ([`take`]) and builds the
//! message with [`MsgBlk::esballoc`] and [`give`] as its free routine (as
//! an illumos driver hands `esballoc(9F)` a buffer and a `frtn_t`): when
//! the driver is done with the message (sent, dropped, delivered up),
//! the buffer comes back to the pool of the thread that frees it. A TAP
//! reader's frames are sent and freed on the reader's own thread (at its
//! transmit batch's flush), an underlay thread's frames are delivered up
//! and freed on that thread, so in steady state every buffer returns to
//! the pool it came from and nothing is allocated. Each data-path thread
//! fills its pool up front ([`prefill`]) with as many standard buffers as
//! it can have in flight.
//!
//! Buffers come in three size classes ([`CLASSES`]: a standard frame, a
//! jumbo frame, a 64 KiB datagram) so a small frame never takes a buffer
//! a big one then has to grow. A class keeps at most [`POOL_MAX`] buffers;
//! beyond that a returned buffer is freed. A buffer that moved to another
//! thread (a frame queued on a target cache miss and sent by varpd's
//! reply) joins that thread's pool, or is freed there if the thread keeps
//! none (the pool is created on first use; a thread that exits frees its
//! pool).
//!
//! Shared buffers ([`Dblk`], reference-counted, which messages reference
//! slices of instead of copies: a TAP read buffer, a `recvmmsg` buffer)
//! are pooled the same way, one size per thread ([`prefill_db`] sets it):
//! [`take_db`] hands out one no message references, and its free routine
//! ([`give_db`]) takes it back when the last message over it is freed.

use overlay::dblk_vec::Dblk;
use overlay::MsgBlk;
use std::cell::RefCell;

/// Capacities of the size classes: a 1500-byte frame with headroom and
/// tags, a 9000-byte jumbo frame, a 64 KiB datagram.
pub const CLASSES: [usize; 3] = [2048, 9216 + 256, 65536 + 256];

/// Buffers kept per class and thread.
pub const POOL_MAX: usize = 512;

struct Pool {
    free: [Vec<Vec<u8>>; 3],
}

/// Shared buffers kept per thread.
pub const DB_POOL_MAX: usize = 16;

/// Sizes of shared buffers a thread keeps (a receive thread keeps its
/// `recvmmsg` buffers and the TAP read buffers of the replies it sends).
const DB_CLASSES: usize = 2;

/// A thread's pools of shared buffers: per size, the free ones.
struct DbPool {
    classes: [(usize, Vec<Dblk>); DB_CLASSES],
}

impl DbPool {
    fn class(&mut self, cap: usize) -> Option<&mut Vec<Dblk>> {
        self.classes
            .iter_mut()
            .find(|(c, _)| *c == cap && cap != 0)
            .map(|(_, v)| v)
    }
}

thread_local! {
    static POOL: RefCell<Pool> = const {
        RefCell::new(Pool {
            free: [Vec::new(), Vec::new(), Vec::new()],
        })
    };
    static DBS: RefCell<DbPool> = const {
        RefCell::new(DbPool {
            classes: [(0, Vec::new()), (0, Vec::new())],
        })
    };
}

/// Makes `cap` one of this thread's shared-buffer sizes (at most two;
/// a third replaces the second) and fills its pool with `n` of them (at
/// most [`DB_POOL_MAX`]).
pub fn prefill_db(cap: usize, n: usize) {
    let mut old = Vec::new();
    let _ = DBS.try_with(|p| {
        let mut p = p.borrow_mut();
        if p.class(cap).is_none() {
            let k = p
                .classes
                .iter()
                .position(|(c, _)| *c == 0)
                .unwrap_or(DB_CLASSES - 1);
            old = std::mem::take(&mut p.classes[k].1);
            p.classes[k].0 = cap;
        }
        if let Some(free) = p.class(cap) {
            if free.capacity() == 0 {
                free.reserve_exact(DB_POOL_MAX);
            }
            while free.len() < n.min(DB_POOL_MAX) {
                free.push(Dblk::new(Vec::with_capacity(cap), Some(give_db)));
            }
        }
    });
    // Freed outside the pool's borrow (a plain drop would give them back).
    for d in old {
        d.free_now();
    }
}

/// A shared buffer of `cap` bytes no message references: from this
/// thread's pool if it keeps that size and has one, else a new one (which
/// comes back to the pool of the thread that frees its last reference).
pub fn take_db(cap: usize) -> Dblk {
    let got = DBS
        .try_with(|p| p.borrow_mut().class(cap).and_then(Vec::pop))
        .ok()
        .flatten();
    got.unwrap_or_else(|| Dblk::new(Vec::with_capacity(cap), Some(give_db)))
}

/// The free routine of pooled shared buffers: back to this thread's pool
/// if it keeps their size and is not full, else freed.
pub fn give_db(d: Dblk) {
    let mut d = Some(d);
    let _ = DBS.try_with(|p| {
        let mut p = p.borrow_mut();
        let cap = d.as_ref().map_or(0, Dblk::cap);
        if let Some(free) = p.class(cap) {
            if free.len() < DB_POOL_MAX && free.capacity() > 0 {
                free.extend(d.take());
            }
        }
    });
    // Not kept (or the thread is exiting and its pool is gone): freed
    // for good, not dropped (which would give it back again).
    if let Some(d) = d {
        d.free_now();
    }
}

/// Shared buffers in this thread's pool.
pub fn pooled_db() -> usize {
    DBS.try_with(|p| p.borrow().classes.iter().map(|(_, v)| v.len()).sum())
        .unwrap_or(0)
}

/// The class a buffer of capacity `cap` is for (the smallest that holds
/// it), or `None` if it is larger than any.
fn class_of(cap: usize) -> Option<usize> {
    CLASSES.iter().position(|&c| cap <= c)
}

/// An empty buffer with room for at least `cap` bytes: from this thread's
/// pool when it has one of the right class, else newly allocated with the
/// class's capacity.
pub fn take(cap: usize) -> Vec<u8> {
    let Some(k) = class_of(cap) else {
        return Vec::with_capacity(cap);
    };
    let got = POOL
        .try_with(|p| p.borrow_mut().free[k].pop())
        .ok()
        .flatten();
    match got {
        Some(mut v) => {
            v.clear();
            v
        }
        None => Vec::with_capacity(CLASSES[k]),
    }
}

/// Returns a buffer to this thread's pool (the free routine of pooled
/// messages); freed if the pool of its class is full, if it fits no class
/// exactly, or if the thread is exiting.
pub fn give(v: Vec<u8>) {
    let cap = v.capacity();
    let Some(k) = CLASSES.iter().position(|&c| c == cap) else {
        return;
    };
    let _ = POOL.try_with(|p| {
        let mut p = p.borrow_mut();
        let list = &mut p.free[k];
        if list.len() < POOL_MAX {
            if list.capacity() == 0 {
                list.reserve_exact(POOL_MAX);
            }
            list.push(v);
        }
    });
}

/// Fills this thread's pool of the class for `cap`-byte buffers up to `n`
/// buffers (at most [`POOL_MAX`]), so that a data-path thread whose
/// frames in flight are bounded by `n` never allocates, however deep its
/// first bursts.
pub fn prefill(cap: usize, n: usize) {
    let Some(k) = class_of(cap) else {
        return;
    };
    let _ = POOL.try_with(|p| {
        let mut p = p.borrow_mut();
        let list = &mut p.free[k];
        if list.capacity() == 0 {
            list.reserve_exact(POOL_MAX);
        }
        while list.len() < n.min(POOL_MAX) {
            list.push(Vec::with_capacity(CLASSES[k]));
        }
    });
}

/// A pooled message holding `parts` one after the other, with `headroom`
/// free bytes in front.
pub fn msgblk(headroom: usize, parts: &[&[u8]]) -> MsgBlk {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut v = take(headroom + len);
    v.resize(headroom, 0);
    for p in parts {
        v.extend_from_slice(p);
    }
    MsgBlk::esballoc(v, headroom, give)
}

/// Buffers in this thread's pool, per class.
pub fn pooled() -> [usize; 3] {
    POOL.try_with(|p| {
        let p = p.borrow();
        [p.free[0].len(), p.free[1].len(), p.free[2].len()]
    })
    .unwrap_or([0; 3])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_to_the_pool_of_their_class() {
        let before = pooled();
        let m = msgblk(128, &[b"frame", b" bytes"]);
        assert_eq!(m.first(), b"frame bytes");
        assert_eq!(m.headroom(), 128);
        drop(m);
        let after = pooled();
        assert_eq!(after[0], before[0] + 1);
        // Taken again: the same buffer, no new one.
        let m = msgblk(0, &[&[7u8; 1000]]);
        assert_eq!(pooled()[0], after[0] - 1);
        drop(m);
        let big = msgblk(128, &[&[1u8; 9000]]);
        drop(big);
        assert_eq!(pooled()[1], before[1] + 1);
        // Larger than any class: allocated and freed, never pooled.
        let huge = take(CLASSES[2] + 1);
        give(huge);
        assert_eq!(pooled()[2], before[2]);
        prefill(1500, 40);
        assert!(pooled()[0] >= 40);
    }

    #[test]
    fn shared_buffers_come_back_when_their_last_message_goes() {
        prefill_db(4096, 2);
        assert_eq!(pooled_db(), 2);
        let mut d = take_db(4096);
        assert_eq!(pooled_db(), 1);
        let a = d.share(0, 100).unwrap();
        let b = d.share(0, 100).unwrap();
        drop(d);
        drop(a);
        assert_eq!(pooled_db(), 1);
        drop(b);
        assert_eq!(pooled_db(), 2);
        // Another size is not kept.
        let mut o = take_db(1000);
        let m = o.share(0, 10).unwrap();
        drop((o, m));
        assert_eq!(pooled_db(), 2);
    }
}

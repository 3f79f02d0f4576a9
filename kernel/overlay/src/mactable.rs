//! `MacTable<T>`: the DYNAMIC cache's hash from destination MAC to entry,
//! readable without a lock.
//!
//! illumos uses a fixed 823-bucket refhash (CRC-32 of the MAC) under the
//! target lock; chains grow linearly with the cache. Here the table is
//! open-addressed with linear probing and doubles at half load, so a lookup
//! is O(1) at any size, and the transmit path reads it with no lock at all.
//!
//! Theory of operation. The cache never removes single entries (they are
//! only invalidated; the whole cache goes with the device), so the table is
//! insert-only. A slot is a key word (the MAC in the low 48 bits, bit 63 =
//! occupied; 0 = empty) and a value pointer (`Arc::into_raw`). Writers are
//! serialised by the table's own lock (taken under the target lock); an
//! insert stores the value (Release), then the key (Release), so a reader
//! that sees the key (Acquire) sees the value. Growth builds a new array
//! holding its own references to every entry and publishes it with one
//! pointer store; the old arrays are not freed before the table is (a
//! reader may still probe one), which costs at most the size of the
//! current array again. So a value reached through [`MacTable::get`] lives
//! as long as the table.

use crate::kmutex::KMutex;
use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

const OCCUPIED: u64 = 1 << 63;

fn key_of(k: &[u8; 6]) -> u64 {
    let mut w = [0u8; 8];
    w[..6].copy_from_slice(k);
    u64::from_le_bytes(w) | OCCUPIED
}

fn hash(key: u64) -> u64 {
    let x = key & !OCCUPIED;
    // Fibonacci hashing: the top bits of the product are well mixed.
    x.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (x >> 17)
}

/// One slot array.
struct Slots<T> {
    mask: usize,
    keys: Box<[AtomicU64]>,
    vals: Box<[AtomicPtr<T>]>,
}

impl<T> Slots<T> {
    fn alloc(n: usize) -> Option<Box<Slots<T>>> {
        let mut keys = Vec::new();
        keys.try_reserve_exact(n).ok()?;
        keys.resize_with(n, || AtomicU64::new(0));
        let mut vals = Vec::new();
        vals.try_reserve_exact(n).ok()?;
        vals.resize_with(n, || AtomicPtr::new(core::ptr::null_mut()));
        Some(Box::new(Slots {
            mask: n - 1,
            keys: keys.into_boxed_slice(),
            vals: vals.into_boxed_slice(),
        }))
    }

    /// The slot holding `key`, or the empty slot where it would go.
    #[inline]
    fn slot_of(&self, key: u64) -> usize {
        let mut i = (hash(key) >> 20) as usize & self.mask;
        loop {
            let kk = self.keys[i].load(Ordering::Acquire);
            if kk == key || kk == 0 {
                return i;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Store `v` (a reference this array now owns) under `key` in the
    /// slot `slot_of` found empty. Writers only.
    fn put(&self, i: usize, key: u64, v: Arc<T>) {
        self.vals[i].store(Arc::into_raw(v).cast_mut(), Ordering::Release);
        self.keys[i].store(key, Ordering::Release);
    }
}

impl<T> Drop for Slots<T> {
    fn drop(&mut self) {
        for v in self.vals.iter() {
            let p = v.load(Ordering::Relaxed);
            if !p.is_null() {
                // SAFETY: every non-null value pointer came from
                // `Arc::into_raw` in `put` and is released once, here.
                drop(unsafe { Arc::from_raw(p) });
            }
        }
    }
}

/// The writers' side: every array ever published (the last is current)
/// and the number of keys.
struct Writer<T> {
    // Boxed: `cur` points at a `Slots`, which must not move when the
    // vector grows.
    #[allow(clippy::vec_box)]
    arrays: Vec<Box<Slots<T>>>,
    len: usize,
}

/// Hash map `[u8; 6] → Arc<T>`, insert and lookup only; see the module
/// comment.
pub struct MacTable<T> {
    cur: AtomicPtr<Slots<T>>,
    w: KMutex<Writer<T>>,
}

// SAFETY: the table hands out `&T` to readers on any thread and moves
// `Arc<T>`s between threads, exactly what `Arc<T>: Send + Sync` allows;
// the raw pointers are only such `Arc`s.
unsafe impl<T: Send + Sync> Send for MacTable<T> {}
// SAFETY: as above; shared access is the lock-free read protocol of the
// module comment, and writers are serialised by `w`.
unsafe impl<T: Send + Sync> Sync for MacTable<T> {}

impl<T> Default for MacTable<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> MacTable<T> {
    pub fn new() -> Self {
        MacTable {
            cur: AtomicPtr::new(core::ptr::null_mut()),
            w: KMutex::new(Writer {
                arrays: Vec::new(),
                len: 0,
            }),
        }
    }

    pub fn len(&self) -> usize {
        self.w.lock().len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value under `k`, without a lock.
    #[inline]
    pub fn get(&self, k: &[u8; 6]) -> Option<&T> {
        let s = self.cur.load(Ordering::Acquire);
        if s.is_null() {
            return None;
        }
        // SAFETY: a published array is freed only when the table is
        // dropped, and `&self` keeps the table alive.
        let s = unsafe { &*s };
        let key = key_of(k);
        let i = s.slot_of(key);
        if s.keys[i].load(Ordering::Acquire) != key {
            return None;
        }
        let p = s.vals[i].load(Ordering::Acquire);
        // SAFETY: the key was stored after the value (Release/Acquire), so
        // `p` is the array's own `Arc` reference, released only when the
        // array is, i.e. with the table.
        unsafe { p.as_ref() }
    }

    /// Insert `v` under `k` if `k` is absent. Returns false, changing
    /// nothing, if `k` is present or memory for growth cannot be had.
    pub fn insert(&self, k: [u8; 6], v: Arc<T>) -> bool {
        let key = key_of(&k);
        let mut w = self.w.lock();
        if let Some(s) = w.arrays.last() {
            if s.keys[s.slot_of(key)].load(Ordering::Relaxed) == key {
                return false;
            }
        }
        let cap = w.arrays.last().map_or(0, |s| s.mask + 1);
        if (w.len + 1) * 2 > cap && !Self::grow(&mut w, &self.cur) {
            return false;
        }
        let Some(s) = w.arrays.last() else {
            return false;
        };
        let i = s.slot_of(key);
        s.put(i, key, v);
        w.len += 1;
        true
    }

    fn grow(w: &mut Writer<T>, cur: &AtomicPtr<Slots<T>>) -> bool {
        let n = w.arrays.last().map_or(16, |s| (s.mask + 1) * 2);
        if w.arrays.try_reserve(1).is_err() {
            return false;
        }
        let Some(new) = Slots::alloc(n) else {
            return false;
        };
        if let Some(old) = w.arrays.last() {
            for (k, v) in old.keys.iter().zip(old.vals.iter()) {
                let key = k.load(Ordering::Relaxed);
                if key == 0 {
                    continue;
                }
                let p = v.load(Ordering::Relaxed);
                // SAFETY: `p` is the old array's live `Arc` reference
                // (writers are serialised, and it is released only with
                // the table); the new array takes one of its own.
                let a = unsafe {
                    Arc::increment_strong_count(p);
                    Arc::from_raw(p)
                };
                new.put(new.slot_of(key), key, a);
            }
        }
        cur.store(&*new as *const Slots<T> as *mut Slots<T>, Ordering::Release);
        w.arrays.push(new);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_many() {
        let t = MacTable::new();
        for i in 0u32..10_000 {
            let b = i.to_be_bytes();
            assert!(t.insert([2, 0, b[0], b[1], b[2], b[3]], Arc::new(i)));
        }
        assert_eq!(t.len(), 10_000);
        for i in 0u32..10_000 {
            let b = i.to_be_bytes();
            assert_eq!(t.get(&[2, 0, b[0], b[1], b[2], b[3]]), Some(&i));
        }
        assert_eq!(t.get(&[9; 6]), None);
        assert!(!t.insert([2, 0, 0, 0, 0, 5], Arc::new(99)), "present");
        assert_eq!(t.len(), 10_000);
        assert_eq!(t.get(&[2, 0, 0, 0, 0, 5]), Some(&5));
        assert_eq!(t.get(&[0; 6]), None, "the all-zero MAC is a key too");
        assert!(t.insert([0; 6], Arc::new(7)));
        assert_eq!(t.get(&[0; 6]), Some(&7));
    }

    #[test]
    fn every_reference_is_released_with_the_table() {
        let v = Arc::new(1u8);
        {
            let t = MacTable::new();
            for i in 0u8..100 {
                assert!(t.insert([2, 0, 0, 0, 0, i], v.clone()));
            }
            assert!(Arc::strong_count(&v) > 100, "old arrays keep theirs");
        }
        assert_eq!(Arc::strong_count(&v), 1);
    }

    #[test]
    fn readers_see_every_insert_while_the_table_grows() {
        let t = Arc::new(MacTable::new());
        let r = t.clone();
        let reader = std::thread::spawn(move || {
            let mut seen = 0u32;
            while seen < 5_000 {
                let b = seen.to_be_bytes();
                if let Some(&v) = r.get(&[2, 0, b[0], b[1], b[2], b[3]]) {
                    assert_eq!(v, seen);
                    // Every earlier key is still there after growth.
                    let p = (seen / 2).to_be_bytes();
                    assert_eq!(r.get(&[2, 0, p[0], p[1], p[2], p[3]]), Some(&(seen / 2)));
                    seen += 1;
                }
            }
        });
        for i in 0u32..5_000 {
            let b = i.to_be_bytes();
            assert!(t.insert([2, 0, b[0], b[1], b[2], b[3]], Arc::new(i)));
        }
        reader.join().unwrap();
    }
}

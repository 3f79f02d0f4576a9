//! The per-worker lookup cache.
//!
//! # Theory of operation
//!
//! Each worker thread keeps its own cache of VL2 and VL3 answers (found and
//! not found), so a hit costs a hash lookup and no lock. It is bounded by
//! two generations of maps: entries go into `young`; when `young` reaches
//! half the capacity, `old` is dropped and `young` becomes `old`. A hit in
//! `old` is promoted. That approximates LRU at O(1) cost.
//!
//! Coherence: a poller thread reads the store's generation (bumped by every
//! mapping change in any process using the database) every poll interval
//! and, when it changed, bumps a shared epoch; a worker that sees a new
//! epoch empties its cache before answering. So a change made through any
//! portolan or CLI reaches the answers within one poll interval. Store
//! errors are never cached.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::store::{Mac, Store, Underlay, Vl3Entry};

/// A bounded two-generation map.
#[derive(Debug)]
pub struct TwoGen<K, V> {
    young: HashMap<K, V>,
    old: HashMap<K, V>,
    half: usize,
}

impl<K: Hash + Eq + Copy, V: Copy> TwoGen<K, V> {
    /// A map holding at most about `cap` entries (`cap` 0 disables it).
    pub fn new(cap: usize) -> TwoGen<K, V> {
        TwoGen {
            young: HashMap::new(),
            old: HashMap::new(),
            half: cap / 2,
        }
    }

    pub fn get(&mut self, k: &K) -> Option<V> {
        if let Some(v) = self.young.get(k) {
            return Some(*v);
        }
        let v = self.old.remove(k)?;
        self.insert(*k, v);
        Some(v)
    }

    pub fn insert(&mut self, k: K, v: V) {
        if self.half == 0 {
            return;
        }
        if self.young.len() >= self.half {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(k, v);
    }

    pub fn clear(&mut self) {
        self.young = HashMap::new();
        self.old = HashMap::new();
    }

    pub fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One worker's cache.
pub struct LookupCache {
    epoch: Arc<AtomicU64>,
    seen: u64,
    pub vl2: TwoGen<(u32, Mac), Option<Underlay>>,
    pub vl3: TwoGen<(u32, Ipv6Addr), Option<Vl3Entry>>,
}

impl LookupCache {
    /// A cache of at most `cap` entries of each kind, following `epoch`.
    pub fn new(cap: usize, epoch: Arc<AtomicU64>) -> LookupCache {
        let seen = epoch.load(Ordering::Acquire);
        LookupCache {
            epoch,
            seen,
            vl2: TwoGen::new(cap),
            vl3: TwoGen::new(cap),
        }
    }

    /// Empty the cache if the store changed since the last call; true when
    /// it did.
    pub fn sync(&mut self) -> bool {
        let e = self.epoch.load(Ordering::Acquire);
        if e == self.seen {
            return false;
        }
        self.seen = e;
        self.vl2.clear();
        self.vl3.clear();
        true
    }
}

/// Watch the store's generation every `every`, bumping `epoch` on change,
/// until `stop`.
pub fn spawn_poller(
    store: Arc<dyn Store>,
    epoch: Arc<AtomicU64>,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("portolan-gen".into())
        .spawn(move || {
            let mut last = store.generation().ok();
            let mut warned = false;
            while !stop.load(Ordering::SeqCst) {
                std::thread::park_timeout(every);
                match store.generation() {
                    Ok(g) => {
                        warned = false;
                        if last != Some(g) {
                            last = Some(g);
                            epoch.fetch_add(1, Ordering::AcqRel);
                        }
                    }
                    Err(e) => {
                        if !warned {
                            tracing::warn!("cannot read the store generation: {e}");
                            warned = true;
                        }
                    }
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_promoting() {
        let mut m: TwoGen<u32, u32> = TwoGen::new(10);
        for i in 0..100 {
            m.insert(i, i);
            assert!(m.len() <= 10);
        }
        assert_eq!(m.get(&99), Some(99));
        assert_eq!(m.get(&0), None);
        let mut z: TwoGen<u32, u32> = TwoGen::new(0);
        z.insert(1, 1);
        assert_eq!(z.get(&1), None);
    }

    #[test]
    fn epoch_clears() {
        let e = Arc::new(AtomicU64::new(0));
        let mut c = LookupCache::new(100, Arc::clone(&e));
        c.vl2.insert((1, Mac([0; 6])), None);
        assert!(!c.sync());
        assert_eq!(c.vl2.len(), 1);
        e.fetch_add(1, Ordering::SeqCst);
        assert!(c.sync());
        assert!(c.vl2.is_empty());
    }
}

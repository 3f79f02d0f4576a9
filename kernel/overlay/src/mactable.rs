//! `MacTable<V>`: the DYNAMIC cache's hash from destination MAC to entry.
//!
//! illumos uses a fixed 823-bucket refhash (CRC-32 of the MAC); chains grow
//! linearly with the cache. Here the table is open-addressed with linear
//! probing and doubles at half load, so a lookup is O(1) at any size. The
//! cache never removes single entries (they are only invalidated; the whole
//! cache goes with the device), so the table needs no deletion.

use alloc::vec::Vec;

/// Hash map `[u8; 6] → V`, insert and lookup only.
pub struct MacTable<V> {
    slots: Vec<Option<([u8; 6], V)>>,
    len: usize,
}

impl<V> Default for MacTable<V> {
    fn default() -> Self {
        Self::new()
    }
}

fn hash(k: &[u8; 6]) -> u64 {
    let mut w = [0u8; 8];
    w[..6].copy_from_slice(k);
    let x = u64::from_le_bytes(w);
    // Fibonacci hashing: the top bits of the product are well mixed.
    x.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (x >> 17)
}

impl<V> MacTable<V> {
    pub const fn new() -> Self {
        MacTable {
            slots: Vec::new(),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn slot_of(&self, k: &[u8; 6]) -> usize {
        let mask = self.slots.len() - 1;
        let mut i = (hash(k) >> 20) as usize & mask;
        loop {
            match &self.slots[i] {
                Some((kk, _)) if kk != k => i = (i + 1) & mask,
                _ => return i,
            }
        }
    }

    pub fn get(&self, k: &[u8; 6]) -> Option<&V> {
        if self.slots.is_empty() {
            return None;
        }
        self.slots[self.slot_of(k)].as_ref().map(|(_, v)| v)
    }

    /// Insert `v` under `k` (replacing any value). Returns false, changing
    /// nothing, if memory for growth cannot be had.
    pub fn insert(&mut self, k: [u8; 6], v: V) -> bool {
        if (self.len + 1) * 2 > self.slots.len() && !self.grow() {
            return false;
        }
        let i = self.slot_of(&k);
        if self.slots[i].is_none() {
            self.len += 1;
        }
        self.slots[i] = Some((k, v));
        true
    }

    fn grow(&mut self) -> bool {
        let n = (self.slots.len() * 2).max(16);
        let mut new: Vec<Option<([u8; 6], V)>> = Vec::new();
        if new.try_reserve_exact(n).is_err() {
            return false;
        }
        new.resize_with(n, || None);
        let old = core::mem::replace(&mut self.slots, new);
        for (k, v) in old.into_iter().flatten() {
            let i = self.slot_of(&k);
            self.slots[i] = Some((k, v));
        }
        true
    }

    pub fn clear(&mut self) {
        self.slots = Vec::new();
        self.len = 0;
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.slots.iter().flatten().map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_many() {
        let mut t = MacTable::new();
        for i in 0u32..10_000 {
            let b = i.to_be_bytes();
            assert!(t.insert([2, 0, b[0], b[1], b[2], b[3]], i));
        }
        assert_eq!(t.len(), 10_000);
        for i in 0u32..10_000 {
            let b = i.to_be_bytes();
            assert_eq!(t.get(&[2, 0, b[0], b[1], b[2], b[3]]), Some(&i));
        }
        assert_eq!(t.get(&[9; 6]), None);
        t.insert([2, 0, 0, 0, 0, 5], 99);
        assert_eq!(t.len(), 10_000);
        assert_eq!(t.get(&[2, 0, 0, 0, 0, 5]), Some(&99));
        t.clear();
        assert!(t.get(&[2, 0, 0, 0, 0, 5]).is_none());
    }
}

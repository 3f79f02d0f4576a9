//! The `MsgBlkChain` of the `Vec` backend (frames linked in order, as
//! `b_next` links them in the kernel); see [`crate::msgblk`] for the
//! contract.
//!
//! The first frame lives inline, so a chain of one frame never allocates;
//! later frames queue in a `VecDeque`. A host that hands the driver longer
//! chains many times a second lends that queue instead
//! ([`MsgBlkChain::lend`], as `esballoc(9F)` lends a message's buffer):
//! the queue keeps its capacity while frames are pushed and popped, and
//! when the chain is dropped (the driver has consumed it) the emptied queue
//! goes back to the host's free routine for the next chain. So a host
//! allocates no chain list per call once it has one queue per chain in
//! flight.

use crate::msgblk_vec::MsgBlk;
use alloc::collections::VecDeque;

/// The storage of a chain's frames after the first, lent by a host with
/// [`MsgBlkChain::lend`].
pub type ChainStorage = VecDeque<MsgBlk>;

/// Frames linked in order; see [`crate::msgblk`]. A chain of one frame
/// lives inline (no allocation).
#[derive(Debug, Default)]
pub struct MsgBlkChain {
    head: Option<MsgBlk>,
    rest: ChainStorage,
    /// The free routine of lent storage ([`MsgBlkChain::lend`]).
    free: Option<fn(ChainStorage)>,
}

impl Drop for MsgBlkChain {
    #[inline]
    fn drop(&mut self) {
        if let Some(free) = self.free {
            // The frames first (their buffers may go back to a pool of
            // their own), then the emptied storage to its owner.
            self.head = None;
            self.rest.clear();
            free(core::mem::take(&mut self.rest));
        }
    }
}

impl MsgBlkChain {
    #[inline]
    pub fn new() -> Self {
        MsgBlkChain {
            head: None,
            rest: VecDeque::new(),
            free: None,
        }
    }

    #[inline]
    pub fn single(m: MsgBlk) -> Self {
        MsgBlkChain {
            head: Some(m),
            rest: VecDeque::new(),
            free: None,
        }
    }

    /// An empty chain over lent storage: frames after the first queue in
    /// `storage` (growing it only beyond its capacity), and `free`
    /// receives it, emptied, when the chain is dropped. Frames already in
    /// `storage` are freed first. Vec backend only.
    pub fn lend(mut storage: ChainStorage, free: fn(ChainStorage)) -> Self {
        storage.clear();
        MsgBlkChain {
            head: None,
            rest: storage,
            free: Some(free),
        }
    }

    #[inline]
    pub fn push_back(&mut self, m: MsgBlk) {
        if self.head.is_none() && self.rest.is_empty() {
            self.head = Some(m);
        } else {
            self.rest.push_back(m);
        }
    }

    #[inline]
    pub fn pop_front(&mut self) -> Option<MsgBlk> {
        match self.head.take() {
            Some(m) => Some(m),
            None => self.rest.pop_front(),
        }
    }

    /// The first frame, if any.
    #[inline]
    pub fn front(&self) -> Option<&MsgBlk> {
        self.head.as_ref().or_else(|| self.rest.front())
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.head.is_none() && self.rest.is_empty()
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.head.is_some() as usize + self.rest.len()
    }
}

include!("msgblk_chain_impls.rs");

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn chain_order() {
        let mut c = MsgBlkChain::new();
        for i in 0..5u8 {
            c.push_back(MsgBlk::from_vec(alloc::vec![i]));
        }
        assert_eq!(c.len(), 5);
        let v: Vec<u8> = c.into_iter().map(|m| m.first()[0]).collect();
        assert_eq!(v, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn lent_storage_comes_back_empty_with_its_capacity() {
        extern crate std;
        use core::cell::RefCell;
        std::thread_local! {
            static BACK: RefCell<Vec<ChainStorage>> = const { RefCell::new(Vec::new()) };
        }
        fn free(s: ChainStorage) {
            BACK.with(|b| b.borrow_mut().push(s));
        }
        let storage = ChainStorage::with_capacity(8);
        let mut c = MsgBlkChain::lend(storage, free);
        for i in 0..6u8 {
            c.push_back(MsgBlk::from_vec(alloc::vec![i]));
        }
        assert_eq!((c.len(), c.front().map(|m| m.first()[0])), (6, Some(0)));
        // Part consumed, the rest freed with the chain.
        assert_eq!(c.pop_front().map(|m| m.first()[0]), Some(0));
        assert_eq!(c.pop_front().map(|m| m.first()[0]), Some(1));
        drop(c);
        let back = BACK
            .with(|b| b.borrow_mut().pop())
            .expect("storage returned");
        assert!(back.is_empty());
        assert!(back.capacity() >= 8);
        // Consumed by iteration: returned when the iterator drops.
        let mut c = MsgBlkChain::lend(back, free);
        c.push_back(MsgBlk::from_vec(alloc::vec![7]));
        c.push_back(MsgBlk::from_vec(alloc::vec![8]));
        let v: Vec<u8> = c.into_iter().map(|m| m.first()[0]).collect();
        assert_eq!(v, [7, 8]);
        assert_eq!(BACK.with(|b| b.borrow().len()), 1);
        // A plain chain has no free routine.
        drop(MsgBlkChain::from_iter(
            (0..3u8).map(|i| MsgBlk::from_vec(alloc::vec![i])),
        ));
        assert_eq!(BACK.with(|b| b.borrow().len()), 1);
    }
}

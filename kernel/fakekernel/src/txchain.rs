//! The frames a TAP reader collects for the driver's `mc_tx` during one
//! burst of reads.
//!
//! Theory of operation: a TAP reader turns each frame it reads (or each
//! segment it cuts from a TSO frame) into a pooled message
//! ([`crate::bufpool`]) and pushes it here ([`TxChain::push`]). Frames for
//! one provider accumulate in one chain, handed to the driver's `mc_tx`
//! in a single call ([`TxChain::send`]) when the reader's burst ends
//! (before its transmit batch, [`crate::txbatch`], is flushed), when a
//! frame for another provider comes, or when the chain holds
//! [`CHAIN_MAX`] frames: one driver entry (in-flight count, target load)
//! per burst instead of per frame, as MAC hands a driver `b_next` chains.
//!
//! A chain's list of frames is storage lent by this module
//! ([`MsgBlkChain::lend`]): the driver drains the chain on this thread
//! and drops it at the end of `mc_tx`, which hands the emptied list back
//! ([`give_storage`]) for the next chain. A reader has at most two lists
//! (the chain it fills and the one in the driver), so in steady state
//! nothing is allocated.

use crate::provider::ProviderOps;
use overlay::msgblk_chain_vec::ChainStorage;
use overlay::{MsgBlk, MsgBlkChain};
use std::cell::RefCell;
use std::sync::Arc;

/// Frames per `mc_tx` call at most (a 64 KiB TSO frame is about 45
/// segments).
pub const CHAIN_MAX: usize = 64;

/// Lists kept per thread for the next chains.
const STORAGE_KEPT: usize = 2;

thread_local! {
    static STORAGE: RefCell<Vec<ChainStorage>> = const { RefCell::new(Vec::new()) };
}

/// A list of frames for a chain: one this thread kept, else a new one
/// with room for [`CHAIN_MAX`] frames.
fn take_storage() -> ChainStorage {
    STORAGE
        .try_with(|s| s.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_else(|| ChainStorage::with_capacity(CHAIN_MAX))
}

/// The free routine of lent lists: keeps up to [`STORAGE_KEPT`] per
/// thread, frees the others (and any on an exiting thread).
pub fn give_storage(s: ChainStorage) {
    let _ = STORAGE.try_with(|kept| {
        let mut kept = kept.borrow_mut();
        if kept.len() < STORAGE_KEPT {
            if kept.capacity() == 0 {
                kept.reserve_exact(STORAGE_KEPT);
            }
            kept.push(s);
        }
    });
}

/// Fills this thread's lists up front, so the first bursts allocate none.
pub fn prefill() {
    for _ in 0..STORAGE_KEPT {
        give_storage(ChainStorage::with_capacity(CHAIN_MAX));
    }
}

/// The chain being collected for one provider.
pub struct TxChain {
    ops: Option<Arc<dyn ProviderOps>>,
    chain: MsgBlkChain,
}

impl Default for TxChain {
    fn default() -> Self {
        Self::new()
    }
}

impl TxChain {
    /// An empty collection (its list is taken at the first push).
    pub fn new() -> TxChain {
        TxChain {
            ops: None,
            chain: MsgBlkChain::new(),
        }
    }

    /// Adds `m` for the provider `ops`; sends what was collected for
    /// another provider first, and the chain once it is full.
    pub fn push(&mut self, ops: &Arc<dyn ProviderOps>, m: MsgBlk) {
        let same = self
            .ops
            .as_ref()
            .is_some_and(|o| std::ptr::addr_eq(Arc::as_ptr(o), Arc::as_ptr(ops)));
        if !same {
            self.send();
            self.ops = Some(Arc::clone(ops));
            self.chain = MsgBlkChain::lend(take_storage(), give_storage);
        }
        self.chain.push_back(m);
        if self.chain.len() >= CHAIN_MAX {
            self.send();
        }
    }

    /// Hands the collected frames to `mc_tx` in one call.
    pub fn send(&mut self) {
        let Some(o) = self.ops.take() else {
            return;
        };
        let c = std::mem::take(&mut self.chain);
        if !c.is_empty() {
            o.m_tx_chain(c);
        }
    }

    /// Frames collected and not yet sent.
    pub fn len(&self) -> usize {
        self.chain.len()
    }

    /// Whether nothing waits to be sent.
    pub fn is_empty(&self) -> bool {
        self.chain.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records each `mc_tx` call's frames.
    #[derive(Default)]
    struct Rec(Mutex<Vec<Vec<u8>>>);

    impl ProviderOps for Rec {
        fn m_start(&self) -> Result<(), i32> {
            Ok(())
        }
        fn m_stop(&self) {}
        fn m_tx(&self, frame: &[u8]) {
            self.0.lock().unwrap().push(frame.to_vec());
        }
        fn m_tx_chain(&self, chain: MsgBlkChain) {
            let v: Vec<u8> = chain.into_iter().map(|m| m.first()[0]).collect();
            self.0.lock().unwrap().push(v);
        }
    }

    fn calls(r: &Rec) -> Vec<Vec<u8>> {
        std::mem::take(&mut *r.0.lock().unwrap())
    }

    fn kept() -> usize {
        STORAGE.with(|s| s.borrow().len())
    }

    #[test]
    fn one_call_per_provider_run_and_lists_come_back() {
        let a = Arc::new(Rec::default());
        let b = Arc::new(Rec::default());
        let (oa, ob): (Arc<dyn ProviderOps>, Arc<dyn ProviderOps>) = (a.clone(), b.clone());
        prefill();
        assert_eq!(kept(), STORAGE_KEPT);
        let mut t = TxChain::new();
        for i in 0..3u8 {
            t.push(&oa, MsgBlk::from_vec(vec![i]));
        }
        assert_eq!((t.len(), kept()), (3, STORAGE_KEPT - 1));
        t.push(&ob, MsgBlk::from_vec(vec![9]));
        // A's chain went out whole, and its list came back.
        assert_eq!(calls(&a), [vec![0, 1, 2]]);
        assert_eq!(kept(), STORAGE_KEPT - 1);
        t.send();
        assert!(t.is_empty());
        assert_eq!(calls(&b), [vec![9]]);
        assert_eq!(kept(), STORAGE_KEPT);
        // A full chain goes at once.
        for i in 0..CHAIN_MAX as u8 + 1 {
            t.push(&oa, MsgBlk::from_vec(vec![i]));
        }
        let c = calls(&a);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0], (0..CHAIN_MAX as u8).collect::<Vec<_>>());
        t.send();
        assert_eq!(calls(&a), [vec![CHAIN_MAX as u8]]);
        assert_eq!(kept(), STORAGE_KEPT);
        // Nothing collected: no call.
        t.send();
        assert!(calls(&a).is_empty());
    }
}

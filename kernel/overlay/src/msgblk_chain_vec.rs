//! The `MsgBlkChain` of the `Vec` backend (frames linked in order, as
//! `b_next` links them in the kernel); see [`crate::msgblk`] for the
//! contract. The first frame lives inline, so a chain of one frame never
//! allocates; later frames queue in a `VecDeque`.

use crate::msgblk_vec::MsgBlk;
use alloc::collections::VecDeque;

/// Frames linked in order; see [`crate::msgblk`]. A chain of one frame
/// lives inline (no allocation).
#[derive(Debug, Default)]
pub struct MsgBlkChain {
    head: Option<MsgBlk>,
    rest: VecDeque<MsgBlk>,
}

impl MsgBlkChain {
    pub fn new() -> Self {
        MsgBlkChain {
            head: None,
            rest: VecDeque::new(),
        }
    }

    pub fn single(m: MsgBlk) -> Self {
        MsgBlkChain {
            head: Some(m),
            rest: VecDeque::new(),
        }
    }

    pub fn push_back(&mut self, m: MsgBlk) {
        if self.head.is_none() && self.rest.is_empty() {
            self.head = Some(m);
        } else {
            self.rest.push_back(m);
        }
    }

    pub fn pop_front(&mut self) -> Option<MsgBlk> {
        match self.head.take() {
            Some(m) => Some(m),
            None => self.rest.pop_front(),
        }
    }

    /// The first frame, if any.
    pub fn front(&self) -> Option<&MsgBlk> {
        self.head.as_ref().or_else(|| self.rest.front())
    }

    pub fn is_empty(&self) -> bool {
        self.head.is_none() && self.rest.is_empty()
    }

    pub fn len(&self) -> usize {
        self.head.is_some() as usize + self.rest.len()
    }
}

impl From<MsgBlk> for MsgBlkChain {
    fn from(m: MsgBlk) -> Self {
        MsgBlkChain::single(m)
    }
}

impl FromIterator<MsgBlk> for MsgBlkChain {
    fn from_iter<I: IntoIterator<Item = MsgBlk>>(it: I) -> Self {
        let mut c = MsgBlkChain::new();
        for m in it {
            c.push_back(m);
        }
        c
    }
}

/// Consuming iterator over a [`MsgBlkChain`].
pub struct ChainIter(MsgBlkChain);

impl Iterator for ChainIter {
    type Item = MsgBlk;
    fn next(&mut self) -> Option<MsgBlk> {
        self.0.pop_front()
    }
}

impl IntoIterator for MsgBlkChain {
    type Item = MsgBlk;
    type IntoIter = ChainIter;
    fn into_iter(self) -> ChainIter {
        ChainIter(self)
    }
}

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
}

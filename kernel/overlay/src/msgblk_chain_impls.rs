// What a chain is beyond a backend's primitives (`new`, `single`,
// `push_back`, `pop_front`), written once and included by each backend
// (`msgblk_chain_vec.rs`, `illumos/msgblk.rs`) next to its `MsgBlk` and
// `MsgBlkChain`: the kernel backend is also compiled on its own, by the
// host tests of kernel/kmod/hosttest.

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

/// Consuming iterator over a [`MsgBlkChain`], front to back.
pub struct ChainIter(MsgBlkChain);

impl Iterator for ChainIter {
    type Item = MsgBlk;
    #[inline]
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

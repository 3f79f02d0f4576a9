//! The `Vec`-backed `MsgBlk` used outside the kernel (its chain is
//! [`crate::msgblk_chain_vec`]).
//!
//! A message is up to [`MAX_BLKS`] blocks linked as by `b_cont`, held
//! inline (no allocation per message). A block is either a private buffer
//! with `rptr`/`wptr` offsets, so headroom in front of `rptr` lets a
//! header be prepended without copying the frame, or a region of a
//! shared, reference-counted buffer ([`crate::dblk_vec::Dblk`], `db_ref > 1`): no headroom
//! and not writable through the driver's interface (`first_mut` is
//! `None`), as the rules of `mblk_t` say. A host may lend a private
//! buffer with a free routine ([`MsgBlk::esballoc`], as `esballoc(9F)`
//! takes a `frtn_t`): the buffer goes back to it when the message is
//! freed, so a host with a buffer pool allocates nothing per frame.
//!
//! A prepend that needs a fresh block links it in front; a message that
//! already has [`MAX_BLKS`] blocks is first pulled up into one
//! (`pullupmsg`).

use crate::dblk_vec::{DbRef, Dblk};
use alloc::vec::Vec;

/// Headroom [`MsgBlk::from_vec`] and hosts should give frames so VXLAN (and
/// the UDP/IP headers a host may build in place) never reallocates.
pub const DEFAULT_HEADROOM: usize = 128;

/// Blocks a message holds inline.
pub const MAX_BLKS: usize = 3;

/// What a block's bytes live in.
enum Db {
    /// A private buffer, with the free routine of a lent one.
    Own(Vec<u8>, Option<fn(Vec<u8>)>),
    /// A region of a shared buffer; `rptr..wptr` lies inside it.
    Shared(DbRef),
    /// No block (an unused slot after the last block).
    Absent,
}

/// One block (`mblk_t` with its `dblk_t`).
struct Blk {
    db: Db,
    /// Offsets into the buffer (a block holds less than 4 GiB), kept
    /// small so a message of [`MAX_BLKS`] blocks is cheap to move.
    rptr: u32,
    wptr: u32,
}

impl Blk {
    const EMPTY: Blk = Blk {
        db: Db::Absent,
        rptr: 0,
        wptr: 0,
    };

    fn r(&self) -> usize {
        self.rptr as usize
    }

    fn w(&self) -> usize {
        self.wptr as usize
    }

    #[inline]
    fn bytes(&self) -> &[u8] {
        let (r, w) = (self.r(), self.w());
        match &self.db {
            Db::Own(v, _) => &v[r..w],
            Db::Shared(d) => d.bytes(r, w),
            Db::Absent => &[],
        }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        let (r, w) = (self.r(), self.w());
        match &mut self.db {
            Db::Own(v, _) => &mut v[r..w],
            Db::Shared(d) => d.bytes_mut(r, w),
            Db::Absent => &mut [],
        }
    }

    fn len(&self) -> usize {
        self.w() - self.r()
    }

    fn present(&self) -> bool {
        !matches!(self.db, Db::Absent)
    }

    fn shared(&self) -> bool {
        matches!(self.db, Db::Shared(_))
    }

    fn own(buf: Vec<u8>, rptr: usize, free: Option<fn(Vec<u8>)>) -> Blk {
        let wptr = off32(buf.len());
        Blk {
            db: Db::Own(buf, free),
            rptr: off32(rptr).min(wptr),
            wptr,
        }
    }
}

impl Dblk {
    /// A message of one block over `len` bytes at `off` of the tail
    /// (`tail()[off..off + len]`), carved off the buffer: the message
    /// holds a reference, and the bytes before them are skipped for good.
    /// `None` if the range is outside the tail. Vec backend only.
    pub fn share(&mut self, off: usize, len: usize) -> Option<MsgBlk> {
        let (r, lo, hi) = self.carve(off, len)?;
        Some(MsgBlk::from_region(r, lo, hi))
    }
}

/// A block offset; blocks hold less than 4 GiB (frames, datagrams).
fn off32(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

impl Drop for Blk {
    #[inline]
    fn drop(&mut self) {
        if let Db::Own(v, Some(free)) = &mut self.db {
            free(core::mem::take(v));
        }
    }
}

/// One frame; see [`crate::msgblk`].
pub struct MsgBlk {
    /// The blocks in use (at least the first), then absent ones.
    blks: [Blk; MAX_BLKS],
}

impl Clone for MsgBlk {
    /// A private copy in one block (`copymsg`): a shared region is never
    /// duplicated. The first block's headroom is kept.
    fn clone(&self) -> MsgBlk {
        let head = self.headroom();
        let mut buf = Vec::with_capacity(head + self.len());
        buf.resize(head, 0);
        for b in self.blocks() {
            buf.extend_from_slice(b);
        }
        MsgBlk::one(Blk::own(buf, head, None))
    }
}

impl PartialEq for MsgBlk {
    /// Same bytes, however split into blocks.
    fn eq(&self, o: &MsgBlk) -> bool {
        self.len() == o.len() && self.blocks().flatten().eq(o.blocks().flatten())
    }
}

impl Eq for MsgBlk {}

impl core::fmt::Debug for MsgBlk {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "MsgBlk({} bytes in {} blocks, {} headroom)",
            self.len(),
            self.nblocks(),
            self.headroom()
        )
    }
}

impl MsgBlk {
    fn one(b: Blk) -> MsgBlk {
        MsgBlk {
            blks: [b, Blk::EMPTY, Blk::EMPTY],
        }
    }

    /// A frame holding `data` with `headroom` free bytes in front.
    pub fn copy_from(headroom: usize, data: &[u8]) -> Option<MsgBlk> {
        let mut buf = Vec::new();
        buf.try_reserve_exact(headroom + data.len()).ok()?;
        buf.resize(headroom, 0);
        buf.extend_from_slice(data);
        Some(MsgBlk::one(Blk::own(buf, headroom, None)))
    }

    /// A frame over a lent buffer (`esballoc`): the bytes `buf[rptr..]`,
    /// with `buf[..rptr]` as headroom; `free(buf)` is called when the
    /// message is freed (or the block dropped by a strip or pullup). Vec
    /// backend only.
    pub fn esballoc(buf: Vec<u8>, rptr: usize, free: fn(Vec<u8>)) -> MsgBlk {
        MsgBlk::one(Blk::own(buf, rptr, Some(free)))
    }

    /// A frame that takes over `v` (no headroom). Vec backend only.
    pub fn from_vec(v: Vec<u8>) -> MsgBlk {
        MsgBlk::one(Blk::own(v, 0, None))
    }

    /// A frame of `data` with [`DEFAULT_HEADROOM`]. Vec backend only.
    pub fn with_headroom(data: &[u8]) -> MsgBlk {
        let mut buf = Vec::with_capacity(DEFAULT_HEADROOM + data.len());
        buf.resize(DEFAULT_HEADROOM, 0);
        buf.extend_from_slice(data);
        MsgBlk::one(Blk::own(buf, DEFAULT_HEADROOM, None))
    }

    /// A frame of one block over `lo..hi` of a shared buffer (made by
    /// [`Dblk::share`], which carves the region).
    fn from_region(r: DbRef, lo: usize, hi: usize) -> MsgBlk {
        MsgBlk::one(Blk {
            db: Db::Shared(r),
            rptr: off32(lo),
            wptr: off32(hi),
        })
    }

    /// Links `tail`'s blocks after this message's (`linkb`). If they do
    /// not fit in [`MAX_BLKS`], `tail` is given back. Vec backend only.
    pub fn link(&mut self, mut tail: MsgBlk) -> Result<(), MsgBlk> {
        let (n, k) = (self.nblocks(), tail.nblocks());
        if n + k > MAX_BLKS {
            return Err(tail);
        }
        for i in 0..k {
            self.blks[n + i] = core::mem::replace(&mut tail.blks[i], Blk::EMPTY);
        }
        Ok(())
    }

    /// The blocks' bytes, in order (`b_cont`). Vec backend only.
    pub fn blocks(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.blks[..self.nblocks()].iter().map(Blk::bytes)
    }

    /// Blocks in the message. Vec backend only.
    pub fn nblocks(&self) -> usize {
        1 + self.blks[1..].iter().take_while(|b| b.present()).count()
    }

    /// Whether the first block is a region of a shared buffer.
    pub fn is_shared(&self) -> bool {
        self.blks[0].shared()
    }

    /// The first block's bytes, writable, whether or not the block is a
    /// region of a shared buffer: the region is this message's alone
    /// (regions never overlap and are never duplicated), so the host that
    /// made it may rewrite it. The driver goes through
    /// [`MsgBlk::first_mut`], which keeps the `mblk_t` rule. Vec backend
    /// only.
    pub fn first_region_mut(&mut self) -> &mut [u8] {
        self.blks[0].bytes_mut()
    }

    /// Makes the message one private block with `headroom` bytes in
    /// front (`pullupmsg`); a message of one private block is left as it
    /// is. False (and unchanged) if allocation fails. Vec backend only.
    pub fn pullup(&mut self, headroom: usize) -> bool {
        if self.nblocks() == 1 && !self.blks[0].shared() {
            return true;
        }
        match self.dup(headroom) {
            Some(m) => {
                *self = m;
                true
            }
            None => false,
        }
    }

    /// A copy of the frame's bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len());
        for b in self.blocks() {
            v.extend_from_slice(b);
        }
        v
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.blks.iter().map(Blk::len).sum()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    pub fn first(&self) -> &[u8] {
        self.blks[0].bytes()
    }

    /// The first block's bytes, writable; `None` if the block is shared.
    #[inline]
    pub fn first_mut(&mut self) -> Option<&mut [u8]> {
        if self.blks[0].shared() {
            return None;
        }
        Some(self.blks[0].bytes_mut())
    }

    /// A private copy of the whole message with `headroom` bytes in
    /// front (`copymsg` into one block); `None` if allocation fails.
    pub fn dup(&self, headroom: usize) -> Option<MsgBlk> {
        let mut buf = Vec::new();
        buf.try_reserve_exact(headroom + self.len()).ok()?;
        buf.resize(headroom, 0);
        for b in self.blocks() {
            buf.extend_from_slice(b);
        }
        Some(MsgBlk::one(Blk::own(buf, headroom, None)))
    }

    #[inline]
    pub fn headroom(&self) -> usize {
        if self.blks[0].shared() {
            0
        } else {
            self.blks[0].r()
        }
    }

    pub fn copy_out(&self, off: usize, dst: &mut [u8]) -> usize {
        let mut skip = off;
        let mut n = 0;
        for b in self.blocks() {
            if n == dst.len() {
                break;
            }
            if skip >= b.len() {
                skip -= b.len();
                continue;
            }
            let k = (b.len() - skip).min(dst.len() - n);
            dst[n..n + k].copy_from_slice(&b[skip..skip + k]);
            n += k;
            skip = 0;
        }
        n
    }

    #[inline]
    pub fn strip(&mut self, n: usize) -> bool {
        if n > self.len() {
            return false;
        }
        let mut left = n;
        // Emptied leading blocks are freed; the last one stays (empty).
        let mut n = self.nblocks();
        while n > 1 && left >= self.blks[0].len() {
            left -= self.blks[0].len();
            self.blks[..n].rotate_left(1);
            n -= 1;
            self.blks[n] = Blk::EMPTY;
        }
        // left <= the block's length, so the offset stays in range.
        self.blks[0].rptr += left as u32;
        true
    }

    #[inline]
    pub fn prepend(
        &mut self,
        n: usize,
        noalloc_min: usize,
        alloc_size: usize,
    ) -> Option<&mut [u8]> {
        // A shared first block is never written in place, even for n = 0
        // (its headroom reads as 0, so only that case needs the test).
        if self.blks[0].shared() || self.headroom() < n.max(noalloc_min) {
            // A fresh block of alloc_size, positioned at its end, linked
            // in front of the message.
            if self.nblocks() == MAX_BLKS && !self.pullup(0) {
                return None;
            }
            let head = alloc_size.max(n);
            let mut buf = Vec::new();
            buf.try_reserve_exact(head).ok()?;
            buf.resize(head, 0);
            let k = self.nblocks();
            self.blks[..=k].rotate_right(1);
            self.blks[0] = Blk::own(buf, head, None);
        }
        let b = &mut self.blks[0];
        // n <= headroom, the block's read offset.
        b.rptr -= n as u32;
        let (lo, hi) = (b.r(), b.r() + n);
        match &mut b.db {
            Db::Own(v, _) => Some(&mut v[lo..hi]),
            // A shared first block got a fresh one above.
            Db::Shared(_) | Db::Absent => None,
        }
    }

    pub fn clear_hcksum(&mut self) {}
}

#[cfg(test)]
#[path = "msgblk_vec_frags.rs"]
mod frags;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepend_nothing_to_a_shared_block() {
        // An empty header on a shared block is a fresh private block, not
        // a failure (found by the frags property test).
        let mut db = crate::dblk_vec::Dblk::new(Vec::with_capacity(64), None);
        let mut m = db.share(1, 0).unwrap();
        assert_eq!(m.prepend(0, 0, 0).map(|h| h.len()), Some(0));
        assert!(!m.is_shared());
        assert_eq!(m.len(), 0);
    }

    #[test]
    fn prepend_in_place_and_realloc() {
        let mut m = MsgBlk::copy_from(64, b"frame").unwrap();
        let h = m.prepend(8, 54, 128).unwrap();
        h.copy_from_slice(b"HEADER!!");
        assert_eq!(m.to_vec(), b"HEADER!!frame");
        assert_eq!((m.headroom(), m.nblocks()), (56, 1));
        let mut m = MsgBlk::from_vec(b"abc".to_vec());
        m.prepend(2, 54, 128).unwrap().copy_from_slice(b"xy");
        assert_eq!(m.to_vec(), b"xyabc");
        assert_eq!((m.headroom(), m.nblocks()), (126, 2));
    }

    #[test]
    fn esballoc_buffer_goes_back_to_its_free_routine() {
        use core::sync::atomic::{AtomicUsize, Ordering};
        static FREED: AtomicUsize = AtomicUsize::new(0);
        fn free(_: Vec<u8>) {
            FREED.fetch_add(1, Ordering::Relaxed);
        }
        let mut v = Vec::with_capacity(64);
        v.extend_from_slice(b"hhhhframe");
        let m = MsgBlk::esballoc(v, 4, free);
        assert_eq!((m.first(), m.headroom()), (&b"frame"[..], 4));
        drop(m);
        assert_eq!(FREED.load(Ordering::Relaxed), 1);
        // A prepend that outgrows the headroom links a fresh block in
        // front; the lent buffer goes back with the message.
        let mut v = Vec::with_capacity(64);
        v.extend_from_slice(b"frame");
        let mut m = MsgBlk::esballoc(v, 0, free);
        m.prepend(8, 54, 128).unwrap().copy_from_slice(b"HEADER!!");
        assert_eq!(FREED.load(Ordering::Relaxed), 1);
        assert_eq!(m.to_vec(), b"HEADER!!frame");
        drop(m);
        assert_eq!(FREED.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn strip_and_copy() {
        let mut m = MsgBlk::from_vec(b"0123456789".to_vec());
        assert!(!m.strip(11));
        assert!(m.strip(3));
        let mut d = [0u8; 4];
        assert_eq!(m.copy_out(2, &mut d), 4);
        assert_eq!(&d, b"5678");
        assert_eq!(m.copy_out(6, &mut d), 1);
        assert_eq!(m.copy_out(100, &mut d), 0);
    }
}

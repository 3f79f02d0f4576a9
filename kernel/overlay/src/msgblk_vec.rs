//! The `Vec`-backed `MsgBlk` used outside the kernel (its chain is
//! [`crate::msgblk_chain_vec`]). One
//! frame is one contiguous buffer with `rptr`/`wptr` offsets, so headroom in
//! front of `rptr` lets a header be prepended without copying the frame.
//! A host may lend the buffer with a free routine ([`MsgBlk::esballoc`],
//! as `esballoc(9F)` takes a `frtn_t`): the buffer goes back to it when the
//! message is freed, so a host with a buffer pool allocates nothing per
//! frame.

use alloc::vec::Vec;

/// Headroom [`MsgBlk::from_vec`] and hosts should give frames so VXLAN (and
/// the UDP/IP headers a host may build in place) never reallocates.
pub const DEFAULT_HEADROOM: usize = 128;

/// One frame; see [`crate::msgblk`].
#[derive(Clone)]
pub struct MsgBlk {
    buf: Vec<u8>,
    rptr: usize,
    wptr: usize,
    /// The free routine of a lent buffer ([`MsgBlk::esballoc`]).
    free: Option<fn(Vec<u8>)>,
}

impl PartialEq for MsgBlk {
    fn eq(&self, o: &MsgBlk) -> bool {
        self.buf == o.buf && self.rptr == o.rptr && self.wptr == o.wptr
    }
}

impl Eq for MsgBlk {}

impl Drop for MsgBlk {
    fn drop(&mut self) {
        if let Some(free) = self.free {
            free(core::mem::take(&mut self.buf));
        }
    }
}

impl core::fmt::Debug for MsgBlk {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "MsgBlk({} bytes, {} headroom)",
            self.len(),
            self.headroom()
        )
    }
}

impl MsgBlk {
    /// A frame holding `data` with `headroom` free bytes in front.
    pub fn copy_from(headroom: usize, data: &[u8]) -> Option<MsgBlk> {
        let mut buf = Vec::new();
        buf.try_reserve_exact(headroom + data.len()).ok()?;
        buf.resize(headroom, 0);
        buf.extend_from_slice(data);
        Some(MsgBlk {
            buf,
            rptr: headroom,
            wptr: headroom + data.len(),
            free: None,
        })
    }

    /// A frame over a lent buffer (`esballoc`): the bytes `buf[rptr..]`,
    /// with `buf[..rptr]` as headroom; `free(buf)` is called when the
    /// message is freed (or its buffer replaced by a larger one). Vec
    /// backend only.
    pub fn esballoc(buf: Vec<u8>, rptr: usize, free: fn(Vec<u8>)) -> MsgBlk {
        let wptr = buf.len();
        MsgBlk {
            buf,
            rptr: rptr.min(wptr),
            wptr,
            free: Some(free),
        }
    }

    /// A frame that takes over `v` (no headroom). Vec backend only.
    pub fn from_vec(v: Vec<u8>) -> MsgBlk {
        let n = v.len();
        MsgBlk {
            buf: v,
            rptr: 0,
            wptr: n,
            free: None,
        }
    }

    /// A frame of `data` with [`DEFAULT_HEADROOM`]. Vec backend only.
    pub fn with_headroom(data: &[u8]) -> MsgBlk {
        let mut buf = Vec::with_capacity(DEFAULT_HEADROOM + data.len());
        buf.resize(DEFAULT_HEADROOM, 0);
        buf.extend_from_slice(data);
        MsgBlk {
            buf,
            rptr: DEFAULT_HEADROOM,
            wptr: DEFAULT_HEADROOM + data.len(),
            free: None,
        }
    }

    /// The frame's bytes as one slice (the vec backend is contiguous).
    pub fn data(&self) -> &[u8] {
        &self.buf[self.rptr..self.wptr]
    }

    /// The frame's bytes, writable. Vec backend only.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.rptr..self.wptr]
    }

    /// A copy of the frame's bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        self.data().to_vec()
    }

    pub fn len(&self) -> usize {
        self.wptr - self.rptr
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn first(&self) -> &[u8] {
        self.data()
    }

    /// The first block's bytes, writable (always, in this backend).
    pub fn first_mut(&mut self) -> Option<&mut [u8]> {
        Some(self.data_mut())
    }

    /// A private copy of the whole message with `headroom` bytes in
    /// front (`copymsg` into one block); `None` if allocation fails.
    pub fn dup(&self, headroom: usize) -> Option<MsgBlk> {
        MsgBlk::copy_from(headroom, self.data())
    }

    pub fn headroom(&self) -> usize {
        self.rptr
    }

    pub fn copy_out(&self, off: usize, dst: &mut [u8]) -> usize {
        let d = self.data();
        if off >= d.len() {
            return 0;
        }
        let n = dst.len().min(d.len() - off);
        dst[..n].copy_from_slice(&d[off..off + n]);
        n
    }

    pub fn strip(&mut self, n: usize) -> bool {
        if n > self.len() {
            return false;
        }
        self.rptr += n;
        true
    }

    pub fn prepend(
        &mut self,
        n: usize,
        noalloc_min: usize,
        alloc_size: usize,
    ) -> Option<&mut [u8]> {
        if self.rptr < n.max(noalloc_min) {
            // A fresh block of alloc_size positioned at its end, the frame
            // behind it; contiguous here, so one new buffer.
            let head = alloc_size.max(n);
            let mut buf = Vec::new();
            buf.try_reserve_exact(head + self.len()).ok()?;
            buf.resize(head, 0);
            buf.extend_from_slice(self.data());
            self.wptr = buf.len();
            self.rptr = head;
            let old = core::mem::replace(&mut self.buf, buf);
            if let Some(free) = self.free {
                free(old);
            }
        }
        self.rptr -= n;
        Some(&mut self.buf[self.rptr..self.rptr + n])
    }

    pub fn clear_hcksum(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepend_in_place_and_realloc() {
        let mut m = MsgBlk::copy_from(64, b"frame").unwrap();
        let h = m.prepend(8, 54, 128).unwrap();
        h.copy_from_slice(b"HEADER!!");
        assert_eq!(m.data(), b"HEADER!!frame");
        assert_eq!(m.headroom(), 56);
        let mut m = MsgBlk::from_vec(b"abc".to_vec());
        m.prepend(2, 54, 128).unwrap().copy_from_slice(b"xy");
        assert_eq!(m.data(), b"xyabc");
        assert_eq!(m.headroom(), 126);
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
        assert_eq!((m.data(), m.headroom()), (&b"frame"[..], 4));
        drop(m);
        assert_eq!(FREED.load(Ordering::Relaxed), 1);
        // A prepend that outgrows the headroom frees the lent buffer.
        let mut v = Vec::with_capacity(64);
        v.extend_from_slice(b"frame");
        let mut m = MsgBlk::esballoc(v, 0, free);
        m.prepend(8, 54, 128).unwrap().copy_from_slice(b"HEADER!!");
        assert_eq!(FREED.load(Ordering::Relaxed), 2);
        assert_eq!(m.data(), b"HEADER!!frame");
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

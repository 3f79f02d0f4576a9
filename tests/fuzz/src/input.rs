//! A cursor over the fuzzer's bytes, handing out the small integers and
//! byte strings the stateful harnesses turn into operations. Running out of
//! input yields zeros / empty slices, never a panic.

/// Reads integers and slices from the front of the fuzz input.
#[derive(Debug)]
pub struct Input<'a> {
    b: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Input { b }
    }

    /// Whether every byte has been consumed.
    pub fn is_empty(&self) -> bool {
        self.b.is_empty()
    }

    /// Up to `n` bytes (fewer at the end of the input).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.b.len());
        let (h, t) = self.b.split_at(n);
        self.b = t;
        h
    }

    pub fn u8(&mut self) -> u8 {
        self.bytes(1).first().copied().unwrap_or(0)
    }

    pub fn u16(&mut self) -> u16 {
        let mut a = [0u8; 2];
        let s = self.bytes(2);
        a[..s.len()].copy_from_slice(s);
        u16::from_le_bytes(a)
    }

    pub fn u32(&mut self) -> u32 {
        let mut a = [0u8; 4];
        let s = self.bytes(4);
        a[..s.len()].copy_from_slice(s);
        u32::from_le_bytes(a)
    }

    /// A length-prefixed byte string of at most `max` bytes (the prefix is
    /// a u16, reduced modulo `max + 1`).
    pub fn blob(&mut self, max: usize) -> &'a [u8] {
        let n = self.u16() as usize % (max + 1);
        self.bytes(n)
    }

    /// One of `known` seven times in eight, else a raw 32-bit value:
    /// command numbers are mostly real ones (to reach the handlers) but any
    /// value must be safe.
    pub fn cmd(&mut self, known: &[u32]) -> u32 {
        let sel = self.u8();
        if sel < 224 && !known.is_empty() {
            known[sel as usize % known.len()]
        } else {
            self.u32()
        }
    }
}

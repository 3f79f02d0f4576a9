//! Plain-old-data views of the ABI structures.
//!
//! Every wire structure of this crate is `#[repr(C)]`, has explicit padding
//! fields (so it has no uninitialised bytes), and contains only integers and
//! byte arrays (so every bit pattern is valid). [`Pod`] captures exactly that
//! and gives each such type a safe byte view (`as_bytes`), a mutable byte view
//! (`as_bytes_mut`) and a checked read from an arbitrary byte slice
//! (`from_bytes`), without any external crate.

use core::mem::size_of;

/// A `#[repr(C)]` type with no padding bytes and no invalid bit patterns.
///
/// # Safety
///
/// Implementors must be `#[repr(C)]` (or `packed`), contain no implicit
/// padding, and consist only of integer and byte-array fields (or other
/// `Pod` types), so that every byte sequence of `size_of::<Self>()` is a
/// valid value and every byte of a value is initialised.
pub unsafe trait Pod: Copy + Default + 'static {
    /// The value's bytes, in memory (native, little-endian on amd64) order.
    fn as_bytes(&self) -> &[u8] {
        // SAFETY: `Self: Pod` guarantees all `size_of::<Self>()` bytes are
        // initialised; the slice borrows `self` so it cannot outlive it.
        unsafe { core::slice::from_raw_parts(self as *const Self as *const u8, size_of::<Self>()) }
    }

    /// The value's bytes, writable. Any bytes written form a valid value.
    fn as_bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `as_bytes`; additionally every bit pattern is a
        // valid `Self`, so arbitrary writes through the slice are sound.
        unsafe { core::slice::from_raw_parts_mut(self as *mut Self as *mut u8, size_of::<Self>()) }
    }

    /// Read a value from the first `size_of::<Self>()` bytes of `b` (any
    /// alignment). `None` if `b` is shorter.
    fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() < size_of::<Self>() {
            return None;
        }
        let mut v = Self::default();
        v.as_bytes_mut().copy_from_slice(&b[..size_of::<Self>()]);
        Some(v)
    }

    /// Read a value from `b`, zero-filling whatever `b` lacks (dld's
    /// zero-initialised kernel buffer followed by a short copy).
    fn from_bytes_padded(b: &[u8]) -> Self {
        let mut v = Self::default();
        let n = b.len().min(size_of::<Self>());
        v.as_bytes_mut()[..n].copy_from_slice(&b[..n]);
        v
    }

    /// Write the value into the first `size_of::<Self>()` bytes of `b`.
    /// Returns false (writing nothing) if `b` is too short.
    fn write_to(&self, b: &mut [u8]) -> bool {
        if b.len() < size_of::<Self>() {
            return false;
        }
        b[..size_of::<Self>()].copy_from_slice(self.as_bytes());
        true
    }

    /// `size_of::<Self>()`.
    const SIZE: usize = size_of::<Self>();
}

/// Copy a NUL-terminated C string out of a fixed buffer: the bytes before
/// the first NUL (or the whole buffer if there is none).
pub fn cstr_bytes(buf: &[u8]) -> &[u8] {
    let n = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
    &buf[..n]
}

/// Store `s` as a NUL-terminated string in `buf`, truncating to
/// `buf.len() - 1` bytes and zero-filling the rest. Returns the number of
/// string bytes stored (without the NUL).
pub fn set_cstr(buf: &mut [u8], s: &[u8]) -> usize {
    if buf.is_empty() {
        return 0;
    }
    let n = s.len().min(buf.len() - 1);
    buf[..n].copy_from_slice(&s[..n]);
    for b in &mut buf[n..] {
        *b = 0;
    }
    n
}

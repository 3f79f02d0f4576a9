//! The buffer a thread reads a VNIC's TAP into.
//!
//! Theory of operation: frames read from a TAP go to the driver without
//! being copied: their headers go into a small pooled header block and
//! their payload stays where the read put it, referenced by the messages
//! ([`crate::tso::frame_msg`], [`crate::tso::segment_tcp`]). So the read
//! buffer is a shared, reference-counted [`Dblk`] from this thread's pool
//! ([`crate::bufpool::take_db`]). Each read goes into its tail, the part
//! no message references yet; once no message references the buffer any
//! more (the transmit batch that sent them was flushed) the next read
//! starts at its beginning again, and when the tail is too short for a
//! read while messages still hold the rest, the buffer is left to them
//! (it goes back to the pool with the last one) and another is taken.

use crate::bufpool::take_db;
use crate::tap::TAP_READ_MAX;
use overlay::dblk_vec::Dblk;

/// Size of a read buffer: room for at least two reads, so that small
/// frames share one buffer.
pub const READ_DB_CAP: usize = 2 * TAP_READ_MAX;

/// Read buffers a TAP reader keeps in its pool: those a full transmit
/// batch and a chain for `mc_tx` (`crate::txbatch::MAX_QUEUED` and
/// `crate::txchain::CHAIN_MAX` standard frames or TSO segments)
/// can hold, the one being read into, and one to spare.
pub const READ_DB_PREFILL: usize = 8;

/// A thread's TAP read buffer; see the module comment.
pub struct ReadBuf {
    pub db: Dblk,
}

impl ReadBuf {
    /// A read buffer from this thread's pool.
    pub fn new() -> ReadBuf {
        ReadBuf {
            db: take_db(READ_DB_CAP),
        }
    }

    /// Room for the next read ([`TAP_READ_MAX`] bytes at the start of the
    /// tail); the frame read is then `db.tail()[..n]`.
    pub fn room(&mut self) -> &mut [u8] {
        if !self.db.reset() && self.db.tail().len() < TAP_READ_MAX {
            self.db = take_db(READ_DB_CAP);
        }
        &mut self.db.tail_mut()[..TAP_READ_MAX]
    }
}

impl Default for ReadBuf {
    fn default() -> Self {
        ReadBuf::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_share_a_buffer_until_its_tail_is_short() {
        let mut rb = ReadBuf::new();
        rb.room()[..4].copy_from_slice(b"abcd");
        let m = rb.db.share(1, 3).unwrap();
        // Still referenced: the next read goes after it.
        rb.room()[0] = b'x';
        assert_eq!(m.first(), b"bcd");
        assert_eq!(rb.db.carved(), 4);
        let m2 = rb.db.share(0, TAP_READ_MAX).unwrap();
        // Too short for a read now: another buffer.
        assert_eq!(rb.room().len(), TAP_READ_MAX);
        assert_eq!(rb.db.carved(), 0);
        drop((m, m2));
        // Unreferenced: read from its beginning again.
        let _ = rb.db.share(0, 10).unwrap();
        rb.room();
        assert_eq!(rb.db.carved(), 0);
    }
}

//! `MsgBlk` (one frame, illumos `mblk_t` with its `b_cont` fragments) and
//! `MsgBlkChain` (frames linked by `b_next`), chosen at compile time.
//!
//! The data path never copies a frame to add a header: a frame carries
//! headroom in front of its read pointer and encapsulation prepends into it
//! (`prepend`), falling back to a fresh block only when the headroom is
//! short or the block is shared — the rule of `overlay_vxlan.c`.
//!
//! Backends:
//! * everything but a kernel build: [`crate::msgblk_vec`], up to three
//!   blocks held inline, each a `Vec<u8>` with a read and a write offset
//!   or a region of a shared, reference-counted buffer
//!   ([`crate::dblk_vec`]) (std and the no_std fallback both have
//!   `alloc`), and its chain [`crate::msgblk_chain_vec`].
//! * feature `kernel` without `std`: `crate::illumos::msgblk` over
//!   `allocb`/`freemsg`/`b_rptr`/`b_cont`/`b_next`.
//!
//! A backend provides, with exactly these names and meanings:
//! * `MsgBlk` (`Send`, dropping it frees the message — `freemsg`):
//!   - `fn copy_from(headroom: usize, data: &[u8]) -> Option<MsgBlk>`: a new
//!     single-block message holding `data` with at least `headroom` bytes
//!     before it (`allocb`; `None` if allocation fails).
//!   - `fn len(&self) -> usize` (`msgdsize`), `fn is_empty(&self) -> bool`.
//!   - `fn first(&self) -> &[u8]`: the first block's bytes (`b_rptr..b_wptr`).
//!   - `fn headroom(&self) -> usize`: bytes before `b_rptr` in the first block
//!     (0 if the block is shared, `db_ref > 1`).
//!   - `fn copy_out(&self, off: usize, dst: &mut [u8]) -> usize`: copy from
//!     byte `off` across fragments; returns bytes copied.
//!   - `fn strip(&mut self, n: usize) -> bool`: advance past `n` leading
//!     bytes, across fragments (freeing emptied leading blocks); false and
//!     unchanged if the message is shorter.
//!   - `fn prepend(&mut self, n: usize, noalloc_min: usize, alloc_size: usize)
//!     -> Option<&mut [u8]>`: make `n` bytes in front of the data and return
//!     them. In place if the first block is unshared with at least
//!     `max(n, noalloc_min)` bytes of headroom; else allocate a block of
//!     `max(alloc_size, n)` bytes positioned at its end, link the message
//!     after it, and put the bytes there. `None` on allocation failure.
//!   - `fn clear_hcksum(&mut self)`: clear hardware-checksum flags (RX).
//!   - `fn first_mut(&mut self) -> Option<&mut [u8]>`: the first block's
//!     bytes, writable; `None` if the block is shared.
//!   - `fn dup(&self, headroom: usize) -> Option<MsgBlk>`: a private copy
//!     in one block with `headroom` bytes in front (head-end replication).
//! * `MsgBlkChain` (`Send + Default`): `new()`, `single(MsgBlk)`,
//!   `push_back(&mut self, MsgBlk)`, `pop_front(&mut self) -> Option<MsgBlk>`,
//!   `front(&self) -> Option<&MsgBlk>`, `is_empty()`, `len()`;
//!   `From<MsgBlk>`, `FromIterator<MsgBlk>`, and `IntoIterator<Item =
//!   MsgBlk>` consuming it in order. Building and draining a chain of one
//!   frame must not allocate. The Vec backend alone also lends a chain its
//!   list of frames (`lend(storage, free)`, [`crate::msgblk_chain_vec`]):
//!   a host that passes longer chains allocates no list per call, as the
//!   kernel's `b_next` links need none.

#[cfg(not(all(feature = "kernel", not(feature = "std"))))]
pub use crate::msgblk_chain_vec::MsgBlkChain;
#[cfg(not(all(feature = "kernel", not(feature = "std"))))]
pub use crate::msgblk_vec::MsgBlk;

#[cfg(all(feature = "kernel", not(feature = "std")))]
pub use crate::illumos::msgblk::{MsgBlk, MsgBlkChain};

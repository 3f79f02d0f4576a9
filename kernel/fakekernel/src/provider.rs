//! What the MAC layer needs from a provider: the driver's MAC callbacks
//! of one overlay device (`mac_callbacks_t`), as [`crate::mac`] and the
//! TAP readers' chains ([`crate::txchain`]) call them.

use overlay::MsgBlkChain;

/// The driver's MAC callbacks of one overlay device
/// (`mac_callbacks_t`).
pub trait ProviderOps: Send + Sync {
    /// `mc_start`: join the underlay. Err is an illumos errno.
    fn m_start(&self) -> Result<(), i32>;
    /// `mc_stop`.
    fn m_stop(&self);
    /// `mc_tx`: one frame (the callee copies it into a message block).
    fn m_tx(&self, frame: &[u8]);
    /// `mc_tx` of a chain of frames already in message blocks.
    fn m_tx_chain(&self, chain: MsgBlkChain);
}

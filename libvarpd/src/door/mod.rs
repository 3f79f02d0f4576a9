//! The varpd door: ABI, transport, and the server's dispatch.
//!
//! `abi` holds the envelope and payload layouts, `transport` the door (or
//! Unix socket) plumbing, `server` the command table of spec/userland.md
//! §1.3 run against a [`crate::Varpd`] handle. The client side is
//! [`crate::client::Client`].

pub mod abi;
pub mod server;
pub mod transport;

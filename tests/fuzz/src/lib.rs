//! Fuzz harnesses for the overlay subsystem's decoders and dispatchers.
//!
//! Theory of operation: each `fuzz_targets/<name>.rs` is a one-line
//! libFuzzer entry point that calls the harness of the same name here, so
//! the harnesses can also be replayed without libFuzzer (regression inputs,
//! `cargo test` in this crate). A harness must never panic on any input:
//! a panic is a bug in the code under test (the driver and libvarpd
//! promise "clear error or counted drop, never a panic"), unless it is one
//! of the harness's own `assert!`s, which check invariants such as "every
//! received datagram is counted exactly once".
//!
//! | harness | code under test |
//! |---|---|
//! | [`decap::run`] | `OverlayMux::recv` → VXLAN decap → vnetid demux → `mac_rx` |
//! | [`dld::run`] | `Overlay::dld_ioctl` (the `/dev/dld` ioctls) on arbitrary command numbers and bytes |
//! | [`targ::run`] | `Overlay::targ_open`/`targ_ioctl`/`targ_close` (`/dev/overlay`) with frames queuing lookups |
//! | [`door::run`] | libvarpd's door server `dispatch` on arbitrary envelopes |
//! | [`files::run`] | the `files` plugin's JSON configuration parser |
//! | [`persist::run`] | varpd's state files: decode and the whole restore of one file |
//! | [`svp::run_server`], [`svp::run_client`] | the SVP frame reader and decoders (`svp-proto`), server and client side |
//! | [`svp_reply::run`] | the svp plugin's reply path (`svp_conn_pollin`) on arbitrary server bytes |
//!
//! The `libvarpd` harnesses ([`door`], [`files`], [`persist`]) depend only on `libvarpd`
//! and `overlay-sys`, so the workspace's `overlay-tests` crate includes
//! them by path to replay regression inputs in `cargo test`.

pub mod decap;
pub mod dld;
pub mod door;
pub mod driver;
pub mod files;
pub mod input;
pub mod persist;
pub mod svp;
pub mod svp_reply;
pub mod targ;

//! fkoverlayd: the overlay driver hosted in a Linux process.
//!
//! Theory of operation: illumos runs the overlay driver in the kernel, with
//! dld, GLDv3 (MAC), the VNIC driver, ksocket and dlmgmtd around it. This
//! crate provides those services in userland around the very same
//! `overlay` crate, so the whole system (dladm, varpd, the driver) runs for
//! real on Linux between network namespaces:
//!
//! * [`server`]: the two device sockets (`/dev/dld`, `/dev/overlay`) with
//!   the framing of `docs/fkoverlayd-protocol.md`, `SO_PEERCRED` privilege;
//! * [`handles`]: open `/dev/overlay` handles shared by attached connections;
//! * [`dlmgmt`]: datalink ids, names, classes, flags and the persistent
//!   configuration file;
//! * [`mac`] and [`tap`]: the MAC layer, VNICs as TAP devices;
//!   [`provider`]: the driver's MAC callbacks as the MAC layer calls them;
//!   [`txchain`]: a burst of a TAP's frames in one `mc_tx` chain;
//!   [`txlock`]: one thread at a time reads and sends a TAP's frames;
//!   [`stackreply`]: frames whose answer a receive thread sends itself;
//! * [`vlan`]: 802.1Q tags for VNICs with a VLAN id;
//! * [`underlay`]: UDP sockets for the driver's muxes, with their send
//!   ([`udptx`]) and receive ([`udprx`]) sides;
//! * [`offload`], [`tso`], [`gro`] and [`txbatch`]: checksums, TCP
//!   segmentation and receive coalescing between TAPs and the underlay,
//!   batched UDP GSO sends; [`rxcsum`]: a same-host peer's
//!   partial inner checksums finished on receive;
//! * [`bufpool`]: per-thread pools of frame buffers (no allocation per
//!   packet); [`alloccount`]: the counting allocator that checks it;
//! * [`stats`]: counters for everything moved or dropped;
//! * [`lowlat`]: the low-latency mode's CPU latency request; [`slice`]:
//!   the short scheduler time slice of the underlay receive threads;
//! * [`zone`]: VNICs moved into zones (named network namespaces).

pub mod alloccount;
pub mod bufpool;
pub mod client;
pub mod dlmgmt;
pub mod fkcmd;
pub mod gro;
pub mod handles;
pub mod host;
pub mod lowlat;
pub mod mac;
pub mod offload;
pub mod platform;
pub mod provider;
pub mod readbuf;
pub mod rxcsum;
pub mod server;
pub mod slice;
pub mod srcport;
pub mod stackreply;
pub mod stats;
pub mod tap;
pub mod tso;
pub mod txbatch;
pub mod txchain;
pub mod txlock;
pub mod udprx;
pub mod udptx;
pub mod underlay;
pub mod vlan;
pub mod zone;

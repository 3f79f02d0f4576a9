//! libvarpd: the varpd library.
//!
//! The Rust counterpart of illumos `lib/varpd/libvarpd`: instances of search
//! plugins bound to overlay devices, the plugin interface, properties,
//! persistence, the `/dev/overlay` lookup loop, and both sides of the varpd
//! door (server and client). Also home of [`kdev::KDev`], the device client
//! used by varpd and dladm to talk to the overlay driver (real ioctls on
//! illumos, fkoverlayd's sockets on Linux).

pub mod client;
pub mod door;
pub mod errno;
pub mod handle;
pub mod instance;
pub mod kdev;
pub mod ksys;
pub mod paths;
pub mod persist;
pub mod plugin;
pub mod plugins;
pub mod proxy;
pub mod stats;
pub mod testing;

pub use errno::Errno;
pub use handle::Varpd;

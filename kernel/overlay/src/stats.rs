//! Counters hosts can read: per device ([`DevStats`]) and per mux
//! ([`MuxStats`]). illumos keeps none (drops are visible only with DTrace);
//! these make every drop reason countable without slowing the data path
//! (relaxed atomic increments, no locks).

use core::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($(#[$m:meta])* $live:ident, $snap:ident { $($(#[$fm:meta])* $f:ident),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Default)]
        pub struct $live { $($(#[$fm])* pub $f: AtomicU64,)* }

        /// A snapshot of the counters.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $snap { $($(#[$fm])* pub $f: u64,)* }

        impl $live {
            pub fn snapshot(&self) -> $snap {
                $snap { $($f: self.$f.load(Ordering::Relaxed),)* }
            }
        }
    };
}

counters!(
    /// Per-device data-path counters.
    DevStats, DevCounters {
        /// Frames encapsulated and handed to the socket.
        tx_frames,
        /// Bytes of those frames (inner frame length).
        tx_bytes,
        /// Frames dropped because the device is stopping or not started.
        tx_drop_not_started,
        /// Frames dropped: no target (never associated).
        tx_drop_no_target,
        /// Frames dropped by the target lookup (DROP entry, bad L2 header,
        /// unsupported destination type, allocation failure).
        tx_drop_lookup,
        /// Frames queued on an unresolved cache entry (lookup pending).
        tx_queued,
        /// Frames dropped: the entry's queue was full (128 KiB).
        tx_drop_queue_full,
        /// Frames dropped: encapsulation failed (and the rest of the chain).
        tx_drop_encap,
        /// Frames dropped: the socket send failed (and the rest of the chain).
        tx_drop_send,
        /// Frames delivered up (`mac_rx`) from the mux.
        rx_frames,
        /// Bytes of those frames.
        rx_bytes,
        /// Frames injected by varpd (INJECT).
        rx_injected,
        /// Head-end replication: frames replicated to the flood list.
        tx_flood_frames,
        /// Head-end replication: datagrams sent (one per destination).
        tx_flood_copies,
        /// Head-end replication: copies lost (allocation, encapsulation or
        /// send failure).
        tx_flood_drops,
    }
);

counters!(
    /// Per-mux receive counters.
    MuxStats, MuxCounters {
        /// Frames delivered to a device.
        rx_ok,
        /// Datagrams shorter than 8 bytes (no room for any header).
        rx_drop_short,
        /// Datagrams the plugin's decap rejected (VXLAN: I flag clear).
        rx_drop_decap,
        /// No device with the datagram's vnetid in this mux.
        rx_drop_unknown_vnetid,
        /// The device is stopping.
        rx_drop_not_started,
        /// Nothing left after stripping the header.
        rx_drop_empty,
        /// RFC 6040: an outer CE on a Not-ECT inner packet (dropped).
        rx_drop_ecn,
        /// RFC 6040: an outer CE (or ECT(1)) written into the inner header.
        rx_ecn_marked,
        /// RFC 6040: a change was due but the inner IP header was not
        /// writable in the first block; delivered unchanged.
        rx_ecn_unwritable,
    }
);

pub(crate) fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

pub(crate) fn sub(c: &AtomicU64, n: u64) {
    c.fetch_sub(n, Ordering::Relaxed);
}

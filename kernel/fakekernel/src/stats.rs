//! fkoverlayd's counters: every frame or datagram it drops is counted here
//! by reason, together with the traffic it moved. `FK_STATS` on the dld
//! socket returns them as name/value pairs and `fkoverlayd stats` prints
//! them.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! stats {
    ($($v:ident => $n:literal: $doc:literal,)*) => {
        /// A counter.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Stat { $(#[doc = $doc] $v,)* }

        impl Stat {
            /// Every counter, in reporting order.
            pub const ALL: &'static [Stat] = &[$(Stat::$v,)*];

            /// The counter's reported name.
            pub fn name(self) -> &'static str {
                match self { $(Stat::$v => $n,)* }
            }
        }
    };
}

stats! {
    TapRxFrames => "tap_rx_frames": "frames read from VNIC TAPs",
    TapRxRunt => "tap_rx_runt_drops": "frames from a TAP shorter than an Ethernet header",
    TapRxReplyFrames => "tap_rx_reply_frames": "frames read from VNIC TAPs (in tap_rx_frames) by an underlay receive thread right after its writes to them (replies the VNIC's stack produced at once), sent without waking the TAP's reader",
    TapRxErrors => "tap_rx_errors": "read errors on TAPs",
    LocalUnicast => "local_unicast": "unicast frames switched between VNICs of one overlay",
    LocalFlood => "local_flood": "broadcast/multicast copies delivered to other local VNICs",
    ToOverlay => "overlay_tx": "frames handed to the overlay's mc_tx",
    OverlayDownDrops => "overlay_down_drops": "frames from a VNIC whose overlay is gone",
    MacRxFrames => "mac_rx_frames": "frames delivered up by the driver (mac_rx)",
    MacRxRunt => "mac_rx_runt_drops": "frames from the driver shorter than an Ethernet header",
    MacRxNoClient => "mac_rx_no_client_drops": "unicast frames from the driver for no local VNIC",
    MacRxCsumPartial => "mac_rx_csum_partial": "frames from the driver whose inner TCP/UDP checksum was a same-host sender's partial sum, finished before delivery",
    MacRxGsoPartial => "mac_rx_gso_partial": "frames from the driver longer than the VNIC's MTU with a partial TCP checksum (a same-host sender's TSO), handed to the VNIC as GSO frames",
    MacRxVlanDrops => "mac_rx_vlan_drops": "frames from the driver for a VLAN id (0: untagged) that no local VNIC has",
    VlanRxUntagged => "vlan_rx_untagged": "tagged frames from the driver whose tag was removed for a VLAN VNIC",
    VlanTxTagged => "vlan_tx_tagged": "frames from VLAN VNICs tagged on their way to the overlay's mc_tx",
    TapRxVlanDrops => "tap_rx_vlan_drops": "frames a VLAN VNIC's TAP sent with a tag of their own",
    VnicWriteDown => "vnic_write_down_drops": "frames for a VNIC whose TAP is down",
    VnicWriteFull => "vnic_write_full_drops": "frames for a VNIC whose TAP queue is full",
    VnicWriteErrors => "vnic_write_errors": "other TAP write failures",
    UdpRxDatagrams => "udp_rx_datagrams": "datagrams received on underlay sockets",
    UdpRxTruncated => "udp_rx_truncated_drops": "datagrams larger than 64 KiB",
    UdpRxErrors => "udp_rx_errors": "receive errors on underlay sockets",
    UdpRxPoolDrops => "udp_rx_pool_drops": "datagrams that reached a source-port pool socket (peers send to the listen port) and were dropped",
    UdpSrcPoolShort => "udp_src_pool_short": "source-port pool sockets that could not be bound",
    UdpTxDatagrams => "udp_tx_datagrams": "datagrams sent on underlay sockets",
    UdpTxGsoSends => "udp_tx_gso_sends": "UDP GSO messages sent (each several datagrams, counted in udp_tx_datagrams)",
    UdpTxGsoFallbacks => "udp_tx_gso_fallbacks": "GSO messages the kernel refused, resent one datagram at a time",
    UdpTxFull => "udp_tx_full_drops": "datagrams dropped because the socket buffer was full",
    UdpTxTooBig => "udp_tx_too_big_drops": "datagrams larger than the underlay path MTU (never fragmented: RFC 7348)",
    UdpTxErrors => "udp_tx_errors": "other send failures",
    ConnBadFrames => "conn_bad_frames": "device-socket connections closed for a malformed frame",
    TapRxOffloadDrops => "tap_rx_offload_drops": "TSO or checksum-offload frames from a TAP that could not be segmented or finished",
    TapTsoFrames => "tap_tso_frames": "TSO frames from TAPs cut to wire size",
    TapTsoSegments => "tap_tso_segments": "frames those TSO frames were cut into",
    VnicGroFrames => "vnic_gro_frames": "merged TCP frames written to VNICs",
    VnicGroSegments => "vnic_gro_segments": "segments merged into those frames",
    LowLatencyHolds => "low_latency_holds": "CPU latency requests taken by the low-latency mode (one per period of traffic)",
    LowLatencyHeldMs => "low_latency_held_ms": "milliseconds the low-latency mode held its CPU latency request",
    CopyBytes => "datapath_copy_bytes": "frame bytes copied in fkoverlayd between system calls, other than the headers it puts in header blocks (a frame's bytes up to its TCP/UDP header's end, or its Ethernet header): the rest of the first 128 bytes of a frame without a TCP/UDP header, frames flattened on slow paths (TCP to a group address, a received frame in pieces)",
}

/// The counter set.
#[derive(Debug)]
pub struct Stats {
    v: Vec<AtomicU64>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            v: Stat::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Stats {
    /// Adds one.
    pub fn bump(&self, s: Stat) {
        self.add(s, 1);
    }

    /// Adds `n`.
    pub fn add(&self, s: Stat, n: u64) {
        if let Some(c) = self.v.get(s as usize) {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The current value.
    pub fn get(&self, s: Stat) -> u64 {
        self.v
            .get(s as usize)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Every counter as (name, value), and `datapath_allocs`: heap
    /// allocations on data-path threads ([`crate::alloccount`]; 0 unless
    /// the program installed the counting allocator, as fkoverlayd does).
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        let mut v: Vec<(&'static str, u64)> =
            Stat::ALL.iter().map(|&s| (s.name(), self.get(s))).collect();
        v.push(("datapath_allocs", crate::alloccount::datapath_allocs()));
        v
    }
}

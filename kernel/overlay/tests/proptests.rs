//! Property tests: bad input never panics (decap, receive, both ioctl
//! dispatchers), and VXLAN encap→decap round-trips every VNI and frame.
mod common;
use common::*;
use overlay::sys::*;
use overlay::vxlan::Vxlan;
use overlay::{BufUserIo, EncapInfo, EncapPlugin, MsgBlk};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn decap_never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
        let r = Vxlan.decap(&MsgBlk::from_vec(b.clone()));
        if b.len() >= 8 && b[0] & 0x08 != 0 {
            let i = r.unwrap();
            prop_assert_eq!(i.hdr_size, 8);
            prop_assert_eq!(i.id, u32::from_be_bytes([b[4], b[5], b[6], 0]) as u64 >> 8);
        } else {
            prop_assert!(r.is_err());
        }
    }

    #[test]
    fn encap_decap_round_trip(vni in 0u32..=0xff_ffff, frame in proptest::collection::vec(any::<u8>(), 0..1600), headroom in 0usize..200) {
        let inst = Vxlan.init().unwrap();
        let mut m = MsgBlk::copy_from(headroom, &frame).unwrap();
        inst.encap(&mut m, &EncapInfo { id: vni as u64, hdr_size: 0 }).unwrap();
        prop_assert_eq!(m.len(), frame.len() + 8);
        let i = Vxlan.decap(&m).unwrap();
        prop_assert_eq!(i.id, vni as u64);
        prop_assert!(m.strip(i.hdr_size));
        prop_assert_eq!(m.to_vec(), frame);
    }

    #[test]
    fn mux_recv_never_panics(b in proptest::collection::vec(any::<u8>(), 0..128)) {
        let o = new();
        let h = open_varpd(&o);
        up(&o, h, 1, 5, OVERLAY_TARGET_POINT);
        o.platform().deliver(&listen_addr(), &b);
        let s = o.muxes()[0].stats();
        let total = s.rx_ok + s.rx_drop_short + s.rx_drop_decap + s.rx_drop_unknown_vnetid + s.rx_drop_empty + s.rx_drop_not_started;
        prop_assert_eq!(total, 1, "every datagram is delivered or counted");
    }

    #[test]
    fn dld_ioctl_never_panics(cmd in prop_oneof![0x20050000u32..0x2005000a, any::<u32>()], arg in proptest::collection::vec(any::<u8>(), 0..700), lid in 0u32..3) {
        let o = new();
        assert_eq!(create(&o, 1, 1), 0);
        let mut arg = arg;
        if arg.len() >= 4 {
            arg[..4].copy_from_slice(&lid.to_ne_bytes());
        }
        let (e, out) = o.dld_ioctl(cmd, &arg, &ROOT);
        if let Some(info) = dld_ioc_info(cmd) {
            if info.copyout && arg.len() >= info.size {
                prop_assert_eq!(out.len(), info.size);
            }
        } else {
            prop_assert_eq!(e, overlay::sys::errno::ENOTSUP);
        }
    }

    #[test]
    fn targ_ioctl_never_panics(n in 0u32..0x40, arg in proptest::collection::vec(any::<u8>(), 0..400), data in proptest::collection::vec(any::<u8>(), 0..64), ilp32 in any::<bool>()) {
        let o = new();
        let h = open_varpd(&o);
        up(&o, h, 1, 1, OVERLAY_TARGET_DYNAMIC);
        tx(&o, 1, frame(DST));
        let mut arg = arg;
        if arg.len() >= 4 && n != 0x20 {
            arg[..4].copy_from_slice(&1u32.to_ne_bytes());
        }
        let mut u = BufUserIo::with_data(&arg, &data);
        u.ilp32 = ilp32;
        let cmd = OVERLAY_TARG_IOCTL | n;
        // LOOKUP would block a second when the queue is empty; keep it.
        let _ = o.targ_ioctl(h, cmd, &mut u, &ROOT);
    }
}

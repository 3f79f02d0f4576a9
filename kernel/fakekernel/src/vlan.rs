//! 802.1Q tags between VLAN VNICs and the overlay.
//!
//! Theory of operation: a VNIC created with a VLAN id (`dladm create-vnic
//! -v`) is, as on illumos, a MAC client with a VID. Its user (the TAP, as a
//! zone on illumos) sends and receives untagged frames; the MAC layer puts
//! the tag on what the client sends toward the overlay ([`tag_insert`]) and
//! classifies what the overlay delivers by the tag's VLAN id, removing the
//! tag before the client sees it ([`tag_strip_in_place`]). An untagged VNIC (VID 0)
//! sees only untagged frames, and priority-tagged frames (VID 0 in the tag).
//!
//! The tag is TPID 0x8100 then the TCI: priority 0, CFI 0, the 12-bit VLAN
//! id (`VLAN_TCI(0, ETHER_CFI, vid)`). A tag goes in after the source MAC
//! address, so the inner L2 header grows from 14 to 18 bytes; checksums and
//! TCP segmentation are done on the untagged frame before the tag goes in,
//! and the receive side merges segments (GRO) after the tag came out, so the
//! offload offsets always see a plain Ethernet header.

use overlay::MsgBlk;

/// `ETHERTYPE_VLAN`, the 802.1Q TPID.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// `VLAN_TAGSZ`.
pub const VLAN_TAGSZ: usize = 4;
/// `VLAN_ID_MASK`.
pub const VLAN_ID_MASK: u16 = 0x0fff;
/// The largest VLAN id a VNIC may have (`VLAN_ID_MAX`; 4095 is reserved).
pub const VLAN_ID_MAX: u16 = 4094;

/// Offset of the TPID (after the destination and source addresses).
const TPID_OFF: usize = 12;

/// The VLAN id of `frame`'s 802.1Q tag, or `None` if it has no (complete)
/// tag. A priority tag gives `Some(0)`.
pub fn frame_vid(frame: &[u8]) -> Option<u16> {
    let t = frame.get(TPID_OFF..TPID_OFF + VLAN_TAGSZ)?;
    if u16::from_be_bytes([t[0], t[1]]) != ETHERTYPE_VLAN {
        return None;
    }
    Some(u16::from_be_bytes([t[2], t[3]]) & VLAN_ID_MASK)
}

/// Whether `frame` carries an 802.1Q TPID where the ethertype goes.
pub fn is_tagged(frame: &[u8]) -> bool {
    frame
        .get(TPID_OFF..TPID_OFF + 2)
        .is_some_and(|t| u16::from_be_bytes([t[0], t[1]]) == ETHERTYPE_VLAN)
}

/// Puts a tag for `vid` into `m` (an untagged frame of at least 12 bytes),
/// using its headroom when there is some. False (and `m` unchanged) when
/// the frame is too short or no memory could be had.
pub fn tag_insert(m: &mut MsgBlk, vid: u16) -> bool {
    if m.len() < TPID_OFF {
        return false;
    }
    if m.headroom() < VLAN_TAGSZ || m.first().len() < TPID_OFF {
        // The tag goes in place, the addresses in the first block: make
        // it so (rare: the data path's frames have headroom).
        match m.dup(VLAN_TAGSZ) {
            Some(d) => *m = d,
            None => return false,
        }
    }
    if m.prepend(VLAN_TAGSZ, 0, VLAN_TAGSZ).is_none() {
        return false;
    }
    let Some(d) = m.first_mut() else {
        return false;
    };
    // The addresses move 4 bytes forward, the tag fills the gap.
    d.copy_within(VLAN_TAGSZ..VLAN_TAGSZ + TPID_OFF, 0);
    d[TPID_OFF..TPID_OFF + 2].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
    d[TPID_OFF + 2..TPID_OFF + 4].copy_from_slice(&(vid & VLAN_ID_MASK).to_be_bytes());
    true
}

/// `frame` with its tag removed, written into `out` (cleared first).
/// `frame` must be tagged ([`frame_vid`] is `Some`).
pub fn tag_strip(frame: &[u8], out: &mut Vec<u8>) {
    out.clear();
    if frame.len() < TPID_OFF + VLAN_TAGSZ {
        out.extend_from_slice(frame);
        return;
    }
    out.reserve(frame.len() - VLAN_TAGSZ);
    out.extend_from_slice(&frame[..TPID_OFF]);
    out.extend_from_slice(&frame[TPID_OFF + VLAN_TAGSZ..]);
}

/// Removes the tag of `frame` (tagged, at least 16 bytes) in place: the
/// addresses move 4 bytes back over the tag; returns the untagged frame,
/// which starts 4 bytes into `frame`.
pub fn tag_strip_in_place(frame: &mut [u8]) -> &mut [u8] {
    if frame.len() < TPID_OFF + VLAN_TAGSZ {
        return frame;
    }
    frame.copy_within(0..TPID_OFF, VLAN_TAGSZ);
    &mut frame[VLAN_TAGSZ..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> Vec<u8> {
        let mut f = vec![0xffu8; 6];
        f.extend_from_slice(&[2, 8, 0x20, 1, 2, 3]);
        f.extend_from_slice(&[0x08, 0x06]);
        f.extend_from_slice(&[0xaa; 28]);
        f
    }

    #[test]
    fn insert_then_strip_round_trips() {
        let f = frame();
        let mut m = MsgBlk::with_headroom(&f);
        assert!(tag_insert(&mut m, 5));
        let t = m.to_vec();
        assert_eq!(t.len(), f.len() + 4);
        assert_eq!(&t[..12], &f[..12]);
        assert_eq!(&t[12..16], &[0x81, 0x00, 0x00, 0x05]);
        assert_eq!(&t[16..], &f[12..]);
        assert_eq!(frame_vid(&t), Some(5));
        assert!(is_tagged(&t));
        let mut out = Vec::new();
        tag_strip(&t, &mut out);
        assert_eq!(out, f);
        let mut t2 = t.clone();
        assert_eq!(tag_strip_in_place(&mut t2), &f[..]);
        let mut short = [0x81u8; 15];
        assert_eq!(tag_strip_in_place(&mut short).len(), 15);
        assert_eq!(frame_vid(&f), None);
    }

    #[test]
    fn insert_without_headroom_and_with_a_large_id() {
        let f = frame();
        let mut m = MsgBlk::from_vec(f.clone());
        assert!(tag_insert(&mut m, 0xffff));
        let t = m.to_vec();
        assert_eq!(frame_vid(&t), Some(0x0fff));
        assert_eq!(&t[16..], &f[12..]);
    }

    #[test]
    fn short_frames_are_refused_or_untagged() {
        let mut m = MsgBlk::from_vec(vec![1, 2, 3]);
        assert!(!tag_insert(&mut m, 5));
        assert_eq!(m.len(), 3);
        assert_eq!(frame_vid(&[0u8; 15]), None);
        let mut t = vec![0u8; 12];
        t.extend_from_slice(&[0x81, 0x00, 0x20, 0x07]);
        // Priority 1, VID 7.
        assert_eq!(frame_vid(&t), Some(7));
        let mut p = vec![0u8; 12];
        p.extend_from_slice(&[0x81, 0x00, 0xe0, 0x00, 0x08, 0x00]);
        assert_eq!(frame_vid(&p), Some(0));
    }
}

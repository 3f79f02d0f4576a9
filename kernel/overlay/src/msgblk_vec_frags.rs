//! Messages of several blocks, private and shared: every operation of the
//! `MsgBlk` contract over random block layouts equals the same operation
//! on a flat `Vec` model.

use super::*;
use crate::dblk_vec::Dblk;
use alloc::vec;
use proptest::prelude::*;

/// One block of a generated message: its bytes, whether it is a region
/// of a shared buffer, and its headroom if private.
#[derive(Debug, Clone)]
struct Part {
    bytes: Vec<u8>,
    shared: bool,
    headroom: usize,
}

fn part() -> impl Strategy<Value = Part> {
    (
        proptest::collection::vec(any::<u8>(), 0..40),
        any::<bool>(),
        0usize..80,
    )
        .prop_map(|(bytes, shared, headroom)| Part {
            bytes,
            shared,
            headroom,
        })
}

#[derive(Debug, Clone)]
enum Op {
    Strip(usize),
    Prepend(usize, usize, usize, u8),
    CopyOut(usize, usize),
    FirstMut(u8),
    Pullup(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0usize..100).prop_map(Op::Strip),
        (0usize..70, 0usize..70, 0usize..130, any::<u8>())
            .prop_map(|(n, m, a, b)| Op::Prepend(n, m, a, b)),
        (0usize..120, 0usize..120).prop_map(|(o, l)| Op::CopyOut(o, l)),
        any::<u8>().prop_map(Op::FirstMut),
        (0usize..64).prop_map(Op::Pullup),
    ]
}

/// The message of `parts` (over `db` for the shared ones) and its model.
fn build(parts: &[Part], db: &mut Dblk) -> (MsgBlk, Vec<u8>) {
    let mut model = Vec::new();
    let mut msg: Option<MsgBlk> = None;
    for p in parts.iter().take(MAX_BLKS) {
        model.extend_from_slice(&p.bytes);
        let m = if p.shared {
            db.tail_mut()[1..1 + p.bytes.len()].copy_from_slice(&p.bytes);
            db.share(1, p.bytes.len()).unwrap()
        } else {
            MsgBlk::copy_from(p.headroom, &p.bytes).unwrap()
        };
        match &mut msg {
            None => msg = Some(m),
            Some(h) => h.link(m).unwrap(),
        }
    }
    (msg.unwrap_or_else(|| MsgBlk::from_vec(Vec::new())), model)
}

proptest! {
    #[test]
    fn fragments_behave_as_one_flat_buffer(
        parts in proptest::collection::vec(part(), 1..=MAX_BLKS),
        ops in proptest::collection::vec(op(), 0..12),
    ) {
        let mut db = Dblk::new(Vec::with_capacity(4096), None);
        let (mut m, mut model) = build(&parts, &mut db);
        for o in ops {
            prop_assert_eq!(m.len(), model.len());
            prop_assert!(m.nblocks() >= 1 && m.nblocks() <= MAX_BLKS);
            if m.is_shared() {
                prop_assert_eq!(m.headroom(), 0);
                prop_assert!(m.first_mut().is_none());
            }
            match o {
                Op::Strip(n) => {
                    let ok = m.strip(n);
                    prop_assert_eq!(ok, n <= model.len());
                    if ok {
                        model.drain(..n);
                    }
                }
                Op::Prepend(n, min, alloc, b) => {
                    let room = m.headroom();
                    let blks = m.nblocks();
                    let first_shared = m.is_shared();
                    let h = m.prepend(n, min, alloc).unwrap();
                    prop_assert_eq!(h.len(), n);
                    h.fill(b);
                    let mut v = vec![b; n];
                    v.extend_from_slice(&model);
                    model = v;
                    if !first_shared && room >= n.max(min) {
                        prop_assert_eq!(m.nblocks(), blks, "prepended in place");
                        prop_assert_eq!(m.headroom(), room - n);
                    } else {
                        prop_assert_eq!(m.headroom(), alloc.max(n) - n);
                    }
                }
                Op::CopyOut(off, len) => {
                    let mut d = vec![0u8; len];
                    let n = m.copy_out(off, &mut d);
                    let want = model.get(off..).map_or(&[][..], |t| &t[..t.len().min(len)]);
                    prop_assert_eq!(&d[..n], want);
                }
                Op::FirstMut(b) => {
                    let shared = m.is_shared();
                    let k = m.first().len();
                    match m.first_mut() {
                        Some(f) => {
                            prop_assert!(!shared);
                            f.fill(b);
                            model[..k].fill(b);
                        }
                        None => prop_assert!(shared),
                    }
                }
                Op::Pullup(h) => {
                    let was_one_private = m.nblocks() == 1 && !m.is_shared();
                    let room = m.headroom();
                    prop_assert!(m.pullup(h));
                    prop_assert_eq!(m.nblocks(), 1);
                    prop_assert!(!m.is_shared());
                    prop_assert_eq!(m.headroom(), if was_one_private { room } else { h });
                }
            }
            prop_assert_eq!(m.to_vec(), model.clone());
            let flat: Vec<u8> = m.blocks().flatten().copied().collect();
            prop_assert_eq!(flat, model.clone());
            let d = m.dup(7).unwrap();
            prop_assert_eq!((d.to_vec(), d.headroom(), d.nblocks()), (model.clone(), 7, 1));
        }
        // Every shared region is given back with the message.
        drop(m);
        prop_assert!(db.is_unique());
    }
}

#[test]
fn shared_first_block_gets_a_fresh_block_in_front() {
    let mut db = Dblk::new(Vec::with_capacity(256), None);
    db.tail_mut()[..60].fill(9);
    let mut m = db.share(0, 60).unwrap();
    // The outer headers of a received datagram are stripped in place.
    assert!(m.strip(50));
    assert_eq!((m.len(), m.headroom(), m.nblocks()), (10, 0, 1));
    assert!(m.first_mut().is_none());
    // The host may still rewrite its own region.
    m.first_region_mut()[0] = 1;
    m.prepend(8, 54, 128).unwrap().fill(2);
    assert_eq!(m.nblocks(), 2);
    assert_eq!(m.headroom(), 120);
    let mut want = vec![2u8; 8];
    want.push(1);
    want.extend_from_slice(&[9; 9]);
    assert_eq!(m.to_vec(), want);
    // A clone never shares the region.
    let c = m.clone();
    assert_eq!((c.to_vec(), c.nblocks()), (want, 1));
    drop(m);
    assert!(db.is_unique());
}

#[test]
fn a_full_message_is_pulled_up_before_a_fresh_block() {
    let mut m = MsgBlk::from_vec(b"a".to_vec());
    for t in [b"b", b"c"] {
        m.link(MsgBlk::from_vec(t.to_vec())).unwrap();
    }
    assert_eq!(m.nblocks(), MAX_BLKS);
    assert!(m.link(MsgBlk::from_vec(b"e".to_vec())).is_err());
    m.prepend(2, 0, 2).unwrap().copy_from_slice(b"xy");
    assert_eq!((m.to_vec(), m.nblocks()), (b"xyabc".to_vec(), 2));
    // Stripping across blocks frees the emptied leading ones.
    assert!(m.strip(3));
    assert_eq!((m.first(), m.nblocks()), (&b"bc"[..], 1));
}

#[test]
fn a_message_is_small_enough_to_move_around() {
    assert!(core::mem::size_of::<MsgBlk>() <= 120);
}

mod shared {
    use super::*;
    use core::sync::atomic::{AtomicUsize, Ordering};

    static BACK: AtomicUsize = AtomicUsize::new(0);
    fn back(d: Dblk) {
        assert!(d.is_unique());
        BACK.fetch_add(1, Ordering::Relaxed);
        d.free_now();
    }

    #[test]
    fn regions_share_one_buffer_and_it_comes_back_after_the_last() {
        let mut d = Dblk::new(Vec::with_capacity(64), Some(back));
        assert_eq!(d.cap(), 64);
        d.tail_mut()[..10].copy_from_slice(b"0123456789");
        let a = d.share(0, 4).unwrap();
        let b = d.share(1, 3).unwrap();
        assert_eq!(d.carved(), 8);
        assert_eq!(a.to_vec(), b"0123");
        assert_eq!(b.to_vec(), b"567");
        assert_eq!(&d.tail()[..2], b"89");
        assert!(d.share(0, 57).is_none());
        assert!(!d.reset());
        drop(a);
        assert!(!d.is_unique());
        drop(b);
        assert!(d.reset());
        assert_eq!(d.carved(), 0);
        let before = BACK.load(Ordering::Relaxed);
        let c = d.share(0, 2).unwrap();
        drop(d);
        assert_eq!(BACK.load(Ordering::Relaxed), before);
        drop(c);
        assert_eq!(BACK.load(Ordering::Relaxed), before + 1);
    }

    #[cfg(feature = "std")]
    #[test]
    fn last_reference_on_another_thread_frees_it() {
        let mut d = Dblk::new(Vec::with_capacity(16), None);
        let m = d.share(0, 16).unwrap();
        drop(d);
        std::thread::spawn(move || assert_eq!(m.len(), 16))
            .join()
            .unwrap();
    }
}

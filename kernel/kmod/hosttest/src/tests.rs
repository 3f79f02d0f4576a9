use crate::illumos::ffi::mblk_t;
use crate::illumos::msgblk::{MsgBlk, MsgBlkChain};
use crate::illumos::sync::{KCondvar, KMutex, Moment};
use crate::mock::{self, LIVE_BLOCKS};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

/// Tests share the mock's global counters: run them one at a time and
/// check that each leaves no block behind.
fn serial() -> MutexGuard<'static, ()> {
    static L: Mutex<()> = Mutex::new(());
    let g = L.lock().unwrap_or_else(|p| p.into_inner());
    assert_eq!(
        LIVE_BLOCKS.load(Ordering::SeqCst),
        0,
        "a previous test leaked"
    );
    g
}

fn live() -> i64 {
    LIVE_BLOCKS.load(Ordering::SeqCst)
}

fn bytes(m: &MsgBlk) -> Vec<u8> {
    let mut v = vec![0; m.len()];
    assert_eq!(m.copy_out(0, &mut v), m.len());
    v
}

fn blocks(m: &MsgBlk) -> usize {
    let mut n = 0;
    let raw = m as *const MsgBlk as *const *mut mblk_t;
    // SAFETY: MsgBlk is repr(transparent) over a non-null mblk_t pointer.
    let mut b = unsafe { *raw };
    while !b.is_null() {
        n += 1;
        // SAFETY: live block.
        b = unsafe { (*b).b_cont };
    }
    n
}

#[test]
fn copy_from_len_first_headroom_copy_out() {
    let _g = serial();
    {
        let data: Vec<u8> = (0..100u8).collect();
        let m = MsgBlk::copy_from(64, &data).unwrap();
        assert_eq!(live(), 1);
        assert_eq!(m.len(), 100);
        assert!(!m.is_empty());
        assert_eq!(m.first(), &data[..]);
        assert_eq!(m.headroom(), 64);
        let mut b = [0u8; 10];
        assert_eq!(m.copy_out(95, &mut b), 5);
        assert_eq!(&b[..5], &data[95..]);
        assert_eq!(m.copy_out(200, &mut b), 0);
        let e = MsgBlk::copy_from(0, &[]).unwrap();
        assert!(e.is_empty());
        assert_eq!(e.headroom(), 0);
    }
    assert_eq!(live(), 0);
}

#[test]
fn prepend_in_place_when_headroom_allows() {
    let _g = serial();
    {
        let mut m = MsgBlk::copy_from(64, b"payload").unwrap();
        let calls = mock::ALLOCB_CALLS.load(Ordering::SeqCst);
        let h = m.prepend(8, 54, 128).unwrap();
        h.copy_from_slice(b"VXLANHDR");
        assert_eq!(
            mock::ALLOCB_CALLS.load(Ordering::SeqCst),
            calls,
            "no allocation"
        );
        assert_eq!(bytes(&m), b"VXLANHDRpayload");
        assert_eq!(m.headroom(), 56);
        assert_eq!(blocks(&m), 1);
    }
    assert_eq!(live(), 0);
}

#[test]
fn prepend_allocates_when_headroom_short_or_block_shared() {
    let _g = serial();
    {
        // Headroom 20 < noalloc_min 54: a new 128-byte block in front.
        let mut m = MsgBlk::copy_from(20, b"frame").unwrap();
        m.prepend(8, 54, 128).unwrap().copy_from_slice(b"HDRHDRHD");
        assert_eq!(blocks(&m), 2);
        assert_eq!(live(), 2);
        assert_eq!(bytes(&m), b"HDRHDRHDframe");
        assert_eq!(m.first(), b"HDRHDRHD");
        // The header sits at the end of the new block: 120 bytes before it.
        assert_eq!(m.headroom(), 120);
        // A header larger than alloc_size gets a block of its own size.
        let mut m2 = MsgBlk::copy_from(0, b"x").unwrap();
        let h = m2.prepend(200, 54, 128).unwrap();
        assert_eq!(h.len(), 200);
        assert_eq!(m2.len(), 201);
        assert_eq!(m2.headroom(), 0);
    }
    assert_eq!(live(), 0);
    {
        // A shared data block reports no headroom and is never written.
        let m = MsgBlk::copy_from(64, b"shared").unwrap();
        let raw = m.into_raw().cast::<mblk_t>();
        let dup = mock::dupb(raw);
        // SAFETY: both are live mock messages we own.
        let (mut a, b) = unsafe {
            (
                MsgBlk::from_raw(raw.cast()).unwrap(),
                MsgBlk::from_raw(dup.cast()).unwrap(),
            )
        };
        assert_eq!(a.headroom(), 0);
        a.prepend(4, 0, 16).unwrap().copy_from_slice(b"HDR!");
        assert_eq!(bytes(&a), b"HDR!shared");
        assert_eq!(bytes(&b), b"shared", "the other reference is untouched");
    }
    assert_eq!(live(), 0);
}

#[test]
fn strip_across_fragments_frees_emptied_blocks() {
    let _g = serial();
    {
        let mut m = MsgBlk::copy_from(10, b"0123456789").unwrap();
        m.prepend(6, 54, 6).unwrap().copy_from_slice(b"abcdef");
        assert_eq!(blocks(&m), 2);
        // Longer than the message: refused, unchanged.
        assert!(!m.strip(17));
        assert_eq!(bytes(&m), b"abcdef0123456789");
        // Within the first block.
        assert!(m.strip(2));
        assert_eq!(bytes(&m), b"cdef0123456789");
        // Exactly the first block: it is freed.
        assert!(m.strip(4));
        assert_eq!(blocks(&m), 1);
        assert_eq!(live(), 1);
        assert_eq!(bytes(&m), b"0123456789");
        // Across: build two blocks again and strip past the first.
        m.prepend(3, 54, 3).unwrap().copy_from_slice(b"xyz");
        assert!(m.strip(5));
        assert_eq!(blocks(&m), 1);
        assert_eq!(bytes(&m), b"23456789");
        // Everything: the last block stays, empty.
        assert!(m.strip(8));
        assert!(m.is_empty());
        assert_eq!(live(), 1);
    }
    assert_eq!(live(), 0);
}

#[test]
fn clear_hcksum_calls_mac() {
    let _g = serial();
    let before = mock::HCKSUM_CALLS.load(Ordering::SeqCst);
    let mut m = MsgBlk::copy_from(0, b"rx").unwrap();
    m.clear_hcksum();
    assert_eq!(mock::HCKSUM_CALLS.load(Ordering::SeqCst), before + 1);
}

#[test]
fn chain_push_pop_iterate_and_raw_round_trip() {
    let _g = serial();
    {
        let mut c = MsgBlkChain::new();
        assert!(c.is_empty());
        assert!(c.pop_front().is_none());
        for i in 0..5u8 {
            c.push_back(MsgBlk::copy_from(0, &[i; 3]).unwrap());
        }
        assert_eq!(c.len(), 5);
        assert_eq!(c.front().unwrap().first(), &[0, 0, 0]);
        let first = c.pop_front().unwrap();
        assert_eq!(first.first(), &[0, 0, 0]);
        assert_eq!(c.len(), 4);
        // Round trip through a raw b_next chain, as MAC and ksocket pass it.
        let raw = c.into_raw();
        assert!(!raw.is_null());
        // SAFETY: raw is the chain we just gave up.
        let c = unsafe { MsgBlkChain::from_raw(raw) };
        assert_eq!(c.len(), 4);
        let got: Vec<u8> = c.into_iter().map(|m| m.first()[0]).collect();
        assert_eq!(got, vec![1, 2, 3, 4]);
        // A popped message is alone: its b_next is NULL.
        let p = first.into_raw().cast::<mblk_t>();
        // SAFETY: p is the live message we gave up.
        unsafe {
            assert!((*p).b_next.is_null());
            drop(MsgBlk::from_raw(p.cast()));
        }
        // Dropping a non-empty chain frees every message.
        let c: MsgBlkChain = (0..3)
            .map(|_| MsgBlk::copy_from(8, b"z").unwrap())
            .collect();
        assert_eq!(live(), 3);
        drop(c);
        assert_eq!(live(), 0);
        // An empty chain's raw form is NULL, and NULL is an empty chain.
        assert!(MsgBlkChain::new().into_raw().is_null());
        // SAFETY: NULL is allowed.
        assert!(unsafe { MsgBlkChain::from_raw(std::ptr::null_mut()) }.is_empty());
        let s = MsgBlkChain::single(MsgBlk::copy_from(0, b"1").unwrap());
        assert_eq!(s.len(), 1);
        let f: MsgBlkChain = MsgBlk::copy_from(0, b"2").unwrap().into();
        assert_eq!(f.len(), 1);
    }
    assert_eq!(live(), 0);
}

#[test]
fn kmutex_excludes_and_condvar_wakes() {
    let _g = serial();
    let m = Arc::new(KMutex::new(0u64));
    let cv = Arc::new(KCondvar::new());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (m, cv) = (m.clone(), cv.clone());
            std::thread::spawn(move || {
                for _ in 0..1000 {
                    *m.lock() += 1;
                }
                cv.broadcast();
            })
        })
        .collect();
    {
        let mut g = m.lock();
        while *g < 4000 {
            g = cv.wait(g);
        }
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*m.lock(), 4000);
    let destroys = mock::MUTEX_DESTROYS.load(Ordering::SeqCst);
    let v = Arc::try_unwrap(m).ok().unwrap().into_inner();
    assert_eq!(v, 4000);
    assert_eq!(mock::MUTEX_DESTROYS.load(Ordering::SeqCst), destroys + 1);
}

#[test]
fn condvar_wait_until_times_out_and_moment_is_monotonic() {
    let _g = serial();
    let m = KMutex::new(());
    let cv = KCondvar::new();
    let t0 = Moment::now();
    assert!(t0.as_nanos() > 0);
    let g = m.lock();
    let (g, timed_out) = cv.wait_until(g, t0.add_nanos(20_000_000));
    drop(g);
    assert!(timed_out);
    let t1 = Moment::now();
    assert!(t1 >= t0.add_nanos(20_000_000), "{t0:?} {t1:?}");
    // A deadline in the past returns at once, timed out.
    let (_g, timed_out) = cv.wait_until(m.lock(), Moment::from_nanos(1));
    assert!(timed_out);
    assert_eq!(
        Moment::from_nanos(u64::MAX).add_nanos(5).as_nanos(),
        u64::MAX
    );
}

#[test]
fn kmem_allocator_sizes_and_alignment() {
    use crate::mock::{KMEM_LIVE_BYTES, KMEM_NOSLEEP_CALLS, KMEM_SLEEP_CALLS};
    let _g = serial();
    // Every allocation of this process already goes through KmemAlloc; these
    // exercise the interesting layouts and let the mock's size check run.
    let sleep_before = KMEM_SLEEP_CALLS.load(Ordering::SeqCst);
    let nosleep_before = KMEM_NOSLEEP_CALLS.load(Ordering::SeqCst);
    #[repr(align(64))]
    struct A64([u8; 3]);
    #[repr(align(4096))]
    struct Page([u8; 100]);
    {
        let a: Vec<Box<A64>> = (0..50).map(|i| Box::new(A64([i as u8; 3]))).collect();
        for (i, b) in a.iter().enumerate() {
            assert_eq!(&**b as *const A64 as usize % 64, 0);
            assert_eq!(b.0, [i as u8; 3]);
        }
        let p = Box::new(Page([7; 100]));
        assert_eq!(&*p as *const Page as usize % 4096, 0);
        assert_eq!(p.0[99], 7);
        // Zeroed, over-aligned.
        let z: Box<[u64; 64]> = bytemuck_zeroed();
        assert!(z.iter().all(|&x| x == 0));
        // Zero-sized allocations never reach kmem.
        let e: Vec<u8> = Vec::with_capacity(0);
        drop(e);
        // Growth (realloc = alloc + copy + dealloc through the trait).
        let mut v = Vec::new();
        for i in 0..10_000u32 {
            v.push(i);
        }
        assert_eq!(v.iter().map(|&x| x as u64).sum::<u64>(), 49_995_000);
    }
    // Every request is KM_NOSLEEP; the mock's kmem_free has checked each
    // free against its allocation's size, and the live total is sane.
    assert_eq!(
        KMEM_SLEEP_CALLS.load(Ordering::SeqCst),
        sleep_before,
        "KM_SLEEP used"
    );
    assert!(KMEM_NOSLEEP_CALLS.load(Ordering::SeqCst) > nosleep_before);
    assert!(KMEM_LIVE_BYTES.load(Ordering::SeqCst) >= 0);
}

/// A zeroed boxed array through `alloc_zeroed` (what `Box::new_zeroed`
/// uses), without an extra dependency.
fn bytemuck_zeroed() -> Box<[u64; 64]> {
    let layout = std::alloc::Layout::new::<[u64; 64]>();
    // SAFETY: the layout is non-zero-sized; all-zero is a valid [u64; 64];
    // the pointer is handed to Box with the same layout.
    unsafe {
        let p = std::alloc::alloc_zeroed(layout).cast::<[u64; 64]>();
        assert!(!p.is_null());
        Box::from_raw(p)
    }
}

#[test]
fn kmem_over_aligned_zeroed() {
    let _g = serial();
    let layout = std::alloc::Layout::from_size_align(300, 256).unwrap();
    // SAFETY: non-zero size; freed with the same layout.
    unsafe {
        let p = std::alloc::alloc_zeroed(layout);
        assert!(!p.is_null());
        assert_eq!(p as usize % 256, 0);
        assert!(std::slice::from_raw_parts(p, 300).iter().all(|&b| b == 0));
        std::alloc::dealloc(p, layout);
    }
}

#[test]
fn logbuf_truncates_and_stays_terminated() {
    use crate::logbuf::{LogBuf, LOG_BUFLEN};
    use std::fmt::Write;
    let mut b = LogBuf::new();
    let x = "x";
    write!(b, "overlay: {x} {}", 42).unwrap();
    assert_eq!(b.as_bytes(), b"overlay: x 42");
    // SAFETY: as_ptr is always NUL-terminated.
    let c = unsafe { std::ffi::CStr::from_ptr(b.as_ptr()) };
    assert_eq!(c.to_bytes(), b"overlay: x 42");
    let mut long = LogBuf::new();
    for _ in 0..100 {
        long.write_str("0123456789").unwrap();
    }
    assert_eq!(long.as_bytes().len(), LOG_BUFLEN - 1);
    // SAFETY: as above.
    let c = unsafe { std::ffi::CStr::from_ptr(long.as_ptr()) };
    assert_eq!(c.to_bytes().len(), LOG_BUFLEN - 1);
    let mut nul = LogBuf::new();
    nul.write_str("a\0b%s").unwrap();
    assert_eq!(nul.as_bytes(), b"ab%s");
    assert_eq!(LogBuf::default().as_bytes(), b"");
}

/// A received datagram as ksocket delivers it: an M_PROTO block holding a
/// `T_unitdata_ind` (primitive `prim`, `proto_len` bytes), then `payload`.
fn unitdata(prim: i32, proto_len: usize, db_type: u8, payload: Option<&[u8]>) -> *mut mblk_t {
    let p = mock::allocb(64, 0);
    // SAFETY: a fresh mock block of 64 bytes; its dblk is ours to edit.
    unsafe {
        (*(*p).b_datap).db_type = db_type;
        let mut hdr = [0u8; 20];
        hdr[..4].copy_from_slice(&prim.to_ne_bytes());
        std::ptr::copy_nonoverlapping(hdr.as_ptr(), (*p).b_rptr, proto_len.min(20));
        (*p).b_wptr = (*p).b_rptr.add(proto_len);
        if let Some(d) = payload {
            let m = MsgBlk::copy_from(0, d).unwrap();
            (*p).b_cont = m.into_raw().cast();
        }
    }
    p
}

/// The `IPV6_TCLASS` option of a `T_unitdata_ind` (what illumos UDP adds
/// with `IPV6_RECVTCLASS` on), among others, and malformed option areas.
#[test]
fn unitdata_tclass_reads_the_option() {
    use crate::tpi::unitdata_tclass;
    let opt = |level: u32, name: u32, val: u32| -> Vec<u8> {
        [20u32, level, name, 0, val]
            .iter()
            .flat_map(|w| w.to_ne_bytes())
            .collect()
    };
    let block = |opts: &[u8], off: u32, len: u32| -> Vec<u8> {
        let mut b: Vec<u8> = [20u32, 32, 20, len, off]
            .iter()
            .flat_map(|w| w.to_ne_bytes())
            .collect();
        b.resize(20 + 32, 0);
        b.extend_from_slice(opts);
        b
    };
    let mut opts = opt(0, 0x0b, 64); // another option first (a TTL)
    opts.extend(opt(41, 0x26, 0xb9));
    let b = block(&opts, 52, opts.len() as u32);
    assert_eq!(unitdata_tclass(&b), 0xb9);
    assert_eq!(unitdata_tclass(&block(&[], 0, 0)), 0);
    // Past the block, a zero-length header, a truncated header: 0.
    assert_eq!(unitdata_tclass(&block(&opts, 52, 400)), 0);
    let mut z = opts.clone();
    z[..4].copy_from_slice(&0u32.to_ne_bytes());
    assert_eq!(unitdata_tclass(&block(&z, 52, z.len() as u32)), 0);
    assert_eq!(unitdata_tclass(&b[..10]), 0);
    assert_eq!(unitdata_tclass(&block(&opts, u32::MAX, 8)), 0);
}

#[test]
fn unitdata_payload_strips_the_tpi_header() {
    use crate::tpi::unitdata_payload;
    const T_UNITDATA_IND: i32 = 20;
    let _g = serial();
    {
        let mp = unitdata(T_UNITDATA_IND, 20, 1, Some(b"vxlan+frame"));
        assert_eq!(live(), 2);
        // SAFETY: mp is a valid message we own.
        let (d, tclass) = unsafe { unitdata_payload(mp.cast()) }.expect("payload");
        assert_eq!(tclass, 0, "no options: Not-ECT");
        assert_eq!(live(), 1, "the M_PROTO block is freed");
        // SAFETY: d is the payload, now ours.
        let m = unsafe { MsgBlk::from_raw(d.cast()) }.unwrap();
        assert_eq!(bytes(&m), b"vxlan+frame");
    }
    assert_eq!(live(), 0);
    // Every malformed shape is freed entirely and refused.
    for (prim, len, ty, payload) in [
        (T_UNITDATA_IND, 20, 0u8, Some(&b"x"[..])), // M_DATA, not M_PROTO
        (T_UNITDATA_IND, 20, 1, None),              // no payload
        (T_UNITDATA_IND, 3, 1, Some(&b"x"[..])),    // too short for a primitive
        (19, 20, 1, Some(&b"x"[..])),               // another primitive
    ] {
        let mp = unitdata(prim, len, ty, payload);
        // SAFETY: mp is a valid message we own.
        assert!(unsafe { unitdata_payload(mp.cast()) }.is_none());
        assert_eq!(live(), 0, "{prim} {len} {ty}");
    }
}

//! Batched, segmentation-offloaded transmission on the underlay.
//!
//! Theory of operation: a thread that moves many frames at once (a VNIC's
//! TAP reader, which may have just cut a 64 KiB TSO frame into 45) calls
//! [`begin`] before and [`flush`] after each burst. In between, every
//! datagram the driver sends from that thread ([`crate::underlay::UdpSock::send_msg`],
//! i.e. `socket_send` after encapsulation) is queued here, in a
//! thread-local list, instead of going out with its own `sendmsg`.
//!
//! [`flush`] sends the queue in as few system calls as it can: a run of
//! datagrams for the same socket, destination and outer header values
//! ([`TxHdr`]: TOS and TTL, sent as control messages), all of one size but the
//! last (which may be shorter), becomes one message with a `UDP_SEGMENT`
//! control message (UDP GSO: the kernel cuts it into those datagrams, and
//! across veth or to a `UDP_GRO` receiver may keep it whole until the
//! receiving socket); the messages for one socket go out in one
//! `sendmmsg(2)`. The datagrams on the wire are exactly those of
//! one-by-one sending, in the same order.
//!
//! If the kernel refuses GSO on a socket (`EIO`, `EINVAL`, `EOPNOTSUPP`:
//! no support, or a route MTU smaller than a datagram), that run is sent
//! one datagram at a time and GSO is not tried on that socket again.
//! Other errors are counted per datagram (`udp_tx_full_drops`,
//! `udp_tx_errors`) — the driver, which already returned from
//! `socket_send`, does not see them, as with a ksocket send that fails
//! after queueing on illumos.
//!
//! Other threads (control, varpd's lookup replies) never batch: their
//! sends go out at once.

use crate::udptx::{Shared, TxCmsg};
use overlay::msgblk_vec::MAX_BLKS;
use overlay::{MsgBlk, TxHdr};
use std::cell::RefCell;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Datagrams queued before a flush is forced.
pub const MAX_QUEUED: usize = 256;
/// Datagrams per GSO message (the kernel's `UDP_MAX_SEGMENTS` is 64 or
/// more).
const MAX_SEGS: usize = 64;
/// Bytes per GSO message: the largest UDP payload over IPv4.
const MAX_GSO_BYTES: usize = 65507;
/// Messages per `sendmmsg`.
const MAX_MSGS: usize = 64;

struct Item {
    sock: Arc<Shared>,
    dst: libc::sockaddr_in6,
    msg: MsgBlk,
    hdr: TxHdr,
}

#[derive(Default)]
struct Batch {
    active: bool,
    items: Vec<Item>,
    scratch: Scratch,
}

/// What one flush builds for `sendmmsg`, kept between flushes (cleared,
/// never shrunk) so a flush allocates nothing once the thread is warm.
#[derive(Default)]
struct Scratch {
    runs: Vec<Run>,
    iov: Vec<libc::iovec>,
    ctrl: Vec<TxCmsg>,
    hdrs: Vec<libc::mmsghdr>,
}

impl Scratch {
    /// Room for a full queue, reserved once.
    fn reserve(&mut self) {
        if self.iov.capacity() == 0 {
            self.runs.reserve_exact(MAX_MSGS);
            self.iov.reserve_exact(MAX_QUEUED * MAX_BLKS);
            self.ctrl.reserve_exact(MAX_MSGS);
            self.hdrs.reserve_exact(MAX_MSGS);
        }
    }
}

thread_local! {
    static TX: RefCell<Batch> = RefCell::new(Batch::default());
}

/// Starts batching this thread's sends.
pub fn begin() {
    TX.with(|t| t.borrow_mut().active = true);
}

/// Sends everything queued and stops batching.
pub fn flush() {
    send_queued();
    TX.with(|t| t.borrow_mut().active = false);
}

/// Queues a datagram if this thread batches; otherwise gives it back.
pub(crate) fn queue(
    sock: &Arc<Shared>,
    dst: &libc::sockaddr_in6,
    msg: MsgBlk,
    hdr: TxHdr,
) -> Option<MsgBlk> {
    let full = TX.with(|t| {
        let mut t = t.borrow_mut();
        if !t.active {
            return Err(msg);
        }
        if t.items.capacity() == 0 {
            t.items.reserve_exact(MAX_QUEUED);
        }
        t.items.push(Item {
            sock: Arc::clone(sock),
            dst: *dst,
            msg,
            hdr,
        });
        Ok(t.items.len() >= MAX_QUEUED)
    });
    match full {
        Err(msg) => Some(msg),
        Ok(full) => {
            if full {
                send_queued();
            }
            None
        }
    }
}

fn same_dst(a: &libc::sockaddr_in6, b: &libc::sockaddr_in6) -> bool {
    a.sin6_port == b.sin6_port
        && a.sin6_addr.s6_addr == b.sin6_addr.s6_addr
        && a.sin6_scope_id == b.sin6_scope_id
}

/// One message of a `sendmmsg`: `count` datagrams from `start` of the
/// queue, each `seg` bytes but the last.
#[derive(Clone, Copy)]
struct Run {
    start: usize,
    count: usize,
    seg: usize,
}

fn send_queued() {
    let (mut items, mut sc) = TX.with(|t| {
        let mut t = t.borrow_mut();
        (std::mem::take(&mut t.items), std::mem::take(&mut t.scratch))
    });
    sc.reserve();
    let mut runs = std::mem::take(&mut sc.runs);
    let mut i = 0;
    while i < items.len() {
        let sock = Arc::clone(&items[i].sock);
        let gso = !sock.gso_off.load(Ordering::Relaxed);
        runs.clear();
        let mut j = i;
        while j < items.len() && Arc::ptr_eq(&items[j].sock, &sock) && runs.len() < MAX_MSGS {
            let seg = items[j].msg.len();
            let mut total = seg;
            let mut k = j + 1;
            while gso
                && k < items.len()
                && k - j < MAX_SEGS
                && Arc::ptr_eq(&items[k].sock, &sock)
                && same_dst(&items[k].dst, &items[j].dst)
                && items[k].hdr == items[j].hdr
            {
                let l = items[k].msg.len();
                if l > seg || l == 0 || total + l > MAX_GSO_BYTES {
                    break;
                }
                total += l;
                k += 1;
                if l < seg {
                    break;
                }
            }
            runs.push(Run {
                start: j,
                count: k - j,
                seg,
            });
            j = k;
        }
        send_runs(&sock, &items, &runs, &mut sc);
        i = j;
    }
    // Freeing the sent messages returns their buffers to this thread's
    // pool (crate::bufpool).
    items.clear();
    runs.clear();
    sc.runs = runs;
    TX.with(|t| {
        let mut t = t.borrow_mut();
        // Keep the allocations for the next burst (unless more was queued
        // meanwhile, which flush-in-flush cannot do; be safe anyway).
        if t.items.is_empty() {
            t.items = items;
        }
        t.scratch = sc;
    });
}

/// Sends `runs` (all on `sock`) with `sendmmsg`, building the message
/// headers in `sc`.
fn send_runs(sock: &Shared, items: &[Item], runs: &[Run], sc: &mut Scratch) {
    // Each datagram's blocks (a header block and a payload fragment,
    // say) are its iovecs, one after the other.
    let iov = &mut sc.iov;
    iov.clear();
    for r in runs {
        for it in &items[r.start..r.start + r.count] {
            for d in it.msg.blocks() {
                iov.push(libc::iovec {
                    iov_base: d.as_ptr() as *mut libc::c_void,
                    iov_len: d.len(),
                });
            }
        }
    }
    // Each message's control messages: TOS/TTL and the GSO segment size.
    let ctrl = &mut sc.ctrl;
    ctrl.clear();
    ctrl.extend(runs.iter().map(|r| {
        let it = &items[r.start];
        // seg <= 65507: it is the length of one datagram of a run
        // whose total fits MAX_GSO_BYTES.
        let seg = (r.count > 1).then_some(r.seg as u16);
        TxCmsg::new(&it.dst, it.hdr, seg)
    }));
    let hdrs = &mut sc.hdrs;
    hdrs.clear();
    // SAFETY: mmsghdr is plain data; zero is valid.
    hdrs.resize(runs.len(), unsafe { std::mem::zeroed() });
    let mut off = 0;
    for (m, r) in runs.iter().enumerate() {
        let h = &mut hdrs[m].msg_hdr;
        h.msg_name = (&items[r.start].dst as *const libc::sockaddr_in6) as *mut libc::c_void;
        h.msg_namelen = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        let n: usize = items[r.start..r.start + r.count]
            .iter()
            .map(|it| it.msg.nblocks())
            .sum();
        h.msg_iov = iov[off..].as_mut_ptr();
        h.msg_iovlen = n;
        off += n;
        // `ctrl` is not resized from here on, so the pointer stays valid.
        ctrl[m].apply(h);
    }
    let mut done = 0;
    while done < runs.len() {
        // SAFETY: hdrs[done..] are valid mmsghdrs whose names, iovecs
        // (pointing into the queued MsgBlks) and control buffers outlive
        // the call; sendmmsg only reads them and writes msg_len.
        let r = unsafe {
            libc::sendmmsg(
                sock.fd.as_raw_fd(),
                hdrs[done..].as_mut_ptr(),
                (runs.len() - done) as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if r > 0 {
            for run in &runs[done..done + r as usize] {
                sock.stats
                    .add(crate::stats::Stat::UdpTxDatagrams, run.count as u64);
                if run.count > 1 {
                    sock.stats.bump(crate::stats::Stat::UdpTxGsoSends);
                }
            }
            done += r as usize;
            continue;
        }
        let e = std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO);
        if e == libc::EINTR {
            continue;
        }
        let run = runs[done];
        if run.count > 1 && matches!(e, libc::EIO | libc::EINVAL | libc::EOPNOTSUPP) {
            // Send this run one by one. If the datagrams themselves go
            // out, the socket has no GSO: stop trying it. If they are too
            // big for the path (DF is set: `EINVAL` from GSO is then
            // "segment larger than the MTU"), GSO is not to blame.
            sock.stats.bump(crate::stats::Stat::UdpTxGsoFallbacks);
            let mut too_big = false;
            for it in &items[run.start..run.start + run.count] {
                if sock.send_msg(&it.dst, &it.msg, it.hdr) == Err(overlay_sys::errno::EMSGSIZE) {
                    too_big = true;
                }
            }
            if !too_big {
                sock.gso_off.store(true, Ordering::Relaxed);
            }
        } else {
            sock.count_error(e, run.count as u64);
        }
        done += 1;
    }
}

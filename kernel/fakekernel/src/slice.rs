//! The scheduler time slice an underlay receive thread asks for.
//!
//! Theory of operation: Linux's fair scheduler (EEVDF) gives each task a
//! deadline one time slice after it becomes eligible, and on a wake-up
//! runs whichever has the earlier deadline; a task may ask for a shorter
//! slice than the default (`sched_setattr(2)`, `sched_runtime` of a
//! `SCHED_OTHER` task, 0.1–100 ms). An underlay receive thread wakes a
//! VNIC's TAP reader with every TAP write whose frame the VNIC's stack
//! answers at once (an echo reply, an ACK), and then reads and sends that
//! answer itself under the VNIC's `txlock` (`crate::mac`): if the reader
//! preempted it there, the reader would take the answer (one wake-up
//! more on the answer's way) or find the lock held. A short slice for the
//! receive thread gives it the earlier deadline, so the reader it woke
//! waits until it sleeps (by then the TAP is drained and the reader's `poll(2)` does not
//! even return), while the thread still preempts tasks with the default
//! slice when a datagram arrives, as the kernel's softirq receive would.
//! Its work between sleeps is short (a batch of at most
//! [`crate::udprx::RX_BATCH`] datagrams). A kernel without custom slices
//! (before 6.12) ignores `sched_runtime` for fair tasks; failure leaves
//! the default.

/// `struct sched_attr` (`SCHED_ATTR_SIZE_VER0`, without the
/// utilisation clamps).
#[repr(C)]
struct SchedAttr {
    size: u32,
    sched_policy: u32,
    sched_flags: u64,
    sched_nice: i32,
    sched_priority: u32,
    sched_runtime: u64,
    sched_deadline: u64,
    sched_period: u64,
}

const _: () = assert!(std::mem::size_of::<SchedAttr>() == 48);
const _: () = assert!(std::mem::offset_of!(SchedAttr, sched_nice) == 16);
const _: () = assert!(std::mem::offset_of!(SchedAttr, sched_runtime) == 24);

/// The slice a receive thread asks for: the shortest Linux grants.
pub const RX_SLICE_NS: u64 = 100_000;

/// Asks for a time slice of `ns` for the calling thread, keeping its
/// policy (`SCHED_OTHER`) and nice value; false if refused.
pub fn set_slice(ns: u64) -> bool {
    // SAFETY: getpriority(2) reads the calling thread's nice value
    // (who 0); errno is reset first, as -1 is a valid result.
    let nice = unsafe {
        *libc::__errno_location() = 0;
        libc::getpriority(libc::PRIO_PROCESS, 0)
    };
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        sched_policy: libc::SCHED_OTHER as u32,
        sched_flags: 0,
        sched_nice: nice,
        sched_priority: 0,
        sched_runtime: ns,
        sched_deadline: 0,
        sched_period: 0,
    };
    // SAFETY: sched_setattr(2) on the calling thread (pid 0) reads
    // `attr.size` bytes of a valid, initialised sched_attr.
    let r = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    r == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The call is accepted for a fair task (the slice itself is not
    /// visible to userland).
    #[test]
    fn slice_request_accepted() {
        std::thread::spawn(|| assert!(set_slice(RX_SLICE_NS)))
            .join()
            .unwrap();
    }
}

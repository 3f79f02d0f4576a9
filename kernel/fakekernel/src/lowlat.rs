//! Low-latency mode: a CPU latency request held while traffic flows.
//!
//! Theory of operation: a frame crossing the overlay wakes a sleeping
//! thread of ours at every hop (a TAP reader, an underlay receive thread).
//! When the CPU that thread runs on is idle, how long the wake-up takes
//! depends on how deep that CPU sleeps: a halted virtual CPU, for
//! example, costs tens of microseconds to wake, more than the rest of
//! the hop. Linux's PM QoS interface lets a process cap that: while a
//! process keeps `/dev/cpu_dma_latency` open after writing a latency in
//! microseconds (a binary 32-bit integer), no CPU enters an idle state
//! whose exit latency exceeds it; 0 makes idle CPUs poll. Closing the
//! file drops the request.
//!
//! The request is system-wide and costs power and CPU time on every idle
//! CPU (with 0, idle CPUs spin; a virtual machine's halted vCPU no longer
//! gives its time back to the host), so it is held only while traffic
//! flows and only when the operator asks (`--low-latency`, or
//! `low_latency_us` in the configuration). A thread of its own
//! ([`start`]) sleeps until a data-path thread wakes up to handle frames
//! ([`note_activity`], called by the poll loops: one relaxed load per
//! wake-up while the request is held or the mode is off, one `unpark`
//! on the wake-up that ends an idle period), then takes the request and
//! checks every idle period whether frames moved (`tap_rx_frames`,
//! `udp_rx_datagrams`); after an idle period without any, it drops the
//! request and sleeps again. Counted: `low_latency_holds` (requests
//! taken) and `low_latency_held_ms` (time held).

use crate::stats::{Stat, Stats};
use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// The PM QoS CPU latency device.
pub const DEVICE: &str = "/dev/cpu_dma_latency";

/// The mode is off (no manager thread).
const OFF: u8 = 0;
/// The request is dropped; the next data-path wake-up wakes the manager.
const ARMED: u8 = 1;
/// The request is held, or the manager is being woken to take it.
const BUSY: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(OFF);
static MANAGER: OnceLock<Thread> = OnceLock::new();

/// The low-latency mode's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LowLatency {
    /// The CPU latency requested, in microseconds (0: idle CPUs poll).
    pub latency_us: u32,
    /// How long without frames before the request is dropped.
    pub idle: Duration,
}

/// Default idle period before the request is dropped.
pub const DEFAULT_IDLE_MS: u64 = 1000;

/// Called by a data-path thread that woke up to handle frames: wakes the
/// manager if the request is not held.
#[inline]
pub fn note_activity() {
    if STATE.load(Ordering::Relaxed) == ARMED
        && STATE
            .compare_exchange(ARMED, BUSY, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        if let Some(t) = MANAGER.get() {
            t.unpark();
        }
    }
}

/// Whether the request is held (or about to be).
pub fn held() -> bool {
    STATE.load(Ordering::Relaxed) == BUSY
}

/// Opens the device and writes the request; it holds while the file is
/// open.
fn request(latency_us: u32) -> std::io::Result<File> {
    let mut f = File::options().write(true).open(DEVICE)?;
    f.write_all(&latency_us.to_ne_bytes())?;
    Ok(f)
}

/// Frames moved so far, as the manager watches them.
fn activity(stats: &Stats) -> u64 {
    stats.get(Stat::TapRxFrames) + stats.get(Stat::UdpRxDatagrams)
}

/// Starts the mode (once per process): checks that the request can be
/// made, then runs the manager thread. The error names the device and
/// the reason.
pub fn start(cfg: LowLatency, stats: Arc<Stats>) -> Result<(), String> {
    if MANAGER.get().is_some() {
        return Err("low-latency mode already started".into());
    }
    drop(
        request(cfg.latency_us)
            .map_err(|e| format!("{DEVICE}: {e} (needed by low-latency mode)"))?,
    );
    let h = std::thread::Builder::new()
        .name("low-latency".into())
        .spawn(move || manage(cfg, &stats))
        .map_err(|e| format!("low-latency mode: thread: {e}"))?;
    let _ = MANAGER.set(h.thread().clone());
    STATE.store(ARMED, Ordering::Release);
    tracing::info!(
        latency_us = cfg.latency_us,
        idle_ms = cfg.idle.as_millis() as u64,
        "low-latency mode: a CPU latency request is held while traffic flows"
    );
    Ok(())
}

fn manage(cfg: LowLatency, stats: &Stats) {
    loop {
        while STATE.load(Ordering::Acquire) != BUSY {
            std::thread::park();
        }
        match request(cfg.latency_us) {
            Ok(f) => {
                stats.bump(Stat::LowLatencyHolds);
                let t0 = Instant::now();
                let mut last = activity(stats);
                loop {
                    std::thread::sleep(cfg.idle);
                    let now = activity(stats);
                    if now == last {
                        break;
                    }
                    last = now;
                }
                drop(f);
                stats.add(Stat::LowLatencyHeldMs, t0.elapsed().as_millis() as u64);
            }
            Err(e) => {
                // Checked at start; if it fails later (the device went
                // away), say so and retry after an idle period.
                tracing::warn!(error = %e, "{DEVICE}: CPU latency request failed");
                std::thread::sleep(cfg.idle);
            }
        }
        STATE.store(ARMED, Ordering::Release);
    }
}

//! The worker loop: rx_burst → decap → capture → bulk free, run to completion on one lcore.
//! Counters are plain integers owned by the worker; every [`PUBLISH_EVERY`] bursts (and when
//! idle or stopping) it stores copies into its own cache-line-aligned [`StatSlot`], which the
//! control core reads at scrape time. No allocation, lock, syscall or log line per packet.
use crate::capture::{RingStats, RingWriter};
use crate::decap::{decap, DecapConfig, DropReason};
use crate::dpdk::{rdtsc, Burst, RxQueue, TscClock};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Drop reasons of the capture stage, after the decap reasons.
pub const CAPTURE_DROPS: [(&str, &str); 2] = [
    (
        "oversize_frame",
        "The frame did not fit one mbuf (larger than a 9001-byte MTU frame plus tunnel headers); check the sender's MTU.",
    ),
    (
        "ring_write_error",
        "The ring could not rotate to its next segment (I/O error); check the ring directory's disk and the log.",
    ),
];
const OVERSIZE: usize = DropReason::COUNT;
const RING_ERROR: usize = DropReason::COUNT + 1;
/// All drop reasons: decap's, then the capture stage's.
pub const DROP_REASONS: usize = DropReason::COUNT + CAPTURE_DROPS.len();

/// The label of drop reason `i` (0..DROP_REASONS).
pub fn drop_reason_label(i: usize) -> &'static str {
    if i < DropReason::COUNT {
        DropReason::ALL[i].as_str()
    } else {
        CAPTURE_DROPS[i - DropReason::COUNT].0
    }
}

/// Bursts between two publications of the worker's counters.
pub const PUBLISH_EVERY: u64 = 64;
/// Empty polls between two publications while idle.
const IDLE_PUBLISH_EVERY: u64 = 1 << 14;

/// A worker's counters: owned and incremented by the worker alone.
#[derive(Clone, Copy, Debug, Default)]
pub struct WorkerStats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub captured_packets: u64,
    pub captured_bytes: u64,
    pub drops: [u64; DROP_REASONS],
    pub bursts: u64,
    pub ring: RingStats,
}

/// The published copy of one worker's counters: written by that worker only (Relaxed
/// stores), read by the collector. Aligned so no two workers share a cache line.
#[repr(C, align(128))]
#[derive(Default)]
pub struct StatSlot {
    pub rx_packets: AtomicU64,
    pub rx_bytes: AtomicU64,
    pub captured_packets: AtomicU64,
    pub captured_bytes: AtomicU64,
    pub drops: [AtomicU64; DROP_REASONS],
    pub ring_bytes: AtomicU64,
    pub segments_sealed: AtomicU64,
    pub segments_overwritten: AtomicU64,
    pub segments_recovered: AtomicU64,
    /// Advances on every publication, so the control core can tell the worker is alive.
    pub heartbeat: AtomicU64,
    /// Set when the worker has returned.
    pub finished: AtomicBool,
}

impl StatSlot {
    pub fn publish(&self, s: &WorkerStats) {
        let r = Ordering::Relaxed;
        self.rx_packets.store(s.rx_packets, r);
        self.rx_bytes.store(s.rx_bytes, r);
        self.captured_packets.store(s.captured_packets, r);
        self.captured_bytes.store(s.captured_bytes, r);
        for (d, v) in self.drops.iter().zip(s.drops.iter()) {
            d.store(*v, r);
        }
        self.ring_bytes.store(s.ring.bytes, r);
        self.segments_sealed.store(s.ring.segments_sealed, r);
        self.segments_overwritten
            .store(s.ring.segments_overwritten, r);
        self.segments_recovered.store(s.ring.segments_recovered, r);
        self.heartbeat
            .store(self.heartbeat.load(r).wrapping_add(1), r);
    }

    /// A copy for the collector.
    pub fn read(&self) -> WorkerStats {
        let r = Ordering::Relaxed;
        let mut drops = [0u64; DROP_REASONS];
        for (d, a) in drops.iter_mut().zip(self.drops.iter()) {
            *d = a.load(r);
        }
        WorkerStats {
            rx_packets: self.rx_packets.load(r),
            rx_bytes: self.rx_bytes.load(r),
            captured_packets: self.captured_packets.load(r),
            captured_bytes: self.captured_bytes.load(r),
            drops,
            bursts: 0,
            ring: RingStats {
                bytes: self.ring_bytes.load(r),
                segments_sealed: self.segments_sealed.load(r),
                segments_overwritten: self.segments_overwritten.load(r),
                segments_recovered: self.segments_recovered.load(r),
                ..RingStats::default()
            },
        }
    }
}

/// Processes one received packet: decap and capture, or count the drop reason.
#[inline(always)]
pub fn process_packet(
    frame: &[u8],
    pkt_len: u32,
    nb_segs: u16,
    ts_ns: u64,
    cfg: &DecapConfig,
    ring: &mut RingWriter,
    st: &mut WorkerStats,
) {
    st.rx_packets += 1;
    st.rx_bytes += pkt_len as u64;
    if nb_segs > 1 {
        st.drops[OVERSIZE] += 1;
        return;
    }
    match decap(frame, cfg) {
        Ok(d) => {
            let inner = d.inner(frame);
            if ring.write(ts_ns, inner, inner.len() as u32) {
                st.captured_packets += 1;
                st.captured_bytes += inner.len() as u64;
            } else {
                st.drops[RING_ERROR] += 1;
            }
        }
        Err(r) => st.drops[r.index()] += 1,
    }
}

/// One worker: its queue, its ring, its slot. `run` polls until `stop` is set.
pub struct Worker<'a> {
    pub rxq: RxQueue<'a>,
    pub ring: RingWriter,
    pub decap: DecapConfig,
    pub slot: &'a StatSlot,
    pub stop: &'a AtomicBool,
}

impl Worker<'_> {
    /// The loop. Returns the final counters after sealing the ring's live segment.
    pub fn run(mut self) -> (WorkerStats, Result<(), crate::capture::RingError>) {
        let clock = TscClock::calibrate();
        let mut st = WorkerStats::default();
        let mut burst = Burst::new();
        let mut idle: u64 = 0;
        while !self.stop.load(Ordering::Relaxed) {
            let n = self.rxq.rx(&mut burst);
            if n == 0 {
                idle += 1;
                if idle.is_multiple_of(IDLE_PUBLISH_EVERY) {
                    st.ring = self.ring.stats;
                    self.slot.publish(&st);
                }
                continue;
            }
            let ts = clock.ns(rdtsc());
            for i in 0..n {
                let p = burst.packet(i);
                process_packet(
                    p.data,
                    p.pkt_len,
                    p.nb_segs,
                    ts,
                    &self.decap,
                    &mut self.ring,
                    &mut st,
                );
            }
            self.ring.commit();
            burst.free_all();
            st.bursts += 1;
            if st.bursts.is_multiple_of(PUBLISH_EVERY) {
                st.ring = self.ring.stats;
                self.slot.publish(&st);
            }
        }
        let closed = self.ring.close();
        if let Ok(r) = &closed {
            st.ring = *r;
        }
        self.slot.publish(&st);
        self.slot.finished.store(true, Ordering::Release);
        (st, closed.map(|_| ()))
    }
}

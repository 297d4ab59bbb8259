//! The DPDK worker loop around the per-packet pipeline: rx_burst → [`process_packet`] on each
//! mbuf → commit → bulk free, run to completion on one lcore, with the session reload check
//! once per burst and the counters published every [`PUBLISH_EVERY`] bursts (and when idle or
//! stopping). [`MbufPacket`] is the mbuf's side of the packet seam; rte_bpf's [`Filter`] is
//! the filter's.
#![forbid(unsafe_code)]
use crate::pipeline::{
    process_packet, FrameFilter, Latency, Packet, PipelineConfig, PublishedSessionCounts,
    PublishedStampCounts, PublishedStats, Reload, WorkerSessions, WorkerState, WorkerStats,
};
use mirrorcap_dpdk::filter::Filter;
use mirrorcap_dpdk::{rdtsc, Burst, PacketView, RxQueue, TscClock};
use mirrorcap_ring::RingError;
use std::sync::atomic::{AtomicBool, Ordering};

/// Bursts between two publications of the worker's counters.
pub const PUBLISH_EVERY: u64 = 64;
/// Empty polls between two publications while idle.
const IDLE_PUBLISH_EVERY: u64 = 1 << 14;

/// Packet `i` of a received burst.
pub struct MbufPacket<'b> {
    burst: &'b Burst,
    i: usize,
    view: PacketView<'b>,
}

impl<'b> MbufPacket<'b> {
    #[inline(always)]
    pub fn new(burst: &'b Burst, i: usize) -> Self {
        MbufPacket {
            burst,
            i,
            view: burst.packet(i),
        }
    }
}

impl Packet for MbufPacket<'_> {
    #[inline(always)]
    fn data(&self) -> &[u8] {
        self.view.data
    }
    #[inline(always)]
    fn wire_len(&self) -> u32 {
        self.view.pkt_len
    }
    #[inline(always)]
    fn segments(&self) -> u16 {
        self.view.nb_segs
    }
}

/// rte_bpf runs on the mbuf itself (a window of its first segment), without a copy.
impl FrameFilter<MbufPacket<'_>> for Filter {
    #[inline(always)]
    fn keeps(&self, pkt: &MbufPacket<'_>, off: usize, len: usize) -> bool {
        self.matches(pkt.burst, pkt.i, off, len)
    }
}

/// One worker: its queue, its state, its published counters. `run` polls until `stop` is set.
pub struct Worker<'a> {
    pub index: usize,
    pub rxq: RxQueue<'a>,
    pub state: WorkerState<'a, Filter>,
    pub cfg: PipelineConfig,
    pub published: &'a PublishedStats,
    pub session_counts: &'a PublishedSessionCounts,
    pub stamp_counts: &'a PublishedStampCounts,
    pub reload: &'a Reload<WorkerSessions<Filter>>,
    pub stop: &'a AtomicBool,
    /// Raised by the control lcore around a device reset: park between bursts.
    pub pause: &'a super::pause::PortPause,
    /// Test hook (`MIRRORCAP_FAULT=worker-panic:N`, see `fault.rs`): panic after
    /// [`PUBLISH_EVERY`] bursts.
    pub inject_panic: bool,
    /// Test hook (`MIRRORCAP_FAULT=worker-stall:N`): stop polling after [`PUBLISH_EVERY`]
    /// bursts, until the appliance stops.
    pub inject_stall: bool,
}

impl Worker<'_> {
    fn publish(&mut self) {
        let w = &mut self.state;
        w.st.ring = w.ring.stats;
        self.published.publish(&w.st);
        let set = &w.sessions.shared;
        let ids = || std::iter::once(0).chain(set.sessions.iter().map(|s| s.id));
        self.session_counts.publish(&w.counts.0, ids());
        if let Some(t) = w.stamps.as_deref() {
            self.stamp_counts.publish(t.all_counts(), ids());
        }
    }

    /// The loop. Returns the final counters and latencies after sealing the ring's live
    /// segment.
    pub fn run(mut self) -> (WorkerStats, Latency, Result<(), RingError>) {
        let clock = TscClock::calibrate();
        let mut latency = Latency::default();
        let mut burst = Burst::new();
        let mut idle: u64 = 0;
        let mut generation = self.reload.adopt(self.index, &mut self.state.sessions);
        while !self.stop.load(Ordering::Relaxed) {
            if self.pause.requested() {
                self.publish();
                self.pause.park(self.index, self.stop);
                continue;
            }
            if self.reload.generation() != generation {
                // A reload: counters of the old set first, then the new set from this burst on.
                self.publish();
                generation = self.reload.adopt(self.index, &mut self.state.sessions);
            }
            let n = self.rxq.rx(&mut burst);
            latency.publish_when_due(&self.published.latency, rdtsc);
            if n == 0 {
                idle += 1;
                if idle.is_multiple_of(IDLE_PUBLISH_EVERY) {
                    self.publish();
                }
                continue;
            }
            let t0 = rdtsc();
            let ts = clock.ns(t0);
            burst.prefetch(0);
            for i in 0..n {
                burst.prefetch(i + 1);
                process_packet(&MbufPacket::new(&burst, i), ts, &self.cfg, &mut self.state);
            }
            let w = &mut self.state;
            w.batch.flush(w.vnis);
            w.ring.commit();
            latency.record(clock.ticks_ns(rdtsc().wrapping_sub(t0)), n as u64);
            burst.free_all();
            w.st.bursts += 1;
            if w.st.bursts.is_multiple_of(PUBLISH_EVERY) {
                self.publish();
                while self.inject_stall && !self.stop.load(Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                if self.inject_panic {
                    panic!(
                        "injected fault (MIRRORCAP_FAULT=worker-panic:{})",
                        self.index
                    );
                }
            }
        }
        let WorkerState { ring, mut st, .. } = self.state;
        let closed = ring.close();
        if let Ok(r) = &closed {
            st.ring = *r;
        }
        self.published.publish(&st);
        self.published.finished.store(true, Ordering::Release);
        (st, latency, closed.map(|_| ()))
    }
}

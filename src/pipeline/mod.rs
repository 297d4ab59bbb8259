//! The worker loop: rx_burst → decap → capture → bulk free, run to completion on one lcore.
//! Counters are plain integers owned by the worker; every [`PUBLISH_EVERY`] bursts (and when
//! idle or stopping) it stores copies into its own cache-line-aligned [`StatSlot`], which the
//! control core reads at scrape time. No allocation, lock, syscall or log line per packet.
mod latency;
mod latency_slot;
mod stats;
mod vni_table;

pub use latency::Latency;
pub use latency_slot::{
    bucketize, HistSlot, HistSnapshot, LatencySlot, LATENCY_BOUNDS_NS, LATENCY_BUCKETS,
};
pub use stats::{
    drop_reason_label, drop_reason_stage, StatSlot, WorkerStats, CAPTURE_DROPS, DROP_REASONS,
};
pub use vni_table::{VniBatch, VniCounts, VniTable, OVERFLOW_VNI, VNI_SLOTS};

use crate::capture::{RecordMeta, RingError, RingWriter};
use crate::decap::{decap, DecapConfig, DropReason, InnerKind};
use crate::dpdk::{rdtsc, Burst, RxQueue, TscClock};
use stats::{OVERSIZE, RING_ERROR, RING_FULL};
use std::sync::atomic::{AtomicBool, Ordering};

/// Bursts between two publications of the worker's counters.
pub const PUBLISH_EVERY: u64 = 64;
/// Empty polls between two publications while idle.
const IDLE_PUBLISH_EVERY: u64 = 1 << 14;

/// The synthetic Ethernet header written in front of a mirrored frame that is a bare IPv4
/// packet (Geneve protocol 0x0800), so the pcap stays LINKTYPE_ETHERNET: destination
/// 02:6d:63:00:00:02, source 02:6d:63:00:00:01 (locally administered, "mc"), EtherType 0x0800.
pub const SYNTHETIC_ETH_IPV4: [u8; 14] =
    [2, 0x6d, 0x63, 0, 0, 2, 2, 0x6d, 0x63, 0, 0, 1, 0x08, 0x00];
/// The same for a bare IPv6 packet (EtherType 0x86DD).
pub const SYNTHETIC_ETH_IPV6: [u8; 14] =
    [2, 0x6d, 0x63, 0, 0, 2, 2, 0x6d, 0x63, 0, 0, 1, 0x86, 0xdd];

/// What the pipeline does besides decapsulating.
#[derive(Clone, Debug, Default)]
pub struct PipelineConfig {
    pub decap: DecapConfig,
    /// Capture frames that are not mirror traffic as they are, instead of dropping them
    /// (`not_mirror` only; malformed tunnels are still dropped).
    pub keep_unencapsulated: bool,
}

/// Processes one received packet: decap and capture, or count the drop reason.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn process_packet(
    frame: &[u8],
    pkt_len: u32,
    nb_segs: u16,
    ts_ns: u64,
    cfg: &PipelineConfig,
    ring: &mut RingWriter,
    vnis: &VniTable,
    batch: &mut VniBatch,
    st: &mut WorkerStats,
) {
    st.rx_packets += 1;
    st.rx_bytes += pkt_len as u64;
    if nb_segs > 1 {
        st.drops[OVERSIZE] += 1;
        return;
    }
    match decap(frame, &cfg.decap) {
        Ok(d) => {
            let inner = d.inner(frame);
            let prefix: &[u8] = match d.meta.inner {
                InnerKind::Ethernet => &[],
                InnerKind::Ipv4 => &SYNTHETIC_ETH_IPV4,
                InnerKind::Ipv6 => &SYNTHETIC_ETH_IPV6,
            };
            let len = (prefix.len() + inner.len()) as u64;
            let orig_len = len + d.meta.truncated_by as u64;
            let meta = RecordMeta::tunnel(d.meta.vni, 0);
            let orig_len = orig_len.min(u32::MAX as u64) as u32;
            if ring.write_record(ts_ns, meta, prefix, inner, orig_len) {
                st.captured_packets += 1;
                st.captured_bytes += len;
                let truncated = d.meta.truncated_by > 0;
                st.truncated += truncated as u64;
                st.vxlan_reserved_bits += d.meta.vxlan_reserved_bits as u64;
                batch.add(vnis, d.meta.vni, len, truncated);
            } else {
                st.drops[if ring.is_stopped() {
                    RING_FULL
                } else {
                    RING_ERROR
                }] += 1;
            }
        }
        Err(DropReason::NotMirror) if cfg.keep_unencapsulated => {
            if ring.write(ts_ns, frame, pkt_len) {
                st.captured_packets += 1;
                st.captured_bytes += frame.len() as u64;
                st.unencapsulated += 1;
            } else {
                st.drops[if ring.is_stopped() {
                    RING_FULL
                } else {
                    RING_ERROR
                }] += 1;
            }
        }
        Err(r) => st.drops[r.index()] += 1,
    }
}

/// One worker: its queue, its ring, its slots. `run` polls until `stop` is set.
pub struct Worker<'a> {
    pub rxq: RxQueue<'a>,
    pub ring: RingWriter,
    pub cfg: PipelineConfig,
    pub slot: &'a StatSlot,
    pub vnis: &'a VniTable,
    pub stop: &'a AtomicBool,
}

impl Worker<'_> {
    /// The loop. Returns the final counters and latencies after sealing the ring's live
    /// segment.
    pub fn run(mut self) -> (WorkerStats, Latency, Result<(), RingError>) {
        let clock = TscClock::calibrate();
        let mut st = WorkerStats::default();
        let mut latency = Latency::default();
        let mut batch = VniBatch::default();
        let mut burst = Burst::new();
        let mut idle: u64 = 0;
        while !self.stop.load(Ordering::Relaxed) {
            let n = self.rxq.rx(&mut burst);
            latency.publish_when_due(&self.slot.latency);
            if n == 0 {
                idle += 1;
                if idle.is_multiple_of(IDLE_PUBLISH_EVERY) {
                    st.ring = self.ring.stats;
                    self.slot.publish(&st);
                }
                continue;
            }
            let t0 = rdtsc();
            let ts = clock.ns(t0);
            burst.prefetch(0);
            for i in 0..n {
                burst.prefetch(i + 1);
                let p = burst.packet(i);
                process_packet(
                    p.data,
                    p.pkt_len,
                    p.nb_segs,
                    ts,
                    &self.cfg,
                    &mut self.ring,
                    self.vnis,
                    &mut batch,
                    &mut st,
                );
            }
            batch.flush(self.vnis);
            self.ring.commit();
            latency.record(clock.ticks_ns(rdtsc().wrapping_sub(t0)), n as u64);
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
        (st, latency, closed.map(|_| ()))
    }
}

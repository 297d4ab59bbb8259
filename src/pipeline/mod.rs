//! The worker loop: rx_burst → decap → capture → bulk free, run to completion on one lcore.
//! Counters are plain integers owned by the worker; every [`PUBLISH_EVERY`] bursts (and when
//! idle or stopping) it stores copies into its own cache-line-aligned [`StatSlot`], which the
//! control core reads at scrape time. No allocation, lock, syscall or log line per packet.
pub mod dedup;
mod latency;
mod latency_slot;
mod reload;
pub mod session_stats;
pub mod sessions;
pub mod stamps;
mod stats;
mod vni_table;

pub use latency::Latency;
pub use latency_slot::{
    bucketize, HistSlot, HistSnapshot, LatencySlot, LATENCY_BOUNDS_NS, LATENCY_BUCKETS,
};
pub use reload::Reload;
pub use session_stats::{SessionCounts, SessionSlots};
pub use sessions::{SharedSet, WorkerSessions};
pub use stamps::{StampSlots, StampTracker};
pub use stats::{
    drop_reason_label, drop_reason_stage, StatSlot, WorkerStats, CAPTURE_DROPS, DROP_REASONS,
};
pub use vni_table::{VniBatch, VniCounts, VniTable, OVERFLOW_VNI, VNI_SLOTS};

use crate::config::sessions::Action;
use mirrorcap_decap::{decap, DecapConfig, DropReason, InnerKind};
use mirrorcap_dpdk::{rdtsc, Burst, RxQueue, TscClock};
use mirrorcap_ring::{RecordMeta, RingError, RingWriter};
use sessions::Refused;
use stats::{DUPLICATE, FILTERED, OVERSIZE, RING_ERROR, RING_FULL, SAMPLED_OUT, SESSION_DROP};
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

/// A worker's mutable state: its ring, counters and session set.
pub struct WorkerState<'a> {
    pub ring: RingWriter,
    pub vnis: &'a VniTable,
    pub batch: VniBatch,
    pub st: WorkerStats,
    pub sessions: Box<WorkerSessions>,
    pub counts: SessionCounts,
    /// Loss and latency from generator stamps (`run --stamps`).
    pub stamps: Option<Box<StampTracker>>,
}

impl<'a> WorkerState<'a> {
    pub fn new(ring: RingWriter, vnis: &'a VniTable, sessions: WorkerSessions) -> Self {
        WorkerState {
            ring,
            vnis,
            batch: VniBatch::default(),
            st: WorkerStats::default(),
            sessions: Box::new(sessions),
            counts: SessionCounts::default(),
            stamps: None,
        }
    }

    #[inline(always)]
    fn ring_refused(&mut self) {
        self.st.drops[if self.ring.is_stopped() {
            RING_FULL
        } else {
            RING_ERROR
        }] += 1;
    }
}

/// Processes packet `i` of `burst`: decap, the session's policy, capture; or count the drop
/// reason.
#[inline(always)]
pub fn process_packet(
    burst: &Burst,
    i: usize,
    ts_ns: u64,
    cfg: &PipelineConfig,
    w: &mut WorkerState,
) {
    let p = burst.packet(i);
    let frame = p.data;
    w.st.rx_packets += 1;
    w.st.rx_bytes += p.pkt_len as u64;
    if p.nb_segs > 1 {
        w.st.drops[OVERSIZE] += 1;
        return;
    }
    match decap(frame, &cfg.decap) {
        Ok(d) => {
            let inner = d.inner(frame);
            let ethernet = d.meta.inner == InnerKind::Ethernet;
            let mut prefix: &[u8] = match d.meta.inner {
                InnerKind::Ethernet => &[],
                InnerKind::Ipv4 => &SYNTHETIC_ETH_IPV4,
                InnerKind::Ipv6 => &SYNTHETIC_ETH_IPV6,
            };
            let whole = (prefix.len() + inner.len()) as u64;
            let orig_len = (whole + d.meta.truncated_by as u64).min(u32::MAX as u64) as u32;
            let mut kept = inner;
            let plain = w.sessions.shared.plain;
            let idx = if plain {
                None
            } else {
                w.sessions.shared.lookup(d.meta.vni, d.meta.outer_src)
            };
            let (policy, slot) = w.sessions.policy(idx);
            if let Some(t) = w.stamps.as_deref_mut() {
                // Before the session's policy, so sampling and filters are not counted as loss.
                t.observe(inner, ethernet, slot, ts_ns);
            }
            if !plain {
                let c = &mut w.counts.0[slot as usize];
                c[session_stats::MATCHED] += 1;
                if policy.action == Action::Drop {
                    c[session_stats::DROPPED] += 1;
                    w.st.drops[SESSION_DROP] += 1;
                    return;
                }
                let off = inner.as_ptr() as usize - frame.as_ptr() as usize;
                if !policy.filter_keeps(burst, i, off, inner.len(), ethernet) {
                    c[session_stats::FILTERED] += 1;
                    w.st.drops[FILTERED] += 1;
                    return;
                }
                let snap = policy.snaplen as usize;
                if let Err(r) = w.sessions.admit(idx, inner, ethernet, ts_ns) {
                    let (k, reason) = match r {
                        Refused::Duplicate => (session_stats::DUPLICATE, DUPLICATE),
                        _ => (session_stats::SAMPLED_OUT, SAMPLED_OUT),
                    };
                    w.counts.0[slot as usize][k] += 1;
                    w.st.drops[reason] += 1;
                    return;
                }
                if snap < whole as usize {
                    prefix = &prefix[..prefix.len().min(snap)];
                    kept = &inner[..inner.len().min(snap - prefix.len())];
                }
            }
            let meta = RecordMeta::tunnel(d.meta.vni, slot);
            if w.ring.write_record(ts_ns, meta, prefix, kept, orig_len) {
                let len = (prefix.len() + kept.len()) as u64;
                let truncated = d.meta.truncated_by > 0;
                w.st.captured_packets += 1;
                w.st.captured_bytes += len;
                w.st.truncated += truncated as u64;
                w.st.vxlan_reserved_bits += d.meta.vxlan_reserved_bits as u64;
                w.batch.add(w.vnis, d.meta.vni, len, truncated);
                if !w.sessions.shared.plain {
                    let c = &mut w.counts.0[slot as usize];
                    c[session_stats::CAPTURED] += 1;
                    c[session_stats::CAPTURED_BYTES] += len;
                    c[session_stats::TRUNCATED] += truncated as u64;
                }
            } else {
                w.ring_refused();
            }
        }
        Err(DropReason::NotMirror) if cfg.keep_unencapsulated => {
            if w.ring.write(ts_ns, frame, p.pkt_len) {
                w.st.captured_packets += 1;
                w.st.captured_bytes += frame.len() as u64;
                w.st.unencapsulated += 1;
            } else {
                w.ring_refused();
            }
        }
        Err(r) => w.st.drops[r.index()] += 1,
    }
}

/// One worker: its queue, its state, its published slots. `run` polls until `stop` is set.
pub struct Worker<'a> {
    pub index: usize,
    pub rxq: RxQueue<'a>,
    pub state: WorkerState<'a>,
    pub cfg: PipelineConfig,
    pub slot: &'a StatSlot,
    pub session_slots: &'a SessionSlots,
    pub stamp_slots: &'a StampSlots,
    pub reload: &'a Reload,
    pub stop: &'a AtomicBool,
    /// Test hook (`MIRRORCAP_FAULT=worker-panic:N`, see `run/fault.rs`): panic after
    /// [`PUBLISH_EVERY`] bursts.
    pub inject_panic: bool,
}

impl Worker<'_> {
    fn publish(&mut self) {
        let w = &mut self.state;
        w.st.ring = w.ring.stats;
        self.slot.publish(&w.st);
        let set = &w.sessions.shared;
        let slots = || std::iter::once(0).chain(set.sessions.iter().map(|s| s.slot));
        self.session_slots.publish(&w.counts.0, slots());
        if let Some(t) = w.stamps.as_deref() {
            self.stamp_slots.publish(t.all_counts(), slots());
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
            if self.reload.generation() != generation {
                // A reload: counters of the old set first, then the new set from this burst on.
                self.publish();
                generation = self.reload.adopt(self.index, &mut self.state.sessions);
            }
            let n = self.rxq.rx(&mut burst);
            latency.publish_when_due(&self.slot.latency);
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
                process_packet(&burst, i, ts, &self.cfg, &mut self.state);
            }
            let w = &mut self.state;
            w.batch.flush(w.vnis);
            w.ring.commit();
            latency.record(clock.ticks_ns(rdtsc().wrapping_sub(t0)), n as u64);
            burst.free_all();
            w.st.bursts += 1;
            if w.st.bursts.is_multiple_of(PUBLISH_EVERY) {
                self.publish();
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
        self.slot.publish(&st);
        self.slot.finished.store(true, Ordering::Release);
        (st, latency, closed.map(|_| ()))
    }
}

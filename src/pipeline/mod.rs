//! The worker's per-packet decision, without DPDK: decap → session → filter → de-dup →
//! sampling → ring, over any [`Packet`] with any [`FrameFilter`] (the seam in `packet.rs`).
//! The DPDK worker loop around it (rx_burst, bulk free, publication) is `app/worker.rs`.
//! Counters are plain integers owned by the worker; it stores copies into its own
//! cache-line-aligned [`PublishedStats`], which the control core reads at scrape time. No
//! allocation, lock, syscall or log line per packet.
mod dedup;
mod latency;
pub mod packet;
mod published_latency;
mod reload;
pub mod session_stats;
pub mod sessions;
pub mod stamps;
mod stats;
#[cfg(test)]
mod tests;
mod verdict;
mod vni_table;

pub use latency::Latency;
pub use packet::{Frame, FrameFilter, Packet};
pub use published_latency::{
    bucketize, HistSnapshot, PublishedHistogram, PublishedLatency, LATENCY_BOUNDS_NS,
    LATENCY_BUCKETS,
};
pub use reload::Reload;
pub use session_stats::{PublishedSessionCounts, SessionCounts};
pub use sessions::{SharedSet, WorkerSessions};
pub use stamps::{PublishedStampCounts, StampTracker};
pub use stats::{PublishedStats, WorkerStats};
pub use verdict::{Drop, Stage, Verdict, AFTER_CAPTURE};
pub use vni_table::{VniBatch, VniCounts, VniTable, OVERFLOW_VNI, VNI_ENTRIES};

use crate::config::sessions::Action;
use mirrorcap_decap::{decap, DecapConfig, DropReason, InnerKind};
use mirrorcap_ring::{RecordMeta, RingWriter};
use sessions::Refused;

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

/// A worker's mutable state: its ring, counters and session set (filters of type `F`).
pub struct WorkerState<'a, F> {
    pub ring: RingWriter,
    pub vnis: &'a VniTable,
    pub batch: VniBatch,
    pub st: WorkerStats,
    pub sessions: Box<WorkerSessions<F>>,
    pub counts: SessionCounts,
    /// Loss and latency from generator stamps (`run --stamps`).
    pub stamps: Option<Box<StampTracker>>,
}

impl<'a, F> WorkerState<'a, F> {
    pub fn new(ring: RingWriter, vnis: &'a VniTable, sessions: WorkerSessions<F>) -> Self {
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

    /// The ring refused a record: full under the `stop` policy, or unable to rotate.
    #[inline(always)]
    fn ring_refused(&mut self) -> Verdict {
        let d = if self.ring.is_stopped() {
            Drop::RingFull
        } else {
            Drop::RingWriteError
        };
        self.st.drop(d);
        Verdict::Dropped(d)
    }
}

/// Processes one packet: decap, the session's policy, capture; or count the drop reason.
/// Every packet is counted received and then exactly one of captured or dropped; the verdict
/// says which (the worker loop ignores it, and inlining drops it).
#[inline(always)]
pub fn process_packet<P: Packet, F: FrameFilter<P>>(
    pkt: &P,
    ts_ns: u64,
    cfg: &PipelineConfig,
    w: &mut WorkerState<F>,
) -> Verdict {
    let frame = pkt.data();
    let wire_len = pkt.wire_len();
    w.st.rx_packets += 1;
    w.st.rx_bytes += wire_len as u64;
    if pkt.segments() > 1 {
        w.st.drop(Drop::OversizeFrame);
        return Verdict::Dropped(Drop::OversizeFrame);
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
            let (policy, session) = w.sessions.policy(idx);
            if let Some(t) = w.stamps.as_deref_mut() {
                // Before the session's policy, so sampling and filters are not counted as loss.
                t.observe(inner, ethernet, session, ts_ns);
            }
            if !plain {
                let c = &mut w.counts.0[session as usize];
                c[session_stats::MATCHED] += 1;
                if policy.action == Action::Drop {
                    c[session_stats::DROPPED] += 1;
                    w.st.drop(Drop::SessionDrop);
                    return Verdict::Dropped(Drop::SessionDrop);
                }
                let off = inner.as_ptr() as usize - frame.as_ptr() as usize;
                if !policy.filter_keeps(pkt, off, inner.len(), ethernet) {
                    c[session_stats::FILTERED] += 1;
                    w.st.drop(Drop::Filtered);
                    return Verdict::Dropped(Drop::Filtered);
                }
                let snap = policy.snaplen as usize;
                if let Err(r) = w.sessions.admit(idx, inner, ethernet, ts_ns) {
                    let (k, reason) = match r {
                        Refused::Duplicate => (session_stats::DUPLICATE, Drop::Duplicate),
                        _ => (session_stats::SAMPLED_OUT, Drop::SampledOut),
                    };
                    w.counts.0[session as usize][k] += 1;
                    w.st.drop(reason);
                    return Verdict::Dropped(reason);
                }
                if snap < whole as usize {
                    prefix = &prefix[..prefix.len().min(snap)];
                    kept = &inner[..inner.len().min(snap - prefix.len())];
                }
            }
            let meta = RecordMeta::tunnel(d.meta.vni, session);
            if w.ring.write_record(ts_ns, meta, prefix, kept, orig_len) {
                let len = (prefix.len() + kept.len()) as u64;
                let truncated = d.meta.truncated_by > 0;
                w.st.captured_packets += 1;
                w.st.captured_bytes += len;
                w.st.truncated += truncated as u64;
                w.st.vxlan_reserved_bits += d.meta.vxlan_reserved_bits as u64;
                w.batch.add(w.vnis, d.meta.vni, len, truncated);
                if !w.sessions.shared.plain {
                    let c = &mut w.counts.0[session as usize];
                    c[session_stats::CAPTURED] += 1;
                    c[session_stats::CAPTURED_BYTES] += len;
                    c[session_stats::TRUNCATED] += truncated as u64;
                }
                Verdict::Captured
            } else {
                w.ring_refused()
            }
        }
        Err(DropReason::NotMirror) if cfg.keep_unencapsulated => {
            if w.ring.write(ts_ns, frame, wire_len) {
                w.st.captured_packets += 1;
                w.st.captured_bytes += frame.len() as u64;
                w.st.unencapsulated += 1;
                Verdict::Unencapsulated
            } else {
                w.ring_refused()
            }
        }
        Err(r) => {
            w.st.drop(Drop::Decap(r));
            Verdict::Dropped(Drop::Decap(r))
        }
    }
}
